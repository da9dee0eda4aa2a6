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
    # no trained model: no generator prior
    assert at.selectbox(key="inverse-method").options == ["dip", "dip-lr", "lasso", "lasso-wavelet"]
    at.selectbox(key="inverse-kind").set_value("mask:random").run()
    at.number_input(key="inverse-value-mask:random").set_value(0.6).run()
    at.selectbox(key="inverse-method").set_value("lasso").run()
    at.button(key="inverse-go").click().run()
    assert not at.exception, at.exception
    text = _shown(at)
    assert "Per-pixel MSE" in text and "mask:random:0.6" in text and "--method lasso" in text, text
    captions = [c for im in at.get("image") for c in im.captions]
    assert "recovery (lasso)" in captions and "truth" in captions, captions  # beside the measurement's picture
    # the result is kept by a rerun it did not ask for (another widget; the defense section's
    # watcher reruns the page when an evaluation finishes), as it was computed
    at.number_input(key="inverse-noise").set_value(0.05).run()
    assert not at.exception, at.exception
    text = _shown(at)
    assert "Per-pixel MSE" in text and "mask:random:0.6" in text and "--noise" not in text, text


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
    assert at.selectbox(key="inverse-method").options == ["generator", "dip", "dip-lr", "lasso", "lasso-wavelet"]
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


# ------------------------------------------------- Lasso in a wavelet basis, DIP with learned regularization
@pytest.mark.parametrize("shape, wavelet, level", [((1, 16, 16), "db4", None), ((1, 16, 16), "haar", 4),
                                                   ((3, 8, 8), "haar", None), ((1, 32, 32), "db2", 3)])
def test_wavelet_basis_is_orthonormal_and_inverts_pywavelets(shape, wavelet, level):
    import pywt

    from generators.inverse.lasso import wavelet_basis, wavelet_level

    psi = wavelet_basis(shape, wavelet, level)
    n = int(np.prod(shape))
    assert psi.shape == (n, n)
    np.testing.assert_allclose(psi.T @ psi, np.eye(n), atol=1e-10)
    # a column is the image of one coefficient: Ψ c equals PyWavelets' inverse transform of c
    _, h, w = shape
    lev = wavelet_level(h, wavelet) if level is None else level
    c = np.random.default_rng(0).normal(size=(h, w))
    slices = pywt.coeffs_to_array(pywt.wavedec2(np.zeros((h, w)), wavelet, mode="periodization", level=lev))[1]
    image = pywt.waverec2(pywt.array_to_coeffs(c, slices, output_format="wavedec2"), wavelet, mode="periodization")
    np.testing.assert_allclose(psi[: h * w, : h * w] @ c.reshape(-1), image.reshape(-1), atol=1e-10)


def test_wavelet_basis_errors_name_the_problem():
    from generators.inverse.lasso import wavelet_basis

    with pytest.raises(MeasureError, match="non-orthogonal wavelet 'bior2.2'"):
        wavelet_basis((1, 16, 16), "bior2.2")
    with pytest.raises(MeasureError, match="unknown or non-orthogonal wavelet 'nope'"):
        wavelet_basis((1, 16, 16), "nope")
    with pytest.raises(MeasureError, match="5 wavelet levels need an image side divisible by 32"):
        wavelet_basis((1, 16, 16), "haar", 5)


