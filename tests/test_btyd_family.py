"""The rest of the BTYD family (ltvkit.btyd.mbgnbd, bgbb, sbg, simulate, uncertainty):
published parameters reproduced from the published tables, closed forms checked against
direct numerics, simulation and parameter recovery, Hessian standard errors, the error contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln

from ltvkit.btyd import (
    BGBBParams,
    BGNBDParams,
    MBGNBDParams,
    ParetoNBDParams,
    SBGParams,
    bgbb,
    bgnbd,
    mbgnbd,
    sbg,
    simulate,
    uncertainty,
)
from ltvkit.btyd.clv import expected_purchases, p_alive
from ltvkit.errors import DataValidationError, ModelError

# Fader, Hardie & Shang (2010), the 1995 cohort of 11,104 donors with 6 annual opportunities:
# (x, t_x, n, number of donors), the aggregated table the paper fits.
DONATIONS = np.array([
    (0, 0, 6, 3464), (1, 1, 6, 1091), (1, 2, 6, 277), (1, 3, 6, 129), (1, 4, 6, 78),
    (1, 5, 6, 119), (1, 6, 6, 129), (2, 2, 6, 613), (2, 3, 6, 255), (2, 4, 6, 155),
    (2, 5, 6, 173), (2, 6, 6, 234), (3, 3, 6, 322), (3, 4, 6, 181), (3, 5, 6, 225),
    (3, 6, 6, 357), (4, 4, 6, 240), (4, 5, 6, 284), (4, 6, 6, 512), (5, 5, 6, 335),
    (5, 6, 6, 728), (6, 6, 6, 1203)], dtype=np.float64)
PUBLISHED_BGBB = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}

# Fader & Hardie (2007), survivors per 1,000 over years 0-7 and the published sBG fits.
SURVIVORS = {"regular": [1000, 631, 468, 382, 326, 289, 262, 241],
             "high end": [1000, 869, 743, 653, 593, 551, 517, 491]}
PUBLISHED_SBG = {"regular": (0.704, 1.182), "high end": (0.668, 3.806)}


def _cdnow_sample() -> pd.DataFrame:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cdnow" / \
        "cdnow_sample_summary.csv"
    if not path.exists():
        pytest.skip(f"CDNOW sample {path} is missing")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def cdnow():
    d = _cdnow_sample()
    return d.frequency.to_numpy(float), d.recency.to_numpy(float), d["T"].to_numpy(float)


@pytest.fixture(scope="module")
def donation_fit():
    x, t_x, n, w = DONATIONS.T
    return bgbb.fit(x, t_x, n, weights=w)


# ------------------------------------------------------------------------------ BG/BB
def test_bgbb_reproduces_the_published_donation_parameters(donation_fit):
    params, info = donation_fit
    for name, value in PUBLISHED_BGBB.items():
        assert getattr(params, name) == pytest.approx(value, abs=6e-4), name
    assert info.n_customers == 11104


def test_bgbb_likelihood_matches_eq5_term_by_term(donation_fit):
    params, _ = donation_fit
    a, b, g, d = params.alpha, params.beta, params.gamma, params.delta
    x, t_x, n, _ = DONATIONS.T
    direct = []
    for xi, ti, ni in zip(x, t_x, n, strict=True):
        terms = [np.exp(betaln(a + xi, b + ni - xi) - betaln(a, b) + betaln(g, d + ni)
                        - betaln(g, d))]
        terms += [np.exp(betaln(a + xi, b + ti - xi + i) - betaln(a, b)
                         + betaln(g + 1, d + ti + i) - betaln(g, d))
                  for i in range(int(ni - ti))]
        direct.append(np.log(sum(terms)))
    np.testing.assert_allclose(bgbb.log_likelihood(params, x, t_x, n), direct, rtol=1e-12)


def test_bgbb_probability_of_n_purchases_is_a_distribution_with_the_eq7_mean(donation_fit):
    params, _ = donation_fit
    for n in (1, 6, 11):
        ks = np.arange(n + 1)
        pmf = bgbb.probability_of_n_purchases_up_to_time(params, n, ks)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
        assert ks @ pmf == pytest.approx(float(bgbb.expected_purchases_new(params, n)), rel=1e-10)


def test_bgbb_fitted_model_predicts_the_observed_histogram(donation_fit):
    """Eq. (8) at the estimate against the donors' frequency counts (the paper's Figure 3)."""
    params, _ = donation_fit
    x, _, _, w = DONATIONS.T
    observed = np.bincount(x.astype(int), weights=w) / w.sum()
    expected = bgbb.probability_of_n_purchases_up_to_time(params, 6, np.arange(7))
    np.testing.assert_allclose(expected, observed, atol=0.01)


def test_bgbb_conditional_forms_reduce_to_the_new_customer_forms(donation_fit):
    params, _ = donation_fit
    n_star = np.array([1.0, 5.0, 10.0])
    np.testing.assert_allclose(bgbb.expected_purchases(params, n_star, 0, 0, 0),
                               bgbb.expected_purchases_new(params, n_star), rtol=1e-12)
    # P(alive at 0 + m | nothing seen) = S(m) of the beta-geometric dropout
    np.testing.assert_allclose(
        bgbb.p_alive(params, 0, 0, 0, n_star),
        np.exp(betaln(params.gamma, params.delta + n_star) - betaln(params.gamma, params.delta)),
        rtol=1e-12)
    # more purchases, more recent: more future purchases
    e = bgbb.expected_purchases(params, 5, [1, 3, 6, 3], [1, 3, 6, 6], 6)
    assert e[0] < e[1] < e[2] and e[1] < e[3]


def test_bgbb_p_alive_against_the_simulated_latent_state(donation_fit):
    """P(alive at n | x, t_x, n) against the share of simulated customers with that history
    who are still alive."""
    params, _ = donation_fit
    sim = simulate.customers(params, 400_000, 6, seed=1)
    for x, t_x, tol in ((3, 6, 0.01), (3, 3, 0.02), (1, 1, 0.01)):
        mask = (sim.x == x) & (sim.t_x == t_x)
        assert mask.sum() > 2000
        assert sim.alive[mask].mean() == pytest.approx(float(bgbb.p_alive(params, x, t_x, 6)),
                                                       abs=tol)
    assert simulate.customers(params, 1, 0, seed=0).x[0] == 0


def test_bgbb_gradient_matches_finite_differences(donation_fit):
    params, _ = donation_fit
    x, t_x, n, w = DONATIONS.T
    p = np.array([1.1, 0.8, 0.7, 2.5])
    _, d = bgbb._log_lik_parts(*p, x, t_x, n, grad=True)
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-6
        up = bgbb._log_lik_parts(*(p + h), x, t_x, n, grad=False)[0]
        dn = bgbb._log_lik_parts(*(p - h), x, t_x, n, grad=False)[0]
        np.testing.assert_allclose(d[k], (up - dn) / 2e-6, rtol=1e-6, atol=1e-8)


def test_bgbb_bad_input_names_the_rule():
    with pytest.raises(DataValidationError, match="x_le_t_x.*1 row"):
        bgbb.fit([2, 1], [1, 1], [3, 3])
    with pytest.raises(DataValidationError, match="n_integer"):
        bgbb.fit([1, 1], [1, 1], [3.5, 3])
    with pytest.raises(ModelError, match="no customer has a purchase"):
        bgbb.fit([0, 0], [0, 0], [3, 3])


# ------------------------------------------------------------------------------ sBG
@pytest.mark.parametrize("segment", ["regular", "high end"])
def test_sbg_reproduces_the_published_retention_fits(segment):
    params, info = sbg.fit_survivors(SURVIVORS[segment])
    alpha, beta = PUBLISHED_SBG[segment]
    assert params.alpha == pytest.approx(alpha, abs=6e-4)
    assert params.beta == pytest.approx(beta, abs=6e-4)
    assert info.n_customers == 1000


def test_sbg_closed_forms():
    params = SBGParams(*PUBLISHED_SBG["high end"])
    t = np.arange(1, 40, dtype=float)
    pmf = sbg.churn_probability(params, t)
    surv = sbg.survival(params, t)
    # S(t) = 1 - sum_{i <= t} P(T = i); r_t = S(t) / S(t - 1) (eqs. 5, 6, 8)
    np.testing.assert_allclose(surv, 1 - np.cumsum(pmf), rtol=1e-12)
    np.testing.assert_allclose(sbg.retention_rate(params, t),
                               surv / np.concatenate([[1.0], surv[:-1]]), rtol=1e-12)
    # the published survivor curve within a few subscribers per 1,000 (fitted, not exact)
    np.testing.assert_allclose(1000 * sbg.survival(params, np.arange(8)),
                               SURVIVORS["high end"], atol=20)
    # DERL (Fader & Hardie 2010, eq. 6) against the direct discounted sum
    k = np.arange(0, 5000, dtype=float)
    for n in (0, 3):
        direct = (sbg.survival(params, n + 1 + k) / sbg.survival(params, n) / 1.1**k).sum()
        assert sbg.discounted_expected_residual_lifetime(params, n, 0.1) == pytest.approx(
            direct, rel=1e-10)
    # expected subscribed period ends = sum of survival ratios
    assert sbg.expected_alive_periods(params, 2, 3) == pytest.approx(
        sum(sbg.p_alive(params, 2, m) for m in (1, 2, 3)), rel=1e-12)


def test_sbg_recovers_simulated_parameters_within_standard_errors():
    true = SBGParams(0.7, 1.2)
    periods, churned = simulate.subscriptions(true, 4000, 8, seed=5)
    params, _ = sbg.fit(periods, churned)
    se = uncertainty.standard_errors(params, periods, churned)
    for name, value in (("alpha", 0.7), ("beta", 1.2)):
        assert abs(getattr(params, name) - value) < 4 * se.as_dict()[name], name


def test_sbg_bad_input_names_the_rule():
    with pytest.raises(DataValidationError, match="churned_periods_positive"):
        sbg.fit([0, 2], [1, 0])
    with pytest.raises(DataValidationError, match="survivors_nonincreasing"):
        sbg.fit_survivors([1000, 900, 950])
    with pytest.raises(ModelError, match="no subscriber churned"):
        sbg.fit([3, 4], [0, 0])


# ------------------------------------------------------------------------------ MBG/NBD
def test_mbgnbd_fit_on_cdnow_sample(cdnow):
    """The CDNOW-sample estimates of lifetimes' ModifiedBetaGeoFitter test suite."""
    params, info = mbgnbd.fit(*cdnow)
    np.testing.assert_allclose([params.r, params.alpha, params.a, params.b],
                               [0.525, 6.183, 0.891, 1.614], atol=6e-4)
    assert info.neg_log_likelihood == pytest.approx(
        -mbgnbd.log_likelihood(params, *cdnow).sum(), rel=1e-10)


