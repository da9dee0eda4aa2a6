"""The model contract, one test set parametrized over every model kind (tiny models)."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from causal import CausalGraph, DataError, datasets
from causal.metrics import Standardizer, counterfactual_rmse
import generators
from generators import CheckpointError, NotFittedError, build_model, load_model
from generators.nets import Polynomials

KINDS = [k.name for k in generators.KINDS if k.table is not None]
TINY = dict(hidden=16, steps=150, patience=1000)
GRAPH = CausalGraph.parse("a -> b; a -> c; b -> d; c -> d; e")


def mixed_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """a continuous root, b categorical (text) <- a, c binary <- a, d continuous <- b, c; e isolated."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = np.array(["low", "mid", "high"])[np.digitize(a + 0.5 * rng.normal(size=n), [-0.5, 0.5])]
    c = (rng.random(n) < 1 / (1 + np.exp(-2 * a))).astype(int)
    d = np.select([b == "low", b == "mid"], [-1.0, 0.0], 1.0) + 2.0 * c + 0.3 * rng.normal(size=n)
    e = rng.exponential(size=n)
    return pd.DataFrame({"d": d, "a": a, "b": b, "c": c, "e": e})  # columns deliberately out of order


@pytest.fixture(scope="module", params=KINDS)
def fitted(request):
    model = build_model(request.param, GRAPH, **TINY)
    report = model.fit(mixed_table(), seed=0)
    return model, report


def test_fit_report_and_kinds(fitted):
    model, report = fitted
    assert report.steps > 0 and report.epochs >= 1 and np.isfinite(report.best_val_loss)
    assert report.n_train + report.n_val == 600
    assert model.graph.kind("b") == "categorical" and model.graph.kind("c") == "binary"
    assert model.graph.kind("a") == "continuous"
    assert model.schema["b"].categories == ("high", "low", "mid")


def test_sample_shape_columns_and_values(fitted):
    model, _ = fitted
    df = model.sample(500, seed=1)
    assert list(df.columns) == list(GRAPH.nodes)
    assert len(df) == 500
    assert set(df["b"]) <= {"low", "mid", "high"} and set(df["c"]) <= {0, 1}
    assert df["a"].dtype == np.float64 and np.isfinite(df[["a", "d", "e"]].to_numpy()).all()


def test_same_seed_same_result(fitted):
    model, _ = fitted
    pd.testing.assert_frame_equal(model.sample(200, seed=3), model.sample(200, seed=3))
    assert not model.sample(200, seed=3).equals(model.sample(200, seed=4))


def test_do_clamps_and_leaves_non_descendants_alone(fitted):
    model, _ = fitted
    obs = model.sample(400, seed=5)
    for node, value in (("b", "high"), ("c", 1), ("a", 0.5)):
        intv = model.sample(400, do={node: value}, seed=5)
        assert (intv[node] == value).all()
        untouched = [n for n in GRAPH.nodes if n != node and n not in GRAPH.descendants(node)]
        # noise is drawn for every node in order, so with one seed the columns are identical
        pd.testing.assert_frame_equal(obs[untouched], intv[untouched])


def test_do_changes_descendants(fitted):
    model, _ = fitted
    low, high = model.sample(2000, do={"c": 0}, seed=6), model.sample(2000, do={"c": 1}, seed=6)
    # d = ... + 2 c: every model must see a clear effect of c on d (true ATE 2.0)
    assert high["d"].mean() - low["d"].mean() > 1.0


def test_counterfactual_empty_do_returns_rows(fitted):
    model, _ = fitted
    rows = mixed_table(50, seed=9).set_index(pd.RangeIndex(100, 150))
    rows["note"] = "kept"
    cf = model.counterfactual(rows, do={})
    pd.testing.assert_frame_equal(cf, rows)


def test_counterfactual_do(fitted):
    model, _ = fitted
    rows = mixed_table(50, seed=9)
    cf = model.counterfactual(rows, do={"a": 1.0}, seed=0)
    assert list(cf.columns) == list(rows.columns) and cf.index.equals(rows.index)
    assert (cf["a"] == 1.0).all()
    pd.testing.assert_series_equal(cf["e"], rows["e"])  # not a descendant of a
    assert not np.allclose(cf["d"], rows["d"])


