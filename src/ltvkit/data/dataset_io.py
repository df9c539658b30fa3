"""The on-disk form of an :class:`~ltvkit.data.dataset.LTVDataset`: Parquet samples + JSON.

A dataset folder holds ``dataset.json`` (names, vocabularies, horizons, task, data-quality
report) and its samples, either as one file ``samples.parquet`` (what ``LTVDataset.save``
writes) or as a folder ``samples/`` of Parquet parts (what a distributed engine writes, one
part per partition; parts are read in the order of their sorted paths). One sample is one
row: ids, ``f:<feature>``, ``c:<categorical>``, ``y:<horizon>`` / ``orders:<horizon>``,
``yd:<domain>:<horizon>`` / ``od:<domain>:<horizon>``, ``sparse``, and the flattened
``sequence`` [T*C] as a fixed-size list.

Everything that turns rows into arrays lives here once (:func:`fields_from_table`,
:func:`dataset_to_table`); :mod:`ltvkit.data.dataset` builds the datasets from it:
``dataset_from_table`` for any engine that holds a batch of rows as an Arrow table,
``load_dataset`` for the whole folder and ``iter_dataset_chunks`` for data larger than memory.

Column-selective reads: ``sequences=False`` skips the flattened sequences (most of a file's
bytes) for models that do not read them; the dataset then holds an empty ``[n, 0, 0]`` array and
``sequences_loaded=False``, so a model that reads sequences refuses it by name instead of
seeing empty periods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ltvkit.errors import DataValidationError

# The datasets given here are LTVDatasets (typed ``Any``: ltvkit.data.dataset builds on this
# module, not the other way round).
LTVDataset = Any

FORMAT_VERSION = 1
SAMPLES_FILE = "samples.parquet"
SAMPLES_DIR = "samples"
META_FILE = "dataset.json"


def read_meta(path: str | Path) -> dict[str, Any]:
    """The dataset's ``dataset.json``; a clear error when ``path`` is no dataset folder or
    was written by a newer ltvkit."""
    meta_file = Path(path) / META_FILE
    if not meta_file.exists():
        raise DataValidationError(f"{path} is not an ltvkit dataset directory (no {META_FILE})")
    meta = json.loads(meta_file.read_text())
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise DataValidationError(
            f"dataset format {meta['format_version']} is newer than this ltvkit reads "
            f"({FORMAT_VERSION}); upgrade ltvkit")
    return meta


def sample_files(path: str | Path) -> list[Path]:
    """The Parquet files holding the samples, in reading order."""
    src = Path(path)
    if (src / SAMPLES_FILE).exists():
        return [src / SAMPLES_FILE]
    parts = sorted(p for p in (src / SAMPLES_DIR).rglob("*.parquet")) \
        if (src / SAMPLES_DIR).is_dir() else []
    if not parts:
        raise DataValidationError(
            f"{src} has no samples: neither {SAMPLES_FILE} nor Parquet parts in {SAMPLES_DIR}/")
    return parts


def meta_of(ds: LTVDataset) -> dict[str, Any]:
    """What ``dataset.json`` holds for ``ds`` (everything but the rows)."""
    t, c = ds.sequences.shape[1:]
    return {
        "format_version": FORMAT_VERSION,
        "feature_names": ds.feature_names, "categorical_names": ds.categorical_names,
        "vocabularies": ds.vocabularies, "channel_names": ds.channel_names,
        "sequence_shape": [t, c], "horizons": ds.horizons,
        "horizon_days": ds.horizon_days, "domains": ds.domains,
        "target_domain": ds.target_domain, "label_domains": list(ds.labels_by_domain),
        "label_order_domains": list(ds.label_orders_by_domain),
        "meta": ds.meta,
    }


def dataset_to_table(ds: LTVDataset) -> pa.Table:
    """The samples of ``ds`` as one Arrow table, a row per sample (the columns above)."""
    cols: dict[str, pa.Array] = {
        "customer_id": pa.array(ds.customer_id, type=pa.string()) if
        ds.customer_id.dtype == object else pa.array(ds.customer_id.astype(str)),
        "cutoff": pa.array(ds.cutoff.astype("datetime64[D]")),
    }
    for j, name in enumerate(ds.feature_names):
        cols[f"f:{name}"] = pa.array(ds.features[:, j])
    for j, name in enumerate(ds.categorical_names):
        cols[f"c:{name}"] = pa.array(ds.categorical[:, j])
    for j, h in enumerate(ds.horizons):
        cols[f"y:{h}"] = pa.array(ds.labels[:, j])
        cols[f"orders:{h}"] = pa.array(ds.label_orders[:, j])
    for dom, lab in ds.labels_by_domain.items():
        for j, h in enumerate(ds.horizons):
            cols[f"yd:{dom}:{h}"] = pa.array(lab[:, j])
    for dom, orders in ds.label_orders_by_domain.items():
        for j, h in enumerate(ds.horizons):
            cols[f"od:{dom}:{h}"] = pa.array(orders[:, j])
    if ds.sparse is not None:
        cols["sparse"] = pa.array(ds.sparse.astype(bool))
    n, t, c = ds.sequences.shape
    flat = pa.array(ds.sequences.reshape(-1).astype(np.float32))
    cols["sequence"] = pa.FixedSizeListArray.from_arrays(flat, max(t * c, 1)) if t * c else \
        pa.array([None] * n, type=pa.null())
    return pa.table(cols)


def write_samples(table: pa.Table, where: str | Path) -> None:
    """Write one samples table as a Parquet file with ltvkit's encoding choices."""
    # Dictionary encoding only where values repeat (cutoffs, categorical codes): on the
    # float columns it is tried and abandoned, which makes writing much slower. Min/max
    # statistics only where a reader filters (ids, cutoffs): elsewhere they only cost time.
    dictionary = ["cutoff"] + [k for k in table.column_names if k.startswith("c:")]
    pq.write_table(table, where, use_dictionary=dictionary,
                   write_statistics=["customer_id", "cutoff"])


