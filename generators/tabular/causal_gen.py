"""Causal Gen: one small network per node over its parents (Jiang, Pooladzandi, Bhat, Pottie
2022, "Causal Structural Hypothesis Testing and Data Generation Models"), with invertible
mechanisms so that counterfactuals can be computed.

Continuous node, standardized value ``z``: additive noise::

    z = f(parents) + u,             u ~ learned noise distribution

or location-scale (heteroscedastic) noise::

    z = f(parents) + s(parents)·u

``u``'s distribution is the empirical distribution of the fitted (scaled) residuals, kept as
``noise_knots`` quantiles (a monotone, piecewise-linear map from U(0, 1)). Abduction inverts
the mechanism exactly: ``u = (z - f(parents)) / s(parents)``. Binary and categorical nodes
are Gumbel-max mechanisms over logits (``generators.tabular.base.gumbel_posterior``).

``mechanism="auto"`` (the default) trains ``f`` exactly as ``"additive"`` does and, beside
it, each continuous node's ``log s`` (a small network on ``f``'s detached residuals); after
training the noise is taken to scale with the parents only where that raises the held-out
likelihood clearly (``scale_z``, ``scale_gain``), so where the noise is additive the model is
the additive one, bit for bit. ``"additive"`` never scales; ``"location-scale"`` trains ``f``
and ``log s`` jointly by Gaussian likelihood for every node.

Mechanism selection (Occam's razor per node, on held-out rows): a linear mechanism replaces
the network where it predicts the same to within ``linear_gap`` or validates no worse
(``linear_z``: with little data the network agrees with nothing, and the simpler family
should win a tie); then, for continuous nodes with additive ``f`` training, a least-squares
polynomial of degree 2 in the parents where it predicts what the network predicts to within
``quadratic_gap`` (the counterfactual RMSE bar of the benchmark: on the data the choice then
costs at most that). The degree-2 rival is taken by agreement alone, not a tie in held-out
loss: noise dominates the loss, and a fit can tie a network while predicting 0.03-0.08 sd
apart from it (measured on loan's savings for degree 2, and for linear on large-backdoor's x3
and x6 in one draw). So a degree-2 rival that agrees with the network outranks a linear tie
where the two rivals differ and its products are significant on the training rows (the nested
F test at ``curvature_alpha``: under a linear truth it passes at that rate whatever the row
count, where a few hundred rows bend a least-squares quadratic away from the line by noise
alone). A degree-2 rival whose products fail that test gives way to the line wherever it would
have been taken: fitted to noise, its products on strongly correlated parents extrapolate far
off the data (0.19 sd against the line's 0.023 in one 1,000-row fit of triangle-lin).
``agreement_first=False, curvature_alpha=None`` gives the order before (docs/benchmarks.md). Both
rivals extrapolate off the data's support as their family does (a product of two parents stays a product), where a network's extrapolation is
arbitrary; they are also cheaper to query. A discrete node whose parents are all discrete
has its counted table (Dirichlet-smoothed maximum likelihood) as a rival, taken unless it
predicts held-out rows clearly worse (``table_z``); when every node is such a node and either
every parent configuration is well populated (``table_rows``) or, on held-out rows, no node's
table predicts clearly worse than a regularized logistic model of the node on its parents
(the cheapest rival that shares strength across sparse configurations), the tables are
counted and nothing is trained. ``mechanism_choices()`` says what was chosen per node.

Where every node ends on a least-squares rival, the networks are trained only to be set
aside: from ``settle_from`` of the steps on (a training setting), after each epoch's
validation the choices are made on the current weights, and training stops ("settled") once
every node's rival *agrees* with its network and no noise scales. The model is then exactly
the one those choices give; the rivals are fitted to the data, not to the network, so it is
the full schedule's model wherever the full schedule makes the same choices (checked on the
benchmark suite, docs/benchmarks.md). A rival that merely validates no worse than a network
still learning does not settle training: that network may still beat it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from causal.data import Schema
from causal.graph import CausalGraph
from generators.encoding import Layout
from generators.tabular.base import TabularModel, describe_mechanisms, knots_log_density, quantile_draws
from generators.nets import ParentNets, Polynomials, ScaledNoise, Tables, agrees, scale_nll, scale_pays
from generators.training import TrainConfig

MECHANISMS = ("auto", "additive", "location-scale")


@dataclass(frozen=True)
class CausalGenConfig:
    hidden: int = 64  # units per hidden layer of each node's network
    layers: int = 2  # hidden layers per node (0 gives a linear model)
    dropout: float = 0.0  # between hidden layers; the paper uses it for hard functional forms
    activation: str = "silu"  # silu | relu | tanh | elu
    mechanism: str = "auto"  # auto: additive, location-scale per node where held-out rows show it | additive | location-scale
    noise_knots: int = 512  # quantiles kept of each node's noise distribution
    select_linear: bool = True  # per node, prefer a linear mechanism where the data cannot tell it from the network
    linear_gap: float = 0.02  # ... it predicts the same as the network to within this RMS (sd units) on held-out rows
    linear_z: float = 0.0  # ... or its held-out loss is within this many standard errors of the network's
    select_quadratic: bool = True  # next, for a continuous node: a polynomial of degree 2 (additive only) ...
    quadratic_gap: float = 0.03  # ... where it predicts the same as the network to within this RMS (sd units) on held-out rows
    agreement_first: bool = True  # a degree-2 rival that agrees with the network outranks a linear tie (linear_z) where the two rivals differ ...
    curvature_alpha: float | None = 0.01  # ... and its products pass the nested F test against the line on the training rows at this level; one that fails it gives way to the line (None: no test)
    select_table: bool = True  # a discrete node with only discrete parents: its counted (smoothed) table where it predicts held-out rows as well
    table_z: float = 2.0  # ... its held-out log-loss within this many standard errors of the selected mechanism's
    table_rows: int = 30  # every node discrete, every parent configuration seen this many times: count the tables, train nothing
    scale_hidden: int = 32  # auto: units per hidden layer of each continuous node's scale network log s(parents)
    scale_z: float = 3.0  # auto: a node's noise scales with its parents where that raises the held-out likelihood by this many standard errors ...
    scale_gain: float = 0.02  # ... and by at least this many nats per row
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism '{self.mechanism}'; use one of {', '.join(MECHANISMS)}")
        if self.hidden < 1 or self.layers < 0 or not 0 <= self.dropout < 1:
            raise ValueError("hidden must be >= 1, layers >= 0 and 0 <= dropout < 1")
        if self.curvature_alpha is not None and not 0 <= self.curvature_alpha <= 1:
            raise ValueError(f"curvature_alpha is a test's level, between 0 and 1 (got {self.curvature_alpha})")


class NodeLosses(nn.Module):
    """Per-node likelihood terms shared by the tabular models: squared error (or Gaussian
    NLL) for continuous nodes, cross-entropy for discrete ones, summed over nodes."""

    def __init__(self, graph: CausalGraph, layout: Layout) -> None:
        super().__init__()
        cont = [j for j, n in enumerate(graph.nodes) if not layout.schema[n].discrete]
        self.register_buffer("cont_nodes", torch.tensor(cont, dtype=torch.long))
        self.register_buffer("cont_cols", torch.tensor([layout.slices[graph.nodes[j]].start for j in cont], dtype=torch.long))
        self.discrete = [
            (j, layout.slices[n], layout.schema[n].kind == "binary", len(layout.schema[n].categories))
            for j, n in enumerate(graph.nodes)
            if layout.schema[n].discrete
        ]
        self.register_buffer("discrete_nodes", torch.tensor([j for j, *_ in self.discrete], dtype=torch.long), persistent=False)
        self.all_continuous = len(cont) == len(graph.nodes)  # then the continuous rows are the nodes, in order

    def targets(self, batch: Tensor) -> Tensor:
        """Continuous targets ``[n_cont, batch]``."""
        return batch[:, self.cont_cols].T

    def discrete_rows(self, out: Tensor, batch: Tensor) -> Tensor:
        """Cross-entropy of every discrete node on every row, ``[n_discrete, batch]``."""
        terms = [
            nn.functional.cross_entropy(
                out[j, :, :k], batch[:, sl.start].long() if binary else batch[:, sl].argmax(1), reduction="none"
            )
            for j, sl, binary, k in self.discrete
        ]
        return torch.stack(terms) if terms else out.new_zeros(0, out.shape[1])

    def discrete_terms(self, out: Tensor, batch: Tensor) -> Tensor:
        """Cross-entropy per discrete node, ``[n_discrete]``."""
        return self.discrete_rows(out, batch).mean(1)

    def per_node(self, out: Tensor, batch: Tensor, scaled: bool) -> Tensor:
        """Each node's mean loss ``[n_nodes]`` (see ``per_row``)."""
        return self.per_row(out, batch, scaled).mean(1)

    def per_row(self, out: Tensor, batch: Tensor, scaled: bool) -> Tensor:
        """Each node's loss on each row ``[n_nodes, batch]``: squared error (or Gaussian
        NLL with a log-scale in output 1 when ``scaled``) for continuous nodes,
        cross-entropy for discrete ones."""
        cont = None
        if len(self.cont_nodes):
            o = out if self.all_continuous else out[self.cont_nodes]
            target = self.targets(batch)
            if scaled:
                log_s = o[:, :, 1].clamp(-7, 5)
                cont = 0.5 * ((target - o[:, :, 0]) * torch.exp(-log_s)) ** 2 + log_s
            else:
                cont = (target - o[:, :, 0]) ** 2
            if self.all_continuous:
                return cont
        losses = out.new_zeros(out.shape[0], out.shape[1])
        if cont is not None:
            losses = losses.index_add(0, self.cont_nodes, cont)
        if self.discrete:
            losses = losses.index_add(0, self.discrete_nodes, self.discrete_rows(out, batch))
        return losses


