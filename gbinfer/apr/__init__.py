"""``.apr``: a model archive that can be compressed, checksummed, signed and encrypted (docs/apr.md).

The payload is the ``.xgbrs`` bytes of the model (the stable schema), so every model gbinfer loads
can be archived. Unsigned, unencrypted files also load through ``gbinfer.load``; a signed or
encrypted file needs its key here::

    apr.save(m, "m.apr", compression="zstd", signing_key=seller_private, recipient=buyer_public)
    apr.load("m.apr", trusted_key=seller_public, recipient_key=buyer_private)
    apr.inspect("m.apr")    # header, flags, metadata, signer fingerprint; the payload is not read

A model is returned only after every check its file carries has passed: CRC32, the signature by
the caller's trusted key, the AES-GCM tag over header, metadata and payload, the decompressed size,
and the ``.xgbrs`` payload's own checks.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

from ..errors import DataError, KeyRequired, ModelFormatError, SignatureInvalid, UnsupportedModelError
from . import crypto
from .compress import compress, decompress
from .format import (COMPRESSION_NAMES, FORMAT_VERSION, HEADER, MAX_PAYLOAD, MODEL_TYPE_GRADIENT_BOOSTING,
                     NOT_LOADABLE, SIGNATURE_BLOCK, TRAILER, Compression, Flag, Header, decode_metadata,
                     encode_metadata, parse_header, split)

__all__ = ["save", "dumps", "load", "inspect", "verify", "keygen", "COMPRESSIONS"]

COMPRESSIONS = {None: Compression.NONE, **{name: code for code, name in COMPRESSION_NAMES.items()}}
LICENSE_KEYS = ("uuid", "tier", "expiry", "seats", "licensee")
_WRITTEN_KEYS = ("aprender_version", "encryption", "recipient_id")  # set by the writer, never by the caller


# --- write -----------------------------------------------------------------------------------

def save(model, path, *, compression=None, metadata=None, signing_key=None, password=None, recipient=None,
         quality_score: int = 0) -> None:
    """Write ``model`` to ``path`` as an ``.apr`` file, atomically (see ``dumps`` for the options)."""
    from ..serialization import atomic_write

    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"save() takes a path, got {type(path).__name__}")
    data = dumps(model, compression=compression, metadata=metadata, signing_key=signing_key, password=password,
                 recipient=recipient, quality_score=quality_score)
    atomic_write(path, lambda fh: fh.write(data))


def dumps(model, *, compression=None, metadata=None, signing_key=None, password=None, recipient=None,
          quality_score: int = 0) -> bytes:
    """The ``.apr`` bytes of ``model``.

    ``compression``: ``None``, ``"zstd"`` (level 3), ``"zstd-max"`` (level 19) or ``"lz4"``.
    ``metadata``: a dict with string keys stored as MessagePack (``created_at`` defaults to now;
    a ``license`` dict sets the LICENSED flag, a ``model_card`` entry HAS_MODEL_CARD).
    ``signing_key``: Ed25519 private key. ``password`` (Argon2id) or ``recipient`` (X25519 public
    key): encrypt the payload; not both. Keys may be ``cryptography`` key objects, raw 32 bytes,
    PEM bytes or PEM file paths. ``quality_score``: the header's score byte, 0-255 (0: not scored).
    """
    from ..model import Model
    from ..serialization import binary

    if not isinstance(model, Model):
        raise DataError(f"apr.save() takes a gbinfer Model (from gbinfer.load), got {type(model).__name__}")
    code = _compression(compression)
    if password is not None and recipient is not None:
        raise DataError("give password= or recipient=, not both: a file is encrypted one way")
    if isinstance(quality_score, bool) or not isinstance(quality_score, int) or not 0 <= quality_score <= 255:
        raise DataError(f"quality_score must be an int in [0, 255], got {quality_score!r}")
    signer = crypto.signing_key(signing_key) if signing_key is not None else None
    recipient = crypto.recipient_public(recipient) if recipient is not None else None
    if password is not None:
        crypto.password_bytes(password)  # refuse a bad password before the work
    meta, flags = _metadata(metadata, password, recipient)
    if signer is not None:
        flags |= Flag.SIGNED
    meta_bytes = encode_metadata(meta)
    payload = binary.dumps(model)
    stored = compress(payload, code)
    overhead = (crypto.PASSWORD_OVERHEAD if password is not None
                else crypto.RECIPIENT_OVERHEAD if recipient is not None else 0)
    if max(len(payload), len(stored) + overhead) > MAX_PAYLOAD:
        raise DataError(f"the model's payload is {len(payload)} bytes, above the .apr limit of {MAX_PAYLOAD}")
    header = Header(*FORMAT_VERSION, MODEL_TYPE_GRADIENT_BOOSTING, len(meta_bytes), len(stored) + overhead,
                    len(payload), code, flags, quality_score)
    head = header.pack() + meta_bytes  # also the AES-GCM associated data: neither can change unnoticed
    if password is not None:
        stored = crypto.encrypt_password(stored, password, head)
    elif recipient is not None:
        stored = crypto.encrypt_recipient(stored, recipient, head)
    body = head + stored
    if signer is not None:
        body += crypto.sign(signer, body)
    return body + TRAILER.pack(zlib.crc32(body))


def _compression(name) -> Compression:
    if not (name is None or isinstance(name, str)) or name not in COMPRESSIONS:
        raise DataError(f"unknown compression {name!r}; expected None, "
                        + ", ".join(repr(n) for n in COMPRESSIONS if n))
    return COMPRESSIONS[name]


def _metadata(user, password, recipient) -> tuple[dict, Flag]:
    """The metadata map in writing order: ``created_at``, ``aprender_version``, the caller's entries."""
    from .. import __version__

    if user is not None and not isinstance(user, dict):
        raise DataError(f"metadata must be a dict with string keys, got {type(user).__name__}")
    user = dict(user or {})
    if not all(isinstance(k, str) for k in user):
        raise DataError("metadata keys must be strings")
    taken = sorted(set(user) & set(_WRITTEN_KEYS))
    if taken:
        raise DataError(f"metadata keys {taken} are written by gbinfer; choose other names")
    created = user.pop("created_at", str(int(time.time())))
    if not isinstance(created, str) or not created.isdigit():
        raise DataError(f"metadata['created_at'] must be Unix seconds as a decimal string, got {created!r}")
    meta = {"created_at": created, "aprender_version": f"gbinfer/{__version__}", **user}
    flags = Flag(0)
    if "license" in meta:
        lic = meta["license"]
        if not isinstance(lic, dict) or not set(lic) <= set(LICENSE_KEYS):
            raise DataError(f"metadata['license'] must be a dict with keys among {', '.join(LICENSE_KEYS)}, "
                            f"got {lic!r:.80}")
        flags |= Flag.LICENSED
    if "model_card" in meta:
        flags |= Flag.HAS_MODEL_CARD
    if password is not None:
        meta["encryption"] = "password"
        flags |= Flag.ENCRYPTED
    elif recipient is not None:
        meta["encryption"] = "x25519"
        meta["recipient_id"] = crypto.recipient_id(crypto.raw_public(recipient)).hex()
        flags |= Flag.ENCRYPTED
    try:
        encode_metadata(meta)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"metadata must hold only MessagePack values (str keys, numbers, strings, bytes, lists, "
                        f"dicts): {exc}") from None
    return meta, flags


