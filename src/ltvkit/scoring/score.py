"""The scored customer base: one row per customer in scope with predicted value per horizon,
its interval, purchase probability, discounted CLV, rank, decile, percentile and value segment;
and the accounted list of the log's customers that the task left out of scope.

Columns (per predicted horizon ``h``): ``value_<h>``, ``q10_<h>`` / ``q50_<h>`` / ``q90_<h>``
(models with quantiles), ``p_active_<h>`` (models with a purchase probability),
``clv_npv_<h>`` (:mod:`ltvkit.scoring.npv`), ``y_true_<h>`` (``with_labels=True``); then
``rank`` (1 = highest value, ties share the best rank), ``decile`` (1 = top 10 %),
``percentile`` (1 = top 1 %), ``segment`` and ``p_alive`` (BTYD models).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.prediction import QUANTILE_LEVELS, quantile_column
from ltvkit.scoring.errors import ScoringError
from ltvkit.scoring.npv import discounted_value
from ltvkit.scoring.segments import ValueSegments

DEFAULT_DISCOUNT_RATE = 0.10


@dataclass
class ScoredBase:
    """``frame``: the scored customers; ``out_of_scope``: customer_id, cutoff, reason of every
    log customer not scored at a cutoff (empty without a log); ``summary``: the accounting."""

    frame: Any
    out_of_scope: Any
    segments: ValueSegments
    summary: dict[str, Any] = field(default_factory=dict)

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Write the scored file (Parquet, or CSV when the name ends in .csv) and the
        out-of-scope list beside it (``<stem>.out_of_scope.<ext>``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        other = path.with_name(f"{path.stem}.out_of_scope{path.suffix or '.parquet'}")
        for frame, target in ((self.frame, path), (self.out_of_scope, other)):
            if target.suffix == ".csv":
                frame.to_csv(target, index=False)
            else:
                frame.to_parquet(target, index=False)
        return path, other


def rank_columns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, decile, percentile) of ``values``: rank 1 = highest (ties share the best rank),
    decile 1 = top 10 %, percentile 1 = top 1 %: the groups of
    :func:`ltvkit.targets.rank_groups` on ``-values`` (``floor(k * g / n)`` with ``g`` the
    number of larger values), from one sort."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    order = np.argsort(-v, kind="stable")
    ordered = v[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    greater_sorted = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    greater = np.empty(n, dtype=np.int64)
    greater[order] = greater_sorted
    denom = max(n, 1)
    decile = np.minimum(greater * 10 // denom, 9) + 1
    percentile = np.minimum(greater * 100 // denom, 99) + 1
    return greater + 1, decile, percentile


def out_of_scope(log, dataset):
    """The customers of ``log`` that ``dataset`` has no sample of at a cutoff, with the reason
    the task's cohort rule gives: customer_id, cutoff, reason."""
    import pandas as pd

    from ltvkit.data import kernels
    from ltvkit.data.task import LTVTask, parse_date, parse_days

    task = LTVTask.from_dict(dataset.meta["task"])
    arrays = log.arrays
    ids = np.asarray(arrays.customer_ids).astype(str)
    first = kernels.first_purchase_us(arrays)
    lookback = parse_days(task.lookback) if task.lookback else None
    frames = []
    scored = pd.DataFrame({"customer_id": dataset.customer_id.astype(str),
                           "cutoff": dataset.cutoff.astype("datetime64[D]")})
    for cutoff in task.cutoff_dates():
        w = kernels.make_window(cutoff, lookback)
        have = scored.loc[scored["cutoff"] == np.datetime64(cutoff, "D"), "customer_id"]
        absent = ~pd.Index(ids).isin(have.to_numpy())  # hashed: np.isin on str is slow
        reason = np.full(len(ids), "", dtype=object)
        never = first == np.iinfo(np.int64).max
        after = (first >= w.end_us) & ~never
        reason[never] = "refunds only: no purchase in the log"
        reason[after] = f"first purchase after the cutoff {cutoff}"
        if task.cohort == "active" and lookback:
            idle = ~kernels.active_customers(arrays, w) & ~never & ~after
            reason[idle] = f"no purchase in the {task.lookback} before the cutoff {cutoff}"
        if task.cohort == "new":
            lo = kernels.day_number(parse_date(task.new_from, "new_from")) * kernels.US_PER_DAY
            hi = (kernels.day_number(parse_date(task.new_until, "new_until")) + 1
                  ) * kernels.US_PER_DAY
            early = ((first < lo) | (first >= hi)) & ~never & ~after
            reason[early] = (f"first purchase outside the new-customer window "
                             f"{task.new_from}..{task.new_until}")
        reason[absent & (reason == "")] = ("in the cohort but not in this dataset "
                                               "(another split, or a subset)")
        frames.append(pd.DataFrame({"customer_id": ids[absent],
                                    "cutoff": np.datetime64(cutoff, "D"),
                                    "reason": reason[absent]}))
    out = pd.concat(frames, ignore_index=True)
    out["cutoff"] = out["cutoff"].astype("datetime64[s]")
    return out


