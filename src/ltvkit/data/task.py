"""LTVTask: which samples (customer, cutoff) to build, what they see, and what they predict.

Time semantics (one rule everywhere): a cutoff is a calendar day and includes that whole day.
Features see rows with ``timestamp < cutoff + 1 day`` (and ``>= cutoff + 1 day - lookback``);
the label of horizon h sums rows with ``cutoff + 1 day <= timestamp < cutoff + 1 day + h``,
i.e. the days (cutoff, cutoff + h].

The ``"new"`` cohort follows the new-customer setting of the ZILN paper [1]_; ``sparsity`` is the
sparsity protocol of the CDLtvS paper [2]_.

References
----------
.. [1] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
.. [2] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ltvkit.data.plain import plain_dict
from ltvkit.errors import TaskError

_DURATION = re.compile(r"^\s*(\d+)\s*([DWdw])\s*$")
Cohort = Literal["known", "active", "new"]
# Longest horizon / lookback / step in days, and the longest sequence: beyond these a date
# overflows or the sequences cannot fit in memory.
MAX_DAYS = 36525
MAX_PERIODS = 10_000
_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$")


def parse_days(text: str | int) -> int:
    """``"90D"`` -> 90, ``"13W"`` -> 91, ``30`` -> 30. Horizons and lookbacks are whole days."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise TaskError(f"a duration must be positive, got {text}")
        if text > MAX_DAYS:
            raise TaskError(f"the duration {text} is {text} days: at most {MAX_DAYS} (100 years)")
        return text
    m = _DURATION.match(str(text))
    if not m:
        raise TaskError(f"cannot read the duration '{text}': use days or weeks like 90D or 13W")
    n = int(m.group(1)) * (7 if m.group(2).upper() == "W" else 1)
    if n <= 0:
        raise TaskError(f"a duration must be positive, got '{text}'")
    if n > MAX_DAYS:
        raise TaskError(f"the duration '{text}' is {n} days: at most {MAX_DAYS} (100 years)")
    return n


def parse_period(text: str) -> tuple[str, int]:
    """``"30D"`` -> ("days", 30); ``"M"`` -> ("month", 1) (calendar months)."""
    t = str(text).strip().upper()
    if t in ("M", "1M", "MONTH"):
        return "month", 1
    return "days", parse_days(t)


def parse_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    m = _DATE.match(str(value))
    try:
        if not m:
            raise ValueError(value)
        return dt.date.fromisoformat(m.group(1))
    except ValueError:
        raise TaskError(f"{what}: not a date (YYYY-MM-DD): '{value}'") from None


