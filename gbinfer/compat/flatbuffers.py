"""A minimal, bounds-checked FlatBuffers table reader (what CatBoost's ``.cbm`` is made of).

Written here rather than taken from the ``flatbuffers`` runtime package: reading CatBoost's few
tables needs only tables, scalars, strings and vectors (about a hundred lines), and the runtime
trusts every offset it follows (a damaged file ends in ``struct.error`` / ``IndexError`` or reads
bytes outside the table), needs generated classes per schema, and would be a dependency. Here
every offset, length and count is checked against the buffer before use and every failure is a
``ModelFormatError`` naming the file and the field path.

Layout read (flatbuffers.dev, "FlatBuffers internals"): little-endian; the buffer opens with a
uint32 offset to the root table; a table opens with an int32 whose subtraction from the table's
position gives its vtable; a vtable is uint16 vtable size, uint16 table size, then one uint16
offset per field slot (0 or past the vtable's end: the field is absent, its default applies).
Strings, vectors and sub-tables are stored as uint32 offsets relative to where the offset sits;
a vector (and a string) opens with a uint32 element count. As the FlatBuffers verifier (which
CatBoost runs before reading a model) requires, a string ends in a zero byte.
"""

from __future__ import annotations

import struct

import numpy as np

from ..errors import ModelFormatError

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")


class Table:
    """One table of a FlatBuffer; ``path`` names it in error messages (e.g. ``ModelTrees/FloatFeatures[3]``)."""

    __slots__ = ("_buf", "_pos", "_vt", "_vt_size", "source", "path")

    def __init__(self, buf: bytes, pos: int, source: str | None, path: str):
        self._buf, self._pos, self.source, self.path = buf, pos, source, path
        soffset = self._read(_I32, pos, "its vtable offset")
        vt = pos - soffset
        self._vt_size = self._read(_U16, vt, "its vtable")
        if self._vt_size < 4 or self._vt_size % 2:
            self._fail(f"vtable size {self._vt_size} is not an even number >= 4")
        self._check(vt, self._vt_size, "its vtable")
        self._vt = vt

    @classmethod
    def root(cls, buf: bytes, source: str | None, path: str) -> "Table":
        if len(buf) < 4:
            raise ModelFormatError(source, path, f"the FlatBuffer is {len(buf)} bytes, too short for its root offset")
        return cls(buf, _U32.unpack_from(buf, 0)[0], source, path)

    def _fail(self, problem: str, field: str | None = None):
        raise ModelFormatError(self.source, f"{self.path}/{field}" if field else self.path, problem)

    def _check(self, pos: int, size: int, what: str, field: str | None = None) -> None:
        if pos < 0 or size < 0 or pos + size > len(self._buf):
            self._fail(f"{what} at byte {pos} (+{size}) lies outside the {len(self._buf)}-byte buffer", field)

    def _read(self, st: struct.Struct, pos: int, what: str, field: str | None = None):
        self._check(pos, st.size, what, field)
        return st.unpack_from(self._buf, pos)[0]

    def _field(self, slot: int) -> int:
        """Position of field ``slot``'s value, or 0 when the field is absent."""
        entry = 4 + 2 * slot
        if entry + 2 > self._vt_size:
            return 0
        off = _U16.unpack_from(self._buf, self._vt + entry)[0]
        return self._pos + off if off else 0

    def scalar(self, slot: int, fmt: str, default, field: str):
        pos = self._field(slot)
        if not pos:
            return default
        return self._read(struct.Struct("<" + fmt), pos, "the value", field)

    def _target(self, slot: int, field: str) -> int:
        pos = self._field(slot)
        if not pos:
            return 0
        return pos + self._read(_U32, pos, "the offset", field)

    def table(self, slot: int, field: str) -> "Table | None":
        pos = self._target(slot, field)
        return Table(self._buf, pos, self.source, f"{self.path}/{field}") if pos else None

    def _vector(self, slot: int, elem_size: int, field: str) -> tuple[int, int]:
        """(first element's position, count) of a vector field; (0, 0) when absent."""
        pos = self._target(slot, field)
        if not pos:
            return 0, 0
        count = self._read(_U32, pos, "the vector length", field)
        self._check(pos + 4, count * elem_size, f"a vector of {count} x {elem_size}-byte elements", field)
        return pos + 4, count

    def array(self, slot: int, dtype, field: str) -> np.ndarray:
        """A vector of scalars or of structs (``dtype`` a numpy structured type), copied out."""
        dt = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).names is None else np.dtype(dtype)
        start, count = self._vector(slot, dt.itemsize, field)
        return np.frombuffer(self._buf, dtype=dt, count=count, offset=start).copy() if count else np.zeros(0, dt)

    def tables(self, slot: int, field: str) -> list["Table"]:
        start, count = self._vector(slot, 4, field)
        return [Table(self._buf, p + _U32.unpack_from(self._buf, p)[0], self.source, f"{self.path}/{field}[{i}]")
                for i, p in enumerate(range(start, start + 4 * count, 4))]

    def string(self, slot: int, field: str) -> str | None:
        start, count = self._vector(slot, 1, field)
        if not start:
            return None
        self._terminated(start + count, field)
        return _decode(self._buf[start:start + count], self.source, f"{self.path}/{field}")

    def _terminated(self, end: int, field: str) -> None:
        """A FlatBuffers string ends in a zero byte (the verifier CatBoost runs checks it): a length
        that misses it was damaged."""
        if end >= len(self._buf) or self._buf[end] != 0:
            self._fail("the string does not end in its terminating zero byte", field)

    def strings(self, slot: int, field: str) -> list[str]:
        out = []
        start, count = self._vector(slot, 4, field)
        for i, p in enumerate(range(start, start + 4 * count, 4)):
            target = p + _U32.unpack_from(self._buf, p)[0]
            n = self._read(_U32, target, "the string length", f"{field}[{i}]")
            self._check(target + 4, n, "the string", f"{field}[{i}]")
            self._terminated(target + 4 + n, f"{field}[{i}]")
            out.append(_decode(self._buf[target + 4:target + 4 + n], self.source, f"{self.path}/{field}[{i}]"))
        return out


def _decode(raw: bytes, source, field) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFormatError(source, field, "is not valid UTF-8") from None
