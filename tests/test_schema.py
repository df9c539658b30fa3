"""read_transactions: every source kind, column mapping, validation errors, cleaning counts.

Every test asserts concrete values: the canonical table a source gives, the column / rule / row
count an error names, the number of rows each cleaning rule drops (checked against an independent
pandas computation where the input is random or real).
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltvkit.data import CleaningRules, ColumnMapping, LTVTask, build_dataset, read_transactions
from ltvkit.data.sources import new_connection
from ltvkit.errors import DataValidationError

# ----------------------------------------------------------------------------- helpers


def canonical(log) -> pd.DataFrame:
    """The log's table as a sorted pandas frame (small logs only)."""
    df = log.con.execute(
        f"SELECT customer_id, ts, amount, order_id, quantity FROM {log.table}"
    ).df()
    return df.sort_values(["customer_id", "ts", "amount"]).reset_index(drop=True)


def assert_balanced(q) -> None:
    assert q.rows_read == q.rows_kept + sum(q.dropped.values())
    assert q.rows_dropped == sum(q.dropped.values())


# A small log in canonical form, with a refund and a customer of several rows.
SOURCE = pd.DataFrame({
    "customer_id": ["c1", "c1", "c2", "c3", "c3", "c3"],
    "timestamp": pd.to_datetime(["2021-01-01 10:00:00", "2021-01-05 23:59:59",
                                 "2021-01-02 00:00:00", "2021-01-03 12:30:00",
                                 "2021-01-04 08:00:00", "2021-02-01 00:00:01"]),
    "amount": [10.5, -3.25, 7.0, 1.0, 2.0, 100.0],
    "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
    "quantity": [1, 2, 3, 4, 5, 6],
})
SOURCE_MAPPING = ColumnMapping(order="order_id", quantity="quantity")


def expected_canonical() -> pd.DataFrame:
    exp = pd.DataFrame({
        "customer_id": SOURCE["customer_id"],
        "ts": SOURCE["timestamp"].astype("datetime64[us]"),
        "amount": SOURCE["amount"].astype(float),
        "order_id": SOURCE["order_id"],
        "quantity": SOURCE["quantity"].astype(float),
    })
    return exp.sort_values(["customer_id", "ts", "amount"]).reset_index(drop=True)


def _csv(tmp_path):
    path = tmp_path / "log.csv"
    SOURCE.to_csv(path, index=False)
    return str(path), None


