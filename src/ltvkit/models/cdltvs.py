"""CDLtvS: cross-domain LTV prediction with pre-trained LtvS encoders and two alignments.

The CDLtvS paper [1]_, sections 4.1 and 4.3.
Input: a cross-domain :class:`~ltvkit.data.dataset.LTVDataset` with two domains; the source
domain is the one that is not ``data.target_domain``. Shapes: ``b`` samples, ``h`` hidden size,
``d`` alignment size, ``H`` horizons (1 here).

Each domain has an LtvS branch (:class:`~ltvkit.models.ltvs.LtvSNet`: DeepFM on the shared
customer attributes and that domain's numeric features ‖ TCN on that domain's channels ->
ExMN), giving ``e^s`` (source) and ``e^t`` (target), both ``[b, h]``. Then (eqs. 13-17)::

    e^m     = ReLU(FFN_trans(e^s))                                   [b, h]   eq. 13
    v̂       = ReLU(MLP([e^m, e^t]))   (two FC layers, ReLU after each) [b, H]   eq. 14
    e^{m,o} = e^m W^m,  e^{t,o} = e^t W^t                           [b, d]
    L_AP    = mean_{i in B ∩ C_a} -log( exp(cos(e^{m,o}_i, e^{t,o}_i))
                                        / sum_{j in B} exp(cos(e^{m,o}_i, e^{t,o}_j)) )     eq. 15
    L_AT    = mean_{i in B ∩ C_na} max(0, cos_i - η) + mean_{i in B ∩ C_a} (1 - cos_i)        eq. 16
    L       = MAE(v̂, y) + λ3 L_AP + λ4 L_AT                                                  eq. 17

``C_na`` are the sparse customers of the sparsity protocol (``data.sparse``; ``None``: every
customer is non-sparse, ``C_a``). An empty group contributes 0.

Training (section 4.1) runs as three :class:`~ltvkit.models.base.torch_model.TrainingStage` s of the
shared trainer, each with its own early stopping (patience 7) on its own MAE:

1. ``pretrain_source``: the source LtvS alone, on the *source-domain* labels
   (``data.labels_by_domain[source]``, scaled by their own mean positive label), loss
   ``MAE + λ1 L_EC + λ2 L_EO`` (:mod:`ltvkit.models.ltvs`);
2. ``pretrain_target``: the target LtvS alone, on the target labels, same loss;
3. ``joint``: every parameter, loss eq. 17 (the ExMN losses no longer apply, section 5.5.2).

λ1 = 10, λ2 = 20, λ3 = 2, λ4 = 1, each times 0.01 from a stage's epoch 20 on (section 5.1.4);
h = 128, d = 80, k = 4, batch 256, Adam 1e-3, patience 7.

Choices the paper leaves open or gets wrong:

- η (``margin``) is not given: default 0.0, i.e. a sparse customer's transferred and target
  projections are pushed to be orthogonal or opposed.
- Eq. 15 is a *sum* over the batch; we take the mean over ``B ∩ C_a`` so λ3 does not scale with
  the batch size. The softmax temperature is 1 (plain cosine, as written). The candidates
  ``S`` are every target projection in the batch (the positive included, as in InfoNCE).
- The text says "positive alignment for sparse data and negative alignment for non-sparse
  data", the opposite of eq. 16; we follow eq. 16 (sparse pushed below ``η``, non-sparse pulled
  together), because the equation is the unambiguous statement.
- The stage-1 source branch predicts source-domain LTV (the paper pre-trains "LtvS in each
  domain"); its labels are fed to the network only while fitting.
- ``max_epochs`` (per stage) is not given: 100, with ``pretrain_epochs`` for stage 1.
- ``n_threads=1`` by default, for the reason given in :mod:`ltvkit.models.ltvs`.
- Labels are on the :class:`~ltvkit.nn.preprocess.LabelScaler` scale (divided by the mean
  positive training label), see :mod:`ltvkit.models.ltvs`.

Results on the benchmark datasets come from ``ltv benchmark`` (e.g. ``--dataset olist
--models cdltvs,ltvs@target,lgbm --sparsity 0,50``), not from this docstring. What such runs
show: the transfer helps the sparse customers most (with half of the target history hidden,
CDLtvS ranks the sparse sellers better than ``ltvs@target`` does), while with full history
the single-domain models can be as good or better. At the paper's λ3 = 2, λ4 = 1 on this label
scale the joint stage's validation MAE is best within its first epochs, so early stopping ends
the stage before the λ drop at epoch 20; ``ap_loss=False, at_loss=False`` is the comparison to
run.

Ablations (section 5.4): ``ap_loss=False`` (w/o ``L_AP``), ``at_loss=False`` (w/o ``L_AT``),
``exmn_losses=False`` (stage 1 without ``L_EC`` / ``L_EO``).

References
----------
.. [1] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import DatasetLayout
from ltvkit.errors import DataValidationError
from ltvkit.models.base.torch_model import Labels, TorchLTVModel, TrainingStage
from ltvkit.models.ltvs import ExMNLoss, LtvSNet
from ltvkit.models.registry import register
from ltvkit.nn.losses import mae_loss
from ltvkit.nn.preprocess import LabelScaler, label_statistics
from ltvkit.nn.spec import ModuleSpec
from ltvkit.nn.trainer import StepSchedule
from ltvkit.prediction import PredictionParts


# --------------------------------------------------------------------------------- losses
def alignment_pair_loss(transfer: Tensor, target: Tensor, paired: Tensor) -> Tensor:
    """``L_AP`` (eq. 15): InfoNCE with cosine similarity, mean over the paired anchors.

    ``transfer`` e^{m,o} and ``target`` e^{t,o} are ``[b, d]``; ``paired`` ``[b]`` bool marks
    ``C_a``. Anchor ``i`` scores its own target projection against every target projection
    of the batch: ``-log softmax_j(cos(m_i, t_j))[i]``.
    """
    if not bool(paired.any()):
        return transfer.new_zeros(())
    sim = F.normalize(transfer, dim=1) @ F.normalize(target, dim=1).T       # [b, b]
    log_prob = sim.diagonal() - torch.logsumexp(sim, dim=1)
    return -log_prob[paired].mean()


def alignment_type_loss(transfer: Tensor, target: Tensor, sparse: Tensor,
                        margin: float = 0.0) -> Tensor:
    """``L_AT`` (eq. 16): ``mean_{C_na} max(0, cos - η) + mean_{C_a} (1 - cos)``.

    ``transfer``, ``target`` ``[b, d]``; ``sparse`` ``[b]`` bool marks ``C_na``.
    """
    cos = F.cosine_similarity(transfer, target, dim=1)
    loss = transfer.new_zeros(())
    if bool(sparse.any()):
        loss = loss + F.relu(cos[sparse] - margin).mean()
    if not bool(sparse.all()):
        loss = loss + (1.0 - cos[~sparse]).mean()
    return loss


# --------------------------------------------------------------------------------- module
class CrossDomainNet(nn.Module):
    """Source and target LtvS branches + knowledge transfer, fusion and projections.

    ``columns`` holds the feature / channel positions of each branch (``source_features``,
    ``source_channels``, ``target_features``, ``target_channels``). ``forward`` returns
    ``{"value" [b, H], "source" / "target": the branches' LtvS outputs, "transfer_proj" /
    "target_proj" [b, d]}`` plus ``"source_label"`` / ``"sparse"`` when the batch has them
    (while fitting).
    """

    def __init__(self, source: LtvSNet, target: LtvSNet, columns: dict[str, list[int]],
                 align_dim: int, n_outputs: int, init_value: Sequence[float]):
        super().__init__()
        self.source, self.target = source, target
        for key, idx in columns.items():
            self.register_buffer(key, torch.tensor(idx, dtype=torch.long), persistent=False)
        h = source.out_dim
        self.transfer = nn.Linear(h, h)                                        # FFN_trans
        self.fusion = nn.Sequential(nn.Linear(2 * h, h), nn.ReLU(),
                                    nn.Linear(h, n_outputs), nn.ReLU())        # MLP, eq. 14
        with torch.no_grad():
            self.fusion[2].bias.copy_(torch.as_tensor(np.asarray(init_value, np.float32)))
        self.project_transfer = nn.Linear(h, align_dim, bias=False)            # W^m
        self.project_target = nn.Linear(h, align_dim, bias=False)              # W^t

    def _branch_batch(self, batch: dict[str, Tensor], features: Tensor,
                      channels: Tensor) -> dict[str, Tensor]:
        return {"features": batch["features"].index_select(1, features),
                "categorical": batch["categorical"],
                "sequences": batch["sequences"].index_select(2, channels)}

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        s = self.source(self._branch_batch(batch, self.source_features, self.source_channels))
        t = self.target(self._branch_batch(batch, self.target_features, self.target_channels))
        e_m = F.relu(self.transfer(s["representation"]))                      # eq. 13
        out: dict[str, Any] = {
            "value": self.fusion(torch.cat([e_m, t["representation"]], dim=1)),
            "source": s, "target": t,
            "transfer_proj": self.project_transfer(e_m),
            "target_proj": self.project_target(t["representation"])}
        for key in ("source_label", "sparse"):
            if key in batch:
                out[key] = batch[key]
        return out


# --------------------------------------------------------------------------------- model
@register
class CDLtvS(TorchLTVModel):
    """CDLtvS (CDLtvS paper, §4.3): LtvS pre-training per domain, then joint training with
    knowledge transfer and pair / type alignments. See the module docstring."""

    name = "cdltvs"
    tags: ClassVar[dict[str, bool]] = {"torch": True, "needs_sequences": True,
                                       "uses_attributes": True, "cross_domain": True}
    inputs: ClassVar[tuple[str, ...]] = ("features", "categorical", "sequences")
    eval_batch_size: ClassVar[int] = 2048

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 100, "batch_size": 256, "patience": 7, "n_threads": 1}

    def __init__(self, hidden: int = 128, align_dim: int = 80, n_experts: int = 4,
                       router_hidden: int = 32, embed_dim: int = 8,
                       deepfm_hidden: Sequence[int] = (64, 32),
                       tcn_channels: Sequence[int] = (32, 32), kernel_size: int = 3,
                       dropout: float = 0.0, exmn_losses: bool = True, ap_loss: bool = True,
                       at_loss: bool = True, lambda_ec: float = 10.0, lambda_eo: float = 20.0,
                       lambda_ap: float = 2.0, lambda_at: float = 1.0, margin: float = 0.0,
                       lambda_decay_epoch: int = 20, lambda_decay: float = 0.01,
                       pretrain_epochs: int | None = None, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": 8, "align_dim": 4, "n_experts": 2, "router_hidden": 4,
                 "embed_dim": 4, "deepfm_hidden": (8,), "tcn_channels": (8,),
                 "pretrain_epochs": 2, "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                 "n_threads": 1}]

    # ------------------------------------------------------------------ data
    def _source_labels(self, data: LTVDataset) -> np.ndarray:
        if self.source_domain_ not in data.labels_by_domain:
            raise DataValidationError(
                f"{self.name}: the data has no labels of the source domain "
                f"'{self.source_domain_}' (labels_by_domain) for stage-1 pre-training")
        return data.labels_for(self.horizons_, domain=self.source_domain_)

    def _training_inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        sparse = (np.zeros(len(data), bool) if data.sparse is None
                  else np.asarray(data.sparse, bool))
        return {"source_label": torch.from_numpy(
                    self.source_label_scaler_.transform(self._source_labels(data))),
                "sparse": torch.from_numpy(sparse)}

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        layout = train.layout
        if layout.source_domain is None:
            raise DataValidationError(f"{self.name} needs a dataset with two domains and a "
                                      f"target domain, got domains {train.domains} "
                                      f"(target {train.target_domain!r})")
        self.target_domain_ = str(layout.target_domain)
        self.source_domain_ = layout.source_domain
        self.domains_ = list(train.domains)
        y_source = self._source_labels(train)
        self.source_label_scaler_ = LabelScaler().fit(y_source)
        self.source_label_mean_ = label_statistics(
            self.source_label_scaler_.transform(y_source))["mean"]

    # ------------------------------------------------------------------ hooks
    def _columns(self) -> dict[str, list[int]]:
        layout = DatasetLayout(tuple(self.feature_names_), tuple(self.channel_names_),
                               tuple(self.categorical_names_), (), tuple(self.domains_),
                               self.target_domain_)
        cols = {}
        for role, domain in (("source", self.source_domain_), ("target", self.target_domain_)):
            cols[f"{role}_features"] = layout.domain_features(domain, shared=True)
            cols[f"{role}_channels"] = layout.domain_channels(domain)
            if not cols[f"{role}_channels"]:
                raise DataValidationError(f"{self.name}: the {role} domain '{domain}' has no "
                                          "sequence channels")
        return cols

    def _branch(self, n_features: int, n_channels: int, n_outputs: int,
                init_value: Sequence[float], vocab_sizes: Sequence[int]) -> LtvSNet:
        return LtvSNet(n_features, vocab_sizes, n_channels, n_outputs, hidden=self.hidden,
                       n_experts=self.n_experts, router_hidden=self.router_hidden,
                       embed_dim=self.embed_dim, deepfm_hidden=self.deepfm_hidden,
                       tcn_channels=self.tcn_channels, kernel_size=self.kernel_size,
                       dropout=self.dropout, init_value=init_value)

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        cols = self._columns()
        h = spec.n_horizons
        source = self._branch(len(cols["source_features"]), len(cols["source_channels"]), h,
                              self.source_label_mean_, spec.vocab_sizes)
        target = self._branch(len(cols["target_features"]), len(cols["target_channels"]), h,
                              spec.label_stats["mean"], spec.vocab_sizes)
        return CrossDomainNet(source, target, cols, self.align_dim, h, spec.label_stats["mean"])

    def _schedule(self, initial: float) -> StepSchedule:
        return StepSchedule(initial, self.lambda_decay_epoch, self.lambda_decay)

    @property
    def exmn_loss(self) -> ExMNLoss:
        """Stage 1's scheduled ExMN loss (zero when ``exmn_losses=False``)."""
        return ExMNLoss(self._schedule(self.lambda_ec), self._schedule(self.lambda_eo),
                        bool(self.exmn_losses))

    def _pretrain_loss(self, role: str):
        def loss(outputs: dict[str, Any], y: Tensor, epoch: int) -> Tensor:
            labels = outputs["source_label"] if role == "source" else y
            branch = outputs[role]
            return mae_loss(branch["value"], labels) + self.exmn_loss(branch, labels, epoch)

        def valid_loss(outputs: dict[str, Any], y: Tensor, epoch: int) -> Tensor:
            labels = outputs["source_label"] if role == "source" else y
            return mae_loss(outputs[role]["value"], labels)

        return loss, valid_loss

    def _alignment_loss(self, outputs: dict[str, Any], epoch: int) -> Tensor:
        """``λ3 L_AP + λ4 L_AT`` at ``epoch`` (each term off when its ablation flag is)."""
        m, t = outputs["transfer_proj"], outputs["target_proj"]
        sparse = outputs.get("sparse")
        if sparse is None:
            sparse = torch.zeros(m.shape[0], dtype=torch.bool, device=m.device)
        loss = m.new_zeros(())
        if self.ap_loss:
            loss = loss + self._schedule(self.lambda_ap)(epoch) * alignment_pair_loss(
                m, t, ~sparse)
        if self.at_loss:
            loss = loss + self._schedule(self.lambda_at)(epoch) * alignment_type_loss(
                m, t, sparse, self.margin)
        return loss

    def _loss(self, outputs: dict[str, Any], y: Tensor, epoch: int) -> Tensor:
        return mae_loss(outputs["value"], y) + self._alignment_loss(outputs, epoch)

    def _valid_loss(self, outputs: dict[str, Any], y: Tensor, epoch: int) -> Tensor:
        return mae_loss(outputs["value"], y)

    def _training_stages(self) -> list[TrainingStage]:
        stages = []
        for role in ("source", "target"):
            loss, valid_loss = self._pretrain_loss(role)
            stages.append(TrainingStage(
                f"pretrain_{role}", loss, valid_loss=valid_loss,
                parameters=lambda m, role=role: getattr(m, role).parameters(),
                max_epochs=self.pretrain_epochs))
        stages.append(TrainingStage("joint", self._loss, valid_loss=self._valid_loss))
        return stages

    def _predict_parts(self, outputs: dict[str, Any]) -> PredictionParts:
        return PredictionParts(value=outputs["value"], extras={
            "expert_source": outputs["source"]["expert"],
            "expert_target": outputs["target"]["expert"]})

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["cross_domain"] = {
            "source_domain": self.source_domain_, "target_domain": self.target_domain_,
            "domains": self.domains_,
            "source_label_scale": self.source_label_scaler_.scale,
            "source_label_mean": list(self.source_label_mean_)}
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        cross = state["cross_domain"]
        self.source_domain_, self.target_domain_ = cross["source_domain"], cross["target_domain"]
        self.domains_ = list(cross["domains"])
        self.source_label_scaler_ = LabelScaler(cross["source_label_scale"])
        self.source_label_mean_ = list(cross["source_label_mean"])
        super()._set_state(state, arrays)

