"""Helpers of the service tests: the `ltv` CLI as a subprocess, a CDNOW-trained model, and a
real `ltv serve` (uvicorn) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CUTOFF = "1997-09-30"


def ltv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, check=False, env={**os.environ, **(env or {})},
                          timeout=300)


def cdnow_csv(path: Path) -> Path:
    """The bundled CDNOW log (its kept rows, duplicates included) as a CSV with text ids."""
    from ltvkit.datasets import get_dataset

    log = get_dataset("cdnow").load_log()
    frame = log.con.execute(f"SELECT 'c' || customer_id AS customer_id, ts AS timestamp, amount "
                            f"FROM {log.table}").df()
    frame.to_csv(path, index=False)
    return path


def prepare_and_train(root: Path, model: str = "lgbm", params: str | None = None,
                      out_name: str | None = None, csv: Path | None = None) -> Path:
    """`ltv prepare` CDNOW at the cutoff 1997-09-30 (horizons 90D, 180D) once, then
    `ltv train` ``model``; returns the model directory."""
    csv = csv or root / "cdnow.csv"
    if not csv.exists():
        cdnow_csv(csv)
    data = root / "dataset"
    if not data.exists():
        res = ltv("prepare", str(csv), "--out", str(data), "--cutoff", CUTOFF,
                  "--horizons", "90D,180D", "--period", "M", "--n-periods", "9")
        assert res.returncode == 0, res.stderr
    out = root / (out_name or model)
    args = ["train", "--data", str(data), "--model", model, "--out", str(out)]
    if params:
        args += ["--params", params]
    res = ltv(*args)
    assert res.returncode == 0, res.stderr
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ltv serve` in a subprocess; ``url`` once ready."""

    def __init__(self, model: Path, *args: str, env: dict[str, str] | None = None,
                 log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log or model.parent / f"serve-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ltvkit.cli", "serve", "--model", str(model),
             "--port", str(self.port), "--log-level", "warning", *args],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in {timeout} s: {self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()
