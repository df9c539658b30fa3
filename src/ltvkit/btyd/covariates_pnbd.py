"""Pareto/NBD with time-invariant customer covariates, fitted by maximum likelihood.

Fader & Hardie (2007), "Incorporating Time-Invariant Covariates into the Pareto/NBD and BG/NBD
Models" (note, brucehardie.com): with purchase covariates ``z1`` and dropout covariates ``z2``
(one row per customer), customer i has

``alpha_i = alpha0 exp(-gamma1' z1_i)``, ``beta_i = beta0 exp(-gamma2' z2_i)``,

so a positive ``gamma1`` raises the mean purchase rate ``r / alpha_i`` and a positive ``gamma2``
raises the mean dropout rate ``s / beta_i``. Each customer's likelihood is the Pareto/NBD
likelihood (Fader & Hardie 2005, eq. 18) at their own ``alpha_i, beta_i``, maximised over
``(log r, log alpha0, log s, log beta0, gamma1, gamma2)`` with BFGS (numerical gradient), as
:func:`ltvkit.btyd.covariates.fit_bgnbd` does for the BG/NBD.

:func:`ltvkit.btyd.pareto_nbd._row_loglik` takes scalar ``alpha, beta`` (it picks one Euler
transformation of the hypergeometric function for all rows), so the per-customer likelihood is
written here with the same closed form, choosing the transformation row by row and reusing the
series/fallback evaluation :func:`ltvkit.btyd.pareto_nbd._log_hyp1`.
:func:`standard_errors_pareto_nbd` gives the Hessian standard errors, as
:func:`ltvkit.btyd.covariates.standard_errors_bgnbd` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import gammaln

from ltvkit.btyd._fit import FloatArray, check_rfm, check_t, time_scale
from ltvkit.btyd.covariates import CovariateUncertainty, _matrix, covariate_uncertainty
from ltvkit.btyd.pareto_nbd import _log_hyp1
from ltvkit.errors import DataValidationError, ModelError

__all__ = ["ParetoNBDCovariateParams", "expected_purchases_pareto_nbd", "fit_pareto_nbd",
           "p_alive_pareto_nbd", "row_loglik", "standard_errors_pareto_nbd"]


@dataclass(frozen=True)
class ParetoNBDCovariateParams:
    """Pareto/NBD with covariates: baseline ``r, alpha0, s, beta0`` and the coefficients."""

    r: float
    alpha0: float
    s: float
    beta0: float
    gamma_purchase: tuple[float, ...]
    gamma_dropout: tuple[float, ...]

    def individual(self, z_purchase: ArrayLike, z_dropout: ArrayLike) -> SimpleNamespace:
        """Per-customer ``r, alpha, s, beta`` (alpha and beta are arrays)."""
        z1 = _matrix(z_purchase, "z_purchase", len(self.gamma_purchase))
        z2 = _matrix(z_dropout, "z_dropout", len(self.gamma_dropout))
        return SimpleNamespace(
            r=self.r, alpha=self.alpha0 * np.exp(-z1 @ np.asarray(self.gamma_purchase)),
            s=self.s, beta=self.beta0 * np.exp(-z2 @ np.asarray(self.gamma_dropout)))


def _log_f(r: float, alpha: FloatArray, s: float, beta: FloatArray, x: FloatArray,
           t: FloatArray) -> FloatArray:
    """``log F(t)`` of :mod:`ltvkit.btyd.pareto_nbd` with the transformation chosen per row."""
    ta, tb = alpha + t, beta + t
    la, lb = np.log(ta), np.log(tb)
    rx = r + x
    c = rx + s + 1.0
    out = np.empty_like(t)
    m = alpha >= beta
    if m.any():
        lh = _log_hyp1(rx[m], c[m], (alpha[m] - beta[m]) / ta[m])[0]
        out[m] = lh - rx[m] * la[m] - s * lb[m]
    k = ~m
    if k.any():
        lh = _log_hyp1(np.full(int(k.sum()), s + 1.0), c[k], (beta[k] - alpha[k]) / tb[k])[0]
        out[k] = lh - (rx[k] - 1.0) * la[k] - (s + 1.0) * lb[k]
    return out


def _terms(r: float, alpha: FloatArray, s: float, beta: FloatArray, x: FloatArray,
           t_x: FloatArray, T: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``log E`` and ``log(E + K (F(t_x) - F(T)))`` per row (all arrays of one length)."""
    lf = _log_f(r, np.concatenate([alpha, alpha]), s, np.concatenate([beta, beta]),
                np.concatenate([x, x]), np.concatenate([t_x, T]))
    n = x.size
    lf_tx, lf_T = lf[:n], lf[n:]
    rx = r + x
    log_e = -rx * np.log(alpha + T) - s * np.log(beta + T)
    log_k = np.log(s) - np.log(rx + s)
    ratio = np.minimum(np.exp(lf_T - lf_tx), 1.0)
    with np.errstate(divide="ignore"):
        log_second = log_k + lf_tx + np.log1p(-ratio)
    return log_e, np.logaddexp(log_e, log_second)


