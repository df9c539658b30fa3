"""Shared work of the BTYD models: RFM from the dataset, the Gamma-Gamma spend model, CLV.

The purchase model (BG/NBD [1]_, Pareto/NBD [3]_, MBG/NBD, BG/BB) is fitted on the training
customers' calibration summary (``frequency``, ``recency_days``, ``T_days`` of the dataset,
converted to the model's ``time_unit``: weeks by default, days or hours), the Gamma-Gamma
model on those with repeat purchases and a positive mean repeat spend. The labels are not used:
these models are unsupervised, exactly as in Fader, Hardie & Lee (2005) [1]_ [2]_.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "Counting Your Customers the Easy
   Way: An Alternative to the Pareto/NBD Model." Marketing Science 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis." Journal of Marketing Research 42(4), 415-430.
.. [3] Schmittlein, D. C., Morrison, D. G., Colombo, R. (1987). "Counting Your Customers:
   Who Are They and What Will They Do Next?" Management Science 33(1), 1-24.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np

from ltvkit.btyd import GammaGammaParams, clv, gamma_gamma, p_alive, predictive, uncertainty
from ltvkit.btyd.probabilities import expected_probability_no_purchase
from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import Horizon
from ltvkit.errors import ModelError, TaskError
from ltvkit.models.base.model import LTVModel
from ltvkit.prediction import PredictionParts

DAYS_PER_WEEK = 7.0

#: Length of each supported time unit in days: the one place where rates and horizons are
#: converted (features are in days; a model fitted in unit u has its rate parameters per u).
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": DAYS_PER_WEEK, "hours": 1.0 / 24.0}


def days_per_unit(time_unit: str) -> float:
    """Days in one ``time_unit`` ("days", "weeks" or "hours"); TaskError for any other name."""
    try:
        return DAYS_PER_UNIT[time_unit]
    except (KeyError, TypeError):
        raise TaskError(f"time_unit must be one of {sorted(DAYS_PER_UNIT)}, got {time_unit!r}"
                        ) from None


def rfm(data: LTVDataset, time_unit: str = "weeks"
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, zbar) per sample, in ``time_unit``, from the (target-domain) static features."""
    unit = days_per_unit(time_unit)

    def col(name: str) -> np.ndarray:
        return data.target_feature(name).astype(np.float64)

    x = col("frequency")
    t_x = col("recency_days") / unit
    T = col("T_days") / unit
    zbar = col("repeat_monetary_mean")
    return x, t_x, T, zbar


def sample_keys(data: LTVDataset) -> np.ndarray:
    """A stable 64-bit key per sample from its (customer id, cutoff): the seed of that sample's
    own random stream in the prediction intervals, so its quantiles are the same whichever
    other samples are predicted with it (chunks, Spark batches) and from run to run."""
    keys = np.empty(len(data), dtype=np.uint64)
    for i, (cid, cutoff) in enumerate(zip(data.customer_id, data.cutoff.astype(str),
                                          strict=True)):
        digest = hashlib.blake2b(f"{cid}\x1f{cutoff}".encode(), digest_size=8).digest()
        keys[i] = int.from_bytes(digest, "little")
    return keys


