"""``ltv tune --cv K`` and ``ltvkit.tuning.tune(folds=...)``: each trial fits once per fold of
the training split, its value is the mean of the folds' scores, and the test split is never
read."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from _templates import registered
from ltvkit.cli import app
from ltvkit.evaluation.protocols import cv_folds
from ltvkit.evaluation.splits import customer_split
from ltvkit.models.lgbm import LGBMModel
from ltvkit.tuning import tune

optuna = pytest.importorskip("optuna")

TINY = {"n_estimators": 40, "learning_rate": 0.1, "n_threads": 1}


class FoldSpyLGBM(LGBMModel):
    """LightGBM that records every fit and the customers of every dataset it reads."""

    name = "lgbm_fold_spy"
    seen: list[str] = []
    fits: list[int] = []

    def _fit(self, train, valid):
        FoldSpyLGBM.fits.append(len(train))
        FoldSpyLGBM.seen += list(train.customer_id.astype(str))
        if valid is not None:
            FoldSpyLGBM.seen += list(valid.customer_id.astype(str))
        super()._fit(train, valid)

    def _predict(self, data):
        FoldSpyLGBM.seen += list(data.customer_id.astype(str))
        return super()._predict(data)


def _leaf_space(trial):
    # min_child_samples=5000 > n_train: no split is possible, the model is a constant
    return {"min_child_samples": trial.suggest_categorical("min_child_samples", [5000, 20])}


def test_ltv_tune_cv_fits_k_times_per_trial_and_never_reads_the_test_split(
        cdnow_dataset, tmp_path):
    data = tmp_path / "data"
    cdnow_dataset.subset(np.arange(3000)).save(data)
    from ltvkit.data import LTVDataset

    ds = LTVDataset.load(data)
    train, valid, test = customer_split(ds, 0)
    FoldSpyLGBM.seen, FoldSpyLGBM.fits = [], []
    out = tmp_path / "out"
    with registered(FoldSpyLGBM):
        res = CliRunner().invoke(app, ["tune", "--data", str(data), "--model", "lgbm_fold_spy",
                                       "--trials", "2", "--cv", "3", "--out", str(out),
                                       "--params", json.dumps(TINY)])
    assert res.exit_code == 0, res.output
    assert "3-fold CV" in res.output
    # 2 trials x 3 folds, then the best refitted once on the whole training split
    assert len(FoldSpyLGBM.fits) == 2 * 3 + 1
    assert FoldSpyLGBM.fits[-1] == len(train)
    assert all(n < len(train) for n in FoldSpyLGBM.fits[:-1])
    assert not set(FoldSpyLGBM.seen) & set(test.customer_id.astype(str))
    # every trial's value is the mean of its 3 fold scores, kept in the SQLite study
    study = optuna.load_study(study_name="lgbm_fold_spy-seed0-cv3",
                              storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 2
    for trial in study.trials:
        scores = trial.user_attrs["fold_scores"]
        assert len(scores) == 3 and len(set(scores)) == 3
        assert trial.value == pytest.approx(np.mean(scores), rel=1e-12)
    summary = json.loads((out / "best_params.json").read_text())
    assert summary["best_value"] == pytest.approx(max(t.value for t in study.trials))


def test_cross_validated_tuning_finds_the_clearly_better_setting(cdnow_slices):
    train, _, _ = cdnow_slices
    folds = cv_folds(train, 3, 0)
    result = tune("lgbm", train, None, n_trials=4, seed=0, params=TINY, space=_leaf_space,
                  folds=folds)
    assert result.best_params["min_child_samples"] == 20
    constant = [t["value"] for t in result.trials if t["params"]["min_child_samples"] == 5000]
    assert constant and result.best_value > max(v for v in constant if v == v) + 0.2


def test_ltv_tune_cv_refuses_one_fold(cdnow_dataset, tmp_path):
    data = tmp_path / "data"
    cdnow_dataset.subset(np.arange(500)).save(data)
    res = CliRunner().invoke(app, ["tune", "--data", str(data), "--model", "lgbm",
                                   "--trials", "1", "--cv", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "--cv needs K >= 2 folds, got 1" in res.output
