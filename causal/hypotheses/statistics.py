"""The statistics of hypothesis testing by generalization error: scores with bootstrap
intervals, paired differences on the same held-out rows with their intervals and p-values
(Holm-corrected), the paper's P(loss(G1) > loss(G2)), and varsortability (Reisach, Seiler,
Weichwald 2021, "Beware of the simulated DAG!"), which says how far the variance order alone
could rank the graphs when they are scored on unstandardized data.

The unit of resampling is the row: a row held out in several splits (out-of-distribution
splits overlap) and in every seed is one draw, so the intervals count each row once. They
cover the variation of the held-out rows, not that of the fitted models beyond the seeds
averaged; more seeds make the scores less noisy, never the intervals narrower by themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from causal.graph import CausalGraph

__all__ = ["RowLosses", "Bootstrap", "bootstrap", "paired_p_value", "varsortability"]


@dataclass(frozen=True)
class RowLosses:
    """Held-out losses summed per row: ``sums[i, c]`` is the loss of column ``c`` (a
    candidate, or a node of one) over every (split, seed-averaged) time row ``i`` was held
    out, ``counts[i]`` how many splits held it out. A column's score is
    ``sums[:, c].sum() / counts.sum()``: the mean held-out loss per row."""

    sums: np.ndarray  # [rows, columns]
    counts: np.ndarray  # [rows]

    @property
    def scores(self) -> np.ndarray:
        return self.sums.sum(axis=0) / max(float(self.counts.sum()), 1.0)


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap draws of every column's score, the rows resampled with replacement:
    ``draws[b, c]``."""

    draws: np.ndarray

    def interval(self, c: int, level: float = 0.95) -> tuple[float, float]:
        lo, hi = np.quantile(self.draws[:, c], [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)

    def difference(self, a: int, b: int, level: float = 0.95) -> tuple[np.ndarray, tuple[float, float]]:
        d = self.draws[:, a] - self.draws[:, b]
        lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
        return d, (float(lo), float(hi))


def bootstrap(losses: RowLosses, n: int = 2000, seed: int = 0, chunk: int = 250) -> Bootstrap:
    """``n`` bootstrap draws of every column's score (rows resampled with replacement, the
    same draws for every column, so that differences are paired).

    >>> rl = RowLosses(np.array([[1.0, 2.0], [3.0, 3.0], [2.0, 4.0]]), np.ones(3))
    >>> b = bootstrap(rl, n=500)
    >>> b.draws.shape, bool((b.draws[:, 1] >= b.draws[:, 0]).all())
    ((500, 2), True)
    """
    rng = np.random.default_rng(seed)
    rows = losses.sums.shape[0]
    draws = np.empty((n, losses.sums.shape[1]))
    p = np.full(rows, 1.0 / rows)
    for s in range(0, n, chunk):
        w = rng.multinomial(rows, p, size=min(chunk, n - s)).astype(np.float64)  # [chunk, rows]
        draws[s : s + len(w)] = (w @ losses.sums) / np.maximum(w @ losses.counts, 1.0)[:, None]
    return Bootstrap(draws)


def paired_p_value(difference: float, draws: np.ndarray) -> float:
    """Two-sided p-value of a paired difference against 0 from its bootstrap draws: the
    difference over its bootstrap standard error, referred to the normal distribution
    (1 when the draws do not vary: the two scores are the same on every row).

    >>> round(paired_p_value(0.2, np.random.default_rng(0).normal(0.2, 0.1, 4000)), 3)
    0.045
    """
    se = float(np.std(draws, ddof=1))
    if not np.isfinite(se) or se <= 1e-12 * max(1.0, abs(difference)):
        return 1.0 if abs(difference) <= 1e-12 else 0.0
    return float(2 * stats.norm.sf(abs(difference) / se))


def varsortability(data: np.ndarray, graph: CausalGraph, columns: list[str], tol: float = 1e-9) -> float:
    """Share of the graph's directed paths (counted with multiplicity, every length) along
    which the variance grows, ties counting one half (Reisach et al. 2021). 1: sorting the
    variables by variance recovers the graph's order; 0.5: no better than chance. NaN for
    a graph without edges. ``data`` has the graph's nodes as ``columns``.

    >>> x = np.random.default_rng(0).normal(size=(500, 1)) @ np.ones((1, 3)) * [1.0, 2.0, 4.0]
    >>> varsortability(x, CausalGraph.parse("a -> b -> c"), ["a", "b", "c"])
    1.0
    """
    idx = [columns.index(n) for n in graph.nodes]
    var = np.var(np.asarray(data, dtype=np.float64)[:, idx], axis=0)
    e = graph.adjacency().astype(np.float64)
    if not e.any():
        return float("nan")
    ratio = var[None, :] / np.maximum(var[:, None], 1e-300)  # [i, j]: var_j / var_i for a path i -> j
    ek = e.copy()
    paths = ordered = 0.0
    for _ in range(len(idx) - 1):
        paths += ek.sum()
        ordered += (ek * (ratio > 1 + tol)).sum() + 0.5 * (ek * ((ratio <= 1 + tol) & (ratio > 1 - tol))).sum()
        ek = ek @ e
        if not ek.any():
            break
    return float(ordered / paths)
