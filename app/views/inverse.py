"""Inverse problems: measure an image (random projections, missing pixels, downsampling, blur,
noise) and recover it with a trained image model as the prior, with Deep Image Prior (plain or
with a prior on its weights learned from other images shown) or with Lasso in a DCT or wavelet
basis; the measurement, the recovery and the truth side by side; and the robust manifold defense
(a classifier attacked bare, behind the projection onto the model's range, and under BPDA)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import ui
from app.logic import data as dp
from app.logic import inverse as inv
from app.views.inverse_defense import section as defense_section
from causal import images

POOL = 16  # images offered per dataset
SHOWN = 192  # pixels on screen per image of the result
NONE = "none: Deep Image Prior or Lasso (no trained model)"
RESULT = "inverse:result"  # session state: the last recovery shown


def _show(out, spec, method: str, noise: float, seed: int, run_id: str | None) -> None:
    """The last recovery: measurement, recovery and truth side by side, its error and its command."""
    r = out.recovery
    scale = max(4, 128 // out.truth.shape[0])
    big = lambda a: np.kron(a, np.ones((scale, scale, 1), dtype=np.uint8))  # noqa: E731 - enlarged for display
    a, b, c = st.columns(3)
    a.image(big(out.measured), caption=f"measurement: {spec}, {out.m:,} numbers for {out.pixels:,} pixel values",
            clamp=True, width=SHOWN)
    b.image(big(r.uint8()), caption=f"recovery ({method})", clamp=True, width=SHOWN)
    c.image(big(out.truth), caption="truth", clamp=True, width=SHOWN)
    st.markdown(f"**Per-pixel MSE {r.mse:.5f}** · {r.seconds:.2f} s · {out.m:,} measurements"
                + (f" · noise sd {noise:g}" if noise else ""))
    st.caption("The same from the command line: `counterfactory recover " + (f"run:{run_id} " if run_id else "")
               + f"--image FILE.png --measure {spec}" + (f" --noise {noise:g}" if noise else "")
               + f" --method {method}" + (" --dip-prior PRIOR_DIR" if method == "dip-lr" else "")
               + f" --seed {seed} -o OUT.png --json OUT.json`"
               + (f" (PRIOR_DIR from `counterfactory dip-prior --images ... --lam {inv.PRIOR_LAM:g} -o PRIOR_DIR`)"
                  if method == "dip-lr" else ""))


st.title("Inverse problems")
st.caption(
    "Recover an image from a few linear measurements y = A x + noise. A trained image model is a prior: the "
    "recovery is the image it can draw that best explains y (CSGM, Bora et al. 2017). Deep Image Prior fits an "
    "untrained network to y and stops early (dip-lr: with a prior on its weights learned from DIP fits to other "
    "images shown, Van Veen et al. 2018); Lasso finds the sparsest DCT (lasso) or wavelet (lasso-wavelet) "
    "coefficients that explain y."
)

runs = ui.usable_runs(images=True)
by_id = {r.id: r for r in runs}
choice = st.selectbox("Prior (a trained image model)", [NONE, *by_id], key="inverse-prior",
                      format_func=lambda i: i if i == NONE else ui.run_label(by_id[i]))
run = by_id.get(choice)
model = ui.run_model(run) if run is not None else None


@st.cache_data(max_entries=8, show_spinner=False)
def builtin_pool(name: str, size: int, seed: int) -> np.ndarray:
    return images.info(name).scm.sample(POOL, seed=seed, size=size).images


@st.cache_resource(max_entries=4, show_spinner=False)
def learned_prior(key: str, pick: int, _pool: np.ndarray):  # key names the pool (not hashed); the prior is immutable
    return inv.page_prior(_pool, pick)


if run is not None:
    source = run.spec.source
    if source.truth is not None:
        pool = builtin_pool(source.name, source.size, source.seed + 99)  # held out of training
        st.caption(f"Images of {source.name} the model never trained on.")
    else:
        pool = dp.load_stored_images(source.id)[:POOL].images
        st.caption(f"Images of {run.data_name}, the model's own data.")
    methods = inv.methods(with_model=True)
    prior_pool, prior_key = pool, f"run:{run.id}"
else:
    c1, c2 = st.columns([2, 3])
    names = images.names()
    name = c1.selectbox("Built-in images", names, index=names.index("morpho-glyphs"), key="inverse-dataset")
    upload = c2.file_uploader("…or your own image (PNG/JPEG, square, 8-64 px)", type=["png", "jpg", "jpeg"],
                              key="inverse-upload")
    pool = builtin_pool(name, 32, 99)
    prior_pool, prior_key = pool, f"builtin:{name}"
    if upload is not None:
        try:
            pool = inv.read_image(upload)[None]
        except ValueError as e:
            st.error(str(e), icon=":material/error:")
            st.stop()
    methods = inv.methods(with_model=False)
    st.caption("Pick a trained image run above to use a generator as the prior.")

st.image(np.concatenate(list(pool), axis=1) if len(pool) > 1 else pool[0], width="stretch", clamp=True)
pick = st.number_input(f"Image (0-{len(pool) - 1} above)", min_value=0, max_value=len(pool) - 1, value=0,
                       key="inverse-pick")

c1, c2, c3, c4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
kind = c1.selectbox("Measurement", list(inv.KINDS), format_func=lambda k: inv.KINDS[k][0], key="inverse-kind")
label, default, lo, hi, step = inv.KINDS[kind][1:]
value = c2.number_input(label, min_value=lo, max_value=hi, value=default, step=step, key=f"inverse-value-{kind}")
noise = c3.number_input("noise sd", min_value=0.0, max_value=0.5, value=0.0, step=0.01, key="inverse-noise")
method = c4.selectbox("Method", methods, key="inverse-method")
seed = st.number_input("Seed", min_value=0, max_value=10_000, value=0, key="inverse-seed")

if st.button("Recover", type="primary", icon=":material/auto_fix_high:", key="inverse-go"):
    spec = inv.spec_of(kind, value)
    try:
        options = {}
        if method == "dip-lr":  # from the images above but the one recovered; an upload: the built-in ones
            skip = int(pick) if prior_pool is pool else -1
            with st.spinner(f"Learning a prior on Deep Image Prior's weights from {inv.PRIOR_IMAGES} other images…"):
                options["dip_prior"] = learned_prior(f"{prior_key}:{len(pool)}", skip, prior_pool)
        with st.spinner(f"Recovering by {method}…"):
            out = inv.solve(pool[int(pick)], spec, method, model, noise=float(noise), seed=int(seed), **options)
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    st.session_state[RESULT] = (out, spec, method, float(noise), int(seed), run.id if run else None)

if RESULT in st.session_state:  # kept across reruns (another widget, the defense section's watcher)
    _show(*st.session_state[RESULT])

defense_section(run, model)
