"""Shared plumbing of the Buy-'Til-You-Die models: input checks, row compression and the
maximum-likelihood drivers.

Every model in :mod:`ltvkit.btyd` is fitted the same way: the data are checked, identical rows are
merged into weights, times are rescaled so that the oldest customer has age 1, and the mean
negative log-likelihood is minimised over the logarithms of the parameters with BFGS and an
analytic gradient. The purchase models (BG/NBD, Pareto/NBD) share the whole driver,
:func:`fit_purchase_model`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from ltvkit.errors import DataValidationError, ModelError

FloatArray = NDArray[np.float64]

#: Default cap on optimiser iterations; the CDNOW fits need 15 to 40.
DEFAULT_MAXITER = 1000

# BFGS stops when the largest gradient component (w.r.t. log-parameters) of the mean NLL is below
# GTOL: tight, because the likelihood surfaces are flat along some directions (s and beta of the
# Pareto/NBD) and the tests compare parameters with published values to 4 or 5 digits.
GTOL = 1e-9
# When the line search can no longer improve the objective in floating point (scipy's "precision
# loss"), the point is accepted as converged if the gradient is still this small.
GTOL_PRECISION_LOSS = 1e-6

# Fitted parameters (in the rescaled units) outside this range mean that the likelihood has no
# interior maximum (the optimiser runs off to a boundary), which we report instead of nonsense.
_PARAM_RANGE = (1e-6, 1e6)


@dataclass(frozen=True)
class FitInfo:
    """Diagnostics of a maximum-likelihood fit.

    Attributes
    ----------
    success : bool
        Whether the optimiser reported convergence (always True on a returned fit: a fit that does
        not converge raises :class:`ltvkit.errors.ModelError`).
    n_iterations : int
        Optimiser iterations.
    neg_log_likelihood : float
        Total negative log-likelihood of the data at the estimate (sum over customers, weighted,
        without the penalty term), comparable across models fitted to the same data.
    message : str
        The optimiser's closing message.
    n_evaluations : int
        Evaluations of the objective and its gradient.
    n_customers : float
        Sum of the weights (the number of customers when no weights are given).
    n_unique_rows : int
        Distinct data rows the likelihood was evaluated on after merging identical rows.
    """

    success: bool
    n_iterations: int
    neg_log_likelihood: float
    message: str
    n_evaluations: int = 0
    n_customers: float = 0.0
    n_unique_rows: int = 0
    # Why the returned fit is not the plain maximum-likelihood estimate ("" when it is), e.g. a
    # likelihood without an interior maximum answered by a penalised fit.
    reason: str = ""
    # The penalty (log_penalizer) the returned fit used.
    log_penalizer: float = 0.0


def set_positive_params(params: object, names: Sequence[str], model: str) -> None:
    """Store each field ``names`` of the frozen parameter dataclass ``params`` as a float,
    raising :class:`ltvkit.errors.ModelError` if one is not positive and finite (for
    ``__post_init__``)."""
    for name in names:
        value = float(getattr(params, name))
        if not (np.isfinite(value) and value > 0):
            raise ModelError(f"{model} parameter {name} must be positive and finite, "
                             f"got {value!r}")
        object.__setattr__(params, name, value)


def _fail(message: str, column: str, rule: str, n_rows: int) -> DataValidationError:
    return DataValidationError(
        f"{message} (rule {rule}): {n_rows} row{'s' if n_rows != 1 else ''} break it",
        column=column,
        rule=rule,
        n_rows=n_rows,
    )


def as_float_array(values: ArrayLike, name: str) -> FloatArray:
    """Return ``values`` as a float64 array, raising DataValidationError if it is not numeric."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"{name} must be numeric (rule numeric): {exc}", column=name, rule="numeric"
        ) from exc
    return arr


def check_finite(arr: FloatArray, name: str) -> None:
    """Raise DataValidationError naming ``name`` if ``arr`` holds NaN or infinite values."""
    bad = ~np.isfinite(arr)
    if bad.any():
        raise _fail(f"{name} must be finite", name, "finite", int(bad.sum()))


