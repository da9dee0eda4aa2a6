"""Image datasets with exact ground truth (pendulum, cartoon faces, morpho-glyphs), the
Morpho-MNIST reader, and reading/writing folders of labelled images.

A built-in image dataset is an ``ImageSCM``: a label SCM (``causal.scm.SCM``) plus a
renderer that draws each image from its labels and an exogenous *style* (skin tone, stroke
path ...). Because the renderer is known, the counterfactual image of any row under any
``do()`` is exact: abduct the label noise, intervene, predict the labels, re-draw with the
same style.

>>> ds = load("faces", n=8, seed=0)
>>> ds.data.images.shape, ds.graph.kind("image"), ds.graph.parents("image")[:3]
((8, 32, 32, 3), 'image', ('Male', 'Young', 'Bald'))
>>> cf = ds.scm.counterfactual(ds.data, do={"Mustache": 1})
>>> cf.labels["Mustache"].tolist() == [1] * 8 and cf.labels.index.equals(ds.data.labels.index)
True

The three ground-truth datasets
-------------------------------
**pendulum** (after CausalVAE, Yang et al. 2021; equations in docs/benchmarks.md): the
labels are the tabular ``pendulum`` SCM of ``causal.datasets`` (pendulum_angle and
light_angle in degrees, independent; shadow_position and shadow_length with N(0, 0.1²)
noise). The picture draws, in the window x ∈ [0, 20], y ∈ [−1, 21] stretched onto a
square image as CausalVAE's matplotlib axes did: the sun (radius 3, centre
(10 + 10·cot φ, 20.5)), the rod from the pivot (10, 10.5), the bob (radius 1.5) at its
tip, the pivot, and the shadow segment on the ground line y = −0.5. No style: the image
is a function of the four labels, all four its parents.

**faces**: binary CelebA-like attributes with CausalGAN's causal graph (Kocaoglu et al.
2017, "big" graph restricted to these nodes): Young → {Eyeglasses, Bald, Mustache,
Smiling, Lipstick, MouthOpen, NarrowEyes}; Male → {Bald, Mustache, Smiling, Lipstick,
NarrowEyes}; Smiling → {MouthOpen, NarrowEyes}. Conditional probabilities (``FACE_CPT``;
chosen to be plausible, near CelebA's marginals, not fitted to it)::

    P(Young=1) = 0.75               P(Male=1) = 0.42
    P(Eyeglasses=1 | Young)         old 0.15, young 0.03
    P(Bald=1 | Young, Male)         old: F 0.003, M 0.30;   young: F 0.001, M 0.03
    P(Mustache=1 | Young, Male)     old: F 0.002, M 0.28;   young: F 0.002, M 0.10
    P(Smiling=1 | Young, Male)      old: F 0.55,  M 0.40;   young: F 0.60,  M 0.45
    P(Lipstick=1 | Young, Male)     old: F 0.55,  M 0.005;  young: F 0.80,  M 0.01
    P(MouthOpen=1 | Young, Smiling) old: S0 0.10, S1 0.60;  young: S0 0.15, S1 0.75
    P(NarrowEyes=1 | Young, Male, Smiling)
                                    old:   F S0 0.08, F S1 0.25, M S0 0.10, M S1 0.30
                                    young: F S0 0.04, F S1 0.18, M S0 0.05, M S1 0.22

so P(Male | Mustache=1) = 0.981 exactly, while do(Mustache=1) leaves P(Male) = 0.42:
CausalGAN's signature contrast (conditioning gives men, intervening gives women with
mustaches too). Every attribute is drawn: Young=0 greys the hair and adds wrinkles;
Male=1 gives a squarer, wider jaw and short hair (Male=0: long hair to the shoulders);
Bald=1 a bare scalp with a highlight and side tufts; Eyeglasses, Mustache, Lipstick (red
lips), Smiling (curved mouth or grin), MouthOpen and NarrowEyes as named. Style
(``FACE_STYLE``): skin tone, hair colour, face width, x/y jitter, shirt colour.

**morpho-glyphs** (the Deep SCM Morpho-MNIST equations, Pawlowski et al. 2020):
thickness t = 0.5 + Gamma(10, rate 5); intensity i = 64 + 191·σ(2(t − 2.5) + 0.5·u),
u ~ N(0, 1); the image is one of ten digit-like stroke glyphs, white on black, drawn with
a stroke t pixels wide at 28 px (t·size/28 px at other sizes) and peak grey level i.
Style (``GLYPH_STYLE``): glyph index, scale, rotation, shear, x/y shift.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.datasets import GROUND_Y, PIVOT, ROD, _pendulum, logit, sigmoid
from causal.graph import CausalGraph
from causal.imagedata import IMAGE_NODE, ImageData, image_grid
from causal.queries import Seed
from causal.scm import SCM, Mechanism, additive, bernoulli, normal

__all__ = [
    "ImageSCM", "ImageDataset", "ImageDatasetInfo", "ImageDataError",
    "list", "info", "load",
    "load_morpho_mnist", "morpho_graph", "load_image_folder", "save_image_folder", "save_png",
    "pixel_error", "render_pendulum", "render_faces", "render_glyphs",
    "FACE_ATTRIBUTES", "FACE_CPT", "FACE_STYLE", "GLYPH_STYLE", "IMAGE_SUFFIXES", "example_grid",
]

_list = list  # this module exports a function named ``list``

Renderer = Callable[[pd.DataFrame, np.ndarray, int], np.ndarray]
StyleSampler = Callable[[np.random.Generator, int], np.ndarray]

_CHUNK = 256  # images rendered per vectorized batch (keeps temporaries in cache)
_MIN_SIZE, _MAX_SIZE = 8, 512


class ImageDataError(ValueError):
    """Images or their labels cannot be read or do not fit; the message names the file."""


# ====================================================================== the image SCM
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
        _check_size(size)
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
        _check_size(size)
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
        nodes = _list(self.scm.graph.nodes)
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


def _check_size(size: Any) -> None:
    if not isinstance(size, (int, np.integer)) or not _MIN_SIZE <= size <= _MAX_SIZE:
        raise ImageDataError(f"image size must be an integer from {_MIN_SIZE} to {_MAX_SIZE} pixels, got {size!r}")


# ====================================================================== drawing
# Signed distances (negative inside) on pixel-centre grids, broadcast over a batch:
# coordinates X [1, 1, w], Y [1, h, 1], per-image parameters [n, 1, 1]. A shape's coverage
# of a pixel is clip(0.5 - d / pixel, 0, 1): analytic anti-aliasing for edges that are
# straight at the scale of a pixel.
class _Canvas:
    """A batch of float RGB (or grey) images over a world window; paints shapes by SDF."""

    def __init__(self, n: int, size: int, channels: int, background: Sequence[float],
                 window: tuple[float, float, float, float], y_up: bool = False) -> None:
        x0, x1, y0, y1 = window
        self.size = size
        # channel planes [C, n, H, W]: blending one plane at a time is much faster than [..., C]
        self.img = np.empty((channels, n, size, size), dtype=np.float32)
        for c, v in enumerate(np.broadcast_to(np.asarray(background, dtype=np.float32), (channels,))):
            self.img[c] = v
        self.xs = (x0 + (np.arange(size, dtype=np.float32) + 0.5) * (x1 - x0) / size)
        ys = y0 + (np.arange(size, dtype=np.float32) + 0.5) * (y1 - y0) / size
        self.ys = ys[::-1].copy() if y_up else ys
        self.pixel = np.float32(0.5 * ((x1 - x0) + (y1 - y0)) / size)

    def region(self, x0: float = -np.inf, x1: float = np.inf, y0: float = -np.inf, y1: float = np.inf):
        """Pixel slices and coordinate grids of the part of the image a shape can touch."""
        pad = 2 * self.pixel
        cols = np.flatnonzero((self.xs >= x0 - pad) & (self.xs <= x1 + pad))
        rows = np.flatnonzero((self.ys >= y0 - pad) & (self.ys <= y1 + pad))
        if not len(cols) or not len(rows):
            return None
        rs, cs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        return rs, cs, self.xs[cs][None, None, :], self.ys[rs][None, :, None]

    def paint(self, reg, d: np.ndarray, color: Any, mask: np.ndarray | None = None, opacity: float = 1.0) -> None:
        """Blend ``color`` ([C] or [n, C], 0-255) where the signed distance ``d`` is negative."""
        if reg is None or (mask is not None and not np.any(mask)):
            return
        rs, cs = reg[0], reg[1]
        a = np.float32(0.5) - np.asarray(d, dtype=np.float32) * np.float32(1.0 / self.pixel)
        np.clip(a, 0.0, 1.0, out=a)
        if opacity != 1.0:
            a *= np.float32(opacity)
        if mask is not None:
            a *= np.asarray(mask, dtype=np.float32).reshape(-1, 1, 1)
        col = np.asarray(color, dtype=np.float32)
        tmp = np.empty(self.img.shape[1:2] + a.shape[1:], dtype=np.float32)
        for c in range(self.img.shape[0]):
            cc = col[..., c].reshape(-1, 1, 1) if col.ndim == 2 else col[c]
            view = self.img[c, :, rs, cs]
            np.subtract(cc, view, out=tmp)
            tmp *= a
            view += tmp

    def uint8(self) -> np.ndarray:
        out = np.clip(np.rint(self.img), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out.transpose(1, 2, 3, 0))


def _col(x: Any) -> np.ndarray:
    """Per-image parameter as [n, 1, 1] float32."""
    return np.asarray(x, dtype=np.float32).reshape(-1, 1, 1)


def _sd_circle(X, Y, cx, cy, r):
    return np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) - r


def _sd_ellipse(X, Y, cx, cy, rx, ry):
    """Approximate ellipse distance (first-order: f / |grad f|), exact on the boundary."""
    px, py = (X - cx) / rx, (Y - cy) / ry
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / rx) ** 2 + (py / ry) ** 2)
    e = np.float32(1e-4)
    return (k0 - 1.0) * (k0 + e) / (k1 + e / np.minimum(rx, ry))


def _sd_superellipse(X, Y, cx, cy, rx, ry, p):
    """|x/rx|^p + |y/ry|^p = 1, distance to first order; ``p`` may vary per pixel."""
    ax = np.abs(X - cx) / rx + 1e-6
    ay = np.abs(Y - cy) / ry + 1e-6
    sx, sy = ax ** p, ay ** p
    r = (sx + sy) ** (1.0 / p)
    # gradient of r: (|x|^(p-1)/rx, |y|^(p-1)/ry) * r^(1-p)
    scale = r ** (1.0 - p)
    gx, gy = sx / ax / rx * scale, sy / ay / ry * scale
    return (r - 1.0) / (np.sqrt(gx * gx + gy * gy) + 1e-6)


def _sd_box(X, Y, cx, cy, hx, hy):
    qx, qy = np.abs(X - cx) - hx, np.abs(Y - cy) - hy
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _sd_segment(X, Y, ax, ay, bx, by, hw):
    """A capsule: distance to the segment a-b minus the half-width ``hw``."""
    pax, pay = X - ax, Y - ay
    bax, bay = bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-12), 0.0, 1.0)
    return np.sqrt((pax - bax * h) ** 2 + (pay - bay * h) ** 2) - hw


def _sd_polyline(X, Y, px, py, hw):
    """Capsules along a polyline; ``px, py`` are [n, k] (or [k]) vertex coordinates."""
    px, py = np.atleast_2d(px), np.atleast_2d(py)
    d = None
    for j in range(px.shape[1] - 1):
        dj = _sd_segment(X, Y, _col(px[:, j]), _col(py[:, j]), _col(px[:, j + 1]), _col(py[:, j + 1]), hw)
        d = dj if d is None else np.minimum(d, dj)
    return d


# ---------------------------------------------------------------------- pendulum
SUN_Y, SUN_R, BOB_R = 20.5, 3.0, 1.5
_PENDULUM_WINDOW = (0.0, 20.0, -1.0, 21.0)


def render_pendulum(labels: pd.DataFrame, style: np.ndarray | None = None, size: int = 32) -> np.ndarray:
    """Draw pendulum images (RGB uint8) from pendulum_angle, light_angle (degrees),
    shadow_position and shadow_length; ``style`` is unused (the picture has none)."""
    th = np.deg2rad(labels["pendulum_angle"].to_numpy(np.float64))
    ph = np.deg2rad(labels["light_angle"].to_numpy(np.float64))
    pos = labels["shadow_position"].to_numpy(np.float64)
    length = labels["shadow_length"].to_numpy(np.float64)
    n = len(labels)
    cv = _Canvas(n, size, 3, (255, 255, 255), _PENDULUM_WINDOW, y_up=True)
    sun_x = _col(PIVOT[0] + 10.0 / np.tan(ph))
    tip_x, tip_y = _col(PIVOT[0] + ROD * np.sin(th)), _col(PIVOT[1] - ROD * np.cos(th))
    reg = cv.region(y0=SUN_Y - SUN_R)
    cv.paint(reg, _sd_circle(reg[2], reg[3], sun_x, np.float32(SUN_Y), np.float32(SUN_R)), (255, 165, 0))
    reg = cv.region()
    X, Y = reg[2], reg[3]
    cv.paint(reg, _sd_segment(X, Y, np.float32(PIVOT[0]), np.float32(PIVOT[1]), tip_x, tip_y, np.float32(0.3)), (90, 90, 90))
    cv.paint(reg, _sd_circle(X, Y, np.float32(PIVOT[0]), np.float32(PIVOT[1]), np.float32(0.45)), (40, 40, 40))
    cv.paint(reg, _sd_circle(X, Y, tip_x, tip_y, np.float32(BOB_R)), (178, 34, 34))
    reg = cv.region(y1=GROUND_Y + 0.6)
    cv.paint(reg, _sd_box(reg[2], reg[3], _col(pos), np.float32(GROUND_Y), _col(np.abs(length) / 2), np.float32(0.45)), (30, 30, 30))
    return cv.uint8()


def _pendulum_image_scm() -> ImageSCM:
    scm = _pendulum()
    return ImageSCM(
        "pendulum", scm, render_pendulum, lambda rng, n: np.zeros((n, 0)), (),
        scm.graph.nodes, channels=3,
    )


# ---------------------------------------------------------------------- faces
FACE_ATTRIBUTES = ("Young", "Male", "Eyeglasses", "Bald", "Mustache", "Smiling", "Lipstick", "MouthOpen", "NarrowEyes")
# node -> (parents, P(node = 1 | parents)) with the table indexed by the parents' 0/1 values in order
FACE_CPT: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
    "Young": ((), np.array(0.75)),
    "Male": ((), np.array(0.42)),
    "Eyeglasses": (("Young",), np.array([0.15, 0.03])),
    "Bald": (("Young", "Male"), np.array([[0.003, 0.30], [0.001, 0.03]])),
    "Mustache": (("Young", "Male"), np.array([[0.002, 0.28], [0.002, 0.10]])),
    "Smiling": (("Young", "Male"), np.array([[0.55, 0.40], [0.60, 0.45]])),
    "Lipstick": (("Young", "Male"), np.array([[0.55, 0.005], [0.80, 0.01]])),
    "MouthOpen": (("Young", "Smiling"), np.array([[0.10, 0.60], [0.15, 0.75]])),
    "NarrowEyes": (("Young", "Male", "Smiling"), np.array([[[0.08, 0.25], [0.10, 0.30]], [[0.04, 0.18], [0.05, 0.22]]])),
}
FACE_STYLE = ("skin", "hair", "width", "dx", "dy", "shirt")

_SKIN = np.array([[247, 220, 196], [232, 190, 150], [198, 140, 100], [150, 100, 68], [105, 70, 48]], np.float32)
_HAIR = np.array([[28, 24, 24], [70, 42, 28], [120, 78, 42], [212, 178, 98], [160, 66, 34]], np.float32)
_SHIRT = np.array([[60, 90, 160], [170, 60, 60], [70, 130, 90], [120, 120, 130], [200, 160, 60], [110, 70, 140]], np.float32)
_GREY_HAIR = np.array([200, 200, 204], np.float32)
_LIPSTICK = np.array([205, 20, 60], np.float32)
_BACKGROUND = (226, 232, 240)


def _face_prob(node: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    parents, table = FACE_CPT[node]
    return lambda pa: table[tuple(np.asarray(pa[p], dtype=np.int64) for p in parents)] if parents else table


def _faces_label_scm() -> SCM:
    edges = [(p, node) for node, (parents, _) in FACE_CPT.items() for p in parents]
    graph = CausalGraph.from_edges(edges, nodes=FACE_ATTRIBUTES).with_kinds({a: "binary" for a in FACE_ATTRIBUTES})
    return SCM(graph, {node: bernoulli(_face_prob(node)) for node in FACE_ATTRIBUTES},
               categories={a: (0, 1) for a in FACE_ATTRIBUTES}, name="faces")


def _face_style(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([
        rng.random(n),                  # skin: 0 light .. 1 dark (interpolated palette)
        rng.integers(0, len(_HAIR), n),  # hair colour index
        rng.uniform(0.92, 1.08, n),     # face width factor
        rng.uniform(-0.05, 0.05, n),    # dx, in half-image units
        rng.uniform(-0.04, 0.04, n),    # dy
        rng.integers(0, len(_SHIRT), n),  # shirt colour index
    ])


def _palette(table: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear colours from ``t`` in [0, 1]."""
    x = np.clip(t, 0, 1) * (len(table) - 1)
    i = np.minimum(np.floor(x).astype(int), len(table) - 2)
    f = (x - i)[:, None].astype(np.float32)
    return table[i] * (1 - f) + table[i + 1] * f


