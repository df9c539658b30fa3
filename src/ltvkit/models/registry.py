"""The model registry: ``REGISTRY``, ``register``, discovery and ``load_model``.

The registry is filled by importing the package's modules (no hand-kept list), so dropping a
new model file into ``ltvkit/models/`` is all it takes. Modules whose optional dependency is
missing (PyTorch) are skipped and reported by :func:`unavailable_models`.

This module sits below the model base classes: it knows models only as classes with a
``name`` and a ``_restore`` classmethod, and imports none of them, so the base classes can
import it without a circle.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

from ltvkit.errors import ModelError

# Models are known here only as classes (``LTVModel`` subclasses, which import this module):
# annotations say ``type`` so the registry stays below the base classes.
ModelClass = type

#: The version of the saved-model layout (config.json + arrays) this ltvkit writes and reads.
SAVE_FORMAT_VERSION = 1
# The entries every saved config.json has.
_REQUIRED_KEYS = {"params": dict, "horizons": list, "feature_names": list,
                  "categorical_names": list, "vocab_sizes": list, "sequence_shape": list,
                  "state": dict}

REGISTRY: dict[str, ModelClass] = {}
_SKIPPED: dict[str, str] = {}
_DISCOVERED = False
_PACKAGE = "ltvkit.models"
# Modules of the package that hold no registered model.
_NOT_MODELS = (f"{_PACKAGE}.base", f"{_PACKAGE}.registry")


def register(cls: ModelClass) -> ModelClass:
    """Class decorator: make the model available by its ``name``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a class attribute 'name' to be registered")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise TypeError(f"model name '{cls.name}' is registered twice")
    REGISTRY[cls.name] = cls
    return cls


def discover() -> None:
    """Import every model module of the package once (which registers its models)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    package = importlib.import_module(_PACKAGE)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{_PACKAGE}."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or info.name.startswith(_NOT_MODELS):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            _SKIPPED[info.name] = str(exc)
    _DISCOVERED = True


def all_models() -> dict[str, ModelClass]:
    """Registered models by name, sorted."""
    discover()
    return dict(sorted(REGISTRY.items()))


def get_model_class(name: str) -> ModelClass:
    models = all_models()
    if name not in models:
        hint = ""
        if _SKIPPED:
            hint = f" (not loaded for missing dependencies: {', '.join(_SKIPPED)})"
        raise ModelError(f"unknown model '{name}'; known: {', '.join(models)}{hint}")
    return models[name]


def create_model(name: str, **params: Any) -> Any:
    """An unfitted model ``name`` with hyper-parameters ``params`` (checked against the
    model's declared parameters and types first)."""
    cls = get_model_class(name)
    check = getattr(cls, "check_params", None)
    if check is not None:
        check(params)
    return cls(**params)


def unavailable_models() -> dict[str, str]:
    discover()
    return dict(_SKIPPED)


def read_saved_config(directory: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a saved model, its format version checked."""
    src = Path(directory)
    cfg_file = src / "config.json"
    if not cfg_file.exists():
        raise ModelError(f"{src} is not a saved ltvkit model (no config.json)")
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{cfg_file}: not a readable model config ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{cfg_file}: a model config is a JSON object, got "
                         f"{type(config).__name__}")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{cfg_file}: format_version must be an integer, got {version!r}")
    if version > SAVE_FORMAT_VERSION:
        raise ModelError(f"{src} was saved in model format {version} by ltvkit "
                         f"{config.get('ltvkit_version')}; this ltvkit reads up to "
                         f"{SAVE_FORMAT_VERSION}: upgrade ltvkit")
    if "model" not in config:
        raise ModelError(f"{cfg_file}: no 'model' entry, so the model class is unknown")
    return config


def load_model(directory: str | Path) -> Any:
    """Load any model saved by ``LTVModel.save`` (the class is read from its config)."""
    config = read_saved_config(directory)
    cls = get_model_class(config["model"])
    missing = [k for k in _REQUIRED_KEYS if k not in config]
    if missing:
        raise ModelError(f"{Path(directory) / 'config.json'}: missing entr(ies) {missing} "
                         "(rule: a config written by LTVModel.save)")
    for key, kind in _REQUIRED_KEYS.items():
        if not isinstance(config[key], kind):
            raise ModelError(f"{Path(directory) / 'config.json'}: '{key}' must be a "
                             f"{kind.__name__}, got {type(config[key]).__name__} "
                             "(rule: a config written by LTVModel.save)")
    try:
        return cls._restore(Path(directory), config)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hand-edited or damaged save, named in one line
        first = (str(exc).splitlines() or [""])[0]
        raise ModelError(f"{directory}: cannot restore the saved '{config['model']}' model "
                         f"({type(exc).__name__}: {first}); the config or a weight file was "
                         "edited or damaged") from None
