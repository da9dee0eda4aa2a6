"""Larger nonlinear graphs: random MLP SCMs of 10 to 20 nodes (``causal.datasets.random_mlp``,
instances other than the suite's ``mlp-12``), each model at its defaults unless ``--set``
says otherwise, scored by the shared protocol (``causal.evaluation``).

    python bench/random_mlp.py                                   # sizes 10, 14, 17, 20; Causal Gen and Causal Variational Gen
    python bench/random_mlp.py --sizes 17 --models 'causal-gen[hidden=128]'   # a variant on one instance
    python bench/random_mlp.py --out docs/benchmarks.md

Per instance: 22,500 rows drawn with the instance's seed (2,500 of them the models'
validation rows), 2,500 test rows for counterfactuals; interventions on the first three
nodes with children at their 25th and 75th training percentiles; 2,000-row ATE arms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.run import markers, write_section  # noqa: E402
from bench.tabular import machine  # noqa: E402
from causal.datasets import intervened_nodes, random_mlp  # noqa: E402
from causal.evaluation import Protocol, evaluate  # noqa: E402
from generators import build_model  # noqa: E402
from generators.settings import parse_settings  # noqa: E402

INSTANCES = {10: 101, 14: 102, 17: 103, 20: 104}  # size -> seed of the graph, weights and rows
BARS = {"causal-gen": 0.03, "causal-vgen": 0.06}  # counterfactual RMSE bars of issue 19


def parse_model(spec: str) -> tuple[str, dict[str, Any]]:
    """``kind`` or ``kind[key=value,...]`` -> the kind and its typed settings."""
    m = re.fullmatch(r"([\w-]+)(?:\[(.*)\])?", spec.strip())
    if not m:
        raise ValueError(f"cannot read model '{spec}'; write kind or kind[key=value,...]")
    texts = dict(kv.split("=", 1) for kv in (m.group(2) or "").split(",") if kv)
    return m.group(1), parse_settings(m.group(1), texts)


def run_one(size: int, spec: str) -> dict[str, Any]:
    seed = INSTANCES[size]
    kind, settings = parse_model(spec)
    scm = random_mlp(size, seed)
    data = scm.sample(25_000, seed=seed)
    fit_rows, test = data.iloc[:22_500], data.iloc[22_500:]
    model = build_model(kind, scm.graph, val_fraction=2_500 / 22_500, **settings)
    t0 = time.perf_counter()
    report = model.fit(fit_rows, seed=0)
    fit_s = time.perf_counter() - t0
    score = evaluate(model, scm, intervened_nodes(scm, 3), fit_rows.iloc[:20_000], test,
                     Protocol(n_ate=2_000, n_ate_truth=20_000, quantiles=(0.25, 0.75)), seed=0)
    return {"size": size, "seed": seed, "model": spec, "kind": kind, "fit_s": fit_s, "epochs": report.epochs,
            "ratio": score.mmd_ratio, "cf": score.cf_rmse, "cf_in": score.cf_rmse_in, "off": score.off_support,
            "ate": score.ate_error}


def markdown(rows: list[dict[str, Any]], command: str, seconds: float) -> str:
    start, end = markers("random-mlp")
    lines = [
        start,
        "## Random MLP graphs of 10 to 20 nodes",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {dt.date.today().isoformat()}; whole run {seconds / 60:.1f} min",
        "- Protocol: `causal.datasets.random_mlp(size, seed)`, 20,000 training + 2,500 validation rows, 2,500 test "
        "rows; do() on the first three nodes with children at their 25th/75th training percentiles; counterfactual "
        "RMSE standardized over every node (in support: rows whose parents stay inside the training data's support).",
        "",
        "| nodes (seed) | model | fit s | epochs | MMD² ratio | CF RMSE | CF RMSE in support | off support | ATE error | bar |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bar = BARS.get(r["kind"])
        verdict = "–" if bar is None else (f"≤ {bar}: met" if r["cf"] <= bar else f"≤ {bar}: missed")
        lines.append(f"| {r['size']} ({r['seed']}) | {r['model']} | {r['fit_s']:.1f} | {r['epochs']} | {r['ratio']:.2f} | "
                     f"{r['cf']:.4f} | {r['cf_in']:.4f} | {r['off']:.3f} | {r['ate']:.4f} | {verdict} |")
    lines.append(end)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(INSTANCES), choices=list(INSTANCES))
    ap.add_argument("--models", nargs="+", default=["causal-gen", "causal-vgen"], help="kind or 'kind[key=value,...]'")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for scoring (fits choose their own)")
    ap.add_argument("--out", type=Path, default=None, help="markdown file whose 'random-mlp' section to replace")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for spec in args.models:
        parse_model(spec)  # a typo fails before the first fit, not after an hour
    t0, rows = time.time(), []
    for size in args.sizes:
        for spec in args.models:
            r = run_one(size, spec)
            rows.append(r)
            print(f"{size:3d} nodes {spec:32s} fit {r['fit_s']:6.1f}s  ratio {r['ratio']:.2f}  cf {r['cf']:.4f}  "
                  f"in {r['cf_in']:.4f}  off {r['off']:.3f}  ate {r['ate']:.4f}", flush=True)
    command = "python bench/random_mlp.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(rows, command.strip(), time.time() - t0)
    print(section)
    if args.out:
        write_section(args.out, section, "random-mlp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