# --- read ------------------------------------------------------------------------------------

def load(path_or_bytes, *, trusted_key=None, password=None, recipient_key=None):
    """The model in an ``.apr`` file or bytes, after every check the file carries has passed.

    A signed file needs ``trusted_key`` (the Ed25519 public key you trust: the key inside the file
    must be it); an encrypted one ``password`` or ``recipient_key`` (X25519 private key). Giving a
    trusted key for an unsigned file, or a password or key for an unencrypted one, is refused: the
    file is not what the caller expects.
    """
    data, source = _read(path_or_bytes)
    return _open(data, source, trusted_key=trusted_key, password=password, recipient_key=recipient_key)


def loads(data, source: str | None = None):
    """``gbinfer.load``'s entry: unsigned, unencrypted ``.apr`` bytes; others get KeyRequired."""
    return _open(bytes(data), source or "<bytes>", hint="gbinfer.apr.load(path, ")


def verify(path_or_bytes, trusted_key) -> dict:
    """Check the CRC32 and the signature by ``trusted_key`` (the payload is neither decompressed nor
    decrypted); the file's ``inspect`` information on success."""
    data, source = _read(path_or_bytes)
    parts = split(data, source)
    decode_metadata(parts.metadata, source)
    _check_signature(parts, crypto.trusted_key(trusted_key), source, "")
    return inspect(data)


