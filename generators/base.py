"""What every tabular causal generator shares: data encoding, fitting through the generic
loop, Gumbel-max discrete mechanisms, and safe save/load (safetensors + JSON)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from causal.data import Schema, load_table
from causal.graph import CausalGraph, require_graph
from causal.queries import QueryMixin
from generators.support import PREFIX as SUPPORT_PREFIX
from generators.support import Support
from generators import distributed
from generators.training import Callback, FitReport, Progress, TrainConfig, pick_device, train

FORMAT = "counterfactory-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"
PREV_WEIGHTS = "model.prev.safetensors"  # only while a save replaces the weights (see write_checkpoint)


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged, of an unknown kind, or for another graph."""


class NotFittedError(RuntimeError):
    pass


class Layout:
    """Where each node lives in the encoded input matrix, in canonical order.

    Continuous nodes: one standardized column. Binary: one 0/1 column. Categorical with K
    values: K one-hot columns.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.slices: dict[str, slice] = {}
        start = 0
        for c in schema.columns:
            w = len(c.categories) if c.kind == "categorical" else 1
            self.slices[c.name] = slice(start, start + w)
            start += w
        self.width = start
        self.mean = {c.name: c.mean for c in schema.columns if not c.discrete}
        self.std = {c.name: c.std for c in schema.columns if not c.discrete}

    def mask(self, graph: CausalGraph) -> Tensor:
        """``mask[j, i] = 1`` when input column ``i`` encodes a parent of node ``j``."""
        m = torch.zeros(len(graph.nodes), self.width)
        for j, node in enumerate(graph.nodes):
            for p in graph.parents(node):
                m[j, self.slices[p]] = 1.0
        return m

    def encode_node(self, node: str, values: np.ndarray) -> np.ndarray:
        col = self.schema[node]
        if col.kind == "categorical":
            return np.eye(len(col.categories), dtype=np.float32)[values.astype(np.int64)]
        if col.kind == "binary":
            return values.astype(np.float32)[:, None]
        return ((values - col.mean) / col.std).astype(np.float32)[:, None]

    def encode(self, codes: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([self.encode_node(c.name, codes[c.name]) for c in self.schema.columns], axis=1)


# ---------------------------------------------------------------------- discrete nodes
def quantile_draws(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from distributions kept as quantiles on a uniform grid of
    probabilities (``q[..., k]`` is the ``k / (K - 1)`` quantile), linear between knots.
    ``q`` is ``[K]`` with ``u`` uniform ``[n]``, or ``[d, K]`` with ``u`` ``[n, d]``."""
    pos = u * (q.shape[-1] - 1)
    i = np.minimum(pos.astype(np.int64), q.shape[-1] - 2)
    if q.ndim == 1:
        lo, hi = q[i], q[i + 1]
    else:
        rows = np.arange(q.shape[0])[None, :]
        lo, hi = q[rows, i], q[rows, i + 1]
    return lo + (pos - i) * (hi - lo)


def gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return -np.log(-np.log(rng.random(shape).clip(1e-300, 1.0)))


