"""CC-OR-Net's defining mechanisms (MODELS.md §2) on a CDNOW slice."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltvkit.models import create_model  # noqa: E402
from ltvkit.models.ccornet import cascade_log_probs  # noqa: E402

TINY = {"hidden": (16, 8), "residual_width": 8, "bucket_embedding_dim": 4, "max_epochs": 3,
        "batch_size": 128, "lr": 1e-2, "n_threads": 1}


@pytest.fixture(scope="module")
def fitted(cdnow_slices):
    train, valid, test = cdnow_slices
    # the paper's hard argmax inference: the bucket-interval tests below are about it
    model = create_model("ccornet", **TINY, soft=False).fit(train, valid)
    return model, model.predict(test), test


def test_bucket_probabilities_sum_to_one(fitted):
    _, pred, test = fitted
    assert pred.bucket_probs.shape == (len(test), 4)
    assert np.all(pred.bucket_probs >= 0)
    np.testing.assert_allclose(pred.bucket_probs.sum(axis=1), 1.0, atol=1e-9)


def test_cascade_survival_is_non_increasing_for_any_logits():
    logits = torch.randn(500, 3, dtype=torch.float64) * 5
    log_survival, log_probs = cascade_log_probs(logits)
    assert torch.all(log_survival[:, 1:] <= log_survival[:, :-1])
    # Telescoping: P(b >= k) is the tail sum of P(b = k) and P(b = .) sums to 1.
    tail = torch.flip(torch.cumsum(torch.flip(log_probs.exp(), [1]), 1), [1])[:, 1:]
    torch.testing.assert_close(tail, log_survival.exp())
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(500, dtype=torch.float64))


def test_predicted_survival_is_non_increasing(fitted):
    _, pred, _ = fitted
    survival = 1.0 - np.cumsum(pred.bucket_probs, axis=1)[:, :-1]  # P(b > k), k = 0..2
    assert np.all(np.diff(survival, axis=1) <= 1e-12)
    np.testing.assert_allclose(pred.p_active[:, 0], survival[:, 0], atol=1e-12)


def test_higher_bucket_is_never_predicted_below_a_lower_bucket(fitted):
    _, pred, _ = fitted
    bucket, value = pred.extras["bucket"].astype(int), pred.value[:, 0]
    used = sorted(set(bucket))
    assert len(used) >= 2, "the slice should use several buckets"
    for lo, hi in zip(used, used[1:], strict=False):
        assert value[bucket == lo].max() < value[bucket == hi].min()


def test_predictions_lie_in_their_bucket_interval(fitted):
    model, pred, _ = fitted
    bounds = np.concatenate([model.bucket_edges_, [model.bucket_cap_]])
    bucket, value = pred.extras["bucket"].astype(int), pred.value[:, 0]
    assert np.all(value[bucket == 0] == 0.0)
    pos = bucket > 0
    assert np.all(value[pos] > bounds[bucket[pos] - 1])
    assert np.all(value[pos] <= bounds[bucket[pos]])
    # Every bucket's candidate value lies in that bucket, whichever bucket is chosen.
    values = pred.extras["bucket_values"]
    assert np.all((values[:, 1:] > bounds[:-1]) & (values[:, 1:] <= bounds[1:]))


def test_bucket_edges_come_from_positive_training_labels(fitted, cdnow_slices):
    model, _, _ = fitted
    y = cdnow_slices[0].labels[:, 0]
    np.testing.assert_allclose(model.bucket_edges_[1:], np.quantile(y[y > 0], [0.5, 0.75]))


def test_augmentation_false_removes_the_high_value_term(fitted, cdnow_slices):
    model, _, test = fitted
    train, valid, _ = cdnow_slices
    ablated = create_model("ccornet", **TINY, augmentation=False).fit(train, valid)
    assert ablated.module_.high_value is None
    inputs = ablated._inputs(test)
    y = torch.from_numpy(ablated.label_scaler_.transform(test.labels[:, :1]))
    with torch.no_grad():
        assert "high_value" not in ablated.loss_terms(ablated.module_(inputs), y)
        assert "high_value" in model.loss_terms(model.module_(model._inputs(test)), y)


def test_noise_only_in_training(fitted):
    model, _, test = fitted
    module, inputs = model.module_, model._inputs(test)
    with torch.no_grad():
        module.eval()
        a, b = module(inputs), module(inputs)
        module.train()
        c = module(inputs)
        module.eval()
    torch.testing.assert_close(a["v_hv"], b["v_hv"], rtol=0, atol=0)
    assert not torch.equal(a["v_hv"], c["v_hv"])  # the training pass is perturbed
    torch.testing.assert_close(a["log_probs"], c["log_probs"])  # ... only in the HV branch


def test_soft_prediction_is_the_expectation_over_buckets(cdnow_slices):
    train, valid, test = cdnow_slices
    pred = create_model("ccornet", **TINY, soft=True).fit(train, valid).predict(test)
    expected = (pred.bucket_probs * pred.extras["bucket_values"]).sum(axis=1)
    np.testing.assert_allclose(pred.value[:, 0], expected, rtol=1e-9)


def test_rank_zero_bucket_orders_the_zero_bucket_by_spend_probability(fitted, cdnow_slices):
    from ltvkit.metrics import ZERO_EPS, assign_buckets

    model, pred, test = fitted
    ranked = model.clone().set_params(rank_zero_bucket=True)
    ranked.fit(*cdnow_slices[:2])
    alt = ranked.predict(test)
    zero = alt.extras["bucket"] == 0
    np.testing.assert_array_equal(alt.value[~zero], pred.value[~zero])
    assert np.all((alt.value[zero] > 0) & (alt.value[zero] <= ZERO_EPS))
    np.testing.assert_array_equal(assign_buckets(alt.value[:, 0], model.bucket_edges_),
                                  assign_buckets(pred.value[:, 0], model.bucket_edges_))
    order = np.argsort(alt.p_active[zero, 0])
    assert np.all(np.diff(alt.value[zero, 0][order]) >= 0)
