"""Seeing vs doing: train a causal generative model on a built-in example, then compare
conditioning on a variable (given X = x) with intervening on it (do(X = x))."""

from __future__ import annotations

import streamlit as st

from app import plots, ui
from app.compare import default_node, explain, value_choice
from app.jobs import JobInfo
from app.training import MODEL_KINDS, TrainSpec, train
from causal import datasets

POLL_SECONDS = 0.5
HIDDEN_CHOICES = (16, 32, 64, 128)
MODEL_NAMES = {
    "causal-gen": "Causal Gen",
    "causal-vgen": "Causal Variational Gen",
    "linear-anm": "Linear (baseline)",
}

JOBS = "explore-jobs"  # session state: dataset name -> id of this session's last training job

reg = ui.job_registry()
st.session_state.setdefault(JOBS, {})


def start_training(spec: TrainSpec) -> None:
    """Start a training job for ``spec`` (cancelling this session's previous one)."""
    previous = st.session_state[JOBS].get(spec.dataset)
    if previous:
        reg.cancel(previous)
    label = f"{MODEL_NAMES.get(spec.kind, spec.kind)} on {spec.dataset}"
    st.session_state[JOBS][spec.dataset] = reg.start(
        lambda ctx: train(spec, progress=ctx.report, cancel=ctx.cancel_event), label=label
    )


@st.fragment(run_every=POLL_SECONDS)
def training_progress(job_id: str) -> None:
    """Polls the running job; reruns the whole page once it has finished."""
    info = reg.get(job_id)
    if info is None or not info.running:
        st.rerun()
    p = info.progress
    if p is None:
        st.progress(0.0, text="Drawing data and building the model…")
    else:
        st.progress(min(p.fraction, 1.0), text=f"Training {info.label}: epoch {p.epoch} of at most {p.max_epochs}")
        st.caption(f"train loss {p.train_loss:.4f} · validation loss {p.val_loss:.4f} · {p.elapsed:.1f} s")
    st.button("Cancel", key=f"cancel-{job_id}", icon=":material/stop:", on_click=reg.cancel, args=(job_id,))


def training_summary(info: JobInfo) -> None:
    if info.result is None:
        st.info("Training was cancelled before it produced a model.", icon=":material/pause_circle:")
        return
    r = info.result.report
    if info.state == "cancelled":
        st.info(
            f"Training was cancelled after {r.epochs} epochs; the model keeps its best weights so far "
            f"(epoch {r.best_epoch}). Its answers may be rough.",
            icon=":material/pause_circle:",
        )
    else:
        why = {
            "schedule_done": "finished its schedule",
            "converged": "converged",
            "max_epochs": "reached the epoch limit",
            "time_limit": "hit its time limit",
        }
        st.success(
            f"Trained {info.label} on {r.n_train + r.n_val:,} rows in {r.seconds:.1f} s: {r.epochs} epochs, "
            f"{why.get(r.stopped, r.stopped)}, best validation loss {r.best_val_loss:.4f}.",
            icon=":material/check_circle:",
        )
    with st.expander("Training curve"):
        st.plotly_chart(plots.loss_figure(r.history), width="stretch", key=f"loss-{info.id}")


