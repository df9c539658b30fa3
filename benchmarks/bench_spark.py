"""Benchmark: `prepare` on Spark (local[1], local[2]) against the DuckDB engine, same log.

    python benchmarks/bench_spark.py --rows 1000000,5000000,20000000 --json /tmp/spark.json

The log is bench_prepare.py's generated Parquet file (customer_id BIGINT, timestamp, amount
with ~2.5 % refunds, rows / 10 customers over two years); the task is one cutoff, a 90-day
horizon and 12 monthly periods. Each run is a fresh process that reads the log, builds the
dataset and writes it to disk (DuckDB: ``LTVDataset.save``; Spark: ``build_dataset_spark``,
Parquet parts). Peak memory is the largest sum of the resident memory of the process tree
(the Python driver, Spark's JVM and its Python workers), sampled every 0.1 s with psutil.
For Spark the script also records the shuffle files Spark wrote (bytes in ``spark.local.dir``
named ``shuffle_*.data``), the number of partitions and the peak memory of the Python workers
alone, the numbers docs/spark.md's cluster plan is computed from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prepare import CUTOFF, generate  # noqa: E402


def _task():
    from ltvkit.data import LTVTask

    return LTVTask(cutoff=CUTOFF, horizons=("90D",), period="M", n_periods=12)


def run_duckdb(path: str, out: str) -> dict:
    from ltvkit.data import ColumnMapping, build_dataset, read_transactions

    t0 = time.perf_counter()
    log = read_transactions(path, ColumnMapping(customer="customer_id", time="timestamp",
                                                amount="amount"))
    ds = build_dataset(log, _task())
    ds.save(out)
    return {"seconds": time.perf_counter() - t0, "samples": len(ds)}


def run_spark(path: str, out: str, master: str) -> dict:
    from ltvkit.data import ColumnMapping
    from ltvkit.data.spark_build import build_dataset_spark
    from ltvkit.data.spark_session import get_spark

    local_dir = tempfile.mkdtemp(prefix="ltvkit-spark-local-")
    t0 = time.perf_counter()
    spark = get_spark(master, conf={"spark.local.dir": local_dir, "spark.driver.memory": "6g"})
    t_session = time.perf_counter() - t0
    built = build_dataset_spark(path, ColumnMapping(customer="customer_id", time="timestamp",
                                                    amount="amount"), _task(), out,
                                spark=spark)
    seconds = time.perf_counter() - t0
    shuffle = sum(f.stat().st_size for f in Path(local_dir).rglob("shuffle_*.data"))
    spark.stop()
    return {"seconds": seconds, "session_seconds": t_session, "samples": built.n_samples,
            "partitions": built.n_partitions, "shuffle_bytes": shuffle}


def child(engine: str, path: str, out: str) -> None:
    # Numba kernels are compiled and cached by the parent's warm-up.
    result = run_duckdb(path, out) if engine == "duckdb" else run_spark(path, out, engine)
    print(json.dumps(result))


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; its JSON line and the peak RSS of its process tree (all, Python workers)."""
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak = peak_workers = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = workers = 0
            for p in tree:
                try:
                    mem = p.memory_info().rss
                    rss += mem
                    if p is not root and "python" in p.name().lower():
                        workers += mem
                except psutil.Error:
                    pass
            peak, peak_workers = max(peak, rss), max(peak_workers, workers)
        except psutil.Error:
            pass
        time.sleep(0.1)
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"{cmd} failed with exit code {proc.returncode}")
    result = json.loads(out[-1])
    result["peak_rss_mb"] = round(peak / 2**20)
    result["peak_python_workers_mb"] = round(peak_workers / 2**20)
    return result


def warm_up() -> None:
    import pandas as pd

    from ltvkit.data import ColumnMapping, build_dataset, read_transactions

    frame = pd.DataFrame({"customer_id": [1, 1, 2], "amount": [1.0, 2.0, 3.0],
                          "timestamp": pd.to_datetime(["2021-01-01", "2021-05-01",
                                                       "2021-12-31"])})
    build_dataset(read_transactions(frame, ColumnMapping(customer="customer_id",
                                                         time="timestamp", amount="amount")),
                  _task())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1000000,5000000,20000000")
    ap.add_argument("--engines", default="duckdb,local[1],local[2]")
    ap.add_argument("--workdir", default="/tmp/ltvkit-bench-spark")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    warm_up()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                          f"{platform.python_version()}",
               "date": time.strftime("%Y-%m-%d"), "runs": []}
    for rows in [int(r) for r in args.rows.split(",")]:
        log = work / f"log_{rows}.parquet"
        generate(log, rows, rows // 10)
        base = None
        for engine in args.engines.split(","):
            out = work / f"ds_{rows}_{engine.replace('[', '').replace(']', '')}"
            res = measure([sys.executable, __file__, "--child", engine, str(log), str(out)])
            res.update(rows=rows, customers=rows // 10, engine=engine)
            if engine == "duckdb":
                base = res["seconds"]
            elif base:
                res["times_duckdb"] = round(res["seconds"] / base, 2)
            results["runs"].append(res)
            print(json.dumps(res), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
