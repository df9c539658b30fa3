"""The floors of the package: every ltvkit import goes to the same package or a lower floor.

The rule of docs/architecture.md, checked on the import statements of every source file
(imports inside functions included), so an arrow back up or an import circle between packages
fails here before a reviewer has to find it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ltvkit"
FLOORS = {"errors": 0, "files": 0, "": 0, "prediction": 1, "targets": 1, "data": 2, "btyd": 2,
          "metrics": 2, "nn": 2, "models": 3, "datasets": 3, "evaluation": 4, "tuning": 4,
          "scoring": 4, "explain": 4, "report": 5, "service": 5, "cli": 6, "integrations": 6}
# Inside models/: registry below the base classes, the base classes below the model files.
MODEL_FLOORS = {"registry": 0, "base": 1}


def _module_of(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute ltvkit import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("ltvkit")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.startswith("ltvkit"):
            out.append((node.lineno, node.module))
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _model_floor(module: str) -> int:
    parts = module.split(".")
    return MODEL_FLOORS.get(parts[2], 2) if len(parts) > 2 else 2


FILES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_floor():
    packages = {_package(_module_of(p)) for p in FILES}
    assert packages <= set(FLOORS), f"give these packages a floor: {packages - set(FLOORS)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down(path):
    here = _module_of(path)
    wrong = []
    for line, target in _imports(path):
        a, b = _package(here), _package(target)
        if target == "ltvkit" or a == b == "":
            continue
        if a == b:
            if a == "models" and _model_floor(target) > _model_floor(here):
                wrong.append(f"line {line}: {target} is above {here} inside models/")
            continue
        if FLOORS[b] >= FLOORS[a]:
            wrong.append(f"line {line}: {here} (floor {FLOORS[a]}) imports {target} "
                         f"(floor {FLOORS[b]})")
    assert not wrong, "\n".join(wrong)
