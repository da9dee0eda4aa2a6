"""Hypothesis tests as background jobs: each one a folder under the workspace's
``hypotheses/`` (the table, the candidates and config, its status with progress, a cancel
flag, and the report once done), run by ``python -m app.hypothesis_jobs --folder DIR`` in its
own process and session, so that reruns of a page, closed tabs or a restarted app do not stop
it. The page (and a script) submit, poll, cancel and read through the functions here.

>>> job = submit(Workspace("ws").root, table, ["a -> b", "b -> a"], HypothesisConfig())  # doctest: +SKIP
>>> status(job).state, status(job).done, status(job).total                              # doctest: +SKIP
('running', 3, 10)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from app.workspace.owners import process_alive
from app.workspace.records import STATUSES

__all__ = ["JobStatus", "submit", "status", "cancel", "report", "jobs", "run_job", "STATES"]

STATES = STATUSES  # a job moves through the same states as a training run
FOLDER = "hypotheses"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class JobStatus:
    """A job's state, its progress (``done`` of ``total`` batched fits, the last ``label``),
    its name, when it was created, and the error of a failed one."""

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

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _root(workspace: str | os.PathLike) -> Path:
    return Path(workspace) / FOLDER


def submit(workspace: str | os.PathLike, data: pd.DataFrame, candidates: Sequence[Any], config: Any,
           name: str = "", start: bool = True) -> str:
    """Register a hypothesis test of ``candidates`` (text, ``(name, text)`` pairs or
    ``Candidate``) on ``data`` with ``config`` (a ``HypothesisConfig``) in the workspace,
    and start its worker process (unless ``start=False``). Returns the job's id. The
    candidates are checked here (a bad graph is a ``GraphError`` before anything starts)."""
    from causal.hypotheses import candidates as make_candidates

    cands = make_candidates(candidates)
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = _root(workspace) / job_id
    folder.mkdir(parents=True)
    data.to_csv(folder / "data.csv", index=False)
    _write_json(folder / "job.json", {
        "name": name or f"{len(cands)} candidates, {len(data):,} rows",
        "candidates": [[c.name, c.graph.to_json()] for c in cands],
        "config": {k: v for k, v in dataclasses.asdict(config).items()},
        "created": time.time(),
    })
    _write_json(folder / "status.json", {"state": "queued"})
    if start:
        _spawn(folder)
    return job_id


def _spawn(folder: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    with open(folder / "worker.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "app.hypothesis_jobs", "--folder", str(folder)],
                                cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def _alive(pid: int) -> bool:
    return pid > 0 and process_alive(pid, None)


def status(workspace: str | os.PathLike, job_id: str) -> JobStatus:
    """The job's status; a running job whose worker is gone is reported failed."""
    folder = _root(workspace) / job_id
    if not (folder / "job.json").exists():
        raise KeyError(f"no hypothesis test {job_id!r} in {_root(workspace)}")
    job, st = _read_json(folder / "job.json"), _read_json(folder / "status.json")
    state = st.get("state", "queued")
    error = st.get("error", "")
    if state == "running" and not _alive(int(st.get("pid", 0))):
        state, error = "failed", "the worker process ended without a report (killed or out of memory)"
    return JobStatus(job_id, folder, state, job.get("name", ""), int(st.get("done", 0)), int(st.get("total", 0)),
                     st.get("label", ""), error, float(job.get("created", 0.0)), int(st.get("pid", 0)))


def jobs(workspace: str | os.PathLike) -> list[JobStatus]:
    """Every hypothesis test of the workspace, newest first."""
    root = _root(workspace)
    if not root.is_dir():
        return []
    return [status(workspace, p.name) for p in sorted(root.iterdir(), reverse=True) if (p / "job.json").exists()]


def cancel(workspace: str | os.PathLike, job_id: str) -> None:
    """Ask the job to stop: its worker stops between batched fits (within seconds)."""
    folder = _root(workspace) / job_id
    (folder / "cancel").touch()


def report(workspace: str | os.PathLike, job_id: str) -> Any:
    """The finished job's ``HypothesisReport`` (a ``KeyError`` until it is done)."""
    from causal.hypotheses import HypothesisReport

    path = _root(workspace) / job_id / "report.json"
    if not path.exists():
        raise KeyError(f"hypothesis test {job_id} has no report (yet)")
    return HypothesisReport.from_dict(json.loads(path.read_text(encoding="utf-8")))


def run_job(folder: str | os.PathLike) -> str:
    """Run the job in ``folder`` in this process; returns its final state."""
    import torch

    from causal import CausalGraph
    from causal.hypotheses import Cancelled, HypothesisConfig, compare_hypotheses

    torch.set_num_threads(1)
    folder = Path(folder)
    job = _read_json(folder / "job.json")
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    state: dict[str, Any] = {"state": "running", "pid": os.getpid(), "done": 0, "total": 0, "label": "starting"}
    _write_json(folder / "status.json", state)

    def progress(done: int, total: int, label: str) -> None:
        state.update(done=done, total=total, label=label)
        _write_json(folder / "status.json", state)

    def cancelled() -> bool:
        return stop["flag"] or (folder / "cancel").exists()

    try:
        fields = {f.name for f in dataclasses.fields(HypothesisConfig)}
        config = HypothesisConfig(**{k: v for k, v in job["config"].items() if k in fields})
        cands = [(name, CausalGraph.from_json(text)) for name, text in job["candidates"]]
        data = pd.read_csv(folder / "data.csv")
        rep = compare_hypotheses(data, cands, config, progress=progress, cancel=cancelled)
        rep.save(folder / "export")
        rep.to_json(folder / "report.json")
        state.update(state="done", label="done")
    except Cancelled:
        state.update(state="cancelled", label="cancelled")
    except Exception as e:  # noqa: BLE001 - recorded for the page, one line
        state.update(state="failed", error=" ".join(str(e).split())[:500] or type(e).__name__)
    _write_json(folder / "status.json", state)
    return state["state"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.hypothesis_jobs", description="Run one hypothesis test.")
    parser.add_argument("--folder", required=True, help="the job's folder")
    args = parser.parse_args(argv)
    return 0 if run_job(args.folder) in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
