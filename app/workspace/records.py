"""The workspace's records: what it stores about a dataset, a graph and a training run (the
run's spec and its progress), the workspace's own data source (``StoredDataset``), the run
statuses, and ``WorkspaceError``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from causal import CausalGraph
from causal.sources import DEFAULT_ROWS, BuiltinImages, BuiltinTable, DataSource, source_from_dict

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")


class WorkspaceError(ValueError):
    """A workspace request that cannot be honoured: an unknown id, a refused delete, a run
    without a checkpoint. The message names the record and what to do."""


def _parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


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
class StoredDataset(DataSource):
    """A dataset stored in a workspace, by its id: a table, or an image dataset (labels and
    images). It loads through its workspace (``app.jobs.load_inputs(spec, workspace)``)."""

    kind: ClassVar[str] = "stored"
    id: str

    def load(self) -> Any:
        raise WorkspaceError(f"dataset '{self.id}' is stored in a workspace; load it through the workspace "
                             "(app.jobs.load_inputs(spec, workspace))")

    @property
    def name(self) -> str:
        return self.id

    def describe(self) -> str:
        return f"stored dataset '{self.id}'"


SOURCES = {StoredDataset.kind: StoredDataset}  # the workspace's own kinds of source (``source_from_dict(extra=)``)


@dataclass(frozen=True)
class RunSpec:
    """What to train: the data (a ``causal.sources`` source, or a ``StoredDataset``), the
    graph, the model kind and its settings, the seed.

    ``graph`` is graph text or JSON; empty means the source's own graph (a built-in
    dataset's). ``settings`` are ``generators.build_model`` settings (model and training:
    ``hidden``, ``steps``, ``max_epochs``, ``lr``...).

    >>> spec = RunSpec(BuiltinTable("triangle-lin", rows=300), settings={"hidden": 8})
    >>> RunSpec.from_dict(spec.to_dict()) == spec
    True
    """

    source: DataSource
    _: KW_ONLY
    graph: str = ""
    kind: str = "causal-gen"
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0  # seeds training
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the source as a tagged dict (``{"kind": "builtin", ...}``)."""
        return {**dataclasses.asdict(self), "source": self.source.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        """What ``to_dict`` wrote; also a spec stored before sources were typed (``data``:
        ``"builtin:<name>"``, ``"images:<name>"`` or a dataset id, with ``n_rows``,
        ``data_seed`` and ``image_size``), so older workspaces still open."""
        source = source_from_dict(d["source"], extra=SOURCES) if "source" in d else _old_source(d)
        known = {f.name for f in dataclasses.fields(cls)} - {"source"}
        return cls(source, **{k: v for k, v in d.items() if k in known})


def _old_source(d: Mapping[str, Any]) -> DataSource:
    """The source of a spec in the format before sources were typed."""
    data, rows, seed = str(d["data"]), d.get("n_rows") or DEFAULT_ROWS, d.get("data_seed", 0)
    if data.startswith("builtin:"):
        return BuiltinTable(data[len("builtin:"):], rows=rows, seed=seed)
    if data.startswith("images:"):
        return BuiltinImages(data[len("images:"):], rows=rows, seed=seed, size=d.get("image_size", 32))
    return StoredDataset(data)


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
    data_name: str  # the built-in dataset's or the stored dataset's name (its id once deleted)

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

    @property
    def truth(self) -> Any:
        """The true SCM its data were drawn from (a built-in dataset's) when the run's graph
        has that dataset's nodes; else None (also for a built-in dataset this version lacks)."""
        source = self.spec.source
        try:
            graph = source.graph
        except ValueError:
            return None
        if graph is None or set(self.graph.nodes) != set(graph.nodes):
            return None
        return source.truth
