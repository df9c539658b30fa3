"""LSTM over the customer's period sequence, fused with static features, ZILN head by default.

Anitha Kumari et al. [1]_ model per-period purchase sequences with LSTM/RNNs; CDLtvS [2]_ uses an
LSTM baseline. The sequence ``[T, C]`` of per-period spend / orders / items / refunds (oldest first,
the last period ending at the cutoff) is read by an LSTM (Hochreiter & Schmidhuber 1997 [3]_) whose
last hidden state is concatenated with an MLP of the static features and categorical embeddings; a
fusion MLP feeds the head. The default ``loss="ziln"`` gives the ZILN distribution (Wang et al. 2019
[4]_): ``E[Y] = p exp(mu + s^2/2)`` with ``p_active`` and quantiles; ``loss="mse"`` (or ``"huber"``,
``"mae"``, ``"log1p_mse"``) gives a point prediction only.

References
----------
.. [1] Anitha Kumari, D., Siddiqui, M. S., Dorbala, R., Megala, R., Rao, K. T. V.,
   Reddy, N. S. (2024). "Deep Learning Models for Customer Lifetime Value Prediction
   in E-commerce." IEEE ICRTCST 2024, doi:10.1109/ICRTCST61793.2024.10578372.
.. [2] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [3] Hochreiter, S., Schmidhuber, J. (1997). "Long Short-Term Memory." Neural Computation
   9(8), 1735-1780.
.. [4] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ltvkit.models.base.torch_model import SequenceTorchModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import RNNEncoder
from ltvkit.nn.spec import ModuleSpec


@register
class LSTMModel(SequenceTorchModel):
    """LSTM sequence encoder + static features -> ZILN (or point-loss) head."""

    name = "lstm"

    def __init__(self, rnn_hidden: int = 32, n_layers: int = 1,
                       static_hidden: Sequence[int] = (32,), hidden: Sequence[int] = (32,),
                       dropout: float = 0.0, loss: str = "ziln", **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"rnn_hidden": 8, "static_hidden": (8,), "hidden": (8,), "max_epochs": 3,
                 "batch_size": 128, "lr": 1e-2, "n_threads": 1}]

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """The Optuna search space (``ltvkit.tuning``): encoder width, dropout and training."""
        return {"rnn_hidden": trial.suggest_categorical("rnn_hidden", [16, 32, 64]),
                "dropout": trial.suggest_float("dropout", 0.0, 0.3),
                "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
                "weight_decay": trial.suggest_categorical("weight_decay", [0.0, 1e-5, 1e-4]),
                "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024])}

    def _build_encoder(self, spec: ModuleSpec) -> nn.Module:
        return RNNEncoder(spec.n_channels, self.rnn_hidden, self.n_layers, self.dropout,
                          kind="lstm")
