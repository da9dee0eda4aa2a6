"""The De-bias page's logic: what to cut (chosen edges or a fairness variant), the de-biased
data with its report before and after, each real row de-biased counterfactually, the
fairness versus utility comparison of the variants, and the files to download (data and a
manifest of its provenance)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from causal import debias as db
from causal.graph import CausalGraph

MAX_ROWS = 100_000  # rows the page generates at most
TEST_ROWS = 2000  # real rows the downstream classifier is tested on


def default_roles(graph: CausalGraph, schema: Any) -> tuple[str, str]:
    """A first guess of (sensitive attribute, target): the first discrete root with
    descendants, and the last node it reaches (else the first and last nodes)."""
    roots = [n for n in graph.roots if graph.descendants(n)]
    discrete = [n for n in roots if schema[n].discrete]
    a = (discrete or roots or list(graph.nodes))[0]
    below = [n for n in graph.nodes if n in graph.descendants(a)]
    y = below[-1] if below else graph.nodes[-1]
    for n in reversed(below):  # prefer a target with parents the cut can act on
        if schema[n].discrete:
            y = n
            break
    return a, y


def cut_edges(graph: CausalGraph, sensitive: str, target: str, how: str, marked: Sequence[str] = (),
              chosen: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
    """The edges to cut: a named variant (``causal.debias.VARIANTS``) or, with ``how ==
    "edges"``, the ``chosen`` ones (``"A -> Y"`` text)."""
    if how == "edges":
        return tuple(tuple(x.strip() for x in e.split("->")) for e in chosen)  # type: ignore[misc]
    return db.variant_edges(graph, sensitive, target, how, marked)


def edge_choices(graph: CausalGraph, sensitive: str) -> list[str]:
    """Edges a user may cut, those leaving the sensitive attribute and its descendants first."""
    below = set(graph.descendants(sensitive)) | {sensitive}
    first = [f"{a} -> {b}" for a, b in graph.edges if a in below]
    return first + [f"{a} -> {b}" for a, b in graph.edges if a not in below]


def test_rows(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Real rows for the downstream check: up to ``TEST_ROWS`` of ``table``."""
    return table.sample(min(TEST_ROWS, len(table)), random_state=seed) if len(table) > TEST_ROWS else table


@dataclass(frozen=True)
class Result:
    edited: Any
    data: pd.DataFrame
    report: db.DebiasReport


def generate(model: Any, edges: Sequence[tuple[str, str]], references: dict[str, Any] | None, n: int, seed: int,
             sensitive: str, target: str, real: pd.DataFrame | None, test: pd.DataFrame | None) -> Result:
    """The edited model, ``n`` de-biased rows and their report (before and after)."""
    if not edges:
        raise ValueError("nothing to cut: choose a variant or at least one edge")
    edited = model.without_edges(*edges, references=references or None)
    data = db.as_table(edited.sample(n, seed=seed))
    rep = db.debias_report(model, edited, sensitive, target, n, seed=seed, real=real, test=test, data=data,
                           pairs=len(model.graph.nodes) <= 16)
    return Result(edited, data, rep)


def headline(rep: db.DebiasReport) -> pd.DataFrame:
    """The numbers a user looks at first, before and after (and on the real rows)."""
    def row(r: db.BiasReport | None) -> dict[str, Any]:
        if r is None:
            return {}
        dep = {d.node: d for d in r.dependence}.get(r.target)
        d = r.downstream
        return {"target's parity gap": r.parity_gap,
                f"dependence of {r.target} on {r.sensitive}": abs(dep.corr) if dep else np.nan,
                "its p-value": dep.p_value if dep else np.nan,
                **({"classifier AUROC": d.auroc, "classifier parity gap": d.parity_difference,
                    "classifier flip gap": d.flip_gap} if d else {})}
    cols = {"before (model as trained)": row(rep.before), "after (de-biased)": row(rep.after)}
    if rep.real is not None:
        cols["real rows"] = row(rep.real)
    return pd.DataFrame(cols)


def shown(df: pd.DataFrame) -> Any:
    """A report table for display: numbers to 3 significant digits (p-values like 1e-59
    stay short), missing values as a dash."""
    num = [c for c in df.columns if pd.api.types.is_float_dtype(df[c]) or df[c].dtype == object]
    return df.style.format(lambda v: f"{v:.3g}" if isinstance(v, (float, np.floating)) else ("–" if v is None else v),
                           subset=num, na_rep="–")


