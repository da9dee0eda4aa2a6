"""The Data page: its plain module (app.logic.data) and the page headless with AppTest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.logic import data as dp
from app.logic import missing
from causal import datasets
from causal.data import DataError

REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")
DATA = "views/data.py"
TIMEOUT = 30


def csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def good_table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "x": x,
        "y": 2 * x + rng.normal(size=n),
        "group": np.where(rng.random(n) < 0.5, "treated", "control"),
        "rating": rng.integers(1, 6, n),
    })


@pytest.fixture
def cache() -> dp.UploadCache:
    return dp.UploadCache(max_entries=3)


# ---------------------------------------------------------------------- built-in datasets
def test_builtin_reference_and_current_dataset() -> None:
    ref = dp.builtin_ref("loan", n=300, seed=4)
    assert ref == {"source": "builtin", "name": "loan", "n": 300, "seed": 4}
    df, name, graph = dp.current_dataset({dp.STATE_KEY: ref})
    pd.testing.assert_frame_equal(df, datasets.load("loan", n=300, seed=4).data)
    assert name == "loan" and graph.kind("A") == "binary"
    df.iloc[0, 0] = 1e9  # a copy: the cached dataset is untouched
    assert dp.current_dataset({dp.STATE_KEY: ref})[0].iloc[0, 0] != 1e9
    assert dp.current_kinds({dp.STATE_KEY: ref})["A"] == "binary"
    # nothing chosen yet: the page's default, the first built-in dataset
    df, name, graph = dp.current_dataset({})
    assert (name, len(df)) == (datasets.names()[0], dp.DEFAULT_N) and graph is not None
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        dp.builtin_ref("nope")
    with pytest.raises(ValueError, match="n must be between"):
        dp.builtin_ref("loan", n=0)


# ---------------------------------------------------------------------- uploads
def test_read_upload_reads_csv_and_sniffs_other_separators() -> None:
    df = dp.read_upload("good.csv", csv(good_table()))
    assert df.shape == (60, 4) and list(df.columns) == ["x", "y", "group", "rating"]
    semi = dp.read_upload("semi.csv", b"a;b\n1;2\n3;4\n")
    assert semi.to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    latin = dp.read_upload("excel.csv", "city,n\nMünchen,2\nLyon,3\n".encode("cp1252"))
    assert latin["city"].tolist() == ["München", "Lyon"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.csv", b"a,b\n" + b"1,2\n" * 300_000, "big.csv is 1.1 MB; files up to 1 MB can be uploaded"),
        ("empty.csv", b"  \n", "empty.csv is empty"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv is not a CSV file"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", "cannot read ragged.csv as CSV: Error tokenizing data"),
        ("header.csv", b"a,b,c\n", "header.csv has a header row but no data rows"),
        ("binary.csv", b"a,b\n\x81\x8d,1\n", "binary.csv is not a text file in UTF-8 or Windows-1252"),
    ],
)
def test_read_upload_errors_name_the_file(name: str, content: bytes, message: str) -> None:
    with pytest.raises(DataError) as e:
        dp.read_upload(name, content, max_mb=1)
    assert message in str(e.value)


def test_upload_cache_reads_once_and_is_bounded(cache: dp.UploadCache) -> None:
    content = csv(good_table())
    key, df = dp.remember_upload("a.csv", content, cache)
    key2, df2 = dp.remember_upload("renamed.csv", content, cache)
    assert key == key2 and df2 is df and len(cache) == 1
    keys = [dp.remember_upload(f"{i}.csv", csv(good_table(seed=i + 1)), cache)[0] for i in range(3)]
    assert len(cache) == 3 and key not in cache and all(k in cache for k in keys)  # the oldest went first
    cache.get(keys[0])  # touched: now the most recent
    dp.remember_upload("new.csv", csv(good_table(seed=9)), cache)
    assert keys[0] in cache and keys[1] not in cache
    small = dp.UploadCache(max_entries=10, max_bytes=int(good_table().memory_usage(deep=True).sum() * 1.5))
    for i in range(3):
        dp.remember_upload(f"{i}.csv", csv(good_table(seed=i)), small)
    assert len(small) == 1  # bounded in memory too (the newest is always kept)


def test_current_dataset_of_an_upload(cache: dp.UploadCache) -> None:
    key, df = dp.remember_upload("mine.csv", csv(good_table()), cache)
    state = {dp.STATE_KEY: dp.upload_ref("mine.csv", key, {"rating": "categorical"})}
    got, name, graph = dp.current_dataset(state, cache)
    pd.testing.assert_frame_equal(got, df)
    assert name == "mine.csv" and graph is None
    assert dp.current_kinds(state, cache) == {"x": "continuous", "y": "continuous", "group": "binary", "rating": "categorical"}
    cache.clear()
    with pytest.raises(DataError, match="mine.csv is no longer held by the server; upload it again"):
        dp.current_dataset(state, cache)


# ---------------------------------------------------------------------- checks
def test_column_problems_name_each_problem() -> None:
    df = good_table(30)
    df.loc[[3, 7], "x"] = np.nan
    df["const"] = 1.0
    df["mixed"] = ["a"] * 2 + [str(i) for i in range(28)]
    df["inf"] = np.r_[np.inf, np.arange(29.0)]
    df["id"] = [f"user{i}" for i in range(30)]
    df["Unnamed: 0"] = range(30)
    df["has space"] = range(30)  # a header with spaces is a fine node name (quoted in graph text)
    df["a;b"] = range(30)
    found = dp.column_problems(df)
    assert found["x"] == ["2 missing value(s) (first at row 3)"]
    assert found["const"] == ["constant: every value is 1.0"]
    assert found["mixed"] == ["mixes numbers and text: 28 numbers, 2 text value(s) (first 'a' at row 0)"]
    assert found["inf"] == ["1 infinite value(s) (first at row 0)"]
    assert "has space" not in found
    assert "has reserved characters" in found["a;b"][0]
    assert "no header" in found["Unnamed: 0"][0]
    assert "id" not in found  # 30 distinct text values are still within the limit
    many = pd.DataFrame({"id": [f"user{i}" for i in range(80)]})
    assert dp.column_problems(many)["id"] == ["80 distinct text values; at most 50 categories are supported; every "
                                              "value differs (an identifier?): leave the column out"]
    assert dp.column_problems(good_table()) == {}


def test_kind_and_table_problems() -> None:
    df = good_table()
    found = dp.kind_problems(df, {"rating": "binary", "group": "continuous", "x": "categorical", "y": "continuous"})
    assert found == {
        "rating": ["you set it to binary but has 5 distinct values"],
        "group": ["you set it to continuous but holds text ('control' at row 0)" if df.group[0] == "control"
                  else "you set it to continuous but holds text ('treated' at row 0)"],
        "x": ["you set it to categorical but has 60 distinct values; at most 50 are supported"],
    }
    assert dp.table_problems(df) == []
    assert dp.table_problems(df.head(5)[["x"]]) == [
        "only 5 row(s); at least 20 are needed to train a model",
        "only 1 column(s); a causal graph needs at least two variables",
    ]


def test_loader_check_gives_the_library_message() -> None:
    df = good_table()
    assert dp.loader_check(df, name="good.csv") is None
    df.loc[5, "y"] = np.nan
    assert dp.loader_check(df, name="bad.csv") == ("column 'y' has 1 missing value(s) (first at row 5); fill them, or drop "
                                                   "the rows that have one (train --drop-missing; missing='drop' in Python)")
    assert "declared binary but has 5 values" in dp.loader_check(good_table(), {"rating": "binary"})
    assert "has 5 rows; at least 20" in dp.loader_check(good_table().head(5), name="tiny.csv")


def test_summary_table() -> None:
    df = good_table()
    s = dp.summary_table(df, {"rating": "categorical"})
    assert list(s.index) == ["x", "y", "group", "rating"]
    assert s.loc["x", "mean"] == pytest.approx(df.x.mean()) and s.loc["y", "q75"] == pytest.approx(df.y.quantile(0.75))
    assert s.loc["group", "kind"] == "binary" and np.isnan(s.loc["group", "mean"])
    top = df.rating.value_counts()
    assert s.loc["rating", "top"] == str(top.index[0]) and s.loc["rating", "top_share"] == pytest.approx(top.iloc[0] / 60)


# ---------------------------------------------------------------------- figures
def test_scatter_matrix_subsamples_and_colours_by_a_discrete_column() -> None:
    df = datasets.load("loan", n=5000, seed=0).data
    fig = dp.scatter_matrix_figure(df, {"A": "binary"}, color="A")
    names = [c for c in df.columns if c != "A"][: dp.SCATTER_COLUMNS]
    k = len(names) - 1
    assert len(fig.data) == 2 * k * (k + 1) // 2  # one trace per panel below the diagonal and per colour
    assert [t.name for t in fig.data if t.showlegend] == ["A = 0", "A = 1"]
    first = [t for t in fig.data if t.xaxis == "x"]
    assert sum(len(t.x) for t in first) == dp.SCATTER_ROWS
    # each column named once: below the bottom row, left of the first column
    assert fig.layout.xaxis.title.text == "" and fig.layout[f"xaxis{k * (k - 1) + 1}"].title.text == names[0]
    assert fig.layout.yaxis.title.text == names[1]
    assert all(t.type == "scatter" for t in fig.data)  # SVG: no WebGL context to run out of


@pytest.mark.parametrize("columns", range(2, 8))
def test_scatter_matrix_panels_stay_inside_the_figure_for_any_number_of_columns(columns: int) -> None:
    """A 4 x 4 grid's last panel ended at -5.6e-17 by rounding, which Plotly refuses: the Data
    page raised on chain5-lin (five columns)."""
    rng = np.random.default_rng(columns)
    df = pd.DataFrame(rng.normal(size=(50, columns)), columns=[f"c{i}" for i in range(columns)])
    fig = dp.scatter_matrix_figure(df, {})
    domains = [v for ax in fig.layout if ax.startswith(("xaxis", "yaxis")) for v in fig.layout[ax].domain]
    assert domains and min(domains) >= 0.0 and max(domains) <= 1.0


def test_scatter_matrix_of_categories_names_them_in_their_natural_order() -> None:
    rng = np.random.default_rng(0)
    ages = np.array(["<20", "20-34", "35-49", "50-65", ">65"])
    df = pd.DataFrame({"Age": rng.choice(ages, 300), "Income": rng.choice(["<=50K", ">50K"], 300),
                       "x": rng.normal(size=300)})
    fig = dp.scatter_matrix_figure(df)
    assert list(fig.layout.xaxis.ticktext) == ["<20", "20-34", "35-49", "50-65", ">65"]  # not "<20" last
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 1 and np.isclose(np.asarray(heat[0].z).sum(), 1.0)  # two discrete columns: shares of rows
    jittered = next(t for t in fig.data if t.type == "scatter" and t.xaxis == "x3")  # Age (x) against x (y)
    codes = np.asarray(jittered.x)
    assert set(np.round(codes)) <= set(range(5)) and 0 < np.abs(codes - np.round(codes)).max() <= 0.25
    assert len(dp.scatter_matrix_figure(good_table(), max_columns=2).data) == 1
    assert dp.histograms_figure(df).data[0].x == ("<20", "20-34", "35-49", "50-65", ">65")


def test_labels_that_happen_to_be_numbers_are_not_mixed_columns(shared_data) -> None:
    """The adult table's HoursPerWeek ("40", ">40", "20-39", "<20") is a set of labels."""
    df = pd.read_csv(shared_data / "adult" / "adult.csv")
    assert dp.column_problems(df) == {}
    hours = pd.DataFrame({"h": ["40", ">40", "<20", "20-39"] * 10})
    assert dp.column_problems(hours) == {}
    assert dp.loader_check(df, name="adult.csv") is None


