"""Kernels for CatBoost's non-symmetric trees (Depthwise, Lossguide), over blocks of rows.

Rows are binarised exactly as for symmetric trees (``oblivious_kernels._binarise``: a float or
CTR slot's bin, a one-hot code), so a node's test is the same ``uint32(bin - lo) < span``. The
block's rows then walk a tree together, one step per pass over the rows, as many passes as the
tree's deepest walk: the test picks the right or the left child, and where CatBoost's walk stops
(a step of 0) the node is its own child, so a row that has stopped stays put; then each row
takes its node's leaf. A node is one row of ``nodes`` (int32: slot, lo, span, left, right, leaf,
and two unused, so that a node is 32 bytes and one cache line holds it whole): a step costs one
node load and one bin load. Sums are float64, tree after tree per row, as CatBoost's evaluator
adds them. The arrays were checked by ``Oblivious.build`` (children only point forward, inside
their tree; a leaf wherever a walk stops) and derived in ``predict.nonsymmetric``; the kernels
trust every index in them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .oblivious_kernels import BLOCK, _binarise

SLOT, LO, SPAN, LEFT, RIGHT, LEAF = range(6)  # the columns of ``nodes``
NODE_COLUMNS = 8


@njit(cache=True, nogil=True)
def walk_steps(node_left, node_right, tree_offsets, steps):
    """steps[t] = the number of edges of tree ``t``'s longest walk. Children lie after their node,
    so a node's depth is final when the loop reaches it."""
    depth = np.zeros(node_left.shape[0], dtype=np.int64)
    for t in range(tree_offsets.shape[0] - 1):
        steps[t] = 0
        for n in range(tree_offsets[t], tree_offsets[t + 1]):
            for child in (node_left[n], node_right[n]):
                if child >= 0:
                    depth[child] = max(depth[child], depth[n] + 1)
            steps[t] = max(steps[t], depth[n])


@njit(cache=True, nogil=True)
def _walk(bins, m, t, nodes, tree_offsets, tree_steps, idx):
    """idx[i] = the node where row ``i`` of the block stops in tree ``t``."""
    root = tree_offsets[t]
    for i in range(m):
        idx[i] = root
    for _ in range(tree_steps[t]):
        for i in range(m):
            node = nodes[idx[i]]
            go = np.uint32(bins[node[SLOT], i] - np.uint32(node[LO])) < np.uint32(node[SPAN])
            idx[i] = node[RIGHT] if go else node[LEFT]


@njit(cache=True, nogil=True)
def _margin_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_steps,
                  leaf_offsets, leaf_values, k, t0, t1, out, bins, idx, acc):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for j in range(k):
        for i in range(m):
            acc[j, i] = 0.0
    for t in range(t0, t1):
        _walk(bins, m, t, nodes, tree_offsets, tree_steps, idx)
        base = leaf_offsets[t]
        if k == 1:
            row = acc[0]
            for i in range(m):
                row[i] += leaf_values[base + nodes[idx[i], LEAF]]
        else:
            for i in range(m):
                at = base + nodes[idx[i], LEAF] * k
                for j in range(k):
                    acc[j, i] += leaf_values[at + j]
    for i in range(m):
        for j in range(k):
            out[r0 + i, j] = acc[j, i]


@njit(cache=True, nogil=True)
def _scratch(slot_column, codes, k):
    """A block's bins (at least one row: a node where every walk stops reads slot 0), node
    indexes and sums."""
    bins = np.empty((max(slot_column.shape[0] + codes.shape[1], 1), BLOCK), dtype=np.uint32)
    return bins, np.empty(BLOCK, dtype=np.intp), np.empty((k, BLOCK), dtype=np.float64)


@njit(cache=True, nogil=True)
def margin_serial(X, codes, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_steps,
                  leaf_offsets, leaf_values, k, t0, t1, out):
    """Trees ``t0..t1-1`` summed into ``out`` (float64, rows x k)."""
    n = X.shape[0]
    bins, idx, acc = _scratch(slot_column, codes, k)
    for r0 in range(0, n, BLOCK):
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, nodes,
                      tree_offsets, tree_steps, leaf_offsets, leaf_values, k, t0, t1, out, bins, idx, acc)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_steps,
                    leaf_offsets, leaf_values, k, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins, idx, acc = _scratch(slot_column, codes, k)
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, nodes,
                      tree_offsets, tree_steps, leaf_offsets, leaf_values, k, t0, t1, out, bins, idx, acc)


@njit(cache=True, nogil=True)
def _leaf_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_steps,
                t0, t1, out, bins, idx):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for t in range(t0, t1):
        _walk(bins, m, t, nodes, tree_offsets, tree_steps, idx)
        for i in range(m):
            out[r0 + i, t - t0] = nodes[idx[i], LEAF]


@njit(cache=True, nogil=True)
def leaf_serial(X, codes, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_steps, t0, t1,
                out):
    """Leaf index (within its tree) of trees ``t0..t1-1`` per row into ``out`` (uint32, rows x trees)."""
    n = X.shape[0]
    bins, idx, _ = _scratch(slot_column, codes, 1)
    for r0 in range(0, n, BLOCK):
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, nodes,
                    tree_offsets, tree_steps, t0, t1, out, bins, idx)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_steps, t0, t1,
                  out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins, idx, _ = _scratch(slot_column, codes, 1)
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, nodes,
                    tree_offsets, tree_steps, t0, t1, out, bins, idx)
