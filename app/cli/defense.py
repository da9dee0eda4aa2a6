"""The ``defend`` command: a small classifier (trained here, or loaded) attacked by L-infinity
PGD, bare and behind the projection onto a trained generator's range (the robust manifold
defense), under the adaptive attacks (BPDA, the latent-space attack) and their worst case; a
table on stdout and a JSON record."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import UsageError, _load

__all__ = ["cmd_defend"]


def cmd_defend(args: argparse.Namespace) -> int:
    from app.logic.defense import DefenseSettings, defend, load_labelled, record
    from generators.inverse.defense import load_classifier

    for e in args.eps:
        if not 0 < e <= 1:
            raise UsageError(f"--eps takes L-infinity radii in pixel units, 0 < eps <= 1; got {e:g}")
    if args.bpda_steps < 0:
        raise UsageError(f"--bpda-steps is a number of attack steps >= 0 (0 skips BPDA); got {args.bpda_steps}")
    if args.latent_steps < 0:
        raise UsageError(f"--latent-steps is a number of attack steps >= 0 (0 skips the latent attack); got "
                         f"{args.latent_steps}")
    model = _load(args)
    info = getattr(model, "info", None)
    if info is None:
        raise UsageError(f"{args.model_dir} is a model of tables; the defense projects onto an image model's range")
    clf = load_classifier(args.classifier) if args.classifier else None
    data = load_labelled(args.data, args.label, args.train_n + args.n, info.size, info.channels, seed=args.seed)
    if len(data.images) < args.train_n + args.n:
        raise UsageError(f"--data {args.data} has {len(data.images)} images; --train-n {args.train_n} plus --n {args.n} "
                         "need more (the test images follow the training ones)")
    settings = DefenseSettings(eps=tuple(args.eps), n=args.n, train_n=args.train_n, epochs=args.epochs,
                               pgd_steps=args.pgd_steps, bpda_steps=args.bpda_steps,
                               latent_steps=args.latent_steps, restarts=args.restarts,
                               steps=args.steps, attack_restarts=args.attack_restarts or 0,
                               attack_steps=args.attack_steps or 0, examples=0, seed=args.seed)
    trained = clf is None
    report, clf = defend(model, data, settings, classifier=clf,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    if trained and args.save_classifier:
        clf.save(args.save_classifier)
        print(f"saved the classifier to {args.save_classifier}", file=sys.stderr)
    projection = settings.projection
    print(f"{report.n} test images of {data.source} (class: {data.label}); accuracy of the classifier:")
    print(f"{'eps':>6}  {'bare':>6}  {'projected':>9}  {'BPDA':>6}  {'latent':>6}  {'worst':>6}")
    for row in report.table():
        cells = ["" if row["eps"] == 0 else ("–" if row[k] != row[k] else f"{row[k]:.3f}")
                 for k in ("bpda", "latent", "worst")]
        print(f"{row['eps']:>6g}  {row['bare']:>6.3f}  {row['projected']:>9.3f}  "
              + "  ".join(f"{c:>6}" for c in cells))
    print("worst: the images classified correctly after every attack on the defense (projected PGD, BPDA, latent)")
    print(f"{report.seconds_per_projection:.2f} s per projected image ({projection.restarts} restarts, "
          f"{projection.steps} steps); {report.seconds:.0f} s in all")
    if args.json:
        rec: dict[str, Any] = record(report, clf, data, model=args.model_dir, data=args.data,
                                     classifier=args.classifier or args.save_classifier,
                                     n_train=0 if args.classifier else args.train_n)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rec, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0
