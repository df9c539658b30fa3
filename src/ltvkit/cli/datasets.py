"""``ltv datasets``: the public datasets with their sizes and benchmark protocols."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from ltvkit.cli._common import cli_errors, out_console


@cli_errors
def datasets(json_out: bool = typer.Option(False, "--json")) -> None:
    """List the public datasets with their sizes and benchmark protocols."""
    from ltvkit.datasets import DATASETS, data_home

    if json_out:
        out_console.print_json(json.dumps({
            n: {"description": d.description, "rows": d.rows, "customers": d.customers,
                "licence": d.licence, "bundled": d.bundled, "protocol": d.protocol,
                "task": d.task.to_dict()} for n, d in DATASETS.items()}))
        return
    table = Table(title=f"datasets (data home: {data_home()})")
    for col in ("name", "size", "where", "protocol"):
        table.add_column(col, overflow="fold")
    for name, d in DATASETS.items():
        where = "bundled" if d.bundled else "data home"
        table.add_row(name, d.size_text(), where, d.protocol)
    out_console.print(table)
