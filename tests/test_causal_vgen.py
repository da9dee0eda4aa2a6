"""Causal Variational Gen's own parts: the residual encoder, the sampling modes, the
tabulated one-dimensional maps, and reading checkpoints of the previous version."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

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
    for key in ("encoder", "latent_hidden", "latent_layers", "f_loss"):  # what the previous versions did not write
        del meta["config"][key]
    meta["format_version"] = 1  # as written then: the JSON carried no checksum of its own
    meta.pop("checksum", None)
    meta_path.write_text(json.dumps(meta))
    back = load_model(folder)
    assert back.config.encoder == "full" and back.config.latent_hidden == TINY["hidden"]
    assert back.config.latent_layers == 3  # the one-input maps had `layers` hidden layers then
    assert back.config.f_loss == "elbo"  # and f was trained by the ELBO
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
