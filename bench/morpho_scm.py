"""Benchmark the image models (CCGM, CausalGAN) on real MNIST digits with Deep SCM's Morpho-MNIST
labels (thickness -> intensity, both and the digit -> image), read back by a CNN trained on other
real digits: label fidelity, do(thickness) and do(intensity) against the true SCM, and
counterfactuals of test digits against the SCM's counterfactual labels beside copying the factual;
writes the ``morpho_scm`` section of docs/benchmarks.md.

    python bench/morpho_scm.py --out docs/benchmarks.md                 # both models, default sizes
    python bench/morpho_scm.py --quick                                  # reduced sizes: checks that it runs
    python bench/morpho_scm.py --only ccgm --json /tmp/m_ccgm.json      # one model per process, then
    python bench/morpho_scm.py --merge /tmp/m_ccgm.json /tmp/m_gan.json --out docs/benchmarks.md

The data (``../shared/data/morphomnist``, outside the repository) is split by row: the models
train on digits 0-4,999, the read-back CNN on 5,000-8,999, the test rows are 9,000-9,999 (any
other number of digits is split in the same proportions). Without the folder it prints why and
exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import expit, logit
from scipy.stats import wasserstein_distance
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ccgm import abducted_once, outputs  # noqa: E402
from bench.inverse import MORPHO, pad_to_32  # noqa: E402
from bench.run import markers, write_json, write_section  # noqa: E402
from bench.tabular import load_note, machine  # noqa: E402
from causal import images as imd  # noqa: E402
from causal.images import ImageData, save_png  # noqa: E402
from generators import build_model  # noqa: E402
from generators.checkpoint import config_to_dict  # noqa: E402
from generators.image.conv import ConvHead  # noqa: E402

SECTION = "morpho_scm"
MODELS = ("ccgm", "causal-gan")
CONT = ("thickness", "intensity")
DIGIT = "digit"
PNG_LIMIT = 100_000  # bytes: a grid this small goes under assets/ (tracked), a larger one under bench/results/


# ---------------------------------------------------------------------- the true SCM (Deep SCM)
def scm_intensity(thickness: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Deep SCM's intensity mechanism: i = 64 + 191 σ(0.5 u + 2 t − 5), u ~ N(0, 1)."""
    return 64.0 + 191.0 * expit(0.5 * np.asarray(u) + 2.0 * np.asarray(thickness) - 5.0)


