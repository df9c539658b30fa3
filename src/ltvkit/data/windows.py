"""LTVTask -> LTVDataset on DuckDB: features before the cutoff, labels after it, never both.

Everything heavy runs as SQL inside DuckDB; only per-sample results (one row per customer and
cutoff, or per customer, cutoff and period) come back to NumPy.

The windows (see :mod:`ltvkit.data.task`): with ``c_end = cutoff + 1 day``, features read
``c_start <= ts < c_end`` and the label of horizon h reads ``c_end <= ts < c_end + h``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np

from ltvkit.data.dataset import UNKNOWN, LTVDataset
from ltvkit.data.schema import TransactionLog, _customer_expr, _register_source
from ltvkit.data.task import LTVTask, parse_date, parse_days, parse_period
from ltvkit.errors import DataValidationError, TaskError

SEQUENCE_CHANNELS = ("spend", "orders", "items", "refunds")
STATIC_FEATURES = (
    "frequency", "recency_days", "T_days", "days_since_last_purchase", "purchase_days",
    "n_orders", "n_transactions", "monetary_total", "monetary_mean", "monetary_max",
    "repeat_monetary_mean", "first_purchase_value", "net_spend", "refund_total", "refund_count",
    "items_total", "gap_mean", "gap_std", "n_categories", "spend_trend",
    "cutoff_month", "cutoff_dayofweek",
)
_FAR_PAST = "1800-01-01"
# Money is summed as DECIMAL: exact, so the result does not depend on the order in which
# DuckDB's threads add rows up (float sums differed in the last bit between runs).
_EXACT = "CAST({} AS DECIMAL(38, 12))"  # amounts are exact to 1e-12

Progress = Callable[[str], None]


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


def _make_samples(con: duckdb.DuckDBPyConnection, tx: str, task: LTVTask,
                  cutoffs: list[dt.date]) -> int:
    lookback = parse_days(task.lookback) if task.lookback else None
    rows = []
    for c in cutoffs:
        c_end = c + dt.timedelta(days=1)
        c_start = c_end - dt.timedelta(days=lookback) if lookback else parse_date(_FAR_PAST, "")
        rows.append(f"(DATE '{c}', TIMESTAMP '{c_end}', TIMESTAMP '{c_start}')")
    con.execute("CREATE OR REPLACE TEMP TABLE _cutoffs(cutoff DATE, c_end TIMESTAMP, "
                "c_start TIMESTAMP)")
    con.execute("INSERT INTO _cutoffs VALUES " + ", ".join(rows))
    # A purchase is any non-refund row (zero-value ones count when the cleaning keeps them).
    firsts = f"SELECT customer_id, min(ts) AS first_ts FROM {tx} WHERE amount >= 0 GROUP BY 1"
    if task.cohort == "known" or (task.cohort == "active" and lookback is None):
        body = f"""SELECT f.customer_id, c.cutoff, c.c_end, c.c_start
                   FROM ({firsts}) f JOIN _cutoffs c ON f.first_ts < c.c_end"""
    elif task.cohort == "active":
        body = f"""SELECT DISTINCT t.customer_id, c.cutoff, c.c_end, c.c_start
                   FROM {tx} t JOIN _cutoffs c ON t.ts >= c.c_start AND t.ts < c.c_end
                   WHERE t.amount >= 0"""
    else:
        lo = parse_date(task.new_from, "new_from")
        hi = parse_date(task.new_until, "new_until") + dt.timedelta(days=1)
        body = f"""SELECT f.customer_id, c.cutoff, c.c_end, c.c_start
                   FROM ({firsts}) f JOIN _cutoffs c ON f.first_ts < c.c_end
                   WHERE f.first_ts >= TIMESTAMP '{lo}' AND f.first_ts < TIMESTAMP '{hi}'"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _samples AS
        SELECT (row_number() OVER (ORDER BY customer_id, cutoff) - 1)::BIGINT AS rid, *
        FROM ({body})
    """)
    n = con.execute("SELECT count(*) FROM _samples").fetchone()[0]
    if n == 0:
        raise TaskError(f"no customer is in the '{task.cohort}' cohort at the cutoff(s) "
                        f"{cutoffs[0]}..{cutoffs[-1]}")
    return int(n)


def _domain_filter(domain: str | None) -> str:
    if domain is None:
        return ""
    return "AND t.domain = '" + domain.replace("'", "''") + "'"


def _history_filter(domain: str | None, hide_sparse: bool) -> str:
    """The domain filter, and for the sparse customers' target domain: no history at all."""
    sql = _domain_filter(domain)
    if hide_sparse:
        sql += " AND CAST(s.customer_id AS VARCHAR) NOT IN (SELECT customer_id FROM _sparse)"
    return sql


