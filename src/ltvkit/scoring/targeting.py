"""Who to contact under a budget, a count or a target share, and what it is expected to earn.

Customers are ranked by predicted value (``value_<h>`` of a scored base, or any value column)
and the top of the list is targeted. Expected revenue = margin x the targeted customers'
predicted value, expected cost = contacts x cost per contact, expected ROI =
(revenue - cost) / cost. The expected-value-vs-spend curve (a gain curve in money) gives the
same numbers for every number of contacts; with true labels (``y_true_<h>``, a test split) the
realised value of the same policy is reported beside the expected one. Uplift modelling (the
effect of the contact itself) is out of scope: the policy ranks by value, as the top-10 %
campaign of Yang et al. (2025), "MEAN: Multi-Expert Adaptive Network for customer lifetime
value prediction", did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltvkit.scoring.errors import ScoringError


@dataclass
class TargetResult:
    """``targets``: the chosen rows of the scored base in rank order (with ``contact_order``);
    ``summary``: counts and money; ``curve``: the expected (and realised) value per spend."""

    targets: Any
    summary: dict[str, Any]
    curve: Any


def parse_share(text: str | float) -> float:
    """``"10%"`` or ``0.1`` -> 0.1, in (0, 1]."""
    raw = str(text).strip()
    try:
        share = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ScoringError(f"top: not a share (e.g. 10% or 0.1): '{text}'") from None
    if not 0.0 < share <= 1.0:
        raise ScoringError(f"top: must be in (0, 100%], got {text}")
    return share


def _value_column(frame, value_col: str | None) -> str:
    if value_col is None:
        value_col = next((c for c in frame.columns if c.startswith("value_")), None)
        if value_col is None:
            raise ScoringError("scored file: missing required column value_<h> (the predicted "
                               f"value); it has {list(frame.columns)[:12]}")
    if value_col not in frame.columns:
        raise ScoringError(f"scored file: missing required column '{value_col}'")
    return value_col


def target(frame, *, top: str | float | None = None, n: int | None = None,
           budget: float | None = None, cost_per_contact: float = 1.0, margin: float = 1.0,
           value_col: str | None = None, truth_col: str | None = "auto",
           curve_points: int = 100) -> TargetResult:
    """Choose the customers to contact from a scored base ``frame`` (exactly one of ``top``,
    ``n`` and ``budget``) and report expected revenue, cost and ROI, the curve and, when
    ``truth_col`` (default ``y_true_<h>`` of the value column's horizon, if present) is there,
    the realised value."""
    from ltvkit.metrics import _n_top, cumulative_true

    chosen = [k for k, v in (("top", top), ("n", n), ("budget", budget)) if v is not None]
    if len(chosen) != 1:
        raise ScoringError(f"give exactly one of top, n and budget, got {chosen or 'none'}")
    if not (0.0 < float(margin) <= 1.0):
        raise ScoringError(f"margin: must be in (0, 1], got {margin}")
    if not (math.isfinite(cost_per_contact) and cost_per_contact >= 0):
        raise ScoringError(f"cost_per_contact: must be a finite number >= 0, got "
                           f"{cost_per_contact}")
    for col in ("customer_id",):
        if col not in frame.columns:
            raise ScoringError(f"scored file: missing required column '{col}'")
    value_col = _value_column(frame, value_col)
    if truth_col == "auto":
        guess = "y_true_" + value_col.split("_", 1)[1] if "_" in value_col else None
        truth_col = guess if guess in frame.columns else None
    elif truth_col is not None and truth_col not in frame.columns:
        raise ScoringError(f"scored file: missing required column '{truth_col}'")
    value = frame[value_col].to_numpy(np.float64)
    bad = int(np.sum(~np.isfinite(value)))
    if bad:
        raise ScoringError(f"{value_col}: must be finite, {bad} row(s) are not")
    total = len(value)
    if total == 0:
        raise ScoringError("scored file: has no rows")
    if top is not None:
        k = _n_top(parse_share(top), total)
    elif n is not None:
        if int(n) < 1:
            raise ScoringError(f"n: must be >= 1, got {n}")
        k = min(int(n), total)
    else:
        if cost_per_contact <= 0:
            raise ScoringError("budget: needs a cost_per_contact > 0 to count contacts")
        if budget < cost_per_contact:
            raise ScoringError(f"budget: {budget} is below one contact "
                               f"(cost_per_contact {cost_per_contact})")
        k = min(int(math.floor(budget / cost_per_contact + 1e-9)), total)

    order = np.argsort(-value, kind="mergesort")  # the order of metrics.cumulative_true
    targets = frame.iloc[order[:k]].reset_index(drop=True)
    targets.insert(0, "contact_order", np.arange(1, k + 1))
    # Cumulative predicted (and realised) value in rank order, through the metrics' gain curve.
    exp_total = float(value.sum())
    expected = (cumulative_true(value, value) * exp_total if exp_total > 0
                else np.zeros(total))
    truth = None if truth_col is None else frame[truth_col].to_numpy(np.float64)
    realised = None
    if truth is not None:
        true_total = float(truth.sum())
        realised = (cumulative_true(truth, value) * true_total if true_total > 0
                    else np.zeros(total))

    def money(j: int) -> dict[str, float]:
        rev = float(margin * expected[j - 1])
        cost = float(j * cost_per_contact)
        out = {"expected_revenue": rev, "expected_cost": cost,
               "expected_profit": rev - cost,
               "expected_roi": (rev - cost) / cost if cost > 0 else float("nan")}
        if realised is not None:
            r = float(margin * realised[j - 1])
            out.update(realised_revenue=r, realised_profit=r - cost,
                       realised_roi=(r - cost) / cost if cost > 0 else float("nan"))
        return out

    summary: dict[str, Any] = {"customers": total, "targeted": k, "share": k / total,
                               "value_column": value_col, "truth_column": truth_col,
                               "cost_per_contact": float(cost_per_contact),
                               "margin": float(margin), **money(k)}
    import pandas as pd

    steps = np.unique(np.concatenate([
        np.ceil(np.linspace(0, total, curve_points + 1)[1:]).astype(np.int64), [k]]))
    steps = steps[steps >= 1]
    curve = pd.DataFrame([{"contacts": int(j), "share": j / total,
                           "spend": float(j * cost_per_contact), **money(int(j))}
                          for j in steps])
    # Marginal ROI of the last step: extra margin revenue per extra unit of spend.
    spend = curve["spend"].to_numpy()
    rev = curve["expected_revenue"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        curve["expected_marginal_roi"] = np.diff(rev, prepend=0.0) / np.diff(spend, prepend=0.0) \
            - 1.0
    return TargetResult(targets=targets, summary=summary, curve=curve)
