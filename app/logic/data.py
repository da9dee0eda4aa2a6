"""The Data page's logic: built-in datasets with their ground truth, uploaded CSV files
(read, checked column by column, held in a bounded cache), uploaded images (a .zip with
labels.csv, read and stored in the workspace), summaries and figures, and
``current_dataset`` for the other pages. Plain Python; no streamlit here.

The page keeps only a small *reference* to the chosen dataset in session state (under
``STATE_KEY``): ``{"source": "builtin", "name", "n", "seed"}``, ``{"source": "upload",
"name", "key", "kinds"}`` or ``{"source": "stored", "name", "id", "images"}``; an uploaded
table itself lives in ``UPLOADS``, uploaded images in the workspace.

>>> data, name, graph = current_dataset({STATE_KEY: builtin_ref("chain5-lin", n=50, seed=1)})
>>> data.shape, name, graph.nodes[:2]
((50, 5), 'chain5-lin', ('x1', 'x2'))
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from causal import datasets
from causal.data import (MAX_CATEGORIES, MIN_ROWS, DataError, infer_kind, read_table, schema_from_frame, text_column_hint,
                         validate_table)
from causal.graph import CausalGraph, GraphError
from causal.limits import MAX_UNPACKED_BYTES

__all__ = [
    "KINDS", "STATE_KEY", "UPLOADS", "UploadCache",
    "builtin_ref", "upload_ref", "raw_upload_key", "stored_ref", "pending_ref", "images_ref", "load_images", "lossy_images", "load_builtin", "load_stored", "read_upload", "remember_upload",
    "read_image_upload", "store_image_upload", "load_stored_images", "IMAGE_RESIZE",
    "current_dataset", "current_kinds", "infer_kinds",
    "column_problems", "kind_problems", "table_problems", "loader_check", "summary_table",
    "scatter_matrix_figure", "histograms_figure",
]

STATE_KEY = "data:dataset"  # session state: the reference to the chosen dataset
KINDS = ("continuous", "binary", "categorical")
MAX_UPLOAD_MB = 50
DEFAULT_N = 2000  # rows drawn from a built-in dataset unless chosen otherwise
MAX_N = 50_000
IMAGE_SIZES = (32, 64)
IMAGE_RESIZE = (32, 64, None)  # an image upload is resized to 32 or 64 px (None: kept as the files are)
MAX_IMAGE_UPLOAD_MB = 200  # an image .zip ...
MAX_UNZIPPED_MB = MAX_UNPACKED_BYTES // 2**20  # ... and what it holds once unpacked (causal.limits)
SCATTER_ROWS = 1000  # the scatter matrix draws at most this many rows
SCATTER_COLUMNS = 6  # ... and at most this many columns (15 panels)
MAX_BARS = 30  # a discrete histogram shows the most frequent values, the rest as "other"
FONT = "Inter, 'Source Sans Pro', sans-serif"


# ---------------------------------------------------------------------- references
def builtin_ref(name: str, n: int = DEFAULT_N, seed: int = 0) -> dict[str, Any]:
    """The session-state reference to ``n`` rows of a built-in dataset drawn with ``seed``."""
    datasets.info(name)  # a clear error for an unknown name
    if not 1 <= int(n) <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N:,}, got {n}")
    return {"source": "builtin", "name": name, "n": int(n), "seed": int(seed)}


def upload_ref(name: str, key: str, kinds: Mapping[str, str] | None = None,
               cleaning: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The session-state reference to an uploaded table held in ``UPLOADS`` under ``key``;
    ``cleaning``: how it was made from the file as uploaded (``clean_upload``)."""
    ref = {"source": "upload", "name": name, "key": key, "kinds": dict(kinds or {})}
    if cleaning:
        ref["cleaning"] = dict(cleaning)
    return ref


def raw_upload_key(ref: Mapping[str, Any]) -> str:
    """The key of the file as uploaded (before ``clean_upload``) of an upload reference."""
    return str((ref.get("cleaning") or {}).get("raw", ref["key"]))


PENDING = {"upload": "no table is uploaded yet", "upload-images": "no images are uploaded yet",
           "stored": "no dataset is saved in the workspace yet"}


