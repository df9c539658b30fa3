"""Losses, the ZILN distribution and multi-horizon output heads.

Shapes: ``b`` samples in a batch, ``H`` horizons. Every loss returns a scalar: the mean over all
samples (and horizons), so a zero label contributes to the mean like any other.

ZILN (Wang, Liu, Miao 2019 [1]_): ``P(Y=0) = 1 - p`` and
``Y | Y>0 ~ LogNormal(mu, s)`` with ``p = sigmoid(z_p)``, ``mu = z_mu``,
``s = max(softplus(z_s), sqrt(1e-7))``. The per-sample loss is the exact negative log-likelihood

    L = BCE_with_logits(1[y>0], z_p)
        + 1[y>0] * (log y + log s + 0.5 log(2 pi) + (log y - mu)^2 / (2 s^2))

and the point prediction is ``E[Y] = p * exp(mu + s^2 / 2)``.

References
----------
.. [1] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
.. [2] Liu, K., Zhou, Y., Liu, B., Su, H., Chen, S. (2025). "MEAN: Multi-Expert Adaptive
   Network for Customer Lifetime Value Prediction." ECML PKDD 2025,
   doi:10.1007/978-3-032-05981-9_18.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.nn.blocks import MLP
from ltvkit.nn.ziln_rule import ziln_rule

SIGMA_FLOOR = math.sqrt(1e-7)  # the published code's clamp on s (zero_inflated_lognormal.py)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------- point losses
def mse_loss(pred: Tensor, y: Tensor) -> Tensor:
    """Mean squared error over all elements; ``pred``, ``y`` [b, H]."""
    return F.mse_loss(pred, y)


def mae_loss(pred: Tensor, y: Tensor) -> Tensor:
    """Mean absolute error over all elements; ``pred``, ``y`` [b, H]."""
    return F.l1_loss(pred, y)


def huber_loss(pred: Tensor, y: Tensor, delta: float = 1.0) -> Tensor:
    """Huber loss with threshold ``delta`` (MEAN, Liu et al. 2025, uses delta = 1)."""
    return F.huber_loss(pred, y, delta=delta)


def log1p_mse_loss(pred_log1p: Tensor, y: Tensor) -> Tensor:
    """MSE between a prediction of ``log1p(y)`` and ``log1p(y)``; ``y >= 0`` [b, H]."""
    return F.mse_loss(pred_log1p, torch.log1p(y))


# --------------------------------------------------------------------------------- ZILN
@dataclass(eq=False)  # fields are tensors: compare them explicitly
class ZILNParams:
    """The zero-inflated lognormal of every sample and horizon, from raw logits ``[b, H, 3]``.

    The derived fields ``log_p``, ``log_1mp`` (``log p`` and ``log(1 - p)``, kept separately for
    stability), ``mu``, ``sigma`` and ``log_mean`` (each [b, H]) are computed on first access.
    Keeping only the logits lets prediction concatenate one tensor per batch. These torch
    fields are what the loss differentiates; the prediction rule (:func:`ziln_prediction`)
    reads the same formulas from the logits in one compiled pass (:mod:`ltvkit.nn.ziln_rule`).

    Plain parametrization (Wang et al. 2019): ``p = sigmoid(z_p)``, ``mu = z_mu``,
    ``s = max(softplus(z_s), sqrt(1e-7))``. ``monotone=True`` (:class:`ZILNHead`) reads the
    logits as ``1 - p_h = prod_{j<=h}(1 - sigmoid(z_p_j))`` and
    ``log E_h = z_m_1 + sum_{1<j<=h} softplus(z_m_j)`` and derives ``mu_h`` from
    ``E_h = p_h exp(mu_h + s_h^2 / 2)``; the mean is then read from ``log_mean`` directly, so
    the ordering over horizons is exact in floating point.
    """

    logits: Tensor
    monotone: bool = False

    @cached_property
    def _fields(self) -> dict[str, Tensor | None]:
        # One contiguous [3, b, H] copy: element-wise ops on stride-3 views run ~3x slower.
        z_p, z_m, z_s = self.logits.movedim(-1, 0).contiguous()
        sigma = torch.clamp(F.softplus(z_s), min=SIGMA_FLOOR)
        if not self.monotone:
            log_1mp = -F.softplus(z_p)
            # log sigmoid(z) = log(1 - sigmoid(z)) + z: one softplus instead of two.
            return {"log_p": log_1mp + z_p, "log_1mp": log_1mp, "mu": z_m, "sigma": sigma,
                    "log_mean": None}
        log_1mp = torch.cumsum(-F.softplus(z_p), dim=-1)
        # log p = log(1 - exp(log(1-p))), with the log1mexp split for accuracy at both ends.
        log_p = torch.where(log_1mp > -math.log(2.0), torch.log(-torch.expm1(log_1mp)),
                            torch.log1p(-torch.exp(log_1mp)))
        log_p = log_p.clamp_min(-60.0)  # p >= sigmoid(z_p_1) > 0; guard float underflow
        increments = torch.cat([z_m[..., :1], F.softplus(z_m[..., 1:])], dim=-1)
        log_mean = torch.cumsum(increments, dim=-1)
        mu = log_mean - log_p - 0.5 * sigma ** 2
        return {"log_p": log_p, "log_1mp": log_1mp, "mu": mu, "sigma": sigma,
                "log_mean": log_mean}

    @property
    def log_p(self) -> Tensor:
        return self._fields["log_p"]

    @property
    def log_1mp(self) -> Tensor:
        return self._fields["log_1mp"]

    @property
    def mu(self) -> Tensor:
        return self._fields["mu"]

    @property
    def sigma(self) -> Tensor:
        return self._fields["sigma"]

    @property
    def log_mean(self) -> Tensor | None:
        return self._fields["log_mean"]

    @cached_property
    def p(self) -> Tensor:
        return self.log_p.exp()

    def double(self) -> ZILNParams:
        """The same distribution with float64 logits (derived fields recomputed)."""
        return ZILNParams(self.logits.double(), self.monotone)


def ziln_params(logits: Tensor) -> ZILNParams:
    """The ZILN parameters of raw logits ``[..., 3] = (z_p, z_mu, z_s)`` (Wang et al. 2019)."""
    return ZILNParams(logits)


def ziln_nll(params: ZILNParams, y: Tensor) -> Tensor:
    """Per-element ZILN negative log-likelihood [b, H] (exact; Wang et al. 2019).

    For ``y = 0`` the lognormal term is masked and ``log y`` is evaluated at ``y := 1`` with
    ``torch.where`` (as the published code does), so neither the value nor the gradient is NaN.
    """
    positive = y > 0
    log_y = torch.log(torch.where(positive, y, torch.ones_like(y)))
    lognormal = (log_y + torch.log(params.sigma) + _HALF_LOG_2PI
                 + (log_y - params.mu) ** 2 / (2.0 * params.sigma ** 2))
    # -log P(y) = -log p - log f(y) for y > 0, and -log(1 - p) for y = 0 (BCE + masked term).
    return torch.where(positive, lognormal - params.log_p, -params.log_1mp)


def ziln_loss(logits_or_params: Tensor | ZILNParams, y: Tensor) -> Tensor:
    """Mean ZILN NLL over all samples and horizons; logits ``[b, H, 3]`` / ``[b, 3]``, or params."""
    params = (logits_or_params if isinstance(logits_or_params, ZILNParams)
              else ziln_params(logits_or_params))
    if y.dim() < params.mu.dim():
        y = y.unsqueeze(-1)
    return ziln_nll(params, y).mean()


def ziln_prediction(params: ZILNParams, levels: Sequence[float] = ()
                    ) -> tuple[np.ndarray, np.ndarray, dict[float, np.ndarray]]:
    """The prediction rule, float64 NumPy: (``E[Y] = p exp(mu + s^2 / 2)``, ``p = P(Y > 0)``,
    the quantile of every level of ``levels``), each of the shape of the fields. One compiled
    pass (:mod:`ltvkit.nn.ziln_rule`), the formulas of :class:`ZILNParams`."""
    logits = params.logits.detach()
    if logits.device.type != "cpu" or logits.dtype not in (torch.float32, torch.float64):
        logits = logits.to("cpu", torch.float64)
    mean, p, quantiles = ziln_rule(logits.numpy(), params.monotone, tuple(levels), SIGMA_FLOOR)
    return mean, p, dict(zip(levels, quantiles, strict=True))


def _as_fields(values: np.ndarray, params: ZILNParams) -> Tensor:
    """A rule's output as a tensor of the logits' dtype and device."""
    return torch.from_numpy(values).to(params.logits.device, params.logits.dtype)


def ziln_mean(params: ZILNParams) -> Tensor:
    """Expected value ``E[Y] = p * exp(mu + s^2 / 2)`` [b, H] (the published point prediction)."""
    return _as_fields(ziln_prediction(params)[0], params)


def ziln_p_active(params: ZILNParams) -> Tensor:
    """Probability of any spend ``P(Y > 0) = p`` [b, H]."""
    return _as_fields(ziln_prediction(params)[1], params)


def ziln_quantile(params: ZILNParams, q: float) -> Tensor:
    """Quantile ``Q(q)`` [b, H]: 0 if ``q <= 1 - p``, else ``exp(mu + s Phi^-1((q-1+p) / p))``."""
    return ziln_quantiles(params, (q,))[q]


def ziln_quantiles(params: ZILNParams, levels: Sequence[float]) -> dict[float, Tensor]:
    """:func:`ziln_quantile` at every level of ``levels``, computed at once."""
    return {q: _as_fields(v, params) for q, v in ziln_prediction(params, levels)[2].items()}


# --------------------------------------------------------------------------------- heads
def _softplus_inverse(x: np.ndarray) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.float64), 1e-6)
    return x + np.log(-np.expm1(-x))


class _Towers(nn.Module):
    """``H`` independent towers (MLP + linear to ``k`` outputs); output [b, H, k]."""

    def __init__(self, in_dim: int, n_horizons: int, k: int, tower_hidden: Sequence[int]):
        super().__init__()
        self.n_horizons, self.k = n_horizons, k
        if tower_hidden:
            self.towers = nn.ModuleList(MLP(in_dim, tower_hidden) for _ in range(n_horizons))
            self.out = nn.ModuleList(nn.Linear(tower_hidden[-1], k) for _ in range(n_horizons))
        else:  # one linear layer for every horizon at once (the published Dense(3))
            self.towers = None
            self.out = nn.Linear(in_dim, n_horizons * k)

    def forward(self, h: Tensor) -> Tensor:
        if self.towers is None:
            return self.out(h).view(-1, self.n_horizons, self.k)
        return torch.stack([o(t(h)) for t, o in zip(self.towers, self.out, strict=True)], dim=1)

    @torch.no_grad()
    def set_bias(self, bias: np.ndarray) -> None:
        """Set the output bias to ``bias`` [H, k] (start from the marginal label distribution)."""
        b = torch.as_tensor(np.asarray(bias, dtype=np.float32).reshape(self.n_horizons, self.k))
        if self.towers is None:
            self.out.bias.copy_(b.reshape(-1))
        else:
            for j, o in enumerate(self.out):
                o.bias.copy_(b[j])


class ZILNHead(nn.Module):
    """ZILN output head for ``H`` horizons: ``h [b, d] -> ZILNParams`` (logits [b, H, 3]).

    Parameters
    ----------
    in_dim : width of the representation ``h``.
    n_horizons : number of horizons ``H`` (one set of ``(z_p, z_mu, z_s)`` each).
    tower_hidden : hidden sizes of a per-horizon tower (MTL-ZILN); empty = one linear layer.
    monotone : keep ``p`` and ``E[Y]`` non-decreasing over the (nested, ordered) horizons:
        ``1 - p_h = prod_{j<=h} (1 - sigmoid(z_p_j))`` and
        ``log E_h = z_m_1 + sum_{1<j<=h} softplus(z_m_j)``; ``mu_h`` is then derived from
        ``E_h = p_h exp(mu_h + s_h^2 / 2)``, so the ZILN likelihood is unchanged in form.
    """

    def __init__(self, in_dim: int, n_horizons: int = 1, tower_hidden: Sequence[int] = (),
                 monotone: bool = False):
        super().__init__()
        self.monotone = bool(monotone) and n_horizons > 1
        self.towers = _Towers(in_dim, n_horizons, 3, tuple(tower_hidden))

    def forward(self, h: Tensor) -> ZILNParams:
        return ZILNParams(self.towers(h), self.monotone)

    def init_bias(self, positive_rate: Sequence[float], log_mean: Sequence[float],
                  log_std: Sequence[float]) -> None:
        """Start at the marginal distribution of the training labels (faster, stabler fits)."""
        p = np.clip(np.asarray(positive_rate, np.float64), 1e-3, 1 - 1e-3)
        s = np.clip(np.asarray(log_std, np.float64), 0.1, 5.0)
        m = np.asarray(log_mean, np.float64)
        if not self.monotone:
            z_p = np.log(p / (1 - p))
            bias = np.stack([z_p, m, _softplus_inverse(s)], axis=1)
        else:
            p = np.maximum.accumulate(p)
            one_minus = np.concatenate([[1.0], 1 - p])
            hazard = np.clip(1 - one_minus[1:] / one_minus[:-1], 1e-3, 1 - 1e-3)
            log_e = np.log(p) + m + 0.5 * s ** 2
            steps = np.maximum(np.diff(log_e), 1e-3)
            z_m = np.concatenate([log_e[:1], _softplus_inverse(steps)])
            bias = np.stack([np.log(hazard / (1 - hazard)), z_m, _softplus_inverse(s)], axis=1)
        self.towers.set_bias(bias)


class RegressionHead(nn.Module):
    """Point-prediction head for ``H`` horizons: ``h [b, d] -> [b, H]``.

    ``monotone`` makes the output a cumulative sum of softplus increments over the horizons
    (``v_h = sum_{j<=h} softplus(z_j)``), so 30 <= 90 <= 180 <= 365-day predictions by
    construction (and every prediction is >= 0).
    """

    def __init__(self, in_dim: int, n_horizons: int = 1, tower_hidden: Sequence[int] = (),
                 monotone: bool = False):
        super().__init__()
        self.monotone = bool(monotone)
        self.towers = _Towers(in_dim, n_horizons, 1, tuple(tower_hidden))

    def forward(self, h: Tensor) -> Tensor:
        raw = self.towers(h).squeeze(-1)
        return torch.cumsum(F.softplus(raw), dim=1) if self.monotone else raw

    def init_bias(self, target_mean: Sequence[float]) -> None:
        """Start at the mean training target (per horizon)."""
        t = np.asarray(target_mean, np.float64)
        if self.monotone:
            t = np.maximum.accumulate(np.maximum(t, 1e-3))
            t = _softplus_inverse(np.maximum(np.diff(t, prepend=0.0), 1e-3))
        self.towers.set_bias(t[:, None])
