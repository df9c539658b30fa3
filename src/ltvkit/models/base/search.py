"""Hyper-parameter search of one model on a training and a validation set (Optuna).

The core that :mod:`ltvkit.tuning` (the user-facing workflow: SQLite studies, the ``ltv tune``
command, the benchmark's ``--tune``) and the ``auto`` ensemble share. It lives below the model
files so a registered model (``auto``) can search too.

- A model class declares its space as a classmethod ``search_space(cls, trial) -> params``
  next to ``test_params()``; models without one get :func:`torch_training_space` when they
  are PyTorch models (learning rate, weight decay, batch size), and cannot be tuned otherwise.
- A trial fits ``cls(**base_params, **space(trial))`` on ``train`` (``valid`` for early
  stopping) and scores the predictions of ``valid`` with :mod:`ltvkit.metrics` on the first
  horizon. Nothing else is read: the caller never hands a test split to the search.
- Seeded: :class:`optuna.samplers.TPESampler` with ``seed``, and each trial's model gets the
  same ``random_state``, so the same seed and data give the same trials.
- Cross-validation: with ``folds`` a trial's value is the mean score over K folds of the
  training data instead of the one validation split (``ltv tune --cv K``).
- Pruning: a PyTorch model's per-epoch validation loss is reported to the trial (through
  :data:`ltvkit.nn.trainer.EPOCH_OBSERVER`) and Optuna's median pruner stops trials whose loss
  is worse than the median of earlier trials at the same epoch.

References
----------
.. [1] Akiba, T., Sano, S., Yanase, T., Ohta, T., Koyama, M. (2019). "Optuna: A
   Next-generation Hyperparameter Optimization Framework." KDD 2019.
.. [2] Bergstra, J., Bardenet, R., Bengio, Y., Kegl, B. (2011). "Algorithms for
   Hyper-Parameter Optimization." NeurIPS 2011 (the TPE sampler).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import LTVError, ModelError
from ltvkit.metrics import evaluate

#: Metrics a search may optimise, with their direction.
DIRECTIONS = {"normalized_gini": "maximize", "spearman": "maximize", "decile_mape": "minimize",
              "nmae": "minimize", "nrmse": "minimize"}

SearchSpace = Callable[[Any], dict[str, Any]]
#: One cross-validation fold: ``(fit on, early-stop on, score on)``.
Fold = tuple[LTVDataset, LTVDataset | None, LTVDataset]


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise ModelError("tuning needs the 'optuna' package: pip install 'ltvkit[tune]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def torch_training_space(trial: Any) -> dict[str, Any]:
    """The training hyper-parameters every PyTorch model accepts."""
    return {"lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_categorical("weight_decay", [0.0, 1e-5, 1e-4]),
            "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024])}


def search_space_of(cls: type) -> SearchSpace:
    """The class's ``search_space`` classmethod (or the PyTorch training space)."""
    space = getattr(cls, "search_space", None)
    if space is not None:
        return space
    if cls.tag("torch"):
        return torch_training_space
    raise ModelError(f"{cls.name} declares no search space (a classmethod "
                     "search_space(cls, trial) next to test_params()), so it cannot be tuned")


def validation_scores(model: Any, valid: LTVDataset, metrics: tuple[str, ...]) -> dict[str, float]:
    """``metrics`` of ``model``'s first-horizon predictions of ``valid`` (one prediction);
    a metric that is undefined on ``valid`` is NaN."""
    pred = model.predict(valid)
    horizon = model.horizons_[0]
    values = evaluate(valid.labels_for(horizon), pred.value[:, pred.horizon_index(horizon)])
    return {m: float(values[m]) if values[m] is not None and np.isfinite(values[m])
            else float("nan") for m in metrics}


def validation_score(model: Any, valid: LTVDataset, metric: str) -> float:
    """``metric`` of ``model``'s first-horizon predictions of ``valid``."""
    return validation_scores(model, valid, (metric,))[metric]


@contextlib.contextmanager
def _pruning(trial: Any, sign: float) -> Iterator[None]:
    """Report every epoch's validation loss to ``trial``; raise TrialPruned when told to."""
    try:
        from ltvkit.nn.trainer import EPOCH_OBSERVER
    except ImportError:  # no PyTorch: nothing trains by epochs
        yield
        return
    optuna = _optuna()
    step = {"n": 0}

    def observe(epoch: int, loss: float) -> None:
        if np.isfinite(loss):
            trial.report(sign * float(loss), step["n"])
        step["n"] += 1
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    token = EPOCH_OBSERVER.set(observe)
    try:
        yield
    finally:
        EPOCH_OBSERVER.reset(token)


@dataclass
class SearchResult:
    """The outcome of a search: the best trial's parameters (merged with the fixed ones)."""

    model: str
    metric: str
    best_params: dict[str, Any]
    best_value: float
    n_trials: int
    n_pruned: int
    seconds: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    study: Any = None


