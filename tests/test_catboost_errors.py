"""Damaged CatBoost files the fuzz suite (tests/fuzz, formats ``catboost_cbm`` and ``catboost_json``)
found loading: each is refused with a ``ModelFormatError`` naming the field, as catboost itself
refuses it (checked where catboost refuses it cleanly rather than crashing)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from gbinfer.compat.flatbuffers import Table
from gbinfer.errors import ModelFormatError

SEEDS = Path(__file__).parent.parent / "fixtures" / "catboost_fuzz"


def _cbm(name: str) -> bytes:
    return (SEEDS / f"{name}.cbm").read_bytes()


def _trees(cbm: bytes) -> Table:
    return Table.root(cbm[8:], None, "TModelCore").table(1, "ModelTrees")


def _put(cbm: bytes, at: int, value: bytes) -> bytes:
    """``cbm`` with ``value`` written at FlatBuffer position ``at``."""
    return cbm[:8 + at] + value + cbm[8 + at + len(value):]


def _catboost_refuses(data: bytes):
    catboost = pytest.importorskip("catboost")
    with pytest.raises(catboost.CatBoostError):
        catboost.CatBoost().load_model(blob=data)


def test_a_string_length_past_its_terminating_zero_is_refused():
    cbm = _cbm("nan_min")
    start, count = _trees(cbm).tables(5, "FloatFeatures")[0]._vector(4, 1, "FeatureId")
    longer = next(n for n in range(count + 1, count + 16) if cbm[8 + start + n])  # a length ending on a non-zero
    damaged = _put(cbm, start - 4, struct.pack("<I", longer))
    with pytest.raises(ModelFormatError, match="FeatureId"):
        gbinfer.load(damaged)
    _catboost_refuses(damaged)


def test_a_damaged_field_gbinfer_does_not_evaluate_is_refused():
    """A one-hot feature's StringValues (a field gbinfer does not evaluate) pointing past the buffer:
    the feature's table gets a new vtable, appended to the buffer, whose StringValues entry is the
    Values field (so its int32 hashes are read as string offsets). catboost's verifier refuses it."""
    cbm = _cbm("onehot")
    one_hot = _trees(cbm).tables(6, "OneHotFeatures")[0]
    pos, vt = one_hot._pos, one_hot._vt
    entries = struct.unpack_from("<HH", cbm, 8 + vt + 4)  # Index, Values
    size = struct.unpack_from("<I", cbm, 4)[0]
    buf = bytearray(cbm[8:8 + size])
    new_vt = len(buf)
    buf += struct.pack("<5H", 10, struct.unpack_from("<H", buf, vt + 2)[0], entries[0], entries[1], entries[1])
    buf += bytes(-len(buf) % 4)
    struct.pack_into("<i", buf, pos, pos - new_vt)
    damaged = b"CBM1" + struct.pack("<I", len(buf)) + bytes(buf) + cbm[8 + size:]
    with pytest.raises(ModelFormatError, match="StringValues"):
        gbinfer.load(damaged)
    _catboost_refuses(damaged)


@pytest.mark.parametrize("name", ["TreeStartOffsets", "LeafWeights"])
def test_a_damaged_vector_length_gbinfer_does_not_evaluate_is_refused(name):
    cbm = _cbm("nan_max")
    slot = {"TreeStartOffsets": 3, "LeafWeights": 9}[name]
    start, _ = _trees(cbm)._vector(slot, 4, name)
    damaged = _put(cbm, start - 4, struct.pack("<I", 1 << 28))
    with pytest.raises(ModelFormatError, match=name):
        gbinfer.load(damaged)
    _catboost_refuses(damaged)


def test_json_bias_count_must_match_the_dimension():
    doc = json.loads((SEEDS / "multiclass.json").read_bytes())
    doc["scale_and_bias"] = [1, [0.5]]
    with pytest.raises(ModelFormatError, match="scale_and_bias"):
        gbinfer.load(json.dumps(doc).encode())
    _catboost_refuses_json(doc)
    doc["scale_and_bias"] = [1, []]  # no bias at all: zeros, as catboost reads it
    assert gbinfer.load(json.dumps(doc).encode()).num_outputs == 3


def _catboost_refuses_json(doc):
    import tempfile

    catboost = pytest.importorskip("catboost")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.json"
        path.write_text(json.dumps(doc))
        with pytest.raises(catboost.CatBoostError, match="dimension of bias"):
            catboost.CatBoost().load_model(str(path), format="json")


