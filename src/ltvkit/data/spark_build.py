"""``build_dataset`` for logs beyond one machine: the same kernels, per Spark partition.

:func:`build_dataset_spark` reads and cleans the log with the Spark engine
(:meth:`~ltvkit.data.spark_engine.SparkEngine.stage`), computes the numbers that need the whole
log once in Spark (time range, domains, row fates and counts), partitions the kept rows by a
hash of the customer id and sorts them within partitions by (customer, ts, amount, input-row
hash). Every partition then becomes a :class:`~ltvkit.data.log.TransactionLog` of its own
customers (with the whole log's time range and domains) and goes through the unchanged
:func:`~ltvkit.data.windows.build_dataset` inside ``mapInArrow``: a customer's rows all lie in
one partition and every kernel reads one customer at a time, so the samples equal the DuckDB
engine's. Two passes over the (cached) partitions:

1. a census: per partition the rows and customers kept, the exact duplicates, and the
   customers in and out of the dataset's scope; the customer ids of the dataset too when the
   sparsity protocol (a draw over all customers) or customer attributes (vocabularies over
   all customers) need them;
2. the build: per partition the samples as rows of the dataset format
   (:func:`~ltvkit.data.dataset_io.dataset_to_table`), written by Spark as Parquet parts into
   ``<out>/samples/``; the driver writes ``dataset.json`` (:func:`~ltvkit.data.dataset_io.meta_of`
   of the same build on no rows, with the whole log's data-quality report).

The folder is read by ``LTVDataset.load`` or, larger than memory, by
:func:`~ltvkit.data.dataset.iter_dataset_chunks`. Samples are grouped by partition, and
within one by customer and cutoff.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ltvkit.data import kernels, windows
from ltvkit.data.cleaning import quality_report
from ltvkit.data.dataset_io import SAMPLES_DIR, dataset_to_table, meta_of, write_meta
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.quality import DataQualityReport
from ltvkit.data.sources import new_connection, register_source
from ltvkit.data.spark_engine import (
    DOMAIN_COLUMN,
    ROW_HASH,
    SparkEngine,
    SparkStage,
    sorted_arrays,
)
from ltvkit.data.task import LTVTask, parse_days
from ltvkit.errors import DataValidationError, LTVError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Rows per partition when the number of partitions is not given (a partition is one Python
# task holding its rows and samples in memory).
ROWS_PER_PARTITION = 2_000_000
_CENSUS_SCHEMA = "partition long, stats string, ids array<string>"


@dataclass(frozen=True)
class _Plan:
    """What every partition needs to know about the whole log (shipped with the task)."""

    task: LTVTask
    flags: dict[str, bool]
    drop_duplicates: bool
    domain_names: tuple[str, ...]
    time_min: dt.datetime
    time_max: dt.datetime
    data_end: dt.date
    mapping: ColumnMapping
    input_schema: pa.Schema
    threads: int
    want_ids: bool = False
    sparse_customers: np.ndarray | None = None
    attributes: pa.Table | None = None
    attribute_customer_col: str = "customer_id"
    vocabularies: dict[str, list[str]] | None = None
    output_schema: pa.Schema | None = None


@dataclass
class SparkBuild:
    """What :func:`build_dataset_spark` wrote: the folder, its size and the quality report."""

    path: Path
    n_samples: int
    n_customers: int
    n_partitions: int
    quality: DataQualityReport


def _partition_log(plan: _Plan, batches: Iterator[pa.RecordBatch]) -> tuple[TransactionLog,
                                                                              int]:
    """One partition's rows as a TransactionLog of their own (with the whole log's time range
    and domains), and the exact duplicates dropped from them."""
    import numba

    numba.set_num_threads(max(1, min(plan.threads, numba.config.NUMBA_NUM_THREADS)))
    table = pa.Table.from_batches(list(batches), schema=plan.input_schema)
    arrays, n_dup = sorted_arrays(table, plan.flags, plan.drop_duplicates, plan.domain_names)
    quality = DataQualityReport(rows_read=arrays.n_rows, rows_kept=arrays.n_rows, dropped={})
    log = TransactionLog(
        con=new_connection(threads=1) if plan.attributes is not None else None,
        table=None, quality=quality, time_min=plan.time_min, time_max=plan.time_max,
        data_end=plan.data_end, mapping=plan.mapping, has_order=plan.flags["order"],
        has_quantity=plan.flags["quantity"], has_category=plan.flags["category"],
        has_domain=plan.flags["domain"], arrays=arrays)
    return log, n_dup


def _census(plan: _Plan, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pass 1 over a partition: kept rows and customers, duplicates, the customers in and out
    of the dataset's scope (and their ids when asked)."""
    from pyspark import TaskContext

    log, n_dup = _partition_log(plan, batches)
    arrays, task = log.arrays, plan.task
    lookback = parse_days(task.lookback) if task.lookback else None
    wins = [kernels.make_window(c, lookback) for c in task.cutoff_dates()]
    cust, _, _ = windows._samples(arrays, task, wins, allow_empty=True)
    stats = {"rows": arrays.n_rows, "customers": arrays.n_customers, "duplicates": n_dup,
             "refund_rows": int((arrays.amount < 0).sum()),
             "zero_rows": int((arrays.amount == 0).sum()), "samples": len(cust),
             "scope": windows.scope_counts(arrays, task, wins, cust)}
    ids: list[str] = []
    if plan.want_ids:
        ids = [str(x) for x in arrays.customer_ids[np.unique(cust)].tolist()]
    context = TaskContext.get()
    yield pa.RecordBatch.from_pydict({
        "partition": [context.partitionId() if context else 0],
        "stats": [json.dumps(stats)], "ids": [ids]},
        schema=pa.schema([("partition", pa.int64()), ("stats", pa.string()),
                          ("ids", pa.list_(pa.string()))]))


