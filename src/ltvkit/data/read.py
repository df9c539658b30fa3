"""Read a raw transaction log, map its columns, validate it and clean it, counting every row.

The result is a :class:`~ltvkit.data.log.TransactionLog`: the kept rows sorted by customer and
time as NumPy columns (:class:`~ltvkit.data.arrays.LogArrays`) and a
:class:`~ltvkit.data.quality.DataQualityReport` that accounts for every input row. The work is
done by an engine (:mod:`ltvkit.data.engine`), DuckDB by default: it registers the source
(:mod:`~ltvkit.data.sources`), maps and validates the columns (:mod:`~ltvkit.data.mapping`,
:mod:`~ltvkit.data.validation`), gives every row its fate (:mod:`~ltvkit.data.cleaning`) and
sorts the kept rows once (:mod:`~ltvkit.data.log`). The log is never copied into pandas.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb

from ltvkit.data.engine import LogEngine, get_engine
from ltvkit.data.events import EventCleaning, EventLog, EventMapping, read_events
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.pages import with_plain_pages
from ltvkit.errors import DataValidationError


@with_plain_pages
def read_transactions(source: Any, mapping: ColumnMapping | None = None,
                      cleaning: CleaningRules | None = None, *,
                      con: duckdb.DuckDBPyConnection | None = None,
                      read_options: dict[str, Any] | None = None,
                      table: str = "transactions",
                      engine: str | LogEngine = "duckdb") -> TransactionLog:
    """Read, validate and clean a transaction log.

    Parameters
    ----------
    source : path to CSV (also .gz) / Parquet file, folder or glob; pandas or polars DataFrame;
        Arrow table; DuckDB relation.
    mapping : which columns are customer, time, amount (column or SQL expression) and the
        optional order, quantity, category and domain columns.
    cleaning : the cleaning rules; every row a rule drops is counted in ``log.quality``.
    con : a DuckDB connection to build the table in (a new one by default).
    read_options : extra keyword arguments for DuckDB's ``read_csv`` / ``read_parquet``.
    table : the name of the log's DuckDB view.
    engine : the engine that does the work: a name (``"duckdb"``) or a
        :class:`~ltvkit.data.engine.LogEngine`.

    Raises
    ------
    DataValidationError
        naming the column, the rule and the number of offending rows: a missing column,
        unparseable or missing timestamps, non-numeric / NaN / infinite amounts, an empty input;
        or naming the known engines for an unknown engine name.
    """
    return get_engine(engine).read(source, mapping or ColumnMapping(),
                                   cleaning or CleaningRules(), con=con,
                                   read_options=read_options, table=table)


@with_plain_pages
def read_domains(sources: dict[str, Any], mapping: ColumnMapping | None = None,
                 cleaning: CleaningRules | None = None, *,
                 read_options: dict[str, Any] | None = None,
                 engine: str | LogEngine = "duckdb") -> TransactionLog:
    """Read one log per domain (e.g. ``{"sales": orders.parquet, "logistics": waybills.csv}``)
    into one cross-domain :class:`TransactionLog` with a ``domain`` column.

    Every source uses the same column mapping; the data-quality report covers all of them.
    """
    if len(sources) < 2:
        raise DataValidationError("read_domains needs at least two domains",
                                  rule="two domains")
    mapping = mapping or ColumnMapping()
    if mapping.domain is not None:
        raise DataValidationError("read_domains sets the domain itself: leave mapping.domain "
                                  "empty", column=mapping.domain, rule="no domain column")
    return get_engine(engine).read_domains(sources, mapping, cleaning or CleaningRules(),
                                           read_options=read_options)


def read_with_events(source: Any, events: Any, mapping: ColumnMapping | None = None,
                     cleaning: CleaningRules | None = None,
                     event_mapping: EventMapping | None = None,
                     event_cleaning: EventCleaning | None = None, *,
                     read_options: dict[str, Any] | None = None,
                     event_read_options: dict[str, Any] | None = None,
                     engine: str | LogEngine = "duckdb",
                     side_by_side: bool = False) -> tuple[TransactionLog, EventLog]:
    """Read a transaction log and its events table: (the log, the events).

    The two reads do not depend on each other, so with ``side_by_side`` the events are read in
    a second thread while this one reads the log, each on its own DuckDB connection: DuckDB,
    Arrow and the compiled row walks release the GIL, so the single-threaded stretches of one
    read overlap the other's query. Each read's scans already use every core, though, and on
    the 2-core benchmark VM one after the other was the faster and steadier (20M + 20M rows
    then a build, ``benchmarks/bench_prepare.py --one-by-one``: 8.9-9.3 s against 8.7-10.7 s
    side by side, whose builds slowed after the reads; 3.9 against 4.1-4.8 GB peak memory),
    so it is the default; side by side, peak memory is the two reads' together.

    ``event_cleaning`` defaults to the log's ``data_end`` (no event after the log's last day).
    Errors are those of :func:`read_transactions` and :func:`~ltvkit.data.events.read_events`;
    the log's is raised first when both fail.
    """
    cleaning = cleaning or CleaningRules()
    event_cleaning = event_cleaning or EventCleaning(data_end=cleaning.data_end)

    def read_the_events() -> EventLog:
        return read_events(events, event_mapping, event_cleaning,
                           read_options=event_read_options)

    def read_the_log() -> TransactionLog:
        return read_transactions(source, mapping, cleaning, read_options=read_options,
                                 engine=engine)

    if not side_by_side:
        return read_the_log(), read_the_events()
    # Leaving the pool waits for the events read, so a log error leaves after it has ended.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltvkit-events") as pool:
        pending = pool.submit(read_the_events)
        log = read_the_log()
        return log, pending.result()
