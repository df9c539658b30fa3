"""Contractual input: a subscriptions table (customer, start, end or null) read by DuckDB.

The second input kind beside the transaction log, for the contractual models (the sBG of
Fader & Hardie 2007, "How to Project Customer Retention", Journal of Interactive Marketing
21(1)). Each row is one subscription: when it started and when it ended (null while it is
still active at ``as_of``). Time is cut into periods of ``period_days`` from each start; a
subscription that ended in its k-th period churned in period k (k >= 1), one still active has
renewed ``floor((as_of - start) / period_days)`` times and is right-censored there. Rows that
start after ``as_of`` are not yet observed and are dropped (counted); an end after ``as_of`` is
not yet known and counts as active. Bad input raises one
:class:`~ltvkit.errors.DataValidationError` naming the column, the rule and the row count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ltvkit.data.sources import new_connection, register_source
from ltvkit.errors import DataValidationError

__all__ = ["SubscriptionTable", "read_subscriptions"]


@dataclass(frozen=True)
class SubscriptionTable:
    """Per-subscription arrays, sorted by (customer_id, start).

    Attributes
    ----------
    customer_id : ndarray of str
    periods : ndarray of float
        Period of cancellation (churned) or renewals observed (censored).
    churned : ndarray of float
        1 if the subscription ended by ``as_of``, else 0.
    as_of : numpy.datetime64
    period_days : float
    n_not_started : int
        Rows dropped because they start after ``as_of``.
    """

    customer_id: np.ndarray
    periods: np.ndarray
    churned: np.ndarray
    as_of: np.datetime64
    period_days: float
    n_not_started: int

    def __len__(self) -> int:
        return int(self.periods.size)


def _count(con, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def read_subscriptions(source: Any, *, customer: str = "customer_id", start: str = "start",
                       end: str = "end", as_of: str | None = None, period_days: float = 30.0,
                       read_options: dict[str, Any] | None = None) -> SubscriptionTable:
    """Read a subscriptions table into :class:`SubscriptionTable` (see the module docstring).

    Parameters
    ----------
    source : path (CSV / Parquet), DataFrame, Arrow table or DuckDB relation
    customer, start, end : str
        Column names.
    as_of : str, optional
        End of observation (date or timestamp); default the latest start or end in the table.
    period_days : float
        Length of a billing period in days (> 0).

    Raises
    ------
    DataValidationError
        Missing column, unparseable or missing start, missing customer, end before start,
        duplicate (customer, start), or an empty table.
    """
    if not np.isfinite(period_days) or period_days <= 0:
        raise DataValidationError(f"period_days must be > 0 (rule period_positive): got "
                                  f"{period_days!r}", column="period_days", rule="period_positive")
    con = new_connection()
    register_source(con, source, "subs_raw", read_options)
    cols = [r[0] for r in con.execute("DESCRIBE subs_raw").fetchall()]
    for name in (customer, start, end):
        if name not in cols:
            raise DataValidationError(f"column {name!r} is missing (rule column_present); "
                                      f"columns are {cols}", column=name, rule="column_present")
    n = _count(con, "SELECT count(*) FROM subs_raw")
    if n == 0:
        raise DataValidationError("the subscriptions table is empty (rule non_empty)",
                                  rule="non_empty", n_rows=0)
    q = f'"{customer}"', f'"{start}"', f'"{end}"'
    bad = _count(con, f"SELECT count(*) FROM subs_raw WHERE {q[0]} IS NULL")
    if bad:
        raise DataValidationError(f"{customer} must not be missing (rule customer_present): "
                                  f"{bad} rows break it", column=customer,
                                  rule="customer_present", n_rows=bad)
    for col, allow_null in ((start, False), (end, True)):
        c = f'"{col}"'
        bad = _count(con, f"SELECT count(*) FROM subs_raw WHERE {c} IS NOT NULL AND "
                          f"TRY_CAST({c} AS TIMESTAMP) IS NULL")
        if bad:
            raise DataValidationError(f"{col} must be a date or timestamp (rule "
                                      f"timestamp_parseable): {bad} rows break it", column=col,
                                      rule="timestamp_parseable", n_rows=bad)
        if not allow_null:
            bad = _count(con, f"SELECT count(*) FROM subs_raw WHERE {c} IS NULL")
            if bad:
                raise DataValidationError(f"{col} must not be missing (rule start_present): "
                                          f"{bad} rows break it", column=col,
                                          rule="start_present", n_rows=bad)
    con.execute(f"CREATE TEMP VIEW subs AS SELECT CAST({q[0]} AS VARCHAR) AS cid, "
                f"CAST({q[1]} AS TIMESTAMP) AS s, CAST({q[2]} AS TIMESTAMP) AS e FROM subs_raw")
    bad = _count(con, "SELECT count(*) FROM subs WHERE e < s")
    if bad:
        raise DataValidationError(f"{end} must not be before {start} (rule end_after_start): "
                                  f"{bad} rows break it", column=end, rule="end_after_start",
                                  n_rows=bad)
    bad = _count(con, "SELECT count(*) - count(DISTINCT (cid, s)) FROM subs")
    if bad:
        raise DataValidationError(f"({customer}, {start}) must be unique (rule "
                                  f"unique_subscription): {bad} duplicate rows", column=start,
                                  rule="unique_subscription", n_rows=bad)
    if as_of is None:
        cut = con.execute("SELECT greatest(max(s), coalesce(max(e), max(s))) FROM subs").fetchone()[0]
    else:
        try:
            cut = con.execute("SELECT CAST(? AS TIMESTAMP)", [as_of]).fetchone()[0]
        except Exception as exc:  # duckdb.ConversionException and friends
            raise DataValidationError(f"as_of must be a date or timestamp (rule "
                                      f"timestamp_parseable): {as_of!r}", column="as_of",
                                      rule="timestamp_parseable") from exc
    n_late = _count(con, f"SELECT count(*) FROM subs WHERE s > TIMESTAMP '{cut}'")
    rows = con.execute(
        f"""SELECT cid, epoch(s) AS s, epoch(e) AS e FROM subs
            WHERE s <= TIMESTAMP '{cut}' ORDER BY cid, s""").fetchnumpy()
    as_of_s = float(con.execute(f"SELECT epoch(TIMESTAMP '{cut}')").fetchone()[0])
    s = np.asarray(rows["s"], dtype=np.float64)
    e_raw = rows["e"]
    e = np.asarray(np.ma.filled(e_raw.astype(np.float64), np.nan)
                   if np.ma.isMaskedArray(e_raw) else e_raw, dtype=np.float64)
    ended = np.isfinite(e) & (e <= as_of_s)
    period_s = period_days * 86400.0
    churn_period = np.floor((np.where(ended, e, s) - s) / period_s) + 1.0
    censored = np.floor((as_of_s - s) / period_s)
    return SubscriptionTable(
        customer_id=np.asarray(rows["cid"]).astype(str),
        periods=np.where(ended, churn_period, censored), churned=ended.astype(np.float64),
        as_of=np.datetime64(int(as_of_s), "s"), period_days=float(period_days),
        n_not_started=n_late)
