"""PTUPCDR: personalized transfer of user preferences, adapted to cross-domain LTV.

Zhu, Tang, Liu, Zhuang, Xie, Zhang, Lin, He [1]_, following the authors' official code [2]_
(its ``MetaNet`` / ``MFBasedModel`` classes and its staged training). In the paper's notation:

    characteristic embedding  p_u = sum_j softmax_j(w2^T ReLU(W1 e_j + b1)) e_j   (masked)
    personalised bridge       W_u = reshape(MLP_meta(p_u), d x d)                  (hidden meta_dim)
    transferred user vector   u_t = u_s W_u ;   y_hat = v_t . u_t + b_t

Adaptation to LTV (the CDLtvS paper [3]_ ran PTUPCDR as a baseline with its own DeepFM + TCN
encoders and MAE; it does not print the details, so the mapping below is ours):

- *users*: ``u_s [b, emb_dim]`` is a linear layer on the source-domain encoder (DeepFM over the
  source static features + shared attributes, TCN over the source periods; see
  :class:`~ltvkit.nn.cross_domain.DomainEncoder`), pre-trained like the source MF of ``train_src``:
  ``v_s . u_s + b_s`` regresses the source domain's future value (MAE), every customer.
- *items*: the customer's source periods. ``e_j`` is the pre-trained source TCN's state at period
  ``j`` (frozen, as the official meta stage reads the frozen source item embeddings); periods
  with no source activity are masked like the code's padding items (``- 1e8`` before the
  softmax).
- *target model* (``train_tgt``): a target encoder + ``u_t^own`` + the value head ``v_t, b_t``,
  MAE on the target labels of the non-sparse customers only.
- *meta stage* (``train_meta``): only the meta network (attention ``W1, w2`` and the decoder)
  is trained, through the frozen source user vector and the frozen target head, with MAE on
  the target labels. The official code trains it on the overlapping users' target ratings; here
  every training customer's target label is observed (the sparsity protocol hides history, not
  labels) and the bridge reads source data only, so it learns from all of them.
- *prediction*: ``bridge_for="cold"`` (default) gives cold customers (the dataset's ``sparse``
  flag, else no target history) the bridged prediction and the others the target model's, as the
  official code evaluates cold-start users with ``test_meta`` and warm ones with ``test_tgt``;
  ``bridge_for="all"`` routes every customer through the bridge.

References
----------
.. [1] Zhu, Y., Tang, Z., Liu, Y., Zhuang, F., Xie, R., Zhang, X., Lin, L., He, Q. (2022).
   "Personalized Transfer of User Preferences for Cross-domain Recommendation." WSDM 2022.
.. [2] Zhu, Y. et al. (2022). Official PyTorch implementation of PTUPCDR, GitHub repository
   easezyc/WSDM2022-PTUPCDR.
.. [3] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base.cross_domain import TowerTransferModel
from ltvkit.models.base.torch_model import TrainingStage
from ltvkit.models.registry import register
from ltvkit.nn.cross_domain import DomainEncoder, TowerNet, pointwise_loss, with_source_labels
from ltvkit.nn.spec import ModuleSpec

# The official MetaNet subtracts 1e8 from the scores of padding items.
_PADDING_PENALTY = 1e8


class MetaNet(nn.Module):
    """Characteristic encoder + bridge generator (``MetaNet`` of the official code).

    ``items [b, T, c]`` and ``active [b, T]`` bool -> ``(W_u [b, d, d], attention [b, T])``:
    ``event_K = Linear(c, c) -> ReLU -> Linear(c, 1, bias=False)``; masked softmax over periods;
    ``p_u = sum_j a_j e_j [b, c]``; ``decoder = Linear(c, meta_dim) -> ReLU -> Linear(meta_dim, d*d)``.
    """

    def __init__(self, item_dim: int, emb_dim: int, meta_dim: int):
        super().__init__()
        self.emb_dim = int(emb_dim)
        self.event_k = nn.Sequential(nn.Linear(item_dim, item_dim), nn.ReLU(),
                                     nn.Linear(item_dim, 1, bias=False))
        self.decoder = nn.Sequential(nn.Linear(item_dim, meta_dim), nn.ReLU(),
                                     nn.Linear(meta_dim, self.emb_dim * self.emb_dim))

    def forward(self, items: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.event_k(items).squeeze(-1) - (~active).to(items.dtype) * _PADDING_PENALTY
        attention = torch.softmax(scores, dim=1)                              # [b, T]
        characteristic = (attention.unsqueeze(-1) * items).sum(dim=1)         # p_u [b, c]
        bridge = self.decoder(characteristic).view(-1, self.emb_dim, self.emb_dim)
        return bridge, attention


class PTUPCDRNet(TowerNet):
    """Source / target encoders with latent vectors and heads, plus the meta network.

    ``forward`` returns ``{"value" [b, H]`` (the prediction rule), ``"source_value"``,
    ``"target_value"`` (target model), ``"bridged_value"`` (``v_t . u_s W_u + b_t``),
    ``"bridge"`` [b, d, d], ``"attention"`` [b, T], ``"cold"`` and, while fitting,
    ``"source_labels"``}.
    """

    def __init__(self, source: DomainEncoder, target: DomainEncoder, source_head: nn.Module,
                 target_head: nn.Module, emb_dim: int, meta_dim: int, bridge_all: bool,
                 source_activity: Tensor):
        super().__init__(source, target, source_head, target_head, emb_dim)
        self.meta = MetaNet(source.state_dim, emb_dim, meta_dim)
        self.bridge_all = bool(bridge_all)
        # Source channels that make a period "active" (raw sequences, before the encoder).
        self.register_buffer("source_channels", source_activity, persistent=False)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        e_s, items = self.source(batch)
        u_s = self.source_latent(e_s)
        u_own = self.target_latent(self.target(batch)[0])
        active = (batch["sequences"].index_select(2, self.source_channels) != 0).any(dim=2)
        # The meta stage reads the pre-trained source side frozen (official: only meta_net
        # is in the meta optimiser).
        bridge, attention = self.meta(items.detach(), active)
        u_bridged = torch.bmm(u_s.detach().unsqueeze(1), bridge).squeeze(1)
        bridged_value = self.target_head(u_bridged)
        target_value = self.target_head(u_own)
        cold = batch["cold"]
        value = bridged_value if self.bridge_all else torch.where(
            cold.unsqueeze(1), bridged_value, target_value)
        return with_source_labels(
            {"value": value, "source_value": self.source_head(u_s),
             "target_value": target_value, "bridged_value": bridged_value, "bridge": bridge,
             "attention": attention, "cold": cold}, batch)


@register
class PTUPCDR(TowerTransferModel):
    """PTUPCDR (Zhu et al. 2022) adapted to LTV; see the module docstring.

    Stages (each with early stopping on the validation set): ``source``, ``target``, ``meta``.
    Defaults from the official code: ``emb_dim=10``, ``meta_dim=50``; optimiser settings from
    the CDLtvS paper (Adam 1e-3, batch 256, patience 7; the official code's instructions use
    lr 0.01 and a fixed 10 epochs per stage). Encoder widths are smaller than the CDLtvS
    paper's (h=128) so that a fit stays cheap on a CPU: ``hidden=64``.
    """

    name = "ptupcdr"

    def __init__(self, emb_dim: int = 10, meta_dim: int = 50, bridge_for: str = "cold",
                       hidden: int = 64, fm_dim: int = 8, fm_hidden: Sequence[int] = (64, 32),
                       tcn_channels: Sequence[int] = (32, 32), kernel_size: int = 3,
                       dropout: float = 0.0, loss: str = "mae", **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"emb_dim": 4, "meta_dim": 8, "hidden": 8, "fm_dim": 4, "fm_hidden": (8,),
                 "tcn_channels": (8,), "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                 "n_threads": 1}]

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        if self.bridge_for not in ("cold", "all"):
            raise ModelError(f"ptupcdr: bridge_for must be 'cold' or 'all', got "
                             f"{self.bridge_for!r}")
        return PTUPCDRNet(*self._towers(spec), self.emb_dim, self.meta_dim,
                          self.bridge_for == "all",
                          torch.tensor(self.layout_.source_channels, dtype=torch.long))

    def _meta_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return pointwise_loss(self.loss, outputs["bridged_value"], y).mean()

    def _training_stages(self) -> list[TrainingStage]:
        return [*self._tower_stages(),
                TrainingStage("meta", self._meta_loss, parameters=lambda m: m.meta.parameters())]

    def personal_bridges(self, data: LTVDataset) -> np.ndarray:
        """Each sample's bridge ``W_u`` [n, emb_dim, emb_dim] (``u_t = u_s W_u``)."""
        return self.network_outputs(data)["bridge"].astype(np.float64)

    def source_attention(self, data: LTVDataset) -> np.ndarray:
        """Attention over the source periods [n, T] (rows sum to 1; oldest period first)."""
        return self.network_outputs(data)["attention"].astype(np.float64)
