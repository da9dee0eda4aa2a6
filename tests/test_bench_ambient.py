"""The AmbientGAN benchmark's classical baselines (bench/ambient.py): what arm (c) trains on."""

from __future__ import annotations

import numpy as np
import pytest

from bench.ambient import Sizes, deconvolve, restore
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
