"""``ltv predict``: score every customer of a dataset with a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import cli_errors, console


@cli_errors
def predict(
    model: Annotated[Path, typer.Option(help="Saved model directory.")],
    data: Annotated[Path, typer.Option(help="Dataset directory from `ltv prepare`.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
) -> None:
    """Score every customer of a dataset with a saved model; writes a Parquet file."""
    from ltvkit.data import LTVDataset
    from ltvkit.models import LTVModel

    estimator = LTVModel.load(model)
    ds = LTVDataset.load(data, sequences=estimator.reads_sequences)
    pred = estimator.predict(ds)
    frames = []
    for h in pred.horizons:
        y = ds.labels_for(h) if h in ds.horizons else None
        f = pred.to_frame(h, y_true=y)
        f.insert(2, "horizon", h)
        frames.append(f)
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    console.print(f"wrote {len(pred):,} predictions x {len(pred.horizons)} horizon(s) to {out}")
