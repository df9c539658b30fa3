"""``auto``: within a time budget, tune a short list of model families on the validation set,
stack the tuned models, and keep whichever of the stack and the best tuned single model
scores better on the validation set.

Everything is chosen on validation data only (the ``valid`` given to ``fit``, or a seeded
10 % of the training customers when none is given): each family in ``families`` gets an
equal share of ``time_budget`` seconds (at most ``trials_per_family`` Optuna trials, seeded
TPE with pruning, see :mod:`ltvkit.models.base.search`); the tuned families are combined by
:class:`~ltvkit.models.stack.Stack`, once per meta-learner in ``stack_metas`` (NNLS and
simplex weights by default: NNLS can rescale a single member, simplex weights cannot); the
stacks and the best single tuned model are compared on the validation normalized Gini, ties
(to 4 decimals) broken by the lower validation decile MAPE (:func:`choice_key`).
``search_info_`` holds every family's best validation score and parameters and every
candidate's validation Gini and decile MAPE. The chosen model is saved in ``members/``.

Reproducibility: the same seed draws the same sequence of trials, but when ``time_budget``
cuts a search short the number of trials run depends on the machine's speed; for a fit that
repeats exactly, give a budget that ``trials_per_family`` trials fit in. ``time_budget``
bounds the searches only: the final fits (the stack's out-of-fold fits included) come on top.

References
----------
.. [1] Akiba, T., Sano, S., Yanase, T., Ohta, T., Koyama, M. (2019). "Optuna: A
   Next-generation Hyperparameter Optimization Framework." KDD 2019.
.. [2] Wolpert, D. H. (1992). "Stacked Generalization." Neural Networks 5(2), 241-259.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import LTVError, ModelError
from ltvkit.models.base.ensemble import EnsembleModel, holdout_split
from ltvkit.models.base.search import search, validation_scores
from ltvkit.models.registry import get_model_class, register
from ltvkit.models.stack import METAS, Stack
from ltvkit.prediction import PredictionParts


def choice_key(name: str, scores: dict[str, float]) -> tuple[float, float, bool]:
    """Sort key of a candidate: validation Gini to 4 decimals, then the lower validation decile
    MAPE, then a stack. Gini only ranks: a stack whose meta-learner rescales its best member
    (NNLS did, by 1.03 on CDNOW and 1.57 on Online Retail) ties with that member exactly, and
    only calibration can tell them apart."""
    gini, mape = scores["normalized_gini"], scores["decile_mape"]
    return (round(gini, 4) if np.isfinite(gini) else -np.inf,
            -mape if np.isfinite(mape) else -np.inf, name.startswith("stack["))


@register
class Auto(EnsembleModel):
    name = "auto"

    def __init__(self, families: tuple[str, ...] = ("lgbm", "ziln"),
                 base_params: dict[str, dict[str, Any]] | None = None,
                 time_budget: float = 240.0, trials_per_family: int = 20, n_folds: int = 3,
                 stack_metas: tuple[str, ...] = ("nnls", "simplex"), random_state: int = 0,
                 n_threads: int | None = None):
        self.families = families
        self.base_params = base_params
        self.time_budget = time_budget
        self.trials_per_family = trials_per_family
        self.n_folds = n_folds
        self.stack_metas = stack_metas
        self.random_state = random_state
        self.n_threads = n_threads
        super().__init__()

    @property
    def base_models(self) -> tuple[str, ...]:
        return tuple(self.families)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        tiny = {"n_estimators": 20, "num_leaves": 7, "n_threads": 1}
        return [{"families": ("lgbm",), "base_params": {"lgbm": tiny}, "trials_per_family": 2,
                 "n_folds": 2, "time_budget": 30.0, "n_threads": 1}]

    def _validate_params(self) -> None:
        super()._validate_params()
        if float(self.time_budget) <= 0 or int(self.trials_per_family) < 1:
            raise ModelError(f"{self.name}: time_budget must be > 0 and trials_per_family "
                             f">= 1, got {self.time_budget} and {self.trials_per_family}")
        bad = [m for m in self.stack_metas if m not in METAS]
        if bad:
            raise ModelError(f"{self.name}: stack_metas must be among {METAS}, got {bad}")

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        self.require_samples(self.name, train, 20 * int(self.n_folds))
        if valid is None:
            train, valid = holdout_split(train, 0.1, int(self.random_state))
        t0 = time.perf_counter()
        families = list(self.families)
        tuned: dict[str, dict[str, Any]] = {}
        info: dict[str, Any] = {}
        for i, family in enumerate(families):
            left = float(self.time_budget) - (time.perf_counter() - t0)
            share = left / (len(families) - i)
            fixed = self.make_member(family).get_params()
            fixed = {k: v for k, v in fixed.items()
                     if k in (self.base_params or {}).get(family, {})
                     or k in ("random_state", "n_threads")}
            try:
                res = search(get_model_class(family), train, valid,
                             n_trials=int(self.trials_per_family), timeout=max(share, 1.0),
                             seed=int(self.random_state), base_params=fixed)
            except LTVError as exc:
                info[family] = {"error": str(exc)}
                continue
            tuned[family] = res.best_params
            info[family] = {"best_valid_gini": res.best_value, "n_trials": res.n_trials,
                            "n_pruned": res.n_pruned, "params": res.best_params}
        if not tuned:
            raise ModelError(f"{self.name}: no family could be tuned: {info}")
        best_family = max(tuned, key=lambda f: info[f]["best_valid_gini"])
        candidates: dict[str, Any] = {
            best_family: self.make_member(best_family, tuned[best_family]).fit(train, valid)}
        if len(tuned) > 1:
            for meta in self.stack_metas:
                stack = Stack(base_models=tuple(tuned), base_params=tuned, meta=meta,
                              n_folds=int(self.n_folds), random_state=int(self.random_state),
                              n_threads=self.n_threads)
                candidates[f"stack[meta={meta}]"] = stack.fit(train, valid)
        scores = {k: validation_scores(m, valid, ("normalized_gini", "decile_mape"))
                  for k, m in candidates.items()}
        self.chosen_ = max(scores, key=lambda k: choice_key(k, scores[k]))
        self.members_ = [candidates[self.chosen_]]
        info["validation_gini"] = {k: s["normalized_gini"] for k, s in scores.items()}
        info["validation_decile_mape"] = {k: s["decile_mape"] for k, s in scores.items()}
        info["seconds"] = round(time.perf_counter() - t0, 1)
        self.search_info_ = info

    def _predict(self, data: LTVDataset) -> PredictionParts:
        return PredictionParts(value=self.member_values(self.members_, data,
                                                        self.horizons_[0])[:, 0])

    def _get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"chosen": self.chosen_, "search_info": self.search_info_}, {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.chosen_ = state["chosen"]
        self.search_info_ = state["search_info"]
