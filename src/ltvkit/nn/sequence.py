"""``SequenceNet``: a sequence encoder and the static features fused into one output head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import make_head
from ltvkit.nn.spec import ModuleSpec


class SequenceNet(nn.Module):
    """Sequence encoder + static features -> fusion MLP -> head.

    ``sequences [b, T, C] -> encoder -> [b, d_s]``; ``features, categorical ->
    TabularInput -> MLP(static_hidden) -> [b, d_x]``; ``[d_s, d_x] -> MLP(hidden) -> head``.
    """

    def __init__(self, encoder: nn.Module, spec: ModuleSpec, static_hidden: Sequence[int],
                 hidden: Sequence[int], head_kind: str, dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.static = MLP(self.tabular.out_dim, static_hidden, dropout=dropout)
        self.fusion = MLP(encoder.out_dim + self.static.out_dim, hidden, dropout=dropout)
        self.head = make_head(head_kind, self.fusion.out_dim, spec)

    def forward(self, batch: dict[str, Tensor]) -> Any:
        h_seq = self.encoder(batch["sequences"])
        h_static = self.static(self.tabular(batch["features"], batch["categorical"]))
        return self.head(self.fusion(torch.cat([h_seq, h_static], dim=1)))
