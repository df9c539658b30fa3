"""MTL-ZILN: one shared-bottom network with a ZILN head per horizon (30 / 90 / 180 / 365 days).

The multi-task ZILN baseline of MEAN [1]_ and ODMN (Li et al. 2022 [2]_): a shared MLP over the
customer features feeds one tower per horizon, each ending in the ZILN output
``(z_p, z_mu, z_s)`` of Wang et al. (2019) [3]_.
The loss is the ZILN NLL averaged over samples and horizons.

With ``monotone=True`` the heads are tied so that ``p`` and ``E[Y]`` are non-decreasing over the
(nested) horizons: ``1 - p_h = prod_{j<=h}(1 - sigmoid(z_p_j))`` and
``log E_h = z_m_1 + sum_{1<j<=h} softplus(z_m_j)``, with ``mu_h`` derived from
``E_h = p_h exp(mu_h + s_h^2 / 2)`` (see :class:`~ltvkit.nn.losses.ZILNHead`); a 365-day
prediction can then never fall below the 90-day one.

References
----------
.. [1] Liu, K., Zhou, Y., Liu, B., Su, H., Chen, S. (2025). "MEAN: Multi-Expert Adaptive
   Network for Customer Lifetime Value Prediction." ECML PKDD 2025,
   doi:10.1007/978-3-032-05981-9_18.
.. [2] Li, K., Shao, G., Yang, N., Fang, X., Song, Y. (2022). "Billion-user Customer Lifetime
   Value Prediction: An Industrial-scale Solution from Kuaishou." Proceedings of the
   31st ACM International Conference on Information & Knowledge Management (CIKM '22),
   3243-3251. arXiv:2208.13358.
.. [3] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from ltvkit.models.base.torch_model import TorchLTVModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import head_prediction, make_head
from ltvkit.nn.losses import ZILNParams, ziln_loss
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts


class SharedBottomZILN(nn.Module):
    """``inputs -> shared MLP -> per-horizon tower -> ZILN`` (fields [b, H])."""

    def __init__(self, spec: ModuleSpec, hidden: Sequence[int], tower_hidden: Sequence[int],
                 monotone: bool, dropout: float):
        super().__init__()
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.shared = MLP(self.tabular.out_dim, hidden, dropout=dropout)
        self.head = make_head("ziln", self.shared.out_dim, spec, tower_hidden, monotone)

    def forward(self, batch: dict[str, Tensor]) -> ZILNParams:
        return self.head(self.shared(self.tabular(batch["features"], batch["categorical"])))


@register
class MTLZILN(TorchLTVModel):
    """Shared-bottom multi-horizon ZILN (optionally monotone over horizons)."""

    name = "mtl_ziln"
    tags = {"torch": True, "probabilistic": True, "multi_horizon": True,
            "uses_attributes": True}

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 400}

    def __init__(self, hidden: Sequence[int] = (64, 32), tower_hidden: Sequence[int] = (16,),
                       monotone: bool = False, dropout: float = 0.0, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        base = {"hidden": (16, 8), "tower_hidden": (8,), "max_epochs": 3, "batch_size": 128,
                "lr": 1e-2, "n_threads": 1}
        return [base, {**base, "monotone": True}]

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return SharedBottomZILN(spec, self.hidden, self.tower_hidden, self.monotone,
                                self.dropout)

    def _loss(self, outputs: ZILNParams, y: Tensor, epoch: int) -> Tensor:
        return ziln_loss(outputs, y)

    def _predict_parts(self, outputs: ZILNParams) -> PredictionParts:
        return head_prediction("ziln", outputs)
