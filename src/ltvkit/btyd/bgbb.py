"""BG/BB model (beta-geometric / beta-Bernoulli) of discrete-time noncontractual purchasing.

Fader, Hardie & Shang (2010) [1]_; equation numbers below are that paper's. Each period is one
purchase opportunity. While active, a customer buys in a period with probability
``p ~ Beta(alpha, beta)``; at the start of every period after the first they drop out with
probability ``theta ~ Beta(gamma, delta)``. Data per customer: ``x`` purchases in the ``n``
opportunities after the first one, ``t_x`` the opportunity of the last of them (0 if ``x = 0``).

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., Shang, J. (2010). "Customer-Base Analysis in a
   Discrete-Time Noncontractual Setting." Marketing Science 29(6), 1086-1108.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, gammaln

from ltvkit.btyd._fit import (
    DEFAULT_MAXITER,
    FitInfo,
    FloatArray,
    _fail,
    check_rfm,
    check_t,
    check_weights,
    compress_rows,
    maximize_likelihood,
    set_positive_params,
)
from ltvkit.errors import ModelError

__all__ = [
    "BGBBParams",
    "check_data",
    "expected_purchases",
    "expected_purchases_new",
    "fit",
    "log_likelihood",
    "p_alive",
    "probability_no_purchase",
    "probability_of_n_purchases_up_to_time",
]

_NAMES = ("alpha", "beta", "gamma", "delta")


@dataclass(frozen=True)
class BGBBParams:
    """Parameters of the BG/BB model.

    Attributes
    ----------
    alpha, beta : float
        Beta distribution of the per-opportunity purchase probability while active.
    gamma, delta : float
        Beta distribution of the per-opportunity drop-out probability.
    """

    alpha: float
    beta: float
    gamma: float
    delta: float

    def __post_init__(self) -> None:
        set_positive_params(self, _NAMES, "BG/BB")


def check_data(x: ArrayLike, t_x: ArrayLike, n: ArrayLike
               ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (x, t_x, n): the rules of :func:`ltvkit.btyd._fit.check_rfm` (with ``n`` as the
    age) plus integer ``t_x`` and ``n`` and ``x <= t_x`` (one purchase per opportunity)."""
    xa, ta, na = check_rfm(x, t_x, n)
    for arr, name in ((ta, "t_x"), (na, "n")):
        bad = arr != np.round(arr)
        if bad.any():
            raise _fail(f"{name} must be a whole number of opportunities", name,
                        f"{name}_integer", int(bad.sum()))
    bad = xa > ta
    if bad.any():
        raise _fail("x must be <= t_x (at most one purchase per opportunity)", "x",
                    "x_le_t_x", int(bad.sum()))
    return xa, ta, na


def _log_lik_parts(alpha: float, beta: float, gamma: float, delta: float, x: FloatArray,
                   t_x: FloatArray, n: FloatArray, *, grad: bool):
    """Per-row log-likelihood of eq. (5) (and its gradient w.r.t. the parameters).

    The sum over the periods of dropout, ``sum_{j=t_x}^{n-1} B(alpha+x, beta+j-x) B(gamma+1,
    delta+j)``, is one reverse cumulative sum per distinct ``x`` over ``j``, so rows that share
    ``x`` share the work.
    """
    ux, inv = np.unique(x, return_inverse=True)
    n_max = int(n.max()) if n.size else 0
    j = np.arange(n_max + 1, dtype=np.float64)[None, :]
    X = ux[:, None]
    valid = j >= X
    jj = np.where(valid, j, X)
    g = betaln(alpha + X, beta + jj - X) + betaln(gamma + 1.0, delta + jj)
    ref = g[np.arange(ux.size), ux.astype(np.intp).clip(max=n_max)][:, None]
    e = np.where(valid, np.exp(g - ref), 0.0)

    def tail_sum(v: FloatArray) -> FloatArray:
        # R[:, m] = sum_{j >= m} v[:, j]; row value = R[x, t_x] - R[x, n]
        r = np.cumsum(v[:, ::-1], axis=1)[:, ::-1]
        r = np.concatenate([r, np.zeros((r.shape[0], 1))], axis=1)
        ti, ni = t_x.astype(np.intp), n.astype(np.intp)
        return r[inv, ti] - r[inv, ni]

    s = np.maximum(tail_sum(e), 0.0)
    with np.errstate(divide="ignore"):
        log_s = ref[inv, 0] + np.log(s)
    h = betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)
    norm = betaln(alpha, beta) + betaln(gamma, delta)
    ll = np.logaddexp(h, log_s) - norm
    if not grad:
        return ll, None
    # d log L / d param = softmax-weighted derivatives of the two branches, minus the normaliser
    with np.errstate(invalid="ignore", divide="ignore"):
        w_h = np.exp(h - np.logaddexp(h, log_s))
    w_s = 1.0 - w_h
    ab_n = digamma(alpha + beta + n)
    gd_n = digamma(gamma + delta + n)
    dh = np.stack([digamma(alpha + x) - ab_n, digamma(beta + n - x) - ab_n,
                   digamma(gamma) - gd_n, digamma(delta + n) - gd_n])
    abj = digamma(alpha + beta + jj)
    gdj = digamma(gamma + delta + 1.0 + jj)
    dg = [digamma(alpha + X) - abj, digamma(beta + jj - X) - abj,
          digamma(gamma + 1.0) - gdj, digamma(delta + jj) - gdj]
    ds = np.empty_like(dh)
    safe = np.where(s > 0, s, 1.0)
    for k in range(4):
        ds[k] = np.where(s > 0, tail_sum(e * np.where(valid, dg[k], 0.0)) / safe, 0.0)
    dnorm = np.array([digamma(alpha) - digamma(alpha + beta), digamma(beta) - digamma(alpha + beta),
                      digamma(gamma) - digamma(gamma + delta),
                      digamma(delta) - digamma(gamma + delta)])
    d = w_h * dh + w_s * ds - dnorm[:, None]
    return ll, d


