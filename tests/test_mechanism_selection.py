"""Per-node mechanism selection of the tabular models: least-squares polynomial rivals of each
node's network (generators.nets.Polynomials) and the Occam test that picks among them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from causal import CausalGraph
from generators import build_model, load_model
from generators.nets import Polynomials, adequate

GRAPH = CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3; x1 -> x4")


def product_table(n: int, seed: int = 0) -> pd.DataFrame:
    """x3 = x1·x2 with x2 ≈ 2·tanh(2·x1): on the data x2 hardly moves apart from x1, so
    do(x2 = v) asks for x3 far off the data's support (simpson-symprod's difficulty)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = 2 * np.tanh(2 * x1) + 0.3 * rng.normal(size=n)
    x3 = 0.5 * x1 * x2 + 0.3 * rng.normal(size=n)
    x4 = np.sin(2 * x1) + 0.2 * rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "x4": x4})


def test_polynomials_recover_an_exact_quadratic_and_ignore_non_parents():
    mask = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])  # node 1 reads columns 0 and 1, not 2
    poly = Polynomials(mask, 2)
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    t = torch.zeros(2, 500)
    t[1] = 1.5 - x[:, 0] + 0.25 * x[:, 1] + 2.0 * x[:, 0] * x[:, 1] - 0.5 * x[:, 1] ** 2
    poly.fit_least_squares(x, t, [1])
    assert poly.bias[1].item() == pytest.approx(1.5, abs=1e-5)
    assert poly.lin[1].tolist() == pytest.approx([-1.0, 0.25, 0.0], abs=1e-5)
    assert poly.quad[1, 0, 1].item() == pytest.approx(2.0, abs=1e-5)
    assert poly.quad[1, 1, 1].item() == pytest.approx(-0.5, abs=1e-5)
    assert poly.quad[1, 0, 0].item() == pytest.approx(0.0, abs=1e-5)
    far = torch.randn(50, 3) * 10  # exact far off the fitted range: a product stays a product
    truth = 1.5 - far[:, 0] + 0.25 * far[:, 1] + 2.0 * far[:, 0] * far[:, 1] - 0.5 * far[:, 1] ** 2
    torch.testing.assert_close(poly(far)[1], truth, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(poly.node(1, far[:, :2]), poly(far)[1])
    moved = far.clone()
    moved[:, 2] += 100.0
    torch.testing.assert_close(poly(moved)[1], poly(far)[1])


def test_polynomials_leave_out_products_zero_on_every_row_and_predict_as_the_full_fit():
    """Products of two categories of one parent (always 0) and combinations the rows never show
    are zero on every row: the fit without them predicts what the minimum-norm fit on every
    product predicts, on every one-hot input, seen or not."""
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.integers(0, 4, n)  # a 4-category parent, one-hot in columns 0-3
    b = np.where(a == 3, 0, rng.integers(0, 3, n))  # 3 categories; a = 3 is only ever seen with b = 0
    c = rng.normal(size=n)  # a continuous parent, column 7
    x = np.zeros((n, 8))
    x[np.arange(n), a] = 1.0
    x[np.arange(n), 4 + b] = 1.0
    x[:, 7] = c
    target = np.array([0.0, 1.0, -0.5, 2.0])[a] + np.array([0.3, 0.0, -1.0])[b] + 0.7 * c * (a == 1) + 0.4 * c**2
    target = target + 0.1 * rng.normal(size=n)
    mask = torch.tensor([[0.0] * 8, [1.0] * 8])
    poly = Polynomials(mask, 2)
    xt = torch.tensor(x, dtype=torch.float64)
    poly.fit_least_squares(xt.float(), torch.tensor(np.stack([np.zeros(n), target]), dtype=torch.float32), [1])
    i, k = torch.triu_indices(8, 8)  # the full fit: every product, minimum norm (what the fit was before)
    full = torch.cat([torch.ones(n, 1, dtype=torch.float64), xt, xt[:, i] * xt[:, k]], dim=1)
    beta = torch.linalg.lstsq(full, torch.tensor(target)[:, None], driver="gelsd").solution[:, 0]
    kept, _ = Polynomials._nonzero_pairs(xt)
    assert len(kept) == 8 + 10 + 4 + 3  # of 36: the 8 squares, a x b seen (12 less 2 unseen), a x c, b x c
    grid = np.array([(ai, bi, ci) for ai in range(4) for bi in range(3) for ci in (-2.0, 0.5, 3.0)])  # (3, 1) and (3, 2) unseen
    q = np.zeros((len(grid), 8))
    q[np.arange(len(grid)), grid[:, 0].astype(int)] = 1.0
    q[np.arange(len(grid)), 4 + grid[:, 1].astype(int)] = 1.0
    q[:, 7] = grid[:, 2]
    qt = torch.tensor(q, dtype=torch.float64)
    expected = torch.cat([torch.ones(len(q), 1, dtype=torch.float64), qt, qt[:, i] * qt[:, k]], dim=1) @ beta
    torch.testing.assert_close(poly(qt.float())[1].double(), expected, rtol=0, atol=2e-4)


def test_adequate_accepts_a_rival_that_predicts_the_same_or_better():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4000, generator=g)
    reference = target + 0.3 * torch.randn(3, 4000, generator=g)
    rival = torch.stack([reference[0] + 0.001, target[1], reference[2] + 0.5])  # same / better / worse
    assert adequate(target, rival, reference, gap=0.02, z=0.0).tolist() == [True, True, False]