def _read(path_or_bytes) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), "<bytes>"
    if not isinstance(path_or_bytes, (str, os.PathLike)):
        raise DataError(f"expected a path or bytes, got {type(path_or_bytes).__name__}")
    source = str(path_or_bytes)
    try:
        return Path(path_or_bytes).read_bytes(), source
    except OSError as exc:
        raise ModelFormatError(source, None, f"cannot read the file: {exc.strerror}") from None


def _open(data: bytes, source: str, *, trusted_key=None, password=None, recipient_key=None,
          hint: str = "gbinfer.apr.load(..., "):
    from ..serialization import binary

    if password is not None and recipient_key is not None:
        raise DataError("give password= or recipient_key=, not both: a file is encrypted one way")
    trusted = crypto.trusted_key(trusted_key) if trusted_key is not None else None
    private = crypto.recipient_private(recipient_key) if recipient_key is not None else None
    # 1. the container: sizes against the file and the caps, then the CRC32 of every byte
    parts = split(data, source)
    header = parts.header
    if header.flags & NOT_LOADABLE:
        names = "/".join(f.name for f in Flag if header.flags & NOT_LOADABLE & f)
        raise UnsupportedModelError(source, "flags", f"{names} files are aprender layouts gbinfer does not read "
                                                     "(it reads whole-payload files)")
    # 2. provenance: signed by the key the caller trusts, and only then anything else
    if header.flags & Flag.SIGNED or trusted is not None:
        _check_signature(parts, trusted, source, hint)
    meta = decode_metadata(parts.metadata, source)
    # 3. confidentiality: the AES-GCM tag covers header, metadata and payload
    stored = parts.payload
    if header.flags & Flag.ENCRYPTED:
        head = bytes(parts.signed_bytes[:HEADER.size + header.metadata_size])
        mode = meta.get("encryption")
        if password is not None and mode != "x25519":
            stored = crypto.decrypt_password(stored, password, head, source)
        elif private is not None and mode != "password":
            stored = crypto.decrypt_recipient(stored, private, head, source)
        else:
            need = "recipient_key= (X25519 private key)" if mode == "x25519" else "password="
            raise KeyRequired(f"{source}: the payload is encrypted; open it with {hint}{need})")
    elif password is not None or private is not None:
        raise ModelFormatError(source, "flags", "the file is not encrypted, but a password or key was given: "
                                                "refusing a plaintext file where an encrypted one is expected")
    # 4. the payload: exactly the declared size once decompressed, then the .xgbrs checks
    payload = decompress(stored, header.compression, header.uncompressed_size, source)
    if not payload.startswith(binary.MAGIC):
        raise ModelFormatError(source, "payload", f"expected a .xgbrs payload, found {payload[:5]!r}")
    return binary.loads(payload, source)


def _check_signature(parts, trusted, source: str, hint: str) -> None:
    if not parts.header.flags & Flag.SIGNED:
        raise SignatureInvalid(source, "signature", "missing: the file is not signed, but a trusted key was given")
    if trusted is None:
        raise KeyRequired(f"{source}: the file is signed by key {crypto.fingerprint(parts.public_key)[:16]}...; "
                          f"load it with {hint}trusted_key=<the Ed25519 public key you trust>)")
    crypto.verify(parts.signature, parts.public_key, parts.signed_bytes, trusted, source)


