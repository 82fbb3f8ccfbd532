"""The APRN v1 byte layout: header, metadata, section sizes, signature block and CRC32 trailer.

This module only cuts a file into its sections and checks that they fit together (docs/apr.md);
it never decompresses, decrypts or verifies a signature, so ``inspect`` can use it alone.

Layout (all integers little-endian)::

    0   magic              4  b"APRN"
    4   major, minor       2  1, 0
    6   model type         u16  0x0005 GradientBoosting
    8   metadata size      u32
    12  payload size       u32  bytes of the payload section as stored (compressed, maybe encrypted)
    16  uncompressed size  u32  bytes of the .xgbrs payload before compression
    20  compression        u8   0 none, 1 zstd level 3, 2 zstd level 19, 3 LZ4 block (u32 LE size prefix)
    21  flags              u8   Flag
    22  quality score      u8
    23  reserved           9    zero
    32  metadata           msgpack map with string keys
        payload
        signature block    64-byte Ed25519 signature || 32-byte public key, if SIGNED
    end-4  CRC32           u32  zlib.crc32 of every byte before it
"""

from __future__ import annotations

import enum
import struct
import warnings
import zlib
from dataclasses import dataclass

import msgpack

from ..errors import (ChecksumMismatch, ModelFormatError, ModelTypeMismatch, TruncatedFile,
                      UnsupportedModelError, UnsupportedVersion)

MAGIC = b"APRN"
FORMAT_VERSION = (1, 0)
MODEL_TYPE_GRADIENT_BOOSTING = 0x0005
HEADER = struct.Struct("<4sBBHIIIBBB9s")
TRAILER = struct.Struct("<I")
SIGNATURE_SIZE, PUBLIC_KEY_SIZE = 64, 32
SIGNATURE_BLOCK = SIGNATURE_SIZE + PUBLIC_KEY_SIZE
MAX_METADATA = 16 << 20  # 16 MiB: model cards and licences, not data
MAX_PAYLOAD = 1 << 30  # 1 GiB, stored or decompressed: nothing is allocated by a declared size above it


class Compression(enum.IntEnum):
    NONE = 0
    ZSTD = 1  # level 3
    ZSTD_MAX = 2  # level 19
    LZ4 = 3  # LZ4 block, u32 LE uncompressed size first


COMPRESSION_NAMES = {Compression.NONE: "none", Compression.ZSTD: "zstd", Compression.ZSTD_MAX: "zstd-max",
                     Compression.LZ4: "lz4"}


class Flag(enum.IntFlag):
    ENCRYPTED = 0x01
    SIGNED = 0x02
    STREAMING = 0x04
    LICENSED = 0x08
    TRUENO_NATIVE = 0x10
    QUANTIZED = 0x20
    HAS_MODEL_CARD = 0x40


KNOWN_FLAGS = 0x7F
NOT_LOADABLE = Flag.STREAMING | Flag.TRUENO_NATIVE | Flag.QUANTIZED  # aprender layouts gbinfer never writes


@dataclass(frozen=True)
class Header:
    major: int
    minor: int
    model_type: int
    metadata_size: int
    payload_size: int
    uncompressed_size: int
    compression: Compression
    flags: Flag
    quality_score: int

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, self.major, self.minor, self.model_type, self.metadata_size, self.payload_size,
                           self.uncompressed_size, int(self.compression), int(self.flags), self.quality_score,
                           bytes(9))

    @property
    def file_size(self) -> int:
        """The exact length of a file with this header (Python ints: no overflow)."""
        signature = SIGNATURE_BLOCK if self.flags & Flag.SIGNED else 0
        return HEADER.size + self.metadata_size + self.payload_size + signature + TRAILER.size


@dataclass(frozen=True)
class Sections:
    """A file cut at the offsets its header declares (views, no copies)."""

    header: Header
    metadata: memoryview  # the raw msgpack bytes
    payload: memoryview
    signature: bytes | None  # 64 bytes, when SIGNED
    public_key: bytes | None  # 32 bytes, when SIGNED
    signed_bytes: memoryview  # everything the signature covers: header, metadata, payload
    crc32: int  # as stored


