"""The commands that query a trained model: ``sample`` (observational, ``--do``, ``--given``)
and ``counterfactual``, for tables and for image models."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import UsageError, _do_value, _draw_csv, _given_value, _info_stream, _load, _pairs, _write_csv
from causal import DataError, read_table


def cmd_sample(args: argparse.Namespace) -> int:
    model = _load(args)
    do = {k: _do_value(v) for k, v in _pairs(args.do, "--do").items()}
    given = {k: _given_value(v) for k, v in _pairs(args.given, "--given").items()}
    if any(model.graph.kind(n) == "image" for n in model.graph.nodes):
        df = model.sample(args.rows, do=do or None, given=given or None, seed=args.seed)
        return _write_images(df, args, given=bool(given))
    if args.grid or args.images_dir:
        raise UsageError("--grid and --images-dir apply to image models; this model samples tables")
    draws = accepted = 0

    def draw(n: int, seed: Any) -> Any:
        nonlocal draws, accepted
        df = model.sample(n, do=do or None, given=given or None, seed=seed)
        draws, accepted = draws + df.attrs.get("draws", 0), accepted + df.attrs.get("accepted", 0)
        return df

    # beyond what one call may draw, the rows are streamed in chunks (bounded memory)
    written, _ = _draw_csv(args.rows, len(model.graph.nodes), draw, args.seed, args.out)
    if given:
        print(f"acceptance rate: {accepted / max(draws, 1):.2%} ({accepted:,} of {draws:,} draws)", file=sys.stderr)
        if written < args.rows:
            print(f"only {written:,} of the {args.rows:,} rows asked for fell in the event within the draws allowed",
                  file=sys.stderr)
    if args.out:
        print(f"wrote {written:,} rows to {args.out}")
    return 0


def _is_images(result: Any) -> bool:
    from causal.images import ImageData

    return isinstance(result, ImageData)


def _write_images(data: Any, args: argparse.Namespace, given: bool = False) -> int:
    """Image results: labels as CSV (-o or stdout), a PNG grid (--grid), PNG files (--images-dir)."""
    from causal import images

    if given and "acceptance_rate" in data.labels.attrs:
        a = data.labels.attrs
        print(f"acceptance rate: {a['acceptance_rate']:.2%} ({a['accepted']:,} of {a['draws']:,} draws)", file=sys.stderr)
    info = _info_stream(args.out)
    if args.grid:
        images.save_png(data, args.grid, columns=args.columns)
        print(f"wrote a grid of {len(data)} images to {args.grid}", file=info)
    if args.images_dir:
        folder = images.save_image_folder(data, args.images_dir)
        print(f"wrote {len(data)} images and labels.csv to {folder}", file=info)
    if args.out or not (args.grid or args.images_dir):
        _write_csv(data.labels, args.out)
        if args.out:
            print(f"wrote {len(data):,} label rows to {args.out}", file=info)
    return 0


def cmd_counterfactual(args: argparse.Namespace) -> int:
    model = _load(args)
    if args.images_from is not None:
        from causal import images

        data = images.load_image_folder(args.images_from, labels_csv=args.rows, image_column=args.image_column)
        do = {k: _do_value(v) for k, v in _pairs(args.do, "--do").items()}
        cf = model.counterfactual(data, do=do, seed=args.seed)
        if not (args.grid or args.images_dir):
            raise UsageError("image counterfactuals need --images-dir DIR (one PNG per image) or --grid FILE.png")
        return _write_images(cf, args)
    if args.rows is None:
        raise UsageError("--rows FILE.csv is required (or --images-from FOLDER for an image model)")
    rows = read_table(args.rows)
    do = {k: _do_value(v) for k, v in _pairs(args.do, "--do").items()}
    try:
        cf = model.counterfactual(rows, do=do, seed=args.seed)
    except DataError as e:  # the library sees a DataFrame; name the file it came from
        raise DataError(f"{args.rows}: {e}") from None
    _write_csv(cf, args.out)
    if args.out:
        print(f"wrote {len(cf):,} counterfactual rows to {args.out}")
    return 0
