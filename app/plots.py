"""Plotly figures for the app: the causal graph, seeing-versus-doing distributions, and
training curves. Plain functions of library values; no streamlit here.

>>> from causal import CausalGraph
>>> fig = graph_figure(CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3"))
>>> sum(1 for a in fig.layout.annotations if a.showarrow)
3
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from causal.graph import CausalGraph

__all__ = ["COLORS", "category_key", "node_label", "graph_layout", "graph_figure", "comparison_figure", "loss_figure", "stage_loss_figure", "query_labels", "format_value"]

# One colour per kind of question, used in every figure and caption.
COLORS = {"observational": "#7f7f7f", "given": "#1f77b4", "do": "#e4572e", "truth": "#8c1c13"}
NODE_FILL = {"continuous": "#e8f1fb", "discrete": "#e9f6ec", "highlight": "#fde3d9"}
NODE_LINE = {"continuous": "#4a78a8", "discrete": "#3f8f55", "highlight": COLORS["do"]}
RADIUS = 0.3  # node radius, in units of the distance between generations
FONT = "Inter, 'Source Sans Pro', sans-serif"


_BOUND = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*(-?\d+(?:[.,]\d+)?)")


def category_key(v: Any) -> tuple[int, float, int, str]:
    """Sort key for category values in their natural order: numbers numerically, and text
    that starts with a number or a bound by that number, a lower bound before the range
    that starts there and an upper bound after it (``<20``, ``20-34``, ``35-49``, ``>65``;
    ``<=50K`` before ``>50K``); other text alphabetically, after.

    >>> sorted(["50-65", "<20", ">65", "20-34", "35-49"], key=category_key)
    ['<20', '20-34', '35-49', '50-65', '>65']
    """
    if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)) and not (isinstance(v, float) and math.isnan(v)):
        return (0, float(v), 0, "")
    text = str(v)
    m = _BOUND.match(text)
    if m:
        op = m.group(1) or ""
        rank = -1 if op in ("<", "<=", "≤") else 1 if op in (">", ">=", "≥") else 0
        return (0, float(m.group(2).replace(",", ".")), rank, text)
    return (1, 0.0, 0, text)


def format_value(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v)


def query_labels(node: str, value: Any) -> dict[str, str]:
    """Legend texts of the three queries, e.g. ``given x2 = 3`` and ``do(x2 = 3)``."""
    v = format_value(value)
    return {"observational": "observational", "given": f"given {node} = {v}", "do": f"do({node} = {v})"}


# ---------------------------------------------------------------------- the graph
def graph_layout(graph: CausalGraph) -> dict[str, tuple[float, float]]:
    """Node positions: generation ``k`` (``graph.generations()``) at ``x = k``; within a
    generation, nodes ordered by their parents' mean height (fewer crossings) and
    centred on ``y = 0``, one unit apart."""
    pos: dict[str, tuple[float, float]] = {}
    for k, gen in enumerate(graph.generations()):
        def height(n: str) -> float:
            ys = [pos[p][1] for p in graph.parents(n) if p in pos]
            return -float(np.mean(ys)) if ys else 0.0

        ordered = sorted(gen, key=lambda n: (height(n), graph.index(n))) if k else list(gen)
        for i, n in enumerate(ordered):
            pos[n] = (float(k), (len(ordered) - 1) / 2 - i)
    return pos


def _bezier(p0: np.ndarray, c: np.ndarray, p1: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = t[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1


def _edge_path(a: np.ndarray, b: np.ndarray, others: Iterable[np.ndarray]) -> np.ndarray:
    """Points of the edge from centre ``a`` to centre ``b``: straight when that clears
    every other node, else the least-bent quadratic curve that does."""
    others = list(others)
    t = np.linspace(0.0, 1.0, 41)
    d = b - a
    normal = np.array([-d[1], d[0]]) / (np.linalg.norm(d) or 1.0)
    for bend in (0.0, 0.35, -0.35, 0.6, -0.6, 0.9, -0.9):
        pts = _bezier(a, (a + b) / 2 + bend * normal, b, t)
        if all(np.min(np.linalg.norm(pts - o, axis=1)) > 1.35 * RADIUS for o in others):
            return pts
    return _bezier(a, (a + b) / 2 + 0.35 * normal, b, t)


def _clip(pts: np.ndarray, a: np.ndarray, b: np.ndarray, gap: float) -> np.ndarray:
    """The part of the path outside both end nodes' circles (plus a small gap)."""
    keep = (np.linalg.norm(pts - a, axis=1) >= RADIUS + gap) & (np.linalg.norm(pts - b, axis=1) >= RADIUS + gap)
    return pts[keep]


