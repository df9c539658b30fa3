"""Shifted-beta-geometric (sBG) model of contractual retention.

Fader & Hardie (2007) [1]_; equation numbers below are that paper's. Every subscriber renews at
the end of each period with a constant probability ``1 - theta`` until they cancel, and ``theta``
varies over subscribers as ``Beta(alpha, beta)``. The lifetime ``T`` (in periods, the period in
which the subscriber cancels) then has

* ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)`` (eq. 5),
* ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)`` (eq. 6),
* retention rate ``r_t = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)`` (eq. 8),

and the discounted expected residual lifetime of a subscriber who has renewed ``n`` times is
Fader & Hardie (2010) [2]_, eq. (6).

Data come either as a table of survivors per period (the paper's form) or per subscriber: the
number of periods observed and whether the subscription ended (censored otherwise); see
:mod:`ltvkit.data.subscriptions` for building the latter from a subscriptions table.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. (2007). "How to Project Customer Retention." Journal of
   Interactive Marketing 21(1), 76-90.
.. [2] Fader, P. S., Hardie, B. G. S. (2010). "Customer-Base Valuation in a Contractual Setting:
   The Perils of Ignoring Heterogeneity." Marketing Science 29(1), 85-93.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, hyp2f1

from ltvkit.btyd._fit import (
    DEFAULT_MAXITER,
    FitInfo,
    FloatArray,
    _fail,
    as_float_array,
    check_finite,
    check_t,
    check_weights,
    compress_rows,
    maximize_likelihood,
    set_positive_params,
)
from ltvkit.errors import DataValidationError, ModelError

__all__ = [
    "SBGParams",
    "churn_probability",
    "discounted_expected_residual_lifetime",
    "expected_alive_periods",
    "fit",
    "fit_survivors",
    "log_likelihood",
    "p_alive",
    "retention_rate",
    "survival",
]

_NAMES = ("alpha", "beta")


@dataclass(frozen=True)
class SBGParams:
    """Parameters of the sBG model: ``theta ~ Beta(alpha, beta)`` is the churn probability."""

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        set_positive_params(self, _NAMES, "sBG")


def check_data(periods: ArrayLike, churned: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate per-subscriber data: ``periods`` whole numbers >= 0 (>= 1 if churned) and
    ``churned`` 0/1, of one shape."""
    t = as_float_array(periods, "periods")
    c = as_float_array(churned, "churned")
    check_finite(t, "periods")
    check_finite(c, "churned")
    try:
        t, c = np.broadcast_arrays(t, c)
    except ValueError as exc:
        raise DataValidationError(f"periods and churned must have the same length (rule "
                                  f"same_shape): {t.shape} vs {c.shape}", rule="same_shape") from exc
    bad = (t < 0) | (t != np.round(t))
    if bad.any():
        raise _fail("periods must be a non-negative whole number", "periods",
                    "periods_nonnegative_integer", int(bad.sum()))
    bad = (c != 0) & (c != 1)
    if bad.any():
        raise _fail("churned must be 0 or 1", "churned", "churned_binary", int(bad.sum()))
    bad = (c == 1) & (t < 1)
    if bad.any():
        raise _fail("a churned subscriber has periods >= 1 (the period of cancellation)",
                    "periods", "churned_periods_positive", int(bad.sum()))
    return t, c


def _log_terms(alpha: float, beta: float, t: FloatArray, c: FloatArray) -> FloatArray:
    churn = betaln(alpha + 1.0, beta + np.maximum(t - 1.0, 0.0))
    alive = betaln(alpha, beta + t)
    return np.where(c == 1, churn, alive) - betaln(alpha, beta)


def log_likelihood(params: SBGParams, periods: ArrayLike, churned: ArrayLike) -> FloatArray:
    """Per-subscriber log-likelihood: ``log P(T = t)`` if churned in period t, else ``log S(t)``."""
    t, c = check_data(periods, churned)
    return _log_terms(params.alpha, params.beta, t, c)


def fit(periods: ArrayLike, churned: ArrayLike, *, weights: ArrayLike | None = None,
        initial: SBGParams | None = None, penalizer: float = 0.0, log_penalizer: float = 0.0,
        maxiter: int = DEFAULT_MAXITER) -> tuple[SBGParams, FitInfo]:
    """Fit the sBG model by maximum likelihood (eq. 7 of Fader & Hardie 2007, per subscriber).

    Parameters
    ----------
    periods : array_like
        Whole periods observed per subscriber: the period of cancellation if ``churned``, else
        the number of renewals seen so far (right-censored).
    churned : array_like
        1 if the subscription ended, 0 if still active at the end of the data.
    weights : array_like, optional
        Subscribers each row stands for.

    Raises
    ------
    DataValidationError
        If the data break the rules of :func:`check_data`.
    ModelError
        If no subscriber churned or none renewed (no interior maximum), or no convergence.
    """
    t, c = (np.ravel(v) for v in check_data(periods, churned))
    w = check_weights(weights, t.size)
    (tu, cu), wu = compress_rows([t, c], w)
    if not np.any(cu == 1):
        raise ModelError("sBG fit: no subscriber churned, so the churn probability has no "
                         "interior maximum (it runs to 0); there is nothing to fit")
    if not np.any(tu > 1) and not np.any((cu == 0) & (tu > 0)):
        raise ModelError("sBG fit: no subscriber renewed even once, so the churn probability "
                         "runs to 1; there is nothing to fit")
    total = float(wu.sum())
    churn = cu == 1
    tm1 = np.maximum(tu - 1.0, 0.0)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        a, b = theta
        ll = float(wu @ _log_terms(a, b, tu, cu))
        psi_ab = digamma(a + b)
        d_norm_a, d_norm_b = digamma(a) - psi_ab, digamma(b) - psi_ab
        # churned: log B(a + 1, b + t - 1); censored: log B(a, b + t)
        s_churn = digamma(a + b + tu)
        da = np.where(churn, digamma(a + 1.0), digamma(a)) - s_churn - d_norm_a
        db = np.where(churn, digamma(b + tm1), digamma(b + tu)) - s_churn - d_norm_b
        grad = -np.array([float(wu @ da) * a, float(wu @ db) * b]) / total
        return -ll / total, grad

    start = np.ones(2) if initial is None else np.array([initial.alpha, initial.beta])
    theta, info = maximize_likelihood(objective, start, names=_NAMES, total_weight=total,
                                      n_unique_rows=tu.size, penalizer=penalizer,
                                      log_penalizer=log_penalizer, maxiter=maxiter, model="sBG")
    return SBGParams(*theta), info


