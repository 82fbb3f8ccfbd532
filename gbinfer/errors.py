"""One exception family for everything gbinfer refuses.

Callers catch ``GbinferError`` to handle any refusal; the subclasses let them tell a
malformed file (``ModelFormatError``) from a caller mistake (``DataError``, which is
also a ``ValueError``) without parsing messages. Every message names where the
problem is (file, field) and what was expected, so it can be fixed without a debugger.
"""

from __future__ import annotations


class GbinferError(Exception):
    """Base of every error gbinfer raises on purpose."""


class ModelFormatError(GbinferError, ValueError):
    """A model file or model structure is malformed: truncated, wrong types, bad indices."""

    def __init__(self, source: str | None, field: str | None, problem: str):
        self.source = source or "<bytes>"
        self.field = field
        self.problem = problem
        where = self.source if not field else f"{self.source}: field '{field}'"
        super().__init__(f"{where}: {problem}")


class UnsupportedModelError(ModelFormatError):
    """A well-formed model that uses something gbinfer does not know (objective, booster, ...)."""


class UnsupportedVersion(ModelFormatError):
    """A file written by a newer format version than this gbinfer reads."""

    def __init__(self, source: str | None, field: str | None, found, supported):
        self.found = found
        self.supported = supported
        super().__init__(source, field, f"version {found} is not supported (this gbinfer reads {supported})")


class ChecksumError(ModelFormatError):
    """Stored and computed checksums differ: the file was damaged or altered."""

    def __init__(self, source: str | None, field: str | None, expected: int, actual: int):
        self.expected = expected
        self.actual = actual
        super().__init__(source, field, f"checksum mismatch: stored 0x{expected:08x}, computed 0x{actual:08x}")


class DataError(GbinferError, ValueError):
    """Input data does not fit the model (shape, dtype, feature names) or an argument is invalid."""


class SaveError(GbinferError, OSError):
    """A file could not be written: the directory is missing or read-only, the path is a
    directory, the disk is full. Also an ``OSError`` carrying the cause's ``errno``, so code that
    already handles ``OSError`` keeps working; the cause itself is ``__cause__``."""

    def __init__(self, path, reason: str, cause: OSError | None = None):
        super().__init__(f"cannot write {str(path)!r}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.filename = self.path
        if cause is not None:
            self.errno, self.strerror = cause.errno, cause.strerror

    def __str__(self) -> str:  # OSError's would print "[Errno n] None" once errno is set
        return self.args[0]


# --- the .apr container (gbinfer.apr) ---------------------------------------------------------

class ChecksumMismatch(ChecksumError):
    """The CRC32 trailer of an ``.apr`` file does not match its bytes (the container's own check;
    ``ChecksumError`` alone is raised by the ``.xgbrs`` payload inside, so catching the base
    catches both)."""


class TruncatedFile(ModelFormatError):
    """The file ends before the sizes its header declares."""


class ModelTypeMismatch(UnsupportedModelError):
    """The container holds another kind of model than the reader expects (e.g. an aprender linear model)."""

    def __init__(self, source: str | None, field: str | None, expected, found):
        self.expected = expected
        self.found = found
        super().__init__(source, field, f"model type 0x{found:04x} is not the expected 0x{expected:04x} "
                                        "(GradientBoosting)")


class SignatureInvalid(ModelFormatError):
    """A signed file's Ed25519 signature does not verify (altered after signing), or a trusted key
    was given for a file that carries no signature."""


class UntrustedSigner(ModelFormatError):
    """The file is signed by a key the caller did not name as trusted (or the caller named none)."""


class DecryptionFailed(ModelFormatError):
    """An encrypted payload could not be opened: wrong password or key, or altered bytes. One
    message for every cause, so a failure tells an attacker nothing about which it was."""


class KeyRequired(DataError):
    """The file is encrypted or signed and the call gave no key for it."""


class MissingDependency(GbinferError, ImportError):
    """An optional dependency a feature needs is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str, feature: str):
        self.module = module
        self.extra = extra
        super().__init__(f"{feature} needs the '{module}' package: pip install 'gbinfer[{extra}]'")
