"""Causal Variational Gen's own parts: the residual encoder, the sampling modes, the
tabulated one-dimensional maps, the per-node location-scale noise, and reading checkpoints
of the previous versions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from causal.graph import CausalGraph
from generators import build_model, load_model
from generators.tabular.causal_vgen import CausalVGenConfig
from generators.nets import Tabulated
from tests.test_models import GRAPH, mixed_table

TINY = dict(hidden=16, steps=150)


@pytest.fixture(scope="module")
def data():
    return mixed_table(1500)


@pytest.fixture(scope="module")
def fitted(data):
    model = build_model("causal-vgen", GRAPH, **TINY)
    model.fit(data, seed=0)
    return model


def test_tabulated_is_as_exact_as_the_function_in_float32():
    fn = lambda t: 3.0 * torch.tanh(2.0 * t) + t**2  # noqa: E731  (|f''| up to ~10)
    table = Tabulated.of(fn, -4.0, 4.0)
    x = np.random.default_rng(0).uniform(-5.0, 5.0, 20_000)
    exact = lambda v: (3.0 * np.tanh(2.0 * v) + v**2)  # noqa: E731
    calls = []
    got = table(x, lambda v: calls.append(len(v)) or exact(v))
    inside = np.abs(x) <= 4.0
    assert np.abs(got[inside] - exact(x[inside])).max() < 2e-6  # float32 rounding of values up to 19
    assert np.array_equal(got[~inside], exact(x[~inside]))  # off the grid: the exact function
    assert calls == [int((~inside).sum())]
    assert table.hi == 4.0


def test_residual_encoder_reads_only_the_nodes_own_residual(fitted):
    net = fitted.net
    cont = net.terms.cont_nodes.tolist()
    assert net.residual and net.encoder.nodes == cont and net.encoder.in_dim == 1
    r = torch.randn(len(cont), 8, 1, requires_grad=True)  # row k: continuous node k's residual
    out = net.encoder(r)
    for k, j in enumerate(cont):
        grad = torch.autograd.grad(out[k].sum(), r, retain_graph=True)[0]
        others = [i for i in range(len(cont)) if i != k]
        assert torch.all(grad[others] == 0) and torch.any(grad[k] != 0), GRAPH.nodes[j]
        np.testing.assert_allclose(net.encoder.node(j, r[k].detach()).detach().numpy(), out[k].detach().numpy(),
                                   rtol=1e-6, atol=1e-6)


def test_one_input_maps_load_from_the_masked_networks_of_older_checkpoints():
    """Checkpoints written before ScalarNets hold these maps as a ParentNets over an
    identity-like mask; loading picks out each node's row and own columns, exactly."""
    from generators.nets import ParentNets, ScalarNets

    torch.manual_seed(0)
    n, d, nodes = 5, 2, [0, 2, 3]
    mask = torch.zeros(n, n * d)
    for j in nodes:
        mask[j, j * d : (j + 1) * d] = 1.0
    old = ParentNets(mask, 1, hidden=8, layers=2)
    with torch.no_grad():
        old.skip.normal_()
    new = ScalarNets(nodes, d, 1, hidden=8, layers=2)
    new.load_state_dict(old.state_dict(), strict=True)
    u = torch.randn(50, n * d)
    with torch.no_grad():
        want = old(u)
        for k, j in enumerate(nodes):
            got = new.node(j, u[:, j * d : (j + 1) * d])
            torch.testing.assert_close(got, want[j], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(new(u.reshape(50, n, d).transpose(0, 1)[nodes])[k], want[j], rtol=1e-6, atol=1e-6)


def test_queries_use_tables_that_match_the_networks(fitted):
    net, rng = fitted.net, np.random.default_rng(1)
    for j in net.terms.cont_nodes.tolist():
        v = rng.normal(0, 3, 2000)
        t = torch.tensor(v, dtype=torch.float32)[:, None]
        with torch.no_grad():
            h = net.latent_net.node(j, t)[:, 0].double().numpy()
            mu = net.encoder.node(j, t)[:, 0].double().numpy()
        np.testing.assert_allclose(fitted._h[j](v, None), h, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fitted._enc[j](v, None), mu, rtol=1e-5, atol=1e-5)


def test_empirical_exogenous_term_reproduces_the_training_residuals(fitted, data):
    """A root's samples are its exogenous term: their quantiles are the data's (e is
    exponential, far from the N(0, 1) prior's shape); a child's residual likewise."""
    s = fitted.sample(20_000, seed=3)
    qs = np.linspace(0.02, 0.98, 25)
    sd = data["e"].std()
    assert np.abs(np.quantile(s["e"], qs) - np.quantile(data["e"], qs)).max() < 0.08 * sd
    # the prior's draws of the same model are what the VAE alone makes of it: shown for scale
    prior = build_model("causal-vgen", GRAPH, **TINY, latent="prior")
    prior.fit(data, seed=0)
    sp = prior.sample(20_000, seed=3)
    gap_prior = np.abs(np.quantile(sp["e"], qs) - np.quantile(data["e"], qs)).max()
    gap_emp = np.abs(np.quantile(s["e"], qs) - np.quantile(data["e"], qs)).max()
    assert gap_emp < gap_prior


def test_counterfactual_under_the_additive_decoder_moves_by_the_mechanism(fitted, data):
    """z' = z + f(parents') − f(parents): whatever u the encoder abducts, it cancels."""
    rows = data.iloc[:50]
    cf = fitted.counterfactual(rows, do={"c": 1}, seed=0)
    col = fitted.schema["d"]
    enc = lambda frame: fitted._parents_tensor(  # noqa: E731
        "d", {p: fitted.schema.encode(frame)[p] for p in GRAPH.parents("d")}, len(frame))
    j = GRAPH.index("d")
    with torch.no_grad():
        expected = rows["d"].to_numpy() + col.std * (fitted._f(j, enc(cf)) - fitted._f(j, enc(rows)))
    np.testing.assert_allclose(cf["d"].to_numpy(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("settings, needs", [
    (dict(decoder="general"), "encoder='full'"),
    (dict(decoder="general", encoder="full", latent="empirical"), "latent='prior' or 'aggregate'"),
    (dict(encoder="flow"), "unknown encoder 'flow'"),
    (dict(f_loss="mse"), "unknown f_loss 'mse'"),
])
def test_settings_that_do_not_fit_together_are_refused(settings, needs):
    with pytest.raises(ValueError, match=needs.replace("(", r"\(").replace("'", "'")):
        CausalVGenConfig(**settings)


def test_a_checkpoint_from_before_the_residual_encoder_loads_as_it_was(data, tmp_path):
    old = build_model("causal-vgen", GRAPH, **TINY, encoder="full", latent="prior", latent_hidden=TINY["hidden"],
                      latent_layers=3, layers=3, f_loss="elbo")
    old.fit(data, seed=0)
    folder = old.save(tmp_path / "m")
    meta_path = folder / "model.json"
    meta = json.loads(meta_path.read_text())
    for key in ("encoder", "latent_hidden", "latent_layers", "f_loss",  # what the previous versions did not write
                "mechanism", "scale_hidden", "scale_z", "scale_gain"):
        del meta["config"][key]
    meta["format_version"] = 1  # as written then: the JSON carried no checksum of its own
    meta.pop("checksum", None)
    meta_path.write_text(json.dumps(meta))
    back = load_model(folder)
    assert back.config.encoder == "full" and back.config.latent_hidden == TINY["hidden"]
    assert back.config.latent_layers == 3  # the one-input maps had `layers` hidden layers then
    assert back.config.f_loss == "elbo"  # and f was trained by the ELBO
    assert back.config.mechanism == "additive"  # and the noise was additive
    a, b = old.sample(500, seed=4), back.sample(500, seed=4)
    np.testing.assert_allclose(a["d"].to_numpy(), b["d"].to_numpy())


@pytest.mark.parametrize("settings", [{}, dict(decoder="general", encoder="full", latent="prior")])
def test_a_graph_of_discrete_nodes_only_trains_with_either_decoder(data, settings):
    """No continuous node means no latent at all: the general decoder's u inputs are zeros
    (before, it was fed a table without them and failed on the shapes)."""
    from causal.graph import CausalGraph

    graph = CausalGraph.parse("b -> c")
    model = build_model("causal-vgen", graph, **TINY, **settings)
    report = model.fit(data[["b", "c"]], seed=0)
    assert np.isfinite(report.best_val_loss)
    s = model.sample(4000, do={"b": "high"}, seed=1)
    assert set(s["b"]) == {"high"}
    # c depends on b in the data (both driven by a): the model's P(c = 1 | do(b)) follows it
    want = data.loc[data["b"] == "high", "c"].mean()
    assert abs(s["c"].mean() - want) < 0.06, (s["c"].mean(), want)


@pytest.mark.parametrize("f_loss", ["least-squares", "elbo"])
def test_f_loss_decides_what_trains_the_mechanisms(data, f_loss):
    """``least-squares``: a continuous node's f gets its gradient from the squared error
    alone (the ELBO sees the residual detached); ``elbo``: from the ELBO only. (No simpler
    rival is selected, so f is the network in every node.)"""
    model = build_model("causal-vgen", GRAPH, **{**TINY, "steps": 20}, f_loss=f_loss, select_simple=False)
    model.fit(data, seed=0)
    net = model.net
    net.train()
    batch = torch.from_numpy(model.layout.encode(model.schema.encode(data.iloc[:256])))
    c = net.terms.cont_nodes
    params = list(net.nets.parameters())

    def grads(loss):
        return torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)

    torch.manual_seed(0)
    total = grads(net.node_losses(batch)[c].sum())
    sq = grads(((net.terms.targets(batch) - net.mechanisms(batch)[c, :, 0]) ** 2).mean(1).sum())
    # every ParentNets parameter is indexed by node first; keep the continuous nodes' parts
    g_total = torch.cat([g[c].flatten() for g in total])
    g_sq = torch.cat([g[c].flatten() for g in sq])
    assert g_sq.abs().max() > 0
    if f_loss == "least-squares":
        torch.testing.assert_close(g_total, g_sq, rtol=1e-5, atol=1e-7)
    else:  # the ELBO reaches f (through the residual), and nothing else does
        assert g_total.abs().max() > 0
        assert (g_total - g_sq).abs().max() > 1e-3 * g_sq.abs().max()


@pytest.mark.parametrize("keep_by_f", [True, False])
def test_validation_scores_f_where_the_model_depends_on_f_alone(fitted, data, keep_by_f):
    """What picks each node's kept weights: f's held-out squared error under ``keep_by_f``
    (the defaults: additive decoder, f by least squares, empirical term), else the ELBO."""
    net = fitted.net
    batch = torch.from_numpy(fitted.layout.encode(fitted.schema.encode(data.iloc[:300])))
    c = net.terms.cont_nodes
    net.eval()
    old = net.keep_by_f
    try:
        net.keep_by_f = keep_by_f
        losses = net.node_losses(batch)
        sq = ((net.terms.targets(batch) - net.mechanisms(batch)[c, :, 0]) ** 2).mean(1)
        if keep_by_f:
            torch.testing.assert_close(losses[c], sq)
        else:
            assert (losses[c] - sq).abs().max() > 1e-3  # the ELBO: reconstruction, KL and the squared error
        torch.testing.assert_close(net.loss(batch), losses.sum())  # a graph with discrete nodes keeps by the total
    finally:
        net.keep_by_f = old
    elbo = build_model("causal-vgen", GRAPH, **{**TINY, "steps": 5}, f_loss="elbo")
    elbo.fit(data, seed=0)
    assert fitted.net.keep_by_f and not elbo.net.keep_by_f  # f trained by the ELBO: the ELBO picks


# ---------------------------------------------------------------- location-scale noise
HETERO = CausalGraph.parse("a -> b; b -> c")
HFIT = dict(hidden=16, steps=1000)  # ~3 s: at 150 steps the scale networks are still far off at the edges


def _s_b(a):
    return 0.6 + 0.4 * np.tanh(1.5 * a)  # the scale of b's noise grows fivefold over a's range


def hetero_table(n: int = 3000, seed: int = 0):
    """b = sin(a) + s(a)·u_b (heteroscedastic), c = b / 2 + 0.3·u_c (additive); b's noise
    is returned too, for the true counterfactuals."""
    rng = np.random.default_rng(seed)
    a, ub, uc = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    b = np.sin(a) + _s_b(a) * ub
    return pd.DataFrame({"a": a, "b": b, "c": 0.5 * b + 0.3 * uc}), ub


@pytest.fixture(scope="module")
def hetero():
    data, ub = hetero_table()
    fits = {}
    for mechanism in ("auto", "additive"):
        model = build_model("causal-vgen", HETERO, **HFIT, mechanism=mechanism)
        model.fit(data, seed=0)
        fits[mechanism] = model
    return data, ub, fits


def test_scale_is_chosen_where_the_noise_scales_and_the_counterfactuals_follow_it(hetero):
    """On b = sin(a) + s(a)·u the location-scale noise is chosen for b (not for the additive
    c), and the counterfactual of b under do(a := −a) — truly sin(a') + s(a')·u — is at least
    three times closer than under additive noise (measured: 0.11 against 0.66 of b's sd)."""
    data, ub, fits = hetero
    auto, additive = fits["auto"], fits["additive"]
    assert auto.scaled_nodes == ("b",)
    choices = auto.mechanism_choices()
    assert choices["a"] == "root" and choices["b"].endswith("location-scale noise")
    assert choices["c"].endswith("additive noise")
    assert all(v.endswith("additive noise") for k, v in additive.mechanism_choices().items() if k != "a")
    rows = data.iloc[:500]
    a1 = -rows["a"].to_numpy()
    truth = np.sin(a1) + _s_b(a1) * ub[:500]
    err = {k: np.sqrt(np.mean((m.counterfactual(rows, do={"a": a1}, seed=0)["b"].to_numpy() - truth) ** 2))
           / data["b"].std() for k, m in fits.items()}
    assert err["auto"] < err["additive"] / 3, err
    assert err["auto"] < 0.2, err


def test_location_scale_counterfactual_is_f_plus_scale_times_the_standardized_residual(hetero):
    """b' = f(a') + s(a')·(b − f(a)) / s(a) exactly (abduction and prediction agree), and a
    counterfactual that changes nothing gives the row back."""
    data, _, fits = hetero
    model, rows = fits["auto"], data.iloc[:200]
    col, j = model.schema["b"], HETERO.index("b")
    a1 = rows["a"].to_numpy() - 0.7
    cf = model.counterfactual(rows, do={"a": a1}, seed=0)
    enc = lambda a: model._parents_tensor("b", {"a": model.schema.encode(  # noqa: E731
        rows.assign(a=a))["a"]}, len(rows))
    with torch.no_grad():
        p0, p1 = enc(rows["a"].to_numpy()), enc(a1)
        f0, f1 = model._f(j, p0), model._f(j, p1)
        s0, s1 = model._scale(j, p0), model._scale(j, p1)
    z = (rows["b"].to_numpy() - col.mean) / col.std
    want = col.mean + col.std * (f1 + s1 * (z - f0) / s0)
    np.testing.assert_allclose(cf["b"].to_numpy(), want, rtol=1e-9, atol=1e-9)
    same = model.counterfactual(rows, do={"a": rows["a"].to_numpy()}, seed=0)
    np.testing.assert_allclose(same[["b", "c"]].to_numpy(), rows[["b", "c"]].to_numpy(), rtol=1e-6, atol=1e-6)


def test_samples_and_density_follow_the_scale(hetero):
    """do(a = −1) and do(a = 1): b's spread follows s(a) (true ratio 4.0; within 20%), and
    the held-out log-likelihood of b is higher than under additive noise."""
    _, _, fits = hetero
    model = fits["auto"]
    lo, hi = (model.sample(20_000, do={"a": v}, seed=1)["b"].std() for v in (-1.0, 1.0))
    assert abs((hi / lo) / (_s_b(1.0) / _s_b(-1.0)) - 1) < 0.2, (hi / lo, _s_b(1.0) / _s_b(-1.0))
    test, _ = hetero_table(2000, seed=5)
    ll = {k: m.log_density(test, ["b"])["b"].mean() for k, m in fits.items()}
    assert ll["auto"] > ll["additive"] + 0.1, ll


def test_where_the_noise_is_additive_auto_is_the_additive_fit_exactly(data):
    """The scale network trains beside f on f's detached residuals and is not chosen on
    mixed_table (every noise additive): weights, samples and counterfactuals are those of
    mechanism='additive', bit for bit (mixed_table's discrete nodes make the best weights
    the epoch of the lowest total validation loss, which leaves the scale's loss out)."""
    fits, reports = {}, {}
    for mechanism in ("auto", "additive"):
        model = build_model("causal-vgen", GRAPH, **TINY, mechanism=mechanism)
        reports[mechanism] = model.fit(data, seed=0)
        fits[mechanism] = model
    auto, additive = fits["auto"], fits["additive"]
    assert reports["auto"].best_val_loss == reports["additive"].best_val_loss
    assert reports["auto"].best_epoch == reports["additive"].best_epoch
    assert auto.net.scale is not None and auto.scaled_nodes == () and additive.net.scale is None
    extra = {"use_scale", "log_scale_range"}
    a = {k: v for k, v in auto.net.state_dict().items() if not k.startswith("scale.") and k not in extra}
    b = additive.net.state_dict()
    assert a.keys() == b.keys()
    for k in b:
        assert torch.equal(a[k], b[k]), k
    pd.testing.assert_frame_equal(auto.sample(2000, seed=2), additive.sample(2000, seed=2))
    rows = data.iloc[:100]
    pd.testing.assert_frame_equal(auto.counterfactual(rows, do={"a": 0.5}, seed=0),
                                  additive.counterfactual(rows, do={"a": 0.5}, seed=0))
    assert auto.mechanism_choices() == additive.mechanism_choices()


def test_a_scaled_model_saves_and_loads_as_it_was(hetero, tmp_path):
    data, _, fits = hetero
    model = fits["auto"]
    back = load_model(model.save(tmp_path / "m"))
    assert back.config.mechanism == "auto" and back.scaled_nodes == ("b",)
    assert back.mechanism_choices() == model.mechanism_choices()
    rows = data.iloc[:100]
    np.testing.assert_array_equal(back.sample(1000, seed=3).to_numpy(), model.sample(1000, seed=3).to_numpy())
    np.testing.assert_array_equal(back.counterfactual(rows, do={"a": 0.0}, seed=0).to_numpy(),
                                  model.counterfactual(rows, do={"a": 0.0}, seed=0).to_numpy())
    np.testing.assert_array_equal(back.log_density(rows).to_numpy(), model.log_density(rows).to_numpy())


def test_a_checkpoint_from_before_the_scale_loads_as_additive(hetero, tmp_path):
    """A checkpoint of the version before ``mechanism`` (no such keys, no scale weights)
    loads as the additive model it was."""
    data, _, fits = hetero
    old = fits["additive"]
    folder = old.save(tmp_path / "m")
    meta_path = folder / "model.json"
    meta = json.loads(meta_path.read_text())
    for key in ("mechanism", "scale_hidden", "scale_z", "scale_gain"):
        del meta["config"][key]
    meta["format_version"] = 1
    meta.pop("checksum", None)
    meta_path.write_text(json.dumps(meta))
    back = load_model(folder)
    assert back.config.mechanism == "additive" and back.net.scale is None and back.scaled_nodes == ()
    np.testing.assert_array_equal(back.sample(500, seed=4).to_numpy(), old.sample(500, seed=4).to_numpy())


@pytest.mark.parametrize("latent", ["prior", "aggregate"])
def test_location_scale_trains_the_vae_on_the_standardized_residual(latent):
    """mechanism='location-scale' scales every continuous node with parents from the start,
    so the VAE's own sampling (u from the prior or the aggregate posterior) works on the
    standardized residual: b's spread under do(a = ±1) follows s(a) (true ratio 4.0; within
    25%), and under 'auto' these latents keep the noise additive (the choice is made only
    with the empirical exogenous term)."""
    data, _ = hetero_table()
    model = build_model("causal-vgen", HETERO, **HFIT, latent=latent, mechanism="location-scale")
    model.fit(data, seed=0)
    assert model.scaled_nodes == ("b", "c")
    lo, hi = (model.sample(20_000, do={"a": v}, seed=1)["b"].std() for v in (-1.0, 1.0))
    assert abs((hi / lo) / (_s_b(1.0) / _s_b(-1.0)) - 1) < 0.25, (hi / lo, _s_b(1.0) / _s_b(-1.0))
    auto = build_model("causal-vgen", HETERO, **{**TINY, "steps": 10}, latent=latent)
    auto.fit(data, seed=0)
    assert auto.net.scale is None and auto.scaled_nodes == ()


def test_the_general_decoder_refuses_location_scale_and_reports_its_networks(data):
    with pytest.raises(ValueError, match="needs decoder='additive'"):
        CausalVGenConfig(decoder="general", encoder="full", latent="prior", mechanism="location-scale")
    model = build_model("causal-vgen", GRAPH, **{**TINY, "steps": 10}, decoder="general", encoder="full", latent="prior")
    model.fit(data, seed=0)
    assert model.mechanism_choices()["d"] == "network g(parents, u)" and model.mechanism_choices()["a"] == "root"


def test_the_apps_runs_page_lists_the_choice_per_node(hetero):
    from app.logic.runs import mechanism_table

    table = mechanism_table(hetero[2]["auto"])
    assert dict(zip(table["node"], table["mechanism"]))["b"].endswith("location-scale noise")
