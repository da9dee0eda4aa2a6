"""The model protocol: what every model kind satisfies, and the capability counterfactuals
need. The CLI, the app, the workflows and the contract test are written against these, never
against a concrete model class.

``GenerativeModel`` samples: observationally, under ``do`` and ``given``. A
``CounterfactualModel`` can also abduct (recover a row's exogenous noise), which is what
a counterfactual needs (Pearl's abduction, action, prediction); ``supports_counterfactuals``
says whether a model has that capability, and queries on one without it fail clearly, as in
dowhy.gcm, where a counterfactual asks for an invertible mechanism.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

from causal.graph import CausalGraph
from causal.queries import Seed
from generators.training import Callback, FitReport

__all__ = ["GenerativeModel", "CounterfactualModel", "DensityModel", "supports_counterfactuals", "supports_density"]


@runtime_checkable
class GenerativeModel(Protocol):
    """A causal generative model: trained on data that obey ``graph``, it samples
    observationally, under ``do`` (interventions) and under ``given`` (conditioning).
    Tables go in and out as DataFrames with one column per node; image models take and give
    ``ImageData`` (labels and images)."""

    kind: str
    graph: CausalGraph
    config: Any
    report: FitReport | None

    @property
    def fitted(self) -> bool: ...

    def fit(
        self,
        data: Any,
        seed: int = 0,
        *,
        callbacks: Iterable[Callback] = (),
        cancel: Any = None,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> FitReport: ...

    def sample(
        self,
        n: int,
        do: Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        seed: Seed = None,
        **conditioning: Any,
    ) -> Any: ...

    def save(self, path: str | os.PathLike) -> Path: ...


@runtime_checkable
class CounterfactualModel(GenerativeModel, Protocol):
    """A ``GenerativeModel`` that can abduct: ``counterfactual(rows, do)`` gives each row as it
    would have been under ``do``, with the same index and columns."""

    def counterfactual(self, data: Any, do: Mapping[str, Any] | None = None, seed: Seed = None) -> Any: ...


def supports_counterfactuals(model: Any) -> bool:
    """Whether ``model`` (an instance or a class) can compute counterfactuals."""
    return callable(getattr(model, "counterfactual", None))


@runtime_checkable
class DensityModel(GenerativeModel, Protocol):
    """A ``GenerativeModel`` that gives its own density: ``log_density(rows)`` is, per row and
    node, ``log p(x_v | parents)`` under the fitted mechanisms (what held-out likelihood,
    and so hypothesis testing by generalization error, needs)."""

    def log_density(self, data: Any, nodes: Iterable[str] | None = None) -> Any: ...


def supports_density(model: Any) -> bool:
    """Whether ``model`` (an instance or a class) can give its density."""
    return callable(getattr(model, "log_density", None))
