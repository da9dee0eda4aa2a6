"""Causal Variational Gen: per node an encoder q(u | x, parents) and a decoder
p(x | parents, u), trained with a KL term (Jiang, Pooladzandi, Bhat, Pottie 2022).

For a continuous node with standardized value ``z``::

    u ~ N(0, I_d)                       (or the aggregate posterior, see ``latent``)
    z = g(parents, u) + σ·ε,  ε ~ N(0, 1)

``decoder="additive"`` (the default, which measured better on the benchmark suite)
restricts it to ``g = f(parents) + h(u)``; ``decoder="general"`` lets ``g`` mix parents
and ``u`` freely. Abduction is approximate by design: ``u`` is
the encoder's posterior mean and ``ε`` the exact remaining residual, so a counterfactual is
``g(parents', u) + (z - g(parents, u))``. Discrete nodes are Gumbel-max mechanisms over
logits of their parents, as in Causal Gen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from causal.data import Schema
from causal.graph import CausalGraph
from generators.base import Layout, TabularModel
from generators.causal_gen import NodeLosses
from generators.nets import ParentNets
from generators.training import TrainConfig

DECODERS = ("general", "additive")
LATENTS = ("prior", "aggregate")


@dataclass(frozen=True)
class CausalVGenConfig:
    hidden: int = 64  # units per hidden layer of every network
    layers: int = 2  # hidden layers per node network
    dropout: float = 0.0  # between hidden layers
    activation: str = "silu"
    latent_dim: int = 1  # size of each continuous node's latent u
    beta: float = 1.0  # weight of the KL term
    decoder: str = "additive"  # additive: f(parents) + h(u); general: g(parents, u)
    latent: str = "prior"  # sampling u: "prior" N(0, I) or "aggregate" (quantiles of draws from the fitted posteriors)
    min_log_sigma: float = -6.0  # floor of the observation noise's log standard deviation
    noise_knots: int = 512  # quantiles kept of the aggregate posterior (latent="aggregate")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000))  # three networks per node: half the steps

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder '{self.decoder}'; use one of {', '.join(DECODERS)}")
        if self.latent not in LATENTS:
            raise ValueError(f"unknown latent '{self.latent}'; use one of {', '.join(LATENTS)}")
        if self.latent_dim < 1 or self.beta < 0:
            raise ValueError("latent_dim must be >= 1 and beta >= 0")


class CausalVGenNet(nn.Module):
    def __init__(self, graph: CausalGraph, layout: Layout, config: CausalVGenConfig) -> None:
        super().__init__()
        n, d = len(graph.nodes), config.latent_dim
        self.d = d
        self.terms = NodeLosses(graph, layout)
        cont = set(self.terms.cont_nodes.tolist())
        pmask = layout.mask(graph)
        own = torch.zeros_like(pmask)
        umask = torch.zeros(n, n * d)
        for j, node in enumerate(graph.nodes):
            if j in cont:
                own[j, layout.slices[node]] = 1.0
                umask[j, j * d : (j + 1) * d] = 1.0
        k_max = max([len(c.categories) for c in layout.schema.columns if c.discrete] + [1])
        args = (config.hidden, config.layers, config.dropout, config.activation)
        self.encoder = ParentNets(torch.maximum(pmask, own), 2 * d, *args)
        self.general = config.decoder == "general"
        if self.general:
            self.nets = ParentNets(torch.cat([pmask, umask], dim=1), k_max, *args)
        else:
            self.nets = ParentNets(pmask, k_max, *args)
            self.latent_net = ParentNets(umask, 1, *args)
        self.log_sigma = nn.Parameter(torch.full((n,), -1.0))
        self.min_log_sigma = config.min_log_sigma
        self.beta = config.beta
        self.register_buffer("latent_q", torch.zeros(n, d, config.noise_knots))

    def sigma(self) -> Tensor:
        return torch.exp(self.log_sigma.clamp(min=self.min_log_sigma))

    def encode(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        e = self.encoder(batch)[self.terms.cont_nodes]  # [n_cont, B, 2d]
        return e[..., : self.d], e[..., self.d :].clamp(-12, 6)

    def latent_matrix(self, u_cont: Tensor, batch_size: int) -> Tensor:
        """``[B, n_nodes * d]`` with each continuous node's latent in its block."""
        n = self.log_sigma.shape[0]
        u = u_cont.new_zeros(n, batch_size, self.d)
        u[self.terms.cont_nodes] = u_cont
        return u.permute(1, 0, 2).reshape(batch_size, n * self.d)

    def decode(self, batch: Tensor, umat: Tensor) -> Tensor:
        if self.general:
            return self.nets(torch.cat([batch, umat], dim=1))
        out = self.nets(batch)
        return out + torch.nn.functional.pad(self.latent_net(umat), (0, out.shape[-1] - 1))

    def decay_parameters(self) -> list[nn.Parameter]:
        nets = [self.encoder, self.nets] + ([self.latent_net] if not self.general else [])
        return [p for n in nets for p in n.decay_parameters()]

    @property
    def n_nodes(self) -> int:
        return self.log_sigma.shape[0]

    def node_losses(self, batch: Tensor) -> Tensor:
        """Each node's negative ELBO ``[n_nodes]``: reconstruction NLL + beta * KL for a
        continuous node (u sampled by reparametrization in training, its mean otherwise),
        cross-entropy for a discrete one."""
        b = batch.shape[0]
        if not len(self.terms.cont_nodes):
            return self.terms.per_node(self.decode(batch, batch.new_zeros(b, 0)), batch, False)
        mu, logvar = self.encode(batch)
        u = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        out = self.decode(batch, self.latent_matrix(u, b))
        losses = out.new_zeros(self.n_nodes)
        disc = self.terms.discrete_terms(out, batch)
        if len(disc):
            losses = losses.index_add(0, torch.tensor([j for j, *_ in self.terms.discrete], device=out.device), disc)
        log_s = self.log_sigma.clamp(min=self.min_log_sigma)[self.terms.cont_nodes][:, None]
        resid = (self.terms.targets(batch) - out[self.terms.cont_nodes][..., 0]) * torch.exp(-log_s)
        recon = (0.5 * resid**2 + log_s).mean(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1).mean(1)
        return losses.index_add(0, self.terms.cont_nodes, recon + self.beta * kl)

    def loss(self, batch: Tensor) -> Tensor:
        return self.node_losses(batch).sum()


