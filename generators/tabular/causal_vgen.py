"""Causal Variational Gen: per node an encoder q(u | x, parents) and a decoder
p(x | parents, u), trained with a KL term (Jiang, Pooladzandi, Bhat, Pottie 2022).

For a continuous node with standardized value ``z``::

    u ~ N(0, I_d)
    z = g(parents, u) + σ·ε,  ε ~ N(0, 1)

``decoder="additive"`` (the default, which measured better on the benchmark suite)
restricts it to ``g = f(parents) + h(u)``; ``decoder="general"`` lets ``g`` mix parents
and ``u`` freely.

Encoder. Under the additive decoder the exact posterior p(u | z, parents) depends on ``z``
and the parents only through the residual ``r = z − f(parents)`` (the likelihood is
N(r; h(u), σ²)), so ``encoder="residual"`` (the default) is q(u | r): no loss of generality
for the true posterior, and it keeps ``u`` from carrying information about the parents,
which the N(0, I) prior says it cannot have. ``encoder="full"`` is q(u | z, parents), the
paper's form and the only one for the general decoder.

Training ``f`` (``f_loss``, additive decoder). ``"least-squares"`` (the default) fits ``f``
to the squared error, as Causal Gen does, and the ELBO models the law of the residual
(its gradient does not reach ``f``); ``"elbo"`` trains ``f`` by the ELBO alone, the paper's
form; ``"both"`` adds the two. Under the ELBO ``f`` is identified only weakly: the encoder
and ``h`` can reconstruct a residual that still depends on the parents, which only the KL
term penalizes (docs/benchmarks.md, How the defaults were chosen, has the measurements).
The general decoder has no separate ``f`` and trains by the ELBO whatever this says.

Kept weights (``keep_by_f``). Training keeps, per node, the weights of its best validation
epoch where the annealed final ones are clearly worse. With the additive decoder, ``f`` by
least squares and the empirical exogenous term (the defaults), everything the model computes
depends on ``f`` (and the scale) alone, so "best" is ``f``'s held-out squared error; the
ELBO, a noisy loss near zero that the VAE part alone moves, otherwise picks an epoch whose
``f`` is worse (docs/benchmarks.md). Elsewhere it is the held-out ELBO.

Abduction is approximate by design: ``u`` is the encoder's posterior mean and ``ε`` the exact
remaining residual, so a counterfactual is ``g(parents', u) + (z − g(parents, u))``; under the
additive decoder that is ``z + f(parents') − f(parents)`` whatever ``u`` is.

Sampling (``latent``): ``"prior"`` draws ``u ~ N(0, I)`` and ``ε ~ N(0, 1)``, the VAE's own
generative model; ``"aggregate"`` draws ``u`` from the aggregate posterior (quantiles of
posterior draws of the training rows) and ``ε ~ N(0, 1)``; ``"empirical"`` (additive decoder)
draws each node's whole exogenous term ``h(u) + σ·ε`` from its distribution over the
training rows (the abducted ``r``, kept as quantiles): ex-post estimation of the noise, which
removes the mismatch between the prior and what the encoder infers (Ghosh et al. 2020, "From
variational to deterministic autoencoders", fit a density to the aggregate posterior for the
same reason).

Noise that scales with the parents (``mechanism``, additive decoder), as in Causal Gen:
``z = f(parents) + s(parents)·e`` with ``e = h(u) + σ·ε`` the VAE's standardized exogenous
term. ``"auto"`` (the default) trains, beside ``f``, each continuous node's ``log s`` (a small
network on ``f``'s detached residuals, so ``f`` and the VAE train exactly as under
``"additive"``) and after training takes the location-scale noise per node only where it raises
the held-out Gaussian likelihood of the residuals over a constant scale by ``scale_z``
standard errors and ``scale_gain`` nats per row (``generators.nets.scale_pays``); the
empirical exogenous term's quantiles are then those of ``r / s(parents)``, abduction returns
the standardized residual and a counterfactual is ``f(parents') + s(parents')·e``. A node left
additive is the additive model bit for bit. The choice is made only with the empirical term
(where the VAE part is unused by queries); with ``latent="prior"`` or ``"aggregate"``,
``"auto"`` keeps the noise additive, and ``"location-scale"`` scales every continuous node with
parents from the start, so that the VAE itself models ``r / s(parents)``.
``mechanism_choices()`` says what was chosen per node.

For queries, every one-dimensional map (``h`` and the residual encoder's mean, with
``latent_dim=1``) is tabulated once on a grid of spacing 2^-10 and linearly interpolated
(``generators.nets.Tabulated``: as exact as the network's own float32 evaluation, tested);
values off the grid go through the network.
Discrete nodes are Gumbel-max mechanisms over logits of their parents, as in Causal Gen.

Mechanism selection (``select_simple``, as in Causal Gen): after training, each continuous
node's ``f`` is replaced by its least-squares linear, else degree-2, rival where held-out rows
cannot tell the two apart. With the additive decoder and the empirical exogenous term,
samples and counterfactuals depend on ``f`` alone (the term's quantiles are taken after the
choice), so the swap is exact; it is skipped for the other settings. Unlike Causal Gen, the
degree-2 rival is also taken where its held-out squared error is no worse than the
network's (``quadratic_z = 0``), not only where the two agree to within ``quadratic_gap``:
the ELBO fits ``f`` less tightly than Causal Gen's regression (part of the residual can hide
in ``h(u)``), so a rival that predicts *better* than the network can disagree with it by
more than the gap (measured in docs/benchmarks.md, How the defaults were chosen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from causal.data import Schema
from causal.graph import CausalGraph
from generators.encoding import Layout
from generators.tabular.base import TabularModel, describe_mechanisms, knots_log_density, quantile_draws
from generators.tabular.causal_gen import MECHANISMS, NodeLosses
from generators.nets import ParentNets, Polynomials, ScalarNets, ScaledNoise, Tabulated, adequate, agrees, scale_nll, scale_pays
from generators.training import TrainConfig

DECODERS = ("general", "additive")
ENCODERS = ("residual", "full")
LATENTS = ("prior", "aggregate", "empirical")
F_LOSSES = ("elbo", "least-squares", "both")


@dataclass(frozen=True)
class CausalVGenConfig:
    hidden: int = 64  # units per hidden layer of every network
    layers: int = 2  # hidden layers per node network
    dropout: float = 0.0  # between hidden layers
    activation: str = "silu"
    latent_dim: int = 1  # size of each continuous node's latent u
    latent_hidden: int = 16  # units per hidden layer of the one-input maps (h(u), the residual encoder)
    latent_layers: int = 1  # hidden layers of the one-input maps (1 measured better than 2: docs/benchmarks.md)
    beta: float = 1.0  # weight of the KL term
    f_loss: str = "least-squares"  # additive decoder: what trains f, least-squares | elbo | both (module docstring)
    keep_by_f: bool = True  # where samples and counterfactuals depend on f alone, each node keeps the epoch of f's lowest held-out squared error (else of its lowest held-out ELBO)
    decoder: str = "additive"  # additive: f(parents) + h(u); general: g(parents, u)
    encoder: str = "residual"  # residual: q(u | z − f(parents)) (additive decoder); full: q(u | z, parents)
    latent: str = "empirical"  # sampling: "prior" N(0, I), "aggregate" posterior of u, "empirical" exogenous term
    min_log_sigma: float = -6.0  # floor of the observation noise's log standard deviation
    noise_knots: int = 512  # quantiles kept of the aggregate posterior or of the exogenous term
    select_simple: bool = True  # per continuous node, f linear, else of degree 2, where held-out rows cannot tell it from the network
    linear_gap: float = 0.02  # ... as in Causal Gen: same predictions to within this RMS (sd units)
    linear_z: float = 0.0  # ... or held-out squared error within this many standard errors of the network's
    quadratic_gap: float = 0.03  # degree 2: where it predicts the same as the network to within this RMS
    quadratic_z: float | None = 0.0  # ... or held-out squared error within this many standard errors of the network's (None: agreement only)
    agreement_first: bool = True  # degree 2 by agreement outranks a linear tie where the two rivals differ ...
    curvature_alpha: float | None = 0.01  # ... and its products pass the nested F test against the line at this level, else the line (as Causal Gen's; None: no test)
    mechanism: str = "auto"  # additive decoder: auto (location-scale per node where held-out rows show it; latent="empirical") | additive | location-scale
    scale_hidden: int = 32  # auto / location-scale: units of each continuous node's scale network log s(parents)
    scale_z: float = 3.0  # auto: the noise scales with the parents where that raises the held-out likelihood by this many standard errors ...
    scale_gain: float = 0.02  # ... and by at least this many nats per row
    train: TrainConfig = field(default_factory=TrainConfig)  # Causal Gen's schedule and batches (docs/benchmarks.md)

    def __post_init__(self) -> None:
        for name, value, allowed in (("decoder", self.decoder, DECODERS), ("encoder", self.encoder, ENCODERS),
                                     ("latent", self.latent, LATENTS), ("f_loss", self.f_loss, F_LOSSES),
                                     ("mechanism", self.mechanism, MECHANISMS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} '{value}'; use one of {', '.join(allowed)}")
        if self.decoder == "general" and (self.encoder == "residual" or self.latent == "empirical"):
            raise ValueError(
                "decoder='general' needs encoder='full' and latent='prior' or 'aggregate' "
                "(the residual encoder and the empirical exogenous term exist only for the additive decoder)"
            )
        if self.decoder == "general" and self.mechanism == "location-scale":
            raise ValueError("mechanism='location-scale' needs decoder='additive' (the general decoder's g(parents, u) "
                             "already lets the noise depend on the parents)")
        if self.latent_dim < 1 or self.beta < 0 or self.latent_hidden < 1 or self.latent_layers < 0:
            raise ValueError("latent_dim and latent_hidden must be >= 1, latent_layers >= 0 and beta >= 0")
        if self.curvature_alpha is not None and not 0 <= self.curvature_alpha <= 1:
            raise ValueError(f"curvature_alpha is a test's level, between 0 and 1 (got {self.curvature_alpha})")


class CausalVGenNet(ScaledNoise, nn.Module):
    def __init__(self, graph: CausalGraph, layout: Layout, config: CausalVGenConfig) -> None:
        super().__init__()
        n, d = len(graph.nodes), config.latent_dim
        self.d = d
        self.terms = NodeLosses(graph, layout)
        cont = self.terms.cont_nodes.tolist()
        pmask = layout.mask(graph)
        own = torch.zeros_like(pmask)
        umask = torch.zeros(n, n * d)  # the general decoder's extra inputs: column block j holds node j's u
        for j in cont:
            own[j, layout.slices[graph.nodes[j]]] = 1.0
            umask[j, j * d : (j + 1) * d] = 1.0
        k_max = max([len(c.categories) for c in layout.schema.columns if c.discrete] + [1])
        args = (config.hidden, config.layers, config.dropout, config.activation)
        small = (config.latent_hidden, config.latent_layers, *args[2:])  # networks of one node's u or r only
        self.residual = config.encoder == "residual"
        if self.residual:  # q(u | r): each continuous node's own residual in, (mean, log-variance) out
            self.encoder = ScalarNets(cont, 1, 2 * d, *small)
        else:
            self.encoder = ParentNets(torch.maximum(pmask, own), 2 * d, *args)
        self.general = config.decoder == "general"
        if self.general:
            self.nets = ParentNets(torch.cat([pmask, umask], dim=1), k_max, *args)
        else:
            self.nets = ParentNets(pmask, k_max, *args)
            self.latent_net = ScalarNets(cont, d, 1, *small)  # h(u)
        self.log_sigma = nn.Parameter(torch.full((n,), -1.0))
        # simpler rivals of f (after training, by least squares); only where samples and
        # counterfactuals depend on f alone, i.e. the additive decoder with the empirical term
        self.simple = config.select_simple and not self.general and config.latent == "empirical"
        if self.simple:
            self.linear, self.quadratic = Polynomials(pmask, 1), Polynomials(pmask, 2)
            self.register_buffer("choice", torch.zeros(n, dtype=torch.long))  # 0 network, 1 linear, 2 degree 2
            self.linear_gap, self.linear_z, self.quadratic_gap = config.linear_gap, config.linear_z, config.quadratic_gap
            self.agreement_first = config.agreement_first
            self.curvature_alpha = config.curvature_alpha
            self.quadratic_z = config.quadratic_z
        self.min_log_sigma = config.min_log_sigma
        self.beta = config.beta
        self.f_loss = config.f_loss
        # additive decoder, f by least squares, empirical exogenous term: what the model computes
        # (samples, counterfactuals, densities) depends on f (and the scale) alone, so the kept
        # weights are those where f predicts held-out rows best, not where the ELBO is lowest
        self.keep_by_f = (config.keep_by_f and not self.general and config.latent == "empirical"
                          and config.f_loss == "least-squares")
        if config.latent == "empirical":
            self.register_buffer("noise_q", torch.zeros(n, config.noise_knots))
        else:
            self.register_buffer("latent_q", torch.zeros(n, d, config.noise_knots))
        # location-scale: log s(parents) per continuous node, trained on f's detached residuals (so f
        # trains exactly as under additive noise); built after every other network, which then
        # start from the same weights. "auto" chooses per node after training (choose_scale), only
        # where the exogenous term is empirical: there the VAE part is unused by samples and
        # counterfactuals, so a node left additive is the additive model exactly
        self.joint = config.mechanism == "location-scale" and not self.general
        auto = config.mechanism == "auto" and not self.general and config.latent == "empirical"
        self.scale = (ParentNets(pmask, 1, config.scale_hidden, 1, activation=config.activation)
                      if (self.joint or auto) and cont else None)
        if self.scale is not None:
            self.scale_z, self.scale_gain = config.scale_z, config.scale_gain
            use = torch.zeros(n, dtype=torch.bool)
            if self.joint:  # every continuous node with parents: the VAE models its standardized residual
                use[[j for j in cont if bool(pmask[j].any())]] = True
            self.register_buffer("use_scale", use)
            self.register_buffer("log_scale_range", torch.tensor([[-7.0, 5.0]]).repeat(n, 1))

    @property
    def knots(self) -> Tensor:
        """The sampling mode's quantiles: of the exogenous term ``[n, K]`` (empirical) or of
        the aggregate posterior of u ``[n, d, K]``."""
        return self.noise_q if hasattr(self, "noise_q") else self.latent_q

    def sigma(self) -> Tensor:
        return torch.exp(self.log_sigma.clamp(min=self.min_log_sigma))

    def mechanisms(self, batch: Tensor) -> Tensor:
        """The parents' part of every node's output, ``[n_nodes, B, k]`` (additive decoder:
        ``f`` and the discrete logits), ``f`` from each node's selected mechanism."""
        out = self.nets(batch)
        if self.simple and bool(self.choice.any()):
            ch = self.choice[:, None]
            f = torch.where(ch == 1, self.linear(batch), torch.where(ch == 2, self.quadratic(batch), out[..., 0]))
            out = torch.cat([f[..., None], out[..., 1:]], dim=-1)
        return out

    @torch.no_grad()
    def after_training(self, train: Tensor, val: Tensor) -> None:
        """Choose each continuous node's ``f`` (``select_simple``), then its noise's scale
        (``choose_scale``)."""
        if self.simple and len(self.terms.cont_nodes):
            self.select_simple(train, val)
        if self.scale is not None:
            self.choose_scale(train, val)

    @torch.no_grad()
    def select_simple(self, train: Tensor, val: Tensor) -> None:
        """Fit each continuous node's linear and degree-2 rival of ``f`` by least squares on
        the training rows, then keep the simplest that held-out rows cannot tell from the
        network (as Causal Gen): linear where it agrees with it (``agrees``); with
        ``agreement_first``, degree 2 where it agrees, bends away from the line and its products
        pass the F test (``curvature_alpha``; a degree-2 rival that fails it gives way to the
        line wherever it would be taken); linear
        where its held-out error ties the network's (``generators.nets.adequate``); then
        degree 2. The network's ``f`` is compared with its
        offset: under the additive decoder only ``f`` plus the mean of ``h(u) + σ·ε`` is
        identified."""
        c = self.terms.cont_nodes
        self.choice.zero_()
        targets = train.new_zeros(self.n_nodes, train.shape[0])
        targets[c] = self.terms.targets(train)
        self.linear.fit_least_squares(train, targets, c.tolist())
        self.quadratic.fit_least_squares(train, targets, c.tolist())
        held = val if val.shape[0] >= 10 else train
        offset = (self.terms.targets(train) - self.nets(train)[c, :, 0]).mean(1, keepdim=True)
        ref, target = self.nets(held)[c, :, 0] + offset, self.terms.targets(held)
        lin_out, quad_out = self.linear(held)[c], self.quadratic(held)[c]
        lin, quad = agrees(lin_out, ref, self.linear_gap), agrees(quad_out, ref, self.quadratic_gap)
        lin_tie = adequate(target, lin_out, ref, self.linear_gap, self.linear_z)
        quad_tie = quad if self.quadratic_z is None else adequate(target, quad_out, ref, self.quadratic_gap, self.quadratic_z)
        curved = torch.ones_like(lin) if self.curvature_alpha is None else self.quadratic.curvature_p[c] < self.curvature_alpha
        bent = quad & ~agrees(quad_out, lin_out, self.linear_gap) & curved & self.agreement_first  # agrees with the network, not the line
        # agreement outranks a tie in held-out loss: linear, then degree 2 where it bends away from
        # the line, by agreement; then linear by a tie; then degree 2 (by agreement or its own tie)
        # where its products are significant, else the line the training rows cannot tell it from
        quad_or_line = torch.where(curved, 2, 1)
        self.choice[c] = torch.where(lin, 1, torch.where(bent, 2, torch.where(lin_tie, 1, torch.where(quad_tie, quad_or_line, 0))))

    @torch.no_grad()
    def choose_scale(self, train: Tensor, val: Tensor) -> None:
        """Keep each continuous node's ``log s`` within the range it reaches on the training
        rows; under ``"auto"``, take the location-scale noise ``z = f(parents) + s(parents)·e``
        (the selected ``f``) where it raises the held-out Gaussian likelihood of the residuals
        over a constant scale by ``scale_z`` standard errors and ``scale_gain`` nats per row
        (``generators.nets.scale_pays``, as Causal Gen); elsewhere the noise stays additive."""
        c = self.terms.cont_nodes
        self.keep_scale_range(train, c)
        if self.joint:
            return
        held = val if val.shape[0] else train
        r_tr = self.terms.targets(train) - self.mechanisms(train)[c, :, 0]
        r_val = self.terms.targets(held) - self.mechanisms(held)[c, :, 0]
        self.use_scale.zero_()
        self.use_scale[c] = scale_pays(r_tr, r_val, self.log_scale(held)[c], self.scale_z, self.scale_gain)

    def standardized(self, batch: Tensor, r: Tensor) -> Tensor:
        """The continuous nodes' residuals ``r`` (``[n_cont, B]``) divided by ``s(parents)``
        where the noise is scaled (the scale detached: it learns from its own loss only)."""
        if self.scale is None or not bool(self.use_scale.any()):
            return r
        c = self.terms.cont_nodes
        return torch.where(self.use_scale[c, None], r * torch.exp(-self.log_scale(batch)[c].detach()), r)

    def residuals(self, batch: Tensor, f: Tensor) -> Tensor:
        """The exogenous term of the continuous nodes, ``[n_cont, B]``: ``r = z − f(parents)``,
        divided by ``s(parents)`` where the noise is scaled."""
        return self.standardized(batch, self.terms.targets(batch) - f[self.terms.cont_nodes][..., 0])

    def encode(self, batch: Tensor, r: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance of every continuous node's ``u``, ``[n_cont, B, d]``
        (the residual encoder reads ``r``, computed here when not given)."""
        if self.residual:
            e = self.encoder((self.residuals(batch, self.mechanisms(batch)) if r is None else r)[..., None])
        else:
            e = self.encoder(batch)[self.terms.cont_nodes]  # [n_cont, B, 2d]
        return e[..., : self.d], e[..., self.d :].clamp(-12, 6)

    def latent_matrix(self, u_cont: Tensor, batch_size: int) -> Tensor:
        """``[B, n_nodes * d]`` with each continuous node's latent in its block (the general
        decoder's extra inputs)."""
        n = self.log_sigma.shape[0]
        u = u_cont.new_zeros(n, batch_size, self.d)
        u[self.terms.cont_nodes] = u_cont
        return u.permute(1, 0, 2).reshape(batch_size, n * self.d)

    def decay_parameters(self) -> list[nn.Parameter]:
        nets = [self.encoder, self.nets] + ([self.latent_net] if not self.general else [])  # not the scale (as Causal Gen)
        return [p for n in nets for p in n.decay_parameters()]

    @property
    def n_nodes(self) -> int:
        return self.log_sigma.shape[0]

    def node_losses(self, batch: Tensor) -> Tensor:
        """Each node's negative ELBO ``[n_nodes]``: reconstruction NLL + beta * KL for a
        continuous node (u sampled by reparametrization in training, its mean otherwise),
        cross-entropy for a discrete one; in validation under ``keep_by_f``, a continuous
        node's squared error of ``f`` instead (what chooses the weights each node keeps)."""
        losses, fit_err = self._node_losses(batch)
        if self.keep_by_f and not self.training and fit_err is not None:
            c = self.terms.cont_nodes
            losses = losses.index_copy(0, c, (fit_err**2).mean(1))
        return losses

    def _node_losses(self, batch: Tensor) -> tuple[Tensor, Tensor | None]:
        """``node_losses`` and the additive decoder's ``z − f(parents)`` (None otherwise)."""
        b, c = batch.shape[0], self.terms.cont_nodes
        if not len(c):
            nets_in = torch.cat([batch, batch.new_zeros(b, self.nets.in_dim - batch.shape[1])], dim=1)
            return self.terms.per_node(self.nets(nets_in) if self.general else self.mechanisms(batch), batch, False), None
        fit_err = None
        z = self.terms.targets(batch)  # [n_cont, B]
        if self.general:
            mu, logvar = self.encode(batch)
        else:  # additive: z = f(parents) + h(u) + σ·ε, so the residual r = z − f is what u explains
            out = self.mechanisms(batch)
            fit_err = z - out[c, :, 0]
            # least-squares: f from the squared error alone; the ELBO models the residual's law
            r = fit_err.detach() if self.f_loss == "least-squares" else fit_err
            if self.joint:  # location-scale: the VAE models the standardized residual r / s(parents)
                r = self.standardized(batch, r)
            mu, logvar = self.encode(batch, r)
        u = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        if self.general:
            out = self.nets(torch.cat([batch, self.latent_matrix(u, b)], dim=1))
            err = z - out[c, :, 0]
        else:
            err = r - self.latent_net(u)[..., 0]
        losses = out.new_zeros(self.n_nodes)
        disc = self.terms.discrete_terms(out, batch)  # a discrete node's logits see its parents only
        if len(disc):
            losses = losses.index_add(0, self.terms.discrete_nodes, disc)
        log_s = self.log_sigma.clamp(min=self.min_log_sigma)[c][:, None]
        recon = (0.5 * (err * torch.exp(-log_s)) ** 2 + log_s).mean(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1).mean(1)
        elbo = recon + self.beta * kl
        if not self.general and self.f_loss != "elbo":
            elbo = elbo + (fit_err**2).mean(1)
        return losses.index_add(0, c, elbo), fit_err

    def loss(self, batch: Tensor) -> Tensor:
        """The nodes' losses plus, in training, the scale networks' Gaussian NLL of ``f``'s
        detached residuals. Validation (in eval mode) leaves it out, so the choice of best
        weights is the additive model's: per node from ``node_losses`` where every parameter
        is stacked per node, else from this total, as with a discrete node."""
        if not self.training:  # validation: the nodes' losses as node_losses gives them (keep_by_f)
            return self.node_losses(batch).sum()
        losses, fit_err = self._node_losses(batch)
        total = losses.sum()
        if self.scale is not None and fit_err is not None and self.training:
            total = total + scale_nll(fit_err.detach(), self._raw_log_scale(batch)[self.terms.cont_nodes]).mean(1).sum()
        return total


class CausalVGen(TabularModel):
    """Causal Variational Gen: ``build_model("causal-vgen", graph)``; see the module docstring."""

    kind = "causal-vgen"
    Config = CausalVGenConfig
    GRID = (-12.0, 12.0)  # range of the tabulated 1-D maps (u and standardized residuals)

    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        # checkpoints written before the residual encoder existed used q(u | z, parents), and
        # `hidden` units in every network; before the simpler rivals of f, none were kept;
        # before `latent_layers`, the one-input maps had `layers` hidden layers
        # before `f_loss`, f was trained by the ELBO; before `mechanism`, the noise was additive
        return {"encoder": "full", "latent_hidden": config.get("hidden", 64), "select_simple": False,
                "latent_layers": config.get("layers", 2), "f_loss": "elbo", "mechanism": "additive", **config}

    def _build(self, schema: Schema) -> nn.Module:
        return CausalVGenNet(self.graph, Layout(schema), self.config)

    @torch.no_grad()
    def _finalize(self, x: Tensor) -> None:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        net.eval()
        if len(net.terms.cont_nodes):
            gen = torch.Generator(device=x.device).manual_seed(0)
            draws = []
            for s in range(0, x.shape[0], 16384):
                batch = x[s : s + 16384]
                if self.config.latent == "empirical":  # the exogenous term h(u) + σ·ε = z − f(parents)
                    draws.append(net.residuals(batch, net.mechanisms(batch))[:, :, None])
                    continue
                # draws from the aggregate posterior: u ~ q(u | x_i, parents_i) for every training row i
                # (the posterior means alone are under-dispersed: they leave out each posterior's spread)
                mu, logvar = net.encode(batch)
                noise = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
                draws.append(mu + torch.exp(0.5 * logvar) * noise)
            us = torch.cat(draws, dim=1)  # [n_cont, rows, d]
            buf = net.knots
            probs = torch.linspace(0, 1, buf.shape[-1], dtype=torch.float64, device=x.device)
            q = torch.quantile(us.double().transpose(1, 2), probs, dim=-1).permute(1, 2, 0)  # [n_cont, d, knots]
            buf[net.terms.cont_nodes] = q.reshape(buf[net.terms.cont_nodes].shape).to(buf.dtype)
        self._refresh()

    @torch.no_grad()
    def _refresh(self) -> None:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        self._sigma = net.sigma().detach().double().cpu().numpy()
        self._knots = net.knots.double().cpu().numpy()
        self._choice = net.choice.tolist() if net.simple else [0] * net.n_nodes
        self._h: dict[int, Tabulated] = {}
        self._enc: dict[int, Tabulated] = {}
        if self.config.latent_dim != 1 or net.general:
            return
        dev = next(net.parameters()).device
        for j in net.terms.cont_nodes.tolist():
            self._h[j] = Tabulated.of(lambda u, j=j: net.latent_net.node(j, u)[:, 0], *self.GRID, device=dev)
            if net.residual:
                self._enc[j] = Tabulated.of(lambda r, j=j: net.encoder.node(j, r)[:, 0], *self.GRID, device=dev)

    # noise layout per continuous node: [u_1 .. u_d, ε]
    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        d, j = self.config.latent_dim, self.graph.index(node)
        if self.config.latent == "empirical":  # u = 0; ε carries the whole exogenous term
            r = quantile_draws(self._knots[j], rng.random(n))
            eps = np.zeros((n, d + 1))
            eps[:, d] = (r - self._latent(j, np.zeros((1, d)))[0]) / self._sigma[j]
            return eps
        eps = rng.standard_normal((n, d + 1))
        if self.config.latent == "aggregate":
            eps[:, :d] = quantile_draws(self._knots[j], rng.random((n, d)))
        return eps

    def _tensor(self, a: np.ndarray, like: Tensor) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(like.device)

    def _latent(self, j: int, u: np.ndarray) -> np.ndarray:
        """The additive decoder's ``h(u)`` of node ``j`` (``u`` is ``[n, d]``)."""
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        exact = lambda v: net.latent_net.node(j, self._tensor(v, net.log_sigma))[:, 0].double().cpu().numpy()  # noqa: E731
        return self._h[j](u[:, 0], exact) if j in self._h else exact(u)

    def _f(self, j: int, p: Tensor) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        choice = self._choice[j]
        if choice == 1:
            return net.linear.node(j, p).double().cpu().numpy()
        if choice == 2:
            return net.quadratic.node(j, p).double().cpu().numpy()
        return net.nets.node(j, p)[:, 0].double().cpu().numpy()

    def _selected(self, code: int) -> tuple[str, ...]:
        self._require_fitted()
        return tuple(n for j, n in enumerate(self.graph.nodes) if self._choice[j] == code and self.graph.parents(n))

    @property
    def linear_nodes(self) -> tuple[str, ...]:
        """Nodes whose ``f`` is linear (see ``select_simple``)."""
        return self._selected(1)

    @property
    def quadratic_nodes(self) -> tuple[str, ...]:
        """Nodes whose ``f`` is a polynomial of degree 2 (see ``select_simple``)."""
        return self._selected(2)

    @property
    def scaled_nodes(self) -> tuple[str, ...]:
        """Nodes whose noise scales with their parents (``mechanism``)."""
        return self._flagged_nodes("use_scale")

    def mechanism_choices(self) -> dict[str, str]:
        """Per node, the mechanism the fit chose (as Causal Gen's ``mechanism_choices``): the
        additive decoder's ``f`` (``"network"``, ``"linear"``, ``"polynomial of degree 2"``)
        and whether the noise is additive or ``location-scale``; under the general decoder
        every continuous node with parents is ``"network g(parents, u)"``."""
        self._require_fitted()
        out = describe_mechanisms(self)
        if self.net.general:  # type: ignore[union-attr]
            for n in self.graph.nodes:
                if self.graph.parents(n) and not self.schema[n].discrete:  # type: ignore[index]
                    out[n] = "network g(parents, u)"
        return out

    def _scale(self, j: int, p: Tensor) -> np.ndarray | None:
        """``s(parents)`` of node ``j`` where its noise scales with its parents, else None."""
        log_s = self.net.node_log_scale(j, p)  # type: ignore[union-attr, operator]
        return None if log_s is None else np.exp(log_s.double().cpu().numpy())

    def _decode_node(self, node: str, p: Tensor, u: np.ndarray) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        j = self.graph.index(node)
        if net.general:
            return net.nets.node(j, torch.cat([p, self._tensor(u, p)], dim=1))[:, 0].double().cpu().numpy()
        return self._f(j, p) + self._latent(j, u)

    def _predict_z(self, node: str, p: Tensor, noise: np.ndarray) -> np.ndarray:
        d, j = self.config.latent_dim, self.graph.index(node)
        s = self._scale(j, p)
        if s is None:
            return self._decode_node(node, p, noise[:, :d]) + self._sigma[j] * noise[:, d]
        # location-scale: z = f(parents) + s(parents)·e, e = h(u) + σ·ε the standardized exogenous term
        return self._f(j, p) + s * (self._latent(j, noise[:, :d]) + self._sigma[j] * noise[:, d])

    def _abduct_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        j, d = self.graph.index(node), self.config.latent_dim
        s = self._scale(j, p)
        if net.residual:
            r = z - self._f(j, p)
            r = r if s is None else r / s  # the standardized residual is what the VAE part models
            exact = lambda v: net.encoder.node(j, self._tensor(v[:, None], p))[:, :d].double().cpu().numpy()  # noqa: E731
            u = self._enc[j](r, lambda v: exact(v)[:, 0])[:, None] if j in self._enc else exact(r)
            eps = (r - self._latent(j, u)) / self._sigma[j]
        else:
            own = self._tensor(z[:, None], p)
            u = net.encoder.node(j, torch.cat([p, own], dim=1))[:, :d].double().cpu().numpy()
            if s is None:
                eps = (z - self._decode_node(node, p, u)) / self._sigma[j]
            else:
                eps = ((z - self._f(j, p)) / s - self._latent(j, u)) / self._sigma[j]
        return np.concatenate([u, eps[:, None]], axis=1)

    def _log_density_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        """``log p(z | parents)`` under the additive decoder with the empirical exogenous term:
        ``z = f(parents) + s(parents)·e`` (``s = 1`` where the noise is additive), ``e`` kept as
        quantile knots (``knots_log_density``), minus ``log s``. The other settings give no
        closed-form density (an ELBO bounds it), and are refused."""
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        if net.general or self.config.latent != "empirical":
            raise NotImplementedError("Causal Variational Gen gives a density only with decoder='additive' and "
                                      f"latent='empirical' (this one: decoder='{self.config.decoder}', "
                                      f"latent='{self.config.latent}')")
        j = self.graph.index(node)
        s = self._scale(j, p)
        if s is None:
            return knots_log_density(self._knots[j].reshape(-1), z - self._f(j, p), self._fit_rows())
        return knots_log_density(self._knots[j].reshape(-1), (z - self._f(j, p)) / s, self._fit_rows()) - np.log(s)

    def _logits(self, node: str, p: Tensor) -> np.ndarray:
        net: CausalVGenNet = self.net  # type: ignore[assignment]
        j = self.graph.index(node)  # a discrete node has no latent: its network sees parents only
        k = len(self.schema[node].categories)  # type: ignore[index]
        return net.nets.node(j, p)[:, :k].double().cpu().numpy()
