"""SHAP explanations of ltvkit models (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ltvkit.errors import DataValidationError, ModelError


def _shap():
    try:
        import shap
    except ImportError:  # pragma: no cover - the explain extra is missing
        raise ModelError("explanations need SHAP: pip install 'ltvkit[explain]'") from None
    return shap


@dataclass
class Explanation:
    """Per-sample SHAP values ``values`` [n, M] over ``feature_names`` [M], ``base_value``
    (the expected output over the background), the explained ``output`` ("raw score" of a
    booster or "value" of a horizon), ``method`` and the inputs ``data`` [n, M]."""

    customer_id: np.ndarray
    cutoff: np.ndarray
    feature_names: list[str]
    values: np.ndarray
    base_value: float
    data: np.ndarray
    method: str
    output: str

    def to_frame(self):
        """One row per sample: customer_id, cutoff, one column per input, base_value."""
        import pandas as pd

        frame = pd.DataFrame(self.values, columns=self.feature_names)
        frame.insert(0, "customer_id", self.customer_id.astype(str))
        frame.insert(1, "cutoff", self.cutoff.astype("datetime64[D]").astype("datetime64[s]"))
        frame["base_value"] = self.base_value
        return frame


def _sequence_names(data) -> list[str]:
    t = data.sequences.shape[1]
    return [f"seq:{ch}@t-{t - 1 - k}" for k in range(t) for ch in data.channel_names]


def _inputs(model, data) -> tuple[np.ndarray, list[str], bool]:
    """The model's inputs as one matrix: features, categorical codes and (sequence models)
    every (period, channel) cell."""
    with_seq = bool(model.tag("needs_sequences")) and data.sequences.size > 0
    blocks = [data.features.astype(np.float64), data.categorical.astype(np.float64)]
    names = list(data.feature_names) + list(data.categorical_names)
    if with_seq:
        blocks.append(data.sequences.reshape(len(data), -1).astype(np.float64))
        names += _sequence_names(data)
    return np.hstack(blocks), names, with_seq


def _rebuild(template, x: np.ndarray, with_seq: bool):
    """A dataset of ``len(x)`` samples whose inputs are the rows of ``x``."""
    n, f, k = len(x), len(template.feature_names), len(template.categorical_names)
    data = template.subset(np.zeros(n, dtype=np.int64))
    data.features = x[:, :f].astype(np.float32)
    data.categorical = np.rint(x[:, f:f + k]).astype(np.int64)
    if with_seq:
        data.sequences = x[:, f + k:].reshape(n, *template.sequences.shape[1:]).astype(
            np.float32)
    return data


def explain(model, data, *, max_samples: int | None = None, background: int = 100,
            horizon: str | None = None, seed: int = 0, method: str = "auto",
            max_evals: int | None = None) -> Explanation:
    """SHAP values of ``model`` on ``data`` (at most ``max_samples`` samples, drawn with
    ``seed``). ``method``: ``"tree"`` (exact TreeSHAP, LightGBM only), ``"permutation"``
    (model-agnostic, ``background`` samples as the masker's background) or ``"auto"``."""
    shap = _shap()
    data = model._prediction_data(data)
    rng = np.random.default_rng(seed)
    if max_samples is not None and len(data) > max_samples:
        data = data.subset(np.sort(rng.choice(len(data), max_samples, replace=False)))
    booster = getattr(model, "booster_", None)
    if method == "auto":
        method = "tree" if booster is not None and model.name == "lgbm" else "permutation"
    if method == "tree":
        if booster is None:
            raise ModelError(f"{model.name}: exact TreeSHAP needs a LightGBM model; use "
                             "method='permutation'")
        x, names, _ = _inputs(model, data)
        explainer = shap.TreeExplainer(booster)
        values = np.asarray(explainer.shap_values(x), dtype=np.float64)
        base = float(np.ravel(explainer.expected_value)[0])
        return Explanation(data.customer_id, data.cutoff, names, values, base, x,
                           "tree", "raw score")
    if method != "permutation":
        raise DataValidationError(f"method: must be auto, tree or permutation, got '{method}'")
    x, names, with_seq = _inputs(model, data)
    j = list(data.horizons).index(horizon) if horizon else 0
    groups = _groups(model, names)
    template = data.subset(np.arange(1))
    bg_rows = np.sort(rng.choice(len(x), min(background, len(x)), replace=False))
    # Each input group is masked as a whole: the explained matrix holds, per group, the row
    # of `table` (the samples, then the background) whose values the group takes, so coupled
    # inputs (a BTYD model's frequency, recency and T) always come from one real customer.
    table = np.vstack([x, x[bg_rows]])
    z = np.repeat(np.arange(len(x), dtype=np.float64)[:, None], len(groups), axis=1)
    z_bg = np.repeat((len(x) + np.arange(len(bg_rows), dtype=np.float64))[:, None],
                     len(groups), axis=1)

    def f(rows: np.ndarray) -> np.ndarray:
        idx = rows.astype(np.int64)
        full = np.empty((len(rows), x.shape[1]))
        for g, cols in enumerate(groups):
            full[:, cols] = table[idx[:, g]][:, cols]
        return model.predict(_rebuild(template, full, with_seq)).value[:, j]

    masker = shap.maskers.Independent(z_bg, max_samples=len(z_bg))
    explainer = shap.PermutationExplainer(f, masker, seed=seed)
    result = explainer(z, max_evals=max_evals or 2 * len(groups) + 1, silent=True)
    base = float(np.ravel(result.base_values)[0])
    group_names = ["+".join(names[c] for c in cols) for cols in groups]
    group_data = np.column_stack([x[:, cols[0]] for cols in groups])
    return Explanation(data.customer_id, data.cutoff, group_names,
                       np.asarray(result.values, dtype=np.float64), base, group_data,
                       "permutation", f"value {data.horizons[j]}")


#: Inputs a BTYD model reads together (frequency = 0 forces recency = 0, recency <= T):
#: masked as one group so every evaluated combination is a valid customer history.
BTYD_COUPLED = ("frequency", "recency_days", "T_days")


def _groups(model, names: list[str]) -> list[list[int]]:
    coupled = [names.index(n) for n in BTYD_COUPLED if n in names] \
        if hasattr(model, "purchase_params_") else []
    groups = [coupled] if coupled else []
    groups += [[i] for i in range(len(names)) if i not in coupled]
    return groups


def global_importance(expl: Explanation):
    """Mean |SHAP| per input, largest first: feature, mean_abs_shap, share."""
    import pandas as pd

    imp = np.abs(expl.values).mean(axis=0)
    frame = pd.DataFrame({"feature": expl.feature_names, "mean_abs_shap": imp,
                          "share": imp / max(imp.sum(), 1e-300)})
    return frame.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def top_reasons(expl: Explanation, k: int = 3):
    """Per sample the ``k`` inputs with the largest |SHAP|: ``reason_<i>`` (the input's name
    with the sign of its push, e.g. ``"monetary_mean +"``) and ``reason_<i>_shap``."""
    import pandas as pd

    k = min(int(k), expl.values.shape[1])
    order = np.argsort(-np.abs(expl.values), axis=1, kind="stable")[:, :k]
    names = np.asarray(expl.feature_names, dtype=object)
    cols: dict[str, Any] = {}
    for i in range(k):
        v = np.take_along_axis(expl.values, order[:, i:i + 1], axis=1)[:, 0]
        cols[f"reason_{i + 1}"] = [f"{n} {'+' if s >= 0 else '-'}"
                                   for n, s in zip(names[order[:, i]], v, strict=True)]
        cols[f"reason_{i + 1}_shap"] = v
    return pd.DataFrame(cols)


def dependence(expl: Explanation, feature: str):
    """Dependence data of one input for a plot: its value and SHAP value per sample."""
    import pandas as pd

    if feature not in expl.feature_names:
        raise DataValidationError(f"feature: '{feature}' is not an explained input "
                                  f"(have {expl.feature_names[:8]}...)")
    j = expl.feature_names.index(feature)
    return pd.DataFrame({"value": expl.data[:, j], "shap": expl.values[:, j]})
