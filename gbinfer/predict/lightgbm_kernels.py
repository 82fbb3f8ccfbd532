"""Compiled kernels for LightGBM forests (``forest_lightgbm``): float64 input and sums.

The scheme is the XGBoost kernels' (``kernels``), widened to 64 bits: a block of rows (up to
``BLOCK``, fewer when the forest reads many features) is first turned into one uint64 key per
(row, slot), so that a step is
``node = left[node] + (key - missing_right >= split_key[node])`` with no NaN test and no
per-node decision about missing types: each slot's kind (None / Zero / NaN / category set)
was fixed when the forest was built, and the key of a value already says what LightGBM makes
of it (``_slot_key``). Dense rows go through LightGBM's dense conversion first (|x| <= 1e-35
becomes 0.0); sparse rows keep their stored values as they are, and an absent entry is 0.0.

Trees are added in model order into float64 sums starting at zero, one per class, as
``GBDT::PredictRaw`` does. Eight rows walk a tree together (independent walks overlap); a
block's last rows walk eight trees at a time instead (grouped by depth), adding the leaves in
tree order. Linear trees walk one (row, tree) at a time and evaluate the leaf's linear model on
the row's values. (Stopping a group of eight walks once all reached their leaves, or refilling
a lane as soon as its row reached one, measured slower: LightGBM's paths are about half the
tree's depth on average, but the longest of eight rows is about three quarters of it.) One
row alone (``margin_one_row``) is different: it has no rows to keep in step, so its eight
trees stop as soon as none of them moved.

A node is read as two adjacent uint64 words of ``nodes``: its split key (for a category-set
node, its bitset's start in ``cat_bits`` << 32 | its length in words), then its left child
(high half) and node word (low half), so a step touches one cache line (the forest's own
arrays, built for checking, are interleaved this way once per booster).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from ..forest import FEATURE_MASK as _FEATURE
from ..forest_lightgbm import ZERO_THRESHOLD

BLOCK = 1024  # rows per block at most: fewer passes over the forest's nodes (~15% faster than 256)
_BLOCK_KEYS = 1 << 16  # keys per block at most (512 KiB): they stay in L2 while every tree walks them


@njit(cache=True, nogil=True, inline="always")
def _block_rows(n_slots):
    """Rows per block: ``BLOCK``, fewer for a forest reading many features (a power of two)."""
    rows = BLOCK
    while rows > 1 and rows * n_slots > _BLOCK_KEYS:
        rows //= 2
    return rows


@njit(cache=True, nogil=True, inline="always")
def _parallel_block_rows(n_slots, n):
    """Rows per block of a parallel call: smaller blocks for a batch too small to give every
    thread several blocks."""
    rows = _block_rows(n_slots)
    while rows > 64 and (n + rows - 1) // rows < 8:
        rows //= 2
    return rows
_SLOT_BITS = np.uint32((1 << 30) - 1)  # node_word bits 0-29: the slot
_ZERO = np.float64(ZERO_THRESHOLD)
_SIGN = np.uint64(1 << 63)
_NO_CATEGORY = np.uint64(0xFFFFFFFFFFFFFFFE)  # a set slot's value for NaN, negative and too large values
_CAT_LIMIT = np.float64(2147483648.0)  # static_cast<int> of anything at or past 2**31 is negative on x86


@intrinsic
def _bits_of_double(typingctx, value):
    """Reinterpret a float64 as its uint64 bits."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.uint64(types.float64), codegen


@njit(cache=True, nogil=True, inline="always")
def _order_key(x):
    """``forest_lightgbm.order_key64`` of a non-NaN float64 (``+ 0.0`` folds -0.0 onto +0.0)."""
    b = _bits_of_double(x + 0.0)
    return b ^ ((np.uint64(0) - (b >> np.uint64(63))) | _SIGN)


_ZERO_KEY = np.uint64(1 << 63)  # the order key of +0.0


