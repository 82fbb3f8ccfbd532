"""Payload compression: zstd (levels 3 and 19) and LZ4 block with a 4-byte size prefix.

Decompression never trusts a size it has not checked: the header's uncompressed size is capped
by ``format.parse_header`` before we get here, the zstd frame and the LZ4 prefix must declare that
same size, and the output must be exactly that long (so a small file cannot expand into a
large allocation).
"""

from __future__ import annotations

import struct

from ..errors import ModelFormatError
from .deps import need
from .format import Compression

ZSTD_LEVELS = {Compression.ZSTD: 3, Compression.ZSTD_MAX: 19}
LZ4_PREFIX = struct.Struct("<I")


def compress(data: bytes, code: Compression) -> bytes:
    if code == Compression.NONE:
        return data
    if code in ZSTD_LEVELS:
        zstd = need("zstandard", "zstd compression")
        return zstd.ZstdCompressor(level=ZSTD_LEVELS[code], write_content_size=True).compress(data)
    lz4_block = need("lz4.block", "LZ4 compression")
    return LZ4_PREFIX.pack(len(data)) + lz4_block.compress(data, store_size=False)


def decompress(data, code: Compression, size: int, source: str) -> bytes:
    """``size`` bytes decompressed from ``data``, or a ModelFormatError naming the payload."""
    if code == Compression.NONE:
        out = bytes(data)
    elif code in ZSTD_LEVELS:
        out = _zstd(bytes(data), size, source)
    else:
        out = _lz4(data, size, source)
    if len(out) != size:
        raise ModelFormatError(source, "payload", f"holds {len(out)} bytes once decompressed, the header declares "
                                                  f"{size}")
    return out


def _zstd(data: bytes, size: int, source: str) -> bytes:
    zstd = need("zstandard", "zstd decompression")
    try:
        declared = zstd.frame_content_size(data)
    except zstd.ZstdError as exc:
        raise ModelFormatError(source, "payload", f"not a zstd frame: {exc}") from None
    if declared != size:  # -1 (unknown) included: the library would then size its output on its own
        raise ModelFormatError(source, "payload", f"the zstd frame declares {declared} bytes, the header {size}")
    dobj = zstd.ZstdDecompressor().decompressobj()
    try:
        out = dobj.decompress(data)
    except zstd.ZstdError as exc:
        raise ModelFormatError(source, "payload", f"corrupt zstd data: {exc}") from None
    if not dobj.eof or dobj.unused_data:
        raise ModelFormatError(source, "payload", "the zstd frame is incomplete or followed by extra bytes")
    return out


def _lz4(data, size: int, source: str) -> bytes:
    lz4_block = need("lz4.block", "LZ4 decompression")
    if len(data) < LZ4_PREFIX.size:
        raise ModelFormatError(source, "payload", "shorter than the LZ4 size prefix")
    (declared,) = LZ4_PREFIX.unpack_from(data, 0)
    if declared != size:
        raise ModelFormatError(source, "payload", f"the LZ4 prefix declares {declared} bytes, the header {size}")
    try:
        return lz4_block.decompress(bytes(data[LZ4_PREFIX.size:]), uncompressed_size=size)
    except (lz4_block.LZ4BlockError, ValueError) as exc:
        raise ModelFormatError(source, "payload", f"corrupt LZ4 block: {exc}") from None
