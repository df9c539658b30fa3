"""The probability functions users of lifetimes and pymc-marketing call, on every purchase model
where they are defined.

* :func:`probability_of_n_purchases_up_to_time` - P(X(t) = n) for a new customer: BG/NBD
  (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way", Marketing Science 24(2),
  eq. 8), MBG/NBD (the same steps with the dropout at time 0 of Batislam, Denizel & Filiztekin
  2007, IJRM 24(3)) and BG/BB (Fader, Hardie & Shang 2010, Marketing Science 29(6), eq. 8).
* :func:`conditional_probability_of_n_purchases_up_to_time` - P(Y(t) = n | x, t_x, T): a customer
  alive at T has the posterior ``lambda ~ Gamma(r + x, alpha + T)``, ``p ~ Beta(a, b + x)``
  (MBG/NBD: ``b + x + 1``), independent, and from T on buys like a new BG/NBD customer with those
  parameters; a dead one buys nothing. So the conditional law is the unconditional one at the
  updated parameters, mixed with a point mass at 0 by P(alive).
  For Pareto/NBD the same holds with ``lambda ~ Gamma(r + x, alpha + T)``, ``mu ~ Gamma(s,
  beta + T)``: the remaining lifetime is then Lomax, and P(n) is a one-dimensional integral of
  the NBD count over it (Gauss-Legendre, 64 nodes); the unconditional P(X(t) = n) is the same
  integral at the prior.
* :func:`expected_probability_no_purchase` - P(Y(t) = 0 | history) (pymc-marketing's
  ``expected_probability_no_purchase``).
* :func:`p_alive_at` - P(alive at T + t | history): for BG/NBD and MBG/NBD ``P(alive) E[exp(-lambda
  p t)]`` over the posterior, ``= P(alive) ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b'; a+b';
  t/(alpha+T+t))`` (Euler's integral and Pfaff's transformation); for Pareto/NBD ``P(alive)
  ((beta+T)/(beta+T+t))^s`` (Schmittlein, Morrison & Colombo 1987, Management Science 33(1));
  for BG/BB eq. (11) of FHS (2010) with t further opportunities.
* :func:`p_alive_matrix`, :func:`expected_purchases_matrix` - over a (frequency, recency) grid
  at one age, as lifetimes' plotting helpers compute them.
* :func:`p_alive_path` - a customer's P(alive) at each time on a grid, from their purchase times.
* :func:`expected_cumulative_transactions` - expected repeat transactions of a cohort up to each
  time (the tracking plot of Fader, Hardie & Lee 2005, Figure 3).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, gammaln, hyp2f1

from ltvkit.btyd import bgbb, bgnbd, mbgnbd, pareto_nbd
from ltvkit.btyd._fit import FloatArray, as_float_array, check_finite, check_rfm, check_t
from ltvkit.btyd.bgbb import BGBBParams
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.clv import PurchaseParams, expected_purchases, p_alive
from ltvkit.btyd.mbgnbd import MBGNBDParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams
from ltvkit.errors import DataValidationError

__all__ = [
    "conditional_probability_of_n_purchases_up_to_time",
    "expected_cumulative_transactions",
    "expected_probability_no_purchase",
    "expected_purchases_matrix",
    "expected_purchases_new",
    "p_alive_at",
    "p_alive_matrix",
    "p_alive_path",
    "probability_of_n_purchases_up_to_time",
]

#: Gauss-Legendre nodes of the Pareto/NBD integral over the remaining lifetime.
_N_NODES = 64

_NEW = {BGNBDParams: bgnbd.expected_purchases_new, MBGNBDParams: mbgnbd.expected_purchases_new,
        ParetoNBDParams: pareto_nbd.expected_purchases_new,
        BGBBParams: bgbb.expected_purchases_new}


def _counts(n: ArrayLike) -> FloatArray:
    na = as_float_array(n, "n")
    check_finite(na, "n")
    bad = (na < 0) | (na != np.round(na))
    if bad.any():
        raise DataValidationError(f"n must be a non-negative whole number (rule "
                                  f"n_nonnegative_integer): {int(bad.sum())} values break it",
                                  column="n", rule="n_nonnegative_integer", n_rows=int(bad.sum()))
    return na


def _bg_pmf(r, alpha, a, b, t, n, *, drop_at_zero: bool) -> FloatArray:
    """P(X(t) = n) of a BG/NBD (or, with ``drop_at_zero``, MBG/NBD) customer, vectorised.

    Given lambda and p, BG/NBD: ``(1-p)^n Pois(n; lambda t) + [n>0] p (1-p)^(n-1)
    P(Pois(lambda t) >= n)``; MBG/NBD multiplies by the survival of time 0, ``1 - p``, and adds
    ``p`` at n = 0. Mixed over Gamma(r, alpha) and Beta(a, b).
    """
    r, alpha, a, b, t, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                  for v in (r, alpha, a, b, t, n)))
    log_q = np.log(alpha) - np.log(alpha + t)          # log(alpha / (alpha + t))
    log_1mq = np.log(t) - np.log(alpha + t)            # log(t / (alpha + t))
    shift = 1.0 if drop_at_zero else 0.0

    def nbd_log(j):  # log NBD(j; r, alpha, t) = log Gamma(r+j)/(Gamma(r) j!) q^r (1-q)^j
        with np.errstate(invalid="ignore"):
            term = np.where(j > 0, j * log_1mq, 0.0)
        return gammaln(r + j) - gammaln(r) - gammaln(j + 1.0) + r * log_q + term

    first = np.exp(betaln(a, b + n + shift) - betaln(a, b) + nbd_log(n))
    # P(NBD >= n) = 1 - sum_{j < n} NBD(j); summed up to the largest n
    n_max = int(n.max()) if n.size else 0
    cdf_below = np.zeros(n.shape)
    for j in range(n_max):
        cdf_below += np.where(j < n, np.exp(nbd_log(np.full(n.shape, float(j)))), 0.0)
    tail = np.clip(1.0 - cdf_below, 0.0, 1.0)
    second = np.where(n > 0, np.exp(betaln(a + 1.0, b + n - 1.0 + shift) - betaln(a, b)) * tail,
                      0.0)
    zero = np.where(n == 0, a / (a + b), 0.0) if drop_at_zero else 0.0
    return first + second + zero


def probability_of_n_purchases_up_to_time(params: PurchaseParams, t: ArrayLike,
                                          n: ArrayLike) -> FloatArray:
    """P(X(t) = n): probability that a new customer makes exactly n repeat purchases in (0, t]
    (BG/BB: in the first t opportunities). Broadcasts ``t`` against ``n``.

    Raises
    ------
    NotImplementedError
        For a parameter type without an expression here.
    """
    ta = check_t(t)
    na = _counts(n)
    if isinstance(params, BGBBParams):
        return bgbb.probability_of_n_purchases_up_to_time(params, ta, na)
    if isinstance(params, BGNBDParams | MBGNBDParams):
        return _bg_pmf(params.r, params.alpha, params.a, params.b, ta, na,
                       drop_at_zero=isinstance(params, MBGNBDParams))
    if isinstance(params, ParetoNBDParams):
        return _pareto_pmf(params.r, params.alpha, params.s, params.beta, ta, na)
    raise NotImplementedError(f"probability_of_n_purchases_up_to_time is not available for "
                              f"{type(params).__name__}")


def conditional_probability_of_n_purchases_up_to_time(
        params: BGNBDParams | MBGNBDParams | ParetoNBDParams, t: ArrayLike, n: ArrayLike,
        x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(Y(t) = n | x, t_x, T): exactly n purchases in (T, T + t] given the history (see the
    module docstring); broadcasts ``t``, ``n`` and the customer arrays."""
    if isinstance(params, ParetoNBDParams):
        ta = check_t(t)
        na = _counts(n)
        xa, txa, Ta = check_rfm(x, t_x, T)
        alive = pareto_nbd.p_alive(params, xa, txa, Ta)
        pmf = _pareto_pmf(params.r + xa, params.alpha + Ta, params.s, params.beta + Ta, ta, na)
        return alive * pmf + (1.0 - alive) * (na == 0)
    if not isinstance(params, BGNBDParams | MBGNBDParams):
        raise NotImplementedError(f"conditional_probability_of_n_purchases_up_to_time is not "
                                  f"available for {type(params).__name__}")
    ta = check_t(t)
    na = _counts(n)
    xa, txa, Ta = check_rfm(x, t_x, T)
    alive = p_alive(params, xa, txa, Ta)
    shift = 1.0 if isinstance(params, MBGNBDParams) else 0.0
    pmf = _bg_pmf(params.r + xa, params.alpha + Ta, params.a, params.b + xa + shift, ta, na,
                  drop_at_zero=False)
    return alive * pmf + (1.0 - alive) * (na == 0)


