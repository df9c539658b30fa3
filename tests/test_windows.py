"""LTVTask windows -> LTVDataset: no leakage, agreement with a pandas reference, real data.

Time rule under test: a cutoff day c includes the whole day; features read ``ts < c + 1 day``
(and ``>= c + 1 day - lookback``); the label of horizon h reads ``c + 1 day <= ts < c + 1 day + h``;
labels are net spend clipped at 0; label_orders count purchase rows (amount >= 0), or distinct
order ids when an order column is mapped.
"""

from __future__ import annotations

import datetime as dt
import gzip
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltvkit.data import LTVDataset, LTVTask, build_dataset, read_transactions
from ltvkit.data.dataset import UNKNOWN
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.sources import new_connection
from ltvkit.data.task import parse_days, parse_period
from ltvkit.data.windows import SEQUENCE_CHANNELS, STATIC_FEATURES
from ltvkit.datasets import get_dataset
from ltvkit.errors import DataValidationError, TaskError

DAY = pd.Timedelta(days=1)

# ============================================================================ pandas reference


def reference(df: pd.DataFrame, task: LTVTask, *, has_order: bool = False,
              has_quantity: bool = False, has_category: bool = False,
              rows_filter: pd.Series | None = None) -> dict[tuple[str, dt.date], dict]:
    """Samples, features, sequences and labels of ``task``, computed row by row with pandas.

    ``df`` is the cleaned log (customer_id, ts, amount[, order_id, quantity, category]).
    The cohort comes from all rows; features and labels from ``df[rows_filter]`` (one domain).
    """
    df = df.copy()
    df["day"] = df["ts"].dt.normalize()
    rows_df = df if rows_filter is None else df[rows_filter]
    lookback = parse_days(task.lookback) if task.lookback else None
    kind, length = parse_period(task.period)
    T = task.n_periods
    first = df[df["amount"] >= 0].groupby("customer_id")["ts"].min()
    out: dict[tuple[str, dt.date], dict] = {}
    for cutoff in task.cutoff_dates():
        c = pd.Timestamp(cutoff)
        c_end = c + DAY
        c_start = c_end - lookback * DAY if lookback else pd.Timestamp("1800-01-01")
        if task.cohort == "known" or (task.cohort == "active" and lookback is None):
            cohort = first[first < c_end].index
        elif task.cohort == "active":
            seen = df[(df["ts"] >= c_start) & (df["ts"] < c_end) & (df["amount"] >= 0)]
            cohort = seen["customer_id"].unique()
        else:
            lo = pd.Timestamp(task.new_from)
            hi = pd.Timestamp(task.new_until) + DAY
            cohort = first[(first >= lo) & (first < hi) & (first < c_end)].index
        for cid in sorted(cohort):
            rows = rows_df[rows_df["customer_id"] == cid]
            vis = rows[(rows["ts"] >= c_start) & (rows["ts"] < c_end)]
            buy = vis[vis["amount"] >= 0]
            days = np.sort(buy["day"].unique())
            pos = vis["amount"].clip(lower=0)
            neg = (-vis["amount"]).clip(lower=0)
            n_orders = buy["order_id"].nunique() if has_order else len(buy)
            items = buy["quantity"].sum() if has_quantity else len(buy)
            f: dict[str, float] = {}
            f["purchase_days"] = len(days)
            f["frequency"] = max(len(days) - 1, 0)
            f["recency_days"] = (days[-1] - days[0]) / DAY if len(days) else 0
            f["T_days"] = (c - days[0]) / DAY if len(days) else 0
            f["days_since_last_purchase"] = (c - days[-1]) / DAY if len(days) else np.nan
            f["n_orders"] = n_orders
            f["n_transactions"] = len(vis)
            f["monetary_total"] = pos.sum()
            f["monetary_mean"] = pos.sum() / n_orders if n_orders else 0.0
            f["monetary_max"] = max(vis["amount"].max(), 0.0) if len(vis) else 0.0
            first_value = pos[vis["day"] == days[0]].sum() if len(days) else 0.0
            f["first_purchase_value"] = first_value
            f["repeat_monetary_mean"] = ((pos.sum() - first_value) / (len(days) - 1)
                                         if len(days) > 1 else 0.0)
            f["refund_total"] = neg.sum()
            f["refund_count"] = int((vis["amount"] < 0).sum())
            f["net_spend"] = pos.sum() - neg.sum()
            f["items_total"] = items
            gaps = np.diff(days) / DAY if len(days) > 1 else np.array([])
            f["gap_mean"] = gaps.mean() if len(gaps) else 0.0
            f["gap_std"] = gaps.std() if len(gaps) else 0.0
            f["n_categories"] = vis["category"].nunique() if has_category else 0
            f["cutoff_month"] = c.month
            f["cutoff_dayofweek"] = c.day_of_week

            seq = np.zeros((T, len(SEQUENCE_CHANNELS)))
            if kind == "days":
                idx = ((c_end - vis["day"]) / DAY).astype(int).sub(1) // length
            else:
                idx = (c.year * 12 + c.month) - (vis["ts"].dt.year * 12 + vis["ts"].dt.month)
            for p in range(T):
                in_p = vis[idx == p]
                buy_p = in_p[in_p["amount"] >= 0]
                seq[T - 1 - p] = [
                    in_p["amount"].clip(lower=0).sum(),
                    buy_p["order_id"].nunique() if has_order else len(buy_p),
                    buy_p["quantity"].sum() if has_quantity else len(buy_p),
                    (-in_p["amount"]).clip(lower=0).sum(),
                ]
            t = np.arange(T) - (T - 1) / 2
            f["spend_trend"] = float(seq[:, 0] @ t / (t @ t)) if T > 1 else 0.0

            labels, orders = [], []
            for h in task.horizon_days:
                win = rows[(rows["ts"] >= c_end) & (rows["ts"] < c_end + h * DAY)]
                labels.append(max(win["amount"].sum(), 0.0))
                wbuy = win[win["amount"] >= 0]
                orders.append(wbuy["order_id"].nunique() if has_order else len(wbuy))
            out[(str(cid), cutoff)] = {"features": f, "sequence": seq, "labels": labels,
                                       "orders": orders}
    return out


def dataset_by_key(ds: LTVDataset) -> dict[tuple[str, dt.date], int]:
    cutoffs = ds.cutoff.astype("datetime64[D]").astype(object)
    return {(str(c), d): i for i, (c, d) in enumerate(zip(ds.customer_id, cutoffs, strict=True))}


