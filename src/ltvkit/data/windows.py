"""LTVTask -> LTVDataset: features before the cutoff, labels after it, never both.

DuckDB has read, cleaned and sorted the log once (:mod:`ltvkit.data.read`); here the samples
are chosen and, per domain and cutoff, the compiled walks of :mod:`ltvkit.data.kernels` fill in
their features, sequences and labels.

The windows (see :mod:`ltvkit.data.task`): with ``c_end = cutoff + 1 day``, features read
``c_start <= ts < c_end`` and the label of horizon h reads ``c_end <= ts < c_end + h``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ltvkit.data import kernels
from ltvkit.data.arrays import US_PER_DAY, LogArrays
from ltvkit.data.attributes_asof import asof_attributes
from ltvkit.data.dataset import UNKNOWN, LTVDataset
from ltvkit.data.event_kernels import event_stats, event_window_pass
from ltvkit.data.events import (
    DEFAULT_TOP_K,
    EventLog,
    customer_codes,
    event_vocabulary,
    read_events,
    type_slots,
)
from ltvkit.data.layout import (
    EVENT_VOCABULARY,
    attribute_column,
    domain_column,
    event_channel,
    event_feature,
    event_type_labels,
)
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import customer_expr
from ltvkit.data.pages import with_plain_pages
from ltvkit.data.sources import register_source
from ltvkit.data.task import LTVTask, parse_date, parse_days, parse_period
from ltvkit.errors import DataValidationError, TaskError

SEQUENCE_CHANNELS = kernels.SEQUENCE_CHANNELS
STATIC_FEATURES = kernels.PASS_FEATURES + ("cutoff_month", "cutoff_dayofweek")

Progress = Callable[[str], None]
# Warn when fewer than this share of the dataset's customers have an attribute row.
ATTRIBUTE_MATCH_WARN = 0.5


def _check_task_against_data(log: TransactionLog, task: LTVTask) -> list[dt.date]:
    cutoffs = task.cutoff_dates()
    first_day = log.time_min.date()
    last_day = log.data_end
    for c in cutoffs:
        if c < first_day or c >= last_day:
            raise TaskError(
                f"cutoff {c} is outside the data's time range ({first_day} .. {last_day}): "
                "a cutoff needs history before it and a label window after it")
    if not task.allow_partial_horizon:
        longest = max(task.horizon_days)
        late = [c for c in cutoffs if c + dt.timedelta(days=longest) > last_day]
        if late:
            raise TaskError(
                f"the {longest}-day horizon after cutoff {late[-1]} ends on "
                f"{late[-1] + dt.timedelta(days=longest)}, past the end of the data ({last_day}); "
                f"{len(late)} cutoff(s) affected. Use an earlier cutoff, a shorter horizon, or "
                "allow_partial_horizon=True (labels are then sums over the partial window)")
    return cutoffs


def _samples(arrays: LogArrays, task: LTVTask, windows: list[kernels.Window],
             allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The samples, ordered by customer then cutoff: (customer code, cutoff index) of each, and
    per cutoff the dataset rows of its samples (in customer order)."""
    first = kernels.first_purchase_us(arrays)
    members = []
    for w in windows:
        if task.cohort == "known" or (task.cohort == "active" and task.lookback is None):
            chosen = first < w.end_us
        elif task.cohort == "active":
            chosen = kernels.active_customers(arrays, w)
        else:
            lo = kernels.day_number(parse_date(task.new_from, "new_from")) * US_PER_DAY
            hi = (kernels.day_number(parse_date(task.new_until, "new_until")) + 1) * US_PER_DAY
            chosen = (first >= lo) & (first < hi) & (first < w.end_us)
        members.append(np.flatnonzero(chosen))
    cust = np.concatenate(members)
    cut = np.concatenate([np.full(len(m), k, dtype=np.int64) for k, m in enumerate(members)])
    order = np.lexsort((cut, cust)) if len(windows) > 1 else np.arange(len(cust))
    if len(cust) == 0 and not allow_empty:
        raise TaskError(f"no customer is in the '{task.cohort}' cohort at the cutoff(s) "
                        f"{windows[0].cutoff}..{windows[-1].cutoff}")
    if len(windows) == 1:  # one cutoff (a service request): the rows are the samples
        return cust, cut, [np.arange(len(cust))]
    row_of = np.empty(len(cust), dtype=np.int64)
    row_of[order] = np.arange(len(cust))
    rows_per_cutoff = np.split(row_of, np.cumsum([len(m) for m in members])[:-1])
    return cust[order], cut[order], rows_per_cutoff


