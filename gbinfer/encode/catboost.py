"""CatBoost's categorical input: each value hashed as CatBoost hashes it, then looked up among the
hashes the model's one-hot splits name.

CatBoost's Python package turns a categorical value into bytes before hashing: a ``str`` as UTF-8,
``bytes`` as they are, an integer (Python or numpy) as its decimal string. It refuses floats, NaN
and None ("cat_features must be integer or string"); so does gbinfer, with a ``DataError`` naming
the column. Booleans are refused too: CatBoost's spelling of them was not confirmed.
"""

from __future__ import annotations

import numpy as np

from ..compat.cityhash import category_hash
from ..errors import DataError


def _as_bytes(value, column: int) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)).encode()
    raise DataError(f"column {column} is a categorical feature of the model: its values must be strings or "
                    f"integers (as CatBoost requires), got {value!r} ({type(value).__name__})")


def category_hashes(values, column: int) -> np.ndarray:
    """int32 per row: CatBoost's hash of the row's category value."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"column {column} must be one value per row")
    if values.dtype.kind in "fcb":
        raise DataError(f"column {column} is a categorical feature of the model but holds {values.dtype} values; "
                        "pass strings or integers, as CatBoost requires")
    if values.dtype.kind in "iuUS":
        uniques, inverse = np.unique(values, return_inverse=True)
        table = np.array([category_hash(_as_bytes(u.item(), column)) for u in uniques], dtype=np.int32)
        return table[inverse.reshape(-1)]
    seen: dict = {}
    out = np.empty(len(values), dtype=np.int32)
    for i, v in enumerate(values):
        key = (type(v), v) if isinstance(v, (str, bytes, int, np.integer)) else None
        h = seen.get(key) if key is not None else None
        if h is None:
            h = category_hash(_as_bytes(v, column))
            if key is not None:
                seen[key] = h
        out[i] = h
    return out


def one_hot_codes(hashes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """uint16 per row: 1 + the position of the row's hash among ``values`` (the one-hot values
    of this feature, int32), or 0 when the model splits on none of them."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    at = np.minimum(np.searchsorted(ordered, hashes), max(len(values) - 1, 0))
    if not len(values):
        return np.zeros(len(hashes), dtype=np.uint16)
    found = ordered[at] == hashes
    return np.where(found, order[at] + 1, 0).astype(np.uint16)
