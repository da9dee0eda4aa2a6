"""The family cache. A graph's held-out score is a sum over its nodes of a score of the
family (node, parent set), so each family any candidate contains is fitted once per split
and seed and shared by every candidate that contains it. Families are fitted in batches: one
model of a library kind (Causal Gen by default, small and fast: ``FIT_SETTINGS``) over a
graph in which each family is its own copy of the node fed by its parents (the per-node
networks are independent and stacked, each keeping its own best epoch on the split's
validation rows), trained on the split's training rows; its own density
(``log_density``) then scores the test rows. Batches run in this process, in worker
processes (one torch thread each) or on a Ray cluster (``ray``, an optional extra)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.data import Column, DataError, Schema
from causal.graph import CausalGraph

__all__ = ["Family", "FitTask", "FitResult", "FitContext", "Cancelled", "FIT_SETTINGS", "run_tasks", "fit_task"]

Family = tuple[str, tuple[str, ...]]  # (node, its parents in the data's column order)

# A small Causal Gen per family: 32 units, 600 steps of 256 rows (each family keeps the epoch
# where its own validation loss was lowest). docs/benchmarks.md (hypotheses) has what it costs.
# agreement_first=False, curvature_alpha=None: the mechanism order the tests' calibration was
# measured with (a linear tie first, no curvature test), pinned here (docs/benchmarks.md, *The
# curvature test*: the library's order would change 18% of these fits' selection calls at 250 rows).
FIT_SETTINGS: Mapping[str, Any] = {"hidden": 32, "steps": 600, "batch_size": 256, "agreement_first": False,
                                   "curvature_alpha": None}
_COPY = "\u27e8{}\u27e9"  # a family's own copy of its node: ⟨3⟩ (no column of a table is named so)


class Cancelled(Exception):
    """A hypothesis test was cancelled; nothing is reported."""


@dataclass(frozen=True)
class FitContext:
    """What every batch shares: the (standardized) table of the modelled columns, its
    schema (kinds, categories, scales of the whole table), the model kind and its settings."""

    data: pd.DataFrame
    schema: Schema
    kind: str = "causal-gen"
    settings: Mapping[str, Any] = field(default_factory=lambda: dict(FIT_SETTINGS))


@dataclass(frozen=True)
class FitTask:
    """One batched fit: ``families`` on the ``train`` rows (positions), scored on ``test``,
    for split ``split`` of seed number ``seed``, the model seeded with ``torch_seed``."""

    index: int
    split: int
    seed: int
    train: np.ndarray
    test: np.ndarray
    families: tuple[Family, ...]
    torch_seed: int
    label: str = ""


@dataclass(frozen=True)
class FitResult:
    """Per family: negative log density and squared error (0/1 error for a discrete node)
    on each test row, and the mechanism the model chose; the fit's seconds."""

    index: int
    nll: dict[Family, np.ndarray]
    sq: dict[Family, np.ndarray]
    mechanisms: dict[Family, str]
    seconds: float


def fit_task(task: FitTask, context: FitContext, cancel: Any = None) -> FitResult:
    """Fit one batch of families and score its test rows (see the module docstring)."""
    from generators import build_model

    t0 = time.perf_counter()
    data, schema = context.data, context.schema
    roots = [f for f in task.families if not f[1]]
    inner = [f for f in task.families if f[1]]
    originals = list(dict.fromkeys([f[0] for f in roots] + [p for f in inner for p in f[1]]))
    copies = {f: _COPY.format(i) for i, f in enumerate(inner)}
    frame = {c: data[c].to_numpy() for c in originals}
    frame.update({name: data[f[0]].to_numpy() for f, name in copies.items()})
    frame = pd.DataFrame(frame)
    graph = CausalGraph(list(frame.columns), [(p, name) for f, name in copies.items() for p in f[1]])
    columns = {c.name: c for c in schema.columns}
    renamed = {**{c: columns[c] for c in originals}, **{name: _renamed(columns[f[0]], name) for f, name in copies.items()}}
    graph = graph.with_kinds({n: c.kind for n, c in renamed.items()})
    fit_schema = Schema(tuple(renamed[n] for n in graph.nodes))
    model = build_model(context.kind, graph, **dict(context.settings))
    train, test = frame.iloc[task.train], frame.iloc[task.test]
    try:
        model.fit(train, seed=task.torch_seed, schema=fit_schema, cancel=cancel)
    except DataError as e:
        text = str(e)
        for f, name in copies.items():
            text = text.replace(f"'{name}'", f"'{f[0]}'")
        raise DataError(f"split {task.label or task.split + 1}: {text}") from None
    node_of = {f: copies.get(f, f[0]) for f in task.families}
    logp = model.log_density(test, nodes=list(node_of.values()))
    codes = fit_schema.encode(test)
    nll, sq = {}, {}
    for f, node in node_of.items():
        nll[f] = -logp[node].to_numpy(dtype=np.float64)
        col = fit_schema[node]
        parents = {p: codes[p] for p in graph.parents(node)}
        if col.discrete:
            guess = model.predict(node, parents, np.zeros((len(test), len(col.categories))))
            sq[f] = (np.asarray(guess) != codes[node]).astype(np.float64)
        else:
            guess = model.predict(node, parents, np.zeros(len(test)))
            sq[f] = (np.asarray(guess, dtype=np.float64) - codes[node]) ** 2
    choices = getattr(model, "mechanism_choices", None)
    chosen = choices() if callable(choices) else {}
    mechanisms = {f: chosen.get(node, "") for f, node in node_of.items()}
    return FitResult(task.index, nll, sq, mechanisms, time.perf_counter() - t0)


