"""Feature contributions (TreeSHAP, Saabas) and SHAP interaction values with XGBoost's shapes
and semantics (``pred_contribs``, ``approx_contribs``, ``pred_interactions``).

Output: per row and output, one value per feature then the bias column, which holds every
tree's expected value (its root's cover-weighted mean, times the tree's DART weight) plus the
base score or the row's ``base_margin``. So each row's contributions add up to its margin.
Shapes drop the output axis for single-output models, as XGBoost's Python ``predict`` does.

Departures from XGBoost 3.2, each where it refuses or fails: vector-leaf trees (multi-target
``multi_output_tree``) get contributions per output (leaves are linear in the path weights, so
one path computation serves every output); an ``iteration_range`` need not start at round 0
(the values then add up to that range's margin); a linear model's interaction values are its
contributions on the diagonal (XGBoost 3.2 fails to shape them).

The per-booster arrays the kernels read (node means, each tree's split features, the split
feature per node, the per-node factors of ``shap_quadrature_kernels`` for contributions and the
per-leaf tables of ``shap_kernels`` for interaction values) are derived on first use and kept
beside the booster, like the walk layout. The factors take a fraction of a second for a large
model and ``warmup`` builds them; the interaction tables take seconds and are built by the
first ``predict_interactions``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, UnsupportedModelError
from ..model import Linear, Model, Tree
from ..oblivious import Oblivious
from . import shap_kernels as K
from . import shap_quadrature_kernels as QK
from .lightgbm import is_lightgbm

_layouts: "weakref.WeakKeyDictionary[object, ShapLayout]" = weakref.WeakKeyDictionary()
_tables: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()
_pairs: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()
_quadratures: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()
# Deepest tree whose contributions come by quadrature (the kernels take up to QK.MAX_FEATURES);
# deeper trees keep the recursion, which equals XGBoost's values bit for bit, where its own
# float32 rounding over long paths grows past what the tests bound for the quadrature.
QUADRATURE_DEPTH = 12
SHARED_TREES_BELOW = 1 << 14  # internal nodes x rows below which a small batch explains on one thread
TABLE_BUDGET = 1 << 25  # float32 values of per-leaf SHAP tables of each kind a model may keep (128 MiB)


@dataclass(frozen=True, eq=False)
class ShapLayout:
    feature: np.ndarray  # int32 [n_nodes]: split feature (0 at leaves)
    mean: np.ndarray  # float32 [n_nodes, leaf_size]: cover-weighted mean leaf value below each node
    feat_ptr: np.ndarray  # int64 [n_trees + 1]: tree t splits on feats[feat_ptr[t]:feat_ptr[t + 1]]
    feats: np.ndarray  # int32, each tree's distinct split features, ascending


def _shap_layout(booster) -> ShapLayout:
    layout = _layouts.get(booster)
    if layout is None:
        f = booster.forest
        feature = f.split_feature.astype(np.int32)
        mean = np.empty(f.leaf_values.shape, dtype=np.float32)
        K.node_means(f.left, f.cover, f.leaf_values, mean)
        internal = ~f.is_leaf
        tree_of_node = np.repeat(np.arange(f.num_trees, dtype=np.int64), np.diff(f.tree_offsets))
        width = int(feature.max(initial=0)) + 1
        pairs = np.unique(tree_of_node[internal] * width + feature[internal])  # (tree, feature) once each
        tree_of_pair = pairs // width
        feats = (pairs % width).astype(np.int32)
        feat_ptr = np.searchsorted(tree_of_pair, np.arange(f.num_trees + 1), side="left").astype(np.int64)
        layout = ShapLayout(feature=feature, mean=mean, feat_ptr=feat_ptr, feats=feats)
        _layouts[booster] = layout
    return layout


def _quadrature(booster) -> tuple:
    """What ``shap_quadrature_kernels`` reads (built on first use, kept beside the booster):
    each tree's internal nodes, per node the table of its edge's factors and weights, per
    internal node the hot bit of its feature, the leaf values with ones at
    internal nodes, and which trees it takes (no deeper than ``QUADRATURE_DEPTH``, no zero
    cover fraction); the others keep the recursion. The rule has
    4 or 8 points (exact for up to 8 or 16 distinct features on a path): two specialisations of
    the kernel rather than one per depth."""
    quad = _quadratures.get(booster)
    if quad is None:
        f = booster.forest
        n = f.num_nodes
        edge_z = np.ones(n, dtype=np.float32)
        edge_prev = np.full(n, -1, dtype=np.int32)
        pos = np.zeros(n, dtype=np.int32)
        ok = np.ones(f.num_trees, dtype=np.uint8)
        layout = _shap_layout(booster)
        QK.edge_tables(f.left, f.cover, layout.feature, f.tree_offsets, f.tree_depth,
                       min(QUADRATURE_DEPTH, QK.MAX_FEATURES), edge_z, edge_prev, pos, ok)
        deepest = int(f.tree_depth[ok != 0].max(initial=1))
        points = 4 if deepest <= 8 else 8
        table = _aligned(n * 2 * 2 * points, np.float32).reshape(n, 2, 2, points)
        after_cold = np.zeros(n, dtype=np.float32)
        QK.node_factors(edge_z, edge_prev, QK.gauss_legendre(points), table, after_cold)
        leaf_or_one = np.where(f.is_leaf[:, None], f.leaf_values, np.float32(1)).astype(np.float32)
        if leaf_or_one.shape[1] == 1:
            leaf_or_one = leaf_or_one[:, 0].copy()  # a vector: the kernels drop their loops over outputs
        internal = np.flatnonzero(~f.is_leaf).astype(np.int32)
        int_ptr = np.searchsorted(internal, f.tree_offsets).astype(np.int64)
        quad = (ok, internal, int_ptr, pos.astype(np.uint8), _local_features(f, layout), table.reshape(-1), after_cold,
                QK.points_marker(points), leaf_or_one,
                f.tree_offsets[1:].astype(np.int64))
        _quadratures[booster] = quad
    return quad


def _local_features(f, layout: ShapLayout) -> np.ndarray:
    """Per internal node, the position of its split feature among its tree's (``layout.feats``
    from ``feat_ptr[tree]``), where the quadrature keeps the tree's values; 0 at leaves. Below
    2**16: a tree the quadrature takes is at most 16 deep, so it has fewer split nodes."""
    tree_of_node = np.repeat(np.arange(f.num_trees, dtype=np.int64), np.diff(f.tree_offsets))
    tree_of_pair = np.repeat(np.arange(f.num_trees, dtype=np.int64), np.diff(layout.feat_ptr))
    width = int(layout.feature.max(initial=0)) + 1
    at = np.searchsorted(tree_of_pair * width + layout.feats, tree_of_node * width + layout.feature)
    return np.where(f.is_leaf, 0, at - layout.feat_ptr[tree_of_node]).astype(np.uint16)


def _aligned(size: int, dtype) -> np.ndarray:
    """Zeroed ``[size]`` starting on a 64-byte boundary, so that each node's record of the
    quadrature table (two states of 4-point float32 factors and weights) is one cache line
    rather than two: a single row reads the table mostly from memory."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(size + 64 // itemsize, dtype=dtype)
    skip = (-raw.ctypes.data % 64) // itemsize
    return raw[skip:skip + size]


