"""bench/morpho_scm.py at its --quick sizes on a tiny synthetic stand-in for Morpho-MNIST (bars of
known thickness and intensity in the files' own formats), and the Deep SCM equation it scores against."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import morpho_scm as ms  # noqa: E402


def write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


def fake_morpho(folder: Path, n: int = 200, seed: int = 0) -> Path:
    """``n`` 28 px images of a vertical bar whose width follows the thickness and whose grey
    level is the intensity, labels from Deep SCM's equations, random digit classes."""
    rng = np.random.default_rng(seed)
    t = 0.5 + rng.gamma(10, 0.2, n)
    i = ms.scm_intensity(t, rng.standard_normal(n))
    imgs = np.zeros((n, 28, 28), np.uint8)
    for k in range(n):
        w = max(1, round(2 * t[k]))
        c = 14 + rng.integers(-4, 5)
        imgs[k, 4:24, c - w // 2 : c - w // 2 + w] = round(i[k])
    folder.mkdir(parents=True)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", imgs)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    pd.DataFrame({"index": np.arange(n), "thickness": t, "intensity": i}).to_csv(folder / "t10k-morpho.csv", index=False)
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_equation_round_trip_and_intensity_measure():
    rng = np.random.default_rng(1)
    t, u = 0.5 + rng.gamma(10, 0.2, 1000), rng.standard_normal(1000)
    i = ms.scm_intensity(t, u)
    assert np.all((i > 64) & (i < 255))
    np.testing.assert_allclose(ms.abduct_u(t, i), u, atol=1e-6)
    check = ms.equation_check(pd.DataFrame({"thickness": t, "intensity": i}))
    # a least-squares refit on 1,000 rows (noise sd 0.5 on the logit scale): within 0.1 of (2, -5)
    assert abs(check["slope"] - 2) < 0.1 and abs(check["intercept"] + 5) < 0.3 and abs(check["u_sd"] - 1) < 0.1
    # Morpho-MNIST's intensity: the median of the pixels above half the range; scaling sets it
    img = np.zeros((2, 8, 8, 1))
    img[:, 2:6, 3:5] = [[[[100.0]]], [[[200.0]]]]
    img[:, 2, 3] = 50.0  # below half the range: not counted
    np.testing.assert_allclose(ms.measured_intensity(img), [100.0, 200.0])


def test_quick_run_on_a_synthetic_stand_in(tmp_path, capsys):
    data = fake_morpho(tmp_path / "mm")
    out_md = tmp_path / "bench.md"
    out_md.write_text("# Benchmarks\n")
    rc = ms.main(["--quick", "--data", str(data), "--json", str(tmp_path / "r.json"), "--out", str(out_md)])
    assert rc == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["n"] == [100, 80, 20]
    assert [m["name"] for m in res["models"]] == ["ccgm", "causal-gan"]
    for m in res["models"]:
        assert len(m["do"]) == 6 and len(m["cf"]) == 4
        assert all(np.isfinite(r["set_mae"]) and 0 <= r["digit"] <= 1 for r in m["do"])
        assert all(r["digit_label_kept"] for r in m["cf"])  # the digit is not a descendant of what is done
        assert Path(m["png"]).is_file() and Path(m["png"]).parent == tmp_path
    text = out_md.read_text()
    assert "<!-- morpho_scm:start -->" in text and "<!-- morpho_scm:end -->" in text
    assert "--quick sizes: not comparable" in text
    # one model per process, then --merge, gives the same rows
    md2 = tmp_path / "merged.md"
    assert ms.main(["--merge", str(tmp_path / "r.json"), "--out", str(md2)]) == 0
    assert "| ccgm |" in md2.read_text() and "| causal-gan |" in md2.read_text()


def test_skips_cleanly_without_the_data(tmp_path, capsys):
    assert ms.main(["--quick", "--data", str(tmp_path / "absent"), "--json", str(tmp_path / "r.json")]) == 0
    assert "skipped" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
