"""``compare_hypotheses``: which of several causal graphs generalizes best to rows it has not
seen. Every (node, parent set) family of every candidate is fitted once per split and seed
(``causal.hypotheses.families``), each candidate's held-out loss is the sum of its families'
losses on the same rows, and the candidates are compared by paired differences with intervals
and Holm-corrected p-values from the held-out rows and the fits' own noise
(``causal.hypotheses.statistics``), beside the classical evidence (``causal.hypotheses.classical``)."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from causal.data import DataError, schema_from_frame, validate_table
from causal.graph import CausalGraph
from causal.hypotheses.candidates import Candidate, candidates as make_candidates, shd
from causal.hypotheses.classical import classical_evidence
from causal.hypotheses.families import FIT_SETTINGS, Family, FitContext, FitTask, run_tasks
from causal.hypotheses.report import CandidateResult, FitCount, HypothesisReport, NodeResult, PairResult, SplitInfo
from causal.hypotheses.splits import SplitSpec, intervened, make_splits, parse_split
from causal.hypotheses.statistics import RowLosses, bootstrap, combined_test, fit_noise, varsortability
from causal.independence import holm

__all__ = ["HypothesisConfig", "compare_hypotheses", "fit_candidates", "FittedCandidates", "SCORE_KINDS"]

SCORE_KINDS = ("nll", "mse")


@dataclass(frozen=True)
class HypothesisConfig:
    """How to test: the splits, seeds, score, model and statistics."""

    split: str = "kfold"  # kfold | kfold:K | ood[:top|bottom|both][:Q][:VARS] | env:COLUMN[=VALUE] | a condition (age > 60)
    folds: int = 5  # K of K-fold (kfold:K overrides it)
    seeds: int = 2  # model seeds per split (K-fold: folds redrawn per seed too); scores are averaged over them
    score: str = "nll"  # nll: held-out negative log-likelihood (each model's own density) | mse: the paper's squared error
    standardize: bool = True  # z-score continuous columns first (raw scales let the variance order win: varsortability)
    model: str = "causal-gen"  # the model kind fitted per family (it must give a density for score=nll)
    settings: Mapping[str, Any] = field(default_factory=dict)  # model settings over FIT_SETTINGS (hidden, steps, ...)
    regime: str | None = None  # column naming each row's intervened node(s); their mechanisms are left out of those rows
    alpha: float = 0.05  # significance level of the verdicts (Holm over every pair)
    bootstrap: int = 2000  # bootstrap draws (rows resampled) for intervals and p-values
    classical: bool = True  # BIC / BDeu, implied-independence tests and the permutation test beside the scores
    permutations: int = 100  # random relabellings per candidate in the permutation falsification test
    families_per_fit: int = 16  # families trained together in one batched model
    workers: int = 1  # worker processes for the fits (1: this process)
    ray: str | None = None  # a Ray cluster's address (an optional extra) to run the fits on instead
    seed: int = 0  # seeds the folds, the models and the bootstrap

    def __post_init__(self) -> None:
        if self.score not in SCORE_KINDS:
            raise ValueError(f"score must be one of {', '.join(SCORE_KINDS)}, got {self.score!r}")
        for name in ("seeds", "folds", "families_per_fit", "workers", "bootstrap"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.permutations < 0:
            raise ValueError(f"permutations must be 0 or more, got {self.permutations}")

    @property
    def fit_settings(self) -> dict[str, Any]:
        base = dict(FIT_SETTINGS) if self.model in ("causal-gen", "causal-vgen") else {}
        return {**base, **dict(self.settings)}

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "settings": dict(self.settings), "fit_settings": self.fit_settings}


def compare_hypotheses(
    data: pd.DataFrame,
    candidates: Iterable[Candidate | CausalGraph | str | tuple[str, Any]],
    config: HypothesisConfig | None = None,
    *,
    progress: Callable[[int, int, str], Any] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    **options: Any,
) -> HypothesisReport:
    """Rank candidate causal graphs of ``data`` by how well models that obey them predict
    held-out rows, with the statistics to trust the ranking (see the package docstring).

    ``candidates``: graph text (``"a -> b; b -> c"``, ``'NAME="a -> b"'``), graphs or
    ``(name, graph)`` pairs, named H1, H2, ... in order unless named. ``config`` (or its
    fields as keyword ``options``) sets the splits, seeds, score and model. ``progress(done,
    total, label)`` after each batched fit; ``cancel`` (an Event or a function) stops it
    between fits with ``causal.hypotheses.Cancelled``.

    >>> from causal import datasets
    >>> rows = datasets.load("chain5-lin", n=300, seed=0).data[["x1", "x2", "x3"]]
    >>> report = compare_hypotheses(rows, ["x1 -> x2; x2 -> x3", "x1 -> x2; x3"], model="linear-anm",
    ...                             seeds=2, folds=3, classical=False)
    >>> [(c.name, c.rank) for c in report.ranking()], report.pair("H1", "H2").significant()
    ([('H1', 1), ('H2', 2)], True)
    """
    return fit_candidates(data, candidates, config, progress=progress, cancel=cancel, **options).report()


def fit_candidates(
    data: pd.DataFrame,
    candidates: Iterable[Candidate | CausalGraph | str | tuple[str, Any]],
    config: HypothesisConfig | None = None,
    *,
    progress: Callable[[int, int, str], Any] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    **options: Any,
) -> "FittedCandidates":
    """Fit every family of every candidate on every split and seed and score the held-out
    rows (``compare_hypotheses`` is this, then ``FittedCandidates.report()``); one fitting
    serves several reports (the held-out likelihood and the paper's squared error alike)."""
    cfg = dataclasses.replace(config or HypothesisConfig(), **options) if options else (config or HypothesisConfig())
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"the data must be a pandas DataFrame, got {type(data).__name__}")
    data = data.reset_index(drop=True)
    data.columns = [str(c) for c in data.columns]
    cands = make_candidates(candidates)
    named = set(cands[0].graph.nodes)
    nodes = [c for c in data.columns if c in named] + sorted(named - set(data.columns))  # the data's column order
    spec = parse_split(cfg.split, cfg.folds)
    _check_model(cfg)
    reserved = [c for c in (cfg.regime, spec.column if spec.kind == "env" else None) if c]
    for c in reserved:
        if c not in data.columns:
            raise DataError(f"the data have no column '{c}'; the columns are {', '.join(data.columns)}")
        if c in nodes:
            raise DataError(f"'{c}' names the regime or environment of each row; it cannot also be a node of a candidate")
    missing = [n for n in nodes if n not in data.columns]
    if missing:
        raise DataError(f"the candidates name node(s) {', '.join(missing)} that the data lack; "
                        f"its columns are {', '.join(data.columns)}")
    kinds = {n: k for c in cands for n, k in c.graph.kinds.items()}
    union = CausalGraph(nodes, [], kinds)
    table = validate_table(data, union, extra="drop", source="the data")[nodes]
    schema = schema_from_frame(table, union)
    kinds = {c.name: c.kind for c in schema.columns}
    continuous = [n for n in nodes if kinds[n] == "continuous"]
    raw = table.copy()
    if cfg.standardize:
        for n in continuous:
            col = schema[n]
            table[n] = (table[n].astype(np.float64) - col.mean) / col.std
        schema = schema_from_frame(table, union)
    order = {n: i for i, n in enumerate(nodes)}
    iv = intervened(data[cfg.regime], nodes) if cfg.regime else np.zeros((len(table), len(nodes)), dtype=bool)

    # ---------------------------------------------------------------- splits and families
    seeds = range(cfg.seeds)
    split_sets = [make_splits(data, spec, seed=cfg.seed + s, continuous=continuous) for s in seeds] if spec.randomized \
        else [make_splits(data, spec, seed=cfg.seed, continuous=continuous)] * cfg.seeds
    fam_of: dict[str, dict[str, Family]] = {
        c.name: {v: (v, tuple(sorted(c.graph.parents(v), key=order.__getitem__))) for v in nodes} for c in cands}
    families = sorted({f for d in fam_of.values() for f in d.values()}, key=lambda f: (order[f[0]], len(f[1]), [order[p] for p in f[1]]))
    tasks: list[FitTask] = []
    for s in seeds:
        for k, sp in enumerate(split_sets[s]):
            groups: dict[int, list[Family]] = {}
            for f in families:
                j = order[f[0]]
                key = j if iv[sp.train, j].any() else -1  # a node intervened on in training rows: those rows left out
                groups.setdefault(key, []).append(f)
            for key, fams in sorted(groups.items()):
                train = sp.train if key < 0 else sp.train[~iv[sp.train, key]]
                for c0 in range(0, len(fams), cfg.families_per_fit):
                    chunk = tuple(fams[c0 : c0 + cfg.families_per_fit])
                    ts = int(np.random.SeedSequence([cfg.seed, s, k, key + 1, c0]).generate_state(1)[0] % (2**31))
                    tasks.append(FitTask(len(tasks), k, s, train, sp.test, chunk, ts,
                                         f"{sp.name}" + (f", seed {s + 1}" if cfg.seeds > 1 else "")))
    context = FitContext(table, schema, cfg.model, cfg.fit_settings)
    t0 = time.perf_counter()
    results = run_tasks(tasks, context, workers=cfg.workers, ray=cfg.ray, progress=progress, cancel=cancel)
    return FittedCandidates(cfg, spec, cands, tuple(nodes), kinds, table, raw, iv, split_sets, tuple(families), fam_of,
                            tuple(tasks), tuple(results), time.perf_counter() - t0)


