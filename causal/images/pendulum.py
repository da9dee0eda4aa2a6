"""The pendulum image dataset: a pendulum, the sun and the shadow they cast, drawn from four causal factors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal.datasets import GROUND_Y, PIVOT, ROD, _pendulum
from causal.images.canvas import Canvas, col, sd_box, sd_circle, sd_segment
from causal.images.scm import ImageSCM

__all__ = ["render_pendulum", "image_scm"]

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
    cv = Canvas(n, size, 3, (255, 255, 255), _PENDULUM_WINDOW, y_up=True)
    sun_x = col(PIVOT[0] + 10.0 / np.tan(ph))
    tip_x, tip_y = col(PIVOT[0] + ROD * np.sin(th)), col(PIVOT[1] - ROD * np.cos(th))
    reg = cv.region(y0=SUN_Y - SUN_R)
    cv.paint(reg, sd_circle(reg[2], reg[3], sun_x, np.float32(SUN_Y), np.float32(SUN_R)), (255, 165, 0))
    reg = cv.region()
    X, Y = reg[2], reg[3]
    cv.paint(reg, sd_segment(X, Y, np.float32(PIVOT[0]), np.float32(PIVOT[1]), tip_x, tip_y, np.float32(0.3)), (90, 90, 90))
    cv.paint(reg, sd_circle(X, Y, np.float32(PIVOT[0]), np.float32(PIVOT[1]), np.float32(0.45)), (40, 40, 40))
    cv.paint(reg, sd_circle(X, Y, tip_x, tip_y, np.float32(BOB_R)), (178, 34, 34))
    reg = cv.region(y1=GROUND_Y + 0.6)
    cv.paint(reg, sd_box(reg[2], reg[3], col(pos), np.float32(GROUND_Y), col(np.abs(length) / 2), np.float32(0.45)), (30, 30, 30))
    return cv.uint8()


def image_scm() -> ImageSCM:
    """The pendulum image SCM (after CausalVAE, Yang et al. 2021; equations in docs/benchmarks.md).

    The labels are the tabular ``pendulum`` SCM of ``causal.datasets`` (pendulum_angle and
    light_angle in degrees, independent; shadow_position and shadow_length with N(0, 0.1²)
    noise). The picture draws, in the window x ∈ [0, 20], y ∈ [−1, 21] stretched onto a
    square image as CausalVAE's matplotlib axes did: the sun (radius 3, centre
    (10 + 10·cot φ, 20.5)), the rod from the pivot (10, 10.5), the bob (radius 1.5) at its
    tip, the pivot, and the shadow segment on the ground line y = −0.5. No style: the image
    is a function of the four labels, all four its parents.
    """
    scm = _pendulum()
    return ImageSCM(
        "pendulum", scm, render_pendulum, lambda rng, n: np.zeros((n, 0)), (),
        scm.graph.nodes, channels=3,
    )