def ask(job_id: str, info: JobInfo) -> None:
    """The seeing-vs-doing section for a trained model."""
    trained = info.result
    graph, schema = trained.model.graph, trained.model.schema
    st.subheader("2 · Seeing vs doing")
    st.caption(
        "Pick a variable and a value. **given** keeps the model's samples where the variable happens to be near "
        "that value (seeing); **do** sets it to that value for every sample (doing). The panels show every other "
        "variable under both, against its **observational** distribution."
    )
    name = trained.spec.dataset
    nodes = list(graph.nodes)
    c_node, c_value, c_extend = st.columns([1, 3, 1], vertical_alignment="bottom")
    start = default_node(graph, trained.dataset.intervene_on)
    node = c_node.selectbox("Variable", nodes, index=nodes.index(start), key=f"node-{name}")
    col = schema[node]
    extend = c_extend.toggle(
        "Beyond the data",
        key=f"extend-{name}-{node}",
        disabled=col.discrete,
        help="Let the value go past anything seen in the data: do() still answers (the model extrapolates); "
        "conditioning cannot, since no sample has such a value.",
    )
    choice = value_choice(col, extend)
    if choice.kind == "slider":
        value = c_value.slider(
            f"Value of {node}", min_value=choice.min, max_value=choice.max, value=choice.default,
            step=choice.step, key=f"value-{name}-{node}-{int(extend)}",
        )
    else:
        options = list(choice.options)
        value = c_value.selectbox(f"Value of {node}", options, index=options.index(choice.default), key=f"value-{name}-{node}")

    try:
        c = ui.comparison(job_id, node, value)
    except ValueError as e:  # a value the model refuses: say so, keep the page
        st.error(f"Cannot sample with {node} = {plots.format_value(value)}: {e}", icon=":material/error:")
        return
    if c is None:
        st.warning("This model is no longer held by the server; train it again.")
        return
    labels = plots.query_labels(node, value)
    if c.given_error:
        st.warning(f"Cannot condition on {node} = {plots.format_value(value)}: {c.given_error}", icon=":material/warning:")
    st.plotly_chart(
        plots.comparison_figure(c.samples(), node, value, graph=graph, truth_means=c.truth_means()),
        width="stretch", key="comparison",
    )
    st.caption(
        f"{explain(graph, node)} The dashed line marks the true mean under {labels['do']}, computed from the "
        "dataset's structural equations."
    )
    left, right = st.columns([3, 1])
    with left:
        st.markdown("**Mean of each variable**")
        means = c.means()
        st.dataframe(
            means,
            column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in means.columns},
            width="stretch",
        )
    with right:
        if c.acceptance_rate is not None:
            st.metric(
                "Acceptance rate of conditioning", f"{c.acceptance_rate:.2%}",
                help="Share of the model's samples that fell in the conditioning event; conditioning on rare "
                "values needs many draws, intervening never does.",
            )
            if c.given_window is not None:
                lo, hi = c.given_window
                st.caption(f"{len(c.given):,} of {c.given_draws:,} draws had {node} in [{lo:.3g}, {hi:.3g}].")
        else:
            st.metric("Acceptance rate of conditioning", "—")


def main() -> None:
    st.title("Seeing vs doing")
    st.caption(
        "Each built-in example comes with its true structural equations. Train a causal generative model on "
        "samples of it, then compare conditioning on a variable with intervening on it — and check the model's "
        "answers against the truth."
    )
    names = datasets.list()
    name = st.selectbox("Built-in dataset", names, index=names.index("triangle-lin"), key="dataset")
    meta = datasets.info(name)
    left, right = st.columns([2, 3])
    with left:
        st.markdown(meta.description)
        st.caption(f"Causal graph: `{meta.graph.to_text()}`")
        with st.expander("A few rows of its data"):
            st.dataframe(datasets.load(name, n=6, seed=0).data, hide_index=True)
    asked = st.session_state.get(f"node-{name}")
    highlight = asked if asked in meta.graph else default_node(meta.graph, meta.intervene_on)
    right.plotly_chart(
        plots.graph_figure(meta.graph, highlight=highlight), key=f"graph-{name}", config={"displayModeBar": False}
    )
    right.caption(
        f"Arrows point from cause to effect. The node in orange is the one asked about below ({highlight}); "
        "green nodes are discrete, blue ones continuous."
    )

    st.subheader("1 · Train a model")
    with st.form("train", border=True):
        c = st.columns(5)
        n_rows = c[0].number_input("Rows of data", min_value=100, max_value=50_000, value=2000, step=500, key="train-rows")
        kind = c[1].selectbox("Model", MODEL_KINDS, format_func=lambda k: MODEL_NAMES.get(k, k), key="train-kind")
        hidden = c[2].selectbox("Hidden units per layer", HIDDEN_CHOICES, index=HIDDEN_CHOICES.index(64), key="train-hidden")
        steps = c[3].number_input(
            "Training steps", min_value=10, max_value=20_000, value=2000, step=500, key="train-steps",
            help="Optimizer steps of the learning-rate schedule (batches of 512 rows).",
        )
        seed = c[4].number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="train-seed")
        submitted = st.form_submit_button("Train", type="primary", icon=":material/model_training:")
    if submitted:
        try:
            start_training(TrainSpec(name, int(n_rows), kind, int(hidden), int(steps), int(seed)))
        except ValueError as e:
            st.error(f"Cannot train: {e}")

    job_id = st.session_state[JOBS].get(name)
    info = reg.get(job_id)
    if info is None:
        st.caption("No model for this dataset yet: choose the settings and press **Train** (a few seconds).")
    elif info.running:
        training_progress(job_id)
    elif info.state == "failed":
        st.error(f"Training failed: {info.error}", icon=":material/error:")
    else:
        training_summary(info)
        if info.result is not None:
            ask(job_id, info)


main()
