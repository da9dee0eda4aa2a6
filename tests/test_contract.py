"""The model protocol, checked on every kind of the registry and every kind of data it trains
on (tables and labelled images), at tiny sizes: what a caller of ``generators`` may rely on
whatever the model. A new kind in ``generators.registry`` fails here until it has tiny
settings below. The kinds' own behaviour is tested in their own files."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
import torch

import generators
from causal import CausalGraph
from causal.images import ImageData
from generators import (
    CounterfactualModel, GenerativeModel, NotFittedError, Progress, TrainConfig, build_model, load_model,
    supports_counterfactuals,
)
from test_image_base import GRAPH as IMAGE_GRAPH
from test_image_base import squares
from test_models import GRAPH as TABLE_GRAPH
from test_models import mixed_table

# Tiny settings per (kind, data): seconds on a CPU, not quality.
TINY = {
    ("causal-gen", "table"): dict(hidden=8, steps=60),
    ("causal-vgen", "table"): dict(hidden=8, steps=60),
    ("linear-anm", "table"): dict(steps=60),
    ("ccgm", "table"): dict(hidden=8, steps=60),
    ("ccgm", "images"): dict(hidden=8, steps=60, width=8, style_dim=2,
                             image_train=TrainConfig(steps=20, batch_size=32, lr=2e-3)),
    ("causal-gan", "images"): dict(width=8, labeler_width=4, z_dim=4, pretrain_labeler=5, invert_steps=10,
                                   invert_restarts=2, steps=20, batch_size=32, **{"labels.steps": 60}),
}
CASES = [(k.name, d) for k in generators.KINDS for d in k.data]
# what each data kind asks: the graph, the data, a discrete and a continuous node, a node no
# other depends on (for the laws of do and given on disjoint nodes) and its non-descendants
DATA = {
    "table": dict(graph=TABLE_GRAPH, data=lambda n=300: mixed_table(n), discrete=("c", 1), cont=("a", 0.5),
                  cut=("c", "d"), reference=1),
    "images": dict(graph=IMAGE_GRAPH, data=lambda n=300: squares(n), discrete=("bright", 1), cont=("pos", 0.5),
                   cut=("pos", "bright"), reference=0.5),
}


def test_every_kind_of_the_registry_is_covered():
    assert set(CASES) == set(TINY), "give a new model kind tiny settings here"
    for k in generators.KINDS:
        assert k.data and k.title and k.summary and k.reference
        assert generators.make_config(k.name) is not None


def test_every_preset_names_settings_of_its_kind_and_builds():
    """A preset is settings written out: each value is one its kind accepts, and given
    settings override it."""
    for kind, presets in generators.PRESETS.items():
        known = {s.name for s in generators.settings_of(kind)}
        for name, values in presets.items():
            assert set(values) <= known, (kind, name)
            model = build_model(kind, TABLE_GRAPH, preset=name)
            cfg = generators.make_config(kind, **values)
            assert model.config == cfg
    m = build_model("causal-gen", TABLE_GRAPH, preset="fast", hidden=16)
    assert m.config.hidden == 16 and m.config.train.steps == generators.PRESETS["causal-gen"]["fast"]["steps"]
    with pytest.raises(ValueError, match="no preset 'slow'; its presets are fast"):
        build_model("causal-gen", TABLE_GRAPH, preset="slow")
    with pytest.raises(ValueError, match="either a config or a preset"):
        build_model("causal-gen", TABLE_GRAPH, generators.make_config("causal-gen"), preset="fast")


def _labels(x):
    return x.labels if isinstance(x, ImageData) else x


@pytest.fixture(scope="module", params=CASES, ids=[f"{k}-{d}" for k, d in CASES])
def case(request):
    torch.set_num_threads(1)
    kind, data = request.param
    spec = DATA[data]
    events: list[Progress] = []
    model = build_model(kind, spec["graph"], **TINY[request.param])
    report = model.fit(spec["data"](), seed=0, callbacks=[events.append])
    return kind, spec, model, report, events


def test_protocol_and_report(case):
    kind, spec, model, report, events = case
    assert isinstance(model, GenerativeModel) and model.fitted and model.kind == kind
    assert isinstance(model, CounterfactualModel) and supports_counterfactuals(model)
    assert report.steps > 0 and np.isfinite(report.best_val_loss) and report.stopped == "schedule_done"
    assert events and [e.epoch for e in events] == sorted(e.epoch for e in events)
    assert events[-1].steps == report.steps and events[-1].epoch == report.epochs


def test_sampling_is_seeded_and_in_the_graphs_order(case):
    _, spec, model, _, _ = case
    a, b = model.sample(40, seed=1), model.sample(40, seed=1)
    labels = _labels(a)
    assert len(a) == 40 and list(labels.columns) == [n for n in model.graph.nodes if model.graph.kind(n) != "image"]
    pd.testing.assert_frame_equal(labels, _labels(b))
    if isinstance(a, ImageData):
        np.testing.assert_array_equal(a.images, b.images)
    assert not labels.equals(_labels(model.sample(40, seed=2)))


def test_do_clamps_and_keeps_non_descendants(case):
    _, spec, model, _, _ = case
    node, value = spec["cont"]
    obs, intv = _labels(model.sample(60, seed=3)), _labels(model.sample(60, do={node: value}, seed=3))
    assert (intv[node] == value).all()
    keep = [n for n in obs.columns if n != node and n not in model.graph.descendants(node)]
    pd.testing.assert_frame_equal(obs[keep], intv[keep])


def test_given_and_do_on_disjoint_nodes(case):
    """P(· | given) under do on another node: both hold on every row, and a do outside the
    evidence's ancestors leaves the conditional of its non-descendants exactly as it was
    (the same seed draws the same evidence)."""
    _, spec, model, _, _ = case
    ev, ev_value = spec["discrete"]
    g = model.graph
    target = next(n for n in g.nodes if g.kind(n) != "image" and n != ev and n not in g.ancestors(ev))
    value = 0.25 if model.schema[target].kind == "continuous" else model.schema[target].categories[0]
    given = _labels(model.sample(50, given={ev: ev_value}, seed=4))
    both = _labels(model.sample(50, given={ev: ev_value}, do={target: value}, seed=4))
    assert (both[ev] == ev_value).all() and (both[target] == value).all()
    assert 0 < both.attrs["acceptance_rate"] <= 1
    keep = [n for n in given.columns if n != target and n not in g.descendants(target)]
    pd.testing.assert_frame_equal(given[keep], both[keep])


def test_counterfactual_keeps_index_and_unaffected_values(case):
    _, spec, model, _, _ = case
    node, value = spec["cont"]
    rows = spec["data"](12)
    index = pd.RangeIndex(100, 112)
    rows = rows.with_labels(rows.labels.set_axis(index)) if isinstance(rows, ImageData) else rows.set_axis(index)
    same = model.counterfactual(rows, do={}, seed=0)
    pd.testing.assert_frame_equal(_labels(same), _labels(rows))
    cf = model.counterfactual(rows, do={node: value}, seed=0)
    assert _labels(cf).index.equals(index) and (_labels(cf)[node] == value).all()
    keep = [n for n in _labels(rows).columns if n in model.graph.nodes and n != node and n not in model.graph.descendants(node)]
    pd.testing.assert_frame_equal(_labels(cf)[keep], _labels(rows)[keep])


def test_save_and_load_give_the_same_model(case, tmp_path):
    _, spec, model, _, _ = case
    model.save(tmp_path / "m")
    same = load_model(tmp_path / "m")
    assert type(same) is type(model) and same.kind == model.kind and same.graph == model.graph
    node, value = spec["discrete"]
    a, b = model.sample(20, do={node: value}, seed=5), same.sample(20, do={node: value}, seed=5)
    pd.testing.assert_frame_equal(_labels(a), _labels(b))
    if isinstance(a, ImageData):
        np.testing.assert_array_equal(a.images, b.images)


@pytest.mark.parametrize("kind, data", CASES, ids=[f"{k}-{d}" for k, d in CASES])
def test_unfitted_says_so_and_cancel_keeps_a_usable_model(kind, data):
    spec = DATA[data]
    model = build_model(kind, spec["graph"], **TINY[(kind, data)])
    with pytest.raises(NotFittedError, match="not fitted"):
        model.sample(5)
    stop = threading.Event()
    stop.set()
    assert model.fit(spec["data"](120), seed=0, cancel=stop).stopped == "cancelled"
    assert len(model.sample(5, seed=0)) == 5


def test_a_graph_without_images_is_refused_by_image_only_kinds():
    with pytest.raises(ValueError, match="causal-gan' does not train on tables; use one of causal-gen"):
        build_model("causal-gan", CausalGraph.parse("a -> b"))


def test_without_edges_removes_a_dependence_and_keeps_the_rest(case, tmp_path):
    """Every kind cuts an edge the same way (the shared query semantics): the child stops
    listening to the parent, what does not descend from the child is drawn exactly as
    before (the same seed), the edited model saves and loads with its cut."""
    _, spec, model, _, _ = case
    parent, child = spec["cut"]
    fair = model.without_edges(f"{parent} -> {child}")
    assert fair.cuts and not model.cuts and not fair.structure.has_edge(parent, child)
    before, after = _labels(model.sample(300, seed=6)), _labels(fair.sample(300, seed=6))
    keep = [n for n in before.columns if n != child and n not in model.graph.descendants(child)]
    pd.testing.assert_frame_equal(before[keep], after[keep])
    fixed = model.without_edges(f"{parent} -> {child}", references={parent: spec["reference"]})
    ref_codes = _labels(fixed.sample(300, seed=6))
    with_reference = _labels(model.sample(300, do={parent: spec["reference"]}, seed=6))
    # with a reference value the child sees what do(parent = reference) would show it: same law, same draws here
    pd.testing.assert_series_equal(ref_codes[child], with_reference[child])
    fair.save(tmp_path / "fair")
    again = load_model(tmp_path / "fair")
    assert again.cuts == fair.cuts
    pd.testing.assert_frame_equal(_labels(again.sample(50, seed=7)), _labels(fair.sample(50, seed=7)))
