"""The Graph page's logic (app.logic.graph): edits, the canvas's React Flow JSON, layout,
and the graph the pages use for a dataset."""

from __future__ import annotations

import doctest
import itertools

import pytest

import app.logic.graph as ge
from app.logic import data as dp
from causal import CausalGraph, datasets

TRI = CausalGraph.parse("a -> b; b -> c")


def test_doctests():
    assert doctest.testmod(ge).failed == 0


# ---------------------------------------------------------------------- edits
def test_edits_return_new_drawings_and_refusals_keep_the_last_valid_graph():
    d = ge.new_drawing(TRI)
    e = d.add_edge("a", "c")
    assert e.graph.has_edge("a", "c") and not d.graph.has_edge("a", "c") and e.error is None
    cyc = e.add_edge("c", "a")
    assert cyc.graph == e.graph and cyc.error == "the graph has a cycle: a -> b -> c -> a"
    assert e.add_edge("b", "b").error and "b" in e.add_edge("b", "b").error
    assert e.add_node("b").error == "there is already a node named 'b'"
    assert e.add_node("a;b").graph == e.graph  # a bad name is refused
    assert e.delete_edge("a", "c").graph == d.graph
    assert e.delete_node("b").graph == CausalGraph.parse("a -> c")
    assert ge.new_drawing(CausalGraph.parse("a")).delete_node("a").error.startswith("cannot delete 'a'")


def test_rename_keeps_edges_kind_and_position():
    d = ge.new_drawing(CausalGraph.parse("a -> b", kinds={"a": "binary"}))
    r = d.rename_node("a", "treated")
    assert r.graph.same_structure(CausalGraph.parse("treated -> b")) and r.graph.kind("treated") == "binary"
    assert r.positions["treated"] == d.positions["a"]
    assert d.rename_node("a", "b").error == "cannot rename 'a' to 'b': there is already a node named 'b'"
    assert d.rename_node("zz", "q").error == "there is no node named 'zz'"


def test_text_is_applied_in_any_syntax_and_kinds_are_kept():
    d = ge.new_drawing(CausalGraph.parse("a -> b", kinds={"a": "binary"}))
    for text in ("a -> b; b -> c", "dag { a -> b -> c }", 'digraph { "a" -> "b"; b -> c }', "a -> b\nb -> c"):
        new = d.apply_text(text)
        assert new.error is None and new.graph.edges == (("a", "b"), ("b", "c")), text
        assert new.graph.kind("a") == "binary"
    bad = d.apply_text("a -> b; b -> a")
    assert bad.graph == d.graph and "cycle" in bad.error and bad.revision == d.revision  # no redraw needed
    assert ge.editor_text(CausalGraph.parse("a -> b; b -> c; z")) == "a -> b\nb -> c\nz"


# ---------------------------------------------------------------------- the canvas's JSON
def test_flow_round_trip_and_what_the_canvas_may_send():
    d = ge.new_drawing(TRI)
    flow = ge.to_flow(d)
    assert [n["id"] for n in flow["nodes"]] == ["a", "b", "c"]
    assert all(e["markerEnd"]["type"] == "arrowclosed" for e in flow["edges"])
    assert ge.graph_from_flow(flow) == TRI

    # the canvas echoes the drawing: nothing changes, not even the revision
    assert d.apply_flow(flow) is d
    # the user dragged a node: positions change, no redraw
    moved = {**flow, "nodes": [dict(n, position={"x": 500.0, "y": 7.0}) if n["id"] == "c" else n for n in flow["nodes"]]}
    m = d.apply_flow(moved)
    assert m.positions["c"] == (500.0, 7.0) and m.arranged and m.revision == d.revision
    # the user connected a -> c: a new valid graph, redrawn (with arrows)
    added = {**flow, "edges": flow["edges"] + [{"id": "new", "source": "a", "target": "c"}]}
    a = d.apply_flow(added)
    assert a.graph.has_edge("a", "c") and a.revision == d.revision + 1
    assert a.positions == ge.layout_positions(a.graph)  # not arranged by hand: laid out afresh (b off a -> c)
    arranged_add = m.apply_flow({**added, "nodes": moved["nodes"]})
    assert arranged_add.positions["c"] == (500.0, 7.0)  # arranged by hand: the user's positions stay
    # the user connected c -> a: refused, the canvas is redrawn from the last valid graph
    cyc = {**flow, "edges": flow["edges"] + [{"id": "new", "source": "c", "target": "a"}]}
    r = d.apply_flow(cyc)
    assert r.graph == TRI and "a -> b -> c -> a" in r.error and r.revision == d.revision + 1
    # a node created on the canvas is named by its text; renaming it there keeps its id
    created = {**flow, "nodes": flow["nodes"] + [{"id": "n1", "data": {"content": "d"}, "position": {"x": 0, "y": 200}}],
               "edges": flow["edges"] + [{"id": "e", "source": "c", "target": "n1"}]}
    assert d.apply_flow(created).graph == CausalGraph.parse("a -> b; b -> c; c -> d")


