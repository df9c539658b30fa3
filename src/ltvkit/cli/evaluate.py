"""``ltv evaluate``: score a predictions file with the LTV metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltvkit.cli._common import cli_errors, out_console
from ltvkit.errors import LTVError


@cli_errors
def evaluate(
    predictions: Annotated[Path, typer.Option(help="Parquet or CSV with customer_id, cutoff, "
                                                   "y_true, y_pred[, p_active].")],
    top_frac: float = typer.Option(0.10, help="Share of customers that counts as top value."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Score a predictions file with the LTV metrics (Gini, decile MAPE, NMAE, AUC, ...)."""
    import pandas as pd

    from ltvkit.metrics import evaluate as evaluate_metrics

    if not predictions.exists():
        raise FileNotFoundError(f"predictions file not found: {predictions}")
    suffix = "".join(predictions.suffixes).lower()
    frame = pd.read_csv(predictions) if ".csv" in suffix else pd.read_parquet(predictions)
    missing = [c for c in ("customer_id", "y_true", "y_pred") if c not in frame.columns]
    if missing:
        raise LTVError(f"{predictions}: missing column(s) {missing}; it has {list(frame.columns)}")
    p_active = frame["p_active"].to_numpy(float) if "p_active" in frame.columns else None
    for col in ("y_true", "y_pred"):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise LTVError(f"{predictions}: column '{col}' is not numeric")
    metrics = evaluate_metrics(frame["y_true"].to_numpy(float), frame["y_pred"].to_numpy(float),
                               p_active, top_frac=top_frac)
    if json_out:
        out_console.print_json(json.dumps(metrics, default=float))
        return
    table = Table(title=f"{predictions.name}: {len(frame):,} predictions")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, list):
            table.add_row(key, "; ".join(map(str, value)) or "—")
        else:
            table.add_row(key, str(value))
    out_console.print(table)
