"""The hypothesis-testing page's logic, free of Streamlit: candidate graphs from the page's text
(one per line, ``NAME = a -> b; b -> c``) and generators, the split's text from the page's
choices, the report's tables and figures, and the export archive."""

from __future__ import annotations

import io
import zipfile
from typing import Any, Sequence

import pandas as pd

from causal.graph import CausalGraph, GraphError
from causal.hypotheses import Candidate, HypothesisReport, neighbours, orientations, parse_candidate

__all__ = ["parse_lines", "generated", "split_text", "ranking_frame", "pairs_frame", "classical_frame",
           "heatmap_figure", "nodes_figure", "export_zip", "SPLITS"]

SPLITS = {
    "kfold": "K-fold (random rows: in distribution)",
    "ood": "Out of distribution: each variable's top (or bottom) quantile held out in turn",
    "condition": "A condition selects the test rows",
    "env": "Environments: train on the others, test on each",
}


def parse_lines(text: str) -> list[Candidate]:
    """One candidate per non-empty line (``#`` starts a comment): ``NAME = a -> b; b -> c`` or
    the graph alone (named H1, H2, ... by line). A bad line is a ``GraphError`` naming it.

    >>> [(c.name, c.graph.to_text()) for c in parse_lines("chain = a -> b; b -> c\\n# x\\nb -> a; b -> c")]
    [('chain', 'a -> b; b -> c'), ('H2', 'b -> a; b -> c')]
    """
    out: list[Candidate] = []
    for i, line in enumerate(text.splitlines()):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(parse_candidate(line, f"H{len(out) + 1}"))
        except GraphError as e:
            raise GraphError(f"line {i + 1}: {e}") from None
    return out


def generated(base: CausalGraph, how: str, k: int = 1, edges: Sequence[tuple[str, str]] = (),
              start: int = 1, limit: int = 60) -> list[Candidate]:
    """Candidates around ``base``: ``how`` = ``"edits"`` (every graph within ``k`` edge
    additions, removals and reversals) or ``"orient"`` (``edges`` in every orientation),
    named G1, G2, ... from ``start`` (``base`` itself left out)."""
    if how == "edits":
        graphs = neighbours(base, k, limit=limit)
    elif how == "orient":
        if not edges:
            raise GraphError("choose the edges to orient")
        graphs = [g for g in orientations(base, list(edges)) if not g.same_structure(base)]
    else:
        return []
    return [Candidate(f"G{start + i}", g) for i, g in enumerate(graphs)]


def split_text(kind: str, *, folds: int = 5, side: str = "top", quantile: float = 0.25,
               variables: Sequence[str] = (), condition: str = "", column: str = "") -> str:
    """The split as ``HypothesisConfig.split`` reads it.

    >>> split_text("ood", side="both", quantile=0.2, variables=["a", "b"]), split_text("env", column="site")
    ('ood:both:0.2:a,b', 'env:site')
    """
    if kind == "kfold":
        return f"kfold:{folds}"
    if kind == "ood":
        return f"ood:{side}:{quantile:g}" + (f":{','.join(variables)}" if variables else "")
    if kind == "env":
        if not column:
            raise ValueError("choose the environment column")
        return f"env:{column}"
    if not condition.strip():
        raise ValueError("write the condition that selects the test rows, e.g. x1 > 0.5")
    return condition.strip()


def ranking_frame(report: HypothesisReport) -> pd.DataFrame:
    """Rank, name, score with its interval, the Markov class and the edges."""
    return pd.DataFrame([{"rank": c.rank, "candidate": c.name, "score": c.score, "95% low": c.ci[0], "95% high": c.ci[1],
                          "class": c.mec, "edges": c.text} for c in report.ranking()])


def pairs_frame(report: HypothesisReport, alpha: float = 0.05) -> pd.DataFrame:
    """Every pair: difference (a − b), its interval, its standard errors from the held-out rows
    and from the fits' own noise, Holm p-value, the paper's P(loss a > loss b), equivalence and
    what a verdict rests on; significant ones first."""
    rows = []
    for p in report.pairs:
        rows.append({"a": p.a, "b": p.b, "a − b": p.difference, "95% low": p.ci[0], "95% high": p.ci[1],
                     "se (rows)": p.se_rows, "se (fits)": p.se_fit, "p (Holm)": p.p_value, "significant": p.significant(alpha), "P(loss a > loss b)": p.p_loss_greater,
                     "equivalent": p.markov_equivalent, "rests on": p.rests_on})
    df = pd.DataFrame(rows)
    return df.sort_values(["significant", "p (Holm)"], ascending=[False, True]).reset_index(drop=True) if len(df) else df


def classical_frame(report: HypothesisReport) -> pd.DataFrame:
    """The classical evidence beside the held-out score, in ranking order."""
    rows = []
    for c in report.ranking():
        row: dict[str, Any] = {"candidate": c.name, "held-out score": c.score}
        if c.classical is not None:
            k = c.classical
            row.update({f"BIC ({k.bic_kind})": k.bic, "BDeu": k.bdeu, "implied CIs failed": f"{k.ci_failures} of {k.ci_tests}",
                        "contradictions (Graph page's check)": k.contradictions,
                        "Fisher's C p": k.fisher_c_p, "permutation p": k.permutation_p})
        rows.append(row)
    return pd.DataFrame(rows)


def heatmap_figure(report: HypothesisReport, alpha: float = 0.05) -> Any:
    """Plotly heat map of the paired differences (row − column; blue: the row's candidate
    generalizes better), significant cells marked with a star."""
    import plotly.graph_objects as go

    m = report.difference_matrix()
    sig = {(p.a, p.b) for p in report.pairs if p.significant(alpha)}
    sig |= {(b, a) for a, b in sig}
    text = [["*" if (a, b) in sig else "" for b in m.columns] for a in m.index]
    lim = float(abs(m.to_numpy()).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=m.to_numpy(), x=list(m.columns), y=list(m.index), text=text, texttemplate="%{text}",
                               colorscale="RdBu", reversescale=True, zmin=-lim, zmax=lim,
                               colorbar={"title": "row − column"}))
    fig.update_layout(height=120 + 28 * len(m), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title="Paired differences (* significant after Holm)", yaxis={"autorange": "reversed"})
    return fig


def nodes_figure(report: HypothesisReport) -> Any:
    """Plotly heat map of each node's held-out loss in each candidate (which mechanism fails)."""
    import plotly.graph_objects as go

    m = report.node_matrix()
    fig = go.Figure(go.Heatmap(z=m.to_numpy(dtype=float), x=list(m.columns), y=list(m.index), colorscale="Viridis",
                               reversescale=True, colorbar={"title": "node loss"},
                               hovertemplate="%{y}, node %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(height=120 + 28 * len(m), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title="Per-node breakdown (lower is better)", yaxis={"autorange": "reversed"})
    return fig


def export_zip(report: HypothesisReport, figures: bool = True) -> bytes:
    """report.json, ranking/pairs/nodes CSV and (with ``figures``) the PNG figures, zipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("report.json", report.to_json())
        z.writestr("ranking.csv", report.ranking_table().to_csv(index=False))
        z.writestr("pairs.csv", report.pairs_table().to_csv(index=False))
        z.writestr("nodes.csv", report.nodes_table().to_csv(index=False))
        if figures:
            for name, png in report.figures().items():
                z.writestr(f"{name}.png", png)
    return buf.getvalue()
