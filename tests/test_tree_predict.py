"""The compiled tree evaluator (``ltvkit.models.base.tree_predict``) predicts exactly what
LightGBM's ``Booster.predict`` predicts, or hands the booster back to LightGBM.

LightGBM is the reference throughout: every expected value below is ``Booster.predict`` of the
same booster, compared with ``np.array_equal`` (bit for bit, no tolerance).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from ltvkit.data import build_dataset
from ltvkit.datasets import get_dataset
from ltvkit.models import create_model, load_model
from ltvkit.models.base import lgbm as common
from ltvkit.models.base import tree_predict
from ltvkit.models.base.tree_predict import TreeEnsemble


def edge_case_data(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with NaNs, exact zeros, values below LightGBM's zero threshold (1e-40) and a
    categorical column (codes 0-39, some NaN); a label that depends on all of them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[rng.random(n) < 0.15, 0] = np.nan
    x[rng.random(n) < 0.3, 1] = 0.0
    x[:, 3] = rng.integers(0, 40, n)
    x[rng.random(n) < 0.05, 3] = np.nan
    x[rng.random(n) < 0.4, 4] = 0.0
    x[rng.random(n) < 0.1, 5] = 1e-40
    y = np.abs(np.exp(x[:, 1]) + 3.0 * (x[:, 3] % 3 == 2) + np.nan_to_num(x[:, 0], nan=2.0)
               + (x[:, 4] == 0))
    return x, y


def scoring_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with categorical values LightGBM treats specially: in (-1, 0) (category 0),
    below -1, fractional, beyond int32, and an unseen category."""
    out = x.copy()
    out[:40, 3] = -0.5
    out[40:80, 3] = -3.0
    out[80:120, 3] = 3.7
    out[120:160, 3] = 1e12
    out[160:200, 3] = 55.0
    return out


def trained(params: dict, x: np.ndarray, y: np.ndarray, rounds: int = 25, **dataset):
    booster = lgb.train({"verbosity": -1, "min_data_in_leaf": 5, "num_leaves": 15, **params},
                        lgb.Dataset(x, y, **dataset), rounds)
    return lgb.Booster(model_str=booster.model_to_string())  # as ltvkit keeps boosters


def assert_predicts_like_lightgbm(booster, x: np.ndarray) -> None:
    ens = TreeEnsemble.from_booster(booster)
    assert ens is not None
    for rows in (x, x.astype(np.float32)):
        np.testing.assert_array_equal(ens.predict(rows), booster.predict(rows), strict=True)
        np.testing.assert_array_equal(ens.predict(rows, raw_score=True),
                                      booster.predict(rows, raw_score=True), strict=True)
        np.testing.assert_array_equal(ens.predict(rows, n_threads=1), booster.predict(rows))


@pytest.mark.parametrize("objective", ["tweedie", "regression", "regression_l1", "huber",
                                       "quantile", "poisson", "gamma", "binary"])
def test_every_objective_predicts_bit_identically_with_nans_zeros_and_a_categorical(
        objective):
    x, y = edge_case_data()
    label = (y > 2.5).astype(float) if objective == "binary" else y + 0.1
    booster = trained({"objective": objective}, x, label, categorical_feature=[3])
    ens = TreeEnsemble.from_booster(booster)
    # The trees do use what this test is about: categorical splits and NaN-aware splits.
    assert ens.categorical.any() and not ens.nan_left.all() and ens.nan_left.any()
    assert_predicts_like_lightgbm(booster, scoring_rows(x))


def test_zero_as_missing_and_no_missing_handling_predict_bit_identically():
    x, y = edge_case_data(seed=1)
    for params in ({"zero_as_missing": True}, {"use_missing": False}):
        booster = trained({"objective": "regression", **params}, x, y)
        assert_predicts_like_lightgbm(booster, scoring_rows(x))


