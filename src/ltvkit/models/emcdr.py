"""EMCDR: embedding and mapping for cross-domain LTV (Man, Shen, Jin, Cheng, IJCAI 2017).

Man, Shen, Jin, Cheng [1]_. EMCDR is the mapping baseline of PTUPCDR [2]_ (the official PTUPCDR
code runs it as its ``train_map`` / ``test_map`` stages) and the first paradigm the CDLtvS
paper [3]_ (section 2.2) names: learn customer representations in each domain, learn a mapping
from the source representation to the target one on the customers present in both domains, and
give a customer who has no target history the *mapped* source representation.

Adaptation to LTV (the recommender's matrix-factorisation user factors and item vector become a
per-domain encoder and a value head):

1. *embedding* (two stages): in each domain ``d`` an encoder (the CDLtvS paper's LtvS encoder
   without the expert mask: DeepFM over the domain's static features + shared attributes +
   categorical codes, TCN over its period series, ``ReLU(FFN_f([e^p, e^l]))``) followed by a
   linear layer gives the latent vector ``u_d [b, emb_dim]``; a linear head ``v_d . u_d + b_d``
   (the MF rating with one "item", the domain's future value) is trained on that domain's labels
   with MAE (the CDLtvS paper's loss). The source side is trained on every customer (their source
   history is complete); the target side only on the non-sparse customers (``~cold``), whose
   target history is real.
2. *mapping*: an MLP ``f`` (EMCDR's MLP variant: one tanh hidden layer, ``mapping_hidden`` units;
   the official PTUPCDR code's EMCDR stage uses a linear map instead) is
   trained with the squared error ``||f(u_s) - u_t||^2`` on the non-sparse customers only, the
   encoders frozen.
3. *prediction*: ``y_hat = v_t . u + b_t`` with ``u = f(u_s)`` for a cold customer and ``u = u_t`` for
   the others (the PTUPCDR code's ``test_map`` likewise swaps in the mapped vector for the cold
   test users only).

"Cold" is the dataset's ``sparse`` flag (the sparsity protocol's C_na) when it has one, else
"no target-domain history at all in the window" (every target feature and target period is 0).

The plumbing the cross-domain baselines share lives in two places: the PyTorch blocks
(:class:`~ltvkit.nn.cross_domain.DomainEncoder`, the two-tower network, the point losses) in
:mod:`ltvkit.nn.cross_domain`, and the model classes (``DomainLayout``, ``cold_customers``,
``CrossDomainTorchModel``, the two-tower base) in :mod:`ltvkit.models.base.cross_domain`; their
public names are re-exported here for older imports.

References
----------
.. [1] Man, T., Shen, H., Jin, X., Cheng, X. (2017). "Cross-Domain Recommendation: An
   Embedding and Mapping Approach." IJCAI 2017.
.. [2] Zhu, Y., Tang, Z., Liu, Y., Zhuang, F., Xie, R., Zhang, X., Lin, L., He, Q. (2022).
   "Personalized Transfer of User Preferences for Cross-domain Recommendation." WSDM 2022.
.. [3] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ltvkit.models.base.cross_domain import (
    CrossDomainTorchModel,
    DomainLayout,
    TowerTransferModel,
    cold_customers,
)
from ltvkit.models.base.torch_model import TrainingStage
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP
from ltvkit.nn.cross_domain import (
    POINT_LOSSES,
    DomainEncoder,
    TowerNet,
    masked_mean,
    pointwise_loss,
    with_source_labels,
)
from ltvkit.nn.spec import ModuleSpec

# Re-exported: these lived here before moving to ltvkit.nn.cross_domain.
__all__ = ["EMCDR", "EMCDRNet", "POINT_LOSSES", "CrossDomainTorchModel", "DomainEncoder",
           "DomainLayout", "cold_customers", "masked_mean", "pointwise_loss"]


# --------------------------------------------------------------------------------- EMCDR
class EMCDRNet(TowerNet):
    """Source and target encoders with latent vectors and value heads, plus the mapping ``f``.

    ``forward`` returns ``{"value" [b, H]`` (the prediction rule of step 3), ``"source_value"``,
    ``"target_value"``, ``"mapped"`` ``f(u_s)`` and ``"target_latent"`` ``u_t`` [b, emb_dim],
    ``"cold"`` [b] and, while fitting, ``"source_labels"``}.
    """

    def __init__(self, source: DomainEncoder, target: DomainEncoder, source_head: nn.Module,
                 target_head: nn.Module, emb_dim: int, mapping_hidden: int):
        super().__init__(source, target, source_head, target_head, emb_dim)
        self.mapping = MLP(emb_dim, (mapping_hidden,), out_dim=emb_dim, activation="tanh")

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        u_s = self.source_latent(self.source(batch)[0])
        u_t = self.target_latent(self.target(batch)[0])
        mapped = self.mapping(u_s.detach())  # the mapping never moves the source encoder
        cold = batch["cold"]
        u = torch.where(cold.unsqueeze(1), mapped, u_t)
        return with_source_labels(
            {"value": self.target_head(u), "source_value": self.source_head(u_s),
             "target_value": self.target_head(u_t), "mapped": mapped,
             "target_latent": u_t.detach(), "cold": cold}, batch)


@register
class EMCDR(TowerTransferModel):
    """EMCDR (Man et al. 2017) adapted to LTV; see the module docstring.

    Three training stages, each with its own early stopping on the validation set: ``source``
    (source encoder + head, MAE on the source labels, every customer), ``target`` (target
    encoder + head, MAE on the target labels, non-sparse customers) and ``mapping`` (the MLP
    ``f``, squared error to ``u_t`` on the non-sparse customers). ``emb_dim`` is the latent
    size (PTUPCDR's default 10); the mapping's hidden layer has ``2 * emb_dim`` units unless
    ``mapping_hidden`` is given (our default width). Encoder widths are smaller than the
    CDLtvS paper's (h=128) so that a fit stays cheap on a CPU: ``hidden=64``.
    """

    name = "emcdr"

    def __init__(self, emb_dim: int = 10, mapping_hidden: int | None = None, hidden: int = 64,
                       fm_dim: int = 8, fm_hidden: Sequence[int] = (64, 32),
                       tcn_channels: Sequence[int] = (32, 32), kernel_size: int = 3,
                       dropout: float = 0.0, loss: str = "mae", **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"emb_dim": 4, "hidden": 8, "fm_dim": 4, "fm_hidden": (8,),
                 "tcn_channels": (8,), "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                 "n_threads": 1}]

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return EMCDRNet(*self._towers(spec), self.emb_dim,
                        self.mapping_hidden or 2 * self.emb_dim)

    def _mapping_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        err = ((outputs["mapped"] - outputs["target_latent"]) ** 2).sum(dim=1)
        return masked_mean(err, self.mapping_mask(outputs["cold"]))

    @staticmethod
    def mapping_mask(cold: Tensor) -> Tensor:
        """The customers the target side and the mapping learn from: the non-sparse ones."""
        return ~cold

    def _training_stages(self) -> list[TrainingStage]:
        return [*self._tower_stages(),
                TrainingStage("mapping", self._mapping_loss,
                              parameters=lambda m: m.mapping.parameters())]
