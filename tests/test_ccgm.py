"""CCGM: the partially trainable causal layer (edge states, structure, discovery), de-biasing
by edge removal, and the image VAE on synthetic squares (tiny models, CPU). The tabular
contract runs in tests/test_models.py, parametrized over every kind including "ccgm"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from causal import CausalGraph, EvidenceError, GraphError, InterventionError
from causal.images import ImageData
from generators import build_model, load_model
from generators.image.ccgm import ImageCCGM
from generators.tabular.ccgm import CCGMConfig, EdgeConfigError, TabularCCGM, normalize_edges
from generators.training import TrainConfig
from test_image_base import GRAPH as IMAGE_GRAPH
from test_image_base import render_squares, squares

TINY = dict(hidden=16, steps=200)
TINY_IMAGE = dict(hidden=8, steps=200, width=8, style_dim=2, cycle_weight=5.0, beta=1.0,
                  image_train=TrainConfig(steps=300, batch_size=32, lr=1e-2, val_fraction=0.1))


def linear_table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """a -> b (the 'bias'), a -> c -> d (relations to keep): linear Gaussian."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = 1.5 * a + 0.5 * rng.normal(size=n)
    c = -a + 0.5 * rng.normal(size=n)
    d = 2 * c + 0.5 * rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": c, "d": d})


LINEAR = CausalGraph.parse("a -> b; a -> c; c -> d")


@pytest.fixture(scope="module")
def image_model():
    model = build_model("ccgm", IMAGE_GRAPH, **TINY_IMAGE)
    model.fit(squares(600), seed=0)
    return model


# ---------------------------------------------------------------------- configuration
def test_kind_dispatch_and_edge_settings():
    assert isinstance(build_model("ccgm", LINEAR), TabularCCGM)
    assert isinstance(build_model("ccgm", IMAGE_GRAPH), ImageCCGM)
    spec = normalize_edges({("a", "b"): ("fixed", 2), ("c", "d"): "frozen"})
    assert spec == (("a", "b", "fixed", 2.0), ("c", "d", "frozen", 1.0))
    assert normalize_edges([list(e) for e in spec]) == spec  # as read back from JSON
    assert CCGMConfig(edges={("a", "b"): "learned"}).edges == (("a", "b", "learned", 1.0),)
    with pytest.raises(EdgeConfigError, match="a -> b has unknown state 'fix'; use one of fixed, learned, frozen"):
        CCGMConfig(edges={("a", "b"): "fix"})
    with pytest.raises(EdgeConfigError, match="sets b -> a to 'fixed', but the graph has no such edge; its edges are a -> b"):
        build_model("ccgm", LINEAR, edges={("b", "a"): "fixed"})
    with pytest.raises(EdgeConfigError, match="edges into the image node 'image' are the decoder's inputs"):
        build_model("ccgm", IMAGE_GRAPH, edges={("pos", "image"): "fixed"})


# ---------------------------------------------------------------------- the causal layer
def test_causal_layer_output_ignores_non_parents():
    """Each node's mechanism output has zero gradient with respect to non-parent columns,
    whatever the edge states (gates multiply only the parents' columns)."""
    model = build_model("ccgm", LINEAR, edges={("a", "b"): ("fixed", 0.5), ("c", "d"): "frozen"}, **TINY)
    model.fit(linear_table(500), seed=0)
    x = torch.randn(16, model.layout.width, requires_grad=True)
    out = model.net.nets(x)
    for j, node in enumerate(model.graph.nodes):
        grad = torch.autograd.grad(out[j].sum(), x, retain_graph=True)[0]
        parents = [model.graph.index(p) for p in model.graph.parents(node)]
        for i in range(model.layout.width):
            if i in parents:
                assert torch.any(grad[:, i] != 0), f"{node} ignores its parent column {i}"
            else:
                assert torch.all(grad[:, i] == 0), f"{node} depends on non-parent column {i}"


def test_fixed_edge_keeps_its_weight_frozen_edge_is_held():
    graph = CausalGraph.parse("a -> b; a -> c; c -> d")
    cfg = dict(edges={("a", "b"): ("fixed", 2.0), ("a", "c"): "frozen"}, freeze_after=0.5, **TINY)
    model = build_model("ccgm", graph, **cfg)
    seen = []
    model.fit(linear_table(1000), seed=0,
              callbacks=[lambda p: seen.append((p.steps, model.net.nets.gates().detach().clone()))])
    w = model.edge_weights()
    assert w[("a", "b")] == 2.0  # fixed: exactly the given weight
    assert model.edge_states() == {("a", "b"): "fixed", ("a", "c"): "frozen", ("c", "d"): "learned"}
    ia, ic, idd = (model.graph.index(v) for v in "acd")
    freeze = model.net.freeze_step  # half the planned steps
    assert freeze == 100
    before = [g[ic, ia].item() for s, g in seen if s < freeze]
    after = [g[ic, ia].item() for s, g in seen if s > freeze + 1]
    learned = [g[idd, ic].item() for s, g in seen if s > freeze + 1]
    assert before[0] != 1.0 and len(set(before)) > 1  # trained before the freeze ...
    assert len(after) > 2 and len(set(after)) == 1  # ... then held
    assert w[("a", "c")] == after[-1]
    assert len(set(learned)) > 1  # a learned edge keeps training after the freeze


