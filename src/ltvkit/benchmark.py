"""The benchmark runner: every model on the same split, scored by the same metrics.

Writes ``leaderboard.json`` (one record per model and seed), ``leaderboard.md`` (mean +/- std
over seeds) and ``predictions/MODEL-seedK.parquet``. A model that fails is recorded with its
error and the others still run.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.metrics import METRIC_KEYS, evaluate, quantile_bucket_edges
from ltvkit.models.registry import all_models, create_model
from ltvkit.prediction import Prediction

# Columns of the printed / markdown leaderboard (all metrics stay in the JSON).
HEADLINE_METRICS = ("normalized_gini", "spearman", "decile_mape", "nmae", "nrmse", "auc_active",
                    "top10_f1", "interval_coverage_80")

Split = Callable[[LTVDataset, int], tuple[LTVDataset, LTVDataset, LTVDataset]]


def split_model_list(text: str) -> list[str]:
    """Split ``"a,b[x=1,y=2],c@target"`` on the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return [p for p in parts if p]


def parse_model_spec(spec: str) -> tuple[str, dict[str, Any], bool]:
    """``"mean[use_kl=false,tau=2]@target"`` -> ("mean", {"use_kl": False, "tau": 2}, True).

    Brackets set hyper-parameters (values read as JSON, else as text), so ablations run side by
    side in one leaderboard; ``@target`` fits on the target domain of a cross-domain dataset.
    """
    from ltvkit.errors import ModelError

    body, _, where = spec.partition("@")
    if where not in ("", "target"):
        raise ModelError(f"'{spec}': only '@target' is understood after a model name")
    name, params = body, {}
    if "[" in body:
        if not body.endswith("]"):
            raise ModelError(f"'{spec}': hyper-parameters go in brackets at the end, "
                             "e.g. mean[use_kl=false]")
        name, inner = body[:-1].split("[", 1)
        for item in split_model_list(inner):
            key, eq, raw = item.partition("=")
            if not eq:
                raise ModelError(f"'{spec}': '{item}' is not key=value")
            try:
                params[key.strip()] = json.loads(raw)
            except json.JSONDecodeError:
                params[key.strip()] = raw.strip()
    return name.strip(), params, bool(where)


def resolve_models(spec: str | Sequence[str], dataset: LTVDataset | None = None) -> list[str]:
    """``"all"`` or ``"a,b[k=v],c@target"`` -> model specs (``all`` keeps the models the
    dataset can feed)."""
    registry = all_models()
    if isinstance(spec, str):
        if spec.strip() == "all":
            names = []
            for name, cls in registry.items():
                if cls.tag("cross_domain") and (dataset is None or not dataset.domains):
                    continue
                names.append(name)
            return names
        spec = split_model_list(spec)
    unknown = [s for s in spec if parse_model_spec(s)[0] not in registry]
    if unknown:
        from ltvkit.errors import ModelError

        raise ModelError(f"unknown model(s) {unknown}; known: {', '.join(registry)}")
    return list(spec)


