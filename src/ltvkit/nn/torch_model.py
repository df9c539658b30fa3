"""``TorchLTVModel``: the base class that implements fit / predict / save / load for deep models.

A deep model subclasses :class:`TorchLTVModel` and writes only

- ``_build_module(self, spec) -> nn.Module``: the network, called as ``module(inputs)`` with
  ``inputs = {"features": [b, F] float32, "categorical": [b, K] int64, "sequences": [b, T, C]}``
  (only the keys named in the class attribute ``inputs``);
- ``_loss(self, outputs, y, epoch) -> Tensor``: the training loss on scaled labels ``y [b, H]``;
- ``_predict_parts(self, outputs) -> PredictionParts``: the prediction rule, in scaled label
  units (this base multiplies ``value`` and ``quantiles`` back by the label scale);

plus an explicit keyword ``__init__`` that stores its arguments. A loss with scheduled auxiliary
weights (:class:`~ltvkit.nn.trainer.StepSchedule`, read via ``epoch``) should also override
``_valid_loss`` to return the main loss alone, so early stopping compares like with like
across the epoch where the weights change. The base fits the scalers
(:mod:`ltvkit.nn.preprocess`), builds tensors, trains with :class:`~ltvkit.nn.trainer.Trainer`
and saves the ``state_dict`` and scaler statistics as safetensors arrays (JSON for the rest), so
a loaded model gives bit-identical predictions. Models with several training phases (e.g.
autoencoder pre-training) override ``_training_stages``.

The hyper-parameters the base reads (each model lists the ones it exposes in its ``__init__``;
missing ones take the defaults in ``TRAINING_DEFAULTS``): ``max_epochs``, ``batch_size``,
``lr``, ``weight_decay``, ``patience``, ``grad_clip``, ``validation_fraction`` (share of the
training set held out for early stopping when ``fit`` gets no ``valid``), ``random_state``,
``device``, ``progress``, ``n_threads``, ``eval_batch_size``.

``n_threads`` (torch intra-op threads during fit and predict, restored afterwards; ``None``
leaves torch's global setting alone): the per-batch kernels of these small networks are tiny,
so on a machine whose cores are busy with other work one thread is often several times faster
than two (``python benchmarks/bench_torch.py`` measures both).

Example of a complete model file (``ltvkit/models/ziln.py`` is this plus docstrings)::

    class ZILNNet(nn.Module):
        def __init__(self, spec, hidden):
            super().__init__()
            self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
            self.mlp = MLP(self.tabular.out_dim, hidden)
            self.head = make_head("ziln", self.mlp.out_dim, spec)

        def forward(self, batch):
            return self.head(self.mlp(self.tabular(batch["features"], batch["categorical"])))

    @register
    class ZILN(TorchLTVModel):
        name = "ziln"
        tags = {"torch": True, "probabilistic": True}

        def __init__(self, hidden=(64, 32), max_epochs=400, lr=1e-3, random_state=0):
            self._store_params(locals())
            super().__init__()

        def _build_module(self, spec):
            return ZILNNet(spec, self.hidden)

        def _loss(self, outputs, y, epoch):
            return ziln_loss(outputs, y)

        def _predict_parts(self, outputs):
            return head_prediction("ziln", outputs)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base import LTVModel
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.losses import (
    RegressionHead,
    ZILNHead,
    ZILNParams,
    huber_loss,
    log1p_mse_loss,
    mae_loss,
    mse_loss,
    ziln_loss,
    ziln_mean,
    ziln_quantile,
)
from ltvkit.nn.preprocess import FeatureScaler, LabelScaler, SequenceScaler, label_statistics
from ltvkit.nn.trainer import (
    LossFn,
    TensorData,
    Trainer,
    TrainingHistory,
    resolve_device,
    thread_limit,
    training_context,
)
from ltvkit.prediction import QUANTILE_LEVELS, PredictionParts

TRAINING_DEFAULTS: dict[str, Any] = {
    "max_epochs": 100, "batch_size": 1024, "lr": 1e-3, "weight_decay": 0.0, "patience": 10,
    "grad_clip": None, "validation_fraction": 0.1, "random_state": 0, "device": "auto",
    "progress": False, "n_threads": None, "eval_batch_size": 4096,
}
# A held-out validation split needs enough rows to be a signal rather than noise.
MIN_SAMPLES_FOR_SPLIT = 50


@dataclass
class ModuleSpec:
    """What ``_build_module`` needs to know about the data (saved as JSON with the model).

    ``label_stats`` are per-horizon statistics of the *scaled* training labels
    (see :func:`~ltvkit.nn.preprocess.label_statistics`), used to initialise output biases.
    """

    n_features: int
    vocab_sizes: list[int]
    n_periods: int
    n_channels: int
    n_horizons: int
    horizon_days: list[int]
    label_stats: dict[str, list[float]]


@dataclass
class TrainingStage:
    """One phase of training: its loss, the parameters it updates and its epoch budget.

    ``parameters(module)`` returns the parameters to optimise (``None``: all);
    ``max_epochs=None`` uses the model's ``max_epochs``.
    """

    name: str
    loss: LossFn
    parameters: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None
    max_epochs: int | None = None
    valid_loss: LossFn | None = None


class TorchLTVModel(LTVModel):
    """Base class of the PyTorch models (not registered itself); see the module docstring."""

    tags: ClassVar[dict[str, bool]] = {"torch": True}
    inputs: ClassVar[tuple[str, ...]] = ("features", "categorical")

    # ------------------------------------------------------------------ subclass hooks
    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        raise NotImplementedError

    def _loss(self, outputs: Any, y: Tensor, epoch: int) -> Tensor:
        raise NotImplementedError

    def _predict_parts(self, outputs: Any) -> PredictionParts:
        raise NotImplementedError

    def _valid_loss(self, outputs: Any, y: Tensor, epoch: int) -> Tensor:
        """The loss early stopping monitors on the validation set (default: ``_loss``)."""
        return self._loss(outputs, y, epoch)

    def _training_stages(self) -> list[TrainingStage]:
        return [TrainingStage("main", self._loss, valid_loss=self._valid_loss)]

    # ------------------------------------------------------------------ helpers
    def _store_params(self, params: dict[str, Any]) -> None:
        """Store ``__init__``'s arguments unchanged (call with ``locals()``)."""
        for key, value in params.items():
            if key not in ("self", "__class__"):
                setattr(self, key, value)

    def _param(self, name: str) -> Any:
        return getattr(self, name, TRAINING_DEFAULTS[name])

    def _trainer(self, max_epochs: int | None = None) -> Trainer:
        return Trainer(
            max_epochs=int(max_epochs if max_epochs is not None else self._param("max_epochs")),
            batch_size=int(self._param("batch_size")), lr=float(self._param("lr")),
            weight_decay=float(self._param("weight_decay")),
            patience=int(self._param("patience")), grad_clip=self._param("grad_clip"),
            eval_batch_size=int(self._param("eval_batch_size")),
            device=self._param("device"), seed=int(self._param("random_state")),
            progress=bool(self._param("progress")))

    def _inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        """Scaled network inputs of ``data`` as CPU tensors (see the module docstring)."""
        out: dict[str, Tensor] = {}
        if "features" in self.inputs:
            out["features"] = torch.from_numpy(self.feature_scaler_.transform(data.features))
        if "categorical" in self.inputs:
            out["categorical"] = torch.from_numpy(
                np.ascontiguousarray(data.categorical, dtype=np.int64))
        if "sequences" in self.inputs:
            out["sequences"] = torch.from_numpy(
                np.ascontiguousarray(self.sequence_scaler_.transform(data.sequences)))
        return out

    def _labels(self, data: LTVDataset) -> np.ndarray:
        """The labels of the model's horizons ``[n, H]``."""
        missing = [h for h in self.horizons_ if h not in data.horizons]
        if missing:
            raise ModelError(f"{self.name}: the data has no labels for horizon(s) {missing}")
        return data.labels[:, [data.horizons.index(h) for h in self.horizons_]]

    # ------------------------------------------------------------------ fit / predict
    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        device = resolve_device(self._param("device"))
        self.feature_scaler_ = FeatureScaler().fit(train.features)
        self.sequence_scaler_ = (SequenceScaler().fit(train.sequences)
                                 if "sequences" in self.inputs else None)
        y_train = self._labels(train)
        self.label_scaler_ = LabelScaler().fit(y_train)
        train_data = TensorData(self._inputs(train),
                                torch.from_numpy(self.label_scaler_.transform(y_train)))
        valid_data = None
        if valid is not None:
            valid_data = TensorData(self._inputs(valid), torch.from_numpy(
                self.label_scaler_.transform(self._labels(valid))))
        else:
            train_data, valid_data = self._holdout(train_data)
        self.spec_ = ModuleSpec(
            n_features=len(train.feature_names), vocab_sizes=[int(v) for v in self.vocab_sizes_],
            n_periods=int(train.sequences.shape[1]), n_channels=int(train.sequences.shape[2]),
            n_horizons=len(self.horizons_),
            horizon_days=[int(train.horizon_days[train.horizons.index(h)])
                          for h in self.horizons_],
            label_stats=label_statistics(train_data.targets.numpy()))
        self.history_: dict[str, TrainingHistory] = {}
        with training_context(int(self._param("random_state")), device,
                              self._param("n_threads")):
            self.module_ = self._build_module(self.spec_)
            for stage in self._training_stages():
                params = stage.parameters(self.module_) if stage.parameters else None
                self.history_[stage.name] = self._trainer(stage.max_epochs).fit(
                    self.module_, train_data, valid_data, stage.loss,
                    valid_loss_fn=stage.valid_loss, parameters=params)

    def _holdout(self, data: TensorData) -> tuple[TensorData, TensorData | None]:
        """Hold out ``validation_fraction`` of the rows (seeded) for early stopping."""
        n = len(data)
        n_valid = int(round(float(self._param("validation_fraction")) * n))
        if n < MIN_SAMPLES_FOR_SPLIT or n_valid < 1:
            return data, None  # too small to split: early stopping watches the training loss
        perm = torch.from_numpy(np.random.default_rng(int(self._param("random_state")))
                                .permutation(n))
        train_idx, valid_idx = perm[n_valid:], perm[:n_valid]
        return (TensorData(*data.take(train_idx)), TensorData(*data.take(valid_idx)))

    def _forward(self, data: LTVDataset) -> Any:
        """Raw network outputs for every sample of ``data`` (eval mode, no autograd)."""
        with thread_limit(self._param("n_threads")):
            return self._trainer().predict(self.module_, self._inputs(data))

    def _predict(self, data: LTVDataset) -> PredictionParts:
        outputs = self._forward(data)
        with torch.inference_mode():
            parts = self._predict_parts(outputs)
        scale = self.label_scaler_.scale
        value = _numpy(parts.value) * scale
        quantiles = None if parts.quantiles is None else {
            q: _numpy(v) * scale for q, v in parts.quantiles.items()}
        return PredictionParts(
            value=value, p_active=None if parts.p_active is None else _numpy(parts.p_active),
            quantiles=quantiles, bucket_probs=(None if parts.bucket_probs is None
                                               else _numpy(parts.bucket_probs)),
            extras={k: _numpy(v) for k, v in parts.extras.items()})

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {f"module.{k}": v.detach().cpu().numpy()
                  for k, v in self.module_.state_dict().items()}
        arrays.update(self.feature_scaler_.to_arrays("scaler.features."))
        if self.sequence_scaler_ is not None:
            arrays.update(self.sequence_scaler_.to_arrays("scaler.sequences."))
        history = {name: {k: _json_floats(v) for k, v in h.to_dict().items()}
                   for name, h in self.history_.items()}
        state = {"spec": dataclasses.asdict(self.spec_), "label_scale": self.label_scaler_.scale,
                 "history": history}
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.spec_ = ModuleSpec(**state["spec"])
        self.label_scaler_ = LabelScaler(state["label_scale"])
        self.feature_scaler_ = FeatureScaler.from_arrays(arrays, "scaler.features.")
        self.sequence_scaler_ = (SequenceScaler.from_arrays(arrays, "scaler.sequences.")
                                 if "scaler.sequences.scale" in arrays else None)
        self.history_ = {name: TrainingHistory(**{k: _from_json_floats(v) for k, v in h.items()})
                         for name, h in state.get("history", {}).items()}
        with torch.random.fork_rng(devices=[]):  # building draws random init weights
            module = self._build_module(self.spec_)
        weights = {k.removeprefix("module."): torch.from_numpy(v.copy())
                   for k, v in arrays.items() if k.startswith("module.")}
        module.load_state_dict(weights, strict=True)
        self.module_ = module.eval()


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy().astype(np.float64)
    return np.asarray(x, dtype=np.float64)


