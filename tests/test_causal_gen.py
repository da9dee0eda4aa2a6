"""Causal Gen's per-node networks computed together: the grouped forward pass (every node in
one batched product, roots on one row) equals each node's own network, in value and gradient;
old checkpoints sample as they did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generators import load_model
from generators.nets import ParentNets

REPO = Path(__file__).resolve().parents[1]


def _random_mask(seed: int, nodes: int = 7, cols_per_node: int = 2) -> torch.Tensor:
    """A random DAG over ``nodes`` nodes (roots not all first), each node's value in
    ``cols_per_node`` encoded columns (as a one-hot node has several)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(nodes)  # topological order, so roots land anywhere in node order
    mask = torch.zeros(nodes, nodes * cols_per_node)
    for a in range(nodes):
        for b in range(a + 1, nodes):
            if rng.random() < 0.4:
                child, parent = order[b], order[a]
                mask[child, parent * cols_per_node : (parent + 1) * cols_per_node] = 1.0
    mask[order[1]] = 0.0  # at least two roots
    return mask


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_grouped_networks_equal_each_nodes_own(seed, layers):
    """Every node's output and gradient from the grouped pass equal those of the node's own
    network on its parents' columns, to float32 round-off (1e-5 relative)."""
    torch.manual_seed(seed)
    mask = _random_mask(seed)
    net = ParentNets(mask, out_dim=3, hidden=16, layers=layers)
    with torch.no_grad():  # non-zero skips and biases, so every part of the network counts
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    x = torch.randn(64, mask.shape[1])
    grouped = net(x)
    assert grouped.shape == (mask.shape[0], 64, 3)
    assert net._root_split() is not None  # the roots' shortcut was taken
    own = torch.stack([net.node(j, x[:, net.parent_columns(j)]) for j in range(net.n_nodes)])
    scale = own.abs().max()
    assert (grouped - own).abs().max() <= 1e-5 * scale

    params = list(net.parameters())
    weights = torch.randn_like(own)
    g_grouped = torch.autograd.grad((grouped * weights).sum(), params)
    g_own = torch.autograd.grad((own * weights).sum(), params)
    for a, b in zip(g_grouped, g_own):
        assert (a - b).abs().max() <= 1e-5 * max(float(b.abs().max()), 1.0)


def test_roots_give_one_value_on_every_row_and_dropout_takes_the_full_path():
    mask = _random_mask(3)
    roots = [j for j in range(mask.shape[0]) if not mask[j].any()]
    net = ParentNets(mask, out_dim=1, hidden=8, layers=2, dropout=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    x = torch.randn(32, mask.shape[1])
    net.eval()
    out = net(x)
    assert torch.equal(out[roots], out[roots, :1].expand(-1, 32, -1))
    net.train()  # dropout differs by row, so roots are computed on every row
    torch.manual_seed(0)
    assert net(x)[roots].std(1).max() > 0


def test_format_1_checkpoint_samples_as_it_did():
    """tests/fixtures/checkpoint-v1 (written before the grouped shortcuts) loads and gives
    the samples and counterfactuals it gave before them (to 1e-6 relative)."""
    model = load_model(REPO / "tests" / "fixtures" / "checkpoint-v1")
    s = model.sample(5, seed=0)
    expected = [[1.333778744407046, 14.664667981291304, 9.56945682652249],
                [0.33768573284245973, 3.6194709701802674, -0.2727823658237982],
                [-0.5763446176495738, -5.266259442191101, -2.31838377195412],
                [-1.257853910217528, -12.616558400439345, -9.478516947731453],
                [1.8790115736339432, 20.23986866780296, 12.656599166251274]]
    np.testing.assert_allclose(s.to_numpy(), expected, rtol=1e-6)
    cf = model.counterfactual(s, do={"x1": 0.5}, seed=0)
    np.testing.assert_allclose(cf["x3"].to_numpy(), [4.487661883284762, 0.7165064162302972, 4.241824727253985,
                                                     1.2354194253314539, 4.2516665248468755], rtol=1e-6)
