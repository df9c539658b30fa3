"""The conformance suite: every registered model, every test configuration, the same contract.

Modelled on sktime's ``check_estimator``: the parameters round-trip and are stored unchanged,
fit mutates nothing it is given, save -> load reproduces every field of the prediction, the
capability tags are checked by behaviour, and errors are checked by what they say.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

from _templates import registered, template_classes
from ltvkit.errors import DataValidationError, LTVError, ModelError, NotFittedError
from ltvkit.metrics import normalized_gini
from ltvkit.models import DEFAULT_TAGS, LTVModel, Prediction, all_models

# Every registered model and the copy-me templates of extension_templates/.
MODELS = {**all_models(), **{f"template_{cls.name}": cls for cls in template_classes()}}
CASES = [pytest.param(cls, params, id=f"{name}-{i}")
         for name, cls in MODELS.items()
         for i, params in enumerate(cls.test_params())]
FIRST_CASES = [pytest.param(cls, cls.test_params()[0], id=name)
               for name, cls in MODELS.items()]


@pytest.fixture(autouse=True)
def _templates_registered(request):
    """A template is registered only while its own test runs (so load() can find it)."""
    cls = request.node.callspec.params.get("cls") if hasattr(request.node, "callspec") else None
    if cls is None:
        yield
        return
    with registered(cls):
        yield


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


def _fingerprint(ds) -> dict:
    """Every array and name of a dataset, copied, to detect mutation."""
    out = {}
    for key, value in vars(ds).items():
        if isinstance(value, np.ndarray):
            out[key] = value.copy()
        elif isinstance(value, dict):
            out[key] = {k: (v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v))
                        for k, v in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _assert_same(before: dict, ds, role: str) -> None:
    after = _fingerprint(ds)
    assert before.keys() == after.keys(), f"{role}: attributes added or removed"
    for key, value in before.items():
        other = after[key]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other, value, err_msg=f"{role}.{key} was changed")
        elif isinstance(value, dict):
            assert value.keys() == other.keys(), f"{role}.{key} keys changed"
            for k in value:
                np.testing.assert_array_equal(np.asarray(other[k], dtype=object),
                                              np.asarray(value[k], dtype=object),
                                              err_msg=f"{role}.{key}[{k}] was changed")
        else:
            assert other == value, f"{role}.{key} was changed"


def _assert_predictions_equal(a: Prediction, b: Prediction) -> None:
    """Every field of two predictions is identical."""
    np.testing.assert_array_equal(a.customer_id, b.customer_id)
    np.testing.assert_array_equal(a.cutoff, b.cutoff)
    assert a.horizons == b.horizons
    np.testing.assert_array_equal(a.value, b.value)
    for field in ("p_active", "bucket_probs"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None), field
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=field)
    assert (a.quantiles is None) == (b.quantiles is None)
    if a.quantiles is not None:
        assert sorted(a.quantiles) == sorted(b.quantiles)
        for q in a.quantiles:
            np.testing.assert_array_equal(a.quantiles[q], b.quantiles[q], err_msg=f"q{q}")
    assert sorted(a.extras) == sorted(b.extras)
    for key in a.extras:
        np.testing.assert_array_equal(a.extras[key], b.extras[key], err_msg=key)


# --------------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("cls,params", CASES)
def test_init_stores_its_arguments_unchanged(cls, params):
    model = cls(**params)
    got = model.get_params()
    assert sorted(got) == sorted(cls._param_names()), "get_params lists every parameter"
    for key, value in params.items():
        assert got[key] is value, f"{cls.name}.__init__ changed '{key}' ({value!r} -> " \
                                  f"{got[key]!r}); store arguments as given"
    # Defaults written in the signature are the ones reported (no logic in __init__).
    default = cls()
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if p.default is not inspect.Parameter.empty:
            assert default.get_params()[name] == p.default, f"{cls.name}: default of {name}"
    assert not model.is_fitted


@pytest.mark.parametrize("cls,params", CASES)
def test_get_params_set_params_and_clone_round_trip(cls, params):
    model = cls(**params)
    clone = model.clone()
    assert type(clone) is cls and clone is not model
    assert clone.get_params() == model.get_params()
    reset = cls().set_params(**params)
    assert reset.get_params() == model.get_params()
    with pytest.raises(ModelError, match=r"unknown parameter\(s\) \['no_such_parameter'\]"):
        cls().set_params(no_such_parameter=1)
    with pytest.raises((ModelError, TypeError), match="no_such_parameter"):
        cls(no_such_parameter=1)


@pytest.mark.parametrize("cls,params", CASES)
def test_clone_of_a_fitted_model_is_unfitted_and_refits_identically(cls, params, data_for):
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    clone = model.clone()
    assert not clone.is_fitted
    with pytest.raises(NotFittedError, match="fit"):
        clone.predict(test)
    _assert_predictions_equal(clone.fit(train, valid).predict(test), model.predict(test))


# --------------------------------------------------------------------------------- fit / predict
@pytest.mark.parametrize("cls,params", CASES)
def test_fit_predict_contract_and_no_mutation(cls, params, data_for):
    train, valid, test = data_for(cls)
    before = {role: _fingerprint(ds) for role, ds in
              (("train", train), ("valid", valid), ("test", test))}
    model = cls(**params)
    assert model.fit(train, valid) is model
    pred = model.predict(test)
    for role, ds in (("train", train), ("valid", valid), ("test", test)):
        _assert_same(before[role], ds, role)
    assert isinstance(pred, Prediction)
    assert pred.value.shape == (len(test), len(model.horizons_))
    np.testing.assert_array_equal(pred.customer_id, test.customer_id)
    np.testing.assert_array_equal(pred.cutoff, test.cutoff)
    assert np.all(np.isfinite(pred.value)) and np.all(pred.value >= 0)
    n = len(test)
    if pred.p_active is not None:
        assert pred.p_active.shape == pred.value.shape
    if pred.bucket_probs is not None:
        assert len(pred.bucket_probs) == n and np.all(np.isfinite(pred.bucket_probs))
    for key, arr in pred.extras.items():
        assert len(arr) == n, f"extra '{key}' has {len(arr)} rows for {n} samples"


@pytest.mark.parametrize("cls,params", CASES)
def test_predict_before_fit_raises_clear_error(cls, params, data_for):
    _, _, test = data_for(cls)
    with pytest.raises(NotFittedError, match=rf"{cls.name}: call fit\(\)"):
        cls(**params).predict(test)


@pytest.mark.parametrize("cls,params", CASES)
def test_save_load_reproduces_every_prediction_field(cls, params, data_for, tmp_path):
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    model.save(tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.pkl")), "models are saved without pickle"
    loaded = LTVModel.load(tmp_path / "m")
    assert type(loaded) is cls
    assert loaded.get_params() == model.get_params()
    _assert_predictions_equal(loaded.predict(test), model.predict(test))


@pytest.mark.parametrize("cls,params", CASES)
def test_same_seed_gives_same_predictions(cls, params, data_for):
    train, valid, test = data_for(cls)
    a = cls(**params).fit(train, valid).predict(test)
    b = cls(**params).fit(train, valid).predict(test)
    _assert_predictions_equal(a, b)


@pytest.mark.parametrize("cls,params", CASES)
def test_unseen_categories_predict_as_the_unknown_code(cls, params, data_for):
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    shifted = test.subset(np.arange(len(test)))
    shifted.categorical = shifted.categorical + 1000  # codes no vocabulary has
    unknown = test.subset(np.arange(len(test)))
    unknown.categorical = np.zeros_like(unknown.categorical)  # code 0 = "<unknown>"
    np.testing.assert_array_equal(model.predict(shifted).value, model.predict(unknown).value)


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_one_customer_gives_clear_error_or_prediction(cls, params, data_for):
    train, valid, test = data_for(cls)
    buyer = int(np.flatnonzero(train.labels[:, 0] > 0)[0])
    one = train.subset([buyer])
    try:
        model = cls(**params).fit(one, None)
    except LTVError as exc:
        # A refusal says what the data lacks, not just that something failed.
        assert any(word in str(exc) for word in
                   ("sample", "customer", "label", "positive", "converge", "repeat", "few",
                    "domain", "fit")), str(exc)
        return
    pred = model.predict(test)
    assert pred.value.shape == (len(test), len(model.horizons_))
    assert np.all(np.isfinite(pred.value)) and np.all(pred.value >= 0)
    np.testing.assert_array_equal(model.predict(test).value, pred.value)


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_all_zero_labels_give_clear_error_or_near_zero_predictions(cls, params, data_for):
    train, valid, test = data_for(cls)
    zero = train.subset(np.arange(len(train)))
    zero.labels = np.zeros_like(zero.labels)
    zero.label_orders = np.zeros_like(zero.label_orders)
    zero.labels_by_domain = {k: np.zeros_like(v) for k, v in zero.labels_by_domain.items()}
    try:
        model = cls(**params).fit(zero, None)
    except LTVError as exc:
        assert any(word in str(exc) for word in ("0", "zero", "positive", "spent", "buyer")), str(exc)
        return
    pred = model.predict(test)
    assert np.all(np.isfinite(pred.value)) and np.all(pred.value >= 0)
    if not cls.tag("unsupervised") and not cls.tag("multi_horizon"):
        # A supervised model that learned "nobody spends" predicts far below real spend.
        real_mean = float(train.labels[:, 0].mean())
        assert float(pred.value.mean()) < 0.5 * real_mean, (
            f"{cls.name}: mean prediction {pred.value.mean():.3f} after all-zero labels "
            f"vs real mean label {real_mean:.3f}")


# --------------------------------------------------------------------------------- tags
@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_tags_are_known(cls, params):
    assert set(cls.tags) <= set(DEFAULT_TAGS), f"unknown tags {set(cls.tags) - set(DEFAULT_TAGS)}"


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_needs_sequences_tag_by_behaviour(cls, params, data_for):
    train, valid, _ = data_for(cls)
    flat = train.subset(np.arange(len(train)))
    flat.sequences = np.zeros((len(flat), 0, 0), dtype=np.float32)
    flat.channel_names = []
    if cls.tag("needs_sequences"):
        with pytest.raises(DataValidationError, match=rf"{cls.name} needs period sequences"):
            cls(**params).fit(flat, None)
    else:
        model = cls(**params).fit(flat, None)  # a model that does not need them fits without
        assert model.is_fitted


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_cross_domain_tag_by_behaviour(cls, params, cdnow_slices):
    if not cls.tag("cross_domain"):
        pytest.skip("single-domain model: fitted on CDNOW by every other test")
    with pytest.raises(DataValidationError, match=rf"{cls.name} needs a cross-domain dataset"):
        cls(**params).fit(cdnow_slices[0], None)


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_multi_horizon_tag_by_behaviour(cls, params, cdnow_multi_horizon):
    if cls.tag("cross_domain"):
        pytest.skip("cross-domain models are checked on Olist")
    rng = np.random.default_rng(3)
    idx = rng.permutation(len(cdnow_multi_horizon))
    train, test = cdnow_multi_horizon.subset(idx[:1500]), cdnow_multi_horizon.subset(idx[1500:1900])
    model = cls(**params).fit(train, None)
    expected = train.horizons if cls.tag("multi_horizon") else train.horizons[:1]
    assert model.horizons_ == list(expected)
    assert model.predict(test).value.shape == (len(test), len(expected))


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_probabilistic_tag_by_behaviour(cls, params, data_for):
    train, valid, test = data_for(cls)
    pred = cls(**params).fit(train, valid).predict(test)
    if cls.tag("probabilistic"):
        assert pred.p_active is not None and pred.quantiles is not None
        assert np.all((pred.p_active >= 0) & (pred.p_active <= 1))
        assert sorted(pred.quantiles) == [0.1, 0.5, 0.9]
        q10, q50, q90 = (pred.quantiles[q] for q in (0.1, 0.5, 0.9))
        assert np.all(q10 <= q50 + 1e-9) and np.all(q50 <= q90 + 1e-9)
        assert np.all(q10 >= 0)
    else:
        assert pred.quantiles is None, f"{cls.name} returns quantiles: tag it probabilistic"


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_unsupervised_tag_by_behaviour(cls, params, data_for):
    """An unsupervised model (BTYD) never reads the labels: shuffled labels, same model."""
    train, valid, test = data_for(cls)
    shuffled = train.subset(np.arange(len(train)))
    perm = np.random.default_rng(0).permutation(len(train))
    shuffled.labels, shuffled.label_orders = train.labels[perm], train.label_orders[perm]
    a = cls(**params).fit(train, valid).predict(test).value
    b = cls(**params).fit(shuffled, valid).predict(test).value
    if cls.tag("unsupervised"):
        np.testing.assert_array_equal(a, b)
    else:
        assert not np.array_equal(a, b), f"{cls.name} ignores its labels: tag it unsupervised"


@pytest.mark.parametrize("cls,params", FIRST_CASES)
def test_small_real_data_fit_ranks_customers(cls, params, data_for):
    """On a real-data slice every model must rank future spenders better than chance."""
    train, valid, test = data_for(cls)
    model = cls(**params).fit(train, valid)
    gini = normalized_gini(test.labels_for(model.horizons_[-1]), model.predict(test).value[:, -1])
    assert gini > 0.2, f"{cls.name}: normalized Gini {gini:.3f} on a CDNOW slice"
