"""The stable schema, ``.xgbrs`` and native JSON: round trips, golden files, version discipline, errors."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest

import gbinfer
from gbinfer.errors import ChecksumError, DataError, ModelFormatError, UnsupportedModelError, UnsupportedVersion
from gbinfer.model import Linear
from gbinfer.serialization import binary, schema
from gbinfer.serialization import json as native

ROOT = Path(__file__).resolve().parent.parent
XGB_FIXTURES = ROOT / "fixtures" / "xgboost"
GOLDEN = ROOT / "fixtures" / "schema"


# --- helpers ---------------------------------------------------------------------------------

def assert_same_predictions(a, b, X):
    assert np.array_equal(a.predict(X, output_margin=True), b.predict(X, output_margin=True), equal_nan=True)
    assert np.array_equal(a.predict(X), b.predict(X), equal_nan=True)
    if not isinstance(a.booster, Linear):
        assert np.array_equal(a.predict_leaf(X), b.predict_leaf(X))


def round_trip(model, X, tmp_path, stem="m"):
    for suffix in (".xgbrs", ".json"):
        path = tmp_path / f"{stem}{suffix}"
        gbinfer.save(model, path)
        again = gbinfer.load(path)
        assert_same_predictions(model, again, X)
        assert again.meta.source_library == model.meta.source_library
        assert again.meta.source_version == model.meta.source_version
        assert again.features == model.features
        assert again.objective == model.objective
        assert again.meta.best_iteration == model.meta.best_iteration
        assert again.meta.attributes == model.meta.attributes


def tiny_model():
    """A three-node tree built by hand: x0 < 0.5 goes left (-1), else right (+1); missing goes right."""
    from gbinfer.forest import Semantics, SoAForest
    from gbinfer.model import FeatureInfo, Model, ModelMeta, Tree
    from gbinfer.objective import Objective

    forest = SoAForest.build(
        source="tiny", num_features=2, num_outputs=1, semantics=Semantics.XGBOOST,
        split_feature=[0, 0, 0], threshold=[0.5, -1.0, 1.0], left_child=[1, -1, -1], right_child=[2, -1, -1],
        default_left=[0, 0, 0], is_categorical=[0, 0, 0], cat_offsets=[0, 0, 0, 0], cat_bits=[],
        leaf_values=[[0.5], [-1.0], [1.0]], tree_offsets=[0, 3], tree_group=[0], node_id=[0, 1, 2])
    meta = ModelMeta(num_features=2, num_outputs=1, base_score=np.zeros(1, np.float32), source_library="xgboost",
                     source_version=(3, 2, 0))
    return Model(booster=Tree(forest=forest, iteration_indptr=np.array([0, 1])), meta=meta,
                 features=FeatureInfo(("a", "b"), None), objective=Objective.xgboost("reg:squarederror"))


def ulp64(a, b) -> int:
    """Largest distance in float64 ULPs between two arrays of finite values."""
    ia, ib = (np.asarray(v, dtype=np.float64).ravel().view(np.int64) for v in (a, b))
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFFFFFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFFFFFFFFFF), ib)
    return int(np.abs(ia - ib).max()) if ia.size else 0


def split(raw: bytes):
    """(preamble fields, header dict, array section) of a .xgbrs file."""
    pre = list(binary.PREAMBLE.unpack_from(raw))
    start = binary.PREAMBLE.size
    header = orjson.loads(raw[start:start + pre[4]])
    data = raw[start + pre[4]:start + pre[4] + pre[7]]
    return pre, header, data


def rebuild(raw: bytes, *, header=None, data=None, major=None, minor=None) -> bytes:
    """A .xgbrs file with its header / data / version replaced and every checksum made right again."""
    pre, old_header, old_data = split(raw)
    header = old_header if header is None else header
    data = old_data if data is None else data
    h = orjson.dumps(header)
    h += b" " * (-(binary.PREAMBLE.size + len(h)) % binary.ALIGN)
    pre[1] = pre[1] if major is None else major
    pre[2] = pre[2] if minor is None else minor
    pre[4], pre[5], pre[7] = len(h), zlib.crc32(h), len(data)
    body = binary.PREAMBLE.pack(*pre) + h + data
    return body + struct.pack("<I", zlib.crc32(body))


def entry(header, name):
    return next(e for e in header["arrays"] if e["name"] == name)


# --- every committed XGBoost fixture round-trips -------------------------------------------------

def _fixture_cases():
    params = []
    for manifest in sorted(XGB_FIXTURES.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            for fmt in case["formats"]:
                params.append(pytest.param(manifest.parent, case, fmt,
                                           id=f"{manifest.parent.name}-{case['name']}-{fmt}"))
    return params or [pytest.param(None, None, None, marks=pytest.mark.skip("no fixtures/xgboost yet"))]


@pytest.mark.parametrize("directory,case,fmt", _fixture_cases())
def test_fixture_round_trip(directory, case, fmt, tmp_path):
    model = gbinfer.load(directory / f"{case['name']}.{fmt}")
    X = np.load(directory / case["npz"])["X"]
    round_trip(model, X, tmp_path)


# --- fresh models from the installed XGBoost ----------------------------------------------------

def _fresh(kind):
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(7)
    n, nf = 400, 7
    X = rng.normal(size=(n, nf)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    params = {"nthread": 1, "seed": 0, "max_depth": 4}
    dm_kw = {}
    y = rng.normal(size=n)
    if kind == "dart":
        params.update(booster="dart", rate_drop=0.4, skip_drop=0.0, objective="binary:logistic")
        y = rng.integers(0, 2, n)
    elif kind == "gblinear":
        params.update(booster="gblinear", objective="count:poisson")
        y = rng.poisson(1.5, n)
    elif kind == "categorical":
        X[:, 2] = rng.integers(0, 40, n)
        y = np.isin(X[:, 2], np.arange(0, 40, 3)).astype(float)
        params.update(objective="binary:logitraw", max_cat_to_onehot=1, tree_method="hist")
        dm_kw = {"feature_types": ["q", "q", "c"] + ["q"] * (nf - 3), "enable_categorical": True}
    elif kind == "vector_leaf":
        y = np.stack([rng.normal(size=n) for _ in range(3)], axis=1)
        params.update(objective="reg:squarederror", multi_strategy="multi_output_tree", tree_method="hist")
    elif kind == "multiclass":
        y = rng.integers(0, 4, n)
        params.update(objective="multi:softprob", num_class=4, num_parallel_tree=2, subsample=0.7)
    bst = xgb.train(params, xgb.DMatrix(X, y, **dm_kw), 12)
    Xt = rng.normal(size=(300, nf)).astype(np.float32)  # >= 256 rows: the parallel kernels too
    Xt[rng.random(Xt.shape) < 0.1] = np.nan
    if kind == "categorical":
        Xt[:, 2] = rng.integers(-2, 45, len(Xt))
    return bst, gbinfer.load(bytes(bst.save_raw("ubj"))), Xt, dm_kw


@pytest.mark.parametrize("kind", ["dart", "gblinear", "categorical", "vector_leaf", "multiclass"])
def test_fresh_round_trip(kind, tmp_path):
    import xgboost as xgb

    bst, model, X, dm_kw = _fresh(kind)
    ref = bst.predict(xgb.DMatrix(X, missing=np.nan, **dm_kw), output_margin=True)
    assert np.array_equal(model.predict(X, output_margin=True), ref)
    round_trip(model, X, tmp_path)
    if kind == "multiclass":  # iteration_range goes through the stored iteration_indptr
        again = gbinfer.load(tmp_path / "m.xgbrs")
        assert np.array_equal(again.predict(X, iteration_range=(2, 7)), model.predict(X, iteration_range=(2, 7)))


# --- golden files of every schema version --------------------------------------------------------

def _golden():
    files = sorted(GOLDEN.glob("v*/*.npz"))
    return [pytest.param(p, suffix, id=f"{p.parent.name}-{p.stem}{suffix}") for p in files
            for suffix in (".xgbrs", ".json")]


def test_golden_files_cover_every_kind():
    kinds = {p.stem for p in (GOLDEN / "v1").glob("*.xgbrs")}
    assert {"gbtree_binary", "gbtree_multiclass", "dart", "gblinear", "categorical", "vector_leaf",
            "catboost_float", "catboost_ctr", "catboost_multiclass", "catboost_depthwise",
            "catboost_lossguide_multiclass", "gbtree_covers"} <= kinds


def golden_input(expected):
    """A golden file's rows: ``X``, with the values of the categorical columns ``cat_<j>`` (CatBoost
    kinds: strings or integers, as catboost took them) put in place."""
    X = expected["X"]
    cats = [k for k in expected.files if k.startswith("cat_")]
    if not cats:
        return X
    rows = X.astype(object)
    for key in cats:
        rows[:, int(key[4:])] = expected[key].tolist()
    return rows


@pytest.mark.parametrize("npz,suffix", _golden())
def test_golden_file_predicts_identically(npz, suffix):
    expected = np.load(npz)
    model = gbinfer.load(npz.with_suffix(suffix))
    X = golden_input(expected)
    assert np.array_equal(model.predict(X, output_margin=True), expected["margin"], equal_nan=True)
    if "catboost_output" in expected:
        # the transform measured against catboost's own (its fast exp: a few ULP; see
        # test_catboost_fixtures), not against the output gbinfer's exp and sums gave on the machine
        # that wrote the file
        assert ulp64(model.predict(X), expected["catboost_output"]) <= 4
    else:
        assert np.array_equal(model.predict(X), expected["output"], equal_nan=True)
    if "leaf" in expected:
        assert np.array_equal(model.predict_leaf(X), expected["leaf"])
    assert model.meta.user_metadata["custom"] == {"kind": npz.stem}
    assert model.meta.user_metadata["name"] == "golden"
    forest = getattr(model.booster, "forest", None)
    if "cover" in expected:  # saved with covers: explains as xgboost does
        assert np.array_equal(forest.cover.view(np.uint32), expected["cover"].view(np.uint32))
        assert_close_to_row_max(model.predict_contribs(X), expected["contribs"])
        assert_close_to_row_max(model.predict_interactions(X), expected["interactions"])
    elif model.meta.source_library == "xgboost" and hasattr(forest, "semantics"):  # saved before covers were kept
        assert not forest.has_cover
        with pytest.raises(UnsupportedModelError, match="holds none") as err:
            model.predict_contribs(X)
        assert err.value.field == "cover"
    elif "node_count" in expected:  # 1.4: LightGBM's row counts kept, explained as lightgbm does
        assert np.array_equal(forest.data_count, expected["node_count"])
        assert np.array_equal(model.predict_contribs(X).reshape(len(X), -1), expected["contribs"])
    elif "leaf_weights" in expected:  # 1.4: CatBoost's leaf weights kept, explained as catboost does
        assert np.array_equal(model.booster.leaf_weights, expected["leaf_weights"])
        assert np.array_equal(model.predict_contribs(X), expected["contribs"])
    elif model.meta.source_library in ("lightgbm", "catboost") and not getattr(forest, "has_linear", False):
        with pytest.raises(UnsupportedModelError, match="holds none") as err:  # saved before 1.4 kept covers
            model.predict_contribs(X)
        assert err.value.field == {"lightgbm": "leaf_count", "catboost": "leaf_weights"}[model.meta.source_library]


def assert_close_to_row_max(got, ref, tol=1e-5):
    """SHAP values within ``tol`` of each row's largest magnitude: xgboost adds in float32 in its
    own order (the tolerance of tests/test_shap.py)."""
    n = got.shape[0]
    assert got.shape == ref.shape
    diff = np.abs(got.astype(np.float64) - ref).reshape(n, -1)
    scale = np.maximum(np.abs(ref).reshape(n, -1).max(axis=1, keepdims=True), 1e-30)
    assert (diff / scale).max() <= tol


def test_schema_shape_matches_committed_description():
    """Changing DOCUMENT, ARRAYS, an enum or a spec type needs a SCHEMA_VERSION bump and a new description
    (run fixtures/schema/make_golden.py --describe, then commit it beside the golden files)."""
    major, minor = schema.SCHEMA_VERSION
    committed = GOLDEN / f"v{major}" / f"schema-{major}.{minor}.json"
    assert committed.exists(), f"no committed description for schema {major}.{minor}: {committed}"
    current = orjson.loads(orjson.dumps(schema.describe_schema()))
    assert current == orjson.loads(committed.read_bytes()), (
        "the schema's shape changed without a SCHEMA_VERSION bump; bump it, add a migration for a new "
        "major, and commit the new description")


def test_migration_chain_upgrades_older_majors(monkeypatch):
    """A v2 gbinfer loads the v1 golden files through the chain's 1 -> 2 link."""
    seen = []

    def v1_to_v2(doc, arrays, source):
        seen.append(source)
        doc = dict(doc, gbinfer_schema=[2, 0])
        return doc, arrays

    monkeypatch.setattr(schema, "SCHEMA_VERSION", (2, 0))
    monkeypatch.setitem(schema._UPGRADES, 1, v1_to_v2)
    model = gbinfer.load(GOLDEN / "v1" / "gbtree_binary.xgbrs")
    expected = np.load(GOLDEN / "v1" / "gbtree_binary.npz")
    assert np.array_equal(model.predict(expected["X"], output_margin=True), expected["margin"])
    assert len(seen) == 1


