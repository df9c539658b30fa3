"""The leaderboard: benchmark records summarised as mean ± std over seeds per model (and
sparsity level), rendered as Markdown, JSON or a rich table from the same rows and labels.

A record is what the runner writes for one model and seed: ``model``, ``seed``, ``metrics``
(and ``metrics_sparse`` / ``metrics_non_sparse`` under the sparsity protocol), ``fit_seconds``,
or ``error`` when the model failed. Every renderer shows a metric cell as ``mean ± std`` with
three decimals (``mean`` alone when only one seed has a value; the rich table drops the
spaces around ``±``), best normalized Gini first,
failed models last, rows grouped by sparsity level.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ltvkit.metrics import METRIC_KEYS

if TYPE_CHECKING:
    from rich.table import Table

#: Metric columns of the printed / Markdown leaderboard (all metrics stay in the JSON).
HEADLINE_METRICS = ("normalized_gini", "spearman", "decile_mape", "nmae", "nrmse", "auc_active",
                    "top10_f1", "interval_coverage_80")
#: Metric columns of the sparse / non-sparse breakdown of the sparsity protocol.
SPARSITY_METRICS = ("nmae", "nrmse", "normalized_gini")
#: Column labels; a metric without a label is shown by its key.
LABELS = {"normalized_gini": "Gini", "spearman": "Spearman", "percentile_mape": "pct-MAPE",
          "decile_mape": "dec-MAPE", "nmae": "NMAE", "nrmse": "NRMSE", "auc_active": "AUC",
          "top10_f1": "top-10% F1", "bucket_accuracy": "bucket acc",
          "interval_coverage_80": "10-90% cov"}
#: Record keys that split a model's records into separate rows (e.g. one per sparsity level).
GROUP_KEYS = ("sparsity",)
SUMMARY_METRICS = (*METRIC_KEYS, "interval_coverage_80")
MISSING = "—"
REASON_CHARS = 100
RICH_REASON_CHARS = 60


def label(key: str) -> str:
    return LABELS.get(key, key)


def group_label(record: dict[str, Any]) -> str:
    """The model name, plus the run's grouping keys (e.g. ``ziln [sparsity=50]``)."""
    return record["model"] + "".join(f" [{k}={record[k]}]" for k in GROUP_KEYS if k in record)


def summarize(records: list[dict[str, Any]], metrics_key: str = "metrics"
              ) -> list[dict[str, Any]]:
    """Mean and std over seeds per model (and sparsity level), best normalized Gini first;
    failed models last. ``metrics_key`` picks the overall metrics or a breakdown
    (``metrics_sparse`` / ``metrics_non_sparse``).

    Each row holds ``model`` (the group label), ``model_name``, ``n_seeds`` (records with
    metrics), ``errors``, ``metric -> (mean, std)``, ``counts`` (finite values per metric),
    ``fit_seconds`` and the grouping keys."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_model.setdefault(group_label(r), []).append(r)
    rows = []
    for name, recs in by_model.items():
        ok = [r for r in recs if metrics_key in r]
        row: dict[str, Any] = {"model": name, "model_name": recs[0]["model"],
                               "n_seeds": len(ok), "counts": {},
                               "errors": [r["error"] for r in recs if "error" in r]}
        for key in SUMMARY_METRICS:
            vals = [r[metrics_key][key] for r in ok if key in r[metrics_key]]
            vals = [v for v in vals if v is not None and np.isfinite(v)]
            if vals:
                row[key] = (float(np.mean(vals)), float(np.std(vals)))
                row["counts"][key] = len(vals)
        if ok:
            row["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in ok]))
        for k in GROUP_KEYS:
            if recs and k in recs[0]:
                row[k] = recs[0][k]
        rows.append(row)
    rows.sort(key=lambda r: (-r.get("normalized_gini", (-np.inf, 0))[0], r["model"]))
    return rows


def cell(row: dict[str, Any], key: str, std: bool = True) -> str:
    """One metric of a summary row as text: ``mean ± std`` (``mean`` for a single value)."""
    if key not in row:
        return MISSING
    mean, spread = row[key]
    shown = std and row.get("counts", {}).get(key, row["n_seeds"]) > 1
    return f"{mean:.3f} ± {spread:.3f}" if shown else f"{mean:.3f}"


@dataclass(frozen=True)
class BoardRow:
    model: str
    cells: list[str] | None  # None: the model failed
    reason: str = ""


@dataclass(frozen=True)
class Board:
    """A rendered-to-text leaderboard: column labels and rows, shared by every format."""

    head: list[str]
    rows: list[BoardRow]


def board(records: list[dict[str, Any]], metrics: Sequence[str] = HEADLINE_METRICS,
          metrics_key: str = "metrics", rows: list[dict[str, Any]] | None = None) -> Board:
    """The leaderboard as text cells: model, one column per metric, ``fit s`` and ``seeds``."""
    rows = summarize(records, metrics_key) if rows is None else rows
    out = []
    for r in sorted(rows, key=lambda r: r.get("sparsity", 0)):
        if not r["n_seeds"]:
            reason = r["errors"][0][:REASON_CHARS] if r["errors"] else "no samples"
            out.append(BoardRow(r["model"], None, reason))
            continue
        cells = [cell(r, k) for k in metrics]
        cells += [f"{r.get('fit_seconds', 0):.1f}", str(r["n_seeds"])]
        out.append(BoardRow(r["model"], cells))
    return Board(["model", *map(label, metrics), "fit s", "seeds"], out)


def markdown_table(records: list[dict[str, Any]], metrics: Sequence[str] = HEADLINE_METRICS,
                   metrics_key: str = "metrics", rows: list[dict[str, Any]] | None = None) -> str:
    b = board(records, metrics, metrics_key, rows)
    lines = ["| " + " | ".join(b.head) + " |", "|" + "---|" * len(b.head)]
    for r in b.rows:
        if r.cells is None:
            lines.append(f"| {r.model} | failed: {r.reason} |" + " |" * (len(b.head) - 2))
        else:
            lines.append("| " + " | ".join([r.model, *r.cells]) + " |")
    return "\n".join(lines)


def leaderboard_markdown(records: list[dict[str, Any]], horizon: str | None = None) -> str:
    """The ``leaderboard.md`` text: the headline table, and under the sparsity protocol the
    sparse and non-sparse customers' tables."""
    lines = []
    if horizon:
        lines.append(f"Horizon {horizon}; mean ± std over seeds; test split.\n")
    lines.append(markdown_table(records))
    if any("metrics_sparse" in r for r in records):
        for key, title in (("metrics_sparse", "sparse customers (C_na: no target history)"),
                           ("metrics_non_sparse", "non-sparse customers (C_a)")):
            lines += ["", f"**{title}**", ""]
            rows = [r for r in summarize(records, key) if r["n_seeds"]]
            lines.append(markdown_table(records, SPARSITY_METRICS, key, rows))
    return "\n".join(lines) + "\n"


