"""``gbinfer.load``: one entry point that recognises every supported format by its bytes."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ModelFormatError, UnsupportedModelError
from .model import Model

_FORMATS = ("xgboost", "lightgbm", "xgbrs", "native_json", "apr")


def load(path_or_bytes, format: str | None = None) -> Model:
    """Load a model from a path or from bytes.

    ``format=None`` recognises the format from the content: XGBoost JSON, UBJSON or legacy
    binary, gbinfer's ``.xgbrs`` or native JSON. Pass ``format`` to skip recognition.
    """
    if isinstance(path_or_bytes, (str, os.PathLike)) and format in (None, "xgbrs") and _is_xgbrs(path_or_bytes):
        from .serialization import binary

        return binary.load(path_or_bytes)  # memory-mapped: the arrays are not read into memory here
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, source = bytes(path_or_bytes), None
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        source = str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise ModelFormatError(source, None, f"cannot read the file: {exc.strerror}") from None
    elif type(path_or_bytes).__module__.split(".")[0] == "lightgbm":
        from .compat import lightgbm

        return lightgbm.from_object(path_or_bytes)
    else:
        raise TypeError(f"load() takes a path or bytes, got {type(path_or_bytes).__name__}")
    if not data:
        raise ModelFormatError(source, None, "the file is empty")
    fmt = format or sniff(data)
    if fmt == "xgboost":
        from .compat import xgboost_json

        return xgboost_json.loads(data, source)
    if fmt == "lightgbm":
        from .compat import lightgbm

        return lightgbm.loads(data, source)
    if fmt == "lightgbm_json":
        raise UnsupportedModelError(source, None, "this is a LightGBM JSON dump (Booster.dump_model), which "
                                                  "LightGBM itself cannot load; save the model with "
                                                  "Booster.save_model (text format) instead")
    if fmt == "xgbrs":
        from .serialization import binary

        return binary.loads(data, source)
    if fmt == "apr":
        from . import apr

        return apr.loads(data, source)
    if fmt == "native_json":
        from .serialization import json

        return json.loads(data, source)
    raise UnsupportedModelError(source, None, f"unknown format {fmt!r}; known: {', '.join(_FORMATS)}")


def sniff(data: bytes) -> str:
    """The format name for a model's bytes."""
    if bytes(data[:5]) == b"XGBRS":
        return "xgbrs"
    if bytes(data[:4]) == b"APRN":
        return "apr"
    if data[:5] in (b"tree\n", b"tree\r") or data.startswith(b"version=v"):
        return "lightgbm"
    if re.match(rb'\s*\{\s*"name"\s*:\s*"tree"', bytes(data[:64])):
        return "lightgbm_json"
    from .serialization.json import is_native_json

    if is_native_json(bytes(data[:256])):  # native JSON opens with the "gbinfer_schema" key
        return "native_json"
    return "xgboost"


def _is_xgbrs(path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(5) == b"XGBRS"
    except OSError:
        return False  # load() reports the read error
