"""causal.data: table validation, CSV reading, kind inference and the Schema codec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal import CausalGraph, Column, DataError, Schema, load_table, read_table, validate_table
from causal.data import MIN_ROWS, infer_kind, schema_from_frame

GRAPH = CausalGraph.parse("age -> income; sex -> income; income -> grade")
N = 30


def table(n: int = N) -> pd.DataFrame:
    """A small valid table for GRAPH: one continuous, one binary text, one categorical text."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "sex": np.where(np.arange(n) % 2 == 0, "F", "M"),
            "income": rng.normal(10, 2, n),
            "age": rng.integers(18, 80, n).astype(float),
            "grade": np.array(["lo", "mid", "hi"])[np.arange(n) % 3],
        }
    )


# ---------------------------------------------------------------------- validate_table
def test_valid_table_comes_back_in_canonical_order():
    df = validate_table(table(), GRAPH)
    assert tuple(df.columns) == GRAPH.nodes == ("age", "sex", "income", "grade")
    assert len(df) == N
    pd.testing.assert_frame_equal(df, table()[list(GRAPH.nodes)])


def test_missing_column_is_named():
    with pytest.raises(DataError, match=r"no column for node\(s\) income; its columns are sex, age, grade"):
        validate_table(table().drop(columns="income"), GRAPH)


def test_extra_column_is_named_or_dropped():
    df = table().assign(zip_code=1)
    with pytest.raises(DataError, match=r"not in the graph: zip_code"):
        validate_table(df, GRAPH)
    out = validate_table(df, GRAPH, extra="drop")
    assert "zip_code" not in out.columns and tuple(out.columns) == GRAPH.nodes


def test_duplicate_column_is_named():
    df = pd.concat([table(), table()[["age"]]], axis=1)
    with pytest.raises(DataError, match="duplicate column.*age"):
        validate_table(df, GRAPH)


def test_nan_names_column_and_row():
    df = table()
    df.loc[7, "income"] = np.nan
    df.loc[9, "income"] = np.nan
    with pytest.raises(DataError, match=r"column 'income' has 2 missing value\(s\) \(first at row 7\)"):
        validate_table(df, GRAPH)


def test_constant_column_is_named():
    with pytest.raises(DataError, match="column 'age' is constant"):
        validate_table(table().assign(age=42.0), GRAPH)


def test_text_in_numeric_column_names_row_and_value():
    df = table()
    df["income"] = df["income"].astype(object)
    df.loc[11, "income"] = "n/a"
    with pytest.raises(DataError, match=r"column 'income' should be numeric but row 11 holds 'n/a'"):
        validate_table(df, GRAPH)


def test_text_in_declared_continuous_column_is_refused_even_when_mostly_text():
    g = GRAPH.with_kinds({"grade": "continuous"})
    with pytest.raises(DataError, match=r"column 'grade' should be numeric but row 0 holds 'lo'"):
        validate_table(table(), g)


def test_numeric_strings_are_converted():
    df = table()
    df["income"] = df["income"].map(lambda v: f"{v:.3f}")
    out = validate_table(df, GRAPH)
    assert pd.api.types.is_float_dtype(out["income"])
    np.testing.assert_allclose(out["income"], table()["income"], atol=5e-4)


def test_infinite_value_is_refused():
    df = table()
    df.loc[3, "income"] = np.inf
    with pytest.raises(DataError, match="column 'income' has infinite values"):
        validate_table(df, GRAPH)


def test_too_few_rows():
    with pytest.raises(DataError, match=f"has 5 rows; at least {MIN_ROWS} are needed"):
        validate_table(table(5), GRAPH)
    assert len(validate_table(table(5), GRAPH, min_rows=5)) == 5


def test_not_a_dataframe():
    with pytest.raises(DataError, match="must be a pandas DataFrame, got dict"):
        validate_table({"a": [1]}, GRAPH)


def test_too_many_categories():
    g = CausalGraph.parse("a -> b")
    df = pd.DataFrame({"a": [f"v{i}" for i in range(60)], "b": np.arange(60.0)})
    with pytest.raises(DataError, match="column 'a' has 60 distinct text values; at most 50") as e:
        validate_table(df, g)
    assert "an identifier?" in str(e.value)  # every value differs


