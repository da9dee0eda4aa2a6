"""Hypotheses: which of several causal graphs do the data support? Candidates typed, taken from
the Graph page or the workspace, or generated around one graph; a background test
(``app.hypothesis_jobs``) with progress and cancel; the ranking with intervals, the pairwise
heat map, what each verdict rests on, the per-node breakdown and the classical evidence."""

from __future__ import annotations

import streamlit as st

from app import hypothesis_jobs as jobs
from app import ui
from app.logic import data as dp
from app.logic import graph as ge
from app.logic import hypotheses as hl
from causal.data import DataError
from causal.graph import GraphError
from causal.hypotheses import Candidate, HypothesisConfig

JOB = "hyp:job"  # session state: the id of the test shown

st.title("Hypotheses")
st.caption(
    "Fit one small model per node and parent set of every candidate graph on part of the rows, score the rows it "
    "never saw (held-out negative log-likelihood per row, lower is better), and compare the candidates in pairs on "
    "the same rows. Markov-equivalent graphs cannot be told apart by conditional independences: a verdict between "
    "them rests on the noise model, a distribution shift or interventions, and the page says which."
)

try:
    data, data_name, true_graph = dp.current_dataset(st.session_state)
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
drawn = ge.current_graph(st.session_state)
ws_root = ui.workspace().root

with st.form("hyp-form"):
    st.markdown(f"**Data:** {data_name} ({len(data):,} rows; choose another on the Data page)")
    default = []
    if drawn is not None:
        default.append(f"drawn = {drawn.to_text()}")
    if true_graph is not None and (drawn is None or not true_graph.same_structure(drawn)):
        default.append(f"truth = {true_graph.to_text()}")
    text = st.text_area("Candidate graphs, one per line (`NAME = a -> b; b -> c`)", "\n".join(default), height=120,
                        key="hyp-candidates")
    saved = {g.name: g for g in ui.workspace().graphs()}
    picked = st.multiselect("…and graphs saved in the workspace", list(saved), key="hyp-saved")
    c1, c2, c3 = st.columns(3)
    how = c1.selectbox("Generate around the first candidate", ["nothing", "edits", "orient"], key="hyp-how",
                       format_func={"nothing": "nothing", "edits": "every graph within k edits",
                                    "orient": "chosen edges in both directions"}.get)
    k = c2.number_input("k (edits)", 1, 3, 1, key="hyp-k")
    orient = c3.text_input("Edges to orient (`a -- b, c -- d`)", key="hyp-orient")
    c1, c2, c3, c4 = st.columns(4)
    kind = c1.selectbox("Split", list(hl.SPLITS), format_func=hl.SPLITS.get, key="hyp-split")
    folds = c2.number_input("Folds (K-fold)", 2, 20, 5, key="hyp-folds")
    side = c3.selectbox("Held-out side (ood)", ["top", "bottom", "both"], key="hyp-side")
    quantile = c4.number_input("Held-out quantile (ood)", 0.05, 0.5, 0.25, 0.05, key="hyp-q")
    c1, c2 = st.columns(2)
    condition = c1.text_input("Condition selecting the test rows", placeholder='age > 60 and sex == "F"', key="hyp-cond")
    columns = ["(none)"] + [str(c) for c in data.columns]
    env = c2.selectbox("Environment column (env split)", columns, key="hyp-env")
    c1, c2, c3, c4 = st.columns(4)
    seeds = c1.number_input("Seeds", 1, 10, 2, key="hyp-seeds")
    score = c2.selectbox("Score", ["nll", "mse"], format_func={"nll": "held-out NLL", "mse": "squared error (paper)"}.get,
                         key="hyp-score")
    model = c3.selectbox("Model per family", ["causal-gen", "causal-vgen", "linear-anm"], key="hyp-model")
    regime = c4.selectbox("Regime column (intervened node per row)", columns, key="hyp-regime")
    c1, c2, c3 = st.columns(3)
    standardize = c1.checkbox("Standardize columns", True, key="hyp-std")
    classical = c2.checkbox("Classical evidence (BIC, BDeu, CI tests, permutations)", True, key="hyp-classical")
    workers = c3.number_input("Worker processes", 1, 16, 1, key="hyp-workers")
    start = st.form_submit_button("Start the test", type="primary", icon=":material/play_arrow:")

