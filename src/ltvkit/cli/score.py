"""``ltv score``: the scored customer base a CRM imports (value per horizon, interval,
p_active, discounted CLV, rank, decile, percentile, segment) and the out-of-scope list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import _split_list, cli_errors, console


def _floats(text: str, what: str) -> list[float]:
    from ltvkit.scoring import ScoringError

    try:
        return [float(x) for x in _split_list(text)]
    except ValueError:
        raise ScoringError(f"{what}: not a comma-separated list of numbers: '{text}'") from None


@cli_errors
def score(
    model: Annotated[Path, typer.Option(help="Saved model directory.")],
    data: Annotated[Path, typer.Option(help="Dataset directory from `ltv prepare`.")],
    out: Annotated[Path, typer.Option(help="Scored file to write (.parquet or .csv); the "
                                           "out-of-scope list goes beside it.")],
    discount_rate: float = typer.Option(0.10, help="Annual discount rate of clv_npv_<h>."),
    explain: bool = typer.Option(False, "--explain", help="Add each customer's top-3 reasons "
                                                          "(SHAP)."),
    intervals: bool | None = typer.Option(None, "--intervals/--no-intervals",
                                          help="Require (or leave out) q10/q50/q90; default: "
                                               "when the model has them."),
    with_labels: bool = typer.Option(False, help="Add y_true_<h> from the dataset's labels."),
    fit_segments: Path | None = typer.Option(None, help="Learn value segments on this "
                                                        "(training) dataset and save them "
                                                        "beside the model first."),
    segment_quantiles: str = typer.Option("0.5,0.8", help="Quantiles of the value segments."),
    segment_thresholds: str | None = typer.Option(None, help="Fixed value thresholds instead "
                                                             "of quantiles, e.g. 20,100."),
    log_dataset: str | None = typer.Option(None, help="Public dataset whose log the data came "
                                                      "from: lists its out-of-scope "
                                                      "customers with reasons."),
) -> None:
    """Score a customer base for a CRM; out-of-scope customers are listed with reasons."""
    from ltvkit.data import LTVDataset
    from ltvkit.models import load_model
    from ltvkit.scoring import ValueSegments, learn_segments
    from ltvkit.scoring import score as run_score

    # Arguments first, so a bad one fails before anything is loaded.
    fixed = (ValueSegments.from_thresholds(_floats(segment_thresholds, "segment_thresholds"))
             if segment_thresholds else None)
    quantiles = _floats(segment_quantiles, "segment_quantiles")
    estimator = load_model(model)
    segments = None
    if fixed is not None:
        segments = fixed
        segments.save(model)
    elif fit_segments is not None:
        segments = learn_segments(
            estimator, LTVDataset.load(fit_segments, sequences=estimator.reads_sequences),
            quantiles, save=model)
    source = None
    if segments is None:
        segments = ValueSegments.load(model)
        source = f"{model}/segments.json" if segments is not None else None
    log = None
    if log_dataset:
        from ltvkit.datasets import get_dataset

        log = get_dataset(log_dataset).load_log()
    # Without --explain the dataset is read in chunks (and without its sequences when the
    # model does not read them); the explanations need the whole dataset at once.
    from ltvkit.scoring.score import CHUNK_ROWS

    ds = LTVDataset.load(data) if explain else data
    scored = run_score(estimator, ds, discount_rate=discount_rate, segments=segments,
                       intervals=intervals, with_labels=with_labels, log=log,
                       chunk_rows=None if explain else CHUNK_ROWS)
    if source is not None:
        scored.summary["segments_from"] = source
    if explain:
        from ltvkit.explain import explain as run_explain
        from ltvkit.explain import top_reasons

        reasons = top_reasons(run_explain(estimator, ds), k=3)
        scored.add_columns({col: reasons[col].to_numpy() for col in reasons.columns})
    path, other = scored.write(out)
    s = scored.summary
    console.print(f"wrote {s['samples_scored']:,} scored customers to {path} "
                  f"(segments: {s['segments_from']})")
    if log is not None:
        console.print(f"{len(scored.out_of_scope):,} of {s['customers_in_log']:,} log "
                      f"customers out of scope, with reasons, in {other}")
    else:
        console.print(f"out-of-scope list (needs --log-dataset) written empty to {other}")
