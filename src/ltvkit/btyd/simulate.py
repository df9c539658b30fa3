"""Draw synthetic customer bases from each BTYD model's generative process.

The generators return the calibration summary each model is fitted on (as lifetimes'
``generate_data`` does) and, for the continuous-time purchase models, can also return the
purchase times as a transaction log. They serve the parameter-recovery tests and what-if
analysis ("what would the customer base look like if dropout were halved?").

Every generator takes a ``seed`` (or a NumPy ``Generator``) and is vectorised over customers:

* BG/NBD (Fader, Hardie & Lee 2005, Marketing Science 24(2)) and MBG/NBD (Batislam, Denizel &
  Filiztekin 2007, IJRM 24(3)): ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)``; the customer
  drops out after the K-th purchase, ``K ~ Geometric(p)`` (MBG/NBD: also at time 0 with
  probability p). Purchases while active form a Poisson process, so given ``N ~ Poisson(lambda
  T)`` arrivals in (0, T] the x-th of them falls at ``T * Beta(x, N - x + 1)``.
* Pareto/NBD (Schmittlein, Morrison & Colombo 1987, Management Science 33(1)):
  ``mu ~ Gamma(s, beta)``, lifetime ``tau ~ Exp(mu)``, purchases Poisson(lambda) until
  ``min(tau, T)``.
* BG/BB (Fader, Hardie & Shang 2010, Marketing Science 29(6)): each opportunity the customer
  first survives with probability ``1 - theta`` and then buys with probability p.
* sBG (Fader & Hardie 2007, Journal of Interactive Marketing 21(1)): lifetime in periods
  ``~ Geometric(theta)``, censored after ``n_periods``.
* Gamma-Gamma (Fader, Hardie & Lee 2005, JMR 42(4)): ``nu ~ Gamma(q, gamma)``, each spend
  ``~ Gamma(p, nu)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ltvkit.btyd._fit import FloatArray, as_float_array, check_finite
from ltvkit.btyd.bgbb import BGBBParams
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.gamma_gamma import GammaGammaParams
from ltvkit.btyd.mbgnbd import MBGNBDParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams
from ltvkit.btyd.sbg import SBGParams
from ltvkit.errors import DataValidationError

__all__ = ["SimulatedCustomers", "customers", "spend", "subscriptions", "transactions"]


@dataclass(frozen=True)
class SimulatedCustomers:
    """Summary of simulated customers: ``x``, ``t_x``, ``T`` (BG/BB: ``T`` is ``n``) and the
    latent ``alive`` flag at T (what the models' P(alive) estimates)."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    alive: np.ndarray


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _ages(T: ArrayLike, n_customers: int) -> FloatArray:
    ages = np.broadcast_to(as_float_array(T, "T"), (n_customers,)).astype(np.float64)
    check_finite(ages, "T")
    bad = ages < 0
    if bad.any():
        raise DataValidationError(f"T must be >= 0 (rule T_nonnegative): {int(bad.sum())} values "
                                  "break it", column="T", rule="T_nonnegative",
                                  n_rows=int(bad.sum()))
    return ages


def _order_stat(rng: np.random.Generator, x: FloatArray, n: FloatArray,
                length: FloatArray) -> FloatArray:
    """Time of the x-th of n uniform arrivals on (0, length] (0 where x = 0)."""
    pos = x > 0
    out = np.zeros_like(length)
    out[pos] = length[pos] * rng.beta(x[pos], n[pos] - x[pos] + 1.0)
    return out


def customers(params: BGNBDParams | MBGNBDParams | ParetoNBDParams | BGBBParams,
              n_customers: int, T: ArrayLike, *, seed: int | np.random.Generator | None = 0
              ) -> SimulatedCustomers:
    """Draw ``n_customers`` calibration summaries from the purchase model of ``params``.

    Parameters
    ----------
    params : BGNBDParams, MBGNBDParams, ParetoNBDParams or BGBBParams
    n_customers : int
    T : float or array_like
        Age of each customer (BG/BB: number of opportunities ``n``, whole numbers).
    seed : int or Generator
    """
    rng = _rng(seed)
    ages = _ages(T, n_customers)
    if isinstance(params, BGBBParams):
        return _bgbb(params, ages, rng)
    if isinstance(params, ParetoNBDParams):
        lam = rng.gamma(params.r, 1.0 / params.alpha, n_customers)
        mu = rng.gamma(params.s, 1.0 / params.beta, n_customers)
        tau = rng.exponential(1.0 / mu)
        active = np.minimum(tau, ages)
        x = rng.poisson(lam * active).astype(np.float64)
        t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1.0), 1.0), 0.0)
        return SimulatedCustomers(x, t_x, ages, tau > ages)
    if not isinstance(params, BGNBDParams | MBGNBDParams):
        raise TypeError(f"no generator for {type(params).__name__}")
    lam = rng.gamma(params.r, 1.0 / params.alpha, n_customers)
    p = rng.beta(params.a, params.b, n_customers)
    k = rng.geometric(p).astype(np.float64)  # dropout right after the k-th repeat purchase
    n = rng.poisson(lam * ages).astype(np.float64)
    x = np.minimum(n, k)
    alive = n < k
    if isinstance(params, MBGNBDParams):
        dead_at_zero = rng.random(n_customers) < p
        x = np.where(dead_at_zero, 0.0, x)
        alive &= ~dead_at_zero
    return SimulatedCustomers(x, _order_stat(rng, x, n, ages), ages, alive)


