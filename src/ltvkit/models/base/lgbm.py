"""What the LightGBM models share: the design matrix, deterministic parameters, the regression
objectives, training with early stopping, and the booster's native text file.

Design matrix: the dataset's numeric features (NaN stays NaN: LightGBM's missing value) followed
by the categorical codes, which are declared to LightGBM as categorical features (code 0 is the
"unknown" category, an ordinary category to LightGBM). Column names are the dataset's names with
the characters LightGBM refuses (JSON punctuation, whitespace) replaced by ``_``.

Determinism: ``deterministic=True``, ``force_row_wise=True`` and ``seed=random_state`` (from which
LightGBM derives its bagging / feature-fraction / data seeds), so the same data, parameters and
``n_threads`` give bit-identical boosters. After training, a booster is rebuilt from its own
text form, so the in-memory booster is exactly the one ``booster.txt`` holds and a loaded model
predicts identically.

References
----------
.. [1] Ke, G., Meng, Q., Finley, T., Wang, T., Chen, W., Ma, W., Ye, Q., Liu, T.-Y. (2017).
   "LightGBM: A Highly Efficient Gradient Boosting Decision Tree." Advances in Neural
   Information Processing Systems 30 (NeurIPS 2017).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError

REGRESSION_OBJECTIVES = ("tweedie", "log1p_mse", "l2", "l1", "huber", "quantile")
IMPORTANCE_KINDS = ("gain", "split")
_LGB_OBJECTIVE = {"tweedie": "tweedie", "log1p_mse": "regression", "l2": "regression",
                  "l1": "regression_l1", "huber": "huber", "quantile": "quantile"}
_BAD_NAME_CHARS = re.compile(r'[\[\]{}",:\s]')


def _lgb():
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - lightgbm is a core dependency
        raise ModelError("the LightGBM models need the 'lightgbm' package") from exc
    return lightgbm


# ---------------------------------------------------------------------- design matrix
def design_matrix(data: LTVDataset) -> np.ndarray:
    """[n, F + K] float64: numeric features, then the categorical codes."""
    return np.hstack([data.features.astype(np.float64),
                      data.categorical.astype(np.float64)])


def prediction_matrix(data: LTVDataset) -> np.ndarray:
    """The design matrix to predict from: the features themselves when there are no
    categorical codes (LightGBM reads float32 rows as the same doubles, so this predicts what
    :func:`design_matrix` does without copying the features), else :func:`design_matrix`."""
    if not data.categorical_names and data.features.dtype == np.float32 and (
            data.features.flags.c_contiguous or data.features.flags.f_contiguous):
        return data.features
    return design_matrix(data)


def lgbm_threads(n_threads: int | None) -> int:
    """LightGBM's ``num_threads`` for ltvkit's ``n_threads`` (``None`` -> 0: all cores)."""
    return 0 if n_threads is None else int(n_threads)


def column_names(feature_names: list[str], categorical_names: list[str]) -> list[str]:
    """LightGBM-safe, unique names of the design matrix's columns."""
    out: list[str] = []
    seen: set[str] = set()
    for name in [*feature_names, *categorical_names]:
        safe = _BAD_NAME_CHARS.sub("_", name) or "f"
        cand, k = safe, 1
        while cand in seen:
            cand, k = f"{safe}_{k}", k + 1
        seen.add(cand)
        out.append(cand)
    return out


def first_horizon_labels(data: LTVDataset) -> np.ndarray:
    return np.asarray(data.labels[:, 0], dtype=np.float64)


@dataclass
class TrainingData:
    """Design matrices and first-horizon labels of a training (and validation) dataset."""

    x: np.ndarray
    y: np.ndarray
    names: list[str]
    categorical: list[int]
    x_valid: np.ndarray | None = None
    y_valid: np.ndarray | None = None

    @classmethod
    def build(cls, train: LTVDataset, valid: LTVDataset | None) -> TrainingData:
        n_feat = len(train.feature_names)
        out = cls(x=design_matrix(train), y=first_horizon_labels(train),
                  names=column_names(train.feature_names, train.categorical_names),
                  categorical=list(range(n_feat, n_feat + len(train.categorical_names))))
        if valid is not None:
            out.x_valid, out.y_valid = design_matrix(valid), first_horizon_labels(valid)
        return out


