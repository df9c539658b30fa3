"""``ltv demo``: the main job on bundled CDNOW, benchmark the demo models and print the
leaderboard; then the scored customer base, its segment table and the top of the target list."""

from __future__ import annotations

from pathlib import Path

import typer

from ltvkit.cli._common import _split_list, cli_errors
from ltvkit.cli.report import write_report
from ltvkit.evaluation.specs import DEMO_MODELS


@cli_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Output directory."),
    models: str = typer.Option(DEMO_MODELS, help="Models to run."),
    seeds: str = typer.Option("0", help="Seeds."),
) -> None:
    """The main job on bundled CDNOW: benchmark the models, print the leaderboard, write files."""
    from ltvkit.cli.benchmark import run
    from ltvkit.evaluation.specs import available_specs

    # Models whose optional dependency (PyTorch) is missing are left out of the demo.
    run("cdnow", None, available_specs(models), [int(s) for s in _split_list(seeds)], out, {})
    decisions(out)
    write_report(out)  # report.html beside the leaderboard, as `ltv report` writes it


def decisions(out: Path) -> None:
    """From predictions to decisions on CDNOW: an lgbm fitted on the protocol's training
    split scores the test split (segments learnt on training predictions and saved with the
    model), then the segment table and the top-10 % target list are printed; the SHAP global
    importance of the model on the test split is written beside them for the report."""
    import json

    from ltvkit.cli._common import console, out_console
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset
    from ltvkit.models import create_model
    from ltvkit.scoring import learn_segments, score, segment_table, target

    public = get_dataset("cdnow")
    log = public.load_log()
    train, valid, test = public.split.split(build_dataset(log, public.task), 0)
    model = create_model("lgbm", random_state=0).fit(train, valid)
    model_dir = out / "decisions" / "lgbm"
    model.save(model_dir)
    learn_segments(model, train, save=model_dir)
    scored = score(model_dir, test, with_labels=True, log=log)
    scored_path, oos_path = scored.write(out / "decisions" / "scored.parquet")
    h = scored.summary["horizons"][0]
    out_console.print(f"\n[bold]scored customer base[/bold] (CDNOW test split, lgbm, "
                      f"{len(scored.frame):,} customers; first rows by rank)")
    out_console.print(scored.frame.sort_values("rank").head(5).to_string(index=False))
    out_console.print("\n[bold]value segments[/bold] (boundaries from training predictions)")
    out_console.print(segment_table(scored.frame, truth_col=f"y_true_{h}").to_string(
        index=False, float_format=lambda x: f"{x:,.3f}"))
    result = target(scored.frame, top="10%", cost_per_contact=1.0, margin=0.3)
    targets_path = out / "decisions" / "targets.csv"
    result.targets.to_csv(targets_path, index=False)
    result.curve.to_csv(out / "decisions" / "targets.curve.csv", index=False)
    out_console.print("\n[bold]top-10 % target list[/bold] (cost 1 per contact, margin 0.3)")
    out_console.print(result.targets[["contact_order", "customer_id", f"value_{h}",
                                      f"y_true_{h}", "segment"]].head(10).to_string(
        index=False))
    out_console.print(json.dumps({k: v for k, v in result.summary.items()
                                  if isinstance(v, int | float)}, indent=1))
    console.print(f"wrote {scored_path}, {oos_path} ({len(scored.out_of_scope):,} customers of "
                  f"other splits, with reasons) and {targets_path}")
    shap_path = shap_importance(model, test, out / "decisions" / "shap_importance.csv")
    console.print(f"wrote {shap_path} (SHAP global importance of lgbm on the test split)")


def shap_importance(model, data, path: Path) -> Path:
    """Mean |SHAP| per input of ``model`` on ``data`` (exact TreeSHAP for lgbm), written as
    CSV (feature, mean_abs_shap, share) for the report's decisions section."""
    from ltvkit.explain import explain, global_importance

    path.parent.mkdir(parents=True, exist_ok=True)
    global_importance(explain(model, data)).to_csv(path, index=False)
    return path
