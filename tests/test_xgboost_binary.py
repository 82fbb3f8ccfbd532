"""Tests for the legacy binary XGBoost model reader.

The data files are pairs written by real XGBoost releases (the version is in the file
name): ``<name>.bin`` is the legacy binary model, ``<name>.json`` the same booster saved
as JSON. Parsing the binary must reproduce everything in the JSON that prediction uses.
XGBoost 0.90 could not write JSON, so ``xgb0.90_*.json`` is what XGBoost 1.7.6 saved
after loading the 0.90 binary (which exercises the pre-1.0 base_score conversion).
"""

from __future__ import annotations

import base64
import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from gbinfer.compat.xgboost_binary import parse
from gbinfer.errors import ModelFormatError, UnsupportedModelError

DATA = Path(__file__).parent / "data" / "xgboost_binary"
PAIRS = sorted(p.stem for p in DATA.glob("*.bin"))

F32_FIELDS = ("split_conditions", "base_weights", "loss_changes", "sum_hessian")
I32_FIELDS = ("left_children", "right_children", "parents", "split_indices")
U8_FIELDS = ("default_left", "split_type")


def _load(stem: str) -> tuple[bytes, dict]:
    return (DATA / f"{stem}.bin").read_bytes(), json.loads((DATA / f"{stem}.json").read_text())


def _assert_gbtree_equal(got: dict, want: dict) -> None:
    assert got["name"] == want["name"] == "gbtree"
    g, w = got["model"], want["model"]
    assert g["gbtree_model_param"]["num_trees"] == w["gbtree_model_param"]["num_trees"]
    assert g["gbtree_model_param"]["num_parallel_tree"] == w["gbtree_model_param"]["num_parallel_tree"]
    assert g["tree_info"] == w["tree_info"]
    if "iteration_indptr" in w:  # JSON from XGBoost >= 2.0
        assert g["iteration_indptr"] == w["iteration_indptr"]
    assert len(g["trees"]) == len(w["trees"])
    for i, (gt, wt) in enumerate(zip(g["trees"], w["trees"])):
        assert gt["tree_param"]["num_nodes"] == wt["tree_param"]["num_nodes"]
        assert gt["tree_param"]["num_feature"] == wt["tree_param"]["num_feature"]
        assert gt["tree_param"]["num_deleted"] == wt["tree_param"]["num_deleted"]
        assert gt["id"] == wt.get("id", i)
        for key in F32_FIELDS:
            assert gt[key].dtype == np.float32, key
            np.testing.assert_array_equal(gt[key], np.asarray(wt[key], dtype=np.float32), err_msg=f"tree {i} {key}")
        for key in I32_FIELDS:
            assert gt[key].dtype == np.int32, key
            np.testing.assert_array_equal(gt[key], np.asarray(wt[key], dtype=np.int64), err_msg=f"tree {i} {key}")
        for key in U8_FIELDS:
            assert gt[key].dtype == np.uint8, key
            np.testing.assert_array_equal(gt[key], np.asarray(wt[key]), err_msg=f"tree {i} {key}")
        assert gt["categories"] == gt["categories_nodes"] == []
        assert gt["categories_segments"] == gt["categories_sizes"] == []


@pytest.mark.parametrize("stem", PAIRS)
def test_binary_matches_json(stem):
    raw, want = _load(stem)
    got = parse(raw, stem)

    gl, wl = got["learner"], want["learner"]
    assert gl["attributes"] == wl["attributes"]
    if stem.startswith("xgb0."):
        # Pre-1.0 files carry no version and only the objective's name (plus, for
        # count:poisson, max_delta_step); the JSON was re-saved by a newer XGBoost.
        assert got["version"] == [0, 0, 0]
        assert gl["objective"]["name"] == wl["objective"]["name"]
        for key, value in gl["objective"].items():
            assert wl["objective"][key] == value
    else:
        assert got["version"][:2] == want["version"][:2]
        assert gl["objective"] == wl["objective"]
    assert gl["feature_names"] == [] and gl["feature_types"] == []
    gp, wp = gl["learner_model_param"], wl["learner_model_param"]
    assert isinstance(gp["base_score"], str)
    assert np.float32(gp["base_score"]) == np.float32(float(wp["base_score"]))
    for key in ("num_class", "num_feature", "num_target", "boost_from_average"):
        if key in wp:
            assert gp[key] == wp[key], key

    gb, wb = gl["gradient_booster"], wl["gradient_booster"]
    assert gb["name"] == wb["name"]
    if gb["name"] == "gbtree":
        _assert_gbtree_equal(gb, wb)
    elif gb["name"] == "dart":
        _assert_gbtree_equal(gb["gbtree"], wb["gbtree"])
        assert np.array_equal(np.float32(gb["weight_drop"]), np.float32(wb["weight_drop"]))
    else:
        weights = gb["model"]["weights"]
        assert weights.dtype == np.float32
        np.testing.assert_array_equal(weights, np.asarray(wb["model"]["weights"], dtype=np.float32))


