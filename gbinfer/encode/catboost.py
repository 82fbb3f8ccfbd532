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


def one_hot_codes(values, column: int, hashes: np.ndarray) -> np.ndarray:
    """uint16 per row: 1 + the position of the row's value hash in ``hashes`` (the one-hot values
    of this feature, int32), or 0 when the model splits on none of them."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"column {column} must be one value per row")
    if values.dtype.kind in "fcb":
        raise DataError(f"column {column} is a categorical feature of the model but holds {values.dtype} values; "
                        "pass strings or integers, as CatBoost requires")
    position = {int(h): k + 1 for k, h in enumerate(hashes)}
    if values.dtype.kind in "iuUS":
        uniques, inverse = np.unique(values, return_inverse=True)
        table = np.array([position.get(category_hash(_as_bytes(u.item(), column)), 0) for u in uniques],
                         dtype=np.uint16)
        return table[inverse.reshape(-1)]
    seen: dict = {}
    out = np.empty(len(values), dtype=np.uint16)
    for i, v in enumerate(values):
        key = (type(v), v) if isinstance(v, (str, bytes, int, np.integer)) else None
        code = seen.get(key) if key is not None else None
        if code is None:
            code = position.get(category_hash(_as_bytes(v, column)), 0)
            if key is not None:
                seen[key] = code
        out[i] = code
    return out
