"""Compiled kernels over a binned LightGBM forest (``lightgbm_bins``): dense float32 / float64
rows, float64 sums.

A block of rows is first turned into keys, one small integer per (binned slot, row): the
value's bin among its slot's thresholds (a branch-free binary search of a fixed number of
steps per slot), or the slot's missing code. A walk step is then
``node = (node_word + key) >> bits`` on one 8-byte node and a one- or two-byte key, so a block's
keys stay in the first-level cache while the trees walk them. Dense rows go through
LightGBM's dense conversion first (|x| <= 1e-35 becomes 0.0).

Sums, order of addition, eight rows walking a tree together and the last rows of a block
walking eight trees at a time are as in ``lightgbm_kernels`` (see there for why).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import overload

from ..forest_lightgbm import ZERO_THRESHOLD
from .lightgbm_kernels import finish

_ZERO = np.float64(ZERO_THRESHOLD)


@njit(cache=True, nogil=True, inline="always")
def _dense_keys(X, r0, r1, shift, slots, missing, values, keys, xs, at_bin, below):
    """Keys of rows [r0, r1) into ``keys``, binned-slot-major, ``1 << shift`` apart (``xs``,
    ``at_bin`` and ``below`` are scratch of a block's rows). A slot's bins are found for all
    the block's rows one search step at a time: a lower bound over its thresholds whose rows'
    searches are independent, so the CPU overlaps them. A step's comparisons are stored before
    they are used: taken in the same loop, the compiler turns them into a branch, which
    mispredicts half the time."""
    n = r1 - r0
    for q in range(missing.size):
        at = q << shift
        code = missing[q]
        if slots[q, 2]:  # the slot's other direction: the same bins, another missing code
            for r in range(n):
                k = keys[at - (1 << shift) + r]
                keys[at + r] = code if k == 0 else k
            continue
        col = slots[q, 0]
        kd = slots[q, 1]
        lo = slots[q, 3]
        m = slots[q, 4]
        for r in range(n):
            x = np.float64(X[r0 + r, col])
            x = 0.0 if abs(x) <= _ZERO else x  # LightGBM's dense conversion
            xs[r] = 0.0 if (x != x) & (kd == 0) else x  # missing type None: NaN is read as 0.0
            at_bin[r] = lo
        if m == 0:
            for r in range(n):
                x = xs[r]
                keys[at + r] = code if (x != x) | ((kd == 1) & (abs(x) <= _ZERO)) else 1
            continue
        width = m
        while width > 1:
            half = width >> 1
            for r in range(n):
                below[r] = np.int64(values[np.uint64(at_bin[r] + half)] < xs[r])
            for r in range(n):
                at_bin[r] += half & -below[r]
            width -= half
        for r in range(n):
            x = xs[r]
            b = at_bin[r]
            key = b - lo + 1 + np.int64(values[np.uint64(b)] < x)  # 1 + count of thresholds < x
            keys[at + r] = code if (x != x) | ((kd == 1) & (abs(x) <= _ZERO)) else key


def _key_bits(keys):
    """The width of a key in bits, a compile-time constant."""


@overload(_key_bits, inline="always")
def _key_bits_impl(keys):
    bits = np.uint64(keys.dtype.bitwidth)
    return lambda keys: bits


@njit(cache=True, nogil=True, inline="always")
def _next(keys, row, w):
    """The child node word ``w`` sends block row ``row`` to (a leaf's word: the leaf)."""
    bits = _key_bits(keys)
    return np.uint32((w + np.uint64(keys[(w >> (bits + np.uint64(32))) + row])) >> bits)


@njit(cache=True, nogil=True, inline="always")
def _step(keys, row, node, nodes):
    return _next(keys, row, nodes[node])


@njit(cache=True, nogil=True)
def _walk_block(keys, n, o, nodes, leaf, roots, depths, groups, walk, t0, t1, out):
    """Every tree of [t0, t1) over the block's ``n`` rows (output rows from ``o``), eight rows
    a tree together; the last rows (fewer than eight) eight trees at a time."""
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
                a0 = _step(keys, r, a0, nodes)
                a1 = _step(keys, r + np.uint64(1), a1, nodes)
                a2 = _step(keys, r + np.uint64(2), a2, nodes)
                a3 = _step(keys, r + np.uint64(3), a3, nodes)
                a4 = _step(keys, r + np.uint64(4), a4, nodes)
                a5 = _step(keys, r + np.uint64(5), a5, nodes)
                a6 = _step(keys, r + np.uint64(6), a6, nodes)
                a7 = _step(keys, r + np.uint64(7), a7, nodes)
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
    values = np.empty(t1 - t0, dtype=np.float64)
    for r in range(full_end, n):
        _trees_of_row(keys, np.uint64(r), nodes, leaf, walk, t0, values)
        for t in range(t0, t1):
            out[o + r, groups[t]] += values[t - t0]


@njit(cache=True, nogil=True, inline="always")
def _trees_of_row(keys, r, nodes, leaf, walk, t0, values):
    """Block row ``r``'s leaf value of each tree in ``walk`` (root | tree << 32) into
    ``values[tree - t0]``. Sixteen trees walk together (then eight, then one at a time) until
    all of them are at leaves (a leaf's word has a zero low field), so a group stops at this
    row's longest path among its trees; sixteen independent walks hide more of the wait for
    nodes that are not in the first-level cache (one row reuses none)."""
    low = (np.uint64(1) << _key_bits(keys)) - np.uint64(1)
    m = walk.size
    i = 0
    while i + 16 <= m:
        a0, a1, a2, a3 = np.uint32(walk[i]), np.uint32(walk[i + 1]), np.uint32(walk[i + 2]), np.uint32(walk[i + 3])
        a4, a5, a6, a7 = np.uint32(walk[i + 4]), np.uint32(walk[i + 5]), np.uint32(walk[i + 6]), np.uint32(walk[i + 7])
        b0, b1, b2, b3 = np.uint32(walk[i + 8]), np.uint32(walk[i + 9]), np.uint32(walk[i + 10]), np.uint32(walk[i + 11])
        b4, b5, b6, b7 = np.uint32(walk[i + 12]), np.uint32(walk[i + 13]), np.uint32(walk[i + 14]), np.uint32(walk[i + 15])
        while True:
            w0, w1, w2, w3 = nodes[a0], nodes[a1], nodes[a2], nodes[a3]
            w4, w5, w6, w7 = nodes[a4], nodes[a5], nodes[a6], nodes[a7]
            v0, v1, v2, v3 = nodes[b0], nodes[b1], nodes[b2], nodes[b3]
            v4, v5, v6, v7 = nodes[b4], nodes[b5], nodes[b6], nodes[b7]
            if ((w0 | w1 | w2 | w3 | w4 | w5 | w6 | w7 | v0 | v1 | v2 | v3 | v4 | v5 | v6 | v7) & low) == 0:
                break
            a0, a1, a2, a3 = _next(keys, r, w0), _next(keys, r, w1), _next(keys, r, w2), _next(keys, r, w3)
            a4, a5, a6, a7 = _next(keys, r, w4), _next(keys, r, w5), _next(keys, r, w6), _next(keys, r, w7)
            b0, b1, b2, b3 = _next(keys, r, v0), _next(keys, r, v1), _next(keys, r, v2), _next(keys, r, v3)
            b4, b5, b6, b7 = _next(keys, r, v4), _next(keys, r, v5), _next(keys, r, v6), _next(keys, r, v7)
        for j, a in enumerate((a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7)):
            values[(walk[i + j] >> np.uint64(32)) - t0] = leaf[a]
        i += 16
    if i + 8 <= m:
        a0, a1, a2, a3 = np.uint32(walk[i]), np.uint32(walk[i + 1]), np.uint32(walk[i + 2]), np.uint32(walk[i + 3])
        a4, a5, a6, a7 = np.uint32(walk[i + 4]), np.uint32(walk[i + 5]), np.uint32(walk[i + 6]), np.uint32(walk[i + 7])
        while True:
            w0, w1, w2, w3 = nodes[a0], nodes[a1], nodes[a2], nodes[a3]
            w4, w5, w6, w7 = nodes[a4], nodes[a5], nodes[a6], nodes[a7]
            if ((w0 | w1 | w2 | w3 | w4 | w5 | w6 | w7) & low) == 0:
                break
            a0, a1, a2, a3 = _next(keys, r, w0), _next(keys, r, w1), _next(keys, r, w2), _next(keys, r, w3)
            a4, a5, a6, a7 = _next(keys, r, w4), _next(keys, r, w5), _next(keys, r, w6), _next(keys, r, w7)
        for j, a in enumerate((a0, a1, a2, a3, a4, a5, a6, a7)):
            values[(walk[i + j] >> np.uint64(32)) - t0] = leaf[a]
        i += 8
    while i < m:
        a = np.uint32(walk[i])
        while nodes[a] & low:
            a = _next(keys, r, nodes[a])
        values[(walk[i] >> np.uint64(32)) - t0] = leaf[a]
        i += 1


@njit(cache=True, nogil=True, inline="always")
def _margin_block(X, r0, r1, shift, slots, missing, values, words, num_nodes, roots, depths, groups, walk, t0, t1,
                  out, keys, xs, at_bin, below):
    _dense_keys(X, r0, r1, shift, slots, missing, values, keys, xs, at_bin, below)
    _walk_block(keys, r1 - r0, r0, words[:num_nodes], values[:num_nodes], roots, depths, groups, walk, t0, t1, out)


@njit(cache=True, nogil=True)
def margin_serial(X, slots, missing, values, words, num_nodes, shift, roots, depths, groups, walk, t0, t1, out):
    """Trees [t0, t1) added into ``out`` for every row of ``X``; ``walk``: those trees by depth,
    as root | tree << 32."""
    n = X.shape[0]
    keys = np.empty(max(missing.size, 1) << shift, dtype=missing.dtype)
    xs = np.empty(1 << shift, dtype=np.float64)
    at_bin = np.empty(1 << shift, dtype=np.int64)
    below = np.empty(1 << shift, dtype=np.int64)
    for r0 in range(0, n, 1 << shift):
        _margin_block(X, r0, min(n, r0 + (1 << shift)), shift, slots, missing, values, words, num_nodes, roots,
                      depths, groups, walk, t0, t1, out, keys, xs, at_bin, below)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, slots, missing, values, words, num_nodes, shift, roots, depths, groups, walk, t0, t1, out):
    n = X.shape[0]
    block = 1 << shift
    while block > 64 and n // block < 8:  # a small batch: several blocks per thread
        block //= 2
    for b in prange((n + block - 1) // block):
        keys = np.empty(max(missing.size, 1) << shift, dtype=missing.dtype)
        xs = np.empty(block, dtype=np.float64)
        at_bin = np.empty(block, dtype=np.int64)
        below = np.empty(block, dtype=np.int64)
        _margin_block(X, b * block, min(n, (b + 1) * block), shift, slots, missing, values, words, num_nodes, roots,
                      depths, groups, walk, t0, t1, out, keys, xs, at_bin, below)


@njit(cache=True, nogil=True, inline="always")
def _row_keys(x, shift, slots, missing, values, keys):
    """``_dense_keys`` of one row, its slots' searches run a step at a time across the slots
    instead of across rows (a slot done already takes steps of 0), so they overlap as a block's
    rows' searches do."""
    n = missing.size
    xs = np.empty(n, dtype=np.float64)
    at_bin = np.empty(n, dtype=np.int64)
    width = np.empty(n, dtype=np.int64)
    below = np.empty(n, dtype=np.int64)
    widest = 0
    for q in range(n):
        v = np.float64(x[0, slots[q, 0]])
        v = 0.0 if abs(v) <= _ZERO else v  # LightGBM's dense conversion
        xs[q] = 0.0 if (v != v) & (slots[q, 1] == 0) else v  # missing type None: NaN is read as 0.0
        at_bin[q] = slots[q, 3] if slots[q, 4] else 0  # a slot without thresholds reads a leaf value
        width[q] = slots[q, 4]
        widest = max(widest, slots[q, 4])
    while widest > 1:
        for q in range(n):
            half = width[q] >> 1
            below[q] = half & -np.int64(values[np.uint64(at_bin[q] + half)] < xs[q])
            width[q] -= half
        for q in range(n):
            at_bin[q] += below[q]
        widest -= widest >> 1
    for q in range(n):
        code = missing[q]
        if slots[q, 2]:  # the slot's other direction: the same bins, another missing code
            k = keys[(q - 1) << shift]
            keys[q << shift] = code if k == 0 else k
            continue
        v = xs[q]
        b = at_bin[q]
        key = b - slots[q, 3] + 1 + np.int64(values[np.uint64(b)] < v) if slots[q, 4] else 1
        keys[q << shift] = code if (v != v) | ((slots[q, 1] == 1) & (abs(v) <= _ZERO)) else key


@njit(cache=True, nogil=True)
def margin_one_row(x, slots, missing, values, words, num_nodes, shift, divisor, code, sigmoid, out):
    """One dense row (``x``, shape (1, features)) through every tree, LightGBM's output
    conversion included, into ``out`` (one float64 per class); leaves are added in tree order
    (class ``tree % classes``)."""
    keys = np.empty(max(missing.size, 1) << shift, dtype=missing.dtype)
    _row_keys(x, shift, slots, missing, values, keys)
    walk = words[num_nodes:]
    m = walk.size
    sums = np.empty(m, dtype=np.float64)
    _trees_of_row(keys, np.uint64(0), words[:num_nodes], values[:num_nodes], walk, 0, sums)
    k = out.size
    for t in range(m):
        out[t % k] += sums[t]
    finish(out.reshape(1, k), divisor, code, sigmoid)
