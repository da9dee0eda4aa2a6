"""What the Runs page (and the progress shown on the Train and Seeing vs doing pages) says
about runs, without streamlit: progress and time left, tables of runs side by side, and
downloads (a checkpoint as a zip)."""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, replace
from typing import Any, Sequence

import pandas as pd

from app.workspace import RunRecord

__all__ = ["Stage", "STAGE_NAMES", "training_stage", "stage_histories", "image_plans", "progress_fraction", "time_left",
           "default_run", "format_seconds", "runs_frame", "compare_frame", "checkpoint_zip"]


STAGE_NAMES = ("label mechanisms", "image networks")  # the two stages of an image model's training
IMAGE_STEP_COST = 20.0  # an image network's step costs about this many label steps (CPU, 32 px): a first guess


@dataclass(frozen=True)
class Stage:
    """Where a run's training stands, over all its stages (an image model trains its label
    mechanisms, then its image networks; a table model has one stage). Each stage takes a
    fixed share of the bar (its planned steps, an image step weighted as ``IMAGE_STEP_COST``
    label steps), so the bar never moves back.

    ``fraction`` is of the whole training, ``stage_fraction`` of the current stage
    (``index`` of ``count``, 0 before the first progress). ``seconds_left`` is the time left
    at the pace so far, ``None`` until it can be told; while ``stage_only``, it covers the
    current stage only (the image stage's pace is not known before it starts)."""

    index: int
    count: int
    name: str
    fraction: float
    stage_fraction: float
    seconds_left: float | None
    stage_only: bool = False


def _total_steps(run: RunRecord) -> int | None:
    from generators import make_config

    try:
        cfg = make_config(run.spec.kind, **run.spec.settings)
    except ValueError:
        return None
    train = getattr(cfg, "train", None)
    return getattr(train, "steps", None) if train is not None and train.schedule == "cosine" else None


def image_plans(run: RunRecord, rows: int | None = None) -> tuple[Any, Any] | None:
    """``generators.training.plan`` of an image run's two stages (label mechanisms, image
    networks) on its ``rows`` images (default: the built-in source's, or the report's);
    ``None`` for a table run or when the number of images is not known."""
    if not run.has_images:
        return None
    if rows is None:
        rep = run.report or {}
        rows = getattr(run.spec.source, "rows", None) or (rep.get("n_train", 0) + rep.get("n_val", 0)) or None
    if not rows:
        return None
    from generators import build_model
    from generators.training import plan

    try:
        label_cfg, image_cfg = build_model(run.spec.kind, run.graph, **run.spec.settings).stage_train_configs()
    except (ValueError, TypeError, AttributeError):
        return None
    return plan(int(rows), label_cfg), plan(int(rows), image_cfg)


def stage_of(p: Any, plans: tuple[Any, Any]) -> int:
    """The stage (1: label mechanisms, 2: image networks) a progress row of an image run
    belongs to (``generators.image.base.in_image_phase``)."""
    from generators.image.base import in_image_phase

    return 2 if in_image_phase(p.epoch, p.max_epochs, plans[1].max_epochs) else 1


