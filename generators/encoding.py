"""How node values become network columns: ``Layout`` places every node of a schema in one
encoded matrix (standardized continuous, 0/1 binary, one-hot categorical); ``LabelEncoding``
does the same for the labels an image network reads or predicts."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import Schema, shown
from causal.graph import CausalGraph
from causal.queries import NotFiniteError

__all__ = ["Layout", "LabelEncoding"]


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
        with np.errstate(over="ignore", invalid="ignore"):
            z = ((values - col.mean) / col.std).astype(np.float32)
        if not np.isfinite(z).all():
            v = np.asarray(values, dtype=np.float64)[int(np.flatnonzero(~np.isfinite(z))[0])]
            raise NotFiniteError(
                f"'{node}' = {shown(v)} is too far from the data the model was fitted on (mean {col.mean:.4g}, sd "
                f"{col.std:.4g}, between {col.min:.4g} and {col.max:.4g}) for it to compute with; use a value nearer it")
        return z[:, None]

    def encode(self, codes: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([self.encode_node(c.name, codes[c.name]) for c in self.schema.columns], axis=1)


class LabelEncoding:
    """The encoded columns of some label nodes, for networks: binary 0/1, categorical
    one-hot, continuous standardized (a ``Layout`` over those nodes).

    Also the matching per-label losses of a network that *predicts* the labels from
    logits / values in the same columns (labelers, label heads): squared error for
    continuous, binary cross-entropy with logits for binary, cross-entropy for categorical.
    """

    def __init__(self, schema: Schema, nodes: Sequence[str]) -> None:
        self.nodes = tuple(nodes)
        self.schema = Schema(tuple(schema[n] for n in self.nodes))
        self.layout = Layout(self.schema)
        self.width = self.layout.width
        self.slices = self.layout.slices

    def encode(self, labels: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Label values (a DataFrame) or codes (a mapping) -> float32 ``[n, width]``."""
        codes = self.schema.encode(labels) if isinstance(labels, pd.DataFrame) else labels
        if not self.nodes:
            n = len(labels) if isinstance(labels, pd.DataFrame) else len(next(iter(codes.values()), []))
            return np.zeros((n, 0), dtype=np.float32)
        return self.layout.encode(codes).astype(np.float32)

    def tensor(self, labels: pd.DataFrame | Mapping[str, np.ndarray], device: Any = None) -> Tensor:
        return torch.from_numpy(self.encode(labels)).to(device)

    def decode(self, predicted: Tensor | np.ndarray, index: Any = None) -> pd.DataFrame:
        """Predictions in these columns (logits for discrete labels) -> label values."""
        p = predicted.detach().float().cpu().numpy() if isinstance(predicted, Tensor) else np.asarray(predicted)
        codes = {}
        for c in self.schema.columns:
            sl = self.slices[c.name]
            if c.kind == "categorical":
                codes[c.name] = p[:, sl].argmax(1)
            elif c.kind == "binary":
                codes[c.name] = (p[:, sl.start] > 0).astype(np.int64)
            else:
                codes[c.name] = c.mean + c.std * p[:, sl.start].astype(np.float64)
        return self.schema.decode(codes, index=index)

    def losses(self, predicted: Tensor, target: Tensor) -> Tensor:
        """Mean loss per label ``[n_labels]`` of ``predicted`` (values / logits) against
        ``target`` (encoded labels, as from ``encode``)."""
        out = []
        for c in self.schema.columns:
            sl = self.slices[c.name]
            if c.kind == "categorical":
                out.append(nn.functional.cross_entropy(predicted[:, sl], target[:, sl].argmax(1)))
            elif c.kind == "binary":
                out.append(nn.functional.binary_cross_entropy_with_logits(predicted[:, sl.start], target[:, sl.start]))
            else:
                out.append(((predicted[:, sl.start] - target[:, sl.start]) ** 2).mean())
        return torch.stack(out) if out else predicted.new_zeros(0)
