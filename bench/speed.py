"""Fit time beside dowhy.gcm, alone and two fits at once, with the counterfactual accuracy of
both so that speed is not bought with quality.

    make bench-speed                      # builds .venv-dowhy (dowhy's pins conflict with ours), then runs this
    python bench/speed.py --dowhy-python .venv-dowhy/bin/python --out docs/benchmarks.md
    python bench/speed.py --profile --scms triangle-nlin large-backdoor   # where one fit's time goes (no dowhy)
    python bench/speed.py --variant steps=1000,hidden=32    # also Causal Gen with these settings (the fast preset)

For each SCM, 20,000 rows are drawn (seed 1000, as the tabular suite) and 2,500 test rows.
Each fit runs in a fresh process of its own (Causal Gen at the library's defaults; dowhy.gcm's
InvertibleStructuralCausalModel with automatic mechanism assignment), timed inside the process
around the fit alone (imports and data loading excluded); *alone*: the fits one after another,
the two tools alternating, ``--repeats`` times (medians); *two at once*: two fits of the same
tool started together, each one's time. Counterfactual RMSE (standardized, every node) of the
test rows under do(first protocol node = its training median), against the true SCM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import markers, parse_model, write_section  # noqa: E402
from bench.tabular import machine, reference_step_ms  # noqa: E402
from causal import datasets  # noqa: E402
from causal.metrics import Standardizer, counterfactual_rmse  # noqa: E402

SUITE = ("triangle-lin", "triangle-nlin", "fork-nlin", "large-backdoor", "hetero-nlin", "mlp-12")
N_TRAIN, N_TEST = 20_000, 2_500

OURS = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
import torch._dynamo  # what torch.optim imports at its first optimizer: a one-time import, timed as dowhy's are
from causal import CausalGraph
from generators import build_model
import_s = time.perf_counter() - t0
data = pd.read_csv(sys.argv[1]); graph = CausalGraph.from_edges(json.load(open(sys.argv[2])), nodes=list(data.columns))
model = build_model("causal-gen", graph, **json.loads(sys.argv[7]))
t = time.perf_counter(); report = model.fit(data, seed=0); fit_s = time.perf_counter() - t
rows = pd.read_csv(sys.argv[4]); node, value = sys.argv[5].split("=")
cf = model.counterfactual(rows, do={node: float(value)}, seed=0)
cf.to_csv(sys.argv[6], index=False)
json.dump({"fit_s": fit_s, "import_s": import_s, "steps": report.steps}, open(sys.argv[3], "w"))
"""


def _run(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"a fit failed (exit {p.returncode}): {err[-2000:]}")


def _tool_settings(tool: str, threads: int | None) -> dict:
    """Causal Gen's settings for ``tool`` ("causal-gen" or "causal-gen[k=v,...]", read as
    bench/run.py reads its model variants)."""
    return {**({} if threads is None else {"threads": threads}), **parse_model(tool)[1]}


def _commands(tool: str, folder: Path, tag: str, dowhy_python: str, do: str,
              threads: int | None = None) -> tuple[list[str], Path, Path]:
    safe = tool.replace("[", "_").replace("]", "").replace(",", "_").replace("=", "-")
    out, cf = folder / f"{safe}-{tag}.json", folder / f"{safe}-{tag}-cf.csv"
    data, edges, rows = folder / "data.csv", folder / "edges.json", folder / "rows.csv"
    if tool.startswith("causal-gen"):
        return [sys.executable, "-c", OURS, str(data), str(edges), str(out), str(rows), do, str(cf),
                json.dumps(_tool_settings(tool, threads))], out, cf
    return [dowhy_python, str(ROOT / "bench" / "dowhy_side.py"), str(data), str(edges), str(out), "--rows", str(rows),
            "--do", do, "--cf-out", str(cf)], out, cf