@pytest.mark.parametrize("kind", ["causal-gen", "causal-vgen"])
def test_a_product_mechanism_is_chosen_and_extrapolates_off_support(kind):
    data = product_table(4000)
    model = build_model(kind, GRAPH, hidden=32, steps=1500)
    model.fit(data, seed=0)
    assert model.quadratic_nodes == ("x3",)
    assert not {"x2", "x4"} & set(model.linear_nodes)  # tanh and sine stay networks
    # counterfactuals off the data's support: x1 far from zero with x2 set to 0
    rows = data[(data["x1"].abs() > 1.2)].head(200)
    cf = model.counterfactual(rows, do={"x2": 0.0})
    truth = rows["x3"] + 0.5 * rows["x1"] * (0.0 - rows["x2"])  # the same noise, the new parent
    assert model.outside_support(cf)["x3"].mean() > 0.9  # (nearly) all of them are off the support ...
    rmse = np.sqrt(np.mean((cf["x3"] - truth) ** 2)) / data["x3"].std()
    assert rmse < 0.05  # ... and still right: 0.035 (the network alone, select_* off: 0.33 / 0.47)


@pytest.mark.parametrize("kind, key", [("causal-gen", "select_quadratic"), ("causal-vgen", "select_simple")])
def test_a_checkpoint_from_before_the_rivals_loads_as_it_was(kind, key, tmp_path):
    data = product_table(1000)
    old = build_model(kind, GRAPH, hidden=16, steps=100, **{key: False})
    old.fit(data, seed=0)
    folder = old.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    del meta["config"][key]  # what the previous version wrote
    meta["format_version"] = 1  # ... with no checksum of its own
    meta.pop("checksum", None)
    (folder / "model.json").write_text(json.dumps(meta))
    back = load_model(folder)
    assert getattr(back.config, key) is False
    pd.testing.assert_frame_equal(old.sample(300, do={"x2": 1.0}, seed=2), back.sample(300, do={"x2": 1.0}, seed=2))


def test_vgen_takes_the_quadratic_where_it_predicts_better_than_a_loosely_fitted_network():
    """Causal Variational Gen's ELBO fits f less tightly than a regression; a short run leaves
    its network of x3 = x1·x2 further than `quadratic_gap` from the least-squares quadratic
    while predicting worse on held-out rows. `quadratic_z = 0` then takes the quadratic;
    agreement alone (`quadratic_z = None`) keeps the network."""
    data = product_table(3000)
    chosen = {}
    for z in (None, 0.0):
        model = build_model("causal-vgen", GRAPH, hidden=16, steps=150, quadratic_z=z)
        model.fit(data, seed=0)
        chosen[z] = model.quadratic_nodes
    assert chosen[None] == () and chosen[0.0] == ("x3",), chosen


# ---------------------------------------------------------------------- noise that scales with the parents
HETERO = CausalGraph.parse("a -> b; a -> c")