def training_stage(run: RunRecord, history: Sequence[Any] | None = None, rows: int | None = None) -> Stage:
    """Where ``run``'s training stands (``Stage``). ``history`` (``Workspace.history``)
    dates the end of an image run's label stage, which makes the time left exact for its
    image stage; ``rows``: its number of images when the source does not say."""
    plans = image_plans(run, rows)
    count = 2 if plans is not None else 1
    p = run.progress
    if run.status == "done":
        return Stage(count, count, STAGE_NAMES[1] if count == 2 else "", 1.0, 1.0, 0.0)
    if p is None:
        return Stage(0, count, "", 0.0, 0.0, None)
    if plans is None:
        total = _total_steps(run)
        frac = float(min(1.0, max(p.steps / total if total else 0.0, p.fraction)))
        left = None if frac < 0.02 or frac >= 1.0 else max(0.0, p.elapsed / frac - p.elapsed)
        return Stage(1, 1, "", frac, frac, left)
    label, image = plans
    prior = label.total_steps / (label.total_steps + IMAGE_STEP_COST * image.total_steps)
    if stage_of(p, plans) == 1:
        f1 = min(1.0, p.epoch / max(p.max_epochs - image.max_epochs, 1))
        left = max(0.0, p.elapsed / f1 - p.elapsed) if f1 >= 0.02 else None
        return Stage(1, 2, STAGE_NAMES[0], prior * f1, f1, left, stage_only=True)
    e1 = p.max_epochs - image.max_epochs
    f2 = min(1.0, (p.epoch - e1) / max(image.max_epochs, 1))
    t1 = max((h.elapsed for h in history or () if stage_of(h, plans) == 1), default=0.0)
    t2 = max(0.0, p.elapsed - t1)  # the image stage's own time (its pace says what is left)
    left = t2 / f2 - t2 if f2 >= 0.02 and t2 > 0 else None
    return Stage(2, 2, STAGE_NAMES[1], prior + (1 - prior) * f2, f2, left)


def stage_histories(run: RunRecord, history: Sequence[Any], rows: int | None = None) -> list[tuple[str, list[Any]]]:
    """The run's history by stage: ``[(stage name, rows)]``, one entry for a table run
    (named ""), one per stage reached for an image run, each stage's epochs counted from 1
    (their losses are on different scales: one curve each)."""
    plans = image_plans(run, rows)
    if plans is None:
        return [("", list(history))]
    out: list[tuple[str, list[Any]]] = []
    for stage, name in ((1, STAGE_NAMES[0]), (2, STAGE_NAMES[1])):
        part = [h for h in history if stage_of(h, plans) == stage]
        if part:
            first = part[0].epoch - 1
            out.append((name, [replace(h, epoch=h.epoch - first) for h in part]))
    return out


def progress_fraction(run: RunRecord, rows: int | None = None) -> float:
    """How far training is, over all its stages (``training_stage``)."""
    return training_stage(run, rows=rows).fraction


def time_left(run: RunRecord, history: Sequence[Any] | None = None, rows: int | None = None) -> float | None:
    """Seconds of training left at the pace so far (``None`` until it can be told; for an
    image run still in its label stage, that stage's only: see ``training_stage``)."""
    return training_stage(run, history, rows).seconds_left


def default_run(runs: Sequence[RunRecord], wanted: str | None, picked: str | None = None) -> str:
    """The id of the run a run selector shows: ``wanted`` (the run this session chose or
    trained last) when it is done, or when the user ``picked`` it by hand; else the run
    ``picked`` by hand; else the newest finished run; else the newest run. ``runs`` are
    newest first. A run trained last that was cancelled or failed is not shown first."""
    by_id = {r.id: r for r in runs}
    if wanted in by_id and (by_id[wanted].status == "done" or wanted == picked):
        return wanted  # type: ignore[return-value]
    if picked in by_id:
        return picked  # type: ignore[return-value]
    return next((r.id for r in runs if r.status == "done"), runs[0].id)


def format_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "—"
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


METRIC_COLUMNS = {
    "interventional_mmd2": "MMD² (do)",
    "interventional_mmd2_floor": "MMD² floor",
    "counterfactual_rmse": "CF RMSE",
}


