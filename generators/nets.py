"""ParentNets: one small MLP per node, fed only its parents, all nodes in one batched module.

Structure lives in one place: a mask built from the graph's adjacency (over encoded input
columns). Training evaluates every node's network at once with batched matrix products;
sampling evaluates one node's network on its parents' columns only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "silu": nn.functional.silu, "relu": torch.relu, "tanh": torch.tanh, "elu": nn.functional.elu,
}


def layers_of(weights: nn.ParameterList, biases: nn.ParameterList) -> tuple[list[Tensor], list[Tensor]]:
    """The layers' weights and biases as plain lists, in order. Indexing a ParameterList
    goes through module attribute lookup, and a slice builds a new module (~50 µs each,
    measured), which on a training step of small networks is several percent of the step."""
    return list(weights._parameters.values()), list(biases._parameters.values())  # type: ignore[arg-type]


def hidden_layers(h: Tensor, ws: list[Tensor], bs: list[Tensor], act: Callable[[Tensor], Tensor],
                  dropout: float = 0.0) -> Tensor:
    """The layers after the first of a batch of per-node MLPs: ``h`` is ``[n, batch, width]``
    (the first layer's pre-activation); each next layer is activation, dropout, then one
    batched product with its ``[n, width, next]`` weights."""
    for w, b in zip(ws[1:], bs[1:]):
        h = act(h)
        if dropout:
            h = nn.functional.dropout(h, dropout, True)
        h = torch.baddbmm(b[:, None, :], h, w)
    return h


def _take(nodes: list[int], device: torch.device) -> slice | Tensor:
    """An index of ``nodes``: a slice when they are consecutive (a view, no copy), else a tensor."""
    if nodes == list(range(nodes[0], nodes[-1] + 1)):
        return slice(nodes[0], nodes[-1] + 1)
    return torch.tensor(nodes, dtype=torch.long, device=device)


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
        self.register_buffer("mask", mask.float().clone())  # its own copy: safetensors refuses shared memory
        dims = [d] + [hidden] * layers + [out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        fan_in = mask.sum(1).clamp(min=1)  # effective fan-in of the first layer, per node
        for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            bound = (1.0 / fan_in.sqrt())[:, None, None] if k == 0 else torch.full((n, 1, 1), 1.0 / math.sqrt(a))
            self.weights.append(nn.Parameter((torch.rand(n, a, b) * 2 - 1) * bound))
            self.biases.append(nn.Parameter(torch.zeros(n, b)))
        self.skip = nn.Parameter(torch.zeros(n, d, out_dim))
        self.act = ACTIVATIONS[activation]
        self.dropout = dropout
        self._cols: list[Tensor] = [torch.nonzero(mask[j]).flatten() for j in range(n)]
        self._cache: dict[int, tuple] = {}
        self._split: tuple | None | bool = False  # _root_split's answer (False: not yet worked out)

    def decay_parameters(self) -> list[nn.Parameter]:
        """The hidden layers' weights: what weight decay shrinks (not the linear skip)."""
        return list(self.weights)

    @torch.no_grad()
    def fit_least_squares(self, x: Tensor, targets: Tensor, nodes: Sequence[int]) -> None:
        """Set the listed nodes' output 0 to the exact least-squares fit of ``targets``
        (``[n_nodes, rows]``) on their parents' columns. Only for linear nets (layers=0):
        gradient descent converges slowly along the difference of strongly correlated
        parents (x2 ≈ 10·x1), exactly the direction an intervention moves."""
        if len(self.weights) != 1:
            raise ValueError("least squares needs a linear ParentNets (layers=0)")
        for j in nodes:
            cols = self._cols[j]
            p = x[:, cols].double().cpu()
            design = torch.cat([p, torch.ones(p.shape[0], 1, dtype=p.dtype)], dim=1)
            beta = torch.linalg.lstsq(design, targets[j].double().cpu()[:, None], driver="gelsd").solution[:, 0]
            self.weights[0][j, :, 0] = 0.0
            self.weights[0][j, cols, 0] = beta[:-1].to(self.weights[0])
            self.biases[0][j, 0] = beta[-1].to(self.biases[0])
            self.skip[j, :, 0] = 0.0
        self._cache.clear()

    def forward(self, x: Tensor) -> Tensor:
        """All nodes at once: ``x`` is ``[batch, in_dim]``; returns ``[n_nodes, batch, out_dim]``.

        A node without input columns (a root) computes the same output on every row, so its
        network runs on one row and is broadcast (the same values and, summed over the rows by
        the broadcast's backward, the same gradients); not under dropout, which differs by row."""
        ws, bs = layers_of(self.weights, self.biases)
        dropout = self.dropout if self.training else 0.0
        split = None if dropout else self._root_split()
        if split is None:
            return self._rows(x, ws, bs, self.skip, self._input_mask(), dropout)
        roots, rest, inverse = split
        h = hidden_layers(bs[0][roots][:, None, :], [w[roots] for w in ws], [b[roots] for b in bs], self.act)
        const = h.expand(-1, x.shape[0], -1)  # x @ (W * 0) is exactly 0: the output is the network of the bias
        if rest is None:
            return const
        out = torch.cat([const, self._rows(x, [w[rest] for w in ws], [b[rest] for b in bs], self.skip[rest],
                                            self._input_mask()[rest], 0.0)])
        return out if inverse is None else out[inverse]

    def _rows(self, x: Tensor, ws: list[Tensor], bs: list[Tensor], skip: Tensor, mask: Tensor, dropout: float) -> Tensor:
        """The networks whose weights are ``ws``, ``bs``, ``skip`` (stacked per node), on every row."""
        # x [batch, in] @ W [n, in, h] broadcasts to [n, batch, h]: one batched product
        # (cheaper than the equivalent einsum, which permutes and copies on every call) for
        # the first layer and the linear skip together
        first = torch.matmul(x, torch.cat([ws[0], skip], dim=2) * mask[:, :, None])
        width = ws[0].shape[2]
        h = hidden_layers(first[..., :width] + bs[0][:, None, :], ws, bs, self.act, dropout)
        return h + first[..., width:]

    def _root_split(self) -> tuple[slice | Tensor, slice | Tensor | None, Tensor | None] | None:
        """``(roots, others, order)``: the nodes without input columns and the rest (as slices
        where they are contiguous, so that taking their weights copies nothing), and the
        permutation that puts ``[roots; others]`` back in node order (None when it already
        is); None when no node is a root. Worked out again after the mask changes (loading
        weights, moving devices, ``mask_changed``)."""
        if self._split is False:
            is_root = (self.mask == 0).all(1)
            roots, rest = torch.nonzero(is_root).flatten().tolist(), torch.nonzero(~is_root).flatten().tolist()
            order, dev = roots + rest, self.mask.device
            with torch.inference_mode(False):  # plain index tensors: a later training pass may save them for backward
                inverse = None if order == sorted(order) else torch.tensor(np.argsort(order), device=dev)
                self._split = None if not roots else (_take(roots, dev), _take(rest, dev) if rest else None, inverse)
        return self._split  # type: ignore[return-value]

    def mask_changed(self) -> None:
        """Forget what was derived from the mask (after changing it in place)."""
        self._cache.clear()
        self._split = False

    def node(self, j: int, parents: Tensor) -> Tensor:
        """One node's output from its parents' encoded columns ``[batch, n_parent_cols]``.

        Outside training, the node's weight slices are cached (sampling calls this once
        per node per query); any change of mode, device or weights clears the cache.
        """
        if self.training or torch.is_grad_enabled():
            return self._node_forward(j, parents, self._node_weights(j))
        if j not in self._cache:
            self._cache[j] = tuple(
                [t.detach().clone() for t in w] if isinstance(w, list) else w.detach().clone()
                for w in self._node_weights(j)
            )
        return self._node_forward(j, parents, self._cache[j])

    def _input_mask(self) -> Tensor:
        """``[n_nodes, in_dim]`` factors on the first layer's and the skip's weights: the
        0/1 mask here; a subclass may weight the parents' columns (CCGM's edge gates)."""
        return self.mask

    def _node_weights(self, j: int) -> tuple:
        cols = self._cols[j]
        ws, bs = layers_of(self.weights, self.biases)
        rest = [t for w, b in zip(ws[1:], bs[1:]) for t in (w[j], b[j])]
        scale = self._input_mask()[j, cols][:, None]  # ones for a plain mask (exact)
        return ws[0][j, cols] * scale, bs[0][j], rest, self.skip[j, cols] * scale

    def _node_forward(self, j: int, parents: Tensor, weights: tuple) -> Tensor:
        w0, b0, rest, sk = weights
        h = torch.addmm(b0, parents, w0)
        for k in range(0, len(rest), 2):
            h = torch.addmm(rest[k + 1], self.act(h), rest[k])
        return h + parents @ sk

    def train(self, mode: bool = True) -> "ParentNets":
        self._cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self.mask_changed()
        super()._load_from_state_dict(*args, **kwargs)

    def parent_columns(self, j: int) -> Sequence[int]:
        return self._cols[j].tolist()

    def _apply(self, fn, recurse=True):  # keep the column index lists beside the weights
        super()._apply(fn, recurse)
        self.mask_changed()
        self._cols = [c.to(self.mask.device) for c in self._cols]
        return self


class ScalarNets(nn.Module):
    """Independent MLPs ``in_dim -> hidden^layers -> out_dim`` (plus a linear skip), one per
    listed node, each fed a few numbers of its own (a node's residual, or its latent ``u``)
    rather than columns of the encoded table: ``forward`` takes ``[len(nodes), batch, in_dim]``.

    A ``ParentNets`` over an identity-like mask computes the same functions, but multiplies
    out every node's mask (and every non-own input) on each call; here a node's input is
    its own by construction. ``nodes`` are graph indices; ``node(j, v)`` evaluates node ``j``.
    Checkpoints written with a ``ParentNets`` in this place load unchanged (the rows and the
    own columns of its weights are picked out; see ``_load_from_state_dict``).
    """

    def __init__(
        self,
        nodes: Sequence[int],
        in_dim: int,
        out_dim: int,
        hidden: int = 16,
        layers: int = 2,
        dropout: float = 0.0,
        activation: str = "silu",
    ) -> None:
        super().__init__()
        m = len(nodes)
        self.nodes, self.in_dim, self.out_dim = [int(j) for j in nodes], in_dim, out_dim
        self._row = {j: k for k, j in enumerate(self.nodes)}
        dims = [in_dim] + [hidden] * layers + [out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:]):
            self.weights.append(nn.Parameter((torch.rand(m, a, b) * 2 - 1) / math.sqrt(a)))
            self.biases.append(nn.Parameter(torch.zeros(m, b)))
        self.skip = nn.Parameter(torch.zeros(m, in_dim, out_dim))
        self.act = ACTIVATIONS[activation]
        self.dropout = dropout

    def decay_parameters(self) -> list[nn.Parameter]:
        return list(self.weights)

    def forward(self, x: Tensor) -> Tensor:
        """``[len(nodes), batch, in_dim]`` -> ``[len(nodes), batch, out_dim]``."""
        ws, bs = layers_of(self.weights, self.biases)
        h = torch.baddbmm(bs[0][:, None, :], x, ws[0])
        h = hidden_layers(h, ws, bs, self.act, self.dropout if self.training else 0.0)
        return torch.baddbmm(h, x, self.skip)

    def node(self, j: int, v: Tensor) -> Tensor:
        """Node ``j``'s output for its inputs ``[batch, in_dim]``."""
        k = self._row[j]
        ws, bs = layers_of(self.weights, self.biases)
        h = torch.addmm(bs[0][k], v, ws[0][k])
        for w, b in zip(ws[1:], bs[1:]):
            h = torch.addmm(b[k], self.act(h), w[k])
        return h + v @ self.skip[k]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        old_mask = state_dict.pop(prefix + "mask", None)
        if old_mask is not None:  # written by a ParentNets: every node's row, every input column
            rows = torch.tensor(self.nodes, dtype=torch.long)
            keys = [f"{prefix}{kind}.{i}" for i in range(len(self.weights)) for kind in ("weights", "biases")]
            for key in keys + [f"{prefix}skip"]:
                if key in state_dict:
                    state_dict[key] = state_dict[key][rows]
            for key in (f"{prefix}weights.0", f"{prefix}skip"):  # the own columns only
                if key in state_dict:
                    t = state_dict[key]
                    own = [t[k, torch.nonzero(old_mask[j]).flatten()] for k, j in enumerate(self.nodes)]
                    state_dict[key] = torch.stack(own) if own else t[:, : self.in_dim]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class Polynomials(nn.Module):
    """Per node, a polynomial of degree 1 or 2 in its parents' encoded columns, fitted by
    least squares (no gradient training)::

        f_j(x) = c_j + Σ_i b_ji x_i + Σ_{i <= k} Q_jik x_i x_k     (Q only for degree 2)

    over the columns ``i, k`` of node ``j``'s parents (``mask``, as in ``ParentNets``). The
    tabular models keep them as simpler rivals of each node's network: linear mechanisms
    and pairwise interactions (a product of two parents) extrapolate off the data's
    support the way their family does, where a network's extrapolation is arbitrary.
    """

    def __init__(self, mask: Tensor, degree: int) -> None:
        super().__init__()
        if degree not in (1, 2):
            raise ValueError("degree must be 1 or 2")
        n, d = mask.shape
        self.n_nodes, self.in_dim, self.degree = n, d, degree
        self.register_buffer("mask", mask.float().clone())
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("lin", torch.zeros(n, d))
        if degree == 2:
            self.register_buffer("quad", torch.zeros(n, d, d))  # upper triangle over each node's parent columns
            # per node, the p-value of the nested F test of the products against the line on the
            # rows of the last fit (1: untested); set by fitting, so not part of a checkpoint
            self.register_buffer("curvature_p", torch.ones(n), persistent=False)
        self._cols: list[Tensor] = [torch.nonzero(mask[j]).flatten() for j in range(n)]
        self._cache: dict[int, tuple[Tensor, Tensor, Tensor | None]] = {}

    @staticmethod
    def _nonzero_pairs(p: Tensor) -> tuple[Tensor, Tensor]:
        """The pairs ``i <= k`` of ``p``'s columns whose product is nonzero on some row. The
        others (two categories of one one-hot parent, combinations the rows never show) get
        coefficient 0 in the minimum-norm least-squares solution anyway, so leaving them out
        of the design changes no coefficient and no prediction, and on one-hot parents it is
        most of them (``hr_per_week`` in the Adult graph: 70 parent columns, 2,485 products)."""
        sq = p * p
        nonzero = (sq.T @ sq) > 0  # Σ_rows p_i² p_k²
        i, k = torch.triu_indices(p.shape[1], p.shape[1])
        keep = nonzero[i, k]
        return i[keep], k[keep]

    @torch.no_grad()
    def fit_least_squares(self, x: Tensor, targets: Tensor, nodes: Sequence[int]) -> None:
        """Set the listed nodes' polynomials to the least-squares fit of ``targets``
        (``[n_nodes, rows]``) on ``x``'s parent columns (minimum norm where columns are
        collinear; products that are zero on every row are left out, ``_nonzero_pairs``). A
        degree-2 fit also tests its products against the line on the same rows
        (``curvature_p``, ``curvature_test``)."""
        for j in nodes:
            cols = self._cols[j]
            k = len(cols)
            p = x[:, cols].double().cpu()
            y = targets[j].double().cpu()[:, None]
            feats = [torch.ones(p.shape[0], 1, dtype=p.dtype), p]
            if self.degree == 2:
                i, m = self._nonzero_pairs(p)
                feats.append(p[:, i] * p[:, m])
            design = torch.cat(feats, dim=1)
            fit = torch.linalg.lstsq(design, y, driver="gelsd")
            beta = fit.solution[:, 0]
            if self.degree == 2:
                line_design = design[:, : 1 + k]  # the constant and the parents: the line
                line = torch.linalg.lstsq(line_design, y, driver="gelsd")
                self.curvature_p[j] = curvature_test(design, fit, line_design, line, y)
            self.bias[j] = beta[0].to(self.bias)
            self.lin[j] = 0.0
            self.lin[j, cols] = beta[1 : 1 + k].to(self.lin)
            if self.degree == 2:
                self.quad[j] = 0.0
                self.quad[j, cols[i], cols[m]] = beta[1 + k :].to(self.quad)
        self._cache.clear()

    def forward(self, x: Tensor) -> Tensor:
        """All nodes at once: ``[batch, in_dim]`` -> ``[n_nodes, batch]``."""
        xm = x[None] * self.mask[:, None, :]  # [n, B, d]: each node sees its parents only
        out = self.bias[:, None] + (xm * self.lin[:, None, :]).sum(-1)
        if self.degree == 2:
            out = out + (torch.bmm(xm, self.quad) * xm).sum(-1)
        return out

    def node(self, j: int, parents: Tensor) -> Tensor:
        """Node ``j`` from its parents' encoded columns ``[batch, n_parent_cols]`` -> ``[batch]``."""
        if j not in self._cache:
            cols = self._cols[j]
            quad = self.quad[j][cols][:, cols].clone() if self.degree == 2 else None
            self._cache[j] = (self.bias[j].clone(), self.lin[j, cols].clone(), quad)
        c, b, q = self._cache[j]
        out = c + parents @ b
        return out + ((parents @ q) * parents).sum(1) if q is not None else out

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._cache.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self._cache.clear()
        self._cols = [c.to(self.mask.device) for c in self._cols]
        return self


