"""MDAN (PAKDD 2024, interpreted): controller weights and the Distance Similarity Loss."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltvkit.models import create_model  # noqa: E402
from ltvkit.models.mdan import distance_similarity_loss  # noqa: E402

TINY = {"shared_hidden": (16,), "channel_hidden": (8,), "controller_hidden": (),
        "max_epochs": 2, "batch_size": 128, "lr": 1e-2, "n_threads": 1}


def test_controller_weights_are_a_distribution_over_channels(cdnow_slices):
    train, valid, test = cdnow_slices
    model = create_model("mdan", **TINY).fit(train, valid)
    w = model.channel_weights(test)
    assert w.shape == (len(test), 4)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.predict(test).bucket_probs, w, atol=1e-6)


def test_similarity_loss_is_zero_when_distances_are_proportional_to_label_distances():
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(32, generator=gen) * 5
    direction = torch.randn(6, generator=gen)
    offset = torch.randn(6, generator=gen)
    # h_i = offset + 3.7 * y_i * direction: ||h_i - h_j|| = 3.7 |direction| |y_i - y_j|
    hidden = offset + 3.7 * y[:, None] * direction
    assert distance_similarity_loss(hidden, y).item() == pytest.approx(0.0, abs=1e-9)
    assert distance_similarity_loss(torch.randn(32, 6, generator=gen), y).item() > 0.05
    # a constant target has nothing to mirror
    assert distance_similarity_loss(torch.randn(8, 6, generator=gen), torch.ones(8)).item() == 0


def test_similarity_loss_gradient_is_finite_for_identical_rows():
    hidden = torch.zeros(4, 3, requires_grad=True)
    distance_similarity_loss(hidden, torch.tensor([0.0, 1.0, 2.0, 3.0])).backward()
    assert torch.all(torch.isfinite(hidden.grad))


def test_similarity_flag_removes_its_term(cdnow_slices):
    train, valid, _ = cdnow_slices
    for flags, expected in [({}, {"regression", "controller", "similarity"}),
                            ({"use_similarity": False}, {"regression", "controller"}),
                            ({"similarity_weight": 0.0, "controller_weight": 0.0},
                             {"regression"})]:
        model = create_model("mdan", **{**TINY, "max_epochs": 1}, **flags).fit(train, valid)
        outputs = model._forward(valid)
        y = torch.from_numpy(model.label_scaler_.transform(valid.labels_for(model.horizons_)))
        terms = model.loss_components(outputs, y)
        assert set(terms) == expected, flags
        assert all(float(v) > 0 for v in terms.values()), flags
