"""Counterfactory's Streamlit entry point: page set-up and navigation.

Run it with ``make run`` (``streamlit run app/main.py``). Each page is one file under
``app/views/``; the logic the pages call lives in plain modules: one per page in
``app/logic/`` (named like the page), and ``app.workspace``, ``app.runner``, ``app.plots``
and the library (``causal.effects`` for seeing versus doing).

The folder is deliberately not called ``pages/``: Streamlit 1.67 still switches to its
old directory-based navigation when a ``pages/`` folder sits next to the entry file and
the first request after start-up is a page's URL (``/explore``), bypassing this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Counterfactory", page_icon=":material/account_tree:", layout="wide")

# (file, title, icon, url path) in the order of the sidebar; a page appears once its file exists.
PAGES = [
    ("home.py", "Home", ":material/home:", "home"),
    ("data.py", "Data", ":material/table:", "data"),
    ("graph.py", "Graph", ":material/account_tree:", "graph"),
    ("train.py", "Train", ":material/model_training:", "train"),
    ("explore.py", "Seeing vs doing", ":material/compare_arrows:", "explore"),
    ("counterfactuals.py", "Counterfactuals", ":material/alt_route:", "counterfactuals"),
    ("images.py", "Images", ":material/image:", "images"),
    ("debias.py", "De-bias", ":material/balance:", "debias"),
    ("inverse.py", "Inverse problems", ":material/blur_on:", "inverse"),
    ("hypotheses.py", "Hypotheses", ":material/rule:", "hypotheses"),
    ("runs.py", "Runs", ":material/history:", "runs"),
]

nav = st.navigation(
    [
        st.Page(VIEWS / file, title=title, icon=icon, url_path=path, default=(file == "home.py"))
        for file, title, icon, path in PAGES
        if (VIEWS / file).exists()
    ]
)
nav.run()
