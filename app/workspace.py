"""The persistent workspace: a folder holding an SQLite registry of datasets, graphs and
training runs, and their files (dataset CSVs, the images of image datasets as safetensors,
checkpoints, exports with a manifest).

The app, the CLI, worker processes and scripts share one workspace at the same time: every
operation opens its own short-lived connection (WAL mode, a busy timeout, foreign keys), and
every write is one short ``BEGIN IMMEDIATE`` transaction, so readers never block writers and
writers queue instead of failing with "database is locked".

>>> import tempfile
>>> from causal import CausalGraph
>>> ws = Workspace(tempfile.mkdtemp())
>>> g = ws.add_graph("triangle", CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3"))
>>> ws.graph(g.id).graph.to_text()
'x1 -> x2; x1 -> x3; x2 -> x3'
>>> run = ws.create_run(RunSpec("builtin:triangle-lin", n_rows=300, settings={"hidden": 8, "steps": 60}))
>>> run.status, run.spec.kind
('queued', 'causal-gen')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import secrets
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd

from causal import CausalGraph

__all__ = [
    "Workspace", "WorkspaceError", "RunSpec", "RunRecord", "DatasetRecord", "GraphRecord", "ProgressRow",
    "STATUSES", "ACTIVE", "BUILTIN", "IMAGES", "ENV_WORKSPACE", "SCHEMA_VERSION", "default_root", "image_graph",
]

ENV_WORKSPACE = "COUNTERFACTORY_WORKSPACE"
SCHEMA_VERSION = 2  # 2: datasets.images (the image shape of a dataset with images)
BUSY_TIMEOUT = 10.0  # seconds a connection waits for another writer before giving up
STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
BUILTIN = "builtin:"
IMAGES = "images:"  # a built-in image dataset (causal.image_datasets), drawn at RunSpec.image_size
DEFAULT_BUILTIN_ROWS = 5000  # rows drawn from a built-in dataset when a spec gives no n_rows
DB_NAME = "counterfactory.db"
_ID_EPOCH_MS = 1_704_067_200_000  # 2024-01-01: ids are base-36 milliseconds since then
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class WorkspaceError(ValueError):
    """A workspace request that cannot be honoured: an unknown id, a refused delete, a run
    without a checkpoint. The message names the record and what to do."""


def default_root() -> Path:
    """``$COUNTERFACTORY_WORKSPACE``, else ``./workspace``."""
    return Path(os.environ.get(ENV_WORKSPACE) or "workspace")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _new_id() -> str:
    """11 characters, sortable by creation time: 8 base-36 digits of milliseconds, 3 random."""
    n = max(0, int(time.time() * 1000) - _ID_EPOCH_MS)
    digits = []
    for _ in range(8):
        n, r = divmod(n, 36)
        digits.append(_B36[r])
    return "".join(reversed(digits)) + "".join(secrets.choice(_B36) for _ in range(3))


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, allow_nan=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _save_images(data: Any, path: Path) -> None:
    """An ``ImageData``'s uint8 images as safetensors (tensor ``images``), the labels' index
    and the image node's name as metadata (never pickle)."""
    import numpy as np
    from safetensors.numpy import save_file

    index = [_json_default(v) if not isinstance(v, (str, int, float)) else v for v in data.labels.index]
    meta = {"index": json.dumps(index), "index_name": str(data.labels.index.name or ""), "image_node": data.image_node}
    save_file({"images": np.ascontiguousarray(data.images, dtype=np.uint8)}, str(path), metadata=meta)


