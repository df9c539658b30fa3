"""Events beyond purchases: behaviour, marketing and support as model inputs.

An events table has one row per event: customer, timestamp, event type, an optional numeric
value (visit length, satisfaction score, installments) and an optional domain. It is read from
the same sources as a transaction log (CSV, Parquet, DataFrames, Arrow, DuckDB relations,
through :func:`~ltvkit.data.sources.register_source`), validated with the same rules
(missing column, empty input, missing or unparseable timestamps; values numeric and not infinite,
NaN or NULL meaning "no value") and
cleaned with every dropped row counted (:class:`EventQuality`, the ``events`` section of the
data-quality report): rows without a customer or an event type, rows after ``data_end`` and exact
duplicates (rows identical in every input column). Kept rows are sorted by (customer, ts, type,
value, domain): rows tied in that key are equal in every mapped column, so every sum downstream
is added up in an order fixed by the data alone.

The event types become columns through a vocabulary (:func:`event_vocabulary`): the ``top_k``
most frequent types before the first cutoff, the rest pooled into ``"other"``. The vocabulary is
saved with the dataset (in ``dataset.vocabularies``), so a dataset built for prediction with the
training vocabulary has the training columns whatever its own events are.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numba import njit

from ltvkit.data.arrays import (
    customer_time_order,
    group_counts_of,
    group_shift,
    kernel_array,
    n_groups,
    tied_rows,
)
from ltvkit.data.mapping import (
    INTEGER_TYPES,
    NUMERIC_TYPES,
    customer_expr,
    is_typed_time,
    quote,
    time_expr,
)
from ltvkit.data.pages import with_plain_pages
from ltvkit.data.plain import plain_dict
from ltvkit.data.sources import (
    column_types,
    is_in_memory,
    new_connection,
    parquet_facts,
    register_source,
    unreadable,
)
from ltvkit.data.validation import require_column, require_expression
from ltvkit.errors import DataValidationError

# The fates of dropped event rows, in the order the rules apply.
EVENT_DROP_FATES = ("missing_customer_id", "missing_event_type", "after_data_end")
# A row's fate inside the read's SQL: _KEPT, else 1 + its place in EVENT_DROP_FATES (integers
# are compared several times per row, text would be compared byte by byte).
_KEPT = 0
_FATE_CODE = {f: k + 1 for k, f in enumerate(EVENT_DROP_FATES)}
DEFAULT_TOP_K = 20
# The pooled slot of the types outside the vocabulary.
OTHER = "other"


@dataclass
class EventMapping:
    """Which input column plays which role in an events table.

    ``value`` (optional) is a numeric column or an SQL expression over the input columns;
    ``domain`` (optional) names the domain of each event in a cross-domain dataset;
    ``time_format`` is a strptime format for timestamps stored as text.
    """

    customer: str = "customer_id"
    time: str = "timestamp"
    event_type: str = "event_type"
    value: str | None = None
    domain: str | None = None
    time_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


@dataclass
class EventCleaning:
    """Cleaning of an events table; every dropped row is counted.

    drop_duplicates: drop exact duplicates (rows identical in every input column).
    data_end: rows dated after this day are dropped.
    """

    drop_duplicates: bool = True
    data_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


@dataclass
class EventQuality:
    """What cleaning did to an events table: ``rows_read == rows_kept + sum(dropped)``."""

    rows_read: int
    rows_kept: int
    dropped: dict[str, int]
    kept_with_notes: dict[str, int] = field(default_factory=dict)
    n_customers: int = 0
    type_counts: dict[str, int] = field(default_factory=dict)
    time_min: str = ""
    time_max: str = ""
    # Filled by build_dataset: which customers and rows the dataset's customers match, the
    # vocabulary used.
    matching: dict[str, int] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)
    mapping: dict[str, Any] = field(default_factory=dict)
    cleaning: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_kept + sum(self.dropped.values()):
            raise AssertionError(
                f"events quality report does not balance: read {self.rows_read}, kept "
                f"{self.rows_kept}, dropped {self.dropped}")

    def to_dict(self) -> dict[str, Any]:
        out = plain_dict(self)
        out["rows_dropped"] = sum(self.dropped.values())
        return out


@dataclass
class EventArrays:
    """The kept event rows sorted by (customer, ts, type, value, domain).

    customer_ids [n_customers] int64 or str objects; customer_starts [n_customers + 1];
    ts [n_rows] int64 microseconds since 1970-01-01 UTC; type_code [n_rows] int32 (index into
    ``type_names``; half the bytes of int64 to convert and walk); value [n_rows] float64
    (NaN = no value); domain [n_rows] int64 codes into ``domain_names`` (-1 = missing) or
    None when not mapped.
    """

    customer_ids: np.ndarray
    customer_starts: np.ndarray
    ts: np.ndarray
    type_code: np.ndarray
    type_names: tuple[str, ...]
    value: np.ndarray
    domain: np.ndarray | None = None
    domain_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        fixed = kernel_array  # the compiled kernels' array type
        self.customer_starts = fixed(self.customer_starts, np.int64)
        self.ts, self.type_code = fixed(self.ts, np.int64), fixed(self.type_code, np.int32)
        self.value, self.domain = fixed(self.value, np.float64), fixed(self.domain, np.int64)

    @property
    def n_rows(self) -> int:
        return len(self.ts)


@dataclass
class EventLog:
    """A validated, cleaned events table: its sorted arrays and its quality report."""

    arrays: EventArrays
    quality: EventQuality
    mapping: EventMapping
    has_value: bool
    has_domain: bool


@with_plain_pages
def read_events(source: Any, mapping: EventMapping | None = None,
                cleaning: EventCleaning | None = None, *,
                con: duckdb.DuckDBPyConnection | None = None,
                read_options: dict[str, Any] | None = None) -> EventLog:
    """Read, validate and clean an events table.

    Parameters
    ----------
    source : path to CSV (also .gz) / Parquet file, folder or glob; pandas or polars DataFrame;
        Arrow table; DuckDB relation (as :func:`~ltvkit.data.read.read_transactions`).
    mapping : the customer, time, event type and optional value / domain columns.
    cleaning : :class:`EventCleaning`; every dropped row is counted in ``quality``.

    Raises
    ------
    DataValidationError
        naming the column, the rule and the number of offending rows: a missing column, an
        empty input, missing or unparseable timestamps, non-numeric or infinite values (a NULL
        or NaN value is an event without a value, counted in ``kept_with_notes``).
    """
    mapping = mapping or EventMapping()
    cleaning = cleaning or EventCleaning()
    con = con or new_connection()
    try:
        return _read(con, source, mapping, cleaning, read_options)
    except duckdb.Error as exc:
        name = str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
        raise unreadable(name, exc) from None


def _read(con: duckdb.DuckDBPyConnection, source: Any, mapping: EventMapping,
          cleaning: EventCleaning, read_options: dict[str, Any] | None) -> EventLog:
    raw = "_events_raw"
    cheap_to_rescan = register_source(con, source, raw, read_options)
    types = column_types(con, raw)
    require_column(mapping.customer, "event customer", types)
    require_column(mapping.time, "event time", types)
    require_column(mapping.event_type, "event type", types)
    if mapping.domain is not None:
        require_column(mapping.domain, "event domain", types)
    if mapping.value is not None:
        value_sql = quote(mapping.value) if mapping.value in types else mapping.value
        require_expression(con, raw, value_sql, mapping.value, "event value", types)
    else:
        value_sql = "NULL"
    cid = customer_expr(mapping.customer, types[mapping.customer])
    ts = time_expr(mapping.time, types[mapping.time], mapping.time_format)
    etype = f"trim(CAST({quote(mapping.event_type)} AS VARCHAR))"
    etype = f"CASE WHEN {etype} = '' THEN NULL ELSE {etype} END"
    dom = f"CAST({quote(mapping.domain)} AS VARCHAR)" if mapping.domain else "NULL::VARCHAR"
    end_sql = "NULL::TIMESTAMP"
    if cleaning.data_end:
        from ltvkit.data.cleaning import parse_day

        end_sql = f"(DATE '{parse_day(cleaning.data_end)}' + INTERVAL 1 DAY)::TIMESTAMP"
    staged = "_events_staged"
    # Parquet and in-memory tables are scanned twice (counts, then the sorted kept rows) through
    # a view; text files and relations are mapped once into a table.
    kind = "VIEW" if cheap_to_rescan else "TABLE"
    con.execute(f"DROP VIEW IF EXISTS {staged}")
    con.execute(f"DROP TABLE IF EXISTS {staged}")
    con.execute(f"""
        CREATE TEMP {kind} {staged} AS
        SELECT *, CASE WHEN customer_id IS NULL THEN {_FATE_CODE["missing_customer_id"]}
                       WHEN event_type IS NULL THEN {_FATE_CODE["missing_event_type"]}
                       WHEN {end_sql} IS NOT NULL AND ts >= {end_sql}
                           THEN {_FATE_CODE["after_data_end"]}
                       ELSE {_KEPT} END::TINYINT AS fate
        FROM (SELECT {cid} AS customer_id, {ts} AS ts, {etype} AS event_type,
                     -- NaN is a missing value, as NULL (one kind of "no value")
                     nullif(try_cast(({value_sql}) AS DOUBLE), 'NaN'::DOUBLE) AS value,
                     coalesce(isnan(try_cast(({value_sql}) AS DOUBLE)), false) AS value_nan,
                     {dom} AS domain,
                     {quote(mapping.time)} IS NULL AS ts_missing,
                     ({value_sql}) IS NOT NULL AS value_given,
                     hash({", ".join(quote(c) for c in types)}) AS __row_hash
              FROM {raw})
    """)
    fate_counts = ", ".join(f"count(*) FILTER (fate = {_FATE_CODE[f]})" for f in EVENT_DROP_FATES)
    domain_hist = (f"histogram(domain) FILTER (fate = {_KEPT} AND domain IS NOT NULL)"
                   if mapping.domain else "NULL")
    # A numeric value column always casts: only an expression or text can hold a
    # non-numeric value (the count is skipped, a tenth of the scan's work).
    numeric_value = mapping.value in types and types[mapping.value] in NUMERIC_TYPES
    bad_values = ("0" if numeric_value or mapping.value is None else
                  "count(*) FILTER (value_given AND value IS NULL AND NOT value_nan)")
    # Nor can an integer value be infinite, or a typed time column fail to parse; and a
    # Parquet file's footers may show that no time is missing and no value infinite (each
    # count read off them is a column the scan need not decode: 40 % of it).
    facts = parquet_facts(con, source, [c for c in (mapping.time, mapping.value)
                                        if c is not None and c in types])
    integer_value = numeric_value and types[mapping.value] in INTEGER_TYPES
    no_inf = mapping.value is None or integer_value or (
        numeric_value and mapping.value in facts and facts[mapping.value].finite)
    inf_values = "0" if no_inf else "count(*) FILTER (isinf(value))"
    bad_times = "0" if is_typed_time(types[mapping.time]) else "count(*) FILTER (NOT ts_missing AND ts IS NULL)"
    no_missing_time = mapping.time in facts and facts[mapping.time].no_nulls
    missing_times = "0" if no_missing_time else "count(*) FILTER (ts_missing)"
    # Integer ids in a range no wider than the rows (or 2^20) are their own codes (id -
    # smallest id; the per-code arrays are then no longer than a column): the range over all
    # rows (Parquet keeps it in its statistics) holds the kept ids.
    lo = hi = None
    group_hist = "NULL"
    if types[mapping.customer] in INTEGER_TYPES:
        lo, hi, n_all = con.execute(f"SELECT min({cid}), max({cid}), count(*) FROM {raw}"
                                    ).fetchall()[0]
        if lo is not None and hi - lo < min(max(n_all, 1 << 20), 2**31 - 1):
            # The rows of each group of the counting sort, counted in the same scan.
            shift = group_shift(hi - lo + 1)
            group_hist = (f"histogram(((customer_id - {int(lo)}) >> {shift})::INTEGER) "
                          f"FILTER (fate = {_KEPT})")
        else:
            lo = hi = None
    stats = con.execute(f"""
        SELECT count(*), {missing_times}, {bad_times}, {bad_values},
               {inf_values}, {fate_counts},
               histogram(event_type) FILTER (fate = {_KEPT}), {domain_hist}, {group_hist}
        FROM {staged}""").fetchall()[0]
    n_read, ts_missing, ts_bad, v_bad, v_inf = (int(x or 0) for x in stats[:5])
    fates = dict(zip(EVENT_DROP_FATES, (int(x or 0) for x in stats[5:8]), strict=True))
    _check_rows(mapping, n_read, ts_missing, ts_bad, v_bad, v_inf)
    type_names = sorted(str(k) for k in (stats[8] or {}))
    domain_names = sorted(str(k) for k in (stats[9] or {})) if mapping.domain else []
    # Types and domains as integer codes (in name order) before the rows leave DuckDB: the
    # narrowest integer type, and no text column copied out.
    con.register("_event_type_codes", _code_table("event_type", type_names))
    joins, domain_code, payload = "", "-1::SMALLINT", ""
    if mapping.domain:
        con.register("_event_domain_codes", _code_table("domain", domain_names))
        joins = "LEFT JOIN _event_domain_codes d ON s.domain = d.domain"
        domain_code = "coalesce(d.__code, -1)"
        payload = ", domain_code"  # no column of -1s to copy when no domain is mapped
    coded = f"""SELECT s.customer_id, s.ts, t.__code AS type_code, s.value,
                       {domain_code} AS domain_code, s.__row_hash
                FROM {staged} s JOIN _event_type_codes t ON s.event_type = t.event_type {joins}
                WHERE s.fate = {_KEPT}"""
    # The kept rows sorted by (customer, ts) without a database sort: the coded rows stream
    # out of DuckDB in any order into a compiled counting sort by customer code
    # (:func:`customer_time_order`). Integer ids in the narrow range checked above are their
    # own codes; other ids are coded by DuckDB, in id order, in a table of the customers and
    # their row counts. Rows tied in (customer, ts) (few) are put
    # in (type, domain, value) order afterwards (:func:`_arrays`): rows still tied are equal
    # in every mapped column, so their order changes no sum, and the order of the kept rows
    # is fixed by the data alone. A missing value leaves DuckDB as NaN (what EventArrays
    # hold): an Arrow column without nulls is read by NumPy in place.
    domains = domain_names if mapping.domain else None
    columns = f"k.ts, k.type_code, coalesce(k.value, 'NaN'::DOUBLE) AS value{payload}"
    if lo is not None:
        n_codes = int(hi - lo + 1)
        group_counts = np.zeros(n_groups(n_codes), dtype=np.int64)
        for g, count in (stats[10] or {}).items():
            group_counts[g] = count
        rows = con.sql(f"SELECT (k.customer_id - {int(lo)})::INTEGER AS code, {columns} "
                       f"FROM ({coded}) k").to_arrow_reader()
        ids = np.arange(int(lo), int(hi) + 1, dtype=np.int64)
        arrays, ties = _arrays(ids, group_counts, rows, type_names, domains)
    else:
        con.execute("DROP TABLE IF EXISTS _event_customers")
        con.execute(f"""
            CREATE TEMP TABLE _event_customers AS
            SELECT customer_id, n, (row_number() OVER (ORDER BY customer_id) - 1)::INTEGER AS c
            FROM (SELECT customer_id, count(*) AS n FROM {staged} WHERE fate = {_KEPT}
                  GROUP BY customer_id)""")
        customers = con.sql("SELECT customer_id, n FROM _event_customers ORDER BY c"
                            ).to_arrow_table()
        rows = con.sql(f"""
            SELECT c.c, {columns}
            FROM ({coded}) k JOIN _event_customers c ON k.customer_id = c.customer_id
        """).to_arrow_reader()
        id_column = customers.column("customer_id")
        ids = (id_column.to_numpy() if pa.types.is_integer(id_column.type)
               else np.asarray(id_column.to_pylist(), dtype=object))
        counts = customers.column("n").to_numpy().astype(np.int64)
        arrays, ties = _arrays(ids, group_counts_of(counts), rows, type_names, domains)
        con.execute("DROP TABLE _event_customers")
    n_dup = 0
    if cleaning.drop_duplicates and len(ties):
        arrays, n_dup = _drop_duplicates(con, coded, arrays, ties)
    con.execute(f"DROP {kind} {staged}")
    for view in ("_event_type_codes", "_event_domain_codes"):
        try:
            con.unregister(view)
        except duckdb.Error:
            pass
    if is_in_memory(source):
        con.unregister(raw)
    dropped = {"exact_duplicates": n_dup, **fates}
    if arrays.n_rows == 0:
        raise DataValidationError(
            f"events: no rows are left after cleaning ({n_read} read): {dropped}",
            rule="non-empty input", n_rows=0)
    counts = np.bincount(arrays.type_code, minlength=len(arrays.type_names))
    notes = {}
    if mapping.value is not None:
        notes["rows_without_value"] = int(np.isnan(arrays.value).sum())
    quality = EventQuality(
        rows_read=n_read, rows_kept=arrays.n_rows, dropped=dropped, kept_with_notes=notes,
        n_customers=len(arrays.customer_ids),
        type_counts={t: int(c) for t, c in zip(arrays.type_names, counts, strict=True)},
        time_min=str(_to_datetime(arrays.ts.min())), time_max=str(_to_datetime(arrays.ts.max())),
        mapping=mapping.to_dict(), cleaning=cleaning.to_dict())
    return EventLog(arrays=arrays, quality=quality, mapping=mapping,
                    has_value=mapping.value is not None, has_domain=mapping.domain is not None)


def _ts_us(column: pa.Array) -> np.ndarray:
    """A timestamp batch column as int64 microseconds (the same buffer, no copy)."""
    if column.type != pa.timestamp("us"):
        column = column.cast(pa.timestamp("us"))
    return column.view(pa.int64()).to_numpy()


def _code_table(column: str, names: list[str]) -> pa.Table:
    """The code (place in ``names``) of every name, as the narrowest integer that holds it."""
    dtype = np.int16 if len(names) <= np.iinfo(np.int16).max else np.int64
    return pa.table({column: pa.array(names, pa.string()),
                     "__code": pa.array(np.arange(len(names), dtype=dtype))})


def _to_datetime(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))


def _check_rows(mapping: EventMapping, n_read: int, ts_missing: int, ts_bad: int, v_bad: int,
                v_inf: int) -> None:
    if n_read == 0:
        raise DataValidationError("events: the input has no rows", rule="non-empty input",
                                  n_rows=0)
    if ts_missing:
        raise DataValidationError(
            f"events column '{mapping.time}': {ts_missing} rows have no timestamp "
            "(rule: timestamp required)", column=mapping.time, rule="timestamp required",
            n_rows=ts_missing)
    if ts_bad:
        raise DataValidationError(
            f"events column '{mapping.time}': {ts_bad} rows have timestamps that cannot be "
            "parsed (rule: parseable timestamp)", column=mapping.time,
            rule="parseable timestamp", n_rows=ts_bad)
    # NaN is how DataFrames and Arrow write a missing value: an event without a value
    # (counted in kept_with_notes), not an error.
    for count, what, rule in ((v_bad, "non-numeric values", "numeric value"),
                              (v_inf, "infinite values", "finite value")):
        if count:
            raise DataValidationError(
                f"event value '{mapping.value}': {count} rows have {what} (rule: {rule})",
                column=mapping.value, rule=rule, n_rows=count)


def _arrays(ids: np.ndarray, group_counts: np.ndarray, batches, type_names: list[str],
            domain_names: list[str] | None) -> tuple[EventArrays, np.ndarray]:
    """The kept rows sorted by (customer, ts) as :class:`EventArrays`, and the rows tied with
    their predecessor in every mapped column (candidates for exact duplicates).
    ``ids`` [n codes] the customer of each code (in id order; codes without rows are left
    out), ``group_counts`` the rows of each group of codes (:func:`customer_time_order`);
    ``batches``: Arrow record batches of (code, ts, type code, value[, domain code]) in any
    order."""
    def chunks():
        for batch in batches:
            cols = batch.columns
            yield (cols[0].to_numpy(), _ts_us(cols[1]), cols[2].to_numpy(),
                   cols[3].to_numpy(), None if domain_names is None else cols[4].to_numpy())

    starts, ts, codes, value, domain = customer_time_order(len(ids), group_counts, chunks(),
                                                           domain_names is not None)
    present = np.flatnonzero(np.diff(starts))
    if len(present) < len(ids):
        ids, starts = ids[present], np.append(starts[present], starts[-1])
    arrays = EventArrays(customer_ids=ids, customer_starts=starts, ts=ts, type_code=codes,
                         type_names=tuple(type_names), value=value, domain=domain,
                         domain_names=tuple(domain_names or ()))
    # The few rows tied in (customer, ts), found in one compiled pass (no full-length
    # temporaries); the time is given twice because the kernel's second key is the amount.
    tied, first = tied_rows(arrays.customer_starts, arrays.ts, arrays.ts)
    if not len(tied):
        return arrays, np.zeros(0, dtype=np.int64)
    _order_ties(arrays, tied, first)
    rows = tied[~first]  # each tied in (customer, ts) with the row before it
    codes, value, domain = arrays.type_code, arrays.value, arrays.domain
    same = codes[rows] == codes[rows - 1]
    same &= (value[rows] == value[rows - 1]) | (np.isnan(value[rows]) & np.isnan(value[rows - 1]))
    if domain is not None:
        same &= domain[rows] == domain[rows - 1]
    return arrays, rows[same]


def _order_ties(a: EventArrays, tied: np.ndarray, first: np.ndarray) -> None:
    """Put the rows of every run tied in (customer, ts) in (type, domain, value) order, in
    place (missing values last); ``tied`` the sorted rows of those runs, ``first`` marking
    the first row of each run."""
    gid = np.cumsum(first) - 1
    v = a.value[tied]
    nan = np.isnan(v)
    dom = a.domain[tied] if a.domain is not None else np.zeros(len(tied), dtype=np.int64)
    src = tied[np.lexsort((np.where(nan, 0.0, v), nan, dom, a.type_code[tied], gid))]
    a.type_code[tied] = a.type_code[src]
    a.value[tied] = a.value[src]
    if a.domain is not None:
        a.domain[tied] = a.domain[src]


def _groups(ties: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted rows ``ties`` (each equal to the row before it in some key): (the rows of
    the groups of equal rows, in order; the group of each of them; the first row of every
    group)."""
    rows = np.union1d(ties - 1, ties)
    first = ~np.isin(rows, ties)
    return rows, np.cumsum(first) - 1, rows[first]


