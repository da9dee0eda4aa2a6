"""Bring-your-own images in the workbench: a .zip of images with labels.csv uploaded on the
Data page, stored in the workspace (labels CSV + uint8 safetensors), trained on by an image
model through the worker, and shown on the Images page (without an exact counterfactual).

Tiny on purpose: 48 face images of 32 px (16 px where the app is not involved), a few
training steps; every test runs in seconds.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.logic import data as dp
from app.logic import graph as ge
from app.jobs import load_inputs
from app.worker import execute, truth_metrics
from app.workspace import SCHEMA_VERSION, RunSpec, StoredDataset, Workspace, WorkspaceError
from causal import CausalGraph, images
from causal.data import DataError
from causal.images import ImageData
from tests.test_pages import _app, _text

GRAPH = "Male -> Smiling; Male -> image; Smiling -> image"
# a few steps of CCGM: label mechanisms, then the image VAE
TINY = {"steps": 40, "image_train.steps": 6, "image_train.batch_size": 16, "hidden": 8, "width": 8}


def faces(n: int = 48, size: int = 32) -> ImageData:
    return images.load("faces", n=n, seed=0, size=size).data


def zipped(data: ImageData, tmp_path: Path, image_column: str = "file", spoil: int | None = None) -> bytes:
    """``data`` saved as PNGs + labels.csv (``save_image_folder``), zipped in memory;
    ``spoil``: that image's bytes replaced by garbage."""
    folder = images.save_image_folder(data, tmp_path / f"folder-{secrets()}", image_column=image_column)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(folder.iterdir()):
            z.writestr(f.name, b"not a png at all" if spoil is not None and f.name == f"{spoil:05d}.png" else f.read_bytes())
    return buf.getvalue()


def secrets() -> str:
    return os.urandom(4).hex()


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    """An empty workspace that the app under test uses."""
    root = tmp_path / "ws"
    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(root))
    dp.load_stored_images.cache_clear()
    dp._workspace.cache_clear()
    return Workspace(root)


# ---------------------------------------------------------------------- the workspace
def test_an_image_dataset_round_trips_is_stored_once_and_deleted_whole(ws) -> None:
    data = faces(40, 16)
    data = data.with_labels(data.labels.set_axis(pd.Index([f"img/{i:03d}.png" for i in range(40)], name="file")))
    rec = ws.add_image_dataset("faces", data, source="upload:abc")
    assert rec.has_images and rec.image_shape == (16, 16, 3) and rec.rows == 40
    assert rec.columns == tuple(data.labels.columns)
    assert rec.path.is_file() and rec.images_path.is_file() and rec.images_path.name == f"{rec.id}.images.safetensors"
    assert ws.dataset(rec.id) == rec and ws.datasets() == [rec]
    # the labels table as before; the images exactly, with the file names as the index
    pd.testing.assert_frame_equal(ws.load_dataset(rec.id), data.labels.reset_index(drop=True))
    back = ws.load_images(rec.id)
    assert back.images.dtype == np.uint8 and np.array_equal(back.images, data.images)
    pd.testing.assert_frame_equal(back.labels, data.labels)
    # never pickle: the images file is plain safetensors (an 8-byte header size, then JSON)
    raw = rec.images_path.read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert header["images"]["dtype"] == "U8" and header["images"]["shape"] == [40, 16, 16, 3]
    # the same source again: the stored one, no second copy
    assert ws.add_image_dataset_once("again", data, source="upload:abc") == rec
    assert sorted(p.name for p in (ws.root / "datasets").iterdir()) == sorted(
        [rec.path.name, rec.images_path.name, f"{rec.id}.json"])  # the labels, the images, their record
    assert ws.find_dataset("upload:abc", images=False) is None
    # a table is not an image dataset
    table = ws.add_dataset("t", data.labels, source="upload:abc")
    assert not table.has_images and ws.find_dataset("upload:abc", images=False) == table
    with pytest.raises(WorkspaceError, match="is a table without images"):
        ws.load_images(table.id)
    with pytest.raises(WorkspaceError, match="must be a causal.images.ImageData"):
        ws.add_image_dataset("x", data.labels, source="s")
    ws.delete_dataset(rec.id)
    assert not rec.path.exists() and not rec.images_path.exists()
    assert [r.id for r in ws.datasets()] == [table.id]


