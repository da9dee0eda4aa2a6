"""What the Train page needs, without streamlit: a model kind's settings for a form, typed
from the form's text, and the run spec for the data and graph a session holds.

>>> fields = {f.name: f for f in setting_fields("causal-gen")}
>>> fields["hidden"].default, fields["steps"].group
(64, 'training')
>>> parse_setting("0.5", fields["dropout"])
0.5
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from app.logic import data as dp
from app.workspace import RunSpec, Workspace
from causal import datasets

__all__ = ["SettingField", "setting_fields", "parse_setting", "MAIN_SETTINGS", "spec_for_session"]

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
    ref = state.get(dp.STATE_KEY) or dp.builtin_ref(datasets.names()[0])
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
