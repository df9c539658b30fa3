"""CC-OR-Net: Conditional Cascaded Ordinal-Residual Network (Zhao et al., WWW'26).

Zhao et al. [1]_. Only the abstract of the paper was available; the module list, ``K = 4``
quantile buckets and the loss list come from secondary summaries and the equations are a
reconstruction (marked [interp] below). Shapes: ``b`` samples, ``d`` encoder
width, ``K`` buckets (0-based here: bucket 0 is the zero bucket, bucket ``K - 1`` the whales).

Buckets (fixed, from the TRAINING labels, kept in the model state): edges
``[0, q50, q75]`` of the positive labels (:func:`~ltvkit.metrics.quantile_bucket_edges`), so
bucket 0 is ``y <= 1e-6``, 1 is ``(0, q50]``, 2 is ``(q50, q75]`` and 3 is ``(q75, cap]`` with the
top bucket capped at the 99.9th percentile of the positive training labels [interp].

1. Structural ordinal decomposition: ``h = MLP([features, embeddings])`` [b, d]; cascaded
   conditional stages ``z_1 = f_1(h)``, ``z_k = f_k([h, z_{k-1}])``, ``s_k = sigmoid(z_k)``
   ``= P(b >= k | b >= k-1)``; ``P(b >= k) = prod_{j<=k} s_j`` is non-increasing in ``k`` by
   construction and ``P(b = k) = P(b >= k) - P(b >= k+1)`` telescopes to a distribution.
   ``L_cascade = -mean log P(b_i)`` (each stage is a BCE on the samples that reached it).
2. Distillation ``L_distill = KL(q || mean_i P(.|x_i))`` with ``q`` the empirical bucket
   distribution of the batch (``distillation="batch"``), of the whole training set
   (``"prior"``) or off (``"none"``) [interp; see :data:`DISTILLATIONS` to add another].
3. Intra-bucket residual regression [interp]: for every positive bucket ``k``,
   ``g = GLU([sg(h), e_k, sg(P(.|x))])``, ``v_k = tanh(W_o ResBlock(ResBlock(g)))`` in
   ``[-1, 1]`` and ``yhat_k = expm1(c_k + v_k r_k)``, where ``c_k``, ``r_k`` are the centre and
   half-width of the bucket in ``log1p(y / label_scale)`` space (log space keeps the wide top
   bucket from swamping the loss). Trained with the TRUE bucket (teacher forcing):
   ``L_residual = Huber(v_b, clip((log1p(y) - c_b) / r_b, -1, 1))`` over the positive samples.
4. Targeted high-value augmentation of the top bucket [interp]: attention ``a = softmax(W_a
   sg(h))``, ``h~ = sg(h) + eta (1 - a) * N(0, I)`` in training only (no noise at inference),
   a value head ``v_hv = tanh(.)`` (``yhat_hv = expm1(c_K + v_hv r_K)``) and a confidence head
   ``gamma = sigmoid(.)``; ``L_hv = |yhat_hv - y| / y + FocalBCE(gamma, 1[|yhat_hv - y| / y <
   delta])`` on the true top-bucket samples; the top bucket's output blends
   ``gamma v_hv + (1 - gamma) v_K`` (in log space, so it stays inside the bucket).
   ``augmentation=False`` removes the module and ``L_hv`` (the paper's ablation).

Stop-gradient (``stop_gradient=True``): the residual and augmentation parts read ``sg(h)`` and
``sg(P)``, so only the cascade and the distillation train the encoder.
``L = L_cascade + w_d L_distill + w_r L_residual + w_hv L_hv`` (unit weights by default).

Inference (default, ``soft=True``): the expected value over the bucket distribution,
``yhat = sum_k P(b = k) yhat_k`` (a mean prediction, and a smooth ranking instead of ties
within a bucket). The paper's hard rule stays available as ``soft=False``: ``k^ = argmax_k
P(b = k)`` and ``yhat = 0`` (bucket 0) or ``yhat_k^``; bucket intervals are disjoint and
``|v| <= 1 - 1e-3`` (a margin so float rounding cannot put a prediction on a neighbour's
edge), so under the hard rule a customer assigned a higher bucket is never predicted below one
assigned a lower bucket. ``p_active = P(b >= 1)`` and ``bucket_probs`` [n, K]
are returned; the model is not probabilistic (no quantiles).

References
----------
.. [1] Zhao, M., Bai, H., Tian, Y., Zhu, B., Luo, H. (2026). "CC-OR-Net: A Unified Framework
   for LTV Prediction through Structural Decoupling." The Web Conference (WWW 2026).
   arXiv:2601.10176.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
from ltvkit.targets import ZERO_EPS, assign_buckets, bucket_index, quantile_bucket_edges

#: ``|v| <= V_MARGIN``: predictions stay strictly inside their bucket's interval.
V_MARGIN = 1.0 - 1e-3
#: Floor of a bucket's half-width (degenerate buckets when the positive labels tie).
MIN_HALF_WIDTH = 1e-6


# --------------------------------------------------------------------------------- cascade
def cascade_log_probs(stage_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Bucket log-probabilities of the cascade (structural ordinal decomposition, Zhao et al. 2026).

    Parameters
    ----------
    stage_logits : [b, K-1] logits ``z_k`` of ``s_k = P(b >= k | b >= k-1)``, k = 1..K-1.

    Returns
    -------
    log_survival : [b, K-1] ``log P(b >= k) = sum_{j<=k} log s_j`` (non-increasing in k).
    log_probs : [b, K] ``log P(b = k) = log P(b >= k) + log(1 - s_{k+1})`` (exact telescoping,
        computed in log space for stability).
    """
    log_survival = torch.cumsum(F.logsigmoid(stage_logits), dim=1)
    zeros = stage_logits.new_zeros((stage_logits.shape[0], 1))
    log_reach = torch.cat([zeros, log_survival], dim=1)           # log P(b >= k), k = 0..K-1
    log_stop = torch.cat([F.logsigmoid(-stage_logits), zeros], dim=1)  # log(1 - s_{k+1})
    return log_survival, log_reach + log_stop


