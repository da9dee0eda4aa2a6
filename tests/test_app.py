"""The app's plain logic (plots, the explore page's choices, errors) and the comparisons it
shows (``causal.effects``). The pages are tested headless with AppTest in test_pages.py and
in a real browser in test_browser.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import plots
from app.logic.explore import default_node, explain, value_choice
from app.worker import readable_error
from causal import CausalGraph, datasets
from causal.data import Column, DataError
from causal.effects import Comparison, average_effects, compare, effect_of

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- plain logic
def test_readable_errors() -> None:
    assert readable_error(DataError("column 'x9' is\nmissing")) == "column 'x9' is missing"
    assert readable_error(RuntimeError("boom")) == "unexpected error (RuntimeError): boom"


# everything below the pages: the page logic and the CLI, found on disk so a new module is covered
APP_LOGIC = ("app.plots", "app.workspace", "app.runner", "app.worker", "app.jobs", "causal.effects") + tuple(
    f"app.{pkg}.{p.stem}" for pkg in ("logic", "cli") for p in sorted((REPO / "app" / pkg).glob("*.py"))
    if not p.stem.startswith("__")) + tuple(f"app.{p.stem}" for p in sorted((REPO / "app").glob("*_jobs.py")))


def test_app_logic_does_not_import_streamlit() -> None:
    code = f"import sys, {', '.join(APP_LOGIC)}; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- plots
@pytest.mark.parametrize("name", datasets.names())
def test_graph_figure_has_one_arrow_per_edge(name: str) -> None:
    graph = datasets.info(name).graph
    fig = plots.graph_figure(graph, highlight=graph.nodes[-1])
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == len(graph.edges)
    assert sorted(a.name for a in arrows) == sorted(f"{a} -> {b}" for a, b in graph.edges)
    assert len(fig.layout.shapes) == len(graph.nodes)


def test_graph_layout_follows_generations() -> None:
    g = CausalGraph.parse("a -> b; a -> c; b -> d; c -> d")
    pos = plots.graph_layout(g)
    assert pos["a"][0] == 0 and pos["b"][0] == pos["c"][0] == 1 and pos["d"][0] == 2
    assert pos["b"][1] != pos["c"][1]


def test_comparison_figure_labels_the_three_queries() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200), "A": rng.integers(0, 2, 200)})
    samples = {"observational": df, "given": df + 1, "do": df}
    fig = plots.comparison_figure(samples, "x2", 1.5, truth_means={"x1": 0.0, "A": 0.5, "x2": 1.5})
    names = {t.name for t in fig.data if t.showlegend}
    assert {"observational", "given x2 = 1.5", "do(x2 = 1.5)", "true mean under do(x2 = 1.5)"} <= names
    assert len([t for t in fig.data if t.type == "bar"]) == 3  # A is discrete: bars
    # without the conditional samples (an impossible event) the other two still show
    fig2 = plots.comparison_figure({"observational": df, "do": df}, "x2", 9.0)
    assert {t.name for t in fig2.data} == {"observational", "do(x2 = 9)"}


def test_loss_figure() -> None:
    fig = plots.loss_figure([(1, 2.0, 2.1), (2, 1.5, 1.7)])
    assert [t.name for t in fig.data] == ["train", "validation"]


# ---------------------------------------------------------------------- comparisons
def test_value_choice_for_continuous_and_discrete_nodes() -> None:
    col = Column("x", "continuous", (), mean=1.0, std=2.0, min=-3.7, max=6.2)
    c = value_choice(col)
    assert c.kind == "slider" and c.min <= -3.7 and c.max >= 6.2 and c.min <= c.default <= c.max
    assert c.default == pytest.approx(3.0) and c.step == pytest.approx(0.01)
    wide = value_choice(col, extend=True)
    assert wide.min < c.min - 5 and wide.max > c.max + 5
    d = value_choice(Column("A", "binary", (0, 1)))
    assert d.kind == "select" and d.options == (0, 1) and d.default in (0, 1)
    age = value_choice(Column("age", "continuous", (), mean=38.4, std=13.1, min=17.0, max=90.0, integer=True))
    assert age.step == 1.0 and age.default == 52.0 and (age.min, age.max) == (17.0, 90.0)  # whole years


def test_default_node_and_explanations() -> None:
    tri = datasets.info("triangle-lin")
    assert default_node(tri.graph, tri.intervene_on) == "x2"
    assert default_node(CausalGraph.parse("a -> b")) == "b"
    assert "no causes" in explain(tri.graph, "x1")
    assert "x1" in explain(tri.graph, "x2") and "x3" in explain(tri.graph, "x2")


def test_compare_on_the_true_scm_shows_seeing_vs_doing() -> None:
    """Given x2 high, x1 is high too; under do(x2 = high), x1 keeps its distribution."""
    scm = datasets.load("triangle-lin", n=10, seed=0).scm
    c = compare(scm, "x2", 20.0, n=1000, seed=0, truth=scm)
    assert isinstance(c, Comparison) and c.given_error is None and 0 < c.acceptance_rate < 0.2
    m = c.means()
    assert list(m.columns) == ["observational", "given", "do", "do · truth", "given − do"]
    assert m.loc["x1", "given"] > m.loc["x1", "observational"] + 0.5  # seeing moves the cause
    assert m.loc["x1", "do"] == pytest.approx(m.loc["x1", "observational"])  # doing does not
    assert m.loc["x2", "do"] == 20.0 and c.given_window[0] < 20.0 < c.given_window[1]
    assert c.truth_means()["x3"] == pytest.approx(0.5 * 20 + 1, abs=0.2)


def test_compare_reports_an_impossible_condition_instead_of_raising() -> None:
    scm = datasets.load("triangle-lin", n=10, seed=0).scm
    c = compare(scm, "x2", 500.0, n=200, max_draws=50_000)
    assert c.given is None and "zero probability" in c.given_error
    assert list(c.samples()) == ["observational", "do"] and c.means()["given"].isna().all()


def test_effects_from_a_comparisons_own_samples_equal_drawing_them_afresh() -> None:
    """The Explore page reuses a comparison's do samples (and a cached reference arm): the
    same seed gives the same paired samples, hence exactly the same table."""
    scm = datasets.load("triangle-lin", n=10, seed=0).scm
    c = compare(scm, "x2", 12.0, n=500, seed=3, truth=scm)
    a = scm.sample(500, do={"x2": 10.0}, seed=3)
    ta = scm.sample(500, do={"x2": 10.0}, seed=4)
    reused = effect_of("x2", 12.0, 10.0, a, c.do, ta, c.truth_do).table
    fresh = average_effects(scm, "x2", 12.0, 10.0, n=500, seed=3).table
    pd.testing.assert_frame_equal(reused[["effect", "low", "high"]], fresh)
    assert reused.loc["x1", "effect"] == 0.0 and reused.loc["x3", "truth"] == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="paired samples differ in length"):
        effect_of("x2", 12.0, 10.0, a.head(10), c.do)