def hetero_table(n: int, seed: int = 0) -> pd.DataFrame:
    """b's noise grows with a (sd 0.1 to 1.5 over the data), c's does not."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = np.sin(a) + (0.1 + np.log1p(np.exp(1.5 * a))) * rng.normal(size=n)
    c = 0.5 * a + 0.5 * rng.uniform(-1, 1, size=n)  # additive, not Gaussian
    return pd.DataFrame({"a": a, "b": b, "c": c})


@pytest.fixture(scope="module")
def hetero_fits():
    torch.set_num_threads(1)
    data = hetero_table(4000)
    auto = build_model("causal-gen", HETERO, hidden=32, steps=600)
    auto.fit(data, seed=0)
    additive = build_model("causal-gen", HETERO, hidden=32, steps=600, mechanism="additive")
    additive.fit(data, seed=0)
    return auto, additive


def test_auto_finds_the_node_whose_noise_scales_and_says_so(hetero_fits):
    auto, _ = hetero_fits
    assert auto.scaled_nodes == ("b",)
    assert auto.mechanism_choices()["b"].endswith("location-scale noise")
    assert auto.mechanism_choices()["c"].endswith("additive noise") and auto.mechanism_choices()["a"] == "root"


def test_where_the_noise_is_additive_auto_is_exactly_the_additive_model(hetero_fits):
    auto, additive = hetero_fits
    a, b = auto.sample(500, seed=3), additive.sample(500, seed=3)
    pd.testing.assert_series_equal(a["c"], b["c"])  # same f, same noise: bit for bit
    rows = hetero_table(50, seed=9)
    pd.testing.assert_series_equal(auto.counterfactual(rows, do={"a": 1.0})["c"], additive.counterfactual(rows, do={"a": 1.0})["c"])


def test_location_scale_counterfactuals_track_the_truth(hetero_fits, tmp_path):
    """b' = sin(a') + s(a')·u with u = (b - sin(a)) / s(a): the additive model's b' keeps the
    factual residual unscaled. Tolerances (200 rows, 600 steps on 4,000): the scaled model
    within 0.25 RMS of the truth (0.17 measured), the additive one over four times further
    (1.07 measured)."""
    auto, additive = hetero_fits
    rows = hetero_table(200, seed=7)
    s = lambda a: 0.1 + np.log1p(np.exp(1.5 * a))  # noqa: E731
    u = (rows["b"] - np.sin(rows["a"])) / s(rows["a"])
    truth = np.sin(1.0) + s(1.0) * u
    err = lambda m: float(np.sqrt(((m.counterfactual(rows, do={"a": 1.0})["b"] - truth) ** 2).mean()))  # noqa: E731
    assert err(auto) < 0.25 and err(additive) > 4 * err(auto)
    auto.save(tmp_path / "m")
    same = load_model(tmp_path / "m")
    pd.testing.assert_frame_equal(same.counterfactual(rows, do={"a": 1.0}), auto.counterfactual(rows, do={"a": 1.0}))


# ---------------------------------------------------------------------- counted tables of discrete nodes
DISCRETE = CausalGraph.parse("a -> b; a -> c; b -> c", kinds={"a": "binary", "b": "categorical", "c": "binary"})
P_A, P_B = 0.3, np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])  # P(b | a)
P_C = np.array([[0.1, 0.5, 0.9], [0.4, 0.2, 0.8]])  # P(c = 1 | a, b): an interaction a logistic rival misses


def discrete_table(n: int, seed: int = 0, rare: float = 1.0) -> pd.DataFrame:
    """The network above; with ``rare`` < 1, rows with a = 1 and b = 0 are thinned to that share."""
    rng = np.random.default_rng(seed)
    a = (rng.random(n) < P_A).astype(int)
    b = (rng.random(n)[:, None] > P_B[a].cumsum(1)).sum(1)
    c = (rng.random(n) < P_C[a, b]).astype(int)
    df = pd.DataFrame({"a": a, "b": np.array(["x", "y", "z"])[b], "c": c})
    keep = ~((a == 1) & (b == 0)) | (rng.random(n) < rare)
    return df[keep].reset_index(drop=True)


def test_a_discrete_network_whose_tables_the_data_fill_is_counted_not_trained(tmp_path):
    data = discrete_table(6000)
    model = build_model("causal-gen", DISCRETE)
    report = model.fit(data, seed=0)
    assert report.stopped == "counted" and report.steps == 0 and report.seconds < 5
    assert set(model.table_nodes) == {"a", "b", "c"}
    assert set(model.mechanism_choices().values()) == {"counted table (categorical)"}
    # P(c = 1 | do(b = z)) = Σ_a P(a) P(c = 1 | a, z); 20,000 model draws, 6,000 rows: 0.03 is > 4 standard errors
    truth = (1 - P_A) * P_C[0, 2] + P_A * P_C[1, 2]
    assert model.sample(20_000, do={"b": "z"}, seed=1)["c"].mean() == pytest.approx(truth, abs=0.03)
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(load_model(tmp_path / "m").sample(500, do={"a": 1}, seed=2), model.sample(500, do={"a": 1}, seed=2))


def test_with_a_sparse_configuration_the_tables_are_counted_where_a_logistic_rival_does_not_beat_them():
    data = discrete_table(3000, rare=0.02)  # a = 1, b = x: about 4 rows, under table_rows
    model = build_model("causal-gen", DISCRETE, hidden=16, steps=400)
    report = model.fit(data, seed=0)
    # c's interaction is what a table gets right and a logistic model cannot: no network to train
    assert report.stopped == "counted" and report.steps == 0
    assert set(model.table_nodes) == {"a", "b", "c"}
    truth = (1 - P_A) * P_C[0, 2] + P_A * P_C[1, 2]  # P(c = 1 | do(b = z)), as above (3,000 rows: 0.04)
    assert model.sample(20_000, do={"b": "z"}, seed=1)["c"].mean() == pytest.approx(truth, abs=0.04)
    off = build_model("causal-gen", DISCRETE, hidden=16, steps=400, select_table=False)
    assert off.fit(data, seed=0).steps > 0 and off.table_nodes == ()


ADDITIVE = CausalGraph.parse("; ".join(f"p{i} -> y" for i in range(10)), kinds={**{f"p{i}": "binary" for i in range(10)}, "y": "binary"})


def additive_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Ten binary parents acting on y's logit additively: 1,024 configurations, few rows each."""
    rng = np.random.default_rng(seed)
    p = (rng.random((n, 10)) < 0.5).astype(int)
    logit = p @ np.array([2.0, -2.0, 1.5, -1.5, 1.0, -1.0, 1.0, -1.0, 0.5, -0.5])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({**{f"p{i}": p[:, i] for i in range(10)}, "y": y})


def test_where_a_logistic_rival_beats_the_sparse_tables_the_network_trains():
    model = build_model("causal-gen", ADDITIVE, hidden=16, steps=300)
    report = model.fit(additive_table(2000), seed=0)  # about 2 rows per configuration of y's parents
    assert report.stopped != "counted" and report.steps > 0
    assert "y" not in model.table_nodes  # the network's shared strength predicts held-out rows better


def test_a_checkpoint_from_before_the_counted_tables_loads_as_it_was(tmp_path):
    data = discrete_table(3000, rare=0.02)
    old = build_model("causal-gen", DISCRETE, hidden=16, steps=100, select_table=False)
    old.fit(data, seed=0)
    folder = old.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    for key in ("select_table", "table_z", "table_rows", "scale_hidden", "scale_z", "scale_gain"):
        del meta["config"][key]  # what the previous version wrote
    meta["config"]["mechanism"] = "additive"
    meta["format_version"] = 1
    meta.pop("checksum", None)
    (folder / "model.json").write_text(json.dumps(meta))
    back = load_model(folder)
    assert back.config.select_table is False and back.table_nodes == ()
    pd.testing.assert_frame_equal(old.sample(300, do={"a": 1}, seed=2), back.sample(300, do={"a": 1}, seed=2))


def linear_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = 0.8 * x1 + 0.5 * rng.normal(size=n)
    x3 = -0.5 * x1 + 0.7 * x2 + 0.4 * rng.normal(size=n)
    x4 = 1.5 * x1 + 0.3 * rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "x4": x4})