def test_histograms_one_panel_per_column() -> None:
    df = good_table()
    fig = dp.histograms_figure(df, {"rating": "categorical"})
    assert [t.type for t in fig.data] == ["histogram", "histogram", "bar", "bar"]
    assert list(fig.data[3].x) == ["1", "2", "3", "4", "5"] and sum(fig.data[3].y) == 60
    ids = pd.DataFrame({"id": [f"u{i % 40}" for i in range(100)]})
    bars = dp.histograms_figure(ids).data[0]
    assert len(bars.x) == dp.MAX_BARS + 1 and bars.x[-1] == "other" and sum(bars.y) == 100


def test_data_page_module_does_not_import_streamlit() -> None:
    code = "import sys, app.logic.data; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- the page (AppTest)
def _page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    at.switch_page(DATA).run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "info", "warning", "error", "code") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def _upload(at, name: str, content: bytes):
    at.radio(key="data-source").set_value("Upload a CSV").run()
    at.file_uploader(key="data-upload").set_value((name, content, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def test_page_loads_with_a_builtin_dataset_and_its_truth() -> None:
    at = _page()
    assert at.title[0].value == "Data"
    assert at.selectbox(key="data-builtin").value == "triangle-lin"
    text = _text(at)
    assert "Three variables in a triangle" in text and "x2 = 10·x1 − u2" in text
    assert "exact interventional and counterfactual answers are available" in text
    assert len(at.get("plotly_chart")) == 3  # graph, scatter matrix, histograms
    assert at.session_state[dp.STATE_KEY] == {"source": "builtin", "name": "triangle-lin", "n": dp.DEFAULT_N, "seed": 0}


def test_switching_dataset_changes_description_equations_and_reference() -> None:
    at = _page()
    at.selectbox(key="data-builtin").set_value("loan").run()
    at.number_input(key="data-n").set_value(500).run()
    at.number_input(key="data-seed").set_value(3).run()
    assert not at.exception
    text = _text(at)
    assert "synthetic loan application" in text and "Three variables in a triangle" not in text
    assert "savings = −4 + 1.5·1[income > 0]·income" in text
    assert at.session_state[dp.STATE_KEY] == {"source": "builtin", "name": "loan", "n": 500, "seed": 3}
    preview = at.dataframe[0].value
    pd.testing.assert_frame_equal(preview, datasets.load("loan", n=500, seed=3).data)
    assert "Colour by" in [s.label for s in at.selectbox]  # A is binary: it colours the scatter matrix
    # another page reads the same dataset from the reference
    df, name, graph = dp.current_dataset(at.session_state)
    assert (name, len(df), graph.nodes) == ("loan", 500, datasets.info("loan").graph.nodes)


def test_uploading_a_good_csv_shows_preview_kinds_and_summary() -> None:
    table = good_table()
    at = _upload(_page(), "good.csv", csv(table))
    assert "good.csv" in _text(at) and "pass the loader's checks" in at.success[0].value
    pd.testing.assert_frame_equal(at.dataframe[0].value, table)
    kinds = {s.label: s.value for s in at.selectbox if s.key and s.key.startswith("data-kind-")}
    assert kinds == {"x": "continuous", "y": "continuous", "group": "binary", "rating": "continuous"}
    summary = at.dataframe[1].value
    assert list(summary.index) == ["x", "y", "group", "rating"] and summary.loc["x", "mean"] == pytest.approx(table.x.mean())
    ref = at.session_state[dp.STATE_KEY]
    assert ref["source"] == "upload" and ref["name"] == "good.csv" and ref["kinds"] == {}
    # override a kind: kept in the reference (small: names and kinds only, never the table)
    rating = next(s for s in at.selectbox if s.label == "rating")
    rating.set_value("categorical").run()
    assert not at.exception
    assert at.session_state[dp.STATE_KEY]["kinds"] == {"rating": "categorical"}
    assert dp.current_kinds(at.session_state)["rating"] == "categorical"
    assert not any(isinstance(v, pd.DataFrame) for v in at.session_state[dp.STATE_KEY].values())
    # a wrong override is flagged
    rating.set_value("binary").run()
    assert "**rating**: you set it to binary but has 5 distinct values" in at.warning[0].value
    assert "declared binary but has 5 values" in at.error[0].value


@pytest.mark.parametrize(
    ("name", "content", "kind", "message"),
    [
        ("broken.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "error", "broken.csv is not a CSV file"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", "error", "cannot read ragged.csv as CSV"),
        ("gaps.csv", csv(good_table().assign(y=lambda d: d.y.where(d.index % 7 != 2))), "warning",
         "**y**: 9 missing value(s) (first at row 2)"),
        ("gaps.csv", csv(good_table().assign(y=lambda d: d.y.where(d.index % 7 != 2))), "error",
         "column 'y' has 9 missing value(s)"),
        ("const.csv", csv(good_table().assign(k=5)), "warning", "**k**: constant: every value is 5"),
        ("const.csv", csv(good_table().assign(k=5)), "error", "column 'k' is constant"),
        ("mixed.csv", csv(good_table().assign(x=lambda d: d.x.round(2).astype(str).where(d.index != 4, "unknown"))),
         "warning", "**x**: mixes numbers and text: 59 numbers, 1 text value(s) (first 'unknown' at row 4)"),
        ("mixed.csv", csv(good_table().assign(x=lambda d: d.x.round(2).astype(str).where(d.index != 4, "unknown"))),
         "error", "column 'x' should be numeric but row 4 holds 'unknown'"),
        ("tiny.csv", csv(good_table(8)), "warning", "only 8 row(s); at least 20 are needed"),
    ],
)
def test_bad_uploads_show_a_named_message_not_an_exception(name: str, content: bytes, kind: str, message: str) -> None:
    at = _upload(_page(), name, content)
    shown = "\n".join(e.value for e in at.get(kind))
    assert message in shown, f"{kind}s shown: {shown!r}"


def test_a_failed_upload_keeps_the_previous_dataset() -> None:
    at = _upload(_page(), "good.csv", csv(good_table()))
    at.file_uploader(key="data-upload").set_value(("broken.csv", b"\x00\x01", "text/csv")).run()
    assert not at.exception and "broken.csv is not a CSV file" in at.error[0].value
    assert at.session_state[dp.STATE_KEY]["name"] == "good.csv"


def test_too_large_upload_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dp, "MAX_UPLOAD_MB", 0.001)  # 1 kB, so that the test stays small
    at = _upload(_page(), "large.csv", csv(good_table(200)))
    assert re.search(r"large\.csv is \d+\.\d MB; files up to 0\.001 MB can be uploaded", at.error[0].value)


def test_an_inferred_kind_is_not_reported_as_set_by_the_user() -> None:
    """Only the kinds the user chose are checked as choices (an inferred one's problems are
    the column's own)."""
    many = pd.DataFrame({"id": [f"user{i}" for i in range(80)], "x": np.arange(80.0)})
    at = _upload(_page(), "ids.csv", csv(many))
    shown = "\n".join(e.value for e in at.warning)
    assert "80 distinct text values" in shown and "set to categorical" not in shown


def test_choosing_upload_waits_for_a_file_and_other_pages_say_so() -> None:
    """Until a file arrives no data are chosen: a run named for the new data must not train
    on the previous dataset."""
    at = _page()
    at.radio(key="data-source").set_value("Upload a CSV").run()
    assert not at.exception
    assert at.session_state[dp.STATE_KEY] == dp.pending_ref("upload")
    with pytest.raises(DataError, match="no table is uploaded yet"):
        dp.current_dataset(at.session_state)
    at.switch_page("views/train.py").run()
    assert not at.exception and "no table is uploaded yet" in at.error[0].value
    at.switch_page(DATA).run()
    at.file_uploader(key="data-upload").set_value(("good.csv", csv(good_table()), "text/csv")).run()
    assert at.session_state[dp.STATE_KEY]["name"] == "good.csv"


# ---------------------------------------------------------------------- missing values
def gappy_table(n: int = 60) -> pd.DataFrame:
    """good_table with gaps: '?' in a numeric and a text column, empty cells, and a mostly
    empty column that costs most rows unless it is left out."""
    df = good_table(n).astype({"x": str})
    df.loc[[3, 11], "x"] = " ?"
    df.loc[[5], "group"] = "?"
    df.loc[[7, 8], "y"] = np.nan
    df["notes"] = np.where(np.arange(n) % 3 == 0, "seen", None)
    return df


def test_missing_overview_counts_empty_and_marked_cells() -> None:
    gaps = missing.missing_overview(gappy_table().assign(rating=lambda d: d.rating.astype(str).where(d.index != 9, "n/a")))
    gaps = gaps.set_index("column")
    assert gaps.loc["x", "marked"] == 2 and gaps.loc["x", "empty"] == 0 and gaps.loc["x", "markers"] == "'?'"
    assert gaps.loc["group", "marked"] == 1 and gaps.loc["y", "empty"] == 2
    assert gaps.loc["rating", "markers"] == "'n/a'"  # offered, not read as missing unless the user says so
    assert gaps.loc["notes", "empty"] == 40 and "rating" in gaps.index
    assert missing.missing_overview(good_table()).empty


def test_clean_upload_reads_markers_leaves_out_columns_and_drops_rows(cache: dp.UploadCache) -> None:
    key, raw = dp.remember_upload("gaps.csv", csv(gappy_table()), cache)
    same, table, note = missing.clean_upload(key, cache=cache)
    assert same == key and table is raw and note == ""
    key2, table, note = missing.clean_upload(key, ["?"], drop=True, leave_out=["notes"], cache=cache)
    assert key2 != key and key2 in cache and cache.get(key) is raw  # the file as uploaded is kept
    assert len(table) == 60 - 5 and list(table.columns) == ["x", "y", "group", "rating"]
    assert table["x"].dtype == float and not table.isna().any().any()
    assert note == "left out notes; '?' read as missing; dropped 5 of 60 rows (8.3%) with a missing value (x 2, y 2, group 1); 55 rows kept"
    _, everything, _ = missing.clean_upload(key, ["?"], drop=True, cache=cache)  # the mostly empty column costs rows
    assert len(everything) == 19  # 20 rows have notes, row 3 of them a gap in x
    assert dp.loader_check(table) is None and "missing value" in dp.loader_check(raw.drop(columns="notes"))


def test_an_upload_with_gaps_can_be_cleaned_on_the_page_and_the_choice_is_kept() -> None:
    at = _upload(_page(), "gaps.csv", csv(gappy_table()))
    assert "Missing values" in [e.label for e in at.expander]
    assert at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("data-markers-"))).value == "?"
    assert "cannot be used to train" in at.error[0].value  # the gaps are still there
    first = at.session_state[dp.STATE_KEY]  # '?' is read as missing unless the user clears it
    raw_key = dp.raw_upload_key(first)
    assert first["cleaning"]["markers"] == ["?"] and first["cleaning"]["drop"] is False
    next(s for s in at.selectbox if s.label == "rating").set_value("categorical").run()
    at.multiselect(key=f"data-leave-{raw_key}").set_value(["notes"]).run()
    at.checkbox(key=f"data-dropna-{raw_key}").check().run()
    assert not at.exception and not at.error
    ref = at.session_state[dp.STATE_KEY]
    assert ref["key"] != raw_key and ref["cleaning"]["raw"] == raw_key and ref["cleaning"]["drop"] is True
    df, name, _ = dp.current_dataset(at.session_state)
    assert name == "gaps.csv" and len(df) == 55 and "notes" not in df.columns
    assert "dropped 5 of 60 rows" in _text(at) and "pass the loader's checks" in at.success[0].value
    assert ref["kinds"] == {"rating": "categorical"}  # a kind set before the rows were dropped is kept
    # another page and back: the widgets are gone, the reference keeps the choice
    at.switch_page("views/graph.py").run()
    at.switch_page(DATA).run()
    assert not at.exception
    assert at.session_state[dp.STATE_KEY]["key"] == ref["key"] and at.checkbox(key=f"data-dropna-{raw_key}").value
