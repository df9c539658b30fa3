"""A log engine without DuckDB, for small in-memory logs: the rows of one service request.

:class:`ArrowEngine` (``read_transactions(..., engine=ArrowEngine())``) reads an Arrow table of
typed columns and fills the same :class:`~ltvkit.data.log.TransactionLog` contract as the
DuckDB engine: the same column mapping, the same validation rules and messages (it counts the
offending rows and hands the counts to :func:`ltvkit.data.validation.check_rows`), the same row fates and data-quality
report (:func:`ltvkit.data.cleaning.quality_report`), exact duplicates dropped, and the kept
rows sorted by (customer, ts, amount) as :class:`~ltvkit.data.arrays.LogArrays`. The datasets
``build_dataset`` makes from either engine's log are identical: the numbers come from the same
compiled walks over the same sorted columns.

What it reads: a ``pyarrow.Table`` (or record batch) whose customer column is integer, floating
or text, time column a timestamp (with or without a zone) or a date, amount and quantity
numeric; order, category and domain any type Arrow casts to text. Text timestamps, SQL
expressions for the amount and text amounts are the DuckDB engine's work and are refused here
with a one-line error. What it saves is the DuckDB engine's fixed cost per read (a dozen SQL
statements, each planned and run), which dominates when the log is one customer's history; here
a read is a few NumPy calls and compiled passes. ``log_from_records`` codes plain Python lists
(a service request's columns) without building an Arrow table at all.

Rows tied on (customer, ts, amount) are put in the order of their whole input row (each input
column's value code: numbers and times in value order, text in first-appearance order), so the
order is fixed by the data alone; rows equal in every input column are exact duplicates.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from ltvkit.data.arrays import LogArrays, optional_columns
from ltvkit.data.cleaning import (
    DROP_FATES,
    MAX_ABS_AMOUNT,
    RowCounts,
    check_not_empty,
    parse_day,
)
from ltvkit.data.engine import LogEngine, cleaned_log
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import OPTIONAL_ROLES, CleaningRules, ColumnMapping, mapped_roles
from ltvkit.data.validation import check_rows, require_column
from ltvkit.errors import DataValidationError

# What DuckDB's trim() removes from ids: the Unicode space separators (category Zs), not tabs
# or line breaks.
_SPACES = ("\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
           "\u200a\u202f\u205f\u3000")
_MISSING_ID_TEXTS = frozenset(("", "nan", "none", "null"))
_US_PER_DAY = 86_400_000_000
# The fate codes of the rows: 0 kept, then DROP_FATES in order.
_KEPT = 0


def _refuse(column: str, ctype: pa.DataType, wanted: str) -> DataValidationError:
    return DataValidationError(
        f"column '{column}': type {ctype} is not read by the arrow engine, which takes {wanted} "
        "(the duckdb engine reads any type) (rule: typed column)",
        column=column, rule="typed column")


def _as_table(source: Any) -> pa.Table:
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    raise DataValidationError(
        f"unsupported input of type {type(source).__name__} for the arrow engine: pass an Arrow "
        "table (the duckdb engine reads files, DataFrames and relations)",
        rule="supported input")


def _combined(column: pa.ChunkedArray) -> pa.Array:
    if column.type == pa.null():
        return pa.nulls(len(column), pa.string())
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _id_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip(_SPACES)
    return None if text.lower() in _MISSING_ID_TEXTS else text


def _id_float(value: float | None) -> str | None:
    if value is None or value != value:
        return None
    return str(int(value)) if value == np.floor(value) else repr(float(value))


@dataclass
class _Customers:
    """The customer column as DuckDB maps it, coded once for every later step.

    ``ids`` are the distinct mapped ids in DuckDB's order (int64 for integer columns, else
    text: whole floats as "17850", ids that are blank or read "nan"/"none"/"null" missing;
    text in bytewise order, which is Python's code-point order of ``str``); ``rank`` [n] is
    each row's position in ``ids`` (-1: missing); ``raw`` [n] codes the *input* values (equal
    exactly for equal input values, -1 for null), for the rows' exact-duplicate groups."""

    ids: np.ndarray
    rank: np.ndarray
    raw: np.ndarray


