"""The robust manifold defense as the ``defend`` command, the Inverse problems page and the
``defense`` kind of background task run it: labelled images (a built-in image dataset, a
Morpho-MNIST folder, a folder of images with a labels CSV) at a generator's size, the
classifier trained and attacked (``defend``), the JSON record, the cost estimate, and the
result's table, chart and example images for the page."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Labelled", "load_labelled", "MORPHO_ENV", "DefenseSettings", "defend", "record", "morpho_folder",
           "class_columns", "data_choices", "parse_eps", "Estimate", "estimate", "projection_rate", "submit",
           "result_frame", "result_figure", "example_images", "KIND", "BPDA_CAVEAT"]

MORPHO_ENV = "COUNTERFACTORY_MORPHO_MNIST"  # the Morpho-MNIST folder that --data morpho-mnist means


@dataclass(frozen=True)
class Labelled:
    """Images ``[n, C, H, W]`` in [0, 1], their class values, and what they are."""

    images: Tensor
    classes: list[Any]
    label: str
    source: str


def _is_morpho(folder: Path) -> bool:
    return any((folder / f"t10k-images-idx3-ubyte{s}").is_file() for s in ("", ".gz"))


def load_labelled(data: str, label: str | None, n: int, size: int, channels: int, seed: int = 0) -> Labelled:
    """``n`` labelled images at ``size`` x ``size`` with ``channels`` channels, from ``data``:

    - a built-in image dataset (``morpho-glyphs``: the class is the glyph drawn, 0-9; others:
      ``label`` names a label column), drawn with ``seed``;
    - ``morpho-mnist`` (the folder in ``$COUNTERFACTORY_MORPHO_MNIST``) or a Morpho-MNIST
      folder: the first ``n`` digits, class ``digit`` (28 px digits padded to 32 px when
      ``size`` is 32);
    - a folder (or .zip) of images with ``labels.csv``: the first ``n`` listed, ``label`` the
      class column.
    """
    from causal import images as imd
    from generators.inverse.defense import DefenseError, as_images

    if n < 1:
        raise DefenseError(f"the number of images must be positive, got {n}")
    if data in imd.names():
        ds = imd.load(data, n=n, seed=seed, size=size)
        if data == "morpho-glyphs" and label in (None, "glyph"):
            classes = [int(v) for v in ds.data.style[:, 0]]  # type: ignore[index]
            label = "glyph"
        else:
            cols = list(ds.data.labels.columns)
            if label not in cols:
                raise DefenseError(f"--label must name the class column of {data}: one of {', '.join(cols)}"
                                   + ("" if label is None else f" (got '{label}')"))
            classes = ds.data.labels[label].tolist()
        imgs = ds.data.images
        if imgs.shape[-1] != channels:
            raise DefenseError(f"{data} images have {imgs.shape[-1]} channel(s) but the generator draws {channels}")
        return Labelled(as_images(imgs), classes, label, f"{data} (seed {seed})")
    path = Path(data)
    if data == "morpho-mnist":
        env = os.environ.get(MORPHO_ENV)
        if not env:
            raise DefenseError(f"--data morpho-mnist reads the folder in ${MORPHO_ENV}; set it, or give the folder itself")
        path = Path(env)
    if not path.exists():
        raise DefenseError(f"--data {data}: no such built-in image dataset ({', '.join(imd.names())}), folder or file")
    if path.is_dir() and _is_morpho(path):
        mm = imd.load_morpho_mnist(path, n=n)
        label = label or "digit"
        if label not in mm.labels.columns:
            raise DefenseError(f"{path} has no '{label}' labels (for digits it needs t10k-labels-idx1-ubyte.gz); "
                               f"its labels are {', '.join(mm.labels.columns)}")
        imgs = mm.images
        if size == 32:
            imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2), (0, 0)))
        elif size != 28:
            raise DefenseError(f"Morpho-MNIST digits are 28 px (32 padded) but the generator draws {size} px images")
        if channels != 1:
            raise DefenseError(f"Morpho-MNIST digits are grey but the generator draws {channels}-channel images")
        return Labelled(as_images(imgs), mm.labels[label].tolist(), label, f"Morpho-MNIST {path}")
    folder = imd.load_image_folder(path, size=size, channels=channels)
    cols = list(folder.labels.columns)
    if label is None or label not in cols:
        raise DefenseError(f"--label must name the class column of {path}'s labels: one of {', '.join(cols) or '(none)'}"
                           + ("" if label is None else f" (got '{label}')"))
    k = min(n, len(folder))
    return Labelled(as_images(folder.images[:k]), folder.labels[label].tolist()[:k], label, str(path))


# ---------------------------------------------------------------------- one evaluation, its record
KIND = "defense"  # the kind of background task (app.tasks) that runs ``defend`` for the page
SHARED_MORPHO = Path(__file__).resolve().parents[3] / "shared" / "data" / "morphomnist"
BPDA_CAVEAT = (
    "BPDA replaces the projection by the identity in the backward pass: it is one adaptive attack, so the accuracy "
    "under it is an upper bound on what survives an adaptive attacker (the attack is a lower bound on their "
    "strength), never a proof of robustness. The latent attack searches the generator's range for a misclassified "
    "image near each test image (Athalye et al.'s attack on Defense-GAN); *worst case* counts the images that "
    "survive every attack run, the accuracy that survives them all (still an upper bound)."
)


@dataclass(frozen=True)
class DefenseSettings:
    """One defense evaluation's sizes (the ``defend`` command's options; the page's defaults
    are small enough for a few minutes on a CPU)."""

    eps: tuple[float, ...] = (0.1, 0.3)  # L-infinity radii in pixel units
    n: int = 20  # test images attacked
    train_n: int = 1000  # images the classifier trains on (the test images follow them)
    epochs: int = 3  # classifier training epochs
    pgd_steps: int = 20  # PGD steps against the bare classifier (step 2.5 eps / steps)
    bpda_steps: int = 10  # BPDA steps through the projection (0 skips BPDA)
    restarts: int = 4  # projection: random starts per image
    steps: int = 100  # projection: Adam steps
    attack_restarts: int = 0  # the attackers' projection (BPDA's, the latent attack's check): starts (0: the defense's)
    attack_steps: int = 0  # ...and steps (0: the defense's)
    latent_steps: int = 100  # the latent-space attack's Adam steps (0 skips it)
    examples: int = 4  # images shown clean, attacked and projected (0: none)
    seed: int = 0

    def __post_init__(self) -> None:
        from generators.inverse.defense import DefenseError

        object.__setattr__(self, "eps", tuple(float(e) for e in self.eps))
        if not self.eps:
            raise DefenseError("give at least one eps")
        for e in self.eps:
            if not 0 < e <= 1:
                raise DefenseError(f"eps is an L-infinity radius in pixel units, 0 < eps <= 1; got {e:g}")
        for name in ("n", "train_n", "epochs", "pgd_steps", "restarts", "steps"):
            if int(getattr(self, name)) < 1:
                raise DefenseError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("bpda_steps", "attack_restarts", "attack_steps", "examples", "latent_steps"):
            if int(getattr(self, name)) < 0:
                raise DefenseError(f"{name} must be 0 or more, got {getattr(self, name)}")

    @property
    def projection(self) -> Any:
        from generators.inverse.defense import Projection

        return Projection(restarts=self.restarts, steps=self.steps)

    @property
    def attack_projection(self) -> Any:
        from generators.inverse.defense import Projection

        return Projection(restarts=self.attack_restarts or self.restarts, steps=self.attack_steps or self.steps)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DefenseSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def defend(model: Any, data: Labelled, settings: DefenseSettings, classifier: Any = None,
           progress: Any = None, cancel: Any = None) -> tuple[Any, Any]:
    """Train a classifier on the first ``settings.train_n`` images of ``data`` (unless one is
    given), then ``evaluate_defense`` on the next ``settings.n``. ``progress`` gets one line
    per stage; ``cancel`` (a function) stops it with ``generators.training.Cancelled``.
    Returns the ``DefenseReport`` and the classifier."""
    from generators.inverse.defense import ClassifierConfig, DefenseError, evaluate_defense, fit_classifier

    s = settings
    say = progress or (lambda _m: None)
    if len(data.images) < s.train_n + s.n:
        raise DefenseError(f"{data.source} has {len(data.images)} images; {s.train_n} training plus {s.n} test images "
                           "need more")
    if classifier is None:
        say(f"training a classifier on {s.train_n:,} images of {data.source} (class: {data.label})")
        classifier = fit_classifier(data.images[: s.train_n], data.classes[: s.train_n],
                                    ClassifierConfig(epochs=s.epochs), seed=s.seed)
    test = slice(s.train_n, s.train_n + s.n)
    report = evaluate_defense(classifier, model, data.images[test], data.classes[test], eps=s.eps,
                              pgd_steps=s.pgd_steps, bpda_steps=s.bpda_steps, latent_steps=s.latent_steps,
                              projection=s.projection,
                              attack_projection=s.attack_projection, seed=s.seed, progress=say, cancel=cancel)
    return report, classifier


def record(report: Any, classifier: Any, labelled: Labelled, /, **extra: Any) -> dict[str, Any]:
    """The JSON record of an evaluation: the report's fields, what the images were, the
    classifier's classes and fit, and ``extra`` (model, data, ...)."""
    return {**report.to_dict(), "source": labelled.source, "label": labelled.label, "classes": classifier.classes,
            "classifier_fit": classifier.fit_report, **extra}


