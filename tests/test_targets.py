"""Value buckets: one rule for NumPy and PyTorch, metrics and models alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltvkit.metrics import assign_buckets as checked_assign_buckets
from ltvkit.targets import (
    ZERO_EPS,
    assign_buckets,
    bucket_index,
    equal_frequency_bounds,
    quantile_bucket_edges,
    rank_groups,
    value_range_edges,
)


def test_buckets_are_right_closed_with_a_zero_bucket():
    edges = np.array([0.0, 10.0, 20.0])
    y = np.array([-5.0, 0.0, ZERO_EPS / 2, 1.0, 10.0, 10.5, 20.0, 99.0])
    assert assign_buckets(y, edges).tolist() == [0, 0, 0, 1, 1, 2, 2, 3]
    assert checked_assign_buckets(y, edges).tolist() == [0, 0, 0, 1, 1, 2, 2, 3]


def test_numpy_and_torch_agree_per_column():
    rng = np.random.default_rng(0)
    y = np.round(rng.exponential(5.0, size=(200, 2)) * (rng.random((200, 2)) > 0.4), 1)
    cuts = value_range_edges(y, n_ranges=5)
    assert cuts.shape == (2, 3)
    from_numpy = bucket_index(y, cuts)
    from_torch = bucket_index(torch.tensor(y), torch.tensor(cuts)).numpy()
    np.testing.assert_array_equal(from_numpy, from_torch)
    # equal-count ranges: each of the 4 positive ranges holds about a quarter of the positives
    for j in range(2):
        counts = np.bincount(from_numpy[:, j], minlength=5)
        assert counts[0] == int((y[:, j] == 0).sum())
        assert counts[1:].min() >= 0.15 * counts[1:].sum()


def test_quantile_edges_and_equal_frequency_bounds():
    y = np.array([0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(quantile_bucket_edges(y), [0.0, 2.5, 3.25])
    lower, upper = equal_frequency_bounds(y, n_positive=2, n_buckets=2)
    assert lower.shape == upper.shape == (2, 2)
    assert lower[0, 0] == 1.0 and upper[-1, -1] == 4.0
    np.testing.assert_array_equal(lower.ravel()[1:], upper.ravel()[:-1])  # shared edges
    with pytest.raises(Exception, match="no positive label"):
        quantile_bucket_edges(np.zeros(3))


def test_rank_groups_numpy_matches_torch():
    values = np.array([3.0, 9.0, 1.0, 1.0, 7.0, 2.0, 8.0, 0.5])
    np.testing.assert_array_equal(rank_groups(values, 4),
                                  rank_groups(torch.tensor(values), 4).numpy())
    assert rank_groups(values, 4).tolist() == [2, 3, 0, 0, 2, 1, 3, 0]
