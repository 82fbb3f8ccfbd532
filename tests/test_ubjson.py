"""Tests for gbinfer.compat.ubjson: round trips against XGBoost, malformed input, fuzzing."""

from __future__ import annotations

import json
import math
import random
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gbinfer.compat.ubjson import MAX_DEPTH, decode
from gbinfer.errors import ModelFormatError

xgb = pytest.importorskip("xgboost")


# ---------------------------------------------------------------------------------------
# Models trained with the installed XGBoost
# ---------------------------------------------------------------------------------------


def _train(kind: str):
    rng = np.random.default_rng(42)
    n, f = 300, 6
    X = rng.normal(size=(n, f)).astype(np.float32)
    X[rng.random(size=X.shape) < 0.05] = np.nan  # exercise default_left
    params = {"max_depth": 4, "nthread": 2, "seed": 0}
    rounds = 6
    if kind == "binary":
        y = (np.nan_to_num(X[:, 0]) + rng.normal(scale=0.3, size=n) > 0).astype(int)
        params["objective"] = "binary:logistic"
        dm = xgb.DMatrix(X, label=y)
    elif kind == "multi":
        y = rng.integers(0, 3, size=n)
        params.update(objective="multi:softprob", num_class=3)
        dm = xgb.DMatrix(X, label=y)
    elif kind == "categorical":
        pd = pytest.importorskip("pandas")
        df = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
        df["cat"] = pd.Categorical(rng.choice(list("pqrstuvw"), size=n))
        y = (df["cat"].isin(["p", "r", "t"]).to_numpy() ^ (df["a"].fillna(0) > 0.5).to_numpy()).astype(float)
        params.update(objective="reg:squarederror", tree_method="hist", max_cat_to_onehot=1)
        dm = xgb.DMatrix(df, label=y, enable_categorical=True)
    elif kind == "dart":
        y = np.nan_to_num(X[:, 1]) * 2 + rng.normal(size=n)
        params.update(objective="reg:squarederror", booster="dart", rate_drop=0.3, skip_drop=0.0)
        dm = xgb.DMatrix(X, label=y)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return xgb.train(params, dm, rounds)


_MODEL_KINDS = ["binary", "multi", "categorical", "dart"]
_cache: dict[str, tuple[bytes, bytes]] = {}


def _model_bytes(kind: str) -> tuple[bytes, bytes]:
    if kind not in _cache:
        bst = _train(kind)
        _cache[kind] = (bytes(bst.save_raw("ubj")), bytes(bst.save_raw("json")))
    return _cache[kind]


@pytest.fixture(scope="module")
def small_ubj() -> bytes:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 2}, xgb.DMatrix(X, label=y), 2)
    return bytes(bst.save_raw("ubj"))


def _assert_same(ubj, js, path="<root>"):
    """``ubj`` (decoded UBJSON) equals ``js`` (json.loads of the JSON dump)."""
    if isinstance(ubj, np.ndarray):
        assert isinstance(js, list), path
        assert ubj.ndim == 1 and len(ubj) == len(js), path
        assert ubj.dtype.isnative and ubj.dtype != object, path
        if ubj.dtype.kind == "f":
            expected = np.array(js, dtype=np.float64).astype(ubj.dtype)
            assert np.array_equal(ubj, expected, equal_nan=True), path
        else:
            assert all(isinstance(v, int) and not isinstance(v, bool) for v in js), path
            expected = np.array(js, dtype=np.int64)
            assert np.array_equal(ubj.astype(np.int64), expected), path
            assert np.array_equal(expected.astype(ubj.dtype).astype(np.int64), expected), f"{path}: out of range"
    elif isinstance(ubj, dict):
        assert isinstance(js, dict), path
        assert set(ubj) == set(js), f"{path}: {set(ubj) ^ set(js)}"
        for k in ubj:
            _assert_same(ubj[k], js[k], f"{path}/{k}")
    elif isinstance(ubj, list):
        assert isinstance(js, list) and len(ubj) == len(js), path
        for i, (a, b) in enumerate(zip(ubj, js)):
            _assert_same(a, b, f"{path}/{i}")
    elif isinstance(ubj, float):
        assert isinstance(js, (float, int)) and not isinstance(js, bool), path
        a, b = np.float32(ubj), np.float32(js)
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{path}: {ubj!r} != {js!r}"
    else:
        assert type(ubj) is type(js) and ubj == js, f"{path}: {ubj!r} != {js!r}"


