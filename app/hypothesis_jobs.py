"""Hypothesis tests as background jobs, the ``hypotheses`` kind of ``app.tasks``: each one a
folder under the workspace's ``hypotheses/`` (the table, the candidates and config, its status
with progress, a cancel flag, and the report once done), run in its own process and session,
so that reruns of a page, closed tabs or a restarted app do not stop it. The page (and a
script) submit, poll, cancel and read through the functions here.

>>> job = submit(Workspace("ws").root, table, ["a -> b", "b -> a"], HypothesisConfig())  # doctest: +SKIP
>>> status(job).state, status(job).done, status(job).total                              # doctest: +SKIP
('running', 3, 10)
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from app import tasks
from app.tasks import TaskStatus as JobStatus

__all__ = ["JobStatus", "submit", "status", "cancel", "report", "jobs", "run_job", "STATES"]

STATES = tasks.STATES  # a job moves through the same states as a training run
KIND = "hypotheses"
FOLDER = "hypotheses"  # under the workspace, as before tasks had kinds: older jobs stay readable
REPORT = "report.json"


def _run(folder: Path, progress: tasks.Progress, cancelled: Callable[[], bool]) -> dict[str, Any]:
    """The kind's function: the test of the candidates in ``folder`` (its report's ``to_dict``)."""
    import torch

    from causal import CausalGraph
    from causal.hypotheses import HypothesisConfig, compare_hypotheses

    torch.set_num_threads(1)
    job = tasks.read_inputs(folder)
    candidates = job.get("inputs", job)["candidates"]  # a job written before tasks had kinds: at the top
    fields = {f.name for f in dataclasses.fields(HypothesisConfig)}
    config = HypothesisConfig(**{k: v for k, v in job["config"].items() if k in fields})
    cands = [(name, CausalGraph.from_json(text)) for name, text in candidates]
    data = pd.read_csv(folder / "data.csv")
    rep = compare_hypotheses(data, cands, config, progress=progress, cancel=cancelled)
    rep.save(folder / "export")
    return rep.to_dict()


tasks.register(KIND, _run, folder=FOLDER, result_file=REPORT)


def submit(workspace: str | os.PathLike, data: pd.DataFrame, candidates: Sequence[Any], config: Any,
           name: str = "", start: bool = True) -> str:
    """Register a hypothesis test of ``candidates`` (text, ``(name, text)`` pairs or
    ``Candidate``) on ``data`` with ``config`` (a ``HypothesisConfig``) in the workspace,
    and start its worker process (unless ``start=False``). Returns the job's id. The
    candidates are checked here (a bad graph is a ``GraphError`` before anything starts)."""
    from causal.hypotheses import candidates as make_candidates

    cands = make_candidates(candidates)
    return tasks.submit(workspace, KIND, {"candidates": [[c.name, c.graph.to_json()] for c in cands]}, config,
                        name=name or f"{len(cands)} candidates, {len(data):,} rows",
                        files={"data.csv": data.to_csv(index=False).encode("utf-8")}, start=start)


def status(workspace: str | os.PathLike, job_id: str) -> JobStatus:
    """The job's status; a running job whose worker is gone is reported failed."""
    try:
        return tasks.status(workspace, KIND, job_id)
    except tasks.TaskError as e:
        raise KeyError(f"no hypothesis test {job_id!r} in {Path(workspace) / FOLDER}") from e


def jobs(workspace: str | os.PathLike) -> list[JobStatus]:
    """Every hypothesis test of the workspace, newest first."""
    return tasks.tasks(workspace, KIND)


def cancel(workspace: str | os.PathLike, job_id: str) -> None:
    """Ask the job to stop: its worker stops between batched fits (within seconds)."""
    try:
        tasks.cancel(workspace, KIND, job_id)
    except tasks.TaskError as e:
        raise KeyError(f"no hypothesis test {job_id!r} in {Path(workspace) / FOLDER}") from e


def report(workspace: str | os.PathLike, job_id: str) -> Any:
    """The finished job's ``HypothesisReport`` (a ``KeyError`` until it is done)."""
    from causal.hypotheses import HypothesisReport

    try:
        return HypothesisReport.from_dict(tasks.result(workspace, KIND, job_id))
    except tasks.TaskError as e:
        raise KeyError(f"hypothesis test {job_id} has no report (yet)") from e


def run_job(folder: str | os.PathLike) -> str:
    """Run the job in ``folder`` in this process; returns its final state."""
    return tasks.run_task(folder)


if __name__ == "__main__":  # older callers: python -m app.hypothesis_jobs --folder DIR
    sys.exit(tasks.main())