class BTYDModel(LTVModel):
    """Base of ``bgnbd``, ``pareto_nbd``, ``mbgnbd`` and ``bgbb``: subclasses name the
    purchase-model module. ``time_unit`` is the unit the purchase model is fitted in (its rate
    parameters are per unit); predictions do not depend on it beyond rounding.

    Besides the expected (discounted) value, every prediction carries ``p_active``, the
    probability of at least one purchase in each horizon (closed form at the estimate), and the
    0.1 / 0.5 / 0.9 quantiles of the horizon's spend from :mod:`ltvkit.btyd.predictive`:
    ``n_draws`` draws per customer, each with its own parametric-bootstrap replicate of the
    purchase and spend parameters (Hessian covariance, :mod:`ltvkit.btyd.uncertainty`), seeded by
    ``random_state``; each sample's future is drawn from its own stream keyed by its customer
    id and cutoff (:func:`sample_keys`), so a sample's quantiles do not depend on the batch it
    is predicted in. ``n_draws = 0`` gives point predictions only."""

    purchase_module: ClassVar[Any]
    params_class: ClassVar[type]
    tags = {"multi_horizon": True, "unsupervised": True, "probabilistic": True}
    quantile_levels: ClassVar[tuple[float, ...]] = (0.1, 0.5, 0.9)

    def __init__(self, penalizer: float = 0.0, log_penalizer: float = 0.0,
                 boundary_log_penalizer: float = 0.001, discount_rate: float = 0.0,
                 discount_period_days: float = 30.0, min_repeat_customers: int = 10,
                 time_unit: str = "weeks", n_draws: int = 200, random_state: int = 0):
        self.penalizer = penalizer
        self.log_penalizer = log_penalizer
        self.boundary_log_penalizer = boundary_log_penalizer
        self.discount_rate = discount_rate
        self.discount_period_days = discount_period_days
        self.min_repeat_customers = min_repeat_customers
        self.time_unit = time_unit
        self.n_draws = n_draws
        self.random_state = random_state
        super().__init__()

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"discount_rate": 0.01}]

    def _rfm(self, data: LTVDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, t_x, T, zbar) in the model's time unit (BG/BB: in opportunities)."""
        return rfm(data, self.time_unit)

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        x, t_x, T, zbar = self._rfm(train)
        self.fit_note_ = ""
        try:
            self.purchase_params_, self.purchase_info_ = self.purchase_module.fit(
                x, t_x, T, penalizer=self.penalizer, log_penalizer=self.log_penalizer)
        except ModelError as exc:
            # No interior maximum (e.g. Online Retail shows no dropout in its calibration
            # window): refit with a weak prior on the log-parameters and say so.
            if "boundary" not in str(exc) or not self.boundary_log_penalizer:
                raise
            self.purchase_params_, self.purchase_info_ = self.purchase_module.fit(
                x, t_x, T, penalizer=self.penalizer,
                log_penalizer=max(self.log_penalizer, self.boundary_log_penalizer))
            self.fit_note_ = (f"maximum likelihood ran off to a boundary; refitted with "
                              f"log_penalizer={self.boundary_log_penalizer}")
        repeat = (x > 0) & (zbar > 0)
        if repeat.sum() < self.min_repeat_customers:
            raise ModelError(
                f"{self.name}: the Gamma-Gamma spend model needs at least "
                f"{self.min_repeat_customers} training customers with repeat purchases and "
                f"positive spend; found {int(repeat.sum())}")
        self.spend_params_, self.spend_info_ = gamma_gamma.fit(x[repeat], zbar[repeat],
                                                               penalizer=self.penalizer,
                                                               log_penalizer=self.log_penalizer)
        self.purchase_cov_log_ = self._cov_log(self.purchase_params_, x, t_x, T)
        self.spend_cov_log_ = self._cov_log(self.spend_params_, x[repeat], zbar[repeat])

    def _cov_log(self, params: Any, *data: np.ndarray) -> np.ndarray:
        """Hessian covariance of the log-parameters; zeros (no parameter uncertainty, noted) when
        the information is not positive definite, e.g. after a penalised boundary fit."""
        cov, note = uncertainty.cov_log_or_zeros(params, *data)
        self.fit_note_ = "; ".join(filter(None, [self.fit_note_, note]))
        return cov

    def _draws(self, params: Any, cov_log: np.ndarray, seed: int) -> np.ndarray:
        return uncertainty.draw_params_from_cov(params, cov_log, self.n_draws, seed=seed)

    def _predict(self, data: LTVDataset) -> PredictionParts:
        x, t_x, T, zbar = self._rfm(data)
        unit = days_per_unit(self.time_unit)
        # Gamma-Gamma is defined for repeat customers with a positive mean spend; the others
        # (no repeats, or refunds that cancel their repeat spend) get the population mean.
        has_spend = (x > 0) & (zbar > 0)
        spend = gamma_gamma.conditional_expected_spend(
            self.spend_params_, np.where(has_spend, x, 0.0), np.where(has_spend, zbar, 1.0))
        values = []
        for h in self.horizons_:
            days = Horizon.parse(h).days
            values.append(clv(self.purchase_params_, None, x, t_x, T, spend,
                              days / unit,
                              period_length=self.discount_period_days / unit,
                              discount_rate=self.discount_rate))
        alive = p_alive(self.purchase_params_, x, t_x, T)
        if not self.n_draws:
            return PredictionParts(value=np.column_stack(values), extras={"p_alive": alive})
        horizons = [Horizon.parse(h).days / unit for h in self.horizons_]
        p_any = np.column_stack([1.0 - expected_probability_no_purchase(
            self.purchase_params_, h, x, t_x, T) for h in horizons])
        bounds, weights = predictive.horizon_grid(horizons, self.discount_period_days / unit,
                                                  self.discount_rate)
        quantiles = predictive.spend_quantiles(
            self.params_class, self._draws(self.purchase_params_, self.purchase_cov_log_,
                                           self.random_state),
            self._draws(self.spend_params_, self.spend_cov_log_, self.random_state + 1),
            x, t_x, T, zbar, has_spend, bounds, weights, self.quantile_levels,
            seed=self.random_state + 2, keys=sample_keys(data))
        return PredictionParts(value=np.column_stack(values), p_active=np.clip(p_any, 0, 1),
                               quantiles=quantiles, extras={"p_alive": alive})

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"purchase_params": asdict(self.purchase_params_),
                "spend_params": asdict(self.spend_params_), "fit_note": self.fit_note_}, {
                    "purchase_cov_log": self.purchase_cov_log_,
                    "spend_cov_log": self.spend_cov_log_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.purchase_params_ = self.params_class(**state["purchase_params"])
        self.spend_params_ = GammaGammaParams(**state["spend_params"])
        self.fit_note_ = state.get("fit_note", "")
        k_p, k_s = len(state["purchase_params"]), len(state["spend_params"])
        # models saved before the intervals existed have no covariance: no parameter uncertainty
        self.purchase_cov_log_ = np.asarray(arrays.get("purchase_cov_log", np.zeros((k_p, k_p))))
        self.spend_cov_log_ = np.asarray(arrays.get("spend_cov_log", np.zeros((k_s, k_s))))
