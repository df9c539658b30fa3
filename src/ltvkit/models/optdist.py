"""OptDist: learning an optimal distribution per customer (Weng et al., CIKM 2024).

Weng et al. [1]_. The module structure is from the abstract; the losses are from a
secondary summary and partly reconstructed ([interp]). Shapes: ``b`` samples, ``L`` candidate
sub-distributions, ``d`` embedding width.

- Shared embedding ``e = MLP([features, embeddings(categorical)])`` [b, d].
- DLM (distribution learning module): ``L`` sub-distribution networks (SDNs), each an MLP ending
  in ZILN logits ``(z_p, z_mu, z_s)`` (Wang et al. 2019 [2]_) -> ``[b, L, 3]``; per-sample loss
  ``l_{u,i}`` = the ZILN negative log-likelihood of SDN ``i``
  (:func:`~ltvkit.nn.losses.ziln_nll`). The output biases start at the marginal label
  distribution, with ``mu`` spread by ``init_spread * log_std * (i - (L-1)/2)`` across the SDNs
  so they start on different parts of the value range [interp].
- DSM (distribution selection module): MLP -> ``alpha = softmax(.)`` [b, L]. Training selects
  with Gumbel-softmax ``pi = softmax((log alpha + g) / tau)``, ``g ~ Gumbel(0, 1)`` drawn from
  torch's generator (seeded per fit), hard one-hot with a straight-through gradient by default.
- ``L_DLM = mean_u sum_i pi_{u,i} l_{u,i}``.
- Alignment: pseudo-labels from the DLM losses, hard ``onehot(argmin_i l_{u,i})`` and soft
  ``softmax(-l_u)`` (both stop-gradient, :func:`pseudo_labels`);
  ``L_align = FocalCE(alpha, hard) + lambda KL(soft || alpha)``.
- ``L = L_DLM + align_weight L_align``; early stopping monitors ``L_DLM`` of the validation set
  in eval mode, i.e. the ZILN NLL of the selected SDN (the alignment targets move as the SDNs
  specialise, so the total is not a stationary objective).

Inference: no noise; ``i* = argmax alpha``; the prediction is the selected SDN's ZILN mean
``p exp(mu + s^2 / 2)``, with ``p_active`` and quantiles from the same ZILN (probabilistic).
``extras["selected"]`` [n] is ``i*`` and ``extras["alpha"]`` [n, L] the selection weights.

References
----------
.. [1] Weng, Y., Tang, X., Xu, Z., Lyu, F., Liu, D., Sun, Z., He, X. (2024). "OptDist:
   Learning Optimal Distribution for Customer Lifetime Value Prediction."
   Proceedings of the 33rd ACM International Conference on Information and Knowledge
   Management (CIKM '24), 2523-2533. arXiv:2408.08585.
.. [2] Wang, X., Liu, T., Miao, J. (2019). "A Deep Probabilistic Model for Customer
   Lifetime Value Prediction." arXiv:1912.07753.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ltvkit.models.base.torch_model import TorchLTVModel
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import head_prediction
from ltvkit.nn.losses import ZILNParams, _softplus_inverse, ziln_nll
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts


def sdn_nll(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample ZILN NLL of every SDN [b, L]; ``logits`` [b, L, 3], scaled labels ``y`` [b, 1]."""
    return ziln_nll(ZILNParams(logits), y.expand(-1, logits.shape[1]))


def pseudo_labels(nll: Tensor) -> tuple[Tensor, Tensor]:
    """Hard ``onehot(argmin_i l_i)`` and soft ``softmax(-l)`` pseudo-labels [b, L] (no gradient)."""
    nll = nll.detach()
    hard = F.one_hot(nll.argmin(dim=1), nll.shape[1]).to(nll.dtype)
    return hard, torch.softmax(-nll, dim=1)


