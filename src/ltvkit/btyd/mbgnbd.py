"""MBG/NBD model: the BG/NBD in which a customer may also drop out right after the first purchase.

Batislam, Denizel & Filiztekin (2007) [1]_. While active, a customer buys at Poisson rate
``lambda ~ Gamma(r, alpha)``; at time 0 and after every repeat purchase they drop out with
probability ``p ~ Beta(a, b)``. Unlike the BG/NBD of Fader, Hardie & Lee (2005) [2]_, a customer
with no repeat purchase is not certainly alive, so P(alive) and the expected purchases of one-time
buyers fall with the time since their first purchase. Data per customer: ``x`` repeat purchases,
the time ``t_x`` of the last one and the age ``T``, all measured from the first purchase.

The likelihood is

``L = B(a, b + x + 1) / B(a, b) * Gamma(r + x) alpha^r / Gamma(r)
* [(alpha + T)^-(r + x) + a / (b + x) * (alpha + t_x)^-(r + x)]``

written below in the log-sum-exp form; the predictions follow the same steps as the BG/NBD
derivation with ``x + 1`` dropout opportunities in place of ``x``.

References
----------
.. [1] Batislam, E. P., Denizel, M., Filiztekin, A. (2007). "Empirical validation and comparison
   of models for customer base analysis." International Journal of Research in Marketing 24(3),
   201-209.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "Counting Your Customers the Easy
   Way: An Alternative to the Pareto/NBD Model." Marketing Science 24(2), 275-284.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from ltvkit.btyd._fit import (
    DEFAULT_MAXITER,
    FitInfo,
    FloatArray,
    check_rfm,
    check_t,
    fit_purchase_model,
    set_positive_params,
)

__all__ = [
    "MBGNBDParams",
    "expected_purchases",
    "expected_purchases_new",
    "fit",
    "log_likelihood",
    "p_alive",
]

_NAMES = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class MBGNBDParams:
    """Parameters of the MBG/NBD model.

    Attributes
    ----------
    r, alpha : float
        Shape and rate of the gamma distribution of purchase rates (``alpha`` in the time unit of
        the data).
    a, b : float
        Parameters of the beta distribution of the drop-out probability at time 0 and after each
        repeat purchase.
    """

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        set_positive_params(self, _NAMES, "MBG/NBD")


def _row_loglik(r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray,
                T: FloatArray) -> FloatArray:
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x + 1.0) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return a1 + a2 + a3 + np.logaddexp(0.0, odds)


def log_likelihood(params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike,
                   T: ArrayLike) -> FloatArray:
    """Log-likelihood of each customer's (x, t_x, T) under the MBG/NBD (Batislam et al. 2007)."""
    xa, ta, Ta = check_rfm(x, t_x, T)
    return _row_loglik(params.r, params.alpha, params.a, params.b, xa, ta, Ta)


def _make_objective(x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray):
    """Mean negative log-likelihood and its gradient with respect to the log-parameters."""
    total = float(w.sum())
    ux, inv = np.unique(x, return_inverse=True)
    wx = np.bincount(inv, weights=w, minlength=ux.size)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = theta
        # terms in x alone, once per distinct x
        ll = float(wx @ (gammaln(r + ux) + gammaln(b + ux + 1.0) - gammaln(a + b + ux + 1.0)))
        ll += total * (r * np.log(alpha) - gammaln(r) + gammaln(a + b) - gammaln(b))
        psi_ab = digamma(a + b)
        psi_abx = float(wx @ digamma(a + b + ux + 1.0))
        d_r = float(wx @ digamma(r + ux)) + total * (np.log(alpha) - digamma(r))
        d_alpha = total * r / alpha
        d_a = total * psi_ab - psi_abx
        d_b = total * (psi_ab - digamma(b)) + float(wx @ digamma(b + ux + 1.0)) - psi_abx
        lT = np.log(alpha + T)
        lt = np.log(alpha + t_x)
        rx = r + x
        diff = np.log(a) - np.log(b + x) + rx * (lT - lt)
        ll += float(w @ (-rx * lT + np.logaddexp(0.0, diff)))
        pi4 = expit(diff)
        pi3 = 1.0 - pi4
        wpi4 = w * pi4
        d_r -= float(w @ (pi3 * lT + pi4 * lt))
        d_alpha -= float(w @ (rx * (pi3 / (alpha + T) + pi4 / (alpha + t_x))))
        d_a += float(wpi4.sum()) / a
        d_b -= float(wpi4 @ (1.0 / (b + x)))
        grad = -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b]) / total
        return -ll / total, grad

    return objective


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: MBGNBDParams | None = None,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    maxiter: int = DEFAULT_MAXITER,
) -> tuple[MBGNBDParams, FitInfo]:
    """Fit the MBG/NBD model by maximum likelihood.

    Parameters and errors as in :func:`ltvkit.btyd.bgnbd.fit` (same data, same penalties, same
    optimiser).
    """
    theta, info = fit_purchase_model(
        _make_objective, x, t_x, T, weights=weights,
        initial=None if initial is None else [getattr(initial, n) for n in _NAMES], names=_NAMES,
        rate_params=(1,), model="MBG/NBD", scale_note="alpha in units of the largest age",
        penalizer=penalizer, log_penalizer=log_penalizer, maxiter=maxiter)
    r, alpha, a, b = theta
    return MBGNBDParams(r=r, alpha=alpha, a=a, b=b), info


