"""``ltv benchmark``: every model on the same split, the test split scored, the leaderboard
printed and written (see :mod:`ltvkit.evaluation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ltvkit.cli._common import cli_errors, console, out_console, parse_int_list, parse_json_object
from ltvkit.errors import LTVError


def run(dataset_name: str | None, data: Path | None, models_spec: str, seeds: list[int],
        out: Path, params: dict[str, dict[str, Any]], sparsities: list[int] | None = None
        ) -> None:
    """Plan the benchmark (public dataset or prepared directory), run it with a progress bar,
    print the leaderboard and the failures."""
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ltvkit.evaluation.leaderboard import leaderboard_rich_table
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
    out_console.print(leaderboard_rich_table(records, plan.horizon))
    for r in records:
        if "error" in r:
            console.print(f"[yellow]{escape(r['model'])} seed {r['seed']} failed:[/yellow] "
                          f"{escape(r['error'])}")
    console.print(f"wrote {out}/leaderboard.json, leaderboard.md and predictions/")
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
    run(dataset, data, models, seed_list, out, overrides, levels)