class CausalVGen(TabularModel):
    """Causal Variational Gen: ``build_model("causal-vgen", graph)``; see the module docstring."""

    kind = "causal-vgen"
    Config = CausalVGenConfig

    def _build(self, schema: Schema) -> nn.Module:
        return CausalVGenNet(self.graph, Layout(schema), self.config)

    @torch.no_grad()
    def _finalize(self, x: Tensor) -> None:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        net.eval()
        if len(net.terms.cont_nodes):
            # draws from the aggregate posterior: u ~ q(u | x_i, parents_i) for every training row i
            # (the posterior means alone are under-dispersed: they leave out each posterior's spread)
            gen = torch.Generator(device=x.device).manual_seed(0)
            draws = []
            for s in range(0, x.shape[0], 16384):
                mu, logvar = net.encode(x[s : s + 16384])
                noise = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
                draws.append(mu + torch.exp(0.5 * logvar) * noise)
            us = torch.cat(draws, dim=1)
            probs = torch.linspace(0, 1, net.latent_q.shape[-1], dtype=torch.float64, device=x.device)
            q = torch.quantile(us.double().transpose(1, 2), probs, dim=-1).permute(1, 2, 0)  # [n_cont, d, knots]
            net.latent_q[net.terms.cont_nodes] = q.to(net.latent_q.dtype)
        self._refresh()

    def _refresh(self) -> None:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        self._sigma = net.sigma().detach().double().cpu().numpy()
        self._latent_q = net.latent_q.double().cpu().numpy()

    # noise layout per continuous node: [u_1 .. u_d, ε]
    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        d = self.config.latent_dim
        eps = rng.standard_normal((n, d + 1))
        if self.config.latent == "aggregate":
            q = self._latent_q[self.graph.index(node)]  # [d, knots]
            pos = rng.random((n, d)) * (q.shape[1] - 1)
            i = np.minimum(pos.astype(np.int64), q.shape[1] - 2)
            rows = np.arange(d)[None, :]
            eps[:, :d] = q[rows, i] + (pos - i) * (q[rows, i + 1] - q[rows, i])
        return eps

    def _decode_node(self, node: str, p: Tensor, u: np.ndarray) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        j = self.graph.index(node)
        ut = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32)).to(p.device)
        if net.general:
            out = net.nets.node(j, torch.cat([p, ut], dim=1))
        else:
            out = net.nets.node(j, p)[:, :1] + net.latent_net.node(j, ut)
        return out[:, 0].double().cpu().numpy()

    def _predict_z(self, node: str, p: Tensor, noise: np.ndarray) -> np.ndarray:
        d = self.config.latent_dim
        return self._decode_node(node, p, noise[:, :d]) + self._sigma[self.graph.index(node)] * noise[:, d]

    def _abduct_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        j = self.graph.index(node)
        own = torch.from_numpy(z.astype(np.float32)[:, None]).to(p.device)
        e = net.encoder.node(j, torch.cat([p, own], dim=1))
        u = e[:, : self.config.latent_dim].double().cpu().numpy()
        eps = (z - self._decode_node(node, p, u)) / self._sigma[j]
        return np.concatenate([u, eps[:, None]], axis=1)

    def _logits(self, node: str, p: Tensor) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        j = self.graph.index(node)  # a discrete node has no latent: its network sees parents only
        k = len(self.schema[node].categories)  # type: ignore[index]
        return net.nets.node(j, p)[:, :k].double().cpu().numpy()
