"""De-bias: pick a trained run, a sensitive attribute and a target, cut edges (chosen, or a
fairness variant), generate a de-biased dataset, judge it before and after, see each real row
de-biased, compare the variants, and download the data with its manifest."""

from __future__ import annotations

import streamlit as st

from app import ui
from app.logic import debias as lg
from causal import debias as db

st.title("De-bias")
st.caption(
    "Remove the causal edges that carry a bias: each cut edge's child sees an independent draw of its parent (or a "
    "value you fix) instead of the parent's value on the row. Nothing is retrained and every other mechanism is kept; "
    "the report below shows whether the bias is gone and the rest kept."
)

ui.poll()
runs = ui.usable_runs(images=False)
if not runs:
    st.info("No trained model yet: train one on the Train page.", icon=":material/info:")
    st.stop()
run = ui.pick_run(runs, key="db-run")
model = ui.run_model(run)
graph, schema = model.graph, model.schema
nodes = list(graph.nodes)


table = ui.run_rows(run.id)
guess_a, guess_y = lg.default_roles(graph, schema)
c1, c2 = st.columns(2)
sensitive = c1.selectbox("Sensitive attribute", nodes, index=nodes.index(guess_a), key=f"db-a-{run.id}")
below = [n for n in nodes if n in graph.descendants(sensitive)]
if not below:
    st.warning(f"'{sensitive}' has no descendants in the graph: there is no bias to cut.", icon=":material/warning:")
    st.stop()
target = c2.selectbox("Target", below, index=below.index(guess_y) if guess_y in below else len(below) - 1,
                      key=f"db-y-{run.id}-{sensitive}")

how = st.radio("What to cut", ("unaware", "counterfactual", "parity", "edges"), horizontal=True,
               index=0 if graph.has_edge(sensitive, target) else 2, key=f"db-how-{run.id}-{sensitive}-{target}",
               format_func=lambda h: {"edges": "chosen edges"}.get(h, h),
               help="; ".join(f"{k}: {v}" for k, v in db.VARIANT_HELP.items() if k != "none"))
marked: list[str] = []
chosen: list[str] = []
if how == "counterfactual":
    proxies = [n for n in graph.parents(target) if n in below]
    marked = st.multiselect("Proxies of the sensitive attribute (their edges into the target are cut too)", proxies,
                            key=f"db-mark-{run.id}-{sensitive}-{target}")
elif how == "edges":
    chosen = st.multiselect("Edges to cut", lg.edge_choices(graph, sensitive), key=f"db-edges-{run.id}",
                            default=[f"{sensitive} -> {target}"] if graph.has_edge(sensitive, target) else [])
try:
    edges = lg.cut_edges(graph, sensitive, target, how, marked, chosen)
except ValueError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
st.caption("Cut: " + (", ".join(f"{a} -> {b}" for a, b in edges) or "nothing yet"))

parents = sorted({a for a, _ in edges})
references = {}
with st.expander("Reference values (optional: a cut edge carries a fixed value instead of an independent draw)"):
    for p in parents:
        col = schema[p]
        options = ["independent draw", *col.categories] if col.discrete else None
        if options:
            v = st.selectbox(f"{p}", options, key=f"db-ref-{run.id}-{p}")
            if v != "independent draw":
                references[p] = v
        elif st.checkbox(f"fix {p}", key=f"db-reffix-{run.id}-{p}"):
            references[p] = st.number_input(f"{p} =", value=float(col.mean), key=f"db-ref-{run.id}-{p}")

c1, c2, c3 = st.columns(3)
n = int(c1.number_input("Rows to generate", 100, lg.MAX_ROWS, min(len(table), 10_000), step=1000, key="db-n"))
seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="db-seed"))
fmt = c3.selectbox("Download as", ("csv", "parquet"), key="db-fmt")
upload = st.file_uploader("Held-out real rows for the downstream check (optional CSV; default: rows of the run's data, "
                          "which the model was trained on)", type=["csv"], key="db-test")
