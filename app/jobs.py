"""Background jobs: run a function in a worker thread, watch its progress, cancel it.

Pages never train inside a script run (a widget click would rerun the script and kill
the loop). They start a job here, keep its id, and poll it. Nothing in this module
imports streamlit, so the runner is unit-testable and usable from the CLI.

>>> reg = JobRegistry()
>>> job_id = reg.start(lambda ctx: 6 * 7, label="answer")
>>> reg.wait(job_id).result
42
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["JobContext", "JobInfo", "JobRegistry", "readable_error", "STATES"]

log = logging.getLogger(__name__)

STATES = ("running", "done", "failed", "cancelled")


class JobContext:
    """What a job's function gets: a way to report progress and to see a cancel request."""

    def __init__(self) -> None:
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._progress: Any = None

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def report(self, progress: Any) -> None:
        """Publish the latest progress (any small, immutable value) for pollers."""
        with self._lock:
            self._progress = progress

    @property
    def progress(self) -> Any:
        with self._lock:
            return self._progress


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job. ``state`` is one of ``STATES``; ``error`` is a readable
    message (never a traceback) when the job failed; ``result`` is what the function
    returned (also kept when it returned after a cancel request)."""

    id: str
    label: str
    state: str
    progress: Any
    result: Any
    error: str | None
    started: float
    finished: float | None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started


class _Job:
    def __init__(self, job_id: str, label: str) -> None:
        self.id = job_id
        self.label = label
        self.ctx = JobContext()
        self.state = "running"
        self.result: Any = None
        self.error: str | None = None
        self.traceback: str | None = None
        self.started = time.time()
        self.finished: float | None = None
        self.done = threading.Event()


def readable_error(e: BaseException) -> str:
    """A one-line message for the UI. Errors of the user's making (``ValueError`` and its
    kin: ``DataError``, ``GraphError``, ``EvidenceError``) carry their own message; anything
    else is named by its type so that it is not mistaken for advice."""
    msg = str(e).strip() or type(e).__name__
    if isinstance(e, (ValueError, FloatingPointError)):
        return msg
    return f"unexpected error ({type(e).__name__}): {msg}"


class JobRegistry:
    """Thread-safe registry of background jobs, one daemon thread per job.

    At most ``max_finished`` finished jobs are kept (oldest dropped first), so a
    long-running app does not hold every model it ever trained.
    """

    def __init__(self, max_finished: int = 32) -> None:
        self.max_finished = max_finished
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ starting
    def start(self, fn: Callable[[JobContext], Any], label: str = "") -> str:
        """Run ``fn(ctx)`` in a new thread; returns the job's id at once."""
        with self._lock:
            job_id = f"job-{next(self._ids)}-{int(time.time() * 1000) % 100000:05d}"
            job = _Job(job_id, label)
            self._jobs[job_id] = job
            self._evict()
        thread = threading.Thread(target=self._run, args=(job, fn), name=f"counterfactory-{job_id}", daemon=True)
        thread.start()
        return job_id

    def _run(self, job: _Job, fn: Callable[[JobContext], Any]) -> None:
        try:
            result = fn(job.ctx)
        except BaseException as e:  # noqa: BLE001 - a worker must record every failure
            tb = traceback.format_exc()
            log.warning("job %s (%s) failed:\n%s", job.id, job.label, tb)
            with self._lock:
                job.state, job.error, job.traceback = "failed", readable_error(e), tb
                job.finished = time.time()
        else:
            with self._lock:
                job.result = result
                job.state = "cancelled" if job.ctx.cancelled else "done"
                job.finished = time.time()
        finally:
            job.done.set()

    def _evict(self) -> None:
        finished = [j for j in self._jobs.values() if j.state != "running"]
        finished.sort(key=lambda j: j.finished or 0.0)
        for j in finished[: max(0, len(finished) - self.max_finished)]:
            del self._jobs[j.id]

    # ------------------------------------------------------------------ looking
    def get(self, job_id: str | None) -> JobInfo | None:
        """A snapshot of the job, or ``None`` for an unknown (or dropped) id."""
        with self._lock:
            job = self._jobs.get(job_id) if job_id else None
            return None if job is None else self._snapshot(job)

    @staticmethod
    def _snapshot(job: _Job) -> JobInfo:
        return JobInfo(job.id, job.label, job.state, job.ctx.progress, job.result, job.error, job.started, job.finished)

    def _info(self, job_id: str) -> JobInfo:
        info = self.get(job_id)
        if info is None:
            raise KeyError(f"no job '{job_id}' (it never existed or was dropped)")
        return info

    def status(self, job_id: str) -> str:
        return self._info(job_id).state

    def progress(self, job_id: str) -> Any:
        return self._info(job_id).progress

    def result(self, job_id: str) -> Any:
        return self._info(job_id).result

    def error(self, job_id: str) -> str | None:
        return self._info(job_id).error

    def jobs(self) -> list[JobInfo]:
        with self._lock:
            ids = list(self._jobs)
        return [i for i in map(self.get, ids) if i is not None]

    # ------------------------------------------------------------------ acting
    def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop; True when the request was delivered."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state != "running":
                return False
            job.ctx.cancel_event.set()
            return True

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job has finished (or ``timeout`` seconds passed)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job '{job_id}'")
        job.done.wait(timeout)
        with self._lock:
            return self._snapshot(job)