def scope_counts(arrays: LogArrays, task: LTVTask, windows: list[kernels.Window],
                 cust: np.ndarray) -> dict[str, int]:
    """Customers with kept rows that are in the dataset (a sample at one cutoff at least) and
    those out of its scope, per reason: first seen after the (last) cutoff, only refunds up to
    it, or outside the task's cohort (active / new)."""
    n = arrays.n_customers
    inside = np.zeros(n, dtype=bool)
    inside[cust] = True
    end = max(w.end_us for w in windows)
    first_row = arrays.ts[arrays.customer_starts[:-1]] if n else np.zeros(0, np.int64)
    first_buy = kernels.first_purchase_us(arrays)
    after = ~inside & (first_row >= end)
    refunds_only = ~inside & ~after & (first_buy >= end)
    other = ~inside & ~after & ~refunds_only
    out = {"in_dataset": int(inside.sum()),
           "out_of_scope_first_seen_after_cutoff": int(after.sum()),
           "out_of_scope_only_refunds_up_to_cutoff": int(refunds_only.sum())}
    if task.cohort != "known" or int(other.sum()):
        out[f"out_of_scope_not_in_{task.cohort}_cohort"] = int(other.sum())
    return out


def sparse_choice(task: LTVTask, customer_id: np.ndarray) -> np.ndarray:
    """The ids (text) of the sparse customers among the dataset's ``customer_id``."""
    customers = np.unique(customer_id.astype(str))
    # Its own random stream: with a plain default_rng(seed) the sparse draw would repeat the
    # customer split's permutation for the same seed, and every test customer would be sparse.
    rng = np.random.default_rng([task.sparsity_seed, 0x5BA25])
    return customers[rng.permutation(len(customers))[:int(round(task.sparsity *
                                                                len(customers)))]]


