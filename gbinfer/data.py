"""What the user passed, checked and held in one shape: a 2-D float32 array (NaN as missing), the
categorical columns' own categories beside it, or checked CSR arrays for sparse input.

XGBoost compares float32 inputs with float32 thresholds, so float64 input is rounded to float32
exactly as XGBoost rounds it when it builds its DMatrix. float32 input, in C or Fortran order, is
used as it is (no copy) unless a non-NaN ``missing`` value has to be turned into NaN. Sparse input
is kept as checked CSR arrays instead (``gbinfer.sparse``).

A categorical column (pandas ``category``, an Arrow dictionary, or strings) is held as the column's
*own* codes, with its categories kept beside them: what a code means is the model's business,
because only the model knows the categories it was trained on (``gbinfer.encode``).

LightGBM compares in float64, so float32 would round its input: a ``DataMatrix`` keeps a reference
to the object it was built from (``source``, no copy) and the ``missing`` values it was given, and
a LightGBM model reads the rows from there at the precision LightGBM would (``predict.lightgbm``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError

MAX_CATEGORIES = 1 << 24  # codes are held as float32, exact up to 2**24 (XGBoost's own category limit)


@dataclass(frozen=True, eq=False)
class CategoricalColumn:
    """One categorical column: its codes sit in ``DataMatrix.values`` (NaN when missing), code ``k``
    standing for ``categories[k]``."""

    categories: np.ndarray  # object array of str / other values, or the category index's own dtype
    # "category": codes are the column's own (pandas category, Arrow dictionary): ``missing`` is
    # compared with them, as XGBoost does. "values": strings or other objects, numbered here in
    # order of appearance; ``missing`` does not apply to them.
    kind: str
    dtype: str  # the column's dtype as the user sees it, for messages


class DataMatrix:
    """Rows to predict on: numpy, pandas, pyarrow, scipy.sparse, a dict of columns
    ``{name: array}``, or anything ``np.asarray`` takes.

    ``missing``: the value that means "absent" (NaN always does too). Sparse input follows
    XGBoost's meaning: an entry not stored is missing. It stays sparse: ``sparse`` holds its
    checked CSR arrays (``values`` is then None); ``sparse`` is None for dense input.

    ``categorical`` maps column index -> ``CategoricalColumn`` for input whose columns carry types
    (pandas, pyarrow, dict); it is None for plain arrays, whose numbers are taken as they are.

    ``source`` is the object the rows came from and ``missing_values`` every non-NaN ``missing``
    applied to them (a DataMatrix of a DataMatrix adds its own): a LightGBM model reads its float64
    rows from them when it predicts, so change the source's numbers only before building this.
    """

    def __init__(self, data, missing: float = np.nan, feature_names=None, feature_types=None):
        self.sparse = None
        self.categorical = None
        self.source, self.missing_values = data, ()
        if isinstance(data, DataMatrix):
            self.values, names, types = data.values, data.feature_names, data.feature_types
            self.categorical = data.categorical
            self.source, self.missing_values = data.source, data.missing_values
            self.sparse = data.sparse if data.sparse is None else data.sparse.with_missing(missing)
        elif _is_sparse(data):
            from .sparse import sparse_rows

            self.values, names, types = None, None, None
            self.sparse = sparse_rows(data, missing)
        else:
            self.values, names, types, self.categorical = _dense(data)
        if missing is not None and missing == missing:  # another value than NaN too
            missing = _number(missing)
            self.missing_values += (missing,)
            if self.sparse is None:
                hits = self.values == np.float32(missing)
                for j, column in (self.categorical or {}).items():
                    if column.kind == "values":
                        hits[:, j] = False
                if hits.any():
                    self.values = np.where(hits, np.float32(np.nan), self.values)
        self.feature_names = _strings(feature_names, "feature_names") if feature_names is not None else names
        self.feature_types = _strings(feature_types, "feature_types") if feature_types is not None else types
        if self.feature_names is not None:
            if len(self.feature_names) != self.num_col:
                raise DataError(f"feature_names has {len(self.feature_names)} names for {self.num_col} columns")
            _unique_names(self.feature_names, "feature_names")
        if self.feature_types is not None and len(self.feature_types) != self.num_col:
            raise DataError(f"feature_types has {len(self.feature_types)} entries for {self.num_col} columns")

    @property
    def num_row(self) -> int:
        return (self.values if self.sparse is None else self.sparse).shape[0]

    @property
    def num_col(self) -> int:
        return (self.values if self.sparse is None else self.sparse).shape[1]


def _number(missing):
    if isinstance(missing, (str, bytes)):
        raise DataError(f"missing must be a number, got {missing!r}")
    try:
        return float(missing)
    except (TypeError, ValueError):
        raise DataError(f"missing must be a number, got {missing!r:.60}") from None


def _is_sparse(data) -> bool:
    """scipy.sparse or Arrow sparse, told by module name: importing either to check would slow
    every dense call."""
    module = type(data).__module__
    return module.startswith("scipy.sparse") or (module.startswith("pyarrow") and "Sparse" in type(data).__name__)


def _dense(data):
    """(float32 2-D array, feature names or None, feature types or None, categorical columns or None)."""
    if type(data) is np.ndarray:
        arr = data
    else:
        module = type(data).__module__
        if module.startswith("pandas"):
            return _from_pandas(data)
        if module.startswith("pyarrow"):
            if not hasattr(data, "to_pandas") or not hasattr(data, "column_names"):
                raise DataError(f"data of type {type(data).__name__} is not a table; pass a pyarrow Table or "
                                "RecordBatch")
            return _from_pandas(data.to_pandas())
        if isinstance(data, dict):
            return _from_columns(data)
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as exc:  # ragged rows, or objects numpy cannot hold
            raise DataError(f"data is not a rectangular table of numbers ({exc}); pass a 2-D array with as "
                            "many values in every row") from None
    if arr.ndim == 1:
        raise DataError(f"data is 1-D with shape {arr.shape}; pass one row as a 2-D array, e.g. x.reshape(1, -1)")
    if arr.ndim != 2:
        raise DataError(f"data must be 2-D (rows x features), got shape {arr.shape}")
    if arr.dtype == np.float32:
        return arr, None, None, None
    if arr.dtype.kind not in "fiub":
        raise DataError(f"data has dtype {arr.dtype}; expected numbers, e.g. X.astype(np.float32) (use a "
                        "DataFrame or a dict of columns for categorical values)")
    return arr.astype(np.float32), None, None, None


def _unique_names(names, what: str) -> None:
    if len(set(names)) != len(names):
        seen = set()
        dup = [n for n in names if n in seen or seen.add(n)]
        raise DataError(f"{what} holds {dup[0]!r} more than once; every column needs its own name")


def _assemble(columns, names, types, categorical, n_rows: int):
    values = np.column_stack(columns) if columns else np.empty((n_rows, 0), np.float32)
    return np.ascontiguousarray(values, dtype=np.float32), tuple(names), tuple(types), categorical


def _from_pandas(frame):
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame().T
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"data of type {type(frame).__name__} is not a table; pass a DataFrame")
    labels = frame.columns.tolist()
    names = [str(c) for c in labels]
    _unique_names(names, "the DataFrame's columns")
    if all(isinstance(d, np.dtype) and d.kind in "fiub" for d in frame.dtypes.tolist()):  # numbers only
        return np.ascontiguousarray(frame.to_numpy(dtype=np.float32)), tuple(names), ("q",) * len(names), {}
    columns, types, categorical = [], [], {}
    for j, (label, name) in enumerate(zip(labels, names)):
        codes, column = _pandas_column(pd, name, frame[label])
        columns.append(codes)
        types.append("q" if column is None else "c")
        if column is not None:
            categorical[j] = column
    return _assemble(columns, names, types, categorical, len(frame))


def _pandas_column(pd, name: str, col):
    """(float32 values or codes, CategoricalColumn or None) of one pandas column."""
    dtype = col.dtype
    if isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype).startswith("dictionary"):
        col = col.astype("category")
        dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        values = cats.to_numpy(dtype=object) if cats.dtype.kind in "OUS" or not isinstance(cats.dtype, np.dtype) \
            else cats.to_numpy()
        return _codes(col.array.codes, values, name), \
            CategoricalColumn(values, "category", f"category[{cats.dtype}]")
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return col.to_numpy(dtype=np.float32), None
    if not isinstance(dtype, np.dtype) and (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
        return col.to_numpy(dtype=np.float32, na_value=np.nan), None  # nullable Int64, Float64, boolean, Arrow
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        try:
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
        except TypeError as exc:
            raise DataError(f"column {name!r} holds values that cannot be compared as categories: {exc}") from None
        values = np.asarray(uniques, dtype=object)
        return _codes(codes, values, name), CategoricalColumn(values, "values", str(dtype))
    raise DataError(f"column {name!r} has dtype {dtype}; expected numbers, 'category' or strings")


def _codes(codes: np.ndarray, categories: np.ndarray, name: str) -> np.ndarray:
    if len(categories) > MAX_CATEGORIES:
        raise DataError(f"column {name!r} has {len(categories)} categories; at most {MAX_CATEGORIES} are supported")
    out = codes.astype(np.float32)
    out[codes < 0] = np.nan
    return out


def _from_columns(data: dict):
    """A dict ``{name: column}``; a column is anything 1-D: numpy, list, pandas, pyarrow."""
    names = [str(k) for k in data]
    _unique_names(names, "the dict's keys")
    columns, types, categorical, n_rows = [], [], {}, None
    for j, (name, value) in enumerate(zip(names, data.values())):
        module = type(value).__module__
        if module.startswith(("pandas", "pyarrow")):
            import pandas as pd

            try:
                series = value.to_pandas() if module.startswith("pyarrow") else \
                    value if isinstance(value, pd.Series) else pd.Series(value)
            except (AttributeError, TypeError, ValueError) as exc:
                raise DataError(f"column {name!r} is a {type(value).__name__}, not one column: {exc}") from None
            if not isinstance(series, pd.Series):
                raise DataError(f"column {name!r} is a {type(value).__name__}, expected one column")
            codes, column = _pandas_column(pd, name, series.reset_index(drop=True))
        else:
            codes, column = _array_column(name, value)
        if n_rows is not None and len(codes) != n_rows:
            raise DataError(f"column {name!r} has {len(codes)} values, the columns before it {n_rows}")
        n_rows = len(codes)
        columns.append(codes)
        types.append("q" if column is None else "c")
        if column is not None:
            categorical[j] = column
    return _assemble(columns, names, types, categorical, n_rows or 0)


def _array_column(name: str, value):
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"column {name!r} is not a flat list of values ({exc})") from None
    if arr.ndim != 1:
        raise DataError(f"column {name!r} has shape {arr.shape}; expected a flat list of values")
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float32), None
    if arr.dtype.kind not in "OUS":
        raise DataError(f"column {name!r} has dtype {arr.dtype}; expected numbers or strings")
    lookup = {}
    codes = np.empty(len(arr), dtype=np.int64)
    try:
        for i, v in enumerate(arr.tolist()):
            codes[i] = -1 if v is None or v != v else lookup.setdefault(v, len(lookup))
    except TypeError as exc:
        raise DataError(f"column {name!r} holds values that cannot be compared as categories: {exc}") from None
    values = np.empty(len(lookup), dtype=object)
    for k, v in enumerate(lookup):  # one by one: a tuple value must not be spread over elements
        values[k] = v
    return _codes(codes, values, name), CategoricalColumn(values, "values", str(arr.dtype))


def _strings(given, argument: str) -> tuple[str, ...]:
    """``feature_names`` / ``feature_types`` as a tuple of strings; a lone string or a number is a
    caller mistake (iterating a string would give one name per character)."""
    if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
        raise DataError(f"{argument} must be a list of strings, got {type(given).__name__}")
    return tuple(str(n) for n in given)