def test_a_date_or_an_identifier_column_is_named_as_such():
    """Real tables carry dates and ids as text; the refusal says what they look like and what to do."""
    g = CausalGraph.parse("a -> b")
    dates = pd.date_range("2021-01-01", periods=80, freq="D")
    for shown in (dates.strftime("%Y-%m-%d"), dates.strftime("%d/%m/%Y"), dates.strftime("%Y-%m-%d %H:%M")):
        df = pd.DataFrame({"a": list(shown), "b": np.arange(80.0)})
        with pytest.raises(DataError, match="look like dates: turn them into a number"):
            validate_table(df, g)
    labels = pd.DataFrame({"a": [f"group {i % 60}" for i in range(120)], "b": np.arange(120.0)})  # repeated labels
    with pytest.raises(DataError) as e:
        validate_table(labels, g)
    assert "dates" not in str(e.value) and "identifier" not in str(e.value)


def test_image_nodes_need_no_column():
    g = CausalGraph.parse("age -> img").with_kinds({"img": "image"})
    out = validate_table(table()[["age"]], g)
    assert list(out.columns) == ["age"]


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


# ---------------------------------------------------------------------- read_table / load_table
def test_read_table_from_bytes_path_and_file(tmp_path):
    csv = table().to_csv(index=False).encode()
    a = read_table(csv)
    p = tmp_path / "t.csv"
    p.write_bytes(csv)
    b = read_table(p)
    with open(p, "rb") as fh:
        c = read_table(fh)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert list(a.columns) == ["sex", "income", "age", "grade"]


def test_missing_file_is_named(tmp_path):
    p = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=r"no such file: .*nowhere\.csv"):
        read_table(p)
    with pytest.raises(DataError, match=r"no such file: .*nowhere\.csv"):
        load_table(str(p), GRAPH)


def test_corrupt_bytes_name_the_file(tmp_path):
    junk = b"\xff\xfe\x00\x81\x89PNG\r\n\x1a\n\x00\x00"
    with pytest.raises(DataError, match="cannot read the uploaded file as CSV"):
        read_table(junk)
    with pytest.raises(DataError, match="cannot read upload.csv as CSV"):
        read_table(junk, name="upload.csv")
    p = tmp_path / "broken.csv"
    p.write_bytes(junk)
    with pytest.raises(DataError, match=r"cannot read .*broken\.csv as CSV"):
        read_table(p)
    ragged = b"a,b\n1,2\n3,4,5,6\n"
    with pytest.raises(DataError, match=r"cannot read ragged.csv as CSV: .*line 3"):
        read_table(ragged, name="ragged.csv")
    with pytest.raises(DataError, match="cannot read the uploaded file as CSV"):
        read_table(b"")


def test_load_table_returns_validated_table_and_schema(tmp_path):
    p = tmp_path / "t.csv"
    table().assign(extra=1).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"t\.csv has column\(s\) not in the graph: extra"):
        load_table(p, GRAPH)
    df, schema = load_table(p, GRAPH, extra="drop")
    assert tuple(df.columns) == GRAPH.nodes
    assert schema.names == GRAPH.nodes
    assert [schema[n].kind for n in schema.names] == ["continuous", "binary", "continuous", "categorical"]
    assert schema["sex"].categories == ("F", "M")
    assert schema["grade"].categories == ("hi", "lo", "mid")
    assert schema["income"].mean == pytest.approx(table()["income"].mean(), abs=1e-6)
    assert schema["income"].std == pytest.approx(table()["income"].std(ddof=0), abs=1e-6)


# ---------------------------------------------------------------------- kinds
def test_infer_kind():
    assert infer_kind(pd.Series([0.1, 0.5, 2.0, 3.3])) == "continuous"
    assert infer_kind(pd.Series([1, 2, 3, 4])) == "continuous"
    assert infer_kind(pd.Series([0.0, 1.0, 0.0, 1.0])) == "binary"
    assert infer_kind(pd.Series(["yes", "no", "yes"])) == "binary"
    assert infer_kind(pd.Series([True, False, True])) == "binary"
    assert infer_kind(pd.Series(["a", "b", "c", "a"])) == "categorical"