def pending_ref(source: str) -> dict[str, Any]:
    """The reference while the Data page waits for the user (``source``: ``"upload"``,
    ``"upload-images"`` or ``"stored"``): the other pages then say that no data are chosen,
    rather than go on with the dataset chosen before (a run named for new data must not
    train on old data)."""
    if source not in PENDING:
        raise ValueError(f"unknown pending source {source!r}; use one of {', '.join(PENDING)}")
    return {"source": source, "name": None, "pending": True}


@lru_cache(maxsize=8)
def images_ref(name: str, n: int = 2000, seed: int = 0, size: int = 32, lossy: str = "none") -> dict[str, Any]:
    """The session-state reference to ``n`` labelled images of a built-in image dataset
    (``lossy``: seen only through that random measurement, ``generators.inverse.ambient``)."""
    from causal import images
    from generators.inverse.ambient import parse_ambient

    images.info(name)  # a clear error for an unknown name
    if not 1 <= int(n) <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N:,}, got {n}")
    if int(size) not in IMAGE_SIZES:
        raise ValueError(f"image size must be one of {', '.join(map(str, IMAGE_SIZES))} pixels, got {size}")
    spec = parse_ambient(lossy)
    if not spec.images:
        raise ValueError(f"lossy images are images, and {spec.spec} makes vectors; use dropout, blur or noise")
    return {"source": "images", "name": name, "n": int(n), "seed": int(seed), "size": int(size), "lossy": spec.spec}


@lru_cache(maxsize=4)
def load_images(name: str, n: int, seed: int, size: int) -> Any:
    """``causal.images.load``, remembered for the last few choices; do not mutate."""
    from causal import images

    return images.load(name, n=n, seed=seed, size=size)


@lru_cache(maxsize=2)
def lossy_images(name: str, n: int, seed: int, size: int, spec: str) -> Any:
    """The images of ``load_images`` seen through ``spec``, as a run on them sees them
    (``causal.sources.BuiltinImages``: the measurement's draws from the same seed)."""
    from generators.inverse.ambient import lossy

    return lossy(load_images(name, n, seed, size).data, spec, seed=seed)


def stored_ref(dataset_id: str, name: str, images: bool = False) -> dict[str, Any]:
    """The session-state reference to a dataset stored in the workspace (``images``: an
    image dataset, whose graph needs the image node)."""
    return {"source": "stored", "name": name, "id": dataset_id, "images": bool(images)}


@lru_cache(maxsize=1)
def _workspace(root: str) -> Any:
    from app.workspace import Workspace

    return Workspace(root)


def load_stored(dataset_id: str) -> pd.DataFrame:
    """A dataset stored in the workspace (``app.workspace.default_root``)."""
    from app.workspace import WorkspaceError, default_root

    try:
        return _workspace(str(default_root())).load_dataset(dataset_id)
    except WorkspaceError as e:
        raise DataError(str(e)) from None


@lru_cache(maxsize=2)
def load_stored_images(dataset_id: str) -> Any:
    """A stored image dataset (``ImageData``), remembered for the last two; do not mutate.
    (Stored datasets never change: an id always names the same images.)"""
    from app.workspace import WorkspaceError, default_root

    try:
        return _workspace(str(default_root())).load_images(dataset_id)
    except WorkspaceError as e:
        raise DataError(str(e)) from None


def load_builtin(name: str, n: int, seed: int) -> datasets.Dataset:
    """``datasets.load``, remembered for the last few (name, n, seed); do not mutate ``.data``."""
    return datasets.load(name, n=n, seed=seed)


class UploadCache:
    """Uploaded tables by content key, least recently used dropped first, bounded in entries
    and in memory. Thread-safe: one cache serves every session of the server."""

    def __init__(self, max_entries: int = 8, max_bytes: int = 512 * 2**20) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, tuple[pd.DataFrame, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> pd.DataFrame | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, df: pd.DataFrame) -> None:
        size = int(df.memory_usage(deep=True).sum())
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (df, size)
            while len(self._items) > 1 and (
                len(self._items) > self.max_entries or sum(s for _, s in self._items.values()) > self.max_bytes
            ):
                self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


UPLOADS = UploadCache()


