"""The plumbing the cross-domain baselines (``emcdr``, ``ptupcdr``, ``dasl``) share.

- :class:`DomainLayout`: which feature columns and sequence channels belong to which domain;
- :func:`cold_customers`: the customers without target-domain history;
- :class:`DomainEncoder`: one domain's customer encoder (DeepFM portrait + TCN series);
- :func:`pointwise_loss` and :func:`masked_mean`: the point losses and their masked means;
- :class:`CrossDomainTorchModel`: adds the cold flag and, during training only, the source
  domain's labels to the network inputs, and saves the layout with the weights;
- :class:`TowerNet` and :class:`TowerTransferModel`: a source and a target tower (encoder,
  linear latent layer, value head), each pre-trained on its own domain, followed by a transfer
  stage the subclass adds (EMCDR's mapping, PTUPCDR's meta network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import DataValidationError, ModelError, NotFittedError
from ltvkit.nn.blocks import TCN, DeepFM
from ltvkit.nn.preprocess import LabelScaler, label_statistics
from ltvkit.nn.torch_model import (
    ModuleSpec,
    TorchLTVModel,
    TrainingStage,
    head_prediction,
    make_head,
)
from ltvkit.prediction import PredictionParts

POINT_LOSSES = ("mae", "mse", "huber", "log1p_mse")


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
        target = data.target_domain
        if target is None or target not in data.domains or len(data.domains) != 2:
            raise DataValidationError(
                f"a cross-domain model needs exactly two domains and a target domain, got "
                f"domains={data.domains} target={target}")
        source = next(d for d in data.domains if d != target)
        prefixes = tuple(f"{d}__" for d in data.domains)

        def cols(names: Sequence[str], domain: str) -> list[int]:
            return [i for i, n in enumerate(names) if n.startswith(f"{domain}__")]

        layout = cls(
            source=source, target=target,
            source_features=cols(data.feature_names, source),
            target_features=cols(data.feature_names, target),
            shared_features=[i for i, n in enumerate(data.feature_names)
                             if not n.startswith(prefixes)],
            source_channels=cols(data.channel_names, source),
            target_channels=cols(data.channel_names, target))
        for domain, channels in ((source, layout.source_channels),
                                 (target, layout.target_channels)):
            if not channels:
                raise DataValidationError(f"the dataset has no period sequence of the "
                                          f"'{domain}' domain (channels {data.channel_names})")
        return layout

    def features(self, domain: str) -> list[int]:
        """The feature columns one domain's encoder reads: its own + the shared ones."""
        own = self.source_features if domain == self.source else self.target_features
        return sorted(own + self.shared_features)

    def channels(self, domain: str) -> list[int]:
        return self.source_channels if domain == self.source else self.target_channels


def cold_customers(data: LTVDataset, layout: DomainLayout) -> np.ndarray:
    """[n] bool: the customers without target-domain history.

    The dataset's ``sparse`` flag (C_na of paper 000's protocol) when it has one; otherwise the
    samples whose target features and target periods are all zero (NaN counts as zero).
    """
    if data.sparse is not None:
        return np.asarray(data.sparse, dtype=bool)
    feats = np.nan_to_num(data.features[:, layout.target_features])
    seqs = data.sequences[:, :, layout.target_channels]
    return ~(feats != 0).any(axis=1) & ~(seqs != 0).any(axis=(1, 2))


# --------------------------------------------------------------------------------- blocks
class DomainEncoder(nn.Module):
    """One domain's customer encoder: LtvS's encoder without the expert mask (paper 000, eq. 1).

    ``e^p = DeepFM(features[:, feature_idx], categorical)`` (the portrait),
    ``H = TCN(sequences[:, :, channel_idx])`` (states of every period [b, T, c]),
    ``e = ReLU(FFN_f([e^p, H_T]))`` [b, hidden]. ``forward`` returns ``(e, H)``: the TCN states
    are the "items" PTUPCDR attends over and the sequence embeddings DASL's attention reads.
    """

    def __init__(self, feature_idx: Sequence[int], channel_idx: Sequence[int],
                 vocab_sizes: Sequence[int], hidden: int, fm_dim: int,
                 fm_hidden: Sequence[int], tcn_channels: Sequence[int], kernel_size: int,
                 dropout: float):
        super().__init__()
        self.register_buffer("feature_idx", torch.tensor(list(feature_idx), dtype=torch.long),
                             persistent=False)
        self.register_buffer("channel_idx", torch.tensor(list(channel_idx), dtype=torch.long),
                             persistent=False)
        self.portrait = DeepFM(len(feature_idx), vocab_sizes, fm_dim, fm_hidden, dropout)
        self.series = TCN(len(channel_idx), tcn_channels, kernel_size, dropout)
        self.fuse = nn.Sequential(nn.Linear(self.portrait.out_dim + self.series.out_dim,
                                            int(hidden)), nn.ReLU())
        self.out_dim = int(hidden)
        self.state_dim = self.series.out_dim

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        x = batch["features"].index_select(1, self.feature_idx)
        seq = batch["sequences"].index_select(2, self.channel_idx)
        states = self.series.net(seq.transpose(1, 2)).transpose(1, 2)        # [b, T, c]
        e = self.fuse(torch.cat([self.portrait(x, batch["categorical"]), states[:, -1]], dim=1))
        return e, states