def save_dataset(ds: LTVDataset, path: str | Path) -> Path:
    """Write ``samples.parquet`` and ``dataset.json`` into the folder ``path``."""
    if not ds.sequences_loaded:
        raise DataValidationError(
            "the dataset was loaded without its sequences (sequences=False); saving it would "
            "lose them: load it with sequences=True to save it", column="sequences",
            rule="loaded")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    write_samples(dataset_to_table(ds), out / SAMPLES_FILE)
    write_meta(meta_of(ds), out)
    return out


def write_meta(meta: dict[str, Any], path: str | Path) -> None:
    (Path(path) / META_FILE).write_text(json.dumps(meta, indent=2, default=str))


def sample_columns(path: str | Path, *, sequences: bool = True) -> list[str] | None:
    """The columns to read from the samples of the dataset in ``path``: ``None`` (all) with
    ``sequences``, else every column but the flattened sequences."""
    if sequences:
        return None
    return [c for c in pq.read_schema(sample_files(path)[0]).names if c != "sequence"]


def fields_from_table(table: pa.Table, meta: dict[str, Any], *,
                      sequences: bool = True) -> dict[str, Any]:
    """The keyword arguments of ``LTVDataset`` for a samples table (any number of rows) and its
    ``dataset.json``; ``sequences=False`` leaves the sequences out (the table need not hold
    them). :func:`ltvkit.data.dataset.dataset_from_table` builds the dataset from them."""
    n = table.num_rows

    def col(name: str) -> np.ndarray:
        return table.column(name).to_numpy()

    def stack(names: list[str], dtype: Any) -> np.ndarray:
        # column_stack already has the columns' dtype: no second copy when it is the target.
        return (np.column_stack([col(x) for x in names]).astype(dtype, copy=False) if names
                else np.zeros((n, 0), dtype))

    fn, cn, hz = meta["feature_names"], meta["categorical_names"], meta["horizons"]
    t, c = meta["sequence_shape"]
    if not sequences:
        seqs = np.zeros((n, 0, 0), np.float32)
    elif t * c and n:
        seq = table.column("sequence").combine_chunks().flatten().to_numpy()
        seqs = seq.reshape(n, t, c).astype(np.float32)
    else:
        seqs = np.zeros((n, t, c), np.float32)
    return dict(
        customer_id=np.asarray(table.column("customer_id").to_numpy(zero_copy_only=False),
                               dtype=object),
        cutoff=col("cutoff").astype("datetime64[D]"),
        features=stack([f"f:{x}" for x in fn], np.float32), feature_names=list(fn),
        categorical=stack([f"c:{x}" for x in cn], np.int64), categorical_names=list(cn),
        vocabularies=meta["vocabularies"], sequences=seqs,
        channel_names=meta["channel_names"],
        labels=stack([f"y:{h}" for h in hz], np.float64),
        label_orders=stack([f"orders:{h}" for h in hz], np.float64),
        horizons=list(hz), horizon_days=meta["horizon_days"],
        labels_by_domain={d: stack([f"yd:{d}:{h}" for h in hz], np.float64)
                          for d in meta.get("label_domains", [])},
        domains=meta.get("domains", []), target_domain=meta.get("target_domain"),
        sparse=col("sparse").astype(bool) if "sparse" in table.column_names else None,
        meta=meta.get("meta", {}),
        label_orders_by_domain={d: stack([f"od:{d}:{h}" for h in hz], np.float64)
                                for d in meta.get("label_order_domains", [])},
        sequences_loaded=bool(sequences),
    )


def keep_arrow_ids(ds: Any, ids: pa.ChunkedArray) -> None:
    """Keep the ids as read beside the Python strings, for writers of Arrow / Parquet output
    (:func:`arrow_customer_ids`); tied to the current ``customer_id`` array, so a replaced one
    drops them."""
    ds._arrow_ids = (ids, ds.customer_id)


def arrow_customer_ids(ds: LTVDataset) -> pa.ChunkedArray | None:
    """The dataset's ids as the Arrow array they were read from, when ``ds`` was read from a
    dataset folder and its ``customer_id`` array is still the one read; else ``None``."""
    cached = getattr(ds, "_arrow_ids", None)
    if cached is None or cached[1] is not ds.customer_id:
        return None
    return cached[0]


def read_samples(path: str | Path, *, sequences: bool = True
                 ) -> tuple[pa.Table, dict[str, Any]]:
    """The whole samples table of the dataset folder ``path`` (one file or Parquet parts)
    and its ``dataset.json``; with ``sequences=False`` without the period sequences."""
    meta = read_meta(path)
    files = sample_files(path)
    columns = sample_columns(path, sequences=sequences)
    table = pq.read_table(files[0], columns=columns) if len(files) == 1 else \
        pads.dataset([str(f) for f in files], format="parquet").to_table(columns=columns)
    return table, meta


def iter_sample_tables(path: str | Path, batch_rows: int = 262_144, *,
                       sequences: bool = True) -> Iterator[tuple[pa.Table, dict[str, Any]]]:
    """The samples of the dataset folder ``path`` as consecutive tables of at most
    ``batch_rows`` rows, in file order, each with the ``dataset.json``."""
    if batch_rows < 1:
        raise DataValidationError(f"batch_rows must be at least 1, got {batch_rows}",
                                  column="batch_rows", rule="positive")
    meta = read_meta(path)
    columns = sample_columns(path, sequences=sequences)
    for file in sample_files(path):
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_rows,
                                                       columns=columns):
            yield pa.Table.from_batches([batch]), meta