def _customer(column: pa.Array, name: str) -> _Customers:
    ctype = column.type
    if pa.types.is_integer(ctype):
        valid = _valid(column)
        values = _ints(column)
        ids, rank = np.unique(values if valid is None else values[valid], return_inverse=True)
        rank = rank.astype(np.int64).reshape(-1)
        if valid is not None:
            rank = _scatter(rank, valid)
        return _Customers(ids=ids.astype(np.int64), rank=rank, raw=rank)
    if pa.types.is_floating(ctype):
        convert = _id_float
    elif pa.types.is_string(ctype) or pa.types.is_large_string(ctype):
        convert = _id_text
    else:
        raise _refuse(name, ctype, "integer, floating or text customer ids")
    # One conversion per distinct input value (a request repeats one id on every row).
    enc = pc.dictionary_encode(column)
    raw = _ints(enc.indices, fill=-1)
    texts = [convert(v) for v in enc.dictionary.to_pylist()]
    ids = sorted({t for t in texts if t is not None})
    position = {t: i for i, t in enumerate(ids)}
    # The last entry (-1) is what a null input value's code (-1) picks.
    by_code = np.array([position.get(t, -1) for t in texts] + [-1], dtype=np.int64)
    return _Customers(ids=np.array(ids, dtype=object), rank=by_code[raw], raw=raw)


def _valid(column: pa.Array) -> np.ndarray | None:
    """The non-null mask of ``column`` (None: no nulls)."""
    return column.is_valid().to_numpy(zero_copy_only=False) if column.null_count else None


def _ints(column: pa.Array, fill: int = 0) -> np.ndarray:
    """An integer (or timestamp / date, as its int64 storage) column as int64, ``fill`` where
    null."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date64(column.type):
        column = column.view(pa.int64())
    elif pa.types.is_date32(column.type):
        column = column.view(pa.int32())
    if column.null_count:
        column = column.fill_null(fill)
    return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _scatter(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.full(len(valid), -1, dtype=np.int64)
    out[valid] = codes
    return out


def _timestamps(column: pa.Array, name: str) -> tuple[pa.Array, bool]:
    """(timestamps in microseconds, naive UTC; whether the column had a time zone)."""
    ctype = column.type
    if pa.types.is_timestamp(ctype):
        aware = ctype.tz is not None
        if ctype.unit != "us":
            column = pc.cast(column, pa.timestamp("us", ctype.tz), safe=False)
        # A zone-aware column stores UTC instants: its values are the naive UTC timestamps.
        return column.view(pa.int64()), aware
    if pa.types.is_date(ctype):
        return pc.cast(column, pa.timestamp("us")).view(pa.int64()), False
    raise _refuse(name, ctype, "timestamps or dates (text is parsed by the duckdb engine)")


def _number(column: pa.Array, name: str, what: str) -> pa.Array:
    ctype = column.type
    if not (pa.types.is_integer(ctype) or pa.types.is_floating(ctype)
            or pa.types.is_decimal(ctype) or ctype == pa.null()):
        raise _refuse(name, ctype, f"a numeric {what} column (an SQL expression or text is "
                                   "mapped by the duckdb engine)")
    return column if ctype == pa.float64() else column.cast(pa.float64())


def _floats(column: pa.Array) -> np.ndarray:
    """Values as float64, NaN where null."""
    return column.fill_null(np.nan).to_numpy(zero_copy_only=False) if column.null_count \
        else column.to_numpy(zero_copy_only=False)


def _value_codes(column: pa.Array) -> np.ndarray:
    """[n] int64 codes of a column's values: equal exactly for equal values (NaN equals NaN),
    -1 for null. Numbers and times by NumPy (a request's columns are small: an Arrow call's
    fixed cost is most of the work), anything else by Arrow's dictionary encoding."""
    ctype = column.type
    if pa.types.is_integer(ctype) or pa.types.is_timestamp(ctype) or pa.types.is_date(ctype):
        values = _ints(column)
    elif pa.types.is_floating(ctype):
        values = _floats(column if ctype == pa.float64() else column.cast(pa.float64()))
    else:
        return _ints(pc.dictionary_encode(column).indices, fill=-1)
    codes = np.unique(values, return_inverse=True)[1].astype(np.int64).reshape(-1)
    valid = _valid(column)
    return codes if valid is None else np.where(valid, codes, -1)


