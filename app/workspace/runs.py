"""The workspace's training runs: registering a checked spec, reading runs and their
history, cancelling and deleting them, and what the runner and the worker write (claims,
progress, heartbeats, the final status)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from app.workspace.datasets import DatasetStore
from app.workspace.db import RUN_FILE, _json, _new_id, _now, _write_atomically, process_start
from app.workspace.owners import START_GRACE, STALE_AFTER, describe_exit, exit_status, owner_state
from app.workspace.records import ACTIVE, STATUSES, ProgressRow, RunRecord, RunSpec, StoredDataset, WorkspaceError
from causal import CausalGraph
from causal.sources import DataSource

_RUN_COLUMNS = (
    "r.id, r.name, r.spec, r.status, r.created, r.started, r.finished, r.pid, r.host, r.heartbeat, r.proc_start, "
    "r.cancel_requested, r.progress, r.report, r.metrics, r.error, d.name AS dataset_name"
)
_RUN_SELECT = f"SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id"
_PROGRESS_FIELDS = tuple(f.name for f in dataclasses.fields(ProgressRow))


class RunStore(DatasetStore):
    """The workspace's training runs (a run on a stored dataset refers to it)."""

    def create_run(self, spec: RunSpec, *, pid: int | None = None) -> RunRecord:
        """Check ``spec`` and register it as a queued run (nothing is trained here; a
        ``Runner`` or ``python -m app.worker`` does that). With ``pid``, the run is
        registered as already running in that process (the CLI trains in the foreground),
        so no runner ever claims it.

        Bad specs are refused before anything is saved: an unknown stored dataset, a source
        the workspace cannot load again (a file: store it first), a graph that does not parse
        or names a node the data lack, an unknown model kind or setting. (An unknown built-in
        dataset or a bad number of rows is refused when its source is made.)
        """
        spec, dataset_id, data_name = self._checked(spec)
        run_id = _new_id()
        name = spec.name or f"{spec.kind} on {data_name}"
        now = _now()
        with self._write() as c:
            if pid is None:
                c.execute(
                    "INSERT INTO runs (id, name, spec, dataset_id, status, created) VALUES (?, ?, ?, ?, 'queued', ?)",
                    (run_id, name, _json(spec.to_dict()), dataset_id, now),
                )
            else:
                c.execute(
                    "INSERT INTO runs (id, name, spec, dataset_id, status, created, started, pid, host, proc_start, "
                    "heartbeat) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                    (run_id, name, _json(spec.to_dict()), dataset_id, now, now, int(pid), socket.gethostname(),
                     process_start(pid), time.time()),
                )
        self._write_run_file(run_id)
        return self.run(run_id)

    def _write_run_file(self, run_id: str) -> None:
        """``runs/<id>/run.json``: the run's record (spec, name, data, times, status, report,
        metrics, error), so that the run folder alone can rebuild the registry
        (``app.workspace.rebuild``). Written when the run is created and when it ends."""
        with self._read() as c:
            r = c.execute("SELECT id, name, spec, dataset_id, status, created, started, finished, report, metrics, error "
                          "FROM runs WHERE id = ?", (run_id,)).fetchone()
        if r is None:
            return
        record = {k: r[k] for k in r.keys()}
        for k in ("spec", "report", "metrics"):
            record[k] = json.loads(record[k]) if record[k] else None
        path = self.root / "runs" / run_id / RUN_FILE
        _write_atomically(path, lambda tmp: tmp.write_text(_json(record) + "\n"))

    def _checked(self, spec: RunSpec) -> tuple[RunSpec, str | None, str]:
        """The spec with its graph as JSON (a built-in dataset's own when it gives none), the
        stored dataset's id, and the data's display name."""
        if not isinstance(spec, RunSpec):
            raise WorkspaceError(f"create_run needs a RunSpec, got {type(spec).__name__}")
        if isinstance(spec.seed, bool) or not isinstance(spec.seed, int):
            raise WorkspaceError(f"the training seed must be a whole number, got {spec.seed!r}")
        source = spec.source
        if not isinstance(source, DataSource):
            raise WorkspaceError(f"a run's source must be a data source (causal.sources, or StoredDataset), "
                                 f"got {type(source).__name__}")
        if isinstance(source, StoredDataset):
            record = self.dataset(source.id)
            if not spec.graph.strip():
                raise WorkspaceError(f"a run on dataset '{record.name}' needs a causal graph over its columns")
            columns, dataset_id, data_name = record.columns, record.id, record.name
            graph = CausalGraph.parse(spec.graph)
            if record.has_images:
                from causal.images import image_graph

                try:
                    graph = image_graph(graph)
                except ValueError as e:
                    raise WorkspaceError(f"a run on the image dataset '{record.name}' needs the image node: {e}") from None
            elif any(graph.kind(n) == "image" for n in graph.nodes):
                raise WorkspaceError(f"dataset '{record.name}' is a table without images; the graph's image node "
                                     f"({', '.join(n for n in graph.nodes if graph.kind(n) == 'image')}) needs an image dataset")
        elif source.graph is None:
            raise WorkspaceError(f"a run trains on a built-in or stored dataset, not on {source.describe()}: "
                                 "store it in the workspace first (add_dataset, add_image_dataset)")
        else:  # a built-in dataset: its own nodes
            columns, dataset_id, data_name = source.graph.nodes, None, source.name
            graph = CausalGraph.parse(spec.graph) if spec.graph.strip() else source.graph
        missing = [n for n in graph.nodes if n not in columns and graph.kind(n) != "image"]
        if missing:
            raise WorkspaceError(
                f"the graph has node(s) {', '.join(missing)} that dataset '{data_name}' lacks; "
                f"its columns are {', '.join(columns)}"
            )
        if not isinstance(spec.settings, Mapping):
            raise WorkspaceError(f"settings must be a dict of model and training settings, got {type(spec.settings).__name__}")
        from generators import kinds_for, make_config

        if any(graph.kind(n) == "image" for n in graph.nodes) and spec.kind not in kinds_for(graph):
            raise WorkspaceError(f"model kind '{spec.kind}' does not train on images; use one of {', '.join(kinds_for(graph))}")
        make_config(spec.kind, **spec.settings)  # unknown kind or setting, or a wrong type: a clear ValueError
        try:
            settings = json.loads(json.dumps(dict(spec.settings), allow_nan=False))
        except (TypeError, ValueError):
            raise WorkspaceError(f"settings must be plain numbers, text and booleans, got {spec.settings!r}") from None
        return dataclasses.replace(spec, graph=graph.to_json(), settings=settings), dataset_id, data_name

    def _run_record(self, r: sqlite3.Row, dead: Mapping[str, str] | None = None) -> RunRecord:
        spec = RunSpec.from_dict(json.loads(r["spec"]))
        status, error = r["status"], r["error"]
        if dead and r["id"] in dead and status == "running":  # seen dead but not recorded (a read-only workspace)
            status, error = "failed", dead[r["id"]]
        progress = ProgressRow(**json.loads(r["progress"])) if r["progress"] else None
        return RunRecord(
            id=r["id"], name=r["name"], spec=spec, status=status, created=r["created"], started=r["started"],
            finished=r["finished"], progress=progress, report=json.loads(r["report"]) if r["report"] else None,
            metrics=json.loads(r["metrics"] or "{}"), error=error,
            checkpoint_dir=self.root / "runs" / r["id"] / "model", pid=r["pid"], host=r["host"],
            heartbeat=r["heartbeat"], proc_start=r["proc_start"], cancel_requested=bool(r["cancel_requested"]),
            data_name=r["dataset_name"] or spec.source.name,
        )

    def runs(self, status: str | Iterable[str] | None = None) -> list[RunRecord]:
        """Runs, newest first; ``status`` keeps only runs in that status (or those statuses)."""
        wanted = [status] if isinstance(status, str) else list(status) if status is not None else []
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise WorkspaceError(f"unknown run status {', '.join(map(repr, bad))}; the statuses are {', '.join(STATUSES)}")
        dead = self._notice_dead()
        where = f" WHERE r.status IN ({', '.join('?' * len(wanted))})" if wanted else ""
        with self._read() as c:
            rows = c.execute(f"{_RUN_SELECT}{where} ORDER BY r.seq DESC", wanted).fetchall()
        records = [self._run_record(r, dead) for r in rows]
        return [r for r in records if not wanted or r.status in wanted]

    def run(self, run_id: str) -> RunRecord:
        """One run, by its id or a unique prefix of it (a running one whose owner died is
        failed, like in ``runs``)."""
        dead = self._notice_dead()
        with self._read() as c:
            row = c.execute(f"{_RUN_SELECT} WHERE r.id = ?", (run_id,)).fetchone()
            if row is None and run_id:
                found = c.execute(f"{_RUN_SELECT} WHERE r.id LIKE ? ESCAPE '\\' ORDER BY r.seq DESC LIMIT 6",
                                  (run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",)).fetchall()
                if len(found) > 1:
                    raise WorkspaceError(f"run id '{run_id}' is ambiguous: it starts {', '.join(r['id'] for r in found[:5])}...; "
                                         "give more of it")
                row = found[0] if found else None
        if row is None:
            raise WorkspaceError(f"no run '{run_id}' in workspace {self.root} ('counterfactory runs' lists them)")
        return self._run_record(row, dead)

    # ------------------------------------------------------------------ dead owners
    def reap_dead(self, exit_codes: Mapping[str, int] | None = None, *, stale_after: float = STALE_AFTER,
                  start_grace: float = START_GRACE) -> list[str]:
        """Mark failed every running run whose owner is dead (``app.workspace.owners``: its
        process is gone, or its heartbeat stale); ``exit_codes`` (by run id) say how a
        worker ended when its parent collected it. Returns the runs it marked. A run whose
        owner finished it meanwhile is left as its owner wrote it. Every reader of the
        registry calls this first (``runs``, ``run``), a runner too, with its exit codes."""
        return list(self._reap(exit_codes or {}, stale_after, start_grace)[0])

    def _notice_dead(self) -> dict[str, str]:
        """``reap_dead`` for a reader: the runs found dead that could not be recorded (a
        read-only workspace), with their message, for the reader to show as failed."""
        return self._reap({}, STALE_AFTER, START_GRACE)[1]

    def _reap(self, exit_codes: Mapping[str, int], stale_after: float, start_grace: float
              ) -> tuple[list[str], dict[str, str]]:
        with self._read() as c:
            rows = c.execute("SELECT id, pid, host, proc_start, heartbeat FROM runs WHERE status = 'running'").fetchall()
        marked, unrecorded = [], {}
        for r in rows:
            why = owner_state(pid=r["pid"], proc_start=r["proc_start"], host=r["host"], heartbeat=r["heartbeat"],
                              stale_after=stale_after, start_grace=start_grace)
            if why is None:
                continue
            code = exit_codes.get(r["id"])
            if code is None and r["pid"] is not None:
                code = exit_status(r["pid"])
            folder = self.root / "runs" / r["id"]
            model = folder / "model"
            kept = ("its last checkpoint is kept and loads" if (model / "model.json").is_file()
                    else "it saved no checkpoint")
            log = folder / "worker.log"
            message = (f"the worker stopped unexpectedly: {why}{describe_exit(code)}; {kept}"
                       + (f"; see {log}" if log.is_file() else ""))
            if self.readonly:
                unrecorded[r["id"]] = message
                continue
            try:
                if self.mark_failed(r["id"], message):  # only a run still running changes
                    marked.append(r["id"])
            except (WorkspaceError, sqlite3.Error):
                unrecorded[r["id"]] = message
        return marked, unrecorded

    def delete_run(self, run_id: str) -> Path | None:
        """Delete a run, its history and its folder (checkpoint, exports, log); refused while
        it is running (cancel it first). The folder is moved aside first (nothing is deleted
        when it cannot be), then the record, then the files. Returns None when every file
        went, else the folder (``runs/.deleted-<id>``) holding what could not be removed."""
        run_id = self.run(run_id).id
        folder = self.root / "runs" / run_id
        trash = folder.with_name(f".deleted-{run_id}")
        with self._write() as c:
            row = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"no run '{run_id}' in workspace {self.root}")
            if row[0] == "running":
                raise WorkspaceError(f"run {run_id} is running; cancel it first ('counterfactory runs cancel {run_id}')")
            if folder.exists():
                try:
                    os.replace(folder, trash)
                except OSError as e:
                    raise WorkspaceError(f"cannot delete run {run_id}: its folder {folder} cannot be moved "
                                         f"({e.strerror or e}); nothing was deleted") from None
            try:
                c.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            except BaseException:
                if trash.exists():
                    os.replace(trash, folder)
                raise
        if not trash.exists():
            return None
        shutil.rmtree(trash, ignore_errors=True)
        return trash if trash.exists() else None

    def history(self, run_id: str) -> list[ProgressRow]:
        """Every epoch the run has recorded, in order."""
        run_id = self.run(run_id).id
        with self._read() as c:
            rows = c.execute(f"SELECT {', '.join(_PROGRESS_FIELDS)} FROM progress WHERE run_id = ? ORDER BY epoch", (run_id,))
            # SQLite stores NaN as NULL
            return [ProgressRow(*(math.nan if v is None else v for v in r)) for r in rows]

    def request_cancel(self, run_id: str) -> RunRecord:
        """Cancel a run: a queued one is cancelled at once; a running one is asked to stop
        (its worker sees the request within about a second, keeps its best weights and marks
        itself cancelled). Refused for a run that has already finished."""
        run = self.run(run_id)  # a run whose owner died reads as failed here
        run_id = run.id
        if not run.active:
            why = f": {run.error}" if run.error else ""
            raise WorkspaceError(f"run {run_id} has already finished ({run.status}{why}); there is nothing to cancel")
        with self._write() as c:
            status = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            if status == "queued":
                c.execute("UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished = ? WHERE id = ?", (_now(), run_id))
            elif status == "running":
                c.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            else:
                raise WorkspaceError(f"run {run_id} has already finished ({status}); there is nothing to cancel")
        if status == "queued":
            self._write_run_file(run_id)
        return self.run(run_id)

    def cancel_requested(self, run_id: str) -> bool:
        """Whether the run should stop: cancel was asked for, it is no longer active, or it
        was deleted. One indexed read; workers poll it a few times a second."""
        with self._read() as c:
            row = c.execute("SELECT cancel_requested, status FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row is None or bool(row[0]) or row[1] not in ACTIVE

    # ------------------------------------------------------------------ writers (runner and worker)
    def claim_queued(self, max_running: int) -> list[RunRecord]:
        """Move the oldest queued runs to "running" while fewer than ``max_running`` runs are
        running in this workspace (counted and claimed in one transaction, so several
        runners never exceed it). The caller then starts a worker for each."""
        with self._write() as c:
            running = c.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
            free = max(0, max_running - running)
            ids = [r[0] for r in c.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY seq LIMIT ?", (free,))]
            now, beat = _now(), time.time()
            for run_id in ids:
                c.execute(
                    "UPDATE runs SET status = 'running', started = ?, heartbeat = ?, pid = NULL, host = ?, proc_start = NULL "
                    "WHERE id = ?",
                    (now, beat, socket.gethostname(), run_id),
                )
        return [self.run(i) for i in ids]

    def mark_started(self, run_id: str, pid: int, host: str | None = None) -> RunRecord:
        """Record the process training the run (queued or claimed -> running). Refused when
        the run was cancelled or finished meanwhile."""
        with self._write() as c:
            row = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"no run '{run_id}' in workspace {self.root}")
            if row[0] not in ACTIVE:
                raise WorkspaceError(f"run {run_id} is {row[0]}; it cannot be started")
            c.execute(
                "UPDATE runs SET status = 'running', started = COALESCE(started, ?), pid = ?, host = ?, proc_start = ?, "
                "heartbeat = ? WHERE id = ?",
                (_now(), int(pid), host or socket.gethostname(), process_start(pid), time.time(), run_id),
            )
        return self.run(run_id)

    def record_progress(self, run_id: str, *progress: Any) -> None:
        """Append epochs (``generators.Progress`` values) to the run's history, make the last
        one its latest progress, and refresh its heartbeat: one transaction."""
        if not progress:
            return
        rows = [ProgressRow.of(p) for p in progress]
        with self._write() as c:
            c.executemany(
                f"INSERT OR REPLACE INTO progress (run_id, {', '.join(_PROGRESS_FIELDS)}) VALUES (?{', ?' * len(_PROGRESS_FIELDS)})",
                [(run_id, *dataclasses.astuple(r)) for r in rows],
            )
            c.execute("UPDATE runs SET progress = ?, heartbeat = ? WHERE id = ?",
                      (_json(dataclasses.asdict(rows[-1])), time.time(), run_id))

    def beat(self, run_id: str) -> None:
        """The worker is alive (written every few seconds, also between epochs)."""
        with self._write() as c:
            c.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", (time.time(), run_id))

    def _finish(self, run_id: str, status: str, **values: Any) -> bool:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._write() as c:
            cur = c.execute(
                f"UPDATE runs SET status = ?, finished = ?{', ' if sets else ''}{sets} WHERE id = ? AND status IN ('queued', 'running')",
                (status, _now(), *values.values(), run_id),
            )
            changed = cur.rowcount == 1
        if changed:
            try:
                self._write_run_file(run_id)
            except OSError:  # the registry holds it; the folder's copy is for rebuilding only
                pass
        return changed

    @staticmethod
    def _report_json(report: Any) -> str | None:
        if report is None:
            return None
        return _json(report.to_dict() if hasattr(report, "to_dict") else dict(report))

    def mark_done(self, run_id: str, report: Any, metrics: Mapping[str, Any] | None = None) -> bool:
        """Training finished: store the report (a ``FitReport`` or its dict) and metrics.
        Like every final writer, it changes only an active run; returns whether it did."""
        return self._finish(run_id, "done", report=self._report_json(report), metrics=_json(dict(metrics or {})), error=None)

    def mark_failed(self, run_id: str, error: str) -> bool:
        """Training failed; ``error`` is one readable line (the traceback goes to the log)."""
        line = " ".join(str(error).split()) or "failed"
        return self._finish(run_id, "failed", error=line[:500])

    def mark_cancelled(self, run_id: str, report: Any = None, note: str | None = None) -> bool:
        """Training stopped on request; the checkpoint keeps the best weights so far."""
        return self._finish(run_id, "cancelled", report=self._report_json(report), error=note)