# ---------------------------------------------------------------------- choices and cost for the page
def parse_eps(text: str) -> tuple[float, ...]:
    """Radii typed on the page, ``"0.1, 0.3"`` or ``"0.1 0.3"`` -> ``(0.1, 0.3)``; each in (0, 1]."""
    from generators.inverse.defense import DefenseError

    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        eps = tuple(float(p) for p in parts)
    except ValueError:
        raise DefenseError(f"eps: write numbers separated by commas, such as 0.1, 0.3; got '{text}'") from None
    if not eps:
        raise DefenseError("eps: give at least one radius, such as 0.1")
    for e in eps:
        if not 0 < e <= 1:
            raise DefenseError(f"eps is an L-infinity radius in pixel units, 0 < eps <= 1; got {e:g}")
    return eps


def morpho_folder() -> Path | None:
    """The Morpho-MNIST folder (``$COUNTERFACTORY_MORPHO_MNIST``, else ``../shared/data/morphomnist``
    beside the project) when it holds the test digits and their labels; else None."""
    for p in (os.environ.get(MORPHO_ENV), SHARED_MORPHO):
        if p and _is_morpho(Path(p)) and any((Path(p) / f"t10k-labels-idx1-ubyte{s}").is_file() for s in ("", ".gz")):
            return Path(p)
    return None


