"""Causal Gen: one small network per node over its parents (Jiang, Pooladzandi, Bhat, Pottie
2022, "Causal Structural Hypothesis Testing and Data Generation Models"), with invertible
mechanisms so that counterfactuals can be computed.

Continuous node, standardized value ``z`` (``mechanism="additive"``, the default)::

    z = f(parents) + u,             u ~ learned noise distribution

or ``mechanism="location-scale"`` (heteroscedastic)::

    z = f(parents) + s(parents)·u

``f`` (and ``log s``) come from the node's network; ``u``'s distribution is the empirical
distribution of the fitted residuals, kept as ``noise_knots`` quantiles (a monotone,
piecewise-linear map from U(0, 1)). Abduction inverts the mechanism exactly:
``u = z - f(parents)``. Binary and categorical nodes are Gumbel-max mechanisms over
logits from the node's network (``generators.base.gumbel_posterior``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from causal.data import Schema
from causal.graph import CausalGraph
from generators.base import Layout, TabularModel
from generators.nets import ParentNets
from generators.training import TrainConfig

MECHANISMS = ("additive", "location-scale")


@dataclass(frozen=True)
class CausalGenConfig:
    hidden: int = 64  # units per hidden layer of each node's network
    layers: int = 2  # hidden layers per node (0 gives a linear model)
    dropout: float = 0.0  # between hidden layers; the paper uses it for hard functional forms
    activation: str = "silu"  # silu | relu | tanh | elu
    mechanism: str = "additive"  # additive | location-scale (see module docstring)
    noise_knots: int = 512  # quantiles kept of each node's noise distribution
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism '{self.mechanism}'; use one of {', '.join(MECHANISMS)}")
        if self.hidden < 1 or self.layers < 0 or not 0 <= self.dropout < 1:
            raise ValueError("hidden must be >= 1, layers >= 0 and 0 <= dropout < 1")


class NodeLosses(nn.Module):
    """Per-node likelihood terms shared by the tabular models: squared error (or Gaussian
    NLL) for continuous nodes, cross-entropy for discrete ones, summed over nodes."""

    def __init__(self, graph: CausalGraph, layout: Layout) -> None:
        super().__init__()
        cont = [j for j, n in enumerate(graph.nodes) if not layout.schema[n].discrete]
        self.register_buffer("cont_nodes", torch.tensor(cont, dtype=torch.long))
        self.register_buffer("cont_cols", torch.tensor([layout.slices[graph.nodes[j]].start for j in cont], dtype=torch.long))
        self.discrete = [
            (j, layout.slices[n], layout.schema[n].kind == "binary", len(layout.schema[n].categories))
            for j, n in enumerate(graph.nodes)
            if layout.schema[n].discrete
        ]

    def targets(self, batch: Tensor) -> Tensor:
        """Continuous targets ``[n_cont, batch]``."""
        return batch[:, self.cont_cols].T

    def discrete_loss(self, out: Tensor, batch: Tensor) -> Tensor:
        total = out.new_zeros(())
        for j, sl, binary, k in self.discrete:
            target = batch[:, sl.start].long() if binary else batch[:, sl].argmax(1)
            total = total + nn.functional.cross_entropy(out[j, :, :k], target)
        return total


class CausalGenNet(nn.Module):
    def __init__(self, graph: CausalGraph, layout: Layout, config: CausalGenConfig) -> None:
        super().__init__()
        k_max = max([len(c.categories) for c in layout.schema.columns if c.discrete] + [1])
        out_dim = max(k_max, 2 if config.mechanism == "location-scale" else 1)
        self.nets = ParentNets(layout.mask(graph), out_dim, config.hidden, config.layers, config.dropout, config.activation)
        self.terms = NodeLosses(graph, layout)
        self.scaled = config.mechanism == "location-scale"
        self.register_buffer("noise_q", torch.zeros(len(graph.nodes), config.noise_knots))

    def loss(self, batch: Tensor) -> Tensor:
        out = self.nets(batch)
        total = self.terms.discrete_loss(out, batch)
        if len(self.terms.cont_nodes):
            o = out[self.terms.cont_nodes]
            target = self.terms.targets(batch)
            if self.scaled:
                log_s = o[:, :, 1].clamp(-7, 5)
                total = total + (0.5 * ((target - o[:, :, 0]) * torch.exp(-log_s)) ** 2 + log_s).mean(1).sum()
            else:
                total = total + ((target - o[:, :, 0]) ** 2).mean(1).sum()
        return total

    @torch.no_grad()
    def residuals(self, x: Tensor) -> Tensor:
        """Standardized residuals ``[n_cont, rows]`` of the continuous nodes on ``x``."""
        chunks = []
        for start in range(0, x.shape[0], 16384):
            batch = x[start : start + 16384]
            o = self.nets(batch)[self.terms.cont_nodes]
            r = self.terms.targets(batch) - o[:, :, 0]
            chunks.append(r * torch.exp(-o[:, :, 1].clamp(-7, 5)) if self.scaled else r)
        return torch.cat(chunks, dim=1)


class CausalGen(TabularModel):
    """Causal Gen: ``build_model("causal-gen", graph)``; see the module docstring."""

    kind = "causal-gen"
    Config = CausalGenConfig

    def _build(self, schema: Schema) -> nn.Module:
        return CausalGenNet(self.graph, Layout(schema), self.config)

    def _finalize(self, x: Tensor) -> None:
        net: CausalGenNet = self.net  # type: ignore[assignment]
        net.eval()
        if not len(net.terms.cont_nodes):
            return
        r = net.residuals(x).double()
        probs = torch.linspace(0, 1, net.noise_q.shape[1], dtype=torch.float64, device=r.device)
        q = torch.quantile(r, probs, dim=1).T  # [n_cont, knots]
        net.noise_q[net.terms.cont_nodes] = q.to(net.noise_q.dtype)
        self._refresh()

    def _refresh(self) -> None:
        q = self.net.noise_q.double().cpu().numpy()  # type: ignore[union-attr]
        self._knots = {n: q[j] for j, n in enumerate(self.graph.nodes)}

    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        q = self._knots[node]
        pos = rng.random(n) * (len(q) - 1)  # knots sit on a uniform grid of probabilities
        i = np.minimum(pos.astype(np.int64), len(q) - 2)
        return q[i] + (pos - i) * (q[i + 1] - q[i])

    def _out(self, node: str, p: Tensor) -> np.ndarray:
        return self.net.nets.node(self.graph.index(node), p).double().cpu().numpy()  # type: ignore[union-attr]

    def _predict_z(self, node: str, p: Tensor, noise: np.ndarray) -> np.ndarray:
        o = self._out(node, p)
        if self.config.mechanism == "location-scale":
            return o[:, 0] + np.exp(np.clip(o[:, 1], -7, 5)) * noise
        return o[:, 0] + noise

    def _abduct_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        o = self._out(node, p)
        if self.config.mechanism == "location-scale":
            return (z - o[:, 0]) * np.exp(-np.clip(o[:, 1], -7, 5))
        return z - o[:, 0]

    def _logits(self, node: str, p: Tensor) -> np.ndarray:
        return self._out(node, p)[:, : len(self.schema[node].categories)]  # type: ignore[index]
