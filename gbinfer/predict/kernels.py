"""Compiled traversal kernels over a ``WalkLayout``. They trust their inputs: the forest was
validated when it was built, and the layout keeps every index inside it.

A walk is ``tree_depth[t]`` steps of ``node = left[node] + goes_right`` (leaves are fixed
points; the node layout is defined in ``forest``), with no data-dependent branch in numeric forests. The scalar-leaf
kernel advances eight rows through a tree together: their walks are independent, so the CPU
overlaps their loads instead of waiting on one chain. Within a row, trees are added in model
order in float32, starting from the base margin, as XGBoost does: that order is what makes
margins bit-identical. Batch kernels come in a serial form (small batches: no thread start-up)
and a ``prange`` form over blocks of rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ..forest import FEATURE_MASK as _FEATURE
from .transforms import transform_in_place

MAX_CATEGORY = np.float32(16777216.0)  # XGBoost treats codes >= 2**24 (not exact in float32) as invalid
_SHIFT_MISSING = np.uint32(31)  # forest.MISSING_RIGHT_BIT is the top bit
_SHIFT_CATEGORICAL = np.uint32(30)  # forest.CATEGORICAL_BIT


def _step(X, row, node, word, threshold, left, cat_offsets, cat_bits):
    """One step of a walk: the child ``node`` sends ``X[row]`` to (a leaf returns itself)."""


@overload(_step)
def _step_impl(X, row, node, word, threshold, left, cat_offsets, cat_bits):
    # Chosen at compile time by the bitset's type: forests without category sets pass an empty
    # uint8 array and get the branch-free numeric step; a runtime flag here costs ~10x.
    if cat_bits.dtype == types.uint8:
        def numeric(X, row, node, word, threshold, left, cat_offsets, cat_bits):
            w = word[node]
            x = X[row, w & _FEATURE]
            t = threshold[node]
            # not (x < t) sends NaN right, (x >= t) sends it left; leaves have t = NaN and stay
            right = (x >= t) | (((w >> _SHIFT_MISSING) != 0) & (not (x < t)))
            return left[node] + np.uint32(right)
        return numeric

    def categorical(X, row, node, word, threshold, left, cat_offsets, cat_bits):
        # Branch-free: in a forest mixing numeric and set splits, which kind a node is (and
        # whether a code falls in its set) is unpredictable, so both outcomes are computed and
        # one is selected. XGBoost's rule: a category in the set goes right; a negative, too
        # large (>= 2**24) or missing-from-the-stored-set code goes left; a fractional code is
        # truncated toward zero; NaN follows the default direction.
        w = word[node]
        x = X[row, w & _FEATURE]
        t = threshold[node]
        missing_right = np.uint32(w >> _SHIFT_MISSING)
        is_set = np.uint32((w >> _SHIFT_CATEGORICAL) & np.uint32(1))
        numeric_right = np.uint32(x >= t) | (missing_right & np.uint32(not (x < t)))
        is_nan = np.uint32(x != x)
        valid = (x >= 0) & (x < MAX_CATEGORY)  # False for NaN
        code = np.int64(x if valid else np.float32(0))  # signed: float -> uint64 is not branch-free
        at = cat_offsets[node] + (code >> 5)
        # outside the node's words, read the zero padding word the layout appends
        at = at if valid & (at < cat_offsets[node + 1]) else cat_bits.size - 1
        in_set = (cat_bits[np.uint64(at)] >> np.uint32(code & 31)) & np.uint32(1)
        set_right = (is_nan & missing_right) | ((is_nan ^ np.uint32(1)) & in_set)
        right = (is_set & set_right) | ((is_set ^ np.uint32(1)) & numeric_right)
        return left[node] + right
    return categorical


@njit(cache=True, nogil=True)
def _margin_rows(X, r0, r1, L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights,
                 cat_offsets, cat_bits, t0, t1, out):
    """Scalar leaves: add each tree's (weighted) leaf to out[row, group], eight rows at a time;
    the last rows (fewer than eight) walk eight trees at a time instead."""
    full_end = r0 + (r1 - r0) // 8 * 8
    for t in range(t0, t1):
        root = roots[t]
        depth = depths[t]
        g = groups[t]
        wt = weights[t]
        r = np.uint64(r0)
        end = np.uint64(full_end)
        while r < end:
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = root
            for _ in range(depth):
                a0 = _step(X, r, a0, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a1 = _step(X, r + np.uint64(1), a1, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a2 = _step(X, r + np.uint64(2), a2, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a3 = _step(X, r + np.uint64(3), a3, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a4 = _step(X, r + np.uint64(4), a4, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a5 = _step(X, r + np.uint64(5), a5, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a6 = _step(X, r + np.uint64(6), a6, L_word, L_thr, L_left, cat_offsets, cat_bits)
                a7 = _step(X, r + np.uint64(7), a7, L_word, L_thr, L_left, cat_offsets, cat_bits)
            out[r, g] += L_leaf[a0] * wt
            out[r + np.uint64(1), g] += L_leaf[a1] * wt
            out[r + np.uint64(2), g] += L_leaf[a2] * wt
            out[r + np.uint64(3), g] += L_leaf[a3] * wt
            out[r + np.uint64(4), g] += L_leaf[a4] * wt
            out[r + np.uint64(5), g] += L_leaf[a5] * wt
            out[r + np.uint64(6), g] += L_leaf[a6] * wt
            out[r + np.uint64(7), g] += L_leaf[a7] * wt
            r += np.uint64(8)
    for row in range(full_end, r1):
        _margin_one_row(X, np.uint64(row), L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights,
                        cat_offsets, cat_bits, t0, t1, out)


@njit(cache=True, nogil=True, inline="always")
def _margin_one_row(X, r, L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights, cat_offsets, cat_bits,
                    t0, t1, out):
    """One row through eight trees at once (independent walks overlap); the eight leaves are
    then added in tree order, so the float32 sum is the same as one tree at a time."""
    t = t0
    while t + 8 <= t1:
        a0, a1, a2, a3 = roots[t], roots[t + 1], roots[t + 2], roots[t + 3]
        a4, a5, a6, a7 = roots[t + 4], roots[t + 5], roots[t + 6], roots[t + 7]
        depth = max(depths[t], depths[t + 1], depths[t + 2], depths[t + 3], depths[t + 4], depths[t + 5],
                    depths[t + 6], depths[t + 7])  # extra steps are harmless: leaves are fixed points
        for _ in range(depth):
            a0 = _step(X, r, a0, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a1 = _step(X, r, a1, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a2 = _step(X, r, a2, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a3 = _step(X, r, a3, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a4 = _step(X, r, a4, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a5 = _step(X, r, a5, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a6 = _step(X, r, a6, L_word, L_thr, L_left, cat_offsets, cat_bits)
            a7 = _step(X, r, a7, L_word, L_thr, L_left, cat_offsets, cat_bits)
        out[r, groups[t]] += L_leaf[a0] * weights[t]
        out[r, groups[t + 1]] += L_leaf[a1] * weights[t + 1]
        out[r, groups[t + 2]] += L_leaf[a2] * weights[t + 2]
        out[r, groups[t + 3]] += L_leaf[a3] * weights[t + 3]
        out[r, groups[t + 4]] += L_leaf[a4] * weights[t + 4]
        out[r, groups[t + 5]] += L_leaf[a5] * weights[t + 5]
        out[r, groups[t + 6]] += L_leaf[a6] * weights[t + 6]
        out[r, groups[t + 7]] += L_leaf[a7] * weights[t + 7]
        t += 8
    while t < t1:
        a0 = roots[t]
        for _ in range(depths[t]):
            a0 = _step(X, r, a0, L_word, L_thr, L_left, cat_offsets, cat_bits)
        out[r, groups[t]] += L_leaf[a0] * weights[t]
        t += 1


@njit(cache=True, nogil=True)
def _vector_rows(X, r0, r1, L_word, L_thr, L_left, L_leaf, roots, depths, cat_offsets, cat_bits,
                 t0, t1, out):
    """Vector leaves: add each tree's whole leaf vector to the row's outputs."""
    width = L_leaf.shape[1]
    for t in range(t0, t1):
        for r in range(np.uint64(r0), np.uint64(r1)):
            node = roots[t]
            for _ in range(depths[t]):
                node = _step(X, r, node, L_word, L_thr, L_left, cat_offsets, cat_bits)
            for k in range(width):
                out[r, k] += L_leaf[node, k]


@njit(cache=True, nogil=True)
def _leaf_rows(X, r0, r1, L_word, L_thr, L_left, roots, depths, cat_offsets, cat_bits, node_id,
               t0, t1, out):
    """The source library's number of the leaf each row reaches in each tree."""
    for t in range(t0, t1):
        for r in range(np.uint64(r0), np.uint64(r1)):
            node = roots[t]
            for _ in range(depths[t]):
                node = _step(X, r, node, L_word, L_thr, L_left, cat_offsets, cat_bits)
            out[r, t - t0] = node_id[node]