def test_mbgnbd_gradient_matches_finite_differences(cdnow):
    x, t_x, T = cdnow
    obj = mbgnbd._make_objective(x, t_x / T.max(), T / T.max(), np.ones_like(x))
    theta = np.array([0.5, 0.2, 0.9, 1.5])
    _, grad = obj(theta)
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-6
        num = (obj(theta * np.exp(h))[0] - obj(theta * np.exp(-h))[0]) / 2e-6
        assert grad[k] == pytest.approx(num, rel=1e-6, abs=1e-9)


def test_mbgnbd_expected_purchases_new_against_quadrature():
    """E[X(t)] = E[(1 - p) / p * (1 - exp(-lambda p t))] over the gamma and beta mixing laws."""
    params = MBGNBDParams(0.5, 6.0, 1.8, 1.6)
    t = 30.0

    def inner(p):
        # E over lambda ~ Gamma(r, alpha) of 1 - exp(-lambda p t) = 1 - (alpha/(alpha+p t))^r
        return (1 - p) / p * (1 - (params.alpha / (params.alpha + p * t)) ** params.r) \
            * stats.beta.pdf(p, params.a, params.b)

    direct, _ = integrate.quad(inner, 0, 1, limit=200)
    assert float(mbgnbd.expected_purchases_new(params, t)) == pytest.approx(direct, rel=1e-8)


