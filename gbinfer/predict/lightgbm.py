"""Prediction for LightGBM forests: the input as LightGBM's Python package hands it to its
predictor, one kernel call, then LightGBM's output conversion.

Input (``lightgbm/basic.py``): a numpy array keeps float32 / float64 and any other numeric
dtype becomes float32; a pandas frame's category columns are re-coded through the model's
``pandas_categorical`` (by position among the category columns, unseen categories becoming
NaN) and the frame becomes ``np.result_type(column dtypes, float32)``; a ``DataMatrix`` is read
again from the object it was built from, its category columns coded by value; sparse rows keep their
stored values and read an absent entry as 0.0. Columns are taken by position, as LightGBM
takes them.

Kernels: dense rows through a forest without category sets or linear leaves go to the binned
kernels (``lightgbm_bin_kernels``: thresholds turned into small-integer bins, 8-byte nodes);
sparse rows, category sets, linear leaves and leaf indices to the 64-bit-key kernels
(``lightgbm_kernels``). Both give LightGBM's sums bit for bit.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
import orjson

from ..data import DataMatrix
from ..errors import DataError
from ..forest_lightgbm import CATEGORICAL_BIT, KIND_SHIFT, LightGBMForest
from ..objective import Transform
from . import lightgbm_bin_kernels as B
from . import lightgbm_kernels as K
from .lightgbm_bins import binned

_layouts: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()


def is_lightgbm(model) -> bool:
    return isinstance(getattr(model.booster, "forest", None), LightGBMForest)


def _layout(booster) -> tuple:
    """(margin args, leaf args, feature -> slot table, trees by depth, one-row args or None
    for linear trees, binned-forest args or None), built once per booster."""
    layout = _layouts.get(booster)
    if layout is None:
        f = booster.forest
        roots = f.tree_offsets[:-1].astype(np.uint32)
        nodes = np.empty(2 * f.num_nodes, dtype=np.uint64)
        nodes[0::2] = f.split_key
        if f.has_categorical:
            cat_bits = np.append(f.cat_bits, np.uint32(0))  # the padding word: no category in it
            is_set = (f.node_word & CATEGORICAL_BIT) != 0
            start = f.cat_offsets[:-1].astype(np.uint64)
            words = np.diff(f.cat_offsets).astype(np.uint64)
            nodes[0::2][is_set] = (start[is_set] << np.uint64(32)) | words[is_set]
        else:
            cat_bits = np.zeros(0, dtype=np.uint8)
        nodes[1::2] = (f.left.astype(np.uint64) << np.uint64(32)) | f.node_word.astype(np.uint64)
        margin = (f.slots, nodes, f.leaf_value, roots, f.tree_depth, f.tree_group,
                  cat_bits, f.linear_const, f.linear_offsets, f.linear_feature, f.linear_coeff)
        leaf = (f.slots, nodes, roots, f.tree_depth, cat_bits,
                f.leaf_index)
        features = (f.slots & np.uint32((1 << KIND_SHIFT) - 1)).astype(np.int64)
        kinds = (f.slots >> np.uint32(KIND_SHIFT)).astype(np.int64)
        width = int(features.max()) + 1 if len(features) else 0
        table = np.full((width, 4), -1, dtype=np.int32)
        table[features, kinds] = np.arange(len(features), dtype=np.int32)
        by_depth = np.argsort(f.tree_depth, kind="stable").astype(np.int64)
        walk = (roots[by_depth].astype(np.int64) | (by_depth << 32)) if not f.has_linear else None
        one_row = None if walk is None else (f.slots, nodes, f.leaf_value, walk, cat_bits)
        b = binned(f)
        bins = None if b is None else (b.slots, b.missing, b.values, b.words, b.num_nodes, b.shift)
        layout = (margin, leaf, table, by_depth, one_row, bins)
        _layouts[booster] = layout
    return layout


def rows(model, data):
    """``data`` as the kernels read it: a C-contiguous float32 / float64 2-D array, or sparse
    rows (indptr int64, indices int32, values float64) with columns ascending in each row."""
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.dtype in (np.float64, np.float32):
        X = np.ascontiguousarray(data)
    elif isinstance(data, DataMatrix):
        X = _from_data_matrix(model, data)
    else:
        X = _read(model, data)
    width = X.shape[1] if isinstance(X, np.ndarray) else X[3]
    if width != model.meta.num_features:
        raise DataError(f"data has {width} columns but the model expects {model.meta.num_features} features")
    return X if isinstance(X, np.ndarray) else X[:3]


def training_categories(model) -> list | None:
    """The model's ``pandas_categorical``: the training categories of its k-th categorical feature
    at ``[k]`` (code c meaning ``[k][c]``), or None when it stores none."""
    text = model.meta.attributes.get("pandas_categorical")
    return orjson.loads(text) if text else None


def categories_by_feature(stored, types) -> list | None:
    """Per feature, a categorical feature's training categories (None for a numeric one), from the
    model's ``stored`` lists and feature ``types``; None when there are no lists, or they do not
    pair one to one with the features typed categorical."""
    if not stored or not types or types.count("c") != len(stored):
        return None
    lists = iter(stored)
    return [next(lists) if t == "c" else None for t in types]


def _read(model, data):
    module = type(data).__module__
    if module.startswith("scipy.sparse"):
        return _from_scipy(data)
    if module.startswith("pandas"):
        return _from_pandas(data, training_categories(model))
    if module.startswith("pyarrow"):
        return _from_arrow(data)
    return _from_array(data)


def _from_data_matrix(model, data: DataMatrix):
    """A ``DataMatrix``'s rows read again from the object it was built from, as LightGBM would
    read that object (its float32 ``values`` would round float64 numbers LightGBM compares in
    float64); then its ``missing`` values made NaN in the numeric columns (LightGBM has no
    ``missing`` of its own: a number equal to one of them, at the data's precision, is missing)."""
    source, stored = data.source, training_categories(model)
    module = type(source).__module__
    if data.sparse is not None:
        indptr, indices, values, width = _from_scipy(source.to_scipy() if module.startswith("pyarrow") else source)
        return indptr, indices, _as_missing(values, data.missing_values), width
    if isinstance(source, dict):  # the category codes before ``missing`` touched them, as in a frame
        X = _from_columns(model, DataMatrix(source) if data.missing_values else data, source)
    elif module.startswith("pyarrow"):  # a Table of any columns, categorical ones too, as a frame
        X = _from_pandas(_categories_as_such(source.to_pandas()), stored)
    elif module.startswith("pandas"):
        X = _from_pandas(_categories_as_such(source), stored)
    else:
        X = _from_array(source)
    return _as_missing(X, data.missing_values, list(data.categorical or ()))


def _as_missing(values: np.ndarray, markers: tuple, categorical=()) -> np.ndarray:
    """``values`` (a new array if any changes) with every number equal to one of ``markers`` NaN,
    except in the ``categorical`` columns of a 2-D array (their codes are not the user's numbers)."""
    if not markers:
        return values
    hits = np.isin(values, np.array(markers, dtype=values.dtype))
    if len(categorical):
        hits[:, categorical] = False
    return np.where(hits, values.dtype.type(np.nan), values) if hits.any() else values


def _categories_as_such(frame):
    """String columns as pandas categories, which ``_from_pandas`` codes by value (a
    ``DataMatrix`` takes strings where LightGBM takes only categories)."""
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame().T
    strings = [c for c, dtype in frame.dtypes.items() if pd.api.types.is_object_dtype(dtype) or
               pd.api.types.is_string_dtype(dtype)]
    return frame.astype({c: "category" for c in strings}) if strings else frame


def _from_columns(model, data: DataMatrix, columns: dict) -> np.ndarray:
    """A dict of columns: category columns coded by value (``_from_matrix``), numbers widened to
    float64 from the columns themselves (exactly, as LightGBM widens a frame's)."""
    stored = training_categories(model)
    X = _from_matrix(data, stored, categories_by_feature(stored, model.features.types)).astype(np.float64)
    for j, column in enumerate(columns.values()):
        if j not in (data.categorical or {}):
            X[:, j] = _float64_column(column)
    return X


def _float64_column(column) -> np.ndarray:
    module = type(column).__module__
    if module.startswith("pyarrow"):
        column = column.to_pandas()
        module = "pandas"
    if module.startswith("pandas"):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(column).astype(np.float64)


def _from_array(data) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise DataError(f"data must be 2-D (rows x features), got shape {arr.shape}; pass one row as "
                        "x.reshape(1, -1)")
    if arr.dtype.kind not in "fiub":
        raise DataError(f"data has dtype {arr.dtype}; expected numbers, e.g. X.astype(np.float64)")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)  # LightGBM's Python package casts every other dtype to float32
    return np.ascontiguousarray(arr)


