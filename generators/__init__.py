"""Torch models that obey a causal graph, one training loop, and safe save/load.

>>> from causal import CausalGraph
>>> from generators import build_model
>>> model = build_model("causal-gen", CausalGraph.parse("x1 -> x2"), hidden=16)
>>> model.kind
'causal-gen'
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from causal.graph import CausalGraph, require_graph
from generators.base import CheckpointError, NotFittedError, TabularModel, read_checkpoint
from generators.causal_gen import CausalGen, CausalGenConfig
from generators.causal_gan import CausalGAN, CausalGANConfig
from generators.causal_vgen import CausalVGen, CausalVGenConfig
from generators.ccgm import CCGM, CCGMConfig
from generators.training import FitReport, Progress, TrainConfig, pick_device

MODELS: dict[str, type[TabularModel]] = {
    "causal-gen": CausalGen,
    "causal-vgen": CausalVGen,
    "ccgm": CCGM,  # type: ignore[dict-item]  # TabularCCGM for tables, ImageCCGM with an image node
    "causal-gan": CausalGAN,  # type: ignore[dict-item]  # an ImageModel: fit/sample take ImageData
}
# "linear-anm": Causal Gen with no hidden layers, the simple baseline of the benchmarks.
ALIASES: dict[str, dict[str, Any]] = {"linear-anm": {"layers": 0}}


# Which kinds train on images (a graph with a node of kind "image") and which on tables.
IMAGE_KINDS = ("causal-gan", "ccgm")
TABLE_KINDS = ("causal-gen", "causal-vgen", "linear-anm", "ccgm")


def model_kinds() -> list[str]:
    return list(MODELS) + list(ALIASES)


def kinds_for(graph: CausalGraph | str) -> list[str]:
    """The model kinds that can be trained on ``graph``: image models when it has an image
    node, tabular models otherwise."""
    g = require_graph(graph)
    images = any(g.kind(n) == "image" for n in g.nodes)
    return [k for k in model_kinds() if k in (IMAGE_KINDS if images else TABLE_KINDS)]


def _resolve(kind: str) -> tuple[type[TabularModel], dict[str, Any]]:
    if kind in MODELS:
        return MODELS[kind], {}
    if kind in ALIASES:
        base = "causal-gen"
        return MODELS[base], dict(ALIASES[kind])
    raise ValueError(f"unknown model kind '{kind}'; choose one of {', '.join(model_kinds())}")


def make_config(kind: str, **settings: Any) -> Any:
    """The frozen config of ``kind`` with ``settings`` applied; a training setting
    (``max_epochs``, ``lr``, ``batch_size`` ...) goes to its ``train`` part."""
    cls, preset = _resolve(kind)
    settings = _nested({**preset, **settings}, cls.Config(), kind)
    cfg_fields = {f.name for f in dataclasses.fields(cls.Config)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    top = {k: v for k, v in settings.items() if k in cfg_fields}
    train = {k: v for k, v in settings.items() if k in train_fields and k not in cfg_fields}
    unknown = set(settings) - set(top) - set(train)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(sorted(unknown))} for {kind}; "
            f"its settings are {', '.join(sorted((cfg_fields - {'train'}) | train_fields))}"
        )
    if "train" in top and not isinstance(top["train"], TrainConfig):
        raise ValueError("'train' must be a TrainConfig; give training settings (max_epochs, lr, ...) directly")
    for name, value in {**top, **train}.items():
        if name != "train":
            _check_type(kind, name, value, getattr(cls.Config(), name, None) if name in top else getattr(cls.Config().train, name))
    base = top.pop("train", None) or cls.Config().train  # the kind's own training defaults
    if train:
        base = dataclasses.replace(base, **train)
    return cls.Config(**top, train=base)


def _nested(settings: dict[str, Any], default: Any, kind: str) -> dict[str, Any]:
    """Dotted settings of a nested config (``"image_train.steps": 500``, ``"labels.kind":
    "network"``) folded into that config, each checked against its default's type."""
    dotted = {k: v for k, v in settings.items() if "." in k}
    if not dotted:
        return settings
    out = {k: v for k, v in settings.items() if "." not in k}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in dotted.items():
        head, _, tail = key.partition(".")
        groups.setdefault(head, {})[tail] = value
    for head, sub in groups.items():
        base = out.get(head) or getattr(default, head, None)
        if not dataclasses.is_dataclass(base):
            raise ValueError(f"unknown setting(s) {', '.join(f'{head}.{t}' for t in sub)} for {kind}: "
                             f"'{head}' is not a group of settings")
        names = {f.name for f in dataclasses.fields(base)}
        bad = sorted(set(sub) - names)
        if bad:
            raise ValueError(f"unknown setting(s) {', '.join(f'{head}.{b}' for b in bad)} for {kind}; "
                             f"the {head} settings are {', '.join(sorted(names))}")
        for name, value in sub.items():
            _check_type(kind, f"{head}.{name}", value, getattr(base, name))
        out[head] = dataclasses.replace(base, **sub)
    return out


def _check_type(kind: str, name: str, value: Any, default: Any) -> None:
    """A setting must have its default's type (an int is accepted for a float)."""
    if default is None or value is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(
            f"setting '{name}' of {kind} must be {type(default).__name__} (like {default!r}), got {value!r}"
        )


def build_model(kind: str, graph: CausalGraph | str, config: Any = None, **settings: Any) -> TabularModel:
    """A new, unfitted model of ``kind`` for ``graph``; ``settings`` override the defaults."""
    cls, _ = _resolve(kind)
    if config is not None and settings:
        config = dataclasses.replace(config, **settings)
    model = cls(require_graph(graph), config if config is not None else make_config(kind, **settings))
    if kind in ALIASES:
        model.kind = kind  # type: ignore[misc]
    return model


def load_model(path: str | os.PathLike, graph: CausalGraph | str | None = None, device: str = "cpu") -> TabularModel:
    """Load a saved model (safetensors + JSON; no code is executed).

    With ``graph``, a checkpoint trained on a different graph is refused with a message
    naming the differing edges.
    """
    meta, state = read_checkpoint(path)
    kind = meta.get("kind")
    try:
        cls, _ = _resolve(kind)
    except ValueError:
        raise CheckpointError(f"{path} holds a model of unknown kind '{kind}'") from None
    model = cls._from_checkpoint(meta, state)
    if kind in ALIASES:
        model.kind = kind  # type: ignore[misc]
    if graph is not None:
        want = require_graph(graph)
        if not model.graph.same_structure(want):
            extra = sorted(set(model.graph.edges) - set(want.edges))
            lacking = sorted(set(want.edges) - set(model.graph.edges))
            nodes = sorted(set(model.graph.nodes) ^ set(want.nodes))
            parts = []
            if nodes:
                parts.append(f"nodes differ ({', '.join(nodes)})")
            if extra:
                parts.append("it has " + ", ".join(f"{a} -> {b}" for a, b in extra))
            if lacking:
                parts.append("it lacks " + ", ".join(f"{a} -> {b}" for a, b in lacking))
            raise CheckpointError(f"{path} was trained on another graph: {'; '.join(parts)}")
    model.net.to(pick_device(device))  # type: ignore[union-attr]
    return model


__all__ = [
    "build_model", "load_model", "make_config", "model_kinds", "kinds_for", "MODELS", "IMAGE_KINDS", "TABLE_KINDS",
    "TabularModel", "CausalGen", "CausalGenConfig", "CausalVGen", "CausalVGenConfig", "CCGM", "CCGMConfig",
    "TrainConfig", "FitReport", "Progress", "pick_device",
    "CheckpointError", "NotFittedError",
]
