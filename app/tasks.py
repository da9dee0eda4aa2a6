"""Background tasks other than training: each task a folder under the workspace (its inputs,
its status with progress, a cancel flag, its result once done), run by ``python -m app.tasks
--folder DIR`` in its own process and session, so that page reruns, closed tabs or a
restarted app do not stop it. Each *kind* of task (a hypothesis test, a defense evaluation)
registers one function ``run(folder, progress, cancelled) -> result``; pages and scripts
submit, poll, cancel and read through the functions here.

>>> register("double", lambda folder, progress, cancelled: {"x": 2 * read_inputs(folder)["x"]})  # doctest: +SKIP
>>> task = submit(Workspace("ws").root, "double", {"x": 21})                                      # doctest: +SKIP
>>> status(Workspace("ws").root, "double", task).state, result(Workspace("ws").root, "double", task)  # doctest: +SKIP
('done', {'x': 42})
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.workspace.db import process_start
from app.workspace.owners import process_alive
from app.workspace.records import STATUSES

__all__ = ["Kind", "TaskStatus", "TaskError", "Cancelled", "Progress", "register", "kind", "kinds", "submit", "spawn",
           "status", "tasks", "cancel", "result", "read_inputs", "run_task", "STATES"]

STATES = STATUSES  # a task moves through the same states as a training run
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# the kinds this project defines, by the module that registers each (imported when first asked for)
BUILTIN = {"hypotheses": "app.hypothesis_jobs", "defense": "app.logic.defense"}

Progress = Callable[[int, int, str], None]  # (done, total, label)


class TaskError(ValueError):
    """A task request that cannot be honoured: an unknown kind or task, a task without a result."""


class Cancelled(Exception):
    """Raised by a task's function to stop when ``cancelled()`` says so."""


@dataclass(frozen=True)
class Kind:
    """A kind of task: its ``run(folder, progress, cancelled)`` (returns the JSON-ready result,
    or None when it wrote its own ``result_file``), the workspace folder its tasks live in,
    and the file of a finished task's result."""

    name: str
    run: Callable[[Path, Progress, Callable[[], bool]], Any]
    folder: str = ""  # under the workspace; default tasks/<name>
    result_file: str = "result.json"
    module: str = ""  # the module that registers it (a worker process imports it)

    @property
    def path(self) -> str:
        return self.folder or f"tasks/{self.name}"


_KINDS: dict[str, Kind] = {}


def register(name: str, run: Callable[[Path, Progress, Callable[[], bool]], Any], folder: str = "",
             result_file: str = "result.json") -> Kind:
    """Make ``name`` a kind of task run by ``run``; registering a name again replaces it."""
    k = Kind(name, run, folder, result_file, getattr(run, "__module__", "") or "")
    _KINDS[name] = k
    return k


def kind(name: str) -> Kind:
    """The registered kind ``name`` (this project's own are imported on first use)."""
    if name not in _KINDS and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _KINDS:
        raise TaskError(f"unknown task kind {name!r}; the kinds are {', '.join(sorted(set(_KINDS) | set(BUILTIN)))}")
    return _KINDS[name]


def kinds() -> list[str]:
    """Every kind that can be asked for: this project's and those registered since."""
    return sorted(set(_KINDS) | set(BUILTIN))


@dataclass(frozen=True)
class TaskStatus:
    """A task's state, its progress (``done`` of ``total`` steps, the last ``label``), its name,
    when it was created, its worker's pid and the error of a failed one."""

    id: str
    folder: Path
    state: str
    name: str = ""
    done: int = 0
    total: int = 0
    label: str = ""
    error: str = ""
    created: float = 0.0
    pid: int = 0
    kind: str = ""

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _folder(workspace: str | os.PathLike, kind_name: str, task_id: str | None = None) -> Path:
    root = Path(workspace) / kind(kind_name).path
    return root if task_id is None else root / task_id


def _plain(config: Any) -> Any:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) and not isinstance(config, type) else config


def submit(workspace: str | os.PathLike, kind_name: str, inputs: Mapping[str, Any], config: Any = None,
           name: str = "", files: Mapping[str, bytes] | None = None, start: bool = True) -> str:
    """Register a task of ``kind_name`` with JSON-ready ``inputs`` and ``config`` (a dict or a
    dataclass) plus ``files`` (name -> bytes, written into its folder), and start its worker
    process (unless ``start=False``). Returns the task's id (also its folder's name)."""
    k = kind(kind_name)
    task_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = _folder(workspace, k.name, task_id)
    folder.mkdir(parents=True)
    for fname, data in (files or {}).items():
        if Path(fname).name != fname or fname.startswith("."):
            raise TaskError(f"a task's file is a plain name in its folder, got {fname!r}")
        (folder / fname).write_bytes(data)
    _write_json(folder / "job.json", {"kind": k.name, "module": k.module, "name": name or k.name,
                                      "inputs": dict(inputs), "config": _plain(config),
                                      "workspace": str(Path(workspace).resolve()), "created": time.time()})
    _write_json(folder / "status.json", {"state": "queued"})
    if start:
        spawn(folder)
    return task_id


