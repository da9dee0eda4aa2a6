"""Seeing vs doing: pick a trained run, a variable and a value, and compare conditioning on
it (given X = x) with intervening on it (do(X = x)), against the truth where it is known.

With no trained run yet, one click trains a quick model on a built-in example (in a
background worker, like every run)."""

from __future__ import annotations

import time

import streamlit as st

from app import plots, ui
from app.logic.explore import (
    condition_message, default_node, effect_note, effect_table, explain, extrapolation_note, probability_table, reference_value,
    value_choice,
)
from app.logic.runs import format_seconds, progress_fraction
from app.workspace import RunRecord, RunSpec
from causal import datasets
from causal.effects import EXACT, GAP, TRUTH
from causal.sources import BuiltinTable

STARTED = time.perf_counter()  # this script run's start: the page reports its server time
QUICK = {"steps": 1500}  # settings of a quick model: about two seconds of training
QUICK_ROWS = 2000
POLL_SECONDS = 0.5
QUICK_KEY = "explore:quick-run"  # session state: the quick run this page waits for (not just any picked run)

st.title("Seeing vs doing")
st.caption(
    "Conditioning on a variable (*given* X = x) filters the model's samples to those where X happens to be x, so "
    "X's causes shift with it. Intervening (*do*(X = x)) sets X in every sample and cuts it off from its causes, "
    "so only its effects move. Pick a trained model, a variable and a value to see the difference."
)


@st.fragment(run_every=POLL_SECONDS)
def wait_for(run_id: str) -> None:
    ui.poll()
    run = ui.workspace().run(run_id)
    if not run.active:
        st.rerun()
    p = run.progress
    st.progress(progress_fraction(run), text="Starting…" if p is None else f"Training {run.name}: step {p.steps:,}")
    st.caption(f"elapsed {format_seconds(run.seconds)}")


def quick_train() -> None:
    """Train a quick model on a built-in example: the teacher's one click."""
    names = datasets.names()
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.selectbox("Built-in example", names, index=names.index("triangle-lin"), key="explore-quick-dataset")
    c1.caption(datasets.info(name).description)
    if c2.button("Train a quick model", type="primary", icon=":material/bolt:", key="explore-quick"):
        spec = RunSpec(BuiltinTable(name, rows=QUICK_ROWS), settings=QUICK, name=f"quick Causal Gen on {name}")
        run_id = ui.runner().submit(spec)
        st.session_state[QUICK_KEY] = st.session_state[ui.RUN_KEY] = run_id
        st.rerun()


ui.poll()
runs = ui.usable_runs(images=False)
waiting = st.session_state.get(QUICK_KEY)
active = next((r for r in ui.workspace().runs() if r.id == waiting and r.active), None) if waiting else None
if active is not None:
    wait_for(active.id)
    st.stop()
st.session_state.pop(QUICK_KEY, None)
if not runs:
    st.info("No trained model yet. Train one on the Train page, or try a built-in example now:", icon=":material/info:")
    quick_train()
    st.stop()

with st.expander("Train a quick model on a built-in example", icon=":material/bolt:"):
    quick_train()

run: RunRecord = ui.pick_run(runs, key="explore-run")
model = ui.run_model(run)
graph, schema = model.graph, model.schema
truth_known = run.truth is not None
if run.status != "done":
    st.warning(f"This run is {run.status}: its model is the best checkpoint it saved.", icon=":material/warning:")

nodes = list(graph.nodes)
suggested = run.spec.source.intervene_on
c_node, c_value, c_extend = st.columns([1, 3, 1], vertical_alignment="bottom")
start = default_node(graph, suggested)
node = c_node.selectbox("Variable", nodes, index=nodes.index(start), key=f"node-{run.id}")
col = schema[node]
extend = c_extend.toggle(
    "Beyond the data", key=f"extend-{run.id}-{node}", disabled=col.discrete,
    help="Let the value go past anything seen in the data: do() still answers (the model extrapolates); "
    "conditioning cannot, since no sample has such a value.",
)
choice = value_choice(col, extend)
if choice.kind == "slider":
    value = c_value.slider(f"Value of {node}", min_value=choice.min, max_value=choice.max, value=choice.default,
                           step=choice.step, key=f"value-{run.id}-{node}-{int(extend)}")
    if not col.min <= value <= col.max:
        st.warning(
            f"{node} = {plots.format_value(value)} lies outside the training data ({col.min:.4g} to {col.max:.4g}): the "
            "model's answer under do is an extrapolation, and no sample can be conditioned on it.",
            icon=":material/warning:",
        )
else:
    options = list(choice.options)
    value = c_value.selectbox(f"Value of {node}", options, index=options.index(choice.default), key=f"value-{run.id}-{node}")

