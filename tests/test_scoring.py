"""`ltvkit.score` / `ltv score` on real CDNOW: the columns of the interface, discounted CLV
against a hand computation, rank / decile / percentile, p_alive for BTYD, quantile intervals,
the accounted out-of-scope list and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import ltvkit
from ltvkit.data import LTVTask, build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.models import create_model
from ltvkit.scoring import (
    ScoringError,
    ValueSegments,
    discount_factor,
    discounted_value,
    learn_segments,
    rank_columns,
    score,
)


def ltv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def cdnow_split(cdnow_log):
    public = get_dataset("cdnow")
    ds = build_dataset(cdnow_log, public.task)
    return public.split.split(ds, 0)


@pytest.fixture(scope="module")
def lgbm(cdnow_split):
    train, valid, _ = cdnow_split
    return create_model("lgbm", n_estimators=60, n_threads=1).fit(train, valid)


# ------------------------------------------------------------------ discounting
def test_npv_matches_a_hand_computation():
    # 100 spread over 365 days at 10 % a year: sum_{d=1..365} (100/365) * 1.1^(-d/365)
    hand = sum(100.0 / 365.0 * 1.1 ** (-d / 365.0) for d in range(1, 366))
    assert discounted_value(np.array([100.0]), 365, 0.10)[0] == pytest.approx(hand, rel=1e-12)
    # 90 days at 5 %: by the loop again
    hand90 = sum(1.0 / 90.0 * 1.05 ** (-d / 365.0) for d in range(1, 91))
    assert discount_factor(90, 0.05) == pytest.approx(hand90, rel=1e-12)
    assert discount_factor(273, 0.0) == 1.0
    assert 0.95 < discount_factor(365, 0.10) < 1.0  # about half a year of discounting
    with pytest.raises(ScoringError, match="discount_rate"):
        discount_factor(90, -1.5)


def test_rank_decile_percentile():
    v = np.array([5.0, 1.0, 9.0, 9.0, 0.0, 3.0, 7.0, 2.0, 8.0, 4.0])
    rank, decile, pct = rank_columns(v)
    assert rank.tolist() == [5, 9, 1, 1, 10, 7, 4, 8, 3, 6]  # ties share the best rank
    assert decile[np.argmax(v)] == 1 and decile[np.argmin(v)] == 10
    assert decile[2] == decile[3]  # tied values, one group
    assert pct.min() == 1 and pct.max() <= 100
    # The same groups as targets.rank_groups (one sort instead of three), ties included.
    from ltvkit.targets import rank_groups

    w = np.random.default_rng(0).integers(0, 50, 5000).astype(float)
    rank, decile, pct = rank_columns(w)
    np.testing.assert_array_equal(decile, rank_groups(-w, 10) + 1)
    np.testing.assert_array_equal(pct, rank_groups(-w, 100) + 1)
    np.testing.assert_array_equal(rank, 1 + (w[None, :] > w[:, None]).sum(axis=1))


# ------------------------------------------------------------------ the scored base
def test_score_columns_and_values_on_cdnow(lgbm, cdnow_split, cdnow_log):
    _, _, test = cdnow_split
    scored = score(lgbm, test, discount_rate=0.08, with_labels=True, log=cdnow_log)
    f = scored.frame
    assert list(f.columns) == ["customer_id", "cutoff", "value_273D", "clv_npv_273D",
                               "y_true_273D", "rank", "decile", "percentile", "segment"]
    assert len(f) == len(test) and f["customer_id"].is_unique
    pred = lgbm.predict(test).value[:, 0]
    np.testing.assert_array_equal(f["value_273D"].to_numpy(), pred)
    np.testing.assert_allclose(f["clv_npv_273D"], pred * discount_factor(273, 0.08))
    np.testing.assert_array_equal(f["y_true_273D"], test.labels_for("273D"))
    top = f[f["decile"] == 1]
    assert len(top) == pytest.approx(len(f) / 10, abs=2)
    assert top["value_273D"].min() >= f.loc[f["decile"] > 1, "value_273D"].max()
    assert f.loc[f["rank"] == 1, "value_273D"].iloc[0] == pred.max()
    # Segments learnt on the scored base (no segments.json): the top 20 % is "high".
    assert scored.summary["segments_from"].startswith("learnt on the scored base")
    assert (f["segment"] == "high").mean() == pytest.approx(0.2, abs=0.01)
    # Every log customer is scored or accounted for with a reason (the rest are other splits).
    oos = scored.out_of_scope
    assert len(f) + len(oos) == cdnow_log.arrays.n_customers
    assert scored.summary["balanced"]
    assert set(oos["customer_id"]).isdisjoint(f["customer_id"])
    assert oos["reason"].str.contains("not in this dataset").all()


def test_out_of_scope_reasons_follow_the_cohort_rule(cdnow_log):
    # An early cutoff: customers whose first purchase comes after it are out of scope.
    task = LTVTask(cutoff="1997-02-15", horizons=("90D",), period="M", n_periods=2)
    ds = build_dataset(cdnow_log, task)
    model = create_model("historical_mean").fit(ds)
    scored = score(model, ds, log=cdnow_log)
    firsts = cdnow_log.con.execute(
        f"SELECT count(*) FROM (SELECT customer_id, min(ts) AS first FROM {cdnow_log.table} "
        "WHERE amount >= 0 GROUP BY customer_id) WHERE first >= TIMESTAMP '1997-02-16'"
    ).fetchone()[0]
    oos = scored.out_of_scope
    assert len(oos) == firsts > 0
    assert (oos["reason"] == "first purchase after the cutoff 1997-02-15").all()
    assert len(scored.frame) + len(oos) == cdnow_log.arrays.n_customers


def test_btyd_model_adds_p_alive(cdnow_split):
    train, _, test = cdnow_split
    model = create_model("bgnbd").fit(train)
    f = score(model, test).frame
    assert "p_alive" in f.columns
    np.testing.assert_allclose(f["p_alive"], model.predict(test).extras["p_alive"].ravel())
    assert f["p_alive"].between(0, 1).all()


def test_quantile_model_writes_intervals_and_point_model_refuses_them(cdnow_split, lgbm):
    pytest.importorskip("torch")
    train, valid, test = cdnow_split
    ziln = create_model("ziln", **create_model("ziln").test_params()[0]).fit(train, valid)
    f = score(ziln, test, intervals=True).frame
    for col in ("q10_273D", "q50_273D", "q90_273D", "p_active_273D"):
        assert col in f.columns
    assert (f["q10_273D"] <= f["q50_273D"]).all() and (f["q50_273D"] <= f["q90_273D"]).all()
    assert "q10_273D" not in score(ziln, test, intervals=False).frame.columns
    with pytest.raises(ScoringError, match="intervals: model 'lgbm' predicts no quantiles"):
        score(lgbm, test, intervals=True)


def test_segments_saved_with_the_model_give_the_same_segment(lgbm, cdnow_split, tmp_path):
    train, _, test = cdnow_split
    lgbm.save(tmp_path / "model")
    seg = learn_segments(lgbm, train, quantiles=(0.6, 0.9), save=tmp_path / "model")
    assert (tmp_path / "model" / "segments.json").exists()
    from_dir = ltvkit.score(tmp_path / "model", test)
    assert from_dir.summary["segments_from"].endswith("segments.json")
    given = score(lgbm, test, segments=seg)
    np.testing.assert_array_equal(from_dir.frame["segment"], given.frame["segment"])
    # The boundaries are the training predictions' quantiles, not the scored base's.
    train_pred = lgbm.predict(train).value[:, 0]
    assert seg.thresholds == pytest.approx(np.quantile(train_pred, [0.6, 0.9]).tolist())
    with pytest.raises(ScoringError, match="quantiles: must be strictly increasing"):
        ValueSegments.from_quantiles(train_pred, (0.8, 0.5))


def test_import_ltvkit_stays_light():
    code = ("import sys, ltvkit; print([m for m in ('pandas', 'ltvkit.scoring', "
            "'ltvkit.models') if m in sys.modules]); print(callable(ltvkit.score))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.split() == ["[]", "True"]


def test_ltv_score_cli_writes_the_scored_file_and_the_accounted_list(lgbm, cdnow_split,
                                                                       tmp_path):
    train, _, test = cdnow_split
    lgbm.save(tmp_path / "m")
    train.save(tmp_path / "train")
    test.save(tmp_path / "test")
    out = tmp_path / "scored.parquet"
    res = ltv("score", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "test"),
              "--out", str(out), "--fit-segments", str(tmp_path / "train"), "--with-labels",
              "--log-dataset", "cdnow", "--discount-rate", "0.12")
    assert res.returncode == 0, res.stderr
    f = pd.read_parquet(out)
    oos = pd.read_parquet(tmp_path / "scored.out_of_scope.parquet")
    assert len(f) == len(test) and len(f) + len(oos) == 23_570
    np.testing.assert_allclose(f["clv_npv_273D"], f["value_273D"] * discount_factor(273, 0.12))
    assert (tmp_path / "m" / "segments.json").exists()
    bad = ltv("score", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "test"),
              "--out", str(out), "--intervals")
    assert bad.returncode == 2
    assert "intervals: model 'lgbm' predicts no quantiles" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    bad = ltv("score", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "test"),
              "--out", str(out), "--segment-thresholds", "100,20")
    assert bad.returncode == 2 and "thresholds: must be strictly increasing" in bad.stderr


def test_demo_ends_with_the_scored_base_segments_and_targets(tmp_path, capsys):
    from ltvkit.cli.demo import decisions

    decisions(tmp_path)
    printed = capsys.readouterr()
    for title in ("scored customer base", "value segments", "top-10 % target list"):
        assert title in printed.out
    scored = pd.read_parquet(tmp_path / "decisions" / "scored.parquet")
    targets = pd.read_csv(tmp_path / "decisions" / "targets.csv")
    assert len(targets) == int(np.ceil(0.1 * len(scored)))
    assert (tmp_path / "decisions" / "lgbm" / "segments.json").exists()
    assert str(tmp_path / "decisions" / "targets.csv") in printed.err.replace("\n", "")
    shap = pd.read_csv(tmp_path / "decisions" / "shap_importance.csv")
    assert list(shap.columns) == ["feature", "mean_abs_shap", "share"] and len(shap) > 0
    assert shap["mean_abs_shap"].is_monotonic_decreasing and np.isclose(shap["share"].sum(), 1)
    assert "shap_importance.csv" in printed.err.replace("\n", "")
    from ltvkit.report import build_report

    result = build_report(tmp_path, btyd=False)  # what `ltv demo` does next
    assert {"value-by-segment", "targeting-roi", "shap-importance"} <= set(result.charts)


def test_every_horizon_of_a_multi_horizon_model_gets_its_columns(cdnow_multi_horizon):
    pytest.importorskip("torch")
    ds = cdnow_multi_horizon.subset(np.arange(3000))
    train, test = ds.subset(np.arange(2000)), ds.subset(np.arange(2000, 3000))
    model = create_model("mtl_ziln", **create_model("mtl_ziln").test_params()[0]).fit(train)
    f = score(model, test, discount_rate=0.2).frame
    pred = model.predict(test)
    for j, (h, days) in enumerate(zip(ds.horizons, ds.horizon_days, strict=True)):
        for col in ("value", "q10", "q50", "q90", "p_active", "clv_npv"):
            assert f"{col}_{h}" in f.columns
        np.testing.assert_allclose(f[f"clv_npv_{h}"], pred.value[:, j] *
                                   discount_factor(days, 0.2))
    # Longer horizons are discounted more; rank and segments follow the first horizon.
    assert discount_factor(30, 0.2) > discount_factor(273, 0.2)
    assert (f.loc[f["rank"] == 1, "value_30D"].iloc[0] == f["value_30D"].max())
