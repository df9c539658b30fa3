"""Errors that ltvkit raises on purpose.

Every error that reaches a user names what is wrong (a column, a rule, a count of rows) so that
the CLI can print it as one line and exit non-zero instead of showing a traceback.
"""

from __future__ import annotations


class LTVError(Exception):
    """Base class of every error ltvkit raises on purpose."""


class DataValidationError(LTVError, ValueError):
    """The input data breaks a rule of the data contract.

    Attributes
    ----------
    column : the column (or SQL expression) at fault, if one is
    rule : short name of the rule that is broken
    n_rows : how many rows break it, if countable
    """

    def __init__(self, message: str, *, column: str | None = None, rule: str = "",
                 n_rows: int | None = None):
        super().__init__(message)
        self.column = column
        self.rule = rule
        self.n_rows = n_rows


class TaskError(LTVError, ValueError):
    """The LTV task (cutoff, horizon, period, cohort) does not fit the data or is malformed."""


class NotFittedError(LTVError, RuntimeError):
    """A model was asked to predict or save before it was fitted."""


class ModelError(LTVError, RuntimeError):
    """A model could not be fitted or loaded (for example a likelihood fit that did not converge)."""


class MetricError(LTVError, ValueError):
    """A metric cannot be computed on the given labels and predictions."""
