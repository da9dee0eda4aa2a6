"""Train/test splits for hypothesis testing by generalization error: K-fold (random, redrawn
per seed), out of distribution (hold out the top or bottom quantile of each variable in turn,
as Jiang et al. 2022 do), a user's condition (``age > 60 and sex == "F"``), or an
environment column (train on the other environments, test on one); and the regime column
that names the intervened node(s) of each row of interventional data."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["Split", "SplitSpec", "parse_split", "make_splits", "condition_mask", "intervened"]

OBSERVATIONAL = ("", "obs", "observational", "none", "null", "nan", "-", "0")


@dataclass(frozen=True)
class Split:
    """One split: a name, and the positions (0-based) of its training and test rows."""

    name: str
    train: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class SplitSpec:
    """How to split, read from text by ``parse_split``:

    - ``"kfold"`` or ``"kfold:K"``: K random folds (default 5), redrawn for every seed;
    - ``"ood"``, ``"ood:bottom"``, ``"ood:both"``, ``"ood:0.2"``, ``"ood:x1,x2"`` (parts in
      any order): each continuous variable (or the listed ones) in turn, its top (bottom,
      both) quantile (default 0.25) held out;
    - ``"env:COLUMN"``: each value of COLUMN in turn is the test environment, the others
      train (``"env:COLUMN=VALUE"``: that one only);
    - anything else is a condition on the columns that selects the test rows
      (``age > 60 and sex == "F"``; names with odd characters in backticks).
    """

    kind: str  # kfold | ood | env | condition
    folds: int = 5
    side: str = "top"  # ood: top | bottom | both
    quantile: float = 0.25
    variables: tuple[str, ...] = ()  # ood: the variables held out in turn (empty: every continuous one)
    column: str = ""  # env: the environment column
    value: str | None = None  # env: the one test environment (None: each in turn)
    condition: str = ""

    @property
    def randomized(self) -> bool:
        """Whether the splits depend on the seed (K-fold)."""
        return self.kind == "kfold"

    def __str__(self) -> str:
        if self.kind == "kfold":
            return f"{self.folds}-fold"
        if self.kind == "ood":
            which = ", ".join(self.variables) if self.variables else "each continuous variable"
            return f"out of distribution: the {self.side} {self.quantile:.0%} of {which} held out in turn"
        if self.kind == "env":
            return f"environments of '{self.column}'" + (f": test on {self.value}" if self.value is not None else ", each in turn")
        return f"condition: {self.condition}"


def parse_split(text: str | SplitSpec, folds: int = 5) -> SplitSpec:
    """Read a split from its text form (see ``SplitSpec``).

    >>> parse_split("ood:bottom:0.2:x1,x2")
    SplitSpec(kind='ood', folds=5, side='bottom', quantile=0.2, variables=('x1', 'x2'), column='', value=None, condition='')
    >>> parse_split("age > 60").kind, parse_split("env:site=B").value
    ('condition', 'B')
    """
    if isinstance(text, SplitSpec):
        return text
    s = str(text).strip()
    if not s:
        raise ValueError("the split is empty; use kfold, ood, env:COLUMN or a condition such as 'x1 > 0'")
    low = s.lower()
    if low == "kfold" or low.startswith("kfold:"):
        k = folds
        if ":" in s:
            try:
                k = int(s.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"kfold:K needs a whole number of folds, got {s!r}") from None
        if k < 2:
            raise ValueError(f"K-fold needs at least 2 folds, got {k}")
        return SplitSpec("kfold", folds=k)
    if low == "ood" or low.startswith("ood:"):
        side, q, variables = "top", 0.25, ()
        for part in s.split(":")[1:]:
            part = part.strip()
            if part.lower() in ("top", "bottom", "both"):
                side = part.lower()
                continue
            try:
                q = float(part)
            except ValueError:
                variables = tuple(v.strip() for v in part.split(",") if v.strip())
                continue
            if not 0 < q < 1:
                raise ValueError(f"the held-out quantile must be between 0 and 1, got {q}")
        return SplitSpec("ood", side=side, quantile=q, variables=variables)
    if low.startswith("env:"):
        rest = s[4:].strip()
        column, _, value = rest.partition("=")
        if not column.strip():
            raise ValueError("env:COLUMN needs the environment column's name")
        return SplitSpec("env", column=column.strip(), value=value.strip() if value else None)
    condition_mask(None, s)  # the syntax is checked now, the names against the data later
    return SplitSpec("condition", condition=s)


def make_splits(data: pd.DataFrame, spec: SplitSpec, seed: int = 0, continuous: Sequence[str] | None = None) -> list[Split]:
    """The splits of ``data`` that ``spec`` describes (K-fold drawn with ``seed``).
    ``continuous``: the columns an ``ood`` split may hold out (default every numeric one).
    A split whose training or test part would be empty is an error naming it."""
    n = len(data)
    if spec.kind == "kfold":
        if spec.folds > n:
            raise ValueError(f"{spec.folds} folds need at least {spec.folds} rows; the data have {n}")
        perm = np.random.default_rng(seed).permutation(n)
        parts = np.array_split(perm, spec.folds)
        out = [Split(f"fold {i + 1}", np.sort(np.concatenate(parts[:i] + parts[i + 1:])), np.sort(part))
               for i, part in enumerate(parts)]
    elif spec.kind == "ood":
        numeric = list(continuous) if continuous is not None else [
            c for c in data.columns if pd.api.types.is_numeric_dtype(data[c]) and data[c].nunique() > 2]
        variables = list(spec.variables) or numeric
        for v in variables:
            if v not in data.columns:
                raise ValueError(f"ood split: no column '{v}'; the columns are {', '.join(map(str, data.columns))}")
            if v not in numeric:
                raise ValueError(f"ood split: '{v}' is not continuous; hold out its categories with a condition "
                                 f"(e.g. '{v} == ...') or env:{v}")
        if not variables:
            raise ValueError("ood split: the data have no continuous column to hold out; use kfold or a condition")
        out = []
        for v in variables:
            x = data[v].to_numpy(dtype=np.float64)
            sides = ("top", "bottom") if spec.side == "both" else (spec.side,)
            for side in sides:
                if side == "top":
                    test = x > np.quantile(x, 1 - spec.quantile)
                else:
                    test = x < np.quantile(x, spec.quantile)
                out.append(Split(f"{v} {side} {spec.quantile:.0%}", np.flatnonzero(~test), np.flatnonzero(test)))
    elif spec.kind == "env":
        if spec.column not in data.columns:
            raise ValueError(f"env split: no column '{spec.column}'; the columns are {', '.join(map(str, data.columns))}")
        env = data[spec.column].astype(str).to_numpy()
        values = sorted(set(env))
        if spec.value is not None:
            if spec.value not in values:
                raise ValueError(f"env split: '{spec.column}' has no value {spec.value!r}; its values are {', '.join(values)}")
            values = [spec.value]
        elif len(values) < 2:
            raise ValueError(f"env split: '{spec.column}' has one environment ({values[0]}); it needs at least two")
        out = [Split(f"{spec.column} = {v}", np.flatnonzero(env != v), np.flatnonzero(env == v)) for v in values]
    else:
        test = condition_mask(data, spec.condition)
        out = [Split(spec.condition, np.flatnonzero(~test), np.flatnonzero(test))]
    for sp in out:
        if len(sp.train) == 0 or len(sp.test) == 0:
            which = "training" if len(sp.train) == 0 else "test"
            raise ValueError(f"split '{sp.name}' leaves no {which} rows; choose another split")
    return out


# ---------------------------------------------------------------------- conditions
_BACKTICK = re.compile(r"`([^`]*)`")
_OPS = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
        ast.Eq: np.equal, ast.NotEq: np.not_equal}


def condition_mask(data: pd.DataFrame | None, text: str) -> np.ndarray:
    """The rows of ``data`` where a condition holds: comparisons of a column with a number or
    text (``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``, chained like ``0 < x < 1``, ``in``
    and ``not in`` a list) joined by ``and``, ``or``, ``not`` and parentheses; a column
    name with spaces or symbols goes in backticks. Nothing else is evaluated (no calls, no
    attributes). With ``data=None`` only the syntax is checked.

    >>> df = pd.DataFrame({"age": [30, 70, 65], "sex": ["F", "F", "M"]})
    >>> condition_mask(df, 'age > 60 and sex == "F"').tolist()
    [False, True, False]
    """
    names: dict[str, str] = {}

    def mark(m: re.Match) -> str:
        key = f"__col{len(names)}"
        names[key] = m.group(1)
        return key

    source = _BACKTICK.sub(mark, text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot read the condition {text!r}; write comparisons such as: age > 60 and sex == \"F\"") from None

    def column(name: str) -> np.ndarray:
        col = names.get(name, name)
        assert data is not None
        if col not in data.columns:
            raise ValueError(f"the condition {text!r} names '{col}', which is not a column; the columns are "
                             f"{', '.join(map(str, data.columns))}")
        return data[col].to_numpy()

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -node.operand.value
        if isinstance(node, ast.Name) and data is not None:
            return column(node.id)
        if isinstance(node, ast.Name):
            return np.zeros(1)
        raise ValueError(f"the condition {text!r} has {ast.unparse(node)!r}; only column names, numbers and "
                         "quoted text can be compared")

    def ev(node: ast.AST) -> np.ndarray:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BoolOp):
            parts = [ev(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~ev(node.operand)
        if isinstance(node, ast.Compare):
            left = value(node.left)
            out = None
            for op, right_node in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    if not isinstance(right_node, (ast.List, ast.Tuple, ast.Set)):
                        raise ValueError(f"the condition {text!r}: 'in' needs a list, e.g. site in [\"A\", \"B\"]")
                    options = [value(e) for e in right_node.elts]
                    res = np.isin(_comparable(left, options[0] if options else 0), options)
                    res = ~res if isinstance(op, ast.NotIn) else res
                    right = None
                elif type(op) in _OPS:
                    right = value(right_node)
                    a, b = _comparable(left, right), _comparable(right, left)
                    try:
                        res = _OPS[type(op)](a, b)
                    except TypeError:
                        raise ValueError(f"the condition {text!r} compares text with a number") from None
                else:
                    raise ValueError(f"the condition {text!r} uses an operator that is not allowed")
                res = np.asarray(res, dtype=bool)
                out = res if out is None else out & res
                left = right
            return out  # type: ignore[return-value]
        if isinstance(node, ast.Name) and data is not None:
            return column(node.id).astype(bool)
        raise ValueError(f"cannot read the condition {text!r} at {ast.unparse(node)!r}; write comparisons such as "
                         "age > 60 and sex == \"F\"")

    mask = ev(tree)
    if data is None:
        return np.zeros(0, dtype=bool)
    return np.broadcast_to(np.asarray(mask, dtype=bool), (len(data),)).copy()


def _comparable(a: Any, other: Any) -> Any:
    """A column compared with text is compared as text (``site == "3"`` matches 3)."""
    if isinstance(a, np.ndarray) and isinstance(other, str):
        return a.astype(str)
    return a


# ---------------------------------------------------------------------- interventional data
def intervened(regime: pd.Series, nodes: Sequence[str]) -> np.ndarray:
    """``[rows, nodes]``: whether each row's regime names the node as intervened on. A
    regime value names one node or several (``"a+b"``, ``"a,b"``); a value naming none
    (``""``, ``obs``, ``none``, a missing value, an environment label) is observational. A
    column that names no node at all is an error: it is an environment column (use
    ``env:COLUMN`` to split by it).

    >>> intervened(pd.Series(["obs", "b", "a+b"]), ["a", "b"]).astype(int).tolist()
    [[0, 0], [0, 1], [1, 1]]
    """
    index = {n: j for j, n in enumerate(nodes)}
    out = np.zeros((len(regime), len(nodes)), dtype=bool)
    for i, v in enumerate(regime.to_numpy()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        for token in re.split(r"[+,;&|]", str(v)):
            token = token.strip()
            if token in index:
                out[i, index[token]] = True
    if not out.any():
        shown = ", ".join(map(str, pd.unique(regime.astype(str))[:6]))
        raise ValueError(f"the regime column '{regime.name}' names no node of the graphs (its values: {shown}); "
                         f"it should name each row's intervened node, or be empty for observational rows. "
                         f"To train on some environments and test on another, split with env:{regime.name}")
    return out