def test_cbm_scalar_bias_of_a_multiclass_model_must_be_zero():
    """Without MultiBias, CatBoost takes the scalar Bias for every dimension only when it is 0."""
    cbm = _cbm("multiclass")
    trees = _trees(cbm)
    multi = trees._field(16)
    assert multi and not trees._field(15)
    # the MultiBias slot's vtable entry becomes the Bias slot's, pointing at a double 0.5 put in the
    # MultiBias vector's first element
    start, _ = trees._vector(16, 8, "MultiBias")
    damaged = _put(cbm, start, struct.pack("<d", 0.5))
    entry = trees._vt + 4 + 2 * 16
    damaged = _put(damaged, entry, struct.pack("<H", 0))
    damaged = _put(damaged, trees._vt + 4 + 2 * 15, struct.pack("<H", start - trees._pos))
    with pytest.raises(ModelFormatError, match="Bias"):
        gbinfer.load(damaged)
    zero_bias = _put(cbm, entry, struct.pack("<H", 0))  # no bias at all: loads, as catboost loads it
    assert gbinfer.load(zero_bias).num_outputs == 3


@pytest.mark.parametrize("spelling", ["int", " {}", "{} ", "{}_", "\u0663"])
def test_ctr_table_hashes_are_strings_of_digits(spelling):
    """A hash_map hash as a JSON number, or a string int() reads but CatBoost's ui64 parser does not."""
    doc = json.loads((SEEDS / "ctr.json").read_bytes())
    table = next(iter(doc["ctr_data"].values()))
    h = table["hash_map"][0]
    table["hash_map"][0] = int(h) if spelling == "int" else spelling.format(h[:-1]) if "{}" in spelling else spelling
    with pytest.raises(ModelFormatError, match="hash_map"):
        gbinfer.load(json.dumps(doc).encode())


def test_ctr_table_hash_with_a_plus_sign_loads_as_catboost_loads_it():
    doc = json.loads((SEEDS / "ctr.json").read_bytes())
    table = next(iter(doc["ctr_data"].values()))
    table["hash_map"][0] = "+" + table["hash_map"][0]
    gbinfer.load(json.dumps(doc).encode())


def test_cbm_float_features_listed_out_of_index_order_are_refused():
    """CatBoost takes the float features' binary features in list order whatever their Index fields
    say; gbinfer sorted them by Index and so predicted other values than catboost for such a file."""
    cbm = _cbm("nan_min")
    first, second = (t._field(1) for t in _trees(cbm).tables(5, "FloatFeatures")[:2])
    damaged = _put(_put(cbm, first, struct.pack("<i", 1)), second, struct.pack("<i", 0))
    with pytest.raises(ModelFormatError, match="index"):
        gbinfer.load(damaged)


def test_cbm_multibias_count_must_match_the_dimension():
    cbm = _cbm("multiclass")
    start, _ = _trees(cbm)._vector(16, 8, "MultiBias")
    damaged = _put(cbm, start - 4, struct.pack("<I", 1))
    with pytest.raises(ModelFormatError, match="MultiBias"):
        gbinfer.load(damaged)
    catboost = pytest.importorskip("catboost")
    with pytest.raises(catboost.CatBoostError, match="dimension of bias"):
        catboost.CatBoost().load_model(blob=damaged)


def _ctr_rows(name: str):
    import numpy as np

    with np.load(SEEDS / f"{name}.npz") as f:
        X, raw = f["X"], f["raw"]
        data = X.astype(object)
        for key in (k for k in f if k.startswith("cat_")):
            data[:, int(key[4:])] = f[key].tolist()
    return data, raw


def test_a_ctr_table_is_found_by_the_ctrs_elements_and_type_not_its_identifier():
    """catboost ignores a CTR's ``identifier`` field (checked): one naming another CTR's table still
    reads its own table. gbinfer looked tables up by that field and predicted other values."""
    import numpy as np

    doc = json.loads((SEEDS / "ctr_regression.json").read_bytes())
    ctrs = doc["features_info"]["ctrs"]
    other = next(c["identifier"] for c in ctrs if c["identifier"] != ctrs[0]["identifier"])
    ctrs[0]["identifier"] = other
    data, raw = _ctr_rows("ctr_regression")
    got = np.asarray(gbinfer.load(json.dumps(doc).encode()).predict(data, output_margin=True), dtype=np.float64)
    assert np.array_equal(got.reshape(raw.shape).view(np.uint64), raw.view(np.uint64))