@njit(cache=True, nogil=True, inline="always")
def _slot_key(x, kind):
    """What a slot of ``kind`` holds for the value ``x`` (LightGBM's NumericalDecision and
    CategoricalDecision, folded into a key): 0 for a value the node's missing type sends the
    default way, a category number for a set slot (``_NO_CATEGORY`` where LightGBM goes right
    whatever the set), else the order key of the value (NaN read as 0.0 for missing type None)."""
    if kind == 3:
        if x > -1.0 and x < _CAT_LIMIT:  # False for NaN; truncation toward zero as static_cast<int>
            return np.uint64(np.int64(x))
        return _NO_CATEGORY
    if x != x:
        return _ZERO_KEY if kind == 0 else np.uint64(0)
    if kind == 1 and abs(x) <= _ZERO:
        return np.uint64(0)
    return _order_key(x)


@njit(cache=True, nogil=True, inline="always")
def _stride_shift(n):
    """log2 of the keys' stride per slot: the block's rows rounded up to a power of two, so a
    single row does not allocate (and touch) a whole block's worth of keys."""
    shift = 0
    while (1 << shift) < n:
        shift += 1
    return shift


def _block_keys(X, r0, r1, slots):
    """(keys of rows [r0, r1), slot-major, ``1 << shift`` per slot; shift)."""


@overload(_block_keys, inline="always")
def _block_keys_impl(X, r0, r1, slots):
    if isinstance(X, types.Array):
        return _dense_keys
    return _sparse_keys


def _dense_keys(X, r0, r1, slots):
    n_slots = slots.size
    shift = _stride_shift(r1 - r0)
    stride = 1 << shift
    keys = np.empty(max(n_slots, 1) * stride, dtype=np.uint64)
    if n_slots == 0:
        keys[:] = 0
    for s in range(n_slots):
        column = slots[s] & _FEATURE
        kind = slots[s] >> np.uint32(30)
        at = s * stride - r0
        for r in range(r0, r1):
            x = np.float64(X[r, column])
            if abs(x) <= _ZERO:  # LightGBM's dense rows drop near-zero entries: they read as 0.0
                x = 0.0
            keys[at + r] = _slot_key(x, kind)
    return keys, np.uint64(shift)


def _sparse_keys(X, r0, r1, slots):
    """Every slot starts at the key of 0.0 (an absent entry), then the stored entries of the
    block's rows are written into their feature's slots (``feature_slots[f, kind]``, -1 when
    the forest has no such slot)."""
    indptr, indices, values, feature_slots = X
    n_slots = slots.size
    shift = _stride_shift(r1 - r0)
    stride = 1 << shift
    keys = np.empty(max(n_slots, 1) * stride, dtype=np.uint64)
    if n_slots == 0:
        keys[:] = 0
    for s in range(n_slots):
        absent = _slot_key(0.0, slots[s] >> np.uint32(30))
        keys[s * stride:s * stride + (r1 - r0)] = absent
    mapped = feature_slots.shape[0]
    for r in range(r0, r1):
        for j in range(indptr[r], indptr[r + 1]):
            feature = indices[j]
            if feature < mapped:
                for kind in range(4):
                    s = feature_slots[feature, kind]
                    if s >= 0:
                        keys[s * stride + (r - r0)] = _slot_key(np.float64(values[j]), kind)
    return keys, np.uint64(shift)


def _row_count(X):
    """Rows of a dense array or of sparse rows."""


@overload(_row_count, inline="always")
def _row_count_impl(X):
    if isinstance(X, types.Array):
        return lambda X: X.shape[0]
    return lambda X: X[0].size - 1


def _value(X, r, f):
    """Row ``r``'s value of feature ``f`` as LightGBM's predictor holds it."""


@overload(_value, inline="always")
def _value_impl(X, r, f):
    if isinstance(X, types.Array):
        def dense(X, r, f):
            x = np.float64(X[r, f])
            return 0.0 if abs(x) <= _ZERO else x
        return dense

    def sparse(X, r, f):
        indptr, indices, values = X[0], X[1], X[2]
        lo, hi = indptr[r], indptr[r + 1]
        while lo < hi:  # columns are ascending within a row
            mid = (lo + hi) // 2
            if indices[mid] < f:
                lo = mid + 1
            else:
                hi = mid
        if lo < indptr[r + 1] and indices[lo] == f:
            return np.float64(values[lo])
        return 0.0
    return sparse


