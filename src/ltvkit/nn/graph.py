"""k-nearest-neighbour lookup over stored customers and a graph attention layer, in PyTorch.

- :func:`knn_indices`: for each query customer, its ``k`` nearest reference customers by
  Euclidean distance on numeric keys plus a weight per differing categorical code, never the
  same customer (a shared group id, e.g. a hash of the customer id, excludes a reference)
  and, optionally, never a reference later in time than the query;
  exact and deterministic (ties go to the lower reference index);
- :class:`NeighbourAttention`: one graph attention layer (Velickovic et al. [1]_) of a node
  over itself and its ``k`` neighbours, the neighbours' inputs gathered from a stored node table.

References
----------
.. [1] Velickovic, P., Cucurull, G., Casanova, A., Romero, A., Lio, P., Bengio, Y. (2018).
   "Graph Attention Networks." ICLR 2018.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def knn_indices(query_keys: np.ndarray, query_codes: np.ndarray, query_groups: np.ndarray,
                ref_keys: np.ndarray, ref_codes: np.ndarray, ref_groups: np.ndarray, k: int,
                code_weight: float = 1.0, chunk: int = 512,
                query_times: np.ndarray | None = None,
                ref_times: np.ndarray | None = None) -> np.ndarray:
    """``[n_query, k]`` int64: the ``k`` nearest references of each query row (-1: none left).

    Squared distance ``||key_q - key_r||^2 + code_weight * #(code_q != code_r)``; references
    with the query's group are excluded, and with ``query_times`` / ``ref_times`` (e.g. cutoff
    days) so are references later than the query. Computed in float64 in chunks of ``chunk``
    query rows; among equal distances the lower reference index comes first. A query with
    fewer than ``k`` eligible references gets -1 in the remaining places.
    """
    n_ref = len(ref_keys)
    if k < 1 or k > n_ref:
        raise ValueError(f"k must be in [1, {n_ref}] for {n_ref} references, got {k}")
    rk = torch.tensor(np.asarray(ref_keys, dtype=np.float64))
    rc = torch.tensor(np.asarray(ref_codes, dtype=np.int64))
    rg = torch.tensor(np.asarray(ref_groups, dtype=np.int64))
    rt = None if ref_times is None else torch.tensor(np.asarray(ref_times, dtype=np.int64))
    # A deterministic tie-break far below any real distance difference of scaled keys.
    order = torch.arange(n_ref, dtype=torch.float64) * (1e-9 / max(n_ref, 1))
    out = np.empty((len(query_keys), k), dtype=np.int64)
    for start in range(0, len(query_keys), chunk):
        stop = min(start + chunk, len(query_keys))
        qk = torch.tensor(np.asarray(query_keys[start:stop], dtype=np.float64))
        d = ((qk[:, None, :] - rk[None, :, :]) ** 2).sum(-1)
        if rc.shape[1]:
            qc = torch.tensor(np.asarray(query_codes[start:stop], dtype=np.int64))
            d = d + float(code_weight) * (qc[:, None, :] != rc[None, :, :]).sum(-1)
        qg = torch.tensor(np.asarray(query_groups[start:stop], dtype=np.int64))
        excluded = qg[:, None] == rg[None, :]
        if rt is not None:
            qt = torch.tensor(np.asarray(query_times[start:stop], dtype=np.int64))
            excluded |= rt[None, :] > qt[:, None]
        d = torch.where(excluded, torch.inf, d + order)
        dist, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
        out[start:stop] = torch.where(torch.isinf(dist), -1, idx).numpy()
    return out


class NeighbourAttention(nn.Module):
    """A multi-head graph attention layer over a node and its neighbours from a node table.

    ``forward(x [b, F], neighbours [b, k])``: ``z = W x`` per head; the node attends over
    itself and its neighbours ``nodes[neighbours]`` with
    ``alpha_ij = softmax_j(LeakyReLU(a_self . z_i + a_nbr . z_j))``; output
    ``ELU(sum_j alpha_ij z_j)`` with heads concatenated ``[b, out_dim]`` and the weights
    ``[b, heads, k + 1]`` (index 0: the node itself; a neighbour index -1 is no neighbour and
    gets weight 0). ``nodes [N, F]`` is a buffer saved with
    the weights (the reference customers' inputs), so prediction needs no other customers.
    """

    def __init__(self, nodes: Tensor, out_dim: int, heads: int = 2, slope: float = 0.2):
        super().__init__()
        if out_dim % heads:
            raise ValueError(f"out_dim ({out_dim}) must be a multiple of heads ({heads})")
        self.register_buffer("nodes", nodes.to(torch.float32))
        self.heads, self.head_dim = int(heads), int(out_dim) // int(heads)
        self.proj = nn.Linear(nodes.shape[1], int(out_dim), bias=False)
        self.att_self = nn.Parameter(torch.empty(self.heads, self.head_dim))
        self.att_nbr = nn.Parameter(torch.empty(self.heads, self.head_dim))
        nn.init.xavier_uniform_(self.att_self)
        nn.init.xavier_uniform_(self.att_nbr)
        self.slope = float(slope)
        self.out_dim = int(out_dim)

    def forward(self, x: Tensor, neighbours: Tensor) -> tuple[Tensor, Tensor]:
        b = x.shape[0]
        z_self = self.proj(x).view(b, 1, self.heads, self.head_dim)
        z_nbr = self.proj(self.nodes[neighbours.clamp_min(0)]).view(
            b, -1, self.heads, self.head_dim)
        z = torch.cat([z_self, z_nbr], dim=1)                              # [b, k+1, h, d]
        scores = F.leaky_relu((z_self * self.att_self).sum(-1)
                              + (z * self.att_nbr).sum(-1), self.slope)   # [b, k+1, h]
        missing = torch.cat([torch.zeros_like(neighbours[:, :1], dtype=torch.bool),
                             neighbours < 0], dim=1)                      # [b, k+1]
        scores = scores.masked_fill(missing.unsqueeze(-1), -torch.inf)
        weights = torch.softmax(scores, dim=1)
        out = F.elu((weights.unsqueeze(-1) * z).sum(1)).reshape(b, self.out_dim)
        return out, weights.transpose(1, 2)
