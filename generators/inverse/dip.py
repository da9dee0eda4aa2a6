"""Deep Image Prior for linear inverse problems (Ulyanov et al. 2018; for compressed sensing,
Van Veen et al. 2018): an untrained conv generator with a fixed random input, fitted to the
measurements, stopped early by the error on a held-out share of them; optionally with Van Veen
et al.'s learned regularization, a Gaussian prior on the network's weights learned from DIP fits
to a few training images (``learn_dip_prior``, ``DIPPrior``, saved as safetensors + JSON)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from generators.inverse.operators import MeasureError, Operator

__all__ = ["DIPNet", "DIPPrior", "deep_image_prior", "learn_dip_prior", "load_dip_prior", "LAMBDAS"]


class DIPNet(nn.Module):
    """A small DCGAN-like decoder: a fixed input ``[1, width, s, s]`` (``s`` = side / 8, at
    least 1) upsampled by nearest-neighbour + 3x3 conv + batch norm + ReLU blocks to the image
    side, then a 3x3 conv and a sigmoid."""

    def __init__(self, shape: tuple[int, int, int], width: int = 32) -> None:
        super().__init__()
        c, h, w = shape
        if h != w or h & (h - 1) or h < 8:
            raise MeasureError(f"deep image prior draws square images with a power-of-two side >= 8, got {h}x{w}")
        blocks = min(3, int(math.log2(h)) - 1)
        self.start = h >> blocks
        layers: list[nn.Module] = []
        for _ in range(blocks):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1),
                       nn.BatchNorm2d(width), nn.ReLU()]
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, c, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        self.width = width

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.body(z))


def deep_image_prior(
    y: Tensor,
    operator: Operator,
    seed: int = 0,
    steps: int = 1000,
    lr: float = 5e-3,
    holdout: float = 0.1,
    every: int = 25,
    patience: int = 300,
    width: int = 32,
    dip_prior: DIPPrior | None = None,
    lam: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Fit ``DIPNet`` (random weights and input from ``seed``) to minimize ``‖A_T G(z) − y_T‖²``
    on a random ``1 − holdout`` share ``T`` of the measurements with Adam; every ``every``
    steps the error on the held-out share is checked and the weights with the lowest one are
    kept; it stops after ``patience`` steps without improvement or at ``steps``. Returns the
    image ``[C, H, W]`` and ``{"steps": steps run, "best_step": ..., "heldout_mse": ...}``.

    With a learned ``dip_prior`` (Van Veen et al. 2018) the network, its first weights and its
    input are the prior's (``seed`` then only draws the held-out share), and the loss gains
    ``lam · Σ_l (w_l − μ_l)ᵀ Σ_l⁻¹ (w_l − μ_l)`` (``lam`` defaults to ``dip_prior.lam``)."""
    y = y.detach().float().reshape(-1)
    m = y.numel()
    if m != operator.m:
        raise MeasureError(f"the operator makes {operator.m} measurements but y has {m}")
    if m < 2:
        raise MeasureError("deep image prior holds out some measurements to stop early and needs at least 2")
    gen = torch.Generator().manual_seed(seed)
    k = min(m - 1, max(1, round(holdout * m)))
    perm = torch.randperm(m, generator=gen)
    held, fit = perm[:k], perm[k:]
    if dip_prior is not None:
        if tuple(dip_prior.shape) != tuple(operator.shape):
            raise MeasureError(f"the DIP prior was learned on {_shape_text(dip_prior.shape)} images, the operator measures "
                               f"{_shape_text(operator.shape)}; learn a prior on images of this size")
        lam = dip_prior.lam if lam is None else float(lam)
        if not math.isfinite(lam) or lam < 0:
            raise MeasureError(f"the prior's weight lam must be a number >= 0, got {lam}")
    with torch.random.fork_rng(devices=[]), torch.enable_grad(), torch.inference_mode(False):
        if dip_prior is None:
            torch.manual_seed(seed)
            net = DIPNet(operator.shape, width)
            z = torch.rand(1, width, net.start, net.start, generator=gen) * 0.1
        else:
            net, z = dip_prior.network(), dip_prior.z.clone()
        params = dict(net.named_parameters())
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        best, best_step, best_state, done = math.inf, 0, None, 0
        for step in range(1, steps + 1):
            err = ((operator.forward(net(z))[0] - y) ** 2)
            loss = err[fit].sum()
            if dip_prior is not None and lam:
                loss = loss + lam * dip_prior.penalty(params)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done = step
            if step % every == 0 or step == steps:
                with torch.no_grad():
                    h = float(((operator.forward(net(z))[0] - y)[held] ** 2).mean())
                if h < best:
                    best, best_step = h, step
                    best_state = {n: t.detach().clone() for n, t in net.state_dict().items()}
                elif step - best_step >= patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        with torch.no_grad():  # batch norm stays in training mode: the image is what was fitted
            x = net(z)[0]
            extra = {} if dip_prior is None else {"lam": float(lam), "penalty": float(dip_prior.penalty(params))}
    return x.detach(), {"steps": float(done), "best_step": float(best_step), "heldout_mse": best, **extra}


