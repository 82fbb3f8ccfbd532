"""Input rows, normalised once into what the kernels read: a 2-D float32 array with NaN as missing.

XGBoost compares float32 inputs with float32 thresholds, so float64 input is rounded to
float32 exactly as XGBoost rounds it when it builds its DMatrix. float32 input, in C or
Fortran order, is used as it is (no copy) unless a non-NaN ``missing`` value has to be
turned into NaN. Sparse input is kept as checked CSR arrays instead (``gbinfer.sparse``).
"""

from __future__ import annotations

import numpy as np

from .errors import DataError


class DataMatrix:
    """Rows to predict on: numpy, pandas, scipy.sparse or anything ``np.asarray`` takes.

    ``missing``: the value that means "absent" (NaN always does too). Sparse input follows
    XGBoost's meaning: an entry not stored is missing. It stays sparse: ``sparse`` holds its
    checked CSR arrays (``values`` is then None); ``sparse`` is None for dense input.
    """

    def __init__(self, data, missing: float = np.nan, feature_names=None, feature_types=None):
        self.sparse = None
        if isinstance(data, DataMatrix):
            self.values, names, types = data.values, data.feature_names, data.feature_types
            self.sparse = data.sparse if data.sparse is None else data.sparse.with_missing(missing)
        elif _is_sparse(data):
            from .sparse import sparse_rows

            self.values, names, types = None, None, None
            self.sparse = sparse_rows(data, missing)
        else:
            self.values, names, types = _to_float32(data)
        if self.sparse is None and missing is not None and missing == missing:  # another value than NaN too
            hits = self.values == np.float32(missing)
            if hits.any():
                self.values = np.where(hits, np.float32(np.nan), self.values)
        self.feature_names = tuple(feature_names) if feature_names is not None else names
        self.feature_types = tuple(feature_types) if feature_types is not None else types
        if self.feature_names is not None and len(self.feature_names) != self.num_col:
            raise DataError(f"feature_names has {len(self.feature_names)} names for {self.num_col} columns")

    @property
    def num_row(self) -> int:
        return (self.values if self.sparse is None else self.sparse).shape[0]

    @property
    def num_col(self) -> int:
        return (self.values if self.sparse is None else self.sparse).shape[1]


def _is_sparse(data) -> bool:
    """scipy.sparse or Arrow sparse, told by module name: importing either to check would slow
    every dense call."""
    module = type(data).__module__
    return module.startswith("scipy.sparse") or (module.startswith("pyarrow") and "Sparse" in type(data).__name__)


def _to_float32(data):
    """(float32 2-D array, feature names or None, feature types or None)."""
    module = type(data).__module__
    if module.startswith("pandas"):
        return _from_pandas(data)
    if module.startswith("pyarrow"):
        return _from_pandas(data.to_pandas())
    arr = np.asarray(data)
    if arr.ndim == 1:
        raise DataError(f"data is 1-D with shape {arr.shape}; pass one row as a 2-D array, e.g. x.reshape(1, -1)")
    if arr.ndim != 2:
        raise DataError(f"data must be 2-D (rows x features), got shape {arr.shape}")
    if arr.dtype == np.float32:
        return arr, None, None
    if arr.dtype.kind not in "fiub":
        raise DataError(f"data has dtype {arr.dtype}; expected numbers, e.g. X.astype(np.float32)")
    return arr.astype(np.float32), None, None


def _from_pandas(frame):
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame().T
    columns, types = [], []
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype(np.float32)
            codes[codes < 0] = np.nan
            columns.append(codes)
            types.append("c")
        elif col.dtype.kind in "fiub" or pd.api.types.is_extension_array_dtype(col.dtype):
            columns.append(col.to_numpy(dtype=np.float32, na_value=np.nan))
            types.append("q")
        else:
            raise DataError(f"column {name!r} has dtype {col.dtype}; expected numbers or 'category'")
    values = np.column_stack(columns) if columns else np.empty((len(frame), 0), np.float32)
    return np.ascontiguousarray(values, dtype=np.float32), tuple(str(c) for c in frame.columns), tuple(types)
