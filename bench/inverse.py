"""Benchmark inverse problems with trained generators as priors (compressed sensing with
generative models, Bora et al. 2017): per-pixel MSE of the generator prior (CSGM), Deep Image
Prior (plain and with learned regularization) and Lasso in 2-D DCT and wavelet bases against
the number of Gaussian measurements, on the built-in 32 px glyphs, on Morpho-MNIST when present
and, when asked for, on the built-in RGB faces and pendulum (and with measurement noise, in a table
of its own); writes the ``inverse`` section of docs/benchmarks.md.

    python bench/inverse.py --out docs/benchmarks.md     # default sizes
    python bench/inverse.py --quick                      # reduced sizes: checks that it runs
    python bench/inverse.py --datasets faces --methods generator dip lasso lasso-wavelet --results R
    python bench/inverse.py --datasets morpho-glyphs --noise 0.01 --parts cs --ms 25 100 200 --results N
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import markers, write_section  # noqa: E402
from bench.tabular import machine  # noqa: E402
from causal import images as imd  # noqa: E402
from causal.images import ImageData  # noqa: E402
from generators import build_model, load_model  # noqa: E402

MORPHO = ROOT.parent / "shared" / "data" / "morphomnist"
TARGET_RATIO = 5.0  # CSGM on MNIST: the generator prior reaches Lasso's error at m = 200 with 5x fewer measurements
TARGET_SECONDS = 2.0  # one CSGM recovery of a 32 px image on 2 CPU cores, restarts batched
DATASETS = ("morpho-glyphs", "morpho-mnist", "faces", "pendulum")
DEFAULT = ("morpho-glyphs", "morpho-mnist")  # faces and pendulum (RGB) only when named: another generator to train, more cells
TEST_POOL = 200  # images held out of training per dataset; the benchmark tests on the first of them


def pad_to_32(data: ImageData) -> ImageData:
    """Morpho-MNIST's 28 px digits with a 2 px black border: 32 px, as image models need."""
    imgs = np.pad(data.images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return ImageData(data.labels.reset_index(drop=True), imgs, image_node=data.image_node)


def datasets(n_train: int, n_test: int, seed: int = 0,
             only: tuple[str, ...] | None = None) -> dict[str, tuple[Any, ImageData, ImageData]]:
    """name -> (graph, training images, test images never trained on): the default datasets
    (``DEFAULT``), or those in ``only``."""
    out: dict[str, tuple[Any, ImageData, ImageData]] = {}
    wanted = only or DEFAULT
    for name in DATASETS:
        if name not in wanted:
            continue
        if name != "morpho-mnist":  # built in: the held-out pool follows the training images
            ds = imd.load(name, n=n_train + n_test, seed=seed, size=32)
            out[name] = (ds.graph, ds.data[:n_train], ds.data[n_train:])
        elif MORPHO.is_dir():
            mm = pad_to_32(imd.load_morpho_mnist(MORPHO))
            mm = ImageData(mm.labels[["thickness", "intensity"]], mm.images, image_node=mm.image_node)
            k = min(n_train, len(mm) - n_test)
            out[name] = (imd.morpho_graph(), mm[:k], mm[len(mm) - n_test:])
        else:
            print(f"Morpho-MNIST not found at {MORPHO}: skipped", file=sys.stderr)
    return out


def trained(name: str, graph: Any, train: ImageData, models_dir: Path, steps: int | None) -> Any:
    """The dataset's generator (CCGM, the project's defaults unless ``steps``), trained once and
    kept in ``models_dir`` (safetensors + JSON)."""
    path = models_dir / (f"{name}-ccgm" + ("" if steps is None else f"-{steps}"))
    if (path / "model.json").exists():
        fit = path / "fit_seconds.txt"
        return load_model(path), float(fit.read_text()) if fit.exists() else None
    settings: dict[str, Any] = {}
    if steps is not None:
        from generators.training import TrainConfig

        settings["image_train"] = TrainConfig(steps=steps, batch_size=64, lr=1e-3, val_fraction=0.05, max_epochs=10_000)
    model = build_model("ccgm", graph, **settings)
    t0 = time.perf_counter()
    model.fit(train, seed=0)
    fit_s = time.perf_counter() - t0
    model.save(path)
    (path / "fit_seconds.txt").write_text(f"{fit_s:.1f}\n")
    print(f"trained {name} in {fit_s:.0f} s -> {path}", file=sys.stderr, flush=True)
    return model, fit_s


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, C]`` -> floats ``[C, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1) / 255.0


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and a 95% bootstrap percentile interval (SciPy, 2,000 resamples) over test images."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2 or np.ptp(v) == 0:
        return float(v.mean()), float("nan"), float("nan")
    ci = stats.bootstrap((v,), np.mean, n_resamples=2000, method="percentile", random_state=0).confidence_interval
    return float(v.mean()), float(ci.low), float(ci.high)


