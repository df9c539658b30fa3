"""Building blocks shared by the deep models: embeddings, MLP, DeepFM and sequence encoders.

Shapes: ``b`` samples, ``F`` numeric features, ``K`` categorical features, ``T`` periods,
``C`` channels per period. Every encoder maps its input to one vector per sample and exposes
its width as ``out_dim``.

References
----------
.. [1] Guo, H., Tang, R., Ye, Y., Li, Z., He, X. (2017). "DeepFM: A Factorization-Machine
   based Neural Network for CTR Prediction." arXiv:1703.04247.
.. [2] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [3] Bai, S., Kolter, J. Z., Koltun, V. (2018). "An Empirical Evaluation of Generic
   Convolutional and Recurrent Networks for Sequence Modeling." arXiv:1803.01271.
.. [4] Anitha Kumari, D., Siddiqui, M. S., Dorbala, R., Megala, R., Rao, K. T. V.,
   Reddy, N. S. (2024). "Deep Learning Models for Customer Lifetime Value Prediction
   in E-commerce." IEEE ICRTCST 2024, doi:10.1109/ICRTCST61793.2024.10578372.
.. [5] Kumar, R., Arya, L. K., Gupta, P. "Deep Learning for Big Data in Predicting Customer
   Lifetime Value." (Year and venue are not stated in the available text.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU,
                "leaky_relu": nn.LeakyReLU}


def embedding_width(vocab_size: int) -> int:
    """Embedding width of a categorical with ``vocab_size`` values: ``floor(V ** 0.25) + 1``.

    The rule of the published ZILN code (google/lifetime_value, ``embedding_dim``).
    """
    return int(math.floor(max(int(vocab_size), 1) ** 0.25)) + 1


class CategoricalEmbeddings(nn.Module):
    """One embedding per categorical feature, flattened: codes ``[b, K]`` -> ``[b, sum(w_k)]``.

    Code 0 is the "unknown / unseen" category and has its own trained vector.
    """

    def __init__(self, vocab_sizes: Sequence[int], widths: Sequence[int] | None = None):
        super().__init__()
        sizes = [max(int(v), 1) for v in vocab_sizes]
        widths = [embedding_width(v) for v in sizes] if widths is None else list(widths)
        self.embeddings = nn.ModuleList(nn.Embedding(v, w) for v, w in zip(sizes, widths,
                                                                           strict=True))
        self.out_dim = int(sum(widths))

    def forward(self, codes: Tensor) -> Tensor:
        if not len(self.embeddings):
            return codes.new_zeros((codes.shape[0], 0), dtype=torch.float32)
        if len(self.embeddings) == 1:  # the common case: skip the cat
            return self.embeddings[0](codes[:, 0])
        return torch.cat([e(codes[:, k]) for k, e in enumerate(self.embeddings)], dim=1)


class TabularInput(nn.Module):
    """Numeric features ``[b, F]`` and categorical codes ``[b, K]`` -> ``[b, F + sum(w_k)]``.

    The input layer of the ZILN DNN: embeddings of the categoricals concatenated with the
    (already scaled) numeric vector.
    """

    def __init__(self, n_features: int, vocab_sizes: Sequence[int]):
        super().__init__()
        self.embeddings = CategoricalEmbeddings(vocab_sizes)
        self.n_features = int(n_features)
        self.out_dim = self.n_features + self.embeddings.out_dim

    def forward(self, features: Tensor, categorical: Tensor) -> Tensor:
        if self.embeddings.out_dim == 0:
            return features
        return torch.cat([features, self.embeddings(categorical)], dim=1)


class MLP(nn.Module):
    """Fully connected layers ``in_dim -> hidden[0] -> ... -> hidden[-1]`` (-> ``out_dim``).

    Each hidden layer is Linear + activation (+ dropout); the optional ``out_dim`` layer is
    linear (no activation). ``out_dim`` is the width of the output.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int | None = None,
                 activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = int(in_dim)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(h)
        if out_dim is not None:
            layers.append(nn.Linear(width, int(out_dim)))
            width = int(out_dim)
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class DeepFM(nn.Module):
    """DeepFM portrait encoder (Guo et al. 2017; the portrait encoder of CDLtvS, WWW 2024).

    Every categorical feature and every numeric feature is a field with a ``k``-dim embedding
    ``e_f`` (numeric fields: ``v_f * x_f``). The FM part gives the first-order term
    ``sum_f w_f x_f`` and the second-order interaction vector
    ``0.5 * ((sum_f e_f)^2 - sum_f e_f^2)`` [k]; the deep part is an MLP over the flattened
    field embeddings. Output ``[b, hidden[-1] + k + 1]`` = ``[deep, fm2, fm1]``, so a linear
    layer on top is exactly the DeepFM logit ``fm1 + sum(fm2) + w^T deep``.
    """

    def __init__(self, n_features: int, vocab_sizes: Sequence[int], embed_dim: int = 8,
                 hidden: Sequence[int] = (64, 32), dropout: float = 0.0):
        super().__init__()
        self.n_features = int(n_features)
        self.vocab_sizes = [max(int(v), 1) for v in vocab_sizes]
        n_fields = self.n_features + len(self.vocab_sizes)
        # One shared table for every categorical field (offsets keep fields apart).
        offsets = torch.tensor([0] + self.vocab_sizes[:-1], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        total = max(sum(self.vocab_sizes), 1)
        self.cat_embed = nn.Embedding(total, embed_dim)
        self.cat_linear = nn.Embedding(total, 1)
        self.num_embed = nn.Parameter(torch.randn(self.n_features, embed_dim) * 0.01)
        self.num_linear = nn.Linear(self.n_features, 1) if self.n_features else None
        self.deep = MLP(n_fields * embed_dim, hidden, dropout=dropout)
        self.out_dim = self.deep.out_dim + embed_dim + 1

    def forward(self, features: Tensor, categorical: Tensor) -> Tensor:
        fields = [features.unsqueeze(-1) * self.num_embed]                 # [b, F, k]
        first = (self.num_linear(features) if self.num_linear is not None
                 else features.new_zeros((features.shape[0], 1)))
        if self.vocab_sizes:
            idx = categorical + self.offsets
            fields.append(self.cat_embed(idx))                              # [b, K, k]
            first = first + self.cat_linear(idx).sum(dim=1)
        e = torch.cat(fields, dim=1)                                        # [b, F+K, k]
        second = 0.5 * (e.sum(dim=1) ** 2 - (e ** 2).sum(dim=1))          # [b, k]
        return torch.cat([self.deep(e.flatten(1)), second, first], dim=1)


class RNNEncoder(nn.Module):
    """LSTM or GRU over the period sequence ``[b, T, C]`` -> last hidden state ``[b, hidden]``.

    The last period ends at the cutoff, so the final state summarises the whole history
    (Anitha Kumari et al. 2024 use LSTM/RNN models of per-period purchase sequences).
    """

    def __init__(self, in_channels: int, hidden: int = 32, n_layers: int = 1,
                 dropout: float = 0.0, kind: str = "lstm"):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = rnn(in_channels, hidden, num_layers=n_layers, batch_first=True,
                       dropout=dropout if n_layers > 1 else 0.0)
        self.out_dim = int(hidden)

    def forward(self, seq: Tensor) -> Tensor:
        out, _ = self.rnn(seq)
        return out[:, -1]


class _CausalConv(nn.Conv1d):
    """Conv1d that only sees the past: left padding of ``(k - 1) * dilation``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int):
        super().__init__(c_in, c_out, kernel_size, dilation=dilation)
        self.left = (kernel_size - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(nn.functional.pad(x, (self.left, 0)))


class TemporalBlock(nn.Module):
    """Residual block of two dilated causal convolutions (Bai, Kolter, Koltun 2018)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int,
                 dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            _CausalConv(c_in, c_out, kernel_size, dilation), nn.ReLU(), nn.Dropout(dropout),
            _CausalConv(c_out, c_out, kernel_size, dilation), nn.ReLU(), nn.Dropout(dropout))
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.net(x) + self.residual(x))


