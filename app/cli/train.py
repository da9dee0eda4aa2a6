"""The ``train`` command: a model on a built-in dataset, a CSV, built-in images or an image
folder, saved to a folder or trained as a workspace run (also under ``torchrun``); its
``--set`` settings typed like the model's config defaults."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from app.cli.common import PROG, UsageError, _generators, _number, _pairs, _read_text, _workspace
from causal import CausalGraph, DataError, datasets, read_table, validate_table

STOP_REASONS = {
    "schedule_done": "ran its full learning-rate schedule (set its length with --set steps=N)",
    "converged": "validation loss stopped improving",
    "max_epochs": "reached max_epochs (raise it with --set max_epochs=N)",
    "time_limit": "reached the max_seconds time budget",
    "cancelled": "cancelled",
}


# ---------------------------------------------------------------------- settings
def _setting_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    value = _number(text)
    return text if value is None else value


def _settings(items: Sequence[str] | None, kind: str) -> dict[str, Any]:
    """``--set key=value`` pairs, typed like the defaults of the model's config dataclasses.
    Unknown keys are left for ``make_config``, whose message lists the valid settings."""
    raw = _pairs(items, "--set", "KEY")
    if "train" in raw:
        raise UsageError("set training options one by one, e.g. --set max_epochs=50 --set lr=0.001")
    defaults = _generators().make_config(kind)
    known = {f.name: getattr(defaults.train, f.name) for f in dataclasses.fields(defaults.train)}
    known.update({f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults) if f.name != "train"})
    out: dict[str, Any] = {}
    for key, text in raw.items():
        value = _setting_value(text)
        if key in known:
            value = _typed_like(key, value, known[key], text)
        out[key] = value
    return out


def _typed_like(key: str, value: Any, default: Any, text: str) -> Any:
    wanted = None
    if isinstance(default, bool):
        wanted = "true or false" if not isinstance(value, bool) else None
    elif isinstance(default, int):
        wanted = "a whole number" if not isinstance(value, int) or isinstance(value, bool) else None
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        wanted = "a number"
    elif isinstance(default, str):
        wanted = f"text such as '{default}'" if not isinstance(value, str) else None
    if wanted:
        raise UsageError(f"setting '{key}' must be {wanted}, got {text!r}")
    return value


# ---------------------------------------------------------------------- training
def _training_table(df: pd.DataFrame, graph: CausalGraph, drop_extra: bool, source: str) -> pd.DataFrame:
    """The table checked against the graph; extra columns are an error unless dropped."""
    try:
        return validate_table(df, graph, extra="drop" if drop_extra else "error", source=source)
    except DataError as e:
        if drop_extra:
            raise
        validate_table(df, graph, extra="drop", source=source)  # any other problem is reported as is
        raise DataError(f"{e} (--drop-extra drops them)") from None


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


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model; under ``torchrun`` on every process of the group (``generators.distributed``)."""
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
    gen = _generators()
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
    if args.images is not None:
        return _train_images(args, gen)
    if args.image_folder is not None:
        return _train_image_folder(args, gen)
    if args.dataset is not None:
        ds = datasets.load(args.dataset, n=args.rows or 5000, seed=args.seed)
        df, graph, source = ds.data, ds.graph, f"dataset '{ds.name}'"
    else:
        df, graph, source = read_table(args.data), None, str(args.data)
    if args.graph is not None:
        graph = CausalGraph.parse(args.graph)
    elif args.graph_file is not None:
        graph = CausalGraph.parse(_read_text(args.graph_file))
    if graph is None:
        raise UsageError("--data needs a causal graph: pass --graph 'a -> b; b -> c' or --graph-file FILE")
    table = _training_table(df, graph, args.drop_extra, source)
    settings = _settings(args.set, args.model)
    if args.workspace_run:
        return _train_workspace_run(args, df, graph, source, len(table), settings)
    model = gen.build_model(args.model, graph, **settings)
    return _fit_to_out(args, model, table, source, f"{source}: {len(table):,} rows, graph {graph.to_text()}")


def _fit_to_out(args: argparse.Namespace, model: Any, data: Any, source: str, what: str) -> int:
    """Fit ``model`` on ``data`` into ``--out`` (refusing to replace a model without
    --overwrite), with progress on stderr and the summary on stdout; ``what`` describes the
    data in the start line (rank 0 only under torchrun)."""
    from generators import distributed

    out = Path(args.out)
    if (out / "model.json").exists() and not args.overwrite:
        raise UsageError(f"{out} already holds a model; pass --overwrite to replace it, or choose another --out")
    if distributed.is_main():
        print(f"training {model.kind} on {what}", file=sys.stderr)
    # checkpoint_dir: the best model so far is saved during training (atomically) and at the end
    report = model.fit(data, seed=args.seed, callbacks=[] if args.quiet else [_progress_printer(sys.stderr)],
                       checkpoint_dir=out)
    _print_trained(model.kind, source, report.to_dict(), out)
    return 0


