"""The sparsity protocol of paper 000 on a cross-domain log: sparse customers lose their
target-domain history (features and sequences), nothing else changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import LTVTask, build_dataset, read_transactions
from ltvkit.data.mapping import ColumnMapping
from ltvkit.errors import TaskError
from ltvkit.evaluation.runner import BenchmarkPlan
from ltvkit.evaluation.splits import customer_split
from ltvkit.metrics import nmae


@pytest.fixture(scope="module")
def two_domain_log():
    rng = np.random.default_rng(11)
    n = 4000
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, 200, n).astype(str),
        "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
        "domain": rng.choice(["market", "logistics"], n),
    })
    return read_transactions(frame, ColumnMapping(domain="domain"))


def _task(sparsity: float, seed: int = 0) -> LTVTask:
    return LTVTask(cutoff_start="2022-06-01", cutoff_end="2022-08-30", cutoff_step="30D",
                   lookback="120D", horizons=("30D",), period="30D", n_periods=4,
                   cohort="active", domains=("market", "logistics"),
                   target_domain="logistics", sparsity=sparsity, sparsity_seed=seed)


def test_sparse_customers_lose_only_their_target_history(two_domain_log):
    dense = build_dataset(two_domain_log, _task(0.0))
    sparse = build_dataset(two_domain_log, _task(0.5))
    assert dense.sparse is None
    assert np.array_equal(dense.customer_id, sparse.customer_id)
    customers = np.unique(sparse.customer_id)
    share = len(np.unique(sparse.customer_id[sparse.sparse])) / len(customers)
    assert share == pytest.approx(0.5, abs=0.01)
    # a customer is sparse at every cutoff or at none
    for c in customers[:50]:
        flags = sparse.sparse[sparse.customer_id == c]
        assert flags.all() or not flags.any()
    tgt = [i for i, f in enumerate(sparse.feature_names) if f.startswith("logistics__")]
    src = [i for i, f in enumerate(sparse.feature_names) if f.startswith("market__")]
    tgt_ch = [i for i, c in enumerate(sparse.channel_names) if c.startswith("logistics__")]
    src_ch = [i for i, c in enumerate(sparse.channel_names) if c.startswith("market__")]
    s = sparse.sparse
    assert np.all(sparse.sequences[s][:, :, tgt_ch] == 0)
    monetary = sparse.feature_names.index("logistics__monetary_total")
    assert np.all(sparse.features[s, monetary] == 0)
    assert np.any(dense.features[s, monetary] > 0)  # they did have target history
    # non-sparse customers and the source domain are untouched; labels never change
    np.testing.assert_array_equal(sparse.features[~s][:, tgt], dense.features[~s][:, tgt])
    np.testing.assert_array_equal(sparse.features[:, src], dense.features[:, src])
    np.testing.assert_array_equal(sparse.sequences[:, :, src_ch], dense.sequences[:, :, src_ch])
    np.testing.assert_array_equal(sparse.labels, dense.labels)


def test_sparsity_is_seeded(two_domain_log):
    a = build_dataset(two_domain_log, _task(0.2, seed=1)).sparse
    b = build_dataset(two_domain_log, _task(0.2, seed=1)).sparse
    c = build_dataset(two_domain_log, _task(0.2, seed=2)).sparse
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sparsity_needs_a_domain_column_and_a_valid_share(two_domain_log):
    with pytest.raises(TaskError, match="sparsity"):
        dataclasses.replace(_task(0.0), sparsity=1.0)
    single = read_transactions(pd.DataFrame({"customer_id": ["a", "b"],
                                             "timestamp": ["2022-01-01", "2022-03-01"],
                                             "amount": [1.0, 2.0]}))
    with pytest.raises(TaskError, match="domain"):
        build_dataset(single, LTVTask(cutoff="2022-01-15", horizons=("30D",), sparsity=0.5))


def test_sparse_draw_is_independent_of_the_customer_split(two_domain_log):
    ds = build_dataset(two_domain_log, _task(0.5, seed=0))
    _, _, test = ds.split_customers(seed=0)
    assert 0.2 < test.sparse.mean() < 0.8


def test_two_logs_make_the_same_cross_domain_dataset_as_one_log_with_a_domain_column(tmp_path):
    from ltvkit.data import read_domains

    rng = np.random.default_rng(2)
    n = 1500
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, 80, n).astype(str),
        "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
        "domain": rng.choice(["market", "logistics"], n),
    })
    one = read_transactions(frame, ColumnMapping(domain="domain"))
    market = frame[frame.domain == "market"].drop(columns="domain")
    market_path = tmp_path / "market.parquet"
    market.to_parquet(market_path)
    two = read_domains({"market": market_path,
                        "logistics": frame[frame.domain == "logistics"].drop(columns="domain")})
    assert two.quality.rows_read == one.quality.rows_read
    a = build_dataset(one, _task(0.0))
    b = build_dataset(two, _task(0.0))
    assert a.feature_names == b.feature_names
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_runner_rebuilds_each_level_with_the_seed_and_scores_sparse_customers_apart(
        two_domain_log, tmp_path):
    def rebuild(share: float, seed: int):
        return build_dataset(two_domain_log, _task(share, seed))

    plan = BenchmarkPlan(rebuild(0.0, 0), customer_split, ["historical_mean"], [0, 1], [0, 50],
                         rebuild)
    assert plan.n_steps == 4
    steps: list[str] = []
    records = plan.run(tmp_path, on_step=steps.append)
    assert steps == ["historical_mean seed 0-sparsity0", "historical_mean seed 1-sparsity0",
                     "historical_mean seed 0-sparsity50", "historical_mean seed 1-sparsity50"]
    assert [(r["sparsity"], r["seed"]) for r in records] == [(0, 0), (0, 1), (50, 0), (50, 1)]
    assert all("error" not in r for r in records), records
    assert not any("metrics_sparse" in r for r in records[:2])
    record = records[3]
    frame = pd.read_parquet(tmp_path / "predictions" / "historical_mean-sparsity50-seed1.parquet")
    # the sparse customers of level 50 are drawn with the run's seed (1)
    _, _, test = customer_split(rebuild(0.5, 1), 1)
    np.testing.assert_array_equal(frame["sparse"].to_numpy(), test.sparse)
    for key, part in (("metrics_sparse", frame[frame["sparse"]]),
                      ("metrics_non_sparse", frame[~frame["sparse"]])):
        assert record[key]["n"] == len(part)
        assert record[key]["nmae"] == pytest.approx(nmae(part.y_true, part.y_pred))
    assert "[sparsity=50]" in (tmp_path / "leaderboard.md").read_text()