def _pareto_pmf(r, alpha, s, beta, t, n) -> FloatArray:
    """P(X(t) = n) of a Pareto/NBD customer alive at time 0 with parameters (r, alpha, s, beta):
    the lifetime tau is Lomax(s, beta) (an exponential with a gamma rate), and given it the count
    is NBD(r, alpha) over ``min(tau, t)``; the integral over tau < t is Gauss-Legendre."""
    r, alpha, beta, t, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                 for v in (r, alpha, beta, t, n)))
    shape = r.shape
    r, alpha, beta, t, n = (v.ravel() for v in (r, alpha, beta, t, n))

    def nbd(u):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_u = np.where(n > 0, n * (np.log(u) - np.log(alpha + u)), 0.0)
        return np.exp(gammaln(r + n) - gammaln(r) - gammaln(n + 1.0)
                      + r * (np.log(alpha) - np.log(alpha + u)) + log_u)

    nodes, weights = np.polynomial.legendre.leggauss(_N_NODES)
    integral = np.zeros(t.shape)
    for u, wq in zip(0.5 * (nodes + 1.0), weights, strict=True):
        tau = u * t
        dens = s / beta * (1.0 + tau / beta) ** (-s - 1.0)
        integral += wq * dens * nbd(tau)
    out = 0.5 * t * integral + (beta / (beta + t)) ** s * nbd(t)
    return out.reshape(shape)


