"""Data-parallel training of a torch model under Spark's ``TorchDistributor``.

:func:`fit_distributed` starts ``num_processes`` training processes with
``pyspark.ml.torch.distributor.TorchDistributor`` (``local_mode=True``: the processes run on
the driver machine, started by ``torchrun``; on a cluster ``local_mode=False`` runs them as a
barrier Spark job). Every process reads the whole dataset folder, makes the same customer split
and fits the same model: the trainer sees the process group and trains data-parallel
(:mod:`ltvkit.nn.distributed`: DDP over gloo, each rank a shard of every epoch's rows, gradients
averaged, losses summed over the ranks so early stopping agrees). Rank 0 saves the model in the
usual format, loadable by :func:`ltvkit.models.load_model` and identical on every rank.

Only models with a torch network train this way; LightGBM and the BTYD models fit in one
process (LightGBM reads a dataset written in parts into one matrix).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ltvkit.errors import LTVError, ModelError


def split_for_training(ds: Any, valid_frac: float, seed: int) -> tuple[Any, Any]:
    """The training part and the validation customers (``None``) of ``ltv train``."""
    if valid_frac > 0:
        fit_part, valid, _ = ds.split_customers(seed=seed, test_frac=0.0, valid_frac=valid_frac)
        return fit_part, valid if len(valid) else None
    return ds, None


def train_worker(name: str, params: dict[str, Any], data: str, out: str, valid_frac: float,
                 seed: int, valid_data: str | None = None) -> dict[str, Any] | None:
    """What every training process runs: join the group, fit, rank 0 saves. Returns (rank 0)
    ``{"world_size", "history"}``. ``valid_data``: a dataset folder of validation samples
    (then ``data`` is not split)."""
    from ltvkit.data import LTVDataset
    from ltvkit.models.registry import create_model
    from ltvkit.nn import distributed

    w = distributed.init_from_env()
    try:
        ds = LTVDataset.load(data)
        estimator = create_model(name, **params)
        if valid_data:
            fit_part, valid = ds, LTVDataset.load(valid_data)
        else:
            fit_part, valid = split_for_training(ds, valid_frac, seed)
        estimator.fit(fit_part, valid)
        if w is None or w.rank == 0:
            estimator.save(out)
            history = getattr(estimator, "history_", {})
            return {"world_size": 1 if w is None else w.size,
                    "history": {k: h.to_dict() for k, h in history.items()}}
        return None
    finally:
        distributed.shutdown()


def fit_distributed(name: str, params: dict[str, Any], data: str | Path, out: str | Path, *,
                    num_processes: int = 2, master: str = "local[2]", valid_frac: float = 0.1,
                    seed: int = 0, local_mode: bool = True,
                    valid_data: str | Path | None = None) -> dict[str, Any]:
    """Fit the torch model ``name`` with ``params`` on the dataset folder ``data`` in
    ``num_processes`` data-parallel processes and save it in ``out`` (by rank 0).

    Early stopping watches ``valid_frac`` of the customers of ``data`` (split as ``ltv train``
    splits, seeded by ``seed``), or the samples of the dataset folder ``valid_data`` when given.

    Each process uses one torch thread unless ``params`` sets ``n_threads``. Returns what rank 0
    returned: the world size and the training history.
    """
    from ltvkit.models.registry import get_model_class

    cls = get_model_class(name)
    cls.check_params(params)
    if not cls.tags.get("torch"):
        raise ModelError(f"--engine spark trains torch models data-parallel; {name} is not one "
                         "(fit it with the local engine)")
    if num_processes < 1:
        raise LTVError(f"--num-processes must be at least 1, got {num_processes}")
    from ltvkit.data.spark_session import SparkUnavailableError, get_spark

    get_spark(master, app_name="ltvkit train")  # TorchDistributor runs in an active session
    try:
        from pyspark.ml.torch.distributor import TorchDistributor
    except ImportError as exc:  # pyspark without its ml extras
        raise SparkUnavailableError(f"TorchDistributor is unavailable: {exc}") from None
    params = {"n_threads": 1, **params}
    distributor = TorchDistributor(num_processes=int(num_processes), local_mode=local_mode,
                                   use_gpu=False)
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(params["n_threads"] or 1)
    try:
        result = distributor.run(train_worker, name, params, str(Path(data).resolve()),
                                 str(Path(out).resolve()), float(valid_frac), int(seed),
                                 str(Path(valid_data).resolve()) if valid_data else None)
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old
    if not (Path(out) / "config.json").is_file():
        raise ModelError(f"distributed training of {name} ended without saving a model in {out}")
    return result or {}