def survivors_to_subscribers(survivors: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(periods, churned, weights) rows from a survivor table ``n_0 >= n_1 >= ... >= n_k``:
    ``n_{t-1} - n_t`` subscribers churned in period t, ``n_k`` censored after k periods."""
    s = as_float_array(survivors, "survivors").ravel()
    check_finite(s, "survivors")
    if s.size < 2:
        raise DataValidationError("survivors must hold at least two periods (rule "
                                  f"min_length): got {s.size}", column="survivors",
                                  rule="min_length", n_rows=int(s.size))
    drops = -np.diff(s)
    bad = int((drops < 0).sum()) + int((s < 0).sum())
    if bad:
        raise _fail("survivors must be >= 0 and non-increasing", "survivors",
                    "survivors_nonincreasing", bad)
    k = s.size - 1
    periods = np.concatenate([np.arange(1, k + 1, dtype=np.float64), [float(k)]])
    churned = np.concatenate([np.ones(k), [0.0]])
    return periods, churned, np.concatenate([drops, s[-1:]])


def fit_survivors(survivors: ArrayLike, **kwargs) -> tuple[SBGParams, FitInfo]:
    """Fit from a survivor table (eq. 7 of Fader & Hardie 2007); ``kwargs`` go to :func:`fit`."""
    periods, churned, weights = survivors_to_subscribers(survivors)
    return fit(periods, churned, weights=weights, **kwargs)


def churn_probability(params: SBGParams, t: ArrayLike) -> FloatArray:
    """``P(T = t)`` for whole ``t >= 1``, eq. (5)."""
    ta = check_t(t)
    return np.exp(betaln(params.alpha + 1.0, params.beta + ta - 1.0)
                  - betaln(params.alpha, params.beta))


def survival(params: SBGParams, t: ArrayLike) -> FloatArray:
    """``S(t) = P(T > t)``, eq. (6); ``S(0) = 1``."""
    ta = check_t(t)
    return np.exp(betaln(params.alpha, params.beta + ta) - betaln(params.alpha, params.beta))


def retention_rate(params: SBGParams, t: ArrayLike) -> FloatArray:
    """``r_t = (beta + t - 1) / (alpha + beta + t - 1)``, eq. (8), for ``t >= 1``."""
    ta = check_t(t)
    return (params.beta + ta - 1.0) / (params.alpha + params.beta + ta - 1.0)


def p_alive(params: SBGParams, n: ArrayLike, m: ArrayLike = 1) -> FloatArray:
    """P(still subscribed after ``n + m`` periods | subscribed after ``n``) = S(n+m) / S(n)."""
    na, ma = np.broadcast_arrays(check_t(n), check_t(m))
    a, b = params.alpha, params.beta
    return np.exp(betaln(a, b + na + ma) - betaln(a, b + na))


def expected_alive_periods(params: SBGParams, n: ArrayLike, horizon: ArrayLike) -> FloatArray:
    """Expected number of the next ``horizon`` period ends at which a subscriber who has renewed
    ``n`` times is still subscribed: ``sum_{k=1}^{h} S(n + k) / S(n)`` (whole ``h``; linear in
    between)."""
    na, ha = np.broadcast_arrays(check_t(n), check_t(horizon))
    out = np.zeros(na.shape)
    h_max = int(np.ceil(ha.max())) if ha.size else 0
    if h_max == 0:
        return out
    k = np.arange(1, h_max + 1, dtype=np.float64)
    ratios = p_alive(params, na[..., None], k)
    cum = np.concatenate([np.zeros(na.shape + (1,)), np.cumsum(ratios, axis=-1)], axis=-1)
    lo = np.floor(ha).astype(np.intp)
    hi = np.minimum(lo + 1, h_max)
    frac = ha - lo
    take = lambda i: np.take_along_axis(cum, i[..., None], axis=-1)[..., 0]  # noqa: E731
    return take(lo) + frac * (take(hi) - take(lo))


def discounted_expected_residual_lifetime(params: SBGParams, n: ArrayLike,
                                          discount_rate: float) -> FloatArray:
    """DERL of a subscriber who has made ``n`` renewals, eq. (6) of Fader & Hardie (2010):
    ``(beta + n) / (alpha + beta + n) * 2F1(1, beta + n + 1; alpha + beta + n + 1; 1/(1+d))``,
    the expected discounted number of future payments counting the one due now."""
    na = check_t(n)
    d = float(discount_rate)
    if not np.isfinite(d) or d <= 0:
        raise DataValidationError(f"discount_rate must be > 0 (rule discount_positive): got {d}",
                                  column="discount_rate", rule="discount_positive")
    a, b = params.alpha, params.beta
    return (b + na) / (a + b + na) * hyp2f1(1.0, b + na + 1.0, a + b + na + 1.0, 1.0 / (1.0 + d))