def log_likelihood(params: BGBBParams, x: ArrayLike, t_x: ArrayLike, n: ArrayLike) -> FloatArray:
    """Log-likelihood of each customer's (x, t_x, n), eq. (5) of Fader, Hardie & Shang (2010)."""
    xa, ta, na = check_data(x, t_x, n)
    shape = xa.shape
    ll, _ = _log_lik_parts(params.alpha, params.beta, params.gamma, params.delta,
                           xa.ravel(), ta.ravel(), na.ravel(), grad=False)
    return ll.reshape(shape)


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    n: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: BGBBParams | None = None,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    maxiter: int = DEFAULT_MAXITER,
) -> tuple[BGBBParams, FitInfo]:
    """Fit the BG/BB model by maximum likelihood, eq. (5) of Fader, Hardie & Shang (2010).

    Parameters
    ----------
    x, t_x, n : array_like
        Purchases, opportunity of the last purchase and number of opportunities per customer.
    weights : array_like, optional
        Number of customers each row stands for (the paper's donation data come as such a table).
    initial : BGBBParams, optional
        Starting point (default all 1).
    penalizer, log_penalizer, maxiter
        As in :func:`ltvkit.btyd.bgnbd.fit` (no time rescaling: the parameters have no unit).

    Raises
    ------
    DataValidationError
        If the data break the rules of :func:`check_data`.
    ModelError
        If no customer made a purchase, or the optimiser does not converge.
    """
    xa, ta, na = (np.ravel(v) for v in check_data(x, t_x, n))
    w = check_weights(weights, xa.size)
    (xu, tu, nu), wu = compress_rows([xa, ta, na], w)
    if not np.any(xu > 0):
        raise ModelError("BG/BB fit: no customer has a purchase (x > 0); there is nothing to fit")
    total = float(wu.sum())

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        ll, d = _log_lik_parts(*theta, xu, tu, nu, grad=True)
        return -float(wu @ ll) / total, -(d @ wu) * theta / total

    start = np.ones(4) if initial is None else np.array([getattr(initial, k) for k in _NAMES])
    theta, info = maximize_likelihood(objective, start, names=_NAMES, total_weight=total,
                                      n_unique_rows=xu.size, penalizer=penalizer,
                                      log_penalizer=log_penalizer, maxiter=maxiter, model="BG/BB")
    return BGBBParams(*theta), info


def _log_alive_through(params: BGBBParams, n: FloatArray) -> FloatArray:
    """log P(still active at opportunity n) = log B(gamma, delta + n) / B(gamma, delta)."""
    return betaln(params.gamma, params.delta + n) - betaln(params.gamma, params.delta)


def p_alive(params: BGBBParams, x: ArrayLike, t_x: ArrayLike, n: ArrayLike,
            m_periods: ArrayLike = 0) -> FloatArray:
    """P(alive at opportunity n + m | x, t_x, n); ``m_periods = 1`` is eq. (11) of FHS (2010).

    ``B(alpha + x, beta + n - x) / B(alpha, beta) * B(gamma, delta + n + m) / B(gamma, delta)
    / L(alpha, beta, gamma, delta | x, t_x, n)``.
    """
    m = check_t(m_periods)
    xa, ta, na = check_data(x, t_x, n)
    m, xa, ta, na = np.broadcast_arrays(m, xa, ta, na)
    shape = xa.shape
    ll = log_likelihood(params, xa.ravel(), ta.ravel(), na.ravel()).reshape(shape)
    p, q = params.alpha, params.beta
    return np.exp(betaln(p + xa, q + na - xa) - betaln(p, q)
                  + _log_alive_through(params, na + m) - ll)