# ---------------------------------------------------------------------- parameters
class LGBMParamsMixin:
    """Turns the hyper-parameters a LightGBM model stores into LightGBM parameters.

    The model's ``__init__`` stores ``n_estimators``, ``learning_rate``, ``num_leaves``,
    ``max_depth``, ``min_child_samples``, ``subsample``, ``colsample_bytree``, ``reg_lambda``,
    ``n_threads`` (the name every ltvkit model uses; ``None``: LightGBM's default, all cores), ``random_state`` (the other names as in ``lightgbm.LGBMRegressor``) and the regression
    objective's ``tweedie_variance_power``, ``alpha``, ``huber_delta`` and ``smearing``.
    """

    name: str

    @property
    def predicts_rows_independently(self) -> bool:
        """A row's prediction is its own trees' walk: the same in any batch."""
        return True

    def _regression_target(self, objective: str) -> RegressionTarget:
        return RegressionTarget(self.name, objective,
                                tweedie_variance_power=self.tweedie_variance_power,
                                alpha=self.alpha, huber_delta=self.huber_delta,
                                smearing=self.smearing)

    def _tree_params(self) -> dict[str, Any]:
        subsample = float(self.subsample)
        return {
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "max_depth": int(self.max_depth),
            "min_data_in_leaf": int(self.min_child_samples),
            "bagging_fraction": subsample,
            "bagging_freq": 1 if subsample < 1.0 else 0,
            "feature_fraction": float(self.colsample_bytree),
            "lambda_l2": float(self.reg_lambda),
            "seed": int(self.random_state),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": lgbm_threads(self.n_threads),
            "feature_pre_filter": False,
            "verbosity": -1,
        }

    def _check_tree_params(self) -> None:
        if int(self.n_estimators) < 1:
            raise ModelError(f"{self.name}: n_estimators must be >= 1, got {self.n_estimators}")
        if not 0.0 < float(self.subsample) <= 1.0:
            raise ModelError(f"{self.name}: subsample must be in (0, 1], got {self.subsample}")
        if not 0.0 < float(self.colsample_bytree) <= 1.0:
            raise ModelError(f"{self.name}: colsample_bytree must be in (0, 1], "
                             f"got {self.colsample_bytree}")


