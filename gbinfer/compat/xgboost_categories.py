"""XGBoost 3.1+'s category container (``cats``): the categories each feature was trained on.

Tree nodes hold category *codes*; ``cats`` says which value each code stood for at training time,
so that a DataFrame whose own codes differ (another category order, a subset, one row) can be
re-coded by value (``gbinfer.encode``). The container (``CatContainer::Save``, src/data/cat_container.cc)::

    {"enc": [one entry per feature, in column order],
     "feature_segments": int32[num_features + 1],   # CSR pointer: feature f owns [seg[f], seg[f+1])
     "sorted_idx": int32[total categories]}          # per-segment argsort, used by XGBoost to search

    string categories:  {"offsets": int32[n + 1], "values": int8[bytes]}  (Arrow-style, UTF-8)
    integer categories: {"type": 9..16, "values": [...]}   (i8 u8 i16 u16 i32 u32 i64 u64)
    numeric feature:    {"offsets": [], "values": []}

A model trained without a DataFrame stores three empty lists. Code ``k`` of a feature is its
``k``-th stored category. XGBoost up to 3.3 wrote non-ASCII pandas categories with character
offsets over UTF-8 bytes (and cut the bytes short), so such a table is kept as "not readable":
codes still predict, re-coding by value is refused for that feature rather than guessed.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from ..forest import check_integers
from ..model import TrainingCategories

# Value-kind ids of XGBoost's JSON (include/xgboost/json.h, Value::ValueKind)
_INT_TYPES = {9: "int8", 10: "uint8", 11: "int16", 12: "uint16", 13: "int32", 14: "uint32", 15: "int64",
              16: "uint64"}
_FLOAT_TYPES = {7: "float32", 8: "float64"}
_FIRST_EXACT_UTF8 = (3, 4)  # the first release that writes byte offsets for non-ASCII pandas categories


def find(gb: dict, gb_name: str):
    """The ``cats`` object of a tree booster's document (``None`` when it has none), and its path."""
    if gb_name == "dart":
        holder, path = gb.get("gbtree"), "learner/gradient_booster/gbtree/model"
    else:
        holder, path = gb, "learner/gradient_booster/model"
    model = holder.get("model") if isinstance(holder, dict) else None
    cats = model.get("cats") if isinstance(model, dict) else None
    return cats, f"{path}/cats"


def parse(cats, num_features: int, types, version: tuple, path: str, source) -> tuple | None:
    """Per feature its ``TrainingCategories`` or None; None for a model that stores none."""
    if cats is None:
        return None
    if not isinstance(cats, dict):
        raise ModelFormatError(source, path, f"expected an object, got {type(cats).__name__}")
    for key in ("enc", "feature_segments", "sorted_idx"):
        if key not in cats:
            raise ModelFormatError(source, f"{path}/{key}", "is missing")
    enc = cats["enc"]
    if not isinstance(enc, (list, tuple)):
        raise ModelFormatError(source, f"{path}/enc", f"expected an array, got {type(enc).__name__}")
    segments = _ints(cats["feature_segments"], np.int32, f"{path}/feature_segments", source)
    sorted_idx = _ints(cats["sorted_idx"], np.int32, f"{path}/sorted_idx", source)
    if not len(enc):
        if len(segments) or len(sorted_idx):
            raise ModelFormatError(source, f"{path}/feature_segments",
                                   "is not empty, but enc holds no feature")
        return None
    if len(enc) != num_features:
        raise ModelFormatError(source, f"{path}/enc", f"has {len(enc)} entries, expected num_feature = {num_features}")
    if len(segments) != num_features + 1 or segments[0] != 0 or np.any(segments[1:] < segments[:-1]) \
            or segments[-1] != len(sorted_idx):
        raise ModelFormatError(source, f"{path}/feature_segments",
                               f"must rise from 0 to the {len(sorted_idx)} entries of sorted_idx in "
                               f"num_feature + 1 = {num_features + 1} steps")
    exact_utf8 = tuple(version[:2]) >= _FIRST_EXACT_UTF8
    out = []
    for f, entry in enumerate(enc):
        where = f"{path}/enc/{f}"
        categories = _feature(entry, exact_utf8, where, source)
        if categories is not None and types is not None and types[f] != "c":
            raise ModelFormatError(source, where, f"holds categories, but feature_types/{f} is {types[f]!r}, "
                                                  "not 'c' (categorical)")
        count = 0 if categories is None else categories[1]
        lo, hi = int(segments[f]), int(segments[f + 1])
        if hi - lo != count:
            raise ModelFormatError(source, f"{path}/feature_segments/{f + 1}",
                                   f"gives feature {f} {hi - lo} categories, but enc/{f} holds {count}")
        if count and not np.array_equal(np.sort(sorted_idx[lo:hi]), np.arange(count)):
            raise ModelFormatError(source, f"{path}/sorted_idx",
                                   f"entries {lo}..{hi - 1} (feature {f}) are not a permutation of 0..{count - 1}")
        out.append(None if categories is None else categories[0])
    return tuple(out) if any(c is not None for c in out) else None