def cascade_loss(log_probs: Tensor, bucket: Tensor) -> Tensor:
    """``L_cascade = -mean_i log P(b_i | x_i)``; ``log_probs`` [b, K], ``bucket`` [b] int64."""
    return -log_probs.gather(1, bucket[:, None]).mean()


def batch_distillation(log_probs: Tensor, bucket: Tensor, prior: Tensor) -> Tensor:
    """``KL(q || p_bar)``: ``q`` the batch's empirical bucket distribution, ``p_bar`` the mean
    predicted distribution of the batch [interp of "aligns batch distributions"]."""
    q = torch.bincount(bucket, minlength=log_probs.shape[1]).to(log_probs.dtype)
    return _kl(q / q.sum(), log_probs)


def prior_distillation(log_probs: Tensor, bucket: Tensor, prior: Tensor) -> Tensor:
    """``KL(prior || p_bar)`` with the bucket frequencies of the whole training set."""
    return _kl(prior.to(log_probs.dtype), log_probs)


def _kl(q: Tensor, log_probs: Tensor) -> Tensor:
    log_p_bar = torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])
    present = q > 0
    safe_q = torch.where(present, q, torch.ones_like(q))
    return torch.where(present, q * (torch.log(safe_q) - log_p_bar), 0.0).sum()


#: Distillation terms by name: ``fn(log_probs [b, K], bucket [b], prior [K]) -> scalar``.
DISTILLATIONS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor] | None] = {
    "batch": batch_distillation,
    "prior": prior_distillation,
    "none": None,
}


