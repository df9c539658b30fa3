"""Batch scoring in chunks and on Spark (local mode) gives the rows of local ``ltv predict``.

Models are fitted on a CDNOW slice and score another 6,000 CDNOW customers: lgbm and the BTYD
model (bgnbd, whose prediction intervals are simulated) must match exactly; the torch models
(ziln, lstm) within 1e-6 relative (their kernels may sum in another order for another batch
size). The Spark tests need pyspark and Java and skip with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ltvkit.cli import app
from ltvkit.data.dataset_io import (
    SAMPLES_DIR,
    dataset_to_table,
    meta_of,
    write_meta,
    write_samples,
)
from ltvkit.errors import LTVError
from ltvkit.models import create_model, load_model
from ltvkit.scoring import spark_predict as sp
from ltvkit.scoring.batch import predict_chunks

MODELS = {
    "lgbm": {"n_estimators": 30, "n_threads": 1},
    "bgnbd": {"n_draws": 40},
    "ziln": {"max_epochs": 3, "hidden": (16,), "n_threads": 1},
    "lstm": {"max_epochs": 2, "rnn_hidden": 8, "static_hidden": (8,), "hidden": (8,),
             "n_threads": 1},
}
EXACT = {"lgbm", "bgnbd"}
TORCH_RTOL = 1e-6
KEY = ["customer_id", "cutoff", "horizon"]


@pytest.fixture(scope="module")
def folders(cdnow_dataset, tmp_path_factory):
    """Fitted models and the scoring data (one file, and the same rows as 3 Parquet parts)."""
    root = tmp_path_factory.mktemp("spark_predict")
    rng = np.random.default_rng(3)
    idx = rng.permutation(len(cdnow_dataset))
    train, score = cdnow_dataset.subset(idx[:3000]), cdnow_dataset.subset(idx[3000:9000])
    score.save(root / "data")
    parts = root / "parts"
    (parts / SAMPLES_DIR).mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(score)), 3)):
        write_samples(dataset_to_table(score.subset(rows)),
                      parts / SAMPLES_DIR / f"part-{i:05d}.parquet")
    write_meta(meta_of(score), parts)
    for name, params in MODELS.items():
        extra = {"random_state": 0} if name != "bgnbd" else {}
        create_model(name, **params, **extra).fit(train).save(root / name)
    return root


def local_rows(root, name, tmp_path) -> pd.DataFrame:
    out = tmp_path / f"{name}-local.parquet"
    result = CliRunner().invoke(app, ["predict", "--model", str(root / name),
                                      "--data", str(root / "data"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(cutoff=pd.to_datetime(frame["cutoff"]).astype("datetime64[ns]"))
    return frame.sort_values(KEY).reset_index(drop=True)


def assert_same_rows(name: str, got: pd.DataFrame, want: pd.DataFrame) -> float:
    """Same keys and columns; values exact (or within TORCH_RTOL for torch models). Returns
    the largest relative difference."""
    got, want = sorted_rows(got), sorted_rows(want)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    pd.testing.assert_frame_equal(got[KEY], want[KEY])
    worst = 0.0
    for col in [c for c in want.columns if c not in KEY]:
        a, b = got[col].to_numpy(np.float64), want[col].to_numpy(np.float64)
        if name in EXACT:
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: {col}")
        else:
            np.testing.assert_allclose(a, b, rtol=TORCH_RTOL, atol=1e-9, err_msg=f"{name} {col}")
        rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-12)
        worst = max(worst, float(rel.max(initial=0.0)))
    return worst


@pytest.mark.parametrize("name", list(MODELS))
def test_chunked_scoring_gives_the_rows_of_local_predict(folders, name, tmp_path):
    want = local_rows(folders, name, tmp_path)
    model = load_model(folders / name)
    got = pd.concat(predict_chunks(model, folders / "data", batch_rows=1700), ignore_index=True)
    assert_same_rows(name, got, want)
    # and the BTYD intervals really are simulated (not a constant), so the check has teeth
    if name == "bgnbd":
        assert want["q90"].nunique() > 100 and (want["q90"] > want["q10"]).mean() > 0.3


def test_btyd_quantiles_do_not_depend_on_the_batch(cdnow_slices):
    train, _, test = cdnow_slices
    model = create_model("bgnbd", n_draws=50).fit(train)
    whole = model.predict(test)
    half = model.predict(test.subset(np.arange(100, 400)))
    reversed_ = model.predict(test.subset(np.arange(399, 99, -1)))
    for q in (0.1, 0.5, 0.9):
        np.testing.assert_array_equal(whole.quantiles[q][100:400], half.quantiles[q])
        np.testing.assert_array_equal(whole.quantiles[q][100:400], reversed_.quantiles[q][::-1])
    # another seed gives other draws
    other = create_model("bgnbd", n_draws=50, random_state=1).fit(train).predict(test)
    assert not np.array_equal(other.quantiles[0.9], whole.quantiles[0.9])


def test_model_cache_loads_once_and_refuses_a_changed_model(folders, tmp_path):
    shutil.copytree(folders / "lgbm", tmp_path / "m")
    checksum = sp.model_checksum(tmp_path / "m")
    first = sp.cached_model(str(tmp_path / "m"), checksum)
    assert sp.cached_model(str(tmp_path / "m"), checksum) is first
    key = (str((tmp_path / "m").resolve()), checksum)
    assert sp.LOAD_COUNTS[key] == 1
    with pytest.raises(LTVError, match="changed while scoring"):
        sp.cached_model(str(tmp_path / "m"), "0" * 64)
    with pytest.raises(LTVError, match="no config.json"):
        sp.model_checksum(tmp_path)


# ------------------------------------------------------------------------------ Spark
# The `spark` fixture (one local session for every Spark test) is in conftest.py.


@pytest.mark.spark
@pytest.mark.parametrize("name", list(MODELS))
def test_spark_scoring_gives_the_rows_of_local_predict(spark, folders, name, tmp_path):
    want = local_rows(folders, name, tmp_path)
    out = tmp_path / f"{name}-spark"
    result = CliRunner().invoke(app, [
        "predict", "--engine", "spark", "--model", str(folders / name),
        "--data", str(folders / "data"), "--out", str(out), "--batch-rows", "1500",
        "--partitions", "2"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.parquet"))) >= 2  # written by Spark, part by part
    worst = assert_same_rows(name, pd.read_parquet(out), want)
    print(f"{name}: max relative difference Spark vs local {worst:.3g}")


@pytest.mark.spark
def test_spark_reads_parts_and_loads_the_model_once_per_worker(spark, folders, tmp_path):
    want = local_rows(folders, "lgbm", tmp_path)
    sp.spark_predict(folders / "lgbm", folders / "parts", tmp_path / "out", batch_rows=500)
    assert_same_rows("lgbm", pd.read_parquet(tmp_path / "out"), want)

    def counts(_):

        from ltvkit.scoring import spark_predict

        yield os.getpid(), max(spark_predict.LOAD_COUNTS.values(), default=0)

    seen = spark.sparkContext.parallelize(range(4), 4).mapPartitions(counts).collect()
    # 12 batches of 500 rows were scored; each Python worker loaded the model at most once
    assert all(n <= 1 for _, n in seen)


@pytest.mark.spark
def test_spark_predict_errors_are_one_line(spark, folders, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("user data")
    result = CliRunner().invoke(app, [
        "predict", "--engine", "spark", "--model", str(folders / "lgbm"),
        "--data", str(folders / "data"), "--out", str(tmp_path / "busy")])
    assert result.exit_code == 2 and "not an earlier Spark output folder" in result.output
    assert (tmp_path / "busy" / "keep.txt").exists()
    result = CliRunner().invoke(app, [
        "predict", "--engine", "ray", "--model", str(folders / "lgbm"),
        "--data", str(folders / "data"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--engine must be" in result.output
