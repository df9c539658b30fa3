"""Bases of the cross-domain baselines (EMCDR, PTUPCDR, DASL): column layout, cold customers,
training-only source labels, and the two-tower pre-training of EMCDR / PTUPCDR.

- :class:`DomainLayout`: which feature columns and sequence channels each domain's encoder
  reads (from the dataset's layout object; saved with the model);
- :func:`cold_customers`: the customers without target-domain history;
- :class:`CrossDomainTorchModel`: adds the cold flag and, during training only, the source
  domain's labels to the network inputs;
- :class:`TowerTransferModel`: a source and a target tower, each pre-trained on its own domain,
  followed by a transfer stage the subclass adds (EMCDR's mapping, PTUPCDR's meta network).

The PyTorch blocks these bases build on (the domain encoder, the towers, the point losses) are
in :mod:`ltvkit.nn.cross_domain`. The models are EMCDR [1]_, PTUPCDR [2]_ and DASL [3]_ as
adapted by the CDLtvS paper [4]_ (its baselines), whose sparsity protocol defines the cold
customers.

References
----------
.. [1] Man, T., Shen, H., Jin, X., Cheng, X. (2017). "Cross-Domain Recommendation: An
   Embedding and Mapping Approach." IJCAI 2017.
.. [2] Zhu, Y., Tang, Z., Liu, Y., Zhuang, F., Xie, R., Zhang, X., Lin, L., He, Q. (2022).
   "Personalized Transfer of User Preferences for Cross-domain Recommendation." WSDM 2022.
.. [3] Li, P., Jiang, Z., Que, M., Hu, Y., Tuzhilin, A. (2021). "Dual Attentive Sequential
   Learning for Cross-Domain Click-Through Rate Prediction." KDD 2021.
.. [4] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import DataValidationError, ModelError
from ltvkit.models.base.torch_model import Labels, TorchLTVModel, TrainingStage
from ltvkit.nn.cross_domain import POINT_LOSSES, DomainEncoder, masked_mean, pointwise_loss
from ltvkit.nn.heads import head_prediction, make_head
from ltvkit.nn.preprocess import LabelScaler, label_statistics
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts


# --------------------------------------------------------------------------------- layout
@dataclass
class DomainLayout:
    """Column positions of each domain in a cross-domain dataset (saved with the model).

    ``*_features`` index ``features`` [n, F]; ``shared_features`` are the unprefixed columns
    (attributes, calendar) every domain encoder reads; ``*_channels`` index the last axis of
    ``sequences`` [n, T, C].
    """

    source: str
    target: str
    source_features: list[int]
    target_features: list[int]
    shared_features: list[int]
    source_channels: list[int]
    target_channels: list[int]

    @classmethod
    def of(cls, data: LTVDataset) -> DomainLayout:
        layout = data.layout
        source, target = layout.source_domain, layout.target_domain
        if source is None or target is None:
            raise DataValidationError(
                f"a cross-domain model needs exactly two domains and a target domain, got "
                f"domains={data.domains} target={target}")
        out = cls(source=source, target=target,
                  source_features=layout.domain_features(source),
                  target_features=layout.domain_features(target),
                  shared_features=layout.shared_features(),
                  source_channels=layout.domain_channels(source),
                  target_channels=layout.domain_channels(target))
        for domain, channels in ((source, out.source_channels), (target, out.target_channels)):
            if not channels:
                raise DataValidationError(f"the dataset has no period sequence of the "
                                          f"'{domain}' domain (channels {data.channel_names})")
        return out

    def features(self, domain: str) -> list[int]:
        """The feature columns one domain's encoder reads: its own + the shared ones."""
        own = self.source_features if domain == self.source else self.target_features
        return sorted(own + self.shared_features)

    def channels(self, domain: str) -> list[int]:
        return self.source_channels if domain == self.source else self.target_channels


def cold_customers(data: LTVDataset, layout: DomainLayout) -> np.ndarray:
    """[n] bool: the customers without target-domain history.

    The dataset's ``sparse`` flag (C_na of the CDLtvS paper's sparsity protocol) when it has one;
    otherwise the samples whose target features and target periods are all zero (NaN counts as
    zero).
    """
    if data.sparse is not None:
        return np.asarray(data.sparse, dtype=bool)
    feats = np.nan_to_num(data.features[:, layout.target_features])
    seqs = data.sequences[:, :, layout.target_channels]
    return ~(feats != 0).any(axis=1) & ~(seqs != 0).any(axis=(1, 2))


