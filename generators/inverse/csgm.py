"""Compressed sensing with a trained generator as the prior (Bora, Jalal, Price, Dimakis 2017,
"Compressed Sensing using Generative Models"): minimize ``‖A G(l, z) − y‖² + λ‖z‖²`` over the
style ``z`` of a project image model (CCGM's decoder, CausalGAN's generator), with the labels
``l`` fixed by the user or free, from random restarts optimized together in one batch."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from generators.inverse.operators import MeasureError, Operator

__all__ = ["generator_prior", "generator_prior_batch", "generator_prior_latents"]


def _check_model(model: Any, operator: Operator) -> None:
    from generators.image.base import ImageModel

    if not isinstance(model, ImageModel):
        raise MeasureError(f"the generator prior needs a trained image model (ccgm, causal-gan), got {type(model).__name__}")
    model._require_fitted()
    shape = (model.info.channels, model.info.size, model.info.size)
    if tuple(operator.shape) != shape:
        raise MeasureError(
            f"the model draws {shape[1]}x{shape[2]} images with {shape[0]} channel(s), but the measurement is of "
            f"{operator.shape[1]}x{operator.shape[2]} images with {operator.shape[0]}; give an image of the model's size"
        )


@contextmanager
def _frozen(module: torch.nn.Module) -> Iterator[None]:
    """The module's weights without gradients (only the latent moves), restored after."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def _label_rows(model: Any, labels: Mapping[str, Any] | pd.Series | pd.DataFrame) -> pd.DataFrame:
    row = labels if isinstance(labels, pd.DataFrame) else pd.DataFrame([dict(labels)])
    if len(row) != 1:
        raise MeasureError(f"labels for one image are one row, got {len(row)}")
    missing = [n for n in model.image_parents if n not in row.columns]
    if missing:
        raise MeasureError(
            f"labels= must give every label the image depends on; missing {', '.join(missing)} "
            f"(the image's parents: {', '.join(model.image_parents)})"
        )
    return row.reset_index(drop=True)


def _read_encoding(encoding: Any, values: np.ndarray) -> dict[str, Any]:
    """Tuned label encodings as label values: a continuous label de-standardized, a binary
    one thresholded at 0.5, a categorical one its largest entry (the relaxation rounded)."""
    out: dict[str, Any] = {}
    for c in encoding.schema.columns:
        v = values[encoding.slices[c.name]]
        if c.kind == "categorical":
            out[c.name] = c.categories[int(v.argmax())]
        elif c.kind == "binary":
            code = int(v[0] > 0.5)
            out[c.name] = c.categories[code] if len(c.categories) == 2 else code
        else:
            out[c.name] = float(c.mean + c.std * v[0])
    return out


