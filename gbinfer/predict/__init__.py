"""The thin layer between ``Model`` and the kernels: check the input once, allocate the
output, make one kernel call, apply the objective's transform.

The walk layout the kernels traverse is derived once per booster and kept beside it, so
repeated calls on the same model do no per-call model work.
"""

from __future__ import annotations

import weakref

import numba
import numpy as np

from ..data import DataMatrix
from ..errors import DataError
from ..model import Dart, Linear, Model
from ..objective import Transform
from . import kernels
from .layout import WalkLayout, build_layout
from .transforms import apply_transform

ROW_BLOCK = 128  # rows a thread walks through all trees before the next block
SERIAL_BELOW = 256  # batches smaller than this run on the calling thread: no thread start-up


_layouts: "weakref.WeakKeyDictionary[object, WalkLayout]" = weakref.WeakKeyDictionary()


def walk_layout(booster) -> WalkLayout:
    """The booster's walk layout, built on first use and kept as long as the booster lives."""
    layout = _layouts.get(booster)
    if layout is None:
        forest = booster.forest
        weights = booster.weights if isinstance(booster, Dart) else np.ones(forest.num_trees, dtype=np.float32)
        layout = build_layout(forest, weights)
        _layouts[booster] = layout
    return layout


def as_matrix(model: Model, data) -> DataMatrix:
    """``data`` as a DataMatrix checked against the model's features."""
    dm = data if isinstance(data, DataMatrix) else DataMatrix(data)
    if dm.num_col != model.num_features:
        raise DataError(f"data has {dm.num_col} columns but the model expects {model.num_features} features")
    names = model.features.names
    if names is not None and dm.feature_names is not None and tuple(dm.feature_names) != tuple(names):
        missing = [n for n in names if n not in dm.feature_names]
        raise DataError(f"feature names differ from the model's; model features absent from data: {missing[:10]}"
                        if missing else "feature names are the model's but in another order")
    return dm


def tree_range(model: Model, iteration_range) -> tuple[int, int]:
    """First and one-past-last tree of the boosting rounds in ``iteration_range``."""
    booster = model.booster
    rounds = booster.num_iterations
    if iteration_range is None:
        return 0, int(booster.iteration_indptr[-1])
    begin, end = (int(v) for v in iteration_range)
    if end == 0:
        end = rounds
    if not 0 <= begin < end <= rounds:
        raise DataError(f"iteration_range {tuple(iteration_range)} must satisfy 0 <= begin < end <= {rounds} "
                        f"(the model has {rounds} boosting rounds; (0, 0) means all)")
    return int(booster.iteration_indptr[begin]), int(booster.iteration_indptr[end])


def _initial_margin(model: Model, n: int, base_margin) -> np.ndarray:
    k = model.num_outputs
    if base_margin is None:
        return np.tile(model.meta.base_score, (n, 1))
    bm = np.asarray(base_margin, dtype=np.float32)
    if bm.size != n * k:
        raise DataError(f"base_margin has {bm.size} values; expected {n * k} (rows x outputs = {n} x {k})")
    return np.array(bm.reshape(n, k), dtype=np.float32, order="C")


def _threads(nthread):
    if nthread is not None and nthread > 0:
        numba.set_num_threads(min(int(nthread), numba.config.NUMBA_NUM_THREADS))


def predict_margin(model: Model, dm: DataMatrix, iteration_range=None, base_margin=None, nthread=None):
    """Float32 margins, shape (rows, outputs)."""
    X = dm.values
    out = _initial_margin(model, X.shape[0], base_margin)
    booster = model.booster
    if isinstance(booster, Linear):
        if iteration_range not in (None, (0, 0)):
            tree_range(model, iteration_range)  # validates: a linear model has one round
        kernels.linear_margin(X, booster.weights, booster.bias, out)
        return out
    t0, t1 = tree_range(model, iteration_range)
    L = walk_layout(booster)
    serial = X.shape[0] < SERIAL_BELOW
    _threads(nthread)
    if L.leaf.ndim == 2:
        kernel = kernels.vector_serial if serial else kernels.vector_parallel
        kernel(X, L.node_word, L.threshold, L.left, L.leaf, L.tree_root, L.tree_depth,
               L.cat_offsets, L.cat_bits, t0, t1, out, ROW_BLOCK)
    else:
        kernel = kernels.margin_serial if serial else kernels.margin_parallel
        kernel(X, L.node_word, L.threshold, L.left, L.leaf, L.tree_root, L.tree_depth, L.tree_group,
               L.tree_weight, L.cat_offsets, L.cat_bits, t0, t1, out, ROW_BLOCK)
    return out


def predict(model: Model, data, *, output_margin=False, iteration_range=None, base_margin=None, nthread=None):
    dm = as_matrix(model, data)
    margin = predict_margin(model, dm, iteration_range, base_margin, nthread)
    transform = model.objective.transform
    return _squeeze(margin if output_margin else apply_transform(margin, transform))


def predict_leaf(model: Model, data, *, iteration_range=None, nthread=None) -> np.ndarray:
    booster = model.booster
    if isinstance(booster, Linear):
        raise DataError("predict_leaf needs a tree model; this model's booster is linear")
    dm = as_matrix(model, data)
    t0, t1 = tree_range(model, iteration_range)
    X = dm.values
    L = walk_layout(booster)
    out = np.empty((X.shape[0], t1 - t0), dtype=np.float32)
    _threads(nthread)
    kernel = kernels.leaf_serial if X.shape[0] < SERIAL_BELOW else kernels.leaf_parallel
    kernel(X, L.node_word, L.threshold, L.left, L.tree_root, L.tree_depth, L.cat_offsets, L.cat_bits,
           booster.forest.node_id, t0, t1, out, ROW_BLOCK)
    return _squeeze(out)


def _squeeze(out: np.ndarray) -> np.ndarray:
    """XGBoost's Python predict drops a second axis of length one."""
    return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out


__all__ = ["predict", "predict_leaf", "predict_margin", "as_matrix", "Transform"]
