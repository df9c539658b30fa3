"""``ltv tune``: an Optuna study of one model on the validation split, or with ``--cv K`` on
K folds of the training split (see :mod:`ltvkit.tuning`); the study is kept in
``OUT/study.db`` so an interrupted run resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import cli_errors, console, out_console
from ltvkit.errors import LTVError


@cli_errors
def tune(
    model: Annotated[str, typer.Option(help="Model name (see `ltv models`).")],
    out: Annotated[Path, typer.Option(help="Output directory (study.db, best_params.json, "
                                           "trials.csv, model/).")],
    data: Path | None = typer.Option(None, help="Dataset directory from `ltv prepare` "
                                                "(split by customer like `ltv benchmark`)."),
    dataset: str | None = typer.Option(None, help="Or a public dataset name (its protocol's "
                                                  "split)."),
    trials: int = typer.Option(50, help="Number of trials (counting those already in the "
                                        "study)."),
    timeout: float | None = typer.Option(None, help="Stop starting trials after S seconds."),
    seed: int = typer.Option(0, help="Seed of the split, the sampler and the models."),
    metric: str = typer.Option("normalized_gini", help="Validation metric to optimise."),
    params: str | None = typer.Option(None, help="Fixed hyper-parameters as JSON."),
    cv: int = typer.Option(0, "--cv", help="Score each trial by K-fold cross-validation of "
                                           "the training split (customer-grouped; "
                                           "forward-chaining by cutoff for sliding "
                                           "cutoffs) instead of the validation split."),
) -> None:
    """Tune a model's hyper-parameters on the validation split only (the test split is never
    read), save the best parameters and the best model refitted on the training split."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ltvkit.evaluation.splits import customer_split, protocol_split
    from ltvkit.models import create_model
    from ltvkit.tuning import tune as run_tune
    from ltvkit.tuning import write_result

    if trials < 1:
        raise LTVError(f"--trials must be >= 1, got {trials}")
    if cv == 1 or cv < 0:
        raise LTVError(f"--cv needs K >= 2 folds, got {cv}")
    if dataset:
        from ltvkit.data import build_dataset
        from ltvkit.datasets import get_dataset

        public = get_dataset(dataset)
        with console.status(f"preparing {dataset} with its protocol"):
            log = public.load_log()
            ds = build_dataset(log, public.task, public.load_attributes(log),
                               attribute_customer_col=public.attribute_customer_col)
        split = protocol_split(dataset)
    elif data is not None:
        from ltvkit.data import LTVDataset

        ds, split = LTVDataset.load(data), customer_split
    else:
        raise LTVError("give --data DIR or --dataset NAME")
    train, valid, _ = split(ds, seed)  # the test part is dropped here, unread
    folds = None
    if cv:
        from ltvkit.evaluation.protocols import cv_folds

        folds = cv_folds(train, cv, seed)  # folds of the training split only
    fixed = json.loads(params) if params else {}
    out.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console) as progress:
        bar = progress.add_task(f"tuning {model}", total=trials)

        def on_trial(trial) -> None:
            progress.update(bar, completed=trial.number + 1,
                            description=f"tuning {model} (trial {trial.number}: "
                                        f"{trial.state.name.lower()})")

        result = run_tune(model, train, valid, n_trials=trials, timeout=timeout, seed=seed,
                          params=fixed, metric=metric, storage=out / "study.db",
                          on_trial=on_trial, folds=folds)
    write_result(result, out)
    best = create_model(model, **result.best_params)
    with console.status(f"refitting the best {model}"):
        best.fit(train, valid)
    best.save(out / "model")
    scored = f"{cv}-fold CV" if cv else "validation"
    out_console.print(f"best {scored} {metric} {result.best_value:.4f} after "
                      f"{result.n_trials} trials ({result.n_pruned} pruned): "
                      f"{json.dumps(result.best_params, default=str)}")
    console.print(f"wrote {out}/best_params.json, trials.csv, study.db and model/")
