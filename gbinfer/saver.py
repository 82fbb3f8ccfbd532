"""``gbinfer.save``: write a model in one of gbinfer's own formats, chosen by the file's suffix."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UnsupportedModelError

_BY_SUFFIX = {".xgbrs": "xgbrs", ".json": "json", ".apr": "apr"}
FORMATS = ("xgbrs", "json", "apr")


def save(model, path, format: str | None = None, **kw) -> None:
    """Save ``model`` to ``path``: ``.xgbrs`` (compact binary, memory-mapped on load) or ``.json``
    (native JSON, the same schema as text). ``format`` overrides the suffix.

    ``metadata={"name": ..., "description": ..., "hyperparameters": {...}, "metrics": {...},
    "custom": {...}}`` is stored with the model (its entries replace those the model already
    carries) and comes back as ``model.meta.user_metadata``. The write is atomic: a temporary file
    in the same directory, fsynced, then renamed over ``path``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save() takes a path, got {type(path).__name__}")
    fmt = format or _BY_SUFFIX.get(Path(path).suffix.lower())
    if fmt == "xgbrs":
        from .serialization import binary

        return binary.save(model, path, **kw)
    if fmt == "json":
        from .serialization import json

        return json.save(model, path, **kw)
    if fmt == "apr":
        from . import apr

        return apr.save(model, path, **kw)
    raise UnsupportedModelError(str(path), None, f"cannot tell the format from the suffix "
                                                 f"{Path(path).suffix!r}; use .xgbrs or .json, or pass "
                                                 f"format= one of {', '.join(FORMATS)}")
