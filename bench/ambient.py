"""Benchmark AmbientGAN (Bora, Price, Dimakis 2018) on cartoon faces or Morpho-MNIST at 32 px.
CausalGAN trained on lossy images (90% of pixels dropped) with the measurement applied to its
samples, beside the same GAN trained on the lossy images directly, on images
first inpainted by a baseline, and on the clean images; a Fréchet distance on features of a
small CNN trained on other clean images (the faces' labels, or MNIST's digit class), and label
read-back by that CNN where the labels are binary. Writes the ``ambient`` section of
docs/benchmarks.md (Morpho-MNIST: its ``ambient-morpho`` sub-section).

    python bench/ambient.py --out docs/benchmarks.md     # default sizes
    python bench/ambient.py --quick                      # reduced sizes: checks that it runs
    python bench/ambient.py --dataset morpho-mnist --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg, ndimage
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inverse import MORPHO, pad_to_32  # noqa: E402
from bench.run import markers, write_section  # noqa: E402
from bench.tabular import machine  # noqa: E402
from causal import images as imd  # noqa: E402
from causal.images import ImageData, image_grid, save_png  # noqa: E402
from generators import build_model, make_config  # noqa: E402
from generators.inverse.ambient import lossy, parse_ambient  # noqa: E402

ARMS = ("ambient", "lossy", "inpainted", "clean")
ARM_NAMES = {"ambient": "(a) AmbientGAN on the lossy images", "lossy": "(b) GAN on the lossy images",
             "inpainted": "(c) GAN on inpainted images", "clean": "(d) GAN on clean images (reference)"}
CLEAR = 0.8  # "clearly closer": AmbientGAN's distance at most this fraction of the better of (b) and (c)


@dataclass(frozen=True)
class Sizes:
    dataset: str = "faces"
    n_train: int = 5000  # training images (the project's default for a built-in dataset)
    n_test: int = 1000  # held-out clean images the distances are measured against
    n_samples: int = 1000  # generated images per arm
    steps: int = 1500  # GAN generator steps (CausalGAN's default is 3000: halved so four GANs fit ~50 min on 2 shared cores)
    spec: str = "dropout:0.9"
    inpaint_sigma: float = 1.5  # the baseline's Gaussian width in pixels
    n_classifier: int = 3000  # other clean images the feature CNN learns the labels from
    classifier_steps: int = 1500  # the feature CNN's Adam steps (batch 128)
    seed: int = 0


QUICK = Sizes(n_train=400, n_test=200, n_samples=200, steps=40, n_classifier=200, classifier_steps=60)
# Morpho-MNIST's 10,000 test digits: the GAN trains on the first 5,000 (as bench/inverse.py), the
# distances are against the last 1,000, and the feature CNN learns the digit class from the 4,000
# between (never trained on by a GAN, never tested on)
MORPHO_SIZES = Sizes(dataset="morpho-mnist", n_classifier=4000)
MORPHO_QUICK = replace(QUICK, dataset="morpho-mnist")
DIGIT = "digit"  # Morpho-MNIST's digit class: what its feature CNN learns (not a label the GAN generates)


class MissingData(Exception):
    """The dataset's files are not there (Morpho-MNIST lives outside the repository)."""


# ---------------------------------------------------------------------- data
def load_data(sizes: Sizes, morpho: Path = MORPHO) -> tuple[Any, ImageData, ImageData, ImageData, list[str]]:
    """(graph, training images, held-out clean test images, the feature CNN's clean images, the
    labels that CNN learns). Built-in datasets: ``n_train + n_test + n_classifier`` images drawn
    with the seed, the CNN learns the (binary) labels. Morpho-MNIST (``morpho``, its 10,000 test
    digits padded to 32 px): the first ``n_train`` for training with their ``thickness`` and
    ``intensity`` (Deep SCM's graph, ``imd.morpho_graph()``), the last ``n_test`` for testing, the
    next ``n_classifier`` after the training ones for the CNN, which learns the digit class; the
    split does not depend on the seed. ``MissingData`` when its folder is absent."""
    if sizes.dataset != "morpho-mnist":
        ds = imd.load(sizes.dataset, n=sizes.n_train + sizes.n_test + sizes.n_classifier, seed=sizes.seed, size=32)
        d = ds.data
        return (ds.graph, d[: sizes.n_train], d[sizes.n_train : sizes.n_train + sizes.n_test],
                d[sizes.n_train + sizes.n_test :], list(d.labels.columns))
    if not Path(morpho).is_dir():
        raise MissingData(f"Morpho-MNIST not found at {morpho}")
    mm = pad_to_32(imd.load_morpho_mnist(morpho))
    if DIGIT not in mm.labels.columns:
        raise MissingData(f"{morpho} has no t10k-labels-idx1-ubyte(.gz): the feature CNN needs the digit classes")
    need = sizes.n_train + sizes.n_test + sizes.n_classifier
    if need > len(mm):
        raise ValueError(f"Morpho-MNIST has {len(mm):,} digits, the sizes need {need:,} (training + test + CNN)")
    graph = imd.morpho_graph()
    train = mm[: sizes.n_train]
    train = ImageData(train.labels[["thickness", "intensity"]], train.images, image_node=train.image_node)
    return (graph, train, mm[len(mm) - sizes.n_test :], mm[sizes.n_train : sizes.n_train + sizes.n_classifier], [DIGIT])