def read_upload(name: str, content: bytes, max_mb: float | None = None) -> pd.DataFrame:
    """Read an uploaded CSV (UTF-8, else Windows-1252 text); ``DataError`` naming the file and
    what is wrong with it (too large, empty, not text, not a table). ``max_mb`` defaults to
    ``MAX_UPLOAD_MB``."""
    max_mb = MAX_UPLOAD_MB if max_mb is None else max_mb
    size_mb = len(content) / 2**20
    if size_mb > max_mb:
        raise DataError(f"{name} is {size_mb:.1f} MB; files up to {max_mb:g} MB can be uploaded")
    if not content.strip():
        raise DataError(f"{name} is empty")
    head = content[:8192]
    if b"\x00" in head or head.startswith((b"\x89PNG", b"PK\x03\x04", b"%PDF", b"\xff\xd8\xff", b"\x1f\x8b")):
        raise DataError(f"{name} is not a CSV file: it holds binary data (an image, archive, PDF or spreadsheet?)")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:  # a spreadsheet's export in the Windows code page, most likely
        try:
            content.decode("cp1252")
        except UnicodeDecodeError:
            raise DataError(f"{name} is not a text file in UTF-8 or Windows-1252; save it as UTF-8 CSV") from None
    df = read_table(content, name=name)  # the encoding and the separator are found there, once
    if len(df) == 0:
        raise DataError(f"{name} has a header row but no data rows")
    return df


