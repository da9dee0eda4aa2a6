"""Inverse problems with trained generators as priors: measurement operators (compressed
sensing, inpainting, super-resolution, blur) and recovery by a generator prior (CSGM), Deep
Image Prior or Lasso in a DCT basis, behind one call::

    A = parse_measure("gaussian:200", (1, 32, 32), seed=0)
    y = measure(x, A, noise=0.01, seed=0)                  # x: [C, H, W] floats in [0, 1]
    r = recover(y, A, method="generator", model=model, truth=x)   # or "dip", "lasso"
    r.image, r.seconds, r.mse
"""

from generators.inverse.operators import (
    MEASURE_GRAMMAR, Blur, Downsample, GaussianProjection, MeasureError, Operator, PixelMask, measure, parse_measure,
)
from generators.inverse.recovery import METHODS, Recovery, mse, recover

__all__ = [
    "MEASURE_GRAMMAR", "METHODS", "Blur", "Downsample", "GaussianProjection", "MeasureError", "Operator", "PixelMask",
    "Recovery", "measure", "mse", "parse_measure", "recover",
]