if start:
    try:
        cands = hl.parse_lines(text) + [Candidate(n, saved[n].graph) for n in picked]
        if how != "nothing":
            if not cands:
                raise GraphError("write at least one candidate to generate around")
            edges = [tuple(x.strip() for x in e.split("--")) for e in orient.split(",") if "--" in e]
            cands += hl.generated(cands[0].graph, how, int(k), edges)
        split = hl.split_text(kind, folds=int(folds), side=side, quantile=float(quantile), condition=condition,
                              column="" if env == "(none)" else env)
        config = HypothesisConfig(split=split, folds=int(folds), seeds=int(seeds), score=score, standardize=standardize,
                                  model=model, regime=None if regime == "(none)" else regime, classical=classical,
                                  workers=int(workers))
        st.session_state[JOB] = jobs.submit(ws_root, data, cands, config, name=f"{data_name}: {len(cands)} candidates")
    except (ValueError, KeyError) as e:
        st.error(str(e), icon=":material/error:")

past = jobs.jobs(ws_root)
if not past:
    st.info("No test yet: write the candidates and start one.", icon=":material/info:")
    st.stop()
ids = [j.id for j in past]
if st.session_state.get(JOB) not in ids:
    st.session_state[JOB] = ids[0]
by_id = {j.id: j for j in past}
chosen = st.selectbox("Test", ids, key=JOB, format_func=lambda i: f"{by_id[i].name} ({i}, {by_id[i].state})")


@st.fragment(run_every=1.0)
def progress(job_id: str) -> None:
    status = jobs.status(ws_root, job_id)
    if status.active:
        st.progress(status.fraction, text=f"{status.state}: {status.done} of {status.total or '?'} fits ({status.label})")
        if st.button("Cancel", icon=":material/cancel:", key="hyp-cancel"):
            jobs.cancel(ws_root, job_id)
    elif st.session_state.get("hyp:shown") != (job_id, status.state):
        st.session_state["hyp:shown"] = (job_id, status.state)
        st.rerun()


status = jobs.status(ws_root, chosen)
if status.active:
    progress(chosen)
    st.stop()
if status.state == "failed":
    st.error(f"The test failed: {status.error}", icon=":material/error:")
    st.stop()
if status.state == "cancelled":
    st.warning("The test was cancelled; nothing was reported.", icon=":material/cancel:")
    st.stop()

report = jobs.report(ws_root, chosen)
alpha = float(report.config.get("alpha", 0.05))
st.subheader("Ranking")
st.dataframe(hl.ranking_frame(report), hide_index=True, use_container_width=True)
for note in report.notes:
    st.caption(note)
st.subheader("Pairs")
st.plotly_chart(hl.heatmap_figure(report, alpha), use_container_width=True)
st.dataframe(hl.pairs_frame(report, alpha), hide_index=True, use_container_width=True)
st.subheader("Per node")
st.plotly_chart(hl.nodes_figure(report), use_container_width=True)
if any(c.classical is not None for c in report.candidates):
    st.subheader("Classical evidence")
    st.dataframe(hl.classical_frame(report), hide_index=True, use_container_width=True)
    st.caption("*Implied CIs failed*: pgmpy's tests of each graph's implied independences (Pearson; chi-square with "
               "continuous columns in quantile bins where kinds mix), Holm-adjusted. *Contradictions*: the Graph "
               "page's check of the same independences (spline adjustment, strata of discrete columns, interactions; "
               "Holm and a strength of at least 0.1). Where mechanisms are nonlinear or kinds mix, pgmpy's count "
               "can refute a true graph; the check's count is the one measured not to (docs/benchmarks.md).")
f = report.fits
st.caption(f"{f.fits} family fits in {f.batches} batched model fits, {f.seconds:.1f} s; the family cache saved "
           f"{f.saved} of {f.without_cache}.")
c1, c2 = st.columns(2)
c1.download_button("Report (JSON)", report.to_json(), f"hypotheses-{chosen}.json", "application/json", key="hyp-json")
c2.download_button("Report, tables and figures (ZIP)", hl.export_zip(report), f"hypotheses-{chosen}.zip",
                   "application/zip", key="hyp-zip")
