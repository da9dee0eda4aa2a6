"""The classical evidence on the same candidates and data, for a report to set beside the
held-out scores: pgmpy's structure scores (BIC: Gaussian for continuous data, multinomial
for discrete, conditional Gaussian for mixed; BDeu on the data cut into quantile bins), the
implied conditional independences each graph fails (pgmpy's tests of each graph's implied
independences, with Fisher's C as their combined p-value), and a permutation falsification
test (Eulig, Mastakouri, Blöbaum, Hardt, Janzing 2023, "Toward falsifying causal graphs using
a permutation-based test"): how many of its local Markov conditions the graph violates,
against the same count for random relabellings of its nodes."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.independence import holm, test_implications

__all__ = ["Classical", "classical_evidence", "BINS"]

BINS = 4  # quantile bins of a continuous column for BDeu and for chi-square tests on mixed data


@dataclass(frozen=True)
class Classical:
    """One candidate's classical evidence. ``bic`` and ``bdeu`` are log-scores (higher is
    better; ``bic_kind`` says which BIC); ``ci_tests`` implied independences tested,
    ``ci_failures`` rejected at ``alpha`` after Holm's correction over them, ``fisher_c_p``
    their combined p-value (small: the data contradict the graph); ``lmc_violations`` of
    ``lmc_tests`` local Markov conditions rejected at ``alpha``, and
    ``permutation_p``: the share of random node relabellings that violate as few or fewer
    (small: the graph fits the data better than random graphs of its shape);
    ``contradictions``: the implied independences the Graph page's check calls contradicted
    (``causal.independence.test_implications``: the project's tests, spline adjustment,
    Holm at ``alpha`` and a strength of at least 0.1), beside pgmpy's count."""

    bic: float
    bic_kind: str
    bdeu: float
    ci_tests: int
    ci_failures: int
    fisher_c_p: float
    lmc_tests: int
    lmc_violations: int
    permutation_p: float
    ci_test: str
    contradictions: int | None = None


def _pgmpy_quiet() -> Any:
    """pgmpy's progress bars and deprecation notes off while it works."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _discretized(data: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    out = {}
    for c in data.columns:
        if kinds[c] == "continuous":
            out[c] = pd.qcut(data[c].rank(method="first"), BINS, labels=False).astype(int).astype(str)
        else:
            out[c] = data[c].astype(str)
    return pd.DataFrame(out, index=data.index)


def _codes(data: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Discrete columns as category indices (floats), for Gaussian scores and tests."""
    out = {}
    for c in data.columns:
        out[c] = data[c].astype(np.float64) if kinds[c] == "continuous" else pd.factorize(data[c], sort=True)[0].astype(np.float64)
    return pd.DataFrame(out, index=data.index)


class _Tests:
    """One pgmpy CI test over the data, cached by (x, y, given), shared by every candidate
    and every relabelling."""

    def __init__(self, data: pd.DataFrame, kinds: dict[str, str]) -> None:
        from pgmpy.ci_tests import get_ci_test

        discrete = [c for c in data.columns if kinds[c] != "continuous"]
        if not discrete:
            self.name, frame = "pearsonr", _codes(data, kinds)
        elif len(discrete) == len(data.columns):
            self.name, frame = "chi_square", data.astype(str)
        else:
            self.name, frame = "chi_square", _discretized(data, kinds)
            self.name += f" (continuous columns in {BINS} quantile bins)"
        with _pgmpy_quiet():
            self.test = get_ci_test(self.name.split(" ")[0], data=frame)
        self.cache: dict[tuple, float] = {}

    def p(self, x: str, y: str, given: tuple[str, ...]) -> float:
        key = (min(x, y), max(x, y), tuple(sorted(given)))
        if key not in self.cache:
            with _pgmpy_quiet():
                self.test.run_test(X=x, Y=y, Z=list(given))
            p = float(self.test.p_value_)
            self.cache[key] = p if np.isfinite(p) else 1.0
        return self.cache[key]


