"""What the Train page needs, without streamlit: which settings it shows first (a model
kind's settings, typed from a form's text, are ``generators.settings``'s) and the run spec
for the data and graph a session holds."""

from __future__ import annotations

from typing import Any, Mapping

from app.logic import data as dp
from app.workspace import RunSpec, StoredDataset, Workspace
from causal import datasets
from causal.sources import BuiltinImages, BuiltinTable

__all__ = ["MAIN_SETTINGS", "ambient_prefill", "form_settings", "stage_prefixes", "spec_for_session"]

# The settings the Train page shows up front (the rest sit under "All settings"), with help.
MAIN_SETTINGS: dict[str, str] = {
    "hidden": "Units per hidden layer of each node's network.",
    "layers": "Hidden layers per node network (0: linear mechanisms).",
    "steps": "Optimizer steps of the learning-rate schedule (batches of `batch_size` rows).",
    "lr": "Peak learning rate (Adam); the cosine schedule anneals it to 0.",
    "dropout": "Dropout between hidden layers; helps learn hard functional forms (Jiang et al. 2022).",
}


IMAGE_STAGE_HELP = {
    "label": "Optimizer steps of the first stage: the label mechanisms (seconds on a CPU).",
    "image": "Optimizer steps of the second stage: the image networks (most of the training time).",
}


def form_settings(kind: str, images: bool) -> list[tuple[str, str, str]]:
    """The settings the Train form shows up front, as (setting name, label, help). A table
    model's are ``MAIN_SETTINGS``; an image model trains in two stages, each with its own
    settings, so its form names the stage: ``label stage: steps``, ``image stage: steps``
    (whichever setting names the model keeps them under), then the image stage's batch
    size and learning rate."""
    from generators import settings_of

    names = {f.name for f in settings_of(kind)}
    if not images:
        return [(n, n, h) for n, h in MAIN_SETTINGS.items() if n in names]
    label, image = stage_prefixes(kind)
    out = [(f"{label}steps", "label stage: steps", IMAGE_STAGE_HELP["label"]),
           (f"{image}steps", "image stage: steps", IMAGE_STAGE_HELP["image"]),
           (f"{image}batch_size", "image stage: batch_size", "Images per optimizer step of the image stage."),
           (f"{image}lr", "image stage: lr", "Peak learning rate of the image stage.")]
    return [o for o in out if o[0] in names]


def ambient_prefill(state: Mapping[str, Any], kind: str) -> str | None:
    """The measurement the Data page's built-in images are seen through, when ``kind`` can
    train through it (its ``ambient`` setting, AmbientGAN), to fill that setting in; else None."""
    from generators import settings_of

    ref = state.get(dp.STATE_KEY) or {}
    spec = ref.get("lossy", "none") if ref.get("source") == "images" else "none"
    if spec == "none" or "ambient" not in {f.name for f in settings_of(kind)}:
        return None
    return spec


def stage_prefixes(kind: str) -> tuple[str, str]:
    """Where an image model keeps each stage's training settings, as setting-name prefixes
    (``generators.settings``: ``""`` for the top-level ``steps``, ``lr`` ..., else a group
    such as ``"image_train."`` or ``"labels."``): (label stage, image stage)."""
    from causal.graph import CausalGraph
    from generators import build_model

    model = build_model(kind, CausalGraph(["a", "image"], [("a", "image")], {"a": "binary", "image": "image"}))
    label_cfg, image_cfg = model.stage_train_configs()
    top = model.config.train

    def prefix(cfg: Any, groups: tuple[str, ...]) -> str:
        if cfg is top:
            return ""
        return next((f"{g}." for g in groups if hasattr(model.config, g)), "")

    return prefix(label_cfg, ("labels",)), prefix(image_cfg, ("image_train",))


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
        return RunSpec(BuiltinTable(ref["name"], rows=int(ref["n"]), seed=int(ref["seed"])), **common)
    if ref["source"] == "stored":
        return RunSpec(StoredDataset(ref["id"]), **common)
    if ref["source"] == "images":
        return RunSpec(BuiltinImages(ref["name"], rows=int(ref["n"]), seed=int(ref["seed"]), size=int(ref["size"]),
                                     lossy=ref.get("lossy", "none")), **common)
    df, data_name, _ = dp.current_dataset(state)
    note = (ref.get("cleaning") or {}).get("note")
    stored = ws.add_dataset_once(data_name, df, source=f"upload:{ref['key']}",
                                 description=f"uploaded as {data_name}" + (f"; {note}" if note else ""))
    return RunSpec(StoredDataset(stored.id), **common)
