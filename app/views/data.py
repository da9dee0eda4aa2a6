"""Data: pick a built-in dataset (with its true equations), upload a CSV or a .zip of
labelled images; preview it, check every column, set column kinds, and look at pairwise
plots. The chosen dataset is what the other pages work on (``app.logic.data.current_dataset``)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
import streamlit as st

from app import plots
from app.logic import data as dp
from app.logic import missing as gaps_logic
from causal import datasets
from causal.data import DataError

PREVIEW_ROWS = 1000

st.title("Data")
st.caption(
    "Choose the data the other pages work on: a built-in example whose true causal model is known, "
    "or your own table (one row per sample, one column per variable)."
)

ref: Mapping[str, Any] | None = st.session_state.get(dp.STATE_KEY)
SOURCES = ("Built-in example", "Built-in images", "Upload a CSV", "Upload images", "Saved in the workspace")
KEYS = ("builtin", "images", "upload", "upload-images", "stored")
source = st.radio(
    "Source", SOURCES, horizontal=True, key="data-source", label_visibility="collapsed",
    index=KEYS.index("upload-images" if ref.get("uploaded") else ref["source"]) if ref and ref["source"] in KEYS else 0,
)


def wait_for(what: str, ref: Mapping[str, Any] | None) -> None:
    """Nothing chosen yet on this source: the other pages must not go on with the dataset
    chosen before (a run named for the new data would train on the old)."""
    if not (ref and ref.get("pending") and ref["source"] == what):
        st.session_state[dp.STATE_KEY] = dp.pending_ref(what)
PREVIEW_IMAGES = 8  # images shown with their labels after an image upload


def column_checks(df: pd.DataFrame, kinds: Mapping[str, str], overrides: Mapping[str, str], name: str) -> None:
    """Every per-column and whole-table problem, then the loader's own verdict (on the
    kinds the user set; the loader infers the rest, as it will on the Train page)."""
    problems = dp.column_problems(df)
    for col, found in dp.kind_problems(df, overrides).items():  # only the kinds the user set
        problems.setdefault(col, []).extend(found)
    table = dp.table_problems(df)
    if table or problems:
        lines = [f"- {t}" for t in table] + [f"- **{c}**: {'; '.join(found)}" for c, found in problems.items()]
        st.warning(f"Problems in **{name}**:\n" + "\n".join(lines), icon=":material/warning:")
    verdict = dp.loader_check(df, overrides, name=name)
    if verdict:
        remedy = (". On this page, **Missing values** above drops the rows that have one."
                  if "missing value" in verdict or "marks a missing value" in verdict else "")
        st.error(f"As it stands this table cannot be used to train a model: {verdict}{remedy}", icon=":material/error:")
    else:
        st.success(
            f"**{name}**: {len(df):,} rows × {df.shape[1]} columns pass the loader's checks. "
            "The Graph and Train pages check it against your graph.",
            icon=":material/check_circle:",
        )


def table_views(df: pd.DataFrame, kinds: Mapping[str, str], key: str) -> None:
    """Preview, summary statistics and pairwise plots."""
    st.subheader("Preview")
    shown = df.head(PREVIEW_ROWS)
    st.dataframe(shown, width="stretch", height=260)
    if len(df) > len(shown):
        st.caption(f"The first {len(shown):,} of {len(df):,} rows.")
    st.subheader("Columns")
    summary = dp.summary_table(df, kinds)
    st.dataframe(
        summary.dropna(axis=1, how="all"),
        width="stretch",
        column_config={
            **{c: st.column_config.NumberColumn(c, format="%.3g") for c in ("mean", "std", "min", "q25", "median", "q75", "max")},
            "top_share": st.column_config.NumberColumn("top share", format="percent"),
        },
    )
    st.subheader("Pairwise plots")
    discrete = [c for c in map(str, df.columns) if kinds.get(c) in ("binary", "categorical") and df[c].nunique() <= dp.MAX_BARS]
    color = None
    if discrete:
        choice = st.selectbox("Colour by", ["(none)", *discrete], index=1, key=f"data-color-{key}")
        color = None if choice == "(none)" else choice
    tab_pairs, tab_hist = st.tabs(["Scatter matrix", "Histograms"])
    with tab_pairs:
        names = [str(c) for c in df.columns if str(c) != color]
        shown = names
        if len(names) > dp.SCATTER_COLUMNS:
            shown = st.multiselect("Columns", names, default=names[: dp.SCATTER_COLUMNS], max_selections=dp.SCATTER_COLUMNS,
                                   key=f"data-splom-columns-{key}", help=f"Up to {dp.SCATTER_COLUMNS} columns at a time.")
        columns = [*shown, *([color] if color else [])]
        st.plotly_chart(dp.scatter_matrix_figure(df[columns], kinds, color=color), width="stretch",
                        key=f"data-splom-{key}")
        notes = []
        if len(df) > dp.SCATTER_ROWS:
            notes.append(f"a random {dp.SCATTER_ROWS:,} of {len(df):,} rows")
        if any(kinds.get(c) != "continuous" for c in shown):
            notes.append("a discrete column's points jittered around its values; two discrete columns as the share "
                         "of rows with each pair of values")
        if notes:
            st.caption("Showing " + "; ".join(notes) + ".")
    with tab_hist:
        st.plotly_chart(dp.histograms_figure(df, kinds), width="stretch", key=f"data-hist-{key}")


# ---------------------------------------------------------------------- built-in
def builtin(ref: Mapping[str, Any] | None) -> None:
    names = datasets.names()
    current = ref if ref and ref["source"] == "builtin" else dp.builtin_ref(names[0])
    c_name, c_n, c_seed = st.columns([3, 1, 1], vertical_alignment="bottom")
    name = c_name.selectbox("Dataset", names, index=names.index(current["name"]), key="data-builtin")
    n = c_n.number_input("Rows", min_value=100, max_value=dp.MAX_N, value=int(current["n"]), step=500, key="data-n")
    seed = c_seed.number_input("Seed", min_value=0, max_value=2**31 - 1, value=int(current["seed"]), key="data-seed")
    st.session_state[dp.STATE_KEY] = dp.builtin_ref(name, int(n), int(seed))
    info = datasets.info(name)
    st.markdown(info.description)
    left, right = st.columns([1, 1])
    with left:
        st.markdown("**Causal graph**")
        st.plotly_chart(plots.graph_figure(info.graph), width="stretch", key=f"data-graph-{name}")
    with right:
        st.markdown("**Ground truth: the structural equations**")
        st.code(info.equations, language=None, wrap_lines=True)
        st.caption(
            "Because these equations are known, exact interventional and counterfactual answers are available for "
            "this dataset: every model trained on it is scored against the truth."
        )
    df, _, graph = dp.current_dataset(st.session_state)
    kinds = {**dp.infer_kinds(df), **graph.kinds}
    table_views(df, kinds, key=f"{name}-{n}-{seed}")


# ---------------------------------------------------------------------- upload
def upload(ref: Mapping[str, Any] | None) -> None:
    file = st.file_uploader(
        f"CSV file (up to {dp.MAX_UPLOAD_MB} MB)", type=["csv", "txt", "tsv"], key="data-upload",
        max_upload_size=max(1, math.ceil(dp.MAX_UPLOAD_MB)),
        help="A header row with the column names, then one row per sample. Commas separate values; "
        "semicolons and tabs are detected.",
    )
    if file is not None:
        try:
            key, df = dp.remember_upload(file.name, file.getvalue())
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            return
        same = ref and ref.get("source") == "upload" and not ref.get("pending") and dp.raw_upload_key(ref) == key
        ref = dict(ref) if same else dp.upload_ref(file.name, key)  # the same file again keeps its kinds and cleaning
    elif ref and ref["source"] == "upload" and not ref.get("pending"):
        if dp.raw_upload_key(ref) not in dp.UPLOADS:
            st.warning(f"{ref['name']} is no longer held by the server; upload it again.", icon=":material/warning:")
            return
        st.caption(f"Showing **{ref['name']}**, uploaded earlier; upload another file to replace it.")
    else:
        wait_for("upload", ref)
        st.info(
            "Upload a table: one column per variable, one row per sample, column names in the first row. Until "
            "then no data are chosen: the other pages wait for it.",
            icon=":material/upload_file:",
        )
        return
    raw_key = dp.raw_upload_key(ref)
    try:
        key, df, note = missing_values(raw_key, ref.get("cleaning") or {})
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    cleaning = {"raw": raw_key, **missing_options(raw_key), "note": note} if key != raw_key else None
    name = ref["name"]
    kinds_before = {c: k for c, k in ref["kinds"].items() if c in df.columns}  # kept when the gaps are read anew
    inferred = dp.infer_kinds(df)
    st.markdown(f"**{name}**: {len(df):,} rows × {df.shape[1]} columns" + (f" ({note})" if note else ""))
    with st.expander("Column kinds", expanded=True, icon=":material/category:"):
        st.caption("Inferred from the values; change a kind where the guess is wrong (e.g. a 1–5 rating that is categorical).")
        grid = st.columns(4)
        kinds: dict[str, str] = {}
        for i, col in enumerate(inferred):
            chosen = kinds_before.get(col, inferred[col])
            kinds[col] = grid[i % 4].selectbox(
                col, dp.KINDS, index=dp.KINDS.index(chosen), key=f"data-kind-{key}-{col}",
                help=f"inferred: {inferred[col]}",
            )
    overrides = {c: k for c, k in kinds.items() if k != inferred[c]}
    st.session_state[dp.STATE_KEY] = dp.upload_ref(name, key, overrides, cleaning)
    column_checks(df, kinds, overrides, name)
    if st.button("Save in the workspace", key="data-save", icon=":material/save:",
                 help="Keep this table across restarts; it is listed under 'Saved in the workspace'."):
        from app import ui

        ui.workspace().add_dataset_once(name, df, source=f"upload:{key}",
                                        description=f"uploaded as {name}" + (f"; {note}" if note else ""))
        st.toast(f"Saved {name} in the workspace", icon=":material/save:")
    table_views(df, kinds, key=key)


def missing_options(raw_key: str) -> dict[str, Any]:
    """The missing-value choices made for the upload ``raw_key`` (its widgets' values)."""
    text = st.session_state.get(f"data-markers-{raw_key}", "")
    return {"markers": [m.strip() for m in str(text).split(",") if m.strip()],
            "drop": bool(st.session_state.get(f"data-dropna-{raw_key}", False)),
            "leave_out": list(st.session_state.get(f"data-leave-{raw_key}", []))}


def missing_values(raw_key: str, before: Mapping[str, Any]) -> tuple[str, pd.DataFrame, str]:
    """The upload's gaps, per column, and what to do about them: text read as missing, columns
    left out, rows with a missing value dropped (``before``: the choices the reference kept,
    for when the widgets were not on the page). Returns ``app.logic.missing.clean_upload``'s (key, table,
    note); the table as uploaded when it has no gaps."""
    raw = dp.UPLOADS.get(raw_key)
    if raw is None:
        raise DataError("the uploaded file is no longer held by the server; upload it again")
    gaps = gaps_logic.missing_overview(raw)
    if gaps.empty and not before:
        return raw_key, raw, ""
    with st.expander("Missing values", expanded=True, icon=":material/healing:"):
        st.caption(
            "A model trains on complete rows. Rows with a gap can be dropped (never filled: a filled value is a "
            "guess the model would learn as data). Dropping is unbiased only when values are missing at random; "
            "the count below helps to judge that. Leave out a column you will not use, so that its gaps cost "
            "no rows."
        )
        if not gaps.empty:
            shown = gaps.assign(share=(100 * gaps["share"]).round(1)).rename(
                columns={"empty": "empty cells", "marked": "cells that may mark a gap", "markers": "which",
                         "share": "% of rows"})
            st.dataframe(shown, hide_index=True, width="content")
        question = bool(gaps["markers"].str.contains("'?'", regex=False).any()) if not gaps.empty else False
        default_markers = ", ".join(before.get("markers", [])) if before else ("?" if question else "")
        st.text_input(
            "Read as missing (text of a whole cell; several separated by commas)", value=default_markers,
            key=f"data-markers-{raw_key}", help="UCI tables such as Adult write an unknown value as '?'. Empty cells, "
            "NA and NaN are always missing.",
        )
        st.multiselect("Leave out columns", [str(c) for c in raw.columns], default=before.get("leave_out", []),
                       key=f"data-leave-{raw_key}")
        st.checkbox("Drop the rows with a missing value", value=bool(before.get("drop", False)),
                    key=f"data-dropna-{raw_key}")
    opts = missing_options(raw_key)
    return gaps_logic.clean_upload(raw_key, opts["markers"], opts["drop"], opts["leave_out"])


# ---------------------------------------------------------------------- uploaded images
def image_preview(record: Any) -> None:
    """A few of a stored image dataset's images, each captioned with its file and labels,
    and a grid of more."""
    try:
        data = dp.load_stored_images(record.id)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    h, w, c = record.image_shape
    st.markdown(f"**{record.name}**: {len(data):,} images of {h}×{w} px ({'grey' if c == 1 else 'colour'}) · "
                f"labels {', '.join(map(str, data.labels.columns))}")
    few = data[:PREVIEW_IMAGES]
    scale = max(1, 96 // max(h, 1))
    captions = [f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items())
                for name, row in zip(few.labels.index, few.labels.to_dict("records"))]
    st.image([np.kron(img, np.ones((scale, scale, 1), dtype=np.uint8)) for img in few.images], caption=captions,
             clamp=True)
    if len(data) > PREVIEW_IMAGES:
        with st.expander(f"More images ({min(64, len(data))} of {len(data):,})"):
            st.image(data[:64].grid(columns=16, pad=1), width="stretch", clamp=True)
    st.caption("The images are the graph's node **image**: on the Graph page every label starts with an arrow into "
               "it; draw the arrows between the labels you believe in, then train an image model. There is no "
               "ground truth for your images: counterfactual images cannot be checked against an exact answer.")


def upload_images(ref: Mapping[str, Any] | None) -> None:
    from app import ui

    c_file, c_col, c_size = st.columns([3, 1, 1], vertical_alignment="bottom")
    file = c_file.file_uploader(
        f"A .zip of PNG/JPEG images with labels.csv (up to {dp.MAX_IMAGE_UPLOAD_MB} MB)", type=["zip"],
        key="data-upload-images", max_upload_size=max(1, math.ceil(dp.MAX_IMAGE_UPLOAD_MB)),
        help="labels.csv has one row per image: a column naming the image's file (relative to the archive) and one "
        "column per label.",
    )
    column = c_col.text_input("Image column", value="file", key="data-images-column",
                              help="The column of labels.csv that names each image's file.").strip() or "file"
    size = c_size.selectbox("Resize to", dp.IMAGE_RESIZE, key="data-images-resize",
                            format_func=lambda s: f"{s} px" if s else "keep the size",
                            help="Images are centre-cropped to a square and resized; 32 px trains in minutes on a CPU. "
                            "Kept as they are, they must be square with 8 to 128 px (a power of two).")
    if file is not None:
        try:
            with st.spinner(f"Reading {file.name}…"):
                record = dp.store_image_upload(ui.workspace(), file.name, file.getvalue(), image_column=column, size=size)
        except DataError as e:
            st.error(f"Cannot use {file.name}: {e}. Nothing was stored.", icon=":material/error:")
            return
        st.session_state[dp.STATE_KEY] = {**dp.stored_ref(record.id, record.name, images=True), "uploaded": True}
        st.success(f"**{record.name}** is stored in the workspace (listed under 'Saved in the workspace').",
                   icon=":material/check_circle:")
    elif ref and ref.get("source") == "stored" and ref.get("images") and ref.get("uploaded"):
        st.caption(f"Showing **{ref['name']}**, uploaded earlier; upload another archive to replace it.")
    else:
        wait_for("upload-images", ref)
        st.info("Upload a .zip holding your images (PNG or JPEG) and a labels.csv: one row per image, a column "
                "naming its file and one column per label, e.g. `file,age,smiling` then `img/001.png,34,1`.",
                icon=":material/upload_file:")
        return
    ref = st.session_state[dp.STATE_KEY]
    try:
        record = ui.workspace().dataset(ref["id"])
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        return
    image_preview(record)
    df, name, _ = dp.current_dataset(st.session_state)
    kinds = dp.infer_kinds(df)
    column_checks(df, kinds, {}, f"the labels of {name}")
    table_views(df, kinds, key=f"stored-{record.id}")


# ---------------------------------------------------------------------- stored in the workspace
def stored(ref: Mapping[str, Any] | None) -> None:
    from app import ui

    records = ui.workspace().datasets()
    if not records:
        wait_for("stored", ref)
        st.info("No dataset is saved in the workspace yet: an uploaded table is saved there when you train on it, "
                "or press **Save in the workspace** after uploading.", icon=":material/info:")
        return
    names = {r.id: f"{r.name} · {r.rows:,} {'images' if r.has_images else 'rows'} · {r.created[:10]}" for r in records}
    ids = list(names)
    current = ids.index(ref["id"]) if ref and ref.get("source") == "stored" and ref.get("id") in ids else 0
    chosen = st.selectbox("Dataset", ids, index=current, format_func=names.get, key="data-stored")
    record = next(r for r in records if r.id == chosen)
    st.session_state[dp.STATE_KEY] = dp.stored_ref(record.id, record.name, images=record.has_images)
    st.caption(f"From {record.source}. {record.description}")
    try:
        df, name, _ = dp.current_dataset(st.session_state)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    if record.has_images:
        image_preview(record)
    kinds = dp.infer_kinds(df)
    column_checks(df, kinds, {}, f"the labels of {name}" if record.has_images else name)
    table_views(df, kinds, key=f"stored-{record.id}")


# ---------------------------------------------------------------------- built-in images
def images(ref: Mapping[str, Any] | None) -> None:
    from causal.images import names as image_names

    names = image_names()
    current = ref if ref and ref["source"] == "images" else dp.images_ref(names[0])
    c_name, c_n, c_size, c_seed = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    name = c_name.selectbox("Image dataset", names, index=names.index(current["name"]), key="data-images")
    n = c_n.number_input("Images", min_value=100, max_value=dp.MAX_N, value=int(current["n"]), step=500,
                         key="data-images-n")
    size = c_size.selectbox("Pixels", dp.IMAGE_SIZES, index=dp.IMAGE_SIZES.index(int(current["size"])),
                            key="data-images-size", help="Images are square; 32 px trains in minutes on a CPU.")
    seed = c_seed.number_input("Seed", min_value=0, max_value=2**31 - 1, value=int(current["seed"]),
                               key="data-images-seed")
    spec = st.text_input(
        "Seen through (lossy measurement)", value=current.get("lossy", "none"), key="data-images-lossy",
        help="As if only lossy measurements of the images existed, a fresh random draw per image: `none`, "
             "`dropout:P` (each pixel lost with probability P), `blur:SIGMA`, `noise:STD`, joined by `+` "
             "(`blur:1+noise:0.1`). Train CausalGAN on them with its `ambient` setting (AmbientGAN) to learn the "
             "clean images.")
    try:
        st.session_state[dp.STATE_KEY] = dp.images_ref(name, int(n), int(seed), int(size), spec)
    except ValueError as e:
        st.error(f"{e}; the clean images are used.", icon=":material/error:")
        st.session_state[dp.STATE_KEY] = dp.images_ref(name, int(n), int(seed), int(size))
    ds = dp.load_images(name, int(n), int(seed), int(size))
    lossy = st.session_state[dp.STATE_KEY]["lossy"]
    shown = ds.data if lossy == "none" else dp.lossy_images(name, int(n), int(seed), int(size), lossy)
    st.markdown(ds.description)
    if lossy != "none":
        st.info(f"Models train on these images seen through `{lossy}`; the labels are exact. On the Train page, "
                f"CausalGAN's `ambient` setting is filled in with it (AmbientGAN).", icon=":material/blur_on:")
    left, right = st.columns([1, 1])
    with left:
        st.markdown("**Causal graph** (the image node, dashed on the Graph page, depends on the labels)")
        st.plotly_chart(plots.graph_figure(ds.graph), width="stretch", key=f"data-igraph-{name}")
        st.caption(
            "The images are rendered from the labels by a known program, so the exact counterfactual image of any "
            "sample under any intervention is known: image models are scored against it."
        )
    with right:
        st.markdown("**A few of the images**")
        st.image(shown[:32].grid(columns=8, pad=1), width="stretch", clamp=True)
        st.dataframe(ds.data.labels.head(8), hide_index=True, width="stretch")
    labels = ds.data.labels
    kinds = {**dp.infer_kinds(labels), **{k: v for k, v in ds.graph.kinds.items() if k in labels.columns}}
    table_views(labels, kinds, key=f"images-{name}-{n}-{seed}")


if source == SOURCES[0]:
    builtin(ref)
elif source == SOURCES[1]:
    images(ref)
elif source == SOURCES[2]:
    upload(ref)
elif source == SOURCES[3]:
    upload_images(ref)
else:
    stored(ref)
