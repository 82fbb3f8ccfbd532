"""Loader defects found by the fuzz suite (tests/fuzz), one regression test each.

Each case starts from a committed XGBoost fixture or gbinfer golden file and changes what the
fuzzer changed. Where the file stays valid, the test compares with what the installed xgboost
predicts.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import ModelFormatError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xgboost" / "3.2.0"


def _doc(case: str) -> dict:
    return json.loads((FIXTURES / f"{case}.json").read_text())


def _load(doc) -> gbinfer.Model:
    return gbinfer.load(json.dumps(doc).encode())


def _trees(doc) -> list:
    gb = doc["learner"]["gradient_booster"]
    return (gb["gbtree"] if gb["name"] == "dart" else gb)["model"]["trees"]


def _lmp(doc) -> dict:
    return doc["learner"]["learner_model_param"]


# --- numbers in text: Python's int() and float() take spellings XGBoost never writes --------------

@pytest.mark.parametrize("value", ["[0.5,]", "[,0.5]", "0.5,", "1_0", "[5E-1", "0x1p-1", "\u0663", "[0.5]]"])
def test_base_score_text_outside_xgboost_spelling_is_refused(value):
    doc = _doc("reg_squarederror")
    _lmp(doc)["base_score"] = value
    with pytest.raises(ModelFormatError, match="base_score"):
        _load(doc)


@pytest.mark.parametrize("value", [[True], ["0.5"], [[0.5]]])
def test_base_score_list_of_non_numbers_is_refused(value):
    doc = _doc("reg_squarederror")
    _lmp(doc)["base_score"] = value
    with pytest.raises(ModelFormatError, match="base_score"):
        _load(doc)


@pytest.mark.parametrize("field, value", [("num_feature", "8_0"), ("num_target", "\u0663"),
                                          ("num_class", "0x0"), ("num_feature", "1" * 41)])
def test_integer_text_outside_ascii_digits_is_refused(field, value):
    doc = _doc("binary_logistic")
    _lmp(doc)[field] = value
    with pytest.raises(ModelFormatError, match=field):
        _load(doc)


def test_padded_integer_text_still_loads_as_xgboost_reads_it():
    xgb = pytest.importorskip("xgboost")
    doc = _doc("binary_logistic")
    _lmp(doc)["num_feature"] = " 8 "
    X = np.load(FIXTURES / "binary_logistic.npz")["X"]
    booster = xgb.Booster(model_file=bytearray(json.dumps(doc).encode()))
    assert np.array_equal(_load(doc).predict(X, output_margin=True),
                          booster.predict(xgb.DMatrix(X), output_margin=True))


def test_bracketed_base_score_vector_still_loads():
    doc = _doc("multi_target_vector_leaf")
    expected = np.load(FIXTURES / "multi_target_vector_leaf.npz")
    assert _lmp(doc)["base_score"].startswith("[")
    assert np.array_equal(_load(doc).predict(expected["X"], output_margin=True), expected["margin"])


# --- a nested empty list is no empty array --------------------------------------------------------

@pytest.mark.parametrize("field", ["categories", "categories_nodes", "categories_segments", "categories_sizes"])
def test_nested_empty_list_is_refused(field):
    doc = _doc("binary_logistic")
    _trees(doc)[0][field] = [[]]
    with pytest.raises(ModelFormatError, match=field):
        _load(doc)


# --- what the model keeps must be storable again ------------------------------------------------------

@pytest.mark.parametrize("value", [2**64, 2**31, -1])
def test_version_outside_a_release_number_is_refused(value):
    doc = _doc("binary_logistic")
    doc["version"][1] = value
    with pytest.raises(ModelFormatError, match="version/1"):
        _load(doc)


def test_best_iteration_beyond_int32_is_refused():
    doc = _doc("binary_logistic")
    doc["learner"]["attributes"] = {"best_iteration": str(2**64)}
    with pytest.raises(ModelFormatError, match="best_iteration"):
        _load(doc)


@pytest.mark.parametrize("where", ["attributes", "objective"])
def test_values_json_cannot_store_are_refused(where):
    doc = _doc("binary_logistic")
    # a bare NaN (which XGBoost writes) sends the file to the standard library's parser, which
    # keeps integers beyond 64 bits
    _trees(doc)[0]["loss_changes"][0] = float("nan")
    if where == "attributes":
        doc["learner"]["attributes"] = {"note": 2**64}
    else:
        doc["learner"]["objective"]["reg_loss_param"] = {"scale_pos_weight": 2**64}
    with pytest.raises(ModelFormatError, match=f"learner/{where}"):
        _load(doc)


def test_loaded_attributes_and_parameters_survive_a_save(tmp_path):
    doc = _doc("binary_logistic")
    doc["learner"]["attributes"] = {"note": 2**63 - 1, "best_iteration": "1"}
    model = _load(doc)
    gbinfer.save(model, tmp_path / "m.json")
    again = gbinfer.load(tmp_path / "m.json")
    assert again.meta.attributes == model.meta.attributes
    assert again.objective.params == model.objective.params


# --- category bitsets capped before they are allocated ------------------------------------------------

def _many_category_splits(depth: int, code: int) -> dict:
    """A complete tree whose every split tests the set {code} on feature 6, all sharing one slice."""
    doc = _doc("cat_partition")
    n = 2 ** (depth + 1) - 1
    internal = 2 ** depth - 1
    left = [2 * i + 1 if i < internal else -1 for i in range(n)]
    tree = {
        "base_weights": [0.0] * n, "loss_changes": [0.0] * n, "sum_hessian": [1.0] * n,
        "parents": [2147483647] + [(i - 1) // 2 for i in range(1, n)], "id": 0,
        "left_children": left, "right_children": [c + 1 if c != -1 else -1 for c in left],
        "split_indices": [6] * n, "split_conditions": [0.5] * n, "default_left": [1] * n,
        "split_type": [1 if i < internal else 0 for i in range(n)],
        "categories": [code], "categories_nodes": list(range(internal)), "categories_segments": [0] * internal,
        "categories_sizes": [1] * internal,
        "tree_param": {"num_deleted": "0", "num_feature": "8", "num_nodes": str(n), "size_leaf_vector": "1"},
    }
    model = doc["learner"]["gradient_booster"]["model"]
    model["trees"], model["tree_info"], model["iteration_indptr"] = [tree], [0], [0, 1]
    model["gbtree_model_param"]["num_trees"] = "1"
    return doc


def test_category_sets_wider_than_the_file_are_refused_before_allocating():
    # 1023 sets of code 2**24 - 1 would take 2 MiB each (2 GiB) from a file of about 100 kB
    doc = _many_category_splits(depth=10, code=2**24 - 1)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match="categories_segments"):
            _load(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 192 << 20


def test_many_small_category_sets_still_load():
    doc = _many_category_splits(depth=10, code=40)
    model = _load(doc)
    X = np.zeros((3, 8), dtype=np.float32)
    X[:, 6] = [40, 3, np.nan]
    # every set split sends 40 right (to the last leaf), any other code left (to the first), and a
    # missing value left (default_left)
    leaves = model.predict_leaf(X)
    assert leaves.tolist() == [2**11 - 2, 2**10 - 1, 2**10 - 1]


# --- int64 values far apart: their differences wrap around and pass for rising -------------------

_BIG = 2**63 - 1


def _wrapping(total: int) -> list:
    """Four int64 values from 0 to ``total`` whose int64 differences are all >= 1."""
    return [0, _BIG, -2**63 + total + 1, total]


def _native_doc(name="gbtree_binary") -> dict:
    return json.loads((FIXTURES.parents[1] / "schema" / "v1" / f"{name}.json").read_text())


def test_iteration_indptr_that_wraps_around_is_refused_in_xgboost_json():
    doc = _doc("binary_logistic")
    model = doc["learner"]["gradient_booster"]["model"]
    model["iteration_indptr"] = _wrapping(len(model["trees"]))
    with pytest.raises(ModelFormatError, match="iteration_indptr"):
        _load(doc)


def test_iteration_indptr_that_wraps_around_is_refused_in_native_json():
    doc = _native_doc()
    indptr = doc["arrays"]["iteration_indptr"]
    indptr["data"] = _wrapping(doc["booster"]["num_trees"])
    indptr["shape"] = [4]
    with pytest.raises(ModelFormatError, match="iteration_indptr"):
        gbinfer.load(json.dumps(doc).encode())


def test_category_offsets_that_wrap_around_are_refused():
    """Found crashing the categorical kernel: a set split's words read far outside the bitset."""
    doc = _native_doc("categorical")
    a = doc["arrays"]
    sets = [i for i, (k, c) in enumerate(zip(a["split_kind"]["data"], a["left_child"]["data"])) if k and c != -1]
    n1, n2, n3 = sets[:3]
    words = len(a["cat_bits"]["data"])
    a["cat_offsets"]["data"] = [0 if i <= n1 else _BIG if i <= n2 else -2**63 + 5 if i <= n3 else words
                                for i in range(len(a["cat_offsets"]["data"]))]
    with pytest.raises(ModelFormatError, match="cat_offsets"):
        gbinfer.load(json.dumps(doc).encode())