def test_learn_unknown_discovers_a_missing_edge_only_when_real(tmp_path):
    rng = np.random.default_rng(3)
    n = 3000
    a = rng.normal(size=n)
    b = a + 0.5 * rng.normal(size=n)
    with_edge = pd.DataFrame({"a": a, "b": b, "c": b - 1.5 * a + 0.3 * rng.normal(size=n)})
    without = pd.DataFrame({"a": a, "b": b, "c": b + 0.3 * rng.normal(size=n)})  # c independent of a given b
    user = CausalGraph.parse("a -> b; b -> c")
    model = build_model("ccgm", user, learn_unknown=True, **TINY)
    model.fit(with_edge, seed=0)
    assert model.discovered_edges == (("a", "c"),)
    assert model.graph.has_edge("a", "c") and model.edge_states()[("a", "c")] == "discovered"
    cf = model.counterfactual(with_edge.head(200), do={"a": 0.0})
    rows = with_edge.head(200)  # truth under do(a = 0): b' = b - a, c' = c + (b' - b) + 1.5 a = c + 0.5 a
    assert np.sqrt(np.mean((cf["c"] - (rows["c"] + 0.5 * rows["a"])) ** 2)) < 0.1  # sd(c) is about 0.9
    model.save(tmp_path / "m")
    same = load_model(tmp_path / "m")
    assert same.discovered_edges == (("a", "c"),)
    pd.testing.assert_frame_equal(same.sample(100, seed=1), model.sample(100, seed=1))
    plain = build_model("ccgm", user, learn_unknown=True, **TINY)
    plain.fit(without, seed=0)
    assert plain.discovered_edges == () and plain.graph.same_structure(user)


# ---------------------------------------------------------------------- de-biasing
def test_without_edges_removes_the_dependence_and_keeps_the_rest():
    data = linear_table()
    model = build_model("ccgm", LINEAR, **TINY)
    model.fit(data, seed=0)
    fair = model.without_edges(("a", "b"), method="refit", seed=0, n=5000)
    assert not fair.graph.has_edge("a", "b") and model.graph.has_edge("a", "b")  # the original is untouched
    before, after = model.sample(4000, seed=2), fair.sample(4000, seed=2)
    assert abs(np.corrcoef(before["a"], before["b"])[0, 1]) > 0.9
    assert abs(np.corrcoef(after["a"], after["b"])[0, 1]) < 0.05  # tolerance: 3 sd of a null correlation at n = 4000
    assert abs(after["b"].std() - before["b"].std()) < 0.1 * before["b"].std()  # b's marginal kept (parent-marginal)
    assert abs(after["b"].mean() - before["b"].mean()) < 0.1
    # unrelated mechanisms are copied exactly: with the same seed the same values
    pd.testing.assert_frame_equal(after[["a", "c", "d"]], before[["a", "c", "d"]])
    cf = fair.counterfactual(data.head(50), do={"a": 2.0})
    assert np.allclose(cf["b"], data.head(50)["b"], atol=1e-4)  # b no longer listens to a
    with pytest.raises(GraphError, match="cannot remove b -> a: the model's graph has no such edge"):
        model.without_edges(("b", "a"), method="refit")


def test_without_edges_discrete_child_gets_the_parent_marginal():
    rng = np.random.default_rng(0)
    n = 4000
    a = (rng.random(n) < 0.3).astype(int)
    b = (rng.random(n) < np.where(a == 1, 0.9, 0.2)).astype(int)
    model = build_model("ccgm", CausalGraph.parse("a -> b"), **TINY)
    model.fit(pd.DataFrame({"a": a, "b": b}), seed=0)
    fair = model.without_edges(("a", "b"), method="refit", seed=0, n=10_000).sample(20_000, seed=1)
    p1, p0 = fair.loc[fair.a == 1, "b"].mean(), fair.loc[fair.a == 0, "b"].mean()
    assert abs(p1 - p0) < 0.03
    assert abs(fair["b"].mean() - (0.3 * 0.9 + 0.7 * 0.2)) < 0.03  # Σ_a P(b | a) P(a) = 0.41


# ---------------------------------------------------------------------- images
def test_image_fit_32px_few_steps():
    data = squares(120, size=32)
    cfg = dict(TINY_IMAGE, image_train=TrainConfig(steps=8, batch_size=16))
    model = build_model("ccgm", IMAGE_GRAPH, **cfg)
    report = model.fit(data, seed=0)
    assert np.isfinite(report.best_val_loss) and report.steps == model.labels.report.steps + 8
    out = model.sample(5, seed=0)
    assert out.images.shape == (5, 32, 32, 1) and out.images.dtype == np.uint8


