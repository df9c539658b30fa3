"""Log an ltvkit model as an MLflow pyfunc (the ``mlflow`` extra: ``pip install 'ltvkit[mlflow]'``).

The pyfunc takes a transactions DataFrame (``customer_id``, ``timestamp``, ``amount`` and
optionally ``order_id``; the cutoff as a constant ``cutoff`` column, default today) and scores it by the path
of ``ltv serve``: the training task from ``training.json`` at the cutoff, the features of
``ltv prepare``, the model's ``predict``. It returns one row per (customer, horizon): ``value``
and, when the model has them, ``p_active`` and the quantile columns (``q10``, ``q50``,
``q90``). Customers without a purchase on or before the cutoff are left out.

The model directory must come from ``ltv train`` (it holds ``training.json``); it is logged as
an artifact as it is, so the MLflow copy loads with :func:`ltvkit.models.load_model` too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ltvkit.errors import LTVError

ARTIFACT = "ltv_model"


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise LTVError("the MLflow integration needs the mlflow extra: "
                       "pip install 'ltvkit[mlflow]'") from None
    return mlflow


def _python_model_class():
    mlflow = _mlflow()

    class LTVPyfunc(mlflow.pyfunc.PythonModel):
        """An ltvkit model behind MLflow's pyfunc interface."""

        def load_context(self, context) -> None:
            from ltvkit.service.scoring import LoadedModel

            self.loaded = LoadedModel.load(context.artifacts[ARTIFACT])

        def predict(self, context, model_input, params: dict[str, Any] | None = None):
            return score_frame(self.loaded, model_input, (params or {}).get("cutoff"))

    return LTVPyfunc


def score_frame(loaded, frame, cutoff: str | None = None):
    """Scores of the transactions in ``frame`` (see the module docstring) as a long frame."""
    import pandas as pd

    from ltvkit.service.scoring import RequestError, check_cutoff

    missing = [c for c in ("customer_id", "timestamp", "amount") if c not in frame.columns]
    if missing:
        raise RequestError(f"model input: missing column(s) {missing} (rule: customer_id, "
                           "timestamp, amount)", field=missing[0], rule="column exists")
    if cutoff is None and "cutoff" in frame.columns:
        values = frame["cutoff"].astype(str).unique()
        if len(values) != 1:
            raise RequestError(f"model input: {len(values)} different cutoffs (rule: one per "
                               "call)", field="cutoff", rule="one cutoff")
        cutoff = values[0]
    day = check_cutoff(None if cutoff is None else dt.date.fromisoformat(str(cutoff)[:10]))
    has_order = "order_id" in frame.columns
    customers = []
    times = pd.to_datetime(frame["timestamp"])
    for cid, rows in frame.assign(_ts=times).groupby(frame["customer_id"].astype(str),
                                                     sort=False):
        customers.append({"customer_id": cid, "transactions": [
            {"timestamp": t.to_pydatetime(), "amount": float(a),
             "order_id": None if not has_order else str(o)}
            for t, a, o in zip(rows["_ts"], rows["amount"],
                               rows["order_id"] if has_order else [None] * len(rows),
                               strict=True)]})
    out = []
    for result in loaded.score(customers, day):
        for s in result["scores"]:
            row = {"customer_id": result["customer_id"], "cutoff": day.isoformat(),
                   "horizon": s["horizon"], "value": s["value"]}
            if s.get("p_active") is not None:
                row["p_active"] = s["p_active"]
            row.update(s.get("quantiles") or {})
            out.append(row)
    return pd.DataFrame(out)


def log_model(model_dir: str | Path, name: str = "model", **kwargs: Any):
    """Log the model saved by ``ltv train`` in ``model_dir`` to the active MLflow run as a
    pyfunc; ``kwargs`` go to ``mlflow.pyfunc.log_model``. Returns its model info."""
    mlflow = _mlflow()
    src = Path(model_dir)
    from ltvkit.service.scoring import LoadedModel

    LoadedModel.load(src)  # fail here, with the reason, rather than at serving time
    import inspect

    # MLflow 3 names a logged model by ``name``, earlier versions by ``artifact_path``.
    key = "name" if "name" in inspect.signature(mlflow.pyfunc.log_model).parameters else (
        "artifact_path")
    return mlflow.pyfunc.log_model(**{key: name}, python_model=_python_model_class()(),
                                   artifacts={ARTIFACT: str(src)}, **kwargs)
