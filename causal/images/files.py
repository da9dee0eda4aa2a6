"""Folders and .zip archives of labelled PNG/JPEG images: reading them, writing them, and saving PNGs."""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from causal.images.data import IMAGE_NODE, ImageData, ImageDataError, check_size, image_grid
from causal import limits
from causal.limits import read_bytes

__all__ = ["IMAGE_SUFFIXES", "load_image_folder", "save_image_folder", "save_png"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class _Source:
    """Files in a folder or a .zip, by normalized relative name. Bounded: all of them at most
    ``causal.limits.MAX_UNPACKED_BYTES`` (unpacked), each image at most
    ``MAX_IMAGE_FILE_BYTES``, checked from the sizes before anything is read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.files: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts):
                    name = p.relative_to(path).as_posix()
                    self.files[name], self.sizes[name] = p, p.stat().st_size
        elif path.is_file() and zipfile.is_zipfile(path):
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise ImageDataError(f"cannot read {path} as a .zip archive: {e}") from None
            for zi in self.zip.infolist():
                name = _normalize(zi.filename)
                if zi.is_dir() or name.startswith("__MACOSX/") or any(s.startswith(".") for s in name.split("/")):
                    continue
                if name in self.files:
                    raise ImageDataError(f"{path} holds the file '{name}' twice; keep one")
                self.files[name], self.sizes[name] = zi, zi.file_size
        elif path.exists() and not path.is_file():
            raise ImageDataError(f"{path} is not a folder, a .zip archive or a regular file (a device or FIFO?)")
        elif path.is_file():
            raise ImageDataError(f"{path} is neither a folder nor a .zip archive of images")
        else:
            raise ImageDataError(f"no such folder or .zip: {path}")
        total = sum(self.sizes.values())
        if total > limits.MAX_UNPACKED_BYTES:
            self.close()
            raise ImageDataError(f"{path} holds {total / 2**20:,.0f} MB of files (unpacked); up to "
                                 f"{limits.MAX_UNPACKED_BYTES // 2**20:,} MB of images can be read")

    def read(self, name: str, limit: int | None = None) -> bytes:
        """One file's bytes, refused before reading when it is larger than ``limit``
        (default ``causal.limits.MAX_IMAGE_FILE_BYTES``)."""
        limit = limits.MAX_IMAGE_FILE_BYTES if limit is None else limit
        entry = self.files[name]
        if self.sizes[name] > limit:
            raise ImageDataError(f"'{name}' in {self.path} is {self.sizes[name] / 2**20:,.1f} MB; a file may be at "
                                 f"most {limit / 2**20:,.0f} MB")
        try:
            if self.zip is not None:
                return self.zip.read(entry)
            return read_bytes(entry, limit, "file")
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ImageDataError(f"cannot read '{name}' in {self.path}: {e}") from None

    def images(self) -> list[str]:
        return [k for k in self.files if k.lower().endswith(IMAGE_SUFFIXES)]

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _normalize(name: str) -> str:
    s = str(name).strip().replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return str(PurePosixPath(s)) if s else s


def _decode_image(data: bytes, name: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # our own bound below says it better than PIL's bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # reads the header only: the size is known before the pixels
        if img.size[0] * img.size[1] > limits.MAX_IMAGE_PIXELS:
            side = int(limits.MAX_IMAGE_PIXELS ** 0.5)
            raise ImageDataError(f"the image '{name}' is {img.size[0]}x{img.size[1]} pixels; images up to {side}x{side} "
                                 "can be read (they are resized to 28-64 px to train): shrink it first")
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, ImageDataError):
            raise
        raise ImageDataError(f"cannot read the image '{name}': {e}; the file is corrupt or not a PNG/JPEG") from None
    if img.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F", "LA", "La"):
        if img.mode in ("LA", "La"):
            img = Image.alpha_composite(Image.new("LA", img.size, (255, 255)), img.convert("LA"))
        if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            arr = np.asarray(img, dtype=np.float64)
            top = 65535.0 if arr.max() > 255 else 255.0
            img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8))
        return img.convert("L")
    if img.mode in ("RGBA", "PA", "P", "RGBa") and ("transparency" in img.info or "A" in img.mode):
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img.convert("RGBA"))
    return img.convert("RGB")


def _square_resize(img: Any, size: int) -> Any:
    """Centre-crop to a square, then resize to ``size`` × ``size`` (Lanczos)."""
    from PIL import Image

    w, h = img.size
    if w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return img


def _read_labels(src: _Source, labels_csv: str | os.PathLike | None) -> tuple[pd.DataFrame | None, str]:
    if labels_csv is None:
        cands = [k for k in src.files if PurePosixPath(k).name.lower() == "labels.csv"]
        cands.sort(key=lambda k: k.count("/"))
        if not cands:
            return None, ""
        name, raw = cands[0], src.read(cands[0], limits.MAX_TABLE_BYTES)
        where = f"'{name}' in {src.path}"
    else:
        p = Path(labels_csv)
        key = _normalize(str(labels_csv))
        if p.exists() and not p.is_dir():
            try:
                raw, where = read_bytes(p, limits.MAX_TABLE_BYTES, "labels CSV"), str(p)
            except (OSError, ValueError) as e:
                raise ImageDataError(f"cannot read the labels CSV {p}: {e}") from None
        elif key in src.files:
            raw, where = src.read(key, limits.MAX_TABLE_BYTES), f"'{key}' in {src.path}"
        else:
            raise ImageDataError(f"no such labels CSV: {labels_csv}")
    from causal.data import read_table

    try:
        table = read_table(raw, name=where)  # the one CSV reader: separators, encodings, repeated names
    except ValueError as e:
        raise ImageDataError(str(e)) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table, where


def load_image_folder(
    path: str | os.PathLike,
    labels_csv: str | os.PathLike | None = None,
    size: int | None = None,
    image_column: str = "file",
    channels: int | None = None,
) -> ImageData:
    """Read PNG/JPEG images from a folder or a .zip, with their labels from a CSV.

    The CSV (``labels_csv``: a path, or a file name inside the folder/zip; by default a
    ``labels.csv`` found there) has one row per image: ``image_column`` names the image
    file relative to the folder (a bare file name also matches an image in a subfolder when
    unique); the other columns are the labels. Only listed images are read; without a CSV
    every image is read and the label table has no columns. The labels' index is the file
    names. Grey images give 1 channel, colour 3 (transparency composited on white).

    ``size`` resizes every image to ``size`` × ``size`` (centre-cropped to a square first)
    and, if grey and colour images are mixed, makes them all RGB; without it, every image
    must have the size and mode of the first. ``channels`` (1 or 3) forces grey or RGB.

    Raises ``ImageDataError`` naming the file: unreadable or corrupt image, image listed
    but missing, different sizes or modes, no ``image_column`` in the CSV, a file listed
    twice. It reads only: nothing on disk changes.
    """
    if size is not None:
        check_size(size)
    if channels not in (None, 1, 3):
        raise ImageDataError(f"channels must be 1 (grey), 3 (RGB) or None (as the files are), got {channels!r}")
    src = _Source(Path(path))
    try:
        table, where = _read_labels(src, labels_csv)
        available = src.images()
        if table is None:
            names = available
            if not names:
                raise ImageDataError(f"{src.path} holds no PNG or JPEG images")
            labels = pd.DataFrame(index=pd.Index(names, name=image_column))
        else:
            if image_column not in table.columns:
                raise ImageDataError(
                    f"the labels CSV {where} has no '{image_column}' column naming each image's file; its columns are "
                    f"{', '.join(table.columns) or '(none)'}. Add one, or pass image_column= the column that names the files"
                )
            if table[image_column].isna().any():
                row = int(np.flatnonzero(table[image_column].isna().to_numpy())[0])
                raise ImageDataError(f"the labels CSV {where} has an empty '{image_column}' in data row {row + 1}")
            listed = [_normalize(v) for v in table[image_column].astype(str)]
            seen: dict[str, int] = {}
            for i, v in enumerate(listed):
                if v in seen:
                    raise ImageDataError(
                        f"the labels CSV {where} lists the file '{v}' twice (data rows {seen[v] + 1} and {i + 1}); "
                        "each image must appear once")
                seen[v] = i
            by_base: dict[str, list[str]] = {}
            for k in available:
                by_base.setdefault(PurePosixPath(k).name, []).append(k)
            names = []
            for v in listed:
                if v in src.files:
                    names.append(v)
                elif len(by_base.get(PurePosixPath(v).name, [])) == 1 and "/" not in v:
                    names.append(by_base[v][0])
                else:
                    raise ImageDataError(f"the image '{v}' listed in {where} is not in {src.path}")
            dup = {k for k in names if names.count(k) > 1} if len(set(names)) < len(names) else set()
            if dup:
                raise ImageDataError(f"the labels CSV {where} names the image '{sorted(dup)[0]}' twice")
            labels = table.drop(columns=[image_column]).set_axis(pd.Index(listed, name=image_column), axis=0)
        pics = [_decode_image(src.read(k), k) for k in names]
    finally:
        src.close()

    modes = {im.mode for im in pics}
    if channels is not None:
        target = "L" if channels == 1 else "RGB"
    elif size is not None and len(modes) > 1:
        target = "RGB"
    else:
        target = None
        first = pics[0]
        for k, im in zip(names, pics):
            if im.mode != first.mode:
                raise ImageDataError(
                    f"the image '{k}' is {_mode_name(im.mode)} but '{names[0]}' is {_mode_name(first.mode)}; "
                    "give size= (or channels=1 or 3) to convert them all")
    if target is not None:
        pics = [im if im.mode == target else im.convert(target) for im in pics]
    if size is not None:
        pics = [_square_resize(im, size) for im in pics]
    else:
        first = pics[0]
        for k, im in zip(names, pics):
            if im.size != first.size:
                raise ImageDataError(
                    f"the image '{k}' is {im.size[0]}x{im.size[1]} pixels but '{names[0]}' is "
                    f"{first.size[0]}x{first.size[1]}; give size= to resize them all")
    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in pics])
    if arr.ndim == 3:
        arr = arr[..., None]
    if IMAGE_NODE in labels.columns:
        raise ImageDataError(f"the labels CSV {where} has a column named '{IMAGE_NODE}', the image node's name; rename it")
    return ImageData(labels, arr)


def _mode_name(mode: str) -> str:
    return "grey" if mode == "L" else "colour (RGB)" if mode == "RGB" else mode


_SAFE_NAME = re.compile(r"^[\w][\w.\-/]*\.png$")


def save_image_folder(data: ImageData, path: str | os.PathLike, image_column: str = "file",
                      overwrite: bool = False) -> Path:
    """Write each image as a PNG and the labels as ``labels.csv`` (``image_column`` first).

    File names are the labels' index when it holds safe ``.png`` names (so a folder read by
    ``load_image_folder`` round-trips), else ``00000.png, 00001.png, ...``. The CSV is written
    last, so an interrupted save leaves no labels file. An existing ``labels.csv`` is an
    error unless ``overwrite``.
    """
    from PIL import Image

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ImageDataError(f"cannot save images into {folder}: it is a file")
    target = folder / "labels.csv"
    if target.exists() and not overwrite:
        raise ImageDataError(f"{target} already exists; choose an empty folder or pass overwrite=True")
    if image_column in data.labels.columns:
        raise ImageDataError(f"the labels have a column named '{image_column}'; pass another image_column=")
    idx = [str(v) for v in data.labels.index]
    if all(_SAFE_NAME.match(v) and ".." not in v for v in idx) and len(set(idx)) == len(idx):
        names = idx
    else:
        width = max(5, len(str(len(data) - 1)))
        names = [f"{i:0{width}d}.png" for i in range(len(data))]
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in zip(names, data.images):
        out = folder / name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(out, format="PNG")
    table = data.labels.reset_index(drop=True)
    table.insert(0, image_column, names)
    tmp = folder / ".labels.csv.tmp"
    table.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)
    os.replace(tmp, target)
    return folder


def save_png(images: np.ndarray | ImageData, path: str | os.PathLike, columns: int = 8, pad: int = 1) -> Path:
    """Save one image (``[H, W]`` or ``[H, W, C]``) or a grid of many (``[n, H, W, C]`` or an
    ``ImageData``, tiled by ``causal.images.image_grid``) as a PNG."""
    from PIL import Image

    arr = images.images if isinstance(images, ImageData) else np.asarray(images)
    if arr.dtype != np.uint8:
        raise ImageDataError(f"save_png needs uint8 images (0-255), got {arr.dtype}")
    if arr.ndim == 4:
        arr = image_grid(arr, columns=columns, pad=pad)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ImageDataError(f"save_png cannot write an array of shape {np.asarray(images).shape}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(out, format="PNG", optimize=True)
    return out
