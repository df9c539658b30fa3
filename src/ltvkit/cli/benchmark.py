"""``ltv benchmark``: every model on the same split, the test split scored, the leaderboard
printed and written (see :mod:`ltvkit.evaluation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ltvkit.cli._common import (
    _split_list,
    cli_errors,
    console,
    out_console,
    parse_int_list,
    parse_json_object,
)
from ltvkit.errors import LTVError


def run(dataset_name: str | None, data: Path | None, models_spec: str, seeds: list[int],
        out: Path, params: dict[str, dict[str, Any]], sparsities: list[int] | None = None
        ) -> None:
    """Plan the benchmark (public dataset or prepared directory), run it with a progress bar,
    print the leaderboard and the failures."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ltvkit.evaluation.runner import plan_dataset, plan_public_dataset

    if dataset_name:
        with console.status(f"preparing {dataset_name} with its protocol"):
            plan = plan_public_dataset(dataset_name, models_spec, seeds, sparsities)
    elif data is not None:
        plan = plan_dataset(data, models_spec, seeds, sparsities)
    else:
        raise LTVError("give --dataset NAME or --data DIR")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("benchmark", total=plan.n_steps)
        state = {"started": False}

        def on_step(msg: str) -> None:
            if state["started"]:
                progress.advance(bar)
            state["started"] = True
            progress.update(bar, description=f"fitting {msg}")

        records = plan.run(out, params=params, on_step=on_step)
        progress.advance(bar)
    _print_records(records, plan.horizon, out)
    failed = sum(1 for r in records if "error" in r)
    if records and failed == len(records):
        raise LTVError(f"every model failed ({failed} of {len(records)} runs): see the "
                       "reasons above")


