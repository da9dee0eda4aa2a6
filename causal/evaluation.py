"""Scoring a model against the SCM its data came from: the one protocol behind the benchmark
tables (``bench/``) and the workbench's accuracy after a training run. Interventional MMD²
beside its oracle floor, counterfactual RMSE (all nodes, the intervened node's descendants,
rows that stay inside the training support), and the error of average treatment effects,
on coordinates standardized by the training data (docs/benchmarks.md states each metric).

>>> from causal import datasets
>>> ds = datasets.load("triangle-lin", n=1200, seed=0)
>>> score = evaluate(ds.scm, ds.scm, ds.intervene_on, ds.data.iloc[:1000], ds.data.iloc[1000:], Protocol.quick())
>>> round(score.cf_rmse, 6), score.mmd_ratio < 5
(0.0, True)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from causal.metrics import Standardizer, counterfactual_rmse, mmd2

__all__ = ["Protocol", "InterventionScore", "Evaluation", "interventions", "evaluate", "evaluate_images"]


@dataclass(frozen=True)
class Protocol:
    """How much to sample and where to intervene. The default is the benchmark's (Javaloy et
    al. 2023): every listed node at its 25th, 50th and 75th training percentile (both values
    of a binary one), 2,500 model against 2,500 true samples, ATEs from 10,000 model and
    100,000 true samples per arm. ``quick()`` is what the workbench measures after a fit."""

    n_mmd: int = 2_500
    n_ate: int = 10_000
    n_ate_truth: int = 100_000
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    max_nodes: int | None = None  # intervene on the first this many listed nodes (None: all)
    last_category_only: bool = False  # a discrete node: its last category only, not every one
    ate: bool = True

    @classmethod
    def quick(cls) -> "Protocol":
        """Two nodes at their median (a discrete one at its last category), 500 samples, no
        ATE: well under a second on the built-in datasets."""
        return cls(n_mmd=500, quantiles=(0.5,), max_nodes=2, last_category_only=True, ate=False)


@dataclass(frozen=True)
class InterventionScore:
    """The scores of one intervention ``do(node = value)``."""

    node: str
    value: Any
    mmd: float
    floor: float  # the same statistic between two independent true samples (the oracle)
    cf_rmse: float
    cf_rmse_desc: float  # the node's descendants only
    cf_rmse_in: float  # rows whose counterfactual stays inside the training support
    off_support: float  # share of counterfactual rows that extrapolate

    def label(self) -> str:
        return f"do({self.node} = {self.value:.4g})" if isinstance(self.value, float) else f"do({self.node} = {self.value})"


@dataclass(frozen=True)
class Evaluation:
    """Every intervention's scores and the ATE errors; the means as properties."""

    per_intervention: tuple[InterventionScore, ...]
    ate_errors: tuple[float, ...] = field(default=())

    def _mean(self, name: str, nan: bool = False) -> float:
        values = [getattr(s, name) for s in self.per_intervention]
        return float(np.nanmean(values) if nan else np.mean(values))

    @property
    def mmd(self) -> float:
        return self._mean("mmd")

    @property
    def mmd_floor(self) -> float:
        return self._mean("floor")

    @property
    def mmd_ratio(self) -> float:
        return self.mmd / self.mmd_floor

    @property
    def cf_rmse(self) -> float:
        return self._mean("cf_rmse")

    @property
    def cf_rmse_desc(self) -> float:
        return self._mean("cf_rmse_desc")

    @property
    def cf_rmse_in(self) -> float:
        return self._mean("cf_rmse_in", nan=True)

    @property
    def off_support(self) -> float:
        return self._mean("off_support")

    @property
    def ate_error(self) -> float:
        return float(np.mean(self.ate_errors)) if self.ate_errors else 0.0


def interventions(truth: Any, intervene_on: Sequence[str], train: pd.DataFrame,
                  protocol: Protocol = Protocol()) -> list[tuple[str, list[Any]]]:
    """``(node, values)`` per intervened node: the protocol's training percentiles of a
    continuous node, the categories of a discrete one."""
    out = []
    for node in list(intervene_on)[: protocol.max_nodes]:
        col = truth.schema[node]
        if col.discrete:
            out.append((node, [col.categories[-1]] if protocol.last_category_only else list(col.categories)))
        else:
            out.append((node, [float(train[node].quantile(q)) for q in protocol.quantiles]))
    return out


