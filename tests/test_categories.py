"""Categorical input re-coded by value through the model's training categories, as XGBoost 3.1+ does.

Every reference value is XGBoost's own prediction on the same input, from models trained here.
"""

from __future__ import annotations

from pathlib import Path

import json

import numpy as np
import orjson
import pytest

import gbinfer
from gbinfer.errors import DataError, ModelFormatError
from gbinfer.serialization import schema

xgb = pytest.importorskip("xgboost")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "schema" / "v1"
COLORS = ["red", "green", "blue", "yellow"]
SIZES = [10, 20, 30]
PARAMS = {"nthread": 1, "seed": 0, "max_depth": 3, "eta": 0.5, "tree_method": "hist", "max_cat_to_onehot": 1}


def _train_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    color = rng.choice(COLORS, n).astype(object)
    color[rng.random(n) < 0.05] = None
    frame = pd.DataFrame({"x": rng.normal(size=n),
                          "color": pd.Categorical(color, categories=COLORS),
                          "size": pd.Categorical(rng.choice(SIZES, n), categories=SIZES)})
    y = (frame["color"] == "green").to_numpy() * 1.0 + (frame["color"] == "yellow").to_numpy() * 2.0 \
        + (frame["size"] == 20).to_numpy() * 0.5 + 0.1 * frame["x"].to_numpy()
    return frame, y


@pytest.fixture(scope="module")
def trained():
    """(booster, gbinfer model from its JSON, gbinfer model from its UBJ)."""
    frame, y = _train_frame()
    bst = xgb.train({**PARAMS, "objective": "reg:squarederror"}, xgb.DMatrix(frame, y, enable_categorical=True), 8)
    return bst, gbinfer.load(bytes(bst.save_raw("json"))), gbinfer.load(bytes(bst.save_raw("ubj")))


def _frame(x, color, size, color_categories=None, size_categories=None):
    return pd.DataFrame({"x": np.asarray(x, dtype=np.float64),
                         "color": pd.Categorical(color, categories=color_categories),
                         "size": pd.Categorical(size, categories=size_categories)})


def _xgb_margin(bst, data, **kw):
    return bst.inplace_predict(data, predict_type="margin", **kw)


def _assert_xgboost(bst, model, frame, **kw):
    expected = _xgb_margin(bst, frame, **kw)
    got = model.predict(gbinfer.DataMatrix(frame, **kw), output_margin=True)
    assert got.dtype == np.float32
    assert np.array_equal(got, expected, equal_nan=True)
    return got


def _codes_prediction(model, frame):
    """What reading the frame's own codes (no re-coding) would give."""
    X = np.column_stack([frame["x"].to_numpy()] + [
        np.where(frame[c].cat.codes < 0, np.nan, frame[c].cat.codes) for c in ("color", "size")]).astype(np.float32)
    return model.predict(X, output_margin=True)


# --- the container -------------------------------------------------------------------------------

def test_training_categories_are_read_from_json_and_ubj(trained):
    _, from_json, from_ubj = trained
    for model in (from_json, from_ubj):
        cats = model.features.categories
        assert cats[0] is None
        assert cats[1].dtype == "str" and cats[1].values == tuple(COLORS)
        assert cats[2].dtype == "int64" and cats[2].values == tuple(SIZES)
    assert from_json.features == from_ubj.features


def test_models_trained_from_arrays_store_no_categories():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=200), rng.integers(0, 4, 200)])
    bst = xgb.train(PARAMS, xgb.DMatrix(X, X[:, 1] == 2, feature_types=["q", "c"], enable_categorical=True), 3)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    assert model.features.categories is None and model.features.types == ("q", "c")


def test_dart_categories_are_read():
    frame, y = _train_frame(seed=3)
    bst = xgb.train({**PARAMS, "booster": "dart", "rate_drop": 0.3, "skip_drop": 0.0},
                    xgb.DMatrix(frame, y, enable_categorical=True), 5)
    model = gbinfer.load(bytes(bst.save_raw("ubj")))
    assert model.features.categories[1].values == tuple(COLORS)
    test = _frame([0.3, -1.0], ["yellow", "green"], [30, 20])
    assert np.array_equal(model.predict(test, output_margin=True),
                          bst.predict(xgb.DMatrix(test, enable_categorical=True), output_margin=True))


