"""DNN-MSE: a feed-forward regressor of future spend, the ZILN paper's MSE baseline.

Wang, Liu and Miao (2019) [1]_ compare DNN-ZILN with the same network trained on mean squared error.
Inputs are the scaled numeric features and categorical embeddings (width ``floor(V ** 0.25) + 1``);
the output is one value per horizon. With ``log_target=True`` the network fits ``log1p(y)`` instead
(squared error in log space) and predicts ``expm1`` of its output: a better ranker on heavy tails,
but it estimates a geometric rather than an arithmetic mean, so totals come out low.

References
----------
.. [1] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ltvkit.models.base.torch_model import TorchLTVModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import head_loss, head_prediction, make_head
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts


class RegressionNet(nn.Module):
    """``[features, embeddings(categorical)] -> MLP(hidden) -> [b, H]``."""

    def __init__(self, spec: ModuleSpec, hidden: Sequence[int], dropout: float, kind: str):
        super().__init__()
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.mlp = MLP(self.tabular.out_dim, hidden, dropout=dropout)
        self.head = make_head(kind, self.mlp.out_dim, spec)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.mlp(self.tabular(batch["features"], batch["categorical"])))


@register
class DNNMSE(TorchLTVModel):
    """MLP regressor of spend with a squared-error loss (optionally on ``log1p(y)``)."""

    name = "dnn_mse"
    tags = {"torch": True, "uses_attributes": True}

    def __init__(self, hidden: Sequence[int] = (64, 32), dropout: float = 0.0,
                       log_target: bool = False, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        base = {"hidden": (16, 8), "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                "n_threads": 1}
        return [base, {**base, "log_target": True}]

    @property
    def _kind(self) -> str:
        return "log1p_mse" if self.log_target else "mse"

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return RegressionNet(spec, self.hidden, self.dropout, self._kind)

    def _loss(self, outputs: Tensor, y: Tensor, epoch: int) -> Tensor:
        return head_loss(self._kind, outputs, y)

    def _predict_parts(self, outputs: Tensor) -> PredictionParts:
        return head_prediction(self._kind, outputs)
