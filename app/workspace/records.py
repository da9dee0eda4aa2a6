"""The workspace's records: what it stores about a dataset, a graph and a training run (the
run's spec and its progress), the run statuses, and ``WorkspaceError``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from causal import CausalGraph

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
BUILTIN = "builtin:"
IMAGES = "images:"  # a built-in image dataset (causal.images), drawn at RunSpec.image_size
DEFAULT_BUILTIN_ROWS = 5000  # rows drawn from a built-in dataset when a spec gives no n_rows


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
