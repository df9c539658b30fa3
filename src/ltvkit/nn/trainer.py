"""The one training loop of every ltvkit deep model.

Batches are cut straight from tensors: one random permutation per epoch (drawn from a private,
seeded ``torch.Generator``) and ``index_select`` of each input tensor, so there is no per-sample
Python ``__getitem__`` and no DataLoader on the hot path, and every sample is seen exactly once
per epoch. The loop runs Adam (fused where the device supports it), optional gradient clipping,
``ReduceLROnPlateau`` on the monitored loss and early stopping with patience, restoring the best
epoch's weights at the end. The training loss is accumulated on the device and read once per
epoch (no per-batch host synchronisation).

Determinism: :func:`training_context` seeds torch's global generator inside a forked RNG state
(so fitting a model does not disturb the caller's random stream), on CUDA turns on
``torch.use_deterministic_algorithms(warn_only=True)`` and cuDNN's deterministic mode for the
duration of the fit, and restores every global setting afterwards. On CPU the kernels the
models use (matmul, conv, RNN, embedding backward, fused Adam) give identical results run to run
at a fixed thread count (the conformance suite checks it for every model), and the first
``use_deterministic_algorithms`` call imports ``torch._inductor`` (a slow import), so it is
skipped there. The thread count is left alone unless ``n_threads`` asks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ltvkit.errors import ModelError
from ltvkit.nn import distributed

Inputs = dict[str, Tensor]
LossFn = Callable[[Any, Tensor, int], Tensor]


# --------------------------------------------------------------------------------- data
#: While set, called as ``observer(epoch, monitored_loss)`` after every epoch of every
#: :meth:`Trainer.fit` in this context (e.g. by ``ltvkit.tuning`` to prune a trial from its
#: per-epoch validation loss); an exception it raises ends training and propagates.
EPOCH_OBSERVER: ContextVar[Callable[[int, float], None] | None] = ContextVar(
    "ltvkit_epoch_observer", default=None)


@dataclass
class TensorData:
    """Model inputs ``{name: [n, ...]}`` and targets ``[n, H]`` on one device."""

    inputs: Inputs
    targets: Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def to(self, device: torch.device) -> TensorData:
        return TensorData({k: v.to(device) for k, v in self.inputs.items()},
                          self.targets.to(device))

    def take(self, index: Tensor) -> tuple[Inputs, Tensor]:
        """Rows ``index`` [b] of every tensor (``index_select``: one gather per tensor)."""
        return ({k: v.index_select(0, index) for k, v in self.inputs.items()},
                self.targets.index_select(0, index))

    def batch_indices(self, batch_size: int, generator: torch.Generator | None,
                      device: torch.device,
                      world: distributed.World | None = None) -> Iterator[Tensor]:
        """Shuffled index batches covering every row exactly once (the last may be short);
        in a process group (``world``) this rank's share of the same permutation
        (:func:`ltvkit.nn.distributed.shard`)."""
        n = len(self)
        perm = (torch.randperm(n, generator=generator) if generator is not None
                else torch.arange(n))
        if world is not None:
            perm = distributed.shard(perm, world)
        perm = perm.to(device)
        n = perm.shape[0]
        for start in range(0, n, batch_size):
            yield perm[start:start + batch_size]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return _auto_device()
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' was requested but CUDA is not available")
    return dev


@functools.lru_cache(maxsize=1)
def _auto_device() -> torch.device:
    # Asked once per process: CUDA does not come or go while it runs, and the check is a
    # tenth of a one-row prediction.
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n_threads)`` for the duration (``None``: leave it as it is)."""
    old = torch.get_num_threads()
    if not n_threads or int(n_threads) == old:
        yield  # nothing to set (a service's one-thread model predicts on a one-thread pool)
        return
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def training_context(seed: int, device: torch.device, n_threads: int | None = None,
                     deterministic: bool = True) -> Iterator[None]:
    """Seeded, deterministic torch state for one fit; every global setting is restored after.

    Parameters
    ----------
    seed : seeds torch's global generator (weight init, dropout) inside a forked RNG state.
    device : the CUDA device's generator is forked too when training on CUDA.
    n_threads : ``torch.set_num_threads`` for the duration (``None``: leave it as it is).
    deterministic : on CUDA, ``torch.use_deterministic_algorithms(True, warn_only=True)`` and
        cuDNN deterministic mode for the duration (CPU kernels are deterministic already).
    """
    cuda = device.type == "cuda"
    devices = [device.index or 0] if cuda else []
    deterministic = deterministic and cuda
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    with torch.random.fork_rng(devices=devices), thread_limit(n_threads):
        torch.manual_seed(int(seed))
        try:
            if deterministic:
                torch.use_deterministic_algorithms(True, warn_only=True)
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            yield
        finally:
            if deterministic:
                torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old_cudnn


