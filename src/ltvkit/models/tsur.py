"""TSUR: temporal-structural user representation, adapted to cross-domain LTV as CDLtvS did.

Xing, Bian, Zhao, Xiao, Luo, Yin, Cai, He [1]_ learn two views of a user and align them: a
*temporal* view, a multi-channel discrete-wavelet-transform trend encoder of the user's
historical revenue series, and a *structural* view, a graph attention network over a user graph
built from attribute similarity; a *cluster-alignment* regulariser pulls the two views' soft
cluster assignments together, fused in the low-pass (trend) space so that the high-frequency
noise of the series is not transferred. The CDLtvS paper [2]_ ran it as a baseline of its
cross-domain table without further detail; the published description is an abstract, so the
mapping below is ours [interp]:

- *temporal view* (:class:`~ltvkit.nn.wavelet.WaveletTrendEncoder`): the period sequences of
  both domains (every channel) -> Haar DWT of ``wavelet_levels`` levels -> one
  ``Linear + ReLU`` encoder per band -> trend embedding ``t``; the low-pass band's embedding
  ``l`` is kept for the alignment.
- *structural view* (:class:`~ltvkit.nn.graph.NeighbourAttention`): a k-nearest-neighbour
  graph over the training customers, by Euclidean distance on the scaled attribute columns
  (the columns no domain owns; ``graph_on="attributes+source"`` adds the source domain's
  features) plus ``code_weight`` per differing categorical attribute; a customer is never its
  own neighbour (at any cutoff), and a neighbour's cutoff is never later than the customer's,
  so no neighbour's history reaches into the customer's horizon. The graph is built at fit time and its nodes (each training
  customer's scaled features and cold flag) are stored with the weights; a customer to predict
  is attached to its ``n_neighbors`` nearest *training* customers, so a prediction needs no
  other customer of the scored set. One graph-attention layer over the customer and its
  neighbours gives ``g``; a cold customer (no target-domain history) reads the target history
  of its neighbours through it. ``n_neighbors=0`` leaves the customer alone (the ablation
  without the graph).
- *cluster alignment*: ``l`` and ``g`` are projected to ``align_dim``; soft assignments to
  ``n_clusters`` shared learnable centroids, ``q = softmax(-||p - mu_k||^2)``; the loss is the
  symmetric KL divergence between the two views' assignments plus a balance term
  ``log K - H(mean q)`` (keeps the clusters from collapsing into one), weighted by
  ``align_weight``.
- *fusion and head*: ``MLP([t, g, cold]) -> head``; the CDLtvS paper's MAE by default.

References
----------
.. [1] Xing, M., Bian, S., Zhao, W. X., Xiao, Z., Luo, X., Yin, C., Cai, J., He, Y. (2021).
   "Learning Reliable User Representations from Volatile and Sparse Data to Accurately
   Predict Customer Lifetime Value." KDD 2021.
.. [2] "A Cross-Domain Method for Customer Lifetime Value Prediction in Supply Chain
   Platform" (2024). The Web Conference (WWW 2024), JD; authors anonymous in the
   reviewed version.
.. [3] Velickovic, P., Cucurull, G., Casanova, A., Romero, A., Lio, P., Bengio, Y. (2018).
   "Graph Attention Networks." ICLR 2018.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base.cross_domain import CrossDomainTorchModel, cold_customers
from ltvkit.models.base.torch_model import Labels
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP
from ltvkit.nn.graph import NeighbourAttention, knn_indices
from ltvkit.nn.heads import make_head
from ltvkit.nn.spec import ModuleSpec
from ltvkit.nn.wavelet import WaveletTrendEncoder

GRAPH_ON = ("attributes", "attributes+source")


def customer_groups(data: LTVDataset) -> np.ndarray:
    """[n] int64: a stable hash of each sample's customer id (the same at every cutoff)."""
    ids = pd.Series(np.asarray(data.customer_id).astype(str), dtype=object)
    return pd.util.hash_pandas_object(ids, index=False).to_numpy().view(np.int64)


def _days(data: LTVDataset) -> np.ndarray:
    """[n] int64: each sample's cutoff as days since 1970-01-01."""
    return np.asarray(data.cutoff).astype("datetime64[D]").astype(np.int64)


