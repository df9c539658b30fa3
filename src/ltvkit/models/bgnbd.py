"""BG/NBD purchases x Gamma-Gamma spend (Fader, Hardie & Lee 2005a, 2005b)."""

from __future__ import annotations

from ltvkit.btyd import BGNBDParams, bgnbd
from ltvkit.models.base.btyd import BTYDModel
from ltvkit.models.registry import register


@register
class BGNBD(BTYDModel):
    """CLV over each horizon = E[purchases | x, t_x, T] (BG/NBD, eq. 10 of Fader, Hardie & Lee
    2005a) x E[spend | x, zbar] (Gamma-Gamma), optionally discounted per period."""

    name = "bgnbd"
    purchase_module = bgnbd
    params_class = BGNBDParams
