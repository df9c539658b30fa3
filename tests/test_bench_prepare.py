"""The prepare benchmark runs end to end on a small generated log (speed is measured by the
script itself, never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_prepare.py"


def test_prepare_benchmark_runs_on_a_small_log(tmp_path):
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, str(SCRIPT), "--rows", "20000", "--customers", "2000",
                    "--events", "30000", "--one-by-one", "--workdir", str(tmp_path),
                    "--skip-lifetimes",
                    "--json", str(out)], check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.read_text())
    (run,) = result["ltvkit"]
    assert run["rows_read"] == 20000
    assert 0 < run["samples"] <= 2000
    assert run["sequence_shape"] == [12, 4]
    assert run["seconds"] > 0 and run["peak_rss_gb"] > 0
    # --events: the same samples with the event features and channels (12 generated types,
    # each a channel, plus "other")
    (with_events,) = result["ltvkit_events"]
    assert with_events["event_rows_read"] == 30000
    assert with_events["samples"] == run["samples"]
    assert with_events["sequence_shape"] == [12, 4 + 13]
    assert with_events["features"] > run["features"]
    assert with_events["side_by_side"] and with_events["cpu_seconds"] > 0
    assert result["ltvkit_events_ratio"] > 0
    # --one-by-one: the same prepare with the two reads one after the other
    (one_by_one,) = result["ltvkit_events_one_by_one"]
    assert not one_by_one["side_by_side"]
    assert one_by_one["samples"] == with_events["samples"]
    assert result["ltvkit_events_one_by_one_ratio"] > 0

