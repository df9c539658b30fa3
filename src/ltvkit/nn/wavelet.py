"""The Haar discrete wavelet transform of period series, in PyTorch.

:func:`haar_dwt` splits a series ``[b, T, C]`` into one low-pass band (the trend at the
coarsest level) and one high-pass band per level, as the multi-level DWT of Mallat [1]_ with
the Haar filters ``(1, 1) / sqrt(2)`` and ``(1, -1) / sqrt(2)``. A band of odd length is
extended by repeating its last value before the next level (PyWavelets' ``"periodization"``
mode gives the same numbers for the Haar filters). The transform is linear and orthogonal on
even lengths, has no parameters and is differentiable, so a network can apply it to its
inputs inside ``forward``. :class:`WaveletTrendEncoder` is TSUR's temporal view [2]_: one small
encoder per band, the low-pass band's embedding kept apart for the alignment with other views.

References
----------
.. [1] Mallat, S. G. (1989). "A Theory for Multiresolution Signal Decomposition: The Wavelet
   Representation." IEEE Transactions on Pattern Analysis and Machine Intelligence 11(7).
.. [2] Xing, M., Bian, S., Zhao, W. X., Xiao, Z., Luo, X., Yin, C., Cai, J., He, Y. (2021).
   "Learning Reliable User Representations from Volatile and Sparse Data to Accurately
   Predict Customer Lifetime Value." KDD 2021.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_SQRT2 = math.sqrt(2.0)


def max_haar_levels(length: int) -> int:
    """The most levels a series of ``length`` periods can be split into (0 for length 1)."""
    levels, n = 0, int(length)
    while n >= 2:
        n = (n + 1) // 2
        levels += 1
    return levels


def haar_dwt(x: Tensor, levels: int) -> list[Tensor]:
    """Multi-level Haar DWT along the period axis of ``x [b, T, C]``.

    Returns ``[a_L, d_L, d_(L-1), ..., d_1]`` (PyWavelets' ``wavedec`` order): the low-pass
    band after ``levels`` levels and the high-pass band of each level, each ``[b, T_l, C]``
    with ``T_l = ceil(T_(l-1) / 2)``. ``levels=0`` returns ``[x]``.
    """
    if levels < 0 or levels > max_haar_levels(x.shape[1]):
        raise ValueError(f"levels must be in [0, {max_haar_levels(x.shape[1])}] for "
                         f"{x.shape[1]} periods, got {levels}")
    details: list[Tensor] = []
    approx = x
    for _ in range(levels):
        if approx.shape[1] % 2:
            approx = torch.cat([approx, approx[:, -1:]], dim=1)
        even, odd = approx[:, 0::2], approx[:, 1::2]
        details.append((even - odd) / _SQRT2)
        approx = (even + odd) / _SQRT2
    return [approx, *reversed(details)]


def haar_band_lengths(length: int, levels: int) -> list[int]:
    """The lengths of the bands :func:`haar_dwt` returns for a series of ``length``."""
    lengths, n = [], int(length)
    for _ in range(levels):
        n = (n + 1) // 2
        lengths.append(n)
    return [lengths[-1] if lengths else int(length), *reversed(lengths)]


class WaveletTrendEncoder(nn.Module):
    """TSUR's temporal view: Haar DWT of the series, one encoder per band.

    ``x [b, T, C]`` -> :func:`haar_dwt` -> each band flattened and mapped by its own
    ``Linear + ReLU`` to ``band_dim`` -> ``(trend [b, out_dim], low [b, band_dim])``:
    ``trend`` is ``Linear + ReLU`` of every band's embedding, ``low`` the embedding of the
    low-pass band alone (the view the cluster alignment reads, so the high-frequency bands'
    noise is not pulled towards the other view).
    """

    def __init__(self, n_periods: int, n_channels: int, levels: int, band_dim: int,
                 out_dim: int):
        super().__init__()
        self.levels = min(int(levels), max_haar_levels(n_periods))
        lengths = haar_band_lengths(n_periods, self.levels)
        self.bands = nn.ModuleList(
            nn.Sequential(nn.Linear(n * int(n_channels), int(band_dim)), nn.ReLU())
            for n in lengths)
        self.mix = nn.Sequential(nn.Linear(len(lengths) * int(band_dim), int(out_dim)),
                                 nn.ReLU())
        self.out_dim = int(out_dim)
        self.low_dim = int(band_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        bands = haar_dwt(x, self.levels)
        codes = [enc(band.flatten(1)) for enc, band in zip(self.bands, bands, strict=True)]
        return self.mix(torch.cat(codes, dim=1)), codes[0]
