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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causal.queries import EvidenceError

__all__ = ["Comparison", "Effect", "compare", "average_effects", "effect_of", "LABELS", "TRUTH", "GAP"]

# How the three distributions are named everywhere (tables, legends, captions).
LABELS = ("observational", "given", "do")
TRUTH = "do · truth"
GAP = "given − do"  # seeing minus doing: nonzero where a non-causal path links the node and X


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

    def samples(self) -> dict[str, pd.DataFrame]:
        """The available samples by label, in the order of ``LABELS``."""
        out = {"observational": self.observational, "given": self.given, "do": self.do}
        return {k: v for k, v in out.items() if v is not None}

    def means(self) -> pd.DataFrame:
        """Mean of every node under each query (rows: nodes), then ``given − do``, the gap
        between seeing and doing. Discrete nodes with numeric values get their mean (for
        0/1 nodes, P(= 1)); text categories get NaN."""
        cols = {**self.samples()}
        if self.truth_do is not None:
            cols[TRUTH] = self.truth_do
        table = pd.DataFrame({label: _numeric_means(df) for label, df in cols.items()})
        table = table.reindex(columns=[c for c in (*LABELS, TRUTH) if c in table.columns])
        if "given" not in table.columns:
            table.insert(1, "given", np.nan)
        table[GAP] = table["given"] - table["do"]
        table.index.name = "node"
        return table


    def truth_means(self) -> dict[str, float]:
        """The ground truth's mean of every node under ``do`` (empty when unknown)."""
        return {} if self.truth_do is None else {k: float(v) for k, v in _numeric_means(self.truth_do).items()}


def _numeric_means(df: pd.DataFrame) -> pd.Series:
    return df.apply(lambda s: pd.to_numeric(s, errors="coerce").mean())


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
) -> Comparison:
    """Draw ``n`` samples each: observational, given ``node = value`` and ``do(node = value)``.

    ``model`` is anything with the query API (a fitted generator, or an SCM). Conditioning
    on a continuous node keeps draws within ``tolerance`` standard deviations of ``value``,
    trying at most ``max_draws`` draws; an event rarer than that is reported in
    ``given_error`` rather than raised. ``truth`` (an SCM) adds its interventional samples.
    ``pool`` (``causal.draw_pool`` of ``model`` and ``node``) answers the conditioning from
    kept draws where it can; ``observational`` (``model.sample(n, seed=seed)``, which does
    not depend on the query) saves drawing it again.
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
    return Comparison(node, value, obs, given, do, rate, draws, window, error, truth_do)


@dataclass(frozen=True)
class Effect:
    """The model's average effect on each other node of moving ``node`` from ``reference``
    to ``value`` by intervention: E[y | do(node = value)] − E[y | do(node = reference)],
    with a 95% interval for the Monte Carlo error of ``n`` paired samples (the same
    exogenous noise in both arms). The interval is about sampling the model, not about how
    well the model was fitted; ``truth`` is the same effect under the true SCM when known."""

    node: str
    value: Any
    reference: Any
    table: pd.DataFrame  # index: outcome nodes; columns: effect, low, high, truth


def average_effects(model: Any, node: str, value: Any, reference: Any, n: int = 2000, seed: int = 0,
                    truth: Any = None) -> Effect:
    """``Effect`` of ``do(node = value)`` against ``do(node = reference)`` on every other
    numeric node; descendants only can differ from zero."""
    a = model.sample(n, do={node: reference}, seed=seed)
    b = model.sample(n, do={node: value}, seed=seed)
    ta = tb = None
    if truth is not None:
        ta = truth.sample(n, do={node: reference}, seed=seed + 7)
        tb = truth.sample(n, do={node: value}, seed=seed + 7)
    return effect_of(node, value, reference, a, b, ta, tb)


def effect_of(node: str, value: Any, reference: Any, a: pd.DataFrame, b: pd.DataFrame,
              truth_a: pd.DataFrame | None = None, truth_b: pd.DataFrame | None = None) -> Effect:
    """``Effect`` from samples already drawn: ``a`` under ``do(node = reference)`` and ``b``
    under ``do(node = value)``, drawn with the same seed (paired: row i of both shares its
    exogenous noise); ``truth_a``/``truth_b`` the same of the true SCM. An app moving a slider
    draws the reference arm once and reuses its comparison's ``do`` samples as ``b``."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} under the reference, {len(b)} under the value")
    rows = {}
    for col in a.columns:
        if col == node:
            continue
        ya, yb = pd.to_numeric(a[col], errors="coerce"), pd.to_numeric(b[col], errors="coerce")
        if ya.isna().any() or yb.isna().any():
            continue  # text categories have no mean
        d = (yb - ya).to_numpy(dtype=float)
        half = 1.96 * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.nan
        est = float(d.mean())
        t = math.nan
        if truth_a is not None and truth_b is not None:
            t = float(pd.to_numeric(truth_b[col]).mean() - pd.to_numeric(truth_a[col]).mean())
        rows[col] = {"effect": est, "low": est - half, "high": est + half, "truth": t}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["effect", "low", "high", "truth"])
    table.index.name = "outcome"
    if truth_a is None or truth_b is None:
        table = table.drop(columns="truth")
    return Effect(node, value, reference, table)
