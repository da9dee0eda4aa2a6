"""The app's logic (jobs, plots, comparisons) as plain calls, and its pages headless with
Streamlit's AppTest. Real-browser checks are in test_browser.py."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import plots
from app.compare import Comparison, compare, default_node, explain, value_choice
from app.jobs import JobRegistry, readable_error
from causal import CausalGraph, datasets
from causal.data import Column, DataError

REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")
EXPLORE = "views/explore.py"
TIMEOUT = 30  # seconds per AppTest run: a run may sample a few hundred thousand rows


# ---------------------------------------------------------------------- jobs
def test_job_runs_in_background_and_returns_its_result() -> None:
    reg = JobRegistry()
    release = threading.Event()

    def work(ctx):
        ctx.report(0.5)
        release.wait(5)
        return "ok"

    job = reg.start(work, label="demo")
    deadline = time.monotonic() + 5
    while reg.progress(job) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reg.status(job) == "running" and reg.progress(job) == 0.5 and reg.result(job) is None
    release.set()
    info = reg.wait(job, timeout=5)
    assert (info.state, info.result, info.error, info.label) == ("done", "ok", None, "demo")
    assert info.finished is not None and info.seconds >= 0


def test_job_cancel_stops_it_and_keeps_its_result() -> None:
    reg = JobRegistry()

    def work(ctx):
        steps = 0
        while not ctx.cancelled:
            steps += 1
            ctx.report(steps)
            time.sleep(0.005)
        return steps

    job = reg.start(work)
    while reg.progress(job) is None:
        time.sleep(0.005)
    assert reg.cancel(job)
    info = reg.wait(job, timeout=5)
    assert info.state == "cancelled" and info.result >= 1
    assert not reg.cancel(job)  # nothing left to cancel


def test_job_errors_are_captured_as_readable_messages() -> None:
    reg = JobRegistry()

    def bad_data(ctx):
        raise DataError("column 'x9' is missing")

    def bug(ctx):
        raise RuntimeError("boom")

    a, b = reg.start(bad_data), reg.start(bug)
    ia, ib = reg.wait(a, 5), reg.wait(b, 5)
    assert (ia.state, ia.error) == ("failed", "column 'x9' is missing")
    assert ib.state == "failed" and ib.error == "unexpected error (RuntimeError): boom"
    assert "Traceback" not in ia.error + ib.error
    assert readable_error(ValueError("")) == "ValueError"


def test_registry_forgets_unknown_ids_and_bounds_finished_jobs() -> None:
    reg = JobRegistry(max_finished=2)
    assert reg.get("nope") is None and reg.get(None) is None
    with pytest.raises(KeyError):
        reg.status("nope")
    ids = []
    for i in range(4):
        ids.append(reg.start(lambda ctx, i=i: i))
        assert reg.wait(ids[-1], 5).result == i
    # starting a job dropped the oldest finished ones: two finished are kept, plus the new one
    assert [j.id for j in reg.jobs()] == ids[1:] and reg.get(ids[0]) is None


def test_app_logic_does_not_import_streamlit() -> None:
    code = "import sys, app.jobs, app.plots, app.compare, app.training; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- plots
@pytest.mark.parametrize("name", datasets.list())
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
    assert list(m.columns) == ["observational", "given", "do", "do · truth"]
    assert m.loc["x1", "given"] > m.loc["x1", "observational"] + 0.5  # seeing moves the cause
    assert m.loc["x1", "do"] == pytest.approx(m.loc["x1", "observational"])  # doing does not
    assert m.loc["x2", "do"] == 20.0 and c.given_window[0] < 20.0 < c.given_window[1]
    assert c.truth_means()["x3"] == pytest.approx(0.5 * 20 + 1, abs=0.2)


def test_compare_reports_an_impossible_condition_instead_of_raising() -> None:
    scm = datasets.load("triangle-lin", n=10, seed=0).scm
    c = compare(scm, "x2", 500.0, n=200, max_draws=50_000)
    assert c.given is None and "zero probability" in c.given_error
    assert list(c.samples()) == ["observational", "do"] and c.means()["given"].isna().all()


# ---------------------------------------------------------------------- pages (AppTest)
def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(MAIN, default_timeout=TIMEOUT)


def _explore():
    at = _app().run()
    at.switch_page(EXPLORE).run()
    assert not at.exception
    return at


def _train(at, rows: int = 300, steps: int = 30, hidden: int = 16, wait: float = 60.0):
    """Submit the training form and poll (bounded) until the job is no longer running."""
    at.number_input(key="train-rows").set_value(rows)
    at.number_input(key="train-steps").set_value(steps)
    at.selectbox(key="train-hidden").set_value(hidden)
    at.button[0].click().run()  # the form's Train button
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        assert not at.exception, at.exception
        if not at.get("progress"):
            return at
        time.sleep(0.1)
        at.run()
    pytest.fail(f"training did not finish within {wait} s")


def _text(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "info", "warning", "error") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def test_home_page_loads_and_links_to_explore() -> None:
    at = _app().run()
    assert not at.exception
    assert at.title[0].value == "Counterfactory"
    assert "Seeing" in _text(at)


def test_explore_page_loads_and_dataset_changes_description() -> None:
    at = _explore()
    assert at.title[0].value == "Seeing vs doing"
    assert at.selectbox(key="dataset").value == "triangle-lin"
    assert "Three variables in a triangle" in _text(at)
    assert "No model for this dataset yet" in _text(at)
    at.selectbox(key="dataset").set_value("chain5-lin").run()
    assert not at.exception
    assert "five-step linear chain" in _text(at) and "Three variables in a triangle" not in _text(at)


def test_training_then_seeing_vs_doing() -> None:
    at = _train(_explore())
    text = _text(at)
    assert "Trained Causal Gen on triangle-lin on 300 rows" in text, text
    # the comparison section: three labelled distributions and their means
    assert at.selectbox(key="node-triangle-lin").value == "x2"
    table = at.dataframe[-1].value
    assert list(table.columns) == ["observational", "given", "do", "do · truth"]
    assert list(table.index) == ["x1", "x2", "x3"]
    assert table.loc["x2", "do"] == pytest.approx(at.slider(key="value-triangle-lin-x2-0").value)
    assert table.loc["x1", "do"] == pytest.approx(table.loc["x1", "observational"])
    assert at.metric[0].label == "Acceptance rate of conditioning" and at.metric[0].value.endswith("%")
    assert not at.warning

    # a value beyond anything in the data: do still answers, conditioning warns
    at.toggle(key="extend-triangle-lin-x2").set_value(True).run()
    slider = at.slider(key="value-triangle-lin-x2-1")
    slider.set_value(slider.max).run()
    assert not at.exception
    assert at.warning and "Cannot condition on x2" in at.warning[0].value
    assert "zero probability" in at.warning[0].value
    table = at.dataframe[-1].value
    assert table["given"].isna().all() and table.loc["x2", "do"] == pytest.approx(slider.max)

    # asking about a root node: seeing is doing
    at.selectbox(key="node-triangle-lin").set_value("x1").run()
    assert not at.exception and "no causes" in _text(at)


def test_training_can_be_cancelled() -> None:
    at = _explore()
    at.number_input(key="train-rows").set_value(20_000)
    at.number_input(key="train-steps").set_value(20_000)
    at.button[0].click().run()
    assert at.get("progress"), "expected a running job"
    cancel = [b for b in at.button if b.label == "Cancel"]
    assert cancel
    cancel[0].click().run()
    deadline = time.monotonic() + 30
    while at.get("progress") and time.monotonic() < deadline:
        time.sleep(0.1)
        at.run()
    assert not at.exception
    assert any("Training was cancelled" in i.value for i in at.info), _text(at)


def test_training_failure_shows_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.training

    def broken(spec, progress=None, cancel=None):
        raise DataError("column 'x2' has missing values in 3 rows")

    monkeypatch.setattr(app.training, "train", broken)
    at = _train(_explore())
    assert not at.exception
    assert at.error and at.error[0].value == "Training failed: column 'x2' has missing values in 3 rows"