def _from_json_floats(value: Any) -> Any:
    """None -> NaN (the inverse of :func:`_json_floats` for loss histories)."""
    if value is None:
        return math.nan
    if isinstance(value, list):
        return [_from_json_floats(v) for v in value]
    return value


def _json_floats(value: Any) -> Any:
    """NaN / inf -> None, so the history is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_json_floats(v) for v in value]
    return value


# --------------------------------------------------------------------------------- heads
HEAD_KINDS = ("ziln", "mse", "log1p_mse", "huber", "mae")


def make_head(kind: str, in_dim: int, spec: ModuleSpec, tower_hidden: Sequence[int] = (),
              monotone: bool = False) -> nn.Module:
    """The output head of a loss ``kind`` for ``spec.n_horizons``, biases set from the labels.

    ``"ziln"`` -> :class:`ZILNHead` (outputs :class:`ZILNParams`); the others ->
    :class:`RegressionHead` (outputs ``[b, H]``; ``"log1p_mse"`` predicts ``log1p(y)``).
    """
    if kind not in HEAD_KINDS:
        raise ModelError(f"unknown loss '{kind}'; choose one of {', '.join(HEAD_KINDS)}")
    stats = spec.label_stats
    if kind == "ziln":
        empty = [h for h, rate in enumerate(stats["positive_rate"]) if rate <= 0]
        if empty:
            # Without one positive label mu and sigma get no gradient at all: refuse, clearly.
            raise ModelError(f"a ZILN head needs positive labels to fit the spend distribution, "
                             f"but every training label of horizon(s) {empty} is 0")
        head = ZILNHead(in_dim, spec.n_horizons, tower_hidden, monotone)
        head.init_bias(stats["positive_rate"], stats["log_mean"], stats["log_std"])
        return head
    head = RegressionHead(in_dim, spec.n_horizons, tower_hidden, monotone)
    head.init_bias(stats["log1p_mean"] if kind == "log1p_mse" else stats["mean"])
    return head


def head_loss(kind: str, outputs: Any, y: Tensor) -> Tensor:
    """The training loss of a head ``kind`` on scaled labels ``y [b, H]``."""
    if kind == "ziln":
        return ziln_loss(outputs, y)
    if kind == "log1p_mse":
        return log1p_mse_loss(outputs, y)
    return {"mse": mse_loss, "huber": huber_loss, "mae": mae_loss}[kind](outputs, y)


def head_prediction(kind: str, outputs: Any) -> PredictionParts:
    """The prediction rule of a head ``kind`` (scaled label units).

    ZILN: ``E[Y] = p exp(mu + s^2/2)``, ``p_active = p`` and the 0.1 / 0.5 / 0.9 quantiles;
    ``log1p_mse``: ``expm1`` of the prediction; the others: the output itself.
    """
    if kind == "ziln":
        # float64: exp(mu + s^2/2) of an extreme sample must not overflow float32's 3e38.
        params: ZILNParams = outputs.double()
        return PredictionParts(value=ziln_mean(params), p_active=params.p,
                               quantiles={q: ziln_quantile(params, q) for q in QUANTILE_LEVELS})
    if kind == "log1p_mse":
        return PredictionParts(value=torch.expm1(outputs).clamp_min(0.0))
    return PredictionParts(value=outputs)


# --------------------------------------------------------------------------------- sequences
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


class SequenceTorchModel(TorchLTVModel):
    """Base of the sequence models (lstm, gru, tcn, transformer, cnn); not registered.

    A subclass implements ``_build_encoder(spec) -> nn.Module`` (``[b, T, C] -> [b, out_dim]``)
    and exposes ``static_hidden``, ``hidden``, ``dropout`` and ``loss`` (``"ziln"`` default:
    probabilistic output; ``"mse"`` etc.: point prediction only, no ``p_active`` / quantiles).
    """

    tags: ClassVar[dict[str, bool]] = {"torch": True, "needs_sequences": True,
                                       "probabilistic": True, "uses_attributes": True}
    inputs: ClassVar[tuple[str, ...]] = ("features", "categorical", "sequences")
    # Sequence activations are T times wider than an MLP's: smaller batches stay in cache.
    eval_batch_size: ClassVar[int] = 2048

    def _build_encoder(self, spec: ModuleSpec) -> nn.Module:
        raise NotImplementedError

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return SequenceNet(self._build_encoder(spec), spec, self.static_hidden, self.hidden,
                           self.loss, self.dropout)

    def _loss(self, outputs: Any, y: Tensor, epoch: int) -> Tensor:
        return head_loss(self.loss, outputs, y)

    def _predict_parts(self, outputs: Any) -> PredictionParts:
        return head_prediction(self.loss, outputs)
