"""Kernels for oblivious (CatBoost symmetric) trees, over blocks of rows.

Per block: each used float feature is binarised once per row (``_binarise``) and the one-hot
codes of the categorical features (computed before the call, ``codes``) are placed after them;
then every tree's leaf index is ``depth`` comparisons of those small integers, one bit each. Sums are float64,
tree after tree per row, as CatBoost's evaluator adds them. The model was checked by
``Oblivious.build``; the kernels trust every index in it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 128  # rows binarised together: their bins stay in cache while every tree reads them


@njit(cache=True, nogil=True)
def _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins):
    """bins[i, s] = number of float slot s's borders strictly below X[r0 + i, column] (CatBoost's
    ``x > border`` counted), or the slot's NaN bin; the one-hot codes follow the float slots."""
    floats = slot_column.shape[0]
    for i in range(r1 - r0):
        for c in range(codes.shape[1]):
            bins[i, floats + c] = codes[r0 + i, c]
        for s in range(slot_column.shape[0]):
            x = X[r0 + i, slot_column[s]]
            if x != x:
                bins[i, s] = nan_bin[s]
                continue
            lo = border_offsets[s]
            hi = border_offsets[s + 1]
            base = lo
            while lo < hi:  # first border >= x
                mid = (lo + hi) >> 1
                if borders[mid] < x:
                    lo = mid + 1
                else:
                    hi = mid
            bins[i, s] = lo - base


@njit(cache=True, nogil=True)
def _leaf(bins, i, t, split_slot, split_lo, split_span, tree_splits, tree_offsets):
    idx = 0
    a = tree_offsets[t]
    for d in range(tree_offsets[t + 1] - a):
        s = tree_splits[a + d]
        step = np.int32(bins[i, split_slot[s]]) - split_lo[s]
        if step >= 0 and step < split_span[s]:
            idx |= 1 << d
    return idx


@njit(cache=True, nogil=True)
def _margin_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, split_slot, split_lo,
                  split_span, tree_splits, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out, bins):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    for t in range(t0, t1):
        base = leaf_offsets[t]
        for i in range(r1 - r0):
            idx = _leaf(bins, i, t, split_slot, split_lo, split_span, tree_splits, tree_offsets)
            for j in range(k):
                out[r0 + i, j] += leaf_values[base + idx * k + j]


@njit(cache=True, nogil=True)
def margin_serial(X, codes, slot_column, borders, border_offsets, nan_bin, split_slot, split_lo, split_span,
                  tree_splits, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out):
    """Add trees ``t0..t1-1`` to ``out`` (float64, rows x k, zeros on entry)."""
    n = X.shape[0]
    bins = np.empty((BLOCK, slot_column.shape[0] + codes.shape[1]), dtype=np.uint16)
    for r0 in range(0, n, BLOCK):
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, split_slot,
                      split_lo, split_span, tree_splits, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out,
                      bins)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, split_slot, split_lo, split_span,
                    tree_splits, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((BLOCK, slot_column.shape[0] + codes.shape[1]), dtype=np.uint16)
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, split_slot,
                      split_lo, split_span, tree_splits, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, out,
                      bins)


@njit(cache=True, nogil=True)
def _leaf_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, split_slot, split_lo, split_span,
                tree_splits, tree_offsets, t0, t1, out, bins):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    for t in range(t0, t1):
        for i in range(r1 - r0):
            out[r0 + i, t - t0] = _leaf(bins, i, t, split_slot, split_lo, split_span, tree_splits, tree_offsets)


@njit(cache=True, nogil=True)
def leaf_serial(X, codes, slot_column, borders, border_offsets, nan_bin, split_slot, split_lo, split_span,
                tree_splits, tree_offsets, t0, t1, out):
    """Leaf index of trees ``t0..t1-1`` per row into ``out`` (uint32, rows x trees)."""
    n = X.shape[0]
    bins = np.empty((BLOCK, slot_column.shape[0] + codes.shape[1]), dtype=np.uint16)
    for r0 in range(0, n, BLOCK):
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, split_slot,
                    split_lo, split_span, tree_splits, tree_offsets, t0, t1, out, bins)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, split_slot, split_lo, split_span,
                  tree_splits, tree_offsets, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((BLOCK, slot_column.shape[0] + codes.shape[1]), dtype=np.uint16)
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, split_slot,
                    split_lo, split_span, tree_splits, tree_offsets, t0, t1, out, bins)
