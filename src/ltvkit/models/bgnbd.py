"""BG/NBD purchases x Gamma-Gamma spend (Fader, Hardie & Lee 2005a [1]_, 2005b [2]_).

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "Counting Your Customers the Easy
   Way: An Alternative to the Pareto/NBD Model." Marketing Science 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis." Journal of Marketing Research 42(4), 415-430.
"""

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
