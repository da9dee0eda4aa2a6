"""The classical baseline of compressed sensing: Lasso (scikit-learn) on the image's coefficients
in an orthonormal basis, 2-D DCT (SciPy) or 2-D wavelets (PyWavelets), with the penalty chosen
by cross-validation over the measurements."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pywt
import torch
from scipy.fft import idctn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV
from sklearn.model_selection import KFold
from torch import Tensor

from generators.inverse.operators import MeasureError, Operator

__all__ = ["BASES", "dct_basis", "lasso", "lasso_dct", "wavelet_basis", "wavelet_level", "MAX_PIXELS"]

BASES = ("dct", "wavelet")

MAX_PIXELS = 4096  # the dense sensing matrix is [m, pixels] and the basis [pixels, pixels]


@lru_cache(maxsize=4)
def dct_basis(shape: tuple[int, int, int]) -> np.ndarray:
    """``Ψ [pixels, pixels]``: column ``k`` is the image of the ``k``-th orthonormal 2-D DCT-II
    coefficient (per channel), so an image is ``x = Ψ c`` and ``Ψ^T Ψ = I``."""
    n = int(np.prod(shape))
    eye = np.eye(n).reshape(n, *shape)
    basis = np.ascontiguousarray(idctn(eye, axes=(2, 3), norm="ortho").reshape(n, n).T)
    basis.setflags(write=False)
    return basis


def wavelet_level(side: int, wavelet: str = "db4") -> int:
    """The default number of decomposition levels: PyWavelets' deepest level whose filters
    still fit in the coarsest band (``pywt.dwt_max_level``), at least 1 (db4: 2 levels at 32 px,
    1 at 16 px; haar: 5 at 32 px)."""
    return max(1, pywt.dwt_max_level(side, pywt.Wavelet(wavelet).dec_len))


@lru_cache(maxsize=4)
def wavelet_basis(shape: tuple[int, int, int], wavelet: str = "db4", level: int | None = None) -> np.ndarray:
    """``Ψ [pixels, pixels]``: column ``k`` is the image of the ``k``-th coefficient of the 2-D
    discrete wavelet transform (PyWavelets, ``mode="periodization"``, ``level`` levels, default
    ``wavelet_level``), per channel. With an orthogonal wavelet (haar, dbN, symN, coifN) and a
    side divisible by ``2**level`` the transform is orthonormal: ``x = Ψ c`` and ``Ψ^T Ψ = I``."""
    c, h, w = shape
    if wavelet not in pywt.wavelist(kind="discrete") or not pywt.Wavelet(wavelet).orthogonal:
        raise MeasureError(f"unknown or non-orthogonal wavelet '{wavelet}'; use an orthogonal one such as haar, db2, db4, sym4")
    level = wavelet_level(min(h, w), wavelet) if level is None else int(level)
    if level < 1 or h % (1 << level) or w % (1 << level):
        raise MeasureError(f"{level} wavelet levels need an image side divisible by {1 << max(level, 0)}, got {h}x{w}")
    eye = np.eye(h * w).reshape(h * w, h, w)
    rows = [pywt.coeffs_to_array(pywt.wavedec2(e, wavelet, mode="periodization", level=level))[0].reshape(-1)
            for e in eye]
    analysis = np.stack(rows, axis=1)  # [coefficients, pixels]: c = W x; orthonormal, so Ψ = W^T
    basis = np.ascontiguousarray(np.kron(np.eye(c), analysis.T))
    basis.setflags(write=False)
    return basis


def lasso(y: Tensor, operator: Operator, basis: str = "dct", seed: int = 0, folds: int = 5, n_alphas: int = 40,
          max_iter: int = 5000, wavelet: str = "db4", level: int | None = None) -> tuple[Tensor, dict[str, Any]]:
    """``x = Ψ ĉ`` with ``ĉ = argmin 1/(2m)‖y − A Ψ c‖² + α‖c‖₁``, ``Ψ`` the orthonormal 2-D
    ``basis`` (``"dct"``: ``dct_basis``; ``"wavelet"``: ``wavelet_basis(wavelet, level)``); ``α``
    from a path of ``n_alphas`` values is the one with the lowest mean held-out squared error over
    ``folds`` folds of the measurements (``LassoCV``). Returns the image ``[C, H, W]`` (clipped to
    [0, 1]) and ``{"alpha": α, "nonzero": number of nonzero coefficients, "basis": ...}``."""
    if basis not in BASES:
        raise MeasureError(f"unknown Lasso basis '{basis}'; use one of {', '.join(BASES)}")
    if operator.n_pixels > MAX_PIXELS:
        raise MeasureError(
            f"lasso builds a dense {operator.m} x {operator.n_pixels} sensing matrix; images of at most {MAX_PIXELS} "
            f"pixel values (64x64 grey, 32x32 RGB) are supported, got {operator.shape}"
        )
    m = operator.m
    if m < 4:
        raise MeasureError(f"lasso chooses its penalty by cross-validation over the measurements and needs at least 4, got {m}")
    shape = tuple(operator.shape)
    if basis == "wavelet":
        psi = wavelet_basis(shape, wavelet, level)  # checks the wavelet and the level
        level = wavelet_level(min(shape[1:]), wavelet) if level is None else int(level)
    else:
        psi = dct_basis(shape)
    phi = operator.matrix().double().numpy() @ psi
    target = y.detach().double().cpu().numpy().reshape(-1)
    cv = KFold(n_splits=min(folds, m), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = LassoCV(alphas=n_alphas, cv=cv, fit_intercept=False, max_iter=max_iter, tol=1e-4, random_state=seed,
                      selection="cyclic").fit(phi, target)
    x = psi @ fit.coef_
    img = torch.from_numpy(x).float().view(*operator.shape).clamp(0, 1)
    details: dict[str, Any] = {"alpha": float(fit.alpha_), "nonzero": float(np.count_nonzero(fit.coef_)), "basis": basis}
    if basis == "wavelet":
        details.update(wavelet=wavelet, level=level)
    return img, details


def lasso_dct(y: Tensor, operator: Operator, **options: Any) -> tuple[Tensor, dict[str, Any]]:
    """``lasso`` in the 2-D DCT basis."""
    return lasso(y, operator, basis="dct", **options)
