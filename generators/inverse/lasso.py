"""The classical baseline of compressed sensing: Lasso (scikit-learn) on the image's coefficients
in an orthonormal basis, 2-D DCT (SciPy) or 2-D wavelets (PyWavelets), with the penalty chosen
by cross-validation over the measurements and the coarsest (DC) band left unpenalized."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
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

__all__ = ["BASES", "dct_basis", "free_atoms", "lasso", "lasso_dct", "wavelet_basis", "wavelet_level", "MAX_PIXELS"]

BASES = ("dct", "wavelet")

MAX_PIXELS = 4096  # the dense sensing matrix is [m, pixels] and the basis [pixels, pixels]
MAX_FREE_FRACTION = 0.25  # free_dc frees a wavelet approximation band only when it has at most m / 4 columns


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


def free_atoms(shape: tuple[int, int, int], basis: str, m: int, wavelet: str = "db4",
               level: int | None = None) -> tuple[np.ndarray, str]:
    """The basis columns ``lasso(free_dc=True)`` leaves unpenalized, as indices into ``Ψ``'s
    columns, and their name: for ``"dct"`` the (0, 0) coefficient of each channel (the constant
    image); for ``"wavelet"`` the coarsest approximation band of each channel (the top-left block
    of ``pywt.coeffs_to_array``'s layout, e.g. 8 x 8 per channel for db4 at 32 px, 2 levels) when
    it has at most ``m * MAX_FREE_FRACTION`` columns, else none (``lasso`` then frees the constant
    image of each channel instead, which lies in that band's span)."""
    c, h, w = shape
    if basis == "dct":
        return np.arange(c) * (h * w), "dc"
    level = wavelet_level(min(h, w), wavelet) if level is None else int(level)
    rows, cols = pywt.coeffs_to_array(pywt.wavedec2(np.zeros((h, w)), wavelet, mode="periodization", level=level))[1][0]
    band = (np.arange(h)[rows, None] * w + np.arange(w)[None, cols]).reshape(-1)
    idx = (np.arange(c)[:, None] * (h * w) + band[None, :]).reshape(-1)
    return (idx, "approximation") if len(idx) <= m * MAX_FREE_FRACTION else (np.zeros(0, dtype=int), "constant")


def lasso(y: Tensor, operator: Operator, basis: str = "dct", seed: int = 0, folds: int = 5, n_alphas: int = 40,
          max_iter: int = 5000, wavelet: str = "db4", level: int | None = None, free_dc: bool = True,
          alphas: Sequence[float] | None = None) -> tuple[Tensor, dict[str, Any]]:
    """``x = Ψ ĉ`` with ``ĉ = argmin 1/(2m)‖y − A Ψ c‖² + α Σ_{k ∉ F} |c_k|``, ``Ψ`` the orthonormal 2-D
    ``basis`` (``"dct"``: ``dct_basis``; ``"wavelet"``: ``wavelet_basis(wavelet, level)``); ``α``
    from a path of ``n_alphas`` values (or the given ``alphas``) is the one with the lowest mean
    held-out squared error over ``folds`` folds of the measurements (``LassoCV``).

    ``free_dc`` (default) leaves the coarsest coefficients ``F`` unpenalized (``free_atoms``: the
    DCT's (0, 0) coefficient per channel; the wavelet approximation band per channel, or, when
    that band has more than ``m * MAX_FREE_FRACTION`` columns, the constant image per channel),
    so a bright image's mean level is not shrunk towards black. It is solved exactly by
    Frisch–Waugh–Lovell: ``y`` and the penalized columns of ``Φ = AΨ`` are projected onto the
    orthogonal complement of the free columns (QR), ``LassoCV`` runs on that residualized problem,
    and the free coefficients are the least-squares fit of ``y − Φ_pen ĉ_pen`` on the free
    columns. The cross-validation folds then split residualized rows (each mixes every
    measurement through the projection), an approximation of held-out error accepted here.
    ``free_dc=False`` penalizes every coefficient.

    Returns the image ``[C, H, W]`` (clipped to [0, 1]) and ``{"alpha": α, "nonzero": number of
    nonzero coefficients (the free ones counted), "free": number of free columns, "basis": ...}``
    (with ``free_dc``, ``"free_band"``: ``"dc"``, ``"approximation"`` or ``"constant"``)."""
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
    a = operator.matrix().double().numpy()
    target = y.detach().double().cpu().numpy().reshape(-1)
    free_band = None
    if free_dc:
        idx, free_band = free_atoms(shape, basis, m, wavelet, level)
        if len(idx):
            atoms = psi[:, idx]
            psi_pen = np.delete(psi, idx, axis=1)
        else:  # the constant image of each channel (unit norm); every basis column stays penalized
            c, h, w = shape
            atoms = np.kron(np.eye(c), np.full((h * w, 1), 1.0 / np.sqrt(h * w)))
            psi_pen = psi
    else:
        atoms, psi_pen = np.zeros((psi.shape[0], 0)), psi
    phi_free, phi = a @ atoms, a @ psi_pen
    if atoms.shape[1]:  # Frisch–Waugh–Lovell: residualize on the free columns
        q = np.linalg.qr(phi_free)[0]
        y_fit, phi_fit = target - q @ (q.T @ target), phi - q @ (q.T @ phi)
    else:
        y_fit, phi_fit = target, phi
    cv = KFold(n_splits=min(folds, m), shuffle=True, random_state=seed)
    path = n_alphas if alphas is None else np.asarray(alphas, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = LassoCV(alphas=path, cv=cv, fit_intercept=False, max_iter=max_iter, tol=1e-4, random_state=seed,
                      selection="cyclic").fit(phi_fit, y_fit)
    x = psi_pen @ fit.coef_
    if atoms.shape[1]:
        b = np.linalg.lstsq(phi_free, target - phi @ fit.coef_, rcond=None)[0]
        x = x + atoms @ b
    img = torch.from_numpy(x).float().view(*operator.shape).clamp(0, 1)
    details: dict[str, Any] = {"alpha": float(fit.alpha_), "nonzero": float(np.count_nonzero(fit.coef_) + atoms.shape[1]),
                               "free": int(atoms.shape[1]), "basis": basis}
    if free_band is not None:
        details["free_band"] = free_band
    if basis == "wavelet":
        details.update(wavelet=wavelet, level=level)
    return img, details


def lasso_dct(y: Tensor, operator: Operator, **options: Any) -> tuple[Tensor, dict[str, Any]]:
    """``lasso`` in the 2-D DCT basis."""
    return lasso(y, operator, basis="dct", **options)
