"""Discounted (net present) value of a horizon's predicted spend.

Convention: the spend predicted for a horizon of ``D`` days is assumed to arrive in equal parts
on each of the days ``1..D`` after the cutoff, and a cash flow ``d`` days after the cutoff is
worth ``(1 + r) ** (-d / 365)`` today at the annual discount rate ``r`` (annual compounding,
day-count 365). The NPV of a predicted value ``V`` is therefore

    NPV = V * (1 / D) * sum_{d=1..D} (1 + r) ** (-d / 365)

which is ``V`` when ``r = 0`` and less than ``V`` for ``r > 0``. CLV as the net present value
of future cash flow follows Gupta, S., Lehmann, D. R., Stuart, J. A. (2004), "Valuing
Customers", Journal of Marketing Research 41(1), as used by Anitha Kumari et al. (2024), "Deep
Learning Models for Customer Lifetime Value Prediction in E-commerce", IEEE ICRTCST 2024.
"""

from __future__ import annotations

import numpy as np

from ltvkit.scoring.errors import ScoringError


def discount_factor(horizon_days: int, annual_rate: float) -> float:
    """Mean discount factor of a cash flow spread evenly over days ``1..horizon_days``."""
    if not np.isfinite(annual_rate) or annual_rate <= -1.0:
        raise ScoringError(f"discount_rate: must be a finite number > -1, got {annual_rate}")
    if int(horizon_days) < 1:
        raise ScoringError(f"horizon_days: must be >= 1, got {horizon_days}")
    d = int(horizon_days)
    if annual_rate == 0.0:
        return 1.0
    # geometric series sum_{k=1..d} q^k with q = (1 + r)^(-1/365)
    q = (1.0 + float(annual_rate)) ** (-1.0 / 365.0)
    return float(q * (1.0 - q ** d) / (1.0 - q) / d)


def discounted_value(value: np.ndarray, horizon_days: int, annual_rate: float) -> np.ndarray:
    """NPV of predicted horizon spend ``value`` under the convention of this module."""
    return np.asarray(value, dtype=np.float64) * discount_factor(horizon_days, annual_rate)
