"""Render BENCHMARKS.md tables from `ltv benchmark` outputs (leaderboard.json), so that every
number in BENCHMARKS.md comes from a leaderboard a command wrote.

    python benchmarks/render_tables.py leaderboard runs/cdnow/leaderboard.json
    python benchmarks/render_tables.py paper runs/cdnow/leaderboard.json      # paper-style columns
    python benchmarks/render_tables.py sparsity runs/olist/leaderboard.json   # paper 000 Table 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PAPER_COLUMNS = ("normalized_gini", "spearman", "percentile_mape", "decile_mape", "nmae", "nrmse",
                 "auc_active", "top10_f1", "bucket_accuracy")
LEADERBOARD_COLUMNS = ("normalized_gini", "spearman", "decile_mape", "nmae", "nrmse",
                       "auc_active", "top10_f1", "interval_coverage_80")
SPARSITY_COLUMNS = ("nmae", "nrmse", "normalized_gini")
SHORT = {"normalized_gini": "Gini", "spearman": "Spearman", "percentile_mape": "pct-MAPE",
         "decile_mape": "dec-MAPE", "nmae": "NMAE", "nrmse": "NRMSE", "auc_active": "AUC",
         "top10_f1": "top-10% F1", "bucket_accuracy": "bucket acc", "interval_coverage_80":
         "10-90% cov"}


def _load(paths: list[str]) -> list[dict]:
    records = []
    for p in paths:
        records += json.loads(Path(p).read_text())
    return records


def _stats(records: list[dict], key: str, metrics_key: str = "metrics") -> tuple[float, float, int]:
    vals = [r[metrics_key][key] for r in records if metrics_key in r and key in r[metrics_key]]
    vals = [v for v in vals if v is not None and np.isfinite(v)]
    if not vals:
        return float("nan"), float("nan"), 0
    return float(np.mean(vals)), float(np.std(vals)), len(vals)


def _by_model(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["model"], []).append(r)
    return out


def _cell(mean: float, std: float, n: int, std_shown: bool = True) -> str:
    if n == 0:
        return "—"
    return f"{mean:.3f} ± {std:.3f}" if std_shown and n > 1 else f"{mean:.3f}"


def metric_table(records: list[dict], columns: tuple[str, ...]) -> str:
    groups = _by_model(records)
    rows = []
    for model, recs in groups.items():
        gini = _stats(recs, "normalized_gini")[0]
        rows.append((-gini if np.isfinite(gini) else np.inf, model, recs))
    rows.sort()
    head = ["model", *[SHORT.get(c, c) for c in columns], "fit s", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, model, recs in rows:
        ok = [r for r in recs if "metrics" in r]
        if not ok:
            err = next((r["error"] for r in recs if "error" in r), "no result")
            lines.append(f"| {model} | failed: {err[:100]} |" + " |" * (len(head) - 2))
            continue
        cells = [_cell(*_stats(ok, c)) for c in columns]
        fit = np.mean([r["fit_seconds"] for r in ok])
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {fit:.1f} | {len(ok)} |")
    return "\n".join(lines)


def sparsity_table(records: list[dict], metrics_key: str = "metrics") -> str:
    levels = sorted({r.get("sparsity", 0) for r in records})
    groups = _by_model(records)
    head = ["model"] + [f"P={p}% {SHORT[c]}" for p in levels for c in SPARSITY_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, recs in sorted(groups.items()):
        cells = []
        for p in levels:
            at = [r for r in recs if r.get("sparsity", 0) == p]
            for c in SPARSITY_COLUMNS:
                cells.append(_cell(*_stats(at, c, metrics_key), std_shown=False))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["leaderboard", "paper", "sparsity", "sparse", "non_sparse"])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    records = _load(args.files)
    if args.kind == "leaderboard":
        print(metric_table(records, LEADERBOARD_COLUMNS))
    elif args.kind == "paper":
        print(metric_table(records, PAPER_COLUMNS))
    elif args.kind == "sparsity":
        print(sparsity_table(records))
    else:
        print(sparsity_table(records, f"metrics_{args.kind}"))


if __name__ == "__main__":
    sys.exit(main())
