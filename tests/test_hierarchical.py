"""Hierarchical T-period prediction on CDNOW (T' = 13 weeks, T = 39 weeks): the short-horizon
model extrapolated to T next to the direct model of T and BTYD's extrapolation."""

from __future__ import annotations

import pytest

from ltvkit.datasets import get_dataset
from ltvkit.errors import LTVError
from ltvkit.evaluation.hierarchical import compare_horizons

PARAMS = {"n_estimators": 200, "learning_rate": 0.1, "n_threads": 1}


@pytest.fixture(scope="module")
def records(cdnow_log):
    return {r["variant"]: r for r in compare_horizons(cdnow_log, get_dataset("cdnow").task, short="13W",
                                        long="39W", params=PARAMS)}


def test_every_variant_is_scored_on_the_same_test_customers(records):
    assert set(records) == {"reference", "direct", "hierarchical_global_ratio",
                            "hierarchical_ratio_model", "btyd"}
    assert len({r["n_test"] for r in records.values()}) == 1
    assert all(r["fit_seconds"] >= 0 for r in records.values())
    # the direct model learns at the old cutoff 1997-04-01 = 1997-09-30 + 13W - 39W
    assert "1997-04-01" in records["direct"]["model"]
    # 39-week spend is more than twice the 13-week spend of the same customers
    assert records["hierarchical_global_ratio"]["ratio"] > 2.0


def test_hierarchical_beats_the_direct_model_on_calibration(records):
    hier, direct = records["hierarchical_global_ratio"]["metrics"], records["direct"]["metrics"]
    assert hier["decile_mape"] < direct["decile_mape"]
    assert hier["normalized_gini"] > 0.6 and direct["normalized_gini"] > 0.6


def test_the_short_horizon_must_be_shorter(cdnow_log):
    with pytest.raises(LTVError, match="short horizon 39W must be shorter"):
        compare_horizons(cdnow_log, get_dataset("cdnow").task, short="39W", long="13W")


def test_the_records_render_as_a_leaderboard(records, tmp_path):
    from ltvkit.evaluation.leaderboard import write_leaderboard

    write_leaderboard(list(records.values()), tmp_path, horizon="39W")
    text = (tmp_path / "leaderboard.md").read_text()
    assert "hierarchical T'=13W x global ratio" in text and "bgnbd T=39W" in text
