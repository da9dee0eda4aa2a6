"""Morpho-MNIST on disk (Castro et al. 2019): the reader of its files, and Deep SCM's graph over them."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.images.data import ImageData, ImageDataError

__all__ = ["load_morpho_mnist", "morpho_graph"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format, gzip or not) as an array; an error naming the file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ImageDataError(f"cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ImageDataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 0
    if len(raw) != header + count * dtype.itemsize:
        raise ImageDataError(f"{path} is truncated or corrupt: a {dims} array needs "
                             f"{header + count * dtype.itemsize} bytes, the file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header, count=count).reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for p in (folder / f"{stem}.gz", folder / stem):
        if p.is_file():
            return p
    return None


def load_morpho_mnist(folder: str | os.PathLike, split: str = "t10k", n: int | None = None) -> ImageData:
    """Read a Morpho-MNIST split: ``{split}-images-idx3-ubyte[.gz]``, ``{split}-morpho.csv``
    and, when present, ``{split}-labels-idx1-ubyte[.gz]`` (Castro et al. 2019).

    Labels: the CSV's morphometric columns in file order (``thickness``, ``intensity`` in the
    Deep SCM files; ``area``, ``length``, ``slant``, ... when present), and ``digit`` (int)
    when the label file is there. Grey images ``[n, 28, 28, 1]``, white digits on black;
    row ``k`` is digit ``k`` of the files (the CSV's ``index`` column says which).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageDataError(f"no Morpho-MNIST folder at {folder}")
    img_path = _find(folder, f"{split}-images-idx3-ubyte")
    csv_path = folder / f"{split}-morpho.csv"
    if img_path is None:
        raise ImageDataError(f"{folder} has no {split}-images-idx3-ubyte(.gz); is '{split}' the right split?")
    if not csv_path.is_file():
        raise ImageDataError(f"{folder} has no {csv_path.name} with the thickness and intensity of each digit")
    images = _read_idx(img_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ImageDataError(f"{img_path} holds a {images.dtype} array of shape {images.shape}, not [n, 28, 28] bytes")
    try:
        table = pd.read_csv(csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise ImageDataError(f"cannot read {csv_path} as CSV: {str(e).splitlines()[0]}") from None
    for col in ("thickness", "intensity"):
        if col not in table.columns:
            raise ImageDataError(f"{csv_path} has no '{col}' column; its columns are {', '.join(map(str, table.columns))}")
    if "index" in table.columns:
        idx = table.pop("index").to_numpy()
        if not np.array_equal(idx, np.arange(len(table))):
            order = np.argsort(idx, kind="stable")
            if not np.array_equal(idx[order], np.arange(len(table))):
                raise ImageDataError(f"{csv_path}: the 'index' column is not a permutation of 0..{len(table) - 1}")
            table = table.iloc[order].reset_index(drop=True)
    if len(table) != len(images):
        raise ImageDataError(f"{csv_path} has {len(table)} rows but {img_path.name} holds {len(images)} images")
    table = table.apply(pd.to_numeric, errors="raise").astype(np.float64) if len(table.columns) else table
    lab_path = _find(folder, f"{split}-labels-idx1-ubyte")
    if lab_path is not None:
        digits = _read_idx(lab_path)
        if digits.shape != (len(images),):
            raise ImageDataError(f"{lab_path} holds {digits.shape} labels for {len(images)} images")
        table["digit"] = digits.astype(np.int64)
    if n is not None:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ImageDataError(f"n must be a positive integer, got {n!r}")
        table, images = table.iloc[:n], images[:n]
    return ImageData(table, np.ascontiguousarray(images)[..., None])


def morpho_graph(digit: bool = False) -> CausalGraph:
    """Deep SCM's Morpho-MNIST graph: thickness -> intensity, both (and ``digit``) -> image."""
    text = "thickness -> intensity; thickness -> image; intensity -> image" + ("; digit -> image" if digit else "")
    kinds = {"image": "image", **({"digit": "categorical"} if digit else {})}
    return CausalGraph.parse(text).with_kinds(kinds)
