"""MDAN: Multi-Distribution Adaptive Networks (Liu, Xu, Ye, Luo, He, Yin; Tencent; PAKDD 2024).

Liu et al. [1]_. **Low confidence**: no code and no full text were available; what is known
comes from the abstract and from MEAN's description [2]_: a multi-channel network
whose channels each learn a part of the LTV distribution, a Channel Learning Controller (CLC)
that weights the channels (soft, weighted fusion of channel embeddings), and a Distance
Similarity Loss that makes hidden-representation distances mirror LTV distances (RankSim-like).
Everything below that is more specific than that is our interpretation [interp], chosen to be
simple and testable. Shapes: ``b`` samples, ``C`` channels, ``d`` channel width.

Network::

    x = [features, embeddings(categorical)] -> shared MLP -> s            [b, d_s]
    channels   c_k = MLP_k(s), k = 1..C                                   [b, C, d]
    CLC        w = softmax(MLP_w(s))                                      [b, C], rows sum to 1
    fusion     h = sum_k w_k c_k                                          [b, d]
    output     y_hat = head(h)                                            [b, 1]

Losses (labels divided by the mean positive training label by the base class)::

    L = L_reg(y_hat, y) + controller_weight * CE(z, w) + similarity_weight * L_dsl(h, t(y))

- ``L_reg``: ``loss`` = ``"mse"`` (default), ``"huber"``, ``"log1p_mse"`` or ``"mae"``.
- Channel learning: channel ``k`` is assigned value range ``k`` (range 0 = zero spend, then
  ``C - 1`` equal-count ranges of the positive training labels, cut at their quantiles, as
  MEAN's ranges: :func:`~ltvkit.targets.value_range_edges`). ``CE(z, w)`` trains the CLC to
  put its weight on the channel of a customer's range. Since ``h = sum_k w_k c_k``, the
  gradient that reaches channel ``k`` is scaled by ``w_k``: the controller decides how strongly
  each channel learns from each customer, and each channel specialises in its part of the
  distribution. ``controller_weight=0`` leaves the controller unsupervised (a plain soft
  mixture of channels). ``bucket_probs`` of a prediction is ``w``.
- Distance Similarity Loss, on the pairs ``i < j`` of (at most ``similarity_max_samples`` rows
  of) a batch: ``D_h[i, j] = ||h_i - h_j||_2``, ``D_y[i, j] = |t(y_i) - t(y_j)|`` with
  ``t = log1p`` (``similarity_target="log1p"``, default: whales do not dominate every distance)
  or the identity (``"linear"``)::

      L_dsl = mean_{i<j} ( D_h[i,j] / mean(D_h) - D_y[i,j] / mean(D_y) )^2

  Each distance matrix is divided by its mean, so the loss is invariant to the scale of
  ``h`` and is 0 exactly when representation distances are proportional to label distances
  (``D_h = c D_y`` for some ``c > 0``). A batch whose labels are all equal gives 0 (nothing to
  mirror). MEAN reports MDAN to be sensitive to the label scaling inside this loss; the choice
  of ``t`` is that knob here. ``use_similarity=False`` (or ``similarity_weight=0``) removes it.

Default budget: ``max_epochs=40``, ``patience=5``. Early stopping monitors ``L_reg`` alone on
the validation set. ``n_threads`` defaults to 1, as in :mod:`.mean`: the network's matrices are
small, so a second torch thread adds synchronisation cost rather than speed, most of all on a
machine whose cores are busy with other work.

References
----------
.. [1] Liu, W., Xu, G., Ye, B., Luo, X., He, Y., Yin, C. (2024). "MDAN: Multi-distribution
   Adaptive Networks for LTV Prediction." Pacific-Asia Conference on Knowledge Discovery
   and Data Mining (PAKDD 2024), Springer, 409-420.
.. [2] Liu, K., Zhou, Y., Liu, B., Su, H., Chen, S. (2025). "MEAN: Multi-Expert Adaptive
   Network for Customer Lifetime Value Prediction." ECML PKDD 2025,
   doi:10.1007/978-3-032-05981-9_18.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.mean import ValueRangeModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import HEAD_KINDS, head_loss, head_prediction, make_head
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts
from ltvkit.targets import bucket_index

SIMILARITY_TARGETS = ("log1p", "linear")
_EPS = 1e-8


def distance_similarity_loss(hidden: Tensor, target: Tensor) -> Tensor:
    """``mean_{i<j} (D_h / mean D_h - D_y / mean D_y)^2`` for ``hidden [b, d]``, ``target [b]``.

    ``D_h`` are Euclidean distances between rows of ``hidden``, ``D_y`` absolute differences of
    ``target``. 0 when ``D_h`` is proportional to ``D_y``, and for batches of fewer than two
    samples or with a constant target.
    """
    b = hidden.shape[0]
    if b < 2:
        return hidden.sum() * 0.0
    i, j = torch.triu_indices(b, b, offset=1, device=hidden.device)
    # Exact pairwise differences (no |a|^2 + |b|^2 - 2ab cancellation); the floor keeps the
    # gradient of sqrt finite for identical rows.
    d_h = ((hidden[i] - hidden[j]) ** 2).sum(dim=1).clamp_min(_EPS ** 2).sqrt()
    d_y = (target[i] - target[j]).abs()
    mean_y = d_y.mean()
    loss = ((d_h / d_h.mean().clamp_min(_EPS) - d_y / mean_y.clamp_min(_EPS)) ** 2).mean()
    return loss * (mean_y > _EPS)  # a constant target: nothing to mirror (no host sync)


@dataclass(eq=False)  # fields are tensors
class MDANOutput:
    """``value`` (the head's output ``[b, H]``), ``controller_logits [b, C]`` (CLC before the
    softmax) and ``hidden [b, d]`` (the fused embedding ``h``)."""

    value: Tensor
    controller_logits: Tensor
    hidden: Tensor

    @property
    def channel_weights(self) -> Tensor:
        """``w = softmax(controller_logits)`` ``[b, C]``."""
        return F.softmax(self.controller_logits, dim=-1)


class MDANNet(nn.Module):
    """``inputs -> shared MLP -> C channel towers``, fused by the CLC weights, ``-> head``."""

    def __init__(self, spec: ModuleSpec, bucket_edges: np.ndarray, n_channels: int,
                 shared_hidden: Sequence[int], channel_hidden: Sequence[int],
                 controller_hidden: Sequence[int], loss: str, dropout: float = 0.0):
        super().__init__()
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.shared = MLP(self.tabular.out_dim, shared_hidden, dropout=dropout)
        self.channels = nn.ModuleList(MLP(self.shared.out_dim, channel_hidden, dropout=dropout)
                                      for _ in range(n_channels))
        self.controller = MLP(self.shared.out_dim, controller_hidden, out_dim=n_channels)
        self.head = make_head(loss, self.channels[0].out_dim, spec)
        self.register_buffer("bucket_edges", torch.as_tensor(
            np.asarray(bucket_edges, dtype=np.float32).reshape(spec.n_horizons, -1)))

    def forward(self, batch: dict[str, Tensor]) -> MDANOutput:
        s = self.shared(self.tabular(batch["features"], batch["categorical"]))
        channels = torch.stack([c(s) for c in self.channels], dim=1)          # [b, C, d]
        logits = self.controller(s)                                          # [b, C]
        hidden = torch.bmm(F.softmax(logits, dim=-1).unsqueeze(1), channels).squeeze(1)
        return MDANOutput(self.head(hidden), logits, hidden)


@register
class MDAN(ValueRangeModel):
    """MDAN (PAKDD 2024) as interpreted in the module docstring (low confidence).

    Parameters
    ----------
    n_channels : channels ``C`` = value ranges (zero + ``C - 1`` positive quantile ranges).
    shared_hidden, channel_hidden, controller_hidden : widths of the shared MLP, of each channel
        tower and of the controller's hidden layers.
    loss : regression loss of the fused prediction, one of ``mse``, ``huber``, ``log1p_mse``,
        ``mae``.
    controller_weight : weight of ``CE(z, w)`` (0: unsupervised controller).
    use_similarity, similarity_weight : the Distance Similarity Loss on / off and its weight.
    similarity_target : ``"log1p"`` or ``"linear"`` label transform inside that loss.
    similarity_max_samples : the loss uses the first this-many rows of each (shuffled) batch,
        so its ``O(b^2)`` pairs stay cheap.
    """

    name = "mdan"
    tags = {"torch": True, "uses_attributes": True}

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 40, "patience": 5, "n_threads": 1}

    def __init__(self, n_channels: int = 4, shared_hidden: Sequence[int] = (128, 64),
                       channel_hidden: Sequence[int] = (64, 32),
                       controller_hidden: Sequence[int] = (32,), loss: str = "mse",
                       controller_weight: float = 1.0, use_similarity: bool = True,
                       similarity_weight: float = 1.0, similarity_target: str = "log1p",
                       similarity_max_samples: int = 256, dropout: float = 0.0, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        base = {"shared_hidden": (16,), "channel_hidden": (8,), "controller_hidden": (),
                "max_epochs": 3, "batch_size": 128, "lr": 1e-2, "n_threads": 1}
        return [base, {**base, "use_similarity": False, "loss": "log1p_mse"}]

    @property
    def _n_ranges(self) -> int:
        return int(self.n_channels)

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        if int(self.n_channels) < 2:
            raise ModelError(f"{self.name}: n_channels must be >= 2, got {self.n_channels}")
        if self.loss not in HEAD_KINDS or self.loss == "ziln":
            raise ModelError(f"{self.name}: loss must be one of mse, huber, log1p_mse, mae; "
                             f"got {self.loss!r}")
        if self.similarity_target not in SIMILARITY_TARGETS:
            raise ModelError(f"{self.name}: similarity_target must be one of "
                             f"{SIMILARITY_TARGETS}, got {self.similarity_target!r}")
        super()._fit(train, valid)

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return MDANNet(spec, self.bucket_edges_, int(self.n_channels), self.shared_hidden,
                       self.channel_hidden, self.controller_hidden, self.loss,
                       float(self.dropout))

    def loss_components(self, outputs: MDANOutput, y: Tensor) -> dict[str, Tensor]:
        """Terms of ``L`` on scaled labels ``y [b, 1]``: ``"regression"`` always,
        ``"controller"`` when ``controller_weight > 0``, ``"similarity"`` when the Distance
        Similarity Loss is on (each already multiplied by its weight)."""
        out = {"regression": head_loss(self.loss, outputs.value, y)}
        if float(self.controller_weight) > 0:
            z = bucket_index(y, self.network.bucket_edges)[:, 0]
            out["controller"] = float(self.controller_weight) * F.cross_entropy(
                outputs.controller_logits, z)
        if self.use_similarity and float(self.similarity_weight) > 0:
            k = max(2, int(self.similarity_max_samples))
            target = y[:k, 0]
            target = torch.log1p(target) if self.similarity_target == "log1p" else target
            out["similarity"] = float(self.similarity_weight) * distance_similarity_loss(
                outputs.hidden[:k], target)
        return out

    def _loss(self, outputs: MDANOutput, y: Tensor, epoch: int) -> Tensor:
        return sum(self.loss_components(outputs, y).values())

    def _valid_loss(self, outputs: MDANOutput, y: Tensor, epoch: int) -> Tensor:
        return head_loss(self.loss, outputs.value, y)

    def _predict_parts(self, outputs: MDANOutput) -> PredictionParts:
        parts = head_prediction(self.loss, outputs.value)
        parts.bucket_probs = outputs.channel_weights
        return parts

    def channel_weights(self, data: LTVDataset) -> np.ndarray:
        """The controller's weights ``w`` of every sample: ``[n_samples, C]``, rows sum to 1."""
        outputs: MDANOutput = self.network_outputs(data)
        return outputs.channel_weights.detach().cpu().numpy().astype(np.float64)
