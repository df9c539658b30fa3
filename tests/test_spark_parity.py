"""The dataset built on Spark (customers hashed into partitions, the same kernels in each)
equals the DuckDB engine's: same customers and cutoffs, features and sequences within 1e-9
relative, labels, categorical codes, sparse flags and the data-quality report identical; on
CDNOW, Online Retail and Olist (cross-domain, sliding cutoffs, sparsity 50 %), and the leakage
property test of tests/test_windows.py run against the Spark build. Real Spark in local mode
(marker ``spark``)."""

from __future__ import annotations

import dataclasses
import gzip
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import _cdnow_attributes
from ltvkit.data import (
    CleaningRules,
    ColumnMapping,
    LTVDataset,
    build_dataset,
    read_domains,
    read_transactions,
)
from ltvkit.data.dataset import iter_dataset_chunks
from ltvkit.data.dataset_io import sample_files
from ltvkit.data.sources import new_connection
from ltvkit.data.spark_build import build_dataset_spark
from ltvkit.datasets import get_dataset
from test_windows import (
    CUSTOMERS,
    MAPPING_ROWS,
    MAX_AFTER,
    _edges,
    _log_frame,
    _rows,
    _task,
    task_options,
)

pytestmark = [pytest.mark.spark,
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")]


def by_customer_and_cutoff(ds: LTVDataset) -> LTVDataset:
    return ds.subset(np.lexsort((ds.cutoff, ds.customer_id.astype(str))))


def assert_same_dataset(duck: LTVDataset, path) -> LTVDataset:
    """The Spark dataset in ``path`` equals ``duck`` (both sorted by customer and cutoff)."""
    spark = by_customer_and_cutoff(LTVDataset.load(path))
    duck = by_customer_and_cutoff(duck)
    assert len(spark) == len(duck) > 0
    np.testing.assert_array_equal(spark.customer_id, duck.customer_id)
    np.testing.assert_array_equal(spark.cutoff, duck.cutoff)
    for name in ("feature_names", "categorical_names", "channel_names", "vocabularies",
                 "horizons", "horizon_days", "domains", "target_domain"):
        assert getattr(spark, name) == getattr(duck, name), name
    np.testing.assert_allclose(spark.features, duck.features, rtol=1e-9, atol=0)
    np.testing.assert_allclose(spark.sequences, duck.sequences, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(spark.categorical, duck.categorical)
    np.testing.assert_array_equal(spark.labels, duck.labels)
    np.testing.assert_array_equal(spark.label_orders, duck.label_orders)
    assert spark.labels_by_domain.keys() == duck.labels_by_domain.keys()
    for dom in duck.labels_by_domain:
        np.testing.assert_array_equal(spark.labels_by_domain[dom], duck.labels_by_domain[dom])
        np.testing.assert_array_equal(spark.label_orders_by_domain[dom],
                                      duck.label_orders_by_domain[dom])
    assert (spark.sparse is None) == (duck.sparse is None)
    if duck.sparse is not None:
        np.testing.assert_array_equal(spark.sparse, duck.sparse)
    assert spark.meta["quality"] == duck.meta["quality"]
    assert spark.meta["task"] == duck.meta["task"]
    # The parts are read in chunks too (data larger than memory), every sample once.
    assert sum(len(c) for c in iter_dataset_chunks(path, batch_rows=5000)) == len(duck)
    return spark


def _cdnow_frame() -> pd.DataFrame:
    source = resources.files("ltvkit.datasets") / "data" / "CDNOW_master.txt.gz"
    with resources.as_file(source) as path, gzip.open(path, "rt") as fh:
        return pd.read_csv(fh, sep=r"\s+", header=None, skiprows=1,
                           names=["customer_id", "date", "number_of_cds", "dollar_value"],
                           dtype={"customer_id": str, "date": str})


CDNOW_MAPPING = ColumnMapping(customer="customer_id", time="date", amount="dollar_value",
                              quantity="number_of_cds", time_format="%Y%m%d")
CDNOW_CLEANING = CleaningRules(drop_duplicates=False, zero_amounts="keep")


def test_cdnow_protocol_with_attributes(spark, cdnow_log, tmp_path):
    public = get_dataset("cdnow")
    frame = _cdnow_frame()
    attrs = _cdnow_attributes(np.unique(frame["customer_id"]))
    duck = build_dataset(cdnow_log, public.task, attrs)
    built = build_dataset_spark(frame, CDNOW_MAPPING, public.task, tmp_path / "cdnow",
                                cleaning=CDNOW_CLEANING, spark=spark, attributes=attrs,
                                n_partitions=3)
    assert len(sample_files(built.path)) >= 3  # one Parquet part per partition at least
    ds = assert_same_dataset(duck, built.path)
    assert built.n_samples == len(ds) == 23_570 and built.n_customers == 23_570
    assert ds.meta["quality"]["customers"]["in_dataset"] == 23_570
    assert ds.meta["quality"]["attributes"]["rows_matched"] == 23_570


def test_online_retail_slice(spark, shared_data, tmp_path):
    """Every fourth customer of Online Retail (and the rows without one), its protocol and the
    country attribute, read from CSV by each engine."""
    public = get_dataset("online_retail")
    src = shared_data / "online_retail" / "online_retail.csv.gz"
    part = tmp_path / "slice.csv"
    new_connection().execute(
        f"COPY (SELECT * FROM read_csv('{src}', header=true) "
        "WHERE CustomerID IS NULL OR CAST(CustomerID AS BIGINT) % 4 = 0) "
        f"TO '{part}' (HEADER)")
    mapping = ColumnMapping(customer="CustomerID", time="InvoiceDate",
                            amount="Quantity*UnitPrice", order="InvoiceNo",
                            quantity="Quantity", category="StockCode")
    log = read_transactions(part, mapping)
    attrs = public.load_attributes(log, shared_data)
    duck = build_dataset(log, public.task, attrs)
    built = build_dataset_spark(str(part), mapping, public.task, tmp_path / "or",
                                spark=spark, attributes=attrs)
    ds = assert_same_dataset(duck, built.path)
    assert 700 < len(ds) < 1000
    assert ds.meta["quality"]["dropped"]["missing_customer_id"] == 135_080


def _olist_domains(folder) -> dict:
    con = new_connection()
    items = folder / "order_items.parquet"
    cols = "seller_id, shipping_limit_date AS ts, {} AS amount, order_id, 1 AS quantity, " \
           "product_id"
    return {dom: con.sql(f"SELECT {cols.format(amount)} FROM read_parquet('{items}')")
            .to_arrow_table() for dom, amount in (("sales", "price"),
                                                  ("logistics", "freight_value"))}


def test_olist_cross_domain_sliding_cutoffs_sparsity_50(spark, shared_data, tmp_path):
    public = get_dataset("olist")
    task = dataclasses.replace(public.task, sparsity=0.5, sparsity_seed=0)
    sources = _olist_domains(shared_data / "olist")
    mapping = ColumnMapping(customer="seller_id", time="ts", amount="amount", order="order_id",
                            quantity="quantity", category="product_id")
    cleaning = CleaningRules(drop_duplicates=False, zero_amounts="keep", data_end="2018-09-30")
    log = read_domains(sources, mapping, cleaning)
    attrs = public.load_attributes(log, shared_data)
    duck = build_dataset(log, task, attrs)
    built = build_dataset_spark(sources, mapping, task, tmp_path / "olist", cleaning=cleaning,
                                spark=spark, attributes=attrs, n_partitions=4)
    ds = assert_same_dataset(duck, built.path)
    assert len(np.unique(ds.cutoff)) == 14 and ds.domains == ["sales", "logistics"]
    share = len(np.unique(ds.customer_id[ds.sparse])) / ds.n_customers
    assert share == pytest.approx(0.5, abs=1e-3)
    assert ds.meta["quality"]["dropped"]["after_data_end"] > 0


# ------------------------------------------------------------------ leakage, on Spark
SPARK_HYPO = settings(max_examples=3, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow,
                                             HealthCheck.data_too_large,
                                             HealthCheck.function_scoped_fixture])


def _spark_build(spark, frame: pd.DataFrame, task, out) -> LTVDataset:
    built = build_dataset_spark(frame, MAPPING_ROWS, task, out, spark=spark, n_partitions=2)
    return by_customer_and_cutoff(LTVDataset.load(built.path))


@SPARK_HYPO
@given(opts=task_options,
       before=_rows(-40 * 86_400, 0, _edges(0, -1, -10)),
       after=_rows(0, MAX_AFTER, _edges(0, 1, 7, 30)),
       after_changed=_rows(0, MAX_AFTER, _edges(0, 1, 7, 30)))
def test_on_spark_rows_after_the_cutoff_never_change_features(spark, tmp_path, opts, before,
                                                              after, after_changed):
    task = _task(opts)
    one = _spark_build(spark, _log_frame(before, after), task, tmp_path / "a")
    two = _spark_build(spark, _log_frame(before, after_changed), task, tmp_path / "b")
    np.testing.assert_array_equal(one.customer_id, two.customer_id)
    np.testing.assert_allclose(one.features, two.features, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(one.sequences, two.sequences, rtol=1e-6, atol=1e-6)
    # And the Spark build is the DuckDB build of the same log.
    duck = by_customer_and_cutoff(build_dataset(
        read_transactions(_log_frame(before, after), MAPPING_ROWS), task))
    np.testing.assert_array_equal(one.features, duck.features)
    np.testing.assert_array_equal(one.labels, duck.labels)


@SPARK_HYPO
@given(opts=task_options, data=st.data())
def test_on_spark_rows_outside_the_horizon_never_change_labels(spark, tmp_path, opts, data):
    h = opts["horizon"]
    edges = _edges(-1, 0, 1, h)
    before = _rows(-40 * 86_400, 0, edges)
    inside = data.draw(_rows(0, h * 86_400, edges), "inside")
    late = _rows(h * 86_400, MAX_AFTER, edges + _edges(h + 1))
    out_one = data.draw(before, "before") + data.draw(late, "late")
    out_two = data.draw(before, "before2") + data.draw(late, "late2")
    task = _task(opts)
    one = _spark_build(spark, _log_frame(out_one, inside), task, tmp_path / "a")
    two = _spark_build(spark, _log_frame(out_two, inside), task, tmp_path / "b")
    lab_one = dict(zip(one.customer_id, one.labels[:, 0], strict=True))
    lab_two = dict(zip(two.customer_id, two.labels[:, 0], strict=True))
    common = set(lab_one) & set(lab_two)
    assert set(CUSTOMERS) <= common or opts["cohort"] == "active"
    inside_df = pd.DataFrame(inside, columns=["customer_id", "offset", "amount"]).drop_duplicates()
    for cid in common:
        assert lab_one[cid] == pytest.approx(lab_two[cid], abs=1e-9), cid
        amounts = inside_df.loc[inside_df["customer_id"] == cid, "amount"]
        assert lab_one[cid] == pytest.approx(max(amounts.sum(), 0.0), abs=1e-9)


def test_ltv_prepare_engine_spark_equals_duckdb(spark, tmp_path):
    """The CLI: ``ltv prepare --engine spark --master local[1]`` (its own Spark in a
    subprocess) writes the dataset ``ltv prepare`` writes; a public dataset is refused."""
    import subprocess
    import sys

    from test_bad_inputs import generated_log, write_csv

    log = write_csv(generated_log(), tmp_path / "log.csv")
    common = ["--cutoff", "2021-08-31", "--horizons", "30D,90D", "--period", "M",
              "--quantity-col", "quantity"]

    def ltv(*args):
        return subprocess.run([sys.executable, "-m", "ltvkit.cli", "prepare", *args],
                              capture_output=True, text=True, timeout=600, check=False)

    duck = ltv(str(log), *common, "--out", str(tmp_path / "duck"))
    assert duck.returncode == 0, duck.stderr
    res = ltv(str(log), *common, "--out", str(tmp_path / "spark"), "--engine", "spark",
              "--master", "local[1]")
    assert res.returncode == 0, res.stderr
    assert "in 2 Spark partitions" in " ".join((res.stdout + res.stderr).split())
    assert_same_dataset(LTVDataset.load(tmp_path / "duck"), tmp_path / "spark")
    bad = ltv("--dataset", "cdnow", "--engine", "spark", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--engine spark reads a LOG file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