def fmt(v: float) -> str:
    """An MSE with four decimals, or two significant digits below 0.001."""
    return f"{v:.4f}" if v >= 1e-3 or v == 0 or v != v else f"{v:.1e}"


def run_problem(model: Any, x: torch.Tensor, spec: str, method: str, seed: int, noise: float,
                dip_steps: int = 1000, prior: Any = None) -> dict[str, float]:
    from generators.inverse import measure, parse_measure, recover

    op = parse_measure(spec, tuple(x.shape), seed=seed)
    y = measure(x, op, noise=noise, seed=seed + 1)
    options: dict[str, Any] = {"steps": dip_steps} if method in ("dip", "dip-lr") else {}
    if method == "dip-lr":
        options["dip_prior"] = prior
    r = recover(y, op, method=method, model=model if method == "generator" else None, truth=x, seed=seed, **options)
    return {"mse": r.mse, "seconds": r.seconds}  # type: ignore[dict-item]


@dataclass(frozen=True)
class Sizes:
    n_train: int = 5000  # training images per dataset (Morpho-MNIST: the first of its 10,000 test digits)
    n_test: int = 50  # test images (never trained on) per dataset and measurement
    ms: tuple[int, ...] = (25, 40, 50, 100, 200, 500)  # Gaussian measurements; 40 = 200 / 5 (the CSGM target)
    # RGB (3 x 32 x 32 = 3,072 values): the grey grid's fractions of the values x3 (120, 600, 1500 ~ 40, 200, 500
    # of 1,024) plus the absolute m of the CSGM target (25, 40 against Lasso at 200)
    rgb_ms: tuple[int, ...] = (25, 40, 120, 200, 600, 1500)
    restore: tuple[str, ...] = ("mask:random:0.5", "mask:block:12", "down:2", "down:4")
    n_restore: int = 4  # test images for inpainting and super-resolution
    noise: float = 0.0  # measurement noise sd (pixel units)
    steps: int | None = None  # generator training steps (None: CCGM's default)
    dip_steps: int = 1000  # Deep Image Prior's most Adam steps (it stops early on held-out measurements)
    lr_ms: tuple[int, ...] = (25, 40, 50)  # where DIP with learned regularization runs (its gain is at low m)
    n_prior: int = 8  # training images its prior on DIP's weights is learned from
    prior_steps: int = 500  # Adam steps of each of those fits


QUICK = Sizes(n_train=600, n_test=2, ms=(25, 200), rgb_ms=(25, 200), restore=("mask:random:0.5",), n_restore=1, steps=100, lr_ms=(25,),
              n_prior=3, prior_steps=50)
METHODS = ("generator", "dip", "dip-lr", "lasso", "lasso-wavelet")
LABELS = dict(zip(METHODS, ("generator", "DIP", "DIP-LR", "Lasso-DCT", "Lasso-wav")))  # as the tables name them
CHEAP = ("lasso", "lasso-wavelet", "generator")  # seconds per image: run first at every m; DIP at large m last


def dip_prior(name: str, train: ImageData, models_dir: Path, sizes: Sizes) -> Any:
    """The dataset's prior on DIP's weights (``learn_dip_prior`` on its first ``n_prior`` training
    images, λ by leave-one-out validation), learned once and kept in ``models_dir``."""
    from generators.inverse import learn_dip_prior, load_dip_prior

    path = models_dir / f"{name}-dip-prior-{sizes.n_prior}-{sizes.prior_steps}"
    if (path / "prior.json").exists():
        return load_dip_prior(path)
    t0 = time.perf_counter()
    prior = learn_dip_prior(train.images[: sizes.n_prior], steps=sizes.prior_steps, seed=0, dip_steps=sizes.dip_steps)
    prior = type(prior)(**{**prior.__dict__, "info": {**prior.info, "seconds": time.perf_counter() - t0}})
    prior.save(path)
    print(f"learned the DIP prior of {name} in {time.perf_counter() - t0:.0f} s (lambda {prior.lam:g}) -> {path}",
          file=sys.stderr, flush=True)
    return prior


