"""One generic training loop: device, batching, validation split, early stopping, learning-rate
decay, seeding, progress callbacks, cancellation and checkpoints. Models own the math
(``module.loss(batch)``); this loop owns iteration."""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import torch
from torch import Tensor, nn

from generators import distributed


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else CPU; or an explicit ``"cpu"`` / ``"cuda[:i]"``."""
    if preference == "auto":
        mine = distributed.local_device()  # this rank's GPU under torchrun
        if mine is not None:
            return mine
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available; use 'auto' or 'cpu'")
    return dev


@dataclass(frozen=True)
class TrainConfig:
    """How to train; every model kind uses the same loop and these settings."""

    schedule: str = "cosine"  # cosine: lr anneals to 0 over `steps`; plateau: halve lr when validation stalls
    steps: int = 4000  # optimizer steps of the cosine schedule (fewer if max_epochs comes first)
    max_epochs: int = 400  # upper bound on passes over the data
    batch_size: int = 512
    lr: float = 1e-2
    weight_decay: float = 0.0  # decoupled (AdamW) decay of hidden-layer weights; skips and biases are not decayed
    val_fraction: float = 0.1  # rows held out to pick the best epoch and to stop early
    patience: int | None = None  # epochs without a better validation loss before stopping (None: never)
    lr_patience: int = 4  # plateau schedule: epochs without improvement before the lr is halved
    min_lr: float = 2e-5  # plateau schedule: stop once the lr has decayed below this
    max_seconds: float | None = None  # wall-clock budget; None means no limit
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda"
    checkpoint_every: int = 5  # epochs between checkpoints when a checkpoint path is given


@dataclass(frozen=True)
class Progress:
    """Where training stands, passed to callbacks after every epoch."""

    epoch: int
    max_epochs: int
    steps: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    lr: float
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.epoch / max(self.max_epochs, 1)


@dataclass(frozen=True)
class FitReport:
    """What a fit did: how long, how far, and why it stopped."""

    epochs: int
    steps: int
    seconds: float
    best_epoch: int
    best_val_loss: float
    stopped: str  # "schedule_done" | "converged" (early stop) | "max_epochs" | "time_limit" | "cancelled"
    device: str
    n_train: int
    n_val: int
    history: tuple[tuple[int, float, float], ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "history"}
        d["history"] = [list(h) for h in self.history]
        return d


class Trainable(Protocol):
    def loss(self, batch: Tensor) -> Tensor: ...

    def parameters(self) -> Iterable[nn.Parameter]: ...


class Cancelled(Exception):
    """Raised by a callback to stop training early; the best weights so far are kept."""


Callback = Callable[[Progress], Any]


def is_cancelled(cancel: threading.Event | Callable[[], bool] | None) -> bool:
    """Whether ``cancel`` (an Event, a function, or None) asks to stop."""
    if cancel is None:
        return False
    return cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())


def train(
    module: nn.Module,
    data: Tensor,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    callbacks: Iterable[Callback] = (),
    cancel: threading.Event | Callable[[], bool] | None = None,
    checkpoint: Callable[[Progress], None] | None = None,
) -> FitReport:
    """Minimise ``module.loss(batch)`` over rows of ``data`` (already on the module's device).

    Splits off ``val_fraction`` of the rows (seeded) and trains with AdamW in shuffled
    mini-batches under a cosine learning-rate schedule of ``steps`` steps (or, with
    ``schedule="plateau"``, halves the rate whenever validation stalls). It stops early
    when validation has not improved for ``patience`` epochs. At the end it keeps the
    best weights by validation, per node for modules with ``node_losses``; after a full
    cosine schedule it keeps the annealed final weights unless validation got clearly
    worse. ``module.after_training(train_rows, val_rows)``, when defined, runs last.
    ``cancel`` (an Event or a function) and callbacks raising ``Cancelled`` stop training
    early, keeping the best weights. ``checkpoint`` is called every ``checkpoint_every``
    epochs once validation improved.
    """
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = data.shape[0]
    n_val = int(round(n * config.val_fraction)) if n >= 40 else 0
    perm = torch.randperm(n, generator=gen).to(data.device)
    val, tr = data[perm[:n_val]], data[perm[n_val:]]
    n_tr = tr.shape[0]
    bs = min(config.batch_size, n_tr)
    if config.schedule not in ("cosine", "plateau"):
        raise ValueError(f"unknown schedule '{config.schedule}'; use 'cosine' or 'plateau'")
    # Decoupled weight decay (AdamW) on what the module names as decayable (e.g. hidden
    # layers), never on biases, linear skips or noise scales.
    decay_ids = {id(p) for p in getattr(module, "decay_parameters", lambda: [])()}
    params = [p for p in module.parameters() if p.requires_grad]
    if config.weight_decay:
        groups = [
            {"params": [p for p in params if id(p) in decay_ids], "weight_decay": config.weight_decay},
            {"params": [p for p in params if id(p) not in decay_ids], "weight_decay": 0.0},
        ]
    else:  # one group, one fused update per step (the same arithmetic per parameter)
        groups = [{"params": params, "weight_decay": 0.0}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr, **_fast_adamw(params))
    # Under torchrun (generators.distributed): every rank draws the same batch and keeps its
    # slice of it; DistributedDataParallel averages the gradients.
    world, me = distributed.world_size(), distributed.rank()
    step_loss: Callable[[Tensor], Tensor] = module.loss  # type: ignore[assignment]
    if world > 1:
        if bs < world:
            raise ValueError(f"a batch of {bs} rows cannot be split over {world} processes; use a larger batch_size")
        from torch.nn.parallel import DistributedDataParallel

        step_loss = DistributedDataParallel(
            _LossOf(module), device_ids=[data.device] if data.device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    per_epoch = max(n_tr // bs, 1)
    cosine = config.schedule == "cosine"
    total_steps = min(config.steps, config.max_epochs * per_epoch) if cosine else config.max_epochs * per_epoch
    max_epochs = -(-total_steps // per_epoch)
    t0 = time.perf_counter()
    best = _Best(module)
    best_epoch = since_best = since_lr = steps = epoch = 0
    last_ckpt = 0
    history: list[tuple[int, float, float]] = []
    stopped = "max_epochs"
    lr = config.lr
    try:
        for epoch in range(1, max_epochs + 1):
            module.train()
            order = torch.randperm(n_tr, generator=gen).to(data.device)
            total, count = 0.0, 0
            for start in range(0, n_tr - bs + 1 if n_tr >= bs else 1, bs):
                if cosine:
                    if steps >= total_steps:
                        break
                    lr = 0.5 * config.lr * (1.0 + math.cos(math.pi * steps / total_steps))
                    for g in opt.param_groups:
                        g["lr"] = lr
                rows = order[start : start + bs]
                batch = tr[rows[me::world] if world > 1 else rows]
                loss = step_loss(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * batch.shape[0]
                count += batch.shape[0]
                steps += 1
                if steps % 50 == 0 and distributed.agree_any(is_cancelled(cancel)):
                    raise Cancelled()
            train_loss = distributed.mean_across(total / max(count, 1))
            losses = _evaluate(module, val if n_val else tr, best.per_node)
            val_loss = float(losses.sum()) if best.per_node else float(losses)
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {val_loss}); try a smaller learning rate")
            history.append((epoch, train_loss, val_loss))
            if best.update(module, losses):
                best_epoch, since_best, since_lr = epoch, 0, 0
            else:
                since_best += 1
                since_lr += 1
            if not cosine and since_lr >= config.lr_patience:
                lr /= 2
                since_lr = 0
                for g in opt.param_groups:
                    g["lr"] = lr
            elapsed = time.perf_counter() - t0
            prog = Progress(epoch, max_epochs, steps, train_loss, val_loss, best.total, lr, elapsed)
            stop = report(prog, callbacks)
            if (distributed.is_main() and checkpoint is not None and config.checkpoint_every
                    and epoch - last_ckpt >= config.checkpoint_every and best_epoch > last_ckpt):
                _with_state(module, best.params, lambda: checkpoint(prog))
                last_ckpt = epoch
            if distributed.agree_any(stop or is_cancelled(cancel)):
                raise Cancelled()
            if (config.patience is not None and since_best >= config.patience) or (not cosine and lr < config.min_lr):
                stopped = "converged"
                break
            if cosine and steps >= total_steps:
                stopped = "schedule_done"
                break
            if config.max_seconds is not None and distributed.agree_any(elapsed >= config.max_seconds):
                stopped = "time_limit"
                break
    except Cancelled:
        stopped = "cancelled"
    if cosine and stopped in ("schedule_done", "max_epochs"):
        # the annealed final weights are usually the best; go back only where validation
        # clearly got worse (overfitting), not where it merely wobbled
        best.restore(module, only_if_worse_than=_evaluate(module, val if n_val else tr, best.per_node), slack=0.01)
    else:
        best.restore(module)
    module.eval()
    if hasattr(module, "after_training"):
        module.after_training(tr, val)  # e.g. exact solutions and choices made on held-out rows
    return FitReport(
        epochs=epoch,
        steps=steps,
        seconds=time.perf_counter() - t0,
        best_epoch=best_epoch,
        best_val_loss=best.total,
        stopped=stopped,
        device=str(data.device),
        n_train=n_tr,
        n_val=n_val,
        history=tuple(history),
    )


def _fast_adamw(params: list[nn.Parameter]) -> dict[str, bool]:
    """AdamW's fused kernel where every parameter allows it (floating point, on one CPU or
    CUDA device): one kernel per step instead of a dozen small operations per tensor. The
    update is the same; only rounding can differ. Measured on a 3-node Causal Gen step
    (2 threads): 3.7 -> 3.1 ms."""
    devices = {p.device.type for p in params}
    if len(devices) == 1 and devices <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params):
        return {"fused": True}
    return {}


def report(progress: Progress, callbacks: Iterable[Callback]) -> bool:
    """Give ``progress`` to the callbacks (rank 0 alone when distributed); True when one
    asked to stop by raising ``Cancelled`` (the caller agrees on it with the other ranks)."""
    if not distributed.is_main():
        return False
    try:
        for cb in callbacks:
            cb(progress)
    except Cancelled:
        return True
    return False


class _LossOf(nn.Module):
    """``module.loss`` as a forward pass, for DistributedDataParallel to wrap."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.inner = module

    def forward(self, batch: Tensor) -> Tensor:
        return self.inner.loss(batch)  # type: ignore[operator]


