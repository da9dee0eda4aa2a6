"""Bounds on what the library reads and draws, in one place: file sizes, samples per call,
image sizes; and the one way a file is read under a bound (regular files only, never more
than the bound, so ``/dev/zero`` or a FIFO named as a file is refused, not read forever).

>>> check_draw(1000, 3)
>>> check_draw(10**9, 3)
Traceback (most recent call last):
...
causal.limits.SizeError: 1,000,000,000 samples of 3 nodes are 3,000,000,000 values; one call draws at most 20,000,000 (6,666,666 samples of 3 nodes): draw fewer, or in chunks (the CLI streams -n beyond this to its output in chunks)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "SizeError", "MAX_SAMPLE_VALUES", "MAX_IMAGE_BYTES", "MAX_TABLE_BYTES", "MAX_GRAPH_BYTES", "MAX_META_BYTES",
    "MAX_WEIGHTS_BYTES", "MAX_IMAGE_FILE_BYTES", "MAX_UNPACKED_BYTES", "MAX_IMAGE_PIXELS", "MAX_MAGNITUDE",
    "check_draw", "check_images", "check_file", "read_bytes", "read_text", "max_rows",
]

MAX_SAMPLE_VALUES = 20_000_000  # samples x nodes in one draw (about 45 bytes each at peak: under 1 GB)
MAX_IMAGE_BYTES = 2**30  # the uint8 pixels of the images one call returns (1 GiB)
MAX_TABLE_BYTES = 2**30  # a CSV file (1 GiB; pandas needs about 12x that in memory to train on it)
MAX_GRAPH_BYTES = 2**20  # a graph file (1 MiB: thousands of nodes)
MAX_META_BYTES = 64 * 2**20  # a checkpoint's model.json (its fit report holds one line per epoch)
MAX_WEIGHTS_BYTES = 8 * 2**30  # a checkpoint's model.safetensors
MAX_IMAGE_FILE_BYTES = 32 * 2**20  # one PNG/JPEG file (or zip entry) of an image folder
MAX_UNPACKED_BYTES = 2048 * 2**20  # all the files of an image folder or .zip, unpacked (as the app's upload)
MAX_IMAGE_PIXELS = 4096 * 4096  # one image's width x height (they are resized to 28-64 px to train)
MAX_MAGNITUDE = 1e300  # a continuous value beyond this leaves no room to standardize and generate around it


class SizeError(ValueError):
    """A request or a file larger than the library's bound; the message names the bound."""


def check_draw(n: int, width: int, what: str = "samples",
               advice: str = "draw fewer, or in chunks (the CLI streams -n beyond this to its output in chunks)") -> None:
    """Refuse drawing ``n`` ``what`` of ``width`` nodes at once when that exceeds
    ``MAX_SAMPLE_VALUES``; the message ends with ``advice``."""
    width = max(int(width), 1)
    if int(n) * width > MAX_SAMPLE_VALUES:
        raise SizeError(
            f"{int(n):,} {what} of {width} nodes are {int(n) * width:,} values; one call draws at most "
            f"{MAX_SAMPLE_VALUES:,} ({max_rows(width):,} {what} of {width} nodes): {advice}"
        )


def max_rows(width: int) -> int:
    """The most samples of ``width`` nodes one call may draw."""
    return max(1, MAX_SAMPLE_VALUES // max(int(width), 1))


def check_images(n: int, height: int, width: int, channels: int) -> None:
    """Refuse returning ``n`` images of that shape at once beyond ``MAX_IMAGE_BYTES``."""
    each = int(height) * int(width) * int(channels)
    if int(n) * each > MAX_IMAGE_BYTES:
        raise SizeError(
            f"{int(n):,} images of {height}x{width}x{channels} are {int(n) * each / 2**20:,.0f} MB; one call returns at "
            f"most {MAX_IMAGE_BYTES // 2**20:,} MB ({MAX_IMAGE_BYTES // each:,} images of this size): ask for fewer"
        )


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 2**10:,.0f} KB" if n >= 2**10 else f"{n} bytes"


def check_file(path: str | os.PathLike, limit: int, what: str = "file") -> int:
    """The size of the regular file ``path`` (symlinks followed); ``SizeError`` when it is
    larger than ``limit`` bytes, ``ValueError`` for a device, FIFO, socket or folder,
    ``FileNotFoundError`` when it does not exist."""
    p = Path(path)
    if str(path) == "":
        raise ValueError(f"no {what} named: the file name is empty")
    st = os.stat(p)  # FileNotFoundError (with its file name) when missing
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{p} is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{p} is not a regular file (a device, FIFO or socket); give a {what} on disk")
    if st.st_size > limit:
        raise SizeError(f"{p} is {_mb(st.st_size)}; a {what} may be at most {_mb(limit)}")
    return st.st_size


def read_bytes(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The contents of the regular file ``path``, refused (before reading) when larger than
    ``limit`` bytes, and never more than ``limit`` bytes read even if it grows meanwhile."""
    check_file(path, limit, what)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise SizeError(f"{path} grew past {_mb(limit)} while it was read; a {what} may be at most {_mb(limit)}")
    return data


def read_text(path: str | os.PathLike, limit: int, what: str = "file") -> str:
    """``read_bytes`` decoded as UTF-8 (a BOM dropped); ``ValueError`` naming the file when
    it is not text."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text file; a {what} is text") from None
