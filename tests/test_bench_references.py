"""bench/references.py: the plug-in reference (true mechanisms, noise resampled from the fit
rows) behaves as its definition says."""

from __future__ import annotations

import numpy as np

from bench.references import PlugIn
from causal import datasets
from causal.queries import sample


def test_plug_in_noise_is_the_fit_rows_abducted_noise():
    ds = datasets.load("chain5-lin", n=4000, seed=3)
    plug = PlugIn(ds.scm, ds.data, knots=257)
    # x1 = u1: its noise quantiles are the data's own quantiles of x1
    np.testing.assert_allclose(plug.knots["x1"], np.quantile(ds.data["x1"], np.linspace(0, 1, 257)))
    # x2 = 10·x1 + u2 (as causal.datasets writes it): abducted u2 = x2 − 10·x1, exactly
    np.testing.assert_allclose(plug.knots["x2"], np.quantile(ds.data["x2"] - 10 * ds.data["x1"], np.linspace(0, 1, 257)),
                               atol=1e-9)


def test_plug_in_samples_obey_the_true_mechanisms_and_the_intervention():
    ds = datasets.load("loan", n=3000, seed=0)
    plug = PlugIn(ds.scm, ds.data)
    assert "A" not in plug.knots  # a binary node keeps its true noise
    s = sample(plug, 20_000, do={"income": 1.0}, seed=1)
    assert (s["income"] == 1.0).all()
    truth = ds.scm.sample(20_000, do={"income": 1.0}, seed=2)
    for col in ("savings", "age", "amount"):  # interventional means within sampling error (5 se)
        se = np.sqrt(s[col].var() / len(s) + truth[col].var() / len(truth))
        assert abs(s[col].mean() - truth[col].mean()) < 5 * se, col
