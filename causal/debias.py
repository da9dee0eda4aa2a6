"""De-biasing by cutting causal edges (CCGM, Bhat et al. 2022; the fairness variants of DECAF,
van Breugel et al. 2021): which edges a fairness notion cuts, the de-biased data an edited
model generates, and the bias report that judges it (dependence on the sensitive attribute,
demographic parity, a downstream classifier tested on real rows, fidelity of what was not
cut; the measures themselves are ``causal.fairness``'s), with the manifest that reproduces
an exported dataset."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.metrics import Standardizer, mmd2
from causal.fairness import (  # the measures of bias the report uses, also part of this module's interface
    DebiasError, Dependence, Downstream, _is_discrete, dependence, downstream, parity_gap, positive_class,
)

VARIANTS = ("none", "unaware", "counterfactual", "parity")
VARIANT_HELP = {
    "none": "no cut: the model as trained",
    "unaware": "fairness through unawareness: the direct edge from the sensitive attribute into the target",
    "counterfactual": "the direct edge plus the edges into the target from the descendants you mark (proxies)",
    "parity": "demographic parity: every path from the sensitive attribute to the target (each edge into the "
              "target from it or from one of its descendants)",
}
WILDCARD = "*"
FIDELITY_ROWS = 1000  # rows per sample for the MMD² of one column (half as many for a pair of columns)


# ---------------------------------------------------------------------- what to cut
def path_edges(graph: CausalGraph, sensitive: str, target: str) -> tuple[tuple[str, str], ...]:
    """The edges that cut every path from ``sensitive`` to ``target``: each edge into the
    target from ``sensitive`` or from one of its descendants (after the cut the target's
    remaining parents are all non-descendants of ``sensitive``)."""
    _check_nodes(graph, sensitive, target)
    if target not in graph.descendants(sensitive):
        raise DebiasError(f"no causal path leads from '{sensitive}' to '{target}': there is nothing to cut")
    upstream = set(graph.descendants(sensitive)) | {sensitive}
    return tuple((p, target) for p in graph.parents(target) if p in upstream)


def variant_edges(graph: CausalGraph, sensitive: str, target: str, variant: str,
                  marked: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """The edges a named fairness variant cuts (``VARIANTS``, ``VARIANT_HELP``): ``none``,
    ``unaware`` (sensitive -> target), ``counterfactual`` (that edge and marked -> target for
    each ``marked`` descendant of the sensitive attribute) and ``parity`` (``path_edges``).

    >>> g = CausalGraph.parse("A -> M; A -> Y; M -> Y; Z -> Y")
    >>> variant_edges(g, "A", "Y", "parity")
    (('A', 'Y'), ('M', 'Y'))
    """
    _check_nodes(graph, sensitive, target)
    if variant not in VARIANTS:
        raise DebiasError(f"unknown variant {variant!r}; the variants are {', '.join(VARIANTS)}")
    marked = tuple(marked)
    if variant == "none":
        return ()
    if variant == "parity":
        return path_edges(graph, sensitive, target)
    direct = ((sensitive, target),) if graph.has_edge(sensitive, target) else ()
    if variant == "unaware":
        if not direct:
            raise DebiasError(f"the graph has no edge {sensitive} -> {target}: the unaware variant has nothing to cut")
        return direct
    below = set(graph.descendants(sensitive))
    out = list(direct)
    for m in marked:
        if m not in graph.nodes:
            raise DebiasError(f"cannot mark '{m}': no such node; the nodes are {', '.join(graph.nodes)}")
        if m not in below:
            raise DebiasError(f"cannot mark '{m}': it is not a descendant of '{sensitive}'")
        if not graph.has_edge(m, target):
            raise DebiasError(f"cannot mark '{m}': the graph has no edge {m} -> {target}")
        out.append((m, target))
    if not out:
        raise DebiasError(f"the counterfactual variant has nothing to cut: no edge {sensitive} -> {target} and no node marked")
    return tuple(dict.fromkeys(out))


def expand_cuts(graph: CausalGraph, cuts: Sequence[Any], target: str | None = None) -> list[Any]:
    """Cuts as ``without_edges`` takes them, with ``"A -> *"`` (every path from A to
    ``target``) expanded by ``path_edges``; other cuts pass unchanged."""
    out: list[Any] = []
    for c in cuts:
        if isinstance(c, str) and c.replace(" ", "").endswith("->" + WILDCARD):
            parent = c.split("->")[0].strip()
            if target is None:
                raise DebiasError(f"'{c}' cuts every path from {parent} to the target: name the target (--target)")
            out.extend(f"{a} -> {b}" for a, b in path_edges(graph, parent, target))
        else:
            out.append(c)
    return list(dict.fromkeys(out))


def affected_nodes(graph: CausalGraph, edges: Iterable[tuple[str, str]]) -> set[str]:
    """The nodes whose distribution a cut can change: each cut edge's child and its
    descendants. Everything else keeps its mechanism and its inputs exactly."""
    out: set[str] = set()
    for _, child in edges:
        out.add(child)
        out.update(graph.descendants(child))
    return out


def _check_nodes(graph: CausalGraph, *nodes: str) -> None:
    for n in nodes:
        if n not in graph.nodes:
            raise DebiasError(f"unknown node '{n}'; the nodes are {', '.join(graph.nodes)}")


def edges_of(cuts: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    """``(parent, child)`` of ``Cut`` values."""
    return tuple((c.parent, c.child) for c in cuts)


# ---------------------------------------------------------------------- the report
@dataclass(frozen=True)
class Distance:
    """The distance between one dataset and a reference for one column or a pair: total
    variation for discrete columns, MMD² on standardized coordinates otherwise.
    ``on_cut_path``: a column the cut may change (a cut edge's child or its descendant)."""

    columns: tuple[str, ...]
    metric: str
    to_model: float | None
    to_real: float | None
    on_cut_path: bool


@dataclass(frozen=True)
class BiasReport:
    """The bias in one dataset: each descendant's dependence on ``sensitive``, the
    target's demographic parity gap (difference of the positive rate between groups, by
    fairlearn; for a continuous target the largest standardized difference of group means)
    and, with real test rows, the downstream classifier."""

    sensitive: str
    target: str
    n: int
    dependence: tuple[Dependence, ...]
    parity_gap: float
    downstream: Downstream | None

    def dependence_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(d) for d in self.dependence]).set_index("node") if self.dependence else pd.DataFrame()

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class DebiasReport:
    """Before (the unedited model's samples) and after (the edited model's), side by side,
    with the fidelity of the de-biased data to the unedited model and to the real rows."""

    cuts: tuple[str, ...]
    before: BiasReport
    after: BiasReport
    fidelity: tuple[Distance, ...]
    real: BiasReport | None = None

    def side_by_side(self) -> pd.DataFrame:
        """One row per descendant: its association measure (``Dependence``), then that
        association, mutual information and p-values before and after."""
        b, a = self.before.dependence_frame(), self.after.dependence_frame()
        if b.empty:
            return b
        cols = ["corr", "mi", "p_value", "cond_p_value"]
        return pd.concat({"": b[["measure"]], "before": b[cols], "after": a[cols]}, axis=1)

    def fidelity_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{**asdict(d), "columns": " & ".join(d.columns)} for d in self.fidelity])

    def max_fidelity_off_cut(self, to: str = "to_model") -> float:
        """The largest distance to the unedited model (or ``to="to_real"``) over the columns
        and pairs off the cut paths."""
        vals = [getattr(d, to) for d in self.fidelity if not d.on_cut_path and getattr(d, to) is not None]
        return float(max(vals)) if vals else 0.0

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"cuts": list(self.cuts), "before": self.before.to_dict(), "after": self.after.to_dict(),
                          "real": self.real.to_dict() if self.real else None,
                          "fidelity": [asdict(d) for d in self.fidelity]})


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def bias_report(data: pd.DataFrame, graph: CausalGraph, sensitive: str, target: str, test: pd.DataFrame | None = None,
                classifier: Any = None, positive: Any = None, seed: int = 0, conditional: bool = True) -> BiasReport:
    """The bias in ``data`` (generated or real): see ``BiasReport``. With ``test`` (held-out
    real rows) and a binary target, the downstream classifier too."""
    _check_nodes(graph, sensitive, target)
    dep = dependence(data, graph, sensitive, conditional=conditional)
    binary = data[target].nunique() == 2 and _is_discrete(data[target])
    down = None
    if test is not None and binary:
        cols = [n for n in graph.nodes if n in data.columns]
        down = downstream(data[cols], test[cols], sensitive, target, classifier, positive, seed)
    return BiasReport(sensitive, target, len(data), dep, parity_gap(data, sensitive, target, positive), down)