class RegressionTarget:
    """One regression objective: LightGBM parameters, label transform and back-transform.

    ``log1p_mse`` trains L2 on ``log1p(y)`` and predicts with Duan's smearing correction
    ``E[y|x] = exp(f(x)) * mean(exp(residual)) - 1`` when ``smearing`` is on (else plain
    ``expm1(f(x))``, a median-type prediction that underestimates the mean). The residuals are
    the validation set's when one is given (in-sample residuals of a boosted model are too small),
    else the training set's.
    """

    def __init__(self, model_name: str, objective: str, *, tweedie_variance_power: float,
                 alpha: float, huber_delta: float | None, smearing: bool):
        if objective not in REGRESSION_OBJECTIVES:
            raise ModelError(f"{model_name}: unknown objective '{objective}'; "
                             f"known: {', '.join(REGRESSION_OBJECTIVES)}")
        if objective == "tweedie" and not 1.0 < float(tweedie_variance_power) < 2.0:
            raise ModelError(f"{model_name}: tweedie_variance_power must be in (1, 2), "
                             f"got {tweedie_variance_power}")
        if objective == "quantile" and not 0.0 < float(alpha) < 1.0:
            raise ModelError(f"{model_name}: alpha (the quantile) must be in (0, 1), got {alpha}")
        if objective == "huber" and huber_delta is not None and not float(huber_delta) > 0:
            raise ModelError(f"{model_name}: huber_delta must be > 0, got {huber_delta}")
        self.objective = objective
        self.tweedie_variance_power = float(tweedie_variance_power)
        self.alpha = float(alpha)
        self.huber_delta = huber_delta
        self.smearing = bool(smearing)

    def params(self, y_train: np.ndarray) -> dict[str, Any]:
        p: dict[str, Any] = {"objective": _LGB_OBJECTIVE[self.objective]}
        if self.objective == "tweedie":
            p["tweedie_variance_power"] = self.tweedie_variance_power
        elif self.objective == "quantile":
            p["alpha"] = self.alpha
        elif self.objective == "huber":
            p["alpha"] = self.resolved_huber_delta(y_train)
        return p

    def resolved_huber_delta(self, y: np.ndarray) -> float:
        """``huber_delta`` or, when None, the 90th percentile of ``|y - median(y)|`` (>= 1e-6)."""
        if self.huber_delta is not None:
            return float(self.huber_delta)
        return max(float(np.quantile(np.abs(y - np.median(y)), 0.9)), 1e-6)

    def transform(self, y: np.ndarray) -> np.ndarray:
        return np.log1p(y) if self.objective == "log1p_mse" else y

    def smearing_factor(self, booster, x: np.ndarray, y: np.ndarray) -> float:
        """Duan's factor ``mean(exp(log1p(y) - f(x)))`` for log1p_mse with smearing, else 1."""
        if self.objective != "log1p_mse" or not self.smearing or len(y) == 0:
            return 1.0
        resid = np.log1p(y) - booster.predict(x)
        return float(np.mean(np.exp(resid)))

    def inverse(self, raw: np.ndarray, smearing_factor: float) -> np.ndarray:
        """Model output (LightGBM already exponentiates tweedie) to the spend scale."""
        if self.objective == "log1p_mse":
            return np.exp(raw) * smearing_factor - 1.0
        return raw


# ---------------------------------------------------------------------- training
def train_booster(params: dict[str, Any], x: np.ndarray, y: np.ndarray, *,
                  names: list[str], categorical: list[int], n_estimators: int,
                  valid: tuple[np.ndarray, np.ndarray] | None = None,
                  early_stopping_rounds: int | None = None):
    """Train a booster; with ``valid`` and ``early_stopping_rounds`` stop on the validation
    set's first metric and keep the best iteration only. Returns a booster rebuilt from its
    text form (what ``booster.txt`` will hold)."""
    lgb = _lgb()
    train_set = lgb.Dataset(x, label=y, feature_name=names, categorical_feature=categorical,
                            free_raw_data=True, params={"verbosity": -1})
    valid_sets, callbacks = [], []
    if valid is not None and early_stopping_rounds and len(valid[1]) > 0:
        valid_sets = [lgb.Dataset(valid[0], label=valid[1], reference=train_set,
                                  feature_name=names, categorical_feature=categorical)]
        callbacks = [lgb.early_stopping(int(early_stopping_rounds), first_metric_only=True,
                                        verbose=False)]
    try:
        booster = lgb.train(params, train_set, num_boost_round=int(n_estimators),
                            valid_sets=valid_sets, valid_names=["valid"] * len(valid_sets),
                            callbacks=callbacks)
    except lgb.basic.LightGBMError as exc:
        raise ModelError(f"LightGBM could not train: {exc}") from exc
    best = booster.best_iteration if booster.best_iteration > 0 else None
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def save_booster(booster, path: Path) -> None:
    booster.save_model(str(path))


def load_booster(path: Path):
    if not path.exists():
        raise ModelError(f"{path.parent} is missing the LightGBM booster file {path.name}")
    return _lgb().Booster(model_file=str(path))


def importance(booster, original_names: list[str], kind: str) -> dict[str, float]:
    """``{original column name: importance}``; ``kind`` is "gain" (total split gain) or "split"
    (number of splits)."""
    if kind not in IMPORTANCE_KINDS:
        raise ModelError(f"importance kind must be one of {IMPORTANCE_KINDS}, got '{kind}'")
    values = booster.feature_importance(importance_type=kind)
    return {name: float(v) for name, v in zip(original_names, values, strict=True)}
