"""Linear measurement operators ``y = A x + noise`` on images ``[n, C, H, W]`` in [0, 1]
(random Gaussian projections, pixel masks, downsampling, blur) and the parser of the
``--measure`` grammar (``gaussian:M``, ``mask:random:P``, ``mask:block:K``, ``down:F``,
``blur:SIGMA``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "MeasureError", "Operator", "GaussianProjection", "PixelMask", "Downsample", "Blur",
    "parse_measure", "measure", "MEASURE_GRAMMAR",
]

MEASURE_GRAMMAR = ("gaussian:M (M random projections), mask:random:P (a fraction P of pixels kept), "
                   "mask:block:K (a K x K central block missing), down:F (F x downsampling), blur:SIGMA")


class MeasureError(ValueError):
    """A measurement the operator cannot be built for (bad ``--measure`` text, wrong sizes)."""


class Operator:
    """A linear map ``A`` from images ``[n, C, H, W]`` to measurements ``[n, m]``.

    Subclasses provide ``forward``; ``adjoint`` (``A^T``) and ``matrix`` (``A`` as an explicit
    ``[m, C·H·W]`` tensor, for Lasso) follow from it unless a subclass has a cheaper way.
    """

    spec: str = ""  # the --measure text that builds it

    def __init__(self, shape: tuple[int, int, int]) -> None:
        c, h, w = (int(v) for v in shape)
        if c < 1 or h < 1 or w < 1:
            raise MeasureError(f"an image shape is (channels, height, width) with positive sizes, got {shape}")
        self.shape = (c, h, w)

    @property
    def n_pixels(self) -> int:
        c, h, w = self.shape
        return c * h * w

    @property
    def m(self) -> int:
        """The number of measurements."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            return self.forward(x[None])[0]
        if tuple(x.shape[1:]) != self.shape:
            raise MeasureError(f"the operator measures images of shape {self.shape}, got {tuple(x.shape[1:])}")
        return self.forward(x)

    def adjoint(self, y: Tensor) -> Tensor:
        """``A^T y`` for ``y [n, m]``: images ``[n, C, H, W]`` (by autograd: A is linear)."""
        with torch.enable_grad():
            x = torch.zeros(y.shape[0], *self.shape, dtype=y.dtype, requires_grad=True)
            (g,) = torch.autograd.grad((self.forward(x) * y).sum(), x)
        return g

    def matrix(self) -> Tensor:
        """``A`` as a dense ``[m, C·H·W]`` tensor (pixels in C, H, W order)."""
        eye = torch.eye(self.n_pixels).view(self.n_pixels, *self.shape)
        with torch.no_grad():
            return torch.cat([self.forward(eye[s : s + 1024]) for s in range(0, self.n_pixels, 1024)]).T.contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, shape={self.shape}, m={self.m})"


class GaussianProjection(Operator):
    """``m`` random projections, entries i.i.d. N(0, 1/m) (as in Bora et al. 2017)."""

    def __init__(self, shape: tuple[int, int, int], m: int, seed: int = 0) -> None:
        super().__init__(shape)
        if m < 1:
            raise MeasureError(f"gaussian:M needs at least one measurement, got M = {m}")
        gen = torch.Generator().manual_seed(seed)
        self.a = torch.randn(m, self.n_pixels, generator=gen) / math.sqrt(m)
        self.spec = f"gaussian:{m}"

    @property
    def m(self) -> int:
        return self.a.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.a.to(x).T

    def adjoint(self, y: Tensor) -> Tensor:
        return (y @ self.a.to(y)).view(-1, *self.shape)

    def matrix(self) -> Tensor:
        return self.a.clone()


class PixelMask(Operator):
    """Inpainting: the pixels kept (all channels of a kept pixel), in raster order. Either a
    random fraction ``keep`` of pixels, or every pixel but a ``block`` x ``block`` central square."""

    def __init__(self, shape: tuple[int, int, int], keep: float | None = None, block: int | None = None,
                 seed: int = 0) -> None:
        super().__init__(shape)
        c, h, w = self.shape
        if (keep is None) == (block is None):
            raise MeasureError("a pixel mask is either random (keep=P) or a central block (block=K)")
        if keep is not None:
            if not 0.0 < keep <= 1.0:
                raise MeasureError(f"mask:random:P keeps a fraction P of the pixels, 0 < P <= 1; got {keep}")
            k = max(1, round(keep * h * w))
            gen = torch.Generator().manual_seed(seed)
            kept = torch.zeros(h * w, dtype=torch.bool)
            kept[torch.randperm(h * w, generator=gen)[:k]] = True
            self.spec = f"mask:random:{keep:g}"
        else:
            if not 1 <= block < min(h, w):  # type: ignore[operator]
                raise MeasureError(f"mask:block:K removes a K x K central block, 1 <= K < {min(h, w)} here; got {block}")
            grid = torch.ones(h, w, dtype=torch.bool)
            t, l = (h - block) // 2, (w - block) // 2  # type: ignore[operator]
            grid[t : t + block, l : l + block] = False  # type: ignore[operator]
            kept = grid.flatten()
            self.spec = f"mask:block:{block}"
        self.kept = kept  # [H*W] bool
        self.index = (torch.arange(c)[:, None] * h * w + torch.nonzero(kept)[:, 0][None]).flatten()

    @property
    def m(self) -> int:
        return int(self.index.numel())

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)[:, self.index.to(x.device)]

    def adjoint(self, y: Tensor) -> Tensor:
        out = torch.zeros(y.shape[0], self.n_pixels, dtype=y.dtype, device=y.device)
        out[:, self.index.to(y.device)] = y
        return out.view(-1, *self.shape)


