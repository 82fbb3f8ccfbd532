"""``.xgbrs``: the schema as a compact, checksummed, memory-mappable binary file (docs/xgbrs.md).

Layout (all integers little-endian)::

    0   magic        5 bytes  b"XGBRS"
    5   major, minor 2 x u8   container format version (FORMAT_VERSION)
    7   flags        u8       0 (no flag is defined in 1.x; another value is refused)
    8   header_len   u64      bytes of the header (JSON, padded with spaces)
    16  header_crc   u32      CRC32 of the header bytes
    20  reserved     u32      0
    24  data_len     u64      bytes of the array section
    32  header       JSON: the schema document + "arrays": [{name, dtype, shape, offset, nbytes}, ...]
    32 + header_len           array section (starts on a 64-byte boundary): each array at the next
                              64-byte boundary after the previous one, zero padding between
    end - 4      crc32  u32   CRC32 (zlib.crc32) of every byte before it

The arrays are wrapped by ``np.frombuffer`` over a read-only ``mmap`` of the file. Leaf values and
per-tree arrays stay views of it (page cache, shared between processes); the node arrays are
validated and packed once into the runtime's 16-byte-a-node form.
"""

from __future__ import annotations

import mmap
import os
import struct
import warnings
import zlib

import numpy as np
import orjson

from ..errors import ChecksumError, ModelFormatError, UnsupportedVersion
from . import atomic_write, schema

MAGIC = b"XGBRS"
FORMAT_VERSION = (1, 0)
PREAMBLE = struct.Struct("<5sBBBQIIQ")  # magic, major, minor, flags, header_len, header_crc, reserved, data_len
ALIGN = 64
MAX_HEADER = 64 << 20  # 64 MiB: far above any real header (feature names included), far below harm
DTYPES = {"uint8": "<u1", "int32": "<i4", "uint32": "<u4", "int64": "<i8", "float32": "<f4", "float64": "<f8"}
_NAMES = {np.dtype(v): k for k, v in DTYPES.items()}
_TRAILER = struct.Struct("<I")


class NewerFormatWarning(UserWarning):
    """The file's container format has a newer minor version than this gbinfer writes."""


def _is_int(value) -> bool:
    """A JSON integer: ``true`` is a bool, which Python would also take for 1."""
    return isinstance(value, int) and not isinstance(value, bool)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


# --- write -----------------------------------------------------------------------------------

def save(model, path, *, metadata=None) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    spec = schema.from_runtime(model, metadata)
    atomic_write(path, lambda fh: write_spec(spec, fh))


def dumps(model, *, metadata=None) -> bytes:
    import io

    buf = io.BytesIO()
    write_spec(schema.from_runtime(model, metadata), buf)
    return buf.getvalue()


def write_spec(spec: "schema.ModelSpec", fh) -> None:
    """Stream the file to ``fh``: preamble, header, arrays, CRC32 (computed on the way)."""
    doc, arrays = schema.to_document(spec)
    table, blobs, end = [], [], 0
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr, dtype=np.asarray(arr).dtype.newbyteorder("<"))
        dtype = _NAMES.get(a.dtype)
        if dtype is None:  # pragma: no cover - schema.ARRAYS only allows DTYPES
            raise TypeError(f"array {name!r} has dtype {a.dtype}, not one of {', '.join(DTYPES)}")
        offset = _align(end)
        table.append({"name": name, "dtype": dtype, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes})
        blobs.append((offset - end, a))
        end = offset + a.nbytes
    doc["arrays"] = table
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    header += b" " * (_align(PREAMBLE.size + len(header)) - PREAMBLE.size - len(header))
    if len(header) > MAX_HEADER:
        raise ModelFormatError(None, "header", f"is {len(header)} bytes, above the {MAX_HEADER}-byte limit")
    crc = 0

    def put(chunk):
        nonlocal crc
        crc = zlib.crc32(chunk, crc)
        fh.write(chunk)

    put(PREAMBLE.pack(MAGIC, *FORMAT_VERSION, 0, len(header), zlib.crc32(header), 0, end))
    put(header)
    for pad, a in blobs:
        if pad:
            put(bytes(pad))
        if a.nbytes:
            put(memoryview(a.reshape(-1)).cast("B"))
    fh.write(_TRAILER.pack(crc))


