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

Mechanism selection (Occam's razor per node, on held-out rows): a linear mechanism replaces
the network where it predicts the same to within ``linear_gap`` or validates no worse; then,
for continuous nodes with the additive mechanism, a least-squares polynomial of degree 2 in
the parents where it predicts what the network predicts to within ``quadratic_gap`` (the
counterfactual RMSE bar of the benchmark: on the data the choice then costs at most that).
Agreement alone, not a tie in held-out loss: noise dominates the loss, and a degree-2 fit
can tie a network while predicting 0.08 sd apart from it (measured on loan's savings, where
the polynomial was the worse one). Both rivals extrapolate off the data's support as their
family does (a product of two parents stays a product), where a network's extrapolation is
arbitrary; they are also cheaper to query.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from causal.data import Schema
from causal.graph import CausalGraph
from generators.encoding import Layout
from generators.tabular.base import TabularModel, quantile_draws
from generators.nets import ParentNets, Polynomials, agrees
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
    select_linear: bool = True  # per node, prefer a linear mechanism where the data cannot tell it from the network
    linear_gap: float = 0.02  # ... it predicts the same as the network to within this RMS (sd units) on held-out rows
    linear_z: float = 0.0  # ... or its held-out loss is within this many standard errors of the network's
    select_quadratic: bool = True  # next, for a continuous node: a polynomial of degree 2 (additive only) ...
    quadratic_gap: float = 0.03  # ... where it predicts the same as the network to within this RMS (sd units) on held-out rows
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
        self.register_buffer("discrete_nodes", torch.tensor([j for j, *_ in self.discrete], dtype=torch.long), persistent=False)

    def targets(self, batch: Tensor) -> Tensor:
        """Continuous targets ``[n_cont, batch]``."""
        return batch[:, self.cont_cols].T

    def discrete_rows(self, out: Tensor, batch: Tensor) -> Tensor:
        """Cross-entropy of every discrete node on every row, ``[n_discrete, batch]``."""
        terms = [
            nn.functional.cross_entropy(
                out[j, :, :k], batch[:, sl.start].long() if binary else batch[:, sl].argmax(1), reduction="none"
            )
            for j, sl, binary, k in self.discrete
        ]
        return torch.stack(terms) if terms else out.new_zeros(0, out.shape[1])

    def discrete_terms(self, out: Tensor, batch: Tensor) -> Tensor:
        """Cross-entropy per discrete node, ``[n_discrete]``."""
        return self.discrete_rows(out, batch).mean(1)

    def per_node(self, out: Tensor, batch: Tensor, scaled: bool) -> Tensor:
        """Each node's mean loss ``[n_nodes]`` (see ``per_row``)."""
        return self.per_row(out, batch, scaled).mean(1)

    def per_row(self, out: Tensor, batch: Tensor, scaled: bool) -> Tensor:
        """Each node's loss on each row ``[n_nodes, batch]``: squared error (or Gaussian
        NLL with a log-scale in output 1 when ``scaled``) for continuous nodes,
        cross-entropy for discrete ones."""
        losses = out.new_zeros(out.shape[0], out.shape[1])
        if len(self.cont_nodes):
            o = out[self.cont_nodes]
            target = self.targets(batch)
            if scaled:
                log_s = o[:, :, 1].clamp(-7, 5)
                cont = 0.5 * ((target - o[:, :, 0]) * torch.exp(-log_s)) ** 2 + log_s
            else:
                cont = (target - o[:, :, 0]) ** 2
            losses = losses.index_add(0, self.cont_nodes, cont)
        if self.discrete:
            losses = losses.index_add(0, self.discrete_nodes, self.discrete_rows(out, batch))
        return losses


class CausalGenNet(nn.Module):
    """Every node's network (``nets``) and, trained beside it, every node's linear
    mechanism (``linear``), plus for continuous nodes a polynomial of degree 2 fitted by
    least squares after training (``quadratic``). ``use_linear`` and ``use_quadratic`` mark
    the nodes whose simpler mechanism validates as well as the network: Occam's razor per
    mechanism, simplest first."""

    def __init__(self, graph: CausalGraph, layout: Layout, config: CausalGenConfig) -> None:
        super().__init__()
        k_max = max([len(c.categories) for c in layout.schema.columns if c.discrete] + [1])
        out_dim = max(k_max, 2 if config.mechanism == "location-scale" else 1)
        mask = layout.mask(graph)
        self.nets = ParentNets(mask, out_dim, config.hidden, config.layers, config.dropout, config.activation)
        self.linear = ParentNets(mask, out_dim, hidden=1, layers=0) if config.select_linear and config.layers else None
        self.quadratic = (
            Polynomials(mask, 2)
            if self.linear is not None and config.select_quadratic and config.mechanism == "additive"
            else None
        )
        self.terms = NodeLosses(graph, layout)
        self.scaled = config.mechanism == "location-scale"
        # the linear rival learns by gradient only where least squares will not replace it
        # after training: discrete nodes (logistic), or every node under location-scale
        self.train_linear = self.linear is not None and (self.scaled or bool(self.terms.discrete))
        self.linear_z = config.linear_z
        self.linear_gap = config.linear_gap
        self.quadratic_gap = config.quadratic_gap
        self.register_buffer("noise_q", torch.zeros(len(graph.nodes), config.noise_knots))
        self.register_buffer("use_linear", torch.zeros(len(graph.nodes), dtype=torch.bool))
        if self.quadratic is not None:
            self.register_buffer("use_quadratic", torch.zeros(len(graph.nodes), dtype=torch.bool))

    def decay_parameters(self) -> list[nn.Parameter]:
        return self.nets.decay_parameters()

    @property
    def n_nodes(self) -> int:
        return self.nets.n_nodes

    def node_losses(self, batch: Tensor) -> Tensor:
        """Each node's loss ``[n_nodes]`` (network, plus its linear rival where that is
        trained by gradient, see ``train_linear``)."""
        losses = self.terms.per_node(self.nets(batch), batch, self.scaled)
        if self.train_linear:
            lin = self.linear(batch)  # type: ignore[misc]
            if self.scaled:
                losses = losses + self.terms.per_node(lin, batch, True)
            else:  # only the discrete nodes' logistic rivals learn by gradient
                losses = losses.index_add(0, self.terms.discrete_nodes, self.terms.discrete_terms(lin, batch))
        return losses

    def loss(self, batch: Tensor) -> Tensor:
        return self.node_losses(batch).sum()

    @torch.no_grad()
    def after_training(self, train: Tensor, val: Tensor) -> None:
        """Solve every linear continuous mechanism exactly (least squares on the training
        rows), then choose per node between the linear mechanism and the network."""
        linear = self.linear if self.linear is not None else (self.nets if len(self.nets.weights) == 1 else None)
        cont = self.terms.cont_nodes.tolist()
        targets = self._all_targets(train) if cont else None
        if linear is not None and cont and not self.scaled:
            linear.fit_least_squares(train, targets, cont)
        if self.quadratic is not None and cont:
            self.quadratic.fit_least_squares(train, targets, cont)
        self.select_on_validation(val if val.shape[0] else train)

    def _all_targets(self, batch: Tensor) -> Tensor:
        t = batch.new_zeros(self.n_nodes, batch.shape[0])
        t[self.terms.cont_nodes] = self.terms.targets(batch)
        return t

    @torch.no_grad()
    def select_on_validation(self, val: Tensor) -> None:
        """Per node, choose the linear mechanism when (a) on held-out rows it predicts
        what the network predicts to within ``linear_gap`` (RMS, in standard deviations
        for a continuous node, in probability for a discrete one), so the choice cannot
        matter where there are data and linear extrapolates more conservatively; or (b)
        its held-out loss is no worse than the network's by ``linear_z`` standard errors
        (paired over rows). Otherwise keep the network: counterfactuals remove the noise
        that dominates the loss, so even a small real nonlinearity matters."""
        if self.linear is None or val.shape[0] < 10:
            return
        lin_out, net_out = self.linear(val), self.nets(val)
        diff = self.terms.per_row(lin_out, val, self.scaled) - self.terms.per_row(net_out, val, self.scaled)
        se = diff.std(dim=1) / diff.shape[1] ** 0.5
        gap = ((lin_out[:, :, 0] - net_out[:, :, 0]) ** 2).mean(1).sqrt()
        for j, _, _, k in self.terms.discrete:
            p_lin, p_net = lin_out[j, :, :k].softmax(-1), net_out[j, :, :k].softmax(-1)
            gap[j] = ((p_lin - p_net) ** 2).sum(-1).mean().sqrt()
        self.use_linear.copy_((gap < self.linear_gap) | (diff.mean(1) <= self.linear_z * se))
        if self.quadratic is not None and len(self.terms.cont_nodes):
            c = self.terms.cont_nodes
            ok = agrees(self.quadratic(val)[c], net_out[c, :, 0], self.quadratic_gap)
            self.use_quadratic.zero_()
            self.use_quadratic[c] = ok & ~self.use_linear[c]

    def outputs(self, batch: Tensor) -> Tensor:
        """``[n_nodes, batch, out_dim]`` from each node's selected mechanism."""
        out = self.nets(batch)
        if self.linear is not None and bool(self.use_linear.any()):
            out = torch.where(self.use_linear[:, None, None], self.linear(batch), out)
        if self.quadratic is not None and bool(self.use_quadratic.any()):
            out = torch.where(self.use_quadratic[:, None, None], self.quadratic(batch)[:, :, None], out)
        return out

    def node(self, j: int, p: Tensor) -> Tensor:
        if self.quadratic is not None and bool(self.use_quadratic[j]):
            return self.quadratic.node(j, p)[:, None]
        return self.linear.node(j, p) if self.linear is not None and bool(self.use_linear[j]) else self.nets.node(j, p)

    @torch.no_grad()
    def residuals(self, x: Tensor) -> Tensor:
        """Standardized residuals ``[n_cont, rows]`` of the continuous nodes on ``x``."""
        chunks = []
        for start in range(0, x.shape[0], 16384):
            batch = x[start : start + 16384]
            o = self.outputs(batch)[self.terms.cont_nodes]
            r = self.terms.targets(batch) - o[:, :, 0]
            chunks.append(r * torch.exp(-o[:, :, 1].clamp(-7, 5)) if self.scaled else r)
        return torch.cat(chunks, dim=1)


class CausalGen(TabularModel):
    """Causal Gen: ``build_model("causal-gen", graph)``; see the module docstring."""

    kind = "causal-gen"
    Config = CausalGenConfig

    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        # checkpoints written before the quadratic rival existed have no weights for it
        if "select_quadratic" not in {f.name for f in fields(cls.Config)}:  # a subclass's own config (CCGM)
            return config
        return {"select_quadratic": False, **config}

    def _build(self, schema: Schema) -> nn.Module:
        return CausalGenNet(self.graph, Layout(schema), self.config)

    def _finalize(self, x: Tensor) -> None:
        net: CausalGenNet = self.net  # type: ignore[assignment]
        net.eval()
        if len(net.terms.cont_nodes):
            r = net.residuals(x).double()
            probs = torch.linspace(0, 1, net.noise_q.shape[1], dtype=torch.float64, device=r.device)
            q = torch.quantile(r, probs, dim=1).T  # [n_cont, knots]
            net.noise_q[net.terms.cont_nodes] = q.to(net.noise_q.dtype)
        self._refresh()

    def _refresh(self) -> None:
        q = self.net.noise_q.double().cpu().numpy()  # type: ignore[union-attr]
        self._knots = {n: q[j] for j, n in enumerate(self.graph.nodes)}

    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        return quantile_draws(self._knots[node], rng.random(n))

    def _out(self, node: str, p: Tensor) -> np.ndarray:
        return self.net.node(self.graph.index(node), p).double().cpu().numpy()  # type: ignore[union-attr]

    @property
    def linear_nodes(self) -> tuple[str, ...]:
        """Nodes whose selected mechanism is linear (see ``select_linear``)."""
        self._require_fitted()
        return tuple(n for j, n in enumerate(self.graph.nodes) if bool(self.net.use_linear[j]) and self.graph.parents(n))  # type: ignore[union-attr]

    @property
    def quadratic_nodes(self) -> tuple[str, ...]:
        """Nodes whose selected mechanism is a polynomial of degree 2 (see ``select_quadratic``)."""
        self._require_fitted()
        net: CausalGenNet = self.net  # type: ignore[assignment]
        if getattr(net, "quadratic", None) is None:  # CCGM's net has no such rival
            return ()
        return tuple(n for j, n in enumerate(self.graph.nodes) if bool(net.use_quadratic[j]) and self.graph.parents(n))

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
