"""The service's scoring path (scoring.LoadedModel, what /v1/score calls) for models trained with
quantity and category columns and for a cross-domain model (Olist, sales + logistics): the
scores equal `ltv predict` on the same history exactly, and fields the model was not trained
with are refused with the field and the rule."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

from _serve import ltv  # noqa: E402
from ltvkit.service.scoring import LoadedModel, RequestError  # noqa: E402


def _train_and_predict(root: Path, csv: Path, prepare_args: list[str]) -> tuple[Path, pd.Series]:
    data, model, out = root / "ds", root / "model", root / "pred.parquet"
    for args in (["prepare", str(csv), "--out", str(data), *prepare_args],
                 ["train", "--data", str(data), "--model", "lgbm", "--out", str(model),
                  "--params", json.dumps({"n_estimators": 40, "n_threads": 1})],
                 ["predict", "--model", str(model), "--data", str(data), "--out", str(out)]):
        res = ltv(*args)
        assert res.returncode == 0, res.stderr
    return model, pd.read_parquet(out).set_index("customer_id")["y_pred"]


def _requests(frame: pd.DataFrame, ids, fields: dict[str, str]) -> list[dict]:
    rows = frame[frame["customer_id"].isin(set(ids))]
    out = []
    for cid, g in rows.groupby("customer_id", sort=False):
        out.append({"customer_id": cid, "transactions": [
            {"timestamp": t.to_pydatetime(), "amount": float(a),
             **{key: (None if pd.isna(v) else v) for key, v in
                zip(fields, vals, strict=True)}}
            for t, a, *vals in zip(g["timestamp"], g["amount"],
                                   *[g[col] for col in fields.values()], strict=True)]})
    return out


def _equal(scored: list[dict], expected: pd.Series, min_scored: int) -> None:
    got = {r["customer_id"]: r["scores"][0]["value"] for r in scored if r["status"] == "scored"}
    assert [r["status"] for r in scored] == ["scored" if r["customer_id"] in expected.index
                                             else "no_history" for r in scored]
    assert len(got) >= min_scored
    values = np.array(list(got.values()))
    np.testing.assert_array_equal(values, expected.loc[list(got)].to_numpy())
    assert values.std() > 0


def test_quantity_and_category_model_scores_equal_ltv_predict(tmp_path):
    from ltvkit.datasets import get_dataset

    log = get_dataset("cdnow").load_log()
    frame = log.con.execute(f"SELECT 'c' || customer_id AS customer_id, ts AS timestamp, amount, "
                            f"quantity FROM {log.table}").df()
    # A generated category per row (CDNOW has none); some quantities missing.
    frame["category"] = np.where(frame["amount"] > 30, "big", np.where(frame["amount"] > 12,
                                                                         "mid", "small"))
    frame.loc[frame.index % 97 == 0, "quantity"] = np.nan
    csv = tmp_path / "cdnow_qc.csv"
    frame.to_csv(csv, index=False)
    model, expected = _train_and_predict(tmp_path, csv, [
        "--quantity-col", "quantity", "--category-col", "category", "--cutoff", "1997-09-30",
        "--horizons", "90D", "--period", "M", "--n-periods", "9"])
    loaded = LoadedModel.load(model)
    assert loaded.roles == ("quantity", "category")
    assert {"items_total", "n_categories"} <= set(loaded.model.feature_names_)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    ids = frame["customer_id"].drop_duplicates().to_numpy()[::41]
    customers = _requests(frame, ids, {"quantity": "quantity", "category": "category"})
    cutoff = dt.date(1997, 9, 30)
    _equal(loaded.score(customers, cutoff), expected, int(0.8 * len(ids)))
    # Without the quantities (missing, as a NULL in training) the items feature changes.
    for c in customers:
        for t in c["transactions"]:
            t["quantity"] = None
    blank = {r["customer_id"]: r["scores"][0]["value"] for r in loaded.score(customers, cutoff)
             if r["scores"]}
    assert any(blank[i] != expected[i] for i in blank)
    # A request whose every row the cleaning drops ($0 purchases): nothing to score.
    assert loaded.score([{"customer_id": "z", "transactions": [
        {"timestamp": dt.datetime(1997, 3, 1), "amount": 0.0, "quantity": 1.0,
         "category": "small"}]}], cutoff) == [{"customer_id": "z", "status": "no_history",
                                               "scores": []}]
    with pytest.raises(RequestError, match="trained without a domain column") as info:
        loaded.score([{"customer_id": "x", "transactions": [
            {"timestamp": dt.datetime(1997, 3, 1), "amount": 5.0, "domain": "shop"}]}], cutoff)
    assert info.value.field == "customers.transactions.domain"


def test_cross_domain_olist_model_scores_equal_ltv_predict(tmp_path, shared_data):
    import duckdb

    items = shared_data / "olist" / "order_items.parquet"
    # A seeded share of the sellers (about a sixth), sales and logistics rows of each item.
    frame = duckdb.sql(f"""
        WITH i AS (SELECT * FROM read_parquet('{items}') WHERE hash(seller_id) % 6 = 0)
        SELECT seller_id AS customer_id, timezone('UTC', shipping_limit_date) AS timestamp,
               price AS amount, order_id, 'sales' AS domain FROM i
        UNION ALL
        SELECT seller_id, timezone('UTC', shipping_limit_date), freight_value, order_id,
               'logistics' FROM i""").df()
    csv = tmp_path / "olist_cd.csv"
    frame.to_csv(csv, index=False)
    model, expected = _train_and_predict(tmp_path, csv, [
        "--order-col", "order_id", "--domain-col", "domain", "--source", "sales",
        "--target", "logistics",
        "--cutoff", "2018-03-31", "--lookback", "180D", "--horizons", "30D", "--period", "30D",
        "--n-periods", "6", "--data-end", "2018-09-30", "--keep-duplicates",
        "--keep-zero-amounts"])
    loaded = LoadedModel.load(model)
    assert loaded.domains == ["sales", "logistics"] and loaded.roles == ("domain",)
    assert any(name.startswith("sales__") for name in loaded.model.feature_names_)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    ids = frame["customer_id"].drop_duplicates().to_numpy()[::3]
    customers = _requests(frame, ids, {"order_id": "order_id", "domain": "domain"})
    cutoff = dt.date(2018, 3, 31)
    # Sellers whose first sale is after the cutoff have no history in either.
    _equal(loaded.score(customers, cutoff), expected, 100)
    # A customer with rows in one domain only still gets every domain's features.
    one = next(c for c in customers if c["customer_id"] in expected.index)
    sales_only = {**one, "transactions": [t for t in one["transactions"]
                                          if t["domain"] == "sales"]}
    assert loaded.score([sales_only], cutoff)[0]["status"] == "scored"
    with pytest.raises(RequestError, match="a domain the model does not know|one the model") \
            as info:
        loaded.score([{**one, "transactions": [{**one["transactions"][0], "domain": "ads"}]}],
                     cutoff)
    assert info.value.rule == "a domain of the model"


def test_columns_leave_out_the_optional_fields_only_when_no_transaction_has_one():
    from ltvkit.service.scoring import _columns

    day = dt.datetime(2021, 5, 1)
    plain = {"customer_id": "a", "transactions": [{"timestamp": day, "amount": 1.0}] * 2}
    with_order = {"customer_id": "b", "transactions": [
        {"timestamp": day, "amount": 2.0, "order_id": "o1"}]}
    assert sorted(_columns([plain])) == ["amount", "customer_id", "timestamp"]
    both = _columns([plain, with_order])
    assert both["order_id"] == [None, None, "o1"] and both["quantity"] == [None] * 3
    assert both["customer_id"] == ["a", "a", "b"] and both["amount"] == [1.0, 1.0, 2.0]
