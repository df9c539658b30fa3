"""A loaded model and the one path from a request's transactions to its scores.

The features are built by the code of ``ltv prepare``: the transactions become a
:class:`~ltvkit.data.TransactionLog` with the training data's cleaning rules (read by the Arrow
engine of :mod:`ltvkit.data.small_log`, which applies the DuckDB engine's mapping, validation
and cleaning rules without a DuckDB statement per request), and
:func:`ltvkit.data.build_dataset` builds the training task (lookback, horizons, period, sequence
length, domains) at the request's cutoff. The cohort is ``known`` (every customer with a
purchase on or before the cutoff) and label windows may run past the history (labels are not
used). Transactions carry the optional columns the training log mapped (quantity, category,
domain).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.errors import DataValidationError, LTVError, ModelError
from ltvkit.prediction import quantile_column

TRAINING_INFO = "training.json"
_local = threading.local()


def _connection():
    """This thread's DuckDB connection (one thread each: a request is small, and the server
    runs requests side by side); opening a connection per request would cost more than the
    request."""
    con = getattr(_local, "con", None)
    if con is None:
        from ltvkit.data.sources import new_connection

        con = _local.con = new_connection(threads=1)
        import numba

        numba.set_num_threads(1)  # this thread's compiled walks run on it alone
    return con


class RequestError(LTVError, ValueError):
    """A request breaks a rule; ``field`` and ``rule`` go into the 422 body."""

    def __init__(self, message: str, *, field: str, rule: str):
        super().__init__(message)
        self.field = field
        self.rule = rule


def _version(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class LoadedModel:
    """A model, the training settings its features need, and where and when it was loaded."""

    model: Any
    directory: Path
    version: str
    info: dict[str, Any]
    config: dict[str, Any]
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"))
    # The task and cleaning rules of the cutoffs asked for (read-only once made).
    _per_cutoff: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, directory: str | Path) -> LoadedModel:
        from ltvkit.models import load_model

        src = Path(directory)
        if not (src / "config.json").is_file():
            raise ModelError(f"model directory {src}: no config.json (save a model with "
                             "`ltv train`)")
        info_file = src / TRAINING_INFO
        if not info_file.is_file():
            raise ModelError(f"model directory {src}: no {TRAINING_INFO}; the service needs the "
                             "training task, which `ltv train` writes beside the model")
        info = json.loads(info_file.read_text())
        if not info.get("task"):
            raise ModelError(f"{info_file}: no training task")
        from ltvkit.data.layout import EVENT_VOCABULARY

        if EVENT_VOCABULARY in (info.get("vocabularies") or {}):
            # Its features need the customer's events, which a score request does not carry:
            # refused here rather than answering every request with the same error.
            raise ModelError(
                f"model directory {src}: trained with an events table (`ltv prepare --events`), "
                "but the service scores from transactions only; serve a model trained "
                "without events, or score in batch (`ltv prepare --events ... "
                f"--vocabularies-from {src}`, then `ltv predict`)")
        version = _version(src)
        model = load_model(src)
        if "n_threads" in model._param_names():
            # One request, one thread: the server runs requests side by side, and a model's
            # predictions do not depend on its thread count.
            model.set_params(n_threads=1)
        return cls(model=model, directory=src, version=version, info=info,
                   config=json.loads((src / "config.json").read_text()))

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def attribute_names(self) -> list[str]:
        numeric = [f.removeprefix("attr__") for f in self.model.feature_names_
                   if f.startswith("attr__")]
        return numeric + list(self.model.categorical_names_)

    def task(self, cutoff: dt.date):
        task = self._per_cutoff.get(("task", cutoff))
        if task is None:
            task = self._per_cutoff[("task", cutoff)] = self._task(cutoff)
        return task

    def cleaning(self, cutoff: dt.date):
        rules = self._per_cutoff.get(("cleaning", cutoff))
        if rules is None:
            rules = self._per_cutoff[("cleaning", cutoff)] = self._cleaning(cutoff)
        return rules

    def _task(self, cutoff: dt.date):
        from ltvkit.data import LTVTask

        t = self.info["task"]
        return LTVTask(cutoff=cutoff.isoformat(), lookback=t.get("lookback"),
                       horizons=tuple(t["horizons"]), period=t["period"],
                       n_periods=int(t["n_periods"]), cohort="known",
                       allow_partial_horizon=True, domains=tuple(self.domains) or None,
                       target_domain=t.get("target_domain"))

    def _cleaning(self, cutoff: dt.date):
        from ltvkit.data import CleaningRules

        c = dict(self.info.get("cleaning") or {})
        # History ends on the cutoff day; later rows are dropped (and cannot be features).
        return CleaningRules(drop_duplicates=c.get("drop_duplicates", True),
                             refunds=c.get("refunds", "keep"),
                             zero_amounts=c.get("zero_amounts", "drop"),
                             data_end=(cutoff + dt.timedelta(days=1)).isoformat())

    @property
    def roles(self) -> tuple[str, ...]:
        """The optional columns besides the order id that the model's training log mapped
        (``quantity``, ``category``, ``domain``): each transaction of a request carries them."""
        mapping = self.info.get("mapping") or {}
        return tuple(role for role in ("quantity", "category", "domain") if mapping.get(role))

    @property
    def domains(self) -> list[str]:
        return list(self.info.get("domains") or [])

    def score(self, customers: list, cutoff: dt.date) -> list[dict[str, Any]]:
        """Scores of ``customers`` at ``cutoff``, one dict per customer in request order.

        A customer is a dict (customer_id, transactions, attributes; a transaction's missing
        optional field is None) or the request's pydantic :class:`~.schemas.Customer` (read
        as it is: /v1/score skips a dict copy of every transaction)."""
        from ltvkit.data import build_dataset
        from ltvkit.data.small_log import log_from_records

        _check_request(customers)
        ids = [_get(c, "customer_id") for c in customers]
        columns = _columns(customers)
        results = {i: {"customer_id": i, "status": "no_history", "scores": []} for i in ids}
        history_end = dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time())
        ts = columns.pop("timestamp")
        optional = self._optional_columns(columns, len(ts))
        if ts and min(ts) < history_end:
            # The Arrow engine's rules: the DuckDB engine's rules and numbers, without its
            # statements; the plain columns (text ids, naive UTC datetimes from _columns,
            # floats) are coded without Arrow.
            try:
                log = log_from_records(columns["customer_id"], ts, columns["amount"],
                                       cleaning=self.cleaning(cutoff), con=_connection(),
                                       **optional)
            except DataValidationError as exc:
                if exc.rule != "non-empty input":
                    raise
                # The cleaning rules dropped every row (e.g. only $0 purchases): no customer
                # has a history to score, as for such a customer beside others.
                return [results[i] for i in ids]
            if self.domains:
                _with_domains(log, self.domains)
            attrs = self._attributes(customers)
            data = build_dataset(log, self.task(cutoff), attrs,
                                 vocabularies=self.info.get("vocabularies") or None)
            pred = self.model.predict(data)
            for r, customer_id in enumerate(pred.customer_id.tolist()):
                results[str(customer_id)] = {"customer_id": str(customer_id),
                                             "status": "scored",
                                             "scores": _horizon_scores(pred, r)}
        return [results[i] for i in ids]

    def _optional_columns(self, values: dict[str, list], n: int) -> dict[str, list]:
        """The optional columns of the request's log: the order id when every transaction has
        one, and the model's trained roles (a missing value is missing, as in training); a
        field the model was not trained with, or a domain it does not know, is refused."""
        out = {}
        # A column _columns left out has no value in any transaction.
        values = {role: values.get(role) or [None] * n for role in _FIELDS[2:]}
        given = n - values["order_id"].count(None)
        if 0 < given < n:
            raise RequestError(f"transactions.order_id: given for {given} of {n} "
                               "transactions (rule: all or none)",
                               field="customers.transactions.order_id", rule="all or none")
        if given:
            out["order_id"] = values["order_id"]
        roles = self.roles
        for role in ("quantity", "category", "domain"):
            given = n - values[role].count(None)
            if role in roles:
                out[role] = values[role]
            elif given:
                raise RequestError(
                    f"transactions.{role}: given for {given} transactions, but the model was "
                    f"trained without a {role} column (rule: only the model's columns)",
                    field=f"customers.transactions.{role}", rule="only the model's columns")
        if "domain" in roles:
            known = set(self.domains)
            bad = [d for d in values["domain"] if d not in known]
            if bad:
                raise RequestError(
                    f"transactions.domain: {len(bad)} transactions have no domain or one the "
                    f"model does not know, e.g. {bad[0]!r} (rule: one of {self.domains})",
                    field="customers.transactions.domain", rule="a domain of the model")
        return out

    def _attributes(self, customers: list):
        names = self.attribute_names
        given = {k for c in customers for k in (_get(c, "attributes") or {})}
        unknown = sorted(given - set(names))
        if unknown:
            raise RequestError(f"attributes: unknown {unknown[:5]} (rule: one of the model's "
                               f"attributes {names})", field="customers.attributes",
                               rule="known attribute")
        if not names:
            return None
        import pandas as pd

        rows = [{"customer_id": _get(c, "customer_id"),
                 **{n: (_get(c, "attributes") or {}).get(n) for n in names}} for c in customers]
        frame = pd.DataFrame(rows)
        vocabs = self.info.get("vocabularies") or {}
        for n in names:
            if n in vocabs:
                frame[n] = frame[n].astype("string")
            else:
                frame[n] = pd.to_numeric(frame[n], errors="coerce").astype("float64")
        return frame


def _with_domains(log, domains: list[str]) -> None:
    """Give the request's log every domain of the model, also those it has no row in (a
    customer with no row in a domain has that domain's empty-history features, as in
    training); the rows' domain codes are unchanged."""
    arrays = log.arrays
    missing = tuple(d for d in domains if d not in arrays.domain_names)
    if missing:
        arrays.domain_names = tuple(arrays.domain_names) + missing