def assert_matches_reference(ds: LTVDataset, ref: dict, prefix: str = "",
                             labels: np.ndarray | None = None,
                             label_orders: np.ndarray | None = None,
                             channels: slice | None = None) -> None:
    keys = dataset_by_key(ds)
    assert set(keys) == set(ref), (sorted(set(keys) ^ set(ref)))[:10]
    # Samples are ordered by customer id, then cutoff.
    assert list(keys) == sorted(keys)
    labels = ds.labels if labels is None else labels
    label_orders = ds.label_orders if label_orders is None else label_orders
    seq = ds.sequences if channels is None else ds.sequences[:, :, channels]
    names = ds.feature_names
    for key, r in ref.items():
        i = keys[key]
        for name, want in r["features"].items():
            col = name if name.startswith("cutoff_") else prefix + name
            got = ds.features[i, names.index(col)]
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-4,
                                       err_msg=f"{col} of {key}")
        np.testing.assert_allclose(seq[i], r["sequence"], rtol=2e-6, atol=1e-4,
                                   err_msg=f"sequence of {key}")
        np.testing.assert_allclose(labels[i], r["labels"], rtol=1e-9, atol=1e-9,
                                   err_msg=f"labels of {key}")
        np.testing.assert_array_equal(label_orders[i], r["orders"], err_msg=f"orders of {key}")


# ============================================================================ random logs

START = pd.Timestamp("2021-01-01")
END = pd.Timestamp("2021-12-31 12:00:00")


