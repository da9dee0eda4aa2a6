"""Checkpoints: a folder with ``model.safetensors`` (the weights) and ``model.json`` (kind,
config, graph, schema, fit report, the weights' SHA-256 and a checksum tying the rest of
the JSON to them), written so that a crash never leaves one that loads half-written, and
read without executing anything from the files: ``model.json`` is checked against a JSON
schema (``META_SCHEMA``) and its numbers for sense, and an edited file is refused.

Format 2 added the checksum; format 1 checkpoints (weights hash only) still load."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
from safetensors.torch import load_file, save_file
from torch import Tensor

from causal.limits import MAX_META_BYTES, MAX_WEIGHTS_BYTES, check_file, read_bytes

FORMAT = "counterfactory-model"
FORMAT_VERSION = 2  # 2: "checksum" covers the JSON (graph, schema, config...) and the weights
WEIGHTS = "model.safetensors"
META = "model.json"
PREV_WEIGHTS = "model.prev.safetensors"  # only while a save replaces the weights (see write_checkpoint)
LOCK = ".counterfactory.lock"  # held by the one process training into the folder (folder_lock)
_HASHES = ("weights_sha256", "checksum")

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_GRAPH = {
    "type": "object",
    "required": ["nodes"],
    "properties": {"nodes": {"type": "array", "minItems": 1}, "edges": {"type": "array"}, "links": {"type": "array"}},
}
_FIT = {"type": ["object", "null"], "properties": {
    "epochs": {"type": "integer"}, "steps": {"type": "integer"}, "seconds": {"type": "number"},
    "best_epoch": {"type": "integer"}, "best_val_loss": {"type": ["number", "null"]}, "stopped": {"type": "string"},
    "device": {"type": "string"}, "n_train": {"type": "integer"}, "n_val": {"type": "integer"},
    "history": {"type": "array", "items": {"type": "array"}},
}}
_COLUMN = {
    "type": "object",
    "required": ["name", "kind"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "kind": {"enum": ["continuous", "binary", "categorical"]},
        "categories": {"type": "array"},
        **{k: {"type": "number"} for k in ("mean", "std", "min", "max")},
        "integer": {"type": "boolean"},
    },
}
META_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Counterfactory model.json",
    "type": "object",
    "required": ["format", "format_version", "kind", "config", "graph", "schema", "weights_sha256"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"type": "integer", "minimum": 1},
        "kind": {"type": "string"},
        "config": {"type": "object"},
        "graph": _GRAPH,
        "schema": {"type": "object", "required": ["columns"],
                   "properties": {"columns": {"type": "array", "items": _COLUMN}}},
        "fit": _FIT,
        "weights_sha256": _SHA256,
        "checksum": _SHA256,
        "image": {"type": "object", "required": ["size", "channels"], "properties": {
            "node": {"type": "string"}, "size": {"type": "integer", "minimum": 1, "maximum": 4096},
            "channels": {"enum": [1, 3]}, "inputs": {"type": "array", "items": {"type": "string"}}}},
        "cuts": {"type": "array", "items": {"type": "object", "required": ["parent", "child"], "properties": {
            "parent": {"type": "string"}, "child": {"type": "string"}}}},
        "labels": {"type": "object", "required": ["kind", "config", "graph"], "properties": {
            "kind": {"type": "string"}, "config": {"type": "object"}, "graph": _GRAPH, "fit": _FIT}},
    },
}


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged, edited, of an unknown kind, or for another graph."""


