"""Batch scoring on Apache Spark: ``ltv predict --engine spark``.

Spark reads the samples of a dataset folder (``samples.parquet`` or the Parquet parts of
``samples/``) and hands every executor Arrow record batches (``mapInArrow``). Each batch becomes
an :class:`~ltvkit.data.dataset.LTVDataset` through :func:`ltvkit.data.dataset.
dataset_from_table` with the folder's ``dataset.json`` (broadcast once), is predicted by the
saved model and turned into the rows local ``ltv predict`` writes
(:func:`ltvkit.scoring.batch.prediction_frame`); Spark writes them as Parquet parts into the
output folder.

The model is loaded once per executor Python process: a module-level cache keyed by the model
folder and the SHA-256 of its ``config.json`` (which records the checksum of every weight file),
so a Python worker that Spark reuses for many batches and tasks parses the weights once, and a
model replaced on disk during the job is an error rather than a silent mix. The model folder
must be readable at the same path by every executor (local disk in local mode; a shared file
system on a cluster).

Every model predicts a sample from that sample alone (the BTYD prediction intervals draw each
sample's future from a stream keyed by its customer and cutoff), so the rows do not depend on
how Spark cuts the data into batches. The one difference from the local file is a type: Spark
stores ``cutoff`` as a microsecond timestamp where pandas writes seconds (same values).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltvkit.data.spark_session import SparkUnavailableError, get_spark
from ltvkit.errors import LTVError
from ltvkit.files import sha256_of

__all__ = ["SparkUnavailableError", "cached_model", "model_checksum", "score_batches",
           "spark_predict"]

if TYPE_CHECKING:
    import pyarrow as pa

    from ltvkit.models import LTVModel

#: (model folder, sha256 of its config.json) -> the loaded model, in this Python process.
_MODELS: dict[tuple[str, str], LTVModel] = {}
#: How many times this process has loaded each model (read by the tests).
LOAD_COUNTS: dict[tuple[str, str], int] = {}


def model_checksum(model_dir: str | Path) -> str:
    """The SHA-256 of the model's ``config.json`` (it records every weight file's checksum)."""
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        raise LTVError(f"{model_dir} is not a saved ltvkit model (no config.json)")
    return sha256_of(config)


def cached_model(model_dir: str, checksum: str) -> LTVModel:
    """The model in ``model_dir``, loaded once per process and per checksum."""
    key = (str(Path(model_dir).resolve()), checksum)
    model = _MODELS.get(key)
    if model is None:
        from ltvkit.models import load_model

        found = model_checksum(model_dir)
        if found != checksum:
            raise LTVError(f"model {model_dir} changed while scoring: config.json checksum "
                           f"{found[:12]} differs from {checksum[:12]} at the start")
        model = load_model(model_dir)
        _MODELS[key] = model
        LOAD_COUNTS[key] = LOAD_COUNTS.get(key, 0) + 1
    return model


def score_batches(batches: Iterator[pa.RecordBatch], *, model_dir: str, checksum: str,
                  meta: Any, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: sample rows in, scored rows out (``schema``)."""
    import pyarrow as pa

    from ltvkit.data.dataset import dataset_from_table
    from ltvkit.scoring.batch import prediction_frame

    model = cached_model(model_dir, checksum)
    meta_value = meta.value if hasattr(meta, "value") else meta
    for batch in batches:
        if batch.num_rows == 0:
            continue
        ds = dataset_from_table(pa.Table.from_batches([batch]), meta_value)
        frame = prediction_frame(model.predict(ds), ds)
        yield from pa.Table.from_pandas(frame, schema=schema, preserve_index=False).to_batches()


def _output_schema(model: LTVModel, data: Path) -> pa.Schema:
    """The Arrow schema of the scored rows, from the prediction of the dataset's first row
    (cutoff as a microsecond timestamp, Spark's unit)."""
    import pyarrow as pa

    from ltvkit.data.dataset import iter_dataset_chunks
    from ltvkit.scoring.batch import prediction_frame

    first = next(iter_dataset_chunks(data, batch_rows=1))
    schema = pa.Schema.from_pandas(prediction_frame(model.predict(first), first),
                                   preserve_index=False)
    fields = [pa.field(f.name, pa.timestamp("us")) if f.name == "cutoff" else f
              for f in schema]
    return pa.schema(fields)


def spark_predict(model_dir: str | Path, data: str | Path, out: str | Path, *,
                  master: str = "local[2]", batch_rows: int = 10_000,
                  partitions: int | None = None) -> int:
    """Score the dataset folder ``data`` with the model saved in ``model_dir`` on Spark and
    write the rows of ``ltv predict`` as Parquet parts into the folder ``out``.

    Parameters
    ----------
    master : the Spark master when no session is active (``local[2]``, ``spark://...``).
    batch_rows : rows per Arrow batch handed to the model
        (``spark.sql.execution.arrow.maxRecordsPerBatch``).
    partitions : repartition the samples into this many tasks (``None``: as Spark reads them).

    Returns the number of samples scored.
    """
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    from ltvkit.data.dataset_io import read_meta, sample_files
    from ltvkit.models import load_model

    if batch_rows < 1:
        raise LTVError(f"batch_rows must be at least 1, got {batch_rows}")
    if partitions is not None and partitions < 1:
        raise LTVError(f"--partitions must be at least 1, got {partitions}")
    data, out = Path(data), Path(out)
    meta = read_meta(data)
    files = sample_files(data)
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / "_SUCCESS").exists())):
        raise LTVError(f"--out {out} exists and is not an earlier Spark output folder; "
                       "give a new folder")
    checksum = model_checksum(model_dir)
    schema = _output_schema(load_model(model_dir), data)
    spark = get_spark(master, app_name="ltvkit predict", conf={
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(int(batch_rows))})
    samples = spark.read.parquet(*[str(f.resolve()) for f in files])
    if partitions:
        samples = samples.repartition(int(partitions))
    fn = functools.partial(score_batches, model_dir=str(Path(model_dir).resolve()),
                           checksum=checksum, meta=spark.sparkContext.broadcast(meta),
                           schema=schema)
    scored = samples.mapInArrow(fn, from_arrow_schema(schema, prefer_timestamp_ntz=True))
    scored.write.mode("overwrite").parquet(str(out))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