class TowerNet(nn.Module):
    """A source and a target tower: encoder -> linear latent layer ``u_d [b, emb_dim]``, plus
    each domain's value head (``v_d . u_d + b_d``, the MF rating with one "item").

    Subclasses add their transfer module after calling ``__init__`` and write ``forward``.
    """

    def __init__(self, source: DomainEncoder, target: DomainEncoder, source_head: nn.Module,
                 target_head: nn.Module, emb_dim: int):
        super().__init__()
        self.source = source
        self.target = target
        self.source_latent = nn.Linear(source.out_dim, emb_dim)
        self.target_latent = nn.Linear(target.out_dim, emb_dim)
        self.source_head = source_head
        self.target_head = target_head

    def source_parameters(self) -> list[nn.Parameter]:
        return [*self.source.parameters(), *self.source_latent.parameters(),
                *self.source_head.parameters()]

    def target_parameters(self) -> list[nn.Parameter]:
        return [*self.target.parameters(), *self.target_latent.parameters(),
                *self.target_head.parameters()]


def with_source_labels(out: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """``out`` plus the batch's ``"source_labels"`` when it has them (while fitting only), so
    the source-side losses can read them from the outputs."""
    if "source_labels" in batch:
        out["source_labels"] = batch["source_labels"]
    return out


def pointwise_loss(kind: str, pred: Tensor, y: Tensor) -> Tensor:
    """Per-element loss ``[b, H]`` of a point head ``kind`` (see ``torch_model.head_loss``)."""
    if kind == "mae":
        return (pred - y).abs()
    if kind == "mse":
        return (pred - y) ** 2
    if kind == "huber":
        return F.huber_loss(pred, y, reduction="none", delta=1.0)
    if kind == "log1p_mse":
        return (pred - torch.log1p(y)) ** 2
    raise ValueError(f"unknown loss '{kind}'; choose one of {', '.join(POINT_LOSSES)}")


def masked_mean(values: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of ``values`` [b, ...] over the rows where ``mask`` [b] is true (0 if none is)."""
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
    per_row = values[0].numel() if values.dim() > 1 else 1
    return (values * m).sum() / (m.sum() * per_row).clamp_min(1.0)


# --------------------------------------------------------------------------------- bases
class CrossDomainTorchModel(TorchLTVModel):
    """Base of the cross-domain baselines (not registered).

    Adds to the inputs of :class:`TorchLTVModel` ``"cold"`` [b] bool (:func:`cold_customers`)
    and, while fitting only, ``"source_labels"`` [b, H] (the source domain's labels of the
    model's horizons, divided by the mean positive source label): the target of the source-side
    pre-training, never read at prediction time. Saves :class:`DomainLayout` with the weights.
    Subclasses expose ``hidden``, ``fm_dim``, ``fm_hidden``, ``tcn_channels``, ``kernel_size``,
    ``dropout`` and ``loss`` (a point loss: ``"mae"`` as in paper 000, ``"mse"``, ``"huber"``,
    ``"log1p_mse"``).
    """

    tags: ClassVar[dict[str, bool]] = {"torch": True, "cross_domain": True,
                                       "needs_sequences": True, "uses_attributes": True}
    inputs: ClassVar[tuple[str, ...]] = ("features", "categorical", "sequences")

    _with_source_labels: bool = False

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        if self.loss not in POINT_LOSSES:
            raise ModelError(f"{self.name}: unknown loss '{self.loss}'; choose one of "
                             f"{', '.join(POINT_LOSSES)}")
        self.layout_ = DomainLayout.of(train)
        source = self._source_labels(train)
        self._source_scaler = LabelScaler().fit(source)
        self._source_stats = label_statistics(self._source_scaler.transform(source))
        self._with_source_labels = True
        try:
            super()._fit(train, valid)
        finally:
            self._with_source_labels = False

    def _source_labels(self, data: LTVDataset) -> np.ndarray:
        labels = data.labels_by_domain.get(self.layout_.source)
        if labels is None:
            raise DataValidationError(f"{self.name}: the dataset has no labels of the source "
                                      f"domain '{self.layout_.source}' (labels_by_domain)")
        return labels[:, [data.horizons.index(h) for h in self.horizons_]]

    def _inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        out = super()._inputs(data)
        out["cold"] = torch.from_numpy(cold_customers(data, self.layout_))
        if self._with_source_labels:
            out["source_labels"] = torch.from_numpy(
                self._source_scaler.transform(self._source_labels(data)))
        return out

    def _encoder(self, domain: str, spec: ModuleSpec) -> DomainEncoder:
        return DomainEncoder(self.layout_.features(domain), self.layout_.channels(domain),
                             spec.vocab_sizes, self.hidden, self.fm_dim, self.fm_hidden,
                             self.tcn_channels, self.kernel_size, self.dropout)

    def _source_head(self, in_dim: int, spec: ModuleSpec) -> nn.Module:
        """A head like the target's, its bias started at the source labels' statistics."""
        head = make_head(self.loss, in_dim, spec)
        stats = getattr(self, "_source_stats", None)
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
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: call fit() (or load a saved model) first")
        data = self._check_dataset(data, "prediction").subset(np.arange(len(data)))
        if self.categorical_names_:  # unseen categories -> "<unknown>", as predict() does
            sizes = np.asarray(self.vocab_sizes_)
            data.categorical = np.where(data.categorical < sizes, data.categorical, 0)
        return {k: v.detach().cpu().numpy() for k, v in self._forward(data).items()}

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
