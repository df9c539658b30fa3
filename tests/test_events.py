"""Events beyond purchases and attributes as of each cutoff: the contract, the features and
channels against a pandas reference, the vocabulary, no leakage (hypothesis), the CLI, models
that read them unchanged, and Olist's order payments as seller events."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import duckdb
import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltvkit.data import LTVDataset, LTVTask, build_dataset, read_transactions
from ltvkit.data.events import EventCleaning, EventMapping, read_events
from ltvkit.data.layout import EVENT_VOCABULARY
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.sources import new_connection
from ltvkit.errors import DataValidationError
from ltvkit.metrics import evaluate

MAPPING = ColumnMapping(customer="customer_id", time="ts", amount="amount")
EV_MAPPING = EventMapping(customer="customer_id", time="ts", event_type="event_type",
                          value="value")
START = pd.Timestamp("2021-01-01")
TYPES = ["visit", "email open", "ticket", "sms"]


def random_log(seed: int, n_customers: int = 12, n_rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in rng.integers(0, n_customers, n_rows)],
        "ts": START + pd.to_timedelta(rng.integers(0, 180 * 86_400, n_rows), "s"),
        "amount": np.round(rng.gamma(2.0, 20.0, n_rows), 2)})


def random_events(seed: int, n_customers: int = 14, n_rows: int = 600) -> pd.DataFrame:
    """Events of the log's customers and of two with no purchase; some without a value."""
    rng = np.random.default_rng(seed + 100)
    p = np.array([0.5, 0.25, 0.15, 0.10])
    value = np.round(rng.exponential(3.0, n_rows), 3)
    value[rng.random(n_rows) < 0.2] = np.nan
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in rng.integers(0, n_customers, n_rows)],
        "ts": START + pd.to_timedelta(rng.integers(0, 180 * 86_400, n_rows), "s"),
        "event_type": np.array(TYPES)[rng.choice(4, n_rows, p=p)],
        "value": value})


def _period_back(cutoff: dt.date, day: pd.Timestamp, period: str) -> int:
    if period == "M":
        return (cutoff.year - day.year) * 12 + cutoff.month - day.month
    return (cutoff - day.date()).days // int(period[:-1])