def focal_cross_entropy(log_alpha: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Mean focal cross-entropy ``-(1 - alpha_y)^gamma log alpha_y``; ``target`` [b] int64."""
    log_pt = log_alpha.gather(1, target[:, None]).squeeze(1)
    return (-(1.0 - log_pt.exp()) ** gamma * log_pt).mean()


def kl_divergence(target: Tensor, log_alpha: Tensor) -> Tensor:
    """Mean ``KL(target || alpha)`` over samples; ``target`` [b, L] probabilities."""
    safe = target.clamp_min(1e-12)
    return (target * (safe.log() - log_alpha)).sum(dim=1).mean()


class OptDistNet(nn.Module):
    """Shared embedding, ``L`` ZILN sub-distribution networks and the selection MLP.

    The forward pass returns ``logits`` [b, L, 3], ``log_alpha`` [b, L] and the selection
    ``pi`` [b, L]: Gumbel-softmax in training, the one-hot argmax of ``alpha`` in eval mode.
    """

    def __init__(self, spec: ModuleSpec, hidden: Sequence[int], sdn_hidden: Sequence[int],
                 dsm_hidden: Sequence[int], n_distributions: int, tau: float,
                 straight_through: bool, init_spread: float, dropout: float):
        super().__init__()
        self.tau, self.straight_through = float(tau), bool(straight_through)
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.shared = MLP(self.tabular.out_dim, hidden, dropout=dropout)
        d = self.shared.out_dim
        self.sdns = nn.ModuleList(MLP(d, sdn_hidden, out_dim=3, dropout=dropout)
                                  for _ in range(n_distributions))
        self.dsm = MLP(d, dsm_hidden, out_dim=n_distributions, dropout=dropout)
        self._init_biases(spec.label_stats, init_spread)

    @torch.no_grad()
    def _init_biases(self, stats: dict[str, list[float]], spread: float) -> None:
        p = float(np.clip(stats["positive_rate"][0], 1e-3, 1 - 1e-3))
        s = float(np.clip(stats["log_std"][0], 0.1, 5.0))
        centre = (len(self.sdns) - 1) / 2
        for i, sdn in enumerate(self.sdns):
            mu = stats["log_mean"][0] + spread * s * (i - centre)
            bias = [np.log(p / (1 - p)), mu, float(_softplus_inverse(np.array(s)))]
            sdn.net[-1].bias.copy_(torch.tensor(bias, dtype=torch.float32))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        e = self.shared(self.tabular(batch["features"], batch["categorical"]))
        logits = torch.stack([sdn(e) for sdn in self.sdns], dim=1)
        log_alpha = F.log_softmax(self.dsm(e), dim=1)
        if self.training:
            pi = F.gumbel_softmax(log_alpha, tau=self.tau, hard=self.straight_through, dim=1)
        else:
            pi = F.one_hot(log_alpha.argmax(dim=1), log_alpha.shape[1]).to(log_alpha.dtype)
        return {"logits": logits, "log_alpha": log_alpha, "pi": pi}


@register
class OptDist(TorchLTVModel):
    """OptDist (Weng et al. 2024); see the module docstring for the equations.

    Parameters
    ----------
    hidden : shared embedding MLP widths.
    sdn_hidden : hidden widths of each sub-distribution network.
    dsm_hidden : hidden widths of the selection network.
    n_distributions : ``L`` (the summary reports 4-5 as best).
    tau : Gumbel-softmax temperature.
    straight_through : hard one-hot selection in the forward pass (gradient of the soft one).
    align_weight : weight of ``L_align``.
    kl_weight : ``lambda`` of the soft-label KL inside ``L_align``.
    focal_gamma : focusing parameter of the focal cross-entropy.
    init_spread : spread of the SDNs' initial ``mu`` in units of the label log-std [interp].
    n_threads : 1 by default, see :class:`~ltvkit.models.ccornet.CCORNetModel` (one torch
        thread avoids synchronisation overhead on the small matrices of this network).
    """

    name = "optdist"
    tags = {"torch": True, "probabilistic": True, "uses_attributes": True}

    training_defaults: ClassVar[dict[str, Any]] = {"max_epochs": 400, "n_threads": 1}

    def __init__(self, hidden: Sequence[int] = (64, 32), sdn_hidden: Sequence[int] = (16,),
                       dsm_hidden: Sequence[int] = (16,), n_distributions: int = 4,
                       tau: float = 1.0, straight_through: bool = True, align_weight: float = 1.0,
                       kl_weight: float = 1.0, focal_gamma: float = 2.0, init_spread: float = 0.5,
                       dropout: float = 0.0, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": (16, 8), "sdn_hidden": (8,), "dsm_hidden": (8,), "max_epochs": 3,
                 "batch_size": 128, "lr": 1e-2, "n_threads": 1}]

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return OptDistNet(spec, self.hidden, self.sdn_hidden, self.dsm_hidden,
                          int(self.n_distributions), self.tau, self.straight_through,
                          self.init_spread, self.dropout)

    def loss_terms(self, outputs: dict[str, Tensor], y: Tensor) -> dict[str, Tensor]:
        """``dlm`` and ``align`` on scaled labels ``y`` [b, 1] (unweighted)."""
        nll = sdn_nll(outputs["logits"], y)
        hard, soft = pseudo_labels(nll)
        log_alpha = outputs["log_alpha"]
        align = (focal_cross_entropy(log_alpha, hard.argmax(dim=1), self.focal_gamma)
                 + self.kl_weight * kl_divergence(soft, log_alpha))
        return {"dlm": (outputs["pi"] * nll).sum(dim=1).mean(), "align": align}

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        terms = self.loss_terms(outputs, y)
        return terms["dlm"] + self.align_weight * terms["align"]

    def _valid_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        # Early stopping watches the NLL of the prediction rule (eval mode: the argmax SDN);
        # L_align chases pseudo-labels that move as the SDNs specialise, so it is no monitor.
        return self.loss_terms(outputs, y)["dlm"]

    def _predict_parts(self, outputs: dict[str, Tensor]) -> PredictionParts:
        log_alpha = outputs["log_alpha"]
        selected = log_alpha.argmax(dim=1)
        logits = outputs["logits"].gather(1, selected[:, None, None].expand(-1, 1, 3))
        parts = head_prediction("ziln", ZILNParams(logits))
        parts.extras = {"selected": selected, "alpha": log_alpha.exp()}
        return parts
