"""The AmbientGAN benchmark's classical baselines (bench/ambient.py): what arm (c) trains on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.ambient import (DIGIT, MORPHO, MissingData, Sizes, deconvolve, existing_sub, load_data, main, markdown, readback,
                           restore, run, train_features, verdict, write_sub)
from causal import images as imd
from generators.inverse.ambient import lossy


@pytest.fixture(scope="module")
def faces():
    return imd.load("faces", n=48, seed=0, size=32).data


def mse(a, b) -> float:
    return float(((a.floats() - b.floats()) ** 2).mean())


def test_deconvolution_undoes_the_measurements_blur(faces):
    """Blur alone (the 8-bit rounding the only noise): the zero-padded blur is modelled, so
    the borders come back too; at least 5x closer to the truth than the blurred images."""
    blurred = lossy(faces, "blur:1", seed=1)
    assert mse(deconvolve(blurred, 1.0, 0.0), faces) < mse(blurred, faces) / 5


def test_with_noise_the_discrepancy_principle_regularizes(faces):
    """Blur plus noise of sd 0.1: the restoration is closer to the truth than the measurement
    (by at least a third), where an unregularized inverse would amplify the noise."""
    measured = lossy(faces, "blur:1+noise:0.1", seed=1)
    restored = restore(measured, faces, Sizes(spec="blur:1+noise:0.1"))
    assert np.isfinite(mse(restored, faces)) and mse(restored, faces) < 0.67 * mse(measured, faces)


# ---------------------------------------------------------------------- Morpho-MNIST (bench/ambient.py --dataset morpho-mnist)
needs_morpho = pytest.mark.skipif(not MORPHO.is_dir(), reason=f"Morpho-MNIST not at {MORPHO}")
TINY = Sizes(dataset="morpho-mnist", n_train=64, n_test=32, n_samples=32, steps=2, n_classifier=400, classifier_steps=80)


def test_morpho_without_its_folder_is_skipped_with_a_message(tmp_path, monkeypatch, capsys):
    with pytest.raises(MissingData, match="Morpho-MNIST not found"):
        load_data(TINY, tmp_path / "absent")
    doc = tmp_path / "b.md"
    monkeypatch.setattr("sys.argv", ["ambient.py", "--dataset", "morpho-mnist", "--quick", "--morpho", str(tmp_path / "absent"),
                                     "--results", str(tmp_path / "r.json"), "--out", str(doc)])
    main()  # returns: nothing trained, nothing written
    assert "Morpho-MNIST not found" in capsys.readouterr().err and not doc.exists() and not (tmp_path / "r.json").exists()


@needs_morpho
def test_morpho_split_and_the_digit_cnn():
    """Training digits first, test digits last, the CNN's in between (disjoint); the GAN sees the
    two morphometrics only; the 10-way CNN trained on 400 digits for 80 steps reads the test
    digits' class far above chance (0.1): at least 0.5 (0.70-0.75 over seeds on 200 digits)."""
    graph, train, test, extra, columns = load_data(TINY)
    assert columns == [DIGIT] and list(train.labels.columns) == ["thickness", "intensity"]
    assert train.images.shape[1:] == test.images.shape[1:] == (32, 32, 1)
    assert (len(train), len(test), len(extra)) == (64, 32, 400)
    assert list(test.labels.index) == list(range(10_000 - 32, 10_000)) and list(extra.labels.index)[0] == 64
    assert set(graph.nodes) >= {"thickness", "intensity", "image"}
    cnn = train_features(extra, columns, TINY.classifier_steps, seed=0)
    assert cnn.features(test)[0].shape == (32, 128)
    assert readback(cnn, test, columns) >= 0.5


@needs_morpho
def test_morpho_end_to_end_and_its_subsection(tmp_path):
    """One arm at tiny sizes: no CNN read-back for continuous labels but their errors measured off
    the pixels, the samples kept; the sub-section goes inside the
    faces' section and survives a rewrite of it."""
    out = run(replace(TINY, classifier_steps=5, n_classifier=64), tmp_path / "r.json", ("ambient",))
    assert out["arms"]["ambient"]["readback"] is None and np.isfinite(out["arms"]["ambient"]["fd"])
    assert verdict(out)[1] is None  # (b) and (c) not run
    text = markdown(out, "cmd", None, None)
    m, floor = out["arms"]["ambient"]["measured"], out["floor"]["measured"]
    assert set(m) == set(floor) == {"thickness", "intensity"} and all(np.isfinite(v) and v >= 0 for v in (*m.values(), *floor.values()))
    assert floor["intensity"] < 5.0  # Morpho-MNIST's own intensity measure, on real digits, reproduces their labels
    assert (tmp_path / "r-ambient.npy").exists() and np.load(tmp_path / "r-ambient.npy").dtype == np.uint8
    assert "### Morpho-MNIST" in text and "| (a) AmbientGAN on the lossy images |" in text
    assert f"| {m['thickness']:.3f} / {m['intensity']:.1f} |" in text
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\n<!-- ambient:start -->\nfaces\n<!-- ambient:end -->\n\n<!-- other:start -->\n<!-- other:end -->\n")
    write_sub(doc, text)
    body = doc.read_text()
    assert body.index("faces") < body.index("### Morpho-MNIST") < body.index("<!-- ambient:end -->") < body.index("other:start")
    write_sub(doc, text)  # again: replaced in place
    assert doc.read_text().count("### Morpho-MNIST") == 1 and existing_sub(doc) == text