# --- findings: the frame's own codes are not the training codes --------------------------------

def test_one_row_frame_is_recoded_by_value(trained):
    """pd.Categorical(["green"]) has one category, so its code is 0 ("red" in training)."""
    bst, model, _ = trained
    one = _frame([0.2], ["green"], [20])
    got = _assert_xgboost(bst, model, one)
    assert not np.array_equal(got, _codes_prediction(model, one))
    assert np.array_equal(model.predict(one), bst.inplace_predict(one))


def test_categories_in_another_order_change_nothing(trained):
    bst, model, _ = trained
    rows = (np.linspace(-1, 1, 8), COLORS * 2, SIZES * 2 + SIZES[:2])
    same = _assert_xgboost(bst, model, _frame(*rows, COLORS, SIZES))
    reordered = _frame(*rows, COLORS[::-1], SIZES[::-1])
    assert np.array_equal(_assert_xgboost(bst, model, reordered), same)
    assert not np.array_equal(_codes_prediction(model, reordered), same)


def test_subset_of_categories_is_recoded(trained):
    bst, model, _ = trained
    subset = _frame([0.0, 0.5, -0.5], ["yellow", "blue", "yellow"], [30, 30, 20])
    assert list(subset["color"].cat.categories) == ["blue", "yellow"]
    got = _assert_xgboost(bst, model, subset)
    assert not np.array_equal(got, _codes_prediction(model, subset))


def test_unseen_category_is_refused_naming_column_and_value(trained):
    _, model, _ = trained
    for value in ("zz", "aa", "gray"):  # after, before and between the training categories
        with pytest.raises(DataError, match=f"column 'color': category '{value}' was not seen"):
            model.predict(_frame([0.0], [value], [10]))
    with pytest.raises(DataError, match="column 'size': category 15 was not seen"):
        model.predict(_frame([0.0], ["red"], [15]))
    # an unseen category in the column's category list is refused even when no row holds it, as
    # XGBoost >= 3.3 does
    with pytest.raises(DataError, match="'purple'"):
        model.predict(_frame([0.0], ["red"], [10], color_categories=["red", "purple"]))


def test_unseen_category_sorting_last_is_refused_by_xgboost_too(trained):
    bst, model, _ = trained
    frame = _frame([0.0], ["zz"], [10])
    with pytest.raises(xgb.core.XGBoostError, match="not in the training set"):
        bst.inplace_predict(frame)
    with pytest.raises(DataError, match="'zz'"):
        model.predict(frame)


def test_float_column_for_categorical_feature_is_refused(trained):
    bst, model, _ = trained
    frame = pd.DataFrame({"x": [0.1], "color": [1.0], "size": pd.Categorical([20])})
    with pytest.raises(xgb.core.XGBoostError, match="data type doesn't match"):
        bst.inplace_predict(frame)
    with pytest.raises(DataError, match="column 'color' is numeric, but the model's feature was trained as "
                                        "categorical"):
        model.predict(frame)


def test_categorical_column_for_numeric_feature_is_refused(trained):
    bst, model, _ = trained
    frame = pd.DataFrame({"x": pd.Categorical(["a"]), "color": pd.Categorical(["red"]), "size": pd.Categorical([20])})
    with pytest.raises(xgb.core.XGBoostError, match="data type doesn't match"):
        bst.inplace_predict(frame)
    with pytest.raises(DataError, match="column 'x' holds categorical values"):
        model.predict(frame)


@pytest.mark.parametrize("column", [
    pytest.param(["0.1"], id="object-strings"),
    pytest.param(pd.array(["0.1"], dtype="string"), id="string-dtype"),
    pytest.param(np.array([{"a": 1}], dtype=object), id="object-dicts"),
    pytest.param([pd.Period("2020-01", freq="M")], id="period"),
    pytest.param([pd.Interval(0, 1)], id="interval"),
    pytest.param([pd.Timestamp("2020-01-01")], id="datetime"),
])
def test_non_numeric_column_for_numeric_feature_is_refused(trained, column):
    _, model, _ = trained
    frame = pd.DataFrame({"x": column, "color": pd.Categorical(["red"]), "size": pd.Categorical([20])})
    with pytest.raises(DataError, match="column 'x'"):
        model.predict(frame)


