"""TCN: dilated causal convolutions over the period sequence, with static features.

The series encoder of LtvS / CDLtvS [1]_ and one of its baselines: a temporal convolutional
network (Bai, Kolter, Koltun 2018 [2]_) of residual blocks, each
two causal Conv1d layers with dilation ``2**i``; the output at the last period (the one ending at
the cutoff) is concatenated with an MLP of the static features. The default ``loss="ziln"``
gives the ZILN distribution (Wang et al. 2019 [3]_): ``E[Y] = p exp(mu + s^2/2)``, ``p_active`` and
quantiles; ``loss="mse"`` etc. give a point prediction only.

References
----------
.. [1] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [2] Bai, S., Kolter, J. Z., Koltun, V. (2018). "An Empirical Evaluation of Generic
   Convolutional and Recurrent Networks for Sequence Modeling." arXiv:1803.01271.
.. [3] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ltvkit.models.base.torch_model import SequenceTorchModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import TCN
from ltvkit.nn.spec import ModuleSpec


@register
class TCNModel(SequenceTorchModel):
    """TCN sequence encoder + static features -> ZILN (or point-loss) head."""

    name = "tcn"

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
        return TCN(spec.n_channels, self.channels, self.kernel_size, self.dropout)
