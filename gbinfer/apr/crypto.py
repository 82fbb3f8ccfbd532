"""Keys, Ed25519 signatures and AES-256-GCM payload encryption for ``.apr`` files.

Everything cryptographic is the ``cryptography`` and ``argon2-cffi`` packages' (imported on first
use); this module only chooses the constructions DESIGN.md fixes and turns their failures into
gbinfer's errors:

- password: Argon2id (m=19456 KiB, t=2, p=1, 16-byte salt) -> 32-byte key -> AES-256-GCM, 12-byte nonce;
  section = salt(16) || nonce(12) || ciphertext+tag.
- recipient: an ephemeral X25519 key agrees a secret with the recipient's public key;
  key = HKDF-SHA256(secret, salt none, info b"apr-v1-encrypt", 32 bytes) -> AES-256-GCM;
  section = ephemeral public(32) || recipient id(8) || nonce(12) || ciphertext+tag.
  The recipient id is the first 8 bytes of SHA-256 of the recipient's raw 32-byte public key.
- the AES-GCM associated data is the file's header and metadata, so neither can be altered.

The KDF parameters are constants, never read from a file: a file cannot make the reader spend
more memory or time than a legitimate one does.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from ..errors import DataError, DecryptionFailed, SignatureInvalid, UntrustedSigner
from .deps import need

ARGON2_MEMORY_KIB, ARGON2_TIME, ARGON2_LANES = 19456, 2, 1
SALT_SIZE, NONCE_SIZE, TAG_SIZE, KEY_SIZE, RECIPIENT_ID_SIZE = 16, 12, 16, 32, 8
HKDF_INFO = b"apr-v1-encrypt"
PASSWORD_OVERHEAD = SALT_SIZE + NONCE_SIZE + TAG_SIZE
RECIPIENT_OVERHEAD = KEY_SIZE + RECIPIENT_ID_SIZE + NONCE_SIZE + TAG_SIZE
_DECRYPTION_FAILED = "cannot decrypt the payload: wrong password or key, or the file was altered"


# --- keys ------------------------------------------------------------------------------------

def _asym(name: str):
    need("cryptography", "signing and encryption")
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

    return {"ed25519": ed25519, "x25519": x25519}[name]


def _coerce(value, algorithm: str, private: bool, what: str):
    """A key object from a key object, raw 32 bytes, PEM bytes or the path of a PEM file."""
    module = _asym(algorithm)
    from cryptography.hazmat.primitives import serialization

    cls_private = module.Ed25519PrivateKey if algorithm == "ed25519" else module.X25519PrivateKey
    cls_public = module.Ed25519PublicKey if algorithm == "ed25519" else module.X25519PublicKey
    source = what
    if isinstance(value, (str, os.PathLike)):
        source = f"{what} file {os.fspath(value)}"
        try:
            value = Path(value).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read the {source}: {exc.strerror or exc}") from None
        if not value.lstrip().startswith(b"-----BEGIN"):
            raise DataError(f"the {source} is not a PEM key file")
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if value.lstrip().startswith(b"-----BEGIN"):
            value = _from_pem(value, serialization, private, source)
        elif len(value) == 32:
            try:
                value = (cls_private.from_private_bytes(value) if private else cls_public.from_public_bytes(value))
            except ValueError as exc:
                raise DataError(f"the {source} is not a valid {algorithm} key: {exc}") from None
        else:
            raise DataError(f"the {source} is {len(value)} bytes; raw {algorithm} keys are 32 bytes (or give PEM)")
    if not private and isinstance(value, cls_private):
        value = value.public_key()
    if not isinstance(value, cls_private if private else cls_public):
        kind = f"{algorithm} {'private' if private else 'public'} key"
        raise DataError(f"the {source} must be an {kind} (a cryptography key object, raw 32 bytes, PEM bytes or "
                        f"a PEM file), got {type(value).__name__}")
    return value


def _from_pem(data: bytes, serialization, private: bool, source: str):
    from cryptography.exceptions import UnsupportedAlgorithm

    if private and b"PRIVATE KEY" not in data:
        raise DataError(f"the {source} holds a public key; a private key is needed here")
    try:
        if b"PRIVATE KEY" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DataError(f"the {source} is not a readable unencrypted PEM key: {exc}") from None


def signing_key(value):
    return _coerce(value, "ed25519", True, "signing key")


def trusted_key(value):
    return _coerce(value, "ed25519", False, "trusted key")


def recipient_public(value):
    return _coerce(value, "x25519", False, "recipient key")


def recipient_private(value):
    return _coerce(value, "x25519", True, "recipient private key")


def raw_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(raw_public_key: bytes) -> str:
    """SHA-256 of a raw 32-byte public key, hex: how inspect and errors name a key."""
    return hashlib.sha256(raw_public_key).hexdigest()


def recipient_id(raw_public_key: bytes) -> bytes:
    return hashlib.sha256(raw_public_key).digest()[:RECIPIENT_ID_SIZE]


def pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(key, "private_bytes"):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate() -> tuple:
    """A new (Ed25519 private, X25519 private) pair."""
    return _asym("ed25519").Ed25519PrivateKey.generate(), _asym("x25519").X25519PrivateKey.generate()


# --- signatures ------------------------------------------------------------------------------

def sign(key, data) -> bytes:
    """The signature block: Ed25519 signature of ``data`` || the signer's raw public key."""
    return key.sign(bytes(data)) + raw_public(key.public_key())


