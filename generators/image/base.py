"""What every image model shares: the ``ImageModel`` base class (fit, sample, counterfactual,
save/load) for a graph of labels and one image node.

The user contract (same verbs as the tabular models, with ``ImageData`` in place of a table)::

    model = build_model("ccgm", graph)              # graph: labels + one node of kind "image"
    report = model.fit(data, seed=0)                # data: ImageData (labels + images)
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

Training runs in two phases, each through the one loop of ``generators.training`` with the
same callbacks, cancellation and checkpoints: (1) the label mechanisms on the label table
(``self.labels.fit``), (2) the image networks on images and labels (``_steps``). Callbacks see
one continuous ``Progress`` (epochs and steps of phase 2 continue those of phase 1); which
phase a ``Progress`` belongs to is ``in_image_phase`` (``stage_train_configs`` gives each
phase's training settings, to plan both in advance).

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
        def _steps(self, images, labels) -> Steps: ...
            # optional; how the image networks train in the one loop (generators.training),
            # over sample numbers (ImageRows.rows) with images uint8 [n, C, H, W] and
            # encoded labels [n, width] on the device. Default: LossSteps over
            # self.image_net.loss(images_float, labels); a GAN returns its own Steps
            # (several optimizers, batches drawn with replacement, the last weights kept).

Everything else (validation of ``ImageData``, label encoding, query checks, batching on
the device, uint8 conversion, persistence and loading) lives here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.data import DataError, Schema, load_table
from causal.graph import CausalGraph
from causal.images import ImageData, split_image_graph
from causal.interventions import Cut, InterventionError, parse_do
from causal.limits import check_images
from causal.queries import EvidenceError, Seed, counterfactual, edge_copies, rng_from, sample, sample_conditional
from generators import distributed
from generators.checkpoint import CheckpointError, config_to_dict
from generators.encoding import LabelEncoding
from generators.model import CausalModel
from generators.support import PREFIX as SUPPORT_PREFIX
from generators.tabular.base import TabularModel
from generators.training import (
    Callback, FitReport, LossSteps, Progress, Steps, TrainConfig, cpu_threads, is_cancelled, pick_device, plan, train,
)

__all__ = ["ImageModel", "ImageInfo", "ImageRows", "in_image_phase"]

DECODE_CHUNK = 512  # images per forward pass when sampling, abducting or decoding


# ---------------------------------------------------------------------- images
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


# ---------------------------------------------------------------------- the base model
class ImageModel(CausalModel):
    """Base of every image model over labels and one image node; see the module docstring
    for the user contract and for what a subclass provides."""

    style_dim: int = 0

    def __init__(self, graph: Any, config: Any = None) -> None:
        super().__init__(graph, config)
        self.label_graph, self.image_node = split_image_graph(self.graph)
        self.labels: TabularModel | None = None  # the fitted label mechanisms
        self.image_net: nn.Module | None = None
        self.info: ImageInfo | None = None
        self.encoding: LabelEncoding | None = None  # the image's parents, encoded
        self._net: nn.ModuleDict | None = None

    # ------------------------------------------------------------------ subclass hooks
    def _make_label_model(self) -> TabularModel:
        from generators.tabular.causal_gen import CausalGen, CausalGenConfig

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

    def stage_train_configs(self) -> tuple[TrainConfig, TrainConfig]:
        """The training settings of the two phases of ``fit``: the label mechanisms' and
        the image networks' (``generators.training.plan`` of each says how long it runs)."""
        return self._make_label_model()._train_config(), self._image_train_config()

    def _steps(self, images: Tensor, labels: Tensor) -> Steps:
        """How the image networks train (over sample numbers, see ``ImageRows``): by
        default ``self.image_net.loss(images, labels)`` under ``LossSteps``."""
        return LossSteps(ImageRows(self.image_net, images, labels))  # type: ignore[arg-type]

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
        later = plan(len(data), image_cfg).max_epochs
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
            with cpu_threads(image_cfg.threads):  # None: every core torch has (convolutions do split well)
                image_report = train(
                    self._steps(images, labels), ImageRows.rows(len(images), device), image_cfg, seed=seed,
                    callbacks=[_shift(cb, e1, s1, t1, 0) for cb in callbacks], cancel=cancel,
                    checkpoint=save_checkpoint if checkpoint_dir is not None else None,
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
        check_images(n, self.info.size, self.info.size, self.info.channels)  # type: ignore[union-attr]
        rng = rng_from(seed)
        label_cuts = self._label_cuts()
        if given:
            res = sample_conditional(self.labels, n, given, do, rng, cuts=label_cuts, **conditioning)  # type: ignore[arg-type]
            labels = res.data
            labels.attrs.update(acceptance_rate=res.acceptance_rate, draws=res.draws, accepted=res.accepted, event=res.events)
        else:
            if conditioning:
                raise TypeError(f"unexpected option(s) {', '.join(conditioning)} without given=")
            labels = sample(self.labels, n, do, rng, label_cuts)  # type: ignore[arg-type]
        style = torch.from_numpy(self._style_noise(n, rng)).to(self._device)
        images = self.decode(self._image_inputs(labels, parse_do(do, self.schema), rng), style)
        out = ImageData(labels, images, image_node=self.image_node)
        return out

    def _label_cuts(self) -> tuple[Cut, ...]:
        return tuple(c for c in self.cuts if c.child != self.image_node)

    def _image_inputs(self, labels: pd.DataFrame, ivs: tuple[Any, ...], rng: np.random.Generator) -> pd.DataFrame:
        """The labels the decoder sees: with edges into the image node cut, each such parent's
        column holds its copy (an independent draw from the edited labels, or the reference
        value; ``causal.queries.edge_copies``) instead of the row's own label."""
        image_cuts = [c for c in self.cuts if c.child == self.image_node]
        if not image_cuts:
            return labels
        copies = edge_copies(self.labels, len(labels), ivs, rng, self.cuts)  # type: ignore[arg-type]
        shown = self.schema.decode_arrays({c.parent: copies[(c.parent, c.child)] for c in image_cuts},
                                          [c.parent for c in image_cuts])
        out = labels.copy()
        for name, values in shown.items():
            out[name] = values
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
        labels_cf = counterfactual(self.labels, data.labels, do, rng, self._label_cuts())  # type: ignore[arg-type]
        ivs = parse_do(do, self.schema)
        reached = {iv.node for iv in ivs} | {c.child for c in self._label_cuts()}
        for node in list(reached):
            reached.update(self.label_graph.descendants(node))
        if not reached & set(self.image_parents) and len(self._label_cuts()) == len(self.cuts):
            return ImageData(labels_cf, data.images.copy(), image_node=self.image_node)
        style = self.abduct_style(data)
        inputs = self._image_inputs(labels_cf, ivs, rng)
        if pixel_noise is None:
            pixel_noise = bool(getattr(self.config, "pixel_noise", False))
        if not pixel_noise:
            return ImageData(labels_cf, self.decode(inputs, style), image_node=self.image_node)
        new, old = self._decode_floats(inputs, style), self._decode_floats(data.labels, style)
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
    def _state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """``labels.*`` and ``image.*`` weights and the label model's support tensors; the
        JSON adds the image (node, size, channels, the encoded parents) and the label
        model (kind, config, graph, fit report)."""
        lm = self.labels
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        if lm.support is not None:  # type: ignore[union-attr]
            state.update(lm.support.tensors())  # type: ignore[union-attr]
        extra = {
            "image": {"node": self.image_node, **dataclasses.asdict(self.info), "inputs": list(self.encoding.nodes)},  # type: ignore[arg-type, union-attr]
            "labels": {
                "kind": lm.kind,  # type: ignore[union-attr]
                "config": config_to_dict(lm.config),  # type: ignore[union-attr]
                "graph": lm.graph.to_dict(),  # type: ignore[union-attr]
                "fit": lm.report.to_dict() if lm.report else None,  # type: ignore[union-attr]
            },
        }
        return state, extra

    @classmethod
    def from_checkpoint(cls, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> "ImageModel":
        if not isinstance(meta.get("image"), Mapping) or not isinstance(meta.get("labels"), Mapping):
            raise CheckpointError(f"this checkpoint is not an image model's (it has no image section), kind '{meta.get('kind')}'")
        return super().from_checkpoint(meta, state)  # type: ignore[return-value]

    def _load_state(self, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> None:
        self.info = ImageInfo(int(meta["image"]["size"]), int(meta["image"]["channels"]))
        schema = Schema.from_dict(meta["schema"])
        self.encoding = LabelEncoding(schema, meta["image"].get("inputs", self.image_parents))
        template = self._make_label_model()
        sub_meta = {**meta["labels"], "schema": meta["schema"]}
        sub_state = {k[len("labels."):]: v for k, v in state.items() if k.startswith("labels.")}
        sub_state.update({k: v for k, v in state.items() if k.startswith(SUPPORT_PREFIX)})
        self.labels = type(template).from_checkpoint(sub_meta, sub_state)  # type: ignore[assignment]
        self._after_label_fit()
        self.image_net = self._build()
        try:
            self.image_net.load_state_dict({k[len("image."):]: v for k, v in state.items() if k.startswith("image.")}, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"the image weights do not fit a {self.kind} model of this graph: {str(e).splitlines()[0]}") from None
        self.image_net.eval()

    def __repr__(self) -> str:
        state = f"{self.info.size}px x{self.info.channels}" if self.info else "not fitted"
        return f"{type(self).__name__}({self.graph.to_text()!r}, {state})"


def _to_uint8(x: Tensor) -> np.ndarray:
    """Floats ``[n, H, W, C]`` in [0, 1] (clipped) -> uint8 images."""
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def in_image_phase(epoch: int, max_epochs: int, image_epochs: int) -> bool:
    """Whether a ``Progress`` (``epoch``, ``max_epochs``) that ``ImageModel.fit`` reported
    comes from its image phase; ``image_epochs`` is ``plan(n, image config).max_epochs``.
    The label phase reports its own ``max_epochs`` plus ``image_epochs`` still to come; the
    image phase its epochs after the label phase's ``e1``, out of ``e1 + image_epochs``
    (``_shift``), so only the image phase has ``epoch > max_epochs - image_epochs``.

    >>> in_image_phase(7, 30 + 100, 100), in_image_phase(31, 30 + 100, 100), in_image_phase(13, 12 + 100, 100)
    (False, True, True)
    """
    return epoch > max_epochs - image_epochs


def _shift(cb: Callback, epochs: int, steps: int, seconds: float, later: int) -> Callback:
    """A callback that sees one phase's progress as part of the whole fit: epochs, steps
    and time continue the earlier phases', and ``later`` epochs are still to come."""

    def shifted(p: Progress) -> Any:
        return cb(replace(p, epoch=p.epoch + epochs, max_epochs=p.max_epochs + epochs + later,
                          steps=p.steps + steps, elapsed=p.elapsed + seconds))

    return shifted
