"""What the Runs page (and the progress shown on the Train and Seeing vs doing pages) says
about runs, without streamlit: progress and time left, tables of runs side by side, and
downloads (a checkpoint as a zip)."""

from __future__ import annotations

import io
import math
import zipfile
from typing import Any, Sequence

import pandas as pd

from app.workspace import RunRecord

__all__ = ["progress_fraction", "time_left", "format_seconds", "runs_frame", "compare_frame", "checkpoint_zip"]


def _total_steps(run: RunRecord) -> int | None:
    from generators import make_config

    try:
        cfg = make_config(run.spec.kind, **run.spec.settings)
    except ValueError:
        return None
    train = getattr(cfg, "train", None)
    return getattr(train, "steps", None) if train is not None and train.schedule == "cosine" else None


def progress_fraction(run: RunRecord) -> float:
    """How far training is: the larger of steps / scheduled steps and epochs / max_epochs."""
    if run.status == "done":
        return 1.0
    p = run.progress
    if p is None:
        return 0.0
    total = _total_steps(run)
    by_steps = p.steps / total if total else 0.0
    return float(min(1.0, max(by_steps, p.fraction)))


def time_left(run: RunRecord) -> float | None:
    """Seconds of training left at the pace so far (``None`` until a few percent are done)."""
    frac = progress_fraction(run)
    if run.progress is None or frac < 0.02 or frac >= 1.0:
        return None
    elapsed = run.progress.elapsed
    return max(0.0, elapsed / frac - elapsed)


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
    frame = pd.DataFrame(table)
    return frame.astype(object).where(frame.notna(), "")


def checkpoint_zip(run: RunRecord) -> bytes:
    """The run's checkpoint folder (weights + JSON, loadable with ``load_model``) as a zip."""
    if not run.has_checkpoint:
        raise ValueError(f"run {run.id} has no checkpoint to download")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(run.checkpoint_dir.iterdir()):
            if path.is_file() and not path.name.endswith(".tmp"):
                z.write(path, f"{run.id}/{path.name}")
    return buf.getvalue()
