"""Every page of the workbench headless with Streamlit's AppTest, on a temporary workspace.

Training goes through the real job runner (a worker process per run, about two seconds
for the tiny models here). The canvas of the Graph page is a custom component, which
AppTest cannot drive: its logic is in test_graph_editor.py, its mouse use in
test_browser.py.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.logic.runs import checkpoint_zip, compare_frame, progress_fraction, runs_frame
from generators import settings_of
from generators.settings import parse_value
from app.worker import execute
from app.workspace import RunSpec, Workspace
from causal import datasets
from causal.sources import BuiltinTable

REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")
TIMEOUT = 30
TINY = {"hidden": 8, "steps": 80}


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    """An empty workspace that the app under test uses."""
    root = tmp_path / "ws"
    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(root))
    return Workspace(root)


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory) -> Path:
    """A workspace holding one finished triangle-lin run (trained in this process)."""
    root = tmp_path_factory.mktemp("trained") / "ws"
    w = Workspace(root)
    run = w.create_run(RunSpec(BuiltinTable("triangle-lin", rows=2000), settings={"hidden": 16, "steps": 1000},
                               name="tri small"), pid=os.getpid())
    assert execute(w, run.id).status == "done"
    return root


@pytest.fixture
def trained(trained_root, monkeypatch) -> Workspace:
    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(trained_root))
    return Workspace(trained_root)


def _app(page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    kinds = ("markdown", "caption", "success", "info", "warning", "error", "code")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def _frame(at, *columns):
    """The first dataframe shown whose columns include ``columns`` (AppTest does not expose
    dataframe keys); a Styler's data is unwrapped."""
    for e in at.dataframe:
        v = e.value
        v = v.data if hasattr(v, "data") and not isinstance(v, pd.DataFrame) else v
        have = set(v.columns)
        if isinstance(v.columns, pd.MultiIndex):
            have |= set(v.columns.get_level_values(1))
        if set(columns) <= have:
            return v
    pytest.fail(f"no dataframe with columns {columns}")