def leaderboard_json(records: list[dict[str, Any]], metrics_key: str = "metrics") -> str:
    """The summary rows as JSON: per model (and sparsity level) ``n_seeds``, ``errors``,
    ``fit_seconds`` and ``metrics: {key: {mean, std, n}}``, in leaderboard order."""
    out = []
    for r in summarize(records, metrics_key):
        item = {k: r[k] for k in ("model", "model_name", "n_seeds", "errors", *GROUP_KEYS)
                if k in r}
        if "fit_seconds" in r:
            item["fit_seconds"] = r["fit_seconds"]
        item["metrics"] = {k: {"mean": r[k][0], "std": r[k][1], "n": r["counts"][k]}
                           for k in SUMMARY_METRICS if k in r}
        out.append(item)
    return json.dumps(out, indent=2)


def leaderboard_rich_table(records: list[dict[str, Any]], horizon: str) -> Table:
    """The leaderboard as a rich :class:`~rich.table.Table` (what ``ltv benchmark`` prints)."""
    from rich.markup import escape
    from rich.table import Table

    b = board(records)
    table = Table(title=f"leaderboard, horizon {horizon} (test split, mean ± std over seeds)")
    table.add_column(b.head[0], no_wrap=True)
    for head in b.head[1:]:
        table.add_column(head, justify="right")
    for r in b.rows:
        if r.cells is None:
            reason = r.reason[:RICH_REASON_CHARS]  # the full reason is printed under the table
            table.add_row(escape(r.model), f"[red]failed[/red]: {escape(reason)}")
        else:
            # "mean±std" without spaces: ten columns fit a 160-character terminal unwrapped
            table.add_row(escape(r.model), *(c.replace(" ± ", "±") for c in r.cells))
    return table


def sparsity_markdown(records: list[dict[str, Any]], metrics_key: str = "metrics",
                      metrics: Sequence[str] = SPARSITY_METRICS) -> str:
    """One row per model, one column per sparsity level and metric (``P=50% NMAE``), means
    only; records without a sparsity level count as level 0."""
    rows = summarize(records, metrics_key)
    levels = sorted({r.get("sparsity", 0) for r in records})
    by_model: dict[str, dict[Any, dict[str, Any]]] = {}
    for r in rows:
        by_model.setdefault(r["model_name"], {})[r.get("sparsity", 0)] = r
    head = ["model"] + [f"P={p}% {label(k)}" for p in levels for k in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, at in sorted(by_model.items()):
        cells = [cell(at[p], k, std=False) if p in at else MISSING
                 for p in levels for k in metrics]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_leaderboard(records: list[dict[str, Any]], out: Path, horizon: str | None = None
                      ) -> None:
    """Write ``leaderboard.json`` (the records), ``leaderboard.md`` and, when a model failed,
    ``errors.log`` (its traceback) into ``out``."""
    out = Path(out)
    slim = [{k: v for k, v in r.items() if k != "traceback"} for r in records]
    (out / "leaderboard.json").write_text(json.dumps(slim, indent=2, default=float))
    (out / "leaderboard.md").write_text(leaderboard_markdown(records, horizon))
    errors = [r for r in records if "traceback" in r]
    if errors:
        (out / "errors.log").write_text("\n\n".join(f"{r['model']} seed {r['seed']}:\n"
                                                    f"{r['traceback']}" for r in errors))
