"""``ltv evaluate``: score a predictions file with the LTV metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
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
    import numpy as np
    import pandas as pd

    from ltvkit.metrics import evaluate as evaluate_metrics

    if not predictions.exists():
        raise FileNotFoundError(f"predictions file not found: {predictions}")
    suffix = "".join(predictions.suffixes).lower()
    try:
        frame = pd.read_csv(predictions) if ".csv" in suffix else pd.read_parquet(predictions)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # pyarrow's errors (ArrowInvalid, ...) are ValueErrors / OSErrors.
        first = (str(exc).splitlines() or [""])[0]
        raise LTVError(f"cannot read {predictions}: {type(exc).__name__}: {first} "
                       "(rule: readable predictions file)") from None
    missing = [c for c in ("customer_id", "y_true", "y_pred") if c not in frame.columns]
    if missing:
        raise LTVError(f"{predictions}: missing column(s) {missing}; it has {list(frame.columns)}")
    for col in ("y_true", "y_pred"):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise LTVError(f"{predictions}: column '{col}' is not numeric")
        bad = int((~np.isfinite(frame[col].to_numpy(float))).sum())
        if bad:
            raise LTVError(f"{predictions}: column '{col}': {bad} rows are missing or not "
                           "finite (rule: finite values)")
    # A file from `ltv predict` holds one block of rows per horizon: score each on its own
    # (pooling horizons would mix label scales into one inflated score).
    groups = ([(str(h), g) for h, g in frame.groupby("horizon", sort=False)]
              if "horizon" in frame.columns else [(None, frame)])
    results = {}
    for horizon, part in groups:
        p_active = part["p_active"].to_numpy(float) if "p_active" in part.columns else None
        results[horizon] = evaluate_metrics(part["y_true"].to_numpy(float),
                                            part["y_pred"].to_numpy(float), p_active,
                                            top_frac=top_frac)
    if json_out:
        payload = results[None] if None in results else results
        out_console.print_json(json.dumps(payload, default=float))
        return
    for horizon, metrics in results.items():
        n = int(metrics["n"])
        title = f"{predictions.name}: {n:,} predictions" + (
            f", horizon {horizon}" if horizon is not None else "")
        table = Table(title=title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in metrics.items():
            if isinstance(value, float):
                table.add_row(key, f"{value:.4f}")
            elif isinstance(value, list):
                table.add_row(key, escape("; ".join(map(str, value))) or "—")
            else:
                table.add_row(key, escape(str(value)))
        out_console.print(table)
