"""The per-sample numbers of a dataset, computed in one pass over the sorted log.

The log (:class:`~ltvkit.data.arrays.LogArrays`) is sorted by customer and time, so one
customer's rows are contiguous and in time order: each sample is one walk over its customer's
rows, from the start of the feature window to the end of the longest label window. Features,
sequences and labels are accumulated on the way, in row order, so every float sum is added up in
an order fixed by the data (a dataset built twice is bit-identical).

These loops are compiled with Numba: the field has no library for them, and as NumPy array
expressions they needed some forty full passes and temporaries over the log, most of the time
of ``ltv prepare``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from ltvkit.data.arrays import US_PER_DAY, LogArrays

SEQUENCE_CHANNELS = ("spend", "orders", "items", "refunds")
# The features one pass writes, in this order (the dataset adds the calendar ones).
PASS_FEATURES = (
    "frequency", "recency_days", "T_days", "days_since_last_purchase", "purchase_days",
    "n_orders", "n_transactions", "monetary_total", "monetary_mean", "monetary_max",
    "repeat_monetary_mean", "first_purchase_value", "net_spend", "refund_total", "refund_count",
    "items_total", "gap_mean", "gap_std", "n_categories", "spend_trend",
)
_EPOCH = dt.date(1970, 1, 1)
_NONE = np.zeros(0, dtype=np.int64)  # "no such column" for the kernel's optional inputs
_INT64_MIN = int(np.iinfo(np.int64).min)


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
    start = (end_day - lookback_days) * US_PER_DAY if lookback_days else _INT64_MIN
    return Window(cutoff=cutoff, start_us=int(start), end_us=end_day * US_PER_DAY)


@njit(cache=True)
def _first_purchase(starts, ts, amount):
    out = np.full(len(starts) - 1, np.iinfo(np.int64).max, dtype=np.int64)
    for c in range(len(starts) - 1):
        for r in range(starts[c], starts[c + 1]):
            if amount[r] >= 0:
                out[c] = ts[r]
                break
    return out


def first_purchase_us(log: LogArrays) -> np.ndarray:
    """[n_customers] time of each customer's first purchase (a row with amount >= 0), or the
    largest int64 for customers with refunds only."""
    return _first_purchase(log.customer_starts, log.ts, log.amount)


@njit(cache=True)
def _active(starts, ts, amount, lo, hi):
    out = np.zeros(len(starts) - 1, dtype=np.bool_)
    for c in range(len(starts) - 1):
        for r in range(starts[c], starts[c + 1]):
            if ts[r] >= hi:
                break
            if ts[r] >= lo and amount[r] >= 0:
                out[c] = True
                break
    return out


def active_customers(log: LogArrays, window: Window) -> np.ndarray:
    """[n_customers] bool: a purchase inside the window."""
    return _active(log.customer_starts, log.ts, log.amount, window.start_us, window.end_us)


@njit(cache=True)
def _first_row_at(ts, lo, hi, t):
    """The first row in [lo, hi) with ts >= t (binary search; rows sorted by ts)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _distinct(stamp, code, key):
    """COUNT(DISTINCT) by stamping: 1 when ``code`` is new for ``key``, else 0."""
    if code < 0 or stamp[code] == key:
        return 0.0
    stamp[code] = key
    return 1.0


# Compiled functions hold the GIL (no nogil=True): Numba's default threading layer must not be
# entered by two Python threads at once, and the GIL already serialises them.
@njit(cache=True, parallel=True)
def _window_pass(members, rows_out, log, window, calendar, out, stamps):
    """One cutoff: walk each member customer's rows once; write dataset row ``rows_out[i]``.

    log = (customer starts, ts, amount, order, quantity, category, domain, hidden): the
    optional columns are empty arrays when not mapped, ``hidden`` customers show no history.
    window = (domain wanted or -1 for all, start_us, end_us, end_day, first day of
    ``month_back``, T, first feature column, first sequence channel).
    calendar = (month_back, horizons_us): ``month_back[d - first day]`` is how many periods
    before the cutoff's period day ``d`` lies.
    out = (features, sequences, label net spend, label orders, label gross spend).
    stamps = (order, cell, category, horizon) stamp arrays, one set per block.
    """
    T = window[5]
    n_blocks = len(stamps[0])
    # Customers are independent: ``n_blocks`` contiguous blocks of them run in parallel, each
    # with its own buffers, and every sum is still added up in row order by one thread. A
    # customer's periods add up in float64 (``acc``), then go to the float32 sequences.
    buffers = np.zeros((n_blocks, T, 4))
    per_block = (len(members) + n_blocks - 1) // n_blocks
    for block in prange(n_blocks):
        _walk(block * per_block, min((block + 1) * per_block, len(members)), members,
              rows_out, log, window, calendar, out,
              (stamps[0][block], stamps[1][block], stamps[2][block], stamps[3][block]),
              buffers[block])