def make_study(*, seed: int, metric: str, storage: str | None = None,
               study_name: str | None = None, n_startup_trials: int = 5) -> Any:
    """A seeded TPE study with a median pruner (resumed from ``storage`` when it exists)."""
    optuna = _optuna()
    if metric not in DIRECTIONS:
        raise ModelError(f"tuning metric must be one of {sorted(DIRECTIONS)}, got '{metric}'")
    n_done = 0
    if storage is not None and study_name is not None:
        with contextlib.suppress(KeyError):
            n_done = len(optuna.load_study(study_name=study_name, storage=storage).trials)
    # A resumed study draws from a sampler seeded by the trials already run, so resuming
    # repeats no earlier draw.
    sampler = optuna.samplers.TPESampler(seed=int(seed) + n_done,
                                         n_startup_trials=n_startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5)
    return optuna.create_study(direction=DIRECTIONS[metric], sampler=sampler, pruner=pruner,
                               storage=storage, study_name=study_name, load_if_exists=True)


def search(cls: type, train: LTVDataset, valid: LTVDataset, *, n_trials: int = 50,
           timeout: float | None = None, seed: int = 0,
           base_params: dict[str, Any] | None = None, space: SearchSpace | None = None,
           metric: str = "normalized_gini", study: Any = None,
           on_trial: Callable[[Any], None] | None = None,
           folds: Sequence[Fold] | None = None) -> SearchResult:
    """Tune ``cls`` on ``train`` / ``valid``: up to ``n_trials`` trials in ``study`` (counting
    trials it already holds, so a resumed study runs only the rest) or until ``timeout``
    seconds. Returns the best parameters (``base_params`` merged in).

    With ``folds`` (cross-validation), ``train`` and ``valid`` are not read: each trial fits
    once per fold ``(fit_train, fit_valid, scored)`` (``fit_valid`` for early stopping) and
    its value is the mean of the folds' ``scored`` scores (each fold's score is kept in the
    trial's user attribute ``fold_scores``); pruning watches the first fold's epochs."""
    optuna = _optuna()
    if int(n_trials) < 1:
        raise ModelError(f"n_trials must be >= 1, got {n_trials}")
    if folds is not None:
        folds = list(folds)
        if not folds or any(len(f[2]) == 0 for f in folds):
            raise ModelError(f"{cls.name}: cross-validated tuning needs non-empty folds")
    elif valid is None or len(valid) == 0:
        raise ModelError(f"{cls.name}: tuning needs a non-empty validation set")
    space = space or search_space_of(cls)
    base = dict(base_params or {})
    if "random_state" in cls._param_names():
        base.setdefault("random_state", int(seed))
    study = study or make_study(seed=seed, metric=metric)
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0

    def objective(trial: Any) -> float:
        params = {**base, **space(trial)}
        if folds is None:
            model = cls(**params)
            try:
                with _pruning(trial, sign):
                    model.fit(train, valid)
            except LTVError as exc:
                trial.set_user_attr("error", str(exc))
                raise
            return validation_score(model, valid, metric)
        scores = []
        for i, (fit_train, fit_valid, scored) in enumerate(folds):
            model = cls(**params)
            try:
                with _pruning(trial, sign) if i == 0 else contextlib.nullcontext():
                    model.fit(fit_train, fit_valid)
            except LTVError as exc:
                trial.set_user_attr("error", f"fold {i}: {exc}")
                raise
            scores.append(validation_score(model, scored, metric))
        trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                optuna.trial.TrialState.FAIL)
    remaining = int(n_trials) - sum(t.state in finished for t in study.trials)
    t0 = time.perf_counter()
    if remaining > 0:
        callbacks = [lambda s, t: on_trial(t)] if on_trial else None
        study.optimize(objective, n_trials=remaining, timeout=timeout, catch=(LTVError,),
                       callbacks=callbacks, gc_after_trial=False)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
            and t.value is not None and np.isfinite(t.value)]
    if not done:
        reasons = [t.user_attrs["error"] for t in study.trials if "error" in t.user_attrs]
        raise ModelError(f"{cls.name}: no tuning trial completed ({len(study.trials)} trials "
                         "failed or were pruned" + (f"; last error: {reasons[-1]})" if reasons
                                                    else ")"))
    best = study.best_trial
    return SearchResult(
        model=cls.name, metric=metric, best_params=_params_of(cls, base, space, best),
        best_value=float(best.value), n_trials=len(study.trials),
        n_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        seconds=time.perf_counter() - t0,
        trials=[{"number": t.number, "state": t.state.name, "value": t.value,
                 "params": dict(t.params)} for t in study.trials],
        study=study)


def _params_of(cls: type, base: dict[str, Any], space: SearchSpace, trial: Any) -> dict[str, Any]:
    """The model parameters of a finished trial (its space replayed on its fixed values)."""
    optuna = _optuna()
    fixed = optuna.trial.FixedTrial(dict(trial.params))
    return {**base, **space(fixed)}
