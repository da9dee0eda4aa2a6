"""What every image model shares: small conv building blocks, label encoding, the
``ImageModel`` base class (fit, sample, counterfactual, save/load) for a graph of labels and
one image node.

The user contract (same verbs as the tabular models, with ``ImageData`` in place of a table)::

    model = build_model("ccgm", graph)              # graph: labels + one node of kind "image"
    report = model.fit(data, seed=0)                # data: causal.imagedata.ImageData
    obs  = model.sample(64, seed=0)                 # ImageData: labels + uint8 images
    intv = model.sample(64, do={"Mustache": 1}, seed=0)
    cond = model.sample(64, given={"Mustache": 1}, seed=0)   # obs.labels.attrs: acceptance_rate ...
    cf   = model.counterfactual(data[:16], do={"Male": 0})   # same index as data[:16]
    model.save(path); same = generators.load_model(path)

Semantics, implemented here once for every image model:

- Labels come from the model's *label mechanisms* (``self.labels``, a fitted
  ``TabularModel`` over the label graph, i.e. the graph without the image node), through the
  shared query code of ``causal.queries``: ``sample`` draws them with ``simulate`` (or by
  rejection with ``sample_conditional`` under ``given``), then draws style noise, then
  decodes images from (labels of the image's parents, style). One seed drives all three.
- ``counterfactual`` is abduction, action, prediction: the label counterfactual uses the
  *observed* labels (``causal.queries.counterfactual``); the style is abducted from the
  factual image and its observed labels (``_abduct_style``); the image is decoded from the
  counterfactual labels and that style. When no intervened node is an ancestor of the image
  the image is returned unchanged (it is not affected; same rule as for table columns).
- ``do`` or ``given`` on the image node itself is refused: images follow from labels.

Training runs in two phases, each through one loop with the same callbacks, cancellation
and checkpoints: (1) the label mechanisms on the label table (``self.labels.fit``), (2) the
image networks on images and labels (``_fit_images``; by default the generic loop of
``generators.training`` on ``self.image_net.loss(images, labels)``). Callbacks see one
continuous ``Progress`` (epochs and steps of phase 2 continue those of phase 1).

Subclass contract (what an image model provides)::

    class MyImageModel(ImageModel):
        kind = "my-kind"
        Config = MyConfig          # frozen dataclass; ``train`` (TrainConfig) trains the label
                                   # mechanisms, ``image_train`` (TrainConfig) the image networks
        style_dim: int             # size of the style noise (set in __init__ or _build)

        def _make_label_model(self) -> TabularModel: ...
            # unfitted label mechanisms over self.label_graph (default: CausalGen with
            # config.labels when the config has it, else CausalGen's defaults)
        def _build(self) -> nn.Module: ...
            # the image network(s) as ONE module (saved as self.image_net); may read
            # self.info (ImageInfo: size, channels), self.encoding (LabelEncoding of the
            # image's parents: .width columns, in the order .nodes, fixed at fit and kept
            # in checkpoints) and self.style_dim
        def _decode(self, labels: Tensor, style: Tensor) -> Tensor: ...
            # labels [n, encoding.width] (encoded parents of the image), style [n, style_dim]
            # -> images float [n, C, H, W] in [0, 1]; called without gradients, in chunks
        def _abduct_style(self, images: Tensor, labels: Tensor) -> Tensor: ...
            # images float [n, C, H, W] in [0, 1], labels as in _decode -> style [n, style_dim]
        def _style_noise(self, n: int, rng: np.random.Generator) -> np.ndarray: ...
            # optional; default N(0, I) float32 [n, style_dim]
        def _after_fit(self, images, labels) -> None: ...
            # optional; after the image phase, with the training images (uint8) and
            # encoded labels on the device: estimate what needs the whole data
        def _fit_images(self, images, labels, seed, callbacks, cancel, checkpoint) -> FitReport:
            # optional; default: generic loop on self.image_net.loss(images_float, labels)
            # images uint8 [n, C, H, W] and labels [n, width] on the device; a subclass with
            # its own loop (a GAN's two optimizers) must call every callback with a Progress
            # per epoch, stop on ``cancel`` / ``training.Cancelled`` keeping a usable model,
            # call ``checkpoint(progress)`` every ``checkpoint_every`` epochs when given, and
            # return a FitReport.

Everything else (validation of ``ImageData``, label encoding, query checks, batching on
the device, uint8 conversion, persistence and loading) lives here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import DataError, Schema, load_table
from causal.graph import CausalGraph, GraphError, require_graph
from causal.imagedata import ImageData
from causal.interventions import InterventionError, parse_do
from causal.queries import EvidenceError, Seed, counterfactual, rng_from, sample, sample_conditional
from generators.base import (
    CheckpointError,
    Layout,
    NotFittedError,
    TabularModel,
    _config_from_dict,
    _config_to_dict,
    write_checkpoint,
)
from generators.support import PREFIX as SUPPORT_PREFIX
from generators import distributed
from generators.training import Callback, FitReport, Progress, TrainConfig, is_cancelled, pick_device, train

__all__ = [
    "ImageModel", "ImageInfo", "LabelEncoding", "ImageRows", "split_image_graph",
    "ConvEncoder", "ConvDecoder", "ConvDiscriminator", "ConvHead", "planned_epochs", "planned_steps",
]

DECODE_CHUNK = 512  # images per forward pass when sampling, abducting or decoding


# ---------------------------------------------------------------------- graph
def split_image_graph(graph: CausalGraph) -> tuple[CausalGraph, str]:
    """``(label graph, image node)``: the graph without its one image node, and that node.

    The image node must exist, be unique, and have no children (labels cause the image;
    nothing is caused by the pixels). Edges into it say which labels the image shows.
    """
    images = [n for n in graph.nodes if graph.kind(n) == "image"]
    if not images:
        raise GraphError(
            "an image model needs a node of kind 'image' (the images), e.g. kinds={'image': 'image'}; "
            "for a table without images use a tabular model"
        )
    if len(images) > 1:
        raise GraphError(f"an image model takes one image node, the graph has {len(images)}: {', '.join(images)}")
    node = images[0]
    if graph.children(node):
        raise GraphError(
            f"the image node '{node}' has children ({', '.join(graph.children(node))}); labels must be the "
            "image's causes, not its effects"
        )
    labels = [n for n in graph.nodes if n != node]
    if not labels:
        raise GraphError(f"the graph has only the image node '{node}'; add the label nodes it depends on")
    kinds = {n: k for n, k in graph.kinds.items() if n != node}
    edges = [(a, b) for a, b in graph.edges if b != node]
    return CausalGraph(labels, edges, kinds), node


# ---------------------------------------------------------------------- labels
class LabelEncoding:
    """The encoded columns of some label nodes, for networks: binary 0/1, categorical
    one-hot, continuous standardized (``generators.base.Layout`` over those nodes).

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