# --------------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class StepSchedule:
    """A loss weight that is multiplied by ``factor`` from epoch ``after_epoch`` on (0-based).

    CDLtvS (WWW 2024) trains with ``lambda_1..4`` and multiplies all of them by 0.01 after
    epoch 20: ``StepSchedule(10.0, after_epoch=20)``. A model's ``_loss(outputs, y, epoch)``
    reads ``weight = schedule(epoch)``.
    """

    initial: float
    after_epoch: int
    factor: float = 0.01

    def __call__(self, epoch: int) -> float:
        return self.initial * (self.factor if epoch >= self.after_epoch else 1.0)


# --------------------------------------------------------------------------------- trainer
@dataclass
class TrainingHistory:
    """Per-epoch losses; ``best_epoch`` is the epoch whose weights were kept (0-based)."""

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_loss: float = math.inf
    monitor: str = "valid"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Trainer:
    """Mini-batch Adam with early stopping, LR reduction on plateau and gradient clipping.

    Parameters
    ----------
    max_epochs, batch_size, lr, weight_decay : the optimisation budget (Adam's L2 penalty).
    patience : epochs without an improvement of the monitored loss (> ``min_delta``) before
        stopping; the best epoch's weights are restored.
    lr_patience, lr_factor, min_lr : ``ReduceLROnPlateau`` (``lr_patience=None``: half of
        ``patience``, so the LR drops at least once before training stops).
    grad_clip : max global gradient norm (``None``: no clipping).
    eval_batch_size : batch size for validation and prediction (4096: larger than training
        batches since there is no backward pass, small enough for the activations to stay in
        cache; much larger batches score slower once the activations leave the cache).
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
    seed : seeds the shuffling generator.
    progress : show a rich progress bar over epochs.
    """

    max_epochs: int = 100
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10
    min_delta: float = 0.0
    lr_patience: int | None = None
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    grad_clip: float | None = None
    eval_batch_size: int = 4096
    device: str | torch.device = "auto"
    seed: int = 0
    progress: bool = False

    def _optimizer(self, params: list[nn.Parameter], device: torch.device) -> torch.optim.Adam:
        try:  # the fused kernel updates all parameters in one call (CPU and CUDA since 2.4)
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay,
                                    fused=True)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def fit(self, module: nn.Module, train: TensorData, valid: TensorData | None,
            loss_fn: LossFn, valid_loss_fn: LossFn | None = None,
            parameters: Iterable[nn.Parameter] | None = None) -> TrainingHistory:
        """Train ``module`` in place; returns the per-epoch history.

        Parameters
        ----------
        module : called as ``module(inputs)`` with ``inputs = {name: [b, ...]}``.
        train, valid : tensors (moved to the device here); ``valid=None`` monitors the
            training loss instead.
        loss_fn : ``loss_fn(outputs, targets [b, H], epoch) -> scalar`` (mean over the batch).
        valid_loss_fn : the monitored loss on ``valid`` (default ``loss_fn``); give the main
            loss alone when ``loss_fn`` has scheduled auxiliary weights, so epochs compare.
        parameters : the parameters to optimise (default: every trainable one), e.g. only the
            regressor after a pre-training stage.
        """
        device = resolve_device(self.device)
        module.to(device)
        train = train.to(device)
        valid = valid.to(device) if valid is not None and len(valid) else None
        valid_loss_fn = valid_loss_fn or loss_fn
        params = [p for p in (module.parameters() if parameters is None else parameters)
                  if p.requires_grad]
        if not params:
            raise ModelError("nothing to train: the module has no trainable parameters")
        optimizer = self._optimizer(params, device)
        lr_patience = self.lr_patience if self.lr_patience is not None else max(
            1, self.patience // 2)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=self.lr_factor, patience=lr_patience,
            min_lr=self.min_lr)
        generator = torch.Generator().manual_seed(int(self.seed))
        history = TrainingHistory(monitor="valid" if valid is not None else "train")
        best_state: dict[str, Tensor] | None = None
        bad_epochs = 0
        n = len(train)
        batch_size = max(1, int(self.batch_size))
        # Data-parallel in a process group: DDP averages the gradients of the ranks' batches,
        # each rank takes 1/world of the global batch, the epoch losses are summed over ranks.
        world = distributed.world()
        net = module if world is None else distributed.wrap(module)
        if world is not None:
            batch_size = -(-batch_size // world.size)

        with _progress(self.progress, self.max_epochs) as advance:
            for epoch in range(int(self.max_epochs)):
                net.train()
                total = torch.zeros((), device=device)
                seen = 0
                for idx in train.batch_indices(batch_size, generator, device, world):
                    inputs, y = train.take(idx)
                    loss = loss_fn(net(inputs), y, epoch)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if self.grad_clip:
                        nn.utils.clip_grad_norm_(params, self.grad_clip, foreach=True)
                    optimizer.step()
                    total += loss.detach() * idx.shape[0]
                    seen += int(idx.shape[0])
                if world is None:
                    train_loss = float(total) / n  # the one host sync of the epoch
                else:
                    summed = distributed.all_reduce_sum(torch.stack([
                        total.cpu(), torch.tensor(float(seen), dtype=total.dtype)]))
                    train_loss = float(summed[0]) / float(summed[1])
                if not math.isfinite(train_loss):
                    raise ModelError(
                        f"training loss became {train_loss} at epoch {epoch}: lower lr "
                        f"(now {optimizer.param_groups[0]['lr']:g}) or set grad_clip")
                monitored = (self.evaluate(module, valid, valid_loss_fn, epoch)
                             if valid is not None else train_loss)
                history.train_loss.append(train_loss)
                history.valid_loss.append(monitored if valid is not None else math.nan)
                history.lr.append(float(optimizer.param_groups[0]["lr"]))
                if monitored < history.best_loss - self.min_delta or best_state is None:
                    history.best_loss, history.best_epoch, bad_epochs = monitored, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:
                    bad_epochs += 1
                scheduler.step(monitored)
                advance(epoch, train_loss, monitored)
                observer = EPOCH_OBSERVER.get()
                if observer is not None:
                    observer(epoch, monitored)
                if bad_epochs >= self.patience:
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        return history

    @torch.inference_mode()
    def evaluate(self, module: nn.Module, data: TensorData, loss_fn: LossFn,
                 epoch: int) -> float:
        """Mean loss over ``data`` (eval mode, large batches, no autograd); in a process group
        each rank scores a contiguous share of the rows and the sums are added over the ranks,
        so every rank reads the same loss."""
        module.eval()
        device = data.targets.device
        total = torch.zeros((), device=device)
        n = len(data)
        world = distributed.world()
        lo, hi = (0, n) if world is None else (n * world.rank // world.size,
                                               n * (world.rank + 1) // world.size)
        for start in range(lo, hi, self.eval_batch_size):
            sl = slice(start, min(start + self.eval_batch_size, hi))
            y = data.targets[sl]
            out = module({k: v[sl] for k, v in data.inputs.items()})
            total += loss_fn(out, y, epoch) * y.shape[0]
        if world is not None:
            total = distributed.all_reduce_sum(total.cpu())
        loss = float(total) / n
        return loss if math.isfinite(loss) else math.inf

    @torch.inference_mode()
    def predict(self, module: nn.Module, inputs: Inputs) -> Any:
        """``module(inputs)`` in eval mode over large contiguous batches, outputs concatenated.

        Outputs may be a tensor, a tuple / dict of tensors or a dataclass of tensors.
        """
        device = resolve_device(self.device)
        _ready_for_inference(module, device)
        n = next(iter(inputs.values())).shape[0] if inputs else 0
        if 0 < n <= self.eval_batch_size and all(v.device == device for v in inputs.values()):
            # One batch already on the device (a service request): no slices, copies or
            # concatenation, whose fixed costs are a third of a one-row forward pass.
            return module(inputs)
        parts = []
        for start in range(0, n, self.eval_batch_size):
            sl = slice(start, start + self.eval_batch_size)
            parts.append(module({k: v[sl].to(device, non_blocking=True)
                                 for k, v in inputs.items()}))
        return concat_outputs(parts)


def _ready_for_inference(module: nn.Module, device: torch.device) -> None:
    """``module.to(device).eval()``, each step only when needed: both walk every submodule and
    tensor, which for a small prediction (one service request) costs more than the forward
    pass itself. The check walks ``_modules`` / ``_parameters`` / ``_buffers`` directly:
    ``modules()`` and ``parameters()`` build names and a seen-set on every call, four times
    the cost of the walk."""
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    # The walk's lists are kept on the module (ltvkit builds a network once and never adds
    # or removes submodules; ``to`` moves a parameter's data, not the parameter object).
    walk = module.__dict__.get("_ltvkit_walk")
    if walk is None:
        modules = _submodules(module)
        walk = module.__dict__["_ltvkit_walk"] = (modules, [
            t for m in modules for t in itertools.chain(m._parameters.values(),
                                                         m._buffers.values())
            if t is not None])
    modules, tensors = walk
    if any(m.training for m in modules):
        module.eval()
    if any(t.device != device for t in tensors):
        module.to(device)


def _submodules(module: nn.Module) -> list[nn.Module]:
    """``module`` and every submodule under it (a module held twice is listed twice)."""
    out, stack = [], [module]
    while stack:
        m = stack.pop()
        out.append(m)
        stack.extend(child for child in m._modules.values() if child is not None)
    return out


def concat_outputs(parts: list[Any]) -> Any:
    """Concatenate per-batch outputs along the sample axis (tensors, tuples, dicts, dataclasses)."""
    first = parts[0]
    if first is None:
        return None
    if len(parts) == 1:
        return first
    if isinstance(first, Tensor):
        return torch.cat(parts, dim=0)
    if isinstance(first, dict):
        return {k: concat_outputs([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(concat_outputs(list(xs)) for xs in zip(*parts, strict=True))
    if dataclasses.is_dataclass(first):
        return dataclasses.replace(first, **{
            f.name: concat_outputs([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(first) if f.init})
    if isinstance(first, (bool, int, float, str)):
        return first  # a per-batch constant (e.g. a head's monotone flag)
    raise TypeError(f"cannot concatenate model outputs of type {type(first).__name__}")


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int, float, float], None]]:
    """A rich progress bar over epochs (a no-op callback when disabled)."""
    if not enabled:
        yield lambda epoch, train_loss, monitored: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("", total=total)

        def advance(epoch: int, train_loss: float, monitored: float) -> None:
            bar.update(task, completed=epoch + 1,
                       description=f"train {train_loss:.4f}  monitored {monitored:.4f}")

        yield advance
