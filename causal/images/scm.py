"""Ground-truth image SCMs: a label SCM and a renderer, with exact samples and counterfactual images."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.images.data import IMAGE_NODE, ImageData, ImageDataError, check_size
from causal.limits import check_images
from causal.queries import Seed
from causal.scm import SCM

__all__ = ["ImageSCM"]

Renderer = Callable[[pd.DataFrame, np.ndarray, int], np.ndarray]
StyleSampler = Callable[[np.random.Generator, int], np.ndarray]

_CHUNK = 256  # images rendered per vectorized batch (keeps temporaries in cache)


class ImageSCM:
    """A ground-truth image SCM: a label SCM and a renderer ``(labels, style, size) -> images``.

    The graph is the label graph plus one node of kind ``"image"`` (``image_node``) whose
    parents are ``image_parents``. ``style`` is exogenous: drawn independently of the
    labels by ``style_sampler``, one row of ``len(style_names)`` floats per image.

    ``sample`` draws the labels with the shared query code (so ``do`` and ``given`` mean
    exactly what they mean for tables, with common random numbers: the same seed gives the
    same label noise and the same style whatever the intervention). ``counterfactual`` is
    exact: Pearl's abduction, action and prediction on the labels, the same style, and the
    image re-drawn.
    """

    def __init__(
        self,
        name: str,
        scm: SCM,
        renderer: Renderer,
        style_sampler: StyleSampler,
        style_names: Sequence[str],
        image_parents: Sequence[str],
        channels: int,
        image_node: str = IMAGE_NODE,
    ) -> None:
        unknown = [p for p in image_parents if p not in scm.graph]
        if unknown:
            raise ValueError(f"image SCM '{name}': image parent(s) {', '.join(unknown)} are not label nodes")
        self.name = name
        self.scm = scm
        self.renderer = renderer
        self.style_sampler = style_sampler
        self.style_names = tuple(style_names)
        self.image_parents = tuple(image_parents)
        self.channels = int(channels)
        self.image_node = image_node
        self.graph = scm.graph.with_edges(*[(p, image_node) for p in image_parents]).with_kinds({image_node: "image"})

    @property
    def label_graph(self) -> CausalGraph:
        return self.scm.graph

    @property
    def label_nodes(self) -> tuple[str, ...]:
        return self.scm.graph.nodes

    def __repr__(self) -> str:
        return f"ImageSCM({self.name!r}, {self.graph.to_text()!r})"

    # ------------------------------------------------------------------ pieces
    def draw_style(self, n: int, seed: Seed = None) -> np.ndarray:
        """``n`` rows of exogenous style, ``[n, len(style_names)]`` float64."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        style = np.asarray(self.style_sampler(rng, n), dtype=np.float64).reshape(n, len(self.style_names))
        return style

    def render(self, labels: pd.DataFrame, style: np.ndarray | None = None, size: int = 32) -> np.ndarray:
        """The images of the given label rows and style: uint8 ``[n, size, size, channels]``."""
        check_size(size)
        missing = [p for p in self.image_parents if p not in labels.columns]
        if missing:
            raise ImageDataError(
                f"cannot draw {self.name} images: the labels have no column {', '.join(missing)}; "
                f"their columns are {', '.join(map(str, labels.columns)) or '(none)'}"
            )
        k = len(self.style_names)
        if style is None:
            if k:
                raise ImageDataError(f"{self.name} images need a style ({', '.join(self.style_names)}); "
                                     "draw one with draw_style or take it from the sampled ImageData")
            style = np.zeros((len(labels), 0))
        style = np.asarray(style, dtype=np.float64)
        if style.shape != (len(labels), k):
            raise ImageDataError(f"{self.name} style must have shape ({len(labels)}, {k}), got {style.shape}")
        out = np.empty((len(labels), size, size, self.channels), dtype=np.uint8)
        for a in range(0, len(labels), _CHUNK):
            out[a:a + _CHUNK] = self.renderer(labels.iloc[a:a + _CHUNK], style[a:a + _CHUNK], size)
        return out

    # ------------------------------------------------------------------ queries
    def sample(
        self,
        n: int,
        do: Mapping[str, Any] | None = None,
        seed: Seed = None,
        size: int = 32,
        given: Mapping[str, Any] | None = None,
        **conditioning: Any,
    ) -> ImageData:
        """``n`` images with their labels and style: observational, under ``do``, or
        conditioned on ``given`` (by rejection, see ``causal.queries.sample_conditional``)."""
        check_size(size)
        check_images(n, size, size, self.channels)
        label_rng, style_rng = _streams(seed)
        labels = self.scm.sample(n, do=do, given=given, seed=label_rng, **conditioning)
        style = self.draw_style(len(labels), style_rng)
        return ImageData(labels, self.render(labels, style, size), image_node=self.image_node, style=style)

    def counterfactual(self, data: ImageData, do: Mapping[str, Any] | None = None, seed: Seed = None) -> ImageData:
        """The exact counterfactual of each image under ``do``: same index, same style.

        Labels follow ``SCM.counterfactual`` (abduction, action, prediction; for a binary
        descendant the abducted noise is a draw from its posterior, ``seed``). Rows whose
        labels do not change keep their image untouched; the others are re-drawn at the
        data's size with the row's own style.
        """
        if not isinstance(data, ImageData):
            raise ImageDataError(f"counterfactual needs an ImageData, got {type(data).__name__}")
        style = data.style
        if style is None:
            if self.style_names:
                raise ImageDataError(
                    f"these {self.name} images have no ground-truth style, so their exact counterfactual is unknown; "
                    "use images sampled from this dataset (ImageData.style keeps the style)"
                )
            style = np.zeros((len(data), 0))
        if data.channels != self.channels:
            raise ImageDataError(f"{self.name} images have {self.channels} channel(s), these have {data.channels}")
        cf = self.scm.counterfactual(data.labels, do, seed)
        nodes = list(self.scm.graph.nodes)
        changed = ~(cf[nodes].to_numpy() == data.labels[nodes].to_numpy()).all(axis=1)
        images = data.images.copy()
        rows = np.flatnonzero(changed)
        if len(rows):
            images[rows] = self.render(cf.iloc[rows], np.asarray(style)[rows], data.size)
        return ImageData(cf, images, image_node=data.image_node, style=data.style)


def _streams(seed: Seed) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators (labels, style) from one seed."""
    if isinstance(seed, np.random.Generator):
        a, b = seed.integers(0, 2**63 - 1, size=2)
        return np.random.default_rng(int(a)), np.random.default_rng(int(b))
    ss = np.random.SeedSequence(seed)
    a, b = ss.spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)

