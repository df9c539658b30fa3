"""Throughput of ltvkit's PyTorch trainer next to a plain hand-written PyTorch loop.

    python benchmarks/bench_torch.py [--json out.json] [--samples 1000000] [--repeats 3]
                                     [--threads 1,2] [--lr-study]

Measures, on synthetic tensors of the CDNOW feature width (22 numeric features + 1 categorical
with 6 values; ~30 % non-zero lognormal labels):

- ``ziln`` (the published 64-32 MLP, batch 1024): training samples/s of
  :class:`ltvkit.nn.Trainer` (shuffling, Adam, per-epoch validation and early-stopping
  bookkeeping included) and scoring samples/s of ``Trainer.predict`` + the ZILN mean, next to
  a plain loop (``randperm`` + slicing, default ``torch.optim.Adam``; scoring: forward + the
  mean, batches of 4096) of the same network in the same run, and scoring with the whole
  prediction rule (mean, p_active and three quantiles in float64);
- the same ``ZILN`` model end to end: ``fit`` / ``predict`` on an :class:`LTVDataset` (numpy
  feature scaling, tensor building and validation included);
- ``lstm`` and ``tcn`` (default sizes) on 12-period, 4-channel sequences.

Every number is the best of ``--repeats`` runs, each repeat running ours and the plain loop back
to back so both see the same machine load. Training runs ``--epochs`` full epochs (early stopping
is disabled by a patience larger than the epoch budget). Both are measured with
``torch.set_num_threads(k)`` for each ``k`` of ``--threads`` (default 1 and 2): on a busy
2-core machine the second OpenMP thread of these small per-batch kernels mostly waits.

``--lr-study`` also fits the ``ziln`` model on CDNOW (the customer split of
``LTVDataset.split_customers(seed=0)``) with the published ``lr=2e-4`` and with our default
``1e-3`` for three seeds, and prints epochs, best validation loss and test Gini of each.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.models.lstm import LSTMModel
from ltvkit.models.tcn import TCNModel
from ltvkit.models.ziln import ZILN, ZILNNet
from ltvkit.nn.heads import head_prediction
from ltvkit.nn.losses import ziln_loss, ziln_mean
from ltvkit.nn.preprocess import label_statistics
from ltvkit.nn.spec import ModuleSpec
from ltvkit.nn.trainer import TensorData, Trainer

N_FEATURES, VOCAB = 22, 6


def synthetic(n: int, n_periods: int = 0, seed: int = 0) -> TensorData:
    """Scaled-input-like tensors: features [n, 22], categorical [n, 1], labels [n, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    c = torch.randint(0, VOCAB, (n, 1), generator=g)
    signal = x[:, :3].sum(dim=1, keepdim=True)
    buys = torch.rand(n, 1, generator=g) < torch.sigmoid(signal - 1.0)
    y = torch.where(buys, torch.exp(0.5 * signal + torch.randn(n, 1, generator=g)), 0.0)
    inputs = {"features": x, "categorical": c}
    if n_periods:
        inputs["sequences"] = torch.randn(n, n_periods, 4, generator=g).abs()
    return TensorData(inputs, y.float())


def spec_for(data: TensorData, n_periods: int = 0) -> ModuleSpec:
    return ModuleSpec(n_features=N_FEATURES, vocab_sizes=[VOCAB], n_periods=n_periods,
                      n_channels=4, n_horizons=1, horizon_days=[365],
                      label_stats=label_statistics(data.targets.numpy()))


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return max(fn() for _ in range(repeats))


# --------------------------------------------------------------------------------- plain torch
class PlainZILN(nn.Module):
    """The same network written by hand: Embedding(6, 2) ++ x -> 64 -> 32 -> 3."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 2)
        self.mlp = nn.Sequential(nn.Linear(N_FEATURES + 2, 64), nn.ReLU(), nn.Linear(64, 32),
                                 nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([x, self.embed(c[:, 0])], dim=1))


def plain_ziln_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    positive = (y > 0).float()
    bce = F.binary_cross_entropy_with_logits(logits[:, :1], positive)
    mu, s = logits[:, 1:2], torch.clamp(F.softplus(logits[:, 2:3]), min=math.sqrt(1e-7))
    log_y = torch.log(torch.where(y > 0, y, torch.ones_like(y)))
    nll = positive * (log_y + torch.log(s) + 0.5 * math.log(2 * math.pi)
                      + (log_y - mu) ** 2 / (2 * s ** 2))
    return bce + nll.mean()


def plain_train(data: TensorData, epochs: int, batch_size: int) -> float:
    torch.manual_seed(0)
    model = PlainZILN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, c, y = data.inputs["features"], data.inputs["categorical"], data.targets
    n = len(data)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = plain_ziln_loss(model(x[idx], c[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return n * epochs / (time.perf_counter() - start)


def plain_score(data: TensorData, batch_size: int = 4096) -> float:
    model = PlainZILN().eval()
    x, c = data.inputs["features"], data.inputs["categorical"]
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(data), batch_size):
            logits = model(x[i:i + batch_size], c[i:i + batch_size])
            s = F.softplus(logits[:, 2])
            torch.sigmoid(logits[:, 0]) * torch.exp(logits[:, 1] + 0.5 * s * s)
    return len(data) / (time.perf_counter() - start)


# --------------------------------------------------------------------------------- ours
def ours_train(module_factory: Callable[[], nn.Module], loss, train: TensorData,
               valid: TensorData | None, epochs: int, batch_size: int) -> float:
    torch.manual_seed(0)
    module = module_factory()
    trainer = Trainer(max_epochs=epochs, batch_size=batch_size, lr=1e-3, patience=epochs + 1,
                      device="cpu")
    start = time.perf_counter()
    trainer.fit(module, train, valid, loss)
    return len(train) * epochs / (time.perf_counter() - start)


def ours_score(module: nn.Module, data: TensorData, full: bool = True) -> float:
    """``Trainer.predict`` + the ZILN mean only (``full=False``: what the plain loop computes)
    or + the whole prediction rule (mean, p_active, 3 quantiles, in float64)."""
    trainer = Trainer(device="cpu")
    start = time.perf_counter()
    outputs = trainer.predict(module, data.inputs)
    with torch.inference_mode():
        head_prediction("ziln", outputs) if full else ziln_mean(outputs)
    return len(data) / (time.perf_counter() - start)


def dataset_from(data: TensorData) -> LTVDataset:
    """The synthetic tensors as an LTVDataset (for the end-to-end ZILN model rows)."""
    n = len(data)
    x = np.expm1(np.abs(data.inputs["features"].numpy())) * 10.0  # raw-looking, >= 0
    seq = data.inputs.get("sequences", torch.zeros(n, 1, 4)).numpy()
    return LTVDataset(
        customer_id=np.arange(n).astype(str).astype(object),
        cutoff=np.full(n, np.datetime64("2020-01-01", "D")), features=x.astype(np.float32),
        feature_names=[f"f{i}" for i in range(N_FEATURES)],
        categorical=data.inputs["categorical"].numpy(), categorical_names=["segment"],
        vocabularies={"segment": ["<unknown>", "a", "b", "c", "d", "e"]}, sequences=seq,
        channel_names=["spend", "orders", "items", "refunds"],
        labels=data.targets.numpy().astype(np.float64) * 100.0,
        label_orders=(data.targets.numpy() > 0).astype(np.float64), horizons=["365D"],
        horizon_days=[365])


def measure(args: argparse.Namespace, threads: int) -> list[dict]:
    """Every row of the table at ``threads`` intra-op threads."""
    torch.set_num_threads(threads)
    bs = 1024
    rows: list[dict] = []

    def row(model: str, what: str, ours: float, plain: float | None = None) -> None:
        rows.append({"threads": threads, "model": model, "measure": what, "ltvkit": ours,
                     "plain_torch": plain, "ratio": None if plain is None else ours / plain})

    # -- ziln: trainer vs plain loop
    train = synthetic(args.samples, seed=0)
    valid = synthetic(max(args.samples // 10, 1), seed=1)
    spec = spec_for(train)

    def factory() -> nn.Module:
        return ZILNNet(spec, (64, 32), 0.0)

    def ziln_fn(out, y, epoch):
        return ziln_loss(out, y)

    plain_train(synthetic(20_000), 1, bs)  # warm-up: lazy imports, allocator, thread pool
    ours_train(factory, ziln_fn, synthetic(20_000), None, 1, bs)
    t_ours, t_plain, s_ours, s_plain, s_full = [], [], [], [], []
    module = factory().eval()
    for _ in range(args.repeats):
        t_plain.append(plain_train(train, args.epochs, bs))
        t_ours.append(ours_train(factory, ziln_fn, train, valid, args.epochs, bs))
        s_plain.append(plain_score(train))
        s_ours.append(ours_score(module, train, full=False))
        s_full.append(ours_score(module, train, full=True))
    row("ziln 64-32", "train samples/s (batch 1024)", max(t_ours), max(t_plain))
    row("ziln 64-32", "score samples/s (network + mean)", max(s_ours), max(s_plain))
    row("ziln 64-32", "score samples/s (+ p_active, 3 quantiles)", max(s_full))

    # -- the ZILN model end to end on an LTVDataset
    ds = dataset_from(synthetic(args.samples, seed=2))
    fit_rates, predict_rates = [], []
    for _ in range(args.repeats):
        model = ZILN(max_epochs=args.epochs, patience=args.epochs + 1, device="cpu")
        start = time.perf_counter()
        model.fit(ds)
        fit_rates.append(len(ds) * args.epochs / (time.perf_counter() - start))
        start = time.perf_counter()
        model.predict(ds)
        predict_rates.append(len(ds) / (time.perf_counter() - start))
    row("ZILN model on LTVDataset", "fit samples/s (scaling, holdout incl.)", max(fit_rates))
    row("ZILN model on LTVDataset", "predict samples/s (end to end)", max(predict_rates))

    # -- sequence models on 12 periods
    seq_train = synthetic(args.sequence_samples, n_periods=12, seed=3)
    seq_spec = spec_for(seq_train, n_periods=12)
    for cls in (LSTMModel, TCNModel):
        model = cls()

        def seq_factory(model=model) -> nn.Module:
            return model._build_module(seq_spec)

        rate = best_of(args.repeats, lambda f=seq_factory, m=model: ours_train(
            f, m._loss, seq_train, None, 1, bs))
        module = seq_factory().eval()
        score = best_of(args.repeats, lambda m=module: ours_score(m, seq_train))
        row(f"{cls.name} (T=12, C=4)", "train samples/s (batch 1024)", rate)
        row(f"{cls.name} (T=12, C=4)", "score samples/s", score)
    return rows


def lr_study() -> list[dict]:
    """ZILN on CDNOW with the published lr 2e-4 and our default 1e-3, three seeds each."""
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset
    from ltvkit.metrics import normalized_gini

    spec = get_dataset("cdnow")
    train, valid, test = build_dataset(spec.load_log(), spec.task).split_customers(seed=0)
    rows = []
    for seed in (0, 1, 2):
        for lr in (2e-4, 1e-3):
            start = time.perf_counter()
            model = ZILN(lr=lr, random_state=seed, device="cpu").fit(train, valid)
            history = model.history_["main"]
            gini = normalized_gini(test.labels[:, 0], model.predict(test).value[:, 0])
            rows.append({"lr": lr, "seed": seed, "epochs": len(history.train_loss),
                         "best_epoch": history.best_epoch, "valid_loss": history.best_loss,
                         "test_gini": gini, "seconds": time.perf_counter() - start})
    print(f"ZILN on CDNOW ({len(train):,} train / {len(valid):,} valid / {len(test):,} test)")
    print(f"{'lr':>7} {'seed':>4} {'epochs':>6} {'best':>5} {'valid NLL':>9} {'Gini':>6} "
          f"{'sec':>5}")
    for r in rows:
        print(f"{r['lr']:>7g} {r['seed']:>4} {r['epochs']:>6} {r['best_epoch']:>5} "
              f"{r['valid_loss']:>9.4f} {r['test_gini']:>6.4f} {r['seconds']:>5.1f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write the results to this JSON file")
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--sequence-samples", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--lr-study", action="store_true",
                    help="also compare ZILN's published lr 2e-4 with our 1e-3 on CDNOW")
    args = ap.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    rows = [r for k in thread_counts for r in measure(args, k)]

    print(f"torch {torch.__version__}, {platform.machine()}, {args.samples:,} ZILN samples, "
          f"{args.sequence_samples:,} sequence samples, best of {args.repeats}")
    print(f"{'thr':>3} {'model':<25} {'measure':<39} {'ltvkit':>11} {'plain torch':>11} "
          f"{'ratio':>5}")
    for r in rows:
        plain = f"{r['plain_torch']:>11,.0f}" if r["plain_torch"] else f"{'':>11}"
        ratio = f"{r['ratio']:>5.2f}" if r["ratio"] else ""
        print(f"{r['threads']:>3} {r['model']:<25} {r['measure']:<39} {r['ltvkit']:>11,.0f} "
              f"{plain} {ratio}")
    study = lr_study() if args.lr_study else None
    if args.json:
        meta = {"torch": torch.__version__, "threads": thread_counts, "samples": args.samples,
                "sequence_samples": args.sequence_samples, "epochs": args.epochs,
                "repeats": args.repeats}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": rows, "lr_study": study}, fh, indent=2)


if __name__ == "__main__":
    main()
