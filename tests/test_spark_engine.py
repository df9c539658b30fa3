"""The Spark engine's read equals the DuckDB engine's: the same log, the same data-quality
report, the same one-line errors (rule, column, count) on the bad inputs of
tests/test_bad_inputs.py. Real Spark in local mode (marker ``spark``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import CleaningRules, ColumnMapping, read_transactions
from ltvkit.data.engine import get_engine
from ltvkit.data.spark_engine import SparkEngine, spark_time_format
from ltvkit.errors import DataValidationError
from test_bad_inputs import (
    World,
    _corrupt_parquet,
    _csv_folder,
    _duplicated_lines,
    _empty_folder,
    _header_only,
    _huge_amounts,
    _latin1,
    _mixed_offsets,
    _nan_ids,
    _truncated_gz,
    _with,
    generated_log,
    write_csv,
)

pytestmark = [pytest.mark.spark,
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")]


class SmallWorld(World):
    """The file builders of the bad-input table without its trained models."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = generated_log()
        self.good = write_csv(self.base, root / "good.csv")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> SmallWorld:
    return SmallWorld(tmp_path_factory.mktemp("spark_bad"))


def rows_of(log) -> pd.DataFrame:
    """The kept rows, sorted by every column (ties on customer, ts and amount may be ordered
    differently by the two engines' row hashes)."""
    a = log.arrays
    frame = pd.DataFrame({"customer": np.repeat(a.customer_ids.astype(str),
                                                np.diff(a.customer_starts)),
                          "ts": a.ts, "amount": a.amount})
    if a.quantity is not None:
        frame["quantity"] = a.quantity
    return frame.sort_values(list(frame.columns), ignore_index=True)


