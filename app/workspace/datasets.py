"""The workspace's stored datasets: adding a table or an image dataset (once per source),
finding, listing, loading and deleting them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

from app.workspace.db import Database, _json, _json_default, _new_id, _now, _write_atomically
from app.workspace.records import DatasetRecord, WorkspaceError


def _save_images(data: Any, path: Path) -> None:
    """An ``ImageData``'s uint8 images as safetensors (tensor ``images``), the labels' index
    and the image node's name as metadata (never pickle)."""
    import numpy as np
    from safetensors.numpy import save_file

    index = [_json_default(v) if not isinstance(v, (str, int, float)) else v for v in data.labels.index]
    meta = {"index": json.dumps(index), "index_name": str(data.labels.index.name or ""), "image_node": data.image_node}
    save_file({"images": np.ascontiguousarray(data.images, dtype=np.uint8)}, str(path), metadata=meta)


class DatasetStore(Database):
    """The workspace's datasets: tables (``datasets/<id>.csv``) and image datasets (their
    labels as CSV, their images as safetensors beside it)."""

    def add_dataset(self, name: str, data: pd.DataFrame, source: str, description: str = "") -> DatasetRecord:
        """Store a table (as ``datasets/<id>.csv``, written atomically) and register it."""
        return self._add(name, data, source, description, None)

    def add_image_dataset(self, name: str, data: Any, source: str, description: str = "") -> DatasetRecord:
        """Store an image dataset (a ``causal.images.ImageData``): its labels as
        ``datasets/<id>.csv`` and its images, uint8, as ``datasets/<id>.images.safetensors``
        (with the labels' index, e.g. the file names), each written atomically and
        registered only once both are in place. Runs train image models on it
        (``RunSpec(StoredDataset(<id>), graph=... -> image)``); ``load_images`` reads it back."""
        from causal.images import ImageData

        if not isinstance(data, ImageData):
            raise WorkspaceError(f"an image dataset must be a causal.images.ImageData, got {type(data).__name__}")
        return self._add(name, data.labels, source, description, data)

    def _add(self, name: str, data: pd.DataFrame, source: str, description: str, images: Any) -> DatasetRecord:
        if not isinstance(data, pd.DataFrame):
            raise WorkspaceError(f"a dataset must be a pandas DataFrame, got {type(data).__name__}")
        name = str(name).strip()
        if not name:
            raise WorkspaceError("a dataset needs a name")
        columns = [str(c) for c in data.columns]
        dup = sorted({c for c in columns if columns.count(c) > 1})
        if dup:
            raise WorkspaceError(f"dataset '{name}' has duplicate column(s) {', '.join(dup)}; rename them first")
        if not columns or len(data) == 0:
            raise WorkspaceError(f"dataset '{name}' is empty ({len(data)} rows, {len(columns)} columns)")
        self._require_writable()
        ds_id = _new_id()
        path = self.root / "datasets" / f"{ds_id}.csv"
        image_path = path.with_name(f"{ds_id}.images.safetensors")
        shape = None
        try:
            if images is not None:
                shape = [images.height, images.width, images.channels]
                _write_atomically(image_path, lambda tmp: _save_images(images, tmp))
            _write_atomically(path, lambda tmp: data.set_axis(columns, axis=1).to_csv(tmp, index=False))
            record = {"id": ds_id, "name": name, "source": str(source), "description": str(description),
                      "rows": len(data), "columns": columns, "created": _now(),
                      "images": None if shape is None else {"shape": shape, "image_node": images.image_node}}
            # its record beside it, so that the folder alone can rebuild the registry (app.workspace.rebuild)
            _write_atomically(path.with_suffix(".json"), lambda tmp: tmp.write_text(_json(record) + "\n"))
            with self._write() as c:
                c.execute(
                    "INSERT INTO datasets (id, name, source, description, rows, columns, created, images) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (ds_id, name, record["source"], record["description"], len(data), _json(columns), record["created"],
                     None if shape is None else _json(record["images"])),
                )
        except BaseException:
            path.unlink(missing_ok=True)
            image_path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            raise
        return self.dataset(ds_id)

    def add_dataset_once(self, name: str, data: pd.DataFrame, source: str, description: str = "") -> DatasetRecord:
        """``add_dataset``, unless a dataset from the same ``source`` (e.g. an upload's
        content hash) is stored already: then that one."""
        with self._read() as c:
            row = c.execute("SELECT * FROM datasets WHERE source = ? ORDER BY seq DESC LIMIT 1", (str(source),)).fetchone()
        if row is not None:
            return self._dataset_record(row)
        return self.add_dataset(name, data, source, description)

    def add_image_dataset_once(self, name: str, data: Any, source: str, description: str = "") -> DatasetRecord:
        """``add_image_dataset``, unless an image dataset from the same ``source`` (e.g. an
        upload's content hash and reading options) is stored already: then that one."""
        found = self.find_dataset(source, images=True)
        return found if found is not None else self.add_image_dataset(name, data, source, description)

    def find_dataset(self, source: str, images: bool | None = None) -> DatasetRecord | None:
        """The newest dataset stored from ``source`` (``images``: only image datasets, True,
        or only tables, False), or None."""
        where = "" if images is None else " AND images IS NOT NULL" if images else " AND images IS NULL"
        with self._read() as c:
            row = c.execute(f"SELECT * FROM datasets WHERE source = ?{where} ORDER BY seq DESC LIMIT 1",
                            (str(source),)).fetchone()
        return None if row is None else self._dataset_record(row)

    def _dataset_record(self, row: sqlite3.Row) -> DatasetRecord:
        images = json.loads(row["images"]) if row["images"] else None
        return DatasetRecord(row["id"], row["name"], row["source"], row["description"], row["rows"],
                             tuple(json.loads(row["columns"])), row["created"], self.root / "datasets" / f"{row['id']}.csv",
                             image_shape=tuple(images["shape"]) if images else None)

    def datasets(self) -> list[DatasetRecord]:
        """Every stored dataset, newest first."""
        with self._read() as c:
            return [self._dataset_record(r) for r in c.execute("SELECT * FROM datasets ORDER BY seq DESC")]

    def dataset(self, dataset_id: str) -> DatasetRecord:
        with self._read() as c:
            row = c.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no dataset '{dataset_id}' in workspace {self.root}")
        return self._dataset_record(row)

    def load_dataset(self, dataset_id: str) -> pd.DataFrame:
        """The stored table, as it was added (column names as text)."""
        record = self.dataset(dataset_id)
        try:
            return pd.read_csv(record.path)
        except FileNotFoundError:
            raise WorkspaceError(f"the file of dataset '{record.name}' ({dataset_id}) is missing: {record.path}") from None

    def load_images(self, dataset_id: str) -> Any:
        """A stored image dataset as ``causal.images.ImageData``: the labels as
        ``load_dataset`` gives them, indexed as they were added (e.g. by file name), and
        the uint8 images. ``WorkspaceError`` for a table, or a missing or damaged file."""
        from safetensors import SafetensorError, safe_open

        from causal.images import IMAGE_NODE, ImageData

        record = self.dataset(dataset_id)
        if not record.has_images:
            raise WorkspaceError(f"dataset '{record.name}' ({dataset_id}) is a table without images")
        labels = self.load_dataset(dataset_id)
        try:
            with safe_open(str(record.images_path), framework="numpy") as f:
                meta = f.metadata() or {}
                images = f.get_tensor("images")
        except FileNotFoundError:
            raise WorkspaceError(f"the images of dataset '{record.name}' ({dataset_id}) are missing: "
                                 f"{record.images_path}") from None
        except (SafetensorError, OSError, KeyError) as e:
            raise WorkspaceError(f"the images of dataset '{record.name}' ({dataset_id}) cannot be read from "
                                 f"{record.images_path}: {e}") from None
        if images.dtype != "uint8" or images.ndim != 4 or len(images) != len(labels):
            raise WorkspaceError(f"the images of dataset '{record.name}' ({dataset_id}) in {record.images_path} do not "
                                 f"match its {len(labels)} label rows (shape {images.shape}, {images.dtype})")
        index = json.loads(meta.get("index", "null"))
        if isinstance(index, list) and len(index) == len(labels):
            labels.index = pd.Index(index, name=meta.get("index_name") or None)
        return ImageData(labels, images, image_node=meta.get("image_node", IMAGE_NODE))

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a stored dataset; refused while any run (of any status) uses it."""
        with self._write() as c:
            row = c.execute("SELECT name FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"no dataset '{dataset_id}' in workspace {self.root}")
            users = [r[0] for r in c.execute("SELECT id FROM runs WHERE dataset_id = ? ORDER BY seq", (dataset_id,))]
            if users:
                shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                raise WorkspaceError(
                    f"dataset '{row[0]}' ({dataset_id}) is used by {len(users)} run(s) ({shown}); delete those runs first"
                )
            c.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        (self.root / "datasets" / f"{dataset_id}.csv").unlink(missing_ok=True)
        (self.root / "datasets" / f"{dataset_id}.json").unlink(missing_ok=True)
        (self.root / "datasets" / f"{dataset_id}.images.safetensors").unlink(missing_ok=True)