@pytest.mark.parametrize("nodes, edges, needle", [
    ([("1", "")], [], "has no name"),
    ([("1", "a"), ("2", "a")], [], "a"),
    ([("1", "a")], [("1", "1")], "a"),
    ([], [], "no nodes"),
])
def test_bad_canvas_states_are_refused_by_name(nodes, edges, needle):
    value = {"nodes": [{"id": i, "data": {"content": c}, "position": {"x": 0, "y": 0}} for i, c in nodes],
             "edges": [{"id": f"{s}{t}", "source": s, "target": t} for s, t in edges]}
    with pytest.raises(ValueError, match=needle):
        ge.graph_from_flow(value)


# ---------------------------------------------------------------------- layout
@pytest.mark.parametrize("name", datasets.names())
@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_layout_points_edges_forward_and_keeps_nodes_apart_and_off_other_edges(name, direction):
    g = datasets.info(name).graph
    pos = ge.layout_positions(g, direction)
    axis = 0 if direction == "LR" else 1
    for a, b in g.edges:
        assert pos[a][axis] < pos[b][axis]
    for m, n in itertools.combinations(g.nodes, 2):
        assert abs(pos[m][0] - pos[n][0]) + abs(pos[m][1] - pos[n][1]) > 40, (m, n)
    other = 1 - axis
    for a, b in g.edges:  # no node sits on the straight line of an edge that skips it
        for n in g.nodes:
            if n in (a, b) or not pos[a][axis] < pos[n][axis] < pos[b][axis]:
                continue
            t = (pos[n][axis] - pos[a][axis]) / (pos[b][axis] - pos[a][axis])
            line = pos[a][other] + t * (pos[b][other] - pos[a][other])
            assert abs(line - pos[n][other]) > 30, (a, b, n)


def test_new_nodes_keep_arranged_positions_and_find_a_free_spot():
    d = ge.new_drawing(TRI)
    flow = ge.to_flow(d)
    moved = d.apply_flow({**flow, "nodes": [dict(n, position={"x": 999.0, "y": 5.0}) if n["id"] == "a" else n
                                            for n in flow["nodes"]]})
    e = moved.add_node("z")
    assert e.positions["a"] == (999.0, 5.0) and e.positions["z"] not in (e.positions["b"], e.positions["c"])
    assert e.layout().positions["a"] != (999.0, 5.0) and not e.layout().arranged


# ---------------------------------------------------------------------- the graph for a dataset
def test_the_pages_use_the_drawn_graph_only_for_the_dataset_it_was_drawn_for():
    state = {dp.STATE_KEY: dp.builtin_ref("triangle-lin")}
    cols = ["x1", "x2", "x3"]
    drawn = CausalGraph.parse("x1 -> x2; x2 -> x3")
    ge.store_graph(state, drawn)
    assert ge.graph_for(state, cols, None, {}) == drawn
    state[dp.STATE_KEY] = dp.builtin_ref("triangle-nlin")  # same columns, another dataset
    assert ge.graph_for(state, cols, None, {"x1": "continuous"}).edges == ()
    truth = datasets.info("triangle-nlin").graph
    assert ge.graph_for(state, cols, truth, {}) == truth
    ge.forget_graph(state)
    assert ge.GRAPH_KEY not in state


