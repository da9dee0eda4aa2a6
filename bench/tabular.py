"""The public tabular suite of benchmarks.md: fit each model on each ground-truth SCM and
score interventional MMD² (beside its oracle floor), counterfactual RMSE, ATE error and
speed, against the truth and against a linear additive-noise baseline."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from causal import datasets
from causal.evaluation import Protocol as EvalProtocol
from causal.evaluation import evaluate, interventions
from generators import build_model

SUITE = (
    "triangle-lin", "triangle-nlin", "chain5-lin", "fork-nlin",
    "simpson-nlin", "simpson-symprod", "large-backdoor", "loan",
    "hetero-nlin", "treatment", "mlp-12",  # beyond the public suite: heteroscedastic, binary treatment, random MLPs
)
MODELS = ("causal-gen", "causal-vgen", "linear-anm")


@dataclass
class Protocol:
    n_train: int = 20_000
    n_val: int = 2_500
    n_test: int = 2_500
    n_mmd: int = 2_500  # model and true samples per intervention
    n_ate: int = 10_000  # model samples per arm of an ATE
    n_ate_truth: int = 100_000  # true samples per arm (common random numbers)
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    timing_repeats: int = 7

    def evaluation(self) -> EvalProtocol:
        """The scoring protocol (``causal.evaluation``) at these sizes."""
        return EvalProtocol(n_mmd=self.n_mmd, n_ate=self.n_ate, n_ate_truth=self.n_ate_truth, quantiles=self.quantiles)


@dataclass
class Result:
    scm: str
    model: str
    seed: int
    fit_seconds: float
    epochs: int
    mmd: float  # mean over interventions
    mmd_floor: float  # same statistic between two independent true samples
    cf_rmse: float  # all nodes, standardized, mean over interventions
    cf_rmse_desc: float  # descendants of the intervened node only
    cf_rmse_in: float  # rows whose counterfactual stays inside the training support
    off_support: float  # share of counterfactual rows that extrapolate (generators.support)
    ate_error: float
    ms_sample: float  # 5,000 interventional samples
    ms_cf: float  # 2,500 counterfactual rows
    per_intervention: list[dict[str, Any]] = field(default_factory=list)


def _timeit(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def run_one(name: str, kind: str, seed: int, proto: Protocol, settings: dict[str, Any] | None = None) -> Result:
    ds = datasets.load(name, n=proto.n_train + proto.n_val + proto.n_test, seed=1000 + seed)
    scm = ds.scm
    fit_rows = ds.data.iloc[: proto.n_train + proto.n_val]
    train = fit_rows.iloc[: proto.n_train]
    test = ds.data.iloc[proto.n_train + proto.n_val :]
    model = build_model(kind, ds.graph, val_fraction=proto.n_val / len(fit_rows), **(settings or {}))
    t0 = time.perf_counter()
    report = model.fit(fit_rows, seed=seed)
    fit_seconds = time.perf_counter() - t0

    score = evaluate(model, scm, ds.intervene_on, train, test, proto.evaluation(), seed=10_000 * seed)
    rows = [asdict(r) for r in score.per_intervention]
    node0, values0 = interventions(scm, ds.intervene_on, train, proto.evaluation())[0]
    ms_sample = _timeit(lambda: model.sample(5000, do={node0: values0[0]}, seed=0), proto.timing_repeats)
    ms_cf = _timeit(lambda: model.counterfactual(test, do={node0: values0[0]}, seed=0), proto.timing_repeats)
    return Result(
        scm=name, model=kind, seed=seed, fit_seconds=fit_seconds, epochs=report.epochs,
        mmd=score.mmd, mmd_floor=score.mmd_floor, cf_rmse=score.cf_rmse, cf_rmse_desc=score.cf_rmse_desc,
        cf_rmse_in=score.cf_rmse_in, off_support=score.off_support, ate_error=score.ate_error,
        ms_sample=ms_sample, ms_cf=ms_cf, per_intervention=rows,
    )


def summarize(results: Sequence[Result]) -> pd.DataFrame:
    """Mean (and spread over seeds) per SCM and model."""
    df = pd.DataFrame([{k: v for k, v in asdict(r).items() if k != "per_intervention"} for r in results])
    df["mmd_ratio"] = df["mmd"] / df["mmd_floor"]
    g = df.groupby(["scm", "model"], sort=False)
    out = g.agg(
        seeds=("seed", "count"),
        fit_s=("fit_seconds", "mean"),
        epochs=("epochs", "mean"),
        mmd=("mmd", "mean"),
        floor=("mmd_floor", "mean"),
        cf_rmse=("cf_rmse", "mean"),
        cf_rmse_sd=("cf_rmse", "std"),
        cf_desc=("cf_rmse_desc", "mean"),
        cf_in=("cf_rmse_in", "mean"),
        off=("off_support", "mean"),
        ate_err=("ate_error", "mean"),
        ms_sample=("ms_sample", "median"),
        ms_cf=("ms_cf", "median"),
    ).reset_index()
    out["mmd_ratio"] = out["mmd"] / out["floor"]
    return out


def machine() -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}"


def reference_step_ms(steps: int = 300, threads: int | None = None) -> float:
    """Milliseconds per optimizer step of a fixed small workload (an MLP 8-64-64-1, batch
    512, AdamW), on this process's torch threads (or ``threads`` for the measurement): how
    fast the host runs torch right now. Measured before and after a suite, it shows whether
    the machine slowed during the run (shared hosts do), which load averages alone cannot."""
    if threads is not None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return reference_step_ms(steps)
        finally:
            torch.set_num_threads(before)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 8, generator=gen)
    y = torch.randn(512, 1, generator=gen)
    net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64), torch.nn.SiLU(),
                              torch.nn.Linear(64, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()

    for _ in range(20):
        step()
    blocks = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps // 3):
            step()
        blocks.append(1e3 * (time.perf_counter() - t) / (steps // 3))
    return float(np.median(blocks))


def load_note() -> str:
    """How busy the machine was, measured: the load averages when this is called (at the
    end of a run; the 15-minute one covers most benchmark runs)."""
    import os

    one, five, fifteen = os.getloadavg()
    return f"load average at the end {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} cores"
