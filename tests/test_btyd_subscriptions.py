"""The subscriptions table (ltvkit.data.subscriptions) and the sBG fitted from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltvkit.btyd import SBGParams, sbg, simulate
from ltvkit.data.subscriptions import read_subscriptions
from ltvkit.errors import DataValidationError


def test_periods_and_censoring_from_dates(tmp_path):
    df = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "start": ["2024-01-01", "2024-01-01", "2024-03-01", "2024-01-15", "2025-02-01"],
        "end": ["2024-01-20", "2024-04-05", None, "2025-03-01", None],
    })
    path = tmp_path / "subs.csv"
    df.to_csv(path, index=False)
    for source in (df, str(path)):
        t = read_subscriptions(source, as_of="2024-12-31", period_days=30)
        assert list(t.customer_id) == ["a", "b", "c", "d"] and t.n_not_started == 1
        # a: ended on day 19 -> period 1; b: day 95 -> period 4; c: active, 305 days -> 10
        # renewals; d: ends after as_of -> active, 351 days -> 11
        np.testing.assert_array_equal(t.periods, [1, 4, 10, 11])
        np.testing.assert_array_equal(t.churned, [1, 1, 0, 0])


@pytest.mark.parametrize("frame,rule", [
    (pd.DataFrame({"customer_id": ["a"], "start": ["2024-02-01"], "end": ["2024-01-01"]}),
     "end_after_start.*1 row"),
    (pd.DataFrame({"customer_id": ["a", "a"], "start": ["2024-01-01"] * 2, "end": [None] * 2}),
     "unique_subscription.*1 duplicate"),
    (pd.DataFrame({"customer_id": ["a", "b"], "start": ["2024-01-01", "soon"],
                   "end": [None, None]}), "timestamp_parseable.*1 rows"),
    (pd.DataFrame({"customer_id": ["a"], "begin": ["2024-01-01"], "end": [None]}),
     "column_present"),
    (pd.DataFrame({"customer_id": [None, "b"], "start": ["2024-01-01"] * 2, "end": [None] * 2}),
     "customer_present.*1 rows"),
])
def test_bad_tables_name_the_rule(frame, rule):
    with pytest.raises(DataValidationError, match=rule):
        read_subscriptions(frame, as_of="2024-12-31")


def test_sbg_recovered_from_a_generated_subscriptions_table():
    """Subscribers drawn from the sBG with monthly renewals, written as start/end dates."""
    true = SBGParams(0.704, 1.182)
    periods, churned = simulate.subscriptions(true, 3000, 12, seed=9)
    starts = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.zeros(3000), unit="D")
    ends = [start + pd.Timedelta(days=30 * (p - 1) + 10) if c else None
            for start, p, c in zip(starts, periods, churned, strict=True)]
    df = pd.DataFrame({"customer_id": [f"c{i:05d}" for i in range(3000)], "start": starts,
                       "end": ends})
    table = read_subscriptions(df, as_of=str(pd.Timestamp("2023-01-01")
                                             + pd.Timedelta(days=360)), period_days=30)
    np.testing.assert_array_equal(table.churned, churned)
    np.testing.assert_array_equal(table.periods, periods)
    params, _ = sbg.fit(table.periods, table.churned)
    assert params.alpha == pytest.approx(0.704, rel=0.2)
    assert params.beta == pytest.approx(1.182, rel=0.25)
