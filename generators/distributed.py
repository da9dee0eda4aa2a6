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

CausalGAN's adversarial loop steps five optimizers, so it uses the two pieces DDP is made
of directly: ``broadcast_state`` (rank 0's weights and buffers, at the start and after each
step) and ``average_gradients`` (before each optimizer step), with every rank on its slice
of the same real and fake batches. Workspace runs are not distributed (the app's job
runner starts one process per run).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Iterable

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "active", "rank", "world_size", "is_main", "local_device", "shutdown", "agree_any",
           "mean_across", "average_gradients", "broadcast_state"]


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


def _collective_device() -> torch.device:
    """Where a collective's tensor must live: this rank's GPU under NCCL, else the CPU."""
    return local_device() or torch.device("cpu")


def agree_any(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (an all-reduce); ``flag`` itself
    when not distributed."""
    if not active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_across(value: float) -> float:
    """The mean of ``value`` over the ranks (``value`` itself when not distributed)."""
    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / dist.get_world_size()


def average_gradients(params: "Iterable[torch.nn.Parameter]") -> None:
    """Average the gradients of ``params`` over the ranks, in place (what DDP does after
    backward), for loops that step several optimizers (CausalGAN's). A missing gradient
    counts as zero, so every rank takes part in the same collectives."""
    if not active():
        return
    world = dist.get_world_size()
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(world)


def broadcast_state(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers (running statistics, spectral-norm vectors, an
    averaged copy) onto every rank."""
    if not active():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def shutdown() -> None:
    """Leave the process group (after the last collective)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
