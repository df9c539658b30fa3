"""MBG/NBD purchases x Gamma-Gamma spend (Batislam, Denizel & Filiztekin 2007 [1]_; Fader,
Hardie & Lee 2005 [2]_ for the spend model).

References
----------
.. [1] Batislam, E. P., Denizel, M., Filiztekin, A. (2007). "Empirical validation and comparison
   of models for customer base analysis." International Journal of Research in Marketing 24(3),
   201-209.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis." Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

from ltvkit.btyd import MBGNBDParams, mbgnbd
from ltvkit.models.base.btyd import BTYDModel
from ltvkit.models.registry import register


@register
class MBGNBD(BTYDModel):
    """CLV over each horizon = E[purchases | x, t_x, T] (MBG/NBD: one-time buyers may have
    dropped out too) x E[spend | x, zbar] (Gamma-Gamma), optionally discounted per period."""

    name = "mbgnbd"
    purchase_module = mbgnbd
    params_class = MBGNBDParams