@dataclass
class LTVTask:
    """The prediction task.

    Parameters
    ----------
    cutoff : one cutoff day; or give ``cutoff_start``, ``cutoff_end`` and ``cutoff_step`` for
        sliding cutoffs (every ``cutoff_step`` from start to end inclusive).
    lookback : how much history features see (e.g. ``"180D"``); ``None`` = all history.
    horizons : label windows, e.g. ``("30D", "90D", "180D", "365D")``.
    period : sequence granularity: ``"1D"``, ``"7D"``, ``"30D"`` or ``"M"`` (calendar month).
    n_periods : sequence length; the last period ends at the cutoff.
    cohort : ``"known"`` (a purchase on or before the cutoff), ``"active"`` (a purchase inside the
        lookback; equals known without a lookback) or ``"new"`` (first purchase inside
        [``new_from``, ``new_until``], as in the ZILN paper's new-customer setting).
    allow_partial_horizon : allow label windows that run past the end of the data.
    domains : for cross-domain logs, the domains to build features for (all when ``None``).
    sparsity : the sparsity protocol of the CDLtvS paper (section 5.1): for this share of the
        customers (chosen with ``sparsity_seed``), the target domain's history before the cutoff
        is removed, so their target features and sequences are those of a customer with no
        target history; the dataset's ``sparse`` flag marks them (C_na). Labels are unchanged.
    target_domain : the domain whose spend is the label (cross-domain). ``None``: all rows for a
        log without a domain column; for a log with one, the last of ``domains`` (of the log's
        domains in alphabetical order when ``domains`` is ``None``).
    """

    cutoff: str | None = None
    cutoff_start: str | None = None
    cutoff_end: str | None = None
    cutoff_step: str = "30D"
    lookback: str | None = None
    horizons: tuple[str, ...] = ("90D",)
    period: str = "30D"
    n_periods: int = 12
    cohort: Cohort = "known"
    new_from: str | None = None
    new_until: str | None = None
    allow_partial_horizon: bool = False
    domains: tuple[str, ...] | None = None
    target_domain: str | None = None
    sparsity: float = 0.0
    sparsity_seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.horizons = tuple(self.horizons) if not isinstance(self.horizons, str) else (
            tuple(h.strip() for h in self.horizons.split(",")))
        if self.domains is not None and not isinstance(self.domains, tuple):
            self.domains = tuple(self.domains)
        self.validate()

    def validate(self) -> None:
        if self.cutoff is None and self.cutoff_start is None:
            raise TaskError("give a cutoff, or cutoff_start and cutoff_end for sliding cutoffs")
        if self.cutoff is not None and self.cutoff_start is not None:
            raise TaskError("give either cutoff or cutoff_start/cutoff_end, not both")
        if self.cutoff_start is not None and self.cutoff_end is None:
            raise TaskError("sliding cutoffs need cutoff_end as well as cutoff_start")
        if not self.horizons:
            raise TaskError("give at least one horizon, e.g. 90D")
        days = [parse_days(h) for h in self.horizons]
        repeated = sorted({h for h, d in zip(self.horizons, days, strict=True)
                           if days.count(d) > 1})
        if repeated:
            raise TaskError(f"horizons: {len(self.horizons) - len(set(days))} repeated "
                            f"horizon(s) {repeated} (rule: distinct horizons)")
        if self.lookback is not None:
            parse_days(self.lookback)
        parse_period(self.period)
        if isinstance(self.n_periods, bool) or not isinstance(self.n_periods, int):
            raise TaskError(f"n_periods must be an integer, got {self.n_periods!r}")
        if not 1 <= self.n_periods <= MAX_PERIODS:
            raise TaskError(f"n_periods must be in [1, {MAX_PERIODS}], got {self.n_periods}")
        for name in ("cutoff", "cutoff_start", "cutoff_end", "new_from", "new_until"):
            if getattr(self, name) is not None:
                parse_date(getattr(self, name), name)
        if not 0.0 <= self.sparsity < 1.0:
            raise TaskError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if self.cohort not in ("known", "active", "new"):
            raise TaskError(f"cohort must be known, active or new, got '{self.cohort}'")
        if self.cohort == "new" and (self.new_from is None or self.new_until is None):
            raise TaskError("cohort 'new' needs new_from and new_until (the first-purchase window)")
        if self.cutoff_start is not None:
            if parse_date(self.cutoff_end, "cutoff_end") < parse_date(self.cutoff_start,
                                                                       "cutoff_start"):
                raise TaskError("cutoff_end is before cutoff_start")
            parse_days(self.cutoff_step)

    @property
    def horizon_days(self) -> list[int]:
        return [parse_days(h) for h in self.horizons]

    def cutoff_dates(self) -> list[dt.date]:
        if self.cutoff is not None:
            return [parse_date(self.cutoff, "cutoff")]
        start = parse_date(self.cutoff_start, "cutoff_start")
        end = parse_date(self.cutoff_end, "cutoff_end")
        step = dt.timedelta(days=parse_days(self.cutoff_step))
        out, day = [], start
        while day <= end:
            out.append(day)
            day += step
        return out

    def to_dict(self) -> dict[str, Any]:
        d = plain_dict(self)
        d["horizons"] = list(self.horizons)
        d["domains"] = list(self.domains) if self.domains is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LTVTask:
        data = dict(data)
        data["horizons"] = tuple(data.get("horizons", ("90D",)))
        if data.get("domains") is not None:
            data["domains"] = tuple(data["domains"])
        return cls(**data)
