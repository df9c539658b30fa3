"""sBG contractual retention on a transaction log read as subscriptions (Fader & Hardie 2007 [1]_).

The registry model reads each customer of an :class:`~ltvkit.data.dataset.LTVDataset` as a
subscription that starts at the first purchase and, once ``churn_gap_days`` pass without a
purchase, ended ``churn_gap_days`` after the last one. Time is cut into periods of
``period_days``; a customer still subscribed at the cutoff has renewed ``floor(T_days /
period_days)`` times (right-censored), one who has lapsed cancelled in period
``floor((recency_days + churn_gap_days) / period_days) + 1``. The sBG is fitted on those
lifetimes; the value over a horizon is the customer's spend per period so far times the expected
number of the horizon's period ends at which they are still subscribed, ``sum_k S(n + k) /
S(n)`` (discounted per ``discount_period_days`` when ``discount_rate > 0``), and 0 for a lapsed
customer.

Like the other BTYD models it returns ``p_active``, the probability that a horizon holds at
least one more subscribed period end (``S(n + 1) / S(n)`` for a subscriber active at the cutoff,
0 for one who has lapsed), and the 0.1 / 0.5 / 0.9 quantiles of the horizon's value from
:func:`ltvkit.btyd.predictive.subscription_value_quantiles`: ``n_draws`` draws per subscriber,
each with its own parametric-bootstrap replicate of ``(alpha, beta)`` (Hessian covariance,
:mod:`ltvkit.btyd.uncertainty`) and its own simulated remaining lifetime, seeded by
``random_state``; ``n_draws = 0`` gives point predictions only. For real contractual data (a table of subscription start and end dates) fit
:func:`ltvkit.btyd.sbg.fit` on :func:`ltvkit.data.subscriptions.read_subscriptions` directly.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. (2007). "How to Project Customer Retention." Journal of
   Interactive Marketing 21(1), 76-90.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from ltvkit.btyd import SBGParams, predictive, sbg, uncertainty
from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import Horizon
from ltvkit.errors import ModelError, TaskError
from ltvkit.models.base.btyd import sample_keys
from ltvkit.models.base.model import LTVModel
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts


@register
class SBG(LTVModel):
    """Contractual CLV: spend per period x expected remaining subscribed periods (sBG)."""

    name = "sbg"
    tags = {"multi_horizon": True, "unsupervised": True, "probabilistic": True}
    quantile_levels = (0.1, 0.5, 0.9)

    def __init__(self, period_days: float = 30.0, churn_gap_days: float = 90.0,
                 discount_rate: float = 0.0, discount_period_days: float = 30.0,
                 penalizer: float = 0.0, log_penalizer: float = 0.0,
                 boundary_log_penalizer: float = 0.001, n_draws: int = 200,
                 random_state: int = 0):
        self.period_days = period_days
        self.churn_gap_days = churn_gap_days
        self.discount_rate = discount_rate
        self.discount_period_days = discount_period_days
        self.penalizer = penalizer
        self.log_penalizer = log_penalizer
        self.boundary_log_penalizer = boundary_log_penalizer
        self.n_draws = n_draws
        self.random_state = random_state
        super().__init__()

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"discount_rate": 0.01, "period_days": 14.0}]

    def _check(self) -> None:
        for name in ("period_days", "churn_gap_days", "discount_period_days"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value <= 0:
                raise TaskError(f"sbg: {name} must be a finite number > 0, got {value!r}")
        if not np.isfinite(self.discount_rate) or self.discount_rate <= -1:
            raise TaskError(f"sbg: discount_rate must be > -1, got {self.discount_rate!r}")

    def subscriptions(self, data: LTVDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(periods, churned, spend per period) of every sample, as the module docstring says."""
        self._check()
        recency = data.target_feature("recency_days").astype(np.float64)
        age = data.target_feature("T_days").astype(np.float64)
        spend = data.target_feature("monetary_total").astype(np.float64)
        churned = (age - recency) > self.churn_gap_days
        periods = np.where(churned, np.floor((recency + self.churn_gap_days) / self.period_days)
                           + 1.0, np.floor(age / self.period_days))
        per_period = np.clip(spend, 0.0, None) / np.maximum(age / self.period_days, 1.0)
        return periods, churned.astype(np.float64), per_period

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        periods, churned, _ = self.subscriptions(train)
        self.fit_note_ = ""
        try:
            self.params_, self.fit_info_ = sbg.fit(periods, churned, penalizer=self.penalizer,
                                                   log_penalizer=self.log_penalizer)
        except ModelError as exc:
            # Churn that looks homogeneous sends alpha and beta to infinity together (the
            # geometric limit): refit with a weak prior on the log-parameters and say so.
            if "boundary" not in str(exc) or not self.boundary_log_penalizer:
                raise
            lp = max(self.log_penalizer, self.boundary_log_penalizer)
            self.params_, self.fit_info_ = sbg.fit(periods, churned, penalizer=self.penalizer,
                                                   log_penalizer=lp)
            self.fit_note_ = (f"maximum likelihood ran off to a boundary; refitted with "
                              f"log_penalizer={lp}")
        self.cov_log_, note = uncertainty.cov_log_or_zeros(self.params_, periods, churned)
        self.fit_note_ = "; ".join(filter(None, [self.fit_note_, note]))

    def _period_weights(self, horizon: str) -> np.ndarray:
        """Weight of each period end k = 1..K of a horizon: the share of the period inside the
        horizon (the last one may be partial) times the discount."""
        steps = Horizon.parse(horizon).days / self.period_days
        k = np.arange(1, int(np.ceil(steps - 1e-9)) + 1, dtype=np.float64)
        share = np.clip(steps - (k - 1.0), 0.0, 1.0)
        disc = (1.0 + self.discount_rate) ** (-k * self.period_days / self.discount_period_days)
        return share * disc

    def _predict(self, data: LTVDataset) -> PredictionParts:
        periods, churned, per_period = self.subscriptions(data)
        alive = churned == 0
        weights = [self._period_weights(h) for h in self.horizons_]
        values = []
        for w in weights:
            k = np.arange(1, w.size + 1, dtype=np.float64)
            ratios = sbg.p_alive(self.params_, periods[:, None], k[None, :])
            values.append(np.where(alive, per_period * (ratios @ w), 0.0))
        p_next = np.where(alive, sbg.p_alive(self.params_, periods, 1.0), 0.0)
        if not self.n_draws:
            return PredictionParts(value=np.column_stack(values), extras={"p_alive": p_next})
        draws = uncertainty.draw_params_from_cov(self.params_, self.cov_log_, self.n_draws,
                                                 seed=self.random_state)
        quantiles = predictive.subscription_value_quantiles(
            draws, periods, alive, per_period, weights, self.quantile_levels,
            seed=self.random_state + 1, keys=sample_keys(data))
        # every horizon's first period end decides whether it holds any value
        p_active = np.repeat(p_next[:, None], len(weights), axis=1)
        return PredictionParts(value=np.column_stack(values), p_active=np.clip(p_active, 0, 1),
                               quantiles=quantiles, extras={"p_alive": p_next})

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"params": asdict(self.params_), "fit_note": self.fit_note_},
                {"cov_log": self.cov_log_})

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.params_ = SBGParams(**state["params"])
        self.fit_note_ = state.get("fit_note", "")
        # models saved before the intervals existed have no covariance: no parameter uncertainty
        self.cov_log_ = np.asarray(arrays.get("cov_log", np.zeros((2, 2))))
