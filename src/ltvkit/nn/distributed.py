"""Process-group helpers of data-parallel training (``torch.distributed``, gloo on CPU).

The trainer (:mod:`ltvkit.nn.trainer`) asks :func:`world` whether it runs in a process group of
more than one process; when it does, every process holds the whole training set, takes its share
of each epoch's shuffled rows (:func:`shard`, as ``torch.utils.data.DistributedSampler`` cuts
them: one permutation drawn from the same seed on every rank, padded to a multiple of the world
size, every ``world``-th row from the rank's offset), the network is wrapped in
``DistributedDataParallel`` (gradients averaged over the processes at every step) and the
epoch losses are summed over the processes (:func:`all_reduce_sum`), so early stopping, the
learning-rate schedule and the restored best epoch agree on every rank. Outside a process group
nothing here changes the training.

References
----------
Li, S. et al. (2020). "PyTorch Distributed: Experiences on Accelerating Data Parallel
Training." Proceedings of the VLDB Endowment 13(12), 3005-3018.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` processes."""

    rank: int
    size: int


def world() -> World | None:
    """The process group this process trains in, or ``None`` (no group, or a group of one)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return None
    size = torch.distributed.get_world_size()
    return World(torch.distributed.get_rank(), size) if size > 1 else None


def init_from_env(backend: str = "gloo") -> World | None:
    """Join the process group described by the environment of ``torchrun`` (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT), as TorchDistributor starts its processes; ``None`` when the
    environment describes no group. Idempotent."""
    if torch.distributed.is_initialized():
        return world()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    torch.distributed.init_process_group(backend=backend)
    return world()


def shutdown() -> None:
    """Leave the process group (when there is one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard(perm: Tensor, w: World) -> Tensor:
    """This rank's rows of an epoch's permutation: padded (by repeating its start) to a multiple
    of the world size, then every ``w.size``-th row from offset ``w.rank``, so every rank has the
    same number of rows (and of batches: DDP needs them equal)."""
    n = perm.shape[0]
    total = -(-n // w.size) * w.size
    if total > n:
        perm = torch.cat([perm, perm[:total - n]])
    return perm[w.rank:total:w.size]


def all_reduce_sum(value: Tensor) -> Tensor:
    """The sum of ``value`` over every process (a new tensor; gloo on CPU)."""
    out = value.detach().clone()
    torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
    return out


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in ``DistributedDataParallel`` (rank 0's weights broadcast at construction,
    gradients averaged in backward)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module)