def random_log(seed: int, n_customers: int = 14, n_rows: int = 260, *, zero_amounts: bool = False,
               domains: tuple[str, ...] = ()) -> pd.DataFrame:
    """A random log in 2021 with refunds, multi-row orders, boundary times and sentinel rows
    on the first and last day (so every task below fits the data range)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"c{i:02d}" for i in range(n_customers)])
    # Customers arrive over the year (first purchases spread out, for the 'new' cohort).
    arrival = dict(zip(names, rng.integers(0, 250, n_customers), strict=True))
    cust = rng.choice(names, n_rows)
    day = np.array([rng.integers(arrival[c], 364) for c in cust])
    second = np.where(rng.random(n_rows) < 0.5, rng.choice([0, 1, 86_399], n_rows),
                      rng.integers(0, 86_400, n_rows))
    ts = START + pd.to_timedelta(day, "D") + pd.to_timedelta(second, "s")
    amount = np.round(rng.lognormal(3.0, 1.0, n_rows), 2)
    refund = rng.random(n_rows) < 0.15
    amount = np.where(refund, -np.round(amount * rng.uniform(0.1, 2.0, n_rows), 2), amount)
    if zero_amounts:
        amount = np.where(rng.random(n_rows) < 0.05, 0.0, amount)
    df = pd.DataFrame({
        "customer_id": cust, "ts": ts, "amount": amount,
        # An order is one customer's basket on one day (one or two rows).
        "order_id": [f"{c}-{d}-{k}" for c, d, k in zip(cust, day, rng.integers(0, 2, n_rows),
                                                       strict=True)],
        "quantity": rng.integers(1, 6, n_rows).astype(float),
        "category": rng.choice(["books", "music", "toys", "games"], n_rows),
    })
    if domains:
        df["domain"] = rng.choice(list(domains), n_rows)
    sentinels = pd.DataFrame({"customer_id": ["zz_first", "zz_last"], "ts": [START, END],
                              "amount": [1.0, 1.0], "order_id": ["s1", "s2"],
                              "quantity": [1.0, 1.0], "category": ["books", "books"]})
    if domains:
        sentinels["domain"] = domains[0]
    df = pd.concat([df, sentinels], ignore_index=True)
    df["row"] = np.arange(len(df))  # every row distinct: cleaning drops no duplicate
    return df


MAPPING = ColumnMapping(customer="customer_id", time="ts", amount="amount", order="order_id",
                        quantity="quantity", category="category")
MAPPING_ROWS = ColumnMapping(customer="customer_id", time="ts", amount="amount")


TASKS = {
    "single-7D-known": LTVTask(cutoff="2021-06-30", horizons=("1D", "7D", "30D", "90D"),
                               period="7D", n_periods=10),
    "single-M-active-lookback": LTVTask(cutoff="2021-06-30", lookback="60D", cohort="active",
                                        horizons=("30D", "180D"), period="M", n_periods=8),
    "known-with-lookback": LTVTask(cutoff="2021-08-15", lookback="45D", cohort="known",
                                   horizons=("14D",), period="7D", n_periods=4),
    "sliding-M": LTVTask(cutoff_start="2021-03-01", cutoff_end="2021-09-01", cutoff_step="45D",
                         horizons=("30D", "60D"), period="M", n_periods=6),
    "sliding-active": LTVTask(cutoff_start="2021-02-01", cutoff_end="2021-10-01",
                              cutoff_step="30D", lookback="30D", cohort="active",
                              horizons=("30D",), period="7D", n_periods=5),
    "new-cohort": LTVTask(cutoff="2021-05-31", cohort="new", new_from="2021-02-01",
                          new_until="2021-03-31", horizons=("90D",), period="1D",
                          n_periods=14),
    "30D-periods": LTVTask(cutoff="2021-12-01", horizons=("30D",), period="30D", n_periods=13),
}


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pandas_reference(task_name, seed):
    task = TASKS[task_name]
    df = random_log(seed)
    log = read_transactions(df, MAPPING)
    assert log.quality.rows_kept == len(df)
    ds = build_dataset(log, task)
    ref = reference(df, task, has_order=True, has_quantity=True, has_category=True)
    assert len(ref) >= 3
    assert_matches_reference(ds, ref)
    assert ds.horizons == list(task.horizons)
    assert ds.horizon_days == task.horizon_days
    assert ds.sequences.shape == (len(ref), task.n_periods, len(SEQUENCE_CHANNELS))
    assert ds.channel_names == list(SEQUENCE_CHANNELS)
    assert set(ds.feature_names) == set(STATIC_FEATURES)
    assert ds.features.dtype == np.float32 and ds.labels.dtype == np.float64
    assert ds.meta["task"] == task.to_dict()


@pytest.mark.parametrize("task_name", ["single-7D-known", "sliding-M", "new-cohort"])
def test_agrees_with_reference_without_order_and_quantity_columns(task_name):
    """Without an order column, orders are purchase rows (amount >= 0, zero-value rows too)."""
    task = TASKS[task_name]
    df = random_log(7, zero_amounts=True)
    log = read_transactions(df, MAPPING_ROWS, CleaningRules(zero_amounts="keep"))
    assert log.quality.kept_with_notes["zero_amount_rows_kept"] > 0
    ds = build_dataset(log, task)
    assert_matches_reference(ds, reference(df, task))


def test_sliding_cutoffs_give_several_samples_per_customer():
    task = TASKS["sliding-M"]
    df = random_log(3)
    ds = build_dataset(read_transactions(df, MAPPING), task)
    cutoffs = [np.datetime64(c) for c in task.cutoff_dates()]
    assert cutoffs == [np.datetime64("2021-03-01"), np.datetime64("2021-04-15"),
                       np.datetime64("2021-05-30"), np.datetime64("2021-07-14"),
                       np.datetime64("2021-08-28")]
    assert set(ds.cutoff) == set(cutoffs)
    per_customer = pd.Series(ds.customer_id).value_counts()
    assert per_customer.max() == len(cutoffs)
    assert ds.n_customers < len(ds)
    # Later cutoffs see more history: T grows by exactly the cutoff distance.
    t_col = ds.feature_names.index("T_days")
    sub = ds.subset(ds.customer_id == "zz_first")
    assert list(sub.features[:, t_col]) == [(c - np.datetime64("2021-01-01")).astype(int)
                                            for c in cutoffs]


def test_lifetimes_conventions_on_a_hand_made_log():
    """frequency = purchase days - 1, recency = last - first purchase day, T = cutoff - first."""
    df = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "a", "b", "c", "c", "z", "z"],
        "ts": pd.to_datetime(["2021-01-03 09:00:00", "2021-01-03 18:00:00", "2021-01-10 23:59:59",
                              "2021-01-20 00:00:00",  # the day after the cutoff: invisible
                              "2021-01-19 12:00:00",  # a refund before the cutoff
                              "2021-01-19 23:59:59", "2021-01-05 00:00:00", "2021-02-10 00:00:00",
                              "2021-01-01 00:00:00", "2021-06-01 00:00:00"]),
        "amount": [10.0, 5.0, 20.0, 100.0, -7.0, 3.0, 4.0, 50.0, 1.0, 1.0],
    })
    log = read_transactions(df, MAPPING_ROWS)
    task = LTVTask(cutoff="2021-01-19", horizons=("1D", "22D"), period="7D", n_periods=3)
    ds = build_dataset(log, task)
    assert list(ds.customer_id) == ["a", "b", "c", "z"]
    f = ds.feature_frame().set_index(ds.customer_id)
    assert f.loc["a", "frequency"] == 1  # purchase days 3 and 10 January
    assert f.loc["a", "recency_days"] == 7
    assert f.loc["a", "T_days"] == 16
    assert f.loc["a", "days_since_last_purchase"] == 9
    assert f.loc["a", "monetary_total"] == 35 and f.loc["a", "refund_total"] == 7
    assert f.loc["a", "net_spend"] == 28 and f.loc["a", "n_orders"] == 3
    assert f.loc["a", "first_purchase_value"] == 15
    assert f.loc["b", "T_days"] == 0 and f.loc["b", "frequency"] == 0
    assert f.loc["c", "T_days"] == 14 and f.loc["c", "monetary_total"] == 4
    # labels: (19 Jan, 20 Jan] and (19 Jan, 10 Feb]
    np.testing.assert_array_equal(ds.labels, [[100, 100], [0, 0], [0, 50], [0, 0]])
    np.testing.assert_array_equal(ds.label_orders, [[1, 1], [0, 0], [0, 1], [0, 0]])
    # 7D periods ending on the cutoff: [13..19], [6..12], [-1..5] January.
    spend = ds.sequences[:, :, SEQUENCE_CHANNELS.index("spend")]
    refunds = ds.sequences[:, :, SEQUENCE_CHANNELS.index("refunds")]
    np.testing.assert_array_equal(spend[0], [15, 20, 0])
    np.testing.assert_array_equal(refunds[0], [0, 0, 7])
    np.testing.assert_array_equal(spend[1], [0, 0, 3])


def test_cohort_boundaries_on_the_cutoff_day():
    """The last second of the cutoff day is history; midnight after it is the future."""
    df = pd.DataFrame({
        "customer_id": ["in", "out", "refund_only", "old", "old", "z", "z"],
        "ts": pd.to_datetime(["2021-01-10 23:59:59", "2021-01-11 00:00:00",
                              "2021-01-10 12:00:00", "2021-01-01 00:00:00",
                              "2021-01-12 00:00:00", "2021-01-01 00:00:00",
                              "2021-03-01 00:00:00"]),
        "amount": [1.0, 2.0, -3.0, 4.0, 5.0, 1.0, 1.0],
    })
    log = read_transactions(df, MAPPING_ROWS)
    known = build_dataset(log, LTVTask(cutoff="2021-01-10", horizons=("1D",)))
    assert list(known.customer_id) == ["in", "old", "z"]
    np.testing.assert_array_equal(known.labels[:, 0], [0.0, 0.0, 0.0])
    active = build_dataset(log, LTVTask(cutoff="2021-01-10", lookback="1D", cohort="active",
                                        horizons=("2D",)))
    assert list(active.customer_id) == ["in"]
    new = build_dataset(log, LTVTask(cutoff="2021-01-10", cohort="new", new_from="2021-01-02",
                                     new_until="2021-01-10", horizons=("2D",)))
    assert list(new.customer_id) == ["in"]
    later = build_dataset(log, LTVTask(cutoff="2021-01-11", horizons=("1D",)))
    assert list(later.customer_id) == ["in", "old", "out", "z"]
    np.testing.assert_array_equal(later.labels[:, 0], [0.0, 5.0, 0.0, 0.0])


def test_a_purchase_refunded_in_full_has_label_zero():
    """0.1 + 0.2 - 0.3 is 5.6e-17 in floating point: the label must be 0, not a tiny spender."""
    df = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b"],
        "ts": pd.to_datetime(["2021-01-01 00:00:00", "2021-01-05 10:00:00",
                              "2021-01-06 10:00:00", "2021-01-07 10:00:00",
                              "2021-01-01 00:00:00", "2021-01-10 00:00:00"]),
        "amount": [1.0, 0.1, 0.2, -0.3, 1.0, 1e-12],
    })
    ds = build_dataset(read_transactions(df, MAPPING_ROWS),
                       LTVTask(cutoff="2021-01-01", horizons=("9D",)))
    assert 0.1 + 0.2 - 0.3 != 0.0
    assert ds.labels[0, 0] == 0.0  # exactly
    assert ds.label_orders[0, 0] == 2
    assert ds.labels[1, 0] == 1e-12  # a genuinely tiny purchase stays
    assert list(ds.purchased[:, 0]) == [True, True]


# ============================================================================ no leakage

C_END = pd.Timestamp("2021-03-11")  # cutoff day 2021-03-10
CUSTOMERS = ["a", "b", "c"]  # each has a fixed purchase 20 days before the cutoff
RANDOM_CUSTOMERS = [*CUSTOMERS, "d"]  # "d" has only the random rows: in or out of the cohort
AMOUNTS = [-50.0, -3.5, 1.0, 2.25, 10.0, 99.99, 250.0]
MAX_AFTER = 100 * 86_400


def _rows(lo: int, hi: int, edges: list[int]):
    """Rows with times in [lo, hi) seconds from C_END, often exactly on a boundary."""
    offsets = st.one_of(st.integers(lo, hi - 1),
                        st.sampled_from([e for e in edges if lo <= e < hi]))
    return st.lists(st.tuples(st.sampled_from(RANDOM_CUSTOMERS), offsets,
                              st.sampled_from(AMOUNTS)),
                    max_size=12)


def _edges(*days: int) -> list[int]:
    out = []
    for d in days:
        out += [d * 86_400 - 1, d * 86_400, d * 86_400 + 1]
    return out


def _log_frame(*parts) -> pd.DataFrame:
    rows = [r for part in parts for r in part]
    # Fixed rows: every customer bought before the cutoff (so the cohort never changes), and
    # the data range stays 2021-01-10 .. 2021-06-30 whatever the random rows are.
    fixed = [(c, -20 * 86_400, 5.0) for c in CUSTOMERS]
    fixed += [("zz", -60 * 86_400, 1.0), ("zz", -1, 1.0), ("zz", MAX_AFTER + 11 * 86_400, 1.0)]
    frame = pd.DataFrame(fixed + rows, columns=["customer_id", "offset", "amount"])
    frame["ts"] = C_END + pd.to_timedelta(frame.pop("offset"), "s")
    return frame


_CON = None


def _build(frame: pd.DataFrame, task: LTVTask, table: str) -> LTVDataset:
    global _CON
    if _CON is None:
        _CON = new_connection()
    log = read_transactions(frame, MAPPING_ROWS, con=_CON, table=table)
    return build_dataset(log, task)


task_options = st.fixed_dictionaries({
    "lookback": st.sampled_from([None, "1D", "10D"]),
    "period": st.sampled_from(["1D", "7D", "M"]),
    "cohort": st.sampled_from(["known", "active"]),
    "horizon": st.sampled_from([1, 7, 30]),
})


def _task(opts: dict) -> LTVTask:
    # A longer second horizon, so rows just past the first one are read by the label query.
    return LTVTask(cutoff="2021-03-10", lookback=opts["lookback"], period=opts["period"],
                   n_periods=5, cohort=opts["cohort"], horizons=(f"{opts['horizon']}D", "40D"))


HYPO = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@HYPO
@given(opts=task_options,
       before=_rows(-40 * 86_400, 0, _edges(0, -1, -10)),
       after=_rows(0, MAX_AFTER, _edges(0, 1, 7, 30)),
       after_changed=_rows(0, MAX_AFTER, _edges(0, 1, 7, 30)))
def test_rows_after_the_cutoff_day_never_change_features_or_sequences(opts, before, after,
                                                                      after_changed):
    task = _task(opts)
    one = _build(_log_frame(before, after), task, "leak_a")
    two = _build(_log_frame(before, after_changed), task, "leak_b")
    np.testing.assert_array_equal(one.customer_id, two.customer_id)
    np.testing.assert_array_equal(one.cutoff, two.cutoff)
    assert one.feature_names == two.feature_names
    # (amounts are >= 1 in size, so any leaked row moves a value far more than this tolerance)
    np.testing.assert_allclose(one.features, two.features, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(one.sequences, two.sequences, rtol=1e-6, atol=1e-6)


@HYPO
@given(opts=task_options, data=st.data())
def test_rows_outside_the_horizon_never_change_labels(opts, data):
    h = opts["horizon"]
    edges = _edges(-1, 0, 1, h)
    before = _rows(-40 * 86_400, 0, edges)
    inside = data.draw(_rows(0, h * 86_400, edges), "inside")
    late = _rows(h * 86_400, MAX_AFTER, edges + _edges(h + 1))
    out_one = data.draw(before, "before") + data.draw(late, "late")
    out_two = data.draw(before, "before2") + data.draw(late, "late2")
    task = _task(opts)
    one = _build(_log_frame(out_one, inside), task, "leak_a")
    two = _build(_log_frame(out_two, inside), task, "leak_b")
    lab_one = dict(zip(one.customer_id, one.labels[:, 0], strict=True))
    lab_two = dict(zip(two.customer_id, two.labels[:, 0], strict=True))
    ord_one = dict(zip(one.customer_id, one.label_orders[:, 0], strict=True))
    ord_two = dict(zip(two.customer_id, two.label_orders[:, 0], strict=True))
    common = set(lab_one) & set(lab_two)
    assert set(CUSTOMERS) <= common or opts["cohort"] == "active"
    for cid in common:
        assert lab_one[cid] == pytest.approx(lab_two[cid], abs=1e-9), cid
        assert ord_one[cid] == ord_two[cid], cid
    # And the labels are the clipped net spend of the inside rows.
    # (exact duplicate rows are dropped by the cleaning)
    inside_df = pd.DataFrame(inside, columns=["customer_id", "offset", "amount"]).drop_duplicates()
    for cid in common:
        amounts = inside_df.loc[inside_df["customer_id"] == cid, "amount"]
        assert lab_one[cid] == pytest.approx(max(amounts.sum(), 0.0), abs=1e-9)


# ============================================================================ real data


def _cdnow_raw() -> pd.DataFrame:
    source = resources.files("ltvkit.datasets") / "data" / "CDNOW_master.txt.gz"
    with resources.as_file(source) as path, gzip.open(path, "rt") as fh:
        raw = pd.read_csv(fh, sep=r"\s+", header=None, skiprows=1,
                          names=["customer_id", "date", "cds", "dollars"],
                          dtype={"customer_id": str, "date": str})
    raw["ts"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


def test_cdnow_labels_and_rfm_match_pandas(cdnow_dataset):
    raw = _cdnow_raw()
    assert len(raw) == 69_659
    ds = cdnow_dataset
    assert len(ds) == 23_570 and ds.horizons == ["273D"]
    window = raw[(raw["ts"] >= "1997-10-01") & (raw["ts"] < "1998-07-01")]
    want = window.groupby("customer_id")["dollars"].sum().clip(lower=0)
    want = want.reindex(ds.customer_id.astype(str), fill_value=0.0).to_numpy()
    np.testing.assert_allclose(ds.labels[:, 0], want, rtol=1e-9, atol=1e-9)
    assert (ds.labels[:, 0] > 0).sum() == (want > 0).sum() > 5_000
    orders = window.groupby("customer_id").size().reindex(ds.customer_id.astype(str),
                                                          fill_value=0)
    np.testing.assert_array_equal(ds.label_orders[:, 0], orders.to_numpy())

    calib = raw[raw["ts"] < "1997-10-01"]
    g = calib.groupby("customer_id")
    days = g["ts"].agg(["min", "max", "nunique"]).reindex(ds.customer_id.astype(str))
    f = ds.feature_frame()
    np.testing.assert_array_equal(f["frequency"], days["nunique"] - 1)
    np.testing.assert_array_equal(f["recency_days"], (days["max"] - days["min"]).dt.days)
    np.testing.assert_array_equal(f["T_days"], (pd.Timestamp("1997-09-30") - days["min"]).dt.days)
    np.testing.assert_allclose(f["monetary_total"],
                               g["dollars"].sum().reindex(ds.customer_id.astype(str)),
                               rtol=1e-6)
    np.testing.assert_array_equal(f["items_total"],
                                  g["cds"].sum().reindex(ds.customer_id.astype(str)))


@pytest.mark.slow
def test_online_retail_labels_match_pandas(shared_data, monkeypatch):
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(shared_data))
    public = get_dataset("online_retail")
    log = public.load_log()
    ds = build_dataset(log, public.task)

    raw = pd.read_csv(shared_data / "online_retail" / "online_retail.csv.gz",
                      dtype={"InvoiceNo": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()].drop_duplicates()
    raw["amount"] = raw["Quantity"] * raw["UnitPrice"]
    raw = raw[raw["amount"] != 0]
    raw["customer_id"] = raw["CustomerID"].astype(int).astype(str)
    raw["ts"] = pd.to_datetime(raw["InvoiceDate"])
    c_end = pd.Timestamp("2011-09-10")
    first = raw[raw["amount"] >= 0].groupby("customer_id")["ts"].min()
    cohort = sorted(first[first < c_end].index)
    assert list(ds.customer_id) == cohort
    window = raw[(raw["ts"] >= c_end) & (raw["ts"] < c_end + 90 * DAY)]
    net = window.groupby("customer_id")["amount"].sum().reindex(cohort, fill_value=0.0)
    np.testing.assert_allclose(ds.labels[:, 0], net.clip(lower=0).to_numpy(), rtol=1e-9,
                               atol=1e-6)
    # Some customers refund more than they buy in the window: clipped to exactly 0.
    assert (net < 0).sum() > 0 and (ds.labels[(net < 0).to_numpy(), 0] == 0).all()
    invoices = (window[window["amount"] >= 0].groupby("customer_id")["InvoiceNo"].nunique()
                .reindex(cohort, fill_value=0))
    np.testing.assert_array_equal(ds.label_orders[:, 0], invoices.to_numpy())

    hist = raw[raw["ts"] < c_end]
    f = ds.feature_frame()
    pos = hist["amount"].clip(lower=0).groupby(hist["customer_id"]).sum().reindex(cohort)
    neg = (-hist["amount"]).clip(lower=0).groupby(hist["customer_id"]).sum().reindex(cohort)
    np.testing.assert_allclose(f["monetary_total"], pos, rtol=1e-5)
    np.testing.assert_allclose(f["refund_total"], neg.fillna(0), rtol=1e-5, atol=1e-3)
    n_orders = (hist[hist["amount"] >= 0].groupby("customer_id")["InvoiceNo"].nunique()
                .reindex(cohort))
    np.testing.assert_array_equal(f["n_orders"], n_orders)


# ============================================================================ task vs data


def _small_log():
    return read_transactions(random_log(11), MAPPING)


def test_cutoff_outside_the_data_range_is_an_error():
    log = _small_log()
    assert log.time_min.date() == dt.date(2021, 1, 1) and log.data_end == dt.date(2021, 12, 31)
    for cutoff in ("2020-12-31", "2021-12-31", "2022-03-01"):
        with pytest.raises(TaskError, match="outside the data's time range"):
            build_dataset(log, LTVTask(cutoff=cutoff, horizons=("1D",),
                                       allow_partial_horizon=True))
    with pytest.raises(TaskError, match="outside"):
        build_dataset(log, LTVTask(cutoff_start="2020-11-01", cutoff_end="2021-03-01",
                                   horizons=("30D",)))


def test_horizon_past_the_end_of_the_data():
    df = random_log(12)
    log = read_transactions(df, MAPPING)
    task = LTVTask(cutoff="2021-12-01", horizons=("30D", "60D"))
    with pytest.raises(TaskError, match="60-day horizon") as err:
        build_dataset(log, task)
    assert "allow_partial_horizon" in str(err.value) and "2021-12-31" in str(err.value)
    # The exact end is allowed: cutoff + 30 days = the last day of the data.
    ok = build_dataset(log, LTVTask(cutoff="2021-12-01", horizons=("30D",)))
    assert len(ok) > 0
    with pytest.raises(TaskError):
        build_dataset(log, LTVTask(cutoff="2021-12-02", horizons=("30D",)))
    partial = LTVTask(cutoff="2021-12-01", horizons=("30D", "60D"), allow_partial_horizon=True)
    ds = build_dataset(log, partial)
    assert_matches_reference(ds, reference(df, partial, has_order=True, has_quantity=True,
                                           has_category=True))
    np.testing.assert_array_equal(ds.labels[:, 0], ds.labels[:, 1])  # nothing after 31 Dec


def test_empty_cohort_is_an_error():
    df = random_log(13)
    log = read_transactions(df, MAPPING)
    task = LTVTask(cutoff="2021-06-01", cohort="new", new_from="2020-01-01",
                   new_until="2020-06-01", horizons=("30D",))
    with pytest.raises(TaskError, match="no customer"):
        build_dataset(log, task)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "give a cutoff"),
    ({"cutoff": "2021-01-01", "cutoff_start": "2021-01-01", "cutoff_end": "2021-02-01"},
     "not both"),
    ({"cutoff_start": "2021-01-01"}, "cutoff_end"),
    ({"cutoff_start": "2021-03-01", "cutoff_end": "2021-02-01"}, "before cutoff_start"),
    ({"cutoff": "2021-01-01", "horizons": ("3 months",)}, "cannot read the duration"),
    ({"cutoff": "2021-01-01", "horizons": ("0D",)}, "positive"),
    ({"cutoff": "2021-01-01", "horizons": ()}, "at least one horizon"),
    ({"cutoff": "2021-01-01", "period": "Q"}, "cannot read the duration"),
    ({"cutoff": "2021-01-01", "n_periods": 0}, "n_periods"),
    ({"cutoff": "2021-01-01", "cohort": "everyone"}, "cohort"),
    ({"cutoff": "2021-01-01", "cohort": "new"}, "new_from"),
    ({"cutoff": "01/02/2021"}, None),
])
def test_malformed_tasks(kwargs, match):
    if match is None:  # a bad date is found when the cutoffs are listed
        with pytest.raises(TaskError, match="not a date"):
            LTVTask(**kwargs).cutoff_dates()
        return
    with pytest.raises(TaskError, match=match):
        LTVTask(**kwargs)


def test_task_round_trips_through_a_dict():
    task = LTVTask(cutoff_start="2021-01-01", cutoff_end="2021-03-01", cutoff_step="2W",
                   lookback="13W", horizons="30D, 90D", cohort="active",
                   domains=["web", "shop"], target_domain="shop")
    assert task.horizons == ("30D", "90D") and task.horizon_days == [30, 90]
    assert task.cutoff_dates() == [dt.date(2021, 1, 1), dt.date(2021, 1, 15),
                                   dt.date(2021, 1, 29), dt.date(2021, 2, 12),
                                   dt.date(2021, 2, 26)]
    assert LTVTask.from_dict(task.to_dict()) == task


# ============================================================================ save / load


def _attribute_frame(ids) -> pd.DataFrame:
    ids = sorted(set(ids))
    return pd.DataFrame({
        "customer_id": ids,
        "segment": [["gold", "silver", "bronze"][i % 3] for i in range(len(ids))],
        "age": [20 + i for i in range(len(ids))],
        "score": [np.nan if i % 4 == 0 else i / 3 for i in range(len(ids))],
    })


def test_save_load_round_trip_is_exact(tmp_path):
    df = random_log(21, domains=("shop", "web"))
    log = read_transactions(df, ColumnMapping(customer="customer_id", time="ts", amount="amount",
                                              order="order_id", quantity="quantity",
                                              category="category", domain="domain"))
    task = LTVTask(cutoff_start="2021-04-01", cutoff_end="2021-06-01", cutoff_step="30D",
                   lookback="40D", cohort="known", horizons=("30D", "90D"), period="M",
                   n_periods=3, target_domain="shop")
    attrs = _attribute_frame(df["customer_id"])
    ds = build_dataset(log, task, attrs[attrs["customer_id"] != "c03"])
    assert np.isnan(ds.features).any()  # unknown attributes, no purchase inside the lookback
    ds.sparse = np.arange(len(ds)) % 2 == 0
    ds.save(tmp_path / "ds")
    back = LTVDataset.load(tmp_path / "ds")
    assert len(back) == len(ds)
    np.testing.assert_array_equal(back.customer_id, ds.customer_id)
    assert all(isinstance(c, str) for c in back.customer_id)
    assert back.cutoff.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(back.cutoff, ds.cutoff)
    assert back.features.dtype == np.float32
    np.testing.assert_array_equal(back.features, ds.features)  # NaN == NaN here
    assert back.feature_names == ds.feature_names
    assert back.categorical.dtype == np.int64
    np.testing.assert_array_equal(back.categorical, ds.categorical)
    assert back.categorical_names == ds.categorical_names == ["segment"]
    assert back.vocabularies == ds.vocabularies
    np.testing.assert_array_equal(back.sequences, ds.sequences)
    assert back.sequences.shape == ds.sequences.shape == (len(ds), 3, 8)
    assert back.channel_names == ds.channel_names
    np.testing.assert_array_equal(back.labels, ds.labels)
    np.testing.assert_array_equal(back.label_orders, ds.label_orders)
    assert (back.horizons, back.horizon_days) == (ds.horizons, ds.horizon_days)
    assert set(back.labels_by_domain) == {"shop", "web"}
    for dom in ds.labels_by_domain:
        np.testing.assert_array_equal(back.labels_by_domain[dom], ds.labels_by_domain[dom])
        np.testing.assert_array_equal(back.label_orders_by_domain[dom],
                                      ds.label_orders_by_domain[dom])
    assert (back.domains, back.target_domain) == (ds.domains, ds.target_domain)
    np.testing.assert_array_equal(back.sparse, ds.sparse)
    assert back.meta["task"] == task.to_dict()
    assert back.meta["quality"]["rows_read"] == len(df)
    # A view of the reloaded dataset equals the view of the original.
    np.testing.assert_array_equal(back.domain_view("web").features,
                                  ds.domain_view("web").features)


def test_cdnow_round_trip(cdnow_dataset, tmp_path):
    ds = cdnow_dataset
    back = LTVDataset.load(ds.save(tmp_path / "cdnow"))
    np.testing.assert_array_equal(back.features, ds.features)
    np.testing.assert_array_equal(back.categorical, ds.categorical)
    np.testing.assert_array_equal(back.sequences, ds.sequences)
    np.testing.assert_array_equal(back.labels, ds.labels)
    np.testing.assert_array_equal(back.customer_id, ds.customer_id)
    assert back.vocabularies == ds.vocabularies == {"segment": [UNKNOWN, "a", "b", "c", "d", "e"]}


def test_load_rejects_other_folders_and_newer_formats(tmp_path):
    with pytest.raises(DataValidationError, match="no dataset.json"):
        LTVDataset.load(tmp_path)
    ds = build_dataset(_small_log(), LTVTask(cutoff="2021-06-01", horizons=("30D",)))
    out = ds.save(tmp_path / "d")
    meta = (out / "dataset.json").read_text().replace('"format_version": 1', '"format_version": 99')
    (out / "dataset.json").write_text(meta)
    with pytest.raises(DataValidationError, match="newer"):
        LTVDataset.load(out)


# ============================================================================ attributes


def test_attributes_numeric_and_categorical():
    df = random_log(31)
    log = read_transactions(df, MAPPING)
    task = LTVTask(cutoff="2021-06-01", horizons=("30D",))
    attrs = _attribute_frame(df["customer_id"])
    attrs = attrs[attrs["customer_id"] != "zz_first"]  # one customer has no attributes
    ds = build_dataset(log, task, attrs)
    assert ds.categorical_names == ["segment"]
    assert ds.vocabularies == {"segment": [UNKNOWN, "bronze", "gold", "silver"]}
    assert "attr__age" in ds.feature_names and "attr__score" in ds.feature_names
    table = attrs.set_index("customer_id")
    code = ds.categorical[:, 0]
    age = ds.features[:, ds.feature_names.index("attr__age")]
    score = ds.features[:, ds.feature_names.index("attr__score")]
    vocab = ds.vocabularies["segment"]
    for i, cid in enumerate(ds.customer_id):
        if cid not in table.index:
            assert code[i] == 0 and np.isnan(age[i]) and np.isnan(score[i])
            continue
        assert vocab[code[i]] == table.loc[cid, "segment"]
        assert age[i] == table.loc[cid, "age"]
        np.testing.assert_equal(score[i], np.float32(table.loc[cid, "score"]))
    assert "zz_first" in set(ds.customer_id)

    # Scoring data: the training vocabulary is reused; an unseen category maps to 0.
    new_attrs = attrs.copy()
    new_attrs["segment"] = new_attrs["segment"].replace({"gold": "platinum"})
    scored = build_dataset(log, task, new_attrs, vocabularies=ds.vocabularies)
    assert scored.vocabularies == ds.vocabularies
    gold = vocab.index("gold")
    was_gold = code == gold
    assert was_gold.any()
    assert (scored.categorical[was_gold, 0] == 0).all()
    np.testing.assert_array_equal(scored.categorical[~was_gold, 0], code[~was_gold])
    # Without the training vocabulary, the codes would shift: platinum sorts after bronze.
    fresh = build_dataset(log, task, new_attrs)
    assert fresh.vocabularies["segment"] == [UNKNOWN, "bronze", "platinum", "silver"]


def test_attribute_layout_does_not_depend_on_missing_customers():
    """A bool / int column is a numeric feature whether or not every customer has a row."""
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "ts": pd.to_datetime(
        ["2021-01-01", "2021-01-02", "2021-03-01"]), "amount": [1.0, 2.0, 3.0]})
    log = read_transactions(df, MAPPING_ROWS)
    task = LTVTask(cutoff="2021-01-15", horizons=("45D",))
    everyone = pd.DataFrame({"customer_id": ["a", "b"], "vip": [True, False], "visits": [3, 4],
                             "tier": ["x", "y"]})
    full = build_dataset(log, task, everyone)
    partial = build_dataset(log, task, everyone.iloc[:1])
    assert full.feature_names == partial.feature_names
    assert full.categorical_names == partial.categorical_names == ["tier"]
    vip, visits = full.feature_names.index("attr__vip"), full.feature_names.index("attr__visits")
    np.testing.assert_array_equal(full.features[:, [vip, visits]], [[1, 3], [0, 4]])
    np.testing.assert_array_equal(partial.features[:, [vip, visits]], [[1, 3], [np.nan, np.nan]])
    np.testing.assert_array_equal(partial.categorical[:, 0], [1, 0])


def test_attribute_ids_as_float_match_the_log():
    df = pd.DataFrame({"cid": [17850.0, 12346.0, 17850.0], "ts": pd.to_datetime(
        ["2021-01-01", "2021-01-02", "2021-03-01"]), "amount": [1.0, 2.0, 3.0]})
    log = read_transactions(df, ColumnMapping(customer="cid", time="ts", amount="amount"))
    attrs = pd.DataFrame({"CustomerID": [17850.0, 12346.0], "country": ["UK", "FR"]})
    ds = build_dataset(log, LTVTask(cutoff="2021-01-15", horizons=("45D",)), attrs,
                       attribute_customer_col="CustomerID")
    assert list(ds.customer_id) == ["12346", "17850"]
    voc = ds.vocabularies["country"]
    assert [voc[c] for c in ds.categorical[:, 0]] == ["FR", "UK"]
    np.testing.assert_array_equal(ds.labels[:, 0], [0.0, 3.0])


def test_integer_attribute_ids_match_integer_log_ids():
    df = pd.DataFrame({"cid": [5, 6, 5], "ts": pd.to_datetime(
        ["2021-01-01", "2021-01-02", "2021-03-01"]), "amount": [1.0, 2.0, 3.0]})
    log = read_transactions(df, ColumnMapping(customer="cid", time="ts", amount="amount"))
    attrs = pd.DataFrame({"cid": np.array([6, 5], dtype=np.int32), "age": [40, 30],
                          "seg": ["y", "x"]})
    ds = build_dataset(log, LTVTask(cutoff="2021-01-15", horizons=("45D",)), attrs,
                       attribute_customer_col="cid")
    assert list(ds.customer_id) == ["5", "6"]
    np.testing.assert_array_equal(ds.features[:, ds.feature_names.index("attr__age")], [30, 40])
    assert [ds.vocabularies["seg"][c] for c in ds.categorical[:, 0]] == ["x", "y"]
    # Text ids in the attributes match integer ids in the log too.
    text = attrs.assign(cid=attrs["cid"].astype(str))
    again = build_dataset(log, LTVTask(cutoff="2021-01-15", horizons=("45D",)), text,
                          attribute_customer_col="cid")
    np.testing.assert_array_equal(again.features, ds.features)


def test_attribute_errors():
    log = _small_log()
    task = LTVTask(cutoff="2021-06-01", horizons=("30D",))
    dup = pd.DataFrame({"customer_id": ["c01", "c02", "c01", "c02", "c03"],
                        "x": [1, 2, 3, 4, 5]})
    with pytest.raises(DataValidationError) as err:
        build_dataset(log, task, dup)
    e = err.value
    assert (e.column, e.rule, e.n_rows) == ("customer_id", "unique customer", 2)
    assert "2 rows" in str(e) and "customer_id" in str(e)
    with pytest.raises(DataValidationError) as err:
        build_dataset(log, task, pd.DataFrame({"id": ["c01"], "x": [1]}))
    assert (err.value.column, err.value.rule) == ("customer_id", "column exists")
    assert "id" in str(err.value)


# ============================================================================ cross-domain


DOMAIN_MAPPING = ColumnMapping(customer="customer_id", time="ts", amount="amount",
                               order="order_id", quantity="quantity", category="category",
                               domain="domain")


def test_cross_domain_features_labels_and_views():
    df = random_log(41, domains=("shop", "web"))
    log = read_transactions(df, DOMAIN_MAPPING)
    assert log.domains() == ["shop", "web"]
    task = LTVTask(cutoff="2021-07-01", lookback="120D", horizons=("30D", "90D"),
                   period="M", n_periods=4, target_domain="web")
    ds = build_dataset(log, task)
    assert ds.domains == ["shop", "web"] and ds.target_domain == "web"
    for dom in ("shop", "web"):
        for name in STATIC_FEATURES:
            if not name.startswith("cutoff_"):
                assert f"{dom}__{name}" in ds.feature_names
    assert "cutoff_month" in ds.feature_names and "frequency" not in ds.feature_names
    assert ds.channel_names == [f"{d}__{c}" for d in ("shop", "web") for c in SEQUENCE_CHANNELS]

    refs = {dom: reference(df, task, has_order=True, has_quantity=True, has_category=True,
                           rows_filter=df["domain"] == dom) for dom in ("shop", "web")}
    channels = {"shop": slice(0, 4), "web": slice(4, 8)}
    for dom, ref in refs.items():
        assert_matches_reference(ds, ref, prefix=f"{dom}__",
                                 labels=ds.labels_by_domain[dom],
                                 label_orders=ds.label_orders_by_domain[dom],
                                 channels=channels[dom])
    # The labels are the target domain's only.
    np.testing.assert_array_equal(ds.labels, ds.labels_by_domain["web"])
    np.testing.assert_array_equal(ds.label_orders, ds.label_orders_by_domain["web"])
    assert not np.array_equal(ds.labels_by_domain["shop"], ds.labels_by_domain["web"])
    all_rows = reference(df, task, has_order=True)
    keys = dataset_by_key(ds)
    net_all = np.array([all_rows[k]["labels"] for k in keys])
    assert not np.allclose(ds.labels, net_all)

    for dom in ("shop", "web"):
        view = ds.domain_view(dom)
        assert view.feature_names == [n for n in STATIC_FEATURES if not n.startswith("cutoff_")] \
            + ["cutoff_month", "cutoff_dayofweek"]
        for j, name in enumerate(view.feature_names):
            src = name if name.startswith("cutoff_") else f"{dom}__{name}"
            np.testing.assert_array_equal(view.features[:, j],
                                          ds.features[:, ds.feature_names.index(src)])
        assert view.channel_names == list(SEQUENCE_CHANNELS)
        np.testing.assert_array_equal(view.sequences, ds.sequences[:, :, channels[dom]])
        np.testing.assert_array_equal(view.labels, ds.labels_by_domain[dom])
        np.testing.assert_array_equal(view.label_orders, ds.label_orders_by_domain[dom])
        np.testing.assert_array_equal(view.purchased, ds.label_orders_by_domain[dom] > 0)
        assert len(view) == len(ds)
    with pytest.raises(DataValidationError, match="not in the dataset"):
        ds.domain_view("app")
    # The sub-dataset keeps the per-domain labels aligned.
    sub = ds.subset(np.arange(len(ds)) % 3 == 0)
    np.testing.assert_array_equal(sub.labels_by_domain["shop"],
                                  ds.labels_by_domain["shop"][::3])
    np.testing.assert_array_equal(sub.domain_view("shop").label_orders,
                                  ds.label_orders_by_domain["shop"][::3])


def test_cross_domain_task_errors():
    df = random_log(42, domains=("shop", "web"))
    log = read_transactions(df, DOMAIN_MAPPING)
    with pytest.raises(TaskError, match="app"):
        build_dataset(log, LTVTask(cutoff="2021-06-01", domains=("shop", "app")))
    with pytest.raises(TaskError, match="target domain"):
        build_dataset(log, LTVTask(cutoff="2021-06-01", domains=("shop",), target_domain="web"))
    plain = read_transactions(df, MAPPING)
    with pytest.raises(TaskError, match="no domain column"):
        build_dataset(plain, LTVTask(cutoff="2021-06-01", target_domain="web"))
    # Features of the listed domains only.
    only_shop = build_dataset(log, LTVTask(cutoff="2021-06-01", domains=("shop",),
                                           target_domain="shop"))
    assert not any(n.startswith("web__") for n in only_shop.feature_names)
    assert only_shop.domains == ["shop"]


def test_without_a_target_domain_the_last_domain_is_the_label():
    df = random_log(43, domains=("shop", "web"))
    log = read_transactions(df, DOMAIN_MAPPING)
    ds = build_dataset(log, LTVTask(cutoff="2021-06-01", horizons=("30D",)))
    assert ds.target_domain == "web"
    np.testing.assert_array_equal(ds.labels, ds.labels_by_domain["web"])
    listed = build_dataset(log, LTVTask(cutoff="2021-06-01", horizons=("30D",),
                                        domains=("web", "shop")))
    assert listed.target_domain == "shop"
    np.testing.assert_array_equal(listed.labels, ds.labels_by_domain["shop"])


@pytest.mark.parametrize("threads", [1, 2])
def test_building_twice_gives_bit_identical_datasets(shared_data, monkeypatch, threads):
    """Rows are added up in an order fixed by the data (the sort), one customer per thread, so
    neither DuckDB's nor the kernels' thread count can change the last bit."""
    import numba

    from ltvkit.datasets import get_dataset

    monkeypatch.setenv("LTVKIT_DATA_HOME", str(shared_data))
    public = get_dataset("online_retail")
    first = build_dataset(public.load_log(), public.task)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        again = build_dataset(public.load_log(), public.task)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.labels, first.labels)
    np.testing.assert_array_equal(again.sequences, first.sequences)
    np.testing.assert_array_equal(again.customer_id, first.customer_id)


def test_logs_before_1970_agree_with_the_reference():
    """Day numbers of timestamps before 1970 are floored (not truncated toward zero)."""
    shift = pd.Timestamp("2021-01-01") - pd.Timestamp("1969-09-01")  # 1969-1970, across 0
    df = random_log(3)
    df["ts"] = df["ts"] - shift
    task = LTVTask(cutoff=str((pd.Timestamp("2021-06-30") - shift).date()),
                   horizons=("30D", "90D"), period="7D", n_periods=10)
    ds = build_dataset(read_transactions(df, MAPPING), task)
    assert_matches_reference(ds, reference(df, task, has_order=True, has_quantity=True,
                                           has_category=True))
    monthly = LTVTask(cutoff=task.cutoff, horizons=("30D",), period="M", n_periods=8)
    ds = build_dataset(read_transactions(df, MAPPING), monthly)
    assert_matches_reference(ds, reference(df, monthly, has_order=True, has_quantity=True,
                                           has_category=True))


@settings(max_examples=200, deadline=None)
@given(cutoff=st.dates(dt.date(1800, 1, 1), dt.date(2300, 1, 1)),
       span=st.integers(0, 4000))
def test_periods_back_in_months_equal_numpy_calendar_months(cutoff, span):
    """The month table behind _periods_back gives NumPy's calendar months, inside its range
    (1900-2200) and outside it."""
    from ltvkit.data import kernels

    window = kernels.make_window(cutoff, None)
    lo = window.end_day - span
    days = np.arange(lo, window.end_day + 1).astype("datetime64[D]")
    expected = (np.datetime64(cutoff, "M").astype(np.int64)
                - days.astype("datetime64[M]").astype(np.int64))
    got = kernels._periods_back(window, ("month", 1), lo, window.end_day)
    assert got.dtype == np.int64 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
