"""AmbientGAN's random measurements (Bora, Price, Dimakis 2018, "AmbientGAN: Generative models
from lossy measurements"): pixel dropout, Gaussian blur, additive noise and random Gaussian
projections, drawn afresh for every image, parsed from text such as ``dropout:0.9`` or
``blur:1+noise:0.1``; applied to generated images while a GAN trains (``CausalGANConfig.ambient``)
and to a dataset's images to make the lossy data such a GAN learns from (``lossy``).

>>> m = parse_ambient("dropout:0.9")
>>> m.dropout, m.images
(0.9, True)
>>> parse_ambient("blur:1+noise:0.1").spec
'blur:1+noise:0.1'
>>> parse_ambient("none").active
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from causal.images.data import ImageData
from generators.inverse.operators import Blur, MeasureError

__all__ = ["AMBIENT_GRAMMAR", "Ambient", "parse_ambient", "lossy"]

AMBIENT_GRAMMAR = ("none; dropout:P (each pixel zeroed with probability P), blur:SIGMA (Gaussian blur of SIGMA "
                   "pixels), noise:STD (additive Gaussian noise, clipped to [0, 1]), gaussian:M (M random Gaussian "
                   "projections, a fresh matrix per image); join parts with '+', e.g. blur:1+noise:0.1")


@dataclass(frozen=True)
class Ambient:
    """A random measurement ``f_θ`` with θ drawn per image: the image is blurred (``blur`` σ
    pixels, fixed), each pixel (all its channels) zeroed with probability ``dropout``, then
    ``noise`` · N(0, 1) added and the result clipped to [0, 1]; or (``gaussian`` = M) ``M``
    projections on a fresh N(0, 1/M) matrix. ``spec`` is the text it was parsed from."""

    spec: str = "none"
    dropout: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    gaussian: int = 0

    @property
    def active(self) -> bool:
        """False for ``none``: the identity."""
        return bool(self.dropout or self.blur or self.noise or self.gaussian)

    @property
    def images(self) -> bool:
        """Whether measurements are images (``[n, C, H, W]``); Gaussian projections are vectors."""
        return not self.gaussian

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``f_θ(x)`` for images ``x [n, C, H, W]`` in [0, 1], a fresh θ for each image drawn
        from ``generator`` (a CPU generator; the draws move to ``x``'s device); differentiable
        in ``x``. Images come back ``[n, C, H, W]``, projections ``[n, M]``."""
        if not self.active:
            return x
        n, c, h, w = x.shape
        if self.gaussian:
            a = torch.randn(n, self.gaussian, c * h * w, generator=generator).to(x) / math.sqrt(self.gaussian)
            y = torch.bmm(a, x.flatten(1)[:, :, None])[:, :, 0]
        else:
            y = Blur((c, h, w), self.blur).forward(x).view(n, c, h, w) if self.blur else x
            if self.dropout:
                keep = torch.rand(n, 1, h, w, generator=generator).to(x.device) >= self.dropout
                y = y * keep.to(y.dtype)
        if self.noise:
            y = y + self.noise * torch.randn(y.shape, generator=generator).to(y)
            if self.images:
                y = y.clamp(0.0, 1.0)
        return y


def _number(text: str, spec: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise MeasureError(f"ambient measurement {spec!r}: {what} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise MeasureError(f"ambient measurement {spec!r}: {what} must be a finite number, got {text!r}")
    return v


def parse_ambient(spec: str) -> Ambient:
    """The measurement named by ``spec`` (see ``AMBIENT_GRAMMAR``); ``MeasureError`` naming
    the part at fault otherwise."""
    text = str(spec).strip().lower().replace(" ", "")
    if text in ("", "none", "off"):
        return Ambient()
    parts: dict[str, float] = {}
    for part in text.split("+"):
        name, _, value = part.partition(":")
        if name not in ("dropout", "blur", "noise", "gaussian") or not value:
            raise MeasureError(f"unknown ambient measurement part {part!r} in {spec!r}; use {AMBIENT_GRAMMAR}")
        if name in parts:
            raise MeasureError(f"ambient measurement {spec!r} names {name} twice")
        parts[name] = _number(value, spec, name)
    p, sigma, std, m = (parts.get(k, 0.0) for k in ("dropout", "blur", "noise", "gaussian"))
    if "dropout" in parts and not 0.0 < p < 1.0:
        raise MeasureError(f"ambient measurement {spec!r}: dropout:P zeroes each pixel with probability P, "
                           f"0 < P < 1; got {p:g}")
    if "blur" in parts and not sigma > 0:
        raise MeasureError(f"ambient measurement {spec!r}: blur:SIGMA needs a positive width in pixels, got {sigma:g}")
    if "noise" in parts and not std > 0:
        raise MeasureError(f"ambient measurement {spec!r}: noise:STD needs a positive standard deviation, got {std:g}")
    if "gaussian" in parts:
        if m != int(m) or m < 1:
            raise MeasureError(f"ambient measurement {spec!r}: gaussian:M needs a whole number M >= 1, got {m:g}")
        if p or sigma:
            raise MeasureError(f"ambient measurement {spec!r}: gaussian:M combines with noise only")
    canon = "+".join(f"{k}:{parts[k]:g}" for k in ("blur", "dropout", "gaussian", "noise") if k in parts)
    return Ambient(canon, float(p), float(sigma), float(std), int(m))


def lossy(data: ImageData, spec: str, seed: int = 0) -> ImageData:
    """The same labelled images seen only through the measurement ``spec`` (a fresh draw per
    image from ``seed``), rounded back to uint8 images: the lossy data AmbientGAN learns from.
    Projections (``gaussian:M``) are vectors, not images, and are refused.

    >>> from causal import images
    >>> d = lossy(images.load("morpho-glyphs", n=4, seed=0).data, "dropout:0.5", seed=0)
    >>> d.images.shape, d.labels.shape[0]
    ((4, 32, 32, 1), 4)
    """
    m = parse_ambient(spec)
    if not m.images:
        raise MeasureError(f"lossy data are images, and {m.spec} makes vectors; use dropout, blur or noise")
    if not m.active:
        return data
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    with torch.no_grad():
        for s in range(0, len(data), 1024):
            y = m(data[s : s + 1024].tensor(), gen)
            out.append(np.round(y.clamp(0, 1).numpy().transpose(0, 2, 3, 1) * 255.0).astype(np.uint8))
    return data.with_images(np.concatenate(out)) if out else data
