"""Checking a drawn graph against the data (``causal.independence.test_implications``, the
Graph page's panel and ``counterfactory graph G --data T``): does the check leave a true graph
standing, and does it catch a graph with an arrow missing?

    python bench/graph_checks.py                               # the default sizes
    python bench/graph_checks.py --out docs/benchmarks.md      # rewrite the 'graph-checks' section

For each built-in SCM with a testable implication, rows drawn with seed 1000 + seed:

- *true graph*: the SCM's own graph; a *false alarm* is a rejection of practical strength
  (Holm-adjusted p < 0.05 and strength ≥ 0.1: what the page calls a contradiction). Every
  one is wrong: the graph is the truth.
- *one arrow missing*: each arrow of the true graph removed in turn; *caught*: the check of
  that graph reports at least one contradiction. An arrow whose removal the data cannot show
  (a dependence weaker than the strength floor, or cancelled) is missed by every method alike.

Methods: the adjustment for the conditioning set (``spline``, the default, or ``linear``,
the page's previous default), how tests with both discrete and continuous columns are made
(``strata``: a partial correlation within the strata of the discrete conditioning columns,
the default; ``g-test``: every continuous column cut into 4 quantile bins, the previous
rule), and whether a partial correlation also tests its interactions (``interactions``, the
default). *linear, g-test (before)* is what the page did before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import markers, write_section  # noqa: E402
from bench.tabular import machine  # noqa: E402
from causal import CausalGraph, datasets  # noqa: E402
from causal.independence import MIN_STRENGTH, test_implications  # noqa: E402

SCMS = ("chain5-lin", "fork-nlin", "simpson-nlin", "simpson-symprod", "large-backdoor", "loan", "hetero-nlin",
        "mlp-12", "discrete-12", "pendulum")
ROWS = (2_000, 20_000)
METHODS = {  # label: (regression, mixed, interactions)
    "spline, strata, interactions (default)": ("spline", "strata", True),
    "spline, strata": ("spline", "strata", False),
    "linear, strata": ("linear", "strata", False),
    "spline, g-test": ("spline", "g-test", False),
    "linear, g-test (before)": ("linear", "g-test", False),
}
ALPHA = 0.05
MAX_TESTS = 200  # test_implications' default


class Checker:
    """``test_implications``' verdicts on one data set with one method, each test computed
    once (its ``cache``): the graphs with one arrow removed share most implications."""

    def __init__(self, data: pd.DataFrame, kinds: dict, regression: str, mixed: str, interactions: bool) -> None:
        self.data, self.kinds = data, kinds
        self.settings = {"regression": regression, "mixed": mixed, "interactions": interactions}
        self.cache: dict[tuple, object] = {}
        self.seconds = 0.0

    def contradictions(self, graph: CausalGraph) -> int:
        t0 = time.perf_counter()
        results = test_implications(self.data, graph, self.kinds, alpha=ALPHA, max_tests=MAX_TESTS, cache=self.cache,
                                    **self.settings)
        self.seconds += time.perf_counter() - t0
        return int(sum(r.relevant for r in results))


def run_scm(name: str, rows: int, seed: int, methods: dict[str, tuple[str, str, bool]]) -> list[dict]:
    ds = datasets.load(name, n=rows, seed=1000 + seed)
    g = ds.graph
    kinds = {v: k for v, k in g.kinds.items() if k}
    mixed_kinds = len({("continuous" if (kinds.get(v) or "continuous") == "continuous" else "discrete") for v in g.nodes}) > 1
    out = []
    for label, (regression, mixed, interactions) in methods.items():
        check = Checker(ds.data, kinds, regression, mixed, interactions)
        alarms = check.contradictions(g)
        caught = [check.contradictions(CausalGraph(g.nodes, [e for e in g.edges if e != edge], kinds=g.kinds)) > 0
                  for edge in g.edges]
        out.append({"data": name, "rows": rows, "seed": seed, "method": label, "mixed kinds": mixed_kinds,
                    "implications": len(g.implied_independences()), "false alarms": alarms,
                    "caught": float(np.mean(caught)), "arrows": len(g.edges), "tests": len(check.cache),
                    "seconds": check.seconds})
    return out


def markdown(results: list[dict], command: str, seconds: float) -> str:
    start, end = markers("graph-checks")
    lines = [
        start,
        "## Checking a graph against the data (its testable implications)",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {dt.date.today().isoformat()}; whole run {seconds / 60:.1f} min",
        "- Protocol: each built-in SCM with a testable implication, rows drawn with seed 1000 + seed; the check of "
        "`test_implications` (Holm over the graph's implications at 0.05; a *contradiction* is a rejection with "
        f"strength ≥ {MIN_STRENGTH:g}, what the Graph page reports). *False alarms*: contradictions of the SCM's own "
        "graph (mean over seeds; each one is wrong); *true graph refuted*: the share of seeds with at least one. "
        "*Arrows caught*: each arrow of the true graph removed in turn, the share of those graphs the check "
        "contradicts (mean over seeds). *Tests, s*: the distinct tests of one seed (true graph and every "
        "one-arrow-removed graph) and their time.",
        "",
        "| data | rows | method | seeds | implications | false alarms | true graph refuted | arrows caught | tests | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    frame = pd.DataFrame(results)
    for (data, rows), block in frame.groupby(["data", "rows"], sort=False):
        mixed = bool(block["mixed kinds"].iloc[0])
        for method, rs in block.groupby("method", sort=False):
            if not mixed and "g-test" in method:
                continue  # identical to the strata row where no discrete column meets a continuous one
            lines.append(
                f"| {data} | {rows:,} | {method} | {len(rs)} | {rs['implications'].iloc[0]} | "
                f"{rs['false alarms'].mean():.1f} | {(rs['false alarms'] > 0).mean():.2f} | "
                f"{rs['caught'].mean():.2f} of {rs['arrows'].iloc[0]} | {rs['tests'].mean():,.0f} | "
                f"{rs['seconds'].mean():.1f} |")
    totals = frame.groupby("method").agg(refuted=("false alarms", lambda s: float((s > 0).mean())),
                                         alarms=("false alarms", "mean"), caught=("caught", "mean"))
    lines += ["", "Over every SCM, size and seed (the g-test rows equal the strata rows where kinds do not mix): " + "; ".join(
        f"{m}: true graph refuted in {r.refuted:.0%} of data sets ({r.alarms:.2f} false alarms each), "
        f"{r.caught:.0%} of removed arrows caught" for m, r in totals.iterrows()) + ".", end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scms", nargs="+", default=list(SCMS), choices=list(SCMS))
    ap.add_argument("--rows", type=int, nargs="+", default=list(ROWS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--out", type=Path, default=None, help="markdown file whose 'graph-checks' section to replace")
    args = ap.parse_args(argv)
    methods = {k: METHODS[k] for k in args.methods}
    t0, results = time.time(), []
    for name in args.scms:
        for rows in args.rows:
            for seed in range(args.seeds):
                for r in run_scm(name, rows, seed, methods):
                    results.append(r)
                    print(f"{name:16s} {rows:6d} seed {seed} {r['method']:26s} false alarms {r['false alarms']:2d}  "
                          f"caught {r['caught']:.2f} of {r['arrows']}  {r['tests']} tests {r['seconds']:.1f}s", flush=True)
    command = "python bench/graph_checks.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip(), time.time() - t0)
    print(section)
    if args.out:
        write_section(args.out, section, "graph-checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