def render_faces(labels: pd.DataFrame, style: np.ndarray, size: int = 32) -> np.ndarray:
    """Draw cartoon faces (RGB uint8) from the nine binary attributes and ``FACE_STYLE``.

    Coordinates: x, y in [-1, 1], y down; the head fills about the middle 60 % of the image.
    """
    a = {k: labels[k].to_numpy().astype(np.float32) for k in FACE_ATTRIBUTES}
    young, male, glasses, bald = a["Young"], a["Male"], a["Eyeglasses"], a["Bald"]
    mustache, smiling, lipstick, mopen, narrow = a["Mustache"], a["Smiling"], a["Lipstick"], a["MouthOpen"], a["NarrowEyes"]
    n = len(labels)
    style = np.asarray(style, dtype=np.float64)
    skin = _palette(_SKIN, style[:, 0])
    hair = _HAIR[np.clip(style[:, 1].astype(int), 0, len(_HAIR) - 1)]
    hair = hair + (_GREY_HAIR - hair) * (0.75 * (1 - young))[:, None]  # older: grey
    shirt = _SHIRT[np.clip(style[:, 5].astype(int), 0, len(_SHIRT) - 1)]
    dark_skin = skin * np.float32(0.72)
    lips = np.where(lipstick[:, None] > 0.5, _LIPSTICK, skin * np.array([0.66, 0.42, 0.44], np.float32))
    # mustache: the hair colour or a dark version of it, whichever contrasts more with the skin
    dark_tache, light_tache = hair * np.float32(0.38) + 8, np.minimum(hair + 25, 255)
    lum = np.array([0.3, 0.59, 0.11], np.float32)
    use_dark = np.abs((dark_tache - skin) @ lum) >= np.abs((light_tache - skin) @ lum)
    tache = np.where(use_dark[:, None], dark_tache, light_tache)
    fx, fy = _col(style[:, 3]), _col(style[:, 4])
    w = _col(0.45 * style[:, 2] * (1 + 0.07 * male))  # face half-width
    h = np.float32(0.56)
    cy = fy - 0.04  # face centre
    M, Yg, S, N, O = _col(male), _col(young), _col(smiling), _col(narrow), _col(mopen)

    cv = _Canvas(n, size, 3, _BACKGROUND, (-0.86, 0.86, -0.82, 0.90))
    # shoulders and neck
    reg = cv.region(y0=0.55)
    cv.paint(reg, _sd_ellipse(reg[2], reg[3], fx, np.float32(1.22), 0.78 + 0.1 * M, np.float32(0.45)), shirt)
    reg = cv.region(-0.3, 0.3, 0.2, 1.0)
    cv.paint(reg, _sd_box(reg[2], reg[3], fx, cy + 0.62, np.float32(0.15), np.float32(0.3)), skin * np.float32(0.86))
    full = cv.region()
    X, Y = full[2], full[3]
    # long hair behind the head (women with hair)
    long_hair = np.minimum(
        _sd_ellipse(X, Y, fx, cy - 0.06, w + 0.14, h + 0.1),
        _sd_box(X, Y, fx, cy + 0.3, w + 0.06, np.float32(0.36)) - 0.08,
    )
    cv.paint(full, long_hair, hair, mask=(1 - male) * (1 - bald))
    # ears, face
    reg = cv.region(-0.75, 0.75, -0.3, 0.35)
    for side in (-1, 1):
        cv.paint(reg, _sd_ellipse(reg[2], reg[3], fx + side * (w - 0.01), cy + 0.04, np.float32(0.075), np.float32(0.12)),
                 skin * np.float32(0.92))
    p = np.where(Y > cy, 2.0 + 0.9 * M, np.float32(2.2)).astype(np.float32)
    face = _sd_superellipse(X, Y, fx, cy, w, np.where(Y > cy, h + 0.02 * M, h).astype(np.float32), p)
    cv.paint(full, face, skin)
    # wrinkles (older): nasolabial folds, forehead line, under-eye lines
    reg = cv.region(-0.5, 0.5, -0.5, 0.5)
    X2, Y2 = reg[2], reg[3]
    hw = np.float32(0.016 + 0.006 * 32 / size)
    old = 1 - young
    wr = np.minimum(
        _sd_polyline(X2, Y2, np.stack([style[:, 3] - 0.12, style[:, 3] - 0.2, style[:, 3] - 0.21], 1),
                     np.stack([style[:, 4] + 0.14, style[:, 4] + 0.26, style[:, 4] + 0.36], 1), hw),
        _sd_polyline(X2, Y2, np.stack([style[:, 3] + 0.12, style[:, 3] + 0.2, style[:, 3] + 0.21], 1),
                     np.stack([style[:, 4] + 0.14, style[:, 4] + 0.26, style[:, 4] + 0.36], 1), hw),
    )
    wr = np.minimum(wr, _sd_segment(X2, Y2, fx - 0.16, fy - 0.30, fx + 0.16, fy - 0.30, hw))
    for side in (-1, 1):
        ex = fx + side * 0.19 * w / 0.45
        wr = np.minimum(wr, _sd_segment(X2, Y2, ex - 0.07, fy + 0.045, ex + 0.07, fy + 0.045, hw))
    cv.paint(reg, wr, dark_skin, mask=old, opacity=0.85)
    # top hair (not bald): head cap above a hairline; women's hairline comes down the sides
    u = (X - fx) / w
    hairline = np.where(M > 0.5, cy - 0.34 + 0.24 * u ** 4, cy - 0.30 + 0.62 * u ** 4 - 0.05 * u)
    cap = np.maximum(_sd_ellipse(X, Y, fx, cy - 0.05, w + 0.04, h + 0.08), (Y - hairline) / np.sqrt(1 + (2.4 * u ** 3 / w) ** 2))
    cv.paint(full, cap, hair, mask=1 - bald)
    # bald: scalp highlight and side tufts
    reg = cv.region(-0.7, 0.7, -0.7, 0.1)
    X3, Y3 = reg[2], reg[3]
    cv.paint(reg, _sd_ellipse(X3, Y3, fx - 0.13, cy - 0.43, np.float32(0.13), np.float32(0.06)),
             np.minimum(skin * 1.15 + 20, 255), mask=bald, opacity=0.8)
    tufts = np.minimum(_sd_ellipse(X, Y, fx - w + 0.02, cy - 0.12, np.float32(0.07), np.float32(0.15)),
                       _sd_ellipse(X, Y, fx + w - 0.02, cy - 0.12, np.float32(0.07), np.float32(0.15)))
    cv.paint(full, tufts, hair, mask=bald)
    # eyes, brows, glasses
    reg = cv.region(-0.7, 0.7, -0.4, 0.3)
    X4, Y4 = reg[2], reg[3]
    ey = cy - 0.02
    ry = 0.07 * (1 - 0.68 * N)
    for side in (-1, 1):
        ex = fx + side * 0.19 * w / 0.45
        eye = _sd_ellipse(X4, Y4, ex, ey, np.float32(0.095), ry)
        cv.paint(reg, eye, (250, 250, 250))
        cv.paint(reg, np.maximum(_sd_circle(X4, Y4, ex, ey + 0.005, np.float32(0.048)), eye), (45, 32, 28))
        lid = _sd_segment(X4, Y4, ex - 0.1, ey - ry, ex + 0.1, ey - ry, np.float32(0.018))
        cv.paint(reg, lid, (40, 30, 30), mask=narrow)
        by = ey - 0.14 + 0.03 * N
        brow = _sd_segment(X4, Y4, ex - side * 0.08, by + 0.015, ex + side * 0.1, by - 0.01 + 0.01 * M, 0.022 + 0.012 * M)
        cv.paint(reg, brow, hair * np.float32(0.8))
    for side in (-1, 1):
        ex = fx + side * 0.19 * w / 0.45
        cv.paint(reg, _sd_circle(X4, Y4, ex, ey, np.float32(0.15)), (185, 215, 235), mask=glasses, opacity=0.35)
        ring = np.abs(_sd_circle(X4, Y4, ex, ey, np.float32(0.15))) - 0.026
        temple = _sd_segment(X4, Y4, ex + side * 0.15, ey - 0.02, fx + side * w, ey - 0.04, np.float32(0.022))
        cv.paint(reg, np.minimum(ring, temple), (20, 20, 28), mask=glasses)
    bridge = _sd_segment(X4, Y4, fx - 0.19 * w / 0.45 + 0.15, ey - 0.02, fx + 0.19 * w / 0.45 - 0.15, ey - 0.02, np.float32(0.024))
    cv.paint(reg, bridge, (20, 20, 28), mask=glasses)
    # raised, rosy cheeks when smiling (the mouth alone can hide under a mustache)
    for side in (-1, 1):
        ex = fx + side * 0.2 * w / 0.45
        cv.paint(reg, _sd_ellipse(X4, Y4, ex, ey + 0.17, np.float32(0.08), np.float32(0.045)), (240, 110, 120),
                 mask=smiling, opacity=0.4)
    # nose
    reg = cv.region(-0.3, 0.3, 0.0, 0.3)
    cv.paint(reg, _sd_ellipse(reg[2], reg[3], fx, cy + 0.17, np.float32(0.055), np.float32(0.035)), dark_skin, opacity=0.6)
    # mouth
    reg = cv.region(-0.5, 0.5, 0.1, 0.7)
    X5, Y5 = reg[2], reg[3]
    mx, my = style[:, 3], style[:, 4] - 0.04 + 0.34
    mw = 0.15 + 0.035 * smiling
    t = np.linspace(-1, 1, 9)[None, :]
    curve_y = my[:, None] + smiling[:, None] * (0.06 - 0.12 * t ** 2) + (1 - smiling[:, None]) * 0.01 * t ** 2
    closed = _sd_polyline(X5, Y5, mx[:, None] + mw[:, None] * t, curve_y, _col(0.034 + 0.006 * lipstick))
    cv.paint(reg, closed, lips, mask=1 - mopen)
    MX, MY = _col(mx), _col(my)
    grin = np.maximum(_sd_ellipse(X5, Y5, MX, MY - 0.03, _col(mw), np.float32(0.15)), (MY - 0.02) - Y5)
    o_mouth = _sd_ellipse(X5, Y5, MX, MY + 0.03, np.float32(0.075), np.float32(0.09))
    inner = np.where(S > 0.5, grin, o_mouth)
    cv.paint(reg, np.abs(inner) - _col(0.03 + 0.008 * lipstick), lips, mask=mopen)
    cv.paint(reg, inner + 0.012, (90, 18, 32), mask=mopen)
    cv.paint(reg, np.maximum(inner + 0.012, Y5 - (MY + 0.045)), (245, 245, 238), mask=mopen * smiling)
    # mustache
    mxs = mx[:, None] + np.array([[-0.17, -0.09, 0.0, 0.09, 0.17]])
    mys = my[:, None] + np.array([[-0.035, -0.095, -0.085, -0.095, -0.035]]) - 0.015 * mopen[:, None]
    cv.paint(reg, _sd_polyline(X5, Y5, mxs, mys, np.float32(0.048)), tache, mask=mustache)
    return cv.uint8()