def _from_matrix(data: DataMatrix, stored, by_feature) -> np.ndarray:
    """A dense ``DataMatrix``'s values, its categorical columns re-coded as a frame's are
    (``_from_pandas``): each value's position in the model's ``pandas_categorical`` list of the
    same category column, an unseen value NaN. The matrix's own codes number its own categories
    (strings in order of appearance), which mean nothing to the model; without a stored list only
    a column's own category codes can be read, as LightGBM reads a frame's. Where the model pairs
    its lists with its categorical features (``by_feature``), a column's list is its feature's, so
    a category feature may also come as the numbers it was trained on; otherwise, as in a frame,
    the k-th category column takes the k-th list."""
    if not data.categorical:
        return data.values
    columns = sorted(data.categorical.items())
    names = data.feature_names or tuple(f"column {j}" for j in range(data.num_col))
    if stored is None:
        for j, column in columns:
            if column.kind == "values":
                raise DataError(f"{names[j]!r} holds category values ({column.dtype}) but the model keeps no "
                                "training categories (pandas_categorical) to code them by; pass the codes as "
                                "numbers")
        return data.values
    if by_feature is not None and len(by_feature) == data.num_col:
        lists = []
        for j, _ in columns:
            if by_feature[j] is None:
                raise DataError(f"{names[j]!r} holds categories but the model's feature {j} is numeric")
            lists.append(by_feature[j])
    elif len(columns) != len(stored):
        raise DataError(f"data has {len(columns)} category columns but the model was trained with {len(stored)}")
    else:
        lists = stored
    X = data.values.copy()
    for (j, column), categories in zip(columns, lists):
        table = _training_codes(column.categories, categories)
        codes = X[:, j]
        present = ~np.isnan(codes)
        X[present, j] = table[codes[present].astype(np.intp)]
    return X


