"""Checkpoints: a folder with ``model.safetensors`` (the weights) and ``model.json`` (kind,
config, graph, schema, fit report and the weights' SHA-256), written so that a crash never
leaves one that loads half-written, and read without executing anything from the files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from safetensors.torch import load_file, save_file
from torch import Tensor

FORMAT = "counterfactory-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"
PREV_WEIGHTS = "model.prev.safetensors"  # only while a save replaces the weights (see write_checkpoint)


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged, of an unknown kind, or for another graph."""


def write_checkpoint(folder: Path, state: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    """Write ``state`` as ``model.safetensors`` and ``meta`` (plus format and the weights'
    SHA-256) as ``model.json`` into ``folder``, so that a process killed at any instant
    leaves a checkpoint that loads: both are written under temporary names first; the
    weights being replaced are kept as ``model.prev.safetensors`` until the new JSON is in
    place, and ``read_checkpoint`` takes whichever weights file matches the JSON."""
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(dict(state), str(tmp))
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "weights_sha256": digest}
    tmpj = folder / (META + ".tmp")
    tmpj.write_text(json.dumps(full, indent=1, default=json_default))
    if (folder / WEIGHTS).exists() and (folder / META).exists():
        os.replace(folder / WEIGHTS, folder / PREV_WEIGHTS)  # the current JSON's weights, kept
    os.replace(tmp, folder / WEIGHTS)
    os.replace(tmpj, folder / META)
    (folder / PREV_WEIGHTS).unlink(missing_ok=True)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Read and verify a checkpoint folder; never executes code from it."""
    folder = Path(path)
    mfile, wfile = folder / META, folder / WEIGHTS
    if not folder.is_dir():
        raise CheckpointError(f"no checkpoint folder at {folder}")
    candidates = [f for f in (wfile, folder / PREV_WEIGHTS) if f.exists()]
    if not mfile.exists() or not candidates:
        raise CheckpointError(f"{folder} is not a complete checkpoint: it needs {META} and {WEIGHTS}")
    try:
        meta = json.loads(mfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{mfile} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{mfile} is not a Counterfactory model file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{mfile} was written by a newer Counterfactory (format {meta['format_version']}); upgrade to load it")
    want = meta.get("weights_sha256")
    # the weights the JSON names: model.safetensors, or the previous file a save killed
    # between replacing the weights and the JSON left beside it
    chosen = next((f for f in candidates if not want or hashlib.sha256(f.read_bytes()).hexdigest() == want), None)
    if chosen is None:
        raise CheckpointError(f"{wfile} does not match {mfile} (damaged or from another save)")
    try:
        state = load_file(str(chosen))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read weights from {chosen}: {e}") from None
    return meta, state


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as plain JSON-ready values (nested configs as dicts)."""
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def config_from_dict(cls: type, d: Mapping[str, Any]) -> Any:
    """Rebuild a (possibly nested) frozen config dataclass; unknown keys are an error."""
    if not dataclasses.is_dataclass(cls):
        return cls()
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
        raise CheckpointError(f"unknown setting(s) in checkpoint config: {', '.join(sorted(unknown))}")
    kw = {}
    defaults = cls()
    for name, value in d.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            kw[name] = config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            kw[name] = tuple(value)
        else:
            kw[name] = value
    return cls(**kw)


def json_default(o: Any) -> Any:
    """numpy scalars for ``json.dumps``."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")
