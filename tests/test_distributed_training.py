"""Data-parallel training under Spark's TorchDistributor, and LightGBM on a dataset in parts.

The Spark test trains ziln in two processes (DDP over gloo) on a CDNOW slice through
``ltv train --engine spark`` and compares it with the same training in one process: the
global batch is the same (each rank takes half of it), so the validation loss curve and the
validation metrics agree up to float summation order.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ltvkit.cli import app
from ltvkit.data import LTVDataset
from ltvkit.data.dataset_io import SAMPLES_DIR, dataset_to_table, meta_of, write_meta, write_samples
from ltvkit.models import load_model
from ltvkit.nn import distributed

ZILN = {"max_epochs": 4, "hidden": [16], "n_threads": 1}


def test_shard_gives_every_rank_the_same_count_and_covers_every_row():
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    parts = [distributed.shard(perm, distributed.World(r, 3)) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(torch.cat(parts).tolist()) == set(range(11))
    # interleaved: the ranks' k-th batches together are the k-th global batch
    assert torch.equal(torch.stack(parts, 1).reshape(-1)[:11], perm)
    assert distributed.world() is None  # no process group in the test process


@pytest.fixture(scope="module")
def cdnow_folder(cdnow_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    idx = np.random.default_rng(5).permutation(len(cdnow_dataset))[:4000]
    cdnow_dataset.subset(idx).save(root / "data")
    return root


def test_lightgbm_trains_on_parts_as_on_one_file(cdnow_folder, tmp_path):
    """A dataset written in Parquet parts (what Spark writes) is read into one matrix
    (LightGBM needs the whole matrix) and trains the same booster as the one-file dataset."""
    whole = LTVDataset.load(cdnow_folder / "data")
    parts = tmp_path / "parts"
    (parts / SAMPLES_DIR).mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(whole)), 4)):
        write_samples(dataset_to_table(whole.subset(rows)),
                      parts / SAMPLES_DIR / f"part-{i:05d}.parquet")
    write_meta(meta_of(whole), parts)
    runner = CliRunner()
    for src, out in ((cdnow_folder / "data", "one"), (parts, "parts")):
        result = runner.invoke(app, ["train", "--model", "lgbm", "--data", str(src),
                                     "--out", str(tmp_path / out), "--params",
                                     '{"n_estimators": 40, "n_threads": 1}'])
        assert result.exit_code == 0, result.output
    a = load_model(tmp_path / "one").predict(whole)
    b = load_model(tmp_path / "parts").predict(whole)
    np.testing.assert_array_equal(a.value, b.value)
    assert a.value.std() > 0


def test_spark_engine_refuses_models_without_a_network(cdnow_folder, tmp_path):
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--model", "lgbm",
                                      "--data", str(cdnow_folder / "data"),
                                      "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "not one" in result.output
    for args, message in ((["--engine", "ray"], "--engine must be"),
                          (["--engine", "spark", "--num-processes", "0"], "at least 1")):
        result = CliRunner().invoke(app, ["train", *args, "--model", "ziln", "--data",
                                          str(cdnow_folder / "data"), "--out", str(tmp_path / "z")])
        assert result.exit_code == 2 and message in result.output, result.output


@pytest.fixture(scope="module")
def spark(spark):
    """conftest's session, when pyspark also has its TorchDistributor."""
    pytest.importorskip("pyspark.ml.torch.distributor",
                        reason="pyspark's TorchDistributor is unavailable")
    return spark


@pytest.mark.spark
def test_torch_distributor_two_processes_match_one(spark, cdnow_folder, tmp_path):
    data = cdnow_folder / "data"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--engine", "spark", "--num-processes", "2",
                                 "--model", "ziln", "--data", str(data),
                                 "--out", str(tmp_path / "ddp"), "--params", json.dumps(ZILN)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["train", "--model", "ziln", "--data", str(data),
                                 "--out", str(tmp_path / "one"), "--params", json.dumps(ZILN)])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "ddp" / "training.json").read_text())
    single = json.loads((tmp_path / "one" / "training.json").read_text())
    assert info["engine"] == "spark" and info["num_processes"] == 2

    ds = LTVDataset.load(data)
    ddp, one = load_model(tmp_path / "ddp"), load_model(tmp_path / "one")
    pred = ddp.predict(ds)
    assert np.all(np.isfinite(pred.value)) and pred.value.std() > 0
    # the same training, in two halves per batch: curves and metrics agree closely
    h2, h1 = ddp.history_["main"], one.history_["main"]
    assert len(h2.valid_loss) == len(h1.valid_loss) == ZILN["max_epochs"]
    np.testing.assert_allclose(h2.valid_loss, h1.valid_loss, rtol=1e-4)
    np.testing.assert_allclose(h2.train_loss, h1.train_loss, rtol=1e-4)
    for name in ("normalized_gini", "decile_mape"):
        assert abs(info["validation_metrics"]["273D"][name]
                   - single["validation_metrics"]["273D"][name]) < 1e-3
    np.testing.assert_allclose(pred.value, one.predict(ds).value, rtol=1e-3, atol=1e-3)
