"""The commands that describe without training: ``datasets`` (list or draw the built-in
datasets), ``graph`` (validate and convert a graph; its independences and equivalence class)
and ``settings`` (a model kind's settings and their defaults)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from app.cli.common import PROG, UsageError, _draw_csv, _graph_arg, _info_stream, _read_data
from causal import CausalGraph, datasets

FORMATS = ("text", "dagitty", "dot", "json")


def cmd_datasets(args: argparse.Namespace) -> int:
    if args.name is None:
        if args.out:
            raise UsageError("-o needs a dataset NAME, e.g. counterfactory datasets loan -o loan.csv")
        from causal import images

        names = datasets.names()
        width = max(map(len, names + images.names()))
        for name in names:
            meta = datasets.info(name)
            summary = textwrap.shorten(meta.description.split(". ")[0].rstrip("."), 96, placeholder="…")
            print(f"{name:<{width}}  {len(meta.graph):>2} nodes  {summary}")
        print("\nimage datasets (train --images NAME):")
        for name in images.names():
            meta = images.info(name)
            summary = textwrap.shorten(meta.description.split(". ")[0].rstrip("."), 88, placeholder="…")
            print(f"{name:<{width}}  {len(meta.graph) - 1:>2} labels + image  {summary}")
        return 0
    ds = datasets.info(args.name)
    info = _info_stream(args.out)
    print(f"{ds.name}:", textwrap.fill(ds.description, 88, subsequent_indent="  "), file=info)
    print(f"graph: {ds.graph.to_text()}", file=info)
    kinds = ds.graph.kinds
    print("nodes: " + ", ".join(f"{n} ({kinds[n]})" if n in kinds else n for n in ds.graph.nodes), file=info)
    print(f"benchmark interventions on: {', '.join(ds.intervene_on)}", file=info)
    # beyond what one call may draw, the rows are streamed in chunks (bounded memory)
    written, _ = _draw_csv(args.rows, len(ds.graph.nodes), lambda n, seed: datasets.load(args.name, n=n, seed=seed).data,
                           args.seed, args.out)
    if args.out:
        print(f"wrote {written:,} rows to {args.out}", file=info)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    graph = _graph_arg(args.graph)
    text = {"text": graph.to_text, "dagitty": graph.to_dagitty, "dot": graph.to_dot, "json": graph.to_json}[args.to]()
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.to} to {args.out}")
    else:
        print(text)
    print(f"nodes (canonical order): {', '.join(graph.nodes)}")
    if args.implications:
        found = graph.implied_independences()
        print(f"implied conditional independences ({len(found)}):" if found else "implied conditional independences: none (every pair is adjacent)")
        for ind in found:
            print(f"  {ind}")
    status = _check_on_data(graph, args) if args.data else 0
    if args.mec:
        cp = graph.cpdag()
        print(f"Markov equivalence class (CPDAG): {cp}")
        if not cp.undirected:
            print("  every edge is identified: the class holds this graph only")
        elif len(cp.undirected) <= 12:
            print(f"  {graph.equivalence_class_size()} DAGs; undirected edges (--) can point either way")
        else:
            print(f"  {len(cp.undirected)} undirected edges (--) can point either way")
    return status


def _check_on_data(graph: CausalGraph, args: argparse.Namespace) -> int:
    """Test the graph's implied independences on --data, as the Graph page does: 3 when a
    rejection has practical strength (an arrow probably missing), else 0."""
    from causal.independence import MIN_STRENGTH, implications_frame, test_implications, checkable_independences

    nodes = [v for v in graph.nodes if graph.kind(v) != "image"]
    table, _ = _read_data(args.data, nodes, args.drop_missing, args.missing_marker)
    results = test_implications(table, graph, alpha=args.alpha, regression="linear" if args.linear else "spline")
    if args.csv:
        implications_frame(results).to_csv(args.csv, index=False)
    if not results:
        print(f"{args.data}: the graph implies no conditional independence (every pair is adjacent): "
              "the data cannot contradict it")
        return 0
    implied = len(checkable_independences(graph))
    of = f" (those with the smallest conditioning sets, of {implied})" if implied > len(results) else ""
    print(f"{args.data}: {len(results)} implied independence(s) tested{of} on {len(table):,} rows "
          f"({'linear' if args.linear else 'spline'} adjustment, Holm-adjusted at {args.alpha:g}):")
    for r in results:
        verdict = ("CONTRADICTED" if r.relevant else "rejected, negligible") if r.rejected_holm else "consistent"
        print(f"  {verdict:<21} {r.independence}  p = {r.p_value:.3g} (Holm {r.p_holm:.3g}), strength {r.strength:.3f}"
              f"  [{r.test.method}]")
    bad = sum(r.relevant for r in results)
    if bad:
        print(f"the data contradict {bad} of the {len(results)} with a dependence of practical size (strength ≥ "
              f"{MIN_STRENGTH:g}): an arrow is probably missing between those variables")
        return 3
    weak = sum(r.rejected_holm for r in results)
    print(f"consistent with the data{f' ({weak} rejection(s) too weak to matter)' if weak else ''}; a large p-value "
          "does not prove independence, it only fails to refute it")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from generators import KINDS, model_kind, settings_of

    if args.kind is None:
        width = max(len(k.name) for k in KINDS)
        for k in KINDS:
            print(f"{k.name:<{width}}  {' + '.join(k.data):<15}  {k.title}: {k.summary}")
        print(f"\n'{PROG} settings KIND' lists a kind's settings")
        return 0
    entry = model_kind(args.kind)
    print(f"{entry.name}: {entry.title}, {entry.summary} ({entry.reference}); trains on {' and '.join(entry.data)}")
    print(f"settings of {entry.name} (--set key=value):")
    group = None
    for s in settings_of(entry.name):
        if s.group == "training" and group != "training":
            print("training (the same for every model kind; this kind's defaults):")
        group = s.group
        note = f"  # {s.help}" if s.help else ""
        print(f"  {s.name}={s.default!r}{note}")
    from generators import PRESETS

    for name, values in PRESETS.get(entry.name, {}).items():
        print(f"preset {name} (--preset {name}): " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    """A graph suggested by the data (PC on the project's independence tests): the class it
    finds, one graph of it in --to format, and what it rests on."""
    import json

    from causal.discovery import suggest_graph

    table, _ = _read_data(args.data, args.columns, args.drop_missing, args.missing_marker)
    s = suggest_graph(table, columns=args.columns, alpha=args.alpha, min_strength=args.min_strength, max_cond=args.max_cond,
                      regression="linear" if args.linear else "spline")
    print(f"suggested class: {s.to_text()}")
    print(s.describe())
    if s.undirected:
        print("'--' marks an adjacency whose direction the data cannot tell: choose it from what you know")
    if s.conflicts:
        print(f"the tests oriented {', '.join(f'{a} -- {b}' for a, b in s.conflicts)} both ways: left undirected")
    if s.dropped:
        print(f"left out of the graph to keep it acyclic: {', '.join(f'{a} -> {b}' for a, b in s.dropped)}")
    g = s.graph
    text = {"text": g.to_text, "dagitty": g.to_dagitty, "dot": g.to_dot, "json": g.to_json}[args.to]()
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote one graph of the class ({args.to}; undirected edges pointed by column order) to {args.out}")
    else:
        print(f"one graph of the class (undirected edges pointed by column order): {text}")
    if args.json:
        Path(args.json).write_text(json.dumps(s.to_dict(), indent=1) + "\n")
        print(f"wrote the suggestion to {args.json}")
    return 0
