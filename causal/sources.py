"""Where training data come from, as typed values: rows drawn from a built-in SCM, images
drawn from a built-in image SCM, a CSV file, or a folder (or zip) of images with a labels
CSV. Each says what it is, loads its data, knows its own graph and its true SCM where there
is one, and round-trips through JSON, so a run's data are one value instead of a string and
fields that apply to some kinds only. (Datasets stored in a workspace are the app's:
``app.workspace.StoredDataset``.)

>>> src = BuiltinTable("triangle-lin", rows=200, seed=1)
>>> src.describe(), len(src.load()), src.truth is not None
("built-in dataset 'triangle-lin' (200 rows, seed 1)", 200, True)
>>> source_from_dict(src.to_dict()) == src
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import pandas as pd

from causal.graph import CausalGraph

__all__ = ["DataSource", "BuiltinTable", "BuiltinImages", "TableFile", "ImageFolder", "source_from_dict",
           "DEFAULT_ROWS"]

DEFAULT_ROWS = 5000  # rows (or images) drawn from a built-in SCM unless said otherwise


class DataSource:
    """What every data source provides (see the module docstring)."""

    kind: ClassVar[str]
    images: ClassVar[bool] = False  # labelled images (``ImageData``), not a table

    def load(self) -> Any:
        """The data: a DataFrame, or ``ImageData`` for an image source."""
        raise NotImplementedError

    @property
    def graph(self) -> CausalGraph | None:
        """The data's own causal graph (a built-in dataset's true graph), else None."""
        return None

    @property
    def truth(self) -> Any:
        """The true SCM the data were drawn from, else None."""
        return None

    @property
    def intervene_on(self) -> tuple[str, ...]:
        """The nodes the benchmark protocol intervenes on (built-in data), else ()."""
        return ()

    @property
    def name(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}  # type: ignore[call-overload]


class _Builtin(DataSource):
    """A built-in dataset's source: its name, graph, true SCM and protocol come from its
    registry entry (``_info``), looked up when asked for, so that a record naming a dataset
    this version lacks still reads (and says so when used)."""

    dataset: str

    def _info(self) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self.dataset

    @property
    def graph(self) -> CausalGraph:
        return self._info().graph

    @property
    def truth(self) -> Any:
        return self._info().scm

    @property
    def intervene_on(self) -> tuple[str, ...]:
        return self._info().intervene_on


@dataclass(frozen=True)
class BuiltinTable(_Builtin):
    """``rows`` rows drawn with ``seed`` from a built-in SCM (``causal.datasets``)."""

    kind: ClassVar[str] = "builtin"
    dataset: str
    rows: int = DEFAULT_ROWS
    seed: int = 0

    def __post_init__(self) -> None:
        _check_rows(self.rows)

    def _info(self) -> Any:
        from causal import datasets

        return datasets.info(self.dataset)

    def load(self) -> pd.DataFrame:
        from causal import datasets
        from causal.limits import check_draw

        check_draw(self.rows, len(self.graph), "rows", "train on fewer rows")
        return datasets.load(self.dataset, n=self.rows, seed=self.seed).data

    def describe(self) -> str:
        return f"built-in dataset '{self.dataset}' ({self.rows:,} rows, seed {self.seed})"


@dataclass(frozen=True)
class BuiltinImages(_Builtin):
    """``rows`` labelled images of ``size`` pixels drawn with ``seed`` from a built-in image
    SCM (``causal.images``); with ``lossy`` (``dropout:0.9``, ``blur:1+noise:0.1``), seen only
    through that random measurement, a fresh draw per image (``generators.inverse.ambient``):
    the data an AmbientGAN learns from."""

    kind: ClassVar[str] = "builtin-images"
    images: ClassVar[bool] = True
    dataset: str
    rows: int = DEFAULT_ROWS
    seed: int = 0
    size: int = 32
    lossy: str = "none"  # the measurement the images are seen through (none: the clean images)

    def __post_init__(self) -> None:
        _check_rows(self.rows)
        if self.size not in (28, 32, 64):
            raise ValueError(f"images are drawn at 28, 32 or 64 pixels, got {self.size!r}")
        if self.lossy != "none":
            from generators.inverse.ambient import parse_ambient

            object.__setattr__(self, "lossy", parse_ambient(self.lossy).spec)

    def _info(self) -> Any:
        from causal import images

        return images.info(self.dataset)

    def load(self) -> Any:
        from causal import images
        from causal.limits import check_draw

        check_draw(self.rows, len(self.graph), "rows", "train on fewer images")
        data = images.load(self.dataset, n=self.rows, seed=self.seed, size=self.size).data
        if self.lossy == "none":
            return data
        from generators.inverse.ambient import lossy

        return lossy(data, self.lossy, seed=self.seed)

    def describe(self) -> str:
        seen = f", seen through {self.lossy}" if self.lossy != "none" else ""
        return f"image dataset '{self.dataset}' ({self.rows:,} images of {self.size} px, seed {self.seed}{seen})"


@dataclass(frozen=True)
class TableFile(DataSource):
    """A CSV file, one column per node (others may be dropped). ``markers``: text cells read
    as missing (e.g. ``"?"``); ``missing``: ``"error"`` (a missing value in a graph column is
    refused) or ``"drop"`` (the rows with one are left out when the table is checked
    against the graph: ``validate_table``)."""

    kind: ClassVar[str] = "csv"
    path: str
    missing: str = "error"
    markers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.missing not in ("error", "drop"):
            raise ValueError(f"missing must be 'error' or 'drop', got {self.missing!r}")
        object.__setattr__(self, "markers", tuple(str(m) for m in self.markers))  # a JSON list comes back a tuple

    def load(self) -> pd.DataFrame:
        from causal.data import mark_missing, read_table

        table = read_table(self.path)
        return mark_missing(table, self.markers) if self.markers else table

    @property
    def name(self) -> str:
        return Path(self.path).name

    def describe(self) -> str:
        how = []
        if self.markers:
            how.append(", ".join(repr(m) for m in self.markers) + " read as missing")
        if self.missing == "drop":
            how.append("rows with a missing value dropped")
        return str(self.path) + (f" ({'; '.join(how)})" if how else "")


@dataclass(frozen=True)
class ImageFolder(DataSource):
    """A folder or .zip of PNG/JPEG images with a labels CSV naming each image in
    ``image_column`` (``labels``: a path or a file name inside; default its labels.csv),
    resized to ``size`` pixels when given."""

    kind: ClassVar[str] = "image-folder"
    images: ClassVar[bool] = True
    path: str
    labels: str | None = None
    image_column: str = "file"
    size: int | None = None

    def load(self) -> Any:
        from causal import images

        return images.load_image_folder(self.path, labels_csv=self.labels, size=self.size,
                                        image_column=self.image_column)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def describe(self) -> str:
        return f"images from {self.path}"


_KINDS: dict[str, type] = {c.kind: c for c in (BuiltinTable, BuiltinImages, TableFile, ImageFolder)}


def source_from_dict(d: Mapping[str, Any], extra: Mapping[str, type] | None = None) -> Any:
    """The source ``to_dict`` wrote; ``extra`` adds kinds defined elsewhere (the workspace's)."""
    kinds = {**_KINDS, **(extra or {})}
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in kinds:
        raise ValueError(f"unknown data source kind {kind!r}; the kinds are {', '.join(kinds)}")
    cls = kinds[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in known})


def _check_rows(rows: Any) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"the number of rows must be a positive whole number, got {rows!r}")
