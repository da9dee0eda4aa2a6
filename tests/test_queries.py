"""Query semantics (observational, interventional, conditional, counterfactual), tested on the
ground-truth SCMs, which satisfy the same ``Mechanisms`` protocol as the neural models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal import EvidenceError, InterventionError, Mechanisms, datasets, shift
from causal.data import DataError
from causal.interventions import parse_cuts
from causal.queries import counterfactual, draw_pool, sample, sample_conditional

TRI = datasets.info("triangle-lin").scm
CHAIN = datasets.info("chain5-lin").scm
LOAN = datasets.info("loan").scm


def test_scms_satisfy_the_mechanisms_protocol():
    for name in datasets.names():
        assert isinstance(datasets.info(name).scm, Mechanisms)


# ---------------------------------------------------------------------- sampling
def test_same_seed_same_samples_and_columns_in_canonical_order():
    a = TRI.sample(200, seed=3)
    b = TRI.sample(200, seed=3)
    c = TRI.sample(200, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    assert tuple(a.columns) == TRI.graph.nodes and len(a) == 200
    # a Generator works as a seed too
    pd.testing.assert_frame_equal(TRI.sample(50, seed=np.random.default_rng(9)), TRI.sample(50, seed=9))


def test_do_clamps_the_node():
    df = TRI.sample(100, do={"x2": 1.5}, seed=0)
    assert (df["x2"] == 1.5).all()
    df = LOAN.sample(100, do={"A": 1}, seed=0)
    assert (df["A"] == 1).all()


def test_do_leaves_non_descendants_exactly_unchanged_with_the_same_seed():
    obs = CHAIN.sample(300, seed=5)
    intv = CHAIN.sample(300, do={"x3": -2.0}, seed=5)
    pd.testing.assert_frame_equal(obs[["x1", "x2"]], intv[["x1", "x2"]])
    assert (intv["x3"] == -2.0).all()
    # descendants move, by exactly the propagated change (linear chain)
    np.testing.assert_allclose(intv["x4"] - obs["x4"], -2.0 - obs["x3"], atol=1e-12)
    np.testing.assert_allclose(intv["x5"] - obs["x5"], -(intv["x4"] - obs["x4"]), atol=1e-12)
    tri_obs, tri_do = TRI.sample(300, seed=1), TRI.sample(300, do={"x2": 0.0}, seed=1)
    pd.testing.assert_series_equal(tri_obs["x1"], tri_do["x1"])


@pytest.mark.parametrize("spec", ["x2 + 1", "+1", "x + 1", shift(1.0), "x2+1.0"])
def test_shift_intervention(spec):
    obs = TRI.sample(200, seed=2)
    sh = TRI.sample(200, do={"x2": spec}, seed=2)
    pd.testing.assert_series_equal(sh["x1"], obs["x1"])
    np.testing.assert_allclose(sh["x2"], obs["x2"] + 1.0, atol=1e-12)
    np.testing.assert_allclose(sh["x3"], obs["x3"] + 0.5, atol=1e-12)  # x3 = 0.5 x2 + x1 + u3


def test_negative_shift_and_scale_interventions():
    obs = TRI.sample(200, seed=2)
    down = TRI.sample(200, do={"x2": "x2 - 2"}, seed=2)
    np.testing.assert_allclose(down["x2"], obs["x2"] - 2.0, atol=1e-12)
    sc = TRI.sample(200, do={"x2": "x * 2"}, seed=2)
    np.testing.assert_allclose(sc["x2"], 2 * obs["x2"], atol=1e-12)
    np.testing.assert_allclose(sc["x3"], obs["x3"] + 0.5 * obs["x2"], atol=1e-12)


def test_per_row_values():
    v = np.linspace(-1, 1, 40)
    df = TRI.sample(40, do={"x1": v}, seed=0)
    np.testing.assert_array_equal(df["x1"].to_numpy(), v)
    a = LOAN.sample(6, do={"A": [0, 1, 1, 0, 1, 0]}, seed=0)
    assert a["A"].tolist() == [0, 1, 1, 0, 1, 0]
    with pytest.raises(InterventionError, match=r"do\(x1\) has 3 values for 40 rows"):
        TRI.sample(40, do={"x1": [1.0, 2.0, 3.0]}, seed=0)


def test_bad_sample_requests():
    with pytest.raises(ValueError, match="positive integer"):
        TRI.sample(0)
    with pytest.raises(TypeError, match="tolerance"):
        TRI.sample(10, tolerance=0.1)
    with pytest.raises(InterventionError, match="not a finite number"):
        TRI.sample(10, do={"x1": float("nan")})
    with pytest.raises(InterventionError, match="cannot read intervention 'big' on 'x1'"):
        TRI.sample(10, do={"x1": "big"})
    with pytest.raises(InterventionError, match="refers to 'x3'; write 'x1 \\+ d'"):
        TRI.sample(10, do={"x1": "x3 + 1"})


# ---------------------------------------------------------------------- laws
def test_do_on_a_root_equals_conditioning_on_it():
    # Tolerance: 2,000 samples, sd(x2 | x1) ~ 1 and sd(x3 | x1) ~ 1.1, so 0.15 is > 6 standard errors.
    n = 2000
    do = TRI.sample(n, do={"x1": 1.5}, seed=0)
    cond = TRI.sample(n, given={"x1": 1.5}, seed=1)
    assert np.abs(cond["x1"] - 1.5).max() <= 0.05 * 1.0 + 0.01  # window = ±0.05 sd(x1), sd(x1) = 1
    for col, truth in (("x2", 15.0), ("x3", 9.0)):
        assert do[col].mean() == pytest.approx(truth, abs=0.15)
        assert cond[col].mean() == pytest.approx(do[col].mean(), abs=0.15)
    assert cond["x2"].std() == pytest.approx(do["x2"].std(), abs=0.15)


def test_conditioning_on_a_child_moves_the_parent_intervening_does_not():
    # x1 ~ N(1, 1), x2 = 10 x1 + u2: E[x1 | x2 = 0] = 1 - 100/101 = 0.0099 (posterior sd 0.1);
    # E[x1 | do(x2 = 0)] = 1 (sd 1). 1,000 samples: standard errors 0.004 and 0.03.
    cond = TRI.sample(1000, given={"x2": 0.0}, seed=0)
    do = TRI.sample(1000, do={"x2": 0.0}, seed=0)
    assert cond["x1"].mean() == pytest.approx(1 - 100 / 101, abs=0.05)
    assert do["x1"].mean() == pytest.approx(1.0, abs=0.15)
    assert 0 < cond.attrs["acceptance_rate"] < 0.1


def test_conditioning_and_do_on_disjoint_nodes_commute():
    """P(· | x1 = a) under do(x2 = b), one query, equals the interventional samples filtered on
    x1 afterwards (conditioning after intervening), and the truth of triangle-lin,
    E[x3 | x1 = a, do(x2 = b)] = 0.5 b + a. Tolerance: 2,000 and ~7,000 rows with sd(x3) = 1
    there, so 0.12 is over four standard errors of the difference."""
    a, b = 1.5, 3.0
    both = TRI.sample(2000, given={"x1": a}, do={"x2": b}, seed=0)
    assert (both["x2"] == b).all() and np.abs(both["x1"] - a).max() <= 0.05 * 1.01 + 1e-9
    draws = TRI.sample(200_000, do={"x2": b}, seed=1)
    kept = draws[(draws["x1"] - a).abs() <= 0.05 * draws["x1"].std()]
    assert len(kept) > 5000
    assert both["x3"].mean() == pytest.approx(kept["x3"].mean(), abs=0.12)
    assert both["x3"].mean() == pytest.approx(0.5 * b + a, abs=0.12)
    assert both["x3"].std() == pytest.approx(kept["x3"].std(), abs=0.1)


def test_do_outside_the_evidences_ancestors_leaves_the_rest_of_the_conditional_as_it_was():
    """In the chain x1 -> ... -> x5, given x2 = 5 then do(x4 = 0): x1, x2 and x3 are drawn
    exactly as given x2 = 5 alone (the same seed gives the same evidence draws), x4 is set and
    x5 follows it; the order of the two operations cannot matter."""
    given = CHAIN.sample(300, given={"x2": 5.0}, seed=3)
    both = CHAIN.sample(300, given={"x2": 5.0}, do={"x4": 0.0}, seed=3)
    pd.testing.assert_frame_equal(given[["x1", "x2", "x3"]], both[["x1", "x2", "x3"]])
    assert (both["x4"] == 0.0).all() and not np.allclose(both["x5"], given["x5"])


class _Counting:
    """A ``Mechanisms`` proxy recording how many rows each mechanism was evaluated on."""

    def __init__(self, m):
        self.m, self.rows = m, {}
        self.graph, self.schema = m.graph, m.schema

    def noise(self, node, n, rng):
        return self.m.noise(node, n, rng)

    def predict(self, node, parents, noise):
        self.rows[node] = self.rows.get(node, 0) + len(noise)
        return self.m.predict(node, parents, noise)

    def abduct(self, node, value, parents, rng):
        return self.m.abduct(node, value, parents, rng)


def test_conditioning_rejects_on_the_evidence_ancestors_then_completes_the_rest():
    # In a chain x1 -> ... -> x5 the evidence x2 screens x3..x5 off from x1: given and do
    # agree downstream. Tolerance: five standard errors of a difference of two 1,000-sample means.
    counted = _Counting(CHAIN)
    v = float(CHAIN.sample(5000, seed=0)["x2"].quantile(0.8))
    res = sample_conditional(counted, 1000, given={"x2": v}, seed=0)
    assert len(res.data) == 1000 and res.draws > 5 * 1000
    assert counted.rows["x1"] == counted.rows["x2"] == res.draws  # the evidence's ancestral set: every draw
    assert counted.rows["x3"] == counted.rows["x4"] == counted.rows["x5"] == 1000  # the rest: accepted rows only
    do = CHAIN.sample(1000, do={"x2": v}, seed=1)
    for col in ("x3", "x4", "x5"):
        sd = float(do[col].std())
        assert res.data[col].mean() == pytest.approx(do[col].mean(), abs=5 * sd / np.sqrt(1000) * np.sqrt(2))


def test_a_draw_pool_answers_conditioning_without_drawing_the_evidence_again():
    counted = _Counting(CHAIN)
    pool = draw_pool(counted, ["x2"], size=100_000, seed=0)
    assert pool.nodes == {"x1", "x2"} and counted.rows == {"x1": 100_000, "x2": 100_000}
    v = float(CHAIN.sample(5000, seed=0)["x2"].quantile(0.7))
    counted.rows.clear()
    res = sample_conditional(counted, 1000, given={"x2": v}, seed=0, pool=pool)
    assert "x1" not in counted.rows and "x2" not in counted.rows  # selected from the pool
    assert counted.rows["x3"] == 1000 and res.draws == 100_000
    fresh = sample_conditional(CHAIN, 1000, given={"x2": v}, seed=1)
    assert res.events == fresh.events or np.allclose(res.events["x2"], fresh.events["x2"], atol=0.02)
    for col in ("x1", "x3", "x5"):  # the same conditional: five standard errors of the difference
        se = float(fresh.data[col].std()) * np.sqrt(2 / 1000)
        assert res.data[col].mean() == pytest.approx(fresh.data[col].mean(), abs=5 * se)
    # too few rows of the pool in a rare event: fresh draws make up the rest
    rare = float(CHAIN.sample(5000, seed=0)["x2"].quantile(0.995))
    counted.rows.clear()
    res = sample_conditional(counted, 1000, given={"x2": rare}, seed=0, pool=pool)
    assert len(res.data) == 1000 and res.draws > 100_000 and counted.rows["x2"] == res.draws - 100_000
    # a pool cannot answer under do (it was drawn without), nor for nodes it lacks
    counted.rows.clear()
    sample_conditional(counted, 200, given={"x2": v}, do={"x5": 0.0}, seed=0, pool=pool)
    assert counted.rows["x2"] > 0
    counted.rows.clear()
    sample_conditional(counted, 200, given={"x3": 0.0}, seed=0, pool=pool, max_draws=100_000)
    assert counted.rows["x3"] > 200
    with pytest.raises(EvidenceError, match="no such node"):
        draw_pool(CHAIN, ["nope"], size=10)


def test_conditional_sample_attrs_and_windows():
    df = TRI.sample(300, given={"x1": 1.0}, seed=0)
    assert len(df) == 300
    rate = df.attrs["acceptance_rate"]
    assert 0 < rate <= 1
    assert df.attrs["accepted"] >= 300 and df.attrs["draws"] >= df.attrs["accepted"]
    assert rate == pytest.approx(df.attrs["accepted"] / df.attrs["draws"])
    lo, hi = df.attrs["event"]["x1"]
    assert lo < 1.0 < hi and ((df["x1"] >= lo) & (df["x1"] <= hi)).all()
    rng = TRI.sample(200, given={"x1": (0.5, 0.8)}, seed=0)
    assert rng["x1"].between(0.5, 0.8).all()
    same = TRI.sample(200, given={"x1": (0.5, 0.8)}, seed=0)
    pd.testing.assert_frame_equal(rng, same)


def test_conditioning_on_a_discrete_node():
    res = sample_conditional(LOAN, 400, given={"A": 1}, seed=0)
    assert (res.data["A"] == 1).all()
    assert res.acceptance_rate == pytest.approx(0.5, abs=0.03)  # A ~ Bernoulli(0.5), 20,000 draws
    df = LOAN.sample(100, given={"A": 0}, do={"income": 1.0}, seed=0)
    assert (df["A"] == 0).all() and (df["income"] == 1.0).all()


def test_near_zero_probability_evidence_says_so():
    with pytest.raises(EvidenceError, match=r"x2 in \[.*\] has \(near\) zero probability"):
        TRI.sample(100, given={"x2": 1000.0}, seed=0, max_draws=60_000)
    with pytest.raises(EvidenceError, match="zero probability"):
        sample_conditional(TRI, 100, given={"x1": (50.0, 51.0)}, seed=0, max_draws=40_000)


def test_evidence_contradicting_do_raises():
    with pytest.raises(EvidenceError, match=r"contradicts do\(x1 = 2.0\)"):
        TRI.sample(10, given={"x1": 0.0}, do={"x1": 2.0}, seed=0)
    with pytest.raises(EvidenceError, match=r"contradicts do\(A"):
        LOAN.sample(10, given={"A": 1}, do={"A": 0}, seed=0)
    with pytest.raises(EvidenceError, match="empty"):
        TRI.sample(10, given={"x1": (2.0, 1.0)}, seed=0)


def test_unknown_node_is_named():
    with pytest.raises(InterventionError, match="cannot intervene on 'zz': no such node; the nodes are x1, x2, x3"):
        TRI.sample(10, do={"zz": 1.0})
    with pytest.raises(EvidenceError, match="cannot condition on 'zz': no such node; the nodes are x1, x2, x3"):
        TRI.sample(10, given={"zz": 1.0})
    with pytest.raises(InterventionError, match="'zz'"):
        TRI.counterfactual(TRI.sample(5, seed=0), do={"zz": 1.0})


def test_unknown_category_lists_allowed_values():
    with pytest.raises(InterventionError, match="'A' has no value 2; its values are 0, 1"):
        LOAN.sample(10, do={"A": 2})
    with pytest.raises(EvidenceError, match="'A' has no value 'yes'; its values are 0, 1"):
        LOAN.sample(10, given={"A": "yes"})


@pytest.mark.parametrize("spec", ["+1", "A + 1", "x * 2"])
def test_shift_on_a_binary_node_is_refused(spec):
    with pytest.raises(InterventionError, match="'A' is binary: a shift or scale intervention needs a continuous node"):
        LOAN.sample(10, do={"A": spec})


# ---------------------------------------------------------------------- counterfactuals
def rows_with_extras(scm, n: int = 50, seed: int = 0) -> pd.DataFrame:
    """Factual rows with a non-default index, shuffled columns and an extra column."""
    df = scm.sample(n, seed=seed)
    df.index = pd.Index(np.arange(1000, 1000 + n) * 3, name="row")
    df["id"] = [f"r{i}" for i in range(n)]
    return df[["id"] + list(reversed(df.columns[:-1]))]


@pytest.mark.parametrize("do", [None, {}])
def test_counterfactual_with_no_intervention_returns_the_rows(do):
    rows = rows_with_extras(TRI)
    cf = TRI.counterfactual(rows, do=do)
    pd.testing.assert_frame_equal(cf, rows)
    assert cf is not rows


def test_counterfactual_keeps_index_columns_and_non_descendants():
    rows = rows_with_extras(CHAIN)
    cf = CHAIN.counterfactual(rows, do={"x3": 0.5})
    assert list(cf.columns) == list(rows.columns) and cf.index.equals(rows.index)
    assert (cf["x3"] == 0.5).all()
    pd.testing.assert_series_equal(cf["id"], rows["id"])
    for node in ("x1", "x2"):
        pd.testing.assert_series_equal(cf[node], rows[node])
    assert not np.allclose(cf["x4"], rows["x4"])


def test_counterfactual_triangle_lin_by_hand():
    # x1 = 1 + u1; x2 = 10 x1 + u2; x3 = 0.5 x2 + x1 + u3: the noise is kept, so
    # x2' = x2 + 10 (x1' - x1) and x3' = x3 + 0.5 (x2' - x2) + (x1' - x1).
    rows = TRI.sample(100, seed=7)
    x1, x2, x3 = (rows[c].to_numpy() for c in ("x1", "x2", "x3"))
    cf = TRI.counterfactual(rows, do={"x1": 0.0})
    x2p = x2 + 10 * (0.0 - x1)
    np.testing.assert_allclose(cf["x1"], 0.0)
    np.testing.assert_allclose(cf["x2"], x2p, atol=1e-9)
    np.testing.assert_allclose(cf["x3"], x3 + 0.5 * (x2p - x2) + (0.0 - x1), atol=1e-9)
    cf = TRI.counterfactual(rows, do={"x2": 5.0})
    np.testing.assert_array_equal(cf["x1"], x1)
    np.testing.assert_allclose(cf["x3"], x3 + 0.5 * (5.0 - x2), atol=1e-9)
    cf = TRI.counterfactual(rows, do={"x2": "x2 + 1"})
    np.testing.assert_allclose(cf["x2"], x2 + 1, atol=1e-9)
    np.testing.assert_allclose(cf["x3"], x3 + 0.5, atol=1e-9)
    v = np.linspace(-3, 3, 100)
    cf = TRI.counterfactual(rows, do={"x1": v})
    np.testing.assert_allclose(cf["x2"], x2 + 10 * (v - x1), atol=1e-9)


def _interventions(name: str, data: pd.DataFrame) -> list[dict]:
    scm = datasets.info(name).scm
    out = []
    for node in datasets.info(name).intervene_on:
        if scm.schema[node].discrete:
            out += [{node: c} for c in scm.schema[node].categories]
        else:
            out += [{node: float(data[node].quantile(q))} for q in (0.25, 0.75)]
            out.append({node: "x + 0.5"})
    return out


def _unique_counterfactuals(name: str) -> bool:
    """No intervened node has a discrete descendant (whose counterfactual is a draw from its
    noise posterior, not one value)."""
    info = datasets.info(name)
    scm = info.scm
    return not any(scm.schema[d].discrete for n in info.intervene_on for d in scm.graph.descendants(n))


@pytest.mark.parametrize("name", [n for n in datasets.names() if _unique_counterfactuals(n)])
def test_counterfactual_equals_resimulation_with_the_same_noise(name):
    # simulate() draws every node's noise in canonical order whatever the intervention,
    # so sample(do=..., seed=s) is the exact counterfactual of sample(seed=s).
    scm = datasets.info(name).scm
    rows = scm.sample(200, seed=11)
    for do in _interventions(name, rows):
        truth = scm.sample(200, do=do, seed=11)
        cf = counterfactual(scm, rows, do, seed=0)
        pd.testing.assert_index_equal(cf.columns, rows.columns)
        np.testing.assert_allclose(cf.to_numpy(float), truth.to_numpy(float), rtol=0, atol=1e-8, err_msg=str(do))


@pytest.mark.parametrize("name", [n for n in datasets.names() if not _unique_counterfactuals(n)])
def test_discrete_counterfactuals_keep_what_the_intervention_cannot_reach(name):
    """Where descendants are discrete, a counterfactual draws their noise from its posterior:
    the intervened node is set, non-descendants keep their values, every value is a state,
    and a descendant keeps its value whenever its parents keep theirs."""
    info = datasets.info(name)
    scm = info.scm
    rows = scm.sample(300, seed=5)
    node = info.intervene_on[0]
    value = scm.schema[node].categories[0]
    cf = counterfactual(scm, rows, {node: value}, seed=1)
    assert (cf[node] == value).all()
    keep = [n for n in scm.graph.nodes if n != node and n not in scm.graph.descendants(node)]
    pd.testing.assert_frame_equal(cf[keep], rows[keep])
    for d in scm.graph.descendants(node):
        assert set(cf[d]) <= set(scm.schema[d].categories)
    child = scm.graph.children(node)[0]
    same = (rows[node] == value) & (rows[[p for p in scm.graph.parents(child) if p != node]] == cf[[p for p in scm.graph.parents(child) if p != node]]).all(axis=1)
    assert (cf.loc[same, child] == rows.loc[same, child]).all()


def test_loan_counterfactual_on_the_binary_attribute():
    rows = LOAN.sample(300, seed=4)
    a = rows["A"].to_numpy()
    assert 0 < a.mean() < 1
    for target in (0, 1):
        cf = LOAN.counterfactual(rows, do={"A": target}, seed=0)
        assert (cf["A"] == target).all()
        pd.testing.assert_series_equal(cf["age"], rows["age"])
        d = target - a
        # amount = ... + A + u; duration = ... + 2 A + amount + u
        np.testing.assert_allclose(cf["amount"] - rows["amount"], d, atol=1e-9)
        np.testing.assert_allclose(cf["duration"] - rows["duration"], 3 * d, atol=1e-9)
        same = a == target
        np.testing.assert_allclose(cf.loc[same].to_numpy(float), rows.loc[same].to_numpy(float), atol=1e-9)
        assert not np.allclose(cf.loc[~same, "income"], rows.loc[~same, "income"])


def test_loan_counterfactual_accepts_string_spelled_categories():
    rows = LOAN.sample(20, seed=4)
    text = rows.assign(A=rows["A"].astype(str))
    cf = LOAN.counterfactual(text, do={"A": "1"})
    assert (cf["A"] == 1).all()
    np.testing.assert_allclose(cf["amount"], LOAN.counterfactual(rows, do={"A": 1})["amount"], atol=1e-12)


def test_counterfactual_input_errors():
    rows = TRI.sample(10, seed=0)
    with pytest.raises(DataError, match=r"no column for node\(s\) x2"):
        TRI.counterfactual(rows.drop(columns="x2"), do={"x1": 0.0})
    bad = rows.copy()
    bad.loc[3, "x3"] = np.nan
    with pytest.raises(DataError, match="missing values in x3"):
        TRI.counterfactual(bad, do={"x1": 0.0})
    bad = LOAN.sample(10, seed=0)
    bad["A"] = bad["A"].astype(object)
    bad.loc[bad.index[2], "A"] = None  # a missing value in a discrete column of objects
    with pytest.raises(DataError, match="missing values in A"):
        LOAN.counterfactual(bad, do={"age": 0.0})
    with pytest.raises(DataError, match="DataFrame"):
        TRI.counterfactual(rows.to_numpy(), do={"x1": 0.0})
    with pytest.raises(InterventionError, match=r"do\(x1\) has 3 values for 10 rows"):
        TRI.counterfactual(rows, do={"x1": [0.0, 1.0, 2.0]})


def test_sample_function_matches_mixin():
    pd.testing.assert_frame_equal(sample(TRI, 30, {"x1": 0.0}, seed=1), TRI.sample(30, do={"x1": 0.0}, seed=1))


# ---------------------------------------------------------------------- cut edges
def test_a_cut_edge_with_a_reference_value_is_an_intervention_on_that_edge_alone():
    """triangle-lin, x1 -> x3 cut at x1 = 2: x3 = 0.5·x2 + 2 + u3 while x2 still listens to x1;
    with the same seed every row is the uncut row with x3 moved by 2 - x1, exactly."""
    cuts = parse_cuts("x1 -> x3", TRI.graph, TRI.schema, references={"x1": 2.0})
    plain, cut = sample(TRI, 500, seed=4), sample(TRI, 500, seed=4, cuts=cuts)
    pd.testing.assert_frame_equal(cut[["x1", "x2"]], plain[["x1", "x2"]])
    np.testing.assert_allclose(cut["x3"], plain["x3"] - plain["x1"] + 2.0, atol=1e-9)
    cf = counterfactual(TRI, plain, None, seed=0, cuts=cuts)  # each row, had x3 seen x1 = 2
    np.testing.assert_allclose(cf["x3"], plain["x3"] - plain["x1"] + 2.0, atol=1e-9)
    pd.testing.assert_frame_equal(cf[["x1", "x2"]], plain[["x1", "x2"]])


def test_a_cut_edge_sees_an_independent_copy_of_its_parent():
    """chain5-lin with x1 -> x2 and x2 -> x3 cut: x2 no longer depends on x1, x3 on neither
    (a chain of cuts: the copy of x2 is itself drawn with x1 -> x2 cut); each keeps its
    marginal. Tolerances: 20,000 rows, |corr| of independent columns under 0.03 (4 se)."""
    cuts = parse_cuts(["x1 -> x2", "x2 -> x3"], CHAIN.graph, CHAIN.schema)
    cut, plain = sample(CHAIN, 20_000, seed=2, cuts=cuts), sample(CHAIN, 20_000, seed=2)
    corr = cut.corr()
    assert abs(corr.loc["x1", "x2"]) < 0.03 and abs(corr.loc["x1", "x3"]) < 0.03 and abs(corr.loc["x2", "x3"]) < 0.03
    assert corr.loc["x3", "x4"] > 0.5  # untouched relations stay
    pd.testing.assert_series_equal(cut["x1"], plain["x1"])
    for col in ("x2", "x3"):  # same marginals: sd within 3%
        assert cut[col].std() == pytest.approx(plain[col].std(), rel=0.03)


def test_cuts_are_edges_of_the_graph_and_conditioning_honours_them():
    with pytest.raises(InterventionError, match="cannot cut x3 -> x1: the graph has no such edge"):
        parse_cuts("x3 -> x1", TRI.graph, TRI.schema)
    with pytest.raises(InterventionError, match="no cut edge leaves"):
        parse_cuts("x1 -> x3", TRI.graph, TRI.schema, references={"x2": 0.0})
    cuts = parse_cuts("x1 -> x3", TRI.graph, TRI.schema, references={"x1": 0.0})
    res = sample_conditional(TRI, 300, {"x2": 12.0}, seed=1, cuts=cuts)
    assert np.abs(res.data["x2"] - 12.0).max() < 1.0
    # x3 = 0.5·x2 + 0 + u3 under the cut: its mean given x2 ≈ 12 is about 6 (±0.2, 300 rows)
    assert res.data["x3"].mean() == pytest.approx(6.0, abs=0.25)
