"""Images with attribute labels: the one container that image datasets, loaders and image models share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["ImageData", "ImageDataError", "image_grid", "IMAGE_NODE"]

IMAGE_NODE = "image"  # the default name of the image node in a graph
_MIN_SIZE, _MAX_SIZE = 8, 512


class ImageDataError(ValueError):
    """Images or their labels cannot be read or do not fit; the message names the file."""


@dataclass(frozen=True)
class ImageData:
    """Label rows and their images, aligned by position.

    ``labels`` is a label table (one column per label node, in any order; the index names
    the samples) and ``images`` a ``uint8`` array of images, one per row, ``[n, height,
    width, channels]`` with 1 (grey) or 3 (RGB) channels. In a ``CausalGraph`` the images
    are one node of kind ``"image"`` (``image_node``), whose parents are the labels it
    depends on.

    ``style`` optionally holds, per row, the exogenous factors a *ground-truth* renderer
    used beyond the labels (face shape, stroke path ...). Models never see it; built-in
    datasets use it to re-render the exact counterfactual image of a row.

    >>> import numpy as np, pandas as pd
    >>> d = ImageData(pd.DataFrame({"a": [0, 1, 1]}), np.zeros((3, 8, 8, 1), np.uint8))
    >>> len(d), d.size, d.channels
    (3, 8, 1)
    >>> d[1:].labels.index.tolist()
    [1, 2]
    >>> d.tensor().shape
    torch.Size([3, 1, 8, 8])
    """

    labels: pd.DataFrame
    images: np.ndarray  # uint8 [n, H, W, C], C in (1, 3)
    image_node: str = IMAGE_NODE
    style: np.ndarray | None = None  # ground truth only: [n, k] float exogenous render factors

    def __post_init__(self) -> None:
        if not isinstance(self.labels, pd.DataFrame):
            raise ValueError(f"labels must be a pandas DataFrame, got {type(self.labels).__name__}")
        imgs = np.asarray(self.images)
        if imgs.ndim == 3:  # [n, H, W]: grey
            imgs = imgs[..., None]
        if imgs.ndim != 4 or imgs.shape[-1] not in (1, 3):
            raise ValueError(
                f"images must be an array [n, height, width, channels] with 1 or 3 channels, got shape {imgs.shape}"
            )
        if imgs.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (0-255), got {imgs.dtype}; use ImageData.from_float for [0, 1] floats")
        if len(imgs) != len(self.labels):
            raise ValueError(f"{len(imgs)} images but {len(self.labels)} label rows; they must match one to one")
        if self.image_node in self.labels.columns:
            raise ValueError(f"the label table has a column named '{self.image_node}', the image node's name")
        if self.style is not None and len(self.style) != len(imgs):
            raise ValueError(f"style has {len(self.style)} rows for {len(imgs)} images")
        object.__setattr__(self, "images", imgs)

    # ------------------------------------------------------------------ shape
    def __len__(self) -> int:
        return len(self.images)

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def size(self) -> int:
        """The side of square images (the height when they are not square)."""
        return self.height

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    @property
    def index(self) -> pd.Index:
        return self.labels.index

    def __repr__(self) -> str:
        return (f"ImageData({len(self)} images {self.height}x{self.width}x{self.channels}, "
                f"labels {list(self.labels.columns)}, image node '{self.image_node}')")

    # ------------------------------------------------------------------ selection
    def __getitem__(self, key: slice | Sequence[int] | np.ndarray) -> "ImageData":
        """Rows by position: a slice, integer positions or a boolean mask."""
        if isinstance(key, (int, np.integer)):
            key = [int(key)]
        pos = np.arange(len(self))[key]
        return replace(
            self,
            labels=self.labels.iloc[pos],
            images=self.images[pos],
            style=None if self.style is None else self.style[pos],
        )

    def head(self, n: int = 5) -> "ImageData":
        return self[:n]

    def with_labels(self, labels: pd.DataFrame) -> "ImageData":
        """The same images with another label table (same length)."""
        return replace(self, labels=labels)

    def with_images(self, images: np.ndarray) -> "ImageData":
        """The same labels with other images (same length); ``style`` no longer applies."""
        return replace(self, images=images, style=None)

    # ------------------------------------------------------------------ conversion
    def floats(self) -> np.ndarray:
        """Images as float32 in [0, 1], ``[n, H, W, C]``."""
        return self.images.astype(np.float32) / 255.0

    def tensor(self, device: Any = None) -> Any:
        """Images as a torch float32 tensor in [0, 1], ``[n, C, H, W]`` (channels first)."""
        import torch

        t = torch.from_numpy(np.ascontiguousarray(self.images.transpose(0, 3, 1, 2)))
        return t.to(device=device, dtype=torch.float32).div_(255.0)

    @classmethod
    def from_float(cls, labels: pd.DataFrame, images: Any, **kw: Any) -> "ImageData":
        """From floats in [0, 1]: a numpy array ``[n, H, W, C]`` or a torch tensor
        ``[n, C, H, W]`` (clipped, rounded to uint8)."""
        if hasattr(images, "detach"):  # torch, channels first
            images = images.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
        arr = np.asarray(images, dtype=np.float32)
        return cls(labels, np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8), **kw)

    def grid(self, columns: int = 8, pad: int = 1) -> np.ndarray:
        """The images tiled row by row (see ``image_grid``)."""
        return image_grid(self.images, columns=columns, pad=pad)


def image_grid(images: np.ndarray, columns: int = 8, pad: int = 1, fill: int = 255) -> np.ndarray:
    """Tile ``[n, H, W, C]`` uint8 images into one ``[rows·(H+pad)+pad, ...]`` image with
    ``fill``-coloured gaps; grey images stay one channel."""
    imgs = np.asarray(images)
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    n, h, w, c = imgs.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, columns)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = imgs[i]
    return out


def check_size(size: Any) -> None:
    """``ImageDataError`` unless ``size`` is an integer number of pixels the renderers and readers accept."""
    if not isinstance(size, (int, np.integer)) or not _MIN_SIZE <= size <= _MAX_SIZE:
        raise ImageDataError(f"image size must be an integer from {_MIN_SIZE} to {_MAX_SIZE} pixels, got {size!r}")