def _spark_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A samples table in the Arrow types Spark reads back (the flattened sequence as a list)."""
    columns = []
    for field in schema:
        col = table.column(field.name)
        columns.append(col.cast(field.type) if col.type != field.type else col)
    return pa.Table.from_arrays(columns, schema=schema)


def _build(plan: _Plan, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pass 2 over a partition: its samples through the unchanged build_dataset."""
    log, _ = _partition_log(plan, batches)
    ds = windows.build_dataset(
        log, plan.task, plan.attributes, attribute_customer_col=plan.attribute_customer_col,
        vocabularies=plan.vocabularies, sparse_customers=plan.sparse_customers,
        allow_empty=True)
    if len(ds) == 0:
        return
    yield from _spark_table(dataset_to_table(ds), plan.output_schema).to_batches(
        max_chunksize=65_536)


class _SignCounts:
    """The kept rows' amounts as :func:`~ltvkit.data.cleaning.quality_report` reads them
    (``(amount < 0).sum()``, ``(amount == 0).sum()``) when the rows are in Spark partitions."""

    def __init__(self, negative: int, zero: int) -> None:
        self.negative, self.zero = negative, zero

    def __lt__(self, other: float) -> _Count:
        if other != 0:
            raise ValueError("only the sign of the amounts is known")
        return _Count(self.negative)

    def __eq__(self, other: object) -> _Count:  # type: ignore[override]
        if other != 0:
            raise ValueError("only the sign of the amounts is known")
        return _Count(self.zero)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class _Count:
    n: int

    def sum(self) -> int:
        return self.n


@dataclass(frozen=True)
class _KeptSummary:
    """The kept rows, summed over the partitions, as the quality report reads them."""

    n_rows: int
    n_customers: int
    amount: _SignCounts