def test_training_stops_once_every_mechanism_is_a_rival_and_the_model_is_the_full_schedules():
    """Where every node ends on a least-squares rival that agrees with its network, the
    remaining steps could not change the model: it stops ("settled") and is the model the
    full schedule gives, sample for sample and counterfactual for counterfactual."""
    torch.set_num_threads(1)
    data = linear_table(3000)
    early = build_model("causal-gen", GRAPH, hidden=32, steps=1200)
    full = build_model("causal-gen", GRAPH, hidden=32, steps=1200, settle_from=None)
    r_early, r_full = early.fit(data, seed=0), full.fit(data, seed=0)
    assert r_early.stopped == "settled" and r_early.steps < 0.6 * r_full.steps
    assert r_full.stopped == "schedule_done" and r_full.steps == 1200
    assert early.mechanism_choices() == full.mechanism_choices()
    assert all(c == "root" or c.startswith(("linear", "polynomial")) for c in early.mechanism_choices().values())
    pd.testing.assert_frame_equal(early.sample(300, seed=1), full.sample(300, seed=1))
    rows = linear_table(40, seed=5)
    pd.testing.assert_frame_equal(early.counterfactual(rows, do={"x2": 1.0}), full.counterfactual(rows, do={"x2": 1.0}))


def test_a_node_the_network_must_model_trains_the_full_schedule():
    torch.set_num_threads(1)
    model = build_model("causal-gen", GRAPH, hidden=32, steps=600)
    report = model.fit(product_table(3000), seed=0)  # x4 = sin(2·x1): no rival agrees with the network
    assert report.stopped == "schedule_done" and report.steps == 600
    assert model.mechanism_choices()["x4"].startswith("network")