@torch.no_grad()
def _evaluate(module: nn.Module, data: Tensor, per_node: bool, chunk: int = 16384) -> Tensor:
    """Mean validation loss: a scalar, or ``[n_nodes]`` from ``module.node_losses``."""
    module.eval()
    total: Tensor | float = 0.0
    for start in range(0, data.shape[0], chunk):
        batch = data[start : start + chunk]
        value = module.node_losses(batch) if per_node else module.loss(batch)
        total = total + value.detach().double().cpu() * batch.shape[0]
    return total / data.shape[0]  # type: ignore[return-value]


class _Best:
    """The best weights seen so far.

    A module whose parameters are all stacked per node (leading dimension = number of
    nodes) and that reports ``node_losses(batch)`` gets one best epoch *per node*: its
    mechanisms are independent networks, so each keeps the weights of the epoch where its
    own validation loss was lowest. Any other module keeps the epoch of lowest total loss.
    """

    def __init__(self, module: nn.Module) -> None:
        params = dict(module.named_parameters())
        n = getattr(module, "n_nodes", None)
        self.per_node = hasattr(module, "node_losses") and n is not None and all(p.shape[0] == n for p in params.values())
        self.params = {k: v.detach().clone() for k, v in params.items()}
        self.loss: Tensor | float | None = None

    @property
    def total(self) -> float:
        if self.loss is None:
            return math.inf
        return float(self.loss.sum()) if isinstance(self.loss, Tensor) else float(self.loss)

    def update(self, module: nn.Module, losses: Tensor) -> bool:
        """Record ``module``'s weights where they improved; whether anything did."""
        if not self.per_node:
            value = float(losses)
            if self.loss is not None and not value < self.loss - 1e-6 * abs(self.loss):  # type: ignore[operator]
                return False
            self.loss = value
            self.params = {k: v.detach().clone() for k, v in module.named_parameters()}
            return True
        if self.loss is None:
            better = torch.ones_like(losses, dtype=torch.bool)
        else:
            better = losses < self.loss - 1e-6 * self.loss.abs()  # type: ignore[union-attr]
        if not bool(better.any()):
            return False
        self.loss = torch.where(better, losses, self.loss if self.loss is not None else losses)
        for k, p in module.named_parameters():
            rows = better.to(p.device)
            self.params[k][rows] = p.detach()[rows]
        return True

    def restore(self, module: nn.Module, only_if_worse_than: Tensor | None = None, slack: float = 0.0) -> None:
        """Load the best weights; with ``only_if_worse_than`` (the current losses), only
        where the current loss exceeds the best by more than ``slack`` (relative)."""
        if self.loss is None:
            return
        state = module.state_dict()
        if only_if_worse_than is None:
            state.update(self.params)
        elif self.per_node:
            best = self.loss  # type: ignore[assignment]
            worse = only_if_worse_than > best + slack * best.abs() + 1e-9  # type: ignore[operator]
            for k, p in self.params.items():
                rows = worse.to(p.device)
                state[k] = torch.where(rows.view(-1, *[1] * (p.dim() - 1)), p, state[k])
        elif float(only_if_worse_than) > self.loss + slack * abs(self.loss) + 1e-9:  # type: ignore[operator]
            state.update(self.params)
        module.load_state_dict(state)


def _with_state(module: nn.Module, params: dict, fn: Callable[[], None]) -> None:
    """Run ``fn`` with ``params`` loaded into ``module``, then put the current weights back."""
    current = copy.deepcopy(module.state_dict())
    module.load_state_dict({**current, **params})
    try:
        fn()
    finally:
        module.load_state_dict(current)
