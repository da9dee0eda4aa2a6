"""Images: conditioning vs intervention as image grids (CausalGAN's signature figure:
Mustache = 1 *given* gives men, *do* gives women with mustaches too), and counterfactual
editing of a chosen image with its labels, beside the exact counterfactual on a built-in
dataset (uploaded images have none: the model's answer is shown alone)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import plots, ui
from app.logic import data as dp
from app.workspace import RunSpec
from causal import images
from causal.data import DataError
from causal.queries import EvidenceError
from causal.sources import BuiltinImages

GRID = 16  # images per grid
LABEL_SAMPLES = 20_000  # label samples behind each probability table
QUICK = {  # "train now" defaults per image dataset: minutes on a CPU at 32 px
    "faces": ("causal-gan", 5000),
    "pendulum": ("ccgm", 5000),
    "morpho-glyphs": ("ccgm", 5000),
}

st.title("Images")
st.caption(
    "Image models generate the labels with their causal mechanisms and then draw the image from them. "
    "*given* keeps the samples whose label happens to match; *do* sets the label and re-draws only what depends "
    "on it, so it can produce images that never occur in the data."
)

ui.poll()
runs = ui.usable_runs(images=True)


def quick_train() -> None:
    names = images.names()
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.selectbox("Built-in image dataset", names, index=names.index("faces"), key="images-quick-dataset")
    kind, n = QUICK[name]
    c1.caption(f"{images.info(name).description} Trains {ui.model_name(kind)} on {n:,} images of 32 px "
               "(several minutes on a CPU; it runs in the background).")
    if c2.button("Train it", type="primary", icon=":material/bolt:", key="images-quick"):
        spec = RunSpec(BuiltinImages(name, rows=n), kind=kind, name=f"{ui.model_name(kind)} on {name}")
        st.session_state[ui.RUN_KEY] = ui.runner().submit(spec)
        st.toast("Training started: follow it on the Train page", icon=":material/play_arrow:")
        st.rerun()


if not runs:
    active = [r for r in ui.workspace().runs(("queued", "running")) if r.has_images]
    if active:
        st.info(f"{active[0].name} is training (see the Train page); its samples appear here once it has saved a "
                "checkpoint.", icon=":material/hourglass_top:")
    else:
        st.info("No trained image model yet. Train one on the Train page (Data → Built-in images), or now:",
                icon=":material/info:")
        quick_train()
    st.stop()

with st.expander("Train an image model on a built-in dataset", icon=":material/bolt:"):
    quick_train()

run = ui.pick_run(runs, key="images-run", label="Trained image run")
model = ui.run_model(run)
schema = model.schema
labels = [c.name for c in schema.columns]
source = run.spec.source
truth = source.truth  # a built-in image dataset's renderer; uploaded images have none
if run.status != "done":
    st.warning(f"This run is {run.status}: its model is the best checkpoint it saved.", icon=":material/warning:")

tab_cmp, tab_cf = st.tabs(["Seeing vs doing", "Counterfactual editing"])


def value_widget(col, key: str, default=None):
    """A value for one label: its categories, or a slider over its training range."""
    if col.discrete:
        cats = list(col.categories)
        return st.selectbox(col.name, cats, index=cats.index(default) if default in cats else len(cats) - 1, key=key)
    lo, hi = float(col.min), float(col.max)
    start = float(np.clip(default if default is not None else col.mean, lo, hi))
    return st.slider(col.name, min_value=lo, max_value=hi, value=start, step=(hi - lo) / 200 or 0.01, key=key)


@st.cache_data(max_entries=64, show_spinner="Sampling…")
def grids(root: str, run_id: str, stamp: float, node: str, value, seed: int):
    m = ui._model(root, run_id, stamp)
    out, rate, error = {}, None, None
    out["do"] = m.sample(GRID, do={node: value}, seed=seed)
    try:
        g = m.sample(GRID, given={node: value}, seed=seed)
        out["given"] = g
        rate = g.labels.attrs.get("acceptance_rate")
    except EvidenceError as e:
        error = str(e)
    return out, rate, error


@st.cache_data(max_entries=64, show_spinner=False)
def label_table(root: str, run_id: str, stamp: float, node: str, value, images_name: str | None) -> pd.DataFrame:
    """P(label = its last category) (or the mean, continuous) of every other label:
    observational, given and do, for the model and (built-in data) the truth."""
    m = ui._model(root, run_id, stamp)
    mech = m.labels
    cols = {}

    def summary(df: pd.DataFrame) -> pd.Series:
        out = {}
        for c in schema.columns:
            if c.name == node:
                continue
            out[c.name] = float((df[c.name] == c.categories[-1]).mean()) if c.discrete else float(df[c.name].mean())
        return pd.Series(out)

    cols["observational"] = summary(mech.sample(LABEL_SAMPLES, seed=3))
    try:
        cols["given"] = summary(mech.sample(LABEL_SAMPLES, given={node: value}, seed=3))
    except EvidenceError:
        cols["given"] = pd.Series(dtype=float)
    cols["do"] = summary(mech.sample(LABEL_SAMPLES, do={node: value}, seed=3))
    if images_name is not None:
        scm = images.info(images_name).scm.scm
        try:
            cols["given · truth"] = summary(scm.sample(LABEL_SAMPLES, given={node: value}, seed=4))
        except EvidenceError:
            cols["given · truth"] = pd.Series(dtype=float)
        cols["do · truth"] = summary(scm.sample(LABEL_SAMPLES, do={node: value}, seed=4))
    table = pd.DataFrame(cols)
    table.index.name = "label"
    return table


# ---------------------------------------------------------------------- seeing vs doing
with tab_cmp:
    roots = [n for n in labels]
    default = "Mustache" if "Mustache" in labels else roots[-1]
    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    node = c1.selectbox("Label", labels, index=labels.index(default), key=f"images-node-{run.id}")
    with c2:
        value = value_widget(schema[node], key=f"images-value-{run.id}-{node}")
    seed = c3.number_input("Seed", min_value=0, max_value=10_000, value=0, key=f"images-seed-{run.id}")
    stamp = ui._stamp(run)
    root = str(ui.default_root())
    shown, rate, error = grids(root, run.id, stamp, node, value, int(seed))
    label = plots.format_value(value)
    left, right = st.columns(2, gap="medium")
    with left:
        st.markdown(f"**given {node} = {label}** (seeing)")
        if error:
            st.warning(f"Cannot condition on {node} = {label}: {error}", icon=":material/warning:")
        else:
            st.image(shown["given"].grid(columns=4, pad=1), width="stretch", clamp=True)
            if rate is not None:
                st.caption(f"acceptance rate {rate:.2%}: the share of the model's samples with {node} = {label}")
    with right:
        st.markdown(f"**do({node} = {label})** (doing)")
        st.image(shown["do"].grid(columns=4, pad=1), width="stretch", clamp=True)
        st.caption("every sample gets the label; only its descendants are re-drawn")
    table = label_table(root, run.id, stamp, node, value, source.name if truth is not None else None)
    st.markdown("**The other labels** (share of 1s for binary labels, the mean otherwise; 20,000 label samples each)")
    st.dataframe(table, width="stretch", key="images-labels",
                 column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in table.columns})
    parents = model.label_graph.ancestors(node) if hasattr(model, "label_graph") else ()
    if parents:
        st.caption(f"Causes of {node} ({', '.join(parents)}) move under given and not under do; that is the whole "
                   "difference between seeing and doing.")

# ---------------------------------------------------------------------- counterfactual editing
def uploaded_images(dataset_id: str):
    """The first 64 images of the run's stored image dataset, labels as the model knows them."""
    data = dp.load_stored_images(dataset_id)[:64]
    return data.with_labels(data.labels[labels])