def node_label(name: str, width: int = 8, lines: int = 3) -> str:
    """A node's name as it fits in its circle: short names as they are; long ones broken at
    ``_``, ``-``, spaces and camelCase humps into lines of about ``width`` characters (at
    most ``lines``, the last cut with "…"), joined by ``<br>`` (the hover shows the name).

    >>> node_label("x2"), node_label("MaritalStatus"), node_label("hours_per_week")
    ('x2', 'Marital<br>Status', 'hours<br>per_week')
    """
    if len(name) <= width:
        return name
    tokens = re.findall(r"[A-Z]?[a-z0-9]+[_\- ]*|[A-Z]+(?![a-z])[_\- ]*|.", name)
    out: list[str] = []
    for t in tokens:
        if out and len(out[-1]) + len(t.rstrip("_- ")) <= width:
            out[-1] += t
        else:
            out.append(t)
    out = [o.rstrip("_- ") or o for o in out]
    if len(out) > lines:
        out = out[: lines - 1] + [out[lines - 1][: width - 1] + "…"]
    return "<br>".join(out)


def graph_figure(graph: CausalGraph, highlight: str | None = None, height: int | None = None) -> go.Figure:
    """The DAG drawn left to right by generation, one arrow (annotation) per edge.

    Continuous nodes are blue, discrete ones green; ``highlight`` (the node being asked
    about) is drawn in the colour of ``do``.
    """
    pos = {n: np.array(p) for n, p in graph_layout(graph).items()}
    traces: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []  # built as dicts, validated once (the slider redraws this)
    drawn = [np.array([[x - RADIUS, y - RADIUS], [x + RADIUS, y + RADIUS]]) for x, y in pos.values()]
    for a, b in graph.edges:
        others = [pos[n] for n in graph.nodes if n not in (a, b)]
        pts = _clip(_edge_path(pos[a], pos[b], others), pos[a], pos[b], 0.03)
        drawn.append(pts)
        if len(pts) < 2:  # nodes nearly touching: a short straight arrow
            u = (pos[b] - pos[a]) / (np.linalg.norm(pos[b] - pos[a]) or 1.0)
            pts = np.stack([pos[a] + RADIUS * u, pos[b] - RADIUS * u])
        k = max(0, len(pts) - 6)  # the arrow annotation draws the last few points
        if k:  # the shaft, overlapping the annotation's so that no gap shows
            traces.append(dict(
                type="scatter", x=pts[:-1, 0], y=pts[:-1, 1], mode="lines",
                line=dict(color="#555", width=1.6), hoverinfo="skip", showlegend=False,
            ))
        annotations.append(dict(
            x=pts[-1, 0], y=pts[-1, 1], ax=pts[k, 0], ay=pts[k, 1],
            xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True,
            arrowhead=2, arrowsize=1.3, arrowwidth=1.6, arrowcolor="#555", name=f"{a} -> {b}",
        ))
    for n in graph.nodes:
        x, y = pos[n]
        kind = graph.kind(n) or "continuous"
        style = "highlight" if n == highlight else ("discrete" if kind in ("binary", "categorical") else "continuous")
        shapes.append(dict(
            type="circle", xref="x", yref="y", layer="below", x0=x - RADIUS, x1=x + RADIUS, y0=y - RADIUS, y1=y + RADIUS,
            fillcolor=NODE_FILL[style], line=dict(color=NODE_LINE[style], width=2.5 if n == highlight else 1.5),
        ))
    names = list(graph.nodes)
    traces.append(dict(
        type="scatter", x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="text",
        text=[node_label(n) for n in names],
        textfont=dict(size=13 if max(map(len, names)) <= 6 else 10, color="#222", family=FONT),
        hovertext=[f"{n} ({graph.kind(n) or 'continuous'})<br>parents: {', '.join(graph.parents(n)) or 'none'}" for n in names],
        hoverinfo="text", showlegend=False,
    ))
    box = np.concatenate(drawn) if drawn else np.zeros((1, 2))
    (x0, y0), (x1, y1) = box.min(axis=0) - 0.12, box.max(axis=0) + 0.12
    if height is None:  # about 130 px per unit, less for wide graphs (a column is ~560 px wide)
        height = int(min(400, max(150, 20 + (y1 - y0) * min(130.0, 560 / (x1 - x0)))))
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white", paper_bgcolor="white",
        dragmode=False, font=dict(family=FONT), annotations=annotations, shapes=shapes,
        xaxis=dict(visible=False, range=[x0, x1]), yaxis=dict(visible=False, range=[y0, y1], scaleanchor="x", scaleratio=1),
    )
    return go.Figure(data=traces, layout=layout)


