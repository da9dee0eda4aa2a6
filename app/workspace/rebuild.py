"""Rebuilding a workspace's registry from its folders, when its database is damaged, empty or
lost: every run folder (``runs/<id>/run.json``, else its checkpoint's ``model.json``), every
stored dataset (``datasets/<id>.csv`` and its ``.json`` record) and saved graph
(``graphs/<id>.json``) is registered again. The old database file is kept beside it, renamed.

>>> import tempfile
>>> from causal.sources import BuiltinTable
>>> from app.workspace import RunSpec, Workspace
>>> ws = Workspace(tempfile.mkdtemp())
>>> run = ws.create_run(RunSpec(BuiltinTable("triangle-lin", rows=300)))
>>> _ = ws.db_path.write_bytes(b"")   # the registry lost
>>> report = rebuild(ws.root)
>>> report.runs, Workspace(ws.root).run(run.id).status
(1, 'failed')
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.workspace.db import DB_NAME, RUN_FILE, _json, _now
from app.workspace.records import ACTIVE, RunSpec, StoredDataset, WorkspaceError

__all__ = ["rebuild", "RebuildReport"]


@dataclass(frozen=True)
class RebuildReport:
    """What ``rebuild`` registered, and where the old database went (None: there was none)."""

    runs: int
    datasets: int
    graphs: int
    old_database: Path | None
    skipped: tuple[str, ...] = ()  # folders or files it could not read, each with why

    def __str__(self) -> str:
        kept = f"; the old database is kept as {self.old_database}" if self.old_database else ""
        skipped = f"; skipped {len(self.skipped)}: {'; '.join(self.skipped)}" if self.skipped else ""
        return f"registered {self.runs} run(s), {self.datasets} dataset(s) and {self.graphs} graph(s){kept}{skipped}"


def rebuild(root: str | os.PathLike) -> RebuildReport:
    """Move the workspace's database aside (``counterfactory.db.old-<time>``, with its WAL
    files) and register again every run, dataset and graph its folders hold. Runs that were
    still training when the registry was lost are marked failed (their checkpoints stay)."""
    from app.workspace import Workspace

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise WorkspaceError(f"no workspace folder at {root}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    old = None
    for suffix in ("", "-wal", "-shm"):
        f = root / f"{DB_NAME}{suffix}"
        if f.exists():
            target = root / f"{DB_NAME}.old-{stamp}{suffix}"
            try:
                os.replace(f, target)
            except OSError as e:
                raise WorkspaceError(f"cannot move the old database {f} aside: {e.strerror or e}") from None
            old = old or target
    ws = Workspace.__new__(Workspace)
    ws.root, ws.db_path = root, root / DB_NAME
    for sub in ("datasets", "runs", "graphs"):
        (root / sub).mkdir(exist_ok=True)
    ws._migrate(allow_orphans=True)
    skipped: list[str] = []
    datasets = _datasets(ws, skipped)
    graphs = _graphs(ws, skipped)
    runs = _runs(ws, datasets, skipped)
    return RebuildReport(len(runs), len(datasets), len(graphs), old, tuple(skipped))


def _read_json(path: Path) -> Any:
    from causal.limits import MAX_META_BYTES, read_bytes

    return json.loads(read_bytes(path, MAX_META_BYTES, "record").decode("utf-8"))


def _datasets(ws: Any, skipped: list[str]) -> set[str]:
    import pandas as pd

    done = set()
    for csv in sorted((ws.root / "datasets").glob("*.csv")):
        ds_id = csv.stem
        try:
            rec = _read_json(csv.with_suffix(".json")) if csv.with_suffix(".json").is_file() else None
            if rec is None:  # stored before datasets kept their record: what the files say
                head = pd.read_csv(csv, nrows=0)
                rows = sum(1 for _ in csv.open("rb")) - 1
                images = _image_info(csv.with_name(f"{ds_id}.images.safetensors"))
                rec = {"name": ds_id, "source": f"rebuilt from {csv.name}", "description": "", "rows": rows,
                       "columns": [str(c) for c in head.columns], "created": _now(), "images": images}
            with ws._write() as c:
                c.execute("INSERT INTO datasets (id, name, source, description, rows, columns, created, images) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (ds_id, rec["name"], rec["source"], rec.get("description", ""), int(rec["rows"]),
                           _json(rec["columns"]), rec["created"], _json(rec["images"]) if rec.get("images") else None))
            done.add(ds_id)
        except (OSError, ValueError, KeyError, TypeError) as e:
            skipped.append(f"{csv}: {e}")
    return done


def _image_info(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        shape = list(f.get_slice("images").get_shape())
        node = (f.metadata() or {}).get("image_node", "image")
    return {"shape": shape[1:], "image_node": node}


def _graphs(ws: Any, skipped: list[str]) -> set[str]:
    done = set()
    for path in sorted((ws.root / "graphs").glob("*.json")):
        try:
            rec = _read_json(path)
            with ws._write() as c:
                c.execute("INSERT INTO graphs (id, name, graph, created) VALUES (?, ?, ?, ?)",
                          (path.stem, rec["name"], rec["graph"], rec["created"]))
            done.add(path.stem)
        except (OSError, ValueError, KeyError, TypeError) as e:
            skipped.append(f"{path}: {e}")
    return done


def _runs(ws: Any, datasets: set[str], skipped: list[str]) -> list[str]:
    done = []
    for folder in sorted(p for p in (ws.root / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            rec = _run_record(folder)
            if rec is None:
                skipped.append(f"{folder}: neither {RUN_FILE} nor a checkpoint")
                continue
            spec = RunSpec.from_dict(rec["spec"])
            status, error, finished = rec.get("status") or "failed", rec.get("error"), rec.get("finished")
            if status in ACTIVE:
                status, finished = "failed", _now()
                error = "the registry was rebuilt while this run was queued or training; its last checkpoint is kept"
            dataset = rec.get("dataset_id") if rec.get("dataset_id") in datasets else None
            with ws._write() as c:
                c.execute(
                    "INSERT INTO runs (id, name, spec, dataset_id, status, created, started, finished, report, metrics, "
                    "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (folder.name, rec.get("name") or folder.name, _json(spec.to_dict()), dataset, status,
                     rec.get("created") or _now(), rec.get("started"), finished,
                     _json(rec["report"]) if rec.get("report") else None, _json(rec.get("metrics") or {}), error))
            ws._write_run_file(folder.name)
            done.append(folder.name)
        except (OSError, ValueError, KeyError, TypeError) as e:
            skipped.append(f"{folder}: {e}")
    return done


def _run_record(folder: Path) -> dict[str, Any] | None:
    """A run folder's record: its ``run.json``, else what its checkpoint says (a run made
    before run folders kept their record: its data source is then unknown)."""
    if (folder / RUN_FILE).is_file():
        return _read_json(folder / RUN_FILE)
    meta_file = folder / "model" / "model.json"
    if not meta_file.is_file():
        return None
    meta = _read_json(meta_file)
    graph = json.dumps(meta["graph"])
    spec = RunSpec(StoredDataset("unknown"), graph=graph, kind=str(meta.get("kind", "causal-gen")))
    fit = meta.get("fit")
    return {"name": f"{spec.kind} (rebuilt from its checkpoint)", "spec": spec.to_dict(), "report": fit,
            "status": "done" if fit and fit.get("stopped") != "cancelled" else "cancelled" if fit else "failed",
            "error": None if fit else "rebuilt from a checkpoint without a fit report", "metrics": {}}