def _csv_gz(tmp_path):
    plain, _ = _csv(tmp_path)
    path = tmp_path / "log.csv.gz"
    with open(plain, "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return str(path), None


def _parquet_file(tmp_path):
    path = tmp_path / "log.parquet"
    SOURCE.to_parquet(path, index=False)
    return str(path), None


def _parquet_parts(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    SOURCE.iloc[:2].to_parquet(folder / "part-0.parquet", index=False)
    SOURCE.iloc[2:].to_parquet(folder / "part-1.parquet", index=False)
    return folder


def _parquet_folder(tmp_path):
    return str(_parquet_parts(tmp_path)), None


def _parquet_glob(tmp_path):
    return str(_parquet_parts(tmp_path) / "part-*.parquet"), None


def _csv_glob(tmp_path):
    SOURCE.iloc[:3].to_csv(tmp_path / "a-0.csv", index=False)
    SOURCE.iloc[3:].to_csv(tmp_path / "a-1.csv", index=False)
    return str(tmp_path / "a-*.csv"), None


def _pandas(tmp_path):
    return SOURCE.copy(), None


def _polars(tmp_path):
    return pl.from_pandas(SOURCE), None


def _arrow(tmp_path):
    return pa.Table.from_pandas(SOURCE, preserve_index=False), None


def _relation_other_connection(tmp_path):
    path, _ = _parquet_file(tmp_path)
    other = duckdb.connect()
    return other.read_parquet(path), None


def _relation_same_connection(tmp_path):
    path, _ = _parquet_file(tmp_path)
    con = new_connection()
    return con.sql(f"SELECT * FROM read_parquet('{path}')"), con


SOURCES = {
    "csv": _csv, "csv.gz": _csv_gz, "parquet": _parquet_file, "parquet-folder": _parquet_folder,
    "parquet-glob": _parquet_glob, "csv-glob": _csv_glob, "pandas": _pandas, "polars": _polars,
    "arrow": _arrow, "relation-other-con": _relation_other_connection,
    "relation-same-con": _relation_same_connection,
}


# ----------------------------------------------------------------------------- sources


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_source_kind_gives_the_same_canonical_table(kind, tmp_path):
    source, con = SOURCES[kind](tmp_path)
    log = read_transactions(source, SOURCE_MAPPING, con=con)
    # The connection is usable right away (no half-read result left on it).
    assert log.relation().aggregate("count(*)").fetchall() == [(6,)]
    if con is not None:
        assert log.con is con
    got = canonical(log)
    pd.testing.assert_frame_equal(got, expected_canonical(), check_dtype=False)
    assert str(got["ts"].dtype).startswith("datetime64")
    q = log.quality
    assert (q.rows_read, q.rows_kept, q.n_customers) == (6, 6, 3)
    assert q.kept_with_notes["refund_rows_kept"] == 1
    assert log.time_min == dt.datetime(2021, 1, 1, 10, 0, 0)
    assert log.time_max == dt.datetime(2021, 2, 1, 0, 0, 1)
    assert log.data_end == dt.date(2021, 2, 1)
    assert log.has_order and log.has_quantity and not log.has_category and not log.has_domain


def test_relation_from_another_connection_is_not_shadowed_by_an_earlier_read(tmp_path):
    """Reusing a connection and table name: the second read gets the second source's rows."""
    path, _ = _csv(tmp_path)
    con = new_connection()
    first = read_transactions(path, con=con, table="tx")
    assert first.n_rows == 6
    other = duckdb.connect()
    rel = other.sql("SELECT 'zz' AS customer_id, TIMESTAMP '2022-05-05 05:05:05' AS timestamp, "
                    "42.0 AS amount")
    second = read_transactions(rel, con=con, table="tx")
    rows = con.execute("SELECT customer_id, ts, amount FROM tx").fetchall()
    assert rows == [("zz", dt.datetime(2022, 5, 5, 5, 5, 5), 42.0)]
    assert second.quality.rows_read == 1
    # And a DataFrame after a file on the same connection and table name.
    third = read_transactions(SOURCE.iloc[:2], con=con, table="tx")
    assert third.quality.rows_read == 2
    assert sorted(r[0] for r in con.execute("SELECT customer_id FROM tx").fetchall()) == \
        ["c1", "c1"]


def test_amount_as_sql_expression():
    df = pd.DataFrame({"CustomerID": ["a", "a", "b"],
                       "InvoiceDate": ["2020-01-01 10:00:00", "2020-01-02 10:00:00",
                                       "2020-01-03 10:00:00"],
                       "Quantity": [3, -1, 2], "UnitPrice": [2.5, 2.5, 0.25]})
    log = read_transactions(df, ColumnMapping(customer="CustomerID", time="InvoiceDate",
                                              amount="Quantity*UnitPrice", quantity="Quantity"))
    got = canonical(log)
    assert got["amount"].tolist() == [7.5, -2.5, 0.5]
    assert got["quantity"].tolist() == [3.0, -1.0, 2.0]
    assert log.quality.kept_with_notes["refund_rows_kept"] == 1


def test_unsupported_file_format_and_missing_file(tmp_path):
    bad = tmp_path / "log.xlsx"
    bad.write_text("x")
    with pytest.raises(DataValidationError, match="cannot tell the format") as err:
        read_transactions(str(bad))
    assert err.value.rule == "known file format"
    with pytest.raises(DataValidationError, match="not found") as err:
        read_transactions(str(tmp_path / "nope.csv"))
    assert err.value.rule == "file exists"
    with pytest.raises(DataValidationError, match="unsupported input") as err:
        read_transactions([1, 2, 3])
    assert err.value.rule == "supported input"


# ----------------------------------------------------------------------------- errors

BASE = {"customer_id": ["a", "b", "c", "d"],
        "timestamp": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"],
        "amount": [1.0, 2.0, 3.0, 4.0]}


def frame(**changes) -> pd.DataFrame:
    data = dict(BASE)
    data.update(changes)
    return pd.DataFrame(data)


@pytest.mark.parametrize("missing, role", [("customer_id", "customer"), ("timestamp", "time"),
                                           ("amount", "amount")])
def test_missing_column_is_named(missing, role):
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame().drop(columns=missing))
    e = err.value
    assert e.column == missing
    assert e.rule == "column exists"
    assert f"'{missing}'" in str(e)
    # The message lists what the input does have.
    others = [c for c in BASE if c != missing]
    assert all(c in str(e) for c in others)


def test_missing_optional_column_is_named():
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(), ColumnMapping(order="InvoiceNo"))
    assert err.value.column == "InvoiceNo" and err.value.rule == "column exists"
    assert "order" in str(err.value)


