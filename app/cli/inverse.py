"""The ``recover`` command: an image measured by a linear operator (``--measure``), plus noise,
recovered by a trained generator (CSGM), Deep Image Prior (plain or with a learned prior,
``--dip-prior``) or Lasso (DCT or wavelets); PNG out, and a JSON record (method, measurement,
seconds, per-pixel MSE against the input image). The ``dip-prior`` command learns that prior."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from app.cli.common import UsageError, _load

__all__ = ["cmd_recover", "cmd_dip_prior"]


def cmd_recover(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from app.logic.inverse import read_image  # (torch only for the commands that need it: --help stays fast)
    from generators.inverse import measure, parse_measure, recover

    model = _load(args) if args.model_dir else None
    if args.method == "generator" and model is None:
        raise UsageError("--method generator needs a trained image model (MODEL: a folder written by 'train', or run:ID)")
    if model is not None and args.method != "generator":
        raise UsageError(f"--method {args.method} uses no trained model; drop MODEL or use --method generator")
    dip_prior = getattr(args, "dip_prior", None)
    if args.method == "dip-lr" and not dip_prior:
        raise UsageError("--method dip-lr needs --dip-prior PRIOR_DIR (a folder written by 'counterfactory dip-prior')")
    if dip_prior and args.method != "dip-lr":
        raise UsageError(f"--dip-prior is only used by --method dip-lr, not by --method {args.method}")
    if not math.isfinite(args.noise) or args.noise < 0:
        raise UsageError(f"--noise is the standard deviation of the additive noise, a number >= 0; got {args.noise}")
    if model is not None:
        info = getattr(model, "info", None)
        if info is None:
            raise UsageError(f"{args.model_dir} is a model of tables; --method generator needs an image model (ccgm, causal-gan)")
        arr = read_image(args.image, info.channels, info.size)
    else:
        arr = read_image(args.image)
    x = torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1) / 255.0
    op = parse_measure(args.measure, tuple(x.shape), seed=args.seed)
    y = measure(x, op, noise=args.noise, seed=args.seed + 1)
    options: dict[str, Any] = {}
    if dip_prior:
        from generators.inverse import load_dip_prior

        options["dip_prior"] = load_dip_prior(dip_prior)
    result = recover(y, op, method=args.method, model=model, truth=x, seed=args.seed, **options)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = result.uint8()
    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(out, format="PNG")
    record: dict[str, Any] = {
        **result.to_dict(), "noise": args.noise, "seed": args.seed, "image": str(args.image), "output": str(out),
        "model": args.model_dir, "shape": list(op.shape), **({"dip_prior": str(dip_prior)} if dip_prior else {}),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"recovered {args.image} from {op.spec} ({op.m:,} measurements, noise {args.noise:g}) by {args.method} in "
          f"{result.seconds:.2f} s; per-pixel MSE against the input {result.mse:.5f}; wrote {out}"
          + (f" and {args.json}" if args.json else ""))
    return 0


def cmd_dip_prior(args: argparse.Namespace) -> int:
    from app.logic.inverse import read_image
    from generators.inverse import learn_dip_prior

    if bool(args.images) == bool(args.dataset):
        raise UsageError("give the training images either as --images FILE.png ... or as --dataset NAME (a built-in image dataset)")
    if args.images:
        arrays = [read_image(f) for f in args.images]
        first = arrays[0].shape
        for f, a in zip(args.images, arrays):
            if a.shape != first:
                raise UsageError(f"{f} is {a.shape[1]}x{a.shape[0]} with {a.shape[2]} channel(s) but {args.images[0]} is "
                                 f"{first[1]}x{first[0]} with {first[2]}; the training images must all have one size")
        images = np.stack(arrays)
        source = f"{len(arrays)} image files"
    else:
        from causal import images as imd

        images = imd.load(args.dataset, n=args.n, seed=args.seed, size=args.size).data.images  # ValueError names it
        source = f"{args.n} images of {args.dataset} ({args.size} px, seed {args.seed})"
    prior = learn_dip_prior(images, steps=args.steps, seed=args.seed, lam=args.lam, val_measure=args.val_measure)
    out = prior.save(args.out)
    how = prior.info.get("lam_chosen_by", "given")
    print(f"learned a DIP prior from {source}: lambda {prior.lam:g} ({how}); wrote {out} "
          f"(use it with: recover --method dip-lr --dip-prior {out})")
    return 0