def row_loglik(r: float, alpha: ArrayLike, s: float, beta: ArrayLike, x: ArrayLike,
               t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer Pareto/NBD log-likelihood (eq. 18) at per-customer ``alpha`` and ``beta``."""
    xa, ta, Ta = np.broadcast_arrays(*check_rfm(x, t_x, T))
    shape = xa.shape
    xa, ta, Ta = (np.ravel(v).astype(np.float64) for v in (xa, ta, Ta))
    al = np.broadcast_to(np.asarray(alpha, dtype=np.float64), shape).ravel()
    be = np.broadcast_to(np.asarray(beta, dtype=np.float64), shape).ravel()
    with np.errstate(divide="ignore"):
        _, log_l = _terms(r, al, s, be, xa, ta, Ta)
    a1 = gammaln(r + xa) - gammaln(r) + r * np.log(al) + s * np.log(be)
    return (a1 + log_l).reshape(shape)


def fit_pareto_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, z_purchase: ArrayLike,
                   z_dropout: ArrayLike | None = None, *, maxiter: int = 2000
                   ) -> tuple[ParetoNBDCovariateParams, float]:
    """Fit the Pareto/NBD with covariates; returns ``(params, total negative log-likelihood)``.

    Parameters
    ----------
    x, t_x, T : array_like
        Calibration summary (as :func:`ltvkit.btyd.pareto_nbd.fit`).
    z_purchase : array_like ``[n, k1]``
        Covariates of the purchase rate (centre them for interpretable baselines).
    z_dropout : array_like ``[n, k2]``, optional
        Covariates of the dropout rate; default the purchase covariates.

    Raises
    ------
    DataValidationError
        Bad RFM data or covariate shapes.
    ModelError
        If the optimiser does not converge.
    """
    xa, ta, Ta = (np.ravel(v) for v in np.broadcast_arrays(*check_rfm(x, t_x, T)))
    z1 = _matrix(z_purchase, "z_purchase")
    z2 = z1 if z_dropout is None else _matrix(z_dropout, "z_dropout")
    for z, name in ((z1, "z_purchase"), (z2, "z_dropout")):
        if z.shape[0] != xa.size:
            raise DataValidationError(f"{name} must have one row per customer (rule same_shape):"
                                      f" {z.shape[0]} rows for {xa.size} customers",
                                      column=name, rule="same_shape")
    k1 = z1.shape[1]
    scale = time_scale(Ta)
    ts, Ts = ta * scale, Ta * scale

    def nll(v: FloatArray) -> float:
        r, al, s, be = np.exp(np.clip(v[:4], -30, 30))
        ali, bei = al * np.exp(-z1 @ v[4:4 + k1]), be * np.exp(-z2 @ v[4 + k1:])
        with np.errstate(all="ignore"):
            _, log_l = _terms(r, ali, s, bei, xa, ts, Ts)
            ll = gammaln(r + xa) - gammaln(r) + r * np.log(ali) + s * np.log(bei) + log_l
        total = -float(ll.sum()) / xa.size
        return total if np.isfinite(total) else 1e300

    start = np.zeros(4 + k1 + z2.shape[1])
    res = minimize(nll, start, method="BFGS", options={"maxiter": maxiter, "gtol": 1e-7})
    if not (res.success or (res.status == 2 and np.max(np.abs(res.jac)) < 1e-4)):
        raise ModelError(f"Pareto/NBD with covariates did not converge after {res.nit} "
                         f"iterations ({res.message})")
    r, al, s, be = np.exp(res.x[:4])
    params = ParetoNBDCovariateParams(
        r=float(r), alpha0=float(al / scale), s=float(s), beta0=float(be / scale),
        gamma_purchase=tuple(map(float, res.x[4:4 + k1])),
        gamma_dropout=tuple(map(float, res.x[4 + k1:])))
    return params, float(res.fun * xa.size - xa.sum() * np.log(scale))


def p_alive_pareto_nbd(params: ParetoNBDCovariateParams, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike, z_purchase: ArrayLike,
                       z_dropout: ArrayLike | None = None) -> FloatArray:
    """P(alive at T) per customer at their own parameters (``E / L``, Fader & Hardie 2005)."""
    ind = params.individual(z_purchase, z_purchase if z_dropout is None else z_dropout)
    xa, ta, Ta, al, be = np.broadcast_arrays(*check_rfm(x, t_x, T), ind.alpha, ind.beta)
    shape = xa.shape
    with np.errstate(divide="ignore"):
        log_e, log_l = _terms(ind.r, al.ravel(), ind.s, be.ravel(), xa.ravel().astype(float),
                              ta.ravel().astype(float), Ta.ravel().astype(float))
    return np.exp(log_e - log_l).reshape(shape)


def expected_purchases_pareto_nbd(params: ParetoNBDCovariateParams, t: ArrayLike, x: ArrayLike,
                                  t_x: ArrayLike, T: ArrayLike, z_purchase: ArrayLike,
                                  z_dropout: ArrayLike | None = None) -> FloatArray:
    """Expected purchases in (T, T + t] per customer at their own parameters (eq. 41)."""
    tt = check_t(t)
    ind = params.individual(z_purchase, z_purchase if z_dropout is None else z_dropout)
    alive = p_alive_pareto_nbd(params, x, t_x, T, z_purchase, z_dropout)
    xa, _, Ta = check_rfm(x, t_x, T)
    tt, xa, Ta, al, be, alive = np.broadcast_arrays(tt, xa, Ta, ind.alpha, ind.beta, alive)
    u = np.log1p(tt / (be + Ta))
    k = params.s - 1.0
    growth = u if abs(k) < 1e-12 else -np.expm1(-k * u) / k
    return alive * (params.r + xa) * (be + Ta) / (al + Ta) * growth


def standard_errors_pareto_nbd(params: ParetoNBDCovariateParams, x: ArrayLike, t_x: ArrayLike,
                               T: ArrayLike, z_purchase: ArrayLike,
                               z_dropout: ArrayLike | None = None) -> CovariateUncertainty:
    """Hessian standard errors of :func:`fit_pareto_nbd`'s estimate, on the data it was fitted
    on; with no covariate columns they are the plain Pareto/NBD's
    (:func:`ltvkit.btyd.uncertainty.standard_errors`).

    Raises
    ------
    ModelError
        If the observed information is not positive definite.
    """
    xa, ta, Ta = (np.ravel(v).astype(np.float64)
                  for v in np.broadcast_arrays(*check_rfm(x, t_x, T)))
    z1 = _matrix(z_purchase, "z_purchase", len(params.gamma_purchase))
    z2 = z1 if z_dropout is None else _matrix(z_dropout, "z_dropout", len(params.gamma_dropout))

    def rows(log_base: FloatArray, g1: FloatArray, g2: FloatArray) -> FloatArray:
        r, al, s, be = np.exp(log_base)
        ali, bei = al * np.exp(-z1 @ g1), be * np.exp(-z2 @ g2)
        with np.errstate(divide="ignore"):
            _, log_l = _terms(r, ali, s, bei, xa, ta, Ta)
        return gammaln(r + xa) - gammaln(r) + r * np.log(ali) + s * np.log(bei) + log_l

    return covariate_uncertainty(params, ("r", "alpha0", "s", "beta0"),
                                 ("gamma_purchase", "gamma_dropout"), rows)