def test_unparseable_timestamps_are_counted():
    df = frame(timestamp=["2020-01-01", "yesterday", "2020-13-45", "2020-01-04"])
    with pytest.raises(DataValidationError) as err:
        read_transactions(df)
    e = err.value
    assert (e.column, e.rule, e.n_rows) == ("timestamp", "parseable timestamp", 2)
    assert "2 rows" in str(e) and "timestamp" in str(e) and "parseable timestamp" in str(e)
    assert "time_format" in str(e)


def test_unparseable_timestamps_with_a_format_are_counted():
    df = frame(timestamp=[19970101, 19970231, 19971301, 19970104])
    with pytest.raises(DataValidationError) as err:
        read_transactions(df, ColumnMapping(time_format="%Y%m%d"))
    assert (err.value.rule, err.value.n_rows) == ("parseable timestamp", 2)
    assert "%Y%m%d" in str(err.value)


@pytest.mark.parametrize("values", [
    ["2020-01-01", None, None, None],
    pd.to_datetime(["2020-01-01", None, None, None]),
], ids=["text", "datetime"])
def test_missing_timestamps_are_counted(values):
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(timestamp=values))
    e = err.value
    assert (e.column, e.rule, e.n_rows) == ("timestamp", "timestamp required", 3)
    assert "3 rows" in str(e) and "timestamp required" in str(e)


def test_non_numeric_amounts_are_counted():
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(amount=["1.5", "abc", "2", "n/a"]))
    e = err.value
    assert (e.column, e.rule, e.n_rows) == ("amount", "numeric amount", 2)
    assert "2 rows" in str(e) and "numeric amount" in str(e) and "'amount'" in str(e)


def test_missing_amounts_are_counted():
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(amount=[1.0, None, 2.0, None]))
    assert (err.value.column, err.value.rule, err.value.n_rows) == ("amount", "amount required", 2)


def test_nan_amounts_are_counted():
    # Arrow keeps NaN as a value (pandas would turn it into a missing value).
    table = pa.table({"customer_id": BASE["customer_id"], "timestamp": BASE["timestamp"],
                      "amount": pa.array([1.0, float("nan"), float("nan"), float("nan")])})
    with pytest.raises(DataValidationError) as err:
        read_transactions(table)
    e = err.value
    assert (e.column, e.rule, e.n_rows) == ("amount", "finite amount", 3)
    assert "3 rows" in str(e) and "NaN" in str(e)
    # In pandas NaN is the missing marker: still an error that counts the rows.
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(amount=[1.0, np.nan, 2.0, 3.0]))
    assert err.value.column == "amount" and err.value.n_rows == 1


def test_infinite_amounts_are_counted():
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(amount=[1.0, np.inf, -np.inf, 2.0]))
    e = err.value
    assert (e.column, e.rule, e.n_rows) == ("amount", "finite amount", 2)
    assert "2 rows" in str(e) and "infinite" in str(e)


def test_nan_amount_from_an_expression_text(tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text("customer_id,timestamp,amount\na,2020-01-01,1\nb,2020-01-02,nan\n"
                    "c,2020-01-03,inf\n")
    with pytest.raises(DataValidationError) as err:
        read_transactions(str(path), read_options={"types": {"amount": "VARCHAR"}})
    assert err.value.rule == "finite amount" and err.value.n_rows == 1


def test_empty_input():
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame().iloc[:0])
    assert (err.value.rule, err.value.n_rows) == ("non-empty input", 0)
    assert "no rows" in str(err.value)


def test_nothing_left_after_cleaning_is_an_error():
    with pytest.raises(DataValidationError) as err:
        read_transactions(frame(amount=[0.0, 0.0, 0.0, 0.0]))
    assert (err.value.rule, err.value.n_rows) == ("non-empty input", 0)
    assert "zero_amount" in str(err.value) and "4 read" in str(err.value)