@dataclass(frozen=True)
class FittedCandidates:
    """Every family of every candidate fitted and scored on its held-out rows
    (``fit_candidates``); ``report`` turns the losses into a ``HypothesisReport``."""

    config: HypothesisConfig
    spec: SplitSpec
    candidates: list[Candidate]
    nodes: tuple[str, ...]
    kinds: Mapping[str, str]
    table: pd.DataFrame  # the modelled columns (standardized when config.standardize)
    raw: pd.DataFrame  # the same, as given
    intervened: np.ndarray  # [rows, nodes]
    split_sets: list  # per seed: its splits
    families: tuple[Family, ...]
    family_of: Mapping[str, Mapping[str, Family]]  # candidate -> node -> family
    tasks: tuple[FitTask, ...]
    results: tuple[Any, ...]
    seconds: float

    def report(self, score: str | None = None, raw_units: bool = False, classical: bool | None = None) -> HypothesisReport:
        """The report for ``score`` (default the config's). ``raw_units`` with ``mse``: each
        node's squared error in the data's own units (the paper's score on unstandardized
        data; the fits are the same, Causal Gen standardizes inside). ``classical``: the
        classical evidence too (default the config's)."""
        cfg = self.config
        score = score or cfg.score
        if score not in SCORE_KINDS:
            raise ValueError(f"score must be one of {', '.join(SCORE_KINDS)}, got {score!r}")
        cands, nodes, kinds, iv = self.candidates, list(self.nodes), self.kinds, self.intervened
        order = {v: i for i, v in enumerate(nodes)}
        families, fam_of = list(self.families), self.family_of
        scale = {v: 1.0 for v in nodes}
        if score == "mse" and raw_units and cfg.standardize:
            scale = {v: float(np.var(self.raw[v].to_numpy(dtype=np.float64))) if kinds[v] == "continuous" else 1.0
                     for v in nodes}
        n = len(self.table)
        fam_index = {f: i for i, f in enumerate(families)}
        fam_sums = np.zeros((n, len(families)))
        counts = np.zeros(n)
        run_means: dict[tuple[int, int], np.ndarray] = {}  # (seed, split) -> mean loss per family over its test rows
        by_split: dict[str, list[np.ndarray]] = {}
        mechanisms: dict[Family, str] = {}
        per_run: dict[tuple[int, int], dict[Family, np.ndarray]] = {}
        for task, res in zip(self.tasks, self.results):
            losses = res.nll if score == "nll" else res.sq
            bucket = per_run.setdefault((task.seed, task.split), {})
            for f, arr in losses.items():
                keep = ~iv[task.test, order[f[0]]]
                bucket[f] = np.where(keep, arr * scale[f[0]], 0.0)
                mechanisms.setdefault(f, res.mechanisms.get(f, ""))  # as chosen in the first fit of the family
        for (s, k), bucket in per_run.items():
            sp = self.split_sets[s][k]
            mat = np.stack([bucket[f] for f in families], axis=1)  # [test rows, families]
            fam_sums[sp.test] += mat / cfg.seeds
            counts[sp.test] += 1.0 / cfg.seeds
            run_means[(s, k)] = mat.mean(axis=0)
            by_split.setdefault(sp.name, []).append(mat.mean(axis=0))
        if not np.all(np.isfinite(fam_sums)):
            raise FloatingPointError("a held-out score is not finite; a model diverged (try score='mse' or fewer steps)")
        member = np.zeros((len(families), len(cands)))  # family -> candidate incidence
        for ci, c in enumerate(cands):
            for f in fam_of[c.name].values():
                member[fam_index[f], ci] = 1.0
        cand_losses = RowLosses(fam_sums @ member, counts)
        scores = cand_losses.scores
        boot = bootstrap(cand_losses, cfg.bootstrap, seed=cfg.seed)
        fam_scores = RowLosses(fam_sums, counts).scores
        split_scores = {name: np.mean(v, axis=0) for name, v in by_split.items()}

        # the fits' own noise: the runs' mean losses of each candidate and each pair's difference
        pair_index = list(itertools.combinations(range(len(cands)), 2))
        contrast = np.zeros((len(cands), len(cands) + len(pair_index)))
        contrast[:, :len(cands)] = np.eye(len(cands))
        for q, (i, j) in enumerate(pair_index):
            contrast[i, len(cands) + q], contrast[j, len(cands) + q] = 1.0, -1.0
        runs = [(s if self.spec.randomized else k, self.split_sets[s][k].test,
                 np.stack([bucket[f] for f in families], axis=1) @ member @ contrast)
                for (s, k), bucket in sorted(per_run.items())]
        overlap = float(np.mean([len(sp.test) / max(len(sp.train), 1) for sps in self.split_sets for sp in sps])) \
            if self.spec.randomized else 0.0  # Nadeau & Bengio: K-fold fits share most of their training rows
        noise = fit_noise(runs, paired=not self.spec.randomized, overlap=overlap)
        var_rows = boot.draws.var(axis=0, ddof=1)

        def test(c: int, estimate: float, var_row: float):
            return combined_test(estimate, var_row, n, float(noise.variance[c]), float(noise.var_variance[c]), noise.df)

        cand_tests = [test(i, float(scores[i]), float(var_rows[i])) for i in range(len(cands))]
        ranks = np.empty(len(cands), dtype=int)
        ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(cands) + 1)
        mec = _classes(cands)
        raw_num = np.column_stack([self.raw[v].to_numpy(dtype=np.float64) if kinds[v] == "continuous"
                                   else pd.factorize(self.raw[v], sort=True)[0].astype(np.float64) for v in nodes])
        use_classical = cfg.classical if classical is None else classical
        evidence = classical_evidence(self.table, [c.graph for c in cands], dict(kinds), cfg.alpha, cfg.permutations,
                                      cfg.seed) if use_classical else [None] * len(cands)
        cand_results = tuple(
            CandidateResult(c.name, c.graph.edges, float(scores[i]), cand_tests[i].ci, int(ranks[i]), mec[i],
                            varsortability(raw_num, c.graph, nodes), evidence[i], cand_tests[i].se_rows,
                            cand_tests[i].se_fit)
            for i, c in enumerate(cands))
        run_totals = [m @ member for m in run_means.values()]
        intervened_nodes = {nodes[j]: int(iv[:, j].sum()) for j in range(len(nodes)) if iv[:, j].any()}
        raw_pairs = []
        for q, (i, j) in enumerate(pair_index):
            draws, ci_rows = boot.difference(i, j)
            diff = float(scores[i] - scores[j])
            tested = test(len(cands) + q, diff, float(np.var(draws, ddof=1)))
            gt = float(np.mean([0.5 if t[i] == t[j] else float(t[i] > t[j]) for t in run_totals]))
            a, b = cands[i], cands[j]
            equivalent = a.graph.markov_equivalent(b.graph)
            raw_pairs.append((a.name, b.name, diff, tested, gt, equivalent, shd(a.graph, b.graph),
                              _rests_on(a.graph, b.graph, equivalent, intervened_nodes, self.spec), ci_rows))
        adjusted = holm([p[3].p_value for p in raw_pairs])
        pairs = tuple(PairResult(a, b, d, t.ci, float(adj), t.p_value, gt, eq, h, why, ci_rows, t.se_rows, t.se_fit, t.df)
                      for (a, b, d, t, gt, eq, h, why, ci_rows), adj in zip(raw_pairs, adjusted))
        node_results = tuple(
            NodeResult(c.name, v, fam_of[c.name][v][1], float(fam_scores[fam_index[fam_of[c.name][v]]]),
                       {name: float(sc[fam_index[fam_of[c.name][v]]]) for name, sc in split_scores.items()},
                       mechanisms.get(fam_of[c.name][v], ""))
            for c in cands for v in nodes)
        runs = len(per_run)
        fits = FitCount(len(families), len(cands) * len(nodes), runs, len(families) * runs, len(self.tasks),
                        len(cands) * len(nodes) * runs, self.seconds)
        seeds = range(cfg.seeds) if self.spec.randomized else range(1)
        report = HypothesisReport(
            cand_results, pairs, node_results,
            tuple(SplitInfo(sp.name + (f" (seed {s + 1})" if self.spec.randomized and cfg.seeds > 1 else ""),
                            len(sp.train), len(sp.test)) for s in seeds for sp in self.split_sets[s]),
            score, n, tuple(nodes), cfg.standardize and not raw_units, fits,
            config={**cfg.to_dict(), "score": score, "split_text": str(self.spec)}, interventions=intervened_nodes)
        notes = _notes(report, dataclasses.replace(cfg, score=score, standardize=cfg.standardize and not raw_units),
                       self.spec, kinds, mechanisms, fam_of)
        notes.insert(1, _noise_note(noise.df, self.spec, cfg.seeds))
        return dataclasses.replace(report, notes=tuple(notes))


