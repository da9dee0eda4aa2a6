"""A causal graph suggested by the data: the PC algorithm (pgmpy's, order-independent
"stable" variant) driven by this project's conditional independence tests
(``causal.independence.ci_test``: a partial correlation for continuous and binary columns,
within the strata of discrete conditioning columns and with its interactions with the
continuous ones; a G-test where a tested column is categorical or every one is discrete), as a *starting point* for the graph a user draws, never as the answer.

What the suggestion rests on, stated so a user can judge it (the Graph page shows it):

- **No hidden common causes** of two columns (causal sufficiency) and **faithfulness** (every
  independence in the data comes from the graph's structure, not from effects cancelling).
- **The tests.** Two columns are kept adjacent only when every test of their independence
  (given up to ``max_cond`` other columns) rejects it at ``alpha`` *and* the dependence is at
  least ``min_strength`` strong (``CITest.strength``: |partial correlation|, or its
  analogue for discrete columns). The default 0 is significance alone, PC as defined. With
  tens of thousands of rows a test rejects dependences far too small to matter, and a floor
  (the Graph page's relevance threshold is 0.1) keeps those from becoming arrows; but it
  also declares independent a dependence that conditioning on a near-copy of a variable
  shrinks, and the separating set then orients a false collider.
  The default ``regression="spline"`` adjusts for the conditioning columns by cubic
  splines; ``"linear"`` is faster, but a nonlinear mechanism can leave dependence that a
  linear adjustment does not remove (an extra arrow).
- **What data cannot distinguish.** Only the arrows the data orient (colliders and what
  follows from them, Meek's rules) are given a direction; the rest are returned undirected:
  the Markov equivalence class. ``Suggestion.graph`` is one graph of the class, its
  undirected edges pointed by column order: a place to start drawing, not a finding.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(2, 2000))
>>> c = a + b + 0.5 * rng.normal(size=2000)                # a collider: a -> c <- b
>>> suggest_graph(pd.DataFrame({"a": a, "b": b, "c": c})).to_text()
'a -> c; b -> c'
>>> suggest_graph(pd.DataFrame({"a": a, "c": c})).to_text()   # two columns: no direction to be had
'a -- c'
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import networkx as nx
import pandas as pd

from causal.data import DataError, infer_kind
from causal.graph import CPDAG, CausalGraph, Edge
from causal.graph_text import quoted
from causal.independence import BINS, REGRESSIONS, ci_test

ALPHA = 0.01  # the tests' level (PC's usual choice)
# No strength floor by default: significance alone, as PC is defined. A floor makes a dependence that
# conditioning on a near-copy of a variable shrinks count as independence, and the wrong separating set then
# orients a false collider (chain5-lin, 2,000 rows of seed 0: x2 and x4 given x1 at strength 0.098 gave
# x2 -> x3 <- x4); measured in docs/benchmarks.md, *Suggested graphs*.
MIN_STRENGTH = 0.0
REGRESSION = "spline"  # adjusts for nonlinear mechanisms too; a linear adjustment leaves dependence there (extra arrows)
MAX_COND = 3  # the largest conditioning set tried
MAX_COLUMNS = 40  # PC's tests grow fast with the columns; more is refused with a message


@dataclass(frozen=True)
class Suggestion:
    """What ``suggest_graph`` found: the arrows the data orient (``directed``), the
    adjacencies they leave unoriented (``undirected``, sorted pairs), one graph of that
    class (``graph``: undirected edges pointed by column order, arrows dropped if they
    would close a cycle, listed in ``dropped``), and what was run."""

    nodes: tuple[str, ...]
    directed: tuple[Edge, ...]
    undirected: tuple[Edge, ...]
    graph: CausalGraph
    alpha: float
    min_strength: float
    max_cond: int
    regression: str
    tests: int
    seconds: float
    dropped: tuple[Edge, ...] = ()
    conflicts: tuple[Edge, ...] = field(default=())

    @property
    def cpdag(self) -> CPDAG:
        return CPDAG(self.nodes, self.directed, self.undirected)

    def to_text(self) -> str:
        """``a -> b`` for the oriented arrows, ``a -- b`` for the others, then lone columns."""
        q = quoted
        parts = [f"{q(a)} -> {q(b)}" for a, b in self.directed] + [f"{q(a)} -- {q(b)}" for a, b in self.undirected]
        linked = {v for e in (*self.directed, *self.undirected) for v in e}
        parts += [q(v) for v in self.nodes if v not in linked]
        return "; ".join(parts) if parts else "(no columns)"

    def describe(self) -> str:
        """One paragraph: what was found and what it rests on."""
        return (f"{len(self.directed) + len(self.undirected)} adjacencies among {len(self.nodes)} columns: "
                f"{len(self.directed)} oriented by the data, {len(self.undirected)} that the data cannot orient "
                f"(either direction fits equally). PC with {self.tests:,} conditional independence tests "
                f"(alpha {self.alpha:g}, dependences weaker than {self.min_strength:g} treated as absent, "
                f"up to {self.max_cond} conditioning columns, {self.regression} adjustment), {self.seconds:.1f} s. "
                "It assumes no hidden common cause of two columns and that no dependence cancels out.")

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "directed": [list(e) for e in self.directed],
                "undirected": [list(e) for e in self.undirected], "graph": self.graph.to_text(),
                "alpha": self.alpha, "min_strength": self.min_strength, "max_cond": self.max_cond,
                "regression": self.regression, "tests": self.tests, "seconds": self.seconds,
                "dropped": [list(e) for e in self.dropped], "conflicts": [list(e) for e in self.conflicts]}


def suggest_graph(
    data: pd.DataFrame,
    columns: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    alpha: float = ALPHA,
    min_strength: float = MIN_STRENGTH,
    max_cond: int = MAX_COND,
    regression: str = REGRESSION,
    bins: int = BINS,
    mixed: str = "strata",
    interactions: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Suggestion:
    """Run PC on ``columns`` of ``data`` (default: all) and return the ``Suggestion``.

    ``kinds``: column kinds (else inferred); ``regression``, ``bins``, ``mixed`` and
    ``interactions`` are ``ci_test``'s. ``progress``, if given, is called after each test
    with the number of tests run so far and the size of that test's conditioning set (PC
    tests sets of size 0, then 1, ... up to ``max_cond``; the total is not known in
    advance); an exception it raises stops the search. Rows with a missing value in these
    columns are left out. Raises ``DataError`` naming an unknown or constant column, or a table
    too small or too wide to search.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgmpy's deprecation notes on import
        from pgmpy.estimators import PC

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 <= min_strength < 1:
        raise ValueError(f"min_strength must be at least 0 and below 1, got {min_strength}")
    if max_cond < 0:
        raise ValueError(f"max_cond must be 0 or more, got {max_cond}")
    if regression not in REGRESSIONS:
        raise ValueError(f"regression must be one of {', '.join(REGRESSIONS)}, got {regression!r}")
    cols = [str(c) for c in (columns if columns is not None else data.columns)]
    unknown = [c for c in cols if c not in data.columns]
    if unknown:
        raise DataError(f"no column named {', '.join(map(repr, unknown))}; the columns are {', '.join(map(str, data.columns))}")
    if len(cols) < 2:
        raise DataError("a graph needs at least two columns")
    if len(cols) > MAX_COLUMNS:
        raise DataError(f"{len(cols)} columns; a graph is suggested for at most {MAX_COLUMNS} (choose the columns)")
    df = data[cols].dropna().reset_index(drop=True)
    if len(df) < 20:
        raise DataError(f"{len(df)} complete rows; at least 20 are needed to test independences")
    kind = {c: (dict(kinds or {}).get(c) or infer_kind(df[c])) for c in cols}
    for c in cols:
        if df[c].nunique() < 2:
            raise DataError(f"column '{c}' is constant; leave it out")

    tests, memo = [0], {}  # each column's codes and spline basis, computed once for every test
    # pgmpy walks sets of node names, whose order for text follows Python's per-process hash seed: the
    # search runs on the column numbers instead, so that the same table gives the same suggestion every time
    numbered = df.set_axis(range(len(cols)), axis=1)
    by_number = {i: kind[c] for i, c in enumerate(cols)}

    def independent(x: int, y: int, given: Sequence[int], data: pd.DataFrame, significance_level: float = alpha,
                    **_: Any) -> bool:
        tests[0] += 1
        t = ci_test(data, x, y, tuple(sorted(given)), by_number, bins=bins, regression=regression, mixed=mixed,
                    interactions=interactions, memo=memo)
        if progress is not None:
            progress(tests[0], len(given))
        return bool(t.p_value >= significance_level or t.strength < min_strength)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgmpy's notes about data types and deprecations
        pdag = PC(numbered).estimate(variant="stable", ci_test=independent, significance_level=alpha,
                                     max_cond_vars=max_cond, show_progress=False, return_type="pdag", n_jobs=1)
    seconds = time.perf_counter() - start
    order = {c: i for i, c in enumerate(cols)}
    arrows = {(cols[a], cols[b]) for a, b in pdag.directed_edges}
    undirected = {tuple(sorted((cols[a], cols[b]), key=order.get)) for a, b in pdag.undirected_edges}
    # finite samples can orient one pair both ways (conflicting colliders): leave it unoriented
    conflicts = {tuple(sorted(e, key=order.get)) for e in arrows if (e[1], e[0]) in arrows}
    arrows = {e for e in arrows if tuple(sorted(e, key=order.get)) not in conflicts}
    undirected |= conflicts
    directed = tuple(sorted(arrows, key=lambda e: (order[e[0]], order[e[1]])))
    undirected_t = tuple(sorted(undirected, key=lambda e: (order[e[0]], order[e[1]])))
    graph, dropped = _one_dag(cols, directed, undirected_t, kind)
    return Suggestion(tuple(cols), directed, undirected_t, graph, alpha, min_strength, max_cond, regression,
                      tests[0], seconds, dropped, tuple(sorted(conflicts)))


