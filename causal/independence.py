"""Conditional independence tests: check a graph's testable implications against data.

Every d-separation ``x ⟂ y | given`` that a graph implies is a claim the data can refute.
``ci_test`` tests one claim, ``test_implications`` tests a basis of them for a graph and
adjusts the p-values for multiplicity (Holm 1979).

- x and y continuous (or binary, as 0/1), no ``given``: their correlation with Fisher's z
  (``z = atanh(r)·sqrt(n − 3)``, standard normal under independence). A dependence through
  a square (y = x² + noise) leaves the correlation at 0, so the product of the two columns'
  normal scores (ranks through the normal quantile: Gaussian tails whatever the data's),
  weighted by each continuous one's, is tested too, as the interactions below are.
- The same given ``given``: x and y are regressed on ``given`` by least squares and their
  residuals compared (a partial correlation). With ``regression="linear"`` (``ci_test``'s
  default) the fit removes only the *linear* part of ``given``'s influence, so a nonlinear
  mechanism can make a true independence look rejected; ``regression="spline"``
  (``test_implications``'s default) fits a cubic-spline basis of ``given`` (with pairwise
  products) instead. Discrete columns in ``given`` define strata, within each of which the
  fit is made on the continuous rest; the residuals are pooled over the strata (a stratum
  with fewer rows than its fit needs plus 5 is left out). The test is the generalized
  covariance measure (Shah and Peters 2020): the mean of the residuals' product over its
  own standard error, scaled by ``sqrt(n − p − 3)`` for ``p`` fitted columns (with one
  variance it is Fisher's z; where the noise's scale changes with ``given`` it holds its
  level and Fisher's z does not). A dependence that changes sign with a continuous
  conditioning column (y = x·z given z) leaves the residuals uncorrelated, so the product
  weighted by each standardized continuous column of ``given`` is tested too (a chi-square
  quadratic form; the weights are the columns' normal scores) and the p-value is the
  smaller of the two doubled (Bonferroni); ``interactions=False`` tests the correlation
  alone, here and without ``given``.
- x or y categorical (more than two values), or every column discrete: a G-test
  (likelihood-ratio chi-square) of x ⟂ y within each stratum of ``given``, continuous
  variables cut into quantile bins; statistics and degrees of freedom add up over strata.
  Binning a continuous conditioning variable leaves some dependence inside each bin, so
  with much data a true independence can be rejected; ``mixed="g-test"`` takes this test
  for every mix of kinds.

A large p-value never proves independence; it only says the data do not contradict it.
And with many rows a small p-value does not say the dependence matters: tens of thousands
of rows reject dependences far too small to matter (or left by binning). Every test also
reports a *strength* on one scale for both kinds, 0 (independent) to 1: the absolute
partial correlation (or, where larger, the absolute correlation of one residual times a
conditioning column with the other), or for a G-test Linfoot's informational coefficient of correlation
``sqrt(1 − exp(−2·I))`` of the conditional mutual information ``I`` (which equals ``|ρ|``
for Gaussian variables). ``test_implications`` calls a rejection *relevant* when its
strength is at least ``min_strength`` (0.1 by default, Cohen's "small" correlation).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> a = rng.normal(size=500); b = a + rng.normal(size=500); c = b + rng.normal(size=500)
>>> df = pd.DataFrame({"a": a, "b": b, "c": c})
>>> ci_test(df, "a", "c").p_value < 1e-6, ci_test(df, "a", "c", given=["b"]).p_value > 0.01
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from causal.data import infer_kind
from causal.graph import CausalGraph, Independence

__all__ = ["CITest", "ImplicationTest", "ci_test", "test_implications", "holm", "implications_frame", "MIN_STRENGTH"]

BINS = 4  # quantile bins for a continuous variable in a G-test
MIN_STRATUM = 5  # a stratum of `given` with fewer rows than this is skipped by the G-test
KNOTS = 5  # interior knots (quantiles) per conditioning variable for regression="spline"
REGRESSIONS = ("linear", "spline")
MIXED = ("strata", "g-test")
DISCRETE = ("binary", "categorical")
NUMERIC = ("continuous", "binary")  # kinds a partial correlation can test (binary as 0/1)
MIN_STRENGTH = 0.1  # a rejected independence weaker than this (|partial r|, or its G-test equivalent) is negligible


@dataclass(frozen=True)
class CITest:
    """The result of testing ``x ⟂ y | given`` on ``n`` rows.

    ``statistic`` is Fisher's z (no ``given``), the generalized covariance measure's
    statistic (signed; ``given``) or the G statistic; ``dof`` is ``n − p − 3`` for ``p``
    fitted columns (``n − |given| − 3`` for a linear fit) for the first two and the
    chi-square degrees of freedom for the G-test (0: no stratum was large enough to test
    anything, and ``p_value`` is 1). ``effect`` is the partial
    correlation (Fisher's z) or the conditional mutual information in nats, ``G / 2n``;
    ``interaction`` the largest |correlation| of one residual times a conditioning column
    with the other residual (None when the interactions were not tested).
    """

    x: str
    y: str
    given: tuple[str, ...]
    statistic: float
    dof: int
    p_value: float
    method: str
    n: int
    effect: float = float("nan")
    interaction: float | None = None

    @property
    def strength(self) -> float:
        """How strong the dependence is, 0 to 1, on one scale for both tests: ``|effect|``
        for a partial correlation (or ``interaction`` where that is larger); for a G-test Linfoot's informational coefficient of
        correlation ``sqrt(1 − exp(−2·I))`` of the mutual information ``I = effect`` (nats),
        which is ``|ρ|`` for two Gaussian variables.

        >>> round(CITest("a", "b", (), 9.0, 1, 0.003, "G-test", 1000, 0.0045).strength, 3)
        0.095
        """
        e = float(self.effect)
        if e != e:  # NaN
            return e
        if self.method.startswith("G-test"):
            return float(np.sqrt(-np.expm1(-2.0 * max(e, 0.0))))
        return abs(e) if self.interaction is None else max(abs(e), float(self.interaction))

    def __str__(self) -> str:
        cond = f" | {', '.join(self.given)}" if self.given else ""
        return f"{self.x} ⟂ {self.y}{cond}: p = {self.p_value:.3g} ({self.method}, n = {self.n})"


@dataclass(frozen=True)
class ImplicationTest:
    """One implied independence of a graph, its test, and whether the data reject it at
    ``alpha``, raw (``rejected``) and after Holm's correction over all tests run
    (``p_holm``, ``rejected_holm``); ``relevant``: rejected after Holm's correction *and*
    at least ``min_strength`` strong (``CITest.strength``), a contradiction that matters."""

    independence: Independence
    test: CITest
    alpha: float
    rejected: bool
    p_holm: float
    rejected_holm: bool
    min_strength: float = MIN_STRENGTH

    @property
    def strength(self) -> float:
        return self.test.strength

    @property
    def relevant(self) -> bool:
        return self.rejected_holm and self.test.strength >= self.min_strength

    @property
    def p_value(self) -> float:
        return self.test.p_value


# ---------------------------------------------------------------------- one test
def ci_test(
    data: pd.DataFrame,
    x: str,
    y: str,
    given: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
    bins: int = BINS,
    regression: str = "linear",
    mixed: str = "strata",
    interactions: bool = True,
    memo: dict | None = None,
) -> CITest:
    """Test ``x ⟂ y | given`` on ``data`` (rows with a missing value in these columns are
    dropped). Kinds come from ``kinds``, else ``causal.data.infer_kind``. ``bins``: quantile
    bins of a continuous variable in a G-test; ``regression``: ``"linear"`` or ``"spline"``,
    how Fisher's z removes ``given`` (see the module docstring). ``mixed``: how a test with
    both discrete and continuous columns is made when x and y are continuous or binary:
    ``"strata"`` (a partial correlation within the strata of the discrete conditioning
    columns) or ``"g-test"`` (every continuous column binned for a G-test).
    ``interactions``: a partial correlation given continuous columns also tests whether the
    residuals' product moves with them (see the module docstring); its p-value is the
    smaller of the two doubled (Bonferroni). ``memo``: a dict kept by a caller that runs
    many tests on the same ``data`` (PC), holding each column's codes and spline basis so
    that they are computed once; it is used only where no row was dropped.

    Raises ``ValueError`` naming an unknown or constant column, a variable that is both
    tested and conditioned on, or too few rows.
    """
    given = (given,) if isinstance(given, str) else tuple(given)
    if regression not in REGRESSIONS:
        raise ValueError(f"regression must be one of {', '.join(REGRESSIONS)}, got {regression!r}")
    if mixed not in MIXED:
        raise ValueError(f"mixed must be one of {', '.join(MIXED)}, got {mixed!r}")
    cols = [x, y, *given]
    unknown = [c for c in cols if c not in data.columns]
    if unknown:
        shown = ", ".join(map(str, data.columns))
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; the columns are {shown}")
    if x == y:
        raise ValueError(f"cannot test '{x}' against itself")
    both = [c for c in (x, y) if c in given]
    if both:
        raise ValueError(f"'{both[0]}' is both tested and conditioned on")
    if len(set(given)) < len(given):
        raise ValueError(f"the conditioning set {', '.join(given)} names a column twice")
    df = data[cols].dropna()
    kinds = dict(kinds or {})
    kind = {c: kinds.get(c) or infer_kind(df[c]) for c in cols}
    for c in cols:
        if kind[c] not in ("continuous", *DISCRETE):
            raise ValueError(f"column '{c}' has kind {kind[c]!r}; only continuous, binary and categorical can be tested")
        if df[c].nunique() < 2:
            raise ValueError(f"column '{c}' is constant in the {len(df)} complete rows; it cannot be tested")
    some_discrete = any(kind[c] in DISCRETE for c in cols)
    memo = memo if memo is not None and len(df) == len(data) else None  # a column's codes hold for all its rows
    if (kind[x] not in NUMERIC or kind[y] not in NUMERIC or all(kind[c] in DISCRETE for c in cols)
            or (mixed == "g-test" and some_discrete)):
        return _g_test(df, x, y, given, kind, bins, memo)
    return _partial_correlation(df, x, y, given, regression, kind, interactions, memo)


def _remembered(memo: dict | None, key: tuple, compute: Any) -> Any:
    """``compute()``, kept in ``memo`` under ``key`` when there is a memo."""
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _numeric(s: pd.Series) -> np.ndarray:
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        bad = s[pd.to_numeric(s, errors="coerce").isna()]
        raise ValueError(f"column '{s.name}' is continuous but row {bad.index[0]} holds {bad.iloc[0]!r}") from None


def _spline_basis(z: np.ndarray) -> list[np.ndarray]:
    """Columns of a cubic regression spline in one (standardized) variable."""
    z = (z - z.mean()) / z.std()
    knots = np.unique(np.quantile(z, np.linspace(0, 1, KNOTS + 2)[1:-1]))
    return [z, z**2, z**3] + [np.maximum(z - k, 0.0) ** 3 for k in knots]


def _values(s: pd.Series, kind: str) -> np.ndarray:
    """A column as numbers: a binary one as 0/1 codes (its categories in sorted order)."""
    if kind == "binary":
        return pd.factorize(s, sort=True)[0].astype(np.float64)
    return _numeric(s)


def _design(df: pd.DataFrame, given: tuple[str, ...], regression: str, memo: dict | None = None) -> np.ndarray:
    zs = [_remembered(memo, ("numeric", c), lambda c=c: _numeric(df[c])) for c in given]
    cols = [np.ones(len(df))]
    if regression == "linear":
        return np.column_stack(cols + zs)
    for c, z in zip(given, zs):
        cols += _remembered(memo, ("spline", c), lambda z=z: _spline_basis(z))
    std = [(z - z.mean()) / z.std() for z in zs]
    for i in range(len(std)):
        for j in range(i + 1, len(std)):
            cols += [std[i] ** a * std[j] ** b for a in (1, 2) for b in (1, 2)]
    return np.column_stack(cols)


def _partial_correlation(df: pd.DataFrame, x: str, y: str, given: tuple[str, ...], regression: str,
                         kind: Mapping[str, str], interactions: bool = True, memo: dict | None = None) -> CITest:
    """x and y (continuous, or binary as 0/1) given ``given``, as the module docstring says:
    the discrete conditioning columns define strata, within each of which x and y are
    regressed on the continuous ones (``_design``); the residuals pooled over the strata
    are tested by Fisher's z (no ``given``) or ``_gcm``. A stratum with too few rows for its
    regression is left out, as the G-test leaves out small strata."""
    discrete = tuple(c for c in given if kind[c] in DISCRETE)
    cont = tuple(c for c in given if kind[c] not in DISCRETE)
    xy = np.column_stack([_values(df[x], kind[x]), _values(df[y], kind[y])])
    design = _design(df, cont, regression, memo)
    if discrete:
        strata = _strata(np.column_stack([_remembered(memo, ("codes", c, kind[c], 2), lambda c=c: _codes(df[c], kind[c], 2))
                                          for c in discrete]))
    else:
        strata = np.zeros(len(df), dtype=np.int64)
    res = np.zeros_like(xy)
    used = np.zeros(len(df), dtype=bool)
    ranks, n_strata, skipped_rows = 0, int(strata.max()) + 1, 0
    order = np.argsort(strata, kind="stable")  # each stratum's rows in table order, as flatnonzero gives them
    ends = np.searchsorted(strata[order], np.arange(1, n_strata + 1))
    for s_ in range(n_strata):
        rows = order[ends[s_ - 1] if s_ else 0:ends[s_]]
        coef, _, rank, _ = np.linalg.lstsq(design[rows], xy[rows], rcond=None)
        if discrete and len(rows) < int(rank) + MIN_STRATUM:
            skipped_rows += len(rows)
            continue
        res[rows] = xy[rows] - design[rows] @ coef
        used[rows] = True
        ranks += int(rank)
    n = int(used.sum())
    dof = n - (ranks - 1) - 3  # n − |given| − 3 for a linear fit; n − p − 3 for p fitted columns in all
    method = ("partial correlation" if given else "correlation") + (" (spline regression)" if cont and regression == "spline" else "")
    if discrete:
        kept = len(np.unique(strata[used]))
        method += f" within {kept} of {n_strata} strata of {', '.join(map(str, discrete))}"
    with_ = interactions and bool(cont)
    if not given:
        method += ", Fisher's z"
    else:
        method += "; generalized covariance measure" + (f", with its interactions with {', '.join(map(str, cont))}"
                                                        if with_ else "")
    if dof < 1:
        if discrete and skipped_rows:
            return CITest(x, y, given, 0.0, 0, 1.0, method + " (no stratum large enough: untested)", n, 0.0)
        p = design.shape[1] - 1
        raise ValueError(
            f"{len(df)} complete rows are too few to test {x} ⟂ {y} given {len(given)} variable(s); need at least {p + 4}"
        )
    res, xy_used = res[used], xy[used]
    scale = res.std(axis=0)
    if (scale <= 1e-10 * (xy_used.std(axis=0) + 1e-300)).any():  # x or y is a function of `given`
        return CITest(x, y, given, 0.0, dof, 1.0, method + " (degenerate: a variable is determined by the others)", n, 0.0)
    r = float(np.clip(np.corrcoef(res[:, 0], res[:, 1])[0, 1], -1 + 1e-15, 1 - 1e-15))
    if not given:  # x ⟂ y: the product's variance is the product of the variances, Fisher's z is exact
        z = float(np.arctanh(r) * np.sqrt(dof))
        p = float(2 * stats.norm.sf(abs(z)))
        own = [c for c in (x, y) if kind[c] == "continuous"]
        if not interactions or not own:
            return CITest(x, y, given, z, dof, p, method, n, r)
        # a dependence through a square (y = x² + noise) leaves the correlation at 0: the product of
        # the two columns weighted by each continuous one finds it. On normal scores (ranks through
        # the normal quantile), whose tails are Gaussian whatever the data's: a skewed column's cubed
        # tail would otherwise break the normal approximation (docs/benchmarks.md, *Checking a graph*).
        scores = np.column_stack([_normal_scores(xy_used[:, i]) if kind[c] == "continuous" else xy_used[:, i]
                                  for i, c in enumerate((x, y))])
        scores -= scores.mean(axis=0)
        p_sq, inter = _weighted(scores[:, 0], scores[:, 1], scores[:, [(x, y).index(c) for c in own]], dof)
        method += f", with the normal scores' product weighted by {' and '.join(map(str, own))} (GCM)"
        return CITest(x, y, given, z, dof, min(1.0, 2 * min(p, p_sq)), method, n, r, inter)
    # weights: the conditioning columns' normal scores (any function of them has mean 0 under the
    # null; these keep a skewed column's tail out of the normal approximation)
    zs = np.column_stack([_normal_scores(_numeric(df[c])[used]) for c in cont]) if with_ else None
    z, p, inter = _gcm(res[:, 0], res[:, 1], zs, dof)
    return CITest(x, y, given, z, dof, p, method, n, r, inter)


def _gcm(rx: np.ndarray, ry: np.ndarray, zs: np.ndarray | None, dof: int) -> tuple[float, float, float | None]:
    """The generalized covariance measure (Shah and Peters 2020) of two residuals: the
    scaled mean of their product, whose variance is estimated from the products themselves
    (so it holds its level where the noise's scale changes with the conditioning columns,
    and Fisher's z, which assumes one variance, does not); scaled by ``sqrt(dof)`` rather
    than ``sqrt(n)`` for the fitted columns, as Fisher's z is, so that the two agree where
    Fisher's z is right. With ``zs`` (the continuous conditioning columns' normal scores)
    also the product weighted by each (``_weighted``): a dependence that changes sign with
    them leaves the residuals uncorrelated and these sums nonzero; the p-value is the
    smaller of the two doubled (Bonferroni).

    Returns the signed statistic, the p-value and the largest |correlation| of one residual
    times a column with the other (None without ``zs``)."""
    prod = rx * ry
    sd = float(prod.std())
    t = float(prod.mean() / sd * np.sqrt(dof)) if sd > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(t)))
    if zs is None:
        return t, p, None
    p_int, inter = _weighted(rx, ry, zs, dof)
    return t, min(1.0, 2 * min(p, p_int)), inter


def _normal_scores(v: np.ndarray) -> np.ndarray:
    """Ranks (ties averaged) through the standard normal quantile."""
    return stats.norm.ppf(stats.rankdata(v) / (len(v) + 1))


def _weighted(rx: np.ndarray, ry: np.ndarray, zs: np.ndarray, dof: int) -> tuple[float, float]:
    """The residuals' product weighted by each standardized column of ``zs``: under
    independence given the conditioning columns every weighted mean is 0; the p-value of
    their chi-square quadratic form (variance from the products themselves, scaled by
    ``dof`` as in ``_gcm``) and the largest |correlation| of one residual times a column
    with the other."""
    h = (zs - zs.mean(axis=0)) / np.where(zs.std(axis=0) > 0, zs.std(axis=0), 1.0)
    w = h * (rx * ry)[:, None]
    sums = w.mean(axis=0)
    cov = np.atleast_2d(np.cov(w, rowvar=False))
    q = float(sums @ np.linalg.pinv(cov) @ sums) * dof
    p_int = float(stats.chi2.sf(q, max(1, np.linalg.matrix_rank(cov))))
    rxh = rx[:, None] * h
    inter = np.abs((rxh * ry[:, None]).sum(axis=0)) / np.sqrt((rxh**2).sum(axis=0) * (ry**2).sum())
    return p_int, float(np.max(inter))


def _codes(s: pd.Series, kind: str, bins: int) -> np.ndarray:
    """Integer codes 0..k-1: categories of a discrete column, quantile bins of a continuous one."""
    if kind in DISCRETE:
        return pd.factorize(s, sort=True)[0].astype(np.int64)
    codes = pd.qcut(_numeric(s), q=bins, labels=False, duplicates="drop")
    return pd.factorize(np.asarray(codes), sort=True)[0].astype(np.int64)


def _strata(codes: np.ndarray) -> np.ndarray:
    """The stratum of each row of ``codes`` (n x k integer codes, each column 0..k_j-1): the
    distinct rows numbered in lexicographic order, as ``np.unique(codes, axis=0,
    return_inverse=True)`` numbers them, by one mixed-radix key per row and a table of the
    keys present (that ``np.unique`` sorts rows of several columns, ~10x slower at 30,000
    rows); ``np.unique`` itself where the table would be large."""
    codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
    sizes = [int(m) + 1 for m in codes.max(axis=0)] if len(codes) else []
    total = int(np.prod(sizes, dtype=object)) if sizes else 1
    if total > max(1 << 22, 4 * len(codes)):
        return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)
    radix = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int64)  # the first column the most significant
    key = codes @ radix
    present = np.bincount(key, minlength=total) > 0
    return (np.cumsum(present) - 1)[key]


def _g_test(df: pd.DataFrame, x: str, y: str, given: tuple[str, ...], kind: Mapping[str, str], bins: int,
            memo: dict | None = None) -> CITest:
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    n = len(df)

    def coded(c: str) -> np.ndarray:
        return _remembered(memo, ("codes", c, kind[c], bins), lambda: _codes(df[c], kind[c], bins))

    cx, cy = coded(x), coded(y)
    if given:
        strata = _strata(np.column_stack([coded(c) for c in given]))
    else:
        strata = np.zeros(n, dtype=np.int64)
    ns, nx, ny = int(strata.max()) + 1, int(cx.max()) + 1, int(cy.max()) + 1
    counts = np.bincount((strata * nx + cx) * ny + cy, minlength=ns * nx * ny).reshape(ns, nx, ny).astype(np.float64)
    size = counts.sum(axis=(1, 2))
    rows, cols = counts.sum(axis=2), counts.sum(axis=1)
    # a stratum counts when it has enough rows and both x and y vary within it
    dof_s = ((rows > 0).sum(axis=1) - 1) * ((cols > 0).sum(axis=1) - 1)
    use = (size >= MIN_STRATUM) & (dof_s > 0)
    c = counts[use]
    expected = rows[use][:, :, None] * cols[use][:, None, :] / np.maximum(size[use], 1)[:, None, None]
    nz = c > 0
    g = float(2 * np.sum(c[nz] * np.log(c[nz] / expected[nz])))
    dof = int(dof_s[use].sum())
    binned = [v for v in (x, y, *given) if kind[v] == "continuous"]
    method = "G-test" + (f" in {int(use.sum())} of {ns} strata" if given else "")
    if binned:
        method += f"; {', '.join(map(str, binned))} in {bins} quantile bins"
    if dof == 0:
        return CITest(x, y, given, 0.0, 0, 1.0, method + " (no stratum large enough: untested)", n, 0.0)
    p = float(stats.chi2.sf(max(g, 0.0), dof))
    return CITest(x, y, given, g, dof, p, method, n, max(g, 0.0) / (2 * n))


# ---------------------------------------------------------------------- a graph's implications
def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given: each is ≥ its raw p-value,
    and they increase with the raw p-values.

    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def checkable_independences(graph: CausalGraph) -> list[Independence]:
    """The independences ``graph`` implies among its table columns (image nodes left out),
    which ``test_implications`` tests (at most ``max_tests`` of them)."""
    return [ind for ind in graph.implied_independences()
            if all(graph.kind(v) != "image" for v in (ind.x, ind.y, *ind.given))]


def test_implications(
    data: pd.DataFrame,
    graph: CausalGraph,
    kinds: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    max_tests: int = 200,
    regression: str = "spline",
    min_strength: float = MIN_STRENGTH,
    mixed: str = "strata",
    interactions: bool = True,
    cache: dict | None = None,
) -> list[ImplicationTest]:
    """Test ``graph.implied_independences()`` on ``data``, sorted by p-value (smallest first).

    Kinds come from ``kinds``, else the graph's declared kinds, else are inferred. Image
    nodes are left out. When there are more than ``max_tests`` implications, those with
    the smallest conditioning sets (the most powerful tests) are run. Holm's correction is
    over the tests run. ``regression``, ``mixed`` and ``interactions`` are ``ci_test``'s; the default here is
    ``"spline"`` (``ci_test``'s is ``"linear"``): a check of a graph must not refute a true
    graph whose mechanisms are nonlinear, and a linear adjustment does (docs/benchmarks.md,
    *Checking a graph against the data*). A rejection weaker than ``min_strength`` is not
    ``relevant`` (see the module docstring). ``cache``: a dict kept across calls on the same
    data and settings (several candidate graphs share most of their implications), so each
    test runs once.

    >>> from causal import datasets
    >>> ds = datasets.load("chain5-lin", n=500, seed=0)
    >>> results = test_implications(ds.data, ds.graph)
    >>> len(results), any(r.rejected_holm for r in results)
    (6, False)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 <= min_strength <= 1:
        raise ValueError(f"min_strength must be between 0 and 1, got {min_strength}")
    nodes = [v for v in graph.nodes if graph.kind(v) != "image"]
    missing = [v for v in nodes if v not in data.columns]
    if missing:
        raise ValueError(
            f"the data have no column for node(s) {', '.join(missing)}; its columns are {', '.join(map(str, data.columns))}"
        )
    kinds = {**{v: k for v, k in graph.kinds.items() if k}, **dict(kinds or {})}
    implied = sorted(checkable_independences(graph), key=lambda ind: len(ind.given))[: max(0, max_tests)]
    cache = {} if cache is None else cache
    tests = []
    for ind in implied:
        key = (ind.x, ind.y, tuple(ind.given))
        if key not in cache:
            cache[key] = ci_test(data, ind.x, ind.y, ind.given, kinds, regression=regression, mixed=mixed,
                                 interactions=interactions)
        tests.append(cache[key])
    adjusted = holm([t.p_value for t in tests])
    results = [
        ImplicationTest(ind, t, alpha, t.p_value < alpha, float(ph), float(ph) < alpha, min_strength)
        for ind, t, ph in zip(implied, tests, adjusted)
    ]
    return sorted(results, key=lambda r: r.test.p_value)


def implications_frame(results: Sequence[ImplicationTest]) -> pd.DataFrame:
    """The results as a table, one row per implication (for display and export)."""
    return pd.DataFrame(
        {
            "independence": [str(r.independence) for r in results],
            "p": [r.test.p_value for r in results],
            "p (Holm)": [r.p_holm for r in results],
            "rejected": [r.rejected for r in results],
            "rejected (Holm)": [r.rejected_holm for r in results],
            "statistic": [r.test.statistic for r in results],
            "dof": [r.test.dof for r in results],
            "effect": [r.test.effect for r in results],
            "strength": [r.strength for r in results],
            "relevant": [r.relevant for r in results],
            "n": [r.test.n for r in results],
            "method": [r.test.method for r in results],
        }
    )


test_implications.__test__ = False  # a library function, not a pytest test (its name starts with test_)