def fidelity(data: pd.DataFrame, model_data: pd.DataFrame | None, real: pd.DataFrame | None,
             graph: CausalGraph, edges: Iterable[tuple[str, str]], pairs: bool = True,
             rows: int = FIDELITY_ROWS, seed: int = 0) -> tuple[Distance, ...]:
    """Per column and per pair of columns, the distance of ``data`` to the unedited model's
    samples ``model_data`` and to the ``real`` rows (see ``Distance``): TVD of the empirical
    joint (every row) when every column involved is discrete, else MMD² (``causal.metrics.mmd2``,
    Gaussian kernel, median bandwidth; discrete columns as category codes) on ``rows`` rows of
    each (half as many for a pair), standardized by the reference."""
    hit = affected_nodes(graph, edges)
    nodes = [n for n in graph.nodes if n in data.columns]
    groups = [(n,) for n in nodes] + ([(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]] if pairs else [])
    refs = {"to_model": model_data, "to_real": real}
    frames = {"data": data, **{k: v for k, v in refs.items() if v is not None}}
    disc = {n: _is_discrete(data[n]) for n in nodes}
    codes, sizes = _shared_codes(frames, [n for n in nodes if disc[n]])  # one category numbering for every frame
    num = {k: pd.DataFrame({n: codes[k][n].astype(float) if disc[n] else v[n].to_numpy(dtype=float) for n in nodes})
           for k, v in frames.items()}
    rng = np.random.default_rng(seed)
    take = {k: _subsample(v, rows, rng) for k, v in num.items()}
    take2 = {k: _subsample(v, max(rows // 2, 2), rng) for k, v in num.items()}  # pairs: 4x fewer kernel entries
    out = []
    for cols in groups:
        metric = "tvd" if all(disc[c] for c in cols) else "mmd2"
        values: dict[str, float | None] = {}
        for key, ref in refs.items():
            if ref is None:
                values[key] = None
            elif metric == "tvd":
                values[key] = _tvd_codes(codes["data"], codes[key], cols, sizes)
            else:
                t = take if len(cols) == 1 else take2
                scale = Standardizer.fit(t[key], list(cols))
                values[key] = mmd2(scale(t["data"], list(cols)), scale(t[key], list(cols))).value
        out.append(Distance(cols, metric, values["to_model"], values["to_real"], any(c in hit for c in cols)))
    return tuple(out)


def _shared_codes(frames: Mapping[str, pd.DataFrame], cols: Sequence[str]) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, int]]:
    """Integer codes of discrete columns, numbered alike in every frame (the union of their
    values, as text), and each column's number of values."""
    codes: dict[str, dict[str, np.ndarray]] = {k: {} for k in frames}
    sizes: dict[str, int] = {}
    for c in cols:
        text = {k: f[c].astype(str).to_numpy() for k, f in frames.items()}
        cats = np.unique(np.concatenate(list(text.values())))
        sizes[c] = len(cats)
        for k, t in text.items():
            codes[k][c] = np.searchsorted(cats, t)
    return codes, sizes


def _tvd_codes(x: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], cols: Sequence[str], sizes: Mapping[str, int]) -> float:
    """Total variation distance between the empirical joints of coded discrete columns (the
    same number as ``causal.metrics.tvd``, by counting codes)."""
    def joint(d: Mapping[str, np.ndarray]) -> np.ndarray:
        key = np.zeros(len(d[cols[0]]), dtype=np.int64)
        for c in cols:
            key = key * sizes[c] + d[c]
        return np.bincount(key, minlength=int(np.prod([sizes[c] for c in cols]))) / len(key)

    return float(0.5 * np.abs(joint(x) - joint(y)).sum())


