"""The ``ltv`` command line: prepare, evaluate, datasets, models, train, predict, benchmark, demo.

Every command ends a bad argument or a bad file with a one-line reason and exit code 2, never a
traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ltvkit.errors import LTVError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ltvkit: customer lifetime value from raw transaction logs.")
console = Console(stderr=True)
# Piped output (CI logs, files) gets a wide fixed width so leaderboards are not truncated.
out_console = Console(width=None if sys.stdout.isatty() else 160)


def cli_errors(func):
    """Turn expected failures into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return func(*args, **kwargs)
        except (LTVError, FileNotFoundError, json.JSONDecodeError) as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _print_quality(report) -> None:
    table = Table(title="data quality", show_header=False)
    for label, count in report.rows():
        table.add_row(label, f"{count:,}")
    console.print(table)


# --------------------------------------------------------------------------------- prepare
@app.command()
@cli_errors
def prepare(
    log: Annotated[str | None, typer.Argument(help="Transaction log: CSV (.gz), Parquet file, "
                                                   "folder or glob.")] = None,
    out: Annotated[Path, typer.Option(help="Dataset directory to write.")] = Path("ltv_dataset"),
    dataset: Annotated[str | None, typer.Option(help="Use a public dataset and its protocol "
                                                     "instead of LOG (see `ltv datasets`).")] = None,
    customer_col: str = typer.Option("customer_id", help="Customer id column."),
    time_col: str = typer.Option("timestamp", help="Timestamp column."),
    amount: str = typer.Option("amount", help="Amount column or SQL expression, e.g. "
                                              "'Quantity*UnitPrice'. Negative = refund."),
    order_col: str | None = typer.Option(None, help="Order / invoice id column."),
    quantity_col: str | None = typer.Option(None, help="Quantity column."),
    category_col: str | None = typer.Option(None, help="Category column."),
    domain_col: str | None = typer.Option(None, help="Domain column (cross-domain logs)."),
    source: str | None = typer.Option(None, help="Source domain (with --domain-col)."),
    target: str | None = typer.Option(None, help="Target domain whose spend is the label."),
    time_format: str | None = typer.Option(None, help="strptime format, e.g. %Y%m%d."),
    cutoff: str | None = typer.Option(None, help="Cutoff day (YYYY-MM-DD), included in history."),
    cutoff_start: str | None = typer.Option(None, help="First of sliding cutoffs."),
    cutoff_end: str | None = typer.Option(None, help="Last of sliding cutoffs."),
    cutoff_step: str = typer.Option("30D", help="Step of sliding cutoffs."),
    lookback: str | None = typer.Option(None, help="History the features see, e.g. 180D."),
    horizons: str = typer.Option("90D", help="Label windows, comma separated: 30D,90D,365D."),
    period: str = typer.Option("M", help="Sequence period: 1D, 7D, 30D or M (calendar month)."),
    n_periods: int = typer.Option(12, help="Sequence length in periods."),
    cohort: str = typer.Option("known", help="known | active | new."),
    new_from: str | None = typer.Option(None, help="Cohort 'new': first purchase from."),
    new_until: str | None = typer.Option(None, help="Cohort 'new': first purchase until."),
    attributes: str | None = typer.Option(None, help="Customer attributes file (one row per "
                                                     "customer)."),
    attributes_customer_col: str = typer.Option("customer_id", help="Id column in attributes."),
    keep_duplicates: bool = typer.Option(False, help="Keep exact duplicate rows."),
    drop_refunds: bool = typer.Option(False, help="Drop negative amounts instead of keeping "
                                                  "them as refunds."),
    keep_zero_amounts: bool = typer.Option(False, help="Keep rows whose amount is 0."),
    data_end: str | None = typer.Option(None, help="Drop (and count) rows after this day."),
    allow_partial_horizon: bool = typer.Option(False, help="Allow label windows past the data."),
    sparsity: float = typer.Option(0.0, help="Share of customers (0-1) whose target-domain "
                                             "history is removed (paper 000's protocol)."),
    sparsity_seed: int = typer.Option(0, help="Seed that draws the sparse customers."),
    json_out: bool = typer.Option(False, "--json", help="Print the data-quality report as JSON."),
) -> None:
    """Build a leak-free LTV dataset (features, sequences, labels) from a transaction log."""
    from ltvkit.data import CleaningRules, ColumnMapping, LTVTask, build_dataset, read_transactions

    with console.status("reading and validating the log") as status:
        if dataset:
            from ltvkit.datasets import get_dataset

            public = get_dataset(dataset)
            tlog = public.load_log()
            task = public.task
            attrs = public.load_attributes(tlog)
            attr_col = public.attribute_customer_col
        else:
            if log is None:
                raise LTVError("give a LOG file or --dataset NAME")
            mapping = ColumnMapping(customer=customer_col, time=time_col, amount=amount,
                                    order=order_col, quantity=quantity_col,
                                    category=category_col, domain=domain_col,
                                    time_format=time_format)
            cleaning = CleaningRules(drop_duplicates=not keep_duplicates,
                                     refunds="drop" if drop_refunds else "keep",
                                     zero_amounts="keep" if keep_zero_amounts else "drop",
                                     data_end=data_end)
            tlog = read_transactions(log, mapping, cleaning)
            domains = None
            if source or target:
                if not (source and target and domain_col):
                    raise LTVError("cross-domain needs --domain-col, --source and --target")
                domains = (source, target)
            task = LTVTask(cutoff=cutoff, cutoff_start=cutoff_start, cutoff_end=cutoff_end,
                           cutoff_step=cutoff_step, lookback=lookback,
                           horizons=tuple(_split_list(horizons)), period=period,
                           n_periods=n_periods, cohort=cohort, new_from=new_from,
                           new_until=new_until, allow_partial_horizon=allow_partial_horizon,
                           domains=domains, target_domain=target, sparsity=sparsity,
                           sparsity_seed=sparsity_seed)
            attrs, attr_col = attributes, attributes_customer_col
        _print_quality(tlog.quality)
        ds = build_dataset(tlog, task, attrs, attribute_customer_col=attr_col,
                           progress=lambda msg: status.update(msg))
        ds.save(out)
        tlog.quality.to_json(Path(out) / "quality.json")
    if json_out:
        out_console.print_json(tlog.quality.to_json())
    console.print(f"wrote {len(ds):,} samples of {ds.n_customers:,} customers "
                  f"({len(ds.feature_names)} features, sequences {ds.sequences.shape[1:]}, "
                  f"horizons {', '.join(ds.horizons)}) to {out}")