class ClusterAlignment(nn.Module):
    """Soft assignments of two views to shared centroids and their alignment loss [b]."""

    def __init__(self, low_dim: int, graph_dim: int, align_dim: int, n_clusters: int):
        super().__init__()
        self.temporal = nn.Linear(low_dim, align_dim)
        self.structural = nn.Linear(graph_dim, align_dim)
        self.centroids = nn.Parameter(torch.randn(int(n_clusters), int(align_dim)))
        self.log_k = math.log(int(n_clusters))

    def _assign(self, p: Tensor) -> Tensor:
        return torch.log_softmax(-torch.cdist(p, self.centroids) ** 2, dim=1)

    def forward(self, low: Tensor, graph: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        lt, lg = self._assign(self.temporal(low)), self._assign(self.structural(graph))
        qt, qg = lt.exp(), lg.exp()
        kl = 0.5 * ((qt * (lt - lg)).sum(1) + (qg * (lg - lt)).sum(1))
        mean_q = 0.5 * (qt.mean(0) + qg.mean(0))
        balance = self.log_k + (mean_q * torch.log(mean_q.clamp_min(1e-12))).sum()
        return kl + balance, qt, qg


class TSURNet(nn.Module):
    """Temporal view + structural view + alignment + fusion MLP + head.

    ``forward`` returns ``{"value" [b, H], "alignment" [b], "cluster_temporal"`` /
    ``"cluster_structural"`` [b, K], ``"graph_attention"`` [b, heads, k + 1]}.
    """

    def __init__(self, spec: ModuleSpec, kind: str, nodes: Tensor, wavelet_levels: int,
                 band_dim: int, trend_dim: int, graph_dim: int, heads: int, align_dim: int,
                 n_clusters: int, fusion_hidden: Sequence[int], dropout: float):
        super().__init__()
        self.temporal = WaveletTrendEncoder(spec.n_periods, spec.n_channels, wavelet_levels,
                                            band_dim, trend_dim)
        self.structural = NeighbourAttention(nodes, graph_dim, heads)
        self.align = ClusterAlignment(self.temporal.low_dim, graph_dim, align_dim, n_clusters)
        self.fusion = MLP(trend_dim + graph_dim + 1, fusion_hidden, dropout=dropout)
        self.head = make_head(kind, self.fusion.out_dim, spec)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        trend, low = self.temporal(batch["sequences"])
        graph, weights = self.structural(batch["node"], batch["neighbours"])
        alignment, qt, qg = self.align(low, graph)
        cold = batch["cold"].to(trend.dtype).unsqueeze(1)
        z = self.fusion(torch.cat([trend, graph, cold], dim=1))
        return {"value": self.head(z), "alignment": alignment, "cluster_temporal": qt,
                "cluster_structural": qg, "graph_attention": weights}


@register
class TSUR(CrossDomainTorchModel):
    """TSUR (Xing et al. 2021) adapted to cross-domain LTV; see the module docstring.

    One training stage on ``MAE + align_weight * alignment``; early stopping watches the MAE
    alone. Optimiser settings of the CDLtvS paper's experiments (Adam 1e-3, batch 256,
    patience 7).
    """

    name = "tsur"
    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 100, "batch_size": 256,
                                                   "patience": 7, "n_threads": 1}

    def __init__(self, n_neighbors: int = 10, graph_on: str = "attributes",
                       code_weight: float = 1.0, wavelet_levels: int = 2, band_dim: int = 16,
                       trend_dim: int = 32, graph_dim: int = 32, heads: int = 2,
                       align_dim: int = 16, n_clusters: int = 8, align_weight: float = 0.1,
                       fusion_hidden: Sequence[int] = (64,), dropout: float = 0.0,
                       loss: str = "mae", **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"n_neighbors": 4, "band_dim": 4, "trend_dim": 8, "graph_dim": 8,
                 "align_dim": 4, "n_clusters": 3, "fusion_hidden": (8,), "max_epochs": 3,
                 "batch_size": 128, "lr": 1e-2, "n_threads": 1}]

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.graph_on not in GRAPH_ON:
            raise ModelError(f"tsur: graph_on must be one of {', '.join(GRAPH_ON)}, got "
                             f"{self.graph_on!r}")
        if int(self.n_neighbors) < 0:
            raise ModelError(f"tsur: n_neighbors must be >= 0, got {self.n_neighbors}")
        if int(self.graph_dim) % int(self.heads):
            raise ModelError(f"tsur: graph_dim ({self.graph_dim}) must be a multiple of heads "
                             f"({self.heads})")

    # ------------------------------------------------------------------ the graph
    def _key_columns(self) -> list[int]:
        cols = list(self.layout_.shared_features)
        if self.graph_on == "attributes+source":
            cols += self.layout_.source_features
        return sorted(cols)

    def _node_inputs(self, data: LTVDataset) -> np.ndarray:
        """[n, F + 1] float32: scaled features and the cold flag (a node of the graph)."""
        cold = cold_customers(data, self.layout_).astype(np.float32)[:, None]
        return np.concatenate([self.feature_scaler_.transform(data.features), cold], axis=1)

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        super()._fit_label_state(train, labels)
        scaled = self.feature_scaler_.transform(train.features)
        self.graph_keys_ = np.ascontiguousarray(scaled[:, self._key_columns()])
        self.graph_codes_ = np.ascontiguousarray(train.categorical, dtype=np.int64)
        self.graph_groups_ = customer_groups(train)
        self.graph_times_ = _days(train)
        self.graph_nodes_ = self._node_inputs(train)
        self.graph_k_ = int(min(int(self.n_neighbors), len(train)))

    def neighbours(self, data: LTVDataset) -> np.ndarray:
        """[n, k] indices of each sample's neighbours among the stored training samples: other
        customers, at a cutoff no later than the sample's (-1: fewer than k such samples)."""
        if self.graph_k_ == 0:
            return np.zeros((len(data), 0), dtype=np.int64)
        keys = self.feature_scaler_.transform(data.features)[:, self._key_columns()]
        return knn_indices(keys, data.categorical, customer_groups(data), self.graph_keys_,
                           self.graph_codes_, self.graph_groups_, self.graph_k_,
                           float(self.code_weight), query_times=_days(data),
                           ref_times=self.graph_times_)

    def _extra_inputs(self, data: LTVDataset) -> dict[str, Tensor]:
        return {**super()._extra_inputs(data),
                "node": torch.from_numpy(self._node_inputs(data)),
                "neighbours": torch.from_numpy(self.neighbours(data))}

    # ------------------------------------------------------------------ network and loss
    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return TSURNet(spec, self.loss, torch.tensor(np.asarray(self.graph_nodes_)),
                       self.wavelet_levels, self.band_dim, self.trend_dim, self.graph_dim,
                       self.heads, self.align_dim, self.n_clusters, self.fusion_hidden,
                       self.dropout)

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        loss = self._prediction_loss(outputs, y, epoch)
        if self.align_weight:
            loss = loss + float(self.align_weight) * outputs["alignment"].mean()
        return loss

    def _valid_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return self._prediction_loss(outputs, y, epoch)

    def graph_attention(self, data: LTVDataset) -> tuple[np.ndarray, np.ndarray]:
        """``(neighbours [n, k], weights [n, heads, k + 1])``: each sample's training
        neighbours and its attention over itself (index 0) and them."""
        return self.neighbours(data), \
            self.network_outputs(data)["graph_attention"].astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["graph_k"] = self.graph_k_
        arrays.update({"graph.keys": self.graph_keys_, "graph.codes": self.graph_codes_,
                       "graph.groups": self.graph_groups_, "graph.times": self.graph_times_})
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.graph_k_ = int(state["graph_k"])
        self.graph_keys_ = arrays["graph.keys"]
        self.graph_codes_ = arrays["graph.codes"]
        self.graph_groups_ = arrays["graph.groups"]
        self.graph_times_ = arrays["graph.times"]
        # The node table is a buffer of the network: its size must be known to build it.
        self.graph_nodes_ = arrays["module.structural.nodes"]
        super()._set_state(state, arrays)
