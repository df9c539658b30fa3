"""The MLflow extra: an ltvkit model logged as a pyfunc to a local file store, loaded back by
MLflow, predicts what `ltv predict` predicts on the same CDNOW history and cutoff. Skipped when
mlflow is not installed (it is not in the test extra)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")

from _serve import CUTOFF, ltv, prepare_and_train  # noqa: E402


def test_pyfunc_predictions_equal_ltv_predict(tmp_path, monkeypatch):
    from ltvkit.integrations.mlflow import log_model

    model = prepare_and_train(tmp_path, "lgbm", '{"n_estimators": 40, "n_threads": 1}')
    out = tmp_path / "pred.parquet"
    res = ltv("predict", "--model", str(model), "--data", str(tmp_path / "dataset"),
              "--out", str(out))
    assert res.returncode == 0, res.stderr
    expected = pd.read_parquet(out).set_index("customer_id")["y_pred"]

    # A local file store (MLflow 3 asks for an opt-in; a database store needs SQLAlchemy).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run():
        info = log_model(model)
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    history = pd.read_csv(tmp_path / "cdnow.csv", dtype={"customer_id": str})
    ids = history["customer_id"].unique()[::60]
    frame = history[history["customer_id"].isin(set(ids))]
    got = pyfunc.predict(frame.assign(cutoff=CUTOFF))  # the cutoff as a constant column
    assert list(got.columns[:4]) == ["customer_id", "cutoff", "horizon", "value"]
    assert set(got["horizon"]) == {"90D"}
    got = got.set_index("customer_id")["value"]
    assert len(got) > 0.9 * len(ids)
    np.testing.assert_array_equal(got.to_numpy(), expected.loc[got.index].to_numpy())