@pytest.mark.parametrize("expr", ["Quantity*", "Quantity*Price", "Quantity*Description"])
def test_bad_amount_expression(expr):
    df = pd.DataFrame({"customer_id": ["a"], "timestamp": ["2020-01-01"], "Quantity": [2],
                       "UnitPrice": [1.5], "Description": ["mug"]})
    with pytest.raises(DataValidationError) as err:
        read_transactions(df, ColumnMapping(amount=expr))
    e = err.value
    assert e.column == expr
    assert e.rule == "column exists"
    assert expr in str(e) and "amount" in str(e)
    assert "Quantity, UnitPrice" in str(e)  # what the input has


# ----------------------------------------------------------------------------- cleaning

CLEANING_ROWS = [
    # customer, timestamp, amount, note
    ("a", "2020-01-01 10:00:00", 5.0, "x"),
    ("a", "2020-01-01 10:00:00", 5.0, "x"),   # duplicate of the row above
    ("a", "2020-01-01 10:00:00", 5.0, "x"),   # and another one
    ("a", "2020-01-01 10:00:00", 5.0, "y"),   # differs in a carried column: kept
    ("b", "2020-01-02 00:00:00", -4.0, "r"),  # refund
    ("b", "2020-01-02 00:00:00", -4.0, "r"),  # duplicate refund
    ("b", "2020-01-03 00:00:00", 0.0, "z"),   # zero amount
    (None, "2020-01-04 00:00:00", 9.0, "m"),  # no customer id
    (None, "2020-01-04 00:00:00", 9.0, "m"),  # duplicate without customer id
    ("  ", "2020-01-04 00:00:00", 3.0, "m"),  # blank customer id
    ("c", "2020-01-10 23:59:59", 2.0, "e"),   # last second of the data_end day: kept
    ("c", "2020-01-11 00:00:00", 2.0, "e"),   # after data_end
    ("c", "2020-02-01 00:00:00", -1.0, "e"),  # after data_end (and a refund)
    ("d", "2020-01-05 00:00:00", 1.0, "k"),
]


def cleaning_frame() -> pd.DataFrame:
    return pd.DataFrame(CLEANING_ROWS, columns=["customer_id", "timestamp", "amount", "note"])


@pytest.mark.parametrize("rules, dropped, kept, notes, dup_in_input", [
    (CleaningRules(),
     dict(exact_duplicates=3, missing_customer_id=3, after_data_end=0, zero_amount=1,
          refund_dropped=0), 7, dict(refund_rows_kept=2, zero_amount_rows_kept=0), 4),
    (CleaningRules(drop_duplicates=False),
     dict(exact_duplicates=0, missing_customer_id=3, after_data_end=0, zero_amount=1,
          refund_dropped=0), 10, dict(refund_rows_kept=3, zero_amount_rows_kept=0), None),
    (CleaningRules(refunds="drop"),
     dict(exact_duplicates=2, missing_customer_id=3, after_data_end=0, zero_amount=1,
          refund_dropped=3), 5, dict(refund_rows_kept=0, zero_amount_rows_kept=0), 4),
    (CleaningRules(zero_amounts="keep"),
     dict(exact_duplicates=3, missing_customer_id=3, after_data_end=0, zero_amount=0,
          refund_dropped=0), 8, dict(refund_rows_kept=2, zero_amount_rows_kept=1), 4),
    (CleaningRules(data_end="2020-01-10"),
     dict(exact_duplicates=3, missing_customer_id=3, after_data_end=2, zero_amount=1,
          refund_dropped=0), 5, dict(refund_rows_kept=1, zero_amount_rows_kept=0), 4),
], ids=["default", "keep-duplicates", "drop-refunds", "keep-zero", "data-end"])
def test_cleaning_counts(rules, dropped, kept, notes, dup_in_input):
    log = read_transactions(cleaning_frame(), cleaning=rules)
    q = log.quality
    assert q.rows_read == len(CLEANING_ROWS)
    assert q.dropped == dropped
    assert q.rows_kept == kept == log.n_rows
    assert q.kept_with_notes == notes
    assert q.duplicate_rows_in_input == dup_in_input
    assert_balanced(q)
    table_rows = log.con.execute(f"SELECT count(*) FROM {log.table}").fetchall()[0][0]
    assert table_rows == kept
    # No NULL / blank customer id survives; refunds only when kept.
    ids = {r[0] for r in log.con.execute(f"SELECT customer_id FROM {log.table}").fetchall()}
    assert None not in ids and "  " not in ids and "" not in ids
    n_neg = log.con.execute(f"SELECT count(*) FROM {log.table} WHERE amount < 0").fetchall()[0][0]
    assert n_neg == notes["refund_rows_kept"]
    if rules.data_end:
        assert log.data_end == dt.date(2020, 1, 10)
        assert log.time_max == dt.datetime(2020, 1, 10, 23, 59, 59)
    # The report survives a JSON round trip and names each rule in its printable rows.
    from ltvkit.data import DataQualityReport
    again = DataQualityReport.from_dict(__import__("json").loads(q.to_json()))
    assert again == q
    labels = dict(q.rows())
    assert labels["rows read"] == len(CLEANING_ROWS) and labels["rows kept"] == kept