def _canonical(meta: Mapping[str, Any]) -> bytes:
    """The JSON's content as the checksum sees it: everything but the hashes, keys sorted."""
    body = {k: v for k, v in meta.items() if k not in _HASHES}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def _checksum(meta: Mapping[str, Any], weights_digest: str) -> str:
    return hashlib.sha256(_canonical(meta) + b"|" + weights_digest.encode()).hexdigest()


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_checkpoint(folder: Path, state: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    """Write ``state`` as ``model.safetensors`` and ``meta`` (plus format, the weights'
    SHA-256 and the checksum over both) as ``model.json`` into ``folder``, so that a process
    killed at any instant leaves a checkpoint that loads: both are written under temporary
    names first; the weights being replaced are kept as ``model.prev.safetensors`` until the
    new JSON is in place, and ``read_checkpoint`` takes whichever weights file matches the JSON."""
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(dict(state), str(tmp))
    digest = _file_digest(tmp)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    full = json.loads(json.dumps(full, default=json_default))  # as it will read back (numpy numbers, tuples)
    full.update(weights_sha256=digest, checksum=_checksum(full, digest))
    tmpj = folder / (META + ".tmp")
    tmpj.write_text(json.dumps(full, indent=1))
    if (folder / WEIGHTS).exists() and (folder / META).exists():
        os.replace(folder / WEIGHTS, folder / PREV_WEIGHTS)  # the current JSON's weights, kept
    os.replace(tmp, folder / WEIGHTS)
    os.replace(tmpj, folder / META)
    (folder / PREV_WEIGHTS).unlink(missing_ok=True)


def write_tensors(folder: str | os.PathLike, state: Mapping[str, Tensor], meta: Mapping[str, Any],
                  weights: str, meta_name: str) -> Path:
    """Write a side artifact that is not a model (an image classifier, a DIP prior): ``state``
    as safetensors named ``weights`` and ``meta`` plus the weights' SHA-256 as JSON named
    ``meta_name`` in ``folder``, each under a temporary name first; never a pickle."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp, tmpj = folder / (weights + ".tmp"), folder / (meta_name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
    tmpj.write_text(json.dumps({**meta, "weights_sha256": _file_digest(tmp)}, indent=1, default=json_default) + "\n")
    os.replace(tmp, folder / weights)
    os.replace(tmpj, folder / meta_name)
    return folder


def read_tensors(folder: str | os.PathLike, weights: str, meta_name: str) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Read what ``write_tensors`` wrote, within ``causal.limits``' bounds, the weights checked
    against their recorded SHA-256; ``CheckpointError`` naming the file otherwise. The caller
    checks the JSON's own fields (its format name first)."""
    folder = Path(folder)
    mfile, wfile = folder / meta_name, folder / weights
    if not mfile.is_file() or not wfile.is_file():
        raise CheckpointError(f"{folder} needs {meta_name} and {weights}")
    try:
        raw = read_bytes(mfile, MAX_META_BYTES, meta_name)
        check_file(wfile, MAX_WEIGHTS_BYTES, weights)
        meta = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read {mfile}: {e}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{mfile} holds no JSON object")
    if _file_digest(wfile) != meta.get("weights_sha256"):
        raise CheckpointError(f"{wfile} does not match the hash in {mfile}: the files were changed or mixed up")
    try:
        state = load_file(str(wfile))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read weights from {wfile}: {e}") from None
    return meta, state


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Read and verify a checkpoint folder; never executes code from it, never reads more
    than ``causal.limits.MAX_META_BYTES`` of JSON or ``MAX_WEIGHTS_BYTES`` of weights, and
    refuses files that are not regular files (a link to ``/dev/zero``)."""
    folder = Path(path)
    mfile, wfile = folder / META, folder / WEIGHTS
    if not folder.is_dir():
        raise CheckpointError(f"no checkpoint folder at {folder}")
    candidates = [f for f in (wfile, folder / PREV_WEIGHTS) if f.exists()]
    if not mfile.exists() or not candidates:
        raise CheckpointError(f"{folder} is not a complete checkpoint: it needs {META} and {WEIGHTS}")
    try:
        raw = read_bytes(mfile, MAX_META_BYTES, "model.json")
        for f in candidates:
            check_file(f, MAX_WEIGHTS_BYTES, "weights file")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read the checkpoint in {folder}: {e}") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{mfile} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{mfile} is not a Counterfactory model file")
    version = meta.get("format_version", 0)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(f"{mfile} was written by a newer Counterfactory (format {version}); upgrade to load it")
    validate_meta(meta, mfile)
    want = meta["weights_sha256"]
    # the weights the JSON names: model.safetensors, or the previous file a save killed
    # between replacing the weights and the JSON left beside it
    chosen = next((f for f in candidates if _file_digest(f) == want), None)
    if chosen is None:
        raise CheckpointError(f"{wfile} does not match {mfile} (damaged or from another save)")
    if meta["format_version"] >= 2 and meta.get("checksum") != _checksum(meta, want):
        raise CheckpointError(
            f"{mfile} was edited after it was saved: its graph, schema or settings no longer match the checksum "
            "written with the weights; restore the file or train the model again")
    try:
        state = load_file(str(chosen))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read weights from {chosen}: {e}") from None
    return meta, state


def validate_meta(meta: Mapping[str, Any], where: str | os.PathLike = META) -> None:
    """``CheckpointError`` naming the field of ``model.json`` (``where``) that does not
    fit ``META_SCHEMA``, a number that is not finite, a continuous column whose standard
    deviation is not positive, a graph that does not parse, or schema columns that are not
    the graph's nodes."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    from causal.graph import CausalGraph

    error = best_match(Draft202012Validator(META_SCHEMA).iter_errors(meta))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "the top level"
        raise CheckpointError(f"{where}: {field}: {error.message}; the file is damaged or was edited by hand")
    if meta["format_version"] >= 2 and "checksum" not in meta:
        raise CheckpointError(f"{where}: the checksum is missing; the file is damaged or was edited by hand")
    graphs = {"graph": meta["graph"], **({"labels.graph": meta["labels"]["graph"]} if "labels" in meta else {})}
    for section, obj in graphs.items():
        try:
            graph = CausalGraph.from_json(obj)
        except ValueError as e:
            raise CheckpointError(f"{where}: {section}: {e}") from None
        if section == "graph":
            nodes = {n for n in graph.nodes if graph.kind(n) != "image"}
    for i, c in enumerate(meta["schema"]["columns"]):
        field = f"{where}: schema.columns.{i} ('{c['name']}')"
        if c["kind"] == "continuous":
            for k in ("mean", "std"):
                v = c.get(k, 0.0 if k == "mean" else 1.0)
                if not math.isfinite(v):
                    raise CheckpointError(f"{field}: {k} is {v}; it must be a finite number")
            if not c.get("std", 1.0) > 0:
                raise CheckpointError(f"{field}: std is {c['std']}; a standard deviation must be positive")
        elif not c.get("categories"):
            raise CheckpointError(f"{field}: a {c['kind']} column needs its categories")
    names = [c["name"] for c in meta["schema"]["columns"]]
    if sorted(names) != sorted(nodes):
        raise CheckpointError(f"{where}: the schema's columns ({', '.join(names)}) are not the graph's nodes "
                              f"({', '.join(sorted(nodes))})")


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created when missing) while one process
    trains into it; a second process asking for it gets ``CheckpointError`` at once instead
    of silently overwriting the first one's model. The lock (``flock`` on a file in the
    folder) goes with the process, even when it is killed; a process that holds it already
    may take it again in the same thread (the CLI around its checks, ``app.jobs.fit``
    around training)."""
    path = Path(folder)
    key = (str(path.resolve()), threading.get_ident())
    with _HELD_LOCK:
        if key in _HELD:
            _HELD[key] += 1
            held = True
        else:
            held = False
    if held:
        try:
            yield path
        finally:
            with _HELD_LOCK:
                _HELD[key] -= 1
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CheckpointError(f"cannot write a model into {path}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise CheckpointError(
                f"{path} is being written by another training{f' (process {holder})' if holder else ''}; wait for it "
                "to finish or choose another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        with _HELD_LOCK:
            _HELD[key] = 1
        try:
            yield path
        finally:
            with _HELD_LOCK:
                del _HELD[key]
    finally:
        os.close(fd)


_HELD: dict[tuple[str, int], int] = {}  # (folder, thread) this process holds locked, and how many times over
_HELD_LOCK = threading.Lock()


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
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    for name, value in d.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            kw[name] = config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            kw[name] = tuple(value)
        else:
            _check_setting(name, value, default, types[name])
            kw[name] = value
    try:
        return cls(**kw)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's config does not make a {cls.__name__}: {e}") from None


def matches_default(value: Any, default: Any) -> bool:
    """Whether ``value`` has the type of a setting's ``default``: a bool for a bool, an int
    (not a bool) for an int, a number for a float, otherwise an instance of the default's
    type; anything where the default is None. Shared by the settings a user gives
    (``generators.settings.make_config``) and those a checkpoint holds."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _check_setting(name: str, value: Any, default: Any, annotation: str) -> None:
    """A setting read from a checkpoint has its default's type (``matches_default``; None
    only where the setting allows it)."""
    if value is None and "None" in annotation:
        return
    if not matches_default(value, default):
        raise CheckpointError(f"the checkpoint's setting '{name}' should be {type(default).__name__} like its "
                              f"default {default!r}, got {json.dumps(value, default=str)}")


def json_default(o: Any) -> Any:
    """numpy scalars for ``json.dumps``."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")
