"""The De-bias page headless (Streamlit's AppTest) on a workspace with one tiny loan run, and
its logic (``app.logic.debias``) on the synthetic biased table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.logic import debias as lg
from app.worker import execute
from app.workspace import RunSpec, Workspace
from causal.sources import BuiltinTable

REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")


@pytest.fixture(scope="module")
def loan_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("debias-ws") / "ws"
    w = Workspace(root)
    run = w.create_run(RunSpec(BuiltinTable("loan", rows=1500), kind="linear-anm", settings={"steps": 150},
                               name="loan tiny"), pid=os.getpid())
    assert execute(w, run.id).status == "done"
    return root


def _app(root: Path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(root))
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("views/debias.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_cuts_a_path_and_reports_before_and_after(loan_root, monkeypatch):
    at = _app(loan_root, monkeypatch)
    run = Workspace(loan_root).runs()[0]
    assert at.selectbox(key=f"db-a-{run.id}").value == "A"
    at.selectbox(key=f"db-y-{run.id}-A").set_value("income").run()
    at.radio(key=f"db-how-{run.id}-A-income").set_value("parity").run()
    at.number_input(key="db-n").set_value(2000).run()
    assert not at.exception, at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "Cut: A -> income, edu -> income" in captions
    headline = at.dataframe[0].value
    headline = headline.data if not isinstance(headline, pd.DataFrame) else headline  # a Styler: its frame
    before, after = headline["before (model as trained)"], headline["after (de-biased)"]
    assert after["dependence of income on A"] < 0.06 < before["dependence of income on A"]
    assert len(at.get("download_button")) == 3
    assert any("counterfactory debias --manifest" in c.value for c in at.caption)


def test_uploaded_held_out_rows_with_gaps_lose_only_those_rows(loan_root, monkeypatch):
    from causal import datasets

    at = _app(loan_root, monkeypatch)
    run = Workspace(loan_root).runs()[0]
    at.selectbox(key=f"db-y-{run.id}-A").set_value("income").run()
    held = datasets.load("loan", n=400, seed=9).data.astype({"edu": str})
    held.loc[[1, 2], "edu"] = " ?"
    held.loc[[3], "income"] = np.nan
    at.file_uploader(key="db-test").set_value(("held.csv", held.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("held.csv: dropped 3 of 400 rows (0.8%) with a missing value (edu 2, income 1); 397 rows kept." in c.value
               for c in at.caption)


def test_chosen_edges_and_a_reference_value(loan_root, monkeypatch):
    at = _app(loan_root, monkeypatch)
    run = Workspace(loan_root).runs()[0]
    assert at.selectbox(key=f"db-y-{run.id}-A").value == "savings"  # the last descendant: no direct edge from A
    assert at.radio(key=f"db-how-{run.id}-A-savings").value == "parity"
    at.selectbox(key=f"db-y-{run.id}-A").set_value("income").run()
    at.radio(key=f"db-how-{run.id}-A-income").set_value("edges").run()
    at.multiselect(key=f"db-edges-{run.id}").set_value(["A -> income", "A -> edu"]).run()
    at.selectbox(key=f"db-ref-{run.id}-A").set_value(0).run()
    assert not at.exception, at.exception
    assert any("Cut: A -> income, A -> edu" in c.value for c in at.caption)
    at.multiselect(key=f"db-edges-{run.id}").set_value([]).run()
    assert not at.exception and any("nothing yet" in c.value for c in at.caption)


def test_logic_tradeoff_and_manifest(loan_root):
    from bench.debias import biased_table

    scm = biased_table()
    real = scm.sample(1500, seed=3)
    from generators import build_model

    model = build_model("linear-anm", scm.graph, steps=150)
    model.fit(scm.sample(2000, seed=1), seed=0)
    assert lg.default_roles(scm.graph, model.schema) == ("A", "Y")
    frame = lg.tradeoff(model, "A", "Y", 1500, real, marked=["D"], real=real)
    assert list(frame.index) == ["none", "unaware", "counterfactual", "parity", "real"]
    assert frame.loc["parity", "data_parity_gap"] < frame.loc["none", "data_parity_gap"]
    assert lg.tradeoff_figure(frame).data[0].x is not None
    edges = lg.cut_edges(scm.graph, "A", "Y", "unaware")
    res = lg.generate(model, edges, None, 800, 0, "A", "Y", real=real, test=real)
    rows = real.head(5)
    _cf, changed = lg.counterfactual_rows(res.edited, rows)
    assert not changed[["A", "Z", "M", "D"]].to_numpy().any()  # not downstream of the cut
    run = Workspace(loan_root).runs()[0]
    payload = lg.data_bytes(res.data, "csv")
    m = json.loads(lg.manifest_json(run, loan_root, model, res.edited, 800, 0, "csv", payload, res.report, real))
    assert m["cuts"] == ["A -> Y"] and m["model"] == f"run:{run.id}" and m["report"]["after"]["downstream"]
    assert isinstance(pd.read_csv(__import__("io").BytesIO(payload)), pd.DataFrame)


def test_the_variant_comparison_stays_until_what_it_was_computed_from_changes(tmp_path, monkeypatch):
    """'Compare the variants' fits a classifier per variant (seconds): a rerun that changes
    nothing it depends on (the download format) keeps it; a new seed drops it."""
    from app.workspace.records import StoredDataset
    from bench.debias import biased_table

    scm = biased_table()
    root = tmp_path / "ws"
    w = Workspace(root)
    data = w.add_dataset("biased", scm.sample(1200, seed=0), source="test:biased")
    run = w.create_run(RunSpec(StoredDataset(data.id), graph=scm.graph.to_text(), kind="linear-anm",
                               settings={"steps": 100}, name="biased tiny"), pid=os.getpid())
    assert execute(w, run.id).status == "done"
    at = _app(root, monkeypatch)
    assert (at.selectbox(key=f"db-a-{run.id}").value, at.selectbox(key=f"db-y-{run.id}-A").value) == ("A", "Y")
    at.number_input(key="db-n").set_value(1000).run()
    shown = len(at.dataframe)
    at.button(key="db-compare").click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == shown + 1  # the comparison's table
    at.selectbox(key="db-fmt").set_value("parquet").run()
    assert not at.exception and len(at.dataframe) == shown + 1
    at.number_input(key="db-seed").set_value(1).run()
    assert not at.exception and len(at.dataframe) == shown
