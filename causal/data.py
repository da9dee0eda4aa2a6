"""Tables for a graph: column kinds, categories and scales (Schema), and CSV validation."""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal import limits
from causal.limits import MAX_MAGNITUDE, check_file

MIN_ROWS = 20
MAX_CATEGORIES = 50  # a text column with more distinct values than this is refused


class DataError(ValueError):
    """A table does not fit its graph; the message names the column or file at fault."""


@dataclass(frozen=True)
class Column:
    """How one node's values look: kind, categories (discrete) and scale (continuous).

    ``integer``: a continuous column whose every value in the data is a whole number (a count,
    an age in years); the model works on it as a number, and the values it generates are
    rounded to whole numbers, and where the data have no negative value (a count) never
    drawn below zero, so synthetic rows look like the data's."""

    name: str
    kind: str  # "continuous" | "binary" | "categorical"
    categories: tuple[Any, ...] = ()
    mean: float = 0.0
    std: float = 1.0
    min: float = float("nan")
    max: float = float("nan")
    integer: bool = False

    @property
    def discrete(self) -> bool:
        return self.kind in ("binary", "categorical")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": [_jsonable(c) for c in self.categories],
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "integer": self.integer,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Column":
        return cls(
            name=d["name"],
            kind=d["kind"],
            categories=tuple(d.get("categories", ())),
            mean=float(d.get("mean", 0.0)),
            std=float(d.get("std", 1.0)),
            min=float(d.get("min", float("nan"))),
            max=float(d.get("max", float("nan"))),
            integer=bool(d.get("integer", False)),  # absent from checkpoints written before it existed
        )

    def code(self, value: Any) -> int:
        """Index of a category value; a clear error for a value the column never had."""
        for i, c in enumerate(self.categories):
            if value == c or str(value) == str(c):
                return i
        values = ", ".join(map(str, self.categories))
        raise DataError(f"'{self.name}' has no value {shown(value)}; its values are {values}")


