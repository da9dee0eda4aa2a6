"""The generic background-task runner (``app.tasks``): submit, status with progress, result,
the list of a kind's tasks, cancel (before and while running), a crashed task reported failed
with its error, a worker gone without a word, an unknown kind or task, and a hypothesis job
folder written before tasks had kinds. Tasks run in this process (``run_task``); a real worker
process runs in the hypothesis and defense page tests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app import tasks


def _add(folder, progress, cancelled):
    job = tasks.read_inputs(folder)
    for i in range(3):
        progress(i + 1, 3, f"step {i + 1}")
    return {"sum": job["inputs"]["a"] + job["config"]["b"], "file": (folder / "x.txt").read_text()}


def _crash(folder, progress, cancelled):
    progress(1, 2, "about to fail")
    raise ValueError("boom: the input is bad")


def _stops(folder, progress, cancelled):
    for i in range(100):
        if i == 2:
            (folder / "cancel").touch()  # what tasks.cancel does from another process
        if cancelled():
            raise tasks.Cancelled()
        progress(i, 100, "working")
    return {"finished": True}


tasks.register("test-add", _add)
tasks.register("test-crash", _crash)
tasks.register("test-stops", _stops, folder="elsewhere", result_file="out.json")


def test_submit_run_status_result_and_list(tmp_path):
    job = tasks.submit(tmp_path, "test-add", {"a": 40}, {"b": 2}, name="adding", files={"x.txt": b"hello"}, start=False)
    st = tasks.status(tmp_path, "test-add", job)
    assert (st.state, st.name, st.kind, st.active, st.fraction) == ("queued", "adding", "test-add", True, 0.0)
    assert st.folder == tmp_path / "tasks" / "test-add" / job
    with pytest.raises(tasks.TaskError, match="has no result \\(queued\\)"):
        tasks.result(tmp_path, "test-add", job)
    assert tasks.run_task(st.folder) == "done"
    st = tasks.status(tmp_path, "test-add", job)
    assert (st.state, st.done, st.total, st.fraction, st.active) == ("done", 3, 3, 1.0, False)
    assert tasks.result(tmp_path, "test-add", job) == {"sum": 42, "file": "hello"}
    other = tasks.submit(tmp_path, "test-add", {"a": 1}, {"b": 1}, files={"x.txt": b""}, start=False)
    assert [t.id for t in tasks.tasks(tmp_path, "test-add")] == sorted([job, other], reverse=True)
    assert tasks.tasks(tmp_path, "test-crash") == []
    with pytest.raises(tasks.TaskError, match="plain name"):
        tasks.submit(tmp_path, "test-add", {}, {}, files={"../escape": b""}, start=False)


def test_a_crashed_task_is_failed_with_its_error(tmp_path):
    job = tasks.submit(tmp_path, "test-crash", {}, start=False)
    assert tasks.run_task(tmp_path / "tasks" / "test-crash" / job) == "failed"
    st = tasks.status(tmp_path, "test-crash", job)
    assert st.state == "failed" and st.error == "boom: the input is bad" and st.done == 1
    with pytest.raises(tasks.TaskError, match="no result \\(failed: boom"):
        tasks.result(tmp_path, "test-crash", job)


def test_cancel_before_and_while_running(tmp_path):
    queued = tasks.submit(tmp_path, "test-add", {"a": 1}, {"b": 1}, start=False)
    tasks.cancel(tmp_path, "test-add", queued)
    assert tasks.run_task(tmp_path / "tasks" / "test-add" / queued) == "cancelled"  # never started
    assert tasks.status(tmp_path, "test-add", queued).state == "cancelled"
    running = tasks.submit(tmp_path, "test-stops", {}, start=False)
    folder = tmp_path / "elsewhere" / running  # the kind's own folder
    assert tasks.run_task(folder) == "cancelled"
    st = tasks.status(tmp_path, "test-stops", running)
    assert st.state == "cancelled" and st.done == 1 and not (folder / "out.json").exists()


def test_a_worker_gone_without_a_word_is_failed(tmp_path):
    job = tasks.submit(tmp_path, "test-add", {"a": 1}, {"b": 1}, start=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    status_file = tmp_path / "tasks" / "test-add" / job / "status.json"
    status_file.write_text(json.dumps({"state": "running", "pid": gone.pid, "done": 1, "total": 3}))
    st = tasks.status(tmp_path, "test-add", job)
    assert st.state == "failed" and "ended without a result" in st.error


def test_unknown_kind_and_task_are_clear_errors(tmp_path):
    with pytest.raises(tasks.TaskError, match="unknown task kind 'nope'; the kinds are .*defense.*hypotheses"):
        tasks.submit(tmp_path, "nope", {})
    with pytest.raises(tasks.TaskError, match="no test-add task 'missing'"):
        tasks.status(tmp_path, "test-add", "missing")
    with pytest.raises(tasks.TaskError, match="no test-add task 'missing'"):
        tasks.cancel(tmp_path, "test-add", "missing")
    assert {"defense", "hypotheses", "test-add"} <= set(tasks.kinds())


def test_a_hypothesis_job_written_before_tasks_had_kinds_still_runs(tmp_path):
    import pandas as pd

    from app import hypothesis_jobs
    from causal.hypotheses import HypothesisConfig

    rows = pd.DataFrame({"a": [0.1 * i for i in range(60)], "b": [0.2 * i + (i % 3) for i in range(60)]})
    cfg = HypothesisConfig(folds=2, seeds=1, settings={"steps": 50}, classical=False)
    job = hypothesis_jobs.submit(tmp_path, rows, ["a -> b", "b -> a"], cfg, start=False)
    folder = tmp_path / "hypotheses" / job
    new = json.loads((folder / "job.json").read_text())
    old = {"name": new["name"], "candidates": new["inputs"]["candidates"], "config": new["config"],
           "created": new["created"]}  # the layout app.hypothesis_jobs wrote before
    (folder / "job.json").write_text(json.dumps(old))
    assert hypothesis_jobs.run_job(folder) == "done"
    assert [c.name for c in hypothesis_jobs.report(tmp_path, job).candidates] == ["H1", "H2"]
    assert hypothesis_jobs.jobs(tmp_path)[0].state == "done"
