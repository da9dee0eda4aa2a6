"""The Data page's missing values: an uploaded table's gaps per column, and the table with
markers read as missing, columns left out and rows with a gap dropped, held in the upload
cache as an upload of its own (``app.logic.data``). Plain Python; no streamlit here."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from app.logic.data import UPLOADS, UploadCache, content_key
from causal.data import MARKER_LIKE, DataError, drop_missing, mark_missing

__all__ = ["missing_overview", "clean_upload"]


def missing_overview(df: pd.DataFrame) -> pd.DataFrame:
    """One row per column with gaps or with cells that may mark one: its empty cells (empty,
    NA, NaN: pandas reads those as missing), its text cells holding only text that often
    marks a gap (``causal.data.MARKER_LIKE``: ``?``, as UCI tables write an unknown value,
    ``unknown``, ``n/a``, ...) and which of those texts; no rows when there are none."""
    rows = []
    for c in df.columns:
        col = df[c]
        empty, marked, found = int(col.isna().sum()), 0, ""
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            text = col.astype("string").str.strip()
            hit = text.str.lower().isin(MARKER_LIKE).fillna(False).to_numpy(dtype=bool)
            marked = int(hit.sum())
            found = ", ".join(repr(v) for v in pd.unique(text[hit])[:5])
        if empty or marked:
            rows.append({"column": str(c), "empty": empty, "marked": marked, "markers": found,
                         "share": (empty + marked) / max(len(df), 1)})
    return pd.DataFrame(rows, columns=["column", "empty", "marked", "markers", "share"])


def clean_upload(raw_key: str, markers: Sequence[str] = (), drop: bool = False, leave_out: Sequence[str] = (),
                 cache: UploadCache = UPLOADS) -> tuple[str, pd.DataFrame, str]:
    """The upload held under ``raw_key`` with the columns ``leave_out`` removed, cells holding
    only one of ``markers`` read as missing (``causal.data.mark_missing``) and, with
    ``drop``, the rows that still have a missing value left out (``causal.data.drop_missing``).
    The result is held in ``cache`` under a key of its own (the file's key and the options),
    so that every page sees it as an upload. Returns (key, table, a note of what was done:
    empty when nothing was)."""
    raw = cache.get(raw_key)
    if raw is None:
        raise DataError("the uploaded file is no longer held by the server; upload it again on the Data page")
    markers = tuple(m.strip() for m in markers if m.strip())
    leave_out = tuple(c for c in leave_out if c in raw.columns)
    if not (markers or drop or leave_out):
        return raw_key, raw, ""
    options = repr((markers, bool(drop), leave_out))
    key = f"{raw_key}-{content_key(options.encode())[:8]}"
    table = raw.drop(columns=list(leave_out))
    notes = []
    if leave_out:
        notes.append("left out " + ", ".join(leave_out))
    if markers:
        notes.append(", ".join(repr(m) for m in markers) + " read as missing")
    if drop:
        table, what = drop_missing(table, markers=markers)
        notes.append(what.describe())
    elif markers:
        table = mark_missing(table, markers)
    if table.shape[1] == 0:
        raise DataError("every column is left out; keep at least two")
    cache.put(key, table)
    return key, table, "; ".join(notes)