# ---------------------------------------------------------------------- seeing vs doing
def _relation(graph: CausalGraph | None, node: str, other: str) -> str:
    """How ``other`` stands to ``node`` causally, for panel titles."""
    if graph is None or node not in graph or other not in graph:
        return ""
    if other in graph.parents(node):
        return f"direct cause of {node}"
    if other in graph.ancestors(node):
        return f"cause of {node}"
    if other in graph.children(node):
        return f"direct effect of {node}"
    if other in graph.descendants(node):
        return f"effect of {node}"
    return "no causal path"


def _density(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step outline of a histogram density over ``edges`` (zero outside)."""
    dens, _ = np.histogram(values, bins=edges, density=True)
    x = np.concatenate([[edges[0]], np.repeat(edges[1:-1], 2), [edges[-1]]])
    y = np.repeat(dens, 2)
    return np.concatenate([[edges[0]], x, [edges[-1]]]), np.concatenate([[0.0], y, [0.0]])


def comparison_figure(
    samples: Mapping[str, pd.DataFrame],
    node: str,
    value: Any,
    graph: CausalGraph | None = None,
    truth_means: Mapping[str, float] | None = None,
    columns: int = 4,
    bins: int = 40,
) -> go.Figure:
    """One panel per other node: its distribution observationally, given ``node = value``
    and under ``do(node = value)`` (keys of ``samples``: ``observational``, ``given``,
    ``do``; a missing one is left out). Continuous nodes get step densities on shared bins,
    discrete ones bars of their frequencies. ``truth_means`` adds a dashed line at the
    ground truth's mean under ``do``."""
    labels = query_labels(node, value)
    truth_means = dict(truth_means) if truth_means is not None else {}
    first = next(iter(samples.values()))
    others = [c for c in first.columns if c != node]
    cols = max(1, min(columns, len(others)))
    rows = max(1, math.ceil(len(others) / cols))
    # Traces and layout are built as plain dicts and validated once, in go.Figure: a
    # make_subplots grid filled trace by trace costs ~5x more (the slider redraws this).
    # room below a row of panels for its tick labels (long category names are slanted)
    long_ticks = any(len(str(v)) > 5 for df in samples.values() if df is not None for o in others
                     if not pd.api.types.is_float_dtype(df[o]) for v in pd.unique(df[o]))
    gap = 130 if long_ticks else 80
    layout: dict[str, Any] = _grid(rows, cols, len(others), 0.06, gap / (270 * rows) if rows > 1 else 0.1)
    traces: list[dict[str, Any]] = []
    shown: set[str] = set()
    for i, o in enumerate(others):
        ax = "" if i == 0 else str(i + 1)
        ref = dict(xaxis=f"x{ax}", yaxis=f"y{ax}")
        rel = _relation(graph, node, o)
        layout["annotations"][i]["text"] = f"<b>{o}</b>" + (
            f"<br><span style='color:#888;font-size:11px'>{rel}</span>" if rel else "")
        columns_ = {k: df[o] for k, df in samples.items() if df is not None and len(df)}
        discrete = any(not pd.api.types.is_float_dtype(s) for s in columns_.values())
        ymax = 0.0
        if discrete:
            cats = sorted({v for s in columns_.values() for v in s.unique()}, key=category_key)
            for k, s in columns_.items():
                freq = s.value_counts(normalize=True).reindex(cats, fill_value=0.0)
                ymax = max(ymax, float(freq.max()))
                traces.append(dict(
                    type="bar", x=_ticks(cats), y=freq.to_numpy(), name=labels[k], legendgroup=k,
                    showlegend=k not in shown, marker=dict(color=COLORS[k], opacity=0.8), customdata=[str(v) for v in cats],
                    hovertemplate=f"{labels[k]}<br>{o} = %{{customdata}}: %{{y:.3f}}<extra></extra>", **ref,
                ))
                shown.add(k)
        else:
            allv = np.concatenate([s.to_numpy(dtype=float) for s in columns_.values()])
            lo, hi = np.quantile(allv, [0.002, 0.998])
            if o in truth_means and np.isfinite(truth_means[o]):
                lo, hi = min(lo, truth_means[o]), max(hi, truth_means[o])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, bins + 1)
            for k, s in columns_.items():
                x, y = _density(s.to_numpy(dtype=float), edges)
                ymax = max(ymax, float(y.max()))
                obs = k == "observational"  # drawn as a grey area that the others outline
                traces.append(dict(
                    type="scatter", x=x, y=y, mode="lines", name=labels[k], legendgroup=k, showlegend=k not in shown,
                    line=dict(color=COLORS[k], width=1 if obs else 2.2), fill="tozeroy",
                    fillcolor=_rgba(COLORS[k], 0.3 if obs else 0.1),
                    hovertemplate=f"{labels[k]}<br>{o} ≈ %{{x:.3g}}: density %{{y:.3f}}<extra></extra>", **ref,
                ))
                shown.add(k)
        if o in truth_means and np.isfinite(truth_means[o]) and not discrete:
            m = float(truth_means[o])
            traces.append(dict(
                type="scatter", x=[m, m], y=[0, ymax * 1.05], mode="lines", name=f"true mean under {labels['do']}",
                legendgroup="truth", showlegend="truth" not in shown, line=dict(color=COLORS["truth"], width=2, dash="dash"),
                hovertemplate=f"true mean under {labels['do']}: {m:.3g}<extra></extra>", **ref,
            ))
            shown.add("truth")
    layout.update(
        height=100 + 270 * rows, margin=dict(l=10, r=10, t=90, b=10), barmode="group", plot_bgcolor="white",
        paper_bgcolor="white", font=dict(family=FONT),
        legend=dict(orientation="h", yanchor="bottom", y=1.0 + 50 / (270 * rows), xanchor="left", x=0, font=dict(size=13)),
    )
    return go.Figure(data=traces, layout=layout)


