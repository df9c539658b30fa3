"""Customer lifetime value from a purchase model (BG/NBD or Pareto/NBD) and a spend model.

CLV over a horizon is the discounted sum, over steps of the horizon, of the expected number of
purchases in each step times the expected spend per purchase (Fader, Hardie & Lee 2005b, "RFM and
CLV", with the discrete discounting of ``lifetimes.utils.customer_lifetime_value``). The spend
model is independent of the purchase model (the Gamma-Gamma assumption), so the product of
expectations is the expectation of the product.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ltvkit.btyd import bgbb, bgnbd, gamma_gamma, mbgnbd, pareto_nbd
from ltvkit.btyd._fit import FloatArray, as_float_array, check_finite
from ltvkit.btyd.bgbb import BGBBParams
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.gamma_gamma import GammaGammaParams
from ltvkit.btyd.mbgnbd import MBGNBDParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams
from ltvkit.errors import TaskError

__all__ = ["PurchaseParams", "clv", "expected_purchases", "p_alive"]

PurchaseParams = BGNBDParams | ParetoNBDParams | MBGNBDParams | BGBBParams

# The module of each purchase model's parameter class; for BG/BB "T" is the number of
# opportunities n and times are counted in opportunities.
_MODULES = {BGNBDParams: bgnbd, ParetoNBDParams: pareto_nbd, MBGNBDParams: mbgnbd,
            BGBBParams: bgbb}


def _module(params: PurchaseParams):
    module = _MODULES.get(type(params))
    if module is None:
        names = ", ".join(c.__name__ for c in _MODULES)
        raise TypeError(f"expected one of {names}, got {type(params).__name__}")
    return module


def expected_purchases(params: PurchaseParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike) -> FloatArray:
    """Expected purchases in (T, T + t] under any purchase model (dispatch on the params type).

    See :func:`ltvkit.btyd.bgnbd.expected_purchases`, :func:`ltvkit.btyd.pareto_nbd.expected_purchases`,
    :func:`ltvkit.btyd.mbgnbd.expected_purchases` and :func:`ltvkit.btyd.bgbb.expected_purchases`.
    """
    return _module(params).expected_purchases(params, t, x, t_x, T)


def p_alive(params: PurchaseParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability of being active at T under any purchase model (dispatch on the params type)."""
    return _module(params).p_alive(params, x, t_x, T)


def _positive_scalar(value: float, name: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise TaskError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def clv(
    purchase_params: PurchaseParams,
    spend_params: GammaGammaParams | None,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    zbar: ArrayLike,
    horizon: float,
    *,
    period_length: float = 1.0,
    discount_rate: float = 0.0,
    n_steps: int | None = None,
) -> FloatArray:
    """Expected (discounted) value of each customer's purchases in (T, T + horizon].

    ``CLV = sum_k E[purchases in (t_{k-1}, t_k]] * E[spend per purchase]
    / (1 + discount_rate)^(t_k / period_length)`` with ``t_k = k * horizon / n_steps``. With the
    default ``n_steps = ceil(horizon / period_length)`` and a horizon that is a whole number of
    periods, the exponent is the step number ``k``, as in
    ``lifetimes.utils.customer_lifetime_value`` (there the period is a month). With
    ``discount_rate = 0`` the sum telescopes to ``expected_purchases(horizon) * spend``.

    Parameters
    ----------
    purchase_params : BGNBDParams or ParetoNBDParams
        Fitted purchase model; the time unit of ``t_x``, ``T``, ``horizon`` and ``period_length``
        must be the one it was fitted in.
    spend_params : GammaGammaParams or None
        Fitted spend model; the expected spend is
        :func:`ltvkit.btyd.gamma_gamma.conditional_expected_spend` of (x, zbar). With None,
        ``zbar`` itself is used as the expected spend per purchase.
    x, t_x, T : array_like
        Repeat purchases, recency and age of each customer.
    zbar : array_like
        Mean spend of each customer's repeat purchases (ignored by the spend model where x = 0).
    horizon : float
        Length of the prediction window (>= 0).
    period_length : float
        Length of the period that ``discount_rate`` applies to (> 0).
    discount_rate : float
        Discount rate per period (> -1; 0 for no discounting).
    n_steps : int, optional
        Number of equal steps the horizon is cut into; default ``ceil(horizon / period_length)``.

    Returns
    -------
    ndarray
        CLV per customer, in the currency of ``zbar``, shaped like the broadcast customer arrays.

    Raises
    ------
    TaskError
        If horizon, period_length, discount_rate or n_steps are out of range.
    DataValidationError
        If the customer data break the model's input rules.
    """
    horizon = _positive_scalar(horizon, "horizon", allow_zero=True)
    period_length = _positive_scalar(period_length, "period_length")
    rate = float(discount_rate)
    if not math.isfinite(rate) or rate <= -1.0:
        raise TaskError(f"discount_rate must be a finite number > -1, got {discount_rate!r}")
    if n_steps is None:
        # the small slack keeps a horizon of exactly k periods at k steps despite rounding
        n_steps = max(1, math.ceil(horizon / period_length - 1e-9))
    elif int(n_steps) != n_steps or n_steps < 1:
        raise TaskError(f"n_steps must be a positive integer, got {n_steps!r}")
    n_steps = int(n_steps)
    za = as_float_array(zbar, "zbar")
    check_finite(za, "zbar")
    xa, ta, Ta, za = np.broadcast_arrays(as_float_array(x, "x"), as_float_array(t_x, "t_x"),
                                         as_float_array(T, "T"), za)
    shape = xa.shape
    xa, ta, Ta, za = (np.ravel(v) for v in (xa, ta, Ta, za))
    if spend_params is None:
        spend = za
    else:
        spend = gamma_gamma.conditional_expected_spend(spend_params, xa, za)
    bounds = horizon * np.arange(n_steps + 1) / n_steps
    cumulative = expected_purchases(purchase_params, bounds[:, None], xa, ta, Ta)
    per_step = np.diff(cumulative, axis=0)
    discount = (1.0 + rate) ** (-bounds[1:] / period_length)
    return ((discount @ per_step) * spend).reshape(shape)