class Tables(nn.Module):
    """Per discrete node whose parents are all discrete, its conditional probability table
    counted from the data (Dirichlet-smoothed maximum likelihood), kept as log-probabilities:
    the tabular models' rival of a discrete node's network. Where every parent configuration
    is well populated the counted table is the most the data say; a network shares strength
    across sparse configurations instead. Tables of more than ``max_configs`` parent
    configurations are not kept.

    ``blocks[j]`` lists node ``j``'s parents as ``(first column, width, states)`` in the
    encoded layout (a binary parent is one 0/1 column, a categorical one one-hot columns);
    ``own[j]`` is node ``j``'s own ``(first column, width, states)``, or None for a
    continuous node.
    """

    def __init__(self, blocks: Sequence[Sequence[tuple[int, int, int]]], own: Sequence[tuple[int, int, int] | None],
                 max_configs: int = 4096) -> None:
        super().__init__()
        self.blocks = [list(b) for b in blocks]
        self.own = list(own)
        self.eligible: list[int] = []
        for j, (b, o) in enumerate(zip(self.blocks, self.own)):
            if o is None or any(states < 2 for _, _, states in b):
                continue
            configs = int(np.prod([states for _, _, states in b])) if b else 1
            if configs <= max_configs:
                self.eligible.append(j)
                self.register_buffer(f"logp_{j}", torch.zeros(configs, o[2]))
        self.register_buffer("alpha", torch.ones(len(self.blocks)))

    @staticmethod
    def _code(x: Tensor, start: int, width: int) -> Tensor:
        return x[:, start].round().long() if width == 1 else x[:, start : start + width].argmax(1)

    def configs(self, j: int, x: Tensor, relative: bool = False) -> Tensor:
        """Node ``j``'s parent configuration on each row: of the full encoded matrix ``x``,
        or with ``relative`` of its parents' own columns (as ``ParentNets.node`` takes them)."""
        idx = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        offset = 0
        for start, width, states in self.blocks[j]:
            idx = idx * states + self._code(x, offset if relative else start, width)
            offset += width
        return idx

    def parents_onehot(self, j: int, x: Tensor) -> Tensor:
        """Node ``j``'s parents one-hot ``[rows, Σ states]`` (float64), from the full matrix ``x``."""
        cols = [nn.functional.one_hot(self._code(x, start, width), states) for start, width, states in self.blocks[j]]
        return torch.cat(cols, 1).double()

    def own_codes(self, j: int, x: Tensor) -> Tensor:
        start, width, _ = self.own[j]  # type: ignore[misc]
        return self._code(x, start, width)

    def table(self, j: int) -> Tensor:
        return getattr(self, f"logp_{j}")

    @torch.no_grad()
    def fit(self, j: int, x: Tensor, alpha: float) -> None:
        """Count node ``j`` over its parent configurations on the rows of ``x``, with
        ``alpha`` pseudo-counts per cell."""
        t = self.table(j)
        counts = torch.zeros(t.shape, dtype=torch.float64, device=x.device)
        counts.index_put_((self.configs(j, x), self.own_codes(j, x)),
                          torch.ones(x.shape[0], dtype=torch.float64, device=x.device), accumulate=True)
        smoothed = counts + alpha
        t.copy_(torch.log(smoothed / smoothed.sum(1, keepdim=True)).to(t))
        self.alpha[j] = alpha

    def logits(self, j: int, x: Tensor, relative: bool = False) -> Tensor:
        """Node ``j``'s log-probabilities ``[rows, states]`` from the full matrix ``x`` (or
        its parents' own columns with ``relative``)."""
        return self.table(j)[self.configs(j, x, relative)]