@njit(cache=True)
def _walk(lo, hi, members, rows_out, log, window, calendar, out, stamps, acc):
    """Members ``lo``..``hi`` of :func:`_window_pass`, one after the other."""
    starts, ts, amount, order, quantity, category, domain, hidden = log
    want_domain, start_us, end_us, end_day, back_lo, T, col, channel = window
    month_back, horizons_us = calendar
    feats, seq, labels, label_orders, label_gross = out
    order_stamp, cell_stamp, category_stamp, horizon_stamp = stamps
    H = len(horizons_us)
    label_end = end_us + horizons_us.max()
    cutoff_day = end_day - 1
    centre = (T - 1) / 2.0
    t_sq = 0.0
    for p in range(T):
        t_sq += (p - centre) ** 2
    for i in range(lo, hi):
        c = members[i]
        out_row = rows_out[i]
        first = starts[c]
        if start_us > ts[first]:
            first = _first_row_at(ts, first, starts[c + 1], start_us)
        see_history = len(hidden) == 0 or not hidden[c]
        n_rows = spend = refund = refund_rows = buys = n_orders = items = 0.0
        best = 0.0  # monetary_max is clipped at 0
        purchase_days = n_gaps = gap_sum = gap_sq = first_value = n_categories = 0.0
        first_day = last_day = 0
        acc[:] = 0.0
        for r in range(first, starts[c + 1]):
            t = ts[r]
            if t >= label_end:
                break
            if len(domain) and want_domain >= 0 and domain[r] != want_domain:
                continue
            a = amount[r]
            if t < end_us:
                if not see_history:
                    continue
                d = t // 86_400_000_000  # the day number (floor, also before 1970)
                n_rows += 1.0
                best = max(best, a)
                back = month_back[d - back_lo]
                cell = T - 1 - back
                if len(category):
                    n_categories += _distinct(category_stamp, category[r], i + 1)
                if a < 0:
                    refund -= a
                    refund_rows += 1.0
                    if back < T:
                        acc[cell, 3] -= a
                    continue
                # a purchase (zero-value rows count when the cleaning keeps them)
                spend += a
                buys += 1.0
                q = 1.0
                if len(quantity):
                    q = quantity[r] if quantity[r] == quantity[r] else 0.0  # NaN adds nothing
                items += q
                o = 1.0
                if len(order):
                    n_orders += _distinct(order_stamp, order[r], i + 1)
                    o = _distinct(cell_stamp, order[r], (i * T + cell) + 1) if back < T else 0.0
                if purchase_days == 0 or d != last_day:
                    if purchase_days == 0:
                        first_day = d
                    else:
                        gap = float(d - last_day)
                        n_gaps += 1.0
                        gap_sum += gap
                        gap_sq += gap * gap
                    purchase_days += 1.0
                    last_day = d
                if d == first_day:
                    first_value += a
                if back < T:
                    acc[cell, 0] += a
                    acc[cell, 1] += o
                    acc[cell, 2] += q
            else:
                for j in range(H):
                    if t < end_us + horizons_us[j]:
                        labels[out_row, j] += a
                        label_gross[out_row, j] += abs(a)
                        if a >= 0:
                            if len(order):
                                label_orders[out_row, j] += _distinct(horizon_stamp[j],
                                                                  order[r], i + 1)
                            else:
                                label_orders[out_row, j] += 1.0
        trend = 0.0
        for p in range(T):
            for k in range(4):
                seq[out_row, p, channel + k] = acc[p, k]
            trend += float(seq[out_row, p, channel]) * (p - centre)  # from the stored float32 spend
        if not len(order):
            n_orders = buys
        if not len(quantity):
            items = buys
        gap_mean = gap_sum / n_gaps if n_gaps > 0 else 0.0
        gap_var = gap_sq / n_gaps - gap_mean * gap_mean if n_gaps > 0 else 0.0
        if purchase_days == 0:
            first_day = last_day = cutoff_day
        row = feats[out_row]
        row[col + 0] = max(purchase_days - 1.0, 0.0)  # frequency: repeat purchase days
        row[col + 1] = last_day - first_day  # recency_days
        row[col + 2] = cutoff_day - first_day  # T_days
        row[col + 3] = cutoff_day - last_day if purchase_days > 0 else np.nan
        row[col + 4] = purchase_days
        row[col + 5] = n_orders
        row[col + 6] = n_rows
        row[col + 7] = spend
        row[col + 8] = spend / n_orders if n_orders > 0 else 0.0
        row[col + 9] = best
        row[col + 10] = (spend - first_value) / (purchase_days - 1) if purchase_days > 1 else 0.0
        row[col + 11] = first_value
        row[col + 12] = spend - refund
        row[col + 13] = refund
        row[col + 14] = refund_rows
        row[col + 15] = items
        row[col + 16] = gap_mean
        row[col + 17] = np.sqrt(max(gap_var, 0.0))
        row[col + 18] = n_categories
        row[col + 19] = trend / t_sq if T > 1 else 0.0