def runs_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: what it trained, how it went and how good it is (built-in data:
    interventional MMD² beside its oracle floor and counterfactual RMSE, against the truth)."""
    rows = []
    for r in runs:
        rep = r.report or {}
        row = {
            "id": r.id, "name": r.name, "status": r.status, "data": r.data_name,
            "rows": rep.get("n_train", 0) + rep.get("n_val", 0) if rep else getattr(r.spec.source, "rows", None),
            "model": r.spec.kind, "graph": r.graph.to_text(), "created": (r.created or "")[:19].replace("T", " "),
            "seconds": round(r.seconds, 1), "epochs": rep.get("epochs"), "val loss": rep.get("best_val_loss"),
        }
        for key, label in METRIC_COLUMNS.items():
            row[label] = r.metrics.get(key)
        row["error"] = r.error or ""
        rows.append(row)
    cols = ["id", "name", "status", "data", "rows", "model", "graph", "created", "seconds", "epochs", "val loss",
            *METRIC_COLUMNS.values(), "error"]
    return pd.DataFrame(rows, columns=cols)


def compare_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """Runs side by side (columns), every setting and metric that any of them has (rows);
    settings left at their default show the default."""
    table: dict[str, dict[str, Any]] = {}
    for r in runs:
        col: dict[str, Any] = {"model": r.spec.kind, "data": r.data_name, "graph": r.graph.to_text(),
                               "training seed": r.spec.seed, "status": r.status, "seconds": round(r.seconds, 1)}
        try:
            from generators import settings_of

            fields = settings_of(r.spec.kind)
        except ValueError:
            fields = []
        for f in fields:
            col[f"{f.group}: {f.name}"] = r.spec.settings.get(f.name, f.default)
        for k, v in (r.report or {}).items():
            if k in ("epochs", "best_epoch", "best_val_loss", "steps", "stopped"):
                col[f"fit: {k}"] = v
        for k, v in r.metrics.items():
            if isinstance(v, (int, float)):
                col[f"metric: {METRIC_COLUMNS.get(k, k)}"] = v
        table[f"{r.name} ({r.id})"] = col
    # one type per column (text): a run's column holds numbers, names and settings, and a
    # column of mixed types cannot go to Arrow (Streamlit would log an ArrowTypeError)
    return pd.DataFrame(table).map(_cell).astype(str)


def _cell(v: Any) -> str:
    """A setting or metric as the comparison shows it: numbers to 4 significant digits,
    nothing for a missing value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (tuple, list)):
        return ", ".join(map(str, v))
    return str(v)


def checkpoint_zip(run: RunRecord) -> bytes:
    """The run's checkpoint folder (weights + JSON, loadable with ``load_model``) as a zip."""
    if not run.has_checkpoint:
        raise ValueError(f"run {run.id} has no checkpoint to download")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(run.checkpoint_dir.iterdir()):
            if path.is_file() and not path.name.endswith(".tmp") and not path.name.startswith("."):  # (locks)
                z.write(path, f"{run.id}/{path.name}")
    return buf.getvalue()


def variety_note(model: Any) -> str | None:
    """For a CausalGAN fitted with ``mode_seeking_gate``, one sentence on what the gate did
    (``model.variety``): the share of checks with the mode-seeking term on and the last
    check's style variety of G against the real images; ``None`` otherwise.

    >>> class M: variety = {"checks": 60, "share_on": 0.25, "generated": 0.081, "real": 0.079}
    >>> variety_note(M())
    'Mode seeking was on at 25% of 60 checks; at the last, images G drew for neighbouring label rows differed by 0.081 per pixel, real ones by 0.079.'
    """
    v = getattr(model, "variety", None)
    if not v or not v.get("checks"):
        return None
    return (f"Mode seeking was on at {v['share_on']:.0%} of {v['checks']} checks; at the last, images G drew for "
            f"neighbouring label rows differed by {v['generated']:.3f} per pixel, real ones by {v['real']:.3f}.")


def mechanism_table(model: Any) -> pd.DataFrame | None:
    """Per node, the mechanism a fitted model chose on held-out rows (``mechanism_choices``:
    network, linear, degree-2 polynomial or counted table; additive or location-scale noise),
    for a tabular model or an image model's label mechanisms; ``None`` for a model without
    such choices."""
    of = getattr(model, "mechanism_choices", None) or getattr(getattr(model, "labels", None), "mechanism_choices", None)
    if of is None:
        return None
    return pd.DataFrame([{"node": n, "mechanism": c} for n, c in of().items()])
