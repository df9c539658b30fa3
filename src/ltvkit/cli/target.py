"""``ltv target``: who to contact under a budget, a count or a share; expected (and realised)
revenue, cost and ROI, and the expected-value-vs-spend curve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import cli_errors, console, out_console


def read_scored(path: Path):
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(f"scored file not found: {path}")
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


@cli_errors
def target(
    scored: Annotated[Path, typer.Option(help="Scored file from `ltv score`.")],
    out: Annotated[Path, typer.Option(help="Target list to write (.parquet or .csv); the "
                                           "curve goes beside it (<stem>.curve.csv).")],
    top: str | None = typer.Option(None, help="Target share, e.g. 10%."),
    n: int | None = typer.Option(None, help="Number of customers to target."),
    budget: float | None = typer.Option(None, help="Budget: contacts = budget / cost."),
    cost_per_contact: float = typer.Option(1.0, help="Cost of one contact."),
    margin: float = typer.Option(1.0, help="Margin on revenue, in (0, 1]."),
    value_col: str | None = typer.Option(None, help="Value column to rank by (default the "
                                                    "first value_<h>)."),
) -> None:
    """Choose who to target and report expected revenue, cost, ROI and the spend curve."""
    import json

    from ltvkit.scoring import target as run_target

    result = run_target(read_scored(scored), top=top, n=n, budget=budget,
                        cost_per_contact=cost_per_contact, margin=margin, value_col=value_col)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        result.targets.to_csv(out, index=False)
    else:
        result.targets.to_parquet(out, index=False)
    curve = out.with_name(f"{out.stem}.curve.csv")
    result.curve.to_csv(curve, index=False)
    out.with_name(f"{out.stem}.summary.json").write_text(json.dumps(result.summary, indent=2))
    out_console.print(json.dumps(result.summary, indent=2))
    console.print(f"wrote {len(result.targets):,} targets to {out} and the curve to {curve}")
