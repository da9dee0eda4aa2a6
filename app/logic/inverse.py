"""The Inverse problems page's logic: build a measurement from the page's choices, measure an
image, picture the measurement, learn a prior on Deep Image Prior's weights from the other
images shown, and recover the image with the chosen method."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from generators.inverse import DIPPrior, Operator, Recovery, learn_dip_prior, measure, parse_measure, recover

__all__ = ["read_image", "KINDS", "Outcome", "spec_of", "picture", "solve", "as_tensor", "as_uint8", "methods",
           "page_prior", "PRIOR_IMAGES", "PRIOR_LAM"]

PRIOR_IMAGES = 6  # images a page's DIP prior is learned from
PRIOR_LAM = 1e-2  # its λ, fixed on the page (validating it takes minutes): the one validation chose in bench/inverse.py
PRIOR_STEPS = 300  # Adam steps of each of its training fits


def methods(with_model: bool) -> list[str]:
    """The recovery methods the page offers: the generator prior only with a trained image model."""
    return ["generator", "dip", "dip-lr", "lasso", "lasso-wavelet"] if with_model else ["dip", "dip-lr", "lasso", "lasso-wavelet"]


def page_prior(pool: np.ndarray, pick: int, seed: int = 0) -> DIPPrior:
    """A DIP prior learned from up to ``PRIOR_IMAGES`` images of ``pool`` (uint8 ``[N, H, W, C]``)
    other than image ``pick``, the one to recover, with ``λ = PRIOR_LAM``."""
    others = [i for i in range(len(pool)) if i != pick][:PRIOR_IMAGES]
    if len(others) < 3:
        raise ValueError("Deep Image Prior with learned regularization learns its prior from at least 3 other images of "
                         "the same kind; pick a built-in dataset or a trained run instead of a single uploaded image")
    return learn_dip_prior(pool[others], steps=PRIOR_STEPS, seed=seed, lam=PRIOR_LAM)

# measurement kind -> (label, parameter label, default, min, max, step); the --measure grammar
KINDS: dict[str, tuple[str, str, float, float, float, float]] = {
    "gaussian": ("Random Gaussian projections (compressed sensing)", "measurements M", 200, 5, 2000, 5),
    "mask:random": ("Random pixels kept (inpainting)", "fraction P of pixels kept", 0.5, 0.05, 1.0, 0.05),
    "mask:block": ("Central block missing (inpainting)", "block side K (pixels)", 12, 1, 31, 1),
    "down": ("Downsampling (super-resolution)", "factor F", 2, 2, 8, 2),
    "blur": ("Gaussian blur (deblurring)", "blur sigma (pixels)", 1.0, 0.25, 4.0, 0.25),
}


def spec_of(kind: str, value: float) -> str:
    """The ``--measure`` text of a page choice: ``spec_of("gaussian", 200) == "gaussian:200"``."""
    if kind not in KINDS:
        raise ValueError(f"unknown measurement kind '{kind}'; choose one of {', '.join(KINDS)}")
    integer = kind in ("gaussian", "mask:block", "down")
    return f"{kind}:{int(value) if integer else f'{float(value):g}'}"


def read_image(path: str | Path | IO[bytes], channels: int | None = None, size: int | None = None) -> np.ndarray:
    """A PNG/JPEG (a path, or an open file such as an upload) as uint8 ``[H, W, C]``: grey or
    RGB as in the file unless ``channels`` (1 or 3) is asked for; with ``size``, it must be
    ``size`` x ``size`` pixels."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(path, (str, Path)):
        p: Any = Path(path)
        if not p.is_file():
            raise ValueError(f"image {p}: no such file")
        name = str(p)
    else:
        p, name = path, getattr(path, "name", "the image")
    try:
        with Image.open(p) as img:
            img.load()
            if channels is None:  # grey files stay grey; palette and colour files are read as RGB
                channels = 1 if img.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
            arr = np.asarray(img.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"image {name}: not an image file PIL can read ({str(e).splitlines()[0]})") from None
    arr = arr[..., None] if arr.ndim == 2 else arr
    if size is not None and arr.shape[:2] != (size, size):
        raise ValueError(
            f"image {name} is {arr.shape[1]}x{arr.shape[0]} pixels but the model draws {size}x{size} images; "
            "resize or crop it to the model's size"
        )
    return arr


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, C]`` -> floats ``[C, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1) / 255.0


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """floats ``[C, H, W]`` -> uint8 ``[H, W, C]`` (clipped to [0, 1])."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def picture(op: Operator, y: torch.Tensor) -> np.ndarray:
    """What the measurement shows, as an image: the kept pixels on grey (masks), the small
    image enlarged (downsampling), the blurred image (blur), or the back-projection ``A^T y``
    rescaled to [0, 1] (Gaussian projections, which look like noise)."""
    from generators.inverse import Blur, Downsample, PixelMask

    c, h, w = op.shape
    y = y.reshape(1, -1).float()
    if isinstance(op, PixelMask):
        img = torch.full((1, c * h * w), 0.5)
        img[:, op.index] = y
        return as_uint8(img.view(c, h, w))
    if isinstance(op, Downsample):
        return as_uint8(op.adjoint(y)[0] * op.factor**2)
    if isinstance(op, Blur):
        return as_uint8(y.view(c, h, w))
    back = op.adjoint(y)[0]
    lo, hi = float(back.min()), float(back.max())
    return as_uint8((back - lo) / (hi - lo or 1.0))


@dataclass(frozen=True)
class Outcome:
    """A measured image and its recovery: the truth, the measurement's picture, the recovery."""

    truth: np.ndarray  # uint8 [H, W, C]
    measured: np.ndarray  # uint8 [H, W, C]
    recovery: Recovery
    m: int
    pixels: int


def solve(image: np.ndarray, spec: str, method: str, model: Any = None, noise: float = 0.0, seed: int = 0,
          **options: Any) -> Outcome:
    """Measure ``image`` (uint8 ``[H, W, C]``) by ``spec`` plus noise, then recover it by ``method``."""
    x = as_tensor(image)
    op = parse_measure(spec, tuple(x.shape), seed=seed)
    y = measure(x, op, noise=noise, seed=seed + 1)
    r = recover(y, op, method=method, model=model if method == "generator" else None, truth=x, seed=seed, **options)
    return Outcome(truth=np.asarray(image), measured=picture(op, y), recovery=r, m=op.m, pixels=op.n_pixels)