def _feature(entry, exact_utf8: bool, where: str, source):
    """(TrainingCategories, count) for one ``enc`` entry, or None for a numeric feature."""
    if not isinstance(entry, dict):
        raise ModelFormatError(source, where, f"expected an object, got {type(entry).__name__}")
    if "values" not in entry:
        raise ModelFormatError(source, f"{where}/values", "is missing")
    if "type" in entry:
        return _integer_categories(entry, where, source)
    if "offsets" not in entry:
        raise ModelFormatError(source, where, "expected 'offsets' (string categories) or 'type' (integer ones)")
    offsets = _ints(entry["offsets"], np.int32, f"{where}/offsets", source)
    raw = _ints(entry["values"], np.int16, f"{where}/values", source)
    if not len(offsets):
        if len(raw):
            raise ModelFormatError(source, f"{where}/values", "holds bytes but offsets is empty")
        return None
    if raw.size and (raw.min() < -128 or raw.max() > 255):
        raise ModelFormatError(source, f"{where}/values", "expected bytes (integers in [-128, 255])")
    data = raw.astype(np.uint8).tobytes()  # int8 as XGBoost writes them: the same bytes
    if offsets[0] != 0 or np.any(offsets[1:] < offsets[:-1]) or offsets[-1] != len(data):
        raise ModelFormatError(source, f"{where}/offsets",
                               f"must rise from 0 to the {len(data)} bytes of values")
    count = len(offsets) - 1
    if not exact_utf8 and any(b >= 0x80 for b in data):
        return TrainingCategories("str", None), count  # written with character offsets: not readable
    try:
        values = tuple(data[offsets[k]:offsets[k + 1]].decode("utf-8") for k in range(count))
    except UnicodeDecodeError as exc:
        raise ModelFormatError(source, f"{where}/values", f"a category is not valid UTF-8: {exc.reason}") from None
    _distinct(values, where, source)
    return TrainingCategories("str", values), count


def _integer_categories(entry, where: str, source):
    kind = entry["type"]
    if isinstance(kind, bool) or not isinstance(kind, (int, np.integer)):
        raise ModelFormatError(source, f"{where}/type", f"expected an integer type id, got {kind!r:.40}")
    kind = int(kind)
    if kind in _FLOAT_TYPES:
        raise ModelFormatError(source, f"{where}/type", f"{_FLOAT_TYPES[kind]} categories are refused, as XGBoost "
                                                        "refuses them")
    if kind not in _INT_TYPES:
        raise ModelFormatError(source, f"{where}/type", f"unknown category type {kind}; expected one of "
                                                        f"{sorted(_INT_TYPES)} (integers)")
    dtype = np.dtype(_INT_TYPES[kind])
    raw = entry["values"]
    if isinstance(raw, np.ndarray) and dtype.kind == "u" and raw.dtype.kind == "i" \
            and raw.dtype.itemsize == dtype.itemsize:
        raw = raw.view(dtype)  # UBJSON has no unsigned types: XGBoost 3.4+ writes the same bits signed
    values = _ints(raw, dtype, f"{where}/values", source)
    values = tuple(int(v) for v in values)
    _distinct(values, where, source)
    return TrainingCategories(dtype.name, values), len(values)


def _distinct(values: tuple, where: str, source) -> None:
    if len(set(values)) != len(values):
        seen = set()
        dup = next(v for v in values if v in seen or seen.add(v))
        raise ModelFormatError(source, f"{where}/values", f"category {dup!r:.60} is stored twice")


def _ints(value, dtype, path: str, source) -> np.ndarray:
    """A flat integer array, each value checked to fit ``dtype``."""
    if isinstance(value, np.ndarray):
        raw = value
    elif isinstance(value, (list, tuple)):
        if any(isinstance(v, bool) for v in value):
            raise ModelFormatError(source, path, f"expected integers of type {np.dtype(dtype).name}, got a boolean")
        try:
            raw = np.array(value) if len(value) else np.zeros(0, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            raise ModelFormatError(source, path, "expected a flat array of integers") from None
    else:
        raise ModelFormatError(source, path, f"expected an array, got {type(value).__name__}")
    if raw.ndim != 1:
        raise ModelFormatError(source, path, f"expected a flat array, got shape {raw.shape}")
    if raw.dtype.kind in "Ob":  # integers beyond 64 bits, mixed values, booleans
        raise ModelFormatError(source, path, f"expected integers of type {np.dtype(dtype).name}")
    check_integers(raw, dtype, path, source)
    return raw.astype(dtype)
