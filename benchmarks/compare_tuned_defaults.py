"""Validation scores of a model's class defaults vs the tuned parameters found by `ltv tune`
on each dataset, on the same split `ltv tune --dataset D --seed 0` uses (test part dropped).

    python benchmarks/compare_tuned_defaults.py DATASET MODEL TUNE_OUT_DIR [TUNE_OUT_DIR ...]
"""
import json
import sys
import time

from ltvkit.data import build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.evaluation.splits import protocol_split
from ltvkit.models import create_model
from ltvkit.models.base.search import validation_score

dataset, model, *tuned_dirs = sys.argv[1:]
public = get_dataset(dataset)
log = public.load_log()
ds = build_dataset(log, public.task, public.load_attributes(log),
                   attribute_customer_col=public.attribute_customer_col)
train, valid, _ = protocol_split(dataset)(ds, 0)
candidates = [("default", {"random_state": 0})]
for d in tuned_dirs:
    with open(f"{d}/best_params.json") as f:
        candidates.append((f"tuned@{d}", json.load(f)["best_params"]))
for label, params in candidates:
    t = time.perf_counter()
    m = create_model(model, **params).fit(train, valid)
    scores = {k: round(validation_score(m, valid, k), 4)
              for k in ("normalized_gini", "decile_mape", "nmae")}
    print(dataset, model, label, json.dumps(params), scores, f"{time.perf_counter() - t:.1f}s",
          flush=True)
