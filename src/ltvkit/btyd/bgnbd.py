"""BG/NBD model (beta-geometric / negative binomial distribution) of repeat purchasing.

Fader, Hardie & Lee (2005) [1]_; equation numbers below are that paper's. P(alive) is from
Fader, Hardie & Lee (2008) [2]_.

While active, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after every purchase
they drop out with probability ``p ~ Beta(a, b)``. Data per customer: ``x`` repeat purchases, the
time ``t_x`` of the last one and the age ``T``, all measured from the first purchase.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "Counting Your Customers the Easy
   Way: An Alternative to the Pareto/NBD Model." Marketing Science 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2008). "Computing P(alive) Using the
   BG/NBD Model." Note 021, brucehardie.com.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, expit, gammaln, hyp2f1

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
    "BGNBDParams",
    "expected_purchases",
    "expected_purchases_new",
    "fit",
    "log_likelihood",
    "p_alive",
]

_NAMES = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class BGNBDParams:
    """Parameters of the BG/NBD model.

    Attributes
    ----------
    r, alpha : float
        Shape and rate of the gamma distribution of purchase rates; ``alpha`` is in the time unit
        of the data (``r / alpha`` is the mean rate per unit of time).
    a, b : float
        Parameters of the beta distribution of the drop-out probability after a purchase.
    """

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        set_positive_params(self, _NAMES, "BG/NBD")


def _row_loglik(r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray,
                T: FloatArray) -> FloatArray:
    """Per-customer log-likelihood, eq. (6), in the log-sum-exp form of note 004."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    pos = x > 0
    # b + x - 1 is only used where x > 0; substitute 1 elsewhere to keep the log finite
    a4 = np.log(a) - np.log(np.where(pos, b + x - 1.0, 1.0)) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.where(pos, np.logaddexp(a3, a4), a3)