def interval_coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of labels inside [lo, hi] (the 10-90 % interval should cover about 80 %)."""
    return float(np.mean((y >= lo - 1e-9) & (y <= hi + 1e-9)))


def score(pred: Prediction, test: LTVDataset, horizon: str, bucket_edges: np.ndarray
          ) -> dict[str, Any]:
    j_true = test.horizons.index(horizon)
    j_pred = pred.horizons.index(horizon)
    y = test.labels[:, j_true]
    p_active = None if pred.p_active is None else pred.p_active[:, j_pred]
    metrics = evaluate(y, pred.value[:, j_pred], p_active, bucket_edges=bucket_edges)
    if pred.quantiles and 0.1 in pred.quantiles and 0.9 in pred.quantiles:
        metrics["interval_coverage_80"] = interval_coverage(
            y, pred.quantiles[0.1][:, j_pred], pred.quantiles[0.9][:, j_pred])
    return metrics


def _model_params(name: str, seed: int, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cls = all_models()[name]
    params = dict(overrides.get(name, {}))
    if "random_state" in cls._param_names():
        params["random_state"] = seed
    return params


def _view(data: LTVDataset, on_target: bool) -> LTVDataset:
    return data.domain_view(data.target_domain) if on_target else data


def fit_and_score(name: str, train: LTVDataset, valid: LTVDataset, test: LTVDataset, seed: int,
                  horizon: str, edges: np.ndarray, params: dict[str, dict[str, Any]],
                  predictions_dir: Path | None = None, label: str | None = None,
                  file_stem: str | None = None
                  ) -> dict[str, Any]:
    """Fit one model and score it on ``test``; never raises (errors go into the record).

    ``name@target`` fits the model on the target domain of a cross-domain dataset only (the
    single-domain baselines of paper 000); ``name[key=value,...]`` sets hyper-parameters. Test sets with sparse customers (the sparsity
    protocol) are also scored on the sparse and the non-sparse customers alone.
    """
    label = label or name
    record: dict[str, Any] = {"model": label, "seed": seed, "n_train": len(train),
                              "n_valid": len(valid), "n_test": len(test)}
    try:
        base, spec_params, on_target = parse_model_spec(name)
        if on_target and not train.domains:
            raise ValueError(f"'{name}' needs a cross-domain dataset")
        model = create_model(base, **{**_model_params(base, seed, params), **spec_params})
        t0 = time.perf_counter()
        model.fit(_view(train, on_target), _view(valid, on_target) if len(valid) else None)
        record["fit_seconds"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        pred = model.predict(_view(test, on_target))
        record["predict_seconds"] = round(time.perf_counter() - t0, 3)
        record["metrics"] = score(pred, test, horizon, edges)
        if test.sparse is not None:
            for key, mask in (("metrics_sparse", test.sparse), ("metrics_non_sparse",
                                                                ~test.sparse)):
                if mask.any():
                    record[key] = score(_subset_prediction(pred, mask), test.subset(mask),
                                        horizon, edges)
        if predictions_dir is not None:
            frame = pred.to_frame(horizon, y_true=test.labels[:, test.horizons.index(horizon)])
            if test.sparse is not None:
                frame["sparse"] = test.sparse
            stem = file_stem or label
            frame.to_parquet(predictions_dir / f"{stem}-seed{seed}.parquet", index=False)
    except Exception as exc:  # one model's failure must not stop the others
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=5)
    return record


def _subset_prediction(pred: Prediction, mask: np.ndarray) -> Prediction:
    import dataclasses

    return dataclasses.replace(
        pred, customer_id=pred.customer_id[mask], cutoff=pred.cutoff[mask],
        value=pred.value[mask],
        p_active=None if pred.p_active is None else pred.p_active[mask],
        quantiles=None if pred.quantiles is None else {
            q: v[mask] for q, v in pred.quantiles.items()},
        bucket_probs=None if pred.bucket_probs is None else pred.bucket_probs[mask],
        extras={})


def run_benchmark(dataset: LTVDataset, split: Split, models: Sequence[str], seeds: Sequence[int],
                  out: str | Path, *, horizon: str | None = None,
                  params: dict[str, dict[str, Any]] | None = None,
                  on_step: Callable[[str], None] | None = None,
                  records: list[dict[str, Any]] | None = None,
                  extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Fit and score every model for every seed; write the leaderboard files into ``out``.

    ``records`` lets several runs (e.g. one per sparsity level) share one leaderboard; ``extra``
    is merged into each of this run's records (e.g. ``{"sparsity": 50}``).
    """
    out = Path(out)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    horizon = horizon or dataset.horizons[0]
    records = [] if records is None else records
    suffix = "".join(f"-{k}{v}" for k, v in (extra or {}).items())
    for seed in seeds:
        train, valid, test = split(dataset, seed)
        # Bucket metrics use thresholds from the training labels, never the test labels.
        edges = quantile_bucket_edges(train.labels[:, train.horizons.index(horizon)])
        for name in models:
            if on_step:
                on_step(f"{name} seed {seed}{suffix}")
            # one predictions file per run (e.g. per sparsity level)
            record = fit_and_score(name, train, valid, test, seed, horizon, edges, params or {},
                                   out / "predictions", label=name, file_stem=name + suffix)
            record.update(extra or {})
            records.append(record)
            write_leaderboard(records, out, horizon=horizon)
    return records


