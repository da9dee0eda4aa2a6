"""The Graph page's logic, without streamlit: the drawing (a validated graph plus where each
node sits), conversion to and from the React Flow JSON that ``streamlit-flow-component``
speaks, layered layout, and which graph the pages work on for the chosen dataset.

Every edit returns a new ``Drawing``. An edit that would break the graph (a cycle, a
self-loop, a duplicate or bad name, text that does not parse) is refused: the drawing keeps
its last valid graph and carries the library's message naming the fault.

>>> d = new_drawing(CausalGraph.parse("a -> b; b -> c"))
>>> d.apply_text("a -> b; b -> c; c -> a").error
'the graph has a cycle: a -> b -> c -> a'
>>> d.apply_text("a -> b; b -> c; a -> c").graph.to_text()
'a -> b; a -> c; b -> c'

The page keeps the current valid graph in session state under ``GRAPH_KEY`` as DAGitty
text; other pages read it with ``current_graph(st.session_state)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Iterable, Literal, Mapping, MutableMapping

import pandas as pd

from app.plots import NODE_FILL, NODE_LINE, graph_layout
from causal.graph import CausalGraph, GraphError
from causal.limits import MAX_GRAPH_BYTES

MAX_IMPORT_MB = 1  # the graph-import uploader's own bound (the smallest Streamlit takes; parse_graph checks the bytes)

__all__ = [
    "GRAPH_KEY", "Direction", "Drawing", "new_drawing", "current_graph", "store_graph", "canvas_timestamp", "canvas_news", "shows_graph",
    "layout_positions", "graph_from_flow", "positions_from_flow", "to_flow", "parse_graph",
    "FORMATS", "export",
    "editor_text", "keep_kinds", "dataset_key", "starting_graph", "graph_for", "forget_graph", "fit_to_columns",
]

GRAPH_KEY = "graph_text"  # session state: the Graph page's current valid graph, as DAGitty text
GRAPH_FOR_KEY = "graph_text:dataset"  # ... and the dataset it was drawn for (``dataset_key``)
Direction = Literal["LR", "TB"]  # left to right, or top to bottom
Position = tuple[float, float]

NODE_GAP = 90.0  # pixels between nodes of one generation (left to right layout)
LAYER_GAP = 120.0  # pixels between generations (top to bottom layout)
EDGE_COLOR = "#555555"

# (label, file name, MIME type) of each export format
FORMATS: dict[str, tuple[str, str, str]] = {
    "dagitty": ("DAGitty", "graph.dagitty", "text/plain"),
    "dot": ("DOT", "graph.dot", "text/vnd.graphviz"),
    "json": ("JSON", "graph.json", "application/json"),
}


# ---------------------------------------------------------------------- session state
def current_graph(state: Mapping[str, Any]) -> CausalGraph | None:
    """The graph the Graph page holds (``state[GRAPH_KEY]``), or ``None`` when there is none
    or it does not parse. Other pages call it with ``st.session_state``."""
    text = state.get(GRAPH_KEY)
    if not text:
        return None
    try:
        return CausalGraph.parse(text)
    except GraphError:
        return None


def store_graph(state: MutableMapping[str, Any], graph: CausalGraph) -> None:
    """Make ``graph`` the current graph (``state[GRAPH_KEY]``, DAGitty text) of the dataset
    the Data page holds now."""
    state[GRAPH_KEY] = graph.to_dagitty()
    state[GRAPH_FOR_KEY] = dataset_key(state)


# ---------------------------------------------------------------------- the canvas's values
CANVAS_SEEN = "graph:canvas-seen"  # session state: the timestamp of the last canvas value taken


def canvas_timestamp(state: Mapping[str, Any], now_ms: int) -> int:
    """The timestamp of a canvas state about to be sent: now, and later than any value the
    canvas sent before (the component takes a state only if it is not older than its own last
    edit, by its clock: this keeps a browser whose clock runs ahead from ignoring it)."""
    return max(int(now_ms), int(state.get(CANVAS_SEEN, -1)) + 1)


def canvas_news(state: MutableMapping[str, Any], sent_timestamp: int, got_timestamp: int | None) -> bool:
    """Whether the value the canvas returned is a new edit, to apply (and remember as taken).

    Streamlit hands a component's *last* value back on every rerun, also after the page
    changed the graph another way (text, the form, a layout button): that value, already
    taken, must not be applied again over the newer graph. Neither is the state the page
    sent (``sent_timestamp``: no value from the canvas yet).

    >>> s = {}
    >>> canvas_news(s, 100, 150), canvas_news(s, 100, 150), canvas_news(s, 200, 150), canvas_news(s, 200, 210)
    (True, False, False, True)
    """
    if got_timestamp is None or got_timestamp == sent_timestamp or got_timestamp == state.get(CANVAS_SEEN):
        return False
    state[CANVAS_SEEN] = got_timestamp
    return True


CANVAS_WAIT = "graph:canvas-waiting"  # session state: times the state was sent again while the canvas showed an older one
MAX_RESENDS = 3  # ... at most; then the canvas's value is dropped and the next one taken


def shows_graph(value: Mapping[str, Any], graph: CausalGraph) -> bool:
    """Whether a canvas value (React Flow JSON) shows ``graph``'s nodes and arrows, wherever
    the nodes sit. After the page sends the canvas a new state, a value that does not is
    not an edit: the component can still answer with an older graph (its own layout of the
    previous state finishing late), which the page must not apply over the new one.

    >>> g = CausalGraph.parse("a -> b")
    >>> shows_graph(to_flow(new_drawing(g)), g), shows_graph(to_flow(new_drawing(g)), CausalGraph.parse("b -> a"))
    (True, False)
    """
    try:
        shown = graph_from_flow(value)
    except GraphError:
        return False
    return set(shown.nodes) == set(graph.nodes) and set(shown.edges) == set(graph.edges)


def parse_graph(text: str) -> tuple[CausalGraph | None, str | None]:
    """``(graph, None)`` for text in any syntax ``CausalGraph.parse`` reads, else
    ``(None, message)`` with the library's message naming the fault (text longer than a
    graph file may be, ``causal.limits.MAX_GRAPH_BYTES``, is refused unread)."""
    if len(text) > MAX_GRAPH_BYTES:
        return None, f"the graph text is {len(text) / 2**10:,.0f} KB; a graph may be at most {MAX_GRAPH_BYTES // 2**10:,} KB"
    try:
        return CausalGraph.parse(text), None
    except GraphError as e:
        return None, str(e)


def editor_text(graph: CausalGraph) -> str:
    """The graph as the text editor shows it: one arrow per line, then lone nodes."""
    return graph.to_text().replace("; ", "\n")


def editor_is_stale(shown: str | None, want: str, before: str | None, graph: CausalGraph) -> bool:
    """Whether the text the browser handed back for the editor must be replaced by ``want``
    (``graph``'s text): it is the previous graph's text ``before``, or it describes ``graph``
    itself in another form, such as the text just applied when the run that put ``want`` in
    the editor was cut short before the browser saw it (the next run then brings the typed
    text back). Text that describes another graph is the user's and is kept.

    >>> g = CausalGraph.parse("a -> b; b -> c")
    >>> editor_is_stale("b -> c; a -> b", editor_text(g), None, g)
    True
    >>> editor_is_stale("a -> b; a -> c", editor_text(g), None, g)
    False
    """
    if shown is None or shown == want:
        return False
    if shown == before:
        return True
    typed, _ = parse_graph(shown)
    return typed is not None and set(typed.nodes) == set(graph.nodes) and set(typed.edges) == set(graph.edges)


def keep_kinds(new: CausalGraph, old: CausalGraph) -> CausalGraph:
    """``new`` with the kinds ``old`` declared for the nodes ``new`` leaves undeclared
    (text without kinds must not forget that a node is binary)."""
    carry = {n: old.kind(n) for n in new.nodes if n in old and old.kind(n) and not new.kind(n)}
    return new.with_kinds(carry) if carry else new


def export(graph: CausalGraph, fmt: str) -> str:
    """The graph as text in ``fmt`` (a key of ``FORMATS``)."""
    if fmt == "dagitty":
        return graph.to_dagitty()
    if fmt == "dot":
        return graph.to_dot()
    if fmt == "json":
        return graph.to_json()
    raise ValueError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------- layout
def _steps(graph: CausalGraph, direction: Direction) -> tuple[float, float]:
    """Pixels between generations and between nodes of one generation."""
    longest = max((len(n) for n in graph.nodes), default=1)
    width = 8.5 * longest + 40  # about the rendered width of a node's box
    if direction == "LR":
        return max(170.0, width + 90), NODE_GAP
    return LAYER_GAP, max(120.0, width + 30)


def layout_positions(graph: CausalGraph, direction: Direction = "LR") -> dict[str, Position]:
    """Top-left corners of the nodes, layered by ``graph.generations()``: generation ``k``
    sits in column ``k`` (``"LR"``) or row ``k`` (``"TB"``), so every edge points right
    (or down); within a generation, nodes are ordered to reduce crossings."""
    layer, within = _steps(graph, direction)
    out: dict[str, Position] = {}
    for n, (k, y) in _clear_long_edges(graph, graph_layout(graph)).items():
        if direction == "LR":
            out[n] = (k * layer, -y * within)
        else:
            out[n] = (-y * within, k * layer)
    return out


def _clear_long_edges(graph: CausalGraph, pos: Mapping[str, Position], gap: float = 0.45,
                      rounds: int = 8) -> dict[str, Position]:
    """Move nodes off the straight line of an edge that skips their generation (the canvas
    draws edges nearly straight, so ``a -> c`` would hide behind ``b`` in ``a -> b -> c``):
    a node closer than ``gap`` to such an edge is pushed down, half a step at a time."""
    out = dict(pos)
    for _ in range(rounds):
        moved = False
        for a, b in graph.edges:
            (xa, ya), (xb, yb) = out[a], out[b]
            for n, (x, y) in list(out.items()):
                if n in (a, b) or not xa < x < xb:
                    continue
                on_line = ya + (yb - ya) * (x - xa) / (xb - xa)
                if abs(on_line - y) < gap:
                    y = on_line - 0.6
                    while any(m != n and mx == x and abs(my - y) < 0.9 for m, (mx, my) in out.items()):
                        y -= 1.0  # a free spot in the same generation
                    out[n] = (x, y)
                    moved = True
        if not moved:
            break
    return out


def _free_spot(taken: Iterable[Position], want: Position, step: Position) -> Position:
    """``want``, or the first spot below it (by ``step``) that no taken position occupies."""
    taken = list(taken)
    x, y = want
    while any(abs(x - tx) < step[0] * 0.6 and abs(y - ty) < step[1] * 0.6 for tx, ty in taken):
        y += step[1]
    return (x, y)


# ---------------------------------------------------------------------- the drawing
@dataclass(frozen=True)
class Drawing:
    """The Graph page's state: the last valid ``graph``, where each node sits on the canvas,
    and the message of the last refused edit (``error``).

    ``arranged`` is ``False`` while the positions are the automatic layout (the layout is
    then redone after each edit); dragging a node makes it ``True``. ``revision`` goes up
    whenever the canvas must be redrawn from this drawing (after an edit made outside the
    canvas, or to undo a refused edit made on it).
    """

    graph: CausalGraph
    positions: Mapping[str, Position]
    direction: Direction = "LR"
    error: str | None = None
    arranged: bool = False
    revision: int = 0

    # ------------------------------------------------------------------ edits
    def apply_graph(self, graph: CausalGraph) -> "Drawing":
        """Replace the graph by a valid one; positions of surviving nodes are kept when the
        user arranged them, else the layout is redone."""
        if not self.arranged:
            pos = layout_positions(graph, self.direction)
        else:
            pos = {n: self.positions[n] for n in graph.nodes if n in self.positions}
            auto = layout_positions(graph, self.direction)
            step = _steps(graph, self.direction)
            grid = step if self.direction == "LR" else (step[1], step[0])
            for n in graph.nodes:
                if n not in pos:
                    pos[n] = _free_spot(pos.values(), auto[n], (grid[0], grid[1]))
        return replace(self, graph=graph, positions=pos, error=None, revision=self.revision + 1)

    def refuse(self, message: str) -> "Drawing":
        """Keep the last valid graph and say why the edit was refused; the canvas is redrawn
        (it may show the refused edit)."""
        return replace(self, error=message, revision=self.revision + 1)

    def apply_text(self, text: str) -> "Drawing":
        """Apply graph text in any syntax (DAGitty, DOT, JSON, ``a -> b; b -> c``); nodes
        the text declares no kind for keep the kind they had."""
        graph, error = parse_graph(text)
        if graph is None:
            return replace(self, error=error)  # the canvas did not change: no redraw
        return self.apply_graph(keep_kinds(graph, self.graph))

    def apply_flow(self, value: Mapping[str, Any]) -> "Drawing":
        """Apply what the canvas returned (React Flow JSON: ``nodes`` and ``edges``).

        A valid new graph is taken with the canvas's positions once the user has arranged
        the nodes by hand, else laid out afresh; an invalid one is refused and the canvas
        redrawn from the last valid graph. When only positions changed (the
        user moved a node) the canvas is not redrawn; when nothing changed (the canvas
        echoing a redraw) the drawing, and its error message, stay as they are.
        """
        try:
            graph = graph_from_flow(value, self.kinds_by_id())
        except GraphError as e:
            return self.refuse(str(e))
        pos = positions_from_flow(value)
        pos = {n: pos.get(n, self.positions.get(n, (0.0, 0.0))) for n in graph.nodes}
        if graph == self.graph:
            if _same_positions(pos, self.positions):
                return self
            return replace(self, positions=pos, error=None, arranged=True)
        if not self.arranged:  # nobody placed the nodes by hand: lay the new graph out afresh
            return self.apply_graph(graph)
        return replace(self, graph=graph, positions=pos, error=None, revision=self.revision + 1)

    def add_node(self, name: str) -> "Drawing":
        """Add an isolated node, placed below the first column."""
        name = name.strip()
        if name in self.graph:
            return replace(self, error=f"there is already a node named '{name}'")
        try:
            graph = CausalGraph(list(self.graph.nodes) + [name], self.graph.edges, self.graph.kinds)
        except GraphError as e:
            return replace(self, error=str(e))
        return self.apply_graph(graph)

    def rename_node(self, old: str, new: str) -> "Drawing":
        """Rename a node, keeping its edges, kind and position."""
        new = new.strip()
        if old not in self.graph:
            return replace(self, error=f"there is no node named '{old}'")
        if new == old:
            return self
        if new in self.graph:
            return replace(self, error=f"cannot rename '{old}' to '{new}': there is already a node named '{new}'")
        r = lambda n: new if n == old else n  # noqa: E731
        try:
            graph = CausalGraph(
                [r(n) for n in self.graph.nodes],
                [(r(a), r(b)) for a, b in self.graph.edges],
                {r(n): k for n, k in self.graph.kinds.items()},
            )
        except GraphError as e:
            return replace(self, error=str(e))
        pos = {r(n): p for n, p in self.positions.items()}
        return replace(self, graph=graph, positions=pos, error=None, revision=self.revision + 1)

    def delete_node(self, name: str) -> "Drawing":
        """Delete a node and its edges (the last node cannot be deleted)."""
        if name not in self.graph:
            return replace(self, error=f"there is no node named '{name}'")
        if len(self.graph) == 1:
            return replace(self, error=f"cannot delete '{name}': a graph needs at least one node")
        keep = [n for n in self.graph.nodes if n != name]
        kinds = {n: k for n, k in self.graph.kinds.items() if n != name}
        return self.apply_graph(CausalGraph(keep, [e for e in self.graph.edges if name not in e], kinds))

    def add_edge(self, a: str, b: str) -> "Drawing":
        """Add ``a -> b`` (refused with the library's message if it closes a cycle)."""
        try:
            return self.apply_graph(self.graph.with_edges((a, b)))
        except GraphError as e:
            return replace(self, error=str(e))

    def delete_edge(self, a: str, b: str) -> "Drawing":
        try:
            graph = self.graph.without_edges((a, b))
        except GraphError as e:
            return replace(self, error=str(e))
        return self.apply_graph(graph)

    def layout(self, direction: Direction | None = None) -> "Drawing":
        """Redo the automatic layered layout (optionally switching direction)."""
        d = direction or self.direction
        return replace(
            self, direction=d, positions=layout_positions(self.graph, d), arranged=False, revision=self.revision + 1
        )

    def clear_error(self) -> "Drawing":
        return replace(self, error=None) if self.error else self

    # ------------------------------------------------------------------ helpers
    def kinds_by_id(self) -> dict[str, str]:
        """Node kinds keyed by canvas node id (the node's name when the canvas was drawn)."""
        return self.graph.kinds


def new_drawing(graph: CausalGraph, direction: Direction = "LR") -> Drawing:
    """A drawing of ``graph`` in the automatic layout."""
    return Drawing(graph, layout_positions(graph, direction), direction)


def _same_positions(a: Mapping[str, Position], b: Mapping[str, Position], tol: float = 0.5) -> bool:
    return a.keys() == b.keys() and all(
        abs(a[n][0] - b[n][0]) <= tol and abs(a[n][1] - b[n][1]) <= tol for n in a
    )


# ---------------------------------------------------------------------- React Flow JSON
def _name(node: Mapping[str, Any]) -> str:
    content = (node.get("data") or {}).get("content")
    return "" if content is None else str(content).strip()


def graph_from_flow(value: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> CausalGraph:
    """The graph a canvas state describes: a node's name is its text (``data.content``),
    edges join node ids. ``kinds`` (keyed by node id or name) carry over, so a renamed node
    keeps its kind. Raises ``GraphError`` for an unnamed node, a bad or duplicate name, a
    self-loop, a duplicate edge or a cycle."""
    kinds = dict(kinds or {})
    names: dict[str, str] = {}
    found: dict[str, str] = {}
    for node in value.get("nodes") or []:
        name = _name(node)
        if not name:
            raise GraphError("a node on the canvas has no name: right-click it, choose Edit Node and type one")
        nid = str(node.get("id", name))
        names[nid] = name
        kind = kinds.get(nid) or kinds.get(name)
        if kind:
            found[name] = kind
    if not names:
        raise GraphError("the canvas has no nodes; a graph needs at least one")
    edges = []
    for e in value.get("edges") or []:
        s, t = str(e.get("source")), str(e.get("target"))
        if s in names and t in names:  # React Flow drops an edge whose node is deleted; be as lenient
            edges.append((names[s], names[t]))
    return CausalGraph(list(names.values()), edges, found)


def positions_from_flow(value: Mapping[str, Any]) -> dict[str, Position]:
    """Node name -> top-left position on the canvas."""
    out = {}
    for node in value.get("nodes") or []:
        p = node.get("position") or {}
        out[_name(node)] = (float(p.get("x", 0.0)), float(p.get("y", 0.0)))
    return out


def node_style(kind: str | None) -> dict[str, str]:
    """CSS of a node's box: blue for continuous nodes, green for discrete ones (as in
    ``app.plots``), a dashed purple box for the image node."""
    if kind == "image":
        return {
            "width": "auto", "minWidth": "56px", "padding": "6px 14px", "borderRadius": "4px",
            "border": "1.5px dashed #7a5195", "background": "#f3ecf7", "color": "#222", "fontSize": "14px",
            "fontFamily": "'Source Sans Pro', sans-serif", "textAlign": "center",
        }
    style = "discrete" if kind in ("binary", "categorical") else "continuous"
    return {
        "width": "auto", "minWidth": "56px", "padding": "6px 14px", "borderRadius": "16px",
        "border": f"1.5px solid {NODE_LINE[style]}", "background": NODE_FILL[style], "color": "#222",
        "fontSize": "14px", "fontFamily": "'Source Sans Pro', sans-serif", "textAlign": "center",
    }


def to_flow(drawing: Drawing) -> dict[str, list[dict[str, Any]]]:
    """The canvas state of a drawing (React Flow JSON, the format the component returns).

    Node ids are the node names; handles sit on the right and left (``"LR"``) or bottom and
    top (``"TB"``); every edge ends in an arrow.
    """
    g = drawing.graph
    src, tgt = ("right", "left") if drawing.direction == "LR" else ("bottom", "top")
    nodes = [
        {
            "id": n,
            "position": {"x": float(drawing.positions[n][0]), "y": float(drawing.positions[n][1])},
            "data": {"content": n},
            "type": "default",
            "sourcePosition": src,
            "targetPosition": tgt,
            "draggable": True,
            "connectable": True,
            "deletable": True,
            "selectable": False,
            "style": node_style(g.kind(n)),
        }
        for n in g.nodes
    ]
    edges = [
        {
            "id": f"{a}->{b}",
            "source": a,
            "target": b,
            "type": "default",
            "markerEnd": {"type": "arrowclosed", "width": 18, "height": 18, "color": EDGE_COLOR},
            "deletable": True,
            "style": {"stroke": EDGE_COLOR, "strokeWidth": 1.6},
        }
        for a, b in g.edges
    ]
    return {"nodes": nodes, "edges": edges}


# ---------------------------------------------------------------------- the graph for a dataset
def dataset_key(state: Mapping[str, Any]) -> str:
    """Which dataset the Data page holds, as a short text (a drawing belongs to one). With
    nothing chosen yet, the Data page's default (so that visiting the Data page, which
    records that default, does not throw away a graph drawn before)."""
    from app.logic.data import STATE_KEY, builtin_ref
    from causal import datasets

    ref = state.get(STATE_KEY) or builtin_ref(datasets.names()[0])
    if ref.get("source") == "upload":  # the file as uploaded: reading its gaps differently keeps the drawing
        return f"upload:{(ref.get('cleaning') or {}).get('raw', ref.get('key'))}"
    if ref.get("source") == "stored":
        return f"stored:{ref.get('id')}"
    if ref.get("source") == "images":
        return f"images:{ref.get('name', '')}"
    return f"builtin:{ref.get('name', '')}"


def starting_graph(
    columns: Iterable[str], true_graph: CausalGraph | None, kinds: Mapping[str, str], images: bool = False
) -> CausalGraph:
    """The graph a new drawing starts from: the dataset's true graph when it has one, else
    its columns as unconnected nodes (with their kinds), for the user to connect. An image
    dataset (``images``) adds the image node, every label an arrow into it (the images
    show the labels); the arrows between the labels are the user's to draw."""
    if true_graph is not None:
        return true_graph
    cols = [str(c) for c in columns]
    declared = {c: kinds[c] for c in cols if kinds.get(c) in ("continuous", "binary", "categorical")}
    if images:
        from causal.images import IMAGE_NODE

        return CausalGraph([*cols, IMAGE_NODE], [(c, IMAGE_NODE) for c in cols], {**declared, IMAGE_NODE: "image"})
    return CausalGraph(cols, [], declared)


def graph_for(
    state: Mapping[str, Any], columns: Iterable[str], true_graph: CausalGraph | None, kinds: Mapping[str, str]
) -> CausalGraph:
    """The graph the pages work on: the Graph page's current graph when it fits the data's
    columns, else the dataset's starting graph (``starting_graph``)."""
    from app.logic.data import STATE_KEY

    graph = current_graph(state) if state.get(GRAPH_FOR_KEY) == dataset_key(state) else None
    if graph is not None and not fit_to_columns(graph, columns)[0]:
        return graph
    return starting_graph(columns, true_graph, kinds, images=bool((state.get(STATE_KEY) or {}).get("images")))


def forget_graph(state: MutableMapping[str, Any]) -> None:
    """Drop the current graph (the data changed under it)."""
    state.pop(GRAPH_KEY, None)
    state.pop(GRAPH_FOR_KEY, None)


def fit_to_columns(graph: CausalGraph, columns: Iterable[str]) -> tuple[list[str], list[str]]:
    """(graph nodes the data lack, data columns the graph leaves out): the first stop
    training, the second are ignored by it."""
    cols = [str(c) for c in columns]
    missing = [n for n in graph.nodes if n not in cols and graph.kind(n) != "image"]
    unused = [c for c in cols if c not in graph]
    return missing, unused


# ---------------------------------------------------------------------- a suggestion from the data
SUGGEST_ALPHAS = (0.001, 0.01, 0.05)
SUGGEST_STRENGTHS = (0.0, 0.02, 0.05, 0.1, 0.2)


class SuggestProgress:
    """What the page shows while PC runs: a callback for ``suggest_graph``'s ``progress`` that
    hands ``show`` a line at most every ``every`` seconds (each line the page draws is also
    where Streamlit can stop the run when the user clicks something, Stop included).

    >>> seen = []
    >>> p = SuggestProgress(seen.append, max_cond=3, every=0.0)
    >>> p(1, 0); p(2, 1)
    >>> seen[-1].startswith("2 independence tests")
    True
    """

    def __init__(self, show: Any, max_cond: int, every: float = 0.25) -> None:
        self.show, self.max_cond, self.every = show, max_cond, every
        self.start = self.last = time.perf_counter()

    def __call__(self, tests: int, size: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        self.show(f"{tests:,} independence tests in {now - self.start:.0f} s; now conditioning on {size} "
                  f"column{'s' if size != 1 else ''} (PC goes up to {self.max_cond}; the total is not known "
                  "in advance).")


def suggest(data: pd.DataFrame, kinds: Mapping[str, str], current: CausalGraph, alpha: float, min_strength: float,
            linear: bool, progress: Any = None) -> Any:
    """``causal.discovery.suggest_graph`` on the data's columns; where the current graph has
    image nodes, the suggestion keeps them with the arrows into them the current graph has
    (the labels the images show), so that it can replace the drawing."""
    from causal.discovery import suggest_graph

    images = [n for n in current.nodes if current.kind(n) == "image"]
    cols = [str(c) for c in data.columns if str(c) not in images]
    s = suggest_graph(data, columns=cols, kinds={c: k for c, k in kinds.items() if c in cols}, alpha=alpha,
                      min_strength=min_strength, regression="linear" if linear else "spline", progress=progress)
    if not images:
        return s, s.graph
    into = [(p, n) for n in images for p in current.parents(n)]
    g = CausalGraph([*s.graph.nodes, *images], [*s.graph.edges, *into],
                    {**{n: s.graph.kind(n) for n in s.graph.nodes if s.graph.kind(n)}, **{n: "image" for n in images}})
    return s, g