def _write_atomically(path: Path, write: Any) -> None:
    """``write(tmp_path)``, then rename over ``path``: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------- records
@dataclass(frozen=True)
class DatasetRecord:
    """A table stored in the workspace as ``datasets/<id>.csv``; an image dataset adds its
    images (uint8 ``[n, height, width, channels]``) as ``datasets/<id>.images.safetensors``,
    the CSV holding their labels."""

    id: str
    name: str
    source: str  # where it came from: a file name, "upload", "builtin:loan (n=500, seed=0)"...
    description: str
    rows: int
    columns: tuple[str, ...]
    created: str  # UTC, ISO 8601
    path: Path
    image_shape: tuple[int, int, int] | None = None  # (height, width, channels) of an image dataset; None: a table

    @property
    def has_images(self) -> bool:
        """An image dataset: labels in the CSV, images beside it (``Workspace.load_images``)."""
        return self.image_shape is not None

    @property
    def images_path(self) -> Path:
        """``datasets/<id>.images.safetensors`` (exists for an image dataset only)."""
        return self.path.with_name(f"{self.id}.images.safetensors")


def image_graph(graph: CausalGraph, image_node: str | None = None) -> CausalGraph:
    """``graph`` with its image node (``causal.imagedata.IMAGE_NODE`` unless named) of kind
    ``image``, checked: the node is there and has label parents (the labels the images
    show), and no label depends on the image. ``GraphError`` saying what to add otherwise.
    Shared by the CLI (``train --image-folder``) and the workspace (runs on stored images)."""
    from causal.graph import GraphError
    from causal.imagedata import IMAGE_NODE

    node = image_node or IMAGE_NODE
    if node not in graph.nodes:
        raise GraphError(f"the graph has no node '{node}': the images are that node; add edges "
                         f"'LABEL -> {node}' for the labels the images show")
    if not graph.parents(node):
        raise GraphError(f"the image node '{node}' has no parents; add edges 'LABEL -> {node}' for the labels "
                         "the images show")
    if graph.children(node):
        raise GraphError(f"the image node '{node}' has children ({', '.join(graph.children(node))}); labels cause "
                         "the image, not the other way round: reverse those edges")
    return graph.with_kinds({node: "image"})


@dataclass(frozen=True)
class GraphRecord:
    """A causal graph saved under a name (stored as node-link JSON, kinds included)."""

    id: str
    name: str
    json: str
    created: str

    @property
    def graph(self) -> CausalGraph:
        return CausalGraph.parse(self.json)

    @property
    def text(self) -> str:
        """The plain ``a -> b; b -> c`` form."""
        return self.graph.to_text()


@dataclass(frozen=True)
class RunSpec:
    """What to train: the data, the graph, the model kind and its settings, the seed.

    ``data`` is a stored dataset's id, ``"builtin:<name>"`` (then ``n_rows`` rows are drawn
    from its SCM with ``data_seed``) or ``"images:<name>"`` (a built-in image dataset:
    ``n_rows`` labelled images of ``image_size`` pixels). ``graph`` is graph text or JSON; empty means the
    built-in dataset's own graph. ``settings`` are ``generators.build_model`` settings
    (model and training: ``hidden``, ``steps``, ``max_epochs``, ``lr``...).
    """

    data: str
    _: KW_ONLY
    n_rows: int | None = None  # built-in data only; None: 5000
    data_seed: int = 0  # built-in data only: seeds the draw
    graph: str = ""
    kind: str = "causal-gen"
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0  # seeds training
    name: str = ""
    image_size: int = 32  # built-in image data only: pixels per side (32 or 64)

    @property
    def builtin(self) -> str | None:
        """The built-in (tabular) dataset's name, or None."""
        return self.data[len(BUILTIN):] if self.data.startswith(BUILTIN) else None

    @property
    def images(self) -> str | None:
        """The built-in image dataset's name, or None."""
        return self.data[len(IMAGES):] if self.data.startswith(IMAGES) else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        return cls(d.pop("data"), **d)


@dataclass(frozen=True)
class ProgressRow:
    """One epoch of a run's training history (``generators.Progress`` as stored)."""

    epoch: int
    max_epochs: int
    steps: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    lr: float
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.epoch / max(self.max_epochs, 1)

    @classmethod
    def of(cls, p: Any) -> "ProgressRow":
        """From a ``generators.Progress`` (or anything with the same attributes)."""
        return cls(int(p.epoch), int(p.max_epochs), int(p.steps), float(p.train_loss), float(p.val_loss),
                   float(p.best_val_loss), float(p.lr), float(p.elapsed))


