"""Causal hypothesis testing by generalization error: which of several candidate graphs do
the data support? After Jiang, Pooladzandi, Bhat, Pottie 2022 ("Causal Structural Hypothesis
Testing and Data Generation Models"): models that obey each graph are fitted on part of the
rows, and the graph whose models predict the other rows best is preferred; with statistics
a scientist can trust.

- Splits: K-fold (default), out of distribution (the top or bottom quantile of each variable
  held out in turn), a condition (``age > 60``), or environments (``env:COLUMN``); rows of
  interventional data (``regime``) leave the intervened node's mechanism out.
- Score: held-out negative log-likelihood per row, from each model's own density, on
  standardized data by default; the paper's squared error as an option.
- Families: a graph's score is a sum over (node, parent set) families, so each family is
  fitted once per split and seed and shared by every candidate containing it.
- Statistics: paired differences on the same rows with intervals and p-values that cover
  the held-out rows (row bootstrap) and the fits' own noise (analysis of variance over the
  folds and seeds), Holm-corrected over every pair, the paper's P(loss(G1) > loss(G2));
  Markov equivalence and what a verdict rests on (conditional independences, the noise
  model, interventions); varsortability of the raw data; classical evidence beside it (BIC,
  BDeu, implied independences, a permutation falsification test).

>>> from causal import datasets
>>> rows = datasets.load("chain5-lin", n=300, seed=0).data[["x1", "x2", "x3"]]
>>> report = compare_hypotheses(rows, ["x1 -> x2 -> x3", "x3 -> x2 -> x1", "x1 -> x3 -> x2"],
...                             model="linear-anm", seeds=1, folds=3, classical=False)
>>> report.pair("H1", "H2").markov_equivalent, report.pair("H1", "H3").markov_equivalent
(True, False)
"""

from causal.hypotheses.candidates import Candidate, candidates, neighbours, orientations, parse_candidate, shd
from causal.hypotheses.classical import Classical, classical_evidence
from causal.hypotheses.compare import SCORE_KINDS, HypothesisConfig, compare_hypotheses
from causal.hypotheses.families import FIT_SETTINGS, Cancelled
from causal.hypotheses.report import CandidateResult, FitCount, HypothesisReport, NodeResult, PairResult, SplitInfo
from causal.hypotheses.splits import Split, SplitSpec, condition_mask, intervened, make_splits, parse_split
from causal.hypotheses.statistics import bootstrap, combined_test, fit_noise, paired_p_value, varsortability

__all__ = [
    "compare_hypotheses", "HypothesisConfig", "HypothesisReport", "CandidateResult", "PairResult", "NodeResult",
    "SplitInfo", "FitCount", "Classical", "Candidate", "candidates", "parse_candidate", "neighbours", "orientations",
    "shd", "Split", "SplitSpec", "parse_split", "make_splits", "condition_mask", "intervened", "bootstrap",
    "paired_p_value", "fit_noise", "combined_test", "varsortability", "classical_evidence", "Cancelled", "FIT_SETTINGS", "SCORE_KINDS",
]
