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
