"""The morpho-glyphs image dataset: stroke glyphs drawn with Morpho-MNIST's causal thickness and intensity."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from causal.datasets import logit, sigmoid
from causal.graph import CausalGraph
from causal.images.canvas import col, sd_segment
from causal.images.scm import ImageSCM
from causal.scm import SCM, Mechanism, additive, normal

__all__ = ["GLYPH_STYLE", "render_glyphs", "image_scm"]

GLYPH_STYLE = ("glyph", "scale", "rotation", "shear", "dx", "dy")


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, k: int) -> list[tuple[float, float]]:
    """Points on an ellipse arc, angles in degrees, y down (0° = right, 90° = down)."""
    ang = np.deg2rad(np.linspace(a0, a1, k))
    return [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in ang]


# Ten digit-like glyphs as polylines in a box x in [-0.5, 0.5], y in [-0.75, 0.75] (y down).
_GLYPHS: tuple[tuple[list[tuple[float, float]], ...], ...] = (
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
        dj = sd_segment(X, Y, col(ax[:, j]), col(ay[:, j]), col(bx[:, j]), col(by[:, j]), np.float32(0))
        d = dj if d is None else np.minimum(d, dj)
    half = col(t * size / 28.0 / 2.0)
    cover = np.clip(half - d + 0.5, 0.0, 1.0)
    img = cover * col(inten)
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


def image_scm() -> ImageSCM:
    """The morpho-glyphs image SCM (the Deep SCM Morpho-MNIST equations, Pawlowski et al. 2020).

    Thickness t = 0.5 + Gamma(10, rate 5); intensity i = 64 + 191·σ(2(t − 2.5) + 0.5·u),
    u ~ N(0, 1); the image is one of ten digit-like stroke glyphs, white on black, drawn with
    a stroke t pixels wide at 28 px (t·size/28 px at other sizes) and peak grey level i.
    Style (``GLYPH_STYLE``): glyph index, scale, rotation, shear, x/y shift.
    """
    return ImageSCM("morpho-glyphs", _morpho_label_scm(), render_glyphs, _glyph_style, GLYPH_STYLE,
                    ("thickness", "intensity"), channels=1)

