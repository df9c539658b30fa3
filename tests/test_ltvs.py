"""LtvS (paper 000 §4.2): the Expert Mask Network, its in-batch labels and losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ltvkit.models.ltvs import (
    ExpertMaskNetwork,
    LtvS,
    expert_classification_loss,
    expert_ordinal_loss,
)
from ltvkit.nn.losses import mae_loss
from ltvkit.targets import rank_groups


def _outputs(b: int = 16, k: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"value": torch.rand(b, 1, generator=g),
            "expert_logits": torch.randn(b, k, generator=g),
            "ordinal_logits": torch.randn(b, k, generator=g)}


def test_mask_is_one_block_of_h_over_k_ones_at_the_router_argmax():
    torch.manual_seed(0)
    h, k, b = 12, 4, 64
    exmn = ExpertMaskNetwork(h, k, router_hidden=6)
    fused = torch.relu(torch.randn(b, h))
    out = exmn(fused)
    mask = out["mask"]
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    blocks = mask.view(b, k, h // k)
    # Each block is all ones or all zeros, and exactly one block is on.
    assert torch.all((blocks.sum(dim=2) == 0) | (blocks.sum(dim=2) == h // k))
    assert torch.all(mask.sum(dim=1) == h // k)
    on = blocks.sum(dim=2).argmax(dim=1)
    assert torch.equal(on, out["expert_logits"].argmax(dim=1))
    assert torch.equal(on, out["expert"])
    assert torch.equal(out["representation"], mask * fused)
    assert len(torch.unique(on)) > 1  # the test exercises more than one expert


def test_hidden_not_divisible_by_experts_is_a_clear_error():
    with pytest.raises(Exception, match="multiple of n_experts"):
        ExpertMaskNetwork(10, 4, router_hidden=4)


def test_in_batch_expert_labels_are_equal_count_value_groups():
    values = torch.randperm(256).float() * 1.7 + 0.3
    labels = rank_groups(values, 4)
    assert torch.bincount(labels, minlength=4).tolist() == [64, 64, 64, 64]
    for j in range(3):  # groups are ordered by value
        assert values[labels == j].max() < values[labels == j + 1].min()
    # Batch not divisible by k: counts differ by at most one.
    counts = torch.bincount(rank_groups(torch.randn(10), 4), minlength=4)
    assert counts.sum() == 10 and counts.max() - counts.min() <= 1


def test_tied_labels_share_the_group_of_their_lowest_rank():
    values = torch.tensor([0.0, 3.0, 0.0, 0.0, 1.0, 0.0, 2.0, 0.0])
    # rank = number of smaller values: zeros 0, 1 -> 5, 2 -> 6, 3 -> 7; group = 4 * rank // 8
    assert rank_groups(values, 4).tolist() == [0, 3, 0, 0, 2, 0, 3, 0]
    assert rank_groups(torch.tensor([5.0]), 4).tolist() == [0]


def test_ordinal_loss_is_the_bce_of_group_greater_than_j_by_hand():
    # k = 3, group m = 1: targets 1[m > j] = (1, 0, 0); p = sigmoid(z) = (1/2, 3/4, 1/4)
    logits = torch.tensor([[0.0, math.log(3.0), -math.log(3.0)]])
    loss = expert_ordinal_loss(logits, torch.tensor([1]))
    expected = (math.log(2.0) + math.log(4.0) + math.log(4.0 / 3.0)) / 3  # mean over b * k
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_classification_loss_is_cross_entropy_over_k_by_hand():
    loss = expert_classification_loss(torch.zeros(1, 3), torch.tensor([1]))
    assert loss.item() == pytest.approx(math.log(3.0) / 3, rel=1e-6)  # eq. 7's 1 / k


def test_lambda_schedule_drops_to_a_hundredth_after_epoch_20():
    model = LtvS()
    loss = model.exmn_loss
    assert (loss.lambda_ec(0), loss.lambda_ec(19), loss.lambda_ec(20)) == (10.0, 10.0, 0.1)
    assert (loss.lambda_eo(19), loss.lambda_eo(40)) == (20.0, pytest.approx(0.2))
    out, y = _outputs(), torch.rand(16, 1)
    early, late = model._auxiliary_loss(out, y, 3), model._auxiliary_loss(out, y, 21)
    assert late.item() == pytest.approx(0.01 * early.item(), rel=1e-5)
    labels = rank_groups(y[:, 0], 4)
    expected = (10 * expert_classification_loss(out["expert_logits"], labels)
                + 20 * expert_ordinal_loss(out["ordinal_logits"], labels))
    assert early.item() == pytest.approx(expected.item(), rel=1e-6)


def test_ablation_without_exmn_losses_has_zero_auxiliary_loss():
    out, y = _outputs(), torch.rand(16, 1)
    model = LtvS(exmn_losses=False)
    assert model._auxiliary_loss(out, y, 0).item() == 0.0
    assert model._loss(out, y, 0).item() == pytest.approx(mae_loss(out["value"], y).item())
    assert LtvS()._loss(out, y, 0).item() > model._loss(out, y, 0).item()


def test_fit_embeds_and_early_stopping_watches_the_mae(cdnow_slices):
    train, valid, test = cdnow_slices
    params = {**LtvS.test_params()[0], "max_epochs": 2}
    model = LtvS(**params).fit(train, valid)
    emb = model.embed(test)
    fused = model.embed(test, masked=False)
    assert emb.shape == fused.shape == (len(test), params["hidden"])
    assert np.all(fused >= 0)
    block = params["hidden"] // params["n_experts"]
    # e = mask * ê: exactly the fused entries of the chosen expert's block survive.
    expert = model.predict(test).extras["expert"].astype(int)
    keep = np.zeros_like(fused, dtype=bool)
    for i, j in enumerate(expert):
        keep[i, j * block:(j + 1) * block] = True
    np.testing.assert_allclose(emb, np.where(keep, fused, 0.0))
    # The monitored validation loss is the MAE in label-scaler units (no ExMN terms).
    history = model.history_["main"]
    pred = model.predict(valid).value[:, 0]
    mae = np.mean(np.abs(pred - valid.labels[:, 0])) / model.label_scaler_.scale
    assert history.best_loss == pytest.approx(mae, rel=1e-4)
