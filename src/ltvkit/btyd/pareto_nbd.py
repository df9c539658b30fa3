"""Pareto/NBD model of repeat purchasing.

Schmittlein, Morrison & Colombo (1987) [1]_; the equation numbers below are those of Fader &
Hardie (2005) [2]_, whose likelihood ``lifetimes.ParetoNBDFitter`` implements.

While active, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; their lifetime is
exponential with rate ``mu ~ Gamma(s, beta)``. Data per customer: ``x`` repeat purchases, the time
``t_x`` of the last one and the age ``T``, all measured from the first purchase.

Numerics
--------
The likelihood, eqs. (18)-(20), is
``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [E + s / (r+s+x) * (F(t_x) - F(T))]`` with
``E = (alpha+T)^-(r+x) (beta+T)^-s``. Applying Euler's transformation to the Gauss hypergeometric
functions of eqs. (19)/(20) gives

* ``alpha >= beta``: ``F(t) = 2F1(1, r+x; r+s+x+1; z) (alpha+t)^-(r+x) (beta+t)^-s``,
  ``z = (alpha-beta)/(alpha+t)``;
* ``alpha < beta``: ``F(t) = 2F1(1, s+1; r+s+x+1; z) (alpha+t)^-(r+x-1) (beta+t)^-(s+1)``,
  ``z = (beta-alpha)/(beta+t)``.

Both 2F1 have first parameter 1 and ``c - b > 0``, so their power series has positive terms that
shrink at least like ``z^n``: no cancellation, no overflow, and the derivatives with respect to
``b``, ``c`` and ``z`` follow term by term, which gives an exact gradient of the log-likelihood.
Everything is combined in log space; ``F(t_x) - F(T)`` is formed as
``F(t_x) * (1 - F(T)/F(t_x))``. For ``z > 0.75`` (scale parameters more than four times apart)
the series would need hundreds of terms and ``scipy.special.hyp2f1`` is used instead, with
central differences for the derivatives in ``b`` and ``c``.

References
----------
.. [1] Schmittlein, D. C., Morrison, D. G., Colombo, R. (1987). "Counting Your Customers:
   Who Are They and What Will They Do Next?" Management Science 33(1), 1-24.
.. [2] Fader, P. S., Hardie, B. G. S. (2005). "A Note on Deriving the Pareto/NBD Model and
   Related Expressions." Note 009 (version of 2005-11-05), brucehardie.com.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln, hyp2f1

from ltvkit.btyd._fit import (
    DEFAULT_MAXITER,
    FitInfo,
    FloatArray,
    check_rfm,
    check_t,
    fit_purchase_model,
    set_positive_params,
    unique_rows,
)
from ltvkit.errors import ModelError

__all__ = [
    "ParetoNBDParams",
    "expected_purchases",
    "expected_purchases_new",
    "fit",
    "log_likelihood",
    "p_alive",
]

_NAMES = ("r", "alpha", "s", "beta")

# Upper ends of the z-bins that are summed as power series, each with as many terms as its largest
# z needs; above the last one scipy's hyp2f1 (with its own transformations) takes over.
_SERIES_BINS = (0.25, 0.5, 0.75)
_SERIES_EPS = 1e-17


@dataclass(frozen=True)
class ParetoNBDParams:
    """Parameters of the Pareto/NBD model.

    Attributes
    ----------
    r, alpha : float
        Shape and rate of the gamma distribution of purchase rates (``alpha`` in the data's unit
        of time).
    s, beta : float
        Shape and rate of the gamma distribution of drop-out rates (``beta`` in the data's unit
        of time).
    """

    r: float
    alpha: float
    s: float
    beta: float

    def __post_init__(self) -> None:
        set_positive_params(self, _NAMES, "Pareto/NBD")


def _hyp1_series(b: FloatArray, c: FloatArray, z: FloatArray,
                 n_terms: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """log 2F1(1, b; c; z) and its partials in b, c, z from ``n_terms`` terms of the series."""
    term = np.ones_like(z)
    h = np.ones_like(z)
    hb = np.zeros_like(z)
    hc = np.zeros_like(z)
    hz = np.zeros_like(z)
    sb = np.zeros_like(z)
    sc = np.zeros_like(z)
    for n in range(1, n_terms + 1):
        bk = b + (n - 1)
        ck = c + (n - 1)
        # term_n / z, kept separately so that d/dz needs no division by z
        t_over_z = term * (bk / ck)
        sb += 1.0 / bk
        sc += 1.0 / ck
        hz += n * t_over_z
        term = t_over_z * z
        h += term
        hb += term * sb
        hc += term * sc
    return np.log(h), hb / h, -hc / h, hz / h


def _safe_hyp2f1(a: float, b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """scipy's hyp2f1, retried with c nudged by 1e-9 where it fails.

    scipy returns inf close to z = 1 when c - a - b is an integer (the logarithmic case of the
    z -> 1 - z transformation); the nudge changes the value by about 1e-9 relative.
    """
    h = hyp2f1(a, b, c, z)
    bad = ~np.isfinite(h)
    if bad.any():
        h[bad] = hyp2f1(a, b[bad], c[bad] + 1e-9 * np.maximum(1.0, c[bad]), z[bad])
    return h


def _hyp1_fallback(b: FloatArray, c: FloatArray,
                   z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Same as :func:`_hyp1_series` for z close to 1, where the series converges slowly."""
    h = _safe_hyp2f1(1.0, b, c, z)
    hz = b / c * _safe_hyp2f1(2.0, b + 1.0, c + 1.0, z) / h
    eb = 1e-6 * np.maximum(1.0, b)
    ec = 1e-6 * np.maximum(1.0, c)
    hb = (np.log(_safe_hyp2f1(1.0, b + eb, c, z)) - np.log(_safe_hyp2f1(1.0, b - eb, c, z))) \
        / (2.0 * eb)
    hc = (np.log(_safe_hyp2f1(1.0, b, c + ec, z)) - np.log(_safe_hyp2f1(1.0, b, c - ec, z))) \
        / (2.0 * ec)
    return np.log(h), hb, hc, hz