def _noise_note(df: int, spec: SplitSpec, seeds: int) -> str:
    """What the intervals and p-values cover."""
    if df == 0:
        return ("intervals and p-values cover the held-out rows only, not the fits' own noise (two fits of a family "
                "differ; with one seed of fixed splits it cannot be estimated): run with seeds >= 2 for a test that "
                "holds its level")
    where = "the folds within a seed" if spec.randomized else "the seeds of each split"
    few = (" (with one seed the folds' spread mixes the rows' own spread into it: wide intervals; seeds >= 2 "
           "take it out)") if spec.randomized and seeds == 1 else ""
    return (f"intervals and p-values cover the held-out rows (paired row bootstrap) and the fits' own noise "
            f"(random-effects analysis of variance over {where}, {df} degrees of freedom{few}; Student's t with "
            "Welch-Satterthwaite degrees of freedom); more folds and seeds make both narrower")


def _check_model(cfg: HypothesisConfig) -> None:
    """A model kind that cannot score as asked is refused before anything is fitted."""
    from generators import kinds_for, model_kind
    from generators.protocol import supports_density

    entry = model_kind(cfg.model)
    if cfg.model not in kinds_for(CausalGraph(["a"], [])):
        raise ValueError(f"model kind '{cfg.model}' does not train on tables; use causal-gen, causal-vgen or linear-anm")
    if cfg.score == "nll" and not supports_density(entry.table):
        raise ValueError(f"model kind '{cfg.model}' gives no density to score held-out likelihood; use score='mse'")
    from generators import make_config

    make_config(cfg.model, **cfg.fit_settings)


