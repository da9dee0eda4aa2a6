"""Exact inference on discrete label graphs: CPTs fitted by maximum likelihood (or tabulated
from a ground-truth SCM) in a pgmpy ``DiscreteBayesianNetwork``, queried by variable
elimination for P(y | given), P(y | do(x)) and the full joint.

This is the reference that neural label models are checked against (benchmarks.md,
"conditioning vs intervention"): the graph fitted by maximum likelihood on the same data,
then answered exactly. Interventions use the mutilated graph (Pearl 2009, §3.2): the
intervened nodes lose their incoming edges and are clamped.

>>> import pandas as pd
>>> from causal.graph import CausalGraph
>>> df = pd.DataFrame({"a": [0, 0, 1, 1, 1, 1], "b": [0, 1, 1, 1, 1, 0]})
>>> bn = DiscreteBN.fit(df, CausalGraph.parse("a -> b"))
>>> round(bn.prob("b", 1, given={"a": 1}), 4), round(bn.prob("a", 1, do={"b": 1}), 4)
(0.75, 0.6667)
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.data import shown
from causal.graph import CausalGraph, require_graph

__all__ = ["DiscreteBN", "Distribution", "SeeingDoing", "ExactInferenceError", "MAX_NODES", "PRIORS"]

MAX_NODES = 20  # exact inference is offered on graphs up to this size
MAX_STATES = 50  # a discrete column with more values than this is refused
MAX_JOINT = 1 << 22  # cells of the full joint table computed at once
PRIORS = ("mle", "dirichlet", "bdeu")
_GRID = 4096  # u-grid of the exact tabulation of a U(0, 1)-noise mechanism
_BISECT = 48  # bisection steps per change point (interval 2^-48 / GRID)


class ExactInferenceError(ValueError):
    """A graph or table that exact discrete inference cannot handle, or a bad query."""


@dataclass(frozen=True)
class Distribution:
    """An exact discrete distribution over ``variables``: ``probs[i, j, ...]`` is the
    probability of ``(states[0][i], states[1][j], ...)``."""

    variables: tuple[str, ...]
    states: tuple[tuple[Any, ...], ...]
    probs: np.ndarray

    def p(self, *values: Any) -> float:
        """Probability of one assignment, values in the order of ``variables``."""
        if len(values) != len(self.variables):
            raise ExactInferenceError(f"give one value per variable ({', '.join(self.variables)}), got {len(values)}")
        idx = tuple(_state_index(v, s, var) for v, s, var in zip(values, self.states, self.variables))
        return float(self.probs[idx])

    def to_dict(self) -> dict[tuple[Any, ...], float]:
        """``{(value, ...): probability}`` (the form ``causal.metrics.tvd_to_distribution`` takes)."""
        return {
            tuple(s[i] for s, i in zip(self.states, idx)): float(self.probs[idx])
            for idx in itertools.product(*(range(len(s)) for s in self.states))
        }

    def to_series(self) -> pd.Series:
        d = self.to_dict()
        index = pd.MultiIndex.from_tuples(list(d), names=list(self.variables)) if len(self.variables) > 1 else pd.Index([k[0] for k in d], name=self.variables[0])
        return pd.Series(list(d.values()), index=index, name="p")

    def marginal(self, *variables: str) -> "Distribution":
        """The marginal over a subset of the variables."""
        for v in variables:
            if v not in self.variables:
                raise ExactInferenceError(f"'{v}' is not among this distribution's variables ({', '.join(self.variables)})")
        keep = [self.variables.index(v) for v in variables]
        drop = tuple(i for i in range(len(self.variables)) if i not in keep)
        probs = self.probs.sum(axis=drop) if drop else self.probs
        order = np.argsort(np.argsort(keep))  # axes left after summing are in increasing position
        return Distribution(tuple(variables), tuple(self.states[i] for i in keep), np.transpose(probs, order))


@dataclass(frozen=True)
class SeeingDoing:
    """P(child = child_value | parent = value) beside P(child = child_value | do(parent = value))."""

    child: str
    child_value: Any
    parent: str
    value: Any
    given: float
    do: float

    def __str__(self) -> str:
        return (f"P({self.child}={self.child_value} | {self.parent}={self.value}) = {self.given:.4f}; "
                f"P({self.child}={self.child_value} | do({self.parent}={self.value})) = {self.do:.4f}")


@dataclass
class DiscreteBN:
    """A discrete Bayesian network on ``graph`` with one CPT per node.

    ``cpts[node]`` has shape ``(card(parent_1), ..., card(parent_k), card(node))`` with the
    parents in the graph's canonical order; ``states[node]`` lists the node's values.
    ``exact`` is False when some CPT was estimated by Monte Carlo (see ``from_scm``).
    """

    graph: CausalGraph
    states: dict[str, tuple[Any, ...]]
    cpts: dict[str, np.ndarray]
    exact: bool = True
    source: str = "data"
    _pgmpy: Any = field(default=None, repr=False)
    _mutilated: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_size(self.graph)
        for n in self.graph.nodes:
            want = tuple(len(self.states[p]) for p in self.graph.parents(n)) + (len(self.states[n]),)
            t = np.asarray(self.cpts[n], dtype=np.float64)
            if t.shape != want:
                raise ExactInferenceError(f"the CPT of '{n}' has shape {t.shape}; its parents and states need {want}")
            if (t < -1e-12).any() or not np.allclose(t.sum(-1), 1.0, atol=1e-9):
                raise ExactInferenceError(f"the CPT of '{n}' is not a probability table (rows must sum to 1)")
            self.cpts[n] = np.clip(t, 0.0, None) / t.sum(-1, keepdims=True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(
        cls,
        data: pd.DataFrame,
        graph: CausalGraph | str,
        prior: str = "mle",
        strength: float = 1.0,
        states: Mapping[str, Sequence[Any]] | None = None,
    ) -> "DiscreteBN":
        """CPTs from counts in ``data`` (one column per label node; others ignored).

        ``prior="mle"``: maximum likelihood; a parent configuration never seen gets a
        uniform row (as pgmpy's ``MaximumLikelihoodEstimator`` does). ``"dirichlet"``:
        ``strength`` pseudo-counts added to every cell. ``"bdeu"``: the BDeu prior of
        equivalent sample size ``strength`` (``strength / (q·r)`` per cell for a node with
        ``r`` states and ``q`` parent configurations). ``states`` fixes each node's values
        (default: the sorted values seen in the column). Image nodes are skipped.
        """
        graph = _label_graph(require_graph(graph))
        if prior not in PRIORS:
            raise ExactInferenceError(f"unknown prior '{prior}'; use one of {', '.join(PRIORS)}")
        if prior != "mle" and not strength > 0:
            raise ExactInferenceError(f"the {prior} prior needs a positive strength, got {strength!r}")
        if not isinstance(data, pd.DataFrame):
            raise ExactInferenceError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        missing = [n for n in graph.nodes if n not in data.columns]
        if missing:
            raise ExactInferenceError(f"the table has no column for node(s) {', '.join(missing)}")
        st: dict[str, tuple[Any, ...]] = {}
        codes: dict[str, np.ndarray] = {}
        for n in graph.nodes:
            st[n] = tuple(states[n]) if states and n in states else _discrete_states(data[n], n, graph.kind(n))
            codes[n] = _codes(data[n], st[n], n)
        cpts = {}
        for n in graph.nodes:
            pa = graph.parents(n)
            shape = tuple(len(st[p]) for p in pa) + (len(st[n]),)
            counts = np.zeros(shape, dtype=np.float64)
            np.add.at(counts, tuple(codes[p] for p in pa) + (codes[n],), 1.0)
            if prior == "dirichlet":
                counts += strength
            elif prior == "bdeu":
                counts += strength / counts.size
            total = counts.sum(-1, keepdims=True)
            cpts[n] = np.where(total > 0, counts / np.where(total > 0, total, 1.0), 1.0 / shape[-1])
        return cls(graph, st, cpts, exact=True, source=f"data ({len(data)} rows, prior {prior})")

    @classmethod
    def from_scm(cls, scm: Any, mc_samples: int = 200_000, seed: int = 0) -> "DiscreteBN":
        """The CPTs of a ground-truth SCM with discrete mechanisms (``causal.scm.SCM``).

        A node whose noise is ``U(0, 1)`` (``causal.scm.bernoulli`` and the like) is
        tabulated exactly: its output is evaluated on a grid of ``u`` and every change
        point is located by bisection, so P(x = k | parents) is the total length of the
        ``u``-intervals giving ``k`` (exact to about 1e-15 whenever change points are more
        than 1/4096 apart, as for any threshold mechanism). Any other node is estimated by
        Monte Carlo with ``mc_samples`` noise draws per parent configuration; ``exact`` is
        then False. Image nodes are skipped.
        """
        from causal.scm import uniform

        graph = _label_graph(scm.graph)
        st = {}
        for n in graph.nodes:
            col = scm.schema[n]
            if not col.discrete:
                raise ExactInferenceError(f"node '{n}' of {getattr(scm, 'name', 'the SCM')} is continuous; exact inference needs discrete labels")
            st[n] = tuple(col.categories)
        rng = np.random.default_rng(seed)
        cpts, exact = {}, True
        for n in graph.nodes:
            pa = graph.parents(n)
            configs = list(itertools.product(*(range(len(st[p])) for p in pa)))
            k = len(st[n])
            mech = scm.mechanisms[n]
            if mech.noise is uniform:
                table = _tabulate_uniform(lambda parents, u: np.asarray(mech.f(parents, u)), pa, configs, k, n)
            else:
                exact = False
                table = np.zeros((len(configs), k))
                for i, cfg in enumerate(configs):
                    parents = {p: np.full(mc_samples, c, dtype=np.int64) for p, c in zip(pa, cfg)}
                    x = np.asarray(mech.f(parents, scm.noise(n, mc_samples, rng))).astype(np.int64)
                    _check_codes(x, k, n)
                    table[i] = np.bincount(x, minlength=k) / mc_samples
            cpts[n] = table.reshape(tuple(len(st[p]) for p in pa) + (k,))
        name = getattr(scm, "name", "scm")
        return cls(graph, st, cpts, exact=exact, source=f"SCM {name}" + ("" if exact else f" (Monte Carlo, {mc_samples:,} draws per parent configuration)"))

    # ------------------------------------------------------------------ pgmpy
    @property
    def pgmpy(self) -> Any:
        """The network as a ``pgmpy.models.DiscreteBayesianNetwork`` with its CPDs."""
        if self._pgmpy is None:
            self._pgmpy = self._build_pgmpy(self.cpts)
        return self._pgmpy

    def _build_pgmpy(self, cpts: Mapping[str, np.ndarray], cut: frozenset[str] = frozenset()) -> Any:
        """A pgmpy network; the nodes in ``cut`` lose their parents (the mutilated graph).
        Parents stay in *this* graph's canonical order, the CPTs' axis order."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from pgmpy.factors.discrete import TabularCPD
            from pgmpy.models import DiscreteBayesianNetwork

        model = DiscreteBayesianNetwork()
        model.add_nodes_from(self.graph.nodes)
        model.add_edges_from([(a, b) for a, b in self.graph.edges if b not in cut])
        for n in self.graph.nodes:
            pa = [] if n in cut else list(self.graph.parents(n))
            t = cpts[n]
            values = np.moveaxis(t, -1, 0).reshape(len(self.states[n]), -1)
            model.add_cpds(TabularCPD(
                n, len(self.states[n]), values,
                evidence=pa or None, evidence_card=[len(self.states[p]) for p in pa] or None,
                state_names={v: list(self.states[v]) for v in [n, *pa]},
            ))
        model.check_model()
        return model

    def _model_for(self, do: Mapping[str, Any]) -> Any:
        """The network itself, or its mutilated version under ``do`` (cached)."""
        if not do:
            return self.pgmpy
        key = tuple(sorted((k, _state_index(v, self.states[k], k)) for k, v in do.items()))
        if key not in self._mutilated:
            cpts = dict(self.cpts)
            for node, idx in key:
                point = np.zeros(len(self.states[node]))
                point[idx] = 1.0
                cpts[node] = point
            self._mutilated[key] = self._build_pgmpy(cpts, frozenset(do))
        return self._mutilated[key]

    # ------------------------------------------------------------------ queries
    def query(
        self,
        variables: str | Sequence[str],
        given: Mapping[str, Any] | None = None,
        do: Mapping[str, Any] | None = None,
    ) -> Distribution:
        """P(variables | given) under ``do``, by variable elimination (pgmpy).

        >>> bn.query("Male", given={"Mustache": 1}).p(1)  # doctest: +SKIP
        """
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        given, do = dict(given or {}), dict(do or {})
        self._check_query(variables, given, do)
        model = self._model_for(do)
        evidence = {**given, **do}
        if evidence and self._evidence_prob(model, evidence) <= 0.0:
            event = ", ".join(f"{k} = {shown(v)}" for k, v in given.items())
            raise ExactInferenceError(f"the event {event} has probability 0 under this network" + (f" with do({', '.join(do)})" if do else ""))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgmpy.inference import VariableElimination

            f = VariableElimination(model).query(
                list(variables), evidence={k: self._state(k, v) for k, v in evidence.items()} or None, joint=True, show_progress=False
            )
        axes = [f.variables.index(v) for v in variables]
        probs = np.transpose(np.asarray(f.values, dtype=np.float64), axes)
        # pgmpy keeps each variable's state order as given at construction
        return Distribution(variables, tuple(self.states[v] for v in variables), probs / probs.sum())

    def prob(self, node: str, value: Any, given: Mapping[str, Any] | None = None, do: Mapping[str, Any] | None = None) -> float:
        """P(node = value | given) under ``do``."""
        return self.query(node, given, do).p(value)

    def seeing_vs_doing(self, child: str, parent: str, value: Any, child_value: Any = 1) -> SeeingDoing:
        """P(child = child_value | parent = value) and P(child = child_value | do(parent = value))."""
        return SeeingDoing(
            child, child_value, parent, value,
            self.prob(child, child_value, given={parent: value}),
            self.prob(child, child_value, do={parent: value}),
        )

    def joint(self, do: Mapping[str, Any] | None = None) -> Distribution:
        """The full joint over every node (under ``do``): the product of the CPTs of the
        (mutilated) network, in canonical node order."""
        do = dict(do or {})
        self._check_query((), {}, do)
        size = int(np.prod([len(self.states[n]) for n in self.graph.nodes]))
        if size > MAX_JOINT:
            raise ExactInferenceError(f"the full joint has {size:,} cells (more than {MAX_JOINT:,}); query a few variables instead")
        nodes = self.graph.nodes
        probs = np.ones([len(self.states[n]) for n in nodes])
        for n in nodes:
            if n in do:
                t = np.zeros(len(self.states[n]))
                t[_state_index(do[n], self.states[n], n)] = 1.0
                axes = [nodes.index(n)]
            else:
                t = self.cpts[n]
                axes = [nodes.index(p) for p in self.graph.parents(n)] + [nodes.index(n)]
            shape = [1] * len(nodes)
            order = np.argsort(axes)
            for ax in axes:
                shape[ax] = len(self.states[nodes[ax]])
            probs = probs * np.transpose(t, order).reshape(shape)
        return Distribution(nodes, tuple(self.states[n] for n in nodes), probs)

    # ------------------------------------------------------------------ helpers
    def _state(self, node: str, value: Any) -> Any:
        return self.states[node][_state_index(value, self.states[node], node)]

    def _check_query(self, variables: Sequence[str], given: Mapping[str, Any], do: Mapping[str, Any]) -> None:
        for role, names in (("query", variables), ("given", given), ("do", do)):
            for v in names:
                if v not in self.graph:
                    raise ExactInferenceError(f"unknown node '{v}' in the {role}; the nodes are {', '.join(self.graph.nodes)}")
        for k, v in {**given, **do}.items():
            _state_index(v, self.states[k], k)
        both = [v for v in variables if v in given or v in do]
        if both:
            raise ExactInferenceError(f"'{both[0]}' is both queried and fixed (given or do); query the other variables")
        clash = [k for k in given if k in do and _state_index(given[k], self.states[k], k) != _state_index(do[k], self.states[k], k)]
        if clash:
            raise ExactInferenceError(f"given {clash[0]} = {shown(given[clash[0]])} contradicts do({clash[0]} = {shown(do[clash[0]])}): probability 0")

    def _evidence_prob(self, model: Any, evidence: Mapping[str, Any]) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgmpy.inference import VariableElimination

            f = VariableElimination(model).query(list(evidence), joint=True, show_progress=False)
        idx = tuple(
            _state_index(evidence[v], self.states[v], v) for v in f.variables
        )
        return float(np.asarray(f.values)[idx])


# ---------------------------------------------------------------------- module helpers
def _check_size(graph: CausalGraph) -> None:
    if len(graph.nodes) > MAX_NODES:
        raise ExactInferenceError(
            f"the label graph has {len(graph.nodes)} nodes; exact inference is offered up to {MAX_NODES} "
            "(use Monte Carlo estimates from samples instead)"
        )


def _label_graph(graph: CausalGraph) -> CausalGraph:
    """The graph without its image nodes (which must be sinks: labels cause images)."""
    images = [n for n in graph.nodes if graph.kind(n) == "image"]
    for n in images:
        if graph.children(n):
            raise ExactInferenceError(f"image node '{n}' has children ({', '.join(graph.children(n))}); exact label inference needs images to be sinks")
    labels = [n for n in graph.nodes if n not in images]
    if not labels:
        raise ExactInferenceError("the graph has no label nodes")
    g = CausalGraph(labels, [e for e in graph.edges if e[0] in labels and e[1] in labels],
                    {n: k for n, k in graph.kinds.items() if n in labels})
    _check_size(g)
    return g


def _discrete_states(col: pd.Series, name: str, kind: str | None) -> tuple[Any, ...]:
    """The sorted values of a discrete column; a clear error for a continuous one."""
    if kind == "continuous":
        raise ExactInferenceError(f"node '{name}' is continuous; exact inference needs discrete labels (discretize it first)")
    if col.isna().any():
        raise ExactInferenceError(f"column '{name}' has missing values; fill or drop them")
    values = pd.unique(col)
    if pd.api.types.is_bool_dtype(col):
        values = values.astype(np.int64)
    elif pd.api.types.is_float_dtype(col):
        if not np.all(np.isclose(values, np.round(values))):
            raise ExactInferenceError(
                f"column '{name}' holds non-integer numbers (like {values[~np.isclose(values, np.round(values))][0]!r}): "
                "it looks continuous; exact inference needs discrete labels (discretize it first)"
            )
        values = np.round(values).astype(np.int64)
    if len(values) > MAX_STATES:
        raise ExactInferenceError(f"column '{name}' has {len(values)} distinct values (more than {MAX_STATES}); is it continuous?")
    out = sorted((v.item() if isinstance(v, np.generic) else v for v in values), key=lambda v: (isinstance(v, str), v))
    return tuple(out)


def _codes(col: pd.Series, states: tuple[Any, ...], name: str) -> np.ndarray:
    values = col.to_numpy()
    if pd.api.types.is_bool_dtype(col):
        values = values.astype(np.int64)
    codes = pd.Index(list(states), dtype=object).get_indexer(pd.Index(values.tolist(), dtype=object))
    if (codes < 0).any():
        bad = values[codes < 0][0]
        raise ExactInferenceError(f"column '{name}' holds {bad!r}, which is not among its states {', '.join(map(str, states))}")
    return codes.astype(np.int64)


def _state_index(value: Any, states: Sequence[Any], node: str) -> int:
    for i, s in enumerate(states):
        if value == s or str(value) == str(s):
            return i
    raise ExactInferenceError(f"'{node}' has no value {shown(value)}; its values are {', '.join(map(str, states))}")


def _check_codes(x: np.ndarray, k: int, node: str) -> None:
    if x.size and (x.min() < 0 or x.max() >= k):
        raise ExactInferenceError(f"the mechanism of '{node}' returned codes outside 0..{k - 1}")


def _tabulate_uniform(f, parents: Sequence[str], configs: list[tuple[int, ...]], k: int, node: str) -> np.ndarray:
    """P(f(parents, u) = j) for u ~ U(0, 1), per parent configuration, exactly (see
    ``DiscreteBN.from_scm``): the output on a midpoint grid, then bisection at each change."""
    q, g = len(configs), _GRID
    cfg = np.asarray(configs, dtype=np.int64).reshape(q, len(parents))
    u = (np.arange(g) + 0.5) / g
    pa = {p: np.repeat(cfg[:, i], g) for i, p in enumerate(parents)}
    out = f(pa, np.tile(u, q)).astype(np.int64).reshape(q, g)
    _check_codes(out, k, node)
    table = np.zeros((q, k))
    rows, cols = np.nonzero(out[:, 1:] != out[:, :-1])  # a change between u[c] and u[c+1]
    lo, hi = u[cols].copy(), u[cols + 1].copy()
    left = out[rows, cols]
    if len(rows):
        pr = {p: cfg[rows, i] for i, p in enumerate(parents)}
        for _ in range(_BISECT):
            mid = 0.5 * (lo + hi)
            same = f(pr, mid).astype(np.int64) == left
            lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    cut = 0.5 * (lo + hi)
    for r in range(q):
        sel = rows == r
        edges = np.concatenate([[0.0], cut[sel], [1.0]])
        vals = np.concatenate([out[r, cols[sel]], [out[r, -1]]])
        np.add.at(table[r], vals, np.diff(edges))
    return table

