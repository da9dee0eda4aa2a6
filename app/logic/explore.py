"""What the Seeing vs doing page offers, without streamlit: the values a user can pick for a
node, the node to ask about first, and what to expect from given versus do, in words. The
query semantics themselves are ``causal.effects``.

>>> default_node(CausalGraph.parse("a -> b; b -> c"))
'b'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pandas as pd

from app.plots import category_key, format_value
from causal.data import Column
from causal.effects import EXTRAPOLATION_WARN, Comparison, Effect
from causal.graph import CausalGraph

__all__ = ["ValueChoice", "value_choice", "default_node", "explain", "reference_value", "exact_reference",
           "probability_table", "condition_message", "extrapolation_note", "effect_note", "effect_table"]


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
    intervening usually differ visibly. A column of whole numbers moves in whole steps."""
    if col.discrete:
        options = tuple(sorted(col.categories, key=category_key))  # natural order: "<20" before "20-34"
        return ValueChoice("select", options[-1], options=options)
    lo, hi = float(col.min), float(col.max)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = col.mean - 3 * col.std, col.mean + 3 * col.std
    width = hi - lo
    if extend:
        lo, hi = lo - width, hi + width
    step = 10.0 ** math.floor(math.log10(width / 200))
    if col.integer:
        step = max(step, 1.0)
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


def reference_value(col: Column, value: Any) -> Any:
    """What an average effect compares ``value`` with: the mean of a continuous node; the
    first category of a discrete one (in natural order), or the last when ``value`` is the
    first."""
    if not col.discrete:
        return round(float(col.mean), 6)
    cats = sorted(col.categories, key=category_key)
    return cats[0] if value != cats[0] else cats[-1]


def exact_reference(graph: CausalGraph, truth: Any, table: Callable[[], pd.DataFrame]) -> Any:
    """The exact answer to compare a model with on a graph of discrete nodes (a
    ``causal.exact.DiscreteBN``): the true SCM's CPTs when the data have a ground truth,
    else CPTs counted from the training ``table()`` on the model's graph (maximum
    likelihood: what the data say under the graph, answered exactly). ``None`` when a node
    is continuous, or the graph is too big for exact inference."""
    from causal.exact import DiscreteBN, ExactInferenceError

    labels = [n for n in graph.nodes if graph.kind(n) != "image"]
    if not labels or any(graph.kind(n) not in ("binary", "categorical") for n in labels):
        return None
    try:
        return DiscreteBN.from_scm(truth) if truth is not None else DiscreteBN.fit(table(), graph)
    except (ExactInferenceError, ValueError):
        return None


def probability_table(c: Comparison) -> pd.DataFrame:
    """``c.probabilities()`` as the page shows it: one row per node and category, the
    categories of a node in their natural order."""
    probs = c.probabilities()
    if probs.empty:
        return probs.reset_index()
    rows = sorted(probs.index, key=lambda i: (c.categorical().index(i[0]), category_key(i[1])))
    out = probs.loc[rows].reset_index()
    out["category"] = out["category"].map(str)
    return out


def effect_table(effect: Effect) -> pd.DataFrame:
    """``effect.table`` as the page shows it: a categorical outcome's rows in the natural
    order of its categories."""
    order = {n: i for i, n in enumerate(dict.fromkeys(node for node, _ in effect.outcome_of.values()))}

    def key(label: str) -> tuple:
        node, cat = effect.outcome_of.get(label, (label, None))
        return (order.get(node, len(order)), category_key(cat) if cat is not None else (0, 0.0, 0, ""))

    return effect.table.loc[sorted(effect.table.index, key=key)]


def condition_message(node: str, value: Any, error: str) -> str:
    """Why conditioning failed, in the page's terms: the page has no tolerance to widen."""
    error = error.replace(
        "Choose a value inside the data's range, widen the tolerance, or intervene instead.",
        "Choose a value inside the data's range; do(), beside, still answers.",
    )
    return f"Cannot condition on {node} = {format_value(value)}: {error}"


def extrapolation_note(c: Comparison, threshold: float = EXTRAPOLATION_WARN) -> str | None:
    """A warning naming the outcomes whose answer under do extrapolates in at least
    ``threshold`` of the model's samples (``None`` when none does)."""
    shares = {k: v for k, v in c.extrapolated().items() if v >= threshold}
    if not shares:
        return None
    listed = ", ".join(f"**{k}** ({v:.0%} of the samples)" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
    return (
        f"Under do({c.node} = {format_value(c.value)}) the model's answer for {listed} rests on mechanisms applied to "
        f"parent values the training data never show together: an extrapolation, which the data cannot check. "
        f"Treat those distributions and effects with caution."
    )


def effect_note(effect: Effect, threshold: float = EXTRAPOLATION_WARN) -> str | None:
    """The warning beside the effects table for rows that extrapolate."""
    rows = effect.flagged(threshold)
    if not rows:
        return None
    return (
        f"Extrapolated: {', '.join(f'**{r}**' for r in rows)}. In at least {threshold:.0%} of the sample pairs the "
        f"model's answer comes from beyond the training data (see *extrapolated*), so this effect may be far from the "
        f"truth even though its interval is narrow."
    )