# --- batch entry points: blocks of rows, one after another or in parallel --------------------
# A block's rows stay in cache while every tree walks them; walking all rows tree by tree
# would stream the whole input through memory once per tree.

@njit(cache=True, nogil=True, inline="always")
def _margin_block(X, r0, r1, L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                  cat_bits, t0, t1, base, init, transform, out):
    """One block of rows: start from the base score (``init``), add the trees, transform in place
    (``transform`` is a ``Transform`` value; 0 leaves margins)."""
    if init:
        for r in range(r0, r1):
            for k in range(out.shape[1]):
                out[r, k] = base[k]
    _margin_rows(X, r0, r1, L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                 cat_bits, t0, t1, out)
    if transform != 0:
        transform_in_place(out[r0:r1], transform)


@njit(cache=True, nogil=True)
def margin_serial(X, L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                  cat_bits, t0, t1, base, init, transform, out, block):
    n = X.shape[0]
    for r0 in range(0, n, block):
        _margin_block(X, r0, min(n, r0 + block), L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights,
                      cat_offsets, cat_bits, t0, t1, base, init, transform, out)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, L_word, L_thr, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                    cat_bits, t0, t1, base, init, transform, out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _margin_block(X, b * block, min(n, (b + 1) * block), L_word, L_thr, L_left, L_leaf, roots, depths,
                      groups, weights, cat_offsets, cat_bits, t0, t1, base, init, transform, out)