@dataclass(frozen=True)
class RunRecord:
    """A training run as the registry knows it.

    ``status`` is one of ``STATUSES``; ``progress`` the latest epoch; ``report`` the
    ``FitReport.to_dict()`` once training ended; ``metrics`` what the worker measured after
    training (for built-in data: accuracy against the true SCM); ``error`` a one-line
    message when it failed. The model lives in ``checkpoint_dir`` (written atomically
    during training, so a failed or cancelled run keeps its last good checkpoint).
    """

    id: str
    name: str
    spec: RunSpec
    status: str
    created: str
    started: str | None
    finished: str | None
    progress: ProgressRow | None
    report: dict[str, Any] | None
    metrics: dict[str, Any]
    error: str | None
    checkpoint_dir: Path
    pid: int | None
    host: str | None
    heartbeat: float | None  # unix time of the worker's last sign of life
    proc_start: str | None  # the worker process's start time: with pid and host, names the process
    cancel_requested: bool
    data_name: str  # the built-in dataset's or the stored dataset's name

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE

    @property
    def has_checkpoint(self) -> bool:
        """A complete checkpoint (weights and metadata) is on disk."""
        d = self.checkpoint_dir  # (a save in progress may hold the weights as model.prev.safetensors)
        return (d / "model.json").is_file() and ((d / "model.safetensors").is_file() or (d / "model.prev.safetensors").is_file())

    @property
    def seconds(self) -> float:
        """Time since it started, up to when it finished (0 while queued)."""
        start = _parse_time(self.started)
        if start is None:
            return 0.0
        end = _parse_time(self.finished) or dt.datetime.now(dt.timezone.utc)
        return max(0.0, (end - start).total_seconds())

    @property
    def folder(self) -> Path:
        """``runs/<id>``: the checkpoint, exports and the worker's log."""
        return self.checkpoint_dir.parent

    @property
    def graph(self) -> CausalGraph:
        return CausalGraph.parse(self.spec.graph)

    @property
    def has_images(self) -> bool:
        """Its graph has an image node: an image model (samples are ``ImageData``)."""
        g = self.graph
        return any(g.kind(n) == "image" for n in g.nodes)