def inpaint(data: ImageData, kept: np.ndarray, sigma: float) -> ImageData:
    """Normalized-convolution inpainting (Knutsson & Westin 1993): each missing pixel is the
    Gaussian-weighted mean of the kept pixels around it, ``blur(y·M) / blur(M)``; kept pixels
    stay as measured. ``kept``: ``[n, H, W]`` booleans."""
    y = data.floats()
    m = kept.astype(np.float32)
    num = ndimage.gaussian_filter(y * m[..., None], sigma=(0, sigma, sigma, 0), mode="nearest")
    den = ndimage.gaussian_filter(m, sigma=(0, sigma, sigma), mode="nearest")[..., None]
    filled = np.where(den > 1e-3, num / np.maximum(den, 1e-3), y.mean())
    out = np.where(m[..., None] > 0, y, filled)
    return data.with_images(np.round(np.clip(out, 0, 1) * 255).astype(np.uint8))


def deconvolve(data: ImageData, blur: float, noise: float, ks: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
               iters: int = 60) -> ImageData:
    """Tikhonov deconvolution with the measurement's own operator (``generators.inverse``'s
    zero-padded Gaussian blur, so the darkened borders are modelled): x = μ + d with
    d = argmin ||A d − (y − Aμ)||² + K ||d||², μ the measured images' mean colour, solved by
    conjugate gradients for all images at once. K by the discrepancy principle (Morozov): the
    largest K whose residual per pixel stays within the noise's variance (``noise``² plus the
    8-bit rounding's), chosen on the first 500 images."""
    from generators.inverse.operators import Blur

    y = data.tensor()
    n, c, h, w = y.shape
    op = Blur((c, h, w), blur)
    a = lambda v: op.forward(v).view(v.shape)  # noqa: E731 - symmetric: A is its own adjoint
    mu = y.mean((0, 2, 3), keepdim=True).expand(1, c, h, w)
    sigma2 = noise**2 + 1 / (12 * 255**2)

    def solve(yy: torch.Tensor, k: float) -> torch.Tensor:
        r0 = a(yy - a(mu))
        d = torch.zeros_like(yy)
        r, p = r0.clone(), r0.clone()
        rs = (r * r).sum((1, 2, 3), keepdim=True)
        for _ in range(iters):
            q = a(a(p)) + k * p
            alpha = rs / (p * q).sum((1, 2, 3), keepdim=True).clamp_min(1e-20)
            d, r = d + alpha * p, r - alpha * q
            new = (r * r).sum((1, 2, 3), keepdim=True)
            p, rs = r + new / rs.clamp_min(1e-20) * p, new
        return mu + d

    with torch.no_grad():
        probe = y[:500]
        chosen = ks[0]
        for k in ks:  # increasing: keep the largest that still fits the measurements to the noise level
            if float(((a(solve(probe, k)) - probe) ** 2).mean()) <= sigma2:
                chosen = k
        x = torch.cat([solve(y[s : s + 1000], chosen) for s in range(0, n, 1000)])
    out = np.round(x.clamp(0, 1).numpy().transpose(0, 2, 3, 1) * 255).astype(np.uint8)
    return data.with_images(out)


def restore(measured: ImageData, train: ImageData, sizes: Sizes) -> ImageData:
    """The classical baseline of arm (c): pixels the measurement dropped inpainted by normalized
    convolution; a blur undone by Tikhonov deconvolution (``deconvolve``)."""
    m = parse_ambient(sizes.spec)
    out = measured
    if m.dropout:
        out = inpaint(out, kept_pixels(train, sizes.spec, sizes.seed + 1), sizes.inpaint_sigma)
    if m.blur:
        out = deconvolve(out, m.blur, m.noise)
    return out


