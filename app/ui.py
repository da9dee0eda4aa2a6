"""Streamlit glue shared by the pages: the process-wide job registry and cached queries.

Only the pages and this module import streamlit; the logic they call is plain Python.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.compare import Comparison, compare
from app.jobs import JobRegistry

SAMPLES = 2000  # samples per distribution in a comparison
MAX_DRAWS = 400_000  # model draws allowed to find conditional samples (keeps the page responsive)


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry for the whole server: it is thread-safe, and sessions hold only job ids."""
    return JobRegistry(max_finished=32)


@st.cache_data(max_entries=128, show_spinner="Sampling from the model…")
def comparison(job_id: str, node: str, value: Any, n: int = SAMPLES, seed: int = 0) -> Comparison | None:
    """``compare`` for the model a finished job trained (``None`` if the job is gone)."""
    info = job_registry().get(job_id)
    if info is None or info.result is None:
        return None
    trained = info.result
    return compare(trained.model, node, value, n=n, seed=seed, truth=trained.dataset.scm, max_draws=MAX_DRAWS)