class CausalGenNet(ScaledNoise, nn.Module):
    """Every node's network (``nets``) and, trained beside it, every node's linear
    mechanism (``linear``), plus for continuous nodes a polynomial of degree 2 fitted by
    least squares after training (``quadratic``). ``use_linear`` and ``use_quadratic`` mark
    the nodes whose simpler mechanism validates as well as the network: Occam's razor per
    mechanism, simplest first."""

    def __init__(self, graph: CausalGraph, layout: Layout, config: CausalGenConfig) -> None:
        super().__init__()
        k_max = max([len(c.categories) for c in layout.schema.columns if c.discrete] + [1])
        out_dim = max(k_max, 2 if config.mechanism == "location-scale" else 1)
        mask = layout.mask(graph)
        self.nets = ParentNets(mask, out_dim, config.hidden, config.layers, config.dropout, config.activation)
        self.linear = ParentNets(mask, out_dim, hidden=1, layers=0) if config.select_linear and config.layers else None
        additive = config.mechanism in ("additive", "auto")
        self.quadratic = Polynomials(mask, 2) if self.linear is not None and config.select_quadratic and additive else None
        self.terms = NodeLosses(graph, layout)
        self.scaled = config.mechanism == "location-scale"
        # the linear rival learns by gradient only where least squares will not replace it
        # after training: discrete nodes (logistic), or every node under location-scale
        self.train_linear = self.linear is not None and (self.scaled or bool(self.terms.discrete))
        self.linear_z = config.linear_z
        self.linear_gap = config.linear_gap
        self.quadratic_gap = config.quadratic_gap
        self.agreement_first = config.agreement_first
        self.curvature_alpha = config.curvature_alpha
        self.register_buffer("noise_q", torch.zeros(len(graph.nodes), config.noise_knots))
        self.register_buffer("use_linear", torch.zeros(len(graph.nodes), dtype=torch.bool))
        if self.quadratic is not None:
            self.register_buffer("use_quadratic", torch.zeros(len(graph.nodes), dtype=torch.bool))
        # auto: the location-scale rival's log s(parents), one small network per node trained beside
        # f on f's detached residuals (so f trains exactly as under "additive"); see choose_scale
        self.scale = (
            ParentNets(mask, 1, config.scale_hidden, 1, activation=config.activation)
            if config.mechanism == "auto" and len(self.terms.cont_nodes) else None
        )
        self.tables = _tables(graph, layout) if config.select_table and self.terms.discrete else None
        if self.tables is not None:
            self.table_z = config.table_z
            self.register_buffer("use_table", torch.zeros(len(graph.nodes), dtype=torch.bool))
        self._rivals_fitted, self._scale_wait = False, 0  # settled(): rivals fitted this fit; checks until the next scale check
        if self.scale is not None:
            self.scale_z, self.scale_gain = config.scale_z, config.scale_gain
            self.register_buffer("use_scale", torch.zeros(len(graph.nodes), dtype=torch.bool))
            self.register_buffer("log_scale_range", torch.zeros(len(graph.nodes), 2))

    def decay_parameters(self) -> list[nn.Parameter]:
        return self.nets.decay_parameters()

    @property
    def n_nodes(self) -> int:
        return self.nets.n_nodes

    def node_losses(self, batch: Tensor) -> Tensor:
        """Each node's loss ``[n_nodes]`` (network, plus its linear rival where that is
        trained by gradient, see ``train_linear``)."""
        return self._node_losses(batch, self.nets(batch))

    def _node_losses(self, batch: Tensor, out: Tensor) -> Tensor:
        losses = self.terms.per_node(out, batch, self.scaled)
        if self.train_linear:
            lin = self.linear(batch)  # type: ignore[misc]
            if self.scaled:
                losses = losses + self.terms.per_node(lin, batch, True)
            else:  # only the discrete nodes' logistic rivals learn by gradient
                losses = losses.index_add(0, self.terms.discrete_nodes, self.terms.discrete_terms(lin, batch))
        return losses

    def loss(self, batch: Tensor) -> Tensor:
        """The nodes' losses, plus under ``auto`` the scale networks' Gaussian NLL of f's
        detached residuals (which validation, and so the choice of best weights, leaves out)."""
        out = self.nets(batch)
        total = self._node_losses(batch, out).sum()
        if self.scale is not None:
            c = slice(None) if self.terms.all_continuous else self.terms.cont_nodes  # a view where it can be
            r = self.terms.targets(batch) - out[c, :, 0].detach()
            log_s = self.scale(batch)[c, :, 0].clamp(-7, 5)
            total = total + scale_nll(r, log_s).mean(1).sum()
        return total

    @torch.no_grad()
    def after_training(self, train: Tensor, val: Tensor) -> None:
        """Solve every linear continuous mechanism exactly (least squares on the training
        rows), then choose per node between the linear mechanism and the network."""
        linear = self.linear if self.linear is not None else (self.nets if len(self.nets.weights) == 1 else None)
        cont = self.terms.cont_nodes.tolist()
        targets = self._all_targets(train) if cont else None
        if linear is not None and cont and not self.scaled:
            linear.fit_least_squares(train, targets, cont)
        if self.quadratic is not None and cont:
            self.quadratic.fit_least_squares(train, targets, cont)
        self.select_on_validation(val if val.shape[0] else train)
        if self.tables is not None:
            self.choose_tables(train, val if val.shape[0] else train)
        if self.scale is not None:
            self.choose_scale(train, val if val.shape[0] else train)
        self._rivals_fitted, self._scale_wait = False, 0  # a later fit checks against its own data

    @torch.no_grad()
    def settled(self, train: Tensor, val: Tensor) -> bool:
        """Whether more training can no longer change what this model computes: on these
        weights, the choices ``after_training`` makes put every node on a least-squares rival
        (linear or degree 2, fitted to the data alone, not to the network) that predicts what
        the network predicts (``linear_gap``, ``quadratic_gap``: not merely a held-out loss no
        worse than a network still learning), and leave every node's noise additive, so the
        networks and the scale networks go unused. Only for all-continuous additive fits,
        where no rival learns by gradient. The choices are the ones made at the end of
        training, on the same held-out rows; what stopping early can change is the network
        they are made against (see docs/benchmarks.md). The scale check, a pass over the
        training rows, runs on every tenth call at most once it has found a scaling node."""
        if self.linear is None or self.train_linear or self.scaled or val.shape[0] < 10 or self.terms.discrete:
            return False
        cont = self.terms.cont_nodes.tolist()
        if not self._rivals_fitted:
            targets = self._all_targets(train)
            self.linear.fit_least_squares(train, targets, cont)
            if self.quadratic is not None:
                self.quadratic.fit_least_squares(train, targets, cont)
            self._rivals_fitted = True
        agrees_linear = self.select_on_validation(val)
        # every node on a rival that *agrees* with the network: a rival chosen only because its
        # held-out loss is no worse than a network still learning (linear_z) could lose to it later
        agreed = agrees_linear | (self.use_quadratic if self.quadratic is not None else False)
        if not bool(agreed.all()):
            return False
        if self.scale is not None:
            self._scale_wait -= 1
            if self._scale_wait > 0:
                return False
            self.choose_scale(train, val)
            if bool(self.use_scale.any()):
                self._scale_wait = 10
                return False
        return True

    @torch.no_grad()
    def count_instead(self, x: Tensor, rows: int, val_fraction: float = 0.1, seed: int = 0) -> bool:
        """When every node is discrete with only discrete parents, the counted tables are
        the mechanisms and nothing is trained (whether that was done is returned) if either
        (a) each node's every parent configuration occurs at least ``rows`` times in ``x``
        (one pseudo-count per cell): no network could tell the data anything more; or
        (b) on held-out rows (``val_fraction`` of ``x``) each node's table predicts no worse
        than an L2-regularized logistic model of the node on its parents (one-hot, no
        interactions; scikit-learn) by ``table_z`` standard errors. A network's gain over a
        table at small n comes from sharing strength across sparse parent configurations;
        the logistic model is the cheapest model that shares it, so where it does not beat
        the table no network is trained (an assumption, stated to the user: a network could
        still find a smoothed interaction that neither rival has)."""
        if self.tables is None or len(self.tables.eligible) != self.n_nodes:
            return False
        full = rows > 0 and all(
            int(torch.bincount(self.tables.configs(j, x), minlength=self.tables.table(j).shape[0]).min()) >= rows
            for j in self.tables.eligible)
        if full:
            alphas = {j: 1.0 for j in self.tables.eligible}
        else:
            alphas = self._tables_beat_logistic(x, val_fraction, seed)
            if alphas is None:
                return False
        for j, a in alphas.items():
            self.tables.fit(j, x, a)
        self.use_table.fill_(True)
        return True

    @torch.no_grad()
    def _tables_beat_logistic(self, x: Tensor, val_fraction: float, seed: int,
                              alphas: tuple[float, ...] = (0.5, 1.0, 2.0)) -> dict[int, float] | None:
        """Per node, the pseudo-count of its best table on held-out rows, if every node's
        table predicts them no worse than the logistic rival (see ``count_instead``); else None."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        assert self.tables is not None
        n_val = int(round(x.shape[0] * val_fraction))
        if n_val < 20 or x.shape[0] - n_val < 20:
            return None
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed)).to(x.device)
        val, train = x[order[:n_val]], x[order[n_val:]]
        chosen: dict[int, float] = {}
        for j in self.tables.eligible:
            y_tr, y_val = self.tables.own_codes(j, train), self.tables.own_codes(j, val)
            chosen[j], table_loss = self._best_table(j, train, val, alphas)
            if not self.tables.blocks[j] or len(torch.unique(y_tr)) < 2:
                continue  # a root's table is its marginal; one class seen: nothing to share
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = LogisticRegression(C=1.0, max_iter=500).fit(self.tables.parents_onehot(j, train).cpu().numpy(),
                                                                  y_tr.cpu().numpy())
            p = torch.full((n_val, self.tables.table(j).shape[1]), 1e-12, dtype=torch.float64)
            p[:, torch.as_tensor(clf.classes_)] = torch.from_numpy(
                clf.predict_proba(self.tables.parents_onehot(j, val).cpu().numpy())).clamp_min(1e-12)
            logistic_loss = -p.log()[torch.arange(n_val), y_val.cpu()]
            if not self._no_worse(table_loss.double().cpu() - logistic_loss):  # the logistic rival predicts clearly better
                return None
        return chosen

    def _best_table(self, j: int, train: Tensor, val: Tensor, alphas: tuple[float, ...]) -> tuple[float, Tensor]:
        """Node ``j``'s table counted on ``train`` with the pseudo-count among ``alphas`` that
        predicts ``val`` best: that pseudo-count and the held-out log-loss per row (the table
        is left counted with the last pseudo-count tried)."""
        assert self.tables is not None
        y = self.tables.own_codes(j, val)
        best: tuple[float, Tensor] | None = None
        for a in alphas:
            self.tables.fit(j, train, a)
            loss = nn.functional.cross_entropy(self.tables.logits(j, val), y, reduction="none")
            if best is None or loss.mean() < best[1].mean():
                best = (a, loss)
        assert best is not None
        return best

    def _no_worse(self, diff: Tensor) -> bool:
        """Whether the paired per-row loss differences ``diff`` (table minus rival) show the
        table no worse than the rival by ``table_z`` standard errors (1e-3 nats: a tie)."""
        se = diff.std() / diff.shape[0] ** 0.5 if diff.shape[0] > 1 else diff.new_zeros(())
        return bool(diff.mean() <= self.table_z * se + 1e-3)

    @torch.no_grad()
    def choose_tables(self, train: Tensor, val: Tensor, alphas: tuple[float, ...] = (0.5, 1.0, 2.0)) -> None:
        """Per discrete node with only discrete parents, the counted table (pseudo-counts
        per cell chosen among ``alphas`` on held-out rows) replaces the selected mechanism
        where its held-out log-loss is no worse by ``table_z`` standard errors (paired over
        rows); once chosen it counts the held-out rows too."""
        assert self.tables is not None
        current = self.outputs(val)
        for j in self.tables.eligible:
            k = self.tables.table(j).shape[1]
            base = nn.functional.cross_entropy(current[j, :, :k], self.tables.own_codes(j, val), reduction="none")
            alpha, loss = self._best_table(j, train, val, alphas)
            self.use_table[j] = self._no_worse(loss - base)
            # the choice made, the table counts every row (the held-out ones too)
            self.tables.fit(j, torch.cat([train, val]) if val is not train else train, alpha)

    @torch.no_grad()
    def choose_scale(self, train: Tensor, val: Tensor) -> None:
        """Per continuous node, the location-scale rival ``z = f(parents) + s(parents)·u`` (the
        selected ``f``, ``log s`` from the node's scale network, kept within the range it
        reaches on the training rows) is chosen where it raises the held-out Gaussian
        likelihood of the residuals over a constant scale by ``scale_z`` standard errors
        (paired over rows) and by ``scale_gain`` nats per row; elsewhere the noise stays
        additive, exactly as under ``mechanism="additive"``."""
        c = self.terms.cont_nodes
        self.keep_scale_range(train, c)
        r_tr = self.terms.targets(train) - self.outputs(train)[c, :, 0]
        r_val = self.terms.targets(val) - self.outputs(val)[c, :, 0]
        self.use_scale.zero_()
        self.use_scale[c] = scale_pays(r_tr, r_val, self.log_scale(val)[c], self.scale_z, self.scale_gain)

    def _all_targets(self, batch: Tensor) -> Tensor:
        t = batch.new_zeros(self.n_nodes, batch.shape[0])
        t[self.terms.cont_nodes] = self.terms.targets(batch)
        return t

    @torch.no_grad()
    def select_on_validation(self, val: Tensor) -> Tensor | None:
        """Per node, choose the linear mechanism when (a) on held-out rows it predicts
        what the network predicts to within ``linear_gap`` (RMS, in standard deviations
        for a continuous node, in probability for a discrete one), so the choice cannot
        matter where there are data and linear extrapolates more conservatively; or (b)
        its held-out loss is no worse than the network's by ``linear_z`` standard errors
        (paired over rows). Then the degree-2 rival where it agrees with the network. With
        ``agreement_first`` a degree-2 rival that agrees and predicts what the linear one does
        not (by ``linear_gap``) outranks (b): a tie in a loss the noise dominates can hide a
        mean 0.03-0.07 sd off. A degree-2 rival whose products fail the curvature test
        (``curvature_alpha``) is never taken: the line is, where the degree-2 rival would have
        been. Otherwise keep the network: counterfactuals remove the noise that dominates the
        loss, so even a small real nonlinearity matters. Returns which nodes' linear mechanisms
        are taken by agreement: (a), or through a degree-2 rival that agrees with the network
        and that the training rows cannot tell from the line."""
        if self.linear is None or val.shape[0] < 10:
            return None
        lin_out, net_out = self.linear(val), self.nets(val)
        diff = self.terms.per_row(lin_out, val, self.scaled) - self.terms.per_row(net_out, val, self.scaled)
        se = diff.std(dim=1) / diff.shape[1] ** 0.5
        gap = ((lin_out[:, :, 0] - net_out[:, :, 0]) ** 2).mean(1).sqrt()
        for j, _, _, k in self.terms.discrete:
            p_lin, p_net = lin_out[j, :, :k].softmax(-1), net_out[j, :, :k].softmax(-1)
            gap[j] = ((p_lin - p_net) ** 2).sum(-1).mean().sqrt()
        agree, tie = gap < self.linear_gap, diff.mean(1) <= self.linear_z * se
        flat = torch.zeros_like(agree)
        if self.quadratic is not None and len(self.terms.cont_nodes):
            c = self.terms.cont_nodes
            quad_out = self.quadratic(val)[c]
            quad, curved = torch.zeros_like(agree), torch.ones_like(agree)
            quad[c] = agrees(quad_out, net_out[c, :, 0], self.quadratic_gap)
            if self.curvature_alpha is not None:  # the products significant on the training rows
                curved[c] = self.quadratic.curvature_p[c] < self.curvature_alpha
            if self.agreement_first:  # a tie does not outrank a degree-2 rival that agrees with the network
                bent = torch.zeros_like(agree)  # ... and predicts what the linear one does not (alike: linear is simpler)
                bent[c] = ~agrees(quad_out, lin_out[c, :, 0], self.linear_gap)
                tie = tie & ~(quad & bent & curved)
            # a degree-2 rival the training rows cannot tell from the line gives way to the line
            flat = quad & ~curved
            self.use_quadratic.copy_(quad & curved & ~(agree | tie))
        self.use_linear.copy_(agree | tie | flat)
        return agree | flat

    def outputs(self, batch: Tensor) -> Tensor:
        """``[n_nodes, batch, out_dim]`` from each node's selected mechanism."""
        out = self.nets(batch)
        if self.linear is not None and bool(self.use_linear.any()):
            out = torch.where(self.use_linear[:, None, None], self.linear(batch), out)
        if self.quadratic is not None and bool(self.use_quadratic.any()):
            out = torch.where(self.use_quadratic[:, None, None], self.quadratic(batch)[:, :, None], out)
        if self.tables is not None and bool(self.use_table.any()):
            out = out.clone()
            for j in self.tables.eligible:
                if bool(self.use_table[j]):
                    logp = self.tables.logits(j, batch)
                    out[j, :, : logp.shape[1]] = logp
        return out

    def node(self, j: int, p: Tensor) -> Tensor:
        if self.tables is not None and bool(self.use_table[j]):
            return self.tables.logits(j, p, relative=True)
        if self.quadratic is not None and bool(self.use_quadratic[j]):
            return self.quadratic.node(j, p)[:, None]
        return self.linear.node(j, p) if self.linear is not None and bool(self.use_linear[j]) else self.nets.node(j, p)

    @torch.no_grad()
    def residuals(self, x: Tensor) -> Tensor:
        """Standardized residuals ``[n_cont, rows]`` of the continuous nodes on ``x``."""
        chunks = []
        for start in range(0, x.shape[0], 16384):
            batch = x[start : start + 16384]
            o = self.outputs(batch)[self.terms.cont_nodes]
            r = self.terms.targets(batch) - o[:, :, 0]
            if self.scaled:
                r = r * torch.exp(-o[:, :, 1].clamp(-7, 5))
            elif self.scale is not None and bool(self.use_scale.any()):
                c = self.terms.cont_nodes
                r = torch.where(self.use_scale[c, None], r * torch.exp(-self.log_scale(batch)[c]), r)
            chunks.append(r)
        return torch.cat(chunks, dim=1)


