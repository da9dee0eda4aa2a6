"""Torch models that obey a causal graph: every kind behind one protocol
(``generators.protocol``), listed once (``generators.registry``), trained by one loop
(``generators.training``) and saved safely (``generators.checkpoint``).

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

from causal.graph import CausalGraph, GraphError, require_graph
from generators.checkpoint import CheckpointError, read_checkpoint
from generators.image.base import ImageModel
from generators.image.causal_gan import CausalGAN, CausalGANConfig
from generators.image.ccgm import ImageCCGM
from generators.model import CausalModel, NotFittedError
from generators.protocol import CounterfactualModel, GenerativeModel, supports_counterfactuals
from generators.registry import KINDS, ModelKind, kinds_for
from generators.registry import kind as model_kind
from generators.registry import names as model_kinds
from generators.settings import PRESETS, Setting, make_config, parse_settings, preset_settings, settings_of
from generators.tabular.base import TabularModel
from generators.tabular.causal_gen import CausalGen, CausalGenConfig
from generators.tabular.causal_vgen import CausalVGen, CausalVGenConfig
from generators.tabular.ccgm import CCGMConfig, TabularCCGM
from generators.training import FitReport, Progress, TrainConfig, pick_device


def build_model(kind: str, graph: CausalGraph | str, config: Any = None, preset: str | None = None,
                **settings: Any) -> CausalModel:
    """A new, unfitted model of ``kind`` for ``graph`` (an image model when the graph has a
    node of kind ``image``); ``settings`` override the defaults (``make_config``), and the
    named ``preset`` (``PRESETS``: ``"fast"`` for Causal Gen) where one is given."""
    entry = model_kind(kind)
    g = require_graph(graph)
    if not len(g):
        raise GraphError("the graph has no nodes: a model needs at least one variable to learn")
    cls = entry.model_class(g)
    if config is not None and (settings or preset):
        if preset:
            raise ValueError("give either a config or a preset, not both")
        config = dataclasses.replace(config, **settings)
    model = cls(g, config if config is not None else make_config(kind, preset, **settings))
    model.kind = entry.name  # a variant (linear-anm) keeps its own name
    return model


def load_model(path: str | os.PathLike, graph: CausalGraph | str | None = None, device: str = "cpu") -> CausalModel:
    """Load a saved model (safetensors + JSON; no code is executed).

    With ``graph``, a checkpoint trained on a different graph is refused with a message
    naming the differing edges.
    """
    meta, state = read_checkpoint(path)
    name = meta.get("kind")
    try:
        entry = model_kind(name)
    except ValueError:
        raise CheckpointError(f"{path} holds a model of unknown kind '{name}'") from None
    try:
        cls = entry.model_class(images=isinstance(meta.get("image"), dict))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    try:
        model = cls.from_checkpoint(meta, state)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None
    except (KeyError, TypeError, ValueError) as e:  # a field validate_meta cannot judge alone
        raise CheckpointError(f"{path}/model.json does not describe a {name} model: {type(e).__name__} {e}") from None
    model.kind = entry.name
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
    model.net.to(pick_device(device))  # type: ignore[attr-defined]
    return model


__all__ = [
    "build_model", "load_model", "make_config", "parse_settings", "settings_of", "Setting", "PRESETS", "preset_settings",
    "KINDS", "ModelKind", "model_kind", "model_kinds", "kinds_for",
    "GenerativeModel", "CounterfactualModel", "supports_counterfactuals",
    "CausalModel", "TabularModel", "ImageModel",
    "CausalGen", "CausalGenConfig", "CausalVGen", "CausalVGenConfig", "TabularCCGM", "ImageCCGM", "CCGMConfig",
    "CausalGAN", "CausalGANConfig",
    "TrainConfig", "FitReport", "Progress", "pick_device", "CheckpointError", "NotFittedError",
]
