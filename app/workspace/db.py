"""The workspace's database plumbing: where the workspace is, short-lived SQLite connections
(WAL mode, a busy timeout, foreign keys), one-transaction writes, the schema and its
migration, and the small helpers every record's writer uses (ids, times, JSON, atomic files)."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from app.workspace.records import WorkspaceError

ENV_WORKSPACE = "COUNTERFACTORY_WORKSPACE"
SCHEMA_VERSION = 2  # 2: datasets.images (the image shape of a dataset with images)
BUSY_TIMEOUT = 10.0  # seconds a connection waits for another writer before giving up
DB_NAME = "counterfactory.db"
_ID_EPOCH_MS = 1_704_067_200_000  # 2024-01-01: ids are base-36 milliseconds since then
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def default_root() -> Path:
    """``$COUNTERFACTORY_WORKSPACE``, else ``./workspace``."""
    return Path(os.environ.get(ENV_WORKSPACE) or "workspace")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


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


def _write_atomically(path: Path, write: Any) -> None:
    """``write(tmp_path)``, then rename over ``path``: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


class Database:
    """The workspace's SQLite database (``db_path``, in the folder ``root``): short-lived
    connections, one-transaction writes and the schema's migration. Every concern of
    ``Workspace`` builds on it."""

    root: Path
    db_path: Path

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
