"""Home: what Counterfactory is, and where to start."""

import streamlit as st

st.title("Counterfactory")
st.markdown(
    "**Interactive causal generative modeling.** Bring data, state the causal graph you believe in, "
    "train a generative model that obeys that graph, then ask it causal questions: what does the data "
    "look like *given* X = x, and what would it look like if we *set* X = x?"
)
st.markdown(
    "- **Seeing** (*given* X = x) filters the world to the cases where X happens to be x: "
    "X's causes shift with it, because they are what made X large or small.\n"
    "- **Doing** (*do*(X = x)) reaches in and sets X, cutting it off from its causes: only X's effects move.\n"
    "- Built-in examples come with their true structural equations, so every answer the model gives "
    "can be checked against the truth."
)
st.page_link("views/explore.py", label="Start: seeing vs doing on a built-in example", icon=":material/arrow_forward:")
st.caption(
    "This first version works on the built-in examples. Models: Causal Gen (one small network per node, fed only "
    "its parents; Jiang et al. 2022), its variational version, and a linear baseline."
)