def test_mbgnbd_differs_from_bgnbd_where_it_should(cdnow):
    p_m, _ = mbgnbd.fit(*cdnow)
    # one-time buyers: P(alive) < 1 and falling with age (under BG/NBD they are all alive)
    alive = mbgnbd.p_alive(p_m, 0, 0, [5.0, 20.0, 60.0])
    assert np.all(alive < 1) and alive[0] > alive[1] > alive[2]
    p_b = BGNBDParams(p_m.r, p_m.alpha, p_m.a, p_m.b)
    assert np.all(bgnbd.p_alive(p_b, 0, 0, [5.0, 20.0]) == 1)
    # conditional expectation is P(alive) times the alive-case expectation: with the dropout
    # branch removed (T = t_x) P(alive) = 1 / (1 + a / (b + x))
    assert float(mbgnbd.p_alive(p_m, 2, 10, 10)) == pytest.approx(1 / (1 + p_m.a / (p_m.b + 2)))


def test_purchase_models_do_not_overflow_on_ten_thousand_purchases():
    x = np.array([10_000.0, 5_000.0, 0.0])
    t_x = np.array([365.0, 365.0, 0.0])
    T = np.array([365.0, 365.0, 365.0])
    for params in (MBGNBDParams(0.5, 6.0, 0.9, 1.6), BGNBDParams(0.24, 4.4, 0.79, 2.4)):
        e = expected_purchases(params, 30.0, x, t_x, T)
        assert np.all(np.isfinite(e)) and e[0] > e[1] > e[2]
        assert e[0] == pytest.approx(10_000 / 365 * 30, rel=0.1)  # rate x t, a little dropout
    n = np.array([20_000.0, 20_000.0])
    e = bgbb.expected_purchases(BGBBParams(1.2, 0.75, 0.66, 2.78), 30, [10_000, 100],
                                [19_999, 19_999], n)
    assert np.all(np.isfinite(e)) and e[0] == pytest.approx(15.0, rel=0.05)