def test_tree_offsets_that_wrap_around_are_refused():
    from gbinfer.forest import SoAForest

    with pytest.raises(ModelFormatError, match="tree_offsets"):
        SoAForest.build(source="t", num_features=1, num_outputs=1, semantics=0, split_feature=[0, 0, 0],
                        threshold=[0, 0, 0], left_child=[-1, -1, -1], right_child=[-1, -1, -1],
                        default_left=[1, 1, 1], is_categorical=[0, 0, 0], cat_offsets=[0, 0, 0, 0],
                        cat_bits=[], leaf_values=[[0], [1], [2]], tree_offsets=_wrapping(3), tree_group=[0, 0, 0],
                        node_id=[0, 0, 0])


def test_category_slice_whose_end_wraps_around_is_refused():
    doc = _doc("cat_partition")
    tree = next(t for t in _trees(doc) if len(t["categories_nodes"]) > 1)
    tree["categories_sizes"][1] = _BIG
    with pytest.raises(ModelFormatError, match="categories_segments"):
        _load(doc)


# --- legacy binary --------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [b"[" * 100_000, b'{"a":' * 50_000], ids=["arrays", "objects"])
def test_snapshot_with_a_deeply_nested_configuration_is_refused(config):
    """XGBoost 1.0-1.2 pickles end in a JSON configuration; the standard library's parser gives
    up on deep nesting with a RecursionError."""
    raw = (Path(__file__).resolve().parent / "data" / "xgboost_binary" / "xgb2.0.3_dart.bin").read_bytes()
    data = b"CONFIG-offset:" + len(raw).to_bytes(8, "little") + raw + config
    with pytest.raises(ModelFormatError, match="snapshot.config"):
        gbinfer.load(data)


