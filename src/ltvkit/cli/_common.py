"""What every ``ltv`` command shares: the consoles, the one-line error handling and small
argument helpers."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ltvkit.errors import LTVError

console = Console(stderr=True)
# Piped output (CI logs, files) gets a wide fixed width so leaderboards are not truncated.
out_console = Console(width=None if sys.stdout.isatty() else 160)


def cli_errors(func):
    """Turn expected failures into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return func(*args, **kwargs)
        except (LTVError, FileNotFoundError, json.JSONDecodeError) as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def print_quality(report) -> None:
    """The data-quality report (rows read, dropped and kept with notes) as a table."""
    table = Table(title="data quality", show_header=False)
    for label, count in report.rows():
        table.add_row(label, f"{count:,}")
    console.print(table)