def log_likelihood(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Log-likelihood of each customer's (x, t_x, T), eq. (6) of Fader, Hardie & Lee (2005a).

    Parameters
    ----------
    params : BGNBDParams
    x, t_x, T : array_like
        Repeat purchases, recency and age (broadcast together).

    Returns
    -------
    ndarray
        ``log L(r, alpha, a, b | x, t_x, T)`` per customer.
    """
    xa, ta, Ta = check_rfm(x, t_x, T)
    return _row_loglik(params.r, params.alpha, params.a, params.b, xa, ta, Ta)


def _make_objective(x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray):
    """Mean negative log-likelihood and its gradient w.r.t. the log-parameters.

    The terms of eq. (6) that depend on x alone are evaluated once per distinct x with the summed
    weight; only the log-sum-exp of the two survival branches is evaluated per row.
    """
    total = float(w.sum())
    ux, inv = np.unique(x, return_inverse=True)
    wx = np.bincount(inv, weights=w, minlength=ux.size)
    zero = x == 0
    T0, w0 = T[zero], w[zero]
    pos = ~zero
    xp, tp, Tp, wp = x[pos], t_x[pos], T[pos], w[pos]

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = theta
        # A1 and A2 of note 004 depend on x alone: evaluate them once per distinct x
        ll = float(wx @ (gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux)))
        ll += total * (r * np.log(alpha) - gammaln(r) + gammaln(a + b) - gammaln(b))
        psi_ab = digamma(a + b)
        d_r = float(wx @ digamma(r + ux)) + total * (np.log(alpha) - digamma(r))
        d_alpha = total * r / alpha
        psi_abx = float(wx @ digamma(a + b + ux))
        d_a = total * psi_ab - psi_abx
        d_b = total * (psi_ab - digamma(b)) + float(wx @ digamma(b + ux)) - psi_abx
        # without a repeat purchase there is no drop-out branch, only A3
        lT0 = np.log(alpha + T0)
        ll -= r * float(w0 @ lT0)
        d_r -= float(w0 @ lT0)
        d_alpha -= r * float(w0 @ (1.0 / (alpha + T0)))
        # a repeat buyer is alive at T (A3) or dropped out after the last purchase (A4)
        lT = np.log(alpha + Tp)
        lt = np.log(alpha + tp)
        rx = r + xp
        bx1 = b + xp - 1.0
        a3 = -rx * lT
        diff = np.log(a) - np.log(bx1) + rx * (lT - lt)
        ll += float(wp @ (a3 + np.logaddexp(0.0, diff)))
        pi4 = expit(diff)
        pi3 = 1.0 - pi4
        wpi4 = wp * pi4
        d_r -= float(wp @ (pi3 * lT + pi4 * lt))
        d_alpha -= float(wp @ (rx * (pi3 / (alpha + Tp) + pi4 / (alpha + tp))))
        d_a += float(wpi4.sum()) / a
        d_b -= float(wpi4 @ (1.0 / bx1))
        grad = -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b]) / total
        return -ll / total, grad

    return objective


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: BGNBDParams | None = None,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    maxiter: int = DEFAULT_MAXITER,
) -> tuple[BGNBDParams, FitInfo]:
    """Fit the BG/NBD model by maximum likelihood, eq. (6) of Fader, Hardie & Lee (2005a).

    Parameters
    ----------
    x, t_x, T : array_like
        Repeat purchases (integers >= 0), recency and age of each customer, in one time unit.
    weights : array_like, optional
        Number of customers each row stands for (default 1). Identical rows are merged into
        weights internally, so passing raw per-customer rows costs little.
    initial : BGNBDParams, optional
        Starting point, in the time unit of the data; default ``r = a = b = 1`` and ``alpha``
        equal to the largest age.
    log_penalizer : float
        Coefficient of a penalty on the squared log-parameters (rescaled units); unlike the L2
        penalty it keeps every parameter away from 0 and infinity, so data with no interior
        maximum (e.g. no visible dropout) still give a finite fit.
    penalizer : float
        L2 penalty ``penalizer * (r**2 + alpha**2 + a**2 + b**2)`` on the mean negative
        log-likelihood, with ``alpha`` measured in units of the largest age (as in ``lifetimes``).
    maxiter : int
        Iteration cap of the optimiser.

    Returns
    -------
    params : BGNBDParams
    info : FitInfo

    Raises
    ------
    DataValidationError
        If the data break the rules of :func:`ltvkit.btyd._fit.check_rfm`.
    ModelError
        If no customer made a repeat purchase (the likelihood then has no maximum), or the
        optimiser does not converge.
    """
    theta, info = fit_purchase_model(
        _make_objective, x, t_x, T, weights=weights,
        initial=None if initial is None else [getattr(initial, n) for n in _NAMES], names=_NAMES,
        rate_params=(1,), model="BG/NBD", scale_note="alpha in units of the largest age",
        penalizer=penalizer, log_penalizer=log_penalizer, maxiter=maxiter)
    r, alpha, a, b = theta
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b), info


def _log_odds_dead(params: BGNBDParams, x: FloatArray, t_x: FloatArray,
                   T: FloatArray) -> FloatArray:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x), i.e. log P(dead)/P(alive) for x > 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    pos = x > 0
    bx1 = np.where(pos, b + x - 1.0, 1.0)
    odds = np.log(a) - np.log(bx1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(pos, odds, -np.inf)


def p_alive(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability that a customer is still active at T (Fader, Hardie & Lee 2008, note 021).

    ``P(alive) = 1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))``;
    it is exactly 1 for a customer without repeat purchases (under BG/NBD one can only drop out
    right after a purchase).

    Parameters
    ----------
    params : BGNBDParams
    x, t_x, T : array_like

    Returns
    -------
    ndarray
    """
    xa, ta, Ta = check_rfm(x, t_x, T)
    return expit(-_log_odds_dead(params, xa, ta, Ta))


def expected_purchases(params: BGNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike) -> FloatArray:
    """Expected number of purchases in (T, T + t] given the history, eq. (10) of FHL (2005a).

    ``E[Y(t) | x, t_x, T] = P(alive) * (a + b + x - 1) / (a - 1)
    * [1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x; a + b + x - 1; z)]``
    with ``z = t / (alpha + T + t)``. The Gauss hypergeometric function is evaluated after Euler's
    transformation, ``2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z)``, which turns
    the product into ``(1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z)`` and so avoids
    an overflowing 2F1 times an underflowing power for heavy buyers and long horizons.
    The formula has a removable singularity at ``a = 1`` exactly, where it returns NaN.

    Parameters
    ----------
    params : BGNBDParams
    t : array_like
        Length(s) of the prediction window, in the time unit of the data; broadcast against the
        customer arrays (for example shape ``(k, 1)`` against ``(n,)`` gives ``(k, n)``).
    x, t_x, T : array_like

    Returns
    -------
    ndarray
    """
    ta_ = check_t(t)
    xa, ta, Ta = check_rfm(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    tt, xa, ta, Ta = np.broadcast_arrays(ta_, xa, ta, Ta)
    alive = expit(-_log_odds_dead(params, xa, ta, Ta))
    log1mz = np.log(alpha + Ta) - np.log(alpha + Ta + tt)
    z = -np.expm1(log1mz)
    h = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + xa - 1.0, z)
    bracket = -np.expm1((a - 1.0) * log1mz) - np.exp((a - 1.0) * log1mz) * (h - 1.0)
    return alive * (a + b + xa - 1.0) / (a - 1.0) * bracket


def expected_purchases_new(params: BGNBDParams, t: ArrayLike) -> FloatArray:
    """Expected repeat purchases of a new customer in (0, t], eq. (9) of FHL (2005a).

    ``E[X(t)] = (a + b - 1) / (a - 1) * [1 - (alpha / (alpha + t))^r 2F1(r, b; a + b - 1;
    t / (alpha + t))]``, which is eq. (10) at ``x = t_x = T = 0``.
    """
    ta = check_t(t)
    zeros = np.zeros_like(ta)
    return expected_purchases(params, ta, zeros, zeros, zeros)