def _button(at, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button '{label}' among {[b.label for b in at.button]}"
    return found[0]


def _until(at, done, wait: float = 60.0, what: str = "the page"):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(0.25)
        at.run()
    pytest.fail(f"{what} did not settle within {wait} s:\n{_text(at)}")


def _train_tiny(at, ws, steps: str = "80"):
    """From the Train page: a tiny Causal Gen trained in the worker; the finished run."""
    at.switch_page("views/train.py").run()
    at.text_input(key="train-causal-gen-steps").set_value(steps)
    at.text_input(key="train-causal-gen-hidden").set_value("8")
    _button(at, "Start training").click().run()
    _until(at, lambda a: a.success, what="training")
    [run] = ws.runs()
    assert run.status == "done", run.error
    return run


# ---------------------------------------------------------------------- home
def test_home_page_explains_and_links_every_step(ws) -> None:
    at = _app()
    assert at.title[0].value == "Counterfactory"
    text = _text(at)
    assert "Seeing" in text and "Doing" in text


# ---------------------------------------------------------------------- graph
def test_graph_page_starts_from_the_true_graph_and_shows_what_data_cannot_tell(ws) -> None:
    at = _app("graph")
    assert at.title[0].value == "Graph"
    assert "x1 -> x2" in at.text_area(key="graph-text").value
    assert any("6 graphs" in i.value for i in at.info)  # a complete DAG on 3 nodes: 3! orientations
    assert "x1 -- x2" in _text(at)


def test_a_cycle_typed_as_text_is_refused_with_the_cycle_named_and_the_graph_kept(ws) -> None:
    at = _app("graph")
    before = at.session_state["graph_text"]
    at.text_area(key="graph-text").set_value("x1 -> x2; x2 -> x3; x3 -> x1").run()
    _button(at, "Apply text").click().run()
    assert not at.exception
    assert any("the graph has a cycle: x1 -> x2 -> x3 -> x1" in e.value for e in at.error), _text(at)
    assert at.session_state["graph_text"] == before


def test_editing_the_graph_updates_the_tests_of_its_implications(ws) -> None:
    at = _app("graph")
    at.text_area(key="graph-text").set_value("x1 -> x2; x2 -> x3").run()  # drops x1 -> x3: x1 ⟂ x3 | x2 is implied
    _button(at, "Apply text").click().run()
    assert "x1 -> x2" in at.session_state["graph_text"] and "x1 -> x3" not in at.session_state["graph_text"]
    assert any("contradict" in e.value for e in at.error), _text(at)  # the data (true graph has x1 -> x3) refute it
    table = _frame(at, "independence", "rejected (Holm)")
    assert table["independence"].tolist() == ["x1 ⟂ x3 | x2"] and bool(table["rejected (Holm)"].iloc[0])
    assert at.radio(key="graph-regression").value == "spline"  # the default: no true nonlinear graph refuted
    assert "spline regression" in _frame(at, "independence", "method")["method"].iloc[0]
    at.radio(key="graph-regression").set_value("linear").run()
    assert "spline" not in _frame(at, "independence", "method")["method"].iloc[0]
    # the edit controls: add the arrow back, and the data agree again
    at.selectbox(key="graph-edge-from").set_value("x1")
    at.selectbox(key="graph-edge-to").set_value("x3")
    _button(at, "Add arrow").click().run()
    assert "x1 -> x3" in at.session_state["graph_text"]
    assert not at.error


def test_graph_edits_that_break_the_graph_are_refused(ws) -> None:
    at = _app("graph")
    at.selectbox(key="graph-edge-from").set_value("x3")
    at.selectbox(key="graph-edge-to").set_value("x1")
    _button(at, "Add arrow").click().run()
    assert any("cycle" in e.value for e in at.error)
    at.text_input(key="graph-new-node").set_value("x2").run()
    _button(at, "Add node").click().run()
    assert any("already a node named 'x2'" in e.value for e in at.error)


def test_an_upload_starts_with_unconnected_columns_and_training_asks_for_a_graph(ws) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    content = pd.DataFrame({"a": x, "b": 2 * x + rng.normal(size=80)}).to_csv(index=False).encode()
    at = _app("data")
    at.radio(key="data-source").set_value("Upload a CSV").run()
    at.file_uploader(key="data-upload").set_value(("mine.csv", content, "text/csv")).run()
    at.switch_page("views/graph.py").run()
    assert not at.exception
    from causal import CausalGraph

    start = CausalGraph.parse(at.text_area(key="graph-text").value)
    assert start.nodes == ("a", "b") and start.edges == ()
    assert at.session_state["graph:drawing"].graph.kind("a") == "continuous"  # kinds from the data
    at.switch_page("views/train.py").run()
    assert any("no arrows" in w.value for w in at.warning)
    at.switch_page("views/graph.py").run()
    at.text_area(key="graph-text").set_value("a -> b").run()
    _button(at, "Apply text").click().run()
    at.switch_page("views/train.py").run()
    assert not at.warning and "`a -> b`" in _text(at)


def test_an_upload_whose_headers_have_spaces_trains_and_explores(ws) -> None:
    """Headers as real tables write them ('age (years)', 'income €', 'number of kids'): the
    graph text quotes them, and the run trains and answers queries under those names."""
    rng = np.random.default_rng(1)
    age = rng.integers(18, 80, 300)
    df = pd.DataFrame({"age (years)": age, "income €": 20 + 0.5 * age + rng.normal(0, 3, 300),
                       "number of kids": rng.poisson(1.5, 300)})
    at = _app("data")
    at.radio(key="data-source").set_value("Upload a CSV").run()
    at.file_uploader(key="data-upload").set_value(("people.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception and not any("cannot be a graph node" in w.value for w in at.warning), _text(at)
    at.switch_page("views/graph.py").run()
    from causal import CausalGraph

    assert CausalGraph.parse(at.text_area(key="graph-text").value).nodes == tuple(df.columns)
    at.text_area(key="graph-text").set_value('"age (years)" -> "income €"; "age (years)" -> "number of kids"').run()
    _button(at, "Apply text").click().run()
    assert not at.exception and not at.error, _text(at)
    _train_tiny(at, ws)
    at.switch_page("views/explore.py").run()
    assert not at.exception and not at.error, _text(at)
    assert "income €" in _text(at)


def test_an_upload_with_gaps_trains_on_the_rows_kept_and_the_workspace_says_so(ws) -> None:
    """A real table's gaps ('?' and empty cells) are read, the rows with one dropped on the
    Data page, and the run trains on exactly those rows; the stored dataset names what was
    done to the file."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=200)
    df = pd.DataFrame({"a": a.round(4).astype(str), "b": 2 * a + rng.normal(size=200)})
    df.loc[[4, 9], "a"] = "?"
    df.loc[[20], "b"] = np.nan
    at = _app("data")
    at.radio(key="data-source").set_value("Upload a CSV").run()
    at.file_uploader(key="data-upload").set_value(("gaps.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    raw_key = at.session_state["data:dataset"]["cleaning"]["raw"]
    at.checkbox(key=f"data-dropna-{raw_key}").check().run()
    assert not at.exception and not at.error, _text(at)
    at.switch_page("views/graph.py").run()
    at.text_area(key="graph-text").set_value("a -> b").run()
    _button(at, "Apply text").click().run()
    _train_tiny(at, ws, steps="60")
    [stored] = ws.datasets()
    assert len(ws.load_dataset(stored.id)) == 197
    assert "'?' read as missing; dropped 3 of 200 rows (1.5%) with a missing value (a 2, b 1)" in stored.description


# ---------------------------------------------------------------------- train
def test_train_page_trains_in_a_worker_and_reports_against_the_truth(ws) -> None:
    at = _app("train")
    at.text_input(key="train-causal-gen-steps").set_value("80")
    at.text_input(key="train-causal-gen-hidden").set_value("8")
    _button(at, "Start training").click().run()
    _until(at, lambda a: a.success, what="training")
    assert "Trained in" in at.success[0].value
    assert "Against the true SCM: interventional MMD²" in _text(at)
    [run] = ws.runs()
    assert run.status == "done" and run.spec.settings == {"hidden": 8, "steps": 80}
    assert run.pid != os.getpid()  # trained in a worker process


def test_a_bad_setting_is_refused_by_name_and_nothing_is_started(ws) -> None:
    at = _app("train")
    at.text_input(key="train-causal-gen-hidden").set_value("wide")
    _button(at, "Start training").click().run()
    assert any("setting 'hidden' must be int" in e.value for e in at.error), _text(at)
    assert ws.runs() == []


def test_a_running_run_can_be_cancelled_from_the_page(ws) -> None:
    at = _app("train")
    at.text_input(key="train-causal-gen-steps").set_value("500000")
    with_epochs = [t for t in at.text_input if t.key == "train-causal-gen-max_epochs"]
    with_epochs[0].set_value("100000")
    _button(at, "Start training").click().run()
    _until(at, lambda a: any(b.label == "Cancel" for b in a.button), what="the run to start")
    _button(at, "Cancel").click().run()
    _until(at, lambda a: a.info and any("Cancelled" in i.value for i in a.info), what="the cancel")
    assert ws.runs()[0].status == "cancelled"


# ---------------------------------------------------------------------- seeing vs doing
def test_explore_offers_a_quick_model_when_there_is_none(ws) -> None:
    at = _app("explore")
    assert any("No trained model yet" in i.value for i in at.info)
    assert _button(at, "Train a quick model")


def test_explore_shows_a_finished_run_while_another_trains(trained_root, tmp_path, monkeypatch) -> None:
    """A run still training (with a checkpoint) is offered, but the page opens on the newest
    finished run; picking the running one explores its checkpoint rather than waiting."""
    root = tmp_path / "ws"
    shutil.copytree(trained_root, root)
    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(root))
    w = Workspace(root)
    done = w.runs()[0]
    running = w.create_run(RunSpec(BuiltinTable("triangle-lin", rows=2000), settings=TINY, name="still training"),
                           pid=os.getpid())
    shutil.copytree(done.checkpoint_dir, running.checkpoint_dir, dirs_exist_ok=True)
    at = _app("explore")
    assert at.selectbox(key="explore-run").value == done.id
    at.selectbox(key="explore-run").set_value(running.id).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="explore-run").value == running.id
    assert any("This run is running" in w.value for w in at.warning)
    assert _frame(at, "observational", "given", "do") is not None
    w.request_cancel(running.id)


def test_explore_compares_given_and_do_against_the_truth(trained) -> None:
    at = _app("explore")
    run = trained.runs()[0]
    assert at.selectbox(key=f"node-{run.id}").value == "x2"
    table = _frame(at, "observational", "given", "do")
    assert list(table.columns) == ["observational", "given", "do", "do · truth", "given − do"]
    slider = at.slider(key=f"value-{run.id}-x2-0")
    assert table.loc["x2", "do"] == pytest.approx(slider.value)
    assert table.loc["x1", "do"] == pytest.approx(table.loc["x1", "observational"])  # doing leaves the cause alone
    assert table.loc["x1", "given"] > table.loc["x1", "observational"] + 0.3  # seeing moves it
    assert table.loc["x1", "given − do"] == pytest.approx(table.loc["x1", "given"] - table.loc["x1", "do"])
    effects = _frame(at, "effect", "low", "high")
    assert list(effects.index) == ["x1", "x3"] and effects.loc["x1", "effect"] == pytest.approx(0.0, abs=1e-9)
    assert effects.loc["x3", "low"] <= effects.loc["x3", "effect"] <= effects.loc["x3", "high"]
    assert effects.loc["x3", "truth"] == pytest.approx(0.5 * (slider.value - 10.0), abs=0.6)
    assert "Answered in" in _text(at)

    # beyond the data: do still answers, conditioning explains why it cannot
    at.toggle(key=f"extend-{run.id}-x2").set_value(True).run()
    wide = at.slider(key=f"value-{run.id}-x2-1")
    wide.set_value(wide.max).run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "outside the training data" in warnings and "Cannot condition on x2" in warnings
    assert "widen the tolerance" not in warnings  # the page has no tolerance to widen
    assert "parent values the training data never show together" in warnings and "**x3**" in warnings
    assert "Extrapolated: **x3**" in warnings  # beside the effect too
    assert _frame(at, "effect", "low", "high").loc["x3", "extrapolated"] > 0.9
    assert _frame(at, "observational", "given", "do")["given"].isna().all()

    at.selectbox(key=f"node-{run.id}").set_value("x1").run()
    assert not at.exception and "no causes" in _text(at)

    # one view at a time: the scatter matrix replaces the distributions
    assert at.button_group(key="explore-view").value == "Distributions"
    at.button_group(key="explore-view").set_value("Scatter matrix").run()
    assert not at.exception
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) == 2 and sum('"type":"splom"' in c for c in charts) == 1  # the matrix and the graph


# ---------------------------------------------------------------------- counterfactuals
def test_counterfactuals_of_chosen_rows_against_the_exact_answer(trained) -> None:
    at = _app("counterfactuals")
    run = trained.runs()[0]
    at.text_input(key=f"cf-rows-{run.id}").set_value("3, 10-12").run()
    at.selectbox(key=f"cf-node-{run.id}").set_value("x2").run()
    at.number_input(key=f"cf-value-{run.id}-x2-set to").set_value(5.0).run()
    assert not at.exception
    assert any("under do(x2 = 5)" in h.value for h in at.subheader), [h.value for h in at.subheader]
    frame = _frame(at, ("x1", "factual"), ("x2", "counterfactual"))
    assert list(frame.index) == [3, 10, 11, 12]
    assert (frame[("x2", "counterfactual")] == 5.0).all()
    assert (frame[("x1", "counterfactual")] == frame[("x1", "factual")]).all()  # not a descendant: kept exactly
    err = [e.value for e in at.dataframe if list(getattr(e.value, "index", [])) == ["RMSE vs truth (or share wrong, discrete)"]][0]
    assert err["x1"].iloc[0] == 0.0 and err["x3"].iloc[0] < 0.1 * datasets.load("triangle-lin", n=2000).data["x3"].std()
    assert "Not descendants of x2, so kept exactly: x1" in _text(at)


def test_bad_row_numbers_get_a_message(trained) -> None:
    at = _app("counterfactuals")
    run = trained.runs()[0]
    at.text_input(key=f"cf-rows-{run.id}").set_value("5, 99999").run()
    assert any("row 99999 does not exist" in e.value for e in at.error)
    at.text_input(key=f"cf-rows-{run.id}").set_value("a-b").run()
    assert any("'a-b' is not a row number" in e.value for e in at.error)


def test_a_shift_intervention(trained) -> None:
    at = _app("counterfactuals")
    run = trained.runs()[0]
    at.selectbox(key=f"cf-node-{run.id}").set_value("x1").run()
    at.selectbox(key=f"cf-how-{run.id}-x1").set_value("shift by").run()
    at.number_input(key=f"cf-value-{run.id}-x1-shift by").set_value(1.0).run()
    frame = _frame(at, ("x1", "factual"), ("x2", "counterfactual"))
    np.testing.assert_allclose(frame[("x1", "counterfactual")], frame[("x1", "factual")] + 1.0)


# ---------------------------------------------------------------------- runs
def test_runs_page_lists_every_run_with_its_metrics(trained) -> None:
    at = _app("runs")
    table = _frame(at, "name", "status", "CF RMSE")
    assert table["name"].tolist() == ["tri small"] and table["status"].tolist() == ["done"]
    assert table["CF RMSE"].iloc[0] > 0


def test_runs_logic_tables_and_downloads(trained) -> None:
    runs = trained.runs()
    frame = runs_frame(runs)
    assert frame.loc[0, "model"] == "causal-gen" and frame.loc[0, "graph"] == "x1 -> x2; x1 -> x3; x2 -> x3"
    cmp = compare_frame(runs)
    assert cmp.loc["model: hidden"].iloc[0] == "16" and cmp.loc["training: steps"].iloc[0] == "1000"
    assert progress_fraction(runs[0]) == 1.0
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(checkpoint_zip(runs[0]))).namelist()
    assert sorted(names) == sorted(f"{runs[0].id}/{n}" for n in ("model.json", "model.safetensors"))
    from app.logic.runs import mechanism_table

    table = mechanism_table(trained.load_model(runs[0].id))  # what the run page shows per node
    assert table["node"].tolist() == ["x1", "x2", "x3"] and table["mechanism"].iloc[0] == "root"
    assert all(m.endswith("additive noise") for m in table["mechanism"].iloc[1:])
    assert mechanism_table(object()) is None


def test_setting_fields_are_typed_like_their_defaults() -> None:
    fields = {f.name: f for f in settings_of("causal-gen")}
    assert parse_value(fields["hidden"], "32") == 32 and parse_value(fields["lr"], "1e-3") == 0.001
    assert parse_value(fields["patience"], "none") is None and parse_value(fields["patience"], "7") == 7
    with pytest.raises(ValueError, match="setting 'hidden' must be int"):
        parse_value(fields["hidden"], "2.5")
    assert datasets.names()  # the registry is importable beside the app logic


# ---------------------------------------------------------------------- which run a page shows
def test_a_run_selector_shows_a_finished_run_or_the_one_picked_by_hand() -> None:
    from app.logic.runs import default_run

    def run(i: str, status: str):
        return type("R", (), {"id": i, "status": status})()

    runs = [run("c", "cancelled"), run("b", "done"), run("a", "done")]  # newest first
    assert default_run(runs, None) == "b"
    assert default_run(runs, "a") == "a"  # chosen or trained last, and done
    assert default_run(runs, "c") == "b"  # trained last but cancelled: not the first thing shown
    assert default_run(runs, "c", picked="c") == "c"  # ... unless picked by hand
    assert default_run(runs, "c", picked="a") == "a"
    assert default_run([run("x", "running")], None) == "x"


def test_the_run_selector_and_the_page_below_show_the_same_run(trained) -> None:
    """The run chosen elsewhere in the session (trained there, say) is the one selected and
    the one the page shows, even though the selector existed before."""
    at = _app("explore")
    run = trained.runs()[0]
    assert at.selectbox(key="explore-run").value == run.id
    at.session_state["run:selected"] = "no-such-run"  # a run deleted meanwhile: the newest finished one
    at.run()
    assert not at.exception and at.selectbox(key="explore-run").value == run.id
    assert any(run.id in c.value for c in at.caption)


# ---------------------------------------------------------------------- image runs: two stages
def test_an_image_run_is_one_progress_over_two_stages(ws) -> None:
    """CCGM on images trains its label mechanisms, then its image networks: one fraction
    and time left over both, one loss curve per stage; the form names each stage's steps."""
    import dataclasses

    from app.logic.runs import STAGE_NAMES, stage_histories, training_stage
    from app.logic.train import form_settings, stage_prefixes
    from causal.sources import BuiltinImages

    run = ws.create_run(RunSpec(BuiltinImages("pendulum", rows=200, size=32), kind="ccgm",
                                settings={"steps": 60, "image_train.steps": 40, "width": 8}, name="two stages"),
                        pid=os.getpid())
    done = execute(ws, run.id)
    assert done.status == "done"
    history = ws.history(run.id)
    stages = stage_histories(done, history)
    assert [name for name, _ in stages] == list(STAGE_NAMES)
    assert [len(rows) for _, rows in stages] == [60, 20] and stages[1][1][0].epoch == 1  # epochs counted per stage
    seen = [training_stage(dataclasses.replace(done, status="running", progress=h), history) for h in history]
    assert [s.index for s in seen] == [1] * 60 + [2] * 20
    fractions = [s.fraction for s in seen]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:])) and fractions[-2] < 1.0
    assert all(s.stage_only for s in seen[:60]) and not any(s.stage_only for s in seen[60:])
    assert seen[-2].seconds_left is not None  # the image stage's pace is measured
    assert training_stage(done, history).fraction == 1.0
    # the form: each stage's steps by name, wherever the model keeps them
    assert stage_prefixes("ccgm") == ("", "image_train.") and stage_prefixes("causal-gan") == ("labels.", "")
    labels = {name: label for name, label, _ in form_settings("causal-gan", images=True)}
    assert labels["labels.steps"] == "label stage: steps" and labels["steps"] == "image stage: steps"
    assert [n for n, _, _ in form_settings("causal-gen", images=False)][:3] == ["hidden", "layers", "steps"]


