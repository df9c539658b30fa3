"""Transformer encoder over the period sequence, with static features.

Self-attention over periods (Vaswani et al. 2017 [1]_) stands in for the Informer [2]_ baseline
of CDLtvS [3]_: each period's ``C`` channels are projected to ``d_model``, learned position
embeddings are added, ``n_layers`` pre-norm encoder layers attend over all ``T`` periods and the
last period's output (the one ending at the cutoff) is concatenated with an MLP of the static
features. Informer's ProbSparse attention is not needed at LTV sequence lengths (T <= ~52): see
:class:`~ltvkit.nn.blocks.TransformerSequenceEncoder`. The default ``loss="ziln"`` gives the
ZILN distribution (Wang et al. 2019 [4]_): ``E[Y] = p exp(mu + s^2/2)``, ``p_active`` and
quantiles.

References
----------
.. [1] Vaswani, A., Shazeer, N., Parmar, N., Uszkoreit, J., Jones, L., Gomez, A. N.,
   Kaiser, L., Polosukhin, I. (2017). "Attention Is All You Need." Advances in Neural
   Information Processing Systems 30 (NeurIPS 2017).
.. [2] Zhou, H., Zhang, S., Peng, J., Zhang, S., Li, J., Xiong, H., Zhang, W. (2021).
   "Informer: Beyond Efficient Transformer for Long Sequence Time-Series
   Forecasting." Proceedings of the AAAI Conference on Artificial Intelligence
   (AAAI 2021).
.. [3] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [4] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
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
