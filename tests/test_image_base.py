"""The shared image-model base: conv blocks, label encoding, and the ImageModel contract on a
tiny conditional autoencoder over synthetic squares (16 px, CPU, seconds)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor, nn

from causal import CausalGraph, DataError, EvidenceError, InterventionError
from causal.images import ImageData, split_image_graph
from generators.checkpoint import read_checkpoint
from generators.encoding import LabelEncoding
from generators.image.base import ImageModel
from generators.image.conv import ConvDecoder, ConvDiscriminator, ConvEncoder, ConvHead
from generators.tabular.causal_gen import CausalGenConfig
from generators.training import TrainConfig, plan

GRAPH = CausalGraph.parse("pos -> bright; pos -> image; bright -> image; tag", kinds={"image": "image", "bright": "binary"})


def render_squares(pos: np.ndarray, bright: np.ndarray, row: np.ndarray, size: int = 16) -> np.ndarray:
    """A 4-pixel square at column ``pos`` (0..1), row ``row`` (0..1), grey level 255 when
    ``bright`` else 110, on black: uint8 ``[n, size, size, 1]``."""
    n = len(pos)
    img = np.zeros((n, size, size, 1), np.uint8)
    c = np.round(np.asarray(pos) * (size - 4)).astype(int)
    r = np.round(np.asarray(row) * (size - 4)).astype(int)
    for i in range(n):
        img[i, r[i] : r[i] + 4, c[i] : c[i] + 4, 0] = 255 if bright[i] else 110
    return img


def squares(n: int = 400, seed: int = 0, size: int = 16) -> ImageData:
    """Synthetic labelled images with a known SCM: pos ~ U(0, 1); bright ~ Bernoulli(0.2 +
    0.6 pos); the square's row is exogenous style (kept in ``style``); tag is an isolated
    label the image does not show."""
    rng = np.random.default_rng(seed)
    pos = rng.random(n)
    bright = (rng.random(n) < 0.2 + 0.6 * pos).astype(int)
    row = rng.random(n)
    tag = rng.normal(size=n)
    labels = pd.DataFrame({"tag": tag, "bright": bright, "pos": pos})
    return ImageData(labels, render_squares(pos, bright, row, size), style=row[:, None])


@dataclass(frozen=True)
class TinyConfig:
    width: int = 8  # conv width
    style_dim: int = 2
    labels: CausalGenConfig = field(default_factory=lambda: CausalGenConfig(hidden=8, train=TrainConfig(steps=60)))
    image_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=40, batch_size=32, lr=2e-3))


class TinyNet(nn.Module):
    """A conditional autoencoder: style from the image, image from (labels, style)."""

    def __init__(self, channels: int, size: int, cond: int, style: int, width: int) -> None:
        super().__init__()
        self.enc = ConvEncoder(channels, size, width)
        self.to_style = nn.Linear(self.enc.feat_dim + cond, style)
        self.dec = ConvDecoder(cond + style, channels, size, width)

    def style(self, images: Tensor, labels: Tensor) -> Tensor:
        return self.to_style(torch.cat([self.enc(images), labels], 1))

    def loss(self, images: Tensor, labels: Tensor) -> Tensor:
        out = self.dec(torch.cat([labels, self.style(images, labels)], 1))
        return nn.functional.binary_cross_entropy_with_logits(out, images)


class TinyImageModel(ImageModel):
    kind = "tiny-image"
    Config = TinyConfig

    def _build(self) -> nn.Module:
        self.style_dim = self.config.style_dim
        return TinyNet(self.info.channels, self.info.size, self.encoding.width, self.style_dim, self.config.width)

    def _decode(self, labels: Tensor, style: Tensor) -> Tensor:
        return torch.sigmoid(self.image_net.dec(torch.cat([labels, style], 1)))

    def _abduct_style(self, images: Tensor, labels: Tensor) -> Tensor:
        return self.image_net.style(images, labels)


@pytest.fixture(scope="module")
def fitted():
    events = []
    model = TinyImageModel(GRAPH)
    report = model.fit(squares(), seed=0, callbacks=[events.append])
    return model, report, events


# ---------------------------------------------------------------------- blocks
@pytest.mark.parametrize("size, channels", [(16, 1), (32, 3), (64, 3)])
def test_conv_blocks_shapes(size, channels):
    x = torch.rand(2, channels, size, size)
    enc = ConvEncoder(channels, size, width=4)
    assert enc(x).shape == (2, enc.feat_dim)
    assert ConvDecoder(5, channels, size, width=4)(torch.randn(2, 5)).shape == x.shape
    assert ConvHead(channels, size, 3, width=4)(x).shape == (2, 3)
    d = ConvDiscriminator(channels, size, cond_dim=2, width=4)
    assert d(x, torch.randn(2, 2)).shape == (2,) and ConvDiscriminator(channels, size, width=4)(x).shape == (2,)


def test_label_encoding_round_trip_and_losses():
    data = squares(50)
    from causal.data import load_table

    _, schema = load_table(data.labels, split_image_graph(GRAPH)[0], extra="drop")
    enc = LabelEncoding(schema, ("pos", "bright"))
    x = enc.encode(data.labels)
    assert x.shape == (50, 2) and x.dtype == np.float32
    assert abs(x[:, 0].mean()) < 1e-6  # continuous: standardized
    logits = torch.from_numpy(x.copy())
    logits[:, 1] = logits[:, 1] * 20 - 10  # binary: 0/1 -> confident logits
    back = enc.decode(logits)
    np.testing.assert_allclose(back["pos"], data.labels["pos"], atol=1e-6)
    assert (back["bright"].to_numpy() == data.labels["bright"].to_numpy()).all()
    losses = enc.losses(logits, torch.from_numpy(x))
    assert losses.shape == (2,) and float(losses[0]) < 1e-10 and float(losses[1]) < 1e-3


def test_the_loops_plan_predicts_the_image_phase(fitted):
    model, report, _ = fitted
    cfg = model.config.image_train
    assert plan(400, cfg).max_epochs == report.epochs - model.labels.report.epochs


# ---------------------------------------------------------------------- contract
def test_fit_report_and_progress(fitted):
    model, report, events = fitted
    assert report.steps == model.labels.report.steps + 40
    assert [e.epoch for e in events] == list(range(1, report.epochs + 1))  # one continuous count over both phases
    assert all(e.max_epochs == report.epochs for e in events)  # the plan held
    assert [e.steps for e in events] == sorted(e.steps for e in events)
    assert model.graph.kind("bright") == "binary" and model.graph.kind("pos") == "continuous"


def test_sample_shapes_seed_and_do(fitted):
    model, _, _ = fitted
    a, b = model.sample(20, seed=1), model.sample(20, seed=1)
    assert isinstance(a, ImageData) and a.images.shape == (20, 16, 16, 1) and a.images.dtype == np.uint8
    assert set(a.labels.columns) == {"pos", "bright", "tag"}
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, model.sample(20, seed=2).images)
    do = model.sample(20, do={"bright": 1}, seed=1)
    assert (do.labels["bright"] == 1).all()
    pd.testing.assert_series_equal(do.labels["pos"], a.labels["pos"])  # non-descendant: same noise, same values


def test_conditional_sample_reports_acceptance(fitted):
    model, _, _ = fitted
    s = model.sample(30, given={"bright": 0}, seed=0)
    assert (s.labels["bright"] == 0).all() and len(s) == 30
    assert 0 < s.labels.attrs["acceptance_rate"] <= 1


def test_counterfactual_same_index_and_unaffected_images_kept(fitted):
    model, _, _ = fitted
    rows = squares(12, seed=5)
    rows = rows.with_labels(rows.labels.set_index(pd.RangeIndex(100, 112)))
    same = model.counterfactual(rows, do={})
    np.testing.assert_array_equal(same.images, rows.images)
    pd.testing.assert_frame_equal(same.labels, rows.labels)
    tag = model.counterfactual(rows, do={"tag": 0.0})  # tag is no ancestor of the image
    np.testing.assert_array_equal(tag.images, rows.images)
    cf = model.counterfactual(rows, do={"bright": 1}, seed=0)
    assert cf.index.equals(rows.index) and (cf.labels["bright"] == 1).all()
    pd.testing.assert_series_equal(cf.labels["pos"], rows.labels["pos"])
    assert cf.images.shape == rows.images.shape and not np.array_equal(cf.images, rows.images)


def test_refusals_name_the_problem(fitted):
    model, _, _ = fitted
    with pytest.raises(InterventionError, match="cannot intervene on 'image': it is the image node"):
        model.sample(5, do={"image": 0})
    with pytest.raises(EvidenceError, match="cannot condition on 'image'"):
        model.sample(5, given={"image": 0})
    with pytest.raises(InterventionError, match="no such node"):
        model.sample(5, do={"size": 1.0})
    with pytest.raises(DataError, match="fitted on 16x16x1 images, got 32x32x1"):
        model.counterfactual(squares(5, size=32), do={"bright": 0})
    with pytest.raises(DataError, match="takes ImageData"):
        model.counterfactual(squares(5).labels, do={"bright": 0})
    with pytest.raises(DataError, match="side of 8, 16, 32, 64 or 128"):
        TinyImageModel(GRAPH).fit(ImageData(squares(40).labels, np.zeros((40, 12, 12, 1), np.uint8)))
    with pytest.raises(DataError, match="no column for node"):
        TinyImageModel(GRAPH).fit(squares(40).with_labels(squares(40).labels.drop(columns="pos")))


def test_save_load_round_trip(fitted, tmp_path):
    model, _, _ = fitted
    model.save(tmp_path / "m")
    same = TinyImageModel.from_checkpoint(*read_checkpoint(tmp_path / "m"))
    assert same.graph == model.graph and same.info == model.info
    a, b = model.sample(16, do={"pos": 0.3}, seed=4), same.sample(16, do={"pos": 0.3}, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    rows = squares(8, seed=3)
    np.testing.assert_array_equal(model.counterfactual(rows, {"pos": 0.9}, seed=1).images,
                                  same.counterfactual(rows, {"pos": 0.9}, seed=1).images)
    assert same.report.steps == model.report.steps


def test_cancel_keeps_a_usable_model():
    stop = threading.Event()
    stop.set()
    model = TinyImageModel(GRAPH)
    report = model.fit(squares(100), cancel=stop)
    assert report.stopped == "cancelled"
    assert len(model.sample(4, seed=0)) == 4


def test_checkpoints_during_image_phase(tmp_path):
    cfg = TinyConfig(image_train=TrainConfig(steps=30, batch_size=16, checkpoint_every=1))
    model = TinyImageModel(GRAPH, cfg)
    model.fit(squares(200), checkpoint_dir=tmp_path / "ck")
    loaded = TinyImageModel.from_checkpoint(*read_checkpoint(tmp_path / "ck"))
    np.testing.assert_array_equal(loaded.sample(4, seed=0).images, model.sample(4, seed=0).images)
    assert not list((tmp_path / "ck").glob("*.tmp"))