# ------------------------------------------------------------------ learned regularization
PRIOR_FORMAT = "counterfactory-dip-prior"
PRIOR_WEIGHTS, PRIOR_META = "prior.safetensors", "prior.json"
LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1)  # the λ grid learn_dip_prior validates when no lam is given


def _shape_text(shape: Sequence[int]) -> str:
    c, h, w = shape
    return f"{h}x{w} ({c} channel{'s' if c > 1 else ''})"


@dataclass(frozen=True, eq=False)
class DIPPrior:
    """A Gaussian distribution of ``DIPNet``'s weights learned from DIP fits to training images
    (Van Veen et al. 2018, "Compressed Sensing with Deep Image Prior and Learned Regularization").

    Per parameter tensor ``l`` (each conv's weight and bias, each batch norm's scale and shift),
    the ``Q`` fitted weight vectors give a mean ``μ_l`` and a covariance shrunk to be well
    conditioned by Ledoit-Wolf (scikit-learn's ``ledoit_wolf_shrinkage`` ``δ``):
    ``Σ_l = (1 − δ) S_l + δ tr(S_l)/p_l I``, kept as ``a_l I + U_l diag(s_l) U_lᵀ`` (``S_l`` has
    rank ``< Q``), so ``(w − μ)ᵀ Σ_l⁻¹ (w − μ)`` costs two products with ``U_l`` (Woodbury)."""

    shape: tuple[int, int, int]  # [C, H, W] of the images
    width: int  # DIPNet's channels
    init_seed: int  # every fit, training or recovery, starts from DIPNet's weights drawn with this seed
    z: Tensor  # the fixed input [1, width, s, s]
    mean: Mapping[str, Tensor]  # μ_l [p_l]
    basis: Mapping[str, Tensor]  # U_l [p_l, r_l], orthonormal columns
    eig: Mapping[str, Tensor]  # s_l [r_l] >= 0
    scale: Mapping[str, float]  # a_l > 0
    lam: float  # λ, the penalty's weight in recovery
    info: Mapping[str, Any] = field(default_factory=dict)  # n_images, steps, shrinkage per tensor, λ's validation

    def network(self) -> DIPNet:
        """A fresh ``DIPNet`` with the weights every fit starts from."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.init_seed)
            return DIPNet(self.shape, self.width)

    def penalty(self, params: Mapping[str, Tensor]) -> Tensor:
        """``Σ_l (w_l − μ_l)ᵀ Σ_l⁻¹ (w_l − μ_l)`` for a network's ``named_parameters()``; zero at ``μ``."""
        total = torch.zeros(())
        for name, mu in self.mean.items():
            d = params[name].reshape(-1) - mu
            a, s = self.scale[name], self.eig[name]
            proj = self.basis[name].T @ d
            total = total + (d @ d) / a - (proj**2 * (s / (a * (a + s)))).sum()
        return total

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``prior.safetensors`` (μ, U, s, z) and ``prior.json`` (the rest) into folder ``path``."""
        from generators.checkpoint import write_tensors

        tensors = {"z": self.z}
        for name in self.mean:
            tensors |= {f"mean/{name}": self.mean[name], f"basis/{name}": self.basis[name], f"eig/{name}": self.eig[name]}
        meta = {"format": PRIOR_FORMAT, "format_version": 1, "shape": list(self.shape), "width": self.width,
                "init_seed": self.init_seed, "lam": self.lam, "scale": dict(self.scale), "info": dict(self.info)}
        return write_tensors(path, tensors, meta, PRIOR_WEIGHTS, PRIOR_META)


def load_dip_prior(path: str | os.PathLike) -> DIPPrior:
    """Read a prior written by ``DIPPrior.save`` (safetensors + JSON; nothing is executed),
    checking that its tensors fit the network it describes."""
    from generators.checkpoint import CheckpointError, read_tensors

    folder = Path(path)
    mfile, wfile = folder / PRIOR_META, folder / PRIOR_WEIGHTS
    if not mfile.is_file() or not wfile.is_file():
        raise MeasureError(f"{folder} is not a DIP prior: it needs {PRIOR_META} and {PRIOR_WEIGHTS} "
                           "(write one with 'counterfactory dip-prior')")
    try:
        meta, tensors = read_tensors(folder, PRIOR_WEIGHTS, PRIOR_META)
    except CheckpointError as e:
        raise MeasureError(f"cannot read the DIP prior in {folder}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != PRIOR_FORMAT:
        raise MeasureError(f"{mfile} is not a Counterfactory DIP prior")
    try:
        shape = tuple(int(v) for v in meta["shape"])
        width, init_seed, lam = int(meta["width"]), int(meta["init_seed"]), float(meta["lam"])
        scale = {str(k): float(v) for k, v in meta["scale"].items()}
        if len(shape) != 3 or width < 1 or not math.isfinite(lam) or lam < 0:
            raise ValueError("shape, width or lam out of range")
        with torch.random.fork_rng(devices=[]):
            reference = dict(DIPNet(shape, width).named_parameters())  # type: ignore[arg-type]
        if set(scale) != set(reference) or any(not (math.isfinite(a) and a > 0) for a in scale.values()):
            raise ValueError("the parameter names or scales do not match DIPNet")
        mean, basis, eig = {}, {}, {}
        for name, ref in reference.items():
            mean[name], basis[name], eig[name] = (tensors[f"{k}/{name}"].float() for k in ("mean", "basis", "eig"))
            p, r = ref.numel(), eig[name].numel()
            if mean[name].shape != (p,) or basis[name].shape != (p, r) or eig[name].shape != (r,):
                raise ValueError(f"tensor shapes of {name} do not match DIPNet")
        z = tensors["z"].float()
        start = DIPNet(shape, width).start  # type: ignore[arg-type]
        if z.shape != (1, width, start, start):
            raise ValueError("the input z does not match DIPNet")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise MeasureError(f"{folder} holds a damaged DIP prior ({e}); learn it again") from None
    return DIPPrior(shape=shape, width=width, init_seed=init_seed, z=z, mean=mean, basis=basis, eig=eig,  # type: ignore[arg-type]
                    scale=scale, lam=lam, info=meta.get("info", {}))


def _as_images(images: Any) -> Tensor:
    """floats ``[N, C, H, W]`` in [0, 1], from a tensor of that form or uint8 ``[N, H, W, C]``."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise MeasureError(f"training images must be an array [N, H, W, C], got shape {images.shape}")
        arr = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
    x = torch.as_tensor(images).float()
    if x.ndim != 4:
        raise MeasureError(f"training images must be a tensor [N, C, H, W], got shape {tuple(x.shape)}")
    return x