def _step(keys, shift, row, node, nodes, cat_bits):
    """The child ``node`` sends block row ``row`` to (a leaf returns itself)."""


@overload(_step)
def _step_impl(keys, shift, row, node, nodes, cat_bits):
    # Chosen at compile time: forests without category sets pass an empty uint8 bitset.
    if cat_bits.dtype == types.uint8:
        def numeric(keys, shift, row, node, nodes, cat_bits):
            at = np.uint64(node) << np.uint64(1)
            split_key = nodes[at]
            packed = nodes[at + np.uint64(1)]
            w = np.uint32(packed & np.uint64(0xFFFFFFFF))
            k = keys[(np.uint64(w & _SLOT_BITS) << shift) + row]
            return np.uint32(packed >> np.uint64(32)) + np.uint32((k - np.uint64(w >> np.uint32(31))) >= split_key)
        return numeric

    def mixed(keys, shift, row, node, nodes, cat_bits):
        # A set node's first word is its bitset's place in ``cat_bits`` (start << 32 | words),
        # so the set is found on the node's own cache line; both tests run and the node's kind
        # picks one. A category in the set goes left; a category past the set, and any word a
        # numeric node would point at, reads the zero padding word.
        at = np.uint64(node) << np.uint64(1)
        split_key = nodes[at]
        packed = nodes[at + np.uint64(1)]
        w = np.uint32(packed & np.uint64(0xFFFFFFFF))
        k = keys[(np.uint64(w & _SLOT_BITS) << shift) + row]
        numeric_right = np.uint32((k - np.uint64(w >> np.uint32(31))) >= split_key)
        is_set = (w >> np.uint32(30)) & np.uint32(1)
        word = k >> np.uint64(5)
        inside = (word < (split_key & np.uint64(0xFFFFFFFF))) & (is_set != 0)
        at = (split_key >> np.uint64(32)) + word if inside else np.uint64(cat_bits.size - 1)
        in_set = (cat_bits[at] >> np.uint32(k & np.uint64(31))) & np.uint32(1)
        right = (in_set ^ np.uint32(1)) if is_set != 0 else numeric_right
        return np.uint32(packed >> np.uint64(32)) + right
    return mixed


@njit(cache=True, nogil=True)
def _margin_rows(keys, shift, n, o, nodes, leaf, roots, depths, groups, cat_bits, order, t0, t1,
                 out):
    full_end = n // 8 * 8
    for t in range(t0, t1):
        root = roots[t]
        depth = depths[t]
        g = groups[t]
        r = np.uint64(0)
        end = np.uint64(full_end)
        while r < end:
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = root
            for _ in range(depth):
                a0 = _step(keys, shift, r, a0, nodes, cat_bits)
                a1 = _step(keys, shift, r + np.uint64(1), a1, nodes, cat_bits)
                a2 = _step(keys, shift, r + np.uint64(2), a2, nodes, cat_bits)
                a3 = _step(keys, shift, r + np.uint64(3), a3, nodes, cat_bits)
                a4 = _step(keys, shift, r + np.uint64(4), a4, nodes, cat_bits)
                a5 = _step(keys, shift, r + np.uint64(5), a5, nodes, cat_bits)
                a6 = _step(keys, shift, r + np.uint64(6), a6, nodes, cat_bits)
                a7 = _step(keys, shift, r + np.uint64(7), a7, nodes, cat_bits)
            row = np.uint64(o) + r
            out[row, g] += leaf[a0]
            out[row + np.uint64(1), g] += leaf[a1]
            out[row + np.uint64(2), g] += leaf[a2]
            out[row + np.uint64(3), g] += leaf[a3]
            out[row + np.uint64(4), g] += leaf[a4]
            out[row + np.uint64(5), g] += leaf[a5]
            out[row + np.uint64(6), g] += leaf[a6]
            out[row + np.uint64(7), g] += leaf[a7]
            r += np.uint64(8)
    for r in range(full_end, n):
        _margin_one_row(keys, shift, np.uint64(r), o + r, nodes, leaf, roots, depths, groups, cat_bits, order, t0, t1, out)