def test_category_type_mismatch_is_refused(trained):
    bst, model, _ = trained
    ints_for_strings = _frame([0.0], [1], [10])
    with pytest.raises(xgb.core.XGBoostError):
        bst.inplace_predict(ints_for_strings)
    with pytest.raises(DataError, match="column 'color' has categories of dtype category\\[int64\\].*strings"):
        model.predict(ints_for_strings)
    strings_for_ints = _frame([0.0], ["red"], ["10"])
    with pytest.raises(DataError, match="column 'size'.*integers \\(int64\\)"):
        model.predict(strings_for_ints)
    floats = _frame([0.0], ["red"], [10.0])
    with pytest.raises(xgb.core.XGBoostError, match="floating point"):
        bst.inplace_predict(floats)
    with pytest.raises(DataError, match="column 'size'"):
        model.predict(floats)


def test_integer_categories_of_another_width_match_by_value(trained):
    """XGBoost refuses int32 categories for an int64-trained feature; the values are unambiguous,
    so gbinfer matches them and predicts what the int64 frame gives."""
    bst, model, _ = trained
    wide = _frame([0.0, 1.0], ["red", "blue"], [30, 20])
    narrow = wide.assign(size=pd.Categorical(np.array([30, 20], dtype=np.int32)))
    assert np.array_equal(model.predict(narrow, output_margin=True), _assert_xgboost(bst, model, wide))


# --- DataMatrix argument problems ---------------------------------------------------------------

def test_duplicate_column_names_are_refused(trained):
    _, model, _ = trained
    frame = pd.DataFrame([[0.1, 0.2, 0.3]], columns=["x", "x", "size"])
    with pytest.raises(DataError, match="'x' more than once"):
        gbinfer.DataMatrix(frame)
    with pytest.raises(DataError, match="more than once"):
        gbinfer.DataMatrix(np.zeros((1, 2), np.float32), feature_names=["a", "a"])


def test_ragged_rows_are_refused():
    with pytest.raises(DataError, match="rectangular"):
        gbinfer.DataMatrix([[1.0, 2.0], [3.0]])
    with pytest.raises(DataError, match="column 'b' has 1 values"):
        gbinfer.DataMatrix({"a": [1.0, 2.0], "b": [1.0]})


def test_feature_types_of_another_width_are_refused():
    with pytest.raises(DataError, match="feature_types has 1 entries for 2 columns"):
        gbinfer.DataMatrix(np.zeros((1, 2), np.float32), feature_types=["q"])


def test_string_missing_value_is_refused():
    with pytest.raises(DataError, match="missing must be a number"):
        gbinfer.DataMatrix(np.zeros((1, 2)), missing="0")


# --- missing values ------------------------------------------------------------------------------

def test_missing_categories_follow_the_default_branch(trained):
    bst, model, _ = trained
    frame = _frame([0.0, 0.3, -0.3], ["green", None, np.nan], [10, 20, 30], COLORS[::-1])
    _assert_xgboost(bst, model, frame)


def test_missing_parameter_is_compared_with_the_frames_own_codes(trained):
    """XGBoost compares ``missing`` with the column's code before re-coding: with missing=0 the
    frame's first category is missing, whatever its training code."""
    bst, model, _ = trained
    frame = _frame([0.1, 0.1, 0.1], ["green", "blue", None], [20, 10, 30], ["blue", "green"])
    got = _assert_xgboost(bst, model, frame, missing=0.0)
    assert not np.array_equal(got, _xgb_margin(bst, frame))


# --- other ways to pass categorical values ------------------------------------------------------

