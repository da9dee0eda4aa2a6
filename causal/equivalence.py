"""The counting behind Markov equivalence classes: Meek's orientation rules 1-3, the chain
components of a partially directed graph, and the number of DAGs in a class (each chain
component's orientations counted by rooting it at every node, memoized per component)."""

from __future__ import annotations

import itertools
import math
from typing import Mapping


def meek_orients(x: str, y: str, directed: set, undirected: set, adjacent) -> bool:
    """Whether Meek's rules 1-3 orient the undirected edge x -- y as x -> y."""
    # R1: w -> x -- y with w, y non-adjacent
    for w, t in directed:
        if t == x and w != y and not adjacent(w, y):
            return True
    # R2: x -> w -> y
    for w, t in directed:
        if w == x and (t, y) in directed:
            return True
    # R3: x -- w1 -> y, x -- w2 -> y, w1, w2 non-adjacent
    ws = [w for w, t in directed if t == y and frozenset((x, w)) in undirected]
    for w1, w2 in itertools.combinations(ws, 2):
        if not adjacent(w1, w2):
            return True
    return False


def chain_components(nodes: frozenset, undirected: set[frozenset]) -> list[frozenset]:
    """Connected components (with at least one edge) of the undirected edges."""
    nbrs: dict[str, set[str]] = {n: set() for n in nodes}
    for e in undirected:
        a, b = tuple(e)
        nbrs[a].add(b)
        nbrs[b].add(a)
    seen: set[str] = set()
    out = []
    for n in sorted(nodes):
        if n in seen or not nbrs[n]:
            continue
        stack, comp = [n], set()
        while stack:
            v = stack.pop()
            if v in comp:
                continue
            comp.add(v)
            stack.extend(nbrs[v] - comp)
        seen |= comp
        out.append(frozenset(comp))
    return out


def count_orientations(nodes: frozenset, adj: Mapping[str, set[str]], memo: dict[frozenset, int]) -> int:
    """Acyclic orientations without new v-structures of the chordal graph ``adj[nodes]``."""
    if nodes in memo:
        return memo[nodes]
    n = len(nodes)
    m = sum(len(adj[v] & nodes) for v in nodes) // 2
    if m == n - 1:  # a tree: one orientation per choice of root
        result = n
    elif m == n * (n - 1) // 2:  # a complete graph: one per ordering
        result = math.factorial(n)
    else:
        result = 0
        for root in nodes:
            count = 1
            for comp in chain_components(nodes, root_at(root, nodes, adj)):
                count *= count_orientations(comp, adj, memo)
            result += count
    memo[nodes] = result
    return result


def root_at(root: str, nodes: frozenset, adj: Mapping[str, set[str]]) -> set[frozenset]:
    """Orient every edge at ``root`` away from it, close under Meek's rules 1-3, and return
    the edges left undirected. (Within a chain component every adjacency is undirected, so
    ``adj`` is the adjacency Meek's rules need.)"""
    directed = {(root, v) for v in adj[root] & nodes}
    undirected = {frozenset((a, b)) for a in nodes for b in adj[a] & nodes if root not in (a, b)}
    adjacent = lambda a, b: b in adj[a]  # noqa: E731
    changed = True
    while changed:
        changed = False
        for e in list(undirected):
            a, b = tuple(e)
            for x, y in ((a, b), (b, a)):
                if meek_orients(x, y, directed, undirected, adjacent):
                    undirected.discard(e)
                    directed.add((x, y))
                    changed = True
                    break
    return undirected