def _build_days(con: duckdb.DuckDBPyConnection, log: TransactionLog, domain: str | None,
                hide_sparse: bool = False) -> None:
    """Per (sample, day) sums of the visible history: the one scan of the log for features."""
    tx = log.table
    orders = ("count(DISTINCT t.order_id) FILTER (t.amount >= 0)" if log.has_order
              else "count(*) FILTER (t.amount >= 0)")
    items = (f"coalesce(sum({_EXACT.format('t.quantity')}) FILTER (t.amount >= 0), 0)"
             if log.has_quantity
             else "count(*) FILTER (t.amount >= 0)")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _days AS
        SELECT s.rid, CAST(t.ts AS DATE) AS day,
               date_diff('day', CAST(t.ts AS DATE), CAST(s.c_end AS DATE)) AS dbe,
               coalesce(sum({_EXACT.format('t.amount')}) FILTER (t.amount > 0), 0) AS spend,
               coalesce(-sum({_EXACT.format('t.amount')}) FILTER (t.amount < 0), 0) AS refunds,
               count(*) FILTER (t.amount < 0)::DOUBLE AS refund_rows,
               count(*) FILTER (t.amount >= 0)::DOUBLE AS purchases,
               ({orders})::DOUBLE AS orders, ({items})::DOUBLE AS items,
               max(t.amount) AS max_amount, count(*)::DOUBLE AS n_rows
        FROM _samples s JOIN {tx} t
          ON t.customer_id = s.customer_id AND t.ts < s.c_end AND t.ts >= s.c_start
          {_history_filter(domain, hide_sparse)}
        GROUP BY ALL
    """)


def _static_features(con: duckdb.DuckDBPyConnection, log: TransactionLog, domain: str | None,
                     n: int, hide_sparse: bool = False) -> dict[str, np.ndarray]:
    # dbe = days from the purchase day to c_end (>= 1); lifetimes' T = dbe(first) - 1 etc.
    q = """
        WITH p AS (
            SELECT rid, dbe, spend,
                   lag(dbe) OVER (PARTITION BY rid ORDER BY dbe DESC) - dbe AS gap
            FROM _days WHERE purchases > 0
        ), g AS (
            -- from exact integer sums (stddev_pop's running update depends on row order)
            SELECT rid, sum(gap) / count(*) AS gap_mean,
                   sqrt(greatest(sum(gap * gap) / count(*) - (sum(gap) / count(*)) ** 2, 0))
                       AS gap_std
            FROM p WHERE gap IS NOT NULL GROUP BY rid
        ), d AS (
            SELECT rid,
                   count(*) FILTER (purchases > 0)::DOUBLE AS purchase_days,
                   sum(orders) AS n_orders, sum(n_rows) AS n_transactions,
                   sum(spend)::DOUBLE AS monetary_total, max(max_amount) AS monetary_max,
                   sum(refunds)::DOUBLE AS refund_total, sum(refund_rows) AS refund_count,
                   sum(items)::DOUBLE AS items_total,
                   max(dbe) FILTER (purchases > 0)::DOUBLE AS first_dbe,
                   min(dbe) FILTER (purchases > 0)::DOUBLE AS last_dbe,
                   arg_max(spend, dbe) FILTER (purchases > 0)::DOUBLE AS first_purchase_value
            FROM _days GROUP BY rid
        )
        SELECT d.*, g.gap_mean, g.gap_std FROM d LEFT JOIN g USING (rid)
    """
    res = con.execute(q).fetchnumpy()
    rid = res["rid"].astype(np.int64)

    def full(name: str, fill: float = 0.0) -> np.ndarray:
        out = np.full(n, fill, dtype=np.float64)
        vals = np.asarray(res[name], dtype=np.float64)
        vals = np.where(np.isnan(vals), fill, vals) if vals.dtype.kind == "f" else vals
        out[rid] = vals
        return out

    purchase_days = full("purchase_days")
    first_dbe, last_dbe = full("first_dbe", np.nan), full("last_dbe", np.nan)
    has_purchase = purchase_days > 0
    monetary_total, first_value = full("monetary_total"), full("first_purchase_value")
    n_orders = full("n_orders")
    feats = {
        "frequency": np.maximum(purchase_days - 1, 0),
        "recency_days": np.where(has_purchase, first_dbe - last_dbe, 0.0),
        "T_days": np.where(has_purchase, first_dbe - 1, 0.0),
        "days_since_last_purchase": np.where(has_purchase, last_dbe - 1, np.nan),
        "purchase_days": purchase_days,
        "n_orders": n_orders,
        "n_transactions": full("n_transactions"),
        "monetary_total": monetary_total,
        "monetary_mean": np.divide(monetary_total, n_orders, out=np.zeros(n), where=n_orders > 0),
        "monetary_max": np.maximum(full("monetary_max"), 0.0),
        "repeat_monetary_mean": np.divide(monetary_total - first_value, purchase_days - 1,
                                          out=np.zeros(n), where=purchase_days > 1),
        "first_purchase_value": first_value,
        "refund_total": full("refund_total"),
        "refund_count": full("refund_count"),
        "items_total": full("items_total"),
        "gap_mean": full("gap_mean"),
        "gap_std": full("gap_std"),
    }
    feats["net_spend"] = monetary_total - feats["refund_total"]
    if log.has_category:
        cat = con.execute(f"""
            SELECT s.rid, count(DISTINCT t.category) AS k FROM _samples s JOIN {log.table} t
              ON t.customer_id = s.customer_id AND t.ts < s.c_end AND t.ts >= s.c_start
              {_history_filter(domain, hide_sparse)}
            GROUP BY s.rid""").fetchnumpy()
        k = np.zeros(n)
        k[cat["rid"].astype(np.int64)] = cat["k"]
        feats["n_categories"] = k
    else:
        feats["n_categories"] = np.zeros(n)
    return feats


def _sequences(con: duckdb.DuckDBPyConnection, task: LTVTask, n: int) -> np.ndarray:
    kind, length = parse_period(task.period)
    T = task.n_periods
    if kind == "days":
        idx = f"(d.dbe - 1) // {length}"
    else:
        idx = ("(year(s.cutoff) * 12 + month(s.cutoff)) - (year(d.day) * 12 + month(d.day))")
    res = con.execute(f"""
        SELECT d.rid, {T - 1} - ({idx}) AS pos, sum(d.spend)::FLOAT AS spend,
               sum(d.orders)::FLOAT AS orders, sum(d.items)::FLOAT AS items,
               sum(d.refunds)::FLOAT AS refunds
        FROM _days d JOIN _samples s USING (rid)
        WHERE ({idx}) < {T}
        GROUP BY ALL
    """).fetchnumpy()
    seq = np.zeros((n * T, len(SEQUENCE_CHANNELS)), dtype=np.float32)
    # One scatter of all channels through a flat (sample, period) index.
    flat = res["rid"].astype(np.int64) * T + res["pos"].astype(np.int64)
    seq[flat] = np.column_stack([np.asarray(res[ch], dtype=np.float32)
                                 for ch in SEQUENCE_CHANNELS])
    return seq.reshape(n, T, len(SEQUENCE_CHANNELS))


def _labels(con: duckdb.DuckDBPyConnection, log: TransactionLog, task: LTVTask,
            domain: str | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    hdays = task.horizon_days
    longest = max(hdays)
    parts = []
    for j, h in enumerate(hdays):
        win = f"t.ts < s.c_end + INTERVAL {h} DAY"
        orders = (f"count(DISTINCT t.order_id) FILTER (t.amount >= 0 AND {win})" if log.has_order
                  else f"count(*) FILTER (t.amount >= 0 AND {win})")
        amount, gross = _EXACT.format("t.amount"), _EXACT.format("abs(t.amount)")
        parts.append(f"coalesce(sum({amount}) FILTER ({win}), 0)::DOUBLE AS net_{j}, "
                     f"{orders} AS orders_{j}, "
                     f"coalesce(sum({gross}) FILTER ({win}), 0)::DOUBLE AS gross_{j}")
    res = con.execute(f"""
        SELECT s.rid, {', '.join(parts)}
        FROM _samples s JOIN {log.table} t
          ON t.customer_id = s.customer_id AND t.ts >= s.c_end
             AND t.ts < s.c_end + INTERVAL {longest} DAY
          {_domain_filter(domain)}
        GROUP BY s.rid
    """).fetchnumpy()
    rid = res["rid"].astype(np.int64)
    labels = np.zeros((n, len(hdays)))
    orders = np.zeros((n, len(hdays)))
    for j in range(len(hdays)):
        # Net spend (refunds included) clipped at 0: a customer cannot be worth less than nothing.
        net = np.asarray(res[f"net_{j}"], dtype=np.float64)
        # A purchase refunded in full nets to rounding noise (7e-15 in Online Retail), not to a
        # positive value: snap it to 0, else it counts as a spender (label > 0).
        gross = np.asarray(res[f"gross_{j}"], dtype=np.float64)
        net = np.where(np.abs(net) <= 1e-9 * gross, 0.0, net)
        labels[rid, j] = np.maximum(net, 0.0)
        orders[rid, j] = res[f"orders_{j}"]
    return labels, orders


def _spend_trend(seq: np.ndarray) -> np.ndarray:
    """Least-squares slope of per-period spend over the sequence (per period)."""
    T = seq.shape[1]
    if T < 2:
        return np.zeros(len(seq))
    t = np.arange(T, dtype=np.float64) - (T - 1) / 2
    return (seq[:, :, 0].astype(np.float64) @ t) / float(t @ t)


_NUMERIC_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE")


def _is_numeric_type(sql_type: str) -> bool:
    return sql_type in _NUMERIC_TYPES or sql_type.startswith("DECIMAL")


def _attributes(con: duckdb.DuckDBPyConnection, attributes: Any, customer_col: str,
                customer_ids: np.ndarray, vocabularies: dict[str, list[str]] | None
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str]]]:
    _register_source(con, attributes, "_attr_raw", None)
    types = {r[0]: str(r[1]).upper() for r in con.execute("DESCRIBE _attr_raw").fetchall()}
    if customer_col not in types:
        raise DataValidationError(
            f"customer attributes: missing column '{customer_col}'; they have {', '.join(types)}",
            column=customer_col, rule="column exists")
    cid = _customer_expr(customer_col, types[customer_col])
    dup = con.execute(f"SELECT count(*) - count(DISTINCT {cid}) FROM _attr_raw").fetchone()[0]
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
    return numeric, codes, vocabs


def _choose_sparse(con: duckdb.DuckDBPyConnection, task: LTVTask, customer_id: np.ndarray,
                   cross_domain: bool) -> np.ndarray | None:
    """The sparsity protocol: a seeded share of the customers loses its target history."""
    if task.sparsity <= 0:
        con.execute("DROP TABLE IF EXISTS _sparse")
        return None
    if not cross_domain:
        raise TaskError("sparsity removes target-domain history: the log needs a domain column")
    customers = np.unique(customer_id.astype(str))
    # Its own random stream: with a plain default_rng(seed) the sparse draw would repeat the
    # customer split's permutation for the same seed, and every test customer would be sparse.
    rng = np.random.default_rng([task.sparsity_seed, 0x5BA25])
    chosen = customers[rng.permutation(len(customers))[:int(round(task.sparsity *
                                                                   len(customers)))]]
    # Ids are compared as text, whatever their type in the log.
    con.execute("CREATE OR REPLACE TEMP TABLE _sparse(customer_id VARCHAR)")
    if len(chosen):
        import pyarrow as pa

        con.register("_sparse_ids", pa.table({"customer_id": pa.array(chosen.tolist())}))
        con.execute("INSERT INTO _sparse SELECT customer_id FROM _sparse_ids")
        con.unregister("_sparse_ids")
    return np.isin(customer_id.astype(str), chosen)


def build_dataset(log: TransactionLog, task: LTVTask, attributes: Any = None, *,
                  attribute_customer_col: str = "customer_id",
                  vocabularies: dict[str, list[str]] | None = None,
                  progress: Progress | None = None) -> LTVDataset:
    """Build the leak-free dataset of ``task`` from ``log``.

    Parameters
    ----------
    log : a cleaned :class:`TransactionLog`.
    task : the :class:`LTVTask`.
    attributes : optional customer attributes ("portrait"): path, DataFrame or Arrow table with
        one row per customer; numeric columns become features, the others categorical codes.
    vocabularies : categorical vocabularies to reuse (e.g. those of the training dataset), so
        that categories unseen there map to the "<unknown>" code 0.
    progress : called with a short message before each step.
    """
    say = progress or (lambda _msg: None)
    cutoffs = _check_task_against_data(log, task)
    con = log.con
    say("selecting the cohort")
    n = _make_samples(con, log.table, task, cutoffs)
    meta_ids = con.execute("SELECT customer_id, cutoff FROM _samples ORDER BY rid").fetchnumpy()
    # Ids are strings in every dataset, whatever their type in the log (integer ids stay
    # integers inside DuckDB for speed).
    customer_id = np.asarray(meta_ids["customer_id"]).astype(str).astype(object)
    cutoff = np.asarray(meta_ids["cutoff"]).astype("datetime64[D]")

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

    feature_cols: dict[str, np.ndarray] = {}
    seq_blocks, channel_names = [], []
    labels_by_domain: dict[str, np.ndarray] = {}
    orders_by_domain: dict[str, np.ndarray] = {}
    sparse = _choose_sparse(con, task, customer_id, bool(domains))
    target_pass = (task.target_domain or domains[-1]) if domains else None
    for dom in passes:
        prefix = f"{dom}__" if dom is not None else ""
        hide = sparse is not None and dom == target_pass
        say(f"features{' of ' + dom if dom else ''}")
        _build_days(con, log, dom, hide)
        feats = _static_features(con, log, dom, n, hide)
        say(f"sequences{' of ' + dom if dom else ''}")
        seq = _sequences(con, task, n)
        feats["spend_trend"] = _spend_trend(seq)
        for name in STATIC_FEATURES:
            if name in feats:
                feature_cols[prefix + name] = feats[name]
        seq_blocks.append(seq)
        channel_names += [prefix + ch for ch in SEQUENCE_CHANNELS]
        say(f"labels{' of ' + dom if dom else ''}")
        lab, orders = _labels(con, log, task, dom, n)
        labels_by_domain[dom or "all"] = lab
        orders_by_domain[dom or "all"] = orders
        con.execute("DROP TABLE IF EXISTS _days")

    cut_dt = cutoff.astype("datetime64[D]")
    months = cut_dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    feature_cols["cutoff_month"] = months.astype(np.float64)
    # 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    feature_cols["cutoff_dayofweek"] = ((cut_dt.astype(np.int64) + 3) % 7).astype(np.float64)

    categorical: dict[str, np.ndarray] = {}
    vocabs: dict[str, list[str]] = {}
    if attributes is not None:
        say("customer attributes")
        numeric, categorical, vocabs = _attributes(con, attributes, attribute_customer_col,
                                                   customer_id, vocabularies)
        for name, values in numeric.items():
            feature_cols[f"attr__{name}"] = values

    if domains:
        target = task.target_domain or domains[-1]
        labels, label_orders = labels_by_domain[target], orders_by_domain[target]
    else:
        target = None
        labels, label_orders = labels_by_domain.pop("all"), orders_by_domain.pop("all")
    con.execute("DROP TABLE IF EXISTS _samples")
    con.execute("DROP TABLE IF EXISTS _cutoffs")
    fnames = list(feature_cols)
    features = np.column_stack([feature_cols[k] for k in fnames]).astype(np.float32)
    cnames = list(categorical)
    cat = (np.column_stack([categorical[k] for k in cnames]) if cnames
           else np.zeros((n, 0), np.int64))
    return LTVDataset(
        customer_id=customer_id, cutoff=cutoff, features=features, feature_names=fnames,
        categorical=cat, categorical_names=cnames, vocabularies=vocabs,
        sequences=np.concatenate(seq_blocks, axis=2), channel_names=channel_names,
        labels=labels, label_orders=label_orders, horizons=list(task.horizons),
        horizon_days=task.horizon_days, labels_by_domain=labels_by_domain if domains else {},
        label_orders_by_domain=orders_by_domain if domains else {},
        domains=domains, target_domain=target, sparse=sparse,
        meta={"task": task.to_dict(), "quality": log.quality.to_dict(),
              "data_end": str(log.data_end)},
    )
