"""ODMN + MDME: Order-Dependent Monotonic Network over Multi-Distribution Multi-Experts.

Li, Shao, Yang, Fang, Song (Kuaishou, CIKM 2022) [1]_. Tower names and the coupling come from
secondary summaries; the equations are a reconstruction ([interp]). Shapes: ``b`` samples, ``H``
horizons (ordered by length), ``S`` sub-distributions (sub-distribution 0 is the zero label),
``P = S - 1`` positive sub-distributions of ``B`` buckets each.

MDME, one per horizon ``t`` (on a shared-bottom MLP and a per-horizon tower ``h_t``):

- Segmentation (from the TRAINING labels, kept in the model state): the positive labels are
  cut into ``P * B`` equal-frequency buckets; sub-distribution ``s`` groups buckets
  ``(s-1) B .. s B - 1``. Bucket ``(s, b)`` covers ``[l, u]``; the lowest bound is the smallest
  positive label, the highest the ``cap_quantile`` of the positive labels (default 1: the max).
- DCT: softmax ``p_dc`` [S]; DOT: ``S - 1`` sigmoids ``o_j = P(s > j)``.
- Per positive sub-distribution: BCT softmax ``p_bc`` [B]; BOT ``B - 1`` ordinal sigmoids; BBT
  bias ``beta = sigmoid(.)`` in [0, 1] per bucket.
- Ordinal distillation (teacher DOT -> student DCT; BOT -> BCT):
  ``p_do_j = o_{j-1} - o_j`` (``o_0 = 1``, ``o_S = 0``; clamped at 1e-6, renormalised),
  ``L_kd = CE(sg(p_do), p_dc)``.
- ``L_MDME,t = CE(s*, p_dc) + sum_j BCE(1[s* > j], o_j) + L_kd + mean over positive samples of
  [CE(b*, p_bc_{s*}) + sum_j BCE(1[b* > j], bot_{s*, j}) + L_kd^bucket + (beta_{s*, b*} - beta*)^2]``
  with ``beta* = (y - l) / (u - l)`` clipped to [0, 1].
- Inference (default, ``soft=True``): the expected value over every bucket of the
  distribution, ``y^ = sum o_t (l + beta (u - l))``. The paper's hard rule stays available as
  ``soft=False``: ``s^ = argmax p_dc``, ``b^ = argmax p_bc_{s^}``, ``y^ = l + beta (u - l)``
  (0 when ``s^ = 0``).

ODMN coupling: ``o_t`` [1 + P B] is the distribution over every bucket of horizon ``t``
(``p_dc_0`` and ``p_dc_s p_bc_{s, b}``). The Mono Unit, an MLP with non-negative weights
(``softplus`` of free parameters, ReLU between layers) on ``sg(o_t)``, is added to the DCT and
BCT logits of horizon ``t + 1``. The calibration loss ``L_cal = mean_i sum_t ReLU(y~_t -
y~_{t+1})`` uses the differentiable expected value ``y~_t = sum o_t (l + beta (u - l))`` [interp:
the argmax prediction has no gradient]. ``L = sum_t L_MDME,t + calibration_weight L_cal``.

Monotone predictions (``monotone=True``): hard argmax predictions can still cross, so the
returned value is the cumulative maximum over the horizons, ``y^_t <- max_{j<=t} y^_j``; the
per-horizon values before it are in ``extras["value_before_cummax"]`` (with the argmax
bucket's ``extras["bucket_lower"]`` / ``["bucket_upper"]``).

References
----------
.. [1] Li, K., Shao, G., Yang, N., Fang, X., Song, Y. (2022). "Billion-user Customer Lifetime
   Value Prediction: An Industrial-scale Solution from Kuaishou." Proceedings of the
   31st ACM International Conference on Information & Knowledge Management (CIKM '22),
   3243-3251. arXiv:2208.13358.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
from ltvkit.targets import ZERO_EPS, equal_frequency_bounds

#: Keys of ``extras`` that are values (scaled back to the label unit like ``value``).
VALUE_EXTRAS = ("value_before_cummax", "bucket_lower", "bucket_upper")


# --------------------------------------------------------------------------------- segmentation
def calibration_loss(values: Tensor) -> Tensor:
    """``mean_i sum_t ReLU(v_{i,t} - v_{i,t+1})`` of per-horizon values [b, H] (ODMN)."""
    if values.shape[1] < 2:
        return values.new_zeros(())
    return F.relu(values[:, :-1] - values[:, 1:]).sum(dim=1).mean()


def ordinal_distribution(ordinal_logits: Tensor) -> Tensor:
    """``p_j = o_{j-1} - o_j`` from ordinal logits [..., C-1] (``o_0 = 1``, ``o_C = 0``) ->
    [..., C], clamped at 1e-6 and renormalised (the sigmoids need not be monotone)."""
    o = torch.sigmoid(ordinal_logits)
    ones = torch.ones_like(o[..., :1])
    p = (torch.cat([ones, o], dim=-1) - torch.cat([o, 1.0 - ones], dim=-1)).clamp_min(1e-6)
    return p / p.sum(dim=-1, keepdim=True)


def ordinal_bce(ordinal_logits: Tensor, label: Tensor) -> Tensor:
    """``sum_j BCE(1[label > j], sigmoid(z_j))`` [b] for logits [b, C-1] and labels [b]."""
    j = torch.arange(ordinal_logits.shape[-1], device=label.device)
    target = (label[:, None] > j).to(ordinal_logits.dtype)
    return F.binary_cross_entropy_with_logits(ordinal_logits, target,
                                              reduction="none").sum(dim=-1)


def distillation_ce(teacher: Tensor, student_logits: Tensor) -> Tensor:
    """``CE(sg(teacher), softmax(student))`` [b]: ordinal teacher -> classification student."""
    return -(teacher.detach() * F.log_softmax(student_logits, dim=-1)).sum(dim=-1)


# --------------------------------------------------------------------------------- network
class MonoLinear(nn.Module):
    """Linear layer with non-negative weights ``softplus(W_raw)`` (bias unconstrained)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        # softplus(-3) ~ 0.05: the coupling starts small.
        self.weight_raw = nn.Parameter(torch.empty(out_dim, in_dim).normal_(-3.0, 0.1))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    @property
    def weight(self) -> Tensor:
        return F.softplus(self.weight_raw)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)


