"""The BTYD section's numbers: a BG/NBD model refitted on the run's training split, the
tracking of the cohort's cumulative repeat purchases over calendar time and the calibration
vs holdout purchases per frequency (Fader, Hardie & Lee, "Counting Your Customers the Easy
Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 2005, figures 2-4).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import Horizon
from ltvkit.report.data import ReportDataError

DAYS_PER_WEEK = 7.0
#: Calibration frequencies at or above this are pooled in the holdout chart ("7+").
HOLDOUT_MAX_FREQUENCY = 7


def fit_bgnbd(train: LTVDataset) -> Any:
    """A ``bgnbd`` model fitted on ``train`` (the run's training split)."""
    from ltvkit.models import create_model

    return create_model("bgnbd").fit(train)


def holdout_data(model: Any, test: LTVDataset, horizon: str) -> pd.DataFrame:
    """Mean actual orders in ``horizon`` vs the model's expected purchases, per calibration
    frequency of the test customers (frequencies >= 7 pooled)."""
    from ltvkit.models.base.btyd import rfm

    if not len(test):
        raise ReportDataError("test: the test split is empty (0 customers)")
    x, t_x, T, _ = rfm(test)
    weeks = Horizon.parse(horizon).days / DAYS_PER_WEEK
    expected = model.purchase_module.expected_purchases(model.purchase_params_, weeks, x, t_x, T)
    actual = test.label_orders[:, test.horizon_index(horizon)].astype(np.float64)
    freq = np.minimum(x, HOLDOUT_MAX_FREQUENCY).astype(np.int64)
    df = pd.DataFrame({"frequency": freq, "actual": actual, "expected": expected})
    out = df.groupby("frequency").agg(actual=("actual", "mean"), expected=("expected", "mean"),
                                      count=("actual", "size")).reset_index()
    out["frequency_label"] = [f"{f}+" if f == HOLDOUT_MAX_FREQUENCY else str(f)
                              for f in out["frequency"]]
    return out


def tracking_data(model: Any, log: Any, customers: np.ndarray, end: str,
                  step_days: int = 7) -> pd.DataFrame:
    """Cumulative repeat purchases (purchase days after a customer's first, the daily
    convention of the dataset's ``frequency``) of ``customers`` over calendar time, actual
    (from the transaction log) and expected by the BG/NBD model (eq. 9 of Fader, Hardie &
    Lee 2005, from each customer's first purchase), every ``step_days`` until ``end``."""
    import pyarrow as pa

    from ltvkit.btyd import bgnbd

    if model.purchase_module is not bgnbd:
        raise ReportDataError("model: the tracking plot needs a BG/NBD model")
    con = log.con
    con.register("_report_cohort", pa.table({"customer_id": pa.array(customers.astype(str))}))
    try:
        days = con.execute(f"""
            SELECT t.customer_id, CAST(t.ts AS DATE) AS day
            FROM {log.table} t JOIN _report_cohort c ON CAST(t.customer_id AS VARCHAR) = c.customer_id
            WHERE t.amount >= 0 AND CAST(t.ts AS DATE) <= DATE '{pd.Timestamp(end).date()}'
            GROUP BY 1, 2""").df()
    finally:
        con.unregister("_report_cohort")
    if days.empty:
        raise ReportDataError("customers: no purchase of the cohort in the log")
    day = pd.to_datetime(days["day"]).to_numpy("datetime64[D]").astype(np.int64)
    first = pd.Series(day).groupby(days["customer_id"].to_numpy()).transform("min").to_numpy()
    repeat_day = day[day > first]
    start, stop = int(first.min()), int(pd.Timestamp(end).to_datetime64().astype(
        "datetime64[D]").astype(np.int64))
    grid = np.arange(start, stop + 1, step_days, dtype=np.int64)
    if grid[-1] != stop:
        grid = np.r_[grid, stop]
    actual = np.searchsorted(np.sort(repeat_day), grid, side="right")
    firsts, counts = np.unique(first[day == first], return_counts=True)
    t = np.clip(grid[:, None] - firsts[None, :], 0, None) / DAYS_PER_WEEK
    expected = (bgnbd.expected_purchases_new(model.purchase_params_, t) * counts).sum(axis=1)
    return pd.DataFrame({"date": grid.astype("datetime64[D]"), "actual": actual,
                         "expected": expected})
