"""CausalGAN settings compared side by side on the faces (same data, seed and classifier):
every intervention's effectiveness, label fidelity, and rare-label diagnostics (the labeler's
recall on real faces, how often G practises each label value, a do(A = 1) grid per label).

    python bench/causal_gan_variants.py --n-train 20000 --steps 2000 \
        --variant default= --variant balanced='{"balance_labeler": true, "balance_generator": true}'

Each ``--variant NAME=JSON`` is a dict of causal-gan settings over the defaults (empty: the
defaults). Results go to ``--out-dir`` (one JSON per variant, ``NAME_grid.png`` per rare
label); the attribute classifier is trained once per (seed, size) and cached there, so
variants run in separate processes are compared on the same classifier and data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.causal_gan import Settings, accuracy, effectiveness, train_classifier  # noqa: E402
from causal import images as imd  # noqa: E402
from causal.exact import DiscreteBN  # noqa: E402
from causal.images import image_grid  # noqa: E402
from generators import build_model  # noqa: E402
from generators.encoding import LabelEncoding  # noqa: E402
from generators.image.conv import ConvHead  # noqa: E402
from generators.tabular.controllers import label_bn  # noqa: E402


def classifier(ds, settings: Settings, cache: Path):
    """The bench's attribute classifier, trained once and cached (safetensors)."""
    from causal.data import load_table

    path = cache / f"classifier_s{settings.seed}_n{settings.n_classifier}_k{settings.classifier_steps}.safetensors"
    if path.exists():
        sample = ds.scm.sample(200, seed=settings.seed + 1000)
        _, schema = load_table(sample.labels, ds.scm.label_graph, extra="drop")
        enc = LabelEncoding(schema, ds.scm.label_nodes)
        net = ConvHead(3, 32, enc.width, width=32)
        net.load_state_dict(load_file(str(path)))
        net.eval()
        return net, enc
    net, enc, acc = train_classifier(ds.scm, settings)
    print("classifier accuracy on true faces:", {k: round(v, 3) for k, v in acc.items()}, flush=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return net, enc


@torch.no_grad()
def labeler_diagnostics(model, ds, seed: int) -> dict:
    """The model's labeler R on 4,000 fresh true faces: per binary label, its recall on
    positives, its specificity on negatives and the positives' share."""
    net, enc = model.image_net, model.encoding
    test = ds.scm.sample(4000, seed=seed + 5000)
    x = test.tensor()
    logits = torch.cat([net.read(net.labeler, x[s : s + 500]) for s in range(0, len(x), 500)])
    got = enc.decode(logits, index=test.labels.index)
    out = {}
    for a in enc.nodes:
        t, g = test.labels[a].to_numpy(), got[a].to_numpy()
        out[a] = {"recall": float((g[t == 1] == 1).mean()), "specificity": float((g[t == 0] == 0).mean()),
                  "positives": float((t == 1).mean())}
    return out


def pool_share(model, ds, seed: int) -> dict:
    """The share of G's training label rows with each binary label = 1 (its fake-label pool)."""
    enc = model.encoding
    labels = enc.tensor(ds.data.labels[list(enc.nodes)])
    pool = model._fake_label_pool(labels, max(20_000, len(labels)), seed)
    return {a: float(pool[:, enc.slices[a].start].mean()) for a in enc.nodes}


@torch.no_grad()
def read_probability(clf, enc, data, attr: str) -> np.ndarray:
    logits = torch.cat([clf(data[s : s + 500].tensor() * 2 - 1) for s in range(0, len(data), 500)])
    return torch.sigmoid(logits[:, enc.slices[attr].start]).numpy()


def run_variant(name: str, settings_over: dict, ds, truth, clf, enc, args) -> dict:
    fit_seed = args.seed if args.fit_seed is None else args.fit_seed
    torch.manual_seed(fit_seed)
    over = {"steps": args.steps, **settings_over} if args.steps else dict(settings_over)
    model = build_model("causal-gan", ds.graph, **over)
    t0 = time.perf_counter()
    rep = model.fit(ds.data, seed=fit_seed)
    fit_s = time.perf_counter() - t0
    res = {"name": name, "settings": over, "fit_s": fit_s, "steps": rep.steps, "threads": args.threads,
           "n_train": args.n_train, "fit_seed": fit_seed}
    bn = label_bn(model.labels)
    res["label_tvd_exact"] = 0.5 * float(np.abs(bn.joint().probs - truth.joint().probs).sum())
    res["label_fidelity"] = accuracy(clf, enc, model.sample(args.n_images, seed=3))
    res["effectiveness"] = effectiveness(model, clf, enc, ds, args.n_images)
    res["labeler_on_true_faces"] = labeler_diagnostics(model, ds, args.seed)
    res["pool_share"] = pool_share(model, ds, args.seed)
    res["rare"] = {}
    for attr in args.rare:
        s = model.sample(args.n_images, do={attr: 1}, seed=5)
        p = read_probability(clf, enc, s, attr)
        net = model.image_net
        with torch.no_grad():
            r_logit = net.read(net.labeler, s.tensor())[:, model.encoding.slices[attr].start]
        seen = p > 0.5
        by = {f"{b}={v}": float(seen[(s.labels[b] == v).to_numpy()].mean())
              for b in model.encoding.nodes if b != attr for v in (0, 1) if (s.labels[b] == v).any()}
        real = ds.scm.counterfactual(ds.scm.sample(args.n_images, seed=args.seed + 6000), do={attr: 1}, seed=0)
        res["rare"][attr] = {
            # style diversity: per-pixel std across images, mean over pixels (true faces beside it)
            "pixel_spread": float((s.images / 255.0).std(0).mean()),
            "pixel_spread_true_faces": float((real.images / 255.0).std(0).mean()),
            "classifier_p_quantiles": [float(q) for q in np.quantile(p, [0.1, 0.25, 0.5, 0.75, 0.9])],
            "labeler_reads_1": float((r_logit > 0).float().mean()),
            "labeler_reads_1_where_classifier_reads_0": float((r_logit[~torch.from_numpy(seen)] > 0).float().mean()) if (~seen).any() else float("nan"),
            "effective_by_label": by,
        }
        grid = image_grid(s.images[:32], columns=8, pad=1).repeat(3, 0).repeat(3, 1)
        imd.save_png(grid, args.out_dir / f"{name}_{attr}_grid.png")
    eff = res["effectiveness"]
    print(f"== {name} ({fit_s:.0f}s fit): " + " ".join(f"{k} {v['effective']:.3f}" for k, v in eff.items()), flush=True)
    print("   fidelity:", {k: round(v, 3) for k, v in res["label_fidelity"].items()}, flush=True)
    print("   labeler recall on true faces:", {k: round(v["recall"], 3) for k, v in res["labeler_on_true_faces"].items()}, flush=True)
    print("   pool share of 1s:", {k: round(v, 3) for k, v in res["pool_share"].items()}, flush=True)
    print("   rare:", res["rare"], flush=True)
    (args.out_dir / f"{name}.json").write_text(json.dumps(res, indent=1))
    if args.save:
        model.save(args.out_dir / f"{name}_model")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=JSON", help="a named settings dict")
    ap.add_argument("--n-train", type=int, default=20_000)
    ap.add_argument("--steps", type=int, default=None, help="generator steps for every variant (default: the model's)")
    ap.add_argument("--n-images", type=int, default=1_000)
    ap.add_argument("--n-classifier", type=int, default=20_000)
    ap.add_argument("--classifier-steps", type=int, default=1_500)
    ap.add_argument("--rare", nargs="*", default=["Eyeglasses", "Mustache"], help="labels to grid and diagnose under do(A=1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit-seed", type=int, default=None, help="the model's training seed (default: --seed); data and classifier keep --seed")
    ap.add_argument("--save", action="store_true", help="save each fitted model under OUT_DIR/NAME_model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/causal_gan_variants"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    variants = []
    for item in args.variant or ["default="]:
        name, _, js = item.partition("=")
        variants.append((name, json.loads(js) if js.strip() else {}))
    settings = replace(Settings(), n_classifier=args.n_classifier, classifier_steps=args.classifier_steps, seed=args.seed)
    ds = imd.load("faces", n=args.n_train, seed=args.seed, size=32)
    truth = DiscreteBN.from_scm(ds.scm.scm)
    clf, enc = classifier(ds, settings, args.out_dir)
    for name, over in variants:
        run_variant(name, over, ds, truth, clf, enc, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
