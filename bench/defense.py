"""Benchmark the robust manifold defense (Ilyas et al. 2017; Defense-GAN, Samangouei et al.
2018) against L-infinity PGD, non-adaptive and adaptive (BPDA and the latent-space attack,
Athalye et al. 2018), with a
trained CCGM generator as the manifold, on Morpho-MNIST (when present) and on the built-in
glyphs; writes the ``defense`` section of docs/benchmarks.md.

    python bench/defense.py --out docs/benchmarks.md     # default sizes
    python bench/defense.py --quick                      # reduced sizes: checks that it runs
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inverse import MORPHO, TEST_POOL, pad_to_32, trained  # noqa: E402
from bench.run import markers, write_section  # noqa: E402
from bench.tabular import machine  # noqa: E402
from causal import images as imd  # noqa: E402
from generators.inverse.defense import (  # noqa: E402
    ClassifierConfig, Projection, as_images, evaluate_defense, fit_classifier, load_classifier, project,
)


@dataclass(frozen=True)
class Sizes:
    n_test: int = 100  # test images attacked per dataset (the first of the held-out pool of 200)
    eps: tuple[float, ...] = (0.1, 0.3)
    pgd_steps: int = 40  # PGD against the bare classifier, step 2.5 eps / steps, random start
    bpda_steps: int = 20  # PGD steps through the projection (BPDA)
    latent_steps: int = 200  # Adam steps of the latent-space attack (latent_attack; 0 skips it)
    projection: Projection = Projection(restarts=4, steps=150)  # the defense's projection (default: 10, 300)
    attack_projection: Projection = Projection(restarts=2, steps=100)  # the BPDA attacker's projection per step
    n_timing: int = 10  # images projected at the default settings (10 restarts, 300 steps) for the time
    classifier: ClassifierConfig = ClassifierConfig(epochs=8)
    gen_steps: int | None = None  # generator training steps if none is cached (None: CCGM's default)


QUICK = Sizes(n_test=8, pgd_steps=10, bpda_steps=3, latent_steps=20, projection=Projection(restarts=2, steps=40),
              attack_projection=Projection(restarts=1, steps=30), n_timing=2, classifier=ClassifierConfig(epochs=1))  # the cached generators


def data(name: str) -> tuple[Any, Any, torch.Tensor, list[int], torch.Tensor, list[int]] | None:
    """graph, the generator's training images, classifier training images and classes, test images
    and classes (the first ``TEST_POOL`` held-out images; neither model saw them)."""
    if name == "morpho-glyphs":
        ds = imd.load("morpho-glyphs", n=5000 + TEST_POOL, seed=0, size=32)  # as bench/inverse.py's generator
        glyph = [int(v) for v in ds.data.style[:, 0]]
        x = as_images(ds.data.images)
        return ds.graph, ds.data[:5000], x[:5000], glyph[:5000], x[5000:], glyph[5000:]
    if not MORPHO.is_dir():
        print(f"Morpho-MNIST not found at {MORPHO}: skipped", file=sys.stderr)
        return None
    mm = pad_to_32(imd.load_morpho_mnist(MORPHO))
    if "digit" not in mm.labels.columns:
        print(f"Morpho-MNIST at {MORPHO} has no digit labels: skipped", file=sys.stderr)
        return None
    digits = [int(v) for v in mm.labels["digit"]]
    x = as_images(mm.images)
    k = len(mm) - TEST_POOL
    gen_train = imd.ImageData(mm.labels[["thickness", "intensity"]][:5000], mm.images[:5000], image_node=mm.image_node)
    return imd.morpho_graph(), gen_train, x[:k], digits[:k], x[k:], digits[k:]


def classifier(name: str, x: torch.Tensor, y: list[int], config: ClassifierConfig, models_dir: Path) -> Any:
    path = models_dir / f"{name}-classifier-e{config.epochs}"
    if (path / "classifier.json").exists():
        return load_classifier(path)
    clf = fit_classifier(x, y, config, seed=0)
    clf.save(path)
    print(f"classifier for {name}: {clf.fit_report}", file=sys.stderr, flush=True)
    return clf


def evaluate(sizes: Sizes, names: list[str], models_dir: Path, results: Path) -> dict[str, Any]:
    torch.set_num_threads(1)
    out: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
    for name in names:
        got = data(name)
        if got is None:
            continue
        graph, gen_train, xtr, ytr, xte, yte = got
        model, fit_s = trained(name, graph, gen_train, models_dir, sizes.gen_steps)
        clf = classifier(name, xtr, ytr, sizes.classifier, models_dir)
        entry = out.setdefault(name, {})
        entry.update({"fit_s": fit_s, "classifier": clf.fit_report, "n_classifier_train": len(xtr),
                      "test_accuracy_pool": clf.accuracy(xte, clf.index(yte)), "pool": len(xte)})
        if "timing" not in entry:  # the default projection (10 restarts, 300 steps), images batched
            xs = xte[: sizes.n_timing]
            w0, c0 = time.perf_counter(), time.process_time()
            proj = project(xs, model, Projection(), seed=0)
            entry["timing"] = {"n": len(xs), "wall": (time.perf_counter() - w0) / len(xs),
                               "cpu": (time.process_time() - c0) / len(xs),
                               "mse": float(((proj - xs) ** 2).mean())}
            results.write_text(json.dumps(out, indent=1))
        if "report" not in entry:
            t0 = time.perf_counter()
            rep = evaluate_defense(clf, model, xte[: sizes.n_test], yte[: sizes.n_test], eps=sizes.eps,
                                   pgd_steps=sizes.pgd_steps, bpda_steps=sizes.bpda_steps,
                                   latent_steps=sizes.latent_steps,
                                   projection=sizes.projection, attack_projection=sizes.attack_projection, seed=0,
                                   progress=lambda m: print(f"{name}: {m}", file=sys.stderr, flush=True))
            entry["report"] = rep.to_dict()
            entry["report"]["wall"] = time.perf_counter() - t0
            proj = project(xte[: sizes.n_test], model, sizes.projection, seed=0)
            entry["projection_mse"] = float(((proj - xte[: sizes.n_test]) ** 2).mean())
            results.write_text(json.dumps(out, indent=1))
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def markdown(out: dict[str, Any], sizes: Sizes, command: str, seconds: float | None, note: str | None = None) -> str:
    start, end = markers("defense")
    p = sizes.projection
    lines = [start,
             "## Robust manifold defense: projection onto a generator's range, PGD, BPDA and a latent-space attack", "",
             f"- Command: `{command}` ({'' if seconds is None else f'{seconds / 60:.0f} min, '}"
             f"{dt.date.today().isoformat()}); machine: {machine()}, shared with other jobs (times are upper bounds).",
             "- Generator: the CCGM of the `inverse` section (its VAE decoder, project defaults, 32 px; Morpho-MNIST "
             "trained on its first 5,000 digits). Classifier (`generators.inverse.defense.fit_classifier`): 2 conv "
             "layers (16, 32 channels) + a 64-unit dense layer, Adam (epochs per dataset below), trained on every "
             f"image but the last {TEST_POOL} (Morpho-MNIST: 9,800 real digits, class = digit; glyphs: the generator's "
             "5,000 training images, class = the glyph drawn).",
             f"- Test: the first images (how many: per dataset below) of the last {TEST_POOL} (seen by neither model). Attacks, "
             "L-infinity, pixels in [0, 1]: *PGD* = signed-gradient steps of 2.5·eps/steps from a random start against "
             "the bare classifier; *projected* = those same images projected onto the generator's range, then "
             "classified (the non-adaptive attack the defense papers report); *BPDA* = PGD against "
             "classifier∘projection, the projection run forward at every step and its backward pass replaced by the "
             "identity (not unrolled), the final images then projected by the defense and classified; *latent attack* "
             "(`latent_attack`, Athalye et al.'s attack on Defense-GAN) = per image, starts fitted to it as the "
             "projection fits them, then Adam on the generator's latents (style and relaxed labels) for the "
             "Carlini-Wagner margin of the generated image G plus 10·Σ relu(|G − x| − eps)²; from each start two "
             "images in the ball, G clipped into it and x + eps·sign(G − G₀) (G₀ the start's image), checked through "
             "the attacker's projection, the one it scores lowest kept, then projected by the defense (a fresh seed) "
             "and classified; *worst case* = the images classified correctly after every attack on the defense "
             "(projected PGD, BPDA, latent): what survives them all.",
             f"- Projection (the defense, `project`): CSGM with the identity operator, labels free, Adam (lr {p.lr:g}, "
             f"prior {p.prior:g}), restarts and images batched; the BPDA attacker runs its own, cheaper projection at "
             "each step. Both smaller than the library default (10 restarts × 300 steps) so that the run fits the "
             "shared 2-core machine (numbers per dataset below); the default's time is measured separately.",
             ""]
    for name, e in out.items():
        r = e.get("report")
        if not r:
            continue
        pr, ap = r["projection"], r["attack_projection"]
        lat, worst = r.get("latent") or [], r.get("worst") or []
        lines += [f"### {name}", "",
                  f"Settings: {r['n']} test images; PGD {r['pgd_steps']} steps; BPDA {r['bpda_steps']} steps; "
                  + (f"latent attack {r['latent_steps']} steps from {r['latent_restarts']} starts per image; "
                     if lat else "") + "the "
                  f"defense's projection {pr['restarts']} restarts × {pr['steps']} steps, the attacker's "
                  f"{ap['restarts']} × {ap['steps']}.",
                  f"Classifier: {e['classifier']['epochs']} epochs, {e['classifier']['seconds']:.0f} s on "
                  f"{e['n_classifier_train']:,} images; accuracy on "
                  f"the {e['pool']} held-out images {_pct(e['test_accuracy_pool'])}. Mean squared pixel error of a "
                  f"projected clean test image: {e.get('projection_mse', float('nan')):.4f}.", "",
                  "| eps | bare classifier | projected, then classified | BPDA through the projection | latent attack, "
                  "projected | worst case over the attacks on the defense |",
                  "|---|---|---|---|---|---|",
                  f"| 0 (clean) | {_pct(r['clean'])} | {_pct(r['clean_projected'])} | – | – | "
                  f"{_pct(r['clean_projected'])} |"]
        at = lambda v, i: _pct(v[i]) if i < len(v) else "–"
        for i, eps in enumerate(r["eps"]):
            lines.append(f"| {eps:g} | {_pct(r['pgd'][i])} (PGD) | {_pct(r['transfer'][i])} | {at(r['bpda'], i)} | "
                         f"{at(lat, i)} | {at(worst, i)} |")
        t = e.get("timing", {})
        lines += ["", f"Accuracy over {r['n']} test images. Time per projected image: {r['seconds_per_projection']:.2f} s "
                  f"wall at the bench's {pr['restarts']} × {pr['steps']} (images batched by {pr['batch']}); at the default 10 × 300: "
                  f"{t.get('wall', float('nan')):.2f} s wall, {t.get('cpu', float('nan')):.2f} s CPU ({t.get('n', 0)} "
                  f"images batched, 1 thread). The whole evaluation: {r['wall'] / 60:.1f} min, {r['projections']:,} "
                  "images projected.", ""]
        survive = []
        for i, eps in enumerate(r["eps"]):
            gain = r["transfer"][i] - r["pgd"][i]
            bp = r["bpda"][i] if i < len(r["bpda"]) else None
            s = (f"eps {eps:g}: the projection lifts PGD accuracy {_pct(r['pgd'][i])} → {_pct(r['transfer'][i])} "
                 f"({'+' if gain >= 0 else ''}{100 * gain:.0f} points) against the non-adaptive attack")
            if bp is not None:
                s += f"; BPDA brings it to {_pct(bp)}"
            if i < len(lat):
                s += f", the latent attack to {_pct(lat[i])}"
            if i < len(worst) and (bp is not None or i < len(lat)):
                s += f"; {_pct(worst[i])} of the images survive every attack"
            survive.append(s)
        lines += ["What survives: " + "; ".join(survive) + ".", ""]
    if note:
        lines += [note, ""]
    lines += ["Not measured here: the unrolled (fully differentiable) projection as the attacker's backward pass, "
              "Expectation over Transformation over the projection's random restarts, BPDA started from the latent "
              "attack's images, GPU times, RGB datasets.", end]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="docs/benchmarks.md to update (its 'defense' section)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes: checks that it runs")
    ap.add_argument("--n-test", type=int, default=None, help="test images per dataset (default %d)" % Sizes.n_test)
    ap.add_argument("--bpda-steps", type=int, default=None, help="BPDA steps (default %d)" % Sizes.bpda_steps)
    ap.add_argument("--latent-steps", type=int, default=None,
                    help="latent-space attack steps (default %d; 0 skips it)" % Sizes.latent_steps)
    ap.add_argument("--projection", type=int, nargs=2, metavar=("RESTARTS", "STEPS"), default=None,
                    help="the defense's projection (default %d %d)" % (Sizes.projection.restarts, Sizes.projection.steps))
    ap.add_argument("--attack-projection", type=int, nargs=2, metavar=("RESTARTS", "STEPS"), default=None,
                    help="the BPDA attacker's projection (default %d %d)" % (Sizes.attack_projection.restarts,
                                                                          Sizes.attack_projection.steps))
    ap.add_argument("--datasets", nargs="+", default=["morpho-mnist", "morpho-glyphs"],
                    choices=["morpho-mnist", "morpho-glyphs"])
    ap.add_argument("--models-dir", type=Path, default=Path("/tmp/cf-inverse-models"),
                    help="trained generators and classifiers (reused; bench/inverse.py trains the same generators)")
    ap.add_argument("--results", type=Path, default=None, help="JSON of results (resumed when present)")
    ap.add_argument("--markdown-only", action="store_true", help="write the section from the results JSON, run nothing")
    ap.add_argument("--ran", default=None, help="with --markdown-only: the command that produced the results")
    ap.add_argument("--note", default=None, help="with --markdown-only: a paragraph to add (further runs, a reading)")
    ap.add_argument("--merge", type=Path, nargs="*", default=(), help="with --markdown-only: more results JSONs")
    args = ap.parse_args()
    sizes = QUICK if args.quick else Sizes()
    if args.n_test:
        sizes = replace(sizes, n_test=args.n_test)
    if args.bpda_steps is not None:
        sizes = replace(sizes, bpda_steps=args.bpda_steps)
    if args.latent_steps is not None:
        sizes = replace(sizes, latent_steps=args.latent_steps)
    if args.projection:
        sizes = replace(sizes, projection=Projection(*args.projection))
    if args.attack_projection:
        sizes = replace(sizes, attack_projection=Projection(*args.attack_projection))
    results = args.results or Path("/tmp") / ("cf-defense-quick.json" if args.quick else "cf-defense.json")
    t0 = time.perf_counter()
    torch.set_num_threads(1)  # (as the evaluation runs; machine() reports it)
    if args.markdown_only:
        out = {}
        for path in (results, *args.merge):
            out.update(json.loads(path.read_text()))
    else:
        out = evaluate(sizes, args.datasets, args.models_dir, results)
    command = args.ran or "python bench/defense.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = markdown(out, sizes, command, None if args.markdown_only else time.perf_counter() - t0, args.note)
    print(text)
    if args.out:
        write_section(args.out, text, "defense")


if __name__ == "__main__":
    main()
