"""Graph: draw the causal graph with the mouse (or type it), check it against the data,
and see what no data can tell apart (its Markov equivalence class).

The canvas (``streamlit-flow-component``, React Flow) and the text editor edit one
``app.logic.graph.Drawing`` kept in session state; every edit goes through the library's
validation, so a cycle is refused with the cycle named and the last valid graph kept.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd
import streamlit as st

from app import plots, ui
from app.logic import data as dp
from app.logic import graph as ge
from causal.data import DataError
from causal.discovery import MAX_COND
from causal.graph import GraphError
from causal.independence import MIN_STRENGTH, implications_frame, test_implications

DRAWING = "graph:drawing"  # session state: the Drawing
FLOW = "graph:flow"  # the canvas state last sent to the component
FLOW_REV = "graph:flow-revision"  # the drawing revision the canvas state was built from
TEXT_REV = "graph:text-revision"  # the drawing revision the text editor shows
FOR = "graph:dataset"  # which dataset the drawing belongs to
TEXT = "graph-text"  # the text editor's widget key
TEXT_SET = "graph:text-set"  # the text the page last put in the editor ...
TEXT_OLD = "graph:text-old"  # ... and the one before it (the previous graph's)
NOTICE = "graph:notice"
SUGGESTION = "graph:suggestion"  # ((dataset key, alpha, strength, spline), Suggestion, the graph it offers)

st.title("Graph")
st.caption(
    "State the causal graph you believe in: an arrow a → b says a is a direct cause of b. Draw it on the canvas "
    "(drag from a node's right edge to another node to add an arrow; right-click the canvas to add a node, a node "
    "or an arrow to edit or delete it) or type it beside. Every model you train obeys this graph."
)

# ---------------------------------------------------------------------- the data and the drawing
try:
    data, data_name, true_graph = dp.current_dataset(st.session_state)
    kinds = dp.current_kinds(st.session_state)
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()

key = ge.dataset_key(st.session_state)
drawing: ge.Drawing | None = st.session_state.get(DRAWING)
if drawing is None or st.session_state.get(FOR) != key:
    if drawing is not None:
        st.session_state[NOTICE] = f"The graph now starts from **{data_name}**'s " + (
            "true graph." if true_graph is not None else
            "labels, each with an arrow into the image node: draw the arrows between them you believe in."
            if (st.session_state.get(dp.STATE_KEY) or {}).get("images") else
            "columns, unconnected: draw the arrows you believe in.")
        ge.forget_graph(st.session_state)
    drawing = ge.new_drawing(ge.graph_for(st.session_state, data.columns, true_graph, kinds))
    st.session_state[FOR] = key
    st.session_state[DRAWING] = drawing
    st.session_state[FLOW_REV] = -1
    st.session_state[TEXT_REV] = -1


def commit(new: ge.Drawing) -> None:
    """Keep a drawing and make its graph the current graph for the other pages."""
    st.session_state[DRAWING] = new
    ge.store_graph(st.session_state, new.graph)


def edit(change: Callable[[ge.Drawing], ge.Drawing]) -> None:
    """A button's edit, as its ``on_click`` callback: callbacks run before the page does, so
    a rerun that interrupts the page (the canvas answering a redraw, at any moment) cannot
    lose the click, as it could lose a button's value read in the page."""
    commit(change(st.session_state[DRAWING]))


def state(key: str) -> Any:
    return st.session_state.get(key)


def canvas_state(d: ge.Drawing) -> Any:
    """A fresh canvas state for ``d``; its new timestamp makes the component redraw."""
    from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
    from streamlit_flow.state import StreamlitFlowState

    flow = ge.to_flow(d)
    nodes = [StreamlitFlowNode.from_dict(n) for n in flow["nodes"]]
    for n, raw in zip(nodes, flow["nodes"]):  # keep what from_dict does not carry
        n.selectable = False
        n.style = raw["style"]
    edges = [StreamlitFlowEdge.from_dict(e) for e in flow["edges"]]
    return StreamlitFlowState(nodes, edges, timestamp=ge.canvas_timestamp(st.session_state, int(time.time() * 1000)))


ge.store_graph(st.session_state, drawing.graph)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.info(notice, icon=":material/info:")

