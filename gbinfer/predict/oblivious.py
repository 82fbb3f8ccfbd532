"""Prediction for oblivious-tree (CatBoost) models: the input as CatBoost reads float features,
one kernel call (the trees, then ``scale_and_bias``), then CatBoost's default output.

Input: float features become float32, as CatBoost's pool stores them; categorical values are
hashed (``encode.catboost``) into one-hot codes, and into CTR values by a kernel, the CTRs
landing in float32 columns after the input's. Columns are taken by position (the model's flat
feature indexes), a frame's by name when the model has names. Outputs are float64, as CatBoost
returns them. A float32 array for a model of float features only skips all of that: the kernel
reads it as it is.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..data import DataMatrix
from ..encode.catboost import category_hashes, one_hot_codes
from ..errors import DataError
from ..oblivious import CTR_TYPES, Oblivious
from ..objective import Transform
from .. import predict as _engine  # partly initialised while it imports this module: read at call time
from . import oblivious_kernels as K


def is_oblivious(model) -> bool:
    return isinstance(model.booster, Oblivious)


def rows(model, data, nthread=None) -> tuple[np.ndarray, np.ndarray]:
    """``data`` as the kernels read it: a C-contiguous float32 array (rows x model features, then
    one column per CTR), of which only the float feature and CTR columns are read, and the
    one-hot codes of the categorical features the trees split on (uint16, rows x those features)."""
    booster, width = model.booster, model.meta.num_features
    if isinstance(data, DataMatrix):
        if data.sparse is not None:
            raise DataError("sparse input is not supported for CatBoost models; pass a dense array or frame")
        data = _table(data)
    if type(data).__module__.startswith("pandas"):
        if not hasattr(data, "iloc") or getattr(data, "ndim", 0) != 2:
            raise DataError(f"data must be 2-D (rows x features), got a {type(data).__name__}")
        data = _by_name(data, model.features.names)
        if data.shape[1] != width:
            raise DataError(f"data has {data.shape[1]} columns but the model expects {width} features")
        column = lambda j: data.iloc[:, j].to_numpy()  # noqa: E731
        X, frame = None, data
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
        frame = None
        X = np.ascontiguousarray(arr, dtype=np.float32) if arr.dtype.kind in "fiub" and arr.dtype != object else None
    n = len(data)
    ctrs = booster.ctrs
    if X is None or ctrs:
        # every column the kernels read is written below (float features, then the CTRs); the others NaN
        full = np.empty((n, width + len(ctrs)), dtype=np.float32)
        floats = np.unique(booster.slot_column[booster.slot_column < width])
        if X is not None:
            full[:, :width] = X
        else:
            full[:, np.setdiff1d(np.arange(width), floats)] = np.nan
            if frame is not None and len(floats) and all(t.kind == "f" for t in frame.dtypes.iloc[floats]):
                block = frame.iloc[:, floats].to_numpy(dtype=np.float32)  # a frame's float columns in one copy
                if floats[-1] - floats[0] + 1 == len(floats):
                    full[:, floats[0]:floats[-1] + 1] = block  # adjacent columns: no scatter
                else:
                    full[:, floats] = block
            else:
                for j in floats:
                    try:
                        full[:, j] = np.asarray(column(int(j)), dtype=np.float32)
                    except (TypeError, ValueError):
                        raise DataError(f"column {int(j)} is a float feature of the model but holds non-numeric "
                                        "values") from None
        X = full
    hashed, ctr_args = input_layout(booster)
    H = np.empty((n, len(hashed)), dtype=np.int32)  # each categorical column read: its values' hashes
    for i, j in enumerate(hashed):
        H[:, i] = category_hashes(column(j), j)
    codes = np.empty((n, len(booster.cat_column)), dtype=np.uint16)
    for c in range(len(booster.cat_column)):
        values = booster.cat_values[booster.cat_offsets[c]:booster.cat_offsets[c + 1]]
        codes[:, c] = one_hot_codes(H[:, c], values)
    if ctrs:
        _engine._run(K.ctr_serial, K.ctr_parallel, n, nthread, (X, H, width, *ctr_args))
    return X, codes


def _table(data: DataMatrix):
    """A dense ``DataMatrix`` as CatBoost reads a table: its category columns as their values (the
    matrix's codes number its own categories, which CatBoost's hashes know nothing of), the rest
    as numbers. A missing category value is refused, as CatBoost refuses one."""
    if not data.categorical:
        return data.values
    table = data.values.astype(object)
    for j, column in data.categorical.items():
        codes = data.values[:, j]
        if np.isnan(codes).any():
            name = f" ({data.feature_names[j]})" if data.feature_names is not None else ""
            row = int(np.flatnonzero(np.isnan(codes))[0])
            raise DataError(f"column {j}{name} holds a missing category value (row {row}); CatBoost takes none in a "
                            "categorical feature")
        table[:, j] = column.categories[codes.astype(np.intp)]
    return table


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


class Layout:
    """What the kernels read of a booster, derived once (``layout``): only the float slots the
    trees split on, renumbered (then the one-hot slots); bins in the narrowest unsigned type
    holding every slot's (uint8 up to 255 borders or values, else uint16), and each tree level's
    split resolved to (slot, lo, hi, bit): the level is true iff ``bin >= lo`` (a float border:
    hi is 0) or ``bin == lo`` (a one-hot value: hi == lo), and sets ``bit``, of the narrowest
    type holding the deepest tree's leaf numbers.

    Row by row (``K.margin_rows``) every level is ``bin >= lo``: a one-hot level reads a
    pseudo-bin of its own (1 where the row's code is its value), and every tree has the deepest
    tree's level count (``depth``, a tuple whose length the kernel is compiled for), the missing
    levels reading a last bin that is always 0. ``plan`` packs the rest into one int64 array
    (see ``K.PLAN_HEADER``): a call of few arguments costs less to dispatch."""

    __slots__ = ("args", "plan", "levels", "borders", "depth", "post", "unbiased_post", "numeric", "k", "width",
                 "num_trees")

    def __init__(self, b: Oblivious, width: int):
        floats = len(b.slot_column)
        ids = b.tree_splits
        slot = b.split_slot[ids].astype(np.int64)
        used = np.unique(slot[slot < floats])
        level_slot = slot - floats + len(used)  # one-hot slots follow the used float ones
        is_float = slot < floats
        level_slot[is_float] = np.searchsorted(used, slot[is_float])
        counts = np.diff(b.border_offsets)[used]
        borders = (np.concatenate([b.borders[b.border_offsets[s]:b.border_offsets[s + 1]] for s in used])
                   if len(used) else np.zeros(0, dtype=np.float32))
        widest = max([0, *counts, *np.diff(b.cat_offsets)])
        kind = np.uint8 if widest <= 0xFF else np.uint16
        lo = b.split_lo[ids].astype(np.int64)
        hi = np.where(b.split_span[ids] == 1, lo, 0)
        depths = np.diff(b.tree_offsets)
        bit = np.concatenate([np.zeros(0, dtype=np.int64)] + [np.arange(d, dtype=np.int64) for d in depths])
        border_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.borders = _readonly(borders.astype(np.float32))
        self.args = tuple(_readonly(a) for a in (
            b.slot_column[used].astype(np.int32), self.borders, border_offsets, b.nan_bin[used].astype(kind),
            level_slot.astype(np.int32), lo.astype(kind), hi.astype(kind),
            (1 << bit).astype(np.uint8 if depths.max(initial=0) <= 8 else np.uint16), b.tree_offsets))
        self._row_layout(b, used, border_offsets, level_slot, lo, hi, depths)
        self.numeric = not len(b.cat_column) and not b.ctrs
        self.k, self.width, self.num_trees = b.num_outputs, width, b.num_trees
        # a bias of zeros is not added (as numpy's ``out += bias`` was skipped): -0.0 keeps its sign
        biased = bool(np.any(b.bias != 0.0))
        bias = np.broadcast_to(np.asarray(b.bias, dtype=np.float64), (self.k,))
        self.post = _readonly(np.concatenate([[float(b.scale), float(biased)], bias]))
        self.unbiased_post = _readonly(np.concatenate([[float(b.scale), 0.0], bias]))

    def _row_layout(self, b: Oblivious, used, border_offsets, level_slot, lo, hi, depths) -> None:
        floats = len(used)
        one_hot = hi != 0
        pairs = np.unique(np.stack([level_slot[one_hot] - floats, lo[one_hot]], axis=1).reshape(-1, 2), axis=0)
        row_slot, row_lo = level_slot.copy(), lo.copy()
        if len(pairs):
            found = np.searchsorted(pairs[:, 0] * (1 << 32) + pairs[:, 1],
                                    (level_slot[one_hot] - floats) * (1 << 32) + lo[one_hot])
            row_slot[one_hot], row_lo[one_hot] = floats + found, 1
        deepest = max(1, int(depths.max(initial=0)))
        levels = np.empty((b.num_trees, deepest, 2), dtype=np.uint32)
        levels[:] = (floats + len(pairs), 1)  # the last bin, always 0: never true
        for t in range(b.num_trees):
            a, z = b.tree_offsets[t], b.tree_offsets[t + 1]
            levels[t, :z - a, 0], levels[t, :z - a, 1] = row_slot[a:z], row_lo[a:z]
        sections = [b.slot_column[used], border_offsets, b.nan_bin[used], pairs.reshape(-1), b.leaf_offsets]
        header = [floats, len(pairs)]
        at = K.PLAN_HEADER
        for section in sections:
            header.append(at)
            at += len(section)
        self.plan = _readonly(np.concatenate([header, *sections]).astype(np.int64))
        self.levels = _readonly(levels.reshape(-1))
        self.depth = (0,) * deepest


def input_layout(booster: Oblivious) -> tuple:
    """``_input_layout``, built on first use and kept as long as the booster lives (symmetric or not:
    ``rows`` reads every CatBoost model's input with it)."""
    found = _inputs.get(booster)
    if found is None:
        found = _inputs[booster] = _input_layout(booster)
    return found


_inputs: "weakref.WeakKeyDictionary[Oblivious, tuple]" = weakref.WeakKeyDictionary()


def _input_layout(b: Oblivious) -> tuple:
    """The input columns whose category hashes the model reads (one-hot features, then those only
    CTRs read), and the CTRs packed for ``K.ctr_serial``: per CTR its element ranges, hash index
    offset and bits, counts offset and width, kind, target border and denominator (int64), its
    priors, shift and scale (float32); the elements, hash indexes (``K.ctr_index``) and counts
    concatenated."""
    hashed = [int(j) for j in b.cat_column]
    for ctr in b.ctrs:
        for j in (*ctr.cat_columns, *(c for c, _ in ctr.one_hot_splits)):
            if j not in hashed:
                hashed.append(int(j))
    at = {j: i for i, j in enumerate(hashed)}
    info, priors, cat_at, float_column, float_border, float_nan, one_hot_at, one_hot_value = ([] for _ in range(8))
    tables, counts = [np.zeros((0, 2), dtype=np.uint64)], [np.zeros(0, dtype=np.float64)]
    entries = flat = 0
    for ctr in b.ctrs:
        width = ctr.counts.shape[1]
        bits = max(1, int(2 * len(ctr.hashes) - 1).bit_length())  # 2**bits >= twice the entries
        slots = np.zeros((1 << bits, 2), dtype=np.uint64)
        K.ctr_index(np.ascontiguousarray(ctr.hashes, dtype=np.uint64), bits, slots)
        row = [len(cat_at), len(cat_at) + len(ctr.cat_columns), len(float_column),
               len(float_column) + len(ctr.float_splits), len(one_hot_at), len(one_hot_at) + len(ctr.one_hot_splits),
               entries, bits, flat, width, CTR_TYPES.index(ctr.kind), ctr.target_border, ctr.denominator]
        cat_at += [at[j] for j in ctr.cat_columns]
        for column, border, nan_is_true in ctr.float_splits:
            float_column.append(column)
            float_border.append(border)
            float_nan.append(bool(nan_is_true))
        for column, value in ctr.one_hot_splits:
            one_hot_at.append(at[column])
            one_hot_value.append(value)
        tables.append(slots)
        counts.append(ctr.counts.reshape(-1))
        entries += len(slots)
        flat += ctr.counts.size
        info.append(row)
        priors.append([ctr.prior_numerator, ctr.prior_denominator, ctr.shift, ctr.scale])
    args = (np.array(info, dtype=np.int64).reshape(-1, 13), np.array(priors, dtype=np.float32).reshape(-1, 4),
            np.array(cat_at, dtype=np.int64), np.array(float_column, dtype=np.int64),
            np.array(float_border, dtype=np.float32), np.array(float_nan, dtype=np.bool_),
            np.array(one_hot_at, dtype=np.int64), np.array(one_hot_value, dtype=np.int32),
            np.concatenate(tables).astype(np.uint64), np.concatenate(counts).astype(np.float64))
    return tuple(hashed), tuple(_readonly(a) for a in args)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False  # one Numba type for every model
    return a


def layout(booster: Oblivious, width: int) -> Layout:
    """The booster's kernel layout, built on first use and kept as long as the booster lives."""
    found = _layouts.get(booster)
    if found is None:
        found = _layouts[booster] = Layout(booster, width)
    return found


_layouts: "weakref.WeakKeyDictionary[Oblivious, Layout]" = weakref.WeakKeyDictionary()


def raw(model, X: np.ndarray, codes: np.ndarray, t0: int, t1: int, nthread,
        transform: int = K.NO_TRANSFORM) -> np.ndarray:
    """CatBoost's RawFormulaVal: the trees' float64 sum, scaled, plus the bias when the range
    starts at the first tree (as CatBoost's ApplyScaleAndBias does), in the kernel: ``sum * scale
    + bias``, the two roundings numpy's ``out *= scale; out += bias`` would make; then
    ``transform`` (``kernel_transform``)."""
    b = model.booster
    L = _layouts.get(b) or layout(b, model.meta.num_features)
    n = X.shape[0]
    out = np.empty((n, L.k), dtype=np.float64)  # every row written by the kernel
    post = L.post if t0 == 0 else L.unbiased_post
    if n < K.ROWS_BELOW:
        K.margin_rows(X, codes, L.plan, L.levels, L.borders, b.leaf_values, post, t0, t1, transform, L.depth, out)
    else:
        _engine._run(K.margin_serial, K.margin_parallel, n, nthread,
                     (X, codes, *L.args, b.leaf_offsets, b.leaf_values, L.k, t0, t1, post, out))
        if transform != K.NO_TRANSFORM:
            K.finish_all(out, transform)
    return out


def kernel_transform(model, output_margin: bool) -> int:
    """The output transform the kernels apply (``K.finish``): all but softmax, which needs a
    row's every output."""
    if output_margin:
        return K.NO_TRANSFORM
    return _KERNEL_TRANSFORMS.get(model.objective.transform, K.NO_TRANSFORM)


_KERNEL_TRANSFORMS = {Transform.SIGMOID: K.SIGMOID, Transform.EXP: K.EXPONENT}


def predict(model, data, *, output_margin=False, iteration_range=None, base_margin=None, nthread=None):
    b = model.booster
    L = _layouts.get(b) or layout(b, model.meta.num_features)
    transform = kernel_transform(model, output_margin)
    if (type(data) is np.ndarray and L.numeric and iteration_range is None and base_margin is None
            and data.ndim == 2 and data.shape[1] == L.width and data.dtype.kind in "fiu"):
        # the usual call, a numeric array for a model of float features: no per-call model or input work
        X = data if data.dtype == _FLOAT32 and data.flags.c_contiguous else np.ascontiguousarray(data, _FLOAT32)
        out = raw(model, X, _NO_CODES, 0, L.num_trees, nthread, transform)
    else:
        if base_margin is not None:
            raise DataError("base_margin is not supported for CatBoost models (CatBoost's predict takes no "
                            "baseline)")
        X, codes = rows(model, data, nthread)
        t0, t1 = _engine.tree_range(model, iteration_range)
        out = raw(model, X, codes, t0, t1, nthread, transform)
    return finished(model, out, output_margin)


def finished(model, out: np.ndarray, output_margin: bool) -> np.ndarray:
    """The kernels' outputs (rows x outputs, ``kernel_transform`` applied) shaped as XGBoost's
    predict: softmax where the loss asks for it, one column flattened."""
    if not output_margin and model.objective.transform == Transform.SOFTMAX:
        K.softmax_all(out)
    return out[:, 0] if out.shape[1] == 1 else out


def output(model, out: np.ndarray, output_margin: bool) -> np.ndarray:
    """CatBoost's default output of raw values (rows x outputs), shaped as XGBoost's predict:
    sigmoid, exp (``K.finish``, as the kernels apply them) or softmax as the loss asks, one column
    flattened."""
    transform = kernel_transform(model, output_margin)
    if transform != K.NO_TRANSFORM:
        K.finish_all(out, transform)
    return finished(model, out, output_margin)


_FLOAT32 = np.dtype(np.float32)
_NO_CODES = np.zeros((0, 0), dtype=np.uint16)  # writable, as ``rows`` makes them: one Numba type


def predict_leaf(model, data, *, iteration_range=None, nthread=None) -> np.ndarray:
    """CatBoost's ``calc_leaf_indexes``: uint32 leaf index per row and tree."""
    X, codes = rows(model, data, nthread)
    t0, t1 = _engine.tree_range(model, iteration_range)
    n = X.shape[0]
    out = np.empty((n, t1 - t0), dtype=np.uint32)
    L = layout(model.booster, model.meta.num_features)
    _engine._run(K.leaf_serial, K.leaf_parallel, n, nthread, (X, codes, *L.args, t0, t1, out))
    return out


def warmup(model) -> None:
    """Compile (or load from cache) every kernel with this model's types: rows, serial and parallel
    blocks, leaf indexes, CTRs. The calls go to a stand-in whose features all read column 0, and the
    CTR kernels get no rows, so a wide model allocates no wide rows."""
    from . import SERIAL_BELOW

    b = model.booster
    if b.ctrs:
        hashed, ctr_args = input_layout(b)
        for nthread in (1, None):
            _engine._run(K.ctr_serial, K.ctr_parallel, SERIAL_BELOW, nthread,
                         (np.zeros((0, 1), dtype=np.float32), np.zeros((0, len(hashed)), dtype=np.int32), 0,
                          *ctr_args))
    column, cat_column = np.zeros_like(b.slot_column), np.zeros_like(b.cat_column)
    for arr in (column, cat_column):
        arr.flags.writeable = False  # read-only arrays are another Numba type
    model = dataclasses.replace(model, booster=dataclasses.replace(b, slot_column=column, cat_column=cat_column,
                                                                   ctrs=()),
                                meta=dataclasses.replace(model.meta, num_features=1))
    X = np.zeros((SERIAL_BELOW, 1), dtype=np.int32)  # integers: valid input for float and categorical features
    predict(model, X[:1], output_margin=True)
    for nthread in (1, None):
        predict(model, X, output_margin=True, nthread=nthread)
        predict_leaf(model, X, nthread=nthread)
