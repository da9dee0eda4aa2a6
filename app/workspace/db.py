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
RUN_FILE = "run.json"  # runs/<id>/run.json: a run's record beside its files (to rebuild the registry from)
_ID_EPOCH_MS = 1_704_067_200_000  # 2024-01-01: ids are base-36 milliseconds since then
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def default_root() -> Path:
    """The workspace the app, the CLI and Python share unless told otherwise:
    ``$COUNTERFACTORY_WORKSPACE``, else ``counterfactory/workspace`` in the user's data
    folder (the same wherever a command runs): ``$XDG_DATA_HOME`` or ``~/.local/share`` on
    Linux, ``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows.

    >>> default_root().parts[-2:]  # doctest: +SKIP
    ('counterfactory', 'workspace')
    """
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env).expanduser()
    return user_data_dir() / "counterfactory" / "workspace"


def user_data_dir() -> Path:
    """The platform's folder for a user's application data (what ``platformdirs`` calls
    ``user_data_dir``, in the few lines needed here)."""
    import sys

    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"  # the XDG spec ignores a relative path


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


REBUILD_HINT = "counterfactory runs rebuild"  # the command that rebuilds a registry from its folders
_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_READONLY = {8, 14}  # SQLITE_READONLY, SQLITE_CANTOPEN (a read-only folder cannot hold the WAL files)


def _code(e: sqlite3.Error) -> int:
    return getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary result code


class Database:
    """The workspace's SQLite database (``db_path``, in the folder ``root``): short-lived
    connections, one-transaction writes and the schema's migration. Every concern of
    ``Workspace`` builds on it.

    A workspace whose folder or database cannot be written opens *read-only*
    (``readonly``): it lists, loads and samples; every write is a ``WorkspaceError`` that
    says so. A damaged database, or an empty one beside run folders, is a
    ``WorkspaceError`` that says how to rebuild the registry from the folders
    (``app.workspace.rebuild``), never a traceback nor a silently empty registry."""

    root: Path
    db_path: Path
    readonly: bool = False
    _immutable: bool = False  # read-only and the WAL files cannot be made: read the file as it is

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.readonly:
                flags = "immutable=1" if self._immutable else "mode=ro"
                con = sqlite3.connect(f"{self.db_path.as_uri()}?{flags}", uri=True, timeout=BUSY_TIMEOUT,
                                      isolation_level=None)
            else:
                con = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode: never corrupts, may lose the last commit on power loss
        except sqlite3.Error as e:
            raise self._failure(e) from None
        return con

    def _failure(self, e: sqlite3.Error) -> Exception:
        """The error to raise for an SQLite failure: a ``WorkspaceError`` that says what is
        wrong and what to do for a damaged database or a read-only one; else ``e`` itself
        (a lock held past the busy timeout)."""
        code = _code(e)
        if code in _CORRUPT:
            return WorkspaceError(
                f"the workspace database {self.db_path} is damaged ({e}); the run folders hold everything needed to "
                f"rebuild it: run '{REBUILD_HINT} --workspace {self.root}' (the damaged file is kept beside it)")
        if code in _READONLY:
            return WorkspaceError(f"the workspace database {self.db_path} cannot be written ({e}): {self._readonly_why()}")
        return e

    def _readonly_why(self) -> str:
        return ("a read-only workspace can be listed and its models sampled, not changed; fix its permissions or copy "
                "it somewhere writable")

    def _require_writable(self) -> None:
        if self.readonly:
            raise WorkspaceError(f"workspace {self.root} is read-only: {self._readonly_why()}")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        except sqlite3.DatabaseError as e:
            failure = self._failure(e)
            if failure is e:
                raise
            raise failure from None
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction. ``BEGIN IMMEDIATE`` takes the write lock up front,
        so a transaction that reads and then writes never fails on a lock upgrade."""
        self._require_writable()
        con = self._connect()
        try:
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                failure = self._failure(e)
                if failure is e:
                    raise
                raise failure from None
        finally:
            con.close()

    def _open(self) -> None:
        """Open the database: read-only when the folder or the file cannot be written,
        refusing (with the way out) a damaged one, or an empty one beside run folders;
        else create or migrate its schema."""
        exists = self.db_path.exists()
        writable = os.access(self.root, os.W_OK) and (not exists or os.access(self.db_path, os.W_OK))
        if not writable:
            self._open_readonly(exists)
            return
        try:
            self._migrate()
        except WorkspaceError as e:
            if "cannot be written" not in str(e):
                raise
            self._open_readonly(exists)

    def _open_readonly(self, exists: bool) -> None:
        if not exists:
            raise WorkspaceError(f"workspace {self.root} has no database ({DB_NAME}) and its folder is read-only; "
                                 "choose a writable folder")
        self.readonly = True
        try:
            self._check_registry()
        except WorkspaceError as e:
            if "cannot be written" not in str(e):
                raise
            self._immutable = True  # no -wal/-shm and a read-only folder: read the file itself
            self._check_registry()

    def _check_registry(self) -> int:
        """The schema version of the registry, after checking it can be read; refuses an
        empty registry beside run folders or datasets (they would be orphaned)."""
        with self._read() as c:
            has_meta = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if has_meta else None
        version = int(row[0]) if row else 0
        if version == 0:
            found = _orphans(self.root)
            if found:
                raise WorkspaceError(
                    f"the workspace database {self.db_path} is empty or missing but {self.root} holds {found}: "
                    f"rebuild the registry from them with '{REBUILD_HINT} --workspace {self.root}'")
            if self.readonly:
                raise WorkspaceError(f"workspace {self.root} has an empty database and is read-only; choose a writable folder")
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"workspace {self.root} was written by a newer Counterfactory (schema {version}, this one "
                f"knows {SCHEMA_VERSION}); upgrade Counterfactory to open it"
            )
        if self.readonly and version < SCHEMA_VERSION:
            raise WorkspaceError(f"workspace {self.root} was written by an older Counterfactory (schema {version}) and is "
                                 "read-only, so it cannot be upgraded; open it once where it can be written")
        return version

    def _migrate(self, allow_orphans: bool = False) -> None:
        if not allow_orphans:
            self._check_registry()
        con = self._connect()
        try:
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.Error as e:
            failure = self._failure(e)
            raise failure from None
        finally:
            con.close()
        if str(mode).lower() != "wal":
            raise WorkspaceError(f"the workspace database {self.db_path} cannot use WAL mode (journal mode {mode}); "
                                 "put the workspace on a local disk")
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


def _orphans(root: Path) -> str:
    """What a workspace folder holds that its registry would list ("3 run folders and 2
    datasets"), or "" when nothing."""
    runs = [p for p in (root / "runs").glob("*") if p.is_dir() and not p.name.startswith(".")] if (root / "runs").is_dir() else []
    data = list((root / "datasets").glob("*.csv")) if (root / "datasets").is_dir() else []
    parts = [f"{len(runs)} run folder(s)" if runs else "", f"{len(data)} dataset(s)" if data else ""]
    return " and ".join(p for p in parts if p)