def test_every_older_major_has_a_migration():
    assert all(m in schema._UPGRADES for m in range(1, schema.SCHEMA_VERSION[0]))
    assert all((schema.SCHEMA_VERSION[0], m) in schema._MINOR_UPGRADES for m in range(schema.SCHEMA_VERSION[1]))


def test_schema_1_2_documents_read_as_1_3():
    """1.3 adds no document key: a 1.2 golden file's document passes the 1.2 -> 1.3 link unchanged (and
    then the 1.3 -> 1.4 link, which adds none either)."""
    raw = (GOLDEN / "v1" / "lightgbm_multiclass.xgbrs").read_bytes()
    _, header, _ = split(raw)
    assert header["gbinfer_schema"] == [1, 2]
    header.pop("arrays")
    assert schema._MINOR_UPGRADES[1, 2](header, None) == header
    spec = binary.read_spec(raw)
    assert spec.version == schema.SCHEMA_VERSION and spec.booster.semantics is schema.Semantics.LIGHTGBM


# --- the .xgbrs layout -------------------------------------------------------------------------

def test_xgbrs_layout(tmp_path):
    model = tiny_model()
    raw = binary.dumps(model)
    pre, header, data = split(raw)
    assert raw[:5] == b"XGBRS" and tuple(pre[1:3]) == binary.FORMAT_VERSION and pre[3] == 0
    start = binary.PREAMBLE.size + pre[4]
    assert start % 64 == 0
    assert len(raw) == start + pre[7] + 4
    assert struct.unpack("<I", raw[-4:])[0] == zlib.crc32(raw[:-4])
    assert list(header)[0] == "gbinfer_schema"
    end = 0
    for e in header["arrays"]:
        assert e["offset"] % 64 == 0 and e["offset"] == -(-end // 64) * 64
        end = e["offset"] + e["nbytes"]
    assert end == pre[7]
    thr = entry(header, "threshold")
    stored = np.frombuffer(data, "<f4", 3, thr["offset"])
    assert stored[0] == 0.5 and np.isnan(stored[1:]).all()  # leaves keep their value in leaf_values
    assert binary.dumps(model) == raw  # deterministic


def test_xgbrs_load_is_zero_copy(tmp_path):
    import mmap

    bst, model, X, _ = _fresh("multiclass")
    path = tmp_path / "m.xgbrs"
    gbinfer.save(model, path)
    again = gbinfer.load(path)
    # leaf values and per-tree arrays stay views of the file; the node arrays are packed into the
    # kernels' 16-byte form in one pass when the model is built
    for name in ("leaf_values", "tree_offsets", "tree_group"):
        base = getattr(again.booster.forest, name)
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base.obj if isinstance(base, memoryview) else base, mmap.mmap), name
    assert not again.booster.forest.threshold.flags.writeable


