"""``ModuleSpec``: what a network needs to know about the data it is built for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModuleSpec:
    """Sizes of the inputs and outputs a network is built for (saved as JSON with a model).

    ``label_stats`` are per-horizon statistics of the *scaled* training labels (see
    :func:`~ltvkit.nn.preprocess.label_statistics`), used to initialise output biases;
    ``label_scale`` is the unit of those scaled labels (label = scaled label * label_scale),
    so a network can place label-valued constants (bucket edges, caps) in its own units.
    """

    n_features: int
    vocab_sizes: list[int]
    n_periods: int
    n_channels: int
    n_horizons: int
    horizon_days: list[int]
    label_stats: dict[str, list[float]]
    label_scale: float = 1.0

    def to_scaled(self, value):
        """A label-valued number or array in the network's scaled units."""
        return value / self.label_scale