def _bgbb(params: BGBBParams, n: FloatArray, rng: np.random.Generator) -> SimulatedCustomers:
    if np.any(n != np.round(n)):
        raise DataValidationError("BG/BB: n must be whole numbers of opportunities (rule "
                                  "n_integer)", column="n", rule="n_integer")
    size = n.size
    p = rng.beta(params.alpha, params.beta, size)
    theta = rng.beta(params.gamma, params.delta, size)
    # opportunities survived: dies at the start of opportunity G ~ Geometric(theta) (G >= 1)
    alive_for = np.minimum(rng.geometric(theta) - 1.0, n)
    x = rng.binomial(alive_for.astype(np.int64), p).astype(np.float64)
    # the last of x purchases among alive_for opportunities: x-th order statistic of a uniform
    # random x-subset of {1..L}; drawn by ranking uniform keys
    t_x = np.zeros(size)
    pos = np.flatnonzero(x > 0)
    if pos.size:
        width = int(alive_for[pos].max())
        keys = rng.random((pos.size, width))
        keys[np.arange(width)[None, :] >= alive_for[pos, None]] = np.inf
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)  # rank of each opportunity
        chosen = ranks < x[pos, None]
        t_x[pos] = np.max(np.where(chosen, np.arange(1, width + 1)[None, :], 0), axis=1)
    return SimulatedCustomers(x, t_x, n, alive_for >= n)


def transactions(params: BGNBDParams | MBGNBDParams | ParetoNBDParams, n_customers: int,
                 T: ArrayLike, *, seed: int | np.random.Generator | None = 0
                 ) -> tuple[np.ndarray, FloatArray]:
    """Purchase times of simulated customers: ``(customer_index, time)`` rows, each customer's
    first purchase at time 0 then their repeat purchases in (0, T], sorted by customer and time.
    Summarised, the log gives exactly :func:`customers` with the same seed."""
    rng = _rng(seed)
    sim = customers(params, n_customers, T, seed=rng)
    ids = [np.arange(n_customers)]
    times = [np.zeros(n_customers)]
    pos = np.flatnonzero(sim.x > 1)
    # besides the last purchase (at t_x), x - 1 purchases uniform on (0, t_x)
    counts = (sim.x[pos] - 1).astype(np.int64)
    rep = np.repeat(pos, counts)
    ids += [np.flatnonzero(sim.x > 0), rep]
    times += [sim.t_x[sim.x > 0], rng.random(rep.size) * sim.t_x[rep]]
    cid = np.concatenate(ids)
    ts = np.concatenate(times)
    order = np.lexsort((ts, cid))
    return cid[order], ts[order]


def spend(params: GammaGammaParams, x: ArrayLike, *, seed: int | np.random.Generator | None = 0
          ) -> FloatArray:
    """Mean spend ``zbar`` of ``x`` (>= 1) purchases per customer under the Gamma-Gamma model:
    the sum of x Gamma(p, nu) spends is Gamma(p x, nu)."""
    rng = _rng(seed)
    xa = as_float_array(x, "x")
    bad = (xa < 1) | (xa != np.round(xa))
    if bad.any():
        raise DataValidationError(f"x must be a whole number >= 1 (rule x_positive_integer): "
                                  f"{int(bad.sum())} values break it", column="x",
                                  rule="x_positive_integer", n_rows=int(bad.sum()))
    nu = rng.gamma(params.q, 1.0 / params.gamma, xa.shape)
    return rng.gamma(params.p * xa, 1.0 / nu) / xa


def subscriptions(params: SBGParams, n_customers: int, n_periods: int, *,
                  seed: int | np.random.Generator | None = 0) -> tuple[FloatArray, FloatArray]:
    """``(periods, churned)`` of simulated subscribers observed for ``n_periods`` periods: the
    period of cancellation if it came within them, else ``n_periods`` (censored)."""
    rng = _rng(seed)
    theta = rng.beta(params.alpha, params.beta, n_customers)
    life = rng.geometric(theta).astype(np.float64)
    churned = (life <= n_periods).astype(np.float64)
    return np.minimum(life, float(n_periods)), churned
