"""Prediction for oblivious-tree (CatBoost) models: the input as CatBoost reads float features,
one kernel call, then ``scale_and_bias`` and CatBoost's default output.

Input: float features become float32, as CatBoost's pool stores them; categorical values are
hashed (``encode.catboost``) into one-hot codes and CTR values, the CTRs landing in float32
columns after the input's. Columns are taken by position (the model's flat feature indexes), a
frame's by name when the model has names. Outputs are float64, as CatBoost returns them.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..data import DataMatrix
from ..encode.catboost import category_hashes, ctr_values, one_hot_codes
from ..errors import DataError
from ..oblivious import Oblivious
from ..objective import Transform
from . import oblivious_kernels as K


def is_oblivious(model) -> bool:
    return isinstance(model.booster, Oblivious)


def rows(model, data) -> tuple[np.ndarray, np.ndarray]:
    """``data`` as the kernels read it: a C-contiguous float32 array (rows x model features, then
    one column per CTR), of which only the float feature and CTR columns are read, and the
    one-hot codes of the categorical features the trees split on (uint16, rows x those features)."""
    booster, width = model.booster, model.meta.num_features
    if isinstance(data, DataMatrix):
        if data.sparse is not None:
            raise DataError("sparse input is not supported for CatBoost models; pass a dense array or frame")
        data = data.values
    if type(data).__module__.startswith("pandas"):
        if not hasattr(data, "iloc") or getattr(data, "ndim", 0) != 2:
            raise DataError(f"data must be 2-D (rows x features), got a {type(data).__name__}")
        data = _by_name(data, model.features.names)
        if data.shape[1] != width:
            raise DataError(f"data has {data.shape[1]} columns but the model expects {width} features")
        column = lambda j: data.iloc[:, j].to_numpy()  # noqa: E731
        X = None
    else:
        try:
            arr = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise DataError(f"data could not be read as an array: {exc}") from None
        if arr.ndim != 2:
            raise DataError(f"data must be 2-D (rows x features), got {arr.ndim} dimension(s) of shape {arr.shape}")
        if arr.shape[1] != width:
            raise DataError(f"data has {arr.shape[1]} columns but the model expects {width} features")
        column = lambda j: arr[:, j]  # noqa: E731
        X = np.ascontiguousarray(arr, dtype=np.float32) if arr.dtype.kind in "fiub" and arr.dtype != object else None
    n = len(data)
    ctrs = booster.ctrs
    if X is None or ctrs:
        full = np.full((n, width + len(ctrs)), np.nan, dtype=np.float32)
        if X is not None:
            full[:, :width] = X
        else:
            for j in booster.slot_column[booster.slot_column < width]:
                try:
                    full[:, j] = np.asarray(column(int(j)), dtype=np.float32)
                except (TypeError, ValueError):
                    raise DataError(f"column {int(j)} is a float feature of the model but holds non-numeric "
                                    "values") from None
        X = full
    hashes: dict = {}

    def hashes_of(j: int) -> np.ndarray:
        if j not in hashes:
            hashes[j] = category_hashes(column(j), j)
        return hashes[j]

    codes = np.empty((n, len(booster.cat_column)), dtype=np.uint16)
    for c, j in enumerate(booster.cat_column):
        values = booster.cat_values[booster.cat_offsets[c]:booster.cat_offsets[c + 1]]
        codes[:, c] = one_hot_codes(hashes_of(int(j)), values)
    for k, ctr in enumerate(ctrs):
        X[:, width + k] = ctr_values(ctr, hashes_of, X)
    return X, codes


def _by_name(frame, names):
    """A frame's columns in the model's order, as CatBoost takes a frame: by name when the model
    has feature names and the frame's columns are strings (a name the frame lacks is an error),
    else by position."""
    columns = list(frame.columns)
    if names is None or columns == list(names) or not all(isinstance(c, str) for c in columns):
        return frame
    missing = [n for n in names if n not in columns]
    if missing or len(set(columns)) != len(columns):
        raise DataError(f"the frame's columns are not the model's features: missing {missing[:10]}"
                        if missing else "the frame has repeated column names")
    return frame[list(names)]


def _kernel_args(booster: Oblivious) -> tuple:
    """The model's arrays as the kernels take them; each tree level's split resolved through the
    split table once per booster (level slot, lo, span), so a level costs no indirection."""
    args = _args.get(booster)
    if args is None:
        b = booster
        ids = b.tree_splits
        args = (b.slot_column, b.borders, b.border_offsets, b.nan_bin.astype(np.uint32), b.split_slot[ids],
                b.split_lo[ids].astype(np.uint32), b.split_span[ids].astype(np.uint32), b.tree_offsets)
        for a in args:
            a.flags.writeable = False  # one Numba type for every model
        _args[booster] = args
    return args


_args: "weakref.WeakKeyDictionary[Oblivious, tuple]" = weakref.WeakKeyDictionary()


def raw(model, X: np.ndarray, codes: np.ndarray, t0: int, t1: int, nthread) -> np.ndarray:
    """CatBoost's RawFormulaVal: the trees' float64 sum, scaled, plus the bias when the range
    starts at the first tree (as CatBoost's ApplyScaleAndBias does)."""
    from . import _run

    b = model.booster
    n, k = X.shape[0], b.num_outputs
    out = np.empty((n, k), dtype=np.float64)  # every row written by the kernel
    _run(K.margin_serial, K.margin_parallel, n, nthread,
         (X, codes, *_kernel_args(b), b.leaf_offsets, b.leaf_values, k, t0, t1, out))
    if b.scale != 1.0:
        out *= b.scale
    if t0 == 0 and np.any(b.bias != 0.0):
        out += b.bias
    return out


def predict(model, data, *, output_margin=False, iteration_range=None, base_margin=None, nthread=None):
    from . import tree_range

    if base_margin is not None:
        raise DataError("base_margin is not supported for CatBoost models (CatBoost's predict takes no baseline)")
    X, codes = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    out = raw(model, X, codes, t0, t1, nthread)
    transform = model.objective.transform
    if not output_margin:
        if transform == Transform.SIGMOID:
            out = 1.0 / (1.0 + np.exp(-out))
        elif transform == Transform.EXP:
            out = np.exp(out)
        elif transform == Transform.SOFTMAX:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
    return out[:, 0] if out.shape[1] == 1 else out


def predict_leaf(model, data, *, iteration_range=None, nthread=None) -> np.ndarray:
    """CatBoost's ``calc_leaf_indexes``: uint32 leaf index per row and tree."""
    from . import _run, tree_range

    X, codes = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    n = X.shape[0]
    out = np.empty((n, t1 - t0), dtype=np.uint32)
    _run(K.leaf_serial, K.leaf_parallel, n, nthread, (X, codes, *_kernel_args(model.booster), t0, t1, out))
    return out


def warmup(model) -> None:
    """Compile (or load from cache) the serial and parallel kernels with this model's types. The
    calls go to a stand-in whose features all read column 0, so a wide model allocates no wide rows."""
    from . import SERIAL_BELOW

    b = model.booster
    column, cat_column = np.zeros_like(b.slot_column), np.zeros_like(b.cat_column)
    for arr in (column, cat_column):
        arr.flags.writeable = False  # read-only arrays are another Numba type
    model = dataclasses.replace(model, booster=dataclasses.replace(b, slot_column=column, cat_column=cat_column,
                                                                   ctrs=()),
                                meta=dataclasses.replace(model.meta, num_features=1))
    X = np.zeros((SERIAL_BELOW, 1), dtype=np.int32)  # integers: valid input for float and categorical features
    for batch in (X[:1], X):
        predict(model, batch, output_margin=True)
        predict_leaf(model, batch)
