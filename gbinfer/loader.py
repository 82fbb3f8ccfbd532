"""``gbinfer.load``: one entry point that recognises every supported format by its bytes."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelFormatError, UnsupportedModelError
from .model import Model

_FORMATS = ("xgboost",)


def load(path_or_bytes, format: str | None = None) -> Model:
    """Load a model from a path or from bytes.

    ``format=None`` recognises the format from the content: XGBoost JSON, UBJSON or legacy
    binary. Pass ``format`` to skip recognition.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, source = bytes(path_or_bytes), None
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        source = str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise ModelFormatError(source, None, f"cannot read the file: {exc.strerror}") from None
    else:
        raise TypeError(f"load() takes a path or bytes, got {type(path_or_bytes).__name__}")
    if not data:
        raise ModelFormatError(source, None, "the file is empty")
    fmt = format or sniff(data)
    if fmt == "xgboost":
        from .compat import xgboost_json

        return xgboost_json.loads(data, source)
    raise UnsupportedModelError(source, None, f"unknown format {fmt!r}; known: {', '.join(_FORMATS)}")


def sniff(data: bytes) -> str:
    """The format name for a model's bytes."""
    return "xgboost"
