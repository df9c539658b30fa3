"""``ltv train``: fit a model on a prepared dataset and save it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ltvkit.cli._common import cli_errors, console, parse_json_object


def _load_params(params: str | None, config: Path | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if config is not None:
        if not Path(config).is_file():
            raise FileNotFoundError(f"--config file not found: {config}")
        merged.update(parse_json_object(Path(config).read_text(), f"--config {config}"))
    if params:
        merged.update(parse_json_object(params, "--params"))
    return merged


@cli_errors
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory from `ltv prepare`.")],
    model: Annotated[str, typer.Option(help="Model name (see `ltv models`).")],
    out: Annotated[Path, typer.Option(help="Directory to save the model in.")],
    params: str | None = typer.Option(None, help="Hyper-parameters as JSON."),
    config: Path | None = typer.Option(None, help="Hyper-parameters from a JSON file."),
    valid_frac: float = typer.Option(0.1, help="Share of customers held out for early "
                                               "stopping (0 = none)."),
    seed: int = typer.Option(0, help="Random seed."),
    engine: str = typer.Option("local", help="local (one process) or spark (torch models: "
                                             "data-parallel under Spark's TorchDistributor)."),
    num_processes: int = typer.Option(2, help="--engine spark: training processes."),
    master: str = typer.Option("local[2]", help="--engine spark: the Spark master."),
) -> None:
    """Fit a model on a prepared dataset and save it (JSON config + weights, no pickle)."""
    from ltvkit.data import LTVDataset
    from ltvkit.models import create_model, get_model_class

    if engine not in ("local", "spark"):
        from ltvkit.errors import LTVError

        raise LTVError(f"--engine must be 'local' or 'spark', got {engine!r}")
    ds = LTVDataset.load(data)
    hp = _load_params(params, config)
    if "random_state" in get_model_class(model)._param_names():
        hp.setdefault("random_state", seed)
    if engine == "spark":
        _train_on_spark(ds, data, model, out, hp, valid_frac, seed, num_processes, master)
        return
    estimator = create_model(model, **hp)
    if valid_frac > 0:
        fit_part, valid, _ = ds.split_customers(seed=seed, test_frac=0.0, valid_frac=valid_frac)
    else:
        fit_part, valid = ds, None
    with console.status(f"fitting {model} on {len(fit_part):,} samples"):
        estimator.fit(fit_part, valid if valid is not None and len(valid) else None)
    estimator.save(out)
    _save_training_info(out, ds, estimator, valid if valid is not None and len(valid) else None)
    console.print(f"saved {model} to {out}")


def _train_on_spark(ds, data: Path, model: str, out: Path, hp: dict[str, Any],
                    valid_frac: float, seed: int, num_processes: int, master: str) -> None:
    """``--engine spark``: data-parallel training in ``num_processes`` processes (rank 0 saves),
    then ``training.json`` from the saved model, as the local engine writes it."""
    from ltvkit.models import load_model
    from ltvkit.models.base.distributed import fit_distributed, split_for_training

    with console.status(f"fitting {model} in {num_processes} processes (TorchDistributor)"):
        result = fit_distributed(model, hp, data, out, num_processes=num_processes,
                                 master=master, valid_frac=valid_frac, seed=seed)
    _, valid = split_for_training(ds, valid_frac, seed)
    _save_training_info(out, ds, load_model(out), valid)
    info_file = Path(out) / "training.json"
    info = json.loads(info_file.read_text())
    info.update({"engine": "spark", "num_processes": result.get("world_size", num_processes)})
    info_file.write_text(json.dumps(info, indent=2, default=str))
    console.print(f"saved {model} to {out} (trained in {info['num_processes']} processes)")


def _save_training_info(out: Path, ds, estimator, valid) -> None:
    """``training.json`` beside the model: what the training dataset was built with (the task,
    the cleaning rules, the attribute vocabularies) so that ``ltv serve`` builds the features of
    a request with the same code and settings, plus the validation metrics and the save time."""
    import datetime as dt

    from ltvkit.metrics import evaluate

    metrics: dict[str, Any] = {}
    if valid is not None:
        pred = estimator.predict(valid)
        for h in pred.horizons:
            if h in valid.horizons:
                j = pred.horizon_index(h)
                p_active = None if pred.p_active is None else pred.p_active[:, j]
                metrics[h] = {k: v for k, v in evaluate(valid.labels_for(h), pred.value[:, j],
                                                        p_active).items()
                              if isinstance(v, int | float)}
    quality = ds.meta.get("quality", {})
    info = {
        "task": ds.meta.get("task"), "data_end": ds.meta.get("data_end"),
        "cleaning": quality.get("cleaning", {}), "mapping": quality.get("mapping", {}),
        "vocabularies": ds.vocabularies, "domains": list(ds.domains),
        "n_samples": len(ds), "n_valid": 0 if valid is None else len(valid),
        "validation_metrics": metrics,
        "saved_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (Path(out) / "training.json").write_text(json.dumps(info, indent=2, default=str))