def content_key(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def remember_upload(name: str, content: bytes, cache: UploadCache = UPLOADS) -> tuple[str, pd.DataFrame]:
    """Read an upload (once per distinct content) into ``cache``: returns (key, table)."""
    key = content_key(content)
    df = cache.get(key)
    if df is None:
        df = read_upload(name, content)
        cache.put(key, df)
    return key, df


def image_upload_source(content: bytes, image_column: str = "file", size: int | None = 32) -> str:
    """The ``source`` an image upload is stored under: its content hash and the reading
    options (the same file read the same way is stored once)."""
    return f"upload:{content_key(content + f'|{image_column}|{size}'.encode())}"


def read_image_upload(name: str, content: bytes, image_column: str = "file", size: int | None = 32,
                      max_mb: float | None = None) -> Any:
    """Read an uploaded .zip of PNG/JPEG images with a ``labels.csv`` (``image_column``
    names each row's file) with ``causal.images.load_image_folder``, resized to
    ``size`` px (``None``: as they are). ``DataError`` naming the upload, or the file in
    it, that is wrong: too large, not a zip, a corrupt or missing image, no labels, images
    that an image model cannot take (square, 8 to 128 px, a power of two)."""
    import tempfile
    import zipfile
    from pathlib import Path

    from causal.images import load_image_folder

    max_mb = MAX_IMAGE_UPLOAD_MB if max_mb is None else max_mb
    if len(content) / 2**20 > max_mb:
        raise DataError(f"{name} is {len(content) / 2**20:.1f} MB; archives up to {max_mb:g} MB can be uploaded")
    if size is not None and size not in IMAGE_SIZES:
        raise DataError(f"images are resized to {' or '.join(map(str, IMAGE_SIZES))} px (or kept as they are), got {size}")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise DataError(f"{name} is not a .zip archive; zip the images together with their labels.csv") from None
    if unpacked / 2**20 > MAX_UNZIPPED_MB:
        raise DataError(f"{name} unpacks to {unpacked / 2**20:,.0f} MB; up to {MAX_UNZIPPED_MB:,} MB of images can be read")
    with tempfile.TemporaryDirectory(prefix="counterfactory-upload-") as tmp:
        path = Path(tmp) / "upload.zip"
        path.write_bytes(content)
        try:
            data = load_image_folder(path, size=size, image_column=image_column)
        except ValueError as e:  # ImageDataError: name the upload, not the temporary copy
            raise DataError(str(e).replace(str(path), name)) from None
    if data.labels.shape[1] == 0:
        raise DataError(f"{name} holds no labels.csv (or it has no label columns): add a labels.csv with a "
                        f"'{image_column}' column naming each image and one column per label")
    from generators.image.base import check_image_size

    try:
        if data.height != data.width:
            raise DataError(f"images must be square, got {data.height}x{data.width}")
        check_image_size(data.size, data.channels)
    except DataError as e:
        raise DataError(f"the images in {name} are {data.height}x{data.width} px: {e}; choose a resize of "
                        f"{' or '.join(map(str, IMAGE_SIZES))} px") from None
    return data


def store_image_upload(ws: Any, name: str, content: bytes, image_column: str = "file", size: int | None = 32) -> Any:
    """Read an image upload (``read_image_upload``) and store it in workspace ``ws``, once per
    content and options: a second call with the same file finds the stored dataset
    without reading it again. Returns its ``DatasetRecord``; nothing is stored on error."""
    source = image_upload_source(content, image_column, size)
    found = ws.find_dataset(source, images=True)
    if found is not None:
        return found
    data = read_image_upload(name, content, image_column=image_column, size=size)
    what = f"{data.size} px" if size is None else f"resized to {size} px"
    return ws.add_image_dataset_once(name, data, source=source,
                                     description=f"{len(data):,} images uploaded as {name} ({what}, {data.channels} channel(s))")


def current_dataset(state: Mapping[str, Any], cache: UploadCache = UPLOADS) -> tuple[pd.DataFrame, str, CausalGraph | None]:
    """The dataset chosen on the Data page: (table, name, its true graph or ``None`` for an
    upload). With nothing chosen yet, the page's default: the first built-in dataset.

    Raises ``DataError`` when an uploaded table is no longer held by the server, or while
    the Data page waits for an upload (``pending_ref``).
    """
    ref = state.get(STATE_KEY) or builtin_ref(datasets.names()[0])
    if ref.get("pending"):
        raise DataError(f"{PENDING[ref['source']]}: choose the data on the Data page")
    if ref["source"] == "builtin":
        ds = load_builtin(ref["name"], int(ref["n"]), int(ref["seed"]))
        return ds.data.copy(), ref["name"], ds.graph
    if ref["source"] == "stored":
        return load_stored(ref["id"]), ref["name"], None
    if ref["source"] == "images":  # the label table; the images are drawn where they are needed
        ds = load_images(ref["name"], int(ref["n"]), int(ref["seed"]), int(ref["size"]))
        return ds.data.labels.copy(), ref["name"], ds.graph
    df = cache.get(ref["key"])
    if df is None:
        raise DataError(f"the uploaded file {ref['name']} is no longer held by the server; upload it again on the Data page")
    return df.copy(), ref["name"], None


def current_kinds(state: Mapping[str, Any], cache: UploadCache = UPLOADS) -> dict[str, str]:
    """Column kinds of the current dataset: the graph's or the user's choice, else inferred."""
    df, _, graph = current_dataset(state, cache)
    ref = state.get(STATE_KEY) or {}
    declared = dict(graph.kinds) if graph is not None else dict(ref.get("kinds", {}))
    return {**infer_kinds(df), **{c: k for c, k in declared.items() if c in df.columns}}


# ---------------------------------------------------------------------- checks
def infer_kinds(df: pd.DataFrame) -> dict[str, str]:
    """``causal.data.infer_kind`` for every column."""
    return {str(c): infer_kind(df[c]) for c in df.columns}


def _row(index: Any) -> str:
    return f"row {index}"


def _show(value: Any) -> str:
    """A value as the user wrote it: ``5``, ``'abc'`` (not ``np.int64(5)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def column_problems(df: pd.DataFrame) -> dict[str, list[str]]:
    """Per-column problems the loader would refuse or that deserve a look, in plain words:
    missing values, constant columns, text mixed with numbers, infinite values, too many
    categories, names that cannot be graph nodes. Columns without problems are left out."""
    out: dict[str, list[str]] = {}
    for c in df.columns:
        col, name, found = df[c], str(c), []
        if name.startswith("Unnamed:"):  # pandas' name for a column without a header
            found.append(f"it has no header (read as {name!r}); if it is a saved row index drop it, else name it")
        else:
            try:
                CausalGraph([name], [])
            except GraphError as e:
                found.append(f"its name cannot be a graph node: {e}; rename it")
        nan = int(col.isna().sum())
        values = col.dropna()
        if nan:
            found.append(f"{nan:,} missing value(s) (first at {_row(col.index[col.isna()][0])})")
        if values.nunique() < 2:
            found.append("all values are missing" if values.empty else f"constant: every value is {_show(values.iloc[0])}")
        elif pd.api.types.is_bool_dtype(col):
            pass
        elif pd.api.types.is_numeric_dtype(col):
            inf = ~np.isfinite(values.to_numpy(dtype=np.float64))
            if inf.any():
                found.append(f"{int(inf.sum()):,} infinite value(s) (first at {_row(values.index[inf][0])})")
        else:
            num = pd.to_numeric(values, errors="coerce")
            text = values[num.isna()]
            # numbers with some stray text (a typo, a missing-value marker); not labels of which
            # a few happen to be numbers ("40", ">40", "<20": a categorical column)
            if 0 < len(text) < len(values) and num.dropna().nunique() > text.nunique():
                found.append(
                    f"mixes numbers and text: {len(values) - len(text):,} numbers, {len(text):,} text value(s) "
                    f"(first {_show(text.iloc[0])} at {_row(text.index[0])})"
                )
            if len(text) > len(values) / 2 and values.nunique() > MAX_CATEGORIES:
                found.append(f"{values.nunique():,} distinct text values; at most {MAX_CATEGORIES} categories are "
                             f"supported{text_column_hint(values)}")
        if found:
            out[name] = found
    return out


def kind_problems(df: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, list[str]]:
    """Problems with the kinds the user chose for the columns (e.g. binary with five
    values); pass only the kinds set by hand: an inferred kind's problems are the column's
    (``column_problems``)."""
    out: dict[str, list[str]] = {}
    for c, kind in kinds.items():
        if c not in df.columns:
            continue
        values = df[c].dropna()
        k = values.nunique()
        if kind == "binary" and k > 2:
            out.setdefault(c, []).append(f"you set it to binary but has {k} distinct values")
        elif kind == "categorical" and k > MAX_CATEGORIES:
            out.setdefault(c, []).append(f"you set it to categorical but has {k:,} distinct values; at most {MAX_CATEGORIES} are supported")
        elif kind == "continuous" and not pd.api.types.is_numeric_dtype(values):
            text = values[pd.to_numeric(values, errors="coerce").isna()]
            if len(text):
                out.setdefault(c, []).append(f"you set it to continuous but holds text ({_show(text.iloc[0])} at {_row(text.index[0])})")
    return out


def table_problems(df: pd.DataFrame) -> list[str]:
    """Problems of the table as a whole."""
    out = []
    if len(df) < MIN_ROWS:
        out.append(f"only {len(df)} row(s); at least {MIN_ROWS} are needed to train a model")
    if df.shape[1] < 2:
        out.append(f"only {df.shape[1]} column(s); a causal graph needs at least two variables")
    return out


def loader_check(df: pd.DataFrame, kinds: Mapping[str, str] | None = None, name: str = "the table") -> str | None:
    """What the library's loader says about the table with every column a node of a graph
    (``None``: it would load). The Graph and Train pages check against the real graph."""
    cols = [str(c) for c in df.columns]
    try:
        graph = CausalGraph(cols, [], {c: k for c, k in (kinds or {}).items() if c in cols})
        schema_from_frame(validate_table(df.set_axis(cols, axis=1), graph, source=name), graph)
    except (DataError, GraphError) as e:
        return str(e)
    return None


def summary_table(df: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per column: kind, missing and distinct counts; mean, spread and quartiles of
    a continuous column; the most frequent value and its share for a discrete one."""
    kinds = {**infer_kinds(df), **dict(kinds or {})}
    rows = []
    for c in df.columns:
        col, kind = df[c], kinds[str(c)]
        values = col.dropna()
        row: dict[str, Any] = {"column": str(c), "kind": kind, "missing": int(col.isna().sum()), "distinct": int(values.nunique())}
        if kind == "continuous":
            x = pd.to_numeric(values, errors="coerce").dropna()
            x = x[np.isfinite(x.to_numpy(dtype=np.float64))]
            if len(x):
                q = x.quantile([0.25, 0.5, 0.75]).to_numpy()
                row.update(mean=x.mean(), std=x.std(), min=x.min(), q25=q[0], median=q[1], q75=q[2], max=x.max())
        elif len(values):
            freq = values.value_counts()
            row.update(top=str(freq.index[0]), top_share=float(freq.iloc[0] / len(values)))
        rows.append(row)
    cols = ["column", "kind", "missing", "distinct", "mean", "std", "min", "q25", "median", "q75", "max", "top", "top_share"]
    return pd.DataFrame(rows).reindex(columns=cols).set_index("column")


# ---------------------------------------------------------------------- figures
def _order(v: Any) -> tuple:
    """Sort key for category values: ``app.plots.category_key`` (numbers and ranges such
    as ``<20``, ``20-34``, ``>65`` in numeric order, then other text)."""
    from app.plots import category_key

    return category_key(v)


def _codes(col: pd.Series) -> tuple[np.ndarray, list[Any]]:
    cats = sorted(pd.unique(col.dropna()), key=_order)
    index = {v: i for i, v in enumerate(cats)}
    return np.array([index.get(v, np.nan) for v in col], dtype=np.float64), cats


def _short(v: Any, width: int = 12) -> str:
    text = str(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def scatter_matrix_figure(
    df: pd.DataFrame,
    kinds: Mapping[str, str] | None = None,
    color: str | None = None,
    max_rows: int = SCATTER_ROWS,
    max_columns: int = SCATTER_COLUMNS,
    seed: int = 0,
) -> go.Figure:
    """Pairwise plots of up to ``max_columns`` columns on at most ``max_rows`` rows (a
    seeded random subsample), one panel per pair below the diagonal: two continuous
    columns as a scatter; a discrete column along an axis as its categories (in their
    natural order, ``<20`` before ``20-34``), the points jittered; two discrete columns as a
    heatmap of how often each pair of values occurs (points would pile up). Each column is
    named once, below its column of panels and left of its row. A discrete ``color``
    column colours the points, one legend entry per value.

    Drawn as SVG, not WebGL: browsers cap WebGL contexts per page, and a page past the cap
    shows blank plots."""
    kinds = {**infer_kinds(df), **dict(kinds or {})}
    rng = np.random.default_rng(seed)
    if len(df) > max_rows:
        df = df.iloc[np.sort(rng.choice(len(df), size=max_rows, replace=False))]
    names = [str(c) for c in df.columns if str(c) != color][:max_columns]
    fig = go.Figure()
    if len(names) < 2:
        fig.update_layout(height=120, annotations=[dict(text="Pairwise plots need two columns.", showarrow=False,
                                                        xref="paper", yref="paper", x=0.5, y=0.5)])
        return fig
    axes: dict[str, dict[str, Any]] = {}  # per column: values to plot, and its axis (ticks)
    for c in names:
        if kinds[c] == "continuous":
            axes[c] = dict(values=pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64), axis={})
        else:
            codes, cats = _codes(df[c])
            axes[c] = dict(values=codes + rng.uniform(-0.25, 0.25, len(codes)), codes=codes, cats=cats, axis=dict(
                tickvals=list(range(len(cats))), ticktext=[_short(v) for v in cats], range=[-0.6, len(cats) - 0.4],
                tickangle=-40 if len(cats) > 3 else 0))
    groups: list[tuple[str | None, np.ndarray, str]] = [(None, np.ones(len(df), dtype=bool), "#4a78a8")]
    if color is not None and color in df.columns:
        _, cats = _codes(df[color])
        palette = qualitative.Plotly
        groups = [(f"{color} = {v}", (df[color] == v).to_numpy(), palette[i % len(palette)])
                  for i, v in enumerate(cats[:MAX_BARS])]
    k = len(names) - 1  # a k x k grid: rows are names[1:], columns names[:-1]
    gap = 0.1 / k if k > 1 else 0.0
    side = (1 - gap * (k - 1)) / k
    layout: dict[str, Any] = {}
    shown: set[str] = set()
    for r in range(k):
        for col in range(r + 1):
            x, y = names[col], names[r + 1]
            i = r * k + col + 1
            ax = "" if i == 1 else str(i)
            # clamped: the last panel's edge is 0 or 1 only up to rounding (-5.6e-17 for a 4 x 4 grid), and
            # Plotly refuses a domain outside [0, 1]
            x0, y1 = max(0.0, col * (side + gap)), min(1.0, 1 - r * (side + gap))
            layout[f"xaxis{ax}"] = dict(domain=[x0, min(1.0, x0 + side)], anchor=f"y{ax}", showgrid=False, zeroline=False,
                                        showticklabels=r == k - 1, title=dict(text=x if r == k - 1 else ""),
                                        **axes[x]["axis"])
            layout[f"yaxis{ax}"] = dict(domain=[max(0.0, y1 - side), y1], anchor=f"x{ax}", showgrid=False, zeroline=False,
                                        showticklabels=col == 0, title=dict(text=y if col == 0 else ""),
                                        **axes[y]["axis"])
            ref = dict(xaxis=f"x{ax}", yaxis=f"y{ax}")
            if "cats" in axes[x] and "cats" in axes[y]:
                nx, ny = len(axes[x]["cats"]), len(axes[y]["cats"])
                ok = ~(np.isnan(axes[x]["codes"]) | np.isnan(axes[y]["codes"]))
                counts = np.zeros((ny, nx))
                np.add.at(counts, (axes[y]["codes"][ok].astype(int), axes[x]["codes"][ok].astype(int)), 1.0)
                fig.add_trace(go.Heatmap(
                    z=counts / max(counts.sum(), 1.0), x=list(range(nx)), y=list(range(ny)), colorscale="Blues",
                    showscale=False, hovertemplate=f"{x} = %{{x}}, {y} = %{{y}}: %{{z:.1%}} of rows<extra></extra>",
                    **ref))
                continue
            for name, mask, colour in groups:
                fig.add_trace(go.Scatter(
                    x=axes[x]["values"][mask], y=axes[y]["values"][mask], mode="markers", name=name or "",
                    legendgroup=name or "", showlegend=name is not None and name not in shown,
                    marker=dict(color=colour, size=3.5, opacity=0.5, line=dict(width=0)), hoverinfo="skip", **ref))
                if name is not None:
                    shown.add(name)
    fig.update_layout(
        **layout, height=int(min(1000, 120 + 170 * k)), margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
        paper_bgcolor="white", font=dict(family=FONT, size=11), hovermode="closest", showlegend=bool(shown),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0),
    )
    return fig


