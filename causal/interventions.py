"""Interventions as plain data: hard (set a value), shift (x + d) and scale (x * a)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from causal.data import Schema

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
            raise InterventionError(f"intervention on '{node}' is not a finite number: {value!r}")
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