def _reference_report(df: pd.DataFrame, rules: CleaningRules) -> dict:
    """The report computed independently with pandas on a small frame."""
    cid = df["customer_id"].where(df["customer_id"].str.strip() != "", None)
    ts = pd.to_datetime(df["timestamp"])
    fate = pd.Series("kept", index=df.index)
    end = pd.Timestamp(rules.data_end) + pd.Timedelta(days=1) if rules.data_end else None
    amount = df["amount"]
    rules_in_order = [
        ("missing_customer_id", cid.isna()),
        ("after_data_end", ts >= end if end is not None else pd.Series(False, index=df.index)),
        ("zero_amount", (amount == 0) & (rules.zero_amounts == "drop")),
        ("refund_dropped", (amount < 0) & (rules.refunds == "drop")),
    ]
    for name, mask in reversed(rules_in_order):
        fate[mask] = name
    kept = df[fate == "kept"]
    dup = len(kept) - len(kept.drop_duplicates()) if rules.drop_duplicates else 0
    kept_rows = kept.drop_duplicates() if rules.drop_duplicates else kept
    dropped = {name: int((fate == name).sum()) for name, _ in rules_in_order}
    dropped["exact_duplicates"] = dup
    return {"dropped": dropped, "rows_kept": len(kept_rows),
            "refund_rows_kept": int((kept_rows["amount"] < 0).sum()),
            "zero_amount_rows_kept": int((kept_rows["amount"] == 0).sum()),
            "n_customers": kept_rows["customer_id"].nunique(),
            "dup_in_input": (len(df) - len(df.drop_duplicates())) if rules.drop_duplicates
            else None}


row_strategy = st.tuples(
    st.sampled_from(["a", "b", "c", None, "", " "]),
    st.sampled_from(["2020-01-01 00:00:00", "2020-01-05 12:00:00", "2020-01-09 23:59:59",
                     "2020-01-10 00:00:00", "2020-03-01 08:00:00"]),
    st.sampled_from([0.0, 1.0, -1.0, 2.5, -7.0]),
    st.sampled_from(["p", "q"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row_strategy, min_size=1, max_size=25),
       drop_duplicates=st.booleans(), refunds=st.sampled_from(["keep", "drop"]),
       zero=st.sampled_from(["drop", "keep"]),
       data_end=st.sampled_from([None, "2020-01-09", "2020-02-01"]))
def test_report_balances_and_matches_pandas(rows, drop_duplicates, refunds, zero, data_end):
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "note"])
    rules = CleaningRules(drop_duplicates=drop_duplicates, refunds=refunds, zero_amounts=zero,
                          data_end=data_end)
    ref = _reference_report(df, rules)
    if ref["rows_kept"] == 0:
        with pytest.raises(DataValidationError) as err:
            read_transactions(df, cleaning=rules)
        assert err.value.rule == "non-empty input"
        return
    q = read_transactions(df, cleaning=rules).quality
    assert_balanced(q)
    assert q.rows_read == len(df)
    assert q.dropped == ref["dropped"]
    assert q.rows_kept == ref["rows_kept"]
    assert q.kept_with_notes == {"refund_rows_kept": ref["refund_rows_kept"],
                                 "zero_amount_rows_kept": ref["zero_amount_rows_kept"]}
    assert q.n_customers == ref["n_customers"]
    assert q.duplicate_rows_in_input == ref["dup_in_input"]


# ----------------------------------------------------------------------------- types


