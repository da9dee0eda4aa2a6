"""Bad inputs, bounds and crashes, as one permanent suite.

``CATALOG`` holds one case per line: what a user runs (a command line, or a library call),
the error class it must raise, and the words its one-line message must contain. The README's
"Reliability" section lists the same cases. Behaviours that are bounded rather than refused
(streaming a huge sample, a read-only workspace, a rebuilt registry, graph round trips) and
the fault injection (training processes killed with SIGKILL and SIGTERM at random points,
then the registry, the checkpoints and ``runs`` checked) follow the catalog.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import causal.limits as limits
from app.cli import build_parser, main
from app.cli.common import UsageError
from app.workspace import RunSpec, Workspace, WorkspaceError
from causal import CausalGraph, DataError, EvidenceError, GraphError, NotFiniteError, datasets, load_table, validate_table
from causal.images import ImageDataError
from causal.limits import SizeError
from causal.sources import BuiltinTable
from generators import CheckpointError, build_model, load_model

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "max_epochs=3", "--set", "hidden=8", "-q"]
SLOW = ["--set", "hidden=8", "--set", "steps=200000", "--set", "max_epochs=100000", "-q"]


# ---------------------------------------------------------------------- the files the catalog uses
def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _edited(src: Path, dst: Path, edit: Callable[[dict], Any], v1: bool = False) -> Path:
    """A copy of checkpoint ``src`` whose model.json ``edit`` changed (``v1``: written as a
    format-1 file, which has no checksum)."""
    shutil.copytree(src, dst)
    meta = json.loads((dst / "model.json").read_text())
    if v1:
        meta["format_version"] = 1
        meta.pop("checksum")
    edit(meta)
    (dst / "model.json").write_text(json.dumps(meta))
    return dst


class _Payload:
    """Unpickling this creates the file ``marker``: proof that something was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Every path a catalog case names, keyed as its placeholder."""
    d = tmp_path_factory.mktemp("bad")
    model = d / "model"
    assert main(["train", "--dataset", "triangle-lin", "-n", "300", *TINY, "--out", str(model)]) == 0
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50), "c": rng.normal(size=50)})
    huge = table.copy()
    huge.loc[5, "a"] = 1e308
    huge.to_csv(d / "huge.csv", index=False)
    _write(d / "dup.csv", "a,a,b\n" + "".join(f"{i % 7},{i % 5},{i % 3}\n" for i in range(50)))
    rows = datasets.load("triangle-lin", n=20, seed=3).data
    inf_rows = rows.astype(object)
    inf_rows.loc[3, "x2"] = "inf"
    inf_rows.to_csv(d / "inf_rows.csv", index=False)
    text_rows = rows.astype(object)
    text_rows.loc[4, "x1"] = "abc"
    text_rows.to_csv(d / "text_rows.csv", index=False)
    _write(d / "no_id.json", '{"nodes": [{"name": "a"}], "edges": []}')
    _write(d / "no_source.json", '{"nodes": ["a", "b"], "edges": [{"target": "b"}]}')
    _write(d / "nodes_text.json", '{"nodes": "ab", "edges": []}')
    _write(d / "no_nodes.json", '{"nodes": [], "edges": []}')
    # edited checkpoints
    _edited(model, d / "ck_no_graph", lambda m: m.pop("graph"))
    _edited(model, d / "ck_no_schema", lambda m: m.pop("schema"))
    _edited(model, d / "ck_sd0", lambda m: m["schema"]["columns"][1].update(std=0))
    _edited(model, d / "ck_edges", lambda m: m["graph"]["edges"].pop())
    _edited(model, d / "ck_hidden", lambda m: m["config"].update(hidden="eight"))
    _edited(model, d / "ck_hidden_v1", lambda m: m["config"].update(hidden="eight"), v1=True)
    _edited(model, d / "ck_epochs", lambda m: m["fit"].update(epochs="three"))
    _edited(model, d / "ck_columns", lambda m: m["schema"]["columns"].pop())
    # special files where files are expected
    (d / "ck_zero").mkdir()
    shutil.copy(model / "model.json", d / "ck_zero" / "model.json")
    (d / "ck_zero" / "model.safetensors").symlink_to("/dev/zero")
    (d / "ck_zero_json").mkdir()
    shutil.copy(model / "model.safetensors", d / "ck_zero_json" / "model.safetensors")
    (d / "ck_zero_json" / "model.json").symlink_to("/dev/zero")
    # a pickle renamed to .safetensors, its hash even written into a format-1 model.json
    marker = d / "executed"
    pick = d / "ck_pickle"
    shutil.copytree(model, pick)
    (pick / "model.safetensors").write_bytes(pickle.dumps(_Payload(str(marker))))
    pick2 = _edited(pick, d / "ck_pickle_hashed", lambda m: m.update(
        weights_sha256=__import__("hashlib").sha256((pick / "model.safetensors").read_bytes()).hexdigest()), v1=True)
    assert pick2.exists()
    # image folders: a 60 MB entry, an image too large, zip-slip names
    with zipfile.ZipFile(d / "fat.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", b"\0" * (60 * 2**20))
        z.writestr("labels.csv", "file,y\na.png,1\n")
    from PIL import Image

    (d / "wide").mkdir()
    Image.new("L", (4100, 4100)).save(d / "wide" / "a.png")
    _write(d / "wide" / "labels.csv", "file,y\na.png,1\n")
    png = d / "tiny.png"
    Image.new("L", (8, 8), 200).save(png)
    with zipfile.ZipFile(d / "slip.zip", "w") as z:
        for i in range(4):
            z.write(png, f"../../slip{i}.png")
        z.writestr("labels.csv", "file,y\n" + "".join(f"../../slip{i}.png,{i % 2}\n" for i in range(4)))
    # workspaces: a damaged database, an empty one beside a run folder, a run whose owner died
    ws_ok = Workspace(d / "ws_ok")
    run = ws_ok.create_run(RunSpec(BuiltinTable("triangle-lin", rows=300)))
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_run = ws_ok.create_run(RunSpec(BuiltinTable("triangle-lin", rows=300)), pid=dead.pid)
    for name, content in (("ws_damaged", b"this is not an SQLite database, whatever it was" * 4), ("ws_empty", b"")):
        Workspace(d / name).create_run(RunSpec(BuiltinTable("triangle-lin", rows=300)))
        for suffix in ("-wal", "-shm"):
            (d / name / f"counterfactory.db{suffix}").unlink(missing_ok=True)
        (d / name / "counterfactory.db").write_bytes(content)
    # a folder another process is training into
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from generators.checkpoint import folder_lock\n"
         f"with folder_lock({str(d / 'locked')!r}):\n    print('locked', flush=True); time.sleep(300)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    paths = {p.name.replace(".", "_"): str(p) for p in d.iterdir()}
    paths.update(tmp=str(d), queued=run.id, dead_run=dead_run.id, marker=str(marker))
    yield paths
    holder.kill()
    holder.wait()


# ---------------------------------------------------------------------- the catalog
@dataclass(frozen=True)
class Case:
    """One bad input: a command line (``argv``, with ``{placeholders}`` from ``env``) or a
    library call (``call(env)``), the error it must raise, and words of its message."""

    name: str
    error: type[Exception]
    words: tuple[str, ...]
    argv: tuple[str, ...] = ()
    call: Callable[[dict[str, str]], Any] | None = None


def cli(name: str, command: str, error: type[Exception], *words: str) -> Case:
    return Case(name, error, words, argv=tuple(command.split()))


def api(name: str, call: Callable[[dict[str, str]], Any], error: type[Exception], *words: str) -> Case:
    return Case(name, error, words, call=call)


def _sample(path: str, **kw: Any) -> Any:
    return load_model(path).sample(kw.pop("n", 10), seed=0, **kw)


CATALOG = [
    # 1. sizes: one call draws a bounded number of values (the CLI streams beyond, see below)
    api("sample 10^9 rows (API)", lambda e: _sample(e["model"], n=10**9), SizeError, "1,000,000,000 samples", "at most"),
    cli("train on 10^9 drawn rows", "train --dataset loan -n 1000000000 --out {tmp}/x", SizeError, "1,000,000,000 rows", "train on fewer rows"),
    api("10^7 images from an image SCM", lambda e: __import__("causal.images").images.load("faces", n=10**7), SizeError, "images", "MB"),
    # 2. a run whose owner died is seen as failed by every reader
    cli("cancel a run whose process died", "runs cancel {dead_run} --workspace {ws_ok}", WorkspaceError, "already finished (failed", "worker process is gone"),
    # 3. no silent wrong answers
    cli("CSV value 1e308", "train --data {huge_csv} --graph a->b;b->c --out {tmp}/x", DataError, "column 'a'", "1e+308", "rescale"),
    cli("do(x1 = 1e308)", "sample {model} --do x1=1e308", NotFiniteError, "'x1' = 1e+308", "too far from the data"),
    cli("do(x1 := x1 * 1e307)", "sample {model} --do x1=x1*1e307", NotFiniteError, "'x1'", "too far from the data"),
    cli("an inf cell in counterfactual rows", "counterfactual {model} --rows {inf_rows_csv} --do x1=0", DataError, "inf_rows.csv", "column 'x2'", "inf", "finite"),
    api("given x1 = NaN", lambda e: _sample(e["model"], given={"x1": float("nan")}), EvidenceError, "x1 = nan", "finite"),
    cli("checkpoint schema sd edited to 0", "sample {ck_sd0}", CheckpointError, "ck_sd0", "'x2'", "std is 0"),
    # 4. workspace database failures
    cli("a damaged workspace database", "runs --workspace {ws_damaged}", WorkspaceError, "damaged", "runs rebuild --workspace"),
    cli("a zero-length database beside run folders", "runs --workspace {ws_empty}", WorkspaceError, "empty or missing", "1 run folder", "runs rebuild"),
    # 5. one training per --out folder
    cli("train --out a folder another training holds", "train --dataset triangle-lin -n 300 --out {locked}", CheckpointError, "being written by another training", "process"),
    # 6. graph JSON and text
    cli("graph JSON node without id", "graph {no_id_json}", GraphError, "node 1 has no 'id'"),
    cli("graph JSON edge without source", "graph {no_source_json}", GraphError, "edge 1 has no 'source'"),
    cli("graph JSON nodes as a string", "graph {nodes_text_json}", GraphError, "'nodes' must be a list", '"ab"'),
    cli("graph JSON without nodes", "graph {no_nodes_json}", GraphError, "names no nodes"),
    api("empty graph given to a model", lambda e: build_model("causal-gen", CausalGraph([], [])), GraphError, "no nodes"),
    api("empty graph argument", lambda e: _run_cli(["graph", ""]), UsageError, "the graph is empty"),
    api("empty graph file name", lambda e: _run_cli(["train", "--data", e["huge_csv"], "--graph-file", "", "--out", "x"]), ValueError, "file name is empty"),
    # 7. edited checkpoint metadata
    cli("model.json without graph", "sample {ck_no_graph}", CheckpointError, "'graph' is a required property"),
    cli("model.json without schema", "sample {ck_no_schema}", CheckpointError, "'schema' is a required property"),
    cli("model.json with edited edges", "sample {ck_edges}", CheckpointError, "edited after it was saved"),
    cli("model.json with a wrongly typed setting", "sample {ck_hidden}", CheckpointError, "edited after it was saved"),
    cli("format-1 model.json with a wrongly typed setting", "sample {ck_hidden_v1}", CheckpointError, "setting 'hidden'", "int", '"eight"'),
    cli("model.json with a wrongly typed fit report", "sample {ck_epochs}", CheckpointError, "fit.epochs", "'three'"),
    cli("model.json schema without a node", "sample {ck_columns}", CheckpointError, "not the graph's nodes"),
    # 8. repeated CSV column names
    cli("CSV columns a,a,b", "train --data {dup_csv} --graph a->b --drop-extra --out {tmp}/x", DataError, "dup.csv", "column 'a' twice", "columns 1 and 2"),
    # 9. unbounded reads
    cli("--graph-file /dev/zero", "train --data {huge_csv} --graph-file /dev/zero --out {tmp}/x", ValueError, "/dev/zero", "not a regular file"),
    cli("graph /dev/zero", "graph /dev/zero", ValueError, "/dev/zero", "not a regular file"),
    cli("--data /dev/zero", "train --data /dev/zero --graph a->b --out {tmp}/x", DataError, "/dev/zero", "not a regular file"),
    cli("weights linked to /dev/zero", "sample {ck_zero}", CheckpointError, "model.safetensors", "not a regular file"),
    cli("model.json linked to /dev/zero", "sample {ck_zero_json}", CheckpointError, "model.json", "not a regular file"),
    cli("a 60 MB entry in an image zip", "train --image-folder {fat_zip} --graph y->image --model ccgm --out {tmp}/x", ImageDataError, "a.png", "60.0 MB", "at most 32 MB"),
    cli("a 4100 x 4100 PNG", "train --image-folder {wide} --graph y->image --size 32 --model ccgm --out {tmp}/x", ImageDataError, "4100x4100", "up to 4096x4096"),
    cli("--image-folder /dev/zero", "train --image-folder /dev/zero --graph y->image --model ccgm --out {tmp}/x", ImageDataError, "/dev/zero", "not a folder"),
    # 11. messages that name the column and the file, never an internal object
    cli("text in counterfactual rows", "counterfactual {model} --rows {text_rows_csv} --do x1=0", DataError, "text_rows.csv", "column 'x1'", "row 4", "'abc'"),
    api("a constant numpy column", lambda e: validate_table(pd.DataFrame({"x": np.full(30, 3.0), "y": np.arange(30.0)}), CausalGraph.parse("x -> y")),
        DataError, "column 'x' is constant (3.0)"),
    api("bytes that are not a CSV", lambda e: load_table(b"\x89PNG\r\n\x1a\n\x00\x00", CausalGraph.parse("a -> b")), DataError, "the uploaded file", "binary"),
    # already fine, kept so: a pickle never runs, even when its hash is written in
    cli("a pickle renamed to model.safetensors", "sample {ck_pickle}", CheckpointError, "does not match"),
    cli("a pickle with its hash in a format-1 model.json", "sample {ck_pickle_hashed}", CheckpointError, "cannot read weights"),
]


def _run_cli(argv: list[str]) -> Any:
    """A command's function called directly: its exception propagates (``main`` prints it)."""
    args = build_parser().parse_args(argv)
    return args.run(args)