def _lmc(graph: CausalGraph) -> list[tuple[str, str, tuple[str, ...]]]:
    """The local Markov conditions: each node independent of each non-descendant that is not
    a parent, given its parents."""
    out = []
    for v in graph.nodes:
        pa = graph.parents(v)
        skip = set(pa) | set(graph.descendants(v)) | {v}
        out += [(v, u, pa) for u in graph.nodes if u not in skip]
    return out


def _relabelled(graph: CausalGraph, perm: np.ndarray) -> CausalGraph:
    nodes = list(graph.nodes)
    name = {a: nodes[i] for a, i in zip(nodes, perm)}
    return CausalGraph(nodes, [(name[a], name[b]) for a, b in graph.edges])


def classical_evidence(
    data: pd.DataFrame,
    graphs: list[CausalGraph],
    kinds: dict[str, str],
    alpha: float = 0.05,
    permutations: int = 100,
    seed: int = 0,
) -> list[Classical]:
    """``Classical`` evidence for each graph on ``data`` (one column per node; ``kinds`` of
    each column: continuous, binary or categorical). ``permutations`` random relabellings
    per graph for the falsification test (0: skip it)."""
    from pgmpy.base import DAG

    with _pgmpy_quiet():
        from pgmpy.structure_score import BDeu, BIC, BICCondGauss, BICGauss

    # pgmpy's Gaussian scores read column names as formulas (patsy): "p44/42" would be a division
    safe = {c: f"v{i}" for i, c in enumerate(data.columns)}
    data = data.rename(columns=safe)
    kinds = {safe[c]: k for c, k in kinds.items() if c in safe}
    graphs = [CausalGraph([safe[n] for n in g.nodes], [(safe[a], safe[b]) for a, b in g.edges]) for g in graphs]
    cols = list(data.columns)
    discrete = [c for c in cols if kinds[c] != "continuous"]
    if not discrete:
        bic_kind, bic_score = "Gaussian", BICGauss(_codes(data, kinds))
    elif len(discrete) == len(cols):
        bic_kind, bic_score = "multinomial", BIC(data.astype(str))
    else:
        frame = _codes(data, kinds)
        for c in discrete:
            frame[c] = data[c].astype(str)
        bic_kind, bic_score = "conditional Gaussian", BICCondGauss(frame)
    bdeu_score = BDeu(_discretized(data, kinds), equivalent_sample_size=10)
    tests = _Tests(data, kinds)
    checked: dict = {}  # the project's tests, shared by the candidates
    rng = np.random.default_rng(seed)
    out = []
    for g in graphs:
        dag = DAG()
        dag.add_nodes_from(g.nodes)
        dag.add_edges_from(g.edges)
        with _pgmpy_quiet():
            bic = float(sum(bic_score.local_score(v, tuple(g.parents(v))) for v in g.nodes))
            bdeu = float(sum(bdeu_score.local_score(v, tuple(g.parents(v))) for v in g.nodes))
        implied = [(ind.x, ind.y, ind.given) for ind in g.implied_independences()]
        ps = [tests.p(x, y, z) for x, y, z in implied]
        failures = int((holm(ps) < alpha).sum()) if ps else 0
        if ps:  # Fisher's C (Shipley 2000), as pgmpy's FisherC combines the tests of a basis set
            c = -2.0 * float(np.log(np.clip(ps, 1e-300, 1.0)).sum())
            from scipy import stats

            fisher = float(stats.chi2.sf(c, 2 * len(ps)))
        else:
            fisher = float("nan")
        lmc = _lmc(g)
        violations = sum(tests.p(x, y, z) < alpha for x, y, z in lmc)
        perm_p = float("nan")
        if permutations > 0 and lmc:
            as_good = 0
            for _ in range(permutations):
                h = _relabelled(g, rng.permutation(len(g.nodes)))
                as_good += sum(tests.p(x, y, z) < alpha for x, y, z in _lmc(h)) <= violations
            perm_p = (1 + as_good) / (1 + permutations)
        contradictions = sum(r.relevant for r in test_implications(data, g, kinds, alpha, cache=checked))
        out.append(Classical(bic, bic_kind, bdeu, len(ps), failures, fisher, len(lmc), int(violations), perm_p, tests.name,
                             int(contradictions)))
    return out
