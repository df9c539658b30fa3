"""The fast `ltv score` path gives the scored file the plain path gives.

Column-selective loads (a dataset read without its sequences for models that do not read them),
chunked reading and the Arrow-native assembly and write must not change a single scored value:
each is compared, row for row, with ``score`` on the dataset loaded whole with every column and
the scored frame written by pandas, on real CDNOW and Online Retail data.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ltvkit.data import LTVDataset, build_dataset
from ltvkit.data.dataset import iter_dataset_chunks
from ltvkit.datasets import get_dataset
from ltvkit.errors import DataValidationError
from ltvkit.models import create_model
from ltvkit.scoring import ScoringError, learn_segments, score


@pytest.fixture(scope="module")
def cdnow_dir(cdnow_dataset, tmp_path_factory):
    """The CDNOW protocol dataset (with a categorical attribute) saved as a dataset folder."""
    return cdnow_dataset.save(tmp_path_factory.mktemp("cdnow") / "ds")


@pytest.fixture(scope="module")
def cdnow_lgbm(cdnow_dataset):
    train = cdnow_dataset.subset(np.arange(0, len(cdnow_dataset), 2))
    return create_model("lgbm", n_estimators=40, n_threads=1).fit(train)


def read_back(path) -> pd.DataFrame:
    return pd.read_parquet(path)


# ------------------------------------------------------------------ selective loads
def test_load_without_sequences_keeps_every_other_column(cdnow_dataset, cdnow_dir):
    full = LTVDataset.load(cdnow_dir)
    lean = LTVDataset.load(cdnow_dir, sequences=False)
    assert full.sequences_loaded and not lean.sequences_loaded
    assert full.sequences.shape[1:] == (9, 4) and lean.sequences.shape == (len(full), 0, 0)
    assert "not loaded" in repr(lean)
    np.testing.assert_array_equal(lean.customer_id, full.customer_id)
    np.testing.assert_array_equal(lean.cutoff, full.cutoff)
    np.testing.assert_array_equal(lean.features, full.features)
    np.testing.assert_array_equal(lean.categorical, full.categorical)
    np.testing.assert_array_equal(lean.labels, full.labels)
    np.testing.assert_array_equal(lean.label_orders, full.label_orders)
    assert lean.channel_names == full.channel_names and lean.meta == full.meta
    # A subset stays without sequences; saving it would lose them, so it is refused.
    part = lean.subset(np.arange(10))
    assert not part.sequences_loaded
    with pytest.raises(DataValidationError, match="loaded without its sequences"):
        part.save(cdnow_dir.parent / "lost")
    # Chunks: the same rows, in order, without sequences too.
    chunks = list(iter_dataset_chunks(cdnow_dir, 5000, sequences=False))
    assert [len(c) for c in chunks] == [5000] * 4 + [len(full) - 20000]
    assert not any(c.sequences_loaded for c in chunks)
    np.testing.assert_array_equal(np.concatenate([c.features for c in chunks]), full.features)


def test_models_declare_whether_they_read_sequences():
    assert not create_model("lgbm").reads_sequences
    assert not create_model("bgnbd").reads_sequences
    assert create_model("arima").reads_sequences
    assert not create_model("stack", base_models=["lgbm", "bgnbd"]).reads_sequences
    assert create_model("stack", base_models=["lgbm", "arima"]).reads_sequences
    pytest.importorskip("torch")
    assert not create_model("ziln").reads_sequences      # features + categorical inputs
    assert create_model("lstm").reads_sequences          # the sequence base's inputs
    assert create_model("lgbm").predicts_rows_independently
    assert create_model("lgbm_two_stage").predicts_rows_independently
    assert not create_model("ziln").predicts_rows_independently
    assert not create_model("bgnbd").predicts_rows_independently
    assert not create_model("stack", base_models=["lgbm", "ziln"]).predicts_rows_independently


def test_a_model_that_reads_sequences_refuses_a_dataset_without_them(cdnow_dataset,
                                                                       cdnow_dir):
    sub = cdnow_dataset.subset(np.arange(3000))
    arima = create_model("arima").fit(sub)
    lean = LTVDataset.load(cdnow_dir, sequences=False).subset(np.arange(3000))
    with pytest.raises(DataValidationError,
                       match="arima reads period sequences, but the prediction dataset was "
                             "loaded without them"):
        arima.predict(lean)
    # Scoring from the folder reads the sequences for it, so it scores.
    scored = score(arima, cdnow_dir)
    assert scored.summary["samples_scored"] == len(cdnow_dataset)


def test_models_that_do_not_read_sequences_predict_the_same_without_them(cdnow_dataset,
                                                                          cdnow_dir,
                                                                          cdnow_lgbm):
    full = LTVDataset.load(cdnow_dir)
    lean = LTVDataset.load(cdnow_dir, sequences=False)
    bgnbd = create_model("bgnbd").fit(cdnow_dataset)
    for model in (cdnow_lgbm, bgnbd):
        a, b = model.predict(full), model.predict(lean)
        np.testing.assert_array_equal(a.value, b.value)
        for key in a.extras:
            np.testing.assert_array_equal(a.extras[key], b.extras[key])


# ------------------------------------------------------------------ the scored file
def assert_same_scored_file(fast, plain) -> None:
    """Both files read back equal: columns, dtypes and every value, row for row."""
    a, b = read_back(fast), read_back(plain)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert pq.read_schema(fast).remove_metadata() == pq.read_schema(plain).remove_metadata()


def plain_path(model, folder, out, **options) -> None:
    """The reference: every column loaded at once, the frame written by pandas."""
    scored = score(model, LTVDataset.load(folder), **options)
    scored.frame.to_parquet(out, index=False)


@pytest.mark.parametrize("chunk_rows", [None, 4096])
def test_chunked_selective_scoring_equals_the_plain_path_on_cdnow(cdnow_dir, cdnow_lgbm,
                                                                  tmp_path, chunk_rows):
    fast = score(cdnow_lgbm, cdnow_dir, chunk_rows=chunk_rows, with_labels=True,
                 discount_rate=0.07)
    fast.write(tmp_path / "fast.parquet")
    plain_path(cdnow_lgbm, cdnow_dir, tmp_path / "plain.parquet", with_labels=True,
               discount_rate=0.07)
    assert_same_scored_file(tmp_path / "fast.parquet", tmp_path / "plain.parquet")
    assert fast.customers_scored == fast.summary["samples_scored"] == 23_570
    assert fast.summary["chunks"] == (1 if chunk_rows is None else 6)
    assert set(fast.summary["seconds"]) >= {"read", "predict", "rank_segment", "assemble"}


def test_chunked_scoring_of_a_torch_and_a_btyd_model_equals_the_plain_path(cdnow_dataset,
                                                                            cdnow_dir,
                                                                            tmp_path):
    pytest.importorskip("torch")
    train = cdnow_dataset.subset(np.arange(0, len(cdnow_dataset), 3))
    ziln = create_model("ziln", **create_model("ziln").test_params()[0]).fit(train)
    bgnbd = create_model("bgnbd").fit(train)
    for model in (ziln, bgnbd):
        segs = learn_segments(model, train)
        fast = score(model, cdnow_dir, chunk_rows=8192, segments=segs)
        fast.write(tmp_path / f"{model.name}_fast.parquet")
        plain_path(model, cdnow_dir, tmp_path / f"{model.name}_plain.parquet", segments=segs)
        assert_same_scored_file(tmp_path / f"{model.name}_fast.parquet",
                                tmp_path / f"{model.name}_plain.parquet")
        # Neither predicts rows independently (torch kernels; BTYD intervals are draws of
        # one random stream per call), so both are read whole: the same numbers.
        assert fast.summary["chunks"] == 1
    assert "q90_273D" in read_back(tmp_path / "ziln_fast.parquet").columns
    assert "p_alive" in read_back(tmp_path / "bgnbd_fast.parquet").columns
    with pytest.raises(ScoringError, match="chunk_rows: must be a positive multiple of 4096"):
        score(ziln, cdnow_dir, chunk_rows=1000)


def test_ltv_score_cli_file_equals_the_plain_path(cdnow_dir, cdnow_lgbm, tmp_path):
    cdnow_lgbm.save(tmp_path / "m")
    out = tmp_path / "cli.parquet"
    res = subprocess.run([sys.executable, "-m", "ltvkit.cli", "score", "--model",
                          str(tmp_path / "m"), "--data", str(cdnow_dir), "--out", str(out)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    plain_path(cdnow_lgbm, cdnow_dir, tmp_path / "plain.parquet")
    assert_same_scored_file(out, tmp_path / "plain.parquet")
    # The CSV form is written from the same frame.
    res = subprocess.run([sys.executable, "-m", "ltvkit.cli", "score", "--model",
                          str(tmp_path / "m"), "--data", str(cdnow_dir), "--out",
                          str(tmp_path / "cli.csv")], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli.csv"),
                                  pd.read_csv(_csv_of(read_back(out), tmp_path)))


def _csv_of(frame: pd.DataFrame, tmp_path):
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_chunked_selective_scoring_equals_the_plain_path_on_online_retail(shared_data,
                                                                          tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("LTVKIT_DATA_HOME", str(shared_data))
    public = get_dataset("online_retail")
    ds = build_dataset(public.load_log(), public.task)
    folder = ds.save(tmp_path / "or")
    model = create_model("lgbm", n_estimators=40, n_threads=1).fit(ds)
    fast = score(model, folder, chunk_rows=4096, with_labels=True)
    fast.write(tmp_path / "fast.parquet")
    plain_path(model, folder, tmp_path / "plain.parquet", with_labels=True)
    assert_same_scored_file(tmp_path / "fast.parquet", tmp_path / "plain.parquet")
    assert fast.summary["samples_scored"] == len(ds)
