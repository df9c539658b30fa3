"""LightGBM regressor of the first horizon's spend on the static features and categorical codes.

Objectives (``objective``):

- ``"tweedie"`` (default): Tweedie deviance with log link, ``tweedie_variance_power`` in (1, 2);
  suits zero-inflated, right-skewed spend and predicts the mean directly.
- ``"log1p_mse"``: L2 on ``log1p(y)``; predictions are ``exp(f) * S - 1`` with Duan's smearing
  factor ``S = mean(exp(residual))`` (validation residuals when a validation set is given, else
  training residuals), or plain ``expm1(f)`` with ``smearing=False``.
- ``"l2"``, ``"l1"``, ``"huber"`` (``huber_delta``; None = the 90th percentile of
  ``|y - median(y)|``) and ``"quantile"`` (``alpha``) on the raw spend - the absolute, squared
  and quantile losses that Anitha Kumari et al. [2]_ compare. Negative outputs are floored at 0.

Categorical codes are declared to LightGBM as categorical features. With a validation set and
``early_stopping_rounds``, boosting stops on the validation set's metric for the objective and
keeps the best iteration (``n_trees_``). Saved as LightGBM's native text file ``booster.txt``.

Tree defaults are more regularized than LightGBM's [1]_ (``num_leaves=15``,
``min_child_samples=100`` instead of 31 / 20): spend labels are noisy, so smaller trees with
larger leaves generalise at least as well as LightGBM's defaults.

References
----------
.. [1] Ke, G., Meng, Q., Finley, T., Wang, T., Chen, W., Ma, W., Ye, Q., Liu, T.-Y. (2017).
   "LightGBM: A Highly Efficient Gradient Boosting Decision Tree." Advances in Neural
   Information Processing Systems 30 (NeurIPS 2017).
.. [2] Anitha Kumari, D., Siddiqui, M. S., Dorbala, R., Megala, R., Rao, K. T. V.,
   Reddy, N. S. (2024). "Deep Learning Models for Customer Lifetime Value Prediction
   in E-commerce." IEEE ICRTCST 2024, doi:10.1109/ICRTCST61793.2024.10578372.
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

BOOSTER_FILE = "booster.txt"


@register
class LGBMModel(common.LGBMParamsMixin, LTVModel):
    name = "lgbm"
    tags = {"uses_attributes": True}

    def __init__(self, objective: str = "tweedie", n_estimators: int = 1000,
                 learning_rate: float = 0.05, num_leaves: int = 15, max_depth: int = -1,
                 min_child_samples: int = 100, subsample: float = 1.0,
                 colsample_bytree: float = 1.0, reg_lambda: float = 0.0,
                 early_stopping_rounds: int | None = 50, tweedie_variance_power: float = 1.5,
                 alpha: float = 0.5, huber_delta: float | None = None, smearing: bool = True,
                 n_threads: int | None = None, random_state: int = 0):
        self.objective = objective
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
        tiny = {"n_estimators": 20, "num_leaves": 7, "learning_rate": 0.1, "n_threads": 1}
        return [tiny, {**tiny, "objective": "log1p_mse"}]

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """The Optuna search space (``ltvkit.tuning``): the objective among the absolute,
        squared, quantile, Tweedie and log1p-MSE losses, as Anitha Kumari et al. [2]_ tune
        it, and the tree / regularisation parameters."""
        objective = trial.suggest_categorical(
            "objective", ["tweedie", "log1p_mse", "l2", "l1", "quantile"])
        params: dict[str, Any] = {
            "objective": objective,
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 400, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        }
        if objective == "tweedie":
            params["tweedie_variance_power"] = trial.suggest_float(
                "tweedie_variance_power", 1.05, 1.95)
        elif objective == "quantile":
            params["alpha"] = trial.suggest_float("alpha", 0.5, 0.95)
        return params

    # ------------------------------------------------------------------ fit / predict
    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        self._check_tree_params()
        target = self._regression_target(self.objective)
        d = common.TrainingData.build(train, valid)
        if not np.any(d.y > 0):
            raise ModelError(f"{self.name}: every training label of horizon {train.horizons[0]} "
                             "is 0; there is no spend to learn")
        has_valid = d.y_valid is not None
        self.booster_ = common.train_booster(
            {**self._tree_params(), **target.params(d.y)}, d.x, target.transform(d.y),
            names=d.names, categorical=d.categorical, n_estimators=self.n_estimators,
            early_stopping_rounds=self.early_stopping_rounds,
            valid=(d.x_valid, target.transform(d.y_valid)) if has_valid else None)
        self.n_trees_ = int(self.booster_.current_iteration())
        self.smearing_factor_ = (
            target.smearing_factor(self.booster_, d.x_valid, d.y_valid) if has_valid
            else target.smearing_factor(self.booster_, d.x, d.y))

    def _predict(self, data: LTVDataset) -> PredictionParts:
        raw = tree_predict.predict(self.booster_, common.prediction_matrix(data), self.n_threads)
        target = self._regression_target(self.objective)
        return PredictionParts(value=target.inverse(raw, self.smearing_factor_))

    def feature_importance(self, kind: str = "gain") -> dict[str, float]:
        """``{feature or categorical name: importance}``: total split gain (``"gain"``) or
        number of splits (``"split"``)."""
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: fit the model before asking for importances")
        return common.importance(self.booster_, self.feature_names_ + self.categorical_names_,
                                 kind)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_trees": self.n_trees_, "smearing_factor": self.smearing_factor_}, {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.n_trees_ = int(state["n_trees"])
        self.smearing_factor_ = float(state["smearing_factor"])

    def _save_files(self, directory: Path) -> None:
        common.save_booster(self.booster_, directory / BOOSTER_FILE)

    def _load_files(self, directory: Path) -> None:
        self.booster_ = common.load_booster(directory / BOOSTER_FILE)
