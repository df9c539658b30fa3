"""ltvkit.tuning: the search finds a clearly better setting, is seeded, resumes from its SQLite
study, prunes torch trials, and never reads the test split (CLI, API and benchmark paths)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from _templates import registered
from ltvkit.cli import app
from ltvkit.errors import ModelError
from ltvkit.evaluation.protocols import cv_folds, parse_ratios, ratio_split, run_protocol
from ltvkit.evaluation.splits import customer_split
from ltvkit.models.lgbm import LGBMModel
from ltvkit.tuning import tune

pytest.importorskip("optuna")

TINY = {"n_estimators": 40, "learning_rate": 0.1, "n_threads": 1}


class SpyLGBM(LGBMModel):
    """LightGBM that records the customers of every dataset it fits on or predicts."""

    name = "lgbm_spy"
    seen: list[str] = []

    def _fit(self, train, valid):
        SpyLGBM.seen += list(train.customer_id.astype(str))
        if valid is not None:
            SpyLGBM.seen += list(valid.customer_id.astype(str))
        super()._fit(train, valid)

    def _predict(self, data):
        SpyLGBM.seen += list(data.customer_id.astype(str))
        return super()._predict(data)


def _leaf_space(trial):
    # min_child_samples=5000 > n_train / 2: no split is possible, the model is a constant
    return {"min_child_samples": trial.suggest_categorical("min_child_samples", [5000, 20])}


def test_tuning_finds_the_clearly_better_setting(cdnow_slices):
    train, valid, _ = cdnow_slices
    result = tune("lgbm", train, valid, n_trials=4, seed=0, params=TINY, space=_leaf_space)
    assert result.best_params["min_child_samples"] == 20
    constant = [t["value"] for t in result.trials if t["params"]["min_child_samples"] == 5000]
    assert constant, "the sampler tried the bad setting too"
    assert result.best_value > max(v for v in constant if v == v) + 0.2


def test_same_seed_same_trials_and_the_study_resumes(cdnow_slices, tmp_path):
    train, valid, _ = cdnow_slices
    a = tune("lgbm", train, valid, n_trials=3, seed=3, params=TINY)
    b = tune("lgbm", train, valid, n_trials=3, seed=3, params=TINY)
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]
    assert [t["value"] for t in a.trials] == [t["value"] for t in b.trials]
    # an interrupted study (2 trials on disk) resumes: asking for 4 runs only 2 more
    db = tmp_path / "study.db"
    first = tune("lgbm", train, valid, n_trials=2, seed=3, params=TINY, storage=db)
    again = tune("lgbm", train, valid, n_trials=4, seed=3, params=TINY, storage=db)
    assert first.n_trials == 2 and again.n_trials == 4
    assert [t["params"] for t in again.trials[:2]] == [t["params"] for t in first.trials]
    assert again.best_value >= first.best_value


def test_torch_trials_are_pruned_from_their_validation_loss(cdnow_slices):
    pytest.importorskip("torch")
    from ltvkit.models import get_model_class
    from ltvkit.models.base.search import make_study, search

    train, valid, _ = cdnow_slices

    def space(trial):  # lr 1e-5 barely moves in 15 epochs: its validation loss lags
        return {"lr": trial.suggest_categorical("lr", [1e-2, 1e-5])}

    study = make_study(seed=0, metric="normalized_gini")
    for lr in (1e-2, 1e-2, 1e-2, 1e-5, 1e-5):  # three good trials set the median first
        study.enqueue_trial({"lr": lr})
    result = search(get_model_class("ziln"), train, valid, n_trials=5, seed=0, space=space,
                    study=study, base_params={"hidden": (16, 8), "max_epochs": 15,
                                              "patience": 15, "batch_size": 256,
                                              "n_threads": 1})
    states = [t["state"] for t in result.trials]
    assert states == ["COMPLETE"] * 3 + ["PRUNED"] * 2
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert all(len(t.intermediate_values) < 15 for t in pruned), "pruned before the end"
    assert result.best_params["lr"] == 1e-2


def test_a_model_without_a_search_space_is_refused(cdnow_slices):
    train, valid, _ = cdnow_slices
    with pytest.raises(ModelError, match="historical_mean declares no search space"):
        tune("historical_mean", train, valid, n_trials=1)


def test_ltv_tune_never_reads_the_test_split(cdnow_dataset, tmp_path):
    data = tmp_path / "data"
    cdnow_dataset.subset(np.arange(3000)).save(data)
    from ltvkit.data import LTVDataset

    ds = LTVDataset.load(data)
    _, _, test = customer_split(ds, 0)
    SpyLGBM.seen = []
    with registered(SpyLGBM):
        res = CliRunner().invoke(app, ["tune", "--data", str(data), "--model", "lgbm_spy",
                                       "--trials", "3", "--out", str(tmp_path / "out"),
                                       "--params", json.dumps(TINY)])
    assert res.exit_code == 0, res.output
    assert SpyLGBM.seen, "the spy saw the tuning data"
    assert not set(SpyLGBM.seen) & set(test.customer_id.astype(str))
    summary = json.loads((tmp_path / "out" / "best_params.json").read_text())
    assert summary["n_trials"] == 3 and (tmp_path / "out" / "model" / "config.json").exists()


def test_benchmark_tuning_sees_train_and_valid_only(cdnow_dataset, tmp_path):
    ds = cdnow_dataset.subset(np.arange(3000))
    calls = []

    def tuner(spec, train, valid, seed):
        calls.append(set(train.customer_id.astype(str)) | set(valid.customer_id.astype(str)))
        return tune(spec, train, valid, n_trials=2, seed=seed, params=TINY).best_params

    records = run_protocol(ds, customer_split, ["lgbm"], [0], tmp_path, cv=2, tuner=tuner)
    folds = cv_folds(ds, 2, 0)
    assert len(calls) == 2 and [r["model"] for r in records] == ["lgbm+tuned"] * 2
    for seen, (_, _, test) in zip(calls, folds, strict=True):
        assert not seen & set(test.customer_id.astype(str))
    assert all(0.3 < r["metrics"]["normalized_gini"] <= 1 for r in records)


def test_cv_folds_partition_customers_and_chain_forward_in_time(cdnow_dataset):
    ds = cdnow_dataset.subset(np.arange(2000))
    folds = cv_folds(ds, 3, 0)
    tests = [set(t.customer_id.astype(str)) for _, _, t in folds]
    assert sum(len(t) for t in tests) == len(set(ds.customer_id.astype(str)))
    assert not (tests[0] & tests[1]) and not (tests[1] & tests[2])
    for train, _valid, test in folds:
        assert not set(train.customer_id.astype(str)) & set(test.customer_id.astype(str))
    # sliding cutoffs: every training cutoff precedes every test cutoff
    shifted = ds.subset(np.arange(len(ds)))
    shifted.cutoff = shifted.cutoff + (np.arange(len(ds)) % 6).astype("timedelta64[D]") * 30
    for train, _, test in cv_folds(shifted, 3, 0):
        assert train.cutoff.max() < test.cutoff.min()


def test_ratio_split_shares_and_bad_ratios():
    assert parse_ratios("70,15,15") == (0.7, 0.15, 0.15)
    from ltvkit.errors import LTVError

    with pytest.raises(LTVError, match="summing to 100.*sum 90"):
        parse_ratios("70,10,10")
    assert callable(ratio_split(0.7, 0.15, 0.15))


def test_ratio_split_gives_70_15_15_of_customers(cdnow_dataset):
    train, valid, test = ratio_split(0.7, 0.15, 0.15)(cdnow_dataset, 0)
    n = len(cdnow_dataset)
    assert abs(len(test) / n - 0.15) < 0.01 and abs(len(valid) / n - 0.15) < 0.01


def test_benchmark_protocol_options_fail_in_one_line():
    runner = CliRunner()
    bad_split = runner.invoke(app, ["benchmark", "--dataset", "cdnow", "--models", "lgbm",
                                    "--split", "70,10,10", "--out", "/tmp/unused"])
    assert bad_split.exit_code == 2
    assert "--split needs three positive shares summing to 100" in bad_split.output
    bad_h = runner.invoke(app, ["benchmark", "--dataset", "cdnow", "--hierarchical", "13W"])
    assert bad_h.exit_code == 2 and "SHORT,LONG" in bad_h.output
    bad_trials = runner.invoke(app, ["tune", "--dataset", "cdnow", "--model", "lgbm",
                                     "--trials", "0", "--out", "/tmp/unused"])
    assert bad_trials.exit_code == 2 and "--trials must be >= 1, got 0" in bad_trials.output
