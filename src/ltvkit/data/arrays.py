"""The cleaned log as sorted NumPy columns: what the dataset kernels walk.

DuckDB reads, validates and sorts the log once (by customer, timestamp, amount and a hash of the
whole input row). Two things follow from the sort:

* the rows of one customer are contiguous and in time order, so a customer is a row range
  (``customer_starts``) and first/last purchase days and gaps need no further sort;
* the order in which floats are added up is fixed by the data alone (ties in the sort key are
  exact duplicates), so a dataset built twice is bit-identical, whatever the thread count.

The helpers here turn the sorted Arrow result into those columns, chunk by chunk where they can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit, prange

US_PER_DAY = 86_400_000_000



def kernel_array(a: np.ndarray | None, dtype: type) -> np.ndarray | None:
    """``a`` as the one array type the compiled kernels take (C-contiguous, writeable,
    ``dtype``): a read-only or strided array (zero-copy from a single Arrow chunk) would
    compile, and cache, a second version of every kernel."""
    if a is None or (type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous
                     and a.flags.writeable):
        return a  # already so (checked here: np.require's own checks cost more)
    return np.require(a, dtype=dtype, requirements=["C", "W"])

@dataclass
class LogArrays:
    """The kept rows of a log, sorted by (customer, timestamp).

    customer_ids [n_customers]: the distinct ids in the log's sort order (int64 or str objects)
    customer_starts [n_customers + 1] int64: the first row of every customer, then n_rows
    ts [n_rows] int64: microseconds since 1970-01-01 UTC; amount [n_rows] float64
    order, category, domain [n_rows] int64 codes (-1 = missing) or None when not mapped
    quantity [n_rows] float64 (NaN = missing) or None when not mapped
    domain_names: the domain of each domain code
    """

    customer_ids: np.ndarray
    customer_starts: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    order: np.ndarray | None = None
    quantity: np.ndarray | None = None
    category: np.ndarray | None = None
    domain: np.ndarray | None = None
    domain_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        fixed = kernel_array
        self.customer_starts = fixed(self.customer_starts, np.int64)
        self.ts, self.amount = fixed(self.ts, np.int64), fixed(self.amount, np.float64)
        self.quantity = fixed(self.quantity, np.float64)
        self.order, self.category = fixed(self.order, np.int64), fixed(self.category, np.int64)
        self.domain = fixed(self.domain, np.int64)

    @property
    def n_rows(self) -> int:
        return len(self.ts)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def row_customers(self) -> np.ndarray:
        """[n_rows] the customer code of every row (built on demand: the kernels walk
        ``customer_starts`` instead)."""
        return np.repeat(np.arange(self.n_customers, dtype=np.int64),
                         np.diff(self.customer_starts))

    def take(self, index: np.ndarray) -> LogArrays:
        """The rows ``index`` (sorted positions), customers renumbered to those left."""
        def pick(a):
            return None if a is None else a[index]
        cust = self.row_customers()[index]
        starts = np.append(np.flatnonzero(run_starts(cust)), len(cust))
        return LogArrays(customer_ids=self.customer_ids[cust[starts[:-1]]],
                         customer_starts=starts, ts=self.ts[index],
                         amount=self.amount[index], order=pick(self.order),
                         quantity=pick(self.quantity), category=pick(self.category),
                         domain=pick(self.domain), domain_names=self.domain_names)


# nogil: while one read walks its rows, a read in another thread (the events) goes on.
@njit(cache=True, nogil=True)
def _runs_into(values, offset, starts, firsts, k):
    """Append to ``starts`` / ``firsts`` the position and value of every run that starts in
    this chunk of sorted values (``k`` runs so far, the last one's value in ``firsts[k-1]``)."""
    for i in range(len(values)):
        if k == 0 or values[i] != firsts[k - 1]:
            starts[k] = offset + i
            firsts[k] = values[i]
            k += 1
    return k


def sorted_runs(chunks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(starts, values) of the runs of sorted integers given in chunks (no copy of the whole
    column): the first position of every run, then the length; and each run's value."""
    n = sum(len(c) for c in chunks)
    # Only the pages written are touched: about one entry per run.
    starts = np.empty(n + 1, dtype=np.int64)
    firsts = np.empty(n, dtype=np.int64)
    k, offset = 0, 0
    for values in chunks:
        k = _runs_into(values.astype(np.int64, copy=False), offset, starts, firsts, k)
        offset += len(values)
    starts[k] = n
    return starts[:k + 1].copy(), firsts[:k].copy()


@njit(cache=True, nogil=True)
def tied_rows(starts, ts, amount):
    """(positions, first) of the rows that share customer, timestamp and amount with a
    neighbour; ``first`` marks the first row of each such run."""
    out = np.empty(len(ts), dtype=np.int64)
    first = np.empty(len(ts), dtype=np.bool_)
    k = 0
    for c in range(len(starts) - 1):
        for r in range(starts[c] + 1, starts[c + 1]):
            if ts[r] == ts[r - 1] and amount[r] == amount[r - 1]:
                if k == 0 or out[k - 1] != r - 1:
                    out[k] = r - 1
                    first[k] = True
                    k += 1
                out[k] = r
                first[k] = False
                k += 1
    return out[:k].copy(), first[:k].copy()


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean [n]: True where a run of equal key tuples starts (keys sorted together)."""
    n = len(keys[0])
    new = np.empty(n, dtype=bool)
    if n == 0:
        return new
    new[0] = True
    np.not_equal(keys[0][1:], keys[0][:-1], out=new[1:])
    for k in keys[1:]:
        new[1:] |= k[1:] != k[:-1]
    return new


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Dictionary codes (-1 for null) and the dictionary of a column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary.to_pylist()


def numbers(column: pa.ChunkedArray, dtype) -> np.ndarray:
    """A numeric column as NumPy (nulls as NaN)."""
    # Arrow writes the nulls of a float column as NaN itself: no filled copy of the column.
    if column.null_count and not pa.types.is_floating(column.type):
        column = column.fill_null(np.nan)
    return np.asarray(column.to_numpy(), dtype=dtype)


def timestamps_us(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 microseconds since 1970-01-01."""
    if column.type != pa.timestamp("us"):
        column = column.cast(pa.timestamp("us"))
    # The same buffers read as int64 (no copy), then one copy into a contiguous array.
    return pa.chunked_array([c.view(pa.int64()) for c in column.chunks],
                            type=pa.int64()).to_numpy()


def customer_runs(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, distinct ids) of a customer column sorted by customer."""
    if pa.types.is_integer(column.type):
        return sorted_runs([chunk.to_numpy() for chunk in column.chunks])
    # Rows are sorted, so the dictionary's first-appearance order is the sort order.
    indices, ids = _codes(column)
    starts, _ = sorted_runs([indices])
    return starts, np.asarray(ids, dtype=object)


def optional_columns(table: pa.Table, flags: dict[str, bool]) -> dict:
    """The LogArrays fields of the optional columns that ``flags`` says are mapped."""
    out: dict = {}
    if flags["order"]:
        out["order"] = _codes(table.column("order_id"))[0]
    if flags["quantity"]:
        out["quantity"] = numbers(table.column("quantity"), np.float64)
    if flags["category"]:
        out["category"] = _codes(table.column("category"))[0]
    if flags["domain"]:
        out["domain"], names = _codes(table.column("domain"))
        out["domain_names"] = tuple(names)
    return out


# Customers per group of the counting sort's first pass: 2 ** (bits of n - _GROUP_BITS).
_GROUP_BITS = 8


@njit(cache=True, nogil=True)
def _place_chunk(code, ts, kind, value, domain, shift, next_slot, ends, out_code, out_ts,
                 out_kind, out_value, out_domain):
    """Write the rows of one chunk into the next free slots of their group ``code >> shift``
    (input order kept within a group); ``domain`` empty when no domain is mapped. False (and
    nothing more written) when a group gets more rows than counted."""
    has_domain = len(domain) > 0
    for i in range(len(code)):
        g = code[i] >> shift
        slot = next_slot[g]
        if slot >= ends[g]:
            return False
        next_slot[g] = slot + 1
        out_code[slot] = code[i]
        out_ts[slot] = ts[i]
        out_kind[slot] = kind[i]
        out_value[slot] = value[i]
        if has_domain:
            out_domain[slot] = domain[i]
    return True


@njit(cache=True, nogil=True)
def _sort_runs_by_time(starts, ts, kind, value, domain):
    """Sort every customer's rows by time in place, stably, moving the other columns along
    (insertion sort: a customer's events are few, and often arrive nearly in order)."""
    has_domain = len(domain) > 0
    for c in range(len(starts) - 1):
        lo, hi = starts[c], starts[c + 1]
        for r in range(lo + 1, hi):
            t = ts[r]
            if t >= ts[r - 1]:
                continue
            k, v = kind[r], value[r]
            d = domain[r] if has_domain else 0
            j = r - 1
            while j >= lo and ts[j] > t:
                ts[j + 1] = ts[j]
                kind[j + 1] = kind[j]
                value[j + 1] = value[j]
                if has_domain:
                    domain[j + 1] = domain[j]
                j -= 1
            ts[j + 1] = t
            kind[j + 1] = k
            value[j + 1] = v
            if has_domain:
                domain[j + 1] = d


@njit(cache=True, parallel=True)
def _place_groups(group_starts, shift, g_code, g_ts, g_kind, g_value, g_domain, starts, ts,
                  kind, value, domain):
    """The second pass of :func:`customer_time_order`, one group per thread at a time: the
    rows of a group (contiguous after the first pass, in arrival order) into their customers'
    slots, then each of its customers' rows sorted by time. Groups hold disjoint customers
    and disjoint stretches of the output, so the threads share nothing."""
    has_domain = len(domain) > 0
    n_codes = len(starts) - 1
    for g in prange(len(group_starts) - 1):
        lo_code = g << shift
        hi_code = min((g + 1) << shift, n_codes)
        next_slot = starts[lo_code:hi_code].copy()
        for r in range(group_starts[g], group_starts[g + 1]):
            k = g_code[r] - lo_code
            slot = next_slot[k]
            next_slot[k] = slot + 1
            ts[slot] = g_ts[r]
            kind[slot] = g_kind[r]
            value[slot] = g_value[r]
            if has_domain:
                domain[slot] = g_domain[r]
        _sort_runs_by_time(starts[lo_code:hi_code + 1], ts, kind, value, domain)


def group_shift(n_codes: int) -> int:
    """The shift of the groups of :func:`customer_time_order` (``code >> shift``): a few
    hundred groups of customers."""
    return max(0, int(n_codes - 1).bit_length() - _GROUP_BITS)


def n_groups(n_codes: int) -> int:
    """How many groups of customers :func:`customer_time_order` places ``n_codes`` codes in."""
    return ((n_codes - 1) >> group_shift(n_codes)) + 1 if n_codes else 0


def customer_time_order(n_codes: int, group_counts: np.ndarray, chunks, has_domain: bool):
    """Rows sorted by (customer code, time) as they stream in, without a database sort of the
    whole table: a compiled counting sort by the customer codes, then an insertion sort of
    each customer's few rows by time.

    The counting sort places the rows in two passes: as the chunks arrive, by group of
    customers (``code >> group_shift(n_codes)``, a few hundred groups, so the pass writes a few
    hundred sequential streams); then, within each group's now contiguous rows, by customer.
    Placing 20M rows straight by customer writes to random places of half a gigabyte and ran
    three times slower.

    ``group_counts`` [n groups] the rows of each group; ``chunks`` yields (code, ts, kind,
    value, domain) NumPy arrays of one batch each (codes 0 .. n_codes - 1, domain None without
    one). Returns (starts [n_codes + 1], ts int64, kind int32, value float64, domain int64 or
    None); a code without rows has an empty run. Rows tied in (customer, time) keep their
    input order."""
    shift = group_shift(n_codes)
    group_starts = np.zeros(len(group_counts) + 1, dtype=np.int64)
    np.cumsum(group_counts, out=group_starts[1:])
    n = int(group_starts[-1])

    def columns(size: int, domain: bool):
        return (np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int32),
                np.empty(size, dtype=np.float64),
                np.empty(size if domain else 0, dtype=np.int64))

    g_code = np.empty(n, dtype=np.int32)
    g_cols = columns(n, has_domain)
    no_domain = np.empty(0, dtype=np.int64)
    next_slot, ends = group_starts[:-1].copy(), group_starts[1:]
    for code, c_ts, c_kind, c_value, c_domain in chunks:
        if not _place_chunk(code, c_ts, c_kind, c_value,
                            no_domain if c_domain is None else c_domain, shift, next_slot,
                            ends, g_code, *g_cols):
            raise AssertionError("customer_time_order: more rows than counted")
    if not np.array_equal(next_slot, ends):
        raise AssertionError("customer_time_order: fewer rows than counted")
    # Second pass: the rows of each group, in order, into their customers' slots (a write
    # stays inside the group's own stretch of the output).
    starts = np.zeros(n_codes + 1, dtype=np.int64)
    np.cumsum(count_codes(n_codes, [g_code]), out=starts[1:])
    if not np.array_equal(starts[np.minimum(np.arange(len(group_starts)) << shift, n_codes)],
                          group_starts):
        raise AssertionError("customer_time_order: a group's rows are not its customers'")
    ts, kind, value, domain = columns(n, has_domain)
    _place_groups(group_starts, shift, g_code, *g_cols, starts, ts, kind, value, domain)
    return starts, ts, kind, value, (domain if has_domain else None)


def group_counts_of(counts: np.ndarray) -> np.ndarray:
    """The group counts of :func:`customer_time_order` from the rows of every code."""
    if not len(counts):
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(counts, np.arange(0, len(counts), 1 << group_shift(len(counts))))


@njit(cache=True, nogil=True)
def _count_into(code, counts):
    for i in range(len(code)):
        c = code[i]
        if c < 0 or c >= len(counts):
            return False
        counts[c] += 1
    return True


def count_codes(n_codes: int, chunks) -> np.ndarray:
    """[n_codes] int64: how often each code 0 .. n_codes - 1 occurs in the chunks."""
    counts = np.zeros(int(n_codes), dtype=np.int64)
    for code in chunks:
        if not _count_into(code, counts):
            raise AssertionError(f"count_codes: a code outside 0 .. {n_codes - 1}")
    return counts