def _row_groups(table: pa.Table, known: dict[str, np.ndarray]) -> np.ndarray:
    """[n] int64: equal exactly for rows equal in every input column (nulls equal nulls);
    ``known`` holds the value codes of columns coded already."""
    group = np.zeros(table.num_rows, dtype=np.int64)
    size = 1  # group < size
    for name, column in zip(table.column_names, table.columns, strict=True):
        codes = known[name] if name in known else _value_codes(_combined(column))
        radix = int(codes.max(initial=-1)) + 2
        if size * radix >= 2**62:
            group = np.unique(group, return_inverse=True)[1].astype(np.int64).reshape(-1)
            size = int(group.max(initial=0)) + 1
        group = group * radix + (codes + 1)
        size *= radix
    return group


class _Groups:
    """The rows' whole-input-row codes of :func:`_row_groups`, made on first use (a read
    without ties on (customer, ts, amount) or dropped rows never needs them)."""

    def __init__(self, table: Callable[[], pa.Table], known: dict[str, np.ndarray]):
        self._table, self._known, self._group = table, known, None

    def __call__(self) -> np.ndarray:
        if self._group is None:
            self._group = _row_groups(self._table(), self._known)
        return self._group


def _mapped(table: pa.Table, mapping: ColumnMapping
            ) -> tuple[_Customers, dict[str, pa.Array], bool]:
    """The coded customer column, the other canonical columns of the input (unmapped
    optional ones left out) and whether the timestamps had a time zone."""
    col = {name: _combined(table.column(name)) for name in table.column_names}
    ts, aware = _timestamps(col[mapping.time], mapping.time)
    customers = _customer(col[mapping.customer], mapping.customer)
    out = {"ts": ts, "amount": _number(col[mapping.amount], mapping.amount, "amount")}
    for role, canonical in OPTIONAL_ROLES.items():
        source = getattr(mapping, role)
        if source is None:
            continue
        if role == "quantity":
            out[canonical] = _number(col[source], source, "quantity")
        else:
            out[canonical] = col[source].cast(pa.string())
    return customers, out, aware


def _counts(customers: _Customers, amount_valid: np.ndarray | None, groups: _Groups,
            fate: np.ndarray, amount: np.ndarray, ts_missing: int) -> RowCounts:
    """The counts of :func:`ltvkit.data.cleaning.count_rows`, from the mapped columns and the
    rows' fates."""
    valid = _ALL_VALID if amount_valid is None else amount_valid
    n_missing, n_nan, n_inf, n_huge, spend = _amount_counts(amount, valid, MAX_ABS_AMOUNT)
    # Per fate: 0 kept, then DROP_FATES in order (the sums by NumPy, as they always were).
    n_fate = np.bincount(fate, minlength=len(DROP_FATES) + 1)
    spend_fate = np.bincount(fate, weights=spend, minlength=len(DROP_FATES) + 1)
    n_dropped = len(fate) - int(n_fate[_KEPT])
    distinct_dropped = len(np.unique(groups()[fate != _KEPT])) if n_dropped else 0
    return RowCounts(
        rows_read=len(fate), ts_missing=ts_missing, ts_bad=0,
        amount_missing=n_missing, amount_bad=0, amount_nan=n_nan, amount_inf=n_inf,
        fates={f: int(n_fate[k + 1]) for k, f in enumerate(DROP_FATES)},
        distinct_dropped=distinct_dropped, amount_huge=n_huge,
        quantity_bad=0, customers_in_log=len(customers.ids), spend=float(spend.sum()),
        fate_spend={f: float(spend_fate[k + 1]) for k, f in enumerate(DROP_FATES)})


_ALL_VALID = np.zeros(0, dtype=np.bool_)  # "no nulls" for the kernels' validity masks


@njit(cache=True, nogil=True)
def _amount_counts(amount: np.ndarray, valid: np.ndarray, max_abs: float):
    """(missing, NaN, infinite and too large amounts; each row's absolute finite spend, 0
    otherwise) in one pass; ``valid`` empty: no nulls (a null amount is NaN in ``amount``)."""
    n_missing = n_nan = n_inf = n_huge = 0
    spend = np.zeros(len(amount), dtype=np.float64)
    for i in range(len(amount)):
        x = amount[i]
        if len(valid) and not valid[i]:
            n_missing += 1
        elif np.isnan(x):
            n_nan += 1
        elif np.isinf(x):
            n_inf += 1
        else:
            spend[i] = abs(x)
            if abs(x) >= max_abs:
                n_huge += 1
    return n_missing, n_nan, n_inf, n_huge, spend


