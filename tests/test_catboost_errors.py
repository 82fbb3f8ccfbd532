"""Damaged CatBoost files the fuzz suite (tests/fuzz, formats ``catboost_cbm`` and ``catboost_json``)
found loading: each is refused with a ``ModelFormatError`` naming the field, as catboost itself
refuses it (checked where catboost refuses it cleanly rather than crashing)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

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