def event_reference(events: pd.DataFrame, ds: LTVDataset, vocabulary: list[str],
                    task: LTVTask) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: [count, value sum, recency] of every slot and the per-period counts, by
    plain pandas filtering of the rows in the feature window."""
    slots = vocabulary + ["<other>"]
    lookback = None if task.lookback is None else int(task.lookback[:-1])
    feats = np.zeros((len(ds), len(slots), 3))
    seq = np.zeros((len(ds), task.n_periods, len(slots)))
    ev = events.dropna(subset=["customer_id"]).drop_duplicates()
    ev = ev.assign(slot=[vocabulary.index(t) if t in vocabulary else len(vocabulary)
                         for t in ev["event_type"]])
    for i, (cid, cut) in enumerate(zip(ds.customer_id, ds.cutoff.astype("datetime64[D]"),
                                       strict=True)):
        cutoff = pd.Timestamp(cut).date()
        c_end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
        rows = ev[(ev["customer_id"] == cid) & (ev["ts"] < c_end)]
        if lookback:
            rows = rows[rows["ts"] >= c_end - pd.Timedelta(days=lookback)]
        for s in range(len(slots)):
            r = rows[rows["slot"] == s]
            feats[i, s, 0] = len(r)
            feats[i, s, 1] = r["value"].fillna(0).sum()
            feats[i, s, 2] = (cutoff - r["ts"].max().date()).days if len(r) else np.nan
            for ts in r["ts"]:
                back = _period_back(cutoff, ts, task.period)
                if back < task.n_periods:
                    seq[i, task.n_periods - 1 - back, s] += 1
    return feats, seq


TASKS = {
    "month": LTVTask(cutoff="2021-04-15", horizons=("30D",), period="M", n_periods=4),
    "weeks_lookback": LTVTask(cutoff="2021-04-15", horizons=("30D",), period="7D",
                              n_periods=6, lookback="50D"),
    "sliding_active": LTVTask(cutoff_start="2021-03-01", cutoff_end="2021-05-01",
                              cutoff_step="30D", horizons=("30D",), period="30D", n_periods=3,
                              lookback="90D", cohort="active"),
}


def _event_block(ds: LTVDataset, labels: list[str], stats: tuple[str, ...]) -> np.ndarray:
    return np.stack([np.stack([ds.feature(f"event_{lab}_{st}") for st in stats], axis=1)
                     for lab in labels], axis=1)


@pytest.mark.parametrize("task_name", sorted(TASKS))
@pytest.mark.parametrize("seed", [0, 1])
def test_event_features_and_channels_agree_with_pandas(task_name, seed):
    task = TASKS[task_name]
    events = random_events(seed)
    log = read_transactions(random_log(seed), MAPPING)
    ds = build_dataset(log, task, events=read_events(events, EV_MAPPING), event_top_k=2)
    vocab = ds.vocabularies[EVENT_VOCABULARY]
    assert len(vocab) == 2
    labels = [v.replace(" ", "_") for v in vocab] + ["other"]
    got = _event_block(ds, labels, ("count", "value_sum", "recency_days"))
    channels = [ds.layout.channel_index(f"event_{lab}_count") for lab in labels]
    ref, ref_seq = event_reference(events, ds, vocab, task)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ds.sequences[:, :, channels], ref_seq)
    assert got[:, :, 0].sum() > 0  # the test would pass on an all-empty block otherwise
    # The transaction columns come first and are those of the dataset without events.
    plain = build_dataset(read_transactions(random_log(seed), MAPPING), task)
    np.testing.assert_array_equal(ds.features[:, :len(plain.feature_names)], plain.features)
    assert ds.feature_names[:len(plain.feature_names)] == plain.feature_names
    np.testing.assert_array_equal(ds.sequences[:, :, :4], plain.sequences)


def test_events_with_a_domain_feed_each_domain_of_a_cross_domain_dataset():
    rng = np.random.default_rng(21)
    log = random_log(21).assign(domain=lambda f: np.where(rng.random(len(f)) < 0.5, "shop",
                                                          "web"))
    events = random_events(21)
    events["domain"] = np.array(["shop", "web", "app"])[rng.integers(0, 3, len(events))]
    tlog = read_transactions(log, ColumnMapping(customer="customer_id", time="ts",
                                                amount="amount", domain="domain"))
    task = LTVTask(cutoff="2021-04-15", horizons=("30D",), period="M", n_periods=4,
                   target_domain="web")
    mapping = EventMapping(customer="customer_id", time="ts", event_type="event_type",
                           value="value", domain="domain")
    ds = build_dataset(tlog, task, events=read_events(events, mapping), event_top_k=2)
    vocab = ds.vocabularies[EVENT_VOCABULARY]
    labels = [v.replace(" ", "_") for v in vocab] + ["other"]
    for dom in ("shop", "web"):
        view = ds.domain_view(dom)
        ref, ref_seq = event_reference(events[events["domain"] == dom], ds, vocab, task)
        np.testing.assert_allclose(_event_block(view, labels, ("count", "value_sum",
                                                               "recency_days")), ref,
                                   rtol=1e-5, atol=1e-4)
        ch = [view.layout.channel_index(f"event_{lab}_count") for lab in labels]
        np.testing.assert_allclose(view.sequences[:, :, ch], ref_seq)
        assert f"{dom}__event_other_count" in ds.feature_names
    assert "event_other_count" not in ds.feature_names  # no shared block: every event has one
    # Events without a domain column are shared columns of every domain.
    shared = build_dataset(tlog, task, events=read_events(events, EV_MAPPING), event_top_k=2)
    assert "event_other_count" in shared.feature_names
    assert "event_other_count" in shared.domain_view("shop").feature_names


def test_vocabulary_top_k_from_before_the_first_cutoff_the_rest_pooled():
    rows = [("a", "2021-01-02", "visit"), ("a", "2021-01-03", "visit"),
            ("a", "2021-01-04", "email"), ("b", "2021-01-05", "email"),
            ("b", "2021-01-06", "ticket"), ("a", "2021-01-07", "sms"),
            # after the first cutoff's day: many "late" events never enter the vocabulary
            *[("a", f"2021-02-{d:02d}", "late") for d in range(1, 20)]]
    events = pd.DataFrame(rows, columns=["customer_id", "ts", "event_type"])
    events["ts"] = pd.to_datetime(events["ts"])
    log = read_transactions(pd.DataFrame({
        "customer_id": ["a", "b", "a"],
        "ts": pd.to_datetime(["2021-01-01", "2021-01-01", "2021-06-01"]),
        "amount": [1.0, 2.0, 3.0]}), MAPPING)
    task = LTVTask(cutoff_start="2021-01-20", cutoff_end="2021-02-19", cutoff_step="30D",
                   horizons=("30D",), period="M", n_periods=2)
    ev = read_events(events, EventMapping(customer="customer_id", time="ts"))
    ds = build_dataset(log, task, events=ev, event_top_k=2)
    # email 2, visit 2 (ties by name), then sms / ticket 1: pooled, with "late", into other.
    assert ds.vocabularies[EVENT_VOCABULARY] == ["email", "visit"]
    assert "event_visit_value_sum" not in ds.feature_names  # no value column
    late = ds.cutoff == np.datetime64("2021-02-19")
    other = ds.feature("event_other_count")
    assert other[(ds.customer_id == "a") & late][0] == 1 + 19  # sms + the late ones
    assert other[(ds.customer_id == "b") & late][0] == 1  # ticket
    assert other[(ds.customer_id == "a") & ~late][0] == 1  # sms only
    # top_k = 0: everything pooled
    ds0 = build_dataset(log, task, events=ev, event_top_k=0)
    assert ds0.vocabularies[EVENT_VOCABULARY] == []
    assert ds0.feature("event_other_count")[ds0.cutoff == np.datetime64("2021-02-19")].sum() \
        == len(events)


def test_prediction_dataset_uses_the_training_vocabulary(tmp_path):
    events = random_events(3)
    log = read_transactions(random_log(3), MAPPING)
    task = TASKS["month"]
    train = build_dataset(log, task, events=read_events(events, EV_MAPPING), event_top_k=2)
    train.save(tmp_path / "ds")
    loaded = LTVDataset.load(tmp_path / "ds")
    assert loaded.vocabularies[EVENT_VOCABULARY] == train.vocabularies[EVENT_VOCABULARY]
    assert loaded.meta["events"]["vocabulary"] == train.vocabularies[EVENT_VOCABULARY]
    # New events at scoring time, with a type training never saw and another ranking: the
    # columns stay the training ones, the unseen type lands in "other".
    other = events.copy()
    other["event_type"] = np.where(other["event_type"] == "visit", "push", other["event_type"])
    score = build_dataset(log, task, events=read_events(other, EV_MAPPING),
                          vocabularies=loaded.vocabularies)
    assert score.feature_names == train.feature_names
    assert score.channel_names == train.channel_names
    own = build_dataset(log, task, events=read_events(other, EV_MAPPING), event_top_k=2)
    assert own.feature_names != train.feature_names
    if "visit" in train.vocabularies[EVENT_VOCABULARY]:
        assert score.feature("event_visit_count").sum() == 0
        assert score.feature("event_other_count").sum() > train.feature("event_other_count").sum()
    with pytest.raises(DataValidationError, match="pass the events"):
        build_dataset(log, task, vocabularies=loaded.vocabularies)


def test_events_read_the_same_from_every_source(tmp_path):
    events = random_events(5)
    csv, parquet = tmp_path / "ev.csv", tmp_path / "ev.parquet"
    events.to_csv(csv, index=False)
    events.to_parquet(parquet)
    con = duckdb.connect()
    sources = {"csv": str(csv), "parquet": str(parquet), "pandas": events,
               "arrow": pa.Table.from_pandas(events), "duckdb": con.from_df(events)}
    try:
        import polars as pl
        sources["polars"] = pl.from_pandas(events)
    except ImportError:
        pass
    got = {k: read_events(v, EV_MAPPING) for k, v in sources.items()}
    ref = got["pandas"]
    for name, ev in got.items():
        assert ev.quality.to_dict() == ref.quality.to_dict(), name
        np.testing.assert_array_equal(ev.arrays.ts, ref.arrays.ts)
        np.testing.assert_array_equal(ev.arrays.type_code, ref.arrays.type_code)
        np.testing.assert_array_equal(ev.arrays.value, ref.arrays.value)
        np.testing.assert_array_equal(ev.arrays.customer_starts, ref.arrays.customer_starts)
    assert ref.arrays.type_names == tuple(sorted(TYPES))


def test_cleaning_counts_balance():
    ev = random_events(7, n_rows=100)
    extra = pd.DataFrame({
        "customer_id": [None, "  ", "c1", "c1", "c1", "c2"],
        "ts": pd.to_datetime(["2021-02-01", "2021-02-01", "2021-02-01", "2021-02-01",
                              "2021-02-01", "2022-01-01"]),
        "event_type": ["visit", "visit", None, "visit", "visit", "visit"],
        "value": [1.0, 1.0, 1.0, 7.0, 7.0, 1.0]})
    frame = pd.concat([ev, extra], ignore_index=True)
    n_dup_in_random = int(ev.duplicated().sum())
    out = read_events(frame, EV_MAPPING, EventCleaning(data_end="2021-12-31"))
    q = out.quality
    assert q.rows_read == len(frame)
    assert q.dropped["missing_customer_id"] == 2
    assert q.dropped["missing_event_type"] == 1
    assert q.dropped["after_data_end"] == 1
    assert q.dropped["exact_duplicates"] == 1 + n_dup_in_random
    assert q.rows_kept == out.arrays.n_rows == len(frame) - sum(q.dropped.values())
    assert q.kept_with_notes["rows_without_value"] == int(np.isnan(out.arrays.value).sum()) > 0
    assert sum(q.type_counts.values()) == q.rows_kept
    kept = read_events(frame, EV_MAPPING, EventCleaning(drop_duplicates=False))
    assert kept.quality.dropped["exact_duplicates"] == 0
    assert kept.quality.rows_kept == q.rows_kept + q.dropped["exact_duplicates"] + 1


@pytest.mark.parametrize("change, match", [
    (lambda f: f.drop(columns=["event_type"]), "missing column 'event_type'"),
    (lambda f: f.assign(ts=f["ts"].astype(str).where(f.index % 9 != 0, "not a time")),
     r"rows have timestamps that cannot be parsed"),
    (lambda f: f.assign(ts=f["ts"].astype(str).where(f.index % 9 != 0, None)),
     r"rows have no timestamp"),
    (lambda f: f.assign(value=f["value"].astype(str).where(f.index % 7 != 0, "x")),
     r"non-numeric values"),
    (lambda f: f.assign(value=np.where(f.index % 7 == 0, np.inf, f["value"])),
     r"infinite values"),
    (lambda f: f.iloc[:0], "no rows"),
])
def test_bad_events_are_one_line_errors_with_counts(change, match):
    frame = change(random_events(2, n_rows=63))
    with pytest.raises(DataValidationError, match=match) as info:
        read_events(frame, EV_MAPPING)
    assert "\n" not in str(info.value)
    if "rows have" in match:
        assert info.value.n_rows == (9 if "value" in match else 7)


@pytest.mark.parametrize("statistics", [True, False])
@pytest.mark.parametrize("change, match, n_bad", [
    (lambda f: f.assign(ts=f["ts"].where(f.index % 9 != 0, pd.NaT)), "rows have no timestamp", 7),
    (lambda f: f.assign(value=np.where(f.index % 7 == 0, np.inf, f["value"])),
     "infinite values", 9),
    (lambda f: f.assign(value=np.where(f.index == 5, -np.inf, np.nan)), "infinite values", 1),
    (lambda f: f, None, 0),
])
def test_parquet_footers_stand_in_for_the_counts_they_prove(tmp_path, statistics, change,
                                                            match, n_bad):
    """A Parquet file's statistics let the read skip the missing-time and infinite-value
    counts only when they prove them zero: with and without statistics, the same errors and
    counts, and the same events, as the DataFrame."""
    import pyarrow.parquet as pq

    from ltvkit.data.sources import new_connection, parquet_facts

    frame = change(random_events(2, n_rows=63))
    path = tmp_path / "ev.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   row_group_size=20, write_statistics=statistics)
    facts = parquet_facts(new_connection(), str(path), ["ts", "value"])
    if statistics:
        assert facts["ts"].no_nulls == ("no timestamp" not in (match or ""))
        assert facts["value"].finite == ("infinite" not in (match or ""))
        assert not facts["value"].no_nulls  # random_events leaves some values out
    else:
        assert not any(f.no_nulls or f.finite for f in facts.values())
    if match is None:
        got, want = read_events(str(path), EV_MAPPING), read_events(frame, EV_MAPPING)
        assert got.quality.to_dict() | {"mapping": None} == \
            want.quality.to_dict() | {"mapping": None}
        np.testing.assert_array_equal(got.arrays.ts, want.arrays.ts)
        np.testing.assert_array_equal(got.arrays.value, want.arrays.value)
        return
    with pytest.raises(DataValidationError, match=match) as info:
        read_events(str(path), EV_MAPPING)
    assert info.value.n_rows == n_bad


def test_row_order_of_the_input_changes_nothing():
    """Many events tied in (customer, ts) with different types and values: any input order
    gives the same sorted arrays and bit-identical features (sums in one fixed order)."""
    events = random_events(13, n_customers=6, n_rows=3000)
    events["ts"] = events["ts"].dt.floor("7D")  # ties everywhere
    events = pd.concat([events, events.iloc[:40]], ignore_index=True)  # exact duplicates
    log = read_transactions(random_log(13, n_customers=6), MAPPING)
    out = []
    for seed in (0, 1, 2):
        shuffled = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        ev = read_events(shuffled, EV_MAPPING)
        out.append((ev, build_dataset(log, TASKS["month"], events=ev)))
    for ev, ds in out[1:]:
        assert ev.quality.dropped["exact_duplicates"] == out[0][0].quality.dropped[
            "exact_duplicates"] >= 40
        for name in ("ts", "type_code", "value", "customer_starts"):
            np.testing.assert_array_equal(getattr(ev.arrays, name),
                                          getattr(out[0][0].arrays, name))
        np.testing.assert_array_equal(ds.features, out[0][1].features)
        np.testing.assert_array_equal(ds.sequences, out[0][1].sequences)


def test_every_kind_of_customer_id_sorts_the_same_rows():
    """Integer ids in a narrow range are their own sort codes, ids spread wide (and text ids)
    are coded by DuckDB: the same events give the same rows per customer either way, with
    ties and exact duplicates, and customers in id order."""
    events = random_events(21, n_customers=40, n_rows=2500)
    events["ts"] = events["ts"].dt.floor("3D")
    events = pd.concat([events, events.iloc[:30]], ignore_index=True)
    number = events["customer_id"].str[1:].astype(np.int64)
    read = {}
    for kind, ids in (("text", events["customer_id"]), ("narrow", number + 5),
                      ("wide", number * 10**12 - 3)):
        ev = read_events(events.assign(customer_id=ids), EV_MAPPING)
        a = ev.arrays
        assert list(a.customer_ids) == sorted(a.customer_ids)
        assert ev.quality.dropped["exact_duplicates"] >= 30
        by_customer = {}
        for c, (lo, hi) in enumerate(zip(a.customer_starts[:-1], a.customer_starts[1:],
                                         strict=True)):
            key = int(str(a.customer_ids[c]).lstrip("c")) if kind == "text" else (
                (int(a.customer_ids[c]) - 5) if kind == "narrow"
                else (int(a.customer_ids[c]) + 3) // 10**12)
            assert np.all(np.diff(a.ts[lo:hi]) >= 0)
            by_customer[key] = (a.ts[lo:hi].tolist(), a.type_code[lo:hi].tolist(),
                                np.nan_to_num(a.value[lo:hi], nan=-1.0).tolist())
        read[kind] = by_customer
    assert read["narrow"] == read["wide"] == read["text"]
    assert len(read["text"]) == events["customer_id"].nunique()


def test_tied_rows_and_exact_duplicates_with_a_domain_agree_with_pandas():
    """Rows tied in (customer, ts) are ordered by (type, domain, value, missing values last)
    and exact duplicates dropped, with a domain column too: the arrays are pandas'
    drop_duplicates + sort of the same frame."""
    rng = np.random.default_rng(31)
    events = random_events(31, n_customers=5, n_rows=2000)
    events["ts"] = events["ts"].dt.floor("14D")  # many ties in (customer, ts)
    events["value"] = np.where(np.isnan(events["value"]), np.nan, np.round(events["value"]))
    events["domain"] = np.array(["shop", "web", None], dtype=object)[rng.integers(0, 3, 2000)]
    events = pd.concat([events, events.iloc[::7]], ignore_index=True)  # exact duplicates
    mapping = EventMapping(customer="customer_id", time="ts", event_type="event_type",
                           value="value", domain="domain")
    ev = read_events(events.sample(frac=1.0, random_state=3), mapping)
    ref = events.drop_duplicates().assign(
        dom=lambda f: f["domain"].map({"shop": 0, "web": 1}).fillna(-1).astype(int),
        missing=lambda f: f["value"].isna(), v=lambda f: f["value"].fillna(0.0))
    ref = ref.sort_values(["customer_id", "ts", "event_type", "dom", "missing", "v"])
    a = ev.arrays
    assert ev.quality.dropped["exact_duplicates"] == len(events) - len(ref) > 0
    assert a.domain_names == ("shop", "web")
    np.testing.assert_array_equal(a.customer_ids, sorted(ref["customer_id"].unique()))
    np.testing.assert_array_equal(np.diff(a.customer_starts),
                                  ref.groupby("customer_id").size().to_numpy())
    np.testing.assert_array_equal(a.ts, ref["ts"].to_numpy("datetime64[us]").view(np.int64))
    np.testing.assert_array_equal(np.array(a.type_names)[a.type_code], ref["event_type"])
    np.testing.assert_array_equal(a.domain, ref["dom"])
    np.testing.assert_array_equal(a.value, ref["value"])


def test_building_with_events_is_bit_identical_across_thread_counts():
    events = random_events(9, n_customers=40, n_rows=5000)
    frames = []
    for threads in (1, max(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        log = read_transactions(random_log(9, n_customers=40, n_rows=2000), MAPPING)
        frames.append(build_dataset(log, TASKS["sliding_active"],
                                    events=read_events(events, EV_MAPPING)))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(frames[0].features, frames[1].features)
    np.testing.assert_array_equal(frames[0].sequences, frames[1].sequences)


# ============================================================== attributes as of the cutoff

def _asof_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "cid": ["c0", "c0", "c0", "c1", "c1", "c2"],
        "valid_from": pd.to_datetime(["2021-01-01 00:00:00", "2021-03-10 00:00:00",
                                      "2021-04-16 00:00:00", "2021-04-15 23:59:59",
                                      "2021-01-01 00:00:00", "2021-06-01 00:00:00"]),
        "plan": ["free", "pro", "team", "pro", "free", "team"],
        "seats": [1, 3, 10, 2, 1, 5]})


def asof_reference(frame: pd.DataFrame, ids, cutoffs) -> list[dict | None]:
    out = []
    for cid, cut in zip(ids, cutoffs, strict=True):
        c_end = pd.Timestamp(cut) + pd.Timedelta(days=1)
        rows = frame[(frame["cid"] == cid) & (frame["valid_from"] < c_end)]
        out.append(None if rows.empty else rows.sort_values("valid_from").iloc[-1].to_dict())
    return out


def test_attributes_as_of_each_cutoff_agree_with_pandas():
    log = read_transactions(random_log(4), MAPPING)
    task = LTVTask(cutoff_start="2021-03-09", cutoff_end="2021-04-15", cutoff_step="37D",
                   horizons=("30D",), period="M", n_periods=2)
    frame = _asof_frame()
    ds = build_dataset(log, task, attributes_asof=frame, attributes_asof_customer_col="cid")
    ref = asof_reference(frame, ds.customer_id, ds.cutoff)
    vocab = ds.vocabularies["plan"]
    plan = ds.categorical[:, ds.categorical_names.index("plan")]
    seats = ds.feature("attr__seats")
    for i, r in enumerate(ref):
        if r is None:
            assert plan[i] == 0 and np.isnan(seats[i])
        else:
            assert vocab[plan[i]] == r["plan"] and seats[i] == r["seats"]
    c0 = dict(zip(ds.cutoff.astype(str)[ds.customer_id == "c0"],
                  plan[ds.customer_id == "c0"], strict=True))
    # 2021-03-09: free; 2021-04-15: pro (the change on 04-16 is after the cutoff day)
    assert [vocab[c0["2021-03-09"]], vocab[c0["2021-04-15"]]] == ["free", "pro"]
    # c1's change at 23:59:59 of the cutoff day counts (the cutoff day is in the history)
    c1 = plan[(ds.customer_id == "c1") & (ds.cutoff == np.datetime64("2021-04-15"))]
    assert [vocab[c] for c in c1] == ["pro"]
    # "team" is valid only after the last cutoff: it is in no code
    assert "team" not in vocab and vocab[0] == "<unknown>"
    q = log.quality.attributes_asof
    assert q["samples_matched"] + q["samples_without_value_at_cutoff"] == len(ds)
    assert q["samples_matched"] == sum(r is not None for r in ref)


def test_attributes_asof_errors():
    log = read_transactions(random_log(4), MAPPING)
    task = TASKS["month"]
    frame = _asof_frame()
    with pytest.raises(DataValidationError, match="missing column 'valid_from'"):
        build_dataset(log, task, attributes_asof=frame.drop(columns="valid_from"),
                      attributes_asof_customer_col="cid")
    with pytest.raises(DataValidationError, match="1 rows repeat a .customer, valid-from."):
        build_dataset(log, task, attributes_asof=pd.concat([frame, frame.iloc[:1]]),
                      attributes_asof_customer_col="cid")
    bad = frame.assign(valid_from=frame["valid_from"].astype(str).where(frame.index != 2, "?"))
    with pytest.raises(DataValidationError, match="1 rows have a missing or unparseable"):
        build_dataset(log, task, attributes_asof=bad, attributes_asof_customer_col="cid")


# ====================================================================== no leakage

C_END = pd.Timestamp("2021-03-11")  # cutoff day 2021-03-10
CUSTOMERS = ["a", "b", "c"]
EVENT_TYPES = ["visit", "mail", "call"]
MAX_AFTER = 100 * 86_400


def _offsets(lo: int, hi: int):
    edges = [e for d in (-10, -1, 0, 1, 7) for e in (d * 86_400 - 1, d * 86_400, d * 86_400 + 1)]
    return st.one_of(st.integers(lo, hi - 1), st.sampled_from([e for e in edges
                                                               if lo <= e < hi]))


def _event_rows(lo: int, hi: int):
    return st.lists(st.tuples(st.sampled_from(CUSTOMERS + ["d"]), _offsets(lo, hi),
                              st.sampled_from(EVENT_TYPES),
                              st.sampled_from([0.5, 1.0, 7.0, float("nan")])), max_size=15)


def _attr_rows(lo: int, hi: int):
    return st.lists(st.tuples(st.sampled_from(CUSTOMERS), _offsets(lo, hi),
                              st.sampled_from(["free", "pro", "team"]),
                              st.sampled_from([1.0, 2.0, 5.0])),
                    max_size=6, unique_by=lambda r: (r[0], r[1]))


def _purchase_rows(lo: int, hi: int):
    return st.lists(st.tuples(st.sampled_from(CUSTOMERS), _offsets(lo, hi),
                              st.sampled_from([-3.0, 2.0, 10.0])), max_size=8)


def _frames(purchases, events, attrs):
    # Every customer bought before the cutoff, "zz" just before it (the active cohort is never
    # empty) and long after it (the data range is fixed).
    fixed = [(c, -20 * 86_400, 5.0) for c in CUSTOMERS] + [
        ("zz", -60 * 86_400, 1.0), ("zz", -1, 1.0), ("zz", MAX_AFTER + 11 * 86_400, 1.0)]
    log = pd.DataFrame(fixed + purchases, columns=["customer_id", "offset", "amount"])
    log["ts"] = C_END + pd.to_timedelta(log.pop("offset"), "s")
    # Every event type occurs before the cutoff (fixed rows), so the vocabulary is fixed.
    fixed_ev = [("zz", -30 * 86_400, t, 1.0) for t in EVENT_TYPES]
    ev = pd.DataFrame(fixed_ev + events, columns=["customer_id", "offset", "event_type", "value"])
    ev["ts"] = C_END + pd.to_timedelta(ev.pop("offset"), "s")
    # A fixed attribute row, so the columns' types never depend on the random rows.
    at = pd.DataFrame([("zz", -30 * 86_400, "free", 1.0)] + attrs, columns=["customer_id", "offset", "plan", "seats"])
    at["valid_from"] = C_END + pd.to_timedelta(at.pop("offset"), "s")
    return log, ev, at


_CON = None


def _build(frames, task: LTVTask) -> LTVDataset:
    global _CON
    if _CON is None:
        _CON = new_connection()
    log_frame, ev, at = frames
    log = read_transactions(log_frame, MAPPING, con=_CON, table="leak_events")
    return build_dataset(log, task, events=read_events(ev, EV_MAPPING, con=_CON),
                         event_top_k=2, attributes_asof=at)


task_options = st.fixed_dictionaries({
    "lookback": st.sampled_from([None, "1D", "10D"]),
    "period": st.sampled_from(["1D", "7D", "M"]),
    "cohort": st.sampled_from(["known", "active"]),
})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(opts=task_options,
       purchases=_purchase_rows(-40 * 86_400, 0),
       purchases_after=_purchase_rows(0, MAX_AFTER), purchases_after2=_purchase_rows(0, MAX_AFTER),
       events=_event_rows(-40 * 86_400, 0),
       events_after=_event_rows(0, MAX_AFTER), events_after2=_event_rows(0, MAX_AFTER),
       attrs=_attr_rows(-40 * 86_400, 0),
       attrs_after=_attr_rows(0, MAX_AFTER), attrs_after2=_attr_rows(0, MAX_AFTER))
def test_nothing_after_the_cutoff_day_reaches_event_or_asof_features(
        opts, purchases, purchases_after, purchases_after2, events, events_after,
        events_after2, attrs, attrs_after, attrs_after2):
    """Rows (purchases, events, attribute changes) dated after the cutoff day change no
    feature, sequence or categorical code; rows before it do reach them (checked once)."""
    task = LTVTask(cutoff="2021-03-10", lookback=opts["lookback"], period=opts["period"],
                   n_periods=5, cohort=opts["cohort"], horizons=("30D",))

    def unique(rows):  # one attribute row per (customer, valid-from) across both parts
        seen = {(r[0], r[1]) for r in attrs}
        return [r for r in rows if (r[0], r[1]) not in seen]

    one = _build(_frames(purchases + purchases_after, events + events_after,
                         attrs + unique(attrs_after)), task)
    two = _build(_frames(purchases + purchases_after2, events + events_after2,
                         attrs + unique(attrs_after2)), task)
    np.testing.assert_array_equal(one.customer_id, two.customer_id)
    assert one.feature_names == two.feature_names
    assert one.channel_names == two.channel_names
    assert one.vocabularies == two.vocabularies
    np.testing.assert_allclose(one.features, two.features, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(one.sequences, two.sequences, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(one.categorical, two.categorical)


def test_the_leakage_property_could_fail():
    """The same comparison sees an event and an attribute change on the cutoff day."""
    task = LTVTask(cutoff="2021-03-10", period="1D", n_periods=5, horizons=("30D",))
    base = _build(_frames([], [], [("a", -86_400, "free", 1.0)]), task)
    late = _build(_frames([], [("a", -1, "visit", 1.0)], [("a", -86_400, "free", 1.0),
                                                         ("a", -1, "pro", 2.0)]), task)
    assert not np.allclose(base.features, late.features, equal_nan=True)
    assert not np.array_equal(base.categorical, late.categorical)


# ====================================================================== models read them

def _signal_data(seed: int):
    """Customers whose future spend is driven by their recent visits only."""
    rng = np.random.default_rng(seed)
    n = 600
    ids = [f"u{i}" for i in range(n)]
    visits = rng.poisson(rng.gamma(1.0, 3.0, n))
    purchases = [(c, START + pd.Timedelta(days=int(rng.integers(0, 30))), 20.0) for c in ids]
    events = []
    for c, k in zip(ids, visits, strict=True):
        for _ in range(k):
            events.append((c, START + pd.Timedelta(days=int(rng.integers(60, 90))), "visit"))
        if k:  # a label that follows the visits: k purchases after the cutoff
            purchases += [(c, START + pd.Timedelta(days=int(rng.integers(91, 120))), 10.0)] * k
        events.append((c, START + pd.Timedelta(days=int(rng.integers(0, 90))), "mail"))
    purchases.append((ids[0], START + pd.Timedelta(days=170), 1.0))  # data past the horizon
    log = pd.DataFrame(purchases, columns=["customer_id", "ts", "amount"])
    ev = pd.DataFrame(events, columns=["customer_id", "ts", "event_type"])
    task = LTVTask(cutoff="2021-03-31", horizons=("60D",), period="30D", n_periods=3)
    tlog = read_transactions(log, MAPPING, CleaningRules(drop_duplicates=False))
    with_ev = build_dataset(tlog, task, events=read_events(
        ev, EventMapping(customer="customer_id", time="ts")))
    without = build_dataset(tlog, task)
    return with_ev, without


@pytest.mark.parametrize("model_name, params", [
    ("lgbm", {"n_estimators": 60, "min_child_samples": 20, "random_state": 0, "n_threads": 1}),
    ("lstm", {"rnn_hidden": 8, "static_hidden": (8,), "hidden": (8,), "max_epochs": 40,
              "batch_size": 64, "lr": 1e-2, "n_threads": 1, "random_state": 0}),
])
def test_models_read_event_features_and_channels_unchanged(model_name, params):
    pytest.importorskip("lightgbm" if model_name == "lgbm" else "torch")
    from ltvkit.models import create_model

    with_ev, without = _signal_data(0)
    train = with_ev.subset(np.arange(400))
    test = with_ev.subset(np.arange(400, 600))
    y = test.labels_for("60D")
    scores = {}
    for name, (tr, te) in {"with": (train, test),
                           "without": (without.subset(np.arange(400)),
                                       without.subset(np.arange(400, 600)))}.items():
        model = create_model(model_name, **params).fit(tr, tr.subset(np.arange(300, 400)))
        pred = model.predict(te).value[:, 0]
        scores[name] = evaluate(y, pred)["normalized_gini"]
        if name == "with":
            assert model.feature_names_ == list(train.feature_names)
            assert any(f.startswith("event_visit") for f in model.feature_names_)
            if model_name == "lstm":
                assert model.sequence_shape_[1] == len(train.channel_names) == 4 + 3
                # the event channels reach the network: zeroing them moves the predictions
                blank = te.subset(np.arange(len(te)))
                ch = [te.layout.channel_index(c) for c in te.channel_names
                      if c.startswith("event_")]
                blank.sequences[:, :, ch] = 0.0
                assert not np.allclose(model.predict(blank).value[:, 0], pred)
    # The label follows the visits only: with events the ranking is clearly better.
    assert scores["with"] > scores["without"] + 0.2, scores


# ====================================================================== CLI

def _ltv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_cli_prepare_with_events_and_asof_attributes(tmp_path):
    log, events = random_log(11), random_events(11)
    log.to_csv(tmp_path / "log.csv", index=False)
    events.rename(columns={"customer_id": "user", "ts": "at", "event_type": "kind",
                           "value": "v"}).to_parquet(tmp_path / "ev.parquet")
    _asof_frame().rename(columns={"cid": "customer_id"}).to_csv(tmp_path / "asof.csv",
                                                                index=False)
    out = tmp_path / "ds"
    res = _ltv("prepare", str(tmp_path / "log.csv"), "--out", str(out), "--time-col", "ts",
               "--cutoff", "2021-04-15", "--horizons", "30D", "--events",
               str(tmp_path / "ev.parquet"), "--event-customer-col", "user",
               "--event-time-col", "at", "--event-type-col", "kind", "--event-value-col", "v",
               "--event-top-k", "3", "--attributes-asof", str(tmp_path / "asof.csv"))
    assert res.returncode == 0, res.stderr + res.stdout
    ds = LTVDataset.load(out)
    assert "event_visit_count" in ds.feature_names and "event_other_count" in ds.feature_names
    assert "attr__seats" in ds.feature_names and "plan" in ds.categorical_names
    quality = json.loads((out / "quality.json").read_text())
    assert quality["events"]["rows_read"] == len(events)
    assert quality["events"]["rows_kept"] + quality["events"]["rows_dropped"] == len(events)
    assert quality["attributes_asof"]["rows_read"] == len(_asof_frame())
    assert "events: rows read" in res.stdout + res.stderr
    # Scoring data from other events, with the training vocabulary: the training columns.
    other = events.assign(event_type=np.where(events["event_type"] == "sms", "push",
                                              events["event_type"]))
    other.to_csv(tmp_path / "ev2.csv", index=False)
    res = _ltv("prepare", str(tmp_path / "log.csv"), "--out", str(tmp_path / "ds2"),
               "--time-col", "ts", "--cutoff", "2021-04-15", "--horizons", "30D", "--events",
               str(tmp_path / "ev2.csv"), "--event-time-col", "ts", "--event-value-col",
               "value", "--event-top-k", "1", "--attributes-asof", str(tmp_path / "asof.csv"),
               "--vocabularies-from", str(out))
    assert res.returncode == 0, res.stderr + res.stdout
    again = LTVDataset.load(tmp_path / "ds2")
    assert again.feature_names == ds.feature_names and again.channel_names == ds.channel_names
    assert again.vocabularies == ds.vocabularies
    # A bad events file: one line, exit 2.
    bad = events.assign(value=events["value"].astype(str).where(events.index % 5 != 0, "x"))
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = _ltv("prepare", str(tmp_path / "log.csv"), "--out", str(tmp_path / "x"),
               "--time-col", "ts", "--cutoff", "2021-04-15", "--horizons", "30D", "--events",
               str(tmp_path / "bad.csv"), "--event-time-col", "ts", "--event-value-col",
               "value")
    assert res.returncode == 2
    lines = [x for x in res.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "non-numeric values" in lines[0] and "120" in lines[0], lines


# ====================================================================== Olist

@pytest.mark.slow
def test_olist_order_payments_as_seller_events(shared_data):
    from ltvkit.datasets import get_dataset

    public = get_dataset("olist_target_events")
    log = public.load_log(shared_data)
    ev = public.load_events(log, shared_data)
    q = ev.quality
    assert q.rows_read == q.rows_kept + sum(q.dropped.values())
    # Every payment of an order reaches each seller of the order: checked against DuckDB.
    folder = shared_data / "olist"
    expected = duckdb.sql(f"""
        SELECT count(*) FROM read_parquet('{folder / 'order_payments.parquet'}') p
        JOIN (SELECT DISTINCT order_id, seller_id FROM
              read_parquet('{folder / 'order_items.parquet'}')) i USING (order_id)""").fetchall()[0][0]
    assert q.rows_read == expected
    ds = build_dataset(log, public.task, events=ev)
    assert log.quality.events["matching"]["event_customers_not_in_log"] == 0
    assert {"credit_card", "boleto"} <= set(ds.vocabularies[EVENT_VOCABULARY])
    # One seller at one cutoff against a direct query.
    i = int(np.argmax(ds.feature("event_credit_card_count")))
    cid, cut = ds.customer_id[i], pd.Timestamp(ds.cutoff[i])
    c_end = cut + pd.Timedelta(days=1)
    n, inst = duckdb.sql(f"""
        WITH o AS (SELECT order_id, seller_id, min(shipping_limit_date) AS ts
                   FROM read_parquet('{folder / 'order_items.parquet'}') GROUP BY 1, 2)
        SELECT count(*), sum(payment_installments)
        FROM read_parquet('{folder / 'order_payments.parquet'}') p JOIN o USING (order_id)
        WHERE seller_id = '{cid}' AND payment_type = 'credit_card'
          AND ts < TIMESTAMP '{c_end}' AND ts >= TIMESTAMP '{c_end - pd.Timedelta(days=180)}'
    """).fetchall()[0]
    assert ds.feature("event_credit_card_count")[i] == n
    assert ds.feature("event_credit_card_value_sum")[i] == inst
    assert np.isfinite(ds.feature("event_credit_card_count")).all()