def _fit_weights(x: Tensor, net: DIPNet, z: Tensor, steps: int, lr: float) -> dict[str, Tensor]:
    """DIP fitted to a fully seen image ``x`` [C, H, W] (``A = I``) by Adam: its flattened weights."""
    with torch.enable_grad(), torch.inference_mode(False):
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            loss = ((net(z)[0] - x) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return {n: p.detach().reshape(-1).clone() for n, p in net.named_parameters()}


def _gaussian(samples: Mapping[str, Tensor]) -> tuple[dict, dict, dict, dict, dict]:
    """Per tensor, from ``[Q, p]`` samples: μ, U, s, a and the Ledoit-Wolf shrinkage δ."""
    from sklearn.covariance import ledoit_wolf_shrinkage

    mean, basis, eig, scale, shrink = {}, {}, {}, {}, {}
    for name, w in samples.items():
        x = w.double().numpy()
        q, p = x.shape
        xc = x - x.mean(0)
        delta = float(ledoit_wolf_shrinkage(x)) if p > 1 else 1.0
        trace = float((xc**2).sum() / q)  # tr(S), S = Xcᵀ Xc / Q (scikit-learn's estimate)
        a = delta * trace / p
        a = max(a, 1e-6 * trace / p, 1e-12)  # no shrinkage (δ = 0) would leave Σ singular: keep it invertible
        _, sv, vt = np.linalg.svd(xc / math.sqrt(q), full_matrices=False)
        keep = sv > 1e-12 * max(float(sv.max(initial=0.0)), 1e-300)
        mean[name] = torch.from_numpy(x.mean(0)).float()
        basis[name] = torch.from_numpy(np.ascontiguousarray(vt[keep].T)).float()
        eig[name] = torch.from_numpy((1 - delta) * sv[keep] ** 2).float()
        scale[name], shrink[name] = a, delta
    return mean, basis, eig, scale, shrink


def learn_dip_prior(
    images: Any,
    width: int = 32,
    steps: int = 500,
    lr: float = 5e-3,
    seed: int = 0,
    lam: float | None = None,
    lams: Sequence[float] = LAMBDAS,
    val_measure: str = "gaussian:50",
    n_val: int = 3,
    dip_steps: int = 1000,
) -> DIPPrior:
    """Learn a ``DIPPrior`` from training images of the kind to recover (a tensor ``[N, C, H, W]``
    in [0, 1] or uint8 ``[N, H, W, C]``, N >= 3): DIP from the same first weights (``seed``) and
    input fitted by ``steps`` Adam steps to each fully seen image, then per parameter tensor the
    mean and Ledoit-Wolf covariance of the N fitted weights.

    ``λ`` is ``lam`` when given; otherwise it is chosen by leave-one-out validation on the
    training images: each of the first ``n_val`` is measured by ``val_measure`` (seeded by its
    index), recovered by DIP (``dip_steps`` steps) with the prior learned from the other N − 1
    fits for every ``λ`` in ``lams``, and the ``λ`` with the lowest mean per-pixel MSE against
    the truth is kept (the measurements' scale, ``‖A x‖ ≈ ‖x‖``, does not change with M, so
    the λ chosen at one M carries over to others). ``info`` keeps the validation table."""
    from generators.inverse.operators import measure, parse_measure

    xs = _as_images(images)
    if len(xs) < 3:
        raise MeasureError(f"a DIP prior is learned from at least 3 training images (the covariance needs several fits), got {len(xs)}")
    if float(xs.min()) < 0 or float(xs.max()) > 1:
        raise MeasureError("training images must have pixel values in [0, 1]")
    shape = tuple(int(v) for v in xs.shape[1:])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        first = DIPNet(shape, width)  # type: ignore[arg-type]
    z = torch.rand(1, width, first.start, first.start, generator=torch.Generator().manual_seed(seed)) * 0.1
    start = {n: t.detach().clone() for n, t in first.state_dict().items()}
    fits: list[dict[str, Tensor]] = []
    for x in xs:
        net = DIPNet(shape, width)  # type: ignore[arg-type]
        net.load_state_dict(start)
        fits.append(_fit_weights(x, net, z, steps, lr))
    names = list(fits[0])

    def build(rows: Sequence[int], lam_: float) -> DIPPrior:
        mean, basis, eig, scale, shrink = _gaussian({n: torch.stack([fits[i][n] for i in rows]) for n in names})
        return DIPPrior(shape=shape, width=width, init_seed=seed, z=z, mean=mean, basis=basis, eig=eig,  # type: ignore[arg-type]
                        scale=scale, lam=lam_, info={"shrinkage": shrink})

    validation: dict[str, list[float]] = {}
    if lam is None:
        if not lams or any(not (math.isfinite(v) and v >= 0) for v in lams):
            raise MeasureError(f"the λ grid must hold numbers >= 0, got {list(lams)}")
        for i in range(min(n_val, len(xs))):
            loo = build([j for j in range(len(xs)) if j != i], 0.0)
            op = parse_measure(val_measure, shape, seed=i)  # type: ignore[arg-type]
            y = measure(xs[i], op)
            for v in lams:
                img, _ = deep_image_prior(y, op, seed=i, steps=dip_steps, dip_prior=loo, lam=v)
                validation.setdefault(f"{v:g}", []).append(float(((img - xs[i]) ** 2).mean()))
        lam = float(min(lams, key=lambda v: float(np.mean(validation[f"{v:g}"]))))
    prior = build(range(len(xs)), float(lam))
    info = {**prior.info, "n_images": len(xs), "steps": steps, "lr": lr, "val_measure": val_measure,
            "validation_mse": {k: float(np.mean(v)) for k, v in validation.items()}, "lam_chosen_by":
            "given" if not validation else f"leave-one-out validation on {min(n_val, len(xs))} training images"}
    return DIPPrior(**{**prior.__dict__, "info": info})
