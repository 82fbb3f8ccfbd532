"""gbinfer's own model formats: the stable schema (``schema``) in two containers, ``.xgbrs``
(``binary``) and native JSON (``json``). ``gbinfer.save`` / ``gbinfer.load`` pick between them."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from ..errors import GbinferError, SaveError
from .schema import SCHEMA_VERSION, NewerSchemaWarning

__all__ = ["SCHEMA_VERSION", "NewerSchemaWarning", "atomic_write", "archive_info"]


def atomic_write(path, write) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    A crash or an exception at any point leaves either the old file or the complete new one under
    ``path``, never a partial one; the temporary file is removed on failure. The result is what
    ``open(path, "wb")`` would give: a new file gets the umask's mode, a replaced one keeps its
    mode (and owner, where the caller may set it), and a symlink stays a link to the file written.
    Every ``OSError`` becomes a ``SaveError`` naming ``path`` and the reason.
    """
    shown = os.fspath(path)
    target = Path(os.path.realpath(shown) if os.path.islink(shown) else shown)
    directory = target.parent
    old = _replaced(target, shown)
    tmp = directory / f".{target.name[:200]}.{secrets.token_hex(8)}.tmp"  # within NAME_MAX, like the target
    try:
        # O_EXCL: never reuse a file; mode 0o666 lets the umask decide, as open(path, "wb") would
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise _save_error(shown, directory, exc) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if old is not None:
                _keep_owner_and_mode(fh.fileno(), old)
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, GbinferError):
            raise _save_error(shown, directory, exc) from exc
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


def _replaced(target: Path, shown: str) -> os.stat_result | None:
    """The status of the file a save replaces (None for a new file); refuses what a rename must
    not replace: a directory, a device, FIFO or socket (``/dev/null`` stays a device), or a file
    this user may not write."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _save_error(shown, target.parent, exc) from exc
    if stat.S_ISDIR(st.st_mode):
        raise SaveError(shown, "it is a directory; give a file name inside it")
    if not stat.S_ISREG(st.st_mode):
        raise SaveError(shown, "it is not a regular file (a device, FIFO or socket); a save replaces the "
                               "file at the path, so give a regular file's path")
    if not os.access(target, os.W_OK):  # open(path, "wb") would refuse it; a rename would not ask
        denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), shown)
        raise SaveError(shown, "permission denied: the file is read-only for this user", denied) from denied
    return st


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    if hasattr(os, "fchown") and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            pass  # only root may give a file away: the new file is the caller's, as a copy would be
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(old.st_mode))


_REASONS = {
    errno.ENOENT: "the directory {dir!r} does not exist",
    errno.ENOTDIR: "a part of {dir!r} is not a directory",
    errno.EACCES: "permission denied: the directory {dir!r} is not writable by this user",
    errno.EPERM: "permission denied: the directory {dir!r} is not writable by this user",
    errno.EROFS: "{dir!r} is on a read-only file system",
    errno.ENOSPC: "no space left on the device (the disk is full)",
    errno.EISDIR: "it is a directory; give a file name inside it",
    errno.ENAMETOOLONG: "the file name is too long",
    **({errno.EDQUOT: "the disk quota is exceeded"} if hasattr(errno, "EDQUOT") else {}),
}


def _save_error(shown: str, directory: Path, exc: OSError) -> SaveError:
    reason = _REASONS.get(exc.errno)
    reason = reason.format(dir=str(directory)) if reason else (exc.strerror or str(exc))
    return SaveError(shown, reason, exc)


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
