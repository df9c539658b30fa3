"""The Spark engine: the same mapping, validation, row fates and sort as DuckDB's, on Spark.

``read_transactions(source, mapping, cleaning, engine="spark")`` reads a Spark DataFrame, a
CSV / Parquet path (file, folder or glob), a pandas / polars DataFrame, an Arrow table or a
DuckDB relation with Spark SQL, and returns the :class:`~ltvkit.data.log.TransactionLog`
contract of :class:`~ltvkit.data.engine.LogEngine`: the kept rows sorted by (customer, ts,
amount, hash of the input row) are collected to the driver as Arrow and become
:class:`~ltvkit.data.arrays.LogArrays` (``table=None``). For logs beyond one machine,
:func:`ltvkit.data.spark_build.build_dataset_spark` keeps the rows in Spark and runs the dataset
kernels per partition; both start from :meth:`SparkEngine.stage`.

What is the same as DuckDB, by construction: the rule names, columns and counts of every
:class:`~ltvkit.errors.DataValidationError` (the messages are made by
:mod:`ltvkit.data.validation` itself from the counts Spark computes), the fate of every row
(:data:`~ltvkit.data.cleaning.DROP_FATES` in the same order), the exact-duplicate rule, and the
data-quality report (made by :func:`~ltvkit.data.cleaning.quality_report`). What differs: the
amount expression is Spark SQL, not DuckDB SQL; a CSV is typed by Spark's schema inference;
rows tied on (customer, ts, amount) that are not duplicates are ordered by Spark's xxhash64 of
the input row, not DuckDB's hash (sums over them agree to rounding).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ltvkit.data.arrays import (
    LogArrays,
    customer_runs,
    numbers,
    optional_columns,
    run_starts,
    timestamps_us,
)
from ltvkit.data.cleaning import (
    DROP_FATES,
    MAX_ABS_AMOUNT,
    RowCounts,
    check_not_empty,
    parse_day,
)
from ltvkit.data.engine import LogEngine, cleaned_log, register_engine
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import (
    OPTIONAL_ROLES,
    CleaningRules,
    ColumnMapping,
    kept_columns,
    mapped_roles,
)
from ltvkit.data.sources import unreadable
from ltvkit.data.validation import check_rows, require_column
from ltvkit.errors import DataValidationError, LTVError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
_INTEGER_TYPES = ("bigint", "int", "smallint", "tinyint")
_FLOAT_TYPES = ("double", "float")
# The same offset pattern as the DuckDB engine's (Java regex syntax agrees here).
_OFFSET_RE = r"\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$"
_MISSING_ID_TEXTS = "('', 'nan', 'none', 'null')"
# strptime directives and the Java DateTimeFormatter patterns Spark reads.
_STRPTIME = {"Y": "yyyy", "m": "MM", "d": "dd", "H": "HH", "M": "mm", "S": "ss", "y": "yy",
             "b": "MMM", "B": "MMMM", "f": "SSSSSS", "p": "a", "I": "hh", "j": "DDD",
             "z": "xx", "a": "EEE", "A": "EEEE"}
# The hidden input column a cross-domain union adds (as in the DuckDB engine).
DOMAIN_COLUMN = "__domain"
ROW_HASH = "__row_hash"
BAD_TEXT = "__not_utf8"


def q(name: str) -> str:
    """A Spark SQL identifier in backticks."""
    return "`" + name.replace("`", "``") + "`"


def spark_time_format(fmt: str) -> str:
    """A strptime format (``%Y%m%d``) as a Spark datetime pattern (``yyyyMMdd``)."""
    out, literal, i = [], "", 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code == "%":
                literal += "%"
            elif code in _STRPTIME:
                if literal:
                    out.append("'" + literal.replace("'", "''") + "'")
                    literal = ""
                out.append(_STRPTIME[code])
            else:
                raise DataValidationError(
                    f"time_format '{fmt}': the directive %{code} has no Spark equivalent "
                    f"(supported: {', '.join('%' + k for k in _STRPTIME)})",
                    column="time_format", rule="known time format")
            i += 2
            continue
        if ch.isalpha() or ch == "'":
            literal += ch
        else:
            if literal:
                out.append("'" + literal.replace("'", "''") + "'")
                literal = ""
            out.append(ch)
        i += 1
    if literal:
        out.append("'" + literal.replace("'", "''") + "'")
    return "".join(out)


def customer_expr(col: str, ctype: str) -> str:
    """The customer id in Spark SQL: BIGINT for integer columns, else trimmed text (whole
    float ids as ``"17850"``; blank / nan / none / null text as missing)."""
    c = q(col)
    if ctype in _FLOAT_TYPES or ctype.startswith("decimal"):
        return (f"CASE WHEN {c} IS NULL OR isnan(CAST({c} AS DOUBLE)) THEN NULL "
                f"WHEN {c} = floor({c}) THEN CAST(CAST({c} AS BIGINT) AS STRING) "
                f"ELSE CAST({c} AS STRING) END")
    if ctype in _INTEGER_TYPES:
        return f"CAST({c} AS BIGINT)"
    text = f"trim(CAST({c} AS STRING))"
    return f"CASE WHEN lower({text}) IN {_MISSING_ID_TEXTS} THEN NULL ELSE {text} END"


def time_expr(col: str, ctype: str, fmt: str | None) -> str:
    """The timestamp as naive UTC (TIMESTAMP_NTZ); NULL where text does not parse."""
    c = q(col)
    if ctype == "timestamp_ntz":
        return c
    if ctype in ("timestamp", "date"):
        # TIMESTAMP is an instant: in the UTC session its wall time is UTC.
        return f"CAST({c} AS TIMESTAMP_NTZ)"
    text = f"CAST({c} AS STRING)"
    if fmt:
        pattern = spark_time_format(fmt).replace("\\", "\\\\").replace("'", "\\'")
        return f"CAST(try_to_timestamp({text}, '{pattern}') AS TIMESTAMP_NTZ)"
    # Text with an offset is converted to UTC; text without one is read as UTC (session zone).
    return f"CAST(try_cast({text} AS TIMESTAMP) AS TIMESTAMP_NTZ)"


def amount_expr(mapping: ColumnMapping, columns: dict[str, str]) -> str:
    return q(mapping.amount) if mapping.amount in columns else mapping.amount


def _mapped_select(mapping: ColumnMapping, types: dict[str, str], check_utf8: bool = False
                   ) -> list[str]:
    """The Spark SQL select list of the mapped rows (the columns of the DuckDB engine's), and
    with ``check_utf8`` whether a text cell holds U+FFFD (what Spark's CSV reader makes of
    bytes that are not UTF-8, where DuckDB's refuses the file)."""
    tcol, ttype = mapping.time, types[mapping.time]
    amount = amount_expr(mapping, types)

    def text(col: str | None) -> str:
        return f"CAST({q(col)} AS STRING)" if col else "CAST(NULL AS STRING)"

    qty = f"try_cast({q(mapping.quantity)} AS DOUBLE)" if mapping.quantity else \
        "CAST(NULL AS DOUBLE)"
    typed = mapping.time_format or ttype in ("timestamp", "timestamp_ntz", "date")
    offset = "CAST(NULL AS BOOLEAN)" if typed else \
        f"trim(CAST({q(tcol)} AS STRING)) RLIKE '{_OFFSET_RE.replace(chr(92), chr(92) * 2)}'"
    qty_raw = text(mapping.quantity)
    return [
        f"{customer_expr(mapping.customer, types[mapping.customer])} AS customer_id",
        f"{time_expr(tcol, ttype, mapping.time_format)} AS ts",
        f"({q(tcol)}) IS NULL AS ts_missing",
        f"try_cast(({amount}) AS DOUBLE) AS amount",
        f"({amount}) IS NULL AS amount_missing",
        f"{offset} AS ts_offset",
        f"({qty_raw}) IS NOT NULL AND ({qty}) IS NULL AS quantity_bad",
        f"{text(mapping.order)} AS order_id", f"{qty} AS quantity",
        f"{text(mapping.category)} AS category", f"{text(mapping.domain)} AS domain",
        f"xxhash64({', '.join(q(c) for c in types)}) AS {ROW_HASH}",
    ] + ([f"coalesce(concat_ws('', {texts}) LIKE '%\uFFFD%', false) AS {BAD_TEXT}"]
         if check_utf8 and (texts := ", ".join(q(c) for c, t in types.items()
                                                if t == "string")) else [])


def _fate_expr(cleaning: CleaningRules, data_end: dt.date | None) -> str:
    end = (f"ts >= TIMESTAMP_NTZ '{data_end + dt.timedelta(days=1)} 00:00:00'"
           if data_end else "false")
    zero = "true" if cleaning.zero_amounts == "drop" else "false"
    refunds = "true" if cleaning.refunds == "drop" else "false"
    return (f"CASE WHEN customer_id IS NULL THEN 'missing_customer_id' "
            f"WHEN {end} THEN 'after_data_end' "
            f"WHEN amount = 0 AND {zero} THEN 'zero_amount' "
            f"WHEN amount < 0 AND {refunds} THEN 'refund_dropped' "
            f"ELSE 'kept' END AS fate")


def _count_rows(staged: DataFrame) -> tuple[RowCounts, int, int]:
    """The DuckDB engine's :class:`RowCounts` in one Spark aggregation, the number of exact
    duplicates among the kept rows (equal customer, ts, amount and input-row hash), and the
    rows with text that was not UTF-8 (0 unless checked)."""
    finite = "amount IS NOT NULL AND NOT isnan(amount) AND abs(amount) != double('inf')"
    key = f"struct(customer_id, ts, amount, {ROW_HASH})"
    exprs = [
        "count(*)", "count_if(ts_missing)", "count_if(NOT ts_missing AND ts IS NULL)",
        "count_if(amount_missing)", "count_if(NOT amount_missing AND amount IS NULL)",
        "count_if(isnan(amount))", "count_if(abs(amount) = double('inf'))",
        *[f"count_if(fate = '{f}')" for f in DROP_FATES],
        f"count(DISTINCT CASE WHEN fate <> 'kept' THEN {key} END)",
        f"count_if(abs(amount) >= {MAX_ABS_AMOUNT} AND abs(amount) != double('inf'))",
        "count_if(ts IS NOT NULL AND ts_offset)", "count_if(ts IS NOT NULL AND NOT ts_offset)",
        "count_if(quantity_bad)", "count(DISTINCT customer_id)",
        "count_if(fate = 'kept')", f"count(DISTINCT CASE WHEN fate = 'kept' THEN {key} END)",
        f"sum(CASE WHEN {finite} THEN abs(amount) END)",
        *[f"sum(CASE WHEN {finite} AND fate = '{f}' THEN abs(amount) END)" for f in DROP_FATES],
        f"count_if({BAD_TEXT})" if BAD_TEXT in staged.columns else "0",
    ]
    row = staged.selectExpr(*exprs).collect()[0]
    v = [int(x or 0) for x in row[:19]]
    spend = [float(x or 0.0) for x in row[19:-1]]
    counts = RowCounts(rows_read=v[0], ts_missing=v[1], ts_bad=v[2], amount_missing=v[3],
                       amount_bad=v[4], amount_nan=v[5], amount_inf=v[6],
                       fates=dict(zip(DROP_FATES, v[7:11], strict=True)),
                       distinct_dropped=v[11], amount_huge=v[12], ts_with_offset=v[13],
                       ts_without_offset=v[14], quantity_bad=v[15], customers_in_log=v[16],
                       spend=spend[0], fate_spend=dict(zip(DROP_FATES, spend[1:], strict=True)))
    return counts, v[17] - v[18], int(row[-1] or 0)


class _OneExample:
    """Stands in for the DuckDB connection :func:`~ltvkit.data.validation.check_rows` quotes
    an offending value through: it answers with the value Spark found."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def execute(self, _sql: str) -> _OneExample:
        return self

    def fetchall(self) -> list[tuple[str]]:
        return [(self.value,)] if self.value is not None else []


def _first_offending(staged: DataFrame, raw: DataFrame, mapping: ColumnMapping,
                     types: dict[str, str], counts: RowCounts) -> str | None:
    """The raw value the first failing counted rule quotes (as the DuckDB engine would)."""
    if counts.rows_read == 0 or counts.ts_missing or counts.amount_missing:
        return None
    if counts.ts_bad:
        expr = f"CAST({q(mapping.time)} AS STRING)"
        conv = time_expr(mapping.time, types[mapping.time], mapping.time_format)
    elif counts.amount_bad:
        amount = amount_expr(mapping, types)
        expr, conv = f"CAST(({amount}) AS STRING)", f"try_cast(({amount}) AS DOUBLE)"
    else:
        return None
    rows = raw.selectExpr(f"{expr} AS v", f"{conv} AS c").where(
        "v IS NOT NULL AND c IS NULL").limit(1).collect()
    return rows[0][0] if rows else "?"


def _spark_types(df: DataFrame) -> dict[str, str]:
    return {name: dtype.lower() for name, dtype in df.dtypes}


def _arrow_for_spark(table: pa.Table) -> pa.Table:
    """Arrow types Spark's conversion reads: large strings / binaries made regular,
    dictionaries decoded."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t))
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)


def _file_kind(path: str) -> str:
    """"csv" or "parquet" for a file, folder or glob (the DuckDB engine's rules)."""
    is_glob = any(ch in path for ch in "*?[")
    if not is_glob and not os.path.exists(path):
        raise DataValidationError(f"input file not found: {path}", rule="file exists")
    lower = path.lower()
    if os.path.isdir(path):
        files = [p for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith(".")]
        if any(p.name.lower().endswith((".parquet", ".pq")) for p in files):
            return "parquet"
        if any(p.name.lower().endswith(_CSV_SUFFIXES) for p in files):
            return "csv"
        raise DataValidationError(
            f"folder {path} holds no .parquet or .csv file ({len(files)} files) "
            "(rule: known file format)", rule="known file format", n_rows=0)
    if lower.endswith((".parquet", ".pq")) or (is_glob and "parquet" in lower):
        return "parquet"
    if lower.endswith(_CSV_SUFFIXES) or is_glob:
        return "csv"
    raise DataValidationError(
        f"cannot tell the format of {path}: use a .csv, .csv.gz, .tsv, .parquet file, "
        "a folder of Parquet files or a glob", rule="known file format")


def spark_frame(spark: SparkSession, source: Any, read_options: dict[str, Any] | None = None
                ) -> tuple[DataFrame, set[str]]:
    """``source`` as a Spark DataFrame, and the names of its columns that hold zone-aware
    timestamps (as DuckDB would type them)."""
    from pyspark.sql import DataFrame as SparkDataFrame

    if isinstance(source, SparkDataFrame):
        return source, {n for n, t in source.dtypes if t == "timestamp"}
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        opts = dict(read_options or {})
        if _file_kind(path) == "parquet":
            reader = spark.read.option("recursiveFileLookup", os.path.isdir(path))
            df = reader.parquet(path)
            return df, {n for n, t in df.dtypes if t == "timestamp"}
        # Every row is read to type the columns (as DuckDB's sniffer with sample_size=-1);
        # timestamps stay text so that the validation counts offsets and bad values itself.
        reader = (spark.read.option("header", True).option("inferSchema", True)
                  .option("escape", '"').option("mode", "PERMISSIVE")
                  .option("timestampFormat", "'ltvkit-no-timestamp-inference'")
                  .option("timestampNTZFormat", "'ltvkit-no-timestamp-inference'")
                  .option("preferDate", False)
                  .option("recursiveFileLookup", os.path.isdir(path)))
        if path.lower().endswith((".tsv", ".tsv.gz")):
            reader = reader.option("sep", "\t")
        for key in ("encoding", "sep", "delim", "quote", "escape"):
            if key in opts:
                reader = reader.option("sep" if key == "delim" else key, opts[key])
        return reader.csv(path), set()
    module = type(source).__module__.split(".")[0]
    if module == "duckdb":
        table = source.to_arrow_table()
    elif module == "polars":
        table = source.to_arrow()
    elif module == "pandas":
        table = pa.Table.from_pandas(source, preserve_index=False)
    elif isinstance(source, pa.Table):
        table = source
    else:
        raise DataValidationError(
            f"unsupported input of type {type(source).__name__}: pass a Spark DataFrame, a "
            "path (CSV/Parquet), a pandas or polars DataFrame, an Arrow table or a DuckDB "
            "relation", rule="supported input")
    table = _arrow_for_spark(table)
    aware = {f.name for f in table.schema
             if pa.types.is_timestamp(f.type) and f.type.tz is not None}
    return spark.createDataFrame(table), aware


@dataclass
class SparkStage:
    """A read staged in Spark: the kept rows (not yet sorted), counted and validated."""

    kept: DataFrame  # canonical columns + the input-row hash, fate "kept" only
    counts: RowCounts
    dup_kept: int  # exact duplicates among the kept rows (0 when they are kept)
    flags: dict[str, bool]
    canonical: list[str]
    tz_aware: bool
    data_end: dt.date | None
    mapping: ColumnMapping
    cleaning: CleaningRules

    @property
    def n_kept(self) -> int:
        return self.counts.rows_read - sum(self.counts.fates.values()) - self.dup_kept


def sorted_arrays(table: pa.Table, flags: dict[str, bool], drop_duplicates: bool,
                  domain_names: tuple[str, ...] | None = None) -> tuple[LogArrays, int]:
    """LogArrays of rows sorted by (customer, ts, amount, input-row hash), exact duplicates
    (neighbours equal in all four) dropped when asked, and how many were. ``domain_names``
    fixes the domain codes (a partition uses the whole log's domains); by default they are
    the domains in order of appearance, as the DuckDB engine numbers them."""
    starts, ids = customer_runs(table.column("customer_id"))
    ts = timestamps_us(table.column("ts"))
    amount = numbers(table.column("amount"), np.float64)
    n_dup = 0
    if drop_duplicates and len(ts) > 1:
        cust = np.repeat(np.arange(len(ids), dtype=np.int64), np.diff(starts))
        row_hash = table.column(ROW_HASH).to_numpy()
        dup = ~run_starts(cust, ts, amount, row_hash)
        n_dup = int(dup.sum())
        if n_dup:
            keep = pa.array(~dup)
            table = table.filter(keep)
            return sorted_arrays(table, flags, False, domain_names)[0], n_dup
    extra = optional_columns(table, {**flags, "domain": flags["domain"] and not domain_names})
    if flags["domain"] and domain_names:
        codes = pc.index_in(table.column("domain"), value_set=pa.array(list(domain_names)))
        extra["domain"] = codes.fill_null(-1).to_numpy().astype(np.int64)
        extra["domain_names"] = tuple(domain_names)
    return LogArrays(customer_ids=ids, customer_starts=starts, ts=ts, amount=amount,
                     **extra), n_dup


def _spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


@register_engine
class SparkEngine(LogEngine):
    """Spark SQL does the mapping, validation, row fates and counts; see the module docstring.

    Parameters
    ----------
    spark : the SparkSession to use (:func:`~ltvkit.data.spark_session.get_spark` by default).
    master : the master of a session started here (``local[2]``, ``spark://host:7077``, ...).
    """

    name = "spark"

    def __init__(self, spark: SparkSession | None = None, master: str = "local[2]") -> None:
        self._spark = spark
        self.master = master

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from ltvkit.data.spark_session import get_spark

            self._spark = get_spark(self.master)
        return self._spark

    # ------------------------------------------------------------------ the shared first half
    def stage(self, source: Any, mapping: ColumnMapping, cleaning: CleaningRules, *,
              read_options: dict[str, Any] | None = None, aware: set[str] | None = None
              ) -> SparkStage:
        """Map, validate, give every row its fate and count; the kept rows stay in Spark."""
        name = str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
        try:
            if aware is None:
                raw, aware = spark_frame(self.spark, source, read_options)
            else:
                raw = source
            check_utf8 = isinstance(source, (str, os.PathLike)) and \
                _file_kind(str(source)) == "csv" and "encoding" not in (read_options or {})
            return self._stage(raw, aware, mapping, cleaning, name if check_utf8 else None)
        except DataValidationError:
            raise
        except _spark_errors() as exc:
            raise unreadable(name, exc) from None

    def _stage(self, raw: DataFrame, aware: set[str], mapping: ColumnMapping,
               cleaning: CleaningRules, utf8_file: str | None = None) -> SparkStage:
        types = _spark_types(raw)
        require_column(mapping.customer, "customer", types)
        require_column(mapping.time, "time", types)
        for role in OPTIONAL_ROLES:
            col = getattr(mapping, role)
            if col is not None:
                require_column(col, role, types)
        try:
            raw.selectExpr(f"({amount_expr(mapping, types)}) AS a").schema  # noqa: B018
        except _spark_errors() as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DataValidationError(
                f"missing column or bad SQL expression '{mapping.amount}' for the amount: "
                f"{first}; the input has: {', '.join(types)}",
                column=mapping.amount, rule="column exists") from None
        data_end = parse_day(cleaning.data_end) if cleaning.data_end else None
        mapped = raw.selectExpr(*_mapped_select(mapping, types, utf8_file is not None))
        staged = mapped.selectExpr("*", _fate_expr(cleaning, data_end))
        counts, dup_kept, not_utf8 = _count_rows(staged)
        if not_utf8:
            raise DataValidationError(
                f"cannot read {utf8_file}: {not_utf8} rows hold text that is not UTF-8 (the "
                "file is not UTF-8: give its encoding, e.g. --encoding latin-1) "
                "(rule: readable input)", rule="readable input", n_rows=not_utf8)
        example = _first_offending(staged, raw, mapping, types, counts)
        check_rows(_OneExample(example), "raw", mapping,
                   SimpleNamespace(time="", amount=""), counts)
        flags = mapped_roles(mapping)
        canonical = kept_columns(flags)
        kept = staged.where("fate = 'kept'").select(*canonical, ROW_HASH)
        stage = SparkStage(kept=kept, counts=counts,
                           dup_kept=dup_kept if cleaning.drop_duplicates else 0, flags=flags,
                           canonical=canonical, tz_aware=mapping.time in aware,
                           data_end=data_end, mapping=mapping, cleaning=cleaning)
        check_not_empty(counts, SimpleNamespace(n_rows=stage.n_kept))
        return stage

    def union_domains(self, sources: dict[str, Any], read_options: dict[str, Any] | None
                      ) -> tuple[DataFrame, set[str]]:
        """One DataFrame of all domains' rows with the domain in column ``__domain``."""
        from pyspark.sql import functions as F

        frames, aware = [], set()
        for domain, source in sources.items():
            try:
                df, tz = spark_frame(self.spark, source, read_options)
            except _spark_errors() as exc:
                raise unreadable(str(source), exc) from None
            aware |= tz
            frames.append(df.withColumn(DOMAIN_COLUMN, F.lit(domain)))
        union = frames[0]
        for df in frames[1:]:
            union = union.unionByName(df, allowMissingColumns=True)
        return union, aware

    # ------------------------------------------------------------------------- the contract
    def read(self, source: Any, mapping: ColumnMapping, cleaning: CleaningRules, *,
             read_options: dict[str, Any] | None = None, aware: set[str] | None = None,
             **_ignored: Any) -> TransactionLog:
        stage = self.stage(source, mapping, cleaning, read_options=read_options, aware=aware)
        try:
            table = stage.kept.orderBy("customer_id", "ts", "amount", ROW_HASH).toArrow()
        except _spark_errors() as exc:
            raise unreadable(str(source), exc) from None
        arrays, n_dup = sorted_arrays(table, stage.flags, cleaning.drop_duplicates)
        if n_dup != stage.dup_kept:
            raise LTVError(f"Spark counted {stage.dup_kept} exact duplicates among the kept "
                           f"rows, the sorted rows hold {n_dup}")
        return cleaned_log(arrays, stage.counts, n_dup, mapping, cleaning, stage.data_end,
                           stage.tz_aware, stage.flags)

    def read_domains(self, sources: dict[str, Any], mapping: ColumnMapping,
                     cleaning: CleaningRules, *, read_options: dict[str, Any] | None = None,
                     **_ignored: Any) -> TransactionLog:
        union, aware = self.union_domains(sources, read_options)
        return self.read(union, replace(mapping, domain=DOMAIN_COLUMN), cleaning, aware=aware)
