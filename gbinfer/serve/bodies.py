"""Request and response bodies by content type: v2 JSON (with the binary tensor extension),
MessagePack, and Arrow IPC streams.

* JSON (any other content type): the v2 document, tensors in ``data`` or as binary after an
  ``Inference-Header-Content-Length`` header; outputs binary when the request asks
  (``binary_data`` per output, or ``binary_data_output``), as tritonclient does by default.
* MessagePack (``application/msgpack``, ``application/x-msgpack``): the same document, and a
  tensor's ``data`` may be raw little-endian bytes (a ``bin``); the response's tensors are always
  raw bytes: no number is printed or parsed.
* Arrow IPC stream (``application/vnd.apache.arrow.stream``): one column per feature (numbers,
  or strings / dictionaries for categorical features), or for a model without feature names as
  many numeric columns as it has features, in order; ``?outputs=predict,margin`` and
  ``?output_margin=true`` in the query; the response is a stream with one column per output
  (a fixed-size list per row for several outputs). Needs ``pyarrow``.
"""

from __future__ import annotations

import zlib

import numpy as np

from . import protocol
from .protocol import InferRequest, RequestError, Tensor

JSON, MSGPACK, ARROW = "json", "msgpack", "arrow"
ARROW_TYPE = "application/vnd.apache.arrow.stream"
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


async def read(headers, stream, limit: int) -> bytes:
    """The body ``stream`` (async iterable of chunks) brings, refused with 413 beyond ``limit``
    bytes (before reading it when Content-Length says so); a gzip or deflate body is inflated
    under the same limit. ``headers``: lower-case names -> values."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the body is {declared} bytes; this server takes at most {limit} (--max-body-mb)", 413)
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the body is over {limit} bytes, the most this server takes (--max-body-mb)", 413)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise RequestError(f"the {encoding} body does not inflate: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise RequestError(f"the inflated body is over {limit} bytes (--max-body-mb)", 413)
    elif encoding not in ("", "identity"):
        raise RequestError(f"Content-Encoding {encoding!r:.40} is not supported (gzip, deflate)", 415)
    return body


def kind_of(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == ARROW_TYPE:
        return ARROW
    if media in MSGPACK_TYPES:
        return MSGPACK
    return JSON


def parse(kind: str, body: bytes, headers, query, model) -> InferRequest:
    if kind == JSON:
        return protocol.parse_json_request(body, headers.get(protocol.HEADER_LENGTH))
    if kind == MSGPACK:
        import msgpack

        try:
            doc = msgpack.unpackb(body, raw=False, strict_map_key=True)
        except (ValueError, msgpack.UnpackException) as exc:
            raise RequestError(f"the request body is not valid MessagePack: {exc}") from None
        return protocol.request_from_document(doc)
    return _arrow_request(body, query, model)


def respond(kind: str, entry, request: InferRequest, names: tuple, result: dict) -> tuple[bytes, dict]:
    """(body, headers) answering ``request`` with the ``result`` arrays of its outputs ``names``."""
    doc = {"model_name": entry.name, "model_version": str(entry.version)}
    if request.id is not None:
        doc["id"] = request.id
    if kind == JSON:
        wanted = dict(request.outputs)
        return protocol.encode_response(doc, [
            (name, result[name], (wanted.get(name) or {}).get("binary_data", request.binary_output) is True)
            for name in names])
    if kind == MSGPACK:
        import msgpack

        doc["outputs"] = [{"name": name, "datatype": protocol.datatype_of(result[name]),
                           "shape": list(result[name].shape), "data": _raw(result[name])} for name in names]
        return msgpack.packb(doc), {"content-type": MSGPACK_TYPES[0]}
    return _arrow_response(names, result), {"content-type": ARROW_TYPE}


def _raw(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


# --- Arrow ---------------------------------------------------------------------------------------

def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401 - the submodule ``pa.ipc`` needs
    except ImportError:
        raise RequestError(f"{ARROW_TYPE} bodies need pyarrow on the server: pip install 'gbinfer[serve]'",
                           415) from None
    return pa


def _arrow_request(body: bytes, query, model) -> InferRequest:
    pa = _pyarrow()
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise RequestError(f"the request body is not an Arrow IPC stream: {exc}") from None
    tensors = _by_position(model, [_arrow_column(pa, name, table.column(i))
                                   for i, name in enumerate(table.column_names)])
    outputs = [(name, {}) for name in query.get("outputs", "").split(",") if name]
    margin = query.get("output_margin", "false").lower()
    if margin not in ("true", "false", "1", "0"):
        raise RequestError(f"output_margin={margin!r:.20} in the query must be true or false")
    return InferRequest(tensors, outputs, {"output_margin": margin in ("true", "1")}, query.get("id"))


def _arrow_column(pa, name: str, column) -> Tensor:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = np.empty(len(column), dtype=object)
        values[:] = column.to_pylist()
        return Tensor(name, "BYTES", (len(values),), values)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise RequestError(f"Arrow column {name!r} has type {kind}; expected numbers or strings")
    wide = pa.types.is_float64(kind)  # float64 stays float64 (LightGBM reads it so), the rest float32
    column = column.cast(pa.float64() if wide else pa.float32())
    if column.null_count:
        column = column.fill_null(float("nan"))
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64 if wide else np.float32)
    return Tensor(name, "FP64" if wide else "FP32", (len(values),), values)


def _by_position(model, tensors: list) -> list:
    """Arrow columns for a model without feature names: its features by position, as one 2-D tensor."""
    if model.features.names or not tensors or any(len(t.shape) != 1 or t.datatype == "BYTES" for t in tensors):
        return tensors
    matrix = np.column_stack([t.data for t in tensors])  # float64 if any column is
    return [Tensor("input", protocol.datatype_of(matrix), matrix.shape, matrix)]


def _arrow_response(names: tuple, result: dict) -> bytes:
    pa = _pyarrow()
    arrays = []
    for name in names:
        arr = result[name]
        if arr.ndim == 1:
            arrays.append(pa.array(arr))
        else:
            flat = np.ascontiguousarray(arr).reshape(-1)
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat), arr.shape[1]))
    batch = pa.record_batch(arrays, names=list(names))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()