def _drop_duplicates(con: duckdb.DuckDBPyConnection, coded: str, arrays: EventArrays,
                     ties: np.ndarray) -> tuple[EventArrays, int]:
    """Drop exact duplicates among the tied rows: a group of rows equal in every mapped column
    keeps as many rows as it has distinct input rows (by the hash of the whole input row)."""
    a = arrays
    rows, gid, g_start = _groups(ties)
    cust = np.searchsorted(a.customer_starts, g_start, side="right") - 1
    ids = a.customer_ids[cust]
    value = a.value[g_start]
    keys = pa.table({
        "gid": pa.array(np.arange(len(g_start)), pa.int64()),
        "customer_id": pa.array(ids.tolist() if ids.dtype == object else ids),
        "ts": pa.array(a.ts[g_start]).cast(pa.timestamp("us")),
        "type_code": pa.array(a.type_code[g_start]),
        "value": pa.array(value, pa.float64(), mask=np.isnan(value)),
        "domain_code": pa.array(a.domain[g_start] if a.domain is not None
                                else np.full(len(g_start), -1, dtype=np.int64))})
    con.register("_event_tie_keys", keys)
    counted = con.execute(f"""
        SELECT k.gid, count(DISTINCT c.__row_hash) FROM ({coded}) c JOIN _event_tie_keys k
          ON c.customer_id = k.customer_id AND c.ts = k.ts AND c.type_code = k.type_code
         AND c.value IS NOT DISTINCT FROM k.value AND c.domain_code = k.domain_code
        GROUP BY 1""").fetchall()
    con.unregister("_event_tie_keys")
    distinct = np.zeros(len(g_start), dtype=np.int64)
    for g, d in counted:
        distinct[g] = d
    # A group keeps its first ``distinct`` rows (they are equal in every mapped column).
    drop = rows[rows - g_start[gid] >= distinct[gid]]
    if not len(drop):
        return arrays, 0
    keep = np.ones(a.n_rows, dtype=bool)
    keep[drop] = False
    # The first row of a group is never dropped, so every customer keeps a row.
    return EventArrays(
        customer_ids=a.customer_ids,
        customer_starts=a.customer_starts - np.searchsorted(drop, a.customer_starts),
        ts=a.ts[keep], type_code=a.type_code[keep], type_names=a.type_names,
        value=a.value[keep], domain=None if a.domain is None else a.domain[keep],
        domain_names=a.domain_names), len(drop)