@pytest.mark.parametrize("kind", _MODEL_KINDS)
def test_round_trip_against_xgboost_json(kind):
    ubj, js = _model_bytes(kind)
    decoded = decode(ubj, source=f"{kind}.ubj")
    _assert_same(decoded, json.loads(js))

    booster = decoded["learner"]["gradient_booster"]
    if kind == "dart":
        assert booster["name"] == "dart"
        # XGBoost writes weight_drop as an untyped array of float32 scalars -> a list.
        assert isinstance(booster["weight_drop"], list)
        assert all(isinstance(w, float) for w in booster["weight_drop"]) and len(booster["weight_drop"]) == 6
        booster = booster["gbtree"]
    trees = booster["model"]
    tree = trees["trees"][0]
    assert tree["split_conditions"].dtype == np.float32
    assert tree["left_children"].dtype == np.int32
    assert tree["split_indices"].dtype == np.int32
    assert tree["default_left"].dtype == np.uint8
    assert tree["categories_segments"].dtype == np.int64
    # Results own their memory (no reference into the input buffer) and are writable.
    assert tree["split_conditions"].flags.owndata and tree["split_conditions"].flags.writeable
    if kind == "categorical":
        assert any(len(t["categories"]) for t in trees["trees"])
    if kind == "binary":
        assert any(t["default_left"].any() for t in trees["trees"])


@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_save_model_file_and_memoryview(kind, tmp_path):
    ubj, js = _model_bytes(kind)
    bst = xgb.Booster(model_file=bytearray(ubj))
    path = tmp_path / "m.ubj"
    bst.save_model(str(path))
    data = path.read_bytes()
    expected = json.loads(js)
    _assert_same(decode(data, source=str(path)), expected)
    _assert_same(decode(memoryview(data)), expected)
    _assert_same(decode(bytearray(data)), expected)
    # a memoryview into a bigger buffer
    big = b"xx" + data + b"yy"
    _assert_same(decode(memoryview(big)[2:-2]), expected)


# ---------------------------------------------------------------------------------------
# Malformed input
# ---------------------------------------------------------------------------------------


