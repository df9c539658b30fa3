"""Pareto/NBD on data whose likelihood has no interior maximum: frequent buyers who never drop
out (generated) and Olist (real). The fit returns the penalised limit with the reason in
``FitInfo.reason`` instead of failing."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.btyd import pareto_nbd


def frequent_buyers(n: int = 3000, seed: int = 0, dropout_rate: float | None = 0.02
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers who buy often (gamma-distributed Poisson rates, mean 0.5 a week) and all drop
    out at the same rate ``dropout_rate`` per week (None: never), in weeks."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(3.0, 1.0 / 6.0, n)
    T = rng.uniform(26.0, 78.0, n)
    life = (np.full(n, np.inf) if dropout_rate is None
            else rng.exponential(1.0 / dropout_rate, n))
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        times = np.cumsum(rng.exponential(1.0 / lam[i], 400))
        times = times[times < min(T[i], life[i])]
        x[i], t_x[i] = times.size, (times[-1] if times.size else 0.0)
    return x, t_x, T


def test_frequent_buyers_give_the_no_heterogeneity_limit_with_a_reason():
    x, t_x, T = frequent_buyers()
    params, info = pareto_nbd.fit(x, t_x, T)
    assert "ridge" in info.reason and "no heterogeneity" in info.reason, info.reason
    assert info.log_penalizer in pareto_nbd.RIDGE_LOG_PENALIZERS
    # On the ridge: a large dropout shape at about the generating mean dropout rate.
    assert params.s > 10
    assert params.s / params.beta == pytest.approx(0.02, rel=0.1)
    # The purchase-rate gamma is found: mean rate r / alpha near the generating 0.5 per week.
    assert params.r / params.alpha == pytest.approx(0.5, rel=0.1)
    # A stronger penalty pulls the fit back from the limit and loses likelihood: the returned
    # fit is the better approximation of the supremum.
    _, stronger = pareto_nbd.fit(x, t_x, T, log_penalizer=info.log_penalizer * 100)
    assert -stronger.neg_log_likelihood < -info.neg_log_likelihood
    alive = pareto_nbd.p_alive(params, x, t_x, T)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))


def test_buyers_who_never_drop_out_give_the_no_dropout_limit_with_a_reason():
    x, t_x, T = frequent_buyers(seed=2, dropout_rate=None)
    params, info = pareto_nbd.fit(x, t_x, T)
    assert "no visible dropout" in info.reason, info.reason
    assert params.s / params.beta * T.max() < 0.01
    assert pareto_nbd.p_alive(params, x, t_x, T).min() > 0.5


def test_data_with_an_interior_maximum_keep_the_plain_fit():
    rng = np.random.default_rng(1)
    n = 3000
    lam = rng.gamma(1.0, 1.0, n)
    mu = rng.gamma(1.0, 10.0, n)  # heterogeneous dropout
    T = np.full(n, 30.0)
    life = rng.exponential(1.0 / mu)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        times = np.cumsum(rng.exponential(1.0 / lam[i], 200))
        times = times[times < min(T[i], life[i])]
        x[i], t_x[i] = times.size, (times[-1] if times.size else 0.0)
    params, info = pareto_nbd.fit(x, t_x, T)
    assert info.reason == "" and info.log_penalizer == 0.0
    assert params.s < 100


def test_olist_fits_with_the_ridge_reason(shared_data):
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset

    public = get_dataset("olist")
    ds = build_dataset(public.load_log(shared_data), public.task)
    x = ds.target_feature("frequency").astype(float)
    t_x = ds.target_feature("recency_days").astype(float) / 7.0
    T = ds.target_feature("T_days").astype(float) / 7.0
    params, info = pareto_nbd.fit(x, t_x, T)
    assert "ridge" in info.reason and "no heterogeneity" in info.reason, info.reason
    assert params.s > 10
    _, stronger = pareto_nbd.fit(x, t_x, T, log_penalizer=info.log_penalizer * 100)
    assert -stronger.neg_log_likelihood < -info.neg_log_likelihood
    ll = float(pareto_nbd.log_likelihood(params, x, t_x, T).sum())
    assert ll == pytest.approx(-info.neg_log_likelihood, rel=1e-9)
    assert np.all(np.isfinite(pareto_nbd.expected_purchases(params, 52.0, x, t_x, T)))