def expected_probability_no_purchase(params: BGNBDParams | MBGNBDParams | ParetoNBDParams,
                                     t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                                     T: ArrayLike) -> FloatArray:
    """P(no purchase in (T, T + t] | x, t_x, T):
    :func:`conditional_probability_of_n_purchases_up_to_time` at n = 0 (BG/BB:
    :func:`ltvkit.btyd.bgbb.probability_no_purchase`, ``T`` the opportunities n)."""
    if isinstance(params, BGBBParams):
        return bgbb.probability_no_purchase(params, t, x, t_x, T)
    return conditional_probability_of_n_purchases_up_to_time(params, t, 0, x, t_x, T)


def p_alive_at(params: PurchaseParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
               T: ArrayLike) -> FloatArray:
    """P(alive at T + t | x, t_x, T) (t = 0: the usual P(alive) at the cutoff); see the module
    docstring. ``t`` broadcasts against the customer arrays."""
    ta = check_t(t)
    if isinstance(params, BGBBParams):
        return bgbb.p_alive(params, x, t_x, T, ta)
    xa, txa, Ta = check_rfm(x, t_x, T)
    alive = p_alive(params, xa, txa, Ta)
    if isinstance(params, ParetoNBDParams):
        return alive * ((params.beta + Ta) / (params.beta + Ta + ta)) ** params.s
    shift = 1.0 if isinstance(params, MBGNBDParams) else 0.0
    r1, a1, b1 = params.r + xa, params.alpha + Ta, params.b + xa + shift
    z = ta / (a1 + ta)
    keep = np.exp(r1 * (np.log(a1) - np.log(a1 + ta))) * hyp2f1(r1, b1, params.a + b1, z)
    return alive * keep


def _grid(max_frequency: int, max_recency: float, T: float | None, n_recency: int | None):
    f = np.arange(int(max_frequency) + 1, dtype=np.float64)
    rec = (np.arange(int(max_recency) + 1, dtype=np.float64) if n_recency is None
           else np.linspace(0.0, float(max_recency), int(n_recency)))
    age = float(max_recency) if T is None else float(T)
    F, R = np.meshgrid(f, rec, indexing="ij")
    valid = ((F == 0) & (R == 0)) | ((F > 0) & (R > 0) & (R <= age))
    return F, R, np.full(F.shape, age), valid


