"""The KServe v2 / Open Inference Protocol's tensors over HTTP: JSON bodies, and the binary
tensor extension tritonclient uses by default (a JSON header of ``Inference-Header-Content-Length``
bytes, then each binary tensor's raw little-endian bytes in the order the JSON names them).

Everything here is bytes in, numpy out (and back): which tensor means what to a model is
``inputs``' business. A request that breaks the protocol is a ``RequestError`` carrying the HTTP
status it deserves; its message goes to the client as ``{"error": "..."}``.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field

import numpy as np
import orjson

from ..errors import DataError, GbinferError

# v2 datatype -> little-endian numpy dtype; BYTES is an object array of str
DATATYPES = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_NAMES = {dt.newbyteorder("="): name for name, dt in DATATYPES.items() if name != "BYTES"}
HEADER_LENGTH = "inference-header-content-length"
MAX_DIMS = 8
log = logging.getLogger("gbinfer.serve")


class RequestError(DataError):
    """A request the server refuses, with the HTTP status to answer (400 by default; 404 for an
    unknown model, 413 for a body or batch above the caps)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: tuple
    data: np.ndarray  # already in ``shape``


@dataclass
class InferRequest:
    inputs: list
    outputs: list = field(default_factory=list)  # [(name, parameters dict)]
    parameters: dict = field(default_factory=dict)
    id: str | None = None
    binary_output: bool = False  # request-level parameters.binary_data_output


def datatype_of(arr: np.ndarray) -> str:
    if arr.dtype == object:
        return "BYTES"
    try:
        return _NAMES[arr.dtype.newbyteorder("=")]
    except KeyError:
        raise RequestError(f"output dtype {arr.dtype} has no v2 datatype", 500) from None


# --- requests ----------------------------------------------------------------------------------

def parse_json_request(body: bytes, header_length: str | None) -> InferRequest:
    """A JSON request, or with ``header_length`` a JSON header followed by binary tensors."""
    if header_length is None:
        head, rest = body, b""
    else:
        try:
            n = int(header_length)
        except ValueError:
            raise RequestError(f"Inference-Header-Content-Length is {header_length!r:.40}, not a byte count") from None
        if not 0 <= n <= len(body):
            raise RequestError(f"Inference-Header-Content-Length is {n}, but the body has {len(body)} bytes")
        head, rest = body[:n], memoryview(body)[n:]
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        doc = _with_nan(head, exc)
    return request_from_document(doc, rest)


def _with_nan(head, error):
    """A document with the ``NaN`` / ``Infinity`` tokens Python's ``json`` writes (tritonclient's
    JSON tensors hold them for missing values), which strict JSON parsers refuse."""
    import json

    try:
        return json.loads(bytes(head))
    except (ValueError, RecursionError):
        raise RequestError(f"the request body is not valid JSON: {error}") from None


def request_from_document(doc, binary=b"") -> InferRequest:
    """The request a parsed v2 document describes (JSON or msgpack); ``binary``: the bytes after a
    binary-extension header. A tensor's ``data`` may also be raw bytes (msgpack ``bin``)."""
    if not isinstance(doc, dict):
        raise RequestError(f"the request must be an object with 'inputs', got {type(doc).__name__}")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("the request needs 'inputs': a non-empty list of tensors")
    offset = 0
    tensors = []
    for i, spec in enumerate(inputs):
        tensor, used = _tensor(spec, f"inputs[{i}]", binary, offset)
        tensors.append(tensor)
        offset += used
    if offset != len(binary):
        raise RequestError(f"{len(binary) - offset} bytes of binary data follow the tensors the header declares")
    params = _parameters(doc.get("parameters"), "parameters")
    outputs = []
    for i, out in enumerate(doc.get("outputs") or ()):
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise RequestError(f"outputs[{i}] must be an object with a 'name'")
        outputs.append((out["name"], _parameters(out.get("parameters"), f"outputs[{i}].parameters")))
    rid = doc.get("id")
    return InferRequest(tensors, outputs, params, None if rid is None else str(rid),
                        params.get("binary_data_output") is True)


