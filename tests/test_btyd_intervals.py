"""Prediction intervals of the BTYD models (ltvkit.btyd.predictive): the simulated predictive
distribution has the closed-form mean and zero-probability; the model quantiles on real CDNOW
cover the realised spend; BG/BB's no-purchase probability."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.btyd import (
    BGBBParams,
    BGNBDParams,
    GammaGammaParams,
    MBGNBDParams,
    ParetoNBDParams,
    bgbb,
    gamma_gamma,
    predictive,
    simulate,
)
from ltvkit.btyd.clv import clv
from ltvkit.btyd.probabilities import expected_probability_no_purchase
from ltvkit.metrics import interval_coverage
from ltvkit.models import all_models

SPEND = GammaGammaParams(6.25, 3.74, 15.44)
CASES = [
    (BGNBDParams(0.243, 4.414, 0.793, 2.426), np.array([0.0, 2, 7, 1]),
     np.array([0.0, 30, 36, 5]), np.array([39.0, 39, 38, 39])),
    (MBGNBDParams(0.525, 6.183, 0.891, 1.614), np.array([0.0, 2, 7, 1]),
     np.array([0.0, 30, 36, 5]), np.array([39.0, 39, 38, 39])),
    (ParetoNBDParams(0.553, 10.578, 0.606, 11.669), np.array([0.0, 2, 7, 1]),
     np.array([0.0, 30, 36, 5]), np.array([39.0, 39, 38, 39])),
    (BGBBParams(1.204, 0.750, 0.657, 2.783), np.array([0.0, 3, 5, 1]),
     np.array([0.0, 6, 6, 1]), np.array([6.0, 6, 6, 6])),
]


@pytest.mark.parametrize("params,x,t_x,T", CASES, ids=["bgnbd", "mbgnbd", "pareto", "bgbb"])
def test_simulated_spend_has_the_closed_form_mean_and_zero_mass(params, x, t_x, T):
    horizons = [4.0, 12.0] if isinstance(params, BGBBParams) else [13.0, 52.0]
    bounds, weights = predictive.horizon_grid(horizons, 4.0, 0.05)
    S = 40_000
    est = np.tile([getattr(params, f) for f in params.__dataclass_fields__], (S, 1))
    spend = np.tile([SPEND.p, SPEND.q, SPEND.gamma], (S, 1))
    zbar = np.array([0.0, 30.0, 45.0, 20.0])
    has = (x > 0) & (zbar > 0)
    draws = predictive.spend_samples(type(params), est, spend, x, t_x, T, zbar, has, bounds,
                                     weights, np.random.default_rng(0))
    per_purchase = gamma_gamma.conditional_expected_spend(SPEND, np.where(has, x, 0),
                                                          np.where(has, zbar, 1.0))
    for j, h in enumerate(horizons):
        expected = clv(params, None, x, t_x, T, per_purchase, h, period_length=4.0,
                       discount_rate=0.05)
        sem = draws[:, :, j].std(axis=0) / np.sqrt(S)
        assert np.all(np.abs(draws[:, :, j].mean(axis=0) - expected) < 5 * sem + 1e-9), h
        # P(no spend) against the closed-form probability of no purchase
        p0 = expected_probability_no_purchase(params, h, x, t_x, T)
        np.testing.assert_allclose((draws[:, :, j] == 0).mean(axis=0), p0, atol=0.01)
    # undiscounted, one draw gives nested horizons
    bounds, weights = predictive.horizon_grid(horizons, 4.0, 0.0)
    plain = predictive.spend_samples(type(params), est[:2000], spend[:2000], x, t_x, T, zbar,
                                     has, bounds, weights, np.random.default_rng(1))
    assert np.all(plain[:, :, 1] >= plain[:, :, 0])


def test_horizon_grid_undiscounted_is_an_indicator():
    bounds, weights = predictive.horizon_grid([30.0, 90.0, 273.0], 30.0, 0.0)
    assert bounds[-1] == 273.0 and np.all(np.diff(bounds) > 0)
    np.testing.assert_array_equal(weights[:, 0], bounds <= 30.0)
    np.testing.assert_array_equal(weights[:, 2], 1.0)


def test_bgbb_no_purchase_probability():
    params = BGBBParams(1.204, 0.750, 0.657, 2.783)
    # a new customer: eq. (8) at x = 0
    assert float(bgbb.probability_no_purchase(params, 6, 0, 0, 0)) == pytest.approx(
        float(bgbb.probability_of_n_purchases_up_to_time(params, 6, 0)), rel=1e-12)
    # new customers simulated over 11 opportunities: share without a purchase, and the mean
    sim = simulate.customers(params, 300_000, 11, seed=2)
    assert (sim.x == 0).mean() == pytest.approx(
        float(bgbb.probability_no_purchase(params, 11, 0, 0, 0)), abs=0.003)
    assert sim.x.mean() == pytest.approx(float(bgbb.expected_purchases_new(params, 11)),
                                         rel=0.01)
    p_none = bgbb.probability_no_purchase(params, 5, [3, 3, 0], [6, 3, 0], [6, 6, 6])
    assert p_none[0] < p_none[1] < p_none[2] < 1


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd", "pareto_nbd", "bgbb"])
def test_model_intervals_cover_the_realised_spend_on_cdnow(name, cdnow_multi_horizon):
    """Fitted on 1,500 CDNOW customers, the 10-90 % interval of 1,500 others holds the
    realised spend for roughly 80 % of them (the bulk of the zeros make it above 80 % at short
    horizons), and p_active ranks buyers."""
    ds = cdnow_multi_horizon
    idx = np.random.default_rng(3).permutation(len(ds))
    train, test = ds.subset(idx[:1500]), ds.subset(idx[1500:3000])
    model = all_models()[name](n_draws=100).fit(train)
    pred = model.predict(test)
    for j in range(len(test.horizons)):
        y = test.labels[:, j]
        cov = interval_coverage(y, pred.quantiles[0.1][:, j], pred.quantiles[0.9][:, j])
        assert 0.7 <= cov <= 0.97, (test.horizons[j], cov)
    active = pred.p_active[:, -1]
    assert active[test.labels[:, -1] > 0].mean() > active[test.labels[:, -1] == 0].mean() + 0.1
    point = all_models()[name](n_draws=0).fit(train).predict(test)
    assert point.quantiles is None
    np.testing.assert_array_equal(point.value, pred.value)
