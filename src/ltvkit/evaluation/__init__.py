"""Evaluation: every model on the same split, scored by :mod:`ltvkit.metrics`, summarised in
one leaderboard.

- :mod:`~ltvkit.evaluation.specs`: model specs ``name[key=value,...]@target``.
- :mod:`~ltvkit.evaluation.splits`: the train / valid / test splits the runner uses.
- :mod:`~ltvkit.evaluation.runner`: fit and score models over seeds (and sparsity levels).
- :mod:`~ltvkit.evaluation.leaderboard`: mean ± std over seeds as Markdown, JSON or a table.

The names below are loaded on first use, so importing the specs (e.g. for a command-line
default) does not import NumPy, pandas or the models.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelSpec": "specs", "DEMO_MODELS": "specs", "split_model_list": "specs",
    "parse_model_spec": "specs", "resolve_models": "specs", "available_specs": "specs",
    "Split": "splits", "customer_split": "splits", "protocol_split": "splits",
    "BenchmarkPlan": "runner", "plan_dataset": "runner", "plan_public_dataset": "runner",
    "benchmark_dataset": "runner", "benchmark_public_dataset": "runner",
    "fit_and_score": "runner", "run_benchmark": "runner", "score": "runner",
    "HEADLINE_METRICS": "leaderboard", "SPARSITY_METRICS": "leaderboard",
    "summarize": "leaderboard", "leaderboard_markdown": "leaderboard",
    "leaderboard_json": "leaderboard", "leaderboard_rich_table": "leaderboard",
    "write_leaderboard": "leaderboard",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ltvkit.evaluation' has no attribute '{name}'")
    return getattr(importlib.import_module(f"ltvkit.evaluation.{_EXPORTS[name]}"), name)
