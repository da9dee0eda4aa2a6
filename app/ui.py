"""Streamlit glue shared by the pages: the workspace and job runner every session shares,
cached models and comparisons, and a few widgets used on several pages.

Only the pages and this module import streamlit; the logic they call is plain Python
(``app.workspace``, ``app.runner``, ``app.logic``, ``causal.effects`` ...).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import streamlit as st

from app.runner import Runner
from app.workspace import RunRecord, Workspace, WorkspaceError, default_root
from causal import DrawPool, draw_pool
from causal.effects import Comparison, Effect, compare, effect_of

SAMPLES = 2000  # samples per distribution in a comparison
MAX_DRAWS = 400_000  # model draws allowed to find conditional samples (keeps the page responsive)
POOL_DRAWS = 200_000  # observational draws kept per (model, node): a slider move then selects, not draws
RUN_KEY = "run:selected"  # session state: the id of the run the Explore and Counterfactual pages show
RUN_PICKED = "run:picked"  # ... and the one the user picked by hand (shown even if it is not done)
STATUS_ICONS = {
    "queued": ":material/schedule:", "running": ":material/progress_activity:", "done": ":material/check_circle:",
    "failed": ":material/error:", "cancelled": ":material/cancel:",
}


@st.cache_resource
def _workspace(root: str) -> Workspace:
    return Workspace(root)


def workspace() -> Workspace:
    """The workspace of this server (``app.workspace.default_root``: ``$COUNTERFACTORY_WORKSPACE``,
    else the user's data folder, the CLI's default too).
    A ``Workspace`` holds no open connection and is safe to share between sessions."""
    return _workspace(str(default_root()))


@st.cache_resource
def _runner(root: str) -> Runner:
    return Runner(_workspace(root))


def runner() -> Runner:
    """One job runner for the whole server (thread-safe); workers run in their own
    processes, so they outlive sessions, reruns and even the server."""
    return _runner(str(default_root()))


def poll() -> None:
    """Start queued runs whose turn has come and notice dead workers (cheap: a few reads)."""
    runner().poll()


def model_name(kind: str) -> str:
    """What the app calls a model kind (its registry title; the name itself if unknown)."""
    from generators import model_kind

    try:
        return model_kind(kind).title
    except ValueError:
        return kind


def _stamp(run: RunRecord) -> float:
    """The checkpoint's modification time: a new checkpoint means a new cached model."""
    try:
        return (run.checkpoint_dir / "model.json").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _model(root: str, run_id: str, stamp: float) -> Any:
    del stamp  # part of the cache key only
    _query_threads()
    return _workspace(root).load_model(run_id)


def _query_threads() -> None:
    """Queries in the server run on one torch thread each (``$COUNTERFACTORY_QUERY_THREADS``
    to change): their batches are small, sessions run side by side, and training runs in
    worker processes; two threads that must meet at every small op wait on each other as
    soon as a core is busy (the browser, another session, a worker). The measured gain is
    in docs/benchmarks.md (Workbench speed)."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("COUNTERFACTORY_QUERY_THREADS", "1"))))


@st.cache_data(max_entries=16, show_spinner="Loading the run's data…")
def run_rows(run_id: str) -> Any:
    """The table a run was trained on (its rows 0..n-1), loaded through the workspace; cached.
    The pages that take rows from it (counterfactuals, de-biasing) share this one copy."""
    from app.jobs import load_inputs

    ws = workspace()
    table, _ = load_inputs(ws.run(run_id).spec, ws)
    return table.reset_index(drop=True)


def run_model(run: RunRecord) -> Any:
    """The run's model from its checkpoint, cached (at most 8 held) until a newer one is saved.
    Queries never change a model, so one object serves every session."""
    return _model(str(default_root()), run.id, _stamp(run))


@st.cache_data(max_entries=256, show_spinner="Sampling from the model…")
def comparison(root: str, run_id: str, stamp: float, node: str, value: Any, n: int = SAMPLES, seed: int = 0) -> Comparison:
    """``compare`` for a run's model, with the built-in dataset's true SCM when there is one."""
    run = _workspace(root).run(run_id)
    model = _model(root, run_id, stamp)
    return compare(model, node, value, n=n, seed=seed, truth=run.truth, max_draws=MAX_DRAWS,
                   pool=_pool(root, run_id, stamp, node), observational=_observational(root, run_id, stamp, n, seed),
                   exact=_exact(root, run_id, stamp))


@st.cache_resource(max_entries=8, show_spinner="Counting the exact answer of the graph…")
def _exact(root: str, run_id: str, stamp: float) -> Any:
    """``app.logic.explore.exact_reference`` of the run (read only; ``None`` if none)."""
    from app.jobs import load_inputs
    from app.logic.explore import exact_reference

    ws = _workspace(root)
    run = ws.run(run_id)
    model = _model(root, run_id, stamp)
    return exact_reference(model.graph, run.truth, lambda: load_inputs(run.spec, ws)[0])


def run_exact(run: RunRecord) -> Any:
    """The exact reference of a run on discrete data (a ``DiscreteBN``), else ``None``."""
    return _exact(str(default_root()), run.id, _stamp(run))


@st.cache_resource(max_entries=16, show_spinner=False)
def _observational(root: str, run_id: str, stamp: float, n: int, seed: int) -> Any:
    """The run's observational samples: the same for every query (read only)."""
    return _model(root, run_id, stamp).sample(n, seed=seed)


