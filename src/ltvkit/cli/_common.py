"""What every ``ltv`` command shares: the consoles, the one-line error handling and small
argument helpers."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
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
            error_line(exc)
            raise typer.Exit(2) from None
        except (IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            error_line(exc)
            raise typer.Exit(2) from None

    return wrapper


def error_line(exc: BaseException | str) -> None:
    """Print an error as one line on stderr (markup in the message is shown as typed)."""
    text = " ".join(str(exc).split())
    console.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object given on the command line (or in a file), or a one-line LTVError."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LTVError(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise LTVError(f"{what}: must be a JSON object {{\"name\": value}}, got "
                       f"{type(value).__name__}")
    return value


def parse_int_list(text: str | None, what: str) -> list[int]:
    """Comma-separated integers, or a one-line LTVError naming the bad item."""
    out = []
    for item in _split_list(text):
        try:
            out.append(int(item))
        except ValueError:
            raise LTVError(f"{what}: '{item}' is not an integer (give e.g. 0,1,2)") from None
    return out


def _split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def print_quality(report) -> None:
    """The data-quality report (rows read, dropped and kept with notes) as a table."""
    table = Table(title="data quality", show_header=False)
    for label, count in report.rows():
        table.add_row(label, f"{count:,}")
    console.print(table)
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"[bold yellow]warning:[/bold yellow] {escape(warning)}",
                      highlight=False, soft_wrap=True)