@pytest.mark.parametrize("case", CATALOG, ids=[c.name for c in CATALOG])
def test_catalog(case: Case, env, capsys):
    argv = [a.format(**env) for a in case.argv]
    argv = [a.replace("->", " -> ") if a.count("->") else a for a in argv]
    with pytest.raises(case.error) as info:
        _run_cli(argv) if argv else case.call(env)
    message = str(info.value)
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"
    for leak in ("Traceback", "np.float64", "object at 0x", "KeyError", "TypeError"):
        assert leak not in message, message
    if argv:  # the command line says it in one line, exit code 2
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err and message.split("\n")[0][:60] in err, err
    assert not Path(env["marker"]).exists(), "a pickle was executed"


# ---------------------------------------------------------------------- bounded behaviours
def test_a_sample_beyond_one_call_streams_to_the_file_in_chunks(env, tmp_path, monkeypatch, capsys):
    """Above what one call draws, ``sample -n`` and ``datasets -n`` write chunks (the same
    file for the same seed); below, one call: the rows Python's ``model.sample`` gives."""
    calls: list[int] = []
    model = load_model(env["model"])
    real = type(model).sample
    monkeypatch.setattr(type(model), "sample", lambda self, n, **kw: calls.append(n) or real(self, n, **kw))
    monkeypatch.setattr(limits, "MAX_SAMPLE_VALUES", 300)  # 100 rows of 3 nodes per call
    monkeypatch.setattr("app.cli.common.STREAM_VALUES", 90)
    out = tmp_path / "s.csv"
    assert main(["sample", env["model"], "-n", "1000", "--seed", "3", "-o", str(out)]) == 0
    first = pd.read_csv(out)
    assert len(first) == 1000 and first.notna().all().all() and max(calls) <= 30
    assert main(["sample", env["model"], "-n", "1000", "--seed", "3", "-o", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), first)
    assert "1,000 / 1,000 rows" in capsys.readouterr().err  # the progress bar
    assert main(["datasets", "triangle-lin", "-n", "1000", "-o", str(tmp_path / "d.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "d.csv")) == 1000
    assert not list(tmp_path.glob(".*part"))  # written under a temporary name, then renamed
    calls.clear()
    assert main(["sample", env["model"], "-n", "50", "--seed", "3", "-o", str(out)]) == 0
    assert calls == [50]
    pd.testing.assert_frame_equal(pd.read_csv(out), model.sample(50, seed=3), check_exact=False, rtol=1e-12)


def test_values_far_beyond_1e155_train_and_sample_finite(tmp_path):
    """Standardizing does not overflow: a column with values near 1e200 trains (numpy's own
    x.std() is inf there) and samples finite numbers."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=60) * 1e200
    table = pd.DataFrame({"a": a, "b": a / 1e200 + rng.normal(size=60)})
    model = build_model("causal-gen", CausalGraph.parse("a -> b"), hidden=8, max_epochs=3)
    model.fit(table, seed=0)
    assert np.isfinite(model.schema["a"].std) and model.schema["a"].std > 1e199
    assert np.isfinite(model.sample(200, seed=0).to_numpy()).all()


def test_semicolon_and_tab_csvs_read_as_tables(tmp_path):
    for sep in (";", "\t", "|"):
        path = _write(tmp_path / "t.csv", f"x1{sep}x2\n" + "".join(f"{i}{sep}{i * 2}\n" for i in range(30)))
        assert list(load_table(path, CausalGraph.parse("x1 -> x2"))[0].columns) == ["x1", "x2"]


def test_readonly_workspace_lists_and_samples(tmp_path):
    """A workspace on a read-only file system (a read-only bind mount, as an unprivileged
    user namespace allows) lists its runs and samples their models; changes are refused."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("no user namespaces here to mount a read-only folder")
    root = tmp_path / "ws"
    assert main(["train", "--dataset", "triangle-lin", "-n", "300", *TINY, "--workspace-run", "--workspace", str(root)]) == 0
    run_id = Workspace(root).runs()[0].id
    cf = f"{sys.executable} -m app.cli"
    script = (f"mount -o bind,ro {root} {root} && {cf} runs --workspace {root} && "
              f"{cf} sample run:{run_id} -n 3 --workspace {root} && {cf} runs delete {run_id} --workspace {root}")
    res = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert f"{run_id}  done" in res.stdout and "x1,x2,x3" in res.stdout, res.stdout + res.stderr
    assert res.returncode == 2 and "is read-only" in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_a_lost_registry_is_rebuilt_from_the_run_folders(tmp_path, capsys):
    root = tmp_path / "ws"
    assert main(["train", "--dataset", "triangle-lin", "-n", "300", *TINY, "--workspace-run", "--workspace", str(root)]) == 0
    ws = Workspace(root)
    data = ws.add_dataset("mine", datasets.load("loan", n=40, seed=0).data, source="upload:x")
    g = ws.add_graph("tri", "x1 -> x2")
    before = ws.runs()[0]
    (root / "counterfactory.db").write_bytes(b"garbage" * 20)
    for suffix in ("-wal", "-shm"):
        (root / f"counterfactory.db{suffix}").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["runs", "--workspace", str(root)]) == 2
    assert "runs rebuild" in capsys.readouterr().err
    assert main(["runs", "rebuild", "--workspace", str(root)]) == 0
    assert "registered 1 run(s), 1 dataset(s) and 1 graph(s)" in capsys.readouterr().out
    ws = Workspace(root)
    after = ws.run(before.id)
    assert (after.status, after.spec, after.report["epochs"]) == ("done", before.spec, before.report["epochs"])
    assert ws.dataset(data.id).name == "mine" and ws.graph(g.id).text == "x1 -> x2"
    ws.load_model(before.id).sample(3, seed=0)
    assert list(root.glob("counterfactory.db.old-*"))  # the damaged file is kept


def test_runs_delete_says_what_it_could_not_remove(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ws"
    assert main(["train", "--dataset", "triangle-lin", "-n", "300", *TINY, "--workspace-run", "--workspace", str(root)]) == 0
    run_id = Workspace(root).runs()[0].id
    monkeypatch.setattr("app.workspace.runs.shutil.rmtree", lambda path, ignore_errors=False: None)  # nothing removed
    capsys.readouterr()
    assert main(["runs", "delete", run_id, "--workspace", str(root)]) == 2
    err = capsys.readouterr().err
    assert "could not be removed" in err and f".deleted-{run_id}" in err and "deleted run" in err
    assert Workspace(root).runs() == []  # the registry no longer lists it


def test_zip_slip_entries_are_never_extracted(env):
    """Entries named ``../../x.png`` are ignored like hidden files (nothing is ever extracted:
    images are read into memory), so a labels CSV naming them is refused."""
    from causal.images import load_image_folder

    base = Path(env["tmp"]).parent
    with pytest.raises(ImageDataError, match=r"the image '\.\./\.\./slip0\.png' listed in .* is not in"):
        load_image_folder(env["slip_zip"])
    assert not list(base.glob("slip*.png")) and not list(base.parent.glob("slip*.png"))


def test_graph_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    for text in (f'a -> b; __import__("os").system("touch {marker}")', f'{{"nodes": ["__import__(\'os\').system(\'touch {marker}\')"]}}',
                 f"digraph {{ a -> b [label=\"$(touch {marker})\"] }}"):
        try:
            CausalGraph.parse(text)
        except GraphError:
            pass
    assert not marker.exists()


def test_format_1_checkpoints_still_load():
    """A checkpoint written before the checksum (format 1, tests/fixtures) loads and samples."""
    model = load_model(REPO / "tests" / "fixtures" / "checkpoint-v1")
    assert model.graph == CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3").with_kinds(model.graph.kinds)
    assert np.isfinite(model.sample(50, seed=0).to_numpy()).all()


def test_a_saved_checkpoint_has_a_checksum_over_its_json(env):
    meta = json.loads((Path(env["model"]) / "model.json").read_text())
    assert meta["format_version"] == 2 and len(meta["checksum"]) == 64


def test_the_app_listens_on_loopback_and_bounds_its_uploads():
    from app.logic import counterfactuals, graph

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert "--server.address 0.0.0.0" in (REPO / "README.md").read_text()
    assert counterfactuals.MAX_UPLOAD_MB <= 5 and graph.MAX_IMPORT_MB == 1
    assert graph.parse_graph("a -> b; " * (limits.MAX_GRAPH_BYTES // 8 + 1))[1].startswith("the graph text is")


# ---------------------------------------------------------------------- graph formats round-trip
KEYWORDS = ["graph", "digraph", "dag", "pdag", "strict", "node", "edge", "subgraph", "Graph", "NODE"]
NAMES = st.one_of(
    st.sampled_from(KEYWORDS),
    st.text(alphabet="ab1_.-#/*<>|:+é\\", min_size=1, max_size=5),
).filter(lambda n: "->" not in n and "<-" not in n)


@st.composite
def graphs(draw) -> CausalGraph:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    edges = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names)) if draw(st.booleans())]
    kinds = {n: draw(st.sampled_from(["continuous", "binary", "categorical"])) for n in names if draw(st.booleans())}
    return CausalGraph(names, edges, kinds)


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_every_format_round_trips_awkward_names(g):
    assert CausalGraph.parse(g.to_text()).same_structure(g)  # the plain text has no kinds
    for text in (g.to_dagitty(), g.to_dot(), g.to_json()):
        assert CausalGraph.parse(text) == g, text
    assert CausalGraph.from_json(g.to_dict()) == g
    assert CausalGraph.from_networkx(g.to_networkx()) == g


# ---------------------------------------------------------------------- fault injection
def _cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *argv], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _kill_at_random_points(root: Path, outs: Path, kills: int, seed: int) -> list[tuple[str, int, str]]:
    """Start trainings (workspace runs and ``--out`` folders, two at a time) and kill each
    with SIGKILL or SIGTERM after a random delay: during start-up, loading, training or a
    checkpoint write. Returns (signal name, exit code, the end of its stderr) per kill."""
    rng = random.Random(seed)
    done = []
    for i in range(0, kills, 2):
        procs = []
        for j in range(i, min(i + 2, kills)):
            target = ["--workspace-run", "--workspace", str(root)] if j % 2 == 0 else ["--out", str(outs / f"m{j}")]
            procs.append((_cli("train", "--dataset", "triangle-lin", "-n", "2000", *SLOW, *target),
                          rng.choice([signal.SIGKILL, signal.SIGTERM]), rng.uniform(0.5, 7.0)))
        start = time.monotonic()
        for proc, sig, delay in sorted(procs, key=lambda p: p[2]):
            time.sleep(max(0.0, start + delay - time.monotonic()))
            proc.send_signal(sig)
            code = proc.wait(timeout=60)
            done.append((sig.name, code, proc.stderr.read()[-600:]))
            proc.stdout.close()
            proc.stderr.close()
    return done


def _check_after_kills(root: Path, outs: Path, capsys) -> None:
    """Nothing stuck, nothing half-written: every run is finished and deletable, every
    checkpoint that exists loads, every --out folder can be trained into again."""
    from generators.checkpoint import folder_lock

    ws = Workspace(root)
    for run in ws.runs():
        assert run.status in ("failed", "cancelled"), (run.id, run.status, run.error)
        if run.status == "failed":
            assert "worker stopped unexpectedly" in run.error
        if run.has_checkpoint:
            ws.load_model(run.id).sample(5, seed=0)
    capsys.readouterr()
    assert main(["runs", "--workspace", str(root)]) == 0
    assert " running " not in capsys.readouterr().out
    for folder in outs.iterdir():
        if (folder / "model.json").exists():
            load_model(folder).sample(5, seed=0)
        with folder_lock(folder):  # the killed process's lock went with it
            pass
    for run in ws.runs():
        assert ws.delete_run(run.id) is None
    assert ws.runs() == []


def test_training_killed_at_random_points_leaves_nothing_stuck_or_half_written(tmp_path, capsys):
    root, outs = tmp_path / "ws", tmp_path / "outs"
    outs.mkdir()
    codes = _kill_at_random_points(root, outs, kills=4, seed=0)
    for name, code, _ in codes:  # SIGTERM ends like Ctrl-C (143) once the CLI runs; before, by the signal
        assert code in ((-9,) if name == "SIGKILL" else (143, -15)), codes
    _check_after_kills(root, outs, capsys)


def test_runner_workers_killed_with_sigkill_and_sigterm(tmp_path):
    """Workers of the app's runner: SIGKILL leaves the run failed (its last checkpoint
    loads), SIGTERM cancels it with its best weights."""
    from app.runner import Runner

    ws = Workspace(tmp_path / "ws")
    runner = Runner(ws, max_jobs=2)
    slow = {"hidden": 8, "steps": 200_000, "max_epochs": 100_000, "checkpoint_every": 1}
    ids = [runner.submit(RunSpec(BuiltinTable("triangle-lin", rows=400), settings=slow)) for _ in range(2)]
    deadline = time.monotonic() + 90
    while not all((r := ws.run(i)).has_checkpoint and r.progress for i in ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    killed, termed = ws.run(ids[0]), ws.run(ids[1])
    os.kill(killed.pid, signal.SIGKILL)
    os.kill(termed.pid, signal.SIGTERM)
    for run_id in ids:
        runner.wait(run_id, timeout=60)
    assert ws.run(ids[0]).status == "failed" and "SIGKILL" in ws.run(ids[0]).error
    assert ws.run(ids[1]).status == "cancelled"
    for run_id in ids:
        ws.load_model(run_id).sample(5, seed=0)
    # a reader that is not the runner sees a dead worker too (no runner polls here)
    other = Workspace(tmp_path / "ws2")
    proc = _cli("train", "--dataset", "triangle-lin", "-n", "2000", *SLOW, "--workspace-run", "--workspace", str(other.root))
    deadline = time.monotonic() + 60
    while not other.runs("running") and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert [r.status for r in other.runs()] == ["failed"]


@pytest.mark.slow
def test_many_kills_at_random_points(tmp_path, capsys):
    root, outs = tmp_path / "ws", tmp_path / "outs"
    outs.mkdir()
    _kill_at_random_points(root, outs, kills=12, seed=1)
    _check_after_kills(root, outs, capsys)