def _faces_image_scm() -> ImageSCM:
    scm = _faces_label_scm()
    return ImageSCM("faces", scm, render_faces, _face_style, FACE_STYLE, scm.graph.nodes, channels=3)


# ---------------------------------------------------------------------- morpho-glyphs
GLYPH_STYLE = ("glyph", "scale", "rotation", "shear", "dx", "dy")


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, k: int) -> list[tuple[float, float]]:
    """Points on an ellipse arc, angles in degrees, y down (0° = right, 90° = down)."""
    ang = np.deg2rad(np.linspace(a0, a1, k))
    return [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in ang]


# Ten digit-like glyphs as polylines in a box x in [-0.5, 0.5], y in [-0.75, 0.75] (y down).
_GLYPHS: tuple[tuple[_list[tuple[float, float]], ...], ...] = (
    (_arc(0, 0, 0.42, 0.72, 0, 360, 17),),                                               # 0
    ([(-0.22, -0.45), (0.06, -0.73), (0.06, 0.73)],),                                     # 1
    (_arc(0, -0.3, 0.4, 0.42, 190, 385, 8) + [(-0.42, 0.72), (0.45, 0.72)],),             # 2
    (_arc(0, -0.36, 0.36, 0.36, 200, 450, 8) + _arc(0, 0.34, 0.42, 0.38, 270, 520, 8),),  # 3
    ([(0.2, 0.74), (0.2, -0.74), (-0.46, 0.25), (0.48, 0.25)],),                          # 4
    ([(0.42, -0.72), (-0.3, -0.72), (-0.36, -0.08)] + _arc(0.0, 0.3, 0.42, 0.42, 230, 500, 9),),  # 5
    ([(0.3, -0.72), (-0.2, -0.3)] + _arc(0.0, 0.33, 0.4, 0.4, 200, 560, 12),),            # 6
    ([(-0.44, -0.72), (0.44, -0.72), (-0.08, 0.74)],),                                    # 7
    (_arc(0, -0.38, 0.32, 0.34, 90, 450, 11), _arc(0, 0.34, 0.4, 0.38, -90, 270, 12)),    # 8
    (_arc(0.0, -0.33, 0.4, 0.4, 20, 380, 12) + [(0.38, 0.72)],),                           # 9
)


