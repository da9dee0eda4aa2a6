"""Training a model on a built-in dataset: the plain call behind the app's Train button.

>>> from app.training import TrainSpec, train
>>> trained = train(TrainSpec("triangle-lin", n_rows=300, hidden=8, steps=20))
>>> trained.report.steps
20
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from causal import datasets
from causal.datasets import Dataset
from generators import FitReport, Progress, TabularModel, build_model, model_kinds

__all__ = ["TrainSpec", "TrainedModel", "train", "MODEL_KINDS"]

MODEL_KINDS = tuple(model_kinds())


@dataclass(frozen=True)
class TrainSpec:
    """What to train: the data (a built-in dataset and how many rows) and the model."""

    dataset: str
    n_rows: int = 2000  # rows drawn from the dataset's SCM
    kind: str = "causal-gen"  # a generators.model_kinds() name
    hidden: int = 64  # units per hidden layer of each node's network
    steps: int = 2000  # optimizer steps of the learning-rate schedule
    seed: int = 0  # seeds both the data draw and the training

    def __post_init__(self) -> None:
        if self.dataset not in datasets.list():
            raise ValueError(f"unknown dataset '{self.dataset}'; the built-in datasets are {', '.join(datasets.list())}")
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind '{self.kind}'; choose one of {', '.join(MODEL_KINDS)}")
        if self.n_rows < 50:
            raise ValueError(f"train on at least 50 rows, not {self.n_rows}")
        if self.hidden < 1 or self.steps < 1:
            raise ValueError("hidden units and training steps must be at least 1")


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model with the data it saw and the dataset's ground-truth SCM."""

    spec: TrainSpec
    model: TabularModel
    dataset: Dataset
    report: FitReport


def train(
    spec: TrainSpec,
    progress: Callable[[Progress], Any] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> TrainedModel:
    """Draw ``spec.n_rows`` rows of the dataset and fit a model of ``spec.kind`` to them.

    ``progress`` is called after every epoch; ``cancel`` stops training early, keeping the
    best weights so far (the report then says ``stopped="cancelled"``).
    """
    ds = datasets.load(spec.dataset, n=spec.n_rows, seed=spec.seed)
    model = build_model(spec.kind, ds.graph, hidden=spec.hidden, steps=spec.steps)
    report = model.fit(ds.data, seed=spec.seed, callbacks=[progress] if progress else [], cancel=cancel)
    return TrainedModel(spec, model, ds, report)
