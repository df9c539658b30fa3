"""Hierarchical T-period prediction: a short-horizon model extrapolated to the long horizon.

Anitha Kumari et al. ("Deep Learning Models for Customer Lifetime Value Prediction in
E-commerce", IEEE ICRTCST 2024) predict a long horizon ``T`` from a model of a short horizon
``T'``, because at prediction time the ``T'`` labels of recent cohorts exist while the ``T``
labels exist only for older cutoffs. :func:`compare_horizons` reproduces that situation on one
log. The test customers are scored at ``cutoff`` on their ``T`` labels; "now" is
``cutoff + T'``, so what a model may learn from is:

- ``direct``: a model of the ``T`` label fitted at the newest cutoff whose ``T`` labels exist
  by then, ``old = cutoff + T' - T`` (features at ``old``), applied at ``cutoff``;
- ``hierarchical (global ratio)``: a model of the ``T'`` label fitted at ``cutoff``, times the
  ratio ``sum y_T / sum y_T'`` of the training customers at ``old``;
- ``hierarchical (ratio model)``: the same ``T'`` model; its prediction and the features go
  into a LightGBM ratio model fitted at ``old`` on the out-of-fold ``T'`` predictions of a
  ``T'`` model fitted at ``old`` (so the ratio model is trained on predictions, as it is used);
- ``btyd``: BG/NBD + Gamma-Gamma fitted at ``cutoff`` (no labels), extrapolated to ``T``;
- ``same-cutoff T (not available at 'now')``: a model of the ``T`` label at ``cutoff`` on the
  training customers, the usual benchmark, whose labels lie in the future at "now": an upper
  reference, not a competitor.

Every variant is scored on the same test customers with :func:`ltvkit.metrics.evaluate`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from ltvkit.data import build_dataset
from ltvkit.data.dataset import LTVDataset
from ltvkit.data.layout import Horizon
from ltvkit.data.task import LTVTask
from ltvkit.errors import LTVError
from ltvkit.metrics import evaluate


def _by_customers(data: LTVDataset, customers: set[str]) -> LTVDataset:
    ids = data.customer_id.astype(str)
    return data.subset(np.fromiter((c in customers for c in ids), bool, len(ids)))


def _ids(data: LTVDataset) -> set[str]:
    return set(data.customer_id.astype(str))


def _oof_predictions(model_name: str, params: dict[str, Any], data: LTVDataset, k: int,
                     seed: int) -> np.ndarray:
    from ltvkit.models import create_model
    from ltvkit.models.base.ensemble import customer_folds

    fold = customer_folds(data, k, seed)
    out = np.zeros(len(data))
    for i in range(k):
        model = create_model(model_name, **params).fit(data.subset(fold != i), None)
        out[fold == i] = model.predict(data.subset(fold == i)).value[:, 0]
    return out


def compare_horizons(log: Any, task: LTVTask, *, short: str = "91D", long: str = "273D",
                     model: str = "lgbm", params: dict[str, Any] | None = None,
                     seed: int = 0, attributes: Any = None,
                     attribute_customer_col: str = "customer_id") -> list[dict[str, Any]]:
    """The variants of the module docstring at ``task.cutoff``; one record per variant with
    ``model`` (a label), ``variant`` (``reference``, ``direct``,
    ``hierarchical_global_ratio``, ``hierarchical_ratio_model``, ``btyd``), ``seed``,
    ``n_test`` and ``metrics`` (of the ``long`` horizon on the test customers)."""
    from ltvkit.models import create_model, get_model_class
    from ltvkit.models.base import lgbm as common

    if task.cutoff is None:
        raise LTVError("compare_horizons needs a task with one cutoff")
    t_short, t_long = Horizon.parse(short), Horizon.parse(long)
    if t_short.days >= t_long.days:
        raise LTVError(f"the short horizon {short} must be shorter than the long one {long}")
    cutoff = np.datetime64(task.cutoff, "D")
    old = str(cutoff + np.timedelta64(t_short.days - t_long.days, "D"))
    params = dict(params or {})
    if "random_state" in get_model_class(model)._param_names():
        params.setdefault("random_state", seed)

    def build(at: str, horizon: str) -> LTVDataset:
        return build_dataset(log, dataclasses.replace(task, cutoff=at, horizons=(horizon,)),
                             attributes, attribute_customer_col=attribute_customer_col)

    now_short, now_long = build(str(cutoff), short), build(str(cutoff), long)
    old_short, old_long = build(old, short), build(old, long)
    train, valid, test = now_long.split_customers(seed=seed)
    train_c, valid_c = _ids(train), _ids(valid)
    y_test = test.labels_for(long)
    records: list[dict[str, Any]] = []

    clock = {"t": time.perf_counter()}

    def add(variant: str, name: str, pred: np.ndarray, **extra: Any) -> None:
        """Record a variant; ``fit_seconds`` is the time since the previous record."""
        now = time.perf_counter()
        seconds, clock["t"] = round(now - clock["t"], 3), now
        records.append({"model": name, "variant": variant, "seed": seed,
                        "fit_seconds": seconds,
                        "metrics": evaluate(y_test, pred), "n_test": len(pred),
                        "n_train": extra.pop("n_train", len(train)), **extra})

    # same cutoff, T labels (future at "now"): the usual benchmark
    ref = create_model(model, **params).fit(train, valid)
    add("reference", f"{model} T={long} at cutoff (labels not available at 'now')",
        ref.predict(test).value[:, 0])
    # direct: T labels at the old cutoff
    old_train, old_valid = _by_customers(old_long, train_c), _by_customers(old_long, valid_c)
    direct = create_model(model, **params).fit(old_train, old_valid if len(old_valid) else None)
    test_at_cutoff = _by_customers(now_long, _ids(test))
    add("direct", f"{model} direct T={long} at {old}", direct.predict(test_at_cutoff).value[:, 0],
        n_train=len(old_train))
    # hierarchical: T' model at the cutoff
    short_model = create_model(model, **params).fit(_by_customers(now_short, train_c),
                                                    _by_customers(now_short, valid_c))
    test_short = _by_customers(now_short, _ids(test))
    y_short_hat = short_model.predict(test_short).value[:, 0]
    old_short_train = _by_customers(old_short, train_c)
    ys_old, yl_old = old_short_train.labels_for(short), old_train.labels_for(long)
    ratio = float(yl_old.sum() / max(ys_old.sum(), 1e-12))
    add("hierarchical_global_ratio", f"{model} hierarchical T'={short} x global ratio", ratio * y_short_hat,
        ratio=ratio)
    oof = _oof_predictions(model, params, old_short_train, 3, seed)
    x_old = np.column_stack([common.design_matrix(old_short_train), oof])
    n_feat = len(old_short_train.feature_names)
    names = common.column_names(old_short_train.feature_names,
                                old_short_train.categorical_names) + ["short_horizon_pred"]
    booster = common.train_booster(
        {"objective": "tweedie", "learning_rate": 0.05, "num_leaves": 15,
         "min_data_in_leaf": 100, "seed": seed, "deterministic": True, "force_row_wise": True,
         "num_threads": common.lgbm_threads(params.get("n_threads")), "verbosity": -1},
        x_old, yl_old, names=names,
        categorical=list(range(n_feat, n_feat + len(old_short_train.categorical_names))),
        n_estimators=300)
    if not np.array_equal(test_short.customer_id, test.customer_id) or not np.array_equal(
            old_short_train.customer_id, old_train.customer_id):
        raise LTVError("the short- and long-horizon datasets list customers in different orders")
    x_test = np.column_stack([common.design_matrix(test_short), y_short_hat])
    add("hierarchical_ratio_model", f"{model} hierarchical T'={short} x ratio model", booster.predict(x_test))
    # BTYD extrapolation at the cutoff (no labels)
    btyd = create_model("bgnbd").fit(train, None)
    add("btyd", f"bgnbd T={long} at cutoff", btyd.predict(test).value[:, 0])
    return records