def _fates(customers: _Customers, ts: np.ndarray, amount: np.ndarray,
           cleaning: CleaningRules, data_end: dt.date | None) -> np.ndarray:
    """Each row's fate: 0 kept, else 1 + the index in DROP_FATES of the first rule that drops
    it (the order of :func:`ltvkit.data.cleaning.fate_select`)."""
    end_us = ((data_end - dt.date(1970, 1, 1)).days + 1) * _US_PER_DAY if data_end else 0
    return _row_fates(customers.rank, ts, amount, data_end is not None, end_us,
                      cleaning.zero_amounts == "drop", cleaning.refunds == "drop")


@njit(cache=True, nogil=True)
def _row_fates(rank: np.ndarray, ts: np.ndarray, amount: np.ndarray, has_end: bool,
               end_us: int, drop_zero: bool, drop_refunds: bool) -> np.ndarray:
    fate = np.zeros(len(ts), dtype=np.int8)
    for i in range(len(ts)):
        if rank[i] < 0:
            fate[i] = 1
        elif has_end and ts[i] >= end_us:
            fate[i] = 2
        elif drop_zero and amount[i] == 0:
            fate[i] = 3
        elif drop_refunds and amount[i] < 0:
            fate[i] = 4
    return fate


class ArrowEngine(LogEngine):
    """The engine for small in-memory logs: an Arrow table of typed columns, no DuckDB.

    Options: ``con``, the DuckDB connection the log carries for ``build_dataset``'s attribute
    join (a new one by default: pass one to save its set-up when reading many small logs);
    ``read_options`` and ``table`` are ignored (the log is held as NumPy columns only, its
    ``table`` is None).
    """

    name = "arrow"

    def read(self, source: Any, mapping: ColumnMapping, cleaning: CleaningRules, *,
             con=None, read_options: dict[str, Any] | None = None,
             table: str | None = None) -> TransactionLog:
        raw = _as_table(source)
        types = {f.name: str(f.type) for f in raw.schema}
        require_column(mapping.customer, "customer", types)
        require_column(mapping.time, "time", types)
        for role in OPTIONAL_ROLES:
            if getattr(mapping, role) is not None:
                require_column(getattr(mapping, role), role, types)
        if mapping.amount not in types:
            raise DataValidationError(
                f"missing column or bad SQL expression '{mapping.amount}' for the amount: the "
                "arrow engine maps a column, not an expression; the input has: "
                f"{', '.join(types)}", column=mapping.amount, rule="column exists")
        customers, mapped, aware = _mapped(raw, mapping)
        rows = _Rows(customers=customers, ts=_ints(mapped["ts"]),
                     ts_missing=mapped["ts"].null_count, amount=_floats(mapped["amount"]),
                     amount_valid=_valid(mapped["amount"]),
                     optional={k: v for k, v in mapped.items() if k not in ("ts", "amount")},
                     tz_aware=aware, groups=_Groups(lambda: raw, {mapping.customer: customers.raw}))
        return _cleaned(rows, mapping, cleaning, con)

    def read_domains(self, sources: dict[str, Any], mapping: ColumnMapping,
                     cleaning: CleaningRules, *,
                     read_options: dict[str, Any] | None = None) -> TransactionLog:
        tables = []
        for domain, source in sources.items():
            t = _as_table(source)
            tables.append(t.append_column("__domain", pa.array([domain] * t.num_rows,
                                                               pa.string())))
        union = pa.concat_tables(tables, promote_options="permissive")
        return self.read(union, ColumnMapping(**{**mapping.to_dict(), "domain": "__domain"}),
                         cleaning)


@dataclass
class _Rows:
    """An input's rows as the engine's rules read them: the coded customers, timestamps (int64
    microseconds, naive UTC; 0 where missing), amounts (float64, NaN where missing), the
    mapped optional columns (Arrow, canonical names) and the rows' whole-input-row codes."""

    customers: _Customers
    ts: np.ndarray
    ts_missing: int
    amount: np.ndarray
    amount_valid: np.ndarray | None
    optional: dict[str, pa.Array]
    tz_aware: bool
    groups: _Groups