def test_a_ctr_without_a_table_for_its_elements_and_type_is_refused():
    """A CTR whose type changed while its identifier still names a table: catboost finds no table
    (it fails at prediction); gbinfer read the identifier's table as if it were the CTR's."""
    doc = json.loads((SEEDS / "ctr_regression.json").read_bytes())
    doc["features_info"]["ctrs"][0]["ctr_type"] = "Counter"
    with pytest.raises(ModelFormatError, match="ctrs"):
        gbinfer.load(json.dumps(doc).encode())


def test_a_ctr_data_key_that_is_not_a_ctr_description_is_refused():
    """catboost parses every ctr_data key and refuses the model when one is not a CTR description."""
    doc = json.loads((SEEDS / "ctr_regression.json").read_bytes())
    doc["ctr_data"]["junk"] = {"hash_map": [], "hash_stride": 2, "counter_denominator": 0}
    with pytest.raises(ModelFormatError, match="ctr_data"):
        gbinfer.load(json.dumps(doc).encode())


# --- non-symmetric trees ----------------------------------------------------------------------------

def _leaf_rows(name: str):
    return np.load(SEEDS / f"{name}.npz")["X"]


def _same_as_catboost(data: bytes):
    """gbinfer's raw values and leaf indexes of a .cbm are catboost's own, bit for bit."""
    catboost = pytest.importorskip("catboost")
    X = _leaf_rows("depthwise")
    theirs = catboost.CatBoost()
    theirs.load_model(blob=data)
    ours = gbinfer.load(data)
    np.testing.assert_array_equal(np.asarray(ours.predict(X, output_margin=True)).ravel(),
                                  theirs.predict(X, prediction_type="RawFormulaVal"))
    np.testing.assert_array_equal(np.asarray(ours.predict_leaf(X)), theirs.calc_leaf_indexes(X))


def _node_vectors(cbm: bytes):
    """(steps, leaf ids, their positions) of a non-symmetric .cbm."""
    trees = _trees(cbm)
    steps = trees.array(10, np.dtype([("left", "<u2"), ("right", "<u2")]), "NonSymmetricStepNodes")
    ids_at, _ = trees._vector(11, 4, "NonSymmetricNodeIdToLeafId")
    return steps, trees.array(11, "<u4", "NonSymmetricNodeIdToLeafId"), ids_at


def test_cbm_leaf_id_of_a_node_where_no_walk_stops_is_not_read():
    """catboost reads ``NonSymmetricNodeIdToLeafId`` only at nodes with a step of 0; an id at a
    node with two children (normally 2**32-1) changes neither the values nor the leaf indexes."""
    cbm = _cbm("depthwise")
    steps, ids, at = _node_vectors(cbm)
    inner = int(np.flatnonzero((steps["left"] != 0) & (steps["right"] != 0))[0])
    _same_as_catboost(_put(cbm, at + 4 * inner, struct.pack("<I", 0)))


def test_cbm_leaf_ids_out_of_order_give_catboosts_leaf_indexes():
    """A tree's leaf ids repeated or out of order: its leaf index is the id less the tree's
    smallest, over the dimension, as catboost's ``calc_leaf_indexes`` computes it."""
    cbm = _cbm("depthwise")
    steps, ids, at = _node_vectors(cbm)
    stops = np.flatnonzero((steps["left"] == 0) | (steps["right"] == 0))
    a, b = stops[-2], stops[-1]  # the last tree's last two leaves: the second's id made the first's
    _same_as_catboost(_put(cbm, at + 4 * b, struct.pack("<I", int(ids[a]))))


def test_cbm_split_id_of_a_node_that_ends_every_walk_is_checked():
    """catboost repacks every entry of ``TreeSplits`` at load, those of nodes that end every walk
    too: one past the binary features is refused."""
    cbm = _cbm("depthwise")
    steps, _, _ = _node_vectors(cbm)
    final = int(np.flatnonzero((steps["left"] == 0) & (steps["right"] == 0))[0])
    splits_at, _ = _trees(cbm)._vector(1, 4, "TreeSplits")
    with pytest.raises(ModelFormatError, match=r"TreeSplits\[\d+\]"):
        gbinfer.load(_put(cbm, splits_at + 4 * final, struct.pack("<i", 64)))


