"""The error of the decision layer (scoring, segments, targeting, spend response)."""

from __future__ import annotations

from ltvkit.errors import LTVError


class ScoringError(LTVError, ValueError):
    """A scoring, segmentation, targeting or spend-response input breaks a rule; the message
    names the value, the rule and (where countable) how many rows break it."""