# --- inspect ---------------------------------------------------------------------------------

def inspect(path_or_bytes) -> dict:
    """Header, flags, metadata and signer of an ``.apr`` file, reading only those sections (the
    payload is neither read, decompressed nor decrypted, and nothing is verified: ``verify`` and
    ``load`` do that)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = memoryview(path_or_bytes)
        return _describe(lambda at, n: bytes(data[at:at + n]), len(data), "<bytes>")
    if not isinstance(path_or_bytes, (str, os.PathLike)):  # an int would be opened as a file descriptor
        raise DataError(f"inspect() takes a path or bytes, got {type(path_or_bytes).__name__}")
    source = str(path_or_bytes)
    try:
        with open(path_or_bytes, "rb") as fh:
            def read(at, n):
                fh.seek(at)
                return fh.read(n)

            return _describe(read, os.fstat(fh.fileno()).st_size, source)
    except OSError as exc:
        raise ModelFormatError(source, None, f"cannot read the file: {exc.strerror}") from None


def _describe(read, size: int, source: str) -> dict:
    header = parse_header(read(0, HEADER.size), source, size)
    meta = decode_metadata(read(HEADER.size, header.metadata_size), source)
    info = {
        "container": "apr",
        "format_version": f"{header.major}.{header.minor}",
        "model_type": header.model_type,
        "file_size": size,
        "metadata_size": header.metadata_size,
        "payload_size": header.payload_size,
        "uncompressed_size": header.uncompressed_size,
        "compression": COMPRESSION_NAMES[header.compression],
        "flags": [f.name for f in Flag if header.flags & f],
        "quality_score": header.quality_score,
        "encryption": meta.get("encryption") if header.flags & Flag.ENCRYPTED else None,
        "metadata": meta,
        "signer_public_key": None,
        "signer_fingerprint": None,
        "crc32": f"{TRAILER.unpack(read(size - TRAILER.size, TRAILER.size))[0]:08x}",
    }
    if header.flags & Flag.SIGNED:
        block = read(size - TRAILER.size - SIGNATURE_BLOCK, SIGNATURE_BLOCK)
        info["signer_public_key"] = block[64:].hex()
        info["signer_fingerprint"] = crypto.fingerprint(block[64:])
    return info


# --- keys ------------------------------------------------------------------------------------

def keygen(prefix) -> dict:
    """Write a new Ed25519 signing pair and X25519 encryption pair as PEM files, mode 0600.

    ``<prefix>.pem`` / ``<prefix>.pub.pem`` (sign / verify) and ``<prefix>.x25519.pem`` /
    ``<prefix>.x25519.pub.pem`` (decrypt / encrypt). Existing files are never overwritten.
    """
    from ..serialization import atomic_write

    if not isinstance(prefix, (str, os.PathLike)):
        raise DataError(f"keygen() takes a path prefix (str or os.PathLike), got {type(prefix).__name__}")
    prefix = os.fspath(prefix)
    sign_key, box_key = crypto.generate()
    files = {f"{prefix}.pem": sign_key, f"{prefix}.pub.pem": sign_key.public_key(),
             f"{prefix}.x25519.pem": box_key, f"{prefix}.x25519.pub.pem": box_key.public_key()}
    existing = [p for p in files if os.path.lexists(p)]
    if existing:
        raise DataError(f"{', '.join(existing)} already exist; key files are never overwritten")
    for path, key in files.items():
        atomic_write(path, lambda fh, key=key: _write_private(fh, crypto.pem(key)))
    return {"signing": f"{prefix}.pem", "verify": f"{prefix}.pub.pem", "decrypt": f"{prefix}.x25519.pem",
            "encrypt": f"{prefix}.x25519.pub.pem"}


def _write_private(fh, data: bytes) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fh.fileno(), 0o600)  # before the first byte: the key is never readable by others
    fh.write(data)
