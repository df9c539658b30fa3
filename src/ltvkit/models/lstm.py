"""LSTM over the customer's period sequence, fused with static features, ZILN head by default.

Paper 002 ("Deep learning models for CLV prediction in e-commerce") models per-period purchase
sequences with LSTM/RNNs; CDLtvS (paper 000) uses an LSTM baseline. The sequence ``[T, C]`` of
per-period spend / orders / items / refunds (oldest first, the last period ending at the cutoff)
is read by an LSTM (Hochreiter & Schmidhuber 1997) whose last hidden state is concatenated with an
MLP of the static features and categorical embeddings; a fusion MLP feeds the head. The default
``loss="ziln"`` gives the ZILN distribution (Wang et al. 2019, ``shared/MODELS.md`` section 1):
``E[Y] = p exp(mu + s^2/2)`` with ``p_active`` and quantiles; ``loss="mse"`` (or ``"huber"``,
``"mae"``, ``"log1p_mse"``) gives a point prediction only.
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

    def _build_encoder(self, spec: ModuleSpec) -> nn.Module:
        return RNNEncoder(spec.n_channels, self.rnn_hidden, self.n_layers, self.dropout,
                          kind="lstm")
