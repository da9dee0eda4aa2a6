"""The inverse-problems benchmark (bench/inverse.py) on the built-in RGB faces and pendulum: the
split, one tiny cell of every method on 3 x 32 x 32 images, the RGB grid, the section's faces
lines, ``--datasets pendulum``, and noisy compressed sensing kept in cells and a table of its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.inverse import (
    DEFAULT,
    QUICK,
    TEST_POOL,
    Sizes,
    as_tensor,
    datasets,
    evaluate,
    markdown,
    run_problem,
)
from generators import build_model
from generators.training import TrainConfig, cpu_threads

SHAPE = (3, 32, 32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the benchmark runs (two spin against each other on a busy machine)."""
    with cpu_threads(1):
        yield


@pytest.fixture(scope="module")
def faces():
    return datasets(48, 8, only=("faces",))["faces"]


@pytest.fixture(scope="module")
def tiny_faces_model(faces):
    """CCGM with small networks on 48 faces for 20 steps: a generator of the faces' shape and
    labels, not a good one."""
    graph, train, _ = faces
    model = build_model("ccgm", graph, hidden=8, steps=20, width=8, style_dim=2,
                        image_train=TrainConfig(steps=20, batch_size=16, lr=1e-2, val_fraction=0.1))
    model.fit(train, seed=0)
    return model


def test_faces_are_rgb_held_out_after_the_training_images_and_only_on_request(faces):
    graph, train, test = faces
    assert train.images.shape == (48, 32, 32, 3) and test.images.shape == (8, 32, 32, 3)
    assert train.images.dtype == np.uint8 and as_tensor(test.images[0]).shape == SHAPE
    assert graph.kind("image") == "image" and list(train.labels.columns) == list(test.labels.columns)
    # one draw of 56 faces split in order: the test faces are the draw's last 8, none of them a training face
    from causal import images as imd

    whole = imd.load("faces", n=56, seed=0, size=32).data.images
    assert np.array_equal(whole[:48], train.images) and np.array_equal(whole[48:], test.images)
    assert not any(np.array_equal(t, x) for t in test.images for x in train.images)
    assert "faces" not in DEFAULT and TEST_POOL == 200


def test_every_method_runs_one_cell_on_rgb(faces, tiny_faces_model):
    """One test face, noise-free: every method returns a finite per-pixel MSE below the black
    image's (the face's mean squared value) on 4x super-resolution (m = 3 x 8 x 8 = 192), and
    Gaussian measurements mix the 3,072 values for the generator and Lasso-DCT."""
    from generators.inverse import learn_dip_prior, parse_measure

    _, train, test = faces
    x = as_tensor(test.images[0])
    black = float((x**2).mean())
    assert parse_measure("down:4", SHAPE).m == 192 and parse_measure("mask:random:0.5", SHAPE).m == 3 * 512
    prior = learn_dip_prior(train.images[:3], width=8, steps=10, lam=0.01, seed=0)
    for method in ("generator", "dip", "dip-lr", "lasso", "lasso-wavelet"):
        r = run_problem(tiny_faces_model if method == "generator" else None, x, "down:4", method, 0, 0.0,
                        dip_steps=30, prior=prior if method == "dip-lr" else None)
        assert np.isfinite(r["mse"]) and r["mse"] < black and r["seconds"] > 0, (method, r, black)
    for method in ("generator", "lasso"):
        r = run_problem(tiny_faces_model if method == "generator" else None, x, "gaussian:300", method, 0, 0.0)
        assert np.isfinite(r["mse"]) and r["mse"] < black, (method, r, black)


