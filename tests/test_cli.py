"""The ``gbinfer`` command against XGBoost's own predictions of the same models: every input and
output format, the header rule, refusals (one line, exit code 2, no traceback), and inspect."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import gbinfer
from gbinfer import tabular
from gbinfer.errors import DataError
from gbinfer.cli import main
from gbinfer.tabular import progress

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
MODEL = str(EXAMPLES / "model.ubj")
FIXTURES = ROOT / "fixtures" / "xgboost" / "3.2.0"
NAMES = [f"f{i}" for i in range(20)]


@pytest.fixture(scope="module")
def example():
    """The bundled example's rows, and XGBoost's predictions, margins and leaves for them."""
    xgb = pytest.importorskip("xgboost")
    X = np.genfromtxt(EXAMPLES / "data.csv", delimiter=",", skip_header=1, dtype=np.float32, filling_values=np.nan)
    booster = xgb.Booster(model_file=MODEL)
    dm = xgb.DMatrix(X, feature_names=NAMES)
    return SimpleNamespace(X=X, pred=booster.predict(dm), margin=booster.predict(dm, output_margin=True),
                           leaf=booster.predict(dm, pred_leaf=True), booster=booster, xgb=xgb)


def _cell(v):
    return "" if np.isnan(v) else repr(float(v))


def write_csv(path, X, names=None, order=None):
    order = list(range(X.shape[1])) if order is None else order
    lines = [",".join(names[j] for j in order)] if names is not None else []
    lines += [",".join(_cell(row[j]) for j in order) for row in X]
    Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def read_output(path):
    """A 1-D prediction file in any of the output formats."""
    suffix = Path(path).suffix
    if suffix == ".npy":
        return np.load(path)
    if suffix == ".csv":
        return np.loadtxt(path, dtype=np.float32)
    import pyarrow.feather
    import pyarrow.parquet

    table = pyarrow.parquet.read_table(path) if suffix == ".parquet" else pyarrow.feather.read_table(path)
    return table.column(0).to_numpy()


def run(argv, capsys):
    """``main(argv)``: its exit code, standard output and standard error."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(argv, capsys, *fragments):
    """The command fails with exit code 2 and one line on standard error holding every fragment."""
    code, out, err = run(argv, capsys)
    assert code == 2, (code, err)
    assert out == ""
    assert err.startswith("gbinfer: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def test_bundled_example_matches_xgboost(example):
    import gbinfer

    assert np.array_equal(gbinfer.load(MODEL).predict(example.X), example.pred)
    assert np.array_equal(np.load(EXAMPLES / "expected.npy"), example.pred)


# --- CSV: the header names the columns ------------------------------------------------------------

def test_predict_csv_with_header_to_csv(tmp_path, example, capsys):
    out = tmp_path / "p.csv"
    assert run(["predict", MODEL, EXAMPLES / "data.csv", "-o", out], capsys)[0] == 0
    assert np.array_equal(np.loadtxt(out, dtype=np.float32), example.pred)
    code, text, _ = run(["predict", MODEL, EXAMPLES / "data.csv"], capsys)  # standard output: the same text
    assert code == 0 and text == out.read_text()


def test_csv_header_in_another_order_is_matched_by_name(tmp_path, example, capsys):
    # read by position, the reversed file gave 0.99918 for a row XGBoost scores 0.00125
    order = list(range(20))[::-1]
    reordered = write_csv(tmp_path / "rev.csv", example.X, NAMES, order)
    out = tmp_path / "p.npy"
    assert run(["predict", MODEL, reordered, "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), example.pred)
    shuffled = list(np.random.default_rng(1).permutation(20))
    mixed = write_csv(tmp_path / "mixed.csv", example.X, [f" {n} " for n in NAMES], shuffled)  # spaces: stripped
    assert run(["predict", MODEL, mixed, "-o", out, "--margin"], capsys)[0] == 0
    assert np.array_equal(np.load(out), example.margin)


def test_csv_missing_or_extra_column_is_named(tmp_path, example, capsys):
    missing = write_csv(tmp_path / "m.csv", example.X[:, :19], NAMES[:19])
    refused(["predict", MODEL, missing], capsys, "m.csv", "no column named 'f19'")
    extra = tmp_path / "x.csv"
    extra.write_text("id," + ",".join(NAMES) + "\n" + "\n".join(f"{i}," + ",".join(_cell(v) for v in row)
                                                                for i, row in enumerate(example.X)))
    refused(["predict", MODEL, extra], capsys, "x.csv", "column 'id' is not a feature of the model")
    twice = tmp_path / "t.csv"
    twice.write_text(",".join(NAMES[:19] + ["f0"]) + "\n" + ",".join(["1"] * 20) + "\n")
    refused(["predict", MODEL, twice], capsys, "'f0' appears twice (columns 1 and 20)")


def test_non_numeric_cells_are_refused_with_line_and_column(tmp_path, example, capsys):
    # these cells used to become missing values, and the rows were predicted anyway
    path = Path(write_csv(tmp_path / "bad.csv", example.X[:5], NAMES))
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[6] = "abc"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines))
    refused(["predict", MODEL, path, "-o", tmp_path / "o.csv"], capsys,
            "bad.csv: line 4, column 7 (f6): 'abc' is not a number")
    assert not (tmp_path / "o.csv").exists()
    cells = lines[1].split(",")
    cells[6], cells[19] = repr(float(example.X[0, 6])), "red"
    lines[1], lines[3] = ",".join(cells), ",".join(_cell(v) for v in example.X[2])
    path.write_text("\n".join(lines))
    refused(["predict", MODEL, path], capsys, "line 2, column 20 (f19): 'red' is not a number")


def test_missing_markers_are_missing(tmp_path, example, capsys):
    X = example.X[:6].copy()
    X[:, 3] = np.nan
    path = Path(write_csv(tmp_path / "na.csv", X, NAMES))
    lines = path.read_text().splitlines()
    for i, marker in enumerate(["NA", "nan", "NaN", " ", "null", "N/A"], 1):
        cells = lines[i].split(",")
        cells[3] = marker
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n\n")  # and a trailing blank line
    out = tmp_path / "o.npy"
    assert run(["predict", MODEL, path, "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), example.booster.predict(example.xgb.DMatrix(X, feature_names=NAMES)))
    X[:, 5] = -999.0
    sentinel = write_csv(tmp_path / "s.csv", X, NAMES)
    assert run(["predict", MODEL, sentinel, "-o", out, "--missing", "-999"], capsys)[0] == 0
    dm = example.xgb.DMatrix(X, feature_names=NAMES, missing=-999.0)
    assert np.array_equal(np.load(out), example.booster.predict(dm))


def test_ragged_row_is_refused(tmp_path, example, capsys):
    path = Path(write_csv(tmp_path / "r.csv", example.X[:3], NAMES))
    path.write_text(path.read_text() + "1,2,3\n")
    refused(["predict", MODEL, path], capsys, "r.csv: line 5 has 3 cells; expected 20 (as the header has)")


def test_headerless_csv_with_bad_first_row_is_not_taken_as_header(tmp_path, example, capsys):
    # the first row used to be dropped as a header when one of its cells was not a number
    path = Path(write_csv(tmp_path / "plain.csv", example.X))
    good = path.read_text()
    refused(["predict", MODEL, path], capsys, "line 1 holds numbers, not a header", "--no-header")
    first, rest = good.split("\n", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("red," + first.split(",", 1)[1] + "\n" + rest)
    refused(["predict", MODEL, bad], capsys, "names none of the model's features", "pass --no-header")
    refused(["predict", MODEL, bad, "--no-header"], capsys, "bad.csv: line 1, column 1: 'red' is not a number")
    out = tmp_path / "o.npy"
    assert run(["predict", MODEL, path, "--no-header", "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), example.pred)
    narrow = write_csv(tmp_path / "narrow.csv", example.X[:, :19])
    refused(["predict", MODEL, narrow, "--no-header"], capsys, "line 1 has 19 cells but the model expects 20")


def test_feature_names_that_are_numbers(tmp_path, capsys):
    # a DataFrame with integer column labels gives a model named "0", "1", ...: its header is all numbers
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    names = ["0", "1", "2"]
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, X[:, 0] - X[:, 2], feature_names=names), 3)
    model = tmp_path / "m.json"
    booster.save_model(model)
    path = write_csv(tmp_path / "x.csv", X, names, [2, 0, 1])
    out = tmp_path / "o.npy"
    assert run(["predict", model, path, "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), booster.predict(xgb.DMatrix(X, feature_names=names)))


def test_model_without_names_reads_columns_by_position(tmp_path, capsys):
    data = np.load(FIXTURES / "reg_squarederror.npz")
    X, model = data["X"], FIXTURES / "reg_squarederror.json"
    out = tmp_path / "o.npy"
    plain = write_csv(tmp_path / "plain.csv", X)
    assert run(["predict", model, plain, "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), data["output"])
    names = [f"c{j}" for j in range(X.shape[1])]
    headed = write_csv(tmp_path / "headed.csv", X, names)
    refused(["predict", model, headed], capsys, "line 1, column 1: 'c0' is not a number; if this line is a header, "
                                                "pass --header")
    assert run(["predict", model, headed, "--header", "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), data["output"])


def test_categorical_model_without_stored_categories_takes_codes(tmp_path, capsys):
    # XGBoost < 3.1 stores no categories: the codes are numbers in the file, and words are refused
    data = np.load(FIXTURES.parent / "3.0.5" / "cat_partition.npz")
    model = FIXTURES.parent / "3.0.5" / "cat_partition.ubj"
    names = ["x0", "x1", "x2", "x3", "x4", "x5", "c0", "c1"]
    path = Path(write_csv(tmp_path / "cat.csv", data["X"], names, [7, 6, 5, 4, 3, 2, 1, 0]))
    out = tmp_path / "o.npy"
    assert run(["predict", model, path, "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), data["output"])
    lines = path.read_text().splitlines()
    lines[2] = "blue," + lines[2].split(",", 1)[1]
    path.write_text("\n".join(lines))
    refused(["predict", model, path], capsys, "line 3, column 1 (c1): 'blue' is not a number")


def test_category_values_of_a_model_with_stored_categories(tmp_path):
    # a model that stores its training categories looks cells up by value: they reach it as values of
    # the categories' kind, in a {name: column} table (DataMatrix keeps its columns' types)
    stored = (None, SimpleNamespace(dtype="str", values=("red", "blue")), SimpleNamespace(dtype="int64", values=(7, 3)))
    features = SimpleNamespace(names=("size", "colour", "grade"), types=("q", "c", "c"), categories=stored,
                               categorical_mask=lambda n: np.array([False, True, True]))
    model = SimpleNamespace(num_features=3, features=features, meta=SimpleNamespace(source_library="xgboost"))
    path = tmp_path / "c.csv"
    path.write_text("grade,colour,size\n7, red ,1.5\n3.0,blue,\nNA,,2\n")  # 3.0: as pandas writes 3 beside NaN
    (table, _, _), = list(tabular.read(str(path), model))
    assert list(table) == ["size", "colour", "grade"]
    assert table["colour"].tolist() == ["red", "blue", None]
    assert table["grade"].tolist() == [7, 3, None] and type(table["grade"][0]) is int
    assert table["size"].dtype == np.float32 and np.array_equal(table["size"], [1.5, np.nan, 2.0], equal_nan=True)
    path.write_text("grade,colour,size\n7.5,red,1\n")
    with pytest.raises(DataError, match=r"c.csv: line 2, column 1 \(grade\): '7.5' is not an integer category"):
        list(tabular.read(str(path), model))
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"colour": ["blue", None], "size": [1.0, 2.0], "grade": pa.array([3, 7], pa.int8())}),
                   tmp_path / "c.parquet")
    (table, _, _), = list(tabular.read(str(tmp_path / "c.parquet"), model))
    assert list(table) == ["size", "colour", "grade"]
    assert table["colour"].tolist() == ["blue", None] and table["grade"].tolist() == [3, 7]
    pq.write_table(pa.table({"colour": [1, 2], "size": [1.0, 2.0], "grade": [3, 7]}), tmp_path / "n.parquet")
    with pytest.raises(DataError, match="column 'colour' holds int64; expected strings; the model's categories"):
        list(tabular.read(str(tmp_path / "n.parquet"), model))


# --- other input formats ------------------------------------------------------------------------------

def test_npy_and_libsvm_by_position(tmp_path, example, capsys):
    npy = tmp_path / "x.npy"
    np.save(npy, example.X)
    svm = tmp_path / "x.libsvm"
    svm.write_text("\n".join("0 " + " ".join(f"{j}:{v!r}" for j, v in enumerate(row.tolist()) if v == v)
                             for row in example.X))
    svm1 = tmp_path / "x1.svm"
    svm1.write_text("\n".join("0 " + " ".join(f"{j + 1}:{v!r}" for j, v in enumerate(row.tolist()) if v == v)
                              for row in example.X))
    for data, extra in ((npy, []), (svm, []), (svm1, ["--one-based"])):
        out = tmp_path / f"{data.stem}.npy"
        assert run(["predict", MODEL, data, "-o", out, *extra], capsys)[0] == 0
        assert np.array_equal(np.load(out), example.pred), data
    refused(["predict", MODEL, svm1], capsys, "x1.svm: line 1: feature index 20 is outside the model's 20 features; "
                                              "if the file numbers features from 1, pass --one-based")
    refused(["predict", MODEL, svm, "--one-based"], capsys, "feature index 0 is outside", "indices start at 1")
    (tmp_path / "bad.svm").write_text("0 3:abc\n")
    refused(["predict", MODEL, tmp_path / "bad.svm"], capsys, "bad.svm: line 1: expected index:value", "'3:abc'")


def test_lightgbm_reads_files_in_float64(tmp_path, capsys):
    """A LightGBM model compares in float64: every file format is read at that precision (rows a
    float64 step above a threshold would go the other way in float32), and a value a libsvm line
    leaves out is 0, as LightGBM reads it, not missing."""
    lgb = pytest.importorskip("lightgbm")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    import scipy.sparse
    from test_lightgbm import near_thresholds

    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 4))
    X[rng.random(X.shape) < 0.1] = np.nan  # the features learn to send NaN one way (missing type NaN)
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 7, "num_threads": 1, "seed": 1},
                        lgb.Dataset(X, np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + rng.normal(size=400)), 12)
    model_path = tmp_path / "lgb.txt"
    booster.save_model(model_path)
    names = booster.feature_name()
    Z = near_thresholds(booster, np.nan_to_num(X))
    expected = booster.predict(Z)
    assert not np.array_equal(booster.predict(Z.astype(np.float32)), expected)
    csv = tmp_path / "z.csv"
    csv.write_text(",".join(names) + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in Z) + "\n")
    pq.write_table(pa.table({n: Z[:, j] for j, n in enumerate(names)}), tmp_path / "z.parquet")
    np.save(tmp_path / "z.npy", Z)
    for data in ("z.csv", "z.parquet", "z.npy"):
        out = tmp_path / f"{data}.npy"
        assert run(["predict", model_path, tmp_path / data, "-o", out], capsys)[0] == 0
        np.testing.assert_array_equal(np.load(out), expected, err_msg=data)
    S = np.where(rng.random(Z.shape) < 0.4, 0.0, Z)
    svm = tmp_path / "z.libsvm"
    svm.write_text("\n".join("0 " + " ".join(f"{j}:{v!r}" for j, v in enumerate(row.tolist()) if v != 0)
                             for row in S) + "\n")
    assert run(["predict", model_path, svm, "-o", tmp_path / "svm.npy"], capsys)[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "svm.npy"), booster.predict(scipy.sparse.csr_matrix(S)))
    assert not np.array_equal(booster.predict(np.where(S == 0, np.nan, S)), booster.predict(S))  # 0 is not NaN here


def test_lightgbm_categories_from_files_by_value(tmp_path, capsys):
    """A LightGBM model trained on a frame stores its categories (pandas_categorical): a file's
    text or integer cells are looked up by value, as lightgbm codes the frame, never read as codes."""
    lgb = pytest.importorskip("lightgbm")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(6)
    n = 400
    frame = pd.DataFrame({"a": rng.normal(size=n), "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
                          "size": pd.Categorical(rng.choice([10, 20, 30], n))})
    y = (frame.colour == "red") * 2 + (frame["size"] == 20) * 3 + frame.a + rng.normal(size=n) * 0.1
    booster = lgb.train({"objective": "regression", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1,
                         "num_threads": 1}, lgb.Dataset(frame, y), 20)
    booster.save_model(tmp_path / "lgb.txt")
    test = frame.iloc[:60].copy()
    test.loc[test.index[::7], "colour"] = np.nan
    expected = booster.predict(test)
    test.to_csv(tmp_path / "t.csv", index=False, float_format="%.17g")
    test.to_parquet(tmp_path / "t.parquet")
    for data in ("t.csv", "t.parquet"):
        out = tmp_path / f"{data}.npy"
        assert run(["predict", tmp_path / "lgb.txt", tmp_path / data, "-o", out], capsys)[0] == 0
        np.testing.assert_array_equal(np.load(out), expected, err_msg=data)
    floats = frame.assign(size=pd.Categorical(frame["size"].astype(float) / 4))
    lgb.train({"objective": "regression", "verbose": -1, "min_data_per_group": 5, "num_threads": 1},
              lgb.Dataset(floats, y), 3).save_model(tmp_path / "floats.txt")
    refused(["predict", tmp_path / "floats.txt", tmp_path / "t.csv"], capsys, "feature 'size'", "neither all text")


def test_parquet_and_arrow_input_by_name(tmp_path, example, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(example.X, columns=NAMES)
    frame[NAMES[::-1]].to_parquet(tmp_path / "x.parquet")
    frame[NAMES[::-1]].to_feather(tmp_path / "x.feather")
    frame.astype("float64").to_feather(tmp_path / "x.arrow")
    for data in ("x.parquet", "x.feather", "x.arrow"):
        out = tmp_path / "o.npy"
        assert run(["predict", MODEL, tmp_path / data, "-o", out, "--leaf"], capsys)[0] == 0
        assert np.array_equal(np.load(out), example.leaf), data
    frame.set_axis([f"row{i}" for i in range(200)]).to_parquet(tmp_path / "indexed.parquet")
    import pyarrow.parquet as pq

    assert pq.read_schema(tmp_path / "indexed.parquet").names[-1] == "__index_level_0__"  # pandas' index: not data
    assert run(["predict", MODEL, tmp_path / "indexed.parquet", "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), example.pred)
    frame.assign(label=1).to_parquet(tmp_path / "extra.parquet")
    refused(["predict", MODEL, tmp_path / "extra.parquet"], capsys, "column 'label' is not a feature of the model")
    frame.assign(f3="x").to_parquet(tmp_path / "text.parquet")
    refused(["predict", MODEL, tmp_path / "text.parquet"], capsys, "column 'f3' holds ", "string; expected numbers")
    refused(["predict", MODEL, tmp_path / "x.parquet", "--no-header"], capsys, "apply to .csv input")
    frame.assign(f5=frame["f5"].round().astype("category")).to_feather(tmp_path / "dict.feather")
    refused(["predict", MODEL, tmp_path / "dict.feather"], capsys, "column 'f5' holds dictionary",
            "would be a guess")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    refused(["predict", MODEL, tmp_path / "junk.parquet"], capsys, "junk.parquet: cannot read as Parquet")


def test_arrow_integer_bool_and_null_columns(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    xgb = pytest.importorskip("xgboost")
    import pyarrow.parquet as pq

    data = np.load(FIXTURES / "feature_names_types.npz")
    names = ["age", "income", "n_items", "ratio", "is_member", "score_a", "score_b", "delta"]
    X = data["X"].copy()
    X[:, 0] = np.round(np.nan_to_num(X[:, 0]) * 10)
    X[:, 4] = np.nan_to_num(X[:, 4]) > 0
    columns = {n: pa.array(X[:, j]) for j, n in enumerate(names)}
    columns["age"] = pa.array(X[:, 0].astype(np.int64))
    columns["is_member"] = pa.array([bool(v) if i % 7 else None for i, v in enumerate(X[:, 4])])
    X[::7, 4] = np.nan
    pq.write_table(pa.table(columns), tmp_path / "t.parquet")
    model = FIXTURES / "feature_names_types.ubj"
    out = tmp_path / "o.npy"
    assert run(["predict", model, tmp_path / "t.parquet", "-o", out], capsys)[0] == 0
    booster = xgb.Booster(model_file=str(model))
    assert np.array_equal(np.load(out), booster.predict(xgb.DMatrix(X, feature_names=names)))


# --- output formats -----------------------------------------------------------------------------------

def test_parquet_output_is_parquet(tmp_path, example, capsys):
    # it used to be CSV text under a .parquet name
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow.feather as feather

    out = tmp_path / "p.parquet"
    assert run(["predict", MODEL, EXAMPLES / "data.csv", "-o", out], capsys)[0] == 0
    table = pq.read_table(out)
    assert table.column_names == ["prediction"]
    assert np.array_equal(table.column(0).to_numpy(), example.pred)
    for suffix in ("arrow", "feather"):
        out = tmp_path / f"m.{suffix}"
        assert run(["predict", MODEL, EXAMPLES / "data.csv", "-o", out, "--leaf"], capsys)[0] == 0
        table = feather.read_table(out)
        assert table.column_names == [f"leaf_{t}" for t in range(100)]
        assert np.array_equal(np.column_stack([c.to_numpy() for c in table.columns]), example.leaf)


def test_multi_output_columns(tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    data = np.load(FIXTURES / "multi_softprob.npz")
    npy = tmp_path / "x.npy"
    np.save(npy, data["X"])
    out = tmp_path / "p.parquet"
    assert run(["predict", FIXTURES / "multi_softprob.json", npy, "-o", out, "--margin"], capsys)[0] == 0
    table = pq.read_table(out)
    k = data["margin"].shape[1]
    assert table.column_names == [f"margin_{j}" for j in range(k)]
    assert np.array_equal(np.column_stack([c.to_numpy() for c in table.columns]), data["margin"])
    csv = tmp_path / "p.csv"
    assert run(["predict", FIXTURES / "multi_softprob.json", npy, "-o", csv], capsys)[0] == 0
    assert np.array_equal(np.loadtxt(csv, delimiter=",", dtype=np.float32), data["output"])


def test_chunked_reading_gives_the_same_predictions(tmp_path, example, capsys, monkeypatch):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    monkeypatch.setattr(tabular, "CHUNK_CELLS", 1)
    monkeypatch.setattr(tabular, "MIN_CHUNK_ROWS", 7)  # 200 rows in 29 chunks
    frame = pd.DataFrame(example.X, columns=NAMES)
    frame.to_parquet(tmp_path / "x.parquet", row_group_size=50)
    frame.to_feather(tmp_path / "x.feather", chunksize=60)
    np.save(tmp_path / "x.npy", example.X)
    inputs = [EXAMPLES / "data.csv", tmp_path / "x.parquet", tmp_path / "x.feather", tmp_path / "x.npy"]
    chunks = list(tabular.read(str(inputs[0]), SimpleNamespace(num_features=20, features=SimpleNamespace(
        names=tuple(NAMES), types=None, categorical_mask=lambda n: np.zeros(n, bool)),
        meta=SimpleNamespace(source_library="xgboost"))))
    assert [len(c) for c, _, _ in chunks] == [7] * 28 + [4]
    for data in inputs:
        for suffix in ("npy", "csv", "parquet", "arrow"):
            out = tmp_path / f"o.{suffix}"
            assert run(["predict", MODEL, data, "-o", out, "--margin"], capsys)[0] == 0
            assert np.array_equal(read_output(out), example.margin), (data, suffix)
    assert run(["predict", MODEL, inputs[0], "-o", tmp_path / "leaf.npy", "--leaf"], capsys)[0] == 0
    assert np.array_equal(np.load(tmp_path / "leaf.npy"), example.leaf)


def test_empty_input(tmp_path, capsys):
    npy = tmp_path / "e.npy"
    np.save(npy, np.zeros((0, 20), np.float32))
    out = tmp_path / "o.npy"
    assert run(["predict", MODEL, npy, "-o", out], capsys)[0] == 0
    assert np.load(out).shape == (0,)
    header_only = write_csv(tmp_path / "h.csv", np.zeros((0, 20), np.float32), NAMES)
    assert run(["predict", MODEL, header_only, "-o", out, "--leaf"], capsys)[0] == 0
    assert np.load(out).shape == (0, 100)
    (tmp_path / "empty.csv").write_text("")
    refused(["predict", MODEL, tmp_path / "empty.csv"], capsys, "empty.csv is empty; expected a header row")


def test_output_is_written_atomically(tmp_path, example, capsys, monkeypatch):
    monkeypatch.setattr(tabular, "MIN_CHUNK_ROWS", 7)
    monkeypatch.setattr(tabular, "CHUNK_CELLS", 1)
    out = tmp_path / "o.csv"
    out.write_text("previous\n")
    path = Path(write_csv(tmp_path / "late.csv", example.X, NAMES))
    lines = path.read_text().splitlines()
    lines[150] = "oops," + lines[150].split(",", 1)[1]  # found after many chunks were written
    path.write_text("\n".join(lines))
    refused(["predict", MODEL, path, "-o", out], capsys, "line 151, column 1 (f0): 'oops' is not a number")
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.csv", "o.csv"]  # no temporary file left


def test_unknown_formats_are_refused(tmp_path, capsys):
    refused(["predict", MODEL, EXAMPLES / "data.csv", "-o", tmp_path / "p.json"], capsys,
            "unknown output format '.json'; expected one of .csv, .npy, .parquet, .arrow, .feather")
    refused(["predict", MODEL, tmp_path / "x.xlsx"], capsys, "x.xlsx: unknown data format '.xlsx'")
    refused(["predict", MODEL, tmp_path / "absent.csv"], capsys, "absent.csv: cannot read: No such file")


def test_missing_pyarrow_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    refused(["predict", MODEL, EXAMPLES / "data.csv", "-o", tmp_path / "p.parquet"], capsys, "gbinfer[arrow]")
    refused(["predict", MODEL, tmp_path / "x.feather"], capsys, "needs the 'pyarrow' package")
    assert not (tmp_path / "p.parquet").exists()


# --- arguments and failures ------------------------------------------------------------------------

def test_margin_and_leaf_are_mutually_exclusive(capsys):
    # --margin --leaf used to give leaves without a word
    with pytest.raises(SystemExit) as exc:
        main(["predict", MODEL, str(EXAMPLES / "data.csv"), "--margin", "--leaf"])
    assert exc.value.code == 2
    assert "not allowed with argument --margin" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["predict", MODEL, str(EXAMPLES / "data.csv"), "--header", "--no-header"])
    assert exc.value.code == 2


def test_margin_leaf_and_range(tmp_path, example, capsys):
    npy = tmp_path / "x.npy"
    np.save(npy, example.X)
    out = tmp_path / "m.npy"
    assert run(["predict", MODEL, npy, "-o", out, "--margin", "--iteration-range", "0", "10"], capsys)[0] == 0
    dm = example.xgb.DMatrix(example.X, feature_names=NAMES)
    assert np.array_equal(np.load(out), example.booster.predict(dm, output_margin=True, iteration_range=(0, 10)))
    assert run(["predict", MODEL, npy, "-o", out, "--leaf"], capsys)[0] == 0
    assert np.array_equal(np.load(out), example.leaf)
    refused(["predict", MODEL, npy, "--iteration-range", "5", "500"], capsys, "iteration_range (5, 500)")


def test_unwritable_output_is_one_line(tmp_path, capsys):
    # used to end in a raw traceback
    refused(["predict", MODEL, EXAMPLES / "data.csv", "-o", tmp_path / "no" / "such" / "dir.csv"], capsys,
            "cannot write", "dir.csv")
    (tmp_path / "d.csv").mkdir()
    refused(["predict", MODEL, EXAMPLES / "data.csv", "-o", tmp_path / "d.csv"], capsys, "cannot write", "d.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]  # no temporary file left


def test_broken_or_full_stdout_is_one_line_in_process(capsys, monkeypatch):
    import errno

    class Failing:
        def __init__(self, error):
            self.error = error

        def write(self, *text):
            raise self.error(getattr(errno, "EPIPE" if self.error is BrokenPipeError else "ENOSPC"), "refused")

        flush = write

    monkeypatch.setattr(sys, "stdout", Failing(BrokenPipeError))
    assert main(["predict", MODEL, str(EXAMPLES / "data.csv")]) == 2
    err = capsys.readouterr().err
    assert err == "gbinfer: error: standard output was closed before all output was written (broken pipe)\n"
    monkeypatch.setattr(sys, "stdout", Failing(OSError))  # a full disk
    assert main(["predict", MODEL, str(EXAMPLES / "data.csv")]) == 2
    assert capsys.readouterr().err == "gbinfer: error: standard output: cannot write: refused\n"


def _gbinfer(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "gbinfer", *map(str, args)], env={**os.environ,
                            "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True, **kw)


def test_python_m_gbinfer_version_and_broken_pipe(tmp_path):
    version = _gbinfer("--version", stdout=subprocess.PIPE)
    out, err = version.communicate(timeout=120)
    import gbinfer

    assert version.returncode == 0 and out == f"gbinfer {gbinfer.__version__}\n", err
    npy = tmp_path / "x.npy"
    np.save(npy, np.random.default_rng(0).normal(size=(20000, 20)).astype(np.float32))  # > a pipe's buffer
    proc = _gbinfer("predict", MODEL, npy, stdout=subprocess.PIPE)
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 2
    assert err == "gbinfer: error: standard output was closed before all output was written (broken pipe)\n"


def test_cli_imports_no_optional_dependency():
    code = ("import sys, gbinfer.cli; "
            "print(sorted(m for m in ('pyarrow', 'pandas', 'tqdm') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_progress_only_on_a_terminal(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(progress, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    chunks = [(np.zeros((5, 2)), 50, 100), (np.zeros((5, 2)), 100, 100)]
    shown, hidden = Terminal(), io.StringIO()
    assert [len(c) for c in progress.track(iter(chunks), "gbinfer: x.csv", shown)] == [5, 5]
    assert "gbinfer: x.csv:  50.0%, 5 rows" in shown.getvalue() and shown.getvalue().endswith("\r\033[K")
    assert len(list(progress.track(iter(chunks), "x", hidden))) == 2
    assert hidden.getvalue() == ""


# --- other commands -----------------------------------------------------------------------------------

def test_inspect_and_warmup(capsys):
    assert main(["inspect", MODEL]) == 0
    text = capsys.readouterr().out
    for expected in ("xgboost 3.2.0", "binary:logistic", "trees:       100", "depth:", "features:    20", "f0:q"):
        assert expected in text
    assert main(["warmup", MODEL]) == 0


def test_convert_and_inspect_catboost(tmp_path, capsys):
    """A CatBoost JSON model with CTRs converts to .xgbrs, native JSON and .apr, and back through
    each; catboost's raw values come out bit for bit."""
    cb = pytest.importorskip("catboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=300), "town": rng.choice(["a", "b", "c", "d", "e"], 300)})
    y = (frame["town"].isin(["a", "c"]) ^ (frame["x"] > 0)).astype(int)
    m = cb.CatBoostClassifier(iterations=6, depth=3, verbose=0, thread_count=1, random_seed=0,
                              allow_writing_files=False, one_hot_max_size=1)
    m.fit(frame, y, cat_features=["town"])
    src = tmp_path / "cb.json"
    m.save_model(str(src), format="json")
    ref = m.predict(frame, prediction_type="RawFormulaVal")
    rows = frame.to_numpy(dtype=object)
    previous = src
    for suffix in (".xgbrs", ".json", ".apr"):
        dst = tmp_path / f"m{suffix}"
        assert run(["convert", previous, dst, "--name", "towns"], capsys)[0] == 0
        assert np.array_equal(gbinfer.load(dst).predict(rows, output_margin=True), ref), suffix
        previous = dst
    code, out, _ = run(["inspect", tmp_path / "m.xgbrs"], capsys)
    assert code == 0
    for expected in ("schema 1.4", "source:      catboost 1.", "objective:   Logloss", "oblivious", "CTRs:        ",
                     "name:        towns", "town:c"):
        assert expected in out, (expected, out)
    assert "CTRs:        0" not in out
    code, out, _ = run(["inspect", tmp_path / "m.json"], capsys)
    assert code == 0 and "container:   json, schema 1.4" in out


def test_predict_catboost_categories_from_csv_and_parquet(tmp_path, capsys):
    """A CatBoost model's categorical columns are read as CatBoost reads them, as their text
    (strings, and integers written as text), from CSV with its columns in another order and
    from Parquet: predictions equal catboost's on the same frame. A missing categorical cell is
    refused, as catboost refuses it."""
    cb = pytest.importorskip("catboost")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "town": rng.choice(["north", "south", "east", "west"], n),
                          "grade": rng.choice([3, 7, 11], n)})
    y = (frame["town"].isin(["north", "east"]) ^ (frame["x"] > 0) ^ (frame["grade"] == 7)).astype(int)
    m = cb.CatBoostClassifier(iterations=20, depth=4, verbose=0, thread_count=1, random_seed=0,
                              allow_writing_files=False)
    m.fit(frame, y, cat_features=["town", "grade"])
    model = tmp_path / "towns.cbm"
    m.save_model(str(model))
    test = frame.iloc[:60]
    ref = m.predict(test, prediction_type="Probability")[:, 1]
    csv = tmp_path / "test.csv"
    test[["grade", "x", "town"]].to_csv(csv, index=False, float_format="%.17g")
    parquet = tmp_path / "test.parquet"
    test.to_parquet(parquet)
    for data in (csv, parquet):
        out = tmp_path / f"{data.stem}{data.suffix}.npy"
        assert run(["predict", model, data, "-o", out], capsys)[0] == 0, data
        assert np.array_equal(read_output(out), ref), data  # float64, as catboost
    holes = tmp_path / "holes.csv"
    holes.write_text("x,town,grade\n0.5,north,3\n0.25,,7\n")
    refused(["predict", model, holes], capsys, "town")


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    refused(["inspect", bad], capsys, "bad.json")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 3), np.float32))
    refused(["predict", MODEL, wrong], capsys, "3 columns")


def test_csv_categories_by_value_match_xgboost(tmp_path, capsys):
    # a model trained on a DataFrame stores its categories: CSV words are looked up by value, so a
    # file listing them in any order gives XGBoost's predictions for the same frame
    xgb = pytest.importorskip("xgboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(7)
    colours, grades = ["red", "green", "blue", "violet"], [30, 10, 20]
    n = 400
    train = pd.DataFrame({"size": rng.normal(size=n).astype(np.float32),
                          "colour": pd.Categorical(rng.choice(colours, n), categories=colours),
                          "grade": pd.Categorical(rng.choice(grades, n), categories=grades)})
    y = (train["colour"].isin(["green", "violet"]) ^ (train["size"] > 0)).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_cat_to_onehot": 1, "max_depth": 3},
                        xgb.DMatrix(train, y, enable_categorical=True), 8)
    model = tmp_path / "cat.ubj"
    booster.save_model(model)
    test = pd.DataFrame({"size": rng.normal(size=50).astype(np.float32),
                         "colour": pd.Categorical(rng.choice(colours, 50), categories=colours[::-1]),
                         "grade": pd.Categorical(rng.choice(grades, 50), categories=sorted(grades))})
    test.loc[3, "colour"] = np.nan
    expected = booster.predict(xgb.DMatrix(test, enable_categorical=True))
    path = tmp_path / "rows.csv"
    test[["grade", "colour", "size"]].to_csv(path, index=False)
    out = tmp_path / "p.npy"
    assert run(["predict", model, path, "-o", out], capsys)[0] == 0
    assert np.array_equal(np.load(out), expected)
    path.write_text("grade,colour,size\n10,purple,0.5\n")
    refused(["predict", model, path], capsys, "purple")