def test_string_columns_are_recoded_like_categories(trained):
    """What the CLI passes from CSV or Parquet: plain strings (XGBoost itself refuses them)."""
    bst, model, _ = trained
    frame = _frame([0.0, 1.0, -1.0, 0.5], ["yellow", "red", None, "green"], [20, 10, 30, 20])
    expected = _xgb_margin(bst, frame)
    for dtype in (object, "string", "str"):
        strings = frame.assign(color=frame["color"].astype(object).astype(dtype))
        assert np.array_equal(model.predict(strings, output_margin=True), expected, equal_nan=True), dtype
    ints = frame.assign(size=frame["size"].astype("int64").astype(object))  # Python ints: by value too
    assert np.array_equal(model.predict(ints, output_margin=True), expected)


def test_string_columns_need_stored_categories():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=200), rng.integers(0, 4, 200)])
    bst = xgb.train(PARAMS, xgb.DMatrix(X, X[:, 1] == 2, feature_types=["q", "c"], enable_categorical=True), 3)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    with pytest.raises(DataError, match="stores no training categories"):
        model.predict(pd.DataFrame({"f0": [0.1], "f1": ["a"]}))


def test_models_without_categories_read_the_frames_codes():
    """A model that stores no categories reads the column's own codes, as XGBoost does."""
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=200), rng.integers(0, 4, 200)])
    bst = xgb.train(PARAMS, xgb.DMatrix(X, (X[:, 1] == 2) + 0.1 * X[:, 0], feature_types=["q", "c"],
                                        enable_categorical=True), 3)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    for frame in (pd.DataFrame({"f0": [0.1, 0.2], "f1": pd.Categorical(["b", "a"], categories=["b", "a"])}),
                  pd.DataFrame({"f0": [0.1, 0.2], "f1": [2.0, 1.0]}),
                  pd.DataFrame({"f0": pd.Categorical(["a", "b"]), "f1": [2.0, 3.0]})):
        assert np.array_equal(model.predict(frame, output_margin=True), _xgb_margin(bst, frame))


def test_arrow_dictionary_columns_are_recoded(trained):
    bst, model, _ = trained
    frame = _frame([0.0, 1.0, -1.0], ["yellow", None, "green"], [20, 10, 30])
    table = pa.table({"x": frame["x"].to_numpy(),
                      "color": pa.array(["yellow", None, "green"]).dictionary_encode(),
                      "size": pa.array([20, 10, 30]).dictionary_encode()})
    assert np.array_equal(model.predict(table, output_margin=True), _xgb_margin(bst, frame), equal_nan=True)
    strings = pa.table({"x": frame["x"].to_numpy(), "color": ["yellow", None, "green"], "size": [20, 10, 30]})
    with pytest.raises(DataError, match="column 'size' is numeric"):
        model.predict(strings)
    strings = strings.set_column(2, "size", pa.array([20, 10, 30]).dictionary_encode())
    assert np.array_equal(model.predict(strings, output_margin=True), _xgb_margin(bst, frame), equal_nan=True)
    # a string dictionary for integer categories is a type mismatch, as for pandas
    only_strings = table.set_column(2, "size", pa.array(["20", "10", "30"]).dictionary_encode())
    with pytest.raises(DataError, match="column 'size'"):
        model.predict(only_strings)


def test_dict_of_columns(trained):
    bst, model, _ = trained
    frame = _frame([0.0, 1.0], ["yellow", "blue"], [20, 10])
    columns = {"x": [0.0, 1.0], "color": np.array(["yellow", "blue"]), "size": pd.Categorical([20, 10])}
    assert np.array_equal(model.predict(columns, output_margin=True), _xgb_margin(bst, frame))
    with pytest.raises(DataError, match="feature names differ"):
        model.predict({"x": [0.0], "colour": ["red"], "size": pd.Categorical([10])})


def test_numpy_rows_are_training_codes(trained):
    """Arrays carry no categories: their numbers are training codes, as XGBoost reads them."""
    bst, model, _ = trained
    X = np.array([[0.1, 1, 2], [0.2, 3, 0], [0.3, np.nan, 1]], dtype=np.float32)
    assert np.array_equal(model.predict(X, output_margin=True), _xgb_margin(bst, X), equal_nan=True)


