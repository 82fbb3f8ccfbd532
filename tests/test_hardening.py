"""Malformed models get a typed error, never garbage: one regression test per defect found.

Each case starts from a committed XGBoost 3.2 fixture (or a gbinfer save of one) and changes one
field. Where XGBoost accepts the change, the test compares with what the installed xgboost predicts.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest

import gbinfer
from gbinfer.errors import GbinferError, ModelFormatError, UnsupportedModelError
from gbinfer.forest import SoAForest
from gbinfer.serialization import binary, schema
from gbinfer.serialization import json as native

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xgboost" / "3.2.0"
LEGACY = Path(__file__).resolve().parent / "data" / "xgboost_binary"


def _doc(case: str) -> dict:
    return json.loads((FIXTURES / f"{case}.json").read_text())


def _load(doc) -> gbinfer.Model:
    return gbinfer.load(json.dumps(doc).encode())


def _trees(doc) -> list:
    gb = doc["learner"]["gradient_booster"]
    return (gb["gbtree"] if gb["name"] == "dart" else gb)["model"]["trees"]


def _refused(doc, match, kind=ModelFormatError):
    with pytest.raises(kind, match=match):
        _load(doc)


# --- category sets only on categorical splits ----------------------------------------------------

def _native_doc(case="cat_partition") -> dict:
    return orjson.loads(native.dumps(gbinfer.load(FIXTURES / f"{case}.json")))


def _move_words_to_next_node(doc, want_leaf: bool) -> None:
    """Give the node after a categorical split that split's category words (the offsets stay
    monotone and cover the bitset), choosing a next node that is a leaf or a numeric split."""
    arrays = doc["arrays"]
    kind = arrays["split_kind"]["data"]
    left = arrays["left_child"]["data"]
    offsets = arrays["cat_offsets"]["data"]
    for i in range(len(kind) - 1):
        nxt_is_leaf = left[i + 1] == -1
        if kind[i] == 1 and kind[i + 1] == 0 and nxt_is_leaf == want_leaf and offsets[i + 1] > offsets[i]:
            offsets[i + 1] = offsets[i]  # node i's words now belong to node i + 1
            return
    pytest.skip("the fixture has no such node pair")


@pytest.mark.parametrize("container", ["json", "xgbrs"])
@pytest.mark.parametrize("want_leaf", [True, False], ids=["leaf", "numeric_split"])
def test_category_range_on_a_leaf_or_numeric_split_is_refused(container, want_leaf):
    doc = _native_doc()
    _move_words_to_next_node(doc, want_leaf)
    data = orjson.dumps(doc)
    if container == "xgbrs":
        spec = native.read_spec(data)
        with pytest.raises(ModelFormatError, match="carries a category set"):
            schema.into_runtime(spec)
        return
    with pytest.raises(ModelFormatError, match="carries a category set"):
        native.loads(data)


def test_build_refuses_category_words_on_a_leaf():
    with pytest.raises(ModelFormatError, match="leaf but carries a category set"):
        SoAForest.build(
            source="t", num_features=1, num_outputs=1, semantics=0, split_feature=[0, 0, 0],
            threshold=[np.nan, 0, 0], left_child=[1, -1, -1], right_child=[2, -1, -1], default_left=[1, 1, 1],
            is_categorical=[1, 0, 0], cat_offsets=[0, 1, 2, 2], cat_bits=[1, 0xFFFFFFFF], leaf_values=[[0], [1], [2]],
            tree_offsets=[0, 3], tree_group=[0], node_id=[0, 1, 2])


def test_categories_on_a_numeric_split_in_xgboost_json_are_refused():
    doc = _doc("cat_partition")
    tree = next(t for t in _trees(doc) if t["categories_nodes"])
    tree["split_type"][tree["categories_nodes"][0]] = 0
    _refused(doc, "not a categorical split")


def test_empty_category_slice_is_refused():
    doc = _doc("cat_partition")
    tree = next(t for t in _trees(doc) if t["categories_nodes"])
    tree["categories_sizes"][0] = 0
    _refused(doc, "categories_segments")


# --- DART ----------------------------------------------------------------------------------------

def test_dart_with_vector_leaves_is_refused():
    doc = _doc("multi_target_vector_leaf")
    gb = doc["learner"]["gradient_booster"]
    doc["learner"]["gradient_booster"] = {"name": "dart", "gbtree": gb, "weight_drop": [1.0] * len(_trees(doc))}
    _refused(doc, "DART with vector leaves", UnsupportedModelError)


def test_dart_with_vector_leaves_in_a_saved_model_is_refused():
    doc = _native_doc("multi_target_vector_leaf")
    doc["booster"]["kind"] = "dart"
    doc["arrays"]["tree_weight"] = {"dtype": "float32", "shape": [doc["booster"]["num_trees"]],
                                    "data": [1.0] * doc["booster"]["num_trees"]}
    with pytest.raises(UnsupportedModelError, match="DART with vector leaves"):
        native.loads(orjson.dumps(doc))


def test_stray_weight_drop_beside_a_gbtree_is_ignored_as_xgboost_does():
    xgb = pytest.importorskip("xgboost")
    doc = _doc("binary_logistic")
    doc["learner"]["gradient_booster"]["weight_drop"] = [0.5] * len(_trees(doc))
    model = _load(doc)
    expected = np.load(FIXTURES / "binary_logistic.npz")
    booster = xgb.Booster(model_file=bytearray(json.dumps(doc).encode()))
    assert type(model.booster).__name__ == "Tree"
    assert np.array_equal(model.predict(expected["X"], output_margin=True),
                          booster.predict(xgb.DMatrix(expected["X"]), output_margin=True))


# --- integers a numpy cast would wrap ------------------------------------------------------------

def _set_tree_info(doc, value):
    doc["learner"]["gradient_booster"]["model"]["tree_info"][0] = value


def _set_node(field, value, node=0):
    def change(doc):
        _trees(doc)[0][field][node] = value
    return change


@pytest.mark.parametrize("change, match", [
    (lambda d: _set_tree_info(d, 2**32), "tree_info"),
    (lambda d: _set_tree_info(d, -1), "tree_info"),
    (_set_node("left_children", 2**31), "left_children"),
    (_set_node("right_children", 2**31 + 1), "right_children"),
    (_set_node("left_children", -2), "left_children"),
    (_set_node("default_left", 257), "default_left"),
    (_set_node("default_left", 2), "default_left"),
    (_set_node("split_type", 256), "split_type"),
    (_set_node("split_indices", 2**63), "split_indices"),
], ids=["tree_info_2_32", "tree_info_negative", "left_2_31", "right_2_31", "left_minus_2", "default_left_257",
        "default_left_2", "split_type_256", "split_index_2_63"])
def test_integers_out_of_range_are_refused(change, match):
    doc = _doc("multi_softprob")
    change(doc)
    _refused(doc, match)


def test_out_of_range_integers_in_a_saved_model_are_refused():
    doc = _native_doc("binary_logistic")
    doc["arrays"]["default_left"]["data"][0] = 2
    with pytest.raises(GbinferError, match="default_left"):
        native.loads(orjson.dumps(doc))
    doc = _native_doc("binary_logistic")
    doc["arrays"]["tree_group"]["data"][0] = 2**31
    with pytest.raises(ModelFormatError, match="tree_group"):
        native.loads(orjson.dumps(doc))


# --- base score, checked per objective as XGBoost checks it --------------------------------------

def _with_base_score(case, value):
    doc = _doc(case)
    doc["learner"]["learner_model_param"]["base_score"] = value
    return doc


@pytest.mark.parametrize("value", ["[nan]", "[1e999]", "[-1e999]", "[2]", "[-0.5]", "[1E39]"])
def test_base_score_outside_the_logistic_domain_is_refused(value):
    _refused(_with_base_score("binary_logistic", value), "base_score")


@pytest.mark.parametrize("value", ["[0]", "[1]", "[1E-45]"])
def test_logistic_base_score_at_the_bounds_is_clamped_as_xgboost_does(value):
    xgb = pytest.importorskip("xgboost")
    doc = _with_base_score("binary_logistic", value)
    X = np.load(FIXTURES / "binary_logistic.npz")["X"]
    booster = xgb.Booster(model_file=bytearray(json.dumps(doc).encode()))
    model = _load(doc)
    assert np.array_equal(model.predict(X, output_margin=True), booster.predict(xgb.DMatrix(X), output_margin=True))
    assert np.array_equal(model.predict(X), booster.predict(xgb.DMatrix(X)))


@pytest.mark.parametrize("case, value", [("reg_gamma", "[0]"), ("reg_gamma", "[-1]"), ("count_poisson", "[0]"),
                                         ("count_poisson", "[-1]"), ("reg_squarederror", "[1e999]")])
def test_base_score_the_log_link_cannot_take_is_refused(case, value):
    _refused(_with_base_score(case, value), "base_score")


def test_non_finite_base_score_in_a_saved_model_is_refused():
    doc = _native_doc("binary_logistic")
    doc["arrays"]["base_score"]["data"][0] = "NaN"
    with pytest.raises(ModelFormatError, match="base_score"):
        native.loads(orjson.dumps(doc))


# --- declared counts capped before anything is allocated by them ---------------------------------

@pytest.mark.parametrize("field", ["num_class", "num_target"])
def test_huge_output_count_is_refused_before_allocating(field):
    doc = _doc("binary_logistic")
    doc["learner"]["learner_model_param"][field] = str(10**9)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match=field):
            _load(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_huge_output_count_in_a_legacy_binary_is_refused():
    raw = bytearray((LEGACY / "xgb2.0.3_forest.bin").read_bytes())
    at = 4 + 8  # after b"binf": base_score (f4), num_feature (u4), then num_class (i4)
    struct.pack_into("<i", raw, at, 10**9)
    with pytest.raises(ModelFormatError, match="num_class"):
        gbinfer.load(bytes(raw))


def test_warmup_of_a_model_declaring_2_30_features_allocates_little():
    doc = _doc("cat_partition")
    doc["learner"]["learner_model_param"]["num_feature"] = str(2**30)
    doc["learner"]["feature_names"] = []
    doc["learner"]["feature_types"] = []
    doc["learner"]["gradient_booster"]["model"].pop("cats")  # it names the 8 features the model had
    model = _load(doc)
    tracemalloc.start()
    try:
        model.warmup()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # a one-column stand-in, not 2**30 columns of float32


def test_warmup_of_a_linear_model_reads_one_column():
    model = gbinfer.load(FIXTURES / "gblinear_multi_softprob.json")
    model.warmup()
    X = np.load(FIXTURES / "gblinear_multi_softprob.npz")["X"]
    assert np.array_equal(model.predict(X), np.load(FIXTURES / "gblinear_multi_softprob.npz")["output"])


# --- errors that escaped the family --------------------------------------------------------------

def _learner(field, value):
    def change(doc):
        doc["learner"][field] = value
    return change


def _model_field(field, value):
    def change(doc):
        doc["learner"]["gradient_booster"]["model"][field] = value
    return change


@pytest.mark.parametrize("change, match", [
    (lambda d: d.__setitem__("version", ["a", 0, 0]), "version"),
    (lambda d: d.__setitem__("version", 3), "version"),
    (lambda d: d["learner"]["objective"].__setitem__("name", ["binary:logistic"]), "objective/name"),
    (lambda d: d["learner"]["objective"].__setitem__("name", 5), "objective/name"),
    (_learner("attributes", ["best_iteration"]), "attributes"),
    (_learner("attributes", {"best_iteration": "one"}), "best_iteration"),
    (_learner("attributes", {"best_iteration": [1]}), "best_iteration"),
    (_learner("feature_names", [1, 2, 3, 4, 5, 6, 7, 8]), "feature_names"),
    (_learner("feature_names", "abc"), "feature_names"),
    (_learner("feature_types", {"a": "q"}), "feature_types"),
    (_model_field("iteration_indptr", [[0, 1]]), "iteration_indptr"),
    (_model_field("gbtree_model_param", [1, 2]), "gbtree_model_param"),
    (_model_field("tree_info", [[0]] * 3), "tree_info"),
    (lambda d: _trees(d)[0].__setitem__("left_children", [[1, 2]] * len(_trees(d)[0]["left_children"])),
     "left_children"),
    (lambda d: _trees(d)[0].__setitem__("split_conditions", ["a"] * len(_trees(d)[0]["split_conditions"])),
     "split_conditions"),
    (lambda d: _trees(d)[0]["tree_param"].__setitem__("num_nodes", "1e400"), "num_nodes"),
], ids=["version_str", "version_int", "objective_list", "objective_int", "attributes_list", "best_iteration_word",
        "best_iteration_list", "feature_names_ints", "feature_names_str", "feature_types_dict", "indptr_nested",
        "gbtree_param_list", "tree_info_nested", "children_nested", "conditions_str", "num_nodes_huge_float"])
def test_malformed_document_fields_raise_model_format_error(change, match):
    doc = _doc("binary_logistic")
    change(doc)
    _refused(doc, match)


def test_nested_weight_drop_and_category_segments_raise_model_format_error():
    doc = _doc("dart_binary_logistic")
    doc["learner"]["gradient_booster"]["weight_drop"] = [[1.0]] * len(_trees(doc))
    _refused(doc, "weight_drop")
    doc = _doc("cat_partition")
    tree = next(t for t in _trees(doc) if t["categories_nodes"])
    tree["categories_segments"] = [[s] for s in tree["categories_segments"]]
    _refused(doc, "categories_segments")


def test_native_json_with_ragged_arrays_raises_model_format_error():
    doc = _native_doc("binary_logistic")
    doc["arrays"]["left_child"]["data"][0] = [1, 2]
    with pytest.raises(ModelFormatError, match="left_child"):
        native.loads(orjson.dumps(doc))
    doc = _native_doc("binary_logistic")
    doc["arrays"]["threshold"]["data"][0] = [1.0, 2.0]
    with pytest.raises(ModelFormatError, match="threshold"):
        native.loads(orjson.dumps(doc))


def test_xgbrs_array_table_with_a_bad_dtype_raises_model_format_error():
    raw = binary.dumps(gbinfer.load(FIXTURES / "binary_logistic.json"))
    pre = list(binary.PREAMBLE.unpack_from(raw))
    start, header_len = binary.PREAMBLE.size, pre[4]
    header = orjson.loads(raw[start:start + header_len])
    header["arrays"][0]["dtype"] = ["float32"]
    h = orjson.dumps(header)
    h += b" " * (-(start + len(h)) % binary.ALIGN)
    pre[4], pre[5] = len(h), zlib.crc32(h)
    body = binary.PREAMBLE.pack(*pre) + h + raw[start + header_len:-4]
    body += struct.pack("<I", zlib.crc32(body))
    with pytest.raises(ModelFormatError, match="dtype"):
        binary.loads(body)


def test_categorical_split_without_categories_is_refused():
    """XGBoost reads such a node as a numeric split when its tree has no category set at all, and
    as an empty set otherwise; it never writes one. Found by mutating split_type to 1."""
    doc = _doc("binary_logistic")
    tree = _trees(doc)[1]
    tree["split_type"][0] = 1
    _refused(doc, "categorical split without categories")


def test_a_leaf_right_child_outside_int32_is_refused():
    """XGBoost stores children as int32 and refuses wider values even where it ignores them."""
    doc = _doc("binary_logistic")
    tree = _trees(doc)[0]
    leaf = tree["left_children"].index(-1)
    tree["right_children"][leaf] = 2**31
    _refused(doc, "right_children")


def test_a_leaf_marked_categorical_in_a_saved_model_is_refused():
    doc = _native_doc("binary_logistic")
    leaf = doc["arrays"]["left_child"]["data"].index(-1)
    doc["arrays"]["split_kind"]["data"][leaf] = 1
    with pytest.raises(ModelFormatError, match="leaf is marked as a categorical split"):
        native.loads(orjson.dumps(doc))


SCHEMA_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schema" / "v1"


@pytest.mark.parametrize("case, field", [("lightgbm_regression_sqrt", "tree_offsets"),
                                         ("lightgbm_categorical", "cat_offsets"),
                                         ("lightgbm_linear_tree", "leaf_coef_offsets")])
def test_offsets_whose_differences_wrap_round_are_refused(case, field):
    """Offsets that jump to 2**63 - 1 and back past -2**63 have int64 differences that all look
    rising; they once reached np.repeat with huge counts (a segmentation fault)."""
    doc = orjson.loads((SCHEMA_FIXTURES / f"{case}.json").read_bytes())
    data = doc["arrays"][field]["data"]
    end = data[-1]
    data[-3:-1] = [2**63 - 1, -(2**63) + end + 7]
    with pytest.raises(ModelFormatError, match=field):
        native.loads(orjson.dumps(doc))
