"""CausalGAN (Kocaoglu, Snyder, Dimakis, Vishwanath 2017, "CausalGAN: Learning Causal Implicit
Generative Models with Adversarial Training", ICLR 2018): a causal controller for the labels
and a conditional GAN with a labeler and an anti-labeler for the image.

Two stages, as in the paper. (1) The *causal controller* (``generators.controller``) learns
the labels' joint node by node in the graph's order; conditioning samples it and keeps what
matches, intervening clamps a label and re-samples only its descendants (the shared query
code of ``causal.queries``, through ``generators.image_base.ImageModel``). (2) A generator
``G(l, z)`` draws the image from the labels ``l`` (the image node's parents, encoded) and
style noise ``z ~ N(0, I)``; four networks train it (§5.1 of the paper):

- discriminator ``D`` (real vs generated, spectral norm; unconditional as in the paper by
  default, optionally a projection discriminator that also reads the labels, see below):
  ``L_D = BCE(D(x, l_x), 1) + BCE(D(G(l, z), l), 0)``;
- labeler ``R`` (a classifier trained on *real* images to read their labels):
  ``L_R = CE(R(x), l_x)``;
- anti-labeler ``A`` (the same kind of classifier, trained on *generated* images):
  ``L_A = CE(A(G(l, z)), l)``;
- generator: ``L_G = BCE(D(G(l, z), l), 1) + ρ · CE(R(G(l, z)), l) − k_t · CE(A(G(l, z)), l)``
  (plus the optional mode-seeking term, below).

``CE`` is the summed per-label cross-entropy (squared error for a continuous label). The
labeler term makes the given labels readable in the image. Alone it lets ``G`` draw only
the most *typical*, easiest-to-label images for each label combination (it minimizes the
conditional entropy of the labels given the generated image); the anti-labeler term, with
the opposite sign, rewards ``G`` for images whose labels an estimator trained on generated
images finds hard to recover, which cancels that bias: the paper's Theorem 2 shows that at
the optimum ``G`` samples the true class-conditional image distributions. As in the authors'
code the anti-labeler's weight ``k_t`` starts at ``anti_weight`` and decays as
``exp(−t / anti_decay)``; the labeler is pre-trained on real images first.

The anti-labeler is *off* by default (``anti_weight=0``; ``1.0`` restores the paper's
objective). Measured on the faces (4,000 images, 2,000 steps, one seed, an independent
attribute classifier reading the images): with it, do(Mustache = 1) showed a mustache on
0.90 of the faces and do(Eyeglasses = 1) glasses on 0.77, and the images were blurrier;
without it 0.96 and 0.91, every other intervention ≥ 0.90. The paper's argument for it is
about the optimum of a long training run (diversity within a label class); at a CPU budget
of a few thousand steps its adversarial pressure costs more than it gives.

Which labels ``l`` the generator trains on (``fake_labels``): the paper samples them from
the controller, so a combination the data almost never shows (a woman with a mustache:
P = 0.001 in the faces) is almost never practised, and at a CPU budget of a few thousand
steps ``G`` does not learn to draw it: do(Mustache = 1) then gives few visible mustaches on
women. The default ``"mixed"`` draws half of the label rows from the controller under
``do(A = v)`` for every label ``A`` and value ``v`` (the interventional distributions the
model is meant to answer), the other half observationally. Measured (faces, 4,000 images,
one seed, an independent classifier reading the images): with the paper's controller
labels do(Mustache = 1) showed a mustache on 0.70 of the faces after 1,500 steps (0.29 with
ρ = 3), with ``"mixed"`` on 0.90-0.96 (2,000 steps, with and without the anti-labeler).
``"controller"`` is the paper's choice.

Rare labels (Eyeglasses: 3-15% of the faces) can be drawn as a *shortcut*: measured on the
faces (20,000 images, 2,000 steps, 1 thread, fit seeds 0 and 1, an independent classifier
reading 1,000 images per intervention), do(Eyeglasses = 1) showed glasses on 0.68 and 0.90
of the faces and do(Mustache = 1) a mustache on 0.95 and 0.75, while the labeler ``R`` read
the label on 0.99 of the glasses images (on 0.94 of those the classifier reads as without)
and its recall on real glasses faces was 1.00; G trains on Eyeglasses = 1 rows 8% of the
time. The images show the cause: G paints the lenses' blue tint but not the dark frames (a
faint mustache). In real faces the cues always occur together, so ``R`` can read the label
from the cheapest one, and G satisfies ``R`` with it; the unconditional ``D`` does not
object. The remedies measured (same data, seed and classifier; ``bench/causal_gan_variants.py``):

- ``balance_labeler`` / ``balance_generator``: class-balanced cross-entropy (``class_weights``,
  inverse class frequency) for ``R``'s loss / for G's labeler term. With the unconditional
  ``D``, both: do(Eyeglasses = 1) 0.91 and 0.97, but do(Male = 0) fell from 0.91 / 0.94 to
  0.83 / 0.88 and do(Mustache = 1) stayed 0.94 / 0.73; G's term alone: 0.74 (seed 0). With
  the projection ``D`` and the mode-seeking term below, G's term alone (``balance_generator``,
  **on by default** since 2026-12-02) lifts the weakest intervention, do(Young = 0), an old
  face, a quarter of G's label rows: 0.877 -> 0.960 (fit seed 0) and 0.883 -> 0.890 (seed 1),
  every other intervention ≥ 0.93 / 0.97, label fidelity of Young 0.966 -> 0.987 (seed 0);
  ρ = 2 instead was worse (do(Young = 0) 0.850, seed 0). Fit seed 1 stayed at 0.890 until the default
  generator steps went from 2,000 to 3,000 (2026-12-02): 0.906 there, 0.970 on seed 0,
  every other intervention ≥ 0.95 on both (docs/benchmarks.md).
- ``d_conditional``: a projection discriminator (Miyato & Koyama 2018) judges the pair
  (image, labels), so tint without frames under Eyeglasses = 1 is fake. Every intervention
  ≥ 0.98 effective on both seeds (do(Eyeglasses = 1) 0.997 / 0.995, do(Mustache = 1) 0.996 /
  0.980), non-descendants kept ≥ 0.997 (seed 0), label fidelity ≥ 0.965. But the style
  collapses: nearly every face gets blond hair; the per-pixel spread across 32 do(A = 1)
  images is 0.08 against 0.12 with an unconditional D and 0.14 in true faces. The
  intervention metrics do not see this.
- ``d_conditional=True`` with ``mode_seeking = λ`` (**the default**, λ = 0.5): the
  mode-seeking term of Mao, Lee, Tseng, Ma, Yang 2019 ("Mode seeking generative adversarial
  networks for diverse image synthesis") counters exactly that collapse, a conditional GAN's
  habit of ignoring ``z``: half of each fake batch repeats the other half's labels with
  fresh ``z``, and G's loss gains ``λ / (mean|G(l, z1) − G(l, z2)| / mean|z1 − z2|)``.
  Measured with λ = 1 (fit seeds 0 / 1): do(Eyeglasses = 1) 0.93 / 0.94, do(Mustache = 1)
  0.95 / 0.94, do(Young = 0) 0.89 / 0.80 (the weakest), every other intervention ≥ 0.94;
  pixel spread over 1,000 do(Eyeglasses = 1) images 0.175 / 0.169 against 0.140 in true
  faces (no collapse; somewhat more than the truth, partly background speckle). With
  λ = 0.5: seed 1 do(Eyeglasses = 1) 0.97, do(Mustache = 1) 0.98, do(Young = 0) 0.88, every
  other ≥ 0.99, spread 0.154; seed 0 (``bench/causal_gan.py``, 2 threads, training 3.4 min)
  do(Eyeglasses = 1) 0.98, do(Mustache = 1) 0.96 (0.91 of the women), do(Young = 0) 0.88,
  every other ≥ 0.99; non-descendants kept ≥ 0.98; label fidelity ≥ 0.97. That is every
  intervention but do(Young = 0) at ≥ 0.9, against do(Eyeglasses = 1) at 0.58-0.68 with the
  paper's GAN. ``d_conditional=False, mode_seeking=0`` is the paper's GAN (and what
  checkpoints written before these settings existed hold).

An extra encoder ``E(x, l) → z`` is trained on generated images (regression of the ``z``
that drew them, like the authors' ``discriminator_on_z``). It only initializes the inversion.

Counterfactual images (abduction, action, prediction): the style ``z`` of a real image is
found by inverting the generator (Bora, Jalal, Price, Dimakis 2017, "Compressed sensing
using generative models"): minimize ``‖G(l, z) − x‖² + λ‖z‖²`` over ``z`` by Adam from a few
starts (the encoder's estimate and random draws), keeping the best; then the labels are
intervened on in the controller (its own abduction of the label noise) and the image is
regenerated from the counterfactual labels with the same ``z``. By default
(``pixel_noise``) the image mechanism is read as ``x = G(l, z) + ε`` and the residual ``ε``
of the inversion is abducted as well, so the counterfactual is ``x + G(l', z) − G(l, z)``:
what the generator cannot reproduce of this face is kept, what the intervention changes is
drawn by the generator (``ImageModel.counterfactual``).

>>> from causal.image_datasets import load
>>> ds = load("faces", n=2000, seed=0)
>>> model = build_model("causal-gan", ds.graph)          # doctest: +SKIP
>>> model.fit(ds.data, seed=0)                           # doctest: +SKIP
>>> women_with_mustaches = model.sample(64, do={"Mustache": 1}, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.queries import sample as sample_labels
from generators import distributed
from generators.base import TabularModel
from generators.controller import ControllerConfig, make_controller
from generators.image_base import ConvDiscriminator, ConvHead, ImageModel, planned_steps
from generators.training import Callback, Cancelled, FitReport, Progress, TrainConfig, is_cancelled, report

__all__ = ["CausalGAN", "CausalGANConfig", "CausalGANNet", "class_weights", "invert", "weighted_losses"]


@dataclass(frozen=True)
class CausalGANConfig:
    """CausalGAN's settings; ``train`` drives the GAN phase (``steps`` generator steps)."""

    controller: str = "auto"  # mle | network | wgan | auto (mle when every label is discrete, else network)
    labels: ControllerConfig = field(default_factory=ControllerConfig)  # the controller's own settings
    z_dim: int = 32  # style noise z ~ N(0, I) per image
    width: int = 32  # conv width of G, D and the encoder (stages: width, 2·width, 4·width)
    labeler_width: int = 16  # conv width of the labeler and the anti-labeler
    label_weight: float = 1.0  # ρ: weight of the labeler term in G's loss
    balance_labeler: bool = False  # R's loss class-balanced: each discrete label's classes weighted by 1/(K·freq in the data)
    balance_generator: bool = True  # G's labeler term class-balanced by the frequencies of G's training label rows (see docstring)
    anti_weight: float = 0.0  # k_0: initial weight of the (negative) anti-labeler term; 1.0 is the paper's (see docstring)
    anti_decay: float = 1000.0  # k_t = k_0·exp(−t / anti_decay), t in generator steps
    d_spectral: bool = True  # spectral normalization in the discriminator (Miyato et al. 2018)
    d_conditional: bool = True  # D also reads the labels (projection, Miyato & Koyama 2018): real (x, l_x) vs (G(l, z), l)
    mode_seeking: float = 0.5  # λ of the mode-seeking term (Mao et al. 2019) in G's loss; 0 is off (see docstring)
    d_lr_mult: float = 4.0  # discriminator learning rate = train.lr · d_lr_mult (two time-scale rule, Heusel et al. 2017)
    ema: float = 0.999  # samples come from an exponential moving average of G's weights (0: the last weights)
    pretrain_labeler: int = 300  # labeler steps on real images before the GAN starts
    fake_labels: str = "mixed"  # labels G trains on: "controller" samples (the paper), "data" rows, or
    # "mixed": controller samples, `intervened_share` of them under do(A = v) for every label A and value v
    intervened_share: float = 0.5  # mixed: the share of interventional label rows
    invert_steps: int = 150  # Adam steps of the generator inversion (abduction of z)
    invert_restarts: int = 3  # starts per image: the encoder's estimate, then random draws
    invert_lr: float = 0.05
    invert_prior: float = 1e-3  # λ in ‖G(l, z) − x‖² + λ‖z‖² (per pixel mean and per z-dim mean)
    invert_seed: int = 0  # the random starts' seed (so a counterfactual is reproducible)
    pixel_noise: bool = True  # counterfactual = x + G(l', z) − G(l, z): the inversion residual is abducted too
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3000, batch_size=64, lr=2e-4, val_fraction=0.05))

    def __post_init__(self) -> None:
        if self.controller not in ("auto", "mle", "network", "wgan"):
            raise ValueError(f"unknown controller '{self.controller}'; use auto, mle, network or wgan")
        if self.fake_labels not in ("controller", "data", "mixed"):
            raise ValueError(f"fake_labels must be 'controller', 'data' or 'mixed', got '{self.fake_labels}'")
        if not 0.0 <= self.intervened_share <= 1.0:
            raise ValueError(f"intervened_share must lie in [0, 1], got {self.intervened_share}")
        if self.mode_seeking < 0:
            raise ValueError(f"mode_seeking must be >= 0, got {self.mode_seeking}")
        if self.z_dim < 1 or self.width < 1 or self.labeler_width < 1 or self.invert_restarts < 1:
            raise ValueError("z_dim, width, labeler_width and invert_restarts must be positive")


