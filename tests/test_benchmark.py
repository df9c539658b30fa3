"""The benchmark runner: model specs, failures recorded, shared metrics, seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltvkit.benchmark import (
    parse_model_spec,
    resolve_models,
    run_benchmark,
    split_model_list,
    summarize,
)
from ltvkit.errors import ModelError
from ltvkit.metrics import evaluate


def test_model_specs_parse_params_and_target():
    assert split_model_list("a,b[x=1,y=2],c@target") == ["a", "b[x=1,y=2]", "c@target"]
    assert parse_model_spec("mean[use_kl=false,tau=2,obj=l1]@target") == (
        "mean", {"use_kl": False, "tau": 2, "obj": "l1"}, True)
    assert parse_model_spec("ziln") == ("ziln", {}, False)
    with pytest.raises(ModelError):
        parse_model_spec("ziln@source")
    with pytest.raises(ModelError, match="unknown model"):
        resolve_models("no_such_model")


def test_runner_records_failures_and_scores_with_the_metrics_module(cdnow_dataset, tmp_path):
    small = cdnow_dataset.subset(np.arange(3000))

    def split(d, seed):
        return d.split_customers(seed=seed)

    records = run_benchmark(small, split, ["historical_mean", "lgbm[objective=nonsense]",
                                           "lgbm[num_leaves=7,n_estimators=30]"],
                            [0, 1], tmp_path)
    by = {(r["model"], r["seed"]): r for r in records}
    assert "error" in by[("lgbm[objective=nonsense]", 0)]
    ok = by[("historical_mean", 1)]
    _, _, test = split(small, 1)
    pred = json.loads((tmp_path / "leaderboard.json").read_text())
    assert len(pred) == 6
    import pandas as pd

    frame = pd.read_parquet(tmp_path / "predictions" / "historical_mean-seed1.parquet")
    np.testing.assert_allclose(frame["y_true"], test.labels[:, 0])
    want = evaluate(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy())
    assert ok["metrics"]["normalized_gini"] == pytest.approx(want["normalized_gini"])
    rows = {r["model"]: r for r in summarize(records)}
    assert rows["historical_mean"]["n_seeds"] == 2
    assert rows["lgbm[objective=nonsense]"]["n_seeds"] == 0
    assert "failed" in (tmp_path / "leaderboard.md").read_text()