def class_columns(dataset: str) -> list[str]:
    """The label columns of a built-in image dataset a classifier can predict (2 to 10 values;
    ``glyph`` for morpho-glyphs)."""
    if dataset == "morpho-glyphs":
        return ["glyph"]
    return list(_class_columns(dataset))


@cache
def _class_columns(dataset: str) -> tuple[str, ...]:
    from causal import images as imd

    labels = imd.load(dataset, n=200, seed=0, size=32).data.labels
    return tuple(c for c in labels.columns if 2 <= labels[c].nunique() <= 10)


def data_choices(run: Any, info: Any) -> dict[str, str]:
    """What a run's model can be defended on: its built-in dataset (when it has a class column)
    and the Morpho-MNIST digits (grey 28 or 32 px models, when the folder is there), as
    ``--data`` value -> description."""
    out: dict[str, str] = {}
    source = run.spec.source
    name = getattr(source, "dataset", None)
    if getattr(source, "kind", "") == "builtin-images" and name and class_columns(name):
        out[name] = f"{name}, the model's built-in dataset (fresh draws)"
    folder = morpho_folder()
    if folder is not None and info.channels == 1 and info.size in (28, 32):
        out[str(folder)] = f"Morpho-MNIST test digits ({folder})"
    return out


@dataclass(frozen=True)
class Estimate:
    """What an evaluation costs: images projected (the defense's and the attackers'), decoder
    passes (images x restarts x steps, and the latent attack's steps) and the seconds they take
    at a measured rate."""

    projections: int
    passes: int
    seconds: float


