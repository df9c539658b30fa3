"""Two-stage LightGBM (after Drachen et al.'s two-stage XGBoost [1]_).

Stage 1 is a binary LightGBM classifier of "purchased" (first-horizon spend > 0) on every
customer; stage 2 is a LightGBM regressor of the spend trained on the buyers only. Both use the
static features and the categorical codes (as LightGBM categorical features).

- ``mode="soft"`` (default): ``value = P(buy) * E[spend | buy]`` (Heckman-style expectation).
- ``mode="hard"``: ``value = 1[P(buy) > threshold] * E[spend | buy]`` (the published model).

Stage 2's objective is ``regressor_objective``, any of the ``lgbm`` model's objectives; the
default ``"log1p_mse"`` trains L2 on ``log1p(spend)`` (buyers' spend is heavy-tailed) and
predicts ``exp(f) * S - 1`` with Duan's smearing factor ``S`` so that the product with
``P(buy)`` estimates the mean (``smearing=False``: plain ``expm1``). The prediction carries
``p_active`` (the classifier's probability) and ``extras["spend_if_buy"]`` (stage 2's output,
floored at 0).

Edge cases: a training set whose customers all bought gets a constant ``P(buy) = 1`` instead of
a classifier; one where nobody bought raises :class:`~ltvkit.errors.ModelError`. Saved as two
native LightGBM text files, ``booster_classifier.txt`` and ``booster_regressor.txt``.

References
----------
.. [1] Drachen, A., Pastor, M., Liu, A., Fontaine, D. J., Chang, Y., Runge, J., Sifa, R.,
   Klabjan, D. (2018). "To Be or Not to Be... Social: Incorporating Simple Social
   Features in Mobile Game Customer Lifetime Value Predictions." Proceedings of the
   Australasian Computer Science Week Multiconference (ACSW '18), 1-10.
.. [2] Ke, G., Meng, Q., Finley, T., Wang, T., Chen, W., Ma, W., Ye, Q., Liu, T.-Y. (2017).
   "LightGBM: A Highly Efficient Gradient Boosting Decision Tree." Advances in Neural
   Information Processing Systems 30 (NeurIPS 2017).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError, NotFittedError
from ltvkit.models.base import lgbm as common
from ltvkit.models.base import tree_predict
from ltvkit.models.base.model import LTVModel
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts

CLASSIFIER_FILE = "booster_classifier.txt"
REGRESSOR_FILE = "booster_regressor.txt"
MODES = ("soft", "hard")
STAGES = ("classifier", "regressor")


@register
class LGBMTwoStageModel(common.LGBMParamsMixin, LTVModel):
    name = "lgbm_two_stage"
    tags = {"uses_attributes": True, "probabilistic": False}

    def __init__(self, mode: str = "soft", threshold: float = 0.5,
                 regressor_objective: str = "log1p_mse", n_estimators: int = 1000,
                 learning_rate: float = 0.05, num_leaves: int = 15, max_depth: int = -1,
                 min_child_samples: int = 100, subsample: float = 1.0,
                 colsample_bytree: float = 1.0, reg_lambda: float = 0.0,
                 early_stopping_rounds: int | None = 50, tweedie_variance_power: float = 1.5,
                 alpha: float = 0.5, huber_delta: float | None = None, smearing: bool = True,
                 n_threads: int | None = None, random_state: int = 0):
        self.mode = mode
        self.threshold = threshold
        self.regressor_objective = regressor_objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.tweedie_variance_power = tweedie_variance_power
        self.alpha = alpha
        self.huber_delta = huber_delta
        self.smearing = smearing
        self.n_threads = n_threads
        self.random_state = random_state
        super().__init__()

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        # One thread: as fast on data this small, and immune to a busy machine's contention.
        tiny = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 20,
                "learning_rate": 0.1, "n_threads": 1}
        return [tiny, {**tiny, "mode": "hard"}]

    # ------------------------------------------------------------------ fit / predict
    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        self._check_tree_params()
        if self.mode not in MODES:
            raise ModelError(f"{self.name}: mode must be one of {MODES}, got '{self.mode}'")
        if not 0.0 <= float(self.threshold) < 1.0:
            raise ModelError(f"{self.name}: threshold must be in [0, 1), got {self.threshold}")
        target = self._regression_target(self.regressor_objective)
        d = common.TrainingData.build(train, valid)
        buy = d.y > 0
        if not buy.any():
            raise ModelError(f"{self.name}: no training customer spent in horizon "
                             f"{train.horizons[0]}; the spend regressor has no buyers to learn "
                             "from")
        has_valid = d.y_valid is not None
        kw = {"names": d.names, "categorical": d.categorical, "n_estimators": self.n_estimators,
              "early_stopping_rounds": self.early_stopping_rounds}

        # Stage 1: P(spend > 0) on everyone; a constant 1 when every customer bought.
        self.p_constant_: float | None = None
        self.classifier_ = None
        if buy.all():
            self.p_constant_ = 1.0
        else:
            self.classifier_ = common.train_booster(
                {**self._tree_params(), "objective": "binary"}, d.x, buy.astype(np.float64),
                valid=(d.x_valid, (d.y_valid > 0).astype(np.float64)) if has_valid else None,
                **kw)

        # Stage 2: E[spend | spend > 0] on the buyers (validation buyers for early stopping).
        xb, yb = d.x[buy], d.y[buy]
        vb = (d.x_valid[d.y_valid > 0], d.y_valid[d.y_valid > 0]) if has_valid else None
        self.regressor_ = common.train_booster(
            {**self._tree_params(), **target.params(yb)}, xb, target.transform(yb),
            valid=None if vb is None else (vb[0], target.transform(vb[1])), **kw)
        self.smearing_factor_ = (
            target.smearing_factor(self.regressor_, *vb) if vb is not None and len(vb[1])
            else target.smearing_factor(self.regressor_, xb, yb))

    def _predict(self, data: LTVDataset) -> PredictionParts:
        x = common.prediction_matrix(data)
        if self.classifier_ is None:
            p = np.full(len(data), float(self.p_constant_))
        else:
            p = tree_predict.predict(self.classifier_, x, self.n_threads)
        target = self._regression_target(self.regressor_objective)
        spend = np.maximum(target.inverse(tree_predict.predict(self.regressor_, x,
                                                               self.n_threads),
                                          self.smearing_factor_), 0.0)
        gate = p if self.mode == "soft" else (p > float(self.threshold)).astype(np.float64)
        return PredictionParts(value=gate * spend, p_active=p, extras={"spend_if_buy": spend})

    @property
    def n_trees_(self) -> dict[str, int]:
        """Trees kept per stage after early stopping (0 for a constant classifier)."""
        return {"classifier": 0 if self.classifier_ is None else
                int(self.classifier_.current_iteration()),
                "regressor": int(self.regressor_.current_iteration())}

    def feature_importance(self, kind: str = "gain",
                           stage: str = "regressor") -> dict[str, float]:
        """``{feature or categorical name: importance}`` of one stage's booster
        (``"classifier"`` or ``"regressor"``): total split gain or number of splits."""
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: fit the model before asking for importances")
        if stage not in STAGES:
            raise ModelError(f"{self.name}: stage must be one of {STAGES}, got '{stage}'")
        names = self.feature_names_ + self.categorical_names_
        booster = self.classifier_ if stage == "classifier" else self.regressor_
        if booster is None:
            return dict.fromkeys(names, 0.0)
        return common.importance(booster, names, kind)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"p_constant": self.p_constant_, "smearing_factor": self.smearing_factor_}, {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.p_constant_ = state["p_constant"]
        self.smearing_factor_ = float(state["smearing_factor"])

    def _save_files(self, directory: Path) -> None:
        if self.classifier_ is not None:
            common.save_booster(self.classifier_, directory / CLASSIFIER_FILE)
        common.save_booster(self.regressor_, directory / REGRESSOR_FILE)

    def _load_files(self, directory: Path) -> None:
        self.classifier_ = (None if self.p_constant_ is not None
                             else common.load_booster(directory / CLASSIFIER_FILE))
        self.regressor_ = common.load_booster(directory / REGRESSOR_FILE)
