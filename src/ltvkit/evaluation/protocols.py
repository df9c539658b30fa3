"""More benchmark protocols: a ratio split, K-fold cross-validation and tuned models.

- :func:`ratio_split` ``(70, 15, 15)``: the train / valid / test shares of customers of
  Jasek et al.'s protocol (paper 004: "Comparative analysis of selected probability customer
  lifetime value models in online shopping", Journal of Business Economics and Management,
  2019), drawn with the seed.
- :func:`cv_folds`: K folds; on single-cutoff data grouped by customer (every customer's samples
  in one fold), on sliding-cutoff data forward-chaining by cutoff (fold k tests the k-th of K
  later cutoff blocks and trains on every earlier cutoff, so no fold trains on its future).
  Inside the training part a seeded 10 % of customers validate (early stopping, tuning).
- :func:`run_protocol`: every model, seed and fold into one leaderboard; records carry
  ``fold`` so the summary's mean ± std runs over folds and seeds. With ``tuner`` (a callable
  ``(spec, train, valid, seed) -> params``, e.g. ``ltvkit.tuning`` wrapped by the CLI) each
  model is tuned on the fold's training and validation parts before it is scored, and its
  rows are labelled ``NAME+tuned``; the test part is never handed to the tuner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import LTVError
from ltvkit.evaluation.leaderboard import write_leaderboard
from ltvkit.evaluation.runner import Record, fit_and_score
from ltvkit.evaluation.specs import ModelSpec
from ltvkit.evaluation.splits import Split
from ltvkit.metrics import quantile_bucket_edges

Tuner = Callable[[str, LTVDataset, LTVDataset, int], dict[str, Any]]
VALID_FRAC = 0.1


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"70,15,15"`` -> ``(0.70, 0.15, 0.15)``; three positive shares summing to 100."""
    try:
        parts = [float(p) for p in str(text).split(",")]
    except ValueError:
        raise LTVError(f"--split must be three numbers like 70,15,15, got '{text}'") from None
    if len(parts) != 3 or min(parts) <= 0 or abs(sum(parts) - 100.0) > 1e-6:
        raise LTVError(f"--split needs three positive shares summing to 100 (train,valid,"
                       f"test), got '{text}' (sum {sum(parts):g})")
    return parts[0] / 100.0, parts[1] / 100.0, parts[2] / 100.0


def ratio_split(train: float, valid: float, test: float) -> Split:
    """A customer split with these shares of customers (e.g. 0.70, 0.15, 0.15)."""

    def split(dataset: LTVDataset, seed: int) -> tuple[LTVDataset, LTVDataset, LTVDataset]:
        return dataset.split_customers(seed=seed, test_frac=test,
                                       valid_frac=valid / (train + valid))

    return split


def _is_sliding(dataset: LTVDataset) -> bool:
    return len(np.unique(dataset.cutoff)) > 1


def _train_valid(part: LTVDataset, seed: int) -> tuple[LTVDataset, LTVDataset]:
    train, valid, _ = part.split_customers(seed=seed, test_frac=0.0, valid_frac=VALID_FRAC)
    return train, valid


def cv_folds(dataset: LTVDataset, k: int, seed: int
             ) -> list[tuple[LTVDataset, LTVDataset, LTVDataset]]:
    """K ``(train, valid, test)`` folds (see the module docstring)."""
    if int(k) < 2:
        raise LTVError(f"--cv needs K >= 2 folds, got {k}")
    k = int(k)
    if _is_sliding(dataset):
        cutoffs = np.unique(dataset.cutoff)
        if len(cutoffs) < k + 1:
            raise LTVError(f"--cv {k}: forward-chaining folds need at least {k + 1} distinct "
                           f"cutoffs, the dataset has {len(cutoffs)}")
        blocks = np.array_split(cutoffs, k + 1)
        folds = []
        for i in range(1, k + 1):
            test_mask = np.isin(dataset.cutoff, blocks[i])
            train_mask = dataset.cutoff < blocks[i][0]
            train, valid = _train_valid(dataset.subset(train_mask), seed)
            folds.append((train, valid, dataset.subset(test_mask)))
        return folds
    customers = np.unique(dataset.customer_id.astype(str))
    if len(customers) < k:
        raise LTVError(f"--cv {k}: only {len(customers)} customers")
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(customers[rng.permutation(len(customers))],
                       np.arange(len(customers)) % k, strict=True))
    sample_fold = np.fromiter((fold_of[c] for c in dataset.customer_id.astype(str)), int,
                              len(dataset))
    out = []
    for i in range(k):
        train, valid = _train_valid(dataset.subset(sample_fold != i), seed)
        out.append((train, valid, dataset.subset(sample_fold == i)))
    return out


def run_protocol(dataset: LTVDataset, split: Split, models: Sequence[str], seeds: Sequence[int],
                 out: str | Path, *, cv: int | None = None, tuner: Tuner | None = None,
                 params: dict[str, dict[str, Any]] | None = None,
                 on_step: Callable[[str], None] | None = None) -> list[Record]:
    """Fit and score ``models`` for every seed (and fold with ``cv``); tune each first with
    ``tuner``; write the leaderboard into ``out``; return the records."""
    out = Path(out)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    horizon = dataset.horizons[0]
    records: list[Record] = []
    for seed in seeds:
        parts = cv_folds(dataset, cv, seed) if cv else [split(dataset, seed)]
        for fold, (train, valid, test) in enumerate(parts):
            edges = quantile_bucket_edges(train.labels_for(horizon))
            for name in models:
                label = f"{name}+tuned" if tuner else name
                stem = label + (f"-fold{fold}" if cv else "")
                if on_step:
                    on_step(f"{label} seed {seed}" + (f" fold {fold}" if cv else ""))
                spec, run_params = name, dict(params or {})
                extra: dict[str, Any] = {"fold": fold} if cv else {}
                if tuner:
                    t0 = time.perf_counter()
                    try:
                        best = tuner(name, train, valid, seed)
                    except Exception as exc:  # noqa: BLE001 - recorded like a failed fit
                        records.append({"model": label, "seed": seed, **extra,
                                        "error": f"tuning: {type(exc).__name__}: {exc}"})
                        write_leaderboard(records, out, horizon=horizon)
                        continue
                    parsed = ModelSpec.parse(name)
                    run_params[parsed.name] = {**run_params.get(parsed.name, {}), **best}
                    extra["tuned_params"] = best
                    extra["tune_seconds"] = round(time.perf_counter() - t0, 3)
                record = fit_and_score(spec, train, valid, test, seed, horizon, edges,
                                       run_params, out / "predictions", label=label,
                                       file_stem=stem)
                record.update(extra)
                records.append(record)
                write_leaderboard(records, out, horizon=horizon)
    return records
