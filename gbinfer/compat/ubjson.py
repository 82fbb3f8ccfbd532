"""Decoder for the UBJSON (draft 12) files XGBoost writes (``save_model("x.ubj")``,
``Booster.save_raw("ubj")``).

Why a hand-written reader: the UBJSON packages available for Python decode a typed
array such as ``[$d#L<n>...`` into a list holding one Python float per element. A
500-tree model carries millions of such elements, so that costs a lot of memory and
time only to convert the list into a numpy array afterwards. Nothing maintained
hands the payload straight to ``np.frombuffer``, which is what this module does.

Mapping (XGBoost's writer is src/common/json.cc ``UBJWriter``):

* ``Z`` -> None, ``T``/``F`` -> bool, ``N`` (no-op) is skipped wherever a value marker
  is expected;
* ``i U I l L`` -> int, ``d D`` -> float, ``C`` -> 1-character str, ``S`` -> str,
  ``H`` (high-precision number) -> its decimal text as str;
* ``[$<t>#<n>`` with a numeric ``<t>`` (``i U I l L d D``) -> a native-byte-order
  numpy array of the matching dtype (int8, uint8, int16, int32, int64, float32,
  float64); any other array -> list; ``{`` -> dict with str keys. Optimized (``$``/``#``)
  objects and ``#``-counted untyped arrays are accepted as well.

Every malformation (truncation, unknown marker, negative or oversized count, bad UTF-8,
nesting deeper than ``MAX_DEPTH``, bytes after the root value) raises
:class:`gbinfer.errors.ModelFormatError` whose ``field`` is the slash-separated JSON
path of the value being read and whose message gives the byte offset.
"""

from __future__ import annotations

import struct

import numpy as np

from gbinfer.errors import ModelFormatError

__all__ = ["decode", "MAX_DEPTH"]

MAX_DEPTH = 256

# Scalar readers: marker byte -> (struct.unpack_from, size, description).
_SCALARS = {
    ord("i"): (struct.Struct(">b").unpack_from, 1, "int8"),
    ord("U"): (struct.Struct(">B").unpack_from, 1, "uint8"),
    ord("I"): (struct.Struct(">h").unpack_from, 2, "int16"),
    ord("l"): (struct.Struct(">i").unpack_from, 4, "int32"),
    ord("L"): (struct.Struct(">q").unpack_from, 8, "int64"),
    ord("d"): (struct.Struct(">f").unpack_from, 4, "float32"),
    ord("D"): (struct.Struct(">d").unpack_from, 8, "float64"),
}
_INT_MARKERS = frozenset(ord(c) for c in "iUIlL")
_LONG = ord("L")
_unpack_q = struct.Struct(">q").unpack_from

# Typed-array element type -> (big-endian dtype on disk, native dtype returned).
_NUMPY_TYPES = {
    ord("i"): (np.dtype(">i1"), np.dtype("i1")),
    ord("U"): (np.dtype(">u1"), np.dtype("u1")),
    ord("I"): (np.dtype(">i2"), np.dtype("i2")),
    ord("l"): (np.dtype(">i4"), np.dtype("i4")),
    ord("L"): (np.dtype(">i8"), np.dtype("i8")),
    ord("d"): (np.dtype(">f4"), np.dtype("f4")),
    ord("D"): (np.dtype(">f8"), np.dtype("f8")),
}

_Z, _T, _F, _N = ord("Z"), ord("T"), ord("F"), ord("N")
_C, _S, _H = ord("C"), ord("S"), ord("H")
_LBRACKET, _RBRACKET = ord("["), ord("]")
_LBRACE, _RBRACE = ord("{"), ord("}")
_DOLLAR, _HASH = ord("$"), ord("#")

# Markers allowed after ``$`` (N is not a type; the count marker ``#`` is not either).
_CONTAINER_TYPES = frozenset(_SCALARS) | {_Z, _T, _F, _C, _S, _H, _LBRACKET, _LBRACE}

_ARRAY, _OBJECT = 0, 1


def _marker_repr(b: int) -> str:
    ch = chr(b)
    return f"'{ch}' (0x{b:02x})" if 0x20 < b < 0x7F else f"0x{b:02x}"