# ---------------------------------------------------------------------- conv blocks
@dataclass(frozen=True)
class ImageInfo:
    """The images a model was fitted on: side in pixels (square) and channels (1 or 3)."""

    size: int
    channels: int

    def __post_init__(self) -> None:
        check_image_size(self.size, self.channels)


def check_image_size(size: int, channels: int) -> None:
    if size < 8 or size > 128 or size & (size - 1):
        raise DataError(f"images must be square with a side of 8, 16, 32, 64 or 128 pixels, got {size}; resize them")
    if channels not in (1, 3):
        raise DataError(f"images must have 1 (grey) or 3 (RGB) channels, got {channels}")


def _widths(size: int, width: int) -> list[int]:
    """Channel widths of the stride-2 stages from ``size`` down to 4 pixels."""
    stages = int(math.log2(size)) - 2
    return [width * min(2**i, 4) for i in range(stages)]


class ConvEncoder(nn.Module):
    """``[n, C, S, S]`` -> features ``[n, feat_dim]``: stride-2 4x4 convolutions down to
    4x4 pixels (widths ``width``, ``2·width``, ``4·width``, capped), LeakyReLU(0.2)."""

    def __init__(self, channels: int, size: int, width: int = 32, spectral: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = channels
        for w in _widths(size, width):
            conv = nn.Conv2d(prev, w, 4, 2, 1)
            layers += [nn.utils.parametrizations.spectral_norm(conv) if spectral else conv, nn.LeakyReLU(0.2)]
            prev = w
        self.body = nn.Sequential(*layers)
        self.feat_dim = prev * 16

    def forward(self, images: Tensor) -> Tensor:
        return self.body(images).flatten(1)


class ConvDecoder(nn.Module):
    """``[n, in_dim]`` -> image *logits* ``[n, C, S, S]`` (apply ``sigmoid`` for [0, 1]):
    a linear map to 4x4 features, then stride-2 transposed convolutions mirroring
    ``ConvEncoder``, SiLU. Used as the VAE decoder and as a GAN generator."""

    def __init__(self, in_dim: int, channels: int, size: int, width: int = 32) -> None:
        super().__init__()
        widths = _widths(size, width)[::-1]
        self.start = widths[0]
        self.fc = nn.Linear(in_dim, widths[0] * 16)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:] + [channels]):
            layers += [nn.SiLU(), nn.ConvTranspose2d(a, b, 4, 2, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.fc(z).view(z.shape[0], self.start, 4, 4))


class ConvHead(nn.Module):
    """``ConvEncoder`` plus a linear head: images -> ``[n, out_dim]`` (a labeler, an
    attribute regressor, a label head)."""

    def __init__(self, channels: int, size: int, out_dim: int, width: int = 32, spectral: bool = False) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, size, width, spectral)
        self.head = nn.Linear(self.encoder.feat_dim, out_dim)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.encoder(images))


