"""An independent reader and writer of ``.apr`` archives (docs/apr.md), for the fuzz oracle.

Nothing here imports gbinfer: the 32-byte header is cut with ``struct``, the CRC32 checked with
``zlib``, the metadata read with ``msgpack``, an Ed25519 signature verified with ``cryptography``
and the payload inflated with ``zstandard`` / ``lz4`` directly. ``read`` returns the embedded
``.xgbrs`` bytes, which ``reference.read_xgbrs`` reads; ``pack`` writes an archive around given
bytes, deterministically (fixed ``created_at``), for the seeds and the mutators.
"""

from __future__ import annotations

import struct
import zlib

try:
    from .reference import Invalid, need
except ImportError:  # the worker imports the fuzz modules from their own directory
    from reference import Invalid, need

HEADER = struct.Struct("<4sBBHIIIBBB9s")
SIGNED, ENCRYPTED, NOT_LOADABLE = 0x02, 0x01, 0x04 | 0x10 | 0x20
MAX_METADATA, MAX_PAYLOAD = 16 << 20, 1 << 30
SIGNING_KEY = bytes(range(1, 33))  # the fuzz suite's own Ed25519 private key (raw): its seeds are signed with it
NONE, ZSTD, ZSTD_MAX, LZ4 = 0, 1, 2, 3


def public_key(private: bytes = SIGNING_KEY) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def is_signed(data: bytes) -> bool:
    return len(data) > 21 and data[:4] == b"APRN" and bool(data[21] & SIGNED)


def read(data: bytes, trusted: bytes | None = None) -> bytes:
    """The payload of an archive opened with the trusted public key ``trusted`` (raw 32 bytes)."""
    data = bytes(data)
    need(len(data) >= HEADER.size + 4 and data[:4] == b"APRN", "apr: magic or short")
    _, major, _, kind, meta_n, pay_n, raw_n, comp, flags, _, reserved = HEADER.unpack_from(data)
    need(major == 1 and kind == 5 and comp in (NONE, ZSTD, ZSTD_MAX, LZ4) and not flags & ~0x7F, "apr: header")
    need(not any(reserved) and meta_n <= MAX_METADATA and pay_n <= MAX_PAYLOAD and raw_n <= MAX_PAYLOAD, "apr: sizes")
    need(not flags & (ENCRYPTED | NOT_LOADABLE), "apr: encrypted or an unread layout")
    need(comp != NONE or pay_n == raw_n, "apr: stored size of an uncompressed payload")
    sig_n = 96 if flags & SIGNED else 0
    need(len(data) == HEADER.size + meta_n + pay_n + sig_n + 4, "apr: file size")
    need(struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4]), "apr: crc32")
    payload_end = HEADER.size + meta_n + pay_n
    need(bool(flags & SIGNED) == (trusted is not None), "apr: signed exactly when a trusted key is given")
    if trusted is not None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        signature, embedded = data[payload_end:payload_end + 64], data[payload_end + 64:payload_end + 96]
        need(embedded == trusted, "apr: signed by another key")
        try:
            Ed25519PublicKey.from_public_bytes(trusted).verify(signature, data[:payload_end])
        except InvalidSignature:
            raise Invalid("apr: signature") from None
    import msgpack

    try:
        meta = msgpack.unpackb(data[HEADER.size:HEADER.size + meta_n], raw=False, strict_map_key=True)
    except Exception as exc:  # noqa: BLE001 - whatever msgpack raises, the metadata is not a map
        raise Invalid(f"apr: metadata {type(exc).__name__}") from None
    need(isinstance(meta, dict) and all(isinstance(k, str) for k in meta), "apr: metadata map")
    stored = data[HEADER.size + meta_n:payload_end]
    if comp == NONE:
        payload = stored
    elif comp == LZ4:
        import lz4.block

        need(len(stored) >= 4 and struct.unpack_from("<I", stored)[0] == raw_n, "apr: lz4 size prefix")
        try:
            payload = lz4.block.decompress(stored[4:], uncompressed_size=raw_n)
        except Exception:  # noqa: BLE001
            raise Invalid("apr: lz4 data") from None
    else:
        import zstandard

        try:
            need(zstandard.frame_content_size(stored) == raw_n, "apr: zstd frame size")
            obj = zstandard.ZstdDecompressor().decompressobj()
            payload = obj.decompress(stored)
            need(obj.eof and not obj.unused_data, "apr: zstd frame incomplete or followed by bytes")
        except zstandard.ZstdError:
            raise Invalid("apr: zstd data") from None
    need(len(payload) == raw_n, "apr: decompressed size")
    return payload


def pack(payload: bytes, compression: int = NONE, *, sign: bool = False, metadata: dict | None = None,
         header_fields: dict | None = None) -> bytes:
    """An archive around ``payload`` (``header_fields`` overrides the sizes or codes written)."""
    import msgpack

    meta = msgpack.packb({"created_at": "1700000000", "aprender_version": "fuzz", **(metadata or {})},
                         use_bin_type=True)
    if compression == NONE:
        stored = payload
    elif compression == LZ4:
        import lz4.block

        stored = struct.pack("<I", len(payload)) + lz4.block.compress(payload, store_size=False)
    else:
        import zstandard

        stored = zstandard.ZstdCompressor(level=3 if compression == ZSTD else 19,
                                          write_content_size=True).compress(payload)
    f = dict(major=1, minor=0, kind=5, meta_n=len(meta), pay_n=len(stored), raw_n=len(payload), comp=compression,
             flags=SIGNED if sign else 0, quality=0)
    f.update(header_fields or {})
    body = HEADER.pack(b"APRN", f["major"], f["minor"], f["kind"], f["meta_n"], f["pay_n"], f["raw_n"], f["comp"],
                       f["flags"], f["quality"], bytes(9)) + meta + stored
    if sign:
        body = resign(body)
    return body + struct.pack("<I", zlib.crc32(body))


def resign(body: bytes) -> bytes:
    """``body`` (header, metadata, payload) with the fuzz key's signature block appended."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return body + Ed25519PrivateKey.from_private_bytes(SIGNING_KEY).sign(body) + public_key()


def parts(data: bytes):
    """(compression, signed, decompressed payload) of a well-formed archive (a seed)."""
    comp, flags = data[20], data[21]
    payload = read(data, public_key() if flags & SIGNED else None)
    return comp, bool(flags & SIGNED), payload


def fix_crc(data: bytes, resign_it: bool = False) -> bytes:
    """The CRC32 recomputed (and, for a signed file whose sections still fit, the signature made
    again) so that the checks behind them are reached."""
    if len(data) < HEADER.size + 4:
        return data
    body = data[:-4]
    if resign_it and is_signed(data) and len(body) >= HEADER.size + 96:
        body = resign(body[:-96])
    return body + struct.pack("<I", zlib.crc32(body))
