"""Model discovery: every module under ``ltvkit.models`` that defines a ``@register``-ed class.

The registry is filled by importing the package's modules (no hand-kept list), so dropping a new
model file into ``ltvkit/models/`` is all it takes. Modules whose optional dependency is missing
(PyTorch) are skipped and reported by :func:`unavailable_models`.
"""

from __future__ import annotations

import importlib
import pkgutil

from ltvkit.errors import ModelError
from ltvkit.models.base import REGISTRY, LTVModel

_SKIPPED: dict[str, str] = {}
_DISCOVERED = False


def discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import ltvkit.models as pkg

    for info in pkgutil.walk_packages(pkg.__path__, prefix="ltvkit.models."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf in ("base", "registry"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            _SKIPPED[info.name] = str(exc)
    _DISCOVERED = True


def all_models() -> dict[str, type[LTVModel]]:
    """Registered models by name, sorted."""
    discover()
    return dict(sorted(REGISTRY.items()))


def get_model_class(name: str) -> type[LTVModel]:
    models = all_models()
    if name not in models:
        hint = ""
        if _SKIPPED:
            hint = f" (not loaded for missing dependencies: {', '.join(_SKIPPED)})"
        raise ModelError(f"unknown model '{name}'; known: {', '.join(models)}{hint}")
    return models[name]


def create_model(name: str, **params) -> LTVModel:
    return get_model_class(name)(**params)


def unavailable_models() -> dict[str, str]:
    discover()
    return dict(_SKIPPED)
