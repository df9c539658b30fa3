"""The cleaned log: :class:`TransactionLog`, and the DuckDB engine's one sort of the kept rows.

The kept rows are sorted once by (customer, ts, amount) and handed over twice without a copy:
as an Arrow table (a DuckDB view for queries) and as NumPy columns (:class:`LogArrays`, what
``build_dataset`` scans).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

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
from ltvkit.data.mapping import CANONICAL_COLUMNS, OPTIONAL_TYPES, ColumnMapping
from ltvkit.data.quality import DataQualityReport


@dataclass
class TransactionLog:
    """A validated, cleaned transaction log: what every engine returns and build_dataset reads.

    The contract, which any engine (see :class:`~ltvkit.data.engine.LogEngine`) must fill:

    quality : the :class:`DataQualityReport` of the read; it balances (``rows_read ==
        rows_kept + sum(dropped)``) and ``rows_kept == arrays.n_rows``
    time_min, time_max : first and last timestamp kept, naive ``datetime`` in UTC
    data_end : last day the log covers, a ``datetime.date`` (``CleaningRules.data_end`` or the
        day of ``time_max``)
    mapping : the :class:`ColumnMapping` used, kept for provenance
    has_order, has_quantity, has_category, has_domain : whether each optional role is mapped
    arrays : the kept rows as :class:`LogArrays`, sorted by customer, then ts (then amount;
        rows tied in all three in an order fixed by the data alone, so that float sums are
        reproducible); customer_ids int64 or str objects, ts int64 microseconds since
        1970-01-01 UTC, amount float64 (negative = refund), and the optional columns exactly
        when the matching ``has_*`` flag is set

    The DuckDB engine's members:

    con : the DuckDB connection holding the log; build_dataset also reads customer
        attributes through it, so an engine without DuckDB gives a fresh
        :func:`~ltvkit.data.sources.new_connection`
    table : name of the DuckDB view with the canonical columns ``customer_id, ts, amount,
        order_id, quantity, category, domain`` (unmapped ones NULL), or None when the log is
        not held in DuckDB; :meth:`relation` reads it
    """

    con: duckdb.DuckDBPyConnection
    table: str | None
    quality: DataQualityReport
    time_min: dt.datetime
    time_max: dt.datetime
    data_end: dt.date
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    has_order: bool = False
    has_quantity: bool = False
    has_category: bool = False
    has_domain: bool = False
    # The kept rows as sorted NumPy columns (what build_dataset scans).
    arrays: LogArrays | None = None

    def relation(self) -> duckdb.DuckDBPyRelation:
        """The log as a DuckDB relation (the DuckDB engine's view)."""
        if self.table is None:
            raise ValueError("this log is not held in DuckDB (its engine set no table)")
        return self.con.table(self.table)

    @property
    def n_rows(self) -> int:
        return self.quality.rows_kept

    def domains(self) -> list[str]:
        """The distinct domains of the log, sorted ([] when no domain is mapped)."""
        if not self.has_domain:
            return []
        if self.table is None:
            return sorted(self.arrays.domain_names)
        rows = self.con.execute(
            f"SELECT DISTINCT domain FROM {self.table} WHERE domain IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]


def sort_kept(con: duckdb.DuckDBPyConnection, staged: str, canonical: list[str],
              flags: dict[str, bool], drop_duplicates: bool) -> tuple[pa.Table, LogArrays, int]:
    """The one sort of the log: the kept rows by (customer, ts, amount) as an Arrow table and
    as NumPy columns, without exact duplicates (when dropped), and how many were dropped.

    Rows tied on (customer, ts, amount) are read again with the hash of their input row and put
    back in hash order: ties in all four are exact duplicates, so the row order, and with it
    every float sum downstream, is fixed by the data alone. (The hash is not a sort key of the
    whole log: that would slow the one big sort for the few rows that need it.)
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
        kept, row_hash = _order_ties(con, staged, canonical, kept, tied, first)
        if drop_duplicates:
            dup[tied[1:]] = ~first[1:] & (row_hash[1:] == row_hash[:-1])
    arrays = LogArrays(customer_ids=ids, customer_starts=starts, ts=ts, amount=amount,
                       **optional_columns(kept, flags))
    n_dup = int(dup.sum())
    if n_dup:
        arrays = arrays.take(np.flatnonzero(~dup))
        kept = kept.filter(pa.array(~dup))
    return kept, arrays, n_dup


def _order_ties(con: duckdb.DuckDBPyConnection, staged: str, canonical: list[str],
                kept: pa.Table, tied: np.ndarray, first: np.ndarray
                ) -> tuple[pa.Table, np.ndarray]:
    """``kept`` with its ``tied`` rows put in input-row-hash order, and those rows' hashes."""
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
    n = kept.num_rows
    index = np.arange(n)
    index[tied] = n + np.arange(len(tied))
    kept = pa.concat_tables([kept, again.select(canonical)]).take(pa.array(index))
    return kept, again.column("__row_hash").to_numpy()


def publish(con: duckdb.DuckDBPyConnection, table: str, kept: pa.Table,
            canonical: list[str]) -> None:
    """Make the cleaned log queryable as view ``table`` over the sorted Arrow table (no copy),
    with every canonical column (unmapped ones NULL)."""
    con.register(f"{table}_arrow", kept)
    columns = ", ".join(name if name in canonical else f"NULL::{OPTIONAL_TYPES[name]} AS {name}"
                        for name in CANONICAL_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {columns} FROM {table}_arrow")
