"""The ``gbinfer`` command's ``.apr`` parts: ``keygen``, ``verify``, and the ``.apr`` side of
``convert`` and ``inspect`` (keys, compression, signing, encryption options).

``gbinfer.cli`` calls ``add_commands`` once while building its parser, runs ``args.apr_command``
when a command set it, and hands ``convert`` / ``inspect`` to ``convert`` / ``inspect`` here when
``handles(args)`` says an ``.apr`` file or option is involved.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError

_DST_OPTIONS = ("compress", "sign", "recipient", "metadata")  # options that only an .apr output takes


def add_commands(sub, *, convert, inspect) -> None:
    """Add ``keygen`` and ``verify`` to ``sub``, and the ``.apr`` options to ``convert`` and ``inspect``."""
    k = sub.add_parser("keygen", help="write a new Ed25519 signing key pair and X25519 encryption key pair (PEM, "
                                      "mode 0600)")
    k.add_argument("--out", required=True, metavar="PREFIX",
                   help="writes PREFIX.pem (sign), PREFIX.pub.pem (verify), PREFIX.x25519.pem (decrypt), "
                        "PREFIX.x25519.pub.pem (encrypt); existing files are never overwritten")
    k.set_defaults(apr_command=keygen)

    v = sub.add_parser("verify", help="check an .apr file's CRC32 and its signature by a key you trust")
    v.add_argument("model")
    v.add_argument("--key", required=True, help="the signer's Ed25519 public key you trust (PEM file)")
    v.set_defaults(apr_command=verify)

    a = convert.add_argument_group(".apr output", "options of an .apr destination")
    a.add_argument("--compress", choices=("zstd", "zstd-max", "lz4"), help="payload compression (default none)")
    a.add_argument("--sign", metavar="KEY.pem", help="sign with this Ed25519 private key")
    a.add_argument("--recipient", metavar="KEY.pub.pem", help="encrypt for the holder of this X25519 key's secret")
    a.add_argument("--metadata", metavar="META.json", help="a JSON object stored as the file's metadata (for "
                                                           ".xgbrs/.json: name, description, hyperparameters, "
                                                           "metrics, custom)")
    for parser in (convert, inspect):
        _add_source_keys(parser)


def _add_source_keys(parser) -> None:
    g = parser.add_argument_group(".apr keys", "to open a signed or encrypted .apr file")
    g.add_argument("--trusted-key", metavar="KEY.pub.pem", help="the signer's Ed25519 public key you trust")
    g.add_argument("--recipient-key", metavar="KEY.pem", help="your X25519 private key (recipient encryption)")
    g.add_argument("--password-file", metavar="FILE",
                   help="the password, first line of FILE (opens a password-encrypted source; with an .apr "
                        "destination, also encrypts it)")


def handles(args) -> bool:
    """Whether ``convert`` / ``inspect`` involves an .apr file or option (then this module runs it)."""
    paths = [getattr(args, name, None) for name in ("src", "dst", "model")]
    options = ("trusted_key", "recipient_key", "password_file") + _DST_OPTIONS
    return any(p and _is_apr(p) for p in paths) or any(getattr(args, o, None) for o in options)


def _is_apr(path) -> bool:
    if str(path).lower().endswith(".apr"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"APRN"
    except OSError:
        return False  # the loader reports it


def _password(args):
    if not args.password_file:
        return None
    try:
        text = Path(args.password_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--password-file {args.password_file}: cannot read: {getattr(exc, 'strerror', exc)}") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise DataError(f"--password-file {args.password_file}: the first line is empty")
    return password


def _load(path, args, password):
    """The model at ``path``: through ``apr.load`` with the given keys when it is an .apr file."""
    from .. import apr, load

    if not _is_apr(path):
        return load(path)
    info = apr.inspect(path)
    kw = {"trusted_key": args.trusted_key}
    if "SIGNED" in info["flags"] and not args.trusted_key:
        raise DataError(f"{path} is signed by key {info['signer_fingerprint'][:16]}...; pass --trusted-key with "
                        "the signer's public key you trust")
    if "ENCRYPTED" in info["flags"]:
        if info["encryption"] == "x25519" or (args.recipient_key and not password):
            kw["recipient_key"] = args.recipient_key
        else:
            kw["password"] = password
        if not (kw.get("recipient_key") or kw.get("password")):
            option = "--recipient-key" if info["encryption"] == "x25519" else "--password-file"
            raise DataError(f"{path} is encrypted ({info['encryption']}); pass {option}")
    return apr.load(path, **{k: v for k, v in kw.items() if v is not None})


def convert(args) -> int:
    import orjson

    from .. import apr, save

    password = _password(args)
    metadata = {}
    if args.metadata:
        try:
            metadata = orjson.loads(Path(args.metadata).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise DataError(f"--metadata {args.metadata}: cannot read a JSON object: {exc}") from None
        if not isinstance(metadata, dict):
            raise DataError(f"--metadata {args.metadata}: expected a JSON object, got {type(metadata).__name__}")
    model = _load(args.src, args, password)
    to_apr = str(args.dst).lower().endswith(".apr") and args.format is None
    if to_apr:
        from . import _WRITTEN_KEYS

        kept = {}  # an .apr source's own metadata carries over (a new file gets a new created_at)
        if _is_apr(args.src):
            kept = {k: v for k, v in apr.inspect(args.src)["metadata"].items()
                    if k not in _WRITTEN_KEYS and k != "created_at"}
        metadata = {**kept, **{k: v for k, v in (("model_name", args.name), ("description", args.description)) if v},
                    **metadata}
        apr.save(model, args.dst, compression=args.compress, metadata=metadata, signing_key=args.sign,
                 password=password, recipient=args.recipient)
    else:
        given = [f"--{o}" for o in ("compress", "sign", "recipient") if getattr(args, o)]
        if given:
            raise DataError(f"only an .apr destination takes {', '.join(given)}; {args.dst} is not one")
        metadata = {**metadata, **{k: v for k, v in (("name", args.name), ("description", args.description)) if v}}
        save(model, args.dst, format=args.format, metadata=metadata)
    print(f"wrote {args.dst}")
    return 0


def inspect(args) -> int:
    """The container (header, flags, metadata, signer) without opening the payload; the model too when
    the file needs no key, or the keys were given."""
    from .. import apr

    if not _is_apr(args.model):
        raise DataError(f"--trusted-key, --recipient-key and --password-file apply to .apr files, not {args.model}")
    info = apr.inspect(args.model)
    print(f"model:       {args.model}")
    print("\n".join(describe_container(info)))
    locked = {"SIGNED", "ENCRYPTED"} & set(info["flags"])
    if locked and not (args.trusted_key or args.recipient_key or args.password_file):
        print(f"payload:     not opened ({' and '.join(sorted(locked)).lower()}; pass its keys to describe the "
              "model)")
        return 0
    from ..cli import describe

    print("\n".join(describe(_load(args.model, args, _password(args)))))
    return 0


def describe_container(info: dict) -> list[str]:
    meta = dict(info["metadata"])
    lines = [
        f"container:   apr {info['format_version']}, model type 0x{info['model_type']:04x}, {info['file_size']} bytes",
        f"payload:     {info['payload_size']} bytes stored, {info['uncompressed_size']} uncompressed, "
        f"compression {info['compression']}",
        f"flags:       {', '.join(info['flags']) or 'none'}; quality score {info['quality_score']}",
        f"written by:  {meta.pop('aprender_version', '?')} at {meta.pop('created_at', '?')} (Unix seconds)",
    ]
    if info["encryption"]:
        lines.append(f"encryption:  {info['encryption']}" + (f", recipient id {meta['recipient_id']}"
                                                           if "recipient_id" in meta else ""))
    meta.pop("encryption", None)
    meta.pop("recipient_id", None)
    if info["signer_fingerprint"]:
        lines.append(f"signed by:   key SHA-256 {info['signer_fingerprint']} (not verified: use gbinfer verify)")
    for key, value in meta.items():
        lines.append(f"{key + ':':<13}{value!r:.200}" if not isinstance(value, str) else f"{key + ':':<13}{value}")
    lines.append(f"crc32:       {info['crc32']} (stored; checked by load and verify)")
    return lines


def verify(args) -> int:
    from .. import apr

    info = apr.verify(args.model, args.key)
    print(f"{args.model}: OK, CRC32 and signature by the trusted key {info['signer_fingerprint'][:16]}...")
    return 0


def keygen(args) -> int:
    from .. import apr

    for role, path in apr.keygen(args.out).items():
        print(f"wrote {path} ({role})")
    return 0