def _leaf_tables(booster) -> tuple:
    """The per-leaf tables of ``shap_kernels`` (built on first use, kept beside the booster):
    trees are tabulated in order while the budget lasts, if no more than ``TABLE_DEPTH`` deep
    and with no zero cover fraction on a path; the others keep the recursion."""
    tables = _tables.get(booster)
    if tables is None:
        f = booster.forest
        n, width = f.num_nodes, K.TABLE_DEPTH
        pos = np.zeros(n, dtype=np.int32)
        leaf_d = np.full(n, -1, dtype=np.int32)
        leaf_feat = np.zeros((n, width), dtype=np.int32)
        leaf_z = np.ones((n, width), dtype=np.float32)
        S = _shap_layout(booster)
        K.leaf_paths(f.left, f.cover, S.feature, f.tree_offsets, f.tree_depth, width, pos, leaf_d, leaf_feat, leaf_z)
        tree_of_node = np.repeat(np.arange(f.num_trees), np.diff(f.tree_offsets))
        positive = np.where(np.arange(width)[None, :] < np.maximum(leaf_d, 0)[:, None], leaf_z > 0, True).all(axis=1)
        size = np.where(leaf_d >= 0, np.left_shift(1, np.maximum(leaf_d, 0)), 0).astype(np.int64)
        per_tree = np.bincount(tree_of_node, weights=size, minlength=f.num_trees).astype(np.int64)
        ok = (f.tree_depth <= width) & (np.bincount(tree_of_node, weights=~positive, minlength=f.num_trees) == 0)
        tabulated = ok & (np.cumsum(np.where(ok, per_tree, 0)) <= TABLE_BUDGET)
        size = np.where(tabulated[tree_of_node], size, 0)
        leaf_off = np.where(size > 0, np.cumsum(size) - size, -1).astype(np.int64)
        table = np.zeros(int(size.sum()), dtype=np.float32)
        _fill(leaf_d, leaf_z, leaf_off, table, False)
        with np.errstate(divide="ignore"):
            ratio = ((1 - leaf_z.astype(np.float64)) / leaf_z).astype(np.float32)
        tables = (tabulated.astype(np.uint8), pos, leaf_d, leaf_off, leaf_feat, ratio, table,
                  f.tree_offsets[1:].astype(np.int64), leaf_z)
        _tables[booster] = tables
    return tables


