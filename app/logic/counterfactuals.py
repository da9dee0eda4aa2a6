"""What the Counterfactuals page computes, without streamlit: the rows a user can pick, the
counterfactual of each under an intervention beside the factual, which cells changed,
which answers extrapolate beyond the training data, and the truth where it is known.

>>> from causal import datasets
>>> ds = datasets.load("triangle-lin", n=50, seed=0)
>>> res = counterfactuals(ds.scm, ds.data.head(3), {"x1": 0.0}, truth=ds.scm)
>>> bool(res.changed["x1"].all()), res.changed.shape
(True, (3, 3))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["CounterfactualResult", "counterfactuals", "parse_rows", "side_by_side", "styled"]

MAX_ROWS = 2000  # rows one request may ask about
MAX_UPLOAD_MB = 5  # an uploaded CSV of rows to ask about (far more than MAX_ROWS rows need)


@dataclass(frozen=True)
class CounterfactualResult:
    """Factual rows, their counterfactuals under ``do`` and what changed.

    ``changed`` marks cells whose value differs (relative tolerance 1e-9);
    ``outside`` marks cells the model computed from parent values outside its training
    data's support (an extrapolation; ``None`` for models without a support check);
    ``truth`` is the exact counterfactual where the true SCM is known.
    """

    factual: pd.DataFrame
    counterfactual: pd.DataFrame
    do: dict[str, Any]
    changed: pd.DataFrame
    outside: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None

    def table(self) -> pd.DataFrame:
        """Factual and counterfactual side by side (``side_by_side``)."""
        return side_by_side(self.factual, self.counterfactual, self.truth)

    def error(self) -> pd.Series | None:
        """Per node, the RMSE of the model's counterfactual against the truth (raw units)."""
        if self.truth is None:
            return None
        out = {}
        for c in self.counterfactual.columns:
            a = pd.to_numeric(self.counterfactual[c], errors="coerce")
            b = pd.to_numeric(self.truth[c], errors="coerce")
            if a.notna().all() and b.notna().all():
                out[c] = float(np.sqrt(np.mean((a.to_numpy(float) - b.to_numpy(float)) ** 2)))
            else:
                out[c] = float((self.counterfactual[c].astype(str) != self.truth[c].astype(str)).mean())
        return pd.Series(out, name="RMSE vs truth (or share wrong, discrete)")


def parse_rows(text: str, n_rows: int) -> list[int]:
    """Row positions from text such as ``"0, 3, 10-14"``; ``ValueError`` naming the bad part."""
    out: list[int] = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"'{part}' is not a row number or a range like 10-14") from None
        if a > b:
            a, b = b, a
        if a < 0 or b >= n_rows:
            raise ValueError(f"row {a if a < 0 else b} does not exist; rows go from 0 to {n_rows - 1}")
        out.extend(range(a, b + 1))
    seen = list(dict.fromkeys(out))
    if not seen:
        raise ValueError("no rows chosen; give row numbers such as 0, 3, 10-14")
    if len(seen) > MAX_ROWS:
        raise ValueError(f"{len(seen):,} rows chosen; ask about at most {MAX_ROWS:,} at once")
    return seen


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    x, y = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    if x.notna().all() and y.notna().all():
        xv, yv = x.to_numpy(float), y.to_numpy(float)
        return ~np.isclose(xv, yv, rtol=1e-9, atol=1e-12)
    return (a.astype(str).to_numpy() != b.astype(str).to_numpy())


def counterfactuals(model: Any, rows: pd.DataFrame, do: Mapping[str, Any], seed: int = 0, truth: Any = None
                    ) -> CounterfactualResult:
    """``model.counterfactual(rows, do)`` with what changed, the support check, and the
    true SCM's answer (same rows) when ``truth`` is given."""
    if len(rows) > MAX_ROWS:
        raise ValueError(f"{len(rows):,} rows chosen; ask about at most {MAX_ROWS:,} at once")
    nodes = list(model.graph.nodes)
    cf = model.counterfactual(rows, do=dict(do), seed=seed)
    changed = pd.DataFrame({c: _differs(rows[c], cf[c]) for c in nodes}, index=rows.index)
    outside = model.outside_support(cf)[nodes] if hasattr(model, "outside_support") else None
    true_cf = truth.counterfactual(rows, do=dict(do), seed=seed)[nodes] if truth is not None else None
    return CounterfactualResult(rows[nodes], cf[nodes], dict(do), changed, outside, true_cf)


def side_by_side(factual: pd.DataFrame, counterfactual: pd.DataFrame, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Columns ``(node, "factual")``, ``(node, "counterfactual")`` (and ``(node, "truth")``)
    for every node, in the graph's order."""
    parts = {}
    for c in factual.columns:
        parts[(c, "factual")] = factual[c]
        parts[(c, "counterfactual")] = counterfactual[c]
        if truth is not None:
            parts[(c, "truth")] = truth[c]
    out = pd.DataFrame(parts, index=factual.index)
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["node", ""])
    return out


CHANGED = "background-color: #fff1c2; font-weight: 600"
OUTSIDE = "background-color: #fde2e1; font-weight: 600"


def styled(res: CounterfactualResult, decimals: int = 3) -> Any:
    """The side-by-side table with the changed counterfactual cells highlighted (yellow) and
    those that extrapolate beyond the training data in red (a pandas ``Styler``)."""
    table = res.table()

    def colour(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for node in res.factual.columns:
            css[(node, "counterfactual")] = np.where(res.changed[node].to_numpy(), CHANGED, "")
            if res.outside is not None:
                out = res.outside[node].to_numpy()
                css[(node, "counterfactual")] = np.where(out, OUTSIDE, css[(node, "counterfactual")])
        return css

    numeric = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    return table.style.apply(colour, axis=None).format({c: f"{{:.{decimals}f}}" for c in numeric})
