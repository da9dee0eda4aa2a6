"""The one training loop every model kind goes through. A model owns its losses and optimizers
(``Steps``: what one step does); ``train`` owns iteration: device and seeding, the split,
batches, the learning-rate schedule, validation, best weights, early stopping, time limits,
progress callbacks, checkpoints, cancellation and processes under torchrun."""

from __future__ import annotations

import copy
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

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


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Within the block torch computes on ``n`` CPU threads (``None``: as it was), then as
    before. A small network's matrices (a tabular model's per-node networks: a few thousand
    weights times a batch) are below the size where splitting an operation across threads
    pays: extra threads only wait on each other, and on a machine with other work (another
    fit, a browser, a test run) they spin against it. Parallel work belongs one level up,
    one fit per core (the hypothesis tests' worker processes, the app's runs).

    >>> with cpu_threads(1):
    ...     torch.get_num_threads()
    1
    """
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"threads must be >= 1 (or None for the model's choice), got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class TrainConfig:
    """How to train; every model kind uses the same loop and these settings."""

    schedule: str = "cosine"  # cosine: lr anneals to 0 over `steps`; plateau: halve lr when validation stalls; constant
    steps: int = 4000  # optimizer steps (fewer if max_epochs comes first; the plateau schedule ignores it)
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
    threads: int | None = None  # CPU threads while fitting; None: the model kind's choice (``cpu_threads``)
    checkpoint_every: int = 5  # epochs between checkpoints when a checkpoint path is given
    settle_from: float | None = 0.25  # from this fraction of the steps, stop once the model says more steps cannot change its outputs (``Steps.settled``); None: never


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
    stopped: str  # "schedule_done" | "converged" (early stop) | "settled" (outputs final) | "max_epochs" | "time_limit" | "cancelled" | "counted" (nothing to train)
    device: str
    n_train: int
    n_val: int
    history: tuple[tuple[int, float, float], ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "history"}
        d["history"] = [list(h) for h in self.history]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FitReport":
        """The report ``to_dict`` wrote (as a checkpoint keeps it)."""
        d = dict(d)
        d["history"] = tuple(tuple(h) for h in d.get("history", []))
        return cls(**d)


class Cancelled(Exception):
    """Raised by a callback to stop training early; the best weights so far are kept."""


Callback = Callable[[Progress], Any]


def is_cancelled(cancel: threading.Event | Callable[[], bool] | None) -> bool:
    """Whether ``cancel`` (an Event, a function, or None) asks to stop."""
    if cancel is None:
        return False
    return cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())


SCHEDULES = ("cosine", "plateau", "constant")


@dataclass(frozen=True)
class Plan:
    """How ``train`` splits ``n`` rows and how far it goes: the one place this arithmetic
    lives, for everything that must know it in advance (progress across the phases of an
    image model, CCGM's step-based freezing, time estimates)."""

    n_train: int
    n_val: int
    batch_size: int
    steps_per_epoch: int
    total_steps: int  # the most optimizer steps training takes (fewer only if it stops early)
    max_epochs: int


def plan(n: int, config: TrainConfig) -> Plan:
    """The split and length of training on ``n`` rows: ``val_fraction`` of them held out
    (none under 40 rows); ``steps`` optimizer steps, or fewer when ``max_epochs`` passes
    come first; under the plateau schedule, which has no set length, ``max_epochs`` passes."""
    n_val = int(round(n * config.val_fraction)) if n >= 40 else 0
    n_train = n - n_val
    bs = max(min(config.batch_size, n_train), 1)
    per_epoch = max(n_train // bs, 1)
    bound = config.max_epochs * per_epoch
    total = bound if config.schedule == "plateau" else min(config.steps, bound)
    return Plan(n_train, n_val, bs, per_epoch, total, -(-total // per_epoch))


@dataclass
class StepContext:
    """What a model's training step may use besides its batch (see ``Steps``)."""

    config: TrainConfig
    plan: Plan
    seed: int
    generator: torch.Generator  # the loop's CPU generator: a step draws its own randomness from it
    device: torch.device
    train: Tensor  # the training rows (the held-out ones are not shown to a step)
    n_val: int
    world: int = 1  # processes training together (torchrun), and this one's rank
    rank: int = 0
    steps: int = 0  # optimizer steps done so far
    draw_rows: Callable[[], Tensor] | None = None

    def draw(self) -> Tensor:
        """Another batch of training rows, drawn as the loop draws them (with replacement,
        this process's share under torchrun)."""
        assert self.draw_rows is not None
        return self.draw_rows()

    def shard(self, t: Tensor) -> Tensor:
        """This process's rows of a batch-sized tensor (all of it outside torchrun)."""
        return t[self.rank :: self.world] if self.world > 1 else t

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, after averaging its gradients over the processes."""
        distributed.average_gradients(p for g in optimizer.param_groups for p in g["params"])
        optimizer.step()


class Steps:
    """A model's side of training: its optimizers and what one step does. The loop
    (``train``) owns the rest: the split, batches, learning-rate schedule, epochs,
    validation, best weights, early stopping, time limit, progress, checkpoints,
    cancellation, and processes under torchrun.

    A subclass sets ``module`` (every weight it trains, as one module) and implements
    ``optimizers``, ``step`` and ``validate``; the schedule scales each parameter group's
    own learning rate. ``sampling``: ``"epochs"`` (shuffled passes over the training rows)
    or ``"draws"`` (each step's batch drawn with replacement). ``keep_best``: end with the
    weights of the best validation epoch (per node when ``per_node``: ``validate`` then
    returns one loss per node and every parameter is stacked per node), else the last ones.
    A subclass that does not use DistributedDataParallel steps its optimizers with
    ``ctx.step`` (gradients averaged) and the loop broadcasts rank 0's state after every step.
    """

    sampling: ClassVar[str] = "draws"
    keep_best: ClassVar[bool] = False
    uses_ddp: ClassVar[bool] = False
    per_node: bool = False

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def optimizers(self, config: TrainConfig) -> list[torch.optim.Optimizer]:
        raise NotImplementedError

    def start(self, ctx: StepContext) -> None:
        """Before the first step, in training mode (e.g. pre-training a part of the model)."""

    def step(self, batch: Tensor, ctx: StepContext) -> Tensor | float:
        """One training step on ``batch``; returns its loss (for progress)."""
        raise NotImplementedError

    def validate(self, rows: Tensor, ctx: StepContext) -> Tensor | float:
        """The validation loss on ``rows`` (the held-out rows, or the training rows when none
        are held out): a scalar, or ``[n_nodes]`` when ``per_node``."""
        raise NotImplementedError

    def settled(self, val: Tensor, ctx: StepContext) -> bool:
        """After a validation, whether further steps can no longer change what the model
        will compute (e.g. every mechanism will be a closed-form rival fitted to the data, not
        the network being trained). The loop then stops with the current weights, which
        ``finish`` sees exactly as this check saw them."""
        return False

    def finish(self, train: Tensor, val: Tensor) -> None:
        """After training, with the kept weights in place, in evaluation mode."""


class LossSteps(Steps):
    """The steps of a module that computes its own ``loss(batch)``: AdamW on every trainable
    parameter (decoupled weight decay only on what ``decay_parameters()`` names, never on
    biases, linear skips or noise scales), shuffled epochs, and the best weights by
    validation, per node for a module with ``node_losses(batch)`` whose parameters are all
    stacked per node (its mechanisms are independent networks, so each keeps the epoch
    where its own validation loss was lowest). ``after_training(train, val)`` runs last when
    defined. Under torchrun the loss runs in DistributedDataParallel."""

    sampling = "epochs"
    keep_best = True
    uses_ddp = True

    def __init__(self, module: nn.Module) -> None:
        super().__init__(module)
        n = getattr(module, "n_nodes", None)
        self.per_node = hasattr(module, "node_losses") and n is not None and all(
            p.shape[0] == n for p in module.parameters()
        )
        self._loss: Callable[[Tensor], Tensor] = module.loss  # type: ignore[assignment]
        self._opt: torch.optim.Optimizer | None = None

    def optimizers(self, config: TrainConfig) -> list[torch.optim.Optimizer]:
        decay_ids = {id(p) for p in getattr(self.module, "decay_parameters", lambda: [])()}
        params = [p for p in self.module.parameters() if p.requires_grad]
        if config.weight_decay:
            groups = [
                {"params": [p for p in params if id(p) in decay_ids], "weight_decay": config.weight_decay},
                {"params": [p for p in params if id(p) not in decay_ids], "weight_decay": 0.0},
            ]
        else:  # one group, one fused update per step (the same arithmetic per parameter)
            groups = [{"params": params, "weight_decay": 0.0}]
        self._opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr, **_fast_adamw(params))
        return [self._opt]

    def start(self, ctx: StepContext) -> None:
        if ctx.world > 1:  # every rank keeps its slice of the same batch; DDP averages the gradients
            from torch.nn.parallel import DistributedDataParallel

            self._loss = DistributedDataParallel(
                _LossOf(self.module), device_ids=[ctx.device] if ctx.device.type == "cuda" else None,
                find_unused_parameters=True,
            )

    def step(self, batch: Tensor, ctx: StepContext) -> Tensor:
        assert self._opt is not None
        loss = self._loss(batch)
        self._opt.zero_grad(set_to_none=True)
        loss.backward()
        self._opt.step()
        return loss

    def validate(self, rows: Tensor, ctx: StepContext) -> Tensor:
        return _evaluate(self.module, rows, self.per_node)

    def settled(self, val: Tensor, ctx: StepContext) -> bool:
        check = getattr(self.module, "settled", None)
        if check is None or ctx.config.settle_from is None or ctx.steps < ctx.config.settle_from * ctx.plan.total_steps:
            return False
        self.module.eval()
        try:
            return bool(check(ctx.train, val))
        finally:
            self.module.train()

    def finish(self, train: Tensor, val: Tensor) -> None:
        if hasattr(self.module, "after_training"):
            self.module.after_training(train, val)  # e.g. exact solutions and choices made on held-out rows


def train(
    model: Steps | nn.Module,
    data: Tensor,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    callbacks: Iterable[Callback] = (),
    cancel: threading.Event | Callable[[], bool] | None = None,
    checkpoint: Callable[[Progress], None] | None = None,
) -> FitReport:
    """Train ``model`` (its ``Steps``, or a module with ``loss(batch)``, trained by
    ``LossSteps``) on the rows of ``data`` (already on the model's device).

    Holds out ``val_fraction`` of the rows (seeded; see ``plan``) and takes ``plan().total_steps``
    steps in epochs of ``steps_per_epoch``, under the ``schedule``: ``cosine`` anneals every
    learning rate to 0 over the steps, ``plateau`` halves them whenever validation stalls for
    ``lr_patience`` epochs (and stops below ``min_lr``), ``constant`` keeps them. After every
    epoch it validates, reports ``Progress`` to the callbacks, and calls ``checkpoint`` every
    ``checkpoint_every`` epochs (with the kept weights in place, when they improved); it
    stops early after ``patience`` epochs without improvement, at ``max_seconds``, or when
    ``cancel`` (an Event or a function) or a callback raising ``Cancelled`` asks, keeping
    the weights it would have kept. A model that keeps its best weights ends, after a full
    cosine schedule, with the annealed final weights unless validation clearly got worse.
    Under torchrun (``generators.distributed``) every rank draws the same batch and keeps its
    slice; decisions that could differ (cancel, time) are agreed by all-reduce.
    """
    steps = model if isinstance(model, Steps) else LossSteps(model)
    module = steps.module
    if config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule '{config.schedule}'; use one of {', '.join(SCHEDULES)}")
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    p = plan(data.shape[0], config)
    n_val, n_tr, bs = p.n_val, p.n_train, p.batch_size
    if n_val or steps.sampling == "epochs":
        perm = torch.randperm(data.shape[0], generator=gen).to(data.device)
        val, tr = data[perm[:n_val]], data[perm[n_val:]]
    else:  # nothing to hold out, and batches are drawn at random: no split needed
        val, tr = data[:0], data
    world, me = distributed.world_size(), distributed.rank()
    if world > 1 and bs < world:
        raise ValueError(f"a batch of {bs} rows cannot be split over {world} processes; use a larger batch_size")

    def draw() -> Tensor:
        rows = torch.randint(n_tr, (bs,), generator=gen).to(data.device)
        return tr[rows[me::world] if world > 1 else rows]

    ctx = StepContext(config, p, seed, gen, data.device, tr, n_val, world, me, draw_rows=draw)
    opts = list(steps.optimizers(config))
    groups = [g for opt in opts for g in opt.param_groups]
    for g in groups:
        g.setdefault("initial_lr", g["lr"])
    sync = world > 1 and not steps.uses_ddp
    if sync:
        distributed.broadcast_state(module)
    module.train()
    steps.start(ctx)
    t0 = time.perf_counter()
    best: _Best | _Last = _Best(module, steps.per_node) if steps.keep_best else _Last()
    best_epoch = since_best = since_lr = epoch = last_ckpt = 0
    history: list[tuple[int, float, float]] = []
    stopped = "max_epochs"
    try:
        for epoch in range(1, p.max_epochs + 1):
            module.train()
            order = torch.randperm(n_tr, generator=gen).to(data.device) if steps.sampling == "epochs" else None
            total, count = 0.0, 0
            for i in range(p.steps_per_epoch):
                if ctx.steps >= p.total_steps:
                    break
                if config.schedule == "cosine":
                    for g in groups:
                        g["lr"] = 0.5 * g["initial_lr"] * (1.0 + math.cos(math.pi * ctx.steps / p.total_steps))
                if order is not None:
                    rows = order[i * bs : (i + 1) * bs]
                    batch = tr[rows[me::world] if world > 1 else rows]
                else:
                    batch = draw()
                loss = steps.step(batch, ctx)
                if sync:  # buffers each rank updated in its own forward passes (spectral norm ...)
                    distributed.broadcast_state(module)
                total += float(loss.detach() if isinstance(loss, Tensor) else loss) * batch.shape[0]
                count += batch.shape[0]
                ctx.steps += 1
                if ctx.steps % 50 == 0 and distributed.agree_any(is_cancelled(cancel)):
                    raise Cancelled()
            train_loss = distributed.mean_across(total / max(count, 1))
            losses = steps.validate(val if n_val else tr, ctx)
            val_loss = float(losses.sum()) if steps.per_node else float(losses)  # type: ignore[union-attr]
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {val_loss}); try a smaller learning rate")
            history.append((epoch, train_loss, val_loss))
            if best.update(module, losses):
                best_epoch, since_best, since_lr = epoch, 0, 0
            else:
                since_best += 1
                since_lr += 1
            if config.schedule == "plateau" and since_lr >= config.lr_patience:
                for g in groups:
                    g["lr"] = g["lr"] / 2
                since_lr = 0
            lr = groups[0]["lr"] if groups else 0.0
            elapsed = time.perf_counter() - t0
            prog = Progress(epoch, p.max_epochs, ctx.steps, train_loss, val_loss, best.total, lr, elapsed)
            stop = report(prog, callbacks)
            if (distributed.is_main() and checkpoint is not None and config.checkpoint_every
                    and epoch - last_ckpt >= config.checkpoint_every and best_epoch > last_ckpt):
                best.apply(module, lambda: checkpoint(prog))
                last_ckpt = epoch
            if distributed.agree_any(stop or is_cancelled(cancel)):
                raise Cancelled()
            if (config.patience is not None and since_best >= config.patience) or (
                config.schedule == "plateau" and lr < config.min_lr
            ):
                stopped = "converged"
                break
            if config.schedule != "plateau" and ctx.steps >= p.total_steps:
                stopped = "schedule_done"
                break
            if world == 1 and n_val and steps.settled(val, ctx):
                stopped = "settled"
                break
            if config.max_seconds is not None and distributed.agree_any(elapsed >= config.max_seconds):
                stopped = "time_limit"
                break
    except Cancelled:
        stopped = "cancelled"
    if stopped == "settled":
        pass  # the weights the check saw are the ones ``finish`` must see
    elif steps.keep_best and config.schedule == "cosine" and stopped in ("schedule_done", "max_epochs"):
        # the annealed final weights are usually the best; go back only where validation
        # clearly got worse (overfitting), not where it merely wobbled
        best.restore(module, only_if_worse_than=steps.validate(val if n_val else tr, ctx), slack=0.01)  # type: ignore[arg-type]
    else:
        best.restore(module)
    module.eval()
    steps.finish(tr, val)
    return FitReport(
        epochs=epoch,
        steps=ctx.steps,
        seconds=time.perf_counter() - t0,
        best_epoch=best_epoch,
        best_val_loss=best.total if steps.keep_best else (history[-1][2] if history else math.inf),
        stopped=stopped,
        device=str(data.device),
        n_train=n_tr,
        n_val=n_val,
        history=tuple(history),
    )


def _fast_adamw(params: list[nn.Parameter]) -> dict[str, bool]:
    """AdamW's fused kernel where every parameter allows it (floating point, on one CPU or
    CUDA device): one kernel per step instead of a dozen small operations per tensor. The
    update is the same; only rounding can differ (docs/benchmarks.md has its speed-up)."""
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
    """The best weights seen so far: of the epoch with the lowest validation loss or, with
    ``per_node`` (every parameter stacked per node), of each node's own best epoch."""

    def __init__(self, module: nn.Module, per_node: bool) -> None:
        self.per_node = per_node
        self.params = {k: v.detach().clone() for k, v in module.named_parameters()}
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

    def apply(self, module: nn.Module, fn: Callable[[], None]) -> None:
        """Run ``fn`` with the best weights loaded, then put the current ones back."""
        _with_state(module, self.params, fn)

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


class _Last:
    """For a model that keeps its last weights (a GAN, whose validation loss does not pick
    good weights): every epoch counts as the kept one; ``total`` is the lowest loss seen."""

    def __init__(self) -> None:
        self.total = math.inf

    def update(self, module: nn.Module, losses: Tensor | float) -> bool:
        self.total = min(self.total, float(losses))  # type: ignore[arg-type]
        return True

    def apply(self, module: nn.Module, fn: Callable[[], None]) -> None:
        fn()

    def restore(self, module: nn.Module, only_if_worse_than: Any = None, slack: float = 0.0) -> None:
        pass


def _with_state(module: nn.Module, params: dict, fn: Callable[[], None]) -> None:
    """Run ``fn`` with ``params`` loaded into ``module``, then put the current weights back."""
    current = copy.deepcopy(module.state_dict())
    module.load_state_dict({**current, **params})
    try:
        fn()
    finally:
        module.load_state_dict(current)