# -------------------------------------------------------------------------------- evaluate
@app.command()
@cli_errors
def evaluate(
    predictions: Annotated[Path, typer.Option(help="Parquet or CSV with customer_id, cutoff, "
                                                   "y_true, y_pred[, p_active].")],
    top_frac: float = typer.Option(0.10, help="Share of customers that counts as top value."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Score a predictions file with the LTV metrics (Gini, decile MAPE, NMAE, AUC, ...)."""
    import pandas as pd

    from ltvkit.metrics import evaluate as evaluate_metrics

    if not predictions.exists():
        raise FileNotFoundError(f"predictions file not found: {predictions}")
    suffix = "".join(predictions.suffixes).lower()
    frame = pd.read_csv(predictions) if ".csv" in suffix else pd.read_parquet(predictions)
    missing = [c for c in ("customer_id", "y_true", "y_pred") if c not in frame.columns]
    if missing:
        raise LTVError(f"{predictions}: missing column(s) {missing}; it has {list(frame.columns)}")
    p_active = frame["p_active"].to_numpy(float) if "p_active" in frame.columns else None
    for col in ("y_true", "y_pred"):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise LTVError(f"{predictions}: column '{col}' is not numeric")
    metrics = evaluate_metrics(frame["y_true"].to_numpy(float), frame["y_pred"].to_numpy(float),
                               p_active, top_frac=top_frac)
    if json_out:
        out_console.print_json(json.dumps(metrics, default=float))
        return
    table = Table(title=f"{predictions.name}: {len(frame):,} predictions")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, list):
            table.add_row(key, "; ".join(map(str, value)) or "—")
        else:
            table.add_row(key, str(value))
    out_console.print(table)


# -------------------------------------------------------------------------------- datasets
@app.command()
@cli_errors
def datasets(json_out: bool = typer.Option(False, "--json")) -> None:
    """List the public datasets with their sizes and benchmark protocols."""
    from ltvkit.datasets import DATASETS, data_home

    if json_out:
        out_console.print_json(json.dumps({
            n: {"description": d.description, "rows": d.rows, "customers": d.customers,
                "licence": d.licence, "bundled": d.bundled, "protocol": d.protocol,
                "task": d.task.to_dict()} for n, d in DATASETS.items()}))
        return
    table = Table(title=f"datasets (data home: {data_home()})")
    for col in ("name", "size", "where", "protocol"):
        table.add_column(col, overflow="fold")
    for name, d in DATASETS.items():
        where = "bundled" if d.bundled else "data home"
        table.add_row(name, d.size_text(), where, d.protocol)
    out_console.print(table)


@app.command()
@cli_errors
def models() -> None:
    """List the registered models and their capability tags."""
    from ltvkit.models.registry import all_models, unavailable_models

    table = Table(title="models")
    table.add_column("name")
    table.add_column("tags")
    table.add_column("class")
    for name, cls in all_models().items():
        tags = ", ".join(k for k in ("needs_sequences", "uses_attributes", "multi_horizon",
                                     "cross_domain", "probabilistic", "torch", "unsupervised")
                         if cls.tag(k))
        table.add_row(name, tags, cls.__name__)
    out_console.print(table)
    for module, reason in unavailable_models().items():
        console.print(f"[yellow]not loaded[/yellow] {module}: {reason}")


# ------------------------------------------------------------------------- train / predict
def _load_params(params: str | None, config: Path | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if config is not None:
        merged.update(json.loads(Path(config).read_text()))
    if params:
        merged.update(json.loads(params))
    return merged


@app.command()
@cli_errors
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory from `ltv prepare`.")],
    model: Annotated[str, typer.Option(help="Model name (see `ltv models`).")],
    out: Annotated[Path, typer.Option(help="Directory to save the model in.")],
    params: str | None = typer.Option(None, help="Hyper-parameters as JSON."),
    config: Path | None = typer.Option(None, help="Hyper-parameters from a JSON file."),
    valid_frac: float = typer.Option(0.1, help="Share of customers held out for early "
                                               "stopping (0 = none)."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Fit a model on a prepared dataset and save it (JSON config + weights, no pickle)."""
    from ltvkit.data import LTVDataset
    from ltvkit.models.registry import create_model, get_model_class

    ds = LTVDataset.load(data)
    hp = _load_params(params, config)
    if "random_state" in get_model_class(model)._param_names():
        hp.setdefault("random_state", seed)
    estimator = create_model(model, **hp)
    if valid_frac > 0:
        fit_part, valid, _ = ds.split_customers(seed=seed, test_frac=0.0, valid_frac=valid_frac)
    else:
        fit_part, valid = ds, None
    with console.status(f"fitting {model} on {len(fit_part):,} samples"):
        estimator.fit(fit_part, valid if valid is not None and len(valid) else None)
    estimator.save(out)
    console.print(f"saved {model} to {out}")


@app.command()
@cli_errors
def predict(
    model: Annotated[Path, typer.Option(help="Saved model directory.")],
    data: Annotated[Path, typer.Option(help="Dataset directory from `ltv prepare`.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
) -> None:
    """Score every customer of a dataset with a saved model; writes a Parquet file."""
    from ltvkit.data import LTVDataset
    from ltvkit.models.base.model import LTVModel

    estimator = LTVModel.load(model)
    ds = LTVDataset.load(data)
    pred = estimator.predict(ds)
    frames = []
    for h in pred.horizons:
        y = ds.labels[:, ds.horizons.index(h)] if h in ds.horizons else None
        f = pred.to_frame(h, y_true=y)
        f.insert(2, "horizon", h)
        frames.append(f)
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    console.print(f"wrote {len(pred):,} predictions x {len(pred.horizons)} horizon(s) to {out}")


# ------------------------------------------------------------------------------- benchmark
def _run_benchmark(dataset_name: str | None, data: Path | None, models_spec: str,
                   seeds: list[int], out: Path, params: dict[str, dict[str, Any]],
                   sparsities: list[int] | None = None) -> None:
    import dataclasses

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ltvkit.benchmark import resolve_models, run_benchmark
    from ltvkit.data import LTVDataset, build_dataset

    if dataset_name:
        from ltvkit.datasets import get_dataset

        public = get_dataset(dataset_name)
        with console.status(f"preparing {dataset_name} with its protocol"):
            log = public.load_log()
            attrs = public.load_attributes(log)

            def make(sparsity: float = 0.0, seed: int = 0) -> LTVDataset:
                task = dataclasses.replace(public.task, sparsity=sparsity, sparsity_seed=seed)
                return build_dataset(log, task, attrs,
                                     attribute_customer_col=public.attribute_customer_col)

            ds = make()
        split = public.split.split
    elif data is not None:
        if sparsities and any(sparsities):
            raise LTVError("--sparsity rebuilds the dataset from its log: use --dataset NAME "
                           "(or `ltv prepare` with the task's sparsity)")
        ds = LTVDataset.load(data)

        def split(d, seed):
            return d.split_customers(seed=seed)
    else:
        raise LTVError("give --dataset NAME or --data DIR")
    names = resolve_models(models_spec, ds)
    levels = sparsities or [None]
    if any(p is not None and p > 0 for p in levels) and not ds.domains:
        raise LTVError("--sparsity needs a cross-domain dataset (e.g. --dataset olist)")
    total = len(names) * len(seeds) * len(levels)
    records: list[dict[str, Any]] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("benchmark", total=total)
        state = {"started": False}

        def on_step(msg: str) -> None:
            if state["started"]:
                progress.advance(bar)
            state["started"] = True
            progress.update(bar, description=f"fitting {msg}")

        for level in levels:
            if level is None:
                run_benchmark(ds, split, names, seeds, out, params=params, on_step=on_step,
                              records=records)
                continue
            for seed in seeds:
                # The sparse sellers are drawn with the run's seed (paper 000: "seeded").
                level_ds = ds if level == 0 else make(level / 100.0, seed)
                run_benchmark(level_ds, split, names, [seed], out, params=params,
                              on_step=on_step, records=records, extra={"sparsity": level})
        progress.advance(bar)
    out_console.print(_leaderboard_table(records, ds.horizons[0]))
    failed = [r for r in records if "error" in r]
    for r in failed:
        console.print(f"[yellow]{r['model']} seed {r['seed']} failed:[/yellow] {r['error']}")
    console.print(f"wrote {out}/leaderboard.json, leaderboard.md and predictions/")


def _leaderboard_table(records: list[dict[str, Any]], horizon: str) -> Table:
    from ltvkit.benchmark import HEADLINE_METRICS, summarize

    table = Table(title=f"leaderboard, horizon {horizon} (test split, mean ± std over seeds)")
    table.add_column("model", no_wrap=True)
    short = {"normalized_gini": "gini", "decile_mape": "dec.mape", "auc_active": "auc",
             "top10_f1": "top10 F1", "interval_coverage_80": "cov80"}
    for key in HEADLINE_METRICS:
        table.add_column(short.get(key, key), justify="right")
    table.add_column("fit s", justify="right")
    for row in summarize(records):
        if not row["n_seeds"]:
            table.add_row(row["model"], f"[red]failed[/red]: {row['errors'][0][:60]}")
            continue
        cells = []
        for key in HEADLINE_METRICS:
            mean_std = row.get(key)
            cells.append("—" if mean_std is None else
                         f"{mean_std[0]:.3f}" + (f"±{mean_std[1]:.3f}" if row["n_seeds"] > 1
                                                 else ""))
        table.add_row(row["model"], *cells, f"{row.get('fit_seconds', 0):.1f}")
    return table


@app.command()
@cli_errors
def benchmark(
    dataset: str | None = typer.Option(None, help="Public dataset name (uses its protocol)."),
    data: Path | None = typer.Option(None, help="Or a dataset directory from `ltv prepare` "
                                                "(80/20 customer split)."),
    models: str = typer.Option("all", help="Comma-separated model names, or 'all'."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds."),
    out: Path = typer.Option(Path("runs/benchmark"), help="Output directory."),
    params: str | None = typer.Option(None, help="JSON {model: {param: value}} overrides."),
    sparsity: str | None = typer.Option(None, help="Cross-domain sparsity levels in percent, "
                                                   "e.g. 0,20,50,80 (paper 000's protocol)."),
) -> None:
    """Fit every model on the same split, score the test split, print the leaderboard.

    A model name followed by @target (e.g. ltvs@target) is fitted on the target domain of a
    cross-domain dataset only."""
    seed_list = [int(s) for s in _split_list(seeds)]
    levels = [int(p) for p in _split_list(sparsity)] if sparsity else None
    _run_benchmark(dataset, data, models, seed_list, out, json.loads(params) if params else {},
                   levels)


DEMO_MODELS = "historical_mean,bgnbd,pareto_nbd,lgbm,lgbm_two_stage,ziln,mtl_ziln,lstm"


@app.command()
@cli_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Output directory."),
    models: str = typer.Option(DEMO_MODELS, help="Models to run."),
    seeds: str = typer.Option("0", help="Seeds."),
) -> None:
    """The main job on bundled CDNOW: benchmark the models, print the leaderboard, write files."""
    from ltvkit.benchmark import parse_model_spec, split_model_list
    from ltvkit.models.registry import all_models

    known = all_models()
    # Models whose optional dependency (PyTorch) is missing are left out of the demo.
    chosen = ",".join(m for m in split_model_list(models) if parse_model_spec(m)[0] in known)
    _run_benchmark("cdnow", None, chosen, [int(s) for s in _split_list(seeds)], out, {})


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