def run_scm(name: str, dowhy_python: str, repeats: int, threads: int | None = None,
            variants: tuple[str, ...] = ()) -> dict:
    info = datasets.info(name)
    ds = datasets.load(name, n=N_TRAIN + N_TEST, seed=1000)
    train, test = ds.data.iloc[:N_TRAIN], ds.data.iloc[N_TRAIN:]
    node = info.intervene_on[0]
    value = float(train[node].median())
    truth = ds.scm.counterfactual(test, do={node: value}, seed=0)
    scale = Standardizer.fit(train, list(ds.graph.nodes))
    res: dict = {"scm": name, "do": f"do({node} = {value:.4g})"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train.to_csv(folder / "data.csv", index=False)
        test.to_csv(folder / "rows.csv", index=False)
        (folder / "edges.json").write_text(json.dumps([list(e) for e in ds.graph.edges]))
        tools = ("causal-gen", *(f"causal-gen[{v}]" for v in variants), "dowhy.gcm")
        for tool in tools:
            res[tool] = {"alone": [], "together": []}
        for r in range(repeats):  # alternate the tools: a drifting host affects both alike
            for tool in tools:
                cmd, out, cf = _commands(tool, folder, f"alone{r}", dowhy_python, f"{node}={value}", threads)
                _wait([_run(cmd)])
                timed = json.loads(out.read_text())
                res[tool]["alone"].append(timed["fit_s"])
                if "steps" in timed:
                    res[tool].setdefault("steps", []).append(timed["steps"])
                res[tool].setdefault("import", []).append(timed["import_s"])
                if r == 0:
                    res[tool]["cf_rmse"] = counterfactual_rmse(
                        pd.read_csv(cf)[list(test.columns)], truth, scale)
        for tool in tools:
            cmds = [_commands(tool, folder, f"together{i}", dowhy_python, f"{node}={value}", threads) for i in range(2)]
            _wait([_run(c) for c, _, _ in cmds])
            res[tool]["together"] = [json.loads(out.read_text())["fit_s"] for _, out, _ in cmds]
    return res


def markdown(results: list[dict], command: str, seconds: float, repeats: int, threads: int | None = None,
             host: tuple[float, float] | None = None, variants: tuple[str, ...] = ()) -> str:
    start, end = markers("speed")
    lines = [
        start,
        "## Fit time beside dowhy.gcm",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}; dowhy 0.14 in its own environment (.venv-dowhy); Causal Gen's fits on "
        f"{threads or 'its default of one'} thread(s)",
        f"- Date: {dt.date.today().isoformat()}; whole run {seconds / 60:.1f} min",
        *([f"- Host speed: a reference torch step (`bench.tabular.reference_step_ms`: MLP 8-64-64-1, batch 512, AdamW, "
           f"one thread) took {host[0]:.2f} ms before the run and {host[1]:.2f} ms after it: the seconds scale with it, "
           "the ratios less so (compare with the other sections' reference steps)"] if host else []),
        f"- Protocol: {N_TRAIN:,} rows (seed 1000), each fit in a fresh process timed around the fit alone, each tool's "
        "one-time imports before the timer (dowhy.gcm's modules; ours and `torch._dynamo`, which torch.optim imports "
        "when the first optimizer is made) and shown apart (median over the fits alone); *alone*: "
        f"median of {repeats} fits one after another, the tools alternating; *two at once*: two fits of the same tool "
        "started together, the slower one's time and its ratio to the median alone. CF RMSE: standardized, every node, "
        f"{N_TEST:,} test rows under the intervention shown, against the true SCM.",
        "",
        "| SCM | intervention | Causal Gen alone s | dowhy.gcm alone s | ratio | Causal Gen two at once s (x alone) | "
        "dowhy.gcm two at once s (x alone) | CF RMSE Causal Gen | CF RMSE dowhy.gcm | imports s (Causal Gen / dowhy.gcm) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ours, theirs = r["causal-gen"], r["dowhy.gcm"]
        a, b = float(np.median(ours["alone"])), float(np.median(theirs["alone"]))
        ta, tb = max(ours["together"]), max(theirs["together"])
        lines.append(f"| {r['scm']} | {r['do']} | {a:.1f} | {b:.1f} | {a / b:.2f} | {ta:.1f} ({ta / a:.2f}) | "
                     f"{tb:.1f} ({tb / b:.2f}) | {ours['cf_rmse']:.4f} | {theirs['cf_rmse']:.4f} | "
                     f"{np.median(ours['import']):.1f} / {np.median(theirs['import']):.1f} |")
    for v in variants:
        tool = f"causal-gen[{v}]"
        lines += ["", f"Causal Gen with `{v}` in the same run (the same protocol; the default's CF RMSE beside it):", "",
                  "| SCM | alone s | dowhy.gcm alone s | ratio | two at once s (x alone) | steps run | CF RMSE | "
                  "CF RMSE dowhy.gcm | CF RMSE default |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            ours, theirs = r[tool], r["dowhy.gcm"]
            a, b = float(np.median(ours["alone"])), float(np.median(theirs["alone"]))
            ta = max(ours["together"])
            lines.append(f"| {r['scm']} | {a:.1f} | {b:.1f} | {a / b:.2f} | {ta:.1f} ({ta / a:.2f}) | "
                         f"{int(np.median(ours.get('steps', [0])))} | {ours['cf_rmse']:.4f} | {theirs['cf_rmse']:.4f} | "
                         f"{r['causal-gen']['cf_rmse']:.4f} |")
    lines += ["", "Targets (issue 19): Causal Gen alone no slower than dowhy.gcm alone (ratio ≤ 1); two Causal Gen fits at "
              "once each within 2.2x of its time alone.", end]
    return "\n".join(lines)


# parts of one fit in the profile: (label, file suffix, function name), timed cumulatively
PARTS = (
    ("whole fit", "tabular/base.py", "fit"),
    ("optimizer steps", "generators/training.py", "step"),
    ("... forward (networks, scale networks, loss)", "tabular/causal_gen.py", "loss"),
    ("... backward", "torch/_tensor.py", "backward"),
    ("... AdamW", "torch/optim/adam.py", "step"),
    ("optimizer set-up (its first use imports torch._dynamo)", "generators/training.py", "optimizers"),
    ("validation after each epoch", "generators/training.py", "validate"),
    ("per-node best weights", "generators/training.py", "update"),
    ("after training (rivals, selections)", "generators/training.py", "finish"),
    ("noise quantiles", "tabular/causal_gen.py", "_finalize"),
    ("support", "generators/support.py", "fit"),
)


def profile(name: str) -> str:
    """Where one default Causal Gen fit on ``name``'s 20,000 rows spends its time (cProfile
    around ``fit``, in this process, on the fit's own thread count), as a markdown table."""
    import cProfile
    import pstats

    from generators import build_model

    ds = datasets.load(name, n=N_TRAIN + N_TEST, seed=1000)  # the rows run_scm fits
    model = build_model("causal-gen", ds.graph)
    prof = cProfile.Profile()
    prof.enable()
    model.fit(ds.data.iloc[:N_TRAIN], seed=0)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = max(ct for (f, _, fn), (_, _, _, ct, _) in stats.items() if f.endswith("tabular/base.py") and fn == "fit")
    lines = [f"| part of one fit ({name}) | s | share |", "|---|---|---|"]
    for label, suffix, func in PARTS:
        t = sum(ct for (f, _, fn), (_, _, _, ct, _) in stats.items() if f.endswith(suffix) and fn == func)
        lines.append(f"| {label} | {t:.2f} | {t / total:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scms", nargs="+", default=list(SUITE), choices=list(SUITE))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="Causal Gen's `threads` setting (default: the model's choice, one)")
    ap.add_argument("--dowhy-python", default=os.environ.get("COUNTERFACTORY_DOWHY_PYTHON", str(ROOT / ".venv-dowhy" / "bin" / "python")))
    ap.add_argument("--out", type=Path, default=None, help="markdown file whose 'speed' section to replace")
    ap.add_argument("--variant", action="append", default=[], metavar="K=V[,K=V...]",
                    help="also time Causal Gen with these settings (e.g. steps=1000,hidden=32), alternating with the others")
    ap.add_argument("--profile", action="store_true", help="instead: where one default fit's time goes, per SCM (cProfile)")
    args = ap.parse_args(argv)
    if args.profile:
        for name in args.scms:
            print(profile(name), "\n", flush=True)
        return 0
    if not Path(args.dowhy_python).exists():
        print(f"no dowhy environment at {args.dowhy_python}: run `make bench-speed`, or pass --dowhy-python", file=sys.stderr)
        return 2
    from generators import make_config

    for v in args.variant:
        make_config("causal-gen", **_tool_settings(f"causal-gen[{v}]", None))  # a bad setting fails here, not later
    t0, results = time.time(), []
    speed_before = reference_step_ms(threads=1)  # the host's own speed on one thread, as the fits run
    for name in args.scms:
        r = run_scm(name, args.dowhy_python, args.repeats, args.threads, tuple(args.variant))
        results.append(r)
        print(json.dumps(r), flush=True)
    command = "python bench/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip(), time.time() - t0, args.repeats, args.threads,
                       host=(speed_before, reference_step_ms(threads=1)), variants=tuple(args.variant))
    print(section)
    if args.out:
        write_section(args.out, section, "speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
