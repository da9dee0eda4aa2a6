"""What the Seeing vs doing page offers, without streamlit: the values a user can pick for a
node, the node to ask about first, and what to expect from given versus do, in words. The
query semantics themselves are ``causal.effects``.

>>> default_node(CausalGraph.parse("a -> b; b -> c"))
'b'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from causal.data import Column
from causal.graph import CausalGraph

__all__ = ["ValueChoice", "value_choice", "default_node", "explain"]


@dataclass(frozen=True)
class ValueChoice:
    """How to pick a value for a node: a slider (continuous) or a list (discrete)."""

    kind: str  # "slider" | "select"
    default: Any
    min: float = math.nan
    max: float = math.nan
    step: float = math.nan
    options: tuple[Any, ...] = ()


def value_choice(col: Column, extend: bool = False) -> ValueChoice:
    """The values offered for ``col``: the data's min..max for a continuous node (twice its
    width on each side with ``extend``, to ask about values never seen), else its categories.
    The default is one standard deviation above the mean, where conditioning and
    intervening usually differ visibly."""
    if col.discrete:
        return ValueChoice("select", col.categories[-1], options=tuple(col.categories))
    lo, hi = float(col.min), float(col.max)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = col.mean - 3 * col.std, col.mean + 3 * col.std
    width = hi - lo
    if extend:
        lo, hi = lo - width, hi + width
    step = 10.0 ** math.floor(math.log10(width / 200))
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    default = min(max(col.mean + col.std, lo), hi)
    return ValueChoice("slider", _round(default, step), _round(lo, step), _round(hi, step), step)


def _round(x: float, step: float) -> float:
    digits = max(0, -int(math.floor(math.log10(step))))
    return round(round(x / step) * step, digits)


def default_node(graph: CausalGraph, suggested: Sequence[str] = ()) -> str:
    """The node to ask about first: the first suggested node that has parents (so that
    conditioning on it says something about its causes and intervening does not), else
    the first suggested node, else the first node with parents."""
    for n in suggested:
        if n in graph and graph.parents(n):
            return n
    if suggested and suggested[0] in graph:
        return suggested[0]
    with_parents = [n for n in graph.nodes if graph.parents(n)]
    return (with_parents or list(graph.nodes))[0]


def explain(graph: CausalGraph, node: str) -> str:
    """What to expect from given versus do on ``node``, in words, for this graph."""
    causes, effects = graph.ancestors(node), graph.descendants(node)
    if not causes:
        return (
            f"{node} has no causes in this graph, so given and do agree (up to sampling noise): "
            "for a root node, seeing is doing. Pick a node with parents to see them differ."
        )
    text = (
        f"Under do the causes of {node} ({', '.join(causes)}) keep their observational distribution: "
        "setting a variable does not reach back to its causes. "
    )
    if effects:
        return text + f"Its effects ({', '.join(effects)}) move under both; given also moves its causes."
    return text + f"{node} has no effects here; given moves its causes."