def event_vocabulary(events: EventLog, top_k: int, before_us: int) -> list[str]:
    """The ``top_k`` most frequent event types among the rows before ``before_us`` (the end of
    the first cutoff's day, so no sample's columns depend on later rows), ties by name. The
    rest are pooled into ``"other"`` (always a column, so the layout is fixed by the list)."""
    if top_k < 0:
        raise DataValidationError(f"event_top_k must be >= 0, got {top_k}",
                                  column="event_top_k", rule=">= 0")
    a = events.arrays
    counts = _type_counts_before(a.type_code, a.ts, int(before_us), len(a.type_names))
    order = sorted(range(len(a.type_names)), key=lambda i: (-counts[i], a.type_names[i]))
    return [a.type_names[i] for i in order[:top_k] if counts[i] > 0]


def type_slots(events: EventLog, vocabulary: list[str]) -> np.ndarray:
    """[n_types] the feature slot of every event type: its place in ``vocabulary``, else the
    pooled slot ``len(vocabulary)``."""
    index = {t: i for i, t in enumerate(vocabulary)}
    return np.array([index.get(t, len(vocabulary)) for t in events.arrays.type_names],
                    dtype=np.int64)


@njit(cache=True, nogil=True)
def _type_counts_before(type_code, ts, before_us, n_types):
    """[n_types] the rows of each type before ``before_us`` (one pass, no mask copy)."""
    counts = np.zeros(n_types, dtype=np.int64)
    for i in range(len(ts)):
        if ts[i] < before_us:
            counts[type_code[i]] += 1
    return counts


