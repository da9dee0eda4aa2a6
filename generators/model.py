"""What every model kind shares, tabular or image: the graph it obeys, its frozen config, its
fit report, the fitted check, and saving and loading through ``generators.checkpoint``. The
model protocol these satisfy is ``generators.protocol``."""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import Any, ClassVar, Mapping

from torch import Tensor

from causal.graph import CausalGraph, require_graph
from causal.interventions import Cut, parse_cuts
from generators.checkpoint import config_from_dict, config_to_dict, write_checkpoint
from generators.training import FitReport

__all__ = ["CausalModel", "NotFittedError"]


class NotFittedError(RuntimeError):
    """A query or a save asked of a model that was neither fitted nor loaded."""


class CausalModel:
    """Base of ``TabularModel`` and ``ImageModel``. A subclass provides ``fitted``,
    ``schema`` (the data's columns), ``_state()`` (its weights and any extra JSON sections
    for the checkpoint) and ``_load_state(meta, state)`` (the reverse), besides ``fit``,
    ``sample`` and, where it can abduct, ``counterfactual``."""

    kind: ClassVar[str] = "abstract"
    Config: ClassVar[type] = object
    cuts: tuple[Cut, ...] = ()  # edges removed from the fitted model (``without_edges``)

    def __init__(self, graph: CausalGraph | str, config: Any = None) -> None:
        self.graph = require_graph(graph)
        self.config = config if config is not None else self.Config()
        self.report: FitReport | None = None
        self._lock = threading.Lock()

    @property
    def fitted(self) -> bool:
        raise NotImplementedError

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"this {self.kind} model is not fitted yet: call fit(data) or load a checkpoint")

    # ------------------------------------------------------------------ edited models
    def without_edges(self, *edges: Any, references: Mapping[str, Any] | None = None) -> "CausalModel":
        """This model with ``edges`` removed (``"A -> Y"`` or ``("A", "Y")``; more cuts add to
        any it has): each cut edge's child sees, instead of the parent's value, an
        independent copy of the parent drawn from its distribution in the edited model, or
        the value ``references`` gives that parent. Every other mechanism is kept as fitted,
        so relations off the cut paths keep their distribution; nothing is retrained. The
        result is a model like any other (sample, given, do, save, load); its
        ``counterfactual`` takes rows of the world as it is and answers in the edited one
        (with ``do={}``: each row as it would have been without the edges). The semantics
        are the shared query code's (``causal.queries``, ``causal.interventions.Cut``).

        >>> fair = model.without_edges("A -> income")  # doctest: +SKIP
        """
        self._require_fitted()
        cuts = parse_cuts(list(edges), self.graph, self.schema, references)  # type: ignore[attr-defined]
        taken = {(c.parent, c.child) for c in self.cuts}
        again = [f"{c.parent} -> {c.child}" for c in cuts if (c.parent, c.child) in taken]
        if again:
            raise ValueError(f"{', '.join(again)} is cut already")
        new = copy.copy(self)  # the weights are shared: queries never change them
        new.cuts = self.cuts + cuts
        return new

    @property
    def structure(self) -> CausalGraph:
        """The graph the model's answers obey: its graph without the cut edges."""
        return self.graph.without_edges(*[(c.parent, c.child) for c in self.cuts]) if self.cuts else self.graph

    # ------------------------------------------------------------------ persistence
    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """A checkpoint's config as this version reads it: a subclass fills in what older
        versions left implicit (a new setting whose default differs from the old behaviour)."""
        return config

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The weights to save and any sections the checkpoint's JSON adds to the common ones."""
        raise NotImplementedError

    def _load_state(self, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> None:
        """Restore a fitted model from a checkpoint's JSON and weights."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` (weights) and ``model.json`` (kind, config, graph,
        schema, fit report) into the folder ``path``, atomically
        (``generators.checkpoint.write_checkpoint``): a crash never leaves a checkpoint that
        loads half-written."""
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            state, extra = self._state()
            meta = {
                "kind": self.kind,
                "config": config_to_dict(self.config),
                "graph": self.graph.to_dict(),
                "schema": self.schema.to_dict(),  # type: ignore[attr-defined]
                "fit": self.report.to_dict() if self.report else None,
                **extra,
            }
            if self.cuts:
                meta["cuts"] = [{"parent": c.parent, "child": c.child, "reference": c.reference} for c in self.cuts]
            write_checkpoint(folder, state, meta)
        return folder

    @classmethod
    def from_checkpoint(cls, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> "CausalModel":
        """The model a checkpoint holds (``generators.checkpoint.read_checkpoint`` gives
        ``meta`` and ``state``; ``generators.load_model`` is the usual way in)."""
        graph = CausalGraph.from_json(meta["graph"])
        model = cls(graph, config_from_dict(cls.Config, cls._legacy_config(meta["config"])))
        model._load_state(meta, state)
        if meta.get("fit"):
            model.report = FitReport.from_dict(meta["fit"])
        if meta.get("cuts"):
            model.cuts = tuple(Cut(c["parent"], c["child"], c.get("reference")) for c in meta["cuts"])
        return model
