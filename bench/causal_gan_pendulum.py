"""CausalGAN with continuous labels: the pendulum (32 px, four continuous labels), read back by
an attribute regressor trained on ground-truth images, beside CCGM on the same data, test rows
and regressor, with the copy-the-factual baseline for counterfactuals; writes its marked
section of docs/benchmarks.md.

    python bench/causal_gan_pendulum.py --out docs/benchmarks.md      # defaults, before, and CCGM
    python bench/causal_gan_pendulum.py --quick                        # reduced sizes: checks that it runs
    python bench/causal_gan_pendulum.py --seed 10 --no-ccgm --no-before --set label_features=0   # a variant on other data

*before*: CausalGAN with continuous labels read as before they were first-class
(``label_features=0, regression_sigma=0, intervene_continuous=False``, and without the
reconstruction term, ``recon_weight=0``), in the same run. On a busy host the models can run
as parallel processes (``--only causal-gan``, ``--only before``, ``--only ccgm``, each with its
own ``--json``), then ``--merge`` those files into one section.

The scoring (``bench.ccgm.score_images``) and the regressor (``bench.ccgm.Regressor``, trained
on the training rows re-rendered with every label shuffled on its own) are CCGM's pendulum
benchmark's, so the numbers can be set side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ccgm import QUICK, Regressor, Sizes, decorrelated, score_images  # noqa: E402
from bench.run import markers, write_json, write_section  # noqa: E402
from bench.tabular import load_note, machine  # noqa: E402
from causal import images as imd  # noqa: E402
from generators import build_model  # noqa: E402

DATASET = "pendulum"
BEFORE = {"label_features": 0, "regression_sigma": 0.0, "intervene_continuous": False, "recon_weight": 0.0}


def fit_and_score(name: str, kind: str, ds: imd.ImageDataset, test: Any, reg: Regressor, sizes: Sizes, seed: int,
                  overrides: dict[str, Any]) -> dict[str, Any]:
    settings = dict(overrides)
    if sizes.image_steps:
        settings["steps" if kind == "causal-gan" else "image_train"] = (
            sizes.image_steps if kind == "causal-gan"
            else replace(build_model(kind, ds.graph).config.image_train, steps=sizes.image_steps))
    model = build_model(kind, ds.graph, **settings)
    t0 = time.perf_counter()
    report = model.fit(ds.data, seed=seed)
    fit_s = time.perf_counter() - t0
    label_s = model.labels.report.seconds
    print(f"{name}: fit {fit_s:.0f} s ({report.steps} steps)", flush=True)
    t1 = time.perf_counter()
    out: dict[str, Any] = {"name": name, "kind": kind, "settings": settings, "fit_s": fit_s, "label_s": label_s,
                           "image_s": fit_s - label_s, "steps": report.steps, "variety": getattr(model, "variety", None)}
    if out["variety"]:
        print(f"{name}: mode-seeking gate {out['variety']}", flush=True)
    out.update(score_images(model, ds, test, reg, sizes.n_gen, seed))
    out["score_s"] = time.perf_counter() - t1
    iv = pd.DataFrame(out["interventions"])
    print(f"{name}: fidelity {out['fidelity']:.3f} do MAE {iv.do_mae.mean():.3f} CF pixel {iv.cf_pixel.mean():.4f} "
          f"copy {iv.copy_pixel.mean():.4f} ({out['score_s']:.0f} s scoring)", flush=True)
    return out


def run(sizes: Sizes, seed: int, models: list[tuple[str, str, dict[str, Any]]], threads: int) -> dict[str, Any]:
    """Fit and score each ``(name, kind, settings)`` of ``models`` on the same data, test rows and regressor."""
    torch.set_num_threads(threads)
    ds = imd.load(DATASET, n=sizes.n_train, seed=seed, size=32)
    test = imd.load(DATASET, n=sizes.n_test, seed=seed + 1, size=32).data
    t0 = time.perf_counter()
    reg = Regressor(decorrelated(ds, seed), sizes.regressor_steps, seed)
    res: dict[str, Any] = {"sizes": asdict(sizes), "seed": seed, "threads": threads, "regressor_s": time.perf_counter() - t0,
                           "label_sd": dict(zip(reg.cols, map(float, reg.sd))), "models": []}
    for name, kind, settings in models:
        res["models"].append(fit_and_score(name, kind, ds, test, reg, sizes, seed, settings))
    return res


def markdown(res: dict[str, Any], command: str, seconds: float, parallel: int = 1) -> str:
    start, end = markers("causal_gan_pendulum")
    sizes, sd = res["sizes"], res["label_sd"]
    models = res["models"]
    gan = next((m for m in models if m["name"] == "causal-gan"), None)
    settings = {k: v for k, v in ((gan or {}).get("settings") or {}).items() if k != "steps"}
    before = any(m["name"] == "causal-gan, before" for m in models)
    lines = [
        start,
        "## CausalGAN with continuous labels: the pendulum (32 px)",
        "",
        f"- Command: {command}",
        f"- Machine: {machine()}; {load_note()}",
        f"- Date: {dt.date.today().isoformat()}; "
        + (f"{parallel} processes, the longest {seconds / 60:.1f} min" if parallel > 1 else f"whole run {seconds / 60:.1f} min")
        + f"; one seed ({res['seed']})",
        f"- Data: {sizes['n_train']:,} pendulum images at 32 px (`causal.images` 'pendulum': pendulum_angle and "
        "light_angle uniform and independent, both causing shadow_position and shadow_length; all four continuous "
        f"and all four drawn); {sizes['n_gen']} generated images per query, {sizes['n_test']} factual test images for "
        "counterfactuals. CausalGAN at its defaults"
        + (f" + `{json.dumps(settings)}`" if settings else "")
        + (f"; *before*: the same + `{json.dumps(BEFORE)}` (continuous labels read as before they were first-class)"
           if before else "") + ("; CCGM at its defaults" if any(m["kind"] == "ccgm" for m in models) else "")
        + "; all on the same data"
        + (f" ({sizes['image_steps']} image steps each)" if sizes.get("image_steps") else "") + ".",
        f"- Read back by CCGM's pendulum regressor (`bench.ccgm.Regressor`: `ConvHead`, width 32, {sizes['regressor_steps']} "
        "steps on ground-truth images of the training rows re-rendered with every label shuffled on its own); errors "
        "are mean absolute errors in label standard deviations (pendulum_angle sd "
        f"{sd['pendulum_angle']:.1f}°, light_angle sd {sd['light_angle']:.1f}°), degrees in brackets. *floor*: the "
        "regressor on real test images. *fidelity*: labels read off observational samples against the labels they "
        "were drawn from. *do MAE*: the intervened angle read off do()-samples against the set value (25/50/75th "
        "training percentiles); *others*: the other angle (a non-descendant); *desc.*: the shadow.",
        "- *CF pixel*: mean absolute pixel error (0-1) of the model's counterfactual (its default: x + G(l', z) − G(l, z) "
        "for CausalGAN, x + g(y', s) − g(y, s) for CCGM) against the exact re-rendered counterfactual; *copy*: the "
        "factual image as the guess; *copy / CF*: how many times better than copying; *CF read*: intervened node and "
        "descendants read off the counterfactual against the true counterfactual labels.",
        "",
        "| model | fit s (labels + images) | steps | recon pixel | floor | fidelity | do MAE | others | desc. | CF pixel | copy | copy / CF | CF read |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        iv = pd.DataFrame(m["interventions"])
        lines.append(
            f"| {m['name']} | {m['fit_s']:.0f} ({m['label_s']:.0f} + {m['image_s']:.0f}) | {m['steps']} | {m['recon']:.4f} | "
            f"{m['regressor_floor']:.3f} | {m['fidelity']:.3f} | {iv.do_mae.mean():.3f} | {iv.do_others.mean():.3f} | "
            f"{iv.do_desc.mean():.3f} | {iv.cf_pixel.mean():.4f} | {iv.copy_pixel.mean():.4f} | "
            f"{iv.copy_pixel.mean() / iv.cf_pixel.mean():.1f}x | {iv.cf_read.mean():.3f} |")
    lines += ["", "Against the issue's bar (CCGM's: do(pendulum_angle) read back within 0.6°, do(light_angle) within "
              "0.02 sd, counterfactuals 3.5x better than copying the factual):", "",
              "| model | do(pendulum_angle) MAE [°] | do(light_angle) MAE sd [°] | copy / CF (pixel) |", "|---|---|---|---|"]
    for m in models:
        iv = pd.DataFrame(m["interventions"])
        ang, light = (iv[iv.node == n].do_mae.mean() for n in ("pendulum_angle", "light_angle"))
        lines.append(f"| {m['name']} | {ang * sd['pendulum_angle']:.1f} | {light:.3f} [{light * sd['light_angle']:.1f}] | "
                     f"{iv.copy_pixel.mean() / iv.cf_pixel.mean():.1f}x |")
    gated = [m for m in models if m.get("variety")]
    if gated:
        lines += ["", "The mode-seeking gate (`mode_seeking_gate`; the term on only while G's images of neighbouring label "
                  "rows differ less than the real images do): " + "; ".join(
                      f"{m['name']}: on at {m['variety']['share_on']:.0%} of {m['variety']['checks']} checks, last check "
                      f"{m['variety']['generated']:.4f} generated against {m['variety']['real']:.4f} real" for m in gated) + "."]
    if not any(m["kind"] == "ccgm" for m in models) and (sizes["n_train"], res["seed"]) == (5000, 0):
        lines += ["", "CCGM was not rerun here: its pendulum row in the CCGM section above is on the same 5,000 training "
                  "images (seed 0) with the same regressor (500 test images there)."]
    lines += ["", "Per intervention:", "",
              "| do | model | do MAE [°] | others [°] | desc. | CF pixel | copy | CF read |",
              "|---|---|---|---|---|---|---|---|"]
    other = {"pendulum_angle": "light_angle", "light_angle": "pendulum_angle"}
    for i in range(len(models[0]["interventions"]) if models else 0):
        for m in models:
            q = m["interventions"][i]
            o = other.get(q["node"])
            lines.append(
                f"| {q['node']} = {q['value']:.4g} | {m['name']} | {q['do_mae']:.3f} [{q['do_mae'] * sd[q['node']]:.1f}] | "
                f"{q['do_others']:.3f}" + (f" [{q['do_others'] * sd[o]:.1f}]" if o in sd else "")
                + f" | {q['do_desc']:.3f} | {q['cf_pixel']:.4f} | {q['copy_pixel']:.4f} | {q['cf_read']:.3f} |")
    lines.append(end)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="markdown file to update (e.g. docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes (a smoke run; numbers are not comparable)")
    ap.add_argument("--seed", type=int, default=0, help="data, regressor and fit seed (the benchmark: 0)")
    ap.add_argument("--no-ccgm", action="store_true", help="without CCGM")
    ap.add_argument("--no-before", action="store_true", help="without CausalGAN's 'before' variant")
    ap.add_argument("--only", action="append", choices=("causal-gan", "before", "ccgm"), default=None,
                    help="just this model (repeatable): to run the models as parallel processes, then --merge")
    ap.add_argument("--merge", nargs="+", type=Path, default=None, metavar="JSON",
                    help="write one section from the --json results of separate runs (same seed and sizes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a causal-gan setting, e.g. mode_seeking=0 (JSON values)")
    ap.add_argument("--sizes", default=None, help="JSON object overriding sizes, e.g. '{\"n_train\": 3000}'")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "causal_gan_pendulum.json")
    args = ap.parse_args(argv)
    sizes = replace(QUICK, image_steps=300) if args.quick else Sizes()
    if args.sizes:
        sizes = replace(sizes, **json.loads(args.sizes))
    overrides = {}
    for item in args.set:
        k, v = item.split("=", 1)
        try:
            overrides[k] = json.loads(v)
        except json.JSONDecodeError:
            overrides[k] = v
    command = "python bench/causal_gan_pendulum.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        if any((p["sizes"], p["seed"], p["threads"]) != (parts[0]["sizes"], parts[0]["seed"], parts[0]["threads"]) for p in parts):
            raise SystemExit("error: the --merge results differ in sizes, seed or threads")
        res = {**parts[0], "models": [m for p in parts for m in p["models"]]}
        first: dict[str, dict[str, Any]] = {}
        for m in res["models"]:  # a second run of the same model with other settings: named by them
            base = first.setdefault(m["name"], m)
            if base is not m:
                extra = {k: v for k, v in m["settings"].items() if base["settings"].get(k) != v}
                m["name"] = f"{m['name']} + {', '.join(f'{k}={v}' for k, v in extra.items())}"
        torch.set_num_threads(res["threads"])  # as the runs had it (the machine line says so)
        section = markdown(res, " and ".join(f"`{p['command']}`" for p in parts) + f" (separate processes), then `{command.strip()}`",
                           max(p["wall_s"] for p in parts), parallel=len(parts))
    else:
        t0 = time.time()
        wanted = set(args.only or ["causal-gan", *([] if args.no_before else ["before"]), *([] if args.no_ccgm else ["ccgm"])])
        models = [("causal-gan", "causal-gan", overrides)] if "causal-gan" in wanted else []
        if "before" in wanted:
            models.append(("causal-gan, before", "causal-gan", {**overrides, **BEFORE}))
        if "ccgm" in wanted:
            models.append(("ccgm", "ccgm", {}))
        res = run(sizes, args.seed, models, args.threads)
        res["command"], res["wall_s"] = command.strip(), time.time() - t0
        write_json(args.json, res)
        section = markdown(res, f"`{command.strip()}`", res["wall_s"])
    print(section)
    if args.out:
        write_section(args.out, section, name="causal_gan_pendulum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
