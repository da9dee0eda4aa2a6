"""The ``debias`` command: cut edges of a trained model, generate a de-biased dataset (or
de-bias real rows counterfactually), with its bias report and a manifest that reproduces it
byte for byte."""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from app.cli.common import (
    RUN_PREFIX,
    UsageError,
    _draw_csv,
    _generators,
    _pairs,
    _partial,
    _read_data,
    _workspace,
    _write_csv,
)

FORMATS = {".csv": "csv", ".parquet": "parquet", ".zip": "zip"}
REPORT_ROWS = 50_000  # rows the report draws at most (the whole output when it is smaller)


def _model_folder(target: str, workspace: str | None) -> tuple[Any, Path, str | None]:
    """The model named by MODEL, the folder of its checkpoint, and its workspace (run:ID)."""
    if target.startswith(RUN_PREFIX):
        ws = _workspace(argparse.Namespace(workspace=workspace))
        run = ws.run(target[len(RUN_PREFIX):])
        model = ws.load_model(run.id)
        print(f"run {run.id} of workspace {ws.root}", file=sys.stderr)
        return model, Path(run.checkpoint_dir), str(ws.root)
    return _generators().load_model(target), Path(target), None


def _format(out: str) -> str:
    fmt = FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise UsageError(f"-o {out}: write .csv or .parquet (tables), or .zip (an image model's images and labels)")
    return fmt


def _write(edited: Any, n: int, seed: int, out: str, fmt: str) -> Any:
    """Draw ``n`` rows (images) from the edited model and write them; returns what was drawn
    when it fits in one call (the report reuses it), else None."""
    from causal.debias import as_table

    images = any(edited.graph.kind(v) == "image" for v in edited.graph.nodes)
    if images != (fmt == "zip"):
        raise UsageError("an image model writes -o FILE.zip (PNGs with labels.csv)" if images
                         else "a .zip output is for image models; write .csv or .parquet")
    if fmt == "csv":
        total = [0]

        def draw(k: int, s: Any) -> Any:
            total[0] += 1
            return edited.sample(k, seed=s)

        _, last = _draw_csv(n, len(edited.graph.nodes), draw, seed, out)
        return last if total[0] == 1 else None
    data = edited.sample(n, seed=seed)
    if fmt == "parquet":
        with _partial(out) as tmp:
            data.to_parquet(tmp, index=False)
        return data
    from causal import images as cimages

    with tempfile.TemporaryDirectory() as d, _partial(out) as tmp:
        folder = cimages.save_image_folder(data, Path(d) / "images")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(folder.iterdir()):
                info = zipfile.ZipInfo(f.name, date_time=(1980, 1, 1, 0, 0, 0))  # no clock in the bytes
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, f.read_bytes())
    return as_table(data)


def _roles(edited: Any, args: argparse.Namespace) -> tuple[str, str]:
    """The sensitive attribute and the target of the report: as given, else the one parent
    and the one child of the cut edges."""
    parents = sorted({c.parent for c in edited.cuts})
    children = sorted({c.child for c in edited.cuts})
    sensitive = args.sensitive or (parents[0] if len(parents) == 1 else None)
    target = args.target or (children[0] if len(children) == 1 else None)
    if sensitive is None or target is None:
        raise UsageError("the cuts leave several " + ("parents" if sensitive is None else "children")
                         + ": name the report's --sensitive attribute and --target")
    return sensitive, target


def cmd_debias(args: argparse.Namespace) -> int:
    from causal import read_table
    from causal.debias import (
        Manifest,
        checkpoint_sha256,
        file_sha256,
        frame_fingerprint,
        library_versions,
    )

    if (args.drop_missing or args.missing_marker) and not args.data:
        raise UsageError("--drop-missing and --missing-marker apply to --data (the report's real rows) only")
    if args.model_dir is None:
        if not args.manifest:
            raise UsageError("give MODEL (a folder written by 'train', or run:ID), or --manifest M.json to reproduce")
        return _reproduce(args)
    if not args.out:
        raise UsageError("-o OUT.csv is required (or .parquet; .zip for an image model)")
    model, folder, workspace = _model_folder(args.model_dir, args.workspace)
    edited = _edited(model, args)
    # the report's real rows, checked before anything is written
    real, gaps = _read_data(args.data, model.graph.nodes, args.drop_missing, args.missing_marker) if args.data \
        else (None, None)
    if args.rows:
        if any(model.graph.kind(v) == "image" for v in model.graph.nodes):
            raise UsageError("--rows de-biases the rows of a table model; for an image model, call "
                             "model.without_edges(...).counterfactual(images, do={}) in Python")
        if not args.out.lower().endswith(".csv"):
            raise UsageError("with --rows the output is a CSV: -o per_row.csv")
        rows = read_table(args.rows)
        cf = edited.counterfactual(rows, do={}, seed=args.seed)
        _write_csv(cf, args.out)
        changed = (cf[list(model.graph.nodes)].astype(str) != rows[list(model.graph.nodes)].astype(str)).any(axis=1)
        print(f"wrote {len(cf):,} rows as they would have been without {', '.join(map(str, edited.cuts))} to "
              f"{args.out} ({int(changed.sum()):,} changed)")
        fmt, n = "csv", len(cf)
        drawn = None
    else:
        if args.rows_n is None:
            raise UsageError("-n ROWS is required: how many de-biased rows to generate")
        fmt, n = _format(args.out), args.rows_n
        drawn = _write(edited, n, args.seed, args.out, fmt)
        print(f"wrote {n:,} de-biased {'images' if fmt == 'zip' else 'rows'} to {args.out} "
              f"(cut: {', '.join(map(str, edited.cuts))})")
    report = None
    if args.report:
        report = _report(model, edited, args, drawn, n, real)
        _write_text(args.report, _json(report.to_dict()))
        print(f"wrote the bias report to {args.report}")
    if args.manifest:
        manifest = Manifest(
            model=args.model_dir if workspace else str(folder.resolve()),
            kind=model.kind, checkpoint_sha256=checkpoint_sha256(folder), graph=model.graph.to_text(),
            cuts=tuple(f"{c.parent} -> {c.child}" for c in edited.cuts),
            references={c.parent: _plain(model.schema[c.parent].categories[c.reference] if model.schema[c.parent].discrete
                                         else c.reference) for c in edited.cuts if c.reference is not None},
            n=n, seed=args.seed, format=fmt, output_sha256=file_sha256(args.out),
            settings=_settings(model),
            source_data={"path": str(Path(args.data).resolve()), **frame_fingerprint(real),
                         **({"missing": gaps.to_dict()} if gaps is not None else {})}
            if real is not None
            else {"schema_sha256": _schema_hash(model)},
            versions=library_versions(), report=report.to_dict() if report else None,
            rows_from={"path": str(Path(args.rows).resolve()), "sha256": file_sha256(args.rows)} if args.rows else None,
            workspace=workspace,
        )
        _write_text(args.manifest, manifest.to_json())
        print(f"wrote the manifest to {args.manifest} (counterfactory debias --manifest {args.manifest} -o AGAIN{Path(args.out).suffix} "
              "reproduces it)")
    return 0


