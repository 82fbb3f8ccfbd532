"""Compiled traversal kernels. They trust their inputs: ``SoAForest.build`` proved every index.

Layout facts the kernels rely on (guaranteed by ``forest.assemble``/``SoAForest.build``):
a node is a leaf when ``left[node] < 0``; otherwise its right child is ``left[node] + 1``.

Each traversal comes in a numeric-only and a categorical form, chosen once per model, so a
forest without category sets pays nothing for them. Each batch kernel has a serial form for
small batches (no thread start-up) and a ``prange`` form over row blocks. Within a row, trees
are added in model order in float32, starting from the base margin, as XGBoost does: that
order is what makes margins bit-identical.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MAX_CATEGORY = np.float32(16777216.0)  # XGBoost treats codes >= 2**24 (not exact in float32) as invalid


@njit(cache=True, nogil=True, inline="always")
def _leaf_numeric(X, row, root, feature, threshold, left, default_left):
    node = root
    while left[node] >= 0:
        x = X[row, feature[node]]
        if math.isnan(x):
            node = left[node] + 1 - np.int64(default_left[node])
        elif x < threshold[node]:
            node = left[node]
        else:
            node = left[node] + 1
    return node


@njit(cache=True, nogil=True, inline="always")
def _leaf_categorical(X, row, root, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits):
    node = root
    while left[node] >= 0:
        x = X[row, feature[node]]
        if math.isnan(x):
            node = left[node] + 1 - np.int64(default_left[node])
        elif is_cat[node]:
            # XGBoost: a category in the set goes right; negative, too large, or beyond the
            # stored set goes left; a fractional code is truncated toward zero.
            go_right = 0
            if x >= 0 and x < MAX_CATEGORY:
                code = np.int64(x)
                word = cat_offsets[node] + (code >> 5)
                if word < cat_offsets[node + 1]:
                    go_right = np.int64((cat_bits[word] >> np.uint32(code & 31)) & np.uint32(1))
            node = left[node] + go_right
        elif x < threshold[node]:
            node = left[node]
        else:
            node = left[node] + 1
    return node


@njit(cache=True, nogil=True)
def _margin_rows_numeric(X, r0, r1, feature, threshold, left, default_left, leaf, tree_offsets, tree_group,
                         tree_weight, t0, t1, out):
    for t in range(t0, t1):
        root = tree_offsets[t]
        group = tree_group[t]
        weight = tree_weight[t]
        for row in range(r0, r1):
            node = _leaf_numeric(X, row, root, feature, threshold, left, default_left)
            out[row, group] += leaf[node] * weight


@njit(cache=True, nogil=True)
def _margin_rows_categorical(X, r0, r1, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits,
                             leaf, tree_offsets, tree_group, tree_weight, t0, t1, out):
    for t in range(t0, t1):
        root = tree_offsets[t]
        group = tree_group[t]
        weight = tree_weight[t]
        for row in range(r0, r1):
            node = _leaf_categorical(X, row, root, feature, threshold, left, default_left, is_cat, cat_offsets,
                                     cat_bits)
            out[row, group] += leaf[node] * weight


@njit(cache=True, nogil=True)
def _margin_rows_vector(X, r0, r1, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits,
                        leaf_vectors, tree_offsets, t0, t1, out):
    width = leaf_vectors.shape[1]
    for t in range(t0, t1):
        root = tree_offsets[t]
        for row in range(r0, r1):
            node = _leaf_categorical(X, row, root, feature, threshold, left, default_left, is_cat, cat_offsets,
                                     cat_bits)
            for k in range(width):
                out[row, k] += leaf_vectors[node, k]


@njit(cache=True, nogil=True)
def _leaf_index_rows(X, r0, r1, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits, node_id,
                     tree_offsets, t0, t1, out):
    for t in range(t0, t1):
        root = tree_offsets[t]
        for row in range(r0, r1):
            node = _leaf_categorical(X, row, root, feature, threshold, left, default_left, is_cat, cat_offsets,
                                     cat_bits)
            out[row, t - t0] = node_id[node]


# --- batch entry points: serial over all rows, or parallel over blocks of rows --------------

@njit(cache=True, nogil=True)
def margin_numeric_serial(X, feature, threshold, left, default_left, leaf, tree_offsets, tree_group,
                          tree_weight, t0, t1, out, block):
    _margin_rows_numeric(X, 0, X.shape[0], feature, threshold, left, default_left, leaf, tree_offsets,
                         tree_group, tree_weight, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def margin_numeric_parallel(X, feature, threshold, left, default_left, leaf, tree_offsets, tree_group,
                            tree_weight, t0, t1, out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _margin_rows_numeric(X, b * block, min(n, (b + 1) * block), feature, threshold, left, default_left,
                             leaf, tree_offsets, tree_group, tree_weight, t0, t1, out)


@njit(cache=True, nogil=True)
def margin_categorical_serial(X, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits, leaf,
                              tree_offsets, tree_group, tree_weight, t0, t1, out, block):
    _margin_rows_categorical(X, 0, X.shape[0], feature, threshold, left, default_left, is_cat, cat_offsets,
                             cat_bits, leaf, tree_offsets, tree_group, tree_weight, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def margin_categorical_parallel(X, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits, leaf,
                                tree_offsets, tree_group, tree_weight, t0, t1, out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _margin_rows_categorical(X, b * block, min(n, (b + 1) * block), feature, threshold, left, default_left,
                                 is_cat, cat_offsets, cat_bits, leaf, tree_offsets, tree_group, tree_weight, t0,
                                 t1, out)


@njit(cache=True, nogil=True)
def margin_vector_serial(X, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits, leaf_vectors,
                         tree_offsets, t0, t1, out, block):
    _margin_rows_vector(X, 0, X.shape[0], feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits,
                        leaf_vectors, tree_offsets, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def margin_vector_parallel(X, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits,
                           leaf_vectors, tree_offsets, t0, t1, out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _margin_rows_vector(X, b * block, min(n, (b + 1) * block), feature, threshold, left, default_left, is_cat,
                            cat_offsets, cat_bits, leaf_vectors, tree_offsets, t0, t1, out)


@njit(cache=True, nogil=True)
def leaf_index_serial(X, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits, node_id,
                      tree_offsets, t0, t1, out, block):
    _leaf_index_rows(X, 0, X.shape[0], feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits,
                     node_id, tree_offsets, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def leaf_index_parallel(X, feature, threshold, left, default_left, is_cat, cat_offsets, cat_bits, node_id,
                        tree_offsets, t0, t1, out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _leaf_index_rows(X, b * block, min(n, (b + 1) * block), feature, threshold, left, default_left, is_cat,
                         cat_offsets, cat_bits, node_id, tree_offsets, t0, t1, out)


@njit(cache=True, nogil=True)
def linear_margin(X, weights, bias, out):
    """XGBoost gblinear: per row and output, bias + base first, then x[f] * w[f] in feature order."""
    n, num_features = X.shape
    for row in range(n):
        for g in range(out.shape[1]):
            acc = out[row, g] + bias[g]
            for f in range(num_features):
                x = X[row, f]
                if not math.isnan(x):
                    acc += x * weights[f, g]
            out[row, g] = acc