@njit(cache=True, nogil=True, inline="always")
def _margin_one_row(keys, shift, r, row, nodes, leaf, roots, depths, groups, cat_bits, order, t0,
                    t1, out):
    """Block row ``r`` (output row ``row``) through the trees eight at a time, taken in
    ``order`` (the range's trees by depth, so eight walks need about as many steps); the leaves
    are kept and then added in tree order, so the sum is the one LightGBM makes."""
    values = np.empty(t1 - t0, dtype=np.float64)
    m = order.size
    i = 0
    while i + 8 <= m:
        t0_, t1_, t2_, t3_ = order[i], order[i + 1], order[i + 2], order[i + 3]
        t4_, t5_, t6_, t7_ = order[i + 4], order[i + 5], order[i + 6], order[i + 7]
        a0, a1, a2, a3 = roots[t0_], roots[t1_], roots[t2_], roots[t3_]
        a4, a5, a6, a7 = roots[t4_], roots[t5_], roots[t6_], roots[t7_]
        depth = max(depths[t0_], depths[t1_], depths[t2_], depths[t3_], depths[t4_], depths[t5_], depths[t6_],
                    depths[t7_])  # extra steps are harmless: leaves are fixed points
        for _ in range(depth):
            a0 = _step(keys, shift, r, a0, nodes, cat_bits)
            a1 = _step(keys, shift, r, a1, nodes, cat_bits)
            a2 = _step(keys, shift, r, a2, nodes, cat_bits)
            a3 = _step(keys, shift, r, a3, nodes, cat_bits)
            a4 = _step(keys, shift, r, a4, nodes, cat_bits)
            a5 = _step(keys, shift, r, a5, nodes, cat_bits)
            a6 = _step(keys, shift, r, a6, nodes, cat_bits)
            a7 = _step(keys, shift, r, a7, nodes, cat_bits)
        values[t0_ - t0] = leaf[a0]
        values[t1_ - t0] = leaf[a1]
        values[t2_ - t0] = leaf[a2]
        values[t3_ - t0] = leaf[a3]
        values[t4_ - t0] = leaf[a4]
        values[t5_ - t0] = leaf[a5]
        values[t6_ - t0] = leaf[a6]
        values[t7_ - t0] = leaf[a7]
        i += 8
    while i < m:
        t = order[i]
        a0 = roots[t]
        for _ in range(depths[t]):
            a0 = _step(keys, shift, r, a0, nodes, cat_bits)
        values[t - t0] = leaf[a0]
        i += 1
    for t in range(t0, t1):
        out[row, groups[t]] += values[t - t0]


@njit(cache=True, nogil=True)
def _linear_rows(X, keys, shift, n, o, nodes, leaf, roots, depths, groups, cat_bits,
                 lin_const, lin_offsets, lin_feature, lin_coeff, t0, t1, out):
    """Linear trees (``Tree::Predict``): the leaf's constant plus coefficient x value over its
    features in order, or the plain leaf value when one of those values is NaN."""
    for r in range(np.uint64(n)):
        row = np.uint64(o) + r
        for t in range(t0, t1):
            node = roots[t]
            for _ in range(depths[t]):
                node = _step(keys, shift, r, node, nodes, cat_bits)
            value = lin_const[node]
            for j in range(lin_offsets[node], lin_offsets[node + 1]):
                x = _value(X, row, lin_feature[j])
                if x != x:
                    value = leaf[node]
                    break
                value += lin_coeff[j] * x
            out[row, groups[t]] += value


@njit(cache=True, nogil=True)
def _leaf_rows(keys, shift, n, o, nodes, roots, depths, cat_bits, leaf_index, t0, t1, out):
    for t in range(t0, t1):
        for r in range(np.uint64(n)):
            node = roots[t]
            for _ in range(depths[t]):
                node = _step(keys, shift, r, node, nodes, cat_bits)
            out[np.uint64(o) + r, t - t0] = leaf_index[node]