def curvature_test(design: Tensor, fit, line_design: Tensor, line, y: Tensor) -> float:
    """The p-value of the nested F test of a least-squares fit (``design``, ``fit``) against
    its submodel on the first columns (``line_design``, ``line``): whether the extra columns
    (a degree-2 rival's products) explain more of ``y`` than noise would, under the linear
    model's assumption of independent errors of one variance. ``scipy.stats.f``."""
    from scipy import stats

    n = y.shape[0]
    rank_full, rank_line = int(fit.rank), int(line.rank)
    df1, df2 = rank_full - rank_line, n - rank_full
    if df1 <= 0 or df2 <= 0:
        return 1.0
    rss_full = float(((y - design @ fit.solution) ** 2).sum())
    rss_line = float(((y - line_design @ line.solution) ** 2).sum())
    if rss_full <= 0.0:
        return 0.0 if rss_line > 0.0 else 1.0
    f = max(rss_line - rss_full, 0.0) / df1 / (rss_full / df2)
    return float(stats.f.sf(f, df1, df2))


def adequate(target: Tensor, candidate: Tensor, reference: Tensor, gap: float, z: float) -> Tensor:
    """Per node (rows of ``[n, B]`` held-out predictions of the conditional mean), whether a
    simpler ``candidate`` may stand in for the ``reference`` (a network): (a) it predicts
    what the reference predicts to within ``gap`` RMS, so the choice cannot matter where
    there are data; or (b) its squared error is no worse than the reference's by ``z``
    standard errors (paired over rows)."""
    diff = (target - candidate) ** 2 - (target - reference) ** 2
    se = diff.std(dim=1) / diff.shape[1] ** 0.5
    return agrees(candidate, reference, gap) | (diff.mean(1) <= z * se)