def _sum_scope(parts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            out[key] = out.get(key, 0) + n
    return out


def _arrow_table_of(attributes: Any) -> pa.Table:
    """Customer attributes (path, DataFrame, Arrow table) as an Arrow table, read by DuckDB."""
    con = new_connection()
    register_source(con, attributes, "_attr_in", None)
    return con.sql("SELECT * FROM _attr_in").to_arrow_table()


def _empty_log(plan: _Plan, quality: DataQualityReport) -> TransactionLog:
    """A log with the whole log's time range, domains and report, and no rows: the same
    build_dataset on it checks the task and gives the dataset's columns and dataset.json."""
    table = plan.input_schema.empty_table()
    arrays, _ = sorted_arrays(table, plan.flags, False, plan.domain_names)
    return TransactionLog(
        con=new_connection(), table=None, quality=quality, time_min=plan.time_min,
        time_max=plan.time_max, data_end=plan.data_end, mapping=plan.mapping,
        has_order=plan.flags["order"], has_quantity=plan.flags["quantity"],
        has_category=plan.flags["category"], has_domain=plan.flags["domain"], arrays=arrays)


def _spark_output_schema(table: pa.Table) -> pa.Schema:
    """The Arrow schema of the sample rows Spark holds: fixed-size lists become lists."""
    fields = []
    for field in table.schema:
        t = field.type
        if pa.types.is_fixed_size_list(t):
            t = pa.list_(t.value_type)
        fields.append(pa.field(field.name, t))
    return pa.schema(fields)


def build_dataset_spark(source: Any, mapping: ColumnMapping | None, task: LTVTask,
                        out: str | Path, *, cleaning: CleaningRules | None = None,
                        spark: SparkSession | None = None, master: str = "local[2]",
                        attributes: Any = None, attribute_customer_col: str = "customer_id",
                        vocabularies: dict[str, list[str]] | None = None,
                        n_partitions: int | None = None,
                        read_options: dict[str, Any] | None = None, threads: int = 1,
                        progress: Callable[[str], None] | None = None) -> SparkBuild:
    """Build the dataset of ``task`` from ``source`` on Spark and write it to ``out``.

    Parameters
    ----------
    source : what :class:`~ltvkit.data.spark_engine.SparkEngine` reads (Spark DataFrame, CSV /
        Parquet path, pandas / polars / Arrow table, DuckDB relation), or a dict
        ``{domain: source}`` for a cross-domain log (as ``read_domains``).
    mapping, cleaning : as for ``read_transactions``.
    task : the :class:`LTVTask`.
    out : the dataset folder to write (``dataset.json``, ``quality.json``, ``samples/``).
    spark, master : the SparkSession, or the master of one started here.
    attributes : customer attributes as for ``build_dataset`` (one row per customer); they are
        read on the driver and shipped to every partition, so they must fit in memory there.
    vocabularies : categorical vocabularies to reuse (as for ``build_dataset``).
    n_partitions : how many partitions the customers are hashed into (by default enough for
        about two million rows each, at least Spark's default parallelism).
    threads : Numba threads per partition task (Spark runs one task per core).
    """
    say = progress or (lambda _msg: None)
    mapping = mapping or ColumnMapping()
    cleaning = cleaning or CleaningRules()
    engine = SparkEngine(spark, master)
    say("reading and validating the log")
    if isinstance(source, dict):
        if mapping.domain is not None:
            raise DataValidationError("a dict of domains sets the domain itself: leave "
                                      "mapping.domain empty", column=mapping.domain,
                                      rule="no domain column")
        if len(source) < 2:
            raise DataValidationError("read_domains needs at least two domains",
                                      rule="two domains")
        union, aware = engine.union_domains(source, read_options)
        mapping = replace(mapping, domain=DOMAIN_COLUMN)
        stage = engine.stage(union, mapping, cleaning, aware=aware)
    else:
        stage = engine.stage(source, mapping, cleaning, read_options=read_options)
    return _build_from_stage(engine.spark, stage, task, Path(out), attributes,
                             attribute_customer_col, vocabularies, n_partitions, threads, say)


def _global_numbers(stage: SparkStage) -> tuple[dt.datetime, dt.datetime, tuple[str, ...]]:
    """First and last kept timestamp and the sorted domains, in one Spark job."""
    from pyspark.sql import functions as F

    aggs = [F.min("ts").alias("lo"), F.max("ts").alias("hi")]
    if stage.flags["domain"]:
        aggs.append(F.array_sort(F.collect_set("domain")).alias("domains"))
    row = stage.kept.agg(*aggs).collect()[0]
    domains = tuple(row["domains"]) if stage.flags["domain"] else ()
    return row["lo"], row["hi"], domains


def _build_from_stage(spark: SparkSession, stage: SparkStage, task: LTVTask, out: Path,
                      attributes: Any, attribute_customer_col: str,
                      vocabularies: dict[str, list[str]] | None, n_partitions: int | None,
                      threads: int, say: Callable[[str], None]) -> SparkBuild:
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import from_arrow_schema

    time_min, time_max, domain_names = _global_numbers(stage)
    data_end = time_max.date() if stage.data_end is None else stage.data_end
    input_schema = stage.kept.limit(0).toArrow().schema
    plan = _Plan(task=task, flags=stage.flags, drop_duplicates=stage.cleaning.drop_duplicates,
                 domain_names=domain_names, time_min=time_min, time_max=time_max,
                 data_end=data_end, mapping=stage.mapping, input_schema=input_schema,
                 threads=threads,
                 want_ids=task.sparsity > 0 or attributes is not None)
    # The task checked against the whole log, on the driver, before any partition runs.
    windows.build_dataset(_empty_log(plan, DataQualityReport(0, 0, {})), task,
                          sparse_customers=np.zeros(0, dtype=object), allow_empty=True)
    parts = n_partitions or max(spark.sparkContext.defaultParallelism,
                                math.ceil(stage.n_kept / ROWS_PER_PARTITION))
    say(f"partitioning {stage.n_kept:,} rows into {parts} partitions by customer")
    partitioned: DataFrame = (stage.kept.repartition(parts, "customer_id")
                              .sortWithinPartitions("customer_id", "ts", "amount", ROW_HASH)
                              .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        say("census of the partitions")
        census = partitioned.mapInArrow(functools.partial(_census, plan),
                                        _CENSUS_SCHEMA).collect()
        stats = [json.loads(r["stats"]) for r in census]
        n_dup = sum(s["duplicates"] for s in stats)
        if n_dup != stage.dup_kept:
            raise LTVError(f"Spark counted {stage.dup_kept} exact duplicates among the kept "
                           f"rows, the partitions hold {n_dup}")
        kept = _KeptSummary(n_rows=sum(s["rows"] for s in stats),
                            n_customers=sum(s["customers"] for s in stats),
                            amount=_SignCounts(sum(s["refund_rows"] for s in stats),
                                               sum(s["zero_rows"] for s in stats)))
        quality = quality_report(stage.counts, kept, n_dup, (time_min, time_max),
                                 stage.mapping, stage.cleaning, stage.tz_aware)
        quality.customers.update(_sum_scope([s["scope"] for s in stats]))
        n_samples = sum(s["samples"] for s in stats)
        ids = np.array(sorted(i for r in census for i in (r["ids"] or [])), dtype=object)
        if n_samples == 0:
            # The same error as build_dataset's, raised for the whole log.
            windows.build_dataset(_empty_log(plan, DataQualityReport(0, 0, {})), task)
        if task.sparsity > 0:
            plan = replace(plan, sparse_customers=windows.sparse_choice(task, ids))
        else:
            plan = replace(plan, sparse_customers=np.zeros(0, dtype=object))
        if attributes is not None:
            say("customer attributes")
            table = _arrow_table_of(attributes)
            # Vocabularies and match counts over all the dataset's customers, as build_dataset
            # makes them; every partition then codes its customers with them.
            _, _, vocabs, counts = windows._attributes(
                new_connection(), table, attribute_customer_col, ids, vocabularies)
            quality.attributes = counts
            for warning in windows.attribute_warnings(counts, attribute_customer_col):
                quality.warnings.append(warning)
            plan = replace(plan, attributes=table, vocabularies=vocabs,
                           attribute_customer_col=attribute_customer_col)
        elif vocabularies:
            plan = replace(plan, vocabularies=vocabularies)
        empty = windows.build_dataset(_empty_log(plan, quality), task, plan.attributes,
                                      attribute_customer_col=attribute_customer_col,
                                      vocabularies=plan.vocabularies,
                                      sparse_customers=plan.sparse_customers,
                                      allow_empty=True)
        # build_dataset counted the empty log's customers: the whole log's go in their place.
        quality.customers.update(_sum_scope([s["scope"] for s in stats]))
        if attributes is not None:
            quality.attributes = counts
        schema = _spark_output_schema(dataset_to_table(empty))
        plan = replace(plan, output_schema=schema)
        say(f"features, sequences and labels of {n_samples:,} samples")
        out.mkdir(parents=True, exist_ok=True)
        samples = partitioned.mapInArrow(functools.partial(_build, plan),
                                         from_arrow_schema(schema))
        samples.write.mode("overwrite").parquet(str(out / SAMPLES_DIR))
    finally:
        partitioned.unpersist()
    meta = meta_of(empty)
    meta["meta"]["quality"] = quality.to_dict()
    meta["meta"]["engine"] = {"name": "spark", "partitions": parts}
    write_meta(meta, out)
    quality.to_json(out / "quality.json")
    return SparkBuild(path=out, n_samples=n_samples,
                      n_customers=int(quality.customers.get("in_dataset", 0)),
                      n_partitions=parts, quality=quality)


__all__ = ["SparkBuild", "build_dataset_spark"]