test = lg.test_rows(table, seed)
if upload is not None:
    from app.logic.data import read_upload

    try:
        test = read_upload(upload.name, upload.getvalue())
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    from causal.data import MISSING_MARKERS, drop_missing

    # the classifier is tested on complete rows: a gap ('?' as UCI tables write one, or empty) costs its row
    test, gaps = drop_missing(test, columns=[c for c in model.graph.nodes if c in test.columns], markers=MISSING_MARKERS)
    if gaps.dropped:
        st.caption(f"{upload.name}: {gaps.describe()}.")

if not edges:
    st.stop()
try:
    with st.spinner("Generating and judging the de-biased data…"):
        res = lg.generate(model, edges, references, n, seed, sensitive, target, real=table, test=test)
except ValueError as e:
    st.error(f"Cannot de-bias: {e}", icon=":material/error:")
    st.stop()

st.subheader("Is the bias gone?")
st.dataframe(lg.shown(lg.headline(res.report)), width="stretch", key="db-headline")
st.markdown(f"**Dependence of each descendant of {sensitive}**, before and after (correlation, Cramér's V or the correlation ratio η, as *measure* says; mutual "
            f"information in nats with its G-test p-value, and the p-value given {sensitive}'s non-descendants)")
st.dataframe(lg.shown(res.report.side_by_side()), width="stretch", key="db-dependence")
st.subheader("Is the rest kept?")
st.caption(f"Distance of the de-biased data to the model as trained and to the real rows, per column (TVD for discrete "
           f"columns, MMD² otherwise). Largest over every column and pair off the cut paths: "
           f"{res.report.max_fidelity_off_cut():.4f} to the model.")
st.dataframe(lg.shown(lg.fidelity_summary(res.report)), width="stretch", key="db-fidelity")

st.subheader("The de-biased data")
st.dataframe(res.data.head(200), width="stretch", height=240, key="db-preview")
payload = lg.data_bytes(res.data, fmt)
c1, c2, c3 = st.columns(3)
c1.download_button(f"Download the data ({fmt})", payload, file_name=f"debiased-{run.id}.{fmt}", key="db-download",
                   mime="text/csv" if fmt == "csv" else "application/octet-stream", icon=":material/download:")
c2.download_button("Download the manifest", lg.manifest_json(run, ui.workspace().root, model, res.edited, n, seed, fmt,
                                                             payload, res.report, table),
                   file_name=f"debiased-{run.id}.json", mime="application/json", key="db-manifest",
                   icon=":material/download:")
c3.download_button("Download the report", lg.report_json(res.report), file_name=f"debias-report-{run.id}.json",
                   mime="application/json", key="db-report", icon=":material/download:")
st.caption(f"`counterfactory debias --manifest debiased-{run.id}.json -o again.{fmt}` writes the same file again.")

st.subheader("Each real row, de-biased")
st.caption("Abduction from the row, then the edited model: what each person's values would have been with the cut.")
rows = table.head(20)
cf, changed = lg.counterfactual_rows(res.edited, rows, seed)
st.dataframe(lg.side_by_side(rows, cf, changed), width="stretch", key="db-rows")

st.subheader("Fairness versus utility over the variants")
if table[target].nunique() != 2:
    st.caption(f"The downstream classifier needs a binary target; '{target}' has {table[target].nunique()} values.")
else:
    # kept across reruns while what it was computed from is unchanged
    rows_n = min(n, len(table))
    asked = (run.id, sensitive, target, rows_n, tuple(marked), seed,
             None if upload is None else (upload.name, upload.size))
    if st.button("Compare the variants", key="db-compare"):
        with st.spinner("A classifier per variant…"):
            st.session_state["db:tradeoff"] = (asked, lg.tradeoff(model, sensitive, target, rows_n, test, marked,
                                                                  seed, real=table))
    kept = st.session_state.get("db:tradeoff")
    if kept is not None and kept[0] == asked:
        st.plotly_chart(lg.tradeoff_figure(kept[1]), key="db-tradeoff")
        st.dataframe(lg.shown(kept[1]), width="stretch", key="db-tradeoff-table")
