"""``gbinfer.save``: write a model in one of gbinfer's own formats, chosen by the file's suffix."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from .errors import DataError, UnsupportedModelError
from .model import Model

_BY_SUFFIX = {".xgbrs": "xgbrs", ".json": "json", ".apr": "apr"}
FORMATS = ("xgbrs", "json", "apr")


def save(model, path, format: str | None = None, **kw) -> None:
    """Save ``model`` to ``path``: ``.xgbrs`` (compact binary, memory-mapped on load) or ``.json``
    (native JSON, the same schema as text). ``format`` overrides the suffix.

    ``metadata={"name": ..., "description": ..., "hyperparameters": {...}, "metrics": {...},
    "custom": {...}}`` is stored with the model (its entries replace those the model already
    carries) and comes back as ``model.meta.user_metadata``. The write is atomic: a temporary file
    in the same directory, fsynced, then renamed over ``path``; a file replaced keeps its mode, and
    a symlink stays a link to the file written. A write that fails raises ``SaveError`` (also an
    ``OSError``) and leaves the old file, if any, as it was.
    """
    if not isinstance(model, Model):
        raise DataError(f"save() takes a gbinfer Model (from gbinfer.load), got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"save() takes a path (str or os.PathLike), got {type(path).__name__}")
    if not os.fspath(path):
        raise DataError("save() got an empty path; give the file to write, e.g. 'model.xgbrs'")
    if format is not None and format not in FORMATS:
        raise DataError(f"save(format={format!r}): expected one of {', '.join(FORMATS)}, or None to go by the "
                        "suffix")
    fmt = format or _BY_SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        raise UnsupportedModelError(str(path), None, f"cannot tell the format from the suffix "
                                                     f"{Path(path).suffix!r}; use .xgbrs, .json or .apr, or "
                                                     f"pass format= one of {', '.join(FORMATS)}")
    if fmt == "xgbrs":
        from .serialization import binary as writer
    elif fmt == "json":
        from .serialization import json as writer
    else:
        from . import apr as writer
    _check_options(writer.save, fmt, model, path, kw)
    writer.save(model, path, **kw)


def _check_options(save, fmt: str, model, path, kw: dict) -> None:
    """Refuse options the format's writer does not take, naming those it does (``**kw`` would
    otherwise end in Python's own TypeError), and metadata that is not a dict."""
    try:
        inspect.signature(save).bind(model, path, **kw)
    except TypeError:
        known = [p for p in inspect.signature(save).parameters if p not in ("model", "path")]
        raise DataError(f"save() to {fmt}: unknown option(s) {', '.join(sorted(set(kw) - set(known)))}; "
                        f"this format takes {', '.join(known)}") from None
    metadata = kw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise DataError(f"save(metadata=...) must be a dict, got {type(metadata).__name__}")
