"""What the commands share: exit codes, the usage error, argument values (numbers,
``NODE=VALUE`` pairs, ``--do`` and ``--given`` values, graphs), where output goes, one-line
error messages, and the workspace and models they open."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pandas as pd

from causal import CausalGraph

PROG = "counterfactory"
RUN_PREFIX = "run:"  # MODEL arguments: "run:ID" names a workspace run instead of a folder
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended


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


def _positive_int(text: str) -> int:
    value = _number(text)
    if not isinstance(value, int) or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def _read_data(path: str, columns: Any, drop: bool, markers: Sequence[str] | None) -> tuple[pd.DataFrame, Any]:
    """A --data table as the --drop-missing and --missing-marker flags ask: cells holding only a
    marker read as missing; a gap in ``columns`` (those the table has; all when None) refused,
    naming the column, or with ``drop`` its row left out and the count printed on stderr.
    Returns (table, the ``causal.MissingRows`` of the drop or None)."""
    from causal import DataError, drop_missing, mark_missing, read_table

    table = read_table(path)
    used = [c for c in (table.columns if columns is None else columns) if c in table.columns]
    if drop:
        table, gaps = drop_missing(table, columns=used, markers=markers or ())
        print(f"{path}: {gaps.describe()}", file=sys.stderr)
        return table, gaps
    table = mark_missing(table, markers) if markers else table
    holes = table[used].isna().sum()
    if holes.any():
        col = str(holes[holes > 0].index[0])
        raise DataError(f"{path}: column '{col}' has {int(holes[col])} missing value(s); --drop-missing leaves the "
                        "rows that have one out")
    return table, None


def _read_text(path: str | os.PathLike) -> str:
    """A graph file's text: a regular file of at most ``causal.limits.MAX_GRAPH_BYTES``."""
    from causal.limits import MAX_GRAPH_BYTES, read_text

    return read_text(path, MAX_GRAPH_BYTES, "graph file")


def _graph_arg(text_or_file: str) -> CausalGraph:
    """Graph text, or the path of a file holding it. A lone word is a file name (a one-node
    graph is never what was meant), so a missing file is reported as such."""
    if not text_or_file.strip():
        raise UsageError("the graph is empty: give graph text like 'a -> b; b -> c', or a file holding it")
    if os.path.exists(text_or_file):  # a file (a device or folder is refused by name)
        return CausalGraph.parse(_read_text(text_or_file))
    if not any(mark in text_or_file for mark in ("->", "<-", "{", "[", ";", "\n")):
        raise UsageError(f"no such file: {text_or_file} (to give graph text, write edges like 'a -> b; b -> c')")
    return CausalGraph.parse(text_or_file)


# ---------------------------------------------------------------------- output
STREAM_VALUES = 5_000_000  # values (rows x columns) drawn per chunk when a CSV is streamed


def _write_csv(df: pd.DataFrame, out: str | None) -> None:
    """To ``out`` (written under a temporary name, then renamed), or to stdout when ``out``
    is None."""
    if not out:
        df.to_csv(sys.stdout, index=False)
        return
    with _partial(out) as tmp:
        df.to_csv(tmp, index=False)


@contextmanager
def _partial(out: str) -> Iterator[Path]:
    """A temporary file beside ``out`` that replaces it once the block ends without error
    (an interrupted write leaves no half-written ``out``)."""
    target = Path(out)
    if target.exists() and not target.is_file():  # /dev/null, /dev/stdout, a FIFO: written in place
        yield target
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _draw_csv(total: int, width: int, draw: Callable[[int, Any], pd.DataFrame], seed: int, out: str | None,
              what: str = "rows") -> tuple[int, pd.DataFrame]:
    """Write ``total`` rows of ``width`` columns drawn by ``draw(n, seed)`` as CSV to ``out``
    (or stdout), in bounded memory. When the library draws that many in one call
    (``causal.limits.max_rows``) this is one call, the same rows as ``draw(total, seed)`` in
    Python; beyond, chunks of ``STREAM_VALUES`` values, each seeded from ``seed`` by
    ``numpy.random.SeedSequence``, with a progress bar on stderr. Returns the rows written
    (a conditional draw may give fewer than asked) and the last chunk."""
    import numpy as np

    from causal.limits import max_rows

    if total <= max_rows(width):
        df = draw(total, seed)
        _write_csv(df, out)
        return len(df), df
    chunk = max(1, min(max_rows(width), STREAM_VALUES // max(width, 1)))
    seeds = np.random.SeedSequence(seed)
    bar = _Progress(total, what)
    written, df = 0, pd.DataFrame()
    with _partial(out) if out else contextlib.nullcontext(None) as tmp:
        stream = open(tmp, "w", newline="") if tmp is not None else sys.stdout  # noqa: SIM115 - closed below
        try:
            while written < total:
                df = draw(min(chunk, total - written), np.random.default_rng(seeds.spawn(1)[0]))
                df.to_csv(stream, index=False, header=written == 0)
                written += len(df)
                bar.update(written)
        finally:
            if tmp is not None:
                stream.close()
        bar.done()
    return written, df


class _Progress:
    """A progress bar on stderr: redrawn in place on a terminal, else a line every 10 s."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what = total, what
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 10 and done < self.total:
            return
        self.last = now
        frac = done / self.total
        left = (now - self.start) * (1 - frac) / frac if frac > 0 else 0.0
        bar = "#" * int(30 * frac)
        line = (f"[{bar:<30}] {done:,} / {self.total:,} {self.what} ({frac:.0%}), {now - self.start:.0f} s"
                + (f", about {left:.0f} s left" if done < self.total else ""))
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


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


# ---------------------------------------------------------------------- workspace and models
def _workspace(args: argparse.Namespace) -> Any:
    from app.workspace import Workspace

    return Workspace(getattr(args, "workspace", None))


def _load(args: argparse.Namespace) -> Any:
    """The model named by MODEL: a folder written by 'train', or ``run:ID`` (a workspace run;
    its best checkpoint so far while it is still training)."""
    target = args.model_dir
    if target.startswith(RUN_PREFIX):
        ws = _workspace(args)
        model = ws.load_model(target[len(RUN_PREFIX):])
        print(f"run {target[len(RUN_PREFIX):]} of workspace {ws.root}", file=sys.stderr)  # (an error names it too)
        return model
    return _generators().load_model(target)