def histograms_figure(df: pd.DataFrame, kinds: Mapping[str, str] | None = None, columns: int = 4, bins: int = 30) -> go.Figure:
    """One panel per column: a histogram of a continuous column, bars of a discrete one's
    value counts (the ``MAX_BARS`` most frequent, the rest as "other")."""
    kinds = {**infer_kinds(df), **dict(kinds or {})}
    names = [str(c) for c in df.columns]
    cols = max(1, min(columns, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"<b>{c}</b> <span style='color:#888'>{kinds[c]}</span>" for c in names],
                        horizontal_spacing=0.05, vertical_spacing=min(0.3, 60 / (230 * rows)))
    for i, c in enumerate(df.columns):
        r, k = i // cols + 1, i % cols + 1
        values = df[c].dropna()
        if kinds[str(c)] == "continuous":
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            x = x[np.isfinite(x)]
            fig.add_trace(go.Histogram(x=x, nbinsx=bins, marker=dict(color="#4a78a8"), showlegend=False,
                                       hovertemplate=f"{c}: %{{x}}<br>%{{y}} rows<extra></extra>"), row=r, col=k)
        else:
            freq = values.value_counts()
            if len(freq) > MAX_BARS:
                freq = pd.concat([freq.iloc[:MAX_BARS], pd.Series({"other": freq.iloc[MAX_BARS:].sum()})])
            else:
                freq = freq.loc[sorted(freq.index, key=_order)]
            fig.add_trace(go.Bar(x=[str(v) for v in freq.index], y=freq.to_numpy(), marker=dict(color="#3f8f55"), showlegend=False,
                                 hovertemplate=f"{c} = %{{x}}: %{{y}} rows<extra></extra>"), row=r, col=k)
            fig.update_xaxes(type="category", row=r, col=k)
    fig.update_layout(
        height=60 + 230 * rows, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white", paper_bgcolor="white",
        font=dict(family=FONT, size=11), bargap=0.05,
    )
    fig.update_yaxes(showticklabels=False, showgrid=False)
    fig.update_xaxes(showgrid=False)
    for a in fig.layout.annotations:
        a.font = dict(size=12, family=FONT)
    return fig
