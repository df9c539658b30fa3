"""Issue 13's closing summary for one dataset: Gini and decile MAPE of default lgbm, tuned lgbm
(``lgbm+tuned``), the best paper model (by mean Gini; a tuned ``name[...]`` variant counts) and
``auto``, and whether ``auto`` beats tuned lgbm on Gini by more than the seed spread and is
no worse on decile MAPE.

Reads ``leaderboard.json`` files written by ``ltv benchmark`` on one dataset (several seeds,
one seed per file is fine: the records are pooled; ``FILE::OLD=NEW`` renames a model as in
``render_tables.py``) and prints one Markdown table and the
verdict line. The mean ± std come from ``ltvkit.evaluation.leaderboard.summarize`` and the
verdicts from :func:`paper_baselines.verdict` ("yes"/"no": better/worse by more than the
larger seed spread of the two, "tie" otherwise); no metric is recomputed.

    python benchmarks/closing_summary.py runs/cdnow_s0/leaderboard.json runs/cdnow_s1/...
"""

from __future__ import annotations

import argparse
import sys

from paper_baselines import PAPERS, verdict
from render_tables import load_records

from ltvkit.evaluation.leaderboard import cell, summarize

KEYS = ("normalized_gini", "decile_mape")


def summary(records: list[dict]) -> str:
    rows = {r["model"]: r for r in summarize(records)}
    papers = [r for name, r in rows.items() if name.split("[")[0] in PAPERS and r["n_seeds"]]
    best_paper = max(papers, key=lambda r: r["normalized_gini"][0]) if papers else None
    roles = [("default lgbm", rows.get("lgbm")), ("tuned lgbm", rows.get("lgbm+tuned")),
             ("best paper model", best_paper), ("auto", rows.get("auto"))]
    lines = ["| role | model | Gini | dec-MAPE | seeds |", "|---|---|---|---|---|"]
    for role, r in roles:
        if r is not None:
            lines.append(f"| {role} | {r['model']} | {cell(r, KEYS[0])} | {cell(r, KEYS[1])} | "
                         f"{r['n_seeds']} |")
    auto, tuned = rows.get("auto"), rows.get("lgbm+tuned")
    if auto is not None and tuned is not None:
        gini, mape = verdict(auto, tuned, KEYS[0]), verdict(auto, tuned, KEYS[1])
        met = gini == "yes" and mape != "no"
        lines += ["", f"auto vs tuned lgbm: Gini {gini}, decile MAPE {mape} "
                      f"(yes/no = better/worse by more than the larger seed spread) -> "
                      f"target {'met' if met else 'NOT met'}"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    print(summary(load_records(args.files)))


if __name__ == "__main__":
    sys.exit(main())
