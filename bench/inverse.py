"""Benchmark inverse problems with trained generators as priors (compressed sensing with
generative models, Bora et al. 2017): per-pixel MSE of the generator prior (CSGM), Deep Image
Prior and Lasso in a 2-D DCT basis against the number of Gaussian measurements, on a built-in
32 px image dataset and on Morpho-MNIST when present; writes the ``inverse`` section of
docs/benchmarks.md.

    python bench/inverse.py --out docs/benchmarks.md     # default sizes
    python bench/inverse.py --quick                      # reduced sizes: checks that it runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from dataclasses import dataclass
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
TARGET_SECONDS = 2.0
TEST_POOL = 200  # images held out of training per dataset; the benchmark tests on the first of them  # one CSGM recovery of a 32 px image on 2 CPU cores, restarts batched


def pad_to_32(data: ImageData) -> ImageData:
    """Morpho-MNIST's 28 px digits with a 2 px black border: 32 px, as image models need."""
    imgs = np.pad(data.images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return ImageData(data.labels.reset_index(drop=True), imgs, image_node=data.image_node)


def datasets(n_train: int, n_test: int, seed: int = 0) -> dict[str, tuple[Any, ImageData, ImageData]]:
    """name -> (graph, training images, test images never trained on)."""
    out: dict[str, tuple[Any, ImageData, ImageData]] = {}
    ds = imd.load("morpho-glyphs", n=n_train + n_test, seed=seed, size=32)
    out["morpho-glyphs"] = (ds.graph, ds.data[:n_train], ds.data[n_train:])
    if MORPHO.is_dir():
        mm = pad_to_32(imd.load_morpho_mnist(MORPHO))
        mm = ImageData(mm.labels[["thickness", "intensity"]], mm.images, image_node=mm.image_node)
        k = min(n_train, len(mm) - n_test)
        out["morpho-mnist"] = (imd.morpho_graph(), mm[:k], mm[len(mm) - n_test:])
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
                dip_steps: int = 1000) -> dict[str, float]:
    from generators.inverse import measure, parse_measure, recover

    op = parse_measure(spec, tuple(x.shape), seed=seed)
    y = measure(x, op, noise=noise, seed=seed + 1)
    options = {"steps": dip_steps} if method == "dip" else {}
    r = recover(y, op, method=method, model=model if method == "generator" else None, truth=x, seed=seed, **options)
    return {"mse": r.mse, "seconds": r.seconds}  # type: ignore[dict-item]


@dataclass(frozen=True)
class Sizes:
    n_train: int = 5000  # training images per dataset (Morpho-MNIST: the first of its 10,000 test digits)
    n_test: int = 8  # test images (never trained on) per dataset and measurement
    ms: tuple[int, ...] = (25, 40, 50, 100, 200, 500)  # Gaussian measurements; 40 = 200 / 5 (the CSGM target)
    restore: tuple[str, ...] = ("mask:random:0.5", "mask:block:12", "down:2", "down:4")
    n_restore: int = 4  # test images for inpainting and super-resolution
    noise: float = 0.0  # measurement noise sd (pixel units)
    steps: int | None = None  # generator training steps (None: CCGM's default)
    dip_steps: int = 1000  # Deep Image Prior's most Adam steps (it stops early on held-out measurements)


QUICK = Sizes(n_train=600, n_test=2, ms=(25, 200), restore=("mask:random:0.5",), n_restore=1, steps=100)
METHODS = ("generator", "dip", "lasso")


def evaluate(sizes: Sizes, models_dir: Path, results: Path, parts: tuple[str, ...],
             only: tuple[str, ...] | None = None) -> dict[str, Any]:
    torch.set_num_threads(1)
    out: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
    for name, (graph, train, test) in datasets(sizes.n_train, TEST_POOL).items():
        if only and name not in only:
            continue
        model, fit_s = trained(name, graph, train, models_dir, sizes.steps)
        entry = out.setdefault(name, {"fit_s": fit_s, "n_train": len(train), "cs": {}, "restore": {}, "repr": []})
        xs = [as_tensor(test.images[i]) for i in range(sizes.n_test)]
        if "repr" in parts and not entry["repr"]:
            # the generator's representation error: its best fit when every pixel is seen
            entry["repr"] = [run_problem(model, x, "mask:random:1", "generator", i, 0.0)["mse"] for i, x in enumerate(xs)]
            results.write_text(json.dumps(out))
        if not entry.get("baseline"):  # guesses that ignore the measurements
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
        for kind, specs, n in (("cs", [f"gaussian:{m}" for m in sizes.ms], sizes.n_test),
                               ("restore", list(sizes.restore), sizes.n_restore)):
            if kind not in parts:
                continue
            for spec in specs:
                for method in METHODS:
                    key = f"{spec}|{method}"
                    rows = entry[kind].get(key, [])[:n]
                    if len(rows) >= n:
                        continue
                    # image i is measured and recovered with seed i: more images extend a cell, never redo it
                    rows += [run_problem(model, xs[i], spec, method, i, sizes.noise, sizes.dip_steps)
                             for i in range(len(rows), n)]
                    entry[kind][key] = rows
                    results.write_text(json.dumps(out))
                    mean = np.mean([r["mse"] for r in rows])
                    print(f"{name} {spec} {method}: MSE {mean:.5f}, {np.mean([r['seconds'] for r in rows]):.2f} s",
                          file=sys.stderr, flush=True)
    return out