def _parameters(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be an object")
    return value


def _tensor(spec, where: str, binary, offset: int):
    if not isinstance(spec, dict):
        raise RequestError(f"{where} must be an object with name, shape, datatype and data")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str):
        raise RequestError(f"{where} needs a 'name' string")
    where = f"input {name!r}"
    if datatype not in DATATYPES:
        raise RequestError(f"{where}: datatype {datatype!r:.40} is not one of {', '.join(DATATYPES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise RequestError(f"{where}: shape must be a list of at most {MAX_DIMS} sizes >= 0, got {shape!r:.80}")
    count = 1
    for d in shape:
        count *= d
    params = _parameters(spec.get("parameters"), f"{where} parameters")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
            raise RequestError(f"{where}: binary_data_size {size!r:.40} runs past the {len(binary)} binary bytes "
                               "after the JSON header")
        raw = binary[offset:offset + size]
        flat = _from_bytes(raw, datatype, count, where)
        used = size
    else:
        if "data" not in spec:
            raise RequestError(f"{where} has neither 'data' nor parameters.binary_data_size")
        data = spec["data"]
        flat = _from_bytes(data, datatype, count, where) if isinstance(data, (bytes, bytearray, memoryview)) \
            else _from_list(data, datatype, where)
        used = 0
    if flat.size != count:
        raise RequestError(f"{where}: shape {shape} holds {count} values, the data {flat.size}")
    return Tensor(name, datatype, tuple(shape), flat.reshape(shape)), used


def _from_bytes(raw, datatype: str, count: int, where: str) -> np.ndarray:
    if datatype == "BYTES":
        return _bytes_elements(raw, where)
    dt = DATATYPES[datatype]
    if len(raw) != count * dt.itemsize:
        raise RequestError(f"{where}: {len(raw)} bytes of data, but {count} values of {datatype} take "
                           f"{count * dt.itemsize}")
    return np.frombuffer(raw, dtype=dt)


def _bytes_elements(raw, where: str) -> np.ndarray:
    """BYTES in binary form: each element a uint32 LE length, then that many bytes (UTF-8 text)."""
    raw = bytes(raw)
    items, pos = [], 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise RequestError(f"{where}: BYTES data ends inside an element's 4-byte length")
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + n > len(raw):
            raise RequestError(f"{where}: a BYTES element of {n} bytes runs past the tensor's data")
        items.append(_text(raw[pos:pos + n], where))
        pos += n
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _text(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(f"{where}: a BYTES element is not UTF-8 text") from None


def _from_list(data, datatype: str, where: str) -> np.ndarray:
    if not isinstance(data, list):
        raise RequestError(f"{where}: 'data' must be a list of values")
    if datatype == "BYTES":
        flat = _flatten(data)
        out = np.empty(len(flat), dtype=object)
        out[:] = [_text(v, where) if isinstance(v, bytes) else v for v in flat]
        if not all(v is None or isinstance(v, str) for v in out):
            raise RequestError(f"{where}: BYTES data must hold strings (or null for missing)")
        return out
    try:
        arr = np.array(data, dtype=np.float64 if datatype.startswith("FP") else None)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"{where}: 'data' is not a rectangular list of numbers ({exc})") from None
    if arr.dtype == object or (arr.size and arr.dtype.kind not in "fiub"):
        raise RequestError(f"{where}: 'data' must hold numbers for datatype {datatype}")
    try:
        return arr.reshape(-1).astype(DATATYPES[datatype], casting="unsafe" if datatype.startswith("FP") else
                                      "same_kind")
    except TypeError:
        raise RequestError(f"{where}: values {arr.dtype} do not fit datatype {datatype}") from None


def _flatten(data) -> list:
    out = []
    stack = [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


# --- responses ---------------------------------------------------------------------------------

def encode_response(document: dict, outputs: list) -> tuple[bytes, dict]:
    """(body, extra headers) of a response: ``outputs`` is [(name, array, binary)]; binary ones go
    after the JSON header (binary extension), the others into ``data``."""
    entries, blobs = [], []
    for name, arr, binary in outputs:
        entry = {"name": name, "datatype": datatype_of(arr), "shape": list(arr.shape)}
        if binary:
            blob = _to_bytes(arr)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = arr.reshape(-1).tolist() if arr.dtype == object else arr.reshape(-1)
        entries.append(entry)
    document["outputs"] = entries
    head = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return head, {"content-type": "application/json"}
    return head + b"".join(blobs), {HEADER_LENGTH: str(len(head)), "content-type": "application/octet-stream"}


def _to_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype == object:
        parts = []
        for v in arr.reshape(-1):
            b = v if isinstance(v, bytes) else str(v).encode()
            parts += [struct.pack("<I", len(b)), b]
        return b"".join(parts)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def refusal(exc: Exception) -> tuple[int, bytes]:
    """(status, body) answering a request that raised ``exc``: a ``RequestError`` with its own
    status, any other ``GbinferError`` (bad input for the model, a bad model file) with 400, and
    anything unexpected with 500 (logged with its traceback, never sent to the client)."""
    if isinstance(exc, RequestError):
        return exc.status, error_body(str(exc))
    if isinstance(exc, GbinferError):
        return 400, error_body(str(exc))
    log.exception("unexpected error", exc_info=exc)
    return 500, error_body(f"internal error: {type(exc).__name__}")
