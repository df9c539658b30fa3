"""Transformer encoder over the period sequence, with static features.

Self-attention over periods (Vaswani et al. 2017) stands in for the Informer baseline of CDLtvS
(paper 000): each period's ``C`` channels are projected to ``d_model``, learned position
embeddings are added, ``n_layers`` pre-norm encoder layers attend over all ``T`` periods and the
last period's output (the one ending at the cutoff) is concatenated with an MLP of the static
features. Informer's ProbSparse attention is not needed at LTV sequence lengths (T <= ~52): see
:class:`~ltvkit.nn.blocks.TransformerSequenceEncoder`. The default ``loss="ziln"`` gives the
ZILN distribution (Wang et al. 2019): ``E[Y] = p exp(mu + s^2/2)``, ``p_active`` and quantiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ltvkit.models.base.torch_model import SequenceTorchModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import TransformerSequenceEncoder
from ltvkit.nn.spec import ModuleSpec


@register
class TransformerModel(SequenceTorchModel):
    """Transformer sequence encoder + static features -> ZILN (or point-loss) head."""

    name = "transformer"

    def __init__(self, d_model: int = 32, n_heads: int = 4, n_layers: int = 2,
                       pooling: str = "last", static_hidden: Sequence[int] = (32,),
                       hidden: Sequence[int] = (32,), dropout: float = 0.0, loss: str = "ziln",
                       **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"d_model": 8, "n_heads": 2, "n_layers": 1, "static_hidden": (8,),
                 "hidden": (8,), "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                 "n_threads": 1}]

    def _build_encoder(self, spec: ModuleSpec) -> nn.Module:
        return TransformerSequenceEncoder(spec.n_channels, spec.n_periods, self.d_model,
                                          self.n_heads, self.n_layers, self.dropout,
                                          self.pooling)
