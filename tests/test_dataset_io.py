"""The dataset folder format: one file or Parquet parts, whole or in chunks, same arrays."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.data.dataset import LTVDataset, iter_dataset_chunks
from ltvkit.data.dataset_io import (
    SAMPLES_DIR,
    dataset_to_table,
    meta_of,
    write_meta,
    write_samples,
)
from ltvkit.errors import DataValidationError


def assert_same(a: LTVDataset, b: LTVDataset) -> None:
    np.testing.assert_array_equal(a.customer_id.astype(str), b.customer_id.astype(str))
    np.testing.assert_array_equal(a.cutoff, b.cutoff)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.categorical, b.categorical)
    np.testing.assert_array_equal(a.sequences, b.sequences)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.label_orders, b.label_orders)
    assert a.feature_names == b.feature_names and a.channel_names == b.channel_names
    assert a.horizons == b.horizons and a.vocabularies == b.vocabularies


def concat(parts: list[LTVDataset]) -> LTVDataset:
    first = parts[0]
    return LTVDataset(
        customer_id=np.concatenate([p.customer_id for p in parts]),
        cutoff=np.concatenate([p.cutoff for p in parts]),
        features=np.concatenate([p.features for p in parts]), feature_names=first.feature_names,
        categorical=np.concatenate([p.categorical for p in parts]),
        categorical_names=first.categorical_names, vocabularies=first.vocabularies,
        sequences=np.concatenate([p.sequences for p in parts]),
        channel_names=first.channel_names, labels=np.concatenate([p.labels for p in parts]),
        label_orders=np.concatenate([p.label_orders for p in parts]), horizons=first.horizons,
        horizon_days=first.horizon_days)


def test_round_trip_single_file(cdnow_dataset, tmp_path):
    cdnow_dataset.save(tmp_path / "ds")
    assert_same(cdnow_dataset, LTVDataset.load(tmp_path / "ds"))


def test_parts_folder_reads_like_one_file(cdnow_dataset, tmp_path):
    # What a distributed engine writes: one Parquet part per partition in samples/.
    out = tmp_path / "parts"
    (out / SAMPLES_DIR).mkdir(parents=True)
    bounds = np.linspace(0, len(cdnow_dataset), 4).astype(int)
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        part = cdnow_dataset.subset(np.arange(lo, hi))
        write_samples(dataset_to_table(part), out / SAMPLES_DIR / f"part-{i:05d}.parquet")
    write_meta(meta_of(cdnow_dataset), out)
    assert_same(cdnow_dataset, LTVDataset.load(out))


def test_chunks_cover_every_sample_once(cdnow_dataset, tmp_path):
    cdnow_dataset.save(tmp_path / "ds")
    chunks = list(iter_dataset_chunks(tmp_path / "ds", batch_rows=1000))
    assert len(chunks) == -(-len(cdnow_dataset) // 1000)
    assert max(len(c) for c in chunks) == 1000
    assert_same(cdnow_dataset, concat(chunks))


def test_folder_without_samples_is_a_clear_error(cdnow_dataset, tmp_path):
    write_meta(meta_of(cdnow_dataset), tmp_path)
    with pytest.raises(DataValidationError, match="has no samples"):
        LTVDataset.load(tmp_path)
    with pytest.raises(DataValidationError, match="not an ltvkit dataset"):
        LTVDataset.load(tmp_path / "missing")