def test_offsets_in_text_are_normalised_to_utc():
    df = pd.DataFrame({"customer_id": ["a", "a", "b"],
                       "timestamp": ["2021-03-01T05:00:00+02:00", "2021-03-01T23:30:00-05:00",
                                     "2021-03-01 12:00:00"],
                       "amount": [1.0, 2.0, 3.0]})
    got = canonical(read_transactions(df))
    assert got["ts"].tolist() == [pd.Timestamp("2021-03-01 03:00:00"),
                                  pd.Timestamp("2021-03-02 04:30:00"),
                                  pd.Timestamp("2021-03-01 12:00:00")]


def test_offsets_in_a_csv_are_normalised_to_utc(tmp_path):
    path = tmp_path / "tz.csv"
    path.write_text("customer_id,timestamp,amount\n"
                    "a,2021-03-01 05:00:00+02:00,1\n"
                    "b,2021-03-01 23:30:00-05:00,2\n")
    log = read_transactions(str(path))
    got = canonical(log)
    assert got["ts"].tolist() == [pd.Timestamp("2021-03-01 03:00:00"),
                                  pd.Timestamp("2021-03-02 04:30:00")]
    # The cutoff day of the second row is the UTC day, 2 March.
    assert log.data_end == dt.date(2021, 3, 2)


def test_tz_aware_pandas_column_is_normalised_to_utc():
    ts = pd.to_datetime(["2021-07-01 12:00:00", "2021-01-01 00:30:00"]).tz_localize(
        "Europe/Berlin")
    df = pd.DataFrame({"customer_id": ["a", "b"], "timestamp": ts, "amount": [1.0, 2.0]})
    log = read_transactions(df)
    got = canonical(log)
    # Summer time is UTC+2, winter time UTC+1: the second row moves to the previous day.
    assert got["ts"].tolist() == [pd.Timestamp("2021-07-01 10:00:00"),
                                  pd.Timestamp("2020-12-31 23:30:00")]
    assert log.time_min == dt.datetime(2020, 12, 31, 23, 30)
    assert any("UTC" in note for note in log.quality.notes)


def test_float_customer_ids_become_integers_as_text():
    df = pd.DataFrame({"CustomerID": [17850.0, 17850.0, np.nan, 12.5, 13047.0],
                       "timestamp": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04",
                                     "2020-01-05"],
                       "amount": [1.0, 2.0, 3.0, 4.0, 5.0]})
    log = read_transactions(df, ColumnMapping(customer="CustomerID"))
    ids = sorted(r[0] for r in log.con.execute(f"SELECT customer_id FROM {log.table}").fetchall())
    assert ids == ["12.5", "13047", "17850", "17850"]
    assert log.quality.dropped["missing_customer_id"] == 1
    assert log.quality.n_customers == 3


def test_integer_and_text_customer_ids_keep_their_text():
    df = pd.DataFrame({"customer_id": ["007", " 42 ", "x"], "timestamp": ["2020-01-01"] * 3,
                       "amount": [1.0, 2.0, 3.0]})
    ids = sorted(canonical(read_transactions(df))["customer_id"])
    assert ids == ["007", "42", "x"]
    df2 = pd.DataFrame({"cid": np.array([5, 6, 5], dtype=np.int64),
                        "timestamp": ["2020-01-01", "2020-01-01", "2020-01-03"],
                        "amount": [1.0, 2.0, 3.0]})
    # Integer ids stay integers inside DuckDB (fast joins); datasets turn them into text.
    log2 = read_transactions(df2, ColumnMapping(customer="cid"))
    assert sorted(set(canonical(log2)["customer_id"])) == [5, 6]
    ds2 = build_dataset(log2, LTVTask(cutoff="2020-01-01", horizons=("1D",),
                                      allow_partial_horizon=True))
    assert sorted(ds2.customer_id) == ["5", "6"]


def test_integer_dates_with_a_time_format():
    df = pd.DataFrame({"customer_id": ["a", "b"], "date": [19970101, 19971231],
                       "amount": [1.0, 2.0]})
    log = read_transactions(df, ColumnMapping(time="date", time_format="%Y%m%d"))
    got = canonical(log)
    assert got["ts"].tolist() == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-12-31")]
    assert log.data_end == dt.date(1997, 12, 31)


def test_integer_dates_without_a_format_are_an_error_that_suggests_one():
    df = pd.DataFrame({"customer_id": ["a", "b"], "date": [19970101, 19971231],
                       "amount": [1.0, 2.0]})
    with pytest.raises(DataValidationError) as err:
        read_transactions(df, ColumnMapping(time="date"))
    assert (err.value.column, err.value.rule, err.value.n_rows) == ("date", "parseable timestamp",
                                                                    2)
    assert "%Y%m%d" in str(err.value)