def test_lasso_wavelet_recovers_a_wavelet_sparse_image_from_few_measurements():
    # 8 nonzero Haar coefficients (4 levels: the coarsest band is the single DC term) of a 16x16 image, 80 Gaussian
    # measurements of its 256 pixels; blocky, so it is not sparse in the DCT basis
    from generators.inverse.lasso import wavelet_basis

    psi = wavelet_basis((1, 16, 16), "haar", 4)
    rng = np.random.default_rng(1)
    coef = np.zeros(256)
    coef[rng.choice(np.arange(1, 64), 7, replace=False)] = rng.uniform(0.5, 1.5, 7) * rng.choice([-1, 1], 7)
    img = psi @ coef
    img = (img - img.min()) / (img.max() - img.min())  # an affine map: changes only the DC coefficient and the scale
    assert np.count_nonzero(np.abs(psi.T @ img) > 1e-9) <= 8
    x = torch.from_numpy(img.reshape(1, 16, 16)).float()
    A = parse_measure("gaussian:80", (1, 16, 16), seed=0)
    y = measure(x, A)
    r = recover(y, A, "lasso-wavelet", truth=x, wavelet="haar", level=4)
    dct = recover(y, A, "lasso", truth=x)
    baseline = mse(torch.full_like(x, float(x.mean())), x)
    assert r.mse < 1e-3 < baseline / 10, (r.mse, baseline)
    assert r.mse < dct.mse / 5, (r.mse, dct.mse)  # the basis the image is sparse in wins
    assert r.method == "lasso-wavelet" and r.details["basis"] == "wavelet" and r.details["wavelet"] == "haar"
    assert r.details["level"] == 4 and r.details["nonzero"] < 40
    assert recover(y, A, "lasso-wavelet").details["level"] == 1  # db4 at 16 px: PyWavelets' deepest level


def bright_image(seed: int = 0) -> torch.Tensor:
    """A bright 16x16 image: the constant 0.8 plus 5 small DCT coefficients (values in [0.63, 0.93])."""
    rng = np.random.default_rng(seed)
    coef = np.zeros((16, 16))
    coef[0, 0] = 0.8 * 16  # the DC term of the constant 0.8 (orthonormal DCT of 256 pixels)
    for i, j in [(0, 1), (1, 0), (2, 1), (1, 3), (3, 2)]:
        coef[i, j] = rng.uniform(0.3, 0.6) * rng.choice([-1, 1])
    return torch.from_numpy(idctn(coef, norm="ortho")).float()[None]


LASSO_BASES = [("lasso", {}), ("lasso-wavelet", {}), ("lasso-wavelet", {"wavelet": "haar", "level": 2})]


@pytest.mark.parametrize("method, options", LASSO_BASES)
def test_lasso_with_the_dc_band_free_beats_the_fully_penalized_one_on_a_bright_image(method, options):
    # 12 Gaussian measurements of 256 bright pixels: penalizing the DC coefficient too shrinks the image towards
    # black (wavelets: cross-validation zeroes everything, MSE 0.64); leaving it free recovers the mean level
    x = bright_image()
    A = parse_measure("gaussian:12", (1, 16, 16), seed=0)
    y = measure(x, A)
    free = recover(y, A, method, truth=x, **options)
    penalized = recover(y, A, method, truth=x, free_dc=False, **options)
    assert free.details["free"] == 1 and penalized.details["free"] == 0
    assert free.mse < 0.01 and free.mse < penalized.mse / 3, (free.mse, penalized.mse)


@pytest.mark.parametrize("method, options", LASSO_BASES)
def test_lasso_with_the_dc_band_free_recovers_the_mean_level(method, options):
    # 20 Gaussian measurements of 256 pixels, 4 bright images (mean 0.8): the recovered mean level is off by at most
    # 0.035 and by 0.025 on average (the fully penalized wavelet Lasso is off by 0.6-0.8 here)
    errors = []
    for seed in range(4):
        x = bright_image(seed)
        A = parse_measure("gaussian:20", (1, 16, 16), seed=10 + seed)
        errors.append(abs(float(recover(measure(x, A), A, method, **options).image.mean() - x.mean())))
    assert max(errors) < 0.035 and np.mean(errors) < 0.025, errors


