"""Causal controllers: label models that generate discrete labels node by node in the graph's
order (Kocaoglu, Snyder, Dimakis, Vishwanath 2017, "CausalGAN", §4), so that conditioning,
intervening and counterfactuals on the labels follow the shared query code.

Each kind is a ``TabularModel`` over the label graph (the ``Mechanisms`` protocol of
``causal.queries``, ``fit``, safe save/load), so an ``ImageModel`` uses it as its label
mechanisms unchanged:

- ``"mle"`` (``CPTLabels``): the exact maximum-likelihood CPT of every node
  (``causal.exact.DiscreteBN``, optionally with a Dirichlet/BDeu prior), sampled by
  Gumbel-max on ``log P(x | parents)``. The default: on a label graph small enough for exact
  inference it is the best estimate the data allow, it fits in milliseconds, and its joint is
  known exactly (the three kinds are compared on the faces in docs/benchmarks.md).
- ``"network"``: Causal Gen (``generators.tabular.causal_gen``) on the label table, one small
  network per node over its parents, trained by cross-entropy, sampled by Gumbel-max. It
  shares strength across parent configurations, which helps where configurations are rare.
- ``"wgan"`` (``WGANLabels``): the paper's controller. Each node is a network over (its
  parents' labels, its own noise ``u ~ U(-1, 1)^k``) whose softmax output feeds its
  children; a WGAN-GP critic (Gulrajani et al. 2017) compares generated soft label vectors
  with the real 0/1 ones, which pushes the outputs to be (nearly) discrete; sampling takes
  the argmax. Abduction of ``u`` given an observed label is by rejection from its prior.

Gumbel-max abduction follows Oberst & Sontag (2019) (``generators.tabular.base.gumbel_posterior``).
``label_bn(model)`` turns any of them into a ``DiscreteBN`` with the model's own CPTs, so
its joint, conditionals and interventionals can be computed exactly and set beside the
truth.

>>> from causal import CausalGraph
>>> import pandas as pd
>>> m = make_controller(CausalGraph.parse("a -> b"), kind="mle")
>>> _ = m.fit(pd.DataFrame({"a": [0, 1] * 20, "b": [0, 1, 1, 1] * 10}))
>>> round(label_bn(m).prob("b", 1, given={"a": 0}), 3)
0.5
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import Schema, load_table
from causal.exact import DiscreteBN
from causal.graph import CausalGraph
from generators import distributed
from generators.encoding import Layout
from generators.nets import ParentNets
from generators.tabular.base import TabularModel, gumbel, gumbel_posterior
from generators.tabular.causal_gen import CausalGen, CausalGenConfig
from generators.training import Callback, FitReport, Progress, StepContext, Steps, TrainConfig, pick_device, train

__all__ = ["ControllerConfig", "CPTLabels", "WGANLabels", "CONTROLLERS", "make_controller", "label_bn"]

CONTROLLERS = ("mle", "network", "wgan")
_LOG_FLOOR = -69.0  # log(1e-30): a zero-probability cell in Gumbel-max logits


@dataclass(frozen=True)
class ControllerConfig:
    """How the labels are modelled (see the module docstring for the kinds)."""

    kind: str = "mle"  # mle | network | wgan; mle measured best on the face labels (docs/benchmarks.md)
    prior: str = "mle"  # mle CPTs: "mle" (none), "dirichlet" or "bdeu"
    strength: float = 1.0  # ... pseudo-counts per cell (dirichlet) or equivalent sample size (bdeu)
    hidden: int = 32  # network / wgan: units per hidden layer of each node's network
    layers: int = 2  # network / wgan: hidden layers per node
    steps: int = 1500  # network: optimizer steps; wgan: generator steps
    lr: float = 1e-2  # network: learning rate
    batch_size: int = 512  # network / wgan
    noise_dim: int = 4  # wgan: dimensions of each node's noise u ~ U(-1, 1)
    critic_hidden: int = 128  # wgan: width of the critic's two hidden layers
    n_critic: int = 5  # wgan: critic steps per generator step
    gp_weight: float = 10.0  # wgan: gradient-penalty weight
    wgan_lr: float = 1e-3  # wgan: Adam learning rate (betas 0.5, 0.9), cosine-annealed
    abduction_tries: int = 256  # wgan: prior draws per row when abducting u by rejection
    max_seconds: float | None = None  # network / wgan: wall-clock budget of the label phase (None: no limit)
    device: str = "cpu"  # labels are tiny: the CPU is as fast as a GPU here

    def __post_init__(self) -> None:
        if self.kind not in CONTROLLERS:
            raise ValueError(f"unknown controller '{self.kind}'; use one of {', '.join(CONTROLLERS)}")
        if self.steps < 1 or self.hidden < 1 or self.noise_dim < 1 or self.n_critic < 1:
            raise ValueError("steps, hidden, noise_dim and n_critic must be positive")

    def causal_gen(self) -> CausalGenConfig:
        """The Causal Gen settings of the ``network`` controller."""
        return CausalGenConfig(hidden=self.hidden, layers=self.layers,
                               train=TrainConfig(steps=self.steps, lr=self.lr, batch_size=self.batch_size,
                                                 max_seconds=self.max_seconds, device=self.device))


def make_controller(graph: CausalGraph, config: ControllerConfig | None = None, **settings: Any) -> TabularModel:
    """An unfitted controller for the label nodes of ``graph`` (image nodes are left out)."""
    config = config or ControllerConfig(**settings)
    labels = [n for n in graph.nodes if graph.kind(n) != "image"]
    g = CausalGraph(labels, [e for e in graph.edges if e[0] in labels and e[1] in labels],
                    {n: k for n, k in graph.kinds.items() if n in labels})
    if config.kind == "network":
        return CausalGen(g, config.causal_gen())
    return (CPTLabels if config.kind == "mle" else WGANLabels)(g, config)


def label_bn(model: TabularModel, seed: int = 0, draws: int = 20_000) -> DiscreteBN:
    """The label model's own CPTs as a ``DiscreteBN``: exact for ``mle`` and Causal Gen
    (softmax of each node's logits per parent configuration), Monte Carlo with ``draws``
    noise draws per configuration otherwise (``exact`` is then False)."""
    model._require_fitted()
    if isinstance(model, CPTLabels):
        return model.bn  # type: ignore[return-value]
    states = {c.name: tuple(c.categories) for c in model.schema.columns}
    cont = [c.name for c in model.schema.columns if not c.discrete]
    if cont:
        raise ValueError(f"label '{cont[0]}' is continuous: its CPT cannot be tabulated")
    rng = np.random.default_rng(seed)
    cpts = {}
    exact = isinstance(model, CausalGen)
    for node in model.graph.nodes:
        pa = model.graph.parents(node)
        combos = list(itertools.product(*(range(len(states[p])) for p in pa)))
        configs = np.array(combos, dtype=np.int64).reshape(len(combos), len(pa))
        k = len(states[node])
        if exact:
            with torch.inference_mode():
                logits = model._logits(node, model._parents_tensor(node, {p: configs[:, i] for i, p in enumerate(pa)}, len(combos)))
            e = np.exp(logits - logits.max(1, keepdims=True))
            table = e / e.sum(1, keepdims=True)
        else:
            table = np.zeros((len(combos), k))
            for i in range(len(combos)):
                parents = {p: np.full(draws, configs[i, j], dtype=np.int64) for j, p in enumerate(pa)}
                x = model.predict(node, parents, model.noise(node, draws, rng))
                table[i] = np.bincount(x, minlength=k) / draws
        cpts[node] = table.reshape(tuple(len(states[p]) for p in pa) + (k,))
    source = f"{model.kind} labels" + ("" if exact else f" (Monte Carlo, {draws:,} draws per parent configuration)")
    return DiscreteBN(model.graph, states, cpts, exact=exact, source=source)


def _prepare(model: TabularModel, data: pd.DataFrame) -> tuple[pd.DataFrame, Schema]:
    table, schema = load_table(data, model.graph, extra="drop")
    cont = [c.name for c in schema.columns if not c.discrete]
    if cont:
        raise ValueError(
            f"a causal controller models discrete labels; '{cont[0]}' is continuous "
            "(declare it binary or categorical, discretize it, or use the 'network' controller's Causal Gen directly)"
        )
    model.schema = schema
    model.graph = model.graph.with_kinds({c.name: c.kind for c in schema.columns})
    model.layout = Layout(schema)
    return table, schema


def _report(t0: float, steps: int, n: int, loss: float, stopped: str, device: str, history=()) -> FitReport:
    return FitReport(epochs=1, steps=steps, seconds=time.perf_counter() - t0, best_epoch=1, best_val_loss=loss,
                     stopped=stopped, device=device, n_train=n, n_val=0, history=tuple(history))


# ---------------------------------------------------------------------- exact CPTs
class _CPTNet(nn.Module):
    """The CPTs as buffers (``cpt_j`` for node j, shape ``[parent cards..., card]``), so
    that they are saved with the weights."""

    def __init__(self, graph: CausalGraph, schema: Schema) -> None:
        super().__init__()
        for j, n in enumerate(graph.nodes):
            shape = tuple(len(schema[p].categories) for p in graph.parents(n)) + (len(schema[n].categories),)
            self.register_buffer(f"cpt_{j}", torch.full(shape, 1.0 / shape[-1], dtype=torch.float64))


class CPTLabels(TabularModel):
    """The ``mle`` controller: exact CPTs by counting, sampled by Gumbel-max."""

    kind = "cpt-labels"
    Config = ControllerConfig

    def _build(self, schema: Schema) -> nn.Module:
        return _CPTNet(self.graph, schema)

    def fit(
        self,
        data: pd.DataFrame,
        seed: int = 0,
        *,
        callbacks: Iterable[Callback] = (),
        cancel: threading.Event | Callable[[], bool] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> FitReport:
        """Count: maximum likelihood (or the configured prior) per node."""
        t0 = time.perf_counter()
        table, schema = _prepare(self, data)
        self.net = self._build(schema)
        states = {c.name: tuple(c.categories) for c in schema.columns}
        bn = DiscreteBN.fit(table, self.graph, prior=self.config.prior, strength=self.config.strength, states=states)
        for j, n in enumerate(self.graph.nodes):
            getattr(self.net, f"cpt_{j}").copy_(torch.from_numpy(bn.cpts[n]))
        self._refresh()
        codes = schema.encode(table)
        ll = sum(float(self._logp[n][tuple(codes[p] for p in self.graph.parents(n)) + (codes[n],)].sum()) for n in self.graph.nodes)
        self.report = _report(t0, 0, len(table), -ll / len(table), "schedule_done", "cpu")
        for cb in callbacks:
            cb(Progress(1, 1, 0, self.report.best_val_loss, self.report.best_val_loss, self.report.best_val_loss, 0.0, self.report.seconds))
        if checkpoint_dir is not None:
            self.save(checkpoint_dir)
        return self.report

    def _refresh(self) -> None:
        states = {c.name: tuple(c.categories) for c in self.schema.columns}
        cpts = {n: getattr(self.net, f"cpt_{j}").double().cpu().numpy() for j, n in enumerate(self.graph.nodes)}
        self.bn = DiscreteBN(self.graph, states, cpts, source="mle labels")
        with np.errstate(divide="ignore"):
            self._logp = {n: np.maximum(np.log(t), _LOG_FLOOR) for n, t in self.bn.cpts.items()}

    def _table_logits(self, node: str, parents: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        t = self._logp[node]
        idx = tuple(np.asarray(parents[p], dtype=np.int64) for p in self.graph.parents(node))
        return t[idx] if idx else np.broadcast_to(t, (n, t.shape[-1]))

    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        return gumbel(rng, (n, len(self.schema[node].categories)))

    def predict(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
        self._require_fitted()
        return np.argmax(self._table_logits(node, parents, len(noise)) + noise, axis=1).astype(np.int64)

    def abduct(self, node: str, value: np.ndarray, parents: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        logits = np.array(self._table_logits(node, parents, len(value)))
        return gumbel_posterior(logits, np.asarray(value, dtype=np.int64), rng)


# ---------------------------------------------------------------------- WGAN-GP (the paper's)
class _WGANNet(nn.Module):
    """Generator (per-node networks over [parents' soft labels | own noise]) and critic."""

    def __init__(self, graph: CausalGraph, layout: Layout, config: ControllerConfig) -> None:
        super().__init__()
        n, w, k = len(graph.nodes), layout.width, config.noise_dim
        mask = torch.zeros(n, w + n * k)
        mask[:, :w] = layout.mask(graph)
        for j in range(n):
            mask[j, w + j * k : w + (j + 1) * k] = 1.0
        k_max = max(len(c.categories) for c in layout.schema.columns)
        self.gen = ParentNets(mask, k_max, config.hidden, config.layers, activation="relu")
        h = config.critic_hidden
        self.critic = nn.Sequential(nn.Linear(w, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1))
        self.width, self.noise_dim = w, k


class WGANLabels(TabularModel):
    """The ``wgan`` controller: the paper's adversarially trained label generator."""

    kind = "wgan-labels"
    Config = ControllerConfig

    def _build(self, schema: Schema) -> nn.Module:
        return _WGANNet(self.graph, Layout(schema), self.config)

    def _soft(self, noise: Tensor) -> Tensor:
        """Generated soft labels, encoded like ``Layout`` (binary: P(1); categorical: softmax)."""
        net, layout = self.net, self.layout
        assert layout is not None and net is not None
        x = noise.new_zeros(noise.shape[0], net.width)
        k = net.noise_dim
        for j, node in enumerate(self.graph.nodes):
            pcols = [i for p in self.graph.parents(node) for i in range(layout.slices[p].start, layout.slices[p].stop)]
            inp = torch.cat([x[:, pcols], noise[:, j * k : (j + 1) * k]], dim=1)
            prob = net.gen.node(j, inp)[:, : len(self.schema[node].categories)].softmax(-1)
            enc = prob[:, 1:2] if self.schema[node].kind == "binary" else prob
            sl = layout.slices[node]
            x = torch.cat([x[:, : sl.start], enc, x[:, sl.stop :]], dim=1)
        return x

    def fit(
        self,
        data: pd.DataFrame,
        seed: int = 0,
        *,
        callbacks: Iterable[Callback] = (),
        cancel: threading.Event | Callable[[], bool] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> FitReport:
        """WGAN-GP through the one training loop (``WGANSteps``): ``n_critic`` critic steps
        per generator step, ``steps`` generator steps, Adam (0.5, 0.9) with a cosine-annealed
        learning rate; every row trains (the critic's Wasserstein estimate is the loss
        reported, in place of a validation loss)."""
        table, schema = _prepare(self, data)
        torch.manual_seed(seed)
        c = self.config
        dev = pick_device(c.device)
        self.net = self._build(schema).to(dev)
        real = torch.from_numpy(self.layout.encode(schema.encode(table))).to(dev)  # type: ignore[union-attr]
        config = TrainConfig(steps=c.steps, max_epochs=c.steps, batch_size=c.batch_size, lr=c.wgan_lr,
                             val_fraction=0.0, max_seconds=c.max_seconds, device=c.device)
        self.report = train(WGANSteps(self), real, config, seed=seed, callbacks=callbacks, cancel=cancel)
        if checkpoint_dir is not None and distributed.is_main():
            self.save(checkpoint_dir)
        return self.report

    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        return rng.uniform(-1.0, 1.0, (n, self.net.noise_dim))  # type: ignore[union-attr]

    @torch.inference_mode()
    def _node_logits(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
        j = self.graph.index(node)
        p = self._parents_tensor(node, parents, len(noise))
        inp = torch.cat([p, torch.from_numpy(np.asarray(noise, dtype=np.float32)).to(p.device)], dim=1)
        out = self.net.gen.node(j, inp)  # type: ignore[union-attr]
        return out[:, : len(self.schema[node].categories)].double().cpu().numpy()

    def predict(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
        self._require_fitted()
        return np.argmax(self._node_logits(node, parents, noise), axis=1).astype(np.int64)

    def abduct(self, node: str, value: np.ndarray, parents: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """A draw of ``u`` from its posterior given the parents and the observed label, by
        rejection from the prior (``abduction_tries`` draws per row: the first that
        reproduces the label). A row no draw explains keeps the draw closest to it (highest
        margin of the observed label's logit)."""
        self._require_fitted()
        value = np.asarray(value, dtype=np.int64)
        n, k, tries = len(value), self.net.noise_dim, self.config.abduction_tries  # type: ignore[union-attr]
        out = np.zeros((n, k))
        chunk = max(1, 65536 // tries)
        for start in range(0, n, chunk):
            rows = np.arange(start, min(n, start + chunk))
            m = len(rows)
            u = rng.uniform(-1.0, 1.0, (m, tries, k))
            rep = {p: np.repeat(np.asarray(parents[p])[rows], tries) for p in self.graph.parents(node)}
            logits = self._node_logits(node, rep, u.reshape(m * tries, k)).reshape(m, tries, -1)
            hit = logits.argmax(-1) == value[rows, None]
            margin = np.take_along_axis(logits, value[rows, None, None].repeat(tries, 1), -1)[..., 0] - logits.max(-1)
            pick = np.where(hit.any(1), hit.argmax(1), margin.argmax(1))
            out[rows] = u[np.arange(m), pick]
        return out


class WGANSteps(Steps):
    """One generator step of the ``wgan`` controller: ``n_critic`` WGAN-GP critic updates
    (Gulrajani et al. 2017: the critic's Wasserstein estimate minus ``gp_weight`` times the
    squared deviation of its gradient norm from 1 on interpolates), each on its own batch
    of real label rows, then one generator update. The last weights are kept."""

    def __init__(self, model: WGANLabels) -> None:
        super().__init__(model.net)  # type: ignore[arg-type]
        self.model = model
        self.w_est = math.nan

    def optimizers(self, config: TrainConfig) -> list[torch.optim.Optimizer]:
        net = self.module
        self.opt_g = torch.optim.Adam(net.gen.parameters(), lr=config.lr, betas=(0.5, 0.9))  # type: ignore[union-attr]
        self.opt_c = torch.optim.Adam(net.critic.parameters(), lr=config.lr, betas=(0.5, 0.9))  # type: ignore[union-attr]
        return [self.opt_g, self.opt_c]

    def _fake(self, ctx: StepContext) -> Tensor:
        n_noise = len(self.model.graph.nodes) * self.model.config.noise_dim
        u = ctx.shard(torch.rand(ctx.plan.batch_size, n_noise, generator=ctx.generator).to(ctx.device)) * 2 - 1
        return self.model._soft(u)

    def step(self, batch: Tensor, ctx: StepContext) -> float:
        c, critic = self.model.config, self.module.critic  # type: ignore[union-attr]
        for i in range(c.n_critic):
            xr = batch if i == 0 else ctx.draw()
            with torch.no_grad():
                xf = self._fake(ctx)
            eps = ctx.shard(torch.rand(ctx.plan.batch_size, 1, generator=ctx.generator).to(ctx.device))
            xi = (eps * xr + (1 - eps) * xf).requires_grad_(True)
            grad = torch.autograd.grad(critic(xi).sum(), xi, create_graph=True)[0]
            w = critic(xr).mean() - critic(xf).mean()
            loss_c = -w + c.gp_weight * ((grad.norm(dim=1) - 1) ** 2).mean()
            self.opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            ctx.step(self.opt_c)
            self.w_est = float(w.detach())
        loss_g = -critic(self._fake(ctx)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        ctx.step(self.opt_g)
        return self.w_est

    def validate(self, rows: Tensor, ctx: StepContext) -> float:
        return self.w_est