def kept_pixels(data: ImageData, spec: str, seed: int) -> np.ndarray:
    """Which pixels ``lossy(data, spec, seed)`` kept: the same draws on all-white images."""
    white = data.with_images(np.full_like(data.images, 255))
    return lossy(white, spec, seed).images.max(-1) > 0


# ---------------------------------------------------------------------- feature CNN
class FeatureNet(nn.Module):
    """A small CNN: three stride-2 convolutions, a 128-d feature layer (the Fréchet
    distance's features) and one logit per binary label, or (``classes``) a softmax over
    ``n_labels`` classes of one label."""

    def __init__(self, channels: int, n_labels: int, classes: bool = False) -> None:
        super().__init__()
        self.classes = classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(128 * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x * 2 - 1))

    @torch.no_grad()
    def features(self, data: ImageData) -> tuple[np.ndarray, np.ndarray]:
        """(features [n, 128], label probabilities [n, K]: per binary label, or per class)."""
        self.eval()
        f, p = [], []
        for s in range(0, len(data), 500):
            h = self.body(data[s : s + 500].tensor() * 2 - 1)
            f.append(h.numpy())
            p.append((torch.softmax(self.head(h), 1) if self.classes else torch.sigmoid(self.head(h))).numpy())
        return np.concatenate(f), np.concatenate(p)


