"""sBG prediction intervals (ltvkit.btyd.predictive.renewal_samples /
subscription_value_quantiles and the ``sbg`` model's p_active and quantiles): the simulated
remaining lifetime has the closed-form survival, intervals fitted on simulated subscribers cover
their simulated futures at the nominal rate, and the expected value does not change."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.btyd import SBGParams, predictive, sbg, uncertainty
from ltvkit.models import all_models

LEVELS = (0.1, 0.5, 0.9)


def test_renewal_draws_have_the_closed_form_survival_and_mean():
    params = SBGParams(0.704, 1.182)  # Fader & Hardie (2007), "regular" segment
    periods = np.array([0.0, 1.0, 4.0, 12.0])
    S = 200_000
    draws = np.tile([params.alpha, params.beta], (S, 1))
    k = predictive.renewal_samples(draws, periods, 30, np.random.default_rng(0))
    assert k.shape == (S, 4) and k.min() == 0 and k.max() == 30
    for m in (1, 2, 5, 10, 30):
        want = sbg.p_alive(params, periods, m)  # P(K >= m) = S(n + m) / S(n)
        np.testing.assert_allclose((k >= m).mean(axis=0), want, atol=0.004)
    # the mean of K capped at h is the expected number of subscribed period ends
    for h in (3, 12):
        want = sbg.expected_alive_periods(params, periods, h)
        got = np.minimum(k, h).mean(axis=0)
        sem = np.minimum(k, h).std(axis=0) / np.sqrt(S)
        assert np.all(np.abs(got - want) < 5 * sem), h


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intervals_cover_simulated_futures_at_the_nominal_rate(seed):
    """Simulate subscribers from known (alpha, beta), observe 8 periods, fit the sBG, and
    compare every active subscriber's 10/50/90 % quantiles of the next 1,000 periods' value
    (parameter replicates x simulated lifetimes) with the value they really go on to have.

    Values are whole numbers of periods times a spend, so the quantiles are checked as a
    discrete law's: P(Y < q_tau) <= tau <= P(Y <= q_tau), up to sampling error, and the
    10-90 % interval covers about 80 % (a little more: atoms at K = 0 and K = 1)."""
    rng = np.random.default_rng(seed)
    true, n_obs, horizon = SBGParams(0.7, 1.2), 8, 1000
    theta = rng.beta(true.alpha, true.beta, 6000)
    life = rng.geometric(theta).astype(np.float64)  # period of cancellation
    churned = (life <= n_obs).astype(np.float64)
    periods = np.minimum(life, n_obs)
    params, _ = sbg.fit(periods, churned)
    cov, note = uncertainty.cov_log_or_zeros(params, periods, churned)
    assert note == "" and np.all(np.diag(cov) > 0)
    draws = uncertainty.draw_params_from_cov(params, cov, 400, seed=seed)
    active = churned == 0
    per_period = rng.lognormal(3.0, 0.5, theta.size)
    q = predictive.subscription_value_quantiles(draws, periods, active, per_period,
                                                [np.ones(horizon)], LEVELS, seed=seed)
    for level in LEVELS:
        assert np.all(q[level][~active] == 0.0)
    future = np.minimum(life - n_obs - 1.0, horizon)[active]  # renewals after the 8th
    y = per_period[active] * future
    q10, q50, q90 = (q[level][active, 0] for level in LEVELS)
    for level, qq in zip(LEVELS, (q10, q50, q90), strict=True):
        assert np.mean(y < qq) <= level + 0.035, level
        assert np.mean(y <= qq) >= level - 0.035, level
    coverage = np.mean((y >= q10) & (y <= q90))
    assert 0.77 <= coverage <= 0.88, coverage


def test_quantiles_of_many_horizons_are_nested_and_ordered():
    params = SBGParams(0.668, 3.806)  # "high end"
    draws = np.tile([params.alpha, params.beta], (500, 1))
    periods = np.array([0.0, 2.0, 5.0, 3.0])
    active = np.array([True, True, True, False])
    weights = [np.array([1.0, 0.5]), 0.99 ** np.arange(1, 7), 0.99 ** np.arange(1, 13)]
    q = predictive.subscription_value_quantiles(draws, periods, active, np.full(4, 10.0),
                                                weights, LEVELS, seed=3)
    assert np.all(q[0.1] <= q[0.5]) and np.all(q[0.5] <= q[0.9])
    assert np.all(np.diff(q[0.9], axis=1) >= 0)  # longer horizons hold more value
    assert np.all(q[0.9][:3, 2] <= 10.0 * weights[2].sum() + 1e-12)
    np.testing.assert_array_equal(q[0.9][3], 0.0)


def test_sbg_model_returns_intervals_and_an_unchanged_expected_value(cdnow_multi_horizon):
    ds = cdnow_multi_horizon
    idx = np.random.default_rng(3).permutation(len(ds))
    train, test = ds.subset(idx[:1500]), ds.subset(idx[1500:3000])
    cls = all_models()["sbg"]
    assert cls.tag("probabilistic")
    model = cls(n_draws=100).fit(train)
    pred = model.predict(test)
    point = cls(n_draws=0).fit(train).predict(test)
    assert point.quantiles is None and point.p_active is None
    np.testing.assert_array_equal(point.value, pred.value)
    # p_active: the first period end of every horizon decides whether it holds any value
    for j in range(len(test.horizons)):
        np.testing.assert_array_equal(pred.p_active[:, j], pred.extras["p_alive"])
        zero = pred.value[:, j] == 0
        assert np.all(pred.p_active[zero, j] == 0)
    q10, q50, q90 = (pred.quantiles[level] for level in LEVELS)
    assert np.all(q10 <= q50) and np.all(q50 <= q90) and np.all(q10 >= 0)
    assert np.all(np.diff(q90, axis=1) >= -1e-9)
    # the expected value lies inside the 10-90 % range of its own draws for most subscribers
    inside = (pred.value >= q10 - 1e-9) & (pred.value <= q90 + 1e-9)
    assert inside.mean() > 0.9
    # the parameter covariance is the Hessian one, saved with the model
    periods, churned, _ = model.subscriptions(train)
    np.testing.assert_allclose(model.cov_log_, uncertainty.standard_errors(
        model.params_, periods, churned).cov_log)


def test_sbg_quantiles_do_not_depend_on_the_batch(cdnow_dataset):
    # Scoring in chunks (or on Spark executors) must give the rows of scoring all at once.
    ds = cdnow_dataset
    model = all_models()["sbg"](n_draws=50).fit(ds.subset(np.arange(2000)))
    test = ds.subset(np.arange(2000, 3000))
    whole = model.predict(test)
    part = model.predict(test.subset(np.arange(999, 499, -1)))
    for level in LEVELS:
        np.testing.assert_array_equal(part.quantiles[level],
                                      whole.quantiles[level][999:499:-1])
    other = all_models()["sbg"](n_draws=50, random_state=1).fit(ds.subset(np.arange(2000)))
    assert not np.array_equal(other.predict(test).quantiles[0.9], whole.quantiles[0.9])
