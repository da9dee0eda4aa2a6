"""The robust manifold defense on the Inverse problems page: without a run it asks for one;
with a tiny trained glyph model it shows the cost estimate, refuses a bad eps, starts a tiny
evaluation as a background task (a real worker process), shows its table, chart, example
images, the BPDA caveat and the JSON download; a long one is cancelled from the page. Also the
``defense`` task run in this process, and its logic without streamlit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import tasks
from app.logic import defense as dl

REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")
TINY = {"defense-n": 4, "defense-train-n": 100, "defense-epochs": 1, "defense-pgd": 3, "defense-bpda": 2,
        "defense-latent": 3, "defense-restarts": 2, "defense-steps": 10}


@pytest.fixture(scope="module")
def glyph_ws(tmp_path_factory):
    """A workspace with one tiny glyph model (trained here, about 2 s)."""
    from app.worker import execute
    from app.workspace import RunSpec, Workspace
    from causal.sources import BuiltinImages

    ws = Workspace(tmp_path_factory.mktemp("defense") / "ws")
    run = ws.create_run(RunSpec(BuiltinImages("morpho-glyphs", rows=200, size=32), kind="ccgm",
                                settings={"steps": 20, "image_train.steps": 10, "width": 4}, name="glyphs"),
                        pid=os.getpid())
    assert execute(ws, run.id).status == "done"
    return ws, ws.run(run.id)


def _page(root, monkeypatch, run_id=None):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(root))
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("views/inverse.py").run()
    if run_id:
        at.selectbox(key="inverse-prior").set_value(run_id).run()
    assert not at.exception, at.exception
    return at


def _wait(root, task_id, seconds=90.0):
    deadline = time.monotonic() + seconds
    while tasks.status(root, dl.KIND, task_id).active and time.monotonic() < deadline:
        time.sleep(0.3)
    return tasks.status(root, dl.KIND, task_id)


def _text(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "error", "warning") for e in at.get(kind))


def test_section_without_a_run_asks_for_one(tmp_path, monkeypatch):
    at = _page(tmp_path / "ws", monkeypatch)
    assert "Robust manifold defense" in [s.value for s in at.subheader]
    assert "Pick a trained image run as the prior above" in _text(at)


def test_page_runs_a_tiny_evaluation_in_the_background(glyph_ws, monkeypatch):
    ws, run = glyph_ws
    at = _page(ws.root, monkeypatch, run.id)
    assert "Estimated cost" in _text(at) and f"counterfactory defend run:{run.id}" in _text(at)
    at.text_input(key="defense-eps").set_value("0.2, 2").run()
    assert at.error and "0 < eps <= 1; got 2" in at.error[0].value
    at.text_input(key="defense-eps").set_value("0.2").run()
    for key, value in TINY.items():
        at.number_input(key=key).set_value(value)
    at.run()
    # 4 clean + 4 PGD + 2 x 4 BPDA + 4 BPDA + 4 examples; latent: 4 starts + 4 x 2 x 2 candidates + 4 projected
    assert "Estimated cost: 48 images projected" in _text(at)
    assert "--latent-steps 3" in _text(at) and "--attack-restarts 1 --attack-steps 5" in _text(at)
    at.button(key="defense-go").click().run()
    assert not at.exception, at.exception
    made = tasks.tasks(ws.root, dl.KIND)
    assert len(made) == 1
    status = _wait(ws.root, made[0].id)
    assert status.state == "done", (status, (status.folder / "worker.log").read_text())
    at.run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "Accuracy of the classifier" in text and "s per projected image" in text and "never a proof" in text
    frame = at.dataframe[0].value
    assert list(frame["eps"]) == [0.0, 0.2] and frame["bare classifier"].between(0, 1).all()
    assert frame["BPDA"][0] == frame["projected"][0]  # eps 0: no attack, the defended classifier on clean images
    assert list(frame.columns) == ["eps", "bare classifier", "projected", "BPDA", "latent attack", "worst case"]
    for col in ("latent attack", "worst case"):
        assert frame[col].between(0, 1).all(), frame
    assert frame["worst case"][1] <= min(frame["projected"][1], frame["BPDA"][1], frame["latent attack"][1])
    captions = [c for im in at.get("image") for c in im.captions]
    assert sum("classified as" in c for c in captions) == 3, captions
    assert [b.label for b in at.get("download_button")] == ["Result (JSON)"]
    rec = tasks.result(ws.root, dl.KIND, made[0].id)
    assert rec["n"] == 4 and rec["eps"] == [0.2] and len(rec["bpda"]) == 1 and rec["run"] == run.id
    assert len(rec["latent"]) == len(rec["worst"]) == 1 and rec["latent_steps"] == 3
    assert rec["n_train"] == 100 and rec["label"] == "glyph" and len(rec["examples"]["true"]) == 4


def test_page_cancels_a_long_evaluation(glyph_ws, monkeypatch):
    ws, run = glyph_ws
    at = _page(ws.root, monkeypatch, run.id)
    for key, value in {**TINY, "defense-bpda": 500, "defense-steps": 500, "defense-n": 50}.items():
        at.number_input(key=key).set_value(value)
    at.button(key="defense-go").click().run()
    task_id = at.session_state["defense:task"]
    assert tasks.status(ws.root, dl.KIND, task_id).active
    at.button(key="defense-cancel").click().run()
    assert not at.exception, at.exception
    status = _wait(ws.root, task_id, 60)
    assert status.state == "cancelled", status
    at.run()
    assert "The evaluation was cancelled" in _text(at)


def test_defense_task_in_this_process(glyph_ws):
    ws, run = glyph_ws
    s = dl.DefenseSettings(eps=(0.1, 0.3), n=4, train_n=100, epochs=1, pgd_steps=2, bpda_steps=0, latent_steps=0,
                           restarts=2, steps=10, examples=0)
    job = dl.submit(ws.root, run, "morpho-glyphs", s, start=False)
    assert tasks.run_task(ws.root / "tasks" / "defense" / job) == "done"
    st = tasks.status(ws.root, dl.KIND, job)
    assert st.done == st.total == 5  # loading, classifier, clean projection, PGD at each eps
    rec = tasks.result(ws.root, dl.KIND, job)
    assert rec["bpda"] == [] and "examples" not in rec and dl.example_images(st.folder) is None
    assert list(dl.result_frame(rec)["BPDA"].isna()) == [True, True, True]  # no BPDA run: none shown
    assert list(dl.result_frame(rec)["latent attack"].isna()) == [True, True, True]
    assert list(dl.result_frame(rec)["worst case"][1:]) == rec["transfer"]  # only the projected PGD images: the same
    old = {k: v for k, v in rec.items() if k not in ("latent", "worst", "latent_steps", "latent_restarts")}
    assert list(dl.result_frame(old)["worst case"].isna()) == [True, True, True]  # a record from before: no values
    with pytest.raises(ValueError, match="eps: write numbers"):
        dl.parse_eps("0.1, x")
    with pytest.raises(ValueError, match="bpda_steps must be 0 or more"):
        dl.DefenseSettings(bpda_steps=-1)
    with pytest.raises(ValueError, match="latent_steps must be 0 or more"):
        dl.DefenseSettings(latent_steps=-1)
    assert dl.parse_eps("0.1 0.3") == dl.parse_eps("0.1,0.3") == (0.1, 0.3)


def test_defense_logic_does_not_import_streamlit():
    code = "import sys, app.logic.defense, app.tasks, app.hypothesis_jobs; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
    assert json.loads(json.dumps(dl.DefenseSettings().__dict__))["eps"] == [0.1, 0.3]
