"""gbinfer's own model formats: the stable schema (``schema``) in two containers, ``.xgbrs``
(``binary``) and native JSON (``json``). ``gbinfer.save`` / ``gbinfer.load`` pick between them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .schema import SCHEMA_VERSION, NewerSchemaWarning

__all__ = ["SCHEMA_VERSION", "NewerSchemaWarning", "atomic_write", "archive_info"]


def atomic_write(path, write) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    A crash or an exception at any point leaves either the old file or the complete new one under
    ``path``, never a partial one; the temporary file is removed on failure.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never reuse a file; mode 0o666 lets the umask decide, as open(path, "wb") would
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (best effort: not every platform can open a directory)
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def archive_info(path) -> dict | None:
    """Container, versions and provenance of a ``.xgbrs`` or native JSON file; ``None`` for other formats."""
    from . import binary, json

    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(binary.MAGIC):
        return binary.read_info(path)
    if json.is_native_json(head):
        return json.read_info(path)
    return None
