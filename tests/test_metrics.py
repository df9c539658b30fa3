"""Tests of ltvkit.metrics (MODELS.md §8).

Expected numbers are worked out by hand in the comments next to each assertion.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ltvkit import metrics as m
from ltvkit.errors import MetricError

FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------

# Small integer-valued floats: many exact ties (the case that breaks unstable sorts and qcut).
tied_values = st.integers(min_value=0, max_value=5).map(float)
spread_values = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def label_pred_pairs(draw, min_size: int = 1, max_size: int = 60, positive_sum: bool = True):
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    elem = st.one_of(tied_values, spread_values)
    y = np.array(draw(st.lists(elem, min_size=n, max_size=n)))
    p = np.array(draw(st.lists(elem, min_size=n, max_size=n)))
    if positive_sum and y.sum() <= 0:
        y[draw(st.integers(0, n - 1))] = 1.0
    return y, p


# ---------------------------------------------------------------------------------------------
# independent reference implementations (google/lifetime_value semantics, written with pandas)
# ---------------------------------------------------------------------------------------------


def ref_cumulative_true(y, p) -> np.ndarray:
    df = pd.DataFrame({"y_true": y, "y_pred": p}).sort_values(
        by="y_pred", ascending=False, kind="mergesort")
    return (df["y_true"].cumsum() / df["y_true"].sum()).to_numpy()


def ref_normalized_gini(y, p) -> float:
    gains = pd.DataFrame({"lorenz": ref_cumulative_true(y, y), "model": ref_cumulative_true(y, p)})
    raw = gains.apply(lambda x: 2 * x.sum() / gains.shape[0] - 1.0)
    return float((raw / raw.iloc[0])["model"])


def ref_decile_stats(y, p, n_bins: int) -> pd.DataFrame:
    s = pd.Series(p)
    b = pd.qcut(s.rank(method="first"), q=n_bins, labels=list(range(n_bins)))
    df = pd.DataFrame({"y_true": y, "y_pred": p, "bin": b})
    g = df.groupby("bin", observed=False)
    out = pd.DataFrame({
        "label_mean": g["y_true"].mean(),
        "pred_mean": g["y_pred"].mean(),
        "count": g["y_true"].size(),
    })
    out["mape"] = np.abs(out["pred_mean"] - out["label_mean"]) / out["label_mean"]
    out.loc[out["label_mean"] <= 0, "mape"] = np.nan
    return out.reset_index(drop=True)


def brute_force_auc(yb, s) -> float:
    pos = [si for yi, si in zip(yb, s, strict=True) if yi == 1]
    neg = [si for yi, si in zip(yb, s, strict=True) if yi == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


# ---------------------------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [m.normalized_gini, m.mae, m.rmse, m.smape, m.spearman, m.auc,
                                m.mutual_gini, m.nmae, m.evaluate])
def test_length_mismatch_names_arguments(fn):
    with pytest.raises(MetricError, match="y_|score|p_active"):
        fn([1.0, 0.0, 2.0], [1.0, 2.0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise_and_name_the_argument(bad):
    with pytest.raises(MetricError, match="y_pred: 1 of 3"):
        m.mae([1.0, 2.0, 3.0], [1.0, bad, 3.0])
    with pytest.raises(MetricError, match="y_true"):
        m.evaluate([1.0, bad, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(MetricError, match="p_active"):
        m.evaluate([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], p_active=[0.1, bad, 0.3])


def test_empty_input_raises():
    with pytest.raises(MetricError, match="y_true: is empty"):
        m.rmse([], [])


def test_array_likes_are_flattened():
    # 2x2 lists flatten to [1, 2, 3, 4]; same as the flat call.
    assert m.mae([[1, 2], [3, 4]], np.array([[1, 2], [3, 5]])) == 0.25
    assert m.normalized_gini(pd.Series([0, 1, 2, 3]), (0, 1, 2, 3)) == 1.0


# ---------------------------------------------------------------------------------------------
# gain curve / normalized Gini
# ---------------------------------------------------------------------------------------------


def test_cumulative_true_hand_computed():
    # sort by pred desc: pred 0.9 (y=3), 0.5 (y=1), 0.2 (y=0), 0.1 (y=0); total 4
    # -> [3/4, 4/4, 4/4, 4/4]
    curve = m.cumulative_true([1, 0, 3, 0], [0.5, 0.2, 0.9, 0.1])
    np.testing.assert_allclose(curve, [0.75, 1.0, 1.0, 1.0])


def test_cumulative_true_ties_keep_input_order():
    # all predictions tie -> stable sort keeps input order: cumsum [1, 3, 6, 10] / 10
    np.testing.assert_allclose(m.cumulative_true([1, 2, 3, 4], [7, 7, 7, 7]), [0.1, 0.3, 0.6, 1.0])


def test_gini_from_gain_hand_computed():
    # 2 * mean([0.5, 1.0]) - 1 = 2 * 0.75 - 1 = 0.5
    assert m.gini_from_gain([0.5, 1.0]) == pytest.approx(0.5)
    # 2 * mean([0.1, 0.3, 0.6, 1.0]) - 1 = 2 * 0.5 - 1 = 0
    assert m.gini_from_gain([0.1, 0.3, 0.6, 1.0]) == pytest.approx(0.0)


def test_normalized_gini_perfect_and_reversed():
    # perfect: raw_model == raw_perfect -> 1.0
    assert m.normalized_gini([0, 1, 2, 3], [0, 1, 2, 3]) == pytest.approx(1.0)
    # reversed: model curve (y in order 0,1,2,3) = [0, 1/6, 3/6, 1] -> mean 10/24 -> raw -1/6
    # perfect curve (3,2,1,0) = [3/6, 5/6, 1, 1] -> mean 20/24 -> raw 2/3; ratio = -1/4
    assert m.normalized_gini([0, 1, 2, 3], [3, 2, 1, 0]) == pytest.approx(-0.25)


def test_normalized_gini_partial_ordering():
    # y=[1,0,3,0], pred=[0.9,0.2,0.5,0.1]: model order y = 1,3,0,0 -> [1/4,1,1,1] mean 13/16
    # raw 0.625; perfect order 3,1,0,0 -> [3/4,1,1,1] mean 15/16 raw 0.875; ratio 5/7
    assert m.normalized_gini([1, 0, 3, 0], [0.9, 0.2, 0.5, 0.1]) == pytest.approx(5 / 7)


def test_normalized_gini_constant_predictions_are_deterministic():
    # constant predictions keep the input order. y=[4,3,2,1] in input order is the perfect
    # ordering -> 1.0; y=[1,2,3,4] in input order -> model curve [.1,.3,.6,1], raw 0 -> 0.0.
    assert m.normalized_gini([4, 3, 2, 1], [0, 0, 0, 0]) == pytest.approx(1.0)
    assert m.normalized_gini([1, 2, 3, 4], [0, 0, 0, 0]) == pytest.approx(0.0)
    rng = np.random.default_rng(1)
    y = rng.exponential(size=200)
    p = np.zeros(200)
    assert m.normalized_gini(y, p) == m.normalized_gini(y, p)


def test_normalized_gini_all_zero_labels_raises():
    with pytest.raises(MetricError, match="normalized_gini: all labels are 0, the gain curve"):
        m.normalized_gini([0, 0, 0], [1, 2, 3])
    with pytest.raises(MetricError):
        m.cumulative_true([0, 0], [1, 2])


@FAST
@given(label_pred_pairs())
def test_gain_curve_and_gini_match_pandas_reference(pair):
    y, p = pair
    np.testing.assert_allclose(m.cumulative_true(y, p), ref_cumulative_true(y, p), rtol=1e-12)
    if y.size > 1 and np.all(y == y[0]):
        # Equal labels: every ordering is perfect, so the rank metric is undefined (not 1.0).
        with pytest.raises(MetricError, match="labels are equal"):
            m.normalized_gini(y, p)
        return
    assert m.normalized_gini(y, p) == pytest.approx(ref_normalized_gini(y, p), rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Spearman
# ---------------------------------------------------------------------------------------------


def test_spearman_hand_computed():
    # ranks y=[1,2,3], p=[1,3,2]: d=[0,-1,1], rho = 1 - 6*2 / (3*(9-1)) = 0.5
    assert m.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_spearman_constant_input_is_nan_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(m.spearman([1, 1, 1], [1, 2, 3]))
        assert math.isnan(m.spearman([1, 2, 3], [5, 5, 5]))
        assert math.isnan(m.spearman([1], [2]))


@FAST
@given(label_pred_pairs(min_size=3))
def test_spearman_matches_scipy(pair):
    y, p = pair
    if np.all(y == y[0]) or np.all(p == p[0]):
        assert math.isnan(m.spearman(y, p))
    else:
        assert m.spearman(y, p) == pytest.approx(stats.spearmanr(y, p)[0], abs=1e-12)


# ---------------------------------------------------------------------------------------------
# decile / percentile MAPE
# ---------------------------------------------------------------------------------------------


def test_decile_stats_hand_computed():
    # y = 1..20, pred = 0..19: bin b holds ranks 2b+1, 2b+2 -> label mean 2b+1.5, pred mean
    # 2b+0.5, |diff| = 1, mape_b = 1 / (2b + 1.5)
    y = np.arange(1, 21, dtype=float)
    p = np.arange(20, dtype=float)
    df = m.decile_stats(y, p)
    assert list(df.columns) == ["bin", "label_mean", "pred_mean", "count", "mape"]
    assert df["count"].tolist() == [2] * 10
    np.testing.assert_allclose(df["label_mean"], 2 * np.arange(10) + 1.5)
    np.testing.assert_allclose(df["pred_mean"], 2 * np.arange(10) + 0.5)
    expected = np.mean([1 / (2 * b + 1.5) for b in range(10)])
    assert m.decile_mape(y, p) == pytest.approx(expected)
    assert m.binned_mape(y, p, 10) == (pytest.approx(expected), 0)


def test_decile_stats_all_predictions_tied_still_ten_bins():
    # ties broken by input order: bin b = input positions 2b, 2b+1; y = 0..19 -> mean 2b + 0.5
    y = np.arange(20, dtype=float)
    df = m.decile_stats(y, np.full(20, 3.0))
    assert len(df) == 10
    assert df["count"].tolist() == [2] * 10
    np.testing.assert_allclose(df["label_mean"], 2 * np.arange(10) + 0.5)
    np.testing.assert_allclose(df["pred_mean"], 3.0)


def test_binned_mape_skips_zero_label_bins_and_counts_them():
    # y = ten 0s then 1..10, pred = 0..19: bins 0-4 have label mean 0 (skipped, 5 bins).
    # bins 5..9: label means 1.5, 3.5, 5.5, 7.5, 9.5; pred means 10.5, ..., 18.5 -> |diff| = 9
    y = np.concatenate([np.zeros(10), np.arange(1, 11)])
    p = np.arange(20, dtype=float)
    value, skipped = m.binned_mape(y, p, 10)
    assert skipped == 5
    assert value == pytest.approx(np.mean([9 / 1.5, 9 / 3.5, 9 / 5.5, 9 / 7.5, 9 / 9.5]))
    df = m.decile_stats(y, p)
    assert df["mape"].isna().sum() == 5


def test_binned_mape_every_bin_skipped_is_nan():
    assert m.binned_mape(np.zeros(30), np.arange(30), 10)[1] == 10
    assert math.isnan(m.decile_mape(np.zeros(30), np.arange(30)))


def test_percentile_mape():
    y = np.arange(1, 201, dtype=float)
    assert m.percentile_mape(y, y) == 0.0
    # pred = 2y -> each bin mape = |2 lm - lm| / lm = 1
    assert m.percentile_mape(y, 2 * y) == pytest.approx(1.0)
    with pytest.raises(MetricError, match="fewer than n_bins=100"):
        m.percentile_mape(y[:99], y[:99])


@settings(max_examples=40, deadline=None)
@given(label_pred_pairs(min_size=10, max_size=120), st.sampled_from([1, 3, 10]))
def test_decile_stats_match_pandas_qcut_on_rank(pair, n_bins):
    y, p = pair
    got = m.decile_stats(y, p, n_bins=n_bins)
    ref = ref_decile_stats(y, p, n_bins)
    assert got["bin"].tolist() == list(range(n_bins))
    assert got["count"].tolist() == ref["count"].tolist()
    for col in ("label_mean", "pred_mean", "mape"):
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9,
                                   atol=1e-9, equal_nan=True)


def test_decile_bins_match_pandas_qcut_for_many_sizes():
    # exact integer bin arithmetic vs pd.qcut on ranks, every n from 100 to 700, 100 bins
    for n in range(100, 701, 7):
        p = np.zeros(n)
        got = m.decile_stats(np.ones(n), p, n_bins=100)["count"].tolist()
        ref = ref_decile_stats(np.ones(n), p, 100)["count"].tolist()
        assert got == ref, n


# ---------------------------------------------------------------------------------------------
# point errors
# ---------------------------------------------------------------------------------------------

Y4 = [1.0, 2.0, 3.0, 0.0]
P4 = [2.0, 2.0, 1.0, 0.0]  # y - p = [-1, 0, 2, 0]; sum y = 6, mean y = 1.5


def test_point_errors_hand_computed():
    assert m.mae(Y4, P4) == pytest.approx(0.75)  # (1 + 0 + 2 + 0) / 4
    assert m.rmse(Y4, P4) == pytest.approx(math.sqrt(1.25))  # sqrt((1 + 4) / 4)
    assert m.nmae(Y4, P4) == pytest.approx(0.5)  # 3 / 6
    assert m.nrmse(Y4, P4) == pytest.approx(math.sqrt(1.25) / 1.5)
    # smape terms: 2*1/3, 0, 2*2/4, 0/0 := 0 -> (2/3 + 1) / 4 = 5/12
    assert m.smape(Y4, P4) == pytest.approx(5 / 12)
    # ambe: mean(p - y) = (1 + 0 - 2 + 0) / 4 = -0.25 -> 0.25; normalized 0.25 / 1.5
    assert m.ambe(Y4, P4) == pytest.approx(0.25)
    assert m.ambe(Y4, P4, normalize=True) == pytest.approx(1 / 6)


def test_smape_zero_over_zero_is_zero_and_bounded():
    assert m.smape([0, 0], [0, 0]) == 0.0
    assert m.smape([0, 0], [1, 5]) == 2.0  # each term 2|p|/|p| = 2


def test_normalized_errors_raise_on_zero_label_sum():
    for fn in (m.nmae, m.nrmse):
        with pytest.raises(MetricError, match=fn.__name__):
            fn([0, 0, 0], [1, 2, 3])
    with pytest.raises(MetricError):
        m.ambe([0, 0], [1, 1], normalize=True)
    assert m.ambe([0, 0], [1, 3]) == 2.0  # un-normalized AMBE is fine


# ---------------------------------------------------------------------------------------------
# AUC
# ---------------------------------------------------------------------------------------------


def test_auc_hand_computed():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: wins 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3/4
    assert m.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert m.auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts 1/2
    assert m.auc([True, False], [1.0, 0.0]) == 1.0
    assert m.auc_active([0, 0, 5, 2], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auc_single_class_is_nan():
    assert math.isnan(m.auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(m.auc_active([0, 0, 0], [0.1, 0.2, 0.3]))
    with pytest.raises(MetricError, match="0/1"):
        m.auc([0, 2], [0.1, 0.2])


@FAST
@given(st.lists(st.tuples(st.booleans(), tied_values), min_size=2, max_size=25))
def test_auc_matches_brute_force_pairs(rows):
    yb = [int(a) for a, _ in rows]
    s = [b for _, b in rows]
    if len(set(yb)) < 2:
        assert math.isnan(m.auc(yb, s))
    else:
        assert m.auc(yb, s) == pytest.approx(brute_force_auc(yb, s), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# whales: top-k scores and Recall@k
# ---------------------------------------------------------------------------------------------


def test_top_k_scores_hand_computed():
    # n = 10, top_frac 0.2 -> k = 2. true whales {0, 1}; predicted whales {1 (0.9), 5 (0.8)}
    # -> tp = 1, precision = recall = f1 = 1/2.
    # AUC: positive scores 0.5, 0.9 vs 8 negatives 0,0,0,0.8,0.1,0.2,0.3,0.4:
    # 0.9 beats 8, 0.5 beats 7 -> 15/16
    y = [10, 9, 0, 0, 0, 1, 0, 0, 0, 0]
    p = [0.5, 0.9, 0, 0, 0, 0.8, 0.1, 0.2, 0.3, 0.4]
    r = m.top_k_scores(y, p, top_frac=0.2)
    assert r == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "auc": pytest.approx(15 / 16)}


def test_top_k_uses_ceil_without_float_noise():
    # n = 100, top_frac 0.07 -> k = 7 (0.07 * 100 = 7.000000000000001 must not give 8).
    # pred swaps rank 8 out: with k = 7 both sets are {0..6} -> 1.0; k = 8 would give 7/8.
    y = np.arange(100, dtype=float)[::-1].copy()
    p = y.copy()
    p[7] = -1.0
    assert m.top_k_scores(y, p, top_frac=0.07)["precision"] == 1.0
    assert m.recall_at_k(y, p, top_frac=0.07) == 1.0
    # n = 31 -> ceil(3.1) = 4: true {0,1,2,3}, pred {0,1,2,4} -> 3/4
    y31 = np.arange(31, dtype=float)[::-1].copy()
    p31 = y31.copy()
    p31[3] = -1.0
    assert m.top_k_scores(y31, p31)["precision"] == 0.75


def test_top_k_ties_are_broken_by_input_order():
    # every label and prediction ties -> both sets are the first k = 2 rows -> perfect
    r = m.top_k_scores(np.ones(20), np.zeros(20))
    assert r["precision"] == 1.0 and r["f1"] == 1.0
    # labels tie but predictions favour the last rows -> no overlap
    r = m.top_k_scores(np.ones(20), np.arange(20.0))
    assert r["precision"] == 0.0 and r["f1"] == 0.0


def test_recall_at_k_hand_computed():
    # top_frac 0.2 of n = 10 -> true whales {0, 1} (labels 5, 4)
    y = [5, 4, 3, 2, 1, 0, 0, 0, 0, 0]
    p = [1, 0, 9, 8, 0, 0, 0, 0, 0, 7]
    assert m.recall_at_k(y, p, top_frac=0.2) == 0.0  # k = 2: preds {2, 3}
    assert m.recall_at_k(y, p, k=4, top_frac=0.2) == 0.5  # preds {2, 3, 9, 0} -> finds row 0
    # k = 5: 9, 8, 7, 1 then the tied zeros in input order (row 1 first) -> finds both whales
    assert m.recall_at_k(y, p, k=5, top_frac=0.2) == 1.0  # preds {2, 3, 9, 0, 1}
    for bad in (0, 11, 2.5):
        with pytest.raises(MetricError, match="k: must be"):
            m.recall_at_k(y, p, k=bad, top_frac=0.2)


def test_whales_undefined_for_all_zero_labels():
    with pytest.raises(MetricError, match="all labels are 0"):
        m.recall_at_k(np.zeros(10), np.arange(10.0))
    with pytest.raises(MetricError, match="all labels are 0"):
        m.top_k_scores(np.zeros(10), np.arange(10.0))
    with pytest.raises(MetricError, match="top_frac"):
        m.top_k_scores([1, 2], [1, 2], top_frac=0.0)


# ---------------------------------------------------------------------------------------------
# buckets
# ---------------------------------------------------------------------------------------------


def test_quantile_bucket_edges_use_positive_labels():
    # positives [1, 2, 3, 4]: q50 = 2.5, q75 = 1 + 0.75*3 = index 2.25 -> 3.25
    np.testing.assert_allclose(m.quantile_bucket_edges([0, 0, 1, 2, 3, 4]), [0.0, 2.5, 3.25])
    with pytest.raises(MetricError, match="no positive label"):
        m.quantile_bucket_edges([0, 0, 0])
    with pytest.raises(MetricError, match="quantiles"):
        m.quantile_bucket_edges([1, 2], quantiles=(0.75, 0.5))


def test_assign_buckets_boundaries():
    edges = [0.0, 2.5, 3.25]
    y = [0, 1e-7, -1, 1, 2.5, 2.6, 3.25, 3.3, 100]
    # zero bucket for <= 1e-6 (and negatives); right-closed (0, 2.5], (2.5, 3.25], (3.25, inf)
    assert m.assign_buckets(y, edges).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(MetricError, match="edges"):
        m.assign_buckets(y, [0.0, 3.0, 2.0])


def test_bucket_scores_hand_computed():
    # true buckets [0, 1, 2, 3], predicted buckets [1, 1, 1, 3] -> accuracy 2/4
    # F1 per bucket: b0 2*0/(1+0)=0, b1 2*1/(1+3)=0.5, b2 0/(1+0)=0, b3 2*1/(1+1)=1
    r = m.bucket_scores([0, 1, 3, 5], [0.5, 1, 1, 10], [0.0, 2.5, 3.25])
    assert r["bucket_accuracy"] == 0.5
    assert r["bucket_f1"] == [0.0, 0.5, 0.0, 1.0]
    assert r["bucket_macro_f1"] == pytest.approx(0.375)
    assert r["top_bucket_f1"] == 1.0


def test_bucket_scores_unused_bucket_is_nan_and_left_out_of_macro():
    r = m.bucket_scores([0, 1], [0, 1], [0.0, 2.5, 3.25])
    assert r["bucket_f1"][:2] == [1.0, 1.0]
    assert math.isnan(r["bucket_f1"][2]) and math.isnan(r["top_bucket_f1"])
    assert r["bucket_macro_f1"] == 1.0


# ---------------------------------------------------------------------------------------------
# mutual Gini
# ---------------------------------------------------------------------------------------------


def _trapezoid_gini(v) -> float:
    v = np.sort(np.asarray(v, dtype=float))
    lorenz = np.concatenate([[0.0], np.cumsum(v) / v.sum()])
    area = np.sum(lorenz[1:] + lorenz[:-1]) / (2 * v.size)
    return 1.0 - 2.0 * area


def test_mutual_gini_hand_computed():
    # L_y = [0, .5, 1], L_p = [0, 0, 1]; |diff| = [0, .5, 0]; trapezoid with h = 1/2 -> 0.25
    assert m.mutual_gini([1, 1], [0, 2]) == pytest.approx(0.25)
    # crossing curves: L_y = [0, 1/6, 2/6, 3/6, 1], L_p = [0, 0, 1/3, 2/3, 1]
    # |diff| = [0, 1/6, 0, 1/6, 0] -> 4 segments * (1/6 / 2) * 1/4 = 1/12,
    # while |Gini_y - Gini_p| / 2 = 0 (equal areas)
    assert m.mutual_gini([1, 1, 1, 3], [0, 2, 2, 2]) == pytest.approx(1 / 12)
    assert _trapezoid_gini([1, 1, 1, 3]) == pytest.approx(_trapezoid_gini([0, 2, 2, 2]))


def test_mutual_gini_identical_and_permuted_is_zero():
    rng = np.random.default_rng(0)
    y = rng.exponential(size=50)
    assert m.mutual_gini(y, y) == 0.0
    assert m.mutual_gini(y, rng.permutation(y)) == pytest.approx(0.0, abs=1e-15)
    assert m.mutual_gini(y, 3 * y) == pytest.approx(0.0, abs=1e-15)  # scale-free


def test_mutual_gini_zero_sum_raises():
    with pytest.raises(MetricError, match="y_pred"):
        m.mutual_gini([1, 2], [0, 0])


@FAST
@given(st.lists(st.floats(0.01, 100.0), min_size=2, max_size=40), st.floats(0.1, 50.0))
def test_mutual_gini_equals_half_gini_gap_without_crossing(values, shift):
    y = np.array(values)
    # y**2 is more unequal (Lorenz curve below L_y everywhere), y + shift more equal (above)
    for p in (y**2, y + shift):
        expected = abs(_trapezoid_gini(y) - _trapezoid_gini(p)) / 2
        assert m.mutual_gini(y, p) == pytest.approx(expected, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------

EXTRA_KEYS = {"n", "label_mean", "zero_label_fraction", "decile_mape_skipped_bins",
              "percentile_mape_skipped_bins", "warnings"}


def test_metric_keys_and_directions():
    assert len(m.METRIC_KEYS) == 18 and len(set(m.METRIC_KEYS)) == 18
    assert m.METRIC_KEYS[0] == "normalized_gini" and m.METRIC_KEYS[-1] == "recall_at_k"
    assert set(m.HIGHER_IS_BETTER) == set(m.METRIC_KEYS)
    assert m.HIGHER_IS_BETTER["normalized_gini"] and not m.HIGHER_IS_BETTER["decile_mape"]


def test_evaluate_keys_and_values_agree_with_functions():
    rng = np.random.default_rng(7)
    n = 500
    y = rng.lognormal(size=n) * (rng.random(n) < 0.4)
    p = y * rng.lognormal(0, 0.5, size=n) + 0.05
    pa = rng.random(n)
    r = m.evaluate(y, p, pa)
    assert set(r) == set(m.METRIC_KEYS) | EXTRA_KEYS
    assert list(r)[:18] == list(m.METRIC_KEYS)
    assert r["warnings"] == []
    assert r["normalized_gini"] == m.normalized_gini(y, p)
    assert r["decile_mape"] == m.decile_mape(y, p)
    assert r["decile_mape_skipped_bins"] == m.binned_mape(y, p, 10)[1]
    assert r["percentile_mape"] == m.percentile_mape(y, p)
    assert r["auc_active"] == m.auc_active(y, pa)  # uses p_active, not y_pred
    assert r["auc_active"] != m.auc_active(y, p)
    top = m.top_k_scores(y, p)
    assert r["top10_f1"] == top["f1"] and r["top10_auc"] == top["auc"]
    edges = m.quantile_bucket_edges(y)
    assert r["bucket_accuracy"] == m.bucket_scores(y, p, edges)["bucket_accuracy"]
    assert r["mutual_gini"] == m.mutual_gini(y, p)
    assert r["recall_at_k"] == m.recall_at_k(y, p)
    assert r["n"] == 500.0
    assert r["zero_label_fraction"] == pytest.approx(np.mean(y == 0))
    assert all(isinstance(r[k], float) for k in m.METRIC_KEYS)
    # explicit (training-set) edges are used as given
    r2 = m.evaluate(y, p, bucket_edges=[0.0, 100.0, 200.0])
    assert r2["bucket_accuracy"] == m.bucket_scores(y, p, [0.0, 100.0, 200.0])["bucket_accuracy"]


def test_evaluate_all_zero_labels_returns_nan_and_warnings():
    r = m.evaluate(np.zeros(120), np.linspace(0, 1, 120))
    for key in ("normalized_gini", "spearman", "decile_mape", "percentile_mape", "nmae", "nrmse",
                "auc_active", "top10_precision", "top10_auc", "bucket_accuracy", "mutual_gini",
                "recall_at_k"):
        assert math.isnan(r[key]), key
    assert r["mae"] == pytest.approx(0.5) and r["ambe"] == pytest.approx(0.5)
    assert r["smape"] == pytest.approx(2.0 * 119 / 120)  # 2 everywhere except 0/0 := 0
    assert r["decile_mape_skipped_bins"] == 10.0
    assert r["zero_label_fraction"] == 1.0
    text = " | ".join(r["warnings"])
    assert "normalized_gini: all labels are 0" in text
    assert "nmae" in text and "auc" in text and "decile_mape" in text


def test_evaluate_small_sample_percentile_mape_nan_with_warning():
    y = np.arange(1, 21, dtype=float)
    r = m.evaluate(y, y)
    assert r["normalized_gini"] == 1.0 and r["decile_mape"] == 0.0
    assert math.isnan(r["percentile_mape"]) and math.isnan(r["percentile_mape_skipped_bins"])
    assert any(w.startswith("percentile_mape") for w in r["warnings"])


def test_evaluate_constant_predictions_is_deterministic_and_warns():
    y = np.arange(200, dtype=float)[::-1].copy()
    r = m.evaluate(y, np.ones(200))
    # input order is already descending by label -> perfect gain curve under a stable sort
    assert r["normalized_gini"] == pytest.approx(1.0)
    assert math.isnan(r["spearman"])
    assert any("spearman" in w for w in r["warnings"])
    again = m.evaluate(y, np.ones(200))
    assert [again[k] for k in ("normalized_gini", "decile_mape", "top10_f1", "recall_at_k")] == [
        r[k] for k in ("normalized_gini", "decile_mape", "top10_f1", "recall_at_k")]


def test_evaluate_rejects_bad_predictions():
    with pytest.raises(MetricError, match="y_pred"):
        m.evaluate([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(MetricError, match="top_frac"):
        m.evaluate([1.0, 2.0], [1.0, 2.0], top_frac=1.5)


def test_evaluate_negative_predictions_allowed():
    y = np.arange(1, 41, dtype=float)
    r = m.evaluate(y, y - 5.0)  # a few predictions are negative
    assert r["normalized_gini"] == pytest.approx(1.0)
    assert r["ambe"] == pytest.approx(5.0)


def test_interval_coverage_hand_computed():
    y = np.array([0.0, 5.0, 10.0, 20.0, 3.0])
    lo = np.array([0.0, 6.0, 2.0, 1.0, 3.0])
    hi = np.array([1.0, 9.0, 10.0, 15.0, 4.0])
    # inside: 0 in [0, 1] (lower bound), 5 < 6 out, 10 in [2, 10] (upper bound), 20 > 15 out,
    # 3 in [3, 4]  ->  3 of 5
    assert m.interval_coverage(y, lo, hi) == pytest.approx(0.6)
    r = m.evaluate(y, (lo + hi) / 2, q_low=lo, q_high=hi)
    assert r["interval_coverage_80"] == pytest.approx(0.6)
    assert "interval_coverage_80" not in m.evaluate(y, (lo + hi) / 2)
    with pytest.raises(MetricError, match="q_high"):
        m.interval_coverage(y, lo, hi[:3])