# ------------------------------------------------------------------------------ simulation
@pytest.mark.parametrize("true,module", [
    (BGNBDParams(0.5, 4.0, 0.8, 2.5), bgnbd),
    (MBGNBDParams(0.5, 4.0, 0.8, 2.5), mbgnbd),
    (BGBBParams(1.2, 0.75, 0.66, 2.78), bgbb),
], ids=["bgnbd", "mbgnbd", "bgbb"])
def test_simulated_logs_give_back_their_parameters(true, module):
    n = 8000
    T = 10.0 if isinstance(true, BGBBParams) else np.repeat([26.0, 39.0, 52.0], [3000, 3000, 2000])
    sim = simulate.customers(true, n, T, seed=11)
    params, _ = module.fit(sim.x, sim.t_x, sim.T)
    se = uncertainty.standard_errors(params, sim.x, sim.t_x, sim.T).as_dict()
    for name, value in zip(se, (getattr(true, f) for f in se), strict=True):
        assert abs(getattr(params, name) - value) < 4 * se[name], (name, getattr(params, name))
    # P(alive) is calibrated against the latent state of the simulation
    alive = p_alive(params, sim.x, sim.t_x, sim.T)
    assert alive.mean() == pytest.approx(sim.alive.mean(), abs=0.02)


def test_pareto_simulation_alive_share_matches_p_alive():
    from ltvkit.btyd import pareto_nbd

    true = ParetoNBDParams(0.55, 10.6, 0.6, 11.7)
    sim = simulate.customers(true, 20000, 39.0, seed=3)
    assert pareto_nbd.p_alive(true, sim.x, sim.t_x, sim.T).mean() == pytest.approx(
        sim.alive.mean(), abs=0.01)


def test_transaction_log_summarises_to_the_customers():
    true = MBGNBDParams(0.5, 4.0, 0.8, 2.5)
    cid, ts = simulate.transactions(true, 300, 30.0, seed=4)
    sim = simulate.customers(true, 300, 30.0, seed=4)
    counts = np.bincount(cid, minlength=300) - 1
    np.testing.assert_array_equal(counts, sim.x)
    last = np.zeros(300)
    np.maximum.at(last, cid, ts)
    np.testing.assert_allclose(last, sim.t_x)
    assert np.all(np.diff(cid) >= 0)


def test_simulated_spend_has_the_gamma_gamma_mean():
    from ltvkit.btyd import GammaGammaParams

    params = GammaGammaParams(6.25, 3.74, 15.44)
    z = simulate.spend(params, np.full(200_000, 3.0), seed=0)
    # E[zbar] = p * gamma / (q - 1)
    assert z.mean() == pytest.approx(6.25 * 15.44 / 2.74, rel=0.02)
    with pytest.raises(DataValidationError, match="x_positive_integer"):
        simulate.spend(params, [0, 1])


# ------------------------------------------------------------------------------ uncertainty
def test_standard_errors_on_cdnow_match_lifetimes_documented_values(cdnow):
    """lifetimes' BetaGeoFitter summary on the CDNOW sample: se r 0.0126, alpha 0.378,
    a 0.186, b 0.705 (its README); the Hessian here is central differences."""
    params, _ = bgnbd.fit(*cdnow)
    se = uncertainty.standard_errors(params, *cdnow).as_dict()
    np.testing.assert_allclose([se["r"], se["alpha"], se["a"], se["b"]],
                               [0.0126, 0.378, 0.186, 0.705], rtol=0.01)
    draws = uncertainty.draw_params(uncertainty.standard_errors(params, *cdnow), 4000, seed=0)
    assert draws.shape == (4000, 4) and np.all(draws > 0)
    np.testing.assert_allclose(np.log(draws).std(axis=0),
                               np.array([se["r"], se["alpha"], se["a"], se["b"]])
                               / np.array([params.r, params.alpha, params.a, params.b]),
                               rtol=0.05)


