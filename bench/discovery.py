"""Suggested graphs (``causal.discovery.suggest_graph``) against the true graphs: the
structural Hamming distance of the suggested Markov equivalence class to the true one, the
adjacencies' precision and recall, and the time, beside pgmpy's PC with its own tests and the
empty graph (the baseline a user starts from).

    python bench/discovery.py                                  # the default sizes
    python bench/discovery.py --out docs/benchmarks.md         # rewrite the 'discovery' section

Settings compared (``--settings``): the default (spline adjustment, no strength floor:
significance alone, PC as defined), strength floors of 0.05 and 0.1, the linear
adjustment, and mixed kinds tested by the binned G-test (``mixed="g-test"``, the previous
rule; it differs from the default only where discrete and continuous columns meet), and the
partial correlation without its interaction test (``interactions=False``, also the previous
rule). Data: the built-in SCMs (their true graphs' classes; rows drawn with seed
1000 + seed), and the Sachs et al. (2005) protein table from ``../shared/data/sachs`` against
its consensus arrows (17 of the file's 18: one closes a cycle), when present (raw and log-transformed; skipped with a message
when absent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import markers, write_section  # noqa: E402
from bench.tabular import machine  # noqa: E402
from causal import CausalGraph, datasets  # noqa: E402
from causal.discovery import CPDAG, structural_hamming, suggest_graph  # noqa: E402

SCMS = ("chain5-lin", "triangle-nlin", "fork-nlin", "simpson-nlin", "large-backdoor", "loan", "hetero-nlin",
        "treatment", "mlp-12", "discrete-12")
ROWS = (2_000, 20_000)
SETTINGS = {
    "default": {},  # spline adjustment, no strength floor
    "spline, floor 0.05": {"min_strength": 0.05},
    "spline, floor 0.1": {"min_strength": 0.1},
    "linear, no floor": {"regression": "linear"},
    "linear, floor 0.1": {"regression": "linear", "min_strength": 0.1},
    "mixed columns by binned G-test": {"mixed": "g-test"},  # the previous test for mixed kinds
    "no interaction test": {"interactions": False},  # the partial correlation alone, as before
}
SACHS = ROOT.parent / "shared" / "data" / "sachs"


def pgmpy_pc(data: pd.DataFrame, test: str) -> tuple[CPDAG, float]:
    """pgmpy's PC with one of its own tests, the field's default we compare with."""
    from pgmpy.estimators import PC

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pdag = PC(data).estimate(variant="stable", ci_test=test, significance_level=0.01, max_cond_vars=3,
                                 show_progress=False, return_type="pdag", n_jobs=1)
    arrows = {(str(a), str(b)) for a, b in pdag.directed_edges}
    both = {e for e in arrows if (e[1], e[0]) in arrows}
    und = {tuple(sorted(e)) for e in pdag.undirected_edges} | {tuple(sorted(e)) for e in both}
    return CPDAG(tuple(map(str, data.columns)), tuple(sorted(arrows - both)), tuple(sorted(und))), time.perf_counter() - t0


def score(name: str, rows: int, seed: int, method: str, cls: CPDAG, truth: CPDAG, seconds: float,
          tests: int | None = None) -> dict:
    return {"data": name, "rows": rows, "seed": seed, "method": method, "seconds": seconds, "tests": tests,
            **structural_hamming(cls, truth)}


def run_scm(name: str, rows: int, seed: int, settings: dict[str, dict]) -> list[dict]:
    ds = datasets.load(name, n=rows, seed=1000 + seed)
    truth = ds.graph.cpdag()
    out = [score(name, rows, seed, "empty graph", CPDAG(ds.graph.nodes, (), ()), truth, 0.0)]
    for label, kw in settings.items():
        s = suggest_graph(ds.data, kinds=ds.graph.kinds, **kw)
        out.append(score(name, rows, seed, label, s.cpdag, truth, s.seconds, s.tests))
    kinds = {ds.graph.kind(v) or "continuous" for v in ds.graph.nodes}
    test = "pearsonr" if kinds == {"continuous"} else "chi_square" if "continuous" not in kinds else None
    if test:
        cls, secs = pgmpy_pc(ds.data, test)
        out.append(score(name, rows, seed, f"pgmpy PC ({test})", cls, truth, secs))
    return out


def run_sachs(settings: dict[str, dict]) -> list[dict]:
    if not (SACHS / "sachs.csv").exists():
        print(f"sachs: {SACHS} not found; skipped", flush=True)
        return []
    data = pd.read_csv(SACHS / "sachs.csv")
    edges = pd.read_csv(SACHS / "consensus-edges.csv")
    # the file's 18 arrows hold one cycle (PIP3 -> plcg -> PIP2 -> PIP3): PIP2 -> PIP3 is left out, as in
    # bench/hypotheses.py; the table pools every experimental condition of the study (not only observational rows)
    pairs = [(str(a), str(b)) for a, b in edges.itertuples(index=False)]
    g = CausalGraph([str(c) for c in data.columns], [e for e in pairs if e != ("PIP2", "PIP3")])
    truth = g.cpdag()
    out = []
    for label, table in (("sachs", data), ("sachs (log)", np.log(data.clip(lower=1e-3)))):
        out.append(score(label, len(table), 0, "empty graph", CPDAG(g.nodes, (), ()), truth, 0.0))
        for method, kw in settings.items():
            s = suggest_graph(table, **kw)
            out.append(score(label, len(table), 0, method, s.cpdag, truth, s.seconds, s.tests))
        cls, secs = pgmpy_pc(table, "pearsonr")
        out.append(score(label, len(table), 0, "pgmpy PC (pearsonr)", cls, truth, secs))
    return out


def markdown(results: list[dict], command: str, seconds: float) -> str:
    start, end = markers("discovery")
    lines = [
        start,
        "## Suggested graphs (PC on the project's independence tests)",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {dt.date.today().isoformat()}; whole run {seconds / 60:.1f} min",
        "- Score: the structural Hamming distance (SHD) of the suggested Markov equivalence class to the true graph's "
        "(pairs whose edge is missing, extra, or marked differently: an arrow the truth leaves undirected counts too), "
        "and the adjacencies' precision and recall; mean over seeds (built-in SCMs: rows drawn with seed 1000 + seed). "
        "*empty graph*: the user's starting point, its SHD is the true class's number of edges. pgmpy's PC with its own "
        "test runs only where one fits the data (Pearson partial correlation for all-continuous tables, chi-square "
        "for all-discrete ones). Every run: alpha 0.01, at most 3 conditioning columns.",
        "",
        "| data | rows | method | seeds | SHD | precision | recall | tests | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    frame = pd.DataFrame(results)
    for (data, rows), block in frame.groupby(["data", "rows"], sort=False):
        for method, rs in block.groupby("method", sort=False):
            tests = "" if rs["tests"].isna().all() else f"{rs['tests'].mean():,.0f}"
            lines.append(f"| {data} | {rows:,} | {method} | {len(rs)} | {rs['shd'].mean():.1f} | "
                         f"{rs['precision'].mean():.2f} | {rs['recall'].mean():.2f} | {tests} | {rs['seconds'].mean():.1f} |")
    totals = frame[frame["data"].isin(SCMS)].groupby("method")["shd"].mean().sort_values()
    lines += ["", "Mean SHD over the built-in SCMs and sizes: " + ", ".join(f"{m} {v:.2f}" for m, v in totals.items()) + ".",
              end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scms", nargs="+", default=list(SCMS), choices=list(SCMS))
    ap.add_argument("--rows", type=int, nargs="+", default=list(ROWS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--no-sachs", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="markdown file whose 'discovery' section to replace")
    args = ap.parse_args(argv)
    settings = {k: SETTINGS[k] for k in args.settings}
    t0, results = time.time(), []
    for name in args.scms:
        for rows in args.rows:
            for seed in range(args.seeds):
                for r in run_scm(name, rows, seed, settings):
                    results.append(r)
                    print(f"{name:16s} {rows:6d} seed {seed} {r['method']:24s} SHD {r['shd']:3d}  "
                          f"P {r['precision']:.2f} R {r['recall']:.2f}  {r['seconds']:.1f}s", flush=True)
    if not args.no_sachs:
        for r in run_sachs(settings):
            results.append(r)
            print(f"{r['data']:16s} {r['rows']:6d} {r['method']:24s} SHD {r['shd']:3d}  P {r['precision']:.2f} "
                  f"R {r['recall']:.2f}  {r['seconds']:.1f}s", flush=True)
    command = "python bench/discovery.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip(), time.time() - t0)
    print(section)
    if args.out:
        write_section(args.out, section, "discovery")
    return 0


if __name__ == "__main__":
    sys.exit(main())