def markdown(out: dict[str, Any], sizes: Sizes, command: str, seconds: float | None) -> str:
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
             f"≤ {sizes.dip_steps:,} Adam steps, early stopping on 10% held-out measurements); *Lasso* = scikit-learn LassoCV on "
             "orthonormal 2-D DCT coefficients (SciPy), α by 5-fold cross-validation over the measurements.",
             ""]
    misses: list[str] = []
    for name, entry in out.items():
        lines += [f"### {name}", ""]
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
        lines += ["", "Compressed sensing (Gaussian measurements A with N(0, 1/m) entries; 1,024 pixels):", "",
                  "| m | generator | DIP | Lasso-DCT | s: generator / DIP / Lasso |", "|---|---|---|---|---|"]
        cs = entry.get("cs", {})
        if cs:
            lines[-4] += f" {max(len(v) for v in cs.values())} test images per cell."
        ms = sorted({int(k.split("|")[0].split(":")[1]) for k in cs})
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
                cells.append(f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]")
                secs.append(f"{np.mean([r['seconds'] for r in rows]):.1f}")
            lines.append(f"| {m} | " + " | ".join(cells) + " | " + " / ".join(secs) + " |")
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
            big = [m for m in ms if res.get((m, "generator"), -1) > min(res.get((m, "lasso"), np.inf), res.get((m, "dip"), np.inf))]
            if big:
                lines.append(f"Where the generator loses (its representation error dominates): m = {', '.join(map(str, big))}.")
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
        rest = entry.get("restore", {})
        if rest:
            specs = list(dict.fromkeys(k.split("|")[0] for k in rest))
            n = max(len(v) for v in rest.values())
            lines += ["", f"Inpainting and super-resolution ({n} test image(s)):", "",
                      "| measurement | m | generator | DIP | Lasso-DCT |", "|---|---|---|---|---|"]
            from generators.inverse import parse_measure

            for spec in specs:
                cells = []
                for method in METHODS:
                    rows = rest.get(f"{spec}|{method}")
                    cells.append(fmt(interval([r["mse"] for r in rows])[0]) if rows else "–")
                lines.append(f"| {spec} | {parse_measure(spec, (1, 32, 32)).m} | " + " | ".join(cells) + " |")
        lines.append("")
    n_cells = {len(v) for e in out.values() for v in e.get("cs", {}).values()}
    lines += ["Not measured in this section yet: AmbientGAN, the robust manifold defense, GPU times, the faces "
              "(RGB) and pendulum datasets, CausalGAN as the prior, noisy measurements, Van Veen et al.'s learned "
              "regularization for DIP" + (f", and the issue's 50 test images per cell ({max(n_cells)} here)"
                                          if n_cells and max(n_cells) < 50 else "") + ".",
              "Missed here: " + ("; ".join(misses) if misses else "none") + ".", end]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="docs/benchmarks.md to update (its 'inverse' section)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes: checks that it runs")
    ap.add_argument("--n-test", type=int, default=None, help="test images per dataset (default %d)" % Sizes.n_test)
    ap.add_argument("--models-dir", type=Path, default=Path("/tmp/cf-inverse-models"), help="trained generators (reused)")
    ap.add_argument("--results", type=Path, default=None, help="JSON of per-image results (resumed when present)")
    ap.add_argument("--datasets", nargs="+", default=None, choices=["morpho-glyphs", "morpho-mnist"],
                    help="only these datasets (default: both; Morpho-MNIST only when its folder is there)")
    ap.add_argument("--dip-steps", type=int, default=None, help="Deep Image Prior's most steps (default %d)" % Sizes.dip_steps)
    ap.add_argument("--markdown-only", action="store_true", help="write the section from the results JSON, run nothing")
    ap.add_argument("--parts", nargs="+", default=["repr", "time", "cs", "restore"],
                    choices=["repr", "time", "cs", "restore"])
    ap.add_argument("--ran", default=None, help="with --markdown-only: the commands that produced the results")
    ap.add_argument("--merge", type=Path, nargs="*", default=(), help="with --markdown-only: more results JSONs")
    args = ap.parse_args()
    sizes = QUICK if args.quick else Sizes()
    from dataclasses import replace

    if args.n_test:
        sizes = replace(sizes, n_test=args.n_test)
    if args.dip_steps:
        sizes = replace(sizes, dip_steps=args.dip_steps)
    results = args.results or Path("/tmp") / ("cf-inverse-quick.json" if args.quick else "cf-inverse.json")
    t0 = time.perf_counter()
    if args.markdown_only:
        out = {}
        for path in (results, *args.merge):  # per dataset, the parts each file has
            for name, entry in json.loads(path.read_text()).items():
                mine = out.setdefault(name, {})
                mine.update({k: v for k, v in entry.items() if v or k not in mine})
    else:
        out = evaluate(sizes, args.models_dir, results, tuple(args.parts), tuple(args.datasets or ()))
    command = args.ran or "python bench/inverse.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = markdown(out, sizes, command, None if args.markdown_only else time.perf_counter() - t0)
    print(text)
    if args.out:
        write_section(args.out, text, "inverse")


if __name__ == "__main__":
    main()