class ConvDiscriminator(nn.Module):
    """A (conditional) discriminator: images ``[n, C, S, S]`` and optional encoded labels
    ``[n, cond_dim]`` -> one score per image ``[n]``. The condition enters by projection
    (Miyato & Koyama 2018): ``score = w·h + <embed(cond), h>``. Spectral norm by default."""

    def __init__(self, channels: int, size: int, cond_dim: int = 0, width: int = 32, spectral: bool = True) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, size, width, spectral)
        lin = nn.Linear(self.encoder.feat_dim, 1)
        self.out = nn.utils.parametrizations.spectral_norm(lin) if spectral else lin
        self.embed = nn.Linear(cond_dim, self.encoder.feat_dim, bias=False) if cond_dim else None

    def forward(self, images: Tensor, cond: Tensor | None = None) -> Tensor:
        h = self.encoder(images)
        score = self.out(h)[:, 0]
        if self.embed is not None and cond is not None:
            score = score + (self.embed(cond) * h).sum(1)
        return score


class ImageRows(nn.Module):
    """Adapts an image network with ``loss(images, labels)`` to the generic loop, whose
    batches are rows of one tensor: here the rows are sample numbers, and the images
    (uint8, on the device) and encoded labels are looked up per batch. Evaluation of a
    large batch runs in chunks of ``chunk`` images."""

    def __init__(self, net: nn.Module, images: Tensor, labels: Tensor, chunk: int = DECODE_CHUNK) -> None:
        super().__init__()
        self.net = net
        self._images, self._labels, self._chunk = images, labels, chunk

    @staticmethod
    def rows(n: int, device: Any = None) -> Tensor:
        """The data tensor to hand to ``train``: ``[[0], [1], ..., [n-1]]``."""
        return torch.arange(n, device=device)[:, None]

    def batch(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        idx = rows[:, 0].long()
        return self._images[idx].float().div_(255.0), self._labels[idx]

    def loss(self, rows: Tensor) -> Tensor:
        if self.training or rows.shape[0] <= self._chunk:
            return self.net.loss(*self.batch(rows))
        total = 0.0
        for s in range(0, rows.shape[0], self._chunk):
            part = rows[s : s + self._chunk]
            total = total + self.net.loss(*self.batch(part)) * part.shape[0]
        return total / rows.shape[0]  # type: ignore[return-value]

    def decay_parameters(self) -> list[nn.Parameter]:
        return list(getattr(self.net, "decay_parameters", list)())


def planned_steps(n: int, config: TrainConfig) -> tuple[int, int]:
    """``(optimizer steps, steps per epoch)`` that ``training.train`` plans for ``n`` rows
    under ``config`` (its own arithmetic; fewer steps only when it stops early)."""
    n_val = int(round(n * config.val_fraction)) if n >= 40 else 0
    n_tr = n - n_val
    per_epoch = max(n_tr // max(min(config.batch_size, n_tr), 1), 1)
    total = min(config.steps, config.max_epochs * per_epoch) if config.schedule == "cosine" else config.max_epochs * per_epoch
    return total, per_epoch


def planned_epochs(n: int, config: TrainConfig) -> int:
    """How many epochs ``training.train`` plans for ``n`` rows under ``config``, so that
    progress can be reported across training phases."""
    total, per_epoch = planned_steps(n, config)
    return -(-total // per_epoch)


# ---------------------------------------------------------------------- the base model
class ImageModel:
    """Base of every image model over labels and one image node; see the module docstring
    for the user contract and for what a subclass provides."""

    kind: ClassVar[str] = "abstract-image"
    Config: ClassVar[type] = object
    style_dim: int = 0

    def __init__(self, graph: CausalGraph | str, config: Any = None) -> None:
        self.graph = require_graph(graph)
        self.label_graph, self.image_node = split_image_graph(self.graph)
        self.config = config if config is not None else self.Config()
        self.labels: TabularModel | None = None  # the fitted label mechanisms
        self.image_net: nn.Module | None = None
        self.info: ImageInfo | None = None
        self.encoding: LabelEncoding | None = None  # the image's parents, encoded
        self.report: FitReport | None = None
        self._net: nn.ModuleDict | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ subclass hooks
    def _make_label_model(self) -> TabularModel:
        from generators.causal_gen import CausalGen, CausalGenConfig

        return CausalGen(self.label_graph, getattr(self.config, "labels", None) or CausalGenConfig())

    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _decode(self, labels: Tensor, style: Tensor) -> Tensor:
        raise NotImplementedError

    def _abduct_style(self, images: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def _style_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.style_dim)).astype(np.float32)

    def _image_train_config(self) -> TrainConfig:
        return getattr(self.config, "image_train", TrainConfig())

    def _fit_images(
        self,
        images: Tensor,
        labels: Tensor,
        seed: int,
        callbacks: Iterable[Callback],
        cancel: threading.Event | Callable[[], bool] | None,
        checkpoint: Callable[[Progress], None] | None,
    ) -> FitReport:
        """Default: the generic loop on ``self.image_net.loss(images, labels)``."""
        rows = ImageRows(self.image_net, images, labels)  # type: ignore[arg-type]
        return train(rows, ImageRows.rows(len(images), images.device), self._image_train_config(), seed=seed,
                     callbacks=callbacks, cancel=cancel, checkpoint=checkpoint)

    # ------------------------------------------------------------------ state
    @property
    def net(self) -> nn.ModuleDict:
        """Every weight of the model in one module: ``labels`` (the label mechanisms'
        network) and ``image`` (``image_net``); ``model.net.to(device)`` moves both."""
        self._require_fitted()
        if self._net is None or self._net["image"] is not self.image_net or self._net["labels"] is not self.labels.net:  # type: ignore[union-attr]
            self._net = nn.ModuleDict({"labels": self.labels.net, "image": self.image_net})  # type: ignore[union-attr, dict-item]
        return self._net

    @property
    def schema(self) -> Schema:
        """The label columns (in the label graph's order)."""
        self._require_fitted()
        return self.labels.schema  # type: ignore[union-attr]

    @property
    def fitted(self) -> bool:
        return self.labels is not None and self.labels.fitted and self.image_net is not None

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"this {self.kind} model is not fitted yet: call fit(data) or load a checkpoint")

    @property
    def _device(self) -> torch.device:
        return next(iter(self.image_net.parameters())).device  # type: ignore[union-attr]

    @property
    def image_parents(self) -> tuple[str, ...]:
        return self.graph.parents(self.image_node)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: ImageData,
        seed: int = 0,
        *,
        callbacks: Iterable[Callback] = (),
        cancel: threading.Event | Callable[[], bool] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> FitReport:
        """Fit the label mechanisms, then the image networks, to ``data`` (``ImageData``
        whose label table has one column per label node; other columns are ignored).

        Labels are validated like a table (``DataError`` names the column); images must be
        square, 8 to 128 pixels, 1 or 3 channels. With ``checkpoint_dir`` the model is saved
        there during the image phase (best weights so far, atomically) and at the end.
        The report covers both phases (epochs, steps and seconds summed; the validation
        loss is the image phase's); ``self.labels.report`` is the label phase's own.
        """
        info = self._check_images(data, fitting=True)
        table, schema = load_table(data.labels, self.label_graph, extra="drop")
        self.graph = self.graph.with_kinds({c.name: c.kind for c in schema.columns})
        self.label_graph = self.label_graph.with_kinds({c.name: c.kind for c in schema.columns})
        self.info = info
        self.encoding = LabelEncoding(schema, self.image_parents)
        callbacks = list(callbacks)
        image_cfg = self._image_train_config()
        device = pick_device(image_cfg.device)
        torch.manual_seed(seed)
        self.labels = self._make_label_model()
        self.image_net = self._build().to(device)
        self._net = None
        later = planned_epochs(len(data), image_cfg)
        shifted = [_shift(cb, 0, 0, 0.0, later) for cb in callbacks]
        label_report = self.labels.fit(table, seed=seed, callbacks=shifted, cancel=cancel)
        self._after_label_fit()
        self.labels.net.to(device)  # type: ignore[union-attr]
        self.image_net.to(device)

        images = torch.from_numpy(np.ascontiguousarray(data.images.transpose(0, 3, 1, 2))).to(device)
        labels = self.encoding.tensor(table, device)

        def save_checkpoint(_: Progress) -> None:
            self.save(checkpoint_dir)  # type: ignore[arg-type]

        e1, s1, t1 = label_report.epochs, label_report.steps, label_report.seconds
        if label_report.stopped == "cancelled" or is_cancelled(cancel):
            image_report = FitReport(0, 0, 0.0, 0, math.inf, "cancelled", str(device), len(data), 0)
        else:
            torch.manual_seed(seed)
            image_report = self._fit_images(
                images, labels, seed, [_shift(cb, e1, s1, t1, 0) for cb in callbacks], cancel,
                save_checkpoint if checkpoint_dir is not None else None,
            )
        self.image_net.eval()
        self._after_fit(images, labels)
        self.report = FitReport(
            epochs=e1 + image_report.epochs,
            steps=s1 + image_report.steps,
            seconds=t1 + image_report.seconds,
            best_epoch=e1 + image_report.best_epoch,
            best_val_loss=image_report.best_val_loss,
            stopped=image_report.stopped,
            device=image_report.device,
            n_train=image_report.n_train,
            n_val=image_report.n_val,
            history=label_report.history + tuple((e1 + e, a, b) for e, a, b in image_report.history),
        )
        if checkpoint_dir is not None and distributed.is_main():
            self.save(checkpoint_dir)
        return self.report

    def _after_label_fit(self) -> None:
        """After the label mechanisms are fitted or loaded: adopt their graph when it
        gained edges (a label model may learn edges the user did not draw)."""
        lg = self.labels.graph  # type: ignore[union-attr]
        if set(lg.edges) != set(self.label_graph.edges):
            image_edges = [(p, self.image_node) for p in self.image_parents]
            self.label_graph = lg
            self.graph = CausalGraph(self.graph.nodes, list(lg.edges) + image_edges, self.graph.kinds)

    def _after_fit(self, images: Tensor, labels: Tensor) -> None:
        """After the image phase: estimate what needs the whole data."""

    # ------------------------------------------------------------------ checks
    def _check_images(self, data: Any, fitting: bool = False) -> ImageInfo:
        if not isinstance(data, ImageData):
            raise DataError(
                f"a {self.kind} model of images takes ImageData (labels + images), got {type(data).__name__}"
            )
        if data.image_node != self.image_node:
            raise DataError(
                f"the images are named '{data.image_node}' but the graph's image node is '{self.image_node}'"
            )
        if data.height != data.width:
            raise DataError(f"images must be square, got {data.height}x{data.width}; crop or resize them")
        info = ImageInfo(data.size, data.channels)
        if not fitting and info != self.info:
            raise DataError(
                f"the model was fitted on {self.info.size}x{self.info.size}x{self.info.channels} images, "  # type: ignore[union-attr]
                f"got {info.size}x{info.size}x{info.channels}"
            )
        return info

    def _check_query(self, do: Mapping[str, Any] | None, given: Mapping[str, Any] | None) -> None:
        for what, spec, err in (("intervene on", do, InterventionError), ("condition on", given, EvidenceError)):
            if spec and self.image_node in spec:
                raise err(
                    f"cannot {what} '{self.image_node}': it is the image node, which follows from its labels "
                    f"({', '.join(self.image_parents) or 'none'}); {what} a label instead"
                )

    # ------------------------------------------------------------------ queries
    def sample(
        self,
        n: int,
        do: Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        seed: Seed = None,
        **conditioning: Any,
    ) -> ImageData:
        """``n`` labelled images: observational, interventional (``do``), conditional
        (``given``; ``labels.attrs`` then holds ``acceptance_rate``, ``draws``, ``event``)."""
        self._require_fitted()
        self._check_query(do, given)
        rng = rng_from(seed)
        if given:
            res = sample_conditional(self.labels, n, given, do, rng, **conditioning)  # type: ignore[arg-type]
            labels = res.data
            labels.attrs.update(acceptance_rate=res.acceptance_rate, draws=res.draws, accepted=res.accepted, event=res.events)
        else:
            if conditioning:
                raise TypeError(f"unexpected option(s) {', '.join(conditioning)} without given=")
            labels = sample(self.labels, n, do, rng)  # type: ignore[arg-type]
        style = torch.from_numpy(self._style_noise(n, rng)).to(self._device)
        images = self.decode(labels, style)
        out = ImageData(labels, images, image_node=self.image_node)
        return out

    def counterfactual(
        self, data: ImageData, do: Mapping[str, Any] | None = None, seed: Seed = None, *, pixel_noise: bool | None = None
    ) -> ImageData:
        """What each labelled image would have been under ``do`` (see the module
        docstring); the result has the same index (and label columns) as ``data``.

        ``pixel_noise`` (default: the config's ``pixel_noise``, else False) treats the
        image mechanism as ``x = g(labels, style) + ε`` and abducts ``ε`` as the
        reconstruction residual, so the counterfactual is ``x + g(labels', s) - g(labels, s)``:
        detail the decoder cannot reproduce (a glyph's exact stroke) is kept, and what the
        intervention changes is drawn by the decoder. Without it the image is ``g(labels', s)``.
        """
        self._require_fitted()
        self._check_images(data)
        self._check_query(do, None)
        rng = rng_from(seed)
        labels_cf = counterfactual(self.labels, data.labels, do, rng)  # type: ignore[arg-type]
        ivs = parse_do(do, self.schema)
        reached = {iv.node for iv in ivs}
        for iv in ivs:
            reached.update(self.label_graph.descendants(iv.node))
        if not reached & set(self.image_parents):
            return ImageData(labels_cf, data.images.copy(), image_node=self.image_node)
        style = self.abduct_style(data)
        if pixel_noise is None:
            pixel_noise = bool(getattr(self.config, "pixel_noise", False))
        if not pixel_noise:
            return ImageData(labels_cf, self.decode(labels_cf, style), image_node=self.image_node)
        new, old = self._decode_floats(labels_cf, style), self._decode_floats(data.labels, style)
        return ImageData(labels_cf, _to_uint8(torch.from_numpy(data.floats()) + new - old), image_node=self.image_node)

    def reconstruct(self, data: ImageData) -> ImageData:
        """Each image decoded from its own labels and its abducted style: the model's
        reconstruction (how much of an image a counterfactual can keep)."""
        self._require_fitted()
        self._check_images(data)
        return ImageData(data.labels.copy(), self.decode(data.labels, self.abduct_style(data)), image_node=self.image_node)

    @torch.inference_mode()
    def abduct_style(self, data: ImageData) -> Tensor:
        """The style of each image given its observed labels, ``[n, style_dim]``."""
        enc = self.encoding.tensor(data.labels, self._device)  # type: ignore[union-attr]
        out = []
        for s in range(0, len(data), DECODE_CHUNK):
            imgs = data[s : s + DECODE_CHUNK].tensor(self._device)
            out.append(self._abduct_style(imgs, enc[s : s + DECODE_CHUNK]))
        return torch.cat(out) if out else torch.zeros(0, self.style_dim, device=self._device)

    @torch.inference_mode()
    def decode(self, labels: pd.DataFrame, style: Tensor) -> np.ndarray:
        """uint8 images ``[n, H, W, C]`` from label values and style ``[n, style_dim]``."""
        return _to_uint8(self._decode_floats(labels, style))

    @torch.inference_mode()
    def _decode_floats(self, labels: pd.DataFrame, style: Tensor) -> Tensor:
        """Decoded images as floats in [0, 1], ``[n, H, W, C]`` on the CPU."""
        enc = self.encoding.tensor(labels, self._device)  # type: ignore[union-attr]
        style = style.to(self._device, torch.float32)
        out = [self._decode(enc[s : s + DECODE_CHUNK], style[s : s + DECODE_CHUNK]).permute(0, 2, 3, 1).float().cpu()
               for s in range(0, len(labels), DECODE_CHUNK)]
        if not out:
            return torch.zeros(0, self.info.size, self.info.size, self.info.channels)  # type: ignore[union-attr]
        return torch.cat(out)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the checkpoint folder (safetensors + JSON, atomically, like the tabular
        models): ``labels.*`` and ``image.*`` weights, the label model's support tensors,
        and the graph, config, label schema, image size and fit reports."""
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        lm = self.labels
        with self._lock:
            state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
            if lm.support is not None:  # type: ignore[union-attr]
                state.update(lm.support.tensors())  # type: ignore[union-attr]
            meta = {
                "kind": self.kind,
                "config": _config_to_dict(self.config),
                "graph": self.graph.to_dict(),
                "schema": self.schema.to_dict(),
                "fit": self.report.to_dict() if self.report else None,
                "image": {"node": self.image_node, **dataclasses.asdict(self.info), "inputs": list(self.encoding.nodes)},  # type: ignore[arg-type, union-attr]
                "labels": {
                    "kind": lm.kind,  # type: ignore[union-attr]
                    "config": _config_to_dict(lm.config),  # type: ignore[union-attr]
                    "graph": lm.graph.to_dict(),  # type: ignore[union-attr]
                    "fit": lm.report.to_dict() if lm.report else None,  # type: ignore[union-attr]
                },
            }
            write_checkpoint(folder, state, meta)
        return folder

    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """A checkpoint's config as this version reads it: a subclass fills in what older
        versions left implicit (a setting whose default changed since)."""
        return config

    @classmethod
    def _from_checkpoint(cls, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> "ImageModel":
        if not isinstance(meta.get("image"), Mapping) or not isinstance(meta.get("labels"), Mapping):
            raise CheckpointError(f"this checkpoint is not an image model's (it has no image section), kind '{meta.get('kind')}'")
        graph = CausalGraph.from_json(meta["graph"])
        model = cls(graph, _config_from_dict(cls.Config, cls._legacy_config(meta["config"])))
        model.info = ImageInfo(int(meta["image"]["size"]), int(meta["image"]["channels"]))
        schema = Schema.from_dict(meta["schema"])
        model.encoding = LabelEncoding(schema, meta["image"].get("inputs", model.image_parents))
        template = model._make_label_model()
        sub_meta = {**meta["labels"], "schema": meta["schema"]}
        sub_state = {k[len("labels."):]: v for k, v in state.items() if k.startswith("labels.")}
        sub_state.update({k: v for k, v in state.items() if k.startswith(SUPPORT_PREFIX)})
        model.labels = type(template)._from_checkpoint(sub_meta, sub_state)
        model._after_label_fit()
        model.image_net = model._build()
        try:
            model.image_net.load_state_dict({k[len("image."):]: v for k, v in state.items() if k.startswith("image.")}, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"the image weights do not fit a {cls.kind} model of this graph: {str(e).splitlines()[0]}") from None
        model.image_net.eval()
        if meta.get("fit"):
            fit = dict(meta["fit"])
            fit["history"] = tuple(tuple(h) for h in fit.get("history", []))
            model.report = FitReport(**fit)
        return model

    def __repr__(self) -> str:
        state = f"{self.info.size}px x{self.info.channels}" if self.info else "not fitted"
        return f"{type(self).__name__}({self.graph.to_text()!r}, {state})"


def _to_uint8(x: Tensor) -> np.ndarray:
    """Floats ``[n, H, W, C]`` in [0, 1] (clipped) -> uint8 images."""
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def _shift(cb: Callback, epochs: int, steps: int, seconds: float, later: int) -> Callback:
    """A callback that sees one phase's progress as part of the whole fit: epochs, steps
    and time continue the earlier phases', and ``later`` epochs are still to come."""

    def shifted(p: Progress) -> Any:
        return cb(replace(p, epoch=p.epoch + epochs, max_epochs=p.max_epochs + epochs + later,
                          steps=p.steps + steps, elapsed=p.elapsed + seconds))

    return shifted
