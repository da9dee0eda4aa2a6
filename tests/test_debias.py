"""De-biasing by edge cuts (``causal.debias``) and ``counterfactory debias``: which edges each
variant cuts, the truth with a cut, the bias report, and the manifest that reproduces an
exported dataset byte for byte. Tiny models, fixed seeds, stated tolerances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from causal import CausalGraph, datasets
from causal import debias as db
from generators import build_model

G = CausalGraph.parse("A -> M; A -> D; A -> Y; Z -> M; Z -> Y; M -> Y; D -> Y; Y -> W")
TINY = ["--model", "linear-anm", "--set", "steps=150", "-q"]


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ---------------------------------------------------------------------- what to cut
def test_variants_cut_the_edges_they_name():
    assert db.variant_edges(G, "A", "Y", "none") == ()
    assert db.variant_edges(G, "A", "Y", "unaware") == (("A", "Y"),)
    assert db.variant_edges(G, "A", "Y", "counterfactual", ["D"]) == (("A", "Y"), ("D", "Y"))
    assert set(db.variant_edges(G, "A", "Y", "parity")) == {("A", "Y"), ("M", "Y"), ("D", "Y")}
    # after the parity cut no directed path leads from A to Y
    cut = G.without_edges(*db.path_edges(G, "A", "Y"))
    assert "Y" not in cut.descendants("A")
    assert db.expand_cuts(G, ["A -> *", "Y -> W"], target="Y") == ["A -> Y", "D -> Y", "M -> Y", "Y -> W"]
    assert db.affected_nodes(G, [("A", "Y")]) == {"Y", "W"}


@pytest.mark.parametrize("call, needle", [
    (lambda: db.variant_edges(G, "A", "Y", "fair"), "unknown variant"),
    (lambda: db.variant_edges(G, "A", "Y", "counterfactual", ["Z"]), "not a descendant of 'A'"),
    (lambda: db.variant_edges(G, "A", "Y", "counterfactual", ["nope"]), "no such node"),
    (lambda: db.path_edges(G, "Y", "A"), "no causal path"),
    (lambda: db.variant_edges(G, "A", "Q", "parity"), "unknown node 'Q'"),
    (lambda: db.expand_cuts(G, ["A -> *"]), "name the target"),
])
def test_bad_requests_name_what_is_wrong(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


# ---------------------------------------------------------------------- the truth with a cut
def test_parity_cut_of_the_true_loan_scm_removes_the_dependence_and_keeps_the_rest():
    scm = datasets.load("loan", n=10, seed=0).scm
    edges = db.path_edges(scm.graph, "A", "income")
    cut = db.truth_with_cuts(scm, edges, 10_000, seed=1)
    uncut = scm.sample(10_000, seed=1)
    dep = db.dependence(cut, scm.graph, "A", ["income"], conditional=False)[0]
    before = db.dependence(uncut, scm.graph, "A", ["income"], conditional=False)[0]
    assert abs(dep.corr) <= 0.03 and dep.p_value > 0.001  # independent by construction; n = 10,000
    assert before.corr > 0.3 and before.p_value < 1e-10
    # given A's non-descendant ancestors of income (age): a spline-adjusted partial correlation
    (cond,) = db.dependence(cut, scm.graph, "A", ["income"])
    (cond_before,) = db.dependence(uncut, scm.graph, "A", ["income"])
    assert cond.given == cond_before.given == ("age",)
    assert cond.cond_p_value > 0.001 and cond_before.cond_p_value < 1e-10
    # common random numbers: columns the cut cannot reach are the same rows exactly
    for col in ("A", "age", "amount", "duration", "edu"):
        np.testing.assert_array_equal(cut[col].to_numpy(), uncut[col].to_numpy())


def test_dependence_on_an_attribute_of_three_groups_does_not_read_its_codes_as_numbers():
    """race in three groups, the middle one far from the other two: a correlation with the
    codes 0, 1, 2 would call it weak (and change with the categories' order); the
    correlation ratio and Cramér's V see it."""
    rng = np.random.default_rng(0)
    n = 6000
    race = rng.choice(["a", "b", "c"], n)
    x = np.where(race == "b", 2.0, 0.0) + rng.normal(size=n)  # the group in the middle of the codes differs
    y = np.where(x + rng.normal(size=n) > 1.0, "hi", "lo")
    data = pd.DataFrame({"race": race, "x": x, "y": y, "binary": (race == "b").astype(int)})
    g = CausalGraph.parse("race -> x; x -> y; race -> binary")
    dep = {d.node: d for d in db.dependence(data, g, "race", conditional=False)}
    pearson_on_codes = abs(np.corrcoef(pd.factorize(race, sort=True)[0], x)[0, 1])
    assert pearson_on_codes < 0.05  # what the codes would have said
    # η² = between / total variance = (8/9 · 1/3 + 4/9 · 2/3) / (1 + 8/9) = 0.889 / 1.889: η = 0.686
    assert dep["x"].measure == "eta" and dep["x"].corr == pytest.approx(0.686, abs=0.02)
    assert dep["y"].measure == "cramer_v" and dep["y"].corr > 0.3
    assert dep["binary"].measure == "cramer_v" and dep["binary"].corr == pytest.approx(1.0)
    flipped = {d.node: d for d in db.dependence(data.assign(x=rng.permutation(x)), g, "race", ["x"], conditional=False)}
    assert flipped["x"].corr < 0.05  # no dependence: η near 0 (1/sqrt(n) scale)


def test_downstream_classifier_sees_the_bias_and_not_after_the_unaware_cut():
    from bench.debias import biased_table

    scm = biased_table()
    test = scm.sample(2000, seed=9)
    biased = db.downstream(scm.sample(4000, seed=1), test, "A", "Y")
    fair = db.downstream(db.truth_with_cuts(scm, [("A", "Y")], 4000, seed=1), test, "A", "Y")
    assert biased.flip_gap > 0.05 and fair.flip_gap < 0.01  # measured 0.080 and 0.0005
    assert 0.6 < fair.auroc <= 1 and 0 <= fair.precision <= 1 and 0 <= fair.recall <= 1
    assert biased.parity_difference > fair.parity_difference
    assert biased.positive == 1 and biased.n_test == 2000


def test_the_flip_gap_on_support_leaves_out_rows_whose_flip_no_training_row_resembles():
    """M takes 'a' only with A = 0, 'b' only with A = 1, 'c' with both; Y depends on M alone.
    Flipping A on an 'a' or 'b' row leaves the data; on a 'c' row it does not."""
    rng = np.random.default_rng(0)

    def table(n: int) -> pd.DataFrame:
        a = rng.integers(0, 2, n)
        m = np.where(rng.random(n) < 0.5, np.where(a == 0, "a", "b"), "c")
        y = (rng.random(n) < np.select([m == "a", m == "b"], [0.2, 0.8], 0.3)).astype(int)
        return pd.DataFrame({"A": a.astype(str), "M": m, "Y": y})

    d = db.downstream(table(4000), table(2000), "A", "Y", support=["M"])
    assert d.on_support is not None and abs(d.on_support - 0.5) < 0.05  # the 'c' rows
    assert d.flip_gap_on_support is not None and d.flip_gap_on_support < 0.02  # Y ignores A given M
    assert db.downstream(table(1000), table(500), "A", "Y").flip_gap_on_support is None  # not asked for


# ---------------------------------------------------------------------- a tiny model
@pytest.fixture(scope="module")
def loan_model():
    ds = datasets.load("loan", n=3000, seed=0)
    model = build_model("linear-anm", ds.graph, steps=150)
    model.fit(ds.data, seed=0)
    return model, ds


def test_report_before_and_after_a_parity_cut(loan_model):
    model, ds = loan_model
    edited = model.without_edges(*db.path_edges(model.graph, "A", "income"))
    rep = db.debias_report(model, edited, "A", "income", 4000, seed=0, real=ds.data.iloc[:1500])
    before = {d.node: d for d in rep.before.dependence}
    after = {d.node: d for d in rep.after.dependence}
    assert set(after) == {"amount", "duration", "edu", "income", "savings"}
    assert abs(before["income"].corr) > 0.3 and abs(after["income"].corr) < 0.05
    assert rep.after.parity_gap < 0.1 < rep.before.parity_gap
    # what the cut cannot reach is kept: the same seed draws the same rows off the cut paths
    off = [d for d in rep.fidelity if not d.on_cut_path]
    assert {d.columns for d in off if len(d.columns) == 1} == {("A",), ("age",), ("amount",), ("duration",), ("edu",)}
    assert rep.max_fidelity_off_cut() < 0.005
    assert all(d.to_real is not None for d in rep.fidelity)
    table = rep.side_by_side()
    assert list(table.columns.get_level_values(0).unique()) == ["", "before", "after"]  # "": the measure
    assert set(table[("", "measure")]) == {"pearson"}  # A is binary, its descendants binary or numeric
    json.dumps(rep.to_dict())  # a report is plain JSON


def test_variants_compared_on_real_rows(loan_model):
    model, ds = loan_model
    # a binary target for the downstream check: is income positive?
    g = model.graph
    test = ds.data.iloc[:800]
    reports = db.compare_variants(model, "A", "savings", 1500, test=None, variants=("none", "parity"))
    assert reports["parity"].parity_gap < reports["none"].parity_gap
    frame = db.tradeoff_frame(reports)
    assert list(frame.index) == ["none", "parity"] and "data_parity_gap" in frame
    assert g.has_edge("income", "savings") and len(test) == 800


# ---------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def loan_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("debias") / "loan"
    assert main(["train", "--dataset", "loan", "-n", "1500", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def real_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("real") / "real.csv"
    datasets.load("loan", n=300, seed=5).data.to_csv(path, index=False)
    return path


def test_cli_debias_writes_data_report_and_a_manifest_that_reproduces_it(capsys, loan_dir, real_csv, tmp_path):
    out, man, rep = tmp_path / "fair.csv", tmp_path / "fair.json", tmp_path / "report.json"
    code, o, err = run(capsys, "debias", loan_dir, "--cut", "A -> income", "-n", 700, "-o", out, "--manifest", man,
                       "--report", rep, "--data", real_csv, "--seed", 3)
    assert code == 0, err
    df = pd.read_csv(out)
    assert len(df) == 700 and list(df.columns) == list(datasets.load("loan", n=5).data.columns)
    m = json.loads(man.read_text())
    assert m["cuts"] == ["A -> income"] and m["n"] == 700 and m["seed"] == 3 and m["format"] == "csv"
    assert m["kind"] == "linear-anm" and len(m["checkpoint_sha256"]) == 64 and m["source_data"]["rows"] == 300
    assert {"torch", "pandas", "scikit-learn", "fairlearn"} <= set(m["versions"]) and m["report"]["after"]
    r = json.loads(rep.read_text())
    assert r["after"]["downstream"] is None  # a continuous target: no classifier
    assert abs(r["after"]["dependence"][3]["corr"]) < abs(r["before"]["dependence"][3]["corr"])

    again = tmp_path / "again.csv"
    code, o, err = run(capsys, "debias", "--manifest", man, "-o", again)
    assert code == 0, err
    assert again.read_bytes() == out.read_bytes() and "identical" in o

    pq = tmp_path / "fair.parquet"
    code, o, err = run(capsys, "debias", loan_dir, "--cut", "A -> *", "--target", "income", "--reference", "A=0",
                       "-n", 200, "-o", pq, "--manifest", tmp_path / "pq.json")
    assert code == 0, err
    assert len(pd.read_parquet(pq)) == 200
    code, o, err = run(capsys, "debias", "--manifest", tmp_path / "pq.json", "-o", tmp_path / "again.parquet")
    assert code == 0 and (tmp_path / "again.parquet").read_bytes() == pq.read_bytes()
    assert json.loads((tmp_path / "pq.json").read_text())["references"] == {"A": 0}


def test_cli_debias_report_rows_with_gaps_are_refused_before_writing_or_dropped_and_recorded(capsys, loan_dir, real_csv, tmp_path):
    gaps = tmp_path / "gaps.csv"
    real = pd.read_csv(real_csv).astype({"edu": str})
    real.loc[[4, 8], "edu"] = "?"
    real.loc[[9], "income"] = np.nan
    real.to_csv(gaps, index=False)
    out, man = tmp_path / "fair.csv", tmp_path / "fair.json"
    base = ["debias", loan_dir, "--cut", "A -> income", "-n", 200, "-o", out, "--report", tmp_path / "r.json",
            "--data", gaps]
    code, _, err = run(capsys, *base, "--missing-marker", "?")
    assert code == 2 and "column 'edu' has 2 missing value(s)" in err and "--drop-missing" in err
    assert not out.exists()  # refused before anything was written
    code, _, err = run(capsys, *base, "--missing-marker", "?", "--drop-missing", "--manifest", man)
    assert code == 0, err
    assert "dropped 3 of 300 rows (1.0%) with a missing value (edu 2, income 1); 297 rows kept" in err
    src = json.loads(man.read_text())["source_data"]
    assert src["rows"] == 297 and src["missing"]["dropped"] == 3 and src["missing"]["markers"] == ["?"]
    assert json.loads((tmp_path / "r.json").read_text())["real"]["n"] == 297
    code, _, err = run(capsys, "debias", loan_dir, "--cut", "A -> income", "-n", 5, "-o", out, "--drop-missing")
    assert code == 2 and "apply to --data" in err


def test_cli_manifest_refuses_a_changed_checkpoint(capsys, loan_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(loan_dir, copy)
    code, _, err = run(capsys, "debias", copy, "--cut", "A -> income", "-n", 50, "-o", tmp_path / "a.csv",
                       "--manifest", tmp_path / "a.json")
    assert code == 0, err
    assert main(["train", "--dataset", "loan", "-n", "1500", *TINY, "--seed", "1", "--overwrite", "--out", str(copy)]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "debias", "--manifest", tmp_path / "a.json", "-o", tmp_path / "b.csv")
    assert code == 2 and "checkpoint" in err and "changed" in err and not (tmp_path / "b.csv").exists()


def test_cli_counterfactual_debiasing_of_real_rows(capsys, loan_dir, real_csv, tmp_path):
    out = tmp_path / "per_row.csv"
    code, o, err = run(capsys, "debias", loan_dir, "--cut", "A -> income", "--rows", real_csv, "-o", out)
    assert code == 0, err
    real, cf = pd.read_csv(real_csv), pd.read_csv(out)
    assert cf.shape == real.shape
    for col in ("A", "age", "amount", "duration", "edu"):  # not downstream of the cut: kept exactly
        np.testing.assert_allclose(cf[col], real[col])
    assert (cf["income"] != real["income"]).mean() > 0.5 and "changed" in o


@pytest.mark.parametrize("argv, needle", [
    (["--cut", "A -> savings", "-n", "5", "-o", "x.csv"], "no such edge"),
    (["--cut", "A -> *", "-n", "5", "-o", "x.csv"], "--target"),
    (["-n", "5", "-o", "x.csv"], "nothing to cut"),
    (["--cut", "A -> income", "-o", "x.csv"], "-n ROWS"),
    (["--cut", "A -> income", "-n", "5", "-o", "x.txt"], ".csv or .parquet"),
    (["--cut", "A -> income", "-n", "5", "-o", "x.zip"], "image models"),
    (["--variant", "parity", "-n", "5", "-o", "x.csv"], "--sensitive"),
    (["--cut", "A -> income", "--reference", "A=7", "-n", "5", "-o", "x.csv"], "A"),
])
def test_cli_bad_input_is_one_line(capsys, loan_dir, tmp_path, argv, needle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "debias", loan_dir, *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_cli_manifest_alone_needs_an_output(capsys, tmp_path):
    code, _, err = run(capsys, "debias")
    assert code == 2 and "--manifest" in err
    (tmp_path / "bad.json").write_text("{}")
    code, _, err = run(capsys, "debias", "--manifest", tmp_path / "bad.json", "-o", tmp_path / "x.csv")
    assert code == 2 and "not a manifest" in err


def test_cli_image_model_exports_a_zip_that_reproduces_and_reads_back(capsys, tmp_path):
    from causal.images import load_image_folder

    tiny = ["--set", "steps=40", "--set", "image_train.steps=6", "--set", "image_train.batch_size=16",
            "--set", "hidden=8", "--set", "width=8", "-q"]
    model = tmp_path / "faces"
    code, _, err = run(capsys, "train", "--images", "faces", "-n", 64, "--model", "ccgm", *tiny, "--out", model)
    assert code == 0, err
    z, man = tmp_path / "fair.zip", tmp_path / "fair.json"
    code, out, err = run(capsys, "debias", model, "--cut", "Male -> Mustache", "-n", 12, "-o", z, "--manifest", man,
                         "--report", tmp_path / "r.json")
    assert code == 0, err
    back = load_image_folder(z)
    assert len(back) == 12 and {"Male", "Mustache"} <= set(back.labels.columns)
    assert json.loads(man.read_text())["format"] == "zip"
    assert json.loads((tmp_path / "r.json").read_text())["after"]["sensitive"] == "Male"
    code, _out, err = run(capsys, "debias", "--manifest", man, "-o", tmp_path / "again.zip")
    assert code == 0, err
    assert (tmp_path / "again.zip").read_bytes() == z.read_bytes()
    # images de-biased counterfactually, in Python (the CLI's --rows is for tables)
    from generators import load_model

    fair = load_model(model).without_edges("Male -> Mustache")
    cf = fair.counterfactual(back[:4], do={})
    assert len(cf) == 4 and (cf.labels["Male"].to_numpy() == back.labels["Male"].to_numpy()[:4]).all()
    code, _, err = run(capsys, "debias", model, "--cut", "Male -> Mustache", "--rows", tmp_path / "x.csv", "-o",
                       tmp_path / "y.csv")
    assert code == 2 and "table model" in err


def test_fidelity_counts_the_same_tvd_as_the_metric():
    from causal.metrics import tvd

    rng = np.random.default_rng(0)
    a = pd.DataFrame({"s": rng.choice(["x", "y", "z"], 500), "t": rng.integers(0, 2, 500), "v": rng.normal(size=500)})
    b = pd.DataFrame({"s": rng.choice(["x", "y", "w"], 400), "t": rng.integers(0, 2, 400), "v": rng.normal(size=400)})
    g = CausalGraph.parse("s -> t; t -> v")
    fid = {d.columns: d for d in db.fidelity(a, b, None, g, [("s", "t")])}
    assert fid[("s", "t")].metric == "tvd" and fid[("s", "t")].to_model == pytest.approx(tvd(a, b, ["s", "t"]))
    assert fid[("s",)].to_model == pytest.approx(tvd(a, b, ["s"])) and fid[("s",)].to_real is None
    assert fid[("v",)].metric == "mmd2" and fid[("v",)].to_model < 0.01 and fid[("v",)].on_cut_path  # below the cut
    assert not fid[("s",)].on_cut_path and fid[("t", "v")].metric == "mmd2"


def test_a_blind_classifier_never_reads_the_sensitive_column_and_still_shows_the_parity_gap():
    """``blind``: the classifier is trained without A. On the biased table, where A reaches Y
    through M, its predictions do not change when A is changed (flip gap 0) and still differ
    between the groups (the proxy path); with A among the features the flip gap is not 0."""
    from bench.debias import biased_table

    scm = biased_table()
    train, test = scm.sample(4000, seed=1), scm.sample(2000, seed=9)
    blind = db.downstream(train, test, "A", "Y", blind=True)
    seeing = db.downstream(train, test, "A", "Y")
    assert blind.flip_gap == 0.0 and seeing.flip_gap > 0.05
    assert blind.parity_difference > 0.05  # through A's descendants
    assert 0.6 < blind.auroc <= 1


def test_the_images_bench_carries_the_models_a_run_did_not_fit(tmp_path):
    """``bench/debias.py --parts images --image-models causal-gan`` refits one model; the
    other's row comes from the part's previous results, which the section names."""
    import json

    from bench.debias import _carry_image_models

    fresh = {"n_train": 5000, "models": {"causal-gan": {"after_read_corr": 0.002}}}
    assert _carry_image_models(fresh, tmp_path / "none.json") == (fresh, {})
    previous = tmp_path / "debias-images.json"
    previous.write_text(json.dumps({"meta": {"command": "python bench/debias.py --parts images", "date": "2026-12-05"},
                                    "result": {"models": {"ccgm": {"after_read_corr": -0.004},
                                                          "causal-gan": {"after_read_corr": 0.020}}}}))
    res, carried = _carry_image_models(fresh, previous)
    assert list(res["models"]) == ["ccgm", "causal-gan"]  # the usual order
    assert res["models"]["causal-gan"]["after_read_corr"] == 0.002 and res["models"]["ccgm"]["after_read_corr"] == -0.004
    assert carried == {"ccgm": {"command": "python bench/debias.py --parts images", "date": "2026-12-05"}}
    # carried again by a later run: it keeps naming the run that fitted it
    previous.write_text(json.dumps({"meta": {"command": "later", "date": "2026-12-06", "carried": carried},
                                    "result": res}))
    assert _carry_image_models(fresh, previous)[1] == carried