@pytest.mark.parametrize("shape, m, method, options, band, k", [
    ((1, 16, 16), 40, "lasso", {}, "dc", 1),
    ((3, 8, 8), 40, "lasso", {}, "dc", 3),  # RGB: one DC coefficient per channel
    ((1, 16, 16), 80, "lasso-wavelet", {"wavelet": "haar", "level": 2}, "approximation", 16),  # 4x4 band <= 80 / 4
    ((1, 16, 16), 40, "lasso-wavelet", {"wavelet": "haar", "level": 2}, "constant", 1),  # 16 > 40 / 4: the constant
])
def test_lasso_free_columns_are_unpenalized(shape, m, method, options, band, k):
    # at a huge alpha every penalized coefficient is 0: what is left is the least-squares fit on the free columns
    from generators.inverse.lasso import dct_basis, free_atoms, wavelet_basis

    x = torch.from_numpy(np.random.default_rng(3).uniform(0.3, 0.7, size=shape)).float()
    A = parse_measure(f"gaussian:{m}", shape, seed=4)
    y = measure(x, A)
    r = recover(y, A, method, truth=x, alphas=[1e6], **options)
    assert r.details["free"] == k and r.details["free_band"] == band and r.details["alpha"] == 1e6
    basis = "dct" if method == "lasso" else "wavelet"
    idx, name = free_atoms(shape, basis, m, **options)
    assert name == band
    if band == "constant":
        atoms = np.kron(np.eye(shape[0]), np.ones((shape[1] * shape[2], 1)))
    else:
        atoms = (dct_basis(shape) if basis == "dct" else wavelet_basis(shape, **options))[:, idx]
    a = A.matrix().double().numpy() @ atoms
    expected = atoms @ np.linalg.lstsq(a, y.double().numpy(), rcond=None)[0]
    np.testing.assert_allclose(r.image.numpy().reshape(-1), np.clip(expected, 0, 1), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_prior():
    from generators.inverse import learn_dip_prior

    return learn_dip_prior(squares(4, seed=21, size=16).images, width=8, steps=20, lam=0.05)


def _perturbed(prior, t: float) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    net = prior.network()
    return {n: (prior.mean[n] + t * torch.randn(prior.mean[n].shape, generator=gen)).view_as(p)
            for n, p in net.named_parameters()}


def test_dip_prior_penalty_is_zero_at_the_mean_and_grows_away_from_it(tiny_prior):
    from sklearn.covariance import LedoitWolf

    prior = tiny_prior
    net = prior.network()
    assert {n for n, _ in net.named_parameters()} == set(prior.mean)
    at_mean = prior.penalty({n: prior.mean[n].view_as(p) for n, p in net.named_parameters()})
    assert abs(float(at_mean)) < 1e-6 * float(prior.penalty(dict(net.named_parameters())).detach())
    p1, p2, p3 = (float(prior.penalty(_perturbed(prior, t))) for t in (0.01, 0.02, 0.04))
    assert 0 < p1 < p2 < p3
    assert p2 == pytest.approx(4 * p1, rel=1e-3) and p3 == pytest.approx(4 * p2, rel=1e-3)  # a quadratic form
    # one tensor by hand: Σ is scikit-learn's Ledoit-Wolf covariance of the fitted weights, the penalty dᵀ Σ⁻¹ d
    from generators.inverse.dip import _fit_weights

    name = "body.2.weight"  # the first batch norm's scales: 8 numbers
    fits = []
    for x in squares(4, seed=21, size=16).images:
        net = prior.network()
        fits.append(_fit_weights(torch.from_numpy(x).permute(2, 0, 1).float() / 255, net, prior.z, 20, 5e-3)[name])
    w = torch.stack(fits).double().numpy()
    sigma = LedoitWolf().fit(w).covariance_
    mine = prior.scale[name] * np.eye(8) + (prior.basis[name] * prior.eig[name]).double().numpy() @ prior.basis[name].double().numpy().T
    np.testing.assert_allclose(mine, sigma, rtol=1e-4, atol=1e-9)
    d = _perturbed(prior, 0.01)[name].reshape(-1) - prior.mean[name]
    single = type(prior)(**{**prior.__dict__, "mean": {name: prior.mean[name]}})
    want = float(d.double().numpy() @ np.linalg.solve(sigma, d.double().numpy()))
    assert float(single.penalty(_perturbed(prior, 0.01))) == pytest.approx(want, rel=1e-3)


def test_dip_prior_saves_and_loads_and_refuses_damaged_files(tiny_prior, tmp_path):
    from generators.inverse import load_dip_prior

    folder = tiny_prior.save(tmp_path / "prior")
    assert sorted(p.name for p in folder.iterdir()) == ["prior.json", "prior.safetensors"]
    back = load_dip_prior(folder)
    assert back.lam == tiny_prior.lam and back.shape == tiny_prior.shape and back.width == 8
    assert torch.equal(back.z, tiny_prior.z) and all(torch.equal(back.basis[n], tiny_prior.basis[n]) for n in back.mean)
    params = _perturbed(tiny_prior, 0.01)
    assert float(back.penalty(params)) == pytest.approx(float(tiny_prior.penalty(params)), rel=1e-6)
    with pytest.raises(MeasureError, match="is not a DIP prior: it needs prior.json"):
        load_dip_prior(tmp_path)
    meta = json.loads((folder / "prior.json").read_text())
    meta["width"] = 16
    (folder / "prior.json").write_text(json.dumps(meta))
    with pytest.raises(MeasureError, match="damaged DIP prior"):
        load_dip_prior(folder)


def test_dip_lr_mechanics_and_errors(tiny_prior):
    from generators.inverse import learn_dip_prior

    x = torch.from_numpy(squares(1, seed=5, size=16).images[0]).permute(2, 0, 1).float() / 255
    A = parse_measure("gaussian:30", (1, 16, 16), seed=1)
    y = measure(x, A)
    r = recover(y, A, "dip-lr", truth=x, dip_prior=tiny_prior, steps=40, every=10, seed=0)
    assert r.method == "dip-lr" and r.details["lam"] == 0.05 and r.details["penalty"] > 0 and r.mse is not None
    again = recover(y, A, "dip-lr", dip_prior=tiny_prior, steps=40, every=10, seed=0)
    assert torch.equal(r.image, again.image)
    # a heavy weight pins the weights to the prior's mean: a smaller penalty than a light one
    heavy = recover(y, A, "dip-lr", dip_prior=tiny_prior, steps=40, every=10, lam=100.0)
    light = recover(y, A, "dip-lr", dip_prior=tiny_prior, steps=40, every=10, lam=1e-4)
    assert heavy.details["penalty"] < light.details["penalty"]
    with pytest.raises(MeasureError, match="dip-lr method needs a learned DIP prior"):
        recover(y, A, "dip-lr")
    with pytest.raises(MeasureError, match="only used by the dip-lr method, not by dip"):
        recover(y, A, "dip", dip_prior=tiny_prior)
    B = parse_measure("gaussian:30", (1, 32, 32))
    with pytest.raises(MeasureError, match="learned on 16x16 \\(1 channel\\) images, the operator measures 32x32"):
        recover(torch.zeros(30), B, "dip-lr", dip_prior=tiny_prior)
    with pytest.raises(MeasureError, match="at least 3 training images"):
        learn_dip_prior(squares(2, size=16).images, width=8, steps=5, lam=1.0)
    # λ by leave-one-out validation: a grid, one MSE per λ, the lowest kept
    chosen = learn_dip_prior(squares(3, seed=2, size=16).images, width=8, steps=10, lams=(1e-3, 10.0), n_val=1,
                             dip_steps=20, val_measure="gaussian:20")
    val = chosen.info["validation_mse"]
    assert set(val) == {"0.001", "10"} and chosen.lam == min((1e-3, 10.0), key=lambda v: val[f"{v:g}"])
    assert chosen.info["lam_chosen_by"].startswith("leave-one-out")


@pytest.mark.slow
def test_dip_lr_beats_plain_dip_at_few_measurements():
    # 8 training squares, 4 test squares of 16x16, 20 Gaussian measurements; the mean MSE over the 4
    from generators.inverse import learn_dip_prior

    prior = learn_dip_prior(squares(8, seed=21, size=16).images, width=8, steps=150, lam=0.01)
    plain, learned = [], []
    for i, img in enumerate(squares(4, seed=5, size=16).images):
        x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
        A = parse_measure("gaussian:20", (1, 16, 16), seed=i)
        y = measure(x, A)
        plain.append(recover(y, A, "dip", truth=x, steps=200, width=8, seed=i).mse)
        learned.append(recover(y, A, "dip-lr", truth=x, steps=200, seed=i, dip_prior=prior).mse)
    assert np.mean(learned) < 0.95 * np.mean(plain), (learned, plain)


def test_cli_dip_prior_and_new_methods_round_trip(tmp_path, capsys, monkeypatch):
    from functools import partial

    from generators.inverse import dip

    monkeypatch.setattr(dip, "deep_image_prior", partial(dip.deep_image_prior, steps=30, every=10))  # a quick run
    files = []
    for i, img in enumerate(squares(4, seed=21, size=16).images):
        _png(tmp_path / f"t{i}.png", img)
        files.append(str(tmp_path / f"t{i}.png"))
    code = main(["dip-prior", "--images", *files[:3], "--steps", "10", "--lam", "0.02", "-o", str(tmp_path / "prior")])
    assert code == 0, capsys.readouterr().err
    assert "lambda 0.02 (given)" in capsys.readouterr().out
    js = tmp_path / "r.json"
    code = main(["recover", "--image", files[3], "--measure", "gaussian:30", "--method", "dip-lr", "--dip-prior",
                 str(tmp_path / "prior"), "-o", str(tmp_path / "r.png"), "--json", str(js)])
    assert code == 0, capsys.readouterr().err
    rec = json.loads(js.read_text())
    assert rec["method"] == "dip-lr" and rec["details"]["lam"] == 0.02 and rec["dip_prior"] == str(tmp_path / "prior")
    assert np.asarray(Image.open(tmp_path / "r.png")).shape == (16, 16)
    code = main(["recover", "--image", files[3], "--measure", "gaussian:60", "--method", "lasso-wavelet",
                 "-o", str(tmp_path / "w.png"), "--json", str(tmp_path / "w.json")])
    assert code == 0, capsys.readouterr().err
    rec = json.loads((tmp_path / "w.json").read_text())
    assert rec["method"] == "lasso-wavelet" and rec["details"]["wavelet"] == "db4" and 0 <= rec["mse"] < 0.1
    # a built-in dataset as the training images
    code = main(["dip-prior", "--dataset", "morpho-glyphs", "-n", "3", "--size", "16", "--steps", "5", "--lam", "1",
                 "-o", str(tmp_path / "p2")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "p2" / "prior.json").read_text())["shape"] == [1, 16, 16]


@pytest.mark.parametrize("argv, message", [
    (["recover", "--measure", "gaussian:10", "--method", "dip-lr"], "--method dip-lr needs --dip-prior PRIOR_DIR"),
    (["recover", "--measure", "gaussian:10", "--method", "lasso", "--dip-prior", "p"], "only used by --method dip-lr"),
    (["recover", "--measure", "gaussian:10", "--method", "dip-lr", "--dip-prior", "nope"], "is not a DIP prior"),
    (["dip-prior", "-o", "p"], "either as --images FILE.png ... or as --dataset NAME"),
    (["dip-prior", "--dataset", "nope", "-o", "p"], "unknown image dataset 'nope'"),
])
def test_cli_dip_lr_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "x.png", squares(1, size=16).images[0])
    extra = ["--image", "x.png", "-o", "o.png"] if argv[0] == "recover" else []
    code = main([*argv, *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "p").exists()


def test_page_offers_the_new_methods_and_recovers_by_lasso_wavelet_and_dip_lr(tmp_path, monkeypatch):
    from app.logic import inverse as logic

    monkeypatch.setattr(logic, "PRIOR_STEPS", 5)  # a quick prior: the page's mechanics, not its quality
    at = _page(tmp_path, monkeypatch)
    at.selectbox(key="inverse-method").set_value("lasso-wavelet").run()
    at.button(key="inverse-go").click().run()
    assert not at.exception, at.exception
    text = _shown(at)
    assert "Per-pixel MSE" in text and "--method lasso-wavelet" in text, text
    assert "recovery (lasso-wavelet)" in [c for im in at.get("image") for c in im.captions]
    # dip-lr: a prior learned from other images of the pool, then the recovery, and how to do it from the CLI
    from generators.inverse import dip

    from functools import partial

    monkeypatch.setattr(dip, "deep_image_prior", partial(dip.deep_image_prior, steps=20, every=10))
    at.selectbox(key="inverse-method").set_value("dip-lr").run()
    at.button(key="inverse-go").click().run()
    assert not at.exception, at.exception
    text = _shown(at)
    assert "Per-pixel MSE" in text and "--method dip-lr --dip-prior PRIOR_DIR" in text and "dip-prior --images" in text, text
