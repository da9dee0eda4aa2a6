"""Distributed training on CPUs: two gloo processes on loopback, as torchrun would start them
on several GPUs or hosts (generators.distributed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recorder(nn.Module):
    """A linear least-squares model that records which rows each batch held (column 0 is
    the row's id)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))
        self.seen: list[list[int]] = []

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(batch[:, 0].long().tolist())
        x, y = batch[:, 1:4], batch[:, 4]
        return ((x @ self.w - y) ** 2).mean()


def _rank_main(rank: int, port: int, out: str) -> None:
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from causal import datasets
    from generators import build_model, distributed
    from generators.training import TrainConfig, train

    assert distributed.init_from_env() and distributed.world_size() == 2 and distributed.rank() == rank
    # the loop itself: each rank a disjoint half of every batch, the same weights after
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.01 * rng.normal(size=400)
    data = torch.tensor(np.column_stack([np.arange(400), x, y]), dtype=torch.float32)
    rec = _Recorder()
    with torch.no_grad():
        # different (seeded) starting weights on the two ranks: DDP broadcasts rank 0's
        rec.w.add_(torch.randn(3, generator=torch.Generator().manual_seed(rank)) * (rank + 1))
    report = train(rec, data, TrainConfig(steps=300, batch_size=40, lr=0.05, val_fraction=0.1, patience=None))
    # a real model, its checkpoint written by rank 0 only
    ds = datasets.load("triangle-lin", n=800, seed=0)
    model = build_model("causal-gen", ds.graph, hidden=16, steps=200)
    ckpt = Path(out) / "ckpt"
    model.fit(ds.data, seed=0, checkpoint_dir=ckpt if rank == 0 else Path(out) / f"ckpt-rank{rank}")
    flat = torch.cat([p.detach().flatten() for p in model.net.parameters()])
    # CausalGAN's own adversarial loop: sliced batches, averaged gradients, broadcast state
    from test_causal_gan import GRAPH as GAN_GRAPH, TINY as GAN_TINY, image_data

    from generators.image.causal_gan import CausalGAN

    gan_model = CausalGAN(GAN_GRAPH, GAN_TINY)
    gan_model.fit(image_data(), seed=0, checkpoint_dir=Path(out) / ("gan" if rank == 0 else f"gan-rank{rank}"))
    gan = torch.cat([t.detach().flatten().double() for t in [*gan_model.net.parameters(), *gan_model.net.buffers()]
                     if t.is_floating_point()]).tolist()
    Path(out, f"rank{rank}.json").write_text(json.dumps({
        "seen": rec.seen, "w": rec.w.detach().tolist(), "steps": report.steps, "epochs": report.epochs,
        "model": flat.tolist(), "gan": gan,
    }))
    distributed.shutdown()


@pytest.mark.slow
def test_two_gloo_processes_split_every_batch_and_keep_the_same_weights(tmp_path) -> None:
    mp.spawn(_rank_main, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["steps"] == r1["steps"] == 300 and r0["epochs"] == r1["epochs"]
    assert len(r0["seen"]) == len(r1["seen"]) == 300
    for a, b in zip(r0["seen"], r1["seen"]):
        assert len(a) == len(b) == 20 and not set(a) & set(b)  # a batch of 40: 20 rows each, disjoint
    first_epoch = set().union(*r0["seen"][:9], *r1["seen"][:9])  # 360 training rows, 9 batches an epoch
    assert len(first_epoch) == 360
    assert r0["w"] == r1["w"]  # identical weights on both ranks (bit for bit)
    np.testing.assert_allclose(r0["w"], [1.0, -2.0, 0.5], atol=0.02)
    assert r0["model"] == r1["model"]
    assert (tmp_path / "ckpt" / "model.safetensors").exists() and not (tmp_path / "ckpt-rank1").exists()
    from generators import load_model

    again = load_model(tmp_path / "ckpt")
    assert torch.cat([p.detach().flatten() for p in again.net.parameters()]).tolist() == r0["model"]
    assert r0["gan"] == r1["gan"]  # CausalGAN too: weights and buffers identical on both ranks
    assert (tmp_path / "gan" / "model.safetensors").exists() and not (tmp_path / "gan-rank1").exists()
    gan = load_model(tmp_path / "gan")
    assert len(gan.sample(8, do={"a": 1}, seed=0)) == 8


@pytest.mark.slow
def test_torchrun_trains_from_the_cli_and_the_run_loads_like_any_other(tmp_path) -> None:
    out = tmp_path / "tri"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "app.cli", "train", "--dataset", "triangle-lin", "-n", "1000", "--set", "steps=300", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("saved to:") == 1, proc.stdout  # rank 0 alone reports
    assert "distributed: 2 processes (gloo)" in proc.stderr
    from causal import datasets
    from generators import load_model

    model = load_model(out)
    do = model.sample(2000, do={"x2": 12.0}, seed=0)
    truth = datasets.info("triangle-lin").scm.sample(20_000, do={"x2": 12.0}, seed=0)
    # a short run (300 steps of a batch split over two processes): within 0.5 of the true mean
    assert abs(do["x3"].mean() - truth["x3"].mean()) < 0.5 and do["x1"].mean() == pytest.approx(truth["x1"].mean(), abs=0.2)