def test_counterfactual_of_own_value_reproduces_rows(fitted):
    """Abduction then prediction with an intervention that changes nothing gives the row back."""
    model, _ = fitted
    rows = mixed_table(80, seed=11)
    cf = model.counterfactual(rows, do={"a": rows["a"].to_numpy()}, seed=0)
    assert np.allclose(cf["d"], rows["d"], atol=1e-4)
    # a discrete child keeps its value when its parents do not change (Gumbel-max posterior)
    assert (cf["c"] == rows["c"]).all() and (cf["b"] == rows["b"]).all()


def test_conditional_sampling(fitted):
    model, _ = fitted
    df = model.sample(100, given={"c": 1}, seed=2)
    assert (df["c"] == 1).all() and len(df) == 100
    assert 0 < df.attrs["acceptance_rate"] <= 1


def test_save_load_round_trip(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    same = load_model(tmp_path / "m")
    assert same.kind == model.kind and same.graph == model.graph
    pd.testing.assert_frame_equal(same.sample(300, do={"a": 0.2}, seed=7), model.sample(300, do={"a": 0.2}, seed=7))
    rows = mixed_table(40, seed=1)
    pd.testing.assert_frame_equal(same.counterfactual(rows, do={"c": 0}, seed=1), model.counterfactual(rows, do={"c": 0}, seed=1))
    assert same.report is not None and same.report.steps == model.report.steps


def test_load_refuses_other_graph(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    with pytest.raises(CheckpointError, match=r"another graph.*lacks b -> e"):
        load_model(tmp_path / "m", graph=GRAPH.with_edges(("b", "e")))


def test_damaged_checkpoints_are_refused(fitted, tmp_path):
    model, _ = fitted
    folder = model.save(tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="does not match"):
        load_model(folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["weights_sha256"] = None  # a checkpoint without its weights' hash is refused, not loaded unchecked
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="weights_sha256: None is not of type 'string'"):
        load_model(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        load_model(tmp_path / "absent")


def test_output_ignores_non_parents(fitted):
    """Every node network's output has zero gradient with respect to non-parent columns."""
    model, _ = fitted
    net = model.net
    x = torch.randn(8, model.layout.width, requires_grad=True)
    # (a residual encoder reads each node's residual, not the data: tests/test_causal_vgen.py checks it)
    encoder = None if getattr(net, "residual", False) else getattr(net, "encoder", None)
    rivals = [getattr(net, name, None) for name in ("linear", "quadratic")]
    nets = [net.nets] + [n for n in (encoder, *rivals) if n is not None]
    for parent_nets in nets:
        out = parent_nets(x if parent_nets.in_dim == x.shape[1] else torch.cat([x, torch.randn(8, parent_nets.in_dim - x.shape[1])], 1))
        for j, node in enumerate(GRAPH.nodes):
            if isinstance(parent_nets, Polynomials) and model.schema[node].discrete:
                continue  # least-squares rivals exist for continuous nodes only
            grad = torch.autograd.grad(out[j].sum(), x, retain_graph=True, allow_unused=True)[0]
            allowed = torch.zeros(model.layout.width, dtype=torch.bool)
            for p in GRAPH.parents(node):
                allowed[model.layout.slices[p]] = True
            if parent_nets is getattr(net, "encoder", None) and not model.schema[node].discrete:
                allowed[model.layout.slices[node]] = True  # the encoder q(u | x, parents) sees the node itself
            if grad is not None:
                assert torch.all(grad[:, ~allowed] == 0), f"{node} depends on a non-parent"
                if allowed.any():
                    assert torch.any(grad[:, allowed] != 0), f"{node} ignores its parents"


@pytest.mark.parametrize("kind", KINDS)
def test_fit_is_deterministic(kind):
    data = mixed_table(300)
    m1, m2 = build_model(kind, GRAPH, **TINY), build_model(kind, GRAPH, **TINY)
    m1.fit(data, seed=4)
    m2.fit(data, seed=4)
    for (k, a), (_, b) in zip(m1.net.state_dict().items(), m2.net.state_dict().items()):
        assert torch.equal(a, b), k


def test_unfitted_model_says_so():
    with pytest.raises(NotFittedError, match="not fitted"):
        build_model("causal-gen", GRAPH).sample(10)


def test_fit_rejects_bad_tables():
    model = build_model("causal-gen", GRAPH, **TINY)
    with pytest.raises(DataError, match="no column for node"):
        model.fit(mixed_table().drop(columns="d"))
    bad = mixed_table()
    bad.loc[3, "a"] = np.nan
    with pytest.raises(DataError, match="'a' has 1 missing"):
        model.fit(bad)


def test_unknown_kind_and_setting():
    with pytest.raises(ValueError, match="unknown model kind 'gan'.*causal-gen"):
        build_model("gan", GRAPH)
    with pytest.raises(ValueError, match="unknown setting.*widht"):
        build_model("causal-gen", GRAPH, widht=3)


def test_cancel_keeps_a_usable_model():
    stop = threading.Event()
    stop.set()
    model = build_model("causal-gen", GRAPH, hidden=8, steps=10_000)
    report = model.fit(mixed_table(), cancel=stop)
    assert report.stopped == "cancelled" and report.steps < 10_000
    assert len(model.sample(10, seed=0)) == 10


def test_crash_keeps_last_good_checkpoint(tmp_path):
    """A run that dies mid-training leaves its last checkpoint complete and loadable."""
    seen = []

    def crash(progress):
        seen.append(progress.epoch)
        if progress.epoch == 6:
            raise RuntimeError("worker killed")

    model = build_model("causal-gen", GRAPH, hidden=8, steps=2000, checkpoint_every=2)
    with pytest.raises(RuntimeError, match="worker killed"):
        model.fit(mixed_table(), checkpoint_dir=tmp_path / "ckpt", callbacks=[crash])
    saved = load_model(tmp_path / "ckpt")
    assert len(saved.sample(20, seed=0)) == 20
    assert not list((tmp_path / "ckpt").glob("*.tmp"))


@pytest.mark.parametrize("killed_at", [1, 2, 3])
def test_a_save_killed_at_any_point_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch, killed_at):
    """write_checkpoint renames three times (old weights aside, new weights in, new JSON
    in); a process killed before any of them completes leaves the previous save loadable."""
    import generators.checkpoint as checkpoint

    model = build_model("causal-gen", GRAPH, hidden=8, steps=30)
    model.fit(mixed_table(200))
    folder = model.save(tmp_path / "m")
    before = [p.detach().clone() for p in model.net.parameters()]
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    calls = {"n": 0}
    real_replace = os.replace

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == killed_at:
            raise KeyboardInterrupt("killed")  # the process dies here: nothing after runs
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        model.save(folder)
    monkeypatch.setattr(checkpoint.os, "replace", real_replace)
    loaded = load_model(folder)
    for a, b in zip(before, loaded.net.parameters()):
        assert torch.equal(a, b)  # the previous save's weights, matching its JSON
    model.save(folder)  # and the next save completes and cleans up
    assert not (folder / "model.prev.safetensors").exists()
    assert torch.equal(next(load_model(folder).net.parameters()), next(model.net.parameters()))


def test_callbacks_see_progress():
    events = []
    model = build_model("causal-gen", GRAPH, hidden=8, steps=60)
    model.fit(mixed_table(), callbacks=[events.append])
    assert events and events[-1].steps == 60
    assert all(0 < e.fraction <= 1 for e in events)
    assert [e.epoch for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize("setting, during", [({}, 1), ({"threads": 2}, 2)])
def test_a_tabular_fit_computes_on_one_thread_unless_told_and_restores_the_count(setting, during):
    seen = []
    before = torch.get_num_threads()
    model = build_model("causal-gen", GRAPH, hidden=8, steps=30, device="cpu", **setting)
    model.fit(mixed_table(), callbacks=[lambda _: seen.append(torch.get_num_threads())])
    assert seen and set(seen) == {during}
    assert torch.get_num_threads() == before


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads must be >= 1"):
        build_model("causal-gen", GRAPH, hidden=8, steps=30, threads=0).fit(mixed_table())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_runs_on_cuda():
    model = build_model("causal-gen", GRAPH, **TINY, device="cuda")
    model.fit(mixed_table())
    assert next(model.net.parameters()).is_cuda
    assert len(model.sample(100, do={"a": 0.0}, seed=0)) == 100


@pytest.mark.parametrize("kind, bound", [("causal-gen", 0.03), ("causal-vgen", 0.08), ("linear-anm", 0.02)])
def test_counterfactuals_match_truth_on_triangle_lin(kind, bound):
    """Statistical check against a ground-truth SCM (fixed seeds; bounds well above the
    benchmark's numbers so that only a real regression fails).

    x2 = 10·x1 − u2 makes (x1, x2) nearly collinear: do(x2 = 8) pairs most rows' x1 with
    an x2 the data never shows beside it. There the answer is an extrapolation, so the
    contract is: accurate wherever the data determine it, and the rest flagged.
    """
    ds = datasets.load("triangle-lin", n=3000, seed=0)
    model = build_model(kind, ds.graph, hidden=32, steps=1500)
    model.fit(ds.data, seed=0)
    test = datasets.load("triangle-lin", n=300, seed=1).data
    scale = Standardizer.fit(ds.data)
    cf = model.counterfactual(test, do={"x1": 1.5})
    assert model.outside_support(cf).any(axis=1).mean() < 0.05  # moving a root keeps x2, x3 on the data
    assert counterfactual_rmse(cf, ds.scm.counterfactual(test, do={"x1": 1.5}), scale) < bound
    cf = model.counterfactual(test, do={"x2": 8.0})
    off = model.outside_support(cf).any(axis=1).to_numpy()
    assert 0.5 < off.mean() < 1.0
    truth = ds.scm.counterfactual(test, do={"x2": 8.0})
    assert counterfactual_rmse(cf[~off], truth[~off], scale) < bound
    # interventional mean of x3 under do(x1 = 1.5): truth 0.5 * 15 + 1.5 = 9
    assert abs(model.sample(4000, do={"x1": 1.5}, seed=0)["x3"].mean() - 9.0) < 0.15


def test_outside_support_flags_extrapolation(tmp_path):
    """Parent values far from the training data are flagged; training rows almost never."""
    rng = np.random.default_rng(0)
    x1 = rng.uniform(-1, 1, 2000)
    x2 = x1 + 0.1 * rng.normal(size=2000)
    data = pd.DataFrame({"x1": x1, "x2": x2, "x3": x1 + x2 + 0.1 * rng.normal(size=2000)})
    graph = CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3")
    model = build_model("causal-gen", graph, hidden=8, steps=100)
    model.fit(data, seed=0)
    inside = model.outside_support(data)
    assert not inside["x1"].any()  # a root has no parents to extrapolate
    assert inside["x3"].mean() < 0.03
    query = pd.DataFrame({"x1": [0.0, 0.5, 5.0], "x2": [0.0, -0.9, 0.0], "x3": [0.0, 0.0, 0.0]})
    flags = model.outside_support(query)
    assert flags["x3"].tolist() == [False, True, True]  # (0.5, -0.9) is off the x2 ≈ x1 band
    assert flags["x2"].tolist() == [False, False, True]
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(load_model(tmp_path / "m").outside_support(query), flags)


def test_linear_mechanism_selected_only_where_it_validates():
    rng = np.random.default_rng(1)
    n = 4000
    a = rng.normal(size=n)
    b = 2.0 * a + 0.5 * rng.normal(size=n)  # linear in its parent
    c = np.sin(2.0 * a) + 0.1 * rng.normal(size=n)  # clearly nonlinear
    graph = CausalGraph.parse("a -> b; a -> c")
    model = build_model("causal-gen", graph, hidden=16, steps=1500)
    model.fit(pd.DataFrame({"a": a, "b": b, "c": c}), seed=0)
    assert "c" not in model.linear_nodes
    assert "b" in model.linear_nodes
    off = build_model("causal-gen", graph, hidden=16, steps=200, select_linear=False)
    off.fit(pd.DataFrame({"a": a, "b": b, "c": c}), seed=0)
    assert off.linear_nodes == ()


class _TwoWeights(torch.nn.Module):
    """A loss with zero gradient: only weight decay can move the weights."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Parameter(torch.ones(3))
        self.skip = torch.nn.Parameter(torch.ones(3))

    def decay_parameters(self) -> list[torch.nn.Parameter]:
        return [self.hidden]

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return 0.0 * (self.hidden.sum() + self.skip.sum()) + batch.sum() * 0.0


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_weight_decay_shrinks_only_what_the_module_names(decay):
    from generators.training import TrainConfig, train

    module = _TwoWeights()
    train(module, torch.zeros(64, 1), TrainConfig(steps=20, batch_size=16, lr=0.1, weight_decay=decay), seed=0)
    assert torch.equal(module.skip.detach(), torch.ones(3))  # never decayed
    if decay:  # decoupled decay: each step multiplies by (1 - lr_t * decay), lr_t under the cosine schedule
        assert float(module.hidden.detach().max()) < 0.7
    else:
        assert torch.equal(module.hidden.detach(), torch.ones(3))
