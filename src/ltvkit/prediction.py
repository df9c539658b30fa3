"""What a model returns: :class:`Prediction` (keyed by customer and cutoff) and the
:class:`PredictionParts` a model's prediction rule produces before the base class wraps them.

This module sits on the bottom floor of the package: models, the evaluation runner, the CLI and
(later) the service and the report all read predictions through it, and it imports nothing of
ltvkit but the errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ltvkit.errors import DataValidationError

# The quantile levels every probabilistic model reports (10 / 50 / 90 %).
QUANTILE_LEVELS = (0.1, 0.5, 0.9)


def quantile_column(level: float) -> str:
    """The column name of a quantile level in frames: 0.1 -> ``"q10"``."""
    return f"q{int(round(level * 100)):02d}"


@dataclass
class PredictionParts:
    """What a model's ``_predict`` returns; the base class wraps it into a :class:`Prediction`.

    ``value`` [n, H] (or [n] for one horizon); the optional parts as in :class:`Prediction`.
    """

    value: np.ndarray
    p_active: np.ndarray | None = None
    quantiles: dict[float, np.ndarray] | None = None
    bucket_probs: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Prediction:
    """Predictions keyed by (customer_id, cutoff).

    ``value`` [n, H] expected spend per horizon; ``p_active`` [n, H] probability of any
    purchase; ``quantiles`` {level: [n, H]}; ``bucket_probs`` [n, K] (value-range models);
    ``extras`` {name: [n, ...]} model-specific outputs (P(alive), the chosen expert, ...).
    """

    customer_id: np.ndarray
    cutoff: np.ndarray
    horizons: list[str]
    value: np.ndarray
    p_active: np.ndarray | None = None
    quantiles: dict[float, np.ndarray] | None = None
    bucket_probs: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.customer_id)

    def horizon_index(self, horizon: str | None) -> int:
        """Column of ``horizon`` in ``value`` (the first when ``None``)."""
        if horizon is None:
            return 0
        if horizon not in self.horizons:
            raise DataValidationError(f"horizon {horizon} is not predicted; the prediction has "
                                      f"{self.horizons}")
        return list(self.horizons).index(horizon)

    def subset(self, index: np.ndarray | Sequence[int]) -> Prediction:
        """Rows ``index`` (a boolean mask or integer positions) of every field."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)

        def rows(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.asarray(a)[idx]

        return Prediction(
            customer_id=self.customer_id[idx], cutoff=self.cutoff[idx],
            horizons=list(self.horizons), value=self.value[idx], p_active=rows(self.p_active),
            quantiles=None if self.quantiles is None else {
                q: a[idx] for q, a in self.quantiles.items()},
            bucket_probs=rows(self.bucket_probs),
            extras={k: np.asarray(v)[idx] for k, v in self.extras.items()})

    def to_frame(self, horizon: str | None = None, y_true: np.ndarray | None = None):
        """One horizon as a DataFrame: customer_id, cutoff, [y_true], y_pred, [p_active], [q..]."""
        import pandas as pd

        j = self.horizon_index(horizon)
        df = pd.DataFrame({"customer_id": self.customer_id.astype(str),
                           "cutoff": self.cutoff.astype("datetime64[D]")})
        if y_true is not None:
            df["y_true"] = np.asarray(y_true, dtype=np.float64)
        df["y_pred"] = self.value[:, j]
        if self.p_active is not None:
            df["p_active"] = self.p_active[:, j]
        for q, arr in (self.quantiles or {}).items():
            df[quantile_column(q)] = arr[:, j]
        return df

    def to_long_frame(self, y_true: np.ndarray | None = None):
        """Every horizon, one row per (customer, cutoff, horizon): the columns of
        :meth:`to_frame` plus ``horizon``; ``y_true`` is [n, H] when given."""
        import pandas as pd

        truth = None if y_true is None else np.asarray(y_true, dtype=np.float64)
        if truth is not None and truth.ndim == 1:
            truth = truth[:, None]
        if truth is not None and truth.shape != self.value.shape:
            raise DataValidationError(f"y_true has shape {truth.shape}, the prediction "
                                      f"{self.value.shape}")
        frames = []
        for j, h in enumerate(self.horizons):
            frame = self.to_frame(h, None if truth is None else truth[:, j])
            frame.insert(2, "horizon", h)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)