def focal_bce_with_logits(logits: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Per-element focal binary cross-entropy ``-(1 - p_t)^gamma log p_t`` (Lin et al. 2017)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (1.0 - torch.exp(-bce)) ** gamma * bce


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over ``mask`` (0 when the mask is empty, with a zero gradient)."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


# --------------------------------------------------------------------------------- network
class ResBlock(nn.Module):
    """``x + W_2 ReLU(W_1 x)`` followed by ReLU (a two-layer residual block of width ``w``)."""

    def __init__(self, width: int):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.inner(x))


class ResidualRegressor(nn.Module):
    """``[sg(h), e_k, sg(P)] -> GLU -> ResBlock x 2 -> tanh`` : ``v_k`` in [-1, 1] per bucket."""

    def __init__(self, in_dim: int, width: int):
        super().__init__()
        self.glu = nn.Linear(in_dim, 2 * width)
        self.blocks = nn.Sequential(ResBlock(width), ResBlock(width))
        self.out = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.out(self.blocks(F.glu(self.glu(x), dim=-1)))).squeeze(-1)


class HighValueAugmentation(nn.Module):
    """Attention-guided feature noise + value and confidence heads for the top bucket.

    ``a = softmax(W_a h)``; in training ``h~ = h + eta (1 - a) * N(0, I)`` (noise on the
    dimensions the attention deems unimportant), at inference ``h~ = h``. Returns
    ``v_hv = tanh(.)`` [b] and the confidence logit [b].
    """

    def __init__(self, dim: int, width: int, noise_scale: float):
        super().__init__()
        self.attention = nn.Linear(dim, dim)
        self.noise_scale = float(noise_scale)
        self.trunk = nn.Sequential(nn.Linear(dim, width), nn.ReLU())
        self.value = nn.Linear(width, 1)
        self.confidence = nn.Linear(width, 1)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and self.noise_scale > 0:
            a = torch.softmax(self.attention(h), dim=1)
            h = h + self.noise_scale * (1.0 - a) * torch.randn_like(h)
        t = self.trunk(h)
        return torch.tanh(self.value(t)).squeeze(-1), self.confidence(t).squeeze(-1)