st.markdown(f"Data: **{data_name}** ({len(data):,} rows, {data.shape[1]} columns) · change it on the Data page.")

left, right = st.columns([3, 2], gap="medium")

# ---------------------------------------------------------------------- the canvas
with left:
    try:
        from streamlit_flow import streamlit_flow
    except ImportError:  # the app still works by text
        streamlit_flow = None
        st.warning("The graph canvas needs `streamlit-flow-component`; edit the graph as text on the right.")
    if streamlit_flow is not None:
        if st.session_state.get(FLOW_REV) != drawing.revision or FLOW not in st.session_state:
            st.session_state[FLOW] = canvas_state(drawing)
            st.session_state[FLOW_REV] = drawing.revision
            st.session_state[ge.CANVAS_WAIT] = 0  # until the canvas shows this state
        sent = st.session_state[FLOW]
        got = streamlit_flow(
            "graph-canvas", sent, height=460, fit_view=True, show_controls=True, allow_new_edges=True,
            enable_pane_menu=True, enable_node_menu=True, enable_edge_menu=True, hide_watermark=True,
            min_zoom=0.2, get_node_on_click=False,
        )
        # the component hands back its last value on every rerun: only a value not yet taken is an edit
        if got is not sent and ge.canvas_news(st.session_state, sent.timestamp, got.timestamp):
            value = got.asdict()
            waiting = st.session_state.get(ge.CANVAS_WAIT)
            stale = waiting is not None and not ge.shows_graph(value, drawing.graph)
            if stale and waiting < ge.MAX_RESENDS:
                # the canvas answered with an older graph (its late layout of a state sent before):
                # not an edit; send the current state again, newer than anything it sent
                st.session_state[FLOW] = canvas_state(drawing)
                st.session_state[ge.CANVAS_WAIT] = waiting + 1
                st.rerun()
            st.session_state[ge.CANVAS_WAIT] = None
            new = drawing if stale else drawing.apply_flow(value)
            if new is not drawing:
                commit(new)
                if new.revision != drawing.revision:
                    st.rerun()  # redraw the canvas from the validated graph (arrows, or the refused edit undone)
                drawing = new
    else:
        st.plotly_chart(plots.graph_figure(drawing.graph), width="stretch", key="graph-figure")
    if drawing.error:
        st.error(f"Refused: {drawing.error}. The graph is kept as it was.", icon=":material/block:")
    c1, c2, c3 = st.columns(3)
    c1.button("Lay out left to right", icon=":material/arrow_right_alt:", key="graph-layout-lr",
              on_click=edit, args=(lambda d: d.layout("LR"),))
    c2.button("Lay out top to bottom", icon=":material/arrow_downward:", key="graph-layout-tb",
              on_click=edit, args=(lambda d: d.layout("TB"),))
    if true_graph is not None:
        c3.button("Reset to the true graph", icon=":material/restart_alt:", key="graph-reset",
                  on_click=edit, args=(lambda d: d.apply_graph(true_graph),))

