"""One way to train: a run spec's data loaded and checked against its graph
(``load_inputs``), then the model its kind and settings name fitted with a checkpoint folder,
callbacks and cancellation (``fit``). A workspace run (``app.worker.execute``) and the CLI's
``train --out`` both train through here."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable

from app.workspace import RunSpec, StoredDataset, Workspace, WorkspaceError
from causal import CausalGraph, DataError, validate_table
from causal.sources import BuiltinImages, BuiltinTable, DataSource, ImageFolder, TableFile

__all__ = ["load_inputs", "fit", "check_kind", "ExtraColumnsError"]


class ExtraColumnsError(DataError):
    """The data have columns the graph lacks, and nothing else wrong (``load_inputs`` with
    ``drop_extra=False``)."""


def load_inputs(spec: RunSpec, workspace: Workspace | None = None, *, drop_extra: bool = True) -> tuple[Any, CausalGraph]:
    """The spec's training data and its graph (``spec.graph``, else the source's own): a
    table checked against the graph (the graph's columns, in canonical order), or an image
    dataset's ``ImageData`` with its labels checked (a built-in image dataset's as drawn).
    Columns the graph lacks are dropped; with ``drop_extra=False`` they are an
    ``ExtraColumnsError`` when nothing else is wrong. A ``StoredDataset`` loads from
    ``workspace``."""
    from causal.images import ImageData

    source = spec.source
    graph = CausalGraph.parse(spec.graph) if spec.graph.strip() else source.graph
    if graph is None:
        raise DataError(f"training on {source.describe()} needs a causal graph over its columns")
    if isinstance(source, StoredDataset):
        if workspace is None:
            raise WorkspaceError(f"{source.describe()} loads through its workspace; pass it to load_inputs")
        record = workspace.dataset(source.id)
        data = workspace.load_images(record.id) if record.has_images else workspace.load_dataset(record.id)
        what = f"the labels of dataset '{record.name}'" if record.has_images else f"dataset '{record.name}'"
    else:
        data = source.load()
        if isinstance(source, BuiltinImages):  # labels drawn for the dataset's own graph; the model checks them
            return data, graph
        what = _named(source)
    if isinstance(data, ImageData):
        return data.with_labels(_checked(data.labels, graph, drop_extra, what)), graph
    missing = source.missing if isinstance(source, TableFile) else "error"
    return _checked(data, graph, drop_extra, what, missing), graph


def _named(source: DataSource) -> str:
    """How a check's error names the data."""
    if isinstance(source, BuiltinTable):
        return f"dataset '{source.name}'"
    if isinstance(source, ImageFolder):
        return f"the labels CSV of {source.path}"
    return source.describe()  # a CSV file: its path


def _checked(table: Any, graph: CausalGraph, drop_extra: bool, what: str, missing: str = "error") -> Any:
    try:
        return validate_table(table, graph, extra="drop" if drop_extra else "error", source=what, missing=missing)
    except DataError as e:
        if drop_extra:
            raise
        validate_table(table, graph, extra="drop", source=what, missing=missing)  # any other problem is reported as it is
        raise ExtraColumnsError(str(e)) from None


def check_kind(kind: str, graph: CausalGraph) -> None:
    """A ``ValueError`` unless model kind ``kind`` trains on the graph's data (a graph with an
    image node: image models only)."""
    from generators import kinds_for

    if any(graph.kind(n) == "image" for n in graph.nodes) and kind not in kinds_for(graph):
        raise ValueError(f"model kind '{kind}' does not train on images; use one of {', '.join(kinds_for(graph))}")


def fit(
    spec: RunSpec,
    data: Any,
    graph: CausalGraph,
    *,
    checkpoint_dir: str | os.PathLike,
    callbacks: Iterable[Callable[[Any], Any]] = (),
    cancel: threading.Event | None = None,
) -> tuple[Any, Any]:
    """Build the model ``spec.kind`` names for ``graph``, with ``spec.settings``, and fit it
    on ``data`` (``load_inputs``) with seed ``spec.seed``: the best weights so far are saved
    in ``checkpoint_dir`` during training (atomically) and at the end; each epoch's
    ``Progress`` goes to ``callbacks``; setting ``cancel`` stops it with its best weights.
    The folder is locked while it trains (``generators.checkpoint.folder_lock``): another
    training into it is refused with ``CheckpointError``. Under ``torchrun`` every process
    calls it (``generators.distributed``). Returns the model and its ``FitReport``."""
    import contextlib

    from generators import build_model, distributed
    from generators.checkpoint import folder_lock

    check_kind(spec.kind, graph)
    model = build_model(spec.kind, graph, **spec.settings)
    # one training per folder: a second one is refused instead of overwriting this one's model
    with folder_lock(checkpoint_dir) if distributed.is_main() else contextlib.nullcontext():
        report = model.fit(data, seed=spec.seed, callbacks=list(callbacks), cancel=cancel, checkpoint_dir=checkpoint_dir)
    return model, report