def _log_odds_dead(params: MBGNBDParams, x: FloatArray, t_x: FloatArray,
                   T: FloatArray) -> FloatArray:
    """log of a/(b+x) * ((alpha+T)/(alpha+t_x))^(r+x), i.e. log P(dead)/P(alive)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def p_alive(params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability that a customer is still active at T.

    ``P(alive) = 1 / (1 + a / (b + x) * ((alpha + T) / (alpha + t_x))^(r + x))``, below 1 also
    for customers without repeat purchases.
    """
    xa, ta, Ta = check_rfm(x, t_x, T)
    return expit(-_log_odds_dead(params, xa, ta, Ta))


def expected_purchases(params: MBGNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike) -> FloatArray:
    """Expected number of purchases in (T, T + t] given the history.

    ``E[Y(t) | x, t_x, T] = P(alive) * (a + b + x) / (a - 1)
    * [1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x + 1; a + b + x; z)]`` with
    ``z = t / (alpha + T + t)``, evaluated after Euler's transformation as in
    :func:`ltvkit.btyd.bgnbd.expected_purchases` (no overflow for heavy buyers). ``t`` broadcasts
    against the customer arrays.
    """
    ta_ = check_t(t)
    xa, ta, Ta = check_rfm(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    tt, xa, ta, Ta = np.broadcast_arrays(ta_, xa, ta, Ta)
    alive = expit(-_log_odds_dead(params, xa, ta, Ta))
    log1mz = np.log(alpha + Ta) - np.log(alpha + Ta + tt)
    z = -np.expm1(log1mz)
    # (1-z)^(r+x) 2F1(r+x, b+x+1; a+b+x; z) = (1-z)^(a-1) 2F1(a+b-r, a-1; a+b+x; z)
    h = hyp2f1(a + b - r, a - 1.0, a + b + xa, z)
    bracket = -np.expm1((a - 1.0) * log1mz) - np.exp((a - 1.0) * log1mz) * (h - 1.0)
    return alive * (a + b + xa) / (a - 1.0) * bracket


def expected_purchases_new(params: MBGNBDParams, t: ArrayLike) -> FloatArray:
    """Expected repeat purchases of a new customer in (0, t].

    ``E[X(t)] = b / (a - 1) * [1 - (alpha / (alpha + t))^r 2F1(r, b + 1; a + b; t / (alpha + t))]``
    (the customer may drop out at time 0, so this is not eq. (10) at ``x = T = 0``).
    """
    ta = check_t(t)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log1mz = np.log(alpha) - np.log(alpha + ta)
    z = -np.expm1(log1mz)
    # (1-z)^r 2F1(r, b+1; a+b; z) = (1-z)^(a-1) 2F1(a+b-r, a-1; a+b; z)
    h = hyp2f1(a + b - r, a - 1.0, a + b, z)
    bracket = -np.expm1((a - 1.0) * log1mz) - np.exp((a - 1.0) * log1mz) * (h - 1.0)
    return b / (a - 1.0) * bracket
