"""The arrow engine (ltvkit.data.small_log) against the DuckDB engine: on the same Arrow tables
(CDNOW, Online Retail, generated edge cases) the two logs have the same sorted columns and the
same quality report, the datasets built from them are identical (features, sequences, labels),
and bad rows raise the same one-line errors."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltvkit.data import CleaningRules, ColumnMapping, LTVTask, build_dataset, read_transactions
from ltvkit.data.engine import ENGINES
from ltvkit.data.small_log import ArrowEngine, log_from_records
from ltvkit.datasets import get_dataset
from ltvkit.errors import DataValidationError


def _both(table: pa.Table, mapping: ColumnMapping, cleaning: CleaningRules):
    return (read_transactions(table, mapping, cleaning),
            read_transactions(table, mapping, cleaning, engine=ArrowEngine()))


def _same_log(duck, arrow) -> None:
    assert arrow.table is None
    assert arrow.quality.to_dict() == duck.quality.to_dict()
    a, b = duck.arrays, arrow.arrays
    np.testing.assert_array_equal(a.customer_ids, b.customer_ids)
    assert a.customer_ids.dtype == b.customer_ids.dtype
    for name in ("customer_starts", "ts", "amount"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # Rows tied on (customer, ts, amount) that differ elsewhere are in hash order (DuckDB) or
    # input-row order (arrow): the same rows per tie run, the same distinct codes per customer.
    run = np.cumsum(np.r_[True, (np.diff(a.row_customers()) != 0) | (np.diff(a.ts) != 0)
                          | (np.diff(a.amount) != 0)])
    cust = a.row_customers()
    for name in ("quantity", "order", "category", "domain"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is None:
            continue
        if name == "quantity":
            np.testing.assert_array_equal(x[np.lexsort((x, run))], y[np.lexsort((y, run))])
            continue
        assert len(np.unique(x)) == len(np.unique(y)), name
        for keys in ((cust,), (run,)):
            def distinct(c, k=keys[0]):
                return np.unique(np.c_[k, c], axis=0)[:, 0]
            np.testing.assert_array_equal(np.bincount(distinct(x)), np.bincount(distinct(y)))
    assert a.domain_names == b.domain_names
    for attr in ("time_min", "time_max", "data_end", "has_order", "has_quantity",
                 "has_category", "has_domain"):
        assert getattr(duck, attr) == getattr(arrow, attr), attr


def _same_dataset(duck, arrow, task: LTVTask) -> None:
    x, y = build_dataset(duck, task), build_dataset(arrow, task)
    assert x.feature_names == y.feature_names and x.channel_names == y.channel_names
    np.testing.assert_array_equal(x.customer_id, y.customer_id)
    np.testing.assert_array_equal(x.cutoff, y.cutoff)
    np.testing.assert_array_equal(x.features, y.features)
    np.testing.assert_array_equal(x.sequences, y.sequences)
    np.testing.assert_array_equal(x.labels, y.labels)
    np.testing.assert_array_equal(x.label_orders, y.label_orders)
    assert duck.quality.customers == arrow.quality.customers
    assert len(x.customer_id) > 100 and x.features.std(axis=0).max() > 0


@pytest.fixture(scope="module")
def cdnow_table() -> pa.Table:
    """The bundled CDNOW log as typed Arrow columns (integer ids, timestamps)."""
    log = get_dataset("cdnow").load_log()
    return log.con.sql(f"SELECT customer_id, ts AS date, quantity AS number_of_cds, amount "
                       f"AS dollar_value FROM {log.table}").to_arrow_table()


@pytest.mark.parametrize("cleaning", [
    CleaningRules(drop_duplicates=False, zero_amounts="keep"),  # the CDNOW protocol's
    CleaningRules(),  # duplicates and $0 rows dropped
    CleaningRules(refunds="drop", data_end="1998-03-31"),
])
def test_cdnow_same_log_and_dataset(cdnow_table, cleaning):
    mapping = ColumnMapping(customer="customer_id", time="date", amount="dollar_value",
                            quantity="number_of_cds")
    duck, arrow = _both(cdnow_table, mapping, cleaning)
    _same_log(duck, arrow)
    if cleaning.drop_duplicates:
        assert arrow.quality.dropped["exact_duplicates"] > 0
    task = LTVTask(cutoff="1997-09-30", horizons=("90D", "180D"), period="M", n_periods=9,
                   allow_partial_horizon=True)
    _same_dataset(duck, arrow, task)


@pytest.mark.slow
def test_online_retail_same_log_and_dataset(shared_data):
    con = duckdb.connect()
    table = con.sql(f"""
        SELECT *, Quantity * UnitPrice AS amount FROM read_csv(
            '{shared_data / "online_retail" / "online_retail.csv.gz"}', header=true,
            sample_size=-1)""").to_arrow_table()
    assert table.num_rows == 541_909
    mapping = ColumnMapping(customer="CustomerID", time="InvoiceDate", amount="amount",
                            order="InvoiceNo", quantity="Quantity", category="StockCode")
    duck, arrow = _both(table, mapping, CleaningRules())
    _same_log(duck, arrow)
    q = arrow.quality
    # Rows without a customer, duplicates over every input column, $0 rows: all counted.
    assert q.dropped["missing_customer_id"] == 135_080 and q.dropped["exact_duplicates"] > 5000
    assert q.kept_with_notes["refund_rows_kept"] > 0 and q.warnings
    _same_dataset(duck, arrow, get_dataset("online_retail").task)


def test_generated_edge_cases_same_log_and_dataset():
    """Text ids with spaces and missing-value texts, tied rows that differ in an unmapped
    column, exact duplicates, refunds, $0 rows, a time zone, two domains."""
    rng = np.random.default_rng(7)
    n = 600
    ids = rng.choice(["a", " a", "b\u00a0", "c", "NaN", "", "null", "d\t", "é", "z"], n)
    base = dt.datetime(2021, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ts = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 200, n)]
    amount = rng.choice([0.0, -5.0, 10.0, 12.5, 30.0], n)
    table = pa.table({"cid": pa.array(ids), "when": pa.array(ts, pa.timestamp("us", "+02:00")),
                      "amt": amount, "ord": rng.choice(["o1", "o2", None], n),
                      "qty": rng.choice([1.0, 2.0, np.nan], n),
                      "cat": rng.integers(0, 4, n), "dom": rng.choice(["shop", "app"], n),
                      "note": rng.choice(["x", "y"], n)})
    mapping = ColumnMapping(customer="cid", time="when", amount="amt", order="ord",
                            quantity="qty", category="cat", domain="dom")
    for cleaning in (CleaningRules(), CleaningRules(drop_duplicates=False, zero_amounts="keep"),
                     CleaningRules(refunds="drop", data_end="2021-05-01")):
        duck, arrow = _both(table, mapping, cleaning)
        _same_log(duck, arrow)
        assert "timezone-aware timestamps were normalised to UTC" in arrow.quality.notes
        assert arrow.quality.dropped["missing_customer_id"] > 0
        x = build_dataset(duck, LTVTask(cutoff="2021-04-30", horizons=("30D",), period="M",
                                        n_periods=3, allow_partial_horizon=True))
        y = build_dataset(arrow, LTVTask(cutoff="2021-04-30", horizons=("30D",), period="M",
                                         n_periods=3, allow_partial_horizon=True))
        np.testing.assert_array_equal(x.features, y.features)
        np.testing.assert_array_equal(x.sequences, y.sequences)
        np.testing.assert_array_equal(x.labels_by_domain["shop"], y.labels_by_domain["shop"])
    # Whole floats as ids become "17850", like the DuckDB engine's.
    floats = pa.table({"customer_id": [17850.0, np.nan, 12.5, 17850.0],
                       "timestamp": pa.array([dt.datetime(2021, 1, d) for d in (1, 2, 3, 4)]),
                       "amount": [1.0, 2.0, 3.0, 4.0]})
    duck, arrow = _both(floats, ColumnMapping(), CleaningRules())
    _same_log(duck, arrow)
    assert list(arrow.arrays.customer_ids) == ["12.5", "17850"]


def _bad(**changes) -> pa.Table:
    cols = {"customer_id": pa.array(["a", "b", "c", "d"]),
            "timestamp": pa.array([dt.datetime(2021, 1, d) for d in (1, 2, 3, 4)]),
            "amount": pa.array([1.0, 2.0, 3.0, 4.0])}
    cols.update(changes)
    return pa.table(cols)


@pytest.mark.parametrize("table, mapping, cleaning, rule", [
    (_bad(timestamp=pa.array([dt.datetime(2021, 1, 1), None, None, dt.datetime(2021, 1, 4)])),
     None, None, "timestamp required"),
    (_bad(amount=pa.array([1.0, None, 3.0, 4.0])), None, None, "amount required"),
    (_bad(amount=pa.array([1.0, np.nan, np.nan, 4.0])), None, None, "finite amount"),
    (_bad(amount=pa.array([1.0, np.inf, -np.inf, 4.0])), None, None, "finite amount"),
    (_bad(amount=pa.array([1.0, 2e15, 3.0, 4.0])), None, None, "amount magnitude < 1e15"),
    (_bad().slice(0, 0), None, None, "non-empty input"),
    (_bad(amount=pa.array([0.0, 0.0, 0.0, 0.0])), None, None, "non-empty input"),
    (_bad(customer_id=pa.array(["", "nan", " ", None])), None, None, "non-empty input"),
    (_bad(), ColumnMapping(order="order_no"), None, "column exists"),
    (_bad(), ColumnMapping(customer="cust"), None, "column exists"),
    (_bad(amount=pa.array([-1.0, -2.0, 3.0, 4.0])), None,
     CleaningRules(refunds="drop", data_end="2021-01-02"), "non-empty input"),
])
def test_bad_rows_raise_the_same_error(table, mapping, cleaning, rule):
    mapping, cleaning = mapping or ColumnMapping(), cleaning or CleaningRules()
    errors = []
    for engine in ("duckdb", ArrowEngine()):
        with pytest.raises(DataValidationError) as info:
            read_transactions(table, mapping, cleaning, engine=engine)
        errors.append(info.value)
    duck, arrow = errors
    assert str(arrow) == str(duck) and "\n" not in str(arrow)
    assert (arrow.column, arrow.rule, arrow.n_rows) == (duck.column, duck.rule, duck.n_rows)
    assert arrow.rule == rule


def test_id_trimming_removes_what_duckdb_trim_removes():
    import sys
    import unicodedata

    from ltvkit.data.small_log import _SPACES

    assert set(_SPACES) == {chr(i) for i in range(sys.maxunicode + 1)
                            if unicodedata.category(chr(i)) == "Zs"}
    con = duckdb.connect()
    for ch in _SPACES + "\t\n\u200b":
        text = ch + "id" + ch
        assert con.execute("SELECT trim(?)", [text]).fetchone()[0] == text.strip(_SPACES)


def test_what_the_arrow_engine_does_not_read_is_refused_in_one_line():
    text_ts = _bad(timestamp=pa.array(["2021-01-01"] * 4))
    with pytest.raises(DataValidationError, match="timestamp.*not read by the arrow engine"):
        read_transactions(text_ts, engine=ArrowEngine())
    with pytest.raises(DataValidationError, match="not an expression") as info:
        read_transactions(_bad(), ColumnMapping(amount="amount * 2"), engine=ArrowEngine())
    assert info.value.rule == "column exists"
    with pytest.raises(DataValidationError, match="Arrow table"):
        read_transactions({"a": [1]}, engine=ArrowEngine())
    assert "arrow" not in ENGINES  # passed as an object, not selected by name


def test_log_from_records_is_what_a_request_becomes():
    log = log_from_records(["x", "x", "y"], [dt.datetime(2021, 1, 5), dt.datetime(2021, 1, 5),
                                             dt.datetime(2021, 2, 1, 10)],
                           [5.0, 5.0, 2.0], quantity=[1.0, 1.0, None])
    assert log.has_quantity and not log.has_order
    assert log.quality.dropped["exact_duplicates"] == 1 and log.n_rows == 2
    np.testing.assert_array_equal(log.arrays.quantity, [1.0, np.nan])
    assert list(log.arrays.customer_ids) == ["x", "y"]
    minutes = np.array(["2021-01-05T00:00", "2021-02-01T10:00"], dtype="datetime64[m]")
    again = log_from_records(["x", "y"], minutes, [5.0, 2.0], con=log.con)
    np.testing.assert_array_equal(again.arrays.ts, log.arrays.ts)
    assert again.con is log.con


def test_read_domains_same_log_as_duckdb():
    from ltvkit.data import read_domains

    shop = pa.table({"customer_id": ["a", "a", "b", "c"],
                     "timestamp": pa.array([dt.datetime(2021, 1, d) for d in (1, 3, 5, 7)]),
                     "amount": [10.0, 5.5, 7.0, 3.0]})
    app = pa.table({"customer_id": ["a", "c", "c"],
                    "timestamp": pa.array([dt.datetime(2021, 2, d) for d in (1, 2, 2)]),
                    "amount": [1.0, 2.0, 2.0], "channel": ["x", "y", "y"]})
    duck = read_domains({"shop": shop, "app": app})
    arrow = read_domains({"shop": shop, "app": app}, engine=ArrowEngine())
    _same_log(duck, arrow)
    assert arrow.has_domain and arrow.domains() == duck.domains() == ["app", "shop"]
    assert arrow.quality.dropped["exact_duplicates"] == 1


def test_records_to_dict_equal_asdict_and_are_copies(cdnow_table):
    # plain_dict (ltvkit.data.plain) replaces dataclasses.asdict in the data records' to_dict.
    import dataclasses

    from ltvkit.data.plain import plain_dict

    mapping = ColumnMapping(customer="customer_id", time="date", amount="dollar_value",
                            quantity="number_of_cds")
    log = read_transactions(cdnow_table, mapping, CleaningRules(), engine=ArrowEngine())
    task = LTVTask(cutoff="1997-09-30", horizons=("90D", "180D"), period="M", n_periods=9)
    for record in (log.quality, task, mapping, CleaningRules(data_end="1998-01-01")):
        assert plain_dict(record) == dataclasses.asdict(record)
    quality = log.quality.to_dict()
    assert quality["dropped"]["exact_duplicates"] > 0 and quality["mapping"] == mapping.to_dict()
    quality["dropped"]["exact_duplicates"] = -1
    quality["notes"].append("changed")
    assert log.quality.dropped["exact_duplicates"] > 0 and "changed" not in log.quality.notes

    @dataclasses.dataclass
    class Nested:
        inner: CleaningRules
        array: np.ndarray
        pairs: tuple

    value = Nested(CleaningRules(), np.arange(3), ((1, "a"), [2.0]))
    out = plain_dict(value)
    assert out["inner"] == dataclasses.asdict(CleaningRules()) and out["pairs"] == ((1, "a"), [2.0])
    out["array"][0] = 9  # other values are deep copies, as with asdict
    assert value.array[0] == 0


_ID_TEXTS = ["a", " a", "b\u00a0", "c", "NaN", "", "null", "d\t", "é", "Z"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_plain_lists_read_as_their_arrow_table_and_duckdb(data):
    """log_from_records codes plain Python lists (a service request's columns) without Arrow:
    the same log as the Arrow table of the same values and as the DuckDB engine, with ties,
    exact duplicates, ids to trim or missing, $0 rows, refunds and rows after the data end."""
    n = data.draw(st.integers(1, 40))
    ids = data.draw(st.lists(st.sampled_from(_ID_TEXTS), min_size=n, max_size=n))
    days = data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    seconds = data.draw(st.lists(st.sampled_from([0, 1, 3600]), min_size=n, max_size=n))
    ts = [dt.datetime(2021, 1, 1) + dt.timedelta(days=d, seconds=s)
          for d, s in zip(days, seconds, strict=True)]
    amount = data.draw(st.lists(st.sampled_from([0.0, -0.0, -5.0, 10, 12.5, 1e-9]),
                                min_size=n, max_size=n))
    orders = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(["o1", "o2", None]),
                                                     min_size=n, max_size=n)))
    cleaning = data.draw(st.sampled_from([
        CleaningRules(), CleaningRules(drop_duplicates=False, zero_amounts="keep"),
        CleaningRules(refunds="drop", data_end="2021-01-04")]))
    table = pa.table({"customer_id": pa.array(ids, pa.string()),
                      "timestamp": pa.array(ts, pa.timestamp("us")),
                      "amount": pa.array(amount, pa.float64()),
                      **({} if orders is None else {"order_id": pa.array(orders, pa.string())})})
    mapping = ColumnMapping(order=None if orders is None else "order_id")

    def plain():
        return log_from_records(ids, ts, amount, order_id=orders, cleaning=cleaning)

    try:
        duck = read_transactions(table, mapping, cleaning)
    except DataValidationError as exc:
        for read in (plain, lambda: read_transactions(table, mapping, cleaning,
                                                      engine=ArrowEngine())):
            with pytest.raises(DataValidationError) as again:
                read()
            assert (again.value.rule, str(again.value)) == (exc.rule, str(exc))
        return
    arrow = read_transactions(table, mapping, cleaning, engine=ArrowEngine())
    listed = plain()
    _same_log(duck, listed)
    assert listed.quality.to_dict() == arrow.quality.to_dict()
    for name in ("customer_ids", "customer_starts", "ts", "amount", "order"):
        x, y = getattr(arrow.arrays, name), getattr(listed.arrays, name)
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_other_records_go_through_arrow_with_the_same_rules():
    """Inputs the plain-list coding does not take (a None, a time zone, NumPy arrays, integer
    ids, text amounts) are read through Arrow: the same log or the same error as before."""
    day = dt.datetime(2021, 3, 1)
    zone = dt.timezone(dt.timedelta(hours=2))
    log = log_from_records(["a", "a"], [day.replace(tzinfo=zone), day], [1.0, 2.0])
    assert "timezone-aware timestamps were normalised to UTC" in log.quality.notes
    np.testing.assert_array_equal(log.arrays.ts, np.array(
        ["2021-02-28T22:00", "2021-03-01T00:00"], dtype="datetime64[us]").view(np.int64))
    with pytest.raises(DataValidationError, match="amount required"):
        log_from_records(["a", "b"], [day, day], [1.0, None])
    with pytest.raises(DataValidationError, match="timestamp required"):
        log_from_records(["a", "b"], [day, None], [1.0, 2.0])
    ints = log_from_records([7, 3, 7], [day] * 3, [1.0, 2.0, 3.0])
    assert ints.arrays.customer_ids.tolist() == [3, 7]
    arrays = log_from_records(np.array(["a", "b"]), np.array([day, day], dtype="datetime64[us]"),
                              np.array([1.0, 2.0]))
    listed = log_from_records(["a", "b"], [day, day], [1.0, 2.0])
    np.testing.assert_array_equal(arrays.arrays.ts, listed.arrays.ts)
    assert arrays.quality.to_dict() == listed.quality.to_dict()
