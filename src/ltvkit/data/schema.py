"""Read a raw transaction log, map its columns, validate it and clean it, counting every row.

The result is a :class:`TransactionLog`: a DuckDB table with the canonical columns

    customer_id BIGINT or VARCHAR, ts TIMESTAMP (UTC, naive), amount DOUBLE (negative = refund),
    and where mapped: order_id VARCHAR, quantity DOUBLE, category VARCHAR, domain VARCHAR

sorted by customer and time, also held as NumPy columns (:class:`~ltvkit.data.arrays.LogArrays`),
and a :class:`~ltvkit.data.quality.DataQualityReport` that accounts for every input row. The log
is never copied into pandas: sources are read by DuckDB (files) or scanned in place (DataFrames,
Arrow tables, DuckDB relations).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from ltvkit.data.arrays import (
    LogArrays,
    customer_runs,
    numbers,
    optional_columns,
    tied_rows,
    timestamps_us,
)
from ltvkit.data.quality import DataQualityReport
from ltvkit.errors import DataValidationError

CANONICAL_COLUMNS = ("customer_id", "ts", "amount", "order_id", "quantity", "category", "domain")
# The types of the optional columns, for a log that does not map them (they are then NULL).
_OPTIONAL_TYPES = {"order_id": "VARCHAR", "quantity": "DOUBLE", "category": "VARCHAR",
                   "domain": "VARCHAR"}


@dataclass
class ColumnMapping:
    """Which input column (or SQL expression) plays which role.

    ``amount`` may be an SQL expression over the input columns, e.g. ``"Quantity*UnitPrice"``.
    ``time_format`` is a strptime format for timestamps stored as text or integers
    (``"%Y%m%d"`` for CDNOW's 19970101); without it text is parsed as ISO 8601.
    """

    customer: str = "customer_id"
    time: str = "timestamp"
    amount: str = "amount"
    order: str | None = None
    quantity: str | None = None
    category: str | None = None
    domain: str | None = None
    time_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CleaningRules:
    """Cleaning steps. Each one is counted in the data-quality report; none is silent.

    drop_duplicates: drop exact duplicate rows (identical in every input column).
    refunds: ``"keep"`` negative amounts as refunds (default) or ``"drop"`` them.
    zero_amounts: ``"drop"`` rows whose amount is 0 (default) or ``"keep"`` them.
    data_end: rows dated after this day are dropped (e.g. a log with a few rows in the future).
    """

    drop_duplicates: bool = True
    refunds: Literal["keep", "drop"] = "keep"
    zero_amounts: Literal["drop", "keep"] = "drop"
    data_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TransactionLog:
    """A validated, cleaned transaction log held as a DuckDB table.

    Attributes
    ----------
    con : the DuckDB connection that owns the table
    table : name of the table with the canonical columns
    quality : the data-quality report of the cleaning
    time_min, time_max : first and last timestamp kept
    data_end : last day the log covers (``CleaningRules.data_end`` or the day of ``time_max``)
    mapping : the column mapping used, kept for provenance
    """

    con: duckdb.DuckDBPyConnection
    table: str
    quality: DataQualityReport
    time_min: Any
    time_max: Any
    data_end: Any
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    has_order: bool = False
    has_quantity: bool = False
    has_category: bool = False
    has_domain: bool = False
    # The same kept rows as sorted NumPy columns (what build_dataset scans).
    arrays: LogArrays | None = None

    def relation(self) -> duckdb.DuckDBPyRelation:
        return self.con.table(self.table)

    @property
    def n_rows(self) -> int:
        return self.quality.rows_kept

    def domains(self) -> list[str]:
        if not self.has_domain:
            return []
        rows = self.con.execute(
            f"SELECT DISTINCT domain FROM {self.table} WHERE domain IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]


def new_connection(memory_limit: str | None = None, threads: int | None = None,
                   temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for ltvkit: UTC session time zone, spilling to a temp dir."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # Spilling lets logs larger than memory finish (DuckDB's out-of-core operators).
    tmp = temp_directory or os.environ.get("LTVKIT_TMPDIR") or tempfile.gettempdir()
    con.execute(f"SET temp_directory='{Path(tmp) / 'ltvkit_duckdb_spill'}'")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")  # the CLI draws its own progress
    if memory_limit:
        con.execute(f"SET memory_limit='{memory_limit}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _register_source(con: duckdb.DuckDBPyConnection, source: Any, view: str,
                     read_options: dict[str, Any] | None) -> bool:
    """Expose ``source`` as the view ``view`` in ``con`` without copying it into pandas.

    Returns whether the view is cheap to scan again: Parquet files and in-memory tables are;
    text files (parsed on every scan) and DuckDB relations (which may be whole queries) not."""
    read_options = dict(read_options or {})
    # A view of that name left by an earlier read on this connection must not be read again
    # (the probe below would find it and read the old data), nor block register().
    try:
        con.execute(f"DROP VIEW IF EXISTS {view}")
    except duckdb.Error:
        pass
    if isinstance(source, duckdb.DuckDBPyRelation):
        # A relation on our own connection becomes a view (no copy); one from another
        # connection is streamed over as Arrow.
        source.create_view(view, replace=True)
        try:
            con.execute(f"SELECT * FROM {view} LIMIT 0")
        except duckdb.Error:
            con.register(view, source.to_arrow_table())
        return False
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        is_glob = any(ch in path for ch in "*?[")
        if not is_glob and not os.path.exists(path):
            raise DataValidationError(f"input file not found: {path}", rule="file exists")
        lower = path.lower()
        if os.path.isdir(path):
            target = str(Path(path) / "**" / "*.parquet")
            reader = "read_parquet"
        elif lower.endswith((".parquet", ".pq")) or (is_glob and "parquet" in lower):
            target, reader = path, "read_parquet"
        elif lower.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")):
            target, reader = path, "read_csv"
            read_options.setdefault("header", True)
        else:
            raise DataValidationError(
                f"cannot tell the format of {path}: use a .csv, .csv.gz, .tsv, .parquet file, "
                "a folder of Parquet files or a glob", rule="known file format")
        opts = "".join(f", {k}={_sql_literal(v)}" for k, v in read_options.items())
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {reader}('{target}'{opts})"
        )
        return reader == "read_parquet"
    # pandas / polars DataFrames and Arrow tables are scanned in place by DuckDB.
    module = type(source).__module__.split(".")[0]
    if module in ("pandas", "polars", "pyarrow"):
        obj = source
        if module == "polars":
            obj = source.to_arrow()
        con.register(view, obj)
        return True
    raise DataValidationError(
        f"unsupported input of type {type(source).__name__}: pass a path (CSV/Parquet), a pandas "
        "or polars DataFrame, an Arrow table or a DuckDB relation", rule="supported input")


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        inner = ", ".join(f"'{k}': {_sql_literal(v)}" for k, v in value.items())
        return "{" + inner + "}"
    return "'" + str(value).replace("'", "''") + "'"


def _column_types(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
    return {r[0]: str(r[1]).upper() for r in rows}


def _require_column(name: str, role: str, types: dict[str, str]) -> None:
    if name not in types:
        raise DataValidationError(
            f"missing column '{name}' (the {role} column); the input has: {', '.join(types)}",
            column=name, rule="column exists")


def _customer_expr(col: str, ctype: str) -> str:
    q = _quote(col)
    if ctype in ("DOUBLE", "FLOAT", "REAL") or ctype.startswith("DECIMAL"):
        # Ids stored as floats (17850.0 in Online Retail) become "17850", not "17850.0".
        return (f"CASE WHEN {q} IS NULL OR isnan({q}::DOUBLE) THEN NULL "
                f"WHEN {q} = floor({q}) THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({q} AS VARCHAR) END")
    if ctype in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
                 "UTINYINT", "HUGEINT"):
        # Integer ids stay integers inside DuckDB (faster joins and sorts on big logs); the
        # dataset turns them into strings.
        return f"CAST({q} AS BIGINT)"
    return f"NULLIF(trim(CAST({q} AS VARCHAR)), '')"


def _time_expr(col: str, ctype: str, fmt: str | None) -> str:
    q = _quote(col)
    if "TIME ZONE" in ctype or ctype.startswith("TIMESTAMPTZ"):
        return f"timezone('UTC', CAST({q} AS TIMESTAMPTZ))"
    if ctype.startswith("TIMESTAMP") or ctype == "DATE":
        return f"CAST({q} AS TIMESTAMP)"
    text = f"CAST({q} AS VARCHAR)"
    if fmt:
        return f"try_strptime({text}, '{fmt}')"
    # Text with an offset is converted to UTC; text without one is read as UTC (session zone).
    return f"timezone('UTC', try_cast({text} AS TIMESTAMPTZ))"


def read_transactions(source: Any, mapping: ColumnMapping | None = None,
                      cleaning: CleaningRules | None = None, *,
                      con: duckdb.DuckDBPyConnection | None = None,
                      read_options: dict[str, Any] | None = None,
                      table: str = "transactions") -> TransactionLog:
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

    Raises
    ------
    DataValidationError
        naming the column, the rule and the number of offending rows: a missing column,
        unparseable or missing timestamps, non-numeric / NaN / infinite amounts, an empty input.
    """
    mapping = mapping or ColumnMapping()
    cleaning = cleaning or CleaningRules()
    con = con or new_connection()
    raw = f"{table}_raw"
    cheap_to_rescan = _register_source(con, source, raw, read_options)
    types = _column_types(con, raw)

    _require_column(mapping.customer, "customer", types)
    _require_column(mapping.time, "time", types)
    optional = {"order": mapping.order, "quantity": mapping.quantity,
                "category": mapping.category, "domain": mapping.domain}
    for role, col in optional.items():
        if col is not None:
            _require_column(col, role, types)
    amount_sql = _quote(mapping.amount) if mapping.amount in types else mapping.amount
    try:
        con.execute(f"SELECT ({amount_sql}) FROM {raw} LIMIT 0")
    except duckdb.Error as exc:
        raise DataValidationError(
            f"missing column or bad SQL expression '{mapping.amount}' for the amount: "
            f"{str(exc).splitlines()[0]}; the input has: {', '.join(types)}",
            column=mapping.amount, rule="column exists") from None

    customer_sql = _customer_expr(mapping.customer, types[mapping.customer])
    time_sql = _time_expr(mapping.time, types[mapping.time], mapping.time_format)
    order_sql = f"CAST({_quote(mapping.order)} AS VARCHAR)" if mapping.order else "NULL::VARCHAR"
    qty_sql = f"try_cast({_quote(mapping.quantity)} AS DOUBLE)" if mapping.quantity else "NULL::DOUBLE"
    cat_sql = f"CAST({_quote(mapping.category)} AS VARCHAR)" if mapping.category else "NULL::VARCHAR"
    dom_sql = f"CAST({_quote(mapping.domain)} AS VARCHAR)" if mapping.domain else "NULL::VARCHAR"

    # The mapped rows, with validity flags, the fate of every row (the first cleaning rule that
    # drops it, else "kept") and a hash of the whole input row: rows are exact duplicates when
    # they agree on every mapped column and on that hash (sorted next to each other below).
    raw_cols = ", ".join(_quote(c) for c in types)
    data_end = duckdb_date(cleaning.data_end) if cleaning.data_end else None
    data_end_sql = (f"(DATE '{data_end}' + INTERVAL 1 DAY)::TIMESTAMP"
                    if data_end else "NULL::TIMESTAMP")
    drop_refunds = cleaning.refunds == "drop"
    drop_zero = cleaning.zero_amounts == "drop"
    staged = f"{table}_staged"
    mapped_sql = f"""
        SELECT *, CASE
                 WHEN customer_id IS NULL THEN 'missing_customer_id'
                 WHEN {data_end_sql} IS NOT NULL AND ts >= {data_end_sql} THEN 'after_data_end'
                 WHEN amount = 0 AND {drop_zero} THEN 'zero_amount'
                 WHEN amount < 0 AND {drop_refunds} THEN 'refund_dropped'
                 ELSE 'kept' END AS fate
        FROM (
            -- a subquery, so the CASE above sees the mapped columns, never same-named raw ones
            SELECT {customer_sql} AS customer_id,
                   {time_sql} AS ts,
                   ({_quote(mapping.time)}) IS NULL AS ts_missing,
                   try_cast(({amount_sql}) AS DOUBLE) AS amount,
                   ({amount_sql}) IS NULL AS amount_missing,
                   {order_sql} AS order_id, {qty_sql} AS quantity,
                   {cat_sql} AS category, {dom_sql} AS domain,
                   hash({raw_cols}) AS __row_hash
            FROM {raw}
        )"""
    # A source that is cheap to scan again is read as a view, any other once, into a table.
    kind = "VIEW" if cheap_to_rescan else "TABLE"
    con.execute(f"DROP VIEW IF EXISTS {staged}")
    con.execute(f"DROP TABLE IF EXISTS {staged}")
    con.execute(f"CREATE TEMP {kind} {staged} AS {mapped_sql}")

    stats = con.execute(f"""
        SELECT count(*),
               count(*) FILTER (ts_missing),
               count(*) FILTER (NOT ts_missing AND ts IS NULL),
               count(*) FILTER (amount_missing),
               count(*) FILTER (NOT amount_missing AND amount IS NULL),
               count(*) FILTER (isnan(amount)),
               count(*) FILTER (isinf(amount)),
               count(*) FILTER (fate = 'missing_customer_id'),
               count(*) FILTER (fate = 'after_data_end'),
               count(*) FILTER (fate = 'zero_amount'),
               count(*) FILTER (fate = 'refund_dropped'),
               -- the distinct rows among those a rule drops (the kept ones are told apart
               -- by the sort); identical rows share their fate, so duplicates never straddle
               -- kept and dropped. A CASE, not a FILTER: count(DISTINCT) FILTER costs seconds.
               count(DISTINCT CASE WHEN fate <> 'kept'
                     THEN hash(customer_id, ts, amount, __row_hash) END)
        FROM {staged}
    """).fetchall()[0]
    (rows_read, ts_null, ts_bad, amt_null, amt_bad, amt_nan, amt_inf,
     n_missing_id, n_after_end, n_zero, n_refund_dropped, distinct_dropped) = (
        int(v or 0) for v in stats)
    if rows_read == 0:
        raise DataValidationError("the input has no rows", rule="non-empty input", n_rows=0)
    time_col = mapping.time
    if ts_null:
        raise DataValidationError(
            f"column '{time_col}': {ts_null} rows have no timestamp (rule: timestamp required)",
            column=time_col, rule="timestamp required", n_rows=int(ts_null))

    def example(expr: str, converted: str) -> str:
        # Only on the error path: one offending raw value to quote in the message.
        row = con.execute(f"SELECT CAST(({expr}) AS VARCHAR) FROM {raw} "
                          f"WHERE ({expr}) IS NOT NULL AND ({converted}) IS NULL LIMIT 1"
                          ).fetchall()
        return row[0][0] if row else "?"

    if ts_bad:
        hint = f" with format '{mapping.time_format}'" if mapping.time_format else \
            " (set time_format, e.g. '%Y%m%d', for non-ISO text)"
        raise DataValidationError(
            f"column '{time_col}': {ts_bad} rows have timestamps that cannot be parsed{hint}, "
            f"e.g. '{example(_quote(time_col), time_sql)}' (rule: parseable timestamp)",
            column=time_col, rule="parseable timestamp", n_rows=int(ts_bad))
    amount_col = mapping.amount
    for count, what, rule in (
            (amt_null, "no amount", "amount required"),
            (amt_bad, "non-numeric amounts", "numeric amount"),
            (amt_nan, "NaN amounts", "finite amount"),
            (amt_inf, "infinite amounts", "finite amount")):
        if count:
            if rule == "numeric amount":
                what += f", e.g. '{example(amount_sql, f'try_cast(({amount_sql}) AS DOUBLE)')}'"
            raise DataValidationError(
                f"amount '{amount_col}': {count} rows have {what} (rule: {rule})",
                column=amount_col, rule=rule, n_rows=int(count))

    flags = {"order": mapping.order is not None, "quantity": mapping.quantity is not None,
             "category": mapping.category is not None, "domain": mapping.domain is not None}
    canonical = ["customer_id", "ts", "amount"] + [
        col for col, role in (("order_id", "order"), ("quantity", "quantity"),
                              ("category", "category"), ("domain", "domain")) if flags[role]]
    kept, arrays, dup_kept = _sort_kept(con, staged, canonical, flags,
                                        cleaning.drop_duplicates)
    fates = {"missing_customer_id": n_missing_id, "after_data_end": n_after_end,
             "zero_amount": n_zero, "refund_dropped": n_refund_dropped}
    if arrays.n_rows == 0:
        raise DataValidationError(
            f"no rows are left after cleaning ({rows_read} read): {fates}",
            rule="non-empty input", n_rows=0)
    dup_all = None
    if cleaning.drop_duplicates:
        dup_all = dup_kept + (rows_read - arrays.n_rows - dup_kept) - distinct_dropped
    # The cleaned log stays queryable in DuckDB: a view over the sorted Arrow table (no copy).
    con.register(f"{table}_arrow", kept)
    columns = ", ".join(name if name in canonical else f"NULL::{_OPTIONAL_TYPES[name]} AS {name}"
                        for name in CANONICAL_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {columns} FROM {table}_arrow")
    con.execute(f"DROP {kind} {staged}")  # the cleaned log holds everything now
    if type(source).__module__.split(".")[0] in ("pandas", "polars", "pyarrow"):
        con.unregister(raw)

    dropped = {"exact_duplicates": dup_kept}
    dropped.update(fates)
    tz_aware = "TIME ZONE" in types[mapping.time] or types[mapping.time].startswith("TIMESTAMPTZ")
    tmin, tmax = _datetime(arrays.ts.min()), _datetime(arrays.ts.max())
    quality = DataQualityReport(
        rows_read=rows_read,
        rows_kept=arrays.n_rows,
        dropped=dropped,
        kept_with_notes={"refund_rows_kept": int((arrays.amount < 0).sum()),
                         "zero_amount_rows_kept": int((arrays.amount == 0).sum())},
        duplicate_rows_in_input=dup_all,
        n_customers=arrays.n_customers,
        time_min=str(tmin), time_max=str(tmax),
        notes=(["timezone-aware timestamps were normalised to UTC"] if tz_aware else []),
        mapping=mapping.to_dict(), cleaning=cleaning.to_dict(),
    )
    quality.check_balance()
    if data_end is None:
        data_end = tmax.date()
    return TransactionLog(
        con=con, table=table, quality=quality, time_min=tmin, time_max=tmax, data_end=data_end,
        mapping=mapping, has_order=flags["order"], has_quantity=flags["quantity"],
        has_category=flags["category"], has_domain=flags["domain"], arrays=arrays,
    )


def _sort_kept(con: duckdb.DuckDBPyConnection, staged: str, canonical: list[str],
               flags: dict[str, bool], drop_duplicates: bool) -> tuple[pa.Table, LogArrays, int]:
    """The one sort of the log: the kept rows by (customer, ts, amount) as an Arrow table and
    as NumPy columns, without exact duplicates (when dropped), and how many were dropped.

    Rows tied on (customer, ts, amount) are read again with the hash of their input row and put
    back in hash order: ties in all four are exact duplicates, so the row order, and with it
    every float sum downstream, is fixed by the data alone. (The hash as a sort key of the
    whole log would cost a third more time, for the few rows that need it.)
    """
    cols = ", ".join(canonical)
    kept = con.sql(f"SELECT {cols} FROM {staged} WHERE fate = 'kept' "
                   "ORDER BY customer_id, ts, amount").to_arrow_table()
    starts, ids = customer_runs(kept.column("customer_id"))
    ts = timestamps_us(kept.column("ts"))
    amount = numbers(kept.column("amount"), np.float64)
    tied, first = tied_rows(starts, ts, amount)
    dup = np.zeros(len(ts), dtype=bool)
    if len(tied):
        con.register("_tie_keys", kept.select(["customer_id", "ts", "amount"])
                     .take(pa.array(tied[first])))
        again = con.sql(f"""
            SELECT {", ".join("s." + c for c in canonical)}, s.__row_hash FROM {staged} s
            SEMI JOIN _tie_keys k
              ON s.customer_id = k.customer_id AND s.ts = k.ts AND s.amount = k.amount
            WHERE s.fate = 'kept' ORDER BY s.customer_id, s.ts, s.amount, s.__row_hash
        """).to_arrow_table()
        con.unregister("_tie_keys")
        if again.num_rows != len(tied):
            raise AssertionError(f"{len(tied)} tied rows, {again.num_rows} read again")
        # Same keys in the same places: the customer runs, ts and amount stay as they are.
        index = np.arange(len(ts))
        index[tied] = len(ts) + np.arange(len(tied))
        kept = pa.concat_tables([kept, again.select(canonical)]).take(pa.array(index))
        if drop_duplicates:
            row_hash = again.column("__row_hash").to_numpy()
            dup[tied[1:]] = ~first[1:] & (row_hash[1:] == row_hash[:-1])
    arrays = LogArrays(customer_ids=ids, customer_starts=starts, ts=ts, amount=amount,
                       **optional_columns(kept, flags))
    n_dup = int(dup.sum())
    if n_dup:
        arrays = arrays.take(np.flatnonzero(~dup))
        kept = kept.filter(pa.array(~dup))
    return kept, arrays, n_dup


def _datetime(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))


def duckdb_date(value: Any):
    """Parse a date given as text, date or datetime into a ``datetime.date``."""
    from ltvkit.data.task import parse_date
    from ltvkit.errors import TaskError

    try:
        return parse_date(value, "date")
    except TaskError:
        raise DataValidationError(f"not a date (YYYY-MM-DD): '{value}'", rule="date") from None


def read_domains(sources: dict[str, Any], mapping: ColumnMapping | None = None,
                 cleaning: CleaningRules | None = None, *,
                 read_options: dict[str, Any] | None = None) -> TransactionLog:
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
    con = new_connection()
    selects = []
    for i, (domain, source) in enumerate(sources.items()):
        view = f"_domain_src_{i}"
        _register_source(con, source, view, read_options)
        selects.append(f"SELECT *, '{domain.replace(chr(39), chr(39) * 2)}' AS __domain "
                       f"FROM {view}")
    union = con.sql(" UNION ALL BY NAME ".join(selects))
    from dataclasses import replace

    return read_transactions(union, replace(mapping, domain="__domain"), cleaning, con=con)
