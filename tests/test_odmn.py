"""ODMN / MDME's defining mechanisms (MODELS.md §3) on a multi-horizon CDNOW slice."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltvkit.models import create_model  # noqa: E402
from ltvkit.models.odmn import calibration_loss, ordinal_distribution  # noqa: E402

TINY = {"hidden": (16, 8), "tower_hidden": (8,), "n_sub_distributions": 3, "n_buckets": 3,
        "mono_hidden": 4, "max_epochs": 3, "batch_size": 128, "lr": 1e-2, "n_threads": 1}


@pytest.fixture(scope="module")
def slices(cdnow_multi_horizon):
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(cdnow_multi_horizon))
    return (cdnow_multi_horizon.subset(idx[:1500]), cdnow_multi_horizon.subset(idx[1500:1800]),
            cdnow_multi_horizon.subset(idx[1800:2600]))


@pytest.fixture(scope="module")
def fitted(slices):
    train, valid, test = slices
    # the paper's hard argmax inference: the bucket-interval tests below are about it
    model = create_model("odmn", **TINY, soft=False).fit(train, valid)
    return model, model.predict(test)


def test_predictions_lie_inside_the_chosen_bucket(fitted):
    _, pred = fitted
    before = pred.extras["value_before_cummax"]
    lower, upper = pred.extras["bucket_lower"], pred.extras["bucket_upper"]
    zero = pred.extras["sub_distribution"] == 0
    assert np.all(before[zero] == 0.0)
    assert np.all((before >= lower - 1e-9) & (before <= upper + 1e-9))
    assert (~zero).any(), "some customers should be predicted to spend"


def test_buckets_are_equal_frequency_cuts_of_positive_training_labels(fitted, slices):
    model, _ = fitted
    y = slices[0].labels[:, -1]
    edges = np.quantile(y[y > 0], np.linspace(0, 1, 2 * 3 + 1))
    np.testing.assert_allclose(model.bucket_lower_[-1].ravel(), edges[:-1])
    np.testing.assert_allclose(model.bucket_upper_[-1].ravel(), edges[1:])


def test_horizon_predictions_are_monotone(fitted):
    _, pred = fitted
    assert pred.value.shape[1] == 4
    assert np.all(np.diff(pred.value, axis=1) >= 0)
    np.testing.assert_array_equal(pred.value, np.maximum.accumulate(
        pred.extras["value_before_cummax"], axis=1))


def test_without_cummax_the_value_is_the_argmax_bucket_value(slices):
    train, valid, test = slices
    pred = create_model("odmn", **TINY, monotone=False, soft=False).fit(train, valid).predict(test)
    np.testing.assert_array_equal(pred.value, pred.extras["value_before_cummax"])


def test_mono_unit_weights_are_non_negative(fitted):
    model, _ = fitted
    units = copy.deepcopy(model.module_.mono)  # the weights are overwritten below
    assert len(units) == 3  # one between each pair of consecutive horizons
    with torch.no_grad():
        for unit in units:
            for layer in unit.layers:
                layer.weight_raw.copy_(-50.0 * torch.rand_like(layer.weight_raw) - 1.0)
            assert all(bool((w >= 0).all()) for w in unit.weights())
            # Non-negative weights + ReLU: raising any input probability raises every output.
            o = torch.rand(8, unit.layers[0].weight.shape[1])
            assert torch.all(unit(o + 0.1) >= unit(o))


def test_mono_unit_sees_no_gradient_from_the_next_horizon(fitted, slices):
    model, _ = fitted
    module = model.module_
    inputs = model._inputs(slices[2])
    out = module(inputs)
    module.zero_grad()
    out["dc"][:, 1].sum().backward()  # the 90-day logits
    tower0 = module.towers[0].net[0].weight.grad
    assert tower0 is None or torch.count_nonzero(tower0) == 0


def test_calibration_loss_hand_example():
    values = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 4.0], [5.0, 1.0, 0.0]])
    # sample 1: 0; sample 2: relu(3-2) + relu(2-4) = 1; sample 3: relu(4) + relu(1) = 5
    assert calibration_loss(values).item() == pytest.approx(2.0)
    assert calibration_loss(values[:, :1]).item() == 0.0


def test_ordinal_teacher_is_a_distribution():
    p = ordinal_distribution(torch.tensor([[3.0, 0.0, -3.0], [-1.0, 2.0, 0.0]]))
    torch.testing.assert_close(p.sum(1), torch.ones(2))
    assert torch.all(p > 0)
