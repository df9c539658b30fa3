"""The per-sample numbers of a dataset, computed from the sorted log (:class:`LogArrays`).

Every function here reads rows through a boolean mask (a cutoff's window, a domain, the
customers it is asked about) and reduces them per sample. Rows arrive grouped by customer and in
time order, so "per sample" is a run of equal local ids and "per purchase day" a run of equal
(local id, day): no function sorts, except the COUNT(DISTINCT)s of order ids and categories.

Local ids: one cutoff's samples are numbered 0..m-1 in customer order; the caller scatters the
results into the dataset's rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ltvkit.data.arrays import US_PER_DAY, LogArrays, count_distinct, run_starts

_EPOCH = dt.date(1970, 1, 1)
_NO_DAY = np.iinfo(np.int64).min


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


@dataclass
class Window:
    """The feature window of one cutoff: rows with ``start_us <= ts < end_us``."""

    cutoff: dt.date
    start_us: int
    end_us: int

    @property
    def end_day(self) -> int:
        return day_number(self.cutoff) + 1


def make_window(cutoff: dt.date, lookback_days: int | None) -> Window:
    end_day = day_number(cutoff) + 1
    start = (end_day - lookback_days) * US_PER_DAY if lookback_days else np.iinfo(np.int64).min
    return Window(cutoff=cutoff, start_us=int(start), end_us=end_day * US_PER_DAY)


def first_purchase_us(log: LogArrays) -> np.ndarray:
    """[n_customers] time of each customer's first purchase (a row with amount >= 0), or the
    largest int64 for customers with refunds only."""
    buy = np.flatnonzero(log.amount >= 0)
    cust = log.cust[buy]
    first = run_starts(cust)
    out = np.full(log.n_customers, np.iinfo(np.int64).max, dtype=np.int64)
    out[cust[first]] = log.ts[buy[first]]
    return out


def active_customers(log: LogArrays, window: Window) -> np.ndarray:
    """[n_customers] bool: a purchase inside the window."""
    sel = (log.amount >= 0) & (log.ts >= window.start_us) & (log.ts < window.end_us)
    out = np.zeros(log.n_customers, dtype=bool)
    out[log.cust[sel]] = True
    return out


class _Runs:
    """Sums, maxima and counts over runs of equal, non-decreasing group ids."""

    def __init__(self, group: np.ndarray, n_groups: int) -> None:
        self.starts = np.flatnonzero(run_starts(group)) if len(group) else np.zeros(0, np.int64)
        self.ids = group[self.starts]
        self.n = n_groups
        self.size = len(group)

    def sum(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n)
        if self.size:
            out[self.ids] = np.add.reduceat(values, self.starts)
        return out

    def max(self, values: np.ndarray, empty: float) -> np.ndarray:
        out = np.full(self.n, empty)
        if self.size:
            out[self.ids] = np.maximum.reduceat(values, self.starts)
        return out

    def count(self) -> np.ndarray:
        out = np.zeros(self.n)
        out[self.ids] = np.diff(np.append(self.starts, self.size))
        return out


@dataclass
class Selection:
    """The rows of one window for one set of samples: positions ``rows`` in the log and the
    local sample id ``local`` of each (non-decreasing)."""

    rows: np.ndarray
    local: np.ndarray
    n: int


def select(log: LogArrays, local_of_customer: np.ndarray, n: int, lo_us: int, hi_us: int,
           row_ok: np.ndarray | None) -> Selection:
    """Rows with ``lo_us <= ts < hi_us`` of the customers that have a local id (>= 0)."""
    mask = (log.ts >= lo_us) & (log.ts < hi_us)
    if row_ok is not None:
        mask &= row_ok
    rows = np.flatnonzero(mask)
    local = local_of_customer[log.cust[rows]]
    keep = local >= 0
    if not keep.all():
        rows, local = rows[keep], local[keep]
    return Selection(rows=rows, local=local, n=n)


def _purchase_count(log: LogArrays, sel: Selection, buy: np.ndarray, group: np.ndarray,
                    n_groups: int) -> np.ndarray:
    """Orders among the purchase rows ``buy`` of ``sel``: distinct order ids when the log maps
    them, else purchase rows."""
    if log.order is not None:
        return count_distinct(group[buy], log.order[sel.rows[buy]], n_groups)
    return np.bincount(group[buy], minlength=n_groups).astype(np.float64)


def _items(log: LogArrays, sel: Selection, buy: np.ndarray, group: np.ndarray,
           n_groups: int) -> np.ndarray:
    """Items among the purchase rows: summed quantities when mapped, else purchase rows."""
    if log.quantity is not None:
        qty = log.quantity[sel.rows[buy]]
        return np.bincount(group[buy], weights=np.where(np.isnan(qty), 0.0, qty),
                           minlength=n_groups)
    return np.bincount(group[buy], minlength=n_groups).astype(np.float64)


def static_features(log: LogArrays, sel: Selection, window: Window) -> dict[str, np.ndarray]:
    """The RFM-style static features of every sample (lifetimes' conventions for frequency,
    recency and T: purchase days, in days, measured at the cutoff day)."""
    m = sel.n
    amount = log.amount[sel.rows]
    day = log.ts[sel.rows] // US_PER_DAY
    positive = np.where(amount > 0, amount, 0.0)
    negative = np.where(amount < 0, -amount, 0.0)
    buy = amount >= 0
    runs = _Runs(sel.local, m)

    # Purchase days: runs of equal (sample, day) among the purchase rows.
    b_local, b_day = sel.local[buy], day[buy]
    new_day = run_starts(b_local, b_day)
    g_local, g_day = b_local[new_day], b_day[new_day]
    purchase_days = np.bincount(g_local, minlength=m).astype(np.float64)
    first_of_sample = run_starts(g_local)
    last_of_sample = np.append(first_of_sample[1:], True) if len(g_local) else first_of_sample
    first_day = np.full(m, _NO_DAY)
    last_day = np.full(m, _NO_DAY)
    first_day[g_local[first_of_sample]] = g_day[first_of_sample]
    last_day[g_local[last_of_sample]] = g_day[last_of_sample]
    # Gaps between consecutive purchase days of a sample; integer sums, so exact.
    same = ~first_of_sample[1:]
    gaps = (g_day[1:] - g_day[:-1])[same].astype(np.float64)
    gap_local = g_local[1:][same]
    n_gaps = np.bincount(gap_local, minlength=m).astype(np.float64)
    gap_sum = np.bincount(gap_local, weights=gaps, minlength=m)
    gap_sq = np.bincount(gap_local, weights=gaps * gaps, minlength=m)
    has_gap = n_gaps > 0
    gap_mean = np.divide(gap_sum, n_gaps, out=np.zeros(m), where=has_gap)
    gap_var = np.divide(gap_sq, n_gaps, out=np.zeros(m), where=has_gap) - gap_mean ** 2
    gap_std = np.sqrt(np.maximum(gap_var, 0.0))

    has_purchase = purchase_days > 0
    cutoff_day = window.end_day - 1
    # Customers without a purchase measure from the cutoff day (0 days), then NaN below.
    first_day = np.where(has_purchase, first_day, cutoff_day)
    last_day = np.where(has_purchase, last_day, cutoff_day)
    monetary_total = runs.sum(positive)
    on_first_day = day == first_day[sel.local]  # rows of samples without purchases add 0
    first_value = runs.sum(np.where(on_first_day, positive, 0.0))
    n_orders = _purchase_count(log, sel, buy, sel.local, m)
    feats = {
        "frequency": np.maximum(purchase_days - 1, 0),
        "recency_days": (last_day - first_day).astype(np.float64),
        "T_days": (cutoff_day - first_day).astype(np.float64),
        "days_since_last_purchase": (cutoff_day - last_day).astype(np.float64),
        "purchase_days": purchase_days,
        "n_orders": n_orders,
        "n_transactions": runs.count(),
        "monetary_total": monetary_total,
        "monetary_mean": np.divide(monetary_total, n_orders, out=np.zeros(m), where=n_orders > 0),
        "monetary_max": np.maximum(runs.max(amount, 0.0), 0.0),
        "repeat_monetary_mean": np.divide(monetary_total - first_value, purchase_days - 1,
                                          out=np.zeros(m), where=purchase_days > 1),
        "first_purchase_value": first_value,
        "refund_total": runs.sum(negative),
        "refund_count": runs.sum((amount < 0).astype(np.float64)),
        "items_total": _items(log, sel, buy, sel.local, m),
        "gap_mean": gap_mean,
        "gap_std": gap_std,
    }
    feats["days_since_last_purchase"][~has_purchase] = np.nan
    feats["net_spend"] = monetary_total - feats["refund_total"]
    feats["n_categories"] = (count_distinct(sel.local, log.category[sel.rows], m)
                             if log.category is not None else np.zeros(m))
    return feats


def _month_number(day: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers, through a table over the days spanned."""
    if len(day) == 0:
        return day.copy()
    lo, hi = int(day.min()), int(day.max())
    span = np.arange(lo, hi + 1).astype("datetime64[D]")
    table = span.astype("datetime64[M]").astype(np.int64)
    return table[day - lo]