class Generator(nn.Module):
    """DCGAN-style generator (Radford et al. 2016): ``[n, in_dim]`` -> image logits
    ``[n, C, S, S]``; a linear map to 4x4 features, then stride-2 transposed convolutions
    (widths ``4·width``, ``2·width``, ``width`` ... mirroring ``ConvEncoder``) with batch
    normalization and ReLU."""

    def __init__(self, in_dim: int, channels: int, size: int, width: int) -> None:
        super().__init__()
        stages = int(math.log2(size)) - 2
        widths = [width * min(2**i, 4) for i in range(stages)][::-1]
        self.start = widths[0]
        self.fc = nn.Linear(in_dim, widths[0] * 16)
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0]), nn.ReLU()]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.fc(x).view(x.shape[0], self.start, 4, 4))


class CausalGANNet(nn.Module):
    """The image side: generator, discriminator, labeler, anti-labeler and z-encoder."""

    def __init__(self, channels: int, size: int, label_dim: int, config: CausalGANConfig) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.generator = Generator(label_dim + config.z_dim, channels, size, config.width)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)  # what sampling uses
        self.discriminator = ConvDiscriminator(channels, size, label_dim if config.d_conditional else 0, config.width,
                                               spectral=config.d_spectral)
        self.labeler = ConvHead(channels, size, max(label_dim, 1), config.labeler_width)
        self.anti_labeler = ConvHead(channels, size, max(label_dim, 1), config.labeler_width)
        self.encoder = ConvHead(channels, size, config.z_dim, config.labeler_width)
        self.encoder_labels = nn.Linear(label_dim, config.z_dim, bias=False) if label_dim else None

    def generate(self, labels: Tensor, z: Tensor, averaged: bool = True) -> Tensor:
        """Images in [0, 1], ``[n, C, H, W]``, from the weight average (``averaged``, for
        sampling and inversion) or from the generator being trained."""
        g = self.generator_ema if averaged else self.generator
        return torch.sigmoid(g(torch.cat([labels, z], 1)))

    @torch.no_grad()
    def update_average(self, decay: float) -> None:
        """``ema ← decay·ema + (1 − decay)·G`` for weights; batch-norm statistics copied."""
        for a, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            a.lerp_(p, 1.0 - decay)
        for a, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            a.copy_(b)

    def encode(self, images: Tensor, labels: Tensor) -> Tensor:
        """An estimate of the ``z`` that drew ``images`` (inputs in [0, 1])."""
        z = self.encoder(images * 2 - 1)
        return z + self.encoder_labels(labels) if self.encoder_labels is not None else z

    def d(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's score; ``labels`` are read only by a conditional (projection) discriminator."""
        return self.discriminator(images * 2 - 1, labels)

    def read(self, head: nn.Module, images: Tensor) -> Tensor:
        return head(images * 2 - 1)


def invert(
    net: CausalGANNet,
    images: Tensor,
    labels: Tensor,
    steps: int = 150,
    restarts: int = 3,
    lr: float = 0.05,
    prior: float = 1e-3,
    generator: torch.Generator | None = None,
    init: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``z`` with ``G(labels, z) ≈ images`` by gradient descent in latent space (Bora et al.
    2017): minimize ``mean‖G(l, z) − x‖² + prior·mean‖z‖²`` with Adam from ``restarts``
    starts per image (``init`` first when given, then N(0, I) draws), keeping per image the
    start with the lowest final reconstruction error. Returns ``(z [n, z_dim], per-image
    mean squared pixel error [n])``. Runs with gradients even inside ``inference_mode``.
    """
    with torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone()
        lab = labels.detach().clone()
        n, k, dev = x.shape[0], net.z_dim, x.device
        starts = []
        for r in range(restarts):
            if r == 0 and init is not None:
                starts.append(init.detach().clone().to(dev))
            else:
                starts.append(torch.randn(n, k, generator=generator, device="cpu").to(dev))
        z = torch.cat(starts).requires_grad_(True)
        xr, lr_ = x.repeat(restarts, 1, 1, 1), lab.repeat(restarts, 1)
        opt = torch.optim.Adam([z], lr=lr)
        for _ in range(steps):  # the averaged generator has no trainable weights: only z moves
            err = ((net.generate(lr_, z) - xr) ** 2).flatten(1).mean(1)
            loss = (err + prior * (z**2).mean(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            err = ((net.generate(lr_, z) - xr) ** 2).flatten(1).mean(1)
        err = err.view(restarts, n)
        best = err.argmin(0)
        zs = z.detach().view(restarts, n, k)[best, torch.arange(n, device=dev)]
        return zs, err[best, torch.arange(n, device=dev)]


def class_weights(enc: Any, labels: Tensor) -> dict[str, Tensor]:
    """Per discrete label, a weight per class ``1 / (K · freq)`` from the encoded ``labels``
    ``[n, width]`` (a class that never occurs counts as one row): the inverse-frequency
    (class-balanced) weighting of cross-entropy (King & Zeng 2001; Cui et al. 2019 call it
    the "inverse class frequency" baseline). Under those frequencies the mean weight is 1,
    so the loss keeps its scale; every class then counts as much as every other."""
    out = {}
    n = max(labels.shape[0], 1)
    for c in enc.schema.columns:
        sl = enc.slices[c.name]
        if c.kind == "binary":
            p1 = labels[:, sl.start].float().mean()
            freq = torch.stack([1 - p1, p1])
        elif c.kind == "categorical":
            freq = labels[:, sl].float().mean(0)
        else:
            continue
        freq = freq.clamp_min(1.0 / n)
        out[c.name] = 1.0 / (len(freq) * freq)
    return out


def weighted_losses(enc: Any, predicted: Tensor, target: Tensor, weights: dict[str, Tensor]) -> Tensor:
    """``enc.losses`` with each row of a discrete label weighted by its class's weight
    (``class_weights``); labels without weights as in ``enc.losses``. ``[n_labels]``."""
    plain = enc.losses(predicted, target) if any(c.name not in weights for c in enc.schema.columns) else None
    out = []
    for i, c in enumerate(enc.schema.columns):
        sl = enc.slices[c.name]
        w = weights.get(c.name)
        if w is None:
            out.append(plain[i])  # type: ignore[index]
        elif c.kind == "binary":
            t = target[:, sl.start]
            row_w = w[0] * (1 - t) + w[1] * t
            bce = nn.functional.binary_cross_entropy_with_logits(predicted[:, sl.start], t, reduction="none")
            out.append((row_w * bce).mean())
        else:
            k = target[:, sl].argmax(1)
            out.append((w[k] * nn.functional.cross_entropy(predicted[:, sl], k, reduction="none")).mean())
    return torch.stack(out) if out else predicted.new_zeros(0)


class CausalGAN(ImageModel):
    """CausalGAN: ``build_model("causal-gan", graph)``; see the module docstring."""

    kind = "causal-gan"
    Config = CausalGANConfig

    @classmethod
    def _legacy_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        # checkpoints written before the projection discriminator and the mode-seeking term
        # existed were the paper's GAN (an unconditional D, whose weights they hold); those
        # written before `balance_generator` existed trained without it (a training setting
        # only: the weights load either way, and the config then says what was done)
        return {"d_conditional": False, "mode_seeking": 0.0, "balance_generator": False, **config}

    def __init__(self, graph: Any, config: Any = None) -> None:
        super().__init__(graph, config)
        self.style_dim = self.config.z_dim

    # ------------------------------------------------------------------ hooks
    def _controller_kind(self) -> str:
        kind = self.config.controller
        if kind == "auto":
            kinds = [self.label_graph.kind(n) for n in self.label_graph.nodes]
            kind = "mle" if all(k in ("binary", "categorical") for k in kinds) else "network"
        return kind

    def _make_label_model(self) -> TabularModel:
        from dataclasses import replace

        return make_controller(self.label_graph, replace(self.config.labels, kind=self._controller_kind()))

    def _image_train_config(self) -> TrainConfig:
        return self.config.train

    def _build(self) -> nn.Module:
        return CausalGANNet(self.info.channels, self.info.size, self.encoding.width, self.config)  # type: ignore[union-attr]

    def _decode(self, labels: Tensor, style: Tensor) -> Tensor:
        return self.image_net.generate(labels, style)  # type: ignore[union-attr]

    def _abduct_style(self, images: Tensor, labels: Tensor) -> Tensor:
        net: CausalGANNet = self.image_net  # type: ignore[assignment]
        c = self.config
        gen = torch.Generator(device="cpu").manual_seed(c.invert_seed)
        z, err = invert(net, images, labels, c.invert_steps, c.invert_restarts, c.invert_lr, c.invert_prior,
                        generator=gen, init=net.encode(images, labels))
        self.last_inversion_error = err.detach().cpu().numpy()
        return z

    # ------------------------------------------------------------------ training
    def _fake_label_pool(self, labels: Tensor, n: int, seed: int) -> Tensor:
        """Encoded labels for generated images: controller samples (or the data's rows)."""
        if self.config.fake_labels == "data":
            return labels
        rng = np.random.default_rng(seed + 1)
        frames = []
        if self.config.fake_labels == "mixed" and self.config.intervened_share > 0:
            arms = [(c.name, v) for c in self.schema.columns if c.discrete for v in c.categories]
            if arms:
                per = max(1, int(n * self.config.intervened_share) // len(arms))
                frames = [sample_labels(self.labels, per, {a: v}, rng) for a, v in arms]  # type: ignore[arg-type]
                n = max(1, n - per * len(arms))
        frames.append(sample_labels(self.labels, n, None, rng))  # type: ignore[arg-type]
        return self.encoding.tensor(pd.concat(frames, ignore_index=True), labels.device)  # type: ignore[union-attr]

    def _fit_images(
        self,
        images: Tensor,
        labels: Tensor,
        seed: int,
        callbacks: Iterable[Callback],
        cancel: threading.Event | Callable[[], bool] | None,
        checkpoint: Callable[[Progress], None] | None,
    ) -> FitReport:
        """The GAN phase: per step one update each of D, the labeler, the anti-labeler, the
        encoder and G (Adam, betas 0.5/0.999, ``train.lr``). A held-out ``val_fraction`` of
        the images scores progress: the labeler's cross-entropy reading *generated* images'
        labels (lower: the labels are visible); ``history`` rows are (epoch, G loss, that)."""
        net: CausalGANNet = self.image_net  # type: ignore[assignment]
        enc = self.encoding
        assert enc is not None
        cfg, c = self.config.train, self.config
        dev = images.device
        gen = torch.Generator(device="cpu").manual_seed(seed)
        n = images.shape[0]
        total, per_epoch = planned_steps(n, cfg)
        n_val = int(round(n * cfg.val_fraction)) if n >= 40 else 0
        perm = torch.randperm(n, generator=gen).to(dev)
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        n_tr = len(tr_idx)
        bs = min(cfg.batch_size, n_tr)
        pool = self._fake_label_pool(labels[tr_idx], max(20_000, n_tr), seed)
        max_epochs = -(-total // per_epoch)

        # Under torchrun every rank draws the same batches (same generator) and keeps its
        # slice; gradients are averaged before each step and rank 0's state broadcast after.
        world, me = distributed.world_size(), distributed.rank()
        if bs < world:
            raise ValueError(f"a batch of {bs} images cannot be split over {world} processes; use a larger batch_size")
        mine = slice(me, None, world)
        mb = len(range(bs)[mine])  # this rank's rows of each batch
        distributed.broadcast_state(net)

        def real_batch() -> tuple[Tensor, Tensor]:
            i = tr_idx[torch.randint(n_tr, (bs,), generator=gen).to(dev)][mine]
            return images[i].float().div_(255.0), labels[i]

        half = mb // 2 if c.mode_seeking > 0 else 0

        def fake_labels() -> tuple[Tensor, Tensor]:
            l_f = pool[torch.randint(len(pool), (bs,), generator=gen).to(dev)][mine]
            if half:  # mode seeking: rows i and half + i share their labels, not their z
                l_f = torch.cat([l_f[:half], l_f[:half], l_f[2 * half :]])
            return l_f, torch.randn(bs, c.z_dim, generator=gen).to(dev)[mine]

        def step(opt: torch.optim.Optimizer) -> None:
            distributed.average_gradients(p for g in opt.param_groups for p in g["params"])
            opt.step()

        def ce(pred: Tensor, target: Tensor, weights: dict[str, Tensor] | None = None) -> Tensor:
            if not enc.width:
                return pred.sum() * 0.0
            return (weighted_losses(enc, pred, target, weights) if weights else enc.losses(pred, target)).sum()

        # class-balanced variants: R by the data's frequencies, G by its own label rows'
        w_real = class_weights(enc, labels[tr_idx]) if c.balance_labeler and enc.width else None
        w_fake = class_weights(enc, pool) if c.balance_generator and enc.width else None

        bce = nn.functional.binary_cross_entropy_with_logits
        adam = dict(lr=cfg.lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(net.generator.parameters(), **adam)
        opt_d = torch.optim.Adam(net.discriminator.parameters(), lr=cfg.lr * c.d_lr_mult, betas=(0.5, 0.999))
        opt_r = torch.optim.Adam(net.labeler.parameters(), lr=1e-3)
        opt_a = torch.optim.Adam(net.anti_labeler.parameters(), lr=1e-3)
        opt_e = torch.optim.Adam([*net.encoder.parameters(), *(net.encoder_labels.parameters() if net.encoder_labels is not None else [])], lr=1e-3)
        t0 = time.perf_counter()
        net.train()
        for _ in range(c.pretrain_labeler if enc.width else 0):
            x, l_r = real_batch()
            loss_r = ce(net.read(net.labeler, x), l_r, w_real)
            opt_r.zero_grad(set_to_none=True)
            loss_r.backward()
            step(opt_r)

        history: list[tuple[int, float, float]] = []
        stopped, steps, epoch, g_sum, g_count = "schedule_done", 0, 0, 0.0, 0
        best_val = math.inf
        try:
            while steps < total:
                x, l_r = real_batch()
                l_f, z = fake_labels()
                fake = net.generate(l_f, z, averaged=False)
                # discriminator
                loss_d = bce(net.d(x, l_r), torch.ones(mb, device=dev)) + bce(net.d(fake.detach(), l_f), torch.zeros(mb, device=dev))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                step(opt_d)
                # labeler on real images, anti-labeler and z-encoder on generated ones
                loss_r = ce(net.read(net.labeler, x), l_r, w_real)
                k_t = c.anti_weight * math.exp(-steps / c.anti_decay)
                loss_a = ce(net.read(net.anti_labeler, fake.detach()), l_f) if k_t > 0 else fake.new_zeros(())
                loss_e = ((net.encode(fake.detach(), l_f) - z) ** 2).mean()
                for opt in (opt_r, opt_a, opt_e):
                    opt.zero_grad(set_to_none=True)
                (loss_r + loss_a + loss_e).backward()
                for opt in (opt_r, opt_a, opt_e):
                    step(opt)
                # generator
                loss_g = bce(net.d(fake, l_f), torch.ones(mb, device=dev)) + c.label_weight * ce(net.read(net.labeler, fake), l_f, w_fake)
                if k_t > 0:
                    loss_g = loss_g - k_t * ce(net.read(net.anti_labeler, fake), l_f)
                if half:
                    moved = (fake[:half] - fake[half : 2 * half]).abs().mean() / (z[:half] - z[half : 2 * half]).abs().mean()
                    loss_g = loss_g + c.mode_seeking / (moved + 1e-5)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                step(opt_g)
                net.update_average(min(c.ema, (1.0 + steps) / (10.0 + steps)))
                if world > 1:  # buffers updated by each rank's own forward passes (spectral norm ...)
                    distributed.broadcast_state(net)
                steps += 1
                g_sum += float(loss_g.detach())
                g_count += 1
                if steps % 50 == 0 and distributed.agree_any(is_cancelled(cancel)):
                    raise Cancelled()
                if steps % per_epoch == 0 or steps == total:
                    epoch += 1
                    val = self._generated_label_loss(net, labels[val_idx] if n_val else pool[:256], ce, gen)
                    best_val = min(best_val, val)
                    history.append((epoch, g_sum / max(g_count, 1), val))
                    elapsed = time.perf_counter() - t0
                    prog = Progress(epoch, max_epochs, steps, g_sum / max(g_count, 1), val, best_val, cfg.lr, elapsed)
                    g_sum, g_count = 0.0, 0
                    stop = report(prog, callbacks)
                    if distributed.is_main() and checkpoint is not None and cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0:
                        net.eval()
                        checkpoint(prog)
                        net.train()
                    if distributed.agree_any(stop or is_cancelled(cancel)):
                        raise Cancelled()
                    if cfg.max_seconds is not None and distributed.agree_any(elapsed >= cfg.max_seconds):
                        stopped = "time_limit"
                        break
        except Cancelled:
            stopped = "cancelled"
        net.eval()
        return FitReport(epochs=epoch, steps=steps, seconds=time.perf_counter() - t0, best_epoch=epoch,
                         best_val_loss=history[-1][2] if history else math.inf, stopped=stopped,
                         device=str(dev), n_train=n_tr, n_val=n_val, history=tuple(history))

    @torch.no_grad()
    def _generated_label_loss(self, net: CausalGANNet, labels: Tensor, ce: Callable[[Tensor, Tensor], Tensor], gen: torch.Generator) -> float:
        """The labeler's cross-entropy on images generated from ``labels`` (fresh z)."""
        was = net.training
        net.eval()
        labels = labels[:512]
        z = torch.randn(labels.shape[0], net.z_dim, generator=gen).to(labels.device)
        out = float(ce(net.read(net.labeler, net.generate(labels, z)), labels))
        net.train(was)
        return out
