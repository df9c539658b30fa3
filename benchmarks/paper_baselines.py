"""Does each paper model beat its own paper's baseline on the paper's own metrics?

Reads ``leaderboard.json`` files written by ``ltv benchmark`` on one dataset (together holding
every model of the list below and its baseline, several seeds) and prints one Markdown table: for each pair
(model, baseline) and each of the paper's metrics, the mean ± std over seeds of both (from
``ltvkit.evaluation.leaderboard.summarize``, no metric recomputed) and a verdict: ``yes`` when
the model is better by more than the larger of the two seed spreads, ``no`` when worse by
more than it, ``tie`` otherwise.

    python benchmarks/paper_baselines.py runs/cdnow_a/leaderboard.json runs/cdnow_b/leaderboard.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ltvkit.evaluation.leaderboard import cell, label, summarize
from ltvkit.metrics import HIGHER_IS_BETTER

#: model -> (its paper's baseline, the metrics the paper reports)
PAPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mean": ("ziln", ("percentile_mape", "normalized_gini", "spearman", "auc_active")),
    "odmn": ("ziln", ("nrmse", "nmae", "ambe", "normalized_gini", "mutual_gini")),
    "optdist": ("ziln", ("mae", "normalized_gini", "spearman")),
    "ccornet": ("ziln", ("normalized_gini", "spearman", "nmae", "bucket_accuracy",
                         "top10_f1")),
    "ltvs": ("lgbm_two_stage", ("nmae", "nrmse", "normalized_gini")),
}


def verdict(model: dict, base: dict, key: str) -> str:
    if key not in model or key not in base:
        return "—"
    (m, ms), (b, bs) = model[key], base[key]
    gain = (m - b) if HIGHER_IS_BETTER[key] else (b - m)
    spread = max(ms, bs)
    return "yes" if gain > spread else ("no" if gain < -spread else "tie")


def table(records: list[dict]) -> str:
    rows = {r["model"]: r for r in summarize(records)}
    lines = ["| model | baseline | metric | model | baseline | beats? |", "|---|---|---|---|---|---|"]
    for name, (base_name, metrics) in PAPERS.items():
        if name not in rows or base_name not in rows:
            continue
        model, base = rows[name], rows[base_name]
        for key in metrics:
            lines.append(f"| {name} | {base_name} | {label(key)} | {cell(model, key)} | "
                         f"{cell(base, key)} | {verdict(model, base, key)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    records = [r for path in args.files for r in json.loads(Path(path).read_text())]
    print(table(records))


if __name__ == "__main__":
    sys.exit(main())