def _classes(cands: list[Candidate]) -> list[int]:
    """Markov equivalence classes of the candidates, numbered from 1 in order of appearance."""
    out: list[int] = []
    reps: list[CausalGraph] = []
    for c in cands:
        for k, g in enumerate(reps):
            if c.graph.markov_equivalent(g):
                out.append(k + 1)
                break
        else:
            reps.append(c.graph)
            out.append(len(reps))
    return out


def _rests_on(a: CausalGraph, b: CausalGraph, equivalent: bool, intervened_nodes: Mapping[str, int],
              spec: SplitSpec | None = None) -> str:
    """What a verdict between two candidates can rest on."""
    if a.same_structure(b):
        return "nothing: the two graphs are the same"
    if not equivalent:
        return "conditional independences (the graphs are not Markov equivalent)"
    differing = {n for e in set(a.edges) ^ set(b.edges) for n in e}
    hit = sorted(n for n in differing if n in intervened_nodes)
    if hit:
        return f"interventions on {', '.join(hit)} (the graphs are Markov equivalent)"
    if spec is not None and spec.kind != "kfold":
        return ("the distribution shift of the splits and the noise model (Markov equivalent: no conditional "
                "independence separates them; holding out rows selected on a variable leaves the mechanisms of its "
                "effects unchanged but not those of its causes, so an out-of-distribution split can favour one "
                "direction; additive noise with nonlinear mechanisms or non-Gaussian noise can too, Hoyer et al. 2009)")
    return ("the noise model only (Markov equivalent: no conditional independence separates them; additive noise "
            "with nonlinear mechanisms or non-Gaussian noise can, Hoyer et al. 2009; linear Gaussian data cannot)")


