"""The probability functions (ltvkit.btyd.probabilities) against closed forms, direct numerical
integrals and simulation, on the models' CDNOW and published parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from ltvkit.btyd import (
    BGBBParams,
    BGNBDParams,
    MBGNBDParams,
    ParetoNBDParams,
    simulate,
)
from ltvkit.btyd import (
    probabilities as P,
)
from ltvkit.btyd.clv import expected_purchases, p_alive
from ltvkit.errors import DataValidationError

# published CDNOW-sample estimates (weeks): BG/NBD (Fader, Hardie & Lee 2005a), Pareto/NBD
# (Fader & Hardie 2005); MBG/NBD as fitted on the same sample; BG/BB on the donation data
BG = BGNBDParams(0.243, 4.414, 0.793, 2.426)
MBG = MBGNBDParams(0.525, 6.183, 0.891, 1.614)
PARETO = ParetoNBDParams(0.553, 10.578, 0.606, 11.669)
BGBB = BGBBParams(1.204, 0.750, 0.657, 2.783)
HISTORY = (np.array([0.0, 1, 2, 7, 20]), np.array([0.0, 30, 10, 35, 38]),
           np.array([39.0, 39, 39, 38, 39]))


@pytest.mark.parametrize("params", [BG, MBG, PARETO], ids=["bgnbd", "mbgnbd", "pareto"])
@pytest.mark.parametrize("t", [5.0, 39.0, 78.0])
def test_pmf_is_a_distribution_with_the_closed_form_mean(params, t):
    n = np.arange(400)
    pmf = P.probability_of_n_purchases_up_to_time(params, t, n)
    assert np.all(pmf >= 0) and pmf.sum() == pytest.approx(1.0, abs=1e-6)
    assert n @ pmf == pytest.approx(float(P.expected_purchases_new(params, t)), rel=1e-5)


@pytest.mark.parametrize("params", [BG, MBG, PARETO], ids=["bgnbd", "mbgnbd", "pareto"])
def test_conditional_pmf_has_the_conditional_expectation_as_mean(params):
    x, t_x, T = HISTORY
    n = np.arange(600)[:, None]
    pmf = P.conditional_probability_of_n_purchases_up_to_time(params, 26.0, n, x, t_x, T)
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose((n * pmf).sum(axis=0),
                               expected_purchases(params, 26.0, x, t_x, T), rtol=1e-5)
    # no purchase = the n = 0 row; at least P(dead)
    no_buy = P.expected_probability_no_purchase(params, 26.0, x, t_x, T)
    np.testing.assert_allclose(no_buy, pmf[0], rtol=1e-12)
    assert np.all(no_buy >= 1 - p_alive(params, x, t_x, T) - 1e-12)


def test_bgnbd_pmf_matches_eq8_at_zero():
    # P(X(t) = 0) = (alpha / (alpha + t))^r for BG/NBD (nobody drops out before a purchase)
    assert float(P.probability_of_n_purchases_up_to_time(BG, 10.0, 0)) == pytest.approx(
        (BG.alpha / (BG.alpha + 10.0)) ** BG.r, rel=1e-12)
    # MBG/NBD adds the drop-out at time 0: a/(a+b) + b/(a+b) (alpha/(alpha+t))^r
    a, b = MBG.a, MBG.b
    assert float(P.probability_of_n_purchases_up_to_time(MBG, 10.0, 0)) == pytest.approx(
        a / (a + b) + b / (a + b) * (MBG.alpha / (MBG.alpha + 10.0)) ** MBG.r, rel=1e-12)


def test_bgbb_pmf_dispatch_and_the_bad_count_rule():
    pmf = P.probability_of_n_purchases_up_to_time(BGBB, 6, np.arange(7))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(DataValidationError, match="n_nonnegative_integer"):
        P.probability_of_n_purchases_up_to_time(BG, 5.0, [1.5, 2])


@pytest.mark.parametrize("params", [BG, MBG], ids=["bgnbd", "mbgnbd"])
def test_p_alive_in_the_future_against_the_posterior_integral(params):
    x, t_x, T = 4.0, 30.0, 39.0
    shift = 1.0 if isinstance(params, MBGNBDParams) else 0.0
    r1, a1, b1 = params.r + x, params.alpha + T, params.b + x + shift
    for t in (0.0, 10.0, 52.0):
        # E over p ~ Beta(a, b') of E over lambda ~ Gamma(r', alpha') of exp(-lambda p t)
        direct, _ = integrate.quad(lambda p, t=t: (a1 / (a1 + p * t)) ** r1
                                   * stats.beta.pdf(p, params.a, b1), 0, 1)
        expected = float(p_alive(params, x, t_x, T)) * direct
        assert float(P.p_alive_at(params, t, x, t_x, T)) == pytest.approx(expected, rel=1e-9)
    path = P.p_alive_at(params, np.array([0.0, 5, 20, 80]), x, t_x, T)
    assert np.all(np.diff(path) < 0)


def test_p_alive_in_the_future_pareto_and_bgbb():
    x, t_x, T = HISTORY
    np.testing.assert_allclose(P.p_alive_at(PARETO, 0.0, x, t_x, T), p_alive(PARETO, x, t_x, T))
    # the memoryless lifetime: P(alive at T + t) = P(alive) E[exp(-mu t)]
    mu = stats.gamma(PARETO.s, scale=1 / (PARETO.beta + 39.0))
    direct, _ = integrate.quad(lambda m: np.exp(-m * 13.0) * mu.pdf(m), 0, np.inf)
    assert float(P.p_alive_at(PARETO, 13.0, 2, 10, 39)) == pytest.approx(
        float(p_alive(PARETO, 2, 10, 39)) * direct, rel=1e-8)
    np.testing.assert_allclose(P.p_alive_at(BGBB, 1, 3, 6, 6), p_alive(BGBB, 3, 6, 6) * (
        (BGBB.delta + 6) / (BGBB.gamma + BGBB.delta + 6)), rtol=1e-12)


def test_matrices_on_the_grid():
    m = P.p_alive_matrix(BG, 10, 39, T=39)
    assert m.shape == (11, 40)
    assert m[0, 0] == 1 and np.isnan(m[0, 5]) and np.isnan(m[3, 0])
    np.testing.assert_allclose(m[4, 30], float(p_alive(BG, 4, 30, 39)))
    # more recent at the same frequency: more likely alive
    assert np.all(np.diff(m[5, 1:]) > 0)
    e = P.expected_purchases_matrix(MBG, 10.0, 10, 39)
    np.testing.assert_allclose(e[2, 20], float(expected_purchases(MBG, 10.0, 2, 20, 39)))
    b = P.p_alive_matrix(BGBB, 6, 6, T=6)
    assert np.isnan(b[4, 3]) and b[3, 4] == pytest.approx(float(p_alive(BGBB, 3, 4, 6)))


def test_p_alive_path_follows_the_history():
    times, path = P.p_alive_path(BG, [3.0, 7.0, 8.0], end=30.0, step=1.0)
    assert times.size == 31 and path[0] == 1.0
    np.testing.assert_allclose(path[8], float(p_alive(BG, 3, 8, 8)))
    np.testing.assert_allclose(path[20], float(p_alive(BG, 3, 8, 20)))
    assert np.all(np.diff(path[8:]) < 0)  # decays after the last purchase
    assert path[7] > path[6]  # a purchase raises it
    with pytest.raises(DataValidationError, match="purchase_times_in_range"):
        P.p_alive_path(BG, [3.0, 40.0], end=30.0)


def test_cumulative_transactions_of_a_simulated_cohort():
    """The tracking plot: expected repeat transactions of customers acquired over 12 weeks,
    against the same count in logs drawn from the model."""
    rng = np.random.default_rng(3)
    n = 20000
    birth = rng.integers(0, 12, n).astype(float)
    horizon = 52.0
    cid, ts = simulate.transactions(MBG, n, horizon - birth, seed=8)
    repeat = np.ones(cid.size, dtype=bool)
    repeat[np.r_[0, np.flatnonzero(np.diff(cid)) + 1]] = False  # each customer's first row
    calendar = (birth[cid] + ts)[repeat]
    times = np.array([13.0, 26.0, 39.0, 52.0])
    simulated = np.array([(calendar <= t).sum() for t in times])
    expected = P.expected_cumulative_transactions(MBG, birth, times)
    np.testing.assert_allclose(expected, simulated, rtol=0.04)
    # one cohort at time 0 is n times the new-customer curve
    np.testing.assert_allclose(P.expected_cumulative_transactions(BG, np.zeros(5), [10.0]),
                               5 * P.expected_purchases_new(BG, 10.0))