def _cleaned(rows: _Rows, mapping: ColumnMapping, cleaning: CleaningRules,
             con) -> TransactionLog:
    """The cleaned log of ``rows``: fates, counts and the counted rules, the kept rows sorted
    and exact duplicates dropped, the quality report."""
    data_end = _day(cleaning.data_end) if cleaning.data_end else None
    fate = _fates(rows.customers, rows.ts, rows.amount, cleaning, data_end)
    counts = _counts(rows.customers, rows.amount_valid, rows.groups, fate, rows.amount,
                     rows.ts_missing)
    # The counted rules and their messages are the DuckDB engine's: no text is parsed
    # here, so the two rules that quote an unparseable value (and read it back through a
    # connection) cannot fire.
    check_rows(None, "", mapping, None, counts)
    flags = mapped_roles(mapping)
    arrays, dup_kept = _sorted_kept(rows.customers, rows.optional, rows.ts, rows.amount, fate,
                                    rows.groups, flags, cleaning.drop_duplicates)
    check_not_empty(counts, arrays)
    return cleaned_log(arrays, counts, dup_kept, mapping, cleaning, data_end, rows.tz_aware,
                       flags, con=con)


@functools.lru_cache(maxsize=256)
def _day(value: str) -> dt.date:
    """:func:`parse_day` of a cleaning rule's text (a service reads many logs with the same
    rules)."""
    return parse_day(value)


def _sorted_kept(customers: _Customers, mapped: dict[str, pa.Array], ts: np.ndarray,
                 amount: np.ndarray, fate: np.ndarray, groups: _Groups,
                 flags: dict[str, bool], drop_duplicates: bool) -> tuple[LogArrays, int]:
    """The kept rows sorted by (customer, ts, amount, whole input row), exact duplicates
    dropped when asked; and how many were."""
    n_dup = 0
    kept = np.flatnonzero(fate == _KEPT) if fate.any() else np.arange(len(fate))
    keys = (amount[kept], ts[kept], customers.rank[kept])
    order = kept[np.lexsort(keys)]
    rank, s_ts, s_amount = customers.rank[order], ts[order], amount[order]
    # The whole input row decides only between rows tied on (customer, ts, amount), and only
    # such rows can be exact duplicates: without a tie the row codes are not needed (the
    # amounts are finite here, so == finds every tie).
    if _has_tie(rank, s_ts, s_amount):
        group = groups()
        order = kept[np.lexsort((group[kept], *keys))]
        if drop_duplicates:
            g = group[order]
            keep = np.ones(len(order), dtype=bool)
            keep[1:] = g[1:] != g[:-1]
            n_dup = len(order) - int(keep.sum())
            if n_dup:
                order = order[keep]
        rank, s_ts, s_amount = customers.rank[order], ts[order], amount[order]
    # The customers' row ranges and their ids (int64, or text in sorted order).
    first = _run_starts(rank)
    starts = np.empty(len(first) + 1, dtype=np.int64)
    starts[:-1], starts[-1] = first, len(rank)
    extra: dict = {}
    if any(flags.values()):
        index = pa.array(order)
        extra = optional_columns(pa.table({name: mapped[name].take(index)
                                           for name in OPTIONAL_ROLES.values()
                                           if name in mapped}), flags)
    arrays = LogArrays(customer_ids=customers.ids[rank[first]], customer_starts=starts,
                       ts=s_ts, amount=s_amount, **extra)
    return arrays, n_dup


@njit(cache=True, nogil=True)
def _has_tie(rank: np.ndarray, ts: np.ndarray, amount: np.ndarray) -> bool:
    """Whether two neighbouring rows of the sorted columns are equal in all three."""
    for i in range(1, len(rank)):
        if rank[i] == rank[i - 1] and ts[i] == ts[i - 1] and amount[i] == amount[i - 1]:
            return True
    return False


