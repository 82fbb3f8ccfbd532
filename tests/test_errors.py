"""Bad input gets a typed GbinferError naming the file and the field — never a crash."""

import copy

import numpy as np
import orjson
import pytest

import gbinfer
from gbinfer.errors import DataError, GbinferError, ModelFormatError, UnsupportedModelError

xgb = pytest.importorskip("xgboost")


@pytest.fixture(scope="module")
def doc():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, X[:, 0] > 0), 3)
    return orjson.loads(bytes(bst.save_raw("json")))


def _tree(d, i=0):
    return d["learner"]["gradient_booster"]["model"]["trees"][i]


def _write(tmp_path, d, name="bad.json"):
    path = tmp_path / name
    path.write_bytes(orjson.dumps(d))
    return path


def _load_error(path, match, kind=ModelFormatError):
    with pytest.raises(kind, match=match) as info:
        gbinfer.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_truncated_json_names_the_file(tmp_path, doc):
    raw = orjson.dumps(doc)
    for cut in (1, 10, len(raw) // 2, len(raw) - 1):
        path = tmp_path / f"cut{cut}.json"
        path.write_bytes(raw[:cut])
        _load_error(path, "not valid JSON|missing|expected")


def test_truncated_ubj_and_binary(tmp_path, doc):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    bst = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, X[:, 0]), 2)
    raw = bytes(bst.save_raw("ubj"))
    for cut in range(1, len(raw), max(1, len(raw) // 40)):
        path = tmp_path / "cut.ubj"
        path.write_bytes(raw[:cut])
        with pytest.raises(ModelFormatError):
            gbinfer.load(path)
    legacy = next(iter(sorted((__import__("pathlib").Path(__file__).parent / "data" / "xgboost_binary").glob("*.bin"))))
    data = legacy.read_bytes()
    for cut in range(1, len(data), max(1, len(data) // 40)):
        path = tmp_path / "cut.bin"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            gbinfer.load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    _load_error(path, "empty")


@pytest.mark.parametrize("field,value,match", [
    ("left_children", "oops", "expected an array"),
    ("split_conditions", ["a", "b"], "expected an array of float32"),
    ("split_indices", [0.5] * 3, "integers|expected an array"),
])
def test_wrong_types(tmp_path, doc, field, value, match):
    d = copy.deepcopy(doc)
    _tree(d)[field] = value
    err = _load_error(_write(tmp_path, d), match)
    assert field in err.field


def test_child_index_out_of_range(tmp_path, doc):
    d = copy.deepcopy(doc)
    _tree(d)["left_children"][0] = 999
    err = _load_error(_write(tmp_path, d), "out of range")
    assert err.field == "trees[0].left_children[0]"


def test_cycle(tmp_path, doc):
    d = copy.deepcopy(doc)
    t = _tree(d)
    # point a child back at the root
    t["left_children"][t["left_children"][0]] = 0
    t["right_children"][t["left_children"][0]] = t["right_children"][0]
    _load_error(_write(tmp_path, d), "reached twice")


def test_feature_index_past_num_feature(tmp_path, doc):
    d = copy.deepcopy(doc)
    _tree(d)["split_indices"][0] = 4
    err = _load_error(_write(tmp_path, d), r"feature 4 is out of range \[0, 4\)")
    assert "split_indices" in err.field


def test_unknown_objective_and_booster(tmp_path, doc):
    d = copy.deepcopy(doc)
    d["learner"]["objective"]["name"] = "reg:mystery"
    err = _load_error(_write(tmp_path, d), "unknown XGBoost objective 'reg:mystery'", UnsupportedModelError)
    assert err.field == "learner/objective/name"
    d = copy.deepcopy(doc)
    d["learner"]["gradient_booster"]["name"] = "gbforest"
    _load_error(_write(tmp_path, d), "unknown booster 'gbforest'", UnsupportedModelError)


def test_missing_field_and_inconsistent_counts(tmp_path, doc):
    d = copy.deepcopy(doc)
    del d["learner"]["learner_model_param"]["num_feature"]
    err = _load_error(_write(tmp_path, d), "is missing")
    assert err.field == "learner/learner_model_param/num_feature"
    d = copy.deepcopy(doc)
    _tree(d)["split_conditions"] = _tree(d)["split_conditions"][:-1]
    _load_error(_write(tmp_path, d), "expected num_nodes")
    d = copy.deepcopy(doc)
    d["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = "7"
    _load_error(_write(tmp_path, d), "says 7 but 3 trees")
    d = copy.deepcopy(doc)
    d["learner"]["learner_model_param"]["base_score"] = "[1,2,3]"
    _load_error(_write(tmp_path, d), "expected 1 or 1")


def test_data_with_wrong_column_count(doc):
    model = gbinfer.load(orjson.dumps(doc))
    with pytest.raises(DataError, match="data has 3 columns but the model expects 4 features"):
        model.predict(np.zeros((2, 3), np.float32))
    with pytest.raises(DataError, match="1-D"):
        model.predict(np.zeros(4, np.float32))
    with pytest.raises(DataError, match="dtype"):
        model.predict(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(DataError, match="base_margin has 3 values"):
        model.predict(np.zeros((2, 4), np.float32), base_margin=np.zeros(3))
    with pytest.raises(DataError, match="iteration_range"):
        model.predict(np.zeros((2, 4), np.float32), iteration_range=(2, 9))


def test_every_error_is_a_gbinfer_error():
    assert issubclass(ModelFormatError, GbinferError) and issubclass(DataError, ValueError)


def test_not_a_path_or_bytes():
    with pytest.raises(DataError, match="takes a path, bytes"):
        gbinfer.load(12)
    with pytest.raises(ModelFormatError, match="cannot read"):
        gbinfer.load("/nonexistent/model.json")