# --- one row ---------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def margin_one_row(x, slots, nodes, leaf, walk, cat_bits, divisor, code, sigmoid, out):
    """One dense row (``x``, shape (1, features)) through every tree, LightGBM's output
    conversion included, into ``out`` (one float64 per class): one compiled call of few
    arguments, since a one-row call is mostly per-call cost.

    ``walk`` lists the trees by depth, each as ``root | tree << 32``. Eight trees walk
    together, and stop as soon as none of the eight moved (leaves are fixed points): a row's
    paths are about half its trees' depths, and one row has no other rows to keep in step
    with, so the group stops at its own longest path rather than at the deepest tree's depth.
    Leaves are kept and added in tree order (class ``tree % classes``), the sum LightGBM makes."""
    keys, shift = _block_keys(x, 0, 1, slots)
    r = np.uint64(0)
    m = walk.size
    values = np.empty(m, dtype=np.float64)
    low = np.uint64(0xFFFFFFFF)
    i = 0
    while i + 8 <= m:
        w0, w1, w2, w3 = np.uint64(walk[i]), np.uint64(walk[i + 1]), np.uint64(walk[i + 2]), np.uint64(walk[i + 3])
        w4, w5, w6, w7 = np.uint64(walk[i + 4]), np.uint64(walk[i + 5]), np.uint64(walk[i + 6]), np.uint64(walk[i + 7])
        a0, a1, a2, a3 = np.uint32(w0 & low), np.uint32(w1 & low), np.uint32(w2 & low), np.uint32(w3 & low)
        a4, a5, a6, a7 = np.uint32(w4 & low), np.uint32(w5 & low), np.uint32(w6 & low), np.uint32(w7 & low)
        while True:
            b0 = _step(keys, shift, r, a0, nodes, cat_bits)
            b1 = _step(keys, shift, r, a1, nodes, cat_bits)
            b2 = _step(keys, shift, r, a2, nodes, cat_bits)
            b3 = _step(keys, shift, r, a3, nodes, cat_bits)
            b4 = _step(keys, shift, r, a4, nodes, cat_bits)
            b5 = _step(keys, shift, r, a5, nodes, cat_bits)
            b6 = _step(keys, shift, r, a6, nodes, cat_bits)
            b7 = _step(keys, shift, r, a7, nodes, cat_bits)
            moved = (b0 ^ a0) | (b1 ^ a1) | (b2 ^ a2) | (b3 ^ a3) | (b4 ^ a4) | (b5 ^ a5) | (b6 ^ a6) | (b7 ^ a7)
            a0, a1, a2, a3, a4, a5, a6, a7 = b0, b1, b2, b3, b4, b5, b6, b7
            if moved == 0:
                break
        values[w0 >> np.uint64(32)] = leaf[a0]
        values[w1 >> np.uint64(32)] = leaf[a1]
        values[w2 >> np.uint64(32)] = leaf[a2]
        values[w3 >> np.uint64(32)] = leaf[a3]
        values[w4 >> np.uint64(32)] = leaf[a4]
        values[w5 >> np.uint64(32)] = leaf[a5]
        values[w6 >> np.uint64(32)] = leaf[a6]
        values[w7 >> np.uint64(32)] = leaf[a7]
        i += 8
    while i < m:
        w0 = np.uint64(walk[i])
        a0 = np.uint32(w0 & low)
        while True:
            b0 = _step(keys, shift, r, a0, nodes, cat_bits)
            if b0 == a0:
                break
            a0 = b0
        values[w0 >> np.uint64(32)] = leaf[a0]
        i += 1
    k = out.size
    for t in range(m):
        out[t % k] += values[t]
    finish(out.reshape(1, k), divisor, code, sigmoid)


# --- batch entry points ----------------------------------------------------------------------