def test_a_linear_node_whose_noise_scales_keeps_training_its_scale_network():
    """Every f here is linear, but b's noise grows with a: b's scale network is part of the
    model, so training runs its whole schedule and the scale is still chosen."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    a = rng.normal(size=4000)
    b = 0.8 * a + (0.1 + np.log1p(np.exp(1.5 * a))) * rng.normal(size=4000)
    c = 0.5 * a + 0.3 * rng.normal(size=4000)
    model = build_model("causal-gen", HETERO, hidden=32, steps=600)
    report = model.fit(pd.DataFrame({"a": a, "b": b, "c": c}), seed=0)
    assert report.stopped == "schedule_done" and report.steps == 600
    assert model.mechanism_choices()["b"] == "linear, location-scale noise"


# ---------------------------------------------------------------------- agreement outranks a tie
def _bend(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """b = a + 0.3·a² + small noise: the least-squares line is about 0.4 sd off the curve."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": a + 0.3 * a**2 + 0.1 * rng.normal(size=n)})


@pytest.mark.parametrize("kind", ["causal-gen", "causal-vgen"])
def test_a_rival_that_agrees_with_the_network_outranks_a_linear_tie(kind):
    """With the tie rule forced open (``linear_z`` huge: every linear mechanism "validates no
    worse"), the degree-2 rival that agrees with the network is still taken over the linear one
    that does not (``agreement_first``, the default), where its products pass the F test; with
    the test's level at 0 or the order before (``agreement_first=False``, as in
    ``causal.hypotheses``) the tie comes first; with no degree-2 rival, the tie rule still picks
    linear over the network."""
    g = CausalGraph.parse("a -> b")
    data = _bend()
    tie = build_model(kind, g, hidden=32, steps=800, linear_z=1e6)
    tie.fit(data, seed=0)
    assert tie.quadratic_nodes == ("b",) and tie.linear_nodes == ()
    for settings in ({"agreement_first": False}, {"curvature_alpha": 0.0}):
        tie_first = build_model(kind, g, hidden=32, steps=800, linear_z=1e6, **settings)
        tie_first.fit(data, seed=0)
        assert tie_first.linear_nodes == ("b",) and tie_first.quadratic_nodes == (), settings
    if kind == "causal-gen":  # no degree-2 rival: the tie decides between linear and the network
        lone = build_model(kind, g, hidden=32, steps=800, linear_z=1e6, select_quadratic=False)
        lone.fit(data, seed=0)
        assert lone.linear_nodes == ("b",)