def test_a_failed_store_leaves_no_file_and_no_record(ws, monkeypatch) -> None:
    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        ws.add_image_dataset("faces", faces(24, 16), source="s")
    assert ws.datasets() == [] and list((ws.root / "datasets").iterdir()) == []


# the first schema's datasets table, as Counterfactory wrote it before image datasets
V1_DATASETS = """CREATE TABLE datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, source TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', rows INTEGER NOT NULL, columns TEXT NOT NULL, created TEXT NOT NULL)"""


def test_a_workspace_of_the_previous_schema_opens_and_keeps_its_tables(tmp_path) -> None:
    from app.workspace.db import _SCHEMA

    root = tmp_path / "old"
    (root / "datasets").mkdir(parents=True)
    con = sqlite3.connect(root / "counterfactory.db")
    for statement in _SCHEMA:
        con.execute(V1_DATASETS if "TABLE IF NOT EXISTS datasets" in statement else statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO datasets (id, name, source, rows, columns, created) VALUES "
                "('old00000001', 'old table', 'upload:x', 3, '[\"a\", \"b\"]', '2025-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]}).to_csv(root / "datasets" / "old00000001.csv", index=False)

    ws = Workspace(root)
    assert SCHEMA_VERSION == 2 and ws.schema_version == 2
    [old] = ws.datasets()
    assert old.name == "old table" and not old.has_images and old.image_shape is None
    assert ws.load_dataset(old.id)["b"].tolist() == [4, 5, 6]
    rec = ws.add_image_dataset("faces", faces(24, 16), source="s")
    assert Workspace(root).dataset(rec.id).image_shape == (16, 16, 3)  # opens again, migrated once


# ---------------------------------------------------------------------- runs on stored images
def test_a_run_on_stored_images_trains_through_the_worker_and_its_model_loads(ws) -> None:
    rec = ws.add_image_dataset("faces", faces(48, 16), source="s")
    run = ws.create_run(RunSpec(StoredDataset(rec.id), graph=GRAPH, kind="ccgm", settings=TINY), pid=os.getpid())
    assert run.has_images and CausalGraph.parse(run.spec.graph).kind("image") == "image"
    data, graph = load_inputs(run.spec, ws)
    assert isinstance(data, ImageData) and list(data.labels.columns) == ["Male", "Smiling"]  # others dropped
    assert data.images.shape == (48, 16, 16, 3)
    done = execute(ws, run.id)
    assert done.status == "done", done.error
    assert done.metrics == {}  # no ground truth for stored images
    model = ws.load_model(run.id)
    assert truth_metrics(model, done, data) == {}
    s = model.sample(5, do={"Smiling": 1}, seed=0)
    assert s.images.shape == (5, 16, 16, 3) and (s.labels["Smiling"] == 1).all()
    cf = model.counterfactual(data[:3], do={"Male": 0}, seed=0)
    assert cf.images.shape == (3, 16, 16, 3) and (cf.labels["Male"] == 0).all()
    with pytest.raises(WorkspaceError, match="is used by 1 run"):
        ws.delete_dataset(rec.id)


@pytest.mark.parametrize("graph, kind, message", [
    ("Male -> Smiling", "ccgm", "needs the image node: the graph has no node 'image'"),
    ("Male -> Smiling; image -> Smiling", "ccgm", "the image node 'image' has no parents"),
    ("Male -> image; image -> Smiling", "ccgm", "has children (Smiling)"),
    (GRAPH, "causal-gen", "model kind 'causal-gen' does not train on images; use one of ccgm, causal-gan"),
    ("Beard -> image", "ccgm", "the graph has node(s) Beard that dataset 'faces' lacks"),
])
def test_bad_runs_on_stored_images_are_refused_by_name(ws, graph, kind, message) -> None:
    rec = ws.add_image_dataset("faces", faces(24, 16), source="s")
    with pytest.raises(WorkspaceError) as e:
        ws.create_run(RunSpec(StoredDataset(rec.id), graph=graph, kind=kind))
    assert message in str(e.value) and ws.runs() == []


def test_an_image_graph_on_a_table_is_refused(ws) -> None:
    rec = ws.add_dataset("labels", faces(24, 16).labels, source="s")
    with pytest.raises(WorkspaceError, match="is a table without images; the graph's image node"):
        ws.create_run(RunSpec(StoredDataset(rec.id), graph=CausalGraph.parse(GRAPH, kinds={"image": "image"}).to_json(), kind="ccgm"))


# ---------------------------------------------------------------------- reading an upload
def test_reading_an_image_upload_resizes_and_keeps_file_names(tmp_path) -> None:
    content = zipped(faces(24, 16), tmp_path)
    data = dp.read_image_upload("faces.zip", content)  # default: resized to 32 px
    assert data.images.shape == (24, 32, 32, 3) and data.labels.index[0] == "00000.png"
    assert list(data.labels.columns) == list(faces(24, 16).labels.columns)
    kept = dp.read_image_upload("faces.zip", content, size=None)
    assert np.array_equal(kept.images, faces(24, 16).images)  # PNG is lossless


@pytest.mark.parametrize("case, message", [
    ("corrupt", "cannot read the image '00003.png'"),
    ("not-zip", "bad.zip is not a .zip archive"),
    ("column", "no 'path' column naming each image's file"),
    ("no-labels", "holds no labels.csv"),
    ("size", "the images in bad.zip are 24x24 px"),
    ("large", "bad.zip is 0.0 MB; archives up to 1e-05 MB"),
])
def test_a_bad_upload_names_the_file_at_fault(tmp_path, case, message) -> None:
    kw = {}
    if case == "corrupt":
        content = zipped(faces(24, 16), tmp_path, spoil=3)
    elif case == "not-zip":
        content = b"PK\x03\x04 but not really"
    elif case == "column":
        content, kw = zipped(faces(24, 16), tmp_path), {"image_column": "path"}
    elif case == "no-labels":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            from PIL import Image

            out = io.BytesIO()
            Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(out, format="PNG")
            z.writestr("a.png", out.getvalue())
        content = buf.getvalue()
    elif case == "size":
        content, kw = zipped(faces(24, 16), tmp_path), {"size": None}
        content = _resized_zip(content, 24)
    else:
        content, kw = zipped(faces(24, 16), tmp_path), {"max_mb": 1e-5}
    with pytest.raises(DataError) as e:
        dp.read_image_upload("bad.zip", content, **kw)
    assert message in str(e.value), str(e.value)
    assert "counterfactory-upload-" not in str(e.value)  # never the temporary copy's path


def _resized_zip(content: bytes, side: int) -> bytes:
    """The archive with every PNG resized to ``side`` px (a size no image model takes)."""
    from PIL import Image

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename.endswith(".png"):
                buf = io.BytesIO()
                Image.open(io.BytesIO(raw)).resize((side, side)).save(buf, format="PNG")
                raw = buf.getvalue()
            dst.writestr(info.filename, raw)
    return out.getvalue()


def test_storing_an_upload_twice_reads_it_once(ws, tmp_path, monkeypatch) -> None:
    content = zipped(faces(24, 16), tmp_path)
    rec = dp.store_image_upload(ws, "faces.zip", content)
    assert rec.has_images and rec.image_shape == (32, 32, 3) and rec.source.startswith("upload:")
    monkeypatch.setattr(dp, "read_image_upload", lambda *a, **k: pytest.fail("read again"))
    assert dp.store_image_upload(ws, "faces.zip", content) == rec
    monkeypatch.undo()
    other = dp.store_image_upload(ws, "faces.zip", content, size=64)  # read another way: another dataset
    assert other.id != rec.id and other.image_shape == (64, 64, 3)


def test_the_graph_of_an_image_dataset_starts_with_every_label_into_the_image() -> None:
    g = ge.starting_graph(["a", "b"], None, {"a": "binary", "b": "continuous"}, images=True)
    assert g.nodes == ("a", "b", "image") and set(g.edges) == {("a", "image"), ("b", "image")}
    assert g.kind("image") == "image" and g.kind("a") == "binary"


# ---------------------------------------------------------------------- the pages (AppTest)
def _upload(at, name: str, content: bytes):
    at.radio(key="data-source").set_value("Upload images").run()
    at.file_uploader(key="data-upload-images").set_value((name, content, "application/zip")).run()
    assert not at.exception, at.exception
    return at


def test_uploading_a_zip_stores_it_previews_it_and_the_train_page_offers_image_models(ws, tmp_path) -> None:
    at = _upload(_app("data"), "faces.zip", zipped(faces(48, 16), tmp_path))
    [rec] = ws.datasets()
    assert rec.has_images and rec.image_shape == (32, 32, 3) and rec.rows == 48
    text = _text(at)
    assert "**faces.zip** is stored in the workspace" in text and "48 images of 32×32 px (colour)" in text
    captions = [i.caption for e in at.get("image") for i in e.proto.imgs]  # the preview: file and labels
    assert len(captions) >= 8 and captions[0].startswith("00000.png: Male=") and "Smiling=" in captions[0]
    ref = at.session_state[dp.STATE_KEY]
    assert ref["source"] == "stored" and ref["id"] == rec.id and ref["images"]
    # the graph starts with every label into the image node; the Train page offers image models
    at.switch_page("views/train.py").run()
    assert not at.exception and not at.warning, _text(at)
    [kinds] = [s for s in at.selectbox if s.label == "Model"]
    assert kinds.options == ["CCGM", "CausalGAN"]
    # train it from the page, in a worker process
    for name, value in TINY.items():
        at.text_input(key=f"train-ccgm-{name}").set_value(str(value))
    next(b for b in at.button if b.label == "Start training").click().run()
    deadline = time.monotonic() + 90
    while not at.success and time.monotonic() < deadline:
        assert not at.exception and not at.error, _text(at)
        time.sleep(0.5)
        at.run()
    assert any("Trained in" in e.value for e in at.success), _text(at)
    [run] = ws.runs()
    assert run.status == "done" and run.spec.source == StoredDataset(rec.id) and run.has_images and run.pid != os.getpid()
    assert run.spec.settings == TINY and ws.load_model(run.id).sample(2, seed=0).images.shape == (2, 32, 32, 3)
    # a graph without the image node: a clear message and no start
    at.switch_page("views/graph.py").run()
    at.text_area(key="graph-text").set_value("Male -> Smiling").run()
    next(b for b in at.button if b.label == "Apply text").click().run()
    at.switch_page("views/train.py").run()
    assert any("**faces.zip** holds images, so the graph has no node 'image'" in w.value for w in at.warning), _text(at)


def test_a_corrupt_zip_names_the_file_and_stores_nothing(ws, tmp_path) -> None:
    at = _upload(_app("data"), "faces.zip", zipped(faces(24, 16), tmp_path, spoil=5))
    assert any("Cannot use faces.zip: cannot read the image '00005.png'" in e.value and "Nothing was stored" in e.value
               for e in at.error), _text(at)
    assert ws.datasets() == [] and list((ws.root / "datasets").iterdir()) == []


def test_the_images_page_shows_grids_and_counterfactuals_without_an_exact_one(ws) -> None:
    rec = ws.add_image_dataset("faces.zip", faces(48, 16), source="s")
    run = ws.create_run(RunSpec(StoredDataset(rec.id), graph=GRAPH, kind="ccgm", settings=TINY, name="mine"), pid=os.getpid())
    assert execute(ws, run.id).status == "done"
    at = _app("images")
    text = _text(at)
    assert "**given Smiling = 1** (seeing)" in text and "**do(Smiling = 1)** (doing)" in text
    assert "There is no exact counterfactual for your own images" in text
    assert "Pick an image of **faces.zip**" in text and "exact counterfactual: not known" in text
    # intervene on the picked image's Male label
    male = next(s for s in at.selectbox if s.label == "Male" and s.key.startswith("images-cf-"))
    new = 1 - int(male.value)
    male.set_value(new).run()
    assert not at.exception, at.exception
    assert f"Intervention: do(Male = {new})." in _text(at)
    at.switch_page("views/runs.py").run()  # the run is listed like any other
    assert not at.exception and "mine" in str(_frame_values(at)), _text(at)


def _frame_values(at) -> list:
    return [e.value for e in at.dataframe]
