"""Tuning: Optuna searches of a model's hyper-parameters on the validation split only.

:func:`tune` runs a seeded TPE study of one registered model on a training and a validation
set (the search itself is :func:`ltvkit.models.base.search.search`): each model declares its
space as a classmethod ``search_space(cls, trial)`` next to ``test_params()``; PyTorch models
are pruned from their per-epoch validation loss. With ``storage`` (a SQLite file, Optuna's
RDB storage) the study is kept on disk, so an interrupted study resumes where it stopped:
calling :func:`tune` again with the same file and name runs only the missing trials.
:func:`write_result` saves ``best_params.json`` and ``trials.csv``.

Cross-validation: ``folds`` (``ltv tune --cv K``) scores a trial by its mean validation score
over K customer-grouped folds of the training split (forward-chaining by cutoff for
sliding-cutoff data), so the choice rests on more than one validation draw.

Test data never enters: :func:`tune` receives only the training and the validation set (the
caller splits first; ``ltv tune`` and ``ltv benchmark --tune`` split with the benchmark's
split and hand over its first two parts).

References
----------
.. [1] Akiba, T., Sano, S., Yanase, T., Ohta, T., Koyama, M. (2019). "Optuna: A
   Next-generation Hyperparameter Optimization Framework." KDD 2019.
.. [2] Anitha Kumari, D., Siddiqui, M. S., Dorbala, R., Megala, R., Rao, K. T. V.,
   Reddy, N. S. (2024). "Deep Learning Models for Customer Lifetime Value Prediction
   in E-commerce." IEEE ICRTCST 2024 (LightGBM losses tuned with Optuna, 50 trials).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base.search import DIRECTIONS, Fold, SearchResult, make_study, search

__all__ = ["DIRECTIONS", "Fold", "SearchResult", "sqlite_url", "tune", "write_result"]


def sqlite_url(path: str | Path) -> str:
    """Optuna's RDB storage URL of the SQLite file ``path`` (its folder is created)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def tune(model: str, train: LTVDataset, valid: LTVDataset, *, n_trials: int = 50,
         timeout: float | None = None, seed: int = 0, params: dict[str, Any] | None = None,
         metric: str = "normalized_gini", storage: str | Path | None = None,
         study_name: str | None = None, space: Callable[[Any], dict[str, Any]] | None = None,
         on_trial: Callable[[Any], None] | None = None,
         folds: Sequence[Fold] | None = None) -> SearchResult:
    """Tune registered model ``model`` on ``train`` (fit) and ``valid`` (score).

    ``folds``: cross-validation instead of the validation split, a list of
    ``(fit_train, fit_valid, scored)`` (e.g. ``ltvkit.evaluation.protocols.cv_folds`` of the
    training split, as ``ltv tune --cv K`` builds them); a trial's value is then the mean
    validation score over the folds and ``train`` / ``valid`` are not read.

    ``params`` are fixed hyper-parameters merged under every trial's; ``space`` replaces the
    model's own search space; ``storage`` is a SQLite file path (or an Optuna storage URL) and
    ``study_name`` the study in it (default ``MODEL-seedS``; ``MODEL-seedS-cvK`` with
    folds); ``on_trial(frozen_trial)`` is called after every trial (e.g. to advance a
    progress bar)."""
    from ltvkit.models import get_model_class

    cls = get_model_class(model)
    url = None
    if storage is not None:
        text = str(storage)
        url = text if "://" in text else sqlite_url(text)
    name = study_name or f"{model}-seed{seed}" + (f"-cv{len(folds)}" if folds else "")
    study = make_study(seed=seed, metric=metric, storage=url, study_name=name if url else None)
    if study.direction.name.lower() != DIRECTIONS[metric]:
        raise ModelError(f"study '{name}' in {storage} optimises another direction than "
                         f"{metric}; use another --out or study name")
    return search(cls, train, valid, n_trials=n_trials, timeout=timeout, seed=seed,
                  base_params=params, space=space, metric=metric, study=study,
                  on_trial=on_trial, folds=folds)


def write_result(result: SearchResult, out: str | Path) -> Path:
    """Write ``best_params.json`` (model, metric, best value and parameters, trial counts)
    and ``trials.csv`` (one row per trial) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"model": result.model, "metric": result.metric, "best_value": result.best_value,
               "best_params": result.best_params, "n_trials": result.n_trials,
               "n_pruned": result.n_pruned, "seconds": round(result.seconds, 3)}
    (out / "best_params.json").write_text(json.dumps(summary, indent=2, default=_jsonable))
    if result.study is not None:
        result.study.trials_dataframe().to_csv(out / "trials.csv", index=False)
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return list(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
