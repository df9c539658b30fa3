"""`ltv report` (ltvkit.report): the report of a real small CDNOW benchmark run, its charts'
numbers checked against the leaderboard and the dataset, the plot functions on generated
data, bad run folders turned into visible notes, and the HTML opened in a real headless
Chromium (Playwright pointed at the system browser)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.evaluation.runner import plan_public_dataset
from ltvkit.metrics import ZERO_EPS, normalized_gini
from ltvkit.report import (
    ReportDataError,
    ReportInputError,
    build_report,
    plot_alive_matrix,
    plot_calibration,
    plot_coverage,
    plot_deciles,
    plot_expected_matrix,
    plot_gain,
    plot_quality_waterfall,
    plot_tracking,
    plot_zero_share,
)
from ltvkit.report import btyd as report_btyd

MODELS = ["historical_mean", "bgnbd", "lgbm"]
CHROMIUM = os.environ.get("LTVKIT_CHROMIUM", "/usr/bin/chromium")


def _write_decisions(folder: Path) -> dict:
    """``<run>/decisions/`` as ``ltv demo`` writes it, through the real scoring and explain
    APIs: lgbm fitted on CDNOW's protocol split (seed 0), segments learnt on its training
    predictions, the test split scored with labels, the top-10 % target list and its curve,
    and the TreeSHAP global importance on the test split."""
    from ltvkit.cli.demo import shap_importance
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset
    from ltvkit.models import create_model
    from ltvkit.scoring import learn_segments, score, target

    public = get_dataset("cdnow")
    train, valid, test = public.split.split(build_dataset(public.load_log(), public.task), 0)
    model = create_model("lgbm", random_state=0).fit(train, valid)
    model_dir = folder / "lgbm"
    model.save(model_dir)
    learn_segments(model, train, save=model_dir)
    scored = score(model_dir, test, with_labels=True)
    scored.write(folder / "scored.parquet")
    result = target(scored.frame, top="10%", cost_per_contact=1.0, margin=0.3)
    result.targets.to_csv(folder / "targets.csv", index=False)
    result.curve.to_csv(folder / "targets.curve.csv", index=False)
    shap_importance(model, test, folder / "shap_importance.csv")
    return {"scored": scored.frame, "curve": result.curve, "n_test": len(test),
            "horizon": scored.summary["horizons"][0]}


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory) -> tuple[Path, object]:
    """A tiny real benchmark of bundled CDNOW (3 models, 1 seed) with the decisions outputs
    of ``ltv demo`` in ``decisions/``, and its report."""
    out = tmp_path_factory.mktemp("run") / "cdnow"
    plan = plan_public_dataset("cdnow", MODELS, [0])
    plan.run(out)
    _write_decisions(out / "decisions")
    result = build_report(out)
    return out, result


def _records(run: Path) -> list[dict]:
    return json.loads((run / "leaderboard.json").read_text())


def test_run_folder_keeps_what_the_report_reads(cdnow_run):
    run, _ = cdnow_run
    info = json.loads((run / "run.json").read_text())
    quality = json.loads((run / "quality.json").read_text())
    assert info["dataset"] == "cdnow" and info["models"] == MODELS and info["seeds"] == [0]
    assert info["task"]["cutoff"] == "1997-09-30" and info["horizon"] == "273D"
    assert info["n_customers"] == 23570
    assert quality["rows_read"] == 69659
    assert quality["rows_read"] == quality["rows_kept"] + sum(quality["dropped"].values())


def test_report_has_every_section_and_chart(cdnow_run):
    run, result = cdnow_run
    text = result.path.read_text()
    assert result.path == run / "report.html"
    for chart in ("quality-waterfall", "customer-scope", "gain-curve", "deciles",
                  "calibration", "zero-share", "p-alive-matrix", "expected-purchases-matrix",
                  "tracking", "calibration-vs-holdout", "value-by-segment", "targeting-roi",
                  "shap-importance"):
        assert chart in result.charts, (chart, result.notes)
        assert f'data-chart="{chart}"' in text
        assert (run / "report_data" / f"{chart}.csv").stat().st_size > 0
    # bgnbd predicts 10-90 % intervals (parametric bootstrap), so the coverage chart is drawn
    assert "interval-coverage" in result.charts
    coverage = pd.read_csv(run / "report_data" / "interval-coverage.csv")
    assert set(coverage["model"]) == {"bgnbd"}
    # self-contained: plotly.js inline, and nothing outside it points elsewhere
    from plotly.offline import get_plotlyjs

    assert text.count(get_plotlyjs()) == 1
    rest = text.replace(get_plotlyjs(), "")
    assert "<script src" not in rest and "<link" not in rest
    assert not re.search(r"(src|href)=\"(https?:)?//", rest)
    assert len(text) < 15_000_000


def test_leaderboard_table_one_row_per_model(cdnow_run):
    run, result = cdnow_run
    table = re.search(r'<table class="sortable" id="leaderboard-table">(.*?)</table>',
                      result.path.read_text(), re.S).group(1)
    body = table.split("<tbody>")[1]
    names = re.findall(r'<tr[^>]*><td data-v="([^"]+)">', body)
    assert sorted(names) == sorted(MODELS)
    assert result.n_models == 3


def test_gain_curve_numbers_are_the_leaderboards(cdnow_run):
    run, _ = cdnow_run
    gain = pd.read_csv(run / "report_data" / "gain-curve.csv")
    for r in _records(run):
        part = gain[gain["model"] == r["model"]]
        assert np.isclose(part["normalized_gini"].iloc[0], r["metrics"]["normalized_gini"])
        assert part["gain"].is_monotonic_increasing
        assert np.isclose(part["gain"].iloc[-1], 1.0) and np.isclose(part["oracle"].iloc[-1], 1)
        assert (part["oracle"] >= part["gain"] - 1e-12).all()
        assert len(part) <= 401  # thinned: 400 ranks and the origin
    deciles = pd.read_csv(run / "report_data" / "deciles.csv")
    best = deciles[deciles["model"] == deciles["model"].iloc[0]]
    assert list(best["bin"]) == list(range(1, 11))
    pred = pd.read_parquet(run / "predictions" / f"{best['model'].iloc[0]}-seed0.parquet")
    assert np.isclose((best["label_mean"] * best["count"]).sum() / best["count"].sum(),
                      pred["y_true"].mean())


def test_waterfall_balances_and_zero_share_is_observed(cdnow_run):
    run, _ = cdnow_run
    w = pd.read_csv(run / "report_data" / "quality-waterfall.csv")
    assert w["rows"].iloc[0] == 69659 and w["rows"].iloc[:-1].sum() == w["rows"].iloc[-1]
    z = pd.read_csv(run / "report_data" / "zero-share.csv")
    pred = pd.read_parquet(run / "predictions" / "bgnbd-seed0.parquet")
    row = z[z["model"] == "bgnbd"].iloc[0]
    assert np.isclose(row["observed"], (pred["y_true"] <= 0).mean())
    # bgnbd predicts P(active): the predicted share of zeros is 1 - its mean
    assert row["predicted_as"] == "1 - mean P(active)"
    assert np.isclose(row["predicted"], 1.0 - pred["p_active"].mean())
    lgbm = z[z["model"] == "lgbm"].iloc[0]
    lgbm_pred = pd.read_parquet(run / "predictions" / "lgbm-seed0.parquet")
    assert np.isclose(lgbm["predicted"], (lgbm_pred["y_pred"] <= ZERO_EPS).mean())


def test_btyd_tracking_meets_the_calibration_frequencies(cdnow_run):
    """At the end of calibration the actual cumulative repeat purchases of the tracking plot
    equal the sum of the dataset's ``frequency`` (the same daily convention), and BG/NBD
    tracks them within 10 % (Fader, Hardie & Lee 2005, fig. 2 on the CDNOW cohort)."""
    run, _ = cdnow_run
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset

    public = get_dataset("cdnow")
    log = public.load_log()
    ds = build_dataset(log, public.task)
    train, _, test = public.split.split(ds, 0)
    model = report_btyd.fit_bgnbd(train)
    track = report_btyd.tracking_data(model, log, np.unique(ds.customer_id), "1997-09-30")
    total = ds.target_feature("frequency").sum()
    assert track["actual"].iloc[-1] == total
    assert abs(track["expected"].iloc[-1] / total - 1) < 0.10
    assert track["actual"].is_monotonic_increasing and track["expected"].is_monotonic_increasing
    holdout = report_btyd.holdout_data(model, test, "273D")
    assert holdout["count"].sum() == len(test)
    assert holdout["frequency_label"].iloc[-1] == "7+"
    # heavier calibration buyers buy more in the holdout, in the model and in the data
    assert holdout["expected"].iloc[-1] > holdout["expected"].iloc[0]
    assert holdout["actual"].iloc[-1] > holdout["actual"].iloc[0]
    fig = plot_alive_matrix(model, max_frequency=10, T=39.0)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.nanmin(z) >= 0 and np.nanmax(z) <= 1
    assert np.isnan(z[0, 1:]).all()  # x = 0 implies t_x = 0
    # at full recency (t_x = T) a customer is more likely alive than one silent for long
    assert z[5, -1] > z[5, 1]
    e = np.asarray(plot_expected_matrix(model, t=39.0, max_frequency=10, T=39.0).data[0].z,
                   dtype=float)
    assert e[10, -1] > e[1, -1] > 0
    assert plot_tracking(track, "1997-09-30").data[0].name == "actual"


# ---------------------------------------------------------------------------------------
# the plot functions on generated data
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated():
    rng = np.random.default_rng(7)
    n = 2000
    y = np.where(rng.random(n) < 0.6, 0.0, rng.gamma(2.0, 50.0, n))
    good = y + rng.normal(0, 20, n)
    bad = rng.random(n)
    return y, good, bad


def test_plot_gain_legend_has_the_gini(generated):
    y, good, bad = generated
    fig = plot_gain({"good": good, "bad": bad}, y)
    names = [t.name for t in fig.data]
    assert names[:2] == ["oracle", "random"]
    assert names[2] == f"good (Gini {normalized_gini(y, good):.3f})"
    assert normalized_gini(y, good) > normalized_gini(y, bad)
    assert len(fig.data[2].x) <= 401 and "2,000 test customers" in fig.layout.title.text


def test_plot_deciles_calibration_coverage_zero_share(generated):
    y, good, _ = generated
    d = plot_deciles(good, y)
    assert [t.type for t in d.data] == ["bar", "bar"] and len(d.data[0].y) == 10
    assert np.isclose(np.mean(d.data[0].y), y.mean())  # equal-count bins
    c = plot_calibration({"good": np.abs(good)}, y)
    assert c.layout.xaxis.type == "log" and c.layout.yaxis.type == "log"
    frame = pd.DataFrame({"y_true": y, "y_pred": good, "q10": good - 1e9, "q90": good + 1e9})
    cov = plot_coverage({"wide": frame})
    assert np.allclose(cov.data[0].y, 1.0)  # an interval that covers everything
    narrow = frame.assign(q10=good, q90=good)
    assert max(plot_coverage({"narrow": narrow}).data[0].y) < 0.05
    with pytest.raises(ReportDataError, match="q10, q90"):
        plot_coverage(good, y)
    z = plot_zero_share({"always0": pd.DataFrame({"y_true": y, "y_pred": np.zeros_like(y)}),
                         "active": pd.DataFrame({"y_true": y, "y_pred": good,
                                                 "p_active": np.full_like(y, 0.25)})})
    assert np.allclose(z.data[0].y, (y <= 0).mean())
    assert np.allclose(z.data[1].y, [1.0, 0.75])


def test_plot_errors_name_the_input():
    with pytest.raises(ReportDataError, match="test split is empty"):
        plot_gain(np.array([]), np.array([]))
    with pytest.raises(ReportDataError, match="y_pred: has 2 values, y_true has 3"):
        plot_gain([1, 2], [1, 2, 3])
    with pytest.raises(ReportDataError, match="all 3 test labels are 0"):
        plot_gain([1, 2, 3], [0, 0, 0])
    with pytest.raises(ReportDataError, match="does not balance"):
        plot_quality_waterfall({"rows_read": 10, "rows_kept": 9, "dropped": {"x": 0}})


# ---------------------------------------------------------------------------------------
# bad run folders: the report is written, the missing part replaced by a visible note
# ---------------------------------------------------------------------------------------


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("report*"))
    return dest


def test_missing_leaderboard_gives_a_note(cdnow_run, tmp_path):
    run = _copy(cdnow_run[0], tmp_path / "r")
    (run / "leaderboard.json").unlink()
    result = build_report(run, btyd=False)
    text = result.path.read_text()
    assert "leaderboard.json is missing" in text
    assert "quality-waterfall" in result.charts and "gain-curve" not in result.charts


def test_missing_model_rows_give_a_note(cdnow_run, tmp_path):
    run = _copy(cdnow_run[0], tmp_path / "r")
    (run / "predictions" / "lgbm-seed0.parquet").unlink()
    result = build_report(run, btyd=False)
    assert "lgbm: predictions/lgbm-seed0.parquet is missing" in result.path.read_text()
    gain = pd.read_csv(run / "report_data" / "gain-curve.csv")
    assert set(gain["model"]) == {"historical_mean", "bgnbd"}


def test_empty_test_split_gives_a_note(cdnow_run, tmp_path):
    run = _copy(cdnow_run[0], tmp_path / "r")
    for f in (run / "predictions").glob("*.parquet"):
        pd.read_parquet(f).iloc[:0].to_parquet(f, index=False)
    result = build_report(run, btyd=False)
    text = result.path.read_text()
    assert "has 0 rows (the test split is empty)" in text
    assert "no model has a usable predictions file" in text
    assert "leaderboard-table" in text


def test_not_a_run_folder(tmp_path):
    with pytest.raises(ReportInputError, match="does not exist"):
        build_report(tmp_path / "nope")


def test_cli_report_and_its_one_line_error(cdnow_run, tmp_path):
    run = _copy(cdnow_run[0], tmp_path / "r")
    cmd = [sys.executable, "-m", "ltvkit.cli", "report"]
    res = subprocess.run([*cmd, str(run), "--no-static", "--no-btyd", "--out",
                          str(tmp_path / "x" / "r.html")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "x" / "r.html").exists() and "wrote" in res.stderr
    res = subprocess.run([*cmd, str(tmp_path / "missing")], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "does not exist" in res.stderr


# ---------------------------------------------------------------------------------------
# a real browser
# ---------------------------------------------------------------------------------------


def _browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    return sync_api


MARKS = ".trace path, .trace image, .heatmaplayer image, .point path"


def test_report_in_headless_chromium(cdnow_run):
    sync_api = _browser()
    run, result = cdnow_run
    url = result.path.resolve().as_uri()
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('.chart-box .plotly-graph-div'))"
                ".every(d => d._fullLayout)", timeout=30_000)
            marks = page.evaluate(
                "sel => Array.from(document.querySelectorAll('.chart-box')).map("
                "b => [b.dataset.chart, b.querySelectorAll(sel).length])", MARKS)
            rows = page.eval_on_selector_all("#leaderboard-table tbody tr", "rs => rs.length")
            # sorting: a click on the Gini column puts the worst model first, again the best
            gini = "#leaderboard-table th:nth-child(2)"
            page.click(gini)
            first_asc = page.inner_text("#leaderboard-table tbody tr:first-child td")
            page.click(gini)
            first_desc = page.inner_text("#leaderboard-table tbody tr:first-child td")
            # hover shows the numbers
            page.hover("#gain-curve .nsewdrag")
            page.wait_for_timeout(200)
            shot = run / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert set(requests) == {url}, requests
    assert [m[0] for m in marks] == result.charts
    assert all(n > 0 for _, n in marks), marks
    assert rows == len(MODELS)
    ginis = {r["model"]: r["metrics"]["normalized_gini"] for r in _records(run)}
    assert first_asc == min(ginis, key=ginis.get) and first_desc == max(ginis, key=ginis.get)
    assert shot.stat().st_size > 50_000


def test_static_copies(cdnow_run, tmp_path):
    _browser()
    pytest.importorskip("kaleido", reason="kaleido not installed")
    from ltvkit.report.build import Chart, export_static

    _, result = cdnow_run
    gain = pd.read_csv(cdnow_run[0] / "report_data" / "gain-curve.csv")
    from ltvkit.report.plots import gain_figure

    paths = export_static([Chart("gain-curve", gain_figure(gain), gain)], tmp_path)
    png, svg = sorted(paths)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.read_text().lstrip().startswith("<svg") and "Gini" in svg.read_text()


def _sparsity_records() -> list[dict]:
    """Records of a generated sparsity run: two models, two seeds, levels 0 and 50."""
    rng = np.random.default_rng(0)
    out = []
    for level in (0, 50):
        for seed in (0, 1):
            for model, base in (("ltvs", 0.5), ("ziln@target", 0.7)):
                m = {"nmae": base + level / 100 + rng.normal(0, 0.01),
                     "normalized_gini": 0.8 - level / 200}
                r = {"model": model, "seed": seed, "sparsity": level, "fit_seconds": 1.0,
                     "n_train": 10, "n_valid": 1, "n_test": 5, "metrics": m}
                if level:
                    r["metrics_sparse"] = {"nmae": m["nmae"] + 0.2, "normalized_gini": 0.5}
                    r["metrics_non_sparse"] = {"nmae": m["nmae"] - 0.1,
                                               "normalized_gini": 0.9}
                out.append(r)
    return out


def test_cross_domain_and_decisions_sections(tmp_path):
    run = tmp_path / "cd"
    run.mkdir()
    records = _sparsity_records()
    (run / "leaderboard.json").write_text(json.dumps(records))
    (run / "segments.json").write_text(json.dumps([{"segment": "A", "customers": 3},
                                                   {"segment": "B", "customers": 2}]))
    pd.DataFrame({"segment": ["A", "A", "B"], "y_pred": [1.0, 2.0, 4.0]}).to_parquet(
        run / "scored.parquet")
    result = build_report(run)
    for chart in ("sparsity-nmae", "sparsity-normalized-gini", "sparse-vs-non-sparse",
                  "value-by-segment"):
        assert chart in result.charts, result.notes
    nmae = pd.read_csv(run / "report_data" / "sparsity-nmae.csv")
    want = np.mean([r["metrics"]["nmae"] for r in records
                    if r["model"] == "ltvs" and r["sparsity"] == 50])
    got = nmae[(nmae["model"] == "ltvs") & (nmae["sparsity"] == 50)]["mean"].iloc[0]
    assert np.isclose(got, want)
    split = pd.read_csv(run / "report_data" / "sparse-vs-non-sparse.csv")
    assert set(split["group"]) == {"sparse (C_na)", "non-sparse (C_a)"}
    seg = pd.read_csv(run / "report_data" / "value-by-segment.csv")
    assert dict(zip(seg["segment"], seg["predicted_total"], strict=True)) == {"A": 3.0,
                                                                              "B": 4.0}
    assert seg["customers"].sum() == 3
    text = result.path.read_text()
    assert "run.json is missing" in text and "predictions/ltvs-sparsity0-seed0.parquet is " \
        "missing" in text


def test_failed_model_row_shows_its_reason(cdnow_run, tmp_path):
    run = _copy(cdnow_run[0], tmp_path / "r")
    records = _records(run)
    records.append({"model": "ziln", "seed": 0, "n_train": 1, "n_valid": 0, "n_test": 1,
                    "error": "ModelError: ziln: <loss> is NaN after epoch 3"})
    (run / "leaderboard.json").write_text(json.dumps(records))
    result = build_report(run, btyd=False)
    text = result.path.read_text()
    row = re.search(r'<tr class="failed" data-failed="1">(.*?)</tr>', text).group(1)
    assert "ziln" in row and "failed: ModelError: ziln: &lt;loss&gt; is NaN after epoch 3" in row
    assert text.index('data-v="lgbm"') < text.index('class="failed"')  # failed models last
    assert result.n_models == 4


# ---------------------------------------------------------------------------------------
# decisions: segments, targeting ROI and SHAP importance from <run>/decisions/
# ---------------------------------------------------------------------------------------


def test_decisions_charts_match_their_inputs(cdnow_run):
    run, result = cdnow_run
    folder = run / "decisions"
    for chart in ("value-by-segment", "targeting-roi", "shap-importance"):
        assert chart in result.charts, result.notes
        assert (run / "report_data" / f"{chart}.csv").stat().st_size > 0
    scored = pd.read_parquet(folder / "scored.parquet")
    h = next(c for c in scored.columns if c.startswith("value_"))[len("value_"):]
    seg = pd.read_csv(run / "report_data" / "value-by-segment.csv")
    assert seg["customers"].sum() == len(scored) > 4000  # CDNOW's test split
    assert set(seg["segment"]) == {"low", "medium", "high"}
    by = scored.groupby("segment")
    for row in seg.itertuples():
        assert np.isclose(row.predicted_total, by[f"value_{h}"].sum()[row.segment])
        assert np.isclose(row.realised_total, by[f"y_true_{h}"].sum()[row.segment])
    assert np.isclose(seg["share"].sum(), 1.0)
    roi = pd.read_csv(run / "report_data" / "targeting-roi.csv")
    curve = pd.read_csv(folder / "targets.curve.csv")
    assert np.isclose(roi["expected_revenue"].iloc[-1], curve["expected_revenue"].iloc[-1])
    assert roi["contacts"].iloc[-1] == len(scored)
    # the whole base contacted: margin 0.3 x every customer's predicted value
    assert np.isclose(roi["expected_revenue"].iloc[-1], 0.3 * scored[f"value_{h}"].sum())
    assert "realised_revenue" in roi
    shap = pd.read_csv(run / "report_data" / "shap-importance.csv")
    full = pd.read_csv(folder / "shap_importance.csv")
    assert 0 < len(shap) <= 15 and len(full) > 0
    assert shap["feature"].iloc[0] == full.loc[full["mean_abs_shap"].idxmax(), "feature"]
    assert shap["mean_abs_shap"].is_monotonic_decreasing
    text = result.path.read_text()
    assert 'id="sec-decisions"' in text
    assert not [n for n in result.notes if "decisions" in n or "SHAP" in n], result.notes
    # the saved segment boundaries are shown
    assert "quantiles [0.5, 0.8]" in text


def test_decisions_plot_functions_draw_the_frames(cdnow_run):
    from ltvkit.report import plot_shap_importance, plot_targeting_roi, plot_value_by_segment
    from ltvkit.scoring import segment_table

    folder = cdnow_run[0] / "decisions"
    scored = pd.read_parquet(folder / "scored.parquet")
    h = next(c for c in scored.columns if c.startswith("value_"))[len("value_"):]
    table = segment_table(scored, truth_col=f"y_true_{h}")
    fig = plot_value_by_segment(table)
    assert [t.name for t in fig.data] == ["predicted", "realised"]
    curve = pd.read_csv(folder / "targets.curve.csv")
    fig = plot_targeting_roi(curve)
    assert [t.name for t in fig.data] == ["expected revenue", "realised revenue", "spend"]
    assert np.allclose(np.asarray(fig.data[0].customdata)[:, 0], curve["expected_roi"])
    imp = pd.read_csv(folder / "shap_importance.csv")
    fig = plot_shap_importance(imp, top=5)
    assert len(fig.data[0].y) == 5 and fig.data[0].y[-1] == imp["feature"].iloc[0]
    with pytest.raises(ReportDataError, match="missing column"):
        plot_shap_importance(imp.drop(columns="mean_abs_shap"))


def test_decisions_missing_parts_give_notes(cdnow_run, tmp_path):
    run = _copy(cdnow_run[0], tmp_path / "r")
    (run / "decisions" / "shap_importance.csv").unlink()
    result = build_report(run, btyd=False)
    text = result.path.read_text()
    assert "SHAP global importance: shap_importance.csv is missing" in text
    assert "shap-importance" not in result.charts
    assert {"value-by-segment", "targeting-roi"} <= set(result.charts)
    (run / "decisions" / "targets.curve.csv").write_text("")
    (run / "decisions" / "scored.parquet").unlink()
    result = build_report(run, btyd=False)
    text = result.path.read_text()
    assert "targeting ROI curve: not drawn" in text
    assert "scored.parquet is missing" in text
    assert not {"value-by-segment", "targeting-roi"} & set(result.charts)