def _curvature_p(x: torch.Tensor, y: torch.Tensor) -> float:
    mask = torch.ones(1, x.shape[1])
    poly = Polynomials(mask, 2)
    poly.fit_least_squares(x, y[None], [0])
    return float(poly.curvature_p[0])


def test_the_curvature_test_holds_its_level_under_a_line_and_finds_a_bend():
    """The F test of a degree-2 rival's products against the line: under a linear truth with
    two parents (three products), 400 draws of 150 rows reject at 5% in 5% of them (binomial
    99.9% range 2.3-8.5%); a bend of 0.1 sd in 2,000 rows gives p < 1e-6; it is not part of a
    checkpoint."""
    gen = torch.Generator().manual_seed(0)
    p = []
    for _ in range(400):
        x = torch.randn(150, 2, generator=gen)
        y = 0.5 + x[:, 0] - 2.0 * x[:, 1] + torch.randn(150, generator=gen)
        p.append(_curvature_p(x, y))
    rate = float(np.mean(np.array(p) < 0.05))
    assert 0.023 <= rate <= 0.085, rate
    assert 0.4 <= float(np.median(p)) <= 0.6  # uniform under the null
    x = torch.randn(2000, 2, generator=gen)
    y = x[:, 0] + 0.1 * x[:, 1] ** 2 + torch.randn(2000, generator=gen)
    assert _curvature_p(x, y) < 1e-6
    assert "curvature_p" not in Polynomials(torch.ones(1, 2), 2).state_dict()


def test_the_curvature_test_with_one_product_is_the_t_test_of_its_coefficient():
    """With one parent the F statistic of the one product is the square of its coefficient's t
    statistic in the degree-2 fit (scipy's two-sided t tail)."""
    from scipy import stats

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(80, 1, generator=gen)
    y = x[:, 0] + 0.15 * x[:, 0] ** 2 + torch.randn(80, generator=gen)
    design = np.column_stack([np.ones(80), x.numpy()[:, 0], x.numpy()[:, 0] ** 2]).astype(np.float64)
    beta, *_ = np.linalg.lstsq(design, y.numpy().astype(np.float64), rcond=None)
    resid = y.numpy() - design @ beta
    cov = np.linalg.inv(design.T @ design) * (resid @ resid) / (80 - 3)
    t = beta[2] / np.sqrt(cov[2, 2])
    assert _curvature_p(x, y) == pytest.approx(2 * stats.t.sf(abs(t), 80 - 3), rel=1e-6)


@pytest.mark.parametrize("kind", ["causal-gen", "causal-vgen"])
def test_a_degree_2_rival_the_rows_cannot_tell_from_the_line_gives_way_to_it(kind):
    """Every degree-2 rival "agrees" (``quadratic_gap`` huge) and no linear one can
    (``linear_gap`` 0, ``linear_z`` -1e9): on a linear truth with two strongly correlated
    parents, whose products a least-squares quadratic fits to noise, the line is taken, not the
    degree-2 rival it was before (``curvature_alpha=None``); where the bend is real, the
    degree-2 rival stays."""
    g = CausalGraph.parse("a -> b; a -> c; b -> c")
    rng = np.random.default_rng(3)
    a = rng.normal(size=600)
    b = 2.0 * a + 0.2 * rng.normal(size=600)
    settings = {"hidden": 16, "steps": 200, "quadratic_gap": 1e6, "linear_gap": 0.0, "linear_z": -1e9}
    for c, expect in ((a - 0.3 * b + 0.5 * rng.normal(size=600), "linear"),
                      (a - 0.3 * b + 0.5 * a * b + 0.5 * rng.normal(size=600), "quadratic")):
        data = pd.DataFrame({"a": a, "b": b, "c": c})
        model = build_model(kind, g, **settings)
        model.fit(data, seed=0)
        before = build_model(kind, g, curvature_alpha=None, **settings)
        before.fit(data, seed=0)
        assert "c" in before.quadratic_nodes
        assert ("c" in model.linear_nodes) == (expect == "linear") and ("c" in model.quadratic_nodes) == (expect == "quadratic")
