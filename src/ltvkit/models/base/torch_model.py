"""``TorchLTVModel``: the base class that fits, predicts, saves and loads every deep model.

A deep model subclasses :class:`TorchLTVModel` and writes only its network, its loss and its
prediction rule:

- ``_build_module(self, spec) -> nn.Module``: the network, called as ``module(inputs)`` with
  ``inputs = {"features": [b, F] float32, "categorical": [b, K] int64, "sequences": [b, T, C]}``
  (the keys named in the class attribute ``inputs``, plus the model's extra inputs);
- ``_loss(self, outputs, y, epoch) -> Tensor``: the training loss on scaled labels ``y [b, H]``;
- ``_predict_parts(self, outputs) -> PredictionParts``: the prediction rule, in scaled label
  units.

What the base owns, so no model re-implements it:

- **Label scaling.** Labels are divided by one scale (:class:`~ltvkit.nn.preprocess.LabelScaler`)
  before training; the base multiplies ``value``, ``quantiles`` and every extra named in the
  class attribute ``value_extras`` back to the label unit. A model that derives constants from
  the training labels (bucket edges, caps) learns them in ``_fit_label_state(train, labels)``,
  which receives the labels in both units (:class:`Labels`), and places label-valued numbers in
  the network's units with ``spec.to_scaled``.
- **Inputs.** Feature / sequence scaling, unseen categories (code 0), and two hooks for more:
  ``_extra_inputs(data)`` (read at fit and predict time) and ``_training_inputs(data)`` (added
  to the training and validation tensors only, never at prediction: e.g. a source domain's
  labels for pre-training).
- **Training hyper-parameters**, one set of defaults (:data:`TRAINING_DEFAULTS`), accepted by
  every torch model as keyword arguments (``ZILN(max_epochs=5)``) and reported by
  ``get_params``; a model family that needs other defaults declares them once in the class
  attribute ``training_defaults``.
- ``network`` (the fitted module) and ``network_outputs(data)`` (raw outputs, for a model's
  own inspection methods such as attention weights).

A loss with scheduled auxiliary weights should also override ``_valid_loss`` to return the
main loss alone, so early stopping compares like with like; models with several training
phases override ``_training_stages``.

``n_threads`` (torch intra-op threads during fit and predict, restored afterwards; ``None``
leaves torch's global setting alone): the per-batch kernels of these small networks are tiny,
so on a machine whose cores are busy one thread can be faster than two.

A complete model file::

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

        def __init__(self, hidden=(64, 32), **training):
            self._store_params(locals())
            super().__init__(**training)

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError, NotFittedError
from ltvkit.models.base.model import LTVModel
from ltvkit.nn.heads import head_loss, head_prediction
from ltvkit.nn.preprocess import FeatureScaler, LabelScaler, SequenceScaler, label_statistics
from ltvkit.nn.sequence import SequenceNet
from ltvkit.nn.spec import ModuleSpec
from ltvkit.nn.trainer import (
    LossFn,
    TensorData,
    Trainer,
    TrainingHistory,
    resolve_device,
    thread_limit,
    training_context,
)
from ltvkit.prediction import PredictionParts

#: The training hyper-parameters every torch model accepts, with their one set of defaults.
TRAINING_DEFAULTS: dict[str, Any] = {
    "max_epochs": 200, "batch_size": 1024, "lr": 1e-3, "weight_decay": 0.0, "patience": 10,
    "grad_clip": None, "validation_fraction": 0.1, "random_state": 0, "device": "auto",
    "progress": False, "n_threads": None,
}
# A held-out validation split needs enough rows to be a signal rather than noise.
MIN_SAMPLES_FOR_SPLIT = 50


@dataclass
class Labels:
    """The training labels of the model's horizons ``[n, H]`` float64, in the label unit
    (``raw``) and divided by the label scale (``scaled``, the unit the network trains in)."""

    raw: np.ndarray
    scaled: np.ndarray
    scale: float


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
    #: Extras of ``_predict_parts`` in scaled label units (multiplied back by the base).
    value_extras: ClassVar[tuple[str, ...]] = ()
    #: This family's departures from TRAINING_DEFAULTS (declared once, here).
    training_defaults: ClassVar[dict[str, Any]] = {}
    #: Rows per forward pass at prediction time.
    eval_batch_size: ClassVar[int] = 4096

    def __init__(self, **training: Any) -> None:
        unknown = sorted(set(training) - set(TRAINING_DEFAULTS))
        if unknown:
            raise ModelError(f"{self.name}: unknown parameter(s) {unknown}; known: "
                             f"{self._param_names()}")
        for key, default in {**TRAINING_DEFAULTS, **self.training_defaults}.items():
            setattr(self, key, training.get(key, default))
        super().__init__()

    @classmethod
    def _param_names(cls) -> list[str]:
        own = [p for p in super()._param_names() if p not in TRAINING_DEFAULTS]
        return own + list(TRAINING_DEFAULTS)

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

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        """Learn label-derived state (bucket edges, caps) before the network is built."""

    def _extra_inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        """Inputs beyond features / categorical / sequences, at fit and predict time."""
        return {}

    def _training_inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        """Inputs of the training and validation tensors only (never read at predict time)."""
        return {}

    # ------------------------------------------------------------------ services
    @property
    def reads_sequences(self) -> bool:
        return "sequences" in self.inputs or super().reads_sequences

    @property
    def network(self) -> nn.Module:
        """The fitted network."""
        module = getattr(self, "module_", None)
        if module is None:
            raise NotFittedError(f"{self.name}: the network exists after fit() or load()")
        return module

    def network_outputs(self, data: LTVDataset) -> Any:
        """The raw network outputs for every sample of ``data`` (checked as ``predict``
        checks it, unseen categories mapped to code 0), for a model's inspection methods."""
        return self._forward(self._prediction_data(data))

    # ------------------------------------------------------------------ internals
    def _trainer(self, max_epochs: int | None = None) -> Trainer:
        return Trainer(
            max_epochs=int(max_epochs if max_epochs is not None else self.max_epochs),
            batch_size=int(self.batch_size), lr=float(self.lr),
            weight_decay=float(self.weight_decay), patience=int(self.patience),
            grad_clip=self.grad_clip, eval_batch_size=int(self.eval_batch_size),
            device=self.device, seed=int(self.random_state), progress=bool(self.progress))

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
        out.update(self._extra_inputs(data))
        return out

    def _tensors(self, data: LTVDataset) -> TensorData:
        """Inputs (with the training-only ones) and scaled labels of a training set."""
        inputs = {**self._inputs(data), **self._training_inputs(data)}
        return TensorData(inputs, torch.from_numpy(
            self.label_scaler_.transform(data.labels_for(self.horizons_))))

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        device = resolve_device(self.device)
        self.feature_scaler_ = FeatureScaler().fit(train.features)
        self.sequence_scaler_ = (SequenceScaler().fit(train.sequences)
                                 if "sequences" in self.inputs else None)
        y_train = train.labels_for(self.horizons_)
        self.label_scaler_ = LabelScaler().fit(y_train)
        scale = self.label_scaler_.scale
        self._fit_label_state(train, Labels(y_train, y_train / scale, scale))
        train_data = self._tensors(train)
        if valid is not None:
            valid_data = self._tensors(valid)
        else:
            train_data, valid_data = self._holdout(train_data)
        layout = train.layout
        self.spec_ = ModuleSpec(
            n_features=len(train.feature_names), vocab_sizes=[int(v) for v in self.vocab_sizes_],
            n_periods=int(train.sequences.shape[1]), n_channels=int(train.sequences.shape[2]),
            n_horizons=len(self.horizons_),
            horizon_days=[layout.horizon(h).days for h in self.horizons_],
            label_stats=label_statistics(train_data.targets.numpy()), label_scale=scale)
        self.history_: dict[str, TrainingHistory] = {}
        with training_context(int(self.random_state), device, self.n_threads):
            self.module_ = self._build_module(self.spec_)
            for stage in self._training_stages():
                params = stage.parameters(self.module_) if stage.parameters else None
                self.history_[stage.name] = self._trainer(stage.max_epochs).fit(
                    self.module_, train_data, valid_data, stage.loss,
                    valid_loss_fn=stage.valid_loss, parameters=params)

    def _holdout(self, data: TensorData) -> tuple[TensorData, TensorData | None]:
        """Hold out ``validation_fraction`` of the rows (seeded) for early stopping."""
        n = len(data)
        n_valid = int(round(float(self.validation_fraction) * n))
        if n < MIN_SAMPLES_FOR_SPLIT or n_valid < 1:
            return data, None  # too small to split: early stopping watches the training loss
        perm = torch.from_numpy(np.random.default_rng(int(self.random_state)).permutation(n))
        train_idx, valid_idx = perm[n_valid:], perm[:n_valid]
        return (TensorData(*data.take(train_idx)), TensorData(*data.take(valid_idx)))

    def _forward(self, data: LTVDataset) -> Any:
        """Raw network outputs for every sample of ``data`` (eval mode, no autograd)."""
        with thread_limit(self.n_threads):
            return self._trainer().predict(self.network, self._inputs(data))

    def _predict(self, data: LTVDataset) -> PredictionParts:
        outputs = self._forward(data)
        with torch.inference_mode():
            parts = self._predict_parts(outputs)
        scale = self.label_scaler_.scale
        extras = {k: _numpy(v) for k, v in parts.extras.items()}
        for key in self.value_extras:
            extras[key] = extras[key] * scale
        return PredictionParts(
            value=_numpy(parts.value) * scale,
            p_active=None if parts.p_active is None else _numpy(parts.p_active),
            quantiles=None if parts.quantiles is None else {
                q: _numpy(v) * scale for q, v in parts.quantiles.items()},
            bucket_probs=None if parts.bucket_probs is None else _numpy(parts.bucket_probs),
            extras=extras)

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
        self.spec_ = ModuleSpec(**{"label_scale": state["label_scale"], **state["spec"]})
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
        return x.detach().cpu().numpy().astype(np.float64, copy=False)
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


# --------------------------------------------------------------------------------- sequences
class SequenceTorchModel(TorchLTVModel):
    """Base of the sequence models (lstm, gru, tcn, transformer, cnn); not registered.

    A subclass implements ``_build_encoder(spec) -> nn.Module`` (``[b, T, C] -> [b, out_dim]``)
    and exposes ``static_hidden``, ``hidden``, ``dropout`` and ``loss`` (``"ziln"`` default:
    probabilistic output; ``"mse"`` etc.: point prediction only, no ``p_active`` / quantiles).
    """

    tags: ClassVar[dict[str, bool]] = {"torch": True, "needs_sequences": True,
                                       "probabilistic": True, "uses_attributes": True}
    inputs: ClassVar[tuple[str, ...]] = ("features", "categorical", "sequences")
    # Recurrent and convolutional encoders over periods train more stably with clipping.
    training_defaults: ClassVar[dict[str, Any]] = {"grad_clip": 1.0}
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
