"""The numbers behind every chart of the report, as DataFrames (written next to the report as
CSV), computed with :mod:`ltvkit.metrics` and :mod:`ltvkit.targets`; nothing here defines a
metric of its own.

Each ``*_data`` function takes plain arrays (or the benchmark's records and reports) and
returns one tidy frame; the ``plot_*`` functions of :mod:`ltvkit.report.plots` draw these
frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ltvkit.errors import LTVError
from ltvkit.metrics import (
    ZERO_EPS,
    cumulative_true,
    decile_stats,
    interval_coverage,
    normalized_gini,
)
from ltvkit.targets import rank_groups

#: At most this many points of a gain curve are drawn (evenly spaced ranks, ends included).
GAIN_POINTS = 400


class ReportDataError(LTVError):
    """A chart cannot be drawn from the data it was given (the report shows the reason)."""


def _arrays(y_true: Any, y_pred: Any, name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.size == 0:
        raise ReportDataError("y_true: the test split is empty (0 customers), nothing to chart")
    if y.size != p.size:
        raise ReportDataError(f"{name}: has {p.size} values, y_true has {y.size}")
    return y, p


def thin_index(n: int, max_points: int = GAIN_POINTS) -> np.ndarray:
    """At most ``max_points`` evenly spaced positions of ``0..n-1``, first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def gain_data(y_true: Any, y_pred: Any, model: str = "model",
              max_points: int = GAIN_POINTS) -> pd.DataFrame:
    """The gain curve of one model (:func:`ltvkit.metrics.cumulative_true`) beside the oracle's
    (customers ranked by their true value), thinned to ``max_points`` ranks.

    Columns: ``model``, ``share_customers``, ``gain`` (share of the true value captured),
    ``oracle``, ``normalized_gini`` (the same on every row), ``n`` (customers)."""
    y, p = _arrays(y_true, y_pred)
    if y.sum() <= 0:
        raise ReportDataError(f"y_true: all {y.size} test labels are 0, the gain curve is "
                              "undefined")
    gain = cumulative_true(y, p)
    oracle = cumulative_true(y, y)
    idx = thin_index(y.size, max_points)
    share = (idx + 1) / y.size
    return pd.DataFrame({"model": model, "share_customers": np.r_[0.0, share],
                         "gain": np.r_[0.0, gain[idx]], "oracle": np.r_[0.0, oracle[idx]],
                         "normalized_gini": normalized_gini(y, p), "n": y.size})


def decile_data(y_true: Any, y_pred: Any, model: str = "model", n_bins: int = 10
                ) -> pd.DataFrame:
    """Mean predicted and mean actual value per equal-count bin of the prediction
    (:func:`ltvkit.metrics.decile_stats`; bin 1 holds the lowest predictions)."""
    y, p = _arrays(y_true, y_pred)
    if y.size < n_bins:
        raise ReportDataError(f"y_true: {y.size} test customers, fewer than the {n_bins} bins")
    df = decile_stats(y, p, n_bins=n_bins)
    df.insert(0, "model", model)
    df["bin"] = df["bin"] + 1
    return df


def calibration_data(y_true: Any, y_pred: Any, model: str = "model", n_bins: int = 20
                     ) -> pd.DataFrame:
    """Binned calibration: :func:`decile_stats` with ``n_bins`` equal-count bins."""
    return decile_data(y_true, y_pred, model, n_bins)


def coverage_data(y_true: Any, q_low: Any, q_high: Any, y_pred: Any, model: str = "model",
                  n_bins: int = 10) -> pd.DataFrame:
    """The 10-90 % interval coverage (:func:`ltvkit.metrics.interval_coverage`) inside each
    equal-count bin of the point prediction (:func:`ltvkit.targets.rank_groups`)."""
    y, p = _arrays(y_true, y_pred)
    lo = np.asarray(q_low, dtype=np.float64).ravel()
    hi = np.asarray(q_high, dtype=np.float64).ravel()
    if y.size < n_bins:
        raise ReportDataError(f"y_true: {y.size} test customers, fewer than the {n_bins} bins")
    groups = rank_groups(p, n_bins)
    rows = []
    for g in range(n_bins):
        mask = groups == g
        if mask.any():
            rows.append({"model": model, "bin": g + 1, "count": int(mask.sum()),
                         "coverage": interval_coverage(y[mask], lo[mask], hi[mask])})
    return pd.DataFrame(rows)