def parse_header(raw, source: str, file_size: int) -> Header:
    """Check the 32 header bytes and that the sizes they declare fit the file and the caps."""
    if file_size < len(MAGIC) or bytes(raw[:len(MAGIC)]) != MAGIC:
        raise ModelFormatError(source, "magic", f"expected {MAGIC!r}, found {bytes(raw[:len(MAGIC)])!r}: "
                                                "not an .apr file")
    if file_size < HEADER.size + TRAILER.size:
        raise TruncatedFile(source, "header", f"{file_size} bytes, shorter than the {HEADER.size}-byte header "
                                              "and the CRC32 trailer")
    (_, major, minor, model_type, metadata_size, payload_size, uncompressed_size, compression, flags, quality,
     reserved) = HEADER.unpack_from(raw, 0)
    if major != FORMAT_VERSION[0]:
        raise UnsupportedVersion(source, "version", f"{major}.{minor}", f"{FORMAT_VERSION[0]}.x")
    if model_type != MODEL_TYPE_GRADIENT_BOOSTING:
        raise ModelTypeMismatch(source, "model_type", MODEL_TYPE_GRADIENT_BOOSTING, model_type)
    if compression not in COMPRESSION_NAMES:
        raise UnsupportedModelError(source, "compression", f"unknown code {compression}; known: "
                                    + ", ".join(f"{int(c)} {n}" for c, n in COMPRESSION_NAMES.items()))
    if flags & ~KNOWN_FLAGS:
        raise UnsupportedModelError(source, "flags", f"unknown bits {flags & ~KNOWN_FLAGS:#04x} in {flags:#04x}")
    if any(reserved):
        raise ModelFormatError(source, "reserved", f"must be 9 zero bytes, found {reserved.hex()}")
    for field, value in (("metadata_size", metadata_size), ("payload_size", payload_size),
                         ("uncompressed_size", uncompressed_size)):
        cap = MAX_METADATA if field == "metadata_size" else MAX_PAYLOAD
        if value > cap:
            raise ModelFormatError(source, field, f"is {value} bytes, above the {cap}-byte limit")
    header = Header(major, minor, model_type, metadata_size, payload_size, uncompressed_size,
                    Compression(compression), Flag(flags), quality)
    if compression == Compression.NONE and not flags & Flag.ENCRYPTED and payload_size != uncompressed_size:
        raise ModelFormatError(source, "payload_size", f"is {payload_size}, but an uncompressed payload must be "
                                                       f"the declared uncompressed size {uncompressed_size}")
    expected = header.file_size
    if file_size < expected:
        raise TruncatedFile(source, None, f"the header declares {expected} bytes, the file has {file_size}")
    if file_size > expected:
        raise ModelFormatError(source, None, f"{file_size - expected} unexpected bytes after the declared "
                                             f"{expected}")
    return header


def split(buf, source: str, *, verify_crc: bool = True) -> Sections:
    """Cut a whole file into its sections; the CRC32 trailer is checked first (``verify_crc``)."""
    view = memoryview(buf)
    header = parse_header(view[:HEADER.size], source, len(view))
    crc_at = len(view) - TRAILER.size
    stored = TRAILER.unpack_from(view, crc_at)[0]
    if verify_crc:
        actual = zlib.crc32(view[:crc_at])
        if actual != stored:
            raise ChecksumMismatch(source, "crc32", stored, actual)
    if header.minor > FORMAT_VERSION[1]:  # after the CRC32: a damaged byte is reported as damage
        warnings.warn(f"{source}: .apr format {header.major}.{header.minor} is newer than this gbinfer's "
                      f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}", NewerFormatWarning, stacklevel=4)
    meta_end = HEADER.size + header.metadata_size
    payload_end = meta_end + header.payload_size
    signature = public_key = None
    if header.flags & Flag.SIGNED:
        signature = bytes(view[payload_end:payload_end + SIGNATURE_SIZE])
        public_key = bytes(view[payload_end + SIGNATURE_SIZE:payload_end + SIGNATURE_BLOCK])
    return Sections(header, view[HEADER.size:meta_end], view[meta_end:payload_end], signature, public_key,
                    view[:payload_end], stored)


def decode_metadata(raw, source: str) -> dict:
    """The metadata map; string keys only, sizes bounded by the (already capped) section."""
    try:
        value = msgpack.unpackb(bytes(raw), raw=False, strict_map_key=True, use_list=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
            RecursionError) as exc:
        raise ModelFormatError(source, "metadata", f"not a valid MessagePack map: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ModelFormatError(source, "metadata", f"expected a map with string keys, got {type(value).__name__}")
    return value


def encode_metadata(metadata: dict) -> bytes:
    return msgpack.packb(metadata, use_bin_type=True)


class NewerFormatWarning(UserWarning):
    """The ``.apr`` file has a newer minor format version than this gbinfer writes."""
