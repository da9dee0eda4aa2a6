"""The ``train`` command: a model on a built-in dataset, a CSV, built-in images or an image
folder, saved to a folder or trained as a workspace run (also under ``torchrun``); its
``--set`` settings typed like the model's config defaults. The flags make one ``RunSpec``,
trained through ``app.jobs`` like every other training."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from app.cli.common import PROG, UsageError, _generators, _pairs, _read_text, _workspace
from causal import CausalGraph, DataError, MissingRows
from causal.sources import DEFAULT_ROWS, BuiltinImages, BuiltinTable, DataSource, ImageFolder, TableFile

STOP_REASONS = {
    "schedule_done": "ran its full learning-rate schedule (set its length with --set steps=N)",
    "converged": "validation loss stopped improving",
    "settled": "every mechanism became a least-squares rival that agrees with its network: "
               "more steps could not change the model (train the full schedule with --set settle_from=none)",
    "max_epochs": "reached max_epochs (raise it with --set max_epochs=N)",
    "time_limit": "reached the max_seconds time budget",
    "cancelled": "cancelled",
    "counted": "every mechanism is a table counted from the data (each parent configuration well populated): nothing to train",
}


# ---------------------------------------------------------------------- settings
def _settings(items: Sequence[str] | None, kind: str, preset: str | None = None) -> dict[str, Any]:
    """``--set key=value`` pairs, typed like the defaults of the model's settings
    (``generators.parse_settings``, which names an unknown or badly typed one), over the
    settings of ``--preset`` (written out, so that the run records values, not a name)."""
    raw = _pairs(items, "--set", "KEY")
    if "train" in raw:
        raise UsageError("set training options one by one, e.g. --set max_epochs=50 --set lr=0.001")
    try:
        named = _generators().preset_settings(kind, preset)
    except ValueError as e:
        raise UsageError(f"--preset: {e}") from None
    return {**named, **_generators().parse_settings(kind, raw)}


# ---------------------------------------------------------------------- training
def _progress_printer(stream: Any, every: float = 1.0) -> Callable[[Any], None]:
    """A fit callback printing one line for the first epoch, then at most one per ``every`` s."""
    last = -math.inf

    def show(p: Any) -> None:
        nonlocal last
        now = time.monotonic()
        if p.epoch == 1 or now - last >= every:
            last = now
            print(
                f"epoch {p.epoch}/{p.max_epochs}  train {p.train_loss:.4f}  val {p.val_loss:.4f}  "
                f"best {p.best_val_loss:.4f}  lr {p.lr:.1e}  {p.elapsed:.1f}s",
                file=stream,
                flush=True,
            )

    return show


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM during training ends it like Ctrl-C (a workspace run as cancelled, the best
    weights so far kept), with exit code 143."""
    from app.worker import Terminated

    raise Terminated()


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model; under ``torchrun`` on every process of the group (``generators.distributed``).
    SIGTERM stops it like Ctrl-C (``Terminated``)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        # imported before the handler can run: a handler that imports app.worker while this
        # thread is half-way through importing app.jobs fails with an ImportError instead; and
        # the models (torch) too: a Terminated raised half-way through importing torch left an
        # interpreter that aborted at exit (SIGABRT) instead of ending by the signal
        import app.worker  # noqa: F401
        import generators  # noqa: F401

        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return _train_any(args)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return _train_any(args)


def _train_any(args: argparse.Namespace) -> int:
    from generators import distributed

    if not distributed.init_from_env():
        return _train(args)
    if args.workspace_run:
        raise UsageError("--workspace-run trains in one process; under torchrun, train with --out DIR "
                         "(the checkpoint loads like any other)")
    if not distributed.is_main():  # rank 0 reports and writes; the others only train
        args.quiet = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process
    else:
        print(f"distributed: {distributed.world_size()} processes ({'nccl' if distributed.local_device() else 'gloo'})",
              file=sys.stderr)
    try:
        return _train(args)
    finally:
        distributed.shutdown()