_FIELDS = ("timestamp", "amount", "order_id", "quantity", "category", "domain")


def _get(item, key: str):
    """A field of a request's customer or transaction: a pydantic model's attribute, or a
    dict's key (missing: None)."""
    return item.get(key) if isinstance(item, dict) else getattr(item, key)


def _values(transactions: list, key: str) -> list:
    """One field of every transaction of a customer (all dicts or all pydantic models)."""
    if transactions and isinstance(transactions[0], dict):
        return [t.get(key) for t in transactions]
    return list(map(attrgetter(key), transactions))


def _columns(customers: list) -> dict[str, list]:
    """The request's transactions as columns, in request order: customer_id and every field
    of :data:`_FIELDS` (None where a transaction has no value), timestamps naive UTC. Built a
    column at a time (a comprehension per field and customer), not a dict per row. When no
    transaction dict has more than the two required keys (a request without optional
    fields), the optional columns are left out."""
    every = any(not _required_only(_get(c, "transactions")) for c in customers)
    keys = _FIELDS if every else _FIELDS[:2]
    out: dict[str, list] = {"customer_id": [], **{key: [] for key in keys}}
    for c in customers:
        transactions = _get(c, "transactions")
        if not transactions:
            continue
        out["customer_id"] += [_get(c, "customer_id")] * len(transactions)
        for key in keys:
            out[key] += _values(transactions, key)
    ts = out["timestamp"]
    zones = list(map(attrgetter("tzinfo"), ts))
    if zones.count(None) != len(zones):
        out["timestamp"] = [_naive_utc(value) for value in ts]
    return out


