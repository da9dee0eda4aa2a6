"""How node values become network columns: ``Layout`` places every node of a schema in one
encoded matrix (standardized continuous, 0/1 binary, one-hot categorical); ``LabelEncoding``
does the same for the labels an image network reads or predicts; ``LabelFeatures`` expands a
continuous label into smooth features for a network that reads labels."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import Schema, shown
from causal.graph import CausalGraph
from causal.queries import NotFiniteError

__all__ = ["Layout", "LabelEncoding", "LabelFeatures"]


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


class LabelFeatures(nn.Module):
    """What a network reads of encoded labels (``LabelEncoding`` columns): every column as it
    is, followed, for each continuous label, by ``k`` Gaussian bumps
    ``exp(−(s − c_j)² / (2h²))`` of its standardized value ``s`` at centres ``c_j`` evenly
    spaced over the label's training range, ``h`` their spacing (radial basis features,
    Broomhead & Lowe 1988). Nearby values give nearby features and distant ones nearly
    orthogonal ones, so a linear layer over them (a generator's first layer, a projection
    discriminator's label embedding) is a smooth but freely shaped function of the value,
    where the value alone gives only a linear one. ``k = 0`` or no continuous label: the
    columns unchanged. No weights: the centres follow from the schema.

    >>> from causal.data import Column
    >>> x = Column("x", "continuous", mean=1.5, std=1.0, min=0.0, max=3.0)  # centres at x = 0, 1, 2, 3
    >>> f = LabelFeatures(LabelEncoding(Schema((x, Column("b", "binary", (0, 1)))), ("x", "b")), k=4)
    >>> f.width, f(torch.tensor([[-0.5, 1.0]])).double().numpy().round(2).tolist()  # x = 1, b = 1
    (6, [[-0.5, 1.0, 0.61, 1.0, 0.61, 0.14]])
    """

    def __init__(self, encoding: LabelEncoding, k: int) -> None:
        super().__init__()
        self.k = int(k)
        cont = [c for c in encoding.schema.columns if not c.discrete] if self.k > 0 else []
        self.columns = [encoding.slices[c.name].start for c in cont]
        centres, spacing = [], []
        for c in cont:
            lo, hi = (c.min - c.mean) / c.std, (c.max - c.mean) / c.std
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):  # a schema without its range: ±2 sd
                lo, hi = -2.0, 2.0
            centres.append(torch.linspace(lo, hi, self.k))
            spacing.append((hi - lo) / max(self.k - 1, 1))
        self.register_buffer("centres", torch.stack(centres) if centres else torch.zeros(0, max(self.k, 0)), persistent=False)
        self.register_buffer("spacing", torch.tensor(spacing, dtype=torch.float32), persistent=False)
        self.width = encoding.width + len(self.columns) * self.k

    def forward(self, labels: Tensor) -> Tensor:
        """``[n, encoding.width]`` -> ``[n, self.width]``."""
        if not self.columns:
            return labels
        s = labels[:, self.columns]
        bumps = torch.exp(-0.5 * ((s[:, :, None] - self.centres) / self.spacing[:, None]) ** 2)
        return torch.cat([labels, bumps.flatten(1)], 1)
