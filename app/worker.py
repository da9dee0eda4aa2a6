"""The training worker: ``python -m app.worker --workspace ROOT --run ID`` trains one run of
the workspace and reports through its database only.

It trains the run's spec through ``app.jobs`` (its data loaded and checked against its
graph, the model built and fitted with checkpoints in ``runs/<id>/model``), writing progress a
few times a second and a heartbeat every two seconds. A cancel request (or SIGTERM) stops it
within about a second, keeping the best weights. It always ends the run as done, cancelled
or failed; a failure gets one readable line, the traceback goes to ``runs/<id>/worker.log``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sqlite3
import sys
import threading
import time
from typing import Any, Callable, Iterable


from app.jobs import fit, load_inputs
from app.workspace import RunRecord, Workspace, WorkspaceError

__all__ = ["execute", "truth_metrics", "readable_error", "main", "Terminated"]

log = logging.getLogger("app.worker")

PROGRESS_EVERY = 0.2  # seconds between progress writes (at most 5 a second)
CANCEL_POLL = 0.2  # seconds between looks at the cancel flag
BEAT_EVERY = 2.0  # seconds between heartbeats
N_TEST = 500  # held-out rows for the ground-truth metrics


class Terminated(KeyboardInterrupt):
    """Raised by a SIGTERM handler (the CLI's): a run ends as cancelled, like Ctrl-C."""


def readable_error(e: BaseException) -> str:
    """A one-line message for the UI. Errors of the user's making (``ValueError`` and its
    kin: ``DataError``, ``GraphError``, ``EvidenceError``) carry their own message; anything
    else is named by its type so that it is not mistaken for advice."""
    msg = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, (ValueError, FloatingPointError)):
        return msg
    return f"unexpected error ({type(e).__name__}): {msg}"


def truth_metrics(model: Any, run: RunRecord, train: Any, n_test: int = N_TEST) -> dict[str, Any]:
    """For a run on built-in data (``run.truth``): the benchmark's scores
    (``causal.evaluation``) on held-out draws the model never saw. Tables: interventional MMD²
    beside its oracle floor and counterfactual RMSE under the quick protocol on ``n_test``
    rows; images: counterfactual pixel error beside copying the factual (and label TVD) on 64
    images. Empty without a ground truth. Well under a second on the built-in data."""
    from causal.evaluation import Protocol, evaluate, evaluate_images

    truth, source = run.truth, run.spec.source
    if truth is None:
        return {}
    if source.images:
        test = truth.sample(64, seed=source.seed + 1_000_003, size=source.size)
        return evaluate_images(model, truth, source.intervene_on, test)
    test = truth.sample(n_test, seed=source.seed + 1_000_003)  # a draw the model never saw
    score = evaluate(model, truth, source.intervene_on, train, test, Protocol.quick(), seed=7_000)
    return {
        "interventional_mmd2": score.mmd,
        "interventional_mmd2_floor": score.mmd_floor,
        "counterfactual_rmse": score.cf_rmse,
        "interventions": [s.label() for s in score.per_intervention],
        "n_test": n_test,
    }


class _ProgressWriter:
    """A fit callback that batches epochs into one database write per ``every`` seconds."""

    def __init__(self, ws: Workspace, run_id: str, every: float = PROGRESS_EVERY) -> None:
        self.ws, self.run_id, self.every = ws, run_id, every
        self.pending: list[Any] = []
        self.last = -math.inf

    def __call__(self, progress: Any) -> None:
        self.pending.append(progress)
        if time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        try:
            self.ws.record_progress(self.run_id, *self.pending)
        except sqlite3.Error as e:  # keep training; the rows go out with the next write
            log.warning("could not record progress of run %s: %s", self.run_id, e)
            return
        self.pending.clear()
        self.last = time.monotonic()


class _Watch:
    """A background thread that turns the run's cancel flag into ``self.cancel`` (an Event:
    the training loop's check costs nothing) and keeps the heartbeat fresh."""

    def __init__(self, ws: Workspace, run_id: str, cancel: threading.Event | None = None) -> None:
        self.ws, self.run_id = ws, run_id
        self.cancel = cancel if cancel is not None else threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"watch-{run_id}", daemon=True)

    def __enter__(self) -> "_Watch":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(CANCEL_POLL):
            try:
                if not self.cancel.is_set() and self.ws.cancel_requested(self.run_id):
                    self.cancel.set()
                if time.monotonic() - last_beat >= BEAT_EVERY:
                    self.ws.beat(self.run_id)
                    last_beat = time.monotonic()
            except (sqlite3.Error, OSError) as e:
                log.warning("run %s: cannot reach the workspace database: %s", self.run_id, e)


def execute(
    ws: Workspace,
    run_id: str,
    callbacks: Iterable[Callable[[Any], Any]] = (),
    stop: threading.Event | None = None,
) -> RunRecord:
    """Train run ``run_id`` in this process and record everything in the workspace.

    ``callbacks`` get each epoch's ``Progress`` too (the CLI prints it); setting ``stop``
    cancels like a cancel request. The run ends done, cancelled or failed; an exception is
    recorded (one line in the run, the traceback in the log) and raised again.
    """
    run = ws.mark_started(run_id, os.getpid())
    writer = _ProgressWriter(ws, run.id)
    log.info("run %s (%s): started in process %d", run.id, run.name, os.getpid())
    with _Watch(ws, run.id, stop) as watch:
        try:
            table, graph = load_inputs(run.spec, ws)
            model, report = fit(run.spec, table, graph, checkpoint_dir=run.checkpoint_dir,
                                callbacks=[writer, *callbacks], cancel=watch.cancel)
            writer.flush()
            if report.stopped == "cancelled":
                ws.mark_cancelled(run.id, report)
                log.info("run %s: cancelled after %d epochs", run.id, report.epochs)
            else:
                try:
                    metrics = truth_metrics(model, run, table)
                except Exception:  # noqa: BLE001 - metrics are extra; the model is still good
                    log.exception("run %s: ground-truth metrics failed", run.id)
                    metrics = {}
                ws.mark_done(run.id, report, metrics)
                log.info("run %s: done in %.1f s (%d epochs, %s)", run.id, report.seconds, report.epochs, report.stopped)
        except KeyboardInterrupt as e:
            writer.flush()
            how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted (Ctrl-C)"
            kept = ("the checkpoint holds the last weights saved" if (run.checkpoint_dir / "model.json").exists()
                    else "it saved no checkpoint")
            ws.mark_cancelled(run.id, None, note=f"{how}; {kept}")
            log.info("run %s: %s", run.id, how)
            raise
        except BaseException as e:
            log.exception("run %s failed", run.id)
            writer.flush()
            ws.mark_failed(run.id, readable_error(e))
            raise
    return ws.run(run.id)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process; exit 0 when the run ended done or cancelled."""
    parser = argparse.ArgumentParser(prog="python -m app.worker", description="Train one run of a workspace.")
    parser.add_argument("--workspace", required=True, help="the workspace folder")
    parser.add_argument("--run", required=True, help="the run's id")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    args = parser.parse_args(argv)
    try:
        ws = Workspace(args.workspace)
        run = ws.run(args.run)
    except (WorkspaceError, sqlite3.Error) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run.folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run.folder / "worker.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)

    if not run.active:
        log.info("run %s is %s; nothing to do", run.id, run.status)
        return 0
    import torch

    torch.set_num_threads(max(1, args.threads or os.cpu_count() or 1))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # stop like a cancel: keep the best weights
    try:
        execute(ws, run.id, stop=stop)
    except BaseException:  # noqa: BLE001 - recorded in the run and the log by execute
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
