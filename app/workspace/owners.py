"""Whether the process that owns a running run (a runner's worker, or a CLI training in the
foreground) is still alive: its pid and start time on this host, else its heartbeat. Every
reader of the registry applies it (``RunStore.runs``, ``RunStore.run``), so a run whose
owner was killed is seen as failed by the app, the CLI and Python alike, not only by a
runner that started it.

>>> owner_state(None, pid=os.getpid(), proc_start=process_start(os.getpid()), host=None, heartbeat=time.time()) is None
True
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from app.workspace.db import process_start

__all__ = ["STALE_AFTER", "START_GRACE", "owner_state", "process_alive", "exit_status", "describe_exit"]

STALE_AFTER = 120.0  # seconds without a heartbeat (owners beat every 2 s) before a run counts as dead
START_GRACE = 60.0  # seconds a claimed run may wait for its worker to report its pid


def owner_state(run: Any = None, *, pid: int | None = None, proc_start: str | None = None, host: str | None = None,
                heartbeat: float | None = None, stale_after: float = STALE_AFTER, start_grace: float = START_GRACE,
                now: float | None = None) -> str | None:
    """Why a running run's owner is dead, or None while it looks alive. ``run`` (a
    ``RunRecord``) gives ``pid``, ``proc_start``, ``host`` and ``heartbeat`` unless they are
    passed.

    Dead: its process is gone (or a zombie, or the pid now belongs to another process: the
    start time differs), it never reported a pid within ``start_grace`` seconds of being
    claimed, or its heartbeat is older than ``stale_after`` seconds (the only test for an
    owner on another host).
    """
    if run is not None:
        pid, proc_start, host, heartbeat = run.pid, run.proc_start, run.host, run.heartbeat
    now = time.time() if now is None else now
    age = now - (heartbeat or 0.0)
    if pid is None:
        return None if age < start_grace else f"its worker did not start within {start_grace:.0f} s"
    if host in (None, socket.gethostname()) and not process_alive(pid, proc_start):
        return "its worker process is gone"
    if age > stale_after:
        return f"its worker sent no heartbeat for {age:.0f} s"
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the command name may hold spaces and ')'


def process_alive(pid: int, expected_start: str | None) -> bool:
    """Whether process ``pid`` runs (not a zombie) and, when ``expected_start`` is known, is
    the process that started then (not a later one given the same pid)."""
    if Path("/proc/self/stat").exists():  # Linux: also see zombies and reused pids
        fields = _stat_fields(pid)
        if fields is None or fields[0] in ("Z", "X", "x"):
            return False
        return expected_start is None or process_start(pid) == expected_start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_status(pid: int) -> int | None:
    """How a dead process that is still a zombie ended, as ``subprocess`` reports it (minus
    the signal that killed it, else its exit code); None when that cannot be read."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] != "Z" or len(fields) < 50:
        return None
    status = int(fields[49])  # field 52, exit_code: the status waitpid(2) would report
    return -(status & 0x7F) if status & 0x7F else status >> 8


def describe_exit(code: int | None) -> str:
    """`` (killed by SIGKILL)``, `` (exit code 1)``, or nothing when unknown."""
    if code is None:
        return ""
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    return f" (exit code {code})"