def abduct_u(thickness: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """The intensity noise u that the SCM's equation gives for observed (t, i)."""
    p = np.clip((np.asarray(intensity, np.float64) - 64.0) / 191.0, 1e-4, 1 - 1e-4)
    return (logit(p) - 2.0 * np.asarray(thickness) + 5.0) / 0.5


def equation_check(labels: pd.DataFrame) -> dict[str, float]:
    """How well the equation holds on the CSV's measured labels: the abducted u's mean and sd
    (N(0, 1) if it holds), a least-squares refit of logit((i − 64)/191) = a + b t, and the
    thickness's Gamma fit (Deep SCM: t = 0.5 + Gamma(shape 10, rate 5))."""
    from scipy import stats

    t, i = labels["thickness"].to_numpy(), labels["intensity"].to_numpy()
    u = abduct_u(t, i)
    b, a = np.polyfit(t, logit(np.clip((i - 64) / 191, 1e-4, 1 - 1e-4)), 1)
    shape, _, scale = stats.gamma.fit(t - 0.5, floc=0)
    return {"u_mean": float(u.mean()), "u_sd": float(u.std()), "slope": float(b), "intercept": float(a),
            "gamma_shape": float(shape), "gamma_rate": float(1 / scale), "corr": float(np.corrcoef(t, i)[0, 1]),
            "sd_thickness": float(t.std()), "sd_intensity": float(i.std())}


def measured_intensity(images: np.ndarray) -> np.ndarray:
    """Morpho-MNIST's intensity measure (grey levels 0-255): the median of the pixels above half
    the image's range (reproduces the CSV's column to about 0.5 grey levels on these digits)."""
    x = images.reshape(len(images), -1).astype(np.float64)
    lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
    return np.nanmedian(np.where(x >= lo + 0.5 * (hi - lo), x, np.nan), axis=1)


def measured_thickness(images: np.ndarray, scale: int = 4) -> np.ndarray:
    """A measured stroke thickness (px), independent of any trained reader: each image upsampled
    ``scale`` times (cubic), binarized at half its maximum, and twice the mean Euclidean distance
    transform on the stroke's ridge (pixels at the 3x3 maximum of the transform, an approximate
    medial axis), in original pixels. Morpho-MNIST measures thickness alike on a skeleton; this
    ridge version is uncalibrated (``Measure`` fits it linearly to the labels of real digits)."""
    from scipy import ndimage

    out = np.empty(len(images))
    for k, img in enumerate(np.asarray(images, np.float64).reshape(len(images), images.shape[1], images.shape[2], -1)[..., 0]):
        up = ndimage.zoom(img, scale, order=3)
        mask = up >= 0.5 * up.max() if up.max() > 0 else np.zeros_like(up, bool)
        if not mask.any():
            out[k] = np.nan
            continue
        e = ndimage.distance_transform_edt(mask)
        ridge = mask & (e >= ndimage.maximum_filter(e, 3))
        out[k] = 2 * e[ridge].mean() / scale
    return out


class Measure:
    """Thickness and intensity measured off the pixels (no CNN): intensity by Morpho-MNIST's own
    measure, thickness by ``measured_thickness`` mapped linearly (least squares) onto the labels
    of the real digits it is given. A second instrument beside the read-back CNN."""

    def __init__(self, data: ImageData) -> None:
        self.b, self.a = np.polyfit(measured_thickness(data.images), data.labels["thickness"].to_numpy(np.float64), 1)

    def read(self, data: ImageData) -> pd.DataFrame:
        t = self.a + self.b * measured_thickness(data.images)
        return pd.DataFrame({"thickness": t, "intensity": measured_intensity(data.images)}, index=data.index)


def bias(read: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Mean signed error (read − truth) of thickness and intensity."""
    return {c: float(np.nanmean(read[c].to_numpy() - truth[c].to_numpy(np.float64))) for c in CONT}


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class Sizes:
    n_cf: int = 500  # test digits counterfactualised
    n_gen: int = 500  # generated images per query
    readback_steps: int = 3000  # the read-back CNN's Adam steps (batch 64)
    image_steps: int | None = None  # None: each model's default
    label_steps: int | None = None  # None: each model's default (CCGM's causal layer, CausalGAN's controller)
    quick: bool = False


QUICK = Sizes(n_cf=20, n_gen=20, readback_steps=30, image_steps=20, label_steps=30, quick=True)
QUICK_GAN = {"pretrain_labeler": 5, "invert_steps": 5, "invert_restarts": 1}


class MissingData(Exception):
    """The Morpho-MNIST folder is not there (it lives outside the repository)."""


def load(folder: Path = MORPHO) -> tuple[ImageData, ImageData, ImageData]:
    """(model training digits, read-back CNN digits, test digits) at 32 px, labels thickness,
    intensity, digit; split by row 50% / 40% / 10% (0-4,999 / 5,000-8,999 / 9,000-9,999)."""
    if not Path(folder).is_dir():
        raise MissingData(f"Morpho-MNIST not found at {folder}")
    mm = pad_to_32(imd.load_morpho_mnist(folder))
    if DIGIT not in mm.labels.columns:
        raise MissingData(f"{folder} has no t10k-labels-idx1-ubyte(.gz): the digit labels are needed")
    mm = ImageData(mm.labels[[*CONT, DIGIT]], mm.images, image_node=mm.image_node)
    n = len(mm)
    a, b = n // 2, n * 9 // 10
    return mm[:a], mm[a:b], mm[b:]


# ---------------------------------------------------------------------- the read-back CNN
class ReadBack:
    """A ``ConvHead`` trained on real digits to read thickness and intensity (standardized,
    squared error) and classify the digit (cross-entropy). Half of each batch has its
    intensity re-set as Morpho-MNIST sets it (the image scaled so its measured intensity is a
    value drawn from the training marginal, independently of thickness; label re-measured), so
    the CNN cannot read thickness off brightness or brightness off thickness (corr 0.91 in the data)."""

    def __init__(self, data: ImageData, steps: int, seed: int = 0, width: int = 32) -> None:
        torch.manual_seed(seed)
        y = data.labels[list(CONT)].to_numpy(np.float64)
        self.mean, self.sd = y.mean(0), y.std(0)
        self.net = ConvHead(data.channels, data.size, 2 + 10, width=width)
        opt = torch.optim.Adam(self.net.parameters(), 1e-3)
        x = data.tensor()
        t = torch.from_numpy(y.astype(np.float32))
        d = torch.from_numpy(data.labels[DIGIT].to_numpy(np.int64).copy())
        target_pool = t[:, 1].clone()
        mean, sd = torch.from_numpy(self.mean.astype(np.float32)), torch.from_numpy(self.sd.astype(np.float32))
        gen = torch.Generator().manual_seed(seed)
        for step in range(steps):
            idx = torch.randint(0, len(x), (64,), generator=gen)
            xb, tb = x[idx].clone(), t[idx].clone()
            half = torch.rand(len(idx), generator=gen) < 0.5
            if half.any():
                goal = target_pool[torch.randint(0, len(target_pool), (int(half.sum()),), generator=gen)]
                scaled = torch.round((xb[half] * (goal / tb[half, 1])[:, None, None, None]).clamp(0, 1) * 255) / 255
                xb[half] = scaled
                tb[half, 1] = torch.from_numpy(measured_intensity(scaled.numpy() * 255).astype(np.float32))
            for g in opt.param_groups:
                g["lr"] = 1e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
            out = self.net(xb)
            loss = nn.functional.mse_loss(out[:, :2], (tb - mean) / sd) + nn.functional.cross_entropy(out[:, 2:], d[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.net.eval()

    def read(self, data: ImageData) -> pd.DataFrame:
        out = outputs(self.net, data)
        cont = out[:, :2] * self.sd + self.mean
        return pd.DataFrame({"thickness": cont[:, 0], "intensity": cont[:, 1], DIGIT: out[:, 2:].argmax(1)},
                            index=data.index)


def errors(read: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Mean absolute errors of thickness (px) and intensity (grey levels), and the share of
    digits classified as ``truth``'s digit."""
    out = {c: float(np.nanmean(np.abs(read[c].to_numpy() - truth[c].to_numpy(np.float64)))) for c in CONT if c in truth}
    if DIGIT in truth and DIGIT in read:
        out[DIGIT] = float(np.mean(read[DIGIT].to_numpy() == truth[DIGIT].to_numpy()))
    return out


# ---------------------------------------------------------------------- one model
def settings_for(kind: str, graph: Any, sizes: Sizes) -> dict[str, Any]:
    s: dict[str, Any] = {}
    if kind == "ccgm":
        if sizes.label_steps:
            s["steps"] = sizes.label_steps
        if sizes.image_steps:
            s["image_train"] = replace(build_model("ccgm", graph).config.image_train, steps=sizes.image_steps)
    else:
        if sizes.image_steps:
            s["steps"] = sizes.image_steps
        if sizes.label_steps:
            s["labels"] = replace(build_model("causal-gan", graph).config.labels, steps=sizes.label_steps)
        if sizes.quick:
            s.update(QUICK_GAN)
    return s


def percentiles(train: ImageData, col: str, qs: tuple[float, ...]) -> list[float]:
    return [float(train.labels[col].quantile(q)) for q in qs]


def score(model: Any, train: ImageData, test: ImageData, rb: ReadBack, meas: Measure, sizes: Sizes, seed: int,
          png: Path | None) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 5)
    out: dict[str, Any] = {}
    obs = model.sample(sizes.n_gen, seed=seed + 2)
    r_obs, m_obs = rb.read(obs), meas.read(obs)
    out["fidelity"] = errors(r_obs, obs.labels)
    out["fidelity_bias"] = bias(r_obs, obs.labels)
    out["fidelity_measured"] = errors(m_obs, obs.labels)
    out["fidelity_measured_bias"] = bias(m_obs, obs.labels)
    true_t = test.labels["thickness"].to_numpy()
    do_rows = []
    for node in CONT:
        for k, v in enumerate(percentiles(train, node, (0.25, 0.5, 0.75))):
            gen = model.sample(sizes.n_gen, do={node: v}, seed=seed + 100 + 10 * CONT.index(node) + k)
            r, mr = rb.read(gen), meas.read(gen)
            row: dict[str, Any] = {"node": node, "value": v, "set_mae": float(np.mean(np.abs(r[node] - v))),
                                   "set_mean": float(r[node].mean()), "set_mae_measured": float(np.nanmean(np.abs(mr[node] - v))),
                                   "set_mean_measured": float(np.nanmean(mr[node])), "other_mean_measured": float(np.nanmean(mr[CONT[1 - CONT.index(node)]])),
                                   "digit": float(np.mean(r[DIGIT].to_numpy() == gen.labels[DIGIT].to_numpy()))}
            if node == "thickness":  # intensity follows the SCM's mechanism at t = v
                truth = scm_intensity(np.full(20_000, v), rng.standard_normal(20_000))
                row.update(other="intensity", read_mean=float(r["intensity"].mean()), label_mean=float(gen.labels["intensity"].mean()),
                           true_mean=float(truth.mean()), read_w1=float(wasserstein_distance(r["intensity"], truth)),
                           label_w1=float(wasserstein_distance(gen.labels["intensity"], truth)),
                           read_label_mae=float(np.mean(np.abs(r["intensity"] - gen.labels["intensity"]))))
            else:  # thickness keeps its marginal; seeing intensity = v would shift it
                near = np.argsort(np.abs(train.labels["intensity"].to_numpy() - v))[:500]
                row.update(other="thickness", read_mean=float(r["thickness"].mean()), label_mean=float(gen.labels["thickness"].mean()),
                           true_mean=float(true_t.mean()), seen_mean=float(train.labels["thickness"].to_numpy()[near].mean()),
                           read_w1=float(wasserstein_distance(r["thickness"], true_t)),
                           label_w1=float(wasserstein_distance(gen.labels["thickness"], true_t)),
                           read_label_mae=float(np.mean(np.abs(r["thickness"] - gen.labels["thickness"]))))
            do_rows.append(row)
    out["do"] = do_rows

    fact = test[: sizes.n_cf]
    fl = fact.labels
    u = abduct_u(fl["thickness"].to_numpy(), fl["intensity"].to_numpy())
    copy_read, copy_meas = rb.read(fact), meas.read(fact)
    cf_rows, grid_cols = [], []
    with abducted_once(model, fact):
        for node, q, name in (("thickness", 0.9, "thick"), ("thickness", 0.1, "thin"), ("intensity", 0.9, "bright"), ("intensity", 0.1, "dim")):
            v = percentiles(train, node, (q,))[0]
            true = fl.copy()
            true[node] = v
            if node == "thickness":
                true["intensity"] = scm_intensity(np.full(len(fl), v), u)
            cf = model.counterfactual(fact, do={node: v}, seed=seed + 300)
            r = rb.read(cf)
            e, c = errors(r, true), errors(copy_read, true)
            em, cm = errors(meas.read(cf), true), errors(copy_meas, true)
            cf_rows.append({"node": node, "value": v, "name": name, **{f"cf_{k}": x for k, x in e.items()},
                            **{f"copy_{k}": x for k, x in c.items()},
                            **{f"cf_measured_{k}": x for k, x in em.items()}, **{f"copy_measured_{k}": x for k, x in cm.items()},
                            "label_intensity": float(np.mean(np.abs(cf.labels["intensity"].to_numpy() - true["intensity"].to_numpy()))),
                            "digit_label_kept": bool((cf.labels[DIGIT].to_numpy() == fl[DIGIT].to_numpy()).all())})
            grid_cols.append(cf.images)
        out["response"] = response(model, train, fact, rb, meas)
    out["cf"] = cf_rows
    if hasattr(model, "read_labels"):  # CCGM's own label head (its cycle term's judge) on re-set intensities
        out["head"] = head_check(model, fact, train)
    if png is not None:
        pick = [int(np.flatnonzero(fl[DIGIT].to_numpy() == d)[0]) for d in range(10) if (fl[DIGIT].to_numpy() == d).any()]
        cols = [fact.images, *grid_cols]
        tiles = np.stack([c[i] for i in pick for c in cols])
        out["png"] = str(save_grid(tiles, png))
    return out


def response(model: Any, train: ImageData, fact: ImageData, rb: ReadBack, meas: Measure) -> list[dict[str, Any]]:
    """The image mechanism alone: each factual digit's abducted style decoded (no residual ε)
    with one label set to its 10th / 50th / 90th training percentile and the others as
    observed, both labels read back (CNN and measured). A faithful decoder moves the set label
    one-for-one and leaves the other where it was."""
    style = model.abduct_style(fact)
    rows = []
    for node in CONT:
        for q, v in zip((0.1, 0.5, 0.9), percentiles(train, node, (0.1, 0.5, 0.9))):
            lab = fact.labels.copy()
            lab[node] = v
            img = ImageData(lab, model.decode(lab, style), image_node=fact.image_node)
            r, mr = rb.read(img), meas.read(img)
            rows.append({"node": node, "q": q, "value": v, **{f"read_{c}": float(r[c].mean()) for c in CONT},
                         **{f"measured_{c}": float(np.nanmean(mr[c])) for c in CONT}})
    return rows


def head_check(model: Any, fact: ImageData, train: ImageData) -> list[dict[str, Any]]:
    """What a model's own label reader (``model.read_labels``) says of real digits whose
    intensity is re-set as Morpho-MNIST sets it (pixels scaled; thickness unchanged)."""
    x = fact.images.astype(np.float64)
    rows = []
    for q, v in zip((0.1, 0.5, 0.9), percentiles(train, "intensity", (0.1, 0.5, 0.9))):
        f = v / fact.labels["intensity"].to_numpy()
        img = fact.with_images(np.clip(np.round(x * f[:, None, None, None]), 0, 255).astype(np.uint8))
        r = model.read_labels(img)
        rows.append({"q": q, "value": v, "true_thickness": float(fact.labels["thickness"].mean()),
                     "read_thickness": float(r["thickness"].mean()), "read_intensity": float(r["intensity"].mean())})
    return rows


def save_grid(tiles: np.ndarray, path: Path) -> Path:
    """The grid (one row per digit: factual | thick | thin | bright | dim) at ``path``, moved to
    bench/results/ when it is not small."""
    save_png(tiles, path, columns=5)
    if path.stat().st_size >= PNG_LIMIT and path.parent.resolve() == (ROOT / "assets").resolve():
        alt = ROOT / "bench" / "results" / path.name
        alt.parent.mkdir(parents=True, exist_ok=True)
        path.replace(alt)
        return alt
    return path


def run_model(kind: str, train: ImageData, test: ImageData, rb: ReadBack, meas: Measure, sizes: Sizes, seed: int,
              overrides: dict[str, Any], png: Path | None, save: Path | None = None) -> dict[str, Any]:
    graph = imd.morpho_graph(digit=True)
    settings = {**settings_for(kind, graph, sizes), **overrides}
    model = build_model(kind, graph, **settings)
    t0 = time.perf_counter()
    report = model.fit(train, seed=seed)
    fit_s = time.perf_counter() - t0
    print(f"{kind}: fit {fit_s:.0f} s ({report.steps} steps)", flush=True)
    if save is not None:
        model.save(save / kind)
    t1 = time.perf_counter()
    res = {"name": kind, "kind": kind, "settings": {k: (asdict(v) if is_dataclass(v) else v) for k, v in overrides.items()},
           "config": config_to_dict(model.config), "fit_s": fit_s, "label_s": model.labels.report.seconds, "steps": report.steps,
           "variety": getattr(model, "variety", None)}  # CausalGAN's mode-seeking gate
    if res["variety"]:
        print(f"{kind}: mode-seeking gate {res['variety']}", flush=True)
    recon = model.reconstruct(test[: sizes.n_cf])
    res["recon_bias"], res["recon_measured_bias"] = bias(rb.read(recon), recon.labels), bias(meas.read(recon), recon.labels)
    res.update(score(model, train, test, rb, meas, sizes, seed, png))
    res["score_s"] = time.perf_counter() - t1
    print(f"{kind}: scored in {res['score_s']:.0f} s", flush=True)
    return res


def run(kinds: list[str], sizes: Sizes, seed: int, threads: int, overrides: dict[str, Any], png_dir: Path,
        folder: Path = MORPHO, save: Path | None = None) -> dict[str, Any]:
    torch.set_num_threads(threads)
    train, cnn, test = load(folder)
    t0 = time.perf_counter()
    rb = ReadBack(cnn, sizes.readback_steps, seed)
    meas = Measure(cnn)
    res: dict[str, Any] = {"sizes": asdict(sizes), "seed": seed, "threads": threads, "readback_s": time.perf_counter() - t0,
                           "n": [len(train), len(cnn), len(test)], "equation": equation_check(pd.concat([train.labels, cnn.labels, test.labels])),
                           "floor": errors(rb.read(test), test.labels), "models": []}
    res["floor_measured"] = errors(meas.read(test), test.labels)
    print(f"read-back CNN: {res['readback_s']:.0f} s, floor {res['floor']}", flush=True)
    for kind in kinds:
        png = png_dir / f"morpho_scm_{kind.replace('-', '_')}.png"
        res["models"].append(run_model(kind, train, test, rb, meas, sizes, seed, overrides if kind == "causal-gan" else {}, png, save))
    return res


# ---------------------------------------------------------------------- report
def markdown(res: dict[str, Any], command: str, seconds: float, parallel: int = 1) -> str:
    start, end = markers(SECTION)
    s, fl, eq = res["sizes"], res["floor"], res["equation"]
    n_train, n_cnn, n_test = res["n"]
    lines = [
        start,
        "## Image models on real digits: Deep SCM's Morpho-MNIST (CCGM, CausalGAN)",
        "",
        f"- Command: {command}",
        f"- Machine: {machine()}; {load_note()}",
        f"- Date: {dt.date.today().isoformat()}; "
        + (f"{parallel} processes, the longest {seconds / 60:.1f} min" if parallel > 1 else f"whole run {seconds / 60:.1f} min")
        + f"; one seed ({res['seed']})" + ("; **--quick sizes: not comparable**" if s.get("quick") else ""),
        f"- Data: the 10,000 MNIST test digits of `../shared/data/morphomnist` (28 px padded to 32) with Deep SCM's "
        f"measured thickness and intensity and the digit class; graph `morpho_graph(digit=True)` (thickness → intensity, "
        f"thickness, intensity, digit → image). Models train on digits 0-{n_train - 1:,}, the read-back CNN on "
        f"{n_train:,}-{n_train + n_cnn - 1:,}, test digits {n_train + n_cnn:,}-{n_train + n_cnn + n_test - 1:,}. "
        "Both models through `build_model(kind, graph)` at their defaults"
        + (f" except {s['image_steps']} image and {s['label_steps']} label steps" if s.get("image_steps") else "")
        + f"; {s['n_gen']} generated images per query, {s['n_cf']} test digits counterfactualised.",
        f"- The true SCM: t = 0.5 + Gamma(shape 10, rate 5), i = 64 + 191 σ(0.5 u + 2 t − 5), u ~ N(0, 1) (Deep SCM; rate 5, "
        "i.e. scale 0.2: the digits' mean thickness is 2.5). On the CSV's measured values: thickness's "
        f"Gamma fit shape {eq['gamma_shape']:.2f}, rate {eq['gamma_rate']:.2f}; the u abducted by the equation has mean "
        f"{eq['u_mean']:.3f}, sd {eq['u_sd']:.3f} (N(0, 1) if it holds); a refit of logit((i − 64)/191) = a + b t gives "
        f"b = {eq['slope']:.3f}, a = {eq['intercept']:.3f} (equation: 2, −5); corr(t, i) = {eq['corr']:.3f}. The equation is "
        "used for the true intensity under do(thickness) and, with each test digit's abducted u, for counterfactual intensity.",
        f"- *Read-back CNN*: `ConvHead` (width 32), {s['readback_steps']} Adam steps on the {n_cnn:,} read-back digits, "
        "thickness and intensity by squared error, digit by cross-entropy; half of each batch has its intensity re-set as "
        "Morpho-MNIST sets it (pixels scaled to an intensity drawn from the marginal, independent of thickness; label re-measured) "
        "so it cannot read one off the other. *floor*: its error on the real test digits: thickness "
        f"**{fl['thickness']:.3f} px**, intensity **{fl['intensity']:.1f}** grey levels, digit accuracy **{fl[DIGIT]:.1%}** "
        + (f"(label sds: thickness {eq['sd_thickness']:.3f} px, intensity {eq['sd_intensity']:.1f}). " if "sd_thickness" in eq else "")
        + "Errors are mean absolute errors in px / grey levels (0-255).",
        "",
        "| model | fit s (labels + images) | steps | fidelity: thickness | intensity | digit | do(t) t MAE | do(t) digit | "
        "do(i) i MAE | do(i) digit | CF thickness | CF intensity | CF digit kept | copy: thickness | intensity |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| read-back floor (real test digits) | | | {fl['thickness']:.3f} | {fl['intensity']:.1f} | {fl[DIGIT]:.1%} | | | | | "
        f"| | {fl[DIGIT]:.1%} | | |",
    ]
    for m in res["models"]:
        do, cf, f = pd.DataFrame(m["do"]), pd.DataFrame(m["cf"]), m["fidelity"]
        dt_, di = do[do.node == "thickness"], do[do.node == "intensity"]
        lines.append(
            f"| {m['name']} | {m['fit_s']:.0f} ({m['label_s']:.0f} + {m['fit_s'] - m['label_s']:.0f}) | {m['steps']} | "
            f"{f['thickness']:.3f} | {f['intensity']:.1f} | {f[DIGIT]:.1%} | {dt_.set_mae.mean():.3f} | {dt_.digit.mean():.1%} | "
            f"{di.set_mae.mean():.1f} | {di.digit.mean():.1%} | {cf.cf_thickness.mean():.3f} | {cf.cf_intensity.mean():.1f} | "
            f"{cf.cf_digit.mean():.1%} | {cf.copy_thickness.mean():.3f} | {cf.copy_intensity.mean():.1f} |")
    lines += [
        "",
        "*fidelity*: labels read off observational samples vs the labels they were drawn with (digit: agreement). *do(t) t MAE*: "
        "thickness read off do(thickness = v)-samples vs v (v: the 25/50/75th training percentiles), *do(i) i MAE* likewise; "
        "*digit*: the classifier's agreement with the digit label each sample was drawn with. *CF*: the counterfactuals of the "
        "test digits under do(thickness = 10th / 90th percentile) and do(intensity = 10th / 90th percentile), read back vs the "
        "SCM's counterfactual labels (intensity under do(thickness) from the equation with the digit's abducted u); *CF digit "
        "kept*: classifier on the counterfactual = the factual digit; *copy*: the factual image itself read back vs the same "
        "counterfactual labels (the baseline a counterfactual must beat).",
        "",
        "Interventions, the other label: under do(thickness = v) intensity read back (mean, W1 to the true SCM's "
        "distribution at t = v) and the model's own intensity labels; under do(intensity = v) thickness read back against "
        "its marginal (what do() should leave it), beside what *seeing* intensity ≈ v gives (mean thickness of the 500 "
        "training digits nearest in intensity):",
        "",
        "| model | do | set MAE | set: read mean | digit | other | true mean | read mean | measured mean | W1 read | model label mean | W1 labels | seen mean |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in res["models"]:
        for r in m["do"]:
            fmt = (lambda x: f"{x:.3f}") if r["other"] == "thickness" else (lambda x: f"{x:.1f}")
            set_fmt = f"{r['set_mae']:.3f}" if r["node"] == "thickness" else f"{r['set_mae']:.1f}"
            sm = f"{r['set_mean']:.3f}" if r["node"] == "thickness" else f"{r['set_mean']:.1f}"
            lines.append(f"| {m['name']} | {r['node']} = {r['value']:.4g} | {set_fmt} | {sm} | {r['digit']:.1%} | {r['other']} | "
                         f"{fmt(r['true_mean'])} | {fmt(r['read_mean'])} | {fmt(r['other_mean_measured'])} | {fmt(r['read_w1'])} | {fmt(r['label_mean'])} | "
                         f"{fmt(r['label_w1'])} | {fmt(r['seen_mean']) if 'seen_mean' in r else ''} |")
    lines += ["", "Counterfactuals per intervention (model | copy the factual):", "",
              "| model | do | thickness MAE | intensity MAE | digit kept | model's CF intensity label vs SCM |",
              "|---|---|---|---|---|---|"]
    for m in res["models"]:
        for r in m["cf"]:
            lines.append(f"| {m['name']} | {r['node']} = {r['value']:.4g} ({r['name']}) | {r['cf_thickness']:.3f} \\| {r['copy_thickness']:.3f} | "
                         f"{r['cf_intensity']:.1f} \\| {r['copy_intensity']:.1f} | {r['cf_digit']:.1%} \\| {r['copy_digit']:.1%} | "
                         f"{r['label_intensity']:.1f} |")
    fm = res.get("floor_measured")
    if fm and all("fidelity_measured" in m for m in res["models"]):
        lines += ["", "A second instrument, no CNN: intensity by Morpho-MNIST's own measure (the median of the pixels above half "
                  "the image's range), thickness as twice the mean distance transform on the stroke's ridge at 4× upsampling, "
                  "mapped linearly onto the thickness labels of the read-back digits (`bench.morpho_scm.Measure`). Its floor on "
                  f"the real test digits: thickness {fm['thickness']:.3f} px, intensity {fm['intensity']:.1f}. *bias*: mean "
                  "signed error (read − label) of observational samples and of reconstructions of the test digits "
                  "(CNN / measured).", "",
                  "| model | fidelity t (measured) | fidelity i (measured) | bias t: samples | bias i: samples | bias t: recon | "
                  "bias i: recon | do(t) t MAE (measured) | do(i) i MAE (measured) | CF t (measured): model \\| copy | CF i (measured): model \\| copy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in res["models"]:
            do, cf, f = pd.DataFrame(m["do"]), pd.DataFrame(m["cf"]), m["fidelity_measured"]
            fb, mb, rb_, rmb = m["fidelity_bias"], m["fidelity_measured_bias"], m["recon_bias"], m["recon_measured_bias"]
            lines.append(
                f"| {m['name']} | {f['thickness']:.3f} | {f['intensity']:.1f} | {fb['thickness']:+.2f} / {mb['thickness']:+.2f} | "
                f"{fb['intensity']:+.1f} / {mb['intensity']:+.1f} | {rb_['thickness']:+.2f} / {rmb['thickness']:+.2f} | "
                f"{rb_['intensity']:+.1f} / {rmb['intensity']:+.1f} | {do[do.node == 'thickness'].set_mae_measured.mean():.3f} | "
                f"{do[do.node == 'intensity'].set_mae_measured.mean():.1f} | {cf.cf_measured_thickness.mean():.3f} \\| "
                f"{cf.copy_measured_thickness.mean():.3f} | {cf.cf_measured_intensity.mean():.1f} \\| {cf.copy_measured_intensity.mean():.1f} |")
    if all("response" in m for m in res["models"]):
        lines += ["", "The image mechanism alone (each test digit's abducted style decoded with one label set to its 10th / 50th / "
                  "90th training percentile, the other as observed, no residual ε; means read back by the CNN / measured). A "
                  "faithful decoder moves the set label one-for-one and leaves the other unchanged:", "",
                  "| model | set | value | thickness read (CNN / measured) | intensity read (CNN / measured) |", "|---|---|---|---|---|"]
        for m in res["models"]:
            for r in m["response"]:
                lines.append(f"| {m['name']} | {r['node']} ({r['q']:.0%}) | {r['value']:.4g} | {r['read_thickness']:.2f} / "
                             f"{r['measured_thickness']:.2f} | {r['read_intensity']:.1f} / {r['measured_intensity']:.1f} |")
    for m in res["models"]:
        if m.get("head"):
            h = m["head"]
            lines += ["", f"{m['name']}'s own label head (the judge of its cycle term) on the real test digits with their "
                      "intensity re-set as Morpho-MNIST sets it (thickness unchanged, mean "
                      f"{h[0]['true_thickness']:.2f} px): it reads thickness "
                      + ", ".join(f"{r['read_thickness']:.2f} px at intensity {r['value']:.0f}" for r in h) + "."]
    if res.get("note"):
        lines += ["", res["note"]]
    pngs = [(m["name"], m.get("png")) for m in res["models"] if m.get("png")]
    for name, p in pngs:
        rel = Path(p).resolve()
        try:
            rel = rel.relative_to(ROOT)
        except ValueError:
            pass
        if str(rel).startswith("assets/"):
            lines += ["", f"{name}, one test digit of each class per row: factual | thick | thin | bright | dim "
                      f"(counterfactuals at the 90th / 10th percentiles):", "", f"![{name} counterfactuals on Morpho-MNIST](../{rel})"]
        else:
            lines += ["", f"{name}: counterfactual grid at `{rel}` (not tracked)."]
    lines.append(end)
    return "\n".join(lines)


def parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="markdown file to update (e.g. docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes (a smoke run; numbers are not comparable)")
    ap.add_argument("--only", action="append", choices=MODELS, default=None, help="just this model (repeatable)")
    ap.add_argument("--merge", nargs="+", type=Path, default=None, metavar="JSON",
                    help="write one section from the --json results of separate runs (same sizes and seed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", type=Path, default=MORPHO, help="the Morpho-MNIST folder (default ../shared/data/morphomnist)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a causal-gan setting (JSON values)")
    ap.add_argument("--sizes", default=None, help="JSON object overriding sizes, e.g. '{\"n_cf\": 200}'")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "morpho_scm.json")
    ap.add_argument("--note", type=Path, default=None,
                    help="with --merge: a markdown file whose text is added to the section (what the numbers show)")
    ap.add_argument("--save", type=Path, default=None, help="save each fitted model under this folder (for a closer look)")
    ap.add_argument("--png-dir", type=Path, default=None,
                    help="where the counterfactual grids go (default: assets/, or next to --json with --quick)")
    args = ap.parse_args(argv)
    command = "python bench/morpho_scm.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        if any((p["sizes"], p["seed"]) != (parts[0]["sizes"], parts[0]["seed"]) for p in parts):
            raise SystemExit("error: the --merge results differ in sizes or seed")
        res = {**parts[0], "models": [m for p in parts for m in p["models"]], "note": args.note.read_text().strip() if args.note else None}
        torch.set_num_threads(res["threads"])  # as the runs had it (the machine line says so)
        section = markdown(res, " and ".join(f"`{p['command']}`" for p in parts) + f" (separate processes), then `{command.strip()}`",
                           max(p["wall_s"] for p in parts), parallel=len(parts))
    else:
        sizes = QUICK if args.quick else Sizes()
        if args.sizes:
            sizes = replace(sizes, **json.loads(args.sizes))
        png_dir = args.png_dir or (args.json.parent if args.quick else ROOT / "assets")
        t0 = time.time()
        try:
            res = run(list(args.only or MODELS), sizes, args.seed, args.threads, parse_sets(args.set), png_dir, args.data, args.save)
        except MissingData as e:
            print(f"{e}: skipped (see ../shared/data/README.md)", file=sys.stderr)
            return 0
        res["command"], res["wall_s"] = command.strip(), time.time() - t0
        write_json(args.json, res)
        section = markdown(res, f"`{command.strip()}`", res["wall_s"])
    print(section)
    if args.out:
        write_section(args.out, section, name=SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
