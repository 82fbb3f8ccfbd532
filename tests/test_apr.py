"""The .apr container: round trips in every mode, tamper detection, keys, errors, golden files, fuzz."""

from __future__ import annotations

import itertools
import os
import stat
import struct
import sys
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest

pytest.importorskip("cryptography")
pytest.importorskip("zstandard")
pytest.importorskip("lz4")
pytest.importorskip("argon2")

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519  # noqa: E402

import gbinfer  # noqa: E402
from gbinfer import apr  # noqa: E402
from gbinfer.apr import format as fmt  # noqa: E402
from gbinfer.errors import (ChecksumError, ChecksumMismatch, DataError, DecryptionFailed,  # noqa: E402
                            GbinferError, KeyRequired, MissingDependency, ModelFormatError, ModelTypeMismatch,
                            SignatureInvalid, TruncatedFile, UnsupportedModelError, UnsupportedVersion,
                            UntrustedSigner)
from gbinfer.serialization import binary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "fixtures" / "schema" / "v1"
GOLDEN = ROOT / "fixtures" / "apr"
PASSWORD = "correct horse"

# fixed keys for the tests (not secrets: generated from constant seeds)
SELLER = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_SELLER = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
BUYER = x25519.X25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
OTHER_BUYER = x25519.X25519PrivateKey.from_private_bytes(bytes(range(3, 35)))


@pytest.fixture(scope="module")
def golden_model():
    model = gbinfer.load(SCHEMA / "gbtree_binary.xgbrs")
    return model, np.load(SCHEMA / "gbtree_binary.npz")


@pytest.fixture(scope="module")
def small_model():
    return gbinfer.load(SCHEMA / "gblinear.xgbrs"), np.load(SCHEMA / "gblinear.npz")["X"]


def assert_same(model, expected, X=None):
    if isinstance(expected, dict) or hasattr(expected, "files"):
        X = expected["X"]
        assert np.array_equal(model.predict(X, output_margin=True), expected["margin"])
        assert np.array_equal(model.predict(X), expected["output"])
        assert np.array_equal(model.predict_leaf(X), expected["leaf"])
    else:
        assert np.array_equal(model.predict(X, output_margin=True), expected.predict(X, output_margin=True))
        assert np.array_equal(model.predict(X), expected.predict(X))