def spawn(folder: str | os.PathLike) -> subprocess.Popen:
    """Start the worker process of the task in ``folder`` (its own session: it outlives the caller)."""
    folder = Path(folder)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    with open(folder / "worker.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "app.tasks", "--folder", str(folder)], cwd=PROJECT_ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)


def status(workspace: str | os.PathLike, kind_name: str, task_id: str) -> TaskStatus:
    """The task's status; a running task whose worker is gone is reported failed."""
    folder = _folder(workspace, kind_name, task_id)
    if not (folder / "job.json").exists():
        raise TaskError(f"no {kind_name} task {task_id!r} in {folder.parent}")
    return _status(folder, kind_name)


def _status(folder: Path, kind_name: str) -> TaskStatus:
    job, st = _read_json(folder / "job.json"), _read_json(folder / "status.json")
    state, error, pid = st.get("state", "queued"), st.get("error", ""), int(st.get("pid", 0))
    if state == "running" and not (pid > 0 and process_alive(pid, st.get("proc_start"))):
        state, error = "failed", "the worker process ended without a result (killed or out of memory)"
    return TaskStatus(folder.name, folder, state, job.get("name", ""), int(st.get("done", 0)), int(st.get("total", 0)),
                      st.get("label", ""), error, float(job.get("created", 0.0)), pid, job.get("kind", kind_name))


def tasks(workspace: str | os.PathLike, kind_name: str) -> list[TaskStatus]:
    """Every task of ``kind_name`` in the workspace, newest first."""
    root = _folder(workspace, kind_name)
    if not root.is_dir():
        return []
    return [_status(p, kind_name) for p in sorted(root.iterdir(), reverse=True) if (p / "job.json").exists()]


def cancel(workspace: str | os.PathLike, kind_name: str, task_id: str) -> None:
    """Ask the task to stop: its function sees ``cancelled()`` turn true (a queued task never starts)."""
    folder = _folder(workspace, kind_name, task_id)
    if not (folder / "job.json").exists():
        raise TaskError(f"no {kind_name} task {task_id!r} in {folder.parent}")
    (folder / "cancel").touch()


def result(workspace: str | os.PathLike, kind_name: str, task_id: str) -> Any:
    """The finished task's result as its function returned it (JSON-decoded); a ``TaskError``
    while it is not done."""
    k = kind(kind_name)
    path = _folder(workspace, k.name, task_id) / k.result_file
    if not path.exists():
        st = status(workspace, kind_name, task_id)
        why = f"{st.state}: {st.error}" if st.error else st.state
        raise TaskError(f"{kind_name} task {task_id} has no result ({why})")
    return json.loads(path.read_text(encoding="utf-8"))


def read_inputs(folder: str | os.PathLike) -> dict[str, Any]:
    """What ``submit`` recorded of the task in ``folder``: ``kind``, ``name``, ``inputs``,
    ``config``, ``workspace``, ``created``."""
    return _read_json(Path(folder) / "job.json")


def run_task(folder: str | os.PathLike) -> str:
    """Run the task in ``folder`` in this process: its status goes from running to done,
    failed (with the error's first 500 characters) or cancelled. Returns the final state."""
    folder = Path(folder)
    job = _read_json(folder / "job.json")
    name = job.get("kind") or folder.parent.name  # a folder written before tasks had kinds: hypotheses/<id>
    module = job.get("module", "")
    if name not in _KINDS and name not in BUILTIN and module.split(".")[0] in ("app", "causal", "generators"):
        importlib.import_module(module)  # a kind registered outside BUILTIN, in this project's code
    stop = {"flag": False}
    try:
        signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    except ValueError:  # not the main thread: the cancel file alone stops it
        pass
    state: dict[str, Any] = {"state": "running", "pid": os.getpid(), "proc_start": process_start(os.getpid()),
                             "done": 0, "total": 0, "label": "starting"}

    def progress(done: int, total: int, label: str) -> None:
        state.update(done=int(done), total=int(total), label=str(label))
        _write_json(folder / "status.json", state)

    def cancelled() -> bool:
        return stop["flag"] or (folder / "cancel").exists()

    try:
        k = kind(name)
        if cancelled():
            raise Cancelled()
        _write_json(folder / "status.json", state)
        out = k.run(folder, progress, cancelled)
        if out is not None:
            _write_json(folder / k.result_file, out)
        state.update(state="done", label="done")
    except Exception as e:
        if isinstance(e, Cancelled) or cancelled():  # a kind's own Cancelled follows the flag
            state.update(state="cancelled", label="cancelled")
        else:
            state.update(state="failed", error=" ".join(str(e).split())[:500] or type(e).__name__)
    _write_json(folder / "status.json", state)
    return state["state"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.tasks", description="Run one background task.")
    parser.add_argument("--folder", required=True, help="the task's folder")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    return 0 if run_task(args.folder) in ("done", "cancelled") else 1


if __name__ == "__main__":  # run through the imported module, where the kinds register
    from app.tasks import main as _main

    sys.exit(_main())
