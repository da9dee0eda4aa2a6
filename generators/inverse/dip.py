"""Deep Image Prior for linear inverse problems (Ulyanov et al. 2018; for compressed sensing,
Van Veen et al. 2018): an untrained conv generator with a fixed random input, fitted to the
measurements, stopped early by the error on a held-out share of them."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from generators.inverse.operators import MeasureError, Operator

__all__ = ["DIPNet", "deep_image_prior"]


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
) -> tuple[Tensor, dict[str, float]]:
    """Fit ``DIPNet`` (random weights and input from ``seed``) to minimize ``‖A_T G(z) − y_T‖²``
    on a random ``1 − holdout`` share ``T`` of the measurements with Adam; every ``every``
    steps the error on the held-out share is checked and the weights with the lowest one are
    kept; it stops after ``patience`` steps without improvement or at ``steps``. Returns the
    image ``[C, H, W]`` and ``{"steps": steps run, "best_step": ..., "heldout_mse": ...}``."""
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
    with torch.random.fork_rng(devices=[]), torch.enable_grad(), torch.inference_mode(False):
        torch.manual_seed(seed)
        net = DIPNet(operator.shape, width)
        z = torch.rand(1, width, net.start, net.start, generator=gen) * 0.1
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        best, best_step, best_state, done = math.inf, 0, None, 0
        for step in range(1, steps + 1):
            err = ((operator.forward(net(z))[0] - y) ** 2)
            loss = err[fit].sum()
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
    return x.detach(), {"steps": float(done), "best_step": float(best_step), "heldout_mse": best}