def _ticks(values: Sequence[Any], width: int = 10) -> list[str]:
    """Category names short enough for a small panel's axis (cut with "…"), unless cutting
    would make two of them the same."""
    full = [str(v) for v in values]
    short = [t if len(t) <= width else t[: width - 1] + "…" for t in full]
    return short if len(set(short)) == len(short) else full


def _grid(rows: int, cols: int, panels: int, h_space: float, v_space: float) -> dict[str, Any]:
    """Layout axes for ``panels`` subplots on a ``rows`` x ``cols`` grid filled row by row
    from the top (axis ``x``/``y`` first, then ``x2``/``y2`` ...), each with a title
    annotation above it (text left empty): what ``make_subplots`` makes, as a dict."""
    width = (1 - h_space * (cols - 1)) / cols
    height = (1 - v_space * (rows - 1)) / rows
    layout: dict[str, Any] = {"annotations": []}
    for i in range(panels):
        r, c = divmod(i, cols)
        x0 = c * (width + h_space)
        y1 = 1 - r * (height + v_space)
        ax = "" if i == 0 else str(i + 1)
        layout[f"xaxis{ax}"] = dict(domain=[x0, x0 + width], anchor=f"y{ax}", showgrid=True, gridcolor="#eee",
                                    zeroline=False)
        layout[f"yaxis{ax}"] = dict(domain=[y1 - height, y1], anchor=f"x{ax}", showticklabels=False,
                                    rangemode="tozero", showgrid=False, zeroline=False)
        layout["annotations"].append(dict(
            text="", x=x0 + width / 2, y=y1, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
            showarrow=False, font=dict(size=13, family=FONT),
        ))
    return layout


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# ---------------------------------------------------------------------- training
def loss_figure(history: Sequence[Sequence[float]], height: int = 240) -> go.Figure:
    """Training and validation loss per epoch from ``FitReport.history`` rows
    ``(epoch, train_loss, val_loss)``."""
    h = np.asarray(history, dtype=float).reshape(-1, 3)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=h[:, 0], y=h[:, 1], mode="lines", name="train", line=dict(color="#4a78a8")))
    fig.add_trace(go.Scatter(x=h[:, 0], y=h[:, 2], mode="lines", name="validation", line=dict(color="#e4572e")))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="epoch", yaxis_title="loss",
        plot_bgcolor="white", paper_bgcolor="white", legend=dict(orientation="h", y=1.1), font=dict(family=FONT),
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    return fig


