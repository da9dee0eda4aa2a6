"""The command line: built-in datasets, training, sampling, counterfactuals and graph tools.

Every command is a thin wrapper over the same library calls a script makes; bad input ends
with one line ``error: <message>`` on stderr and exit code 2, never a traceback.

>>> main(["graph", "a -> b; b -> c"])
a -> b; b -> c
nodes (canonical order): a, b, c
0
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from causal import CausalGraph, DataError, datasets, read_table, validate_table

PROG = "counterfactory"
RUN_PREFIX = "run:"  # MODEL arguments: "run:ID" names a workspace run instead of a folder
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
FORMATS = ("text", "dagitty", "dot", "json")
STOP_REASONS = {
    "schedule_done": "ran its full learning-rate schedule (set its length with --set steps=N)",
    "converged": "validation loss stopped improving",
    "max_epochs": "reached max_epochs (raise it with --set max_epochs=N)",
    "time_limit": "reached the max_seconds time budget",
    "cancelled": "cancelled",
}


class UsageError(ValueError):
    """A command-line argument the library never sees is malformed (NODE=VALUE, key=value...)."""


def _generators() -> Any:
    """Import the torch models only for the commands that need them: keeps ``datasets``,
    ``graph`` and ``--help`` fast."""
    import generators

    return generators


# ---------------------------------------------------------------------- argument values
def _number(text: str) -> int | float | None:
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, anything else -> None."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return None


def _pairs(items: Sequence[str] | None, flag: str, name: str = "NODE") -> dict[str, str]:
    """``["x=1", "y=a"]`` -> ``{"x": "1", "y": "a"}``, refusing malformed or repeated names."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"{flag} expects {name}=VALUE, got {item!r}")
        if key in out:
            raise UsageError(f"{flag} names '{key}' twice")
        out[key] = value
    return out


def _do_value(text: str) -> Any:
    """A number sets the node; ``x+1`` / ``+1`` / ``x*2`` (shift, scale) and category labels
    go to the library as text (``causal.interventions.parse_do`` reads them)."""
    value = _number(text)
    return text if value is None or text.startswith("+") else value


def _given_value(text: str) -> Any:
    """A number, a category label, or a range ``LOW:HIGH`` (either end may be left open)."""
    low, sep, high = text.partition(":")
    if sep:
        bounds = [_number(low.strip()) if low.strip() else -math.inf, _number(high.strip()) if high.strip() else math.inf]
        if None not in bounds:
            return (float(bounds[0]), float(bounds[1]))
    value = _number(text)
    return text if value is None else value


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


def _positive_int(text: str) -> int:
    value = _number(text)
    if not isinstance(value, int) or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def _read_text(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text()
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a text file") from None


def _graph_arg(text_or_file: str) -> CausalGraph:
    """Graph text, or the path of a file holding it. A lone word is a file name (a one-node
    graph is never what was meant), so a missing file is reported as such."""
    if Path(text_or_file).is_file():
        return CausalGraph.parse(_read_text(text_or_file))
    if not any(mark in text_or_file for mark in ("->", "<-", "{", "[", ";", "\n")):
        raise UsageError(f"no such file: {text_or_file} (to give graph text, write edges like 'a -> b; b -> c')")
    return CausalGraph.parse(text_or_file)


# ---------------------------------------------------------------------- output
def _write_csv(df: pd.DataFrame, out: str | None) -> None:
    """To ``out``, or to stdout when ``out`` is None."""
    df.to_csv(out if out else sys.stdout, index=False)


def _info_stream(out: str | None) -> Any:
    """Where messages go: stderr when stdout carries the CSV, so it stays a clean table."""
    return sys.stdout if out else sys.stderr


def _one_line(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError) and e.filename is not None:
        msg = f"no such file: {e.filename}"
    elif isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.strerror}: {e.filename}"
    else:
        msg = str(e) or type(e).__name__
    return " ".join(line.strip() for line in msg.splitlines() if line.strip())