# ---------------------------------------------------------------------- schema
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS datasets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        rows INTEGER NOT NULL,
        columns TEXT NOT NULL,
        created TEXT NOT NULL,
        images TEXT)""",
    """CREATE TABLE IF NOT EXISTS graphs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        graph TEXT NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        dataset_id TEXT REFERENCES datasets(id) ON DELETE RESTRICT,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        created TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        pid INTEGER,
        host TEXT,
        proc_start TEXT,
        heartbeat REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        progress TEXT,
        report TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        error TEXT)""",
    """CREATE INDEX IF NOT EXISTS runs_status ON runs(status)""",
    """CREATE INDEX IF NOT EXISTS runs_dataset ON runs(dataset_id)""",
    """CREATE TABLE IF NOT EXISTS progress (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        max_epochs INTEGER NOT NULL,
        steps INTEGER NOT NULL,
        train_loss REAL,
        val_loss REAL,
        best_val_loss REAL,
        lr REAL,
        elapsed REAL,
        PRIMARY KEY (run_id, epoch)) WITHOUT ROWID""",
)

_RUN_COLUMNS = (
    "r.id, r.name, r.spec, r.status, r.created, r.started, r.finished, r.pid, r.host, r.heartbeat, r.proc_start, "
    "r.cancel_requested, r.progress, r.report, r.metrics, r.error, d.name AS dataset_name"
)
_RUN_SELECT = f"SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id"
_PROGRESS_FIELDS = tuple(f.name for f in dataclasses.fields(ProgressRow))


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), or None where
    that cannot be read. Together with the pid it names one process, even after the pid
    is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else None


# ---------------------------------------------------------------------- the workspace
class Workspace:
    """A workspace folder: ``counterfactory.db`` plus ``datasets/`` and ``runs/<id>/``.

    ``root`` defaults to ``$COUNTERFACTORY_WORKSPACE``, else ``./workspace``; it is created
    when missing. Instances hold no open connection and are safe to share between threads.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root if root is not None else default_root()).expanduser().resolve()
        try:
            if self.root.exists() and not self.root.is_dir():
                raise FileExistsError(self.root)
            (self.root / "datasets").mkdir(parents=True, exist_ok=True)
            (self.root / "runs").mkdir(exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise WorkspaceError(f"workspace {self.root} is a file, not a folder; choose another --workspace") from None
        self.db_path = self.root / DB_NAME
        self._migrate()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ------------------------------------------------------------------ connections
    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.OperationalError as e:
            raise WorkspaceError(f"cannot open the workspace database {self.db_path}: {e}") from None
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode: never corrupts, may lose the last commit on power loss
        return con

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction. ``BEGIN IMMEDIATE`` takes the write lock up front,
        so a transaction that reads and then writes never fails on a lock upgrade."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _migrate(self) -> None:
        con = self._connect()
        try:
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise WorkspaceError(f"the workspace database {self.db_path} cannot use WAL mode (journal mode {mode}); "
                                     "put the workspace on a local disk")
        finally:
            con.close()
        with self._write() as c:
            has_meta = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if has_meta else None
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise WorkspaceError(
                    f"workspace {self.root} was written by a newer Counterfactory (schema {version}, this one "
                    f"knows {SCHEMA_VERSION}); upgrade Counterfactory to open it"
                )
            if version < SCHEMA_VERSION:  # version 0: create everything; later ones: add what is new
                for statement in _SCHEMA:
                    c.execute(statement)
                have = {r[1] for r in c.execute("PRAGMA table_info(datasets)")}
                if "images" not in have:  # schema 1 -> 2: image datasets (NULL: a table, as every older one is)
                    c.execute("ALTER TABLE datasets ADD COLUMN images TEXT")
                c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created', ?)", (_now(),))

    @property
    def schema_version(self) -> int:
        with self._read() as c:
            return int(c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])

    # ------------------------------------------------------------------ datasets
    def add_dataset(self, name: str, data: pd.DataFrame, source: str, description: str = "") -> DatasetRecord:
        """Store a table (as ``datasets/<id>.csv``, written atomically) and register it."""
        return self._add(name, data, source, description, None)

    def add_image_dataset(self, name: str, data: Any, source: str, description: str = "") -> DatasetRecord:
        """Store an image dataset (a ``causal.imagedata.ImageData``): its labels as
        ``datasets/<id>.csv`` and its images, uint8, as ``datasets/<id>.images.safetensors``
        (with the labels' index, e.g. the file names), each written atomically and
        registered only once both are in place. Runs train image models on it
        (``RunSpec(<id>, graph=... -> image)``); ``load_images`` reads it back."""
        from causal.imagedata import ImageData

        if not isinstance(data, ImageData):
            raise WorkspaceError(f"an image dataset must be a causal.imagedata.ImageData, got {type(data).__name__}")
        return self._add(name, data.labels, source, description, data)

    def _add(self, name: str, data: pd.DataFrame, source: str, description: str, images: Any) -> DatasetRecord:
        if not isinstance(data, pd.DataFrame):
            raise WorkspaceError(f"a dataset must be a pandas DataFrame, got {type(data).__name__}")
        name = str(name).strip()
        if not name:
            raise WorkspaceError("a dataset needs a name")
        columns = [str(c) for c in data.columns]
        dup = sorted({c for c in columns if columns.count(c) > 1})
        if dup:
            raise WorkspaceError(f"dataset '{name}' has duplicate column(s) {', '.join(dup)}; rename them first")
        if not columns or len(data) == 0:
            raise WorkspaceError(f"dataset '{name}' is empty ({len(data)} rows, {len(columns)} columns)")
        ds_id = _new_id()
        path = self.root / "datasets" / f"{ds_id}.csv"
        image_path = path.with_name(f"{ds_id}.images.safetensors")
        shape = None
        try:
            if images is not None:
                shape = [images.height, images.width, images.channels]
                _write_atomically(image_path, lambda tmp: _save_images(images, tmp))
            _write_atomically(path, lambda tmp: data.set_axis(columns, axis=1).to_csv(tmp, index=False))
            with self._write() as c:
                c.execute(
                    "INSERT INTO datasets (id, name, source, description, rows, columns, created, images) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (ds_id, name, str(source), str(description), len(data), _json(columns), _now(),
                     None if shape is None else _json({"shape": shape, "image_node": images.image_node})),
                )
        except BaseException:
            path.unlink(missing_ok=True)
            image_path.unlink(missing_ok=True)
            raise
        return self.dataset(ds_id)

    def add_dataset_once(self, name: str, data: pd.DataFrame, source: str, description: str = "") -> DatasetRecord:
        """``add_dataset``, unless a dataset from the same ``source`` (e.g. an upload's
        content hash) is stored already: then that one."""
        with self._read() as c:
            row = c.execute("SELECT * FROM datasets WHERE source = ? ORDER BY seq DESC LIMIT 1", (str(source),)).fetchone()
        if row is not None:
            return self._dataset_record(row)
        return self.add_dataset(name, data, source, description)

    def add_image_dataset_once(self, name: str, data: Any, source: str, description: str = "") -> DatasetRecord:
        """``add_image_dataset``, unless an image dataset from the same ``source`` (e.g. an
        upload's content hash and reading options) is stored already: then that one."""
        found = self.find_dataset(source, images=True)
        return found if found is not None else self.add_image_dataset(name, data, source, description)

    def find_dataset(self, source: str, images: bool | None = None) -> DatasetRecord | None:
        """The newest dataset stored from ``source`` (``images``: only image datasets, True,
        or only tables, False), or None."""
        where = "" if images is None else " AND images IS NOT NULL" if images else " AND images IS NULL"
        with self._read() as c:
            row = c.execute(f"SELECT * FROM datasets WHERE source = ?{where} ORDER BY seq DESC LIMIT 1",
                            (str(source),)).fetchone()
        return None if row is None else self._dataset_record(row)

    def _dataset_record(self, row: sqlite3.Row) -> DatasetRecord:
        images = json.loads(row["images"]) if row["images"] else None
        return DatasetRecord(row["id"], row["name"], row["source"], row["description"], row["rows"],
                             tuple(json.loads(row["columns"])), row["created"], self.root / "datasets" / f"{row['id']}.csv",
                             image_shape=tuple(images["shape"]) if images else None)

    def datasets(self) -> list[DatasetRecord]:
        """Every stored dataset, newest first."""
        with self._read() as c:
            return [self._dataset_record(r) for r in c.execute("SELECT * FROM datasets ORDER BY seq DESC")]

    def dataset(self, dataset_id: str) -> DatasetRecord:
        with self._read() as c:
            row = c.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no dataset '{dataset_id}' in workspace {self.root}")
        return self._dataset_record(row)

    def load_dataset(self, dataset_id: str) -> pd.DataFrame:
        """The stored table, as it was added (column names as text)."""
        record = self.dataset(dataset_id)
        try:
            return pd.read_csv(record.path)
        except FileNotFoundError:
            raise WorkspaceError(f"the file of dataset '{record.name}' ({dataset_id}) is missing: {record.path}") from None

    def load_images(self, dataset_id: str) -> Any:
        """A stored image dataset as ``causal.imagedata.ImageData``: the labels as
        ``load_dataset`` gives them, indexed as they were added (e.g. by file name), and
        the uint8 images. ``WorkspaceError`` for a table, or a missing or damaged file."""
        from safetensors import SafetensorError, safe_open

        from causal.imagedata import IMAGE_NODE, ImageData

        record = self.dataset(dataset_id)
        if not record.has_images:
            raise WorkspaceError(f"dataset '{record.name}' ({dataset_id}) is a table without images")
        labels = self.load_dataset(dataset_id)
        try:
            with safe_open(str(record.images_path), framework="numpy") as f:
                meta = f.metadata() or {}
                images = f.get_tensor("images")
        except FileNotFoundError:
            raise WorkspaceError(f"the images of dataset '{record.name}' ({dataset_id}) are missing: "
                                 f"{record.images_path}") from None
        except (SafetensorError, OSError, KeyError) as e:
            raise WorkspaceError(f"the images of dataset '{record.name}' ({dataset_id}) cannot be read from "
                                 f"{record.images_path}: {e}") from None
        if images.dtype != "uint8" or images.ndim != 4 or len(images) != len(labels):
            raise WorkspaceError(f"the images of dataset '{record.name}' ({dataset_id}) in {record.images_path} do not "
                                 f"match its {len(labels)} label rows (shape {images.shape}, {images.dtype})")
        index = json.loads(meta.get("index", "null"))
        if isinstance(index, list) and len(index) == len(labels):
            labels.index = pd.Index(index, name=meta.get("index_name") or None)
        return ImageData(labels, images, image_node=meta.get("image_node", IMAGE_NODE))

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a stored dataset; refused while any run (of any status) uses it."""
        with self._write() as c:
            row = c.execute("SELECT name FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"no dataset '{dataset_id}' in workspace {self.root}")
            users = [r[0] for r in c.execute("SELECT id FROM runs WHERE dataset_id = ? ORDER BY seq", (dataset_id,))]
            if users:
                shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                raise WorkspaceError(
                    f"dataset '{row[0]}' ({dataset_id}) is used by {len(users)} run(s) ({shown}); delete those runs first"
                )
            c.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        (self.root / "datasets" / f"{dataset_id}.csv").unlink(missing_ok=True)
        (self.root / "datasets" / f"{dataset_id}.images.safetensors").unlink(missing_ok=True)

    # ------------------------------------------------------------------ graphs
    def add_graph(self, name: str, graph: CausalGraph | str) -> GraphRecord:
        """Save a graph (a ``CausalGraph`` or text in any syntax it parses) under a name."""
        name = str(name).strip()
        if not name:
            raise WorkspaceError("a graph needs a name")
        g = graph if isinstance(graph, CausalGraph) else CausalGraph.parse(graph)
        graph_id = _new_id()
        with self._write() as c:
            c.execute("INSERT INTO graphs (id, name, graph, created) VALUES (?, ?, ?, ?)", (graph_id, name, g.to_json(), _now()))
        return self.graph(graph_id)

    def graphs(self) -> list[GraphRecord]:
        """Every saved graph, newest first."""
        with self._read() as c:
            return [GraphRecord(r["id"], r["name"], r["graph"], r["created"])
                    for r in c.execute("SELECT * FROM graphs ORDER BY seq DESC")]

    def graph(self, graph_id: str) -> GraphRecord:
        with self._read() as c:
            r = c.execute("SELECT * FROM graphs WHERE id = ?", (graph_id,)).fetchone()
        if r is None:
            raise WorkspaceError(f"no graph '{graph_id}' in workspace {self.root}")
        return GraphRecord(r["id"], r["name"], r["graph"], r["created"])

    def delete_graph(self, graph_id: str) -> None:
        """Delete a saved graph (runs keep their own copy of the graph they trained on)."""
        with self._write() as c:
            if c.execute("DELETE FROM graphs WHERE id = ?", (graph_id,)).rowcount == 0:
                raise WorkspaceError(f"no graph '{graph_id}' in workspace {self.root}")

    # ------------------------------------------------------------------ runs
    def create_run(self, spec: RunSpec, *, pid: int | None = None) -> RunRecord:
        """Check ``spec`` and register it as a queued run (nothing is trained here; a
        ``Runner`` or ``python -m app.worker`` does that). With ``pid``, the run is
        registered as already running in that process (the CLI trains in the foreground),
        so no runner ever claims it.

        Bad specs are refused before anything is saved: an unknown built-in or stored
        dataset, a graph that does not parse or names a node the data lack, an unknown model
        kind or setting.
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
        return self.run(run_id)

    def _checked(self, spec: RunSpec) -> tuple[RunSpec, str | None, str]:
        """The spec with its defaults filled in (built-in rows, graph as JSON), the stored
        dataset's id, and the data's display name."""
        from causal import datasets

        if not isinstance(spec, RunSpec):
            raise WorkspaceError(f"create_run needs a RunSpec, got {type(spec).__name__}")
        if isinstance(spec.seed, bool) or not isinstance(spec.seed, int):
            raise WorkspaceError(f"the training seed must be a whole number, got {spec.seed!r}")
        builtin = spec.builtin
        if spec.images is not None:
            from causal import image_datasets

            info = image_datasets.info(spec.images)  # ValueError listing the image datasets
            n_rows = DEFAULT_BUILTIN_ROWS if spec.n_rows is None else spec.n_rows
            if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
                raise WorkspaceError(f"n_rows must be a positive whole number, got {spec.n_rows!r}")
            if spec.image_size not in (28, 32, 64):
                raise WorkspaceError(f"image_size must be 28, 32 or 64 pixels, got {spec.image_size!r}")
            columns, dataset_id, data_name = info.graph.nodes, None, spec.images
            graph = CausalGraph.parse(spec.graph) if spec.graph.strip() else info.graph
            spec = dataclasses.replace(spec, n_rows=n_rows)
        elif builtin is not None:
            info = datasets.info(builtin)  # ValueError listing the built-in datasets
            n_rows = DEFAULT_BUILTIN_ROWS if spec.n_rows is None else spec.n_rows
            if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
                raise WorkspaceError(f"n_rows must be a positive whole number, got {spec.n_rows!r}")
            columns, dataset_id, data_name = info.graph.nodes, None, builtin
            graph = CausalGraph.parse(spec.graph) if spec.graph.strip() else info.graph
            spec = dataclasses.replace(spec, n_rows=n_rows)
        else:
            record = self.dataset(spec.data)
            if spec.n_rows is not None:
                raise WorkspaceError(f"n_rows applies to built-in datasets only; dataset '{record.name}' is used whole")
            if not spec.graph.strip():
                raise WorkspaceError(f"a run on dataset '{record.name}' needs a causal graph over its columns")
            columns, dataset_id, data_name = record.columns, record.id, record.name
            graph = CausalGraph.parse(spec.graph)
            if record.has_images:
                try:
                    graph = image_graph(graph)
                except ValueError as e:
                    raise WorkspaceError(f"a run on the image dataset '{record.name}' needs the image node: {e}") from None
            elif any(graph.kind(n) == "image" for n in graph.nodes):
                raise WorkspaceError(f"dataset '{record.name}' is a table without images; the graph's image node "
                                     f"({', '.join(n for n in graph.nodes if graph.kind(n) == 'image')}) needs an image dataset")
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

    def _run_record(self, r: sqlite3.Row) -> RunRecord:
        spec = RunSpec.from_dict(json.loads(r["spec"]))
        progress = ProgressRow(**json.loads(r["progress"])) if r["progress"] else None
        return RunRecord(
            id=r["id"], name=r["name"], spec=spec, status=r["status"], created=r["created"], started=r["started"],
            finished=r["finished"], progress=progress, report=json.loads(r["report"]) if r["report"] else None,
            metrics=json.loads(r["metrics"] or "{}"), error=r["error"],
            checkpoint_dir=self.root / "runs" / r["id"] / "model", pid=r["pid"], host=r["host"],
            heartbeat=r["heartbeat"], proc_start=r["proc_start"], cancel_requested=bool(r["cancel_requested"]),
            data_name=spec.builtin or spec.images or r["dataset_name"] or spec.data,
        )

    def runs(self, status: str | Iterable[str] | None = None) -> list[RunRecord]:
        """Runs, newest first; ``status`` keeps only runs in that status (or those statuses)."""
        wanted = [status] if isinstance(status, str) else list(status) if status is not None else []
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise WorkspaceError(f"unknown run status {', '.join(map(repr, bad))}; the statuses are {', '.join(STATUSES)}")
        where = f" WHERE r.status IN ({', '.join('?' * len(wanted))})" if wanted else ""
        with self._read() as c:
            rows = c.execute(f"{_RUN_SELECT}{where} ORDER BY r.seq DESC", wanted).fetchall()
        return [self._run_record(r) for r in rows]

    def run(self, run_id: str) -> RunRecord:
        """One run, by its id or a unique prefix of it."""
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
        return self._run_record(row)

    def delete_run(self, run_id: str) -> None:
        """Delete a run, its history and its folder (checkpoint, exports, log); refused while
        it is running (cancel it first)."""
        run_id = self.run(run_id).id
        with self._write() as c:
            row = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"no run '{run_id}' in workspace {self.root}")
            if row[0] == "running":
                raise WorkspaceError(f"run {run_id} is running; cancel it first ('counterfactory runs cancel {run_id}')")
            c.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.root / "runs" / run_id, ignore_errors=True)

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
        run_id = self.run(run_id).id
        with self._write() as c:
            status = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            if status == "queued":
                c.execute("UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished = ? WHERE id = ?", (_now(), run_id))
            elif status == "running":
                c.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            else:
                raise WorkspaceError(f"run {run_id} has already finished ({status}); there is nothing to cancel")
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
            return cur.rowcount == 1

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

    # ------------------------------------------------------------------ models and exports
    def load_model(self, run_id: str) -> Any:
        """The run's model, from its checkpoint (the best so far while it is running)."""
        from generators import CheckpointError, load_model

        run = self.run(run_id)
        if not run.has_checkpoint:
            state = {"queued": "it has not started yet", "running": "it has not saved one yet; try again in a moment"}
            why = state.get(run.status, f"it {run.status} before saving one")
            raise WorkspaceError(f"run {run.id} has no checkpoint: {why}")
        for attempt in range(3):
            try:
                return load_model(run.checkpoint_dir)
            except CheckpointError:
                # a running worker may be between writing the weights and their metadata
                if run.status != "running" or attempt == 2:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def export_samples(
        self,
        run_id: str,
        n: int,
        do: Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> Path:
        """Draw ``n`` rows from the run's model (observational, ``do`` and/or ``given``) and
        write them as ``runs/<id>/exports/<time>-<query>.csv`` with a JSON manifest beside
        it (run, spec, query, time, library versions): the export's provenance."""
        run = self.run(run_id)
        model = self.load_model(run.id)
        df = model.sample(n, do=dict(do) if do else None, given=dict(given) if given else None, seed=seed)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        query = "-".join(k for k, v in (("do", do), ("given", given)) if v) or "observational"
        path = run.folder / "exports" / f"{stamp}-{query}.csv"
        _write_atomically(path, lambda tmp: df.to_csv(tmp, index=False))
        manifest = {
            "file": path.name,
            "rows": len(df),
            "columns": list(df.columns),
            "created": _now(),
            "run": {"id": run.id, "name": run.name, "status": run.status, "spec": run.spec.to_dict(),
                    "report": {k: v for k, v in (run.report or {}).items() if k != "history"}},
            "query": {"n": n, "do": dict(do or {}), "given": dict(given or {}), "seed": seed},
            "acceptance_rate": df.attrs.get("acceptance_rate"),
            "versions": _versions(),
        }
        _write_atomically(path.with_suffix(".json"),
                          lambda tmp: tmp.write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n"))
        return path


def _versions() -> dict[str, str]:
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("counterfactory", "torch", "numpy", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].__version__
    return out
