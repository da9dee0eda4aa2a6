"""Candidate graphs: named hypotheses read from text (``H2="a -> b; b -> c"``), put over one
set of nodes, and generated around a graph (every graph within k edge additions, removals
and reversals, or chosen edges in every orientation); the structural Hamming distance."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from causal.graph import CausalGraph, Edge, GraphError

__all__ = ["Candidate", "parse_candidate", "candidates", "neighbours", "orientations", "shd"]

_NAMED = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*=(?!=)\s*(.+)$", re.DOTALL)


@dataclass(frozen=True)
class Candidate:
    """One causal hypothesis: a name and a graph.

    >>> c = parse_candidate('chain="a -> b; b -> c"', "H1")
    >>> c.name, c.graph.edges
    ('chain', (('a', 'b'), ('b', 'c')))
    """

    name: str
    graph: CausalGraph

    @property
    def edges(self) -> tuple[Edge, ...]:
        return self.graph.edges

    def __str__(self) -> str:
        return f"{self.name}: {self.graph.to_text() or '(no edges)'}"


def parse_candidate(text: str, default_name: str) -> Candidate:
    """A candidate from ``"a -> b; b -> c"`` (named ``default_name``) or ``NAME=a -> b``
    (the graph in any syntax ``CausalGraph.parse`` reads; quotes around it are dropped)."""
    if not isinstance(text, str) or not text.strip():
        raise GraphError(f"candidate {default_name} is empty; give it as 'a -> b; b -> c' or NAME=\"a -> b\"")
    name, body = default_name, text.strip()
    m = _NAMED.match(body)
    if m and "->" not in m.group(1) and not body.lower().startswith(("dag", "digraph", "graph", "pdag", "strict")):
        name, body = m.group(1), m.group(2).strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'" and body[0] not in body[1:-1]:
        body = body[1:-1]  # quotes around the whole graph, not a quoted first and last name ("a b" -> "c d")
    try:
        return Candidate(name, CausalGraph.parse(body))
    except GraphError as e:
        raise GraphError(f"candidate {name}: {e}") from None


def candidates(
    items: Iterable[Candidate | CausalGraph | str | tuple[str, CausalGraph | str]],
    nodes: Sequence[str] | None = None,
) -> list[Candidate]:
    """Named candidates over one node set: strings are parsed (``parse_candidate``), graphs
    named H1, H2, ... in the order given, ``(name, graph)`` pairs keep their name. Each
    graph gets the nodes of ``nodes`` (default: every node any candidate names) it lacks, as
    isolated nodes; a name used twice, or fewer than two candidates, is an error.

    >>> cs = candidates(["a -> b", "b -> a", ("null", "a; b; c")])
    >>> [(c.name, c.graph.nodes) for c in cs]
    [('H1', ('a', 'b', 'c')), ('H2', ('b', 'a', 'c')), ('null', ('a', 'b', 'c'))]
    """
    out: list[Candidate] = []
    for i, item in enumerate(items):
        default = f"H{i + 1}"
        if isinstance(item, Candidate):
            out.append(item)
        elif isinstance(item, CausalGraph):
            out.append(Candidate(default, item))
        elif isinstance(item, str):
            out.append(parse_candidate(item, default))
        elif isinstance(item, tuple) and len(item) == 2:
            name, g = item
            graph = g if isinstance(g, CausalGraph) else CausalGraph.parse(str(g))
            out.append(Candidate(str(name), graph))
        else:
            raise GraphError(f"candidate {default} must be graph text, a CausalGraph or (name, graph), got {item!r}")
    if len(out) < 2:
        raise GraphError(f"give at least two candidate graphs to compare, got {len(out)}")
    seen: set[str] = set()
    for c in out:
        if c.name in seen:
            raise GraphError(f"two candidates are named {c.name}; give each its own name (NAME=\"a -> b\")")
        seen.add(c.name)
    union = list(nodes) if nodes is not None else list(dict.fromkeys(n for c in out for n in c.graph.nodes))
    result = []
    for c in out:
        extra = [n for n in c.graph.nodes if n not in union]
        if extra:
            raise GraphError(f"candidate {c.name} names node(s) {', '.join(extra)} that are not among {', '.join(union)}")
        g = CausalGraph(list(c.graph.nodes) + [n for n in union if n not in c.graph], c.graph.edges, c.graph.kinds)
        result.append(Candidate(c.name, g))
    return result


def _edits(g: CausalGraph) -> Iterable[CausalGraph]:
    """Every DAG one edge addition, removal or reversal away from ``g``."""
    edges = set(g.edges)
    for a, b in itertools.permutations(g.nodes, 2):
        if (a, b) in edges:
            yield CausalGraph(g.nodes, [e for e in g.edges if e != (a, b)], g.kinds)
            try:
                yield CausalGraph(g.nodes, [e for e in g.edges if e != (a, b)] + [(b, a)], g.kinds)
            except GraphError:
                pass
        elif (b, a) not in edges:
            try:
                yield CausalGraph(g.nodes, list(g.edges) + [(a, b)], g.kinds)
            except GraphError:
                pass


def neighbours(graph: CausalGraph, k: int = 1, limit: int = 200) -> list[CausalGraph]:
    """Every DAG within ``k`` edge additions, removals and reversals of ``graph`` (itself
    left out), nearest first; at most ``limit`` (a ``ValueError`` says how many there are
    beyond it: choose a smaller ``k``).

    >>> [g.to_text() for g in neighbours(CausalGraph.parse("a -> b"), 1)]
    ['a; b', 'b -> a']
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    key = lambda g: frozenset(g.edges)  # noqa: E731
    seen = {key(graph)}
    frontier, out = [graph], []
    for _ in range(k):
        nxt = []
        for g in frontier:
            for h in _edits(g):
                if key(h) not in seen:
                    seen.add(key(h))
                    nxt.append(h)
                    out.append(h)
                    if len(out) > limit:
                        raise ValueError(f"more than {limit} graphs lie within {k} edits of {graph.to_text()}; "
                                         "choose a smaller distance or name the edges to orient instead")
        frontier = nxt
    return out


