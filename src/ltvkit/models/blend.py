"""``blend``: a weighted average of base models with weights on the simplex, fitted on the
validation set.

Each base model is fitted on the training set (the validation set for early stopping); the
weights ``w >= 0, sum(w) = 1`` minimise the squared error of ``P_valid w`` against the
validation labels (SLSQP, ``scipy.optimize.minimize``). Without a validation set a seeded 20 %
of the training customers is held out for the weights and the members are refitted on all
training data. Saved as JSON + each member's own files in ``members/``.

References
----------
.. [1] Breiman, L. (1996). "Stacked Regressions." Machine Learning 24(1), 49-64 (convex
   combinations of regressors).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.models.base.ensemble import EnsembleModel, holdout_split
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts


def simplex_weights(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``argmin ||P w - y||^2`` over ``w >= 0, sum(w) = 1`` (SLSQP from equal weights)."""
    from scipy.optimize import minimize

    m = p.shape[1]
    scale = max(float(np.mean(y ** 2)), 1e-12)

    def loss(w: np.ndarray) -> float:
        return float(np.mean((p @ w - y) ** 2)) / scale

    def grad(w: np.ndarray) -> np.ndarray:
        return 2.0 * p.T @ (p @ w - y) / len(y) / scale

    res = minimize(loss, np.full(m, 1.0 / m), jac=grad, method="SLSQP",
                   bounds=[(0.0, 1.0)] * m,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}])
    w = np.clip(res.x, 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(m, 1.0 / m)


@register
class Blend(EnsembleModel):
    name = "blend"

    def __init__(self, base_models: tuple[str, ...] = ("lgbm", "ziln", "bgnbd"),
                 base_params: dict[str, dict[str, Any]] | None = None, random_state: int = 0,
                 n_threads: int | None = None):
        self.base_models = base_models
        self.base_params = base_params
        self.random_state = random_state
        self.n_threads = n_threads
        super().__init__()

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        tiny = {"n_estimators": 20, "num_leaves": 7, "learning_rate": 0.1, "n_threads": 1}
        return [{"base_models": ("lgbm", "historical_mean"), "base_params": {"lgbm": tiny},
                 "n_threads": 1}]

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        self.require_samples(self.name, train, 10)
        horizon = self.horizons_[0]
        names = self._member_names()
        if valid is not None:
            self.members_ = [self.make_member(n).fit(train, valid) for n in names]
            p, y = self.member_values(self.members_, valid, horizon), valid.labels_for(horizon)
            self.weights_source_ = "validation"
        else:
            rest, held = holdout_split(train, 0.2, int(self.random_state))
            models = [self.make_member(n).fit(rest, None) for n in names]
            p, y = self.member_values(models, held, horizon), held.labels_for(horizon)
            self.members_ = [self.make_member(n).fit(train, None) for n in names]
            self.weights_source_ = "held-out 20% of training customers"
        self.weights_ = simplex_weights(p, np.asarray(y, dtype=np.float64))

    def _predict(self, data: LTVDataset) -> PredictionParts:
        return PredictionParts(value=self.member_values(self.members_, data,
                                                        self.horizons_[0]) @ self.weights_)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"weights_source": self.weights_source_}, {"weights": self.weights_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.weights_source_ = state["weights_source"]
        self.weights_ = arrays["weights"]