def test_date_column_and_carried_optional_columns():
    df = pd.DataFrame({"cust": ["a", "b"], "day": [dt.date(2020, 5, 1), dt.date(2020, 5, 2)],
                       "value": [1, 2], "sku": ["s1", "s2"], "channel": ["web", "shop"]})
    log = read_transactions(df, ColumnMapping(customer="cust", time="day", amount="value",
                                              category="sku", domain="channel"))
    rows = log.con.execute(f"SELECT customer_id, ts, amount, category, domain FROM {log.table} "
                           "ORDER BY 1").fetchall()
    assert rows == [("a", dt.datetime(2020, 5, 1), 1.0, "s1", "web"),
                    ("b", dt.datetime(2020, 5, 2), 2.0, "s2", "shop")]
    assert log.domains() == ["shop", "web"]


# ----------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_online_retail_quality_report(shared_data):
    from ltvkit.datasets import get_dataset

    path = shared_data / "online_retail" / "online_retail.csv.gz"
    log = get_dataset("online_retail").loader(get_dataset("online_retail"), path.parent)
    q = log.quality
    assert_balanced(q)

    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
    # The numbers the datasets README documents.
    assert q.rows_read == len(raw) == 541_909
    assert q.dropped["missing_customer_id"] == raw["CustomerID"].isna().sum() == 135_080
    assert q.duplicate_rows_in_input == len(raw) - len(raw.drop_duplicates()) == 5_268

    # The exact counts, recomputed independently.
    with_id = raw[raw["CustomerID"].notna()]
    amount = with_id["Quantity"] * with_id["UnitPrice"]
    zero = int((amount == 0).sum())
    candidates = with_id[amount != 0]
    kept = candidates.drop_duplicates()
    kept_amount = kept["Quantity"] * kept["UnitPrice"]
    assert q.dropped == {"exact_duplicates": len(candidates) - len(kept),
                         "missing_customer_id": 135_080, "after_data_end": 0,
                         "zero_amount": zero, "refund_dropped": 0}
    assert q.rows_kept == len(kept)
    assert q.kept_with_notes == {"refund_rows_kept": int((kept_amount < 0).sum()),
                                 "zero_amount_rows_kept": 0}
    assert q.n_customers == kept["CustomerID"].nunique()
    # Pinned values, so a silent change of either side shows up.
    assert (q.rows_kept, q.dropped["exact_duplicates"], zero, q.n_customers) == \
        (401_564, 5_225, 40, 4_371)
    assert q.kept_with_notes["refund_rows_kept"] == 8_872
    assert q.time_min == "2010-12-01 08:26:00" and q.time_max == "2011-12-09 12:50:00"

    # Float ids became integer text; the log's totals agree with pandas.
    ids = log.con.execute(f"SELECT DISTINCT customer_id FROM {log.table}").fetchnumpy()
    expected_ids = {str(int(c)) for c in kept["CustomerID"].unique()}
    assert set(ids["customer_id"]) == expected_ids
    total = log.con.execute(f"SELECT sum(amount) FROM {log.table}").fetchall()[0][0]
    assert total == pytest.approx(float(kept_amount.sum()), rel=1e-9)


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.text(max_size=5))
_json_like = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3)),
    max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(notes=st.lists(st.text(max_size=5), max_size=3),
       events=st.dictionaries(st.text(max_size=4), _json_like, max_size=4),
       mapping=st.dictionaries(st.text(max_size=4), _json_like, max_size=4))
def test_plain_dict_is_dataclasses_asdict_without_shared_containers(notes, events, mapping):
    """The report's copy (plain_dict) equals dataclasses.asdict and shares no container with
    the report, whatever JSON-like values it holds."""
    import dataclasses

    from ltvkit.data import DataQualityReport
    from ltvkit.data.plain import plain_dict

    report = DataQualityReport(rows_read=3, rows_kept=3, dropped={"x": 0}, notes=notes,
                               events=events, mapping=mapping,
                               customers={"nested": [1, (2, {"a": None})]})
    copied = plain_dict(report)
    assert copied == dataclasses.asdict(report)
    copied["events"]["new"] = 1
    copied["customers"]["nested"][0] = -1
    assert "new" not in report.events and report.customers["nested"][0] == 1
