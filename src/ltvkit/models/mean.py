"""MEAN: Multi-Expert Adaptive Network (Liu, Zhou, Liu, Su, Chen; Tencent WeChat Pay).

Liu et al. [1]_, section 3.2 (the experts and gates are MMoE's [2]_). Shapes: ``b`` samples,
``H`` horizons (1 for ``mean``; ``mtl_mean`` has one tower per horizon), ``n`` value ranges
("distributions"), ``M`` experts, ``d`` expert width.

Network (one tower per horizon on a shared bottom)::

    x = [features, embeddings(categorical)] -> shared MLP (paper: [512, 256], ReLU) -> s
    MVFE   E_j(s), j = 1..M                       experts (Linear + LayerNorm + ReLU)   [b, M, d]
           f_i = sum_j softmax(W_g,i s)_j E_j(s)  one gate per range i = 1..n (eq. 2-3)  H [b, n, d]
           g_t = tanh(W_q h_t + W_k h_t + b_g)    (eq. 4)
           alpha_t = softmax(g_t W_a + b_a)       rows of A [b, n, n], row-stochastic (eq. 5)
           e = (1/n) sum_i (A H)_i                mean of the attended rows (eq. 6)     [b, d]
           y_hat = FC(e)                          linear, no activation (eq. 7)
    DAM    k = MLP(s) (paper: [256, 128, 64]) -> n logits,  b_hat = softmax(k)        (eq. 9-10)

Losses (eq. 8, 11-17), per horizon, averaged over the batch and summed over horizons:

- ``L_cltv = Huber_delta(y, y_hat)``, ``delta = 1``, on truncated labels (below);
- ``L_kl = KL(b_hat || theta_hat) = sum_i b_hat_i log(b_hat_i / theta_hat_i)`` with
  ``theta_hat = mean_i A_i`` (eq. 12-13). The direction is the printed one: DAM's ``b_hat`` is
  the reference distribution, so the mass-covering KL makes the attention put mass on every range
  DAM finds plausible; this term is how "DAM guides the attention". With
  ``align_stop_gradient=True`` (default, [interp]) ``b_hat`` is a constant in this term, so it
  trains the attention only;
- ``L_dis = beta CE(z, softmax(k)) + gamma CE(softmax(theta_hat / tau), softmax(k / tau))``
  (eq. 14-16; ``beta = gamma = 1``, ``tau = 2``). The first term is ``L_bucket`` (eq. 11); the
  second distils the attention into DAM, and with ``align_stop_gradient=True`` the attention
  teacher is a constant (as in any distillation), so the two alignment terms form the paper's
  bi-directional pair: KL trains the attention from DAM, distillation trains DAM from the
  attention. ``CE(p, q) = -sum_i p_i log q_i``; ``log_softmax`` replaces the paper's
  ``log(q + xi)`` (``xi -> 0``, exact and stable). Note that the printed teacher applies the
  temperature softmax to the attention *scores* ``theta_hat`` (values in ``[0, 1]``), which gives
  an almost flat target; ``distill_target="log_scores"`` uses ``softmax(log theta_hat / tau)``,
  i.e. ``theta_hat`` read as probabilities (standard Hinton distillation) [interp];
- ``L = L_cltv + L_kl + L_dis`` (eq. 17).

Value ranges ``z`` (the paper: "zero values are a separate distribution", n = 5, ranges
"adjustable as needed"; boundaries not published) [interp]: range 0 holds ``y = 0``; the positive
training labels (scaled and truncated as below) are cut into ``n - 1`` equal-count ranges at their
quantiles ``1/(n-1), ..., (n-2)/(n-1)`` (n = 5: the quartiles), right-closed as
:func:`ltvkit.metrics.assign_buckets`. The cut points are computed from every label ``fit`` gets
(before the early-stopping hold-out) and stored in the model (JSON state and the module buffer
``bucket_edges``, ``[H, n - 2]`` in scaled units).

Label scaling ("scaled and truncated to [0, 20]"; the scale is not published) [interp]: the
base class divides labels by the mean positive training label
(:class:`~ltvkit.nn.preprocess.LabelScaler`); this model then clips them to ``[0, label_cap]``,
``label_cap = 20`` (20 times the mean buyer) before every loss and before assigning ranges.
Predictions are ``FC(e)`` times the scale (the base class inverts the scaling), so they are at
most about 20 times the mean positive label.

Deviations and choices [interp]: experts are one layer "followed by a batch normalization" in
the paper; we use layer normalization, because batch norm fails on a final batch of one sample
and makes a prediction depend on its batch-mates during training. Early stopping monitors
``L_cltv`` on the validation set (the quantity the model predicts), not the total loss.

Ablations (paper, section 4.3): ``use_kl=False`` drops ``L_kl``; ``use_distill=False`` drops the
soft-label term of ``L_dis`` (``L_bucket`` stays, DAM is still supervised); ``mvfe_only=True``
trains the MVFE alone with ``L_cltv`` (no DAM, no alignment; ``bucket_probs`` is then ``None``).

Default budget: the paper reports convergence in 12-15 epochs (batch 1024, Adam 1e-3); we cap
training at ``max_epochs=40`` with ``patience=5``, which leaves room above the published count.
``n_threads`` defaults to 1, not ``None``: the network's matrices are small, so extra torch
threads add synchronisation cost rather than speed, most of all on a machine whose cores are
busy with other work. Pass ``n_threads=None`` on an idle multi-core machine.

References
----------
.. [1] Liu, K., Zhou, Y., Liu, B., Su, H., Chen, S. (2025). "MEAN: Multi-Expert Adaptive
   Network for Customer Lifetime Value Prediction." ECML PKDD 2025,
   doi:10.1007/978-3-032-05981-9_18.
.. [2] Ma, J., Zhao, Z., Yi, X., Chen, J., Hong, L., Chi, E. H. (2018). "Modeling Task
   Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts."
   Proceedings of the 24th ACM SIGKDD International Conference on Knowledge Discovery
   & Data Mining (KDD '18), 1930-1939.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import ModelError
from ltvkit.models.base.torch_model import Labels, TorchLTVModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts
from ltvkit.targets import bucket_index, value_range_edges

DISTILL_TARGETS = ("scores", "log_scores")
_LOG_FLOOR = 1e-12  # log(theta_hat) of a range the attention gives (numerically) no mass


class ValueRangeModel(TorchLTVModel):
    """A torch model that also learns value-range cut points from its training labels.

    Subclasses define ``_n_ranges`` and ``_label_cap`` and read ``self.bucket_edges_``
    ``[H, n - 2]`` (scaled units) in ``_build_module``; the edges are saved in the JSON state.
    """

    @property
    def _n_ranges(self) -> int:
        raise NotImplementedError

    @property
    def _label_cap(self) -> float | None:
        return None

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        self.bucket_edges_ = value_range_edges(labels.scaled, self._n_ranges, self._label_cap)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["bucket_edges"] = np.asarray(self.bucket_edges_).tolist()
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        n_h = len(state["spec"]["horizon_days"])
        self.bucket_edges_ = np.asarray(state["bucket_edges"], dtype=np.float64).reshape(n_h, -1)
        super()._set_state(state, arrays)


# --------------------------------------------------------------------------------- losses
def kl_bucket_attention(bucket_logits: Tensor, attention_mean: Tensor) -> Tensor:
    """``KL(b_hat || theta_hat) = sum_i b_hat_i (log b_hat_i - log theta_hat_i)`` (eq. 13).

    ``bucket_logits`` ``[..., n]`` (DAM's ``k``; ``b_hat = softmax(k)``), ``attention_mean``
    ``[..., n]`` (``theta_hat``, rows sum to 1). Returns the per-sample divergence ``[...]``.
    """
    log_b = F.log_softmax(bucket_logits, dim=-1)
    log_theta = torch.log(attention_mean.clamp_min(_LOG_FLOOR))
    return (log_b.exp() * (log_b - log_theta)).sum(dim=-1)


def distillation_cross_entropy(attention_mean: Tensor, bucket_logits: Tensor, tau: float,
                               target: str = "scores") -> Tensor:
    """Soft-label term ``CE(softmax(theta_hat / tau), softmax(k / tau))`` (eq. 14-16).

    ``target="scores"`` (as printed) uses ``softmax(theta_hat / tau)`` as the teacher;
    ``"log_scores"`` uses ``softmax(log theta_hat / tau)``. Returns ``[...]`` per sample.
    """
    teacher = (attention_mean if target == "scores"
               else torch.log(attention_mean.clamp_min(_LOG_FLOOR)))
    p = F.softmax(teacher / tau, dim=-1)
    return -(p * F.log_softmax(bucket_logits / tau, dim=-1)).sum(dim=-1)


# --------------------------------------------------------------------------------- network
@dataclass(eq=False)  # fields are tensors
class MEANOutput:
    """Network outputs: ``value [b, H]`` (scaled), ``attention [b, H, n, n]`` (row-stochastic
    ``A``) and ``bucket_logits [b, H, n]`` (DAM's ``k``; ``None`` for the MVFE alone)."""

    value: Tensor
    attention: Tensor
    bucket_logits: Tensor | None = None

    @property
    def attention_mean(self) -> Tensor:
        """``theta_hat = mean_i A_i`` ``[b, H, n]`` (eq. 12)."""
        return self.attention.mean(dim=-2)


class MEANTower(nn.Module):
    """One MEAN tower (MVFE + optional DAM) over a shared representation ``s [b, in_dim]``.

    Returns ``(y_hat [b], A [b, n, n], k [b, n] or None)``.
    """

    def __init__(self, in_dim: int, n_distributions: int, n_experts: int, expert_dim: int,
                 attention_dim: int, dam_hidden: Sequence[int], with_dam: bool,
                 value_bias: float = 0.0):
        super().__init__()
        self.n, self.m = int(n_distributions), int(n_experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(in_dim, expert_dim), nn.LayerNorm(expert_dim), nn.ReLU())
            for _ in range(self.m))
        self.gates = nn.Linear(in_dim, self.n * self.m)   # W_g of the n gates, stacked
        self.w_q = nn.Linear(expert_dim, attention_dim, bias=False)
        self.w_k = nn.Linear(expert_dim, attention_dim)   # its bias is b_g'
        self.w_a = nn.Linear(attention_dim, self.n)
        self.fc = nn.Linear(expert_dim, 1)
        with torch.no_grad():
            self.fc.bias.fill_(float(value_bias))
        self.dam = MLP(in_dim, dam_hidden, out_dim=self.n) if with_dam else None

    def forward(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        experts = torch.stack([e(s) for e in self.experts], dim=1)           # [b, M, d]
        gates = F.softmax(self.gates(s).view(-1, self.n, self.m), dim=-1)    # [b, n, M]
        h = torch.bmm(gates, experts)                                        # [b, n, d]
        g = torch.tanh(self.w_q(h) + self.w_k(h))                            # [b, n, a]
        attention = F.softmax(self.w_a(g), dim=-1)                           # [b, n, n]
        e = torch.bmm(attention, h).mean(dim=1)                              # [b, d]
        logits = self.dam(s) if self.dam is not None else None
        return self.fc(e).squeeze(-1), attention, logits


class MEANNet(nn.Module):
    """``inputs -> shared MLP -> one MEANTower per horizon`` -> :class:`MEANOutput`."""

    def __init__(self, spec: ModuleSpec, bucket_edges: np.ndarray, n_distributions: int,
                 n_experts: int, shared_hidden: Sequence[int], expert_dim: int,
                 attention_dim: int, dam_hidden: Sequence[int], with_dam: bool,
                 label_cap: float, dropout: float = 0.0):
        super().__init__()
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.shared = MLP(self.tabular.out_dim, shared_hidden, dropout=dropout)
        means = spec.label_stats["mean"]
        self.towers = nn.ModuleList(
            MEANTower(self.shared.out_dim, n_distributions, n_experts, expert_dim,
                      attention_dim, dam_hidden, with_dam, min(means[h], label_cap))
            for h in range(spec.n_horizons))
        self.register_buffer("bucket_edges", torch.as_tensor(
            np.asarray(bucket_edges, dtype=np.float32).reshape(spec.n_horizons, -1)))

    def forward(self, batch: dict[str, Tensor]) -> MEANOutput:
        s = self.shared(self.tabular(batch["features"], batch["categorical"]))
        values, attentions, logits = zip(*(t(s) for t in self.towers), strict=True)
        return MEANOutput(torch.stack(values, dim=1), torch.stack(attentions, dim=1),
                          None if logits[0] is None else torch.stack(logits, dim=1))


# --------------------------------------------------------------------------------- model
@register
class MEAN(ValueRangeModel):
    """MEAN (Liu et al. 2025): MMoE + attention over value ranges, aligned with a classifier.

    Parameters
    ----------
    n_distributions : value ranges ``n`` (zero + ``n - 1`` positive quantile ranges); paper 5.
    n_experts : experts ``M``; paper 5.
    shared_hidden : shared layer widths; paper [512, 256].
    expert_dim, attention_dim : expert output width ``d`` and attention width (not published).
    dam_hidden : DAM MLP widths; paper [256, 128, 64].
    huber_delta : ``delta`` of ``L_cltv``; paper 1.
    label_cap : labels (in units of the mean positive training label) are clipped to
        ``[0, label_cap]``; paper 20.
    beta, gamma, tau : weights of the hard and soft terms of ``L_dis`` and the temperature;
        paper ``beta`` unspecified (1), ``gamma = 1``, ``tau = 2``.
    use_kl, use_distill, mvfe_only : the ablations of section 4.3 (see the module docstring).
    align_stop_gradient : the KL term trains only the attention and the distillation term only
        DAM (see the module docstring); ``False`` lets both terms train both sides.
    distill_target : ``"scores"`` (as printed) or ``"log_scores"``.
    """

    name = "mean"
    tags = {"torch": True, "uses_attributes": True}

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 40, "patience": 5, "n_threads": 1}

    def __init__(self, n_distributions: int = 5, n_experts: int = 5,
                       shared_hidden: Sequence[int] = (512, 256), expert_dim: int = 64,
                       attention_dim: int = 32, dam_hidden: Sequence[int] = (256, 128, 64),
                       huber_delta: float = 1.0, label_cap: float = 20.0, beta: float = 1.0,
                       gamma: float = 1.0, tau: float = 2.0, use_kl: bool = True,
                       use_distill: bool = True, mvfe_only: bool = False,
                       align_stop_gradient: bool = True, distill_target: str = "scores",
                       dropout: float = 0.0, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        base = {"shared_hidden": (16,), "expert_dim": 8, "attention_dim": 4,
                "dam_hidden": (8,), "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                "n_threads": 1}
        return [base, {**base, "mvfe_only": True}]

    # ------------------------------------------------------------------ hooks
    @property
    def _n_ranges(self) -> int:
        return int(self.n_distributions)

    @property
    def _label_cap(self) -> float:
        return float(self.label_cap)

    def _check_params(self) -> None:
        if int(self.n_distributions) < 2:
            raise ModelError(f"{self.name}: n_distributions must be >= 2 (zero and at least one "
                             f"positive range), got {self.n_distributions}")
        if int(self.n_experts) < 1:
            raise ModelError(f"{self.name}: n_experts must be >= 1, got {self.n_experts}")
        if not float(self.tau) > 0 or not float(self.label_cap) > 0:
            raise ModelError(f"{self.name}: tau and label_cap must be > 0")
        if self.distill_target not in DISTILL_TARGETS:
            raise ModelError(f"{self.name}: distill_target must be one of {DISTILL_TARGETS}, "
                             f"got {self.distill_target!r}")

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        self._check_params()
        super()._fit(train, valid)

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return MEANNet(spec, self.bucket_edges_, int(self.n_distributions),
                       int(self.n_experts), self.shared_hidden, int(self.expert_dim),
                       int(self.attention_dim), self.dam_hidden, not self.mvfe_only,
                       float(self.label_cap), float(self.dropout))

    def truncate_labels(self, y: Tensor) -> Tensor:
        """Scaled labels clipped to ``[0, label_cap]``: what every loss term sees."""
        return y.clamp(0.0, float(self.label_cap))

    def loss_components(self, outputs: MEANOutput, y: Tensor) -> dict[str, Tensor]:
        """The terms of ``L`` on scaled labels ``y [b, H]`` (truncated here).

        Keys: ``"cltv"`` always; ``"bucket"`` (``beta CE(z, softmax(k))``) unless
        ``mvfe_only``; ``"kl"`` unless ``use_kl=False``; ``"distill"`` (``gamma`` times the
        soft-label term) unless ``use_distill=False``. Each is a batch mean, summed over horizons.
        """
        y = self.truncate_labels(y)
        out = {"cltv": F.huber_loss(outputs.value, y, reduction="none",
                                    delta=float(self.huber_delta)).mean(dim=0).sum()}
        if self.mvfe_only or outputs.bucket_logits is None:
            return out
        logits, theta = outputs.bucket_logits, outputs.attention_mean     # [b, H, n]
        z = bucket_index(y, self.network.bucket_edges)               # [b, H]
        ce = F.cross_entropy(logits.transpose(1, 2), z, reduction="none")  # [b, H]
        out["bucket"] = float(self.beta) * ce.mean(dim=0).sum()
        stop = bool(self.align_stop_gradient)
        if self.use_kl:
            kl = kl_bucket_attention(logits.detach() if stop else logits, theta)
            out["kl"] = kl.mean(dim=0).sum()
        if self.use_distill:
            soft = distillation_cross_entropy(theta.detach() if stop else theta, logits,
                                              float(self.tau), self.distill_target)
            out["distill"] = float(self.gamma) * soft.mean(dim=0).sum()
        return out

    def _loss(self, outputs: MEANOutput, y: Tensor, epoch: int) -> Tensor:
        return sum(self.loss_components(outputs, y).values())

    def _valid_loss(self, outputs: MEANOutput, y: Tensor, epoch: int) -> Tensor:
        return self.loss_components(outputs, y)["cltv"]

    def _predict_parts(self, outputs: MEANOutput) -> PredictionParts:
        probs = None
        if outputs.bucket_logits is not None:
            probs = F.softmax(outputs.bucket_logits, dim=-1)
            probs = probs[:, 0] if probs.shape[1] == 1 else probs  # [N, n] or [N, H, n]
        return PredictionParts(value=outputs.value, bucket_probs=probs)

    # ------------------------------------------------------------------ inspection
    def attention(self, data: LTVDataset, horizon: str | None = None) -> np.ndarray:
        """The attention matrix ``A`` of every sample: ``[n_samples, n, n]``, rows sum to 1.

        ``horizon`` picks the tower of a multi-horizon model (default: the first horizon).
        """
        j = 0 if horizon is None else self.horizons_.index(horizon)
        outputs: MEANOutput = self.network_outputs(data)
        return outputs.attention[:, j].detach().cpu().numpy().astype(np.float64)
