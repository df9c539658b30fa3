"""Shared fixtures: real data (bundled CDNOW, ../shared/datasets) built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import LTVTask, build_dataset
from ltvkit.datasets import get_dataset

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def shared_datasets_dir() -> Path:
    """../shared/datasets beside the checkout (or LTVKIT_TEST_DATA); skip when absent."""
    path = Path(os.environ.get("LTVKIT_TEST_DATA", SHARED_DATASETS))
    if not path.exists():
        pytest.skip(f"real datasets not found at {path}")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_datasets_dir()


@pytest.fixture(scope="session")
def cdnow_log():
    return get_dataset("cdnow").load_log()


def _cdnow_attributes(customer_ids: np.ndarray) -> pd.DataFrame:
    """Generated customer attributes for CDNOW (which has none): a categorical and a numeric."""
    ids = np.asarray(customer_ids, dtype=str)
    codes = np.array([int(c) % 5 for c in ids])
    return pd.DataFrame({"customer_id": ids,
                         "segment": np.array(["a", "b", "c", "d", "e"])[codes],
                         "score": (codes * 1.5 + 1.0)})


@pytest.fixture(scope="session")
def cdnow_dataset(cdnow_log):
    """The cdnow protocol dataset (23,570 customers, one 273-day horizon) with attributes."""
    ds = get_dataset("cdnow")
    ids = cdnow_log.con.execute(f"SELECT DISTINCT customer_id FROM {cdnow_log.table}").fetchnumpy()
    return build_dataset(cdnow_log, ds.task, _cdnow_attributes(ids["customer_id"]))


@pytest.fixture(scope="session")
def cdnow_multi_horizon(cdnow_log):
    task = LTVTask(cutoff="1997-09-30", horizons=("30D", "90D", "180D", "273D"), period="M",
                   n_periods=9)
    ids = cdnow_log.con.execute(f"SELECT DISTINCT customer_id FROM {cdnow_log.table}").fetchnumpy()
    return build_dataset(cdnow_log, task, _cdnow_attributes(ids["customer_id"]))


@pytest.fixture(scope="session")
def cdnow_slices(cdnow_dataset):
    """Small seeded train / valid / test slices of CDNOW for fast model tests."""
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(cdnow_dataset))
    return (cdnow_dataset.subset(idx[:1500]), cdnow_dataset.subset(idx[1500:1800]),
            cdnow_dataset.subset(idx[1800:2600]))


@pytest.fixture(scope="session")
def olist_cross_domain(shared_data):
    """Olist with its cross-domain protocol (sales -> logistics) and 20 % sparse sellers."""
    import dataclasses

    os.environ.setdefault("LTVKIT_DATA_HOME", str(shared_data))
    public = get_dataset("olist")
    log = public.load_log(shared_data)
    task = dataclasses.replace(public.task, sparsity=0.2, sparsity_seed=0)
    return build_dataset(log, task, public.load_attributes(log, shared_data))


@pytest.fixture(scope="session")
def olist_slices(olist_cross_domain):
    """Small train / valid / test slices of Olist split by time as its protocol says."""
    train, valid, test = get_dataset("olist").split.split(olist_cross_domain, 0)
    rng = np.random.default_rng(7)
    return (train.subset(rng.permutation(len(train))[:1500]),
            valid.subset(rng.permutation(len(valid))[:400]),
            test.subset(rng.permutation(len(test))[:800]))


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (2 cores) for every Spark test; skipped, with the reason, when
    pyspark or Java is missing."""
    from ltvkit.data.spark_session import get_spark, spark_unavailable

    reason = spark_unavailable()
    if reason:
        pytest.skip(f"Spark tests need pyspark and Java: {reason}")
    return get_spark("local[2]")