# ---------------------------------------------------------------------- text and controls
with right:
    # The text box shows the graph after every edit. Streamlit forgets a widget's value when its page is
    # left (refill it on the way back), and a run cut short by the next one (the canvas answers a redraw at
    # any moment) may never have shown the browser the new text: the browser then sends back the text it
    # had, the previous graph's, which must not stand (an Apply would bring the old graph back), or the
    # text just applied, which is refilled in the graph's own form.
    want = ge.editor_text(drawing.graph)
    shown = st.session_state.get(TEXT)
    came_back = ge.editor_is_stale(shown, want, st.session_state.get(TEXT_OLD), drawing.graph)
    if st.session_state.get(TEXT_REV) != drawing.revision or shown is None or came_back:
        if st.session_state.get(TEXT_REV) != drawing.revision:
            st.session_state[TEXT_OLD] = st.session_state.get(TEXT_SET)
        st.session_state[TEXT] = st.session_state[TEXT_SET] = want
        st.session_state[TEXT_REV] = drawing.revision
    st.text_area(
        "The graph as text", key=TEXT, height=170,
        help="One arrow per line (`a -> b`), or `a -> b; b -> c`; chains (`a -> b -> c`) and groups "
        "(`{a b} -> c`) work too, and so do DAGitty (`dag { a -> b }`), DOT and node-link JSON.",
    )
    st.button("Apply text", type="primary", icon=":material/check:", key="graph-apply",
              on_click=edit, args=(lambda d: d.apply_text(state(TEXT) or ""),))

    with st.expander("Edit nodes and arrows", icon=":material/edit:"):
        nodes = list(drawing.graph.nodes)
        a, b = st.columns(2)
        a.selectbox("From", nodes, key="graph-edge-from")
        b.selectbox("To", nodes, index=min(1, len(nodes) - 1), key="graph-edge-to")
        e1, e2 = st.columns(2)
        e1.button("Add arrow", key="graph-add-edge", icon=":material/add:",
                  on_click=edit, args=(lambda d: d.add_edge(state("graph-edge-from"), state("graph-edge-to")),))
        e2.button("Remove arrow", key="graph-del-edge", icon=":material/remove:",
                  on_click=edit, args=(lambda d: d.delete_edge(state("graph-edge-from"), state("graph-edge-to")),))
        st.divider()
        n1, n2 = st.columns([2, 1], vertical_alignment="bottom")
        new_name = n1.text_input("New node", key="graph-new-node", placeholder="a column name")
        n2.button("Add node", key="graph-add-node", disabled=not new_name.strip(),
                  on_click=edit, args=(lambda d: d.add_node(state("graph-new-node") or ""),))
        r1, r2, r3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        old = r1.selectbox("Node", nodes, key="graph-rename-from")
        to = r2.text_input("Rename to", key="graph-rename-to")
        r3.button("Rename", key="graph-rename", disabled=not to.strip(),
                  on_click=edit, args=(lambda d: d.rename_node(state("graph-rename-from"), state("graph-rename-to") or ""),))
        st.button(f"Delete node {old}", key="graph-delete-node", icon=":material/delete:",
                  on_click=edit, args=(lambda d: d.delete_node(state("graph-rename-from")),))

    with st.expander("Import and export", icon=":material/swap_vert:"):
        file = st.file_uploader("Import a graph file", type=["dagitty", "dot", "gv", "json", "txt"], key="graph-import", max_upload_size=ge.MAX_IMPORT_MB)
        if file is not None and st.button("Use this file", key="graph-import-apply"):
            try:
                text = file.getvalue().decode("utf-8")
            except UnicodeDecodeError:
                st.error(f"{file.name} is not a text file", icon=":material/error:")
            else:
                graph, error = ge.parse_graph(text)
                if graph is None:
                    st.error(f"{file.name}: {error}", icon=":material/error:")
                else:
                    commit(drawing.apply_graph(graph))
                    st.rerun()
        cols = st.columns(len(ge.FORMATS))
        for col, (fmt, (label, filename, mime)) in zip(cols, ge.FORMATS.items()):
            col.download_button(label, ge.export(drawing.graph, fmt), file_name=filename, mime=mime, key=f"graph-export-{fmt}")
        ws = ui.workspace()
        s1, s2 = st.columns([2, 1], vertical_alignment="bottom")
        save_name = s1.text_input("Save in the workspace as", value=data_name, key="graph-save-name")
        if s2.button("Save", key="graph-save", disabled=not save_name.strip()):
            ws.add_graph(save_name, drawing.graph)
            st.toast(f"Saved graph '{save_name}'", icon=":material/save:")
        saved = ws.graphs()
        if saved:
            names = {g.id: f"{g.name} · {g.text}" for g in saved}
            pick = st.selectbox("Saved graphs", list(names), format_func=names.get, key="graph-saved")
            st.button("Load saved graph", key="graph-load",
                      on_click=edit, args=(lambda d: d.apply_graph(ws.graph(state("graph-saved")).graph),))

    with st.expander("Suggest from the data", icon=":material/auto_awesome:"):
        st.caption(
            "The PC algorithm on the tests below: two columns stay adjacent only if no set of up to 3 others makes "
            "them independent. It assumes no hidden common cause of two columns and that no dependence cancels "
            "out; arrows come only where the data orient them (`--`: either way fits). A place to start drawing, "
            "not a finding: check each arrow against what you know."
        )
        g1, g2 = st.columns(2)
        alpha = g1.select_slider("Test level (alpha)", ge.SUGGEST_ALPHAS, value=0.01, key="graph-suggest-alpha")
        floor = g2.select_slider("Weakest dependence kept", ge.SUGGEST_STRENGTHS, value=0.0,
                                 key="graph-suggest-strength",
                                 help="A dependence weaker than this (|partial correlation| or its analogue for "
                                 "discrete columns) counts as absent however significant. 0 (the default) is "
                                 "significance alone, PC as defined. On a large table with many tiny dependences a "
                                 f"floor such as {MIN_STRENGTH:g} (the threshold at which the tests below call a "
                                 "violation relevant) keeps them from becoming arrows, but it can also orient a false "
                                 "collider where two columns are near-copies.")
        linear = st.checkbox("Adjust linearly (faster; assumes linear mechanisms)", key="graph-suggest-linear",
                             help="By default the tests adjust for the conditioning columns by splines, which also "
                             "removes nonlinear dependence; a linear adjustment can leave some (an extra arrow).")
        asked = (key, alpha, floor, linear)
        if st.button("Suggest", key="graph-suggest", icon=":material/auto_awesome:"):
            # a click starts the next run at once and stops this one at the next line it draws: the progress line,
            # drawn every quarter second, is where a search the user left (Stop, or any other click) ends
            stop, line = st.empty(), st.empty()
            stop.button("Stop", key="graph-suggest-stop", icon=":material/stop:",
                        help="Stops the search; a suggestion found before stays.")
            try:
                with st.spinner("Testing independences…"):
                    shown = ge.SuggestProgress(line.caption, MAX_COND)
                    st.session_state[SUGGESTION] = (asked, *ge.suggest(data, kinds, drawing.graph, alpha, floor, linear,
                                                                       progress=shown))
            except (DataError, ValueError) as e:
                st.error(f"No suggestion: {e}", icon=":material/error:")
            stop.empty()
            line.empty()
        kept = st.session_state.get(SUGGESTION)
        if kept is not None and kept[0][0] == key:  # a suggestion for these data (its settings may be older)
            _, found, whole = kept
            st.code(found.to_text(), language=None, wrap_lines=True)
            st.caption(found.describe() + (" The settings above changed since: suggest again to use them."
                                           if kept[0] != asked else ""))
            if found.conflicts:
                st.caption("Oriented both ways by different tests, left undirected: "
                           + ", ".join(f"{a} -- {b}" for a, b in found.conflicts) + ".")
            guessed = [(a, b) if whole.has_edge(a, b) else (b, a) for a, b in found.undirected
                       if whole.has_edge(a, b) or whole.has_edge(b, a)]
            if guessed:
                st.caption("*Use as the graph* points the undirected ones by column order, not by the data: "
                           + ", ".join(f"{a} → {b}" for a, b in guessed) + ". Turn those you know go the other way.")
            st.button("Use as the graph", key="graph-suggest-use", icon=":material/input:",
                      help="Replace the drawing by one graph of the suggested class: undirected edges are pointed by "
                      "column order; turn them as you know they go.",
                      on_click=edit, args=(lambda d: d.apply_graph(whole),))

