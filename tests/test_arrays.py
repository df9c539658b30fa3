"""The sorted log as NumPy columns: customer runs across Arrow chunks, ties, duplicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ltvkit.data import ColumnMapping, read_transactions
from ltvkit.data.arrays import customer_runs, tied_rows


def test_runs_continue_across_chunks():
    # Customer 5 straddles the first chunk boundary and 7 the second.
    column = pa.chunked_array([pa.array([1, 1, 5], pa.int64()), pa.array([5, 5, 7]),
                               pa.array([7, 9])])
    starts, values = customer_runs(column)
    assert starts.tolist() == [0, 2, 5, 7, 8]
    assert values.tolist() == [1, 5, 7, 9]


def test_string_customer_runs_keep_the_sort_order():
    column = pa.chunked_array([pa.array(["a", "a", "b"]), pa.array(["b", "c"])])
    starts, ids = customer_runs(column)
    assert starts.tolist() == [0, 2, 4, 5]
    assert ids.tolist() == ["a", "b", "c"]


def test_tied_rows_are_runs_of_equal_time_and_amount_within_a_customer():
    starts = np.array([0, 4, 6])
    ts = np.array([1, 1, 1, 2, 2, 2])
    amount = np.array([3.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    # rows 0-1 tie; rows 2 and 3 differ in ts; rows 3 and 4 belong to different customers.
    rows, first = tied_rows(starts, ts, amount)
    assert rows.tolist() == [0, 1, 4, 5]
    assert first.tolist() == [True, False, True, False]


def test_duplicates_hidden_among_ties_are_found_and_order_is_fixed():
    """Rows tied on (customer, ts, amount) that differ elsewhere come back in hash order, so
    shuffling the input changes neither the kept rows nor the count of duplicates."""
    base = pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 2, 2],
        "timestamp": pd.to_datetime(["2021-01-01 10:00"] * 4 + ["2021-01-02 00:00"] * 2),
        "amount": [5.0, 5.0, 5.0, 5.0, 1.0, 1.0],
        "sku": ["x", "y", "x", "z", "q", "q"],  # two exact duplicates: (1, x) and (2, q)
        "quantity": [1.0, 2.0, 1.0, 3.0, 1.0, 1.0],
    })
    mapping = ColumnMapping(customer="customer_id", time="timestamp", amount="amount",
                            quantity="quantity")
    logs = [read_transactions(base.sample(frac=1.0, random_state=seed), mapping)
            for seed in range(4)]
    for log in logs:
        assert log.quality.dropped["exact_duplicates"] == 2
        assert log.quality.duplicate_rows_in_input == 2
        assert log.arrays.customer_starts.tolist() == [0, 3, 4]
        np.testing.assert_array_equal(log.arrays.quantity, logs[0].arrays.quantity)
        rows = log.con.execute(f"SELECT customer_id, quantity FROM {log.table}").fetchall()
        assert sorted(rows) == [(1, 1.0), (1, 2.0), (1, 3.0), (2, 1.0)]


def test_datasets_built_in_threads_at_once_agree():
    """A threaded service can build datasets at once: the kernels hold the GIL (Numba's
    default threading layer must not be entered by two threads at once) and share no state."""
    from concurrent.futures import ThreadPoolExecutor

    from ltvkit.data import LTVTask, build_dataset

    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, 2_000, n),
        "timestamp": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 364 * 86_400,
                                                                                 n), "s"),
        "amount": np.round(rng.lognormal(3, 1, n), 2),
    })
    task = LTVTask(cutoff="2021-09-30", horizons=("90D",), period="M", n_periods=6)

    def build(_):
        log = read_transactions(frame, ColumnMapping(customer="customer_id", time="timestamp",
                                                     amount="amount"))
        return build_dataset(log, task)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build, range(8)))
    for ds in results[1:]:
        np.testing.assert_array_equal(ds.features, results[0].features)
        np.testing.assert_array_equal(ds.sequences, results[0].sequences)


@pytest.mark.parametrize("n_codes", [1, 7, 300, 5000])
def test_counting_sort_by_customer_and_time_matches_a_stable_lexsort(n_codes):
    from ltvkit.data.arrays import customer_time_order, group_counts_of

    rng = np.random.default_rng(n_codes)
    n = 20_000
    code = rng.integers(0, n_codes, n).astype(np.int32)
    code[code == n_codes // 2] = 0  # a code without rows: an empty run
    ts = rng.integers(0, 50, n).astype(np.int64)  # many ties in time
    kind = rng.integers(0, 9, n).astype(np.int16)
    value = rng.random(n)
    domain = rng.integers(0, 3, n).astype(np.int16)
    bounds = [0, 1, 4_000, 4_001, 13_000, n]  # chunks of every size, one empty
    chunks = [(code[a:b], ts[a:b], kind[a:b], value[a:b], domain[a:b])
              for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    counts = np.bincount(code, minlength=n_codes)
    starts, s_ts, s_kind, s_value, s_domain = customer_time_order(
        n_codes, group_counts_of(counts), iter(chunks), True)
    order = np.lexsort((ts, code))  # stable: ties keep the input order
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(counts)]))
    np.testing.assert_array_equal(s_ts, ts[order])
    np.testing.assert_array_equal(s_kind, kind[order])
    np.testing.assert_array_equal(s_value, value[order])
    np.testing.assert_array_equal(s_domain, domain[order])
    wrong = group_counts_of(counts)
    wrong[0] += 1  # a count that does not match the rows is refused, not written past
    with pytest.raises(AssertionError, match="fewer rows than counted"):
        customer_time_order(n_codes, wrong, iter(chunks), True)
