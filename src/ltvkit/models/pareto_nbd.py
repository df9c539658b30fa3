"""Pareto/NBD purchases x Gamma-Gamma spend (Schmittlein, Morrison & Colombo 1987)."""

from __future__ import annotations

from ltvkit.btyd import ParetoNBDParams, pareto_nbd
from ltvkit.models.base.btyd import BTYDModel
from ltvkit.models.registry import register


@register
class ParetoNBD(BTYDModel):
    """CLV over each horizon = E[purchases | x, t_x, T] (Pareto/NBD) x E[spend | x, zbar]
    (Gamma-Gamma), optionally discounted per period."""

    name = "pareto_nbd"
    purchase_module = pareto_nbd
    params_class = ParetoNBDParams