def fix_crc(buf: bytes | bytearray) -> bytes:
    """The bytes with a CRC32 trailer recomputed: what an attacker who edits a file would do."""
    body = bytes(buf[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def open_kw(signed, encryption):
    kw = {}
    if signed:
        kw["trusted_key"] = SELLER.public_key()
    if encryption == "password":
        kw["password"] = PASSWORD
    elif encryption == "recipient":
        kw["recipient_key"] = BUYER
    return kw


def save_kw(signed, encryption):
    kw = {}
    if signed:
        kw["signing_key"] = SELLER
    if encryption == "password":
        kw["password"] = PASSWORD
    elif encryption == "recipient":
        kw["recipient"] = BUYER.public_key()
    return kw


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("compression,signed,encryption", list(itertools.product(
    [None, "zstd", "zstd-max", "lz4"], [False, True], [None, "password", "recipient"])))
def test_round_trip_every_mode(golden_model, tmp_path, compression, signed, encryption):
    model, expected = golden_model
    path = tmp_path / "m.apr"
    apr.save(model, path, compression=compression, metadata={"model_name": "churn", "metrics": {"auc": 0.91}},
             **save_kw(signed, encryption))
    again = apr.load(path, **open_kw(signed, encryption))
    assert_same(again, expected)
    info = apr.inspect(path)
    assert info["compression"] == (compression or "none")
    assert ("SIGNED" in info["flags"]) == signed
    assert ("ENCRYPTED" in info["flags"]) == (encryption is not None)
    assert info["metadata"]["model_name"] == "churn" and info["metadata"]["metrics"] == {"auc": 0.91}
    assert info["uncompressed_size"] == len(binary.dumps(model))
    assert info["file_size"] == path.stat().st_size


@pytest.mark.parametrize("name", ["gbtree_multiclass", "dart", "gblinear", "categorical", "vector_leaf",
                                  "random_forest_poisson", "catboost_float"])
def test_round_trip_every_booster(tmp_path, name):
    model = gbinfer.load(SCHEMA / f"{name}.xgbrs")
    data = np.load(SCHEMA / f"{name}.npz")
    path = tmp_path / f"{name}.apr"
    gbinfer.save(model, path, compression="zstd")
    again = gbinfer.load(path)
    assert np.array_equal(again.predict(data["X"], output_margin=True), data["margin"], equal_nan=True)
    assert again.meta.user_metadata == model.meta.user_metadata


def test_gbinfer_load_and_save_by_suffix(golden_model, tmp_path):
    model, expected = golden_model
    path = tmp_path / "m.apr"
    gbinfer.save(model, path, compression="lz4")
    assert path.read_bytes()[:4] == b"APRN"
    assert_same(gbinfer.load(path), expected)
    assert_same(gbinfer.load(path.read_bytes()), expected)


def test_gbinfer_load_refuses_signed_and_encrypted_files_without_key(golden_model):
    model, _ = golden_model
    for kw in ({"signing_key": SELLER}, {"password": PASSWORD}, {"recipient": BUYER.public_key()}):
        with pytest.raises(KeyRequired, match=r"gbinfer\.apr\.load"):
            gbinfer.load(apr.dumps(model, **kw))


def test_header_and_metadata_written(golden_model):
    model, _ = golden_model
    data = apr.dumps(model, compression="zstd", quality_score=77,
                     metadata={"license": {"uuid": "u", "tier": "pro", "seats": 3}, "model_card": {"intended": "x"}})
    header = fmt.parse_header(data[:32], "t", len(data))
    assert header.flags == fmt.Flag.LICENSED | fmt.Flag.HAS_MODEL_CARD
    assert header.quality_score == 77
    meta = msgpack.unpackb(data[32:32 + header.metadata_size], raw=False)
    assert list(meta)[:2] == ["created_at", "aprender_version"]
    assert meta["created_at"].isdigit() and meta["aprender_version"] == f"gbinfer/{gbinfer.__version__}"


def test_metadata_round_trips_through_inspect(small_model):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    model = small_model[0]
    scalars = st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False) | st.text()
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
    reserved = {"created_at", "aprender_version", "encryption", "recipient_id", "license", "model_card"}

    @settings(max_examples=40, deadline=None)
    @given(st.dictionaries(st.text(max_size=12).filter(lambda k: k not in reserved), values, max_size=6))
    def check(user):
        info = apr.inspect(apr.dumps(model, metadata=user))
        assert {k: v for k, v in info["metadata"].items() if k in user} == user
        assert info["flags"] == []

    check()


# --- known answers ---------------------------------------------------------------------------

def crc32_reference(data: bytes) -> int:
    """IEEE CRC32, bit by bit (reflected polynomial 0xEDB88320): independent of zlib."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_crc32_known_answer_and_trailer(golden_model):
    assert crc32_reference(b"123456789") == 0xCBF43926
    data = (GOLDEN / "signed.apr").read_bytes()
    assert struct.unpack("<I", data[-4:])[0] == crc32_reference(data[:-4])


def test_header_known_answer():
    header = fmt.Header(1, 0, 0x0005, 0x0102, 0x030405, 0x06070809, fmt.Compression.LZ4,
                        fmt.Flag.SIGNED | fmt.Flag.ENCRYPTED, 42)
    assert header.pack() == bytes.fromhex(
        "4150524e" "01" "00" "0500" "02010000" "05040300" "09080706" "03" "03" "2a" "000000000000000000")
    # the golden file: magic, version 1.0, type 5, zstd, SIGNED, score 90, reserved zeros
    raw = (GOLDEN / "signed.apr").read_bytes()
    assert raw[:8] == b"APRN\x01\x00\x05\x00"
    assert raw[20:32] == b"\x01\x02\x5a" + bytes(9)


def test_lz4_payload_has_a_little_endian_size_prefix(golden_model):
    import lz4.block

    model, _ = golden_model
    data = apr.dumps(model, compression="lz4")
    header = fmt.parse_header(data[:32], "t", len(data))
    payload = data[32 + header.metadata_size:-4]
    plain = binary.dumps(model)
    assert payload[:4] == struct.pack("<I", len(plain)) and header.uncompressed_size == len(plain)
    assert lz4.block.decompress(payload[4:], uncompressed_size=len(plain)) == plain
    # a prefix that disagrees with the header is refused even with a valid CRC
    bad = bytearray(data)
    bad[32 + header.metadata_size] ^= 1
    with pytest.raises(ModelFormatError, match="LZ4 prefix"):
        apr.load(fix_crc(bad))


# --- tampering -------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::gbinfer.apr.format.NewerFormatWarning")  # flips of the minor byte
def test_every_single_bit_flip_of_a_signed_file_is_detected(small_model):
    """Each of the file's bits flipped alone: the CRC32 catches it; flipped with the CRC32
    recomputed (a deliberate edit), the signature does. No flip ever yields a model."""
    model, _ = small_model
    data = apr.dumps(model, compression="zstd-max", signing_key=SELLER)
    trusted = SELLER.public_key()
    apr.load(data, trusted_key=trusted)  # the untouched file loads

    def accepted(candidate) -> bool:
        try:
            apr.load(candidate, trusted_key=trusted)
        except GbinferError:
            return False
        return True

    missed, missed_after_crc_fix, tried = [], [], 0
    buf = bytearray(data)
    for bit in range(len(data) * 8):
        i, mask = divmod(bit, 8)
        buf[i] ^= 1 << mask
        if accepted(bytes(buf)):
            missed.append(bit)
        if i < len(data) - 4:  # the trailer itself is what fix_crc rewrites
            tried += 1
            if accepted(fix_crc(buf)):
                missed_after_crc_fix.append(bit)
        buf[i] ^= 1 << mask
    assert missed == [] and missed_after_crc_fix == []
    assert tried == (len(data) - 4) * 8


@pytest.mark.filterwarnings("ignore::gbinfer.apr.format.NewerFormatWarning")  # flips of the minor byte
def test_tampered_header_or_metadata_of_an_encrypted_file_is_detected(small_model):
    model, _ = small_model
    data = apr.dumps(model, recipient=BUYER.public_key(), metadata={"model_name": "a"})
    header = fmt.parse_header(data[:32], "t", len(data))
    for bit in range((32 + header.metadata_size) * 8):  # every bit of header and metadata, CRC recomputed
        buf = bytearray(data)
        buf[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(GbinferError):
            apr.load(fix_crc(buf), recipient_key=BUYER)
    # a well-formed edit: the metadata re-encoded with another name, sizes and CRC fixed up
    meta = msgpack.unpackb(data[32:32 + header.metadata_size], raw=False)
    meta["model_name"] = "b"
    new_meta = msgpack.packb(meta, use_bin_type=True)
    new_header = fmt.Header(1, 0, 5, len(new_meta), header.payload_size, header.uncompressed_size,
                            header.compression, header.flags, header.quality_score).pack()
    forged = new_header + new_meta + data[32 + header.metadata_size:]
    with pytest.raises(DecryptionFailed):
        apr.load(fix_crc(forged), recipient_key=BUYER)
    # and the quality score of a password-encrypted file
    data = apr.dumps(model, password=PASSWORD, quality_score=10)
    buf = bytearray(data)
    buf[22] = 99
    with pytest.raises(DecryptionFailed):
        apr.load(fix_crc(buf), password=PASSWORD)


def test_wrong_password_and_wrong_recipient_fail_alike(small_model):
    model, _ = small_model
    with pytest.raises(DecryptionFailed) as by_password:
        apr.load(apr.dumps(model, password=PASSWORD), password="wrong")
    with pytest.raises(DecryptionFailed) as by_recipient:
        apr.load(apr.dumps(model, recipient=BUYER.public_key()), recipient_key=OTHER_BUYER)
    assert by_password.value.problem == by_recipient.value.problem


def test_untrusted_signer_and_missing_keys(small_model):
    model, X = small_model
    signed = apr.dumps(model, signing_key=SELLER)
    with pytest.raises(UntrustedSigner):
        apr.load(signed, trusted_key=OTHER_SELLER.public_key())
    with pytest.raises(KeyRequired):
        apr.load(signed)
    # a file re-signed by someone else, with the original public key put back, still fails
    forged = bytearray(apr.dumps(model, signing_key=OTHER_SELLER))
    forged[-36:-4] = signed[-36:-4]
    with pytest.raises(SignatureInvalid):
        apr.load(fix_crc(forged), trusted_key=SELLER.public_key())
    # an unsigned file where a signed one is expected: the signature may not simply be stripped
    with pytest.raises(SignatureInvalid, match="not signed"):
        apr.load(apr.dumps(model), trusted_key=SELLER.public_key())
    with pytest.raises(ModelFormatError, match="not encrypted"):
        apr.load(apr.dumps(model), password=PASSWORD)
    with pytest.raises(KeyRequired, match="recipient_key"):
        apr.load(apr.dumps(model, recipient=BUYER.public_key()), password=PASSWORD)
    with pytest.raises(KeyRequired, match="password"):
        apr.load(apr.dumps(model, password=PASSWORD))


def test_verify(small_model):
    model, _ = small_model
    data = apr.dumps(model, signing_key=SELLER, password=PASSWORD)
    info = apr.verify(data, SELLER.public_key())
    assert info["signer_public_key"] == SELLER.public_key().public_bytes_raw().hex()
    with pytest.raises(UntrustedSigner):
        apr.verify(data, OTHER_SELLER.public_key())
    with pytest.raises(SignatureInvalid):
        apr.verify(apr.dumps(model), SELLER.public_key())


# --- structural errors -----------------------------------------------------------------------

def test_checksum_mismatch_is_a_checksum_error(small_model):
    data = bytearray(apr.dumps(small_model[0]))
    data[40] ^= 0xFF
    with pytest.raises(ChecksumMismatch) as info:
        apr.load(bytes(data))
    assert isinstance(info.value, ChecksumError) and info.value.expected != info.value.actual
    assert info.value.field == "crc32"


def test_every_truncation_is_refused(small_model):
    data = apr.dumps(small_model[0], compression="zstd", signing_key=SELLER)
    for n in range(len(data)):
        with pytest.raises(ModelFormatError):
            apr.load(data[:n], trusted_key=SELLER.public_key())
    with pytest.raises(TruncatedFile):
        apr.load(data[:-1], trusted_key=SELLER.public_key())
    with pytest.raises(ModelFormatError, match="unexpected bytes"):
        apr.load(data + b"\0", trusted_key=SELLER.public_key())


def _with_header(data: bytes, **fields) -> bytes:
    header = fmt.parse_header(data[:32], "t", len(data))
    values = {**header.__dict__, **fields}
    raw = struct.pack("<4sBBHIIIBBB9s", b"APRN", values["major"], values["minor"], values["model_type"],
                      values["metadata_size"], values["payload_size"], values["uncompressed_size"],
                      int(values["compression"]), int(values["flags"]), values["quality_score"],
                      values.get("reserved", bytes(9)))
    return fix_crc(raw + data[32:])


def test_header_field_errors(small_model):
    data = apr.dumps(small_model[0], compression="zstd")
    with pytest.raises(ModelTypeMismatch) as info:
        apr.load(_with_header(data, model_type=0x0001))
    assert (info.value.expected, info.value.found) == (5, 1)
    with pytest.raises(UnsupportedVersion) as info:
        apr.load(_with_header(data, major=2))
    assert info.value.found == "2.0"
    with pytest.warns(fmt.NewerFormatWarning, match="1.1 is newer"):
        assert_same(apr.load(_with_header(data, minor=1)), small_model[0], small_model[1])
    with pytest.raises(UnsupportedModelError, match="compression"):
        apr.load(_with_header(data, compression=9))
    with pytest.raises(UnsupportedModelError, match="unknown bits"):
        apr.load(_with_header(data, flags=0x80))
    with pytest.raises(UnsupportedModelError, match="STREAMING"):
        apr.load(_with_header(data, flags=fmt.Flag.STREAMING))
    with pytest.raises(ModelFormatError, match="reserved"):
        apr.load(_with_header(data, reserved=b"\1" + bytes(8)))
    with pytest.raises(ModelFormatError, match="limit"):
        apr.load(_with_header(data, uncompressed_size=fmt.MAX_PAYLOAD + 1))
    with pytest.raises(TruncatedFile):
        apr.load(_with_header(data, payload_size=0xFFFFFF))
    with pytest.raises(ModelFormatError, match="magic"):
        apr.load(b"APRX" + data[4:])


def test_decompression_bomb_is_refused(small_model):
    """A small zstd payload that expands beyond the declared size is refused before it is kept."""
    import zstandard

    model = small_model[0]
    plain = apr.dumps(model)
    header = fmt.parse_header(plain[:32], "t", len(plain))
    meta = plain[32:32 + header.metadata_size]
    bomb = zstandard.ZstdCompressor(level=19).compress(bytes(50_000_000))
    for declared in (header.uncompressed_size, 50_000_000 - 1):
        head = fmt.Header(1, 0, 5, len(meta), len(bomb), declared, fmt.Compression.ZSTD, fmt.Flag(0), 0).pack()
        with pytest.raises(ModelFormatError, match="declares"):
            apr.load(fix_crc(head + meta + bomb + b"\0\0\0\0"))
    # a frame without its content size is refused: the library would size the output itself
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(binary.dumps(model))
    head = fmt.Header(1, 0, 5, len(meta), len(unsized), header.uncompressed_size, fmt.Compression.ZSTD,
                      fmt.Flag(0), 0).pack()
    with pytest.raises(ModelFormatError, match="zstd frame declares"):
        apr.load(fix_crc(head + meta + unsized + b"\0\0\0\0"))


def test_uncompressed_encrypted_payload_must_have_the_declared_size(small_model):
    """Sizes are checked after decryption too: a file encrypted with a known key but a wrong size is refused."""
    from gbinfer.apr import crypto

    payload = binary.dumps(small_model[0])
    meta = msgpack.packb({"created_at": "0", "aprender_version": "x", "encryption": "x25519"})
    head = fmt.Header(1, 0, 5, len(meta), len(payload) + crypto.RECIPIENT_OVERHEAD, len(payload) + 1,
                      fmt.Compression.NONE, fmt.Flag.ENCRYPTED, 0).pack() + meta
    body = head + crypto.encrypt_recipient(payload, BUYER.public_key(), head)
    with pytest.raises(ModelFormatError, match="once decompressed"):
        apr.load(fix_crc(body + b"\0\0\0\0"), recipient_key=BUYER)


def test_metadata_must_be_a_string_keyed_map(small_model):
    data = apr.dumps(small_model[0])
    header = fmt.parse_header(data[:32], "t", len(data))
    for meta in (msgpack.packb([1, 2]), msgpack.packb({1: "a"}), b"\xc1"):
        head = fmt.Header(1, 0, 5, len(meta), header.payload_size, header.uncompressed_size, header.compression,
                          header.flags, 0).pack()
        with pytest.raises(ModelFormatError, match="metadata"):
            apr.load(fix_crc(head + meta + data[32 + header.metadata_size:]))


def test_inspect_never_reads_the_payload(small_model, tmp_path):
    data = bytearray(apr.dumps(small_model[0], compression="zstd", signing_key=SELLER, password=PASSWORD,
                               metadata={"model_name": "m"}))
    header = fmt.parse_header(bytes(data[:32]), "t", len(data))
    start = 32 + header.metadata_size
    data[start:start + header.payload_size] = b"\xff" * header.payload_size  # garbage payload
    path = tmp_path / "m.apr"
    path.write_bytes(data)
    info = apr.inspect(path)
    assert info["metadata"]["model_name"] == "m" and info["encryption"] == "password"
    assert info["flags"] == ["ENCRYPTED", "SIGNED"]
    assert info["signer_fingerprint"] and len(info["signer_public_key"]) == 64
    with pytest.raises(ChecksumMismatch):
        apr.load(path, trusted_key=SELLER.public_key(), password=PASSWORD)


def test_argument_errors(small_model, tmp_path):
    model = small_model[0]
    with pytest.raises(DataError, match="Model"):
        apr.dumps(object())
    with pytest.raises(DataError, match="path"):
        apr.save(model, 3)
    with pytest.raises(DataError, match="path or bytes"):
        apr.load(3)
    with pytest.raises(DataError, match="compression"):
        apr.dumps(model, compression="gzip")
    with pytest.raises(DataError, match="not both"):
        apr.dumps(model, password="a", recipient=BUYER.public_key())
    with pytest.raises(DataError, match="quality_score"):
        apr.dumps(model, quality_score=256)
    with pytest.raises(DataError, match="written by gbinfer"):
        apr.dumps(model, metadata={"aprender_version": "x"})
    with pytest.raises(DataError, match="created_at"):
        apr.dumps(model, metadata={"created_at": 5})
    with pytest.raises(DataError, match="license"):
        apr.dumps(model, metadata={"license": {"price": 1}})
    with pytest.raises(DataError, match="MessagePack"):
        apr.dumps(model, metadata={"x": object()})
    with pytest.raises(DataError, match="password"):
        apr.dumps(model, password="")
    with pytest.raises(DataError, match="ed25519"):
        apr.dumps(model, signing_key=BUYER)
    with pytest.raises(DataError, match="32 bytes"):
        apr.dumps(model, signing_key=b"short")
    with pytest.raises(DataError, match="cannot read"):
        apr.dumps(model, signing_key=tmp_path / "absent.pem")
    with pytest.raises(DataError, match="public key"):
        apr.load(apr.dumps(model, recipient=BUYER.public_key()),
                 recipient_key=(GOLDEN / "test-key-buyer.x25519.pub.pem").read_bytes())


def test_keys_as_raw_bytes_pem_bytes_and_pem_files(small_model, tmp_path):
    from cryptography.hazmat.primitives import serialization as ser

    model, X = small_model
    raw_seed = SELLER.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    pem_public = SELLER.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(pem_public)
    data = apr.dumps(model, signing_key=raw_seed, recipient=BUYER.public_key().public_bytes_raw())
    for trusted in (SELLER.public_key(), SELLER.public_key().public_bytes_raw(), pem_public,
                    str(tmp_path / "pub.pem"), tmp_path / "pub.pem"):
        assert_same(apr.load(data, trusted_key=trusted, recipient_key=BUYER.private_bytes_raw()), model, X)


def test_keygen_writes_private_files_and_never_overwrites(tmp_path, small_model):
    model, X = small_model
    paths = apr.keygen(tmp_path / "seller")
    for path in paths.values():
        assert Path(path).read_bytes().startswith(b"-----BEGIN")
        if os.name == "posix":
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    data = apr.dumps(model, signing_key=paths["signing"], recipient=paths["encrypt"])
    assert_same(apr.load(data, trusted_key=paths["verify"], recipient_key=paths["decrypt"]), model, X)
    before = Path(paths["signing"]).read_bytes()
    with pytest.raises(DataError, match="never overwritten"):
        apr.keygen(tmp_path / "seller")
    assert Path(paths["signing"]).read_bytes() == before


def test_extras_are_imported_only_when_used():
    import subprocess

    code = ("import sys, gbinfer, gbinfer.cli; gbinfer.load(sys.argv[1]); "
            "print(sorted(m for m in ('zstandard', 'lz4', 'cryptography', 'argon2') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code, str(GOLDEN / "none.apr")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_missing_extra_names_it(small_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now raises ImportError
    with pytest.raises(MissingDependency, match=r"gbinfer\[apr\]"):
        apr.dumps(small_model[0], compression="zstd")
    apr.load(apr.dumps(small_model[0]))  # an uncompressed plain file needs no extra


# --- golden files ----------------------------------------------------------------------------

GOLDEN_KEYS = {
    "none": {}, "zstd": {}, "zstd-max": {}, "lz4": {},
    "signed": {"trusted_key": GOLDEN / "test-key-seller.pub.pem"},
    "password": {"password": (GOLDEN / "test-password.txt").read_text().strip()},
    "recipient": {"recipient_key": GOLDEN / "test-key-buyer.x25519.pem"},
    "signed-recipient": {"trusted_key": GOLDEN / "test-key-seller.pub.pem",
                         "recipient_key": GOLDEN / "test-key-buyer.x25519.pem"},
}


@pytest.mark.parametrize("name", sorted(GOLDEN_KEYS))
def test_golden_files_keep_loading(golden_model, name):
    _, expected = golden_model
    path = GOLDEN / f"{name}.apr"
    assert_same(apr.load(path, **GOLDEN_KEYS[name]), expected)
    info = apr.inspect(path)
    assert info["metadata"]["model_name"] == "golden" and info["metadata"]["created_at"] == "1764000000"
    if not GOLDEN_KEYS[name]:
        assert_same(gbinfer.load(path), expected)


def test_golden_file_flags():
    assert apr.inspect(GOLDEN / "signed-recipient.apr")["flags"] == ["ENCRYPTED", "SIGNED", "LICENSED"]
    assert apr.inspect(GOLDEN / "signed.apr")["quality_score"] == 90
    assert [apr.inspect(GOLDEN / f"{n}.apr")["compression"] for n in ("none", "zstd", "zstd-max", "lz4")] == [
        "none", "zstd", "zstd-max", "lz4"]


# --- fuzz ------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::gbinfer.apr.format.NewerFormatWarning")
@pytest.mark.parametrize("name", ["none", "zstd", "lz4", "signed", "recipient"])
def test_fuzz_byte_mutations_of_golden_files(golden_model, name):
    """Random byte edits (with and without the CRC32 recomputed): a typed error or the exact predictions."""
    _, expected = golden_model
    data = (GOLDEN / f"{name}.apr").read_bytes()
    kw = {k: (v if isinstance(v, str) else Path(v).read_bytes()) for k, v in GOLDEN_KEYS[name].items()}
    rng = np.random.default_rng(sum(map(ord, name)))
    loaded = 0
    for trial in range(300):
        buf = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            op = rng.integers(0, 3)
            at = int(rng.integers(0, len(buf)))
            if op == 0:
                buf[at] = int(rng.integers(0, 256))
            elif op == 1:
                del buf[at:at + int(rng.integers(1, 16))]
            else:
                buf[at:at] = rng.bytes(int(rng.integers(1, 16)))
        candidate = fix_crc(buf) if trial % 2 else bytes(buf)
        try:
            model = apr.load(candidate, **kw)
        except GbinferError:
            continue
        assert_same(model, expected)
        loaded += 1
    assert loaded < 300  # the mutations did change something


# --- command line ----------------------------------------------------------------------------

def test_cli_keygen_convert_inspect_verify_decrypt(tmp_path, capsys, monkeypatch, golden_model):
    from gbinfer.cli import main

    _, expected = golden_model
    monkeypatch.chdir(tmp_path)
    src = str(SCHEMA / "gbtree_binary.xgbrs")
    assert main(["keygen", "--out", "seller"]) == 0
    assert main(["keygen", "--out", "buyer"]) == 0
    assert main(["keygen", "--out", "seller"]) == 2  # never overwritten
    (tmp_path / "meta.json").write_text('{"model_name": "churn", "metrics": {"auc": 0.91}}')
    (tmp_path / "pw.txt").write_text("s3cret\n")
    assert main(["convert", src, "m.apr", "--compress", "zstd", "--sign", "seller.pem", "--metadata",
                 "meta.json"]) == 0
    capsys.readouterr()
    assert main(["inspect", "m.apr"]) == 0
    out = capsys.readouterr().out
    assert "compression zstd" in out and "SIGNED" in out and "churn" in out and "not opened" in out
    assert main(["verify", "m.apr", "--key", "seller.pub.pem"]) == 0
    assert main(["verify", "m.apr", "--key", "buyer.pub.pem"]) == 2
    assert "not by the trusted key" in capsys.readouterr().err
    assert main(["convert", "m.apr", "x.xgbrs"]) == 2
    assert "--trusted-key" in capsys.readouterr().err
    assert main(["convert", "m.apr", "secret.apr", "--trusted-key", "seller.pub.pem", "--password-file", "pw.txt",
                 "--compress", "lz4"]) == 0
    assert apr.inspect(tmp_path / "secret.apr")["metadata"]["model_name"] == "churn"  # carried over
    assert main(["convert", "secret.apr", "plain.xgbrs", "--password-file", "pw.txt"]) == 0
    assert_same(gbinfer.load(tmp_path / "plain.xgbrs"), expected)
    assert main(["convert", "plain.xgbrs", "buyer.apr", "--recipient", "buyer.x25519.pub.pem"]) == 0
    assert main(["convert", "buyer.apr", "p.json", "--recipient-key", "seller.x25519.pem"]) == 2
    assert "cannot decrypt" in capsys.readouterr().err
    assert main(["convert", "buyer.apr", "p.json", "--recipient-key", "buyer.x25519.pem"]) == 0
    assert_same(gbinfer.load(tmp_path / "p.json"), expected)
    assert main(["convert", "plain.xgbrs", "plain.apr"]) == 0
    capsys.readouterr()
    assert main(["inspect", "plain.apr"]) == 0
    assert "objective:" in capsys.readouterr().out  # a plain file's model is described too
    assert main(["convert", "plain.xgbrs", "x.json", "--compress", "zstd"]) == 2


@pytest.mark.filterwarnings("ignore::gbinfer.apr.format.NewerFormatWarning")
def test_fuzz_header_fields(golden_model):
    """Any values in the header's fields (CRC32 made right): a typed error or the exact predictions."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    _, expected = golden_model
    files = {name: (GOLDEN / f"{name}.apr").read_bytes() for name in ("none", "zstd", "lz4", "signed")}
    u32 = st.integers(0, 2**32 - 1) | st.integers(0, 6000)
    fields = st.fixed_dictionaries({"major": st.integers(0, 255) | st.just(1), "minor": st.integers(0, 255),
                                    "model_type": st.integers(0, 0xFFFF) | st.just(5), "metadata_size": u32,
                                    "payload_size": u32, "uncompressed_size": u32,
                                    "compression": st.integers(0, 255) | st.integers(0, 3),
                                    "flags": st.integers(0, 255), "quality_score": st.integers(0, 255)})

    @settings(max_examples=100, deadline=None)
    @given(st.sampled_from(sorted(files)), fields)
    def check(name, values):
        data = files[name]
        raw = struct.pack("<4sBBHIIIBBB9s", b"APRN", values["major"], values["minor"], values["model_type"],
                          values["metadata_size"], values["payload_size"], values["uncompressed_size"],
                          values["compression"], values["flags"], values["quality_score"], bytes(9))
        try:
            model = apr.load(fix_crc(raw + data[32:]),
                             trusted_key=(GOLDEN / "test-key-seller.pub.pem") if name == "signed" else None)
        except GbinferError:
            return
        assert_same(model, expected)

    check()