class CCORNet(nn.Module):
    """Encoder, cascade, residual regressor and (optionally) high-value augmentation.

    ``log_lower`` / ``log_upper`` [K-1] are the positive buckets' bounds in
    ``log1p(scaled y)`` space; ``edges`` [K-1] the bucket edges in scaled units (for labels).
    The forward pass returns a dict: ``stage_logits`` [b, K-1], ``log_probs`` [b, K],
    ``v`` [b, K-1] (residual of every positive bucket) and, with augmentation, ``v_hv`` [b]
    and ``gamma_logit`` [b].
    """

    def __init__(self, spec: ModuleSpec, hidden: Sequence[int], residual_width: int,
                 bucket_embedding_dim: int, edges: np.ndarray, log_lower: np.ndarray,
                 log_upper: np.ndarray, augmentation: bool, noise_scale: float,
                 stop_gradient: bool, dropout: float):
        super().__init__()
        n_buckets = len(edges) + 1
        self.n_buckets = n_buckets
        self.stop_gradient = bool(stop_gradient)
        self.zero_eps = 0.0  # the zero-bucket threshold in scaled units (set by the model)
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.encoder = MLP(self.tabular.out_dim, hidden, dropout=dropout)
        d = self.encoder.out_dim
        self.stages = nn.ModuleList(
            [nn.Linear(d, 1)] + [nn.Linear(d + 1, 1) for _ in range(n_buckets - 2)])
        self.bucket_embedding = nn.Embedding(n_buckets - 1, bucket_embedding_dim)
        self.residual = ResidualRegressor(d + bucket_embedding_dim + n_buckets, residual_width)
        self.high_value = (HighValueAugmentation(d, residual_width, noise_scale)
                           if augmentation else None)
        self.register_buffer("edges", torch.as_tensor(edges, dtype=torch.float32),
                             persistent=False)
        lower = torch.as_tensor(log_lower, dtype=torch.float64)
        upper = torch.as_tensor(log_upper, dtype=torch.float64)
        self.register_buffer("centre", ((lower + upper) / 2), persistent=False)
        self.register_buffer("half_width", ((upper - lower) / 2).clamp_min(MIN_HALF_WIDTH),
                             persistent=False)
        self._init_stage_biases(spec.label_stats["positive_rate"][0])

    @torch.no_grad()
    def _init_stage_biases(self, positive_rate: float) -> None:
        # Start at P(b >= 1) = the positive rate and even odds on the later (quantile) stages.
        p = min(max(positive_rate, 1e-3), 1 - 1e-3)
        self.stages[0].bias.fill_(math.log(p / (1 - p)))
        for stage in self.stages[1:]:
            stage.bias.zero_()

    def bucket_of(self, y: Tensor) -> Tensor:
        """True bucket [b] int64 of scaled labels ``y`` [b] (right-closed, as assign_buckets)."""
        return bucket_index(y, self.edges[1:], self.edges[0] + self.zero_eps)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h = self.encoder(self.tabular(batch["features"], batch["categorical"]))
        z = self.stages[0](h)
        logits = [z]
        for stage in self.stages[1:]:
            z = stage(torch.cat([h, z], dim=1))
            logits.append(z)
        stage_logits = torch.cat(logits, dim=1)
        _, log_probs = cascade_log_probs(stage_logits)
        h_r = h.detach() if self.stop_gradient else h
        p_r = log_probs.exp()
        p_r = p_r.detach() if self.stop_gradient else p_r
        n, k1 = h.shape[0], self.n_buckets - 1
        x = torch.cat([h_r[:, None].expand(n, k1, -1),
                       self.bucket_embedding.weight[None].expand(n, k1, -1),
                       p_r[:, None].expand(n, k1, -1)], dim=2)
        out = {"stage_logits": stage_logits, "log_probs": log_probs, "v": self.residual(x)}
        if self.high_value is not None:
            out["v_hv"], out["gamma_logit"] = self.high_value(h_r)
        return out

    def log_values(self, v: Tensor) -> Tensor:
        """``c_k + V_MARGIN v_k r_k`` [b, K-1]: predicted ``log1p(scaled y)`` per positive bucket."""
        centre = self.centre.to(v.dtype)
        return centre + V_MARGIN * v * self.half_width.to(v.dtype)

    def blended_v(self, outputs: dict[str, Tensor]) -> Tensor:
        """``v`` [b, K-1] with the top bucket's ``gamma v_hv + (1 - gamma) v_K`` blend."""
        v = outputs["v"]
        if "v_hv" not in outputs:
            return v
        gamma = torch.sigmoid(outputs["gamma_logit"])
        top = gamma * outputs["v_hv"] + (1.0 - gamma) * v[:, -1]
        return torch.cat([v[:, :-1], top[:, None]], dim=1)

    def bucket_values(self, outputs: dict[str, Tensor]) -> Tensor:
        """Predicted value [b, K] of every bucket in scaled units (bucket 0: exactly 0)."""
        values = torch.expm1(self.log_values(self.blended_v(outputs)))
        return torch.cat([values.new_zeros((values.shape[0], 1)), values], dim=1)


