"""The workspace registry (SQLite + files), the job runner and the training worker.

Worker processes are real (``python -m app.worker``) and train tiny models in about two
seconds each; the tests that start them share a few runs to stay fast.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from app.runner import Runner, worker_state
from app.worker import execute
from app.workspace import SCHEMA_VERSION, RunSpec, StoredDataset, Workspace, WorkspaceError
from causal import CausalGraph, datasets
from causal.sources import BuiltinImages, BuiltinTable, TableFile

TINY = {"hidden": 8, "steps": 60}
SLOW = {"hidden": 8, "steps": 200_000, "max_epochs": 100_000}  # trains until cancelled or killed


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------------- registry
def test_runs_are_registered_listed_and_found_by_prefix(ws):
    a = ws.create_run(RunSpec(BuiltinTable("triangle-lin", rows=300), settings=TINY, name="first"))
    b = ws.create_run(RunSpec(BuiltinTable("chain5-lin"), settings=TINY))
    assert [r.id for r in ws.runs()] == [b.id, a.id]  # newest first
    assert a.status == "queued" and a.name == "first" and b.name == "causal-gen on chain5-lin"
    assert b.spec.source.rows == 5000  # the default
    assert CausalGraph.parse(a.spec.graph) == datasets.info("triangle-lin").graph  # the dataset's own graph
    assert ws.run(a.id[:9]).id == a.id
    assert [r.id for r in ws.runs("queued")] == [b.id, a.id] and ws.runs("done") == []
    with pytest.raises(WorkspaceError, match="no run 'zzzz'"):
        ws.run("zzzz")
    with pytest.raises(WorkspaceError, match="unknown run status 'finished'"):
        ws.runs("finished")


def test_ambiguous_prefix_names_the_candidates(ws):
    ids = {ws.create_run(RunSpec(BuiltinTable("triangle-lin"), settings=TINY)).id for _ in range(3)}
    common = os.path.commonprefix(sorted(ids))
    assert common  # ids created within the same second share their time digits
    with pytest.raises(WorkspaceError, match="ambiguous"):
        ws.run(common)


BAD_SPECS = {
    "graph node the data lack": (RunSpec(BuiltinTable("triangle-lin"), graph="x1 -> x2; x2 -> zz"), "zz"),
    "cyclic graph": (RunSpec(BuiltinTable("triangle-lin"), graph="x1 -> x2; x2 -> x1"), "cycle"),
    "unknown setting": (RunSpec(BuiltinTable("triangle-lin"), settings={"hiden": 8}), "hiden"),
    "badly typed setting": (RunSpec(BuiltinTable("triangle-lin"), settings={"hidden": "wide"}), "hidden"),
    "unknown model kind": (RunSpec(BuiltinTable("triangle-lin"), kind="gan9000"), "gan9000"),
    "unknown built-in dataset": (RunSpec(BuiltinTable("nope")), "unknown dataset 'nope'"),
    "unknown stored dataset": (RunSpec(StoredDataset("abc"), graph="a -> b"), "abc"),
    "a file, not stored": (RunSpec(TableFile("d.csv"), graph="a -> b"), "store it in the workspace first"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_specs_are_refused_and_nothing_is_saved(ws, case):
    spec, needle = BAD_SPECS[case]
    with pytest.raises(ValueError, match=needle):
        ws.create_run(spec)
    assert ws.runs() == []


def test_bad_built_in_sources_are_refused_when_made():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        BuiltinTable("nope").load()
    with pytest.raises(ValueError, match="positive whole number, got 0"):
        BuiltinTable("triangle-lin", rows=0)
    with pytest.raises(ValueError, match="28, 32 or 64 pixels"):
        BuiltinImages("pendulum", size=48)


def test_a_run_on_a_built_in_dataset_this_version_lacks_still_lists(ws):
    run = ws.create_run(RunSpec(BuiltinTable("triangle-lin"), settings=TINY))
    stored = run.spec.to_dict()
    stored["source"]["dataset"] = "retired-dataset"
    with sqlite3.connect(ws.db_path) as con:
        con.execute("UPDATE runs SET spec = ? WHERE id = ?", (json.dumps(stored), run.id))
    again = ws.runs()[0]
    assert again.data_name == "retired-dataset" and again.truth is None


def test_runs_stored_before_sources_were_typed_still_open(ws):
    """A spec written as ``data`` ("builtin:x", "images:x" or a dataset id) with ``n_rows``,
    ``data_seed`` and ``image_size`` reads as the same source; the run trains as before."""
    rec = ws.add_dataset("loan sample", datasets.load("loan", n=200, seed=1).data, source="upload")
    cases = [
        (RunSpec(BuiltinTable("triangle-lin", rows=300, seed=4), settings=TINY),
         {"data": "builtin:triangle-lin", "n_rows": 300, "data_seed": 4, "image_size": 32}),
        (RunSpec(BuiltinTable("chain5-lin"), settings=TINY), {"data": "builtin:chain5-lin"}),  # older: no n_rows
        (RunSpec(BuiltinImages("pendulum", rows=64, seed=2, size=64), kind="ccgm"),
         {"data": "images:pendulum", "n_rows": 64, "data_seed": 2, "image_size": 64}),
        (RunSpec(StoredDataset(rec.id), graph="A -> income; age -> income", settings=TINY),
         {"data": rec.id, "n_rows": None, "data_seed": 0, "image_size": 32}),
    ]
    for spec, old in cases:
        run = ws.create_run(spec)
        stored = {**old, **{k: v for k, v in run.spec.to_dict().items() if k != "source"}}
        with sqlite3.connect(ws.db_path) as con:
            con.execute("UPDATE runs SET spec = ? WHERE id = ?", (json.dumps(stored), run.id))
        again = ws.run(run.id)
        assert again.spec == run.spec and again.data_name == run.data_name
    run = ws.runs()[-1]  # triangle-lin, 300 rows, drawn with seed 4
    assert execute(ws, run.id).status == "done" and run.truth is not None
    assert ws.run(run.id).report["n_train"] + ws.run(run.id).report["n_val"] == 300


def test_stored_datasets_round_trip_and_are_protected_while_used(ws):
    df = datasets.load("loan", n=200, seed=1).data
    rec = ws.add_dataset("loan sample", df, source="upload")
    assert rec.rows == 200 and rec.columns == tuple(df.columns)
    back = ws.load_dataset(rec.id)
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=False)
    with pytest.raises(WorkspaceError, match="needs a causal graph"):
        ws.create_run(RunSpec(StoredDataset(rec.id)))
    run = ws.create_run(RunSpec(StoredDataset(rec.id), graph=datasets.info("loan").graph.to_text(), settings=TINY))
    assert run.data_name == "loan sample"
    with pytest.raises(WorkspaceError, match=f"used by 1 run.*{run.id}"):
        ws.delete_dataset(rec.id)
    ws.delete_run(run.id)
    ws.delete_dataset(rec.id)
    assert ws.datasets() == [] and not rec.path.exists()


def test_graphs_are_saved_with_their_kinds(ws):
    g = CausalGraph.parse("a -> b; b -> c", kinds={"a": "binary"})
    rec = ws.add_graph("chain", g)
    assert ws.graph(rec.id).graph == g and ws.graph(rec.id).graph.kind("a") == "binary"
    assert [r.name for r in ws.graphs()] == ["chain"]
    ws.delete_graph(rec.id)
    with pytest.raises(WorkspaceError, match="no graph"):
        ws.graph(rec.id)


def test_reopening_keeps_everything_and_a_newer_schema_is_refused(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = ws.create_run(RunSpec(BuiltinTable("triangle-lin"), settings=TINY))
    again = Workspace(tmp_path / "ws")
    assert again.run(run.id).spec == run.spec and again.schema_version == SCHEMA_VERSION
    con = sqlite3.connect(again.db_path)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(WorkspaceError, match="newer Counterfactory"):
        Workspace(tmp_path / "ws")


def test_a_file_where_the_workspace_should_be_is_a_clear_error(tmp_path):
    (tmp_path / "ws").write_text("not a folder")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace(tmp_path / "ws")


def test_cancelling_a_queued_run_is_immediate_and_a_finished_one_is_refused(ws):
    run = ws.create_run(RunSpec(BuiltinTable("triangle-lin"), settings=TINY))
    assert ws.request_cancel(run.id).status == "cancelled"
    with pytest.raises(WorkspaceError, match="already finished"):
        ws.request_cancel(run.id)


def test_concurrent_writers_never_fail_on_a_locked_database(ws):
    """Eight threads (each its own connection, as the app's sessions and workers have)
    append progress and beat at once; every write lands."""
    runs = [ws.create_run(RunSpec(BuiltinTable("triangle-lin"), settings=TINY), pid=os.getpid()) for _ in range(8)]

    class P:  # a generators.Progress look-alike
        def __init__(self, epoch):
            self.epoch, self.max_epochs, self.steps = epoch, 50, epoch * 3
            self.train_loss = self.val_loss = self.best_val_loss = 1.0 / epoch
            self.lr, self.elapsed = 0.01, 0.1 * epoch

    errors = []

    def write(run_id):
        try:
            for e in range(1, 51):
                ws.record_progress(run_id, P(e))
                ws.beat(run_id)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(r.id,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for r in runs:
        hist = ws.history(r.id)
        assert [h.epoch for h in hist] == list(range(1, 51))
        assert ws.run(r.id).progress.epoch == 50


# ---------------------------------------------------------------------- training in this process
def test_execute_trains_records_history_metrics_and_a_loadable_checkpoint(ws):
    run = ws.create_run(RunSpec(BuiltinTable("triangle-lin", rows=400), settings=TINY), pid=os.getpid())
    seen = []
    done = execute(ws, run.id, callbacks=[seen.append])
    assert done.status == "done" and done.error is None
    assert done.report["steps"] == 60 and len(ws.history(run.id)) == done.report["epochs"] == len(seen)
    m = done.metrics
    assert m["interventional_mmd2"] >= 0 and m["counterfactual_rmse"] >= 0 and len(m["interventions"]) == 2
    model = ws.load_model(run.id)
    assert list(model.sample(5, seed=0).columns) == ["x1", "x2", "x3"]
    path = ws.export_samples(run.id, 50, do={"x1": 1.0}, seed=3)
    table = pd.read_csv(path)
    assert len(table) == 50 and (table["x1"] == 1.0).all()
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["run"]["id"] == run.id and manifest["query"]["do"] == {"x1": 1.0}
    assert manifest["versions"]["torch"].startswith("2.13")


def test_execute_records_a_failure_in_one_line(ws):
    rec = ws.add_dataset("tiny", pd.DataFrame({"a": [1.0, 2.0] * 5, "b": [0.0, 1.0] * 5}), source="test")
    run = ws.create_run(RunSpec(StoredDataset(rec.id), graph="a -> b", settings=TINY), pid=os.getpid())  # 10 rows: too few
    with pytest.raises(ValueError):
        execute(ws, run.id)
    failed = ws.run(run.id)
    assert failed.status == "failed" and "rows" in failed.error and "\n" not in failed.error


def test_stop_event_cancels_and_keeps_the_best_weights(ws):
    run = ws.create_run(RunSpec(BuiltinTable("triangle-lin", rows=400), settings=SLOW), pid=os.getpid())
    stop = threading.Event()

    def cancel_after_two_epochs(p):
        if p.epoch >= 2:
            stop.set()

    done = execute(ws, run.id, callbacks=[cancel_after_two_epochs], stop=stop)
    assert done.status == "cancelled" and done.has_checkpoint
    ws.load_model(run.id).sample(3, seed=0)


# ---------------------------------------------------------------------- worker processes
def test_runner_trains_in_a_worker_process_one_job_at_a_time(ws):
    runner = Runner(ws, max_jobs=1)
    first = runner.submit(RunSpec(BuiltinTable("triangle-lin", rows=400), settings=TINY))
    second = runner.submit(RunSpec(BuiltinTable("chain5-lin", rows=400), settings=TINY))
    assert ws.run(first).status == "running" and ws.run(second).status == "queued"
    assert ws.run(first).pid not in (None, os.getpid())
    done = runner.wait(first, timeout=120)
    assert done.status == "done", done.error
    assert runner.wait(second, timeout=120).status == "done"
    assert ws.load_model(second).graph == datasets.info("chain5-lin").graph
    assert (done.folder / "worker.log").read_text().count("done in") == 1


def test_a_killed_worker_is_marked_failed_and_keeps_its_last_checkpoint(ws):
    runner = Runner(ws, max_jobs=1)
    run_id = runner.submit(RunSpec(BuiltinTable("triangle-lin", rows=400), settings={**SLOW, "checkpoint_every": 1}))
    running = _wait_for(lambda: (r := ws.run(run_id)).has_checkpoint and r.progress and r.progress.epoch >= 3 and r,
                        what="the worker's first checkpoints")
    os.kill(running.pid, signal.SIGKILL)
    _wait_for(lambda: runner.poll().failed or ws.run(run_id).status == "failed", what="the dead worker to be noticed")
    failed = ws.run(run_id)
    assert failed.status == "failed"
    assert "worker stopped unexpectedly" in failed.error and "SIGKILL" in failed.error
    assert "checkpoint is kept" in failed.error
    ws.load_model(run_id).sample(3, seed=0)  # the last good checkpoint loads


def test_cancelling_a_running_worker_stops_it_within_seconds(ws):
    runner = Runner(ws, max_jobs=1)
    run_id = runner.submit(RunSpec(BuiltinTable("triangle-lin", rows=400), settings=SLOW))
    _wait_for(lambda: ws.run(run_id).progress is not None, what="training to start")
    t0 = time.monotonic()
    runner.cancel(run_id)
    done = runner.wait(run_id, timeout=30)
    assert done.status == "cancelled" and time.monotonic() - t0 < 10
    assert done.has_checkpoint


def test_worker_state_rules():
    from app.workspace import RunRecord

    base = dict(id="r", name="n", spec=RunSpec(BuiltinTable("triangle-lin")), status="running", created="", started="",
                finished=None, progress=None, report=None, metrics={}, error=None, checkpoint_dir=Path("/nowhere"),
                host=None, proc_start=None, cancel_requested=False, data_name="triangle-lin")
    now = 1_000_000.0
    alive = RunRecord(**base, pid=os.getpid(), heartbeat=now - 1)
    assert worker_state(alive, now=now) is None
    assert "no heartbeat" in worker_state(RunRecord(**base, pid=os.getpid(), heartbeat=now - 500), now=now)
    assert worker_state(RunRecord(**base, pid=None, heartbeat=now - 1), now=now) is None  # still starting
    assert "did not start" in worker_state(RunRecord(**base, pid=None, heartbeat=now - 500), now=now)
    gone = RunRecord(**base, pid=2**22 + 12345, heartbeat=now - 1)
    assert worker_state(gone, now=now) == "its worker process is gone"
