"""The benchmark runner: every model on the same split, scored by the same metrics.

:func:`run_benchmark` fits and scores a list of model specs for every seed and writes, into the
output directory, ``leaderboard.json`` (one record per model and seed), ``leaderboard.md``
(mean ± std over seeds) and ``predictions/MODEL-seedK.parquet``. A model that fails is recorded
with its error and the others still run.

The sparsity protocol of cross-domain LTV benchmarks: at each sparsity level P (in percent) and
for each seed, the dataset is rebuilt from its log with P % of the customers (drawn with the
run's seed) stripped of their target-domain history, and the test set is also scored on the
sparse and the non-sparse customers alone. :func:`plan_public_dataset` / :func:`plan_dataset`
check the arguments and load the data; :meth:`BenchmarkPlan.run` runs it.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import LTVError
from ltvkit.evaluation.leaderboard import write_leaderboard
from ltvkit.evaluation.specs import ModelSpec, resolve_models
from ltvkit.evaluation.splits import Split, customer_split
from ltvkit.metrics import evaluate, quantile_bucket_edges
from ltvkit.prediction import Prediction

Record = dict[str, Any]


def score(pred: Prediction, test: LTVDataset, horizon: str, bucket_edges: np.ndarray
          ) -> dict[str, Any]:
    """The metrics of ``pred`` against ``test``'s labels at ``horizon`` (with the 10-90 %
    interval coverage when the prediction has those quantiles)."""
    j_pred = pred.horizon_index(horizon)
    y = test.labels_for(horizon)
    p_active = None if pred.p_active is None else pred.p_active[:, j_pred]
    q = pred.quantiles or {}
    has_interval = 0.1 in q and 0.9 in q
    return evaluate(y, pred.value[:, j_pred], p_active, bucket_edges=bucket_edges,
                    q_low=q[0.1][:, j_pred] if has_interval else None,
                    q_high=q[0.9][:, j_pred] if has_interval else None)


def _model_params(name: str, seed: int, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from ltvkit.models import get_model_class

    params = dict(overrides.get(name, {}))
    if "random_state" in get_model_class(name)._param_names():
        params["random_state"] = seed
    return params


def _view(data: LTVDataset, on_target: bool) -> LTVDataset:
    return data.domain_view(data.target_domain) if on_target else data


def fit_and_score(name: str, train: LTVDataset, valid: LTVDataset, test: LTVDataset, seed: int,
                  horizon: str, edges: np.ndarray, params: dict[str, dict[str, Any]],
                  predictions_dir: Path | None = None, label: str | None = None,
                  file_stem: str | None = None) -> Record:
    """Fit one model spec and score it on ``test``; never raises (errors go into the record).

    ``name@target`` fits the model on the target domain of a cross-domain dataset only;
    ``name[key=value,...]`` sets hyper-parameters. Test sets with sparse customers (the
    sparsity protocol) are also scored on the sparse and the non-sparse customers alone.
    """
    from ltvkit.models import create_model

    label = label or name
    record: Record = {"model": label, "seed": seed, "n_train": len(train),
                      "n_valid": len(valid), "n_test": len(test)}
    try:
        spec = ModelSpec.parse(name)
        if spec.on_target and not train.domains:
            raise ValueError(f"'{name}' needs a cross-domain dataset")
        model = create_model(spec.name, **{**_model_params(spec.name, seed, params),
                                           **spec.params})
        t0 = time.perf_counter()
        model.fit(_view(train, spec.on_target),
                  _view(valid, spec.on_target) if len(valid) else None)
        record["fit_seconds"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        pred = model.predict(_view(test, spec.on_target))
        record["predict_seconds"] = round(time.perf_counter() - t0, 3)
        record["metrics"] = score(pred, test, horizon, edges)
        if test.sparse is not None:
            for key, mask in (("metrics_sparse", test.sparse),
                              ("metrics_non_sparse", ~test.sparse)):
                if mask.any():
                    record[key] = score(pred.subset(mask), test.subset(mask), horizon, edges)
        if predictions_dir is not None:
            frame = pred.to_frame(horizon, y_true=test.labels_for(horizon))
            if test.sparse is not None:
                frame["sparse"] = test.sparse
            stem = file_stem or label
            frame.to_parquet(predictions_dir / f"{stem}-seed{seed}.parquet", index=False)
    except Exception as exc:  # one model's failure must not stop the others
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=5)
    return record


def run_benchmark(dataset: LTVDataset, split: Split, models: Sequence[str], seeds: Sequence[int],
                  out: str | Path, *, horizon: str | None = None,
                  params: dict[str, dict[str, Any]] | None = None,
                  on_step: Callable[[str], None] | None = None,
                  records: list[Record] | None = None,
                  extra: dict[str, Any] | None = None) -> list[Record]:
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
        edges = quantile_bucket_edges(train.labels_for(horizon))
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


@dataclasses.dataclass
class BenchmarkPlan:
    """A checked benchmark: the dataset, its split, the model specs, seeds and sparsity levels
    (``[None]`` for a plain run; ``rebuild(share, seed)`` makes a level's dataset)."""

    dataset: LTVDataset
    split: Split
    models: list[str]
    seeds: list[int]
    levels: list[int | None]
    rebuild: Callable[[float, int], LTVDataset] | None = None
    #: Where the data came from (``{"dataset": name}`` or ``{"data": dir}``), for ``run.json``.
    source: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def horizon(self) -> str:
        return self.dataset.horizons[0]

    @property
    def n_steps(self) -> int:
        """The number of model fits :meth:`run` makes."""
        return len(self.models) * len(self.seeds) * len(self.levels)

    def run(self, out: str | Path, *, params: dict[str, dict[str, Any]] | None = None,
            on_step: Callable[[str], None] | None = None) -> list[Record]:
        """Run every level, seed and model into one leaderboard in ``out``."""
        write_run_info(self, out)
        records: list[Record] = []
        for level in self.levels:
            if level is None:
                run_benchmark(self.dataset, self.split, self.models, self.seeds, out,
                              params=params, on_step=on_step, records=records)
                continue
            for seed in self.seeds:
                # The sparse customers are drawn with the run's seed.
                if level == 0 or self.rebuild is None:
                    level_ds = self.dataset
                else:
                    level_ds = self.rebuild(level / 100.0, seed)
                run_benchmark(level_ds, self.split, self.models, [seed], out, params=params,
                              on_step=on_step, records=records, extra={"sparsity": level})
        return records


def write_run_info(plan: BenchmarkPlan, out: str | Path) -> None:
    """Write ``run.json`` (data source, task, horizon, models, seeds, levels, dataset size) and
    ``quality.json`` (the data-quality report of the log) into ``out``, for ``ltv report``."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = plan.dataset
    info = {**plan.source, "horizon": plan.horizon, "models": plan.models, "seeds": plan.seeds,
            "sparsity_levels": plan.levels, "task": ds.meta.get("task"),
            "data_end": ds.meta.get("data_end"), "n_samples": len(ds),
            "n_customers": int(len(np.unique(ds.customer_id))),
            "n_features": len(ds.feature_names), "horizons": list(ds.horizons),
            "domains": list(ds.domains), "target_domain": ds.target_domain}
    (out / "run.json").write_text(json.dumps(info, indent=2, default=str))
    if ds.meta.get("quality") is not None:
        (out / "quality.json").write_text(json.dumps(ds.meta["quality"], indent=2, default=str))


def _plan(ds: LTVDataset, split: Split, models: str | Sequence[str], seeds: Sequence[int],
          sparsities: Sequence[int] | None,
          rebuild: Callable[[float, int], LTVDataset] | None) -> BenchmarkPlan:
    names = resolve_models(models, ds)
    levels: list[int | None] = list(sparsities) if sparsities else [None]
    if any(p is not None and p > 0 for p in levels) and not ds.domains:
        raise LTVError("--sparsity needs a cross-domain dataset (e.g. --dataset olist)")
    return BenchmarkPlan(ds, split, names, list(seeds), levels, rebuild)


def plan_dataset(ds: LTVDataset | str | Path, models: str | Sequence[str], seeds: Sequence[int],
                 sparsities: Sequence[int] | None = None,
                 split: Split = customer_split) -> BenchmarkPlan:
    """Plan a benchmark of a prepared dataset (or its directory), split by customer.

    A prepared dataset cannot be rebuilt at another sparsity level: non-zero ``sparsities``
    raise :class:`~ltvkit.errors.LTVError` (prepare the dataset with the task's sparsity).
    """
    if sparsities and any(sparsities):
        raise LTVError("--sparsity rebuilds the dataset from its log: use --dataset NAME "
                       "(or `ltv prepare` with the task's sparsity)")
    source: dict[str, Any] = {}
    if not isinstance(ds, LTVDataset):
        source = {"data": str(Path(ds).resolve())}
        ds = LTVDataset.load(ds)
    plan = _plan(ds, split, models, seeds, sparsities, None)
    plan.source = source
    return plan


def plan_public_dataset(name: str, models: str | Sequence[str], seeds: Sequence[int],
                        sparsities: Sequence[int] | None = None) -> BenchmarkPlan:
    """Plan a benchmark of public dataset ``name`` with its protocol: load its log, build the
    dataset with its task and split it with its split; sparsity levels rebuild the dataset
    with ``sparsity`` and ``sparsity_seed`` set on the task."""
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset

    public = get_dataset(name)
    log = public.load_log()
    attrs = public.load_attributes(log)
    events = public.load_events(log)

    def rebuild(sparsity: float = 0.0, seed: int = 0) -> LTVDataset:
        task = dataclasses.replace(public.task, sparsity=sparsity, sparsity_seed=seed)
        return build_dataset(log, task, attrs,
                             attribute_customer_col=public.attribute_customer_col,
                             events=events)

    plan = _plan(rebuild(), public.split.split, models, seeds, sparsities, rebuild)
    plan.source = {"dataset": name}
    return plan


def benchmark_dataset(ds: LTVDataset | str | Path, models: str | Sequence[str],
                      seeds: Sequence[int], out: str | Path, *,
                      params: dict[str, dict[str, Any]] | None = None,
                      sparsities: Sequence[int] | None = None,
                      on_step: Callable[[str], None] | None = None) -> list[Record]:
    """:func:`plan_dataset` then :meth:`BenchmarkPlan.run`; returns the records."""
    return plan_dataset(ds, models, seeds, sparsities).run(out, params=params, on_step=on_step)


def benchmark_public_dataset(name: str, models: str | Sequence[str], seeds: Sequence[int],
                             out: str | Path, *, params: dict[str, dict[str, Any]] | None = None,
                             sparsities: Sequence[int] | None = None,
                             on_step: Callable[[str], None] | None = None) -> list[Record]:
    """:func:`plan_public_dataset` then :meth:`BenchmarkPlan.run`; returns the records."""
    return plan_public_dataset(name, models, seeds, sparsities).run(out, params=params,
                                                                    on_step=on_step)