def _required_only(transactions: list) -> bool:
    """Whether every transaction is a dict of two keys at most (so no optional field: a dict
    without a required key is refused by the read whatever else it holds)."""
    return not transactions or (isinstance(transactions[0], dict)
                                and max(map(len, transactions)) <= 2)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _horizon_scores(pred, r: int) -> list[dict[str, Any]]:
    out = []
    segment = None
    if pred.bucket_probs is not None:
        segment = int(np.argmax(np.asarray(pred.bucket_probs)[r]))
    for j, h in enumerate(pred.horizons):
        # Every field of schemas.HorizonScore, in its order: /v1/score sends this as it is.
        item: dict[str, Any] = {"horizon": h, "value": float(pred.value[r, j]),
                                "p_active": None, "quantiles": None, "segment": segment}
        if pred.p_active is not None:
            item["p_active"] = float(pred.p_active[r, j])
        if pred.quantiles:
            item["quantiles"] = {quantile_column(q): float(a[r, j])
                                 for q, a in pred.quantiles.items()}
        out.append(item)
    return out


def check_cutoff(cutoff: dt.date | None) -> dt.date:
    today = dt.datetime.now(dt.timezone.utc).date()
    if cutoff is None:
        return today
    if cutoff > today:
        raise RequestError(f"cutoff: {cutoff} is in the future (rule: on or before {today})",
                           field="cutoff", rule="not in the future")
    return cutoff




