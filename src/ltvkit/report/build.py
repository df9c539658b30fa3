"""``report.html`` from a benchmark run folder: one self-contained file (plotly.js inline, no
request leaves it), the numbers of every chart as CSV in ``report_data/`` and, when a
browser for plotly's Kaleido exporter exists, PNG and SVG copies in ``report_static/``.

What the run folder holds (``ltv benchmark --out DIR``): ``leaderboard.json`` (one record per
model and seed), ``predictions/MODEL[-sparsityP]-seedK.parquet``, ``run.json`` (data source,
task, models, seeds) and ``quality.json`` (the data-quality report). A part that is missing
or cannot be charted becomes a visible note in its section, never a traceback.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltvkit.errors import LTVError
from ltvkit.report import data as D
from ltvkit.report import plots as P

#: Models drawn in the ranking and calibration charts (the best by normalized Gini).
TOP_MODELS = 5
#: Files another part of ltvkit may leave in the run folder for the decisions section.
DECISION_FILES = ("scored.parquet", "segments.json")
#: The folder ``ltv demo`` writes its decisions outputs into, inside the run folder.
DECISIONS_DIR = "decisions"
#: The SHAP global importance (``ltvkit.explain.global_importance``) in that folder.
SHAP_FILE = "shap_importance.csv"
#: Inputs drawn in the SHAP importance chart.
SHAP_TOP = 15


class ReportInputError(LTVError):
    """The run folder cannot give a report at all (it does not exist, or is not a folder)."""


@dataclasses.dataclass
class Chart:
    id: str
    figure: Any
    data: pd.DataFrame


@dataclasses.dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    items: list[Any] = dataclasses.field(default_factory=list)  # Chart | str (HTML) | Note

    def note(self, text: str) -> None:
        self.items.append(Note(text))


@dataclasses.dataclass
class Note:
    text: str


@dataclasses.dataclass
class ReportResult:
    """What :func:`build_report` wrote: the HTML path, chart ids, notes, static files."""

    path: Path
    charts: list[str]
    notes: list[str]
    static_files: list[Path]
    n_models: int


# ------------------------------------------------------------------------------------------
# the run folder
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunFolder:
    path: Path
    records: list[dict[str, Any]] | None
    info: dict[str, Any]
    quality: dict[str, Any] | None
    problems: dict[str, str]

    @classmethod
    def read(cls, path: str | Path) -> RunFolder:
        path = Path(path)
        if not path.is_dir():
            raise ReportInputError(f"run folder {path}: does not exist or is not a folder")
        problems: dict[str, str] = {}

        def load(name: str) -> Any:
            f = path / name
            if not f.exists():
                problems[name] = f"{name} is missing from {path}"
                return None
            try:
                return json.loads(f.read_text())
            except json.JSONDecodeError as exc:
                problems[name] = f"{name} is not valid JSON ({exc})"
                return None

        records = load("leaderboard.json")
        if records is not None and not isinstance(records, list):
            problems["leaderboard.json"] = "leaderboard.json is not a list of records"
            records = None
        return cls(path, records, load("run.json") or {}, load("quality.json"), problems)

    @property
    def horizon(self) -> str | None:
        return self.info.get("horizon")

    def predictions(self, record: dict[str, Any]) -> tuple[pd.DataFrame | None, str]:
        """The predictions frame of one record, or ``None`` and why."""
        suffix = "".join(f"-{k}{record[k]}" for k in ("sparsity",) if k in record)
        name = f"{record['model']}{suffix}-seed{record['seed']}.parquet"
        f = self.path / "predictions" / name
        if not f.exists():
            return None, f"{record['model']}: predictions/{name} is missing"
        df = pd.read_parquet(f)
        missing = {"y_true", "y_pred"} - set(df.columns)
        if missing:
            return None, f"{record['model']}: predictions/{name} lacks {sorted(missing)}"
        if not len(df):
            return None, (f"{record['model']}: predictions/{name} has 0 rows "
                          "(the test split is empty)")
        return df, ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _try(section: Section, what: str, fn: Callable[[], Chart | list[Any] | None]) -> None:
    """Add a chart (or charts, and HTML) to ``section``; a data problem becomes a visible note."""
    try:
        out = fn()
    except (LTVError, ValueError, KeyError) as exc:
        section.note(f"{what}: not drawn: {exc}")
        return
    if out is None:
        return
    section.items.extend(out if isinstance(out, list) else [out])


# ------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------


def _kv_table(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in pairs if v not in (None, "", []))
    return f'<table class="kv">{rows}</table>'


def data_section(run: RunFolder) -> Section:
    s = Section("data", "Data and task",
                "What was read, what cleaning dropped, the prediction task and the size of "
                "the dataset.")
    info, task = run.info, run.info.get("task") or {}
    if task.get("cutoff"):
        cutoffs = task["cutoff"]
    elif task.get("cutoff_start"):
        cutoffs = f"{task['cutoff_start']} .. {task['cutoff_end']} every {task['cutoff_step']}"
    else:
        cutoffs = None
    first = next((r for r in run.records or [] if "n_test" in r), {})
    pairs = [("dataset", info.get("dataset") or info.get("data")), ("cutoffs", cutoffs),
             ("horizon scored", info.get("horizon")),
             ("horizons", ", ".join(info.get("horizons") or [])),
             ("lookback", task.get("lookback") or ("all history" if task else None)),
             ("cohort", task.get("cohort")),
             ("sequence", f"{task['n_periods']} periods of {task['period']}" if task else None),
             ("data end", info.get("data_end")),
             ("domains", ", ".join(info.get("domains") or [])),
             ("target domain", info.get("target_domain")),
             ("samples (customer, cutoff)", info.get("n_samples")),
             ("customers in scope", info.get("n_customers")),
             ("features", info.get("n_features")),
             ("train / valid / test", f"{first['n_train']:,} / {first['n_valid']:,} / "
                                      f"{first['n_test']:,}" if first else None),
             ("models", ", ".join(info.get("models") or [])),
             ("seeds", ", ".join(map(str, info.get("seeds") or [])))]
    if not info:
        s.note(run.problems.get("run.json", "run.json is missing") +
               ": the task and dataset size are unknown")
    else:
        s.items.append(_kv_table(pairs))
    if run.quality is None:
        s.note(run.problems.get("quality.json", "quality.json is missing") +
               ": no data-quality waterfall")
        return s
    q = run.quality
    _try(s, "data-quality waterfall", lambda: Chart(
        "quality-waterfall", P.plot_quality_waterfall(q), D.waterfall_data(q)))
    if info.get("n_customers") is not None and q.get("n_customers"):
        _try(s, "customers in scope", lambda: Chart(
            "customer-scope", P.plot_scope(int(q["n_customers"]), int(info["n_customers"])),
            D.scope_data(int(q["n_customers"]), int(info["n_customers"]))))
    kept = q.get("kept_with_notes") or {}
    notes = [(k.replace("_", " "), f"{v:,}") for k, v in kept.items()]
    notes += [("duplicate rows in the input", q.get("duplicate_rows_in_input")),
              ("time range", f"{q.get('time_min')} .. {q.get('time_max')}")]
    s.items.append(_kv_table(notes))
    for text in q.get("notes") or []:
        s.note(text)
    return s


def _base_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the lowest sparsity level (all records of a plain run)."""
    levels = [r["sparsity"] for r in records if "sparsity" in r]
    if not levels:
        return records
    return [r for r in records if r.get("sparsity") == min(levels)]


