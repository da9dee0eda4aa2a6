"""AmbientGAN: random measurements drawn afresh per image, lossy data, training CausalGAN through
them, the setting through settings, checkpoints and the CLI, and clear errors for bad specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from causal import images
from causal.sources import BuiltinImages, source_from_dict
from generators import build_model, load_model, make_config, parse_settings, settings_of
from generators.image.causal_gan import CausalGANConfig
from generators.inverse.ambient import Ambient, lossy, parse_ambient
from generators.inverse.operators import Blur, MeasureError

TINY = dict(steps=6, batch_size=16, width=8, labeler_width=4, z_dim=8, pretrain_labeler=3)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_dropout_is_fresh_per_image_with_the_stated_fraction():
    x = torch.ones(256, 3, 32, 32)
    m = parse_ambient("dropout:0.9")
    y = m(x, gen(0))
    dropped = (y == 0).float()
    # 262,144 pixel draws: the dropped fraction's sd is 0.0006; tolerance 0.005
    assert abs(dropped[:, 0].mean().item() - 0.9) < 0.005
    assert torch.equal(dropped[:, 0], dropped[:, 1]) and torch.equal(dropped[:, 0], dropped[:, 2])  # a pixel drops whole
    masks = dropped[:, 0].flatten(1)
    assert len(torch.unique(masks, dim=0)) == 256  # every image its own mask
    assert not torch.equal(m(x, gen(0)), m(x, gen(1)))
    assert torch.equal(m(x, gen(0)), y)  # the same seed, the same draws
    g = gen(0)
    assert not torch.equal(m(x, g), m(x, g))  # every call a new draw


def test_blur_and_noise_have_the_stated_statistics():
    x = torch.full((64, 1, 32, 32), 0.5)
    m = parse_ambient("blur:1+noise:0.05")
    assert (m.blur, m.noise, m.dropout) == (1.0, 0.05, 0.0)
    y = m(x, gen(0))
    clean = Blur((1, 32, 32), 1.0).forward(x).view_as(x)
    resid = (y - clean)[:, :, 4:-4, 4:-4]  # away from the zero-padded border (no clipping at 0.5 ± 5 sd)
    assert abs(resid.std().item() - 0.05) < 0.0025 and abs(resid.mean().item()) < 0.002
    r = resid.flatten(1)
    assert abs(np.corrcoef(r[0].numpy(), r[1].numpy())[0, 1]) < 0.1  # independent noise per image
    assert y.min() >= 0 and y.max() <= 1


def test_gaussian_projections_draw_a_matrix_per_image():
    x = torch.rand(1, 1, 16, 16).repeat(2000, 1, 1, 1)
    y = parse_ambient("gaussian:20")(x, gen(0))
    assert y.shape == (2000, 20)
    assert not torch.allclose(y[0], y[1])
    # entries N(0, 1/M): E[y_i²] = ‖x‖² / M; 40,000 draws, tolerance 5%
    expected = (x[0] ** 2).sum().item() / 20
    assert abs((y**2).mean().item() / expected - 1) < 0.05


def test_measurement_is_differentiable_and_none_is_the_identity():
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    m = parse_ambient("dropout:0.5")
    y = m(x, gen(0))
    y.sum().backward()
    assert torch.equal(x.grad != 0, y.detach() != 0)  # gradient reaches the kept pixels only
    none = parse_ambient("none")
    assert not none.active and none(x) is x and none == Ambient()


@pytest.mark.parametrize("spec, message", [
    ("dropout:1.5", "0 < P < 1"),
    ("dropout:abc", "must be a number"),
    ("blur:-1", "positive width"),
    ("noise:0", "positive standard deviation"),
    ("mask:random:0.5", "unknown ambient measurement part"),
    ("gaussian:2.5", "whole number"),
    ("gaussian:10+dropout:0.5", "combines with noise only"),
    ("dropout:0.5+dropout:0.2", "twice"),
    ("dropout:nan", "finite"),
])
def test_bad_specs_are_refused_clearly(spec, message):
    with pytest.raises(MeasureError, match=message):
        parse_ambient(spec)
    with pytest.raises(ValueError, match=message):
        make_config("causal-gan", ambient=spec)


def test_projections_are_refused_for_training_with_the_reason():
    with pytest.raises(ValueError, match="projections are vectors"):
        CausalGANConfig(ambient="gaussian:100")


def test_lossy_data_keep_labels_and_drop_pixels():
    data = images.load("faces", n=200, seed=0).data
    white = data.with_images(np.full_like(data.images, 255))
    out = lossy(white, "dropout:0.9", seed=3)
    assert out.labels.equals(data.labels) and out.images.shape == data.images.shape
    assert abs((out.images.max(-1) == 0).mean() - 0.9) < 0.01  # 204,800 pixels
    assert np.array_equal(out.images, lossy(white, "dropout:0.9", seed=3).images)
    assert not np.array_equal(out.images, lossy(white, "dropout:0.9", seed=4).images)
    assert lossy(data, "none") is data
    with pytest.raises(MeasureError, match="vectors"):
        lossy(data, "gaussian:10")


def test_builtin_images_source_can_be_lossy():
    src = BuiltinImages("morpho-glyphs", rows=50, seed=1, lossy="Dropout:0.9")
    assert src.lossy == "dropout:0.9" and "dropout:0.9" in src.describe()
    assert source_from_dict(src.to_dict()) == src
    assert source_from_dict({k: v for k, v in src.to_dict().items() if k != "lossy"}).lossy == "none"  # old records
    clean, seen = BuiltinImages("morpho-glyphs", rows=50, seed=1).load(), src.load()
    assert seen.labels.equals(clean.labels) and (seen.images <= clean.images).all()
    assert (seen.images == 0).mean() > 0.9 * 0.9
    with pytest.raises(ValueError, match="0 < P < 1"):
        BuiltinImages("faces", lossy="dropout:2")


def test_setting_is_listed_and_parsed():
    assert "ambient" in {s.name for s in settings_of("causal-gan")}
    assert parse_settings("causal-gan", {"ambient": "blur:1+noise:0.1"}) == {"ambient": "blur:1+noise:0.1"}


def test_none_never_measures(monkeypatch):
    """The default trains exactly as before: the measurement is never drawn."""
    def boom(*a, **k):
        raise AssertionError("measured with ambient=none")

    monkeypatch.setattr(Ambient, "__call__", boom)
    ds = images.load("faces", n=48, seed=0)
    m = build_model("causal-gan", ds.graph, make_config("causal-gan", **TINY))
    m.fit(ds.data, seed=0)
    ref = build_model("causal-gan", ds.graph, make_config("causal-gan", ambient="none", **TINY))
    ref.fit(ds.data, seed=0)
    for a, b in zip(m.image_net.state_dict().values(), ref.image_net.state_dict().values()):
        assert torch.equal(a, b)


def test_ambient_fit_measures_generated_images_and_reloads(tmp_path, monkeypatch):
    calls = []
    real = Ambient.__call__

    def spy(self, x, generator=None):
        calls.append(x.shape[0])
        return real(self, x, generator)

    monkeypatch.setattr(Ambient, "__call__", spy)
    ds = images.load("faces", n=64, seed=0)
    data = lossy(ds.data, "dropout:0.9", seed=0)
    m = build_model("causal-gan", ds.graph, make_config("causal-gan", ambient="dropout:0.9", **TINY))
    m.fit(data, seed=0)
    assert len(calls) >= TINY["steps"] and set(calls) >= {16}  # a measured batch of generated images per step
    m.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.config.ambient == "dropout:0.9"
    s1, s2 = m.sample(8, seed=1), back.sample(8, seed=1)
    assert np.array_equal(s1.images, s2.images)


def test_cli_trains_ambient_gan_on_lossy_builtin_images(tmp_path, capsys):
    out = tmp_path / "amb"
    code = main(["train", "--images", "faces", "-n", "64", "--lossy", "dropout:0.9", "--model", "causal-gan",
                 "--set", "ambient=dropout:0.9", "--set", "steps=4", "--set", "pretrain_labeler=2", "--set", "width=8",
                 "--set", "batch_size=16", "-q", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert load_model(out).config.ambient == "dropout:0.9"
    capsys.readouterr()
    assert main(["train", "--dataset", "loan", "--lossy", "dropout:0.5", "--out", str(tmp_path / "x")]) == 2
    assert "--lossy measures a built-in image dataset" in capsys.readouterr().err
    assert main(["train", "--images", "faces", "--model", "causal-gan", "--set", "ambient=gaussian:50",
                 "--out", str(tmp_path / "y")]) == 2
    assert "projections are vectors" in capsys.readouterr().err
    assert main(["train", "--images", "faces", "--lossy", "blur:0", "--out", str(tmp_path / "z")]) == 2
    assert "blur:SIGMA needs a positive width" in capsys.readouterr().err


def test_data_and_train_pages_offer_lossy_images_and_ambient_gan(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app.logic import data as dp
    from app.logic.train import spec_for_session
    from app.workspace import Workspace

    monkeypatch.setenv("COUNTERFACTORY_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "main.py"), default_timeout=30).run()
    at.switch_page("views/data.py").run()
    at.radio(key="data-source").set_value("Built-in images").run()
    at.selectbox(key="data-images").set_value("morpho-glyphs")
    at.number_input(key="data-images-n").set_value(100)
    at.text_input(key="data-images-lossy").set_value("dropout:2").run()
    assert any("0 < P < 1" in e.value for e in at.error) and not at.exception
    at.text_input(key="data-images-lossy").set_value("dropout:0.9").run()
    assert not at.exception and not at.error
    assert at.session_state[dp.STATE_KEY]["lossy"] == "dropout:0.9"
    assert any("seen through `dropout:0.9`" in i.value for i in at.info)
    at.switch_page("views/train.py").run()
    at.selectbox(key="train-kind-images").set_value("causal-gan").run()
    assert not at.exception
    assert any("seen through `dropout:0.9`" in m.value for m in at.markdown)
    assert at.text_input(key="train-causal-gan-ambient-dropout:0.9").value == "dropout:0.9"
    spec = spec_for_session(at.session_state, Workspace(tmp_path / "ws"), "", "causal-gan", {"ambient": "dropout:0.9"}, 0)
    assert spec.source.lossy == "dropout:0.9" and spec.settings == {"ambient": "dropout:0.9"}