@njit(cache=True, nogil=True)
def vector_serial(X, L_word, L_thr, L_left, L_leaf, roots, depths, cat_offsets, cat_bits, t0, t1,
                  out, block):
    n = X.shape[0]
    for r0 in range(0, n, block):
        _vector_rows(X, r0, min(n, r0 + block), L_word, L_thr, L_left, L_leaf, roots, depths, cat_offsets,
                     cat_bits, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def vector_parallel(X, L_word, L_thr, L_left, L_leaf, roots, depths, cat_offsets, cat_bits, t0, t1,
                    out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _vector_rows(X, b * block, min(n, (b + 1) * block), L_word, L_thr, L_left, L_leaf, roots, depths,
                     cat_offsets, cat_bits, t0, t1, out)


@njit(cache=True, nogil=True)
def leaf_serial(X, L_word, L_thr, L_left, roots, depths, cat_offsets, cat_bits, node_id, t0, t1,
                out, block):
    n = X.shape[0]
    for r0 in range(0, n, block):
        _leaf_rows(X, r0, min(n, r0 + block), L_word, L_thr, L_left, roots, depths, cat_offsets, cat_bits,
                   node_id, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, L_word, L_thr, L_left, roots, depths, cat_offsets, cat_bits, node_id, t0, t1,
                  out, block):
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        _leaf_rows(X, b * block, min(n, (b + 1) * block), L_word, L_thr, L_left, roots, depths,
                   cat_offsets, cat_bits, node_id, t0, t1, out)


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
