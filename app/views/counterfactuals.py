"""Counterfactuals: pick rows, set an intervention, and see what each row would have been
(abduction, action, prediction), factual and counterfactual side by side with the changed
cells highlighted; check against the truth on built-in data; download the result."""

from __future__ import annotations

import streamlit as st

from app import plots, ui
from app.logic import counterfactuals as cv
from app.logic.data import read_upload
from causal import shift
from causal.data import DataError

st.title("Counterfactuals")
st.caption(
    "For each chosen row the model infers its unobserved noise (abduction), applies the intervention (action) and "
    "recomputes the affected variables (prediction). Variables the intervention cannot reach keep their values."
)

ui.poll()
runs = ui.usable_runs(images=False)
if not runs:
    st.info("No trained model yet: train one on the Train page (or with one click on Seeing vs doing).",
            icon=":material/info:")
    st.stop()
run = ui.pick_run(runs, key="cf-run")
model = ui.run_model(run)
graph, schema = model.graph, model.schema
nodes = list(graph.nodes)


# ---------------------------------------------------------------------- the rows
source = st.radio("Rows", ("From the run's data", "Upload rows (CSV)"), horizontal=True, key="cf-source")
if source == "Upload rows (CSV)":
    file = st.file_uploader("A CSV with one column per node", type=["csv", "txt"], key="cf-upload", max_upload_size=cv.MAX_UPLOAD_MB)
    if file is None:
        st.stop()
    try:
        pool = read_upload(file.name, file.getvalue(), max_mb=cv.MAX_UPLOAD_MB)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    lacking = [n for n in nodes if n not in pool.columns]
    if lacking:
        st.error(f"{file.name} has no column for node(s) {', '.join(lacking)}; its columns are "
                 f"{', '.join(map(str, pool.columns))}", icon=":material/error:")
        st.stop()
else:
    pool = ui.run_rows(run.id)

st.caption(f"Select rows in the table (click their left edge), or type their numbers. {len(pool):,} rows.")
event = st.dataframe(pool, height=240, width="stretch", on_select="rerun", selection_mode="multi-row",
                     key=f"cf-table-{run.id}-{source}")
picked = list(event.selection.rows) if event and event.selection else []
typed = st.text_input("Rows", value="0-4" if not picked else "", key=f"cf-rows-{run.id}",
                      help="Row numbers and ranges, e.g. 0, 3, 10-14 (used when no row is selected in the table).")
try:
    positions = picked or cv.parse_rows(typed, len(pool))
except ValueError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
rows = pool.iloc[positions]

# ---------------------------------------------------------------------- the intervention
c_node, c_how, c_value = st.columns([1, 1, 2], vertical_alignment="bottom")
node = c_node.selectbox("Intervene on", nodes, index=0, key=f"cf-node-{run.id}")
col = schema[node]
if col.discrete:
    how = c_how.selectbox("How", ("set to",), key=f"cf-how-{run.id}-{node}")
    value = c_value.selectbox(f"Value of {node}", sorted(col.categories, key=plots.category_key), index=len(col.categories) - 1,
                              key=f"cf-value-{run.id}-{node}")
    do = {node: value}
else:
    how = c_how.selectbox("How", ("set to", "shift by"), key=f"cf-how-{run.id}-{node}",
                          help="set: do(x = v) for every row; shift: do(x = x + v), each row's own value moved by v")
    default = float(col.mean) if how == "set to" else float(col.std)
    amount = c_value.number_input(f"{'Value' if how == 'set to' else 'Shift'} of {node}", value=round(default, 4),
                                  format="%.4g", key=f"cf-value-{run.id}-{node}-{how}")
    do = {node: float(amount)} if how == "set to" else {node: shift(float(amount))}

truth = run.truth
try:
    res = cv.counterfactuals(model, rows, do, seed=0, truth=truth)
except ValueError as e:
    st.error(f"Cannot compute counterfactuals: {e}", icon=":material/error:")
    st.stop()

label = plots.format_value(do[node]) if how == "set to" else f"{node} + {plots.format_value(float(amount))}"
st.subheader(f"What these {len(rows)} row(s) would have been under do({node} = {label})")
st.dataframe(cv.styled(res), width="stretch", key="cf-result")
notes = ["yellow: the counterfactual differs from the factual value"]
if res.outside is not None and res.outside.to_numpy().any():
    share = float(res.outside.any(axis=1).mean())
    notes.append(f"red: computed from parent values outside the training data ({share:.0%} of rows); the model "
                 "extrapolates there, and no data can check it")
st.caption("; ".join(notes) + ".")
changed_nodes = [n for n in nodes if res.changed[n].any()]
untouched = [n for n in nodes if n not in graph.descendants(node) and n != node]
st.caption(
    f"Changed: {', '.join(changed_nodes) or 'nothing'}. "
    + (f"Not descendants of {node}, so kept exactly: {', '.join(untouched)}." if untouched else "")
)
err = res.error()
if err is not None:
    st.markdown("**Against the exact counterfactual** (the true structural equations, the same noise):")
    st.dataframe(err.to_frame().T, width="stretch", key="cf-error",
                 column_config={k: st.column_config.NumberColumn(k, format="%.4f") for k in err.index})
flat = res.table()
flat.columns = [f"{a} ({b})" for a, b in flat.columns]
st.download_button("Download as CSV", flat.to_csv(index=True).encode(), file_name=f"counterfactuals-{run.id}.csv",
                   mime="text/csv", icon=":material/download:", key="cf-download")
