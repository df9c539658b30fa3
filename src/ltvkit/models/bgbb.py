"""BG/BB purchases x Gamma-Gamma spend, one purchase opportunity per day (Fader, Hardie & Shang
2010 [1]_; Fader, Hardie & Lee 2005 [2]_ for the spend model).

A day is the purchase opportunity: the dataset's ``frequency`` (purchase days after the first)
is the number of opportunities taken, ``recency_days`` the opportunity of the last one and
``T_days`` the number of opportunities, so the discrete-time model reads the daily features
exactly. The horizon of h days is h further opportunities.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., Shang, J. (2010). "Customer-Base Analysis in a
   Discrete-Time Noncontractual Setting." Marketing Science 29(6), 1086-1108.
.. [2] Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis." Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import numpy as np

from ltvkit.btyd import BGBBParams, bgbb
from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import TaskError
from ltvkit.models.base.btyd import BTYDModel, rfm
from ltvkit.models.registry import register


@register
class BGBB(BTYDModel):
    """CLV over each horizon = E[purchases in the next h daily opportunities | x, t_x, n]
    (BG/BB, eq. 13 of Fader, Hardie & Shang 2010) x E[spend | x, zbar] (Gamma-Gamma)."""

    name = "bgbb"
    purchase_module = bgbb
    params_class = BGBBParams

    def __init__(self, penalizer: float = 0.0, log_penalizer: float = 0.0,
                 boundary_log_penalizer: float = 0.001, discount_rate: float = 0.0,
                 discount_period_days: float = 30.0, min_repeat_customers: int = 10,
                 time_unit: str = "days", n_draws: int = 200, random_state: int = 0):
        super().__init__(penalizer=penalizer, log_penalizer=log_penalizer,
                         boundary_log_penalizer=boundary_log_penalizer,
                         discount_rate=discount_rate, discount_period_days=discount_period_days,
                         min_repeat_customers=min_repeat_customers, time_unit=time_unit,
                         n_draws=n_draws, random_state=random_state)

    def _rfm(self, data: LTVDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.time_unit != "days":
            raise TaskError(f"bgbb: time_unit must be 'days' (one purchase opportunity per "
                            f"day), got {self.time_unit!r}")
        return rfm(data, "days")
