"""BG/NBD with time-invariant customer covariates, fitted by maximum likelihood.

Fader & Hardie (2007), "Incorporating Time-Invariant Covariates into the Pareto/NBD and BG/NBD
Models" (note, brucehardie.com): with purchase covariates ``z1`` and dropout covariates ``z2``
(one row per customer), customer i has

``alpha_i = alpha0 exp(-gamma1' z1_i)``, ``a_i = a0 exp(gamma2' z2_i)``,
``b_i = b0 exp(gamma3' z2_i)``,

so a positive ``gamma1`` raises the mean purchase rate ``r / alpha_i`` and ``gamma2``/``gamma3``
move the dropout probability ``a_i / (a_i + b_i)``. The likelihood of each customer is the BG/NBD
likelihood (Fader, Hardie & Lee 2005, Marketing Science 24(2), eq. 6) at their own parameters,
maximised over ``(log r, log alpha0, log a0, log b0, gamma1, gamma2, gamma3)`` with BFGS
(numerical gradient; the problem has few parameters). Predictions reuse the BG/NBD formulas
with per-customer parameters. :func:`standard_errors_bgnbd` gives the Hessian standard errors
(:func:`ltvkit.btyd.uncertainty.hessian` in the fitting parameters, delta method back to the
baseline parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize

from ltvkit.btyd import bgnbd, uncertainty
from ltvkit.btyd._fit import FloatArray, as_float_array, check_finite, check_rfm, time_scale
from ltvkit.errors import DataValidationError, ModelError

__all__ = ["BGNBDCovariateParams", "CovariateUncertainty", "expected_purchases", "fit_bgnbd",
           "p_alive", "standard_errors_bgnbd"]


@dataclass(frozen=True)
class BGNBDCovariateParams:
    """BG/NBD with covariates: baseline ``r, alpha0, a0, b0`` and the coefficient vectors."""

    r: float
    alpha0: float
    a0: float
    b0: float
    gamma_purchase: tuple[float, ...]
    gamma_dropout_a: tuple[float, ...]
    gamma_dropout_b: tuple[float, ...]

    def individual(self, z_purchase: ArrayLike, z_dropout: ArrayLike) -> SimpleNamespace:
        """Per-customer ``r, alpha, a, b`` arrays (a BG/NBD parameter set of arrays)."""
        z1 = _matrix(z_purchase, "z_purchase", len(self.gamma_purchase))
        z2 = _matrix(z_dropout, "z_dropout", len(self.gamma_dropout_a))
        return SimpleNamespace(
            r=self.r, alpha=self.alpha0 * np.exp(-z1 @ np.asarray(self.gamma_purchase)),
            a=self.a0 * np.exp(z2 @ np.asarray(self.gamma_dropout_a)),
            b=self.b0 * np.exp(z2 @ np.asarray(self.gamma_dropout_b)))


@dataclass(frozen=True)
class CovariateUncertainty:
    """Hessian standard errors of a fit with covariates.

    Attributes
    ----------
    names : tuple of str
        The baseline parameters, then one name per coefficient (``gamma_purchase[0]``, ...).
    estimate : ndarray
        The parameters in that order.
    se : ndarray
        Standard errors (baseline parameters by the delta method from their logs).
    cov : ndarray
        Covariance of the fitting parameters: the logs of the baseline parameters, then the
        coefficients (inverse observed information).
    """

    names: tuple[str, ...]
    estimate: FloatArray
    se: FloatArray
    cov: FloatArray

    def as_dict(self) -> dict[str, float]:
        """``{name: standard error}``."""
        return dict(zip(self.names, map(float, self.se), strict=True))


def covariate_uncertainty(params, baseline: tuple[str, ...], coefficients: tuple[str, ...],
                          row_loglik) -> CovariateUncertainty:
    """Standard errors of a covariate fit from its per-customer log-likelihood
    ``row_loglik(log_baseline, *coefficient_vectors)``: the Hessian of the summed
    log-likelihood in ``(log baseline, coefficients)`` at the estimate, inverted."""
    logs = np.log([getattr(params, n) for n in baseline])
    vectors = [np.asarray(getattr(params, n), dtype=np.float64) for n in coefficients]
    sizes = np.cumsum([v.size for v in vectors])[:-1]
    point = np.concatenate([logs, *vectors])
    k = logs.size

    def total(v: FloatArray) -> float:
        return float(np.sum(row_loglik(v[:k], *np.split(v[k:], sizes))))

    cov = uncertainty.covariance_from_information(-uncertainty.hessian(total, point),
                                                  f"{type(params).__name__} at {params}")
    names = baseline + tuple(f"{n}[{i}]" for n, v in zip(coefficients, vectors, strict=True)
                             for i in range(v.size))
    estimate = np.concatenate([np.exp(logs), *vectors])
    sd = np.sqrt(np.diag(cov))
    se = np.concatenate([np.exp(logs) * sd[:k], sd[k:]])
    return CovariateUncertainty(names, estimate, se, cov)


def _matrix(z: ArrayLike, name: str, k: int | None = None) -> FloatArray:
    arr = as_float_array(z, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or (k is not None and arr.shape[1] != k):
        raise DataValidationError(f"{name} must be a matrix with one row per customer and "
                                  f"{k if k is not None else 'k'} columns (rule same_shape): "
                                  f"got shape {arr.shape}", column=name, rule="same_shape")
    check_finite(arr, name)
    return arr


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, z_purchase: ArrayLike,
              z_dropout: ArrayLike | None = None, *, maxiter: int = 2000
              ) -> tuple[BGNBDCovariateParams, float]:
    """Fit the BG/NBD with covariates; returns ``(params, total negative log-likelihood)``.

    Parameters
    ----------
    x, t_x, T : array_like
        Calibration summary (as :func:`ltvkit.btyd.bgnbd.fit`).
    z_purchase : array_like ``[n, k1]``
        Covariates of the purchase rate (centre them for interpretable baselines).
    z_dropout : array_like ``[n, k2]``, optional
        Covariates of the dropout; default the purchase covariates.

    Raises
    ------
    DataValidationError
        Bad RFM data or covariate shapes.
    ModelError
        If the optimiser does not converge.
    """
    xa, ta, Ta = (np.ravel(v) for v in check_rfm(x, t_x, T))
    z1 = _matrix(z_purchase, "z_purchase")
    z2 = z1 if z_dropout is None else _matrix(z_dropout, "z_dropout")
    for z, name in ((z1, "z_purchase"), (z2, "z_dropout")):
        if z.shape[0] != xa.size:
            raise DataValidationError(f"{name} must have one row per customer (rule same_shape):"
                                      f" {z.shape[0]} rows for {xa.size} customers",
                                      column=name, rule="same_shape")
    k1, k2 = z1.shape[1], z2.shape[1]
    scale = time_scale(Ta)
    ts, Ts = ta * scale, Ta * scale

    def nll(v: FloatArray) -> float:
        r, al, a, b = np.exp(np.clip(v[:4], -30, 30))
        g1, g2, g3 = v[4:4 + k1], v[4 + k1:4 + k1 + k2], v[4 + k1 + k2:]
        with np.errstate(all="ignore"):
            ll = bgnbd._row_loglik(r, al * np.exp(-z1 @ g1), a * np.exp(z2 @ g2),
                                   b * np.exp(z2 @ g3), xa, ts, Ts)
        total = -float(ll.sum()) / xa.size
        return total if np.isfinite(total) else 1e300

    start = np.concatenate([np.zeros(4), np.zeros(k1 + 2 * k2)])
    res = minimize(nll, start, method="BFGS", options={"maxiter": maxiter, "gtol": 1e-7})
    if not (res.success or (res.status == 2 and np.max(np.abs(res.jac)) < 1e-4)):
        raise ModelError(f"BG/NBD with covariates did not converge after {res.nit} iterations "
                         f"({res.message})")
    r, al, a, b = np.exp(res.x[:4])
    params = BGNBDCovariateParams(
        r=float(r), alpha0=float(al / scale), a0=float(a), b0=float(b),
        gamma_purchase=tuple(map(float, res.x[4:4 + k1])),
        gamma_dropout_a=tuple(map(float, res.x[4 + k1:4 + k1 + k2])),
        gamma_dropout_b=tuple(map(float, res.x[4 + k1 + k2:])))
    # back in the time unit of the data (the Jacobian of the rescaling, as in _fit)
    return params, float(res.fun * xa.size - xa.sum() * np.log(scale))


def p_alive(params: BGNBDCovariateParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike,
            z_purchase: ArrayLike, z_dropout: ArrayLike | None = None) -> FloatArray:
    """P(alive at T) per customer at their own parameters."""
    ind = params.individual(z_purchase, z_purchase if z_dropout is None else z_dropout)
    return bgnbd.p_alive(ind, x, t_x, T)


def expected_purchases(params: BGNBDCovariateParams, t: ArrayLike, x: ArrayLike,
                       t_x: ArrayLike, T: ArrayLike, z_purchase: ArrayLike,
                       z_dropout: ArrayLike | None = None) -> FloatArray:
    """Expected purchases in (T, T + t] per customer at their own parameters."""
    ind = params.individual(z_purchase, z_purchase if z_dropout is None else z_dropout)
    return bgnbd.expected_purchases(ind, t, x, t_x, T)


def standard_errors_bgnbd(params: BGNBDCovariateParams, x: ArrayLike, t_x: ArrayLike,
                          T: ArrayLike, z_purchase: ArrayLike,
                          z_dropout: ArrayLike | None = None) -> CovariateUncertainty:
    """Hessian standard errors of :func:`fit_bgnbd`'s estimate, on the data it was fitted on.

    With no covariate columns they are the plain BG/NBD's
    (:func:`ltvkit.btyd.uncertainty.standard_errors`).

    Raises
    ------
    ModelError
        If the observed information is not positive definite (not at a maximum, or a
        covariate that does not vary).
    """
    xa, ta, Ta = (np.ravel(v) for v in np.broadcast_arrays(*check_rfm(x, t_x, T)))
    z1 = _matrix(z_purchase, "z_purchase", len(params.gamma_purchase))
    z2 = z1 if z_dropout is None else _matrix(z_dropout, "z_dropout",
                                               len(params.gamma_dropout_a))

    def rows(log_base: FloatArray, g1: FloatArray, g2: FloatArray, g3: FloatArray) -> FloatArray:
        r, al, a, b = np.exp(log_base)
        return bgnbd._row_loglik(r, al * np.exp(-z1 @ g1), a * np.exp(z2 @ g2),
                                 b * np.exp(z2 @ g3), xa, ta, Ta)

    return covariate_uncertainty(params, ("r", "alpha0", "a0", "b0"),
                                 ("gamma_purchase", "gamma_dropout_a", "gamma_dropout_b"), rows)