GROUP_KEYS = ("sparsity",)


def group_label(record: dict[str, Any]) -> str:
    """The model name, plus the run's grouping keys (e.g. ``ziln [sparsity=50]``)."""
    return record["model"] + "".join(f" [{k}={record[k]}]" for k in GROUP_KEYS if k in record)


def summarize(records: list[dict[str, Any]], metrics_key: str = "metrics"
              ) -> list[dict[str, Any]]:
    """Mean and std over seeds per model (and sparsity level), best normalized Gini first;
    failed models last. ``metrics_key`` picks the overall metrics or a breakdown
    (``metrics_sparse`` / ``metrics_non_sparse``)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_model.setdefault(group_label(r), []).append(r)
    rows = []
    for name, recs in by_model.items():
        ok = [r for r in recs if metrics_key in r]
        row: dict[str, Any] = {"model": name, "n_seeds": len(ok),
                               "errors": [r["error"] for r in recs if "error" in r]}
        keys = list(METRIC_KEYS) + ["interval_coverage_80"]
        for key in keys:
            vals = [r[metrics_key][key] for r in ok if key in r[metrics_key]]
            vals = [v for v in vals if v is not None and np.isfinite(v)]
            if vals:
                row[key] = (float(np.mean(vals)), float(np.std(vals)))
        if ok:
            row["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in ok]))
        for k in GROUP_KEYS:
            if recs and k in recs[0]:
                row[k] = recs[0][k]
        rows.append(row)
    rows.sort(key=lambda r: (-r.get("normalized_gini", (-np.inf, 0))[0], r["model"]))
    return rows


def _fmt(cell: Any) -> str:
    if isinstance(cell, tuple):
        mean, std = cell
        return f"{mean:.4f} ± {std:.4f}"
    return str(cell)


SPARSITY_METRICS = ("nmae", "nrmse", "normalized_gini")


def _table(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[str]:
    head = ["model", *metrics, "fit s", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: r.get("sparsity", 0)):
        if not r["n_seeds"]:
            reason = r["errors"][0][:120] if r["errors"] else "no samples"
            lines.append(f"| {r['model']} | failed: {reason} |")
            continue
        cells = [r["model"]] + [_fmt(r.get(k, "—")) for k in metrics]
        cells += [f"{r.get('fit_seconds', 0):.1f}", str(r["n_seeds"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def leaderboard_markdown(records: list[dict[str, Any]], horizon: str | None = None) -> str:
    lines = []
    if horizon:
        lines.append(f"Horizon {horizon}; mean ± std over seeds; test split.\n")
    lines += _table(summarize(records), HEADLINE_METRICS)
    if any("metrics_sparse" in r for r in records):
        for key, title in (("metrics_sparse", "sparse customers (C_na: no target history)"),
                           ("metrics_non_sparse", "non-sparse customers (C_a)")):
            lines += ["", f"**{title}**", ""]
            lines += _table([r for r in summarize(records, key) if r["n_seeds"]],
                            SPARSITY_METRICS)
    return "\n".join(lines) + "\n"


def write_leaderboard(records: list[dict[str, Any]], out: Path, horizon: str | None = None
                      ) -> None:
    slim = [{k: v for k, v in r.items() if k != "traceback"} for r in records]
    (out / "leaderboard.json").write_text(json.dumps(slim, indent=2, default=float))
    (out / "leaderboard.md").write_text(leaderboard_markdown(records, horizon))
    errors = [r for r in records if "traceback" in r]
    if errors:
        (out / "errors.log").write_text("\n\n".join(f"{r['model']} seed {r['seed']}:\n"
                                                    f"{r['traceback']}" for r in errors))
