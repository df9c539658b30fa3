"""MEAN (paper 001) and MTL-MEAN: attention, alignment losses, ablations, label truncation."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltvkit.models import create_model  # noqa: E402
from ltvkit.models.mean import (  # noqa: E402
    distillation_cross_entropy,
    kl_bucket_attention,
)
from ltvkit.targets import bucket_index, value_range_edges  # noqa: E402

TINY = {"shared_hidden": (16,), "expert_dim": 8, "attention_dim": 4, "dam_hidden": (8,),
        "max_epochs": 2, "batch_size": 128, "lr": 1e-2, "n_threads": 1}


@pytest.fixture(scope="module")
def fitted_mean(cdnow_slices):
    train, valid, _ = cdnow_slices
    return create_model("mean", **TINY).fit(train, valid)


def _outputs_and_labels(model, data):
    outputs = model._forward(data)
    y = torch.from_numpy(model.label_scaler_.transform(data.labels_for(model.horizons_)))
    return outputs, y


def test_attention_rows_are_distributions(fitted_mean, cdnow_slices):
    test = cdnow_slices[2]
    a = fitted_mean.attention(test)
    assert a.shape == (len(test), 5, 5)
    assert np.all(a >= 0)
    np.testing.assert_allclose(a.sum(axis=2), 1.0, atol=1e-5)


def test_bucket_probs_rows_sum_to_one(fitted_mean, cdnow_slices):
    pred = fitted_mean.predict(cdnow_slices[2])
    assert pred.bucket_probs.shape == (len(cdnow_slices[2]), 5)
    np.testing.assert_allclose(pred.bucket_probs.sum(axis=1), 1.0, atol=1e-5)


def test_kl_is_zero_when_dam_and_attention_agree_and_positive_otherwise():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0, 1.0]])
    agree = torch.softmax(logits, dim=-1)
    assert kl_bucket_attention(logits, agree).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((1, 5), 0.2)
    assert kl_bucket_attention(logits, uniform).item() > 0.05


def test_distillation_term_matches_hand_computation_at_tau_2():
    theta = [0.5, 0.3, 0.2]
    k = [1.0, 0.0, -1.0]
    p = [math.exp(t / 2) for t in theta]
    p = [v / sum(p) for v in p]
    q = [math.exp(v / 2) for v in k]
    q = [v / sum(q) for v in q]
    expected = -sum(pi * math.log(qi) for pi, qi in zip(p, q, strict=True))
    got = distillation_cross_entropy(torch.tensor([theta]), torch.tensor([k]), tau=2.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # the teacher read as probabilities: softmax(log theta / 2) = sqrt(theta), normalised
    p2 = [math.sqrt(t) for t in theta]
    p2 = [v / sum(p2) for v in p2]
    expected2 = -sum(pi * math.log(qi) for pi, qi in zip(p2, q, strict=True))
    got2 = distillation_cross_entropy(torch.tensor([theta]), torch.tensor([k]), tau=2.0,
                                      target="log_scores")
    assert got2.item() == pytest.approx(expected2, rel=1e-6)


def test_full_loss_has_every_term_and_ablations_remove_theirs(cdnow_slices):
    train, valid, _ = cdnow_slices
    one_epoch = {**TINY, "max_epochs": 1}
    for flags, absent in [({}, set()), ({"use_kl": False}, {"kl"}),
                          ({"use_distill": False}, {"distill"}),
                          ({"mvfe_only": True}, {"kl", "distill", "bucket"})]:
        model = create_model("mean", **one_epoch, **flags).fit(train, valid)
        outputs, y = _outputs_and_labels(model, valid)
        terms = model.loss_components(outputs, y)
        assert set(terms) == {"cltv", "kl", "distill", "bucket"} - absent, flags
        assert all(float(v) > 0 for v in terms.values()), flags
        total = model._loss(outputs, y, 0)
        assert float(total) == pytest.approx(sum(float(v) for v in terms.values()), rel=1e-6)
        if flags.get("mvfe_only"):
            assert outputs.bucket_logits is None
            assert model.predict(valid).bucket_probs is None


def test_labels_are_truncated_to_0_20_before_every_loss(fitted_mean, cdnow_slices):
    outputs, y = _outputs_and_labels(fitted_mean, cdnow_slices[1])
    y = y.clone()
    y[:5] = 20.0
    at_cap = fitted_mean.loss_components(outputs, y)
    y[:5] = 1e4  # a whale 10,000 times the mean buyer counts as 20
    above_cap = fitted_mean.loss_components(outputs, y)
    for key in at_cap:
        assert float(above_cap[key]) == pytest.approx(float(at_cap[key]), rel=1e-6), key
    assert float(fitted_mean.truncate_labels(torch.tensor([-1.0, 3.0, 50.0])).max()) == 20.0


def test_value_ranges_are_zero_plus_quartiles_of_positive_training_labels(fitted_mean):
    y = np.array([0, 0, 1, 2, 3, 4, 5, 100.0])
    edges = value_range_edges(y, n_ranges=5, cap=20.0)
    np.testing.assert_allclose(edges, [np.quantile([1, 2, 3, 4, 5, 20.0], [0.25, 0.5, 0.75])])
    z = bucket_index(torch.tensor(y)[:, None], torch.tensor(edges))[:, 0]
    assert z.tolist() == [0, 0, 1, 1, 2, 3, 4, 4]
    # the model stores its training edges ([H, n - 2], scaled units) in the saved state
    state, _ = fitted_mean._get_state()
    assert np.asarray(state["bucket_edges"]).shape == (1, 3)
    assert np.all(np.diff(state["bucket_edges"][0]) >= 0)


def test_mtl_mean_predicts_every_horizon(cdnow_multi_horizon):
    data = cdnow_multi_horizon
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(data))
    train, test = data.subset(idx[:1200]), data.subset(idx[1200:1600])
    model = create_model("mtl_mean", **TINY).fit(train)
    pred = model.predict(test)
    assert model.horizons_ == list(data.horizons) and len(data.horizons) == 4
    assert pred.value.shape == (len(test), 4)
    assert pred.bucket_probs.shape == (len(test), 4, 5)
    np.testing.assert_allclose(pred.bucket_probs.sum(axis=-1), 1.0, atol=1e-5)
    assert model.attention(test, horizon=data.horizons[-1]).shape == (len(test), 5, 5)
    outputs, y = _outputs_and_labels(model, test)
    assert outputs.value.shape == (len(test), 4)
    # one tower per horizon, each with its own value ranges from its own labels
    assert len(model.module_.towers) == 4
    assert model.module_.bucket_edges.shape == (4, 3)