def fidelity_summary(rep: db.DebiasReport) -> pd.DataFrame:
    """Per column (not pairs), the distance to the unedited model and to the real rows."""
    f = rep.fidelity_frame()
    f = f[[len(c.split(" & ")) == 1 for c in f["columns"]]]
    return f.set_index("columns")[["metric", "to_model", "to_real", "on_cut_path"]]


def counterfactual_rows(edited: Any, rows: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each real row as it would have been with the cut (abduction from the row, then the
    edited model): (the de-biased rows, which cells changed)."""
    cf = edited.counterfactual(rows, do={}, seed=seed)
    nodes = [c for c in rows.columns if c in edited.graph.nodes]
    changed = pd.DataFrame(False, index=rows.index, columns=rows.columns)
    for c in nodes:
        a, b = rows[c], cf[c]
        changed[c] = ~np.isclose(a.astype(float), b.astype(float)) if a.dtype.kind in "fiu" and b.dtype.kind in "fiu" \
            else (a.astype(str) != b.astype(str))
    return cf, changed


def side_by_side(rows: pd.DataFrame, cf: pd.DataFrame, changed: pd.DataFrame) -> pd.DataFrame:
    """Factual and de-biased values of the changed columns, side by side."""
    cols = [c for c in rows.columns if changed[c].any()]
    if not cols:
        return pd.DataFrame(index=rows.index)
    return pd.concat({c: pd.DataFrame({"real": rows[c], "de-biased": cf[c]}) for c in cols}, axis=1)


def tradeoff(model: Any, sensitive: str, target: str, n: int, test: pd.DataFrame, marked: Sequence[str], seed: int = 0,
             real: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fairness versus utility over the variants that apply (a classifier on each variant's
    data, tested on ``test``)."""
    variants = ["none", "parity"]
    if model.graph.has_edge(sensitive, target):
        variants.insert(1, "unaware")
        if marked:
            variants.insert(2, "counterfactual")
    return db.tradeoff_frame(db.compare_variants(model, sensitive, target, n, test, seed=seed, marked=marked,
                                                 variants=variants, real=real))


def tradeoff_figure(frame: pd.DataFrame) -> go.Figure:
    """AUROC (utility) against the classifier's parity gap (unfairness), one point per variant."""
    fig = go.Figure(go.Scatter(x=frame["parity_difference"], y=frame["auroc"], mode="markers+text", text=list(frame.index),
                               textposition="top center", marker=dict(size=11)))
    fig.update_layout(xaxis_title="classifier's demographic parity gap on real rows (lower is fairer)",
                      yaxis_title="AUROC on real rows (higher is more useful)", height=360, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def data_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    return df.to_csv(index=False).encode()


def manifest_json(run: Any, workspace_root: Any, model: Any, edited: Any, n: int, seed: int, fmt: str, payload: bytes,
                  report: db.DebiasReport, source: pd.DataFrame | None) -> str:
    """The export's provenance (``causal.debias.Manifest``); ``counterfactory debias
    --manifest`` reproduces the file from it."""
    import hashlib

    from generators.checkpoint import config_to_dict

    refs = {}
    for c in edited.cuts:
        if c.reference is not None:
            col = model.schema[c.parent]
            refs[c.parent] = col.categories[c.reference] if col.discrete else c.reference
    m = db.Manifest(
        model=f"run:{run.id}", kind=model.kind, checkpoint_sha256=db.checkpoint_sha256(run.checkpoint_dir),
        graph=model.graph.to_text(), cuts=tuple(f"{c.parent} -> {c.child}" for c in edited.cuts),
        references={k: (v.item() if hasattr(v, "item") else v) for k, v in refs.items()}, n=n, seed=seed, format=fmt,
        output_sha256=hashlib.sha256(payload).hexdigest(), settings=config_to_dict(model.config),
        source_data=db.frame_fingerprint(source) if source is not None else {}, versions=db.library_versions(),
        report=report.to_dict(), workspace=str(workspace_root),
    )
    return m.to_json()


def report_json(rep: db.DebiasReport) -> str:
    return json.dumps(rep.to_dict(), indent=2, default=str) + "\n"