def assert_same_log(duck, spark) -> None:
    assert spark.quality.to_dict() == duck.quality.to_dict()
    assert (spark.time_min, spark.time_max, spark.data_end) == \
        (duck.time_min, duck.time_max, duck.data_end)
    a, b = duck.arrays, spark.arrays
    np.testing.assert_array_equal(b.customer_ids, a.customer_ids)
    np.testing.assert_array_equal(b.customer_starts, a.customer_starts)
    np.testing.assert_array_equal(b.ts, a.ts)
    np.testing.assert_array_equal(b.amount, a.amount)
    pd.testing.assert_frame_equal(rows_of(spark), rows_of(duck))
    for name in ("order", "category"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:  # the same number of distinct codes per customer
            cust = a.row_customers()
            nx = pd.Series(x).groupby(cust).nunique().to_numpy()
            ny = pd.Series(y).groupby(cust).nunique().to_numpy()
            np.testing.assert_array_equal(ny, nx)
    assert spark.domains() == duck.domains()
    assert spark.table is None and duck.table is not None


def test_spark_is_an_engine_by_name():
    assert isinstance(get_engine("spark"), SparkEngine)


def test_strptime_formats_become_spark_patterns():
    assert spark_time_format("%Y%m%d") == "yyyyMMdd"
    assert spark_time_format("%d/%m/%Y %H:%M:%S") == "dd/MM/yyyy HH:mm:ss"
    assert spark_time_format("%Y-%m-%dT%H:%M") == "yyyy-MM-dd'T'HH:mm"
    with pytest.raises(DataValidationError, match="%Q") as err:
        spark_time_format("%Y%Q")
    assert err.value.column == "time_format"


def test_cdnow_reads_identically(spark):
    import gzip
    from importlib import resources

    source = resources.files("ltvkit.datasets") / "data" / "CDNOW_master.txt.gz"
    with resources.as_file(source) as path, gzip.open(path, "rt") as fh:
        frame = pd.read_csv(fh, sep=r"\s+", header=None, skiprows=1,
                            names=["customer_id", "date", "number_of_cds", "dollar_value"],
                            dtype={"customer_id": str, "date": str})
    mapping = ColumnMapping(customer="customer_id", time="date", amount="dollar_value",
                            quantity="number_of_cds", time_format="%Y%m%d")
    # (The protocol keeps duplicates and $0 rows; dropping them exercises both rules.)
    duck = read_transactions(frame, mapping, CleaningRules())
    log = read_transactions(frame, mapping, CleaningRules(), engine=SparkEngine(spark))
    assert_same_log(duck, log)
    assert log.quality.dropped["exact_duplicates"] == 255  # CDNOW's repeated lines
    assert log.quality.dropped["zero_amount"] == 80


def test_online_retail_csv_reads_identically(spark, shared_data):
    path = shared_data / "online_retail" / "online_retail.csv.gz"
    mapping = ColumnMapping(customer="CustomerID", time="InvoiceDate",
                            amount="Quantity*UnitPrice", order="InvoiceNo", quantity="Quantity",
                            category="StockCode")
    duck = read_transactions(path, mapping)
    log = read_transactions(path, mapping, engine=SparkEngine(spark))
    assert_same_log(duck, log)
    assert log.quality.rows_read == 541_909
    assert log.quality.dropped["missing_customer_id"] == 135_080
    assert log.quality.warnings == duck.quality.warnings and log.quality.warnings


# Cases of tests/test_bad_inputs.py that are about reading a log (the others are the task's,
# the model's or the CLI's and engine-independent).
READ_CASES = {
    "late_bad_timestamp": lambda w: w.big_with_bad_cell("late_ts.csv", "timestamp",
                                                        "31/12/2020"),
    "late_bad_amount": lambda w: w.big_with_bad_cell("late_amount.csv", "amount", "1,234.50"),
    "latin1_without_encoding": _latin1,
    "truncated_gzip": _truncated_gz,
    "corrupt_parquet": _corrupt_parquet,
    "empty_folder": _empty_folder,
    "folder_of_csvs": _csv_folder,
    "amount_beyond_float32": lambda w: _with(w, "huge.csv", _huge_amounts),
    "nan_text_customer_ids": lambda w: _with(w, "nan_ids.csv", _nan_ids),
    "mixed_naive_and_aware_timestamps": lambda w: _with(w, "mixed.csv", _mixed_offsets),
    "duplicates_above_five_percent": lambda w: _with(w, "dups.csv", _duplicated_lines),
    "missing_file": lambda w: w.root / "nope.csv",
    "header_only_csv": _header_only,
}
MAPPINGS = {
    "missing_column": ColumnMapping(customer="Client"),
    "unparseable_amount_expression": ColumnMapping(amount="amount +* 2"),
    "non_numeric_quantities": ColumnMapping(quantity="quantity"),
}


def _outcome(source, mapping, engine):
    try:
        log = read_transactions(source, mapping, engine=engine)
    except DataValidationError as exc:
        return "error", (exc.rule, exc.column, exc.n_rows), str(exc)
    return "ok", log.quality.to_dict(), None


@pytest.mark.parametrize("case", [*READ_CASES, *MAPPINGS])
def test_bad_input_gives_the_same_outcome(case, world, spark):
    source = READ_CASES[case](world) if case in READ_CASES else world.good
    if case == "non_numeric_quantities":
        frame = world.base.copy()
        frame.loc[[3, 4], "quantity"] = ["two", "?"]
        source = world.csv("bad_qty.csv", frame)
    mapping = MAPPINGS.get(case, ColumnMapping())
    duck = _outcome(source, mapping, "duckdb")
    got = _outcome(source, mapping, SparkEngine(spark))
    assert got[0] == duck[0], (got, duck)
    if case == "latin1_without_encoding":  # DuckDB stops at the first bad byte
        assert got[1][:2] == duck[1][:2] and "--encoding latin-1" in got[2]
    else:
        assert got[1] == duck[1]
    if duck[0] == "error":
        assert "\n" not in got[2]
        # Past the first colon, a reader's or SQL parser's own words may follow.
        assert got[2].split(":")[0] == duck[2].split(":")[0]
        if duck[1][0] != "readable input" and case != "unparseable_amount_expression":
            assert got[2] == duck[2]


def test_local_masters_and_the_skip_reason(monkeypatch):
    import os

    from ltvkit.data import spark_session

    assert spark_session.local_cores("local[2]") == 2
    assert spark_session.local_cores("local[7]") == 7
    assert spark_session.local_cores("local") == 1
    assert spark_session.local_cores("local[*]") == (os.cpu_count() or 1)
    assert spark_session.local_cores("spark://host:7077") is None
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "no Java runtime" in spark_session.spark_unavailable()