def test_standard_errors_refuse_a_point_that_is_not_a_maximum(cdnow):
    with pytest.raises(ModelError, match="not positive definite"):
        uncertainty.standard_errors(BGNBDParams(5.0, 0.01, 50.0, 0.01), *cdnow)


# ------------------------------------------------------------------------------ Gamma-Gamma
def test_gamma_gamma_q_constraint():
    from ltvkit.btyd import GammaGammaParams, gamma_gamma

    rng = np.random.default_rng(0)
    x = rng.integers(1, 8, 4000).astype(float)
    # where the free optimum has q > 1 the constrained fit finds the same point
    z = simulate.spend(GammaGammaParams(6.25, 3.74, 15.44), x, seed=1)
    a, _ = gamma_gamma.fit(x, z)
    b, _ = gamma_gamma.fit(x, z, q_constraint=True)
    np.testing.assert_allclose([a.p, a.q, a.gamma], [b.p, b.q, b.gamma], rtol=1e-5)
    # where it has q < 1 (no finite mean spend), the constrained maximum is the boundary q = 1:
    # a clear error, and with a weak prior a fit with q > 1 and a finite mean
    z = simulate.spend(GammaGammaParams(3.0, 0.8, 10.0), x, seed=rng)
    free, _ = gamma_gamma.fit(x, z)
    assert free.q < 1 and gamma_gamma.population_mean_spend(free) == np.inf
    with pytest.raises(ModelError, match="boundary"):
        gamma_gamma.fit(x, z, q_constraint=True)
    bound, _ = gamma_gamma.fit(x, z, q_constraint=True, log_penalizer=0.01)
    assert bound.q > 1 and np.isfinite(gamma_gamma.population_mean_spend(bound))


def test_gamma_gamma_warns_when_spend_follows_frequency(recwarn):
    from ltvkit.btyd import gamma_gamma

    # Fader, Hardie & Lee (2005b) report a correlation of 0.11 on the CDNOW sample
    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cdnow" / \
        "cdnow_sample_summary_with_spend.csv"
    if path.exists():
        d = pd.read_csv(path)
        d = d[d.x > 0]
        assert gamma_gamma.spend_frequency_correlation(d.x, d.zbar) == pytest.approx(0.11,
                                                                                    abs=0.005)

    rng = np.random.default_rng(1)
    x = rng.integers(1, 10, 2000).astype(float)
    # spend grows with frequency
    z = x * simulate.spend(gamma_gamma.GammaGammaParams(6.25, 3.74, 15.44), x, seed=3)
    with pytest.warns(gamma_gamma.SpendCorrelationWarning,
                      match=r"spend_independent_of_frequency.*over 2000 customers"):
        gamma_gamma.fit(x, z)
    assert gamma_gamma.spend_frequency_correlation(x, z) > 0.4
    # independent spend: no warning
    z_ind = simulate.spend(gamma_gamma.GammaGammaParams(6.25, 3.74, 15.44), x, seed=2)
    gamma_gamma.fit(x, z_ind)
    assert not [w for w in recwarn if issubclass(w.category, gamma_gamma.SpendCorrelationWarning)]


# ------------------------------------------------------------------------------ time units
@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd", "pareto_nbd"])
def test_time_unit_changes_the_rate_parameters_only(name, cdnow_multi_horizon):
    from ltvkit.models import all_models

    ds = cdnow_multi_horizon
    idx = np.random.default_rng(5).permutation(len(ds))
    train, test = ds.subset(idx[:1500]), ds.subset(idx[1500:2000])
    cls = all_models()[name]
    fits = {u: cls(time_unit=u, n_draws=0).fit(train) for u in ("days", "weeks", "hours")}
    days, weeks, hours = (asdict_params(fits[u].purchase_params_) for u in ("days", "weeks",
                                                                             "hours"))
    rate = "beta" if name == "pareto_nbd" else None
    for key in days:
        scale = 7.0 if key in ("alpha", rate) else 1.0
        assert weeks[key] == pytest.approx(days[key] / scale, rel=1e-4), key
        h_scale = 1 / 24 if key in ("alpha", rate) else 1.0
        assert hours[key] == pytest.approx(days[key] / h_scale, rel=1e-4), key
    ref = fits["days"].predict(test).value
    for u in ("weeks", "hours"):
        np.testing.assert_allclose(fits[u].predict(test).value, ref, rtol=1e-4, atol=1e-8)
    with pytest.raises(Exception, match="time_unit must be one of"):
        cls(time_unit="fortnights", n_draws=0).fit(train)


def asdict_params(params) -> dict[str, float]:
    import dataclasses

    return dataclasses.asdict(params)
