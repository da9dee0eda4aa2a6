"""Interventions as plain data: hard (set a value), shift (x + d) and scale (x * a) on a node,
and cuts of an edge (the child no longer listens to that parent)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from causal.data import Schema, shown

Kind = Literal["set", "shift", "scale"]


class InterventionError(ValueError):
    """An intervention names an unknown node or a value the node cannot take."""


@dataclass(frozen=True)
class Intervention:
    """What ``do`` does to one node.

    - ``set``: replace the node's mechanism by a constant (or one value per row);
    - ``shift``: keep the mechanism, add ``value`` to its output (``"x + 1"``);
    - ``scale``: keep the mechanism, multiply its output by ``value`` (``"x * 2"``).
    Shift and scale are soft interventions: the node still listens to its parents.
    """

    node: str
    kind: Kind
    value: Any

    def apply(self, natural: np.ndarray | None, n: int) -> np.ndarray:
        """The node's value under the intervention, given its natural (mechanism) value."""
        if self.kind == "set":
            v = np.asarray(self.value)
            return np.broadcast_to(v, (n,)).copy() if v.ndim == 0 else v.copy()
        assert natural is not None
        return natural + self.value if self.kind == "shift" else natural * self.value

    def __str__(self) -> str:
        if self.kind == "set":
            return f"do({self.node} = {self.value})" if np.ndim(self.value) == 0 else f"do({self.node} = <per-row values>)"
        op = "+" if self.kind == "shift" else "*"
        return f"do({self.node} := {self.node} {op} {self.value})"


def shift(delta: float) -> str:
    """Spell a shift intervention: ``do={"x": shift(1.0)}`` means x := x + 1."""
    return f"x + {float(delta)!r}"


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# "x + 1", "x2 - 0.5", "x * 2" (the node's name or x), or the bare forms "+1" and "*2".
# A bare "-1" is the number -1 (a hard intervention), not a shift.
_SOFT_RE = re.compile(rf"^\s*(?:([A-Za-z_][\w.]*)\s*([+*\-])|([+*]))\s*({_NUM})\s*$")


def parse_do(do: Mapping[str, Any] | None, schema: Schema) -> tuple[Intervention, ...]:
    """Turn ``{"x2": 1.5, "x3": "x3 + 1", "sex": "Female"}`` into Interventions.

    Values for discrete nodes are category values (checked against the data); for
    continuous nodes a number, an array with one value per row, or a string
    ``"x + d"`` / ``"x - d"`` / ``"+d"`` / ``"x * a"`` / ``"*a"`` for shift and scale
    interventions (``x`` or the node's own name). A bare ``"-1"`` is the number -1.
    """
    if not do:
        return ()
    if not isinstance(do, Mapping):
        raise InterventionError(f"do must be a mapping like {{'x': 1.0}}, got {type(do).__name__}")
    out = []
    for node, value in do.items():
        if node not in schema:
            raise InterventionError(f"cannot intervene on '{node}': no such node; the nodes are {', '.join(schema.names)}")
        col = schema[node]
        if isinstance(value, Intervention):
            out.append(value)
            continue
        if col.discrete:
            if isinstance(value, str) and _SOFT_RE.match(value) and not _is_category(col, value):
                raise InterventionError(f"'{node}' is {col.kind}: a shift or scale intervention needs a continuous node")
            if np.ndim(value) == 1:
                codes = np.array([col.code(v) for v in value], dtype=np.int64)
                out.append(Intervention(node, "set", codes))
            else:
                out.append(Intervention(node, "set", _code(col, value)))
            continue
        if isinstance(value, str):
            m = _SOFT_RE.match(value)
            if not m:
                try:
                    out.append(Intervention(node, "set", float(value)))
                    continue
                except ValueError:
                    raise InterventionError(
                        f"cannot read intervention {value!r} on '{node}': use a number, 'x + d' or 'x * a'"
                    ) from None
            name, op, bare_op, num = m.groups()
            op = op or bare_op
            if name not in (None, "x", node):
                raise InterventionError(f"intervention {value!r} on '{node}' refers to '{name}'; write '{node} + d'")
            d = float(num)
            out.append(Intervention(node, "scale", d) if op == "*" else Intervention(node, "shift", d if op == "+" else -d))
            continue
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim > 1:
            raise InterventionError(f"intervention on '{node}' must be a number or one value per row")
        if not np.all(np.isfinite(arr)):
            bad = arr if arr.ndim == 0 else arr[~np.isfinite(arr)][0]
            raise InterventionError(f"intervention on '{node}' is not a finite number: {shown(bad)}")
        out.append(Intervention(node, "set", float(arr) if arr.ndim == 0 else arr))
    return tuple(out)


