"""Which candidate ``auto`` keeps and why: its validation normalized Gini for the best tuned
family and each stack, and the stacks' weights, on the split ``ltv benchmark --dataset D
--seeds S`` uses (the test part is not read).

    python benchmarks/auto_choice.py DATASET SEED
"""
import json
import sys

from ltvkit.data import build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.evaluation.splits import protocol_split
from ltvkit.models import create_model

dataset, seed = sys.argv[1], int(sys.argv[2])
public = get_dataset(dataset)
log = public.load_log()
ds = build_dataset(log, public.task, public.load_attributes(log),
                   attribute_customer_col=public.attribute_customer_col)
train, valid, _ = protocol_split(dataset)(ds, seed)
auto = create_model("auto", random_state=seed).fit(train, valid)
scores = {k: round(v, 4) for k, v in auto.search_info_["validation_gini"].items()}
chosen = auto.members_[0]
weights = ({"members": list(chosen.base_models), "weights": [round(float(w), 4) for w in
            chosen.weights_], "intercept": round(float(chosen.intercept_), 4)}
           if chosen.name == "stack" else None)
print(dataset, seed, "chosen:", auto.chosen_, json.dumps(scores), weights or "", flush=True)