def _train(args: argparse.Namespace) -> int:
    from app import jobs
    from app.workspace import RunSpec

    if args.data is not None and args.rows is not None:
        raise UsageError("-n/--rows applies to --dataset and --images only; trim the CSV to train on fewer rows")
    if args.size is not None and args.images is None and args.image_folder is None:
        raise UsageError("--size applies to --images and --image-folder only")
    if (args.labels is not None or args.image_column != "file") and args.image_folder is None:
        raise UsageError("--labels and --image-column apply to --image-folder only")
    if args.workspace_run and args.overwrite:
        raise UsageError("--overwrite applies to --out only; a workspace run always gets a new folder")
    if args.name is not None and not args.workspace_run:
        raise UsageError("--name names a workspace run; add --workspace-run")
    if args.image_folder is not None and args.workspace_run:
        raise UsageError("--workspace-run takes built-in datasets; train on an image folder with --out DIR")
    source = _source(args)
    graph = _graph(args, source)
    jobs.check_kind(args.model, graph)
    spec = RunSpec(source, graph=graph.to_json(), kind=args.model, settings=_settings(args.set, args.model, args.preset),
                   seed=args.seed, name=args.name or "")
    if (args.drop_missing or args.missing_marker) and not isinstance(source, TableFile):
        raise UsageError("--drop-missing and --missing-marker apply to --data only")
    try:
        data, graph = jobs.load_inputs(spec, drop_extra=args.drop_extra)
    except jobs.ExtraColumnsError as e:
        raise DataError(f"{e} (--drop-extra drops them)") from None
    gaps = (MissingRows.from_dict(data.attrs["missing_rows"])
            if isinstance(source, TableFile) and source.missing == "drop" else None)
    if gaps is not None:
        print(f"{source.path}: {gaps.describe()}", file=sys.stderr)
    _generators().make_config(spec.kind, **spec.settings)  # a bad setting is refused before anything is printed
    short, full = _described(source, data, graph)
    if args.workspace_run:
        return _train_workspace_run(args, spec, short, full, data if gaps is not None else None, gaps)
    return _train_to_out(args, spec, data, graph, short, full)


def _source(args: argparse.Namespace) -> DataSource:
    """The data the flags name (rows drawn from a built-in dataset with the training seed)."""
    if getattr(args, "lossy", None) is not None and args.images is None:
        raise UsageError("--lossy measures a built-in image dataset: use it with --images NAME")
    if args.images is not None:
        return BuiltinImages(args.images, rows=args.rows or DEFAULT_ROWS, seed=args.seed, size=args.size or 32,
                             lossy=getattr(args, "lossy", None) or "none")
    if args.image_folder is not None:
        return ImageFolder(args.image_folder, labels=args.labels, image_column=args.image_column, size=args.size)
    if args.dataset is not None:
        return BuiltinTable(args.dataset, rows=args.rows or DEFAULT_ROWS, seed=args.seed)
    return TableFile(args.data, missing="drop" if args.drop_missing else "error", markers=tuple(args.missing_marker or ()))


def _graph(args: argparse.Namespace, source: DataSource) -> CausalGraph:
    """--graph or --graph-file, else the built-in dataset's own; an image folder's must name
    the image node."""
    if args.graph is not None:
        graph = CausalGraph.parse(args.graph)
    elif args.graph_file is not None:
        graph = CausalGraph.parse(_read_text(args.graph_file))
    else:
        graph = source.graph
    if isinstance(source, ImageFolder):
        from causal.images import IMAGE_NODE, image_graph

        if graph is None:
            raise UsageError(f"--image-folder needs a causal graph over the labels and the image node '{IMAGE_NODE}', "
                             f"e.g. --graph 'age -> smile; age -> {IMAGE_NODE}; smile -> {IMAGE_NODE}'")
        return image_graph(graph)
    if graph is None:
        raise UsageError("--data needs a causal graph: pass --graph 'a -> b; b -> c' or --graph-file FILE")
    return graph


