"""Benchmark CCGM on ground-truth image datasets (pendulum, morpho-glyphs), on the faces label
graph (seeing vs doing against exact inference, de-biasing), and on two tabular SCMs; write
its marked section of docs/benchmarks.md.

    python bench/ccgm.py --out docs/benchmarks.md     # default sizes and model settings
    python bench/ccgm.py --quick                      # reduced sizes: checks that it runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import markers, write_section  # noqa: E402
from bench.tabular import Protocol, load_note, machine, run_one  # noqa: E402
from causal import images as imd  # noqa: E402
from causal.exact import DiscreteBN  # noqa: E402
from causal.images import ImageData  # noqa: E402
from causal.metrics import tvd, tvd_to_distribution  # noqa: E402
from generators import build_model  # noqa: E402
from generators.image.conv import ConvHead  # noqa: E402

TARGET_FIT_S = 600.0  # the issue: <= 10 min of training on 2 CPU cores at 32 px, default settings


@dataclass(frozen=True)
class Sizes:
    n_train: int = 5000  # training images (labels for faces: n_faces)
    n_test: int = 500  # factual test images for counterfactuals
    n_gen: int = 500  # generated images per query
    n_faces: int = 20_000  # faces label rows
    n_label_samples: int = 100_000  # model label samples for TVD and probabilities
    regressor_steps: int = 2000  # attribute regressor (small CNN) on ground-truth images
    image_steps: int | None = None  # CCGM's image phase (None: its default)
    label_steps: int | None = None  # CCGM's causal layer (None: its default)
    tabular: Protocol = field(default_factory=Protocol)
    debias_samples: int | None = None


QUICK = Sizes(n_train=1500, n_test=100, n_gen=100, n_faces=5000, n_label_samples=20_000, regressor_steps=300,
              image_steps=300, label_steps=500, debias_samples=5000,
              tabular=Protocol(n_train=3000, n_val=500, n_test=500, n_mmd=500, n_ate=2000, n_ate_truth=20_000, timing_repeats=2))


# ---------------------------------------------------------------------- attribute regressor
@torch.no_grad()
def outputs(net: torch.nn.Module, data: ImageData, batch: int = 512) -> np.ndarray:
    """``net`` on every image of ``data``, in batches."""
    return torch.cat([net(data[s : s + batch].tensor()) for s in range(0, len(data), batch)]).numpy()


class Regressor:
    """A small CNN (``ConvHead``) trained on ground-truth images to read every label:
    standardized values for continuous labels (squared error)."""

    def __init__(self, data: ImageData, steps: int, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.cols = list(data.labels.columns)
        y = data.labels[self.cols].to_numpy(np.float64)
        self.mean, self.sd = y.mean(0), y.std(0)
        self.net = ConvHead(data.channels, data.size, len(self.cols), width=32)
        opt = torch.optim.Adam(self.net.parameters(), 1e-3)
        x, t = data.tensor(), torch.from_numpy(((y - self.mean) / self.sd).astype(np.float32))
        gen = torch.Generator().manual_seed(seed)
        for step in range(steps):
            idx = torch.randint(0, len(x), (64,), generator=gen)
            for g in opt.param_groups:
                g["lr"] = 1e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
            loss = nn.functional.mse_loss(self.net(x[idx]), t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.net.eval()

    def read(self, data: ImageData) -> pd.DataFrame:
        return pd.DataFrame(outputs(self.net, data) * self.sd + self.mean, columns=self.cols, index=data.index)

    def mae(self, data: ImageData, labels: pd.DataFrame, cols: list[str]) -> float:
        """Mean absolute error (in label sd units) of reading ``cols`` off the images."""
        if not cols:
            return float("nan")
        r = self.read(data)
        sd = np.array([self.sd[self.cols.index(c)] for c in cols])
        return float(np.mean(np.abs(r[cols].to_numpy() - labels[cols].to_numpy(np.float64)) / sd))


def decorrelated(ds: imd.ImageDataset, seed: int) -> ImageData:
    """Ground-truth images of the training rows with every label column shuffled on its own
    (each label keeps its marginal, every combination occurs), re-rendered with the rows'
    own style: a regressor trained on them cannot read one attribute off another one it
    co-varies with in the data (thickness off brightness, say), so it can judge
    interventions that break those correlations."""
    rng = np.random.default_rng(seed + 77)
    lab = ds.data.labels.copy()
    for c in lab.columns:
        lab[c] = lab[c].to_numpy()[rng.permutation(len(lab))]
    images = ds.scm.render(lab, ds.data.style, ds.data.size)
    return ImageData(lab, images, image_node=ds.data.image_node)


# ---------------------------------------------------------------------- images
def image_bench(name: str, sizes: Sizes, seed: int = 0, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    ds = imd.load(name, n=sizes.n_train, seed=seed, size=32)
    test = imd.load(name, n=sizes.n_test, seed=seed + 1, size=32).data
    settings: dict[str, Any] = dict(overrides or {})
    if sizes.label_steps:
        settings["steps"] = sizes.label_steps
    if sizes.image_steps:
        base = build_model("ccgm", ds.graph).config.image_train
        settings["image_train"] = replace(base, steps=sizes.image_steps)
    model = build_model("ccgm", ds.graph, **settings)
    t0 = time.perf_counter()
    report = model.fit(ds.data, seed=seed)
    fit_s = time.perf_counter() - t0
    label_s = model.labels.report.seconds

    t1 = time.perf_counter()
    reg = Regressor(decorrelated(ds, seed), sizes.regressor_steps, seed)
    reg_s = time.perf_counter() - t1
    out: dict[str, Any] = {
        "dataset": name, "fit_s": fit_s, "label_s": label_s, "image_s": fit_s - label_s, "steps": report.steps,
        "regressor_s": reg_s,
    }
    out.update(score_images(model, ds, test, reg, sizes.n_gen, seed))
    return out


def score_images(model: Any, ds: imd.ImageDataset, test: ImageData, reg: Regressor, n_gen: int, seed: int = 0) -> dict[str, Any]:
    """An image model's scores against the ground truth of ``ds`` (its SCM renders the exact
    counterfactuals), read by ``reg``: the regressor's floor on ``test``, reconstruction,
    label fidelity of ``n_gen`` observational samples, and per do(A = v) (the 25/50/75th
    training percentiles of each of ``ds.intervene_on``) the read-back errors of ``n_gen``
    do()-samples and the counterfactuals of ``test``. The style of each test image is
    abducted once (it does not depend on the intervention)."""
    labels = list(ds.data.labels.columns)
    out: dict[str, Any] = {"regressor_floor": reg.mae(test, test.labels, labels)}
    with abducted_once(model, test):
        out["recon"] = imd.pixel_error(model.reconstruct(test), test)
        obs = model.sample(n_gen, seed=seed + 2)
        out["fidelity"] = reg.mae(obs, obs.labels, labels)
        rows = []
        graph = model.label_graph
        for i, node in enumerate(ds.intervene_on):
            desc = list(graph.descendants(node))
            others = [c for c in labels if c != node and c not in desc]
            for k, q in enumerate((0.25, 0.5, 0.75)):
                v = float(ds.data.labels[node].quantile(q))
                s = seed + 100 + 10 * i + k
                gen = model.sample(n_gen, do={node: v}, seed=s)
                set_mae = reg.mae(gen, gen.labels, [node])
                cf = model.counterfactual(test, do={node: v}, seed=s, pixel_noise=True)
                plain = model.counterfactual(test, do={node: v}, seed=s, pixel_noise=False)
                true = ds.scm.counterfactual(test, do={node: v}, seed=s)
                rows.append({
                    "node": node, "value": v,
                    "do_mae": set_mae,  # the intervened attribute read off the generated images
                    "do_others": reg.mae(gen, gen.labels, others),  # non-descendants: still what they were
                    "do_desc": reg.mae(gen, gen.labels, desc),
                    "cf_pixel": imd.pixel_error(cf, true),
                    "cf_pixel_plain": imd.pixel_error(plain, true),
                    "cf_read_plain": reg.mae(plain, true.labels, [node] + desc),
                    "copy_pixel": imd.pixel_error(test, true),
                    "cf_read": reg.mae(cf, true.labels, [node] + desc),
                })
    out["interventions"] = rows
    return out


@contextmanager
def abducted_once(model: Any, data: ImageData) -> Iterator[None]:
    """Within the block, ``model.abduct_style(data)`` is computed once and reused: the style
    abducted from a factual image and its labels is the same whatever the intervention, and
    for a model that abducts by optimisation (CausalGAN's generator inversion, from a fixed
    seed) it is the costly part of every counterfactual."""
    plain = model.abduct_style
    cache: list[Any] = []

    def once(d: ImageData) -> Any:
        if d is not data:
            return plain(d)
        if not cache:
            cache.append(plain(d))
        return cache[0]

    model.abduct_style = once
    try:
        yield
    finally:
        del model.abduct_style  # the class's method again


# ---------------------------------------------------------------------- faces labels
def faces_bench(sizes: Sizes, seed: int = 0) -> dict[str, Any]:
    """The causal layer on the faces labels (a TabularCCGM: exactly the label part of an
    image CCGM, whose image phase does not touch the labels)."""
    info = imd.info("faces")
    scm = info.scm
    data = scm.scm.sample(sizes.n_faces, seed=seed)
    graph = scm.label_graph
    settings: dict[str, Any] = {"steps": sizes.label_steps} if sizes.label_steps else {}
    if sizes.debias_samples:
        settings["debias_samples"] = sizes.debias_samples
    model = build_model("ccgm", graph, **settings)
    t0 = time.perf_counter()
    model.fit(data, seed=seed)
    fit_s = time.perf_counter() - t0
    truth = DiscreteBN.from_scm(scm.scm)
    mle = DiscreteBN.fit(data, graph)
    joint = truth.joint()
    cols = list(joint.variables)
    gen = model.sample(sizes.n_label_samples, seed=seed + 1)
    true_joint = joint.to_dict()
    out: dict[str, Any] = {
        "fit_s": fit_s,
        "tvd_model": tvd_to_distribution(gen, true_joint, cols),
        "tvd_data": tvd_to_distribution(data, true_joint, cols),  # the training sample itself: the floor
        "tvd_mle": _tvd_dist(mle.joint().marginal(*cols).to_dict(), true_joint),
    }
    queries = []
    for child, parent in (("Male", "Mustache"), ("Mustache", "Male"), ("NarrowEyes", "Smiling"), ("Bald", "Young")):
        given = model.sample(sizes.n_label_samples // 5, given={parent: 1}, seed=seed + 2)
        do = model.sample(sizes.n_label_samples // 5, do={parent: 1}, seed=seed + 3)
        queries.append({
            "query": f"{child}=1 given {parent}=1",
            "model_given": float((given[child] == 1).mean()), "model_do": float((do[child] == 1).mean()),
            "truth_given": truth.prob(child, 1, given={parent: 1}), "truth_do": truth.prob(child, 1, do={parent: 1}),
            "mle_given": mle.prob(child, 1, given={parent: 1}), "mle_do": mle.prob(child, 1, do={parent: 1}),
        })
    out["queries"] = queries
    t1 = time.perf_counter()
    fair = model.without_edges(("Male", "Mustache"), method="refit", seed=seed)
    out["debias_s"] = time.perf_counter() - t1
    after = fair.sample(sizes.n_label_samples, seed=seed + 1)
    rest = [c for c in cols if c != "Mustache"]
    out["debias"] = {
        "corr_before": float(np.corrcoef(gen["Male"], gen["Mustache"])[0, 1]),
        "corr_after": float(np.corrcoef(after["Male"], after["Mustache"])[0, 1]),
        "p_mustache_before": float(gen["Mustache"].mean()), "p_mustache_after": float(after["Mustache"].mean()),
        "p_mustache_marginal_truth": _marginal_mustache(truth),
        "rest_identical": bool(after[rest].equals(gen[rest])),  # same seed: mechanisms copied exactly
        "tvd_rest": tvd(fair.sample(sizes.n_label_samples, seed=seed + 11), gen, rest),  # independent draws
        "tvd_rest_floor": tvd(model.sample(sizes.n_label_samples, seed=seed + 9), gen, rest),
    }
    return out


def _tvd_dist(p: dict, q: dict) -> float:
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)


def _marginal_mustache(bn: DiscreteBN) -> float:
    """P'(Mustache = 1) when Mustache's Male input is an independent copy of Male: the
    de-biased target, sum over y, m' of P(Mustache=1 | Young=y, Male=m') P(y) P(m')."""
    py, pm = bn.prob("Young", 1), bn.prob("Male", 1)
    total = 0.0
    for y in (0, 1):
        for m in (0, 1):
            total += bn.prob("Mustache", 1, given={"Young": y, "Male": m}) * (py if y else 1 - py) * (pm if m else 1 - pm)
    return total


# ---------------------------------------------------------------------- tables
def tabular_bench(sizes: Sizes, seed: int = 0) -> list[dict[str, Any]]:
    out = []
    for name in ("loan", "triangle-nlin"):
        for kind in ("ccgm", "causal-gen"):
            r = run_one(name, kind, seed, sizes.tabular)
            out.append({"scm": name, "model": kind, "fit_s": r.fit_seconds, "mmd_ratio": r.mmd / r.mmd_floor,
                        "cf_rmse": r.cf_rmse, "cf_in": r.cf_rmse_in, "ate_err": r.ate_error})
    return out


# ---------------------------------------------------------------------- report
def markdown(res: dict[str, Any], sizes: Sizes, command: str, seconds: float) -> str:
    start, end = markers("ccgm")
    lines = [
        start,
        "## CCGM (Causal Counterfactual Generative Model)",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}; {load_note()}",
        f"- Date: {dt.date.today().isoformat()}; whole run {seconds / 60:.1f} min; one seed",
        f"- Images: {sizes.n_train:,} training images at 32 px, default CCGM settings"
        + (f" except {sizes.label_steps} causal-layer and {sizes.image_steps} image steps" if sizes.image_steps else "")
        + f"; {sizes.n_gen} generated images per query, {sizes.n_test} factual test images for counterfactuals.",
        f"- *Attribute regressor*: a small CNN (generators.image.conv.ConvHead, width 32) trained for "
        f"{sizes.regressor_steps} steps on ground-truth images of the training rows re-rendered with every label "
        "column shuffled on its own (so it cannot read one label off another it co-varies with) to read every label; "
        "errors are mean absolute errors in label standard deviations. *floor*: its error on real test images.",
        "- *fidelity*: labels read off observational samples vs the labels they were generated from. "
        "*do MAE*: the intervened attribute read off do()-samples vs the set value (25/50/75th training "
        "percentiles); *others*: non-descendants read vs their (unchanged) labels; *desc.*: descendants.",
        "- *CF pixel*: mean absolute pixel error (0-1) of the model's counterfactual image against the exact "
        "re-rendered counterfactual (same style, same label noise); *copy*: the factual image as the guess; "
        "*CF read*: intervened node and descendants read off the counterfactual vs the true counterfactual labels. "
        "*no ε*: the counterfactual decoded from (counterfactual labels, abducted style) alone, without the factual's "
        "reconstruction residual ε (CCGM's default, `pixel_noise=True`, keeps it: x' = x + g(y', s) − g(y, s)).",
        "",
        "| dataset | fit s (labels + images) | steps | recon pixel | floor | fidelity | do MAE | others | desc. | CF pixel | CF pixel, no ε | copy | CF read | CF read, no ε |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    misses = []
    for r in res.get("images", []):
        iv = pd.DataFrame(r["interventions"])
        fit = f"{r['fit_s']:.0f} ({r['label_s']:.0f} + {r['image_s']:.0f})"
        if r["fit_s"] > TARGET_FIT_S and sizes.image_steps is None and sizes.label_steps is None:  # the target is for defaults
            misses.append(f"{r['dataset']}: fit {r['fit_s']:.0f} s > {TARGET_FIT_S:.0f} s")
            fit = f"**{fit}** ✗"
        lines.append(
            f"| {r['dataset']} | {fit} | {r['steps']} | {r['recon']:.4f} | {r['regressor_floor']:.3f} | {r['fidelity']:.3f} | "
            f"{iv.do_mae.mean():.3f} | {iv.do_others.mean():.3f} | {iv.do_desc.mean():.3f} | "
            f"{iv.cf_pixel.mean():.4f} | {iv.cf_pixel_plain.mean():.4f} | {iv.copy_pixel.mean():.4f} | {iv.cf_read.mean():.3f} | "
            f"{iv.cf_read_plain.mean():.3f} |"
        )
    for r in res.get("images", []):
        lines += ["", f"Per intervention, {r['dataset']}:", "",
                  "| do | do MAE | others | desc. | CF pixel | CF pixel, no ε | copy | CF read | CF read, no ε |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for q in r["interventions"]:
            lines.append(f"| {q['node']} = {q['value']:.4g} | {q['do_mae']:.3f} | {q['do_others']:.3f} | {q['do_desc']:.3f} | "
                         f"{q['cf_pixel']:.4f} | {q['cf_pixel_plain']:.4f} | {q['copy_pixel']:.4f} | {q['cf_read']:.3f} | "
                         f"{q['cf_read_plain']:.3f} |")
    f = res.get("faces")
    if f:
        lines += [
            "",
            f"Faces labels ({sizes.n_faces:,} rows, the causal layer alone: the label part of an image CCGM; "
            f"{sizes.n_label_samples:,} model samples; fit {f['fit_s']:.0f} s). Label-joint TVD against the true joint "
            f"(exact, from the SCM): model **{f['tvd_model']:.4f}**; the training sample itself {f['tvd_data']:.4f}; "
            f"the graph fitted by maximum likelihood {f['tvd_mle']:.4f}.",
            "",
            "| P(child=1), seeing vs doing parent=1 | model given | model do | truth given | truth do | MLE given | MLE do |",
            "|---|---|---|---|---|---|---|",
        ]
        for q in f["queries"]:
            lines.append(f"| {q['query']} | {q['model_given']:.3f} | {q['model_do']:.3f} | {q['truth_given']:.3f} | "
                         f"{q['truth_do']:.3f} | {q['mle_given']:.3f} | {q['mle_do']:.3f} |")
        d = f["debias"]
        lines += [
            "",
            f"De-biasing, `without_edges((\"Male\", \"Mustache\"), method=\"refit\")` ({f['debias_s']:.0f} s): corr(Male, Mustache) "
            f"{d['corr_before']:.3f} → **{d['corr_after']:.3f}**; P(Mustache=1) {d['p_mustache_before']:.4f} → "
            f"{d['p_mustache_after']:.4f} (parent-marginal target from the truth {d['p_mustache_marginal_truth']:.4f}); "
            f"the other eight labels: identical to the trained model's with the same seed: {d['rest_identical']}; "
            f"TVD of their joint, independent draws, against the trained model's samples {d['tvd_rest']:.4f} "
            f"(two independent samples of the trained model: {d['tvd_rest_floor']:.4f}).",
        ]
    t = res.get("tabular")
    if t:
        p = sizes.tabular
        lines += [
            "",
            f"Tables (the tabular protocol of the suite above at {p.n_train:,} training rows, one seed; CCGM beside "
            "Causal Gen in the same run):",
            "",
            "| SCM | model | fit s | MMD² ratio | CF RMSE | CF RMSE in support | ATE err |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in t:
            lines.append(f"| {r['scm']} | {r['model']} | {r['fit_s']:.1f} | {r['mmd_ratio']:.2f} | {r['cf_rmse']:.4f} | "
                         f"{r['cf_in']:.4f} | {r['ate_err']:.4f} |")
    lines += ["", f"Target (CCGM issue): training ≤ {TARGET_FIT_S / 60:.0f} min on 2 CPU cores at 32 px with default settings. "
              "Missed here: " + ("; ".join(misses) if misses else "none") + ".", end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="markdown file to update (e.g. docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes (a smoke run; numbers are not comparable)")
    ap.add_argument("--parts", nargs="+", default=["pendulum", "morpho-glyphs", "faces", "tabular"],
                    choices=["pendulum", "morpho-glyphs", "faces", "tabular"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a CCGM setting for the image runs, e.g. beta=4 (JSON values)")
    ap.add_argument("--sizes", default=None, help="JSON object overriding sizes, e.g. '{\"n_train\": 3000}'")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "ccgm.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else Sizes()
    if args.sizes:
        given = json.loads(args.sizes)
        if isinstance(given.get("tabular"), dict):
            given["tabular"] = Protocol(**given["tabular"])
        sizes = replace(sizes, **given)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    t0 = time.time()
    res: dict[str, Any] = {"images": []}
    for part in args.parts:
        t = time.time()
        if part in ("pendulum", "morpho-glyphs"):
            res["images"].append(image_bench(part, sizes, overrides=overrides))
        elif part == "faces":
            res["faces"] = faces_bench(sizes)
        else:
            res["tabular"] = tabular_bench(sizes)
        print(f"{part}: {time.time() - t:.0f} s", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"sizes": asdict(sizes), **res}, indent=1, default=float))
    command = "python bench/ccgm.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    section = markdown(res, sizes, command.strip(), time.time() - t0)
    print(section)
    if args.out:
        write_section(args.out, section, name="ccgm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
