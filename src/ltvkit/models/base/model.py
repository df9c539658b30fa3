"""The model contract: the base class owns validation, persistence and bookkeeping.

A model subclasses :class:`LTVModel` and implements only private hooks:

- ``__init__(self, a=1, b=2, random_state=0)``: store the arguments unchanged, call
  ``super().__init__()``; no logic (so ``get_params`` / configs / ``clone`` round-trip).
- ``_fit(self, train, valid)``: learn from an :class:`LTVDataset` (``valid`` may be ``None``).
- ``_predict(self, data) -> PredictionParts``: value ``[n, H]`` and optional extras.
- ``_get_state(self) -> (json_dict, arrays)`` and ``_set_state(self, json_dict, arrays)``:
  what ``save`` writes (JSON + safetensors; no pickle). Models with native weight files also
  implement ``_save_files(dir)`` / ``_load_files(dir)`` (e.g. LightGBM's text booster).

Class attributes: ``name`` (registry key), ``tags`` (capabilities) and ``test_params()``.
Register a model with :func:`ltvkit.models.registry.register`.
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ltvkit import __version__
from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import DataValidationError, ModelError, NotFittedError
from ltvkit.files import sha256_of
from ltvkit.models.registry import SAVE_FORMAT_VERSION, load_model
from ltvkit.prediction import Prediction, PredictionParts

DEFAULT_TAGS: dict[str, bool] = {
    "needs_sequences": False,   # reads dataset.sequences
    "uses_attributes": False,   # reads customer attributes (categorical codes / attr features)
    "multi_horizon": False,     # predicts every horizon of the dataset at once
    "cross_domain": False,      # needs a cross-domain dataset
    "probabilistic": False,     # returns p_active and quantiles
    "torch": False,             # needs PyTorch
    "unsupervised": False,      # never reads the labels (BTYD, ARIMA, historical mean)
}
# Types of the parameters that models take as ``**training`` keyword arguments (so their
# signature does not declare them), and value rules by parameter name, for every model.
_UNDECLARED_TYPES: dict[str, str] = {
    "max_epochs": "int", "batch_size": "int", "lr": "float", "weight_decay": "float",
    "patience": "int", "grad_clip": "float | None", "validation_fraction": "float",
    "random_state": "int", "device": "str", "progress": "bool", "n_threads": "int | None",
}
_RULES: dict[str, tuple[str, Any]] = {
    "max_epochs": (">= 1", lambda v: v >= 1), "batch_size": (">= 1", lambda v: v >= 1),
    "pretrain_epochs": (">= 0", lambda v: v >= 0),
    "lr": ("> 0", lambda v: v > 0), "learning_rate": ("> 0", lambda v: v > 0),
    "weight_decay": (">= 0", lambda v: v >= 0), "patience": (">= 0", lambda v: v >= 0),
    "grad_clip": ("> 0", lambda v: v > 0),
    "validation_fraction": ("in [0, 1)", lambda v: 0 <= v < 1),
    "dropout": ("in [0, 1)", lambda v: 0 <= v < 1),
    "n_threads": (">= 1", lambda v: v >= 1),
    "n_estimators": (">= 1", lambda v: v >= 1), "num_leaves": (">= 2", lambda v: v >= 2),
    "min_child_samples": (">= 1", lambda v: v >= 1),
    "subsample": ("in (0, 1]", lambda v: 0 < v <= 1),
    "colsample_bytree": ("in (0, 1]", lambda v: 0 < v <= 1),
    "reg_lambda": (">= 0", lambda v: v >= 0),
    "penalizer": (">= 0", lambda v: v >= 0), "log_penalizer": (">= 0", lambda v: v >= 0),
}
# Layer widths and counts: every element (or the number itself) must be >= 1.
_WIDTH_WORDS = ("hidden", "channels", "_dim", "n_layers", "n_heads", "n_experts",
                "kernel_size", "width")


def _type_ok(value: Any, annotation: str) -> bool | None:
    """Whether ``value`` fits the annotation text (None: an annotation this check does not
    read)."""
    ann = annotation.replace(" ", "")
    options = ann.split("|") if "[" not in ann or ann.endswith("|None") else [ann]
    if ann.endswith("|None") and "[" in ann:
        options = [ann[:-len("|None")], "None"]
    verdicts = []
    for opt in options:
        if opt == "None":
            verdicts.append(value is None)
        elif opt == "bool":
            verdicts.append(isinstance(value, bool))
        elif opt == "int":
            verdicts.append(isinstance(value, (int, np.integer)) and not isinstance(value, bool))
        elif opt == "float":
            verdicts.append(isinstance(value, (int, float, np.integer, np.floating))
                            and not isinstance(value, bool) and bool(np.isfinite(value)))
        elif opt == "str":
            verdicts.append(isinstance(value, str))
        elif opt.startswith("Sequence[") and opt.endswith("]"):
            inner = opt[len("Sequence["):-1]
            if not isinstance(value, (list, tuple)):
                verdicts.append(False)
            else:
                sub = [_type_ok(v, inner) for v in value]
                verdicts.append(None if None in sub else all(sub))
        else:
            verdicts.append(None)
    if any(v is True for v in verdicts):
        return True
    return None if any(v is None for v in verdicts) else False


def _is_width(name: str) -> bool:
    return any(w in name for w in _WIDTH_WORDS)


class LTVModel:
    """Base class of every ltvkit model (see the module docstring for the hooks)."""

    name: ClassVar[str] = ""
    tags: ClassVar[dict[str, bool]] = {}

    def __init__(self) -> None:
        self._fitted = False

    def _store_params(self, params: dict[str, Any]) -> None:
        """Store ``__init__``'s arguments unchanged (call with ``locals()``)."""
        for key in self._param_names():
            if key in params:
                setattr(self, key, params[key])

    # ------------------------------------------------------------------ params
    @classmethod
    def tag(cls, key: str) -> bool:
        return {**DEFAULT_TAGS, **cls.tags}.get(key, False)

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"
                and sig.parameters[p].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                   inspect.Parameter.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params: Any) -> LTVModel:
        self.check_params(params)
        for k, v in params.items():
            setattr(self, k, v)
        return self

    @classmethod
    def _param_annotations(cls) -> dict[str, str]:
        """The declared type (annotation text) of every hyper-parameter."""
        sig = inspect.signature(cls.__init__)
        out = {}
        for name in cls._param_names():
            p = sig.parameters.get(name)
            ann = p.annotation if p is not None else inspect.Parameter.empty
            if ann is inspect.Parameter.empty:
                ann = _UNDECLARED_TYPES.get(name, "")
            out[name] = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
        return out

    @classmethod
    def check_params(cls, params: Any) -> None:
        """Raise :class:`ModelError` unless ``params`` is a dict of known hyper-parameters whose
        values have the declared types and fit the value rules (widths >= 1, epochs >= 1,
        rates > 0, shares in range); the message names the parameter, the rule and the value."""
        if not isinstance(params, dict):
            raise ModelError(f"{cls.name}: hyper-parameters must be a JSON object / dict of "
                             f"name: value, got {type(params).__name__}")
        known = cls._param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ModelError(f"{cls.name}: {len(unknown)} unknown parameter(s) {unknown}; "
                             f"known: {known}")
        annotations = cls._param_annotations()
        for name, value in params.items():
            ann = annotations.get(name, "")
            if ann and _type_ok(value, ann) is False:
                raise ModelError(f"{cls.name}: parameter '{name}' must be {ann}, got "
                                 f"{value!r} ({type(value).__name__}) (rule: declared type)")
            if value is None or isinstance(value, (str, bool)):
                continue
            rule = _RULES.get(name)
            if rule is not None and isinstance(value, (int, float, np.number)) and \
                    not rule[1](value):
                raise ModelError(f"{cls.name}: parameter '{name}' must be {rule[0]}, got "
                                 f"{value!r} (rule: {name} {rule[0]})")
            if _is_width(name):
                items = value if isinstance(value, (list, tuple)) else [value]
                bad = [v for v in items if isinstance(v, (int, np.integer)) and v < 1]
                if bad:
                    raise ModelError(f"{cls.name}: parameter '{name}' needs sizes >= 1, got "
                                     f"{value!r} (rule: {name} >= 1)")

    def clone(self) -> LTVModel:
        """An unfitted copy with the same hyper-parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        """Tiny configurations that fit quickly, for the conformance suite."""
        return [{}]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fit / predict
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "_fitted", False)

    @property
    def reads_sequences(self) -> bool:
        """Whether the model reads ``dataset.sequences``: a loader may skip them otherwise
        (``LTVDataset.load(path, sequences=model.reads_sequences)``). Declared once per base
        class: here by the ``needs_sequences`` tag; the torch base by its ``inputs``, the
        ensemble base by its members."""
        return bool(self.tag("needs_sequences"))

    @property
    def predicts_rows_independently(self) -> bool:
        """Whether a sample's prediction is the same number whatever other samples are
        predicted with it, so a dataset may be predicted in chunks (``ltvkit.score``).
        ``False`` unless a base class knows better: simulated intervals (BTYD) draw one random
        stream per call and vectorised torch kernels round an array's tail apart; the
        LightGBM models, which walk every row's trees alone, say ``True``."""
        return False

    def _check_dataset(self, data: Any, role: str) -> LTVDataset:
        if not isinstance(data, LTVDataset):
            raise DataValidationError(
                f"{self.name}: {role} must be an LTVDataset, got {type(data).__name__}")
        if len(data) == 0:
            raise DataValidationError(f"{self.name}: the {role} dataset has no samples")
        if self.tag("cross_domain") and not data.domains:
            raise DataValidationError(f"{self.name} needs a cross-domain dataset "
                                      "(built from a log with a domain column)")
        if self.reads_sequences and not getattr(data, "sequences_loaded", True):
            raise DataValidationError(
                f"{self.name} reads period sequences, but the {role} dataset was loaded "
                "without them (sequences=False); load it with sequences=True",
                column="sequences", rule="loaded")
        if self.tag("needs_sequences") and data.sequences.shape[1] == 0:
            raise DataValidationError(f"{self.name} needs period sequences (n_periods >= 1)")
        return data

    def fit(self, train: LTVDataset, valid: LTVDataset | None = None) -> LTVModel:
        """Learn from ``train`` (``valid`` is used for early stopping where a model has it)."""
        self.check_params(self.get_params())
        self._validate_params()
        train = self._check_dataset(train, "training")
        if not np.all(np.isfinite(train.labels)) or np.any(train.labels < 0):
            raise DataValidationError(f"{self.name}: training labels must be finite and >= 0")
        if valid is not None:
            valid = self._check_dataset(valid, "validation")
            if valid.feature_names != train.feature_names:
                raise DataValidationError(f"{self.name}: validation features differ from "
                                          "training features")
        self.horizons_ = list(train.horizons) if self.tag("multi_horizon") else [
            train.horizons[0]]
        self.feature_names_ = list(train.feature_names)
        self.categorical_names_ = list(train.categorical_names)
        self.vocab_sizes_ = [len(train.vocabularies.get(c, [])) or
                             int(train.categorical[:, j].max()) + 1
                             for j, c in enumerate(train.categorical_names)]
        self.sequence_shape_ = list(train.sequences.shape[1:])
        self.channel_names_ = list(train.channel_names)
        self.schema_ = dataset_schema(train)
        self._fit(train, valid)
        self._fitted = True
        return self

    def _prediction_data(self, data: LTVDataset) -> LTVDataset:
        """``data`` checked against the training schema, unseen categories mapped to code 0:
        what every prediction path (``predict`` and a model's own inspection methods) reads."""
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: call fit() (or load a saved model) before predict()")
        data = self._check_dataset(data, "prediction")
        if list(data.feature_names) != self.feature_names_:
            missing = sorted(set(self.feature_names_) - set(data.feature_names))
            raise DataValidationError(
                f"{self.name}: the data's features differ from those the model was trained on"
                + (f" (missing: {missing[:5]})" if missing else ""))
        if list(data.categorical_names) != self.categorical_names_:
            raise DataValidationError(f"{self.name}: categorical columns differ from training "
                                      f"({data.categorical_names} vs {self.categorical_names_})")
        if self.tag("needs_sequences") and list(data.channel_names) != self.channel_names_:
            raise DataValidationError(
                f"{self.name}: the data's sequence channels differ from training "
                f"({list(data.channel_names)} vs {self.channel_names_})")
        self._check_schema(data)
        return self._remap_unseen_categories(data)

    def _check_schema(self, data: LTVDataset) -> None:
        """The dataset was built like the training dataset: it has the model's horizons, the
        same sequence shape (sequence models) and the same time rule (period, lookback)."""
        missing = [h for h in self.horizons_ if h not in data.horizons]
        if missing:
            raise DataValidationError(
                f"{self.name}: the model predicts horizon(s) {missing} but the dataset was "
                f"built for {list(data.horizons)} (rule: same horizons as training); prepare "
                "the data with the model's horizons", rule="same horizons")
        if self.tag("needs_sequences") and list(data.sequences.shape[1:]) != \
                list(self.sequence_shape_):
            raise DataValidationError(
                f"{self.name}: the data's sequences are {list(data.sequences.shape[1:])} "
                f"(periods x channels), the model was trained on {list(self.sequence_shape_)} "
                "(rule: same sequence shape)", rule="same sequence shape")
        saved = getattr(self, "schema_", None) or {}
        now = dataset_schema(data)
        for key in ("period", "lookback"):
            if key in saved and key in now and saved[key] != now[key]:
                raise DataValidationError(
                    f"{self.name}: the dataset's {key} is {now[key]!r}, the model was trained "
                    f"with {saved[key]!r} (rule: same time rule as training)",
                    rule="same time rule")

    def _remap_unseen_categories(self, data: LTVDataset) -> LTVDataset:
        """Categories unseen at training time map to the "<unknown>" code 0 (on a copy)."""
        if not self.categorical_names_:
            return data
        data = data.subset(np.arange(len(data)))
        sizes = np.asarray(self.vocab_sizes_)
        data.categorical = np.where(data.categorical < sizes, data.categorical, 0)
        return data

    def predict(self, data: LTVDataset) -> Prediction:
        """Predict every sample of ``data``; one row per (customer, cutoff), none dropped."""
        data = self._prediction_data(data)
        parts = self._predict(data)
        value = np.asarray(parts.value, dtype=np.float64)
        if value.ndim == 1:
            value = value[:, None]
        if value.shape != (len(data), len(self.horizons_)):
            raise ModelError(f"{self.name}: _predict returned shape {value.shape}, expected "
                             f"{(len(data), len(self.horizons_))}")
        if not np.all(np.isfinite(value)):
            raise ModelError(f"{self.name}: {int((~np.isfinite(value)).sum())} predictions are "
                             "not finite")
        # Spend cannot be negative; models whose regressors can undershoot are floored at 0.
        value = np.maximum(value, 0.0)

        def as2d(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            a = np.asarray(a, dtype=np.float64)
            return a[:, None] if a.ndim == 1 else a

        return Prediction(
            customer_id=data.customer_id, cutoff=data.cutoff, horizons=list(self.horizons_),
            value=value, p_active=as2d(parts.p_active),
            quantiles=None if parts.quantiles is None else {
                float(q): np.maximum(as2d(v), 0.0) for q, v in parts.quantiles.items()},
            bucket_probs=parts.bucket_probs, extras=parts.extras,
        )

    # ------------------------------------------------------------------ hooks
    def _validate_params(self) -> None:
        """Check the hyper-parameters at the start of ``fit`` (raise ModelError, say which)."""

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        raise NotImplementedError

    def _predict(self, data: LTVDataset) -> PredictionParts:
        raise NotImplementedError

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass

    def _save_files(self, directory: Path) -> None:
        pass

    def _load_files(self, directory: Path) -> None:
        pass

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` (hyper-parameters, schema, state) and ``arrays.safetensors``."""
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: fit the model before saving it")
        from safetensors.numpy import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state, arrays = self._get_state()
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                  str(out / "arrays.safetensors"))
        self._save_files(out)
        config = {
            "model": self.name, "format_version": SAVE_FORMAT_VERSION,
            "ltvkit_version": __version__, "params": encode_params(self.get_params()),
            "horizons": self.horizons_, "feature_names": self.feature_names_,
            "categorical_names": self.categorical_names_, "vocab_sizes": self.vocab_sizes_,
            "sequence_shape": self.sequence_shape_, "channel_names": self.channel_names_,
            "schema": getattr(self, "schema_", None) or {},
            "state": state,
            # sha256 of every weight / booster file, verified before anything is loaded.
            "files": file_checksums(out),
        }
        (out / "config.json").write_text(json.dumps(config, indent=2, default=_json_default))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> LTVModel:
        """Load a model saved by :meth:`save` (any registered model when called on the base)."""
        model = load_model(directory)
        if cls is not LTVModel and not isinstance(model, cls):
            raise ModelError(f"{directory} holds a '{model.name}' model, not {cls.name}")
        return model

    @classmethod
    def _restore(cls, src: Path, config: dict[str, Any]) -> LTVModel:
        """The model saved in ``src`` whose ``config.json`` is ``config`` (see :meth:`save`)."""
        from safetensors.numpy import load_file

        verify_checksums(src, config)
        params = decode_params(config["params"])
        cls.check_params(params)
        model = cls(**params)
        model.horizons_ = config["horizons"]
        model.feature_names_ = config["feature_names"]
        model.categorical_names_ = config["categorical_names"]
        model.vocab_sizes_ = config["vocab_sizes"]
        model.sequence_shape_ = config["sequence_shape"]
        model.channel_names_ = config.get("channel_names", [])
        model.schema_ = config.get("schema", {})
        arrays = load_file(str(src / "arrays.safetensors"))
        model._set_state(config["state"], arrays)
        model._load_files(src)
        model._fitted = True
        return model


def dataset_schema(data: LTVDataset) -> dict[str, Any]:
    """What a model remembers of its training dataset beyond the column names: the time rule
    (period, lookback, number of periods) and the horizons with their days."""
    task = (data.meta or {}).get("task") or {}
    out: dict[str, Any] = {"horizons": list(data.horizons),
                           "horizon_days": [int(d) for d in data.horizon_days],
                           "sequence_shape": list(data.sequences.shape[1:])}
    for key in ("period", "lookback", "n_periods"):
        if key in task:
            out[key] = task[key]
    return out


def file_checksums(directory: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"sha256", "bytes"}} of every file in ``directory`` but config.json."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != "config.json":
            out[path.relative_to(directory).as_posix()] = {"sha256": sha256_of(path),
                                                           "bytes": path.stat().st_size}
    return out


def verify_checksums(directory: Path, config: dict[str, Any]) -> None:
    """Raise :class:`ModelError` when a file listed in the config is missing or damaged (so a
    truncated booster never reaches LightGBM's native parser)."""
    files = config.get("files")
    if files is None:
        return  # saved before checksums were recorded
    if not isinstance(files, dict):
        raise ModelError(f"{directory}/config.json: 'files' must map file names to checksums")
    bad = []
    for name, entry in files.items():
        path = directory / name
        want = entry.get("sha256") if isinstance(entry, dict) else None
        if not path.is_file():
            bad.append(f"{name} (missing)")
        elif want is None or sha256_of(path) != want:
            size = path.stat().st_size
            expected = entry.get("bytes") if isinstance(entry, dict) else "?"
            bad.append(f"{name} ({size} bytes, expected {expected}, checksum differs)")
    if bad:
        raise ModelError(f"{directory}: {len(bad)} model file(s) damaged: {'; '.join(bad)} "
                         "(rule: sha256 recorded at save time); re-save or re-train the model")


_TUPLE = "__tuple__"


def encode_params(value: Any) -> Any:
    """Hyper-parameters as JSON that keeps tuples tuples (``{"__tuple__": [...]}``), so a
    loaded model's ``get_params()`` equals the saved one's."""
    if isinstance(value, tuple):
        return {_TUPLE: [encode_params(v) for v in value]}
    if isinstance(value, list):
        return [encode_params(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_params(v) for k, v in value.items()}
    return value


def decode_params(value: Any) -> Any:
    """The inverse of :func:`encode_params`."""
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(decode_params(v) for v in value[_TUPLE])
        return {k: decode_params(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_params(v) for v in value]
    return value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
