"""The dowhy.gcm side of bench/speed.py: run by the Python of a separate environment that has
dowhy (its pins conflict with the project's: `make bench-speed` builds .venv-dowhy).

    python bench/dowhy_side.py DATA.csv EDGES.json OUT.json [--rows ROWS.csv --do NODE=VALUE ...]

Fits an invertible structural causal model on the graph with dowhy's automatic mechanism
assignment (``gcm.auto.assign_causal_mechanisms``, default quality) and times it; with
``--rows`` and ``--do`` also writes the counterfactuals of those rows, for quality checks.
Imports nothing of the project.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data")
    ap.add_argument("edges")
    ap.add_argument("out")
    ap.add_argument("--rows", default=None)
    ap.add_argument("--do", action="append", default=[])
    ap.add_argument("--cf-out", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    import networkx as nx
    import pandas as pd
    from dowhy import gcm

    gcm.config.disable_progress_bars()
    data = pd.read_csv(args.data)
    edges = json.loads(open(args.edges).read())
    graph = nx.DiGraph([tuple(e) for e in edges])
    graph.add_nodes_from(data.columns)
    imported = time.perf_counter() - t0
    t1 = time.perf_counter()
    scm = gcm.InvertibleStructuralCausalModel(graph)
    gcm.auto.assign_causal_mechanisms(scm, data)
    gcm.fit(scm, data)
    fit_s = time.perf_counter() - t1
    out = {"fit_s": fit_s, "import_s": imported}
    if args.rows and args.do:
        rows = pd.read_csv(args.rows)
        do = {}
        for item in args.do:
            node, value = item.split("=", 1)
            do[node] = (lambda v: (lambda x: v))(float(value))
        t2 = time.perf_counter()
        cf = gcm.counterfactual_samples(scm, do, observed_data=rows)
        out["cf_s"] = time.perf_counter() - t2
        if args.cf_out:
            cf[list(rows.columns)].to_csv(args.cf_out, index=False)
    with open(args.out, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