def projection_rate(model: Any, images: int = 8, restarts: int = 4, seed: int = 0) -> float:
    """Seconds per decoder pass (one image, one restart, one Adam step) of projecting onto
    ``model``'s range, the fastest of three short projections of ``images`` random images with
    ``restarts`` starts each (batched as an evaluation batches them: a small batch costs
    more per pass)."""
    import time

    import torch

    from generators.inverse.defense import Projection, project

    c, s = model.info.channels, model.info.size
    images, restarts = max(1, min(images, 64)), max(1, restarts)
    x = torch.rand(images, c, s, s, generator=torch.Generator().manual_seed(seed))
    project(x, model, Projection(restarts=restarts, steps=1), seed=seed)  # warm-up
    best = float("inf")
    for _ in range(3):  # the fastest of three: other work on the machine only slows a timing down
        t0 = time.perf_counter()
        project(x, model, Projection(restarts=restarts, steps=5), seed=seed)
        best = min(best, time.perf_counter() - t0)
    return best / (images * restarts * 5)


def estimate(settings: DefenseSettings, rate: float) -> Estimate:
    """The projections an evaluation with ``settings`` runs and their time at ``rate``
    (``projection_rate`` with ``min(settings.n, 16)`` images and ``settings.restarts``);
    PGD and the classifier's training add little."""
    s, e = settings, len(settings.eps)
    own = s.n + e * s.n + (e * s.n if s.bpda_steps else 0) + (e * s.n if s.latent_steps else 0) \
        + (min(s.examples, s.n) if s.examples else 0)
    attack = e * s.bpda_steps * s.n
    ap = s.attack_projection
    passes = own * s.restarts * s.steps + attack * ap.restarts * ap.steps
    if s.latent_steps:  # per image and eps: its starts fitted, its steps, its 2 x restarts candidates checked
        candidates = e * s.n * 2 * s.restarts
        attack += e * s.n + candidates
        passes += e * s.n * s.restarts * (s.steps + s.latent_steps) + candidates * ap.restarts * ap.steps
    return Estimate(own + attack, passes, passes * rate)


# ---------------------------------------------------------------------- the background task
def submit(workspace: str | os.PathLike, run: Any, data: str, settings: DefenseSettings, label: str | None = None,
           start: bool = True) -> str:
    """Start a defense evaluation of ``run``'s model (a workspace ``RunRecord``) on ``data``
    (a built-in image dataset's name or a Morpho-MNIST folder) as a background task; its id."""
    from app import tasks

    if not run.has_checkpoint:
        raise ValueError(f"run {run.id} has no checkpoint yet: wait until it has saved one")
    eps = ", ".join(f"{e:g}" for e in settings.eps)
    name = f"{run.name or run.id}: {Path(data).name}, eps {eps}, {settings.n} images"
    return tasks.submit(workspace, KIND, {"run": run.id, "run_name": run.name, "data": data, "label": label},
                        settings, name=name, start=start)


