"""Train: choose a model kind and its settings, start a run on the current data and graph,
and watch it train in a background worker (progress, live loss curves, time left, cancel).

Runs live in the workspace: closing the tab, switching pages or restarting the app does
not stop them, and every page, the CLI and Python see the same runs.
"""

from __future__ import annotations

import streamlit as st

from app import plots, ui
from app.logic import data as dp
from app.logic import graph as ge
from app.logic.runs import format_seconds, stage_histories, training_stage
from app.logic.train import ambient_prefill, form_settings, spec_for_session, stage_prefixes
from app.workspace import RunRecord
from causal.data import DataError, validate_table
from causal.images import image_graph
from generators import PRESETS, kinds_for, model_kind, settings_of
from generators.settings import parse_value

POLL_SECONDS = 0.7

st.title("Train")
st.caption(
    "Train a causal generative model that obeys your graph. Training runs in a background worker: you can leave "
    "this page, open others or close the tab; the run goes on and its model appears on the Seeing vs doing and "
    "Counterfactuals pages."
)

try:
    data, data_name, true_graph = dp.current_dataset(st.session_state)
    kinds = dp.current_kinds(st.session_state)
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
graph = ge.graph_for(st.session_state, data.columns, true_graph, kinds)
graph = graph.with_kinds({n: kinds[n] for n in graph.nodes if n in kinds and not graph.kind(n)})
image_problem = None
if (st.session_state.get(dp.STATE_KEY) or {}).get("images"):  # uploaded images: the graph needs their node
    try:
        graph = image_graph(graph)
    except ValueError as e:
        image_problem = f"**{data_name}** holds images, so {e}. Draw it on the Graph page."

left, right = st.columns([3, 2])
with left:
    lossy = (st.session_state.get(dp.STATE_KEY) or {}).get("lossy", "none")
    seen = f" · seen through `{lossy}`" if lossy != "none" else ""
    st.markdown(f"**Data**: {data_name} · {len(data):,} rows{seen} · change it on the Data page")
    st.markdown(f"**Graph**: `{graph.to_text()}` · draw it on the Graph page")
with right:
    st.plotly_chart(plots.graph_figure(graph, height=180), width="stretch", key="train-graph",
                    config={"displayModeBar": False})

problem = image_problem
if problem:
    pass
elif not graph.edges:
    problem = "The graph has no arrows: every variable would be modeled as independent. Draw the graph first."
else:
    try:
        validate_table(data, graph, extra="drop", source=data_name)
    except DataError as e:
        problem = str(e)
        if "missing value" in problem:
            problem += ". On the Data page, **Missing values** drops the rows that have one."
if problem:
    st.warning(problem, icon=":material/warning:")

# ---------------------------------------------------------------------- the form
images = any(graph.kind(n) == "image" for n in graph.nodes)
kind = st.selectbox(
    "Model", kinds_for(graph), format_func=ui.model_name, key=f"train-kind-{'images' if images else 'table'}",
    help="  \n".join(f"**{model_kind(k).title}**: {model_kind(k).summary} ({model_kind(k).reference})."
                     for k in kinds_for(graph)),
)
group_names: dict[str, str] = {}
if images:
    st.caption("Image models train in two stages, each with its own settings: the label mechanisms (seconds), then "
               "the image networks (minutes on a CPU; the default settings fit 32 px images in about ten). The run's "
               "card below shows samples from its latest checkpoint as it trains.")
    label_prefix, image_prefix = stage_prefixes(kind)
    group_names = {"training": "label stage" if label_prefix == "" else "image stage", "image_train": "image stage",
                   "labels": "label stage"}
fields = settings_of(kind)
by_name = {f.name: f for f in fields}
main = form_settings(kind, images)
prefill = {}
if presets := PRESETS.get(kind):  # named speed-for-accuracy trades fill the form in; every value stays editable
    speed = st.radio(
        "Speed", ["default", *presets], horizontal=True, key=f"train-{kind}-preset",
        help="  \n".join([f"**default**: the settings below as the model defines them (quality first)."]
                         + [f"**{p}**: " + ", ".join(f"{k}={v}" for k, v in vals.items()) + ": about dowhy.gcm's fit "
                            "time, a larger counterfactual error where a node needs its network (measured in "
                            "docs/benchmarks.md, *Fit time beside dowhy.gcm*)." for p, vals in presets.items()]))
    prefill.update({k: str(v) for k, v in presets.get(speed, {}).items()})
if (ambient := ambient_prefill(st.session_state, kind)) is not None:  # lossy built-in images: AmbientGAN
    prefill["ambient"] = ambient
    main = [*main, ("ambient", "AmbientGAN measurement", "The data are seen through this measurement; generated "
                    "images are measured alike before the discriminator and the labelers, so the GAN learns the clean "
                    "images. `none` trains on the lossy images as they are.")]
shown_first = {name for name, _, _ in main}


def field_key(name: str) -> str:
    """A form field's key; a prefilled value is part of it, so a new prefill (another preset,
    another measurement) shows instead of the text the field kept."""
    return f"train-{kind}-{name}" + (f"-{prefill[name]}" if name in prefill else "")


