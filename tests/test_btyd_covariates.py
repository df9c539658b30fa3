"""BG/NBD with time-invariant covariates (ltvkit.btyd.covariates): effects used to simulate a
customer base are recovered, and no covariates means the plain BG/NBD."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.btyd import BGNBDParams, bgnbd, covariates, simulate
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
