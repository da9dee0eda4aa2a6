"""CausalGAN (Kocaoglu, Snyder, Dimakis, Vishwanath 2017, "CausalGAN: Learning Causal Implicit
Generative Models with Adversarial Training", ICLR 2018): a causal controller for the labels
and a conditional GAN with a labeler and an anti-labeler for the image.

Two stages, as in the paper. (1) The *causal controller* (``generators.tabular.controllers``)
learns the labels' joint node by node in the graph's order; conditioning samples it and keeps
what matches, intervening clamps a label and re-samples only its descendants (the shared
query code, through ``ImageModel``). (2) A generator ``G(l, z)`` draws the image from the
labels ``l`` (the image node's parents, encoded) and style noise ``z ~ N(0, I)``; four
networks train it (§5.1 of the paper):

- discriminator ``D`` (real vs generated, spectral norm): ``L_D = BCE(D(x, l_x), 1) +
  BCE(D(G(l, z), l), 0)``; by default a projection discriminator (Miyato & Koyama 2018) that
  also reads the labels (``d_conditional``), the paper's is unconditional;
- labeler ``R`` (trained on *real* images to read their labels): ``L_R = CE(R(x), l_x)``;
- anti-labeler ``A`` (trained on *generated* images): ``L_A = CE(A(G(l, z)), l)``;
- generator: ``L_G = BCE(D(G(l, z), l), 1) + ρ · CE(R(G(l, z)), l) − k_t · CE(A(G(l, z)), l)``,
  plus by default the mode-seeking term of Mao et al. 2019 (``mode_seeking``), which keeps a
  conditional GAN from ignoring ``z``.

The mode-seeking term adds variety; it should not add more than the data have. With
``mode_seeking_gate`` (default) it acts only while G's images vary less than real ones do for
the same labels: before training, each of up to 512 training images is paired with its nearest
other training image in label space (encoded labels; exact matches for discrete labels, ties
broken at random), and every 50 steps G (training weights, evaluation mode) draws both
pairs' label rows with independent ``z``; the term is on until the next check when G's mean
absolute pixel difference over 128 of those pairs is below the real images' over the same
pairs. Both differences include what the small label change itself does, so what they
compare is the variety the labels leave open. Where the labels determine the image (a
rendered pendulum) the term stays off; where much is left open (faces' skin, hair, pose) it
is on while G's variety is below the data's (60% of the checks on the cartoon faces). The
checks draw from a generator of their own, so a fit whose gate never opens is the
``mode_seeking=0`` fit. ``variety`` (on the model after fitting, and in its checkpoint)
records the share of checks with the term on and the last check's two differences
(docs/benchmarks.md, the pendulum section: the gate on the pendulum, faces and digits).

``CE`` is the summed per-label cross-entropy (squared error for a continuous label). The
labeler term makes the given labels readable in the image; alone it rewards the most typical
image per label combination, which the anti-labeler term (weight ``k_t = anti_weight ·
exp(−t / anti_decay)``, as in the authors' code) cancels at the optimum (the paper's
Theorem 2). Departures from the paper, each a setting, each measured on the faces
(docs/benchmarks.md, CausalGAN): the anti-labeler is off by default (``anti_weight=0``; 1.0
is the paper's); G trains on ``"mixed"`` labels (``fake_labels``: half drawn under
``do(A = v)`` for every label and value, so rare combinations such as a woman with a
mustache are practised; ``"controller"`` is the paper's); G's labeler term is class-balanced
(``balance_generator``). ``d_conditional=False, mode_seeking=0, balance_generator=False,
fake_labels="controller", anti_weight=1`` is the paper's GAN.

Continuous labels (an angle, a thickness) are first-class: G and the projection D read each
one through ``LabelFeatures`` (``label_features`` Gaussian bumps over its training range
beside its standardized value), so the image can depend on the value in any smooth way, not
only linearly through one input column; G's labeler term for it is the Gaussian negative
log-likelihood ``(R(G(l, z)) − l)² / (2σ²)`` with σ as large as R's own error on real images
(never below ``regression_sigma``), so a value is asked to be drawn as precisely as a real
image shows it, on the same footing as a discrete label's cross-entropy; and under
``"mixed"`` fake labels each continuous label ``A`` gets interventional rows too, ``do(A =
draws of A's marginal)`` (``intervene_continuous``). ``label_features=0,
regression_sigma=0, intervene_continuous=False`` is how continuous labels were read before.

AmbientGAN (Bora, Price, Dimakis 2018, ``ambient``): when only lossy measurements of the
images exist (pixels dropped, blurred and noisy), every generated image is measured by a fresh
random draw of the same measurement (``generators.inverse.ambient``) before D sees it, so G
learns the clean images whose measurements match the data's. The labels are exact, so the
labeler learns to read them from *measured* real images; it and the anti-labeler therefore read
measured generated images too (a clean image would be outside what R was trained on). The
z-encoder and the mode-seeking term read G's clean output: they concern G, not the data.

An extra encoder ``E(x, l) → z`` is trained on generated images (like the authors'
``discriminator_on_z``); it initializes the inversion. With ``recon_weight > 0`` (the default
unless the images are lossy) G and E are also trained as a VAE-GAN (Larsen et al. 2016) on
*real* images: E becomes a Gaussian posterior ``q(z | x, l) = N(E(x, l), diag(σ²))`` (σ one
learned scale per dimension) and G's loss gains ``recon_weight · Σ_pixels |G(l_x, z_x) − x| +
KL(q ‖ N(0, I))`` per image, ``z_x ~ q``: the negative ELBO with a Laplace pixel likelihood
of scale ``1 / recon_weight`` (the L1 pixel loss of pix2pix, Isola et al. 2017). G's
range then covers the real images and E abducts their style, while the KL term keeps in z
only what the labels do not already say (with a deterministic encoder E passed the labels
through z, and G redrew x from z, ignoring a changed label). ``recon_swap`` of G's generated
rows take real images' codes with other labels, ``G(l', z_x)``, and face D and the labeler
like any generated image, so the edit itself is trained, as in AttGAN (He et al. 2019).
Counterfactual images
(abduction, action, prediction): the style ``z`` of a real image is found by inverting the
generator (Bora, Jalal, Price, Dimakis 2017, "Compressed sensing using generative models"):
minimize ``‖G(l, z) − x‖² + λ‖z‖²`` over ``z`` from a few starts, keeping the best; the labels
are intervened on in the controller and the image regenerated from the counterfactual labels
with the same ``z``. With ``pixel_noise`` (default) the inversion's residual is kept too:
the counterfactual is ``x + G(l', z) − G(l, z)``.

>>> from causal import images
>>> ds = images.load("faces", n=2000, seed=0)
>>> model = build_model("causal-gan", ds.graph)          # doctest: +SKIP
>>> model.fit(ds.data, seed=0)                           # doctest: +SKIP
>>> women_with_mustaches = model.sample(64, do={"Mustache": 1}, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.queries import sample as sample_labels
from generators.encoding import LabelEncoding, LabelFeatures
from generators.image.base import ImageModel
from generators.image.conv import ConvDiscriminator, ConvHead
from generators.image.variety import GATE_EVERY, VarietyGate
from generators.inverse.ambient import parse_ambient
from generators.tabular.base import TabularModel
from generators.tabular.controllers import ControllerConfig, make_controller
from generators.training import StepContext, Steps, TrainConfig

__all__ = ["CausalGAN", "CausalGANConfig", "CausalGANNet", "CausalGANSteps", "class_weights", "invert", "weighted_losses"]


RECON_DEFAULT = 0.1  # recon_weight=None's weight (docs/benchmarks.md: the pendulum and the faces)


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
    mode_seeking_gate: bool = True  # the term acts only while G's images of neighbouring real label rows differ less than those real images do (see docstring)
    d_lr_mult: float = 4.0  # discriminator learning rate = train.lr · d_lr_mult (two time-scale rule, Heusel et al. 2017)
    ema: float = 0.999  # samples come from an exponential moving average of G's weights (0: the last weights)
    pretrain_labeler: int = 300  # labeler steps on real images before the GAN starts
    fake_labels: str = "mixed"  # labels G trains on: "controller" samples (the paper), "data" rows, or
    # "mixed": controller samples, `intervened_share` of them under do(A = v) for every label A and value v
    intervened_share: float = 0.5  # mixed: the share of interventional label rows
    intervene_continuous: bool = True  # mixed: continuous labels get interventional rows too, do(A = draws of A)
    label_features: int = 16  # Gaussian bumps per continuous label that G and D read beside its value; 0: the value alone
    regression_sigma: float = 0.1  # floor of σ (label sds) in G's Gaussian labeler term for continuous labels; 0: squared error
    # (the term: −log N(l; R(G(l, z)), σ²), σ = max(R's error on real images, this floor); see docstring)
    recon_weight: float | None = None  # weight of the reconstruction term: G(l_x, z ~ E(x, l_x)) redraws each real image x (|pixel error| summed per image); 0 is off; none: 0.1 (RECON_DEFAULT), or 0 for lossy images (ambient) (see docstring)
    recon_swap: float = 0.5  # with recon_weight: the share of G's generated rows drawn at real images' codes E(x, l_x) with other labels
    invert_steps: int = 150  # Adam steps of the generator inversion (abduction of z)
    invert_restarts: int = 3  # starts per image: the encoder's estimate, then random draws
    invert_lr: float = 0.05
    invert_prior: float = 1e-3  # λ in ‖G(l, z) − x‖² + λ‖z‖² (per pixel mean and per z-dim mean)
    invert_seed: int = 0  # the random starts' seed (so a counterfactual is reproducible)
    pixel_noise: bool = True  # counterfactual = x + G(l', z) − G(l, z): the inversion residual is abducted too
    ambient: str = "none"  # AmbientGAN: the images are lossy, measured by this (dropout:0.9, blur:1+noise:0.1); generated ones are measured alike before D and the labelers
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(schedule="constant", steps=3000, batch_size=64, lr=2e-4, val_fraction=0.05)
    )

    def __post_init__(self) -> None:
        if self.controller not in ("auto", "mle", "network", "wgan"):
            raise ValueError(f"unknown controller '{self.controller}'; use auto, mle, network or wgan")
        if self.fake_labels not in ("controller", "data", "mixed"):
            raise ValueError(f"fake_labels must be 'controller', 'data' or 'mixed', got '{self.fake_labels}'")
        if not 0.0 <= self.intervened_share <= 1.0:
            raise ValueError(f"intervened_share must lie in [0, 1], got {self.intervened_share}")
        if self.mode_seeking < 0:
            raise ValueError(f"mode_seeking must be >= 0, got {self.mode_seeking}")
        if self.label_features < 0 or self.label_features == 1:
            raise ValueError(f"label_features must be 0 (off) or at least 2 bumps per continuous label, got {self.label_features}")
        if self.recon_weight is not None and not self.recon_weight >= 0:
            raise ValueError(f"recon_weight must be >= 0 (0 is off; none: chosen by the label kinds), got {self.recon_weight}")
        if not 0.0 <= self.recon_swap <= 1.0:
            raise ValueError(f"recon_swap must lie in [0, 1], got {self.recon_swap}")
        if self.recon_weight and parse_ambient(self.ambient).active:
            raise ValueError(f"recon_weight={self.recon_weight} with ambient={self.ambient!r}: the reconstruction term compares "
                             "G's image with the real one pixel by pixel, and lossy images have no clean pixels to compare; "
                             "set recon_weight=0 for lossy images")
        if not self.regression_sigma >= 0:
            raise ValueError(f"regression_sigma must be >= 0 (in label standard deviations; 0 is off), got {self.regression_sigma}")
        if self.z_dim < 1 or self.width < 1 or self.labeler_width < 1 or self.invert_restarts < 1:
            raise ValueError("z_dim, width, labeler_width and invert_restarts must be positive")
        if not parse_ambient(self.ambient).images:
            raise ValueError(f"ambient={self.ambient!r}: CausalGAN's discriminator and labelers read images, and random "
                             "projections are vectors; train on dropout, blur or noise measurements")


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
    """The image side: generator, discriminator, labeler, anti-labeler and z-encoder. G and a
    projection D read the labels through ``features`` (``LabelFeatures`` of ``encoding``
    with ``config.label_features`` bumps per continuous label; without ``encoding``, the
    encoded columns as they are)."""

    def __init__(self, channels: int, size: int, label_dim: int, config: CausalGANConfig,
                 encoding: LabelEncoding | None = None, variational: bool = False) -> None:
        super().__init__()
        if encoding is not None and encoding.width != label_dim:
            raise ValueError(f"label_dim {label_dim} does not match the encoding's {encoding.width} columns")
        self.z_dim = config.z_dim
        self.features = LabelFeatures(encoding, config.label_features) if encoding is not None else nn.Identity()
        feat_dim = getattr(self.features, "width", label_dim)
        self.generator = Generator(feat_dim + config.z_dim, channels, size, config.width)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)  # what sampling uses
        self.discriminator = ConvDiscriminator(channels, size, feat_dim if config.d_conditional else 0, config.width,
                                               spectral=config.d_spectral)
        self.labeler = ConvHead(channels, size, max(label_dim, 1), config.labeler_width)
        self.anti_labeler = ConvHead(channels, size, max(label_dim, 1), config.labeler_width)
        self.encoder = ConvHead(channels, size, config.z_dim, config.labeler_width)
        self.encoder_labels = nn.Linear(label_dim, config.z_dim, bias=False) if label_dim else None
        # with the reconstruction term, E is a Gaussian posterior N(encode(x, l), diag(exp(encoder_logvar)))
        self.encoder_logvar = nn.Parameter(torch.full((config.z_dim,), -2.0)) if variational else None

    def generate(self, labels: Tensor, z: Tensor, averaged: bool = True) -> Tensor:
        """Images in [0, 1], ``[n, C, H, W]``, from the weight average (``averaged``, for
        sampling and inversion) or from the generator being trained."""
        g = self.generator_ema if averaged else self.generator
        return torch.sigmoid(g(torch.cat([self.features(labels), z], 1)))

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
        return self.discriminator(images * 2 - 1, self.features(labels) if labels is not None else None)

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
        # ... and those written before `label_features` existed (continuous labels first-class) read a
        # continuous label as its value alone (their G and D weights have no input for the
        # bumps) and trained with plain squared error and without its interventional rows; and those written
        # before `recon_weight` existed trained without the reconstruction term
        # ... and those written before `mode_seeking_gate` existed applied the term at every step
        return {"d_conditional": False, "mode_seeking": 0.0, "balance_generator": False, "label_features": 0,
                "regression_sigma": 0.0, "intervene_continuous": False, "recon_weight": 0.0, "mode_seeking_gate": False,
                **config}

    def __init__(self, graph: Any, config: Any = None) -> None:
        super().__init__(graph, config)
        self.style_dim = self.config.z_dim
        self.variety: dict[str, float | int] | None = None  # mode_seeking_gate's record of the last fit (VarietyGate.summary)

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        state, extra = super()._state()
        if self.variety is not None:
            extra["variety"] = dict(self.variety)
        return state, extra

    def _load_state(self, meta: Mapping[str, Any], state: Mapping[str, Tensor]) -> None:
        super()._load_state(meta, state)
        variety = meta.get("variety")
        self.variety = dict(variety) if isinstance(variety, Mapping) else None

    # ------------------------------------------------------------------ hooks
    def _controller_kind(self) -> str:
        kind = self.config.controller
        if kind == "auto":
            kinds = [self.label_graph.kind(n) for n in self.label_graph.nodes]
            kind = "mle" if all(k in ("binary", "categorical") for k in kinds) else "network"
        return kind

    def _make_label_model(self) -> TabularModel:
        return make_controller(self.label_graph, replace(self.config.labels, kind=self._controller_kind()))

    def _image_train_config(self) -> TrainConfig:
        return self.config.train

    def _build(self) -> nn.Module:
        return CausalGANNet(self.info.channels, self.info.size, self.encoding.width, self.config, self.encoding,  # type: ignore[union-attr, arg-type]
                            variational=self.recon_weight() > 0)

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

    def recon_weight(self) -> float:
        """The reconstruction term's weight this model trains with: the setting, or when it is
        None, ``RECON_DEFAULT``, or 0 when the images are lossy (``ambient``: no clean pixels to redraw)."""
        w = self.config.recon_weight
        if w is not None:
            return float(w)
        return 0.0 if parse_ambient(self.config.ambient).active else RECON_DEFAULT

    # ------------------------------------------------------------------ training
    def _fake_label_pool(self, labels: Tensor, n: int, seed: int) -> Tensor:
        """Encoded labels for generated images: controller samples (or the data's rows).
        ``"mixed"``: ``intervened_share`` of them in equal arms do(A = v), one per value v
        of each discrete label A and (``intervene_continuous``) one per continuous label,
        whose rows take values drawn from the controller's own marginal of A."""
        if self.config.fake_labels == "data":
            return labels
        rng = np.random.default_rng(seed + 1)
        frames = []
        if self.config.fake_labels == "mixed" and self.config.intervened_share > 0:
            arms: list[tuple[str, Any]] = [(c.name, v) for c in self.schema.columns if c.discrete for v in c.categories]
            if self.config.intervene_continuous:
                arms += [(c.name, None) for c in self.schema.columns if not c.discrete]
            if arms:
                per = max(1, int(n * self.config.intervened_share) // len(arms))
                for a, v in arms:
                    if v is None:  # per-row values: draws of A, independent of the rest of the row
                        v = sample_labels(self.labels, per, None, rng)[a].to_numpy()  # type: ignore[arg-type]
                    frames.append(sample_labels(self.labels, per, {a: v}, rng))  # type: ignore[arg-type]
                n = max(1, n - per * len(arms))
        frames.append(sample_labels(self.labels, n, None, rng))  # type: ignore[arg-type]
        return self.encoding.tensor(pd.concat(frames, ignore_index=True), labels.device)  # type: ignore[union-attr]

    def _steps(self, images: Tensor, labels: Tensor) -> Steps:
        return CausalGANSteps(self, images, labels)


class CausalGANSteps(Steps):
    """The GAN phase: per step one update each of D, the labeler, the anti-labeler, the
    encoder and G (Adam, betas 0.5/0.999, ``train.lr``; D at ``d_lr_mult`` times it, the
    labelers and the encoder at 1e-3), on a batch of real images drawn with replacement and
    as many generated ones. The labeler is pre-trained on real images first. A held-out
    ``val_fraction`` of the images scores progress: the labeler's cross-entropy reading
    images *generated* from their labels (lower: the labels are visible); ``history`` rows
    are (epoch, G loss, that). The last weights are kept: a GAN's losses do not pick better
    ones."""

    def __init__(self, model: CausalGAN, images: Tensor, labels: Tensor) -> None:
        super().__init__(model.image_net)  # type: ignore[arg-type]
        self.model, self.images, self.labels = model, images, labels
        self.enc = model.encoding
        self.c: CausalGANConfig = model.config
        self.recon_weight = model.recon_weight()
        ambient = parse_ambient(self.c.ambient)
        self.ambient = ambient if ambient.active else None  # AmbientGAN: how the real images were measured

    def optimizers(self, config: TrainConfig) -> list[torch.optim.Optimizer]:
        net: CausalGANNet = self.module  # type: ignore[assignment]
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(net.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(net.discriminator.parameters(), lr=config.lr * self.c.d_lr_mult, betas=betas)
        self.opt_r = torch.optim.Adam(net.labeler.parameters(), lr=1e-3)
        self.opt_a = torch.optim.Adam(net.anti_labeler.parameters(), lr=1e-3)
        encoder = [*net.encoder.parameters(), *(net.encoder_labels.parameters() if net.encoder_labels is not None else []),
                   *([net.encoder_logvar] if net.encoder_logvar is not None else [])]
        self.opt_e = torch.optim.Adam(encoder, lr=1e-3)
        return [self.opt_g, self.opt_d, self.opt_r, self.opt_a, self.opt_e]

    def _real(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        i = rows[:, 0]
        return self.images[i].float().div_(255.0), self.labels[i]

    def _losses(self, pred: Tensor, target: Tensor, weights: dict[str, Tensor] | None = None) -> Tensor:
        """The per-label losses ``[n_labels]`` (weighted per class with ``weights``)."""
        return weighted_losses(self.enc, pred, target, weights) if weights else self.enc.losses(pred, target)  # type: ignore[union-attr]

    def _ce(self, pred: Tensor, target: Tensor, weights: dict[str, Tensor] | None = None) -> Tensor:
        """The summed per-label loss (weighted per class with ``weights``)."""
        if not self.enc.width:  # type: ignore[union-attr]
            return pred.sum() * 0.0
        return self._losses(pred, target, weights).sum()

    def _labeler_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """R's loss on real images; with continuous labels read by ``regression_sigma``,
        also a running mean of R's squared error per continuous label (its noise σ²)."""
        if self.cont is None:
            return self._ce(pred, target, self.w_real)
        per = self._losses(pred, target, self.w_real)
        self.r_mse.lerp_(per.detach()[self.cont], 0.02)
        return per.sum()

    def _labeler_term(self, pred: Tensor, target: Tensor) -> Tensor:
        """G's labeler term: per label, the negative log-likelihood of the label G was given
        under R's reading of the image: (class-balanced) cross-entropy for a discrete
        label; for a continuous one ``(R − l)² / (2σ²)``, σ² = max(R's squared error on
        real images, ``regression_sigma²``) (plain squared error with 0)."""
        if self.cont is None:
            return self._ce(pred, target, self.w_fake)
        per = self._losses(pred, target, self.w_fake)
        scale = torch.ones_like(per)
        scale[self.cont] = 0.5 / self.r_mse.clamp_min(self.c.regression_sigma**2)
        return (per * scale).sum()

    def start(self, ctx: StepContext) -> None:
        c, net = self.c, self.module
        train_labels = self.labels[ctx.train[:, 0]]
        self.pool = self.model._fake_label_pool(train_labels, max(20_000, len(train_labels)), ctx.seed)
        # class-balanced variants: R by the data's frequencies, G by its own label rows'
        width = self.enc.width  # type: ignore[union-attr]
        self.w_real = class_weights(self.enc, train_labels) if c.balance_labeler and width else None
        self.w_fake = class_weights(self.enc, self.pool) if c.balance_generator and width else None
        cont = [i for i, col in enumerate(self.enc.schema.columns) if not col.discrete]  # type: ignore[union-attr]
        self.cont = torch.tensor(cont, device=ctx.device) if cont and c.regression_sigma > 0 else None
        self.r_mse = torch.ones(len(cont), device=ctx.device)  # R's squared error on real images, running mean
        self.model.variety = None
        self.gate = (VarietyGate(self.images, self.labels, ctx.train[:, 0], ctx.seed)
                     if c.mode_seeking > 0 and c.mode_seeking_gate and len(ctx.train) >= 2 else None)
        for _ in range(c.pretrain_labeler if width else 0):
            x, l_r = self._real(ctx.draw())
            loss_r = self._labeler_loss(net.read(net.labeler, x), l_r)  # type: ignore[operator]
            self.opt_r.zero_grad(set_to_none=True)
            loss_r.backward()
            ctx.step(self.opt_r)

    def step(self, batch: Tensor, ctx: StepContext) -> Tensor:
        net: CausalGANNet = self.module  # type: ignore[assignment]
        c, bs, dev = self.c, ctx.plan.batch_size, ctx.device
        x, l_r = self._real(batch)
        mb = x.shape[0]  # this process's rows of the batch
        l_f = ctx.shard(self.pool[torch.randint(len(self.pool), (bs,), generator=ctx.generator).to(dev)])
        if self.gate is not None and ctx.steps % GATE_EVERY == 0:
            self.gate.check(net, self.ambient)
            self.model.variety = self.gate.summary()
        half = mb // 2 if c.mode_seeking > 0 and (self.gate is None or self.gate.on) else 0
        if half:  # mode seeking: rows i and half + i share their labels, not their z
            l_f = torch.cat([l_f[:half], l_f[:half], l_f[2 * half :]])
        z = ctx.shard(torch.randn(bs, c.z_dim, generator=ctx.generator).to(dev))
        bce = nn.functional.binary_cross_entropy_with_logits
        recon = self.recon_weight > 0
        if recon:  # G redraws the real images from their labels and E's codes, in the same batch (one set of batch statistics)
            mean = net.encode(x, l_r)
            logvar = net.encoder_logvar.expand_as(mean)  # type: ignore[union-attr]
            z_x = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=ctx.generator).to(dev)
            k = min(round(c.recon_swap * z.shape[0]), z_x.shape[0])
            if k:  # the last k generated rows are drawn at real images' codes with other labels (the edits)
                z = torch.cat([z[: z.shape[0] - k], z_x[:k]])
            both = net.generate(torch.cat([l_f, l_r]), torch.cat([z, z_x]), averaged=False)
            fake, redrawn = both[: l_f.shape[0]], both[l_f.shape[0] :]
        else:
            fake = net.generate(l_f, z, averaged=False)
        # AmbientGAN: what D and the labelers compare with the (measured) real images is the
        # generated image measured alike, a fresh draw per image; E and mode seeking read G's own
        seen = self.ambient(fake, ctx.generator) if self.ambient is not None else fake
        # discriminator
        loss_d = bce(net.d(x, l_r), torch.ones(mb, device=dev)) + bce(net.d(seen.detach(), l_f), torch.zeros(mb, device=dev))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        ctx.step(self.opt_d)
        # labeler on real images, anti-labeler and z-encoder on generated ones
        loss_r = self._labeler_loss(net.read(net.labeler, x), l_r)
        k_t = c.anti_weight * math.exp(-ctx.steps / c.anti_decay)
        loss_a = self._ce(net.read(net.anti_labeler, seen.detach()), l_f) if k_t > 0 else fake.new_zeros(())
        loss_e = ((net.encode(fake.detach(), l_f) - z.detach()) ** 2).mean()
        heads = (self.opt_r, self.opt_a) if recon else (self.opt_r, self.opt_a, self.opt_e)  # with recon, E steps with G
        for opt in heads:
            opt.zero_grad(set_to_none=True)
        (loss_r + loss_a + (0.0 if recon else loss_e)).backward()
        for opt in heads:
            ctx.step(opt)
        # generator
        loss_g = bce(net.d(seen, l_f), torch.ones(mb, device=dev)) + c.label_weight * self._labeler_term(net.read(net.labeler, seen), l_f)
        if k_t > 0:
            loss_g = loss_g - k_t * self._ce(net.read(net.anti_labeler, seen), l_f)
        if half:
            moved = (fake[:half] - fake[half : 2 * half]).abs().mean() / (z[:half] - z[half : 2 * half]).abs().mean()
            loss_g = loss_g + c.mode_seeking / (moved + 1e-5)
        self.opt_g.zero_grad(set_to_none=True)
        if recon:  # G and E learn the reconstruction; E also its codes of generated images (loss_e)
            self.opt_e.zero_grad(set_to_none=True)
            kl = 0.5 * (mean**2 + logvar.exp() - logvar - 1.0).sum(1).mean()
            loss_g = loss_g + self.recon_weight * (redrawn - x).abs().flatten(1).sum(1).mean() + kl
            (loss_g + loss_e).backward()
            ctx.step(self.opt_e)
        else:
            loss_g.backward()
        ctx.step(self.opt_g)
        net.update_average(min(c.ema, (1.0 + ctx.steps) / (10.0 + ctx.steps)))
        return loss_g

    @torch.no_grad()
    def validate(self, rows: Tensor, ctx: StepContext) -> float:
        """The labeler's cross-entropy on images generated (fresh z) from the held-out
        images' labels (from the fake-label pool when none are held out)."""
        net: CausalGANNet = self.module  # type: ignore[assignment]
        labels = (self.labels[rows[:, 0]] if ctx.n_val else self.pool[:256])[:512]
        was = net.training
        net.eval()
        z = torch.randn(labels.shape[0], net.z_dim, generator=ctx.generator).to(labels.device)
        fake = net.generate(labels, z)
        if self.ambient is not None:  # the labeler reads measured images
            fake = self.ambient(fake, ctx.generator)
        out = float(self._ce(net.read(net.labeler, fake), labels))
        net.train(was)
        return out
