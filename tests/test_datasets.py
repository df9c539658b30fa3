"""Public datasets: bundled CDNOW, Online Retail and Olist from a data home, fetching with checksums.

The real files live in ../shared/datasets (the ``shared_data`` fixture); fetching is tested with a
``file://`` mirror that points there, so no test needs the internet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import LTVTask, build_dataset
from ltvkit.datasets import DATASETS, data_home, fetch_file, get_dataset
from ltvkit.errors import DataValidationError


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def no_data_home(tmp_path, monkeypatch) -> Path:
    """An empty data home and no mirror."""
    home = tmp_path / "empty_home"
    home.mkdir()
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(home))
    monkeypatch.delenv("LTVKIT_DATA_MIRROR", raising=False)
    return home


@pytest.fixture
def shared_home(shared_data, monkeypatch) -> Path:
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(shared_data))
    monkeypatch.delenv("LTVKIT_DATA_MIRROR", raising=False)
    return shared_data


# ----------------------------------------------------------------------------- registry


def test_registry_names_and_unknown_dataset():
    assert sorted(DATASETS) == ["cdnow", "olist", "olist_target", "olist_target_events",
                               "online_retail"]
    with pytest.raises(DataValidationError, match="unknown dataset 'nope'") as err:
        get_dataset("nope")
    assert err.value.rule == "known dataset"
    assert "cdnow" in str(err.value)
    assert get_dataset("cdnow").size_text().startswith("69,659 rows, 23,570 customers")


def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("LTVKIT_DATA_HOME", raising=False)
    assert data_home() == Path.home() / ".ltvkit" / "data"
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(tmp_path / "env"))
    assert data_home() == tmp_path / "env"
    assert data_home(tmp_path / "arg") == tmp_path / "arg"


def test_pinned_checksums_match_the_shared_files(shared_data):
    for public in DATASETS.values():
        for spec in public.files:
            path = shared_data / public.name / spec.path
            assert path.stat().st_size == spec.size_bytes, spec.path
            assert sha256(path) == spec.sha256, spec.path


def test_bundled_cdnow_is_the_shared_file(shared_data):
    source = resources.files("ltvkit.datasets") / "data" / "CDNOW_master.txt.gz"
    with resources.as_file(source) as path:
        content = gzip.decompress(Path(path).read_bytes())
    assert hashlib.sha256(content).hexdigest() == get_dataset("cdnow").files[0].sha256
    assert content == (shared_data / "cdnow" / "CDNOW_master.txt").read_bytes()


# ----------------------------------------------------------------------------- CDNOW


def test_cdnow_loads_from_the_package_without_a_data_home(no_data_home):
    public = get_dataset("cdnow")
    assert public.bundled
    log = public.load_log()
    q = log.quality
    assert q.rows_read == q.rows_kept == 69_659
    assert q.n_customers == 23_570
    assert q.dropped == {"exact_duplicates": 0, "missing_customer_id": 0, "after_data_end": 0,
                         "zero_amount": 0, "refund_dropped": 0}
    assert q.kept_with_notes["zero_amount_rows_kept"] == 80
    assert log.time_min == dt.datetime(1997, 1, 1) and log.data_end == dt.date(1998, 6, 30)
    # Ids keep their leading zeros (they are text in the file).
    first = log.con.execute(f"SELECT min(customer_id) FROM {log.table}").fetchall()[0][0]
    assert first == "00001"
    assert list(no_data_home.iterdir()) == []  # nothing was fetched or written
    total = log.con.execute(f"SELECT sum(amount), sum(quantity) FROM {log.table}").fetchall()[0]
    assert total[0] == pytest.approx(2_500_315.63, abs=0.01)
    assert total[1] == 167_881


def test_cdnow_protocol_dataset(cdnow_dataset):
    ds = cdnow_dataset
    assert len(ds) == ds.n_customers == 23_570
    assert ds.horizons == ["273D"] and ds.horizon_days == [273]
    assert set(ds.cutoff) == {np.datetime64("1997-09-30")}
    assert ds.sequences.shape == (23_570, 9, 4)
    # 39 weeks: 1997-10-01 .. 1998-06-30 is 273 days and ends on the last day of the data.
    assert dt.date(1997, 9, 30) + dt.timedelta(days=273) == dt.date(1998, 6, 30)
    train, valid, test = get_dataset("cdnow").split.split(ds, seed=0)
    assert (len(train), len(valid), len(test)) == (16_970, 1_886, 4_714)  # 20 %, 10 % of 80 %
    ids = [set(part.customer_id) for part in (train, valid, test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_cdnow_from_a_data_home_folder_equals_the_bundled_copy(shared_data, cdnow_log):
    public = get_dataset("cdnow")
    from_folder = public.loader(public, shared_data / "cdnow")
    query = "SELECT customer_id, ts, amount, quantity FROM {} ORDER BY ALL"
    a = from_folder.con.execute(query.format(from_folder.table)).fetchall()
    b = cdnow_log.con.execute(query.format(cdnow_log.table)).fetchall()
    assert len(a) == 69_659 and a == b


# ----------------------------------------------------------------------------- Online Retail


@pytest.mark.slow
def test_online_retail_from_the_data_home(shared_home):
    public = get_dataset("online_retail")
    log = public.load_log()
    q = log.quality
    assert q.rows_read == public.rows == 541_909
    assert q.dropped["missing_customer_id"] == 135_080
    assert q.n_customers == 4_371  # 4,372 ids, one has only zero-price rows
    ds = build_dataset(log, public.task, public.load_attributes(log),
                       attribute_customer_col=public.attribute_customer_col)
    assert ds.horizons == ["90D"] and set(ds.cutoff) == {np.datetime64("2011-09-09")}
    assert len(ds) == ds.n_customers == 3_370
    # Country of each customer as a categorical; the United Kingdom dominates.
    assert ds.categorical_names == ["country"]
    vocab = ds.vocabularies["country"]
    assert vocab[0] == "<unknown>" and "United Kingdom" in vocab
    codes = ds.categorical[:, 0]
    assert (codes > 0).all()
    uk_share = (codes == vocab.index("United Kingdom")).mean()
    assert 0.85 < uk_share < 0.95


# ----------------------------------------------------------------------------- Olist


@pytest.mark.slow
def test_olist_from_the_data_home_and_split_by_time(shared_home):
    public = get_dataset("olist")
    log = public.load_log()
    q = log.quality
    assert q.rows_read == 2 * 112_650
    assert q.dropped["after_data_end"] == 8  # four shipping deadlines in 2020, two domains each
    assert q.n_customers == public.customers == 3_095
    assert log.domains() == ["logistics", "sales"]
    attrs = public.load_attributes(log)
    ds = build_dataset(log, public.task, attrs, attribute_customer_col=public.attribute_customer_col)
    assert ds.domains == ["sales", "logistics"] and ds.target_domain == "logistics"
    np.testing.assert_array_equal(ds.labels, ds.labels_by_domain["logistics"])
    assert "seller_state" in ds.categorical_names and "attr__n_products" in ds.feature_names
    assert any(n.startswith("sales__") for n in ds.feature_names)

    cutoffs = np.array(sorted(set(ds.cutoff)))
    expected = [np.datetime64(c) for c in public.task.cutoff_dates()]
    assert list(cutoffs) == expected and len(expected) == 14
    assert expected[0] == np.datetime64("2017-07-01") and expected[-1] <= np.datetime64(
        "2018-07-31")

    # Sellers active in the 180-day lookback, and their freight in the next 30 days, by pandas.
    items = pd.read_parquet(shared_home / "olist" / "order_items.parquet")
    ts = pd.to_datetime(items["shipping_limit_date"])
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    items = items.assign(ts=ts)
    for c in (pd.Timestamp("2017-07-01"), pd.Timestamp("2018-01-27")):
        c_end = c + pd.Timedelta(days=1)
        seen = items[(items["ts"] >= c_end - pd.Timedelta(days=180)) & (items["ts"] < c_end)]
        sellers = sorted(seen["seller_id"].unique())
        part = ds.subset(ds.cutoff == np.datetime64(c.date()))
        assert list(part.customer_id) == sellers
        win = items[(items["ts"] >= c_end) & (items["ts"] < c_end + pd.Timedelta(days=30))]
        freight = win.groupby("seller_id")["freight_value"].sum().reindex(sellers, fill_value=0)
        np.testing.assert_allclose(part.labels[:, 0], freight.to_numpy(), rtol=1e-9, atol=1e-9)

    train, valid, test = public.split.split(ds, seed=0)
    assert len(train) + len(valid) + len(test) == len(ds)
    assert min(len(train), len(valid), len(test)) > 1_000
    assert train.cutoff.max() <= np.datetime64("2018-02-28") < valid.cutoff.min()
    assert valid.cutoff.max() <= np.datetime64("2018-04-30") < test.cutoff.min()
    assert set(train.cutoff).isdisjoint(valid.cutoff)
    assert set(valid.cutoff).isdisjoint(test.cutoff)
    assert set(train.cutoff).isdisjoint(test.cutoff)


# ----------------------------------------------------------------------------- fetching


def test_fetch_with_a_file_mirror_downloads_and_verifies(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("LTVKIT_DATA_MIRROR", raising=False)
    home = tmp_path / "home"
    mirror = shared_data.as_uri()
    assert mirror.startswith("file://")
    public = get_dataset("online_retail")
    spec = public.files[0]
    target = home / "online_retail" / spec.path
    out = fetch_file("online_retail", spec, target, mirror=mirror)
    assert out == target and target.exists()
    assert sha256(target) == spec.sha256
    assert target.stat().st_size == spec.size_bytes
    assert not target.with_name(target.name + ".part").exists()
    # The dataset now loads from the new home without a mirror.
    log = public.load_log(home)
    assert log.quality.rows_read == 541_909


def test_load_log_fetches_missing_files_from_the_env_mirror(shared_data, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(home))
    monkeypatch.setenv("LTVKIT_DATA_MIRROR", shared_data.as_uri() + "/")
    public = get_dataset("olist")
    folder = public.ensure_files()
    assert folder == home / "olist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.path for f in public.files)
    for spec in public.files:
        assert sha256(folder / spec.path) == spec.sha256


def test_wrong_checksum_raises_and_leaves_no_file(shared_data, tmp_path):
    spec = get_dataset("online_retail").files[0]
    bad = dataclasses.replace(spec, sha256="0" * 64)
    target = tmp_path / "home" / "online_retail" / spec.path
    with pytest.raises(DataValidationError, match="SHA-256") as err:
        fetch_file("online_retail", bad, target, mirror=shared_data.as_uri())
    assert err.value.rule == "checksum"
    assert spec.sha256 in str(err.value) and "0" * 64 in str(err.value)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no partial download either


def test_unreachable_file_on_the_mirror(tmp_path):
    spec = get_dataset("online_retail").files[0]
    target = tmp_path / "home" / "online_retail" / spec.path
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    with pytest.raises(DataValidationError, match="could not download") as err:
        fetch_file("online_retail", spec, target, mirror=empty_mirror.as_uri())
    assert err.value.rule == "download"
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_missing_file_without_a_mirror_names_the_data_home(no_data_home):
    public = get_dataset("online_retail")
    with pytest.raises(DataValidationError) as err:
        public.load_log()
    msg = str(err.value)
    assert err.value.rule == "dataset file present"
    assert "LTVKIT_DATA_HOME" in msg and "LTVKIT_DATA_MIRROR" in msg
    assert str(no_data_home / "online_retail" / "online_retail.csv.gz") in msg
    assert list(no_data_home.iterdir()) == []


def test_protocol_tasks_are_the_documented_ones():
    assert get_dataset("cdnow").task == LTVTask(cutoff="1997-09-30", horizons=("273D",),
                                                period="M", n_periods=9, cohort="known")
    retail = get_dataset("online_retail").task
    assert (retail.cutoff, retail.horizons, retail.cohort) == ("2011-09-09", ("90D",), "known")
    olist = get_dataset("olist").task
    assert (olist.lookback, olist.horizons, olist.cohort, olist.target_domain) == (
        "180D", ("30D",), "active", "logistics")
    split = get_dataset("olist").split
    assert (split.kind, split.train_until, split.valid_until) == ("time", "2018-02-28",
                                                                 "2018-04-30")