class _Reader:
    __slots__ = ("data", "n", "pos", "source", "stack")

    def __init__(self, data, source):
        self.data = data
        self.n = len(data)
        self.pos = 0
        self.source = source
        # Frames: [kind, container, count (-1: until end marker), element type or None, key]
        self.stack: list[list] = []

    # -- errors -------------------------------------------------------------------------
    def path(self, pending_key: str | None = None) -> str | None:
        parts = []
        for kind, container, _count, _typ, key in self.stack:
            if kind == _ARRAY:
                parts.append(str(len(container)))
            elif key is not None:
                parts.append(key)
        if pending_key is not None:
            parts.append(pending_key)
        return "/".join(parts) or None

    def fail(self, problem: str, at: int | None = None) -> ModelFormatError:
        at = self.pos if at is None else at
        return ModelFormatError(self.source, self.path(), f"at byte offset {at}: {problem}")

    # -- primitive reads ----------------------------------------------------------------
    def need(self, size: int, what: str) -> None:
        if size > self.n - self.pos:
            raise self.fail(
                f"truncated input: expected {what} ({size} byte{'s' if size != 1 else ''}), "
                f"only {self.n - self.pos} left"
            )

    def marker(self, what: str = "a type marker", skip_noop: bool = True) -> int:
        data, n, pos = self.data, self.n, self.pos
        while True:
            if pos >= n:
                self.pos = pos
                raise self.fail(f"truncated input: expected {what}, found end of data")
            b = data[pos]
            pos += 1
            if b != _N or not skip_noop:
                self.pos = pos
                return b

    def scalar(self, marker: int):
        unpack, size, desc = _SCALARS[marker]
        pos = self.pos
        if size > self.n - pos:
            raise self.fail(f"truncated input: expected {desc} payload ({size} bytes), only {self.n - pos} left")
        self.pos = pos + size
        return unpack(self.data, pos)[0]

    def length(self, what: str) -> int:
        """A length/count: an integer value with its own marker, non-negative."""
        start = self.pos
        # Fast path: XGBoost writes every length and count as 'L' + int64.
        if start + 9 <= self.n and self.data[start] == _LONG:
            value = _unpack_q(self.data, start + 1)[0]
            if value >= 0:
                self.pos = start + 9
                return value
        m = self.marker(f"an integer marker for {what}", skip_noop=False)
        if m not in _INT_MARKERS:
            raise self.fail(f"expected an integer marker (i, U, I, l, L) for {what}, found {_marker_repr(m)}", start)
        value = self.scalar(m)
        if value < 0:
            raise self.fail(f"negative {what} {value}", start)
        return value

    def text(self, what: str) -> str:
        size = self.length(f"{what} length")
        pos = self.pos
        if size > self.n - pos:
            raise self.fail(f"truncated input: {what} of {size} bytes, only {self.n - pos} left")
        self.pos = pos + size
        try:
            return str(self.data[pos : pos + size], "utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"{what} is not valid UTF-8 ({e.reason} at byte {pos + e.start})", pos) from None

    # -- values -------------------------------------------------------------------------
    def container_header(self, what: str):
        """After ``[`` or ``{``: parse optional ``$type`` and ``#count``. Returns (type|None, count|-1)."""
        data, pos = self.data, self.pos
        typ = None
        if pos < self.n and data[pos] == _DOLLAR:
            self.pos = pos + 1
            start = self.pos
            typ = self.marker(f"the element type of an optimized {what}", skip_noop=False)
            if typ not in _CONTAINER_TYPES:
                raise self.fail(f"unknown element type {_marker_repr(typ)} for an optimized {what}", start)
            start = self.pos
            if self.marker(f"'#' after the element type of an optimized {what}", skip_noop=False) != _HASH:
                raise self.fail(f"expected '#' (count) after '$' type in an optimized {what}", start)
            return typ, self.length(f"{what} count")
        if pos < self.n and data[pos] == _HASH:
            self.pos = pos + 1
            return None, self.length(f"{what} count")
        return None, -1

    def typed_numeric_array(self, typ: int, count: int):
        disk, native = _NUMPY_TYPES[typ]
        nbytes = count * disk.itemsize
        pos = self.pos
        if nbytes > self.n - pos:
            raise self.fail(
                f"truncated input: typed array of {count} {native.name} elements needs {nbytes} bytes, "
                f"only {self.n - pos} left"
            )
        arr = np.frombuffer(self.data, dtype=disk, count=count, offset=pos)
        self.pos = pos + nbytes
        # astype always copies: the result is native-endian, writable and owns its memory.
        return arr.astype(native)

    def check_count(self, count: int, min_item_bytes: int, what: str) -> None:
        # Every element of an untyped container takes >= 1 byte; elements of a typed
        # container take the payload size (>= 0). Reject counts the remaining input
        # cannot hold before anything is allocated. Payload-less typed elements (Z, T, F)
        # are bounded by the input size so a tiny file cannot demand a huge list.
        remaining = self.n - self.pos
        limit = remaining // min_item_bytes if min_item_bytes else self.n
        if count > limit:
            raise self.fail(
                f"truncated or corrupt input: {what} count {count} exceeds what the remaining "
                f"{remaining} bytes can hold"
            )

    def decode(self):
        data = self.data
        stack = self.stack
        scalars = _SCALARS
        numpy_types = _NUMPY_TYPES
        # The root value
        m = self.marker("the root value")
        while True:
            # ---- parse one value whose marker is m -----------------------------------
            push = None
            if m in scalars:
                value = self.scalar(m)
            elif m == _LBRACKET or m == _LBRACE:
                is_array = m == _LBRACKET
                what = "array" if is_array else "object"
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")
                typ, count = self.container_header(what)
                if is_array and typ in numpy_types:
                    value = self.typed_numeric_array(typ, count)
                else:
                    if count >= 0:
                        if typ is None:
                            per = 1 if is_array else 2
                        elif typ in scalars:
                            per = scalars[typ][1] + (0 if is_array else 2)
                        elif typ in (_Z, _T, _F):
                            per = 0 if is_array else 2
                        else:
                            per = 1 if is_array else 3
                        self.check_count(count, per, what)
                    push = [_ARRAY if is_array else _OBJECT, [] if is_array else {}, count, typ, None]
            elif m == _S:
                value = self.text("string")
            elif m == _Z:
                value = None
            elif m == _T:
                value = True
            elif m == _F:
                value = False
            elif m == _C:
                self.need(1, "char payload")
                b = data[self.pos]
                if b > 0x7F:
                    raise self.fail(f"char value 0x{b:02x} is not ASCII")
                self.pos += 1
                value = chr(b)
            elif m == _H:
                value = self.text("high-precision number")
            else:
                raise self.fail(f"unknown type marker {_marker_repr(m)}", self.pos - 1)

            if push is not None:
                stack.append(push)
            else:
                # ---- deliver value to the enclosing container ----------------------
                if not stack:
                    if self.pos != self.n:
                        raise self.fail(f"{self.n - self.pos} trailing bytes after the root value")
                    return value
                frame = stack[-1]
                if frame[0] == _ARRAY:
                    frame[1].append(value)
                else:
                    frame[1][frame[4]] = value
                    frame[4] = None

            # ---- find the next value to parse; close finished containers -------------
            while True:
                frame = stack[-1]
                kind, container, count, typ, _key = frame
                if count >= 0:
                    done = len(container) == count
                else:
                    done = False
                    if self.pos < self.n:
                        # peek, skipping no-ops
                        pos = self.pos
                        while pos < self.n and data[pos] == _N:
                            pos += 1
                        self.pos = pos
                        end = _RBRACKET if kind == _ARRAY else _RBRACE
                        if pos < self.n and data[pos] == end:
                            self.pos = pos + 1
                            done = True
                if done:
                    stack.pop()
                    if not stack:
                        if self.pos != self.n:
                            raise self.fail(f"{self.n - self.pos} trailing bytes after the root value")
                        return container
                    parent = stack[-1]
                    if parent[0] == _ARRAY:
                        parent[1].append(container)
                    else:
                        parent[1][parent[4]] = container
                        parent[4] = None
                    continue
                # next element of this container
                if kind == _OBJECT:
                    key_start = self.pos
                    if count < 0:
                        # Unoptimized objects: the key is a length-prefixed string (no 'S').
                        while key_start < self.n and data[key_start] == _N:
                            key_start += 1
                        self.pos = key_start
                        if key_start >= self.n:
                            raise self.fail("truncated input: expected an object key or '}', found end of data")
                    key = self.text("object key")
                    if key in container:
                        raise ModelFormatError(
                            self.source, self.path(key), f"at byte offset {key_start}: duplicate object key"
                        )
                    frame[4] = key
                if typ is not None:
                    m = typ
                else:
                    end_hint = "" if count >= 0 else (" or ']'" if kind == _ARRAY else "")
                    m = self.marker(f"a value marker{end_hint}")
                break


def decode(buf: bytes | bytearray | memoryview, source: str | None = None) -> object:
    """Decode one UBJSON value (as XGBoost writes it) from ``buf``.

    Typed numeric arrays become numpy arrays (native byte order, element dtype kept);
    other arrays become lists, objects dicts with str keys. The whole buffer must be
    exactly one value. ``source`` (a file name) is used in error messages only.

    Raises :class:`gbinfer.errors.ModelFormatError` on any malformed input.
    """
    if isinstance(buf, memoryview):
        if not buf.c_contiguous:
            raise ModelFormatError(source, None, "buffer is not contiguous")
        if buf.format != "B" or buf.ndim != 1:
            buf = buf.cast("B")
    elif not isinstance(buf, (bytes, bytearray)):
        raise TypeError(f"decode() needs bytes, bytearray or memoryview, not {type(buf).__name__}")
    return _Reader(buf, source).decode()
