"""Parameter uncertainty of the BTYD models: Hessian standard errors and parametric draws.

The maximum-likelihood estimate of the log-parameters is asymptotically normal with covariance
the inverse of the observed information (the negative Hessian of the log-likelihood), e.g.
Casella & Berger, "Statistical Inference" (2nd ed., Duxbury 2002), section 10.1. The Hessian is
taken by central differences of the summed log-likelihood in the log-parameters (on the
distinct data rows, weighted), and the standard errors of the parameters follow by the delta
method, ``se(theta) = theta * se(log theta)``. :func:`draw_params` samples parameter replicates
from that normal distribution for the parametric bootstrap of predictions: one ``(B, k)`` array
that the prediction functions broadcast over, not B refits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from ltvkit.btyd import bgbb, bgnbd, gamma_gamma, mbgnbd, pareto_nbd, sbg
from ltvkit.btyd._fit import FloatArray, check_weights, compress_rows
from ltvkit.btyd.bgbb import BGBBParams
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.gamma_gamma import GammaGammaParams
from ltvkit.btyd.mbgnbd import MBGNBDParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams
from ltvkit.btyd.sbg import SBGParams
from ltvkit.errors import ModelError

__all__ = ["ParamUncertainty", "cov_log_or_zeros", "covariance_from_information", "draw_params",
           "draw_params_from_cov", "hessian", "standard_errors"]

_LOGLIK = {BGNBDParams: bgnbd.log_likelihood, MBGNBDParams: mbgnbd.log_likelihood,
           ParetoNBDParams: pareto_nbd.log_likelihood, BGBBParams: bgbb.log_likelihood,
           GammaGammaParams: gamma_gamma.log_likelihood, SBGParams: sbg.log_likelihood}

#: Step of the central differences in the log-parameters.
STEP = 1e-3


@dataclass(frozen=True)
class ParamUncertainty:
    """Standard errors and covariance of a fit.

    Attributes
    ----------
    names : tuple of str
        Parameter names, in the order of the dataclass.
    estimate : ndarray
        The parameters.
    se : ndarray
        Standard errors of the parameters (delta method).
    cov_log : ndarray
        Covariance matrix of the log-parameters (inverse observed information).
    """

    names: tuple[str, ...]
    estimate: FloatArray
    se: FloatArray
    cov_log: FloatArray

    def as_dict(self) -> dict[str, float]:
        """``{name: standard error}``."""
        return dict(zip(self.names, map(float, self.se), strict=True))


def standard_errors(params, *data: ArrayLike, weights: ArrayLike | None = None
                    ) -> ParamUncertainty:
    """Hessian standard errors of a fitted BTYD model.

    Parameters
    ----------
    params : BGNBDParams, MBGNBDParams, ParetoNBDParams, BGBBParams, GammaGammaParams or
        SBGParams
        The maximum-likelihood estimate.
    *data : array_like
        The data it was fitted on, as passed to that module's ``fit`` (``x, t_x, T``;
        BG/BB ``x, t_x, n``; Gamma-Gamma ``x, zbar``; sBG ``periods, churned``).
    weights : array_like, optional

    Raises
    ------
    ModelError
        If the observed information is not positive definite (not at a maximum).
    """
    try:
        loglik = _LOGLIK[type(params)]
    except KeyError:
        raise TypeError(f"no likelihood for {type(params).__name__}") from None
    cols = [np.ravel(np.asarray(d, dtype=np.float64)) for d in np.broadcast_arrays(*data)]
    w = check_weights(weights, cols[0].size)
    cols, w = compress_rows(cols, w)
    names = tuple(f.name for f in fields(params))
    theta = np.array([getattr(params, n) for n in names])

    def total(log_theta: FloatArray) -> float:
        p = type(params)(*np.exp(log_theta))
        return float(w @ loglik(p, *cols))

    cov_log = covariance_from_information(-hessian(total, np.log(theta)),
                                          f"{type(params).__name__} at {asdict(params)}")
    return ParamUncertainty(names, theta, theta * np.sqrt(np.diag(cov_log)), cov_log)


def hessian(total: Callable[[FloatArray], float], point: ArrayLike, step: float = STEP
            ) -> FloatArray:
    """Hessian of a scalar function by central differences of step ``step`` in every
    coordinate (the one numerical Hessian of the BTYD fits; the covariate fits use it too)."""
    base = np.asarray(point, dtype=np.float64)
    k = base.size
    hess = np.empty((k, k))
    eye = np.eye(k) * step
    f0 = total(base)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                v = (total(base + eye[i]) - 2.0 * f0 + total(base - eye[i])) / step**2
            else:
                v = (total(base + eye[i] + eye[j]) - total(base + eye[i] - eye[j])
                     - total(base - eye[i] + eye[j]) + total(base - eye[i] - eye[j])) / (
                    4.0 * step**2)
            hess[i, j] = hess[j, i] = v
    return hess


def covariance_from_information(info: ArrayLike, what: str) -> FloatArray:
    """Inverse of an observed information matrix (through its Cholesky factor); ModelError
    naming ``what`` when it is not positive definite (not a maximum of the likelihood)."""
    try:
        chol = np.linalg.cholesky(np.asarray(info, dtype=np.float64))
    except np.linalg.LinAlgError:
        raise ModelError(f"{what}: the observed information is not positive definite (not a "
                         f"maximum of the likelihood)") from None
    inv_chol = np.linalg.inv(chol)
    return inv_chol.T @ inv_chol


def draw_params(uncertainty: ParamUncertainty, n_draws: int, *,
                seed: int | np.random.Generator | None = 0) -> FloatArray:
    """``(n_draws, k)`` parameter replicates ``exp(N(log theta, cov_log))``, seeded."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    z = rng.multivariate_normal(np.log(uncertainty.estimate), uncertainty.cov_log,
                                size=int(n_draws), method="eigh")
    return np.exp(z)


def cov_log_or_zeros(params, *data: ArrayLike) -> tuple[FloatArray, str]:
    """``(cov_log, note)``: the Hessian covariance of the log-parameters of
    :func:`standard_errors`, or zeros (no parameter uncertainty) and the reason when the observed
    information is not positive definite, e.g. after a penalised boundary fit."""
    try:
        return standard_errors(params, *data).cov_log, ""
    except ModelError as exc:
        k = len(fields(params))
        return np.zeros((k, k)), f"no parameter uncertainty in the intervals ({exc})"


def draw_params_from_cov(params, cov_log: ArrayLike, n_draws: int, *,
                         seed: int | np.random.Generator | None = 0) -> FloatArray:
    """:func:`draw_params` for a parameter dataclass and a saved ``cov_log``."""
    estimate = np.array([getattr(params, f.name) for f in fields(params)], dtype=np.float64)
    cov = np.asarray(cov_log, dtype=np.float64)
    u = ParamUncertainty(tuple(f.name for f in fields(params)), estimate,
                         estimate * np.sqrt(np.diag(cov)), cov)
    return draw_params(u, n_draws, seed=seed)
