"""Value buckets and value ranges of LTV labels, written once for metrics and models alike.

Every rule that turns spend into a bucket lives here: the CC-OR-Net / bucket-metric edges
(zero, then quantiles of the positive labels), MEAN's equal-count value ranges, ODMN's
equal-frequency sub-distribution buckets, and the in-batch value groups of LtvS's experts.
The bucket of a value is right-closed everywhere: bucket 0 holds ``y <= zero_at``, bucket
``j >= 1`` holds ``cut_{j-1} < y <= cut_j``. :func:`bucket_index` accepts NumPy arrays and
PyTorch tensors, so a model's training loss and the metrics cannot disagree on a bucket.
This module imports nothing of ltvkit but the errors (and PyTorch only when given tensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ltvkit.errors import MetricError, ModelError

#: Values ``<= ZERO_EPS`` (above the first bucket edge) belong to the zero bucket.
ZERO_EPS: float = 1e-6


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def bucket_index(y: Any, cuts: Any, zero_at: Any = 0.0) -> Any:
    """Bucket of each value: 0 where ``y <= zero_at``, else ``1 + #{cuts < y}``.

    ``y`` [...] with ``cuts`` [m] (one set for every value) or ``y`` [b, H] with ``cuts``
    [H, m] (one set per column). NumPy in, int64 NumPy out; a tensor in, an int64 tensor out.
    """
    if _is_tensor(y):
        import torch

        above = (y.unsqueeze(-1) > cuts.to(y.dtype)).sum(dim=-1)
        return torch.where(y > zero_at, 1 + above, torch.zeros_like(above))
    v = np.asarray(y)
    above = (v[..., None] > np.asarray(cuts)).sum(axis=-1)
    return np.where(v > zero_at, 1 + above, 0).astype(np.int64)


def quantile_bucket_edges(y_train: np.ndarray,
                          quantiles: Sequence[float] = (0.5, 0.75)) -> np.ndarray:
    """Bucket edges from training labels: ``[0, q_1, q_2, ...]`` of the POSITIVE labels.

    The default gives CC-OR-Net's K = 4 buckets: zero, ``(0, q50]``, ``(q50, q75]``,
    ``(q75, inf)``. Use the training set's edges when scoring a test set.

    Raises
    ------
    MetricError
        When no label is positive or a quantile is outside ``(0, 1)``.
    """
    y = np.asarray(y_train, dtype=np.float64).ravel()
    qs = np.asarray(quantiles, dtype=np.float64).ravel()
    if qs.size == 0 or np.any((qs <= 0) | (qs >= 1)) or np.any(np.diff(qs) <= 0):
        raise MetricError(f"quantiles: must be increasing values in (0, 1), got {quantiles!r}")
    pos = y[y > ZERO_EPS]
    if pos.size == 0:
        raise MetricError("quantile_bucket_edges: no positive label in y_train")
    return np.concatenate([[0.0], np.quantile(pos, qs)])


def assign_buckets(y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket of each value for edges ``[e0, e1, ..., em]`` (``m + 2`` buckets).

    Bucket 0 holds ``y <= e0 + ZERO_EPS`` (zero and negative values); bucket ``j >= 1`` holds
    ``e_{j-1} < y <= e_j`` (right-closed); the last bucket holds ``y > em``.
    """
    e = np.asarray(edges, dtype=np.float64).ravel()
    return bucket_index(np.asarray(y, dtype=np.float64).ravel(), e[1:], e[0] + ZERO_EPS)


def value_range_edges(scaled_labels: np.ndarray, n_ranges: int, cap: float | None = None
                      ) -> np.ndarray:
    """Cut points between the positive value ranges, per horizon: ``[H, n_ranges - 2]``.

    Range 0 is ``y = 0``; the positive labels (clipped to ``cap``) are cut at their quantiles
    ``1/(n_ranges-1), ..., (n_ranges-2)/(n_ranges-1)`` into ``n_ranges - 1`` equal-count ranges
    (MEAN's value ranges). A horizon without a positive label gets zeros (every label then falls
    in range 0). The range of a label is ``bucket_index(y, edges)``.
    """
    y = np.asarray(scaled_labels, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if cap is not None:
        y = np.clip(y, 0.0, cap)
    qs = np.arange(1, n_ranges - 1) / (n_ranges - 1)
    edges = np.zeros((y.shape[1], max(n_ranges - 2, 0)))
    for j in range(y.shape[1]):
        pos = y[y[:, j] > 0, j]
        if pos.size and qs.size:
            edges[j] = np.quantile(pos, qs)
    return edges


def equal_frequency_bounds(y: np.ndarray, n_positive: int, n_buckets: int,
                           cap_quantile: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-frequency bucket bounds of the positive labels ``y`` [n] (ODMN's segmentation).

    Returns ``lower``, ``upper`` [P, B]: bucket ``(s, b)`` (s = 1..P as row ``s - 1``) covers
    ``[lower, upper]``; consecutive buckets share an edge. Ties in ``y`` may give empty buckets
    of zero width.
    """
    positive = np.asarray(y, dtype=np.float64)
    positive = positive[positive > ZERO_EPS]
    if positive.size == 0:
        raise ModelError("odmn: a horizon has no positive training label, so there is no "
                         "value range to cut into buckets")
    n = n_positive * n_buckets
    levels = np.linspace(0.0, 1.0, n + 1)
    levels[-1] = cap_quantile
    edges = np.maximum.accumulate(np.quantile(positive, levels))
    return edges[:-1].reshape(n_positive, n_buckets), edges[1:].reshape(n_positive, n_buckets)


def rank_groups(values: Any, n_groups: int) -> Any:
    """Value group of each sample of a batch ``[b] -> [b]`` int64 in ``0..k-1``.

    ``floor(k * rank / b)`` with ``rank`` = number of samples with a strictly smaller value:
    ``k`` equal-count groups when the values are distinct, ties share a group (LtvS's expert
    labels, drawn within each batch rather than from fixed edges). NumPy or torch.
    """
    b = values.shape[0]
    if _is_tensor(values):
        import torch

        rank = torch.searchsorted(torch.sort(values).values.contiguous(), values.contiguous())
        return torch.div(rank * n_groups, max(b, 1), rounding_mode="floor").clamp_max(
            n_groups - 1)
    v = np.asarray(values)
    rank = np.searchsorted(np.sort(v), v, side="left")
    return np.minimum((rank * n_groups) // max(b, 1), n_groups - 1).astype(np.int64)