def test_declared_kinds_are_respected():
    g = CausalGraph.parse("a -> b; b -> c").with_kinds({"a": "continuous", "b": "categorical"})
    df = pd.DataFrame({"a": [0.0, 1.0] * 15, "b": np.arange(30) % 4, "c": np.linspace(0, 1, 30)})
    schema = schema_from_frame(validate_table(df, g), g)
    assert schema["a"].kind == "continuous"  # two values, but declared continuous
    assert schema["b"].kind == "categorical" and schema["b"].categories == (0, 1, 2, 3)
    assert schema["c"].kind == "continuous"
    bad = CausalGraph.parse("a -> b; b -> c").with_kinds({"b": "binary"})
    with pytest.raises(DataError, match="'b' is declared binary but has 4 values"):
        schema_from_frame(df, bad)


# ---------------------------------------------------------------------- Schema codec
def test_schema_round_trip_with_string_and_int_categories():
    g = CausalGraph.parse("sex -> grade; grade -> score; level -> score").with_kinds({"level": "categorical"})
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], 40),
            "level": rng.choice([1, 2, 3], 40),
            "grade": rng.choice(["a", "b", "c"], 40),
            "score": rng.normal(size=40),
        },
        index=np.arange(100, 140),
    )
    df, schema = load_table(df, g)
    assert schema["level"].kind == "categorical" and schema["level"].categories == (1, 2, 3)
    codes = schema.encode(df)
    assert codes["sex"].dtype == np.int64 and codes["score"].dtype == np.float64
    np.testing.assert_array_equal(codes["level"], df["level"].to_numpy() - 1)
    np.testing.assert_array_equal(codes["sex"], (df["sex"] == "M").to_numpy().astype(int))
    back = schema.decode(codes, index=df.index)
    pd.testing.assert_frame_equal(back[list(df.columns)], df, check_dtype=False)
    assert back["level"].tolist() == df["level"].tolist()
    assert isinstance(back["sex"].iloc[0], str)
    # JSON-able and back
    again = Schema.from_dict(schema.to_dict())
    assert again.names == schema.names
    assert again["grade"].categories == schema["grade"].categories
    assert again["score"].mean == schema["score"].mean


def test_encode_accepts_string_spelling_of_int_categories():
    # a CSV or a text box gives "1" for the category 1
    s = Schema((Column("A", "binary", (0, 1)),))
    np.testing.assert_array_equal(s.encode(pd.DataFrame({"A": ["1", "0", "1"]}))["A"], [1, 0, 1])
    np.testing.assert_array_equal(s.encode(pd.DataFrame({"A": [1.0, 0.0, 1.0]}))["A"], [1, 0, 1])


def test_numeric_categories_encode_alike_on_the_fast_and_the_general_path():
    # numeric columns of numeric categories take a sorted search; the codes must be those of
    # the general lookup, in the categories' own (unsorted) order, whatever the dtype
    s = Schema((Column("g", "categorical", (5, 0, 2)), Column("A", "binary", (0, 1))))
    for g, a in (([2, 5, 0, 2], [True, False, True, True]), ([2.0, 5.0, 0.0, 2.0], [1, 0, 1, 1]),
                 (np.array([2, 5, 0, 2], dtype=np.int8), [1.0, 0.0, 1.0, 1.0])):
        codes = s.encode(pd.DataFrame({"g": g, "A": a}))
        np.testing.assert_array_equal(codes["g"], [2, 0, 1, 2])
        np.testing.assert_array_equal(codes["A"], [1, 0, 1, 1])
        general = s.encode(pd.DataFrame({"g": pd.Series(g).astype(object), "A": pd.Series(a).astype(object)}))
        np.testing.assert_array_equal(general["g"], codes["g"])
    with pytest.raises(DataError, match="'g' has no value 3"):
        s.encode(pd.DataFrame({"g": [2, 3], "A": [0, 1]}))
    with pytest.raises(DataError, match="'g' has no value 2.5"):
        s.encode(pd.DataFrame({"g": [2.5, 0.0], "A": [0, 1]}))


def test_encode_errors_name_column_and_allowed_values():
    s = Schema((Column("grade", "categorical", ("lo", "mid", "hi")), Column("x", "continuous")))
    with pytest.raises(DataError, match="'grade' has no value 'top'; its values are lo, mid, hi"):
        s.encode(pd.DataFrame({"grade": ["lo", "top"], "x": [0.0, 1.0]}))
    with pytest.raises(DataError, match="column 'x' is missing"):
        s.encode(pd.DataFrame({"grade": ["lo"]}))
    with pytest.raises(DataError, match="unknown column 'y'; the columns are grade, x"):
        s["y"]


