"""`ltv serve` with the real server: uvicorn in a subprocess on a free loopback port, driven by
httpx. Every endpoint and error code, idempotent events, reload under load, and the scores of
the service equal those of `ltv predict` on the same CDNOW history and cutoff."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from _serve import CUTOFF, Server, ltv, prepare_and_train  # noqa: E402

KEY = "s3cret-test-key"
KEY_ENV = {"LTVKIT_TEST_API_KEY": KEY}
AUTH = {"X-API-Key": KEY}
MAX_CUSTOMERS = 400
MAX_BODY_MB = 2


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def models(root) -> dict[str, Path]:
    """Two lgbm versions trained by `ltv train` on `ltv prepare`'d CDNOW, and the directory
    the service serves (a copy of v1, overwritten by v2 in the reload test)."""
    v1 = prepare_and_train(root, "lgbm", json.dumps({"n_estimators": 60, "n_threads": 1}), "v1")
    v2 = prepare_and_train(root, "lgbm", json.dumps({"n_estimators": 30, "num_leaves": 7,
                                                     "n_threads": 1}), "v2")
    served = root / "served"
    shutil.copytree(v1, served)
    return {"v1": v1, "v2": v2, "served": served}


@pytest.fixture(scope="module")
def server(models, root):
    srv = Server(models["served"], "--store", str(root / "events.duckdb"),
                 "--api-key-env", "LTVKIT_TEST_API_KEY", "--max-customers", str(MAX_CUSTOMERS),
                 "--max-body-mb", str(MAX_BODY_MB), env=KEY_ENV).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="module")
def history(root, models) -> pd.DataFrame:
    return pd.read_csv(root / "cdnow.csv", dtype={"customer_id": str},
                       parse_dates=["timestamp"])


def _customers(history: pd.DataFrame, ids) -> list[dict]:
    rows = history[history["customer_id"].isin(set(ids))]
    out = []
    for cid, g in rows.groupby("customer_id", sort=False):
        out.append({"customer_id": cid, "transactions": [
            {"timestamp": t.isoformat(), "amount": float(a)}
            for t, a in zip(g["timestamp"], g["amount"], strict=True)]})
    return out


def _no_internals(response: httpx.Response) -> None:
    text = response.text
    for needle in ("Traceback", 'File "', "/work/", "site-packages", ".py"):
        assert needle not in text, (response.status_code, text)


# --------------------------------------------------------------------------- health, model
def test_health_ready_openapi_and_loopback_bind(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").json() == {"ready": True, "model": True,
                                                         "store": True}
    spec = httpx.get(server.url + "/openapi.json").json()
    for path in ("/healthz", "/readyz", "/v1/model", "/v1/score", "/v1/events",
                 "/v1/customers/{customer_id}", "/v1/admin/reload"):
        assert path in spec["paths"], path
    assert {"ScoreRequest", "ScoreResponse", "EventsRequest"} <= set(spec["components"]["schemas"])
    # No --host given: the listening socket is on the loopback address only (Linux /proc).
    tcp = Path("/proc/net/tcp")
    if tcp.exists():
        listening = [line.split()[1] for line in tcp.read_text().splitlines()[1:]
                     if line.split()[3] == "0A" and
                     int(line.split()[1].split(":")[1], 16) == server.port]
        assert listening == [f"0100007F:{server.port:04X}"], listening


def test_api_key_is_required_on_v1(server):
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}):
        r = httpx.get(server.url + "/v1/model", headers=headers)
        assert r.status_code == 401
        assert "API key" in r.json()["detail"]
        _no_internals(r)
    r = httpx.post(server.url + "/v1/events", json={"events": []})
    assert r.status_code == 401
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_model_info(client, models):
    info = client.get("/v1/model").json()
    config = json.loads((models["v1"] / "config.json").read_text())
    training = json.loads((models["v1"] / "training.json").read_text())
    assert info["name"] == "lgbm" and len(info["version"]) == 12
    assert info["horizons"] == config["horizons"] == ["90D"]
    assert info["feature_names"] == config["feature_names"]
    assert info["task"]["horizons"] == ["90D", "180D"] and info["task"]["cutoff"] == CUTOFF
    gini = info["validation_metrics"]["90D"]["normalized_gini"]
    assert gini == training["validation_metrics"]["90D"]["normalized_gini"]
    assert 0.3 < gini < 1.0  # lgbm ranks CDNOW customers well above chance
    assert info["saved_at"] == training["saved_at"]


# --------------------------------------------------------------------------- same numbers
def test_scores_equal_ltv_predict_on_the_same_history(client, models, root, history):
    out = root / "predicted.parquet"
    res = ltv("predict", "--model", str(models["v1"]), "--data", str(root / "dataset"),
              "--out", str(out))
    assert res.returncode == 0, res.stderr
    expected = pd.read_parquet(out).set_index("customer_id")["y_pred"]
    rng = np.random.default_rng(16)
    ids = rng.choice(history["customer_id"].unique(), size=MAX_CUSTOMERS - 1, replace=False)
    # Their whole history: rows after the cutoff are in the request and must not count.
    customers = _customers(history, ids)
    assert any(pd.Timestamp(t["timestamp"]) > pd.Timestamp(CUTOFF)
               for c in customers for t in c["transactions"])
    customers.append({"customer_id": "only-later", "transactions": [
        {"timestamp": "1997-12-01T10:00:00", "amount": 30.0}]})
    r = client.post("/v1/score", json={"cutoff": CUTOFF, "customers": customers})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cutoff"] == CUTOFF and body["model"]["name"] == "lgbm"
    # The body is sent as the endpoint built it: exactly the response model's serialization
    # (every field, in order, nulls included).
    from ltvkit.service.schemas import ScoreResponse

    assert body == ScoreResponse.model_validate(body).model_dump(mode="json")
    assert list(body["customers"][0]["scores"][0]) == ["horizon", "value", "p_active",
                                                       "quantiles", "segment"]
    got = {c["customer_id"]: c for c in body["customers"]}
    assert [c["customer_id"] for c in body["customers"]] == [c["customer_id"]
                                                            for c in customers]
    assert got["only-later"] == {"customer_id": "only-later", "status": "no_history",
                                 "scores": []}
    # A customer whose every row is a $0 purchase has no sample in `ltv prepare` either.
    assert all((got[cid]["status"] == "scored") == (cid in expected.index) for cid in ids)
    ids = [cid for cid in ids if cid in expected.index]
    served = pd.Series({cid: got[cid]["scores"][0]["value"] for cid in ids})
    assert all(got[cid]["scores"][0]["horizon"] == "90D" for cid in ids)
    np.testing.assert_array_equal(served.to_numpy(), expected.loc[served.index].to_numpy())
    assert served.std() > 0  # not one constant

    # The same customers as single-customer requests, 16 at a time: the server scores the
    # requests that wait together in one call, and each still gets its own numbers.
    from concurrent.futures import ThreadPoolExecutor

    def one(c: dict) -> dict:
        r = client.post("/v1/score", json={"cutoff": CUTOFF, "customers": [c]})
        assert r.status_code == 200, r.text
        return r.json()["customers"][0]

    with ThreadPoolExecutor(16) as pool:
        alone = list(pool.map(one, customers[:160]))
    assert alone == body["customers"][:160]


# --------------------------------------------------------------------------- 422 / 413
@pytest.mark.parametrize("body, field, rule", [
    ({"cutoff": CUTOFF, "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-13-40", "amount": 1.0}]}]},
     "customers.0.transactions.0.timestamp", "datetime"),
    ({"cutoff": "30/09/1997", "customers": [{"customer_id": "a", "transactions": []}]},
     "cutoff", "date"),
    ({"cutoff": CUTOFF, "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-01-01", "amount": 1.0, "colour": "red"}]}]},
     "customers.0.transactions.0.colour", "Extra inputs"),
    ({"cutoff": CUTOFF, "customers": []}, "customers", "at least 1"),
    ({"cutoff": CUTOFF, "customers": [{"customer_id": f"c{i}", "transactions": [
        {"timestamp": "1997-01-01", "amount": 1.0}]} for i in range(MAX_CUSTOMERS + 1)]},
     "customers", f"at most {MAX_CUSTOMERS}"),
    ({"cutoff": CUTOFF, "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-01-01", "amount": 1.0}]}] * 2}, "customers", "unique customer_id"),
    ({"cutoff": CUTOFF, "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-01-01", "amount": 1.0, "order_id": "o1"},
        {"timestamp": "1997-02-01", "amount": 1.0}]}]},
     "customers.transactions.order_id", "all or none"),
    ({"cutoff": CUTOFF, "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-01-01", "amount": 1.0}], "attributes": {"age": 3}}]},
     "customers.attributes", "one of the model's attributes"),
    ({"cutoff": "2999-01-01", "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-01-01", "amount": 1.0}]}]}, "cutoff", "future"),
])
def test_invalid_bodies_get_422_with_field_and_rule(client, body, field, rule):
    r = client.post("/v1/score", json=body)
    assert r.status_code == 422, r.text
    items = r.json()["detail"]
    assert any(i["field"] == field and rule in i["rule"] for i in items), items
    _no_internals(r)


def test_nan_amount_and_broken_json_get_422(client):
    raw = ('{"cutoff": "1997-09-30", "customers": [{"customer_id": "a", "transactions": '
           '[{"timestamp": "1997-01-01", "amount": NaN}]}]}')
    r = client.post("/v1/score", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "customers.0.transactions.0.amount"
    assert "finite" in r.json()["detail"][0]["rule"]
    r = client.post("/v1/score", content="{broken", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"
    r = client.post("/v1/events", json={"events": [{"event_id": "x", "customer_id": "a",
                                                     "timestamp": "yesterday", "amount": 1}]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "events.0.timestamp"


def test_bodies_above_the_limit_get_413(client):
    limit = MAX_BODY_MB * 2**20
    big = {"cutoff": CUTOFF, "customers": [{"customer_id": "a", "transactions": [
        {"timestamp": "1997-01-01T00:00:00", "amount": 1.0}] * (limit // 40)}]}
    r = client.post("/v1/score", json=big)
    assert r.status_code == 413 and "body size" in r.json()["detail"]
    payload = json.dumps(big).encode()
    assert len(payload) > limit

    def chunks():  # no Content-Length: counted while it streams in
        for i in range(0, len(payload), 65536):
            yield payload[i:i + 65536]

    r = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    _no_internals(r)


# --------------------------------------------------------------------------- events, customers
def test_events_are_idempotent_and_feed_the_customer_score(client, history):
    cid = history["customer_id"].value_counts().index[0]  # the most active customer
    rows = history[history["customer_id"] == cid].reset_index(drop=True)
    events = [{"event_id": f"{cid}-{i}", "customer_id": cid, "timestamp": t.isoformat(),
               "amount": float(a)} for i, (t, a) in enumerate(zip(rows["timestamp"],
                                                                  rows["amount"], strict=True))]
    half = len(events) // 2
    r = client.post("/v1/events", json={"events": events[:half]})
    assert r.json() == {"stored": half, "duplicates": 0, "durable": True}
    r = client.post("/v1/events", json={"events": events[:half]})  # a retry
    assert r.json() == {"stored": 0, "duplicates": half, "durable": True}
    r = client.post("/v1/events", json={"events": events + events[-1:]})  # overlap + repeat
    assert r.json() == {"stored": len(events) - half, "duplicates": half + 1, "durable": True}

    got = client.get(f"/v1/customers/{cid}", params={"cutoff": CUTOFF}).json()
    assert got["n_events"] == len(events)
    direct = client.post("/v1/score", json={"cutoff": CUTOFF,
                                            "customers": _customers(history, [cid])}).json()
    assert got["score"] == direct["customers"][0]
    assert got["score"]["status"] == "scored"
    today = client.get(f"/v1/customers/{cid}").json()  # default cutoff: today
    assert today["cutoff"] > CUTOFF and today["score"]["status"] == "scored"
    r = client.get("/v1/customers/nobody")
    assert r.status_code == 404 and "no stored events" in r.json()["detail"]


# --------------------------------------------------------------------------- reload
def test_reload_under_load_drops_no_request(server, models, history):
    ids = history["customer_id"].unique()[:20]
    body = {"cutoff": CUTOFF, "customers": _customers(history, ids)}
    v1 = httpx.get(server.url + "/v1/model", headers=AUTH).json()["version"]
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer():
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60.0) as c:
            while not stop.is_set():
                r = c.post("/v1/score", json=body)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model"]["version"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=120.0) as c:
            for src in (models["v2"], models["v1"], models["v2"]):
                for f in src.iterdir():  # a new version saved into the served directory
                    shutil.copy2(f, models["served"] / f.name)
                r = c.post("/v1/admin/reload")
                assert r.status_code == 200, r.text
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    after = httpx.get(server.url + "/v1/model", headers=AUTH).json()["version"]
    assert r.json()["current"]["version"] == after != v1
    assert len(statuses) >= 8 and set(statuses) == {200}, set(statuses)
    assert versions <= {v1, after}


def test_reload_reaches_every_worker(models, root):
    """`--workers 2`: a reload posted to one worker is seen by both (each checks the shared
    reload file on every request)."""
    from concurrent.futures import ThreadPoolExecutor

    served = root / "served_two_workers"
    shutil.copytree(models["v1"], served)
    srv = Server(served, "--workers", "2", "--api-key-env", "LTVKIT_TEST_API_KEY",
                 env=KEY_ENV).wait_ready()

    def probe(_: int) -> tuple[int, str]:
        # A new connection per request, from 8 threads at once: both workers accept some.
        with httpx.Client(base_url=srv.url, headers=AUTH, timeout=60.0) as c:
            info = c.get("/v1/model").json()
        return info["worker"], info["version"]

    def seen() -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for _ in range(5):
            with ThreadPoolExecutor(8) as pool:
                for worker, version in pool.map(probe, range(48)):
                    out.setdefault(worker, set()).add(version)
            if len(out) == 2:
                break
        return out

    try:
        before = seen()
        v1 = httpx.get(srv.url + "/v1/model", headers=AUTH).json()["version"]
        assert len(before) == 2 and all(v == {v1} for v in before.values()), before
        for f in models["v2"].iterdir():
            shutil.copy2(f, served / f.name)
        r = httpx.post(srv.url + "/v1/admin/reload", headers=AUTH, timeout=120.0)
        assert r.status_code == 200, r.text
        v2 = r.json()["current"]["version"]
        assert v2 != v1
        after = seen()
        assert len(after) == 2 and all(v == {v2} for v in after.values()), after
        assert set(after) == set(before)  # the same two processes, each reloaded
    finally:
        srv.stop()


# --------------------------------------------------------------------------- the command
@pytest.mark.parametrize("args, needle", [
    (["--model", "no/such/dir"], "config.json"),
    (["--workers", "2", "--store", "x.duckdb"], "one writer"),
    (["--api-key-env", "LTVKIT_TEST_UNSET_KEY"], "LTVKIT_TEST_UNSET_KEY"),
    (["--max-customers", "0"], "max-customers"),
])
def test_serve_bad_arguments_end_with_one_line_and_exit_2(models, args, needle):
    if "--model" not in args:
        args = ["--model", str(models["v1"]), *args]
    res = ltv("serve", *args)
    assert res.returncode == 2
    assert needle in res.stderr and "Traceback" not in res.stderr


# --------------------------------------------------------------------------- attributes
def test_attribute_scores_equal_ltv_predict(root, models, history):
    """A model trained with customer attributes (a categorical, a numeric, some customers
    without any): the service path (scoring.LoadedModel, what /v1/score calls) equals
    `ltv predict`."""
    import datetime as dt

    from ltvkit.service.scoring import LoadedModel

    ids = history["customer_id"].unique()
    codes = np.array([int(c[1:]) % 5 for c in ids])
    attrs = pd.DataFrame({"customer_id": ids, "segment": np.array(list("abcde"))[codes],
                          "score": codes * 1.5 + 1.0})[codes != 4]
    attrs.to_csv(root / "attrs.csv", index=False)
    data, model, out = root / "ds_attr", root / "m_attr", root / "p_attr.parquet"
    for args in (["prepare", str(root / "cdnow.csv"), "--out", str(data), "--cutoff", CUTOFF,
                  "--horizons", "90D", "--period", "M", "--n-periods", "9", "--attributes",
                  str(root / "attrs.csv")],
                 ["train", "--data", str(data), "--model", "lgbm", "--out", str(model),
                  "--params", json.dumps({"n_estimators": 40, "n_threads": 1})],
                 ["predict", "--model", str(model), "--data", str(data), "--out", str(out)]):
        res = ltv(*args)
        assert res.returncode == 0, res.stderr
    loaded = LoadedModel.load(model)
    assert loaded.attribute_names == ["score", "segment"]
    by_id = attrs.set_index("customer_id")
    pick = ids[::79]
    customers = _customers(history, pick)
    for c in customers:
        for t in c["transactions"]:  # as /v1/score hands them over, after pydantic
            t["timestamp"] = dt.datetime.fromisoformat(t["timestamp"])
        if c["customer_id"] in by_id.index:
            c["attributes"] = by_id.loc[c["customer_id"]].to_dict()
    assert sum("attributes" in c for c in customers) < len(customers)  # some have none
    scored = loaded.score(customers, dt.date.fromisoformat(CUTOFF))
    expected = pd.read_parquet(out).set_index("customer_id")["y_pred"]
    # Customers whose every row is a $0 purchase (dropped by the cleaning rules) are in
    # neither: `ltv prepare` has no sample for them, the service says no_history.
    assert [r["status"] for r in scored] == ["scored" if r["customer_id"] in expected.index
                                             else "no_history" for r in scored]
    got = {r["customer_id"]: r["scores"][0]["value"] for r in scored if r["scores"]}
    assert 0.9 * len(pick) < len(got) < len(pick)
    np.testing.assert_array_equal(np.array(list(got.values())),
                                  expected.loc[list(got)].to_numpy())


# --------------------------------------------------------------------------- key sources
def test_api_key_from_env_or_file_and_their_errors(tmp_path):
    from ltvkit.service.config import ServiceConfig, ServiceConfigError, read_api_key

    key_file = tmp_path / "key"
    key_file.write_text("  k-from-file \nsecond line\n")
    assert read_api_key(file=key_file) == "k-from-file"
    assert read_api_key(env_name="K", env={"K": " k-env "}) == "k-env"
    assert read_api_key() is None
    (tmp_path / "empty").write_text("\n")
    for kwargs, needle in (({"file": tmp_path / "empty"}, "is empty"),
                           ({"file": tmp_path / "nope"}, "is not a file"),
                           ({"env_name": "K", "env": {}}, "K is empty or not set"),
                           ({"env_name": "K", "file": key_file}, "not both")):
        with pytest.raises(ServiceConfigError, match=needle):
            read_api_key(**kwargs)
    config = ServiceConfig.from_env({"LTVKIT_SERVE_MODEL": "m", "LTVKIT_SERVE_API_KEY_FILE":
                                     str(key_file), "LTVKIT_SERVE_MAX_CUSTOMERS": "7"})
    assert config.api_key == "k-from-file" and config.max_customers == 7 and config.store is None
    with pytest.raises(ServiceConfigError, match="LTVKIT_SERVE_MODEL"):
        ServiceConfig.from_env({})


def test_models_without_a_training_task_are_refused(tmp_path):
    from ltvkit.errors import ModelError
    from ltvkit.service.scoring import LoadedModel

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "training.json").write_text(json.dumps({"mapping": {}}))
    with pytest.raises(ModelError, match="no training task"):
        LoadedModel.load(tmp_path)
    (tmp_path / "training.json").unlink()
    with pytest.raises(ModelError, match="training.json"):
        LoadedModel.load(tmp_path)
    (tmp_path / "training.json").write_text(json.dumps({
        "task": {"horizons": ["90D"]}, "vocabularies": {"<event_types>": ["visit"]}}))
    with pytest.raises(ModelError, match="trained with an events table"):
        LoadedModel.load(tmp_path)