# --- read ------------------------------------------------------------------------------------

def load(path, *, verify: bool = True):
    """Load a ``.xgbrs`` file, memory-mapped: leaf values stay views of the file; node arrays are packed once.

    ``verify=False`` skips the whole-file CRC32 (the header's own CRC32 and every structural check
    still run), so a very large model is not read end to end before the first prediction.
    """
    return schema.into_runtime(load_spec(path, verify=verify), str(path))


def loads(data, source: str | None = None, *, verify: bool = True):
    """Load ``.xgbrs`` bytes (the arrays are views of ``data``)."""
    return schema.into_runtime(read_spec(data, source, verify=verify), source)


def load_spec(path, *, verify: bool = True) -> "schema.ModelSpec":
    source = str(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < PREAMBLE.size + _TRAILER.size:
                return read_spec(fh.read(), source, verify=verify)  # reports bad magic or truncation
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ModelFormatError(source, None, f"cannot read the file: {exc.strerror}") from None
    return read_spec(buf, source, verify=verify)


def read_info(path) -> dict:
    """Versions, provenance and sizes from the preamble and header only (no array is read)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        pre = fh.read(PREAMBLE.size)
        magic, major, minor, flags, header_len, _, _, data_len = _preamble(pre, str(path), size)
        doc = _header(fh.read(min(header_len, MAX_HEADER)), str(path))
    return {"container": "xgbrs", "format_version": f"{major}.{minor}",
            "schema_version": ".".join(map(str, schema.read_version(doc, str(path)))),
            "provenance": doc.get("provenance"), "arrays": len(doc.get("arrays") or ()),
            "array_bytes": data_len, "file_size": size}


def _preamble(buf, source, size):
    if bytes(buf[:len(MAGIC)]) != MAGIC[:min(len(buf), len(MAGIC))] or size == 0:
        raise ModelFormatError(source, "magic", f"expected {MAGIC!r}, found {bytes(buf[:len(MAGIC)])!r}: "
                                                "not a .xgbrs file")
    if size < PREAMBLE.size + _TRAILER.size:
        raise ModelFormatError(source, None, f"truncated: {size} bytes, shorter than the "
                                             f"{PREAMBLE.size + _TRAILER.size}-byte preamble and trailer")
    fields = PREAMBLE.unpack_from(buf, 0)
    _, major, minor, flags, header_len, _, reserved, data_len = fields
    if major != FORMAT_VERSION[0]:
        raise UnsupportedVersion(source, "format_version", f"{major}.{minor}", f"{FORMAT_VERSION[0]}.x")
    if minor > FORMAT_VERSION[1]:
        warnings.warn(f"{source}: .xgbrs format {major}.{minor} is newer than this gbinfer's "
                      f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}", NewerFormatWarning, stacklevel=4)
    if flags or reserved:
        raise ModelFormatError(source, "flags", f"flags {flags:#x} / reserved {reserved:#x} must be 0 in "
                                                f"format {FORMAT_VERSION[0]}.x")
    if header_len > MAX_HEADER:
        raise ModelFormatError(source, "header_len", f"is {header_len} bytes, above the {MAX_HEADER}-byte limit")
    if (PREAMBLE.size + header_len) % ALIGN:
        raise ModelFormatError(source, "header_len", f"{header_len} does not end the header on a "
                                                     f"{ALIGN}-byte boundary")
    total = PREAMBLE.size + header_len + data_len + _TRAILER.size  # Python ints: no overflow
    if size < total:
        raise ModelFormatError(source, None, f"truncated: the preamble declares {total} bytes, the file has {size}")
    if size > total:
        raise ModelFormatError(source, None, f"{size - total} unexpected bytes after the declared {total}")
    return fields


def _header(raw, source) -> dict:
    try:
        doc = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError as exc:
        raise ModelFormatError(source, "header", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ModelFormatError(source, "header", f"expected a JSON object, got {type(doc).__name__}")
    return doc


def read_spec(buf, source: str | None = None, *, verify: bool = True) -> "schema.ModelSpec":
    """Check the container and hand the document and array views to ``schema.from_document``."""
    size = len(buf)
    magic, major, minor, flags, header_len, header_crc, _, data_len = _preamble(buf, source, size)
    view = memoryview(buf)
    # 1. checksums: the whole file, then the header's own (the one that guards verify=False)
    if verify:
        stored = _TRAILER.unpack_from(buf, size - _TRAILER.size)[0]
        actual = zlib.crc32(view[:size - _TRAILER.size])
        if stored != actual:
            raise ChecksumError(source, "crc32", stored, actual)
    start = PREAMBLE.size
    raw = view[start:start + header_len]
    if zlib.crc32(raw) != header_crc:
        raise ChecksumError(source, "header_crc", header_crc, zlib.crc32(raw))
    doc = _header(raw, source)
    # 2. the array table: known dtypes, shapes that match the byte counts, offsets that tile the section
    table = doc.pop("arrays", None)
    if not isinstance(table, list):
        raise ModelFormatError(source, "arrays", "is missing or not a list")
    data_start = start + header_len
    arrays, end = {}, 0
    for i, entry in enumerate(table):
        where = f"arrays[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "dtype", "shape", "offset", "nbytes"}:
            raise ModelFormatError(source, where, "expected {name, dtype, shape, offset, nbytes}")
        name, dtype, shape, offset, nbytes = (entry[k] for k in ("name", "dtype", "shape", "offset", "nbytes"))
        if not isinstance(name, str) or name in arrays:
            raise ModelFormatError(source, f"{where}.name", f"{name!r} is not a new array name")
        where = f"arrays/{name}"
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ModelFormatError(source, f"{where}/dtype", f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        dt = np.dtype(DTYPES[dtype])
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= data_len for d in shape)):
            raise ModelFormatError(source, f"{where}/shape", f"expected up to 8 sizes in [0, {data_len}], got "
                                                             f"{shape!r:.80}")
        count = 1
        for d in shape:
            count *= d
            if count * dt.itemsize > data_len:
                raise ModelFormatError(source, f"{where}/shape",
                                       f"{shape} of {dtype} needs more than the {data_len}-byte array section")
        if not _is_int(nbytes) or nbytes != count * dt.itemsize:
            raise ModelFormatError(source, f"{where}/nbytes",
                                   f"is {nbytes!r}, but shape {shape} of {dtype} needs {count * dt.itemsize} bytes")
        if not _is_int(offset) or offset != _align(end):
            raise ModelFormatError(source, f"{where}/offset",
                                   f"is {offset!r}, expected {_align(end)} (the next {ALIGN}-byte boundary after "
                                   "the previous array: no holes, no overlap)")
        if offset + nbytes > data_len:
            raise ModelFormatError(source, f"{where}/offset", f"bytes [{offset}, {offset + nbytes}) run past the "
                                                              f"{data_len}-byte array section")
        if any(view[data_start + end:data_start + offset]):
            raise ModelFormatError(source, where, "the padding before it is not zero")
        arr = (np.frombuffer(buf, dtype=dt, count=count, offset=data_start + offset) if count
               else np.zeros(0, dtype=dt))
        arr = arr.reshape(shape)
        arr.flags.writeable = False
        arrays[name] = arr
        end = offset + nbytes
    if end != data_len:
        raise ModelFormatError(source, "arrays", f"cover {end} bytes of the {data_len}-byte array section")
    # 3. the schema takes it from here
    return schema.from_document(doc, arrays, source)
