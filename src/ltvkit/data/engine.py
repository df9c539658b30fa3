"""The engine seam of the data path: what reads a raw log into a :class:`TransactionLog`.

:func:`~ltvkit.data.read.read_transactions` and :func:`~ltvkit.data.read.read_domains` hand the
work to a :class:`LogEngine`, chosen by name (:func:`get_engine`) or passed as an object.
:class:`DuckDBEngine` is the engine ltvkit ships; another engine (Spark, say) implements the
same two methods and returns the same :class:`TransactionLog` contract, and ``build_dataset``
and everything after it work unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

import duckdb

from ltvkit.data.arrays import LogArrays
from ltvkit.data.cleaning import (
    RowCounts,
    check_not_empty,
    count_rows,
    parse_day,
    quality_report,
    stage,
    time_span,
)
from ltvkit.data.log import TransactionLog, publish, sort_kept
from ltvkit.data.mapping import (
    CleaningRules,
    ColumnMapping,
    MappedSQL,
    is_tz_aware,
    kept_columns,
    mapped_roles,
)
from ltvkit.data.sources import (
    column_types,
    is_csv_path,
    is_in_memory,
    new_connection,
    register_source,
    unreadable,
)
from ltvkit.data.validation import check_mapping, check_rows
from ltvkit.errors import DataValidationError


class LogEngine(ABC):
    """Reads a raw transaction log, maps, validates and cleans it, and returns it sorted.

    An engine has a ``name`` (what ``read_transactions(..., engine=name)`` selects once the
    class is in :data:`ENGINES`, see :func:`register_engine`) and two methods. Both receive a
    filled-in :class:`ColumnMapping` and :class:`CleaningRules` (never None) and the keyword
    options of ``read_transactions``: ``con``, ``read_options`` and ``table`` for :meth:`read`,
    ``read_options`` for :meth:`read_domains`. An engine ignores those it has no use for
    (``con`` and ``table`` are DuckDB's) and passes ``read_options`` to its own reader.

    What an engine must do, so that its logs are interchangeable with DuckDB's:

    * map the columns as the mapping says: customer ids as int64 when the input column is an
      integer, else as text (float ids that are whole numbers as ``"17850"``, blank text as
      missing); timestamps to naive UTC (zone-aware ones converted, text without an offset
      read as UTC, ``time_format`` a strptime format); ``amount`` a column or an SQL
      expression over the input columns, as DOUBLE;
    * raise :class:`~ltvkit.errors.DataValidationError` with ``column``, ``rule`` and
      ``n_rows`` for the rules :mod:`ltvkit.data.validation` checks (missing column, empty
      input, missing or unparseable timestamps, missing, non-numeric, NaN or infinite
      amounts), with the same rule names;
    * give every row one fate, the first cleaning rule that drops it, in the order
      missing_customer_id, after_data_end, zero_amount, refund_dropped (else kept), then drop
      exact duplicates (rows equal in every input column) among the kept ones when
      ``cleaning.drop_duplicates``;
    * return a :class:`TransactionLog` whose ``quality`` balances (the keys of
      ``quality.dropped``: exact_duplicates, then the four fates above), whose ``arrays``
      (:class:`~ltvkit.data.arrays.LogArrays`) hold the kept rows sorted by customer, ts and
      amount, ties in an order fixed by the data alone, and whose other fields are filled as
      :class:`TransactionLog` describes. An engine that does not keep the log in DuckDB sets
      ``table=None`` and ``con=new_connection()``.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def read(self, source: Any, mapping: ColumnMapping, cleaning: CleaningRules,
             **options: Any) -> TransactionLog:
        """Read one source (whatever inputs the engine accepts) into a cleaned log."""

    @abstractmethod
    def read_domains(self, sources: dict[str, Any], mapping: ColumnMapping,
                     cleaning: CleaningRules, **options: Any) -> TransactionLog:
        """Read one source per domain into one log whose ``domain`` column is the dict key.

        The sources share the mapping (``mapping.domain`` is None; the caller checked that and
        that there are at least two domains); columns are matched by name, a column missing
        from some sources is NULL in their rows."""


def cleaned_log(arrays: LogArrays, counts: RowCounts, dup_kept: int, mapping: ColumnMapping,
                cleaning: CleaningRules, data_end: dt.date | None, tz_aware: bool,
                flags: dict[str, bool], *, con: duckdb.DuckDBPyConnection | None = None,
                table: str | None = None) -> TransactionLog:
    """The :class:`TransactionLog` an engine returns for its sorted kept rows: time span,
    balanced quality report and the mapped optional roles, filled the same way by every
    engine (``con``/``table``: the DuckDB view of the log, if the engine keeps one)."""
    span = time_span(arrays)
    quality = quality_report(counts, arrays, dup_kept, span, mapping, cleaning, tz_aware)
    return TransactionLog(
        con=con if con is not None else new_connection(), table=table, quality=quality,
        time_min=span[0], time_max=span[1],
        data_end=span[1].date() if data_end is None else data_end, mapping=mapping,
        has_order=flags["order"], has_quantity=flags["quantity"],
        has_category=flags["category"], has_domain=flags["domain"], arrays=arrays)


class DuckDBEngine(LogEngine):
    """The DuckDB engine: files are read by DuckDB, in-memory tables scanned in place.

    Inputs: CSV (also .gz) / Parquet file, folder or glob; pandas or polars DataFrame; Arrow
    table; DuckDB relation. Options: ``con`` (a DuckDB connection to build the log in, a new
    one by default), ``read_options`` (keyword arguments for DuckDB's ``read_csv`` /
    ``read_parquet``), ``table`` (the name of the log's view).
    """

    name = "duckdb"

    def read(self, source: Any, mapping: ColumnMapping, cleaning: CleaningRules, *,
             con: duckdb.DuckDBPyConnection | None = None,
             read_options: dict[str, Any] | None = None,
             table: str = "transactions") -> TransactionLog:
        try:
            return self._read(source, mapping, cleaning, con=con, read_options=read_options,
                              table=table)
        except duckdb.Error as exc:
            # A file that fails while it is scanned (a corrupt .gz or Parquet page, a CSV row
            # the reader cannot split, an amount expression that fails on some row).
            name = str(source) if isinstance(source, (str, os.PathLike)) else \
                type(source).__name__
            raise unreadable(name, exc) from None

    def _read(self, source: Any, mapping: ColumnMapping, cleaning: CleaningRules, *,
              con: duckdb.DuckDBPyConnection | None, read_options: dict[str, Any] | None,
              table: str) -> TransactionLog:
        con = con or new_connection()
        raw, staged = f"{table}_raw", f"{table}_staged"
        cheap_to_rescan = register_source(con, source, raw, read_options)
        types = column_types(con, raw)
        if is_tz_aware(types.get(mapping.time, "")) and is_csv_path(source):
            # Read the text itself, so that rows without an offset (which the CSV reader
            # silently takes as UTC) are counted next to those with one.
            opts = dict(read_options or {})
            opts["types"] = {**opts.get("types", {}), mapping.time: "VARCHAR"}
            register_source(con, source, raw, opts)
            types = column_types(con, raw)
        check_mapping(con, raw, mapping, types)
        sql = MappedSQL.build(mapping, types)
        data_end = parse_day(cleaning.data_end) if cleaning.data_end else None
        kind = stage(con, raw, staged, sql, cleaning, data_end, cheap_to_rescan)
        counts = count_rows(con, staged)
        check_rows(con, raw, mapping, sql, counts)
        flags = mapped_roles(mapping)
        canonical = kept_columns(flags)
        kept, arrays, dup_kept = sort_kept(con, staged, canonical, flags,
                                           cleaning.drop_duplicates)
        check_not_empty(counts, arrays)
        publish(con, table, kept, canonical)
        con.execute(f"DROP {kind} {staged}")  # the cleaned log holds everything now
        if is_in_memory(source):
            con.unregister(raw)
        return cleaned_log(arrays, counts, dup_kept, mapping, cleaning, data_end,
                           is_tz_aware(types[mapping.time]), flags, con=con, table=table)

    def read_domains(self, sources: dict[str, Any], mapping: ColumnMapping,
                     cleaning: CleaningRules, *,
                     read_options: dict[str, Any] | None = None) -> TransactionLog:
        con = new_connection()
        selects = []
        for i, (domain, source) in enumerate(sources.items()):
            view = f"_domain_src_{i}"
            try:
                register_source(con, source, view, read_options)
            except duckdb.Error as exc:
                raise unreadable(str(source), exc) from None
            selects.append(f"SELECT *, '{domain.replace(chr(39), chr(39) * 2)}' AS __domain "
                           f"FROM {view}")
        union = con.sql(" UNION ALL BY NAME ".join(selects))
        return self.read(union, replace(mapping, domain="__domain"), cleaning, con=con)


# The engines selectable by name.
ENGINES: dict[str, type[LogEngine]] = {DuckDBEngine.name: DuckDBEngine}
# Engines in modules of their own, imported when first asked for by name (their heavy
# dependencies load only then).
LAZY_ENGINES = {"spark": "ltvkit.data.spark_engine"}


def register_engine(engine: type[LogEngine]) -> type[LogEngine]:
    """Make ``engine`` selectable by its ``name`` (usable as a class decorator)."""
    if not engine.name:
        raise ValueError(f"{engine.__name__} has no name")
    ENGINES[engine.name] = engine
    return engine


def get_engine(name_or_engine: str | LogEngine = "duckdb") -> LogEngine:
    """The engine of that name (a new instance), or the engine object itself."""
    if isinstance(name_or_engine, LogEngine):
        return name_or_engine
    if name_or_engine in LAZY_ENGINES and name_or_engine not in ENGINES:
        import importlib

        importlib.import_module(LAZY_ENGINES[name_or_engine])  # registers itself
    engine = ENGINES.get(name_or_engine) if isinstance(name_or_engine, str) else None
    if engine is None:
        raise DataValidationError(
            f"unknown engine {name_or_engine!r}: the known engines are "
            f"{', '.join(sorted(set(ENGINES) | set(LAZY_ENGINES)))}", rule="known engine")
    return engine()