def _pair_tables(booster) -> tuple:
    """Per-leaf tables of the games with one path feature taken out (d * 2**(d - 1) values a
    leaf), for interaction values; same rules and budget as ``_leaf_tables``."""
    pairs = _pairs.get(booster)
    if pairs is None:
        tabulated, _, leaf_d, leaf_off, _, _, _, _, leaf_z = _leaf_tables(booster)
        f = booster.forest
        tree_of_node = np.repeat(np.arange(f.num_trees), np.diff(f.tree_offsets))
        d = np.maximum(leaf_d, 0)
        size = np.where((leaf_off >= 0) & (d >= 2), d * np.left_shift(1, np.maximum(d - 1, 0)), 0).astype(np.int64)
        per_tree = np.bincount(tree_of_node, weights=size, minlength=f.num_trees).astype(np.int64)
        paired = (tabulated != 0) & (np.cumsum(np.where(tabulated != 0, per_tree, 0)) <= TABLE_BUDGET)
        size = np.where(paired[tree_of_node], size, 0)
        pair_off = np.where(size > 0, np.cumsum(size) - size, -1).astype(np.int64)
        table = np.zeros(int(size.sum()), dtype=np.float32)
        _fill(leaf_d, leaf_z, pair_off, table, True)
        pairs = (paired.astype(np.uint8), pair_off, table)
        _pairs[booster] = pairs
    return pairs


def _fill(leaf_d, leaf_z, offsets, table, pairs: bool) -> None:
    from . import SERIAL_BELOW, _run

    big = len(table) > (1 << 16)  # a small model's tables are built faster than threads start
    _run(K.fill_serial, K.fill_parallel, SERIAL_BELOW if big else 1, None, (leaf_d, leaf_z, offsets, table, pairs))


def _check_model(model: Model, what: str) -> None:
    booster = model.booster
    if isinstance(booster, Linear):
        return
    forest = getattr(booster, "forest", None)
    if model.meta.source_library != "xgboost" or not isinstance(booster, Tree) or not hasattr(forest, "semantics"):
        raise UnsupportedModelError(None, "booster", f"{what} are computed for XGBoost models; this model comes from "
                                                     f"{model.meta.source_library}")
    if not forest.has_cover:
        raise UnsupportedModelError(None, "cover", f"{what} need each node's cover (XGBoost's sum_hessian), and this "
                                                   "model holds none: it was read from a .xgbrs, native JSON or .apr "
                                                   "file saved without them (schema 1.3 stores them as the optional "
                                                   "array 'cover'); load the XGBoost model file (JSON, UBJ or "
                                                   "binary), or save it again from there")