def _json_margins(doc) -> np.ndarray:
    return np.asarray(gbinfer.load(json.dumps(doc).encode()).predict(_leaf_rows("depthwise"), output_margin=True))


def test_json_a_node_with_a_value_is_a_leaf_whatever_else_it_holds(tmp_path):
    """catboost's JSON reader takes a node with ``value`` for a leaf, even beside a ``split``."""
    catboost = pytest.importorskip("catboost")
    doc = json.loads((SEEDS / "depthwise.json").read_bytes())
    damaged = json.loads(json.dumps(doc))
    node = damaged["trees"][0]
    while "value" not in node["left"]:
        node = node["left"]
    node["left"]["split"] = node["split"]
    np.testing.assert_array_equal(_json_margins(damaged), _json_margins(doc))
    X = _leaf_rows("depthwise")
    theirs = [catboost.CatBoost() for _ in range(2)]
    for k, (model, d) in enumerate(zip(theirs, (doc, damaged))):
        (tmp_path / f"{k}.json").write_text(json.dumps(d))
        model.load_model(str(tmp_path / f"{k}.json"), format="json")
    np.testing.assert_array_equal(*(m.predict(X, prediction_type="RawFormulaVal") for m in theirs))


def test_json_oblivious_trees_are_read_before_trees():
    """catboost reads ``trees`` only when there are no ``oblivious_trees``."""
    doc = json.loads((SEEDS / "nan_min.json").read_bytes())
    both = dict(doc, trees=[{"value": 5.0}])
    np.testing.assert_array_equal(_json_margins(both), _json_margins(doc))


def _ctr_buckets(cbm: bytes, k: int) -> int:
    """Where table ``k``'s ``IndexHashRaw`` (12-byte buckets) starts in a ``.cbm`` with CTR tables."""
    pos = 8 + struct.unpack_from("<I", cbm, 4)[0] + 4
    for _ in range(k):
        pos += 4 + struct.unpack_from("<I", cbm, pos)[0]
    size = struct.unpack_from("<I", cbm, pos)[0]
    raw = Table.root(cbm[pos + 4:pos + 4 + size], None, "TCtrValueTable").array(1, np.uint8, "IndexHashRaw")
    return cbm.index(raw.tobytes(), pos), len(raw) // 12


def test_cbm_ctr_table_without_an_empty_bucket_is_refused():
    """CatBoost probes a CTR table until it meets the hash or an empty bucket: with every bucket
    used, an unseen category would make it loop forever."""
    cbm = bytearray(_cbm("ctr_cbm"))
    at, n = _ctr_buckets(bytes(cbm), 0)
    for b in range(n):
        if struct.unpack_from("<Q", cbm, at + 12 * b)[0] == (1 << 64) - 1:
            struct.pack_into("<Q", cbm, at + 12 * b, b)
    with pytest.raises(ModelFormatError, match="IndexHashRaw.*no empty bucket"):
        gbinfer.load(bytes(cbm))


def test_cbm_ctr_hash_behind_an_empty_bucket_is_not_found_as_catboost_does_not_find_it():
    """Buckets moved so that a hash's probe path meets an empty bucket first: catboost's lookup
    misses that hash (its CTR value is the prior's); gbinfer's must too."""
    catboost = pytest.importorskip("catboost")
    data, raw = _ctr_rows("ctr_cbm")
    cbm = bytearray(_cbm("ctr_cbm"))
    at, _ = _ctr_buckets(bytes(cbm), 0)
    cbm[at + 12:at + 24], cbm[at + 84:at + 96] = cbm[at + 84:at + 96], cbm[at + 12:at + 24]  # buckets 1 and 7
    theirs = catboost.CatBoost()
    theirs.load_model(blob=bytes(cbm))
    want = theirs.predict(catboost.Pool(data, cat_features=[3, 4]), prediction_type="RawFormulaVal")
    assert not np.array_equal(want, raw.ravel())  # the swap hides a hash from catboost
    got = np.asarray(gbinfer.load(bytes(cbm)).predict(data, output_margin=True)).ravel()
    np.testing.assert_array_equal(got, want)
