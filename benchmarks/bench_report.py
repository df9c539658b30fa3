"""How long `ltv report` takes and how big report.html is, on a real benchmark run folder.

    LTVKIT_DATA_HOME=../shared/datasets python benchmarks/bench_report.py --run runs/or \
        [--build online_retail --models ... --seeds 0,1,2] [--static] [--screenshot]

``--build NAME`` first runs ``ltv benchmark --dataset NAME`` into ``--run`` (not timed). The
report is built in a fresh process (imports included, as ``ltv report`` pays them); the
targets are < 20 s and < 15 MB for the HTML report. ``--static`` times the PNG/SVG copies
separately; ``--screenshot`` opens the report in headless Chromium (Playwright), checks that
every chart rendered marks, and writes ``report.png`` into the run folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 20.0
TARGET_MB = 15.0

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from ltvkit.report import build_report
r = build_report(sys.argv[1], static=sys.argv[2] == "1")
print(json.dumps({"seconds": time.perf_counter() - t0, "charts": r.charts, "notes": r.notes,
                  "static_files": len(r.static_files), "n_models": r.n_models,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_run(run: Path, dataset: str, models: str, seeds: str) -> None:
    subprocess.run([sys.executable, "-m", "ltvkit.cli", "benchmark", "--dataset", dataset,
                    "--models", models, "--seeds", seeds, "--out", str(run)], check=True)


def time_report(run: Path, static: bool) -> dict:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, str(run), "1" if static else "0"],
                         capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def screenshot(run: Path, chromium: str) -> dict:
    from playwright.sync_api import sync_playwright

    url = (run / "report.html").resolve().as_uri()
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        t0 = time.perf_counter()
        page.goto(url, wait_until="load")
        page.wait_for_function("() => Array.from(document.querySelectorAll("
                               "'.chart-box .plotly-graph-div')).every(d => d._fullLayout)")
        load = time.perf_counter() - t0
        marks = page.evaluate(
            "() => Array.from(document.querySelectorAll('.chart-box')).map(b => [b.dataset."
            "chart, b.querySelectorAll('.trace path, .trace image, .heatmaplayer image, "
            ".point path').length])")
        rows = page.eval_on_selector_all("#leaderboard-table tbody tr", "rs => rs.length")
        shot = run / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    return {"load_seconds": load, "console_errors": errors,
            "other_requests": sorted(set(requests) - {url}), "marks": dict(marks),
            "leaderboard_rows": rows, "screenshot": str(shot)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--build", help="public dataset to benchmark into --run first")
    ap.add_argument("--models", default="all")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--static", action="store_true")
    ap.add_argument("--screenshot", action="store_true")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.build:
        build_run(args.run, args.build, args.models, args.seeds)
    result = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                         f"Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "run": str(args.run)}
    html = time_report(args.run, static=False)
    size_mb = (args.run / "report.html").stat().st_size / 1e6
    result["html"] = {**html, "size_mb": size_mb,
                      "target": f"< {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB: " + (
                          "met" if html["wall_seconds"] < TARGET_SECONDS and size_mb < TARGET_MB
                          else "NOT met")}
    if args.static:
        result["static"] = time_report(args.run, static=True)
    if args.screenshot:
        result["browser"] = screenshot(args.run, args.chromium)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