def _choose_sparse(task: LTVTask, arrays: LogArrays, customer_id: np.ndarray,
                   cross_domain: bool, chosen: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """The sparsity protocol: a seeded share of the customers loses its target history.
    Returns (per sample, per customer code) masks of the sparse customers; ``chosen`` (ids as
    text) when the choice was made over more customers than this log holds."""
    if task.sparsity <= 0:
        return None
    if not cross_domain:
        raise TaskError("sparsity removes target-domain history: the log needs a domain column")
    if chosen is None:
        chosen = sparse_choice(task, customer_id)
    # Ids are compared as text, whatever their type in the log.
    return (np.isin(customer_id.astype(str), chosen),
            np.isin(arrays.customer_ids.astype(str), chosen))


def _one_pass(arrays: LogArrays, task: LTVTask, windows: list[kernels.Window],
              cust: np.ndarray, rows_per_cutoff: list[np.ndarray], domain: str | None,
              hidden: np.ndarray | None, features: np.ndarray, seq: np.ndarray, k: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Pass ``k``: features (into its block of ``features``), sequences (its channels of
    ``seq``) and labels of every sample from one domain's rows (all rows when ``domain`` is
    None); ``hidden`` customers (per code) show no history."""
    out = kernels.new_output(features, seq, len(task.horizons))
    code = None if domain is None else arrays.domain_names.index(domain)
    period = parse_period(task.period)
    for w, rows in zip(windows, rows_per_cutoff, strict=True):
        kernels.window_pass(arrays, cust[rows], rows, w, period, task.n_periods,
                            task.horizon_days, code, hidden, out,
                            k * len(kernels.PASS_FEATURES), k * len(SEQUENCE_CHANNELS))
    return _labels(out)


def _labels(out: kernels.PassOutput) -> tuple[np.ndarray, np.ndarray]:
    # A purchase refunded in full nets to rounding noise (7e-15 in Online Retail), not to a
    # positive value: snap it to 0, else it counts as a spender (label > 0).
    net = np.where(np.abs(out.labels) <= 1e-9 * out.label_gross, 0.0, out.labels)
    # Net spend (refunds included) clipped at 0: a customer cannot be worth less than nothing.
    return np.maximum(net, 0.0), out.label_orders


_NUMERIC_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE")


def _is_numeric_type(sql_type: str) -> bool:
    return sql_type in _NUMERIC_TYPES or sql_type.startswith("DECIMAL")


def _attributes(con: duckdb.DuckDBPyConnection, attributes: Any, customer_col: str,
                customer_ids: np.ndarray, vocabularies: dict[str, list[str]] | None
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str]]]:
    register_source(con, attributes, "_attr_raw", None)
    types = {r[0]: str(r[1]).upper() for r in con.execute("DESCRIBE _attr_raw").fetchall()}
    if customer_col not in types:
        raise DataValidationError(
            f"customer attributes: missing column '{customer_col}'; they have {', '.join(types)}",
            column=customer_col, rule="column exists")
    cid = customer_expr(customer_col, types[customer_col])
    dup = con.execute(f"SELECT count(*) - count(DISTINCT {cid}) FROM _attr_raw").fetchall()[0][0]
    if dup:
        raise DataValidationError(
            f"customer attributes: {dup} rows repeat a customer id in '{customer_col}' "
            "(rule: one row per customer)", column=customer_col, rule="unique customer", n_rows=dup)
    # As text, like the dataset's customer ids (integer ids stay BIGINT inside DuckDB).
    df = con.execute(f"SELECT CAST({cid} AS VARCHAR) AS __cid, * FROM _attr_raw").df()
    try:
        con.unregister("_attr_raw")
    except duckdb.Error:
        pass
    df = df.drop(columns=[customer_col]).set_index("__cid")
    wanted = pd.Index(pd.unique(customer_ids.astype(str)))
    matched = int(df.index.isin(wanted).sum())
    counts = {"rows_read": len(df), "rows_matched": matched,
              "rows_unmatched": len(df) - matched,
              "customers_without_attributes": int((~wanted.isin(df.index)).sum())}
    aligned = df.reindex(customer_ids.astype(str))
    numeric, codes, vocabs = {}, {}, dict(vocabularies or {})
    for col in aligned.columns:
        s = aligned[col]
        # Numeric or categorical by the column's SQL type, not by the aligned pandas dtype: a
        # bool column turns object when a customer has no attributes, and the feature layout
        # of training and scoring data must not depend on that.
        if _is_numeric_type(types.get(col, "")) and col not in vocabs:
            numeric[col] = s.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        values = s.astype("string")
        if col not in vocabs:
            vocabs[col] = [UNKNOWN] + sorted(v for v in values.dropna().unique())
        index = {v: i for i, v in enumerate(vocabs[col])}
        # Unseen or missing categories map to code 0, "<unknown>".
        raw = values.to_numpy(dtype=object, na_value=None)
        codes[col] = np.array([0 if v is None else index.get(v, 0) for v in raw], dtype=np.int64)
    return numeric, codes, vocabs, counts


def attribute_warnings(counts: dict[str, int], customer_col: str) -> list[str]:
    """A warning when the attributes match less than half of the dataset's customers."""
    n_customers = counts["rows_matched"] + counts["customers_without_attributes"]
    if n_customers and counts["rows_matched"] < ATTRIBUTE_MATCH_WARN * n_customers:
        return [f"customer attributes: only {counts['rows_matched']:,} of {n_customers:,} "
                f"customers have an attribute row ({counts['rows_unmatched']:,} attribute rows "
                f"match no customer): check '{customer_col}' against the log's customer ids"]
    return []

@dataclass
class _EventPlan:
    """What the events add to a dataset: the vocabulary, the domains they feed and the names."""

    events: EventLog
    vocabulary: list[str]
    labels: list[str]
    stats: tuple[str, ...]
    domains: list[str | None]
    feature_names: list[str]
    channel_names: list[str]
    # [log customers] each log customer's code in the events (-1: no events).
    customer_code: np.ndarray

    @property
    def n_slots(self) -> int:
        return len(self.labels)

    def meta(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary, "labels": self.labels, "stats": list(self.stats),
                "domains": self.domains, "mapping": self.events.mapping.to_dict()}


def _event_plan(log: TransactionLog, events: Any, top_k: int,
                vocabularies: dict[str, list[str]] | None, windows: list[kernels.Window],
                passes: list[str | None]) -> _EventPlan | None:
    log.quality.events = {}
    if events is None:
        if vocabularies and EVENT_VOCABULARY in vocabularies:
            raise DataValidationError(
                "the vocabularies given come from a dataset built with events: pass the events "
                "table too (rule: same inputs as training)", column="events",
                rule="same inputs as training")
        return None
    ev = events if isinstance(events, EventLog) else read_events(events)
    if vocabularies and EVENT_VOCABULARY in vocabularies:
        vocabulary = list(vocabularies[EVENT_VOCABULARY])
    else:
        vocabulary = event_vocabulary(ev, top_k, min(w.end_us for w in windows))
    labels = event_type_labels(vocabulary) + ["other"]
    stats = event_stats(ev.has_value)
    # Events with a domain feed the domains of a cross-domain dataset; otherwise one shared
    # block (no prefix).
    domains = list(passes) if ev.has_domain and passes != [None] else [None]
    fnames = [domain_column(d, event_feature(lab, st)) for d in domains for lab in labels
              for st in stats]
    cnames = [domain_column(d, event_channel(lab)) for d in domains for lab in labels]
    code_of = customer_codes(ev, log.arrays.customer_ids)
    matched = code_of >= 0
    # The events customers some log customer maps to (ids are unique on both sides).
    in_log = np.zeros(len(ev.arrays.customer_ids), dtype=bool)
    in_log[code_of[matched]] = True
    ev.quality.matching = {
        "log_customers_with_events": int(matched.sum()),
        "log_customers_without_events": int((~matched).sum()),
        "event_customers_not_in_log": int((~in_log).sum()),
        "event_rows_of_customers_not_in_log": int(
            np.diff(ev.arrays.customer_starts)[~in_log].sum())}
    ev.quality.vocabulary = vocabulary
    log.quality.events = ev.quality.to_dict()
    return _EventPlan(ev, vocabulary, labels, stats, domains, fnames, cnames, code_of)


def _event_features(plan: _EventPlan, task: LTVTask, windows: list[kernels.Window],
                    cust: np.ndarray, rows_per_cutoff: list[np.ndarray],
                    sparse_masks: tuple[np.ndarray, np.ndarray] | None,
                    target_pass: str | None, features: np.ndarray, seq: np.ndarray,
                    col: int, channel: int) -> None:
    """The event block of every sample: one compiled walk per domain and cutoff."""
    ev = plan.events
    code_of = plan.customer_code
    slots = type_slots(ev, plan.vocabulary)
    period = parse_period(task.period)
    n_stats = len(plan.stats)
    for k, dom in enumerate(plan.domains):
        codes = code_of
        if dom is not None and sparse_masks is not None and dom == target_pass:
            codes = np.where(sparse_masks[1], -1, code_of)  # sparse: no target history
        want = None
        if dom is not None:
            # A domain the events never name reads no event (a code no row has).
            want = (ev.arrays.domain_names.index(dom) if dom in ev.arrays.domain_names
                    else np.iinfo(np.int64).max)
        for w, rows in zip(windows, rows_per_cutoff, strict=True):
            event_window_pass(ev.arrays, codes[cust[rows]], rows, w, period, task.n_periods,
                              slots, plan.n_slots, ev.has_value, want, features, seq,
                              col + k * plan.n_slots * n_stats, channel + k * plan.n_slots)


@with_plain_pages
def build_dataset(log: TransactionLog, task: LTVTask, attributes: Any = None, *,
                  attribute_customer_col: str = "customer_id",
                  vocabularies: dict[str, list[str]] | None = None,
                  progress: Progress | None = None,
                  sparse_customers: np.ndarray | None = None,
                  allow_empty: bool = False, events: Any = None,
                  event_top_k: int = DEFAULT_TOP_K, attributes_asof: Any = None,
                  attributes_asof_customer_col: str = "customer_id",
                  attributes_asof_valid_from_col: str = "valid_from",
                  attributes_asof_time_format: str | None = None) -> LTVDataset:
    """Build the leak-free dataset of ``task`` from ``log``.

    Parameters
    ----------
    log : a cleaned :class:`TransactionLog`.
    task : the :class:`LTVTask`.
    attributes : optional customer attributes ("portrait"): path, DataFrame or Arrow table with
        one row per customer; numeric columns become features, the others categorical codes.
    vocabularies : categorical vocabularies to reuse (e.g. those of the training dataset), so
        that categories unseen there map to the "<unknown>" code 0; the training event-type
        vocabulary travels in them too.
    progress : called with a short message before each step.
    sparse_customers : the sparse customers' ids (text), when the sparsity protocol's draw
        (:func:`sparse_choice`) was made over a larger log than ``log`` (one partition of it).
    allow_empty : return an empty dataset, instead of raising, when no customer is in the
        cohort (a partition of a larger log may hold none).
    events : optional events table (behaviour, marketing, support): an
        :class:`~ltvkit.data.events.EventLog` from :func:`~ltvkit.data.events.read_events`, or
        any source it reads with the default :class:`~ltvkit.data.events.EventMapping`. Per
        event type of the vocabulary (the ``event_top_k`` most frequent before the first
        cutoff, the rest pooled as ``other``) the features ``event_<type>_count``,
        ``event_<type>_value_sum`` (with a value column) and ``event_<type>_recency_days`` of
        the feature window, and a sequence channel ``event_<type>_count`` per period; events
        with a domain column feed the domain's prefixed columns of a cross-domain dataset.
    attributes_asof : optional time-varying attributes (a row per change, with a valid-from
        time column ``attributes_asof_valid_from_col``): each sample sees the row valid at the
        end of its cutoff day (:mod:`ltvkit.data.attributes_asof`).
    """
    say = progress or (lambda _msg: None)
    cutoffs = _check_task_against_data(log, task)
    con = log.con
    arrays = log.arrays
    say("selecting the cohort")
    lookback = parse_days(task.lookback) if task.lookback else None
    windows = [kernels.make_window(c, lookback) for c in cutoffs]
    cust, cut_index, rows_per_cutoff = _samples(arrays, task, windows, allow_empty)
    log.quality.customers.update(scope_counts(arrays, task, windows, cust))
    n = len(cust)
    # Ids are strings in every dataset, whatever their type in the log (str() of each id is
    # much faster than NumPy's astype(str).astype(object)).
    ids = arrays.customer_ids[cust]
    customer_id = ids if ids.dtype == object else np.fromiter(map(str, ids.tolist()),
                                                              dtype=object, count=len(ids))
    cutoff = np.array(cutoffs, dtype="datetime64[D]")[cut_index]

    if log.has_domain:
        available = log.domains()
        domains = list(task.domains) if task.domains else available
        missing = [d for d in domains if d not in available]
        if missing:
            raise TaskError(f"domain(s) {missing} are not in the log's domains {available}")
        if task.target_domain is not None and task.target_domain not in domains:
            raise TaskError(f"target domain '{task.target_domain}' is not among {domains}")
        passes: list[str | None] = list(domains)
    else:
        if task.domains or task.target_domain:
            raise TaskError("the task names domains but the log has no domain column")
        domains, passes = [], [None]

    categorical: dict[str, np.ndarray] = {}
    numeric: dict[str, np.ndarray] = {}
    vocabs: dict[str, list[str]] = {}
    if attributes is not None:
        say("customer attributes")
        numeric, categorical, vocabs, attr_counts = _attributes(
            con, attributes, attribute_customer_col, customer_id, vocabularies)
        log.quality.attributes = attr_counts
        for warning in attribute_warnings(attr_counts, attribute_customer_col):
            if warning not in log.quality.warnings:
                log.quality.warnings.append(warning)
    asof_numeric: dict[str, np.ndarray] = {}
    log.quality.attributes_asof = {}
    if attributes_asof is not None:
        say("attributes as of each cutoff")
        asof_numeric, asof_codes, asof_vocabs, asof_counts = asof_attributes(
            con, attributes_asof, customer_id,
            (cutoff.astype(np.int64) + 1) * US_PER_DAY,
            customer_col=attributes_asof_customer_col,
            valid_from_col=attributes_asof_valid_from_col,
            time_format=attributes_asof_time_format, vocabularies=vocabularies,
            reserved=set(numeric) | set(categorical))
        categorical.update(asof_codes)
        vocabs.update(asof_vocabs)
        log.quality.attributes_asof = asof_counts
    plan = _event_plan(log, events, event_top_k, vocabularies, windows, passes)
    # Columns: each pass's block (domain-prefixed), the calendar, the numeric attributes, the
    # event features, the numeric attributes as of the cutoff.
    fnames = [domain_column(dom, name) for dom in passes for name in kernels.PASS_FEATURES]
    fnames += ["cutoff_month", "cutoff_dayofweek"] + [attribute_column(name) for name in numeric]
    event_col = len(fnames)
    fnames += [] if plan is None else plan.feature_names
    asof_col = len(fnames)
    fnames += [attribute_column(name) for name in asof_numeric]
    features = np.zeros((n, len(fnames)), dtype=np.float32)
    channel_names = [domain_column(dom, ch) for dom in passes for ch in SEQUENCE_CHANNELS]
    event_channel0 = len(channel_names)
    channel_names += [] if plan is None else plan.channel_names
    seq = np.zeros((n, task.n_periods, len(channel_names)), dtype=np.float32)
    labels_by_domain: dict[str, np.ndarray] = {}
    orders_by_domain: dict[str, np.ndarray] = {}
    sparse_masks = _choose_sparse(task, arrays, customer_id, bool(domains), sparse_customers)
    sparse = None if sparse_masks is None else sparse_masks[0]
    target_pass = (task.target_domain or domains[-1]) if domains else None
    for k, dom in enumerate(passes):
        hidden = sparse_masks[1] if sparse_masks is not None and dom == target_pass else None
        say(f"features, sequences and labels{' of ' + dom if dom else ''}")
        lab, orders = _one_pass(arrays, task, windows, cust, rows_per_cutoff, dom, hidden,
                                features, seq, k)
        labels_by_domain[dom or "all"] = lab
        orders_by_domain[dom or "all"] = orders

    col = len(passes) * len(kernels.PASS_FEATURES)
    cut_dt = cutoff.astype("datetime64[D]")
    features[:, col] = cut_dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    # 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    features[:, col + 1] = (cut_dt.astype(np.int64) + 3) % 7
    for j, values in enumerate(numeric.values()):
        features[:, col + 2 + j] = values
    for j, values in enumerate(asof_numeric.values()):
        features[:, asof_col + j] = values
    if plan is not None:
        say("event features and channels")
        _event_features(plan, task, windows, cust, rows_per_cutoff, sparse_masks,
                        target_pass, features, seq, event_col, event_channel0)
        vocabs[EVENT_VOCABULARY] = list(plan.vocabulary)

    if domains:
        target = task.target_domain or domains[-1]
        labels, label_orders = labels_by_domain[target], orders_by_domain[target]
    else:
        target = None
        labels, label_orders = labels_by_domain.pop("all"), orders_by_domain.pop("all")
    cnames = list(categorical)
    cat = (np.column_stack([categorical[k] for k in cnames]) if cnames
           else np.zeros((n, 0), np.int64))
    return LTVDataset(
        customer_id=customer_id, cutoff=cutoff, features=features, feature_names=fnames,
        categorical=cat, categorical_names=cnames, vocabularies=vocabs,
        sequences=seq, channel_names=channel_names,
        labels=labels, label_orders=label_orders, horizons=list(task.horizons),
        horizon_days=task.horizon_days, labels_by_domain=labels_by_domain if domains else {},
        label_orders_by_domain=orders_by_domain if domains else {},
        domains=domains, target_domain=target, sparse=sparse,
        meta={"task": task.to_dict(), "quality": log.quality.to_dict(),
              "data_end": str(log.data_end),
              **({} if plan is None else {"events": plan.meta()})},
    )
