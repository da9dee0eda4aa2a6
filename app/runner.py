"""The job runner: trains queued runs in separate worker processes, at most ``max_jobs`` at
a time per workspace, and notices workers that died.

A worker is ``python -m app.worker --workspace ROOT --run ID`` in its own session, so
closing a browser tab, rerunning a page or restarting the app does not stop it; it reports
through the workspace database only. Pages (and the CLI) call ``poll()`` now and then: it
starts queued runs as slots free up and marks runs whose worker is gone as failed (their
last good checkpoint stays loadable).

>>> runner = Runner(Workspace("workspace"), max_jobs=1)                      # doctest: +SKIP
>>> run_id = runner.submit(RunSpec(BuiltinTable("triangle-lin", rows=2000)))  # doctest: +SKIP
>>> runner.wait(run_id).status                                              # doctest: +SKIP
'done'
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.workspace import RunRecord, RunSpec, Workspace, WorkspaceError
from app.workspace.owners import START_GRACE, STALE_AFTER, owner_state

__all__ = ["Runner", "PollResult", "worker_state", "default_max_jobs", "ENV_MAX_JOBS", "STALE_AFTER", "START_GRACE"]

ENV_MAX_JOBS = "COUNTERFACTORY_MAX_JOBS"
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # holds the app package: the worker's working directory


def default_max_jobs() -> int:
    """``$COUNTERFACTORY_MAX_JOBS``, else 1 (training uses every core it is given)."""
    text = os.environ.get(ENV_MAX_JOBS, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENV_MAX_JOBS} must be a positive whole number, got {text!r}")
    return value


def threads_per_job(max_jobs: int) -> int:
    """Torch threads for each worker: the cores shared evenly between the jobs."""
    return max(1, (os.cpu_count() or 1) // max(1, max_jobs))


@dataclass(frozen=True)
class PollResult:
    """What one ``poll()`` changed: runs it started, runs it found dead and marked failed."""

    started: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def worker_state(run: RunRecord, *, stale_after: float = STALE_AFTER, start_grace: float = START_GRACE,
                 now: float | None = None) -> str | None:
    """Why a running run's worker is dead, or None while it looks alive
    (``app.workspace.owners.owner_state``, which every reader of the registry applies)."""
    return owner_state(run, stale_after=stale_after, start_grace=start_grace, now=now)


class Runner:
    """Starts and watches worker processes for a workspace's runs.

    ``max_jobs`` (default ``$COUNTERFACTORY_MAX_JOBS`` or 1) bounds the runs training at
    once in the workspace, counted across every runner and CLI training of it. Thread-safe:
    one runner can serve every session of the app.
    """

    def __init__(
        self,
        workspace: Workspace | str | os.PathLike | None = None,
        max_jobs: int | None = None,
        *,
        stale_after: float = STALE_AFTER,
        start_grace: float = START_GRACE,
    ) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.max_jobs = default_max_jobs() if max_jobs is None else int(max_jobs)
        if self.max_jobs < 1:
            raise ValueError(f"max_jobs must be at least 1, got {max_jobs}")
        self.stale_after = stale_after
        self.start_grace = start_grace
        self._procs: dict[str, subprocess.Popen] = {}  # workers this runner started, until reaped
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Runner({self.workspace!r}, max_jobs={self.max_jobs})"

    # ------------------------------------------------------------------ acting
    def submit(self, spec: RunSpec) -> str:
        """Register a run and start it now if a slot is free (else it waits, "queued")."""
        run = self.workspace.create_run(spec)
        self.poll()
        return run.id

    def cancel(self, run_id: str) -> RunRecord:
        """Cancel a run: queued -> cancelled at once; running -> its worker stops within
        about a second, keeps its best weights and marks itself cancelled."""
        return self.workspace.request_cancel(run_id)

    def poll(self) -> PollResult:
        """Mark dead workers' runs failed, then start queued runs while slots are free."""
        with self._lock:
            failed = self._reap()
            started = self._start_queued()
        return PollResult(tuple(started), tuple(failed))

    def reap(self) -> tuple[str, ...]:
        """Only the first half of ``poll``: mark runs whose worker died as failed."""
        with self._lock:
            return tuple(self._reap())

    def wait(self, run_id: str, timeout: float | None = None, interval: float = 0.1) -> RunRecord:
        """Poll until the run has finished (or ``timeout`` seconds passed); its record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.poll()
            run = self.workspace.run(run_id)
            if not run.active or (deadline is not None and time.monotonic() >= deadline):
                return run
            time.sleep(interval)

    # ------------------------------------------------------------------ internals
    def _reap(self) -> list[str]:
        exit_codes = {}
        for run_id, proc in list(self._procs.items()):
            code = proc.poll()  # also collects the zombie of a worker that ended
            if code is not None:
                exit_codes[run_id] = code
                del self._procs[run_id]
        # the workspace marks them (it reads a zombie's exit status itself when it can)
        failed = self.workspace.reap_dead(exit_codes, stale_after=self.stale_after, start_grace=self.start_grace)
        for run_id in failed:
            proc = self._procs.pop(run_id, None)
            if proc is not None and proc.poll() is None:  # hung (no heartbeat): stop it
                proc.kill()
                proc.wait(timeout=5)
        return failed

    def _start_queued(self) -> list[str]:
        started = []
        for run in self.workspace.claim_queued(self.max_jobs):
            try:
                proc = self._spawn(run)
            except OSError as e:
                self.workspace.mark_failed(run.id, f"could not start a worker process: {e}")
                continue
            self._procs[run.id] = proc
            try:
                self.workspace.mark_started(run.id, proc.pid)
            except WorkspaceError:
                pass  # cancelled or failed meanwhile; the worker sees it and exits
            started.append(run.id)
        return started

    def _spawn(self, run: RunRecord) -> subprocess.Popen:
        run.folder.mkdir(parents=True, exist_ok=True)
        threads = threads_per_job(self.max_jobs)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        env.setdefault("OMP_NUM_THREADS", str(threads))
        with open(run.folder / "worker.log", "ab") as log:  # the child keeps its own handle
            return subprocess.Popen(
                [sys.executable, "-m", "app.worker", "--workspace", str(self.workspace.root), "--run", run.id,
                 "--threads", str(threads)],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not killed with the app's terminal or process group
                close_fds=True,
            )
