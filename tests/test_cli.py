"""The command line, called in-process through ``main(argv)`` on tiny models."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import cli
from app.cli import main
from app.cli.info import FORMATS
from causal import CausalGraph, datasets
from generators import load_model

TINY = ["--set", "max_epochs=3", "--set", "hidden=8", "-q"]
TRIANGLE = CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3")


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def csv_from(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny Causal Gen model of triangle-lin (x1 -> x2 -> x3, x1 -> x3)."""
    out = tmp_path_factory.mktemp("run") / "tri"
    assert main(["train", "--dataset", "triangle-lin", "-n", "300", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    datasets.load("triangle-lin", n=40, seed=7).data.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------- datasets
def test_datasets_lists_every_builtin_with_a_one_line_description(capsys):
    from causal.images import names as image_names

    code, out, _ = run(capsys, "datasets")
    tables, images = out.strip().split("\n\nimage datasets (train --images NAME):\n")
    lines = tables.splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines] == datasets.names()
    assert [line.split()[0] for line in images.splitlines()] == image_names()
    loan = next(line for line in lines if line.startswith("loan "))
    assert "7 nodes" in loan and "loan application" in loan


def test_datasets_name_writes_csv_and_prints_description_and_graph(capsys, tmp_path):
    out_csv = tmp_path / "loan.csv"
    code, out, _ = run(capsys, "datasets", "loan", "-n", 120, "--seed", 3, "-o", out_csv)
    assert code == 0
    df = pd.read_csv(out_csv)
    info = datasets.info("loan")
    assert df.shape == (120, 7)
    assert list(df.columns) == list(info.graph.nodes)
    assert set(df["A"]) == {0, 1}
    assert "synthetic loan application" in out
    assert "graph: A -> amount;" in out and "income -> savings" in out
    assert f"wrote 120 rows to {out_csv}" in out
    pd.testing.assert_frame_equal(df, datasets.load("loan", n=120, seed=3).data, check_dtype=False)


def test_datasets_name_without_out_keeps_stdout_a_clean_csv(capsys):
    code, out, err = run(capsys, "datasets", "triangle-lin", "-n", 25)
    df = csv_from(out)
    assert code == 0
    assert df.shape == (25, 3) and list(df.columns) == ["x1", "x2", "x3"]
    assert "graph: x1 -> x2; x1 -> x3; x2 -> x3" in err


# ---------------------------------------------------------------------- train
def test_train_on_dataset_saves_model_and_reports(capsys, tmp_path):
    out_dir = tmp_path / "m"
    code, out, err = run(
        capsys, "train", "--dataset", "triangle-lin", "-n", 300, "--set", "max_epochs=3", "--set", "hidden=8",
        "--set", "lr=0.01", "--out", out_dir,
    )
    assert code == 0
    assert (out_dir / "model.json").is_file() and (out_dir / "model.safetensors").is_file()
    assert "epochs: 3" in out and "stopped: schedule_done" in out and f"saved to: {out_dir}" in out
    assert "epoch 1/3" in err and "train " in err and "val " in err
    model = load_model(out_dir, graph=TRIANGLE)
    assert model.kind == "causal-gen"
    assert model.config.hidden == 8 and model.config.train.max_epochs == 3 and model.config.train.lr == 0.01
    assert model.report.epochs == 3 and model.report.n_train + model.report.n_val == 300

    code, _, err = run(capsys, "train", "--dataset", "triangle-lin", "-n", 300, *TINY, "--out", out_dir)
    assert code == 2 and "--overwrite" in err and str(out_dir) in err
    code, _, _ = run(capsys, "train", "--dataset", "triangle-lin", "-n", 300, *TINY, "--overwrite", "--out", out_dir)
    assert code == 0


def test_a_preset_is_written_out_as_settings_that_set_overrides(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--dataset", "triangle-lin", "-n", 300, "--preset", "fast", "--set", "steps=40",
                       "--out", tmp_path / "m")
    assert code == 0
    model = load_model(tmp_path / "m", graph=TRIANGLE)
    assert model.config.hidden == 32 and model.config.train.steps == 40  # the preset's width, --set's steps
    code, _, err = run(capsys, "train", "--dataset", "triangle-lin", "--preset", "quick", "--out", tmp_path / "q")
    assert code == 2 and "no preset 'quick'" in err and "its presets are fast" in err
    code, _, err = run(capsys, "train", "--dataset", "triangle-lin", "--model", "linear-anm", "--preset", "fast",
                       "--out", tmp_path / "q")
    assert code == 2 and "linear-anm has no preset 'fast'; it has none" in err
    code, out, _ = run(capsys, "settings", "causal-gen")
    assert code == 0 and "preset fast (--preset fast): steps=1000, hidden=32" in out


@pytest.mark.parametrize("kind", ["causal-gen", "causal-vgen", "linear-anm"])
def test_every_model_kind_trains_saves_and_samples_from_disk(capsys, tmp_path, kind):
    code, out, _ = run(capsys, "train", "--dataset", "triangle-lin", "-n", 200, "--model", kind, *TINY,
                       "--out", tmp_path / "m")
    assert code == 0 and f"trained {kind}" in out
    code, out, _ = run(capsys, "sample", tmp_path / "m", "-n", 30, "--do", "x1=0.5")
    df = csv_from(out)
    assert code == 0 and df.shape == (30, 3) and (df["x1"] == 0.5).all()
    assert np.isfinite(df.to_numpy()).all()


def test_train_prints_causal_variational_gens_noise_choice_per_node(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--dataset", "hetero-nlin", "-n", 300, "--model", "causal-vgen", *TINY,
                       "--set", "mechanism=location-scale", "--out", tmp_path / "m")
    line = next(x for x in out.splitlines() if x.startswith("mechanisms: "))
    per_node = dict(part.split(" ", 1) for part in line[len("mechanisms: "):].split("; "))
    assert code == 0 and per_node["x1"] == "root" and per_node["x3"].endswith("location-scale noise")
    assert load_model(tmp_path / "m").scaled_nodes == ("x3", "x4", "x5", "x6")


def test_train_linear_anm_with_graph_file_hypothesis(capsys, tmp_path):
    graph_file = tmp_path / "chain.dot"
    graph_file.write_text('digraph { x1 -> x2; x2 -> x3 }')
    code, out, _ = run(
        capsys, "train", "--dataset", "triangle-lin", "-n", 300, "--graph-file", graph_file,
        "--model", "linear-anm", *TINY, "--out", tmp_path / "m",
    )
    model = load_model(tmp_path / "m")
    assert code == 0 and "trained linear-anm" in out
    assert model.kind == "linear-anm" and model.config.layers == 0
    assert set(model.graph.edges) == {("x1", "x2"), ("x2", "x3")}


def test_train_on_csv_with_graph_extra_columns_and_discrete_queries(capsys, tmp_path):
    data = datasets.load("loan", n=300, seed=0).data
    csv = tmp_path / "loan.csv"
    data.to_csv(csv, index=False)
    args = ["train", "--data", csv, "--graph", "A -> income; age -> income", *TINY, "--out", tmp_path / "m"]

    code, _, err = run(capsys, *args)
    assert code == 2 and err.count("\n") == 1
    assert "amount, duration, edu, savings" in err and "--drop-extra" in err and str(csv) in err

    code, out, _ = run(capsys, *args, "--drop-extra")
    assert code == 0 and f"trained causal-gen on {csv}" in out
    model = load_model(tmp_path / "m", graph="A -> income; age -> income")
    assert model.schema["A"].kind == "binary"

    code, out, _ = run(capsys, "sample", tmp_path / "m", "-n", 60, "--do", "A=1")
    df = csv_from(out)
    assert code == 0 and df.shape == (60, 3) and list(df.columns) == ["A", "age", "income"]
    assert (df["A"] == 1).all()

    code, out, err = run(capsys, "sample", tmp_path / "m", "-n", 60, "--given", "A=0")
    df = csv_from(out)
    assert code == 0 and len(df) == 60 and (df["A"] == 0).all()
    assert "acceptance rate:" in err


def test_train_on_a_csv_with_gaps_reads_markers_and_drops_rows_when_asked(capsys, tmp_path):
    """A UCI-style table: '?' for unknown and empty cells. Refused by default with the
    column named and the remedy given; trained on the complete rows with --drop-missing,
    the count printed; a column not in the graph costs no rows."""
    data = datasets.load("loan", n=300, seed=0).data.astype({"income": str})
    data.loc[[2, 30], "income"] = " ?"
    data.loc[[5], "age"] = np.nan
    data.loc[:150, "savings"] = np.nan  # not in the graph: its gaps must not drop rows
    csv = tmp_path / "gaps.csv"
    data.to_csv(csv, index=False)
    args = ["train", "--data", csv, "--graph", "A -> income; age -> income", "--drop-extra", *TINY]

    code, _, err = run(capsys, *args, "--out", tmp_path / "m")
    assert code == 2 and "column 'age' has 1 missing value(s) (first at row 5)" in err and "--drop-missing" in err

    code, _, err = run(capsys, *args, "--drop-missing", "--out", tmp_path / "m")
    assert code == 2 and "column 'income' should be numeric but row 2 holds ' ?'" in err
    assert "--missing-marker '?'" in err

    code, out, err = run(capsys, *args, "--missing-marker", "?", "--drop-missing", "--out", tmp_path / "m")
    assert code == 0, err
    assert "dropped 3 of 300 rows (1.0%) with a missing value (age 1, income 2); 297 rows kept" in err
    assert "297 rows" in err and "rows with a missing value dropped" in out

    # a workspace run stores the table it trained on, and says what was left out
    code, _, err = run(capsys, *args, "--missing-marker", "?", "--drop-missing", "--workspace-run",
                       "--workspace", tmp_path / "ws")
    assert code == 0, err
    from app.workspace import Workspace

    [stored] = Workspace(tmp_path / "ws").datasets()
    assert len(Workspace(tmp_path / "ws").load_dataset(stored.id)) == 297
    assert "dropped 3 of 300 rows (1.0%)" in stored.description

    code, _, err = run(capsys, "train", "--dataset", "loan", "--drop-missing", *TINY, "--out", tmp_path / "n")
    assert code == 2 and "--drop-missing and --missing-marker apply to --data only" in err


def test_hypotheses_on_a_csv_with_gaps(capsys, tmp_path):
    data = datasets.load("triangle-lin", n=300, seed=0).data
    data.loc[[1, 2], "x3"] = np.nan
    csv = tmp_path / "gaps.csv"
    data.to_csv(csv, index=False)
    args = ["hypotheses", "--data", csv, "--candidate", "x1 -> x2 -> x3", "--candidate", "x3 -> x2 -> x1",
            "--folds", 2, "--seeds", 1, "--set", "steps=30", "--set", "hidden=8", "--no-classical", "--out", tmp_path / "h.json"]
    code, _, err = run(capsys, *args)
    assert code == 2 and "column 'x3' has 2 missing value(s)" in err
    code, _, err = run(capsys, *args, "--drop-missing")
    assert code == 0 and "dropped 2 of 300 rows" in err
    assert json.loads((tmp_path / "h.json").read_text())["rows"] == 298


# ---------------------------------------------------------------------- sample
def test_sample_observational_to_file(capsys, model_dir, tmp_path):
    out_csv = tmp_path / "obs.csv"
    code, out, _ = run(capsys, "sample", model_dir, "-n", 50, "--seed", 1, "-o", out_csv)
    df = pd.read_csv(out_csv)
    assert code == 0 and f"wrote 50 rows to {out_csv}" in out
    assert df.shape == (50, 3) and list(df.columns) == ["x1", "x2", "x3"]
    assert np.isfinite(df.to_numpy()).all()
    _, out2, _ = run(capsys, "sample", model_dir, "-n", 50, "--seed", 1)
    pd.testing.assert_frame_equal(csv_from(out2), df)  # same seed, same rows


def test_sample_do_sets_and_shifts(capsys, model_dir):
    code, out, _ = run(capsys, "sample", model_dir, "-n", 80, "--do", "x2=1.5")
    df = csv_from(out)
    assert code == 0 and df.shape == (80, 3)
    assert (df["x2"] == 1.5).all()

    _, out, _ = run(capsys, "sample", model_dir, "-n", 80, "--do", "x2=-2")
    assert (csv_from(out)["x2"] == -2.0).all()  # a negative number sets, it does not shift

    _, base, _ = run(capsys, "sample", model_dir, "-n", 80, "--seed", 4)
    _, shifted, _ = run(capsys, "sample", model_dir, "-n", 80, "--seed", 4, "--do", "x2=x2+1")
    base, shifted = csv_from(base), csv_from(shifted)
    np.testing.assert_array_equal(shifted["x1"], base["x1"])  # upstream of x2: untouched
    np.testing.assert_allclose(shifted["x2"] - base["x2"], 1.0, atol=1e-9)
    assert not np.allclose(shifted["x3"], base["x3"])  # x2 -> x3 carries the shift on


def test_sample_given_value_and_ranges(capsys, model_dir):
    code, out, err = run(capsys, "sample", model_dir, "-n", 40, "--given", "x1=0.5:1.5")
    df = csv_from(out)
    assert code == 0 and df.shape == (40, 3)
    assert df["x1"].between(0.5, 1.5).all()
    rate = float(err.split("acceptance rate:")[1].split("%")[0])
    assert 0 < rate <= 100

    _, out, _ = run(capsys, "sample", model_dir, "-n", 40, "--given", "x1=1.3:")
    assert (csv_from(out)["x1"] >= 1.3).all()

    _, out, _ = run(capsys, "sample", model_dir, "-n", 40, "--given", "x1=1.0", "--do", "x3=0")
    df = csv_from(out)
    assert (df["x1"] - 1.0).abs().max() < 0.2 and (df["x3"] == 0).all()


# ---------------------------------------------------------------------- counterfactual
def test_counterfactual_round_trip(capsys, model_dir, rows_csv, tmp_path):
    rows = pd.read_csv(rows_csv)
    out_csv = tmp_path / "cf.csv"

    # do(x2 := x2 + 0) changes nothing: abduction then prediction gives the rows back
    code, out, _ = run(capsys, "counterfactual", model_dir, "--rows", rows_csv, "--do", "x2=x2+0", "-o", out_csv)
    cf = pd.read_csv(out_csv)
    assert code == 0 and f"wrote 40 counterfactual rows to {out_csv}" in out
    assert cf.shape == rows.shape and list(cf.columns) == list(rows.columns)
    np.testing.assert_allclose(cf.to_numpy(), rows.to_numpy(), rtol=1e-9, atol=1e-9)

    # do(x2 = 1.5): the non-descendant x1 keeps its values exactly, x2 is set, x3 moves
    code, out, _ = run(capsys, "counterfactual", model_dir, "--rows", rows_csv, "--do", "x2=1.5")
    cf = csv_from(out)
    assert code == 0 and cf.shape == rows.shape
    np.testing.assert_array_equal(cf["x1"], rows["x1"])
    assert (cf["x2"] == 1.5).all()
    assert not np.allclose(cf["x3"], rows["x3"])


# ---------------------------------------------------------------------- graph
@pytest.mark.parametrize("fmt", FORMATS)
def test_graph_conversion_round_trip(capsys, tmp_path, fmt):
    text = "x1 -> x2; x1 -> x3; x2 -> x3; w -> x3"
    target = tmp_path / f"g.{fmt}"
    code, out, _ = run(capsys, "graph", text, "--to", fmt, "-o", target)
    assert code == 0 and f"wrote {fmt} to {target}" in out
    assert "nodes (canonical order): w, x1, x2, x3" in out
    assert CausalGraph.parse(target.read_text()) == CausalGraph.parse(text)
    if fmt == "json":
        assert {e["source"] for e in json.loads(target.read_text())["edges"]} == {"w", "x1", "x2"}

    code, out, _ = run(capsys, "graph", target, "--to", "text")
    assert code == 0
    assert out.splitlines()[0] == CausalGraph.parse(text).to_text()


def test_graph_implications_and_equivalence_class(capsys):
    code, out, _ = run(capsys, "graph", "a -> b; c -> b; b -> d", "--implications", "--mec")
    assert code == 0
    assert "a ⟂ c\n" in out and "a ⟂ d | b" in out and "c ⟂ d | b" in out
    assert "implied conditional independences (3)" in out
    assert "CPDAG): a -> b; c -> b; b -> d" in out  # a v-structure orients every edge

    _, out, _ = run(capsys, "graph", "x -> y; y -> z", "--mec")
    assert "x -- y; y -- z" in out and "3 DAGs" in out


def test_graph_checked_on_a_table(capsys, tmp_path):
    """`graph G --data T`: the Graph page's check of the implied independences, with an exit
    status a script can read (3: the data contradict the graph), the tests as CSV, and the
    missing-value flags of every command that reads a table."""
    ds = datasets.load("loan", n=3000, seed=0)
    data = tmp_path / "loan.csv"
    ds.data.to_csv(data, index=False)
    truth = ds.graph.to_text()
    code, out, _ = run(capsys, "graph", truth, "--data", data, "--csv", tmp_path / "tests.csv")
    assert code == 0, out
    assert f"10 implied independence(s) tested on 3,000 rows (spline adjustment, Holm-adjusted at 0.05)" in out
    assert "CONTRADICTED" not in out and "consistent with the data" in out
    assert "strata of A" in out  # A, binary, is stratified on, not binned
    frame = pd.read_csv(tmp_path / "tests.csv")
    assert len(frame) == 10 and not frame["relevant"].any()
    # the graph without income -> savings: the data say an arrow is missing
    code, out, _ = run(capsys, "graph", truth.replace("income -> savings", "savings"), "--data", data)
    assert code == 3 and "CONTRADICTED" in out and "income ⟂ savings" in out
    assert "the data contradict" in out and "an arrow is probably missing" in out
    # a column the graph names and the table lacks is named
    code, _, err = run(capsys, "graph", truth + "; savings -> extra", "--data", data)
    assert code == 2 and "extra" in err
    # gaps: refused naming the column, or their rows dropped and counted
    holes = ds.data.copy()
    holes.loc[[3, 7], "edu"] = np.nan
    holes.to_csv(data, index=False)
    code, _, err = run(capsys, "graph", truth, "--data", data)
    assert code == 2 and "'edu' has 2 missing value(s)" in err
    code, out, err = run(capsys, "graph", truth, "--data", data, "--drop-missing")
    assert code == 0 and "tested on 2,998 rows" in out and "dropped 2 of 3,000 rows" in err
    # more implications than are tested (200): the output says how many there were
    names = [f"c{i}" for i in range(25)]
    pd.DataFrame(np.random.default_rng(0).normal(size=(100, 25)), columns=names).to_csv(data, index=False)
    code, out, _ = run(capsys, "graph", "\n".join(names), "--data", data)
    assert code == 0 and "200 implied independence(s) tested (those with the smallest conditioning sets, of 300)" in out


# ---------------------------------------------------------------------- bad input
def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _bad_checkpoint(tmp: Path, model_dir: Path) -> Path:
    broken = tmp / "broken"
    broken.mkdir()
    (broken / "model.json").write_text((model_dir / "model.json").read_text())
    (broken / "model.safetensors").write_bytes(b"not weights at all")
    return broken


BAD_INPUT = {
    "unknown dataset": (lambda m, t: ["datasets", "nope-set"], ["nope-set", "triangle-lin"]),
    "unknown dataset to train": (lambda m, t: ["train", "--dataset", "nope-set", "--out", t / "o"], ["nope-set"]),
    "unknown do node": (lambda m, t: ["sample", m, "--do", "zz=1"], ["'zz'", "x1, x2, x3"]),
    "unknown given node": (lambda m, t: ["sample", m, "--given", "zz=1"], ["'zz'"]),
    "bad do value": (lambda m, t: ["sample", m, "--do", "x2=abc"], ["'abc'", "x2"]),
    "do without value": (lambda m, t: ["sample", m, "--do", "x2"], ["--do", "NODE=VALUE", "'x2'"]),
    "impossible evidence": (lambda m, t: ["sample", m, "-n", "5", "--given", "x1=100"], ["x1", "zero probability"]),
    "missing column": (
        lambda m, t: ["counterfactual", m, "--rows", _write(t / "r.csv", b"x1,x2\n1,2\n3,4\n"), "--do", "x1=0"],
        ["r.csv", "x3"],
    ),
    "graph node not in csv": (
        lambda m, t: ["train", "--data", _write(t / "d.csv", b"a,b\n" + b"1,2\n3,5\n" * 15), "--graph", "a -> bogus",
                      "--out", t / "o"],
        ["bogus", "d.csv"],
    ),
    "cyclic graph": (lambda m, t: ["graph", "a -> b; b -> c; c -> a"], ["cycle", "a -> b -> c -> a"]),
    "cyclic graph to train": (
        lambda m, t: ["train", "--dataset", "triangle-lin", "--graph", "x1 -> x2; x2 -> x1; x3", "--out", t / "o"],
        ["cycle"],
    ),
    "missing data file": (lambda m, t: ["train", "--data", t / "missing.csv", "--graph", "a -> b", "--out", t / "o"],
                          ["missing.csv"]),
    "missing graph file": (lambda m, t: ["graph", t / "missing.dot"], ["missing.dot"]),
    "missing graph-file": (
        lambda m, t: ["train", "--dataset", "triangle-lin", "--graph-file", t / "g.txt", "--out", t / "o"], ["g.txt"]),
    "missing rows file": (lambda m, t: ["counterfactual", m, "--rows", t / "rows.csv", "--do", "x1=0"], ["rows.csv"]),
    "ragged csv": (
        lambda m, t: ["train", "--data", _write(t / "rag.csv", b"a,b\n1,2\n3,4,5,6\n"), "--graph", "a -> b",
                      "--out", t / "o"],
        ["rag.csv", "CSV"],
    ),
    "binary csv": (
        lambda m, t: ["counterfactual", m, "--rows", _write(t / "bin.csv", b"\xff\xfe\x00\x81\x92" * 50), "--do", "x1=0"],
        ["bin.csv"],
    ),
    "no checkpoint": (lambda m, t: ["sample", t / "nowhere"], ["nowhere"]),
    "not a checkpoint": (lambda m, t: ["sample", t], [str("model.json")]),
    "damaged checkpoint": (lambda m, t: ["sample", _bad_checkpoint(t, m)], ["broken", "model.safetensors"]),
    "unknown setting": (
        lambda m, t: ["train", "--dataset", "triangle-lin", "--set", "max_epoch=3", "--out", t / "o"],
        ["max_epoch", "max_epochs"],
    ),
    "badly typed setting": (
        lambda m, t: ["train", "--dataset", "triangle-lin", "--set", "hidden=wide", "--out", t / "o"],
        ["hidden", "'wide'"],
    ),
    "unknown model kind": (
        lambda m, t: ["train", "--dataset", "triangle-lin", "--model", "gan9000", "--out", t / "o"],
        ["gan9000", "causal-gen"],
    ),
    "csv without graph": (
        lambda m, t: ["train", "--data", _write(t / "d.csv", b"a,b\n1,2\n"), "--out", t / "o"], ["--graph"]),
    "missing required option": (lambda m, t: ["train", "--dataset", "triangle-lin"], ["--out"]),
    "no such command": (lambda m, t: ["fly"], ["'fly'"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_gives_one_error_line_and_exit_2(capsys, model_dir, tmp_path, case):
    make_argv, needles = BAD_INPUT[case]
    code, out, err = run(capsys, *make_argv(model_dir, tmp_path))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert out == ""
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_keyboard_interrupt_exits_130_quietly(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "names", interrupted)
    code, out, err = run(capsys, "datasets")
    assert code == 130 and out == "" and err == ""


# ---------------------------------------------------------------------- image models
TINY_IMAGES = ["--set", "steps=40", "--set", "image_train.steps=6", "--set", "image_train.batch_size=16",
               "--set", "hidden=8", "--set", "width=8", "-q"]


def test_causal_gan_training_says_what_the_mode_seeking_gate_did(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--images", "pendulum", "-n", 64, "--model", "causal-gan", "--set", "steps=51",
                         "--set", "batch_size=16", "--set", "labels.steps=40", "--set", "labels.hidden=8", "--set", "width=8",
                         "--set", "labeler_width=4", "--set", "pretrain_labeler=5", "-q", "--out", tmp_path / "gan")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("Mode seeking was on at "))
    assert "of 2 checks" in line and "real ones by" in line  # checks at steps 0 and 50


def test_image_model_trains_samples_grids_and_counterfactuals(capsys, tmp_path):
    from PIL import Image

    out_dir = tmp_path / "pend"
    code, out, err = run(capsys, "train", "--images", "pendulum", "-n", 64, "--model", "ccgm", *TINY_IMAGES,
                         "--out", out_dir)
    assert code == 0, err
    assert "image dataset 'pendulum'" in out and (out_dir / "model.safetensors").exists()

    code, out, err = run(capsys, "sample", out_dir, "-n", 6, "--do", "pendulum_angle=10", "--grid", tmp_path / "g.png",
                         "--columns", 3, "-o", tmp_path / "labels.csv")
    assert code == 0, err
    assert Image.open(tmp_path / "g.png").size == (3 * 33 + 1, 2 * 33 + 1)
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert len(labels) == 6 and (labels["pendulum_angle"] == 10).all()

    code, out, err = run(capsys, "sample", out_dir, "-n", 4, "--images-dir", tmp_path / "imgs")
    assert code == 0, err
    code, out, err = run(capsys, "counterfactual", out_dir, "--images-from", tmp_path / "imgs", "--do",
                         "light_angle=60", "--images-dir", tmp_path / "cf")
    assert code == 0, err
    cf = pd.read_csv(tmp_path / "cf" / "labels.csv")
    assert len(cf) == 4 and (cf["light_angle"] == 60).all() and len(list((tmp_path / "cf").glob("*.png"))) == 4


@pytest.mark.parametrize("argv, needle", [
    (["train", "--images", "faces", "--model", "causal-gen", "--out", "o"], "does not train on images"),
    (["train", "--images", "nope", "--model", "ccgm", "--out", "o"], "nope"),
    (["train", "--dataset", "loan", "--size", "64", "--out", "o"], "--size applies to --images and --image-folder only"),
])
def test_image_training_errors_are_one_line(capsys, tmp_path, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and needle in err, err


# ---------------------------------------------------------------------- workspace runs
def test_workspace_run_is_listed_shown_sampled_and_deleted(capsys, tmp_path, rows_csv):
    ws = ["--workspace", tmp_path / "ws"]
    code, out, err = run(capsys, "train", "--dataset", "triangle-lin", "-n", 300, *TINY, "--workspace-run",
                         "--name", "tiny tri", *ws)
    assert code == 0, err
    run_id = out.strip().splitlines()[-1].split()[1]
    assert f"run:{run_id}" in out and "(done)" in out

    code, out, _ = run(capsys, "runs", *ws)
    assert code == 0 and "1 run(s)" in out and run_id in out and "tiny tri" in out and "done" in out
    code, out, _ = run(capsys, "runs", "show", run_id[:8], *ws)
    assert code == 0 and f"run {run_id}: tiny tri" in out and "graph: x1 -> x2; x1 -> x3; x2 -> x3" in out
    assert "metric counterfactual_rmse" in out and "hidden=8" in out

    code, out, _ = run(capsys, "sample", f"run:{run_id}", "-n", 20, "--do", "x1=2", *ws)
    assert code == 0 and (csv_from(out)["x1"] == 2).all()
    code, out, _ = run(capsys, "counterfactual", f"run:{run_id}", "--rows", rows_csv, "--do", "x1=0", *ws)
    assert code == 0 and len(csv_from(out)) == 40

    code, out, err = run(capsys, "runs", "cancel", run_id, *ws)
    assert code == 2 and "already finished" in err
    code, out, _ = run(capsys, "runs", "delete", run_id, *ws)
    assert code == 0 and "deleted" in out
    code, out, _ = run(capsys, "runs", *ws)
    assert "no runs" in out


@pytest.mark.parametrize("argv, needle", [
    (["runs", "show"], "needs a run id"),
    (["runs", "show", "nope"], "no run 'nope'"),
    (["sample", "run:nope"], "no run 'nope'"),
    (["train", "--dataset", "triangle-lin", "--name", "x", "--out", "o"], "--workspace-run"),
    (["train", "--dataset", "triangle-lin", "--workspace-run", "--out", "o"], "not allowed with"),
])
def test_workspace_errors_are_one_line(capsys, tmp_path, argv, needle):
    code, out, err = run(capsys, *argv, "--workspace", tmp_path / "ws")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and needle in err, err


# ---------------------------------------------------------------------- help, version, packaging
def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("counterfactory ") and len(out.split()) == 2


@pytest.mark.parametrize("command", ["datasets", "train", "sample", "counterfactual", "graph", "settings", "runs",
                                     "recover", "dip-prior", "defend"])
def test_every_command_has_help_with_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"usage: counterfactory {command}" in out
    assert f"examples:\n  counterfactory {command}" in out


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert "usage: counterfactory" in err and "train" in err and "counterfactual" in err


def test_cli_does_not_import_streamlit():
    imported = set()
    for path in Path(cli.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "streamlit" not in imported and "generators" in imported


def test_installed_entry_point_help():
    exe = Path(sys.executable).parent / "counterfactory"
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: counterfactory" in result.stdout
    for command in ("datasets", "train", "sample", "counterfactual", "graph"):
        assert command in result.stdout


def test_settings_lists_every_setting_with_its_current_default(capsys):
    from generators import make_config

    code, out, _ = run(capsys, "settings", "causal-vgen")
    assert code == 0
    cfg = make_config("causal-vgen")
    assert f"latent_dim={cfg.latent_dim!r}" in out and f"lr={cfg.train.lr!r}" in out
    code, _, err = run(capsys, "settings", "nope")
    assert code == 2 and "unknown model kind 'nope'" in err


def test_settings_without_a_kind_lists_the_registrys_kinds(capsys):
    import generators

    code, out, _ = run(capsys, "settings")
    assert code == 0
    for k in generators.KINDS:  # one line per kind: its name, what it trains on, its title
        assert any(line.startswith(k.name) and k.title in line and k.data[0] in line for line in out.splitlines())


def test_image_model_trains_on_a_users_zip_of_images_and_labels(capsys, tmp_path):
    """Bring your own images: a .zip of PNGs with labels.csv (extra label columns refused
    unless dropped), a graph with the image node, a model that samples with the labels."""
    import zipfile

    from causal import images

    folder = images.save_image_folder(images.load("faces", n=48, seed=0).data, tmp_path / "faces")
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f.name)
    graph = "Male -> Mustache; Male -> image; Mustache -> image"
    argv = ["train", "--image-folder", archive, "--graph", graph, "--model", "ccgm", *TINY_IMAGES]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "m")
    assert code == 2 and "not in the graph" in err and "Young" in err and "--drop-extra" in err, err
    code, out, err = run(capsys, *argv, "--drop-extra", "--out", tmp_path / "m")
    assert code == 0, err
    assert f"48 images from {archive}" in out
    code, out, err = run(capsys, "sample", tmp_path / "m", "-n", 5, "--do", "Mustache=1", "--grid", tmp_path / "g.png",
                         "-o", tmp_path / "labels.csv")
    assert code == 0, err
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert list(labels.columns) == ["Male", "Mustache"] and (labels["Mustache"] == 1).all()


@pytest.mark.parametrize("argv, needle", [
    (["--graph", "Male -> Mustache"], "the graph has no node 'image'"),
    ([], "--image-folder needs a causal graph"),
    (["--graph", "Beard -> image"], "no column for node(s) Beard"),
    (["--graph", "Male -> image", "--workspace-run"], "--workspace-run takes built-in datasets"),
])
def test_image_folder_errors_are_one_line(capsys, tmp_path, argv, needle):
    from causal import images

    folder = images.save_image_folder(images.load("faces", n=4, seed=0).data, tmp_path / "f")
    dest = [] if "--workspace-run" in argv else ["--out", tmp_path / "m"]
    code, out, err = run(capsys, "train", "--image-folder", folder, "--model", "ccgm", *argv, *dest)
    assert code == 2 and err.startswith("error: ") and needle in err, err


def test_a_corrupt_image_in_the_folder_is_named(capsys, tmp_path):
    from causal import images

    folder = images.save_image_folder(images.load("faces", n=4, seed=0).data, tmp_path / "f")
    victim = sorted(folder.glob("*.png"))[1]
    victim.write_bytes(b"not a png")
    code, out, err = run(capsys, "train", "--image-folder", folder, "--graph", "Male -> image", "--drop-extra",
                         "--model", "ccgm", "--out", tmp_path / "m")
    assert code == 2 and victim.name in err and err.count("\n") == 1, err
