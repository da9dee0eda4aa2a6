"""Where a model has seen data: per node, whether a parent configuration lies inside the
training data's support, by nearest-neighbour distance in the encoded parent space.

A mechanism evaluated outside that support (an intervention that pairs parent values the
data never shows together, say) is an extrapolation: its answer comes from the network's
inductive bias, not from the data, and the data cannot confirm it.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import Tensor

from causal.graph import CausalGraph

PREFIX = "support/"


class Support:
    """Reference parent configurations per node and a distance threshold calibrated on
    held-out training rows (the ``quantile`` of their nearest-neighbour distances)."""

    def __init__(self, refs: Mapping[str, Tensor], taus: Mapping[str, float]) -> None:
        self.refs = dict(refs)
        self.taus = dict(taus)

    @classmethod
    def fit(
        cls,
        graph: CausalGraph,
        columns: Mapping[str, list[int]],
        x: Tensor,
        seed: int = 0,
        n_ref: int = 2048,
        n_cal: int = 512,
        quantile: float = 0.99,
    ) -> "Support":
        gen = torch.Generator(device="cpu").manual_seed(seed)
        idx = torch.randperm(x.shape[0], generator=gen)
        n_ref = min(n_ref, max(x.shape[0] - n_cal, x.shape[0] // 2))
        ref_idx, cal_idx = idx[:n_ref], idx[n_ref : n_ref + n_cal]
        refs, taus = {}, {}
        xc = x.detach().float().cpu()
        for node in graph.nodes:
            cols = columns[node]
            if not cols:
                continue
            p = xc[:, cols]
            refs[node] = p[ref_idx].contiguous()
            d = torch.cdist(p[cal_idx], refs[node]).min(dim=1).values
            taus[node] = float(torch.quantile(d, quantile)) if len(d) else 0.0
        return cls(refs, taus)

    def outside(self, node: str, parents: Tensor, chunk: int = 4096) -> np.ndarray:
        """Boolean per row: the parent configuration is farther from every training row
        than all but ``1 - quantile`` of held-out training rows are."""
        if node not in self.refs:
            return np.zeros(parents.shape[0], dtype=bool)
        ref = self.refs[node]
        p = parents.detach().float().cpu()
        out = [torch.cdist(p[s : s + chunk], ref).min(dim=1).values > self.taus[node] for s in range(0, p.shape[0], chunk)]
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=bool)

    def tensors(self) -> dict[str, Tensor]:
        out = {}
        for node, ref in self.refs.items():
            out[f"{PREFIX}{node}/ref"] = ref
            out[f"{PREFIX}{node}/tau"] = torch.tensor([self.taus[node]])
        return out

    @classmethod
    def from_tensors(cls, state: Mapping[str, Tensor]) -> "Support":
        refs, taus = {}, {}
        for key, value in state.items():
            if key.startswith(PREFIX):
                node, what = key[len(PREFIX) :].rsplit("/", 1)
                if what == "ref":
                    refs[node] = value
                else:
                    taus[node] = float(value[0])
        return cls(refs, taus)