# --- .xgbrs array table -------------------------------------------------------------------------

def _xgbrs_with_entry(change) -> bytes:
    import struct
    import zlib

    from gbinfer.serialization import binary

    raw = (FIXTURES.parents[1] / "schema" / "v1" / "gbtree_binary.xgbrs").read_bytes()
    pre = list(binary.PREAMBLE.unpack_from(raw))
    start, header_len = binary.PREAMBLE.size, pre[4]
    header = json.loads(raw[start:start + header_len])
    change(header["arrays"])
    h = json.dumps(header).encode()
    h += b" " * (-(start + len(h)) % binary.ALIGN)
    pre[4], pre[5] = len(h), zlib.crc32(h)
    body = binary.PREAMBLE.pack(*pre) + h + raw[start + header_len:-4]
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("key, value", [("offset", False), ("nbytes", False)])
def test_xgbrs_offsets_and_sizes_must_be_integers_not_booleans(key, value):
    def change(table):
        first = next(e for e in table if e[key] == int(value))
        first[key] = value

    with pytest.raises(ModelFormatError, match=key):
        gbinfer.load(_xgbrs_with_entry(change))


# --- models without trees -----------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"objective": "binary:logistic"},
    {"objective": "binary:logistic", "booster": "dart"},
    {"objective": "count:poisson"},
    {"objective": "binary:logistic", "base_score": 0.3},
    {"objective": "reg:gamma", "base_score": 2.0},
    {"objective": "multi:softprob", "num_class": 3},
    {"objective": "binary:logistic", "booster": "gblinear"},
    {"objective": "binary:logistic", "booster": "gblinear", "base_score": 0.3},
    {"objective": "multi:softprob", "num_class": 3, "booster": "gblinear"},
], ids=["logistic", "dart", "poisson", "logistic_base_score", "gamma_base_score", "softprob", "linear",
        "linear_base_score", "linear_softprob"])
@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_a_model_trained_for_zero_rounds_predicts_as_xgboost(params, fmt):
    """Found crashing the forest assembly (no trees: nothing to concatenate); a linear model without
    weights was refused. XGBoost predicts the stored base score itself as the margin while the
    intercept is still to be estimated (boost_from_average), and links it otherwise."""
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32) + (params["objective"] in ("count:poisson", "reg:gamma"))
    if params["objective"] == "multi:softprob":
        y = (X[:, 1] > 0).astype(np.float32) + (X[:, 2] > 0)
    booster = xgb.train(dict(params, nthread=1), xgb.DMatrix(X, y), num_boost_round=0)
    model = gbinfer.load(bytes(booster.save_raw(fmt)))
    dm = xgb.DMatrix(X)
    assert np.array_equal(model.predict(X, output_margin=True), booster.predict(dm, output_margin=True))
    assert np.array_equal(model.predict(X), booster.predict(dm))


def test_a_linear_model_without_weights_declaring_many_features_is_refused():
    doc = _doc("gblinear_binary_logistic")
    doc["learner"]["gradient_booster"]["model"]["weights"] = []
    _lmp(doc)["num_feature"] = str(2**30)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match="weights"):
            _load(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_schema_1_0_document_whose_features_is_not_an_object_is_refused_not_looped():
    # the 1.0 -> 1.1 link has nothing to add to a malformed "features"; the upgrade must still move on
    import orjson

    from gbinfer.serialization import json as native_json

    doc = orjson.loads((Path(__file__).parent.parent / "fixtures" / "schema" / "v1" / "dart.json").read_bytes())
    doc["gbinfer_schema"] = [1, 0]
    doc["features"] = 5
    with pytest.raises(ModelFormatError, match="features"):
        native_json.loads(orjson.dumps(doc), "bad.json")