class Batcher:
    """Scores requests that arrive together in one call: a scoring thread takes the first
    waiting request and every other one waiting by then with the same cutoff and order-id
    rule, scores their customers at once, and hands each request its own rows. A customer's
    features, and so its score, depend on its own transactions and the cutoff only, so a
    request gets the numbers it would get alone; a request waits for no timer, only for the
    batch in progress.

    A small request (at most :attr:`inline_rows` transactions) that arrives while no request
    is waiting or being scored is scored at once on the event loop instead: the hop to a
    scoring thread and back (two thread wake-ups and GIL hand-overs) costs such a request
    more than its scoring blocks the loop, and there is nothing for it to be batched with."""

    inline_rows = 1_000

    def __init__(self, holder, max_customers: int, threads: int = 2):
        import queue

        self.holder, self.max_customers = holder, max_customers
        self._queue: queue.Queue = queue.Queue()
        # Requests queued or being scored by the scoring threads (0: they are idle).
        self._busy = 0
        self._busy_lock = threading.Lock()
        # A few scoring threads (one core each: the compiled walks and the model on one thread).
        self._threads = [threading.Thread(target=self._run, name=f"ltvkit-scorer-{i}",
                                          daemon=True) for i in range(threads)]
        for t in self._threads:
            t.start()

    def score(self, customers: list, cutoff: dt.date
              ) -> tuple[LoadedModel, list[dict[str, Any]]]:
        from concurrent.futures import Future

        _check_request(customers)
        future: Future = Future()
        self._put((customers, cutoff, _has_order(customers), future))
        return future.result()

    async def score_async(self, customers: list, cutoff: dt.date
                          ) -> tuple[LoadedModel, list[dict[str, Any]]]:
        """:meth:`score` for the event loop: the request's coroutine waits without holding a
        thread. ``customers`` may be the request's pydantic models (scored as they are)."""
        import asyncio

        if not self._busy and _n_rows(customers) <= self.inline_rows:
            loaded = self.holder.current
            return loaded, loaded.score(customers, cutoff)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put((customers, cutoff, None, _LoopFuture(loop, future)))
        return await future

    def _put(self, item: tuple) -> None:
        with self._busy_lock:
            self._busy += 1
        self._queue.put(item)

    def _done(self, n: int) -> None:
        with self._busy_lock:
            self._busy -= n

    def _run(self) -> None:
        import queue

        pending: list = []
        while True:
            if not pending:
                pending.append(self._queue.get())
            while True:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            taken = len(pending)
            pending = [item for item in map(_checked, pending) if item is not None]
            if not pending:
                self._done(taken)
                continue
            first = pending[0]
            batch, rest, size = [], [], 0
            for item in pending:
                if (item[1], item[2]) == (first[1], first[2]) and (
                        not batch or size + len(item[0]) <= self.max_customers):
                    batch.append(item)
                    size += len(item[0])
                else:
                    rest.append(item)
            pending = rest
            self._score_batch(batch)
            self._done(taken - len(pending))

    def _score_batch(self, batch: list) -> None:
        loaded = self.holder.current
        if len(batch) == 1:
            customers, cutoff, _, future = batch[0]
            try:
                future.set_result((loaded, loaded.score(customers, cutoff)))
            except BaseException as exc:  # noqa: BLE001 - handed to the request's thread
                future.set_exception(exc)
            return
        merged = [_renamed(c, f"{k}\x1f{_get(c, 'customer_id')}")
                  for k, (customers, _, _, _) in enumerate(batch) for c in customers]
        try:
            results = loaded.score(merged, batch[0][1])
        except BaseException:  # noqa: BLE001 - score them one by one: each gets its own error
            for item in batch:
                self._score_batch([item])
            return
        start = 0
        for customers, _, _, future in batch:
            own = results[start:start + len(customers)]
            start += len(customers)
            future.set_result((loaded, [{**r, "customer_id": _get(c, "customer_id")}
                                        for r, c in zip(own, customers, strict=True)]))


class _LoopFuture:
    """The ``set_result`` / ``set_exception`` of an asyncio future, callable from a scoring
    thread (a request whose client went away has a cancelled future: nothing to set)."""

    def __init__(self, loop, future):
        self.loop, self.future = loop, future

    def _set(self, method: str, value) -> None:
        if not self.future.done():
            getattr(self.future, method)(value)

    def set_result(self, value) -> None:
        self.loop.call_soon_threadsafe(self._set, "set_result", value)

    def set_exception(self, exc: BaseException) -> None:
        self.loop.call_soon_threadsafe(self._set, "set_exception", exc)


def _checked(item: tuple) -> tuple | None:
    """A queued request with its order-id rule (None when the request breaks a rule: its
    future has the error)."""
    customers, cutoff, has_order, future = item
    if has_order is not None:
        return item
    try:
        _check_request(customers)
    except BaseException as exc:  # noqa: BLE001 - handed to the request's coroutine
        future.set_exception(exc)
        return None
    return customers, cutoff, _has_order(customers), future


def _n_rows(customers: list) -> int:
    return sum(len(_get(c, "transactions")) for c in customers)


def _has_order(customers: list) -> bool:
    return any(value is not None for c in customers
               for value in _values(_get(c, "transactions"), "order_id"))


def _renamed(customer, customer_id: str):
    """``customer`` (a dict or a pydantic model, not changed) with another id."""
    if isinstance(customer, dict):
        return {**customer, "customer_id": customer_id}
    return customer.model_copy(update={"customer_id": customer_id})


def _check_request(customers: list) -> None:
    ids = [_get(c, "customer_id") for c in customers]
    if len(set(ids)) != len(ids):
        raise RequestError(f"customers: {len(ids) - len(set(ids))} customer_id(s) repeat "
                           "(rule: unique customer_id)", field="customers",
                           rule="unique customer_id")
