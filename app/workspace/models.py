"""The workspace's trained models: a run's model from its checkpoint, and samples exported
with a manifest of their provenance."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any, Mapping

from app.workspace.db import _json_default, _now, _write_atomically
from app.workspace.records import WorkspaceError
from app.workspace.runs import RunStore


class ModelStore(RunStore):
    """The runs' trained models: loading a checkpoint, exporting samples."""

    def load_model(self, run_id: str) -> Any:
        """The run's model, from its checkpoint (the best so far while it is running)."""
        from generators import CheckpointError, load_model

        run = self.run(run_id)
        if not run.has_checkpoint:
            state = {"queued": "it has not started yet", "running": "it has not saved one yet; try again in a moment"}
            why = state.get(run.status, f"it {run.status} before saving one")
            raise WorkspaceError(f"run {run.id} has no checkpoint: {why}")
        for attempt in range(3):
            try:
                return load_model(run.checkpoint_dir)
            except CheckpointError:
                # a running worker may be between writing the weights and their metadata
                if run.status != "running" or attempt == 2:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def export_samples(
        self,
        run_id: str,
        n: int,
        do: Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> Path:
        """Draw ``n`` rows from the run's model (observational, ``do`` and/or ``given``) and
        write them as ``runs/<id>/exports/<time>-<query>.csv`` with a JSON manifest beside
        it (run, spec, query, time, library versions): the export's provenance."""
        run = self.run(run_id)
        model = self.load_model(run.id)
        df = model.sample(n, do=dict(do) if do else None, given=dict(given) if given else None, seed=seed)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        query = "-".join(k for k, v in (("do", do), ("given", given)) if v) or "observational"
        path = run.folder / "exports" / f"{stamp}-{query}.csv"
        _write_atomically(path, lambda tmp: df.to_csv(tmp, index=False))
        manifest = {
            "file": path.name,
            "rows": len(df),
            "columns": list(df.columns),
            "created": _now(),
            "run": {"id": run.id, "name": run.name, "status": run.status, "spec": run.spec.to_dict(),
                    "report": {k: v for k, v in (run.report or {}).items() if k != "history"}},
            "query": {"n": n, "do": dict(do or {}), "given": dict(given or {}), "seed": seed},
            "acceptance_rate": df.attrs.get("acceptance_rate"),
            "versions": _versions(),
        }
        _write_atomically(path.with_suffix(".json"),
                          lambda tmp: tmp.write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n"))
        return path


def _versions() -> dict[str, str]:
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("counterfactory", "torch", "numpy", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].__version__
    return out
