"""Metrics as benchmarks.md defines them: MMD² (Gaussian kernel, median-rule bandwidth), RMSE,
counterfactual RMSE on standardized coordinates, ATE, and TVD between discrete joints."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from causal.metrics import (
    MMD,
    Standardizer,
    ate,
    counterfactual_rmse,
    median_pairwise_distance,
    mmd2,
    rmse,
    tvd,
    tvd_to_distribution,
)


def mmd2_by_hand(x, y, h) -> float:
    k = lambda a, b: math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * h * h))  # noqa: E731
    kxx = sum(k(a, b) for a in x for b in x) / len(x) ** 2
    kyy = sum(k(a, b) for a in y for b in y) / len(y) ** 2
    kxy = sum(k(a, b) for a in x for b in y) / (len(x) * len(y))
    return kxx + kyy - 2 * kxy


# ---------------------------------------------------------------------- MMD
def test_median_rule_bandwidth_on_a_hand_example():
    x = [[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]  # pair distances 5, 1, sqrt(18): median sqrt(18)
    y = [[1.0, 1.0], [1.0, 2.0], [1.0, 4.0], [1.0, 8.0]]  # 1, 3, 7, 2, 6, 4: median 3.5
    assert median_pairwise_distance(np.array(x)) == pytest.approx(math.sqrt(18))
    assert median_pairwise_distance(np.array(y)) == pytest.approx(3.5)
    m = mmd2(np.array(x), np.array(y))
    h = math.sqrt(18) + 3.5
    assert isinstance(m, MMD)
    assert m.bandwidth == pytest.approx(h)
    assert (m.n_x, m.n_y) == (3, 4)
    assert m.value == pytest.approx(mmd2_by_hand(x, y, h), rel=1e-12)
    assert float(m) == m.value
    # an explicit bandwidth is used as given
    fixed = mmd2(np.array(x), np.array(y), bandwidth=1.0)
    assert fixed.bandwidth == 1.0
    assert fixed.value == pytest.approx(mmd2_by_hand(x, y, 1.0), rel=1e-12)


def test_one_dimensional_input_and_degenerate_bandwidth():
    x = np.array([0.0, 1.0, 3.0])
    m = mmd2(x, np.array([0.0, 2.0]))
    assert m.bandwidth == pytest.approx(2.0 + 2.0)
    assert m.value == pytest.approx(mmd2_by_hand([[0.0], [1.0], [3.0]], [[0.0], [2.0]], 4.0), rel=1e-12)
    const = mmd2(np.zeros(5), np.zeros(4))
    assert const.bandwidth == 1.0 and const.value == pytest.approx(0.0, abs=1e-12)


def test_mmd_of_identical_samples_is_zero_and_same_law_is_near_the_floor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    assert mmd2(x, x).value == pytest.approx(0.0, abs=1e-12)
    same = mmd2(x, rng.normal(size=(300, 2))).value
    shifted = mmd2(x, rng.normal(size=(300, 2)) + [1.0, 0.0]).value
    # biased floor ~ 2 (1 - E k) / n ~ 0.002 at n = 300; a unit shift gives ~ 0.06
    assert 0 <= same < 0.01
    assert shifted > 0.03
    assert shifted > 5 * same
    assert mmd2(x, rng.normal(size=(300, 2)) + [2.0, 0.0]).value > shifted


# ---------------------------------------------------------------------- errors
def test_rmse():
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(math.sqrt(12.5))
    assert rmse(np.ones((2, 3)), np.ones((2, 3))) == 0.0
    assert rmse([[1.0, 2.0]], [[2.0, 4.0]]) == pytest.approx(math.sqrt(2.5))


def test_standardizer():
    df = pd.DataFrame({"a": [1.0, 3.0, 5.0, 7.0], "b": [2.0, 2.0, 2.0, 2.0]})
    s = Standardizer.fit(df)
    assert s.columns == ("a", "b")
    np.testing.assert_allclose(s.mean, [4.0, 2.0])
    np.testing.assert_allclose(s.std, [math.sqrt(5.0), 1.0])  # population sd; a constant keeps sd 1
    np.testing.assert_allclose(s(df)[:, 0], (df["a"] - 4.0) / math.sqrt(5.0))
    np.testing.assert_allclose(s(df, ["b"]), np.zeros((4, 1)))


def test_counterfactual_rmse_on_standardized_coordinates():
    train = pd.DataFrame({"a": [0.0, 2.0, 4.0, 6.0], "b": [0.0, 10.0, 20.0, 30.0]})
    scale = Standardizer.fit(train)  # sd(a) = sqrt(5), sd(b) = 5 sqrt(5)
    truth = pd.DataFrame({"a": [1.0, 2.0], "b": [5.0, 5.0]})
    model = pd.DataFrame({"a": [1.0 + math.sqrt(5), 2.0], "b": [5.0, 5.0 + 5 * math.sqrt(5)]})
    # standardized errors: a -> (1, 0), b -> (0, 1): RMSE over 4 entries = sqrt(2/4)
    assert counterfactual_rmse(model, truth, scale) == pytest.approx(math.sqrt(0.5))
    assert counterfactual_rmse(model, truth, scale, ["a"]) == pytest.approx(math.sqrt(0.5))
    assert counterfactual_rmse(truth, truth, scale) == 0.0
    # an empty descendant set (intervening on a sink) has nothing to compare
    assert counterfactual_rmse(model, truth, scale, []) == 0.0


def test_ate():
    b = pd.DataFrame({"y": [3.0, 5.0]})
    a = pd.DataFrame({"y": [1.0, 1.0]})
    assert ate(b, a, "y") == pytest.approx(3.0)


# ---------------------------------------------------------------------- TVD
def test_tvd_identical_and_disjoint():
    x = pd.DataFrame({"a": [0, 1, 1, 0], "b": ["u", "v", "u", "v"]})
    assert tvd(x, x) == 0.0
    assert tvd(x, x.sample(frac=1.0, random_state=0)) == pytest.approx(0.0)
    y = pd.DataFrame({"a": [2, 3], "b": ["w", "w"]})
    assert tvd(x, y) == pytest.approx(1.0)
    assert tvd(x, y, ["a"]) == pytest.approx(1.0)


def test_tvd_partial_overlap():
    x = pd.DataFrame({"a": [0, 0, 1, 1]})  # (0.5, 0.5)
    y = pd.DataFrame({"a": [0, 0, 0, 1]})  # (0.75, 0.25)
    assert tvd(x, y) == pytest.approx(0.25)
    xy = pd.DataFrame({"a": [0, 0, 1, 1], "b": [0, 1, 0, 1]})
    # marginally identical to x, but the joint differs from (a, a)
    assert tvd(xy, xy.assign(b=xy["a"]), ["a"]) == 0.0
    assert tvd(xy, xy.assign(b=xy["a"])) == pytest.approx(0.5)


def test_tvd_to_distribution():
    x = pd.DataFrame({"a": [0, 0, 1, 1], "b": [0, 1, 1, 1]})
    assert tvd_to_distribution(x, {(0,): 0.5, (1,): 0.5}, ["a"]) == pytest.approx(0.0)
    assert tvd_to_distribution(x, {(0,): 1.0}, ["a"]) == pytest.approx(0.5)
    exact = {(0, 0): 0.25, (0, 1): 0.25, (1, 1): 0.5}
    assert tvd_to_distribution(x, exact, ["a", "b"]) == pytest.approx(0.0)
    other = {(0, 0): 0.5, (1, 0): 0.5}
    # empirical (0,0) .25, (0,1) .25, (1,1) .5 against (0,0) .5, (1,0) .5: 0.5 (.25 + .25 + .5 + .5)
    assert tvd_to_distribution(x, other, ["a", "b"]) == pytest.approx(0.75)
    s = pd.DataFrame({"sex": ["F", "M", "M", "M"]})
    assert tvd_to_distribution(s, {("F",): 0.5, ("M",): 0.5}, ["sex"]) == pytest.approx(0.25)