def test_many_rows_with_every_category(trained):
    bst, model, _ = trained
    rng = np.random.default_rng(5)
    n = 1000  # above the parallel threshold
    color = rng.choice(COLORS + [None], n)
    frame = _frame(rng.normal(size=n), color, rng.choice(SIZES, n), ["yellow", "blue", "red", "green"], [30, 10, 20])
    _assert_xgboost(bst, model, frame)
    assert np.array_equal(model.predict_leaf(frame), bst.predict(xgb.DMatrix(frame, enable_categorical=True),
                                                                  pred_leaf=True))


# --- XGBoost <= 3.3's non-ASCII string tables -----------------------------------------------------

def test_non_ascii_categories_from_xgboost_before_3_4_refuse_recoding():
    cats = ["c", "b", "é", "d", "a"]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"s": pd.Categorical(rng.choice(cats, 200), categories=cats)})
    bst = xgb.train(PARAMS, xgb.DMatrix(frame, frame["s"].isin(["é", "a"]).to_numpy(), enable_categorical=True), 3)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    if tuple(int(v) for v in xgb.__version__.split(".")[:2]) >= (3, 4):
        assert model.features.categories[0].values == tuple(cats)
        return
    assert model.features.categories[0].dtype == "str" and model.features.categories[0].values is None
    codes = np.arange(5, dtype=np.float32).reshape(-1, 1)  # codes still predict as XGBoost reads them
    assert np.array_equal(model.predict(codes, output_margin=True), _xgb_margin(bst, codes))
    with pytest.raises(DataError, match="column 's'.*non-ASCII"):
        model.predict(frame)
    again = gbinfer.load(gbinfer.serialization.json.dumps(model))
    assert again.features == model.features


# --- malformed containers ----------------------------------------------------------------------

def _doc(trained):
    bst, _, _ = trained
    return orjson.loads(bytes(bst.save_raw("json")))


def _cats(doc):
    return doc["learner"]["gradient_booster"]["model"]["cats"]


def _set(path, value):
    def edit(doc):
        *parents, last = path
        target = _cats(doc)
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


def _drop(key):
    return lambda doc: _cats(doc).pop(key)


def _both(*edits):
    def edit(doc):
        for e in edits:
            e(doc)
    return edit


@pytest.mark.parametrize("edit,field", [
    (_drop("sorted_idx"), "cats/sorted_idx"),
    (_set(["enc"], [{"offsets": [], "values": []}]), "cats/enc"),
    (_set(["enc"], "x"), "cats/enc"),
    (_set(["feature_segments"], [0, 0, 4, 8]), "cats/feature_segments"),
    (_set(["feature_segments"], [0, 2, 4, 7]), "cats/feature_segments/1"),
    (_set(["feature_segments"], [0, 4, 0, 7]), "cats/feature_segments"),
    (_set(["sorted_idx"], [2, 1, 0, 0, 0, 1, 2]), "cats/sorted_idx"),
    (_set(["sorted_idx"], [2, 1, 0, 3, 0, 1, 2**40]), "cats/sorted_idx"),
    (_set(["enc", 1, "offsets"], [0, 3, 2, 12, 18]), "cats/enc/1/offsets"),
    (_set(["enc", 1, "offsets"], [0, 3, 8, 12, 19]), "cats/enc/1/offsets"),
    (_set(["enc", 1, "offsets"], [0, 3, 8, 12, 12, 18]), "cats/feature_segments/2"),
    (_set(["enc", 1, "values"], [500] * 18), "cats/enc/1/values"),
    (_set(["enc", 1, "values"], "red"), "cats/enc/1/values"),
    (_set(["enc", 1, "offsets"], [0, 3, 6, 12, 18]), None),  # "redgre" / "enblue": distinct, fine
    (_set(["enc", 2, "type"], 8), "cats/enc/2/type"),
    (_set(["enc", 2, "type"], 99), "cats/enc/2/type"),
    (_set(["enc", 2, "type"], "int64"), "cats/enc/2/type"),
    (_both(_set(["enc", 2, "type"], 9), _set(["enc", 2, "values"], [10, 20, 300])), "cats/enc/2/values"),
    (_set(["enc", 2, "values"], [10, 10, 30]), "cats/enc/2/values"),
    (_set(["enc", 2, "values"], [10, 2**70, 30]), "cats/enc/2/values"),
    (_set(["enc", 2, "values"], [10, True, 30]), "cats/enc/2/values"),
    (_set(["enc", 2], {"values": [1, 2, 3]}), "cats/enc/2"),
    (_set(["enc", 2], [1, 2, 3]), "cats/enc/2"),
    (_set(["enc", 0], {"offsets": [0, 1], "values": [97]}), "cats/enc/0"),
])
def test_malformed_container_is_refused_naming_the_field(trained, edit, field):
    doc = _doc(trained)
    edit(doc)
    data = json.dumps(doc).encode()  # the standard library writes integers of any size
    if field is None:
        gbinfer.load(data)
        return
    with pytest.raises(ModelFormatError) as err:
        gbinfer.load(data)
    assert err.value.field.endswith(field), err.value.field


