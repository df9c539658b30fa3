"""``ltv demo``: the main job on bundled CDNOW, benchmark the demo models and print the
leaderboard."""

from __future__ import annotations

from pathlib import Path

import typer

from ltvkit.cli._common import _split_list, cli_errors
from ltvkit.cli.report import write_report
from ltvkit.evaluation.specs import DEMO_MODELS


@cli_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Output directory."),
    models: str = typer.Option(DEMO_MODELS, help="Models to run."),
    seeds: str = typer.Option("0", help="Seeds."),
) -> None:
    """The main job on bundled CDNOW: benchmark the models, print the leaderboard, write files."""
    from ltvkit.cli.benchmark import run
    from ltvkit.evaluation.specs import available_specs

    # Models whose optional dependency (PyTorch) is missing are left out of the demo.
    run("cdnow", None, available_specs(models), [int(s) for s in _split_list(seeds)], out, {})
    write_report(out)  # report.html beside the leaderboard, as `ltv report` writes it
