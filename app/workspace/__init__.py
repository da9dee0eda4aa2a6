"""The persistent workspace: a folder holding an SQLite registry of datasets, graphs and
training runs, and their files (dataset CSVs, the images of image datasets as safetensors,
checkpoints, exports with a manifest).

The app, the CLI, worker processes and scripts share one workspace at the same time: every
operation opens its own short-lived connection (WAL mode, a busy timeout, foreign keys), and
every write is one short ``BEGIN IMMEDIATE`` transaction, so readers never block writers and
writers queue instead of failing with "database is locked".

>>> import tempfile
>>> from causal import CausalGraph
>>> from causal.sources import BuiltinTable
>>> ws = Workspace(tempfile.mkdtemp())
>>> g = ws.add_graph("triangle", CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3"))
>>> ws.graph(g.id).graph.to_text()
'x1 -> x2; x1 -> x3; x2 -> x3'
>>> run = ws.create_run(RunSpec(BuiltinTable("triangle-lin", rows=300), settings={"hidden": 8, "steps": 60}))
>>> run.status, run.spec.kind
('queued', 'causal-gen')
"""

from __future__ import annotations

import os
from pathlib import Path

from app.workspace.db import DB_NAME, ENV_WORKSPACE, SCHEMA_VERSION, default_root, process_start
from app.workspace.graphs import GraphStore
from app.workspace.models import ModelStore
from app.workspace.records import ACTIVE, STATUSES, DatasetRecord, GraphRecord, ProgressRow, RunRecord, RunSpec
from app.workspace.records import StoredDataset, WorkspaceError
from app.workspace.rebuild import RebuildReport, rebuild

__all__ = [
    "Workspace", "WorkspaceError", "RunSpec", "RunRecord", "StoredDataset", "DatasetRecord", "GraphRecord",
    "ProgressRow", "STATUSES", "ACTIVE", "ENV_WORKSPACE", "SCHEMA_VERSION", "default_root", "process_start",
    "rebuild", "RebuildReport",
]


class Workspace(GraphStore, ModelStore):
    """A workspace folder: ``counterfactory.db`` plus ``datasets/`` and ``runs/<id>/``.

    ``root`` defaults to ``default_root()`` (``$COUNTERFACTORY_WORKSPACE``, else the user's data folder); it is created
    when missing. Instances hold no open connection and are safe to share between threads.
    Its methods come from one class per concern: ``DatasetStore`` (``app.workspace.datasets``),
    ``GraphStore``, ``RunStore`` and ``ModelStore`` (loading models, exports), all on the
    ``Database`` plumbing of ``app.workspace.db``.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root if root is not None else default_root()).expanduser().resolve()
        try:
            if self.root.exists() and not self.root.is_dir():
                raise FileExistsError(self.root)
            for sub in ("datasets", "runs", "graphs"):
                if not (self.root / sub).is_dir():
                    (self.root / sub).mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise WorkspaceError(f"workspace {self.root} is a file, not a folder; choose another --workspace") from None
        except PermissionError:
            if not self.root.is_dir():
                raise WorkspaceError(f"cannot create workspace {self.root}: permission denied; choose another --workspace") from None
        except OSError as e:  # a read-only file system: opened read-only below if it holds a workspace
            if not self.root.is_dir():
                raise WorkspaceError(f"cannot create workspace {self.root}: {e.strerror}; choose another --workspace") from None
        self.db_path = self.root / DB_NAME
        self._open()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"