@dataclass(frozen=True)
class Schema:
    """Columns in the graph's canonical order. Values inside the library are *codes*:
    floats for continuous columns, integer category indices for discrete ones."""

    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __getitem__(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise DataError(f"unknown column '{name}'; the columns are {', '.join(self.names)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def encode(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """DataFrame -> codes (float64 for continuous, int64 for discrete)."""
        out: dict[str, np.ndarray] = {}
        for c in self.columns:
            if c.name not in df.columns:
                raise DataError(f"column '{c.name}' is missing")
            col = df[c.name]
            if c.discrete:
                fast = _numeric_codes(col, c.categories)
                if fast is not None:
                    out[c.name] = fast
                    continue
                values = col.to_numpy().astype(object)
                codes = pd.Index(list(c.categories), dtype=object).get_indexer(values).astype(np.int64)
                for j in np.flatnonzero(codes < 0):  # e.g. "1" for category 1; or an unknown value
                    codes[j] = c.code(values[j])  # matches it, or raises with the allowed values
                out[c.name] = codes
            else:
                out[c.name] = _finite_numbers(c.name, col)
        return out

    def decode(self, values: Mapping[str, np.ndarray], index: Any = None, exact: Any = ()) -> pd.DataFrame:
        """Codes -> DataFrame with the original category values (``decode_arrays``)."""
        return pd.DataFrame(self.decode_arrays(values, exact=exact), index=index)

    def decode_arrays(self, values: Mapping[str, np.ndarray], names: Any = None, exact: Any = ()) -> dict[str, np.ndarray]:
        """Codes -> one array of original values per column (of ``names`` only, if given).
        An integer column's values are rounded to whole numbers (int64), and kept at zero or
        above where the data are, except in the columns named in ``exact`` (an intervened node
        keeps the value it was set to)."""
        data = {}
        for c in self.columns:
            if names is not None and c.name not in names:
                continue
            v = np.asarray(values[c.name])
            if c.discrete:
                cats = np.asarray(c.categories, dtype=object if _has_text(c.categories) else None)
                data[c.name] = cats[v.astype(np.int64)]
            elif c.integer and c.name not in exact and np.isfinite(v).all():
                # a count (no negative value in the data) is never drawn negative
                data[c.name] = np.rint(v if c.min < 0 else np.maximum(v, 0.0)).astype(np.int64)
            else:
                data[c.name] = v.astype(np.float64)
        return data

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Schema":
        return cls(tuple(Column.from_dict(c) for c in d["columns"]))


def _numeric_codes(col: pd.Series, categories: Sequence[Any]) -> np.ndarray | None:
    """Category indices of a numeric column whose categories are all numbers, by a sorted
    search (a hash lookup of each value as a Python object costs ~100x more on a query's
    2,500 rows); None when any value is not exactly a category (the slow path explains)."""
    values = col.to_numpy()
    if values.dtype.kind not in "biuf" or not categories or not all(
        isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool) for c in categories
    ):
        return None
    cats = np.asarray(categories, dtype=np.float64)
    order = np.argsort(cats, kind="stable")
    pos = np.searchsorted(cats[order], values).clip(0, len(cats) - 1)
    if not np.array_equal(cats[order][pos], values):
        return None
    return order[pos].astype(np.int64)


def _finite_numbers(name: str, col: pd.Series) -> np.ndarray:
    """A continuous column's values as float64; ``DataError`` naming the column, the row and
    the value when one is text or not finite (an inf would make every answer NaN)."""
    try:
        x = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        num = pd.to_numeric(col, errors="coerce")
        bad = col[num.isna()]
        raise DataError(f"column '{name}' should be numeric but row {bad.index[0]} holds {shown(bad.iloc[0])}") from None
    finite = np.isfinite(x)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise DataError(f"column '{name}' holds {shown(x[i])} at row {col.index[i]}; values must be finite numbers")
    return x


def shown(value: Any) -> str:
    """A value as a message shows it: numpy scalars as the plain numbers they hold (``3.0``,
    not ``np.float64(3.0)``), text quoted."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _has_text(cats: Sequence[Any]) -> bool:
    return any(isinstance(c, str) for c in cats)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer, np.bool_)):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def infer_kind(col: pd.Series) -> str:
    """continuous, binary or categorical, from a column's values."""
    values = col.dropna()
    uniq = pd.unique(values)
    if len(uniq) == 2:
        return "binary"
    if pd.api.types.is_bool_dtype(col):
        return "binary"
    if pd.api.types.is_numeric_dtype(col):
        return "continuous"
    return "categorical"


def schema_from_frame(df: pd.DataFrame, graph: CausalGraph) -> Schema:
    """A schema for ``graph`` from a validated table: declared kinds win, others inferred."""
    cols = []
    for n in graph.nodes:
        kind = graph.kind(n) or infer_kind(df[n])
        if kind == "image":
            raise DataError(f"'{n}' is an image node; tables hold only label columns")
        if kind in ("binary", "categorical"):
            cats = sorted(pd.unique(df[n].dropna()), key=lambda v: (isinstance(v, str), v))
            cats = tuple(_jsonable(c) for c in cats)
            if kind == "binary" and len(cats) > 2:
                raise DataError(f"'{n}' is declared binary but has {len(cats)} values: {', '.join(map(str, cats[:6]))}")
            cols.append(Column(n, kind, cats))
        else:
            x = df[n].to_numpy(dtype=np.float64)
            mean, std = mean_std(x)
            whole = bool(not pd.api.types.is_bool_dtype(df[n]) and np.all(x == np.rint(x)) and np.abs(x).max() < 2.0**53)
            cols.append(Column(n, "continuous", (), mean, std if std > 0 else 1.0, float(x.min()), float(x.max()), whole))
    return Schema(tuple(cols))