def p_alive_matrix(params: PurchaseParams, max_frequency: int, max_recency: float,
                   T: float | None = None, n_recency: int | None = None) -> FloatArray:
    """P(alive) on the grid ``frequency 0..max_frequency`` x ``recency 0..max_recency`` (whole
    units, or ``n_recency`` evenly spaced values) at age ``T`` (default ``max_recency``), NaN
    where the history is impossible (x = 0 with recency > 0, x > 0 with recency 0; BG/BB: also
    x > recency)."""
    F, R, A, valid = _grid(max_frequency, max_recency, T, n_recency)
    if isinstance(params, BGBBParams):
        valid &= F <= R
    out = np.full(F.shape, np.nan)
    out[valid] = p_alive(params, F[valid], R[valid], A[valid])
    return out


def expected_purchases_matrix(params: PurchaseParams, t: float, max_frequency: int,
                              max_recency: float, T: float | None = None,
                              n_recency: int | None = None) -> FloatArray:
    """Expected purchases in (T, T + t] on the grid of :func:`p_alive_matrix`."""
    F, R, A, valid = _grid(max_frequency, max_recency, T, n_recency)
    if isinstance(params, BGBBParams):
        valid &= F <= R
    out = np.full(F.shape, np.nan)
    out[valid] = expected_purchases(params, float(t), F[valid], R[valid], A[valid])
    return out


def p_alive_path(params: PurchaseParams, purchase_times: ArrayLike, end: float,
                 step: float = 1.0) -> tuple[FloatArray, FloatArray]:
    """A customer's P(alive) at each time ``0, step, 2 step, ..., end`` after their first
    purchase, from the times of their repeat purchases (model units; for BG/BB whole
    opportunities). Returns ``(times, p_alive)``.

    At time u the history is ``x(u)`` = purchases in (0, u], ``t_x(u)`` = the last of them.
    """
    pt = np.sort(as_float_array(purchase_times, "purchase_times").ravel())
    check_finite(pt, "purchase_times")
    if np.any(pt <= 0) or (pt.size and pt[-1] > end):
        bad = int(np.sum((pt <= 0) | (pt > end)))
        raise DataValidationError(f"purchase_times must lie in (0, end] (rule "
                                  f"purchase_times_in_range): {bad} values break it",
                                  column="purchase_times", rule="purchase_times_in_range",
                                  n_rows=bad)
    times = np.arange(0.0, float(end) + step * 1e-9, float(step))
    x = np.searchsorted(pt, times, side="right").astype(np.float64)
    t_x = np.where(x > 0, pt[np.maximum(x.astype(np.intp) - 1, 0)] if pt.size else 0.0, 0.0)
    return times, p_alive(params, x, t_x, times)


def expected_purchases_new(params: PurchaseParams, t: ArrayLike) -> FloatArray:
    """Expected repeat purchases of a new customer in (0, t] under any purchase model."""
    try:
        return _NEW[type(params)](params, t)
    except KeyError:
        raise TypeError(f"no model for {type(params).__name__}") from None


def expected_cumulative_transactions(params: PurchaseParams, first_purchase: ArrayLike,
                                     times: ArrayLike) -> FloatArray:
    """Expected repeat transactions of a cohort up to each of ``times``:
    ``sum_i E[X(time - first_purchase_i)]`` over customers acquired before that time (the
    tracking plot). ``first_purchase`` and ``times`` are in model units on one clock."""
    fp = as_float_array(first_purchase, "first_purchase").ravel()
    check_finite(fp, "first_purchase")
    tm = as_float_array(times, "times").ravel()
    check_finite(tm, "times")
    # customers who share an acquisition time share the curve
    uniq, counts = np.unique(fp, return_counts=True)
    age = np.clip(tm[:, None] - uniq[None, :], 0.0, None)
    return expected_purchases_new(params, age) @ counts