# ---------------------------------------------------------------------- commands
def cmd_settings(args: argparse.Namespace) -> int:
    import dataclasses

    from generators import make_config

    cfg = make_config(args.kind)
    print(f"settings of {args.kind} (--set key=value):")
    for f in dataclasses.fields(cfg):
        if f.name == "train":
            continue
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):  # a nested group: --set group.key=value
            for g in dataclasses.fields(value):
                print(f"  {f.name}.{g.name}={getattr(value, g.name)!r}")
        else:
            print(f"  {f.name}={value!r}")
    print("training (the same for every model kind):")
    for f in dataclasses.fields(cfg.train):
        print(f"  {f.name}={getattr(cfg.train, f.name)!r}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    if args.name is None:
        if args.out:
            raise UsageError("-o needs a dataset NAME, e.g. counterfactory datasets loan -o loan.csv")
        from causal import image_datasets

        names = datasets.list()
        width = max(map(len, names + image_datasets.list()))
        for name in names:
            meta = datasets.info(name)
            summary = textwrap.shorten(meta.description.split(". ")[0].rstrip("."), 96, placeholder="…")
            print(f"{name:<{width}}  {len(meta.graph):>2} nodes  {summary}")
        print("\nimage datasets (train --images NAME):")
        for name in image_datasets.list():
            meta = image_datasets.info(name)
            summary = textwrap.shorten(meta.description.split(". ")[0].rstrip("."), 88, placeholder="…")
            print(f"{name:<{width}}  {len(meta.graph) - 1:>2} labels + image  {summary}")
        return 0
    ds = datasets.load(args.name, n=args.rows, seed=args.seed)
    info = _info_stream(args.out)
    print(f"{ds.name}:", textwrap.fill(ds.description, 88, subsequent_indent="  "), file=info)
    print(f"graph: {ds.graph.to_text()}", file=info)
    kinds = ds.graph.kinds
    print("nodes: " + ", ".join(f"{n} ({kinds[n]})" if n in kinds else n for n in ds.graph.nodes), file=info)
    print(f"benchmark interventions on: {', '.join(ds.intervene_on)}", file=info)
    _write_csv(ds.data, args.out)
    if args.out:
        print(f"wrote {len(ds.data):,} rows to {args.out}", file=info)
    return 0


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
    from causal import image_datasets

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
    ds = image_datasets.load(args.images, n=n, seed=args.seed, size=size)
    graph = ds.graph
    if args.graph is not None or args.graph_file is not None:
        graph = CausalGraph.parse(args.graph if args.graph is not None else _read_text(args.graph_file))
    return _fit_to_out(args, _image_model(args, gen, graph), ds.data, f"image dataset '{args.images}'",
                       f"{n:,} {size} px images of '{args.images}', graph {graph.to_text()}")


def _train_image_folder(args: argparse.Namespace, gen: Any) -> int:
    """Train an image model on the user's images (a folder or .zip) and a labels CSV."""
    from causal import image_datasets
    from causal.imagedata import IMAGE_NODE

    if args.workspace_run:
        raise UsageError("--workspace-run takes built-in datasets; train on an image folder with --out DIR")
    if args.graph is None and args.graph_file is None:
        raise UsageError(f"--image-folder needs a causal graph over the labels and the image node '{IMAGE_NODE}', "
                         f"e.g. --graph 'age -> smile; age -> {IMAGE_NODE}; smile -> {IMAGE_NODE}'")
    from app.workspace import image_graph

    graph = image_graph(CausalGraph.parse(args.graph if args.graph is not None else _read_text(args.graph_file)))
    data = image_datasets.load_image_folder(args.image_folder, labels_csv=args.labels, size=args.size,
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


def _workspace(args: argparse.Namespace) -> Any:
    from app.workspace import Workspace

    return Workspace(getattr(args, "workspace", None))


def _load(args: argparse.Namespace) -> Any:
    """The model named by MODEL: a folder written by 'train', or ``run:ID`` (a workspace run;
    its best checkpoint so far while it is still training)."""
    target = args.model_dir
    if target.startswith(RUN_PREFIX):
        return _workspace(args).load_model(target[len(RUN_PREFIX):])
    return _generators().load_model(target)


def cmd_sample(args: argparse.Namespace) -> int:
    model = _load(args)
    do = {k: _do_value(v) for k, v in _pairs(args.do, "--do").items()}
    given = {k: _given_value(v) for k, v in _pairs(args.given, "--given").items()}
    df = model.sample(args.rows, do=do or None, given=given or None, seed=args.seed)
    if _is_images(df):
        return _write_images(df, args, given=bool(given))
    if args.grid or args.images_dir:
        raise UsageError("--grid and --images-dir apply to image models; this model samples tables")
    if given:
        a = df.attrs
        print(f"acceptance rate: {a['acceptance_rate']:.2%} ({a['accepted']:,} of {a['draws']:,} draws)", file=sys.stderr)
    _write_csv(df, args.out)
    if args.out:
        print(f"wrote {len(df):,} rows to {args.out}")
    return 0


def _is_images(result: Any) -> bool:
    from causal.imagedata import ImageData

    return isinstance(result, ImageData)


def _write_images(data: Any, args: argparse.Namespace, given: bool = False) -> int:
    """Image results: labels as CSV (-o or stdout), a PNG grid (--grid), PNG files (--images-dir)."""
    from causal import image_datasets

    if given and "acceptance_rate" in data.labels.attrs:
        a = data.labels.attrs
        print(f"acceptance rate: {a['acceptance_rate']:.2%} ({a['accepted']:,} of {a['draws']:,} draws)", file=sys.stderr)
    info = _info_stream(args.out)
    if args.grid:
        image_datasets.save_png(data, args.grid, columns=args.columns)
        print(f"wrote a grid of {len(data)} images to {args.grid}", file=info)
    if args.images_dir:
        folder = image_datasets.save_image_folder(data, args.images_dir)
        print(f"wrote {len(data)} images and labels.csv to {folder}", file=info)
    if args.out or not (args.grid or args.images_dir):
        _write_csv(data.labels, args.out)
        if args.out:
            print(f"wrote {len(data):,} label rows to {args.out}", file=info)
    return 0


def cmd_counterfactual(args: argparse.Namespace) -> int:
    model = _load(args)
    if args.images_from is not None:
        from causal import image_datasets

        data = image_datasets.load_image_folder(args.images_from, labels_csv=args.rows, image_column=args.image_column)
        do = {k: _do_value(v) for k, v in _pairs(args.do, "--do").items()}
        cf = model.counterfactual(data, do=do, seed=args.seed)
        if not (args.grid or args.images_dir):
            raise UsageError("image counterfactuals need --images-dir DIR (one PNG per image) or --grid FILE.png")
        return _write_images(cf, args)
    if args.rows is None:
        raise UsageError("--rows FILE.csv is required (or --images-from FOLDER for an image model)")
    rows = read_table(args.rows)
    do = {k: _do_value(v) for k, v in _pairs(args.do, "--do").items()}
    try:
        cf = model.counterfactual(rows, do=do, seed=args.seed)
    except DataError as e:  # the library sees a DataFrame; name the file it came from
        raise DataError(f"{args.rows}: {e}") from None
    _write_csv(cf, args.out)
    if args.out:
        print(f"wrote {len(cf):,} counterfactual rows to {args.out}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    graph = _graph_arg(args.graph)
    text = {"text": graph.to_text, "dagitty": graph.to_dagitty, "dot": graph.to_dot, "json": graph.to_json}[args.to]()
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.to} to {args.out}")
    else:
        print(text)
    print(f"nodes (canonical order): {', '.join(graph.nodes)}")
    if args.implications:
        found = graph.implied_independences()
        print(f"implied conditional independences ({len(found)}):" if found else "implied conditional independences: none (every pair is adjacent)")
        for ind in found:
            print(f"  {ind}")
    if args.mec:
        cp = graph.cpdag()
        print(f"Markov equivalence class (CPDAG): {cp}")
        if not cp.undirected:
            print("  every edge is identified: the class holds this graph only")
        elif len(cp.undirected) <= 12:
            print(f"  {len(graph.equivalence_class(limit=4096))} DAGs; undirected edges (--) can point either way")
        else:
            print(f"  {len(cp.undirected)} undirected edges (--) can point either way")
    return 0


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _run_line(r: Any) -> str:
    metric = r.metrics.get("counterfactual_rmse")
    extra = f"  cf-rmse {metric:.4f}" if isinstance(metric, (int, float)) else ""
    if r.status == "running" and r.progress is not None:
        extra = f"  {r.progress.fraction:.0%} (epoch {r.progress.epoch}/{r.progress.max_epochs})"
    return f"{r.id}  {r.status:<9}  {_when(r.created)}  {r.seconds:7.1f}s  {r.name}{extra}"


def cmd_runs(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    action = args.action
    if action == "list":
        if args.run_id is not None:
            raise UsageError("'runs list' takes no run id; use 'runs show ID'")
        runs = ws.runs(args.status)
        if not runs:
            print(f"no runs in workspace {ws.root}" + (f" with status {args.status}" if args.status else ""))
            return 0
        print(f"{len(runs)} run(s) in workspace {ws.root}:")
        for r in runs:
            print(_run_line(r))
        return 0
    if args.run_id is None:
        raise UsageError(f"'runs {action}' needs a run id ('{PROG} runs' lists them)")
    if action == "show":
        r = ws.run(args.run_id)
        print(f"run {r.id}: {r.name}")
        print(f"status: {r.status}" + (f" ({r.error})" if r.error else ""))
        print(f"data: {r.data_name}" + (f" ({r.spec.n_rows:,} rows, seed {r.spec.data_seed})" if r.spec.builtin else ""))
        print(f"graph: {r.graph.to_text()}")
        print(f"model: {r.spec.kind}, training seed {r.spec.seed}")
        for k, v in sorted(r.spec.settings.items()):
            print(f"  {k}={v!r}")
        print(f"created {_when(r.created)}, started {_when(r.started)}, finished {_when(r.finished)} ({r.seconds:.1f} s)")
        if r.progress is not None:
            p = r.progress
            print(f"progress: epoch {p.epoch}/{p.max_epochs}, {p.steps} steps, validation loss {p.val_loss:.4g} "
                  f"(best {p.best_val_loss:.4g})")
        for k, v in r.metrics.items():
            print(f"metric {k}: {v:.4g}" if isinstance(v, float) else f"metric {k}: {v}")
        print(f"checkpoint: {r.checkpoint_dir}" + ("" if r.has_checkpoint else " (none yet)"))
        return 0
    if action == "cancel":
        r = ws.request_cancel(args.run_id)
        print(f"run {r.id}: " + ("cancelled" if r.status == "cancelled" else "asked to stop; it keeps its best weights"))
        return 0
    if action == "delete":
        r = ws.run(args.run_id)
        ws.delete_run(r.id)
        print(f"deleted run {r.id} ({r.name}) and its files")
        return 0
    raise UsageError(f"unknown runs action '{action}'")  # argparse's choices make this unreachable


# ---------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other error of the CLI."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_ERROR, f"error: {message}; see '{self.prog} --help'\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:
        return "unknown (not installed)"


DO_HELP = (
    "NODE=VALUE, repeatable: a number sets the node (x2=1.5, x2=-1), x2+1 or +1 shifts it, "
    "x2*2 scales it (soft interventions keep its parents), a label sets a category (sex=Female)"
)


def _para(text: str) -> str:
    return textwrap.fill(text, 88)


def _image_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", metavar="FILE.png", help="image models: save the images as one PNG grid")
    p.add_argument("--columns", type=_positive_int, default=8, help="images per row of --grid (default 8)")
    p.add_argument("--images-dir", metavar="DIR", help="image models: save each image as a PNG, with labels.csv")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        formatter_class=fmt,
        description=_para("Counterfactory: train generative models that obey a causal graph, "
        "then sample them observationally, conditionally (given), under interventions (do) "
        "and counterfactually."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} datasets                                   # the built-in datasets
              {PROG} datasets triangle-lin -n 2000 -o tri.csv
              {PROG} train --dataset triangle-lin --out runs/tri
              {PROG} sample runs/tri -n 1000 --do x2=1.5 -o do.csv
              {PROG} counterfactual runs/tri --rows tri.csv --do x1=0 -o cf.csv
              {PROG} graph "x1 -> x2; x1 -> x3; x2 -> x3" --to dot

            Run '{PROG} COMMAND --help' for each command's options."""),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ws = argparse.ArgumentParser(add_help=False)
    ws.add_argument("--workspace", metavar="DIR", default=None,
                    help="the workspace folder shared with the app (default $COUNTERFACTORY_WORKSPACE, else ./workspace)")

    p = sub.add_parser(
        "datasets",
        formatter_class=fmt,
        help="list the built-in datasets, or draw one as CSV",
        description=_para("Without NAME: list the built-in datasets (data drawn from known causal models). "
        "With NAME: print its description and graph, and write ROWS rows as CSV "
        "(to -o FILE, or to stdout; the description then goes to stderr so stdout stays a clean CSV)."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} datasets
              {PROG} datasets loan -n 500 -o loan.csv
              {PROG} datasets triangle-lin -n 5 --seed 1"""),
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a built-in dataset (see the list)")
    p.add_argument("-n", "--rows", type=_positive_int, default=1000, help="rows to draw (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same rows (default 0)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the CSV here instead of stdout")
    p.set_defaults(run=cmd_datasets)

    p = sub.add_parser(
        "train",
        parents=[ws],
        formatter_class=fmt,
        help="train a causal generative model and save it",
        description=_para("Train a model whose mechanisms follow the causal graph, on a built-in dataset "
        "(--dataset; the graph defaults to its true graph) or on your CSV (--data; one column per "
        "graph node, and a graph is required); an image model on a built-in image dataset (--images) or on your "
        "images (--image-folder, with a labels CSV and a graph that has the node 'image'). Progress goes to stderr, a summary to stdout, and "
        "the model to --out DIR (the best model so far is saved there during training too)."),
        epilog=textwrap.dedent(f"""\
            settings (--set key=value) are the fields of the model's config and of its training
            config; '{PROG} settings KIND' lists them with their defaults.

            examples:
              {PROG} train --dataset triangle-lin -n 5000 --out runs/tri
              {PROG} train --data mydata.csv --graph "age -> income; edu -> income" --out runs/mine
              {PROG} train --data mydata.csv --graph-file graph.dot --drop-extra --out runs/mine
              {PROG} train --dataset loan --model causal-vgen --set max_epochs=50 --set hidden=32 --out runs/loan
              {PROG} train --dataset loan --workspace-run --name "loan, default"   # a run the app lists
              {PROG} train --images faces --model causal-gan --out runs/faces          # minutes on a CPU
              {PROG} train --image-folder faces.zip --graph "Male -> Mustache; Male -> image; Mustache -> image" \\
                  --model ccgm --size 32 --out runs/mine     # your images + labels.csv"""),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="NAME", help="train on a built-in dataset (see 'datasets')")
    src.add_argument("--data", metavar="FILE.csv", help="train on a CSV file with one column per graph node")
    src.add_argument("--images", metavar="NAME", help="train an image model on a built-in image dataset "
                     "(pendulum, faces, morpho-glyphs; see 'datasets')")
    src.add_argument("--image-folder", metavar="PATH", help="train an image model on your images: a folder or "
                     ".zip of PNG/JPEG files with a labels CSV (one row per image; see --labels); needs --graph "
                     "with the node 'image'")
    p.add_argument("--size", type=_positive_int, choices=(28, 32, 64), metavar="PX",
                   help="--images: image size in pixels (32 default, or 64); --image-folder: resize to it")
    p.add_argument("--labels", metavar="FILE.csv", help="--image-folder: the labels CSV, a path or a file name "
                   "inside the folder/zip (default: its labels.csv)")
    p.add_argument("--image-column", default="file", metavar="NAME",
                   help="--image-folder: the labels CSV's column naming each image file (default 'file')")
    p.add_argument("-n", "--rows", type=_positive_int, help="rows to draw from --dataset (default 5000)")
    gr = p.add_mutually_exclusive_group()
    gr.add_argument("--graph", metavar="TEXT", help="the causal graph as text: 'a -> b; b -> c', DAGitty, DOT or JSON")
    gr.add_argument("--graph-file", metavar="FILE", help="a file holding the graph (DAGitty, DOT, JSON or 'a -> b' text)")
    p.add_argument("--model", default="causal-gen", metavar="KIND",
                   help="model kind: causal-gen (default), causal-vgen, linear-anm, ccgm; for images causal-gan or "
                   "ccgm; a wrong name lists them all")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a model or training setting, repeatable (e.g. --set max_epochs=50 --set hidden=32)")
    p.add_argument("--drop-extra", action="store_true", help="ignore CSV columns that are not graph nodes (default: error)")
    p.add_argument("--seed", type=int, default=0, help="random seed for data drawing and training (default 0)")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", metavar="DIR", help="folder to save the model in (model.json + model.safetensors)")
    dest.add_argument("--workspace-run", action="store_true",
                      help="register a run in the workspace and train it here: the app shows it, 'runs' lists it, "
                      "and 'sample run:ID' uses it")
    p.add_argument("--name", metavar="TEXT", help="the workspace run's name (default: 'KIND on DATA')")
    p.add_argument("--overwrite", action="store_true", help="replace a model already saved in DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser(
        "sample",
        parents=[ws],
        formatter_class=fmt,
        help="draw samples from a trained model: observational, do(...) or given ...",
        description=_para("Draw N rows from a saved model. --do intervenes (cuts the node from its parents); "
        "--given conditions (keeps only samples where the event holds, by rejection; the acceptance "
        "rate goes to stderr). Both together sample P(. | given, do). CSV to -o FILE or stdout."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} sample runs/tri -n 1000 -o obs.csv
              {PROG} sample runs/tri --do x2=1.5                  # set x2 to 1.5
              {PROG} sample runs/tri --do x2=x2+1                 # shift x2 by 1
              {PROG} sample runs/tri --given x2=1.5               # x2 within 0.05 sd of 1.5
              {PROG} sample runs/tri --given x2=0:2 --given x1=0:  # ranges; open ends allowed
              {PROG} sample runs/loan --do A=1 -o treated.csv
              {PROG} sample runs/faces -n 32 --do Mustache=1 --grid do.png     # an image model
              {PROG} sample runs/faces -n 32 --given Mustache=1 --grid given.png"""),
    )
    p.add_argument("model_dir", metavar="MODEL", help="a folder written by 'train', or run:ID (a workspace run)")
    p.add_argument("-n", "--rows", type=_positive_int, default=1000, help="rows to draw (default 1000)")
    p.add_argument("--do", action="append", metavar="NODE=VALUE", help=DO_HELP)
    p.add_argument("--given", action="append", metavar="NODE=VALUE",
                   help="NODE=VALUE or NODE=LOW:HIGH, repeatable: condition on a value (continuous: within "
                   "0.05 sd), a category label, or a range")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same rows (default 0)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the CSV here instead of stdout (image models: the labels)")
    _image_outputs(p)
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser(
        "counterfactual",
        parents=[ws],
        formatter_class=fmt,
        help="what each row would have been under do(...)",
        description=_para("For each row of --rows (a CSV with one column per node; other columns are kept), "
        "infer its noise (abduction), apply the intervention (action) and recompute the affected "
        "nodes (prediction). Nodes the intervention cannot reach keep their values exactly."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} counterfactual runs/tri --rows tri.csv --do x1=0 -o cf.csv
              {PROG} counterfactual runs/loan --rows people.csv --do A=0 --do age=x+5
              {PROG} counterfactual runs/faces --images-from photos/ --do Male=0 --images-dir cf/"""),
    )
    p.add_argument("model_dir", metavar="MODEL", help="a folder written by 'train', or run:ID (a workspace run)")
    p.add_argument("--rows", metavar="FILE.csv", help="the factual rows (image models: the labels CSV of --images-from)")
    p.add_argument("--images-from", metavar="FOLDER", help="image models: a folder or .zip of images with a labels CSV "
                   "(a 'file' column naming each image; labels.csv inside by default)")
    p.add_argument("--image-column", default="file", metavar="NAME", help="the labels CSV's column naming each image")
    p.add_argument("--do", action="append", required=True, metavar="NODE=VALUE", help=DO_HELP)
    p.add_argument("--seed", type=int, default=0, help="random seed (discrete nodes' noise is sampled; default 0)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the CSV here instead of stdout (image models: the labels)")
    _image_outputs(p)
    p.set_defaults(run=cmd_counterfactual)

    p = sub.add_parser(
        "graph",
        formatter_class=fmt,
        help="validate and convert a causal graph; its independences and equivalence class",
        description=_para("Read a graph (text or a file; DAGitty, DOT, JSON or 'a -> b; b -> c'), check it "
        "is a DAG, print it in --to format and its canonical node order (the column order of every "
        "table and model)."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} graph "x1 -> x2 -> x3; x1 -> x3"
              {PROG} graph model.dagitty --to dot -o model.dot
              {PROG} graph "a -> b; c -> b; b -> d" --implications --mec"""),
    )
    p.add_argument("graph", metavar="TEXT_OR_FILE", help="graph text, or a file holding it")
    p.add_argument("--to", choices=FORMATS, default="text", help="output format (default text: 'a -> b; ...')")
    p.add_argument("-o", "--out", metavar="FILE", help="write the converted graph here instead of stdout")
    p.add_argument("--implications", action="store_true",
                   help="list the conditional independences the graph implies (testable against data)")
    p.add_argument("--mec", action="store_true",
                   help="show the Markov equivalence class: the graphs no observational data can tell apart")
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser(
        "settings",
        formatter_class=fmt,
        help="list a model kind's settings and their defaults (for train --set)",
        description="List the settings of a model kind and of training, with their defaults.",
        epilog=f"examples:\n  {PROG} settings causal-gen\n  {PROG} settings causal-vgen",
    )
    p.add_argument("kind", nargs="?", default="causal-gen", metavar="KIND", help="model kind (default causal-gen)")
    p.set_defaults(run=cmd_settings)

    p = sub.add_parser(
        "runs",
        parents=[ws],
        formatter_class=fmt,
        help="the workspace's training runs (the ones the app shows): list, show, cancel, delete",
        description=_para("The runs registered in the workspace by the app or by 'train --workspace-run': "
        "list them (newest first), show one in full, cancel one that is queued or training (it keeps "
        "its best weights), or delete one with its files. A run id may be shortened to a unique prefix."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} runs
              {PROG} runs list --status done
              {PROG} runs show 0k3f9
              {PROG} runs cancel 0k3f9
              {PROG} sample run:0k3f9 -n 1000 --do x2=1.5"""),
    )
    p.add_argument("action", nargs="?", default="list", choices=("list", "show", "cancel", "delete"),
                   help="what to do (default list)")
    p.add_argument("run_id", nargs="?", metavar="ID", help="the run (show, cancel, delete)")
    p.add_argument("--status", choices=("queued", "running", "done", "failed", "cancelled"), help="list only these")
    p.set_defaults(run=cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else 0 if e.code is None else EXIT_ERROR
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `counterfactory datasets loan | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    # Library errors are ValueErrors (DataError, GraphError, InterventionError, EvidenceError,
    # CheckpointError...); FloatingPointError is a diverged training run.
    except (ValueError, OSError, FloatingPointError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
