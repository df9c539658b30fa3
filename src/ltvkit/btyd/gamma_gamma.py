"""Gamma-Gamma model of the spend per transaction.

Fader, Hardie & Lee (2005) [1]_, section "The spend model"; the equation numbers below are
those of Fader & Hardie (2013) [2]_.

A customer's transaction values are gamma(p, nu) distributed around their own mean ``p / nu``,
and ``nu ~ Gamma(q, gamma)`` across customers. Data per customer: the number ``x >= 1`` of
transactions the mean is taken over, and their mean value ``zbar``. The model assumes that spend
is independent of the purchase process, so it combines with BG/NBD or Pareto/NBD for CLV.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis." Journal of Marketing Research 42(4), 415-430.
.. [2] Fader, P. S., Hardie, B. G. S. (2013). "The Gamma-Gamma Model of Monetary Value."
   Note 025, brucehardie.com.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from ltvkit.btyd._fit import (
    DEFAULT_MAXITER,
    FitInfo,
    FloatArray,
    as_float_array,
    check_finite,
    check_weights,
    compress_rows,
    maximize_likelihood,
    set_positive_params,
)
from ltvkit.errors import DataValidationError

__all__ = [
    "GammaGammaParams",
    "SpendCorrelationWarning",
    "check_independence",
    "conditional_expected_spend",
    "fit",
    "log_likelihood",
    "population_mean_spend",
    "spend_frequency_correlation",
]

_NAMES = ("p", "q", "gamma")


@dataclass(frozen=True)
class GammaGammaParams:
    """Parameters of the Gamma-Gamma spend model.

    Attributes
    ----------
    p : float
        Shape of the gamma distribution of a customer's transaction values.
    q, gamma : float
        Shape and rate of the gamma distribution of the per-customer scale ``nu``; ``gamma`` is in
        the currency unit of the data.
    """

    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        set_positive_params(self, _NAMES, "Gamma-Gamma")


def _fail(message: str, column: str, rule: str, n_rows: int) -> DataValidationError:
    return DataValidationError(f"{message} (rule {rule}): {n_rows} row"
                               f"{'s' if n_rows != 1 else ''} break it",
                               column=column, rule=rule, n_rows=n_rows)


def _check_spend(x: ArrayLike, zbar: ArrayLike, *, min_x: int) -> tuple[FloatArray, FloatArray]:
    """Validate (x, zbar): integer x >= min_x, finite zbar > 0 where x > 0."""
    xa = as_float_array(x, "x")
    za = as_float_array(zbar, "zbar")
    try:
        xa, za = np.broadcast_arrays(xa, za)
    except ValueError as exc:
        raise DataValidationError(f"x and zbar must have the same length (rule same_shape): "
                                  f"shapes {xa.shape}, {za.shape}", rule="same_shape") from exc
    check_finite(xa, "x")
    check_finite(za, "zbar")
    bad = (xa < min_x) | (xa != np.round(xa))
    if bad.any():
        rule = "x_positive_integer" if min_x > 0 else "x_nonnegative_integer"
        what = "a positive integer (fit the spend model on customers with x > 0 only)" \
            if min_x > 0 else "a non-negative integer"
        raise _fail(f"x must be {what}", "x", rule, int(bad.sum()))
    bad = (xa > 0) & ~(za > 0)
    if bad.any():
        raise _fail("zbar must be > 0 where x > 0", "zbar", "zbar_positive", int(bad.sum()))
    return xa, za


def _row_loglik(p: float, q: float, g: float, x: FloatArray, m: FloatArray) -> FloatArray:
    """Log density of the mean spend ``m`` of ``x`` transactions (note 025, eq. (1a))."""
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1.0) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(x * m + g))


def log_likelihood(params: GammaGammaParams, x: ArrayLike, zbar: ArrayLike) -> FloatArray:
    """Log-likelihood of each customer's mean spend, eq. (1a) of Fader & Hardie (2013).

    ``f(zbar | p, q, gamma; x) = Gamma(px + q) / (Gamma(px) Gamma(q)) * gamma^q x^(px)
    zbar^(px - 1) / (gamma + x zbar)^(px + q)``.

    Parameters
    ----------
    params : GammaGammaParams
    x : array_like
        Number of transactions behind each mean (integers >= 1).
    zbar : array_like
        Mean transaction value (> 0).

    Returns
    -------
    ndarray
    """
    xa, za = _check_spend(x, zbar, min_x=1)
    return _row_loglik(params.p, params.q, params.gamma, xa, za)


def _make_objective(x: FloatArray, m: FloatArray, w: FloatArray):
    """Mean negative log-likelihood and its gradient w.r.t. the log-parameters."""
    total = float(w.sum())
    log_m = np.log(m)
    log_x = np.log(x)
    xm = x * m

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, g = theta
        px = p * x
        log_xmg = np.log(xm + g)
        ll = float(w @ _row_loglik(p, q, g, x, m))
        psi_pq = digamma(px + q)
        d_p = float(w @ (x * (psi_pq - digamma(px) + log_m + log_x - log_xmg)))
        d_q = float(w @ (psi_pq - log_xmg)) + total * (np.log(g) - digamma(q))
        d_g = total * q / g - float(w @ ((px + q) / (xm + g)))
        return -ll / total, -np.array([d_p * p, d_q * q, d_g * g]) / total

    return objective


def fit(
    x: ArrayLike,
    zbar: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    initial: GammaGammaParams | None = None,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    maxiter: int = DEFAULT_MAXITER,
    q_constraint: bool = False,
    correlation_threshold: float | None = 0.3,
) -> tuple[GammaGammaParams, FitInfo]:
    """Fit the Gamma-Gamma model by maximum likelihood, eq. (1a) of Fader & Hardie (2013).

    Parameters
    ----------
    x : array_like
        Number of transactions behind each customer's mean (integers >= 1; leave out customers
        without repeat purchases, as in Fader, Hardie & Lee 2005b).
    zbar : array_like
        Mean transaction value of each customer (> 0).
    weights : array_like, optional
        Number of customers each row stands for (default 1).
    initial : GammaGammaParams, optional
        Starting point; default ``p = q = 1`` and ``gamma`` equal to the mean of ``zbar``.
    log_penalizer : float
        Coefficient of a penalty on the squared log-parameters (rescaled units); unlike the L2
        penalty it keeps every parameter away from 0 and infinity, so data with no interior
        maximum (e.g. no visible dropout) still give a finite fit.
    penalizer : float
        L2 penalty ``penalizer * (p**2 + q**2 + gamma**2)`` on the mean negative log-likelihood,
        with ``gamma`` in units of the mean of ``zbar``.
    maxiter : int
        Iteration cap of the optimiser.
    q_constraint : bool
        Maximise over ``q > 1`` (``q = 1 + exp(u)``), so that the mean spend ``p gamma / (q - 1)``
        and every conditional expectation exist (lifetimes' ``q_constraint``).
    correlation_threshold : float or None
        Warn (:class:`SpendCorrelationWarning`) when the Pearson correlation of ``x`` and
        ``zbar`` exceeds this in absolute value: the model assumes spend independent of the
        number of transactions (Fader, Hardie & Lee 2005b report 0.11 on CDNOW). None: no check.

    Returns
    -------
    params : GammaGammaParams
    info : FitInfo

    Raises
    ------
    DataValidationError
        If an ``x`` is not a positive integer or a ``zbar`` is not positive.
    ModelError
        If the optimiser does not converge.
    """
    xa, za = (np.ravel(v) for v in _check_spend(x, zbar, min_x=1))
    w = check_weights(weights, xa.size)
    if correlation_threshold is not None:
        check_independence(xa, za, threshold=correlation_threshold, weights=w)
    (xu, mu), wu = compress_rows([xa, za], w)
    total = float(wu.sum())
    # spend in units of its mean, so that gamma starts near 1 whatever the currency
    scale = total / float(wu @ mu)
    objective = _make_objective(xu, mu * scale, wu)
    if initial is None:
        start = np.ones(3)
    else:
        start = np.array([initial.p, initial.q, initial.gamma * scale])
    if q_constraint:
        objective, start = _q_above_one(objective, start)
    theta, info = maximize_likelihood(objective, start, names=_NAMES, total_weight=total,
                                      n_unique_rows=xu.size, penalizer=penalizer,
                                      log_penalizer=log_penalizer,
                                      maxiter=maxiter, model="Gamma-Gamma",
                                      nll_offset=-total * np.log(scale),
                                      scale_note="gamma in units of the mean zbar")
    p, q, g = theta
    if q_constraint:
        q = 1.0 + q
    return GammaGammaParams(p=p, q=q, gamma=g / scale), info


def _q_above_one(objective, start: FloatArray):
    """The objective over ``(p, q - 1, gamma)``: the optimiser's positive parameter is q - 1."""
    def shifted(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q1, g = theta
        value, grad = objective(np.array([p, 1.0 + q1, g]))
        # d/dlog(q - 1) = d/dq * (q - 1) = (d/dlog q) * (q - 1) / q
        return value, grad * np.array([1.0, q1 / (1.0 + q1), 1.0])

    q1 = start[1] - 1.0 if start[1] > 1.0 else 1.0
    return shifted, np.array([start[0], q1, start[2]])


class SpendCorrelationWarning(UserWarning):
    """The mean spend and the number of transactions are correlated (Gamma-Gamma assumes not)."""


def spend_frequency_correlation(x: ArrayLike, zbar: ArrayLike,
                                weights: ArrayLike | None = None) -> float:
    """(Weighted) Pearson correlation of the number of transactions and the mean spend."""
    xa, za = (np.ravel(v) for v in _check_spend(x, zbar, min_x=1))
    w = check_weights(weights, xa.size)
    if xa.size < 2:
        return float("nan")
    mx, mz = (w @ xa) / w.sum(), (w @ za) / w.sum()
    cov = w @ ((xa - mx) * (za - mz))
    denom = np.sqrt((w @ (xa - mx) ** 2) * (w @ (za - mz) ** 2))
    return float(cov / denom) if denom > 0 else float("nan")


def check_independence(x: ArrayLike, zbar: ArrayLike, *, threshold: float = 0.3,
                       weights: ArrayLike | None = None) -> float:
    """Warn with :class:`SpendCorrelationWarning` when ``|corr(x, zbar)| > threshold``; return
    the correlation."""
    corr = spend_frequency_correlation(x, zbar, weights)
    if np.isfinite(corr) and abs(corr) > threshold:
        warnings.warn(
            f"Gamma-Gamma: x and zbar are correlated (rule spend_independent_of_frequency): "
            f"Pearson {corr:.3f} over {np.size(x)} customers exceeds {threshold}; the spend "
            "model assumes independence, so its CLV may be biased", SpendCorrelationWarning,
            stacklevel=3)
    return corr


def conditional_expected_spend(params: GammaGammaParams, x: ArrayLike,
                               zbar: ArrayLike) -> FloatArray:
    """Expected spend per transaction given x transactions of mean zbar, eq. (5) of Fader &
    Hardie (2013).

    ``E[Z | p, q, gamma; x, zbar] = (gamma + x zbar) p / (p x + q - 1)``, a weighted mean of the
    population mean ``p gamma / (q - 1)`` (weight ``(q - 1) / (p x + q - 1)``) and ``zbar``. For
    ``x = 0`` it is the population mean (``zbar`` is then ignored and may be 0). Where
    ``p x + q <= 1`` the expectation does not exist and ``inf`` is returned.

    Parameters
    ----------
    params : GammaGammaParams
    x : array_like
        Number of transactions behind each mean (integers >= 0).
    zbar : array_like
        Mean transaction value (> 0 where x > 0).

    Returns
    -------
    ndarray
    """
    xa, za = _check_spend(x, zbar, min_x=0)
    p, q, g = params.p, params.q, params.gamma
    denom = p * xa + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (g + xa * za) * p / denom
    return np.where(denom > 0, value, np.inf)


def population_mean_spend(params: GammaGammaParams) -> float:
    """Mean spend per transaction across customers, ``p gamma / (q - 1)`` (FHL 2005b).

    Returns ``inf`` when ``q <= 1`` (the mean does not exist).
    """
    if params.q <= 1.0:
        return float("inf")
    return params.p * params.gamma / (params.q - 1.0)