def test_invalid_utf8_from_a_release_that_writes_bytes_is_refused(trained):
    doc = _doc(trained)
    doc["version"] = [3, 4, 0]
    _cats(doc)["enc"][1]["values"][0] = -1  # 0xff never appears in UTF-8
    with pytest.raises(ModelFormatError, match="UTF-8") as err:
        gbinfer.load(orjson.dumps(doc))
    assert err.value.field.endswith("cats/enc/1/values")


def test_numpy_trained_empty_container_and_missing_container_load(trained):
    doc = _doc(trained)
    doc["learner"]["gradient_booster"]["model"]["cats"] = {"enc": [], "feature_segments": [], "sorted_idx": []}
    assert gbinfer.load(orjson.dumps(doc)).features.categories is None
    del doc["learner"]["gradient_booster"]["model"]["cats"]
    assert gbinfer.load(orjson.dumps(doc)).features.categories is None
    doc["learner"]["gradient_booster"]["model"]["cats"] = {"enc": [], "feature_segments": [0], "sorted_idx": []}
    with pytest.raises(ModelFormatError, match="feature_segments"):
        gbinfer.load(orjson.dumps(doc))


# --- schema: .xgbrs and native JSON keep the categories ----------------------------------------

@pytest.mark.parametrize("suffix", [".xgbrs", ".json", ".apr"])
def test_schema_round_trip_keeps_categories_and_predictions(trained, tmp_path, suffix):
    bst, model, _ = trained
    path = tmp_path / f"m{suffix}"
    gbinfer.save(model, path)
    again = gbinfer.load(path)
    assert again.features == model.features
    frame = _frame([0.0, 1.0, -1.0], ["yellow", None, "green"], [20, 10, 30], COLORS[::-1])
    assert np.array_equal(again.predict(frame, output_margin=True), _xgb_margin(bst, frame), equal_nan=True)
    with pytest.raises(DataError, match="'zz'"):
        again.predict(_frame([0.0], ["zz"], [10]))


def test_schema_writes_integer_categories_as_decimal_strings(trained):
    _, model, _ = trained
    doc = orjson.loads(gbinfer.serialization.json.dumps(model))
    assert doc["gbinfer_schema"] == list(schema.SCHEMA_VERSION) and schema.SCHEMA_VERSION >= (1, 1)
    assert doc["features"]["categories"] == [None, COLORS, ["10", "20", "30"]]
    assert doc["features"]["category_types"] == [None, "str", "int64"]


@pytest.mark.parametrize("categories,types,match", [
    ([None, COLORS, ["10", "20", "x"]], [None, "str", "int64"], "not a decimal int64"),
    ([None, COLORS, ["10", "20", "010"]], [None, "str", "int64"], "not a decimal int64"),
    ([None, COLORS, ["10", "20", "300"]], [None, "str", "int8"], "not a decimal int8"),
    ([None, COLORS, ["10", "20", "-1"]], [None, "str", "uint8"], "not a decimal uint8"),
    ([None, ["a", "a"], ["10"]], [None, "str", "int64"], "more than once"),
    ([None, COLORS, ["10"]], [None, "str", None], "category_types/2"),
    ([None, COLORS, ["10"]], [None, "str", "float64"], "category_types"),
    ([None, COLORS, ["10"]], None, "category_types"),
    ([None, COLORS], [None, "str"], "features/categories"),
    ([None, COLORS, [10]], [None, "str", "int64"], "features/categories"),
])
def test_schema_refuses_malformed_categories(trained, categories, types, match):
    _, model, _ = trained
    doc = orjson.loads(gbinfer.serialization.json.dumps(model))
    doc["features"]["categories"] = categories
    doc["features"]["category_types"] = types
    with pytest.raises(ModelFormatError, match=match):
        gbinfer.load(orjson.dumps(doc))