# ---------------------------------------------------------------------- the graph against the data
graph = drawing.graph
missing, unused = ge.fit_to_columns(graph, data.columns)
if missing:
    st.warning(
        f"The data have no column for node(s) **{', '.join(missing)}**: a model of this graph cannot be trained on "
        f"{data_name}. Rename them to columns ({', '.join(map(str, data.columns))}) or remove them.",
        icon=":material/warning:",
    )
if unused:
    st.caption(f"Columns the graph leaves out (training ignores them): {', '.join(unused)}.")

st.subheader("What the data can and cannot tell")
mec, tests = st.columns([2, 3], gap="medium")
with mec:
    st.markdown("**Markov equivalence class**")
    size = graph.equivalence_class_size()
    cp = graph.cpdag()
    if not graph.edges:
        st.info("This graph has no arrows, so there is nothing to orient: it claims that every variable is "
                "independent of every other, a claim the tests beside check.", icon=":material/info:")
    elif size == 1:
        st.success("Every arrow is identified: no other graph implies the same independences.", icon=":material/verified:")
    else:
        st.info(
            f"**{size:,} graphs** imply exactly the same independences as this one, so observational data alone cannot "
            f"tell them apart. The arrows drawn as `--` below can point either way within the class; only "
            "interventions, assumptions or out-of-distribution tests (hypothesis testing) can settle them.",
            icon=":material/help:",
        )
    st.code(str(cp), language=None, wrap_lines=True)


