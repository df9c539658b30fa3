"""``stack``: a meta-learner on the out-of-fold predictions of named base models.

The training set is cut into ``n_folds`` customer-grouped folds; each base model is fitted on
all folds but one and predicts the held-out fold, so every training sample gets predictions
from models that never saw it (the out-of-fold matrix ``P [n, M]``). The meta-learner maps
``P`` to the label: by default a non-negative linear combination with an intercept
(``scipy.optimize.nnls``; non-negative weights keep the stack monotone in every member),
weights on the simplex without intercept (``meta="simplex"``, :func:`blend.simplex_weights`:
a convex combination cannot rescale the members, which NNLS did on heavy-tailed spend, e.g.
all weight on one member times 2.6 on Online Retail), or a small LightGBM booster
(``meta="lgbm"``). The base models are then refitted on all training
data (with the validation set for early stopping) and the meta-learner is applied to their
predictions. Saved as JSON + each member's own files in ``members/``.

References
----------
.. [1] Wolpert, D. H. (1992). "Stacked Generalization." Neural Networks 5(2), 241-259.
.. [2] Breiman, L. (1996). "Stacked Regressions." Machine Learning 24(1), 49-64 (non-negative
   weights).
.. [3] Jasek, P., Vrana, L., Sperkova, L., Smutny, Z., Kobulsky, M. (2019). "Comparative
   analysis of selected probability customer lifetime value models in online shopping."
   Journal of Business Economics and Management 20(3) (stacking of CLV models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base import lgbm as common
from ltvkit.models.base import tree_predict
from ltvkit.models.base.ensemble import EnsembleModel, customer_folds
from ltvkit.models.blend import simplex_weights
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts

META_BOOSTER_FILE = "meta_booster.txt"
METAS = ("nnls", "simplex", "lgbm")


def fit_nnls(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative weights and intercept minimising ``||[P, 1] w - y||``."""
    from scipy.optimize import nnls

    scale = np.maximum(p.std(axis=0), 1e-12)  # equal footing for the solver
    coef, _ = nnls(np.column_stack([p / scale, np.ones(len(p))]), y)
    return coef[:-1] / scale, float(coef[-1])


@register
class Stack(EnsembleModel):
    name = "stack"

    def __init__(self, base_models: tuple[str, ...] = ("lgbm", "ziln", "bgnbd"),
                 base_params: dict[str, dict[str, Any]] | None = None, meta: str = "nnls",
                 n_folds: int = 3, random_state: int = 0, n_threads: int | None = None):
        self.base_models = base_models
        self.base_params = base_params
        self.meta = meta
        self.n_folds = n_folds
        self.random_state = random_state
        self.n_threads = n_threads
        super().__init__()

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        tiny = {"n_estimators": 20, "num_leaves": 7, "learning_rate": 0.1, "n_threads": 1}
        return [{"base_models": ("lgbm", "historical_mean"), "base_params": {"lgbm": tiny},
                 "n_folds": 2, "n_threads": 1},
                {"base_models": ("lgbm", "historical_mean"), "base_params": {"lgbm": tiny},
                 "n_folds": 2, "meta": "lgbm", "n_threads": 1},
                {"base_models": ("lgbm", "historical_mean"), "base_params": {"lgbm": tiny},
                 "n_folds": 2, "meta": "simplex", "n_threads": 1}]

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.meta not in METAS:
            raise ModelError(f"{self.name}: meta must be one of {METAS}, got '{self.meta}'")
        if int(self.n_folds) < 2:
            raise ModelError(f"{self.name}: n_folds must be >= 2, got {self.n_folds}")

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        k = int(self.n_folds)
        self.require_samples(self.name, train, 10 * k)
        horizon = self.horizons_[0]
        y = train.labels_for(horizon).astype(np.float64)
        fold = customer_folds(train, k, int(self.random_state))
        names = self._member_names()
        oof = np.zeros((len(train), len(names)))
        for i in range(k):
            inner, held = train.subset(fold != i), train.subset(fold == i)
            models = [self.make_member(n).fit(inner, valid) for n in names]
            oof[fold == i] = self.member_values(models, held, horizon)
        self.members_ = [self.make_member(n).fit(train, valid) for n in names]
        self.meta_booster_ = None
        if self.meta == "nnls":
            self.weights_, self.intercept_ = fit_nnls(oof, y)
        elif self.meta == "simplex":
            self.weights_, self.intercept_ = simplex_weights(oof, y), 0.0
        else:
            self.weights_, self.intercept_ = np.zeros(len(names)), 0.0
            self.meta_booster_ = common.train_booster(
                {"objective": "tweedie", "learning_rate": 0.05, "num_leaves": 7,
                 "min_data_in_leaf": 50, "seed": int(self.random_state), "deterministic": True,
                 "force_row_wise": True, "num_threads": common.lgbm_threads(self.n_threads),
                 "verbosity": -1}, oof, y, names=[f"m{j}" for j in range(len(names))],
                categorical=[], n_estimators=200)
        self.oof_gini_ = {}
        from ltvkit.metrics import normalized_gini

        for j, n in enumerate(names):
            self.oof_gini_[n] = float(normalized_gini(y, oof[:, j]))

    def combine(self, p: np.ndarray) -> np.ndarray:
        if self.meta_booster_ is not None:
            return tree_predict.predict(self.meta_booster_, p, self.n_threads)
        return p @ self.weights_ + self.intercept_

    def _predict(self, data: LTVDataset) -> PredictionParts:
        p = self.member_values(self.members_, data, self.horizons_[0])
        return PredictionParts(value=self.combine(p))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"intercept": self.intercept_, "oof_gini": self.oof_gini_,
                 "has_meta_booster": self.meta_booster_ is not None},
                {"weights": np.asarray(self.weights_, dtype=np.float64)})

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.intercept_ = float(state["intercept"])
        self.oof_gini_ = dict(state["oof_gini"])
        self.weights_ = arrays["weights"]
        self._has_meta_booster = bool(state["has_meta_booster"])

    def _save_files(self, directory: Path) -> None:
        super()._save_files(directory)
        if self.meta_booster_ is not None:
            common.save_booster(self.meta_booster_, directory / META_BOOSTER_FILE)

    def _load_files(self, directory: Path) -> None:
        super()._load_files(directory)
        self.meta_booster_ = (common.load_booster(directory / META_BOOSTER_FILE)
                              if self._has_meta_booster else None)
