"""What the Train page needs, without streamlit: which settings it shows first (a model
kind's settings, typed from a form's text, are ``generators.settings``'s) and the run spec
for the data and graph a session holds."""

from __future__ import annotations

from typing import Any, Mapping

from app.logic import data as dp
from app.workspace import RunSpec, StoredDataset, Workspace
from causal import datasets
from causal.sources import BuiltinImages, BuiltinTable

__all__ = ["MAIN_SETTINGS", "spec_for_session"]

# The settings the Train page shows up front (the rest sit under "All settings"), with help.
MAIN_SETTINGS: dict[str, str] = {
    "hidden": "Units per hidden layer of each node's network.",
    "layers": "Hidden layers per node network (0: linear mechanisms).",
    "steps": "Optimizer steps of the learning-rate schedule (batches of `batch_size` rows).",
    "lr": "Peak learning rate (Adam); the cosine schedule anneals it to 0.",
    "dropout": "Dropout between hidden layers; helps learn hard functional forms (Jiang et al. 2022).",
}


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
        return RunSpec(BuiltinImages(ref["name"], rows=int(ref["n"]), seed=int(ref["seed"]), size=int(ref["size"])),
                       **common)
    df, data_name, _ = dp.current_dataset(state)
    stored = ws.add_dataset_once(data_name, df, source=f"upload:{ref['key']}", description=f"uploaded as {data_name}")
    return RunSpec(StoredDataset(stored.id), **common)
