"""Load test of `ltv serve` on this machine (loopback only, bounded in time and requests).

    flock /tmp/ltvkit-heavy.lock python benchmarks/bench_service.py --workdir /tmp/bench_service

Trains ``lgbm`` and ``ziln`` with `ltv prepare` + `ltv train` on the bundled CDNOW log (cutoff
1997-09-30, horizons 90D and 180D), starts `ltv serve` for each (one uvicorn worker) and, in the
same run, a bare FastAPI app whose POST endpoint reads the body and returns a constant (the
stack's ceiling). An async httpx client then sends, at concurrency 1, 16 and 64, for
``--seconds`` each (and at most ``--max-requests``):

* ``score1``: one customer with a 100-transaction history (generated, seeded);
* ``score1000``: 1,000 CDNOW customers with their real histories;
* ``bare``: the single-customer body to the constant endpoint.

It reports requests/s, p50 / p95 / p99 latency and errors (non-200 or transport errors).
All servers stay up for the whole run; ``--rounds R`` measures every cell R times, in rounds
of (bare endpoint, every model case), and gives each round's single-customer share of that
round's bare throughput and the median (a shared VM's speed drifts between minutes). By
default the load generator runs on the same cores as the server, so the bare ceiling is also the
client's; ``--client-cpu 1 --server-cpu 0`` pins them to separate cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request

CUTOFF = "1997-09-30"


def ltv(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], check=True,
                   capture_output=True, text=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_app():
    """The constant endpoint: FastAPI + uvicorn doing nothing but read the body."""
    app = FastAPI()

    @app.post("/const")
    async def const(request: Request):
        await request.body()
        return {"value": 1.0}

    @app.get("/readyz")
    def ready():
        return {"ready": True}

    return app


def start(cmd: list[str], port: int, log: Path) -> subprocess.Popen:
    import httpx

    out = open(log, "w")  # noqa: SIM115 - the child owns it until it ends
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server not ready: {log.read_text()[-2000:]}")


async def load(url: str, body: bytes, concurrency: int, seconds: float, max_requests: int
               ) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:
        end = time.perf_counter() + seconds

        async def worker():
            nonlocal errors, sent
            while time.perf_counter() < end and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=body, headers=headers)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "errors": errors, "rps": len(lat) / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99))}


def bodies(csv: Path) -> dict[str, bytes]:
    import pandas as pd

    rng = np.random.default_rng(0)
    days = np.sort(rng.integers(0, 272, 100))
    amounts = np.round(rng.gamma(2.0, 15.0, 100), 2)
    one = {"cutoff": CUTOFF, "customers": [{"customer_id": "bench-1", "transactions": [
        {"timestamp": (dt.date(1997, 1, 1) + dt.timedelta(days=int(d))).isoformat(),
         "amount": float(a)} for d, a in zip(days, amounts, strict=True)]}]}
    frame = pd.read_csv(csv, dtype={"customer_id": str})
    ids = rng.choice(frame["customer_id"].unique(), 1000, replace=False)
    rows = frame[frame["customer_id"].isin(set(ids))]
    batch = {"cutoff": CUTOFF, "customers": [
        {"customer_id": cid, "transactions": [{"timestamp": t, "amount": float(a)}
                                              for t, a in zip(g["timestamp"], g["amount"],
                                                              strict=True)]}
        for cid, g in rows.groupby("customer_id")]}
    n_tx = sum(len(c["transactions"]) for c in batch["customers"])
    print(f"score1: 1 customer x 100 transactions; score1000: 1,000 customers, {n_tx:,} "
          "transactions", flush=True)
    return {"score1": json.dumps(one).encode(), "score1000": json.dumps(batch).encode()}


def profile(work: Path, models: list[str], body: bytes, n: int) -> None:
    """Per-call time of scoring the single-customer body in process, and a cProfile of it."""
    import cProfile
    import pstats

    from ltvkit.service.scoring import LoadedModel

    request = json.loads(body)
    cutoff = dt.date.fromisoformat(request["cutoff"])
    customers = [{"customer_id": c["customer_id"], "transactions": [
        {"timestamp": dt.datetime.fromisoformat(t["timestamp"]), "amount": t["amount"]}
        for t in c["transactions"]]} for c in request["customers"]]
    for name in models:
        loaded = LoadedModel.load(work / name)
        for _ in range(20):
            loaded.score(customers, cutoff)
        t0 = time.perf_counter()
        for _ in range(n):
            loaded.score(customers, cutoff)
        print(f"{name}: {(time.perf_counter() - t0) / n * 1000:.3f} ms per LoadedModel.score "
              f"call ({n} calls)", flush=True)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            loaded.score(customers, cutoff)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(r"ltvkit|lightgbm|torch|dataclasses", 30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_service"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every cell this many times, in rounds of (bare endpoint, "
                         "every model case), and report each round's share and the median")
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--models", default="lgbm,ziln")
    ap.add_argument("--cases", default="score1,score1000")
    ap.add_argument("--client-cpu", type=int, default=None,
                    help="pin the load generator to this core (os.sched_setaffinity)")
    ap.add_argument("--server-cpu", type=int, default=None,
                    help="start the servers pinned to this core (taskset)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="instead of the load test: time N in-process scorings of the "
                         "single-customer body per model (LoadedModel.score, what /v1/score "
                         "calls), then cProfile N more and print where the time goes")
    ap.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_server is not None:
        import uvicorn

        uvicorn.run(bare_app(), host="127.0.0.1", port=args.bare_server, log_level="warning",
                    access_log=False)
        return

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    pin = [] if args.server_cpu is None else ["taskset", "-c", str(args.server_cpu)]
    if args.client_cpu is not None:
        os.sched_setaffinity(0, {args.client_cpu})
    csv = work / "cdnow.csv"
    if not csv.exists():
        from ltvkit.datasets import get_dataset

        log = get_dataset("cdnow").load_log()
        log.con.execute(f"SELECT 'c' || customer_id AS customer_id, ts AS timestamp, amount "
                        f"FROM {log.table}").df().to_csv(csv, index=False)
    if not (work / "dataset").exists():
        ltv("prepare", str(csv), "--out", str(work / "dataset"), "--cutoff", CUTOFF,
            "--horizons", "90D,180D", "--period", "M", "--n-periods", "9")
    models = args.models.split(",")
    for name in models:
        if not (work / name / "training.json").exists():
            ltv("train", "--data", str(work / "dataset"), "--model", name, "--out",
                str(work / name))
    payload = bodies(csv)
    if args.profile:
        profile(work, models, payload["score1"], args.profile)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    results = []

    def run(label: str, url: str, body: bytes, round_: int) -> None:
        for c in levels:
            r = asyncio.run(load(url, body, c, args.seconds, args.max_requests))
            r.update(case=label, concurrency=c, round=round_)
            results.append(r)
            print(f"{label:22s} c={c:3d}  {r['rps']:9.1f} req/s  p50 {r['p50_ms']:8.1f} ms  "
                  f"p95 {r['p95_ms']:8.1f}  p99 {r['p99_ms']:8.1f}  errors {r['errors']} of "
                  f"{r['requests']}", flush=True)

    # Every server is up for the whole run (an idle one costs no CPU), so the cells can be
    # measured in rounds: in each, the bare endpoint, then every model case. The VM's speed
    # drifts from minute to minute; each round's share compares cells measured minutes apart
    # at most.
    servers = []
    try:
        port = free_port()
        servers.append(start([*pin, sys.executable, __file__, "--bare-server", str(port)], port,
                             work / "bare.log"))
        cells = [("bare (constant)", f"http://127.0.0.1:{port}/const", payload["score1"])]
        for name in models:
            port = free_port()
            servers.append(start([*pin, sys.executable, "-m", "ltvkit.cli", "serve", "--model",
                                  str(work / name), "--port", str(port), "--log-level",
                                  "warning", "--max-body-mb", "64"], port,
                                 work / f"serve-{name}.log"))
            cells += [(f"{name} {case}", f"http://127.0.0.1:{port}/v1/score", payload[case])
                      for case in args.cases.split(",")]
        for _, url, body in cells:
            asyncio.run(load(url, body, 1, 1.0, 50))  # warm-up, not reported
        for round_ in range(args.rounds):
            if args.rounds > 1:
                print(f"round {round_ + 1} of {args.rounds}", flush=True)
            for label, url, body in cells:
                run(label, url, body, round_)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait()
    bare = {(r["round"], r["concurrency"]): r["rps"] for r in results
            if r["case"].startswith("bare")}
    shares: dict[tuple[str, int], list[float]] = {}
    for r in results:
        if r["case"].endswith("score1"):
            share = 100 * r["rps"] / bare[(r["round"], r["concurrency"])]
            r["share_of_bare_pct"] = share
            shares.setdefault((r["case"], r["concurrency"]), []).append(share)
    print("\nsingle-customer throughput as a share of the bare endpoint's (each round's own "
          "bare cell):")
    summary = []
    for (case, c), values in shares.items():
        values = sorted(values)
        median = float(np.median(values))
        summary.append({"case": case, "concurrency": c, "median_share_pct": median,
                        "shares_pct": values})
        print(f"  {case:12s} c={c:3d}  median {median:5.1f} %  "
              f"(rounds: {', '.join(f'{v:.1f}' for v in values)})")
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"{platform.python_version()}", "client_cpu": args.client_cpu,
            "server_cpu": args.server_cpu,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
            "seconds_per_cell": args.seconds, "rounds": args.rounds, "results": results,
            "shares": summary}
    if args.json:
        args.json.write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