def train_features(data: ImageData, columns: list[str], steps: int, seed: int) -> FeatureNet:
    """The feature CNN (Adam, batch 128): binary cross-entropy on the labels ``columns``, or, when
    ``columns`` is ``[DIGIT]``, softmax cross-entropy on the digit class (0-9)."""
    torch.manual_seed(seed)
    classes = columns == [DIGIT]
    if classes:
        y = torch.tensor(data.labels[DIGIT].to_numpy(np.int64))
        net = FeatureNet(data.channels, 10, classes=True)
    else:
        y = torch.tensor(data.labels[columns].to_numpy(np.float32))
        net = FeatureNet(data.channels, len(columns))
    x = data.tensor()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.functional.cross_entropy if classes else nn.functional.binary_cross_entropy_with_logits
    for _ in range(steps):
        i = torch.randint(len(x), (128,), generator=gen)
        loss = loss_fn(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (as FID, Heusel et al. 2017)."""
    ma, mb = a.mean(0), b.mean(0)
    ridge = 1e-6 * np.eye(a.shape[1])  # dead ReLU features make the covariances singular
    ca, cb = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = linalg.sqrtm(ca @ cb)
    return float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * np.real(root)))


def label_errors(meas: Any, data: ImageData) -> dict[str, float]:
    """Mean absolute error of each image's thickness (px) and intensity (grey levels) as measured
    off its pixels (``bench.morpho_scm.Measure``: no trained reader) against the labels it
    carries: for generated digits, the labels they were drawn from; for real digits, the
    instrument's own error (the floor). An image with no stroke to measure counts as missing."""
    read = meas.read(data)
    return {c: float(np.nanmean(np.abs(read[c].to_numpy() - data.labels[c].to_numpy(np.float64))))
            for c in ("thickness", "intensity")}


def readback(net: FeatureNet, data: ImageData, columns: list[str]) -> float:
    """Mean over the labels of the accuracy with which the CNN reads each image's own label
    (the digit class: the accuracy of its most probable class)."""
    _, p = net.features(data)
    if net.classes:
        return float((p.argmax(1) == data.labels[DIGIT].to_numpy()).mean())
    return float(((p > 0.5) == (data.labels[columns].to_numpy() > 0.5)).mean())


# ---------------------------------------------------------------------- run
def run(sizes: Sizes, results: Path, arms: tuple[str, ...], morpho: Path = MORPHO) -> dict[str, Any]:
    """Train the ``arms`` (skipping those already in ``results`` with the same sizes) and measure
    them; the results JSON is written after each arm. Morpho-MNIST: the samples' read-back is
    None (the CNN reads the digit class, which the GAN does not generate from) and the floor's
    ``readback`` is the CNN's digit accuracy on the test digits; instead each arm's ``measured``
    holds its samples' thickness and intensity errors measured off the pixels (``label_errors``),
    the floor's those of the real test digits. Each arm's samples are kept beside the results
    (``<results>-<arm>.npy``, uint8) so they can be measured again without retraining."""
    torch.set_num_threads(1)
    out: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
    if out.get("sizes") != asdict(sizes):
        out = {"sizes": asdict(sizes), "arms": {}}
    graph, train, test, extra, columns = load_data(sizes, morpho)  # extra: the CNN's clean images, never trained on
    binary = columns != [DIGIT]  # the samples' labels can be read back
    t = time.perf_counter()
    cnn = train_features(ImageData(extra.labels, extra.images), columns, sizes.classifier_steps, sizes.seed)
    f_test, _ = cnn.features(test)
    f_train, _ = cnn.features(train[: sizes.n_samples])
    out["floor"] = {"fd": frechet(f_train, f_test), "readback": readback(cnn, test, columns),
                    "seconds": time.perf_counter() - t}
    meas = None
    if not binary:  # Morpho-MNIST: the morphometrics measured off the pixels, calibrated on clean training digits
        from bench.morpho_scm import Measure

        meas = Measure(train)
        out["floor"]["measured"] = label_errors(meas, test)
    measured = lossy(train, sizes.spec, seed=sizes.seed + 1)
    out["lossy_data"] = {"fd": frechet(cnn.features(measured[: sizes.n_samples])[0], f_test)}
    data = {"ambient": measured, "lossy": measured, "clean": train}
    if "inpainted" in arms:
        t = time.perf_counter()
        data["inpainted"] = restore(measured, train, sizes)
        out["inpaint_seconds"] = time.perf_counter() - t
        out["inpainted_data"] = {"fd": frechet(cnn.features(data["inpainted"][: sizes.n_samples])[0], f_test)}
    grids = []
    for arm in arms:
        if arm in out["arms"]:  # done in an earlier, interrupted run with the same sizes
            continue
        cfg = make_config("causal-gan", steps=sizes.steps, ambient=sizes.spec if arm == "ambient" else "none")
        model = build_model("causal-gan", graph, cfg)
        t = time.perf_counter()
        model.fit(data[arm], seed=sizes.seed)
        fit_s = time.perf_counter() - t
        samples = model.sample(sizes.n_samples, seed=sizes.seed + 2)
        out["arms"][arm] = {"fd": frechet(cnn.features(samples)[0], f_test),
                            "readback": readback(cnn, samples, columns) if binary else None, "fit_seconds": fit_s}
        if meas is not None:
            out["arms"][arm]["measured"] = label_errors(meas, samples)
        np.save(results.with_name(f"{results.stem}-{arm}.npy"), samples.images)
        grids.append(samples.images[:8])
        print(arm, out["arms"][arm], flush=True)
        results.write_text(json.dumps(out, indent=1))
    grids = [measured.images[:8], *grids, train.images[:8]]
    save_png(image_grid(np.concatenate(grids), columns=8), results.with_suffix(".png"))
    return out


def verdict(out: dict[str, Any]) -> tuple[str, bool | None]:
    arms = out.get("arms", {})
    if not all(k in arms for k in ("ambient", "lossy", "inpainted")):
        return "not measured (an arm is missing)", None
    a, b, c = (arms[k]["fd"] for k in ("ambient", "lossy", "inpainted"))
    best = min(b, c)
    if arms["ambient"]["readback"] is None:  # Morpho-MNIST: no label read-back
        return (f"AmbientGAN's distance {a:.2f} against {best:.2f} for the better of (b) and (c) "
                f"(ratio {a / best:.2f}; target ≤ {CLEAR})", a <= CLEAR * best)
    met = a <= CLEAR * best and arms["ambient"]["readback"] >= max(arms["lossy"]["readback"], arms["inpainted"]["readback"]) - 0.01
    return (f"AmbientGAN's distance {a:.2f} against {best:.2f} for the better of (b) and (c) "
            f"(ratio {a / best:.2f}; target ≤ {CLEAR}, and read-back no worse than theirs by more than 0.01)", met)


def arm_name(arm: str, spec: str) -> str:
    """An arm's name in the tables: arm (c)'s baseline is a deconvolution where the measurement blurs."""
    if arm == "inpainted" and parse_ambient(spec).blur:
        return ("(c) GAN on images inpainted, then deconvolved" if parse_ambient(spec).dropout
                else "(c) GAN on deconvolved images (Tikhonov, the measurement's own blur, K by the discrepancy principle)")
    return ARM_NAMES[arm]


def data_rows(run: dict[str, Any]) -> list[str]:
    """A run's table rows for the training images themselves: the lossy ones, and what arm (c)
    trains on when that arm ran."""
    rows = [f"| the lossy images themselves | {run.get('lossy_data', {}).get('fd', float('nan')):.2f} | | |"]
    if "inpainted_data" in run:
        rows.append(f"| the images arm (c) trains on, restored by its baseline | {run['inpainted_data']['fd']:.2f} | | "
                    f"{run.get('inpaint_seconds', 0):.1f} s |")
    return rows


def header(s: Sizes) -> list[str]:
    """The table's header: its third column is the label read-back (faces) or, on Morpho-MNIST,
    the labels' errors measured off the pixels."""
    third = ("thickness (px) / intensity (grey levels) error, measured ↓" if s.dataset == "morpho-mnist"
             else "label read-back ↑")
    return [f"| data / model | Fréchet distance ↓ | {third} | fit time |", "| --- | --- | --- | --- |"]


def measured_cell(m: dict[str, float] | None) -> str:
    """Thickness and intensity errors measured off the pixels, or n/a (runs from before they were)."""
    return "n/a" if not m else f"{m['thickness']:.3f} / {m['intensity']:.1f}"


def arm_row(arm: str, r: dict[str, Any] | None, spec: str) -> str:
    """An arm's table row (``r`` None: not run)."""
    if r is None:
        return f"| {arm_name(arm, spec)} | not run | | |"
    rb = measured_cell(r.get("measured")) if r["readback"] is None else f"{r['readback']:.3f}"
    return f"| {arm_name(arm, spec)} | {r['fd']:.2f} | {rb} | {r['fit_seconds'] / 60:.1f} min |"


def also_lines(also: dict[str, Any], main: Sizes) -> list[str]:
    """Another run's table (a second measurement, or a replicate with another seed): the arms
    run for it, beside its lossy data."""
    s = Sizes(**also["sizes"])
    images = "the same digits, other lossy draws" if s.dataset == "morpho-mnist" else "other images"
    what = (f"With `{s.spec}` instead" if s.spec != main.spec
            else f"With {s.steps:,} generator steps instead of {main.steps:,}" + (f", seed {s.seed}" if s.seed != main.seed else "")
            if s.steps != main.steps
            else f"A replicate with seed {s.seed} ({images}, CNN and GAN draws; floor "
            f"{also.get('floor', {}).get('fd', float('nan')):.2f})")
    lines = ["", f"{what}, the same sizes otherwise:", "", *header(s), *data_rows(also)]
    lines += [arm_row(arm, r, s.spec) for arm in ARMS if (r := also.get("arms", {}).get(arm)) is not None]
    arms = also.get("arms", {})
    for base in ("lossy", "inpainted"):
        if "ambient" in arms and base in arms:
            lines += ["", f"AmbientGAN's distance / that of {ARM_NAMES[base][:3]}: "
                      f"{arms['ambient']['fd'] / arms[base]['fd']:.2f}."]
    same_clean = s.seed == main.seed and s.n_train == main.n_train and s.steps == main.steps
    missing = [arm_name(a, s.spec) for a in ARMS if a not in arms and not (a == "clean" and same_clean)]
    if missing:
        lines += ["", "Not run for it (time): " + "; ".join(missing) + "."]
    if same_clean and "clean" not in arms:
        lines += ["", "(d) is the clean-image GAN of the table above (the same images and seed)."]
    return lines


def markdown(out: dict[str, Any], command: str, seconds: float | None, png: str | None,
             also: tuple[dict[str, Any], ...] = (), sub: str | None = None) -> str:
    """The ``ambient`` section (faces); ``sub``: the Morpho-MNIST sub-section, kept at its end."""
    if out["sizes"].get("dataset") == "morpho-mnist":
        return morpho_markdown(out, command, seconds, png, also)
    start, end = markers("ambient")
    s = Sizes(**out["sizes"])
    text, met = verdict(out)
    lines = [start, "## AmbientGAN: training on lossy images", "",
             f"- Command: `{command}` ({'' if seconds is None else f'{seconds / 60:.0f} min, '}{dt.date.today().isoformat()}); "
             f"machine: {machine()}, shared with other jobs (times are upper bounds).",
             f"- Data: the built-in `{s.dataset}` at 32 px, {s.n_train:,} training images, each seen only through "
             f"`{s.spec}` (a fresh draw per image, `generators.inverse.ambient.lossy`); distances against "
             f"{s.n_test:,} held-out clean images; {s.n_samples:,} samples per model.",
             f"- Models: CausalGAN with the project's defaults but {s.steps:,} generator steps (3,000 by default); (a) `--set ambient={s.spec}` "
             "on the lossy images (D and the labelers see generated images measured alike); (b) the lossy images "
             f"directly; (c) the lossy images first inpainted by normalized convolution (the Gaussian-weighted mean of the "
             f"kept pixels, σ = {s.inpaint_sigma:g} px, known mask; Lasso-DCT from `generators.inverse` takes seconds "
             f"per image, hours for {s.n_train:,}); (d) the clean images.",
             f"- Metrics: a Fréchet distance (as FID) on the 128-d features of a small CNN (3 conv layers, trained here "
             f"for {s.classifier_steps:,} Adam steps on {s.n_classifier:,} other clean faces to read the labels); label read-back: "
             "that CNN's accuracy reading the labels each sample was generated from, averaged over the labels. "
             "Floor: the same distance between clean training and held-out images. Arms may run in separate "
             "processes (`--arms`, then `--markdown-only --merge`): the data, the CNN and the floor come out the same "
             "bit for bit (seeded, one thread).",
             ""]
    fl = out.get("floor", {})
    lines += ["| data / model | Fréchet distance ↓ | label read-back ↑ | fit time |", "| --- | --- | --- | --- |",
              f"| clean images (floor) | {fl.get('fd', float('nan')):.2f} | {fl.get('readback', float('nan')):.3f} | |",
              *data_rows(out)]
    lines += [arm_row(arm, out.get("arms", {}).get(arm), s.spec) for arm in ARMS]
    status = "not measured" if met is None else ("met" if met else "missed")
    lines += ["", f"Target (issue 22: AmbientGAN clearly closer to clean data than (b) and (c)), seed {s.seed}: "
              f"**{status}**: {text}."]
    if png:
        lines += ["", f"Samples: {png} (rows: the lossy training images, eight samples of each arm in the order "
                  "run, the clean training images)."]
    for other in also:
        lines += also_lines(other, s)
    for steps in sorted({Sizes(**r["sizes"]).steps for r in (out, *also)}):  # one summary per number of GAN steps
        runs = [r for r in (out, *also) if Sizes(**r["sizes"]).spec == s.spec and Sizes(**r["sizes"]).steps == steps]
        ratios = [(Sizes(**r["sizes"]).seed, r["arms"]["ambient"]["fd"] / r["arms"]["inpainted"]["fd"],
                   r["arms"]["ambient"]["readback"] - r["arms"]["inpainted"]["readback"]) for r in runs
                  if "ambient" in r.get("arms", {}) and "inpainted" in r.get("arms", {})]
        if len(ratios) > 1:
            closer = sum(r <= CLEAR for _, r, _ in ratios)
            met_in = sum(r <= CLEAR and d >= -0.01 for _, r, d in ratios)
            lines += ["", f"Across seeds with `{s.spec}` and {steps:,} steps: AmbientGAN's distance / that of (c) is "
                      + ", ".join(f"{r:.2f} (seed {k}; read-back {d:+.3f})" for k, r, d in ratios)
                      + f"; clearly closer (≤ {CLEAR}) in {closer} of {len(ratios)} seeds, and with read-back no worse "
                      f"than (c)'s by more than 0.01 (the target's second half) in **{met_in} of {len(ratios)}**."]
    blur = any(Sizes(**o["sizes"]).spec != s.spec for o in also)
    lines += ["", "Not measured here: " + ("" if blur else "blur + noise, ") + ("" if sub else "Morpho-MNIST, ") + "more seeds."]
    return "\n".join([*lines, *([""] + [sub] if sub else []), end])


def steps_note(s: Sizes) -> str:
    """How the GANs' steps relate to CausalGAN's default."""
    return (" (3,000 generator steps)" if s.steps == 3000
            else f" but {s.steps:,} generator steps (3,000 by default)")


def morpho_markdown(out: dict[str, Any], command: str, seconds: float | None, png: str | None,
                    also: tuple[dict[str, Any], ...] = ()) -> str:
    """The Morpho-MNIST sub-section of ``ambient`` (its own markers, ``ambient-morpho``)."""
    start, end = markers("ambient-morpho")
    s = Sizes(**out["sizes"])
    text, met = verdict(out)
    fl = out.get("floor", {})
    lines = [start, "### Morpho-MNIST", "",
             f"- Command: `{command}` ({'' if seconds is None else f'{seconds / 60:.0f} min, '}{dt.date.today().isoformat()}); "
             f"machine: {machine()}, shared with other jobs (times are upper bounds).",
             f"- Data: the 10,000 Morpho-MNIST digits of `../shared/data/morphomnist` (real MNIST test digits, 28 px "
             f"padded to 32 px with a black border): the first {s.n_train:,} to train on, each seen only through "
             f"`{s.spec}` (a fresh draw per image); distances against the last {s.n_test:,}, clean; "
             f"{s.n_samples:,} samples per model.",
             f"- Models: CausalGAN with the project's defaults{steps_note(s)}, on "
             "Deep SCM's graph `thickness -> intensity -> image, thickness -> image` (`imd.morpho_graph()`, as "
             "bench/inverse.py's Morpho-MNIST generator): the labels are the continuous thickness and intensity, "
             "exact; arms (a)-(d) as for the faces above (the same inpainting baseline for (c)).",
             f"- Metrics: the Fréchet distance on the 128-d features of the same small CNN, here with a 10-way softmax "
             f"trained for {s.classifier_steps:,} Adam steps to read the **digit class** of the {s.n_classifier:,} digits "
             f"{s.n_train + 1:,}-{s.n_train + s.n_classifier:,} (clean; neither trained on by a GAN nor tested on); it reads "
             f"the class of the {s.n_test:,} test digits with accuracy {fl.get('readback', float('nan')):.3f}. The labels "
             "are continuous morphometrics, which that CNN does not read; instead each sample's thickness and intensity "
             "are measured off its pixels (`bench.morpho_scm.Measure`: Morpho-MNIST's intensity measure, a ridge "
             "thickness calibrated linearly on the clean training digits, no trained reader) and compared with the "
             "labels it was generated from (mean absolute errors; the floor row: the instrument's error on the real "
             "test digits; n/a: runs from before this was measured). Floor: the distance between "
             f"{min(s.n_samples, s.n_train):,} clean training digits and the test digits.",
             "", *header(s),
             f"| clean images (floor) | {fl.get('fd', float('nan')):.2f} | {measured_cell(fl.get('measured'))} | |",
             *data_rows(out)]
    lines += [arm_row(arm, out.get("arms", {}).get(arm), s.spec) for arm in ARMS]
    status = "not measured" if met is None else ("met" if met else "missed")
    lines += ["", f"Target (issue 22: AmbientGAN clearly closer to clean data than (b) and (c)), seed {s.seed}: "
              f"**{status}**: {text}."]
    arms = out.get("arms", {})
    if all(k in arms for k in ("lossy", "inpainted", "clean")):
        best = min(arms["lossy"]["fd"], arms["inpainted"]["fd"])
        lines += ["", f"The same GAN on the clean digits, (d), is itself at {arms['clean']['fd'] / best:.2f} of the better "
                  "of (b) and (c)'s distance: how much room a GAN trained on lossy digits had."]
    if png:
        lines += ["", f"Samples: {png} (rows: the lossy training digits, eight samples of each arm in the order "
                  "run, the clean training digits)."]
    for other in also:
        lines += also_lines(other, s)
    for steps in sorted({Sizes(**r["sizes"]).steps for r in (out, *also)}):
        runs = [r for r in (out, *also) if Sizes(**r["sizes"]).spec == s.spec and Sizes(**r["sizes"]).steps == steps]
        ratios = [(Sizes(**r["sizes"]).seed, r["arms"]["ambient"]["fd"] / min(r["arms"][k]["fd"] for k in ("lossy", "inpainted")
                                                                              if k in r["arms"]))
                  for r in runs if "ambient" in r.get("arms", {}) and "inpainted" in r["arms"]]
        if len(ratios) > 1:
            lines += ["", f"Across seeds with `{s.spec}` and {steps:,} steps: AmbientGAN's distance / that of the better of "
                      "(b) and (c)" + ("" if all("lossy" in r["arms"] for r in runs) else " (of (c) where (b) was not run)")
                      + " is " + ", ".join(f"{r:.2f} (seed {k})" for k, r in ratios)
                      + f"; clearly closer (≤ {CLEAR}) in **{sum(r <= CLEAR for _, r in ratios)} of {len(ratios)}**."]
            both = [(Sizes(**r["sizes"]).seed, r["arms"]["ambient"]["measured"], r["arms"]["inpainted"]["measured"])
                    for r in runs if r.get("arms", {}).get("ambient", {}).get("measured")
                    and r["arms"].get("inpainted", {}).get("measured")]
            if both:
                lines += ["", f"Labels measured off the pixels, {steps:,} steps, AmbientGAN against (c) (thickness px; "
                          "intensity grey levels): " + ", ".join(
                              f"seed {k}: {a['thickness']:.2f} vs {c['thickness']:.2f}; {a['intensity']:.1f} vs {c['intensity']:.1f}"
                              for k, a, c in both)
                          + f"; AmbientGAN's samples closer to their labels on both in {sum(a['thickness'] < c['thickness'] and a['intensity'] < c['intensity'] for _, a, c in both)} of {len(both)}."]
    return "\n".join([*lines, end])


def write_sub(path: Path, text: str) -> None:
    """Write the Morpho-MNIST sub-section: in place when ``path`` has it, else just before the end
    of the ``ambient`` section (else at the end of the file)."""
    start, end = markers("ambient-morpho")
    doc = path.read_text() if path.exists() else ""
    if start not in doc and markers("ambient")[1] in doc:
        doc = doc.replace(markers("ambient")[1], f"\n{start}\n{end}\n{markers('ambient')[1]}", 1)
        path.write_text(doc)
    write_section(path, text, "ambient-morpho")


def existing_sub(path: Path | None) -> str | None:
    """The Morpho-MNIST sub-section already in ``path``, so that rewriting the faces' section keeps it."""
    if path is None or not path.exists():
        return None
    start, end = markers("ambient-morpho")
    found = re.search(re.escape(start) + ".*?" + re.escape(end), path.read_text(), flags=re.DOTALL)
    return found.group(0) if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="docs/benchmarks.md to update (its 'ambient' section; "
                    "Morpho-MNIST: its sub-section there)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes: checks that it runs")
    ap.add_argument("--dataset", choices=("faces", "morpho-mnist"), default="faces",
                    help="faces (built in) or morpho-mnist (../shared/data/morphomnist; skipped when absent)")
    ap.add_argument("--morpho", type=Path, default=MORPHO, help="the Morpho-MNIST folder (default %(default)s)")
    ap.add_argument("--steps", type=int, default=None, help="GAN steps (default %d)" % Sizes.steps)
    ap.add_argument("--n-train", type=int, default=None, help="training images (default %d)" % Sizes.n_train)
    ap.add_argument("--spec", default=None, help="the measurement (default %s)" % Sizes.spec)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    ap.add_argument("--seed", type=int, default=None, help="another replicate: data, CNN and GANs (default 0)")
    ap.add_argument("--results", type=Path, default=None, help="results JSON (default bench/results/ambient.json; "
                    "Morpho-MNIST: ambient-morpho.json)")
    ap.add_argument("--markdown-only", action="store_true", help="write the section from the results JSON, run nothing")
    ap.add_argument("--ran", default=None, help="with --markdown-only: the command(s) that produced the results")
    ap.add_argument("--merge", type=Path, nargs="*", default=(),
                    help="with --markdown-only: results JSONs of other arms run apart with the same sizes")
    ap.add_argument("--also", type=Path, nargs="*", default=[], action="append",
                    help="with --markdown-only: results JSONs of another run (a second --spec, or --seed), one table "
                    "per --also")
    args = ap.parse_args()
    if args.dataset == "morpho-mnist":
        sizes = MORPHO_QUICK if args.quick else MORPHO_SIZES
    else:
        sizes = QUICK if args.quick else Sizes()
    if args.steps:
        sizes = replace(sizes, steps=args.steps)
    if args.n_train:
        sizes = replace(sizes, n_train=args.n_train)
    if args.seed is not None:
        sizes = replace(sizes, seed=args.seed)
    if args.spec:
        parse_ambient(args.spec)
        sizes = replace(sizes, spec=args.spec)
    stem = "ambient-morpho" if args.dataset == "morpho-mnist" else "ambient"
    results = args.results or (Path(f"/tmp/cf-{stem}-quick.json") if args.quick else ROOT / "bench" / "results" / f"{stem}.json")
    t0 = time.perf_counter()
    try:
        out = json.loads(results.read_text()) if args.markdown_only else run(sizes, results, tuple(args.arms), args.morpho)
    except MissingData as e:
        print(f"{e}: skipped", file=sys.stderr)
        return
    for path in args.merge:  # arms trained in another process (same sizes, so the same data and feature CNN)
        other = json.loads(path.read_text())
        if other["sizes"] != out["sizes"]:
            raise SystemExit(f"{path} was run with other sizes than {results}")
        out["arms"] = {**other["arms"], **out["arms"]}
        out.update({k: v for k, v in other.items() if k not in out})
    also = []
    for paths in args.also:  # another run, its arms possibly trained in several processes
        group = None
        for path in paths:
            other = json.loads(path.read_text())
            if group is None:
                group = other
            elif other["sizes"] != group["sizes"]:
                raise SystemExit(f"{path} was run with other sizes than {paths[0]}")
            else:
                group["arms"] = {**group["arms"], **other["arms"]}
        if group is not None:
            also.append(group)
    command = args.ran or "python bench/ambient.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    pngs = [p.resolve().with_suffix(".png") for p in (results, *args.merge)]
    shown = ", ".join(f"`{p.relative_to(ROOT)}`" for p in pngs if p.exists() and p.is_relative_to(ROOT))
    morpho = out["sizes"].get("dataset") == "morpho-mnist"
    text = markdown(out, command, None if args.markdown_only else time.perf_counter() - t0, shown or None, tuple(also),
                    sub=None if morpho else existing_sub(args.out))
    print(text)
    if args.out and morpho:
        write_sub(args.out, text)
    elif args.out:
        write_section(args.out, text, "ambient")


if __name__ == "__main__":
    main()