@cli_errors
def benchmark(
    dataset: str | None = typer.Option(None, help="Public dataset name (uses its protocol)."),
    data: Path | None = typer.Option(None, help="Or a dataset directory from `ltv prepare` "
                                                "(80/20 customer split)."),
    models: str = typer.Option("all", help="Comma-separated model names, or 'all'."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds."),
    out: Path = typer.Option(Path("runs/benchmark"), help="Output directory."),
    params: str | None = typer.Option(None, help="JSON {model: {param: value}} overrides."),
    sparsity: str | None = typer.Option(None, help="Cross-domain sparsity levels in percent, "
                                                   "e.g. 0,20,50,80 (the CDLtvS sparsity "
                                                   "protocol)."),
    tune: int = typer.Option(0, "--tune", help="Tune each model with N Optuna trials on the "
                                               "validation split before scoring it (0: no)."),
    tune_timeout: float | None = typer.Option(None, help="Seconds per model and seed for "
                                                         "--tune."),
    tune_metric: str = typer.Option("normalized_gini", help="Validation metric --tune "
                                                            "optimises."),
    cv: int = typer.Option(0, "--cv", help="K-fold cross-validation (customer-grouped, or "
                                           "forward-chaining by cutoff); 0: the split."),
    split: str | None = typer.Option(None, "--split", help="Customer shares train,valid,test, "
                                                          "e.g. 70,15,15."),
    hierarchical: str | None = typer.Option(None, help="SHORT,LONG horizons, e.g. 13W,39W: "
                                                       "the short-horizon model extrapolated "
                                                       "to LONG vs the direct model and BTYD "
                                                       "(public single-cutoff datasets)."),
) -> None:
    """Fit every model on the same split, score the test split, print the leaderboard.

    A model name followed by @target (e.g. ltvs@target) is fitted on the target domain of a
    cross-domain dataset only."""
    seed_list = parse_int_list(seeds, "--seeds")
    if not seed_list:
        raise LTVError("--seeds: give at least one seed, e.g. 0,1,2")
    levels = parse_int_list(sparsity, "--sparsity") if sparsity else None
    overrides = parse_json_object(params, "--params") if params else {}
    for name, value in overrides.items():
        if not isinstance(value, dict):
            raise LTVError(f"--params: the entry for '{name}' must be a JSON object of "
                           f"parameters, got {type(value).__name__}")
    if hierarchical:
        run_hierarchical(dataset, models, seed_list, out, overrides, hierarchical)
        return
    if tune or cv or split:
        if levels:
            raise LTVError("--sparsity cannot be combined with --tune, --cv or --split")
        run_protocol_cli(dataset, data, models, seed_list, out, overrides, tune=tune,
                         tune_timeout=tune_timeout, cv=cv, split=split,
                         tune_metric=tune_metric)
        return
    run(dataset, data, models, seed_list, out, overrides, levels)


def _digest(data) -> str:
    """A short fingerprint of a dataset's samples (one study per fold and seed)."""
    import hashlib

    keys = "\n".join(sorted(f"{c}|{t}" for c, t in zip(data.customer_id.astype(str),
                                                        data.cutoff.astype(str), strict=True)))
    return hashlib.sha1(keys.encode()).hexdigest()[:10]


def run_protocol_cli(dataset_name: str | None, data: Path | None, models_spec: str,
                     seeds: list[int], out: Path, params: dict[str, dict[str, Any]], *,
                     tune: int = 0, tune_timeout: float | None = None, cv: int = 0,
                     split: str | None = None, tune_metric: str = "normalized_gini") -> None:
    """``--tune`` / ``--cv`` / ``--split``: :func:`ltvkit.evaluation.protocols.run_protocol`
    with a tuner from :mod:`ltvkit.tuning` (tuning sees the training and validation parts
    only)."""
    from rich.markup import escape

    from ltvkit.evaluation.protocols import parse_ratios, ratio_split, run_protocol
    from ltvkit.evaluation.runner import plan_dataset, plan_public_dataset
    from ltvkit.evaluation.specs import ModelSpec

    if dataset_name:
        with console.status(f"preparing {dataset_name} with its protocol"):
            plan = plan_public_dataset(dataset_name, models_spec, seeds)
    elif data is not None:
        plan = plan_dataset(data, models_spec, seeds)
    else:
        raise LTVError("give --dataset NAME or --data DIR")
    chosen_split = ratio_split(*parse_ratios(split)) if split else plan.split
    tuner = None
    if tune:
        from ltvkit.tuning import tune as run_tune

        def tuner(spec: str, train, valid, seed: int) -> dict[str, Any]:
            parsed = ModelSpec.parse(spec)
            if parsed.on_target:
                train = train.domain_view(train.target_domain)
                valid = valid.domain_view(valid.target_domain)
            fixed = {**params.get(parsed.name, {}), **parsed.params}
            result = run_tune(parsed.name, train, valid, n_trials=tune, timeout=tune_timeout,
                              seed=seed, params=fixed, metric=tune_metric,
                              storage=out / "studies.db",
                              study_name=f"{spec}-{tune_metric}-seed{seed}-{_digest(train)}")
            return {k: v for k, v in result.best_params.items() if k != "random_state"}

    def on_step(msg: str) -> None:
        console.print(f"fitting {escape(msg)}")

    records = run_protocol(plan.dataset, chosen_split, plan.models, seeds, out, cv=cv or None,
                           tuner=tuner, params=params, on_step=on_step)
    _print_records(records, plan.horizon, out)


def run_hierarchical(dataset_name: str | None, models_spec: str, seeds: list[int], out: Path,
                     params: dict[str, dict[str, Any]], horizons: str) -> None:
    """``--hierarchical SHORT,LONG``: :func:`ltvkit.evaluation.hierarchical.compare_horizons`
    for the first model of ``--models`` (default lgbm) and every seed."""
    from ltvkit.evaluation.hierarchical import compare_horizons
    from ltvkit.evaluation.leaderboard import leaderboard_rich_table, write_leaderboard
    from ltvkit.evaluation.specs import ModelSpec, split_model_list

    parts = _split_list(horizons)
    if len(parts) != 2:
        raise LTVError(f"--hierarchical takes SHORT,LONG (e.g. 13W,39W), got '{horizons}'")
    if not dataset_name:
        raise LTVError("--hierarchical rebuilds the dataset at two cutoffs: use --dataset NAME")
    from ltvkit.datasets import get_dataset

    public = get_dataset(dataset_name)
    spec = ModelSpec.parse("lgbm" if models_spec == "all" else split_model_list(models_spec)[0])
    with console.status(f"loading {dataset_name}"):
        log = public.load_log()
        attrs = public.load_attributes(log)
    records = []
    for seed in seeds:
        console.print(f"hierarchical {parts[0]} -> {parts[1]}, {spec.name}, seed {seed}")
        records += compare_horizons(log, public.task, short=parts[0], long=parts[1],
                                    model=spec.name, params={**params.get(spec.name, {}),
                                                             **spec.params},
                                    seed=seed, attributes=attrs,
                                    attribute_customer_col=public.attribute_customer_col)
    out.mkdir(parents=True, exist_ok=True)
    write_leaderboard(records, out, horizon=parts[1])
    out_console.print(leaderboard_rich_table(records, parts[1]))
    console.print(f"wrote {out}/leaderboard.json and leaderboard.md")


def _print_records(records: list[dict[str, Any]], horizon: str, out: Path) -> None:
    """The leaderboard of a run, each failed run with its reason, and where the files are."""
    from rich.markup import escape

    from ltvkit.evaluation.leaderboard import leaderboard_rich_table

    out_console.print(leaderboard_rich_table(records, horizon))
    for r in records:
        if "error" in r:
            console.print(f"[yellow]{escape(r['model'])} seed {r['seed']} failed:[/yellow] "
                          f"{escape(r['error'])}")
    console.print(f"wrote {out}/leaderboard.json, leaderboard.md and predictions/")