def _glyph_segments() -> np.ndarray:
    """[10, K, 4] segments (ax, ay, bx, by), padded by repeating the first segment."""
    segs = []
    for strokes in _GLYPHS:
        s = [(*p, *q) for pts in strokes for p, q in zip(pts[:-1], pts[1:])]
        segs.append(s)
    k = max(len(s) for s in segs)
    return np.array([s + [s[0]] * (k - len(s)) for s in segs], dtype=np.float32)


_GLYPH_SEGMENTS = _glyph_segments()


def _glyph_style(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([
        rng.integers(0, len(_GLYPHS), n),  # glyph index 0..9
        rng.uniform(0.85, 1.05, n),        # scale
        rng.uniform(-0.2, 0.2, n),         # rotation (radians)
        rng.uniform(-0.25, 0.25, n),       # shear (x += shear * y)
        rng.uniform(-0.06, 0.06, n),       # dx (fraction of the image)
        rng.uniform(-0.05, 0.05, n),       # dy
    ])


def render_glyphs(labels: pd.DataFrame, style: np.ndarray, size: int = 32) -> np.ndarray:
    """Draw grey stroke glyphs (uint8, white on black) at ``thickness`` (pixels at 28 px)
    and peak grey level ``intensity`` (0-255), shapes and jitter from ``GLYPH_STYLE``."""
    t = labels["thickness"].to_numpy(np.float64)
    inten = np.clip(labels["intensity"].to_numpy(np.float64), 0, 255)
    style = np.asarray(style, dtype=np.float64)
    n = len(labels)
    segs = _GLYPH_SEGMENTS[np.clip(style[:, 0].astype(int), 0, len(_GLYPHS) - 1)]  # [n, K, 4]
    sc, rot, sh = style[:, 1], style[:, 2], style[:, 3]
    # affine map of glyph coordinates to pixels: p' = centre + size * 0.4 * scale * R(rot) S(shear) p
    c, s = np.cos(rot), np.sin(rot)
    a11, a12, a21, a22 = c, c * sh - s, s, s * sh + c
    g = 0.4 * size * sc
    cx, cy = size * (0.5 + style[:, 4]), size * (0.5 + style[:, 5])

    def tf(x, y):
        return (cx[:, None] + g[:, None] * (a11[:, None] * x + a12[:, None] * y),
                cy[:, None] + g[:, None] * (a21[:, None] * x + a22[:, None] * y))

    ax, ay = tf(segs[..., 0], segs[..., 1])
    bx, by = tf(segs[..., 2], segs[..., 3])
    grid = np.arange(size, dtype=np.float32) + 0.5
    X, Y = grid[None, None, :], grid[None, :, None]
    d = None
    for j in range(segs.shape[1]):
        dj = _sd_segment(X, Y, _col(ax[:, j]), _col(ay[:, j]), _col(bx[:, j]), _col(by[:, j]), np.float32(0))
        d = dj if d is None else np.minimum(d, dj)
    half = _col(t * size / 28.0 / 2.0)
    cover = np.clip(half - d + 0.5, 0.0, 1.0)
    img = cover * _col(inten)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)[..., None]