def gumbel_posterior(logits: np.ndarray, observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gumbel noise ``g`` drawn from its posterior given ``argmax(logits + g) == observed``.

    The Gumbel-max SCM of Oberst & Sontag (2019): the maximum ``logits_k + g_k`` is
    Gumbel(logsumexp(logits)), taken by the observed category; every other category's
    perturbed logit is a Gumbel truncated below that maximum. Counterfactuals then reuse
    ``g`` with the new logits, which keeps the observed category whenever it stays likely.
    """
    n, k = logits.shape
    lse = np.logaddexp.reduce(logits, axis=1)
    top = lse + gumbel(rng, (n,))
    z = logits + gumbel(rng, (n, k))
    trunc = -np.logaddexp(-top[:, None], -z)  # Gumbel(logits) truncated to <= top
    rows = np.arange(n)
    trunc[rows, observed] = top
    return trunc - logits


# ---------------------------------------------------------------------- base model
class TabularModel(QueryMixin):
    """Base of every tabular generator: subclasses define the network (``_build``, whose
    module has ``loss(batch)``) and the mechanisms (``_continuous_noise``, ``_predict_z``,
    ``_abduct_z``, ``_logits``); fitting, Gumbel-max discrete nodes and persistence live here."""

    kind: ClassVar[str] = "abstract"
    Config: ClassVar[type] = object

    def __init__(self, graph: CausalGraph | str, config: Any = None) -> None:
        self.graph = require_graph(graph)
        self.config = config if config is not None else self.Config()
        self._schema: Schema | None = None
        self.layout: Layout | None = None
        self.net: nn.Module | None = None
        self.report: FitReport | None = None
        self.support: Support | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: pd.DataFrame,
        seed: int = 0,
        *,
        callbacks: Iterable[Callback] = (),
        cancel: threading.Event | Callable[[], bool] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        schema: Schema | None = None,
    ) -> FitReport:
        """Fit every node's mechanism to ``data`` (one column per node; others ignored).

        The table is validated first (missing columns, NaN, text in numeric columns,
        constant columns, too few rows each raise ``DataError``). With ``checkpoint_dir``
        the best model so far is saved there during training, atomically, and at the end.
        ``schema`` imposes the columns' kinds, categories and scales instead of the data's
        own (a refit that must share another model's coordinates, e.g. CCGM's de-biasing).
        """
        table, found = load_table(data, self.graph, extra="drop")
        schema = schema if schema is not None else found
        self.schema = schema
        self.graph = self.graph.with_kinds({c.name: c.kind for c in schema.columns})
        self.layout = Layout(schema)
        torch.manual_seed(seed)
        device = pick_device(self._train_config().device)
        self.net = self._build(schema).to(device)
        x = torch.from_numpy(self.layout.encode(schema.encode(table))).to(device)

        self.support = Support.fit(self.graph, self._parent_columns(), x, seed=seed)

        def save_checkpoint(_: Progress) -> None:
            self._finalize(x)
            self.save(checkpoint_dir)  # type: ignore[arg-type]

        self.report = train(
            self.net,
            x,
            self._train_config(),
            seed=seed,
            callbacks=callbacks,
            cancel=cancel,
            checkpoint=save_checkpoint if checkpoint_dir is not None else None,
        )
        self._finalize(x)
        if checkpoint_dir is not None and distributed.is_main():
            self.save(checkpoint_dir)
        return self.report

    def _parent_columns(self) -> dict[str, list[int]]:
        """Encoded input columns of each node's parents."""
        assert self.layout is not None
        return {
            n: [i for p in self.graph.parents(n) for i in range(self.layout.slices[p].start, self.layout.slices[p].stop)]
            for n in self.graph.nodes
        }

    def outside_support(self, data: pd.DataFrame) -> pd.DataFrame:
        """Per row and node, whether the node's parent values lie outside the training
        data's support, so that its mechanism had to extrapolate (e.g. apply it to the
        output of ``counterfactual`` or of ``sample(do=...)``). Roots are never outside.

        >>> flags = model.outside_support(model.counterfactual(rows, do={"x2": 30.0}))  # doctest: +SKIP
        >>> flags.any(axis=1).mean()  # share of counterfactuals that extrapolate  # doctest: +SKIP
        """
        self._require_fitted()
        codes = self.schema.encode(data)
        out = {}
        for node in self.graph.nodes:
            if self.support is None or not self.graph.parents(node):
                out[node] = np.zeros(len(data), dtype=bool)
                continue
            p = self._parents_tensor(node, {q: codes[q] for q in self.graph.parents(node)}, len(data))
            out[node] = self.support.outside(node, p)
        return pd.DataFrame(out, index=data.index)

    def _train_config(self) -> TrainConfig:
        return getattr(self.config, "train", TrainConfig())

    def _build(self, schema: Schema) -> nn.Module:
        raise NotImplementedError

    def _finalize(self, x: Tensor) -> None:
        """After training: estimate what needs the whole data (e.g. noise distributions)."""

    def _refresh(self) -> None:
        """After the weights change (fit, load): rebuild any cached inference state."""

    @property
    def schema(self) -> Schema:
        """The fitted data's columns; asking before ``fit`` is a clear error."""
        if self._schema is None:
            raise NotFittedError(f"this {self.kind} model is not fitted yet: call fit(data) or load a checkpoint")
        return self._schema

    @schema.setter
    def schema(self, value: Schema) -> None:
        self._schema = value

    @property
    def fitted(self) -> bool:
        return self.net is not None and self._schema is not None

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"this {self.kind} model is not fitted yet: call fit(data) or load a checkpoint")

    # ------------------------------------------------------------------ Mechanisms protocol
    def _parents_tensor(self, node: str, parents: Mapping[str, np.ndarray], n: int) -> Tensor:
        """The parents' encoded columns ``[n, n_parent_cols]`` on the model's device."""
        assert self.layout is not None
        cols = [self.layout.encode_node(p, np.asarray(parents[p])) for p in self.graph.parents(node)]
        arr = np.concatenate(cols, axis=1) if cols else np.zeros((n, 0), dtype=np.float32)
        return torch.from_numpy(arr).to(self._device)

    @property
    def _device(self) -> torch.device:
        assert self.net is not None
        return next(self.net.buffers()).device

    def noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        col = self.schema[node]  # type: ignore[index]
        if col.discrete:
            return gumbel(rng, (n, len(col.categories)))
        return self._continuous_noise(node, n, rng)

    @torch.inference_mode()
    def predict(self, node: str, parents: Mapping[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
        self._require_fitted()
        col = self.schema[node]  # type: ignore[index]
        p = self._parents_tensor(node, parents, len(noise))
        if col.discrete:
            return np.argmax(self._logits(node, p) + noise, axis=1).astype(np.int64)
        return col.mean + col.std * self._predict_z(node, p, noise)

    @torch.inference_mode()
    def abduct(self, node: str, value: np.ndarray, parents: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        self._require_fitted()
        col = self.schema[node]  # type: ignore[index]
        p = self._parents_tensor(node, parents, len(value))
        if col.discrete:
            return gumbel_posterior(self._logits(node, p), np.asarray(value, dtype=np.int64), rng)
        z = (np.asarray(value, dtype=np.float64) - col.mean) / col.std
        return self._abduct_z(node, p, z)

    # Subclasses: the continuous mechanism on standardized values z, and discrete logits.
    # ``p`` is the parents' encoded columns, ``[n, n_parent_cols]``, on the model's device.
    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _predict_z(self, node: str, p: Tensor, noise: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _abduct_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _logits(self, node: str, p: Tensor) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ persistence
    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """A checkpoint's config as this version reads it: a subclass fills in what older
        versions left implicit (a new setting whose default differs from the old behaviour)."""
        return config

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` (weights) and ``model.json`` (everything else) into the
        folder ``path``. Each file is written to a temporary name and renamed, and the JSON
        (written last) records the weights' SHA-256, so a crash never leaves a checkpoint
        that loads half-written."""
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}  # type: ignore[union-attr]
            if self.support is not None:
                state.update(self.support.tensors())
            meta = {
                "kind": self.kind,
                "config": _config_to_dict(self.config),
                "graph": self.graph.to_dict(),
                "schema": self.schema.to_dict(),  # type: ignore[union-attr]
                "fit": self.report.to_dict() if self.report else None,
            }
            write_checkpoint(folder, state, meta)
        return folder

    @classmethod
    def _from_checkpoint(cls, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> "TabularModel":
        graph = CausalGraph.from_json(meta["graph"])
        model = cls(graph, _config_from_dict(cls.Config, cls._legacy_config(meta["config"])))
        model.schema = Schema.from_dict(meta["schema"])
        model.layout = Layout(model.schema)
        model.net = model._build(model.schema)
        model.support = Support.from_tensors(state)
        state = {k: v for k, v in state.items() if not k.startswith(SUPPORT_PREFIX)}
        try:
            model.net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"the weights do not fit a {cls.kind} model of this graph: {str(e).splitlines()[0]}") from None
        model.net.eval()
        model._refresh()
        if meta.get("fit"):
            fit = dict(meta["fit"])
            fit["history"] = tuple(tuple(h) for h in fit.get("history", []))
            model.report = FitReport(**fit)
        return model


def write_checkpoint(folder: Path, state: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    """Write ``state`` as ``model.safetensors`` and ``meta`` (plus format and the weights'
    SHA-256) as ``model.json`` into ``folder``, so that a process killed at any instant
    leaves a checkpoint that loads: both are written under temporary names first; the
    weights being replaced are kept as ``model.prev.safetensors`` until the new JSON is in
    place, and ``read_checkpoint`` takes whichever weights file matches the JSON."""
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(dict(state), str(tmp))
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "weights_sha256": digest}
    tmpj = folder / (META + ".tmp")
    tmpj.write_text(json.dumps(full, indent=1, default=_json_default))
    if (folder / WEIGHTS).exists() and (folder / META).exists():
        os.replace(folder / WEIGHTS, folder / PREV_WEIGHTS)  # the current JSON's weights, kept
    os.replace(tmp, folder / WEIGHTS)
    os.replace(tmpj, folder / META)
    (folder / PREV_WEIGHTS).unlink(missing_ok=True)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Read and verify a checkpoint folder; never executes code from it."""
    folder = Path(path)
    mfile, wfile = folder / META, folder / WEIGHTS
    if not folder.is_dir():
        raise CheckpointError(f"no checkpoint folder at {folder}")
    candidates = [f for f in (wfile, folder / PREV_WEIGHTS) if f.exists()]
    if not mfile.exists() or not candidates:
        raise CheckpointError(f"{folder} is not a complete checkpoint: it needs {META} and {WEIGHTS}")
    try:
        meta = json.loads(mfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{mfile} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{mfile} is not a Counterfactory model file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{mfile} was written by a newer Counterfactory (format {meta['format_version']}); upgrade to load it")
    want = meta.get("weights_sha256")
    # the weights the JSON names: model.safetensors, or the previous file a save killed
    # between replacing the weights and the JSON left beside it
    chosen = next((f for f in candidates if not want or hashlib.sha256(f.read_bytes()).hexdigest() == want), None)
    if chosen is None:
        raise CheckpointError(f"{wfile} does not match {mfile} (damaged or from another save)")
    try:
        state = load_file(str(chosen))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read weights from {chosen}: {e}") from None
    return meta, state


def _config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def _config_from_dict(cls: type, d: Mapping[str, Any]) -> Any:
    """Rebuild a (possibly nested) frozen config dataclass; unknown keys are an error."""
    if not dataclasses.is_dataclass(cls):
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise CheckpointError(f"unknown setting(s) in checkpoint config: {', '.join(sorted(unknown))}")
    kw = {}
    for name, value in d.items():
        ftype = fields[name].type
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            kw[name] = _config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            kw[name] = tuple(value)
        else:
            kw[name] = value
        del ftype
    return cls(**kw)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")