rest = [f for f in fields if f.name not in shown_first]
with st.form(f"train-form-{kind}", border=True):
    cols = st.columns(len(main) + 1)
    values = {}
    for col, (name, label, help_text) in zip(cols, main):
        values[name] = col.text_input(label, value=prefill.get(name, str(by_name[name].default)), key=field_key(name),
                                      help=help_text)
    seed = cols[-1].number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key=f"train-{kind}-seed",
                                 help="The same seed, data and settings give the same model.")
    with st.expander("All settings"):
        grid = st.columns(3)
        for i, f in enumerate(rest):
            group = group_names.get(f.group, f.group)
            values[f.name] = grid[i % 3].text_input(f"{group}: {f.name.split('.')[-1]}",
                                                    value=prefill.get(f.name, str(f.default)), key=field_key(f.name),
                                                    help=f.help or None)
    name = st.text_input("Run name", placeholder=f"{ui.model_name(kind)} on {data_name}", key="train-name")
    submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:",
                                      disabled=problem is not None)

if submitted:
    try:
        settings = {}
        for key, text in values.items():
            value = parse_value(by_name[key], text)
            if value != by_name[key].default:
                settings[key] = value
        spec = spec_for_session(st.session_state, ui.workspace(), graph.to_json(), kind, settings, int(seed), name.strip())
        run_id = ui.runner().submit(spec)
    except ValueError as e:
        st.error(f"Cannot start training: {e}", icon=":material/error:")
    else:
        st.session_state[ui.RUN_KEY] = run_id
        st.toast(f"Started run {run_id}", icon=":material/play_arrow:")


# ---------------------------------------------------------------------- runs in progress
def preview_grid(run: RunRecord) -> None:
    """Samples of the run's latest checkpoint (one seed, so successive grids compare)."""
    try:
        grid = ui.sample_grid(run, n=16, columns=8)
    except Exception as e:  # noqa: BLE001 - a checkpoint being replaced; the next refresh shows it
        st.caption(f"(no preview: {e})")
        return
    st.image(grid, caption="samples of the latest checkpoint", width=min(640, grid.shape[1] * 3), clamp=True)



def show_run(run: RunRecord) -> None:
    with st.container(border=True, key=f"train-run-{run.id}"):
        head, act = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"{ui.STATUS_ICONS.get(run.status, '')} **{run.name}** · `{run.id}` · {run.status}")
        if run.active:
            act.button("Cancel", key=f"cancel-{run.id}", icon=":material/stop:", on_click=ui.runner().cancel, args=(run.id,))
        history = ui.workspace().history(run.id)
        stage = training_stage(run, history, rows=ui.image_count(run))
        p = run.progress
        if run.status == "queued":
            st.progress(0.0, text="Waiting for a free worker…")
        elif run.status == "running":
            where = f"stage {stage.index} of {stage.count}: {stage.name} · " if stage.count > 1 and stage.index else ""
            text = "Starting the worker and drawing the data…" if p is None else (
                f"{where}epoch {p.epoch} · step {p.steps:,} · train loss {p.train_loss:.4f} · "
                f"validation loss {p.val_loss:.4f}")
            if stage.fraction >= 1.0:
                text = "Trained: saving the model" + (" and measuring it against the truth…" if run.truth else "…")
            st.progress(stage.fraction, text=text)
            left = f"about {format_seconds(stage.seconds_left)} left"
            if stage.stage_only:
                left += " in this stage; then the image networks, whose time shows once they start"
            st.caption(f"elapsed {format_seconds(run.seconds)}" + ("" if stage.fraction >= 1.0 else f" · {left}"))
        elif run.status == "done":
            rep = run.report or {}
            st.success(
                f"Trained in {format_seconds(rep.get('seconds', run.seconds))} on {rep.get('device', 'cpu')}: "
                f"{rep.get('epochs')} epochs, best validation loss {rep.get('best_val_loss', float('nan')):.4f}.",
                icon=":material/check_circle:",
            )
            m = run.metrics
            if "counterfactual_rmse" in m:
                st.caption(
                    f"Against the true SCM: interventional MMD² {m['interventional_mmd2']:.4f} (oracle floor "
                    f"{m['interventional_mmd2_floor']:.4f}), counterfactual RMSE {m['counterfactual_rmse']:.4f} "
                    f"(standardized; {', '.join(m.get('interventions', []))})."
                )
        elif run.status == "cancelled":
            st.info("Cancelled; the checkpoint keeps its best weights so far." if run.has_checkpoint
                    else "Cancelled before it saved a model.", icon=":material/cancel:")
        else:
            st.error(f"Failed: {run.error}", icon=":material/error:")
        if run.has_images and run.has_checkpoint:
            preview_grid(run)
        if history:
            with st.expander("Loss curves", expanded=run.status == "running"):
                st.plotly_chart(plots.stage_loss_figure(stage_histories(run, history, rows=ui.image_count(run))),
                                width="stretch", key=f"loss-{run.id}-{len(history)}")


def shown_runs() -> list[RunRecord]:
    """This session's latest run and every active one (at most 6)."""
    runs = ui.workspace().runs()
    mine = st.session_state.get(ui.RUN_KEY)
    return [r for r in runs if r.active or r.id == mine][:6]


@st.fragment(run_every=POLL_SECONDS)
def live_runs() -> None:
    """The runs, refreshed while any is active; the page reruns once the last one ends."""
    ui.poll()
    runs = shown_runs()
    if not any(r.active for r in runs):
        # Before drawing anything: st.rerun() asks for *this* page again, and Streamlit keeps
        # the newest request's page, so a click on another page that arrived while this
        # fragment drew the finished run (the loss curves take a while) was overridden and the
        # click lost. The full rerun draws the finished runs.
        st.rerun()
    for run in runs:
        show_run(run)


st.subheader("Runs")
ui.poll()
current = shown_runs()
if any(r.active for r in current):
    live_runs()
elif current:
    for r in current:
        show_run(r)
else:
    st.caption("No run yet: press **Start training**. Earlier runs are on the Runs page.")