def _morpho_label_scm() -> SCM:
    def i_loc(pa: Mapping[str, np.ndarray]) -> np.ndarray:
        return 2.0 * (pa["thickness"] - 2.5)

    return SCM(
        CausalGraph.parse("thickness -> intensity"),
        {
            "thickness": additive(lambda pa: 0.5, lambda rng, n: rng.gamma(10.0, 1 / 5.0, n)),
            "intensity": Mechanism(
                normal(),
                lambda pa, u: 64.0 + 191.0 * sigmoid(i_loc(pa) + 0.5 * u),
                lambda pa, x, rng: (logit((np.asarray(x) - 64.0) / 191.0) - i_loc(pa)) / 0.5,
            ),
        },
        name="morpho-glyphs",
    )


def _glyphs_image_scm() -> ImageSCM:
    return ImageSCM("morpho-glyphs", _morpho_label_scm(), render_glyphs, _glyph_style, GLYPH_STYLE,
                    ("thickness", "intensity"), channels=1)


def morpho_graph(digit: bool = False) -> CausalGraph:
    """Deep SCM's Morpho-MNIST graph: thickness -> intensity, both (and ``digit``) -> image."""
    text = "thickness -> intensity; thickness -> image; intensity -> image" + ("; digit -> image" if digit else "")
    kinds = {"image": "image", **({"digit": "categorical"} if digit else {})}
    return CausalGraph.parse(text).with_kinds(kinds)


