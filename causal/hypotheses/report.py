"""The report of a hypothesis test as typed values: the ranking with intervals, the pairwise
comparisons (paired difference, bootstrap interval, Holm-corrected p-value, the paper's
P(loss(G1) > loss(G2)), Markov equivalence and what a verdict rests on), the per-node
breakdown, the classical evidence, and how many fits the family cache saved; with its JSON
(the CLI's ``--out``), CSV tables and PNG figures."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from causal.hypotheses.classical import Classical

__all__ = ["CandidateResult", "PairResult", "NodeResult", "SplitInfo", "FitCount", "HypothesisReport"]

SCORES = {"nll": "held-out negative log-likelihood per row (nats)", "mse": "held-out squared error per row"}


@dataclass(frozen=True)
class CandidateResult:
    """One candidate: its ``score`` (mean held-out loss per row, lower is better) with a 95%
    bootstrap interval ``ci``, its ``rank`` (1 = best), its Markov equivalence class
    (``mec``: candidates with the same number are equivalent), the raw data's
    varsortability along it, and its classical evidence."""

    name: str
    edges: tuple[tuple[str, str], ...]
    score: float
    ci: tuple[float, float]
    rank: int
    mec: int
    varsortability: float
    classical: Classical | None = None
    se_rows: float = float("nan")  # standard error from the held-out rows (row bootstrap)
    se_fit: float = float("nan")  # standard error from fit-to-fit noise (0 when not estimable: see the notes)

    @property
    def text(self) -> str:
        return "; ".join(f"{a} -> {b}" for a, b in self.edges) or "(no edges)"


@dataclass(frozen=True)
class PairResult:
    """Candidate ``a`` against ``b`` on the same held-out rows: ``difference`` = score of a −
    score of b (negative: a generalizes better), its 95% interval ``ci`` and its p-value
    Holm-corrected over every pair (``p_value``) and raw (``p_raw``), both from the
    variance of the held-out rows plus that of the fits (``se_rows``, ``se_fit``; Student's t
    on ``df`` degrees of freedom, inf: rows only); ``ci_rows`` the row bootstrap's own
    percentile interval; the paper's ``p_loss_greater`` = P(loss(a) > loss(b)) over the
    (split, seed) runs; whether the two are Markov equivalent, their structural Hamming
    distance, and what a verdict between them rests on (``rests_on``)."""

    a: str
    b: str
    difference: float
    ci: tuple[float, float]
    p_value: float
    p_raw: float
    p_loss_greater: float
    markov_equivalent: bool
    shd: int
    rests_on: str
    ci_rows: tuple[float, float] = (float("nan"), float("nan"))
    se_rows: float = float("nan")
    se_fit: float = float("nan")
    df: float = float("inf")

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


@dataclass(frozen=True)
class NodeResult:
    """One node of one candidate: its family (node, parents), mean held-out loss per row of
    that family (``score``, lower is better; the candidate's score is the sum over its
    nodes), the same per split (``by_split``: which mechanism fails where), and the
    mechanism the model chose for it (in the first fit)."""

    candidate: str
    node: str
    parents: tuple[str, ...]
    score: float
    by_split: Mapping[str, float]
    mechanism: str = ""


@dataclass(frozen=True)
class SplitInfo:
    name: str
    train: int
    test: int


@dataclass(frozen=True)
class FitCount:
    """The family cache's bookkeeping: ``families`` distinct (node, parents) among the
    ``family_nodes`` nodes of all candidates; ``runs`` = splits × seeds; ``fits`` family
    fits done (``families × runs``) in ``batches`` model fits; ``without_cache`` the
    family fits one model per candidate would have needed; ``seconds`` fitting took."""

    families: int
    family_nodes: int
    runs: int
    fits: int
    batches: int
    without_cache: int
    seconds: float

    @property
    def saved(self) -> int:
        return self.without_cache - self.fits


@dataclass(frozen=True)
class HypothesisReport:
    """What ``compare_hypotheses`` found. ``candidates`` in the order given (``ranking()``
    sorts them), ``pairs`` for every two of them (a before b in that order), ``nodes`` the
    per-node breakdown, ``notes`` the sentences a reader needs (what the verdicts rest on,
    warnings)."""

    candidates: tuple[CandidateResult, ...]
    pairs: tuple[PairResult, ...]
    nodes: tuple[NodeResult, ...]
    splits: tuple[SplitInfo, ...]
    score: str
    rows: int
    columns: tuple[str, ...]
    standardized: bool
    fits: FitCount
    notes: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    interventions: Mapping[str, int] = field(default_factory=dict)  # node -> rows intervened on

    # ------------------------------------------------------------------ reading
    def ranking(self) -> list[CandidateResult]:
        return sorted(self.candidates, key=lambda c: c.rank)

    def candidate(self, name: str) -> CandidateResult:
        for c in self.candidates:
            if c.name == name:
                return c
        raise KeyError(f"no candidate named {name!r}; the candidates are {', '.join(c.name for c in self.candidates)}")

    def pair(self, a: str, b: str) -> PairResult:
        """``a`` against ``b`` (either order: the difference is flipped to read a − b)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                lo, hi = p.ci
                return dataclasses.replace(p, a=a, b=b, difference=-p.difference, ci=(-hi, -lo),
                                           ci_rows=(-p.ci_rows[1], -p.ci_rows[0]), p_loss_greater=1.0 - p.p_loss_greater)
        raise KeyError(f"no pair {a}, {b}")

    @property
    def best(self) -> CandidateResult:
        return self.ranking()[0]

    def summary(self, alpha: float = 0.05) -> str:
        """A few lines for a terminal: the ranking, then each pair whose difference is significant."""
        unit = SCORES.get(self.score, self.score)
        lines = [f"{len(self.candidates)} candidates, {self.rows} rows, {len(self.splits)} split(s) x "
                 f"{self.config.get('seeds', 1)} seed(s); score: {unit}" + (" (standardized data)" if self.standardized else "")]
        for c in self.ranking():
            lines.append(f"  {c.rank:>2}. {c.name:<12} {c.score:10.4f}  [{c.ci[0]:.4f}, {c.ci[1]:.4f}]  {c.text}")
        sig = [p for p in self.pairs if p.significant(alpha)]
        lines.append(f"significant differences (Holm, alpha {alpha}): {len(sig)} of {len(self.pairs)} pairs")
        for p in sorted(sig, key=lambda p: p.p_value)[:10]:
            better, worse = (p.a, p.b) if p.difference < 0 else (p.b, p.a)
            lines.append(f"  {better} better than {worse}: {abs(p.difference):.4f} per row (p = {p.p_value:.2g}; "
                         f"rests on {p.rests_on})")
        lines += [f"note: {n}" for n in self.notes]
        f = self.fits
        lines.append(f"fits: {f.fits} family fits in {f.batches} batched model fits, {f.seconds:.1f} s "
                     f"(the family cache saved {f.saved} of {f.without_cache})")
        return "\n".join(lines)

    # ------------------------------------------------------------------ tables
    def ranking_table(self) -> pd.DataFrame:
        rows = []
        for c in self.ranking():
            row: dict[str, Any] = {"rank": c.rank, "name": c.name, "score": c.score, "ci_low": c.ci[0], "ci_high": c.ci[1],
                                   "edges": c.text, "mec": c.mec, "varsortability": c.varsortability}
            if c.classical is not None:
                row.update({f"{k}": v for k, v in dataclasses.asdict(c.classical).items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def pairs_table(self) -> pd.DataFrame:
        return pd.DataFrame([{"a": p.a, "b": p.b, "difference": p.difference, "ci_low": p.ci[0], "ci_high": p.ci[1],
                              "p_value": p.p_value, "p_raw": p.p_raw, "se_rows": p.se_rows, "se_fit": p.se_fit,
                              "df": p.df, "p_loss_greater": p.p_loss_greater,
                              "markov_equivalent": p.markov_equivalent, "shd": p.shd, "rests_on": p.rests_on}
                             for p in self.pairs])

    def nodes_table(self) -> pd.DataFrame:
        rows = []
        for r in self.nodes:
            row = {"candidate": r.candidate, "node": r.node, "parents": ", ".join(r.parents), "score": r.score,
                   "mechanism": r.mechanism}
            row.update({f"split: {k}": v for k, v in r.by_split.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def difference_matrix(self) -> pd.DataFrame:
        """``[a, b]``: score of a − score of b (negative: the row's candidate is better)."""
        names = [c.name for c in self.ranking()]
        m = pd.DataFrame(0.0, index=names, columns=names)
        for p in self.pairs:
            m.loc[p.a, p.b], m.loc[p.b, p.a] = p.difference, -p.difference
        return m

    def node_matrix(self) -> pd.DataFrame:
        """``[candidate, node]``: the node's family score in that candidate."""
        names = [c.name for c in self.ranking()]
        m = pd.DataFrame({(r.candidate, r.node): r.score for r in self.nodes}, index=[0]).T[0].unstack()
        return m.reindex(index=names, columns=list(self.columns))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            if isinstance(v, float):
                return v if math.isfinite(v) else None
            if isinstance(v, dict):
                return {str(k): clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, (np.floating, np.integer)):
                return clean(v.item())
            return v

        d = {
            "candidates": [{**dataclasses.asdict(c), "edges": [list(e) for e in c.edges], "ci": list(c.ci)}
                           for c in self.candidates],
            "pairs": [{**dataclasses.asdict(p), "ci": list(p.ci), "ci_rows": list(p.ci_rows)} for p in self.pairs],
            "nodes": [{**dataclasses.asdict(r), "parents": list(r.parents), "by_split": dict(r.by_split)} for r in self.nodes],
            "splits": [dataclasses.asdict(s) for s in self.splits],
            "score": self.score,
            "score_unit": SCORES.get(self.score, self.score),
            "rows": self.rows,
            "columns": list(self.columns),
            "standardized": self.standardized,
            "fits": {**dataclasses.asdict(self.fits), "saved": self.fits.saved},
            "notes": list(self.notes),
            "config": dict(self.config),
            "interventions": dict(self.interventions),
        }
        return clean(d)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "HypothesisReport":
        """What ``to_dict`` wrote (missing numbers come back as NaN)."""
        def num(v: Any) -> float:
            return float("nan") if v is None else float(v)

        cands = []
        for c in d["candidates"]:
            cl = c.get("classical")
            classical = Classical(**{k: (num(v) if k not in ("bic_kind", "ci_test", "contradictions")
                                         and not isinstance(v, int) else v)
                                     for k, v in cl.items()}) if cl else None
            cands.append(CandidateResult(c["name"], tuple(tuple(e) for e in c["edges"]), num(c["score"]),
                                         (num(c["ci"][0]), num(c["ci"][1])), int(c["rank"]), int(c.get("mec", 0)),
                                         num(c.get("varsortability")), classical, num(c.get("se_rows")),
                                         num(c.get("se_fit"))))
        pairs = tuple(PairResult(p["a"], p["b"], num(p["difference"]), (num(p["ci"][0]), num(p["ci"][1])),
                                 num(p["p_value"]), num(p.get("p_raw", p["p_value"])), num(p.get("p_loss_greater")),
                                 bool(p["markov_equivalent"]), int(p.get("shd", 0)), p.get("rests_on", ""),
                                 tuple(num(v) for v in p.get("ci_rows", [None, None])), num(p.get("se_rows")),
                                 num(p.get("se_fit")), float("inf") if p.get("df") is None else float(p["df"]))
                      for p in d["pairs"])
        nodes = tuple(NodeResult(r["candidate"], r["node"], tuple(r["parents"]), num(r["score"]),
                                 {k: num(v) for k, v in r.get("by_split", {}).items()}, r.get("mechanism", ""))
                      for r in d.get("nodes", []))
        fits = {k: v for k, v in d.get("fits", {}).items() if k != "saved"}
        return cls(tuple(cands), pairs, nodes, tuple(SplitInfo(**s) for s in d.get("splits", [])), d.get("score", "nll"),
                   int(d.get("rows", 0)), tuple(d.get("columns", [])), bool(d.get("standardized", True)),
                   FitCount(**fits) if fits else FitCount(0, 0, 0, 0, 0, 0, 0.0), tuple(d.get("notes", [])),
                   dict(d.get("config", {})), dict(d.get("interventions", {})))

    # ------------------------------------------------------------------ files
    def figures(self, alpha: float = 0.05) -> dict[str, bytes]:
        """PNG images: ``ranking`` (scores with intervals), ``pairs`` (heat map of the
        paired differences, significant ones starred), ``nodes`` (per-node breakdown)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        out: dict[str, bytes] = {}
        unit = SCORES.get(self.score, self.score)
        ranked = self.ranking()
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(ranked) + 1.4))
        y = np.arange(len(ranked))[::-1]
        scores = np.array([c.score for c in ranked])
        err = np.array([[c.score - c.ci[0] for c in ranked], [c.ci[1] - c.score for c in ranked]])
        ax.errorbar(scores, y, xerr=err, fmt="o", color="#1f77b4", capsize=3)
        ax.set_yticks(y, [c.name for c in ranked])
        ax.set_xlabel(f"{unit}, 95% interval (lower is better)")
        ax.set_title("Ranking")
        fig.tight_layout()
        out["ranking"] = _png(fig, plt)

        m = self.difference_matrix()
        fig, ax = plt.subplots(figsize=(0.55 * len(m) + 2.5, 0.5 * len(m) + 1.8))
        lim = float(np.nanmax(np.abs(m.to_numpy()))) or 1.0
        im = ax.imshow(m.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim)
        ax.set_xticks(range(len(m)), m.columns, rotation=60, ha="right")
        ax.set_yticks(range(len(m)), m.index)
        sig = {(p.a, p.b) for p in self.pairs if p.significant(alpha)} | {(p.b, p.a) for p in self.pairs if p.significant(alpha)}
        if len(m) <= 25:
            for i, a in enumerate(m.index):
                for j, b in enumerate(m.columns):
                    if (a, b) in sig:
                        ax.text(j, i, "*", ha="center", va="center", color="black")
        fig.colorbar(im, ax=ax, label="score of row − score of column")
        ax.set_title("Paired differences (* significant, Holm)")
        fig.tight_layout()
        out["pairs"] = _png(fig, plt)

        nm = self.node_matrix()
        fig, ax = plt.subplots(figsize=(0.7 * nm.shape[1] + 2.5, 0.45 * nm.shape[0] + 1.8))
        im = ax.imshow(nm.to_numpy(dtype=float), cmap="viridis_r")
        ax.set_xticks(range(nm.shape[1]), nm.columns, rotation=60, ha="right")
        ax.set_yticks(range(nm.shape[0]), nm.index)
        fig.colorbar(im, ax=ax, label=f"node's {unit}")
        ax.set_title("Per-node breakdown (lower is better)")
        fig.tight_layout()
        out["nodes"] = _png(fig, plt)
        return out

    def save(self, folder: str | os.PathLike, figures: bool = True) -> list[Path]:
        """Write ``report.json``, ``ranking.csv``, ``pairs.csv``, ``nodes.csv`` and (with
        ``figures``) ``ranking.png``, ``pairs.png``, ``nodes.png`` into ``folder``."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        paths = [root / "report.json", root / "ranking.csv", root / "pairs.csv", root / "nodes.csv"]
        self.to_json(paths[0])
        self.ranking_table().to_csv(paths[1], index=False)
        self.pairs_table().to_csv(paths[2], index=False)
        self.nodes_table().to_csv(paths[3], index=False)
        if figures:
            for name, png in self.figures().items():
                p = root / f"{name}.png"
                p.write_bytes(png)
                paths.append(p)
        return paths


def _png(fig: Any, plt: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
