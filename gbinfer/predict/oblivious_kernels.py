"""Kernels for oblivious (CatBoost symmetric) trees: over blocks of rows, or row by row for a few.

Block kernels, per block of rows: each float feature the trees use is binarised once per row
(``_binarise``) and the one-hot codes of the categorical features (computed before the call,
``codes``) are placed after them; then every tree's leaf index is ``depth`` comparisons of those
small integers, one bit each. Bins are stored feature-major (a slot's bins for the block's rows
side by side), in the narrowest unsigned type that holds every slot's bins (``level_lo``'s type:
uint8 for up to 255 borders), and leaf indexes in the narrowest that holds ``2**depth`` leaves
(``level_bit``'s type): a tree level reads one slot for every row of the block, a loop the
compiler vectorises over 32 uint8 lanes with no branch on the data. A level's test is
``bin >= lo`` (a float border) or ``bin == lo`` (a one-hot value; see ``Layout`` in
``oblivious``). Sums are float64, tree after tree per row, as CatBoost's evaluator adds them,
then ``* scale + bias`` as CatBoost's ApplyScaleAndBias (no bias added where the model has none). The row
kernels do the same arithmetic one row at a time without the block's loops, which cost more than
their work on a few rows. The model was checked by ``Oblivious.build`` and its layout derived from
it; the kernels trust every index in them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

BLOCK = 256  # rows binarised together: their uint8 bins (50 features: 12.5 KiB) stay in L1 while every tree reads them
TREES = 4  # trees whose leaves are added to a row's sum in one pass (the pass below is written for 4)
ROWS_BELOW = 8  # batches smaller than this go row by row (``margin_rows``)


@njit(cache=True, nogil=True)
def _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins):
    """bins[s, i] = number of float slot s's borders strictly below X[r0 + i, column] (CatBoost's
    ``x > border`` counted), or the slot's NaN bin; the one-hot codes follow the float slots.
    ``bins`` may be of any unsigned type that holds every slot's border count; at most ``BLOCK`` rows.

    The count is branch-free, four borders per pass over the block's values, so rows of unrelated
    values cost no mispredicted branches and the loop vectorises."""
    floats = slot_column.shape[0]
    m = r1 - r0
    for c in range(codes.shape[1]):
        for i in range(m):
            bins[floats + c, i] = codes[r0 + i, c]
    xs = np.empty(BLOCK, dtype=X.dtype)
    for s in range(floats):
        column = slot_column[s]
        row = bins[s]
        for i in range(m):
            xs[i] = X[r0 + i, column]
            row[i] = 0
        j, end = border_offsets[s], border_offsets[s + 1]
        while j + 4 <= end:
            b0, b1, b2, b3 = borders[j], borders[j + 1], borders[j + 2], borders[j + 3]
            for i in range(m):
                x = xs[i]
                row[i] += np.uint8(np.uint8(x > b0) + np.uint8(x > b1) + np.uint8(x > b2) + np.uint8(x > b3))
            j += 4
        while j < end:
            b0 = borders[j]
            for i in range(m):
                row[i] += np.uint8(xs[i] > b0)
            j += 1
        nb = nan_bin[s]
        for i in range(m):
            x = xs[i]
            if x != x:
                row[i] = nb


@njit(cache=True, nogil=True)
def _leaves(bins, m, t, level_slot, level_lo, level_hi, level_bit, tree_offsets, idx):
    """idx[i] = leaf of tree ``t`` for row ``i`` of the block, for its first ``m`` rows."""
    zero = level_bit.dtype.type(0)
    for i in range(m):
        idx[i] = zero
    for a in range(tree_offsets[t], tree_offsets[t + 1]):
        row = bins[level_slot[a]]
        lo, bit = level_lo[a], level_bit[a]
        if level_hi[a] == 0:  # a float border: bin >= lo
            for i in range(m):
                idx[i] |= bit if row[i] >= lo else zero
        else:  # a one-hot value: bin == lo
            for i in range(m):
                idx[i] |= bit if row[i] == lo else zero


@njit(cache=True, nogil=True)
def _margin_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo,
                  level_hi, level_bit, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, post, out, bins,
                  idx, acc):
    """One block's sums; ``idx`` holds the leaf indexes of ``TREES`` trees, added to each row's
    sum in tree order in one pass over the rows (one load and store of the sum per ``TREES`` trees)."""
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for j in range(k):
        for i in range(m):
            acc[j, i] = 0.0
    t = t0
    if k == 1:
        row = acc[0]
        while t + TREES <= t1:
            for u in range(TREES):
                _leaves(bins, m, t + u, level_slot, level_lo, level_hi, level_bit, tree_offsets, idx[u])
            # indexed by unsigned leaf numbers: no negative-index wrap-around to check
            l0, l1, l2, l3 = (leaf_values[leaf_offsets[t]:], leaf_values[leaf_offsets[t + 1]:],
                              leaf_values[leaf_offsets[t + 2]:], leaf_values[leaf_offsets[t + 3]:])
            i0, i1, i2, i3 = idx[0], idx[1], idx[2], idx[3]
            for i in range(m):
                row[i] = (((row[i] + l0[i0[i]]) + l1[i1[i]]) + l2[i2[i]]) + l3[i3[i]]
            t += TREES
    for t in range(t, t1):
        _leaves(bins, m, t, level_slot, level_lo, level_hi, level_bit, tree_offsets, idx[0])
        leaves = leaf_values[leaf_offsets[t]:]
        i0 = idx[0]
        for j in range(k):
            row = acc[j]
            for i in range(m):
                row[i] += leaves[np.uintp(i0[i]) * k + j]
    scale, biased = post[0], post[1] != 0.0  # no bias: nothing added, so a sum of -0.0 keeps its sign
    for i in range(m):
        for j in range(k):
            out[r0 + i, j] = acc[j, i] * scale + post[2 + j] if biased else acc[j, i] * scale


@njit(cache=True, nogil=True)
def margin_serial(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_hi,
                  level_bit, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, post, out):
    """Trees ``t0..t1-1`` summed, times the scale plus the bias (``post``, as ``margin_rows`` reads it),
    into ``out`` (float64, rows x k)."""
    n = X.shape[0]
    bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=level_lo.dtype)
    idx = np.empty((TREES, BLOCK), dtype=level_bit.dtype)
    acc = np.empty((k, BLOCK), dtype=np.float64)
    for r0 in range(0, n, BLOCK):
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                      level_lo, level_hi, level_bit, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, post,
                      out, bins, idx, acc)


@njit(cache=True, nogil=True, parallel=True)
def margin_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_hi,
                    level_bit, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, post, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=level_lo.dtype)
        idx = np.empty((TREES, BLOCK), dtype=level_bit.dtype)
        acc = np.empty((k, BLOCK), dtype=np.float64)
        _margin_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                      level_lo, level_hi, level_bit, tree_offsets, leaf_offsets, leaf_values, k, t0, t1, post,
                      out, bins, idx, acc)


# the row kernel's ``plan``: a header of counts and offsets into the same int64 array
FLOATS, ONE_HOTS, SLOTS, BORDER_OFFSETS, NAN_BINS, ONE_HOT_CODES, LEAF_OFFSETS = range(7)
PLAN_HEADER = 7
# the output transforms the row kernel applies (CatBoost's Probability and Exponent)
NO_TRANSFORM, SIGMOID, EXPONENT = 0, 1, 2


@njit(cache=True, nogil=True)
def finish(v, transform):
    """CatBoost's Logloss probability or count-loss exponent of a raw value, with libm's ``exp``
    (CatBoost's scalar path rounds as libm does)."""
    if transform == SIGMOID:
        return 1.0 / (1.0 + math.exp(-v))
    if transform == EXPONENT:
        return math.exp(v)
    return v


@njit(cache=True, nogil=True)
def finish_all(out, transform):
    """``finish`` of every value of ``out`` in place: the block kernels' outputs end as the row
    kernel's do, so a row's output does not depend on the size of its batch."""
    flat = out.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = finish(flat[i], transform)


@njit(cache=True, nogil=True)
def softmax_all(out):
    """Each row of ``out`` replaced by its softmax in place, as CatBoost's CalcSoftmax orders it:
    the row's maximum taken off, the exponents added left to right, each divided by their sum
    (in a fixed order: numpy's reductions change theirs between releases)."""
    for r in range(out.shape[0]):
        row = out[r]
        top = row[0]
        for j in range(1, row.shape[0]):
            top = max(top, row[j])
        total = 0.0
        for j in range(row.shape[0]):
            row[j] = math.exp(row[j] - top)
            total += row[j]
        for j in range(row.shape[0]):
            row[j] /= total


@njit(cache=True, nogil=True)
def _row_bins(X, codes, r, plan, borders, bins):
    """One row's bins: a float slot's count of borders below the value (all of them compared, a
    loop the compiler vectorises; NaN: the slot's NaN bin), then one pseudo-bin per one-hot
    level, 1 where the row's code is the level's value. The last bin stays 0 (padding levels)."""
    floats, slots, edges, nans = plan[FLOATS], plan[SLOTS], plan[BORDER_OFFSETS], plan[NAN_BINS]
    for s in range(floats):
        x = X[r, plan[slots + s]]
        count = np.uint32(0)
        for j in range(plan[edges + s], plan[edges + s + 1]):
            count += np.uint32(x > borders[j])
        bins[s] = np.uint32(plan[nans + s]) if x != x else count
    at = plan[ONE_HOT_CODES]
    for h in range(plan[ONE_HOTS]):
        bins[floats + h] = np.uint32(codes[r, plan[at + 2 * h]] == plan[at + 2 * h + 1])


@njit(cache=True, nogil=True)
def _leaf(bins, levels, t, depth):
    """Tree ``t``'s leaf: bit ``d`` set where level ``d``'s bin reaches its ``lo``. Every tree has
    ``len(depth)`` levels (shallower ones padded with levels that are never true), a constant the
    compiler unrolls the loop by."""
    leaf = np.uintp(0)
    base = np.uintp(t) * np.uintp(2 * len(depth))  # unsigned indexes: no negative-index wrap-around to check
    for d in range(len(depth)):
        a = base + np.uintp(2 * d)
        leaf |= np.uintp(bins[levels[a]] >= levels[a + 1]) << np.uintp(d)
    return leaf


@njit(cache=True, nogil=True)
def margin_rows(X, codes, plan, levels, borders, leaf_values, post, t0, t1, transform, depth, out):
    """``margin_serial``'s sums for a few rows, one row at a time, then ``finish``: the row's bins
    once (``_row_bins``), then per tree ``len(depth)`` loads and compares of small integers.
    ``post``: scale, 1.0 where a bias is added (else 0.0), the bias per output."""
    bins = np.zeros(plan[FLOATS] + plan[ONE_HOTS] + 1, dtype=np.uint32)
    k = out.shape[1]
    offsets = plan[plan[LEAF_OFFSETS]:]
    scale, biased = post[0], post[1] != 0.0  # no bias: nothing added, so a sum of -0.0 keeps its sign
    acc = np.empty(k, dtype=np.float64)
    for r in range(X.shape[0]):
        _row_bins(X, codes, r, plan, borders, bins)
        if k == 1:
            total = 0.0
            for t in range(t0, t1):
                total += leaf_values[offsets[t] + np.intp(_leaf(bins, levels, t, depth))]
            acc[0] = total
        else:
            acc[:] = 0.0
            for t in range(t0, t1):
                base = offsets[t] + np.intp(_leaf(bins, levels, t, depth)) * k
                for j in range(k):
                    acc[j] += leaf_values[base + j]
        for j in range(k):
            out[r, j] = finish(acc[j] * scale + post[2 + j] if biased else acc[j] * scale, transform)


@njit(cache=True, nogil=True)
def _leaf_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_hi,
                level_bit, tree_offsets, t0, t1, out, bins, idx):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    m = r1 - r0
    for t in range(t0, t1):
        _leaves(bins, m, t, level_slot, level_lo, level_hi, level_bit, tree_offsets, idx)
        for i in range(m):
            out[r0 + i, t - t0] = idx[i]


