"""Render Markdown tables from `ltv benchmark` outputs (leaderboard.json) with the library's
leaderboard renderer (ltvkit.evaluation.leaderboard), so that every published number comes
from a leaderboard a command wrote.

    python benchmarks/render_tables.py leaderboard runs/cdnow/leaderboard.json
    python benchmarks/render_tables.py paper runs/cdnow/leaderboard.json      # paper-style columns
    python benchmarks/render_tables.py sparsity runs/olist/leaderboard.json   # per sparsity level
    python benchmarks/render_tables.py sparse runs/olist/leaderboard.json     # sparse customers

Several files are pooled (e.g. one ``ltv benchmark`` run per seed). ``FILE::OLD=NEW`` renames
model ``OLD`` of that file's records to ``NEW``, to keep two runs of a model apart (e.g. the
same model before and after a change).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ltvkit.evaluation.leaderboard import HEADLINE_METRICS, markdown_table, sparsity_markdown

PAPER_COLUMNS = ("normalized_gini", "spearman", "percentile_mape", "decile_mape", "nmae", "nrmse",
                 "auc_active", "top10_f1", "bucket_accuracy")
LEADERBOARD_COLUMNS = HEADLINE_METRICS


def load_records(paths: list[str]) -> list[dict]:
    records = []
    for spec in paths:
        path, _, rename = spec.partition("::")
        old, _, new = rename.partition("=")
        for r in json.loads(Path(path).read_text()):
            if rename and r["model"] == old:
                r = {**r, "model": new}
            records.append(r)
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["leaderboard", "paper", "sparsity", "sparse", "non_sparse"])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    records = load_records(args.files)
    if args.kind == "leaderboard":
        print(markdown_table(records, LEADERBOARD_COLUMNS))
    elif args.kind == "paper":
        print(markdown_table(records, PAPER_COLUMNS))
    elif args.kind == "sparsity":
        print(sparsity_markdown(records))
    else:
        print(sparsity_markdown(records, f"metrics_{args.kind}"))


if __name__ == "__main__":
    sys.exit(main())
