"""Kernels for oblivious (CatBoost symmetric) trees, over blocks of rows.

Per block: each used float feature is binarised once per row (``_binarise``) and the one-hot
codes of the categorical features (computed before the call, ``codes``) are placed after them;
then every tree's leaf index is ``depth`` comparisons of those small integers, one bit each.
Bins are stored feature-major (a slot's bins for the block's rows side by side), and a tree level
reads one slot for every row of the block: a loop the compiler vectorises, with no branch on the
data. A level's test is ``uint32(bin - lo) < span`` (see ``Oblivious``). Sums are float64,
tree after tree per row, as CatBoost's evaluator adds them. The model was checked by
``Oblivious.build``; the kernels trust every index in it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 128  # rows binarised together: their bins stay in cache while every tree reads them


@njit(cache=True, nogil=True)
def _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins):
    """bins[s, i] = number of float slot s's borders strictly below X[r0 + i, column] (CatBoost's
    ``x > border`` counted), or the slot's NaN bin; the one-hot codes follow the float slots.

    The search is branch-free (its step count depends on the border count only, and each step is
    a select), so rows of unrelated values cost no mispredicted branches."""
    floats = slot_column.shape[0]
    for c in range(codes.shape[1]):
        for i in range(r1 - r0):
            bins[floats + c, i] = codes[r0 + i, c]
    m = r1 - r0
    xs = np.empty(BLOCK, dtype=X.dtype)
    for s in range(floats):
        column = slot_column[s]
        row = bins[s]
        for i in range(m):
            row[i] = 0
        for i in range(m):
            xs[i] = X[r0 + i, column]
        for j in range(border_offsets[s], border_offsets[s + 1]):
            border = borders[j]
            for i in range(m):
                row[i] += np.uint32(xs[i] > border)
        nb = nan_bin[s]
        for i in range(m):
            x = X[r0 + i, column]
            if x != x:
                row[i] = nb


@njit(cache=True, nogil=True)
def _leaves(bins, m, t, level_slot, level_lo, level_span, tree_offsets, idx):
    """idx[i] = leaf of tree ``t`` for row ``i`` of the block, for its first ``m`` rows."""
    for i in range(m):
        idx[i] = 0
    a = tree_offsets[t]
    for d in range(tree_offsets[t + 1] - a):
        row = bins[level_slot[a + d]]
        lo = level_lo[a + d]
        span = level_span[a + d]
        for i in range(m):
            idx[i] |= np.uint32(np.uint32(row[i] - lo) < span) << d


@njit(cache=True, nogil=True)
def _margin_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo,
                  level_span, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out, bins, idx, acc):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for j in range(k):
        for i in range(m):
            acc[j, i] = 0.0
    for t in range(t0, t1):
        _leaves(bins, m, t, level_slot, level_lo, level_span, tree_offsets, idx)
        base = leaf_offsets[t]
        for j in range(k):
            row = acc[j]
            for i in range(m):
                row[i] += leaf_values[base + idx[i] * k + j]
    for i in range(m):
        for j in range(k):
            out[r0 + i, j] = acc[j, i]


@njit(cache=True, nogil=True)
def margin_serial(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_span,
                  tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out):
    """Trees ``t0..t1-1`` summed into ``out`` (float64, rows x k)."""
    n = X.shape[0]
    bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
    idx = np.empty(BLOCK, dtype=np.uint32)
    acc = np.empty((k, BLOCK), dtype=np.float64)
    for r0 in range(0, n, BLOCK):
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                      level_lo, level_span, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out, bins, idx,
                      acc)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_span,
                    tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
        idx = np.empty(BLOCK, dtype=np.uint32)
        acc = np.empty((k, BLOCK), dtype=np.float64)
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                      level_lo, level_span, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out, bins, idx,
                      acc)


@njit(cache=True, nogil=True)
def _leaf_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_span,
                tree_offsets, t0, t1, out, bins, idx):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for t in range(t0, t1):
        _leaves(bins, m, t, level_slot, level_lo, level_span, tree_offsets, idx)
        for i in range(m):
            out[r0 + i, t - t0] = idx[i]


@njit(cache=True, nogil=True)
def leaf_serial(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_span,
                tree_offsets, t0, t1, out):
    """Leaf index of trees ``t0..t1-1`` per row into ``out`` (uint32, rows x trees)."""
    n = X.shape[0]
    bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
    idx = np.empty(BLOCK, dtype=np.uint32)
    for r0 in range(0, n, BLOCK):
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                    level_lo, level_span, tree_offsets, t0, t1, out, bins, idx)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_span,
                  tree_offsets, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=np.uint32)
        idx = np.empty(BLOCK, dtype=np.uint32)
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                    level_lo, level_span, tree_offsets, t0, t1, out, bins, idx)