def _is_category(col, value) -> bool:
    try:
        col.code(value)
        return True
    except ValueError:
        return False


def _code(col, value) -> int:
    try:
        return col.code(value)
    except ValueError as e:
        raise InterventionError(f"cannot set {e}") from None


@dataclass(frozen=True)
class Cut:
    """The edge ``parent -> child`` removed: the child's mechanism no longer sees the
    parent's value but, with no ``reference``, an independent copy of the parent drawn from
    its distribution in the edited model (Avin, Shpitser & Pearl 2005: a stochastic edge
    intervention; every cut edge out of one parent sees the same copy), or the fixed
    ``reference`` value (a category's code for a discrete parent). Every other mechanism
    is kept, so relations off the cut paths keep their distribution."""

    parent: str
    child: str
    reference: Any = None

    def __str__(self) -> str:
        edge = f"{self.parent} -> {self.child}"
        return edge if self.reference is None else f"{edge} (as {self.parent} = {self.reference})"


def parse_cuts(cuts: Any, graph: Any, schema: Schema, references: Mapping[str, Any] | None = None) -> tuple[Cut, ...]:
    """Cuts as data: ``"A -> Y"``, ``("A", "Y")`` or ``Cut`` values (one or a list), each an
    edge of ``graph``; ``references`` gives a parent the fixed value its cut edges carry
    instead of an independent copy (a category label for a discrete parent)."""
    if cuts is None:
        return ()
    if isinstance(cuts, (str, Cut)) or (isinstance(cuts, tuple) and len(cuts) == 2 and all(isinstance(c, str) for c in cuts)):
        cuts = [cuts]
    references = dict(references or {})
    out: list[Cut] = []
    for c in cuts:
        if isinstance(c, Cut):
            a, b, ref = c.parent, c.child, c.reference
        else:
            if isinstance(c, str):
                parts = [x.strip() for x in c.split("->")]
            elif isinstance(c, (tuple, list)) and len(c) == 2:
                parts = [str(c[0]), str(c[1])]
            else:
                raise InterventionError(f"a cut is an edge 'A -> Y' or a pair ('A', 'Y'), got {c!r}")
            if len(parts) != 2 or not all(parts):
                raise InterventionError(f"a cut is an edge 'A -> Y', got {c!r}")
            a, b, ref = parts[0], parts[1], None
        if not graph.has_edge(a, b):
            shown = ", ".join(f"{p} -> {q}" for p, q in graph.edges) or "(none)"
            raise InterventionError(f"cannot cut {a} -> {b}: the graph has no such edge; its edges are {shown}")
        if a in references:
            ref = references[a]
        if ref is not None:
            col = schema[a]
            if col.discrete:
                ref = _code(col, ref)
            else:
                try:
                    ref = float(ref)
                except (TypeError, ValueError):
                    raise InterventionError(f"the reference value of '{a}' must be a number, got {ref!r}") from None
                if not np.isfinite(ref):
                    raise InterventionError(f"the reference value of '{a}' must be a finite number, got {ref!r}")
        out.append(Cut(a, b, ref))
    unknown = sorted(set(references) - {c.parent for c in out})
    if unknown:
        raise InterventionError(f"a reference value is given for {', '.join(unknown)}, which no cut edge leaves")
    edges = [(c.parent, c.child) for c in out]
    if len(set(edges)) != len(edges):
        raise InterventionError("an edge is cut twice")
    return tuple(out)