def verify(signature: bytes, embedded_key: bytes, data, trusted, source: str) -> None:
    """Check that the file was signed by ``trusted``; the key inside the file only has to agree."""
    from cryptography.exceptions import InvalidSignature

    expected = raw_public(trusted)
    if embedded_key != expected:
        raise UntrustedSigner(source, "signature", f"signed by key {fingerprint(embedded_key)[:16]}..., not by "
                                                   f"the trusted key {fingerprint(expected)[:16]}...")
    try:
        trusted.verify(signature, bytes(data))
    except InvalidSignature:
        raise SignatureInvalid(source, "signature", "does not verify with the trusted key: the file was "
                                                    "altered after signing") from None


# --- encryption ------------------------------------------------------------------------------

def password_key(password, salt: bytes) -> bytes:
    low_level = need("argon2.low_level", "password encryption")
    return low_level.hash_secret_raw(password, salt, time_cost=ARGON2_TIME, memory_cost=ARGON2_MEMORY_KIB,
                                     parallelism=ARGON2_LANES, hash_len=KEY_SIZE, type=low_level.Type.ID)


def password_bytes(password) -> bytes:
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not isinstance(password, (bytes, bytearray)) or not password:
        raise DataError(f"password must be a non-empty str or bytes, got {type(password).__name__}")
    return bytes(password)


def _aesgcm(key: bytes):
    need("cryptography", "encryption")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _hkdf(secret: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=HKDF_INFO).derive(secret)


def encrypt_password(plaintext: bytes, password, aad: bytes) -> bytes:
    salt, nonce = secrets.token_bytes(SALT_SIZE), secrets.token_bytes(NONCE_SIZE)
    key = password_key(password_bytes(password), salt)
    return salt + nonce + _aesgcm(key).encrypt(nonce, plaintext, aad)


def encrypt_recipient(plaintext: bytes, recipient, aad: bytes) -> bytes:
    ephemeral = _asym("x25519").X25519PrivateKey.generate()
    key = _hkdf(ephemeral.exchange(recipient))
    nonce = secrets.token_bytes(NONCE_SIZE)
    return (raw_public(ephemeral.public_key()) + recipient_id(raw_public(recipient)) + nonce
            + _aesgcm(key).encrypt(nonce, plaintext, aad))


def decrypt_password(section, password, aad: bytes, source: str) -> bytes:
    section = bytes(section)
    if len(section) < PASSWORD_OVERHEAD:
        raise DecryptionFailed(source, "payload", _DECRYPTION_FAILED)
    salt, nonce, body = section[:SALT_SIZE], section[SALT_SIZE:SALT_SIZE + NONCE_SIZE], section[SALT_SIZE + NONCE_SIZE:]
    return _open(password_key(password_bytes(password), salt), nonce, body, aad, source)


def decrypt_recipient(section, private, aad: bytes, source: str) -> bytes:
    section = bytes(section)
    if len(section) < RECIPIENT_OVERHEAD:
        raise DecryptionFailed(source, "payload", _DECRYPTION_FAILED)
    ephemeral, rid = section[:KEY_SIZE], section[KEY_SIZE:KEY_SIZE + RECIPIENT_ID_SIZE]
    at = KEY_SIZE + RECIPIENT_ID_SIZE
    nonce, body = section[at:at + NONCE_SIZE], section[at + NONCE_SIZE:]
    if not secrets.compare_digest(rid, recipient_id(raw_public(private.public_key()))):
        raise DecryptionFailed(source, "payload", _DECRYPTION_FAILED)
    try:
        secret = private.exchange(_asym("x25519").X25519PublicKey.from_public_bytes(ephemeral))
    except ValueError:  # a low-order point: no shared secret
        raise DecryptionFailed(source, "payload", _DECRYPTION_FAILED) from None
    return _open(_hkdf(secret), nonce, body, aad, source)


def _open(key: bytes, nonce: bytes, body: bytes, aad: bytes, source: str) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return _aesgcm(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionFailed(source, "payload", _DECRYPTION_FAILED) from None
