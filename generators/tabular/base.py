"""What every tabular causal generator shares: its mechanisms as the ``Mechanisms`` protocol of
``causal.queries`` (so sampling, conditioning and counterfactuals are the shared query code),
fitting through the one training loop, Gumbel-max discrete nodes, and its checkpoint."""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import Schema, load_table
from causal.queries import QueryMixin
from generators import distributed
from generators.checkpoint import CheckpointError
from generators.encoding import Layout
from generators.model import CausalModel, NotFittedError
from generators.support import PREFIX as SUPPORT_PREFIX
from generators.support import Support
from generators.training import Callback, FitReport, Progress, TrainConfig, cpu_threads, pick_device, train

__all__ = ["TabularModel", "quantile_draws", "knots_log_density", "gumbel", "gumbel_posterior", "describe_mechanisms"]


# ---------------------------------------------------------------------- discrete nodes
def quantile_draws(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from distributions kept as quantiles on a uniform grid of
    probabilities (``q[..., k]`` is the ``k / (K - 1)`` quantile), linear between knots.
    ``q`` is ``[K]`` with ``u`` uniform ``[n]``, or ``[d, K]`` with ``u`` ``[n, d]``."""
    pos = u * (q.shape[-1] - 1)
    i = np.minimum(pos.astype(np.int64), q.shape[-1] - 2)
    if q.ndim == 1:
        lo, hi = q[i], q[i + 1]
    else:
        rows = np.arange(q.shape[0])[None, :]
        lo, hi = q[rows, i], q[rows, i + 1]
    return lo + (pos - i) * (hi - lo)


TAIL_WEIGHT = 0.02  # knots_log_density: the share of mass in its heavy-tailed component


def knots_log_density(q: np.ndarray, x: np.ndarray, rows: int, tail: float = TAIL_WEIGHT) -> np.ndarray:
    """Log density at ``x`` of a distribution kept as quantile knots ``q`` (``[K]``, on a
    uniform grid of probabilities, as ``quantile_draws`` reads them), made a proper density by
    a Gaussian kernel estimate over the knots (each holding ``1/K`` of the mass) with
    Silverman's bandwidth for the ``rows`` they summarize, ``0.9·min(sd, IQR/1.34)·rows^-1/5``
    (at least 1e-4), mixed with weight ``tail`` with a Student t (3 degrees of freedom,
    centred on the median, scaled by the knots' sd): positive everywhere, and a residual far
    beyond the fitted ones costs a few nats more than in the bulk instead of the square of its
    distance over the narrow bandwidth (heavy-tailed data, or a mechanism extrapolating).

    >>> q = np.quantile(np.random.default_rng(0).standard_normal(5000), np.linspace(0, 1, 512))
    >>> np.round(knots_log_density(q, np.array([0.0, 10.0]), 5000), 2).tolist()  # kernel alone at 10: about -800
    [-0.98, -11.97]
    """
    q = np.asarray(q, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    sd = float(q.std())
    iqr = float(np.interp(0.75, np.linspace(0, 1, len(q)), q) - np.interp(0.25, np.linspace(0, 1, len(q)), q))
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    h = max(0.9 * spread * max(int(rows), 1) ** -0.2, 1e-4)
    out = np.empty(len(x))
    for s in range(0, len(x), 4096):  # [chunk, K] at a time
        d = (x[s : s + 4096, None] - q[None, :]) / h
        m = -0.5 * d * d
        top = m.max(axis=1)
        out[s : s + 4096] = top + np.log(np.exp(m - top[:, None]).sum(axis=1))
    kde = out - np.log(len(q) * h) - 0.5 * np.log(2 * np.pi)
    if tail <= 0:
        return kde
    from scipy import stats

    wide = stats.t.logpdf(x, 3, loc=float(np.median(q)), scale=max(sd, 1e-4))
    return np.logaddexp(np.log1p(-tail) + kde, np.log(tail) + wide)


def gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return -np.log(-np.log(rng.random(shape).clip(1e-300, 1.0)))


def gumbel_posterior(logits: np.ndarray, observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gumbel noise ``g`` drawn from its posterior given ``argmax(logits + g) == observed``.

    The Gumbel-max SCM of Oberst & Sontag (2019): the maximum ``logits_k + g_k`` is
    Gumbel(logsumexp(logits)), taken by the observed category; every other category's
    perturbed logit is a Gumbel truncated below that maximum. Counterfactuals then reuse
    ``g`` with the new logits, which keeps the observed category whenever it stays likely.
    """
    n, k = logits.shape
    lse = np.logaddexp.reduce(logits, axis=1)
    top = lse + gumbel(rng, (n,))
    z = logits + gumbel(rng, (n, k))
    trunc = -np.logaddexp(-top[:, None], -z)  # Gumbel(logits) truncated to <= top
    rows = np.arange(n)
    trunc[rows, observed] = top
    return trunc - logits


def describe_mechanisms(model: Any) -> dict[str, str]:
    """Per node of a fitted model, the mechanism its fit chose, from the node sets it exposes
    (``linear_nodes``, ``quadratic_nodes``, ``scaled_nodes``, ``table_nodes``; any it lacks
    counts as empty): ``"root"`` (a continuous node without parents: its noise alone),
    ``"network"``, ``"linear"``, ``"polynomial of degree 2"`` or, for a discrete node,
    ``"counted table"``; for a continuous node also whether its noise is ``additive`` or
    scales with the parents (``location-scale``)."""
    def nodes(name: str) -> set[str]:
        return set(getattr(model, name, ()))

    linear, quadratic, scaled = nodes("linear_nodes"), nodes("quadratic_nodes"), nodes("scaled_nodes")
    tables = nodes("table_nodes")
    out = {}
    for n in model.graph.nodes:
        if n in tables:
            out[n] = "counted table (categorical)"
            continue
        if not model.graph.parents(n):
            out[n] = "root" if not model.schema[n].discrete else "network (categorical)"
            continue
        f = "linear" if n in linear else "polynomial of degree 2" if n in quadratic else "network"
        if model.schema[n].discrete:
            out[n] = f"{f} (categorical)"
        else:
            out[n] = f"{f}, {'location-scale' if n in scaled else 'additive'} noise"
    return out


# ---------------------------------------------------------------------- base model
class TabularModel(QueryMixin, CausalModel):
    """Base of every tabular generator: subclasses define the network (``_build``, whose
    module has ``loss(batch)``, or whose ``Steps`` ``_steps`` returns) and the mechanisms
    (``_continuous_noise``, ``_predict_z``, ``_abduct_z``, ``_logits``); fitting, Gumbel-max
    discrete nodes and persistence live here."""

    # CPU threads a fit uses unless ``train.threads`` says otherwise: one, since per-node
    # networks are too small to split across threads (``generators.training.cpu_threads``)
    fit_threads: int | None = 1

    def __init__(self, graph: Any, config: Any = None) -> None:
        super().__init__(graph, config)
        self._schema: Schema | None = None
        self.layout: Layout | None = None
        self.net: nn.Module | None = None
        self.support: Support | None = None

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: pd.DataFrame,
        seed: int = 0,
        *,
        callbacks: Iterable[Callback] = (),
        cancel: threading.Event | Callable[[], bool] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        schema: Schema | None = None,
    ) -> FitReport:
        """Fit every node's mechanism to ``data`` (one column per node; others ignored).

        The table is validated first (missing columns, NaN, text in numeric columns,
        constant columns, too few rows each raise ``DataError``). With ``checkpoint_dir``
        the best model so far is saved there during training, atomically, and at the end.
        ``schema`` imposes the columns' kinds, categories and scales instead of the data's
        own (a refit that must share another model's coordinates, e.g. CCGM's de-biasing).
        On a CPU it computes on ``train.threads`` threads, by default ``fit_threads``.
        """
        threads = self._train_config().threads
        if threads is None and pick_device(self._train_config().device).type == "cpu":
            threads = self.fit_threads
        with cpu_threads(threads):
            return self._fit(data, seed, callbacks, cancel, checkpoint_dir, schema)

    def _fit(self, data: pd.DataFrame, seed: int, callbacks: Iterable[Callback],
             cancel: threading.Event | Callable[[], bool] | None, checkpoint_dir: str | os.PathLike | None,
             schema: Schema | None) -> FitReport:
        table, found = load_table(data, self.graph, extra="drop")
        schema = schema if schema is not None else found
        self.schema = schema
        self.graph = self.graph.with_kinds({c.name: c.kind for c in schema.columns})
        self.layout = Layout(schema)
        torch.manual_seed(seed)
        device = pick_device(self._train_config().device)
        self.net = self._build(schema).to(device)
        x = torch.from_numpy(self.layout.encode(schema.encode(table))).to(device)

        self.support = Support.fit(self.graph, self._parent_columns(), x, seed=seed)

        def save_checkpoint(_: Progress) -> None:
            self._finalize(x)
            self.save(checkpoint_dir)  # type: ignore[arg-type]

        t0 = time.perf_counter()
        if self._count_instead(x, seed):  # e.g. a discrete network whose tables the data fill: nothing to train
            self.net.eval()
            self.report = FitReport(epochs=0, steps=0, seconds=time.perf_counter() - t0, best_epoch=0,
                                    best_val_loss=math.nan, stopped="counted", device=str(device), n_train=len(x), n_val=0)
        else:
            self.report = train(
                self.net,
                x,
                self._train_config(),
                seed=seed,
                callbacks=callbacks,
                cancel=cancel,
                checkpoint=save_checkpoint if checkpoint_dir is not None else None,
            )
        self._finalize(x)
        if checkpoint_dir is not None and distributed.is_main():
            self.save(checkpoint_dir)
        return self.report

    def _parent_columns(self) -> dict[str, list[int]]:
        """Encoded input columns of each node's parents."""
        assert self.layout is not None
        return {
            n: [i for p in self.graph.parents(n) for i in range(self.layout.slices[p].start, self.layout.slices[p].stop)]
            for n in self.graph.nodes
        }

    def outside_support(self, data: pd.DataFrame) -> pd.DataFrame:
        """Per row and node, whether the node's parent values lie outside the training
        data's support, so that its mechanism had to extrapolate (e.g. apply it to the
        output of ``counterfactual`` or of ``sample(do=...)``). Roots are never outside.

        >>> flags = model.outside_support(model.counterfactual(rows, do={"x2": 30.0}))  # doctest: +SKIP
        >>> flags.any(axis=1).mean()  # share of counterfactuals that extrapolate  # doctest: +SKIP
        """
        self._require_fitted()
        codes = self.schema.encode(data)
        out = {}
        for node in self.graph.nodes:
            if self.support is None or not self.graph.parents(node):
                out[node] = np.zeros(len(data), dtype=bool)
                continue
            p = self._parents_tensor(node, {q: codes[q] for q in self.graph.parents(node)}, len(data))
            out[node] = self.support.outside(node, p)
        return pd.DataFrame(out, index=data.index)

    def _train_config(self) -> TrainConfig:
        return getattr(self.config, "train", TrainConfig())

    def _flagged_nodes(self, buffer: str) -> tuple[str, ...]:
        """The nodes whose entry of the net's per-node boolean ``buffer`` (``use_scale``,
        ``use_table``) is set; none where the net has no such buffer."""
        self._require_fitted()
        use = getattr(self.net, buffer, None)
        return () if use is None else tuple(n for j, n in enumerate(self.graph.nodes) if bool(use[j]))

    def _build(self, schema: Schema) -> nn.Module:
        raise NotImplementedError

    def _count_instead(self, x: Tensor, seed: int = 0) -> bool:
        """Before training: fit by counting instead, where that is all the data allow (a
        subclass decides); whether it did."""
        return False

    def _finalize(self, x: Tensor) -> None:
        """After training: estimate what needs the whole data (e.g. noise distributions)."""

    def _refresh(self) -> None:
        """After the weights change (fit, load): rebuild any cached inference state."""

    @property
    def schema(self) -> Schema:
        """The fitted data's columns; asking before ``fit`` is a clear error."""
        if self._schema is None:
            raise NotFittedError(f"this {self.kind} model is not fitted yet: call fit(data) or load a checkpoint")
        return self._schema

    @schema.setter
    def schema(self, value: Schema) -> None:
        self._schema = value

    @property
    def fitted(self) -> bool:
        return self.net is not None and self._schema is not None

    # ------------------------------------------------------------------ Mechanisms protocol
    def _parents_tensor(self, node: str, parents: Mapping[str, np.ndarray], n: int) -> Tensor:
        """The parents' encoded columns ``[n, n_parent_cols]`` on the model's device."""
        assert self.layout is not None
        cols = [self.layout.encode_node(p, np.asarray(parents[p])) for p in self.graph.parents(node)]
        arr = np.concatenate(cols, axis=1) if cols else np.zeros((n, 0), dtype=np.float32)
        return torch.from_numpy(arr).to(self._device)

    @property
    def _device(self) -> torch.device:
        assert self.net is not None
        return next(self.net.buffers()).device

    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        col = self.schema[node]  # type: ignore[index]
        if col.discrete:
            return gumbel(rng, (n, len(col.categories)))
        return self._continuous_noise(node, n, rng)

    @torch.inference_mode()
    def predict(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
        self._require_fitted()
        col = self.schema[node]  # type: ignore[index]
        p = self._parents_tensor(node, parents, len(noise))
        if col.discrete:
            return np.argmax(self._logits(node, p) + noise, axis=1).astype(np.int64)
        return col.mean + col.std * self._predict_z(node, p, noise)

    @torch.inference_mode()
    def abduct(self, node: str, value: np.ndarray, parents: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        col = self.schema[node]  # type: ignore[index]
        p = self._parents_tensor(node, parents, len(value))
        if col.discrete:
            return gumbel_posterior(self._logits(node, p), np.asarray(value, dtype=np.int64), rng)
        z = (np.asarray(value, dtype=np.float64) - col.mean) / col.std
        return self._abduct_z(node, p, z)

    @torch.inference_mode()
    def log_density(self, data: pd.DataFrame, nodes: Iterable[str] | None = None) -> pd.DataFrame:
        """Per row and node (``nodes``, default all), ``log p(x_v | parents)`` in nats under
        the fitted mechanisms, in the data's own units: a discrete node's log probability of
        its category; a continuous node's density of its noise distribution at the abducted
        noise, with the change of variables of its scale (``_log_density_z``). The sum over a
        row's nodes is the row's log-likelihood under the model; held-out, it scores the
        graph (``causal.hypotheses``). ``data`` holds a column for every node.

        >>> model.log_density(test_rows).sum(axis=1).mean()  # held-out log-likelihood per row  # doctest: +SKIP
        """
        self._require_fitted()
        names = list(self.graph.nodes if nodes is None else nodes)
        codes = self.schema.encode(data)
        out = {}
        for node in names:
            col = self.schema[node]  # type: ignore[index]
            p = self._parents_tensor(node, {q: codes[q] for q in self.graph.parents(node)}, len(data))
            if col.discrete:
                logits = self._logits(node, p)
                logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
                out[node] = logp[np.arange(len(data)), codes[node]]
            else:
                z = (codes[node] - col.mean) / col.std
                out[node] = self._log_density_z(node, p, z) - math.log(col.std)
        return pd.DataFrame(out, index=data.index)

    def _fit_rows(self) -> int:
        """How many rows the fitted noise distributions summarize (their kernel's bandwidth)."""
        report = getattr(self, "report", None)
        return int(report.n_train + report.n_val) if report is not None else 512

    def _log_density_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        """A continuous node's log density at standardized values ``z`` given its parents'
        columns ``p``; a subclass whose mechanism has one defines it."""
        raise NotImplementedError(f"{self.kind} models do not give a density of their continuous nodes")

    # Subclasses: the continuous mechanism on standardized values z, and discrete logits.
    # ``p`` is the parents' encoded columns, ``[n, n_parent_cols]``, on the model's device.
    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _predict_z(self, node: str, p: Tensor, noise: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _abduct_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _logits(self, node: str, p: Tensor) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ persistence
    def _state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}  # type: ignore[union-attr]
        if self.support is not None:
            state.update(self.support.tensors())
        return state, {}

    def _load_state(self, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> None:
        self.schema = Schema.from_dict(meta["schema"])
        self.layout = Layout(self.schema)
        self.net = self._build(self.schema)
        self.support = Support.from_tensors(state)
        weights = {k: v for k, v in state.items() if not k.startswith(SUPPORT_PREFIX)}
        try:
            self.net.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"the weights do not fit a {self.kind} model of this graph: {str(e).splitlines()[0]}") from None
        self.net.eval()
        self._refresh()