def stage_loss_figure(stages: Sequence[tuple[str, Sequence[Any]]], height: int = 240) -> go.Figure:
    """Loss curves of a training in stages (``app.logic.runs.stage_histories``: ``[(name,
    rows with epoch, train_loss, val_loss)]``): one panel per stage, each on its own scale
    (an image model's label stage and image stage have losses a thousand times apart)."""
    stages = [(name, rows) for name, rows in stages if rows]
    if len(stages) <= 1:
        rows = stages[0][1] if stages else []
        return loss_figure([(h.epoch, h.train_loss, h.val_loss) for h in rows], height=height)
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(stages), subplot_titles=[f"stage {i + 1}: {name}" for i, (name, _) in enumerate(stages)],
                        horizontal_spacing=0.08)
    for i, (_, rows) in enumerate(stages):
        h = np.asarray([(r.epoch, r.train_loss, r.val_loss) for r in rows], dtype=float).reshape(-1, 3)
        fig.add_trace(go.Scatter(x=h[:, 0], y=h[:, 1], mode="lines", name="train", legendgroup="train", showlegend=i == 0,
                                 line=dict(color="#4a78a8")), row=1, col=i + 1)
        fig.add_trace(go.Scatter(x=h[:, 0], y=h[:, 2], mode="lines", name="validation", legendgroup="val",
                                 showlegend=i == 0, line=dict(color="#e4572e")), row=1, col=i + 1)
        fig.update_xaxes(title_text="epoch of the stage", showgrid=True, gridcolor="#eee", row=1, col=i + 1)
        fig.update_yaxes(title_text="loss" if i == 0 else None, showgrid=True, gridcolor="#eee", row=1, col=i + 1)
    fig.update_layout(height=height + 30, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", legend=dict(orientation="h", y=1.2), font=dict(family=FONT))
    return fig


def comparison_matrix(samples: Mapping[str, pd.DataFrame], node: str, value: Any, points: int = 600,
                      max_columns: int = 6) -> go.Figure:
    """A scatter matrix of the numeric nodes, one colour per query (observational, given,
    do), ``points`` samples of each: shows how the joint distribution, not only each
    marginal, changes under conditioning and intervention."""
    labels = query_labels(node, value)
    first = next(iter(samples.values()))
    numeric = [c for c in first.columns if pd.api.types.is_numeric_dtype(first[c])][:max_columns]
    fig = go.Figure()
    for k, df in samples.items():
        if df is None or not len(df):
            continue
        sub = df.iloc[:points]
        fig.add_trace(go.Splom(
            dimensions=[dict(label=c, values=sub[c].to_numpy(dtype=float)) for c in numeric],
            name=labels[k], marker=dict(color=COLORS[k], size=3, opacity=0.45), diagonal_visible=False,
            showupperhalf=False,
        ))
    side = 140 * max(2, len(numeric))
    fig.update_layout(height=side + 80, margin=dict(l=40, r=10, t=40, b=40), plot_bgcolor="white",
                      paper_bgcolor="white", font=dict(family=FONT), legend=dict(orientation="h", y=1.06),
                      dragmode="select")
    return fig
