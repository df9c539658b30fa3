"""``ltv explain``: per-customer SHAP values of a saved model (one column per input plus the
base value), the global importance and the dependence data of the top inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import cli_errors, console, out_console


@cli_errors
def explain(
    model: Annotated[Path, typer.Option(help="Saved model directory.")],
    data: Annotated[Path, typer.Option(help="Dataset directory from `ltv prepare`.")],
    out: Annotated[Path, typer.Option(help="SHAP values file (.parquet or .csv); the global "
                                           "importance goes beside it.")],
    max_samples: int | None = typer.Option(None, help="Explain a seeded sample of this many "
                                                      "customers (default: all)."),
    background: int = typer.Option(100, help="Background samples of the model-agnostic "
                                             "explainer."),
    seed: int = typer.Option(0, help="Seed of the samples."),
) -> None:
    """Explain a model's predictions with SHAP (TreeSHAP for lgbm, else permutation)."""
    from ltvkit.data import LTVDataset
    from ltvkit.explain import dependence, global_importance
    from ltvkit.explain import explain as run_explain
    from ltvkit.models import load_model

    estimator = load_model(model)
    ds = LTVDataset.load(data)
    with console.status(f"explaining {estimator.name}"):
        expl = run_explain(estimator, ds, max_samples=max_samples, background=background,
                           seed=seed)
    frame = expl.to_frame()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    imp = global_importance(expl)
    imp_path = out.with_name(f"{out.stem}.importance.csv")
    imp.to_csv(imp_path, index=False)
    dep_path = out.with_name(f"{out.stem}.dependence.csv")
    import pandas as pd

    pd.concat([dependence(expl, f).assign(feature=f) for f in imp["feature"].head(5)],
              ignore_index=True).to_csv(dep_path, index=False)
    out_console.print(f"{expl.method} SHAP of {estimator.name} ({expl.output}), base value "
                      f"{expl.base_value:.4f}; top inputs by mean |SHAP|:")
    out_console.print(imp.head(10).to_string(index=False))
    console.print(f"wrote {len(frame):,} rows to {out}, importance to {imp_path}, dependence "
                  f"data to {dep_path}")
