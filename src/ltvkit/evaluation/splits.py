"""The train / valid / test splits the benchmark runner uses.

A split is a function ``(dataset, seed) -> (train, valid, test)``. A prepared dataset is split
by customer (a seeded share of customers is held out); a public dataset uses the split of its
fixed protocol (by customer or by cutoff time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from ltvkit.data.dataset import LTVDataset

Split: TypeAlias = Callable[[LTVDataset, int], tuple[LTVDataset, LTVDataset, LTVDataset]]


def customer_split(dataset: LTVDataset, seed: int) -> tuple[LTVDataset, LTVDataset, LTVDataset]:
    """The default customer split of a prepared dataset, drawn with ``seed``."""
    return dataset.split_customers(seed=seed)


def protocol_split(name: str) -> Split:
    """The split of public dataset ``name``'s protocol."""
    from ltvkit.datasets import get_dataset

    return get_dataset(name).split.split