def test_faces_run_end_to_end_on_its_rgb_grid_and_write_their_lines(faces, tiny_faces_model, tmp_path):
    """evaluate on faces with a cached tiny generator: the RGB grid (rgb_ms), the image shape in
    the results, and the section's faces lines: pixel values, the restore table's m counted per
    channel, the same-fraction CSGM target, and the faces no longer listed as not measured."""
    sizes = replace(QUICK, n_train=48, n_test=1, ms=(999,), rgb_ms=(40, 200), restore=("down:4",), n_restore=1, steps=7,
                    dip_steps=10, lr_ms=(40,), n_prior=2, prior_steps=5)
    tiny_faces_model.save(tmp_path / "faces-ccgm-7")  # what `trained` loads instead of training
    results = tmp_path / "r.json"
    out = evaluate(sizes, tmp_path, results, ("repr", "cs", "restore"), ("faces",),
                   methods=("generator", "dip", "lasso", "lasso-wavelet"))
    entry = out["faces"]
    assert list(out) == ["faces"] and entry["shape"] == list(SHAPE) and len(entry["repr"]) == 1
    assert sorted(entry["cs"]) == sorted(f"gaussian:{m}|{meth}" for m in (40, 200)
                                         for meth in ("generator", "dip", "lasso", "lasso-wavelet"))
    assert all(len(v) == 1 and np.isfinite(v[0]["mse"]) for v in [*entry["cs"].values(), *entry["restore"].values()])
    assert results.exists()
    text = markdown({**out, "faces": {**entry, "cs": {**entry["cs"], "gaussian:600|lasso": [{"mse": 1.0, "seconds": 1.0}],
                                                      "gaussian:600|generator": [{"mse": 0.5, "seconds": 1.0}]}}},
                    sizes, "cmd", None)
    assert "### faces" in text and "3,072 pixel values" in text and "1,024 pixels" not in text
    assert "| down:4 | 192 |" in text
    assert "Lasso's error at m = 600" in text and "m ≤ 120" in text
    assert "faces (RGB)" not in text and "the pendulum dataset" in text and "DIP-LR on faces" in text


def test_grey_results_without_a_shape_read_as_1024_pixels():
    """Results JSON from before the shape was recorded (the morpho rounds): grey 32 px, as before."""
    rows = [{"mse": 0.01, "seconds": 1.0}, {"mse": 0.02, "seconds": 1.0}]
    out = {"morpho-glyphs": {"fit_s": 1.0, "n_train": 10, "repr": [], "cs": {"gaussian:200|lasso": rows},
                             "restore": {"down:4|lasso": rows}, "baseline": {"black": [0.05, 0.06], "mean": [0.03, 0.04]}}}
    text = markdown(out, Sizes(), "cmd", None)
    assert "1,024 pixels" in text and "| down:4 | 64 |" in text and "pixel values" not in text
    assert "the faces (RGB) and pendulum datasets" in text and "black image's error" not in text
    assert "DC coefficient of each channel left unpenalized" in text  # the Lasso the cells ran (free_dc)
    noted = markdown(out, Sizes(), "cmd", None, note="Reading: a note.")
    assert "\nReading: a note.\n\nNot measured" in noted and "Reading" not in text


@pytest.fixture(scope="module")
def pendulum():
    return datasets(32, 4, only=("pendulum",))["pendulum"]


def test_pendulum_is_rgb_only_on_request_and_accepted_by_the_cli(pendulum, tmp_path):
    """Pendulum loads like faces (built in, 3 x 32 x 32, held out after the training images, not a
    default dataset) and ``--datasets pendulum`` is accepted (here writing the section from a JSON)."""
    import json
    import subprocess
    import sys

    from bench.inverse import DATASETS, ROOT

    graph, train, test = pendulum
    assert "pendulum" in DATASETS and "pendulum" not in DEFAULT
    assert train.images.shape == (32, 32, 32, 3) and test.images.shape == (4, 32, 32, 3)
    assert as_tensor(test.images[0]).shape == SHAPE and graph.kind("image") == "image"
    rows = [{"mse": 0.01, "seconds": 1.0}]
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"pendulum": {"fit_s": 1.0, "n_train": 32, "shape": list(SHAPE), "repr": [],
                                                "cs": {"gaussian:200|lasso": rows}, "restore": {}}}))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "inverse.py"), "--datasets", "pendulum", "--markdown-only",
                           "--results", str(results)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "### pendulum" in done.stdout and "3,072 pixel values" in done.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "inverse.py"), "--noise", "0.01", "--parts", "restore",
                          "--results", str(results)], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode != 0 and "--parts cs" in bad.stderr