def _training_codes(values, categories) -> np.ndarray:
    """Each of ``values``' position in ``categories``, NaN for a value not among them (as LightGBM
    reads an unseen category). Text is read as the integer it spells when the categories are
    integers: files and the server's requests carry them as text."""
    position = {value: float(code) for code, value in enumerate(categories)}
    integers = bool(categories) and all(isinstance(c, int) and not isinstance(c, bool) for c in categories)

    def key(v):
        v = v.item() if isinstance(v, np.generic) else v
        if integers and isinstance(v, str):
            try:
                return int(v)
            except ValueError:
                return v
        return v

    return np.array([position.get(key(v), np.nan) for v in values], dtype=np.float64)


def _from_pandas(frame, stored):
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame().T
    is_cat = [isinstance(dtype, pd.CategoricalDtype) for dtype in frame.dtypes]
    if stored is not None and sum(is_cat) != len(stored):
        raise DataError(f"data has {sum(is_cat)} category columns but the model was trained with {len(stored)}")
    columns, dtypes, j = [], [], 0
    for position, cat in enumerate(is_cat):
        col = frame.iloc[:, position]
        if cat:
            if stored is not None and list(col.cat.categories) != list(stored[j]):
                col = col.cat.set_categories(stored[j])
            codes = col.cat.codes.to_numpy()
            if (codes == -1).any():  # pandas' replace({-1: nan}) makes the column float64
                codes = np.where(codes == -1, np.nan, codes.astype(np.float64))
            columns.append(codes)
            dtypes.append(codes.dtype.type)
            j += 1
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_complex_dtype(col.dtype):
            columns.append(col)
            dtypes.append(col.dtype.type)
        else:
            raise DataError(f"column {frame.columns[position]!r} has dtype {col.dtype}; expected numbers or "
                            "'category'")
    try:
        target = np.result_type(*dtypes, np.float32)
    except TypeError:
        raise DataError("data has columns of types numpy cannot combine into one float array") from None
    if target.kind != "f":
        raise DataError(f"data's columns combine to dtype {target}; expected numbers")
    out = np.empty((len(frame), len(columns)), dtype=target)
    for i, col in enumerate(columns):
        out[:, i] = col if isinstance(col, np.ndarray) else col.to_numpy(dtype=target, na_value=np.nan)
    return out