def _check_flag(value, name: str) -> bool:
    if value is True or value is False or isinstance(value, np.bool_):
        return bool(value)
    raise DataError(f"{name} must be True or False, got {value!r:.60} ({type(value).__name__})")


def _prepare(model: Model, data, iteration_range, base_margin, nthread, what: str):
    from . import _initial_margin, _kernel_rows, check_options, rows, tree_range, walk_layout

    _check_model(model, what)
    if nthread is not None:
        check_options(nthread=nthread)
    X = rows(model, data)
    n = X.shape[0]
    base = _initial_margin(model, n, base_margin)
    booster = model.booster
    if isinstance(booster, Linear):
        from . import _rounds_pair

        if _rounds_pair(iteration_range) not in (None, (0, 0)):
            raise DataError(f"iteration_range {tuple(iteration_range)} is invalid: a linear model has one round")
        return X, base, None, n
    t0, t1 = tree_range(model, iteration_range)
    walk = walk_layout(booster)
    slots, word, split_key, left, _, roots, _, groups, weights, cat_offsets, cat_bits = walk.margin_args
    S = _shap_layout(booster)
    f = booster.forest
    max_depth = int(f.tree_depth[t0:t1].max(initial=0))
    args = (_kernel_rows(X, walk), slots, (word, split_key, left, cat_offsets, cat_bits), S.feature, left, f.cover,
            f.leaf_values, S.mean, roots, f.tree_group, weights, S.feat_ptr, S.feats, max_depth,
            t0, t1, base)
    return X, base, args, n


def predict_contribs(model: Model, data, *, approximate=False, iteration_range=None, base_margin=None,
                     nthread=None) -> np.ndarray:
    from . import _run

    approximate = _check_flag(approximate, "approximate")
    if isinstance(model.booster, Oblivious):
        from . import shap_catboost

        return shap_catboost.predict_contribs(model, data, approximate=approximate, iteration_range=iteration_range,
                                              base_margin=base_margin, nthread=nthread)
    if is_lightgbm(model):
        from . import shap_lightgbm

        return shap_lightgbm.predict_contribs(model, data, approximate=approximate, iteration_range=iteration_range,
                                              base_margin=base_margin, nthread=nthread)
    X, base, args, n = _prepare(model, data, iteration_range, base_margin, nthread, "feature contributions")
    F, k = model.meta.num_features, model.meta.num_outputs
    if args is None:
        return _squeeze(_linear_contribs(model.booster, X, base, F), k)
    out = np.zeros((n, k, F + 1), dtype=np.float32)
    _run(QK.contribs_serial, QK.contribs_parallel, _contribs_batch_size(n, model, iteration_range), nthread,
         (*args, approximate, _quadrature(model.booster), out))
    return _squeeze(out, k)


def predict_interactions(model: Model, data, *, approximate=False, iteration_range=None, base_margin=None,
                         nthread=None) -> np.ndarray:
    from . import _run

    approximate = _check_flag(approximate, "approximate")
    if isinstance(model.booster, Oblivious):
        from . import shap_catboost

        return shap_catboost.predict_interactions(model, data, approximate=approximate,
                                                  iteration_range=iteration_range, base_margin=base_margin,
                                                  nthread=nthread)
    if is_lightgbm(model):
        from . import shap_lightgbm

        shap_lightgbm.check(model, "interaction values", approximate)
    X, base, args, n = _prepare(model, data, iteration_range, base_margin, nthread, "interaction values")
    F, k = model.meta.num_features, model.meta.num_outputs
    if args is None or approximate:
        # Without conditioning only the diagonal is left: XGBoost's approximate interactions
        # are the Saabas values there, a linear model's its contributions.
        if args is None:
            phi = _linear_contribs(model.booster, X, base, F)
        else:
            phi = np.zeros((n, k, F + 1), dtype=np.float32)
            _run(QK.contribs_serial, QK.contribs_parallel, _contribs_batch_size(n, model, iteration_range), nthread,
                 (*args, True, _quadrature(model.booster), phi))
        out = np.zeros((n, k, F + 1, F + 1), dtype=np.float32)
        idx = np.arange(F + 1)
        out[:, :, idx, idx] = phi
        return _squeeze(out, k)
    out = np.zeros((n, k, F + 1, F + 1), dtype=np.float32)
    tables, pairs = _leaf_tables(model.booster), _pair_tables(model.booster)
    _run(K.interactions_serial, K.interactions_parallel, _batch_size(n), nthread, (*args, tables, pairs, out))
    return _squeeze(out, k)