def test_save_replaces_a_mapped_file(tmp_path):
    """Atomic rename: a model loaded from a path keeps working when the path is rewritten."""
    bst, model, X, _ = _fresh("multiclass")
    path = tmp_path / "m.xgbrs"
    gbinfer.save(model, path)
    loaded = gbinfer.load(path)
    gbinfer.save(tiny_model(), path)
    assert_same_predictions(model, loaded, X)
    assert gbinfer.load(path).num_features == 2


# --- native JSON -------------------------------------------------------------------------------

def test_native_json_is_stable_readable_and_sniffed(tmp_path):
    model = tiny_model()
    text = native.dumps(model)
    assert text == native.dumps(model)
    assert text.startswith(b'{\n"gbinfer_schema":[%d,%d],' % schema.SCHEMA_VERSION)
    doc = orjson.loads(text)
    assert list(doc)[:-1] == list(schema.DOCUMENT)
    assert doc["arrays"]["threshold"] == {"dtype": "float32", "shape": [3], "data": [0.5, "NaN", "NaN"]}
    assert gbinfer.loader.sniff(text) == "native_json"
    assert gbinfer.loader.sniff(binary.dumps(model)) == "xgbrs"
    assert gbinfer.loader.sniff(b'{"learner": {}, "version": [3, 2, 0]}') == "xgboost"
    assert gbinfer.load(text).predict(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_json_floats_read_back_to_the_same_bits(dtype):
    rng = np.random.default_rng(3)
    width = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(width).max, 200_000, dtype=width, endpoint=True)
    values = bits.view(dtype)
    values = np.concatenate([values, np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, 3.4028235e38], dtype)])
    values = values[~np.isnan(values)]
    body = native._array(values)
    back = native._floats(orjson.loads(body)["data"], np.dtype(dtype), None, "x")
    assert np.array_equal(back.view(width), values.view(width))
    nan = native._floats(orjson.loads(native._array(np.array([np.nan, 1.5], dtype)))["data"], np.dtype(dtype),
                         None, "x")
    assert np.isnan(nan[0]) and nan[1] == 1.5


# --- user metadata, save(), the CLI --------------------------------------------------------------

def test_user_metadata_survives_save_and_load(tmp_path):
    model = tiny_model()
    md = {"name": "churn", "description": "weekly churn model", "hyperparameters": {"max_depth": 6},
          "metrics": {"auc": np.float64(0.91)}, "custom": {"owner": "ml-team", "tags": ["a", "b"]}}
    for suffix in (".xgbrs", ".json"):
        path = tmp_path / f"m{suffix}"
        gbinfer.save(model, path, metadata=md)
        got = gbinfer.load(path).meta.user_metadata
        assert got == {**md, "metrics": {"auc": 0.91}}
        # a second save keeps it, and merges new entries over it
        gbinfer.save(gbinfer.load(path), path, metadata={"name": "churn-v2"})
        assert gbinfer.load(path).meta.user_metadata["name"] == "churn-v2"
        assert gbinfer.load(path).meta.user_metadata["custom"]["owner"] == "ml-team"


@pytest.mark.parametrize("bad", [{"owner": "x"}, {"name": 3}, {"metrics": [1]}, {"custom": {"f": object()}}])
def test_bad_user_metadata_is_a_caller_error(bad, tmp_path):
    with pytest.raises(DataError):
        gbinfer.save(tiny_model(), tmp_path / "m.xgbrs", metadata=bad)
    assert not list(tmp_path.iterdir())


