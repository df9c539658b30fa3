"""The cleaned log as sorted NumPy columns: what the dataset builder scans.

DuckDB reads, validates and sorts the log once (by customer, timestamp, amount and a hash of the
whole input row); from then on every window is a boolean mask over these arrays, and every
per-sample sum is a ``np.bincount`` over rows that are already grouped by customer. Two things
follow from the sort:

* the rows of one customer are contiguous and in time order, so segments, first/last purchase
  days and gaps between purchase days need no further sort or hash table;
* the order in which floats are added up is fixed by the data alone (ties in the sort key are
  exact duplicates), so a dataset built twice is bit-identical, whatever the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

US_PER_DAY = 86_400_000_000


@dataclass
class LogArrays:
    """The kept rows of a log, sorted by (customer, timestamp).

    customer_ids [n_customers]: the distinct ids in the log's sort order (int64 or str objects)
    cust [n_rows] int32: index into ``customer_ids``, non-decreasing
    customer_starts [n_customers + 1] int64: the first row of every customer, then n_rows
    ts [n_rows] int64: microseconds since 1970-01-01 UTC; amount [n_rows] float64
    order, category, domain [n_rows] int64 codes (-1 = missing) or None when not mapped
    quantity [n_rows] float64 (NaN = missing) or None when not mapped
    domain_names: the domain of each domain code
    """

    customer_ids: np.ndarray
    cust: np.ndarray
    customer_starts: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    order: np.ndarray | None = None
    quantity: np.ndarray | None = None
    category: np.ndarray | None = None
    domain: np.ndarray | None = None
    domain_names: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.ts)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def take(self, index: np.ndarray) -> LogArrays:
        """The rows ``index`` (sorted positions), customers renumbered to those left."""
        def pick(a):
            return None if a is None else a[index]
        cust, starts = sorted_codes(self.cust[index])
        return LogArrays(customer_ids=self.customer_ids[self.cust[index][starts[:-1]]],
                         cust=cust, customer_starts=starts, ts=self.ts[index],
                         amount=self.amount[index], order=pick(self.order),
                         quantity=pick(self.quantity), category=pick(self.category),
                         domain=pick(self.domain), domain_names=self.domain_names)


@njit(cache=True)
def sorted_codes(values):
    """(codes, starts) of sorted values: the run number of every value (int32) and the first
    position of every run, then len(values)."""
    n = len(values)
    codes = np.empty(n, dtype=np.int32)
    starts = np.empty(n + 1, dtype=np.int64)
    k = -1
    for i in range(n):
        if i == 0 or values[i] != values[i - 1]:
            k += 1
            starts[k] = i
        codes[i] = k
    starts[k + 1] = n
    return codes, starts[:k + 2].copy()


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


def tied_rows(new: np.ndarray) -> np.ndarray:
    """Positions of the rows in runs of two or more, from the run starts."""
    in_tie = ~new
    in_tie[:-1] |= ~new[1:]  # a row is tied when it or the next row does not start a run
    return np.flatnonzero(in_tie)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Dictionary codes (-1 for null) and the dictionary of a column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary.to_pylist()


def numbers(column: pa.ChunkedArray, dtype) -> np.ndarray:
    """A numeric column as NumPy (nulls as NaN)."""
    if column.null_count:
        column = column.fill_null(np.nan)
    return np.asarray(column.to_numpy(), dtype=dtype)


def timestamps_us(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 microseconds since 1970-01-01."""
    return column.cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()


def customer_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, starts, distinct ids) of a customer column sorted by customer."""
    if pa.types.is_integer(column.type):
        values = column.to_numpy().astype(np.int64, copy=False)
        codes, starts = sorted_codes(values)
        return codes, starts, values[starts[:-1]]
    # Rows are sorted, so the dictionary's first-appearance order is the sort order.
    indices, ids = _codes(column)
    codes, starts = sorted_codes(indices)
    return codes, starts, np.asarray(ids, dtype=object)


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