@njit(cache=True, nogil=True)
def _run_starts(rank: np.ndarray) -> np.ndarray:
    """The positions where a new value starts in the sorted ``rank``."""
    out = np.empty(len(rank), dtype=np.int64)
    n = 0
    for i in range(len(rank)):
        if i == 0 or rank[i] != rank[i - 1]:
            out[n] = i
            n += 1
    return out[:n]


def log_from_records(customer_id, timestamp, amount, *, order_id=None, quantity=None,
                     category=None, domain=None, cleaning: CleaningRules | None = None,
                     con=None) -> TransactionLog:
    """A :class:`TransactionLog` from columns given as sequences or arrays (ids as text or
    integers, timestamps as ``datetime`` or ``datetime64``, amounts as numbers): what a
    service request becomes. The optional roles are mapped exactly when given (None values
    inside them are missing). Read with :class:`ArrowEngine`'s rules and ``cleaning``.

    Python lists of text ids, naive ``datetime`` timestamps and numbers, without a None (a
    service request's columns), are coded straight into the engine's rows without Arrow: for
    a request's hundred rows the conversions and Arrow calls were most of the read. Anything
    else goes through an Arrow table and :meth:`ArrowEngine.read`."""
    cleaning = cleaning or CleaningRules()
    optional, roles = {}, {}
    for role, values, kind in (("order", order_id, pa.string()),
                               ("quantity", quantity, pa.float64()),
                               ("category", category, pa.string()),
                               ("domain", domain, pa.string())):
        if values is not None:
            optional[OPTIONAL_ROLES[role]] = _array(values, kind)
            roles[role] = OPTIONAL_ROLES[role]
    mapping = ColumnMapping(customer="customer_id", time="timestamp", amount="amount", **roles)

    def table() -> pa.Table:
        return pa.table({"customer_id": _array(customer_id), "timestamp": _array(timestamp),
                         "amount": _array(amount, pa.float64()), **optional})

    rows = _plain_rows(customer_id, timestamp, amount, optional, table)
    if rows is None:
        return ArrowEngine().read(table(), mapping, cleaning, con=con)
    return _cleaned(rows, mapping, cleaning, con)


_EPOCH = dt.datetime(1970, 1, 1)
_ONE_US = dt.timedelta(microseconds=1)


def _plain_rows(customer_id, timestamp, amount, optional: dict[str, pa.Array],
                table: Callable[[], pa.Table]) -> _Rows | None:
    """The rows of plain Python columns (lists of ``str`` ids, naive ``datetime``s and
    ``float`` / ``int`` amounts, no None), coded as :func:`_mapped` codes the Arrow table of
    the same values; None for any other input."""
    if not (type(customer_id) is list and type(timestamp) is list and type(amount) is list):
        return None
    n = len(customer_id)
    distinct = dict.fromkeys(customer_id)  # first appearance: Arrow's dictionary order
    if not n or len(timestamp) != n or len(amount) != n or \
            {type(v) for v in distinct} != {str} or set(map(type, timestamp)) != {dt.datetime} \
            or not set(map(type, amount)) <= {float, int}:
        return None
    texts = [_id_text(v) for v in distinct]
    ids = sorted({t for t in texts if t is not None})
    position = {t: i for i, t in enumerate(ids)}
    by_code = np.array([position.get(t, -1) for t in texts], dtype=np.int64)
    if len(distinct) == 1:
        raw = np.zeros(n, dtype=np.int64)
    else:
        code = {v: i for i, v in enumerate(distinct)}
        raw = np.fromiter(map(code.__getitem__, customer_id), dtype=np.int64, count=n)
    customers = _Customers(ids=np.array(ids, dtype=object), rank=by_code[raw], raw=raw)
    try:
        ts = np.array([(t - _EPOCH) // _ONE_US for t in timestamp], dtype=np.int64)
        values = np.array(amount, dtype=np.float64)
    except TypeError:  # a zone-aware datetime: Arrow converts it to UTC and notes it
        return None
    except OverflowError:  # an integer amount beyond float64: Arrow's error
        return None
    return _Rows(customers=customers, ts=ts, ts_missing=0, amount=values, amount_valid=None,
                 optional=optional, tz_aware=False,
                 groups=_Groups(table, {"customer_id": raw}))


def _array(values, kind: pa.DataType | None = None) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return pa.array(values.astype("datetime64[us]"))
    return pa.array(values, kind) if kind is not None else pa.array(values)
