"""The conformance suite: every registered model, every test configuration, the same contract."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.errors import LTVError, NotFittedError
from ltvkit.metrics import normalized_gini
from ltvkit.models import LTVModel, Prediction, all_models

CASES = [pytest.param(cls, params, id=f"{name}-{i}")
         for name, cls in all_models().items()
         for i, params in enumerate(cls.test_params())]


@pytest.fixture
def data_for(request, cdnow_slices, cdnow_multi_horizon):
    """(train, valid, test) slices a model can use: CDNOW (multi-horizon when the model
    predicts several horizons), or Olist (sales -> logistics, 20 % sparse sellers) for
    cross-domain models."""

    def pick(cls):
        if cls.tag("cross_domain"):
            return request.getfixturevalue("olist_slices")
        if cls.tag("multi_horizon"):
            rng = np.random.default_rng(7)
            idx = rng.permutation(len(cdnow_multi_horizon))
            return (cdnow_multi_horizon.subset(idx[:1500]),
                    cdnow_multi_horizon.subset(idx[1500:1800]),
                    cdnow_multi_horizon.subset(idx[1800:2600]))
        return cdnow_slices

    return pick


@pytest.mark.parametrize("cls,params", CASES)
def test_fit_returns_self_and_predicts_every_sample(cls, params, data_for):
    train, valid, test = data_for(cls)
    model = cls(**params)
    assert model.fit(train, valid) is model
    pred = model.predict(test)
    assert isinstance(pred, Prediction)
    assert pred.value.shape == (len(test), len(model.horizons_))
    assert np.array_equal(pred.customer_id, test.customer_id)
    assert np.array_equal(pred.cutoff, test.cutoff)
    assert np.all(np.isfinite(pred.value)) and np.all(pred.value >= 0)
    if cls.tag("probabilistic"):
        assert pred.p_active is not None and np.all((pred.p_active >= 0) & (pred.p_active <= 1))
        assert pred.quantiles is not None
        q10, q50, q90 = (pred.quantiles[q] for q in (0.1, 0.5, 0.9))
        assert np.all(q10 <= q50 + 1e-9) and np.all(q50 <= q90 + 1e-9)


@pytest.mark.parametrize("cls,params", CASES)
def test_predict_before_fit_raises_clear_error(cls, params, data_for):
    _, _, test = data_for(cls)
    with pytest.raises(NotFittedError, match="fit"):
        cls(**params).predict(test)


@pytest.mark.parametrize("cls,params", CASES)
def test_params_round_trip_through_clone(cls, params):
    model = cls(**params)
    clone = model.clone()
    assert clone.get_params() == model.get_params()
    assert not clone.is_fitted


@pytest.mark.parametrize("cls,params", CASES)
def test_save_load_gives_identical_predictions(cls, params, data_for, tmp_path):
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    model.save(tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.pkl")), "models are saved without pickle"
    loaded = LTVModel.load(tmp_path / "m")
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.predict(test).value, model.predict(test).value)


@pytest.mark.parametrize("cls,params", CASES)
def test_same_seed_gives_same_predictions(cls, params, data_for):
    train, valid, test = data_for(cls)
    a = cls(**params).fit(train, valid).predict(test).value
    b = cls(**params).fit(train, valid).predict(test).value
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls,params", CASES)
def test_unseen_categories_at_predict_time(cls, params, data_for):
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    shifted = test.subset(np.arange(len(test)))
    shifted.categorical = shifted.categorical + 1000  # codes no vocabulary has
    pred = model.predict(shifted)
    assert np.all(np.isfinite(pred.value))


@pytest.mark.parametrize("cls,params", CASES)
def test_one_customer_gives_clear_error_or_prediction(cls, params, data_for):
    train, valid, test = data_for(cls)
    buyer = int(np.flatnonzero(train.labels[:, 0] > 0)[0])
    one = train.subset([buyer])
    try:
        model = cls(**params).fit(one, None)
    except LTVError as exc:
        assert str(exc)  # a clear, typed error is acceptable
        return
    pred = model.predict(test)
    assert np.all(np.isfinite(pred.value)) and np.all(pred.value >= 0)


@pytest.mark.parametrize("cls,params", CASES)
def test_all_zero_labels_give_clear_error_or_prediction(cls, params, data_for):
    train, valid, test = data_for(cls)
    zero = train.subset(np.arange(len(train)))
    zero.labels = np.zeros_like(zero.labels)
    zero.label_orders = np.zeros_like(zero.label_orders)
    try:
        model = cls(**params).fit(zero, None)
    except LTVError as exc:
        assert str(exc)
        return
    pred = model.predict(test)
    assert np.all(np.isfinite(pred.value)) and np.all(pred.value >= 0)


@pytest.mark.parametrize("cls,params", CASES)
def test_small_real_data_fit_ranks_customers(cls, params, data_for):
    """On a real-data slice every model must rank future spenders better than chance."""
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    j = test.horizons.index(model.horizons_[-1])
    gini = normalized_gini(test.labels[:, j], model.predict(test).value[:, -1])
    assert gini > 0.2, f"{cls.name}: normalized Gini {gini:.3f} on a CDNOW slice"
