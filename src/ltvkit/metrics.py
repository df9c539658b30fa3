"""Every LTV metric, implemented once.

All public functions take array-likes, flatten them to 1-D ``float64`` and return plain Python
floats (or small dicts / a ``pandas.DataFrame``). Bad input raises :class:`ltvkit.errors.MetricError`
naming the argument at fault: empty input, inputs of different lengths, NaN or infinite values.

Conventions shared by all metrics
---------------------------------
- Ordering by prediction uses a *stable* sort (``np.argsort(-y_pred, kind="mergesort")``): among
  tied predictions the customer that comes first in the input comes first in the ranking. This
  makes the gain curve and the normalized Gini deterministic when many predictions tie (e.g. many
  exact zeros), which pandas' default (unstable) sort in google/lifetime_value ``metrics.py`` does
  not guarantee.
- Equal-count bins (deciles, percentiles) are built on ``rank(y_pred, method="first")``, so ties
  never make ``pd.qcut`` fail on duplicate edges and there are always exactly ``n_bins`` bins.
- Predictions may be negative (a regression model can produce them); every metric is still
  defined, but Lorenz curves / SMAPE / buckets interpret them literally (a negative prediction falls
  in the zero bucket, for instance).
- A value that is mathematically undefined on the given data (constant input for Spearman, a single
  class for AUC, every bin with label mean 0 for the binned MAPE) is returned as ``nan`` by the
  public function; :func:`evaluate` turns every such case into ``nan`` plus a human-readable entry
  in ``warnings``.

References
----------
The gain curve, normalized Gini and decile statistics follow google/lifetime_value
``lifetime_value/metrics.py`` (``cumulative_true``, ``gini_from_gain``, ``decile_stats``), the
code of [1]_; the others come from the papers that report them: NMAE / NRMSE and the normalized
Gini from [2]_, Percentile MAPE and Spearman from [3]_, AMBE and mutual Gini from [4]_, bucket
accuracy / F1 and Recall@k from [5]_.

.. [1] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
.. [2] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [3] Liu, K., Zhou, Y., Liu, B., Su, H., Chen, S. (2025). "MEAN: Multi-Expert Adaptive
   Network for Customer Lifetime Value Prediction." ECML PKDD 2025,
   doi:10.1007/978-3-032-05981-9_18.
.. [4] Li, K., Shao, G., Yang, N., Fang, X., Song, Y. (2022). "Billion-user Customer Lifetime
   Value Prediction: An Industrial-scale Solution from Kuaishou." Proceedings of the
   31st ACM International Conference on Information & Knowledge Management (CIKM '22),
   3243-3251. arXiv:2208.13358.
.. [5] Zhao, M., Bai, H., Tian, Y., Zhu, B., Luo, H. (2026). "CC-OR-Net: A Unified Framework
   for LTV Prediction through Structural Decoupling." The Web Conference (WWW 2026).
   arXiv:2601.10176.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ltvkit.errors import MetricError
from ltvkit.targets import ZERO_EPS, quantile_bucket_edges
from ltvkit.targets import assign_buckets as _assign_buckets

__all__ = [
    "HIGHER_IS_BETTER",
    "METRIC_KEYS",
    "ZERO_EPS",
    "ambe",
    "assign_buckets",
    "auc",
    "auc_active",
    "binned_mape",
    "bucket_scores",
    "cumulative_true",
    "decile_mape",
    "decile_stats",
    "evaluate",
    "gini_from_gain",
    "interval_coverage",
    "mae",
    "mutual_gini",
    "nmae",
    "normalized_gini",
    "nrmse",
    "percentile_mape",
    "quantile_bucket_edges",
    "recall_at_k",
    "rmse",
    "smape",
    "spearman",
    "top_k_scores",
]

#: The leaderboard metrics returned by :func:`evaluate`, in report order.
METRIC_KEYS: tuple[str, ...] = (
    "normalized_gini",
    "spearman",
    "decile_mape",
    "percentile_mape",
    "nmae",
    "nrmse",
    "mae",
    "rmse",
    "smape",
    "auc_active",
    "top10_precision",
    "top10_recall",
    "top10_f1",
    "top10_auc",
    "bucket_accuracy",
    "ambe",
    "mutual_gini",
    "recall_at_k",
)

#: For each key of :data:`METRIC_KEYS`, whether a larger value is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "normalized_gini": True,
    "spearman": True,
    "decile_mape": False,
    "percentile_mape": False,
    "nmae": False,
    "nrmse": False,
    "mae": False,
    "rmse": False,
    "smape": False,
    "auc_active": True,
    "top10_precision": True,
    "top10_recall": True,
    "top10_f1": True,
    "top10_auc": True,
    "bucket_accuracy": True,
    "ambe": False,
    "mutual_gini": False,
    "recall_at_k": True,
}



class _Undefined(MetricError):
    """The metric is undefined on this data; public functions return ``nan`` instead of raising."""


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


def _as_1d(x: ArrayLike, name: str) -> np.ndarray:
    """Flatten ``x`` to a finite, non-empty 1-D float64 array or raise MetricError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{name}: cannot be converted to float64 ({exc})") from exc
    if arr.size == 0:
        raise MetricError(f"{name}: is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise MetricError(f"{name}: {int(bad.sum())} of {arr.size} values are NaN or infinite")
    return arr


def _pair(y_true: ArrayLike, y_pred: ArrayLike, true_name: str = "y_true",
          pred_name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    """Validate two aligned inputs (see :func:`_as_1d`) of equal length."""
    y = _as_1d(y_true, true_name)
    p = _as_1d(y_pred, pred_name)
    if y.size != p.size:
        raise MetricError(
            f"{pred_name}: has {p.size} values but {true_name} has {y.size}; they must align"
        )
    return y, p


def _check_frac(top_frac: float) -> float:
    top_frac = float(top_frac)
    if not (0.0 < top_frac <= 1.0):
        raise MetricError(f"top_frac: must be in (0, 1], got {top_frac}")
    return top_frac


def _n_top(top_frac: float, n: int) -> int:
    """``ceil(top_frac * n)``, robust to float noise (``ceil(0.1 * 30)`` is 3, not 4)."""
    return max(1, min(n, math.ceil(round(top_frac * n, 9))))


def _top_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest values; ties go to the earlier index (stable sort)."""
    order = np.argsort(-values, kind="mergesort")
    mask = np.zeros(values.size, dtype=bool)
    mask[order[:k]] = True
    return mask


def _require_label_spread(y: np.ndarray, fn: str) -> None:
    """Rank metrics need labels that differ: with every label equal, any prediction orders
    them perfectly and the metric would be a meaningless 1.0."""
    if y.size > 1 and np.all(y == y[0]):
        raise MetricError(f"{fn}: all {y.size} labels are equal ({y[0]:g}), so any ordering "
                          "is perfect and the rank metric is undefined")


def _undefined_to_nan(fn: Callable[[], float]) -> float:
    try:
        return fn()
    except _Undefined:
        return float("nan")


# --------------------------------------------------------------------------------------------
# ranking: gain curve, normalized Gini, Spearman
# --------------------------------------------------------------------------------------------


def cumulative_true(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Gain curve: cumulative share of the label total over customers ranked by prediction.

    ``G_j = sum_{i <= j} y_(i) / sum(y)`` for ``j = 1..n`` where ``(i)`` orders customers by
    ``y_pred`` descending (google/lifetime_value ``metrics.cumulative_true``).

    Parameters
    ----------
    y_true : array-like
        True lifetime values.
    y_pred : array-like
        Predicted lifetime values (only their order matters).

    Returns
    -------
    numpy.ndarray
        The ``n`` points of the gain curve (no leading 0), ending at 1.

    Raises
    ------
    MetricError
        On bad input, or when ``sum(y_true) == 0`` (the curve is undefined).

    Notes
    -----
    The sort is stable (``np.argsort(-y_pred, kind="mergesort")``): tied predictions keep their
    input order. The google code uses pandas' default quicksort, whose tie order is arbitrary.
    """
    y, p = _pair(y_true, y_pred)
    total = y.sum()
    if total == 0:
        raise MetricError("cumulative_true: sum of y_true is 0, the gain curve is undefined")
    order = np.argsort(-p, kind="mergesort")
    return np.cumsum(y[order]) / total


def gini_from_gain(curve: ArrayLike) -> float:
    """Raw Gini coefficient of one gain curve: ``2 * mean_j G_j - 1``.

    Same as google/lifetime_value ``gini_from_gain`` (``2 * x.sum() / n - 1``) for one column.
    The normalized Gini divides the raw Gini of the model's curve by the raw Gini of
    the perfect curve (see :func:`normalized_gini`).

    Parameters
    ----------
    curve : array-like
        A gain curve as returned by :func:`cumulative_true`.

    Returns
    -------
    float
        The raw Gini; its sign is kept (negative for a worse-than-random ordering).
    """
    g = _as_1d(curve, "curve")
    return float(2.0 * g.mean() - 1.0)


def normalized_gini(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized Gini: raw Gini of the gain curve by prediction / raw Gini of the perfect curve.

    ``gini_from_gain(cumulative_true(y, y_pred)) / gini_from_gain(cumulative_true(y, y))``
    (google/lifetime_value). 1 means the prediction orders customers as well as
    the labels themselves do.

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels and predictions, same length.

    Returns
    -------
    float
        The normalized Gini. The sign is kept: an anti-correlated model gives a negative value
        (google/lifetime_value issue #18).

    Raises
    ------
    MetricError
        On bad input; when every label is 0 (``"normalized_gini: all labels are 0, the gain curve
        is undefined"``); when every label is equal (any ordering is then perfect, so the
        score would be 1.0 for any prediction; :func:`evaluate` reports ``nan`` and the
        reason); when the perfect ordering has a raw Gini of 0 (possible only with negative
        labels).

    Examples
    --------
    >>> normalized_gini([0, 1, 2, 3], [0, 1, 2, 3])
    1.0
    >>> round(normalized_gini([0, 1, 2, 3], [3, 2, 1, 0]), 12)
    -0.25
    """
    y, p = _pair(y_true, y_pred)
    if not y.any():
        raise MetricError("normalized_gini: all labels are 0, the gain curve is undefined")
    _require_label_spread(y, "normalized_gini")
    if y.sum() == 0:
        raise MetricError("normalized_gini: labels sum to 0, the gain curve is undefined")
    raw_model = gini_from_gain(cumulative_true(y, p))
    raw_perfect = gini_from_gain(cumulative_true(y, y))
    if raw_perfect == 0:
        raise MetricError("normalized_gini: the perfect ordering has a raw Gini of 0")
    return float(raw_model / raw_perfect)


def _spearman(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    y, p = _pair(y_true, y_pred)
    if y.size < 2:
        raise _Undefined("spearman: needs at least 2 samples")
    if np.all(y == y[0]):
        raise _Undefined("spearman: y_true is constant, the rank correlation is undefined")
    if np.all(p == p[0]):
        raise _Undefined("spearman: y_pred is constant, the rank correlation is undefined")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # belt and braces: constant input is caught above
        rho = stats.spearmanr(y, p)[0]
    return float(rho)


def spearman(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Spearman rank correlation, ``scipy.stats.spearmanr`` (average ranks for ties).

    As in the google/lifetime_value notebooks.

    Returns
    -------
    float
        The correlation in ``[-1, 1]``; ``nan`` when either input is constant or ``n < 2``
        (the correlation is undefined). scipy's ``ConstantInputWarning`` is not emitted.
    """
    return _undefined_to_nan(lambda: _spearman(y_true, y_pred))


# --------------------------------------------------------------------------------------------
# calibration: decile / percentile MAPE
# --------------------------------------------------------------------------------------------


def _rank_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """0-based equal-count bin of each value, binned on ``rank(p, method="first")``.

    Identical to ``pd.qcut(pd.Series(p).rank(method="first"), n_bins, labels=False)`` but computed
    in exact integer arithmetic: rank ``r`` (1-based) lies in bin ``b`` when
    ``edge_b < r <= edge_{b+1}`` with ``edge_k = 1 + (n - 1) k / n_bins`` (right-closed, the
    lowest edge included).
    """
    n = p.size
    r0 = np.empty(n, dtype=np.int64)
    r0[np.argsort(p, kind="mergesort")] = np.arange(n, dtype=np.int64)
    if n_bins == 1 or n == 1:
        return np.zeros(n, dtype=np.int64)
    k = -((-(r0 * n_bins)) // (n - 1))  # ceil((r - 1) * n_bins / (n - 1))
    return np.maximum(k - 1, 0)


def decile_stats(y_true: ArrayLike, y_pred: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Per-bin label and prediction means over equal-count bins of the prediction.

    google/lifetime_value ``decile_stats``, except that bins are built on
    ``rank(y_pred, method="first")`` so ties never produce duplicate ``qcut`` edges: there are
    always exactly ``n_bins`` bins, bin 0 holding the lowest predictions.

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels and predictions, same length (at least ``n_bins`` values).
    n_bins : int, default 10
        Number of equal-count bins (10 = deciles, 100 = percentiles).

    Returns
    -------
    pandas.DataFrame
        One row per bin with columns ``bin``, ``label_mean``, ``pred_mean``, ``count``, ``mape``
        where ``mape = |pred_mean - label_mean| / label_mean`` and is NaN when
        ``label_mean <= 0``.

    Raises
    ------
    MetricError
        On bad input, ``n_bins < 1`` or fewer samples than bins.
    """
    y, p = _pair(y_true, y_pred)
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise MetricError(f"n_bins: must be a positive integer, got {n_bins!r}")
    n_bins = int(n_bins)
    if y.size < n_bins:
        raise MetricError(f"y_pred: has {y.size} values, fewer than n_bins={n_bins}")
    b = _rank_bins(p, n_bins)
    count = np.bincount(b, minlength=n_bins)
    label_mean = np.bincount(b, weights=y, minlength=n_bins) / count
    pred_mean = np.bincount(b, weights=p, minlength=n_bins) / count
    mape = np.full(n_bins, np.nan)
    ok = label_mean > 0
    mape[ok] = np.abs(pred_mean[ok] - label_mean[ok]) / label_mean[ok]
    return pd.DataFrame({
        "bin": np.arange(n_bins, dtype=np.int64),
        "label_mean": label_mean,
        "pred_mean": pred_mean,
        "count": count.astype(np.int64),
        "mape": mape,
    })


def _binned_mape(y_true: ArrayLike, y_pred: ArrayLike, n_bins: int) -> tuple[float, int]:
    df = decile_stats(y_true, y_pred, n_bins=n_bins)
    mape = df["mape"].to_numpy()
    finite = np.isfinite(mape)
    n_skipped = int(n_bins - finite.sum())
    if not finite.any():
        raise _Undefined(
            f"all {n_bins} bins have label mean 0, the MAPE is undefined"
        )
    return float(mape[finite].mean()), n_skipped


def binned_mape(y_true: ArrayLike, y_pred: ArrayLike, n_bins: int) -> tuple[float, int]:
    """Mean over bins of ``|pred_mean - label_mean| / label_mean`` (bins of :func:`decile_stats`).

    Bins whose label mean is 0 (their MAPE would be infinite) are skipped and counted
    (reported, not silently dropped).

    Returns
    -------
    tuple of (float, int)
        ``(value, n_skipped_bins)``; the value is ``nan`` when every bin is skipped.
    """
    try:
        return _binned_mape(y_true, y_pred, n_bins)
    except _Undefined:
        return float("nan"), int(n_bins)


def decile_mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Decile MAPE (ZILN paper): :func:`binned_mape` with 10 bins, value only.

    Use :func:`binned_mape` to also get the number of skipped (label mean 0) deciles.
    """
    return binned_mape(y_true, y_pred, 10)[0]


def percentile_mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Percentile MAPE (MEAN paper, exact rule uncertain): :func:`binned_mape` with 100 bins.

    [interp]: 100 equal-count bins of the prediction, bins with label mean 0 skipped.
    """
    return binned_mape(y_true, y_pred, 100)[0]


# --------------------------------------------------------------------------------------------
# point errors
# --------------------------------------------------------------------------------------------


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error ``mean |y - y_pred|``."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - p)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error ``sqrt(mean (y - y_pred)^2)``."""
    y, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _positive_label_total(y: np.ndarray, fn: str) -> float:
    total = float(y.sum())
    if total <= 0:
        raise MetricError(
            f"{fn}: labels sum to {total:g}; normalizing by the label mean needs a positive sum"
        )
    return total


def nmae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized MAE ``sum |y - y_pred| / sum y`` (= MAE / mean y).

    As google/lifetime_value ``_normalized_mae``.

    Raises
    ------
    MetricError
        When ``sum(y_true) <= 0`` (e.g. all labels 0).
    """
    y, p = _pair(y_true, y_pred)
    total = _positive_label_total(y, "nmae")
    return float(np.abs(y - p).sum() / total)


def nrmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized RMSE ``RMSE / mean y``.

    As google/lifetime_value ``_normalized_rmse``.

    Raises
    ------
    MetricError
        When ``sum(y_true) <= 0`` (e.g. all labels 0).
    """
    y, p = _pair(y_true, y_pred)
    total = _positive_label_total(y, "nrmse")
    return float(np.sqrt(np.mean((y - p) ** 2)) / (total / y.size))


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric MAPE ``mean_i 2 |y_i - p_i| / (|y_i| + |p_i|)``, a fraction in ``[0, 2]``.

    A term with ``y_i = p_i = 0`` is defined as 0 (a perfect prediction of a zero label), so
    SMAPE stays finite on zero-inflated labels. Not multiplied by 100.
    """
    y, p = _pair(y_true, y_pred)
    den = np.abs(y) + np.abs(p)
    num = 2.0 * np.abs(y - p)
    terms = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(terms.mean())


def ambe(y_true: ArrayLike, y_pred: ArrayLike, normalize: bool = False) -> float:
    """Absolute mean bias error ``|mean(y_pred - y)|`` (Li et al. 2022, Zhao et al. 2026).

    Parameters
    ----------
    normalize : bool, default False
        Divide by ``mean(y)`` (some reports do; which one the papers use is uncertain).

    Raises
    ------
    MetricError
        With ``normalize=True`` and ``sum(y_true) <= 0``.
    """
    y, p = _pair(y_true, y_pred)
    bias = abs(float(np.mean(p - y)))
    if normalize:
        total = _positive_label_total(y, "ambe")
        return bias / (total / y.size)
    return bias


# --------------------------------------------------------------------------------------------
# classification-style metrics: AUC, whales, buckets
# --------------------------------------------------------------------------------------------


def _auc(y_binary: ArrayLike, score: ArrayLike, true_name: str = "y_binary",
         score_name: str = "score") -> float:
    yb, s = _pair(y_binary, score, true_name, score_name)
    if not np.all((yb == 0) | (yb == 1)):
        raise MetricError(f"{true_name}: must contain only 0/1 (or booleans)")
    pos = yb == 1
    n_pos = int(pos.sum())
    n_neg = yb.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise _Undefined(f"auc: {true_name} has a single class, the AUC is undefined")
    ranks = stats.rankdata(s)  # average ranks for ties
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auc(y_binary: ArrayLike, score: ArrayLike) -> float:
    """ROC AUC via the Mann-Whitney U statistic (average ranks, so a tie counts 1/2).

    ``AUC = (sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``.

    Parameters
    ----------
    y_binary : array-like of {0, 1} or bool
        The class of each sample.
    score : array-like
        Higher means more likely positive.

    Returns
    -------
    float
        The AUC, or ``nan`` when ``y_binary`` holds a single class.
    """
    return _undefined_to_nan(lambda: _auc(y_binary, score))


def auc_active(y_true: ArrayLike, p_active: ArrayLike) -> float:
    """AUC of ``p_active`` for the "purchases anything" event ``y_true > 0``.

    ``nan`` when all labels are 0 or all are positive.
    """
    y, p = _pair(y_true, p_active, "y_true", "p_active")
    return auc((y > 0).astype(np.float64), p)


def _whales(y: np.ndarray, p: np.ndarray, top_frac: float) -> tuple[np.ndarray, np.ndarray, int]:
    """True and predicted whale masks (``k = ceil(top_frac * n)`` each, stable ties) and ``k``."""
    k = _n_top(_check_frac(top_frac), y.size)
    if not (y > 0).any():
        raise MetricError("whales: all labels are 0, the top customers are undefined")
    return _top_mask(y, k), _top_mask(p, k), k


def _set_scores(true_w: np.ndarray, pred_w: np.ndarray) -> tuple[float, float, float]:
    tp = int((true_w & pred_w).sum())
    precision = tp / int(pred_w.sum())
    recall = tp / int(true_w.sum())
    f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
    return float(precision), float(recall), float(f1)


def top_k_scores(y_true: ArrayLike, y_pred: ArrayLike, top_frac: float = 0.10) -> dict[str, float]:
    """How well the prediction finds the whales (the top ``top_frac`` customers by label).

    True whales: the ``k = ceil(top_frac * n)`` customers with the largest ``y_true``; predicted
    whales: the ``k`` largest ``y_pred``. Ties are broken by input order (stable sort) in both.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` of the predicted whale set, and ``auc``: the AUC of
        ``y_pred`` for the true-whale indicator (``nan`` when ``k == n``).

    Raises
    ------
    MetricError
        On bad input, ``top_frac`` outside ``(0, 1]``, or when no label is positive.

    Notes
    -----
    Both sets have exactly ``k`` members, so precision, recall and F1 are equal by construction;
    they are kept as separate keys because papers report them separately. When fewer than ``k``
    labels are positive, the "whales" include zero-label customers chosen by input order.
    """
    y, p = _pair(y_true, y_pred)
    true_w, pred_w, _ = _whales(y, p, top_frac)
    precision, recall, f1 = _set_scores(true_w, pred_w)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": auc(true_w.astype(np.float64), p),
    }


def recall_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int | None = None,
                top_frac: float = 0.10) -> float:
    """Recall@k: share of the true top-``top_frac`` customers among the ``k`` highest predictions.

    CC-OR-Net (Zhao et al. 2026; finding the whales). True whales are the
    ``ceil(top_frac * n)`` largest labels, ties broken by input order; ``k`` defaults to that number.

    Raises
    ------
    MetricError
        On bad input, ``top_frac`` outside ``(0, 1]``, ``k`` outside ``1..n``, or when no
        label is positive.
    """
    y, p = _pair(y_true, y_pred)
    n_true = _n_top(_check_frac(top_frac), y.size)
    if not (y > 0).any():
        raise MetricError("recall_at_k: all labels are 0, the top customers are undefined")
    if k is None:
        k = n_true
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= y.size:
        raise MetricError(f"k: must be an integer in 1..{y.size}, got {k!r}")
    true_w = _top_mask(y, n_true)
    pred_w = _top_mask(p, int(k))
    return float((true_w & pred_w).sum() / n_true)


def interval_coverage(y_true: ArrayLike, q_low: ArrayLike, q_high: ArrayLike) -> float:
    """Share of labels inside the predicted interval ``[q_low, q_high]`` (bounds included,
    with a ``1e-9`` tolerance). For the 10 % and 90 % quantiles a calibrated model covers
    about 80 % of the labels.

    Raises
    ------
    MetricError
        On bad input (empty, different lengths, NaN/inf values).
    """
    y, lo = _pair(y_true, q_low, "y_true", "q_low")
    hi = _pair(y, q_high, "y_true", "q_high")[1]
    return float(np.mean((y >= lo - 1e-9) & (y <= hi + 1e-9)))


def _check_edges(edges: ArrayLike) -> np.ndarray:
    e = _as_1d(edges, "edges")
    if np.any(np.diff(e) < 0):
        raise MetricError(f"edges: must be non-decreasing, got {e.tolist()}")
    return e


def assign_buckets(y: ArrayLike, edges: ArrayLike) -> np.ndarray:
    """:func:`ltvkit.targets.assign_buckets` of checked inputs (finite values, sorted edges)."""
    return _assign_buckets(_as_1d(y, "y"), _check_edges(edges))


def bucket_scores(y_true: ArrayLike, y_pred: ArrayLike, edges: ArrayLike) -> dict[str, Any]:
    """Bucket accuracy and per-bucket F1 of ``bucket(y_pred)`` vs ``bucket(y_true)``.

    CC-OR-Net bucket consistency (Zhao et al. 2026) [interp]; use training-set edges
    (:func:`quantile_bucket_edges`).

    Returns
    -------
    dict
        ``bucket_accuracy`` (float), ``bucket_f1`` (list of floats, one per bucket; ``nan`` for a
        bucket that neither labels nor predictions use), ``bucket_macro_f1`` (mean of the
        defined per-bucket F1), ``top_bucket_f1`` (F1 of the highest bucket).
    """
    y, p = _pair(y_true, y_pred)
    e = _check_edges(edges)
    bt = assign_buckets(y, e)
    bp = assign_buckets(p, e)
    n_buckets = e.size + 1
    f1s: list[float] = []
    for b in range(n_buckets):
        t, q = bt == b, bp == b
        tp = int((t & q).sum())
        den = int(t.sum() + q.sum())
        f1s.append(float("nan") if den == 0 else 2.0 * tp / den)
    arr = np.asarray(f1s)
    defined = arr[np.isfinite(arr)]
    return {
        "bucket_accuracy": float(np.mean(bt == bp)),
        "bucket_f1": f1s,
        "bucket_macro_f1": float(defined.mean()) if defined.size else float("nan"),
        "top_bucket_f1": f1s[-1],
    }


# --------------------------------------------------------------------------------------------
# distribution: mutual Gini
# --------------------------------------------------------------------------------------------


def _lorenz(v: np.ndarray, name: str) -> np.ndarray:
    total = v.sum()
    if total <= 0:
        raise MetricError(f"mutual_gini: {name} sums to {total:g}, its Lorenz curve is undefined")
    return np.concatenate([[0.0], np.cumsum(np.sort(v)) / total])


def mutual_gini(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Area between the Lorenz curves of labels and predictions (Li et al. 2022, Kuaishou).

    Lorenz curve of ``v``: sort ascending, ``L_v(i/n) = sum of the i smallest / sum v`` with
    ``L_v(0) = 0``. ``MG = integral_0^1 |L_y(x) - L_pred(x)| dx`` by the trapezoid rule on the
    common grid ``x = 0, 1/n, ..., 1``. 0 means identical value distributions (the order of the
    customers does not matter). When the curves do not cross this equals
    ``|Gini_y - Gini_pred| / 2``; when they cross it is larger (the reason for the metric). On a
    segment where the curves cross, the trapezoid slightly over-estimates the exact area.

    Raises
    ------
    MetricError
        When labels or predictions sum to ``<= 0``. Negative predictions are taken literally
        (the Lorenz curve can then leave ``[0, 1]``).
    """
    y, p = _pair(y_true, y_pred)
    diff = np.abs(_lorenz(y, "y_true") - _lorenz(p, "y_pred"))
    return float(np.sum(diff[1:] + diff[:-1]) / (2.0 * y.size))


# --------------------------------------------------------------------------------------------
# everything at once
# --------------------------------------------------------------------------------------------


def evaluate(y_true: ArrayLike, y_pred: ArrayLike, p_active: ArrayLike | None = None, *,
             top_frac: float = 0.10, bucket_edges: ArrayLike | None = None,
             q_low: ArrayLike | None = None, q_high: ArrayLike | None = None) -> dict[str, Any]:
    """Compute every leaderboard metric of :data:`METRIC_KEYS` at once.

    Parameters
    ----------
    y_true : array-like
        Labels (future value over the horizon, normally ``>= 0``).
    y_pred : array-like
        Point predictions; must be finite. Negative predictions are allowed and used as they are.
    p_active : array-like, optional
        Probability of any purchase; the score for ``auc_active``. Defaults to ``y_pred``.
    top_frac : float, default 0.10
        Whale fraction for the ``top10_*`` and ``recall_at_k`` keys (the key names stay
        ``top10_*`` whatever the fraction).
    bucket_edges : array-like, optional
        Edges for ``bucket_accuracy``. Defaults to ``quantile_bucket_edges(y_true)`` (edges from
        the evaluated labels themselves); the benchmark passes the training-set edges.
    q_low, q_high : array-like, optional
        The predicted 10 % and 90 % quantiles. When both are given the result also holds
        ``interval_coverage_80`` (:func:`interval_coverage`).

    Returns
    -------
    dict
        The 18 keys of :data:`METRIC_KEYS` (floats), plus the informational floats ``n``,
        ``label_mean``, ``zero_label_fraction`` (share of labels ``<= 0``),
        ``decile_mape_skipped_bins`` and ``percentile_mape_skipped_bins`` (bins with label mean 0;
        ``nan`` when there are fewer samples than bins), ``interval_coverage_80`` when
        ``q_low`` and ``q_high`` are given, and ``warnings`` (list of str). A metric that cannot be computed on this data (all labels
        0, constant predictions, fewer than 100 samples for ``percentile_mape``, ...) is ``nan``
        and ``warnings`` says why. This function never raises for such data.

    Raises
    ------
    MetricError
        Only for malformed input: empty, different lengths, NaN/inf values, bad ``top_frac``
        or ``bucket_edges``.
    """
    y, p = _pair(y_true, y_pred)
    pa = p if p_active is None else _pair(y, p_active, "y_true", "p_active")[1]
    _check_frac(top_frac)
    edges = None if bucket_edges is None else _check_edges(bucket_edges)

    out: dict[str, Any] = {}
    notes: list[str] = []
    nan = float("nan")

    def safe(fn: Callable[[], Any], default: Any = nan) -> Any:
        try:
            return fn()
        except MetricError as exc:
            notes.append(str(exc))
            return default

    out["normalized_gini"] = safe(lambda: normalized_gini(y, p))
    out["spearman"] = safe(lambda: _spearman(y, p))
    def binned(key: str, n_bins: int) -> tuple[float, float]:
        try:
            value, skipped = _binned_mape(y, p, n_bins)
            return value, float(skipped)
        except _Undefined as exc:  # every bin has label mean 0
            notes.append(f"{key}: {exc}")
            return nan, float(n_bins)
        except MetricError as exc:  # fewer samples than bins
            notes.append(f"{key}: {exc}")
            return nan, nan

    out["decile_mape"], out["decile_mape_skipped_bins"] = binned("decile_mape", 10)
    out["percentile_mape"], out["percentile_mape_skipped_bins"] = binned("percentile_mape", 100)
    out["nmae"] = safe(lambda: nmae(y, p))
    out["nrmse"] = safe(lambda: nrmse(y, p))
    out["mae"] = mae(y, p)
    out["rmse"] = rmse(y, p)
    out["smape"] = smape(y, p)
    out["auc_active"] = safe(lambda: _auc((y > 0).astype(np.float64), pa, "y_true > 0", "score"))
    try:
        true_w, pred_w, _ = _whales(y, p, top_frac)
    except MetricError as exc:
        notes.append(f"top10_*, recall_at_k: {exc}")
        for key in ("top10_precision", "top10_recall", "top10_f1", "top10_auc", "recall_at_k"):
            out[key] = nan
    else:
        (out["top10_precision"], out["top10_recall"],
         out["top10_f1"]) = _set_scores(true_w, pred_w)
        out["top10_auc"] = safe(lambda: _auc(true_w.astype(np.float64), p, "top-k whale flag"))
        out["recall_at_k"] = recall_at_k(y, p, top_frac=top_frac)
    if edges is None:
        edges = safe(lambda: quantile_bucket_edges(y), None)
    out["bucket_accuracy"] = (
        nan if edges is None else bucket_scores(y, p, edges)["bucket_accuracy"]
    )
    out["ambe"] = ambe(y, p)
    out["mutual_gini"] = safe(lambda: mutual_gini(y, p))

    result: dict[str, Any] = {key: float(out[key]) for key in METRIC_KEYS}
    result["n"] = float(y.size)
    result["label_mean"] = float(y.mean())
    result["zero_label_fraction"] = float(np.mean(y <= 0))
    result["decile_mape_skipped_bins"] = out["decile_mape_skipped_bins"]
    result["percentile_mape_skipped_bins"] = out["percentile_mape_skipped_bins"]
    if q_low is not None and q_high is not None:
        result["interval_coverage_80"] = interval_coverage(y, q_low, q_high)
    result["warnings"] = notes
    return result
