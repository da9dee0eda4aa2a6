"""Runs: every training run in the workspace with its data, graph, model, settings, status,
metrics and duration; compare runs side by side; delete; download checkpoints and samples."""

from __future__ import annotations

import streamlit as st

from app import plots, ui
from app.logic.runs import checkpoint_zip, compare_frame, mechanism_table, runs_frame, stage_histories, variety_note
from app.workspace import STATUSES, WorkspaceError
from causal.sources import BuiltinTable

st.title("Runs")
ws = ui.workspace()
st.caption(
    f"Every run in the workspace `{ws.root}`, newest first: the app, the CLI (`counterfactory runs`) and Python "
    "(`app.workspace.Workspace()`) see the same runs wherever they are started (one workspace per user; "
    "`COUNTERFACTORY_WORKSPACE` or `--workspace` picks another), and restarting the app loses none of them."
)

ui.poll()
runs = ws.runs()
if not runs:
    st.info("No runs yet: start one on the Train page.", icon=":material/info:")
    st.stop()

statuses = st.pills("Status", STATUSES, selection_mode="multi", key="runs-status", default=None)
shown = [r for r in runs if not statuses or r.status in statuses]
frame = runs_frame(shown)
event = st.dataframe(
    frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row", key="runs-table",
    column_config={
        "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
        "val loss": st.column_config.NumberColumn("val loss", format="%.4f"),
        "MMD² (do)": st.column_config.NumberColumn(format="%.4f", help="interventional MMD² against the true SCM"),
        "MMD² floor": st.column_config.NumberColumn(format="%.4f", help="the same statistic between two true samples"),
        "CF RMSE": st.column_config.NumberColumn(format="%.4f", help="counterfactual RMSE against the truth (standardized)"),
    },
)
picked = [shown[i] for i in (event.selection.rows if event and event.selection else [])]
st.caption("Select one run to act on it, several to compare them. Metrics are against the true SCM (built-in data only).")

if len(picked) > 1:
    st.subheader(f"Comparing {len(picked)} runs")
    st.dataframe(compare_frame(picked), width="stretch", key="runs-compare")
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in picked:
        hist = ws.history(r.id)
        fig.add_trace(go.Scatter(x=[h.epoch for h in hist], y=[h.val_loss for h in hist], mode="lines",
                                 name=f"{r.name} ({r.id[-4:]})"))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="epoch",
                      yaxis_title="validation loss", plot_bgcolor="white", legend=dict(orientation="h", y=1.12))
    st.plotly_chart(fig, width="stretch", key="runs-compare-loss")
elif len(picked) == 1:
    run = picked[0]
    st.subheader(run.name)
    st.markdown(f"{ui.STATUS_ICONS.get(run.status, '')} **{run.status}** · `{run.id}` · {run.data_name} · "
                f"{ui.model_name(run.spec.kind)} · `{run.graph.to_text()}`")
    if run.error:
        st.error(run.error, icon=":material/error:")
    a, b = st.columns([1, 1], gap="medium")
    with a:
        st.markdown("**Settings** (others at their defaults)")
        rows = {"rows": run.spec.source.rows} if isinstance(run.spec.source, BuiltinTable) else {}
        st.json({"seed": run.spec.seed, **run.spec.settings, **rows})
        if run.metrics:
            st.markdown("**Metrics against the truth**")
            st.json(run.metrics)
        if run.status == "done" and run.has_checkpoint:
            model = ui.run_model(run)
            table = mechanism_table(model)
            if table is not None:
                st.markdown("**How each node was fitted** (chosen per node on held-out rows)")
                st.dataframe(table, hide_index=True, key=f"runs-mechanisms-{run.id}")
            note = variety_note(model)
            if note:
                st.caption(note + " The term adds style variety only while G's images vary less than real "
                                  "ones with the same labels (`mode_seeking_gate`).")
    with b:
        hist = ws.history(run.id)
        if hist:
            st.plotly_chart(plots.stage_loss_figure(stage_histories(run, hist, rows=ui.image_count(run))),
                            width="stretch", key=f"runs-loss-{run.id}")
    acts = st.columns(4)
    if run.active:
        acts[0].button("Cancel", key=f"runs-cancel-{run.id}", icon=":material/stop:", on_click=ui.runner().cancel,
                       args=(run.id,))
    if run.has_checkpoint:
        acts[1].download_button("Checkpoint (.zip)", checkpoint_zip(run), file_name=f"{run.id}.zip",
                                mime="application/zip", key=f"runs-ckpt-{run.id}", icon=":material/download:",
                                help="model.json + model.safetensors: load it with generators.load_model")
        n = acts[2].number_input("Samples", min_value=10, max_value=100_000, value=1000, step=1000, key=f"runs-n-{run.id}")
        if acts[2].button("Generate samples", key=f"runs-gen-{run.id}"):
            path = ws.export_samples(run.id, int(n), seed=0)
            st.session_state[f"runs-export-{run.id}"] = str(path)
        exported = st.session_state.get(f"runs-export-{run.id}")
        if exported:
            from pathlib import Path

            p = Path(exported)
            if p.exists():
                acts[2].download_button("Download samples (.csv)", p.read_bytes(), file_name=p.name, mime="text/csv",
                                        key=f"runs-dl-{run.id}", icon=":material/download:")
                acts[2].caption(f"with its provenance in {p.with_suffix('.json').name}")
    confirm = acts[3].checkbox("Confirm delete", key=f"runs-confirm-{run.id}", disabled=run.status == "running")
    if acts[3].button("Delete run", key=f"runs-delete-{run.id}", icon=":material/delete:", disabled=not confirm):
        try:
            ws.delete_run(run.id)
        except WorkspaceError as e:
            st.error(str(e), icon=":material/error:")
        else:
            st.toast(f"Deleted run {run.id}", icon=":material/delete:")
            st.rerun()
