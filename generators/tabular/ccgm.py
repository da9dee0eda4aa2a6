"""CCGM, the Causal Counterfactual Generative Model (Bhat, Jiang, Pooladzandi, Pottie 2022,
"De-biasing generative models using counterfactual methods"): a partially trainable causal
layer over one block per variable, and de-biasing by edge removal. On a table the blocks
*are* the columns and the model is the causal layer alone (``TabularCCGM``); on labelled
images the layer links the label blocks of a VAE (``generators.image.ccgm.ImageCCGM``).

The causal layer. Each node ``j`` has a network ``f_j`` (``generators.nets``, masked
to its parents) whose inputs are the parents' blocks scaled by *edge gates* ``A[j, i]``
(the mask layer of CausalVAE, Yang et al. 2021). Each edge has a state (``edges=`` in the
config; unlisted edges are learned):

- ``"fixed"``: the gate is given (default 1) and never trained;
- ``"learned"``: the gate is trained with the mechanism (initialised at the given weight);
- ``"frozen"``: trained during the first ``freeze_after`` of the causal layer's steps, then
  held at the value it reached (or at the end of training, if that comes first);
- with ``learn_unknown=True``, every edge *not* in the graph that the graph's order allows
  (parent before child) is a candidate, gated from 0 under an L1 penalty; after training a
  candidate is kept only if removing it raises its child's held-out loss by more than
  ``discover_gap`` (nats per row), and the model's graph gains it (``discovered_edges``).

Continuous nodes are additive-noise mechanisms (``z = f(A ∘ parents) + u``, ``u`` from the
fitted residual quantiles, exactly invertible), discrete nodes Gumbel-max mechanisms: the
mechanism code of Causal Gen, reused. Interventions set a block and propagate through the
layer to descendants only (the shared query code); counterfactuals abduct the nodes'
noise from the observed values, act, and predict.

De-biasing, ``model.without_edges(("Male", "Mustache"), ...)``: a new model whose causal
layer lacks those edges. The child's mechanism is *refitted on the parent-marginal*: data
are simulated from the fitted model in which each removed edge carries an independent copy
of its parent, drawn from the (de-biased) model's own marginal instead of the row's value
(a stochastic edge intervention: Avin, Shpitser & Pearl 2005), and the child's mechanism
is fitted to those data by maximum likelihood, so it equals
``P'(child | other parents) = Σ_m P(child | m, other parents) P(m)``. Every mechanism whose
parents did not change is copied exactly (weights, gates, noise), so the unrelated
relations are untouched.

>>> from causal import CausalGraph
>>> from generators import build_model
>>> m = build_model("ccgm", CausalGraph.parse("a -> b"), edges={("a", "b"): ("fixed", 2.0)})
>>> m.kind, type(m).__name__
('ccgm', 'TabularCCGM')
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import Schema, load_table
from causal.graph import CausalGraph, GraphError
from causal.queries import Seed, rng_from
from generators import distributed
from generators.encoding import Layout
from generators.nets import ParentNets
from generators.support import Support
from generators.tabular.causal_gen import CausalGen, NodeLosses
from generators.training import TrainConfig, plan

EDGE_STATES = ("fixed", "learned", "frozen")
STYLE_PRIORS = ("aggregate", "normal")
EdgeSpec = tuple[str, str, str, float]  # (parent, child, state, weight)


class EdgeConfigError(ValueError):
    """An ``edges=`` setting names an edge the graph lacks or an unknown state."""


def normalize_edges(spec: Any) -> tuple[EdgeSpec, ...] | None:
    """``{("a", "b"): "fixed" | ("fixed", 2.0)}``, or ``[(a, b, state[, weight]), ...]``
    (as read back from JSON) -> sorted ``((a, b, state, weight), ...)``; ``None`` stays."""
    if spec is None:
        return None
    items: list[tuple[Any, Any]] = []
    if isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        for e in spec:
            e = tuple(e)
            if len(e) in (3, 4) and isinstance(e[0], str):
                items.append(((e[0], e[1]), e[2:]))
            elif len(e) == 2 and not isinstance(e[0], str):
                items.append((tuple(e[0]), e[1]))
            else:
                raise EdgeConfigError(f"cannot read edge setting {e!r}; write {{('a', 'b'): 'fixed'}} or ('a', 'b', 'fixed', 1.0)")
    out: dict[tuple[str, str], EdgeSpec] = {}
    for edge, value in items:
        if not (isinstance(edge, (tuple, list)) and len(edge) == 2):
            raise EdgeConfigError(f"an edge must be a pair (parent, child), got {edge!r}")
        a, b = str(edge[0]), str(edge[1])
        if isinstance(value, str):
            state, weight = value, 1.0
        else:
            value = tuple(value)
            state, weight = (value[0], 1.0) if len(value) == 1 else (value[0], value[1])
        if state not in EDGE_STATES:
            raise EdgeConfigError(f"edge {a} -> {b} has unknown state {state!r}; use one of {', '.join(EDGE_STATES)}")
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise EdgeConfigError(f"edge {a} -> {b}: the weight must be a number, got {weight!r}") from None
        if not math.isfinite(weight):
            raise EdgeConfigError(f"edge {a} -> {b}: the weight must be finite, got {weight}")
        out[(a, b)] = (a, b, state, weight)
    return tuple(out[k] for k in sorted(out))


@dataclass(frozen=True)
class CCGMConfig:
    # --- the causal layer (label mechanisms; for tables, the whole model)
    hidden: int = 64  # units per hidden layer of each node's mechanism network
    layers: int = 2  # hidden layers per node (0 gives linear mechanisms)
    dropout: float = 0.0  # between hidden layers
    activation: str = "silu"  # silu | relu | tanh | elu
    mechanism: str = "additive"  # continuous nodes: additive | location-scale (as Causal Gen)
    noise_knots: int = 512  # quantiles kept of each continuous node's noise distribution
    edges: Any = None  # {(parent, child): "fixed" | "learned" | "frozen" or (state, weight)}; unlisted: learned, weight 1
    freeze_after: float = 0.5  # frozen edges are trained for this fraction of the causal layer's steps, then held
    learn_unknown: bool = False  # also learn edges the graph lacks (gated from 0, L1), keeping those that validate
    unknown_l1: float = 1e-3  # L1 penalty on candidate edges' gates (learn_unknown)
    discover_gap: float = 0.01  # a candidate edge is kept if removing it costs its child more than this (nats/row)
    debias_samples: int = 20_000  # rows simulated (twice) to refit a child's mechanism in without_edges
    # --- the image VAE (only with an image node)
    style_dim: int = 8  # free latent dimensions beside the label blocks
    width: int = 32  # conv channels of the first encoder stage (doubling, capped at 4x)
    beta: float = 4.0  # weight of the style's KL term (higher: less label information leaks into the style; bench/ccgm.py)
    label_weight: float = 100.0  # weight of the label head's loss (per image, beside a summed pixel loss)
    cycle_weight: float = 30.0  # weight of reading swapped labels back from decoded images (0: off)
    style_prior: str = "aggregate"  # sampling style: "aggregate" (posteriors of training images) or "normal" N(0, I)
    style_bank: int = 4096  # training images whose style posteriors are kept for style_prior="aggregate"
    pixel_noise: bool = True  # counterfactual images keep the factual's reconstruction residual (see ImageModel.counterfactual)
    train: TrainConfig = field(default_factory=TrainConfig)  # the causal layer (tables: the whole model)
    image_train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=3000, batch_size=64, lr=1e-3, val_fraction=0.05, max_epochs=10_000)
    )  # the VAE (phase 2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", normalize_edges(self.edges))
        if self.mechanism not in ("additive", "location-scale"):
            raise ValueError(f"unknown mechanism '{self.mechanism}'; use additive or location-scale")
        if self.hidden < 1 or self.layers < 0 or not 0 <= self.dropout < 1:
            raise ValueError("hidden must be >= 1, layers >= 0 and 0 <= dropout < 1")
        if not 0.0 <= self.freeze_after <= 1.0:
            raise ValueError(f"freeze_after must be in [0, 1] (a fraction of the training steps), got {self.freeze_after}")
        if self.style_prior not in STYLE_PRIORS:
            raise ValueError(f"unknown style_prior '{self.style_prior}'; use one of {', '.join(STYLE_PRIORS)}")
        if self.style_dim < 0 or self.width < 1 or self.beta < 0 or self.label_weight < 0 or self.cycle_weight < 0:
            raise ValueError("style_dim >= 0, width >= 1 and the loss weights (beta, label_weight, cycle_weight) >= 0")


# ---------------------------------------------------------------------- the causal layer
class CausalLayer(ParentNets):
    """Per-node parent networks whose inputs are weighted by edge gates ``A[child, parent]``
    (see the module docstring for the edge states). ``gates()`` is the effective matrix;
    masked-out (non-parent) entries are zero, so outputs never depend on non-parents."""

    def __init__(self, mask: Tensor, out_dim: int, hidden: int, layers: int, dropout: float, activation: str,
                 col_node: Tensor, edge: Tensor, init: Tensor, fixed: Tensor, frozen: Tensor, candidate: Tensor) -> None:
        super().__init__(mask, out_dim, hidden, layers, dropout, activation)
        self.gate = nn.Parameter(init.float().clone())
        self.register_buffer("col_node", col_node.long().clone())
        self.register_buffer("edge", edge.float().clone())  # 1 where the gate is in use
        self.register_buffer("fixed", fixed.bool().clone())
        self.register_buffer("fixed_value", init.float().clone())
        self.register_buffer("frozen", frozen.bool().clone())
        self.register_buffer("held", torch.zeros_like(init, dtype=torch.float32))
        self.register_buffer("frozen_now", torch.zeros((), dtype=torch.bool))
        self.register_buffer("candidate", candidate.bool().clone())

    def gates(self) -> Tensor:
        g = torch.where(self.fixed, self.fixed_value, self.gate)
        g = torch.where(self.frozen & self.frozen_now, self.held, g)
        return g * self.edge

    def _input_mask(self) -> Tensor:
        return self.mask * self.gates()[:, self.col_node]

    @torch.no_grad()
    def freeze(self) -> None:
        """Hold the frozen edges at their current values from now on."""
        self.held.copy_(torch.where(self.frozen, self.gate.detach(), self.held))
        self.frozen_now.fill_(True)
        self._cache.clear()

    @torch.no_grad()
    def restrict(self, mask: Tensor) -> None:
        """Keep only the parent columns of ``mask`` (after candidate edges were pruned)."""
        self.mask.copy_(mask)
        self._cols = [torch.nonzero(mask[j]).flatten() for j in range(self.n_nodes)]
        self.mask_changed()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._cols = [torch.nonzero(self.mask[j]).flatten() for j in range(self.n_nodes)]


class CausalLayerNet(nn.Module):
    """The causal layer with its likelihood terms and noise quantiles; the module the
    generic loop trains (``loss``, per-node ``node_losses``, ``after_training``)."""

    def __init__(self, graph: CausalGraph, layout: Layout, config: CCGMConfig, candidates: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__()
        nodes = graph.nodes
        n = len(nodes)
        idx = {v: i for i, v in enumerate(nodes)}
        self.terms = NodeLosses(graph, layout)
        k_max = max([len(c.categories) for c in layout.schema.columns if c.discrete] + [1])
        out_dim = max(k_max, 2 if config.mechanism == "location-scale" else 1)
        col_node = torch.zeros(layout.width, dtype=torch.long)
        for v in nodes:
            col_node[layout.slices[v]] = idx[v]
        edge, init = torch.zeros(n, n), torch.zeros(n, n)
        fixed, frozen, cand = (torch.zeros(n, n, dtype=torch.bool) for _ in range(3))
        for a, b in graph.edges:
            edge[idx[b], idx[a]], init[idx[b], idx[a]] = 1.0, 1.0
        for a, b in candidates:
            cand[idx[b], idx[a]] = True
            init[idx[b], idx[a]] = 0.0
        for a, b, state, weight in config.edges or ():
            if a in idx and b in idx:
                init[idx[b], idx[a]] = weight
                fixed[idx[b], idx[a]] = state == "fixed"
                frozen[idx[b], idx[a]] = state == "frozen"
        self.nets = CausalLayer(layout.mask(graph), out_dim, config.hidden, config.layers, config.dropout,
                                config.activation, col_node, edge, init, fixed, frozen, cand)
        self.scaled = config.mechanism == "location-scale"
        self.unknown_l1 = config.unknown_l1
        self.discover_gap = config.discover_gap
        self.freeze_step: int | None = None  # set by the model before training
        self._step = 0
        self.register_buffer("noise_q", torch.zeros(n, config.noise_knots))
        self.register_buffer("use_linear", torch.zeros(n, dtype=torch.bool))  # Causal Gen's interface: never linear here

    @property
    def n_nodes(self) -> int:
        return self.nets.n_nodes

    def decay_parameters(self) -> list[nn.Parameter]:
        return self.nets.decay_parameters()

    def node_losses(self, batch: Tensor) -> Tensor:
        if self.training:
            self._step += 1
            if self.freeze_step is not None and self._step > self.freeze_step and not bool(self.nets.frozen_now):
                self.nets.freeze()
        losses = self.terms.per_node(self.nets(batch), batch, self.scaled)
        if self.unknown_l1 and bool(self.nets.candidate.any()):
            losses = losses + self.unknown_l1 * (self.nets.gate.abs() * self.nets.candidate).sum(1)
        return losses

    def loss(self, batch: Tensor) -> Tensor:
        return self.node_losses(batch).sum()

    @torch.no_grad()
    def after_training(self, train: Tensor, val: Tensor) -> None:
        """Hold frozen edges that training ended before freezing; keep the candidate
        edges whose removal costs their child more than ``discover_gap`` on held-out rows."""
        if not bool(self.nets.frozen_now):
            self.nets.freeze()
        rows = val if val.shape[0] else train
        for j, i in torch.nonzero(self.nets.candidate & (self.nets.edge > 0)).tolist():
            base = self.terms.per_node(self.nets(rows), rows, self.scaled)[j]
            self.nets.edge[j, i] = 0.0
            without = self.terms.per_node(self.nets(rows), rows, self.scaled)[j]
            if float(without - base) > self.discover_gap:
                self.nets.edge[j, i] = 1.0
        self.nets._cache.clear()

    def outputs(self, batch: Tensor) -> Tensor:
        return self.nets(batch)

    def node(self, j: int, p: Tensor) -> Tensor:
        return self.nets.node(j, p)

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


# ---------------------------------------------------------------------- shared checks
def check_edge_config(config: CCGMConfig, graph: CausalGraph) -> None:
    """Every edge ``config.edges`` sets a state for is an edge of ``graph``."""
    known = set(graph.edges)
    for a, b, state, _ in config.edges or ():
        if (a, b) not in known:
            shown = ", ".join(f"{p} -> {c}" for p, c in graph.edges) or "(none)"
            raise EdgeConfigError(
                f"edges= sets {a} -> {b} to '{state}', but the graph has no such edge; its edges are {shown}"
            )


def check_removal(graph: CausalGraph, edges: Sequence[Any]) -> list[tuple[str, str]]:
    """The edges ``without_edges`` was asked to remove, each checked to be an edge of ``graph``."""
    out = []
    if not edges:
        raise GraphError("without_edges needs at least one edge, e.g. without_edges(('Male', 'Mustache'))")
    for e in edges:
        if not (isinstance(e, (tuple, list)) and len(e) == 2):
            raise GraphError(f"an edge to remove must be a pair (parent, child), got {e!r}")
        a, b = str(e[0]), str(e[1])
        if not graph.has_edge(a, b):
            shown = ", ".join(f"{p} -> {c}" for p, c in graph.edges) or "(none)"
            raise GraphError(f"cannot remove {a} -> {b}: the model's graph has no such edge; its edges are {shown}")
        out.append((a, b))
    return out


# ---------------------------------------------------------------------- tables
class TabularCCGM(CausalGen):
    """CCGM on a table: the causal layer over the columns (see the module docstring)."""

    kind = "ccgm"
    Config = CCGMConfig

    def __init__(self, graph: CausalGraph | str, config: CCGMConfig | None = None) -> None:
        super().__init__(graph, config)
        check_edge_config(self.config, self.graph)
        self._candidates: tuple[tuple[str, str], ...] = ()
        self._fit_rows = 0

    def _build(self, schema: Schema) -> nn.Module:
        net = CausalLayerNet(self.graph, Layout(schema), self.config, self._candidates)
        if self._fit_rows:  # training: frozen edges are held after freeze_after of the planned steps
            net.freeze_step = int(round(self.config.freeze_after * plan(self._fit_rows, self.config.train).total_steps))
        return net

    def fit(self, data: pd.DataFrame, seed: int = 0, **kw: Any):  # type: ignore[override]
        """Fit the causal layer (``TabularModel.fit``, same options). Frozen edges are
        held after ``freeze_after`` of the planned steps; with ``learn_unknown`` the graph
        may gain edges (``discovered_edges``)."""
        user = self.graph
        order = user.nodes
        if self.config.learn_unknown:
            present = set(user.edges)
            self._candidates = tuple(
                (order[i], order[j]) for j in range(len(order)) for i in range(j) if (order[i], order[j]) not in present
            )
            self.graph = user.with_edges(*self._candidates) if self._candidates else user
        self._fit_rows = len(data)
        try:
            report = super().fit(data, seed, **kw)
        finally:
            self._fit_rows = 0
        if self._candidates:
            found = self.discovered_edges
            self.graph = user.with_kinds(self.graph.kinds).with_edges(*found)
            self.net.nets.restrict(self.layout.mask(self.graph).to(self._device))  # type: ignore[union-attr]
            table, _ = load_table(data, self.graph, extra="drop")
            x = torch.from_numpy(self.layout.encode(self.schema.encode(table))).to(self._device)  # type: ignore[union-attr]
            self.support = Support.fit(self.graph, self._parent_columns(), x, seed=seed)
            self._finalize(x)
            if kw.get("checkpoint_dir") is not None and distributed.is_main():
                self.save(kw["checkpoint_dir"])
            self._candidates = ()
        return report

    @property
    def discovered_edges(self) -> tuple[tuple[str, str], ...]:
        """Edges learned beyond the user's graph (``learn_unknown``), kept after validation."""
        self._require_fitted()
        nets = self.net.nets  # type: ignore[union-attr]
        nodes = self.graph.nodes  # the order is the same with and without candidate edges
        found = torch.nonzero(nets.candidate & (nets.edge > 0)).tolist()
        return tuple((nodes[i], nodes[j]) for j, i in found)

    def edge_weights(self) -> dict[tuple[str, str], float]:
        """The effective gate of every edge of the graph, ``{(parent, child): weight}``."""
        self._require_fitted()
        g = self.net.nets.gates().detach().cpu()  # type: ignore[union-attr]
        return {(a, b): float(g[self.graph.index(b), self.graph.index(a)]) for a, b in self.graph.edges}

    def edge_states(self) -> dict[tuple[str, str], str]:
        """Each edge's state: fixed, learned, frozen, or discovered (``learn_unknown``)."""
        states = {(a, b): "learned" for a, b in self.graph.edges}
        states.update({(a, b): s for a, b, s, _ in self.config.edges or () if (a, b) in states})
        if self.fitted:
            states.update({e: "discovered" for e in self.discovered_edges})
        return states

    # ------------------------------------------------------------------ de-biasing
    def without_edges(self, *edges: Any, references: Mapping[str, Any] | None = None, method: str = "cut",
                      seed: int = 0, n: int | None = None) -> Any:
        """This model without ``edges``. ``method="cut"`` (default): every model's way,
        ``CausalModel.without_edges`` (queries feed each cut edge's child an independent copy
        of the parent; nothing is retrained). ``method="refit"``: the paper's way, a new
        model whose causal layer lacks the edges, each child's mechanism refitted on the
        parent-marginal (``n`` rows simulated twice, default ``debias_samples``), every other
        mechanism copied exactly (see the module docstring); its samples have the same law
        as the cut model's, its counterfactuals come from the refitted mechanism."""
        if method == "cut":
            return super().without_edges(*edges, references=references)
        if method != "refit":
            raise ValueError(f"unknown method '{method}'; use 'cut' or 'refit'")
        if references:
            raise ValueError("reference values apply to method='cut'; a refit marginalizes the parent")
        self._require_fitted()
        removed = check_removal(self.graph, edges)
        rows = self._edge_intervened_sample(set(removed), n or self.config.debias_samples, seed)
        keep = tuple(e for e in self.config.edges or () if (e[0], e[1]) not in set(removed))
        cfg = dataclasses.replace(self.config, edges=keep, learn_unknown=False)
        new = TabularCCGM(self.graph.without_edges(*removed), cfg)
        new.fit(rows, seed=seed, schema=self.schema)  # the same coordinates: copied mechanisms stay valid
        children = {b for _, b in removed}
        new._transplant(self, [v for v in self.graph.nodes if v not in children])
        return new

    def _edge_intervened_sample(self, removed: set[tuple[str, str]], n: int, seed: Seed) -> pd.DataFrame:
        """``2n`` rows from this model with every removed edge fed by an independent copy of
        its parent: two runs in lockstep, each reading the other's value on removed edges,
        so each run is a sample of the de-biased model (ancestors included)."""
        rng = rng_from(seed)
        runs: list[dict[str, np.ndarray]] = [{}, {}]
        for node in self.graph.nodes:
            for r in (0, 1):
                u = self.noise(node, n, rng)
                pa = {p: runs[1 - r][p] if (p, node) in removed else runs[r][p] for p in self.graph.parents(node)}
                runs[r][node] = self.predict(node, pa, u)
        both = {k: np.concatenate([runs[0][k], runs[1][k]]) for k in self.graph.nodes}
        return self.schema.decode(both)

    @torch.no_grad()
    def _transplant(self, old: "TabularCCGM", nodes: Iterable[str]) -> None:
        """Copy ``old``'s mechanism of each of ``nodes`` (same parents) into this model:
        network weights, gates and their states, noise quantiles, support."""
        new_nets, old_nets = self.net.nets, old.net.nets  # type: ignore[union-attr]
        for v in nodes:
            j, k = self.graph.index(v), old.graph.index(v)
            parents = self.graph.parents(v)
            assert set(parents) == set(old.graph.parents(v))
            for p in parents:
                ns, os_ = self.layout.slices[p], old.layout.slices[p]  # type: ignore[union-attr]
                new_nets.weights[0][j, ns] = old_nets.weights[0][k, os_]
                new_nets.skip[j, ns] = old_nets.skip[k, os_]
                a, b = self.graph.index(p), old.graph.index(p)
                new_nets.gate[j, a] = old_nets.gate[k, b]
                for name in ("edge", "fixed", "fixed_value", "frozen", "held", "candidate"):
                    getattr(new_nets, name)[j, a] = getattr(old_nets, name)[k, b]
            new_nets.biases[0][j] = old_nets.biases[0][k]
            for lw, lb, ow, ob in zip(new_nets.weights[1:], new_nets.biases[1:], old_nets.weights[1:], old_nets.biases[1:]):
                lw[j], lb[j] = ow[k], ob[k]
            self.net.noise_q[j] = old.net.noise_q[k]  # type: ignore[union-attr, index]
            if self.support is not None and old.support is not None and v in old.support.refs:
                # support columns follow the parents' order in each graph
                pos_old = _parent_positions(old, v)
                perm = [c for p in parents for c in pos_old[p]]
                self.support.refs[v] = old.support.refs[v][:, perm].clone()
                self.support.taus[v] = old.support.taus[v]
        new_nets._cache.clear()
        self._refresh()


def _parent_positions(model: TabularCCGM, node: str) -> dict[str, list[int]]:
    """Positions of each parent's encoded columns within ``node``'s parent vector."""
    out, start = {}, 0
    for p in model.graph.parents(node):
        sl = model.layout.slices[p]  # type: ignore[union-attr]
        out[p] = list(range(start, start + sl.stop - sl.start))
        start += sl.stop - sl.start
    return out