def _image_model(args: argparse.Namespace, gen: Any, graph: CausalGraph) -> Any:
    if args.model not in gen.kinds_for(graph):
        raise UsageError(f"model kind '{args.model}' does not train on images; use one of {', '.join(gen.kinds_for(graph))}")
    return gen.build_model(args.model, graph, **_settings(args.set, args.model))


def _train_images(args: argparse.Namespace, gen: Any) -> int:
    """Train an image model on a built-in image dataset (labels + images)."""
    from causal import images

    size = args.size or 32
    n = args.rows or 5000
    if args.workspace_run:
        from app.worker import execute
        from app.workspace import RunSpec

        ws = _workspace(args)
        spec = RunSpec(f"images:{args.images}", n_rows=n, data_seed=args.seed, graph="", kind=args.model,
                       settings=_settings(args.set, args.model), seed=args.seed, name=args.name or "", image_size=size)
        run = ws.create_run(spec, pid=os.getpid())
        print(f"training {args.model} on {n:,} {size} px images of '{args.images}'; run {run.id} in {ws.root}",
              file=sys.stderr)
        done = execute(ws, run.id, callbacks=[] if args.quiet else [_progress_printer(sys.stderr)])
        if done.report is not None:
            _print_trained(args.model, f"image dataset '{args.images}'", done.report, done.checkpoint_dir)
        print(f"run: {done.id} ({done.status}); use it as run:{done.id}, e.g. {PROG} sample run:{done.id} --grid g.png")
        return 0
    ds = images.load(args.images, n=n, seed=args.seed, size=size)
    graph = ds.graph
    if args.graph is not None or args.graph_file is not None:
        graph = CausalGraph.parse(args.graph if args.graph is not None else _read_text(args.graph_file))
    return _fit_to_out(args, _image_model(args, gen, graph), ds.data, f"image dataset '{args.images}'",
                       f"{n:,} {size} px images of '{args.images}', graph {graph.to_text()}")


def _train_image_folder(args: argparse.Namespace, gen: Any) -> int:
    """Train an image model on the user's images (a folder or .zip) and a labels CSV."""
    from causal import images
    from causal.images import IMAGE_NODE

    if args.workspace_run:
        raise UsageError("--workspace-run takes built-in datasets; train on an image folder with --out DIR")
    if args.graph is None and args.graph_file is None:
        raise UsageError(f"--image-folder needs a causal graph over the labels and the image node '{IMAGE_NODE}', "
                         f"e.g. --graph 'age -> smile; age -> {IMAGE_NODE}; smile -> {IMAGE_NODE}'")
    graph = images.image_graph(CausalGraph.parse(args.graph if args.graph is not None else _read_text(args.graph_file)))
    data = images.load_image_folder(args.image_folder, labels_csv=args.labels, size=args.size,
                                    image_column=args.image_column)
    model = _image_model(args, gen, graph)
    labels = _training_table(data.labels, graph, args.drop_extra, f"the labels CSV of {args.image_folder}")
    source = f"{len(data):,} images from {args.image_folder}"
    return _fit_to_out(args, model, data.with_labels(labels), source,
                       f"{source} ({data.size} px, {data.channels} channel(s)), graph {graph.to_text()}")


def _print_trained(kind: str, source: str, r: dict[str, Any], saved: Path) -> None:
    print(f"trained {kind} on {source} ({r['n_train']:,} training rows, {r['n_val']:,} validation rows)")
    print(f"epochs: {r['epochs']} (best {r['best_epoch']}, validation loss {r['best_val_loss']:.4g})")
    print(f"time: {r['seconds']:.1f} s on {r['device']}")
    print(f"stopped: {r['stopped']}: {STOP_REASONS.get(r['stopped'], r['stopped'])}")
    print(f"saved to: {saved}")


def _train_workspace_run(
    args: argparse.Namespace, df: pd.DataFrame, graph: CausalGraph, source: str, rows: int, settings: dict[str, Any]
) -> int:
    """Register the run in the workspace, then train it here, in the foreground, exactly as a
    background worker would: the app shows its progress and can cancel it."""
    from app.workspace import RunSpec
    from app.worker import execute

    ws = _workspace(args)
    if args.dataset is not None:
        data, n_rows = f"builtin:{args.dataset}", args.rows or 5000
    else:
        path = Path(args.data)
        data, n_rows = ws.add_dataset(path.name, df, source=str(path.resolve())).id, None
    spec = RunSpec(data, n_rows=n_rows, data_seed=args.seed, graph=graph.to_json(), kind=args.model,
                   settings=settings, seed=args.seed, name=args.name or "")
    run = ws.create_run(spec, pid=os.getpid())  # running here: no runner may claim it
    callbacks = [] if args.quiet else [_progress_printer(sys.stderr)]
    print(f"training {args.model} on {source}: {rows:,} rows, graph {graph.to_text()}", file=sys.stderr)
    print(f"run {run.id} in workspace {ws.root}", file=sys.stderr)
    done = execute(ws, run.id, callbacks=callbacks)
    if done.report is not None:
        _print_trained(args.model, source, done.report, done.checkpoint_dir)
    print(f"run: {done.id} ({done.status}); use it as run:{done.id}, e.g. {PROG} sample run:{done.id}")
    return 0
