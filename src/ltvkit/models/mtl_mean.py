"""MTL-MEAN: every horizon at once, one MEAN tower per horizon on a shared bottom.

The multi-task variant MEAN's authors report beside MEAN ([1]_, section 4.2: "outputting
multiple periods simultaneously and summing the losses for joint optimization"; horizons
30 / 90 / 180 / 365 days there, whatever the dataset has here). The input embeddings and the
shared layer (paper: [512, 256]) are shared; each horizon has its own MVFE (experts, gates,
attention, FC) and DAM, with its own value-range cut points (quartiles of that horizon's
positive training labels). The loss is MEAN's ``L_cltv + L_kl + L_dis`` of every horizon,
summed. The network is :class:`~ltvkit.models.mean.MEANNet` (it builds one tower per horizon);
see :mod:`ltvkit.models.mean` for the equations, label scaling and options.

``bucket_probs`` of a prediction is ``[n_samples, H, n]`` (one value-range distribution per
horizon); :meth:`~ltvkit.models.mean.MEAN.attention` takes a ``horizon``.

References
----------
.. [1] Liu, K., Zhou, Y., Liu, B., Su, H., Chen, S. (2025). "MEAN: Multi-Expert Adaptive
   Network for Customer Lifetime Value Prediction." ECML PKDD 2025,
   doi:10.1007/978-3-032-05981-9_18.
"""

from __future__ import annotations

from typing import Any

from ltvkit.models.mean import MEAN
from ltvkit.models.registry import register


@register
class MTLMEAN(MEAN):
    """MEAN with one tower per horizon and the horizons' losses summed (MTL-MEAN, Liu et al. 2025).

    See :mod:`ltvkit.models.mtl_mean`.
    """

    name = "mtl_mean"
    tags = {"torch": True, "uses_attributes": True, "multi_horizon": True}

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"shared_hidden": (16,), "expert_dim": 8, "attention_dim": 4,
                 "dam_hidden": (8,), "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                 "n_threads": 1}]
