"""Training on several processes (GPUs or hosts) with PyTorch's DistributedDataParallel.

The one training entry point, ``counterfactory train``, runs unchanged under ``torchrun``::

    torchrun --standalone --nproc_per_node 4 -m app.cli train --dataset loan --out runs/loan
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --nproc_per_node 8 -m app.cli train ...

Each process is one *rank*. ``init_from_env()`` joins the process group torchrun describes
in the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``):
NCCL when the rank has a GPU (``cuda:LOCAL_RANK``), else gloo, so the same command runs on
CPUs (and is tested there with two gloo processes on loopback).

What changes in ``generators.training.train`` when a group is joined: the model is
wrapped in ``DistributedDataParallel`` (weights broadcast from rank 0, gradients averaged
after every backward); every rank draws the same shuffled batch and keeps its own slice
of it, so a step still sees ``batch_size`` rows in all; validation runs on every rank on
the same rows with the same weights, so early stopping and best-weight choices agree
without messages; decisions that could differ (cancellation, the time limit) are agreed
by an all-reduce. Progress callbacks, checkpoints and files are rank 0's alone
(``is_main()``); the saved checkpoint is an ordinary one that ``load_model`` reads.

Not distributed yet: CausalGAN's adversarial loop (it says so when asked to), and
workspace runs (the app's job runner starts one process per run).
"""

from __future__ import annotations

import datetime as dt
import os

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "active", "rank", "world_size", "is_main", "local_device", "shutdown", "agree_any"]


def _env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_from_env(timeout_s: float = 600.0) -> bool:
    """Join the process group torchrun set up (a no-op outside torchrun, or when already
    joined); True when training is now distributed over more than one process."""
    if active():
        return True
    if _env_world_size() <= 1 or not dist.is_available():
        return False
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and torch.cuda.device_count() > local:
        torch.cuda.set_device(local)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=dt.timedelta(seconds=timeout_s))
    return True


def active() -> bool:
    """A process group of more than one rank is joined."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or not distributed): the process that reports, checkpoints and writes files."""
    return rank() == 0


def local_device() -> torch.device | None:
    """This rank's GPU under a distributed NCCL group, else None (the usual device choice)."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return None


def agree_any(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank when ``flag`` is true on any (an all-reduce); ``flag`` itself
    when not distributed."""
    if not active():
        return flag
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_across(value: float, device: torch.device | str = "cpu") -> float:
    """The mean of ``value`` over the ranks (``value`` itself when not distributed)."""
    if not active():
        return value
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / dist.get_world_size()


def shutdown() -> None:
    """Leave the process group (after the last collective)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
