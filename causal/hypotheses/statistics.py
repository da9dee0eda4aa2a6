"""The statistics of hypothesis testing by generalization error: scores with bootstrap
intervals, paired differences on the same held-out rows with their intervals and p-values
(Holm-corrected), the paper's P(loss(G1) > loss(G2)), and varsortability (Reisach, Seiler,
Weichwald 2021, "Beware of the simulated DAG!"), which says how far the variance order alone
could rank the graphs when they are scored on unstandardized data.

A score's variance has two components. The held-out rows: the unit of resampling is the row
(a row held out in several splits and in every seed is one draw), so the paired row
bootstrap counts each row once. The fits: two fits of the same family (another seed, other
folds) differ, and a paired difference carries the fit noise of every family in which the two
candidates differ, constant over the rows each fit scored, so the row bootstrap cannot see it.
``fit_noise`` estimates it by random-effects analysis of variance over the (split, seed) runs
(the runs' mean losses vary more than their rows explain). Fits on overlapping training rows
share part of their luck, which their spread cannot show; for K-fold runs the fit variance is
inflated as in the corrected resampled t-test of Nadeau & Bengio (2003, "Inference for the
generalization error"), by the ratio of test to training rows. ``combined_test`` adds the two
components and refers the estimate to Student's t with Welch-Satterthwaite degrees of
freedom."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from causal.graph import CausalGraph

__all__ = ["RowLosses", "Bootstrap", "bootstrap", "paired_p_value", "FitNoise", "fit_noise", "Test", "combined_test",
           "varsortability"]


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


@dataclass(frozen=True)
class FitNoise:
    """The fits' share of the variance of each column's score (a candidate's score, or a paired
    difference): ``variance[c]`` = the between-fit variance of one run's mean, ``tau2[c]``,
    times (the sum of the squared run weights + ``overlap``); ``var_variance[c]`` its sampling
    variance taken as that of a scaled chi-square on ``df`` degrees of freedom
    (``2 variance^2 / df``, the Welch-Satterthwaite form); ``df`` the degrees of freedom of the
    between-runs mean square (0: not estimable, e.g. one seed of fixed splits)."""

    variance: np.ndarray
    var_variance: np.ndarray
    tau2: np.ndarray
    df: int


def fit_noise(runs: list[tuple[int, np.ndarray, np.ndarray]], paired: bool, overlap: float = 0.0) -> FitNoise:
    """Between-fit variance of every column from the runs' held-out losses, by method of
    moments (random-effects analysis of variance, runs as the random effect).

    ``runs``: one (group, test row positions, losses ``[test rows, columns]``) per (split,
    seed) run; each run's rows weigh ``rows / all runs' rows`` in the score (as in
    ``RowLosses``). ``paired=False`` (K-fold: a group is one seed's folds, which hold out
    disjoint random rows and together every row): one-way ANOVA of the runs within each group,
    ``tau2 = (MS_between - MS_within) / n0``; with two or more seeds, on the losses less each
    row's mean over the seeds, so that the rows' own spread (which the row bootstrap covers)
    does not blur the fits' (a run's mean then keeps (1 - 1/seeds) of its fit effect, and n0 is
    scaled by its square). ``paired=True`` (fixed splits scored with several seeds: a group is
    one split's seeds, which hold out the same rows): two-way ANOVA rows x seeds,
    ``tau2 = (MS_seeds - MS_interaction) / rows``. Sums of squares and degrees of freedom are
    pooled over the groups; ``tau2`` is truncated at 0. ``overlap``: Nadeau & Bengio's
    correction for runs whose training rows overlap, test rows / training rows (K-fold:
    1 / (K - 1)): the variance of the mean of the runs' fit effects is taken as
    ``tau2 * (sum of squared weights + overlap)``, not ``tau2 * sum of squared weights``.

    >>> rng = np.random.default_rng(0)
    >>> shift = rng.normal(0.0, 0.5, (10, 5))  # each run's fit noise (sd 0.5): 10 seeds x 5 folds
    >>> runs = [(s, np.arange(200 * k, 200 * (k + 1)), rng.normal(shift[s, k], 1.0, (200, 1)))
    ...         for s in range(10) for k in range(5)]
    >>> fn = fit_noise(runs, paired=False)
    >>> fn.df, round(float(fn.tau2[0]), 2), round(float(np.var(shift, ddof=1)), 2)  # tau2 against the shifts' own
    (40, 0.21, 0.21)
    >>> bool(np.isclose(fn.variance[0], fn.tau2[0] / 50))  # 50 runs of equal weight
    True
    """
    width = runs[0][2].shape[1]
    total = float(sum(len(x) for _, _, x in runs))
    weight2 = sum((len(x) / total) ** 2 for _, _, x in runs)
    groups: dict[int, list[np.ndarray]] = {}
    for g, _, x in runs:
        groups.setdefault(g, []).append(np.asarray(x, dtype=np.float64))
    scale = 1.0
    if not paired and len(groups) > 1:  # take out each row's mean over the seeds
        size = 1 + max(int(np.max(r)) for _, r, _ in runs if len(r))
        sums, counts = np.zeros((size, width)), np.zeros(size)
        for _, r, x in runs:
            np.add.at(sums, r, x)
            np.add.at(counts, r, 1.0)
        if np.all(counts[counts > 0] == len(groups)):
            mean = sums / np.maximum(counts, 1.0)[:, None]
            groups = {}
            for g, r, x in runs:
                groups.setdefault(g, []).append(np.asarray(x, dtype=np.float64) - mean[r])
            scale = (1.0 - 1.0 / len(groups)) ** 2
    ss_b, ss_w = np.zeros(width), np.zeros(width)
    df_b = df_w = 0
    n0_num = 0.0
    for xs in groups.values():
        k = len(xs)
        if k < 2:
            continue
        if paired:
            if len({len(x) for x in xs}) != 1:
                raise ValueError("paired runs must score the same rows")
            cube = np.stack(xs)  # [seeds, rows, columns]
            n = cube.shape[1]
            seed_means, row_means, grand = cube.mean(axis=1), cube.mean(axis=0), cube.mean(axis=(0, 1))
            ss_b += n * ((seed_means - grand) ** 2).sum(axis=0)
            ss_w += ((cube - seed_means[:, None, :] - row_means[None] + grand) ** 2).sum(axis=(0, 1))
            df_b += k - 1
            df_w += (k - 1) * (n - 1)
            n0_num += (k - 1) * n
        else:
            sizes = np.array([len(x) for x in xs], dtype=np.float64)
            n = sizes.sum()
            means = np.stack([x.mean(axis=0) for x in xs])
            grand = (sizes[:, None] * means).sum(axis=0) / n
            ss_b += (sizes[:, None] * (means - grand) ** 2).sum(axis=0)
            ss_w += sum(((x - m) ** 2).sum(axis=0) for x, m in zip(xs, means))
            df_b += k - 1
            df_w += int(n) - k
            n0_num += n - (sizes ** 2).sum() / n  # (k - 1) * n0 of an unbalanced one-way design
    if df_b == 0 or df_w == 0:
        zero = np.zeros(width)
        return FitNoise(zero, zero, zero, 0)
    n0 = scale * n0_num / df_b
    ms_b, ms_w = ss_b / df_b, ss_w / df_w
    tau2 = np.maximum(ms_b - ms_w, 0.0) / n0
    factor = weight2 + max(float(overlap), 0.0)
    return FitNoise(tau2 * factor, 2.0 * (tau2 * factor) ** 2 / df_b, tau2, df_b)


@dataclass(frozen=True)
class Test:
    """An estimate's test against 0 with both variance components: standard errors of the
    rows (``se_rows``) and of the fits (``se_fit``), the Welch-Satterthwaite degrees of
    freedom ``df`` (inf: rows only), the two-sided ``p_value`` and the ``ci``."""

    se_rows: float
    se_fit: float
    df: float
    p_value: float
    ci: tuple[float, float]


def combined_test(estimate: float, var_rows: float, rows: int, var_fit: float = 0.0, var_var_fit: float = 0.0,
                  fit_df: int = 0, level: float = 0.95) -> Test:
    """Test ``estimate`` against 0 with the variance of the held-out rows (``var_rows``, from
    the row bootstrap, ``rows`` rows) plus the fits' (``var_fit`` with sampling variance
    ``var_var_fit`` and ``fit_df`` degrees of freedom, from ``fit_noise``): t = estimate /
    sqrt(var_rows + var_fit), on Welch-Satterthwaite degrees of freedom
    (var_rows + var_fit)^2 / (var_rows^2 / (rows - 1) + var_var_fit / 2). Without a fit
    term (``fit_df`` 0) the reference is the normal distribution.

    >>> t = combined_test(0.2, 0.01, 500)
    >>> round(t.p_value, 3), round(t.se_rows, 3)
    (0.046, 0.1)
    >>> t = combined_test(0.2, 0.01, 500, var_fit=0.01, var_var_fit=2 * 0.01 ** 2 / 4, fit_df=4)
    >>> round(t.se_fit, 3), round(t.df, 1), t.p_value > 0.1
    (0.1, 15.9, True)
    """
    var_rows = max(float(var_rows), 0.0)
    var_fit = max(float(var_fit), 0.0) if fit_df > 0 else 0.0
    var = var_rows + var_fit
    se = float(np.sqrt(var))
    if fit_df > 0:
        denom = var_rows ** 2 / max(rows - 1, 1) + max(float(var_var_fit), 0.0) / 2.0
        df = float(var ** 2 / denom) if denom > 0 else float("inf")
    else:
        df = float("inf")
    if not np.isfinite(se) or se <= 1e-12 * max(1.0, abs(estimate)):
        p = 1.0 if abs(estimate) <= 1e-12 else 0.0
        half = 0.0
    else:
        ref = stats.norm if not np.isfinite(df) else stats.t(df)
        p = float(2 * ref.sf(abs(estimate) / se))
        half = float(ref.ppf(0.5 + level / 2) * se)
    return Test(float(np.sqrt(var_rows)), float(np.sqrt(var_fit)), df, p, (estimate - half, estimate + half))


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
