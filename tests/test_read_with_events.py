"""Reading a log and its events side by side (``read_with_events``, what ``ltv prepare
--events`` calls) and the page-advice scope the reads and builds run in."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import LTVTask, build_dataset
from ltvkit.data.events import EventMapping
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.data.pages import _set_madvise_hugepage, plain_pages
from ltvkit.data.read import read_with_events
from ltvkit.errors import DataValidationError

MAPPING = ColumnMapping(customer="customer_id", time="ts", amount="amount")
EV_MAPPING = EventMapping(customer="customer_id", time="ts", event_type="event_type",
                          value="value")
TASK = LTVTask(cutoff="2021-04-15", horizons=("30D",), period="M", n_periods=4)


def frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-01")
    log = pd.DataFrame({
        "customer_id": rng.integers(0, 40, 800),
        "ts": start + pd.to_timedelta(rng.integers(0, 180 * 86_400, 800), "s"),
        "amount": np.round(rng.gamma(2.0, 20.0, 800), 2)})
    value = np.round(rng.exponential(3.0, 3000), 2)
    value[rng.random(3000) < 0.2] = np.nan
    events = pd.DataFrame({
        "customer_id": rng.integers(0, 45, 3000),
        "ts": start + pd.to_timedelta(rng.integers(0, 200 * 86_400, 3000), "s"),
        "event_type": np.array(["visit", "email", "ticket"])[rng.integers(0, 3, 3000)],
        "value": value})
    return log, events


def test_side_by_side_reads_give_what_one_by_one_reads_give():
    log, events = frames()
    cleaning = CleaningRules(data_end="2021-06-01")
    out = [read_with_events(log, events, MAPPING, cleaning, EV_MAPPING, side_by_side=s)
           for s in (True, False)]
    (tlog_a, ev_a), (tlog_b, ev_b) = out
    for name in ("customer_ids", "customer_starts", "ts", "amount"):
        np.testing.assert_array_equal(getattr(tlog_a.arrays, name), getattr(tlog_b.arrays, name))
    for name in ("customer_ids", "customer_starts", "ts", "type_code", "value"):
        np.testing.assert_array_equal(getattr(ev_a.arrays, name), getattr(ev_b.arrays, name))
    assert ev_a.quality.to_dict() == ev_b.quality.to_dict()
    # The events are cleaned with the log's data_end unless told otherwise.
    late = int((events["ts"] >= pd.Timestamp("2021-06-02")).sum())
    assert late > 0 and ev_a.quality.dropped["after_data_end"] == late
    ds_a, ds_b = (build_dataset(t, TASK, events=e) for t, e in out)
    np.testing.assert_array_equal(ds_a.features, ds_b.features)
    np.testing.assert_array_equal(ds_a.sequences, ds_b.sequences)


def test_an_error_of_either_read_leaves_as_that_read_raises_it_the_logs_first():
    log, events = frames(1)
    bad_log = log.assign(amount=log["amount"].where(log.index % 7 != 0, np.inf))
    bad_events = events.assign(value=events["value"].where(events.index % 9 != 0, np.inf))
    with pytest.raises(DataValidationError, match="amount"):
        read_with_events(bad_log, events, MAPPING, event_mapping=EV_MAPPING)
    with pytest.raises(DataValidationError, match="event value 'value'.*infinite") as info:
        read_with_events(log, bad_events, MAPPING, event_mapping=EV_MAPPING)
    assert info.value.n_rows == len(range(0, len(events), 9))
    with pytest.raises(DataValidationError, match="amount"):
        read_with_events(bad_log, bad_events, MAPPING, event_mapping=EV_MAPPING)
    assert not [t for t in threading.enumerate() if t.name.startswith("ltvkit-events")]


@pytest.mark.skipif(_set_madvise_hugepage is None, reason="this NumPy has no page-advice switch")
def test_plain_pages_turns_the_advice_off_inside_and_restores_it_after():
    def advice() -> bool:
        before = _set_madvise_hugepage(True)  # returns the setting it replaces
        _set_madvise_hugepage(before)
        return before

    for start in (True, False):
        _set_madvise_hugepage(start)
        try:
            with plain_pages():
                assert advice() is False
                with plain_pages():  # nested scopes: still off, and the outer one restores
                    assert advice() is False
                assert advice() is False
            assert advice() is start
            with pytest.raises(RuntimeError), plain_pages():
                raise RuntimeError("restored on the way out of an error too")
            assert advice() is start
        finally:
            _set_madvise_hugepage(True)


@pytest.mark.skipif(_set_madvise_hugepage is None, reason="this NumPy has no page-advice switch")
def test_plain_pages_in_two_threads_restores_once_the_last_one_leaves():
    _set_madvise_hugepage(True)
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with plain_pages():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(10)
    with plain_pages():
        pass
    # The other thread's scope is still open: the advice stays off.
    assert _set_madvise_hugepage(False) is False
    leave.set()
    thread.join(10)
    assert _set_madvise_hugepage(True) is True
