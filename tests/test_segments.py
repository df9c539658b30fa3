"""Value segments (quantiles / fixed thresholds), RFM segments with named classes and the
segment x churn-risk matrix, on real CDNOW and on small generated values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.models import create_model
from ltvkit.scoring import (
    ScoringError,
    ValueSegments,
    churn_risk,
    rfm_segments,
    score,
    segment_risk_matrix,
    segment_table,
)


@pytest.fixture(scope="module")
def cdnow_split(cdnow_log):
    public = get_dataset("cdnow")
    return public.split.split(build_dataset(cdnow_log, public.task), 0)


def test_value_segments_from_quantiles_and_thresholds():
    v = np.arange(100, dtype=float)
    seg = ValueSegments.from_quantiles(v, (0.5, 0.8))
    labels = seg.assign(v)
    assert (labels == "low").sum() == 50 and (labels == "high").sum() == 20
    fixed = ValueSegments.from_thresholds([10, 50], labels=("bronze", "silver", "gold"))
    assert fixed.assign(np.array([0.0, 10.0, 49.9, 50.0, 1e6])).tolist() == [
        "bronze", "silver", "silver", "gold", "gold"]
    with pytest.raises(ScoringError, match=r"thresholds: must be strictly increasing, got "
                                           r"\[50.0, 10.0\] \(1 step"):
        ValueSegments.from_thresholds([50, 10])
    with pytest.raises(ScoringError, match="quantiles: must lie strictly between 0.0 and 1.0"):
        ValueSegments.from_quantiles(v, (0.5, 1.0))
    with pytest.raises(ScoringError, match="labels: need 3 labels"):
        ValueSegments.from_thresholds([1, 2], labels=("a", "b"))


def test_segment_table_on_cdnow_realised_value_follows_the_segments(cdnow_split):
    train, valid, test = cdnow_split
    model = create_model("lgbm", n_estimators=60, n_threads=1).fit(train, valid)
    seg = ValueSegments.from_quantiles(model.predict(train).value[:, 0])
    scored = score(model, test, segments=seg, with_labels=True).frame
    table = segment_table(scored, truth_col="y_true_273D")
    assert table["segment"].tolist() == ["high", "medium", "low"]
    assert table["customers"].sum() == len(test)
    # The high segment (about a fifth of the customers) holds most of the realised spend.
    high = table.iloc[0]
    assert 0.15 < high["share"] < 0.25
    assert high["realised_share_of_value"] > 0.5
    assert table["realised_mean"].is_monotonic_decreasing
    assert table["predicted_share_of_value"].sum() == pytest.approx(1.0)


def test_rfm_segments_on_cdnow(cdnow_split):
    _, _, test = cdnow_split
    rfm = rfm_segments(test)
    assert len(rfm) == len(test)
    assert set(rfm["rfm_segment"]) <= {"champions", "loyal", "potential loyalists", "at risk",
                                       "hibernating", "need attention", "others"}
    for key in "rfm":
        assert rfm[key].between(1, 5).all()
    # Scores follow the raw values: most recent customers have the highest R.
    assert rfm.loc[rfm["r"] == 5, "recency_days"].max() <= rfm.loc[rfm["r"] == 1,
                                                                    "recency_days"].min()
    champs = rfm[rfm["rfm_segment"] == "champions"]
    assert len(champs) > 0 and (champs[["r", "f", "m"]] >= 4).all().all()
    # First match wins, and a custom table is honoured.
    custom = rfm_segments(test, n_scores=3, classes={"best": {"r": (3, 3), "f": (3, 3)}},
                          other="rest")
    assert set(custom["rfm_segment"]) == {"best", "rest"}
    assert ((custom["rfm_segment"] == "best") == ((custom["r"] == 3) & (custom["f"] == 3))).all()
    with pytest.raises(ScoringError, match="unknown score 'x'"):
        rfm_segments(test, classes={"bad": {"x": (1, 2)}})


def test_segment_risk_matrix_from_p_alive(cdnow_split):
    train, _, test = cdnow_split
    model = create_model("bgnbd").fit(train)
    scored = score(model, test).frame
    matrix = segment_risk_matrix(scored)
    assert matrix["customers"].sum() == len(test)
    assert matrix["value"].sum() == pytest.approx(scored["value_273D"].sum())
    assert set(matrix["churn_risk"]) <= {"high", "medium", "low"}
    # The retention list: high value, high risk.
    cell = matrix[(matrix["segment"] == "high") & (matrix["churn_risk"] == "high")]
    expected = ((scored["segment"] == "high") & (scored["p_alive"] < 0.3)).sum()
    assert int(cell["customers"].sum()) == expected
    with pytest.raises(ScoringError, match="no p_active_<h> or p_alive column"):
        segment_risk_matrix(scored.drop(columns=["p_alive", "p_active_273D"]))
    with pytest.raises(ScoringError, match="risk thresholds: must be strictly increasing"):
        churn_risk(np.array([0.5]), (0.7, 0.3))


def test_segment_table_names_a_missing_column():
    with pytest.raises(ScoringError, match=r"missing required column\(s\) \['segment'\]"):
        segment_table(pd.DataFrame({"value_90D": [1.0]}))
