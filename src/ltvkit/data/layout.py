"""The column layout of an :class:`~ltvkit.data.dataset.LTVDataset`, in one place.

A cross-domain dataset names each domain's features and sequence channels
``"<domain>__<name>"``; columns without a prefix (customer attributes, calendar) are shared by
every domain. :class:`DatasetLayout` answers every question about that layout (where a feature
is, which columns belong to a domain, which column a horizon is), so no code outside ``data/``
builds or parses a column name. :class:`Horizon` is a parsed horizon (``"90D"`` -> 90 days).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ltvkit.data.task import parse_days
from ltvkit.errors import DataValidationError

DOMAIN_SEPARATOR = "__"
# The key of the event-type vocabulary in ``dataset.vocabularies`` (no column has this name:
# the angle brackets are not produced by any table's column naming).
EVENT_VOCABULARY = "<event_types>"


def domain_column(domain: str | None, name: str) -> str:
    """The dataset's name of column ``name`` of ``domain`` (``None``: a shared column)."""
    return name if domain is None else f"{domain}{DOMAIN_SEPARATOR}{name}"


def event_type_label(event_type: str) -> str:
    """An event type as it appears in column names: lower case, runs of other characters than
    letters and digits as one ``_`` (never the domain separator ``__``)."""
    out = re.sub(r"[^0-9a-z]+", "_", str(event_type).lower()).strip("_")
    return out or "blank"


def event_type_labels(types: Sequence[str]) -> list[str]:
    """The column labels of a vocabulary, made unique (``_2``, ``_3`` when two types write
    alike); the pooled rest is ``other`` (a type called "other" becomes ``other_2``)."""
    used = {"other"}
    out = []
    for t in types:
        base = event_type_label(t)
        label, k = base, 2
        while label in used:
            label, k = f"{base}_{k}", k + 1
        used.add(label)
        out.append(label)
    return out


def event_feature(label: str, stat: str) -> str:
    """The feature of event-type label ``label`` and statistic ``stat`` (e.g.
    ``event_visit_count``)."""
    return f"event_{label}_{stat}"


def event_channel(label: str) -> str:
    """The sequence channel of event-type label ``label`` (events per period)."""
    return f"event_{label}_count"


def attribute_column(name: str) -> str:
    """The feature name of a numeric customer attribute (static or as of the cutoff)."""
    return f"attr__{name}"


@dataclass(frozen=True)
class Horizon:
    """A label window: its name as the task wrote it (``"90D"``, ``"13W"``) and its days."""

    name: str
    days: int

    @classmethod
    def parse(cls, text: str | int) -> Horizon:
        """``"90D"`` -> ``Horizon("90D", 90)``; ``"13W"`` -> 91 days; ``30`` -> ``"30D"``."""
        days = parse_days(text)
        return cls(text if isinstance(text, str) else f"{days}D", days)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DatasetLayout:
    """Names and positions of a dataset's columns (see the module docstring)."""

    feature_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    categorical_names: tuple[str, ...]
    horizons: tuple[Horizon, ...]
    domains: tuple[str, ...] = ()
    target_domain: str | None = None

    # ------------------------------------------------------------------ domains
    @property
    def is_cross_domain(self) -> bool:
        return bool(self.domains)

    @property
    def source_domain(self) -> str | None:
        """The domain that is not the target, when the dataset has exactly two."""
        others = [d for d in self.domains if d != self.target_domain]
        return others[0] if len(self.domains) == 2 and len(others) == 1 else None

    def _check_domain(self, domain: str) -> None:
        if domain not in self.domains:
            raise DataValidationError(f"domain '{domain}' is not in the dataset's "
                                      f"{list(self.domains)}")

    def _owner(self, name: str) -> str | None:
        for d in self.domains:
            if name.startswith(d + DOMAIN_SEPARATOR):
                return d
        return None

    def domain_features(self, domain: str, shared: bool = False) -> list[int]:
        """Positions of ``domain``'s feature columns (plus the shared ones when ``shared``)."""
        self._check_domain(domain)
        return [i for i, n in enumerate(self.feature_names)
                if self._owner(n) == domain or (shared and self._owner(n) is None)]

    def shared_features(self) -> list[int]:
        """Positions of the columns no domain owns (attributes, calendar)."""
        return [i for i, n in enumerate(self.feature_names) if self._owner(n) is None]

    def domain_channels(self, domain: str) -> list[int]:
        """Positions of ``domain``'s sequence channels."""
        self._check_domain(domain)
        return [i for i, n in enumerate(self.channel_names) if self._owner(n) == domain]

    def unprefixed(self, name: str) -> str:
        """A column's name without its domain prefix."""
        owner = self._owner(name)
        return name if owner is None else name[len(owner) + len(DOMAIN_SEPARATOR):]

    # ------------------------------------------------------------------ lookups
    def feature_index(self, name: str, domain: str | None = None) -> int:
        """Position of feature ``name`` (of ``domain``; ``None``: the unprefixed column)."""
        column = domain_column(domain, name)
        try:
            return self.feature_names.index(column)
        except ValueError:
            raise DataValidationError(f"the dataset has no feature '{column}'") from None

    def target_feature_index(self, name: str) -> int:
        """Position of the target domain's ``name`` (the plain column on a one-domain set)."""
        return self.feature_index(name, self.target_domain if self.domains else None)

    def channel_index(self, name: str, domain: str | None = None) -> int:
        column = domain_column(domain, name)
        try:
            return self.channel_names.index(column)
        except ValueError:
            raise DataValidationError(f"the dataset has no sequence channel '{column}'") from None

    # ------------------------------------------------------------------ horizons
    @property
    def horizon_names(self) -> list[str]:
        return [h.name for h in self.horizons]

    def horizon(self, name: str) -> Horizon:
        return self.horizons[self.horizon_index(name)]

    def horizon_index(self, name: str | Horizon | None) -> int:
        """Column of horizon ``name`` in the labels (the first when ``None``)."""
        if name is None:
            return 0
        key = str(name)
        names = self.horizon_names
        if key not in names:
            raise DataValidationError(f"horizon {key} is not in the dataset's {names}")
        return names.index(key)

    def horizon_indices(self, names: Sequence[str | Horizon]) -> list[int]:
        return [self.horizon_index(h) for h in names]