def _periods_back(window: Window, period: tuple[str, int], lo_day: int, hi_day: int
                  ) -> np.ndarray:
    """For every day in [lo_day, hi_day], how many periods before the cutoff's it lies."""
    kind, length = period
    if kind == "days":
        days = np.arange(lo_day, hi_day + 1)
        return ((window.end_day - 1 - days) // length).astype(np.int64)
    cutoff_month = (window.cutoff.year - 1970) * 12 + window.cutoff.month - 1
    return cutoff_month - _months(lo_day, hi_day)


# The month (since 1970-01) of every day from 1900 to 2200, made once: the datetime64
# conversion of a request's few hundred days was a tenth of its dataset build.
_TABLE_FIRST_DAY, _TABLE_LAST_DAY = day_number(dt.date(1900, 1, 1)), day_number(dt.date(2200, 1, 1))


@functools.lru_cache(maxsize=1)
def _month_table() -> np.ndarray:
    days = np.arange(_TABLE_FIRST_DAY, _TABLE_LAST_DAY + 1)
    table = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    table.flags.writeable = False
    return table


def _months(lo_day: int, hi_day: int) -> np.ndarray:
    """[hi_day - lo_day + 1] int64: the month since 1970-01 of each day of [lo_day, hi_day]."""
    if _TABLE_FIRST_DAY <= lo_day and hi_day <= _TABLE_LAST_DAY:
        return _month_table()[lo_day - _TABLE_FIRST_DAY:hi_day - _TABLE_FIRST_DAY + 1]
    days = np.arange(lo_day, hi_day + 1)
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


@dataclass
class PassOutput:
    """Where one pass writes: [n, F] float32 features (each pass its PASS_FEATURES block),
    [n, T, C] float32 sequences (each pass its 4 channels) and its own [n, H] net spend,
    orders and gross spend of the labels."""

    features: np.ndarray
    seq: np.ndarray
    labels: np.ndarray
    label_orders: np.ndarray
    label_gross: np.ndarray


def new_output(features: np.ndarray, seq: np.ndarray, n_horizons: int) -> PassOutput:
    n = len(features)
    return PassOutput(features=features, seq=seq,
                      labels=np.zeros((n, n_horizons)), label_orders=np.zeros((n, n_horizons)),
                      label_gross=np.zeros((n, n_horizons)))


def window_pass(log: LogArrays, members: np.ndarray, rows_out: np.ndarray, window: Window,
                period: tuple[str, int], n_periods: int, horizon_days: list[int],
                domain: int | None, hidden: np.ndarray | None, out: PassOutput,
                col: int, channel: int) -> None:
    """Features, sequences and labels of the samples ``members`` (customer codes, in order) at
    one cutoff, into dataset rows ``rows_out`` of ``out`` (features from column ``col``,
    sequence channels from ``channel``), from the rows of domain code ``domain`` only (all
    when None); ``hidden`` customers show no history."""
    if len(log.ts) == 0 or len(members) == 0:
        return
    lo_day = min(int(log.ts.min() // US_PER_DAY), window.end_day)
    back = _periods_back(window, period, lo_day, window.end_day)

    def codes(a):
        return _NONE if a is None else a

    n_codes = 0 if log.order is None else int(log.order.max()) + 1
    n_categories = 0 if log.category is None else int(log.category.max()) + 1
    # One stamp array per COUNT(DISTINCT) and thread: a code's last key (sample, cell) is all
    # it keeps.
    blocks = numba.get_num_threads()
    stamps = [np.zeros((blocks, max(k, 1)), dtype=np.int64)
              for k in (n_codes, n_codes, n_categories)]
    stamps.append(np.zeros((blocks, len(horizon_days), max(n_codes, 1)), dtype=np.int64))
    hidden = np.zeros(0, dtype=np.bool_) if hidden is None else hidden
    _window_pass(
        members, rows_out,
        (log.customer_starts, log.ts, log.amount, codes(log.order),
         _NONE.astype(np.float64) if log.quantity is None else log.quantity,
         codes(log.category), codes(log.domain), hidden),
        (-1 if domain is None else domain, window.start_us, window.end_us, window.end_day,
         lo_day, n_periods, col, channel),
        (back, np.asarray(horizon_days, dtype=np.int64) * US_PER_DAY),
        (out.features, out.seq, out.labels, out.label_orders, out.label_gross),
        tuple(stamps))
