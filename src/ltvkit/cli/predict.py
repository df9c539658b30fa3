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
    out: Annotated[Path, typer.Option(help="Parquet file to write (--engine spark: a folder "
                                           "of Parquet parts).")],
    engine: str = typer.Option("local", help="local (one process) or spark (Spark batch "
                                             "scoring, the same rows)."),
    master: str = typer.Option("local[2]", help="--engine spark: the Spark master."),
    batch_rows: int = typer.Option(10_000, help="--engine spark: rows per Arrow batch."),
    partitions: int | None = typer.Option(None, help="--engine spark: repartition the samples "
                                                     "into this many tasks."),
) -> None:
    """Score every customer of a dataset with a saved model; writes a Parquet file."""
    if engine not in ("local", "spark"):
        from ltvkit.errors import LTVError

        raise LTVError(f"--engine must be 'local' or 'spark', got {engine!r}")
    if engine == "spark":
        from ltvkit.scoring.spark_predict import spark_predict

        n = spark_predict(model, data, out, master=master, batch_rows=batch_rows,
                          partitions=partitions)
        console.print(f"wrote the predictions of {n:,} samples as Parquet parts to {out}")
        return
    from ltvkit.data import LTVDataset
    from ltvkit.models import LTVModel
    from ltvkit.scoring.batch import prediction_frame

    estimator = LTVModel.load(model)
    ds = LTVDataset.load(data, sequences=estimator.reads_sequences)
    pred = estimator.predict(ds)
    out.parent.mkdir(parents=True, exist_ok=True)
    prediction_frame(pred, ds).to_parquet(out, index=False)
    console.print(f"wrote {len(pred):,} predictions x {len(pred.horizons)} horizon(s) to {out}")