def _from_arrow(table) -> np.ndarray:
    """A pyarrow Table of numeric or boolean columns, each value widened to float64 (a null is
    NaN), as LightGBM's Arrow path reads them."""
    import pyarrow as pa

    if not isinstance(table, pa.Table):
        raise DataError(f"data of type pyarrow.{type(table).__name__} is not supported; pass a pyarrow.Table")
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float64)
    for i, (name, column) in enumerate(zip(table.column_names, table.columns)):
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise DataError(f"column {name!r} has Arrow type {kind}; expected numbers or booleans")
        out[:, i] = column.to_numpy(zero_copy_only=False).astype(np.float64) if column.null_count == 0 else \
            np.array(column.cast(pa.float64()).to_pylist(), dtype=np.float64)
    return out


def _from_scipy(matrix):
    import scipy.sparse

    if not scipy.sparse.issparse(matrix):
        raise DataError(f"data of type {type(matrix).__name__} is not a sparse matrix gbinfer reads")
    if matrix.dtype.kind not in "fiub":
        raise DataError(f"sparse data has dtype {matrix.dtype}; expected real numbers")
    csr = scipy.sparse.csr_matrix(matrix, copy=True)  # our own arrays: the caller may change theirs
    try:
        csr.check_format(full_check=True)
    except ValueError as exc:
        raise DataError(f"sparse data is malformed: {exc}") from None
    csr.sort_indices()
    indptr = csr.indptr.astype(np.int64)
    indices = csr.indices.astype(np.int32)
    starts = np.zeros(len(indices), dtype=bool)
    starts[indptr[:-1][np.diff(indptr) > 0]] = True
    repeated = np.flatnonzero(~starts[1:] & (indices[1:] == indices[:-1])) if len(indices) > 1 else []
    if len(repeated):
        row = int(np.searchsorted(indptr, repeated[0] + 1, side="right") - 1)
        raise DataError(f"sparse row {row} stores column {int(indices[repeated[0] + 1])} more than once; call "
                        "X.sum_duplicates() first if a sum is meant")
    values = csr.data
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float32)
    return indptr, indices, values.astype(np.float64), csr.shape[1]


def _kernel_rows(X, table):
    return X if isinstance(X, np.ndarray) else (*X, table)