def test_data_covers_the_variants():
    names = {parse(_load(s)[0])["learner"]["gradient_booster"]["name"] for s in PAIRS}
    assert names == {"gbtree", "dart", "gblinear"}
    multi = parse(_load("xgb1.7.6_multi_softprob")[0])
    assert multi["learner"]["attributes"]["best_iteration"] == "2"
    assert multi["learner"]["learner_model_param"]["num_class"] == "3"
    poisson = parse(_load("xgb0.90_poisson")[0])["learner"]["objective"]
    assert poisson["poisson_regression_param"] == {"max_delta_step": "0.5"}
    forest = parse(_load("xgb2.0.3_forest")[0])
    assert forest["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_parallel_tree"] == "2"


def test_accepts_memoryview_and_bytearray():
    raw, _ = _load("xgb2.0.3_dart")
    a = parse(raw)
    b = parse(memoryview(bytearray(raw)))
    assert a["learner"]["gradient_booster"]["weight_drop"] == b["learner"]["gradient_booster"]["weight_drop"]


def test_without_binf_header_and_base64_variant():
    raw, _ = _load("xgb2.0.3_dart")
    assert raw[:4] == b"binf"
    plain = parse(raw)
    bare = parse(raw[4:])
    encoded = b"bs64\t" + base64.b64encode(raw[4:]) + b"\n"
    b64 = parse(encoded)
    for other in (bare, b64):
        trees = other["learner"]["gradient_booster"]["gbtree"]["model"]["trees"]
        want = plain["learner"]["gradient_booster"]["gbtree"]["model"]["trees"]
        for t, w in zip(trees, want):
            np.testing.assert_array_equal(t["split_conditions"], w["split_conditions"])
    with pytest.raises(ModelFormatError, match="base64"):
        parse(b"bs64\t!!not base64!!")


def test_config_offset_snapshot():
    raw, _ = _load("xgb3.0.5_gblinear")
    model = raw[4:]
    blob = b"CONFIG-offset:" + struct.pack("<q", len(model)) + model + b'{"learner": {}}'
    got = parse(blob)
    np.testing.assert_array_equal(got["learner"]["gradient_booster"]["model"]["weights"],
                                  parse(raw)["learner"]["gradient_booster"]["model"]["weights"])
    with pytest.raises(ModelFormatError) as info:
        parse(b"CONFIG-offset:" + struct.pack("<q", 1 << 40) + model)
    assert info.value.field == "snapshot.model_size"
    with pytest.raises(ModelFormatError) as info:
        parse(b"CONFIG-offset:" + struct.pack("<q", len(model)) + model + b"not json")
    assert info.value.field == "snapshot.config"


def test_json_input_is_refused_clearly():
    _, want = _load("xgb3.0.5_gblinear")
    with pytest.raises(ModelFormatError, match="JSON"):
        parse(json.dumps(want).encode())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("stem", ["xgb3.0.5_gblinear", "xgb2.0.3_dart", "xgb0.90_poisson"])
def test_every_truncation_raises_model_format_error(stem):
    raw, _ = _load(stem)
    for n in range(len(raw)):
        with pytest.raises(ModelFormatError) as info:
            parse(raw[:n], "trunc.bin")
        assert "trunc.bin" in str(info.value)
        assert "offset" in info.value.problem or n == 0


