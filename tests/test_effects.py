"""Seeing versus doing on categorical outcomes (``causal.effects``): probabilities of each
category under observation, conditioning and intervention, effects as differences of
probabilities with intervals, the exact answer of a discrete Bayesian network beside them,
and the flag on answers that extrapolate beyond the training data."""

from __future__ import annotations

import numpy as np
import pytest

from causal import datasets
from causal.effects import EXACT, GAP, average_effects, compare, effect_of, exact_do, extrapolation
from causal.exact import DiscreteBN
from causal.graph import CausalGraph
from causal.scm import SCM, Mechanism, bernoulli, uniform

GRAPH = CausalGraph.parse("z -> x; z -> y; x -> y")
P_X = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])  # P(x = low, mid, high | z)
P_Y = np.array([[0.1, 0.3, 0.5], [0.4, 0.6, 0.9]])  # P(y = yes | z, x)
LEVELS = ("low", "mid", "high")


def categorical(probs) -> Mechanism:
    """A node drawn from a table of category probabilities given its parents (u ~ U(0, 1))."""
    def f(pa, u):
        cum = np.cumsum(probs(pa), axis=-1)
        return (u[:, None] >= cum[:, :-1]).sum(axis=1).astype(np.int64)

    return Mechanism(uniform, f)


def scm() -> SCM:
    """z (0/1) confounds x (three text levels) and y (no / yes)."""
    return SCM(GRAPH, {
        "z": bernoulli(0.5),
        "x": categorical(lambda pa: P_X[pa["z"]]),
        "y": bernoulli(lambda pa: P_Y[pa["z"], pa["x"]]),
    }, categories={"z": (0, 1), "x": LEVELS, "y": ("no", "yes")}, name="confounded-levels")


def exact_y(given_x: int | None = None, do_x: int | None = None) -> float:
    """P(y = yes | x) or P(y = yes | do(x)) by hand."""
    pz = np.array([0.5, 0.5])
    if given_x is not None:
        w = pz * P_X[:, given_x]
        return float((w / w.sum()) @ P_Y[:, given_x])
    return float(pz @ P_Y[:, do_x])


def test_categorical_outcomes_get_probabilities_not_means() -> None:
    truth = scm()
    bn = DiscreteBN.from_scm(truth)
    c = compare(truth, "x", "high", n=20_000, seed=0, exact=bn)
    assert c.numeric() == ["z"] and c.categorical() == ["x", "y"]
    assert list(c.means().index) == ["z"]  # no mean of text, nor of category codes
    probs = c.probabilities()
    assert list(probs.index) == [("x", v) for v in LEVELS] + [("y", "no"), ("y", "yes")]
    for col in ("observational", "given", "do", EXACT):
        assert probs[col].groupby(level="node").sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert probs.loc[("x", "high"), "do"] == 1.0 and probs.loc[("x", "high"), EXACT] == 1.0
    # seeing is not doing: z confounds x and y
    assert probs.loc[("y", "yes"), "given"] == pytest.approx(exact_y(given_x=2), abs=0.02)
    assert probs.loc[("y", "yes"), "do"] == pytest.approx(exact_y(do_x=2), abs=0.02)
    assert probs.loc[("y", "yes"), EXACT] == pytest.approx(exact_y(do_x=2), abs=1e-9)
    assert probs.loc[("y", "yes"), GAP] == pytest.approx(exact_y(given_x=2) - exact_y(do_x=2), abs=0.03)
    assert c.exact_source.startswith("SCM confounded-levels")


def test_effects_on_categories_are_differences_of_probabilities_with_intervals() -> None:
    truth = scm()
    bn = DiscreteBN.from_scm(truth)
    e = average_effects(truth, "x", "high", "low", n=20_000, seed=0, truth=truth, exact=bn)
    assert list(e.table.index) == ["z", "y = yes"]  # a two-valued outcome: one row; the intervened node: none
    assert e.outcome_of == {"z": ("z", None), "y = yes": ("y", "yes")}
    row = e.table.loc["y = yes"]
    want = exact_y(do_x=2) - exact_y(do_x=0)
    assert row["exact"] == pytest.approx(want, abs=1e-9)
    assert row["low"] < row["effect"] < row["high"] and abs(row["effect"] - want) < 2 * (row["high"] - row["low"])
    assert row["truth"] == pytest.approx(want, abs=0.03)
    assert e.table.loc["z", "effect"] == 0.0  # a cause of x does not move
    assert "extrapolated" not in e.table.columns  # an SCM has no support check


def test_exact_do_answers_only_what_the_network_knows() -> None:
    bn = DiscreteBN.from_scm(scm())
    probs = exact_do(bn, "x", "mid", ["z", "y"])
    assert probs["x"] == {"low": 0.0, "mid": 1.0, "high": 0.0} and probs["z"][1] == pytest.approx(0.5)
    assert exact_do(bn, "x", "unheard-of", ["y"]) is None and exact_do(None, "x", "mid", ["y"]) is None


def test_extrapolation_is_flagged_per_outcome_and_beside_the_effect() -> None:
    """triangle-nlin, do(x2 = 14): x1 keeps its law, so x3's mechanism meets (x1, x2) pairs the
    data never show: its answer extrapolates (the model's effect even has the wrong sign)."""
    from generators import build_model

    ds = datasets.load("triangle-nlin", n=2000, seed=0)
    model = build_model("causal-gen", ds.graph, hidden=16, steps=150)
    model.fit(ds.data, seed=0)
    far = compare(model, "x2", 14.0, n=2000, seed=0)
    assert far.extrapolated()["x1"] == 0.0 and far.extrapolated()["x3"] > 0.9
    near = compare(model, "x2", float(ds.data.x2.median()), n=2000, seed=0)
    assert near.extrapolated()["x3"] < far.extrapolated()["x3"] / 2
    flags = extrapolation(model, far.do, ["x2"])
    assert not flags["x2"].any()  # set by the intervention, not computed
    a = model.sample(2000, do={"x2": 2.0}, seed=0)
    e = effect_of("x2", 14.0, 2.0, a, far.do, model=model)
    assert e.table.loc["x3", "extrapolated"] > 0.9 and e.flagged() == ["x3"]
    assert extrapolation(ds.scm, a) is None  # no support check: nothing to say