def mean_std(x: np.ndarray) -> tuple[float, float]:
    """The mean and standard deviation of finite values ``x``, as numpy computes them; where
    that overflows (squares of values beyond about 1e154 are inf), computed on ``x`` divided
    by its largest magnitude and scaled back, which cannot overflow. Ordinary data get
    numpy's numbers bit for bit.

    >>> mean_std(np.array([1.0, 3.0]))
    (2.0, 1.0)
    >>> mean_std(np.array([1e200, 3e200]))  # numpy's x.std() overflows to inf here
    (2e+200, 1.0000000000000001e+200)
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(x.mean()), float(x.std())
    if np.isfinite(mean) and np.isfinite(std):
        return mean, std
    scale = float(np.abs(x).max())
    y = x / scale
    return float(y.mean()) * scale, float(y.std()) * scale


# ---------------------------------------------------------------------- missing values
MISSING_MARKERS = ("?",)  # read as missing when asked: UCI tables (Adult) write an unknown value as "?"
MARKER_LIKE = frozenset({"?", "-", "--", ".", "na", "n/a", "nan", "null", "none", "missing", "unknown", "#n/a"})  # lower case: text that often marks a gap (errors hint at it; the Data page lists it)


def mark_missing(df: pd.DataFrame, markers: Sequence[str] = MISSING_MARKERS) -> pd.DataFrame:
    """The table with every text cell that holds only a marker (spaces around it aside, so
    `` ?`` too) made missing; a text column left holding only numbers becomes numeric (an
    age column written ``39, ?, 50`` is a column of numbers with a gap). Numbers are never
    markers. The table itself is not changed.

    >>> t = pd.DataFrame({"age": ["39", " ?", "50"], "job": ["clerk", "?", "nurse"]})
    >>> m = mark_missing(t)
    >>> m["age"].tolist(), m["job"].isna().tolist()
    ([39.0, nan, 50.0], [False, True, False])
    """
    wanted = {str(m).strip() for m in markers if str(m).strip()}
    out = df.copy()
    if not wanted:
        return out
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        text = col.astype("string").str.strip()
        hit = text.isin(wanted).fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            continue
        col = col.mask(hit)
        num = pd.to_numeric(col, errors="coerce")
        if num.notna().sum() == col.notna().sum() and col.notna().any():
            col = num
        out[c] = col
    return out


@dataclass(frozen=True)
class MissingRows:
    """What ``drop_missing`` did: the rows before and after, and per column the cells that
    were missing (only columns with some)."""

    rows_before: int
    rows_after: int
    per_column: dict[str, int]
    markers: tuple[str, ...] = ()

    @property
    def dropped(self) -> int:
        return self.rows_before - self.rows_after

    def describe(self) -> str:
        """One sentence for a user: how many rows went and why.

        >>> MissingRows(100, 90, {"age": 6, "job": 7}).describe()
        'dropped 10 of 100 rows (10.0%) with a missing value (age 6, job 7); 90 rows kept'
        """
        if not self.dropped:
            return f"no row has a missing value; all {self.rows_before:,} rows kept"
        cols = ", ".join(f"{c} {n:,}" for c, n in self.per_column.items())
        share = 100 * self.dropped / max(self.rows_before, 1)
        return (f"dropped {self.dropped:,} of {self.rows_before:,} rows ({share:.1f}%) with a missing value "
                f"({cols}); {self.rows_after:,} rows kept")

    def to_dict(self) -> dict[str, Any]:
        return {"rows_before": self.rows_before, "rows_after": self.rows_after, "dropped": self.dropped,
                "per_column": dict(self.per_column), "markers": list(self.markers)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MissingRows":
        return cls(int(d["rows_before"]), int(d["rows_after"]), dict(d["per_column"]), tuple(d.get("markers", ())))


def drop_missing(
    df: pd.DataFrame, columns: Sequence[str] | None = None, markers: Sequence[str] = (),
) -> tuple[pd.DataFrame, MissingRows]:
    """The rows of ``df`` with no missing value in ``columns`` (default: every column), after
    ``mark_missing(df, markers)``; the index is renumbered from 0. Returns (table, what was
    dropped). Rows are dropped, never filled: a filled value would be a guess the model then
    learns as data. Dropping is unbiased only when values are missing completely at random;
    the report says how many rows went so that a user can judge that.

    >>> t = pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", "?"], "c": [None, 1, 2]})
    >>> kept, what = drop_missing(t, columns=["a", "b"], markers=["?"])
    >>> kept["a"].tolist(), what.dropped, what.per_column
    ([1.0], 2, {'a': 1, 'b': 1})
    """
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1)
    use = cols if columns is None else [str(c) for c in columns]
    unknown = [c for c in use if c not in cols]
    if unknown:
        raise DataError(f"no column named {', '.join(repr(c) for c in unknown)}; the columns are {', '.join(cols)}")
    marked = mark_missing(df, markers)
    gaps = marked[use].isna()
    per_column = {c: int(n) for c, n in gaps.sum().items() if n}
    kept = marked.loc[~gaps.any(axis=1).to_numpy()].reset_index(drop=True)
    return kept, MissingRows(len(df), len(kept), per_column, tuple(str(m) for m in markers))


def validate_table(
    df: pd.DataFrame,
    graph: CausalGraph,
    *,
    extra: str = "error",
    min_rows: int = MIN_ROWS,
    source: str = "the table",
    missing: str = "error",
    markers: Sequence[str] = (),
) -> pd.DataFrame:
    """Check a table against a graph and return it with columns in canonical order.

    Raises ``DataError`` naming the problem: missing or extra columns (``extra="drop"``
    drops them instead), missing values (``missing="drop"`` drops the rows with one in a
    graph column instead and records ``MissingRows.to_dict()`` in the result's
    ``attrs["missing_rows"]``; ``markers``: text read as missing, e.g. ``"?"``), text in a
    numeric column, constant columns, too many categories, too few rows.
    """
    if missing not in ("error", "drop"):
        raise ValueError(f"missing must be 'error' or 'drop', got {missing!r}")
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source} must be a pandas DataFrame, got {type(df).__name__}")
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1)
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise DataError(f"{source} has duplicate column(s): {', '.join(dup)}")
    absent = [n for n in graph.nodes if n not in cols and graph.kind(n) != "image"]
    if absent:
        spaced = [c for c in cols if " " in c and any(w in absent for w in c.split())]
        hint = ("; a name with spaces must be in double quotes in graph text, e.g. "
                + ", ".join(f'"{c}"' for c in spaced[:3])) if spaced else ""
        raise DataError(
            f"{source} has no column for node(s) {', '.join(absent)}; its columns are {', '.join(cols) or '(none)'}{hint}"
        )
    extras = [c for c in cols if c not in graph]
    if extras and extra == "error":
        raise DataError(
            f"{source} has column(s) not in the graph: {', '.join(extras)}; add them to the graph or drop them"
        )
    nodes = [n for n in graph.nodes if graph.kind(n) != "image"]
    df = mark_missing(df[nodes], markers)  # a copy, also without markers
    if missing == "drop":
        df, what = drop_missing(df)
        if what.dropped and len(df) < min_rows:
            raise DataError(f"{source}: {what.describe()}; at least {min_rows} rows are needed to train")
        df.attrs["missing_rows"] = what.to_dict()  # what was left out, for whoever reports it
    if len(df) < min_rows:
        raise DataError(f"{source} has {len(df)} rows; at least {min_rows} are needed to train")
    for n in nodes:
        col = df[n]
        nan = int(col.isna().sum())
        if nan:
            first = col.index[col.isna()][0]
            raise DataError(f"column '{n}' has {nan} missing value(s) (first at row {first}); fill them, or drop "
                            "the rows that have one (train --drop-missing; missing='drop' in Python)")
        kind = graph.kind(n)
        if kind == "continuous" or (kind is None and not _looks_discrete_text(col)):
            df[n] = _as_numeric(n, col)
        nuniq = df[n].nunique()
        if nuniq < 2:
            raise DataError(f"column '{n}' is constant ({shown(df[n].iloc[0])}); a constant cannot be modeled as a cause or effect")
        if kind in (None, "categorical") and not pd.api.types.is_numeric_dtype(df[n]) and nuniq > MAX_CATEGORIES:
            raise DataError(f"column '{n}' has {nuniq} distinct text values; at most {MAX_CATEGORIES} categories are "
                            f"supported{text_column_hint(df[n])}")
    return df


def text_column_hint(col: pd.Series) -> str:
    """What a text column with too many values to be categories probably is, as the end of
    a message: an identifier (every value differs), or dates; else ``""``.

    >>> text_column_hint(pd.Series(["2024-01-0%d" % d for d in range(1, 10)]))
    '; its values look like dates: turn them into a number (days since the first, say) or leave the column out'
    >>> text_column_hint(pd.Series(["id%d" % i for i in range(9)]))
    '; every value differs (an identifier?): leave the column out'
    """
    values = col.dropna().astype(str)
    if not len(values):
        return ""
    head = values.head(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' note that it guessed the format
        dates = pd.to_datetime(head, errors="coerce", format="mixed")
    # dates as tables write them: digits joined by - / . or : (not a word pandas happens to parse)
    if dates.notna().mean() > 0.9 and head.str.contains(r"\d[-/.:]\d|\d[-/.]\w+[-/.]\d", regex=True).mean() > 0.9:
        return "; its values look like dates: turn them into a number (days since the first, say) or leave the column out"
    if values.nunique() == len(values):
        return "; every value differs (an identifier?): leave the column out"
    return ""


def _as_numeric(name: str, col: pd.Series) -> pd.Series:
    """The column as numbers (booleans as 0/1); an error naming the first text or
    infinite value."""
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    num = col if numeric else pd.to_numeric(col, errors="coerce")
    bad = col[num.isna()]
    if len(bad):
        first = bad.iloc[0]
        hint = ""
        if str(first).strip().lower() in MARKER_LIKE:
            hint = (f"; if {shown(str(first).strip())} marks a missing value, read it as one "
                    f"(train --missing-marker '{str(first).strip()}'; markers=[...] in Python)")
        raise DataError(f"column '{name}' should be numeric but row {bad.index[0]} holds {shown(first)}{hint}")
    x = num.to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise DataError(f"column '{name}' has infinite values ({shown(x[i])} at row {col.index[i]}); "
                        "values must be finite numbers")
    huge = np.abs(x) > MAX_MAGNITUDE
    if huge.any():
        i = int(np.flatnonzero(huge)[0])
        raise DataError(f"column '{name}' holds {shown(x[i])} at row {col.index[i]}, beyond ±{MAX_MAGNITUDE:g}: too "
                        "close to the largest number a computer holds to standardize and generate around; rescale the "
                        "column (other units)")
    return num


def _looks_discrete_text(col: pd.Series) -> bool:
    """A text column where most values are not numbers: a categorical column."""
    if pd.api.types.is_numeric_dtype(col):
        return False
    num = pd.to_numeric(col, errors="coerce")
    return bool(num.isna().mean() > 0.5)


DELIMITERS = ";\t|"  # a CSV's separator when its header has no comma
_HEAD_BYTES = 64 * 2**10  # what is read first to find the separator, the encoding and the header


def read_table(source: str | os.PathLike | bytes | io.IOBase, name: str | None = None) -> pd.DataFrame:
    """Read a CSV (a path, bytes or a file object) the one way the CLI, the app and the image
    folders read tables, with errors (``DataError``) that name the file.

    The separator is a comma, else the one of ``;``, tab or ``|`` the header uses (found by
    ``csv.Sniffer``); text is UTF-8, else Windows-1252 (a spreadsheet's export); a column name
    given twice is refused by its real name (pandas would rename the second ``a`` to
    ``a.1``); a file larger than ``causal.limits.MAX_TABLE_BYTES``, or one that is not a
    regular file (``/dev/zero``, a FIFO), is refused before it is read.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "the uploaded file")
    if isinstance(source, (str, os.PathLike)):
        try:
            check_file(source, limits.MAX_TABLE_BYTES, "CSV file")
            with open(source, "rb") as f:
                head = f.read(_HEAD_BYTES)
        except FileNotFoundError:
            raise DataError(f"no such file: {label}") from None
        except (OSError, ValueError) as e:
            raise DataError(_os_message(e, label)) from None
    else:
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        elif not source.seekable():  # a pipe: read (at most the bound) into memory, to read it twice
            data = source.read(limits.MAX_TABLE_BYTES + 1)
            if len(data) > limits.MAX_TABLE_BYTES:
                raise DataError(f"{label} is larger than {limits.MAX_TABLE_BYTES // 2**20:,} MB; a CSV file may be at most that")
            source = io.BytesIO(data.encode("utf-8") if isinstance(data, str) else data)
        start = source.tell()
        head = source.read(_HEAD_BYTES)
        source.seek(start)
        if isinstance(head, str):
            head = head.encode("utf-8")
    if b"\x00" in head:
        raise DataError(f"cannot read {label} as CSV: it holds binary data (an image, archive, PDF or spreadsheet?)")
    text, encoding = _decode_head(head)
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    sep = _separator(text, header)
    names = next(csv.reader([header], delimiter=sep), []) if header else []
    seen: dict[str, int] = {}
    for i, c in enumerate(names):
        if c in seen:
            raise DataError(f"{label} has the column '{c}' twice (columns {seen[c] + 1} and {i + 1}); "
                            "rename one so that each column has its own name")
        seen[c] = i
    for attempt in (encoding, "cp1252"):
        try:
            if not isinstance(source, (str, os.PathLike)):
                source.seek(start)
            df = pd.read_csv(source, sep=sep, encoding=attempt)
            break
        except UnicodeDecodeError:  # a Windows-1252 byte beyond the part read first
            if attempt == "cp1252":
                raise DataError(f"{label} is not a text file in UTF-8 or Windows-1252; save it as UTF-8 CSV") from None
        except FileNotFoundError:
            raise DataError(f"no such file: {label}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
            raise DataError(f"cannot read {label} as CSV: {str(e).splitlines()[0]}") from None
    if df.shape[1] == 0:
        raise DataError(f"{label} has no columns")
    return df


def _os_message(e: BaseException, label: str) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"cannot read {label}: {e.strerror}"
    return str(e)


def _decode_head(head: bytes) -> tuple[str, str]:
    """The start of a file as text, and its encoding: UTF-8 (a character cut at the end
    allowed), else Windows-1252."""
    import codecs

    try:
        return codecs.getincrementaldecoder("utf-8")().decode(head, final=False), "utf-8"
    except UnicodeDecodeError:
        return head.decode("cp1252", errors="replace"), "cp1252"


def _separator(text: str, header: str) -> str:
    """``,`` unless the header has none and uses one of ``DELIMITERS``: then that one."""
    if "," in header or not any(d in header for d in DELIMITERS):
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(text.splitlines()[:20]), delimiters=DELIMITERS).delimiter
    except csv.Error:  # ambiguous below the header: the header's most frequent one
        return max(DELIMITERS, key=header.count)


def load_table(
    source: str | os.PathLike | bytes | pd.DataFrame,
    graph: CausalGraph,
    *,
    extra: str = "error",
    min_rows: int = MIN_ROWS,
    missing: str = "error",
    markers: Sequence[str] = (),
) -> tuple[pd.DataFrame, Schema]:
    """Read and validate a table for ``graph``: returns (table in canonical order, schema).
    ``missing`` and ``markers`` as in ``validate_table``."""
    label = ("the table" if isinstance(source, pd.DataFrame) else str(source) if isinstance(source, (str, os.PathLike))
             else "the uploaded file")
    df = source if isinstance(source, pd.DataFrame) else read_table(source)
    df = validate_table(df, graph, extra=extra, min_rows=min_rows, source=label, missing=missing, markers=markers)
    return df, schema_from_frame(df, graph)