class MonoUnit(nn.Module):
    """``sg(o_t)`` [1 + P B] -> MonoLinear -> ReLU -> MonoLinear -> [S + P B] logit offsets.

    Every weight is non-negative and ReLU is non-decreasing, so each output is a non-decreasing
    function of each input probability.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.layers = nn.ModuleList([MonoLinear(in_dim, hidden), MonoLinear(hidden, out_dim)])

    def weights(self) -> list[Tensor]:
        return [layer.weight for layer in self.layers]

    def forward(self, o: Tensor) -> Tensor:
        return self.layers[1](F.relu(self.layers[0](o)))


class MDMETowers(nn.Module):
    """DCT, DOT, BCT, BOT and BBT of one horizon on its tower output ``h_t`` [b, w]."""

    def __init__(self, width: int, n_sub: int, n_buckets: int):
        super().__init__()
        p = n_sub - 1
        self.dct = nn.Linear(width, n_sub)
        self.dot = nn.Linear(width, n_sub - 1)
        self.bct = nn.Linear(width, p * n_buckets)
        self.bot = nn.Linear(width, p * (n_buckets - 1))
        self.bbt = nn.Linear(width, p * n_buckets)


class ODMNNet(nn.Module):
    """Shared bottom -> per-horizon tower -> MDME towers, coupled by Mono Units.

    ``lower`` / ``upper`` [H, P, B] are the bucket bounds in scaled label units. The forward
    pass returns a dict of ``dc`` [b, H, S], ``do`` [b, H, S-1], ``bc`` [b, H, P, B],
    ``bo`` [b, H, P, B-1], ``beta`` [b, H, P, B] and ``o`` [b, H, 1 + P B].
    """

    def __init__(self, spec: ModuleSpec, hidden: Sequence[int], tower_hidden: Sequence[int],
                 mono_hidden: int, lower: np.ndarray, upper: np.ndarray, mono_unit: bool,
                 dropout: float):
        super().__init__()
        n_h, p, b = lower.shape
        self.n_horizons, self.n_sub, self.n_buckets = n_h, p + 1, b
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.shared = MLP(self.tabular.out_dim, hidden, dropout=dropout)
        self.towers = nn.ModuleList(MLP(self.shared.out_dim, tower_hidden, dropout=dropout)
                                    for _ in range(n_h))
        width = self.towers[0].out_dim
        self.heads = nn.ModuleList(MDMETowers(width, p + 1, b) for _ in range(n_h))
        self.mono = nn.ModuleList(
            MonoUnit(1 + p * b, mono_hidden, p + 1 + p * b) for _ in range(n_h - 1)
        ) if mono_unit else None
        self.register_buffer("lower", torch.as_tensor(lower, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("upper", torch.as_tensor(upper, dtype=torch.float32),
                             persistent=False)
        self.zero_eps = 0.0  # the zero threshold in scaled units (set by the model)
        self._init_biases(spec.label_stats["positive_rate"])

    @torch.no_grad()
    def _init_biases(self, positive_rate: Sequence[float]) -> None:
        # Start at the zero rate, equal shares of the equal-frequency positive parts.
        for head, rate in zip(self.heads, positive_rate, strict=True):
            r = min(max(rate, 1e-3), 1 - 1e-3)
            p = self.n_sub - 1
            head.dct.bias.copy_(torch.tensor([math.log(1 - r)] + [math.log(r / p)] * p))
            above = [r * (p - j) / p for j in range(p)]          # P(s > j), j = 0..S-2
            head.dot.bias.copy_(torch.tensor([math.log(a / (1 - a)) for a in above]))
            b = self.n_buckets
            head.bot.bias.copy_(torch.tensor(
                [math.log((b - j) / j) for j in range(1, b)] * p))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h = self.shared(self.tabular(batch["features"], batch["categorical"]))
        n, p, nb, s = h.shape[0], self.n_sub - 1, self.n_buckets, self.n_sub
        keys = ("dc", "do", "bc", "bo", "beta", "o")
        out: dict[str, list[Tensor]] = {k: [] for k in keys}
        prev_o: Tensor | None = None
        for t, (tower, head) in enumerate(zip(self.towers, self.heads, strict=True)):
            ht = tower(h)
            dc, bc = head.dct(ht), head.bct(ht)
            if self.mono is not None and prev_o is not None:
                # Gradient truncation: the longer horizon cannot disturb the shorter one.
                offset = self.mono[t - 1](prev_o.detach())
                dc, bc = dc + offset[:, :s], bc + offset[:, s:]
            bc = bc.view(n, p, nb)
            p_dc = torch.softmax(dc, dim=1)
            p_bc = torch.softmax(bc, dim=2)
            o = torch.cat([p_dc[:, :1], (p_dc[:, 1:, None] * p_bc).flatten(1)], dim=1)
            prev_o = o
            for key, value in zip(keys, (dc, head.dot(ht), bc, head.bot(ht).view(n, p, nb - 1),
                                         torch.sigmoid(head.bbt(ht)).view(n, p, nb), o),
                                  strict=True):
                out[key].append(value)
        return {k: torch.stack(v, dim=1) for k, v in out.items()}

    def bucket_values(self, beta: Tensor) -> Tensor:
        """``l + beta (u - l)`` [b, H, P, B] in scaled units."""
        lower, upper = self.lower.to(beta.dtype), self.upper.to(beta.dtype)
        return lower + beta * (upper - lower)

    def expected_value(self, outputs: dict[str, Tensor]) -> Tensor:
        """Differentiable ``sum_{s,b} o_t(s, b) value(s, b)`` [b, H] (zero sub-distribution: 0)."""
        values = self.bucket_values(outputs["beta"]).flatten(2)
        return (outputs["o"][..., 1:] * values).sum(dim=2)

    def targets(self, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sub-distribution ``s*`` [b, H], bucket ``b*`` [b, H] and ``beta*`` [b, H] of labels."""
        n_h, p, nb = self.lower.shape
        lower = self.lower.flatten(1)                          # [H, P B]
        upper = self.upper.flatten(1)
        index = torch.stack([torch.bucketize(y[:, t].contiguous(), upper[t, :-1], right=False)
                             for t in range(n_h)], dim=1)      # [b, H], right-closed buckets
        positive = y > self.zero_eps
        sub = torch.where(positive, 1 + index // nb, 0)
        bucket = index % nb
        lo = lower.gather(1, index.T).T
        width = (upper.gather(1, index.T).T - lo).clamp_min(1e-12)
        beta = ((y - lo) / width).clamp(0.0, 1.0)
        return sub, bucket, beta


# --------------------------------------------------------------------------------- model
@register
class ODMN(TorchLTVModel):
    """ODMN with an MDME per horizon (Li et al. 2022); see the module docstring.

    Parameters
    ----------
    hidden : shared-bottom MLP widths.
    tower_hidden : per-horizon tower widths.
    n_sub_distributions : ``S``, including the zero sub-distribution.
    n_buckets : ``B``, equal-frequency buckets per positive sub-distribution.
    cap_quantile : the top bucket's upper bound, a quantile of the positive training labels.
    mono_unit : couple consecutive horizons with the Mono Unit.
    mono_hidden : hidden width of the Mono Unit.
    calibration_weight : weight of ``L_cal`` (1; not recovered from the paper).
    distill_weight : weight of the two ordinal distillation terms.
    monotone : cumulative maximum over horizons (exactly monotone predictions).
    soft : expected value over buckets (default) instead of the hard argmax value
        (``False``: the paper's inference).
    n_threads : 1 by default, see :class:`~ltvkit.models.ccornet.CCORNetModel` (one torch
        thread avoids synchronisation overhead on the small matrices of this network).
    """

    name = "odmn"
    tags = {"torch": True, "multi_horizon": True, "uses_attributes": True}

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 400, "n_threads": 1}
    value_extras: ClassVar[tuple[str, ...]] = VALUE_EXTRAS

    def __init__(self, hidden: Sequence[int] = (64, 32), tower_hidden: Sequence[int] = (32,),
                       n_sub_distributions: int = 4, n_buckets: int = 4, cap_quantile: float = 1.0,
                       mono_unit: bool = True, mono_hidden: int = 16,
                       calibration_weight: float = 1.0, distill_weight: float = 1.0,
                       monotone: bool = True, soft: bool = True, dropout: float = 0.0,
                       **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": (16, 8), "tower_hidden": (8,), "n_sub_distributions": 3,
                 "n_buckets": 3, "mono_hidden": 4, "max_epochs": 3, "batch_size": 128,
                 "lr": 1e-2, "n_threads": 1}]

    # ------------------------------------------------------------------ segmentation
    def _validate_params(self) -> None:
        if int(self.n_sub_distributions) < 2 or int(self.n_buckets) < 2:
            raise ModelError("odmn: n_sub_distributions and n_buckets must both be >= 2")

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        days = [train.layout.horizon(h).days for h in self.horizons_]
        if any(b < a for a, b in zip(days, days[1:], strict=False)):
            raise ModelError(f"odmn: horizons must be ordered from shortest to longest, got "
                             f"{self.horizons_}")
        y = labels.raw
        bounds = [equal_frequency_bounds(y[:, t], self.n_sub_distributions - 1, self.n_buckets,
                                 self.cap_quantile) for t in range(y.shape[1])]
        self.bucket_lower_ = np.stack([lo for lo, _ in bounds])
        self.bucket_upper_ = np.stack([up for _, up in bounds])

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        module = ODMNNet(spec, self.hidden, self.tower_hidden, self.mono_hidden,
                         spec.to_scaled(self.bucket_lower_), spec.to_scaled(self.bucket_upper_),
                         self.mono_unit, self.dropout)
        module.zero_eps = spec.to_scaled(ZERO_EPS)
        return module

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["bucket_lower"] = self.bucket_lower_.tolist()
        state["bucket_upper"] = self.bucket_upper_.tolist()
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.bucket_lower_ = np.asarray(state["bucket_lower"], dtype=np.float64)
        self.bucket_upper_ = np.asarray(state["bucket_upper"], dtype=np.float64)
        super()._set_state(state, arrays)

    # ------------------------------------------------------------------ loss
    def loss_terms(self, outputs: dict[str, Tensor], y: Tensor) -> dict[str, Tensor]:
        """Unweighted terms on scaled labels ``y`` [b, H]: ``distribution`` (DCT + DOT),
        ``bucket`` (BCT + BOT + BBT), ``distill`` (both distillations, summed over horizons)
        and ``calibration``."""
        module: ODMNNet = self.network
        sub, bucket, beta_star = module.targets(y)
        n, n_h = sub.shape
        nb = module.n_buckets
        positive = (sub > 0).to(y.dtype)
        count = positive.sum(dim=0).clamp_min(1.0)               # [H]
        k = (sub - 1).clamp_min(0)                               # row of s* among positives
        gather = k[..., None, None].expand(n, n_h, 1, nb)
        bc = outputs["bc"].gather(2, gather).squeeze(2)          # [b, H, B]
        bo = outputs["bo"].gather(2, gather[..., :nb - 1]).squeeze(2)
        beta = outputs["beta"].gather(2, gather).squeeze(2).gather(2, bucket[..., None])
        dc, do = outputs["dc"], outputs["do"]
        distribution = sum(F.cross_entropy(dc[:, t], sub[:, t]) + ordinal_bce(do[:, t],
                           sub[:, t]).mean() for t in range(n_h))
        per_sample = torch.stack([
            F.cross_entropy(bc[:, t], bucket[:, t], reduction="none")
            + ordinal_bce(bo[:, t], bucket[:, t]) for t in range(n_h)], dim=1)
        per_sample = per_sample + (beta.squeeze(2) - beta_star) ** 2
        bucket_term = ((per_sample * positive).sum(dim=0) / count).sum()
        distill = distillation_ce(ordinal_distribution(do), dc).mean(dim=0).sum()
        bucket_kd = distillation_ce(ordinal_distribution(bo), bc)        # [b, H]
        distill = distill + ((bucket_kd * positive).sum(dim=0) / count).sum()
        calibration = calibration_loss(module.expected_value(outputs))
        return {"distribution": distribution, "bucket": bucket_term, "distill": distill,
                "calibration": calibration}

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        terms = self.loss_terms(outputs, y)
        return (terms["distribution"] + terms["bucket"] + self.distill_weight * terms["distill"]
                + self.calibration_weight * terms["calibration"])

    # ------------------------------------------------------------------ prediction
    def _predict_parts(self, outputs: dict[str, Tensor]) -> PredictionParts:
        module: ODMNNet = self.network
        outputs = {k: v.double() for k, v in outputs.items()}
        n, n_h, p, nb = outputs["bc"].shape
        sub = outputs["dc"].argmax(dim=2)                        # [b, H]
        k = (sub - 1).clamp_min(0)
        gather = k[..., None, None].expand(n, n_h, 1, nb)
        bucket = outputs["bc"].gather(2, gather).squeeze(2).argmax(dim=2)  # [b, H]
        index = (k * nb + bucket)[..., None]
        lower = module.lower.double().flatten(1).expand(n, n_h, p * nb).gather(2, index)[..., 0]
        upper = module.upper.double().flatten(1).expand(n, n_h, p * nb).gather(2, index)[..., 0]
        beta = outputs["beta"].flatten(2).gather(2, index)[..., 0]
        zero = sub == 0
        value = torch.where(zero, 0.0, lower + beta * (upper - lower))
        lower, upper = torch.where(zero, 0.0, lower), torch.where(zero, 0.0, upper)
        if self.soft:
            value = module.expected_value(outputs)
        before = value
        if self.monotone:
            value = torch.cummax(value, dim=1).values
        return PredictionParts(value=value, p_active=1.0 - outputs["o"][..., 0], extras={
            "sub_distribution": sub, "bucket": bucket, "value_before_cummax": before,
            "bucket_lower": lower, "bucket_upper": upper})
