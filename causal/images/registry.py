"""The built-in image datasets with exact ground truth (pendulum, cartoon faces, morpho-glyphs): names, info, load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from causal.graph import CausalGraph
from causal.images import faces, glyphs, pendulum
from causal.images.data import ImageData, ImageDataError, image_grid
from causal.images.scm import ImageSCM

__all__ = ["ImageDataset", "ImageDatasetInfo", "names", "info", "load", "pixel_error", "example_grid"]


@dataclass(frozen=True)
class ImageDatasetInfo:
    """A built-in image dataset: name, what it shows, its graph and intervened nodes."""

    name: str
    description: str
    graph: CausalGraph
    intervene_on: tuple[str, ...]
    build: Callable[[], ImageSCM]

    @property
    def scm(self) -> ImageSCM:
        return self.build()


@dataclass(frozen=True)
class ImageDataset:
    """Images drawn from a known image SCM, with the SCM itself for exact answers."""

    name: str
    description: str
    data: ImageData
    graph: CausalGraph
    scm: ImageSCM
    intervene_on: tuple[str, ...] = ()


_REGISTRY: dict[str, ImageDatasetInfo] = {}


def _register(name: str, build: Callable[[], ImageSCM], intervene_on: tuple[str, ...], description: str) -> None:
    _REGISTRY[name] = ImageDatasetInfo(name, description, build().graph, intervene_on, build)


_register("pendulum", pendulum.image_scm, ("pendulum_angle", "light_angle"),
          "A pendulum lit by the sun (after CausalVAE): the pendulum and light angles cause the shadow's position "
          "and length; the picture shows all four. Intervene on the light and the shadow moves; intervene on the "
          "shadow and the sun stays put.")
_register("faces", faces.image_scm, ("Male", "Young", "Smiling", "Mustache", "Eyeglasses"),
          "Cartoon faces with nine binary attributes and CausalGAN's causal graph: Young and Male cause baldness, "
          "mustaches, lipstick, smiles ...; Smiling causes an open mouth and narrow eyes. Conditioning on "
          "Mustache = 1 gives almost only men; do(Mustache = 1) draws women with mustaches too.")
_register("morpho-glyphs", glyphs.image_scm, ("thickness", "intensity"),
          "Stroke glyphs with Morpho-MNIST's causal equations (Deep SCM): stroke thickness causes brightness "
          "(intensity); both are drawn in the image, so thicker strokes come out brighter unless you intervene.")


def names() -> list[str]:
    """Names of the built-in image datasets."""
    return list(_REGISTRY)


def info(name: str) -> ImageDatasetInfo:
    """Description, graph and protocol of a built-in image dataset (no images drawn)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown image dataset '{name}'; the built-in image datasets are {', '.join(_REGISTRY)}") from None


def load(name: str, n: int = 5000, seed: int | None = 0, size: int = 32) -> ImageDataset:
    """``n`` images (``size`` × ``size``) drawn from a built-in image SCM, with its graph and SCM.

    Because the renderer is known, the counterfactual image of any row under any ``do()``
    is exact (``ImageSCM.counterfactual``).

    >>> ds = load("faces", n=8, seed=0)
    >>> ds.data.images.shape, ds.graph.kind("image"), ds.graph.parents("image")[:3]
    ((8, 32, 32, 3), 'image', ('Male', 'Young', 'Bald'))
    >>> cf = ds.scm.counterfactual(ds.data, do={"Mustache": 1})
    >>> cf.labels["Mustache"].tolist() == [1] * 8 and cf.labels.index.equals(ds.data.labels.index)
    True
    """
    meta = info(name)
    scm = meta.build()
    data = scm.sample(n, seed=seed, size=size)
    return ImageDataset(name, meta.description, data, scm.graph, scm, meta.intervene_on)


def pixel_error(a: ImageData | np.ndarray, b: ImageData | np.ndarray) -> float:
    """Mean absolute pixel difference in [0, 1] units (0: identical, 1: black vs white)."""
    x = a.images if isinstance(a, ImageData) else np.asarray(a)
    y = b.images if isinstance(b, ImageData) else np.asarray(b)
    if x.shape != y.shape:
        raise ImageDataError(f"cannot compare images of shapes {x.shape} and {y.shape}")
    if x.size == 0:
        raise ImageDataError("cannot compare empty image sets")
    return float(np.mean(np.abs(x.astype(np.float32) - y.astype(np.float32))) / 255.0)


def example_grid(name: str, size: int = 64, seed: int = 0) -> np.ndarray:
    """A picture of a built-in dataset for the README (``assets/``): pendulum and glyphs
    as 4 x 8 samples; faces as rows of one person and their flipped attributes
    (factual, then do(A = 1 - a) for each attribute in ``FACE_ATTRIBUTES`` order)."""
    scm = info(name).build()
    if name != "faces":
        return image_grid(scm.sample(32, seed=seed, size=size).images, columns=8, fill=150)
    data = scm.sample(5, seed=seed, size=size)
    rows = []
    for i in range(len(data)):
        row = data[i]
        flips = [row.images]
        for a in faces.FACE_ATTRIBUTES:
            flipped = row.labels.copy()
            flipped[a] = 1 - flipped[a]
            flips.append(scm.render(flipped, row.style, size))
        rows.append(np.concatenate(flips))
    return image_grid(np.concatenate(rows), columns=1 + len(faces.FACE_ATTRIBUTES))
