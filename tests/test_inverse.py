"""Inverse problems (generators.inverse): the measurement operators (shapes, adjoints, explicit
matrices), the --measure parser's messages, and recovery by Lasso-DCT, Deep Image Prior and
a tiny trained generator (CCGM on synthetic squares), plus the ``recover`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.fft import idctn

from app.cli import main
from generators import build_model
from generators.inverse import (
    Blur, Downsample, GaussianProjection, MeasureError, PixelMask, measure, mse, parse_measure, recover,
)
from generators.training import TrainConfig
from test_image_base import GRAPH, squares

SHAPES = [(1, 16, 16), (3, 8, 8)]
SPECS = ["gaussian:37", "mask:random:0.3", "mask:block:4", "down:2", "down:4", "blur:1.5"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spec", SPECS)
def test_operator_shapes_adjoint_and_matrix(spec, shape):
    A = parse_measure(spec, shape, seed=3)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, *shape, generator=gen)
    v = torch.randn(4, A.m, generator=gen)
    y = A(x)
    assert y.shape == (4, A.m)
    assert A(x[0]).shape == (A.m,)
    # <A x, v> = <x, A^T v> (float32, sums of a few thousand terms)
    torch.testing.assert_close((y * v).sum(), (x * A.adjoint(v)).sum(), rtol=1e-4, atol=1e-3)
    M = A.matrix()
    assert M.shape == (A.m, A.n_pixels)
    torch.testing.assert_close(x.flatten(1) @ M.T, y, rtol=1e-5, atol=1e-5)


def test_operator_sizes():
    c, h = 1, 32
    assert parse_measure("gaussian:200", (c, h, h)).m == 200
    assert parse_measure("mask:random:0.25", (c, h, h)).m == 256
    assert parse_measure("mask:block:8", (3, h, h)).m == 3 * (1024 - 64)
    assert parse_measure("down:4", (3, h, h)).m == 3 * 64
    assert parse_measure("blur:2", (c, h, h)).m == 1024
    assert isinstance(parse_measure(" Gaussian:5 ", (c, h, h)), GaussianProjection)
    assert isinstance(parse_measure("down:2", (c, h, h)), Downsample)
    assert isinstance(parse_measure("blur:0.5", (c, h, h)), Blur)
    block = parse_measure("mask:block:8", (c, h, h))
    assert isinstance(block, PixelMask) and not block.kept.view(h, h)[12:20, 12:20].any() and block.kept.view(h, h)[:12].all()
    # the same seed gives the same operator; another seed another one
    a, b, d = (parse_measure("gaussian:10", (c, h, h), seed=s).matrix() for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, d)


def test_measure_noise():
    A = parse_measure("gaussian:500", (1, 16, 16))
    x = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0))
    clean, noisy = measure(x, A), measure(x, A, noise=0.1, seed=4)
    assert torch.equal(clean, A(x))
    assert 0.08 < float((noisy - clean).std()) < 0.12  # 500 draws of N(0, 0.1²)
    assert torch.equal(noisy, measure(x, A, noise=0.1, seed=4))
    with pytest.raises(MeasureError, match="standard deviation"):
        measure(x, A, noise=-1)


@pytest.mark.parametrize("spec, message", [
    ("gaussian", "unknown measurement 'gaussian'; use one of: gaussian:M"),
    ("gauss:10", "unknown measurement"),
    ("gaussian:abc", "M \\(the number of measurements\\) must be a number, got 'abc'"),
    ("gaussian:2.5", "must be a whole number"),
    ("gaussian:0", "at least one measurement"),
    ("mask:random:1.5", "0 < P <= 1"),
    ("mask:random", "unknown measurement"),
    ("mask:block:16", "1 <= K < 16"),
    ("mask:circle:3", "unknown measurement"),
    ("down:3", "divides the image side"),
    ("down:1", "F >= 2"),
    ("blur:-1", "positive blur width"),
    ("blur:nan", "positive blur width"),
])
def test_parser_errors_name_the_problem(spec, message):
    with pytest.raises(MeasureError, match=message):
        parse_measure(spec, (1, 16, 16))


def test_recover_refuses_bad_calls():
    A = parse_measure("gaussian:20", (1, 8, 8))
    y = torch.zeros(20)
    with pytest.raises(MeasureError, match="unknown recovery method 'magic'"):
        recover(y, A, "magic")
    with pytest.raises(MeasureError, match="needs a trained image model"):
        recover(y, A, "generator")
    with pytest.raises(MeasureError, match="makes 20 measurements but y has 19"):
        recover(y[:19], A, "lasso")


def test_lasso_recovers_a_dct_sparse_image_from_few_measurements():
    # 8 nonzero DCT coefficients of a 16x16 image (256 pixels), 80 Gaussian measurements
    rng = np.random.default_rng(0)
    coef = np.zeros((16, 16))
    for (i, j), v in zip([(0, 0), (0, 1), (1, 0), (2, 1), (1, 3), (3, 2), (4, 0), (0, 5)], rng.uniform(0.5, 1.5, 8)):
        coef[i, j] = v * rng.choice([-1, 1])
    coef[0, 0] = 8.0  # the DC term (rescaling to [0, 1] below changes only it and the scale)
    img = idctn(coef, norm="ortho")
    img = (img - img.min()) / (img.max() - img.min())  # in [0, 1], still 8 nonzero DCT coefficients
    x = torch.from_numpy(img).float()[None]
    A = parse_measure("gaussian:80", (1, 16, 16), seed=0)
    r = recover(measure(x, A), A, "lasso", truth=x)
    baseline = mse(torch.full_like(x, float(x.mean())), x)
    assert r.mse < 1e-3 < baseline / 10, (r.mse, baseline)
    assert r.details["nonzero"] < 40 and r.details["alpha"] > 0
    assert r.method == "lasso" and r.m == 80 and r.measurement == "gaussian:80" and r.seconds > 0
    assert r.uint8().shape == (16, 16, 1) and r.uint8().dtype == np.uint8


def test_deep_image_prior_inpaints_better_than_zero_filling():
    x = torch.from_numpy(squares(1, seed=5, size=16).images[0]).permute(2, 0, 1).float() / 255
    A = parse_measure("mask:random:0.5", (1, 16, 16), seed=1)
    y = measure(x, A)
    zero_fill = mse(A.adjoint(y[None])[0], x)
    r = recover(y, A, "dip", truth=x, steps=200, width=16, seed=0)
    assert r.mse < 0.5 * zero_fill, (r.mse, zero_fill)
    assert 0 < r.details["best_step"] <= r.details["steps"] <= 200
    a, b = (recover(y, A, "dip", steps=10, every=5, width=8, seed=3) for _ in range(2))
    assert torch.equal(a.image, b.image)  # the seed fixes weights, input and hold-out split


@pytest.fixture(scope="module")
def tiny_generator():
    model = build_model("ccgm", GRAPH, hidden=8, steps=200, width=8, style_dim=2, cycle_weight=5.0, beta=1.0,
                        image_train=TrainConfig(steps=300, batch_size=32, lr=1e-2, val_fraction=0.1))
    model.fit(squares(600), seed=0)
    return model


def _truth(i: int = 0):
    data = squares(4, seed=11, size=16)
    return data, torch.from_numpy(data.images[i]).permute(2, 0, 1).float() / 255


def test_generator_prior_recovers_from_few_measurements(tiny_generator):
    data, x = _truth()
    A = parse_measure("gaussian:30", (1, 16, 16), seed=0)
    y = measure(x, A)
    start = mse(torch.full_like(x, float(x.mean())), x)  # the best constant image
    free = recover(y, A, "generator", tiny_generator, truth=x, seed=0, steps=150, restarts=6)
    fixed = recover(y, A, "generator", tiny_generator, truth=x, seed=0, steps=150, restarts=6, labels=data.labels.iloc[0])
    lasso = recover(y, A, "lasso", truth=x)
    assert free.mse < 0.5 * start and fixed.mse < 0.5 * start, (free.mse, fixed.mse, start)
    assert free.mse < lasso.mse, (free.mse, lasso.mse)  # 30 measurements of 256 pixels: the prior wins
    assert fixed.details["labels"]["pos"] == pytest.approx(data.labels["pos"].iloc[0])
    assert free.details["labels_free"] and not fixed.details["labels_free"]
    assert set(free.details["labels"]) == {"pos", "bright"}
    with pytest.raises(MeasureError, match="missing bright"):
        recover(y, A, "generator", tiny_generator, labels={"pos": 0.3})
    with pytest.raises(MeasureError, match="16x16 images with 1 channel"):
        B = parse_measure("gaussian:30", (1, 32, 32))
        recover(torch.zeros(30), B, "generator", tiny_generator)


def _png(path, image):
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


def test_cli_recover_round_trip(tmp_path, tiny_generator, capsys, monkeypatch):
    from functools import partial

    from generators.inverse import csgm

    monkeypatch.setattr(csgm, "generator_prior", partial(csgm.generator_prior, steps=60, restarts=4))  # a quick run
    data, _ = _truth(1)
    _png(tmp_path / "x.png", data.images[1])
    tiny_generator.save(tmp_path / "model")
    out, js = tmp_path / "r.png", tmp_path / "r.json"
    code = main(["recover", str(tmp_path / "model"), "--image", str(tmp_path / "x.png"), "--measure", "gaussian:40",
                 "--noise", "0.01", "--method", "generator", "--seed", "1", "-o", str(out), "--json", str(js)])
    assert code == 0, capsys.readouterr().err
    rec = json.loads(js.read_text())
    assert rec["method"] == "generator" and rec["measurement"] == "gaussian:40" and rec["m"] == 40
    assert rec["noise"] == 0.01 and rec["seed"] == 1 and rec["seconds"] > 0 and 0 <= rec["mse"] < 0.1
    assert np.asarray(Image.open(out)).shape == (16, 16)
    # no model: Lasso on an inpainting problem, the JSON to stdout's neighbour, the PNG written
    code = main(["recover", "--image", str(tmp_path / "x.png"), "--measure", "mask:block:4", "--method", "lasso",
                 "-o", str(tmp_path / "l.png"), "--json", str(tmp_path / "l.json")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "l.json").read_text())["m"] == 256 - 16


@pytest.mark.parametrize("argv, message", [
    (["--measure", "gaussian:x", "--method", "lasso"], "M (the number of measurements) must be a number"),
    (["--measure", "gaussian:10", "--method", "generator"], "needs a trained image model"),
    (["--measure", "gaussian:10", "--method", "lasso", "--noise", "-1"], "a number >= 0; got -1"),
])
def test_cli_recover_errors(tmp_path, capsys, argv, message):
    _png(tmp_path / "x.png", squares(1, size=16).images[0])
    code = main(["recover", "--image", str(tmp_path / "x.png"), "-o", str(tmp_path / "o.png"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o.png").exists()


def test_cli_recover_missing_image(tmp_path, capsys):
    code = main(["recover", "--image", str(tmp_path / "nope.png"), "--measure", "down:2", "--method", "dip",
                 "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.png: no such file" in err


# ---------------------------------------------------------------------- the Inverse problems page
REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")


def _page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("views/inverse.py").run()
    assert not at.exception, at.exception
    return at


def _shown(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "error") for e in at.get(kind))


def test_page_recovers_a_builtin_image_without_a_model(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    assert at.title[0].value == "Inverse problems"
    assert at.selectbox(key="inverse-method").options == ["dip", "lasso"]  # no trained model: no generator prior
    at.selectbox(key="inverse-kind").set_value("mask:random").run()
    at.number_input(key="inverse-value-mask:random").set_value(0.6).run()
    at.selectbox(key="inverse-method").set_value("lasso").run()
    at.button(key="inverse-go").click().run()
    assert not at.exception, at.exception
    text = _shown(at)
    assert "Per-pixel MSE" in text and "mask:random:0.6" in text and "--method lasso" in text, text
    captions = [c for im in at.get("image") for c in im.captions]
    assert "recovery (lasso)" in captions and "truth" in captions, captions  # beside the measurement's picture


@pytest.mark.slow
def test_page_recovers_with_a_trained_image_run(tmp_path, monkeypatch):
    import os

    from app.worker import execute
    from app.workspace import RunSpec, Workspace
    from causal.sources import BuiltinImages

    ws = Workspace(tmp_path / "ws")
    run = ws.create_run(RunSpec(BuiltinImages("morpho-glyphs", rows=200, size=32), kind="ccgm",
                                settings={"steps": 60, "image_train.steps": 40, "width": 8}, name="glyphs"),
                        pid=os.getpid())
    assert execute(ws, run.id).status == "done"
    at = _page(tmp_path, monkeypatch)
    at.selectbox(key="inverse-prior").set_value(run.id).run()
    assert at.selectbox(key="inverse-method").options == ["generator", "dip", "lasso"]
    at.selectbox(key="inverse-method").set_value("generator").run()
    at.button(key="inverse-go").click().run()
    assert not at.exception, at.exception
    text = _shown(at)
    assert "Per-pixel MSE" in text and f"recover run:{run.id}" in text, text


def test_the_library_cli_and_page_logic_do_not_import_streamlit():
    code = "import sys, generators.inverse, app.logic.inverse, app.cli.inverse; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "False"
