"""``ltv report``: one self-contained ``report.html`` from a benchmark run folder (see
:mod:`ltvkit.report`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ltvkit.cli._common import cli_errors, console


def write_report(run: Path, out: Path | None = None, static: bool = True,
                 btyd: bool = True) -> None:
    """Build the report of ``run`` and print where it went and every note it carries."""
    from rich.markup import escape

    from ltvkit.report import build_report

    with console.status(f"writing the report of {run}"):
        result = build_report(run, out, static=static, btyd=btyd)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    copies = f", {len(result.static_files)} PNG/SVG copies" if result.static_files else ""
    console.print(f"wrote {result.path} ({len(result.charts)} charts; their numbers in "
                  f"{result.path.parent / 'report_data'}{copies})", highlight=False,
                  soft_wrap=True)


@cli_errors
def report(
    run: Path = typer.Argument(..., help="A run folder written by `ltv benchmark --out`."),
    out: Path | None = typer.Option(None, help="The HTML file (default RUN/report.html)."),
    static: bool = typer.Option(True, "--static/--no-static",
                                help="Also write PNG and SVG copies of every chart "
                                     "(needs Chromium)."),
    btyd: bool = typer.Option(True, "--btyd/--no-btyd",
                              help="Refit BG/NBD on the run's data for the BTYD charts."),
) -> None:
    """One self-contained HTML report of a benchmark run: data quality, leaderboard, gain
    curves, deciles, calibration, BTYD and sparsity charts; opens offline."""
    write_report(run, out, static=static, btyd=btyd)