def _subsample(df: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    return df if len(df) <= rows else df.iloc[np.sort(rng.choice(len(df), rows, replace=False))]


def debias_report(model: Any, edited: Any, sensitive: str, target: str, n: int, seed: int = 0,
                  real: pd.DataFrame | None = None, test: pd.DataFrame | None = None, classifier: Any = None,
                  data: pd.DataFrame | None = None, pairs: bool = True) -> DebiasReport:
    """Before and after: ``model`` (unedited) and ``edited`` (``model.without_edges(...)``)
    each draw ``n`` rows with ``seed`` (``data`` reuses rows ``edited`` already drew);
    their bias reports, with the downstream classifier tested on ``test`` (held-out real
    rows); and the fidelity of the de-biased rows to the unedited model and to ``real``."""
    graph = model.graph
    before_data = as_table(model.sample(n, seed=seed))
    after_data = as_table(data if data is not None else edited.sample(n, seed=seed))
    pos = positive_class(before_data[target]) if before_data[target].nunique() == 2 else None
    kw = dict(test=test, classifier=classifier, positive=pos, seed=seed)
    before = bias_report(before_data, graph, sensitive, target, **kw)
    after = bias_report(after_data, graph, sensitive, target, **kw)
    on_real = bias_report(real, graph, sensitive, target, **kw) if real is not None else None
    edges = edges_of(edited.cuts)
    fid = fidelity(after_data, before_data, real, graph, edges, pairs=pairs, seed=seed)
    return DebiasReport(tuple(f"{a} -> {b}" for a, b in edges), before, after, fid, on_real)


def as_table(samples: Any) -> pd.DataFrame:
    """A table of samples: an image model's labels (``ImageData.labels``), else the frame."""
    return samples.labels if hasattr(samples, "labels") and hasattr(samples, "images") else samples


def truth_with_cuts(scm: Any, edges: Sequence[Any], n: int, seed: int = 0,
                    references: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """``n`` rows of a ground-truth SCM (``causal.scm``) with the same edges cut: what a
    model's de-biased samples should match."""
    from causal.interventions import parse_cuts
    from causal.queries import sample

    return sample(scm, n, seed=seed, cuts=parse_cuts(list(edges), scm.graph, scm.schema, references))


def compare_variants(model: Any, sensitive: str, target: str, n: int, test: pd.DataFrame, seed: int = 0,
                     marked: Sequence[str] = (), variants: Sequence[str] = VARIANTS, classifier: Any = None,
                     real: pd.DataFrame | None = None) -> dict[str, BiasReport]:
    """The bias report (with the downstream classifier on ``test``) of the data each variant
    generates, and of ``real`` rows when given (key ``"real"``): the points of a fairness
    versus utility plot (``tradeoff_frame``)."""
    out: dict[str, BiasReport] = {}
    for v in variants:
        edges = variant_edges(model.graph, sensitive, target, v, marked)
        m = model.without_edges(*edges) if edges else model
        out[v] = bias_report(as_table(m.sample(n, seed=seed)), model.graph, sensitive, target, test=test,
                             classifier=classifier, seed=seed, conditional=False)
    if real is not None:
        out["real"] = bias_report(real, model.graph, sensitive, target, test=test, classifier=classifier, seed=seed,
                                  conditional=False)
    return out


def tradeoff_frame(reports: Mapping[str, BiasReport]) -> pd.DataFrame:
    """One row per variant: utility (AUROC) beside fairness (parity and flip gaps)."""
    rows = []
    for name, r in reports.items():
        d = r.downstream
        rows.append({"variant": name, "data_parity_gap": r.parity_gap,
                     **({"auroc": d.auroc, "auroc_hard": d.auroc_hard, "precision": d.precision, "recall": d.recall,
                         "parity_difference": d.parity_difference, "flip_gap": d.flip_gap} if d else {})})
    return pd.DataFrame(rows).set_index("variant")


# ---------------------------------------------------------------------- provenance
def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def frame_fingerprint(df: pd.DataFrame) -> dict[str, Any]:
    """Rows, columns and a SHA-256 of a table's content (as its CSV writes it)."""
    digest = hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()
    return {"rows": len(df), "columns": [str(c) for c in df.columns], "sha256": digest}


def checkpoint_sha256(folder: str | Path) -> str:
    """One SHA-256 over a saved model's ``model.json`` and ``model.safetensors``."""
    h = hashlib.sha256()
    for name in ("model.json", "model.safetensors"):
        h.update(name.encode() + b"\0" + file_sha256(Path(folder) / name).encode())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("counterfactory", "numpy", "pandas", "torch", "scikit-learn", "scipy", "fairlearn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@dataclass(frozen=True)
class Manifest:
    """Everything that reproduces a de-biased dataset: the model (its folder or workspace
    run, kind, settings and checkpoint hash), the source data's fingerprint, the graph, the
    cuts and references, the size, seed and format, the library versions, the output's hash
    and the bias report."""

    model: str
    kind: str
    checkpoint_sha256: str
    graph: str
    cuts: tuple[str, ...]
    references: dict[str, Any]
    n: int
    seed: int
    format: str
    output_sha256: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    source_data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    rows_from: dict[str, Any] | None = None  # counterfactual de-biasing: the factual rows' file and fingerprint
    workspace: str | None = None  # a workspace run's workspace folder (model "run:ID")

    def to_json(self) -> str:
        return json.dumps({"manifest": "counterfactory-debias", "version": 1, **_jsonable(asdict(self))}, indent=2,
                          sort_keys=False, default=str) + "\n"

    @classmethod
    def read(cls, path: str | Path) -> "Manifest":
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise DebiasError(f"{path} is not a JSON manifest: {e}") from None
        if not isinstance(d, dict) or d.get("manifest") != "counterfactory-debias":
            raise DebiasError(f"{path} is not a manifest written by 'counterfactory debias'")
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ("model", "kind", "checkpoint_sha256", "cuts", "n", "seed", "format") if k not in d]
        if missing:
            raise DebiasError(f"{path} lacks {', '.join(missing)}")
        d = {k: v for k, v in d.items() if k in known}
        d["cuts"] = tuple(d["cuts"])
        d.setdefault("graph", "")
        d.setdefault("references", {})
        return cls(**d)
