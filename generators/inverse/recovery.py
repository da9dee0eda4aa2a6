"""One call for every recovery method of a linear inverse problem, ``recover(y, operator,
method=...)``, and its typed result ``Recovery`` (the image, the seconds taken and, when
the truth is known, the per-pixel MSE)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from generators.inverse.operators import MeasureError, Operator

__all__ = ["Recovery", "recover", "METHODS", "mse"]

METHODS = ("generator", "dip", "dip-lr", "lasso", "lasso-wavelet")


@dataclass(frozen=True)
class Recovery:
    """A recovered image ``[C, H, W]`` (floats in [0, 1]) and how it was obtained."""

    image: Tensor
    method: str
    measurement: str  # the operator's --measure text
    m: int  # number of measurements
    seconds: float
    mse: float | None = None  # per-pixel mean squared error against the truth, when given
    details: Mapping[str, Any] = field(default_factory=dict)  # method-specific (alpha, steps, labels ...)

    def uint8(self) -> np.ndarray:
        """The image as uint8 ``[H, W, C]`` (as in ``ImageData``)."""
        return (self.image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    def to_dict(self) -> dict[str, Any]:
        """Everything but the image, JSON-ready."""
        return {"method": self.method, "measurement": self.measurement, "m": self.m, "seconds": self.seconds,
                "mse": self.mse, "details": dict(self.details)}


def mse(a: Tensor, b: Tensor) -> float:
    """Per-pixel mean squared error between two images in [0, 1]."""
    return float(((a.float() - b.float()) ** 2).mean())


def recover(
    y: Tensor,
    operator: Operator,
    method: str = "lasso",
    model: Any = None,
    *,
    truth: Tensor | None = None,
    seed: int = 0,
    **options: Any,
) -> Recovery:
    """Recover an image ``[C, H, W]`` from its measurements ``y = A x (+ noise)``.

    - ``"generator"``: the range of a trained image ``model`` as the prior (CSGM;
      ``generators.inverse.csgm.generator_prior``: ``labels=`` fixes the labels, ``restarts``,
      ``steps``, ``lr``, ``prior``);
    - ``"dip"``: Deep Image Prior, no training data (``generators.inverse.dip``: ``steps``,
      ``holdout``, ``patience``, ``lr``, ``width``);
    - ``"dip-lr"``: Deep Image Prior with learned regularization (Van Veen et al. 2018):
      ``dip_prior=`` a ``DIPPrior`` from ``learn_dip_prior`` (or ``load_dip_prior``), ``lam``
      overrides its λ; the options of ``"dip"`` otherwise;
    - ``"lasso"``: Lasso on 2-D DCT coefficients, penalty by cross-validation over the
      measurements, the DC band unpenalized unless ``free_dc=False`` (``generators.inverse.lasso``);
    - ``"lasso-wavelet"``: the same on orthonormal 2-D wavelet coefficients (PyWavelets,
      periodization; ``wavelet="db4"``, ``level``: PyWavelets' deepest level by default).

    With ``truth`` (``[C, H, W]`` in [0, 1]) the result carries the per-pixel MSE.

    >>> from generators.inverse import parse_measure, measure
    >>> x = torch.full((1, 8, 8), 0.5)
    >>> A = parse_measure("mask:random:0.5", (1, 8, 8))
    >>> r = recover(measure(x, A), A, "lasso", truth=x)
    >>> r.method, r.m, r.mse < 1e-3
    ('lasso', 32, True)
    """
    if method not in METHODS:
        raise MeasureError(f"unknown recovery method '{method}'; use one of {', '.join(METHODS)}")
    if method == "generator" and model is None:
        raise MeasureError("the generator method needs a trained image model (MODEL); dip and lasso need none")
    if method != "generator" and model is not None:
        raise MeasureError(f"the {method} method uses no trained model; drop MODEL or use --method generator")
    y = torch.as_tensor(y).detach().float().cpu().reshape(-1)
    if y.numel() != operator.m:
        raise MeasureError(f"{operator.spec} makes {operator.m} measurements but y has {y.numel()}")
    if truth is not None and tuple(truth.shape) != tuple(operator.shape):
        raise MeasureError(f"the truth has shape {tuple(truth.shape)}, the operator measures {operator.shape}")
    t0 = time.perf_counter()
    if method == "dip-lr" and options.get("dip_prior") is None:
        raise MeasureError("the dip-lr method needs a learned DIP prior (dip_prior=learn_dip_prior(images) or "
                           "load_dip_prior(folder); --dip-prior PRIOR_DIR on the command line)")
    if method != "dip-lr" and options.get("dip_prior") is not None:
        raise MeasureError(f"a DIP prior is only used by the dip-lr method, not by {method}")
    if method in ("lasso", "lasso-wavelet"):
        from generators.inverse.lasso import lasso

        image, details = lasso(y, operator, basis="dct" if method == "lasso" else "wavelet", seed=seed, **options)
    elif method in ("dip", "dip-lr"):
        from generators.inverse.dip import deep_image_prior

        image, details = deep_image_prior(y, operator, seed=seed, **options)
    else:
        from generators.inverse.csgm import generator_prior

        image, details = generator_prior(y, operator, model, seed=seed, **options)
    seconds = time.perf_counter() - t0
    return Recovery(image=image, method=method, measurement=operator.spec, m=operator.m, seconds=seconds,
                    mse=mse(image, truth) if truth is not None else None, details=details)
