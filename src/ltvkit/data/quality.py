"""The data-quality report: every input row is either kept or counted under the rule that dropped it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltvkit.data.plain import plain_dict


@dataclass
class DataQualityReport:
    """What cleaning did to a transaction log.

    ``rows_read == rows_kept + sum(dropped.values())`` always holds (checked on construction by
    :meth:`check_balance`), so nothing is lost silently.
    """

    rows_read: int
    rows_kept: int
    dropped: dict[str, int]
    kept_with_notes: dict[str, int] = field(default_factory=dict)
    # None when duplicates were not looked for (CleaningRules.drop_duplicates=False).
    duplicate_rows_in_input: int | None = 0
    n_customers: int = 0
    time_min: str = ""
    time_max: str = ""
    notes: list[str] = field(default_factory=list)
    # Loud warnings: a cleaning rule that dropped a large share of the rows or the spend, an
    # attributes file that matches few customers.
    warnings: list[str] = field(default_factory=list)
    # Customers: in the log (any valid row), kept, and out of the dataset's scope per reason
    # (filled by build_dataset).
    customers: dict[str, int] = field(default_factory=dict)
    # Attribute rows: read, matched to a customer, unmatched; customers without attributes.
    attributes: dict[str, int] = field(default_factory=dict)
    # The events table (behaviour, marketing, support): its own balanced read / kept / dropped
    # counts, the event types, the matching to the log's customers, the vocabulary used.
    events: dict[str, Any] = field(default_factory=dict)
    # Time-varying attributes read as of each cutoff: rows read / used, samples matched.
    attributes_asof: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, Any] = field(default_factory=dict)
    cleaning: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def check_balance(self) -> None:
        if self.rows_read != self.rows_kept + self.rows_dropped:
            raise AssertionError(
                f"data-quality report does not balance: read {self.rows_read}, kept "
                f"{self.rows_kept}, dropped {self.rows_dropped} ({self.dropped})")

    def to_dict(self) -> dict[str, Any]:
        out = plain_dict(self)
        out["rows_dropped"] = self.rows_dropped
        return out

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, default=str)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataQualityReport:
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in data.items() if k in known}
        return cls(**data)

    def rows(self) -> list[tuple[str, int]]:
        """(label, count) rows for a printed table, in the order cleaning applies them."""
        out = [("rows read", self.rows_read)]
        out += [(f"dropped: {k.replace('_', ' ')}", v) for k, v in self.dropped.items()]
        out += [(f"kept: {k.replace('_', ' ')}", v) for k, v in self.kept_with_notes.items()]
        out += [("rows kept", self.rows_kept), ("customers", self.n_customers)]
        out += [(f"customers: {k.replace('_', ' ')}", v) for k, v in self.customers.items()]
        out += [(f"attributes: {k.replace('_', ' ')}", v) for k, v in self.attributes.items()]
        out += self.event_rows()
        out += [(f"attributes as of cutoff: {k.replace('_', ' ')}", v)
                for k, v in self.attributes_asof.items()]
        return out

    def event_rows(self) -> list[tuple[str, int]]:
        """(label, count) rows of the events section (none without events)."""
        ev = self.events
        if not ev:
            return []
        out = [("events: rows read", ev["rows_read"])]
        out += [(f"events dropped: {k.replace('_', ' ')}", v) for k, v in ev["dropped"].items()]
        out += [(f"events kept: {k.replace('_', ' ')}", v)
                for k, v in ev.get("kept_with_notes", {}).items()]
        out += [("events: rows kept", ev["rows_kept"]), ("events: customers", ev["n_customers"]),
                ("events: event types", len(ev.get("type_counts", {})))]
        out += [(f"events: {k.replace('_', ' ')}", v) for k, v in ev.get("matching", {}).items()]
        return out