def test_save_format_by_suffix(tmp_path):
    model = tiny_model()
    gbinfer.save(model, tmp_path / "a.bin", format="json")
    assert (tmp_path / "a.bin").read_bytes().startswith(b'{\n"gbinfer_schema"')
    gbinfer.save(model, tmp_path / "a.apr")
    assert (tmp_path / "a.apr").read_bytes().startswith(b"APRN")
    with pytest.raises(UnsupportedModelError, match="suffix"):
        gbinfer.save(model, tmp_path / "a.model")


def test_cli_convert_and_inspect(tmp_path):
    src = XGB_FIXTURES / "3.2.0" / "binary_logistic.ubj"
    if not src.exists():
        pytest.skip("no fixtures/xgboost/3.2.0")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dst = tmp_path / "m.xgbrs"
    run = subprocess.run([sys.executable, "-m", "gbinfer.cli", "convert", str(src), str(dst), "--name", "bl"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([sys.executable, "-m", "gbinfer.cli", "convert", str(dst), str(tmp_path / "m.json")],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    X = np.load(src.with_suffix(".npz"))["X"]
    assert_same_predictions(gbinfer.load(src), gbinfer.load(tmp_path / "m.json"), X)
    run = subprocess.run([sys.executable, "-m", "gbinfer.cli", "inspect", str(dst)], capture_output=True,
                         text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "container:   xgbrs 1.0, schema %d.%d" % schema.SCHEMA_VERSION in run.stdout
    assert "written by:  gbinfer" in run.stdout and "source:      xgboost 3.2.0" in run.stdout
    assert "name:        bl" in run.stdout
    run = subprocess.run([sys.executable, "-m", "gbinfer.cli", "inspect", str(tmp_path / "m.json")],
                         capture_output=True, text=True, env=env)
    assert "container:   json, schema %d.%d" % schema.SCHEMA_VERSION in run.stdout


# --- errors: every refusal typed, naming what is wrong ---------------------------------------------

@pytest.fixture(scope="module")
def raw():
    return binary.dumps(tiny_model())


def test_bad_magic(raw):
    with pytest.raises(ModelFormatError, match="magic") as err:
        binary.loads(b"XGBRZ" + raw[5:])
    assert err.value.field == "magic"


@pytest.mark.parametrize("cut", [7, 31, 40, 64 * 3, -5, -1])
def test_truncated_file(raw, cut, tmp_path):
    path = tmp_path / "m.xgbrs"
    path.write_bytes(raw[:cut])
    with pytest.raises(ModelFormatError, match="truncated"):
        gbinfer.load(path)
    with pytest.raises(ModelFormatError, match="truncated"):
        binary.loads(raw[:cut])


def test_trailing_bytes(raw):
    with pytest.raises(ModelFormatError, match="unexpected bytes"):
        binary.loads(raw + b"\0")


def test_crc_mismatch_names_expected_and_actual(raw, tmp_path):
    damaged = bytearray(raw)
    damaged[-20] ^= 0x01  # a byte of the last array
    stored = struct.unpack("<I", raw[-4:])[0]
    actual = zlib.crc32(bytes(damaged[:-4]))
    path = tmp_path / "m.xgbrs"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ChecksumError) as err:
        gbinfer.load(path)
    assert (err.value.expected, err.value.actual) == (stored, actual)
    assert f"0x{stored:08x}" in str(err.value) and f"0x{actual:08x}" in str(err.value)


def test_header_crc_guards_unverified_loads(raw):
    pre, header, data = split(raw)
    damaged = bytearray(raw)
    damaged[binary.PREAMBLE.size + 3] ^= 0x20
    with pytest.raises(ChecksumError) as err:
        binary.loads(bytes(damaged), verify=False)
    assert err.value.field == "header_crc"
    data_damaged = bytearray(raw)
    data_damaged[-4] ^= 0xFF  # the trailer itself: only the whole-file check sees it
    assert binary.loads(bytes(data_damaged), verify=False).num_features == 2
    with pytest.raises(ChecksumError):
        binary.loads(bytes(data_damaged))


def test_schema_enums_name_runtime_values():
    from gbinfer.objective import BaseScoreLink, LightGBMTransform, Transform
    from gbinfer.oblivious import CTR_TYPES

    assert {t.name.lower() for t in (*Transform, *LightGBMTransform)} == set(schema.TRANSFORMS)
    assert {t.name.lower() for t in BaseScoreLink} == set(schema.LINKS)
    assert set(CTR_TYPES) == set(schema.CTR_KINDS)


def test_newer_major_is_refused(raw):
    with pytest.raises(UnsupportedVersion) as err:
        binary.loads(rebuild(raw, major=2))
    assert err.value.found == "2.0" and err.value.supported == "1.x"
    _, header, _ = split(raw)
    header["gbinfer_schema"] = [2, 0]
    with pytest.raises(UnsupportedVersion) as err:
        binary.loads(rebuild(raw, header=header))
    assert err.value.found == "2.0"
    doc = orjson.loads(native.dumps(tiny_model()))
    doc["gbinfer_schema"] = [3, 1]
    with pytest.raises(UnsupportedVersion):
        gbinfer.load(orjson.dumps(doc))


def test_newer_minor_loads_with_a_warning(raw):
    _, header, _ = split(raw)
    header["gbinfer_schema"] = [1, 7]
    header["booster"]["future_key"] = "ignored"
    with pytest.warns(schema.NewerSchemaWarning):
        model = binary.loads(rebuild(raw, header=header, minor=3))
    assert model.num_features == 2
    header["gbinfer_schema"] = [1, 0]  # the same key in a 1.0 file is malformed
    with pytest.raises(ModelFormatError, match="future_key"):
        binary.loads(rebuild(raw, header=header))


def test_newer_minor_may_add_arrays(raw):
    pre, header, data = split(raw)
    header["gbinfer_schema"] = [1, schema.SCHEMA_VERSION[1] + 1]
    extra = np.arange(4, dtype="<i4").tobytes()
    offset = -(-len(data) // 64) * 64
    header["arrays"].append({"name": "future_array", "dtype": "int32", "shape": [4], "offset": offset, "nbytes": 16})
    new = rebuild(raw, header=header, data=data + bytes(offset - len(data)) + extra)
    with pytest.warns(schema.NewerSchemaWarning):
        binary.loads(new)
    header["gbinfer_schema"] = [1, 0]
    with pytest.raises(ModelFormatError, match="future_array"):
        binary.loads(rebuild(raw, header=header, data=data + bytes(offset - len(data)) + extra))


@pytest.mark.parametrize("edit,match", [
    (lambda h: entry(h, "threshold").update(nbytes=8), "needs 12 bytes"),
    (lambda h: entry(h, "threshold").update(shape=[4], nbytes=16), r"has shape \(4,\), expected \(nodes=3\)"),
    (lambda h: entry(h, "threshold").update(shape=[2], nbytes=8), "padding before it is not zero"),
    (lambda h: entry(h, "threshold").update(dtype="float64", nbytes=24), "float64; xgboost semantics use float32"),
    (lambda h: entry(h, "threshold").update(dtype="int32"), "dtype int32, expected float32"),
    (lambda h: entry(h, "threshold").update(dtype="complex64"), "unknown dtype"),
    (lambda h: entry(h, "threshold").update(offset=entry(h, "threshold")["offset"] + 64), "no holes"),
    (lambda h: entry(h, "left_child").update(offset=0), "no holes"),
    (lambda h: entry(h, "threshold").update(shape=[2**40, 2**40], nbytes=0), "sizes in"),
    (lambda h: entry(h, "threshold").update(shape=[700, 700], nbytes=0), "needs more than"),
    (lambda h: h["arrays"].pop(), "cover|missing"),
    (lambda h: h["arrays"].append(dict(h["arrays"][0])), "not a new array name"),
])
def test_array_table_inconsistent_with_header(raw, edit, match):
    _, header, _ = split(raw)
    edit(header)
    with pytest.raises(ModelFormatError, match=match):
        binary.loads(rebuild(raw, header=header))


def test_header_size_is_capped(raw):
    pre = list(binary.PREAMBLE.unpack_from(raw))
    pre[4] = binary.MAX_HEADER + 64 - binary.PREAMBLE.size
    with pytest.raises(ModelFormatError, match="limit"):
        binary.loads(binary.PREAMBLE.pack(*pre) + raw[binary.PREAMBLE.size:])


@pytest.mark.parametrize("key,path,value,error", [
    ("booster", "semantics", "foo", UnsupportedModelError),
    ("booster", "kind", "gbforest", UnsupportedModelError),
    ("booster", "layout", "spiral", UnsupportedModelError),
    ("objective", "transform", "tanh", UnsupportedModelError),
    ("objective", "link", "probit", UnsupportedModelError),
    ("booster", "semantics", "lightgbm", UnsupportedModelError),  # reserved, not implemented
    ("booster", "layout", "oblivious", UnsupportedModelError),  # oblivious trees have catboost semantics
    ("model", "num_features", "2", ModelFormatError),
    ("booster", "num_nodes", 4, ModelFormatError),  # arrays no longer match: "expected (nodes=4)"
])
def test_unknown_enum_values_and_bad_fields(raw, key, path, value, error):
    _, header, _ = split(raw)
    header[key][path] = value
    with pytest.raises(error, match="nodes=4" if path == "num_nodes" else path):
        binary.loads(rebuild(raw, header=header))


@pytest.mark.parametrize("name,index,value,match", [
    ("split_kind", 0, 7, "unknown code 7"),
    ("default_left", 0, 2, "unknown code 2"),
    ("left_child", 0, 2, "sibling pair"),  # a tampered child index never reaches the kernels
    ("left_child", 1, 1, "sibling pair"),  # a cycle
    ("split_feature", 0, 9, "out of range"),
    ("tree_offsets", 1, 2, "tree_offsets"),
])
def test_tampered_arrays_are_refused(raw, name, index, value, match):
    _, header, data = split(raw)
    e = entry(header, name)
    arr = np.frombuffer(data, binary.DTYPES[e["dtype"]], offset=e["offset"], count=e["nbytes"] //
                        np.dtype(binary.DTYPES[e["dtype"]]).itemsize).copy()
    arr[index] = value
    data = data[:e["offset"]] + arr.tobytes() + data[e["offset"] + e["nbytes"]:]
    with pytest.raises(ModelFormatError, match=match):
        binary.loads(rebuild(raw, data=data))


def test_reserved_arrays_are_refused(raw):
    pre, header, data = split(raw)
    offset = -(-len(data) // 64) * 64
    header["arrays"].append({"name": "missing_type", "dtype": "uint8", "shape": [3], "offset": offset, "nbytes": 3})
    with pytest.raises(UnsupportedModelError, match="missing_type"):
        binary.loads(rebuild(raw, header=header, data=data + bytes(offset - len(data)) + b"\0\0\0"))


def test_native_json_errors():
    doc = orjson.loads(native.dumps(tiny_model()))
    bad = json.loads(json.dumps(doc))
    bad["arrays"]["threshold"]["data"] = [0.5, 1.0]
    with pytest.raises(ModelFormatError, match="has 2 values"):
        gbinfer.load(orjson.dumps(bad))
    bad = json.loads(json.dumps(doc))
    bad["arrays"]["left_child"]["data"] = [1.5, -1, -1]
    with pytest.raises(ModelFormatError, match="integers"):
        gbinfer.load(orjson.dumps(bad))
    bad = json.loads(json.dumps(doc))
    bad["arrays"]["threshold"]["data"] = [0.5, "oops", 1.0]
    with pytest.raises(ModelFormatError, match=r"data\[1\]"):
        gbinfer.load(orjson.dumps(bad))
    bad = json.loads(json.dumps(doc))
    bad["arrays"]["split_kind"]["data"] = [300, 0, 0]
    with pytest.raises(ModelFormatError, match="range"):
        gbinfer.load(orjson.dumps(bad))
    bad = json.loads(json.dumps(doc))
    bad["booster"]["semantics"] = "catboost"
    with pytest.raises(UnsupportedModelError, match="nodes layout is not implemented"):
        gbinfer.load(orjson.dumps(bad))
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        gbinfer.load(native.dumps(tiny_model())[:-20])


# --- atomic writes -----------------------------------------------------------------------------

def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.xgbrs"
    gbinfer.save(tiny_model(), path)
    before = path.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(binary, "write_spec", lambda spec, fh: (fh.write(b"XGBRS partial"), crash()))
    with pytest.raises(OSError, match="disk full"):
        gbinfer.save(tiny_model(), path, metadata={"name": "new"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.xgbrs"]
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        gbinfer.save(tiny_model(), tmp_path / "new.json")
    assert [p.name for p in tmp_path.iterdir()] == ["m.xgbrs"]


def test_new_minor_format_warns(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binary.loads(raw)  # the current version: no warning
    with pytest.warns(binary.NewerFormatWarning):
        binary.loads(rebuild(raw, minor=9))


# --- CatBoost models (schema 1.3: catboost semantics, oblivious layout) ----------------------------

def _catboost_fresh(kind):
    """A catboost model trained here, its gbinfer model and test rows (unseen categories included);
    ``depthwise_ctr`` and ``lossguide_multiclass`` are ``ctr`` and ``multiclass`` grown non-symmetric."""
    grow = {"depthwise_ctr": ("ctr", {"grow_policy": "Depthwise"}),
            "lossguide_multiclass": ("multiclass", {"grow_policy": "Lossguide", "max_leaves": 12})}
    kind, growth = grow.get(kind, (kind, {}))
    cb = pytest.importorskip("catboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(11)
    n = 400
    df = pd.DataFrame({"a": rng.normal(size=n).astype(np.float32), "b": rng.normal(size=n).astype(np.float32)})
    df.loc[rng.random(n) < 0.15, "b"] = np.nan
    cats = []
    params = {"iterations": 10, "depth": 4, "verbose": 0, "thread_count": 1, "random_seed": 0,
              "allow_writing_files": False}
    y = df["a"].to_numpy() * 2 + np.nan_to_num(df["b"].to_numpy())
    if kind in ("ctr", "multiclass"):
        df["city"] = rng.choice(["oslo", "rome", "lima", "nara", "kiev", "bern"], n)
        df["flag"] = rng.choice([0, 1], n)
        df["code"] = rng.choice([3, 5, 8, 13, 21], n)
        cats = ["city", "flag", "code"]
        params.update(one_hot_max_size=2, max_ctr_complexity=3,
                      simple_ctr=["Borders", "Counter", "Buckets"],
                      combinations_ctr=["Borders", "Counter"])
        y = (df["city"].isin(["oslo", "lima"]).to_numpy() ^ df["code"].isin([5, 13]).to_numpy()
             ^ ((df["flag"] == 1).to_numpy() & (df["a"].to_numpy() > 0.2))).astype(int)
    if kind == "multiclass":
        y = (y + (df["code"].to_numpy() > 6) + (df["b"].fillna(0).to_numpy() > 0)) % 3
        params.update(loss_function="MultiClass", simple_ctr=None, combinations_ctr=None)
        params = {k: v for k, v in params.items() if v is not None}
    elif kind == "multirmse":
        y = np.stack([y, df["a"].to_numpy() - 1.0], axis=1)
        params.update(loss_function="MultiRMSE")
    elif kind == "poisson":
        y = rng.poisson(np.exp(np.clip(df["a"].to_numpy(), -2, 2)))
        params.update(loss_function="Poisson", nan_mode="Min")
    elif kind == "float":
        params.update(nan_mode="Max", border_count=300)
    cls = cb.CatBoostClassifier if kind in ("ctr", "multiclass") else cb.CatBoostRegressor
    m = cls(**params, **growth)
    m.fit(df, y, cat_features=cats or None)
    test = df.iloc[:60].copy()
    if cats:
        test.loc[test.index[:5], "city"] = "unseen"
        test.loc[test.index[5:8], "code"] = 99
    rows = test.to_numpy(dtype=object)
    return cb, m, gbinfer.load(m), test, rows, cats


@pytest.mark.parametrize("kind", ["float", "ctr", "multiclass", "multirmse", "poisson", "depthwise_ctr",
                                  "lossguide_multiclass"])
def test_catboost_round_trip(kind, tmp_path):
    """.xgbrs, native JSON and .apr give catboost's raw values bit for bit, before and after."""
    cb, m, model, test, rows, cats = _catboost_fresh(kind)
    pool = cb.Pool(test, cat_features=cats or None)
    ref = m.predict(pool, prediction_type="RawFormulaVal")
    assert np.array_equal(model.predict(rows, output_margin=True), ref)
    assert np.array_equal(model.predict_leaf(rows), m.calc_leaf_indexes(pool))
    assert model.booster.symmetric == (kind not in ("depthwise_ctr", "lossguide_multiclass"))
    if kind in ("ctr", "depthwise_ctr"):
        assert len({c.kind for c in model.booster.ctrs}) >= 2
    if kind == "ctr":
        assert any(len(c.cat_columns) > 1 for c in model.booster.ctrs)
    suffixes = [".xgbrs", ".json"]
    try:
        import zstandard  # noqa: F401 - .apr's default compression

        suffixes.append(".apr")
    except ImportError:
        pass
    for suffix in suffixes:
        path = tmp_path / f"m{suffix}"
        gbinfer.save(model, path, metadata={"name": kind})
        again = gbinfer.load(path)
        assert np.array_equal(again.predict(rows, output_margin=True), ref), suffix
        assert np.array_equal(again.predict(rows), model.predict(rows)), suffix
        assert np.array_equal(again.predict_leaf(rows), model.predict_leaf(rows)), suffix
        assert again.predict(test).shape == model.predict(test).shape  # a frame, by name
        assert again.features == model.features and again.objective == model.objective, suffix
        assert again.meta.source_version == model.meta.source_version
        if suffix != ".apr":  # .apr keeps its metadata in its own header
            assert again.meta.user_metadata["name"] == kind
        assert np.array_equal(again.predict(rows, iteration_range=(2, 7)), model.predict(rows, iteration_range=(2, 7)))


@pytest.fixture(scope="module")
def cb_raw():
    return (GOLDEN / "v1" / "catboost_ctr.xgbrs").read_bytes()


def tamper(raw: bytes, name: str, index: int, value) -> bytes:
    _, header, data = split(raw)
    e = entry(header, name)
    dt = np.dtype(binary.DTYPES[e["dtype"]])
    arr = np.frombuffer(data, dt, offset=e["offset"], count=e["nbytes"] // dt.itemsize).copy()
    arr[index] = value
    return rebuild(raw, data=data[:e["offset"]] + arr.tobytes() + data[e["offset"] + e["nbytes"]:])


def test_catboost_golden_is_what_it_claims(cb_raw):
    model = binary.loads(cb_raw)
    _, header, _ = split(cb_raw)
    assert header["booster"]["semantics"] == "catboost" and header["booster"]["layout"] == "oblivious"
    assert len(model.booster.ctrs) > 1 and len(model.booster.cat_column) == 1
    assert len(entry(header, "ctr_hashes")["shape"]) == 1 and entry(header, "ctr_hashes")["shape"][0] > 2


@pytest.mark.parametrize("name,index,value,error,match", [
    ("ctr_kind", 0, 9, UnsupportedModelError, r"ctr_kind\[0\].*unknown code 9"),
    ("ctr_cat_column", 0, 99, ModelFormatError, "outside the model's 6 features"),
    ("ctr_hashes", 0, -1, ModelFormatError, "strictly ascending"),  # -1: the largest uint64
    ("ctr_table_offsets", -1, 0, ModelFormatError, "must rise from 0"),
    ("ctr_cat_offsets", 1, 5, ModelFormatError, "must rise from 0"),
    ("ctr_target_border", 0, 4, ModelFormatError, "do not fit a Borders CTR"),
    ("ctr_count_width", 0, 0, ModelFormatError, "width lies outside"),
    ("ctr_prior_denominator", 0, np.nan, ModelFormatError, "prior_denominator"),
    ("binary_slot", 0, 999, ModelFormatError, "outside the model's"),
    ("binary_index", 0, 4000, ModelFormatError, "does not have"),
    ("tree_splits", 0, 999, ModelFormatError, "outside the model's"),
    ("tree_depth", 0, 17, ModelFormatError, "depth lies outside"),
    ("float_borders", 1, -1e30, ModelFormatError, "strictly ascending"),
    ("float_nan_as_true", 0, 2, ModelFormatError, "other than 0 or 1"),
    ("float_column", 0, 99, ModelFormatError, "outside the model's"),
    ("onehot_column", 0, 99, ModelFormatError, "outside the model's"),
    ("onehot_offsets", 0, 1, ModelFormatError, "must rise from 0"),
    ("scale", 0, np.inf, ModelFormatError, "finite"),
    ("bias", 0, np.nan, ModelFormatError, "finite"),
    ("base_score", 0, 0.5, ModelFormatError, "must be 0 for catboost"),
])
def test_tampered_catboost_arrays_are_refused(cb_raw, name, index, value, error, match):
    with pytest.raises(error, match=match) as err:
        binary.loads(tamper(cb_raw, name, index, value))
    assert type(err.value) is error


def test_wild_catboost_offsets_are_refused(cb_raw):
    """Offsets whose differences wrap around int64 look rising: their range is checked first."""
    raw = tamper(tamper(tamper(cb_raw, "ctr_table_offsets", 1, 2**63 - 1), "ctr_table_offsets", 2, -2**63 + 5),
                 "ctr_table_offsets", 3, 0)
    with pytest.raises(ModelFormatError, match="ctr_table_offsets.*must rise"):
        binary.loads(raw)


def _add_array(raw, name, arr):
    _, header, data = split(raw)
    offset = -(-len(data) // 64) * 64
    header["arrays"].append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "offset": offset,
                             "nbytes": arr.nbytes})
    return rebuild(raw, header=header, data=data + bytes(offset - len(data)) + arr.tobytes())


@pytest.mark.parametrize("edit,error,match", [
    (lambda h: h["objective"].update(transform="exp"), ModelFormatError, "Logloss.*means 'sigmoid'"),
    (lambda h: h["objective"].update(name="Hinge"), UnsupportedModelError, "Hinge"),
    (lambda h: h["booster"].update(kind="dart"), UnsupportedModelError, "need gbtree"),
    (lambda h: h["booster"].update(layout="nodes"), UnsupportedModelError, "nodes layout is not implemented"),
    (lambda h: h["booster"].update(semantics="xgboost"), UnsupportedModelError, "oblivious layout is not"),
    (lambda h: h["booster"].update(leaf_size=2), ModelFormatError, "leaf_size=2"),
    (lambda h: h["booster"].update(num_nodes=7), ModelFormatError, "nodes=7"),
    (lambda h: h["features"].update(categories=[None] * 6, category_types=[None] * 6), ModelFormatError,
     "features/categories"),
])
def test_malformed_catboost_documents_are_refused(cb_raw, edit, error, match):
    _, header, _ = split(cb_raw)
    edit(header)
    with pytest.raises(error, match=match):
        binary.loads(rebuild(cb_raw, header=header))


def test_catboost_arrays_belong_to_the_oblivious_layout(cb_raw, raw):
    with pytest.raises(ModelFormatError, match="threshold.*belongs to the nodes layout"):
        binary.loads(_add_array(cb_raw, "threshold", np.zeros(3, np.float32)))
    with pytest.raises(ModelFormatError, match="ctr_kind.*belongs to the oblivious or nonsymmetric layout"):
        binary.loads(_add_array(raw, "ctr_kind", np.zeros(1, np.uint8)))


def test_catboost_native_json_errors():
    doc = orjson.loads((GOLDEN / "v1" / "catboost_ctr.json").read_bytes())
    bad = json.loads(json.dumps(doc))
    bad["arrays"]["ctr_hashes"]["data"][0] = "x"
    with pytest.raises(ModelFormatError, match="integers"):
        gbinfer.load(orjson.dumps(bad))
    bad = json.loads(json.dumps(doc))
    bad["arrays"]["ctr_kind"]["data"] = bad["arrays"]["ctr_kind"]["data"][1:]
    bad["arrays"]["ctr_kind"]["shape"] = [len(bad["arrays"]["ctr_kind"]["data"])]
    with pytest.raises(ModelFormatError, match="one per CTR"):
        gbinfer.load(orjson.dumps(bad))


def test_missing_catboost_array_is_named(cb_raw):
    _, header, data = split(cb_raw)
    last = header["arrays"].pop()
    assert last["name"] == "ctr_counts"
    with pytest.raises(ModelFormatError, match="ctr_counts.*missing"):
        binary.loads(rebuild(cb_raw, header=header, data=data[:header["arrays"][-1]["offset"] +
                                                              header["arrays"][-1]["nbytes"]]))


# --- CatBoost non-symmetric trees (schema 1.3: catboost semantics, nonsymmetric layout) ---------

@pytest.fixture(scope="module")
def cb_tree_raw():
    return (GOLDEN / "v1" / "catboost_depthwise.xgbrs").read_bytes()


def test_nonsymmetric_golden_is_what_it_claims(cb_tree_raw):
    model = binary.loads(cb_tree_raw)
    _, header, _ = split(cb_tree_raw)
    assert header["booster"]["semantics"] == "catboost" and header["booster"]["layout"] == "nonsymmetric"
    assert not model.booster.symmetric and model.booster.ctrs and len(model.booster.cat_column)
    names = {e["name"] for e in header["arrays"]}
    assert {"tree_nodes", "tree_leaves", "node_left", "node_right", "node_leaf"} <= names
    assert "tree_depth" not in names


@pytest.mark.parametrize("name,index,value,match", [
    ("node_left", 1, 0, r"tree_nodes\[1\]/left.*cycle"),  # node 1's false child: the root, before it
    ("node_right", 0, 0, r"tree_nodes\[0\]/right.*cycle"),  # the root its own child
    ("node_right", 0, 10**6, r"tree_nodes\[0\]/right.*outside"),
    ("node_leaf", -1, 10**6, r"tree_nodes\[\d+\]/leaf"),
    ("node_leaf", -1, -1, r"tree_nodes\[\d+\]/leaf"),  # a walk stops there without a leaf
    ("tree_leaves", 0, 0, "no leaf"),
    ("tree_nodes", 0, 0, "tree_splits|no node"),
    ("tree_splits", 0, 10**6, "outside the model's"),
])
def test_tampered_nonsymmetric_arrays_are_refused(cb_tree_raw, name, index, value, match):
    with pytest.raises(ModelFormatError, match=match):
        binary.loads(tamper(cb_tree_raw, name, index, value))


def test_nonsymmetric_arrays_belong_to_their_layout(cb_raw, cb_tree_raw):
    with pytest.raises(ModelFormatError, match="node_left.*belongs to the nonsymmetric layout"):
        binary.loads(_add_array(cb_raw, "node_left", np.zeros(3, np.int32)))
    with pytest.raises(ModelFormatError, match="tree_depth.*belongs to the oblivious layout"):
        binary.loads(_add_array(cb_tree_raw, "tree_depth", np.zeros(8, np.int32)))
    _, header, data = split(cb_tree_raw)
    kept, packed = [], b""
    for e in header["arrays"]:  # every array but node_leaf, packed again at 64-byte boundaries
        if e["name"] != "node_leaf":
            packed += bytes(-len(packed) % 64)
            kept.append(dict(e, offset=len(packed)))
            packed += data[e["offset"]:e["offset"] + e["nbytes"]]
    header["arrays"] = kept
    with pytest.raises(ModelFormatError, match="node_leaf.*missing"):
        binary.loads(rebuild(cb_tree_raw, header=header, data=packed))
    _, header, _ = split(cb_tree_raw)
    header["booster"]["layout"] = "oblivious"
    with pytest.raises(ModelFormatError, match="belongs to the nonsymmetric layout"):
        binary.loads(rebuild(cb_tree_raw, header=header))


# --- node covers (schema 1.3, optional) ------------------------------------------------------------

@pytest.fixture(scope="module")
def cover_raw():
    return (GOLDEN / "v1" / "gbtree_covers.xgbrs").read_bytes()


def test_covers_are_optional(cover_raw, raw):
    _, header, _ = split(cover_raw)
    assert header["gbinfer_schema"] == [1, 3] and entry(header, "cover")["shape"] == [header["booster"]["num_nodes"]]
    assert binary.loads(cover_raw).booster.forest.has_cover
    _, header, _ = split(raw)
    assert "cover" not in {e["name"] for e in header["arrays"]}  # a forest without covers writes none
    assert not binary.loads(raw).booster.forest.has_cover


@pytest.mark.parametrize("index,value", [(3, np.nan), (0, np.inf), (-1, -np.inf)])
def test_tampered_covers_are_refused(cover_raw, index, value):
    with pytest.raises(ModelFormatError, match="expected a finite number") as err:
        binary.loads(tamper(cover_raw, "cover", index, value))
    assert err.value.field.startswith("arrays/cover[")


def test_covers_of_the_wrong_length_or_dtype_are_refused(cover_raw):
    _, header, data = split(cover_raw)
    n = header["booster"]["num_nodes"]
    e = entry(header, "cover")
    assert e["offset"] + e["nbytes"] == len(data)  # the last array: drop its last value
    e.update(shape=[n - 1], nbytes=4 * (n - 1))
    with pytest.raises(ModelFormatError, match=rf"has shape \({n - 1},\), expected \(nodes={n}\)") as err:
        binary.loads(rebuild(cover_raw, header=header, data=data[:-4]))
    assert err.value.field == "arrays/cover"
    _, header, _ = split(cover_raw)
    entry(header, "cover").update(dtype="int32")
    with pytest.raises(ModelFormatError, match="dtype int32, expected float32"):
        binary.loads(rebuild(cover_raw, header=header))
    doc = orjson.loads((GOLDEN / "v1" / "gbtree_covers.json").read_bytes())
    for data, match in (([1.0] * (n + 1), f"has {n + 1} values"), (["NaN"] * n, "expected a finite number"),
                        ([1.0] * (n - 1) + ["oops"], r"data\[" + str(n - 1) + r"\]")):
        bad = json.loads(json.dumps(doc))
        bad["arrays"]["cover"]["data"] = data
        with pytest.raises(ModelFormatError, match=match) as err:
            gbinfer.load(orjson.dumps(bad))
        assert "cover" in err.value.field


def test_covers_belong_to_xgboost_forests(cover_raw):
    lgb_raw = (GOLDEN / "v1" / "lightgbm_multiclass.xgbrs").read_bytes()
    _, header, _ = split(lgb_raw)
    n = header["booster"]["num_nodes"]
    with pytest.raises(UnsupportedModelError, match="belongs to xgboost semantics") as err:
        binary.loads(_add_array(lgb_raw, "cover", np.ones(n, "<f4")))
    assert err.value.field == "arrays/cover"
    linear = (GOLDEN / "v1" / "gblinear.xgbrs").read_bytes()
    with pytest.raises(ModelFormatError, match="does not belong to a gblinear booster"):
        binary.loads(_add_array(linear, "cover", np.ones(3, "<f4")))
    cb = (GOLDEN / "v1" / "catboost_float.xgbrs").read_bytes()
    with pytest.raises(ModelFormatError, match="belongs to the nodes layout"):
        binary.loads(_add_array(cb, "cover", np.ones(split(cb)[1]["booster"]["num_nodes"], "<f4")))


def test_older_readers_ignore_covers(cover_raw, monkeypatch):
    """A 1.2 reader sees a newer minor and an array it does not know: it warns, ignores the covers and
    predicts the same."""
    expected = np.load(GOLDEN / "v1" / "gbtree_covers.npz")
    monkeypatch.setattr(schema, "SCHEMA_VERSION", (1, 2))
    monkeypatch.delitem(schema.ARRAYS, "cover")
    with pytest.warns(schema.NewerSchemaWarning):
        model = binary.loads(cover_raw)
    assert not model.booster.forest.has_cover
    assert np.array_equal(model.predict(expected["X"], output_margin=True), expected["margin"])