def test_fit_to_columns_names_missing_nodes_and_unused_columns():
    g = CausalGraph.parse("a -> b; b -> zz")
    assert ge.fit_to_columns(g, ["a", "b", "extra"]) == (["zz"], ["extra"])


def test_a_graph_drawn_before_visiting_the_data_page_is_kept_there():
    """A fresh session works on the Data page's default dataset; visiting the Data page
    records that default, which must not count as another dataset (the graph was lost)."""
    state: dict = {}
    drawn = CausalGraph.parse("x1 -> x2; x2 -> x3")
    ge.store_graph(state, drawn)
    state[dp.STATE_KEY] = dp.builtin_ref(datasets.names()[0])
    assert ge.graph_for(state, ["x1", "x2", "x3"], datasets.info(datasets.names()[0]).graph, {}) == drawn


def test_only_new_canvas_values_are_edits():
    """Streamlit hands the canvas's last value back on every rerun: after the page changed
    the graph another way, that old value must not be applied again."""
    state: dict = {}
    sent = 1_000
    assert not ge.canvas_news(state, sent, None)  # nothing from the canvas yet
    assert not ge.canvas_news(state, sent, sent)  # the state the page sent
    assert ge.canvas_news(state, sent, 1_200)  # an edit on the canvas
    assert not ge.canvas_news(state, sent, 1_200)  # ... handed back on the next rerun
    later = ge.canvas_timestamp(state, now_ms=900)  # a browser clock ahead of the server's
    assert later > 1_200 and not ge.canvas_news(state, later, 1_200)
    assert ge.canvas_news(state, later, later + 5)


def test_a_canvas_value_of_an_older_graph_is_told_from_the_one_sent():
    old, new = CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3"), CausalGraph.parse("x1 -> x2; x2 -> x3")
    echo = ge.to_flow(ge.new_drawing(old))
    assert ge.shows_graph(echo, old) and not ge.shows_graph(echo, new)
    moved = ge.to_flow(ge.new_drawing(new, "TB"))  # the same graph elsewhere on the canvas
    assert ge.shows_graph(moved, new)
    assert not ge.shows_graph({"nodes": [], "edges": []}, new)


def test_the_editor_text_a_cut_short_run_leaves_in_the_browser_is_refilled_but_the_users_is_kept():
    """A run cut short by the next one may never have shown the browser the new graph's text;
    the next run then gets back the previous graph's text or the text just applied (another
    form of the current graph). Both are replaced by the graph's own text; text describing
    another graph is the user's own edit and stays."""
    before, graph = CausalGraph.parse("x1 -> x2; x1 -> x3"), CausalGraph.parse("x1 -> x2; x2 -> x3; x1 -> x3")
    want, old = ge.editor_text(graph), ge.editor_text(before)
    assert want == "x1 -> x2\nx1 -> x3\nx2 -> x3"
    assert ge.editor_is_stale("x1 -> x2; x2 -> x3; x1 -> x3", want, old, graph)  # the text just applied
    assert ge.editor_is_stale("dag { x1 -> {x2 x3} x2 -> x3 }", want, old, graph)  # in any syntax
    assert ge.editor_is_stale(old, want, old, graph)  # the previous graph's text
    assert not ge.editor_is_stale(want, want, old, graph)
    assert not ge.editor_is_stale(None, want, old, graph)
    assert not ge.editor_is_stale("x1 -> x2; x2 -> x3", want, old, graph)  # another graph: the user's
    assert not ge.editor_is_stale("x1 -> x2; x2 -> x3; x1 -> x3; w", want, old, graph)  # a node more
    assert not ge.editor_is_stale("x1 -> x2; x2 ->", want, old, graph)  # half typed, unreadable: kept
