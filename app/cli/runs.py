"""The ``runs`` command: the workspace's training runs (the ones the app shows): list, show,
cancel, delete, and rebuild the registry from the run folders when its database is damaged."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import EXIT_ERROR, PROG, UsageError, _workspace
from causal.sources import BuiltinTable


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _run_line(r: Any) -> str:
    metric = r.metrics.get("counterfactual_rmse")
    extra = f"  cf-rmse {metric:.4f}" if isinstance(metric, (int, float)) else ""
    if r.status == "running" and r.progress is not None:
        extra = f"  {r.progress.fraction:.0%} (epoch {r.progress.epoch}/{r.progress.max_epochs})"
    return f"{r.id}  {r.status:<9}  {_when(r.created)}  {r.seconds:7.1f}s  {r.name}{extra}"


def cmd_runs(args: argparse.Namespace) -> int:
    action = args.action
    if action == "rebuild":  # before opening it: its database may be damaged
        from app.workspace import default_root, rebuild

        if args.run_id is not None:
            raise UsageError("'runs rebuild' takes no run id: it registers every run folder of the workspace")
        root = args.workspace if args.workspace is not None else default_root()
        report = rebuild(root)
        print(f"rebuilt the registry of workspace {root}: {report}")
        return 0
    ws = _workspace(args)
    if action == "list":
        if args.run_id is not None:
            raise UsageError("'runs list' takes no run id; use 'runs show ID'")
        runs = ws.runs(args.status)
        if not runs:
            print(f"no runs in workspace {ws.root}" + (f" with status {args.status}" if args.status else ""))
            return 0
        print(f"{len(runs)} run(s) in workspace {ws.root}:")
        for r in runs:
            print(_run_line(r))
        return 0
    if args.run_id is None:
        raise UsageError(f"'runs {action}' needs a run id ('{PROG} runs' lists them)")
    if action == "show":
        r = ws.run(args.run_id)
        print(f"run {r.id}: {r.name}")
        print(f"status: {r.status}" + (f" ({r.error})" if r.error else ""))
        drawn = r.spec.source
        print(f"data: {r.data_name}"
              + (f" ({drawn.rows:,} rows, seed {drawn.seed})" if isinstance(drawn, BuiltinTable) else ""))
        print(f"graph: {r.graph.to_text()}")
        print(f"model: {r.spec.kind}, training seed {r.spec.seed}")
        for k, v in sorted(r.spec.settings.items()):
            print(f"  {k}={v!r}")
        print(f"created {_when(r.created)}, started {_when(r.started)}, finished {_when(r.finished)} ({r.seconds:.1f} s)")
        if r.progress is not None:
            p = r.progress
            print(f"progress: epoch {p.epoch}/{p.max_epochs}, {p.steps} steps, validation loss {p.val_loss:.4g} "
                  f"(best {p.best_val_loss:.4g})")
        for k, v in r.metrics.items():
            print(f"metric {k}: {v:.4g}" if isinstance(v, float) else f"metric {k}: {v}")
        print(f"checkpoint: {r.checkpoint_dir}" + ("" if r.has_checkpoint else " (none yet)"))
        print(f"workspace: {ws.root}")
        return 0
    if action == "cancel":
        r = ws.request_cancel(args.run_id)
        print(f"run {r.id}: " + ("cancelled" if r.status == "cancelled" else "asked to stop; it keeps its best weights"))
        return 0
    if action == "delete":
        r = ws.run(args.run_id)
        left = ws.delete_run(r.id)
        if left is None:
            print(f"deleted run {r.id} ({r.name}) and its files")
            return 0
        print(f"deleted run {r.id} ({r.name}) from the registry, but some of its files could not be removed: "
              f"they are in {left}; delete that folder by hand", file=sys.stderr)
        return EXIT_ERROR
    raise UsageError(f"unknown runs action '{action}'")  # argparse's choices make this unreachable
