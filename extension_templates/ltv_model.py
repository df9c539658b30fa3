"""Copy-me template for a new ltvkit model.

1. Copy this file to ``src/ltvkit/models/<your_model>.py`` (one model per file).
2. Fill in the blanks marked TODO; keep ``__init__`` free of logic (store the arguments, then
   call ``super().__init__()``), so configs, ``get_params`` and ``clone`` round-trip.
3. Run ``python -m pytest tests/test_conformance.py -k <your_model>``: the shared suite finds the
   model by itself (registration is discovered) and checks parameters, fit/predict, no mutation
   of the data, save/load of every prediction field, seeding, tags by behaviour and edge cases.

Read data by name through the dataset's layout (``data.target_feature("net_spend")``,
``data.labels_for(horizon)``, ``data.layout.horizon(h).days``): never build a column name.
For a PyTorch model start from ``torch_ltv_model.py`` beside this file instead.

The example below is a working model: a per-customer spend rate shrunk towards the population
rate (an empirical-Bayes version of ``historical_mean``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import Horizon
from ltvkit.models.base.model import LTVModel
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts


@register
class ShrunkRate(LTVModel):
    # TODO: the registry key users type (`ltv train --model shrunk_rate`)
    name = "shrunk_rate"
    # TODO: capabilities; the conformance suite reads them (see ltvkit.models.DEFAULT_TAGS)
    tags = {"multi_horizon": True, "unsupervised": True}  # it never reads the labels

    # TODO: explicit keyword hyper-parameters with defaults; random_state if anything is random
    def __init__(self, prior_days: float = 30.0):
        self.prior_days = prior_days
        super().__init__()

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        # TODO: tiny configurations that fit in about a second
        return [{}, {"prior_days": 5.0}]

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        # TODO: learn. Input is already validated by the base class.
        spend = train.target_feature("net_spend").astype(float)
        days = train.target_feature("T_days").astype(float) + 1.0
        self.population_rate_ = float(np.maximum(spend, 0).sum() / days.sum())

    def _predict(self, data: LTVDataset) -> PredictionParts:
        # TODO: return value [n, H] for self.horizons_ (and p_active / quantiles if you have them)
        spend = np.maximum(data.target_feature("net_spend"), 0)
        days = data.target_feature("T_days") + 1.0
        rate = (spend + self.population_rate_ * self.prior_days) / (days + self.prior_days)
        horizon_days = np.array([Horizon.parse(h).days for h in self.horizons_])
        return PredictionParts(value=rate[:, None] * horizon_days[None, :])

    # TODO: everything save() must write: JSON-able state and named NumPy arrays (safetensors)
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"population_rate": self.population_rate_}, {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.population_rate_ = state["population_rate"]
