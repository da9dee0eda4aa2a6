"""The canvas the ground-truth image renderers paint on, and the signed distances of their shapes."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["Canvas", "col", "sd_circle", "sd_ellipse", "sd_superellipse", "sd_box", "sd_segment", "sd_polyline"]


# Signed distances (negative inside) on pixel-centre grids, broadcast over a batch:
# coordinates X [1, 1, w], Y [1, h, 1], per-image parameters [n, 1, 1]. A shape's coverage
# of a pixel is clip(0.5 - d / pixel, 0, 1): analytic anti-aliasing for edges that are
# straight at the scale of a pixel.
class Canvas:
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


def col(x: Any) -> np.ndarray:
    """Per-image parameter as [n, 1, 1] float32."""
    return np.asarray(x, dtype=np.float32).reshape(-1, 1, 1)


def sd_circle(X, Y, cx, cy, r):
    return np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) - r


def sd_ellipse(X, Y, cx, cy, rx, ry):
    """Approximate ellipse distance (first-order: f / |grad f|), exact on the boundary."""
    px, py = (X - cx) / rx, (Y - cy) / ry
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / rx) ** 2 + (py / ry) ** 2)
    e = np.float32(1e-4)
    return (k0 - 1.0) * (k0 + e) / (k1 + e / np.minimum(rx, ry))


def sd_superellipse(X, Y, cx, cy, rx, ry, p):
    """|x/rx|^p + |y/ry|^p = 1, distance to first order; ``p`` may vary per pixel."""
    ax = np.abs(X - cx) / rx + 1e-6
    ay = np.abs(Y - cy) / ry + 1e-6
    sx, sy = ax ** p, ay ** p
    r = (sx + sy) ** (1.0 / p)
    # gradient of r: (|x|^(p-1)/rx, |y|^(p-1)/ry) * r^(1-p)
    scale = r ** (1.0 - p)
    gx, gy = sx / ax / rx * scale, sy / ay / ry * scale
    return (r - 1.0) / (np.sqrt(gx * gx + gy * gy) + 1e-6)


def sd_box(X, Y, cx, cy, hx, hy):
    qx, qy = np.abs(X - cx) - hx, np.abs(Y - cy) - hy
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0)


def sd_segment(X, Y, ax, ay, bx, by, hw):
    """A capsule: distance to the segment a-b minus the half-width ``hw``."""
    pax, pay = X - ax, Y - ay
    bax, bay = bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-12), 0.0, 1.0)
    return np.sqrt((pax - bax * h) ** 2 + (pay - bay * h) ** 2) - hw


def sd_polyline(X, Y, px, py, hw):
    """Capsules along a polyline; ``px, py`` are [n, k] (or [k]) vertex coordinates."""
    px, py = np.atleast_2d(px), np.atleast_2d(py)
    d = None
    for j in range(px.shape[1] - 1):
        dj = sd_segment(X, Y, col(px[:, j]), col(py[:, j]), col(px[:, j + 1]), col(py[:, j + 1]), hw)
        d = dj if d is None else np.minimum(d, dj)
    return d