def test_schema_1_0_golden_files_still_load():
    for path in sorted(GOLDEN.glob("*.json")):
        if path.name.startswith("schema-"):
            continue
        doc = orjson.loads(path.read_bytes())
        if doc["gbinfer_schema"] != [1, 0]:
            continue
        expected = np.load(path.with_suffix(".npz"))
        for model in (gbinfer.load(path), gbinfer.load(path.with_suffix(".xgbrs"))):
            assert model.features.categories is None
            assert np.array_equal(model.predict(expected["X"], output_margin=True), expected["margin"],
                                  equal_nan=True)


def test_schema_1_0_document_with_category_names_upgrades_to_strings(trained):
    _, model, _ = trained
    doc = orjson.loads(gbinfer.serialization.json.dumps(model))
    doc["gbinfer_schema"] = [1, 0]
    del doc["features"]["category_types"]
    doc["features"]["categories"] = [None, COLORS, None]
    again = gbinfer.load(orjson.dumps(doc))
    assert again.features.categories[1].values == tuple(COLORS) and again.features.categories[2] is None


@pytest.mark.parametrize("suffix", [".xgbrs", ".json"])
def test_schema_1_1_golden_file_predicts_frames_by_value(suffix):
    stored = np.load(GOLDEN / "categorical_values.npz")
    model = gbinfer.load(GOLDEN / f"categorical_values{suffix}")
    color = stored["frame_color"].astype(object)
    color[color == ""] = None
    frame = pd.DataFrame({
        "x": stored["frame_x"],
        "color": pd.Categorical(color, categories=list(stored["frame_color_categories"])),
        "size": pd.Categorical(stored["frame_size"], categories=list(stored["frame_size_categories"]))})
    assert model.features.categories[1].values == ("red", "green", "blue", "yellow", "violet")
    assert model.features.categories[2].values == (3, 10, 200)
    assert np.array_equal(model.predict(frame, output_margin=True), stored["frame_margin"])
    assert np.array_equal(model.predict(stored["X"], output_margin=True), stored["margin"])


# --- integer category types ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])  # xgboost 3.2 cannot train u16+
def test_integer_category_types_match_xgboost(dtype, tmp_path):
    info = np.iinfo(dtype)
    values = np.array([3, 7, info.max, info.min if info.min else 2], dtype=dtype)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"k": pd.Categorical(rng.choice(values, 200), categories=values)})
    y = (frame["k"] == values[2]).to_numpy() * 1.0 + (frame["k"] == values[0]).to_numpy() * 0.5
    bst = xgb.train(PARAMS, xgb.DMatrix(frame, y, enable_categorical=True), 2)
    test = pd.DataFrame({"k": pd.Categorical(values[::-1], categories=values[::-1])})
    for raw in ("json", "ubj"):
        model = gbinfer.load(bytes(bst.save_raw(raw)))
        assert model.features.categories[0] == gbinfer.model.TrainingCategories(dtype, tuple(int(v) for v in values))
        assert np.array_equal(model.predict(test, output_margin=True), _xgb_margin(bst, test))
        gbinfer.save(model, tmp_path / "m.json")
        assert gbinfer.load(tmp_path / "m.json").features == model.features


