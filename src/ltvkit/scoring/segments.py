"""Customer segments: value segments (high / medium / low), RFM segments with named classes and
the segment x churn-risk matrix.

Value segments cut predicted value at quantiles learnt on the training predictions (or at fixed
thresholds) and are saved as ``segments.json`` beside the model, so a customer scored later gets
the segment the training-time boundaries give. The high / medium / low split and its use for
retention and upsell targeting follow "Deep learning for big data in CLV prediction"
(the segmentation section); RFM scores and named classes follow the style of pymc-marketing's
``rfm_segments`` (quantile scores of recency, frequency and monetary value mapped to named
classes by a configurable table).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltvkit.scoring.errors import ScoringError

SEGMENTS_FILE = "segments.json"
VALUE_LABELS = ("low", "medium", "high")


def _increasing(values: Sequence[float], what: str, lo: float | None = None,
                hi: float | None = None) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ScoringError(f"{what}: must be a non-empty list of finite numbers, got {v.tolist()}")
    bad = int(np.sum(np.diff(v) <= 0))
    if bad:
        raise ScoringError(f"{what}: must be strictly increasing, got {v.tolist()} "
                           f"({bad} step(s) not increasing)")
    if lo is not None and v[0] <= lo or hi is not None and v[-1] >= hi:
        raise ScoringError(f"{what}: must lie strictly between {lo} and {hi}, got {v.tolist()}")
    return v


@dataclass
class ValueSegments:
    """Value segments: ``labels[k]`` for values in ``[thresholds[k-1], thresholds[k])``.

    ``thresholds`` has one entry fewer than ``labels``; ``quantiles`` records the training
    quantiles they came from (``None`` for fixed thresholds); ``horizon`` the predicted horizon
    whose value is segmented.
    """

    thresholds: list[float]
    labels: list[str] = field(default_factory=lambda: list(VALUE_LABELS))
    quantiles: list[float] | None = None
    horizon: str | None = None
    n_train: int = 0

    def __post_init__(self) -> None:
        self.thresholds = [float(t) for t in self.thresholds]
        if len(self.labels) != len(self.thresholds) + 1:
            raise ScoringError(f"labels: need {len(self.thresholds) + 1} labels for "
                               f"{len(self.thresholds)} threshold(s), got {self.labels}")
        # Quantiles of a zero-heavy prediction may coincide; thresholds must not decrease.
        if np.any(np.diff(self.thresholds) < 0):
            raise ScoringError(f"thresholds: must not decrease, got {self.thresholds}")

    @classmethod
    def from_quantiles(cls, train_values: np.ndarray, quantiles: Sequence[float] = (0.5, 0.8),
                       labels: Sequence[str] = VALUE_LABELS, horizon: str | None = None
                       ) -> ValueSegments:
        """Cut at the ``quantiles`` of the training predictions (default: the bottom half is
        low, the next 30 % medium, the top 20 % high)."""
        q = _increasing(quantiles, "quantiles", 0.0, 1.0)
        v = np.asarray(train_values, dtype=np.float64)
        if v.size == 0:
            raise ScoringError("train_values: no training predictions to learn segments from")
        return cls(thresholds=np.quantile(v, q).tolist(), labels=list(labels),
                   quantiles=q.tolist(), horizon=horizon, n_train=int(v.size))

    @classmethod
    def from_thresholds(cls, thresholds: Sequence[float], labels: Sequence[str] = VALUE_LABELS,
                        horizon: str | None = None) -> ValueSegments:
        """Fixed value thresholds (in the label's currency), strictly increasing."""
        return cls(thresholds=_increasing(thresholds, "thresholds").tolist(),
                   labels=list(labels), horizon=horizon)

    def codes(self, values: np.ndarray) -> np.ndarray:
        """The position in ``labels`` of every value's segment (one binary search each)."""
        return np.searchsorted(np.asarray(self.thresholds), np.asarray(values, np.float64),
                               side="right")

    def assign(self, values: np.ndarray) -> np.ndarray:
        """The segment label of every value (object array)."""
        return np.asarray(self.labels, dtype=object)[self.codes(values)]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {"kind": "value", "thresholds": self.thresholds, "labels": self.labels,
                "quantiles": self.quantiles, "horizon": self.horizon, "n_train": self.n_train}

    def save(self, directory: str | Path) -> Path:
        """Write ``segments.json`` into ``directory`` (a saved model's directory)."""
        path = Path(directory) / SEGMENTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> ValueSegments | None:
        """The segments saved in ``directory``, or ``None`` when there are none."""
        path = Path(directory) / SEGMENTS_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(thresholds=data["thresholds"], labels=data["labels"],
                   quantiles=data.get("quantiles"), horizon=data.get("horizon"),
                   n_train=int(data.get("n_train", 0)))


def learn_segments(model, train, quantiles: Sequence[float] = (0.5, 0.8),
                   horizon: str | None = None, save: str | Path | None = None
                   ) -> ValueSegments:
    """Learn value segments on ``model``'s predictions for the training dataset ``train``
    (the predicted value of ``horizon``, default the first predicted horizon); with ``save``
    (a model directory) also write them there as ``segments.json``."""
    pred = model.predict(train)
    j = pred.horizon_index(horizon)
    seg = ValueSegments.from_quantiles(pred.value[:, j], quantiles,
                                       horizon=pred.horizons[j])
    if save is not None:
        seg.save(save)
    return seg


# --------------------------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------------------------

#: Named RFM classes, first match wins: {name: {"r"|"f"|"m": (lowest score, highest score)}};
#: scores run 1..n_scores, 5 = most recent / most frequent / highest spend.
DEFAULT_RFM_CLASSES: dict[str, dict[str, tuple[int, int]]] = {
    "champions": {"r": (4, 5), "f": (4, 5), "m": (4, 5)},
    "loyal": {"r": (3, 5), "f": (3, 5)},
    "potential loyalists": {"r": (4, 5), "f": (1, 2)},
    "at risk": {"r": (1, 2), "f": (3, 5)},
    "hibernating": {"r": (1, 2), "f": (1, 2)},
    "need attention": {"r": (3, 3), "f": (1, 2)},
}


def _score(values: np.ndarray, n_scores: int) -> np.ndarray:
    """Equal-count scores 1..n_scores (ties share a score), higher value -> higher score."""
    from ltvkit.targets import rank_groups

    return rank_groups(np.asarray(values, dtype=np.float64), n_scores) + 1


def rfm_segments(dataset, n_scores: int = 5,
                 classes: dict[str, dict[str, tuple[int, int]]] | None = None,
                 other: str = "others"):
    """RFM scores and named classes of every sample of ``dataset``.

    Recency is ``days_since_last_purchase`` (fewer days = higher score), frequency
    ``purchase_days``, monetary ``monetary_mean``, read through the layout (the target domain's
    on a cross-domain dataset). Returns a DataFrame: customer_id, cutoff, recency_days,
    frequency, monetary, r, f, m, rfm (e.g. ``"545"``), rfm_segment.
    """
    import pandas as pd

    if int(n_scores) < 2:
        raise ScoringError(f"n_scores: must be >= 2, got {n_scores}")
    classes = DEFAULT_RFM_CLASSES if classes is None else classes
    recency = dataset.target_feature("days_since_last_purchase").astype(np.float64)
    freq = dataset.target_feature("purchase_days").astype(np.float64)
    money = np.nan_to_num(dataset.target_feature("monetary_mean").astype(np.float64))
    r, f, m = _score(-recency, n_scores), _score(freq, n_scores), _score(money, n_scores)
    scores = {"r": r, "f": f, "m": m}
    name = np.full(len(r), other, dtype=object)
    free = np.ones(len(r), dtype=bool)
    for label, rule in classes.items():
        hit = free.copy()
        for key, (lo, hi) in rule.items():
            if key not in scores:
                raise ScoringError(f"classes['{label}']: unknown score '{key}' "
                                   "(use r, f or m)")
            hit &= (scores[key] >= lo) & (scores[key] <= hi)
        name[hit] = label
        free &= ~hit
    return pd.DataFrame({
        "customer_id": dataset.customer_id.astype(str),
        "cutoff": dataset.cutoff.astype("datetime64[D]"),
        "recency_days": recency, "frequency": freq, "monetary": money,
        "r": r, "f": f, "m": m,
        "rfm": [f"{a}{b}{c}" for a, b, c in zip(r, f, m, strict=True)],
        "rfm_segment": name})


# --------------------------------------------------------------------------------------------
# segment x churn risk
# --------------------------------------------------------------------------------------------


def churn_risk(p_active: np.ndarray, thresholds: Sequence[float] = (0.3, 0.7)) -> np.ndarray:
    """Churn-risk level from the probability of any purchase (or P(alive)): ``"high"`` below
    the first threshold, ``"medium"`` up to the second, ``"low"`` above."""
    t = _increasing(thresholds, "risk thresholds", 0.0, 1.0)
    if len(t) != 2:
        raise ScoringError(f"risk thresholds: need 2 values, got {list(t)}")
    k = np.searchsorted(t, np.asarray(p_active, np.float64), side="right")
    return np.array(["high", "medium", "low"], dtype=object)[k]


def segment_risk_matrix(scored, value_col: str | None = None, prob_col: str | None = None,
                        thresholds: Sequence[float] = (0.3, 0.7)):
    """The value segment x churn-risk matrix of a scored base: customers, predicted value and
    the mean probability per cell. The high-value / high-risk cell is the retention list.

    ``prob_col`` defaults to ``p_alive`` (BTYD) else the first ``p_active_<h>`` column.
    Returns a DataFrame with columns segment, churn_risk, customers, value, mean_probability.
    """
    import pandas as pd

    need = ["segment"]
    value_col = value_col or next((c for c in scored.columns if c.startswith("value_")), None)
    if prob_col is None:
        prob_col = "p_alive" if "p_alive" in scored.columns else next(
            (c for c in scored.columns if c.startswith("p_active_")), None)
    if prob_col is None:
        raise ScoringError("scored base: has no p_active_<h> or p_alive column, so there is no "
                           "churn risk (score with a model that predicts p_active)")
    need += [c for c in (value_col, prob_col) if c is not None]
    missing = [c for c in need if c not in scored.columns]
    if missing or value_col is None:
        raise ScoringError(f"scored base: missing required column(s) {missing or ['value_<h>']}")
    frame = pd.DataFrame({"segment": scored["segment"].to_numpy(),
                          "churn_risk": churn_risk(scored[prob_col].to_numpy(), thresholds),
                          "value": scored[value_col].to_numpy(np.float64),
                          "p": scored[prob_col].to_numpy(np.float64)})
    out = frame.groupby(["segment", "churn_risk"], sort=False).agg(
        customers=("value", "size"), value=("value", "sum"), mean_probability=("p", "mean"))
    out = out.reset_index()
    order = {"high": 0, "medium": 1, "low": 2}
    key = out["segment"].map(order).fillna(3) * 10 + out["churn_risk"].map(order)
    return out.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def segment_table(scored, value_col: str | None = None, truth_col: str | None = None):
    """Per value segment: customers, share, predicted value (total, mean, share of total) and,
    with ``truth_col`` (e.g. ``y_true_<h>``), the realised value."""
    import pandas as pd

    value_col = value_col or next((c for c in scored.columns if c.startswith("value_")), None)
    missing = [c for c in ("segment", value_col, truth_col) if c is not None and
               c not in scored.columns]
    if missing or value_col is None:
        raise ScoringError(f"scored base: missing required column(s) {missing or ['value_<h>']}")
    cols = {"segment": scored["segment"].to_numpy(), "v": scored[value_col].to_numpy(float)}
    if truth_col:
        cols["y"] = scored[truth_col].to_numpy(float)
    frame = pd.DataFrame(cols)
    agg = {"customers": ("v", "size"), "predicted_total": ("v", "sum"),
           "predicted_mean": ("v", "mean")}
    if truth_col:
        agg.update(realised_total=("y", "sum"), realised_mean=("y", "mean"))
    out = frame.groupby("segment", sort=False).agg(**agg).reset_index()
    out.insert(2, "share", out["customers"] / len(frame))
    out["predicted_share_of_value"] = out["predicted_total"] / max(frame["v"].sum(), 1e-300)
    if truth_col:
        out["realised_share_of_value"] = out["realised_total"] / max(frame["y"].sum(), 1e-300)
    return out.sort_values("predicted_mean", ascending=False, ignore_index=True)