def _tables(graph: CausalGraph, layout: Layout) -> Tables | None:
    """The counted-table rivals of the graph's discrete nodes with only discrete parents."""
    def block(n: str) -> tuple[int, int, int]:
        col, sl = layout.schema[n], layout.slices[n]
        return sl.start, sl.stop - sl.start, len(col.categories) if col.discrete else 0

    own = [block(n) if layout.schema[n].discrete else None for n in graph.nodes]
    tables = Tables([[block(p) for p in graph.parents(n)] for n in graph.nodes], own)
    return tables if tables.eligible else None


class CausalGen(TabularModel):
    """Causal Gen: ``build_model("causal-gen", graph)``; see the module docstring."""

    kind = "causal-gen"
    Config = CausalGenConfig

    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        # checkpoints written before the quadratic rival or the counted tables existed have no
        # weights for them (and none before "auto" existed had a scale network: their
        # mechanism is written out, "additive" or "location-scale")
        if "select_quadratic" not in {f.name for f in fields(cls.Config)}:  # a subclass's own config (CCGM)
            return config
        return {"select_quadratic": False, "select_table": False, **config}

    def _build(self, schema: Schema) -> nn.Module:
        return CausalGenNet(self.graph, Layout(schema), self.config)

    def _count_instead(self, x: Tensor, seed: int = 0) -> bool:
        count = getattr(self.net, "count_instead", None)  # CCGM's causal layer has no tables
        return bool(count is not None and count(x, self.config.table_rows, self._train_config().val_fraction, seed))

    def _finalize(self, x: Tensor) -> None:
        net: CausalGenNet = self.net  # type: ignore[assignment]
        net.eval()
        if len(net.terms.cont_nodes):
            r = net.residuals(x).double()
            probs = torch.linspace(0, 1, net.noise_q.shape[1], dtype=torch.float64, device=r.device)
            q = torch.quantile(r, probs, dim=1).T  # [n_cont, knots]
            net.noise_q[net.terms.cont_nodes] = q.to(net.noise_q.dtype)
        self._refresh()

    def _refresh(self) -> None:
        q = self.net.noise_q.double().cpu().numpy()  # type: ignore[union-attr]
        self._knots = {n: q[j] for j, n in enumerate(self.graph.nodes)}

    def _continuous_noise(self, node: str, n: int, rng: np.random.Generator) -> np.ndarray:
        return quantile_draws(self._knots[node], rng.random(n))

    def _out(self, node: str, p: Tensor) -> np.ndarray:
        return self.net.node(self.graph.index(node), p).double().cpu().numpy()  # type: ignore[union-attr]

    @property
    def linear_nodes(self) -> tuple[str, ...]:
        """Nodes whose selected mechanism is linear (see ``select_linear``)."""
        self._require_fitted()
        return tuple(n for j, n in enumerate(self.graph.nodes) if bool(self.net.use_linear[j]) and self.graph.parents(n))  # type: ignore[union-attr]

    @property
    def quadratic_nodes(self) -> tuple[str, ...]:
        """Nodes whose selected mechanism is a polynomial of degree 2 (see ``select_quadratic``)."""
        self._require_fitted()
        net: CausalGenNet = self.net  # type: ignore[assignment]
        if getattr(net, "quadratic", None) is None:  # CCGM's net has no such rival
            return ()
        return tuple(n for j, n in enumerate(self.graph.nodes) if bool(net.use_quadratic[j]) and self.graph.parents(n))

    @property
    def scaled_nodes(self) -> tuple[str, ...]:
        """Nodes whose noise scales with their parents (``mechanism="auto"`` chose the
        location-scale rival; every continuous node under ``"location-scale"``)."""
        if self.config.mechanism == "location-scale":
            self._require_fitted()
            return tuple(n for n in self.graph.nodes if not self.schema[n].discrete and self.graph.parents(n))
        return self._flagged_nodes("use_scale")

    @property
    def table_nodes(self) -> tuple[str, ...]:
        """Discrete nodes whose selected mechanism is their counted table (``select_table``)."""
        return self._flagged_nodes("use_table")

    def mechanism_choices(self) -> dict[str, str]:
        """Per node, the mechanism the fit chose: ``"root"`` (a continuous node without
        parents: its noise alone), ``"network"``, ``"linear"``, ``"polynomial of degree 2"``
        or, for a discrete node, ``"counted table"``; for a continuous node also whether its
        noise is ``additive`` or scales with the parents (``location-scale``)."""
        self._require_fitted()
        return describe_mechanisms(self)

    def _scale(self, node: str, p: Tensor) -> np.ndarray | None:
        """``s(parents)`` of a node whose noise scales with its parents (``mechanism="auto"``), else None."""
        of = getattr(self.net, "node_log_scale", None)
        log_s = of(self.graph.index(node), p) if of is not None else None
        return None if log_s is None else np.exp(log_s.double().cpu().numpy())

    def _predict_z(self, node: str, p: Tensor, noise: np.ndarray) -> np.ndarray:
        o = self._out(node, p)
        if self.config.mechanism == "location-scale":
            return o[:, 0] + np.exp(np.clip(o[:, 1], -7, 5)) * noise
        s = self._scale(node, p)
        return o[:, 0] + (noise if s is None else s * noise)

    def _log_density_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        """``log p(z | parents)`` of ``z = f + s·u``: the noise's kernel density (over its
        quantile knots, ``knots_log_density``) at ``u = (z − f) / s``, minus ``log s``."""
        o = self._out(node, p)
        if getattr(self.config, "mechanism", "additive") == "location-scale":
            log_s = np.clip(o[:, 1], -7, 5)
        else:
            s = self._scale(node, p)
            log_s = np.zeros(len(z)) if s is None else np.log(s)
        u = (z - o[:, 0]) * np.exp(-log_s)
        return knots_log_density(self._knots[node], u, self._fit_rows()) - log_s

    def _abduct_z(self, node: str, p: Tensor, z: np.ndarray) -> np.ndarray:
        o = self._out(node, p)
        if self.config.mechanism == "location-scale":
            return (z - o[:, 0]) * np.exp(-np.clip(o[:, 1], -7, 5))
        s = self._scale(node, p)
        return z - o[:, 0] if s is None else (z - o[:, 0]) / s

    def _logits(self, node: str, p: Tensor) -> np.ndarray:
        return self._out(node, p)[:, : len(self.schema[node].categories)]  # type: ignore[index]
