"""Metrics exactly as ``benchmarks.md`` defines them: interventional MMD² (with its oracle
floor), counterfactual RMSE, ATE error, and total variation between discrete joints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Standardizer:
    """Per-column mean and standard deviation, taken from the training data."""

    columns: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: Sequence[str] | None = None) -> "Standardizer":
        cols = tuple(columns or df.columns)
        x = df[list(cols)].to_numpy(dtype=np.float64)
        sd = x.std(axis=0)
        return cls(cols, x.mean(axis=0), np.where(sd > 0, sd, 1.0))

    def __call__(self, df: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
        cols = list(columns or self.columns)
        idx = [self.columns.index(c) for c in cols]
        return (df[cols].to_numpy(dtype=np.float64) - self.mean[idx]) / self.std[idx]


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def median_pairwise_distance(x: np.ndarray) -> float:
    """Median Euclidean distance over distinct pairs of rows."""
    d = _sqdist(x, x)
    iu = np.triu_indices(len(x), k=1)
    return float(np.median(np.sqrt(d[iu])))  # median of distances, not root of median squared distance


@dataclass(frozen=True)
class MMD:
    """A biased MMD² estimate and the kernel it used."""

    value: float
    bandwidth: float
    n_x: int
    n_y: int

    def __float__(self) -> float:
        return self.value


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> MMD:
    """Biased MMD² with a Gaussian kernel ``exp(-|a-b|² / (2 h²))``.

    ``h`` defaults to the median pairwise distance within ``x`` plus that within ``y``
    (the benchmark's rule). Inputs should already be standardized (``Standardizer``).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    h = bandwidth if bandwidth is not None else median_pairwise_distance(x) + median_pairwise_distance(y)
    h = h if h > 0 else 1.0
    g = 1.0 / (2.0 * h * h)
    kxx = np.exp(-g * _sqdist(x, x)).mean()
    kyy = np.exp(-g * _sqdist(y, y)).mean()
    kxy = np.exp(-g * _sqdist(x, y)).mean()
    return MMD(float(kxx + kyy - 2.0 * kxy), float(h), len(x), len(y))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean squared error over every entry."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def counterfactual_rmse(
    model_cf: pd.DataFrame, true_cf: pd.DataFrame, scale: Standardizer, columns: Sequence[str] | None = None
) -> float:
    """RMSE between model and true counterfactuals on standardized coordinates."""
    cols = list(scale.columns if columns is None else columns)
    if not cols:  # e.g. the descendants of an intervened sink: nothing to compare
        return 0.0
    return rmse(scale(model_cf, cols), scale(true_cf, cols))


def ate(samples_b: pd.DataFrame, samples_a: pd.DataFrame, outcome: str) -> float:
    """E[outcome | do(b)] - E[outcome | do(a)] from two interventional samples."""
    return float(samples_b[outcome].astype(float).mean() - samples_a[outcome].astype(float).mean())


def tvd(x: pd.DataFrame, y: pd.DataFrame, columns: Sequence[str] | None = None) -> float:
    """Total variation distance between the empirical joints of discrete columns."""
    cols = list(columns or x.columns)
    px = x[cols].astype(str).value_counts(normalize=True)
    py = y[cols].astype(str).value_counts(normalize=True)
    px, py = px.align(py, fill_value=0.0)
    return float(0.5 * np.abs(px.to_numpy() - py.to_numpy()).sum())


def tvd_to_distribution(x: pd.DataFrame, probs: dict[tuple[Any, ...], float], columns: Sequence[str]) -> float:
    """TVD between the empirical joint of ``x[columns]`` and an exact distribution."""
    counts = x[list(columns)].value_counts(normalize=True)
    emp = {tuple(k if isinstance(k, tuple) else (k,)): float(v) for k, v in counts.items()}
    keys = set(emp) | set(probs)
    return 0.5 * sum(abs(emp.get(k, 0.0) - probs.get(k, 0.0)) for k in keys)
