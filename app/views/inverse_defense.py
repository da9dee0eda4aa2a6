"""The Inverse problems page's robust manifold defense section: a classifier attacked by PGD,
bare, behind the projection onto the chosen model's range, under BPDA and the latent-space
attack, and their worst case, evaluated as a
background task (``app.tasks``, kind ``defense``) that the section starts, watches, cancels
and reads."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from app import tasks, ui
from app.logic import defense as dl
from causal import images

TASK = "defense:task"  # session state: the id of the evaluation shown
SHOWN = "defense:shown"


@st.cache_data(max_entries=32, show_spinner="Timing a short projection…")
def _rate(run_id: str, images: int, restarts: int, _model: Any) -> float:  # the run id names the model (not hashed)
    return dl.projection_rate(_model, images, restarts)


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def section(run: Any, model: Any) -> None:
    """The section: settings and start (with a trained image run), then the evaluations."""
    st.divider()
    st.subheader("Robust manifold defense")
    st.caption(
        "A small classifier trained on labelled images is attacked by L-infinity PGD. The defense projects every "
        "input onto the trained model's range before classifying it (Ilyas et al. 2017; Defense-GAN, Samangouei et "
        "al. 2018); BPDA attacks through the projection and the latent attack searches the model's range for a "
        "misclassified image near each input (Athalye et al. 2018). It runs in the background: leave the page and "
        "come back."
    )
    root = ui.workspace().root
    if run is None or model is None:
        st.info("Pick a trained image run as the prior above: the defense projects onto its range.",
                icon=":material/info:")
    else:
        _start(run, model, root)
    _evaluations(root)


def _start(run: Any, model: Any, root: Any) -> None:
    choices = dl.data_choices(run, model.info)
    if not choices:
        st.info("This run's images have no class column a classifier could learn (2 to 10 values), and Morpho-MNIST "
                "is not there for a grey 28 or 32 px model: the command line takes a folder of labelled images "
                "(`counterfactory defend`).", icon=":material/info:")
        return
    c1, c2, c3 = st.columns([3, 2, 2])
    data = c1.selectbox("Labelled images", list(choices), format_func=choices.get, key="defense-data")
    label = None
    if data in images.names() and data != "morpho-glyphs":  # glyphs: the glyph drawn; Morpho-MNIST: the digit
        label = c2.selectbox("Class column", dl.class_columns(data), key="defense-label")
    eps_text = c3.text_input("eps (L-infinity radii, pixel units)", "0.1, 0.3", key="defense-eps")
    c1, c2, c3, c4 = st.columns(4)
    n = c1.number_input("Test images", 1, 1000, 20, key="defense-n")
    train_n = c2.number_input("Classifier training images", 10, 20000, 1000, step=100, key="defense-train-n")
    epochs = c3.number_input("Classifier epochs", 1, 50, 3, key="defense-epochs")
    seed = c4.number_input("Seed", 0, 10_000, 0, key="defense-seed")
    c1, c2, c3, c4, c5 = st.columns(5)
    pgd = c1.number_input("PGD steps", 1, 500, 20, key="defense-pgd")
    bpda = c2.number_input("BPDA steps (0: none)", 0, 500, 10, key="defense-bpda")
    latent = c3.number_input("Latent attack steps (0: none)", 0, 2000, dl.DefenseSettings.latent_steps,
                             key="defense-latent")
    restarts = c4.number_input("Projection restarts", 1, 50, 4, key="defense-restarts")
    steps = c5.number_input("Projection steps", 1, 2000, 100, key="defense-steps")
    try:
        settings = dl.DefenseSettings(eps=dl.parse_eps(eps_text), n=int(n), train_n=int(train_n), epochs=int(epochs),
                                      pgd_steps=int(pgd), bpda_steps=int(bpda), latent_steps=int(latent),
                                      restarts=int(restarts), steps=int(steps), seed=int(seed),
                                      # the attackers project with half the defense's restarts and steps (as the bench)
                                      attack_restarts=max(1, int(restarts) // 2), attack_steps=max(1, int(steps) // 2))
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        return
    est = dl.estimate(settings, _rate(run.id, min(settings.n, 16), settings.restarts, model))
    st.caption(f"Estimated cost: {est.projections:,} images projected ({est.passes:,} generator passes), about "
               f"{_seconds(est.seconds)} on this machine (timed on a short projection; the classifier and PGD add a "
               "little). Same from the command line: `counterfactory defend run:" + run.id
               + f" --data {data}" + (f" --label {label}" if label else "") + " --eps "
               + " ".join(f"{e:g}" for e in settings.eps) + f" --n {settings.n} --train-n {settings.train_n} "
               f"--epochs {settings.epochs} --pgd-steps {settings.pgd_steps} --bpda-steps {settings.bpda_steps} "
               f"--latent-steps {settings.latent_steps} --restarts {settings.restarts} --steps {settings.steps} "
               f"--attack-restarts {settings.attack_projection.restarts} "
               f"--attack-steps {settings.attack_projection.steps} "
               f"--seed {settings.seed} --json OUT.json`")
    if st.button("Evaluate the defense", type="primary", icon=":material/shield:", key="defense-go"):
        try:
            st.session_state[TASK] = dl.submit(root, run, data, settings, label=label)
        except ValueError as e:
            st.error(str(e), icon=":material/error:")


def _evaluations(root: Any) -> None:
    past = tasks.tasks(root, dl.KIND)
    if not past:
        return
    by_id = {t.id: t for t in past}
    if st.session_state.get(TASK) not in by_id:
        st.session_state[TASK] = past[0].id
    chosen = st.selectbox("Evaluation", list(by_id), key=TASK,
                          format_func=lambda i: f"{by_id[i].name} ({i}, {by_id[i].state})")

    @st.fragment(run_every=1.0)
    def watch() -> None:
        s = tasks.status(root, dl.KIND, chosen)
        if s.active:
            st.progress(s.fraction, text=f"{s.state}: stage {s.done} of {s.total or '?'}: {s.label}")
            if st.button("Cancel", icon=":material/cancel:", key="defense-cancel"):
                tasks.cancel(root, dl.KIND, chosen)
        elif st.session_state.get(SHOWN) != (chosen, s.state):
            st.session_state[SHOWN] = (chosen, s.state)
            st.rerun()

    status = tasks.status(root, dl.KIND, chosen)
    if status.active:
        watch()
        return
    if status.state == "failed":
        st.error(f"The evaluation failed: {status.error}", icon=":material/error:")
        return
    if status.state == "cancelled":
        st.warning("The evaluation was cancelled; nothing was reported.", icon=":material/cancel:")
        return
    rec = tasks.result(root, dl.KIND, chosen)
    st.markdown(f"**Accuracy of the classifier** on {rec['n']} test images of {rec['source']} (class: {rec['label']})")
    st.dataframe(dl.result_frame(rec), hide_index=True, width="stretch")  # six columns: the page's width
    st.plotly_chart(dl.result_figure(rec), width="stretch", key="defense-chart")
    p = rec["projection"]
    st.markdown(f"**{rec['seconds_per_projection']:.3f} s per projected image** ({p['restarts']} restarts × "
                f"{p['steps']} steps, images in batches) · {rec['projections']:,} images projected · "
                f"{rec['seconds']:.0f} s in all · PGD {rec['pgd_steps']} steps, BPDA {rec['bpda_steps']} steps, "
                f"latent attack {rec.get('latent_steps', 0)} steps")
    st.caption("*projected*: the PGD images (made against the bare classifier) projected, then classified: the "
               "non-adaptive attack the defense papers report. " + dl.BPDA_CAVEAT)
    strips, ex = dl.example_images(status.folder), rec.get("examples")
    if strips is not None and ex:
        scale = max(2, 96 // strips[0].shape[0])
        for strip, key, what in zip(strips, ("clean", "adversarial", "projected"),
                                    ("clean", f"PGD at eps {ex['eps']:g}", "PGD image projected")):
            big = np.kron(strip, np.ones((scale, scale, 1), dtype=np.uint8))
            st.image(big, caption=f"{what}: classified as {', '.join(map(str, ex[key]))} "
                                  f"(true: {', '.join(map(str, ex['true']))})", clamp=True)
    st.download_button("Result (JSON)", (status.folder / "result.json").read_bytes(), f"defense-{chosen}.json",
                       "application/json", key="defense-json")
