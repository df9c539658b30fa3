"""`ltv target` / `ltvkit.scoring.target`: the choice under a share, a count or a budget,
expected revenue / cost / ROI checked by hand on generated values, the spend curve, the
realised value of the top 10 % on CDNOW's test split, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.metrics import top_k_scores
from ltvkit.models import create_model
from ltvkit.scoring import ScoringError, score, target


def ltv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture
def small():
    return pd.DataFrame({"customer_id": list("abcdefghij"),
                         "value_90D": [5.0, 1.0, 9.0, 0.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0],
                         "y_true_90D": [4.0, 0.0, 12.0, 1.0, 0.0, 5.0, 0.0, 0.0, 9.0, 6.0]})


def test_budget_choice_and_money_by_hand(small):
    r = target(small, budget=7.5, cost_per_contact=2.5, margin=0.5)
    # 3 contacts: c (9), h (8), f (7)
    assert r.targets["customer_id"].tolist() == ["c", "h", "f"]
    assert r.targets["contact_order"].tolist() == [1, 2, 3]
    s = r.summary
    assert s["targeted"] == 3 and s["expected_cost"] == 7.5
    assert s["expected_revenue"] == pytest.approx(0.5 * (9 + 8 + 7))
    assert s["expected_roi"] == pytest.approx((12.0 - 7.5) / 7.5)
    assert s["realised_revenue"] == pytest.approx(0.5 * (12 + 0 + 5))
    assert s["realised_roi"] == pytest.approx((8.5 - 7.5) / 7.5)


def test_top_share_and_n(small):
    assert target(small, top="20%").targets["customer_id"].tolist() == ["c", "h"]
    assert target(small, top=0.2).summary["targeted"] == 2
    assert target(small, n=4).targets["customer_id"].tolist() == ["c", "h", "f", "j"]
    assert target(small, n=100).summary["targeted"] == 10


def test_curve_is_the_gain_curve_in_money(small):
    r = target(small, n=3, cost_per_contact=1.0, margin=1.0, curve_points=10)
    c = r.curve
    assert c["contacts"].tolist() == list(range(1, 11))
    expected = np.cumsum(np.sort(small["value_90D"].to_numpy())[::-1])
    np.testing.assert_allclose(c["expected_revenue"], expected)
    np.testing.assert_allclose(c["spend"], np.arange(1, 11))
    # Marginal ROI falls as less valuable customers are added (the values are distinct).
    assert c["expected_marginal_roi"].is_monotonic_decreasing


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": 1.0, "cost_per_contact": 2.0}, "budget: 1.0 is below one contact"),
    ({"top": "10%", "margin": 1.5}, r"margin: must be in \(0, 1\], got 1.5"),
    ({"top": "10%", "margin": 0.0}, r"margin: must be in \(0, 1\], got 0.0"),
    ({"top": "0%"}, r"top: must be in \(0, 100%\], got 0%"),
    ({"top": "ten"}, "top: not a share"),
    ({"n": 0}, "n: must be >= 1, got 0"),
    ({"top": "10%", "n": 3}, "give exactly one of top, n and budget"),
])
def test_bad_input_names_the_value_and_the_rule(small, kwargs, message):
    with pytest.raises(ScoringError, match=message):
        target(small, **kwargs)


def test_missing_column_is_named(small):
    with pytest.raises(ScoringError, match="missing required column value_<h>"):
        target(small.drop(columns=["value_90D"]), top="10%")
    with pytest.raises(ScoringError, match="missing required column 'customer_id'"):
        target(small.drop(columns=["customer_id"]), top="10%")


def test_top_10_percent_on_cdnow_expected_and_realised(cdnow_log, tmp_path):
    public = get_dataset("cdnow")
    train, valid, test = public.split.split(build_dataset(cdnow_log, public.task), 0)
    model = create_model("lgbm", n_estimators=60, n_threads=1).fit(train, valid)
    scored = score(model, test, with_labels=True).frame
    r = target(scored, top="10%", cost_per_contact=1.0, margin=0.3)
    s = r.summary
    y, p = scored["y_true_273D"].to_numpy(), scored["value_273D"].to_numpy()
    order = np.argsort(-p, kind="mergesort")[:s["targeted"]]
    assert s["realised_revenue"] == pytest.approx(0.3 * y[order].sum())
    # The same top 10 % as the metrics' top-k scores: its share of realised spend.
    share = s["realised_revenue"] / (0.3 * y.sum())
    assert share > 0.3  # the top tenth by prediction holds far more than a tenth of spend
    assert top_k_scores(y, p, 0.1)["precision"] > 0.3
    # The CLI on the written file gives the same numbers.
    path = tmp_path / "scored.parquet"
    scored.to_parquet(path)
    res = ltv("target", "--scored", str(path), "--top", "10%", "--cost-per-contact", "1",
              "--margin", "0.3", "--out", str(tmp_path / "targets.csv"))
    assert res.returncode == 0, res.stderr
    cli = json.loads((tmp_path / "targets.summary.json").read_text())
    assert cli["targeted"] == s["targeted"]
    assert cli["realised_revenue"] == pytest.approx(s["realised_revenue"])
    assert len(pd.read_csv(tmp_path / "targets.csv")) == s["targeted"]
    assert len(pd.read_csv(tmp_path / "targets.curve.csv")) >= 100
    bad = ltv("target", "--scored", str(path), "--budget", "0.5", "--cost-per-contact", "2",
              "--out", str(tmp_path / "t.csv"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "budget: 0.5 is below one contact" in bad.stderr


# ------------------------------------------------------------------ projected value, spend
def test_projected_value_is_equation_1():
    from ltvkit.scoring import projected_value

    assert projected_value(1000, 0.25, 40.0) == pytest.approx(10_000.0)
    np.testing.assert_allclose(projected_value([10, 20], [0.5, 0.1], [8.0, 30.0]), [40.0, 60.0])
    with pytest.raises(ScoringError, match=r"purchase_rate: must be in \[0, 1\], 1 value"):
        projected_value(10, 1.2, 5.0)


def test_acquisition_clv_from_the_new_cohort_on_cdnow(cdnow_log):
    from ltvkit.data import LTVTask
    from ltvkit.scoring import acquisition_clv, projected_value

    task = LTVTask(cutoff="1997-03-31", horizons=("180D",), period="M", n_periods=3,
                   cohort="new", new_from="1997-03-01", new_until="1997-03-31")
    new = build_dataset(cdnow_log, task)
    model = create_model("bgnbd").fit(new)
    acq = acquisition_clv(model, new)
    assert acq["customers"] == len(new)
    assert acq["acquisition_clv"] == pytest.approx(model.predict(new).value[:, 0].mean())
    assert 0 < acq["purchase_rate"] <= 1
    pv = projected_value(acq["customers"], acq["purchase_rate"], acq["value_per_buyer"])
    assert pv == pytest.approx(acq["customers"] * acq["acquisition_clv"])
    with pytest.raises(ScoringError, match="must be a dataset of the 'new' cohort"):
        acquisition_clv(model, build_dataset(cdnow_log, get_dataset("cdnow").task))


@pytest.mark.parametrize("form", ["hill", "log"])
def test_spend_response_recovers_a_known_curve(form):
    from ltvkit.scoring import fit_spend_response

    rng = np.random.default_rng(1)
    s = rng.uniform(10, 2000, 240)
    if form == "hill":
        true = 1000 * s ** 0.8 / (300 ** 0.8 + s ** 0.8)
        params = {"vmax": 1000, "h": 300, "k": 0.8}
    else:
        true = 400 * np.log1p(s / 150)
        params = {"a": 400, "b": 150}
    v = true * (1 + rng.normal(0, 0.02, len(s)))
    r = fit_spend_response(pd.DataFrame({"spend": s, "value": v}))
    assert r.form == form
    for name, value in params.items():
        assert r.params[name] == pytest.approx(value, rel=0.1), name
    # The spend where one more unit returns exactly one unit, and the curve's slope there.
    s0 = r.spend_for_marginal_roi(0.0)
    assert r.marginal_roi(s0) == pytest.approx(0.0, abs=1e-6)
    assert r.marginal_roi(s0 / 2) > 0 > r.marginal_roi(s0 * 2)
    if form == "log":
        assert s0 == pytest.approx(400 - 150, rel=0.1)  # a / 1 - b


def test_spend_response_bad_input():
    from ltvkit.scoring import fit_spend_response

    with pytest.raises(ScoringError, match=r"missing required column\(s\) \['value'\]"):
        fit_spend_response(pd.DataFrame({"spend": [1.0] * 20}))
    with pytest.raises(ScoringError, match="spend must be finite and >= 0 .* 1 row"):
        fit_spend_response(pd.DataFrame({"spend": [-1.0] + [1.0] * 19, "value": [1.0] * 20}))


def test_projected_value_of_olist_sellers_by_month(shared_data):
    """Olist sellers acquired per month: acquisition CLV from the new-seller cohort (BG/NBD +
    Gamma-Gamma fitted on the sellers known at the month's end), projected value (equation 1)
    and its response to acquisitions (Olist has no marketing-spend data: the number of sellers
    acquired stands in for spend)."""
    from ltvkit.data import LTVTask
    from ltvkit.scoring import acquisition_clv, fit_spend_response, projected_value

    log = get_dataset("olist_target").load_log(shared_data)
    rows = []
    for month in pd.period_range("2017-03", "2018-02", freq="M"):
        start, end = str(month.start_time.date()), str(month.end_time.date())
        base = {"cutoff": end, "horizons": ("90D",), "period": "30D", "n_periods": 1}
        known = build_dataset(log, LTVTask(**base))
        new = build_dataset(log, LTVTask(**base, cohort="new", new_from=start, new_until=end))
        model = create_model("bgnbd", log_penalizer=0.01).fit(known)
        acq = acquisition_clv(model, new)
        assert acq["purchase_rate_from"] == "p_active" and 0 < acq["purchase_rate"] <= 1
        pv = projected_value(acq["customers"], acq["purchase_rate"], acq["value_per_buyer"])
        assert pv == pytest.approx(model.predict(new).value[:, 0].sum(), rel=1e-9)
        rows.append({"spend": acq["customers"], "value": pv,
                     "realised": new.labels[:, 0].sum()})
    table = pd.DataFrame(rows)
    assert (table["spend"] > 0).all() and len(table) == 12
    # The projected value is within a factor 2 of what the sellers really spent in 90 days.
    assert 0.5 < table["value"].sum() / table["realised"].sum() < 2.0
    r = fit_spend_response(table[["spend", "value"]])
    assert r.form in ("log", "hill") and set(r.cv_rmse) == {"log", "hill"}
    assert np.all(np.diff(r.predict(np.linspace(50, 300, 20))) > 0)  # more sellers, more value