def test_image_decoder_reads_only_the_image_parents(image_model):
    assert image_model.encoding.nodes == ("pos", "bright")  # not tag: the image does not show it
    s = image_model.sample(6, seed=0)
    other = s.labels.assign(tag=s.labels["tag"] + 5.0)
    style = image_model.abduct_style(s)
    np.testing.assert_array_equal(image_model.decode(s.labels, style), image_model.decode(other, style))
    moved = s.labels.assign(pos=1.0 - s.labels["pos"])
    assert not np.array_equal(image_model.decode(s.labels, style), image_model.decode(moved, style))


def test_image_do_clamps_and_keeps_non_descendants(image_model):
    obs = image_model.sample(200, seed=3)
    do = image_model.sample(200, do={"bright": 1}, seed=3)
    assert (do.labels["bright"] == 1).all()
    pd.testing.assert_frame_equal(do.labels[["pos", "tag"]], obs.labels[["pos", "tag"]])
    root = image_model.sample(200, do={"pos": 0.9}, seed=3)
    assert (root.labels["pos"] == 0.9).all() and root.labels["bright"].mean() > obs.labels["bright"].mean()


def test_image_counterfactual_reconstructs_when_nothing_changes(image_model):
    """do() that sets the observed labels gives the factual image back exactly with pixel
    noise (the default: the residual is abducted), and the reconstruction without it.
    Tolerance of the reconstruction: mean absolute pixel error below 60% of that of the
    best constant guess (the mean training image), i.e. label blocks and style carry the
    image."""
    rows = squares(100, seed=7)
    own = {"pos": rows.labels["pos"].to_numpy()}
    same = image_model.counterfactual(rows, do=own, seed=0)
    pd.testing.assert_frame_equal(same.labels, rows.labels)
    np.testing.assert_array_equal(same.images, rows.images)
    rec = image_model.reconstruct(rows)
    np.testing.assert_array_equal(image_model.counterfactual(rows, do=own, seed=0, pixel_noise=False).images, rec.images)
    err = np.abs(rec.images.astype(float) - rows.images).mean() / 255
    mean_image = squares(600).images.astype(float).mean(0)
    baseline = np.abs(mean_image[None] - rows.images).mean() / 255
    assert err < 0.6 * baseline, (err, baseline)
    empty = image_model.counterfactual(rows, do={})
    assert empty.images is not rows.images
    np.testing.assert_array_equal(empty.images, rows.images)


def test_image_counterfactual_moves_the_square(image_model):
    """do(pos) on the factual rows moves the drawn square: the brightest column of the
    decoded counterfactual is closer to the re-rendered truth than the factual's is; with
    pixel noise the change from the factual is exactly the decoder's change."""
    rows = squares(60, seed=8)
    cf = image_model.counterfactual(rows, do={"pos": 0.9}, seed=0, pixel_noise=False)
    truth = render_squares(np.full(60, 0.9), cf.labels["bright"].to_numpy(), rows.style[:, 0])
    col = lambda imgs: imgs[..., 0].astype(float).sum(1).argmax(1)  # noqa: E731
    assert np.abs(col(cf.images) - col(truth)).mean() < 0.5 * np.abs(col(rows.images) - col(truth)).mean()
    noisy = image_model.counterfactual(rows, do={"pos": 0.9}, seed=0)
    change = cf.images.astype(int) - image_model.reconstruct(rows).images.astype(int)
    expected = np.clip(rows.images.astype(int) + change, 0, 255)
    assert np.abs(noisy.images.astype(int) - expected).max() <= 2  # two roundings to uint8 apart


def test_image_save_load_round_trip(image_model, tmp_path):
    image_model.save(tmp_path / "m")
    same = load_model(tmp_path / "m", graph=IMAGE_GRAPH)
    assert isinstance(same, ImageCCGM) and same.graph == image_model.graph
    a, b = image_model.sample(10, do={"bright": 0}, seed=5), same.sample(10, do={"bright": 0}, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    rows = squares(10, seed=1)
    np.testing.assert_array_equal(image_model.counterfactual(rows, {"pos": 0.2}, seed=0).images,
                                  same.counterfactual(rows, {"pos": 0.2}, seed=0).images)


def test_image_without_edges(image_model):
    fair = image_model.without_edges(("pos", "bright"), method="refit", seed=0, n=4000)
    lab = fair.sample(4000, seed=0).labels
    assert abs(np.corrcoef(lab["pos"], lab["bright"])[0, 1]) < 0.05
    assert fair.graph.has_edge("pos", "image") and not fair.graph.has_edge("pos", "bright")
    s = fair.sample(4, seed=0)
    assert isinstance(s, ImageData) and s.images.shape == (4, 16, 16, 1)
    with pytest.raises(GraphError, match="edges into the image node are the decoder's inputs"):
        image_model.without_edges(("pos", "image"), method="refit")


def test_image_refusals(image_model):
    with pytest.raises(InterventionError, match="cannot intervene on 'image': it is the image node"):
        image_model.counterfactual(squares(4), do={"image": 1})
    with pytest.raises(EvidenceError, match="cannot condition on 'image'"):
        image_model.sample(4, given={"image": 1})
    with pytest.raises(InterventionError, match="cannot intervene on 'size': no such node"):
        image_model.sample(4, do={"size": 1})
