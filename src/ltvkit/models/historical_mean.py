"""Historical mean: the customer's past spend rate scaled to the horizon.

The simplest honest baseline: ``value_h = net spend in the visible history / days of history
x h``, where the history of a customer starts at the first purchase (their tenure ``T_days``,
plus the cutoff day itself so a same-day customer has one day of history).
"""

from __future__ import annotations

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import Horizon
from ltvkit.models.base.model import LTVModel
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts


@register
class HistoricalMean(LTVModel):
    name = "historical_mean"
    tags = {"multi_horizon": True, "unsupervised": True}

    def __init__(self, min_history_days: int = 1):
        self.min_history_days = min_history_days
        super().__init__()

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        pass  # nothing to learn: the rate comes from each customer's own history

    def _predict(self, data: LTVDataset) -> PredictionParts:
        spend = data.target_feature("net_spend").astype(np.float64)
        tenure = data.target_feature("T_days").astype(np.float64) + 1.0
        rate = np.maximum(spend, 0.0) / np.maximum(tenure, self.min_history_days)
        days = np.asarray([Horizon.parse(h).days for h in self.horizons_], dtype=np.float64)
        return PredictionParts(value=rate[:, None] * days[None, :])
