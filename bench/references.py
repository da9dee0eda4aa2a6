"""Two references for the tabular table's MMD² ratio, on the same data, interventions and
sampling seeds as `bench/run.py` (no model is trained; a few minutes on 2 cores):

- *truth*: a third independent sample of the true SCM in the model's place. Its ratio is
  what the metric gives a perfect model; per seed it spreads widely (the floors are tiny).
- *plug-in*: the true mechanisms with each continuous node's exogenous noise drawn from its
  distribution over the fit rows (abducted from them, kept as 512 quantiles with linear
  interpolation, as Causal Gen and Causal Variational Gen keep theirs); discrete nodes keep
  their true noise. Its ratio is what estimating the noise from 22,500 rows costs alone:
  a model with a perfect f and this noise estimate scores it.

    python bench/references.py [--scms ...] [--seeds 5] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import markers, write_section  # noqa: E402
from bench.tabular import SUITE, Protocol, machine  # noqa: E402
from causal import datasets  # noqa: E402
from causal.evaluation import interventions  # noqa: E402
from causal.metrics import Standardizer, mmd2  # noqa: E402
from causal.queries import sample  # noqa: E402
from causal.scm import SCM  # noqa: E402
from generators.tabular.base import quantile_draws  # noqa: E402


class PlugIn:
    """``scm``'s mechanisms with each continuous node's noise resampled from the noise
    abducted on ``rows`` (``knots`` quantiles); discrete nodes, and any node whose mechanism
    cannot be inverted, keep their true noise. A ``causal.queries`` Mechanisms object."""

    def __init__(self, scm: SCM, rows: Any, knots: int = 512, seed: int = 0) -> None:
        self.scm, self.graph, self.schema = scm, scm.graph, scm.schema
        codes = scm.schema.encode(rows)
        rng = np.random.default_rng(seed)
        probs = np.linspace(0.0, 1.0, knots)
        self.knots: dict[str, np.ndarray] = {}
        for node in scm.graph.nodes:
            if scm.schema[node].discrete or scm.mechanisms[node].inverse is None:
                continue
            parents = {p: codes[p] for p in scm.graph.parents(node)}
            self.knots[node] = np.quantile(scm.abduct(node, codes[node], parents, rng), probs)

    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        if node in self.knots:
            return quantile_draws(self.knots[node], rng.random(n))
        return self.scm.noise(node, n, rng)

    def predict(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
        return self.scm.predict(node, parents, noise)


def ratios(name: str, seed: int, proto: Protocol) -> tuple[float, float]:
    """(truth, plug-in) MMD² ratio of one seed: mean MMD² over the interventions over the
    mean floor, as in the tabular table."""
    ds = datasets.load(name, n=proto.n_train + proto.n_val + proto.n_test, seed=1000 + seed)
    fit_rows, train = ds.data.iloc[: proto.n_train + proto.n_val], ds.data.iloc[: proto.n_train]
    scale = Standardizer.fit(train, ds.graph.nodes)
    plug = PlugIn(ds.scm, fit_rows, seed=seed)
    truth, plugged, floors = [], [], []
    for i, (node, values) in enumerate(interventions(ds.scm, ds.intervene_on, train, proto.evaluation())):
        for k, v in enumerate(values):
            s = 10_000 * seed + 100 * i + 10 * k  # causal.evaluation.evaluate's seeds in bench.tabular.run_one
            a = scale(ds.scm.sample(proto.n_mmd, do={node: v}, seed=s + 1))
            floors.append(mmd2(scale(ds.scm.sample(proto.n_mmd, do={node: v}, seed=s + 2)), a).value)
            truth.append(mmd2(scale(ds.scm.sample(proto.n_mmd, do={node: v}, seed=s + 3)), a).value)
            plugged.append(mmd2(scale(sample(plug, proto.n_mmd, do={node: v}, seed=s)), a).value)
    return float(np.mean(truth) / np.mean(floors)), float(np.mean(plugged) / np.mean(floors))


def markdown(rows: list[tuple[str, list[float], list[float]]], command: str, seconds: float) -> str:
    def cell(v: list[float]) -> str:
        return f"{np.mean(v):.2f} ({min(v):.2f}-{max(v):.2f})"

    start, end = markers("references")
    lines = [
        start,
        "## References for the MMD² ratio (truth, plug-in noise)",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {dt.date.today().isoformat()}; whole run {seconds / 60:.1f} min",
        "- Same data, interventions and seeds as the tabular table; each cell is the mean of the per-seed "
        "ratios (mean MMD² over the interventions / mean floor), with the seeds' range. *truth*: a third "
        "independent true sample in the model's place. *plug-in*: the true mechanisms with every continuous "
        "node's noise drawn from 512 quantiles of its noise abducted on the 22,500 fit rows (what a model with a "
        "perfect f and this project's empirical noise estimate would score).",
        "",
        "| SCM | seeds | truth | plug-in |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {name} | {len(t)} | {cell(t)} | {cell(p)} |" for name, t, p in rows]
    lines.append(end)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scms", nargs="+", default=list(SUITE), choices=list(SUITE))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="markdown file whose 'references' section to replace")
    args = ap.parse_args(argv)
    proto, t0, rows = Protocol(), time.time(), []
    for name in args.scms:
        per_seed = [ratios(name, seed, proto) for seed in range(args.seeds)]
        t, p = [r[0] for r in per_seed], [r[1] for r in per_seed]
        rows.append((name, t, p))
        print(f"{name:16s} truth {np.mean(t):.2f} {np.round(t, 2).tolist()}  plug-in {np.mean(p):.2f} {np.round(p, 2).tolist()}",
              flush=True)
    command = "python bench/references.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(rows, command.strip(), time.time() - t0)
    print(section)
    if args.out:
        write_section(args.out, section, "references")
    return 0


if __name__ == "__main__":
    sys.exit(main())
