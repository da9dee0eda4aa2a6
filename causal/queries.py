"""The query semantics, implemented once for every model: observational, conditional,
interventional and counterfactual (Pearl's abduction, action, prediction).

A model takes part by satisfying the ``Mechanisms`` protocol: per node, draw exogenous
noise, predict the node from its parents and noise, and (for counterfactuals) abduct the
noise from an observed value. Ground-truth SCMs and trained generators use the same code,
so the same laws hold for both and are tested once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from causal.data import DataError, Schema, shown
from causal.graph import CausalGraph
from causal.interventions import Cut, Intervention, InterventionError, parse_do
from causal.limits import check_draw, max_rows

Seed = int | np.random.Generator | None


class EvidenceError(ValueError):
    """Conditioning on an event the model gives (near) zero probability, or a bad event."""


class NotFiniteError(ValueError):
    """A query whose answer would not be a finite number (inf or NaN): an input (an
    intervention's value, a row) so far outside the model's data that its arithmetic
    overflows. Refused rather than returned: the message names the node and the value."""


@runtime_checkable
class Mechanisms(Protocol):
    """What a model must provide for the shared query code.

    Values are codes (see ``Schema``): float arrays for continuous nodes, int64 category
    indices for discrete ones. ``noise`` arrays are the model's own exogenous variables,
    one row per sample; their meaning is private to the model.
    """

    graph: CausalGraph
    schema: Schema

    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def predict(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray: ...

    def abduct(
        self, node: str, value: np.ndarray, parents: Mapping[str, np.ndarray], rng: np.random.Generator
    ) -> np.ndarray: ...


def rng_from(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# ---------------------------------------------------------------------- sampling
def simulate(
    m: Mechanisms,
    n: int,
    interventions: tuple[Intervention, ...] = (),
    rng: Seed = None,
    *,
    nodes: Collection[str] | None = None,
    known: Mapping[str, np.ndarray] | None = None,
    cuts: tuple[Cut, ...] = (),
) -> dict[str, np.ndarray]:
    """Draw ``n`` joint samples (as codes) under the given interventions.

    ``nodes`` (closed under parents) limits the draw to those nodes; ``known`` holds values
    already drawn for some nodes (``n`` each), which are kept and their descendants drawn
    given them. Conditioning uses both: it rejects on the ancestors of the evidence alone,
    then completes the accepted rows. ``cuts`` (``causal.interventions.Cut``) remove edges:
    a cut edge's child sees its reference value or an independent copy of the parent (see
    ``edge_copies``) instead of the parent's value on the row.

    Noise is drawn for every node in canonical order whatever the intervention, so two
    calls with the same seed share their exogenous noise (common random numbers): the
    difference between ``do(x=a)`` and ``do(x=b)`` is then free of sampling noise upstream
    (and cuts change nothing that does not descend from a cut edge's child).
    """
    rng = rng_from(seed=rng)
    ivs = {iv.node: iv for iv in interventions}
    _check_row_values(ivs, n)
    values: dict[str, np.ndarray] = dict(known or {})
    todo = [v for v in m.graph.nodes if v not in values and (nodes is None or v in nodes)]
    copies = edge_copies(m, n, interventions, rng, tuple(c for c in cuts if c.child in todo))
    for node in todo:
        u = m.noise(node, n, rng)
        iv = ivs.get(node)
        if iv is not None and iv.kind == "set":
            values[node] = iv.apply(None, n)
            continue
        x = m.predict(node, _parents(m, node, values, copies), u)
        values[node] = check_finite(m.schema, node, iv.apply(x, n) if iv is not None else x, ivs)
    return values


def edge_copies(m: Mechanisms, n: int, interventions: tuple[Intervention, ...], rng: np.random.Generator,
                cuts: tuple[Cut, ...]) -> dict[tuple[str, str], np.ndarray]:
    """What each cut edge's child sees in place of the parent, ``{(parent, child): values}``:
    the reference value, or an independent copy of the parent drawn from its distribution
    in the edited model (under the same interventions, with the cuts among its ancestors),
    one copy per parent shared by its cut edges. Copies come from a stream spawned from
    ``rng`` without drawing from it, so the main draw keeps its common random numbers."""
    out: dict[tuple[str, str], np.ndarray] = {}
    copies: dict[str, np.ndarray] = {}
    for c in cuts:
        if c.reference is not None:
            out[(c.parent, c.child)] = np.full(n, c.reference)
            continue
        if c.parent not in copies:
            ancestral = _ancestral_set(m, [c.parent])
            inner = tuple(k for k in cuts if k.child in ancestral)
            copies[c.parent] = simulate(m, n, interventions, _spawn(rng), nodes=ancestral, cuts=inner)[c.parent]
        out[(c.parent, c.child)] = copies[c.parent]
    return out


def _parents(m: Mechanisms, node: str, values: Mapping[str, np.ndarray],
             copies: Mapping[tuple[str, str], np.ndarray]) -> dict[str, np.ndarray]:
    """A node's parents' values as its mechanism sees them (cut edges: their copies)."""
    return {p: copies.get((p, node), values[p]) if copies else values[p] for p in m.graph.parents(node)}


def _spawn(rng: np.random.Generator) -> np.random.Generator:
    """An independent stream derived from ``rng``'s seed, leaving ``rng``'s draws as they were."""
    seq = getattr(rng.bit_generator, "seed_seq", None)
    if seq is None or not hasattr(seq, "spawn"):
        return np.random.default_rng(rng.bit_generator.random_raw())
    return np.random.default_rng(seq.spawn(1)[0])


def check_finite(schema: Schema, node: str, x: np.ndarray, ivs: Mapping[str, Intervention] | None = None) -> np.ndarray:
    """``x`` (the values a query computed for ``node``) when every one is finite; else
    ``NotFiniteError`` naming the node, the value, and the data's range of what was
    intervened on (the usual cause: a value far outside it)."""
    if x.dtype.kind != "f":
        return x
    finite = np.isfinite(x)
    if finite.all():
        return x
    i, ivs = int(np.flatnonzero(~finite)[0]), ivs or {}
    ranges = [f"{c.name} was between {c.min:.4g} and {c.max:.4g}" for c in (schema[v] for v in ivs)
              if not c.discrete and np.isfinite(c.min) and np.isfinite(c.max)]
    under = f" under {', '.join(str(iv) for iv in ivs.values())}" if ivs else ""
    raise NotFiniteError(
        f"the value of '{node}' overflows to {shown(x[i])} for {int((~finite).sum()):,} of {len(x):,} rows{under}: an "
        f"input lies too far outside the data the model was fitted on{' (' + '; '.join(ranges) + ')' if ranges else ''}; "
        "use values nearer it"
    )


def sample(m: Mechanisms, n: int, do: Mapping[str, Any] | None = None, seed: Seed = None,
           cuts: tuple[Cut, ...] = ()) -> pd.DataFrame:
    """Observational (no ``do``) or interventional samples as a DataFrame (at most
    ``causal.limits.MAX_SAMPLE_VALUES`` values per call), with the edges ``cuts`` removed."""
    _check_n(n, len(m.graph.nodes))
    ivs = parse_do(do, m.schema)
    return m.schema.decode(simulate(m, n, ivs, seed, cuts=cuts), exact={iv.node for iv in ivs})


@dataclass(frozen=True)
class ConditionalSample:
    """Samples that satisfy ``given``, and how hard they were to get."""

    data: pd.DataFrame
    draws: int
    accepted: int
    events: dict[str, tuple[float, float] | Any] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(self.draws, 1)


def _ancestral_set(m: Mechanisms, nodes: Collection[str]) -> set[str]:
    out = set(nodes)
    for node in nodes:
        out.update(m.graph.ancestors(node))
    return out


@dataclass(frozen=True)
class DrawPool:
    """Observational draws of an ancestral set (codes), kept to answer many conditioning
    queries on its nodes: each query then only selects the rows in its event and draws the
    other nodes for those rows (an app moving a slider asks one such query per move).

    Every query answered from the same pool reuses the same draws, so answers to nearby
    queries are correlated; each is still an exact sample of the model's conditional."""

    nodes: frozenset[str]
    values: Mapping[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(next(iter(self.values.values())))


def draw_pool(m: Mechanisms, nodes: Collection[str], size: int = 200_000, seed: Seed = None) -> DrawPool:
    """``size`` observational draws of ``nodes`` and their ancestors, for ``sample_conditional(pool=)``."""
    _check_n(size, len(m.graph.nodes))
    unknown = [v for v in nodes if v not in m.schema]
    if unknown:
        raise EvidenceError(f"no such node(s) {', '.join(unknown)}; the nodes are {', '.join(m.schema.names)}")
    anc = _ancestral_set(m, nodes)
    return DrawPool(frozenset(anc), simulate(m, size, (), rng_from(seed), nodes=anc))


def sample_conditional(
    m: Mechanisms,
    n: int,
    given: Mapping[str, Any],
    do: Mapping[str, Any] | None = None,
    seed: Seed = None,
    *,
    tolerance: float = 0.05,
    max_draws: int = 2_000_000,
    min_accepted: int | None = None,
    pool: DrawPool | None = None,
    cuts: tuple[Cut, ...] = (),
) -> ConditionalSample:
    """Samples from P(· | given) (under ``do`` when given), by rejection.

    A discrete node must equal its given value. A continuous node given a number ``v``
    must fall in ``v ± tolerance · sd`` (sd of that node among the draws), or in ``[lo, hi]``
    when given a pair. Draws continue in growing chunks up to ``max_draws``; if fewer
    than ``min_accepted`` (default ``min(n, 50)``) samples fall in the event, the event
    has (near) zero probability under the model and ``EvidenceError`` says so.

    Rejection looks at the evidence's ancestral set only; the other nodes are drawn for
    the accepted rows. ``pool`` (from ``draw_pool``, of this model, with no ``do``) serves
    as the first draws, so that a query only draws afresh when the pool has too few rows
    in its event.
    """
    _check_n(n, len(m.graph.nodes))
    if not given:
        return ConditionalSample(sample(m, n, do, seed, cuts), n, n)
    rng = rng_from(seed)
    ivs = parse_do(do, m.schema)
    set_nodes = {iv.node: iv for iv in ivs if iv.kind == "set"}
    min_acc = min(n, 50) if min_accepted is None else min_accepted
    events: dict[str, Any] = {}
    for node, v in given.items():
        if node not in m.schema:
            raise EvidenceError(f"cannot condition on '{node}': no such node; the nodes are {', '.join(m.schema.names)}")
        col = m.schema[node]
        if col.discrete:
            try:
                events[node] = col.code(v)
            except ValueError as e:
                raise EvidenceError(f"cannot condition: {e}") from None
        elif isinstance(v, (tuple, list)) and len(v) == 2:
            lo, hi = float(v[0]), float(v[1])
            if not lo <= hi:
                raise EvidenceError(f"the range given for '{node}' is empty: [{lo}, {hi}]")
            events[node] = (lo, hi)
        else:
            try:
                events[node] = float(v)
            except (TypeError, ValueError):
                raise EvidenceError(f"cannot condition on {node} = {shown(v)}: give a number or a (low, high) pair") from None
            if not np.isfinite(events[node]):
                raise EvidenceError(f"cannot condition on {node} = {shown(v)}: give a finite number or a (low, high) range")
        if node in set_nodes and np.ndim(set_nodes[node].value) == 0:
            fixed = set_nodes[node].value
            ok = fixed == events[node] if col.discrete else (
                events[node][0] <= fixed <= events[node][1] if isinstance(events[node], tuple) else np.isclose(fixed, events[node])
            )
            if not ok:
                raise EvidenceError(f"given {node} = {shown(v)} contradicts do({node} = {shown(fixed)}): the event has probability 0")

    # P(v | E) = P(A | E) · P(rest | A) for the evidence's ancestral set A (closed under
    # parents): reject on A alone, then draw the rest forward for the accepted rows only.
    ancestral = _ancestral_set(m, events)
    if pool is not None and (ivs or cuts or not ancestral <= pool.nodes):
        pool = None  # drawn without interventions, or for other nodes: not a sample of this
    kept: list[dict[str, np.ndarray]] = []
    accepted = draws = 0
    chunk = max(4 * n, 20_000)
    windows: dict[str, tuple[float, float]] = {}
    while accepted < n and (draws < max_draws or pool is not None):
        if pool is not None:
            size, vals, pool = pool.size, {k: pool.values[k] for k in ancestral}, None
        else:
            size = int(min(chunk, max_draws - draws, max_rows(len(ancestral))))
            vals = simulate(m, size, ivs, rng, nodes=ancestral, cuts=cuts)
        draws += size
        mask = np.ones(size, dtype=bool)
        for node, ev in events.items():
            x = vals[node]
            if m.schema[node].discrete:
                mask &= x == ev
                continue
            if node not in windows:
                if isinstance(ev, tuple):
                    windows[node] = ev
                else:
                    sd = float(np.std(x)) or 1.0
                    windows[node] = (ev - tolerance * sd, ev + tolerance * sd)
            lo, hi = windows[node]
            mask &= (x >= lo) & (x <= hi)
        k = int(mask.sum())
        if k:
            kept.append({name: v[mask] for name, v in vals.items()})
            accepted += k
        rate = accepted / draws
        chunk = int(min(max(chunk, 1.3 * (n - accepted) / rate if rate > 0 else 4 * chunk), 1_000_000))

    described = {**{k: m.schema[k].categories[v] for k, v in events.items() if m.schema[k].discrete}, **windows}
    if accepted < min_acc:
        desc = ", ".join(
            f"{k} in [{w[0]:.4g}, {w[1]:.4g}]" if isinstance(w, tuple) else f"{k} = {shown(w)}" for k, w in described.items()
        )
        raise EvidenceError(
            f"the event {desc} has (near) zero probability under this model: {accepted} of {draws:,} samples "
            f"fell in it. Choose a value inside the data's range, widen the tolerance, or intervene instead."
        )
    merged = {name: np.concatenate([c[name] for c in kept])[:n] for name in ancestral}
    merged = simulate(m, len(merged[next(iter(events))]), ivs, rng, known=merged, cuts=cuts)
    return ConditionalSample(m.schema.decode(merged, exact={iv.node for iv in ivs}), draws, accepted, described)


# ---------------------------------------------------------------------- counterfactuals
def counterfactual(
    m: Mechanisms, rows: pd.DataFrame, do: Mapping[str, Any] | None, seed: Seed = None, cuts: tuple[Cut, ...] = ()
) -> pd.DataFrame:
    """What each row would have been under ``do``: abduction, action, prediction.

    1. Abduction: for every node the intervention can affect, infer its exogenous noise
       from the row (``m.abduct``; a sample from the noise posterior for discrete nodes).
    2. Action: replace the intervened mechanisms, and with ``cuts`` remove those edges (the
       counterfactual world is the edited model: a cut edge's child sees its reference
       value or an independent copy of the parent, ``edge_copies``; the rows are factual,
       from the model as it is).
    3. Prediction: recompute the affected nodes in canonical order from the new parents
       and the abducted noise. Nodes the intervention cannot reach keep their values
       exactly. Returns a frame with the same index and columns as ``rows``.
    """
    if not isinstance(rows, pd.DataFrame):
        raise DataError("counterfactual rows must be a pandas DataFrame with one column per node")
    missing = [c for c in m.graph.nodes if c not in rows.columns]
    if missing:
        raise DataError(f"the rows have no column for node(s) {', '.join(missing)}")
    bad = [c for c in m.graph.nodes if _has_missing(rows[c])]
    if bad:
        raise DataError(f"the rows have missing values in {', '.join(bad)}")
    rng = rng_from(seed)
    ivs = {iv.node: iv for iv in parse_do(do, m.schema)}
    n = len(rows)
    _check_row_values(ivs, n)
    factual = m.schema.encode(rows)
    affected = set(ivs) | {c.child for c in cuts}
    for node in list(affected):
        affected.update(m.graph.descendants(node))

    # 1. abduction (on factual parents)
    noise: dict[str, np.ndarray] = {}
    for node in m.graph.nodes:
        if node in affected and not (node in ivs and ivs[node].kind == "set"):
            pa = {p: factual[p] for p in m.graph.parents(node)}
            noise[node] = m.abduct(node, factual[node], pa, rng)
    # 2. action and 3. prediction
    copies = edge_copies(m, n, tuple(ivs.values()), rng, cuts)
    cf: dict[str, np.ndarray] = {}
    for node in m.graph.nodes:
        iv = ivs.get(node)
        if node not in affected:
            cf[node] = factual[node]
        elif iv is not None and iv.kind == "set":
            cf[node] = iv.apply(None, n)
        else:
            x = m.predict(node, _parents(m, node, cf, copies), noise[node])
            cf[node] = check_finite(m.schema, node, iv.apply(x, n) if iv is not None else x, ivs)
    # one frame built from its columns: setting columns one by one on a copy costs more
    # than the whole query on a 2,500-row table
    decoded = m.schema.decode_arrays(cf, affected, exact=ivs)
    return pd.DataFrame(
        {c: decoded[c] if c in decoded else rows[c] for c in rows.columns}, index=rows.index, copy=False
    )


def _has_missing(col: pd.Series) -> bool:
    values = col.to_numpy()
    if values.dtype.kind in "biu":  # integers and booleans cannot hold a missing value
        return False
    if values.dtype.kind == "f":
        return bool(np.isnan(values).any())
    return bool(col.isna().any())


# ---------------------------------------------------------------------- mixin
class QueryMixin:
    """``sample``, ``sample_conditional`` and ``counterfactual`` for any ``Mechanisms``;
    ``cuts`` (edges the model has had removed, ``causal.interventions.Cut``) apply to every
    query."""

    cuts: tuple[Cut, ...] = ()

    def sample(
        self,
        n: int,
        do: Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        seed: Seed = None,
        **conditioning: Any,
    ) -> pd.DataFrame:
        """``n`` samples: observational, interventional (``do``), conditional (``given``).

        With ``given``, ``df.attrs`` holds ``acceptance_rate``, ``draws`` and the event.
        Keyword options (``tolerance``, ``max_draws``) go to ``sample_conditional``.
        """
        if not given:
            if conditioning:
                raise TypeError(f"unexpected option(s) {', '.join(conditioning)} without given=")
            return sample(self, n, do, seed, self.cuts)  # type: ignore[arg-type]
        res = sample_conditional(self, n, given, do, seed, cuts=self.cuts, **conditioning)  # type: ignore[arg-type]
        df = res.data
        df.attrs.update(acceptance_rate=res.acceptance_rate, draws=res.draws, accepted=res.accepted, event=res.events)
        return df

    def sample_conditional(self, n: int, given: Mapping[str, Any], do: Mapping[str, Any] | None = None, seed: Seed = None, **kw: Any) -> ConditionalSample:
        return sample_conditional(self, n, given, do, seed, cuts=self.cuts, **kw)  # type: ignore[arg-type]

    def counterfactual(self, rows: pd.DataFrame, do: Mapping[str, Any] | None = None, seed: Seed = None) -> pd.DataFrame:
        """Counterfactual of each row under ``do``; same index and columns as ``rows``."""
        return counterfactual(self, rows, do, seed, self.cuts)  # type: ignore[arg-type]


def _check_n(n: int, width: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of samples must be a positive integer, got {shown(n)}")
    check_draw(n, width)


def _check_row_values(ivs: Mapping[str, Intervention], n: int) -> None:
    for iv in ivs.values():
        if iv.kind == "set" and np.ndim(iv.value) == 1 and len(iv.value) != n:
            raise InterventionError(
                f"do({iv.node}) has {len(iv.value)} values for {n} rows; give one value, or one per row"
            )