@st.cache_data(max_entries=64, show_spinner="Testing the graph's implications on the data…")
def implications(data_key: str, graph_json: str, regression: str, _data: pd.DataFrame, _kinds: dict) -> pd.DataFrame:
    from causal import CausalGraph

    return implications_frame(test_implications(_data, CausalGraph.parse(graph_json), kinds=_kinds, regression=regression))


with tests:
    st.markdown("**Testable implications, tested on the data**")
    if missing:
        st.caption("Fix the nodes the data lack first.")
    else:
        regression = st.radio(
            "Adjust for the conditioning set with", ("spline", "linear"), horizontal=True, key="graph-regression",
            help="Splines remove smooth nonlinear parts of the conditioning variables' influence as well as the linear "
            "part; a linear adjustment is faster but, where a mechanism is nonlinear, leaves dependence behind that "
            "looks like a missing arrow (it refutes the true graph of several built-in nonlinear examples).",
        )
        ref = st.session_state.get(dp.STATE_KEY) or {}
        try:
            frame = implications(f"{key}:{ref.get('n')}:{ref.get('seed')}", graph.to_json(), regression, data, kinds)
        except (ValueError, GraphError) as e:
            st.error(str(e), icon=":material/error:")
            frame = None
        if frame is not None and frame.empty:
            st.caption("The graph implies no conditional independence (every pair of nodes is connected): "
                       "the data cannot contradict it.")
        elif frame is not None:
            bad = int(frame["relevant"].sum())
            weak = int(frame["rejected (Holm)"].sum()) - bad
            also = (f" {weak} more are rejected with a negligible dependence (strength below {MIN_STRENGTH:g})."
                    if weak else "")
            if bad:
                st.error(
                    f"The data contradict **{bad}** of the {len(frame)} independences this graph implies, each with a "
                    f"dependence of practical size (strength ≥ {MIN_STRENGTH:g} and Holm-adjusted p < 0.05): an arrow is "
                    "probably missing between those variables." + also,
                    icon=":material/report:",
                )
            elif weak:
                st.info(
                    f"The data reject **{weak}** of the {len(frame)} independences this graph implies (Holm-adjusted "
                    f"p < 0.05), but every one of those dependences is negligible (strength below {MIN_STRENGTH:g}): "
                    f"on {len(data):,} rows even dependences too weak to matter, or left by binning a variable, are "
                    "detected. The graph holds up as an approximation; add an arrow only where you believe in it.",
                    icon=":material/info:",
                )
            else:
                st.success(
                    f"The data are consistent with all {len(frame)} independences tested (a large p-value does not "
                    "prove independence; it only fails to refute it).",
                    icon=":material/check_circle:",
                )
            shown = frame[["independence", "strength", "p", "p (Holm)", "rejected (Holm)", "relevant", "effect", "method"]]

            def shade(row: pd.Series) -> list[str]:
                c = "#fde2e1" if row["relevant"] else "#fff4d6" if row["rejected (Holm)"] else ""
                return [f"background-color: {c}" if c else "" for _ in row]

            st.dataframe(
                shown.style.apply(shade, axis=1),
                hide_index=True, width="stretch", key="graph-tests",
                column_config={
                    "p": st.column_config.NumberColumn(format="%.3g"),
                    "p (Holm)": st.column_config.NumberColumn(format="%.3g"),
                    "strength": st.column_config.NumberColumn(
                        format="%.3f", help="how strong the dependence is, 0 to 1: |partial correlation| (or, where "
                        "larger, that of one residual times a conditioning column with the other: a dependence that "
                        "changes sign with it), or for a G-test the same scale from the mutual information "
                        "(sqrt(1 − exp(−2·I)))"),
                    "relevant": st.column_config.CheckboxColumn(
                        help=f"rejected (Holm) and at least {MIN_STRENGTH:g} strong: a contradiction that matters"),
                    "effect": st.column_config.NumberColumn(format="%.3f", help="partial correlation, or mutual information (nats)"),
                },
            )
