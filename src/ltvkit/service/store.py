"""The event store: a DuckDB file of transactions pushed to ``/v1/events``.

Each request's events are written in one transaction; the service acknowledges them after the
``COMMIT`` returns, when DuckDB has written (and synced) its write-ahead log, so a killed process
loses no acknowledged event. The event id is the primary key: an id already stored is counted as
a duplicate and not written again, which makes retries safe.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import duckdb

from ltvkit.errors import LTVError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id    VARCHAR PRIMARY KEY,
    customer_id VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,
    amount      DOUBLE NOT NULL,
    order_id    VARCHAR,
    received_at TIMESTAMP NOT NULL
)
"""


class StoreError(LTVError, RuntimeError):
    """The event store cannot be opened or written."""


class EventStore:
    """Append-only, idempotent event storage in one DuckDB file (one writer process)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise StoreError(f"event store {self.path}: cannot open ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]})") from None
        self._con.execute("SET threads = 1")
        self._con.execute(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def append(self, events: list[dict[str, Any]]) -> tuple[int, int]:
        """Write the events whose id is new, in one transaction; return (stored, duplicates).
        An id repeated inside ``events`` counts once."""
        import pyarrow as pa

        seen: dict[str, dict[str, Any]] = {}
        for e in events:
            seen.setdefault(e["event_id"], e)
        rows = list(seen.values())
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        table = pa.table({
            "event_id": pa.array([e["event_id"] for e in rows], pa.string()),
            "customer_id": pa.array([e["customer_id"] for e in rows], pa.string()),
            "ts": pa.array([_naive_utc(e["timestamp"]) for e in rows], pa.timestamp("us")),
            "amount": pa.array([float(e["amount"]) for e in rows], pa.float64()),
            "order_id": pa.array([e.get("order_id") for e in rows], pa.string()),
        })
        with self._lock:
            con = self._con
            con.register("_incoming", table)
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    before = con.execute("SELECT count(*) FROM events").fetchone()[0]
                    con.execute("INSERT INTO events SELECT i.event_id, i.customer_id, i.ts, "
                                "i.amount, i.order_id, ? FROM _incoming i "
                                "ANTI JOIN events e ON e.event_id = i.event_id", [now])
                    after = con.execute("SELECT count(*) FROM events").fetchone()[0]
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                con.unregister("_incoming")
        stored = int(after - before)
        return stored, len(events) - stored

    def history(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's stored transactions, oldest first."""
        with self._lock:
            rows = self._con.execute(
                "SELECT ts, amount, order_id FROM events WHERE customer_id = ? "
                "ORDER BY ts, event_id", [customer_id]).fetchall()
        return [{"timestamp": r[0], "amount": r[1], "order_id": r[2]} for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM events").fetchone()[0])


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value