def agrees(candidate: Tensor, reference: Tensor, gap: float) -> Tensor:
    """Per node (rows of ``[n, B]``), whether ``candidate`` predicts what ``reference``
    predicts to within ``gap`` RMS on those rows."""
    return ((candidate - reference) ** 2).mean(1).sqrt() < gap


def scale_nll(r: Tensor, log_s: Tensor) -> Tensor:
    """Gaussian negative log-likelihood (up to a constant) of residuals ``r`` under the
    scales ``exp(log_s)``, elementwise: what trains a location-scale rival's ``log s``."""
    return 0.5 * (r * torch.exp(-log_s)) ** 2 + log_s


class ScaledNoise:
    """The location-scale rival's ``log s(parents)`` for a tabular net that has ``scale`` (a
    ``ParentNets`` with one output per node), ``use_scale`` (bool per node) and
    ``log_scale_range`` (``[n_nodes, 2]``) as attributes: read within the range the training
    rows reach, so an extrapolating scale network cannot blow up or vanish off the data (a net
    that reads ``log_scale`` while training starts the range at the clamp's ``[-7, 5]``)."""

    scale: ParentNets
    use_scale: Tensor
    log_scale_range: Tensor

    def keep_scale_range(self, train: Tensor, nodes: Tensor) -> None:
        """Record the range of ``log s`` the listed nodes reach on the training rows."""
        h = self._raw_log_scale(train)[nodes]
        self.log_scale_range[nodes] = torch.stack([h.min(1).values, h.max(1).values], 1).to(self.log_scale_range)

    def _raw_log_scale(self, batch: Tensor) -> Tensor:
        return self.scale(batch)[:, :, 0].clamp(-7, 5)

    def log_scale(self, batch: Tensor) -> Tensor:
        """``log s`` of every node on ``batch``, ``[n_nodes, batch]``, within the range the
        training rows reach."""
        lo, hi = self.log_scale_range[:, 0:1], self.log_scale_range[:, 1:2]
        return torch.minimum(torch.maximum(self._raw_log_scale(batch), lo), hi)

    def node_log_scale(self, j: int, p: Tensor) -> Tensor | None:
        """Node ``j``'s ``log s`` from its parents' columns where its noise is scaled, else None."""
        if self.scale is None or not bool(self.use_scale[j]):
            return None
        lo, hi = self.log_scale_range[j]
        return self.scale.node(j, p)[:, 0].clamp(-7, 5).clamp(float(lo), float(hi))


