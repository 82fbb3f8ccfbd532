"""Prediction for CatBoost's non-symmetric trees (Depthwise, Lossguide): the input read exactly as
for symmetric trees (``oblivious.rows``: float32 features, hashed categories, CTR columns), one
kernel call, then ``scale_and_bias`` and CatBoost's default output.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..errors import DataError
from ..oblivious import Oblivious
from . import nonsymmetric_kernels as N
from .oblivious import output, rows


def is_nonsymmetric(model) -> bool:
    return isinstance(model.booster, Oblivious) and not model.booster.symmetric


def _kernel_args(booster: Oblivious) -> tuple:
    """The booster's arrays as the kernels take them, derived once per booster: each node one row of
    ``nodes`` (see ``nonsymmetric_kernels``), its split resolved through the split table (slot, lo,
    span), a child of -1 (the walk stops) replaced by the node itself; each tree's longest walk."""
    args = _args.get(booster)
    if args is None:
        b = booster
        nodes = np.zeros((len(b.node_left), N.NODE_COLUMNS), dtype=np.int32)
        if len(b.split_slot):  # else no binary feature: every node ends every walk, no split is read
            for column, table in ((N.SLOT, b.split_slot), (N.LO, b.split_lo), (N.SPAN, b.split_span)):
                nodes[:, column] = table[b.tree_splits]
        own = np.arange(len(b.node_left), dtype=np.int32)  # a walk that stops stays at its node
        nodes[:, N.LEFT] = np.where(b.node_left < 0, own, b.node_left)
        nodes[:, N.RIGHT] = np.where(b.node_right < 0, own, b.node_right)
        nodes[:, N.LEAF] = b.node_leaf
        steps = np.empty(b.num_trees, dtype=np.int64)
        N.walk_steps(b.node_left, b.node_right, b.tree_offsets, steps)
        args = (b.slot_column, b.borders, b.border_offsets, b.nan_bin.astype(np.uint32), nodes, b.tree_offsets, steps)
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
    _run(N.margin_serial, N.margin_parallel, n, nthread,
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
    return output(model, out, output_margin)


def predict_leaf(model, data, *, iteration_range=None, nthread=None) -> np.ndarray:
    """CatBoost's ``calc_leaf_indexes``: uint32 per row and tree, the leaf's position among its
    tree's leaves."""
    from . import _run, tree_range

    X, codes = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    n = X.shape[0]
    out = np.empty((n, t1 - t0), dtype=np.uint32)
    _run(N.leaf_serial, N.leaf_parallel, n, nthread, (X, codes, *_kernel_args(model.booster), t0, t1, out))
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
