"""Data-parallel training under TorchDistributor next to single-process training.

    LTVKIT_DATA_HOME=../shared/datasets python benchmarks/bench_distributed.py \
        [--dataset online_retail] [--models ziln,lstm] [--seeds 0,1,2] [--processes 2] \
        [--json out.json]

For each seed: the dataset's benchmark protocol split (train / valid / test customers); the
model is fitted on train with early stopping on valid, once in this process
(``train_worker`` without a process group, i.e. the ordinary trainer) and once in
``--processes`` processes under ``pyspark.ml.torch.distributor.TorchDistributor``
(``local_mode=True``, gloo, DDP); both saved models are loaded and scored on test with
``ltvkit.metrics.evaluate`` (normalized Gini, decile MAPE). Prints one row per (model, seed,
mode), the mean and min-max over seeds, and whether the multi-process mean lies inside the
single-process seed range.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from ltvkit.data import build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.metrics import evaluate
from ltvkit.models import load_model
from ltvkit.models.base.distributed import fit_distributed, train_worker

METRICS = ("normalized_gini", "decile_mape")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="online_retail")
    ap.add_argument("--models", default="ziln,lstm")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    public = get_dataset(args.dataset)
    log = public.load_log()
    ds = build_dataset(log, public.task, public.load_attributes(log),
                       attribute_customer_col=public.attribute_customer_col)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in seeds:
            train, valid, test = public.split.split(ds, seed)
            train.save(root / f"train{seed}")
            valid.save(root / f"valid{seed}")
            for name in args.models.split(","):
                params = {"random_state": seed, "n_threads": 1}
                for mode in ("1 process", f"{args.processes} processes"):
                    out = root / f"{name}-{seed}-{mode.split()[0]}"
                    t0 = time.perf_counter()
                    if mode == "1 process":
                        train_worker(name, params, str(root / f"train{seed}"), str(out), 0.0,
                                     seed, str(root / f"valid{seed}"))
                    else:
                        fit_distributed(name, params, root / f"train{seed}", out,
                                        num_processes=args.processes, seed=seed,
                                        valid_data=root / f"valid{seed}")
                    seconds = time.perf_counter() - t0
                    model = load_model(out)
                    h = model.horizons_[0]
                    pred = model.predict(test)
                    m = evaluate(test.labels_for(h), pred.value[:, 0],
                                 None if pred.p_active is None else pred.p_active[:, 0])
                    epochs = len(model.history_["main"].train_loss)
                    row = {"model": name, "seed": seed, "mode": mode, "epochs": epochs,
                           "seconds": round(seconds, 1),
                           **{k: float(m[k]) for k in METRICS}}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    summary = {}
    for name in args.models.split(","):
        for k in METRICS:
            one = np.array([r[k] for r in rows if r["model"] == name and r["mode"] == "1 process"])
            many = np.array([r[k] for r in rows if r["model"] == name and r["mode"] != "1 process"])
            inside = bool(one.min() <= many.mean() <= one.max())
            summary[f"{name} {k}"] = {
                "single_mean": float(one.mean()), "single_min": float(one.min()),
                "single_max": float(one.max()), "multi_mean": float(many.mean()),
                "multi_min": float(many.min()), "multi_max": float(many.max()),
                "multi_mean_inside_single_range": inside}
            print(f"{name:5s} {k:16s} 1 process {one.mean():.4f} [{one.min():.4f}, "
                  f"{one.max():.4f}]   {args.processes} processes {many.mean():.4f} "
                  f"[{many.min():.4f}, {many.max():.4f}]   inside: {inside}")
    if args.json:
        args.json.write_text(json.dumps({"machine": platform.platform(), "rows": rows,
                                         "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