def _offsets(raw: bytes) -> dict:
    """Byte offsets of a few fields in a binf-headed gbtree/dart model."""
    pos = 4 + 136
    obj_len = struct.unpack_from("<Q", raw, pos)[0]
    gbm_len_at = pos + 8 + obj_len
    gbm_len = struct.unpack_from("<Q", raw, gbm_len_at)[0]
    gbtree_param = gbm_len_at + 8 + gbm_len
    tree0 = gbtree_param + 160
    return {"objective_len": pos, "gbm_name": gbm_len_at + 8, "gbm_name_len": gbm_len,
            "num_trees": gbtree_param, "tree0_num_nodes": tree0 + 4, "tree0_nodes": tree0 + 148}


def _patch(raw: bytes, offset: int, fmt: str, value) -> bytes:
    buf = bytearray(raw)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


@pytest.mark.parametrize("value", [0, -1, -(2**31), 2**31 - 1, 100_000])
def test_corrupt_num_nodes(value):
    raw, _ = _load("xgb2.0.3_forest")
    bad = _patch(raw, _offsets(raw)["tree0_num_nodes"], "<i", value)
    with pytest.raises(ModelFormatError) as info:
        parse(bad, "forest.bin")
    assert info.value.field == "trees[0].num_nodes"
    assert "offset" in info.value.problem


@pytest.mark.parametrize("value", [-1, 2**31 - 1])
def test_corrupt_num_trees(value):
    raw, _ = _load("xgb2.0.3_forest")
    bad = _patch(raw, _offsets(raw)["num_trees"], "<i", value)
    with pytest.raises(ModelFormatError) as info:
        parse(bad)
    assert info.value.field == "gbtree_model_param.num_trees"


@pytest.mark.parametrize("length", [2**40, 2**64 - 1, 10_000])
def test_huge_string_length(length):
    raw, _ = _load("xgb1.7.6_multi_softprob")
    bad = _patch(raw, _offsets(raw)["objective_len"], "<Q", length)
    with pytest.raises(ModelFormatError) as info:
        parse(bad)
    assert info.value.field == "objective"
    assert "remain" in info.value.problem


def test_huge_vector_counts():
    raw, _ = _load("xgb3.0.5_gblinear")
    # The weights count follows the 136-byte gblinear parameter record.
    pos = 4 + 136
    for _ in range(2):
        pos += 8 + struct.unpack_from("<Q", raw, pos)[0]
    bad = _patch(raw, pos + 136, "<Q", 2**40)
    with pytest.raises(ModelFormatError) as info:
        parse(bad)
    assert info.value.field == "weights"


def test_unknown_booster_name():
    raw, _ = _load("xgb2.0.3_dart")
    off = _offsets(raw)
    assert raw[off["gbm_name"]:off["gbm_name"] + 4] == b"dart"
    bad = raw[:off["gbm_name"]] + b"dort" + raw[off["gbm_name"] + 4:]
    with pytest.raises(UnsupportedModelError) as info:
        parse(bad)
    assert isinstance(info.value, ModelFormatError)
    assert info.value.field == "gradient_booster.name"
    assert "dort" in info.value.problem


def test_child_index_out_of_range():
    raw, _ = _load("xgb2.0.3_forest")
    bad = _patch(raw, _offsets(raw)["tree0_nodes"] + 4, "<i", 9999)  # root's left child
    with pytest.raises(ModelFormatError) as info:
        parse(bad)
    assert info.value.field == "trees[0].nodes[0]"


def test_trailing_garbage():
    raw, _ = _load("xgb2.0.3_dart")
    with pytest.raises(ModelFormatError) as info:
        parse(raw + b"\x00\x01\x02")
    assert "3 more bytes" in info.value.problem


def test_random_corruption_only_raises_model_format_error():
    rng = random.Random(1234)
    for stem in PAIRS:
        raw, _ = _load(stem)
        for _ in range(200):
            buf = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(buf))
                buf[i] = rng.randrange(256)
            try:
                parse(bytes(buf))
            except ModelFormatError:
                pass
