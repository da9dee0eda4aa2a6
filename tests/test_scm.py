"""Ground-truth SCMs and built-in datasets: shapes, abduction, and the equations of benchmarks.md."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from causal import SCM, CausalGraph, Mechanism, NotIdentifiableError, datasets
from causal.datasets import pendulum_shadow, softplus

NAMES = datasets.names()


def scm(name: str) -> SCM:
    return datasets.info(name).scm


def predict(name: str, node: str, u: float = 0.0, **parents: float) -> float:
    """One structural equation evaluated at given parents and noise."""
    pa = {k: np.array([v]) for k, v in parents.items()}
    return float(np.asarray(scm(name).predict(node, pa, np.array([u]))).ravel()[0])


# ---------------------------------------------------------------------- registry
def test_list_has_the_benchmark_datasets():
    assert set(NAMES) >= {
        "triangle-lin", "triangle-nlin", "chain5-lin", "fork-nlin", "simpson-nlin",
        "simpson-symprod", "large-backdoor", "loan", "pendulum",
    }


def test_unknown_dataset_lists_the_names():
    with pytest.raises(ValueError, match="unknown dataset 'nope'; the built-in datasets are .*triangle-lin.*loan"):
        datasets.info("nope")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        datasets.load("nope")


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_loads(name):
    ds = datasets.load(name, n=64, seed=0)
    assert ds.name == name and ds.description
    assert tuple(ds.data.columns) == ds.graph.nodes == ds.scm.graph.nodes
    assert ds.data.shape == (64, len(ds.graph))
    assert not ds.data.isna().any().any()
    assert np.isfinite(ds.data.to_numpy(float)).all()
    assert set(ds.intervene_on) <= set(ds.graph.nodes)
    assert ds.graph.same_structure(datasets.info(name).graph)
    pd.testing.assert_frame_equal(ds.data, datasets.load(name, n=64, seed=0).data)


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_shows_an_equation_for_every_node(name):
    text = datasets.info(name).equations
    for node in datasets.info(name).graph.nodes:
        assert re.search(rf"(^|\n){re.escape(node)} = ", text), f"{name}: no equation for {node}"


@pytest.mark.parametrize("name", NAMES)
def test_abduction_then_prediction_reproduces_the_data(name):
    ds = datasets.load(name, n=256, seed=3)
    for node in (ds.graph.nodes[0],) + ds.intervene_on:
        cf = ds.scm.counterfactual(ds.data, do={node: ds.data[node].to_numpy()}, seed=0)
        np.testing.assert_allclose(cf.to_numpy(float), ds.data.to_numpy(float), rtol=0, atol=1e-9, err_msg=node)


@pytest.mark.parametrize("name", NAMES)
def test_abduct_inverts_predict(name):
    m = scm(name)
    rng = np.random.default_rng(0)
    vals = m.sample(128, seed=1)
    codes = m.schema.encode(vals)
    for node in m.graph.nodes:
        pa = {p: codes[p] for p in m.graph.parents(node)}
        u = m.abduct(node, codes[node], pa, rng)
        np.testing.assert_allclose(m.predict(node, pa, u), codes[node], atol=1e-9, err_msg=node)


# ---------------------------------------------------------------------- equations at hand-computed points
# For additive mechanisms the noise argument is the drawn noise itself, scale included (for
# chain5-lin x3 it is 2·u3); the scales are checked by test_noise_distribution below.
def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def test_softplus():
    np.testing.assert_allclose(softplus(np.array([0.0, 1.0, -30.0, 40.0])), [math.log(2), sp(1.0), sp(-30.0), 40.0])


@pytest.mark.parametrize(
    "name, node, u, parents, expected",
    [
        ("triangle-lin", "x1", 0.3, {}, 1.3),
        ("triangle-lin", "x2", 0.0, {"x1": 2.0}, 20.0),
        ("triangle-lin", "x3", 0.0, {"x1": 1.0, "x2": 4.0}, 3.0),
        ("triangle-nlin", "x2", 0.5, {"x1": 1.5}, 2 * 1.5**2 + 0.5),
        ("triangle-nlin", "x3", 0.0, {"x1": 1.0, "x2": 1.0}, 10.0),  # 20 / (1 + exp(-1 + 1))
        ("triangle-nlin", "x3", 0.0, {"x1": 0.0, "x2": 0.0}, 10.0),
        ("triangle-nlin", "x3", 0.0, {"x1": 0.0, "x2": 2.0}, 20 / (1 + math.exp(-4))),
        ("chain5-lin", "x2", 0.0, {"x1": 0.3}, 3.0),
        ("chain5-lin", "x3", 0.0, {"x2": 4.0}, 1.0),
        ("chain5-lin", "x4", 0.0, {"x3": 1.5}, 1.5),
        ("chain5-lin", "x5", 0.0, {"x4": 1.5}, -1.5),
        ("fork-nlin", "x3", 0.0, {"x1": 0.0, "x2": 0.0}, 2.0),  # 4 / 2 - 0
        ("fork-nlin", "x3", 0.0, {"x1": 1.0, "x2": -1.0}, 2.0 - 1.0),
        ("fork-nlin", "x4", 0.0, {"x3": 2.0}, 10.0),  # 20 / (1 + exp(2 - 2))
        ("fork-nlin", "x4", 0.0, {"x3": 1.0}, 20 / (1 + math.exp(-0.5))),
        ("simpson-nlin", "x2", 0.0, {"x1": 1.0}, math.log(2)),  # s(0)
        ("simpson-nlin", "x3", 0.0, {"x1": 0.0, "x2": 0.0}, -1.0),
        ("simpson-nlin", "x3", 0.5, {"x1": 2.0, "x2": 0.25}, math.tanh(0.5) + 3.0 - 1 + math.tanh(0.5)),
        ("simpson-nlin", "x4", 0.0, {"x3": 4.0}, 3.0),
        ("simpson-symprod", "x2", 0.0, {"x1": 0.5}, 2 * math.tanh(1.0)),
        ("simpson-symprod", "x3", 0.0, {"x1": 2.0, "x2": 3.0}, 3.0),
        ("large-backdoor", "x1", 0.0, {}, math.log(2) - 1),
        ("large-backdoor", "x1", 1.0, {}, sp(1.8) - 1),
        ("large-backdoor", "x2", 0.0, {"x1": 0.0}, 1.5 * (sp(1) + sp(0.5) - 3)),
        ("large-backdoor", "x2", 1.0, {"x1": -1.0}, 0.25 + 1.5 * (math.log(2) + sp(0.5) - 3)),
        ("large-backdoor", "x3", 0.5, {"x1": 1.0}, sp(2.0) + sp(1.0) - 3),  # L(x1, u3)
        ("large-backdoor", "x7", 0.0, {"x5": -1.0}, math.log(2) + sp(0.5) - 3),
        ("large-backdoor", "x8", 1.0, {"x6": 0.0}, 0.3 + sp(1) - 1),
        ("large-backdoor", "x9", 0.5, {"x7": 0.0, "x8": 0.0}, -sp(1.0) + 2),  # Laplace median = location
        # Laplace quantile at 0.75 with scale 0.6: location + 0.6 ln 2
        ("large-backdoor", "x9", 0.75, {"x7": 3.0, "x8": -0.9}, -sp(2.0) + 2 + 0.6 * math.log(2)),
        ("loan", "age", 35.0, {}, 0.0),  # -35 + Gamma draw
        ("loan", "edu", 0.0, {"A": 1, "age": 0.0}, -0.5 + 1 / (1 + math.exp(-(-1 + 0.5 + 0.5)))),
        ("loan", "amount", 0.0, {"A": 1, "age": 5.0}, 2.0),
        ("loan", "amount", 0.0, {"A": 0, "age": 15.0}, 1 + 0.01 * 10 * (-10)),
        ("loan", "duration", 0.0, {"A": 1, "age": 10.0, "amount": 3.0}, -1 + 1 + 2 + 3),
        ("loan", "income", 0.0, {"A": 1, "age": 5.0, "edu": 0.2}, -4 + 4.0 + 2 + 0.2),
        ("loan", "income", 0.0, {"A": 0, "age": 5.0, "edu": 0.2}, 0.0),
        ("loan", "savings", 0.0, {"income": 2.0}, -1.0),
        ("loan", "savings", 0.0, {"income": -2.0}, -4.0),
        ("pendulum", "pendulum_angle", 74.7, {}, 38.7),  # -36 + 74.7 U(0, 1)
        ("pendulum", "light_angle", 78.3, {}, 132.3),  # 54 + 78.3 U(0, 1)
        ("pendulum", "shadow_position", 0.0, {"pendulum_angle": 0.0, "light_angle": 90.0}, 10.0),
        ("pendulum", "shadow_length", 0.0, {"pendulum_angle": 0.0, "light_angle": 90.0}, 3.0),
    ],
)
def test_equation(name, node, u, parents, expected):
    assert predict(name, node, u, **parents) == pytest.approx(expected, abs=1e-9)


def test_loan_A_is_bernoulli_half():
    m = scm("loan")
    assert m.predict("A", {}, np.array([0.1, 0.49, 0.51, 0.9])).tolist() == [1, 1, 0, 0]
    assert m.schema["A"].kind == "binary" and m.schema["A"].categories == (0, 1)


# ---------------------------------------------------------------------- noise laws (20,000 draws)
# Standard errors: mean sd/141, sd about sd/200; tolerances are > 5 standard errors.
@pytest.mark.parametrize(
    "name, node, mean, sd",
    [
        ("triangle-lin", "x1", 0.0, 1.0),
        ("chain5-lin", "x3", 0.0, 2.0),
        ("fork-nlin", "x3", 0.0, 0.5),
        ("simpson-nlin", "x2", 0.0, math.sqrt(3 / 20)),
        ("simpson-symprod", "x2", 0.0, 1 / math.sqrt(10)),
        ("large-backdoor", "x4", 0.5, math.sqrt(1 / 12)),  # U(0, 1)
        ("loan", "age", 35.0, math.sqrt(10) * 3.5),  # Gamma(10, scale 3.5)
        ("loan", "edu", 0.0, 0.5),
        ("loan", "income", 0.0, 2.0),
        ("loan", "savings", 0.0, 5.0),
        ("pendulum", "pendulum_angle", 74.7 / 2, 74.7 / math.sqrt(12)),
        ("pendulum", "shadow_length", 0.0, 0.1),
    ],
)
def test_noise_distribution(name, node, mean, sd):
    u = scm(name).noise(node, 20_000, np.random.default_rng(0))
    assert u.mean() == pytest.approx(mean, abs=0.03 * sd + 1e-12)
    assert u.std() == pytest.approx(sd, rel=0.03)


def test_triangle_lin_interventional_means():
    # do(x1 = 0): x2 = u2, x3 = 0.5 u2 + u3, so both have mean 0 (sd 1 and 1.12); 20,000 draws.
    df = scm("triangle-lin").sample(20_000, do={"x1": 0.0}, seed=0)
    assert df["x2"].mean() == pytest.approx(0.0, abs=0.05)
    assert df["x3"].mean() == pytest.approx(0.0, abs=0.05)
    assert df["x3"].std() == pytest.approx(math.sqrt(1.25), rel=0.03)
    obs = scm("triangle-lin").sample(20_000, seed=0)
    # x1 ~ N(1, 1); x2 = 10 x1 + u2 ~ N(10, 101); x3 = 6 x1 + 0.5 u2 + u3 - ... mean 6
    assert obs["x1"].mean() == pytest.approx(1.0, abs=0.05)
    assert obs["x2"].mean() == pytest.approx(10.0, abs=0.4)
    assert obs["x2"].var() == pytest.approx(101.0, rel=0.04)
    assert obs["x3"].mean() == pytest.approx(6.0, abs=0.25)


def test_chain5_lin_interventional_law():
    # do(x2 = 4): x3 = 1 + 2 u3, x4 = x3 + u4, x5 = -x4 + u5: means 1, 1, -1; var(x5) = 4 + 1 + 1.
    df = scm("chain5-lin").sample(20_000, do={"x2": 4.0}, seed=0)
    assert df["x3"].mean() == pytest.approx(1.0, abs=0.06)
    assert df["x5"].mean() == pytest.approx(-1.0, abs=0.08)
    assert df["x5"].var() == pytest.approx(6.0, rel=0.05)
    assert df["x1"].std() == pytest.approx(1.0, rel=0.03)


# ---------------------------------------------------------------------- pendulum geometry
def shadow_by_hand(theta_deg: float, phi_deg: float) -> tuple[float, float]:
    """benchmarks.md: proj(x, y) = x + (-0.5 - y) cot(phi); pivot (10, 10.5); rod 9.5."""
    th, ph = math.radians(theta_deg), math.radians(phi_deg)
    cot = math.cos(ph) / math.sin(ph)
    tip = (10 + 9.5 * math.sin(th), 10.5 - 9.5 * math.cos(th))
    a = 10 + (-0.5 - 10.5) * cot
    b = tip[0] + (-0.5 - tip[1]) * cot
    return (a + b) / 2, max(3.0, abs(a - b))


@pytest.mark.parametrize(
    "theta, phi, position, length",
    [
        # theta = 0: the rod hangs straight down, the tip at (10, 1): pivot -> 10 - 11 cot(phi),
        # tip -> 10 - 1.5 cot(phi); position 10 - 6.25 cot(phi), length max(3, 9.5 |cot(phi)|).
        (0.0, 90.0, 10.0, 3.0),
        (0.0, 45.0, 10 - 6.25, 9.5),
        (0.0, 135.0, 10 + 6.25, 9.5),
        (0.0, 80.0, 10 - 6.25 / math.tan(math.radians(80)), 3.0),  # 9.5 cot 80° = 1.68 < 3
        (0.0, 60.0, 10 - 6.25 / math.tan(math.radians(60)), 9.5 / math.tan(math.radians(60))),
        # light overhead (cot = 0): the shadow is the rod's horizontal extent
        (30.0, 90.0, 10 + 4.75 / 2, 4.75),
        (-30.0, 90.0, 10 - 4.75 / 2, 4.75),
    ],
)
def test_pendulum_shadow(theta, phi, position, length):
    pos, ln = pendulum_shadow(np.array([theta]), np.array([phi]))
    assert pos[0] == pytest.approx(position, abs=1e-9)
    assert ln[0] == pytest.approx(length, abs=1e-9)
    assert (pos[0], ln[0]) == pytest.approx(shadow_by_hand(theta, phi), abs=1e-9)


def test_pendulum_shadow_matches_the_formula_on_a_grid():
    th = np.linspace(-36, 38.7, 7)
    ph = np.linspace(54, 132.3, 5)
    T, P = np.meshgrid(th, ph)
    pos, ln = pendulum_shadow(T.ravel(), P.ravel())
    expected = np.array([shadow_by_hand(t, p) for t, p in zip(T.ravel(), P.ravel())])
    np.testing.assert_allclose(np.c_[pos, ln], expected, atol=1e-9)


def test_pendulum_angles_in_range():
    df = datasets.load("pendulum", n=2000, seed=0).data
    assert df["pendulum_angle"].between(-36.0, 38.7).all()
    assert df["light_angle"].between(54.0, 132.3).all()
    assert df["pendulum_angle"].min() < -30 and df["pendulum_angle"].max() > 32
    assert (df["shadow_length"] > 3.0 - 0.5).all()  # max(3, .) + 0.1 u


# ---------------------------------------------------------------------- SCM construction
def test_scm_needs_a_mechanism_per_node_and_an_inverse_for_counterfactuals():
    g = CausalGraph.parse("a -> b")
    from causal.scm import additive, normal

    with pytest.raises(ValueError, match=r"no mechanism for node\(s\) b"):
        SCM(g, {"a": additive(lambda pa: 0.0, normal())}, name="t")
    m = SCM(g, {
        "a": additive(lambda pa: 0.0, normal()),
        "b": Mechanism(normal(), lambda pa, u: pa["a"] + u**2),  # not invertible
    }, name="t")
    rows = m.sample(10, seed=0)
    with pytest.raises(NotIdentifiableError, match="'b' in t cannot be inverted"):
        m.counterfactual(rows, do={"a": 1.0})
    # a do on b itself needs no abduction of b
    assert (m.counterfactual(rows, do={"b": 1.0})["b"] == 1.0).all()
