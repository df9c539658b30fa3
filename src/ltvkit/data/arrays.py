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

US_PER_DAY = 86_400_000_000


@dataclass
class LogArrays:
    """The kept rows of a log, sorted by (customer, timestamp).

    customer_ids [n_customers]: the distinct ids in the log's sort order (int64 or str objects)
    cust [n_rows] int64: index into ``customer_ids``, non-decreasing
    ts [n_rows] int64: microseconds since 1970-01-01 UTC; amount [n_rows] float64
    order, category, domain [n_rows] int64 codes (-1 = missing) or None when not mapped
    quantity [n_rows] float64 (NaN = missing) or None when not mapped
    domain_names: the domain of each domain code
    """

    customer_ids: np.ndarray
    cust: np.ndarray
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
        cust = self.cust[index]
        new = run_starts(cust)
        return LogArrays(customer_ids=self.customer_ids[cust[new]], cust=run_ids(new),
                         ts=self.ts[index], amount=self.amount[index], order=pick(self.order),
                         quantity=pick(self.quantity), category=pick(self.category),
                         domain=pick(self.domain), domain_names=self.domain_names)

    def day(self) -> np.ndarray:
        """Day number (days since 1970-01-01) of every row; floor division also before 1970."""
        return self.ts // US_PER_DAY


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


def run_ids(new: np.ndarray) -> np.ndarray:
    """Run number of every row from the run starts (a cumulative sum, without numpy's slow
    cumsum of booleans)."""
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, len(new)))
    return np.repeat(np.arange(len(starts), dtype=np.int64), lengths)


def order_ties(tiebreak: np.ndarray, *keys: np.ndarray) -> np.ndarray | None:
    """The permutation that sorts rows tied on the sorted ``keys`` by ``tiebreak`` (rows not in
    a tie stay where they are), or None when no tie needs it."""
    new = run_starts(*keys)
    if new.all():
        return None
    # A row is in a tie when it or the next row does not start a run.
    in_tie = ~new
    in_tie[:-1] |= ~new[1:]
    idx = np.flatnonzero(in_tie)
    run = run_ids(new[idx])  # the tie runs, numbered among the tied rows only
    perm = np.arange(len(new))
    perm[idx] = idx[np.lexsort((tiebreak[idx], run))]
    return perm


def count_distinct(group: np.ndarray, code: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, how many distinct non-missing (>= 0) codes it has (a COUNT(DISTINCT))."""
    ok = code >= 0
    group, code = group[ok], code[ok]
    if len(group) == 0:
        return np.zeros(n_groups)
    pairs = np.unique(group.astype(np.int64) * (int(code.max()) + 1) + code)
    return np.bincount(pairs // (int(code.max()) + 1), minlength=n_groups).astype(np.float64)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Dictionary codes (-1 for null) and the dictionary of a column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary.to_pylist()


def _numbers(column: pa.ChunkedArray, dtype) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count:
        arr = arr.fill_null(np.nan) if pa.types.is_floating(arr.type) else arr
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=dtype)


def customer_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct ids) of a customer column sorted by customer: codes count the runs."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_integer(arr.type):
        values = arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        new = run_starts(values)
        return run_ids(new), values[new]
    codes, ids = _codes(arr)  # rows are sorted, so first appearance is the sort order
    return codes, np.asarray(ids, dtype=object)


def log_arrays(table: pa.Table, has_order: bool, has_quantity: bool, has_category: bool,
               has_domain: bool) -> LogArrays:
    """The NumPy view of a sorted table with the canonical columns."""
    cust, ids = customer_codes(table.column("customer_id"))
    ts = _numbers(table.column("ts").cast(pa.timestamp("us")).cast(pa.int64()), np.int64)
    domain, names = (_codes(table.column("domain")) if has_domain else (None, []))
    return LogArrays(
        customer_ids=ids, cust=cust, ts=ts,
        amount=_numbers(table.column("amount"), np.float64),
        order=_codes(table.column("order_id"))[0] if has_order else None,
        quantity=_numbers(table.column("quantity"), np.float64) if has_quantity else None,
        category=_codes(table.column("category"))[0] if has_category else None,
        domain=domain, domain_names=tuple(names),
    )