def check_rfm(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate frequency/recency/age data and broadcast them to one shape.

    Parameters
    ----------
    x : array_like
        Number of repeat purchases; integers >= 0.
    t_x : array_like
        Time of the last repeat purchase since the first purchase; 0 <= t_x <= T, and t_x == 0
        when x == 0.
    T : array_like
        Age of the customer (time from the first purchase to the end of calibration).

    Returns
    -------
    x, t_x, T : ndarray
        Float64 arrays of a common (broadcast) shape.

    Raises
    ------
    DataValidationError
        Naming the rule and the number of rows that break it.
    """
    xa = as_float_array(x, "x")
    ta = as_float_array(t_x, "t_x")
    Ta = as_float_array(T, "T")
    try:
        xa, ta, Ta = np.broadcast_arrays(xa, ta, Ta)
    except ValueError as exc:
        raise DataValidationError(
            f"x, t_x and T must have the same length (rule same_shape): shapes {xa.shape}, "
            f"{ta.shape}, {Ta.shape}",
            rule="same_shape",
        ) from exc
    for arr, name in ((xa, "x"), (ta, "t_x"), (Ta, "T")):
        check_finite(arr, name)
    bad = (xa < 0) | (xa != np.round(xa))
    if bad.any():
        raise _fail("x must be a non-negative integer", "x", "x_nonnegative_integer",
                    int(bad.sum()))
    bad = ta < 0
    if bad.any():
        raise _fail("t_x must be >= 0", "t_x", "t_x_nonnegative", int(bad.sum()))
    bad = ta > Ta
    if bad.any():
        raise _fail("t_x must be <= T", "t_x", "t_x_le_T", int(bad.sum()))
    bad = (xa == 0) & (ta != 0)
    if bad.any():
        raise _fail("x == 0 implies t_x == 0", "t_x", "x_zero_implies_t_x_zero",
                    int(bad.sum()))
    return xa, ta, Ta


def check_t(t: ArrayLike) -> FloatArray:
    """Validate the length(s) ``t`` of a prediction window: finite and >= 0."""
    ta = as_float_array(t, "t")
    check_finite(ta, "t")
    bad = ta < 0
    if bad.any():
        raise DataValidationError(f"t must be >= 0 (rule t_nonnegative): {int(bad.sum())} "
                                  "values break it", column="t", rule="t_nonnegative",
                                  n_rows=int(bad.sum()))
    return ta


def check_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Return validated non-negative finite weights of length ``n`` (ones when None)."""
    if weights is None:
        return np.ones(n)
    w = as_float_array(weights, "weights")
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise DataValidationError(
            f"weights must have one entry per row (rule same_shape): {w.shape} vs ({n},)",
            column="weights", rule="same_shape",
        )
    check_finite(w, "weights")
    bad = w < 0
    if bad.any():
        raise _fail("weights must be >= 0", "weights", "weights_nonnegative", int(bad.sum()))
    if not w.sum() > 0:
        raise DataValidationError("weights must not all be zero (rule weights_positive_sum)",
                                  column="weights", rule="weights_positive_sum")
    return np.asarray(w, dtype=np.float64)


def unique_rows(columns: Sequence[FloatArray]) -> tuple[list[FloatArray], NDArray[np.intp]]:
    """Distinct rows of equal-length 1-D columns, in lexicographic order, and the inverse index.

    Returns ``(unique_columns, inverse)`` with ``unique_columns[j][inverse] == columns[j]``.
    """
    # lexsort + diff is several times faster than np.unique(..., axis=0) on float rows
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    n = order.size
    new = np.empty(n, dtype=bool)
    new[:1] = True
    if n > 1:
        change = np.zeros(n - 1, dtype=bool)
        for c in sorted_cols:
            change |= c[1:] != c[:-1]
        new[1:] = change
    group = np.cumsum(new) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group
    return [c[new] for c in sorted_cols], inverse


def compress_rows(
    columns: Sequence[FloatArray], weights: FloatArray
) -> tuple[list[FloatArray], FloatArray]:
    """Merge identical rows into one row carrying the summed weight.

    The likelihood of a BTYD model depends on a customer only through a few summary statistics,
    and real calibration data repeat them a lot (every one-time buyer of a cohort shares one row),
    so fitting on the distinct rows is exact and much faster.

    Parameters
    ----------
    columns : sequence of 1-D arrays of equal length
    weights : 1-D array of the same length

    Returns
    -------
    unique_columns : list of arrays
        The distinct rows, column by column, in lexicographic order.
    unique_weights : array
        Summed weight of each distinct row (rows of weight 0 are dropped).
    """
    keep = weights > 0
    if not keep.all():
        columns = [c[keep] for c in columns]
        weights = weights[keep]
    unique_cols, inverse = unique_rows(columns)
    unique_weights = np.bincount(inverse, weights=weights, minlength=unique_cols[0].size)
    return unique_cols, unique_weights


def time_scale(T: FloatArray) -> float:
    """Factor that maps the largest age to 1 (so scale parameters start near 1 at any unit)."""
    t_max = float(np.max(T)) if T.size else 0.0
    return 1.0 / t_max if t_max > 0 else 1.0


Objective = Callable[[FloatArray], tuple[float, FloatArray]]


def maximize_likelihood(
    objective: Objective,
    initial: FloatArray,
    *,
    names: Sequence[str],
    total_weight: float,
    n_unique_rows: int,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    maxiter: int = DEFAULT_MAXITER,
    model: str = "model",
    nll_offset: float = 0.0,
    scale_note: str = "",
) -> tuple[FloatArray, FitInfo]:
    """Minimise a mean negative log-likelihood over log-parameters with BFGS.

    BFGS rather than L-BFGS-B because scipy's L-BFGS-B calls multithreaded OpenBLAS routines on
    its tiny work matrices, whose thread overhead dominates when the cores are busy (it can
    exceed the cost of the whole BG/NBD fit); with four parameters the full BFGS matrix is free.

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (mean_nll, grad)`` where ``theta`` are the (positive) parameters and
        ``grad`` is the gradient with respect to ``log(theta)``; it returns ``(inf, nan...)`` or any
        non-finite value where the likelihood cannot be evaluated.
    initial : array
        Positive starting parameters.
    names : sequence of str
        Parameter names, for messages.
    total_weight : float
        Sum of the weights; the mean NLL times this is the reported total NLL.
    n_unique_rows : int
        Rows the objective is evaluated on, for the diagnostics.
    penalizer : float
        Coefficient of an L2 penalty ``penalizer * sum(theta**2)`` added to the mean NLL (as in
        ``lifetimes``); it keeps the estimates finite on small or degenerate data.
    maxiter : int
        Iteration cap of BFGS.
    model : str
        Model name, for messages.
    nll_offset : float
        Added to the reported total NLL; the models pass the log-Jacobian of the time rescaling so
        that the report is in the time unit of the data.
    scale_note : str
        How the parameters in error messages are scaled (they are the optimiser's).

    Returns
    -------
    theta : array
        Parameter estimates.
    info : FitInfo

    Raises
    ------
    ModelError
        If the optimiser does not converge, the likelihood is not finite at the estimate, or the
        estimates run off to 0 or infinity.
    """
    if not np.isfinite(penalizer) or penalizer < 0:
        raise ModelError(f"{model}: penalizer must be a finite number >= 0, got {penalizer!r}")
    x0 = np.log(np.asarray(initial, dtype=np.float64))
    if not np.all(np.isfinite(x0)):
        raise ModelError(f"{model}: initial parameters must be positive and finite, got {initial}")
    n_eval = 0

    def fun(log_theta: FloatArray) -> tuple[float, FloatArray]:
        nonlocal n_eval
        n_eval += 1
        # clip so that a wild line-search step gives a large finite value instead of overflow
        theta = np.exp(np.clip(log_theta, -50.0, 50.0))
        with np.errstate(all="ignore"):
            value, grad = objective(theta)
        if penalizer:
            value = value + penalizer * float(np.sum(theta**2))
            grad = grad + 2.0 * penalizer * theta**2
        if log_penalizer:
            # A weak log-normal prior centred on 1 (rescaled units): keeps the fit interior.
            value = value + log_penalizer * float(np.sum(log_theta**2))
            grad = grad + 2.0 * log_penalizer * log_theta
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            # the line search backtracks from a large finite value; inf or nan would abort it
            return 1e300, np.zeros_like(log_theta)
        return float(value), grad

    note = f" ({scale_note})" if scale_note else ""

    def show(values: FloatArray) -> str:
        return ", ".join(f"{k}={v:.6g}" for k, v in zip(names, values, strict=True)) + note

    value0, _ = fun(x0)
    if value0 >= 1e300:
        raise ModelError(f"{model}: the log-likelihood is not finite at the initial parameters "
                         f"{show(np.exp(x0))}")
    res = minimize(fun, x0, jac=True, method="BFGS",
                   options={"maxiter": int(maxiter), "gtol": GTOL})
    theta = np.exp(res.x)
    message = str(res.message).rstrip(".")
    estimate = show(theta)
    lo, hi = _PARAM_RANGE
    off_boundary = bool(np.any(theta < lo) or np.any(theta > hi))
    converged = res.success or (
        res.status == 2 and np.max(np.abs(res.jac)) < GTOL_PRECISION_LOSS and res.fun < 1e300)
    if off_boundary:
        raise ModelError(f"{model} fit ran off to a boundary (the likelihood has no interior "
                         f"maximum on these data; try log_penalizer=0.01): parameters {estimate}")
    if not converged:
        raise ModelError(f"{model} fit did not converge after {res.nit} iterations ({message}); "
                         f"last parameters {estimate}")
    with np.errstate(all="ignore"):
        mean_nll, _ = objective(theta)
    if not np.isfinite(mean_nll) or res.fun >= 1e300:
        raise ModelError(f"{model} fit ended at a non-finite log-likelihood; parameters {estimate}")
    info = FitInfo(
        success=bool(converged),
        n_iterations=int(res.nit),
        neg_log_likelihood=float(mean_nll * total_weight + nll_offset),
        message=message,
        n_evaluations=n_eval,
        n_customers=float(total_weight),
        n_unique_rows=int(n_unique_rows),
    )
    return theta, info


def fit_purchase_model(
    make_objective: Callable[[FloatArray, FloatArray, FloatArray, FloatArray], Objective],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None,
    initial: Sequence[float] | None,
    names: Sequence[str],
    rate_params: Sequence[int],
    model: str,
    scale_note: str,
    penalizer: float,
    log_penalizer: float,
    maxiter: int,
) -> tuple[FloatArray, FitInfo]:
    """Maximum-likelihood fit of a purchase model (BG/NBD, Pareto/NBD) on ``(x, t_x, T)``.

    Checks the data (:func:`check_rfm`, :func:`check_weights`), merges identical rows
    (:func:`compress_rows`), rescales time so that the oldest customer has age 1
    (:func:`time_scale`) and runs :func:`maximize_likelihood` on
    ``make_objective(x, t_x, T, weights)`` of the distinct, rescaled rows.

    Parameters
    ----------
    make_objective : callable
        ``make_objective(x, t_x, T, w) -> objective`` (see :func:`maximize_likelihood`).
    initial : sequence of float, optional
        Starting parameters in the time unit of the data (default: all 1 in rescaled units,
        i.e. the rate parameters equal to the largest age).
    names : sequence of str
        Parameter names, in order.
    rate_params : sequence of int
        Positions of the parameters measured in the time unit of the data (gamma rates such as
        ``alpha``), which the rescaling of time multiplies.
    model, scale_note, penalizer, log_penalizer, maxiter
        As in :func:`maximize_likelihood`.

    Returns
    -------
    theta : array
        Parameter estimates in the time unit of the data.
    info : FitInfo

    Raises
    ------
    DataValidationError
        If the data break the rules of :func:`check_rfm` or :func:`check_weights`.
    ModelError
        If no customer made a repeat purchase, or the optimiser does not converge.
    """
    xa, ta, Ta = (np.ravel(v) for v in check_rfm(x, t_x, T))
    w = check_weights(weights, xa.size)
    (xu, tu, Tu), wu = compress_rows([xa, ta, Ta], w)
    if not np.any(xu > 0):
        raise ModelError(f"{model} fit: no customer has a repeat purchase (x > 0), so the "
                         "likelihood increases without bound as r -> 0; there is nothing to fit")
    scale = time_scale(Tu)
    objective = make_objective(xu, tu * scale, Tu * scale, wu)
    if initial is None:
        start = np.ones(len(names))
    else:
        start = np.array([v * scale if i in rate_params else v for i, v in enumerate(initial)])
    theta, info = maximize_likelihood(objective, start, names=names, total_weight=float(wu.sum()),
                                      n_unique_rows=xu.size, penalizer=penalizer,
                                      log_penalizer=log_penalizer,
                                      maxiter=maxiter, model=model,
                                      nll_offset=-float(wu @ xu) * np.log(scale),
                                      scale_note=scale_note)
    return np.array([v / scale if i in rate_params else v for i, v in enumerate(theta)]), info