def _described(source: DataSource, data: Any, graph: CausalGraph) -> tuple[str, str]:
    """The data as the messages name them: briefly ("trained ... on") and in full, with the
    graph ("training ... on")."""
    if isinstance(source, BuiltinImages):
        return (f"image dataset '{source.name}'",
                f"{source.rows:,} {source.size} px images of '{source.name}', graph {graph.to_text()}")
    if isinstance(source, ImageFolder):
        short = f"{len(data):,} images from {source.path}"
        return short, f"{short} ({data.size} px, {data.channels} channel(s)), graph {graph.to_text()}"
    short = f"dataset '{source.name}'" if isinstance(source, BuiltinTable) else source.describe()
    return short, f"{short}: {len(data):,} rows, graph {graph.to_text()}"


def _train_to_out(args: argparse.Namespace, spec: Any, data: Any, graph: CausalGraph, short: str, full: str) -> int:
    """Train into ``--out`` (refusing to replace a model without --overwrite), with progress
    on stderr and the summary on stdout (rank 0 only under torchrun)."""
    from app import jobs
    from generators import distributed

    import contextlib

    from generators.checkpoint import folder_lock

    out = Path(args.out)
    # the folder is locked first: a second training into it is refused, never silently overwrites
    with folder_lock(out) if distributed.is_main() else contextlib.nullcontext():
        if (out / "model.json").exists() and not args.overwrite:
            raise UsageError(f"{out} already holds a model; pass --overwrite to replace it, or choose another --out")
        if distributed.is_main():
            print(f"training {spec.kind} on {full}", file=sys.stderr)
        # checkpoint_dir: the best model so far is saved during training (atomically) and at the end
        model, report = jobs.fit(spec, data, graph, checkpoint_dir=out,
                                 callbacks=[] if args.quiet else [_progress_printer(sys.stderr)])
    _print_trained(model.kind, short, report.to_dict(), out)
    choices = getattr(model, "mechanism_choices", None)
    if choices is not None:  # what the per-node mechanism selection chose
        print("mechanisms: " + "; ".join(f"{n} {c}" for n, c in choices().items()))
    from app.logic.runs import variety_note

    note = variety_note(model)
    if note:  # what CausalGAN's mode-seeking gate did
        print(note)
    return 0


def _print_trained(kind: str, source: str, r: dict[str, Any], saved: Path) -> None:
    print(f"trained {kind} on {source} ({r['n_train']:,} training rows, {r['n_val']:,} validation rows)")
    print(f"epochs: {r['epochs']} (best {r['best_epoch']}, validation loss {r['best_val_loss']:.4g})")
    print(f"time: {r['seconds']:.1f} s on {r['device']}")
    print(f"stopped: {r['stopped']}: {STOP_REASONS.get(r['stopped'], r['stopped'])}")
    print(f"saved to: {saved}")


def _train_workspace_run(args: argparse.Namespace, spec: Any, short: str, full: str, kept: Any = None,
                         gaps: Any = None) -> int:
    """Register the run in the workspace (a CSV is stored in it first: the file, or with
    --drop-missing the table ``kept`` that was checked, its rows with gaps left out as
    ``gaps`` says), then train it here, in the foreground, exactly as a background worker
    would: the app shows its progress and can cancel it."""
    from app.worker import execute
    from app.workspace import StoredDataset

    ws = _workspace(args)
    if isinstance(spec.source, TableFile):
        path = Path(spec.source.path)
        if kept is None:
            stored = ws.add_dataset(path.name, spec.source.load(), source=str(path.resolve()))
        else:  # the stored table is the one trained on
            stored = ws.add_dataset(path.name, kept, source=f"{path.resolve()}|drop-missing",
                                    description=f"{path} ({gaps.describe()})")
        spec = dataclasses.replace(spec, source=StoredDataset(stored.id))
    run = ws.create_run(spec, pid=os.getpid())  # running here: no runner may claim it
    callbacks = [] if args.quiet else [_progress_printer(sys.stderr)]
    print(f"training {spec.kind} on {full}", file=sys.stderr)
    print(f"run {run.id} in workspace {ws.root}", file=sys.stderr)
    done = execute(ws, run.id, callbacks=callbacks)
    if done.report is not None:
        _print_trained(spec.kind, short, done.report, done.checkpoint_dir)
    print(f"run: {done.id} ({done.status}); use it as run:{done.id}, e.g. {PROG} sample run:{done.id}"
          + (" --grid g.png" if done.has_images else ""))
    return 0