# --------------------------------------------------------------------------------- bases
class CrossDomainTorchModel(TorchLTVModel):
    """Base of the cross-domain baselines (not registered).

    Adds to the inputs of :class:`TorchLTVModel` ``"cold"`` [b] bool (:func:`cold_customers`)
    and, while fitting only, ``"source_labels"`` [b, H] (the source domain's labels of the
    model's horizons, divided by the mean positive source label): the target of the source-side
    pre-training, never read at prediction time. Saves :class:`DomainLayout` with the weights.
    Subclasses expose ``hidden``, ``fm_dim``, ``fm_hidden``, ``tcn_channels``, ``kernel_size``,
    ``dropout`` and ``loss`` (a point loss: ``"mae"`` as in the CDLtvS paper, ``"mse"``,
    ``"huber"``, ``"log1p_mse"``).
    """

    tags: ClassVar[dict[str, bool]] = {"torch": True, "cross_domain": True,
                                       "needs_sequences": True, "uses_attributes": True}
    inputs: ClassVar[tuple[str, ...]] = ("features", "categorical", "sequences")

    def _validate_params(self) -> None:
        if self.loss not in POINT_LOSSES:
            raise ModelError(f"{self.name}: unknown loss '{self.loss}'; choose one of "
                             f"{', '.join(POINT_LOSSES)}")

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        self.layout_ = DomainLayout.of(train)
        source = self._source_labels(train)
        self.source_scaler_ = LabelScaler().fit(source)
        self.source_stats_ = label_statistics(self.source_scaler_.transform(source))

    def _source_labels(self, data: LTVDataset) -> np.ndarray:
        return data.labels_for(self.horizons_, domain=self.layout_.source)

    def _extra_inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        return {"cold": torch.from_numpy(cold_customers(data, self.layout_))}

    def _training_inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        return {"source_labels": torch.from_numpy(
            self.source_scaler_.transform(self._source_labels(data)))}

    def _encoder(self, domain: str, spec: ModuleSpec) -> DomainEncoder:
        return DomainEncoder(self.layout_.features(domain), self.layout_.channels(domain),
                             spec.vocab_sizes, self.hidden, self.fm_dim, self.fm_hidden,
                             self.tcn_channels, self.kernel_size, self.dropout)

    def _source_head(self, in_dim: int, spec: ModuleSpec) -> nn.Module:
        """A head like the target's, its bias started at the source labels' statistics."""
        head = make_head(self.loss, in_dim, spec)
        stats = getattr(self, "source_stats_", None)
        if stats is not None:  # fitting (a loaded model gets its weights from the file)
            head.init_bias(stats["log1p_mean"] if self.loss == "log1p_mse" else stats["mean"])
        return head

    def _prediction_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        """The point loss of the final prediction ``outputs["value"]`` on the target labels."""
        return pointwise_loss(self.loss, outputs["value"], y).mean()

    def _predict_parts(self, outputs: dict[str, Tensor]) -> PredictionParts:
        return head_prediction(self.loss, outputs["value"])

    def network_outputs(self, data: LTVDataset) -> dict[str, np.ndarray]:
        """Every output of the network for ``data`` (attention weights, bridges, ...) as arrays."""
        return {k: v.detach().cpu().numpy() for k, v in super().network_outputs(data).items()}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["layout"] = dataclasses.asdict(self.layout_)
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.layout_ = DomainLayout(**state["layout"])
        super()._set_state(state, arrays)


class TowerTransferModel(CrossDomainTorchModel):
    """Base of the models built on a :class:`TowerNet` (EMCDR, PTUPCDR); not registered.

    Training starts with two stages, each with its own early stopping (:meth:`_tower_stages`):
    ``source`` (source tower, the point loss on the source labels, every customer) and
    ``target`` (target tower, the point loss on the target labels of the non-cold customers
    only, whose target history is real); the subclass appends its transfer stage. ``_loss`` is
    the loss of the final prediction rule (for reporting; training uses the stages). Subclasses
    expose ``emb_dim``, the latent size.
    """

    def _towers(self, spec: ModuleSpec) -> tuple[DomainEncoder, DomainEncoder, nn.Module,
                                                 nn.Module]:
        """``(source encoder, target encoder, source head, target head)`` for a TowerNet."""
        return (self._encoder(self.layout_.source, spec),
                self._encoder(self.layout_.target, spec),
                self._source_head(self.emb_dim, spec), make_head(self.loss, self.emb_dim, spec))

    def _source_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return pointwise_loss(self.loss, outputs["source_value"], outputs["source_labels"]).mean()

    def _target_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return masked_mean(pointwise_loss(self.loss, outputs["target_value"], y),
                           ~outputs["cold"])

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return self._prediction_loss(outputs, y, epoch)

    def _tower_stages(self) -> list[TrainingStage]:
        return [
            TrainingStage("source", self._source_loss,
                          parameters=lambda m: m.source_parameters()),
            TrainingStage("target", self._target_loss,
                          parameters=lambda m: m.target_parameters()),
        ]