class TCN(nn.Module):
    """Temporal convolutional network: ``[b, T, C] -> [b, channels[-1]]`` (at the last period).

    Block ``i`` has dilation ``2**i``, so the receptive field is
    ``1 + 2 (k - 1) (2**L - 1)`` periods for ``L`` blocks (Bai et al. 2018; the series encoder
    of LtvS, WWW 2024).
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (32, 32),
                 kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        blocks, width = [], int(in_channels)
        for i, c in enumerate(channels):
            blocks.append(TemporalBlock(width, int(c), kernel_size, 2 ** i, dropout))
            width = int(c)
        self.net = nn.Sequential(*blocks)
        self.out_dim = width

    def forward(self, seq: Tensor) -> Tensor:
        return self.net(seq.transpose(1, 2))[:, :, -1]


class TransformerSequenceEncoder(nn.Module):
    """Transformer encoder over periods: ``[b, T, C] -> [b, d_model]``.

    Linear projection of each period, learned position embeddings, ``n_layers`` pre-norm
    encoder layers with full (dense) self-attention, then the last period's output (or the mean).

    Why plain attention and not Informer's ProbSparse attention (Zhou et al. 2021): ProbSparse
    reduces the ``O(T^2)`` score matrix to ``O(T log T)`` for sequences of hundreds to thousands
    of steps. LTV sequences here are at most ~52 periods (a year of weeks): the dense score
    matrix is at most 52 x 52 = 2,704 entries per head, cheaper than ProbSparse's query
    sampling and top-u selection, and exact (no sampled approximation, no extra randomness).
    """

    def __init__(self, in_channels: int, n_periods: int, d_model: int = 32, n_heads: int = 4,
                 n_layers: int = 2, dropout: float = 0.0, pooling: str = "last"):
        super().__init__()
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        self.project = nn.Linear(in_channels, d_model)
        self.position = nn.Parameter(torch.zeros(1, max(int(n_periods), 1), d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=2 * d_model,
                                           dropout=dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.pooling = pooling
        self.out_dim = int(d_model)

    def forward(self, seq: Tensor) -> Tensor:
        h = self.encoder(self.project(seq) + self.position[:, : seq.shape[1]])
        h = self.norm(h)
        return h[:, -1] if self.pooling == "last" else h.mean(dim=1)


class CNNEncoder(nn.Module):
    """1-D CNN over periods: ``[b, T, C] -> [b, 2 * channels[-1]]`` (global average and max pool).

    Convolutions with ``same`` padding + ReLU; Kumar, Arya and Gupta list CNNs over behaviour
    sequences among the deep CLV models.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (32, 32),
                 kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = int(in_channels)
        for c in channels:
            layers += [nn.Conv1d(width, int(c), kernel_size, padding=kernel_size // 2),
                       nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(c)
        self.net = nn.Sequential(*layers)
        self.out_dim = 2 * width

    def forward(self, seq: Tensor) -> Tensor:
        h = self.net(seq.transpose(1, 2))
        return torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
