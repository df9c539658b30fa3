"""1-D CNN over the period sequence, with static features.

Kumar, Arya and Gupta [1]_ list CNNs over
behavioural sequences among the deep CLV models. Convolutions with ``same`` padding slide over the
``T`` periods (channels: spend / orders / items / refunds), global average and max pooling
summarise them, and the result is concatenated with an MLP of the static features. Unlike the
TCN this encoder is not causal and pools over time, so it sees *patterns* (bursts, gaps) rather
than the state at the cutoff. The default ``loss="ziln"`` gives the ZILN distribution (Wang et al.
2019 [2]_): ``E[Y] = p exp(mu + s^2/2)``, ``p_active`` and quantiles.

References
----------
.. [1] Kumar, R., Arya, L. K., Gupta, P. "Deep Learning for Big Data in Predicting Customer
   Lifetime Value." (Year and venue are not stated in the available text.)
.. [2] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ltvkit.models.base.torch_model import SequenceTorchModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import CNNEncoder
from ltvkit.nn.spec import ModuleSpec


@register
class CNNModel(SequenceTorchModel):
    """1-D CNN sequence encoder + static features -> ZILN (or point-loss) head."""

    name = "cnn"

    def __init__(self, channels: Sequence[int] = (32, 32), kernel_size: int = 3,
                       static_hidden: Sequence[int] = (32,), hidden: Sequence[int] = (32,),
                       dropout: float = 0.0, loss: str = "ziln", **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"channels": (8, 8), "static_hidden": (8,), "hidden": (8,), "max_epochs": 3,
                 "batch_size": 128, "lr": 1e-2, "n_threads": 1}]

    def _build_encoder(self, spec: ModuleSpec) -> nn.Module:
        return CNNEncoder(spec.n_channels, self.channels, self.kernel_size, self.dropout)