def evaluate(model: Any, truth: Any, intervene_on: Sequence[str], train: pd.DataFrame, test: pd.DataFrame,
             protocol: Protocol = Protocol(), seed: int = 0) -> Evaluation:
    """Score ``model`` (anything with the query API) against ``truth`` (an SCM over the same
    nodes): each intervention's samples against the truth's, and the counterfactuals of the
    ``test`` rows against the truth's exact ones (same exogenous noise). ``seed`` fixes every
    draw: intervention k of node i uses ``seed + 100 i + 10 k``, the ATE arms ``seed + 7``."""
    nodes = list(truth.graph.nodes)
    scale = Standardizer.fit(train, nodes)
    scores: list[InterventionScore] = []
    ate_errors: list[float] = []
    outside = getattr(model, "outside_support", None)
    for i, (node, values) in enumerate(interventions(truth, intervene_on, train, protocol)):
        desc = list(truth.graph.descendants(node))
        for k, v in enumerate(values):
            s = seed + 100 * i + 10 * k
            model_s = model.sample(protocol.n_mmd, do={node: v}, seed=s)
            true_a = truth.sample(protocol.n_mmd, do={node: v}, seed=s + 1)
            true_b = truth.sample(protocol.n_mmd, do={node: v}, seed=s + 2)
            cf = model.counterfactual(test, do={node: v}, seed=s)
            true_cf = truth.counterfactual(test, do={node: v}, seed=s)
            off = outside(cf).any(axis=1).to_numpy() if outside is not None else np.zeros(len(cf), dtype=bool)
            scores.append(InterventionScore(
                node=node, value=v,
                mmd=mmd2(scale(model_s, nodes), scale(true_a, nodes)).value,
                floor=mmd2(scale(true_b, nodes), scale(true_a, nodes)).value,
                cf_rmse=counterfactual_rmse(cf, true_cf, scale, nodes),
                cf_rmse_desc=counterfactual_rmse(cf, true_cf, scale, desc) if desc else 0.0,
                cf_rmse_in=counterfactual_rmse(cf[~off], true_cf[~off], scale, nodes) if (~off).any() else float("nan"),
                off_support=float(off.mean()),
            ))
        if not protocol.ate:
            continue
        # ATE error over every pair of values and every descendant outcome
        for a, b in itertools.combinations(values, 2):
            s = seed + 7
            ma, mb = model.sample(protocol.n_ate, do={node: a}, seed=s), model.sample(protocol.n_ate, do={node: b}, seed=s)
            ta, tb = truth.sample(protocol.n_ate_truth, do={node: a}, seed=s), truth.sample(protocol.n_ate_truth, do={node: b}, seed=s)
            for j in desc:
                sd = scale.std[scale.columns.index(j)]
                model_ate = mb[j].astype(float).mean() - ma[j].astype(float).mean()
                true_ate = tb[j].astype(float).mean() - ta[j].astype(float).mean()
                ate_errors.append(abs(model_ate - true_ate) / sd)
    return Evaluation(tuple(scores), tuple(ate_errors))


def evaluate_images(model: Any, truth: Any, intervene_on: Sequence[str], test: Any, seed: int = 0,
                    n_labels: int = 2_000) -> dict[str, Any]:
    """Score an image model against a built-in image SCM (``causal.images``): the
    counterfactual images of the ``test`` images (``ImageData``) under do(first listed node
    = its last category, or its median) against the exact re-rendered ones (mean absolute
    pixel difference in [0, 1]), beside the baseline of copying the factual image; and, when
    every label is discrete, the total variation distance of ``n_labels`` sampled label rows
    to the truth's."""
    from causal.images import pixel_error
    from causal.metrics import tvd

    node = intervene_on[0]
    col = model.schema[node]
    value = col.categories[-1] if col.discrete else float(test.labels[node].median())
    do = {node: value}
    cf = model.counterfactual(test, do=do, seed=seed)
    true_cf = truth.counterfactual(test, do=do, seed=seed)
    out: dict[str, Any] = {
        "counterfactual_pixel_error": pixel_error(cf, true_cf),
        "copy_factual_pixel_error": pixel_error(test, true_cf),
        "interventions": [f"do({node} = {value})"],
        "n_test": len(test),
    }
    labels = list(truth.label_nodes)
    if all(model.schema[c].discrete for c in labels):
        mechanisms = getattr(model, "labels", None)  # the label mechanisms alone: no images to decode
        gen = mechanisms.sample(n_labels, seed=11) if mechanisms is not None else model.sample(n_labels, seed=11).labels
        out["label_tvd"] = tvd(gen, truth.sample(n_labels, seed=12, size=test.size).labels, labels)
    return out
