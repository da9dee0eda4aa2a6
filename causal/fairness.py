"""How biased a table is against a sensitive attribute: the dependence of each column on it
(correlation, Cramér's V or the correlation ratio, mutual information with the G-test, and
conditional on its non-descendants), the target's demographic parity gap, and a downstream
classifier trained on the table and tested on real rows (AUROC, precision, recall, its
parity difference and flip-test gap; scikit-learn and fairlearn). ``causal.debias`` reports
these before and after an edge cut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.interventions import InterventionError


class DebiasError(InterventionError):
    """A de-biasing request that names an unknown node, edge or variant, or a target the
    sensitive attribute cannot reach; or data a measure of bias cannot be computed on (a
    target with one value)."""


@dataclass(frozen=True)
class Dependence:
    """How much ``node`` depends on the sensitive attribute in one dataset: ``corr`` is the
    Pearson correlation (``measure`` "pearson"; a binary column as its 0/1 codes), Cramér's V
    where both are discrete and either has more than two values ("cramer_v"), or the
    correlation ratio η of the numeric one over the groups of the discrete one where that has
    more than two values ("eta": the share of its variance, square-rooted, that the groups'
    means explain; the codes of unordered categories have no correlation); ``mi`` the mutual information
    in nats (continuous values in quantile bins) with the G-test's ``p_value`` (the
    chi-square test of the mutual information); ``cond_p_value`` the test of the same
    independence given the sensitive attribute's non-descendants that are ancestors of
    ``node`` (None when there are none): ``causal.independence.ci_test`` with the graph's
    kinds and the spline adjustment of the Graph page's checks, a partial correlation within
    the strata of the discrete ones where both columns are continuous or binary, else the
    G-test."""

    node: str
    corr: float
    measure: str
    mi: float
    p_value: float
    cond_p_value: float | None
    given: tuple[str, ...] = ()


@dataclass(frozen=True)
class Downstream:
    """A classifier trained on one dataset and tested on held-out real rows: AUROC from
    its probabilities and from its hard labels, precision and recall of the positive
    class, demographic parity difference of its predictions (fairlearn) and the flip-test
    gap: how much its mean predicted label moves when only the sensitive attribute of the
    test rows is changed (largest minus smallest over the attribute's values). Changing the
    attribute alone can put a row where no training row is (a husband recorded as female):
    there the classifier extrapolates. With ``support`` columns (e.g. the attribute's discrete
    children), ``flip_gap_on_support`` is the same gap over only the test rows whose every
    flipped version has its combination of the attribute and those columns in at least
    ``min_support`` training rows, and ``on_support`` the share of test rows that qualify."""

    auroc: float
    auroc_hard: float
    precision: float
    recall: float
    parity_difference: float
    flip_gap: float
    positive: Any
    n_train: int
    n_test: int
    classifier: str
    flip_gap_on_support: float | None = None
    on_support: float | None = None


def _codes(s: pd.Series, bins: int = 10) -> np.ndarray:
    """Integer codes: the categories of a discrete column, quantile bins of a numeric one."""
    if _is_discrete(s):
        return pd.factorize(s, sort=True)[0].astype(np.int64)
    binned = pd.qcut(s.astype(float), q=bins, labels=False, duplicates="drop")
    return pd.factorize(np.asarray(binned), sort=True)[0].astype(np.int64)


def _eta(groups: np.ndarray, x: np.ndarray) -> float:
    """The correlation ratio of ``x`` over integer ``groups``: sqrt(between-group sum of
    squares / total sum of squares), in [0, 1]."""
    total = float(((x - x.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    counts = np.bincount(groups)
    means = np.bincount(groups, weights=x) / np.maximum(counts, 1)
    return float(np.sqrt(min(1.0, float((counts * (means - x.mean()) ** 2).sum()) / total)))


def _is_discrete(s: pd.Series) -> bool:
    return s.dtype.kind in "ObUS" or isinstance(s.dtype, pd.CategoricalDtype) or s.nunique() <= 2 \
        or (s.dtype.kind in "iu" and s.nunique() <= 20)


def dependence(data: pd.DataFrame, graph: CausalGraph, sensitive: str, nodes: Sequence[str] | None = None,
               conditional: bool = True) -> tuple[Dependence, ...]:
    """Each of ``nodes`` (default: the descendants of ``sensitive``) against the sensitive
    attribute in ``data`` (see ``Dependence``)."""
    from scipy.stats import chi2_contingency
    from scipy.stats.contingency import association, crosstab
    from sklearn.metrics import mutual_info_score

    from causal.independence import ci_test

    below = graph.descendants(sensitive)
    nodes = [n for n in graph.nodes if n in below and n in data.columns] if nodes is None else list(nodes)
    a = data[sensitive]
    ca = _codes(a)
    a_num = ca.astype(float) if _is_discrete(a) else a.to_numpy(dtype=float)
    nondesc = [v for v in graph.nodes if v != sensitive and v not in below and v in data.columns]
    out = []
    for node in nodes:
        s = data[node]
        cs = _codes(s)
        if len(np.unique(ca)) < 2 or len(np.unique(cs)) < 2:
            out.append(Dependence(node, 0.0, "constant", 0.0, 1.0, None))
            continue
        s_many, a_many = _is_discrete(s) and s.nunique() > 2, _is_discrete(a) and a.nunique() > 2
        if (s_many or a_many) and _is_discrete(s) and _is_discrete(a):
            corr, measure = float(association(crosstab(ca, cs).count, method="cramer")), "cramer_v"
        elif a_many:
            corr, measure = _eta(ca, s.to_numpy(dtype=float)), "eta"
        elif s_many:
            corr, measure = _eta(cs, a_num), "eta"
        else:
            x = cs.astype(float) if _is_discrete(s) else s.to_numpy(dtype=float)
            corr, measure = float(np.corrcoef(a_num, x)[0, 1]), "pearson"
        table = crosstab(ca, cs).count
        table = table[table.sum(1) > 0][:, table.sum(0) > 0]
        p = float(chi2_contingency(table, lambda_="log-likelihood")[1])
        mi = float(mutual_info_score(ca, cs))
        given = tuple(v for v in nondesc if v in graph.ancestors(node))
        cond = None
        if conditional and given:
            try:
                kinds = {v: k for v, k in graph.kinds.items() if k and v in (sensitive, node, *given)}
                cond = float(ci_test(data, sensitive, node, given, kinds, regression="spline").p_value)
            except ValueError:
                cond = None
        out.append(Dependence(node, corr, measure, mi, p, cond, given))
    return tuple(out)


def positive_class(values: pd.Series | Sequence[Any]) -> Any:
    """The positive class of a binary column: the larger value (``">50K"``, 1, True)."""
    cats = sorted(pd.unique(pd.Series(values)), key=lambda v: (str(type(v)), v))
    if len(cats) != 2:
        raise DebiasError(f"a binary target is needed here; it has {len(cats)} values")
    return cats[-1]


def parity_gap(data: pd.DataFrame, sensitive: str, target: str, positive: Any = None) -> float:
    """The target's demographic parity gap between the groups of ``sensitive``: for a binary
    target, fairlearn's ``demographic_parity_difference`` of the positive class; for a
    continuous one, the largest difference of group means in standard deviations."""
    from fairlearn.metrics import demographic_parity_difference

    y = data[target]
    if y.nunique() < 2:  # one value: every group has the same rate
        return 0.0
    groups = _groups(data[sensitive])
    if y.nunique() <= 2 and _is_discrete(y):
        pos = positive if positive is not None else positive_class(y)
        hit = (y == pos).astype(int).to_numpy()
        return float(demographic_parity_difference(hit, hit, sensitive_features=groups))
    means = y.astype(float).groupby(groups).mean()
    sd = float(y.astype(float).std()) or 1.0
    return float((means.max() - means.min()) / sd)


def _groups(a: pd.Series) -> np.ndarray:
    """Group labels of the sensitive attribute (a continuous one split at its median)."""
    if _is_discrete(a):
        return a.astype(str).to_numpy()
    return np.where(a.astype(float) > a.astype(float).median(), "high", "low")


def downstream(train: pd.DataFrame, test: pd.DataFrame, sensitive: str, target: str,
               classifier: Any = None, positive: Any = None, seed: int = 0,
               support: Sequence[str] = (), min_support: int = 20, blind: bool = False) -> Downstream:
    """Train ``classifier`` (a scikit-learn estimator; default logistic regression) on
    ``train`` to predict the binary ``target`` from every other column (categories one-hot,
    numbers standardized) and score it on ``test`` (real rows): see ``Downstream``
    (``support``, ``min_support``: the flip gap on the rows whose flips stay on the data).
    ``blind``: leave ``sensitive`` out of the classifier's features (fairness through
    unawareness at the classifier); its flip gaps are then 0, and the parity gap is still
    measured between the test rows' groups."""
    from fairlearn.metrics import demographic_parity_difference
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import precision_score, recall_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pos = positive if positive is not None else positive_class(pd.concat([train[target], test[target]]))
    features = [c for c in train.columns if c != target and not (blind and c == sensitive)]
    cats = [c for c in features if _is_discrete(pd.concat([train[c], test[c]]))]
    nums = [c for c in features if c not in cats]
    prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cats), ("num", StandardScaler(), nums)])
    clf = clone(classifier) if classifier is not None else LogisticRegression(max_iter=1000)
    if "random_state" in clf.get_params():
        clf.set_params(random_state=seed)
    ytr = (train[target] == pos).astype(int).to_numpy()
    if len(np.unique(ytr)) < 2:
        raise DebiasError(f"the training data has a single value of '{target}': no classifier can be trained")
    pipe = make_pipeline(prep, clf).fit(_as_features(train[features], cats), ytr)
    yte = (test[target] == pos).astype(int).to_numpy()
    x_test = _as_features(test[features], cats)
    prob = pipe.predict_proba(x_test)[:, 1]
    hard = pipe.predict(x_test)
    groups = _groups(test[sensitive])
    means = []
    values = sorted(pd.unique(test[sensitive]), key=str) if _is_discrete(test[sensitive]) else \
        [float(test[sensitive].quantile(0.25)), float(test[sensitive].quantile(0.75))]
    preds = []
    for v in values:
        flipped = x_test.copy()
        if not blind:  # a blind classifier never reads the column: every flip predicts as the rows
            flipped[sensitive] = str(v) if sensitive in cats else float(v)
        preds.append(pipe.predict(flipped))
        means.append(float(preds[-1].mean()))
    on_gap = on_share = None
    if support and sensitive in cats and not blind:
        seen = _as_features(train[[sensitive, *support]], [sensitive, *support]).value_counts()
        keys = _as_features(test[list(support)], list(support))
        ok = np.ones(len(test), dtype=bool)
        for v in values:
            combo = pd.MultiIndex.from_frame(keys.assign(**{sensitive: str(v)})[[sensitive, *support]])
            ok &= seen.reindex(combo).fillna(0).to_numpy() >= min_support
        on_share = float(ok.mean())
        on_gap = float(max(p[ok].mean() for p in preds) - min(p[ok].mean() for p in preds)) if ok.any() else None
    return Downstream(
        auroc=float(roc_auc_score(yte, prob)) if len(np.unique(yte)) == 2 else float("nan"),
        auroc_hard=float(roc_auc_score(yte, hard)) if len(np.unique(yte)) == 2 else float("nan"),
        precision=float(precision_score(yte, hard, zero_division=0)),
        recall=float(recall_score(yte, hard, zero_division=0)),
        parity_difference=float(demographic_parity_difference(yte, hard, sensitive_features=groups)),
        flip_gap=float(max(means) - min(means)),
        positive=pos, n_train=len(train), n_test=len(test), classifier=type(clf).__name__,
        flip_gap_on_support=on_gap, on_support=on_share,
    )


def _as_features(df: pd.DataFrame, cats: Sequence[str]) -> pd.DataFrame:
    """Categorical columns as text, so that train and test one-hot encode alike."""
    out = df.copy()
    for c in cats:
        out[c] = out[c].astype(str)
    return out
