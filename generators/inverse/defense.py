"""The robust manifold defense (Ilyas, Jalal, Asteri, Daskalakis, Dimakis 2017; Defense-GAN,
Samangouei, Kabkab, Chellappa 2018) and the adaptive attacks on it (Athalye, Carlini, Wagner
2018: BPDA, and the search of the generator's latent space for a misclassified image within
eps): a small CNN image classifier, an L-infinity PGD attack, the projection of an image onto a
trained generator's range (CSGM with the identity operator, labels free), and
``evaluate_defense``, which reports clean, attacked, defended, BPDA, latent-attack and
worst-case accuracies::

    clf = fit_classifier(train_images, train_classes, seed=0)
    report = evaluate_defense(clf, model, test_images, test_classes, eps=(0.1, 0.3), latent_steps=200)
    report.clean, report.pgd, report.transfer, report.bpda, report.latent, report.worst
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generators.inverse.operators import Operator

__all__ = [
    "DefenseError", "ClassifierConfig", "ImageClassifier", "fit_classifier", "load_classifier", "as_images",
    "pgd_attack", "Projection", "project", "bpda", "latent_attack", "DefenseReport", "evaluate_defense",
    "IdentityOperator",
]

FORMAT = "counterfactory-classifier"
WEIGHTS = "classifier.safetensors"
META = "classifier.json"


class DefenseError(ValueError):
    """Bad input to the defense or its attacks (eps, shapes, classes, a classifier file)."""


# ---------------------------------------------------------------------- the classifier
@dataclass(frozen=True)
class ClassifierConfig:
    width: int = 16  # channels of the first conv layer; the second has twice as many
    hidden: int = 64  # units of the hidden dense layer
    epochs: int = 5  # passes over the training images
    batch_size: int = 64
    lr: float = 2e-3  # Adam
    weight_decay: float = 0.0


class ImageClassifier(nn.Module):
    """Two 3x3 conv + ReLU + 2x2 max-pool blocks and a two-layer head: logits over ``classes``
    for images ``[n, C, H, W]`` with pixels in [0, 1] (H and W divisible by 4)."""

    def __init__(self, shape: Sequence[int], classes: Sequence[Any], config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        c, h, w = (int(v) for v in shape)
        if c not in (1, 3) or h < 4 or w < 4 or h % 4 or w % 4:
            raise DefenseError(f"the classifier takes images of 1 or 3 channels with sides divisible by 4, got {tuple(shape)}")
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise DefenseError(f"a classifier needs at least two distinct classes, got {list(classes)}")
        self.shape = (c, h, w)
        self.classes = list(classes)
        self.config = config
        k = config.width
        self.features = nn.Sequential(
            nn.Conv2d(c, k, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(k, 2 * k, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * k * (h // 4) * (w // 4), config.hidden), nn.ReLU(),
                                  nn.Linear(config.hidden, len(self.classes)))
        self.fit_report: dict[str, Any] = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def check(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            raise DefenseError(f"the classifier takes images of shape {self.shape} (channels, height, width), "
                               f"got a batch of shape {tuple(x.shape)}")

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 512) -> Tensor:
        """Class indices (into ``classes``) of images ``[n, C, H, W]``."""
        self.check(x)
        self.eval()
        return torch.cat([self(x[s : s + batch]).argmax(1) for s in range(0, len(x), batch)]) if len(x) else \
            torch.zeros(0, dtype=torch.long)

    def accuracy(self, x: Tensor, y: Tensor) -> float:
        """Fraction of images whose predicted class index equals ``y``."""
        return float((self.predict(x) == y.to(torch.long)).float().mean()) if len(x) else float("nan")

    def index(self, values: Sequence[Any]) -> Tensor:
        """Class values -> indices into ``classes``; an unknown value is an error that names it."""
        where = {_plain(c): i for i, c in enumerate(self.classes)}
        out = []
        for v in values:
            key = _plain(v)
            if key not in where:
                raise DefenseError(f"class {v!r} is not one the classifier knows ({', '.join(map(str, self.classes))})")
            out.append(where[key])
        return torch.tensor(out, dtype=torch.long)

    def save(self, path: str | os.PathLike) -> Path:
        """A folder with ``classifier.safetensors`` (weights) and ``classifier.json`` (shape,
        classes, config, fit report, the weights' SHA-256); never a pickle."""
        from generators.checkpoint import write_tensors

        meta = {"format": FORMAT, "format_version": 1, "shape": list(self.shape), "classes": self.classes,
                "config": asdict(self.config), "fit": self.fit_report}
        return write_tensors(path, self.state_dict(), meta, WEIGHTS, META)


def _plain(v: Any) -> Any:
    """numpy scalars as Python values (JSON and dictionary keys alike)."""
    return v.item() if isinstance(v, np.generic) else v


def load_classifier(path: str | os.PathLike) -> ImageClassifier:
    """A classifier saved by ``ImageClassifier.save``; the weights must match the recorded hash."""
    from generators.checkpoint import CheckpointError, read_tensors

    folder = Path(path)
    meta_path, weights = folder / META, folder / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise DefenseError(f"{folder} is not a saved classifier (it needs {META} and {WEIGHTS})")
    try:
        meta, state = read_tensors(folder, WEIGHTS, META)
    except CheckpointError as e:
        raise DefenseError(str(e)) from None
    if meta.get("format") != FORMAT:
        raise DefenseError(f"{meta_path} is not a counterfactory classifier (format {FORMAT!r})")
    known = {f for f in ClassifierConfig.__dataclass_fields__}
    config = ClassifierConfig(**{k: v for k, v in meta.get("config", {}).items() if k in known})
    clf = ImageClassifier(meta["shape"], meta["classes"], config)
    try:
        clf.load_state_dict(state)
    except RuntimeError as e:
        raise DefenseError(f"{weights} does not fit the classifier described in {meta_path}: {str(e).splitlines()[0]}") from None
    clf.fit_report = dict(meta.get("fit") or {})
    clf.eval()
    return clf


def as_images(images: Any) -> Tensor:
    """Images as floats ``[n, C, H, W]`` in [0, 1]: from uint8 ``[n, H, W, C]`` (``ImageData.images``)
    or from a float tensor already in that layout."""
    if isinstance(images, Tensor):
        x = images.detach().float()
    else:
        arr = np.asarray(images)
        if arr.dtype != np.uint8 or arr.ndim != 4:
            raise DefenseError(f"images are uint8 [n, H, W, C] or a float tensor [n, C, H, W]; got {arr.dtype} {arr.shape}")
        x = torch.from_numpy(arr.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    if x.dim() != 4:
        raise DefenseError(f"images are a batch [n, C, H, W], got shape {tuple(x.shape)}")
    if len(x) and (float(x.min()) < 0 or float(x.max()) > 1):
        raise DefenseError("pixels must lie in [0, 1]")
    return x


def fit_classifier(images: Any, classes: Sequence[Any], config: ClassifierConfig = ClassifierConfig(),
                   seed: int = 0) -> ImageClassifier:
    """Train an ``ImageClassifier`` on ``images`` (see ``as_images``) with one class value per
    image (any hashable values; the sorted distinct values become ``classes``), by Adam on the
    cross-entropy; the same seed gives the same weights."""
    x = as_images(images)
    values = [_plain(v) for v in classes]
    if len(values) != len(x):
        raise DefenseError(f"{len(x)} images but {len(values)} class labels")
    distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = ImageClassifier(tuple(x.shape[1:]), distinct, config)
    y = clf.index(values)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(clf.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    t0 = time.perf_counter()
    clf.train()
    loss = torch.tensor(float("nan"))
    with torch.inference_mode(False), torch.enable_grad():
        for _ in range(config.epochs):
            order = torch.randperm(len(x), generator=gen)
            for s in range(0, len(x), config.batch_size):
                idx = order[s : s + config.batch_size]
                loss = F.cross_entropy(clf(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    clf.eval()
    clf.fit_report = {"n_train": len(x), "epochs": config.epochs, "seconds": time.perf_counter() - t0,
                      "final_loss": float(loss.detach()), "train_accuracy": clf.accuracy(x, y), "seed": seed}
    return clf


# ---------------------------------------------------------------------- the attack
def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not math.isfinite(eps) or not 0 < eps <= 1:
        raise DefenseError(f"eps is an L-infinity radius in pixel units, 0 < eps <= 1; got {eps}")
    return eps


def pgd_attack(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 40,
    step: float | None = None,
    random_start: bool = True,
    seed: int = 0,
) -> Tensor:
    """Projected gradient ascent on the cross-entropy of ``f(x')`` (logits) against the true
    class indices ``y``, inside the L-infinity ball ``‖x' − x‖∞ ≤ eps`` and the pixel range
    [0, 1] (Madry et al. 2018): ``steps`` signed-gradient steps of size ``step`` (default
    2.5·eps/steps), from a uniform random point of the ball when ``random_start``."""
    eps = _check_eps(eps)
    if steps < 1:
        raise DefenseError(f"PGD needs at least one step, got {steps}")
    step = 2.5 * eps / steps if step is None else float(step)
    if not math.isfinite(step) or step <= 0:
        raise DefenseError(f"the PGD step size must be a positive number, got {step}")
    x = x.detach().float()
    if x.dim() != 4 or y.shape != (len(x),):
        raise DefenseError(f"PGD attacks images [n, C, H, W] with one class index each; got {tuple(x.shape)} and "
                           f"{tuple(y.shape)} labels")
    lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
    if random_start:
        gen = torch.Generator().manual_seed(seed)
        adv = x + (torch.rand(x.shape, generator=gen) * 2 - 1).to(x) * eps
        adv = torch.max(torch.min(adv, hi), lo)
    else:
        adv = x.clone()
    with torch.inference_mode(False), torch.enable_grad():
        for _ in range(steps):
            adv = adv.detach().requires_grad_(True)
            loss = F.cross_entropy(f(adv), y.to(torch.long), reduction="sum")
            (grad,) = torch.autograd.grad(loss, adv)
            adv = torch.max(torch.min(adv.detach() + step * grad.sign(), hi), lo)
    return adv.detach()


# ---------------------------------------------------------------------- the defense
class IdentityOperator(Operator):
    """Every pixel measured as it is: CSGM with it projects an image onto the generator's range."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__(shape)
        self.spec = "identity"

    @property
    def m(self) -> int:
        return self.n_pixels

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)

    def adjoint(self, y: Tensor) -> Tensor:
        return y.view(-1, *self.shape)


@dataclass(frozen=True)
class Projection:
    """How an image is projected onto the generator's range: CSGM (``generator_prior_batch``)
    with the identity operator, labels free, ``restarts`` starts per image in one batch."""

    restarts: int = 10  # random starts per image; the one closest to the image wins
    steps: int = 300  # Adam steps
    lr: float = 0.05
    prior: float = 0.1  # weight of ‖z‖² (sums over pixels)
    batch: int = 64  # images optimized together (memory: batch · restarts decoder passes)


def project(images: Tensor, model: Any, projection: Projection = Projection(), seed: int = 0) -> Tensor:
    """The images ``[n, C, H, W]`` in [0, 1] projected onto ``model``'s range: for each, the
    generated image ``G(l, ẑ)`` closest to it in squared pixel error (plus the prior term)."""
    from generators.inverse.csgm import generator_prior_batch

    x = as_images(images)
    op = IdentityOperator(tuple(x.shape[1:]))  # type: ignore[arg-type]
    out = []
    for k, s in enumerate(range(0, len(x), projection.batch)):
        imgs, _ = generator_prior_batch(op.forward(x[s : s + projection.batch]), op, model, seed=seed + k,
                                        restarts=projection.restarts, steps=projection.steps, lr=projection.lr,
                                        prior=projection.prior)
        out.append(imgs)
    return torch.cat(out) if out else x.clone()


def bpda(x: Tensor, transform: Callable[[Tensor], Tensor]) -> Tensor:
    """``transform(x)`` forward, the identity backward (Backward Pass Differentiable
    Approximation, Athalye et al. 2018): ``∂bpda(x)/∂x = I``, so the gradient of
    ``loss(f(bpda(x)))`` is the gradient of ``loss(f(·))`` taken at the transformed image.

    >>> x = torch.tensor([0.2, 0.7], requires_grad=True)
    >>> y = bpda(x, torch.round)                    # rounding: zero gradient almost everywhere
    >>> y.detach().tolist(), torch.autograd.grad(y.sum(), x)[0].tolist()
    ([0.0, 1.0], [1.0, 1.0])
    """
    with torch.no_grad():
        out = transform(x.detach()).to(x)
    return x + (out - x).detach()


def latent_attack(
    classifier: ImageClassifier,
    model: Any,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 200,
    restarts: int = 4,
    start_steps: int = 150,
    c: float = 10.0,
    kappa: float = 5.0,
    lr: float = 0.05,
    prior: float = 0.1,
    select: Projection | None = None,
    batch: int = 64,
    seed: int = 0,
) -> Tensor:
    """The attack that broke Defense-GAN (Athalye et al. 2018, section 5.3), in L-infinity:
    search the generator's latent space for an image ``G(l, z)`` that the classifier gets wrong
    near ``x``, then put into the ball an image whose projection is (nearly) ``G(l, z)``.

    Per image, ``restarts`` starts are first fitted to ``x`` as the projection fits them (CSGM,
    ``start_steps`` Adam steps on ``‖G(l, z) − x‖² + prior·‖z‖²``, labels free; start image
    ``G₀``), then Adam (``steps``, ``lr``) on ``max(f_y − max_{k≠y} f_k, −kappa)`` (the
    Carlini-Wagner margin of the logits ``f`` of ``G(l, z)``) ``+ c·Σ relu(|G(l, z) − x| − eps)²``
    ``+ prior·‖z‖²``: the image becomes misclassified while the penalty pulls it towards the
    ball. Kept per start: ``G*``, of the steps where ``G(l, z)`` was misclassified the one with
    the smallest ball violation ``Σ relu(|G − x| − eps)²`` (else the last). A generator rarely
    reaches within an L-infinity eps of a real image, so each start gives two candidates in the
    ball: ``clip(G*, x − eps, x + eps)`` (the nearest image to ``G*``) and ``x + eps·sign(G* −
    G₀)`` (of the ball, the image that most prefers ``G*`` to ``G₀`` in squared distance), both
    in [0, 1]. The attacker projects every candidate with its own projection ``select``
    (default 2 restarts × 100 steps) and keeps per image the one whose projection the
    classifier scores lowest (margin of the true class). Returns those images ``[n, C, H, W]``;
    images are optimized in batches of ``batch``. The defaults: ``c`` large enough that the
    penalty, not the margin, sets how far ``G`` leaves the ball, small enough that ``G`` does
    leave its start (a much larger ``c`` holds most starts where they are); ``kappa`` (logit
    units) asks for a margin that survives the projection's error."""
    from generators.inverse.csgm import _frozen, generator_prior_latents

    eps = _check_eps(eps)
    if steps < 1 or restarts < 1 or start_steps < 0 or batch < 1:
        raise DefenseError(f"the latent attack needs steps >= 1, restarts >= 1, start_steps >= 0 and batch >= 1; got "
                           f"{steps}, {restarts}, {start_steps} and {batch}")
    for name, v in (("c", c), ("kappa", kappa), ("lr", lr), ("prior", prior)):
        if not math.isfinite(float(v)) or float(v) < 0 or (name == "lr" and v == 0):
            raise DefenseError(f"the latent attack's {name} must be a {'positive' if name == 'lr' else 'non-negative'} "
                               f"number, got {v}")
    select = select or Projection(restarts=2, steps=100)
    x = as_images(x)
    classifier.check(x)
    if y.shape != (len(x),):
        raise DefenseError(f"the latent attack takes images [n, C, H, W] with one class index each; got "
                           f"{tuple(x.shape)} and {tuple(y.shape)} labels")
    op = IdentityOperator(tuple(x.shape[1:]))  # type: ignore[arg-type]
    dev = model._device
    classifier.eval()
    out = []
    for k, s in enumerate(range(0, len(x), batch)):
        xb, yb = x[s : s + batch], y[s : s + batch].to(torch.long)
        n = len(xb)
        g0, _, lab0, z0 = generator_prior_latents(op.forward(xb), op, model, seed=seed + k, restarts=restarts,
                                                  steps=start_steps, lr=lr, prior=prior)
        xs = xb.to(dev).repeat_interleave(restarts, 0)
        ys = yb.to(dev).repeat_interleave(restarts, 0)
        best = torch.zeros_like(xs)  # per start: G*, whether it is misclassified, its violation
        best_bad = torch.zeros(len(xs), dtype=torch.bool, device=dev)
        best_viol = torch.full((len(xs),), float("inf"), device=dev)
        with torch.inference_mode(False), torch.enable_grad(), _frozen(model.image_net), _frozen(classifier):
            z = z0.clone().requires_grad_(True)
            lab = lab0.clone().requires_grad_(lab0.shape[1] > 0)
            opt = torch.optim.Adam([z] + ([lab] if lab.requires_grad else []), lr=lr)
            for step in range(steps + 1):  # the last pass only scores the final latents
                g = model._decode(lab, z)
                logits = classifier(g)
                true, other = _true_and_other(logits, ys)
                viol = (F.relu((g - xs).abs() - eps) ** 2).flatten(1).sum(1)
                with torch.no_grad():
                    bad = true < other
                    keep = (bad & (~best_bad | (viol < best_viol))) | (~bad & ~best_bad)
                    best[keep] = g.detach()[keep]
                    best_viol[keep] = viol.detach()[keep]
                    best_bad |= bad
                if step == steps:
                    break
                loss = (torch.clamp(true - other, min=-kappa) + c * viol + prior * (z**2).sum(1)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        g_star, xs, g0 = best.detach().float().cpu(), xs.cpu(), g0.to(xs.device).cpu()
        near = torch.max(torch.min(g_star, xs + eps), xs - eps).clamp(0, 1)
        apart = (xs + eps * torch.sign(g_star - g0)).clamp(0, 1)
        cands = torch.stack([near.view(n, restarts, *xb.shape[1:]), apart.view(n, restarts, *xb.shape[1:])], 1)
        cands = cands.reshape(n * 2 * restarts, *xb.shape[1:])  # image i's candidates: rows i·2R to (i+1)·2R − 1
        back = project(cands, model, select, seed=seed + 7919 + k)
        with torch.no_grad():
            logits = classifier(back)
            yc = yb.repeat_interleave(2 * restarts, 0)
            true, other = _true_and_other(logits, yc)
            pick = (true - other).view(n, 2 * restarts).argmin(1)
        out.append(cands.view(n, 2 * restarts, *xb.shape[1:])[torch.arange(n), pick])
    return torch.cat(out) if out else x.clone()


def _true_and_other(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's logit of its true class ``y`` and the largest logit of any other class (the
    two sides of the Carlini-Wagner margin)."""
    true = logits.gather(1, y[:, None])[:, 0]
    return true, logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).max(1).values


@dataclass(frozen=True)
class DefenseReport:
    """Accuracies (fractions of ``n`` test images) of a classifier bare and behind the projection.
    Fields after ``seconds`` came later: a report saved before them loads with their defaults."""

    n: int
    eps: tuple[float, ...]
    clean: float  # bare classifier, clean images
    clean_projected: float  # classifier after projection, clean images (the defense's own cost)
    pgd: tuple[float, ...]  # bare classifier under PGD, per eps
    transfer: tuple[float, ...]  # the same adversarial images, projected, then classified (non-adaptive attack)
    bpda: tuple[float, ...]  # PGD through the projection with BPDA (adaptive attack), projected, classified
    seconds_per_projection: float  # wall seconds per projected image (projections batched)
    projections: int  # images projected in all (defense and attack)
    pgd_steps: int
    bpda_steps: int
    projection: Projection = Projection()
    attack_projection: Projection = Projection()  # the projection the BPDA attacker runs at each of its steps
    seed: int = 0
    seconds: float = 0.0  # wall seconds of the whole evaluation
    latent: tuple[float, ...] = ()  # the latent attack's images (latent_attack), projected, classified, per eps
    worst: tuple[float, ...] = ()  # per eps: images classified correctly after every attack run on the defense
    latent_steps: int = 0  # 0: no latent attack
    latent_restarts: int = 0  # the latent attack's starts per image

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("eps", "pgd", "transfer", "bpda", "latent", "worst"):
            d[k] = list(getattr(self, k))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DefenseReport:
        """A report from ``to_dict`` (or a JSON record holding its fields), old ones included:
        fields it lacks take their defaults, keys that are not fields are ignored."""
        known = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("eps", "pgd", "transfer", "bpda", "latent", "worst"):
            if k in kw:
                kw[k] = tuple(kw[k])
        for k in ("projection", "attack_projection"):
            if isinstance(kw.get(k), dict):
                kw[k] = Projection(**{f: v for f, v in kw[k].items() if f in Projection.__dataclass_fields__})
        return cls(**kw)

    def table(self) -> list[dict[str, Any]]:
        """One row per eps (and eps 0 for the clean images): accuracy bare, projected, under BPDA,
        under the latent attack, and the worst case over the attacks run on the defense (NaN
        where an attack was not run)."""
        nan = float("nan")
        pick = lambda v, i: v[i] if i < len(v) else nan
        rows = [{"eps": 0.0, "bare": self.clean, "projected": self.clean_projected, "bpda": self.clean_projected,
                 "latent": self.clean_projected, "worst": self.clean_projected}]
        for i, e in enumerate(self.eps):
            rows.append({"eps": e, "bare": self.pgd[i], "projected": self.transfer[i], "bpda": pick(self.bpda, i),
                         "latent": pick(self.latent, i), "worst": pick(self.worst, i)})
        return rows


def evaluate_defense(
    classifier: ImageClassifier,
    model: Any,
    images: Any,
    classes: Sequence[Any],
    eps: Sequence[float] = (0.1, 0.3),
    pgd_steps: int = 40,
    bpda_steps: int = 40,
    projection: Projection = Projection(),
    attack_projection: Projection | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    latent_steps: int = 0,
) -> DefenseReport:
    """Clean, PGD, defended (transfer), BPDA, latent-attack and worst-case accuracies of
    ``classifier`` on ``images``.

    (i) PGD (``pgd_steps``, step 2.5·eps/steps, random start) against the bare classifier;
    (ii) those adversarial images projected onto ``model``'s range (``project``) and then
    classified: the non-adaptive attack the defense papers report; (iii) BPDA: PGD
    (``bpda_steps``) against classifier∘projection, the projection run forward at every step
    (with ``attack_projection``, by default the defense's own; a different seed per step) and
    replaced by the identity backward, the final images then projected by the defense
    and classified. ``bpda_steps=0`` skips (iii). The projection is never differentiated
    through (no unrolled optimization). (iv) With ``latent_steps > 0``: ``latent_attack``
    (``latent_steps`` Adam steps, its starts fitted with the defense's projection settings, its
    candidates checked with ``attack_projection``), its images projected by the defense (a fresh
    seed) and classified. ``worst`` per eps: the images classified correctly after every attack
    on the defense that was run ((ii), (iii), (iv)): the accuracy that survives them all.
    ``cancel`` (a function) is asked before every projection and attack; when it says yes,
    ``generators.training.Cancelled`` is raised.
    """
    if not eps:
        raise DefenseError("give at least one eps")
    if pgd_steps < 1 or bpda_steps < 0 or latent_steps < 0:
        raise DefenseError(f"pgd_steps >= 1, bpda_steps >= 0 (0 skips BPDA) and latent_steps >= 0 (0 skips the latent "
                           f"attack); got {pgd_steps}, {bpda_steps} and {latent_steps}")
    eps_t = tuple(_check_eps(e) for e in eps)
    x = as_images(images)
    classifier.check(x)
    shape = (model.info.channels, model.info.size, model.info.size) if hasattr(model, "info") else None
    if shape is not None and tuple(x.shape[1:]) != shape:
        raise DefenseError(f"the generator draws images of shape {shape} but the images have shape {tuple(x.shape[1:])}")
    y = classifier.index(list(classes))
    if len(y) != len(x):
        raise DefenseError(f"{len(x)} images but {len(y)} class labels")
    attack_projection = attack_projection or projection
    say = progress or (lambda _m: None)
    t_start = time.perf_counter()
    spent = [0.0, 0, 0]  # seconds and images of the defense's projections; images projected in all

    def check() -> None:
        if cancel is not None and cancel():
            from generators.training import Cancelled

            raise Cancelled()

    def proj(batch: Tensor, how: Projection, s: int) -> Tensor:
        check()
        t0 = time.perf_counter()
        out = project(batch, model, how, seed=s)
        if how == projection:
            spent[0] += time.perf_counter() - t0
            spent[1] += len(batch)
        spent[2] += len(batch)
        return out

    classifier.eval()
    for p in classifier.parameters():
        p.requires_grad_(False)

    def correct(batch: Tensor) -> Tensor:
        return classifier.predict(batch) == y

    try:
        clean = classifier.accuracy(x, y)
        say(f"clean accuracy {clean:.3f}; projecting {len(x)} clean images")
        clean_proj = classifier.accuracy(proj(x, projection, seed), y)
        pgd, transfer, bp, lat, worst = [], [], [], [], []
        for i, e in enumerate(eps_t):
            check()
            adv = pgd_attack(classifier, x, y, e, steps=pgd_steps, seed=seed + 1 + i)
            pgd.append(classifier.accuracy(adv, y))
            survived = correct(proj(adv, projection, seed + 100 + i))
            transfer.append(float(survived.float().mean()))
            say(f"eps {e:g}: PGD {pgd[-1]:.3f}, projected {transfer[-1]:.3f}")
            if bpda_steps > 0:
                counter = iter(range(10**9))

                def defended(z: Tensor) -> Tensor:
                    k = next(counter)
                    return classifier(bpda(z, lambda t: proj(t, attack_projection, seed + 1000 * (i + 1) + k)))

                adv_b = pgd_attack(defended, x, y, e, steps=bpda_steps, seed=seed + 1 + i)
                ok = correct(proj(adv_b, projection, seed + 200 + i))
                bp.append(float(ok.float().mean()))
                survived &= ok
                say(f"eps {e:g}: BPDA {bp[-1]:.3f}")
            if latent_steps > 0:
                check()
                adv_l = latent_attack(classifier, model, x, y, e, steps=latent_steps, restarts=projection.restarts,
                                      start_steps=projection.steps, lr=projection.lr, prior=projection.prior,
                                      select=attack_projection, batch=projection.batch, seed=seed + 300 + i)
                # its starts are fitted to the images as a projection fits them; its candidates projected
                spent[2] += len(x) * (1 + 2 * projection.restarts)
                ok = correct(proj(adv_l, projection, seed + 400 + i))
                lat.append(float(ok.float().mean()))
                survived &= ok
                say(f"eps {e:g}: latent attack {lat[-1]:.3f}")
            worst.append(float(survived.float().mean()))
    finally:
        for p in classifier.parameters():
            p.requires_grad_(True)
    return DefenseReport(
        n=len(x), eps=eps_t, clean=clean, clean_projected=clean_proj, pgd=tuple(pgd), transfer=tuple(transfer),
        bpda=tuple(bp), seconds_per_projection=spent[0] / max(spent[1], 1), projections=spent[2],
        pgd_steps=pgd_steps, bpda_steps=bpda_steps, projection=projection, attack_projection=attack_projection,
        seed=seed, seconds=time.perf_counter() - t_start, latent=tuple(lat), worst=tuple(worst),
        latent_steps=latent_steps, latent_restarts=projection.restarts if latent_steps else 0,
    )
