"""DASL: dual attentive sequential learning, adapted to cross-domain LTV as CDLtvS did.

Li, Jiang, Que, Hu, Tuzhilin [1]_. DASL has two parts: *dual
embedding* (user embeddings of both domains learned jointly, each enriched with the other
through a latent orthogonal mapping, the dual-transfer device of the same authors' DDTCDR [2]_)
and *dual attention* (each domain's sequence embedding is matched using the other
domain's embedding). It predicts both domains' CTR at once. The CDLtvS paper [3]_ (section 5.2)
ran it as a baseline "using the same encoding methods of sequence features and portrait features
as our model" and a regression head; the paper gives no more detail, so the mapping below is ours
[interp]:

- *encoders*: per domain ``d`` a :class:`~ltvkit.nn.cross_domain.DomainEncoder` (DeepFM over the
  domain's static features + shared attributes, TCN over its periods):
  ``e_d [b, h]`` and period states ``H_d [b, T, c]``.
- *dual embedding*: an orthogonal ``X [h, h]`` (penalty ``||X^T X - I||_F^2``) maps source to
  target space and ``X^T`` back:
  ``u_t = alpha e_t + (1 - alpha) X e_s``, ``u_s = alpha e_s + (1 - alpha) X^T e_t``.
- *dual attention*: the source periods are read with the target embedding as the query and the
  target periods with the source embedding:
  ``w_s = softmax_j((W_q^s u_t) . (W_k^s H_s,j) / sqrt(a))``, ``a_s = sum_j w_s,j W_v^s H_s,j``
  (and symmetrically ``a_t`` from ``u_s`` over ``H_t``).
- *fusion and heads*: ``z = MLP([u_s, u_t, a_s, a_t])``; the target head regresses the target
  LTV and, as DASL predicts both domains, a source head regresses the source LTV from the same
  ``z``: ``L = MAE_t + source_weight MAE_s + orthogonality_weight ||X^T X - I||^2``. Early
  stopping watches the target MAE alone. All customers (sparse or not) train every term; a
  sparse customer's target embedding sees only its attributes and an empty target series.

References
----------
.. [1] Li, P., Jiang, Z., Que, M., Hu, Y., Tuzhilin, A. (2021). "Dual Attentive Sequential
   Learning for Cross-Domain Click-Through Rate Prediction." KDD 2021.
.. [2] Li, P., Tuzhilin, A. (2020). "DDTCDR: Deep Dual Transfer Cross Domain
   Recommendation." WSDM 2020.
.. [3] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base.cross_domain import CrossDomainTorchModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP
from ltvkit.nn.cross_domain import DomainEncoder, pointwise_loss, with_source_labels
from ltvkit.nn.heads import make_head
from ltvkit.nn.spec import ModuleSpec


class CrossAttention(nn.Module):
    """Scaled dot-product attention of one query vector over a sequence of states.

    ``query [b, q]``, ``states [b, T, c]`` -> ``(summary [b, a], weights [b, T])``, each row of
    ``weights`` a distribution over the periods.
    """

    def __init__(self, query_dim: int, state_dim: int, att_dim: int):
        super().__init__()
        self.query = nn.Linear(query_dim, att_dim)
        self.key = nn.Linear(state_dim, att_dim)
        self.value = nn.Linear(state_dim, att_dim)
        self.scale = 1.0 / math.sqrt(att_dim)

    def forward(self, query: Tensor, states: Tensor) -> tuple[Tensor, Tensor]:
        scores = torch.bmm(self.key(states), self.query(query).unsqueeze(-1)).squeeze(-1)
        weights = torch.softmax(scores * self.scale, dim=1)
        return torch.bmm(weights.unsqueeze(1), self.value(states)).squeeze(1), weights


class DASLNet(nn.Module):
    """Dual embedding + dual attention + fusion MLP + target and source heads.

    ``forward`` returns ``{"value" [b, H]`` (target), ``"source_value"`` [b, H],
    ``"orthogonality"`` [b] (the penalty, repeated per sample), ``"attention_source"`` / ``"attention_target"``
    [b, T] and, while fitting, ``"source_labels"``}.
    """

    def __init__(self, source: DomainEncoder, target: DomainEncoder, spec: ModuleSpec,
                 kind: str, source_head: nn.Module, alpha: float, att_dim: int,
                 fusion_hidden: Sequence[int], dropout: float):
        super().__init__()
        h = source.out_dim
        self.source = source
        self.target = target
        self.mapping = nn.Parameter(torch.empty(h, h))  # X: source -> target latent space
        nn.init.orthogonal_(self.mapping)
        self.alpha = float(alpha)
        self.attend_source = CrossAttention(h, source.state_dim, att_dim)
        self.attend_target = CrossAttention(h, target.state_dim, att_dim)
        self.fusion = MLP(2 * h + 2 * att_dim, fusion_hidden, dropout=dropout)
        self.head = make_head(kind, self.fusion.out_dim, spec)
        self.source_head = source_head
        self.register_buffer("eye", torch.eye(h), persistent=False)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        e_s, states_s = self.source(batch)
        e_t, states_t = self.target(batch)
        x = self.mapping
        u_t = self.alpha * e_t + (1.0 - self.alpha) * e_s @ x.T     # X e_s
        u_s = self.alpha * e_s + (1.0 - self.alpha) * e_t @ x       # X^T e_t
        a_s, w_s = self.attend_source(u_t, states_s)
        a_t, w_t = self.attend_target(u_s, states_t)
        z = self.fusion(torch.cat([u_s, u_t, a_s, a_t], dim=1))
        return with_source_labels(
            {"value": self.head(z), "source_value": self.source_head(z),
             # per sample, so batched outputs concatenate like every other output
             "orthogonality": ((x.T @ x - self.eye) ** 2).sum().expand(e_s.shape[0]),
             "attention_source": w_s, "attention_target": w_t}, batch)


@register
class DASL(CrossDomainTorchModel):
    """DASL (Li et al. 2021) adapted to LTV; see the module docstring.

    One training stage on ``MAE_t + source_weight MAE_s + orthogonality_weight ||X^T X - I||^2``
    (``alpha=0.5`` weighs a domain's own embedding against the transferred one); the CDLtvS
    paper's optimiser settings (Adam 1e-3, batch 256, patience 7). Encoder widths are smaller
    than that paper's (h=128) so that a fit stays cheap on a CPU: ``hidden=64``.
    """

    name = "dasl"

    def __init__(self, hidden: int = 64, att_dim: int = 32, fusion_hidden: Sequence[int] = (64,),
                       alpha: float = 0.5, source_weight: float = 1.0,
                       orthogonality_weight: float = 1.0, fm_dim: int = 8,
                       fm_hidden: Sequence[int] = (64, 32), tcn_channels: Sequence[int] = (32, 32),
                       kernel_size: int = 3, dropout: float = 0.0, loss: str = "mae",
                       **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": 8, "att_dim": 4, "fusion_hidden": (8,), "fm_dim": 4,
                 "fm_hidden": (8,), "tcn_channels": (8,), "max_epochs": 3, "batch_size": 128,
                 "lr": 1e-2, "n_threads": 1}]

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ModelError(f"dasl: alpha must be in [0, 1], got {self.alpha}")
        fusion_out = int(self.fusion_hidden[-1]) if len(self.fusion_hidden) else (
            2 * self.hidden + 2 * self.att_dim)
        return DASLNet(self._encoder(self.layout_.source, spec),
                       self._encoder(self.layout_.target, spec), spec, self.loss,
                       self._source_head(fusion_out, spec), self.alpha, self.att_dim,
                       self.fusion_hidden, self.dropout)

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        loss = self._prediction_loss(outputs, y, epoch)
        if self.source_weight:
            loss = loss + self.source_weight * pointwise_loss(
                self.loss, outputs["source_value"], outputs["source_labels"]).mean()
        return loss + self.orthogonality_weight * outputs["orthogonality"].mean()

    def _valid_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return self._prediction_loss(outputs, y, epoch)

    def dual_attention(self, data: LTVDataset) -> tuple[np.ndarray, np.ndarray]:
        """Attention weights ``(over source periods, over target periods)``, each [n, T]."""
        out = self.network_outputs(data)
        return (out["attention_source"].astype(np.float64),
                out["attention_target"].astype(np.float64))
