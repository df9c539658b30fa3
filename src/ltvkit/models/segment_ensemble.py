"""``segment_ensemble``: one model per customer segment, the segment key chosen from the
residuals of a global base model (the "ensembled customer segment model" of Anitha Kumari et
al.).

1. A global ``base_model`` is fitted on the training set.
2. Its residuals ``y - f(x)`` on the validation set (the training set without one) are
   grouped by every candidate key: the past-spend size class (``monetary_total`` cut at the
   50 / 80 / 95 % quantiles of the training buyers, class 0 = no past spend) and each
   categorical attribute. The key whose segment means explain the largest share of the squared
   residuals (``sum_s n_s mean_s^2 / sum r^2``) is chosen; the table of residuals by segment
   of every key is kept as ``segment_table_`` (fit info, saved in the config).
3. Every segment of the chosen key with at least ``min_segment_size`` training samples gets
   its own model (same class and parameters, fitted on the segment's samples); smaller
   segments and unseen ones fall back to the global model.

References
----------
.. [1] Anitha Kumari, D., Siddiqui, M. S., Dorbala, R., Megala, R., Rao, K. T. V.,
   Reddy, N. S. (2024). "Deep Learning Models for Customer Lifetime Value Prediction
   in E-commerce." IEEE ICRTCST 2024, doi:10.1109/ICRTCST61793.2024.10578372.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import LTVError, ModelError
from ltvkit.models.base.ensemble import EnsembleModel
from ltvkit.models.registry import register
from ltvkit.prediction import PredictionParts

SPEND_KEY = "spend_size"
SPEND_FEATURE = "monetary_total"
SPEND_QUANTILES = (0.5, 0.8, 0.95)


def _past_spend(data: LTVDataset) -> np.ndarray | None:
    """The target domain's past spend [n] (NaN as 0), or None when the dataset has none."""
    try:
        return np.nan_to_num(data.target_feature(SPEND_FEATURE), nan=0.0)
    except (KeyError, ValueError, LTVError):
        return None


@register
class SegmentEnsemble(EnsembleModel):
    name = "segment_ensemble"

    def __init__(self, base_model: str = "lgbm",
                 base_params: dict[str, dict[str, Any]] | None = None,
                 min_segment_size: int = 1000, segment_key: str | None = None,
                 random_state: int = 0, n_threads: int | None = None):
        self.base_model = base_model
        self.base_params = base_params
        self.min_segment_size = min_segment_size
        self.segment_key = segment_key
        self.random_state = random_state
        self.n_threads = n_threads
        super().__init__()

    @property
    def base_models(self) -> tuple[str, ...]:
        return (self.base_model,)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        tiny = {"n_estimators": 20, "num_leaves": 7, "learning_rate": 0.1, "n_threads": 1}
        return [{"base_params": {"lgbm": tiny}, "min_segment_size": 300, "n_threads": 1}]

    def _validate_params(self) -> None:
        super()._validate_params()
        if int(self.min_segment_size) < 1:
            raise ModelError(f"{self.name}: min_segment_size must be >= 1, "
                             f"got {self.min_segment_size}")

    # ------------------------------------------------------------------ segments
    def _keys(self, data: LTVDataset) -> dict[str, np.ndarray]:
        """[n] integer segment of every candidate key."""
        keys: dict[str, np.ndarray] = {}
        if self.spend_edges_ is not None:
            spend = _past_spend(data)
            keys[SPEND_KEY] = np.where(spend > 0, 1 + np.searchsorted(self.spend_edges_, spend,
                                                                      side="right"), 0)
        for j, name in enumerate(data.categorical_names):
            keys[name] = data.categorical[:, j].astype(np.int64)
        return keys

    def _fit(self, train: LTVDataset, valid: LTVDataset | None) -> None:
        horizon = self.horizons_[0]
        self.spend_edges_ = None
        spend = _past_spend(train)
        if spend is not None:
            buyers = spend[spend > 0]
            if len(buyers):
                self.spend_edges_ = np.quantile(buyers, SPEND_QUANTILES).astype(np.float64)
        glob = self.make_member(self.base_model).fit(train, valid)
        probe = valid if valid is not None else train
        resid = probe.labels_for(horizon) - self.member_values([glob], probe, horizon)[:, 0]
        total = max(float(np.sum(resid ** 2)), 1e-12)
        table, explained = [], {}
        for key, seg in self._keys(probe).items():
            share = 0.0
            for s in np.unique(seg):
                r = resid[seg == s]
                share += len(r) * float(r.mean()) ** 2 / total
                table.append({"key": key, "segment": int(s), "n": int(len(r)),
                              "mean_residual": float(r.mean()),
                              "rmse": float(np.sqrt(np.mean(r ** 2)))})
            explained[key] = share
        if self.segment_key is not None:
            if self.segment_key not in explained:
                raise ModelError(f"{self.name}: segment_key '{self.segment_key}' is not a "
                                 f"candidate; candidates: {sorted(explained)}")
            chosen = self.segment_key
        else:
            chosen = max(explained, key=lambda k: (explained[k], k)) if explained else None
        self.chosen_key_ = chosen
        self.explained_share_ = explained
        self.segment_table_ = table
        self.segments_: list[int] = []
        members = [glob]
        if chosen is not None:
            seg_train = self._keys(train)[chosen]
            seg_valid = self._keys(valid)[chosen] if valid is not None else None
            for s in np.unique(seg_train):
                mask = seg_train == s
                if mask.sum() < int(self.min_segment_size) or mask.all():
                    continue
                if not np.any(train.labels_for(horizon)[mask] > 0):
                    continue
                v = None
                if seg_valid is not None and (seg_valid == s).sum() >= 50:
                    v = valid.subset(seg_valid == s)
                members.append(self.make_member(self.base_model).fit(train.subset(mask), v))
                self.segments_.append(int(s))
        self.members_ = members

    def _predict(self, data: LTVDataset) -> PredictionParts:
        horizon = self.horizons_[0]
        value = self.member_values([self.members_[0]], data, horizon)[:, 0]
        if self.segments_:
            seg = self._keys(data)[self.chosen_key_]
            for s, model in zip(self.segments_, self.members_[1:], strict=True):
                mask = seg == s
                if mask.any():
                    value[mask] = self.member_values([model], data.subset(mask), horizon)[:, 0]
        return PredictionParts(value=value)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {} if self.spend_edges_ is None else {"spend_edges": self.spend_edges_}
        return ({"chosen_key": self.chosen_key_, "segments": self.segments_,
                 "explained_share": self.explained_share_,
                 "segment_table": self.segment_table_}, arrays)

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.chosen_key_ = state["chosen_key"]
        self.segments_ = [int(s) for s in state["segments"]]
        self.explained_share_ = dict(state["explained_share"])
        self.segment_table_ = list(state["segment_table"])
        self.spend_edges_ = arrays.get("spend_edges")
