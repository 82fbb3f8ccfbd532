"""Compiled traversal kernels over a ``WalkLayout``. They trust their inputs: the forest was
validated when it was built, and the layout keeps every index inside it.

Rows are walked in blocks of ``BLOCK``. A block first turns the features the forest splits on
into order-preserving integer keys (``forest.order_keys``), slot by slot, ``BLOCK`` keys per
slot; every step then reads ``keys[slot * BLOCK + row]`` and makes one unsigned comparison,
with no NaN test (the stored split key already has the missing direction folded in). Slots of
category-set splits hold category codes instead (``_category_code``). A walk
is ``tree_depth[t]`` steps of ``node = left[node] + goes_right`` (leaves are fixed points; the
node layout is defined in ``forest``), with no data-dependent branch. The scalar-leaf kernel
advances eight rows through a tree together: their walks are independent, so the CPU overlaps
their loads instead of waiting on one chain. Within a row, trees are added in model order in
float32, starting from the base margin, as XGBoost does: that order is what makes margins
bit-identical. Batch kernels come in a serial form (small batches: no thread start-up) and a
``prange`` form over blocks.

Rows are a dense 2-D float32 array or sparse rows, a tuple ``(indptr, indices, values,
numeric_slot, set_slot)`` of checked CSR arrays and the forest's feature -> slot tables. Only
the keys of a block are built differently (``_block_keys`` is specialised on the rows' type at
compile time, so each form compiles to its own kernel and the dense one is unchanged); the
walks are the same code.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from ..forest import CATEGORICAL_BIT as _CATEGORICAL
from ..forest import FEATURE_MASK as _FEATURE
from ..forest import MAX_SLOTS
from .transforms import transform_in_place

_SLOT_SHIFT = np.uint32(32 - (MAX_SLOTS - 1).bit_length())  # slot << shift fits 32 bits for every slot
BLOCK = 1 << int(_SLOT_SHIFT)  # rows per block; a slot's keys are this many apart
_SIGN = np.uint32(0x80000000)  # the sign bit: the bits of -0.0, and the key of +0.0
_ABS = np.uint32(0x7FFFFFFF)
_INF_BITS = np.uint32(0x7F800000)
MAX_CATEGORY = np.float32(16777216.0)  # XGBoost treats codes >= 2**24 (not exact in float32) as invalid
_NAN_CODE = np.uint32(0xFFFFFFFE)  # set-slot value of a missing value
_NO_CATEGORY = np.uint32(0xFFFFFFFD)  # set-slot value of a negative or too large code: in no set


@intrinsic
def _bits_of_float(typingctx, value):
    """Reinterpret a float32 as its uint32 bits (numba has no scalar bit cast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.uint32(types.float32), codegen


@njit(cache=True, nogil=True, inline="always")
def _data_key(x):
    """``forest.order_keys`` of one float32, with -0.0 folded onto +0.0."""
    bits = _bits_of_float(x)
    b = bits if bits != _SIGN else np.uint32(0)
    key = np.uint32(b ^ (np.uint32(np.uint32(0) - (b >> np.uint32(31))) | _SIGN))
    return np.uint32(0) if (b & _ABS) > _INF_BITS else key


@njit(cache=True, nogil=True, inline="always")
def _category_code(x):
    """What a set-split slot holds: category + 1 (truncated toward zero, as XGBoost does), or
    ``_NAN_CODE`` / ``_NO_CATEGORY``. The + 1 keeps ``code - missing_right`` from wrapping, and
    both markers sit below the top split key, so a set node's key comparison is always false."""
    valid = (x >= 0) & (x < MAX_CATEGORY)  # False for NaN
    code = np.uint32(np.int64(x if valid else np.float32(0)) + 1)
    code = code if valid else _NO_CATEGORY
    return _NAN_CODE if x != x else code


def _block_keys(X, r0, r1, slots):
    """Keys (category codes in set-split slots) of rows [r0, r1), slot-major. Rows past r1 are
    never read. A forest of leaves only has no slots; its walks read slot 0, which is then zero.
    ``X`` is a dense 2-D array, or sparse rows ``(indptr, indices, values, numeric_slot,
    set_slot)`` (see ``_sparse_keys``)."""


@overload(_block_keys, inline="always")
def _block_keys_impl(X, r0, r1, slots):
    if isinstance(X, types.Array):
        return _dense_keys
    return _sparse_keys


def _dense_keys(X, r0, r1, slots):
    n_slots = slots.size
    keys = np.empty(max(n_slots, 1) * BLOCK, dtype=np.uint32)
    if n_slots == 0:
        keys[:] = 0
    for s in range(n_slots):
        column = slots[s] & _FEATURE
        at = s * BLOCK - r0
        if slots[s] & _CATEGORICAL:
            for r in range(r0, r1):
                keys[at + r] = _category_code(X[r, column])
        else:
            for r in range(r0, r1):
                keys[at + r] = _data_key(X[r, column])
    return keys


def _sparse_keys(X, r0, r1, slots):
    """Sparse rows: every slot starts at the key of a missing value (an absent entry is
    missing), then the block's stored entries are scattered into the slots of their feature
    (``numeric_slot[f]`` / ``set_slot[f]``, -1 when the forest does not split on ``f`` that
    way; features past the tables' end are unused too). The keys equal the dense rows' keys,
    so the walk that follows is the same."""
    indptr, indices, values, numeric_slot, set_slot = X
    n_slots = slots.size
    keys = np.empty(max(n_slots, 1) * BLOCK, dtype=np.uint32)
    if n_slots == 0:
        keys[:] = 0
    for s in range(n_slots):
        absent = _NAN_CODE if slots[s] & _CATEGORICAL else np.uint32(0)
        keys[s * BLOCK:s * BLOCK + (r1 - r0)] = absent
    mapped = numeric_slot.size
    for r in range(r0, r1):
        for j in range(indptr[r], indptr[r + 1]):
            feature = indices[j]
            if feature < mapped:
                s = numeric_slot[feature]
                if s >= 0:
                    keys[s * BLOCK + (r - r0)] = _data_key(values[j])
                s = set_slot[feature]
                if s >= 0:
                    keys[s * BLOCK + (r - r0)] = _category_code(values[j])
    return keys


def _row_count(X):
    """Rows of a dense array or of sparse rows."""


@overload(_row_count, inline="always")
def _row_count_impl(X):
    if isinstance(X, types.Array):
        return lambda X: X.shape[0]
    return lambda X: X[0].size - 1


def _step(keys, row, node, word, split_key, left, cat_offsets, cat_bits):
    """One step of a walk: the child ``node`` sends block row ``row`` to (a leaf returns itself)."""


@overload(_step)
def _step_impl(keys, row, node, word, split_key, left, cat_offsets, cat_bits):
    # Chosen at compile time by the bitset's type: forests without category sets pass an empty
    # uint8 array and get the numeric step; a runtime flag here costs ~10x.
    if cat_bits.dtype == types.uint8:
        def numeric(keys, row, node, word, split_key, left, cat_offsets, cat_bits):
            w = word[node]
            # slot * BLOCK: the 32-bit shift also drops the two flag bits (every slot is below MAX_SLOTS)
            k = keys[np.uint64(np.uint32(w << _SLOT_SHIFT)) + row]
            # a missing value (key 0) minus the missing-right bit wraps above every split key
            return left[node] + np.uint32((k - (w >> np.uint32(31))) >= split_key[node])
        return numeric

    def categorical(keys, row, node, word, split_key, left, cat_offsets, cat_bits):
        # Branch-free: in a forest mixing numeric and set splits, which kind a node is (and
        # whether a code falls in its set) is unpredictable. Both tests run and each is false
        # for the other kind of node: a set node's split key is the top key, and a numeric node
        # has no bitset words, so its lookup reads the zero padding word the layout appends (as
        # do codes outside a set's words, and the markers). XGBoost's rule: a category in the set
        # goes right, any other code left, a missing value the default way.
        w = word[node]
        k = keys[np.uint64(np.uint32(w << _SLOT_SHIFT)) + row]
        missing_right = w >> np.uint32(31)
        numeric_right = np.uint32((k - missing_right) >= split_key[node])
        category = np.uint32(k - np.uint32(1))
        at = cat_offsets[node] + np.int64(category >> np.uint32(5))
        at = at if at < cat_offsets[node + 1] else cat_bits.size - 1
        in_set = (cat_bits[np.uint64(at)] >> (category & np.uint32(31))) & np.uint32(1)
        missing = np.uint32(k == _NAN_CODE) & missing_right
        return left[node] + (numeric_right | in_set | missing)
    return categorical


@njit(cache=True, nogil=True)
def _margin_rows(keys, n, o, L_word, L_key, L_left, L_leaf, roots, depths, groups, weights,
                 cat_offsets, cat_bits, t0, t1, out):
    """Scalar leaves: add each tree's (weighted) leaf to out[o + row, group] for the block's
    ``n`` rows, eight rows at a time; the last rows (fewer than eight) walk eight trees at a
    time instead."""
    full_end = n // 8 * 8
    for t in range(t0, t1):
        root = roots[t]
        depth = depths[t]
        g = groups[t]
        wt = weights[t]
        r = np.uint64(0)
        end = np.uint64(full_end)
        while r < end:
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = root
            for _ in range(depth):
                a0 = _step(keys, r, a0, L_word, L_key, L_left, cat_offsets, cat_bits)
                a1 = _step(keys, r + np.uint64(1), a1, L_word, L_key, L_left, cat_offsets, cat_bits)
                a2 = _step(keys, r + np.uint64(2), a2, L_word, L_key, L_left, cat_offsets, cat_bits)
                a3 = _step(keys, r + np.uint64(3), a3, L_word, L_key, L_left, cat_offsets, cat_bits)
                a4 = _step(keys, r + np.uint64(4), a4, L_word, L_key, L_left, cat_offsets, cat_bits)
                a5 = _step(keys, r + np.uint64(5), a5, L_word, L_key, L_left, cat_offsets, cat_bits)
                a6 = _step(keys, r + np.uint64(6), a6, L_word, L_key, L_left, cat_offsets, cat_bits)
                a7 = _step(keys, r + np.uint64(7), a7, L_word, L_key, L_left, cat_offsets, cat_bits)
            row = np.uint64(o) + r
            out[row, g] += L_leaf[a0] * wt
            out[row + np.uint64(1), g] += L_leaf[a1] * wt
            out[row + np.uint64(2), g] += L_leaf[a2] * wt
            out[row + np.uint64(3), g] += L_leaf[a3] * wt
            out[row + np.uint64(4), g] += L_leaf[a4] * wt
            out[row + np.uint64(5), g] += L_leaf[a5] * wt
            out[row + np.uint64(6), g] += L_leaf[a6] * wt
            out[row + np.uint64(7), g] += L_leaf[a7] * wt
            r += np.uint64(8)
    for r in range(full_end, n):
        _margin_one_row(keys, np.uint64(r), o + r, L_word, L_key, L_left, L_leaf, roots, depths, groups,
                        weights, cat_offsets, cat_bits, t0, t1, out)


@njit(cache=True, nogil=True, inline="always")
def _margin_one_row(keys, r, row, L_word, L_key, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                    cat_bits, t0, t1, out):
    """Block row ``r`` (output row ``row``) through eight trees at once (independent walks
    overlap); the eight leaves are then added in tree order, so the float32 sum is the same as
    one tree at a time."""
    t = t0
    while t + 8 <= t1:
        a0, a1, a2, a3 = roots[t], roots[t + 1], roots[t + 2], roots[t + 3]
        a4, a5, a6, a7 = roots[t + 4], roots[t + 5], roots[t + 6], roots[t + 7]
        depth = max(depths[t], depths[t + 1], depths[t + 2], depths[t + 3], depths[t + 4], depths[t + 5],
                    depths[t + 6], depths[t + 7])  # extra steps are harmless: leaves are fixed points
        for _ in range(depth):
            a0 = _step(keys, r, a0, L_word, L_key, L_left, cat_offsets, cat_bits)
            a1 = _step(keys, r, a1, L_word, L_key, L_left, cat_offsets, cat_bits)
            a2 = _step(keys, r, a2, L_word, L_key, L_left, cat_offsets, cat_bits)
            a3 = _step(keys, r, a3, L_word, L_key, L_left, cat_offsets, cat_bits)
            a4 = _step(keys, r, a4, L_word, L_key, L_left, cat_offsets, cat_bits)
            a5 = _step(keys, r, a5, L_word, L_key, L_left, cat_offsets, cat_bits)
            a6 = _step(keys, r, a6, L_word, L_key, L_left, cat_offsets, cat_bits)
            a7 = _step(keys, r, a7, L_word, L_key, L_left, cat_offsets, cat_bits)
        out[row, groups[t]] += L_leaf[a0] * weights[t]
        out[row, groups[t + 1]] += L_leaf[a1] * weights[t + 1]
        out[row, groups[t + 2]] += L_leaf[a2] * weights[t + 2]
        out[row, groups[t + 3]] += L_leaf[a3] * weights[t + 3]
        out[row, groups[t + 4]] += L_leaf[a4] * weights[t + 4]
        out[row, groups[t + 5]] += L_leaf[a5] * weights[t + 5]
        out[row, groups[t + 6]] += L_leaf[a6] * weights[t + 6]
        out[row, groups[t + 7]] += L_leaf[a7] * weights[t + 7]
        t += 8
    while t < t1:
        a0 = roots[t]
        for _ in range(depths[t]):
            a0 = _step(keys, r, a0, L_word, L_key, L_left, cat_offsets, cat_bits)
        out[row, groups[t]] += L_leaf[a0] * weights[t]
        t += 1


@njit(cache=True, nogil=True)
def _vector_rows(keys, n, o, L_word, L_key, L_left, L_leaf, roots, depths, cat_offsets, cat_bits, t0, t1, out):
    """Vector leaves: add each tree's whole leaf vector to the row's outputs."""
    width = L_leaf.shape[1]
    for t in range(t0, t1):
        for r in range(np.uint64(n)):
            node = roots[t]
            for _ in range(depths[t]):
                node = _step(keys, r, node, L_word, L_key, L_left, cat_offsets, cat_bits)
            for k in range(width):
                out[np.uint64(o) + r, k] += L_leaf[node, k]


@njit(cache=True, nogil=True)
def _leaf_rows(keys, n, o, L_word, L_key, L_left, roots, depths, cat_offsets, cat_bits, node_id, t0, t1, out):
    """The source library's number of the leaf each row reaches in each tree."""
    for t in range(t0, t1):
        for r in range(np.uint64(n)):
            node = roots[t]
            for _ in range(depths[t]):
                node = _step(keys, r, node, L_word, L_key, L_left, cat_offsets, cat_bits)
            out[np.uint64(o) + r, t - t0] = node_id[node]


# --- batch entry points: blocks of rows, one after another or in parallel --------------------
# A block's keys stay in cache while every tree walks them; walking all rows tree by tree
# would stream the whole input through memory once per tree.

@njit(cache=True, nogil=True, inline="always")
def _margin_block(X, r0, r1, slots, L_word, L_key, L_left, L_leaf, roots, depths, groups, weights,
                  cat_offsets, cat_bits, t0, t1, base, init, transform, out):
    """One block of rows: start from the base score (``init``), add the trees, transform in place
    (``transform`` is a ``Transform`` value; 0 leaves margins)."""
    keys = _block_keys(X, r0, r1, slots)
    if init:
        for r in range(r0, r1):
            for k in range(out.shape[1]):
                out[r, k] = base[k]
    _margin_rows(keys, r1 - r0, r0, L_word, L_key, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                 cat_bits, t0, t1, out)
    if transform != 0:
        transform_in_place(out[r0:r1], transform)


@njit(cache=True, nogil=True)
def margin_serial(X, slots, L_word, L_key, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                  cat_bits, t0, t1, base, init, transform, out):
    n = _row_count(X)
    for r0 in range(0, n, BLOCK):
        _margin_block(X, r0, min(n, r0 + BLOCK), slots, L_word, L_key, L_left, L_leaf, roots, depths, groups,
                      weights, cat_offsets, cat_bits, t0, t1, base, init, transform, out)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, slots, L_word, L_key, L_left, L_leaf, roots, depths, groups, weights, cat_offsets,
                    cat_bits, t0, t1, base, init, transform, out):
    n = _row_count(X)
    for b in prange((n + BLOCK - 1) // BLOCK):
        _margin_block(X, b * BLOCK, min(n, (b + 1) * BLOCK), slots, L_word, L_key, L_left, L_leaf, roots,
                      depths, groups, weights, cat_offsets, cat_bits, t0, t1, base, init, transform, out)


@njit(cache=True, nogil=True)
def vector_serial(X, slots, L_word, L_key, L_left, L_leaf, roots, depths, cat_offsets, cat_bits, t0, t1,
                  out):
    n = _row_count(X)
    for r0 in range(0, n, BLOCK):
        r1 = min(n, r0 + BLOCK)
        _vector_rows(_block_keys(X, r0, r1, slots), r1 - r0, r0, L_word, L_key, L_left, L_leaf, roots,
                     depths, cat_offsets, cat_bits, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def vector_parallel(X, slots, L_word, L_key, L_left, L_leaf, roots, depths, cat_offsets, cat_bits, t0,
                    t1, out):
    n = _row_count(X)
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0, r1 = b * BLOCK, min(n, (b + 1) * BLOCK)
        _vector_rows(_block_keys(X, r0, r1, slots), r1 - r0, r0, L_word, L_key, L_left, L_leaf, roots,
                     depths, cat_offsets, cat_bits, t0, t1, out)


@njit(cache=True, nogil=True)
def leaf_serial(X, slots, L_word, L_key, L_left, roots, depths, cat_offsets, cat_bits, node_id, t0, t1,
                out):
    n = _row_count(X)
    for r0 in range(0, n, BLOCK):
        r1 = min(n, r0 + BLOCK)
        _leaf_rows(_block_keys(X, r0, r1, slots), r1 - r0, r0, L_word, L_key, L_left, roots, depths,
                   cat_offsets, cat_bits, node_id, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, slots, L_word, L_key, L_left, roots, depths, cat_offsets, cat_bits, node_id, t0,
                  t1, out):
    n = _row_count(X)
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0, r1 = b * BLOCK, min(n, (b + 1) * BLOCK)
        _leaf_rows(_block_keys(X, r0, r1, slots), r1 - r0, r0, L_word, L_key, L_left, roots, depths,
                   cat_offsets, cat_bits, node_id, t0, t1, out)


@njit(cache=True, nogil=True)
def linear_margin(X, weights, bias, out):
    """XGBoost gblinear: per row and output, bias + base first, then x[f] * w[f] over the present
    features in feature order (sparse rows store theirs in that order)."""
    for row in range(_row_count(X)):
        for g in range(out.shape[1]):
            out[row, g] = _linear_sum(X, row, out[row, g] + bias[g], weights, g)


def _linear_sum(X, row, acc, weights, g):
    """``acc`` plus the row's present x[f] * weights[f, g], added in feature order."""


@overload(_linear_sum, inline="always")
def _linear_sum_impl(X, row, acc, weights, g):
    if isinstance(X, types.Array):
        def dense(X, row, acc, weights, g):
            for f in range(X.shape[1]):
                x = X[row, f]
                if not math.isnan(x):
                    acc += x * weights[f, g]
            return acc
        return dense

    def sparse(X, row, acc, weights, g):
        indptr, indices, values = X[0], X[1], X[2]
        for j in range(indptr[row], indptr[row + 1]):
            x = values[j]
            if not math.isnan(x):
                acc += x * weights[indices[j], g]
        return acc
    return sparse