with tab_cf:
    if truth is not None:
        @st.cache_data(max_entries=8, show_spinner=False)
        def test_images(name: str, size: int, seed: int):
            return images.info(name).scm.sample(64, seed=seed, size=size)

        pool = test_images(source.name, source.size, source.seed + 99)
        st.caption("Pick an image (held out from training), change its labels, and see the model's counterfactual "
                   "beside the exact one (the same exogenous style, re-drawn by the dataset's renderer).")
    else:
        try:
            pool = uploaded_images(source.id)
        except (DataError, KeyError) as e:
            st.error(f"Cannot read the images of {run.data_name}: {e}", icon=":material/error:")
            st.stop()
        st.caption(f"Pick an image of **{run.data_name}** (the model trained on these), change its labels, and see "
                   "the model's counterfactual: the same image with the labels you set and what they cause re-drawn.")
        st.info("There is no exact counterfactual for your own images: no known program drew them, so the model's "
                "answer cannot be checked against the truth here (on a built-in image dataset it can).",
                icon=":material/info:")
    st.image(pool[:16].grid(columns=16, pad=1), width="stretch", clamp=True)
    pick = st.number_input("Image (0-15 above, up to 63)", min_value=0, max_value=len(pool) - 1, value=0,
                           key=f"images-pick-{run.id}")
    row = pool[[int(pick)]]
    factual = row.labels.iloc[0]
    st.markdown("**Its labels; change any to intervene**")
    grid = st.columns(min(5, len(labels)))
    do = {}
    for i, name in enumerate(labels):
        with grid[i % len(grid)]:
            v = value_widget(schema[name], key=f"images-cf-{run.id}-{int(pick)}-{name}", default=factual[name])
        same = v == factual[name] if schema[name].discrete else abs(float(v) - float(factual[name])) < 1e-9
        if not same:
            do[name] = v
    if not do:
        st.caption("No label changed yet: the counterfactual is the image itself.")
    cf = model.counterfactual(row, do=do, seed=0)
    scale = max(4, 128 // row.size)
    big = lambda d: np.kron(d.images[0], np.ones((scale, scale, 1), dtype=np.uint8))  # noqa: E731 - enlarged for display
    a, b, c = st.columns(3)
    a.image(big(row), caption="factual", clamp=True)
    b.image(big(cf), caption="model's counterfactual", clamp=True)
    shown_do = f"Intervention: do({', '.join(f'{k} = {plots.format_value(v)}' for k, v in do.items())})." if do else ""
    if truth is not None:
        exact = truth.counterfactual(row, do=do, seed=0)
        c.image(big(exact), caption="exact counterfactual", clamp=True)
        err = images.pixel_error(cf, exact)
        base = images.pixel_error(row, exact)
        st.caption(f"Pixel error against the exact counterfactual: {err:.3f} (copying the factual image: {base:.3f}; "
                   "mean absolute difference, 0-1). " + shown_do)
    else:
        c.caption("exact counterfactual: not known for uploaded images")
        if shown_do:
            st.caption(shown_do)
    changed = [n for n in labels if str(cf.labels.iloc[0][n]) != str(factual[n])]
    if do:
        st.caption(f"Labels changed by the counterfactual: {', '.join(changed) or 'none'} (the intervened ones and "
                   "their descendants).")