# --------------------------------------------------------------------------------- model
@register
class CCORNetModel(TorchLTVModel):
    """CC-OR-Net (Zhao et al. 2026) — see the module docstring for the equations.

    Parameters
    ----------
    hidden : encoder MLP widths (the encoder is not a contribution of the paper).
    residual_width : width of the GLU / ResBlocks and of the high-value heads.
    bucket_embedding_dim : width of the bucket embedding ``e_k`` fed to the residual regressor.
    quantiles : quantiles of the positive training labels that split the positive buckets
        (``(0.5, 0.75)`` gives the paper's K = 4).
    cap_quantile : the top bucket's upper bound, a quantile of the positive training labels.
    soft : predict the expectation over buckets (default) instead of the argmax bucket's
        value (``False``: the paper's hard inference).
    augmentation : the high-value augmentation module (``False``: the paper's ablation).
    noise_scale : ``eta`` of the attention-guided training noise.
    confidence_delta : relative error under which the high-value prediction counts as "right"
        for the confidence head.
    focal_gamma : focusing parameter of the confidence head's focal BCE.
    distillation : ``"batch"``, ``"prior"`` or ``"none"`` (see :data:`DISTILLATIONS`).
    distill_weight, residual_weight, high_value_weight : loss weights (1 in the summary).
    residual_huber_delta : Huber threshold of ``L_residual`` (on ``v`` in [-1, 1]).
    stop_gradient : keep residual / augmentation gradients out of the encoder and cascade.
    rank_zero_bucket : give bucket-0 customers ``0.5e-6 * P(b >= 1)`` (label units) instead of
        exactly 0 [not in the paper]. The values stay below the metrics' zero threshold
        (``ZERO_EPS = 1e-6``), so buckets, NMAE and the ordering guarantee are unchanged, but
        the zero-bucket majority is ranked by its probability of spending instead of tied.
    n_threads : 1 by default (the other torch models leave torch's setting alone). The
        network's matrices are small, so a second torch thread adds synchronisation cost
        rather than speed, most of all when the cores are busy with other work; the thread
        count does not change the number of epochs. ``None`` keeps torch's setting.
    """

    name = "ccornet"
    tags = {"torch": True, "uses_attributes": True}

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 400, "n_threads": 1}
    value_extras: ClassVar[tuple[str, ...]] = ("bucket_values",)

    def __init__(self, hidden: Sequence[int] = (64, 32), residual_width: int = 32,
                       bucket_embedding_dim: int = 8, quantiles: Sequence[float] = (0.5, 0.75),
                       cap_quantile: float = 0.999, soft: bool = True, augmentation: bool = True,
                       noise_scale: float = 0.1, confidence_delta: float = 0.2,
                       focal_gamma: float = 2.0, distillation: str = "batch",
                       distill_weight: float = 1.0, residual_weight: float = 1.0,
                       high_value_weight: float = 1.0, residual_huber_delta: float = 1.0,
                       stop_gradient: bool = True, rank_zero_bucket: bool = False,
                       dropout: float = 0.0, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        base = {"hidden": (16, 8), "residual_width": 8, "bucket_embedding_dim": 4,
                "max_epochs": 3, "batch_size": 128, "lr": 1e-2, "n_threads": 1}
        return [base, {**base, "augmentation": False, "soft": False, "distillation": "prior"}]

    # ------------------------------------------------------------------ buckets
    def _validate_params(self) -> None:
        if self.distillation not in DISTILLATIONS:
            raise ModelError(f"ccornet: distillation must be one of {sorted(DISTILLATIONS)}, "
                             f"got {self.distillation!r}")

    def _fit_label_state(self, train: LTVDataset, labels: Labels) -> None:
        y = labels.raw[:, 0]
        positive = y[y > ZERO_EPS]
        if positive.size == 0:
            raise ModelError("ccornet: every training label is 0, so there are no positive "
                             "labels to place the value buckets")
        edges = quantile_bucket_edges(y, self.quantiles)
        cap = max(float(np.quantile(positive, self.cap_quantile)), float(edges[-1]))
        self.bucket_edges_ = edges.astype(np.float64)
        self.bucket_cap_ = cap
        counts = np.bincount(assign_buckets(y, edges), minlength=len(edges) + 1)
        self.bucket_prior_ = counts / counts.sum()

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        edges = spec.to_scaled(np.asarray(self.bucket_edges_))
        bounds = np.log1p(np.concatenate([edges, [spec.to_scaled(self.bucket_cap_)]]))
        module = CCORNet(spec, self.hidden, self.residual_width, self.bucket_embedding_dim,
                         edges, bounds[:-1], bounds[1:], self.augmentation, self.noise_scale,
                         self.stop_gradient, self.dropout)
        module.zero_eps = spec.to_scaled(ZERO_EPS)
        module.register_buffer("prior", torch.as_tensor(self.bucket_prior_,
                                                        dtype=torch.float32), persistent=False)
        return module

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["bucket_edges"] = [float(e) for e in self.bucket_edges_]
        state["bucket_cap"] = float(self.bucket_cap_)
        state["bucket_prior"] = [float(p) for p in self.bucket_prior_]
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.bucket_edges_ = np.asarray(state["bucket_edges"], dtype=np.float64)
        self.bucket_cap_ = float(state["bucket_cap"])
        self.bucket_prior_ = np.asarray(state["bucket_prior"], dtype=np.float64)
        super()._set_state(state, arrays)

    # ------------------------------------------------------------------ loss
    def loss_terms(self, outputs: dict[str, Tensor], y: Tensor) -> dict[str, Tensor]:
        """The (unweighted) loss terms on scaled labels ``y`` [b, 1]: ``cascade``, ``distill``,
        ``residual`` and, with augmentation, ``high_value``."""
        module: CCORNet = self.network
        y = y[:, 0]
        bucket = module.bucket_of(y)
        log_probs = outputs["log_probs"]
        terms = {"cascade": cascade_loss(log_probs, bucket)}
        distill = DISTILLATIONS[self.distillation]
        if distill is not None:
            terms["distill"] = distill(log_probs, bucket, module.prior)
        # Teacher forcing: the residual of the TRUE bucket is trained, on positive samples.
        positive = bucket > 0
        k = (bucket - 1).clamp_min(0)
        v_true = outputs["v"].gather(1, k[:, None]).squeeze(1)
        centre = module.centre.to(y.dtype)[k]
        half = module.half_width.to(y.dtype)[k]
        target = ((torch.log1p(y) - centre) / half).clamp(-1.0, 1.0)
        residual = F.huber_loss(V_MARGIN * v_true, target, reduction="none",
                                delta=self.residual_huber_delta)
        terms["residual"] = _masked_mean(residual, positive)
        if "v_hv" in outputs:
            top = bucket == module.n_buckets - 1
            log_hv = (module.centre[-1].to(y.dtype)
                      + V_MARGIN * outputs["v_hv"] * module.half_width[-1].to(y.dtype))
            y_hv = torch.expm1(log_hv)
            rel = (y_hv - y).abs() / y.clamp_min(module.zero_eps + 1e-12)
            right = (rel.detach() < self.confidence_delta).to(y.dtype)
            focal = focal_bce_with_logits(outputs["gamma_logit"], right, self.focal_gamma)
            terms["high_value"] = _masked_mean(rel + focal, top)
        return terms

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        terms = self.loss_terms(outputs, y)
        weights = {"cascade": 1.0, "distill": self.distill_weight,
                   "residual": self.residual_weight, "high_value": self.high_value_weight}
        return sum(weights[k] * v for k, v in terms.items())

    # ------------------------------------------------------------------ prediction
    def _predict_parts(self, outputs: dict[str, Tensor]) -> PredictionParts:
        module: CCORNet = self.network
        outputs = {k: v.double() for k, v in outputs.items()}
        probs = outputs["log_probs"].exp()
        values = module.bucket_values(outputs)
        if self.rank_zero_bucket:
            values[:, 0] = 0.5 * module.zero_eps * (1.0 - probs[:, 0])
        bucket = probs.argmax(dim=1)
        if self.soft:
            value = (probs * values).sum(dim=1)
        else:
            value = values.gather(1, bucket[:, None]).squeeze(1)
        return PredictionParts(value=value[:, None], p_active=1.0 - probs[:, :1],
                               bucket_probs=probs,
                               extras={"bucket": bucket, "bucket_values": values})
