"""What the Train and Runs pages show about runs, without streamlit: model settings for a
form, the run spec for the data and graph a session holds, progress and time left, tables
of runs, and downloads (a checkpoint as a zip).

>>> from app.workspace import RunSpec
>>> fields = {f.name: f for f in setting_fields("causal-gen")}
>>> fields["hidden"].default, fields["steps"].group
(64, 'training')
>>> parse_setting("0.5", fields["dropout"])
0.5
"""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from app import data_page as dp
from causal import datasets
from app.workspace import RunRecord, RunSpec, Workspace

__all__ = [
    "SettingField", "setting_fields", "parse_setting", "MAIN_SETTINGS",
    "spec_for_session", "progress_fraction", "time_left", "runs_frame", "compare_frame", "checkpoint_zip",
    "format_seconds",
]

# The settings the Train page shows up front (the rest sit under "All settings"), with help.
MAIN_SETTINGS: dict[str, str] = {
    "hidden": "Units per hidden layer of each node's network.",
    "layers": "Hidden layers per node network (0: linear mechanisms).",
    "steps": "Optimizer steps of the learning-rate schedule (batches of `batch_size` rows).",
    "lr": "Peak learning rate (Adam); the cosine schedule anneals it to 0.",
    "dropout": "Dropout between hidden layers; helps learn hard functional forms (Jiang et al. 2022).",
}


@dataclass(frozen=True)
class SettingField:
    """One setting of a model kind: its name, default, and whether it belongs to the model
    (``"model"``) or to training (``"training"``)."""

    name: str
    default: Any
    group: str

    @property
    def type_name(self) -> str:
        return type(self.default).__name__ if self.default is not None else "text"


def setting_fields(kind: str) -> list[SettingField]:
    """Every setting of ``kind`` (its config dataclass, then its training config)."""
    from generators import make_config

    cfg = make_config(kind)
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "train":
            continue
        if dataclasses.is_dataclass(value):  # a nested group (image training, label mechanisms): dotted names
            out += [SettingField(f"{f.name}.{g.name}", getattr(value, g.name), f.name) for g in dataclasses.fields(value)]
        else:
            out.append(SettingField(f.name, value, "model"))
    if hasattr(cfg, "train"):
        out += [SettingField(f.name, getattr(cfg.train, f.name), "training") for f in dataclasses.fields(cfg.train)]
    return out


def parse_setting(text: str, field: SettingField) -> Any:
    """Text from a form field typed like the setting's default; ``ValueError`` naming the
    setting otherwise."""
    text = str(text).strip()
    d = field.default
    if d is None:
        if text.lower() in ("", "none", "null"):
            return None
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
        return text
    try:
        if isinstance(d, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(d, int):
            return int(text)
        if isinstance(d, float):
            return float(text)
        if isinstance(d, tuple):
            return tuple(int(p) if p.strip().lstrip("-").isdigit() else p.strip() for p in text.strip("()[] ").split(",") if p.strip())
    except ValueError:
        raise ValueError(f"setting '{field.name}' must be {field.type_name} like {d!r}, got {text!r}") from None
    return text


def spec_for_session(
    state: Mapping[str, Any],
    ws: Workspace,
    graph_text: str,
    kind: str,
    settings: Mapping[str, Any],
    seed: int,
    name: str = "",
) -> RunSpec:
    """The run spec for the dataset the Data page holds: a built-in dataset by name (its
    rows drawn again by the worker), an upload stored in the workspace first (once per
    distinct file, so that the run can be repeated after a restart)."""
    ref = state.get(dp.STATE_KEY) or dp.builtin_ref(datasets.list()[0])
    common = dict(graph=graph_text, kind=kind, settings=dict(settings), seed=int(seed), name=name)
    if ref["source"] == "builtin":
        return RunSpec(f"builtin:{ref['name']}", n_rows=int(ref["n"]), data_seed=int(ref["seed"]), **common)
    if ref["source"] == "stored":
        return RunSpec(ref["id"], **common)
    if ref["source"] == "images":
        return RunSpec(f"images:{ref['name']}", n_rows=int(ref["n"]), data_seed=int(ref["seed"]),
                       image_size=int(ref["size"]), **common)
    df, data_name, _ = dp.current_dataset(state)
    stored = ws.add_dataset_once(data_name, df, source=f"upload:{ref['key']}", description=f"uploaded as {data_name}")
    return RunSpec(stored.id, **common)


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
            "rows": rep.get("n_train", 0) + rep.get("n_val", 0) if rep else r.spec.n_rows,
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
            fields = setting_fields(r.spec.kind)
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
