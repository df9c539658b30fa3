"""Copy-me template for a new PyTorch ltvkit model.

1. Copy this file to ``src/ltvkit/models/<your_model>.py`` (one model per file).
2. Write the network (an ``nn.Module``), the loss and the prediction rule; the base class
   :class:`~ltvkit.models.base.torch_model.TorchLTVModel` does the rest: input scaling, unseen
   categories, label scaling, the training loop (batching, Adam, early stopping, seeding), the
   training hyper-parameters (``max_epochs``, ``lr``, ``batch_size``, ... accepted as keyword
   arguments through ``**training``) and saving the weights as safetensors.
3. Run ``python -m pytest tests/test_conformance.py -k <your_model>``.

The network trains on labels divided by one scale (the mean positive training label); the
prediction rule returns values in those scaled units and the base multiplies them back, together
with every extra named in ``value_extras``. Label-derived constants (here a cap on the labels)
are learned in ``_fit_label_state`` and placed in the network's units with ``spec.to_scaled``.

The example below is a working model: an MLP on log1p-scaled spend whose prediction is capped
at a high quantile of the training labels, so one whale cannot blow up the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.models.base.torch_model import Labels, TorchLTVModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import make_head
from ltvkit.nn.losses import log1p_mse_loss
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts


class CappedMLPNet(nn.Module):
    """``[features, embeddings(categorical)] -> MLP(hidden) -> log1p(spend)`` per horizon."""

    def __init__(self, spec: ModuleSpec, hidden: Sequence[int], cap: float):
        super().__init__()
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.mlp = MLP(self.tabular.out_dim, hidden)
        self.head = make_head("log1p_mse", self.mlp.out_dim, spec)
        self.register_buffer("cap", torch.tensor(float(cap)))

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.mlp(self.tabular(batch["features"], batch["categorical"])))


@register
class CappedMLP(TorchLTVModel):
    # TODO: the registry key and the capability tags
    name = "capped_mlp"
    tags: ClassVar[dict[str, bool]] = {"torch": True, "uses_attributes": True}
    # TODO: extras of the prediction rule in scaled label units (the base rescales them)
    value_extras: ClassVar[tuple[str, ...]] = ("uncapped",)

    # TODO: the model's own hyper-parameters; the training ones arrive through **training
    def __init__(self, hidden: Sequence[int] = (32, 16), cap_quantile: float = 0.999,
                 **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": (8,), "max_epochs": 3, "batch_size": 128, "lr": 1e-2, "n_threads": 1}]

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        # TODO: constants learned from the training labels, kept in the label unit
        self.cap_ = float(np.quantile(labels.raw, self.cap_quantile))

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return CappedMLPNet(spec, self.hidden, spec.to_scaled(max(self.cap_, 1e-9)))

    def _loss(self, outputs: Tensor, y: Tensor, epoch: int) -> Tensor:
        return log1p_mse_loss(outputs, y)

    def _predict_parts(self, outputs: Tensor) -> PredictionParts:
        uncapped = torch.expm1(outputs).clamp_min(0.0)
        return PredictionParts(value=torch.minimum(uncapped, self.network.cap),
                               extras={"uncapped": uncapped})

    # TODO: what save() must write beyond the weights (JSON-able state)
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["cap"] = self.cap_
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cap_ = float(state["cap"])
        super()._set_state(state, arrays)