def _run(folder: Path, progress: Any, cancelled: Any) -> dict[str, Any]:
    """The ``defense`` task: load the run's model and the images, ``defend``, then a few
    examples (clean, PGD at the largest eps, that projected) saved as ``examples.png``."""
    import torch

    from app.tasks import Cancelled, read_inputs
    from app.workspace import Workspace
    from generators.inverse.defense import pgd_attack, project

    torch.set_num_threads(1)
    job = read_inputs(folder)
    inp, s = job["inputs"], DefenseSettings.from_dict(job["config"])
    show = min(s.examples, s.n)
    total = 3 + len(s.eps) * (1 + (1 if s.bpda_steps else 0) + (1 if s.latent_steps else 0)) + (1 if show else 0)
    progress(0, total, "loading the model and the images")
    model = Workspace(job["workspace"]).load_model(inp["run"])
    info = model.info
    data = load_labelled(inp["data"], inp.get("label"), s.train_n + s.n, info.size, info.channels, seed=s.seed)
    lines = iter(range(10**9))

    def say(message: str) -> None:  # the stage lines of defend: training, clean, then PGD, BPDA, latent per eps
        k = next(lines)
        progress(k + 1 if k < 2 else k + 2, total, message)

    report, clf = defend(model, data, s, progress=say, cancel=cancelled)
    rec = record(report, clf, data, run=inp["run"], model=inp.get("run_name", ""), data=inp["data"],
                 n_train=s.train_n)
    if show:
        if cancelled():
            raise Cancelled()
        progress(total - 1, total, f"examples: {show} images attacked at eps {max(s.eps):g} and projected")
        i = s.eps.index(max(s.eps))
        x = data.images[s.train_n : s.train_n + show]
        y = clf.index(data.classes[s.train_n : s.train_n + show])
        adv = pgd_attack(clf, x, y, s.eps[i], steps=s.pgd_steps, seed=s.seed + 1 + i)
        back = project(adv, model, s.projection, seed=s.seed + 100 + i)
        _save_strips(folder / "examples.png", [x, adv, back])
        name = lambda t: [clf.classes[j] for j in clf.predict(t).tolist()]
        rec["examples"] = {"eps": s.eps[i], "true": [clf.classes[j] for j in y.tolist()], "clean": name(x),
                           "adversarial": name(adv), "projected": name(back)}
    progress(total, total, "done")
    return rec


def _save_strips(path: Path, rows: list[Tensor]) -> None:
    """Rows of images ``[k, C, H, W]`` as one PNG (a row per list entry, images side by side)."""
    from PIL import Image

    grid = np.concatenate([np.concatenate(list(_uint8(r)), axis=1) for r in rows], axis=0)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


def _uint8(x: Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def example_images(folder: str | os.PathLike, rows: int = 3) -> list[np.ndarray] | None:
    """The example strips a finished task saved (uint8 ``[H, k*W, C]`` each: clean, attacked,
    projected), or None when it saved none."""
    from PIL import Image

    path = Path(folder) / "examples.png"
    if not path.is_file():
        return None
    with Image.open(path) as img:
        arr = np.asarray(img)
    arr = arr[..., None] if arr.ndim == 2 else arr
    h = arr.shape[0] // rows
    return [arr[i * h : (i + 1) * h] for i in range(rows)]


# ---------------------------------------------------------------------- the result, for the page
COLUMNS = ("bare classifier", "projected", "BPDA", "latent attack", "worst case")


def result_frame(rec: dict[str, Any]) -> Any:
    """One row per eps (0: the clean images): accuracy of the bare classifier, behind the
    projection (the PGD images projected: a non-adaptive attack), under BPDA, under the latent
    attack, and the worst case over the attacks on the defense (None where not run; records
    from before the latent attack have no latent or worst-case column values)."""
    import pandas as pd

    clean = rec["clean_projected"]  # eps 0, no attack: the defended classifier on clean images (DefenseReport.table)
    lat, worst = rec.get("latent") or [], rec.get("worst") or []
    rows = [{"eps": 0.0, "bare classifier": rec["clean"], "projected": clean, "BPDA": clean if rec["bpda"] else None,
             "latent attack": clean if lat else None, "worst case": clean if worst else None}]
    at = lambda v, i: v[i] if i < len(v) else None
    for i, e in enumerate(rec["eps"]):
        rows.append({"eps": e, "bare classifier": rec["pgd"][i], "projected": rec["transfer"][i],
                     "BPDA": at(rec["bpda"], i), "latent attack": at(lat, i), "worst case": at(worst, i)})
    return pd.DataFrame(rows, columns=["eps", *COLUMNS])


def result_figure(rec: dict[str, Any]) -> Any:
    """Grouped bars: accuracy per eps, bare, projected, under BPDA, under the latent attack, worst case."""
    import plotly.graph_objects as go

    frame = result_frame(rec)
    x = ["clean" if e == 0 else f"eps {e:g}" for e in frame["eps"]]
    fig = go.Figure([go.Bar(name=col, x=x, y=frame[col]) for col in COLUMNS])
    fig.update_layout(barmode="group", yaxis={"title": "accuracy", "range": [0, 1]}, height=320,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h"})
    return fig


def _register() -> None:
    from app import tasks

    tasks.register(KIND, _run)


_register()