def warmup(model: Model) -> None:
    """Compile (or load from Numba's cache) the contribution kernels an XGBoost tree model uses,
    serial and parallel, exact and Saabas, and build its quadrature factors, so that a service's
    first ``predict_contribs`` is not a compile. The calls take zero rows of the model's width
    (no allocation however many features it declares), through ``_run`` as real calls go.
    Interaction values are left to their first call: their tables take seconds to build."""
    from . import SERIAL_BELOW, _run

    try:
        _check_model(model, "feature contributions")
    except UnsupportedModelError:
        return  # nothing to explain with: predict_contribs refuses this model
    if isinstance(model.booster, Linear):
        return
    empty = np.zeros((0, model.meta.num_features), dtype=np.float32)
    _, _, args, _ = _prepare(model, empty, None, None, None, "feature contributions")
    out = np.zeros((0, model.meta.num_outputs, model.meta.num_features + 1), dtype=np.float32)
    quad = _quadrature(model.booster)
    for approximate in (False, True):
        for size in (1, SERIAL_BELOW):  # a size that runs serially, then one that runs in parallel
            _run(QK.contribs_serial, QK.contribs_parallel, size, None, (*args, approximate, quad, out))


def _batch_size(n: int) -> int:
    """The row count ``_run`` weighs against its serial threshold: a row costs a whole tree
    traversal per tree here, so any batch of more than one chunk of rows is worth the threads."""
    from . import SERIAL_BELOW

    return SERIAL_BELOW if n > K.CHUNK else 1


def _contribs_batch_size(n: int, model: Model, iteration_range) -> int:
    """As ``_batch_size``, and a batch of one chunk too when its trees are big enough to share
    among the threads (``SHARED_TREES_BELOW`` internal nodes times rows: a few times the cost of
    starting them)."""
    from . import SERIAL_BELOW, tree_range

    t0, t1 = tree_range(model, iteration_range)
    int_ptr = _quadrature(model.booster)[2]
    shared = n * int(int_ptr[t1] - int_ptr[t0]) >= SHARED_TREES_BELOW
    return SERIAL_BELOW if shared else _batch_size(n)


def _linear_contribs(booster: Linear, X, base: np.ndarray, F: int) -> np.ndarray:
    """gblinear: each present feature contributes x * weight; the bias column is the model's
    bias plus the base score (or the row's base margin), in that order, as XGBoost adds them."""
    n, k = base.shape
    out = np.zeros((n, k, F + 1), dtype=np.float32)
    W = booster.weights
    if type(X) is np.ndarray:
        present = ~np.isnan(X)
        x = np.where(present, X, np.float32(0))
        out[:, :, :F] = np.where(present[:, None, :], x[:, None, :] * W.T[None, :, :], np.float32(0))
    else:
        row = np.repeat(np.arange(n), np.diff(X.indptr))
        keep = ~np.isnan(X.values) & (X.indices < F)
        row, col, val = row[keep], X.indices[keep].astype(np.int64), X.values[keep]
        out[row, :, col] = val[:, None] * W[col]
    out[:, :, F] = booster.bias[None, :] + base
    return out


def _squeeze(out: np.ndarray, k: int) -> np.ndarray:
    return out[:, 0] if k == 1 else out


__all__ = ["predict_contribs", "predict_interactions", "warmup"]
