"""Projected value and the response of projected value to marketing spend.

Anitha Kumari et al. (2024), "Deep Learning Models for Customer Lifetime Value Prediction in
E-commerce" (IEEE ICRTCST 2024), equation 1: projected value = signups x purchase rate x
acquisition CLV; equation 2: projected value = F(spend), whose slope (the marginal return of
spend) tells the marketing team how much to spend for a target ROI.

:func:`fit_spend_response` fits two concave response curves to (spend, projected value) pairs
and keeps the one with the lower cross-validated RMSE:

- ``log``:  ``V(s) = a * log(1 + s / b)``, marginal return ``a / (b + s)``;
- ``hill``: ``V(s) = vmax * s^k / (h^k + s^k)`` (concave for ``k <= 1``), marginal return
  ``vmax * k * h^k * s^(k-1) / (h^k + s^k)^2``.

Marginal ROI at spend ``s`` is ``V'(s) - 1`` (the value one more unit of spend brings, net of
that unit); :meth:`SpendResponse.spend_for_marginal_roi` solves ``V'(s) - 1 = target``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ltvkit.scoring.errors import ScoringError

FORMS = ("log", "hill")


def projected_value(signups, purchase_rate, acquisition_clv):
    """Equation 1: ``signups * purchase_rate * acquisition_clv`` (scalars or arrays)."""
    s, p, c = (np.asarray(x, dtype=np.float64) for x in (signups, purchase_rate,
                                                          acquisition_clv))
    if np.any(s < 0):
        raise ScoringError(f"signups: must be >= 0, {int(np.sum(s < 0))} value(s) are not")
    if np.any((p < 0) | (p > 1)):
        raise ScoringError(f"purchase_rate: must be in [0, 1], {int(np.sum((p < 0) | (p > 1)))}"
                           " value(s) are not")
    out = s * p * c
    return float(out) if out.ndim == 0 else out


def acquisition_clv(model, new_customers, horizon: str | None = None) -> dict[str, float]:
    """Acquisition CLV from a dataset of the ``"new"`` cohort of :class:`~ltvkit.data.LTVTask`
    (customers whose first purchase is in the new-customer window): the mean predicted value
    of a new customer, the purchase rate (mean predicted ``p_active`` when the model has it,
    else the mean P(alive) of a BTYD model, else the share with a positive prediction) and the
    value per buyer (acquisition CLV / purchase rate), so that signups x purchase rate x value
    per buyer is the cohort's predicted value."""
    cohort = new_customers.meta.get("task", {}).get("cohort")
    if cohort != "new":
        raise ScoringError(f"new_customers: must be a dataset of the 'new' cohort, got cohort "
                           f"'{cohort}'")
    pred = model.predict(new_customers)
    j = pred.horizon_index(horizon)
    value = pred.value[:, j]
    if pred.p_active is not None:
        rate, source = float(np.mean(pred.p_active[:, j])), "p_active"
    elif "p_alive" in pred.extras:
        rate, source = float(np.mean(pred.extras["p_alive"])), "p_alive"
    else:
        rate, source = float(np.mean(value > 0)), "share of positive predictions"
    return {"horizon": pred.horizons[j], "customers": int(len(value)),
            "acquisition_clv": float(value.mean()), "purchase_rate": rate,
            "value_per_buyer": float(value.mean() / rate) if rate > 0 else float("nan"),
            "purchase_rate_from": source}


def _curve(form: str, s: np.ndarray, params: np.ndarray) -> np.ndarray:
    if form == "log":
        a, b = params
        return a * np.log1p(s / b)
    vmax, h, k = params
    sk = np.power(np.maximum(s, 0.0), k)
    return vmax * sk / (h ** k + sk)


def _slope(form: str, s: np.ndarray, params: np.ndarray) -> np.ndarray:
    if form == "log":
        a, b = params
        return a / (b + s)
    vmax, h, k = params
    s = np.maximum(np.asarray(s, dtype=np.float64), 1e-12)
    hk, sk = h ** k, s ** k
    return vmax * k * hk * sk / s / (hk + sk) ** 2


