"""``gbinfer.load``: one entry point that recognises every supported format by its bytes."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import DataError, ModelFormatError, UnsupportedModelError
from .model import Model

_FORMATS = ("xgboost", "lightgbm", "catboost", "xgbrs", "native_json", "apr")


def load(path_or_bytes, format: str | None = None) -> Model:
    """Load a model from a path, from bytes, or from a trained XGBoost or LightGBM object in memory.

    ``format=None`` recognises the format from the content: XGBoost JSON, UBJSON or legacy
    binary, LightGBM text, gbinfer's ``.xgbrs`` or native JSON. Pass ``format`` to skip recognition.

    An ``xgboost.Booster`` or a fitted XGBoost scikit-learn estimator (``XGBClassifier``,
    ``XGBRegressor``, ...) is read through its own serialised bytes (``save_raw("ubj")``), so the
    model is exactly the one a saved file would give. gbinfer never imports xgboost for this: the
    object is recognised by the module of its type.
    """
    if format is not None and format not in _FORMATS:
        raise DataError(f"load(format={format!r}): expected one of {', '.join(_FORMATS)}, or None to recognise "
                        "the format from the content")
    if _is_xgboost(path_or_bytes):
        if format not in (None, "xgboost"):
            raise DataError(f"load(format={format!r}) for an in-memory {type(path_or_bytes).__name__}: "
                            "it holds an XGBoost model; pass format=None or 'xgboost'")
        return _from_xgboost(path_or_bytes)
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
    elif type(path_or_bytes).__module__.split(".")[0] == "catboost":
        from .compat import catboost

        return catboost.from_object(path_or_bytes)
    elif type(path_or_bytes).__module__.split(".")[0] == "lightgbm":
        from .compat import lightgbm

        return lightgbm.from_object(path_or_bytes)
    else:
        raise DataError(f"load() takes a path, bytes, or an xgboost Booster or fitted XGBoost estimator (or a "
                        f"lightgbm Booster or fitted LGBMModel); got {_type_name(path_or_bytes)}")
    if not data:
        raise ModelFormatError(source, None, "the file is empty")
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the format inside
        from .compat.catboost import gunzip

        data = gunzip(data, source)
    fmt = format or sniff(data)
    if fmt == "catboost":
        from .compat import catboost

        return catboost.loads(data, source)
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


def _from_xgboost(obj) -> Model:
    """A model from an in-memory ``xgboost.Booster`` or fitted scikit-learn estimator."""
    kind = _type_name(obj)
    source = f"<in-memory {kind}>"
    if hasattr(obj, "get_booster"):
        fitted = getattr(obj, "__sklearn_is_fitted__", None)
        if fitted is not None and not fitted():
            raise DataError(f"load() got an unfitted {kind}: call fit() (or load_model()) on it first")
        try:
            obj = obj.get_booster()
        except (ValueError, AttributeError) as exc:  # scikit-learn's NotFittedError is both
            raise DataError(f"load() got an unfitted {kind}: call fit() (or load_model()) on it first "
                            f"({exc})") from None
    if not hasattr(obj, "save_raw"):
        raise DataError(f"load() takes an xgboost Booster or a fitted XGBoost estimator, got {kind}")
    try:
        raw = bytes(obj.save_raw(raw_format="ubj"))
    except Exception as exc:  # XGBoostError: e.g. a Booster() never trained, with no features
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"load() could not serialise the {kind} with XGBoost's save_raw('ubj'): {first}") from None
    from .compat import xgboost_json

    return xgboost_json.loads(raw, source)


def _is_xgboost(obj) -> bool:
    """An object of XGBoost's (or of a subclass of one), told without importing xgboost."""
    return any(c.__module__.startswith("xgboost") for c in type(obj).__mro__)


def _type_name(obj) -> str:
    kind = type(obj)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def sniff(data: bytes) -> str:
    """The format name for a model's bytes."""
    if bytes(data[:5]) == b"XGBRS":
        return "xgbrs"
    if bytes(data[:4]) == b"APRN":
        return "apr"
    if bytes(data[:4]) == b"CBM1":
        return "catboost"
    from .compat.catboost import is_catboost_json

    if is_catboost_json(bytes(data[:64])):
        return "catboost"
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
