"""SHAP explanations: exact TreeSHAP of lgbm on real Online Retail (additivity: SHAP values plus
the base value equal the booster's raw score, and the same values as LightGBM's own TreeSHAP),
the model-agnostic permutation explainer on BTYD and a deep sequence model (efficiency: the
values add up to prediction minus base), top-3 reasons in the scored file, `ltv explain`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("shap")

from ltvkit.data import build_dataset  # noqa: E402
from ltvkit.datasets import get_dataset  # noqa: E402
from ltvkit.explain import dependence, explain, global_importance, top_reasons  # noqa: E402
from ltvkit.models import create_model  # noqa: E402
from ltvkit.models.base.lgbm import design_matrix  # noqa: E402


def ltv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def retail(shared_data):
    public = get_dataset("online_retail")
    log = public.load_log(shared_data)
    ds = build_dataset(log, public.task, public.load_attributes(log, shared_data))
    return public.split.split(ds, 0)


@pytest.fixture(scope="module")
def retail_lgbm(retail):
    train, valid, _ = retail
    return create_model("lgbm", n_estimators=200, n_threads=1).fit(train, valid)


def test_treeshap_is_exact_on_online_retail(retail, retail_lgbm):
    _, _, test = retail
    expl = explain(retail_lgbm, test)
    assert expl.method == "tree" and expl.values.shape == (len(test), len(expl.feature_names))
    raw = retail_lgbm.booster_.predict(design_matrix(test), raw_score=True)
    np.testing.assert_allclose(expl.values.sum(axis=1) + expl.base_value, raw, atol=1e-8)
    # LightGBM's own TreeSHAP (pred_contrib) gives the same per-feature values.
    contrib = retail_lgbm.booster_.predict(design_matrix(test), pred_contrib=True)
    np.testing.assert_allclose(expl.values, contrib[:, :-1], atol=1e-8)
    imp = global_importance(expl)
    assert imp["share"].sum() == pytest.approx(1.0)
    assert imp["mean_abs_shap"].is_monotonic_decreasing
    # Recency and spend carry the prediction: the top five all describe purchase history.
    assert imp["feature"].iloc[0] in {"days_since_last_purchase", "recency_days",
                                      "monetary_total", "items_total", "n_orders",
                                      "purchase_days", "net_spend", "frequency",
                                      "n_transactions"}
    frame = expl.to_frame()
    assert list(frame.columns[:2]) == ["customer_id", "cutoff"]
    assert frame.columns[-1] == "base_value" and len(frame) == len(test)
    dep = dependence(expl, imp["feature"].iloc[0])
    assert len(dep) == len(test)


def test_top_reasons_are_the_largest_contributions(retail, retail_lgbm):
    _, _, test = retail
    expl = explain(retail_lgbm, test, max_samples=50)
    reasons = top_reasons(expl, 3)
    assert len(reasons) == 50
    for i in range(50):
        order = np.argsort(-np.abs(expl.values[i]), kind="stable")
        name = expl.feature_names[order[0]]
        sign = "+" if expl.values[i, order[0]] >= 0 else "-"
        assert reasons.loc[i, "reason_1"] == f"{name} {sign}"
        assert abs(reasons.loc[i, "reason_1_shap"]) >= abs(reasons.loc[i, "reason_3_shap"])


def test_permutation_shap_on_btyd_adds_up(cdnow_slices):
    train, _, test = cdnow_slices
    model = create_model("bgnbd").fit(train)
    expl = explain(model, test, max_samples=6, background=8)
    assert expl.method == "permutation"
    # frequency, recency and T are masked together, so every evaluated history is valid.
    assert expl.feature_names[0] == "frequency+recency_days+T_days"
    sub = test.subset(np.isin(test.customer_id, expl.customer_id))
    pred = model.predict(sub).value[:, 0]
    np.testing.assert_allclose(expl.values.sum(axis=1) + expl.base_value, pred, rtol=1e-6,
                               atol=1e-6)
    imp = global_importance(expl).set_index("feature")["mean_abs_shap"]
    assert imp.iloc[0] > 0 and imp["cutoff_month"] == 0.0  # BTYD never reads the calendar


def test_sequence_model_is_explained_per_channel_and_period(cdnow_slices):
    pytest.importorskip("torch")
    train, valid, test = cdnow_slices
    model = create_model("lstm", **create_model("lstm").test_params()[0]).fit(train, valid)
    expl = explain(model, test, max_samples=8, background=10)
    t, c = test.sequences.shape[1:]
    seq_names = [n for n in expl.feature_names if n.startswith("seq:")]
    assert len(seq_names) == t * c
    assert f"seq:{test.channel_names[0]}@t-0" in seq_names
    sub = test.subset(np.isin(test.customer_id, expl.customer_id))
    np.testing.assert_allclose(expl.values.sum(axis=1) + expl.base_value,
                               model.predict(sub).value[:, 0], rtol=1e-4, atol=1e-4)


def test_cli_explain_and_score_explain(retail, retail_lgbm, tmp_path):
    _, _, test = retail
    retail_lgbm.save(tmp_path / "m")
    test.save(tmp_path / "test")
    out = tmp_path / "shap.parquet"
    res = ltv("explain", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "test"),
              "--out", str(out))
    assert res.returncode == 0, res.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == len(test) and "base_value" in frame.columns
    imp = pd.read_csv(tmp_path / "shap.importance.csv")
    assert imp["feature"].iloc[0] in res.stdout
    res = ltv("score", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "test"),
              "--out", str(tmp_path / "scored.csv"), "--explain")
    assert res.returncode == 0, res.stderr
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert {"reason_1", "reason_2", "reason_3"} <= set(scored.columns)
    assert scored["reason_1"].str.split(" ").str[0].isin(imp["feature"]).all()