def sequences(log: LogArrays, sel: Selection, window: Window, period: tuple[str, int],
              n_periods: int) -> np.ndarray:
    """[m, T, 4] spend, orders, items and refunds per period; the last period ends at the
    cutoff. Periods are ``length``-day blocks counted back from the cutoff, or calendar months."""
    m, T = sel.n, n_periods
    kind, length = period
    day = log.ts[sel.rows] // US_PER_DAY
    if kind == "days":
        back = (window.end_day - 1 - day) // length
    else:
        cutoff_month = int(np.datetime64(window.cutoff, "M").astype(np.int64))
        back = cutoff_month - _month_number(day)
    inside = back < T
    cell = sel.local * T + (T - 1 - back)  # (sample, period) as one flat index
    amount = log.amount[sel.rows]
    buy = inside & (amount >= 0)
    cells = m * T
    spend = np.bincount(cell[inside], weights=np.where(amount > 0, amount, 0.0)[inside],
                        minlength=cells)
    refunds = np.bincount(cell[inside], weights=np.where(amount < 0, -amount, 0.0)[inside],
                          minlength=cells)
    orders = _purchase_count(log, sel, buy, cell, cells)
    items = _items(log, sel, buy, cell, cells)
    seq = np.stack([spend, orders, items, refunds], axis=1).astype(np.float32)
    return seq.reshape(m, T, 4)


