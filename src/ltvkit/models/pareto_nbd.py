"""Pareto/NBD purchases x Gamma-Gamma spend (Schmittlein, Morrison & Colombo 1987 [1]_;
Gamma-Gamma: Fader, Hardie & Lee 2005 [2]_).

References
----------
.. [1] Schmittlein, D. C., Morrison, D. G., Colombo, R. (1987). "Counting Your Customers:
   Who Are They and What Will They Do Next?" Management Science 33(1), 1-24.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis." Journal of Marketing Research 42(4), 415-430.
"""

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
