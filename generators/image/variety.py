"""CausalGAN's mode-seeking gate (``mode_seeking_gate``): whether the generator's images vary
less than real images do for the same labels, measured on pairs of training images that are
nearest neighbours in label space (see ``generators.image.causal_gan``'s docstring)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from generators.image.causal_gan import CausalGANNet

__all__ = ["GATE_BATCH", "GATE_EVERY", "GATE_PAIRS", "VarietyGate", "label_neighbours"]


GATE_PAIRS, GATE_EVERY, GATE_BATCH = 512, 50, 128  # mode_seeking_gate: pairs of training images, steps between checks, pairs per check


def label_neighbours(labels: Tensor, m: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Up to ``m`` rows ``i`` of ``labels`` ``[n, width]`` (drawn without replacement) and for
    each the row ``j != i`` nearest to it (squared Euclidean distance of the encoded labels;
    among equally near rows one at random, so identical label rows pair at random).

    >>> i, j = label_neighbours(torch.tensor([[0.0], [0.0], [5.0], [5.1]]), 4, torch.Generator().manual_seed(0))
    >>> sorted(zip(i.tolist(), j.tolist()))
    [(0, 1), (1, 0), (2, 3), (3, 2)]
    """
    n = labels.shape[0]
    if n < 2:
        raise ValueError(f"pairing label rows needs at least 2 rows, got {n}")
    i = torch.randperm(n, generator=generator)[:m]
    x = labels.detach().cpu().double()
    sq = (x * x).sum(1)
    nearest = []
    for rows in i.split(64):
        d = (sq[rows, None] + sq[None, :] - 2.0 * x[rows] @ x.T).clamp_min(0.0)
        d += torch.rand(d.shape, generator=generator, dtype=torch.float64) * 1e-9  # ties at random
        d[torch.arange(len(rows)), rows] = math.inf
        nearest.append(d.argmin(1))
    return i, torch.cat(nearest)


class VarietyGate:
    """``mode_seeking_gate``: whether G's images vary less than real ones for the same labels
    (see the module docstring). Built from the training images and their encoded labels;
    ``check`` compares G on the next ``GATE_BATCH`` of the pairs and sets ``on``. ``rows``:
    the training rows of ``images`` ``[n, C, H, W]`` and ``labels`` ``[n, width]``. Its own
    random generator, so the training's random draws are the same with or without it."""

    def __init__(self, images: Tensor, labels: Tensor, rows: Tensor, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed + 7919)
        i, j = label_neighbours(labels[rows], GATE_PAIRS, self.generator)  # positions among ``rows``
        self.i, self.j = rows[i.to(rows.device)], rows[j.to(rows.device)]
        self.labels = labels
        # real images' mean absolute pixel difference per pair (images uint8 or [0, 1] floats)
        scale = 255.0 if not images.is_floating_point() else 1.0
        self.real = torch.cat([(images[a].float() - images[b].float()).abs().flatten(1).mean(1) / scale
                               for a, b in zip(self.i.split(256), self.j.split(256))])
        self.offset, self.checks, self.on_checks = 0, 0, 0
        self.on, self.last_real, self.last_generated = True, math.nan, math.nan

    @torch.no_grad()
    def check(self, net: CausalGANNet, ambient: Any = None) -> bool:
        """G (its training weights, in evaluation mode) draws the next pairs' label rows with
        independent ``z``; ``on`` is whether its images differ less than the real pairs."""
        m = len(self.i)
        idx = (torch.arange(min(GATE_BATCH, m)) + self.offset) % m
        self.offset = int((self.offset + len(idx)) % m)
        idx = idx.to(self.i.device)
        la, lb = self.labels[self.i[idx]], self.labels[self.j[idx]]
        z = torch.randn(2, len(idx), net.z_dim, generator=self.generator).to(la.device)
        g = net.generator
        was = g.training
        g.eval()
        try:
            a, b = net.generate(la, z[0], averaged=False), net.generate(lb, z[1], averaged=False)
        finally:
            g.train(was)
        if ambient is not None:  # lossy images: compare measured with measured
            a, b = ambient(a, self.generator), ambient(b, self.generator)
        self.last_generated = float((a - b).abs().flatten(1).mean(1).mean())
        self.last_real = float(self.real[idx].mean())
        self.on = self.last_generated < self.last_real
        self.checks += 1
        self.on_checks += int(self.on)
        return self.on

    def summary(self) -> dict[str, float | int]:
        """The share of checks with the term on and the last check's two differences."""
        return {"checks": self.checks, "share_on": self.on_checks / max(self.checks, 1),
                "generated": self.last_generated, "real": self.last_real}
