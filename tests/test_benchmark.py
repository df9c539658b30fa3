"""The evaluation package: model specs, the runner (failures recorded, shared metrics, seeds)
and the one leaderboard renderer behind the CLI table, the Markdown and the JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from ltvkit.errors import LTVError, ModelError
from ltvkit.evaluation.leaderboard import (
    HEADLINE_METRICS,
    leaderboard_json,
    leaderboard_markdown,
    leaderboard_rich_table,
    markdown_table,
    sparsity_markdown,
    summarize,
)
from ltvkit.evaluation.runner import plan_dataset, plan_public_dataset, run_benchmark, score
from ltvkit.evaluation.specs import (
    ModelSpec,
    available_specs,
    parse_model_spec,
    resolve_models,
    split_model_list,
)
from ltvkit.evaluation.splits import customer_split
from ltvkit.metrics import evaluate
from ltvkit.prediction import Prediction


def test_model_specs_parse_params_and_target():
    assert split_model_list("a,b[x=1,y=2],c@target") == ["a", "b[x=1,y=2]", "c@target"]
    assert parse_model_spec("mean[use_kl=false,tau=2,obj=l1]@target") == (
        "mean", {"use_kl": False, "tau": 2, "obj": "l1"}, True)
    assert parse_model_spec("ziln") == ("ziln", {}, False)
    with pytest.raises(ModelError):
        parse_model_spec("ziln@source")
    with pytest.raises(ModelError, match="key=value"):
        parse_model_spec("ziln[oops]")
    with pytest.raises(ModelError, match="unknown model"):
        resolve_models("no_such_model")


def test_model_spec_label_round_trips():
    spec = ModelSpec.parse("mean[use_kl=false,tau=2,obj=l1]@target")
    assert spec == ModelSpec("mean", {"use_kl": False, "tau": 2, "obj": "l1"}, True)
    assert spec.label == "mean[use_kl=false,tau=2,obj=l1]@target"
    assert ModelSpec.parse(spec.label) == spec
    assert ModelSpec.parse("ziln").label == "ziln"


def test_all_leaves_out_cross_domain_models_and_demo_drops_unknown_models():
    from ltvkit.models import all_models

    names = resolve_models("all")
    assert names and all(not all_models()[n].tag("cross_domain") for n in names)
    assert available_specs("historical_mean,no_such_model,lgbm[num_leaves=7]") == (
        "historical_mean,lgbm[num_leaves=7]")


def test_runner_records_failures_and_scores_with_the_metrics_module(cdnow_dataset, tmp_path):
    small = cdnow_dataset.subset(np.arange(3000))
    records = run_benchmark(small, customer_split, ["historical_mean", "lgbm[objective=nonsense]",
                                                    "lgbm[num_leaves=7,n_estimators=30]"],
                            [0, 1], tmp_path)
    by = {(r["model"], r["seed"]): r for r in records}
    assert "error" in by[("lgbm[objective=nonsense]", 0)]
    ok = by[("historical_mean", 1)]
    _, _, test = customer_split(small, 1)
    pred = json.loads((tmp_path / "leaderboard.json").read_text())
    assert len(pred) == 6
    frame = pd.read_parquet(tmp_path / "predictions" / "historical_mean-seed1.parquet")
    np.testing.assert_allclose(frame["y_true"], test.labels[:, 0])
    want = evaluate(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy())
    assert ok["metrics"]["normalized_gini"] == pytest.approx(want["normalized_gini"])
    rows = {r["model"]: r for r in summarize(records)}
    assert rows["historical_mean"]["n_seeds"] == 2
    assert rows["lgbm[objective=nonsense]"]["n_seeds"] == 0
    assert "failed" in (tmp_path / "leaderboard.md").read_text()


def test_prepared_dataset_cannot_be_rebuilt_at_another_sparsity(cdnow_dataset):
    with pytest.raises(LTVError, match="--dataset NAME"):
        plan_dataset(cdnow_dataset, "historical_mean", [0], sparsities=[0, 50])
    plan = plan_dataset(cdnow_dataset, "historical_mean,bgnbd", [0, 1, 2])
    assert plan.levels == [None] and plan.n_steps == 6
    assert plan_dataset(cdnow_dataset, "bgnbd", [0, 1], sparsities=[0]).n_steps == 2


def test_sparsity_levels_need_a_cross_domain_dataset():
    with pytest.raises(LTVError, match="cross-domain"):
        plan_public_dataset("cdnow", "historical_mean", [0], sparsities=[0, 50])


def test_score_reports_interval_coverage_from_the_quantiles(cdnow_dataset):
    test = cdnow_dataset.subset(np.arange(200))
    y = test.labels[:, :1]
    pred = Prediction(customer_id=test.customer_id, cutoff=test.cutoff,
                      horizons=[test.horizons[0]], value=y + 1.0,
                      quantiles={0.1: y * 0.0, 0.5: y, 0.9: np.where(np.arange(200) < 50, -1.0,
                                                                      y[:, 0])[:, None]})
    # the first 50 intervals end below the label (labels are >= 0), the other 150 contain it
    metrics = score(pred, test, test.horizons[0], np.array([0.0, 10.0, 50.0]))
    assert metrics["interval_coverage_80"] == pytest.approx(150 / 200)
    del pred.quantiles[0.9]
    assert "interval_coverage_80" not in score(pred, test, test.horizons[0],
                                               np.array([0.0, 10.0, 50.0]))


# ---------------------------------------------------------------------- one leaderboard renderer
def _records() -> list[dict]:
    rng = np.random.default_rng(0)
    records = []
    for model, gini in (("lgbm", 0.6), ("historical_mean", 0.4), ("ziln[lr=0.01]", 0.5)):
        for seed in (0, 1, 2):
            metrics = {k: float(rng.uniform(0, 1)) for k in HEADLINE_METRICS}
            metrics["normalized_gini"] = gini + 0.01 * seed
            records.append({"model": model, "seed": seed, "metrics": metrics,
                            "fit_seconds": 1.0 + seed})
    records.append({"model": "broken", "seed": 0, "error": "ValueError: bad [input]"})
    return records


def _markdown_cells(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_table_markdown_and_json_show_the_same_numbers():
    records = _records()
    md = _markdown_cells(markdown_table(records))
    summary = {r["model"]: r for r in json.loads(leaderboard_json(records))}
    console = Console(width=300, record=True, color_system=None)
    console.print(leaderboard_rich_table(records, "90D"))
    text = console.export_text()
    table = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] in md:
            table[cells[0]] = cells[1:]
    assert list(md) == ["lgbm", "ziln[lr=0.01]", "historical_mean", "broken"]  # best Gini first
    assert set(table) == set(md) == set(summary)
    for model, cells in md.items():
        if model == "broken":
            assert cells[0].startswith("failed: ValueError: bad [input]")
            assert table[model][0].startswith("failed: ValueError: bad [input]")
            assert summary[model]["n_seeds"] == 0
            continue
        assert [c.replace("±", " ± ") for c in table[model]] == cells
        for key, shown in zip(HEADLINE_METRICS, cells, strict=False):
            stats = summary[model]["metrics"][key]
            assert shown == f"{stats['mean']:.3f} ± {stats['std']:.3f}"
        assert cells[-1] == "3" and cells[-2] == f"{summary[model]['fit_seconds']:.1f}" == "2.0"
    want = np.mean([r["metrics"]["spearman"] for r in records if r["model"] == "lgbm"])
    assert summary["lgbm"]["metrics"]["spearman"]["mean"] == pytest.approx(want)
    assert markdown_table(records) in leaderboard_markdown(records, "90D")


def test_sparsity_table_has_one_column_per_level_and_metric():
    records = []
    for level, nmae in ((0, 0.5), (50, 0.7)):
        for seed in (0, 1):
            metrics = {"nmae": nmae + 0.1 * seed, "nrmse": 1.0, "normalized_gini": 0.3}
            records.append({"model": "lgbm", "seed": seed, "metrics": metrics,
                            "metrics_sparse": metrics, "fit_seconds": 1.0, "sparsity": level})
    lines = sparsity_markdown(records).splitlines()
    assert lines[0] == ("| model | P=0% NMAE | P=0% NRMSE | P=0% Gini | P=50% NMAE | "
                        "P=50% NRMSE | P=50% Gini |")
    assert lines[2] == "| lgbm | 0.550 | 1.000 | 0.300 | 0.750 | 1.000 | 0.300 |"
    md = leaderboard_markdown(records)
    assert "lgbm [sparsity=0]" in md and "lgbm [sparsity=50]" in md
    assert "**sparse customers" in md