def _renamed(col: Column, name: str) -> Column:
    return Column(name, col.kind, col.categories, col.mean, col.std, col.min, col.max)


# ---------------------------------------------------------------------- running the batches
_CONTEXT: FitContext | None = None  # a worker process's shared context (set once by its initializer)


def _init_worker(context: FitContext) -> None:
    global _CONTEXT
    import torch

    torch.set_num_threads(1)
    _CONTEXT = context


def _in_worker(task: FitTask) -> FitResult:
    assert _CONTEXT is not None
    return fit_task(task, _CONTEXT)


def _on_ray(task: FitTask, context: FitContext) -> FitResult:
    import torch

    torch.set_num_threads(1)
    return fit_task(task, context)


def _stopped(cancel: threading.Event | Callable[[], bool] | None) -> bool:
    if cancel is None:
        return False
    return cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())


def run_tasks(
    tasks: Sequence[FitTask],
    context: FitContext,
    *,
    workers: int = 1,
    ray: str | None = None,
    progress: Callable[[int, int, str], Any] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> list[FitResult]:
    """Run every batch: in this process (``workers=1``), in ``workers`` processes (spawned,
    one torch thread each), or as Ray tasks on the cluster at ``ray`` (``"auto"``, an
    address such as ``ray://host:10001``, or ``"local"`` for a cluster of this machine's
    cores). ``progress(done, total, label)`` after each batch; ``cancel`` (an Event or a
    function) stops between batches and raises ``Cancelled``. Results in task order."""
    total = len(tasks)
    out: dict[int, FitResult] = {}

    def done(result: FitResult, label: str) -> None:
        out[result.index] = result
        if progress is not None:
            progress(len(out), total, label)

    if ray:
        _run_on_ray(tasks, context, ray, done, cancel)
    elif workers <= 1 or total <= 1:
        for task in tasks:
            if _stopped(cancel):
                raise Cancelled()
            done(fit_task(task, context, cancel), task.label)
        if _stopped(cancel):
            raise Cancelled()
    else:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        pool = ProcessPoolExecutor(max_workers=min(workers, total), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(context,))
        try:
            pending = {pool.submit(_in_worker, t): t for t in tasks}
            while pending:
                finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = pending.pop(fut)
                    done(fut.result(), task.label)
                if _stopped(cancel):
                    raise Cancelled()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return [out[t.index] for t in tasks]


def _run_on_ray(tasks: Sequence[FitTask], context: FitContext, address: str,
                done: Callable[[FitResult, str], None], cancel: Any) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray, an optional extra: pip install 'counterfactory[ray]' "
                         "(or pip install ray)") from None
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
        if address != "local":
            kwargs["address"] = address
        else:
            kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
                p for p in (os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            os.environ.get("PYTHONPATH", "")) if p)}}
        try:
            ray.init(**kwargs)
        except Exception as e:  # noqa: BLE001 - a cluster that cannot be reached: one clear line
            raise ValueError(f"cannot connect to the Ray cluster at {address!r}: {' '.join(str(e).split())[:300]}") from None
    remote = ray.remote(num_cpus=1)(_on_ray)
    shared = ray.put(context)
    pending = {remote.remote(t, shared): t for t in tasks}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                task = pending.pop(ref)
                done(ray.get(ref), task.label)
            if _stopped(cancel):
                raise Cancelled()
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