@njit(cache=True, nogil=True, inline="always")
def _margin_block(X, r0, r1, slots, nodes, leaf, roots, depths, groups, cat_bits,
                  lin_const, lin_offsets, lin_feature, lin_coeff, order, t0, t1, out):
    keys, shift = _block_keys(X, r0, r1, slots)
    if lin_offsets.size:
        _linear_rows(X, keys, shift, r1 - r0, r0, nodes, leaf, roots, depths, groups, cat_bits, lin_const, lin_offsets, lin_feature, lin_coeff, t0, t1, out)
    else:
        _margin_rows(keys, shift, r1 - r0, r0, nodes, leaf, roots, depths, groups, cat_bits, order, t0, t1, out)


@njit(cache=True, nogil=True)
def margin_serial(X, slots, nodes, leaf, roots, depths, groups, cat_bits,
                  lin_const, lin_offsets, lin_feature, lin_coeff, order, t0, t1, out):
    n = _row_count(X)
    block = _block_rows(slots.size)
    for r0 in range(0, n, block):
        _margin_block(X, r0, min(n, r0 + block), slots, nodes, leaf, roots, depths, groups,
                      cat_bits, lin_const, lin_offsets, lin_feature, lin_coeff, order, t0, t1,
                      out)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, slots, nodes, leaf, roots, depths, groups, cat_bits,
                    lin_const, lin_offsets, lin_feature, lin_coeff, order, t0, t1, out):
    n = _row_count(X)
    block = _parallel_block_rows(slots.size, n)
    for b in prange((n + block - 1) // block):
        _margin_block(X, b * block, min(n, (b + 1) * block), slots, nodes, leaf, roots, depths,
                      groups, cat_bits, lin_const, lin_offsets, lin_feature, lin_coeff, order, t0,
                      t1, out)


@njit(cache=True, nogil=True)
def leaf_serial(X, slots, nodes, roots, depths, cat_bits, leaf_index, t0, t1, out):
    n = _row_count(X)
    block = _block_rows(slots.size)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        keys, shift = _block_keys(X, r0, r1, slots)
        _leaf_rows(keys, shift, r1 - r0, r0, nodes, roots, depths, cat_bits, leaf_index, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, slots, nodes, roots, depths, cat_bits, leaf_index, t0, t1,
                  out):
    n = _row_count(X)
    block = _parallel_block_rows(slots.size, n)
    for b in prange((n + block - 1) // block):
        r0, r1 = b * block, min(n, (b + 1) * block)
        keys, shift = _block_keys(X, r0, r1, slots)
        _leaf_rows(keys, shift, r1 - r0, r0, nodes, roots, depths, cat_bits, leaf_index, t0, t1, out)


# --- outputs ---------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def finish(out, divisor, code, sigmoid):
    """Random-forest averaging (``divisor`` > 1) then the objective's ConvertOutput, in place,
    with LightGBM's float64 arithmetic. ``code`` is a ``Transform`` value."""
    n, k = out.shape
    if divisor != 1.0:
        for r in range(n):
            for c in range(k):
                out[r, c] /= divisor
    if code == 1:  # 1 / (1 + exp(-S * x))
        for r in range(n):
            for c in range(k):
                out[r, c] = 1.0 / (1.0 + math.exp(-sigmoid * out[r, c]))
    elif code == 2:
        for r in range(n):
            for c in range(k):
                out[r, c] = math.exp(out[r, c])
    elif code == 4:  # Common::Softmax
        for r in range(n):
            wmax = out[r, 0]
            for c in range(1, k):
                wmax = out[r, c] if not out[r, c] < wmax else wmax
            wsum = 0.0
            for c in range(k):
                out[r, c] = math.exp(out[r, c] - wmax)
                wsum += out[r, c]
            for c in range(k):
                out[r, c] /= wsum
    elif code == 6:  # Common::Sign(x) * x * x
        for r in range(n):
            for c in range(k):
                x = out[r, c]
                out[r, c] = np.float64(np.int64(x > 0.0) - np.int64(x < 0.0)) * x * x
    elif code == 7:
        for r in range(n):
            for c in range(k):
                out[r, c] = math.log1p(math.exp(out[r, c]))