def expected_purchases(params: BGBBParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                       n: ArrayLike) -> FloatArray:
    """Expected purchases in the next ``t`` opportunities, eq. (13) of FHS (2010).

    ``E[X(n, n + n*) | x, t_x, n] = 1 / L * B(alpha + x + 1, beta + n - x) / B(alpha, beta)
    * delta / (gamma - 1) * Gamma(gamma + delta) / Gamma(1 + delta)
    * [Gamma(1 + delta + n) / Gamma(gamma + delta + n)
    - Gamma(1 + delta + n + n*) / Gamma(gamma + delta + n + n*)]``. Continuous in ``n*``, so a
    fractional number of opportunities interpolates. NaN at ``gamma = 1`` exactly (removable).
    ``t`` broadcasts against the customer arrays.
    """
    tt = check_t(t)
    xa, ta, na = check_data(x, t_x, n)
    tt, xa, ta, na = np.broadcast_arrays(tt, xa, ta, na)
    shape = xa.shape
    a, b, g, d = params.alpha, params.beta, params.gamma, params.delta
    ll = log_likelihood(params, xa.ravel(), ta.ravel(), na.ravel()).reshape(shape)
    log_c = (betaln(a + xa + 1.0, b + na - xa) - betaln(a, b) - ll
             + np.log(d) + gammaln(g + d) - gammaln(1.0 + d))
    l4 = gammaln(1.0 + d + na) - gammaln(g + d + na)
    l5 = gammaln(1.0 + d + na + tt) - gammaln(g + d + na + tt)
    return np.exp(log_c + l4) * -np.expm1(l5 - l4) / (g - 1.0)


def expected_purchases_new(params: BGBBParams, n: ArrayLike) -> FloatArray:
    """Expected purchases of a new customer in the first ``n`` opportunities, eq. (7) of FHS.

    ``E[X(n)] = alpha / (alpha + beta) * delta / (gamma - 1)
    * [1 - Gamma(gamma + delta) / Gamma(gamma + delta + n) * Gamma(1 + delta + n) / Gamma(1 + delta)]``.
    """
    na = check_t(n)
    a, b, g, d = params.alpha, params.beta, params.gamma, params.delta
    lg = gammaln(g + d) - gammaln(g + d + na) + gammaln(1.0 + d + na) - gammaln(1.0 + d)
    return a / (a + b) * d / (g - 1.0) * -np.expm1(lg)


def probability_of_n_purchases_up_to_time(params: BGBBParams, n: ArrayLike,
                                          x: ArrayLike) -> FloatArray:
    """P(X(n) = x): probability that a new customer buys in exactly ``x`` of the first ``n``
    opportunities, eq. (8) of FHS (2010).

    ``C(n, x) B(alpha + x, beta + n - x) / B(alpha, beta) * B(gamma, delta + n) / B(gamma, delta)
    + sum_{i=x}^{n-1} C(i, x) B(alpha + x, beta + i - x) / B(alpha, beta)
    * B(gamma + 1, delta + i) / B(gamma, delta)``.
    """
    na, xa = np.broadcast_arrays(check_t(n), check_t(x))
    a, b, g, d = params.alpha, params.beta, params.gamma, params.delta
    out = np.zeros(na.shape)
    for idx in np.ndindex(na.shape):
        nn, xx = float(na[idx]), float(xa[idx])
        if xx > nn or xx != round(xx) or nn != round(nn):
            continue
        m = np.concatenate([[nn], np.arange(xx, nn)])
        log_comb = gammaln(m + 1.0) - gammaln(xx + 1.0) - gammaln(m - xx + 1.0)
        # the first term: still alive after n opportunities; the others: dropped out after i
        logs = log_comb + betaln(a + xx, b + m - xx) - betaln(a, b) - betaln(g, d)
        logs[0] += betaln(g, d + nn)
        logs[1:] += betaln(g + 1.0, d + m[1:])
        out[idx] = np.exp(np.logaddexp.reduce(logs))
    return out


def probability_no_purchase(params: BGBBParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                            n: ArrayLike) -> FloatArray:
    """P(no purchase in the next ``t`` opportunities | x, t_x, n) (``t`` floored to whole
    opportunities; one value per customer for a scalar ``t``).

    A customer alive at n (probability :func:`p_alive`) has the posterior ``p ~ Beta(alpha + x,
    beta + n - x)``, ``theta ~ Beta(gamma, delta + n)``; they survive exactly k of the next t
    opportunities with probability ``E[(1 - theta)^k theta]`` (``E[(1 - theta)^t]`` for k = t)
    and then buy in none of them with probability ``E[(1 - p)^k]``.
    """
    m = float(np.floor(float(check_t(t))))
    xa, ta, na = check_data(x, t_x, n)
    alive = p_alive(params, xa, ta, na)
    a1, b1 = params.alpha + xa, params.beta + na - xa
    g, d1 = params.gamma, params.delta + na
    k = np.arange(m + 1.0).reshape((-1,) + (1,) * xa.ndim)
    log_nobuy = betaln(a1, b1 + k) - betaln(a1, b1)
    log_exact = np.where(k < m, betaln(g + 1.0, d1 + k), betaln(g, d1 + k)) - betaln(g, d1)
    return 1.0 - alive + alive * np.exp(log_exact + log_nobuy).sum(axis=0)
