"""Inverse problems with trained generators as priors: measurement operators (compressed
sensing, inpainting, super-resolution, blur) and recovery by a generator prior (CSGM), Deep
Image Prior (plain, or with a learned prior on its weights) or Lasso in a DCT or wavelet
basis, behind one call::

    A = parse_measure("gaussian:200", (1, 32, 32), seed=0)
    y = measure(x, A, noise=0.01, seed=0)                  # x: [C, H, W] floats in [0, 1]
    r = recover(y, A, method="generator", model=model, truth=x)   # or "dip", "lasso", "lasso-wavelet"
    r = recover(y, A, method="dip-lr", dip_prior=learn_dip_prior(train_images), truth=x)
    r.image, r.seconds, r.mse

AmbientGAN's random measurements, drawn afresh per image (``parse_ambient("dropout:0.9")``),
and the lossy images they make (``lossy(data, "dropout:0.9", seed=0)``) are in ``ambient``.
"""

from generators.inverse.ambient import AMBIENT_GRAMMAR, Ambient, lossy, parse_ambient
from generators.inverse.dip import DIPPrior, learn_dip_prior, load_dip_prior
from generators.inverse.operators import (
    MEASURE_GRAMMAR, Blur, Downsample, GaussianProjection, MeasureError, Operator, PixelMask, measure, parse_measure,
)
from generators.inverse.recovery import METHODS, Recovery, mse, recover

__all__ = [
    "AMBIENT_GRAMMAR", "Ambient", "lossy", "parse_ambient",
    "MEASURE_GRAMMAR", "METHODS", "Blur", "DIPPrior", "Downsample", "GaussianProjection", "MeasureError", "Operator", "PixelMask",
    "Recovery", "learn_dip_prior", "load_dip_prior", "measure", "mse", "parse_measure", "recover",
]
