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


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else CPU; or an explicit ``"cpu"`` / ``"cuda[:i]"``."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available; use 'auto' or 'cpu'")
    return dev


@dataclass(frozen=True)
class TrainConfig:
    """How to train; every model kind uses the same loop and these settings."""

    max_epochs: int = 400  # upper bound: early stopping usually ends sooner
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1  # rows held out for early stopping and learning-rate decay
    patience: int = 12  # epochs without a better validation loss before stopping
    lr_patience: int = 4  # epochs without improvement before the learning rate is halved
    min_lr: float = 2e-5  # stop once the learning rate has decayed below this
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
    stopped: str  # "converged" | "max_epochs" | "time_limit" | "cancelled"
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


def _is_cancelled(cancel: threading.Event | Callable[[], bool] | None) -> bool:
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

    Splits off ``val_fraction`` of the rows (seeded), trains with Adam in shuffled
    mini-batches, halves the learning rate when validation stalls, stops when it stalls
    for ``patience`` epochs, and restores the best weights. ``cancel`` (an Event or a
    function) and callbacks raising ``Cancelled`` stop it early, keeping the best weights.
    ``checkpoint`` is called every ``checkpoint_every`` epochs once validation improved.
    """
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = data.shape[0]
    n_val = int(round(n * config.val_fraction)) if n >= 40 else 0
    perm = torch.randperm(n, generator=gen).to(data.device)
    val, tr = data[perm[:n_val]], data[perm[n_val:]]
    n_tr = tr.shape[0]
    bs = min(config.batch_size, n_tr)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    t0 = time.perf_counter()
    best = math.inf
    best_state = copy.deepcopy(module.state_dict())
    best_epoch = since_best = since_lr = steps = epoch = 0
    last_ckpt = 0
    history: list[tuple[int, float, float]] = []
    stopped = "max_epochs"
    lr = config.lr
    try:
        for epoch in range(1, config.max_epochs + 1):
            module.train()
            order = torch.randperm(n_tr, generator=gen).to(data.device)
            total, count = 0.0, 0
            for start in range(0, n_tr - bs + 1 if n_tr >= bs else 1, bs):
                batch = tr[order[start : start + bs]]
                loss = module.loss(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * batch.shape[0]
                count += batch.shape[0]
                steps += 1
                if steps % 50 == 0 and _is_cancelled(cancel):
                    raise Cancelled()
            train_loss = total / max(count, 1)
            val_loss = _evaluate(module, val) if n_val else train_loss
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {val_loss}); try a smaller learning rate")
            history.append((epoch, train_loss, val_loss))
            if val_loss < best - 1e-6 * abs(best if math.isfinite(best) else 1.0):
                best, best_epoch, since_best, since_lr = val_loss, epoch, 0, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                since_best += 1
                since_lr += 1
            if since_lr >= config.lr_patience:
                lr /= 2
                since_lr = 0
                for g in opt.param_groups:
                    g["lr"] = lr
            elapsed = time.perf_counter() - t0
            prog = Progress(epoch, config.max_epochs, steps, train_loss, val_loss, best, lr, elapsed)
            for cb in callbacks:
                cb(prog)
            if checkpoint is not None and config.checkpoint_every and epoch - last_ckpt >= config.checkpoint_every and best_epoch > last_ckpt:
                _with_state(module, best_state, lambda: checkpoint(prog))
                last_ckpt = epoch
            if _is_cancelled(cancel):
                raise Cancelled()
            if since_best >= config.patience or lr < config.min_lr:
                stopped = "converged"
                break
            if config.max_seconds is not None and elapsed >= config.max_seconds:
                stopped = "time_limit"
                break
    except Cancelled:
        stopped = "cancelled"
    module.load_state_dict(best_state)
    module.eval()
    return FitReport(
        epochs=epoch,
        steps=steps,
        seconds=time.perf_counter() - t0,
        best_epoch=best_epoch,
        best_val_loss=best,
        stopped=stopped,
        device=str(data.device),
        n_train=n_tr,
        n_val=n_val,
        history=tuple(history),
    )


@torch.no_grad()
def _evaluate(module: nn.Module, data: Tensor, chunk: int = 16384) -> float:
    module.eval()
    total = 0.0
    for start in range(0, data.shape[0], chunk):
        batch = data[start : start + chunk]
        total += float(module.loss(batch)) * batch.shape[0]
    return total / data.shape[0]


def _with_state(module: nn.Module, state: dict, fn: Callable[[], None]) -> None:
    """Run ``fn`` with ``state`` loaded into ``module``, then put the current weights back."""
    current = copy.deepcopy(module.state_dict())
    module.load_state_dict(state)
    try:
        fn()
    finally:
        module.load_state_dict(current)