def zero_share_data(frames: Mapping[str, pd.DataFrame],
                    observed: Mapping[str, float]) -> pd.DataFrame:
    """Share of test customers who spend nothing, observed vs predicted, per model.

    ``observed`` is the leaderboard's ``zero_label_fraction`` of each model's run; the
    predicted share is ``1 - mean P(active)`` for models that predict ``p_active``, else the
    share of point predictions ``<= ZERO_EPS``."""
    rows = []
    for model, df in frames.items():
        if not len(df):
            continue
        if "p_active" in df:
            pred, how = float(1.0 - df["p_active"].mean()), "1 - mean P(active)"
        else:
            pred, how = float((df["y_pred"] <= ZERO_EPS).mean()), f"share of y_pred <= {ZERO_EPS:g}"
        rows.append({"model": model, "observed": observed.get(model, np.nan),
                     "predicted": pred, "predicted_as": how})
    return pd.DataFrame(rows, columns=["model", "observed", "predicted", "predicted_as"])


def waterfall_data(quality: Mapping[str, Any]) -> pd.DataFrame:
    """The data-quality report as waterfall steps: rows read, minus each cleaning rule's
    dropped rows (rules that dropped nothing included, so every rule is listed), rows kept."""
    rows = [{"step": "rows read", "measure": "absolute", "rows": int(quality["rows_read"])}]
    for rule, n in quality.get("dropped", {}).items():
        rows.append({"step": f"dropped: {rule.replace('_', ' ')}", "measure": "relative",
                     "rows": -int(n)})
    rows.append({"step": "rows kept", "measure": "total", "rows": int(quality["rows_kept"])})
    df = pd.DataFrame(rows)
    if df["rows"].iloc[:-1].sum() != df["rows"].iloc[-1]:
        raise ReportDataError(f"quality.json: does not balance: read {quality['rows_read']}, "
                              f"kept {quality['rows_kept']}, dropped {quality.get('dropped')}")
    return df


def scope_data(customers_in_log: int, customers_in_scope: int) -> pd.DataFrame:
    """Customers of the cleaned log, those outside the task's cohort, those scored."""
    return pd.DataFrame({"step": ["customers in the log", "outside the task's cohort",
                                  "customers in scope"],
                         "measure": ["absolute", "relative", "total"],
                         "customers": [customers_in_log, customers_in_scope - customers_in_log,
                                       customers_in_scope]})


def sparsity_data(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> pd.DataFrame:
    """Metric mean and std per model and sparsity level, from
    :func:`ltvkit.evaluation.leaderboard.summarize` rows."""
    out = []
    for r in rows:
        for key in metrics:
            if key in r:
                out.append({"model": r["model_name"], "sparsity": r.get("sparsity", 0),
                            "metric": key, "mean": r[key][0], "std": r[key][1]})
    return pd.DataFrame(out, columns=["model", "sparsity", "metric", "mean", "std"])


def btyd_matrix_data(fn: Any, max_frequency: int, max_recency: float, T: float,
                     n_recency: int = 40) -> pd.DataFrame:
    """``fn(x, t_x, T)`` over the grid frequency ``0..max_frequency`` x recency
    ``0..max_recency`` (weeks) at age ``T`` (weeks), as lifetimes' matrix plots draw it;
    cells with ``t_x > T``, or ``t_x > 0`` at ``x = 0``, are left empty (no customer can be
    there)."""
    x = np.arange(max_frequency + 1, dtype=np.float64)
    t_x = np.linspace(0.0, max_recency, n_recency)
    xx, tt = np.meshgrid(x, t_x, indexing="ij")
    possible = (tt <= T) & ~((xx == 0) & (tt > 0))
    values = np.full(xx.shape, np.nan)
    values[possible] = fn(xx[possible], tt[possible], np.full(possible.sum(), T))
    return pd.DataFrame({"frequency": xx.ravel(), "recency_weeks": tt.ravel(),
                         "T_weeks": T, "value": values.ravel()})