@st.cache_resource(max_entries=32, show_spinner=False)
def _reference_arm(root: str, run_id: str, stamp: float, node: str, reference: Any, n: int, seed: int) -> tuple[Any, Any, Any]:
    """Samples under ``do(node = reference)`` of the model (seed ``seed``) and of the truth
    (``seed + 1``), paired with a comparison's ``do`` and ``truth_do`` samples, and where
    the model's samples extrapolate (read only)."""
    from causal.effects import extrapolation

    run = _workspace(root).run(run_id)
    model = _model(root, run_id, stamp)
    a = model.sample(n, do={node: reference}, seed=seed)
    truth = run.truth
    return (a, (truth.sample(n, do={node: reference}, seed=seed + 1) if truth is not None else None),
            extrapolation(model, a, [node]))


def run_effects(run: RunRecord, c: Comparison, reference: Any, n: int = SAMPLES, seed: int = 0) -> Effect:
    """The average effect of ``do(c.node = c.value)`` against ``do(c.node = reference)``, from
    the comparison's own ``do`` samples and a cached reference arm (a slider move draws no
    new samples for it)."""
    root, stamp = str(default_root()), _stamp(run)
    a, ta, outside_a = _reference_arm(root, run.id, stamp, c.node, reference, n, seed)
    return effect_of(c.node, c.value, reference, a, c.do, ta, c.truth_do, model=_model(root, run.id, stamp),
                     exact=_exact(root, run.id, stamp), outside_a=outside_a, outside_b=c.outside_do)


@st.cache_resource(max_entries=16, show_spinner=False)
def _pool(root: str, run_id: str, stamp: float, node: str) -> DrawPool:
    """Draws of ``node`` and its ancestors under the run's model, shared by every session
    and value asked about (read only)."""
    return draw_pool(_model(root, run_id, stamp), [node], size=POOL_DRAWS, seed=12345)


def run_comparison(run: RunRecord, node: str, value: Any, n: int = SAMPLES, seed: int = 0) -> Comparison:
    return comparison(str(default_root()), run.id, _stamp(run), node, value, n=n, seed=seed)


@st.cache_data(max_entries=64, show_spinner=False)
def _sample_grid(root: str, run_id: str, stamp: float, n: int, columns: int, seed: int) -> Any:
    model = _model(root, run_id, stamp)
    return model.sample(n, seed=seed).grid(columns=columns, pad=1)


def sample_grid(run: RunRecord, n: int = 16, columns: int = 8, seed: int = 0) -> Any:
    """A grid (uint8 image) of ``n`` samples of an image run's model, cached per checkpoint."""
    return _sample_grid(str(default_root()), run.id, _stamp(run), n, columns, seed)


def image_count(run: RunRecord) -> int | None:
    """How many images an image run trains on (``None`` for a table run, or when unknown):
    its built-in source says, a stored dataset's record too."""
    if not run.has_images:
        return None
    rows = getattr(run.spec.source, "rows", None)
    if rows is None:
        try:
            rows = workspace().dataset(run.spec.source.id).rows  # type: ignore[attr-defined]
        except (AttributeError, ValueError):
            return None
    return int(rows)


def run_label(run: RunRecord) -> str:
    """How a run is named in pickers: its name, status and id."""
    return f"{run.name} · {run.status} · {run.id}"


def pick_run(runs: Sequence[RunRecord], key: str, label: str = "Trained run") -> RunRecord | None:
    """A selectbox over ``runs`` that remembers the choice across pages (``RUN_KEY``).

    It shows what this session picked by hand, or trained last once that run is done; else
    the newest finished run (a run still training, or one cancelled or failed, is there to
    pick but is not the first thing shown). The choice is written into the widget's state
    before it is drawn, so the selector and the page below always show the same run, also
    when a run is added or the choice was made on another page."""
    if not runs:
        return None
    from app.logic.runs import default_run

    by_id = {r.id: r for r in runs}
    chosen = default_run(runs, st.session_state.get(RUN_KEY), st.session_state.get(RUN_PICKED))
    st.session_state[key] = chosen  # (RUN_KEY is left alone: a run still training is shown once it is done)

    def picked() -> None:  # a choice made by hand is shown whatever its status
        st.session_state[RUN_KEY] = st.session_state[RUN_PICKED] = st.session_state[key]

    st.selectbox(label, list(by_id), format_func=lambda i: run_label(by_id[i]), key=key, on_change=picked)
    return by_id[chosen]


def usable_runs(images: bool | None = None) -> list[RunRecord]:
    """Runs with a checkpoint (finished, or stopped with their best weights), newest first;
    ``images`` keeps only image runs (True) or only table runs (False)."""
    try:
        runs = workspace().runs()
    except WorkspaceError as e:
        st.error(str(e), icon=":material/error:")
        return []
    return [r for r in runs if r.has_checkpoint and r.status != "queued" and (images is None or r.has_images == images)]