def labels(log: LogArrays, sel: Selection, window: Window, horizon_days: list[int]
           ) -> tuple[np.ndarray, np.ndarray]:
    """[m, H] net spend clipped at 0 and orders in each horizon after the cutoff; ``sel``
    holds the rows of the longest horizon."""
    m = sel.n
    ts = log.ts[sel.rows]
    amount = log.amount[sel.rows]
    values = np.zeros((m, len(horizon_days)))
    orders = np.zeros((m, len(horizon_days)))
    for j, h in enumerate(horizon_days):
        inside = ts < window.end_us + h * US_PER_DAY
        net = np.bincount(sel.local, weights=np.where(inside, amount, 0.0), minlength=m)
        gross = np.bincount(sel.local, weights=np.where(inside, np.abs(amount), 0.0),
                            minlength=m)
        # A purchase refunded in full nets to rounding noise (7e-15 in Online Retail), not to a
        # positive value: snap it to 0, else it counts as a spender (label > 0).
        net = np.where(np.abs(net) <= 1e-9 * gross, 0.0, net)
        # Net spend (refunds included) clipped at 0: a customer cannot be worth less than nothing.
        values[:, j] = np.maximum(net, 0.0)
        orders[:, j] = _purchase_count(log, sel, inside & (amount >= 0), sel.local, m)
    return values, orders
