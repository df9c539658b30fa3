"""``ltv prepare``: build a leak-free LTV dataset from a transaction log or a public dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import _split_list, cli_errors, console, out_console, print_quality
from ltvkit.errors import LTVError


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
                                             "history is removed (the CDLtvS sparsity "
                                             "protocol)."),
    sparsity_seed: int = typer.Option(0, help="Seed that draws the sparse customers."),
    encoding: str | None = typer.Option(None, help="Text encoding of a CSV log: utf-8 "
                                                   "(default), utf-16 or latin-1."),
    json_out: bool = typer.Option(False, "--json", help="Print the data-quality report as JSON."),
    engine: str = typer.Option("duckdb", help="duckdb (one machine) or spark (the customers "
                                              "hashed into Spark partitions; needs the spark "
                                              "extra and Java)."),
    master: str = typer.Option("local[2]", help="Spark master with --engine spark, e.g. "
                                                "local[4] or spark://host:7077."),
    events: str | None = typer.Option(None, help="Events table (visits, e-mails, tickets ...): "
                                                 "CSV (.gz), Parquet file, folder or glob."),
    event_customer_col: str = typer.Option("customer_id", help="Customer id column of events."),
    event_time_col: str = typer.Option("timestamp", help="Timestamp column of events."),
    event_type_col: str = typer.Option("event_type", help="Event type column."),
    event_value_col: str | None = typer.Option(None, help="Numeric event value column or SQL "
                                                          "expression (optional)."),
    event_domain_col: str | None = typer.Option(None, help="Domain column of events "
                                                           "(cross-domain logs)."),
    event_time_format: str | None = typer.Option(None, help="strptime format of event times."),
    event_top_k: int = typer.Option(20, help="Event types with their own columns (the most "
                                             "frequent before the first cutoff; the rest "
                                             "pooled as 'other')."),
    keep_duplicate_events: bool = typer.Option(False, help="Keep exact duplicate event rows."),
    reads_side_by_side: bool = typer.Option(False, "--reads-side-by-side/--reads-one-by-one",
                                            help="Read the log and the events at the same "
                                                 "time (each read already uses every core; "
                                                 "side by side helps only where one leaves "
                                                 "cores idle; peak memory is both reads')."),
    attributes_asof: str | None = typer.Option(None, help="Time-varying attributes file (a row "
                                                          "per change, with a valid-from "
                                                          "time), read as of each cutoff."),
    attributes_asof_customer_col: str = typer.Option("customer_id", help="Id column of the "
                                                                         "as-of attributes."),
    attributes_asof_valid_from_col: str = typer.Option("valid_from", help="Valid-from column "
                                                                         "of the as-of "
                                                                         "attributes."),
    vocabularies_from: Path | None = typer.Option(None, help="Reuse the category and "
                                                             "event-type vocabularies of a "
                                                             "training dataset folder or a "
                                                             "model folder (scoring data with "
                                                             "the training columns)."),
) -> None:
    """Build a leak-free LTV dataset (features, sequences, labels) from a transaction log."""
    from ltvkit.data import CleaningRules, ColumnMapping, LTVTask, build_dataset, read_transactions
    from ltvkit.data.events import EventCleaning, EventMapping

    def _event_mapping() -> EventMapping:
        return EventMapping(customer=event_customer_col, time=event_time_col,
                            event_type=event_type_col, value=event_value_col,
                            domain=event_domain_col, time_format=event_time_format)

    if engine not in ("duckdb", "spark"):
        raise LTVError(f"--engine must be duckdb or spark, got '{engine}'")
    if engine == "spark" and (events or attributes_asof or vocabularies_from):
        raise LTVError("--engine spark does not read --events, --attributes-asof or "
                       "--vocabularies-from yet (rule: transactions and static attributes "
                       "only on Spark); prepare those datasets with --engine duckdb")
    if engine == "spark" and dataset:
        raise LTVError("--engine spark reads a LOG file (public datasets load with DuckDB)")
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
            read_options = {"encoding": encoding} if encoding else None
            if engine == "duckdb" and events is not None:
                from ltvkit.data.read import read_with_events

                status.update("reading and validating the log and the events")
                tlog, event_log = read_with_events(
                    log, events, mapping, cleaning, _event_mapping(),
                    EventCleaning(drop_duplicates=not keep_duplicate_events, data_end=data_end),
                    read_options=read_options, event_read_options=read_options,
                    side_by_side=reads_side_by_side)
            elif engine == "duckdb":
                tlog = read_transactions(log, mapping, cleaning, read_options=read_options)
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
            if engine == "spark":
                _prepare_on_spark(log, mapping, cleaning, task, out, master, attrs, attr_col,
                                  read_options, json_out, status)
                return
        if dataset:
            event_log = public.load_events(tlog)
            if events is not None:
                from ltvkit.data.events import read_events

                status.update("reading and validating the events")
                event_log = read_events(
                    events, _event_mapping(),
                    EventCleaning(drop_duplicates=not keep_duplicate_events,
                                  data_end=tlog.quality.cleaning.get("data_end")),
                    read_options={"encoding": encoding} if encoding else None)
        elif events is None:
            event_log = None
        vocabularies = _training_vocabularies(vocabularies_from) if vocabularies_from else None
        ds = build_dataset(tlog, task, attrs, attribute_customer_col=attr_col,
                           vocabularies=vocabularies,
                           progress=lambda msg: status.update(msg), events=event_log,
                           event_top_k=event_top_k, attributes_asof=attributes_asof,
                           attributes_asof_customer_col=attributes_asof_customer_col,
                           attributes_asof_valid_from_col=attributes_asof_valid_from_col)
        # After build_dataset: the report then also counts customers in / out of scope.
        print_quality(tlog.quality)
        ds.save(out)
        tlog.quality.to_json(Path(out) / "quality.json")
    if json_out:
        out_console.print_json(tlog.quality.to_json())
    console.print(f"wrote {len(ds):,} samples of {ds.n_customers:,} customers "
                  f"({len(ds.feature_names)} features, sequences {ds.sequences.shape[1:]}, "
                  f"horizons {', '.join(ds.horizons)}) to {out}")


def _prepare_on_spark(log, mapping, cleaning, task, out: Path, master: str, attrs, attr_col,
                      read_options, json_out: bool, status) -> None:
    """``ltv prepare --engine spark``: the dataset written by Spark as Parquet parts."""
    from ltvkit.data.dataset_io import read_meta
    from ltvkit.data.spark_build import build_dataset_spark

    built = build_dataset_spark(log, mapping, task, out, cleaning=cleaning, master=master,
                                attributes=attrs, attribute_customer_col=attr_col,
                                read_options=read_options,
                                progress=lambda msg: status.update(msg))
    print_quality(built.quality)
    if json_out:
        out_console.print_json(built.quality.to_json())
    meta = read_meta(out)
    console.print(f"wrote {built.n_samples:,} samples of {built.n_customers:,} customers "
                  f"({len(meta['feature_names'])} features, sequences "
                  f"{tuple(meta['sequence_shape'])}, horizons {', '.join(meta['horizons'])}) "
                  f"to {out} in {built.n_partitions} Spark partitions")
def _training_vocabularies(folder: Path) -> dict:
    """The vocabularies of a dataset folder (dataset.json) or a model folder (training.json)."""
    import json

    for name in ("dataset.json", "training.json"):
        path = Path(folder) / name
        if path.exists():
            return json.loads(path.read_text()).get("vocabularies") or {}
    raise LTVError(f"--vocabularies-from {folder}: neither dataset.json nor training.json is "
                   "there (rule: a dataset or model folder)")
