"""The classical baseline of compressed sensing: Lasso (scikit-learn) on the image's 2-D DCT
coefficients (SciPy), with the penalty chosen by cross-validation over the measurements."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch
from scipy.fft import idctn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV
from sklearn.model_selection import KFold
from torch import Tensor

from generators.inverse.operators import MeasureError, Operator

__all__ = ["dct_basis", "lasso_dct", "MAX_PIXELS"]

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


def lasso_dct(y: Tensor, operator: Operator, seed: int = 0, folds: int = 5, n_alphas: int = 40,
              max_iter: int = 5000) -> tuple[Tensor, dict[str, float]]:
    """``x = Ψ ĉ`` with ``ĉ = argmin 1/(2m)‖y − A Ψ c‖² + α‖c‖₁``; ``α`` from a path of
    ``n_alphas`` values is the one with the lowest mean held-out squared error over ``folds``
    folds of the measurements (``LassoCV``). Returns the image ``[C, H, W]`` (clipped to [0, 1])
    and ``{"alpha": α, "nonzero": number of nonzero coefficients}``."""
    if operator.n_pixels > MAX_PIXELS:
        raise MeasureError(
            f"lasso builds a dense {operator.m} x {operator.n_pixels} sensing matrix; images of at most {MAX_PIXELS} "
            f"pixel values (64x64 grey, 32x32 RGB) are supported, got {operator.shape}"
        )
    m = operator.m
    if m < 4:
        raise MeasureError(f"lasso chooses its penalty by cross-validation over the measurements and needs at least 4, got {m}")
    phi = operator.matrix().double().numpy() @ dct_basis(tuple(operator.shape))
    target = y.detach().double().cpu().numpy().reshape(-1)
    cv = KFold(n_splits=min(folds, m), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = LassoCV(alphas=n_alphas, cv=cv, fit_intercept=False, max_iter=max_iter, tol=1e-4, random_state=seed,
                      selection="cyclic").fit(phi, target)
    x = dct_basis(tuple(operator.shape)) @ fit.coef_
    img = torch.from_numpy(x).float().view(*operator.shape).clamp(0, 1)
    return img, {"alpha": float(fit.alpha_), "nonzero": float(np.count_nonzero(fit.coef_))}
