"""Fitted, saveable scalers that turn an :class:`LTVDataset` into network inputs.

Each scaler is fitted on the training set only and stores its statistics as numpy arrays, which
the model writes into its safetensors file (``to_arrays`` / ``from_arrays``), so a loaded model
scales new data exactly as at training time.

- :class:`FeatureScaler`: numeric features [n, F] -> signed ``log1p``, then z-score with the
  training mean / std; NaN (unknown attribute) -> 0 *after* scaling, i.e. the training mean.
- :class:`SequenceScaler`: period sequences [n, T, C] -> signed ``log1p``, then divided by a
  per-channel scale (the training root mean square), without centring so an inactive period
  stays exactly 0.
- :class:`LabelScaler`: labels [n, H] -> divided by one positive scale (the mean positive
  label), so network outputs start near 1 whatever the currency; one scale for every horizon
  keeps nested horizons comparable (needed by the monotone heads).
"""

from __future__ import annotations

import numpy as np


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: compresses heavy tails, keeps sign and 0 (refunds, trends)."""
    return np.sign(x) * np.log1p(np.abs(x))


class FeatureScaler:
    """Signed log1p + z-score of numeric features ``[n, F]`` (statistics from training data)."""

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        self.mean = mean
        self.std = std

    def fit(self, features: np.ndarray) -> FeatureScaler:
        z = signed_log1p(np.asarray(features, dtype=np.float64))
        finite = np.isfinite(z)
        count = finite.sum(axis=0)
        zf = np.where(finite, z, 0.0)
        mean = zf.sum(axis=0) / np.maximum(count, 1)
        var = (np.where(finite, z - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1)
        std = np.sqrt(var)
        # Constant (or all-NaN) columns: unit scale, so they map to 0 instead of dividing by 0.
        self.mean = mean.astype(np.float32)
        self.std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scaled features ``[n, F]`` float32, NaN / inf -> 0."""
        z = (signed_log1p(np.asarray(features, dtype=np.float32)) - self.mean) / self.std
        return np.where(np.isfinite(z), z, 0.0).astype(np.float32, copy=False)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}std": self.std}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> FeatureScaler:
        return cls(arrays[f"{prefix}mean"], arrays[f"{prefix}std"])


class SequenceScaler:
    """Signed log1p + per-channel scale of period sequences ``[n, T, C]``."""

    def __init__(self, scale: np.ndarray | None = None):
        self.scale = scale

    def fit(self, sequences: np.ndarray) -> SequenceScaler:
        z = signed_log1p(np.asarray(sequences, dtype=np.float64))
        z = np.where(np.isfinite(z), z, 0.0)
        c = z.shape[-1]
        rms = np.sqrt((z.reshape(-1, c) ** 2).mean(axis=0)) if z.size else np.ones(c)
        self.scale = np.where(rms > 1e-8, rms, 1.0).astype(np.float32)
        return self

    def transform(self, sequences: np.ndarray) -> np.ndarray:
        """Scaled sequences ``[n, T, C]`` float32, NaN -> 0 (an empty period)."""
        z = signed_log1p(np.asarray(sequences, dtype=np.float32)) / self.scale
        return np.where(np.isfinite(z), z, 0.0).astype(np.float32, copy=False)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}scale": self.scale}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> SequenceScaler:
        return cls(arrays[f"{prefix}scale"])


class LabelScaler:
    """Labels ``[n, H] >= 0`` divided by one scale: the mean of the positive training labels."""

    def __init__(self, scale: float = 1.0):
        self.scale = float(scale)

    def fit(self, labels: np.ndarray) -> LabelScaler:
        y = np.asarray(labels, dtype=np.float64)
        positive = y[y > 0]
        # All-zero labels: nothing to scale by; keep the raw unit.
        self.scale = float(positive.mean()) if positive.size else 1.0
        return self

    def transform(self, labels: np.ndarray) -> np.ndarray:
        return (np.asarray(labels, dtype=np.float64) / self.scale).astype(np.float32)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return np.asarray(scaled, dtype=np.float64) * self.scale


def label_statistics(scaled_labels: np.ndarray) -> dict[str, list[float]]:
    """Per-horizon statistics of scaled labels ``[n, H]`` used to initialise output biases.

    Returns ``positive_rate`` (share of y > 0), ``log_mean`` / ``log_std`` (of log y over the
    positive labels; 0 / 1 when there are none), ``mean`` and ``log1p_mean``.
    """
    y = np.asarray(scaled_labels, dtype=np.float64)
    stats: dict[str, list[float]] = {k: [] for k in ("positive_rate", "log_mean", "log_std",
                                                     "mean", "log1p_mean")}
    for j in range(y.shape[1]):
        col = y[:, j]
        pos = col[col > 0]
        log_pos = np.log(pos) if pos.size else np.zeros(0)
        stats["positive_rate"].append(float(pos.size / max(col.size, 1)))
        stats["log_mean"].append(float(log_pos.mean()) if pos.size else 0.0)
        stats["log_std"].append(float(log_pos.std()) if pos.size > 1 else 1.0)
        stats["mean"].append(float(col.mean()) if col.size else 0.0)
        stats["log1p_mean"].append(float(np.log1p(col).mean()) if col.size else 0.0)
    return stats
