"""The PyTorch blocks the cross-domain models share.

- :class:`DomainEncoder`: one domain's customer encoder (DeepFM portrait + TCN series);
- :class:`TowerNet`: a source and a target tower (encoder, linear latent layer, value head);
- :func:`with_source_labels`: pass the training-only source labels through to the losses;
- :func:`pointwise_loss` and :func:`masked_mean`: the point losses and their masked means.

The encoder is LtvS's [1]_ without the expert mask; its period states are what PTUPCDR [2]_ and
DASL [3]_ attend over. The model classes built on these blocks (``DomainLayout``,
``cold_customers``, ``CrossDomainTorchModel``, the two-tower base) live in
:mod:`ltvkit.models.base.cross_domain`; this module imports nothing from :mod:`ltvkit.models`.

References
----------
.. [1] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [2] Zhu, Y., Tang, Z., Liu, Y., Zhuang, F., Xie, R., Zhang, X., Lin, L., He, Q. (2022).
   "Personalized Transfer of User Preferences for Cross-domain Recommendation." WSDM 2022.
.. [3] Li, P., Jiang, Z., Que, M., Hu, Y., Tuzhilin, A. (2021). "Dual Attentive Sequential
   Learning for Cross-Domain Click-Through Rate Prediction." KDD 2021.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.nn.blocks import TCN, DeepFM

POINT_LOSSES = ("mae", "mse", "huber", "log1p_mse")


# --------------------------------------------------------------------------------- blocks
class DomainEncoder(nn.Module):
    """One domain's customer encoder: LtvS's encoder without the expert mask (CDLtvS paper, eq. 1).

    ``e^p = DeepFM(features[:, feature_idx], categorical)`` (the portrait),
    ``H = TCN(sequences[:, :, channel_idx])`` (states of every period [b, T, c]),
    ``e = ReLU(FFN_f([e^p, H_T]))`` [b, hidden]. ``forward`` returns ``(e, H)``: the TCN states
    are the "items" PTUPCDR attends over and the sequence embeddings DASL's attention reads.
    """

    def __init__(self, feature_idx: Sequence[int], channel_idx: Sequence[int],
                 vocab_sizes: Sequence[int], hidden: int, fm_dim: int,
                 fm_hidden: Sequence[int], tcn_channels: Sequence[int], kernel_size: int,
                 dropout: float):
        super().__init__()
        self.register_buffer("feature_idx", torch.tensor(list(feature_idx), dtype=torch.long),
                             persistent=False)
        self.register_buffer("channel_idx", torch.tensor(list(channel_idx), dtype=torch.long),
                             persistent=False)
        self.portrait = DeepFM(len(feature_idx), vocab_sizes, fm_dim, fm_hidden, dropout)
        self.series = TCN(len(channel_idx), tcn_channels, kernel_size, dropout)
        self.fuse = nn.Sequential(nn.Linear(self.portrait.out_dim + self.series.out_dim,
                                            int(hidden)), nn.ReLU())
        self.out_dim = int(hidden)
        self.state_dim = self.series.out_dim

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        x = batch["features"].index_select(1, self.feature_idx)
        seq = batch["sequences"].index_select(2, self.channel_idx)
        states = self.series.net(seq.transpose(1, 2)).transpose(1, 2)        # [b, T, c]
        e = self.fuse(torch.cat([self.portrait(x, batch["categorical"]), states[:, -1]], dim=1))
        return e, states


class TowerNet(nn.Module):
    """A source and a target tower: encoder -> linear latent layer ``u_d [b, emb_dim]``, plus
    each domain's value head (``v_d . u_d + b_d``, the MF rating with one "item").

    Subclasses add their transfer module after calling ``__init__`` and write ``forward``.
    """

    def __init__(self, source: DomainEncoder, target: DomainEncoder, source_head: nn.Module,
                 target_head: nn.Module, emb_dim: int):
        super().__init__()
        self.source = source
        self.target = target
        self.source_latent = nn.Linear(source.out_dim, emb_dim)
        self.target_latent = nn.Linear(target.out_dim, emb_dim)
        self.source_head = source_head
        self.target_head = target_head

    def source_parameters(self) -> list[nn.Parameter]:
        return [*self.source.parameters(), *self.source_latent.parameters(),
                *self.source_head.parameters()]

    def target_parameters(self) -> list[nn.Parameter]:
        return [*self.target.parameters(), *self.target_latent.parameters(),
                *self.target_head.parameters()]


def with_source_labels(out: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """``out`` plus the batch's ``"source_labels"`` when it has them (while fitting only), so
    the source-side losses can read them from the outputs."""
    if "source_labels" in batch:
        out["source_labels"] = batch["source_labels"]
    return out


def pointwise_loss(kind: str, pred: Tensor, y: Tensor) -> Tensor:
    """Per-element loss ``[b, H]`` of a point head ``kind`` (see ``torch_model.head_loss``)."""
    if kind == "mae":
        return (pred - y).abs()
    if kind == "mse":
        return (pred - y) ** 2
    if kind == "huber":
        return F.huber_loss(pred, y, reduction="none", delta=1.0)
    if kind == "log1p_mse":
        return (pred - torch.log1p(y)) ** 2
    raise ValueError(f"unknown loss '{kind}'; choose one of {', '.join(POINT_LOSSES)}")


def masked_mean(values: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of ``values`` [b, ...] over the rows where ``mask`` [b] is true (0 if none is)."""
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
    per_row = values[0].numel() if values.dim() > 1 else 1
    return (values * m).sum() / (m.sum() * per_row).clamp_min(1.0)
