"""The ``recover`` command: an image measured by a linear operator (``--measure``), plus noise,
recovered by a trained generator (CSGM), Deep Image Prior or Lasso-DCT; PNG out, and a JSON
record (method, measurement, seconds, per-pixel MSE against the input image)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from app.cli.common import UsageError, _load

__all__ = ["cmd_recover"]


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
    result = recover(y, op, method=args.method, model=model, truth=x, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = result.uint8()
    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(out, format="PNG")
    record: dict[str, Any] = {
        **result.to_dict(), "noise": args.noise, "seed": args.seed, "image": str(args.image), "output": str(out),
        "model": args.model_dir, "shape": list(op.shape),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"recovered {args.image} from {op.spec} ({op.m:,} measurements, noise {args.noise:g}) by {args.method} in "
          f"{result.seconds:.2f} s; per-pixel MSE against the input {result.mse:.5f}; wrote {out}"
          + (f" and {args.json}" if args.json else ""))
    return 0