def predict(model, data, *, output_margin=False, iteration_range=None, base_margin=None, nthread=None):
    if type(data) is np.ndarray and data.ndim == 2 and data.shape[0] == 1 and iteration_range is None and \
            base_margin is None and data.dtype.char in "fd" and data.flags.c_contiguous and \
            data.shape[1] == model.meta.num_features:
        layout = _layout(model.booster)
        if layout[5] is not None:
            return _predict_one_row(model, data, B.margin_one_row, layout[5], output_margin)
        if layout[4] is not None:
            return _predict_one_row(model, data, K.margin_one_row, layout[4], output_margin)
    from . import _run, base_margin_rows, tree_range

    booster = model.booster
    forest = booster.forest
    X = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    margin_args, _, table, by_depth, _, bins = _layout(booster)
    if (t0, t1) == (0, forest.num_trees):
        order = by_depth
    else:
        order = (np.argsort(forest.tree_depth[t0:t1], kind="stable") + t0).astype(np.int64)
    n, k = X.shape[0] if isinstance(X, np.ndarray) else len(X[0]) - 1, model.meta.num_outputs
    if base_margin is None:
        out = np.zeros((n, k), dtype=np.float64)
    else:
        out = np.array(base_margin_rows(base_margin, n, k).reshape(n, k), dtype=np.float64, order="C")
    if bins is not None and isinstance(X, np.ndarray):
        walk = bins[3][bins[4]:] if (t0, t1) == (0, forest.num_trees) else \
            margin_args[3][order].astype(np.uint64) | (order.astype(np.uint64) << np.uint64(32))
        _run(B.margin_serial, B.margin_parallel, n, nthread,
             (X, *bins, margin_args[3], forest.tree_depth, forest.tree_group, walk, t0, t1, out))
    else:
        _run(K.margin_serial, K.margin_parallel, n, nthread,
             (_kernel_rows(X, table), *margin_args, order, t0, t1, out))
    if not output_margin:
        rounds = (t1 - t0) // k
        divisor = float(rounds) if forest.average_output and rounds > 0 else 1.0
        objective = model.objective
        sigmoid = float(objective.params.get("sigmoid", 1.0)) if objective.transform == Transform.SIGMOID else 1.0
        K.finish(out, divisor, int(objective.transform), sigmoid)
    return out[:, 0] if k == 1 else out


def _predict_one_row(model, row, kernel, args, output_margin):
    """The whole of ``predict`` for one C-ordered float row of the model's width with every
    tree: what the general path checks holds already, so all that is left is one kernel call."""
    k = model.meta.num_outputs
    out = np.zeros(k, dtype=np.float64)
    if output_margin:
        kernel(row, *args, 1.0, 0, 1.0, out)
    else:
        forest = model.booster.forest
        divisor = float(forest.num_trees // k) if forest.average_output and forest.num_trees >= k else 1.0
        objective = model.objective
        sigmoid = float(objective.params.get("sigmoid", 1.0)) if objective.transform == Transform.SIGMOID else 1.0
        kernel(row, *args, divisor, int(objective.transform), sigmoid, out)
    return out if k == 1 else out.reshape(1, k)


def predict_leaf(model, data, *, iteration_range=None, nthread=None) -> np.ndarray:
    from . import _run, tree_range

    X = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    _, leaf_args, table, _, _, _ = _layout(model.booster)
    n = X.shape[0] if isinstance(X, np.ndarray) else len(X[0]) - 1
    out = np.empty((n, t1 - t0), dtype=np.int32)
    _run(K.leaf_serial, K.leaf_parallel, n, nthread, (_kernel_rows(X, table), *leaf_args, t0, t1, out))
    return out


def warmup(model) -> None:
    """Compile (or load from cache) the kernels this model uses (those of ``predict``,
    ``predict_leaf`` and ``predict_contribs``), for float64 and float32 rows, serial and
    parallel. The prediction calls go to a one-column stand-in of the model (every split and
    linear term reading feature 0, arrays of the same types), so a model of very many features
    does not allocate rows of that width here."""
    from . import SERIAL_BELOW, shap_lightgbm

    stand_in = _one_column(model)
    for dtype in (np.float64, np.float32):
        X = np.zeros((SERIAL_BELOW, 1), dtype=dtype)
        for batch in (X[:1], X[:2], X):  # one row has a path of its own; two rows walk serially
            predict(stand_in, batch)
            predict_leaf(stand_in, batch)
    shap_lightgbm.warmup(model)  # the model itself: its kernels read split features, which the stand-in changes


def _one_column(model):
    forest = model.booster.forest
    slots = forest.slots & ~np.uint32((1 << KIND_SHIFT) - 1)
    linear_feature = np.zeros_like(forest.linear_feature)
    for arr in (slots, linear_feature):
        arr.flags.writeable = False  # read-only arrays are another Numba type
    forest = dataclasses.replace(forest, slots=slots, linear_feature=linear_feature)
    booster = dataclasses.replace(model.booster, forest=forest)
    return dataclasses.replace(model, booster=booster, meta=dataclasses.replace(model.meta, num_features=1))
