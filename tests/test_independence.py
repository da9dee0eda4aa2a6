"""Conditional independence tests (causal.independence): power on chains, calibration under
the null, Holm's correction, a false graph refuted, and errors that name the column."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import causal.independence as ind
from causal import CausalGraph, datasets
from causal.independence import CITest, ci_test, holm, implications_frame

CHAIN = CausalGraph.parse("a -> b -> c")
COLLIDER = CausalGraph.parse("a -> b; c -> b")  # the false graph for chain data: claims a ⟂ c


def continuous_chain(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a + rng.normal(size=n)
    c = b + rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": c})


def discrete_chain(n: int, seed: int) -> pd.DataFrame:
    """Binary a -> categorical b (3 values) -> binary c, with text categories for b."""
    rng = np.random.default_rng(seed)
    a = (rng.random(n) < 0.5).astype(int)
    b = np.where(rng.random(n) < 0.7, a * 2, rng.integers(0, 3, n))  # mostly 0 or 2, following a
    c = (rng.random(n) < np.array([0.15, 0.5, 0.85])[b]).astype(int)
    return pd.DataFrame({"a": a, "b": np.array(["low", "mid", "high"])[b], "c": c})


# ---------------------------------------------------------------------- one test
def test_chain_continuous_marginal_dependence_and_conditional_independence() -> None:
    df = continuous_chain(500, seed=0)
    marginal = ci_test(df, "a", "c")
    conditional = ci_test(df, "a", "c", given=["b"])
    assert marginal.method.startswith("correlation, Fisher's z") and "partial correlation" in conditional.method
    assert marginal.p_value < 1e-20 and marginal.effect > 0.4  # corr(a, c) = 1/sqrt(3) ≈ 0.58
    assert conditional.p_value > 0.05 and abs(conditional.effect) < 0.1
    assert (conditional.n, conditional.dof, conditional.given) == (500, 500 - 1 - 3, ("b",))
    # the generalized covariance measure: the residuals' product's mean over its standard error,
    # times sqrt(n - |given| - 3); with one variance it is close to Fisher's z of the partial correlation
    ra = df.a - np.polyval(np.polyfit(df.b, df.a, 1), df.b)
    rc = df.c - np.polyval(np.polyfit(df.b, df.c, 1), df.b)
    prod = (ra * rc).to_numpy()
    assert conditional.statistic == pytest.approx(prod.mean() / prod.std() * np.sqrt(496), rel=1e-6)
    assert conditional.statistic == pytest.approx(np.arctanh(conditional.effect) * np.sqrt(496), abs=0.1)


def test_chain_discrete_uses_a_g_test_within_strata() -> None:
    df = discrete_chain(1000, seed=1)
    marginal = ci_test(df, "a", "c")
    conditional = ci_test(df, "a", "c", given=["b"])
    assert marginal.method.startswith("G-test") and marginal.dof == 1
    assert marginal.p_value < 1e-10
    assert conditional.p_value > 0.05
    assert conditional.dof == 3  # one degree of freedom in each of the three strata of b
    assert "3 of 3 strata" in conditional.method
    # the G statistic matches scipy's likelihood-ratio chi-square on the marginal table
    from scipy.stats import chi2_contingency

    g, p, dof, _ = chi2_contingency(pd.crosstab(df.a, df.c).to_numpy(), correction=False, lambda_="log-likelihood")
    assert (marginal.statistic, marginal.p_value, marginal.dof) == (pytest.approx(g), pytest.approx(p), dof)


def test_mixed_kinds_binary_as_numbers_categorical_by_g_test() -> None:
    df = continuous_chain(800, seed=2)
    df["a"] = (df["a"] > 0).astype(int)  # binary cause
    t = ci_test(df, "a", "c")  # a binary column is tested as 0/1: a point-biserial correlation
    assert t.method.startswith("correlation, Fisher's z") and t.dof == 800 - 3 and t.p_value < 1e-10
    assert t.effect == pytest.approx(np.corrcoef(df.a, df.c)[0, 1])
    # binary text labels are coded in sorted order ("no" 0, "yes" 1), so the sign follows the labels
    labelled = ci_test(df.assign(a=np.where(df.a == 1, "yes", "no")), "a", "c")
    assert labelled.effect == pytest.approx(t.effect)
    t = ci_test(df, "a", "c", given=["b"])
    assert t.method == "partial correlation; generalized covariance measure, with its interactions with b" and t.p_value > 0.01
    # a categorical x or y (more than two values) is tested by the G-test, continuous columns binned
    first = continuous_chain(800, seed=2)
    cat = first.assign(a=pd.qcut(first.a, 3, labels=["lo", "mid", "hi"]).astype(str))
    t = ci_test(cat, "a", "c", given=["b"], bins=3)
    assert t.method == "G-test in 3 of 3 strata; c, b in 3 quantile bins"
    # kinds can be forced: c treated as categorical needs no bins
    t = ci_test(df.assign(c=(df.c > 0).astype(int)), "a", "c", kinds={"a": "categorical", "c": "categorical"})
    assert t.method == "G-test" and t.dof == 1


def mixed_fork(n: int, seed: int, edge: float = 0.0) -> pd.DataFrame:
    """A binary s and a continuous z cause x and y, nonlinearly and with s changing z's
    effect, so that x ⟂ y | s, z (unless ``edge``: x -> y)."""
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < 0.4).astype(int)
    z = rng.normal(size=n) + s
    x = np.sin(2 * z) + 2 * s * z + rng.normal(size=n)
    y = z**2 / 2 - 3 * s + (1 - 2 * s) * z + edge * x + rng.normal(size=n)
    return pd.DataFrame({"s": s, "z": z, "x": x, "y": y})


def test_a_discrete_conditioning_column_defines_strata_for_the_partial_correlation() -> None:
    """Binning z into quantile bins (the G-test) leaves its influence inside each bin, so on
    many rows a true independence is rejected; regressing within the strata of s does not,
    and it still finds an arrow x -> y."""
    df = mixed_fork(20_000, seed=0)
    t = ci_test(df, "x", "y", given=["s", "z"], regression="spline")
    assert t.method == ("partial correlation (spline regression) within 2 of 2 strata of s; generalized covariance "
                        "measure, with its interactions with z")
    assert t.p_value > 0.01 and abs(t.effect) < 0.02 and t.n == 20_000
    kinds = {"x": "continuous", "y": "continuous", "s": "binary", "z": "continuous"}
    binned = ind._g_test(df, "x", "y", ("s", "z"), kinds, 4)  # the test these columns had before
    assert binned.method == "G-test in 8 of 8 strata; x, y, z in 4 quantile bins" and binned.p_value < 1e-6
    found = ci_test(mixed_fork(2_000, seed=1, edge=0.2), "x", "y", given=["s", "z"], regression="spline")
    assert found.p_value < 1e-4
    # calibrated under the null: 200 data sets of 300 rows, rejection rate at 0.05
    ps = np.asarray([ci_test(mixed_fork(300, seed), "x", "y", given=["s", "z"], regression="spline").p_value
                     for seed in range(200)])
    assert 0.02 <= float((ps < 0.05).mean()) <= 0.09 and 0.35 < float(np.median(ps)) < 0.65
    # dof: n minus the fitted columns of every stratum (spline basis of z with its intercept, 9 each) minus 2
    assert t.dof == 20_000 - (2 * 9 - 1) - 3


def test_a_dependence_that_changes_sign_with_the_conditioning_column_is_found() -> None:
    """y = x·z + noise: given z, x and y are dependent, but their residuals are uncorrelated
    (the dependence flips sign with z). The partial correlation alone misses it; the test of
    the residuals' product against z finds it, with a strength of practical size, and stays
    calibrated where x ⟂ y | z holds (nonlinear in z, heteroscedastic)."""
    rng = np.random.default_rng(7)
    n = 2_000
    z, x = rng.normal(size=n), rng.normal(size=n)
    df = pd.DataFrame({"z": z, "x": x, "y": x * z + 0.5 * rng.normal(size=n)})
    alone = ci_test(df, "x", "y", given=["z"], regression="spline", interactions=False)
    both = ci_test(df, "x", "y", given=["z"], regression="spline")
    assert alone.p_value > 0.01 and alone.strength < 0.1 and alone.interaction is None
    assert alone.method.endswith("generalized covariance measure") and both.method.endswith("with its interactions with z")
    assert both.p_value < 1e-10 and both.interaction > 0.5 and both.strength == both.interaction
    assert both.effect == alone.effect and both.statistic == alone.statistic  # the correlation part is the same

    def null(seed: int) -> float:
        r = np.random.default_rng(seed)
        z = r.normal(size=300)
        x = np.sin(2 * z) + (0.5 + np.abs(z)) * r.normal(size=300)
        y = z**2 + (0.5 + np.abs(z)) * r.normal(size=300)
        return ci_test(pd.DataFrame({"z": z, "x": x, "y": y}), "x", "y", given=["z"], regression="spline").p_value

    ps = np.asarray([null(seed) for seed in range(200)])
    assert 0.01 <= float((ps < 0.05).mean()) <= 0.09
    # without conditioning columns: a dependence through a square leaves the correlation at 0 and is
    # found through the columns' normal scores; calibrated on skewed and heavy-tailed independent columns
    sq = pd.DataFrame({"x": x, "y": x**2 + rng.normal(size=n)})
    alone, found = ci_test(sq, "x", "y", interactions=False), ci_test(sq, "x", "y")
    assert alone.method == "correlation, Fisher's z" and alone.p_value > 0.01 and alone.strength < 0.1
    assert found.method == "correlation, Fisher's z, with the normal scores' product weighted by x and y (GCM)"
    assert found.p_value < 1e-10 and found.strength > 0.3

    def marginal_null(seed: int) -> float:
        r = np.random.default_rng(seed)
        return ci_test(pd.DataFrame({"x": r.standard_cauchy(200), "y": np.exp(r.normal(size=200))}), "x", "y").p_value

    ps = np.asarray([marginal_null(seed) for seed in range(200)])
    assert 0.005 <= float((ps < 0.05).mean()) <= 0.09
    # no continuous column to interact with: the partial correlation alone
    d = pd.DataFrame({"s": (z > 0).astype(int), "x": x, "y": x + rng.normal(size=n)})
    assert "interactions" not in ci_test(d, "x", "y", given=["s"]).method


def test_strata_too_small_for_their_regression_are_left_out() -> None:
    rng = np.random.default_rng(4)
    n = 300
    z = rng.normal(size=n)
    df = pd.DataFrame({"x": z + rng.normal(size=n), "y": z + rng.normal(size=n), "z": z,
                       "g": np.where(np.arange(n) < 296, "big", "tiny")})  # 4 rows: too few beside z
    t = ci_test(df, "x", "y", given=["g", "z"])
    assert "within 1 of 2 strata of g" in t.method and t.n == 296 and t.p_value > 0.01
    few = df.assign(g=np.arange(n) % 100)  # 100 strata of 3 rows: nothing testable
    t = ci_test(few, "x", "y", given=["g", "z"], kinds={"g": "categorical"})
    assert t.dof == 0 and t.p_value == 1.0 and "untested" in t.method


def test_strata_too_small_are_skipped_and_an_empty_test_says_untested() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.integers(0, 2, 60), "c": rng.integers(0, 2, 60), "z": np.arange(60) % 30})
    t = ci_test(df, "a", "c", given=["z"], kinds={"z": "categorical"})  # 30 strata of 2 rows each
    assert t.dof == 0 and t.p_value == 1.0 and "untested" in t.method


def test_p_values_are_uniform_under_the_null() -> None:
    """Rejection rate at alpha = 0.05 over 200 seeded data sets where a ⟂ c | b holds."""
    continuous = [ci_test(continuous_chain(200, seed), "a", "c", given=["b"]).p_value for seed in range(200)]
    discrete = [ci_test(discrete_chain(300, seed), "a", "c", given=["b"]).p_value for seed in range(200)]
    for name, ps in (("Fisher's z", continuous), ("G-test", discrete)):
        ps = np.asarray(ps)
        rate = float((ps < 0.05).mean())
        assert 0.02 <= rate <= 0.09, f"{name}: rejection rate {rate:.3f} under the null"
        assert 0.35 < float(np.median(ps)) < 0.65, f"{name}: median p {np.median(ps):.2f}"


def test_spline_regression_is_calibrated_and_removes_nonlinear_confounding() -> None:
    ps = np.asarray([
        ci_test(continuous_chain(200, seed), "a", "c", given=["b"], regression="spline").p_value for seed in range(200)
    ])
    assert 0.02 <= float((ps < 0.05).mean()) <= 0.09
    # fork-nlin: x4 = 20 / (1 + exp(x3²/2 − x3)) + u4, so x1 ⟂ x4 | x3 holds, but x4's linear
    # residual on x3 still carries x1 (through x3's nonlinear shape): linear refutes the truth
    ds = datasets.load("fork-nlin", n=2000, seed=0)
    linear = ci_test(ds.data, "x1", "x4", given=["x3"])
    spline = ci_test(ds.data, "x1", "x4", given=["x3"], regression="spline")
    assert linear.p_value < 1e-20 and spline.p_value > 0.05
    assert "spline regression" in spline.method and 2000 - 3 - 12 <= spline.dof < linear.dof == 2000 - 1 - 3
    results = ind.test_implications(ds.data, ds.graph, regression="spline")
    assert not any(r.rejected_holm for r in results)
    # without a conditioning set there is nothing to regress: the same test either way
    assert ci_test(ds.data, "x1", "x2", regression="spline") == ci_test(ds.data, "x1", "x2")


def test_result_is_a_frozen_value() -> None:
    t = ci_test(continuous_chain(50, seed=0), "a", "b")
    assert isinstance(t, CITest) and "a ⟂ b: p = " in str(t)
    with pytest.raises(AttributeError):
        t.p_value = 0.5  # type: ignore[misc]


def test_missing_values_drop_rows() -> None:
    df = continuous_chain(100, seed=0)
    df.loc[:9, "c"] = np.nan
    assert ci_test(df, "a", "c").n == 90


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": "a", "y": "nope"}, "'nope'"),
        ({"x": "a", "y": "c", "given": ["b", "zz"]}, "'zz'"),
        ({"x": "a", "y": "a"}, "'a' against itself"),
        ({"x": "a", "y": "c", "given": ["a"]}, "'a' is both tested and conditioned on"),
        ({"x": "a", "y": "k"}, "column 'k' is constant"),
        ({"x": "a", "y": "t", "kinds": {"t": "continuous"}}, "column 't' is continuous but row 0 holds 'x'"),
        ({"x": "a", "y": "c", "kinds": {"c": "image"}}, "column 'c' has kind 'image'"),
        ({"x": "a", "y": "c", "regression": "cubic"}, "regression must be one of linear, spline"),
    ],
)
def test_errors_name_the_column(kwargs: dict, message: str) -> None:
    df = continuous_chain(40, seed=0).assign(k=1.0, t=["x", "y"] * 20)
    with pytest.raises(ValueError) as e:
        ci_test(df, **kwargs)
    assert message in str(e.value)
    if message in ("'nope'", "'zz'"):
        assert "the columns are a, b, c" in str(e.value)


def test_too_few_rows_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="4 complete rows are too few .* need at least 5"):
        ci_test(continuous_chain(4, seed=0), "a", "c", given=["b"])
    assert ci_test(continuous_chain(5, seed=0), "a", "c", given=["b"]).dof == 1


# ---------------------------------------------------------------------- a graph's implications
def test_holm_is_at_least_raw_and_monotone() -> None:
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.random(30), rng.random(10) * 1e-3])
    adj = holm(p)
    assert (adj >= p).all() and (adj <= 1).all()
    order = np.argsort(p)
    assert (np.diff(adj[order]) >= 0).all()
    assert adj[order[0]] == pytest.approx(len(p) * p[order[0]])  # the smallest is multiplied by m
    assert holm([]).size == 0


def test_true_graph_implications_hold_and_the_false_graph_is_refuted() -> None:
    df = continuous_chain(1000, seed=5)
    true = ind.test_implications(df, CHAIN)
    assert [str(r.independence) for r in true] == ["a ⟂ c | b"]
    assert not true[0].rejected and true[0].p_holm == pytest.approx(true[0].p_value)
    false = ind.test_implications(df, COLLIDER)
    assert [str(r.independence) for r in false] == ["a ⟂ c"]
    assert false[0].rejected and false[0].rejected_holm and false[0].p_value < 1e-30


def test_discrete_false_graph_is_refuted() -> None:
    df = discrete_chain(1000, seed=6)
    assert not ind.test_implications(df, CHAIN)[0].rejected
    (r,) = ind.test_implications(df, COLLIDER)
    assert r.rejected and r.test.method.startswith("G-test")


def test_implications_on_a_benchmark_are_sorted_and_holm_adjusted() -> None:
    ds = datasets.load("loan", n=1500, seed=0)
    results = ind.test_implications(ds.data, ds.graph, alpha=0.01)
    assert len(results) == len(ds.graph.implied_independences())
    ps = [r.p_value for r in results]
    assert ps == sorted(ps)
    assert all(r.p_holm >= r.p_value and r.alpha == 0.01 and r.rejected == (r.p_value < 0.01) for r in results)
    assert all(np.diff([r.p_holm for r in results]) >= 0)
    # the graph's declared kind (A binary): A tested as 0/1, and as a conditioning column its strata
    assert all("correlation" in r.test.method and not r.test.method.startswith("G-test") for r in results)
    assert all("strata of A" in r.test.method for r in results if "A" in r.test.given)
    frame = implications_frame(results)
    assert list(frame["p"]) == ps and frame.shape == (len(results), 12)


def test_max_tests_keeps_the_smallest_conditioning_sets() -> None:
    ds = datasets.load("large-backdoor", n=300, seed=0)
    all_ = ind.test_implications(ds.data, ds.graph)
    few = ind.test_implications(ds.data, ds.graph, max_tests=5)
    assert len(few) == 5 < len(all_)
    assert max(len(r.independence.given) for r in few) <= min(
        len(r.independence.given) for r in all_ if r.independence not in {f.independence for f in few}
    )


def test_implications_name_missing_nodes_and_bad_alpha() -> None:
    df = continuous_chain(50, seed=0).drop(columns="c")
    with pytest.raises(ValueError, match=r"no column for node\(s\) c"):
        ind.test_implications(df, CHAIN)
    with pytest.raises(ValueError, match="alpha"):
        ind.test_implications(continuous_chain(50, seed=0), CHAIN, alpha=1.5)


def test_module_doctests_and_no_streamlit_or_torch() -> None:
    result = doctest.testmod(ind)
    assert result.attempted >= 3 and result.failed == 0
    import subprocess
    import sys

    code = "import sys, causal.independence; print('streamlit' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_strength_is_one_scale_for_both_tests_and_judges_rejections_with_the_p_value() -> None:
    """On many rows a negligible dependence is rejected: only a rejection at least
    MIN_STRENGTH strong is relevant. The strength is |partial r| for Fisher's z and
    sqrt(1 - exp(-2 I)) for a G-test, which agree on Gaussian data."""
    rng = np.random.default_rng(0)
    n = 30_000
    x = rng.normal(size=n)
    weak = 0.05 * x + rng.normal(size=n)  # r = 0.05: significant on 30,000 rows, negligible
    strong = 0.5 * x + rng.normal(size=n)
    df = pd.DataFrame({"x": x, "weak": weak, "strong": strong})
    t_weak, t_strong = ci_test(df, "x", "weak"), ci_test(df, "x", "strong")
    assert t_weak.p_value < 1e-6 and t_weak.strength == pytest.approx(0.05, abs=0.015)
    assert t_strong.strength == pytest.approx(0.5 / np.sqrt(1.25), abs=0.02)
    binned = ci_test(df.assign(x=pd.qcut(x, 8, labels=False), strong=pd.qcut(strong, 8, labels=False)),
                     "x", "strong", kinds={"x": "categorical", "strong": "categorical"})
    assert binned.method.startswith("G-test") and binned.strength == pytest.approx(t_strong.strength, abs=0.06)
    graph = CausalGraph(["x", "weak", "strong"], [])  # claims all three independent
    results = {str(r.independence): r for r in ind.test_implications(df, graph)}
    assert all(r.rejected_holm for r in results.values() if "weak" in str(r.independence) and "x" in str(r.independence))
    rel = {k: r.relevant for k, r in results.items()}
    assert rel == {k: ("strong" in k and "x" in k) for k in rel}, rel
    frame = implications_frame(list(results.values()))
    assert {"strength", "relevant"} <= set(frame.columns)
    with pytest.raises(ValueError, match="min_strength"):
        ind.test_implications(df, graph, min_strength=2.0)


def test_strata_are_numbered_as_numpys_unique_numbers_rows():
    """``_strata`` replaces ``np.unique(codes, axis=0, return_inverse=True)`` (its row sort cost
    three quarters of a suggestion's time on Adult) and must number strata alike, so that
    every statistic summed over strata is the same to the last bit."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        n, k = int(rng.integers(1, 400)), int(rng.integers(1, 5))
        codes = np.column_stack([rng.integers(0, int(rng.integers(1, 9)), n) for _ in range(k)])
        assert np.array_equal(ind._strata(codes), np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1))
    wide = np.column_stack([rng.integers(0, 60, 1000) for _ in range(6)])  # 60^6 keys: numpy's own way
    assert np.array_equal(ind._strata(wide), np.unique(wide, axis=0, return_inverse=True)[1].reshape(-1))


def test_a_memo_gives_the_same_tests_and_is_ignored_where_rows_were_dropped():
    ds = datasets.load("loan", n=1500, seed=0)
    memo: dict = {}
    for given in [(), ("A",), ("edu", "A"), ("edu",)]:
        for x, y in [("income", "savings"), ("A", "income")]:
            if x in given or y in given:
                continue
            plain = ind.ci_test(ds.data, x, y, given, regression="spline")
            assert ind.ci_test(ds.data, x, y, given, regression="spline", memo=memo) == plain
    assert memo  # filled
    gappy = ds.data.copy()
    gappy.loc[:9, "savings"] = np.nan
    kept = dict(memo)
    t = ind.ci_test(gappy, "income", "savings", ("edu",), regression="spline", memo=memo)
    assert memo == kept and t == ind.ci_test(gappy, "income", "savings", ("edu",), regression="spline")