def test_every_truncation_raises_model_format_error(small_ubj):
    decode(small_ubj)
    for i in range(len(small_ubj)):
        with pytest.raises(ModelFormatError) as exc:
            decode(small_ubj[:i], source="m.ubj")
        assert exc.value.source == "m.ubj"
        assert "byte offset" in exc.value.problem and "truncated" in exc.value.problem, (i, str(exc.value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_corruption_never_leaks_other_exceptions(small_ubj, data):
    buf = bytearray(small_ubj)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(buf))
    except ModelFormatError:
        pass


def _field_of(buf: bytes) -> tuple[str | None, str]:
    with pytest.raises(ModelFormatError) as exc:
        decode(buf)
    return exc.value.field, exc.value.problem


def test_error_field_is_json_path():
    ubj, _ = _model_bytes("binary")
    key = b"L" + struct.pack(">q", len("split_conditions")) + b"split_conditions"
    first = ubj.index(key)
    second = ubj.index(key, first + 1)
    header = second + len(key)
    assert ubj[header : header + 4] == b"[$d#"
    count_at = header + 5  # after "[$d#L"
    bad = ubj[:count_at] + struct.pack(">q", 1 << 60) + ubj[count_at + 8 :]
    field, problem = _field_of(bad)
    assert field == "learner/gradient_booster/model/trees/1/split_conditions"
    assert f"byte offset {header + 4}" in problem or f"byte offset {count_at + 8}" in problem, problem


def test_unknown_marker():
    field, problem = _field_of(b"[#i\x02Zx")
    assert field == "1"
    assert "unknown type marker 'x'" in problem and "byte offset 5" in problem
    field, problem = _field_of(b"{i\x01aX}")
    assert field == "a" and "unknown type marker 'X'" in problem
    # unknown element type of an optimized array
    _, problem = _field_of(b"[$q#i\x01\x00")
    assert "unknown element type" in problem
    # '$' without '#'
    _, problem = _field_of(b"[$d\x00\x00\x00\x00]")
    assert "expected '#'" in problem


@pytest.mark.parametrize(
    "buf",
    [
        b"[$d#L" + struct.pack(">q", 1 << 60),
        b"[$L#L" + struct.pack(">q", (1 << 63) - 1) + b"\x00" * 64,
        b"[#L" + struct.pack(">q", 1 << 60) + b"Z" * 16,
        b"{#L" + struct.pack(">q", 1 << 60) + b"i\x01aZ",
        b"{$d#L" + struct.pack(">q", 1 << 60),
        b"[$Z#L" + struct.pack(">q", 1 << 60),
        b"[$T#l" + struct.pack(">i", 1 << 30),
        b"SL" + struct.pack(">q", 1 << 60) + b"abc",
        b"HL" + struct.pack(">q", 1 << 60) + b"123",
        b"{L" + struct.pack(">q", 1 << 60) + b"key",
    ],
)
def test_huge_count_is_rejected_before_allocating(buf):
    _, problem = _field_of(buf)
    assert "byte offset" in problem


@pytest.mark.parametrize(
    "buf",
    [b"[$l#i\xff", b"[#I\xff\xfe", b"Si\xff", b"{i\xfe", b"[$d#L" + struct.pack(">q", -1)],
)
def test_negative_count(buf):
    _, problem = _field_of(buf)
    assert "negative" in problem


def test_bad_count_marker():
    _, problem = _field_of(b"[#d\x00\x00\x00\x00")
    assert "integer marker" in problem
    _, problem = _field_of(b"S[")
    assert "integer marker" in problem


@pytest.mark.parametrize("tail", [b"\x00", b"Z", b"}", b"N", b"[]"])
def test_trailing_bytes(small_ubj, tail):
    _, problem = _field_of(small_ubj + tail)
    assert "trailing" in problem
    _, problem = _field_of(b"i\x05" + tail)
    assert "trailing" in problem


def test_depth_limit():
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    v = decode(ok)
    for _ in range(MAX_DEPTH - 1):
        v = v[0]
    assert v == []
    with pytest.raises(ModelFormatError, match="nesting deeper"):
        decode(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    with pytest.raises(ModelFormatError, match="nesting deeper"):
        decode(b"[" * 1_000_000)
    with pytest.raises(ModelFormatError, match="nesting deeper"):
        decode(b"{i\x01a" * 100_000)
    # typed arrays of arrays are containers too
    with pytest.raises(ModelFormatError, match="nesting deeper"):
        decode(b"[$[#i\x01" * 1000)


def test_invalid_utf8():
    field, problem = _field_of(b"{i\x01aSi\x02\xff\xfe}")
    assert field == "a" and "UTF-8" in problem
    _, problem = _field_of(b"{i\x01\xffZ}")
    assert "UTF-8" in problem


def test_duplicate_key():
    field, problem = _field_of(b"{i\x01aZi\x01aT}")
    assert field == "a" and "duplicate" in problem


def test_bad_char():
    _, problem = _field_of(b"C\xc3")
    assert "ASCII" in problem


def test_non_bytes_argument():
    with pytest.raises(TypeError):
        decode("[]")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Spec features XGBoost does not (currently) write
# ---------------------------------------------------------------------------------------


def test_scalars_and_misc_markers():
    assert decode(b"Z") is None
    assert decode(b"T") is True and decode(b"F") is False
    assert decode(b"NNi\x05") == 5
    assert decode(b"U\xff") == 255
    assert decode(b"i\xff") == -1
    assert decode(b"I\x80\x00") == -32768
    assert decode(b"l\x7f\xff\xff\xff") == 2**31 - 1
    assert decode(b"L\x80" + b"\x00" * 7) == -(2**63)
    assert decode(b"d" + struct.pack(">f", 0.1)) == float(np.float32(0.1))
    assert decode(b"D" + struct.pack(">d", 0.1)) == 0.1
    assert math.isnan(decode(b"D" + struct.pack(">d", math.nan)))
    assert decode(b"Ca") == "a"
    assert decode(b"Hi\x0512.50") == "12.50"
    assert decode(b"SU\x03\xe2\x82\xac") == "\u20ac"
    assert decode(b"[NZNT]") == [None, True]
    assert decode(b"{Ni\x01aNZN}") == {"a": None}
    assert decode(b"[]") == [] and decode(b"{}") == {}
    assert decode(b"[#i\x00") == [] and decode(b"{#i\x00") == {}


def test_typed_containers():
    for marker, dtype in [("i", ">i1"), ("U", ">u1"), ("I", ">i2"), ("l", ">i4"), ("L", ">i8"), ("d", ">f4"), ("D", ">f8")]:
        values = np.array([0, 1, -1 if marker != "U" else 7, 100], dtype=dtype)
        buf = b"[$" + marker.encode() + b"#i\x04" + values.tobytes()
        arr = decode(buf)
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == np.dtype(dtype).newbyteorder("=") and arr.dtype.isnative
        assert np.array_equal(arr, values)
        empty = decode(b"[$" + marker.encode() + b"#U\x00")
        assert isinstance(empty, np.ndarray) and empty.dtype.itemsize == values.dtype.itemsize and len(empty) == 0
    assert decode(b"[$Z#i\x03") == [None, None, None]
    assert decode(b"[$T#i\x02") == [True, True]
    with pytest.raises(ModelFormatError, match="expected '#'"):
        decode(b"[$Si\x02i\x01ai\x02bc")
    assert decode(b"[$S#i\x02i\x01ai\x02bc") == ["a", "bc"]
    assert decode(b"[$C#i\x02xy") == ["x", "y"]
    assert decode(b"{$d#i\x01i\x01a" + struct.pack(">f", 1.5)) == {"a": 1.5}
    assert decode(b"{$Z#i\x02i\x01ai\x01b") == {"a": None, "b": None}
    assert decode(b"{#i\x02i\x01aTi\x01b[]") == {"a": True, "b": []}
    # typed array of arrays: each element's own header follows directly
    out = decode(b"[$[#i\x02$U#i\x02\x01\x02#i\x01Z")
    assert isinstance(out, list) and np.array_equal(out[0], [1, 2]) and out[0].dtype == np.uint8 and out[1] == [None]
    assert decode(b"[${#i\x01i\x01aT}") == [{"a": True}]


# ---------------------------------------------------------------------------------------
# Property test with a tiny test-only encoder
# ---------------------------------------------------------------------------------------

_INT_FORMATS = [("i", ">b", -128, 127), ("U", ">B", 0, 255), ("I", ">h", -(2**15), 2**15 - 1),
                ("l", ">i", -(2**31), 2**31 - 1), ("L", ">q", -(2**63), 2**63 - 1)]
_NP_MARKERS = {np.dtype(t): m for m, t in [("i", "i1"), ("U", "u1"), ("I", "i2"), ("l", "i4"), ("L", "i8"), ("d", "f4"), ("D", "f8")]}


def _enc_int(v: int, rnd: random.Random) -> bytes:
    fits = [(m, f) for m, f, lo, hi in _INT_FORMATS if lo <= v <= hi]
    m, f = rnd.choice(fits)
    return m.encode() + struct.pack(f, v)


def _enc_str(s: str, rnd: random.Random) -> bytes:
    b = s.encode("utf-8")
    return _enc_int(len(b), rnd) + b


def _noop(rnd: random.Random) -> bytes:
    return b"N" * (rnd.random() < 0.1)


def _encode(v, rnd: random.Random) -> bytes:
    if v is None:
        return b"Z"
    if v is True:
        return b"T"
    if v is False:
        return b"F"
    if isinstance(v, int):
        return _enc_int(v, rnd)
    if isinstance(v, float):
        return b"D" + struct.pack(">d", v)
    if isinstance(v, str):
        if len(v) == 1 and ord(v) < 128 and rnd.random() < 0.3:
            return b"C" + v.encode()
        return b"S" + _enc_str(v, rnd)
    if isinstance(v, np.ndarray):
        return b"[$" + _NP_MARKERS[v.dtype.newbyteorder("=")].encode() + b"#" + _enc_int(len(v), rnd) + v.astype(v.dtype.newbyteorder(">")).tobytes()
    if isinstance(v, list):
        if rnd.random() < 0.5:
            return b"[#" + _enc_int(len(v), rnd) + b"".join(_noop(rnd) + _encode(x, rnd) for x in v)
        return b"[" + b"".join(_noop(rnd) + _encode(x, rnd) for x in v) + _noop(rnd) + b"]"
    if isinstance(v, dict):
        if rnd.random() < 0.5:
            return b"{#" + _enc_int(len(v), rnd) + b"".join(_enc_str(k, rnd) + _encode(x, rnd) for k, x in v.items())
        return b"{" + b"".join(_noop(rnd) + _enc_str(k, rnd) + _encode(x, rnd) for k, x in v.items()) + _noop(rnd) + b"}"
    raise TypeError(type(v))


_np_arrays = st.sampled_from(list(_NP_MARKERS)).flatmap(
    lambda dt: hnp.arrays(dt, st.integers(0, 20))
)
_leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text() | _np_arrays
_values = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=40,
)


def _equal(a, b) -> bool:
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.dtype == b.dtype and a.dtype.isnative and np.array_equal(
            a, b, equal_nan=b.dtype.kind == "f"
        )
    if isinstance(b, float):
        return isinstance(a, float) and (a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(_values, st.randoms(use_true_random=False))
def test_hypothesis_round_trip(value, rnd):
    buf = _encode(value, rnd)
    assert _equal(decode(buf), value)
    # Any strict prefix is an error, never another exception.
    cut = rnd.randrange(len(buf))
    with pytest.raises(ModelFormatError):
        decode(buf[:cut])