def _one_dag(cols: list[str], directed: Sequence[Edge], undirected: Sequence[Edge],
             kind: Mapping[str, str]) -> tuple[CausalGraph, tuple[Edge, ...]]:
    """A DAG with the oriented arrows kept where they close no cycle and the others pointed
    by column order; the arrows left out to keep it acyclic are returned too."""
    g = nx.DiGraph()
    g.add_nodes_from(cols)
    dropped = []
    # an oriented arrow is kept as the data point it or left out; an undirected pair, (earlier, later)
    # column, is pointed forward, else backward
    tries = [((a, b),) for a, b in directed] + [((a, b), (b, a)) for a, b in undirected]
    for options in tries:
        for a, b in options:
            g.add_edge(a, b)
            if nx.is_directed_acyclic_graph(g):
                break
            g.remove_edge(a, b)
        else:
            dropped.append(options[0])
    return CausalGraph(cols, list(g.edges), {c: k for c, k in kind.items()}), tuple(dropped)


def structural_hamming(suggested: CPDAG, truth: CPDAG) -> dict[str, float]:
    """How far a suggested class is from the true one: the structural Hamming distance
    (pairs whose edge differs: missing, extra, or marked differently, directed vs undirected
    or the other way round), and the adjacencies' precision and recall.

    >>> t = CPDAG(("a", "b", "c"), (("a", "c"), ("b", "c")), ())
    >>> structural_hamming(CPDAG(("a", "b", "c"), (), (("a", "c"),)), t)["shd"]
    2
    """
    def marks(c: CPDAG) -> dict[frozenset, Any]:
        out: dict[frozenset, Any] = {frozenset(e): tuple(e) for e in c.directed}
        out.update({frozenset(e): "--" for e in c.undirected})
        return out

    s, t = marks(suggested), marks(truth)
    pairs = set(s) | set(t)
    shd = sum(1 for p in pairs if s.get(p) != t.get(p))
    hits = len(set(s) & set(t))
    return {"shd": shd, "precision": hits / len(s) if s else 1.0, "recall": hits / len(t) if t else 1.0,
            "edges": len(s), "true_edges": len(t)}