def cells(sizes: Sizes, methods: tuple[str, ...]) -> list[tuple[str, str, str, int]]:
    """(kind, spec, method, images) of every cell, cheapest first: every method at the small m
    DIP-LR runs at, then the cheap methods at the other m, then DIP there, then the rest."""
    cs = [("cs", f"gaussian:{m}", meth, sizes.n_test) for m in sizes.ms for meth in METHODS
          if meth in methods and (meth != "dip-lr" or m in sizes.lr_ms)]
    rank = lambda c: (0 if int(c[1].split(":")[1]) in sizes.lr_ms else 1 if c[2] in CHEAP else 2)  # noqa: E731
    rest = [("restore", spec, meth, sizes.n_restore) for spec in sizes.restore for meth in METHODS
            if meth in methods and meth != "dip-lr"]
    return sorted(cs, key=rank) + rest


def evaluate(sizes: Sizes, models_dir: Path, results: Path, parts: tuple[str, ...],
             only: tuple[str, ...] | None = None, methods: tuple[str, ...] = METHODS,
             deadline: float | None = None) -> dict[str, Any]:
    torch.set_num_threads(1)
    out: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
    for name, (graph, train, test) in datasets(sizes.n_train, TEST_POOL, only=only or None).items():
        model, fit_s = trained(name, graph, train, models_dir, sizes.steps)
        entry = out.setdefault(name, {"fit_s": fit_s, "n_train": len(train), "cs": {}, "restore": {}, "repr": []})
        entry.setdefault("shape", list(as_tensor(test.images[0]).shape))  # [C, H, W]
        grid = replace(sizes, ms=sizes.rgb_ms) if entry["shape"][0] > 1 else sizes  # the m grid of its pixel count
        xs = [as_tensor(test.images[i]) for i in range(sizes.n_test)]
        if "repr" in parts and not entry["repr"]:
            # the generator's representation error: its best fit when every pixel is seen
            entry["repr"] = [run_problem(model, x, "mask:random:1", "generator", i, 0.0)["mse"] for i, x in enumerate(xs)]
            results.write_text(json.dumps(out))
        if not entry.get("baseline") and not sizes.noise:  # guesses that ignore the measurements (noisy runs add cells only)
            mean = as_tensor(train.images.mean(0))
            entry["baseline"] = {"black": [float((x**2).mean()) for x in xs],
                                 "mean": [float(((x - mean) ** 2).mean()) for x in xs]}
        if "time" in parts and not entry.get("time"):
            # one CSGM recovery at m = 200 on one thread: wall and CPU seconds (two threads on a machine shared
            # with other jobs spend more time waiting for each other than computing)
            torch.set_num_threads(1)
            rows = []
            for i, x in enumerate(xs[:5]):
                w0, c0 = time.perf_counter(), time.process_time()
                run_problem(model, x, "gaussian:200", "generator", i, 0.0)
                rows.append({"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0})
            entry["time"] = rows
            results.write_text(json.dumps(out))
        todo = [c for c in cells(grid, methods) if c[0] in parts]
        slot = {"cs": "cs_noise"} if sizes.noise else {}  # noisy compressed sensing: cells of their own
        if sizes.noise:
            if entry.setdefault("noise", sizes.noise) != sizes.noise:
                raise ValueError(f"{results} holds {name}'s cells at noise sd {entry['noise']:g}, not {sizes.noise:g}")
            entry.setdefault("cs_noise", {})
        prior = None
        if any(c[2] == "dip-lr" for c in todo):
            prior = dip_prior(name, train, models_dir, sizes)
            entry["dip_prior"] = {"lam": prior.lam, **prior.info}
        xs = [as_tensor(test.images[i]) for i in range(max([sizes.n_test, sizes.n_restore])) ]
        # image-major within each tier of cells (see cells): a deadline leaves every cell of a tier with
        # about as many images; image i is measured and recovered with seed i, so more images extend a
        # cell and never redo it
        tiers: dict[tuple[str, int], list[tuple[str, str, str, int]]] = {}
        for c in todo:
            tier = 0 if c[0] == "cs" and int(c[1].split(":")[1]) in sizes.lr_ms else 1 if c[2] in CHEAP else 2
            tiers.setdefault((c[0], tier), []).append(c)
        for group in tiers.values():
            for i in range(max(c[3] for c in group)):
                for kind, spec, method, n in group:
                    rows = entry[slot.get(kind, kind)].setdefault(f"{spec}|{method}", [])
                    if len(rows) != i or i >= n:
                        continue
                    if deadline is not None and time.time() > deadline:
                        print(f"deadline reached: {name} stops before image {i}", file=sys.stderr, flush=True)
                        results.write_text(json.dumps(out))
                        return out
                    rows.append(run_problem(model, xs[i], spec, method, i, sizes.noise, sizes.dip_steps, prior))
                    results.write_text(json.dumps(out))
                done = {f"{c[1]}|{c[2]}": len(entry[slot.get(c[0], c[0])][f"{c[1]}|{c[2]}"]) for c in group}
                print(f"{name} image {i}: {done}", file=sys.stderr, flush=True)
    return out


def cell_ms(cells: Any) -> list[int]:
    """The numbers of Gaussian measurements among result cells keyed ``"gaussian:M|method"``."""
    return sorted({int(k.split("|")[0].split(":")[1]) for k in cells})


def snr(entry: dict[str, Any], sd: float, ms: list[int]) -> str:
    """The measurements' signal-to-noise ratio at the smallest and largest m, E‖Ax‖² / E‖e‖² =
    ‖x‖² / (m sd²) for A with N(0, 1/m) entries, from the test images' mean squared pixel (the
    black image's error); empty without it."""
    black = entry.get("baseline", {}).get("black")
    if not black or not sd:
        return ""
    energy = float(np.mean(black)) * int(np.prod(entry.get("shape", (1, 32, 32))))
    db = [10 * np.log10(energy / (m * sd**2)) for m in (ms[0], ms[-1])]
    return f"; signal-to-noise ratio ‖Ax‖²/‖e‖² ≈ {db[0]:.0f} dB at m = {ms[0]}" + (
        f" to {db[1]:.0f} dB at m = {ms[-1]}" if len(ms) > 1 else "")


def noise_lines(entry: dict[str, Any]) -> list[str]:
    """The table of compressed sensing with measurement noise (``--noise``, cells ``cs_noise``): per m
    and method the noisy MSE and, on the same images, the noise-free one; no lines without such cells."""
    noisy = {k: v for k, v in entry.get("cs_noise", {}).items() if v}
    if not noisy:
        return []
    sd, n = entry.get("noise", 0.0), max(len(v) for v in noisy.values())
    methods = [meth for meth in METHODS if any(k.split("|")[1] == meth for k in noisy)]
    lines = ["", f"Compressed sensing with measurement noise sd {sd:g} (y = A x + e, e ~ N(0, {sd:g}²) in each "
             "measurement; the same test images, A and seeds as the noise-free table; "
             + (f"{n} test images per cell" if min(len(v) for v in noisy.values()) == n else
                f"{n} test images per cell where complete, (n = ...) where fewer")
             + "): mean MSE [95% interval] (noise-free MSE on the same images)"
             + snr(entry, sd, cell_ms(noisy)) + ".", "",
             "| m | " + " | ".join(LABELS[meth] for meth in methods) + " | s: " + " / ".join(LABELS[meth] for meth in methods) + " |",
             "|---|" + "---|" * (len(methods) + 1)]
    for m in cell_ms(noisy):
        cells, secs = [], []
        for meth in methods:
            rows = noisy.get(f"gaussian:{m}|{meth}", [])
            if not rows:
                cells.append("–"); secs.append("–")
                continue
            mean, lo, hi = interval([r["mse"] for r in rows])
            clean = entry.get("cs", {}).get(f"gaussian:{m}|{meth}", [])
            ref = f" ({fmt(float(np.mean([r['mse'] for r in clean[:len(rows)]])))})" if len(clean) >= len(rows) else " (–)"
            cells.append(f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]{ref}" + (f" (n = {len(rows)})" if len(rows) < n else ""))
            secs.append(f"{np.mean([r['seconds'] for r in rows]):.1f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " | " + " / ".join(secs) + " |")
    return lines


def markdown(out: dict[str, Any], sizes: Sizes, command: str, seconds: float | None, note: str | None = None) -> str:
    start, end = markers("inverse")
    lines = [start, "## Inverse problems: trained generators as priors", "",
             f"- Command: `{command}` ({'' if seconds is None else f'{seconds / 60:.0f} min, '}{dt.date.today().isoformat()}); "
             f"machine: {machine()}, "
             "shared with other jobs (times are upper bounds).",
             f"- Generators: CCGM (its VAE decoder, the project's default settings) trained on {sizes.n_train:,} images "
             "per dataset at 32 px (training times below are on the shared machine); Morpho-MNIST digits padded "
             "28 → 32 px, trained on the first 5,000 of the 10,000 test digits of `../shared/data/morphomnist`, tested "
             f"on the first of its last {TEST_POOL} digits (never trained on).",
             "- Test images: the first images of each dataset's held-out pool (how many is said per dataset), the same for every method; per-pixel MSE (pixels in [0, 1]), mean and 95% bootstrap interval "
             "over the images; noise-free measurements unless stated"
             + (f" (here noise sd {sizes.noise:g})" if sizes.noise else "") + ".",
             "- Methods (`generators.inverse.recover`): *generator* = CSGM, min ‖A G(l, z) − y‖² + 0.1‖z‖² by Adam "
             "(300 steps, lr 0.05) from 10 restarts in one batch, labels free (drawn from the model, then tuned with z), "
             "the best restart by measurement error; *DIP* = Deep Image Prior (untrained 4-layer conv decoder, width 32, "
             f"≤ {sizes.dip_steps:,} Adam steps, early stopping on 10% held-out measurements); *DIP-LR* = the same with "
             "Van Veen et al.'s learned regularization, + λ Σ_l (w_l − μ_l)ᵀ Σ_l⁻¹ (w_l − μ_l) over DIP's weight tensors, "
             f"μ and Σ from DIP fits ({sizes.prior_steps} Adam steps, every fit from the same first weights) to the first "
             f"{sizes.n_prior} training images, Σ shrunk by Ledoit-Wolf (scikit-learn), λ from (1e-4, 1e-3, 1e-2, 0.1) by "
             "leave-one-out validation on 3 of those training images measured by gaussian:50 (run only at "
             f"m = {', '.join(map(str, sizes.lr_ms))}, where its gain is expected); *Lasso* = scikit-learn LassoCV on "
             "orthonormal 2-D DCT coefficients (SciPy), the DC coefficient of each channel left unpenalized (`free_dc`: "
             "y and the penalized columns projected off the free ones, LassoCV on the rest, the free coefficients by "
             "least squares), α by 5-fold cross-validation over the (projected) measurements; "
             "*Lasso-wav* = the same on orthonormal 2-D Daubechies-4 wavelet coefficients (PyWavelets, periodization, "
             "2 levels at 32 px), the coarsest approximation band (8 x 8 per channel) left unpenalized where it has at "
             "most m / 4 columns (grey m ≥ 256, RGB m ≥ 768), else the constant image of each channel.",
             ""]
    misses: list[str] = []
    for name, entry in out.items():
        lines += [f"### {name}", ""]
        shape = tuple(entry.get("shape", (1, 32, 32)))  # results from before it was recorded: grey 32 px
        pixels = int(np.prod(shape))
        if entry.get("fit_s"):
            lines.append(f"Generator training: {entry['fit_s']:.0f} s on {entry['n_train']:,} images.")
        if entry.get("repr"):
            m, lo, hi = interval(entry["repr"])
            lines.append(f"Generator representation error (best fit with every pixel seen, {len(entry['repr'])} test images): "
                         f"{m:.4f} [{lo:.4f}, {hi:.4f}].")
        base = entry.get("baseline")
        if base:
            lines.append(f"Guesses that ignore the measurements ({len(base['black'])} test images): the black image "
                         f"{interval(base['black'])[0]:.4f}, the mean training image {interval(base['mean'])[0]:.4f}.")
        prior = entry.get("dip_prior")
        if prior:
            val = ", ".join(f"λ {k}: {v:.4f}" for k, v in prior.get("validation_mse", {}).items())
            lines.append(f"DIP-LR prior: learned from {prior.get('n_images')} training images"
                         + (f" in {prior['seconds']:.0f} s" if prior.get("seconds") else "")
                         + f"; λ = {prior['lam']:g} (validation MSE {val}).")
        if shape[0] > 1:
            lines.append(f"RGB ({shape[0]} x {shape[1]} x {shape[2]} = {pixels:,} pixel values): a Gaussian measurement "
                         "mixes every value of every channel; mask:random:P and mask:block:K keep or drop a pixel's "
                         f"{shape[0]} channels together and down:F averages each channel, so m counts values ({shape[0]} per "
                         "kept pixel or block); DIP outputs the channels together; Lasso's DCT and wavelet bases act per "
                         "channel (block-diagonal)."
                         + (" The m grid is the grey one's fractions of the pixel values x3 (120, 600, 1,500 for 40, 200, "
                            "500 of 1,024) plus the absolute m of the CSGM target (25, 40 and Lasso at 200)."
                            if cell_ms(entry.get("cs", {})) == list(Sizes.rgb_ms)
                            else ""))
        size = f"{pixels:,} pixels" if shape[0] == 1 else f"{pixels:,} pixel values"
        lines += ["", f"Compressed sensing (Gaussian measurements A with N(0, 1/m) entries; {size}):", "",
                  "| m | generator | DIP | DIP-LR | Lasso-DCT | Lasso-wav | s: generator / DIP / DIP-LR / Lasso / Lasso-wav |",
                  "|---|---|---|---|---|---|---|"]
        cs = entry.get("cs", {})
        if cs:
            counts = [len(v) for v in cs.values() if v]
            lines[-4] += (f" {max(counts)} test images per cell." if min(counts) == max(counts) else
                          f" {max(counts)} test images per cell where complete; (n = ...) gives a cell's count where fewer.")
        ms = cell_ms(cs)
        res: dict[tuple[int, str], float] = {}
        for m in ms:
            cells, secs = [], []
            for method in METHODS:
                rows = cs.get(f"gaussian:{m}|{method}")
                if not rows:
                    cells.append("–"); secs.append("–")
                    continue
                mean, lo, hi = interval([r["mse"] for r in rows])
                res[(m, method)] = mean
                full = max(len(v) for v in cs.values())
                cells.append(f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]" + (f" (n = {len(rows)})" if len(rows) < full else ""))
                secs.append(f"{np.mean([r['seconds'] for r in rows]):.1f}")
            lines.append(f"| {m} | " + " | ".join(cells) + " | " + " / ".join(secs) + " |")
        lines.append("")
        for m in ms:  # DIP-LR against plain DIP on the same images (image i: the same measurement and seed)
            dip, lr = cs.get(f"gaussian:{m}|dip", []), cs.get(f"gaussian:{m}|dip-lr", [])
            n = min(len(dip), len(lr))
            if n:
                d, lv = [r["mse"] for r in dip[:n]], [r["mse"] for r in lr[:n]]
                lines.append(f"DIP-LR vs DIP at m = {m}, the same {n} images: mean MSE {fmt(float(np.mean(lv)))} vs "
                             f"{fmt(float(np.mean(d)))}, lower on {sum(a < b for a, b in zip(lv, d))} of {n}.")
        if any("|dip-lr" in k for k in cs):
            lines.append("")
        if (200, "lasso") in res:
            target = res[(200, "lasso")]
            reach = [m for m in ms if res.get((m, "generator"), np.inf) <= target]
            fewest = min(reach) if reach else None
            ok = fewest is not None and fewest * TARGET_RATIO <= 200
            lines.append(f"CSGM target (the generator prior reaches Lasso's error at m = 200, {target:.4f}, with 5x fewer "
                         f"measurements, m ≤ 40): fewest m at which it does here: {fewest if fewest else 'none of the m measured'} — "
                         f"{'met' if ok else 'missed'}.")
            if not ok:
                misses.append(f"{name}: CSGM 5x target")
            scaled = 200 * pixels // 1024  # the same target at the same fraction of the pixel values
            if pixels != 1024 and (scaled, "lasso") in res:
                target = res[(scaled, "lasso")]
                reach = [m for m in ms if res.get((m, "generator"), np.inf) <= target]
                fewest = min(reach) if reach else None
                ok = fewest is not None and fewest * TARGET_RATIO <= scaled
                lines.append(f"The same target at the same fraction of the pixel values (Lasso's error at m = {scaled}, "
                             f"{target:.4f}, with m ≤ {scaled / TARGET_RATIO:g}): fewest m at which the generator reaches "
                             f"it: {fewest if fewest else 'none of the m measured'} — {'met' if ok else 'missed'}.")
                if not ok:
                    misses.append(f"{name}: CSGM 5x target at m = {scaled}")
            big = [m for m in ms if res.get((m, "generator"), -1) > min(res.get((m, "lasso"), np.inf), res.get((m, "dip"), np.inf))]
            if big:
                lines.append(f"Where the generator loses (its representation error dominates): m = {', '.join(map(str, big))}.")
        if base:  # a method that does (almost) no better than guessing black
            near = 0.9 * interval(base["black"])[0]
            worse = [f"{label} at m = {', '.join(str(m) for m in ms if res.get((m, method), -1) >= near)}"
                     for method, label in LABELS.items()
                     if any(res.get((m, method), -1) >= near for m in ms)]
            if worse:
                lines.append(f"Within 10% of the black image's error or worse ({interval(base['black'])[0]:.4f}): "
                             f"{'; '.join(worse)}.")
        timing = entry.get("time")
        if timing:
            wall = float(np.median([r["wall"] for r in timing]))
            cpu = float(np.median([r["cpu"] for r in timing]))
            ok = cpu <= TARGET_SECONDS
            verdict = ("met" if wall <= TARGET_SECONDS else
                       "met by CPU time, not by the wall time of this machine shared with other jobs" if ok else "missed")
            lines.append(f"One CSGM recovery (m = 200, 10 restarts batched, 300 steps, 1 torch thread; median of "
                         f"{len(timing)}): {wall:.2f} s wall, {cpu:.2f} s of CPU time — target ≤ {TARGET_SECONDS:g} s on "
                         f"2 cores: {verdict}.")
            if not ok:
                misses.append(f"{name}: CSGM time ({cpu:.1f} s of CPU)")
        lines += noise_lines(entry)
        rest = entry.get("restore", {})
        if rest:
            specs = list(dict.fromkeys(k.split("|")[0] for k in rest))
            n = max(len(v) for v in rest.values())
            lines += ["", f"Inpainting and super-resolution ({n} test image(s)):", "",
                      "| measurement | m | generator | DIP | DIP-LR | Lasso-DCT | Lasso-wav |", "|---|---|---|---|---|---|---|"]
            from generators.inverse import parse_measure

            for spec in specs:
                cells = []
                for method in METHODS:
                    rows = rest.get(f"{spec}|{method}")
                    cells.append((fmt(interval([r["mse"] for r in rows])[0]) + (f" (n = {len(rows)})" if len(rows) < n else ""))
                                 if rows else "–")
                lines.append(f"| {spec} | {parse_measure(spec, shape).m} | " + " | ".join(cells) + " |")
        lines.append("")
    n_cells = {len(v) for e in out.values() for v in e.get("cs", {}).values()}
    rgb = [n for n, e in out.items() if e.get("shape", [1])[0] > 1]
    no_lr = [n for n in rgb if not any("|dip-lr" in k for k in out[n].get("cs", {}))]
    absent = {(False, False): ", the faces (RGB) and pendulum datasets", (True, False): ", the pendulum dataset",
              (False, True): ", the faces dataset"}.get(("faces" in out, "pendulum" in out), "")
    noisy = [f"{n} (sd {e['noise']:g})" for n, e in out.items() if any(e.get("cs_noise", {}).values())]
    if note:  # a reading of the results (--note), before what is not measured
        lines += [note, ""]
    lines += ["Not measured in this section yet (AmbientGAN and the robust manifold defense have their own): GPU times"
              + absent
              + "".join(f", DIP-LR on {n}" for n in no_lr)
              + ", CausalGAN as the prior, "
              + (f"measurement noise other than on compressed sensing of {', '.join(noisy)}" if noisy else "noisy measurements")
              + ", DIP-LR at m > "
              f"{max(sizes.lr_ms)} and on inpainting / super-resolution"
              + (", and the issue's 50 test images in every cell ("
                 + (f"{min(n_cells)}" if min(n_cells) == max(n_cells) else f"{min(n_cells)} to {max(n_cells)}") + " here)"
                 if n_cells and min(n_cells) < 50 else "") + ".",
              "Missed here: " + ("; ".join(misses) if misses else "none") + ".", end]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="docs/benchmarks.md to update (its 'inverse' section)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes: checks that it runs")
    ap.add_argument("--n-test", type=int, default=None, help="test images per dataset (default %d)" % Sizes.n_test)
    ap.add_argument("--models-dir", type=Path, default=Path("/tmp/cf-inverse-models"), help="trained generators (reused)")
    ap.add_argument("--results", type=Path, default=None, help="JSON of per-image results (resumed when present)")
    ap.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS),
                    help=f"only these datasets (default: {' '.join(DEFAULT)}; Morpho-MNIST only when its folder is "
                         "there; faces and pendulum, RGB 3 x 32 x 32, only when named: another generator to train and "
                         "another grid of cells)")
    ap.add_argument("--dip-steps", type=int, default=None, help="Deep Image Prior's most steps (default %d)" % Sizes.dip_steps)
    ap.add_argument("--markdown-only", action="store_true", help="write the section from the results JSON, run nothing")
    ap.add_argument("--parts", nargs="+", default=["repr", "time", "cs", "restore"],
                    choices=["repr", "time", "cs", "restore"])
    ap.add_argument("--ran", default=None, help="with --markdown-only: the commands that produced the results")
    ap.add_argument("--merge", type=Path, nargs="*", default=(), help="with --markdown-only: more results JSONs")
    ap.add_argument("--note", default=None, help="a paragraph reading the results, written before what is not measured")
    ap.add_argument("--n-restore", type=int, default=None,
                    help="test images for inpainting and super-resolution (default %d)" % Sizes.n_restore)
    ap.add_argument("--ms", nargs="+", type=int, default=None,
                    help="numbers of Gaussian measurements (default %s; RGB faces %s)"
                    % (" ".join(map(str, Sizes.ms)), " ".join(map(str, Sizes.rgb_ms))))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="only these methods")
    ap.add_argument("--noise", type=float, default=None, metavar="SD",
                    help="measurement noise sd (pixel units): compressed sensing only (--parts cs), its cells kept apart "
                         "from the noise-free ones and shown in a table of their own")
    ap.add_argument("--deadline", default=None, metavar="HH:MM",
                    help="UTC time after which no new recovery starts (the results so far are kept); a time up to "
                         "12 h ago has passed already, one further back is tomorrow's")
    args = ap.parse_args()
    sizes = QUICK if args.quick else Sizes()
    if args.n_test:
        sizes = replace(sizes, n_test=args.n_test)
    if args.dip_steps:
        sizes = replace(sizes, dip_steps=args.dip_steps)
    if args.ms:
        sizes = replace(sizes, ms=tuple(args.ms), rgb_ms=tuple(args.ms))
    if args.noise:
        if set(args.parts) != {"cs"} and not args.markdown_only:
            ap.error("--noise measures compressed sensing only: use it with --parts cs")
        sizes = replace(sizes, noise=args.noise)
    if args.n_restore:
        sizes = replace(sizes, n_restore=args.n_restore)
    results = args.results or Path("/tmp") / ("cf-inverse-quick.json" if args.quick else "cf-inverse.json")
    t0 = time.perf_counter()
    torch.set_num_threads(1)  # as every recovery runs (machine() reports it)
    if args.markdown_only:
        out = {}
        for path in (results, *args.merge):  # per dataset, the parts each file has
            for name, entry in json.loads(path.read_text()).items():
                mine = out.setdefault(name, {})
                for k, v in entry.items():
                    if k in ("cs", "restore", "cs_noise") and isinstance(mine.get(k), dict):  # per cell, the file with more images
                        mine[k] = {**mine[k], **{c: rows for c, rows in v.items() if len(rows) > len(mine[k].get(c, []))}}
                    elif v or k not in mine:
                        mine[k] = v
    else:
        deadline = None
        if args.deadline:
            now = dt.datetime.now(dt.timezone.utc)
            hh, mm = (int(v) for v in args.deadline.split(":"))
            stop = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            # a time up to 12 h ago has passed (stop before the first recovery); one further back is tomorrow's
            deadline = (stop if stop > now - dt.timedelta(hours=12) else stop + dt.timedelta(days=1)).timestamp()
        out = evaluate(sizes, args.models_dir, results, tuple(args.parts), tuple(args.datasets or ()),
                       tuple(args.methods), deadline)
    command = args.ran or "python bench/inverse.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = markdown(out, sizes, command, None if args.markdown_only else time.perf_counter() - t0, note=args.note)
    print(text)
    if args.out:
        write_section(args.out, text, "inverse")


if __name__ == "__main__":
    main()
