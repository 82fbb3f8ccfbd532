"""Native JSON: the schema as human-readable text (docs/xgbrs.md, "Native JSON").

One top-level key per line, in ``schema.DOCUMENT`` order with ``"gbinfer_schema"`` first (that key
is how ``gbinfer.load`` tells this format from XGBoost's JSON), then ``"arrays"``: one array per
line, ``{"dtype", "shape", "data"}`` with ``data`` the values in row-major order as a JSON list.
Floats are written in the shortest form that reads back (through float64, as every JSON reader
does) to the same bits, checked on write; a float32 array for which that form would not is
written with the float64 spelling of its exact values instead. Non-finite values are the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. The same model always gives the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson

from ..errors import ModelFormatError
from . import atomic_write, schema

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_HEAD = re.compile(rb'\A\s*\{\s*"' + schema.VERSION_KEY.encode() + rb'"\s*:')
DTYPES = ("uint8", "int32", "uint32", "int64", "float32", "float64")
_NONFINITE = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}


def is_native_json(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) opens a native JSON document."""
    return bool(_HEAD.match(head))


# --- write -----------------------------------------------------------------------------------

def save(model, path, *, metadata=None) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    data = dumps(model, metadata=metadata)
    atomic_write(path, lambda fh: fh.write(data))


def dumps(model, *, metadata=None) -> bytes:
    return dumps_spec(schema.from_runtime(model, metadata))


def dumps_spec(spec: "schema.ModelSpec") -> bytes:
    doc, arrays = schema.to_document(spec)
    lines = [orjson.dumps(k) + b":" + orjson.dumps(v, option=_NUMPY) for k, v in doc.items()]
    entries = [b"  " + orjson.dumps(name) + b":" + _array(a) for name, a in arrays.items()]
    lines.append(b'"arrays":{\n' + b",\n".join(entries) + b"\n}")
    return b"{\n" + b",\n".join(lines) + b"\n}\n"


def _array(arr: np.ndarray) -> bytes:
    a = np.ascontiguousarray(arr)
    if a.dtype.name not in DTYPES:  # pragma: no cover - schema.ARRAYS only allows DTYPES
        raise TypeError(f"dtype {a.dtype} cannot be stored")
    a = a.astype(a.dtype.newbyteorder("="), copy=False).reshape(-1)
    head = b'{"dtype":"' + a.dtype.name.encode() + b'","shape":' + orjson.dumps(list(arr.shape)) + b',"data":'
    if a.dtype.kind != "f":
        return head + orjson.dumps(a, option=_NUMPY) + b"}"
    finite = np.isfinite(a)
    if not finite.all():
        values = [float(v) if ok else ("NaN" if np.isnan(v) else "Infinity" if v > 0 else "-Infinity")
                  for v, ok in zip(a.tolist(), finite)]
        body = orjson.dumps(values)  # float() of a float32 value is exact; its repr reads back exactly
        return head + body + b"}"
    body = orjson.dumps(a, option=_NUMPY)
    if a.dtype == np.float32 and not _same_bits(_floats(orjson.loads(body), np.float32, None, ""), a):
        body = orjson.dumps(a.astype(np.float64), option=_NUMPY)  # exact float64 spelling: always reads back
    return head + body + b"}"


def _same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and np.array_equal(x.view(np.uint32), y.view(np.uint32))


# --- read ------------------------------------------------------------------------------------

def load(path):
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFormatError(source, None, f"cannot read the file: {exc.strerror}") from None
    return loads(data, source)


def loads(data, source: str | None = None):
    return schema.into_runtime(read_spec(data, source), source)


def read_info(path) -> dict:
    data = Path(path).read_bytes()
    doc = _parse(data, str(path))
    return {"container": "json", "schema_version": ".".join(map(str, schema.read_version(doc, str(path)))),
            "provenance": doc.get("provenance"), "arrays": len(doc.get("arrays") or ()), "file_size": len(data)}


def _parse(data, source) -> dict:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ModelFormatError(source, None, f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ModelFormatError(source, None, f"expected a JSON object, got {type(doc).__name__}")
    return doc


def read_spec(data, source: str | None = None) -> "schema.ModelSpec":
    doc = _parse(data, source)
    table = doc.pop("arrays", None)
    if not isinstance(table, dict):
        raise ModelFormatError(source, "arrays", "is missing or not an object")
    arrays = {}
    for name, entry in table.items():
        where = f"arrays/{name}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data"}:
            raise ModelFormatError(source, where, "expected {dtype, shape, data}")
        dtype, shape, values = entry["dtype"], entry["shape"], entry["data"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ModelFormatError(source, f"{where}/dtype", f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise ModelFormatError(source, f"{where}/shape", f"expected a list of sizes, got {shape!r:.80}")
        if not isinstance(values, list):
            raise ModelFormatError(source, f"{where}/data", "expected a list")
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if len(values) != count:
            raise ModelFormatError(source, f"{where}/data",
                                   f"has {len(values)} values, but shape {shape} needs {count}")
        dt = np.dtype(dtype)
        arr = _floats(values, dt, source, where) if dt.kind == "f" else _ints(values, dt, source, where)
        arrays[name] = arr.reshape(shape)
    return schema.from_document(doc, arrays, source)


def _raw(values: list, source, where) -> np.ndarray:
    """``values`` as one numpy array: a list of lists of different lengths is not one."""
    try:
        return np.array(values) if values else np.zeros(0, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise ModelFormatError(source, f"{where}/data", "expected a flat list of numbers") from None


def _floats(values: list, dt, source, where) -> np.ndarray:
    raw = _raw(values, source, where)
    if raw.ndim == 1 and raw.dtype.kind in "fiu":  # numbers only: the common case, one numpy step
        with np.errstate(over="ignore"):  # beyond float32: inf, as a float32 reader gives
            return raw.astype(np.float64).astype(dt)
    out = np.empty(len(values), dtype=np.float64)  # strings for non-finite values, or something wrong
    for i, v in enumerate(values):
        if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**1023):
            out[i] = v
        elif isinstance(v, str) and v in _NONFINITE:
            out[i] = _NONFINITE[v]
        else:
            raise ModelFormatError(source, f"{where}/data[{i}]",
                                   f'expected a number, "NaN", "Infinity" or "-Infinity", got {v!r:.40}')
    with np.errstate(over="ignore"):
        return out.astype(dt)


def _ints(values: list, dt, source, where) -> np.ndarray:
    raw = _raw(values, source, where) if values else np.zeros(0, dtype=np.int64)
    if raw.dtype.kind not in "iu" or raw.ndim != 1:
        raise ModelFormatError(source, f"{where}/data", f"expected integers for dtype {dt.name}")
    info = np.iinfo(dt)
    if raw.size and (raw.min() < info.min or raw.max() > info.max):
        raise ModelFormatError(source, f"{where}/data", f"values lie outside the {dt.name} range")
    return raw.astype(dt)