# ====================================================================== the registry
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


_register("pendulum", _pendulum_image_scm, ("pendulum_angle", "light_angle"),
          "A pendulum lit by the sun (after CausalVAE): the pendulum and light angles cause the shadow's position "
          "and length; the picture shows all four. Intervene on the light and the shadow moves; intervene on the "
          "shadow and the sun stays put.")
_register("faces", _faces_image_scm, ("Male", "Young", "Smiling", "Mustache", "Eyeglasses"),
          "Cartoon faces with nine binary attributes and CausalGAN's causal graph: Young and Male cause baldness, "
          "mustaches, lipstick, smiles ...; Smiling causes an open mouth and narrow eyes. Conditioning on "
          "Mustache = 1 gives almost only men; do(Mustache = 1) draws women with mustaches too.")
_register("morpho-glyphs", _glyphs_image_scm, ("thickness", "intensity"),
          "Stroke glyphs with Morpho-MNIST's causal equations (Deep SCM): stroke thickness causes brightness "
          "(intensity); both are drawn in the image, so thicker strokes come out brighter unless you intervene.")


def list() -> _list[str]:  # noqa: A001 - the documented name of this function
    """Names of the built-in image datasets."""
    return _list(_REGISTRY)


def info(name: str) -> ImageDatasetInfo:
    """Description, graph and protocol of a built-in image dataset (no images drawn)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown image dataset '{name}'; the built-in image datasets are {', '.join(_REGISTRY)}") from None


def load(name: str, n: int = 5000, seed: int | None = 0, size: int = 32) -> ImageDataset:
    """``n`` images (``size`` × ``size``) drawn from a built-in image SCM, with its graph and SCM."""
    meta = info(name)
    scm = meta.build()
    data = scm.sample(n, seed=seed, size=size)
    return ImageDataset(name, meta.description, data, scm.graph, scm, meta.intervene_on)


# ====================================================================== metrics
def pixel_error(a: ImageData | np.ndarray, b: ImageData | np.ndarray) -> float:
    """Mean absolute pixel difference in [0, 1] units (0: identical, 1: black vs white)."""
    x = a.images if isinstance(a, ImageData) else np.asarray(a)
    y = b.images if isinstance(b, ImageData) else np.asarray(b)
    if x.shape != y.shape:
        raise ImageDataError(f"cannot compare images of shapes {x.shape} and {y.shape}")
    if x.size == 0:
        raise ImageDataError("cannot compare empty image sets")
    return float(np.mean(np.abs(x.astype(np.float32) - y.astype(np.float32))) / 255.0)


# ====================================================================== Morpho-MNIST files
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


# ====================================================================== folders of images
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class _Source:
    """Files in a folder or a .zip, by normalized relative name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.files: dict[str, Any] = {}
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts):
                    self.files[p.relative_to(path).as_posix()] = p
        elif path.is_file() and zipfile.is_zipfile(path):
            self.zip = zipfile.ZipFile(path)
            for zi in self.zip.infolist():
                name = _normalize(zi.filename)
                if zi.is_dir() or name.startswith("__MACOSX/") or any(s.startswith(".") for s in name.split("/")):
                    continue
                if name in self.files:
                    raise ImageDataError(f"{path} holds the file '{name}' twice; keep one")
                self.files[name] = zi
        elif path.is_file():
            raise ImageDataError(f"{path} is neither a folder nor a .zip archive of images")
        else:
            raise ImageDataError(f"no such folder or .zip: {path}")

    def read(self, name: str) -> bytes:
        entry = self.files[name]
        try:
            if self.zip is not None:
                return self.zip.read(entry)
            return Path(entry).read_bytes()
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            raise ImageDataError(f"cannot read '{name}' in {self.path}: {e}") from None

    def images(self) -> _list[str]:
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
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
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
        name, raw = cands[0], src.read(cands[0])
        where = f"'{name}' in {src.path}"
    else:
        p = Path(labels_csv)
        key = _normalize(str(labels_csv))
        if p.is_file():
            raw, where = p.read_bytes(), str(p)
        elif key in src.files:
            raw, where = src.read(key), f"'{key}' in {src.path}"
        else:
            raise ImageDataError(f"no such labels CSV: {labels_csv}")
    try:
        table = pd.read_csv(io.BytesIO(raw))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise ImageDataError(f"cannot read {where} as CSV: {str(e).splitlines()[0]}") from None
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
        _check_size(size)
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
            by_base: dict[str, _list[str]] = {}
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
    ``ImageData``, tiled by ``causal.imagedata.image_grid``) as a PNG."""
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


# ====================================================================== example grids
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
        for a in FACE_ATTRIBUTES:
            flipped = row.labels.copy()
            flipped[a] = 1 - flipped[a]
            flips.append(scm.render(flipped, row.style, size))
        rows.append(np.concatenate(flips))
    return image_grid(np.concatenate(rows), columns=1 + len(FACE_ATTRIBUTES))


if __name__ == "__main__":  # python -m causal.image_datasets assets/  (the README pictures)
    import sys

    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "assets")
    for ds, fname in (("pendulum", "pendulum.png"), ("faces", "faces.png"), ("morpho-glyphs", "glyphs.png")):
        print(save_png(example_grid(ds), out_dir / fname))
