"""BG/NBD and Pareto/NBD with time-invariant covariates (ltvkit.btyd.covariates,
covariates_pnbd): effects used to simulate a customer base are recovered, no covariates means the
plain model, and the Hessian standard errors match the plain ones and cover the true effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.btyd import (
    BGNBDParams,
    ParetoNBDParams,
    bgnbd,
    covariates,
    covariates_pnbd,
    pareto_nbd,
    simulate,
    uncertainty,
)
from ltvkit.errors import DataValidationError


def test_covariate_effects_are_recovered_from_simulated_logs():
    base = dict(r=0.5, alpha=4.0, a=0.8, b=2.5)
    g1, g2, g3 = 0.7, -0.5, 0.4  # group 1 buys exp(0.7) times faster and drops out differently
    n = 8000
    T = np.repeat([26.0, 39.0, 52.0], [3000, 3000, 2000])
    g0 = simulate.customers(BGNBDParams(**base), n, T, seed=1)
    g1_params = BGNBDParams(base["r"], base["alpha"] * np.exp(-g1), base["a"] * np.exp(g2),
                            base["b"] * np.exp(g3))
    grp1 = simulate.customers(g1_params, n, T, seed=2)
    x = np.concatenate([g0.x, grp1.x])
    t_x = np.concatenate([g0.t_x, grp1.t_x])
    age = np.concatenate([g0.T, grp1.T])
    z = np.repeat([0.0, 1.0], n)[:, None]
    params, nll = covariates.fit_bgnbd(x, t_x, age, z)
    assert params.gamma_purchase[0] == pytest.approx(g1, abs=0.12)
    assert params.gamma_dropout_a[0] == pytest.approx(g2, abs=0.35)
    assert params.gamma_dropout_b[0] == pytest.approx(g3, abs=0.45)
    assert params.r == pytest.approx(0.5, rel=0.15)
    # the fit is at least as good as one BG/NBD for everyone
    _, info = bgnbd.fit(x, t_x, age)
    assert nll < info.neg_log_likelihood - 50
    # predictions use each customer's parameters
    alive = covariates.p_alive(params, x, t_x, age, z)
    assert alive.shape == x.shape and np.all((alive >= 0) & (alive <= 1))
    e = covariates.expected_purchases(params, 10.0, 0, 0, 39.0, np.array([[0.0], [1.0]]))
    assert e[1] > e[0]


def test_zero_covariates_give_the_plain_bgnbd():
    sim = simulate.customers(BGNBDParams(0.5, 4.0, 0.8, 2.5), 3000, 39.0, seed=4)
    plain, info = bgnbd.fit(sim.x, sim.t_x, sim.T)
    cov, nll = covariates.fit_bgnbd(sim.x, sim.t_x, sim.T, np.zeros((3000, 1)))
    np.testing.assert_allclose([cov.r, cov.alpha0, cov.a0, cov.b0],
                               [plain.r, plain.alpha, plain.a, plain.b], rtol=2e-3)
    assert nll == pytest.approx(info.neg_log_likelihood, rel=1e-6)
    with pytest.raises(DataValidationError, match="z_purchase.*same_shape"):
        covariates.fit_bgnbd(sim.x, sim.t_x, sim.T, np.zeros((10, 1)))


# --- Pareto/NBD with covariates (ltvkit.btyd.covariates_pnbd) --------------------------------

def _cdnow_summary():
    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cdnow" \
        / "cdnow_sample_summary.csv"
    if not path.exists():
        pytest.skip(f"CDNOW sample {path} is missing")
    df = pd.read_csv(path)
    return tuple(df[c].to_numpy(float) for c in ("frequency", "recency", "T"))


@pytest.mark.parametrize("theta", [(0.55, 10.6, 0.61, 11.7), (0.5, 50.0, 0.6, 3.0),
                                   (0.5, 2.0, 0.6, 60.0)])
def test_pareto_nbd_row_loglik_at_common_parameters_is_the_plain_one(theta):
    x, t_x, T = _cdnow_summary()
    r, alpha, s, beta = theta
    plain = pareto_nbd.log_likelihood(ParetoNBDParams(*theta), x, t_x, T)
    # per-customer arrays, with both Euler transformations in one call
    alphas = np.full(x.size, alpha)
    alphas[::2] = beta / 2.0
    per_row = covariates_pnbd.row_loglik(r, alphas, s, beta, x, t_x, T)
    np.testing.assert_allclose(per_row[1::2], plain[1::2], rtol=1e-12)
    other = pareto_nbd.log_likelihood(ParetoNBDParams(r, beta / 2.0, s, beta), x, t_x, T)
    np.testing.assert_allclose(per_row[::2], other[::2], rtol=1e-12)


def test_pareto_nbd_zero_covariates_give_the_plain_fit_on_cdnow():
    x, t_x, T = _cdnow_summary()
    plain, info = pareto_nbd.fit(x, t_x, T)
    cov, nll = covariates_pnbd.fit_pareto_nbd(x, t_x, T, np.zeros((x.size, 1)))
    np.testing.assert_allclose([cov.r, cov.alpha0, cov.s, cov.beta0],
                               [plain.r, plain.alpha, plain.s, plain.beta], rtol=1e-4)
    assert cov.gamma_purchase == (0.0,) and cov.gamma_dropout == (0.0,)
    assert nll == pytest.approx(info.neg_log_likelihood, rel=1e-9)
    z = np.zeros((x.size, 1))
    np.testing.assert_allclose(covariates_pnbd.p_alive_pareto_nbd(cov, x, t_x, T, z),
                               pareto_nbd.p_alive(plain, x, t_x, T), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(
        covariates_pnbd.expected_purchases_pareto_nbd(cov, 39.0, x, t_x, T, z),
        pareto_nbd.expected_purchases(plain, 39.0, x, t_x, T), rtol=1e-3, atol=1e-6)
    with pytest.raises(DataValidationError, match="z_dropout.*same_shape"):
        covariates_pnbd.fit_pareto_nbd(x, t_x, T, z, np.zeros((10, 1)))


def test_pareto_nbd_covariate_effects_are_recovered_from_simulated_logs():
    # group 1 buys exp(0.7) times faster and drops out exp(-0.5) times as fast (beta0 exp(0.5))
    g1, g2 = 0.7, -0.5
    n = 3000
    T = np.repeat([26.0, 39.0, 52.0], 1000)
    grp0 = simulate.customers(ParetoNBDParams(0.5, 4.0, 0.6, 30.0), n, T, seed=1)
    grp1 = simulate.customers(ParetoNBDParams(0.5, 4.0 * np.exp(-g1), 0.6, 30.0 * np.exp(-g2)),
                              n, T, seed=2)
    x = np.concatenate([grp0.x, grp1.x])
    t_x = np.concatenate([grp0.t_x, grp1.t_x])
    age = np.concatenate([grp0.T, grp1.T])
    z = np.repeat([0.0, 1.0], n)[:, None]
    params, nll = covariates_pnbd.fit_pareto_nbd(x, t_x, age, z)
    # tolerances: over 4 seeds at twice this size the estimates spread by about 0.03 (purchase)
    # and 0.07 (dropout), so these are about 3 standard deviations at this size
    assert params.gamma_purchase[0] == pytest.approx(g1, abs=0.12)
    assert params.gamma_dropout[0] == pytest.approx(g2, abs=0.3)
    assert params.gamma_dropout[0] < 0 < params.gamma_purchase[0]
    assert params.r == pytest.approx(0.5, rel=0.15)
    _, info = pareto_nbd.fit(x, t_x, age)
    assert nll < info.neg_log_likelihood - 50
    alive = covariates_pnbd.p_alive_pareto_nbd(params, x, t_x, age, z)
    assert alive.shape == x.shape and np.all((alive >= 0) & (alive <= 1))
    e = covariates_pnbd.expected_purchases_pareto_nbd(params, 10.0, 0, 0, 39.0,
                                                      np.array([[0.0], [1.0]]))
    assert e[1] > e[0] > 0


# --- Hessian standard errors of the covariate fits -------------------------------------------

def test_standard_errors_without_covariates_are_the_plain_models():
    """No covariate columns: the covariate fits are the plain BG/NBD and Pareto/NBD, and so are
    their Hessian standard errors (uncertainty.standard_errors) on the CDNOW sample."""
    x, t_x, T = _cdnow_summary()
    none = np.zeros((x.size, 0))
    plain, _ = bgnbd.fit(x, t_x, T)
    fitted, _ = covariates.fit_bgnbd(x, t_x, T, none)
    got = covariates.standard_errors_bgnbd(fitted, x, t_x, T, none)
    want = uncertainty.standard_errors(plain, x, t_x, T)
    assert got.names == ("r", "alpha0", "a0", "b0")
    np.testing.assert_allclose(got.se, want.se, rtol=1e-4)
    plain, _ = pareto_nbd.fit(x, t_x, T)
    fitted, _ = covariates_pnbd.fit_pareto_nbd(x, t_x, T, none)
    got = covariates_pnbd.standard_errors_pareto_nbd(fitted, x, t_x, T, none)
    want = uncertainty.standard_errors(plain, x, t_x, T)
    np.testing.assert_allclose(got.se, want.se, rtol=1e-4)
    assert set(got.as_dict()) == {"r", "alpha0", "s", "beta0"}


def _two_groups(make, true0, true1, n, seed):
    T = np.repeat([26.0, 39.0, 52.0], [n - 2 * (n // 3), n // 3, n // 3])
    g0 = simulate.customers(make(*true0), n, T, seed=seed)
    g1 = simulate.customers(make(*true1), n, T, seed=seed + 1)
    cols = [np.concatenate([getattr(g0, c), getattr(g1, c)]) for c in ("x", "t_x", "T")]
    return cols, np.repeat([0.0, 1.0], n)[:, None]


def test_bgnbd_covariate_standard_errors_cover_the_true_effects():
    """Over 5 simulated bases the true (gamma1, gamma2, gamma3) lie within 3 SE of the
    estimates in at least 4 (all 5 when written: |z| <= 2.8)."""
    g = np.array([0.7, -0.5, 0.4])
    hits = []
    for seed in range(5):
        (x, t_x, T), z = _two_groups(
            BGNBDParams, (0.5, 4.0, 0.8, 2.5),
            (0.5, 4.0 * np.exp(-g[0]), 0.8 * np.exp(g[1]), 2.5 * np.exp(g[2])), 2000,
            10 * seed + 1)
        params, _ = covariates.fit_bgnbd(x, t_x, T, z)
        u = covariates.standard_errors_bgnbd(params, x, t_x, T, z)
        assert u.names[4:] == ("gamma_purchase[0]", "gamma_dropout_a[0]", "gamma_dropout_b[0]")
        assert np.all(np.isfinite(u.se)) and np.all(u.se > 0)
        np.testing.assert_allclose(u.se, np.sqrt(np.diag(u.cov)) * np.r_[u.estimate[:4],
                                                                        np.ones(3)])
        hits.append(np.abs(u.estimate[4:] - g) < 3 * u.se[4:])
    assert np.sum(hits, axis=0).min() >= 4, hits


def test_pareto_nbd_covariate_standard_errors_cover_the_true_effects():
    """As for the BG/NBD, over 3 simulated bases of 2,000 (all within 3 SE when written:
    |z| <= 0.9)."""
    g = np.array([0.7, -0.5])
    hits = []
    for seed in range(3):
        (x, t_x, T), z = _two_groups(
            ParetoNBDParams, (0.5, 4.0, 0.6, 30.0),
            (0.5, 4.0 * np.exp(-g[0]), 0.6, 30.0 * np.exp(-g[1])), 1000, 10 * seed + 3)
        params, _ = covariates_pnbd.fit_pareto_nbd(x, t_x, T, z)
        u = covariates_pnbd.standard_errors_pareto_nbd(params, x, t_x, T, z)
        assert np.all(np.isfinite(u.se)) and np.all(u.se > 0)
        hits.append(np.abs(u.estimate[4:] - g) < 3 * u.se[4:])
    assert np.sum(hits, axis=0).min() >= 2, hits
