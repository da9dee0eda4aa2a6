"""The ``hypotheses`` command: rank candidate causal graphs of a table by how well models that
obey them predict held-out rows (``causal.hypotheses.compare_hypotheses``), and write the
report as JSON (plus CSV tables and PNG figures with ``--export``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from app.cli.common import UsageError, _graph_arg, _pairs, _read_data


def _candidates(args: argparse.Namespace) -> list[Any]:
    """--candidate items, then the graphs --around (within --distance edits) or --orient."""
    from causal.hypotheses import Candidate, neighbours, orientations, parse_candidate

    out: list[Any] = [parse_candidate(text, f"H{i + 1}") for i, text in enumerate(args.candidate or [])]
    if args.around:
        centre = _graph_arg(args.around)
        if args.orient:
            edges = []
            for item in args.orient:
                a, sep, b = item.replace("->", "--").replace("<-", "--").partition("--")
                if not sep or not a.strip() or not b.strip():
                    raise UsageError(f"--orient expects 'a -- b' (an edge to try in both directions), got {item!r}")
                edges.append((a.strip(), b.strip()))
            graphs = orientations(centre, edges)
        else:
            graphs = [centre] + neighbours(centre, args.distance, limit=args.limit)
        start = len(out)
        out += [Candidate(f"H{start + i + 1}", g) for i, g in enumerate(graphs)]
    elif args.orient:
        raise UsageError("--orient needs --around GRAPH (the graph whose edges to orient)")
    if len(out) < 2:
        raise UsageError("give at least two candidates: --candidate \"a -> b\" --candidate \"b -> a\", or --around GRAPH")
    return out


def _data(args: argparse.Namespace, cands: Sequence[Any]) -> Any:
    from causal import datasets

    if args.data:  # with --drop-missing: the rows with a gap in a column some candidate uses
        used = list(dict.fromkeys(n for c in cands for n in c.graph.nodes))
        return _read_data(args.data, used, args.drop_missing, args.missing_marker)[0]
    if args.drop_missing or args.missing_marker:
        raise UsageError("--drop-missing and --missing-marker apply to --data only")
    if args.dataset:
        return datasets.load(args.dataset, n=args.rows or 1000, seed=args.seed).data
    raise UsageError("give the table: --data FILE.csv (or --dataset NAME, a built-in one)")


def _value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cmd_hypotheses(args: argparse.Namespace) -> int:
    from causal.hypotheses import HypothesisConfig, compare_hypotheses

    cands = _candidates(args)
    data = _data(args, cands)
    settings = {k: _value(v) for k, v in _pairs(args.set, "--set", "KEY").items()}
    config = HypothesisConfig(
        split=args.split, folds=args.folds, seeds=args.seeds, score=args.score, standardize=not args.raw,
        model=args.model, settings=settings, regime=args.regime, alpha=args.alpha, classical=not args.no_classical,
        permutations=args.permutations, workers=args.workers, ray=args.ray, seed=args.seed)
    last = [0.0]

    def progress(done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 1.0:
            last[0] = now
            print(f"fit {done}/{total}  {label}", file=sys.stderr, flush=True)

    print(f"{len(cands)} candidates, {len(data):,} rows; fitting ({config.workers} worker(s)"
          + (f", Ray at {config.ray}" if config.ray else "") + ")", file=sys.stderr, flush=True)
    report = compare_hypotheses(data, cands, config, progress=progress)
    print(report.summary(config.alpha))
    if args.out:
        from app.cli.common import _partial

        with _partial(args.out) as tmp:
            report.to_json(tmp)
        print(f"wrote the report to {args.out}")
    if args.export:
        paths = report.save(args.export, figures=True)
        print(f"wrote {', '.join(p.name for p in paths)} to {Path(args.export)}")
    return 0
