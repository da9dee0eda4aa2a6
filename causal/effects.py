"""Seeing versus doing and average causal effects of any model with the query API: its
observational, conditional (given X = x) and interventional (do X = x) samples side by side,
and the effect of moving X, with the ground truth where it is known.

>>> from causal import datasets
>>> from generators import build_model
>>> ds = datasets.load("triangle-lin", n=300, seed=0)
>>> model = build_model("causal-gen", ds.graph, hidden=8, steps=30)
>>> _ = model.fit(ds.data)
>>> c = compare(model, "x2", 12.0, n=500, truth=ds.scm)
>>> list(c.means().columns)
['observational', 'given', 'do', 'do · truth', 'given − do']

Continuous outcomes (and 0/1 ones) are summarised by their means; categorical ones by the
probability of each category (``Comparison.probabilities``), and their average effects are
differences of probabilities. On a graph of discrete nodes the exact answer of a discrete
Bayesian network (``causal.exact.DiscreteBN``: the true SCM's CPTs, or CPTs counted from the
data) is the reference. Each outcome also carries the share of the model's ``do`` samples
that needed a mechanism outside the training data's support (``extrapolation``): an answer
there comes from the network's inductive bias, not from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.queries import EvidenceError

__all__ = ["Comparison", "Effect", "compare", "average_effects", "effect_of", "extrapolation", "exact_do",
           "LABELS", "TRUTH", "EXACT", "GAP", "EXTRAPOLATION_WARN"]

# How the three distributions are named everywhere (tables, legends, captions).
LABELS = ("observational", "given", "do")
TRUTH = "do · truth"
EXACT = "do · exact"  # the exact answer of a discrete Bayesian network (causal.exact)
GAP = "given − do"  # seeing minus doing: nonzero where a non-causal path links the node and X
EXTRAPOLATION_WARN = 0.25  # an outcome is flagged when this share of its do-samples extrapolates


@dataclass(frozen=True)
class Comparison:
    """Samples of one model under no query, ``given`` node = value and ``do`` node = value.

    ``given`` is ``None`` when the event had (near) zero probability under the model;
    ``given_error`` then says why. ``truth_do`` holds samples of the ground-truth SCM
    under the same intervention when it is known.
    """

    node: str
    value: Any
    observational: pd.DataFrame
    given: pd.DataFrame | None
    do: pd.DataFrame
    acceptance_rate: float | None = None
    given_draws: int | None = None  # model draws made to find the ``given`` samples
    given_window: tuple[float, float] | None = None  # the event kept, for a continuous node
    given_error: str | None = None
    truth_do: pd.DataFrame | None = None
    categories: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # categorical nodes' values (model's schema)
    outside_do: pd.DataFrame | None = None  # per do-sample and node: the answer extrapolates (``extrapolation``)
    exact_do: Mapping[str, Mapping[Any, float]] | None = None  # exact P(node = c | do), discrete graphs
    exact_source: str = ""  # where ``exact_do`` comes from (``DiscreteBN.source``)

    def samples(self) -> dict[str, pd.DataFrame]:
        """The available samples by label, in the order of ``LABELS``."""
        out = {"observational": self.observational, "given": self.given, "do": self.do}
        return {k: v for k, v in out.items() if v is not None}

    def numeric(self) -> list[str]:
        """The nodes summarised by their mean: continuous ones, and 0/1 ones (mean = P(= 1)).
        The others (categories, text) are summarised by ``probabilities``."""
        return [c for c in self.observational.columns if _is_numeric(self.observational[c], self.categories.get(c))]

    def categorical(self) -> list[str]:
        """The nodes summarised by the probability of each category."""
        numeric = set(self.numeric())
        return [c for c in self.observational.columns if c not in numeric]

    def means(self) -> pd.DataFrame:
        """Mean of every numeric node (``numeric``) under each query (rows: nodes), then
        ``given − do``, the gap between seeing and doing (for 0/1 nodes, P(= 1)).
        Categorical nodes are in ``probabilities``."""
        cols = {**self.samples()}
        if self.truth_do is not None:
            cols[TRUTH] = self.truth_do
        keep = self.numeric()
        table = pd.DataFrame({label: _numeric_means(df[keep]) for label, df in cols.items()}, index=keep)
        table = table.reindex(columns=[c for c in (*LABELS, TRUTH) if c in table.columns])
        if "given" not in table.columns:
            table.insert(1, "given", np.nan)
        table[GAP] = table["given"] - table["do"]
        table.index.name = "node"
        return table


    def probabilities(self) -> pd.DataFrame:
        """P(node = category) of every categorical node (``categorical``) under each query:
        rows ``(node, category)``, columns ``observational``, ``given``, ``do``, then
        ``do · truth`` (from the true SCM's samples) or ``do · exact`` (exact inference)
        when known, and ``given − do``. Each node's probabilities sum to 1 per column."""
        nodes = self.categorical()
        cols: dict[str, pd.DataFrame | None] = {"observational": self.observational, "given": self.given, "do": self.do}
        if self.truth_do is not None:
            cols[TRUTH] = self.truth_do
        index = pd.MultiIndex.from_tuples([(n, c) for n in nodes for c in self._values(n)], names=["node", "category"])
        table = pd.DataFrame(index=index)
        for label, df in cols.items():
            table[label] = np.nan if df is None else [_share(df[n], c) for n, c in index]
        if self.exact_do is not None:
            table[EXACT] = [float(self.exact_do.get(n, {}).get(c, np.nan)) for n, c in index]
        table[GAP] = table["given"] - table["do"]
        return table

    def _values(self, node: str) -> list[Any]:
        """A categorical node's values: the model's categories, then any other value seen."""
        known = list(self.categories.get(node, ()))
        seen = [v for df in (self.observational, self.given, self.do, self.truth_do) if df is not None
                for v in pd.unique(df[node].dropna())]
        extra = sorted({v for v in seen if v not in known}, key=lambda v: (isinstance(v, str), str(v)))
        return known + extra

    def extrapolated(self) -> dict[str, float]:
        """Per node, the share of the ``do`` samples whose answer extrapolates beyond the
        training data (``extrapolation``); empty for a model without a support check."""
        if self.outside_do is None:
            return {}
        return {c: float(self.outside_do[c].mean()) for c in self.outside_do.columns if c != self.node}

    def truth_means(self) -> dict[str, float]:
        """The ground truth's mean of every numeric node under ``do`` (empty when unknown)."""
        if self.truth_do is None:
            return {}
        return {k: float(v) for k, v in _numeric_means(self.truth_do[self.numeric()]).items()}


def _numeric_means(df: pd.DataFrame) -> pd.Series:
    return df.apply(lambda s: pd.to_numeric(s, errors="coerce").mean())


def _is_numeric(col: pd.Series, categories: Sequence[Any] | None) -> bool:
    """Summarised by a mean: a continuous node (no categories), or a 0/1 node."""
    if categories is None:
        if pd.api.types.is_float_dtype(col):
            return True
        if pd.api.types.is_bool_dtype(col):
            return True
        if pd.api.types.is_integer_dtype(col):
            return set(pd.unique(col.dropna())) <= {0, 1}
        return False
    return set(categories) <= {0, 1} and all(isinstance(c, (int, float, np.integer, np.floating, bool)) for c in categories)


def _share(col: pd.Series, value: Any) -> float:
    return float((col == value).mean()) if len(col) else math.nan


def extrapolation(model: Any, samples: pd.DataFrame, do: Sequence[str] = ()) -> pd.DataFrame | None:
    """Per sample and node, whether the model's answer for the node rests on a mechanism
    evaluated outside the training data's support: the node's own (its parents' values
    never seen together, ``model.outside_support``) or one upstream of it, whose
    extrapolated value the node then took as input. Intervened nodes (``do``) are set, not
    computed, and roots never extrapolate. ``None`` for a model without a support check."""
    check = getattr(model, "outside_support", None)
    if check is None:
        return None
    try:
        own = check(samples)
    except (ValueError, TypeError, KeyError):
        return None
    graph = model.graph
    out = {}
    for n in graph.nodes:
        if n not in own.columns:
            continue
        flag = np.zeros(len(samples), dtype=bool) if n in do else own[n].to_numpy(dtype=bool)
        if n not in do:
            for p in graph.parents(n):
                if p in out:
                    flag = flag | out[p]
        out[n] = flag
    return pd.DataFrame(out, index=samples.index)


def exact_do(exact: Any, node: str, value: Any, outcomes: Sequence[str]) -> dict[str, dict[Any, float]] | None:
    """Exact P(outcome = c | do(node = value)) for each outcome from a discrete Bayesian
    network (``causal.exact.DiscreteBN``), or ``None`` when it cannot answer (the value is
    not one of the node's states, an outcome is not in its graph)."""
    if exact is None:
        return None
    from causal.exact import ExactInferenceError

    out = {}
    try:
        for o in outcomes:
            if o == node:
                continue
            d = exact.query(o, do={node: value})
            out[o] = {s: float(p) for s, p in zip(d.states[0], d.probs)}
        states = exact.states[node]
    except (ExactInferenceError, KeyError, ValueError):
        return None
    out[node] = {s: float(s == value) for s in states}  # set by the intervention
    return out


def compare(
    model: Any,
    node: str,
    value: Any,
    n: int = 2000,
    seed: int = 0,
    truth: Any = None,
    max_draws: int = 400_000,
    tolerance: float = 0.05,
    pool: Any = None,
    observational: pd.DataFrame | None = None,
    exact: Any = None,
) -> Comparison:
    """Draw ``n`` samples each: observational, given ``node = value`` and ``do(node = value)``.

    ``model`` is anything with the query API (a fitted generator, or an SCM). Conditioning
    on a continuous node keeps draws within ``tolerance`` standard deviations of ``value``,
    trying at most ``max_draws`` draws; an event rarer than that is reported in
    ``given_error`` rather than raised. ``truth`` (an SCM) adds its interventional samples.
    ``pool`` (``causal.draw_pool`` of ``model`` and ``node``) answers the conditioning from
    kept draws where it can; ``observational`` (``model.sample(n, seed=seed)``, which does
    not depend on the query) saves drawing it again. ``exact`` (a ``causal.exact.DiscreteBN``
    over the same discrete nodes) adds its exact P(y = c | do) of every categorical outcome.
    The ``do`` samples are checked against the model's training support (``extrapolation``).
    """
    obs = model.sample(n, seed=seed) if observational is None else observational
    do = model.sample(n, do={node: value}, seed=seed)
    given, rate, draws, window, error = None, None, None, None, None
    try:
        extra = {} if pool is None else {"pool": pool}
        given = model.sample(n, given={node: value}, seed=seed, max_draws=max_draws, tolerance=tolerance, **extra)
        rate = float(given.attrs.get("acceptance_rate", 1.0))
        draws = int(given.attrs.get("draws", len(given)))
        event = given.attrs.get("event", {}).get(node)
        window = (float(event[0]), float(event[1])) if isinstance(event, tuple) else None
    except EvidenceError as e:
        error = str(e)
    truth_do = truth.sample(n, do={node: value}, seed=seed + 1) if truth is not None else None
    schema = getattr(model, "schema", None)
    categories = {c.name: tuple(c.categories) for c in schema.columns if c.discrete} if schema is not None else {}
    outside = extrapolation(model, do, [node])
    probs = exact_do(exact, node, value, [c for c in do.columns if c != node])
    return Comparison(node, value, obs, given, do, rate, draws, window, error, truth_do, categories, outside,
                      probs, getattr(exact, "source", "") if probs is not None else "")


@dataclass(frozen=True)
class Effect:
    """The model's average effect on each other node of moving ``node`` from ``reference``
    to ``value`` by intervention: E[y | do(node = value)] − E[y | do(node = reference)] for a
    numeric outcome; for a categorical one, per category c (one row ``y = c``; for a
    two-valued one, its last value), P(y = c | do(value)) − P(y = c | do(reference)). Each
    with a 95% interval for the Monte Carlo error of ``n`` paired samples (the same
    exogenous noise in both arms): the interval is about sampling the model, not about how
    well the model was fitted. ``truth``: the same effect under the true SCM when known;
    ``exact``: under a discrete Bayesian network (``exact_do``); ``extrapolated``: the
    share of sample pairs in which the model's answer for the outcome extrapolates beyond
    the training data in either arm (``extrapolation``)."""

    node: str
    value: Any
    reference: Any
    table: pd.DataFrame  # index: outcomes ("y", or "y = c"); columns: effect, low, high[, truth][, exact][, extrapolated]
    outcome_of: Mapping[str, tuple[str, Any]] = field(default_factory=dict)  # row -> (node, category or None)

    def flagged(self, threshold: float = EXTRAPOLATION_WARN) -> list[str]:
        """The rows whose answer extrapolates in at least ``threshold`` of the sample pairs."""
        if "extrapolated" not in self.table.columns:
            return []
        return [i for i, v in self.table["extrapolated"].items() if v >= threshold]


def average_effects(model: Any, node: str, value: Any, reference: Any, n: int = 2000, seed: int = 0,
                    truth: Any = None, exact: Any = None) -> Effect:
    """``Effect`` of ``do(node = value)`` against ``do(node = reference)`` on every other
    node; descendants only can differ from zero."""
    a = model.sample(n, do={node: reference}, seed=seed)
    b = model.sample(n, do={node: value}, seed=seed)
    ta = tb = None
    if truth is not None:
        ta = truth.sample(n, do={node: reference}, seed=seed + 7)
        tb = truth.sample(n, do={node: value}, seed=seed + 7)
    return effect_of(node, value, reference, a, b, ta, tb, model=model, exact=exact)


def effect_of(node: str, value: Any, reference: Any, a: pd.DataFrame, b: pd.DataFrame,
              truth_a: pd.DataFrame | None = None, truth_b: pd.DataFrame | None = None, *,
              model: Any = None, exact: Any = None, outside_a: pd.DataFrame | None = None,
              outside_b: pd.DataFrame | None = None) -> Effect:
    """``Effect`` from samples already drawn: ``a`` under ``do(node = reference)`` and ``b``
    under ``do(node = value)``, drawn with the same seed (paired: row i of both shares its
    exogenous noise); ``truth_a``/``truth_b`` the same of the true SCM. An app moving a slider
    draws the reference arm once and reuses its comparison's ``do`` samples as ``b``.

    ``model`` (the model that drew ``a`` and ``b``) tells categorical outcomes from numeric
    ones (its schema) and flags extrapolation (``extrapolation``; or pass ``outside_a`` and
    ``outside_b`` computed before); ``exact`` adds the exact effect (``exact_do``)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} under the reference, {len(b)} under the value")
    schema = getattr(model, "schema", None)
    categories = {c.name: tuple(c.categories) for c in schema.columns if c.discrete} if schema is not None else {}
    if model is not None and outside_a is None:
        outside_a = extrapolation(model, a, [node])
    if model is not None and outside_b is None:
        outside_b = extrapolation(model, b, [node])
    outcomes = [c for c in a.columns if c != node]
    ex_b = exact_do(exact, node, value, outcomes)
    ex_a = exact_do(exact, node, reference, outcomes) if ex_b is not None else None
    rows, owner = {}, {}
    for col in outcomes:
        cats = categories.get(col)
        if _is_numeric(a[col], cats) and _is_numeric(b[col], cats):
            arms = [(col, pd.to_numeric(a[col], errors="coerce"), pd.to_numeric(b[col], errors="coerce"), None)]
        else:
            values = list(cats) if cats else sorted(set(pd.unique(a[col])) | set(pd.unique(b[col])), key=str)
            if len(values) == 2:
                values = values[1:]  # a two-valued outcome: one row says it all
            arms = [(f"{col} = {v}", (a[col] == v).astype(float), (b[col] == v).astype(float), v) for v in values]
        extra = math.nan
        if outside_a is not None and outside_b is not None and col in outside_a.columns and col in outside_b.columns:
            extra = float((outside_a[col].to_numpy(bool) | outside_b[col].to_numpy(bool)).mean())
        for label, ya, yb, v in arms:
            if ya.isna().any() or yb.isna().any():
                continue
            d = (yb - ya).to_numpy(dtype=float)
            half = 1.96 * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.nan
            est = float(d.mean())
            t = math.nan
            if truth_a is not None and truth_b is not None:
                if v is None:
                    t = float(pd.to_numeric(truth_b[col]).mean() - pd.to_numeric(truth_a[col]).mean())
                else:
                    t = _share(truth_b[col], v) - _share(truth_a[col], v)
            e = math.nan
            if ex_a is not None and ex_b is not None and v is not None:
                e = ex_b.get(col, {}).get(v, math.nan) - ex_a.get(col, {}).get(v, math.nan)
            rows[label] = {"effect": est, "low": est - half, "high": est + half, "truth": t, "exact": e,
                           "extrapolated": extra}
            owner[label] = (col, v)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["effect", "low", "high", "truth", "exact", "extrapolated"])
    table.index.name = "outcome"
    if truth_a is None or truth_b is None:
        table = table.drop(columns="truth")
    if ex_b is None:
        table = table.drop(columns="exact")
    if outside_a is None or outside_b is None:
        table = table.drop(columns="extrapolated")
    return Effect(node, value, reference, table, owner)
