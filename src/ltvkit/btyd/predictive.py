"""Predictive distribution of each customer's future spend under a BTYD model, by simulation.

Prediction intervals combine the two sources of uncertainty:

* **parameters** - a parametric bootstrap: replicate s uses parameters drawn from the
  asymptotic normal law of the maximum-likelihood estimate
  (:func:`ltvkit.btyd.uncertainty.draw_params`), all replicates in one array;
* **the customer's future** - given replicate s and the history, the customer is alive with
  probability P(alive); an alive customer's latent rates have the conjugate posterior and the
  future is drawn from the model's generative process (the same laws as
  :mod:`ltvkit.btyd.simulate`):

  - BG/NBD (Fader, Hardie & Lee 2005, Marketing Science 24(2)) / MBG/NBD (Batislam, Denizel &
    Filiztekin 2007, IJRM 24(3)): ``lambda ~ Gamma(r + x, alpha + T)``, ``p ~ Beta(a, b + x)``
    (MBG/NBD ``b + x + 1``); Poisson purchases until the K-th, ``K ~ Geometric(p)``;
  - Pareto/NBD (Schmittlein, Morrison & Colombo 1987, Management Science 33(1)):
    ``lambda ~ Gamma(r + x, alpha + T)``, ``mu ~ Gamma(s, beta + T)``, remaining lifetime
    ``~ Exp(mu)``;
  - BG/BB (Fader, Hardie & Shang 2010, Marketing Science 29(6)): ``p ~ Beta(alpha + x,
    beta + n - x)``, ``theta ~ Beta(gamma, delta + n)``, one opportunity per time unit;
  - spend (Gamma-Gamma, Fader, Hardie & Lee 2005, JMR 42(4)): ``nu ~ Gamma(q + p x, gamma +
    x zbar)`` and the sum of k purchases ``~ Gamma(p k, nu)``;
  - sBG (Fader & Hardie 2007, Journal of Interactive Marketing 21(1)), contractual: a subscriber
    who has renewed ``n`` times has the churn probability ``theta ~ Beta(alpha, beta + n)`` and
    then renews at each further period end with probability ``1 - theta`` (geometric), so the
    number of further period ends still subscribed ``K`` has ``P(K >= k) = S(n + k) / S(n)``
    (:func:`renewal_samples`, :func:`subscription_value_quantiles`).

Counts are drawn as increments on a grid of times so that one draw gives every horizon (nested,
so the quantiles grow with the horizon), and discounting applies per grid step exactly as in
:func:`ltvkit.btyd.clv.clv`. Quantiles are taken over the draws, customer by customer.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ltvkit.btyd import bgbb, bgnbd, mbgnbd, pareto_nbd
from ltvkit.btyd._fit import FloatArray
from ltvkit.btyd.bgbb import BGBBParams
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.mbgnbd import MBGNBDParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams

__all__ = ["horizon_grid", "renewal_samples", "spend_quantiles", "spend_samples",
           "subscription_value_quantiles"]

#: Customers simulated at once (memory: grid steps x draws x chunk numbers).
CHUNK = 2048


def horizon_grid(horizons: list[float], period_length: float, discount_rate: float
                 ) -> tuple[FloatArray, FloatArray]:
    """Union of the discount steps of every horizon (:func:`ltvkit.btyd.clv.clv`'s
    ``t_k = k horizon / ceil(horizon / period)``) and the weight of each grid increment in each
    horizon: the discount of the horizon's own step the increment falls in (0 beyond it).

    Returns ``(bounds, weights)``: bounds ``[J]`` (increasing, > 0), weights ``[J, H]``.
    """
    own = []
    for h in horizons:
        n_steps = max(1, int(np.ceil(h / period_length - 1e-9)))
        own.append(h * np.arange(1, n_steps + 1) / n_steps)
    bounds = np.unique(np.concatenate(own))
    weights = np.zeros((bounds.size, len(horizons)))
    for j, steps in enumerate(own):
        inside = bounds <= steps[-1] * (1 + 1e-12)
        k = np.searchsorted(steps, bounds[inside] * (1 - 1e-12))
        weights[inside, j] = (1.0 + discount_rate) ** (-steps[k] / period_length)
    return bounds, weights


def _alive(kind: type, draws: FloatArray, x: FloatArray, t_x: FloatArray,
           T: FloatArray) -> FloatArray:
    """P(alive) per (replicate, customer), ``[S, n]``."""
    if kind in (BGNBDParams, MBGNBDParams):
        module = bgnbd if kind is BGNBDParams else mbgnbd
        ns = SimpleNamespace(**{k: draws[:, i:i + 1] for i, k in enumerate("r alpha a b".split())})
        return module.p_alive(ns, x, t_x, T)
    module = pareto_nbd if kind is ParetoNBDParams else bgbb
    # one evaluation per distinct replicate (all rows alike when there is no uncertainty)
    rows, inverse = np.unique(draws, axis=0, return_inverse=True)
    alive = np.stack([module.p_alive(kind(*row), x, t_x, T) for row in rows])
    return alive[inverse.ravel()]


def _probability(p: FloatArray) -> FloatArray:
    """A beta draw as a geometric's success probability: a draw that underflowed to 0 (a
    dropout shape near 0) becomes the smallest positive float, i.e. practically never."""
    return np.clip(p, np.finfo(np.float64).tiny, 1.0)


def _counts(kind: type, draws: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray,
            bounds: FloatArray, rng: np.random.Generator,
            alive_prob: FloatArray | None = None) -> FloatArray:
    """Future purchase counts in each grid increment, ``[J, S, n]`` (``alive_prob``: P(alive)
    ``[S, n]`` when already computed)."""
    S, n = draws.shape[0], x.size
    if alive_prob is None:
        alive_prob = _alive(kind, draws, x, t_x, T)
    alive = rng.random((S, n)) < alive_prob
    dt = np.diff(np.concatenate([[0.0], bounds]))
    c0, c1, c2, c3 = (draws[:, i:i + 1] for i in range(4))
    if kind is BGBBParams:
        p = rng.beta(c0 + x, c1 + T - x)
        theta = _probability(rng.beta(np.broadcast_to(c2, (S, n)), c3 + T))
        survived = rng.geometric(theta) - 1.0  # further opportunities alive
        open_ = np.minimum(survived[None], np.floor(bounds)[:, None, None])
        opp = np.diff(np.concatenate([np.zeros((1, S, n)), open_]), axis=0)
        counts = rng.binomial(opp.astype(np.int64), p[None])
        return counts * alive[None]
    lam = rng.gamma(c0 + x, 1.0 / (c1 + T))
    if kind is ParetoNBDParams:
        mu = rng.gamma(np.broadcast_to(c2, (S, n)), 1.0 / (c3 + T))
        life = rng.exponential(1.0 / mu)
        active = np.minimum(life[None], bounds[:, None, None])
        exposure = np.diff(np.concatenate([np.zeros((1, S, n)), active]), axis=0)
        return rng.poisson(lam[None] * exposure) * alive[None]
    shift = 1.0 if kind is MBGNBDParams else 0.0
    p = _probability(rng.beta(np.broadcast_to(c2, (S, n)), c3 + x + shift))
    k = rng.geometric(p)  # the k-th future purchase is the last
    cum = np.cumsum(rng.poisson(lam[None] * dt[:, None, None]), axis=0)
    cum = np.minimum(cum, k[None])
    counts = np.diff(np.concatenate([np.zeros((1, S, n)), cum]), axis=0)
    return counts * alive[None]


def spend_samples(kind: type, purchase_draws: FloatArray, spend_draws: FloatArray,
                  x: FloatArray, t_x: FloatArray, T: FloatArray, zbar: FloatArray,
                  has_spend: np.ndarray, bounds: FloatArray, weights: FloatArray,
                  rng: np.random.Generator, alive_prob: FloatArray | None = None
                  ) -> FloatArray:
    """Draws ``[S, n, H]`` of each customer's (discounted) spend in every horizon.

    Parameters
    ----------
    kind : type
        The purchase model's parameter class (BGNBDParams, MBGNBDParams, ParetoNBDParams or
        BGBBParams).
    purchase_draws : ndarray ``[S, 4]``
        Parameter replicates, one per draw (repeat the estimate for no parameter uncertainty).
    spend_draws : ndarray ``[S, 3]``
        Gamma-Gamma (p, q, gamma) replicates.
    x, t_x, T, zbar : ndarray ``[n]``
        History in the model's time unit (BG/BB: opportunities); zbar the mean repeat spend.
    has_spend : ndarray of bool
        Where the Gamma-Gamma posterior uses (x, zbar); elsewhere its prior.
    bounds, weights
        From :func:`horizon_grid`.
    rng : numpy Generator
    alive_prob : ndarray ``[S, n]``, optional
        P(alive) per replicate and customer when the caller has it already.
    """
    if spend_draws.shape[0] != purchase_draws.shape[0]:
        raise ValueError("purchase and spend draws must have the same number of replicates")
    counts = _counts(kind, purchase_draws, x, t_x, T, bounds, rng, alive_prob)  # [J, S, n]
    p, q, g = (spend_draws[:, i:i + 1] for i in range(3))
    xs = np.where(has_spend, x, 0.0)
    zs = np.where(has_spend, zbar, 0.0)
    nu = rng.gamma(q + p * xs, 1.0 / (g + xs * zs))  # [S, n]
    positive = counts > 0
    money = np.where(positive, rng.gamma(np.where(positive, p[None] * counts, 1.0),
                                         1.0 / nu[None]), 0.0)
    return np.einsum("jsn,jh->snh", money, weights)


def spend_quantiles(kind: type, purchase_draws: FloatArray, spend_draws: FloatArray,
                    x: FloatArray, t_x: FloatArray, T: FloatArray, zbar: FloatArray,
                    has_spend: np.ndarray, bounds: FloatArray, weights: FloatArray,
                    levels: tuple[float, ...], *, seed: int = 0,
                    keys: np.ndarray | None = None) -> dict[float, FloatArray]:
    """Quantiles ``{level: [n, H]}`` over the draws of :func:`spend_samples`, computed
    ``CHUNK`` customers at a time; arguments as there, seeded by ``seed``.

    ``keys`` (``[n]`` non-negative integers, e.g. a stable hash of customer and cutoff): each
    customer's draws come from its own generator, seeded by ``SeedSequence([seed, key])``, so a
    customer's quantiles do not depend on which other customers are scored in the same call
    (scoring in chunks or on several machines gives the rows of scoring all at once). Without
    ``keys`` one generator serves the whole call."""
    rng = np.random.default_rng(seed)
    n, H = x.size, weights.shape[1]
    out = {q: np.empty((n, H)) for q in levels}
    for lo in range(0, n, CHUNK):
        sl = slice(lo, min(lo + CHUNK, n))
        if keys is None:
            value = spend_samples(kind, purchase_draws, spend_draws, x[sl], t_x[sl], T[sl],
                                  zbar[sl], has_spend[sl], bounds, weights, rng)
        else:
            value = _keyed_samples(kind, purchase_draws, spend_draws, x[sl], t_x[sl], T[sl],
                                   zbar[sl], has_spend[sl], bounds, weights, seed, keys[sl])
        qs = np.quantile(value, levels, axis=0)
        for i, level in enumerate(levels):
            out[level][sl] = qs[i]
    return out


def _keyed_samples(kind: type, purchase_draws: FloatArray, spend_draws: FloatArray,
                   x: FloatArray, t_x: FloatArray, T: FloatArray, zbar: FloatArray,
                   has_spend: np.ndarray, bounds: FloatArray, weights: FloatArray, seed: int,
                   keys: np.ndarray) -> FloatArray:
    """:func:`spend_samples` with one generator per customer (``SeedSequence([seed, key])``);
    P(alive) is deterministic and computed for all customers at once."""
    alive_prob = _alive(kind, purchase_draws, x, t_x, T)
    out = np.empty((purchase_draws.shape[0], x.size, weights.shape[1]))
    for i in range(x.size):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(keys[i])]))
        one = slice(i, i + 1)
        out[:, one] = spend_samples(kind, purchase_draws, spend_draws, x[one], t_x[one],
                                    T[one], zbar[one], has_spend[one], bounds, weights, rng,
                                    alive_prob[:, one])
    return out


def renewal_samples(draws: FloatArray, periods: FloatArray, max_periods: int,
                    rng: np.random.Generator) -> np.ndarray:
    """sBG draws ``[S, n]`` of the number of further period ends each subscriber is still
    subscribed at, capped at ``max_periods``.

    Parameters
    ----------
    draws : ndarray ``[S, 2]``
        ``(alpha, beta)`` replicates, one per draw (repeat the estimate for no parameter
        uncertainty).
    periods : ndarray ``[n]``
        Renewals seen so far (the subscriber is active now).
    max_periods : int
        The cap (the longest horizon in periods).
    rng : numpy Generator
    """
    alpha, beta = draws[:, :1], draws[:, 1:2]
    S, n = draws.shape[0], periods.size
    theta = _probability(rng.beta(np.broadcast_to(alpha, (S, n)), beta + periods[None]))
    # Geometric(theta) is the period (from now) of cancellation: K = G - 1 renewals before it
    return np.minimum(rng.geometric(theta) - 1, int(max_periods))


def subscription_value_quantiles(draws: FloatArray, periods: FloatArray, active: np.ndarray,
                                 per_period: FloatArray, period_weights: list[FloatArray],
                                 levels: tuple[float, ...], *, seed: int = 0,
                                 keys: np.ndarray | None = None) -> dict[float, FloatArray]:
    """Quantiles ``{level: [n, H]}`` of each subscriber's (discounted) value in every horizon
    under the sBG: ``per_period x sum_{k <= K} w_hk`` over draws of ``K``
    (:func:`renewal_samples`); 0 for a subscriber no longer active.

    Parameters
    ----------
    draws : ndarray ``[S, 2]``
        ``(alpha, beta)`` replicates (parametric bootstrap).
    periods : ndarray ``[n]``
        Renewals seen so far.
    active : ndarray of bool ``[n]``
        Still subscribed now.
    per_period : ndarray ``[n]``
        Value of one subscribed period end.
    period_weights : list of ndarray
        Per horizon, the weight ``w_hk`` of its period ends ``k = 1..K_h`` (the share of the
        period inside the horizon times the discount), as in the expected value.
    levels : tuple of float
    seed : int
    keys : ndarray ``[n]`` of non-negative integers, optional
        As in :func:`spend_quantiles`: each subscriber's draws from its own generator
        (``SeedSequence([seed, key])``), so the quantiles do not depend on the batch.
    """
    rng = np.random.default_rng(seed)
    n, H = periods.size, len(period_weights)
    k_max = max((w.size for w in period_weights), default=0)
    # cumulative weight after k period ends, k = 0..k_max, per horizon [k_max + 1, H]
    cum = np.zeros((k_max + 1, H))
    for j, w in enumerate(period_weights):
        c = np.concatenate([[0.0], np.cumsum(w)])
        cum[:, j] = np.concatenate([c, np.full(k_max + 1 - c.size, c[-1])])
    out = {q: np.zeros((n, H)) for q in levels}
    idx = np.flatnonzero(active)
    for lo in range(0, idx.size, CHUNK):
        rows = idx[lo:lo + CHUNK]
        if keys is None:
            k = renewal_samples(draws, periods[rows], k_max, rng)  # [S, m]
        else:
            k = np.column_stack([
                renewal_samples(draws, periods[r:r + 1], k_max, np.random.default_rng(
                    np.random.SeedSequence([int(seed), int(keys[r])])))[:, 0]
                for r in rows]) if rows.size else np.zeros((draws.shape[0], 0), np.int64)
        value = cum[k] * per_period[rows][None, :, None]  # [S, m, H]
        qs = np.quantile(value, levels, axis=0)
        for i, level in enumerate(levels):
            out[level][rows] = qs[i]
    return out