@njit(cache=True, nogil=True)
def _merged_codes(ev_ids, ids):
    """The place of each of ``ids`` in ``ev_ids`` (-1: not there), both strictly increasing
    (one merge); ok False when either is not."""
    out = np.full(len(ids), -1, dtype=np.int64)
    for i in range(1, len(ev_ids)):
        if ev_ids[i] <= ev_ids[i - 1]:
            return out, False
    j = 0
    for i in range(len(ids)):
        if i and ids[i] <= ids[i - 1]:
            return out, False
        while j < len(ev_ids) and ev_ids[j] < ids[i]:
            j += 1
        if j < len(ev_ids) and ev_ids[j] == ids[i]:
            out[i] = j
    return out, True


def customer_codes(events: EventLog, dataset_ids: np.ndarray) -> np.ndarray:
    """[n] the events customer code of each id in ``dataset_ids`` (-1: no events). Ids are
    compared as text when the two tables store them differently (int64 vs text)."""
    import pandas as pd

    ev_ids = events.arrays.customer_ids
    if ev_ids.dtype == dataset_ids.dtype == np.int64:
        # Integer ids come sorted from both reads: one merge instead of a hash index.
        codes, ok = _merged_codes(ev_ids, dataset_ids)
        if ok:
            return codes
    if ev_ids.dtype != dataset_ids.dtype or ev_ids.dtype == object:
        ev_ids = ev_ids.astype(str)
        dataset_ids = dataset_ids.astype(str)
    return pd.Index(ev_ids).get_indexer(dataset_ids).astype(np.int64)