def leaderboard_section(run: RunFolder) -> tuple[Section, int]:
    from ltvkit.evaluation.leaderboard import HEADLINE_METRICS, cell, label, summarize

    s = Section("leaderboard", "Leaderboard",
                "Test-split metrics, mean ± std over seeds (click a column to sort; failed "
                "models stay last with their reason).")
    if run.records is None:
        s.note(run.problems.get("leaderboard.json", "leaderboard.json is missing") +
               ": no leaderboard, ranking or calibration charts")
        return s, 0
    rows = summarize(run.records)
    head = ["model", *map(label, HEADLINE_METRICS), "fit s", "seeds"]
    out = ['<table class="sortable" id="leaderboard-table"><thead><tr>']
    out += [f'<th data-col="{i}">{html.escape(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for r in sorted(rows, key=lambda r: r.get("sparsity", 0)):
        name = html.escape(r["model"])
        if not r["n_seeds"]:
            reason = html.escape(r["errors"][0] if r["errors"] else "no samples")
            out.append(f'<tr class="failed" data-failed="1"><td data-v="{name}">{name}</td>'
                       f'<td colspan="{len(head) - 1}">failed: {reason}</td></tr>')
            continue
        cells = [f'<td data-v="{name}">{name}</td>']
        for key in HEADLINE_METRICS:
            v = r[key][0] if key in r else ""
            cells.append(f'<td data-v="{v}">{html.escape(cell(r, key))}</td>')
        cells.append(f'<td data-v="{r.get("fit_seconds", 0)}">{r.get("fit_seconds", 0):.1f}</td>')
        cells.append(f'<td data-v="{r["n_seeds"]}">{r["n_seeds"]}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    s.items.append("".join(out))
    for r in rows:
        for e in r["errors"][1 if not r["n_seeds"] else 0:]:
            s.note(f"{r['model']}: a seed failed: {e}")
    return s, len(rows)


def _top_frames(run: RunFolder, notes: list[str]) -> tuple[dict[str, pd.DataFrame],
                                                           dict[str, dict[str, Any]]]:
    """Predictions frames of every model that has them (one seed each), best first."""
    from ltvkit.evaluation.leaderboard import summarize

    base = _base_records(run.records or [])
    frames: dict[str, pd.DataFrame] = {}
    chosen: dict[str, dict[str, Any]] = {}
    for row in summarize(base):
        recs = [r for r in base if r["model"] == row["model_name"] and "metrics" in r]
        if not recs:
            continue
        df, why = run.predictions(recs[0])
        if df is None:
            notes.append(why)
            continue
        frames[row["model_name"]] = df
        chosen[row["model_name"]] = recs[0]
    return frames, chosen


def ranking_sections(run: RunFolder) -> list[Section]:
    rank = Section("ranking", "Ranking",
                   "How much of the true value the top of each model's ranking captures, "
                   f"and mean predicted vs actual value per predicted decile (the {TOP_MODELS} "
                   "best models by normalized Gini; the first seed of each).")
    cal = Section("calibration", "Calibration",
                  "Binned mean predicted vs mean actual on log axes, interval coverage per "
                  "decile for the models that predict quantiles, and the share of customers "
                  "with zero value.")
    if run.records is None:
        for s in (rank, cal):
            s.note("leaderboard.json is missing: no predictions to chart")
        return [rank, cal]
    notes: list[str] = []
    frames, chosen = _top_frames(run, notes)
    for n in notes:
        rank.note(n)
    if not frames:
        for s in (rank, cal):
            s.note("no model has a usable predictions file")
        return [rank, cal]
    top = dict(list(frames.items())[:TOP_MODELS])

    def gain() -> Chart:
        df = pd.concat([D.gain_data(f["y_true"], f["y_pred"], m) for m, f in top.items()],
                       ignore_index=True)
        return Chart("gain-curve", P.gain_figure(df), df)

    def deciles() -> Chart:
        df = pd.concat([D.decile_data(f["y_true"], f["y_pred"], m) for m, f in top.items()],
                       ignore_index=True)
        return Chart("deciles", P.decile_figure(df), df)

    def calibration() -> Chart:
        df = pd.concat([D.calibration_data(f["y_true"], f["y_pred"], m)
                        for m, f in top.items()], ignore_index=True)
        return Chart("calibration", P.calibration_figure(df), df)

    def coverage() -> Chart | None:
        with_q = {m: f for m, f in frames.items() if {"q10", "q90"} <= set(f)}
        if not with_q:
            cal.note("interval coverage: no model of this run predicts a 10-90 % interval")
            return None
        df = pd.concat([D.coverage_data(f["y_true"], f["q10"], f["q90"], f["y_pred"], m)
                        for m, f in with_q.items()], ignore_index=True)
        return Chart("interval-coverage", P.coverage_figure(df), df)

    def zeros() -> Chart:
        observed = {m: chosen[m]["metrics"].get("zero_label_fraction", np.nan) for m in frames}
        df = D.zero_share_data(frames, observed)
        return Chart("zero-share", P.zero_share_figure(df), df)

    _try(rank, "gain curve", gain)
    _try(rank, "decile chart", deciles)
    _try(cal, "calibration", calibration)
    _try(cal, "interval coverage", coverage)
    _try(cal, "zero share", zeros)
    return [rank, cal]


def _run_dataset(run: RunFolder) -> tuple[Any, Any, Any]:
    """(dataset, log or None, split function) the run was made on."""
    from ltvkit.data.dataset import LTVDataset

    if run.info.get("dataset"):
        from ltvkit.data import build_dataset
        from ltvkit.datasets import get_dataset

        public = get_dataset(run.info["dataset"])
        log = public.load_log()
        return build_dataset(log, public.task), log, public.split.split
    if run.info.get("data"):
        from ltvkit.evaluation.splits import customer_split

        return LTVDataset.load(run.info["data"]), None, customer_split
    raise D.ReportDataError("run.json names no dataset: the BTYD charts need the run's data")


def btyd_section(run: RunFolder) -> Section:
    from ltvkit.report import btyd as B

    s = Section("btyd", "BTYD: buy till you die",
                "A BG/NBD model refitted on the run's training split (first seed; the run does "
                "not keep its models, and the fit is deterministic): P(alive) and expected "
                "purchases over (frequency, recency), the tracking of the cohort's repeat "
                "purchases over calendar time and calibration vs holdout purchases.")
    if not run.info:
        s.note("run.json is missing: the BTYD charts need the run's data")
        return s
    try:
        ds, log, split = _run_dataset(run)
        seed = (run.info.get("seeds") or [0])[0]
        train, _, test = split(ds, seed)
        if not len(train):
            raise D.ReportDataError("train: the training split is empty")
        model = B.fit_bgnbd(train)
    except Exception as exc:  # a BTYD failure leaves the rest of the report intact
        s.note(f"BTYD model not fitted: {type(exc).__name__}: {exc}")
        return s
    if getattr(model, "fit_note_", ""):
        s.note(f"BG/NBD fit: {model.fit_note_}")
    from ltvkit.models.base.btyd import rfm

    x, _, T, _ = rfm(train)
    fmax = int(np.clip(np.quantile(x, 0.99), 5, 40))
    age = float(T.max())
    horizon = run.horizon or ds.horizons[0]
    from ltvkit.data.layout import Horizon

    weeks = Horizon.parse(horizon).days / B.DAYS_PER_WEEK
    p = model.purchase_params_
    mod = model.purchase_module

    def alive() -> Chart:
        df = D.btyd_matrix_data(lambda a, b, c: mod.p_alive(p, a, b, c), fmax, age, age)
        return Chart("p-alive-matrix", P.matrix_figure(
            df, "Probability a customer is alive, by frequency and recency", "P(alive)"), df)

    def expected() -> Chart:
        df = D.btyd_matrix_data(lambda a, b, c: mod.expected_purchases(p, weeks, a, b, c),
                                fmax, age, age)
        return Chart("expected-purchases-matrix", P.matrix_figure(
            df, f"Expected purchases in the next {weeks:.0f} weeks ({horizon}), by frequency "
                "and recency", "purchases"), df)

    def tracking() -> Chart | None:
        if log is None:
            s.note("tracking plot: the run was made from a prepared dataset directory, which "
                   "keeps no transaction log")
            return None
        if ds.domains:
            s.note("tracking plot: not drawn for cross-domain runs")
            return None
        task = run.info.get("task") or {}
        end = run.info.get("data_end") or (run.quality or {}).get("time_max")
        df = B.tracking_data(model, log, np.unique(ds.customer_id), end)
        return Chart("tracking", P.plot_tracking(df, task.get("cutoff")), df)

    def holdout() -> Chart:
        df = B.holdout_data(model, test, horizon)
        return Chart("calibration-vs-holdout", P.plot_holdout(df, horizon), df)

    _try(s, "P(alive) matrix", alive)
    _try(s, "expected purchases matrix", expected)
    _try(s, "tracking plot", tracking)
    _try(s, "calibration vs holdout", holdout)
    return s


def cross_domain_section(run: RunFolder) -> Section | None:
    records = run.records or []
    if not any("sparsity" in r for r in records):
        return None
    s = Section("cross-domain", "Cross-domain: sparsity",
                "Metrics against the share of customers stripped of their target-domain "
                "history (the CDLtvS sparsity protocol), and sparse vs non-sparse customers.")
    from ltvkit.evaluation.leaderboard import summarize

    for metric in ("nmae", "normalized_gini"):
        _try(s, f"{metric} vs sparsity", lambda m=metric: Chart(
            f"sparsity-{_slug(m)}", P.plot_sparsity(records, m),
            D.sparsity_data(summarize(records), [m])))
    _try(s, "sparse vs non-sparse", lambda: _sparse_chart(records))
    return s


def _sparse_chart(records: list[dict[str, Any]]) -> Chart:
    fig = P.plot_sparse_split(records, "nmae")
    rows = [{"group": t.name, "x": x, "mean": y} for t in fig.data
            for x, y in zip(t.x, t.y, strict=True)]
    return Chart("sparse-vs-non-sparse", fig, pd.DataFrame(rows))


def _decisions_dir(run: RunFolder) -> Path | None:
    """``<run>/decisions/`` (what ``ltv demo`` writes), else the run folder itself when it
    has the older root-level ``scored.parquet`` / ``segments.json``; ``None`` without either."""
    sub = run.path / DECISIONS_DIR
    if sub.is_dir():
        return sub
    if any((run.path / f).exists() for f in DECISION_FILES):
        return run.path
    return None


def _segment_frame(scored: pd.DataFrame) -> pd.DataFrame:
    """The segment table of a scored base (``value_<h>``, or a legacy ``y_pred`` column)."""
    from ltvkit.scoring import ScoringError, segment_table

    value_col = next((c for c in scored.columns if c.startswith("value_")), None)
    if value_col is None and "y_pred" in scored.columns:
        value_col = "y_pred"
    if value_col is None or "segment" not in scored.columns:
        raise D.ReportDataError("scored.parquet: has no segment / value_<h> columns to chart")
    truth = ("y_true_" + value_col[len("value_"):] if value_col.startswith("value_")
             else "y_true")
    try:
        return segment_table(scored, value_col=value_col,
                             truth_col=truth if truth in scored.columns else None)
    except ScoringError as exc:
        raise D.ReportDataError(str(exc)) from None


def _segments_html(path: Path) -> str:
    """``segments.json``: the saved value segments (thresholds per label) or a list of rows."""
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "thresholds" in data:
        bounds = [None, *data["thresholds"], None]
        rows = [(lab, f"{'-inf' if lo is None else f'{lo:,.2f}'} .. "
                      f"{'inf' if hi is None else f'{hi:,.2f}'}")
                for lab, lo, hi in zip(data["labels"], bounds[:-1], bounds[1:], strict=True)]
        rows += [("learnt on", f"{data.get('n_train', 0):,} training predictions, quantiles "
                               f"{data.get('quantiles')}" if data.get("quantiles") else None),
                 ("horizon", data.get("horizon"))]
        return _kv_table(rows)
    return pd.DataFrame(data).to_html(index=False, classes="kv", border=0)


def decisions_section(run: RunFolder) -> Section | None:
    """The decisions outputs of ``<run>/decisions/`` (``ltv demo`` writes them; older runs may
    hold ``scored.parquet`` / ``segments.json`` at the run folder's root): the segment table
    and value by segment, the targeting ROI curve and the SHAP global importance of the model.
    Absent when the run has no decisions outputs; a missing part becomes a visible note."""
    folder = _decisions_dir(run)
    if folder is None:
        return None
    rel = folder.relative_to(run.path).as_posix() if folder != run.path else "the run folder"
    s = Section("decisions", "Decisions",
                f"From predictions to decisions ({rel}): the value segments of the scored "
                "customers, the revenue of contacting the top of the ranking and the inputs "
                "that drive the model's predictions (mean |SHAP|).")
    seg_file = next((f for f in (folder / "segments.json", folder / "lgbm" / "segments.json",
                                 *sorted(folder.glob("*/segments.json"))) if f.exists()), None)
    if seg_file is not None:
        try:
            s.items.append(_segments_html(seg_file))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            s.note(f"{seg_file.name}: not shown: {exc}")
    scored_file = folder / "scored.parquet"
    if not scored_file.exists():
        s.note(f"segment table and value by segment: scored.parquet is missing from {folder}")
    else:
        def segments() -> list[Any]:
            table = _segment_frame(pd.read_parquet(scored_file))
            return [table.to_html(index=False, classes="kv", border=0,
                                  float_format=lambda x: f"{x:,.3f}"),
                    Chart("value-by-segment", P.plot_value_by_segment(table), table)]

        _try(s, "value by segment", segments)
    curve_file = folder / "targets.curve.csv"
    if not curve_file.exists():
        s.note(f"targeting ROI curve: targets.curve.csv is missing from {folder} "
               "(write TargetResult.curve there)")
    else:
        def roi() -> Chart:
            curve = pd.read_csv(curve_file)
            return Chart("targeting-roi", P.plot_targeting_roi(curve), curve)

        _try(s, "targeting ROI curve", roi)
    shap_file = folder / SHAP_FILE
    if not shap_file.exists():
        s.note(f"SHAP global importance: {SHAP_FILE} is missing from {folder} "
               "(write ltvkit.explain.global_importance(...) there)")
    else:
        def importance() -> Chart:
            imp = pd.read_csv(shap_file)
            fig = P.plot_shap_importance(imp, SHAP_TOP)
            top = imp.sort_values("mean_abs_shap", ascending=False).head(SHAP_TOP)
            return Chart("shap-importance", fig, top.reset_index(drop=True))

        _try(s, "SHAP global importance", importance)
    return s


# ------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}header{background:#1f2a44;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cdd}
nav{padding:8px 32px;background:#eef}nav a{margin-right:14px;color:#1f2a44}
section{background:#fff;margin:16px 32px;padding:12px 24px;border-radius:6px;
box-shadow:0 1px 3px rgba(0,0,0,.1)}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
.chart{min-height:440px}.chart-box{margin:12px 0}.chart-box small{color:#777}
.note{background:#fff4d6;border-left:4px solid #e0a800;padding:6px 10px;margin:8px 0}
table{border-collapse:collapse;font-size:14px;margin:8px 0}
td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
td:first-child,th:first-child,table.kv th{text-align:left}
table.sortable th{cursor:pointer;background:#f3f3f8}table.sortable th:hover{background:#e3e3f0}
tr.failed td{color:#b00020;white-space:normal}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      rows.sort(function(a, b){
        var fa = a.hasAttribute('data-failed'), fb = b.hasAttribute('data-failed');
        if (fa !== fb) return fa ? 1 : -1;
        var ca = a.cells[fa ? 0 : col], cb = b.cells[fb ? 0 : col];
        var va = ca ? ca.getAttribute('data-v') : '', vb = cb ? cb.getAttribute('data-v') : '';
        var na = parseFloat(va), nb = parseFloat(vb), r;
        if (isNaN(na) && isNaN(nb)) r = String(va).localeCompare(String(vb));
        else if (isNaN(na)) return 1; else if (isNaN(nb)) return -1; else r = na - nb;
        return asc ? r : -r;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def _render(sections: list[Section], title: str, subtitle: str, data_dir: str) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#sec-{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = []
    config = {"displaylogo": False, "responsive": True}
    for s in sections:
        body = [f'<section id="sec-{s.id}"><h2>{html.escape(s.title)}</h2>']
        if s.intro:
            body.append(f"<p>{html.escape(s.intro)}</p>")
        for item in s.items:
            if isinstance(item, Chart):
                div = pio.to_html(item.figure, full_html=False, include_plotlyjs=False,
                                  div_id=item.id, config=config)
                body.append(f'<div class="chart-box" data-chart="{item.id}">'
                            f'<div class="chart">{div}</div><small>numbers: '
                            f'{data_dir}/{item.id}.csv</small></div>')
            elif isinstance(item, Note):
                body.append(f'<div class="note">{html.escape(item.text)}</div>')
            else:
                body.append(item)
        body.append("</section>")
        parts.append("".join(body))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<nav>{nav}</nav>{''.join(parts)}<script>{SORT_JS}</script></body></html>")


def build_sections(run: RunFolder, btyd: bool = True) -> tuple[list[Section], int]:
    """Every section of the report of ``run`` (and the number of leaderboard rows)."""
    board, n_models = leaderboard_section(run)
    sections = [data_section(run), board, *ranking_sections(run)]
    if btyd:
        sections.append(btyd_section(run))
    for extra in (cross_domain_section(run), decisions_section(run)):
        if extra is not None:
            sections.append(extra)
    return sections, n_models


def export_static(charts: list[Chart], out_dir: Path, formats: tuple[str, ...] = ("png", "svg")
                  ) -> list[Path]:
    """PNG / SVG copies of ``charts`` through plotly's Kaleido exporter (a headless Chromium;
    ``BROWSER_PATH`` names it when it is not on the ``PATH``)."""
    import plotly.io as pio

    out_dir.mkdir(parents=True, exist_ok=True)
    figs, paths = [], []
    for c in charts:
        for fmt in formats:
            figs.append(c.figure)
            paths.append(out_dir / f"{c.id}.{fmt}")
    pio.write_images(figs, paths, width=1000, height=500)
    return paths


def build_report(run_dir: str | Path, out: str | Path | None = None, *, static: bool = False,
                 btyd: bool = True) -> ReportResult:
    """Write ``report.html`` (default: into ``run_dir``), ``report_data/*.csv`` and, with
    ``static``, ``report_static/*.png|svg``; returns what was written and every note.

    Raises :class:`ReportInputError` only when ``run_dir`` is not a folder: every other
    problem becomes a note in the report."""
    run = RunFolder.read(run_dir)
    sections, n_models = build_sections(run, btyd=btyd)
    path = Path(out) if out is not None else run.path / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    data_dir = path.parent / "report_data"
    data_dir.mkdir(exist_ok=True)
    charts = [c for s in sections for c in s.items if isinstance(c, Chart)]
    for c in charts:
        c.data.to_csv(data_dir / f"{c.id}.csv", index=False)
    static_files: list[Path] = []
    if static and charts:
        try:
            static_files = export_static(charts, path.parent / "report_static")
        except Exception as exc:  # no browser for Kaleido: the HTML report still stands
            sections[0].note(f"static PNG/SVG copies not written: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}")
    name = run.info.get("dataset") or Path(str(run.info.get("data", run.path))).name
    subtitle = (f"run folder {run.path.resolve()}; horizon {run.horizon or 'unknown'}; "
                f"{n_models} leaderboard rows")
    path.write_text(_render(sections, f"ltvkit report: {name}", subtitle, data_dir.name))
    notes = [i.text for s in sections for i in s.items if isinstance(i, Note)]
    return ReportResult(path, [c.id for c in charts], notes, static_files, n_models)
