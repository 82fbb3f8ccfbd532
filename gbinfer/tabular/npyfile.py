"""``.npy`` in and out, a chunk at a time.

Read: memory-mapped, so a file larger than memory is sliced, not loaded. Write: the header's
row count is not known until the last chunk, so a header with room for any count is written
first and overwritten with the real one at the end (``np.load`` reads the spaces that pad it
as the format allows).
"""

from __future__ import annotations

import struct

import numpy as np

from ..errors import DataError

_MAGIC = b"\x93NUMPY\x01\x00"


def read(path: str, chunk_rows: int):
    """Yield ``(rows, rows read, total rows)``; the model's checks (columns, dtype) apply to each chunk."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DataError(f"{path}: not a readable .npy array: {exc}") from None
    if arr.ndim != 2:
        raise DataError(f"{path}: the array has shape {arr.shape}; expected 2-D (rows x features)")
    total = arr.shape[0]
    for start in range(0, max(total, 1), chunk_rows):
        yield np.asarray(arr[start:start + chunk_rows]), min(start + chunk_rows, total), total


def _header(dtype, shape, size: int | None = None) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
    if size is None:  # the whole header a multiple of 64 bytes, as numpy aligns it
        size = -(-(len(_MAGIC) + 2 + len(text) + 1) // 64) * 64
    body = text.ljust(size - len(_MAGIC) - 2 - 1) + "\n"
    return _MAGIC + struct.pack("<H", len(body)) + body.encode("latin1")


def write(fh, blocks) -> None:
    """Predictions as one C-order array: the blocks stacked along the first axis."""
    rows, size, dtype, tail = 0, None, None, None
    for block in blocks:
        if dtype is None:
            dtype, tail = block.dtype, block.shape[1:]
            size = len(_header(dtype, (10**20, *tail)))  # room for any row count
            fh.write(_header(dtype, (0, *tail), size))
        fh.write(np.ascontiguousarray(block, dtype=dtype).data)
        rows += len(block)
    fh.seek(0)
    fh.write(_header(dtype, (rows, *tail), size))