def _notes(report: HypothesisReport, cfg: HypothesisConfig, spec: SplitSpec, kinds: Mapping[str, str],
           mechanisms: Mapping[Family, str], fam_of: Mapping[str, Mapping[str, Family]]) -> list[str]:
    notes = []
    if cfg.score == "nll":
        notes.append("score: held-out negative log-likelihood per row, each family's own density (a continuous node's "
                     "noise as a Gaussian kernel estimate over its fitted quantile knots, Silverman's bandwidth, "
                     "with 2% of the mass in a Student t tail; a discrete node's category probabilities)" + ("; continuous columns standardized" if cfg.standardize else ""))
    else:
        notes.append("score: held-out squared error per row (discrete nodes: misclassification), the paper's score"
                     + ("" if cfg.standardize else " on unstandardized data, where the variance order alone can decide"))
    if not cfg.standardize:
        vs = [c.varsortability for c in report.candidates if np.isfinite(c.varsortability)]
        if vs:
            notes.append(f"unstandardized data: varsortability along the candidates {min(vs):.2f} to {max(vs):.2f} "
                         "(above 0.5, sorting by variance alone prefers them; Reisach et al. 2021)")
    groups: dict[int, list[str]] = {}
    for c in report.candidates:
        groups.setdefault(c.mec, []).append(c.name)
    for names in groups.values():
        if len(names) > 1:
            notes.append(f"{', '.join(names)} are Markov equivalent: observational data separate them only through the "
                         "noise model" + (" or the interventions" if report.interventions else "")
                         + (" or the distribution shift of the splits" if spec.kind != "kfold" else ""))
    for p in report.pairs:
        if p.markov_equivalent and p.significant(cfg.alpha) and "noise model" in p.rests_on:
            a, b = fam_of[p.a], fam_of[p.b]
            differing = [a[v] for v in a if a[v] != b[v]] + [b[v] for v in b if a[v] != b[v]]
            if differing and all(mechanisms.get(f, "").startswith(("linear", "root")) for f in differing if f[1]):
                notes.append(f"{p.a} vs {p.b}: significant, but the families that differ were fitted with linear "
                             "mechanisms, whose direction only non-Gaussian noise can reveal; treat it with care")
    if report.interventions:
        shown = ", ".join(f"{k} ({v} rows)" for k, v in report.interventions.items())
        notes.append(f"interventional rows: {shown}; an intervened node's mechanism is left out of its rows, in fitting "
                     "and in scoring")
    if spec.kind == "kfold":
        notes.append("K-fold splits measure in-distribution generalization; ood, a condition or env:COLUMN test out of distribution")
    discrete = [n for n, k in kinds.items() if k != "continuous"]
    if discrete and spec.kind == "ood" and not spec.variables:
        notes.append(f"ood splits hold out continuous variables only; not {', '.join(discrete)}")
    return notes
