"""Tests of the PyTorch core: ZILN maths, heads, scalers, blocks and the trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402

from ltvkit.nn.blocks import (  # noqa: E402
    MLP,
    TCN,
    CategoricalEmbeddings,
    CNNEncoder,
    DeepFM,
    RNNEncoder,
    TransformerSequenceEncoder,
    embedding_width,
)
from ltvkit.nn.losses import (  # noqa: E402
    SIGMA_FLOOR,
    RegressionHead,
    ZILNHead,
    ziln_loss,
    ziln_mean,
    ziln_params,
    ziln_quantile,
)
from ltvkit.nn.preprocess import FeatureScaler, LabelScaler, SequenceScaler  # noqa: E402
from ltvkit.nn.trainer import (  # noqa: E402
    StepSchedule,
    TensorData,
    Trainer,
    training_context,
)

# (z_p, z_mu, z_s) and labels with zeros, small and large spends.
LOGITS = [[0.3, 1.2, 0.5], [-1.0, 0.0, -0.7], [2.0, 3.5, 1.5], [0.0, -0.5, 0.2],
          [-2.5, 2.0, -3.0]]
LABELS = [0.0, 0.7, 40.0, 0.0, 3.0]


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------------- ZILN loss
def test_ziln_loss_equals_hand_computed_nll():
    expected = []
    for (z_p, mu, z_s), y in zip(LOGITS, LABELS, strict=True):
        p, s = _sigmoid(z_p), max(_softplus(z_s), math.sqrt(1e-7))
        if y == 0:
            expected.append(-math.log(1 - p))  # BCE of a non-buyer, no lognormal term
        else:
            expected.append(-math.log(p) + math.log(y) + math.log(s)
                            + 0.5 * math.log(2 * math.pi) + (math.log(y) - mu) ** 2 / (2 * s * s))
    loss = ziln_loss(torch.tensor(LOGITS, dtype=torch.float64),
                     torch.tensor(LABELS, dtype=torch.float64))
    assert loss.item() == pytest.approx(np.mean(expected), rel=1e-12)


def test_ziln_loss_is_minus_log_of_the_mixture_density():
    nll = []
    for (z_p, mu, z_s), y in zip(LOGITS, LABELS, strict=True):
        p, s = _sigmoid(z_p), _softplus(z_s)
        density = 1 - p if y == 0 else p * stats.lognorm.pdf(y, s, scale=math.exp(mu))
        nll.append(-math.log(density))
    loss = ziln_loss(torch.tensor(LOGITS, dtype=torch.float64),
                     torch.tensor(LABELS, dtype=torch.float64))
    assert loss.item() == pytest.approx(np.mean(nll), rel=1e-9)


def test_ziln_loss_takes_multi_horizon_logits_and_averages_every_element():
    logits = torch.tensor(LOGITS[:4], dtype=torch.float64).view(2, 2, 3)
    y = torch.tensor(LABELS[:4], dtype=torch.float64).view(2, 2)
    flat = ziln_loss(torch.tensor(LOGITS[:4], dtype=torch.float64),
                     torch.tensor(LABELS[:4], dtype=torch.float64))
    assert ziln_loss(logits, y).item() == pytest.approx(flat.item(), rel=1e-12)


def test_ziln_gradient_is_finite_at_zero_labels_and_tiny_sigma():
    logits = torch.tensor([[0.1, 2.0, -40.0], [5.0, -3.0, 0.0], [-0.3, 0.0, 30.0]],
                          requires_grad=True)
    y = torch.zeros(3)
    ziln_loss(logits, y).backward()
    assert torch.isfinite(logits.grad).all()
    # Zero labels only train the purchase logit: no gradient reaches mu or sigma.
    assert torch.all(logits.grad[:, 1:] == 0)
    assert ziln_params(logits.detach()).sigma.min().item() == pytest.approx(SIGMA_FLOOR)


@pytest.mark.parametrize("z_p,mu,z_s", [(0.4, 1.0, 0.3), (-1.5, 3.0, -0.5), (2.5, -0.5, 0.9)])
def test_ziln_mean_and_quantiles_match_monte_carlo(z_p, mu, z_s):
    params = ziln_params(torch.tensor([[[z_p, mu, z_s]]], dtype=torch.float64))
    p, s = _sigmoid(z_p), _softplus(z_s)
    rng = np.random.default_rng(0)
    n = 400_000
    draws = np.where(rng.random(n) < p, rng.lognormal(mu, s, n), 0.0)
    # The mean of a heavy lognormal converges slowly: compare within 3 standard errors.
    se = draws.std() / math.sqrt(n)
    assert ziln_mean(params).item() == pytest.approx(draws.mean(), abs=3 * se)
    for q in (0.1, 0.5, 0.9):
        expected = np.quantile(draws, q)
        got = ziln_quantile(params, q).item()
        if q <= 1 - p:
            assert got == 0.0 and expected == 0.0
        else:
            assert got == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("monotone", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_ziln_rule_equals_the_torch_fields(monotone, dtype):
    """The prediction rule (ltvkit.nn.ziln_rule, Numba) reads the logits as ZILNParams' torch
    fields do: the same mean, p and quantiles, extreme logits included."""
    from ltvkit.nn.losses import ZILNParams, ziln_prediction

    logits = torch.randn(400, 3, 3, generator=torch.Generator().manual_seed(3)) * 4
    logits[::9] *= 15  # past softplus's threshold and the level clip
    params = ZILNParams(logits.to(dtype), monotone)
    fields = ZILNParams(logits.to(dtype).double(), monotone)
    log_mean = fields.log_mean if monotone else fields.log_p + fields.mu + 0.5 * fields.sigma ** 2
    levels = (0.1, 0.5, 0.9)
    mean, p, quantiles = ziln_prediction(params, levels)
    np.testing.assert_allclose(mean, torch.exp(log_mean).numpy(), rtol=1e-12)
    np.testing.assert_allclose(p, fields.p.numpy(), rtol=1e-12)
    for q in levels:
        level = 1.0 - (1.0 - q) / fields.p
        z = torch.special.ndtri(level.clamp(1e-7, 1.0 - 1e-7))
        expected = torch.where(level > 0, torch.exp(fields.mu + fields.sigma * z), 0.0)
        np.testing.assert_allclose(quantiles[q], expected.numpy(), rtol=1e-11)
    assert (quantiles[0.1] == 0).any() and (quantiles[0.9] > 0).any()


def test_ziln_quantiles_are_ordered_and_zero_below_the_point_mass():
    logits = torch.randn(500, 1, 3, generator=torch.Generator().manual_seed(0)) * 3
    params = ziln_params(logits)
    q = [ziln_quantile(params, level) for level in (0.1, 0.5, 0.9)]
    assert torch.all(q[0] <= q[1]) and torch.all(q[1] <= q[2])
    assert torch.all(q[1][params.p < 0.5] == 0)


# --------------------------------------------------------------------------------- heads
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0))
def test_monotone_heads_never_decrease_over_horizons(seed, scale):
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ziln_head = ZILNHead(8, n_horizons=4, tower_hidden=(4,), monotone=True)
        regression_head = RegressionHead(8, n_horizons=4, monotone=True)
    h = torch.randn(256, 8, generator=gen) * scale
    with torch.no_grad():
        params = ziln_head(h)
        mean = ziln_mean(params)
        value = regression_head(h)
    assert torch.all(params.p[:, 1:] >= params.p[:, :-1] - 1e-6)
    assert torch.all(mean[:, 1:] >= mean[:, :-1])  # exactly: a cumulative sum of >= 0 steps
    assert torch.all(value[:, 1:] >= value[:, :-1]) and torch.all(value >= 0)


def test_heads_start_at_the_label_distribution():
    head = ZILNHead(4, n_horizons=2, monotone=True)
    head.init_bias([0.2, 0.4], [0.5, 1.0], [1.0, 1.2])
    nn.init.zeros_(head.towers.out.weight)
    with torch.no_grad():
        params = head(torch.randn(3, 4))
    np.testing.assert_allclose(params.p[0].numpy(), [0.2, 0.4], rtol=1e-4)
    np.testing.assert_allclose(params.sigma[0].numpy(), [1.0, 1.2], rtol=1e-4)
    np.testing.assert_allclose(params.mu[0].numpy(), [0.5, 1.0], atol=1e-4)


# --------------------------------------------------------------------------------- blocks
@pytest.mark.parametrize("vocab,width", [(1, 2), (15, 2), (16, 3), (81, 4), (625, 6),
                                         (10_000, 11)])
def test_embedding_width_is_floor_fourth_root_plus_one(vocab, width):
    assert embedding_width(vocab) == width == math.floor(vocab ** 0.25) + 1


def test_categorical_embeddings_concatenate_one_vector_per_feature():
    emb = CategoricalEmbeddings([6, 100])
    out = emb(torch.tensor([[0, 5], [3, 99]]))
    assert emb.out_dim == 2 + 4 and out.shape == (2, 6)
    assert CategoricalEmbeddings([])(torch.zeros(3, 0, dtype=torch.long)).shape == (3, 0)


@pytest.mark.parametrize("encoder", [
    lambda: RNNEncoder(4, 8, kind="lstm"), lambda: RNNEncoder(4, 8, kind="gru"),
    lambda: TCN(4, (8, 8)), lambda: TransformerSequenceEncoder(4, 12, d_model=8, n_heads=2),
    lambda: CNNEncoder(4, (8, 8))], ids=["lstm", "gru", "tcn", "transformer", "cnn"])
def test_sequence_encoders_map_a_sequence_to_out_dim(encoder):
    enc = encoder()
    out = enc(torch.randn(5, 12, 4))
    assert out.shape == (5, enc.out_dim)


def test_tcn_is_causal():
    torch.manual_seed(0)
    tcn = TCN(2, (16, 16), kernel_size=3).eval()
    x = torch.randn(1, 10, 2)
    y = x.clone()
    y[:, -1] += 5.0  # change only the last period
    with torch.no_grad():
        hx = tcn.net(x.transpose(1, 2))
        hy = tcn.net(y.transpose(1, 2))
    torch.testing.assert_close(hx[:, :, :-1], hy[:, :, :-1])  # the past does not see the future
    assert not torch.allclose(hx[:, :, -1], hy[:, :, -1])


def test_deepfm_linear_readout_is_first_plus_second_order_plus_deep():
    torch.manual_seed(0)
    fm = DeepFM(3, [5, 4], embed_dim=4, hidden=(8,))
    x, c = torch.randn(6, 3), torch.tensor([[1, 2]] * 6)
    out = fm(x, c)
    assert out.shape == (6, fm.out_dim) == (6, 8 + 4 + 1)
    # The second-order FM term equals the explicit sum of pairwise inner products.
    e = torch.cat([x.unsqueeze(-1) * fm.num_embed, fm.cat_embed(c + fm.offsets)], dim=1)
    pairwise = sum((e[:, i] * e[:, j]).sum(-1) for i in range(5) for j in range(i + 1, 5))
    torch.testing.assert_close(out[:, 8:12].sum(-1), pairwise, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------- scalers
def test_feature_scaler_log_zscores_and_maps_nan_to_the_mean():
    x = np.array([[0.0, 1.0], [10.0, np.nan], [100.0, 3.0], [-5.0, 5.0]], np.float32)
    scaler = FeatureScaler().fit(x)
    z = scaler.transform(x)
    assert np.all(np.isfinite(z)) and z[1, 1] == 0.0
    np.testing.assert_allclose(z[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[:, 0].std(), 1.0, rtol=1e-5)
    loaded = FeatureScaler.from_arrays(scaler.to_arrays("f."), "f.")
    np.testing.assert_array_equal(loaded.transform(x), z)


def test_sequence_scaler_keeps_empty_periods_at_zero():
    seq = np.zeros((3, 4, 2), np.float32)
    seq[0, 2] = [50.0, 2.0]
    z = SequenceScaler().fit(seq).transform(seq)
    assert np.count_nonzero(z) == 2 and np.all(z[0, 2] > 0)


def test_label_scaler_divides_by_the_mean_positive_label():
    scaler = LabelScaler().fit(np.array([[0.0], [10.0], [30.0]]))
    assert scaler.scale == 20.0
    np.testing.assert_allclose(scaler.inverse(scaler.transform([[5.0]])), [[5.0]])
    assert LabelScaler().fit(np.zeros((4, 1))).scale == 1.0


# --------------------------------------------------------------------------------- trainer
def _regression_data(n: int = 256, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorData({"x": x}, x @ torch.tensor([[1.0], [-2.0], [0.5]]))


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def forward(self, batch):
        return self.lin(batch["x"])


def _mse(out, y, epoch):
    return ((out - y) ** 2).mean()


def _train(seed: int, max_epochs: int, **kw) -> tuple[_Linear, object]:
    with training_context(seed, torch.device("cpu")):
        module = _Linear()
        history = Trainer(max_epochs=max_epochs, batch_size=32, lr=0.05, seed=seed,
                          device="cpu", **kw).fit(module, _regression_data(), None, _mse)
    return module, history


def test_every_sample_is_seen_exactly_once_per_epoch():
    seen: list[torch.Tensor] = []

    class Recorder(_Linear):
        def forward(self, batch):
            if self.training:
                seen.append(batch["index"].clone())
            return self.lin(batch["x"])

    data = _regression_data(n=100)
    data.inputs["index"] = torch.arange(100)
    Trainer(max_epochs=3, batch_size=32, patience=10, device="cpu").fit(
        Recorder(), data, None, _mse)
    assert len(seen) == 3 * 4  # 32 + 32 + 32 + 4 per epoch: the short batch is kept
    for epoch in range(3):
        idx = torch.cat(seen[4 * epoch: 4 * epoch + 4])
        assert torch.equal(torch.sort(idx).values, torch.arange(100))
    assert not torch.equal(torch.cat(seen[:4]), torch.cat(seen[4:8]))  # reshuffled


def test_early_stopping_restores_the_best_epoch():
    valid_curve = [3.0, 2.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    module, history = None, None
    with training_context(0, torch.device("cpu")):
        module = _Linear()
        history = Trainer(max_epochs=8, batch_size=32, lr=0.05, patience=3, device="cpu").fit(
            module, _regression_data(), _regression_data(seed=1), _mse,
            valid_loss_fn=lambda out, y, epoch: torch.tensor(valid_curve[epoch]))
    assert history.best_epoch == 2 and history.best_loss == 1.0
    assert len(history.train_loss) == 6  # epochs 3, 4, 5 did not improve: stop after 5
    # The kept weights are exactly those after epoch 2 of the same seeded run.
    reference, _ = _train(0, max_epochs=3, patience=10)
    for a, b in zip(module.state_dict().values(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_same_seed_gives_identical_weights_and_another_seed_does_not():
    a, _ = _train(7, max_epochs=3)
    b, _ = _train(7, max_epochs=3)
    c, _ = _train(8, max_epochs=3)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.lin.weight, c.lin.weight)


def test_training_does_not_disturb_the_callers_random_stream_or_threads():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    _train(0, max_epochs=2, patience=10)
    with training_context(0, torch.device("cpu"), n_threads=1):
        assert torch.get_num_threads() == 1
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_learning_rate_drops_on_plateau_and_training_converges():
    _, history = _train(0, max_epochs=60, patience=6)
    assert history.train_loss[-1] < 1e-3 * history.train_loss[0]
    constant = _train(0, max_epochs=30, patience=30, lr_patience=0, min_delta=1e9)[1]
    assert constant.lr[-1] < constant.lr[0]


def test_non_finite_loss_raises_a_clear_error():
    from ltvkit.errors import ModelError

    with pytest.raises(ModelError, match="lower lr"):
        Trainer(max_epochs=2, device="cpu").fit(
            _Linear(), _regression_data(), None, lambda out, y, e: out.sum() * math.inf)


def test_gradient_clipping_bounds_the_gradient_norm_of_every_step():
    norms: list[float] = []

    class SpyTrainer(Trainer):
        def _optimizer(self, params, device):
            optimizer = super()._optimizer(params, device)
            step = optimizer.step

            def spying_step(*args, **kwargs):
                norms.append(float(torch.sqrt(sum((p.grad ** 2).sum() for p in params))))
                return step(*args, **kwargs)

            optimizer.step = spying_step
            return optimizer

    data = _regression_data()
    data.targets = data.targets * 1e6  # huge gradients
    SpyTrainer(max_epochs=1, batch_size=32, grad_clip=1e-3, device="cpu").fit(
        _Linear(), data, None, _mse)
    assert len(norms) == 8 and max(norms) <= 1e-3 * (1 + 1e-4)


def test_step_schedule_multiplies_the_weight_after_the_given_epoch():
    schedule = StepSchedule(10.0, after_epoch=20)
    assert [schedule(e) for e in (0, 19, 20, 50)] == [10.0, 10.0, pytest.approx(0.1),
                                                      pytest.approx(0.1)]


def test_mlp_and_progress_bar_run_end_to_end():
    mlp = MLP(3, (4,), out_dim=1)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = mlp

        def forward(self, batch):
            return self.mlp(batch["x"])

    history = Trainer(max_epochs=2, device="cpu", progress=True).fit(
        Wrap(), _regression_data(), None, _mse)
    assert len(history.train_loss) == 2 and history.monitor == "train"


def test_predict_is_in_eval_mode_on_the_device_even_when_a_submodule_was_set_to_train():
    # Trainer.predict skips .eval() and .to() when nothing needs them (a one-customer request
    # would pay more for them than for its forward pass): a submodule left in training mode
    # must still be switched, so dropout does not change the predictions.
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.5), nn.Linear(16, 1))

        def forward(self, batch):
            return self.body(batch["x"])

    torch.manual_seed(0)
    net, x = Net(), {"x": torch.randn(64, 3)}
    trainer = Trainer(device="cpu")
    first = trainer.predict(net, x)
    assert not any(m.training for m in net.modules())
    net.body[1].train()  # the root stays in eval mode
    again = trainer.predict(net, x)
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert not net.body[1].training
    net.double()  # parameters of another dtype are left as they are (only the device matters)
    assert trainer.predict(net, {"x": x["x"].double()}).dtype == torch.float64
