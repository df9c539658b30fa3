"""The copy-me model templates of ``extension_templates/``, loaded as model classes.

Importing a template registers its model; the registration is taken back at once so the
template never shows up in ``all_models()`` (the CLI, the benchmark's ``all``), and
:func:`registered` puts it back only while a test needs ``LTVModel.load`` to find it.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from ltvkit.models.registry import REGISTRY

TEMPLATES = Path(__file__).resolve().parents[1] / "extension_templates"
FILES = {"ltv_model.py": "ShrunkRate", "torch_ltv_model.py": "CappedMLP"}


def _load(file: str, class_name: str):
    spec = importlib.util.spec_from_file_location(f"ltvkit_template_{file[:-3]}",
                                                  TEMPLATES / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, class_name)
    REGISTRY.pop(cls.name, None)
    return cls


def template_classes() -> list[type]:
    return [_load(file, name) for file, name in FILES.items()]


@contextlib.contextmanager
def registered(cls) -> Iterator[None]:
    """``cls`` in the registry for the duration (no-op for a model already registered)."""
    if REGISTRY.get(cls.name) is cls:
        yield
        return
    REGISTRY[cls.name] = cls
    try:
        yield
    finally:
        REGISTRY.pop(cls.name, None)