def _fit_starts(model: Any, operator: Operator, y: Tensor, enc: Tensor, z0: Tensor, tune: bool, steps: int,
                lr: float, prior: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Adam on ``‖A G(l, z) − y‖² + prior·‖z‖²`` for every start at once (rows of ``enc``, ``z0``;
    ``y`` one row, or one row per start); the starts' final images, measurement errors, label
    encodings (tuned with ``z`` when ``tune``) and styles ``z``."""
    with torch.inference_mode(False), torch.enable_grad(), _frozen(model.image_net):
        z = z0.clone().requires_grad_(True)
        lab = enc.clone().requires_grad_(tune and enc.shape[1] > 0)
        params = [z] + ([lab] if lab.requires_grad else [])
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(steps):
            fit = ((operator.forward(model._decode(lab, z)) - y) ** 2).sum(1)
            loss = (fit + prior * (z**2).sum(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            images = model._decode(lab, z)
            fit = ((operator.forward(images) - y) ** 2).sum(1)
    return images, fit, lab, z.detach()


def generator_prior_batch(
    y: Tensor,
    operator: Operator,
    model: Any,
    seed: int = 0,
    restarts: int = 10,
    steps: int = 300,
    lr: float = 0.05,
    prior: float = 0.1,
    tune_labels: bool = True,
) -> tuple[Tensor, Tensor]:
    """``generator_prior`` with the labels free for ``n`` measurement vectors ``y [n, m]`` at
    once: all ``n · restarts`` starts are optimized in one batch (the objective is a sum over
    starts, and Adam is per coordinate, so each start moves as it would alone). Returns the
    images ``[n, C, H, W]`` (each the start with the lowest measurement error) and those
    errors ``[n]``."""
    images, err, _, _ = generator_prior_latents(y, operator, model, seed=seed, restarts=restarts, steps=steps, lr=lr,
                                                prior=prior, tune_labels=tune_labels)
    n = len(err)
    chosen = images.view(n, restarts, *images.shape[1:])[torch.arange(n), err.argmin(1)]
    return chosen.clamp(0, 1), err.min(1).values


def generator_prior_latents(
    y: Tensor,
    operator: Operator,
    model: Any,
    seed: int = 0,
    restarts: int = 10,
    steps: int = 300,
    lr: float = 0.05,
    prior: float = 0.1,
    tune_labels: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every start of ``generator_prior_batch``, not only the best: for ``y [n, m]``, the
    ``n · restarts`` starts' images ``[n · restarts, C, H, W]`` (image ``i``'s starts are rows
    ``i · restarts`` to ``(i + 1) · restarts − 1``), measurement errors ``[n, restarts]``, label
    encodings ``[n · restarts, L]`` and styles ``z [n · restarts, S]`` on the model's device:
    ``model._decode(labels, z)`` redraws the images, and the latents can be optimized further."""
    _check_model(model, operator)
    if restarts < 1 or steps < 0:
        raise MeasureError(f"restarts >= 1 and steps >= 0, got {restarts} and {steps}")
    y = y.detach().float()
    if y.dim() != 2 or y.shape[1] != operator.m:
        raise MeasureError(f"the operator makes {operator.m} measurements per image, so y is [n, {operator.m}]; "
                           f"got {tuple(y.shape)}")
    n = y.shape[0]
    dev = model._device
    if n == 0:
        return (torch.zeros(0, *operator.shape), torch.zeros(0, restarts),
                torch.zeros(0, model.encoding.width, device=dev), torch.zeros(0, model.style_dim, device=dev))
    rng = np.random.default_rng(seed)
    rows = model.sample(n * restarts, seed=int(rng.integers(2**31))).labels.reset_index(drop=True)
    enc = model.encoding.tensor(rows, dev).float()
    z0 = torch.from_numpy(model._style_noise(n * restarts, rng)).to(dev).float()
    y_starts = y.to(dev).repeat_interleave(restarts, 0)
    images, fit, lab, z = _fit_starts(model, operator, y_starts, enc, z0, tune_labels, steps, lr, prior)
    fit = fit.view(n, restarts)
    if not torch.isfinite(fit.min(1).values).all():
        raise FloatingPointError("the generator-prior optimization diverged; lower lr")
    return images.detach().float().cpu(), fit.detach().float().cpu(), lab.detach(), z


def generator_prior(
    y: Tensor,
    operator: Operator,
    model: Any,
    labels: Mapping[str, Any] | pd.Series | pd.DataFrame | None = None,
    seed: int = 0,
    restarts: int = 10,
    steps: int = 300,
    lr: float = 0.05,
    prior: float = 0.1,
    tune_labels: bool = True,
) -> tuple[Tensor, dict[str, Any]]:
    """The image ``G(l, ẑ)`` of ``model`` that best explains ``y``.

    ``restarts`` starts are optimized together (one batch) by Adam for ``steps`` steps on
    ``‖A G(l, z) − y‖² + prior·‖z‖²`` (sums; entries of ``A`` scaled as in Bora et al.); the
    start with the lowest measurement error ``‖A G(l, z) − y‖²`` wins. Styles start from the
    model's own style noise. ``labels`` (one value per parent of the image node) fixes the
    labels: recovery under a labelled hypothesis. Without it the labels are free: each start
    draws them from the model's label mechanisms and, with ``tune_labels``, their encoding is
    optimized with ``z`` (a continuous relaxation for discrete labels).

    Returns the image ``[C, H, W]`` and ``{"restarts", "steps", "measurement_error",
    "labels": the winning start's labels (decoded when fixed or drawn, else its encoding)}``.
    """
    _check_model(model, operator)
    if restarts < 1 or steps < 0:
        raise MeasureError(f"restarts >= 1 and steps >= 0, got {restarts} and {steps}")
    y = y.detach().float().reshape(1, -1)
    if y.shape[1] != operator.m:
        raise MeasureError(f"the operator makes {operator.m} measurements but y has {y.shape[1]}")
    rng = np.random.default_rng(seed)
    dev = model._device
    if labels is not None:
        rows = _label_rows(model, labels)
        rows = pd.concat([rows] * restarts, ignore_index=True)
        free = False
    else:
        rows = model.sample(restarts, seed=int(rng.integers(2**31))).labels.reset_index(drop=True)
        free = True
    enc = model.encoding.tensor(rows, dev).float()
    z0 = torch.from_numpy(model._style_noise(restarts, rng)).to(dev).float()
    images, fit, lab, _ = _fit_starts(model, operator, y.to(dev), enc, z0, free and tune_labels, steps, lr, prior)
    best = int(fit.argmin())
    if lab.requires_grad:
        won: Any = _read_encoding(model.encoding, lab[best].detach().cpu().numpy())
    else:
        won = {k: (v.item() if hasattr(v, "item") else v) for k, v in rows.iloc[best].items()}
    info = {"restarts": restarts, "steps": steps, "measurement_error": float(fit[best]), "labels": won,
            "labels_free": free}
    if not math.isfinite(info["measurement_error"]):
        raise FloatingPointError("the generator-prior optimization diverged; lower lr")
    return images[best].detach().float().cpu().clamp(0, 1), info
