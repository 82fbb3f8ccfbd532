"""Kernels for CatBoost's non-symmetric trees (Depthwise, Lossguide), over blocks of rows.

Rows are binarised exactly as for symmetric trees (``oblivious_kernels._binarise``: a float or
CTR slot's bin, a one-hot code), so a node's test is the same ``uint32(bin - lo) < span``. Each
row then walks each tree from its root: the test picks the right or the left child, and the walk
stops at a node whose chosen child is -1 (CatBoost's step of 0), taking that node's leaf. Sums
are float64, tree after tree per row, as CatBoost's evaluator adds them. The model was checked
by ``Oblivious.build`` (children only point forward, inside their tree; a leaf wherever a walk
stops); the kernels trust every index in it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .oblivious_kernels import BLOCK, _binarise


@njit(cache=True, nogil=True, inline="always")
def _leaf(bins, i, root, node_slot, node_lo, node_span, node_left, node_right, node_leaf):
    """Leaf of row ``i`` of the block in the tree whose first node is ``root``."""
    n = root
    while True:
        left = node_left[n]
        right = node_right[n]
        if left < 0 and right < 0:
            break
        go = np.uint32(bins[node_slot[n], i] - node_lo[n]) < node_span[n]
        nxt = right if go else left
        if nxt < 0:
            break
        n = nxt
    return node_leaf[n]


@njit(cache=True, nogil=True)
def _margin_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, node_slot, node_lo, node_span,
                  node_left, node_right, node_leaf, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out, bins,
                  acc):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for j in range(k):
        for i in range(m):
            acc[j, i] = 0.0
    for t in range(t0, t1):
        root = tree_offsets[t]
        base = leaf_offsets[t]
        for i in range(m):
            at = base + _leaf(bins, i, root, node_slot, node_lo, node_span, node_left, node_right, node_leaf) * k
            for j in range(k):
                acc[j, i] += leaf_values[at + j]
    for i in range(m):
        for j in range(k):
            out[r0 + i, j] = acc[j, i]


@njit(cache=True, nogil=True)
def margin_serial(X, codes, slot_column, borders, border_offsets, nan_bin, node_slot, node_lo, node_span, node_left,
                  node_right, node_leaf, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out):
    """Trees ``t0..t1-1`` summed into ``out`` (float64, rows x k)."""
    n = X.shape[0]
    bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
    acc = np.empty((k, BLOCK), dtype=np.float64)
    for r0 in range(0, n, BLOCK):
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, node_slot,
                      node_lo, node_span, node_left, node_right, node_leaf, tree_offsets, leaf_offsets, leaf_values,
                      k, t0, t1, out, bins, acc)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, node_slot, node_lo, node_span,
                    node_left, node_right, node_leaf, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
        acc = np.empty((k, BLOCK), dtype=np.float64)
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, node_slot,
                      node_lo, node_span, node_left, node_right, node_leaf, tree_offsets, leaf_offsets, leaf_values,
                      k, t0, t1, out, bins, acc)


@njit(cache=True, nogil=True)
def _leaf_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, node_slot, node_lo, node_span,
                node_left, node_right, node_leaf, tree_offsets, t0, t1, out, bins):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    for t in range(t0, t1):
        root = tree_offsets[t]
        for i in range(r1 - r0):
            out[r0 + i, t - t0] = _leaf(bins, i, root, node_slot, node_lo, node_span, node_left, node_right,
                                        node_leaf)


@njit(cache=True, nogil=True)
def leaf_serial(X, codes, slot_column, borders, border_offsets, nan_bin, node_slot, node_lo, node_span, node_left,
                node_right, node_leaf, tree_offsets, t0, t1, out):
    """Leaf index (within its tree) of trees ``t0..t1-1`` per row into ``out`` (uint32, rows x trees)."""
    n = X.shape[0]
    bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
    for r0 in range(0, n, BLOCK):
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, node_slot,
                    node_lo, node_span, node_left, node_right, node_leaf, tree_offsets, t0, t1, out, bins)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, node_slot, node_lo, node_span, node_left,
                  node_right, node_leaf, tree_offsets, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, node_slot,
                    node_lo, node_span, node_left, node_right, node_leaf, tree_offsets, t0, t1, out, bins)
