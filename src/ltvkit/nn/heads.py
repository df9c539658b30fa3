"""Output heads by loss kind: the head module, its training loss and its prediction rule.

``make_head(kind, ...)`` builds a head whose biases start at the label statistics of a
:class:`~ltvkit.nn.spec.ModuleSpec`; ``head_loss`` and ``head_prediction`` are the matching
loss and prediction rule (in scaled label units), so a model that picks a loss by name gets
all three consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ltvkit.errors import ModelError
from ltvkit.nn.losses import (
    RegressionHead,
    ZILNHead,
    huber_loss,
    log1p_mse_loss,
    mae_loss,
    mse_loss,
    ziln_loss,
    ziln_prediction,
)
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import QUANTILE_LEVELS, PredictionParts

HEAD_KINDS = ("ziln", "mse", "log1p_mse", "huber", "mae")


def make_head(kind: str, in_dim: int, spec: ModuleSpec, tower_hidden: Sequence[int] = (),
              monotone: bool = False) -> nn.Module:
    """The output head of a loss ``kind`` for ``spec.n_horizons``, biases set from the labels.

    ``"ziln"`` -> :class:`ZILNHead` (outputs :class:`ZILNParams`); the others ->
    :class:`RegressionHead` (outputs ``[b, H]``; ``"log1p_mse"`` predicts ``log1p(y)``).
    """
    if kind not in HEAD_KINDS:
        raise ModelError(f"unknown loss '{kind}'; choose one of {', '.join(HEAD_KINDS)}")
    stats = spec.label_stats
    if kind == "ziln":
        empty = [h for h, rate in enumerate(stats["positive_rate"]) if rate <= 0]
        if empty:
            # Without one positive label mu and sigma get no gradient at all: refuse, clearly.
            raise ModelError(f"a ZILN head needs positive labels to fit the spend distribution, "
                             f"but every training label of horizon(s) {empty} is 0")
        head = ZILNHead(in_dim, spec.n_horizons, tower_hidden, monotone)
        head.init_bias(stats["positive_rate"], stats["log_mean"], stats["log_std"])
        return head
    head = RegressionHead(in_dim, spec.n_horizons, tower_hidden, monotone)
    head.init_bias(stats["log1p_mean"] if kind == "log1p_mse" else stats["mean"])
    return head


def head_loss(kind: str, outputs: Any, y: Tensor) -> Tensor:
    """The training loss of a head ``kind`` on scaled labels ``y [b, H]``."""
    if kind == "ziln":
        return ziln_loss(outputs, y)
    if kind == "log1p_mse":
        return log1p_mse_loss(outputs, y)
    return {"mse": mse_loss, "huber": huber_loss, "mae": mae_loss}[kind](outputs, y)


def head_prediction(kind: str, outputs: Any) -> PredictionParts:
    """The prediction rule of a head ``kind`` (scaled label units).

    ZILN: ``E[Y] = p exp(mu + s^2/2)``, ``p_active = p`` and the 0.1 / 0.5 / 0.9 quantiles;
    ``log1p_mse``: ``expm1`` of the prediction; the others: the output itself.
    """
    if kind == "ziln":
        # float64: exp(mu + s^2/2) of an extreme sample must not overflow float32's 3e38.
        value, p, quantiles = ziln_prediction(outputs, QUANTILE_LEVELS)
        return PredictionParts(value=value, p_active=p, quantiles=quantiles)
    if kind == "log1p_mse":
        return PredictionParts(value=torch.expm1(outputs).clamp_min(0.0))
    return PredictionParts(value=outputs)