def test_the_runs_comparison_has_one_type_per_column(trained) -> None:
    import pyarrow as pa

    runs = trained.runs()
    frame = compare_frame(runs + runs)
    pa.Table.from_pandas(frame)  # no ArrowTypeError: every column is text
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in frame.dtypes)


# ---------------------------------------------------------------------- where runs live
def test_the_default_workspace_is_one_per_user(monkeypatch, tmp_path) -> None:
    from app.workspace import default_root

    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(tmp_path / "mine"))
    assert default_root() == tmp_path / "mine"
    monkeypatch.delenv("COUNTERFACTORY_WORKSPACE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert default_root() == tmp_path / "data" / "counterfactory" / "workspace"  # not ./workspace
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".local" / "share" / "counterfactory" / "workspace"


def test_the_fast_preset_fills_the_form_and_the_run_records_its_values(ws) -> None:
    """Speed: fast fills in Causal Gen's preset (steps=1000, hidden=32), each value still
    editable; the run is trained with the values, which it records (not the preset's name)."""
    from generators import PRESETS

    at = _app("train")
    assert at.text_input(key="train-causal-gen-steps").value == "4000"
    at.radio(key="train-causal-gen-preset").set_value("fast").run()
    fast = PRESETS["causal-gen"]["fast"]
    assert at.text_input(key="train-causal-gen-steps-1000").value == str(fast["steps"])
    assert at.text_input(key="train-causal-gen-hidden-32").value == str(fast["hidden"])
    at.text_input(key="train-causal-gen-steps-1000").set_value("60")  # a preset's value stays editable
    _button(at, "Start training").click().run()
    _until(at, lambda a: a.success, what="training")
    [run] = ws.runs()
    assert run.status == "done", run.error
    assert run.spec.settings == {"steps": 60, "hidden": 32}
