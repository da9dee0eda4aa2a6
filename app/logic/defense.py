"""Labelled images for the robust manifold defense (the ``defend`` command, scripts): a
built-in image dataset, a Morpho-MNIST folder (classes: the digit) or a folder of images
with a labels CSV, as float images at a generator's size with one class value each."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Labelled", "load_labelled", "MORPHO_ENV"]

MORPHO_ENV = "COUNTERFACTORY_MORPHO_MNIST"  # the Morpho-MNIST folder that --data morpho-mnist means


@dataclass(frozen=True)
class Labelled:
    """Images ``[n, C, H, W]`` in [0, 1], their class values, and what they are."""

    images: Tensor
    classes: list[Any]
    label: str
    source: str


def _is_morpho(folder: Path) -> bool:
    return any((folder / f"t10k-images-idx3-ubyte{s}").is_file() for s in ("", ".gz"))


def load_labelled(data: str, label: str | None, n: int, size: int, channels: int, seed: int = 0) -> Labelled:
    """``n`` labelled images at ``size`` x ``size`` with ``channels`` channels, from ``data``:

    - a built-in image dataset (``morpho-glyphs``: the class is the glyph drawn, 0-9; others:
      ``label`` names a label column), drawn with ``seed``;
    - ``morpho-mnist`` (the folder in ``$COUNTERFACTORY_MORPHO_MNIST``) or a Morpho-MNIST
      folder: the first ``n`` digits, class ``digit`` (28 px digits padded to 32 px when
      ``size`` is 32);
    - a folder (or .zip) of images with ``labels.csv``: the first ``n`` listed, ``label`` the
      class column.
    """
    from causal import images as imd
    from generators.inverse.defense import DefenseError, as_images

    if n < 1:
        raise DefenseError(f"the number of images must be positive, got {n}")
    if data in imd.names():
        ds = imd.load(data, n=n, seed=seed, size=size)
        if data == "morpho-glyphs" and label in (None, "glyph"):
            classes = [int(v) for v in ds.data.style[:, 0]]  # type: ignore[index]
            label = "glyph"
        else:
            cols = list(ds.data.labels.columns)
            if label not in cols:
                raise DefenseError(f"--label must name the class column of {data}: one of {', '.join(cols)}"
                                   + ("" if label is None else f" (got '{label}')"))
            classes = ds.data.labels[label].tolist()
        imgs = ds.data.images
        if imgs.shape[-1] != channels:
            raise DefenseError(f"{data} images have {imgs.shape[-1]} channel(s) but the generator draws {channels}")
        return Labelled(as_images(imgs), classes, label, f"{data} (seed {seed})")
    path = Path(data)
    if data == "morpho-mnist":
        env = os.environ.get(MORPHO_ENV)
        if not env:
            raise DefenseError(f"--data morpho-mnist reads the folder in ${MORPHO_ENV}; set it, or give the folder itself")
        path = Path(env)
    if not path.exists():
        raise DefenseError(f"--data {data}: no such built-in image dataset ({', '.join(imd.names())}), folder or file")
    if path.is_dir() and _is_morpho(path):
        mm = imd.load_morpho_mnist(path, n=n)
        label = label or "digit"
        if label not in mm.labels.columns:
            raise DefenseError(f"{path} has no '{label}' labels (for digits it needs t10k-labels-idx1-ubyte.gz); "
                               f"its labels are {', '.join(mm.labels.columns)}")
        imgs = mm.images
        if size == 32:
            imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2), (0, 0)))
        elif size != 28:
            raise DefenseError(f"Morpho-MNIST digits are 28 px (32 padded) but the generator draws {size} px images")
        if channels != 1:
            raise DefenseError(f"Morpho-MNIST digits are grey but the generator draws {channels}-channel images")
        return Labelled(as_images(imgs), mm.labels[label].tolist(), label, f"Morpho-MNIST {path}")
    folder = imd.load_image_folder(path, size=size, channels=channels)
    cols = list(folder.labels.columns)
    if label is None or label not in cols:
        raise DefenseError(f"--label must name the class column of {path}'s labels: one of {', '.join(cols) or '(none)'}"
                           + ("" if label is None else f" (got '{label}')"))
    k = min(n, len(folder))
    return Labelled(as_images(folder.images[:k]), folder.labels[label].tolist()[:k], label, str(path))