def _fit(form: str, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    scale_s, scale_v = float(np.median(s[s > 0])), float(np.max(v))
    if form == "log":
        x0 = np.log([scale_v / np.log1p(s.max() / scale_s), scale_s])
        fun = lambda z: _curve("log", s, np.exp(z)) - v  # noqa: E731
    else:
        x0 = np.log([scale_v * 1.5, scale_s, 0.8])
        fun = lambda z: _curve("hill", s, np.exp(z)) - v  # noqa: E731
    res = least_squares(fun, x0, method="lm", max_nfev=5000)
    return np.exp(res.x)


@dataclass
class SpendResponse:
    """The chosen response curve ``form`` with ``params`` (log: a, b; hill: vmax, h, k) and
    the cross-validated RMSE of every form tried."""

    form: str
    params: dict[str, float]
    cv_rmse: dict[str, float] = field(default_factory=dict)
    n: int = 0

    def _p(self) -> np.ndarray:
        return np.array(list(self.params.values()))

    def predict(self, spend) -> np.ndarray:
        return _curve(self.form, np.asarray(spend, dtype=np.float64), self._p())

    def marginal_return(self, spend) -> np.ndarray:
        """``V'(s)``: projected value of one more unit of spend."""
        return _slope(self.form, np.asarray(spend, dtype=np.float64), self._p())

    def marginal_roi(self, spend) -> np.ndarray:
        return self.marginal_return(spend) - 1.0

    def spend_for_marginal_roi(self, target: float = 0.0) -> float:
        """The spend at which the marginal ROI falls to ``target`` (0 = break-even on the last
        unit); 0 when even the first unit returns less."""
        from scipy.optimize import brentq

        goal = 1.0 + float(target)
        if goal <= 0:
            raise ScoringError(f"target: marginal ROI must be > -1, got {target}")
        if self.form == "log":
            a, b = self._p()
            return float(max(a / goal - b, 0.0))
        lo, hi = 1e-9, max(self.params["h"], 1.0)
        if self.marginal_return(lo) < goal:
            return 0.0
        while self.marginal_return(hi) > goal:
            hi *= 2.0
            if hi > 1e15:
                raise ScoringError("spend response: marginal return never falls to the target")
        return float(brentq(lambda x: float(self.marginal_return(x)) - goal, lo, hi))


def fit_spend_response(spend_table, forms=FORMS, n_folds: int = 5, seed: int = 0
                       ) -> SpendResponse:
    """Fit projected value = F(spend) on a table with columns ``spend`` and ``value`` (e.g.
    daily marketing spend and the predicted value of the customers acquired that day): every
    form in ``forms`` by least squares, chosen by ``n_folds``-fold cross-validated RMSE."""
    missing = [c for c in ("spend", "value") if c not in spend_table.columns]
    if missing:
        raise ScoringError(f"spend_table: missing required column(s) {missing}")
    s = spend_table["spend"].to_numpy(np.float64)
    v = spend_table["value"].to_numpy(np.float64)
    bad = int(np.sum(~np.isfinite(s) | ~np.isfinite(v) | (s < 0)))
    if bad:
        raise ScoringError(f"spend_table: spend must be finite and >= 0 and value finite, "
                           f"{bad} row(s) are not")
    if len(s) < 2 * n_folds or np.sum(s > 0) < 3:
        raise ScoringError(f"spend_table: needs at least {2 * n_folds} rows with 3 positive "
                           f"spends, got {len(s)}")
    unknown = [f for f in forms if f not in FORMS]
    if unknown:
        raise ScoringError(f"forms: unknown {unknown}, use {list(FORMS)}")
    folds = np.random.default_rng(seed).permutation(len(s)) % n_folds
    cv = {}
    for form in forms:
        err = []
        for k in range(n_folds):
            tr, te = folds != k, folds == k
            p = _fit(form, s[tr], v[tr])
            err.append(np.mean((_curve(form, s[te], p) - v[te]) ** 2))
        cv[form] = float(np.sqrt(np.mean(err)))
    best = min(cv, key=cv.get)
    p = _fit(best, s, v)
    names = ("a", "b") if best == "log" else ("vmax", "h", "k")
    return SpendResponse(form=best, params=dict(zip(names, map(float, p), strict=True)),
                         cv_rmse=cv, n=len(s))