def test_trees_of_up_to_64_leaves_use_wide_masks_and_single_leaf_trees_predict_too():
    x, y = edge_case_data(n=20000, seed=2)
    wide = trained({"objective": "regression", "num_leaves": 64}, x, y, rounds=10)
    assert TreeEnsemble.from_booster(wide).exit_mask.dtype == np.uint64
    assert_predicts_like_lightgbm(wide, x)
    # A constant label grows one-leaf trees (no node at all).
    stump = trained({"objective": "regression"}, x, np.full(len(x), 3.0), rounds=3)
    assert "num_leaves=1\n" in stump.model_to_string()
    assert_predicts_like_lightgbm(stump, x)


@pytest.mark.parametrize("params", [{"objective": "regression", "linear_tree": True},
                                    {"objective": "regression", "reg_sqrt": True},
                                    {"objective": "regression", "num_leaves": 80},
                                    {"objective": "multiclass", "num_class": 3},
                                    {"objective": "cross_entropy"},
                                    {"objective": "regression", "boosting": "rf",
                                     "bagging_freq": 1, "bagging_fraction": 0.5}])
def test_what_it_does_not_evaluate_falls_back_to_lightgbm(params):
    x, y = edge_case_data(n=20000, seed=3)
    x = np.nan_to_num(x)  # the same NaN-free rows for every case, linear trees included
    label = (np.digitize(y, [2.0, 4.0]) if params["objective"] == "multiclass"
             else (y > 2.5).astype(float) if params["objective"] == "cross_entropy" else y)
    booster = trained(params, x, label, rounds=5)
    assert TreeEnsemble.from_booster(booster) is None
    np.testing.assert_array_equal(tree_predict.predict(booster, x), booster.predict(x))


def test_a_wrong_column_count_is_lightgbms_own_error():
    x, y = edge_case_data()
    booster = trained({"objective": "regression"}, x, y)
    with pytest.raises(lgb.basic.LightGBMError, match="number of features"):
        tree_predict.predict(booster, x[:, :4])
    with pytest.raises(ValueError, match=r"expected \[n, 6\] features"):
        TreeEnsemble.from_booster(booster).predict(x[:, :4])


def ltvkit_boosters(model) -> list:
    return [b for b in (getattr(model, "booster_", None), getattr(model, "classifier_", None),
                        getattr(model, "regressor_", None)) if b is not None]


@pytest.mark.parametrize("name,params", [("lgbm", {}), ("lgbm", {"objective": "log1p_mse"}),
                                         ("lgbm_two_stage", {})])
def test_cdnow_models_predict_what_lightgbm_predicts_and_so_do_their_saved_copies(
        name, params, cdnow_dataset, tmp_path):
    train = cdnow_dataset.subset(np.arange(0, len(cdnow_dataset), 2))
    model = create_model(name, n_estimators=60, n_threads=1, **params).fit(train)
    x = common.prediction_matrix(cdnow_dataset)
    assert cdnow_dataset.categorical_names  # the CDNOW set carries a categorical attribute
    for booster in ltvkit_boosters(model):
        assert TreeEnsemble.from_booster(booster) is not None
        np.testing.assert_array_equal(tree_predict.predict(booster, x), booster.predict(x),
                                      strict=True)
    before = model.predict(cdnow_dataset).value
    loaded = load_model(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict(cdnow_dataset).value, before, strict=True)
    for booster in ltvkit_boosters(loaded):
        np.testing.assert_array_equal(tree_predict.predict(booster, x, n_threads=2),
                                      booster.predict(x), strict=True)


@pytest.mark.slow
def test_online_retail_lgbm_predicts_what_lightgbm_predicts(shared_data, monkeypatch):
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(shared_data))
    public = get_dataset("online_retail")
    ds = build_dataset(public.load_log(), public.task)
    model = create_model("lgbm", n_estimators=80, n_threads=1).fit(ds)
    x = common.prediction_matrix(ds)
    assert TreeEnsemble.from_booster(model.booster_) is not None
    expected = model.booster_.predict(x)
    # As the scored rows come (float32 features: the float32 thresholds) and as float64.
    for rows in (x, x.astype(np.float64)):
        np.testing.assert_array_equal(tree_predict.predict(model.booster_, rows), expected,
                                      strict=True)