@njit(cache=True, nogil=True)
def leaf_serial(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_hi,
                level_bit, tree_offsets, t0, t1, out):
    """Leaf index of trees ``t0..t1-1`` per row into ``out`` (uint32, rows x trees)."""
    n = X.shape[0]
    bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=level_lo.dtype)
    idx = np.empty(BLOCK, dtype=level_bit.dtype)
    for r0 in range(0, n, BLOCK):
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                    level_lo, level_hi, level_bit, tree_offsets, t0, t1, out, bins, idx)


@njit(cache=True, nogil=True, parallel=True)
def leaf_parallel(X, codes, slot_column, borders, border_offsets, nan_bin, level_slot, level_lo, level_hi,
                  level_bit, tree_offsets, t0, t1, out):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        r0 = b * BLOCK
        bins = np.empty((slot_column.shape[0] + codes.shape[1], BLOCK), dtype=level_lo.dtype)
        idx = np.empty(BLOCK, dtype=level_bit.dtype)
        _leaf_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, level_slot,
                    level_lo, level_hi, level_bit, tree_offsets, t0, t1, out, bins, idx)


_M = np.uint64(0x4906BA494954CB65)  # CatBoost's CalcHash(a, b) = M * (a + M * b), wrapping in 64 bits


@njit(cache=True, nogil=True, error_model="numpy")  # x / 0 is inf or NaN, as in numpy
def _ctr_rows(X, H, r0, r1, width, info, priors, cat_at, float_column, float_border, float_nan, one_hot_at,
              one_hot_value, slots, counts):
    """CTR ``k`` of rows ``r0..r1-1`` into ``X[:, width + k]``, as CatBoost's model computes it
    (TModelCtr::Calc): the row's combination hashed (each categorical hash sign-extended, each
    float or one-hot element as 0/1), looked up in the CTR's hash index (``ctr_index``), the counts
    turned into ``good`` and ``total`` by the CTR's kind (float64, exact: integer counts), then
    ``((good + prior_numerator) / (total + prior_denominator) + shift) * scale`` in float32.
    ``info[k]``: element ranges, index offset and bits, counts offset and width, kind, target
    border, denominator; ``priors[k]``: prior numerator and denominator, shift, scale."""
    for r in range(r0, r1):
        for k in range(info.shape[0]):
            c0, c1, f0, f1, o0, o1 = info[k, 0], info[k, 1], info[k, 2], info[k, 3], info[k, 4], info[k, 5]
            t0, at, w = info[k, 6], info[k, 8], info[k, 9]
            kind, tb, denominator = info[k, 10], info[k, 11], info[k, 12]
            h = np.uint64(0)
            for e in range(c0, c1):
                h = _M * (h + _M * np.uint64(np.int64(H[r, cat_at[e]])))
            for e in range(f0, f1):
                x = X[r, float_column[e]]
                h = _M * (h + _M * np.uint64((x > float_border[e]) | (float_nan[e] & (x != x))))
            for e in range(o0, o1):
                h = _M * (h + _M * np.uint64(H[r, one_hot_at[e]] == one_hot_value[e]))
            # open addressing, linear probing from the hash's top bits (CalcHash mixes them best)
            bits = np.uint64(info[k, 7])
            mask = (np.intp(1) << np.intp(bits)) - 1
            i = np.intp(h >> (np.uint64(64) - bits))
            entry = -1
            while True:
                e = np.intp(slots[t0 + i, 1])  # (hash, entry) side by side: one cache line per probe
                if e < 0 or slots[t0 + i, 0] == h:
                    entry = e
                    break
                i = (i + 1) & mask
            good, total = 0.0, float(denominator) if kind >= 4 else 0.0
            if entry >= 0:
                row = at + entry * w
                if kind == 0:  # Borders
                    if w == 2:
                        good, total = counts[row + 1], counts[row] + counts[row + 1]
                    else:
                        good = 0.0
                        for c in range(tb + 1, w):
                            good += counts[row + c]
                        total = good
                        for c in range(tb + 1):
                            total += counts[row + c]
                elif kind == 1:  # Buckets
                    good, total = counts[row + tb], 0.0
                    for c in range(w):
                        total += counts[row + c]
                elif kind >= 4:  # Counter, FeatureFreq
                    good = counts[row]
                else:  # the target mean values: (sum, count)
                    good, total = counts[row], counts[row + 1]
            value = (np.float32(good) + priors[k, 0]) / (np.float32(total) + priors[k, 1])
            X[r, width + k] = (value + priors[k, 2]) * priors[k, 3]


