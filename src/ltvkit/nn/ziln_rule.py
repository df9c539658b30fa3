"""The ZILN prediction rule (mean, P(Y > 0) and quantiles) in one compiled pass.

The rule is a few dozen element-wise steps per sample and horizon. As torch operations each
step is a dispatch whose fixed cost is most of a one-customer prediction (a service request);
here the whole rule is one call, and for a large batch it is one pass instead of twenty. The
formulas are those of :class:`~ltvkit.nn.losses.ZILNParams` (softplus with torch's threshold,
the monotone reading of the logits, the sigma floor), in float64; ``Phi^-1`` is scipy's
``ndtri`` (the Cephes routine torch's ``special.ndtri`` ports; they differ by at most an ulp).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit
from scipy.special import ndtri

_LOG_HALF = -math.log(2.0)
_SOFTPLUS_THRESHOLD = 20.0  # torch.nn.functional.softplus: x itself above it
_LEVEL_CLIP = 1e-7  # Phi^-1 is read at levels clipped to [1e-7, 1 - 1e-7]


def ziln_rule(logits: np.ndarray, monotone: bool, levels: tuple[float, ...],
              sigma_floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, p, quantiles) of ZILN logits ``[..., 3] = (z_p, z_mu, z_s)``: mean and p of
    shape ``[...]``, quantiles ``[len(levels), ...]``, all float64. With ``monotone`` the last
    axis of ``[...]`` is the horizons' (read cumulatively, as ZILNParams does)."""
    logits = np.asarray(logits)
    if logits.dtype not in (np.float32, np.float64):
        logits = logits.astype(np.float64)
    shape = logits.shape[:-1]
    # float32 logits are read as they are (each value widened exactly to float64 inside).
    grid = np.ascontiguousarray(logits.reshape(-1, shape[-1] if shape else 1, 3))
    mean, p, mu, sigma, level = _fields(grid, monotone, _levels(tuple(levels)),
                                        float(sigma_floor))
    # Phi^-1 by scipy's ufunc (compiled code cannot call it and still be cached); a level at
    # or below 0 (q <= 1 - p: the point mass at 0) is NaN here and its quantile 0.
    quantiles = _quantiles(mu, sigma, ndtri(level))
    return mean.reshape(shape), p.reshape(shape), quantiles.reshape((len(levels), *shape))


@functools.lru_cache(maxsize=16)
def _levels(levels: tuple[float, ...]) -> np.ndarray:
    out = np.asarray(levels, dtype=np.float64)
    out.flags.writeable = False
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _softplus(x: float) -> float:
    return x if x > _SOFTPLUS_THRESHOLD else math.log1p(math.exp(x))


@njit(cache=True, nogil=True, error_model="numpy")
def _fields(logits, monotone, levels, sigma_floor):
    n, n_h = logits.shape[0], logits.shape[1]
    mean, p = np.empty((n, n_h)), np.empty((n, n_h))
    mu, sigma = np.empty((n, n_h)), np.empty((n, n_h))
    level = np.empty((len(levels), n, n_h))
    for i in range(n):
        log_1mp_sum = 0.0
        log_mean_sum = 0.0
        for h in range(n_h):
            z_p, z_m = np.float64(logits[i, h, 0]), np.float64(logits[i, h, 1])
            z_s = np.float64(logits[i, h, 2])
            s = max(_softplus(z_s), sigma_floor)
            if monotone:
                # 1 - p_h = prod_{j<=h}(1 - sigmoid(z_p_j)); log E_h = z_m_1 + sum softplus.
                log_1mp_sum += -_softplus(z_p)
                if log_1mp_sum > _LOG_HALF:
                    log_p = math.log(-math.expm1(log_1mp_sum))
                else:
                    log_p = math.log1p(-math.exp(log_1mp_sum))
                log_p = max(log_p, -60.0)
                log_mean_sum += z_m if h == 0 else _softplus(z_m)
                log_mean = log_mean_sum
                m = log_mean - log_p - 0.5 * s ** 2
            else:
                log_p = -_softplus(z_p) + z_p  # log sigmoid(z) = log(1 - sigmoid(z)) + z
                m = z_m
                log_mean = log_p + m + 0.5 * s ** 2
            mean[i, h] = math.exp(log_mean)
            p[i, h] = p_ih = math.exp(log_p)
            mu[i, h], sigma[i, h] = m, s
            for k in range(len(levels)):
                x = 1.0 - (1.0 - levels[k]) / p_ih  # -inf when p = 0
                level[k, i, h] = min(max(x, _LEVEL_CLIP), 1.0 - _LEVEL_CLIP) if x > 0 else np.nan
    return mean, p, mu, sigma, level


@njit(cache=True, nogil=True, error_model="numpy")
def _quantiles(mu, sigma, z):
    out = np.empty(z.shape)
    for k in range(z.shape[0]):
        for i in range(z.shape[1]):
            for h in range(z.shape[2]):
                out[k, i, h] = 0.0 if np.isnan(z[k, i, h]) else math.exp(
                    mu[i, h] + sigma[i, h] * z[k, i, h])
    return out
