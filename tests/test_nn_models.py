"""Each deep model's defining mechanism, on CDNOW slices (the contract is in test_conformance)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltvkit.errors import ModelError  # noqa: E402
from ltvkit.metrics import normalized_gini  # noqa: E402
from ltvkit.models import create_model  # noqa: E402

TINY = {"max_epochs": 3, "batch_size": 128, "lr": 1e-2, "n_threads": 1}
SEQUENCE_MODELS = {
    "lstm": {"rnn_hidden": 8},
    "gru": {"rnn_hidden": 8},
    "tcn": {"channels": (8, 8)},
    "transformer": {"d_model": 8, "n_heads": 2, "n_layers": 1},
    "cnn": {"channels": (8, 8)},
}


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """P(score of a random buyer > score of a random non-buyer), ties count half."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos = positive.sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (~positive).sum())


def test_ziln_p_active_separates_future_buyers(cdnow_slices):
    train, valid, test = cdnow_slices
    pred = create_model("ziln", hidden=(16, 8), **TINY).fit(train, valid).predict(test)
    assert _auc(test.labels[:, 0] > 0, pred.p_active[:, 0]) > 0.7
    # The point prediction is the mean of the predicted distribution: above its median here,
    # as for any right-skewed lognormal mixture.
    assert np.mean(pred.value[:, 0] >= pred.quantiles[0.5][:, 0]) > 0.9


def test_ziln_loads_with_bit_identical_distribution(cdnow_slices, tmp_path):
    train, valid, test = cdnow_slices
    model = create_model("ziln", hidden=(8,), **TINY).fit(train, valid)
    loaded = type(model).load(model.save(tmp_path / "ziln"))
    a, b = model.predict(test), loaded.predict(test)
    np.testing.assert_array_equal(a.p_active, b.p_active)
    for q in (0.1, 0.5, 0.9):
        np.testing.assert_array_equal(a.quantiles[q], b.quantiles[q])
    assert loaded.history_["main"].best_epoch == model.history_["main"].best_epoch >= 0
    assert loaded.history_["main"].train_loss == model.history_["main"].train_loss


def test_dnn_mse_log_target_predicts_a_lower_total_than_mse(cdnow_slices):
    train, valid, test = cdnow_slices
    params = {**TINY, "hidden": (16, 8), "max_epochs": 30}
    mse = create_model("dnn_mse", **params).fit(train, valid).predict(test)
    log = create_model("dnn_mse", log_target=True, **params).fit(train, valid).predict(test)
    # Squared error estimates the mean: the predicted total is near the true total ...
    assert mse.value.sum() == pytest.approx(test.labels[:, 0].sum(), rel=0.3)
    # ... while exp(E[log(1 + y)]) - 1 <= E[y] (Jensen): the log-target model under-predicts.
    assert log.value.sum() < 0.9 * mse.value.sum()
    assert mse.p_active is None and mse.quantiles is None


@pytest.mark.parametrize("monotone", [False, True])
def test_mtl_ziln_predicts_every_horizon_and_monotone_keeps_them_ordered(cdnow_multi_horizon,
                                                                          monotone):
    data = cdnow_multi_horizon.subset(np.arange(2000))
    train, test = data.subset(np.arange(1500)), data.subset(np.arange(1500, 2000))
    model = create_model("mtl_ziln", hidden=(16, 8), tower_hidden=(8,), monotone=monotone,
                         **TINY).fit(train)
    pred = model.predict(test)
    assert pred.value.shape == (len(test), 4) and model.horizons_ == list(data.horizons)
    if monotone:
        assert np.all(np.diff(pred.value, axis=1) >= -1e-9 * pred.value[:, 1:])
        assert np.all(np.diff(pred.p_active, axis=1) >= -1e-9)
    assert normalized_gini(test.labels[:, -1], pred.value[:, -1]) > 0.2


@pytest.mark.parametrize("name", sorted(SEQUENCE_MODELS))
def test_sequence_models_read_the_order_of_the_periods(cdnow_slices, name):
    train, valid, test = cdnow_slices
    model = create_model(name, static_hidden=(8,), hidden=(8,), **SEQUENCE_MODELS[name],
                         **TINY).fit(train, valid)
    shuffled = test.subset(np.arange(len(test)))
    order = np.random.default_rng(0).permutation(test.sequences.shape[1])
    shuffled.sequences = test.sequences[:, order]
    before, after = model.predict(test).value, model.predict(shuffled).value
    active = np.abs(test.sequences).sum(axis=(1, 2)) > 0
    assert np.mean(~np.isclose(before[active], after[active], rtol=1e-4)) > 0.5


def test_sequence_model_with_mse_loss_gives_a_point_prediction(cdnow_slices):
    train, valid, test = cdnow_slices
    pred = create_model("tcn", channels=(8,), static_hidden=(8,), hidden=(8,), loss="mse",
                        **TINY).fit(train, valid).predict(test)
    assert pred.p_active is None and pred.quantiles is None
    assert normalized_gini(test.labels[:, 0], pred.value[:, 0]) > 0.2


def test_unknown_loss_is_a_clear_error(cdnow_slices):
    train, valid, _ = cdnow_slices
    with pytest.raises(ModelError, match="unknown loss 'poisson'"):
        create_model("gru", loss="poisson", **TINY).fit(train, valid)


def test_autoencoder_scores_anomalies_and_embeds_customers(cdnow_slices):
    train, valid, test = cdnow_slices
    params = {"encoder_hidden": (16,), "latent_dim": 4, "hidden": (8,), "batch_size": 128,
              "lr": 1e-2, "n_threads": 1, "max_epochs": 1}
    untrained = create_model("autoencoder_mlp", pretrain_epochs=0, **params).fit(train, valid)
    trained = create_model("autoencoder_mlp", pretrain_epochs=15, **params).fit(train, valid)
    score = trained.anomaly_score(test)
    assert score.shape == (len(test),) and np.all(score >= 0)
    assert trained.embed(test).shape == (len(test), 4)
    # Pre-training is what lowers the reconstruction error of unseen customers.
    assert score.mean() < 0.7 * untrained.anomaly_score(test).mean()
    history = trained.history_["autoencoder"].valid_loss
    assert history[-1] < history[0]


def test_frozen_encoder_is_not_changed_by_the_regressor_stage(cdnow_slices):
    train, valid, _ = cdnow_slices
    params = {"encoder_hidden": (8,), "latent_dim": 4, "hidden": (8,), "batch_size": 128,
              "lr": 1e-2, "n_threads": 1, "pretrain_epochs": 2}
    short = create_model("autoencoder_mlp", max_epochs=1, **params).fit(train, valid)
    long = create_model("autoencoder_mlp", max_epochs=4, patience=100, **params).fit(
        train, valid)
    for key in ("encoder.net.0.weight", "decoder.net.0.weight"):
        a, b = short.module_.state_dict()[key], long.module_.state_dict()[key]
        assert torch.equal(a, b)


def test_fit_leaves_the_global_torch_state_alone(cdnow_slices):
    train, valid, _ = cdnow_slices
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    threads = torch.get_num_threads()
    create_model("ziln", hidden=(8,), **TINY).fit(train, valid)
    assert torch.equal(torch.rand(2), expected) and torch.get_num_threads() == threads
