"""CC-OR-Net and ODMN predict the expected value over their bucket distribution by default;
the papers' hard argmax inference stays available as ``soft=False``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from ltvkit.models import create_model  # noqa: E402

CCORNET = {"hidden": (16, 8), "residual_width": 8, "bucket_embedding_dim": 4, "max_epochs": 3,
           "batch_size": 128, "lr": 1e-2, "n_threads": 1}
ODMN = {"hidden": (16, 8), "tower_hidden": (8,), "n_sub_distributions": 3, "n_buckets": 3,
        "mono_hidden": 4, "max_epochs": 3, "batch_size": 128, "lr": 1e-2, "n_threads": 1}


def test_ccornet_default_is_the_expectation_and_hard_is_an_option(cdnow_slices):
    train, valid, test = cdnow_slices
    model = create_model("ccornet", **CCORNET)
    assert model.soft is True
    pred = model.fit(train, valid).predict(test)
    np.testing.assert_allclose(pred.value[:, 0], (pred.bucket_probs *
                                                  pred.extras["bucket_values"]).sum(axis=1),
                               rtol=1e-9)
    hard = create_model("ccornet", **CCORNET, soft=False).fit(train, valid).predict(test)
    chosen = np.take_along_axis(hard.extras["bucket_values"], hard.extras["bucket"].astype(int)[:, None], 1)
    np.testing.assert_allclose(hard.value, chosen, rtol=1e-9)
    assert not np.allclose(hard.value, pred.value)


def test_odmn_default_is_the_expectation_before_the_cummax(cdnow_multi_horizon):
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(cdnow_multi_horizon))
    train, valid, test = (cdnow_multi_horizon.subset(idx[:1500]),
                          cdnow_multi_horizon.subset(idx[1500:1800]),
                          cdnow_multi_horizon.subset(idx[1800:2600]))
    model = create_model("odmn", **ODMN, monotone=False).fit(train, valid)
    assert model.soft is True
    expected = model.network.expected_value(model.network_outputs(test))
    pred = model.predict(test)
    np.testing.assert_allclose(pred.value, np.maximum(
        expected.double().numpy() * model.label_scaler_.scale, 0.0), rtol=1e-5, atol=1e-9)
    hard = create_model("odmn", **ODMN, monotone=False, soft=False).fit(train, valid)
    assert not np.allclose(hard.predict(test).value, pred.value)
