"""Ground-truth structural causal models: known equations, exact interventions and
counterfactuals, used as built-in datasets and to score trained models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from causal.data import Column, Schema
from causal.graph import CausalGraph
from causal.queries import QueryMixin

Parents = Mapping[str, np.ndarray]


class NotIdentifiableError(ValueError):
    """A counterfactual needs a mechanism that cannot be inverted."""


@dataclass(frozen=True)
class Mechanism:
    """One structural equation ``x = f(parents, u)`` with ``u ~ noise``.

    ``inverse(parents, x, rng)`` returns the noise that produced ``x`` (a draw from the
    noise posterior when it is not unique, as for a discrete node); ``None`` marks a
    mechanism whose counterfactuals are not identifiable from the data.
    """

    noise: Callable[[np.random.Generator, int], np.ndarray]
    f: Callable[[Parents, np.ndarray], np.ndarray]
    inverse: Callable[[Parents, np.ndarray, np.random.Generator], np.ndarray] | None = None


def additive(f: Callable[[Parents], np.ndarray], noise: Callable[[np.random.Generator, int], np.ndarray]) -> Mechanism:
    """``x = f(parents) + u``: abduction is ``u = x - f(parents)``."""
    return Mechanism(noise, lambda pa, u: f(pa) + u, lambda pa, x, rng: x - f(pa))


def location_scale(
    f: Callable[[Parents], np.ndarray], s: Callable[[Parents], np.ndarray], noise: Callable[[np.random.Generator, int], np.ndarray]
) -> Mechanism:
    """``x = f(parents) + s(parents)·u`` with ``s > 0`` (heteroscedastic noise): abduction is
    ``u = (x - f(parents)) / s(parents)``."""
    return Mechanism(noise, lambda pa, u: f(pa) + s(pa) * u, lambda pa, x, rng: (x - f(pa)) / s(pa))


def normal(scale: float = 1.0) -> Callable[[np.random.Generator, int], np.ndarray]:
    return lambda rng, n: scale * rng.standard_normal(n)


def uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random(n)


def bernoulli(p: float | Callable[[Parents], np.ndarray]) -> Mechanism:
    """A binary node, 1 with probability ``p`` (a number, or a function of the parents).

    Noise ``u ~ U(0, 1)``, ``x = 1[u < p]``; abduction draws ``u`` uniformly from the
    interval consistent with the observed ``x``.
    """
    prob = p if callable(p) else (lambda pa: p)

    def f(pa: Parents, u: np.ndarray) -> np.ndarray:
        return (u < prob(pa)).astype(np.int64)

    def inverse(pa: Parents, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        q = np.broadcast_to(prob(pa), x.shape)
        v = rng.random(len(x))
        return np.where(x == 1, v * q, q + v * (1 - q))

    return Mechanism(uniform, f, inverse)


def categorical(probs: Callable[[Parents], np.ndarray]) -> Mechanism:
    """A categorical node whose probabilities ``probs(parents)`` (``[n, k]``, rows summing to
    1) depend on its parents. Noise ``u ~ U(0, 1)``, ``x`` = the first category whose
    cumulative probability exceeds ``u``; abduction draws ``u`` uniformly from the interval
    of the observed ``x``."""

    def f(pa: Parents, u: np.ndarray) -> np.ndarray:
        cum = np.cumsum(probs(pa), axis=-1)
        return np.minimum((np.asarray(u)[:, None] > cum).sum(1), cum.shape[-1] - 1).astype(np.int64)

    def inverse(pa: Parents, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cum = np.cumsum(probs(pa), axis=-1)
        cum = np.broadcast_to(cum, (len(x), cum.shape[-1]))
        x = np.asarray(x, dtype=np.int64)
        rows = np.arange(len(x))
        lo = np.where(x > 0, cum[rows, np.maximum(x - 1, 0)], 0.0)
        return lo + rng.random(len(x)) * (cum[rows, x] - lo)

    return Mechanism(uniform, f, inverse)


class SCM(QueryMixin):
    """A structural causal model with known equations.

    >>> from causal.datasets import load
    >>> scm = load("chain5-lin", n=10, seed=0).scm
    >>> scm.sample(3, do={"x2": 0.0}, seed=0)["x2"].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(
        self,
        graph: CausalGraph,
        mechanisms: Mapping[str, Mechanism],
        categories: Mapping[str, Sequence] | None = None,
        name: str = "scm",
    ) -> None:
        missing = [n for n in graph.nodes if n not in mechanisms]
        if missing:
            raise ValueError(f"SCM '{name}' has no mechanism for node(s) {', '.join(missing)}")
        categories = dict(categories or {})
        cols = []
        for n in graph.nodes:
            kind = graph.kind(n) or ("binary" if n in categories and len(categories[n]) == 2 else "categorical" if n in categories else "continuous")
            cats = tuple(categories.get(n, (0, 1) if kind == "binary" else ()))
            cols.append(Column(n, kind, cats))
        self.graph = graph.with_kinds({c.name: c.kind for c in cols})
        self.schema = Schema(tuple(cols))
        self.mechanisms = dict(mechanisms)
        self.name = name

    # Mechanisms protocol
    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mechanisms[node].noise(rng, n)

    def predict(self, node: str, parents: Parents, noise: np.ndarray) -> np.ndarray:
        return np.asarray(self.mechanisms[node].f(parents, noise))

    def abduct(self, node: str, value: np.ndarray, parents: Parents, rng: np.random.Generator) -> np.ndarray:
        inv = self.mechanisms[node].inverse
        if inv is None:
            raise NotIdentifiableError(
                f"the mechanism of '{node}' in {self.name} cannot be inverted, so its counterfactuals are not identifiable"
            )
        return np.asarray(inv(parents, value, rng))

    def __repr__(self) -> str:
        return f"SCM({self.name!r}, {self.graph.to_text()!r})"
