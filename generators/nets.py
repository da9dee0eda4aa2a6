"""ParentNets: one small MLP per node, fed only its parents, all nodes in one batched module.

Structure lives in one place: a mask built from the graph's adjacency (over encoded input
columns). Training evaluates every node's network at once with batched matrix products;
sampling evaluates one node's network on its parents' columns only.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn


class ParentNets(nn.Module):
    """``n_nodes`` independent MLPs ``in_dim -> hidden^layers -> out_dim`` plus a linear skip.

    ``mask[j, i] = 1`` when encoded input column ``i`` belongs to a parent of node ``j``.
    Weights from masked-out columns are multiplied by zero in every forward pass, so a
    node's output never depends on a non-parent (tests check the Jacobian). The linear
    skip makes linear mechanisms easy to learn and to extrapolate.
    """

    def __init__(
        self,
        mask: Tensor,
        out_dim: int,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.0,
        activation: str = "silu",
    ) -> None:
        super().__init__()
        n, d = mask.shape
        self.n_nodes, self.in_dim, self.out_dim, self.hidden = n, d, out_dim, hidden
        self.register_buffer("mask", mask.float())
        dims = [d] + [hidden] * layers + [out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        fan_in = mask.sum(1).clamp(min=1)  # effective fan-in of the first layer, per node
        for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            bound = (1.0 / fan_in.sqrt())[:, None, None] if k == 0 else torch.full((n, 1, 1), 1.0 / math.sqrt(a))
            self.weights.append(nn.Parameter((torch.rand(n, a, b) * 2 - 1) * bound))
            self.biases.append(nn.Parameter(torch.zeros(n, b)))
        self.skip = nn.Parameter(torch.zeros(n, d, out_dim))
        self.act = {"silu": nn.functional.silu, "relu": torch.relu, "tanh": torch.tanh, "elu": nn.functional.elu}[activation]
        self.dropout = dropout
        self._cols: list[Tensor] = [torch.nonzero(mask[j]).flatten() for j in range(n)]
        self._cache: dict[int, tuple] = {}

    def forward(self, x: Tensor) -> Tensor:
        """All nodes at once: ``x`` is ``[batch, in_dim]``; returns ``[n_nodes, batch, out_dim]``."""
        m = self.mask[:, :, None]
        h = torch.einsum("bd,ndh->nbh", x, self.weights[0] * m) + self.biases[0][:, None, :]
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = self.act(h)
            if self.dropout and self.training:
                h = nn.functional.dropout(h, self.dropout, True)
            h = torch.baddbmm(b[:, None, :], h, w)
        return h + torch.einsum("bd,ndo->nbo", x, self.skip * m)

    def node(self, j: int, parents: Tensor) -> Tensor:
        """One node's output from its parents' encoded columns ``[batch, n_parent_cols]``.

        Outside training, the node's weight slices are cached (sampling calls this once
        per node per query); any change of mode, device or weights clears the cache.
        """
        if self.training or torch.is_grad_enabled():
            cols = self._cols[j]
            h = parents @ self.weights[0][j, cols] + self.biases[0][j]
            for w, b in zip(self.weights[1:], self.biases[1:]):
                h = torch.addmm(b[j], self.act(h), w[j])
            return h + parents @ self.skip[j, cols]
        if j not in self._cache:
            cols = self._cols[j]
            self._cache[j] = (
                self.weights[0][j, cols].detach().clone(),
                self.biases[0][j].detach().clone(),
                [(w[j].detach().clone(), b[j].detach().clone()) for w, b in zip(self.weights[1:], self.biases[1:])],
                self.skip[j, cols].detach().clone(),
            )
        w0, b0, rest, skip = self._cache[j]
        h = torch.addmm(b0, parents, w0)
        for w, b in rest:
            h = torch.addmm(b, self.act(h), w)
        return h + parents @ skip

    def train(self, mode: bool = True) -> "ParentNets":
        self._cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._cache.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def parent_columns(self, j: int) -> Sequence[int]:
        return self._cols[j].tolist()

    def _apply(self, fn, recurse=True):  # keep the column index lists beside the weights
        super()._apply(fn, recurse)
        self._cache.clear()
        self._cols = [c.to(self.mask.device) for c in self._cols]
        return self