class Downsample(Operator):
    """Super-resolution: the mean of each ``factor`` x ``factor`` block of pixels."""

    def __init__(self, shape: tuple[int, int, int], factor: int) -> None:
        super().__init__(shape)
        _, h, w = self.shape
        if factor < 2 or h % factor or w % factor:
            raise MeasureError(f"down:F needs an integer F >= 2 that divides the image side ({h}x{w}); got {factor}")
        self.factor = factor
        self.spec = f"down:{factor}"

    @property
    def m(self) -> int:
        c, h, w = self.shape
        return c * (h // self.factor) * (w // self.factor)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.factor).flatten(1)

    def adjoint(self, y: Tensor) -> Tensor:
        c, h, w = self.shape
        f = self.factor
        small = y.view(-1, c, h // f, w // f)
        return F.interpolate(small, scale_factor=f, mode="nearest") / (f * f)


class Blur(Operator):
    """A Gaussian blur of standard deviation ``sigma`` pixels (kernel radius 3·sigma, zero
    padding, so ``A`` is symmetric), every pixel measured."""

    def __init__(self, shape: tuple[int, int, int], sigma: float) -> None:
        super().__init__(shape)
        if not sigma > 0 or not math.isfinite(sigma):
            raise MeasureError(f"blur:SIGMA needs a positive blur width in pixels, got {sigma}")
        r = max(1, math.ceil(3 * sigma))
        t = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-(t**2) / (2 * sigma**2))
        k = k / k.sum()
        self.kernel = (k[:, None] * k[None, :])[None, None]  # [1, 1, K, K]
        self.sigma, self.radius = sigma, r
        self.spec = f"blur:{sigma:g}"

    @property
    def m(self) -> int:
        return self.n_pixels

    def forward(self, x: Tensor) -> Tensor:
        c = self.shape[0]
        k = self.kernel.to(x).expand(c, 1, -1, -1)
        return F.conv2d(x, k, padding=self.radius, groups=c).flatten(1)


def _number(text: str, spec: str, what: str, integer: bool) -> float:
    try:
        v = float(text)
    except ValueError:
        raise MeasureError(f"--measure {spec!r}: {what} must be a number, got {text!r}") from None
    if integer and v != int(v):
        raise MeasureError(f"--measure {spec!r}: {what} must be a whole number, got {text!r}")
    return v


def parse_measure(spec: str, shape: tuple[int, int, int], seed: int = 0) -> Operator:
    """The operator named by ``spec`` for images of ``shape`` (channels, height, width).

    >>> parse_measure("gaussian:200", (1, 32, 32)).m
    200
    >>> parse_measure("mask:block:8", (1, 32, 32)).m
    960
    >>> parse_measure("down:2", (3, 32, 32)).m
    768
    """
    text = str(spec).strip().lower()
    parts = text.split(":")
    head = parts[0]
    try:
        if head == "gaussian" and len(parts) == 2:
            m = int(_number(parts[1], spec, "M (the number of measurements)", True))
            if m > 4 * math.prod(shape):
                raise MeasureError(f"--measure {spec!r}: M = {m} is more than 4x the {math.prod(shape)} pixel values")
            return GaussianProjection(shape, m, seed)
        if head == "mask" and len(parts) == 3 and parts[1] == "random":
            return PixelMask(shape, keep=_number(parts[2], spec, "P (the fraction of pixels kept)", False), seed=seed)
        if head == "mask" and len(parts) == 3 and parts[1] == "block":
            return PixelMask(shape, block=int(_number(parts[2], spec, "K (the block side in pixels)", True)))
        if head == "down" and len(parts) == 2:
            return Downsample(shape, int(_number(parts[1], spec, "F (the downsampling factor)", True)))
        if head == "blur" and len(parts) == 2:
            return Blur(shape, _number(parts[1], spec, "SIGMA (the blur width in pixels)", False))
    except MeasureError as e:
        if str(e).startswith("--measure"):
            raise
        raise MeasureError(f"--measure {spec!r}: {e}") from None
    raise MeasureError(f"unknown measurement {spec!r}; use one of: {MEASURE_GRAMMAR}")


def measure(x: Tensor, operator: Operator, noise: float = 0.0, seed: int = 0) -> Tensor:
    """``y = A x + noise · ε`` with ε ~ N(0, I) drawn from ``seed``; ``x`` is ``[C, H, W]`` or
    ``[n, C, H, W]`` (the result is ``[m]`` or ``[n, m]``)."""
    if noise < 0 or not math.isfinite(noise):
        raise MeasureError(f"the noise level is a standard deviation >= 0, got {noise}")
    y = operator(x.float())
    if noise > 0:
        gen = torch.Generator().manual_seed(seed)
        y = y + noise * torch.randn(y.shape, generator=gen).to(y)
    return y