def scale_pays(r_train: Tensor, r_val: Tensor, log_s_val: Tensor, z: float, gain: float) -> Tensor:
    """Per node (rows of ``[n, B]`` residuals), whether scaling the noise with the parents
    (``log_s_val`` on the held-out rows) raises the held-out Gaussian likelihood of the
    residuals ``r_val`` over one constant scale (the training residuals' sd) by ``z``
    standard errors (paired over rows) and by ``gain`` nats per row."""
    sd = r_train.std(1, keepdim=True)
    diff = (0.5 * (r_val / sd) ** 2 + torch.log(sd)) - scale_nll(r_val, log_s_val)
    se = diff.std(1) / diff.shape[1] ** 0.5
    return (diff.mean(1) > z * se) & (diff.mean(1) > gain)


@dataclass(frozen=True)
class Tabulated:
    """A one-dimensional function (a network of one input) tabulated for queries: linear
    interpolation between its values on a uniform grid; points off the grid are passed to
    the exact function. Grid points of spacing 2^-k are exact in float32, so the network
    sees exactly the abscissae used here; with spacing 2^-10 the interpolation error,
    |f''| / 8 · 2^-20, is below the network's own float32 rounding (relative 1e-7)."""

    lo: float
    step: float
    values: np.ndarray  # float64, values[k] = f(lo + k·step)

    @classmethod
    @torch.no_grad()
    def of(cls, fn: Callable[[Tensor], Tensor], lo: float = -12.0, hi: float = 12.0, step: float = 2.0**-10,
           device: torch.device | str | None = None) -> "Tabulated":
        k = int(round((hi - lo) / step)) + 1
        grid = torch.from_numpy(lo + step * np.arange(k, dtype=np.float64)).float().to(device)
        return cls(lo, step, fn(grid[:, None]).double().cpu().numpy().reshape(k))

    @property
    def hi(self) -> float:
        return self.lo + self.step * (len(self.values) - 1)

    def __call__(self, x: np.ndarray, exact: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        pos = (x - self.lo) / self.step
        inside = (pos >= 0) & (pos <= len(self.values) - 1)
        i = np.clip(pos.astype(np.int64), 0, len(self.values) - 2)
        out = self.values[i] + (pos - i) * (self.values[i + 1] - self.values[i])
        if not inside.all():
            out[~inside] = exact(x[~inside])
        return out