def _edited(model: Any, args: argparse.Namespace) -> Any:
    from causal.debias import expand_cuts, variant_edges

    cuts = expand_cuts(model.graph, list(args.cut or ()), args.target)
    if args.variant:
        if not (args.sensitive and args.target):
            raise UsageError("--variant needs --sensitive A and --target Y")
        cuts += [f"{a} -> {b}" for a, b in variant_edges(model.graph, args.sensitive, args.target, args.variant,
                                                          args.mark or ())]
        cuts = list(dict.fromkeys(cuts))
    if not cuts:
        raise UsageError("nothing to cut: give --cut \"A -> Y\" (repeatable), --cut \"A -> *\" with --target, or --variant")
    refs = _pairs(args.reference, "--reference")
    return model.without_edges(*cuts, references={k: _value(v) for k, v in refs.items()} or None)


def _value(text: str) -> Any:
    from app.cli.common import _number

    v = _number(text)
    return text if v is None else v


def _report(model: Any, edited: Any, args: argparse.Namespace, drawn: Any, n: int, real: Any) -> Any:
    from causal.debias import debias_report

    sensitive, target = _roles(edited, args)
    k = min(n, REPORT_ROWS)
    return debias_report(model, edited, sensitive, target, k, seed=args.seed, real=real, test=real,
                         data=drawn if drawn is not None and len(drawn) == k else None)


def _reproduce(args: argparse.Namespace) -> int:
    from causal.debias import DebiasError, Manifest, checkpoint_sha256, file_sha256

    if args.cut or args.variant or args.reference or args.rows_n is not None:
        raise UsageError("--manifest without MODEL reproduces the manifest's dataset: give only -o (the cuts, size "
                         "and seed are the manifest's)")
    if not args.out:
        raise UsageError("-o FILE is required: where to write the reproduced dataset")
    m = Manifest.read(args.manifest)
    workspace = m.workspace if m.model.startswith(RUN_PREFIX) else None
    folder = (Path(_workspace(argparse.Namespace(workspace=workspace)).run(m.model[len(RUN_PREFIX):]).checkpoint_dir)
              if workspace else Path(m.model))
    digest = checkpoint_sha256(folder)  # before loading: a changed checkpoint is refused whatever it holds
    if digest != m.checkpoint_sha256:
        raise DebiasError(f"the checkpoint in {folder} changed since {args.manifest} was written (sha256 {digest[:12]}… "
                          f"instead of {m.checkpoint_sha256[:12]}…): it cannot reproduce that dataset")
    model, folder, _ = _model_folder(m.model, workspace)
    edited = model.without_edges(*m.cuts, references=m.references or None)
    if m.rows_from:
        from causal import read_table

        path = m.rows_from["path"]
        if file_sha256(path) != m.rows_from["sha256"]:
            raise DebiasError(f"the rows file {path} changed since {args.manifest} was written")
        _write_csv(edited.counterfactual(read_table(path), do={}, seed=m.seed), args.out)
    else:
        if _format(args.out) != m.format:
            raise UsageError(f"the manifest's dataset is {m.format}: write -o FILE.{m.format}")
        _write(edited, m.n, m.seed, args.out, m.format)
    same = m.output_sha256 is not None and file_sha256(args.out) == m.output_sha256
    print(f"wrote {m.n:,} rows to {args.out}: "
          + ("identical to the manifest's (sha256 matches)" if same else "its sha256 differs from the manifest's "
             "(other library versions? see the manifest's versions)"))
    return 0


def _settings(model: Any) -> dict[str, Any]:
    from generators.checkpoint import config_to_dict

    return config_to_dict(model.config)


def _schema_hash(model: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(model.schema.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _json(d: Any) -> str:
    import json

    return json.dumps(d, indent=2, default=str) + "\n"


def _write_text(path: str, text: str) -> None:
    with _partial(path) as tmp:
        Path(tmp).write_text(text)
