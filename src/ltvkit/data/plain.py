"""``dataclasses.asdict`` for the settings and reports of the data package, without its cost.

``asdict`` deep-copies every leaf value through :func:`copy.deepcopy`, which makes the dataset
metadata of a one-customer service request (the task and the data-quality report, about 25
nested values) a fifth of the request's CPU. The records here hold JSON-like values, whose
leaves (text, numbers, booleans, None) are immutable and need no copy; the containers are
copied as ``asdict`` copies them, and any other value still goes through ``deepcopy``, so the
result equals ``asdict``'s.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

_IMMUTABLE = (str, int, float, bool, type(None))


def plain_dict(record: Any) -> dict[str, Any]:
    """The fields of the dataclass instance ``record`` as a new dict, nested dataclasses,
    dicts, lists and tuples copied (equal to ``dataclasses.asdict(record)``)."""
    return {name: _plain(getattr(record, name)) for name in _field_names(type(record))}


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    # dataclasses.fields() filters every field of the class on each call.
    return tuple(f.name for f in dataclasses.fields(kind))


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    # An immutable item is taken as it is without a call: most items of a report are.
    if kind is dict:
        return {k if type(k) in _IMMUTABLE else _plain(k):
                v if type(v) in _IMMUTABLE else _plain(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _plain(v) for v in value]
    if kind is tuple:
        return tuple(v if type(v) in _IMMUTABLE else _plain(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_dict(value)
    return copy.deepcopy(value)  # anything else as asdict copies it