left, right = st.columns([5, 2])
with right:
    st.plotly_chart(plots.graph_figure(graph, highlight=node), key=f"graph-{run.id}",
                    config={"displayModeBar": False}, width="stretch")
    st.caption(f"{run.name} · {run.data_name} · `{run.id}`")

try:
    c = ui.run_comparison(run, node, value)
except ValueError as e:  # a value the model refuses: say so, keep the page
    st.error(f"Cannot sample with {node} = {plots.format_value(value)}: {e}", icon=":material/error:")
    st.stop()
labels = plots.query_labels(node, value)
with left:
    if c.given_error:
        st.warning(condition_message(node, value, c.given_error), icon=":material/warning:")
    note = extrapolation_note(c)
    if note:
        st.warning(note, icon=":material/travel_explore:")
    # one view drawn at a time (tabs would build and send both on every slider move)
    view = st.segmented_control("View", ["Distributions", "Scatter matrix"], default="Distributions",
                                key="explore-view", label_visibility="collapsed") or "Distributions"
    if view == "Distributions":
        st.plotly_chart(plots.comparison_figure(c.samples(), node, value, graph=graph, truth_means=c.truth_means()),
                        width="stretch", key="comparison")
    elif len(c.numeric()) < 2:
        st.info("The scatter matrix plots numeric variables against each other, and this model has fewer than two: "
                "the distributions show every variable.", icon=":material/info:")
    else:
        st.plotly_chart(plots.comparison_matrix(c.samples(), node, value), width="stretch", key="comparison-matrix")
    st.caption(
        f"{explain(graph, node)}" + (f" The dashed line marks the true mean under {labels['do']}, from the dataset's "
                                     "structural equations." if truth_known else "")
    )

m_col, e_col = st.columns([1, 1], gap="medium")
percent = {k: st.column_config.NumberColumn(k, format="percent") for k in
           ("observational", "given", "do", TRUTH, EXACT, GAP, "extrapolated")}
with m_col:
    means = c.means()
    if len(means):
        st.markdown("**Mean of each variable**")
        st.dataframe(means, column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in means.columns},
                     width="stretch", key="explore-means")
        st.caption(f"given − do: how far seeing {node} = {plots.format_value(value)} is from setting it. Zero where "
                   f"only causal paths link {node} and the variable; not zero where a common cause links them, or for "
                   f"{node}'s own causes, which conditioning moves and intervening does not.")
    probs = probability_table(c)
    if len(probs):
        st.markdown("**Probability of each category**")
        st.dataframe(probs, hide_index=True, width="stretch", key="explore-probabilities", column_config=percent,
                     height=min(38 + 35 * len(probs), 38 + 35 * 24))  # every row at once, up to 24
        st.caption(
            f"The share of samples in each category, observed, given {node} = {plots.format_value(value)} and under "
            f"do({node} = {plots.format_value(value)}); given − do is the gap between seeing and doing."
            + (f" {EXACT}: the exact answer of this graph (variable elimination; CPTs from {c.exact_source})."
               if c.exact_do is not None else "")
        )
    if c.acceptance_rate is not None:
        st.metric("Acceptance rate of conditioning", f"{c.acceptance_rate:.2%}",
                  help="Share of the model's samples that fell in the conditioning event; conditioning on rare values "
                  "needs many draws, intervening never does.")
        if c.given_window is not None:
            lo, hi = c.given_window
            st.caption(f"{len(c.given):,} of {c.given_draws:,} draws had {node} in [{lo:.3g}, {hi:.3g}].")
with e_col:
    reference = reference_value(col, value)
    st.markdown(f"**Average effect of do({node} = {plots.format_value(value)}) against do({node} = "
                f"{plots.format_value(reference)})**")
    effect = ui.run_effects(run, c, reference)
    number = {k: st.column_config.NumberColumn(k, format="%.3f") for k in effect.table.columns}
    effects = effect_table(effect)
    st.dataframe(effects, width="stretch", key="explore-ate", height=min(38 + 35 * len(effects), 38 + 35 * 24),
                 column_config={**number, "extrapolated": percent["extrapolated"]})
    warn = effect_note(effect)
    if warn:
        st.warning(warn, icon=":material/travel_explore:")
    st.caption(
        "A numeric outcome's change in mean; a categorical one's (y = c) change in the probability of that category. "
        "low–high: a 95% interval for the Monte Carlo error of the model's answer (paired samples); it says how "
        "precisely the model was asked, not how well it was fitted."
        + (" truth: the same effect under the true SCM." if truth_known else "")
        + (" exact: under the exact answer of the graph." if "exact" in effect.table.columns else "")
        + (" extrapolated: the share of sample pairs whose answer comes from beyond the training data."
           if "extrapolated" in effect.table.columns else "")
    )
st.caption(f"Answered in {(time.perf_counter() - STARTED) * 1000:.0f} ms (server time of this page).")
