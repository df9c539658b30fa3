"""The ensembles: stack's meta-learner, blend's simplex weights, segment_ensemble's residual
analysis and auto's validation-only choice, on real CDNOW slices and small generated data."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.errors import ModelError
from ltvkit.metrics import normalized_gini
from ltvkit.models import LTVModel
from ltvkit.models.auto import Auto, choice_key
from ltvkit.models.blend import Blend, simplex_weights
from ltvkit.models.segment_ensemble import SegmentEnsemble
from ltvkit.models.stack import Stack, fit_nnls

TINY = {"n_estimators": 40, "num_leaves": 7, "learning_rate": 0.1, "n_threads": 1}


def test_nnls_recovers_known_non_negative_weights():
    rng = np.random.default_rng(0)
    p = rng.gamma(2.0, 3.0, size=(500, 3))
    y = 2.0 * p[:, 0] + 0.5 * p[:, 1] + 1.0
    w, b = fit_nnls(p, y)
    np.testing.assert_allclose(w, [2.0, 0.5, 0.0], atol=1e-8)
    assert b == pytest.approx(1.0, abs=1e-8)
    w, _ = fit_nnls(p, -p[:, 2] + 50.0)  # a negative relation gets weight 0, not < 0
    assert w[2] == 0.0


def test_simplex_weights_pick_the_informative_member():
    rng = np.random.default_rng(1)
    y = rng.gamma(1.0, 10.0, 2000)
    p = np.column_stack([y + rng.normal(0, 1.0, len(y)), rng.permutation(y)])
    w = simplex_weights(p, y)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    assert w[0] > 0.9


def test_stack_on_cdnow_is_at_least_as_good_as_its_worse_member(cdnow_slices, tmp_path):
    train, valid, test = cdnow_slices
    stack = Stack(base_models=("lgbm", "historical_mean"), base_params={"lgbm": TINY},
                  n_folds=3, n_threads=1).fit(train, valid)
    assert np.all(stack.weights_ >= 0) and stack.intercept_ >= 0
    assert set(stack.oof_gini_) == {"lgbm", "historical_mean"}
    y = test.labels_for(test.horizons[0])
    gini = normalized_gini(y, stack.predict(test).value[:, 0])
    member = [normalized_gini(y, m.predict(test).value[:, 0]) for m in stack.members_]
    assert gini >= min(member) - 0.01
    stack.save(tmp_path / "s")
    assert (tmp_path / "s" / "members" / "0-lgbm" / "booster.txt").exists()
    assert (tmp_path / "s" / "members" / "1-historical_mean" / "config.json").exists()
    np.testing.assert_array_equal(LTVModel.load(tmp_path / "s").predict(test).value,
                                  stack.predict(test).value)


def test_stack_simplex_meta_is_a_convex_combination_of_its_members(cdnow_slices, tmp_path):
    train, valid, test = cdnow_slices
    stack = Stack(base_models=("lgbm", "historical_mean"), base_params={"lgbm": TINY},
                  meta="simplex", n_folds=3, n_threads=1).fit(train, valid)
    assert stack.weights_.sum() == pytest.approx(1.0) and np.all(stack.weights_ >= 0)
    assert stack.intercept_ == 0.0
    members = np.column_stack([m.predict(test).value[:, 0] for m in stack.members_])
    pred = stack.predict(test).value[:, 0]
    np.testing.assert_allclose(pred, members @ stack.weights_, rtol=1e-9)
    assert np.all(pred <= members.max(axis=1) + 1e-9)  # no rescaling beyond the members
    stack.save(tmp_path / "s")
    np.testing.assert_array_equal(LTVModel.load(tmp_path / "s").predict(test).value,
                                  stack.predict(test).value)
    with pytest.raises(ModelError, match="meta must be one of"):
        Stack(meta="ridge").fit(train, valid)


def test_blend_weights_are_on_the_simplex_and_come_from_validation(cdnow_slices):
    train, valid, test = cdnow_slices
    blend = Blend(base_models=("lgbm", "historical_mean"), base_params={"lgbm": TINY},
                  n_threads=1).fit(train, valid)
    assert blend.weights_.sum() == pytest.approx(1.0) and np.all(blend.weights_ >= 0)
    assert blend.weights_source_ == "validation"
    no_valid = Blend(base_models=("lgbm", "historical_mean"), base_params={"lgbm": TINY},
                     n_threads=1).fit(train, None)
    assert no_valid.weights_source_.startswith("held-out")


def test_blend_rejects_unknown_and_duplicate_members(cdnow_slices):
    train, valid, _ = cdnow_slices
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        Blend(base_models=("lgbm", "nope")).fit(train, valid)
    with pytest.raises(ModelError, match="names a model twice"):
        Blend(base_models=("lgbm", "lgbm")).fit(train, valid)
    with pytest.raises(ModelError, match="not members: \\['ziln'\\]"):
        Blend(base_models=("lgbm",), base_params={"ziln": {}}).fit(train, valid)


def test_segment_ensemble_chooses_the_key_that_explains_most_residual(cdnow_dataset):
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(cdnow_dataset))
    train, valid = cdnow_dataset.subset(idx[:6000]), cdnow_dataset.subset(idx[6000:8000])
    model = SegmentEnsemble(base_params={"lgbm": TINY}, min_segment_size=500,
                            n_threads=1).fit(train, valid)
    keys = {row["key"] for row in model.segment_table_}
    assert keys == {"spend_size", *cdnow_dataset.categorical_names}
    assert model.chosen_key_ == max(model.explained_share_, key=model.explained_share_.get)
    assert len(model.members_) == 1 + len(model.segments_)
    assert sum(r["n"] for r in model.segment_table_ if r["key"] == "spend_size") == len(valid)
    with pytest.raises(ModelError, match="segment_key 'region' is not a candidate"):
        SegmentEnsemble(base_params={"lgbm": TINY}, segment_key="region").fit(train, valid)


def test_auto_chooses_on_validation_and_reports_untunable_families(cdnow_slices):
    train, valid, test = cdnow_slices
    model = Auto(families=("lgbm", "historical_mean"), base_params={"lgbm": TINY},
                 trials_per_family=3, n_folds=2, time_budget=60, n_threads=1).fit(train, valid)
    assert "declares no search space" in model.search_info_["historical_mean"]["error"]
    assert model.search_info_["lgbm"]["n_trials"] == 3
    assert model.chosen_ == "lgbm"  # the only tunable family: nothing to stack
    gini = normalized_gini(test.labels_for(test.horizons[0]), model.predict(test).value[:, 0])
    assert gini > 0.5


def test_auto_scores_one_stack_per_meta_and_keeps_the_best_on_validation(cdnow_slices):
    train, valid, _ = cdnow_slices
    model = Auto(families=("lgbm", "ziln"), base_params={"lgbm": TINY, "ziln": {"max_epochs": 3}},
                 trials_per_family=2, n_folds=2, time_budget=60, n_threads=1).fit(train, valid)
    scores = model.search_info_["validation_gini"]
    assert set(scores) == {max(("lgbm", "ziln"),
                               key=lambda f: model.search_info_[f]["best_valid_gini"]),
                           "stack[meta=nnls]", "stack[meta=simplex]"}
    mapes = model.search_info_["validation_decile_mape"]
    assert set(mapes) == set(scores)
    keys = {k: choice_key(k, {"normalized_gini": scores[k], "decile_mape": mapes[k]})
            for k in scores}
    assert model.chosen_ == max(keys, key=keys.get)
    assert round(scores[model.chosen_], 4) == round(max(scores.values()), 4)
    with pytest.raises(ModelError, match="stack_metas must be among"):
        Auto(stack_metas=("ridge",)).fit(train, valid)


def test_auto_breaks_gini_ties_by_validation_calibration():
    # a stack that only rescales ZILN ranks exactly as ZILN does: calibration decides
    scores = {"ziln": {"normalized_gini": 0.70381, "decile_mape": 0.10},
              "stack[meta=nnls]": {"normalized_gini": 0.70384, "decile_mape": 0.45},
              "stack[meta=simplex]": {"normalized_gini": 0.70379, "decile_mape": 0.12}}
    assert max(scores, key=lambda k: choice_key(k, scores[k])) == "ziln"
    # a better Gini (at 4 decimals) still wins over calibration; NaN scores lose
    scores["stack[meta=nnls]"]["normalized_gini"] = 0.7050
    assert max(scores, key=lambda k: choice_key(k, scores[k])) == "stack[meta=nnls]"
    scores["stack[meta=nnls]"]["normalized_gini"] = float("nan")
    scores["ziln"]["decile_mape"] = float("nan")
    assert max(scores, key=lambda k: choice_key(k, scores[k])) == "stack[meta=simplex]"
