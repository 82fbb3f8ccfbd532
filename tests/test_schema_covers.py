"""Schema 1.4's optional covers: ``node_count`` (LightGBM's row counts) and ``leaf_weights``
(CatBoost's leaf weights). A model saved with them explains after loading exactly as the library
does (the golden files of ``fixtures/schema/v1`` hold each library's values; see
``test_serialization.test_golden_file_predicts_identically``); each array is checked on load
(length, dtype, finite, >= 0: a ``ModelFormatError`` naming it), belongs to its semantics only,
and an older reader ignores it."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

import gbinfer
from gbinfer.errors import ModelFormatError, UnsupportedModelError
from gbinfer.serialization import binary, schema

from test_serialization import GOLDEN, _add_array, entry, rebuild, split, tamper

LGB, CB, CB_NS = (GOLDEN / "v1" / f"{name}.xgbrs" for name in ("lightgbm_counts", "catboost_weights",
                                                               "catboost_weights_lossguide"))


def test_the_golden_files_hold_the_new_arrays():
    for path, name in ((LGB, "node_count"), (CB, "leaf_weights"), (CB_NS, "leaf_weights")):
        _, header, _ = split(path.read_bytes())
        assert header["gbinfer_schema"] == [1, 4]
        e = entry(header, name)
        assert e["dtype"] == {"node_count": "int32", "leaf_weights": "float64"}[name]
    assert json.loads((GOLDEN / "v1" / "lightgbm_counts.json").read_bytes())["arrays"]["node_count"]


@pytest.mark.parametrize("path,name", [(LGB, "node_count"), (CB, "leaf_weights"), (CB_NS, "leaf_weights")])
def test_saving_again_keeps_them(tmp_path, path, name):
    model = gbinfer.load(path)
    expected = np.load(path.with_suffix(".npz"))
    for suffix in (".xgbrs", ".json", ".apr"):
        gbinfer.save(model, tmp_path / f"m{suffix}")
        again = gbinfer.load(tmp_path / f"m{suffix}")
        if name == "node_count":
            assert np.array_equal(again.booster.forest.data_count, expected["node_count"])
        else:
            assert np.array_equal(again.booster.leaf_weights, expected["leaf_weights"])


@pytest.mark.parametrize("path,name,value,match", [
    (LGB, "node_count", -1, "expected a row count >= 0"),
    (CB, "leaf_weights", np.nan, "expected a finite weight >= 0"),
    (CB, "leaf_weights", np.inf, "expected a finite weight >= 0"),
    (CB, "leaf_weights", -0.5, "expected a finite weight >= 0"),
    (CB_NS, "leaf_weights", -np.inf, "expected a finite weight >= 0"),
])
def test_bad_values_are_refused_by_name(path, name, value, match):
    with pytest.raises(ModelFormatError, match=match) as err:
        binary.loads(tamper(path.read_bytes(), name, 2, value))
    assert err.value.field == f"arrays/{name}[2]"


@pytest.mark.parametrize("path,name", [(LGB, "node_count"), (CB, "leaf_weights")])
def test_wrong_lengths_and_dtypes_are_refused(path, name):
    doc = orjson.loads(path.with_suffix(".json").read_bytes())
    doc["arrays"][name]["data"].append(1)
    with pytest.raises(ModelFormatError) as err:
        gbinfer.load(orjson.dumps(doc))
    assert name in err.value.field
    raw = path.read_bytes()
    _, header, _ = split(raw)
    e = entry(header, name)
    e.update(dtype={"int32": "float32", "float64": "int64"}[e["dtype"]])  # the same item size
    with pytest.raises(ModelFormatError, match="dtype") as err:
        binary.loads(rebuild(raw, header=header))
    assert err.value.field == f"arrays/{name}"


def test_the_json_container_checks_them_too():
    for path, name, bad, match in ((LGB, "node_count", -3, "expected a row count >= 0"),
                                   (CB, "leaf_weights", "NaN", "expected a finite weight")):
        doc = orjson.loads(path.with_suffix(".json").read_bytes())
        doc["arrays"][name]["data"][0] = bad
        with pytest.raises(ModelFormatError, match=match) as err:
            gbinfer.load(orjson.dumps(doc))
        assert name in err.value.field


def test_each_belongs_to_its_semantics():
    xgb = (GOLDEN / "v1" / "gbtree_binary.xgbrs").read_bytes()
    n = split(xgb)[1]["booster"]["num_nodes"]
    with pytest.raises(UnsupportedModelError, match="lightgbm") as err:
        binary.loads(_add_array(xgb, "node_count", np.ones(n, "<i4")))
    assert err.value.field == "arrays/node_count"
    with pytest.raises(ModelFormatError, match="oblivious or nonsymmetric layout") as err:
        binary.loads(_add_array(xgb, "leaf_weights", np.ones(n, "<f8")))
    assert err.value.field == "arrays/leaf_weights"
    cb = (GOLDEN / "v1" / "catboost_float.xgbrs").read_bytes()
    with pytest.raises(ModelFormatError, match="belongs to the nodes layout") as err:
        binary.loads(_add_array(cb, "node_count", np.ones(split(cb)[1]["booster"]["num_nodes"], "<i4")))
    assert err.value.field == "arrays/node_count"


@pytest.mark.parametrize("path,name", [(LGB, "node_count"), (CB, "leaf_weights")])
def test_older_readers_ignore_them(monkeypatch, path, name):
    """A 1.3 reader sees a newer minor and an array it does not know: it warns, predicts the same and
    (without covers) refuses to explain."""
    expected = np.load(path.with_suffix(".npz"))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", (1, 3))
    monkeypatch.delitem(schema.ARRAYS, name)
    with pytest.warns(schema.NewerSchemaWarning):
        model = binary.loads(path.read_bytes())
    X = expected["X"] if name == "node_count" else _catboost_rows(expected)
    assert np.array_equal(model.predict(X, output_margin=True), expected["margin"])
    with pytest.raises(UnsupportedModelError, match="holds none"):
        model.predict_contribs(X)


def _catboost_rows(expected):
    rows = expected["X"].astype(object)
    for key in (k for k in expected.files if k.startswith("cat_")):
        rows[:, int(key[4:])] = expected[key].tolist()
    return rows


def test_files_of_schema_1_3_load_without_covers():
    for name in ("lightgbm_multiclass", "catboost_ctr"):
        raw = (GOLDEN / "v1" / f"{name}.xgbrs").read_bytes()
        assert split(raw)[1]["gbinfer_schema"] in ([1, 2], [1, 3])
        model = binary.loads(raw)
        assert binary.read_spec(raw).version == (1, 4)
        assert not (model.booster.forest.has_counts if name.startswith("lightgbm") else model.booster.has_leaf_weights)