@njit(cache=True, nogil=True, error_model="numpy")  # x / 0 is inf or NaN, as in numpy
def ctr_serial(X, H, width, info, priors, cat_at, float_column, float_border, float_nan, one_hot_at, one_hot_value,
               slots, counts):
    """Every CTR of every row into ``X``'s columns after ``width`` (see ``_ctr_rows``)."""
    _ctr_rows(X, H, 0, X.shape[0], width, info, priors, cat_at, float_column, float_border, float_nan, one_hot_at,
              one_hot_value, slots, counts)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def ctr_parallel(X, H, width, info, priors, cat_at, float_column, float_border, float_nan, one_hot_at, one_hot_value,
                 slots, counts):
    n = X.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        _ctr_rows(X, H, b * BLOCK, min(b * BLOCK + BLOCK, n), width, info, priors, cat_at, float_column, float_border,
                  float_nan, one_hot_at, one_hot_value, slots, counts)


@njit(cache=True, nogil=True)
def ctr_index(hashes, bits, slots):
    """An open-addressing index of a CTR table's distinct hashes: ``2**bits`` slots (at least twice
    the entries, so a probe always ends) of (hash, entry as uint64), the entry all ones where empty
    (-1 read as a signed integer); a hash starts at its top bits."""
    mask = (np.intp(1) << bits) - 1
    empty = ~np.uint64(0)
    for i in range(slots.shape[0]):
        slots[i, 1] = empty
    for e in range(hashes.shape[0]):
        h = hashes[e]
        i = np.intp(h >> np.uint64(64 - bits))
        while slots[i, 1] != empty:
            i = (i + 1) & mask
        slots[i, 0] = h
        slots[i, 1] = np.uint64(e)
