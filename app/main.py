"""Counterfactory's Streamlit entry point: page set-up and navigation.

Run it with ``make run`` (``streamlit run app/main.py``). Each page is one file under
``app/views/``; the logic the pages call lives in plain modules (``app.jobs``,
``app.training``, ``app.compare``, ``app.plots``).

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

nav = st.navigation(
    [
        st.Page(VIEWS / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(VIEWS / "explore.py", title="Seeing vs doing", icon=":material/compare_arrows:", url_path="explore"),
    ]
)
nav.run()