def test_noisy_cells_are_kept_apart_and_tabled_beside_the_noise_free_ones(pendulum, tmp_path):
    """``Sizes.noise`` > 0 (``--noise``): evaluate writes the cells under ``cs_noise`` with the noise
    level and nothing else a noise-free run computes; the markdown gives them a table of their own
    with the same images' noise-free MSE, and the section no longer lists noisy measurements as missing."""
    graph, train, _ = pendulum
    model = build_model("ccgm", graph, hidden=8, steps=5, width=8, style_dim=2,
                        image_train=TrainConfig(steps=5, batch_size=16, lr=1e-2, val_fraction=0.1))
    model.fit(train, seed=0)
    model.save(tmp_path / "pendulum-ccgm-7")
    sizes = replace(QUICK, n_train=32, n_test=1, ms=(40,), rgb_ms=(40,), steps=7, lr_ms=(40,), noise=0.01)
    results = tmp_path / "noisy.json"
    out = evaluate(sizes, tmp_path, results, ("cs",), ("pendulum",), methods=("generator", "lasso"))
    entry = out["pendulum"]
    assert entry["noise"] == 0.01 and entry["cs"] == {} and "baseline" not in entry
    assert sorted(entry["cs_noise"]) == ["gaussian:40|generator", "gaussian:40|lasso"]
    assert all(len(v) == 1 and np.isfinite(v[0]["mse"]) for v in entry["cs_noise"].values())
    with pytest.raises(ValueError, match="noise sd 0.01"):
        evaluate(replace(sizes, noise=0.1), tmp_path, results, ("cs",), ("pendulum",), methods=("lasso",))
    # the noisy run's first image: the same test image and A as a noise-free run's, only y differs
    clean = run_problem(None, as_tensor(pendulum[2].images[0]), "gaussian:40", "lasso", 0, 0.0)
    text = markdown({"pendulum": {**entry, "cs": {"gaussian:40|lasso": [clean]}}}, sizes, "cmd", None)
    assert "Compressed sensing with measurement noise sd 0.01" in text
    assert "| m | generator | Lasso-DCT | s: generator / Lasso-DCT |" in text
    assert f"({clean['mse']:.4f})" in text or f"({clean['mse']:.1e})" in text  # the noise-free MSE beside the noisy one
    assert "pendulum (sd 0.01)" in text and "noisy measurements" not in text and "the faces dataset" in text
    assert "noisy measurements" in markdown({"pendulum": {**entry, "cs_noise": {}}}, sizes, "cmd", None)
    both = markdown({"faces": {**entry, "cs_noise": {}}, "pendulum": entry}, sizes, "cmd", None)
    assert "GPU times, DIP-LR on faces" in both and ", ," not in both  # every built-in RGB dataset measured


@pytest.mark.slow
def test_quick_mode_runs_on_pendulum(tmp_path):
    """``bench/inverse.py --quick --datasets pendulum``: trains the quick generator and writes the
    pendulum lines (about a minute on one thread)."""
    import json
    import subprocess
    import sys

    from bench.inverse import ROOT

    results = tmp_path / "quick.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "inverse.py"), "--quick", "--datasets", "pendulum",
                           "--parts", "cs", "--methods", "generator", "lasso", "--models-dir", str(tmp_path),
                           "--results", str(results)], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    entry = json.loads(results.read_text())["pendulum"]
    assert entry["shape"] == list(SHAPE) and sorted(entry["cs"]) == sorted(
        f"gaussian:{m}|{meth}" for m in QUICK.rgb_ms for meth in ("generator", "lasso"))
    assert "### pendulum" in done.stdout and "CSGM target" in done.stdout
