"""Exact discrete inference (causal.exact) against numbers computed by hand on a 3-node
confounded graph z -> x, z -> y, x -> y."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from causal.exact import MAX_NODES, DiscreteBN, ExactInferenceError
from causal.graph import CausalGraph
from causal.metrics import tvd_to_distribution
from causal.scm import SCM, Mechanism, bernoulli, normal

GRAPH = CausalGraph.parse("z -> x; z -> y; x -> y")
P_Z = 0.5
P_X = np.array([0.2, 0.8])  # P(x=1 | z)
P_Y = np.array([[0.1, 0.4], [0.5, 0.9]])  # P(y=1 | z, x)


def truth_scm() -> SCM:
    return SCM(GRAPH, {
        "z": bernoulli(P_Z),
        "x": bernoulli(lambda pa: P_X[pa["z"]]),
        "y": bernoulli(lambda pa: P_Y[pa["z"], pa["x"]]),
    }, categories={"z": (0, 1), "x": (0, 1), "y": (0, 1)}, name="confounded")


# Hand computations:
#   P(x=1) = .5·.2 + .5·.8 = .5;  P(z=1 | x=1) = .4/.5 = .8
#   P(y=1 | x=1)     = .2·.4 + .8·.9 = .80       (seeing: z shifts toward 1)
#   P(y=1 | do(x=1)) = .5·.4 + .5·.9 = .65       (doing: z keeps its prior)
#   P(y=1) = .5·(.8·.1 + .2·.4) + .5·(.2·.5 + .8·.9) = .08 + .41 = .49
#   P(x=1, y=1) = .5·.2·.4 + .5·.8·.9 = .40  ->  P(x=1 | y=1) = .40/.49
#   P(x=1 | do(y=1)) = P(x=1) = .5            (y is not a cause of x)
#   P(z=1, x=0, y=1) = .5·.2·.5 = .05
HAND = {
    "y|x": 0.80, "y|do x": 0.65, "y": 0.49, "x|y": 0.40 / 0.49, "x|do y": 0.5, "z1x0y1": 0.05,
}


def test_cpts_of_a_bernoulli_scm_are_tabulated_exactly():
    bn = DiscreteBN.from_scm(truth_scm())
    assert bn.exact
    np.testing.assert_allclose(bn.cpts["z"], [0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(bn.cpts["x"][:, 1], P_X, atol=1e-12)
    np.testing.assert_allclose(bn.cpts["y"][..., 1], P_Y, atol=1e-12)  # axes (z, x, y): canonical parent order


def test_seeing_and_doing_match_hand_computed_numbers():
    bn = DiscreteBN.from_scm(truth_scm())
    tol = 1e-10
    assert abs(bn.prob("y", 1, given={"x": 1}) - HAND["y|x"]) < tol
    assert abs(bn.prob("y", 1, do={"x": 1}) - HAND["y|do x"]) < tol
    assert abs(bn.prob("y", 1) - HAND["y"]) < tol
    assert abs(bn.prob("x", 1, given={"y": 1}) - HAND["x|y"]) < tol
    assert abs(bn.prob("x", 1, do={"y": 1}) - HAND["x|do y"]) < tol
    sd = bn.seeing_vs_doing("y", "x", 1)
    assert abs(sd.given - 0.80) < tol and abs(sd.do - 0.65) < tol
    # do on a root equals conditioning on it
    assert abs(bn.prob("y", 1, do={"z": 1}) - bn.prob("y", 1, given={"z": 1})) < tol
    # given and do together: P(y=1 | z=1, do(x=0)) = P(y=1 | z=1, x=0) = .5
    assert abs(bn.prob("y", 1, given={"z": 1}, do={"x": 0}) - 0.5) < tol


def test_joint_is_the_product_of_cpts_and_agrees_with_variable_elimination():
    bn = DiscreteBN.from_scm(truth_scm())
    joint = bn.joint()
    assert joint.variables == ("z", "x", "y")
    assert abs(joint.probs.sum() - 1) < 1e-12
    assert abs(joint.p(1, 0, 1) - HAND["z1x0y1"]) < 1e-12
    ve = bn.query(["z", "x", "y"])
    np.testing.assert_allclose(ve.probs, joint.probs, atol=1e-12)
    # variables in any order; marginals
    yx = bn.query(["y", "x"])
    np.testing.assert_allclose(yx.probs, joint.marginal("y", "x").probs, atol=1e-12)
    assert abs(joint.marginal("y").p(1) - HAND["y"]) < 1e-12
    # the interventional joint: x clamped, z keeps its prior, y follows
    jd = bn.joint(do={"x": 1})
    assert abs(jd.marginal("x").p(1) - 1.0) < 1e-12
    assert abs(jd.marginal("y").p(1) - HAND["y|do x"]) < 1e-12
    np.testing.assert_allclose(bn.query(["z", "y"], do={"x": 1}).probs, jd.marginal("z", "y").probs, atol=1e-12)


def test_fit_counts_a_hand_made_table_and_matches_pgmpy_estimators():
    # 8 rows: P(z=1) = 3/8; P(x=1 | z=0) = 1/5, P(x=1 | z=1) = 2/3
    df = pd.DataFrame({
        "z": [0, 0, 0, 0, 0, 1, 1, 1],
        "x": [0, 0, 0, 0, 1, 0, 1, 1],
        "y": [0, 1, 0, 0, 1, 1, 1, 0],
    })
    bn = DiscreteBN.fit(df, GRAPH)
    assert abs(bn.cpts["z"][1] - 3 / 8) < 1e-12
    np.testing.assert_allclose(bn.cpts["x"][:, 1], [1 / 5, 2 / 3], atol=1e-12)
    # y given (z=0, x=0): rows 0..3 -> y = 0,1,0,0 -> 1/4; (z=1, x=0): one row, y=1
    assert abs(bn.cpts["y"][0, 0, 1] - 0.25) < 1e-12 and abs(bn.cpts["y"][1, 0, 1] - 1.0) < 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgmpy.estimators import BayesianEstimator, MaximumLikelihoodEstimator

        sn = {n: [0, 1] for n in GRAPH.nodes}
        for prior, est in (("mle", MaximumLikelihoodEstimator(bn.pgmpy, df, state_names=sn)),
                           ("bdeu", BayesianEstimator(bn.pgmpy, df, state_names=sn))):
            mine = DiscreteBN.fit(df, GRAPH, prior=prior, strength=5.0).pgmpy
            for n in GRAPH.nodes:
                theirs = est.estimate_cpd(n) if prior == "mle" else est.estimate_cpd(n, prior_type="BDeu", equivalent_sample_size=5)
                ours = mine.get_cpds(n)
                order = [ours.variables.index(v) for v in theirs.variables]
                np.testing.assert_allclose(np.transpose(ours.values, order), theirs.values, atol=1e-12)


def test_fit_on_samples_recovers_the_truth():
    scm = truth_scm()
    df = scm.sample(100_000, seed=0)
    bn = DiscreteBN.fit(df, GRAPH)
    # binomial standard error at n = 100k is at most 0.0016 for a conditional on half the rows
    assert abs(bn.prob("y", 1, do={"x": 1}) - HAND["y|do x"]) < 0.01
    assert abs(bn.prob("y", 1, given={"x": 1}) - HAND["y|x"]) < 0.01
    assert tvd_to_distribution(df, DiscreteBN.from_scm(scm).joint().to_dict(), list(GRAPH.nodes)) < 0.01


def test_unseen_parent_configuration_is_uniform_under_mle_and_smoothed_under_a_prior():
    df = pd.DataFrame({"a": [0, 0, 0, 1], "b": [0, 1, 1, 1]})
    g = CausalGraph.parse("a -> b")
    bn = DiscreteBN.fit(df, g, states={"a": (0, 1, 2), "b": (0, 1)})
    np.testing.assert_allclose(bn.cpts["b"][2], [0.5, 0.5])
    d = DiscreteBN.fit(df, g, prior="dirichlet", strength=1.0)
    np.testing.assert_allclose(d.cpts["b"][0], [2 / 5, 3 / 5])  # (1+1, 2+1) / 5


def test_text_categories_and_string_values():
    df = pd.DataFrame({"s": ["F", "M", "M", "F", "M", "M"], "y": ["lo", "hi", "hi", "lo", "lo", "hi"]})
    bn = DiscreteBN.fit(df, CausalGraph.parse("s -> y"))
    assert bn.states["s"] == ("F", "M")
    assert abs(bn.prob("y", "hi", given={"s": "M"}) - 0.75) < 1e-12
    assert abs(bn.prob("s", "M", do={"y": "hi"}) - 4 / 6) < 1e-12


def test_monte_carlo_for_non_uniform_noise_is_flagged_inexact():
    g = CausalGraph.parse("a -> b")
    scm = SCM(g, {"a": bernoulli(0.3), "b": Mechanism(normal(), lambda pa, u: ((u + pa["a"]) > 0).astype(np.int64))},
              categories={"a": (0, 1), "b": (0, 1)})
    bn = DiscreteBN.from_scm(scm, mc_samples=200_000, seed=0)
    assert not bn.exact and "Monte Carlo" in bn.source
    assert abs(bn.cpts["b"][0, 1] - 0.5) < 0.005  # P(N(0,1) > 0); sd of the estimate 0.0011
    assert abs(bn.cpts["b"][1, 1] - 0.8413) < 0.005  # P(N(0,1) > -1)
    assert abs(bn.cpts["a"][1] - 0.3) < 1e-12  # bernoulli: still exact


def test_image_nodes_are_skipped():
    g = CausalGraph.parse("a -> b; a -> image; b -> image", kinds={"image": "image", "a": "binary", "b": "binary"})
    df = pd.DataFrame({"a": [0, 1, 1, 0], "b": [0, 1, 0, 0]})
    bn = DiscreteBN.fit(df, g)
    assert bn.graph.nodes == ("a", "b")


def test_clear_errors():
    df = pd.DataFrame({"z": [0, 1] * 5, "x": np.linspace(0, 1, 10), "y": [0, 1] * 5})
    with pytest.raises(ExactInferenceError, match="'x'.*continuous"):
        DiscreteBN.fit(df, GRAPH)
    with pytest.raises(ExactInferenceError, match="'x' is continuous"):
        DiscreteBN.fit(df.assign(x=0), GRAPH.with_kinds({"x": "continuous"}))
    big = CausalGraph.from_edges([(f"n{i}", f"n{i + 1}") for i in range(MAX_NODES)])
    with pytest.raises(ExactInferenceError, match="21 nodes.*up to 20"):
        DiscreteBN.fit(pd.DataFrame({n: [0, 1] for n in big.nodes}), big)
    with pytest.raises(ExactInferenceError, match="no column for node"):
        DiscreteBN.fit(df[["z", "y"]], GRAPH)
    bn = DiscreteBN.from_scm(truth_scm())
    with pytest.raises(ExactInferenceError, match="unknown node 'w'"):
        bn.prob("w", 1)
    with pytest.raises(ExactInferenceError, match="'x' has no value 7"):
        bn.prob("y", 1, do={"x": 7})
    with pytest.raises(ExactInferenceError, match="both queried and fixed"):
        bn.query("x", given={"x": 1})
    with pytest.raises(ExactInferenceError, match="contradicts"):
        bn.query("y", given={"x": 0}, do={"x": 1})
    with pytest.raises(ExactInferenceError, match="unknown prior"):
        DiscreteBN.fit(df.assign(x=0), GRAPH, prior="jeffreys")
    zero = DiscreteBN(CausalGraph.parse("a -> b"), {"a": (0, 1), "b": (0, 1)},
                      {"a": np.array([1.0, 0.0]), "b": np.array([[0.5, 0.5], [0.5, 0.5]])})
    with pytest.raises(ExactInferenceError, match="probability 0"):
        zero.prob("b", 1, given={"a": 1})
    assert abs(zero.prob("b", 1, do={"a": 1}) - 0.5) < 1e-12  # but intervening on it is fine


def test_module_doctest():
    import doctest

    import causal.exact

    assert doctest.testmod(causal.exact).failed == 0
