"""Model specs: ``name[key=value,...]@target``.

Brackets set hyper-parameters (values read as JSON, else as text), so ablations run side by side
in one leaderboard; ``@target`` fits the model on the target domain of a cross-domain dataset
only (a single-domain baseline). A list of specs is comma separated; commas inside brackets
belong to the spec.

This module imports nothing heavy at import time; the model registry is read inside the
functions that need it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ltvkit.errors import ModelError

if TYPE_CHECKING:
    from ltvkit.data.dataset import LTVDataset

#: The models ``ltv demo`` runs on bundled CDNOW (those whose dependencies are missing are
#: left out, see :func:`available_specs`).
DEMO_MODELS = "historical_mean,bgnbd,pareto_nbd,lgbm,lgbm_two_stage,ziln,mtl_ziln,lstm"


@dataclass(frozen=True)
class ModelSpec:
    """One parsed spec: the registry ``name``, hyper-parameter overrides ``params`` and
    whether the model is fitted on the target domain only (``on_target``)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    on_target: bool = False

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        """``"mean[use_kl=false,tau=2]@target"`` -> ``ModelSpec("mean", {"use_kl": False,
        "tau": 2}, True)``; raises :class:`~ltvkit.errors.ModelError` on a malformed spec."""
        body, _, where = spec.partition("@")
        if where not in ("", "target"):
            raise ModelError(f"'{spec}': only '@target' is understood after a model name")
        name, params = body, {}
        if "[" in body:
            if not body.endswith("]"):
                raise ModelError(f"'{spec}': hyper-parameters go in brackets at the end, "
                                 "e.g. mean[use_kl=false]")
            name, inner = body[:-1].split("[", 1)
            for item in split_model_list(inner):
                key, eq, raw = item.partition("=")
                if not eq:
                    raise ModelError(f"'{spec}': '{item}' is not key=value")
                try:
                    params[key.strip()] = json.loads(raw)
                except json.JSONDecodeError:
                    params[key.strip()] = raw.strip()
        return cls(name.strip(), params, bool(where))

    @property
    def label(self) -> str:
        """The spec written back as text (``name[k=v,...]@target``, values as JSON)."""
        inner = ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                         for k, v in self.params.items())
        return self.name + (f"[{inner}]" if inner else "") + ("@target" if self.on_target
                                                               else "")


def split_model_list(text: str) -> list[str]:
    """Split ``"a,b[x=1,y=2],c@target"`` on the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return [p for p in parts if p]


def parse_model_spec(spec: str) -> tuple[str, dict[str, Any], bool]:
    """``"mean[use_kl=false,tau=2]@target"`` -> ``("mean", {"use_kl": False, "tau": 2}, True)``
    (:meth:`ModelSpec.parse` as a tuple)."""
    parsed = ModelSpec.parse(spec)
    return parsed.name, parsed.params, parsed.on_target


def resolve_models(spec: str | Sequence[str], dataset: LTVDataset | None = None) -> list[str]:
    """``"all"`` or ``"a,b[k=v],c@target"`` -> model specs (``all`` keeps the models the
    dataset can feed: cross-domain models only for a cross-domain dataset)."""
    from ltvkit.models import all_models

    registry = all_models()
    if isinstance(spec, str):
        if spec.strip() == "all":
            names = []
            for name, cls in registry.items():
                if cls.tag("cross_domain") and (dataset is None or not dataset.domains):
                    continue
                names.append(name)
            return names
        spec = split_model_list(spec)
    unknown = [s for s in spec if parse_model_spec(s)[0] not in registry]
    if unknown:
        raise ModelError(f"unknown model(s) {unknown}; known: {', '.join(registry)}")
    return list(spec)


def available_specs(spec: str) -> str:
    """The specs of ``spec`` whose model is registered (a model whose optional dependency,
    e.g. PyTorch, is missing is not registered and is left out), comma separated."""
    from ltvkit.models import all_models

    known = all_models()
    return ",".join(m for m in split_model_list(spec) if parse_model_spec(m)[0] in known)
