"""Home: what Counterfactory is, and where to start."""

import streamlit as st

st.title("Counterfactory")
st.markdown(
    "**Interactive causal generative modeling.** Bring data, state the causal graph you believe in, "
    "train a generative model that obeys that graph, then ask it causal questions: what does the data "
    "look like *given* X = x, what would it look like if we *set* X = x, and what would *this* row have been "
    "had X been different?"
)
st.markdown(
    "- **Seeing** (*given* X = x) filters the world to the cases where X happens to be x: "
    "X's causes shift with it, because they are what made X large or small.\n"
    "- **Doing** (*do*(X = x)) reaches in and sets X, cutting it off from its causes: only X's effects move.\n"
    "- **Counterfactuals** keep everything that made a row what it was (its unobserved noise) and change X alone.\n"
    "- Built-in examples come with their true structural equations, so every answer a model gives "
    "can be checked against the truth."
)
st.page_link("views/explore.py", label="Start: seeing vs doing on a built-in example (one click)",
             icon=":material/arrow_forward:")

st.subheader("The workflow")
steps = [
    ("views/data.py", "1 · Data", ":material/table:", "a built-in example with known truth, or your own CSV"),
    ("views/graph.py", "2 · Graph", ":material/account_tree:",
     "draw the causal graph with the mouse or type it; see which of its claims the data contradict"),
    ("views/train.py", "3 · Train", ":material/model_training:",
     "a model that obeys the graph, trained in the background (leave the page, it goes on)"),
    ("views/explore.py", "4 · Seeing vs doing", ":material/compare_arrows:",
     "conditioning and intervening side by side, against the truth"),
    ("views/counterfactuals.py", "5 · Counterfactuals", ":material/alt_route:", "what chosen rows would have been"),
    ("views/runs.py", "Runs", ":material/history:", "every run, compared; checkpoints and samples to download"),
]
for page, label, icon, what in steps:
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    c1.page_link(page, label=label, icon=icon)
    c2.caption(what)
st.caption(
    "Models: Causal Gen (one small network per node, fed only its parents; Jiang et al. 2022), Causal Variational "
    "Gen (adds a per-node latent), CCGM (a VAE with a partially trainable causal layer; Bhat et al. 2022) and a "
    "linear baseline. Everything here is also a Python API and the `counterfactory` command."
)