def orientations(graph: CausalGraph, edges: Sequence[Edge]) -> list[CausalGraph]:
    """``graph`` with the chosen ``edges`` (pairs of nodes, in either direction; absent ones
    are added) in every orientation that keeps it acyclic, ``graph``'s own first.

    >>> [g.to_text() for g in orientations(CausalGraph.parse("a -> b; b -> c"), [("a", "b"), ("b", "c")])]
    ['a -> b; b -> c', 'a -> b; c -> b', 'b -> a; b -> c', 'c -> b; b -> a']
    """
    pairs = []
    for a, b in edges:
        for n in (a, b):
            if n not in graph:
                raise GraphError(f"cannot orient {a} -- {b}: unknown node '{n}'; the graph has {', '.join(graph.nodes)}")
        if frozenset((a, b)) not in {frozenset(p) for p in pairs}:
            pairs.append((a, b) if graph.has_edge(a, b) or not graph.has_edge(b, a) else (b, a))
    chosen = {frozenset(p) for p in pairs}
    keep = [e for e in graph.edges if frozenset(e) not in chosen]
    out = []
    for bits in itertools.product((0, 1), repeat=len(pairs)):
        oriented = [(a, b) if bit == 0 else (b, a) for (a, b), bit in zip(pairs, bits)]
        try:
            out.append(CausalGraph(graph.nodes, keep + oriented, graph.kinds))
        except GraphError:
            continue
    return out


def shd(a: CausalGraph, b: CausalGraph) -> int:
    """Structural Hamming distance: node pairs whose edge differs (missing, extra or
    reversed, each counting once).

    >>> shd(CausalGraph.parse("a -> b; b -> c"), CausalGraph.parse("b -> a; a -> c; b; c"))
    3
    """
    ea, eb = set(a.edges), set(b.edges)
    pairs = {frozenset(e) for e in ea | eb}
    return sum(1 for p in pairs if {e for e in ea if frozenset(e) == p} != {e for e in eb if frozenset(e) == p})