def test_unsigned_categories_stored_as_signed_bits_read_as_unsigned(trained):
    """UBJSON has no unsigned 64-bit type: XGBoost 3.4 writes uint64 categories as int64 bits."""
    from gbinfer.compat import ubjson, xgboost_json

    bst, _, _ = trained
    doc = ubjson.decode(bytes(bst.save_raw("ubj")), None)
    enc = _cats(doc)["enc"][2]
    enc["type"], enc["values"] = 16, np.array([10, -1, 30], dtype=np.int64)
    model = xgboost_json.from_document(doc)
    assert model.features.categories[2] == gbinfer.model.TrainingCategories("uint64", (10, 2**64 - 1, 30))
    again = gbinfer.load(gbinfer.serialization.json.dumps(model))
    assert again.features == model.features


# --- random frames against XGBoost --------------------------------------------------------------

@pytest.fixture(scope="module")
def multiclass():
    frame, y = _train_frame(seed=4)
    labels = np.digitize(y, [0.4, 1.4]).astype(float)
    return xgb.train({**PARAMS, "objective": "multi:softprob", "num_class": 3},
                     xgb.DMatrix(frame, labels, enable_categorical=True), 6)


def test_random_frames_match_xgboost(multiclass):
    """Random rows, random category subsets in random order, missing values: every margin and
    probability XGBoost gives, bit for bit, as a frame and as the dict of object columns the CLI builds."""
    bst = multiclass
    model = gbinfer.load(bytes(bst.save_raw("ubj")))
    rng = np.random.default_rng(11)
    for trial in range(25):
        n = int(rng.integers(1, 40))
        colors = list(rng.permutation(COLORS)[:rng.integers(1, 5)])
        sizes = [int(s) for s in rng.permutation(SIZES)[:rng.integers(1, 4)]]
        color = rng.choice(colors + [None], n)
        size = rng.choice(sizes + [None], n)
        frame = _frame(rng.normal(size=n), color, size, colors, sizes)
        expected = bst.predict(xgb.DMatrix(frame, enable_categorical=True), output_margin=True)
        assert np.array_equal(model.predict(frame, output_margin=True), expected), trial
        assert np.array_equal(model.predict(frame), bst.inplace_predict(frame)), trial
        columns = {"x": frame["x"].to_numpy(), "color": np.array(list(color), dtype=object),
                   "size": np.array([None if s is None else int(s) for s in size], dtype=object)}
        assert np.array_equal(model.predict(columns, output_margin=True), expected), trial


def test_non_ascii_categories_written_with_byte_offsets_are_matched_by_value():
    """XGBoost 3.4+ writes UTF-8 byte offsets: such a table is read exactly. The trees' codes are
    the same whatever the table, so the frame re-coded by value predicts as its training codes do."""
    cats = ["c", "b", "é", "d", "a"]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"s": pd.Categorical(rng.choice(cats, 200), categories=cats)})
    bst = xgb.train(PARAMS, xgb.DMatrix(frame, frame["s"].isin(["é", "a"]).to_numpy(), enable_categorical=True), 3)
    doc = orjson.loads(bytes(bst.save_raw("json")))
    doc["version"] = [3, 4, 0]
    data = "".join(cats).encode()
    offsets = np.cumsum([0] + [len(c.encode()) for c in cats]).tolist()
    _cats(doc)["enc"][0] = {"offsets": offsets, "values": np.frombuffer(data, np.int8).tolist()}
    model = gbinfer.load(orjson.dumps(doc))
    assert model.features.categories[0].values == tuple(cats)
    test = pd.DataFrame({"s": pd.Categorical(["é", "a", "b"], categories=["é", "b", "a"])})
    codes = np.array([[2], [4], [1]], dtype=np.float32)
    assert np.array_equal(model.predict(test, output_margin=True), _xgb_margin(bst, codes))


def test_pandas_arrow_dictionary_column_is_recoded(trained):
    """XGBoost refuses ``pd.ArrowDtype(dictionary)``; gbinfer reads it as the category it is."""
    bst, model, _ = trained
    frame = _frame([0.0, 1.0], ["yellow", "blue"], [20, 10])
    arrow = frame.assign(color=pd.Series(pa.array(["yellow", "blue"]).dictionary_encode(),
                                         dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))))
    assert isinstance(arrow["color"].dtype, pd.ArrowDtype)
    assert np.array_equal(model.predict(arrow, output_margin=True), _xgb_margin(bst, frame))