def test_column_code():
    c = Column("sex", "binary", ("F", "M"))
    assert c.code("M") == 1 and c.code("F") == 0
    assert c.discrete and not Column("x", "continuous").discrete
    with pytest.raises(DataError, match=r"'sex' has no value 'X'; its values are F, M"):
        c.code("X")


def test_integer_columns_decode_as_whole_numbers_and_counts_stay_non_negative():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=60), "count": rng.poisson(2.0, 60), "years": rng.integers(-5, 5, 60).astype(float)})
    schema = schema_from_frame(df, CausalGraph.parse("a -> count; a -> years"))
    assert not schema["a"].integer and schema["count"].integer and schema["years"].integer
    drawn = {"a": np.array([0.4, -1.2]), "count": np.array([2.6, -0.7]), "years": np.array([-2.4, 3.5])}
    out = schema.decode(drawn)
    assert out["count"].tolist() == [3, 0]  # rounded; a count (never negative in the data) is not drawn below 0
    assert out["years"].tolist() == [-2, 4] and out["years"].dtype == np.int64  # negative in the data: not clipped
    assert out["a"].tolist() == [0.4, -1.2]
    kept = schema.decode(drawn, exact={"count"})  # an intervened node keeps the value it was set to
    assert kept["count"].tolist() == [2.6, -0.7] and kept["years"].tolist() == [-2, 4]
    again = Schema.from_dict(schema.to_dict())
    assert again["count"].integer and not again["a"].integer
    legacy = {"columns": [{k: v for k, v in c.items() if k != "integer"} for c in schema.to_dict()["columns"]]}
    assert not Schema.from_dict(legacy)["count"].integer  # a checkpoint written before the flag: numbers as before


# ---------------------------------------------------------------------- missing values
def test_validate_table_drops_rows_with_a_gap_in_a_graph_column_only_when_asked():
    from causal.data import drop_missing, mark_missing

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=50).round(3).astype(str), "b": rng.normal(size=50),
                       "unused": [None] * 25 + ["x"] * 25})
    df.loc[[1, 2], "a"] = "?"
    df.loc[[3], "b"] = np.nan
    g = CausalGraph.parse("a -> b")
    with pytest.raises(DataError, match=r"column 'a' should be numeric but row 1 holds '\?'; if '\?' marks a missing value"):
        validate_table(df, g, extra="drop")
    with pytest.raises(DataError, match=r"column 'a' has 2 missing value\(s\) \(first at row 1\); fill them, or drop"):
        validate_table(df, g, extra="drop", markers=["?"])
    out = validate_table(df, g, extra="drop", markers=["?"], missing="drop")
    assert len(out) == 47 and out["a"].dtype == float and list(out.index) == list(range(47))  # 'unused' cost nothing
    assert out.attrs["missing_rows"] == {"rows_before": 50, "rows_after": 47, "dropped": 3,
                                         "per_column": {"a": 2, "b": 1}, "markers": []}
    assert out["a"].tolist() == pd.to_numeric(df["a"].drop([1, 2, 3])).tolist()
    with pytest.raises(DataError, match=r"dropped 3 of 50 rows .* at least 60 rows are needed"):
        validate_table(df, g, extra="drop", markers=["?"], missing="drop", min_rows=60)
    with pytest.raises(ValueError, match="missing must be 'error' or 'drop'"):
        validate_table(df, g, missing="fill")
    # numbers are never markers; a text column keeps its other text
    t = pd.DataFrame({"n": [1, 2, 3], "s": ["?", "a", "b?"]})
    marked = mark_missing(t, ["?", "2"])
    assert marked["n"].tolist() == [1, 2, 3] and marked["s"].isna().tolist() == [True, False, False]
    with pytest.raises(DataError, match="no column named 'zz'"):
        drop_missing(t, columns=["zz"])


def test_a_csv_source_keeps_its_missing_value_choices_through_json():
    from causal.sources import TableFile, source_from_dict

    src = TableFile("t.csv", missing="drop", markers=["?"])
    back = source_from_dict(src.to_dict())
    assert back == src and back.markers == ("?",) and hash(back) == hash(src)
    assert src.describe() == "t.csv ('?' read as missing; rows with a missing value dropped)"
    assert source_from_dict({"kind": "csv", "path": "old.csv"}) == TableFile("old.csv")  # older specs load
    with pytest.raises(ValueError, match="missing must be"):
        TableFile("t.csv", missing="impute")