def _log_hyp1(b: FloatArray, c: FloatArray,
              z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``log 2F1(1, b; c; z)`` and its partial derivatives, for ``0 <= z < 1`` and ``c > b > 0``.

    Returns
    -------
    log_h, dlog_h/db, dlog_h/dc, dlog_h/dz : ndarray
    """
    out = np.zeros((4,) + z.shape)
    lower = -1.0
    for upper in _SERIES_BINS:
        m = (z > lower) & (z <= upper)
        lower = upper
        if not m.any():
            continue
        z_max = float(z[m].max())
        # one term even at z = 0, where d/dz log 2F1 = b / c comes from the first term
        n_terms = 1 if z_max <= 0 else math.ceil(math.log(_SERIES_EPS) / math.log(z_max)) + 1
        if m.all():
            return np.array(_hyp1_series(b, c, z, n_terms))
        out[:, m] = _hyp1_series(b[m], c[m], z[m], n_terms)
    m = z > lower
    if m.any():
        out[:, m] = _hyp1_fallback(b[m], c[m], z[m])
    return out


def _log_f(theta: FloatArray, x: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``log F(t)`` (module docstring) and its gradient in (r, alpha, s, beta), shape (4, n)."""
    r, alpha, s, beta = theta
    ta = alpha + t
    tb = beta + t
    la = np.log(ta)
    lb = np.log(tb)
    rx = r + x
    c = rx + s + 1.0
    grad = np.empty((4,) + t.shape)
    if alpha >= beta:
        z = (alpha - beta) / ta
        lh, hb, hc, hz = _log_hyp1(rx, c, z)
        log_f = lh - rx * la - s * lb
        grad[0] = hb + hc - la
        grad[1] = hz * tb / ta**2 - rx / ta
        grad[2] = hc - lb
        grad[3] = -hz / ta - s / tb
    else:
        z = (beta - alpha) / tb
        lh, hb, hc, hz = _log_hyp1(np.full_like(c, s + 1.0), c, z)
        log_f = lh - (rx - 1.0) * la - (s + 1.0) * lb
        grad[0] = hc - la
        grad[1] = -hz / tb - (rx - 1.0) / ta
        grad[2] = hb + hc - lb
        grad[3] = hz * ta / tb**2 - (s + 1.0) / tb
    return log_f, grad


def _row_terms(theta: FloatArray, x: FloatArray, T: FloatArray, lf_tx: FloatArray,
               lf_T: FloatArray) -> tuple[FloatArray, ...]:
    """Per-row pieces of ``log(E + K (F(t_x) - F(T)))`` with ``K = s / (r + s + x)``."""
    r, alpha, s, beta = theta
    rx = r + x
    log_e = -rx * np.log(alpha + T) - s * np.log(beta + T)
    log_k = np.log(s) - np.log(rx + s)
    # F is decreasing in t; clip the ratio against rounding when t_x is just below T
    ratio = np.minimum(np.exp(lf_T - lf_tx), 1.0)
    with np.errstate(divide="ignore"):
        # -inf where t_x == T (no time to drop out in between); logaddexp copes with it
        log_second = log_k + lf_tx + np.log1p(-ratio)
    log_l = np.logaddexp(log_e, log_second)
    return log_e, log_k, ratio, log_second, log_l


def _row_loglik(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Per-customer log-likelihood, eq. (18), including the Gamma-function constant."""
    r, alpha, s, beta = theta
    shape = x.shape
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    log_f, _ = _log_f(theta, np.concatenate([x, x]), np.concatenate([t_x, T]))
    n = x.size
    *_, log_l = _row_terms(theta, x, T, log_f[:n], log_f[n:])
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return (a1 + log_l).reshape(shape)


def log_likelihood(params: ParetoNBDParams, x: ArrayLike, t_x: ArrayLike,
                   T: ArrayLike) -> FloatArray:
    """Log-likelihood of each customer's (x, t_x, T), eq. (18) of Fader & Hardie (2005).

    Parameters
    ----------
    params : ParetoNBDParams
    x, t_x, T : array_like
        Repeat purchases, recency and age (broadcast together).

    Returns
    -------
    ndarray
    """
    xa, ta, Ta = check_rfm(x, t_x, T)
    theta = np.array([params.r, params.alpha, params.s, params.beta])
    with np.errstate(divide="ignore"):
        return _row_loglik(theta, xa, ta, Ta)


def _make_objective(x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray):
    """Mean negative log-likelihood and its analytic gradient w.r.t. the log-parameters."""
    total = float(w.sum())
    ux, inv = np.unique(x, return_inverse=True)
    wx = np.bincount(inv, weights=w, minlength=ux.size)
    n = x.size
    # F depends on a row only through (x, t); evaluate it once per distinct (x, t_x) or (x, T)
    (px, pt), pair_inv = unique_rows([np.concatenate([x, x]), np.concatenate([t_x, T])])
    i_tx, i_T = pair_inv[:n], pair_inv[n:]

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, s, beta = theta
        log_alpha, log_beta = np.log(alpha), np.log(beta)
        # A1 of eq. (18) depends on x alone: evaluate it once per distinct x
        ll = float(wx @ gammaln(r + ux)) + total * (-gammaln(r) + r * log_alpha + s * log_beta)
        g = np.array([
            float(wx @ digamma(r + ux)) + total * (log_alpha - digamma(r)),
            total * r / alpha,
            total * log_beta,
            total * s / beta,
        ])
        log_f, grad_f = _log_f(theta, px, pt)
        lf_tx, lf_T = log_f[i_tx], log_f[i_T]
        log_e, log_k, ratio, log_second, log_l = _row_terms(theta, x, T, lf_tx, lf_T)
        ll += float(w @ log_l)
        # shares of the two branches, and K F(t_x) / L for the derivative of F(t_x) - F(T)
        we = w * np.exp(log_e - log_l)
        wd = w * np.exp(log_second - log_l)
        wq = w * np.exp(log_k + lf_tx - log_l)
        rx = r + x
        rsx = rx + s
        g[0] -= float(we @ np.log(alpha + T)) + float(wd @ (1.0 / rsx))
        g[1] -= float(we @ (rx / (alpha + T)))
        g[2] += float(wd @ (1.0 / s - 1.0 / rsx)) - float(we @ np.log(beta + T))
        g[3] -= s * float(we @ (1.0 / (beta + T)))
        g += (grad_f[:, i_tx] - ratio * grad_f[:, i_T]) @ wq
        return -ll / total, -g * theta / total

    return objective


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: ParetoNBDParams | None = None,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    maxiter: int = DEFAULT_MAXITER,
) -> tuple[ParetoNBDParams, FitInfo]:
    """Fit the Pareto/NBD model by maximum likelihood, eq. (18) of Fader & Hardie (2005).

    Parameters
    ----------
    x, t_x, T : array_like
        Repeat purchases (integers >= 0), recency and age of each customer, in one time unit.
    weights : array_like, optional
        Number of customers each row stands for (default 1); identical rows are merged
        internally.
    initial : ParetoNBDParams, optional
        Starting point in the time unit of the data; default ``r = s = 1`` and ``alpha = beta``
        equal to the largest age.
    log_penalizer : float
        Coefficient of a penalty on the squared log-parameters (rescaled units); unlike the L2
        penalty it keeps every parameter away from 0 and infinity, so data with no interior
        maximum (e.g. no visible dropout) still give a finite fit.
    penalizer : float
        L2 penalty ``penalizer * (r**2 + alpha**2 + s**2 + beta**2)`` on the mean negative
        log-likelihood, with ``alpha`` and ``beta`` in units of the largest age.
    maxiter : int
        Iteration cap of the optimiser.

    Returns
    -------
    params : ParetoNBDParams
    info : FitInfo

    Raises
    ------
    DataValidationError
        If the data break the rules of :func:`ltvkit.btyd._fit.check_rfm`.
    ModelError
        If no customer made a repeat purchase, or the optimiser does not converge.
    """
    def run(penalty: float) -> tuple[np.ndarray, FitInfo]:
        return fit_purchase_model(
            _make_objective, x, t_x, T, weights=weights,
            initial=None if initial is None else [getattr(initial, n) for n in _NAMES],
            names=_NAMES, rate_params=(1, 3), model="Pareto/NBD",
            scale_note="alpha and beta in units of the largest age", penalizer=penalizer,
            log_penalizer=penalty, maxiter=maxiter)

    try:
        theta, info = run(log_penalizer)
    except ModelError as exc:
        if log_penalizer > 0 or not _is_optimiser_failure(str(exc)):
            raise
        for k, penalty in enumerate(RIDGE_LOG_PENALIZERS):
            try:
                theta, info = run(penalty)
                break
            except ModelError:
                if k == len(RIDGE_LOG_PENALIZERS) - 1:
                    raise exc from None
        info = replace(info, reason=_ridge_reason(theta, np.asarray(T, dtype=np.float64),
                                                  str(exc), penalty),
                       log_penalizer=penalty)
    else:
        info = replace(info, log_penalizer=float(log_penalizer))
    r, alpha, s, beta = theta
    return ParetoNBDParams(r=r, alpha=alpha, s=s, beta=beta), info


#: The penalties on the squared log-parameters (rescaled units) tried, weakest first, when the
#: likelihood has no interior maximum; the weakest whose fit converges is returned. On logs of
#: frequent buyers the first one's log-likelihood is within a fraction of a unit of the
#: supremum at the limit.
RIDGE_LOG_PENALIZERS = (1e-6, 1e-5, 1e-4, 1e-3)
# A dropout shape above this means the gamma mixing of dropout rates is collapsing to one
# rate (coefficient of variation 1 / sqrt(s) below 0.32).
_RIDGE_SHAPE = 10.0
# A mean dropout rate times the largest age below this: hardly anyone drops out over the log.
_NO_DROPOUT = 0.05


def _is_optimiser_failure(message: str) -> bool:
    return "did not converge" in message or "ran off to a boundary" in message


def _ridge_reason(theta: np.ndarray, T: np.ndarray, failure: str, penalty: float) -> str:
    """Why the penalised fit was returned: no visible dropout (``s / beta -> 0``), the ridge
    towards no dropout heterogeneity (``s, beta -> inf`` at a fixed mean dropout rate
    ``s / beta``) or another boundary."""
    r, alpha, s, beta = theta
    first = failure.split(";")[0].split("(")[0].strip()
    fitted = (f"returned the fit penalised with log_penalizer={penalty:g} (r={r:.6g}, "
              f"alpha={alpha:.6g}, s={s:.6g}, beta={beta:.6g})")
    if s / beta * float(np.max(T)) < _NO_DROPOUT:
        return (f"{first}: the likelihood rises as the mean dropout rate s/beta -> 0 (no "
                f"visible dropout: the limit is the NBD model, where every customer stays); "
                f"{fitted}")
    if s > _RIDGE_SHAPE:
        return (f"{first}: the likelihood rises along a ridge s, beta -> infinity at a fixed "
                f"mean dropout rate s/beta = {s / beta:.6g} per time unit (no heterogeneity in "
                f"dropout rates: every customer drops out at about the same rate); {fitted}, "
                "which approximates that limiting model")
    return f"{first}: the likelihood has no interior maximum; {fitted}"


def _p_alive(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    shape = x.shape
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    log_f, _ = _log_f(theta, np.concatenate([x, x]), np.concatenate([t_x, T]))
    n = x.size
    log_e, *_, log_l = _row_terms(theta, x, T, log_f[:n], log_f[n:])
    return np.exp(log_e - log_l).reshape(shape)


def p_alive(params: ParetoNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability that a customer is still active at T, eqs. (36)-(37) of Fader & Hardie (2005).

    ``P(alive | x, t_x, T) = Gamma(r+x) alpha^r beta^s / Gamma(r) * E / L``: the share of the
    "still alive at T" branch in the likelihood.

    Parameters
    ----------
    params : ParetoNBDParams
    x, t_x, T : array_like

    Returns
    -------
    ndarray
    """
    xa, ta, Ta = np.broadcast_arrays(*check_rfm(x, t_x, T))
    theta = np.array([params.r, params.alpha, params.s, params.beta])
    with np.errstate(divide="ignore"):
        return _p_alive(theta, xa, ta, Ta)


def expected_purchases(params: ParetoNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike) -> FloatArray:
    """Expected number of purchases in (T, T + t] given the history, eq. (41) of Fader & Hardie
    (2005).

    ``E[Y(t) | x, t_x, T] = P(alive) * (r + x) (beta + T) / ((alpha + T) (s - 1))
    * [1 - ((beta + T) / (beta + T + t))^(s - 1)]``, evaluated as
    ``-expm1(-(s - 1) u) / (s - 1)`` with ``u = log((beta + T + t) / (beta + T))`` so that
    ``s = 1`` (limit ``u``) is handled.

    Parameters
    ----------
    params : ParetoNBDParams
    t : array_like
        Length(s) of the prediction window; broadcast against the customer arrays.
    x, t_x, T : array_like

    Returns
    -------
    ndarray
    """
    tt = check_t(t)
    xa, ta, Ta = check_rfm(x, t_x, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    alive = p_alive(params, xa, ta, Ta)
    tt, xa, Ta, alive = np.broadcast_arrays(tt, xa, Ta, alive)
    u = np.log1p(tt / (beta + Ta))
    k = s - 1.0
    growth = u if abs(k) < 1e-12 else -np.expm1(-k * u) / k
    return alive * (r + xa) * (beta + Ta) / (alpha + Ta) * growth


def expected_purchases_new(params: ParetoNBDParams, t: ArrayLike) -> FloatArray:
    """Expected repeat purchases of a new customer in (0, t], eq. (27) of Fader & Hardie (2005).

    ``E[X(t)] = r beta / (alpha (s - 1)) * [1 - (beta / (beta + t))^(s - 1)]``.
    """
    ta = check_t(t)
    zeros = np.zeros_like(ta)
    return expected_purchases(params, ta, zeros, zeros, zeros)