def _load(model, data):
    from ltvkit.data import LTVDataset
    from ltvkit.models import load_model

    model_dir = None
    if isinstance(model, str | Path):
        model_dir = Path(model)
        model = load_model(model_dir)
    if isinstance(data, str | Path):
        data = LTVDataset.load(data)
    return model, model_dir, data


def score(model, data, *, discount_rate: float = DEFAULT_DISCOUNT_RATE,
          segments: ValueSegments | None = None, intervals: bool | None = None,
          with_labels: bool = False, log=None) -> ScoredBase:
    """Score every sample of ``data`` with ``model`` (objects, or a saved model directory and a
    dataset directory).

    Parameters
    ----------
    discount_rate : annual rate of ``clv_npv_<h>`` (see :mod:`ltvkit.scoring.npv`).
    segments : value segments; default the ``segments.json`` saved beside the model, else
        segments learnt on the scored base itself (recorded in ``summary["segments_from"]``).
    intervals : ``True`` requires q10/q50/q90 (an error when the model has none), ``False``
        leaves them out, ``None`` writes them when the model has them.
    with_labels : add ``y_true_<h>`` from the dataset's labels (a test split).
    log : the :class:`~ltvkit.data.log.TransactionLog` the dataset was built from; its
        customers without a sample become the out-of-scope list, each with a reason.
    """
    import pandas as pd

    model, model_dir, data = _load(model, data)
    pred = model.predict(data)
    if intervals and not pred.quantiles:
        raise ScoringError(f"intervals: model '{model.name}' predicts no quantiles, so there are "
                           "no q10/q50/q90 intervals; score without --intervals or use a "
                           "probabilistic model (e.g. ziln)")
    days = {h: d for h, d in zip(data.horizons, data.horizon_days, strict=True)}
    cols: dict[str, Any] = {"customer_id": pred.customer_id.astype(str),
                            "cutoff": pred.cutoff.astype("datetime64[D]").astype(
                                "datetime64[s]")}
    for j, h in enumerate(pred.horizons):
        cols[f"value_{h}"] = pred.value[:, j]
        if pred.quantiles and intervals is not False:
            for q in QUANTILE_LEVELS:
                if q in pred.quantiles:
                    cols[f"{quantile_column(q)}_{h}"] = pred.quantiles[q][:, j]
        if pred.p_active is not None:
            cols[f"p_active_{h}"] = pred.p_active[:, j]
        cols[f"clv_npv_{h}"] = discounted_value(pred.value[:, j], days[h], discount_rate)
        if with_labels:
            cols[f"y_true_{h}"] = data.labels_for(h)
    main = pred.horizons[0]
    if segments is None and model_dir is not None:
        segments = ValueSegments.load(model_dir)
        source = f"{model_dir}/segments.json" if segments is not None else None
    else:
        source = "given" if segments is not None else None
    if segments is None:
        segments = ValueSegments.from_quantiles(pred.value[:, 0], horizon=main)
        source = "learnt on the scored base (no segments saved with the model)"
    seg_h = segments.horizon or main
    if seg_h not in pred.horizons:
        raise ScoringError(f"segments: learnt on horizon {seg_h}, the model predicts "
                           f"{pred.horizons}")
    ranked = pred.value[:, pred.horizon_index(seg_h)]
    cols["rank"], cols["decile"], cols["percentile"] = rank_columns(ranked)
    cols["segment"] = segments.assign(ranked)
    if "p_alive" in pred.extras:
        cols["p_alive"] = np.asarray(pred.extras["p_alive"], dtype=np.float64).reshape(-1)
    frame = pd.DataFrame(cols)
    if log is not None:
        oos = out_of_scope(log, data)
    else:
        oos = pd.DataFrame({"customer_id": pd.Series([], dtype=str),
                            "cutoff": pd.Series([], dtype="datetime64[s]"),
                            "reason": pd.Series([], dtype=str)})
    summary = {"model": model.name, "samples_scored": len(frame),
               "customers_scored": int(frame["customer_id"].nunique()),
               "horizons": list(pred.horizons), "discount_rate": discount_rate,
               "segments_from": source, "segment_horizon": seg_h,
               "scored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if log is not None:
        n_log = int(log.arrays.n_customers)
        n_cut = frame["cutoff"].nunique() if len(frame) else 0
        summary.update(customers_in_log=n_log, out_of_scope_rows=len(oos),
                       balanced=bool(len(frame) + len(oos) == n_log * max(n_cut, 1)),
                       reasons=oos["reason"].value_counts().to_dict())
    return ScoredBase(frame=frame, out_of_scope=oos, segments=segments, summary=summary)
