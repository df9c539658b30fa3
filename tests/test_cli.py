"""The `ltv` command line (ltvkit.cli), run as a real subprocess: prepare, evaluate, datasets,
models, train, predict, benchmark, and one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import LTVDataset
from ltvkit.evaluation.leaderboard import summarize
from ltvkit.metrics import evaluate as evaluate_metrics


def ltv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def small_log(tmp_path_factory) -> Path:
    """A generated log with odd column names, a refund, a duplicate and a row without id."""
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame({
        "Client": rng.integers(0, 300, n).astype(str),
        "When": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
        "Qty": rng.integers(1, 4, n),
        "Price": np.round(rng.gamma(2.0, 10.0, n), 2),
    })
    frame.loc[5, "Qty"] = -1  # a refund
    frame.loc[7, "Client"] = None  # no customer id
    frame = pd.concat([frame, frame.iloc[[10]]], ignore_index=True)  # an exact duplicate
    path = tmp_path_factory.mktemp("log") / "log.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def prepared(small_log, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "dataset"
    res = ltv("prepare", str(small_log), "--customer-col", "Client", "--time-col", "When",
              "--amount", "Qty*Price", "--quantity-col", "Qty", "--cutoff", "2021-09-30",
              "--horizons", "30D,90D", "--period", "M", "--n-periods", "6", "--out", str(out),
              "--json")
    assert res.returncode == 0, res.stderr
    return out


def test_prepare_writes_dataset_and_counts_every_row(prepared):
    quality = json.loads((prepared / "quality.json").read_text())
    assert quality["rows_read"] == 3001
    assert quality["dropped"]["missing_customer_id"] == 1
    assert quality["dropped"]["exact_duplicates"] == 1
    assert quality["kept_with_notes"]["refund_rows_kept"] == 1
    assert quality["rows_kept"] + quality["rows_dropped"] == quality["rows_read"]
    ds = LTVDataset.load(prepared)
    assert ds.horizons == ["30D", "90D"]
    assert ds.sequences.shape[1:] == (6, 4)
    assert ds.labels.min() >= 0 and ds.label_orders[:, 1].sum() >= ds.label_orders[:, 0].sum()
    assert ds.n_customers == len(ds)  # one cutoff: one sample per customer in scope


def test_evaluate_matches_the_metrics_module(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.gamma(0.5, 50, 400) * (rng.random(400) < 0.6)
    p = y * rng.uniform(0.5, 1.5, 400) + rng.uniform(0, 5, 400)
    frame = pd.DataFrame({"customer_id": np.arange(400).astype(str), "cutoff": "2021-01-01",
                          "y_true": y, "y_pred": p})
    path = tmp_path / "pred.parquet"
    frame.to_parquet(path)
    res = ltv("evaluate", "--predictions", str(path), "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    want = evaluate_metrics(y, p)
    for key in ("normalized_gini", "decile_mape", "nmae", "top10_f1"):
        assert got[key] == pytest.approx(want[key])


def test_train_predict_round_trip(prepared, tmp_path):
    model_dir = tmp_path / "model"
    res = ltv("train", "--data", str(prepared), "--model", "historical_mean", "--out",
              str(model_dir))
    assert res.returncode == 0, res.stderr
    assert (model_dir / "config.json").exists()
    out = tmp_path / "scores.parquet"
    res = ltv("predict", "--model", str(model_dir), "--data", str(prepared), "--out", str(out))
    assert res.returncode == 0, res.stderr
    scores = pd.read_parquet(out)
    ds = LTVDataset.load(prepared)
    # every customer in scope gets a prediction, for every horizon
    assert len(scores) == len(ds) * 2
    assert set(scores["customer_id"]) == set(ds.customer_id)


def test_benchmark_writes_leaderboard_and_reports_failures(prepared, tmp_path):
    out = tmp_path / "bench"
    res = ltv("benchmark", "--data", str(prepared), "--models", "historical_mean,bgnbd",
              "--seeds", "0,1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    board = json.loads((out / "leaderboard.json").read_text())
    assert {(r["model"], r["seed"]) for r in board} == {
        ("historical_mean", 0), ("historical_mean", 1), ("bgnbd", 0), ("bgnbd", 1)}
    ok = [r for r in board if "metrics" in r]
    assert ok and all("normalized_gini" in r["metrics"] for r in ok)
    assert (out / "predictions" / "historical_mean-seed0.parquet").exists()
    assert "historical_mean" in (out / "leaderboard.md").read_text()
    # the printed table shows the numbers of the leaderboard files
    row = {r["model"]: r for r in summarize(board)}["historical_mean"]
    gini, std = row["normalized_gini"]
    printed = [ln for ln in res.stdout.splitlines() if "│ historical_mean " in ln]
    assert len(printed) == 1 and f"{gini:.3f}±{std:.3f}" in printed[0]
    assert f"{gini:.3f} ± {std:.3f}" in (out / "leaderboard.md").read_text()


def test_benchmark_prints_bracketed_specs_verbatim(prepared, tmp_path):
    out = tmp_path / "bench"
    res = ltv("benchmark", "--data", str(prepared), "--models",
              "historical_mean,lgbm[objective=nonsense]", "--seeds", "0", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "│ lgbm[objective=nonsense] " in res.stdout
    assert "lgbm[objective=nonsense] seed 0 failed" in " ".join(res.stderr.split())


def test_models_lists_every_registered_model_with_its_tags():
    from ltvkit.models import all_models

    res = ltv("models")
    assert res.returncode == 0, res.stderr
    tags = {ln.split("│")[1].strip(): ln.split("│")[2].replace(",", " ").split()
            for ln in res.stdout.splitlines() if "│" in ln}
    registry = all_models()
    assert set(registry) <= set(tags)
    for name, cls in registry.items():
        assert sorted(tags[name]) == sorted(k for k, on in cls.tags.items() if on), name


def test_importing_the_cli_loads_no_heavy_library():
    code = ("import sys, ltvkit.cli; print([m for m in ('numpy', 'pandas', 'duckdb', 'torch', "
            "'ltvkit.models', 'ltvkit.data') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "[]"
    assert "benchmark" in ltv("--help").stdout


def test_datasets_lists_protocols():
    res = ltv("datasets", "--json")
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert set(listed) >= {"cdnow", "online_retail", "olist"}
    assert listed["online_retail"]["task"]["cutoff"] == "2011-09-09"


@pytest.mark.parametrize("args,needle", [
    (["prepare", "missing.csv", "--cutoff", "2021-01-01"], "not found"),
    (["evaluate", "--predictions", "nope.parquet"], "not found"),
    (["train", "--data", ".", "--model", "historical_mean", "--out", "x"], "dataset"),
    (["benchmark", "--models", "historical_mean"], "--dataset"),
])
def test_bad_input_ends_with_one_line_and_exit_2(args, needle, tmp_path):
    res = ltv(*args, cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert needle in res.stderr
    assert len([ln for ln in res.stderr.strip().splitlines() if ln.strip()]) <= 3


def test_prepare_names_the_missing_column(small_log, tmp_path):
    res = ltv("prepare", str(small_log), "--customer-col", "Nope", "--time-col", "When",
              "--amount", "Qty*Price", "--cutoff", "2021-09-30", "--out", str(tmp_path / "d"))
    assert res.returncode == 2
    assert "Nope" in res.stderr and "Traceback" not in res.stderr


def test_unknown_model_is_a_clear_error(prepared, tmp_path):
    res = ltv("train", "--data", str(prepared), "--model", "no_such_model", "--out",
              str(tmp_path / "m"))
    assert res.returncode == 2
    assert "unknown model 'no_such_model'" in res.stderr


def test_cross_domain_end_to_end_on_a_generated_two_domain_log(tmp_path):
    """prepare (two domains, 50 % sparse) -> benchmark with a target-only baseline."""
    rng = np.random.default_rng(5)
    n = 4000
    frame = pd.DataFrame({
        "seller": rng.integers(0, 150, n).astype(str),
        "ts": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "value": np.round(rng.gamma(2.0, 20.0, n), 2),
        "business": rng.choice(["market", "logistics"], n),
    })
    log = tmp_path / "two.parquet"
    frame.to_parquet(log)
    ds_dir = tmp_path / "ds"
    res = ltv("prepare", str(log), "--customer-col", "seller", "--time-col", "ts", "--amount",
              "value", "--domain-col", "business", "--source", "market", "--target",
              "logistics", "--cutoff-start", "2022-06-01", "--cutoff-end", "2022-08-30",
              "--lookback", "120D", "--horizons", "30D", "--period", "30D", "--n-periods", "4",
              "--cohort", "active", "--sparsity", "0.5", "--out", str(ds_dir))
    assert res.returncode == 0, res.stderr
    ds = LTVDataset.load(ds_dir)
    assert ds.domains == ["market", "logistics"] and ds.target_domain == "logistics"
    assert ds.sparse is not None and 0.3 < ds.sparse.mean() < 0.7
    out = tmp_path / "bench"
    res = ltv("benchmark", "--data", str(ds_dir), "--models", "lgbm,historical_mean@target",
              "--seeds", "0", "--out", str(out))
    assert res.returncode == 0, res.stderr
    board = json.loads((out / "leaderboard.json").read_text())
    assert {r["model"] for r in board} == {"lgbm", "historical_mean@target"}
    assert all("metrics_sparse" in r and "metrics_non_sparse" in r for r in board), board
