"""What the commands share: exit codes, the usage error, argument values (numbers,
``NODE=VALUE`` pairs, ``--do`` and ``--given`` values, graphs), where output goes, one-line
error messages, and the workspace and models they open."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from causal import CausalGraph

PROG = "counterfactory"
RUN_PREFIX = "run:"  # MODEL arguments: "run:ID" names a workspace run instead of a folder
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


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


# ---------------------------------------------------------------------- workspace and models
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
