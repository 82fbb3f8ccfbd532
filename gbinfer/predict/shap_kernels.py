"""Compiled TreeSHAP kernels: exact path-dependent SHAP values (Lundberg et al., "Consistent
Individualized Feature Attribution for Tree Ensembles"), their conditioned form for interaction
values, and Saabas' path attribution.

The kernels know nothing of any source library beyond two things handed to them: node covers,
and the step that picks the child a row takes (``_hot_child``, today the XGBoost decision of
``kernels._step`` over the block's keys). Everything else is the tree shape (``left``: a node's
children are ``left`` and ``left + 1``, a leaf is its own ``left``), the split feature of each
node, leaf values (one column per output for vector leaves) and the per-node mean values that
``shap.py`` derives from the covers.

Arithmetic is float32 throughout, in the order XGBoost's ``treeshap.cc`` uses (every integer
factor converted to float32 before it is used), so that contributions agree with XGBoost's to
float32 rounding. The recursion is run with an explicit stack: a node's path lives in a slice
of one triangular buffer that its subtree never writes over, as in XGBoost's recursive form, so
a node visited from the stack finds its parent's path intact. Per tree, contributions go to a
scratch vector that is then added to the row's output times the tree's weight (DART), touching
only the features the tree splits on.

Rows are processed in chunks of ``CHUNK`` (a row costs a full traversal of every tree, so
small chunks balance the threads); every buffer is allocated once per chunk, never per node,
and each chunk writes only its own rows, so the parallel form is thread-safe.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _block_keys, _row_count, _step

CHUNK = 16  # rows per chunk; at most kernels.BLOCK, the rows one key block holds
_F32_ONE = np.float32(1.0)
_F32_ZERO = np.float32(0.0)


@njit(cache=True, nogil=True, inline="always")
def _hot_child(keys, row, node, walk):
    """The child block row ``row`` goes to at internal ``node``: the source's own decision rule."""
    word, split_key, left, cat_offsets, cat_bits = walk
    return np.int64(_step(keys, np.uint64(row), node, word, split_key, left, cat_offsets, cat_bits))


@njit(cache=True, nogil=True)
def _extend(pf, pz, po, pw, off, ud, zero_fraction, one_fraction, feature):
    """Append (feature, zero, one) at position ``ud`` of the path at ``off`` and update the
    permutation weights (ExtendPath)."""
    at = off + ud
    pf[at] = feature
    pz[at] = zero_fraction
    po[at] = one_fraction
    pw[at] = _F32_ONE if ud == 0 else _F32_ZERO
    denom = np.float32(ud + 1)
    for i in range(ud - 1, -1, -1):
        pw[off + i + 1] += one_fraction * pw[off + i] * np.float32(i + 1) / denom
        pw[off + i] = zero_fraction * pw[off + i] * np.float32(ud - i) / denom


@njit(cache=True, nogil=True)
def _unwind(pf, pz, po, pw, off, ud, index):
    """Remove path element ``index`` from a path of depth ``ud`` (UnwindPath)."""
    one_fraction = po[off + index]
    zero_fraction = pz[off + index]
    next_one = pw[off + ud]
    scale = np.float32(ud + 1)
    for i in range(ud - 1, -1, -1):
        if one_fraction != 0:
            tmp = pw[off + i]
            pw[off + i] = next_one * scale / (np.float32(i + 1) * one_fraction)
            next_one = tmp - pw[off + i] * zero_fraction * np.float32(ud - i) / scale
        else:
            pw[off + i] = pw[off + i] * scale / (zero_fraction * np.float32(ud - i))
    for i in range(index, ud):
        pf[off + i] = pf[off + i + 1]
        pz[off + i] = pz[off + i + 1]
        po[off + i] = po[off + i + 1]


@njit(cache=True, nogil=True)
def _unwound_sum(pz, po, pw, off, ud, index):
    """Total permutation weight of the path with element ``index`` removed (UnwoundPathSum)."""
    one_fraction = po[off + index]
    zero_fraction = pz[off + index]
    next_one = pw[off + ud]
    scale = np.float32(ud + 1)
    total = _F32_ZERO
    for i in range(ud - 1, -1, -1):
        if one_fraction != 0:
            tmp = next_one * scale / (np.float32(i + 1) * one_fraction)
            total += tmp
            next_one = pw[off + i] - tmp * zero_fraction * (np.float32(ud - i) / scale)
        elif zero_fraction != 0:
            total += (pw[off + i] / zero_fraction) / (np.float32(ud - i) / scale)
    return total


@njit(cache=True, nogil=True)
def _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi, condition, condition_feature,
               pf, pz, po, pw, stack_i, stack_f):
    """Add one tree's SHAP values for block row ``row`` to ``phi`` (``phi[f * leaf_size + j]``).

    ``condition`` 0: plain values; +1 / -1: values with ``condition_feature`` fixed present /
    absent, that feature kept out of the path (XGBoost's conditioning for interactions).
    Stack frames hold (node, depth passed in, parent path offset, parent feature) and
    (zero fraction, one fraction, condition fraction)."""
    ls = leaf.shape[1]
    top = 0
    stack_i[0, 0] = root
    stack_i[0, 1] = 0
    stack_i[0, 2] = 0
    stack_i[0, 3] = -1
    stack_f[0, 0] = _F32_ONE
    stack_f[0, 1] = _F32_ONE
    stack_f[0, 2] = _F32_ONE
    while top >= 0:
        node = stack_i[top, 0]
        ud = stack_i[top, 1]
        parent_off = stack_i[top, 2]
        parent_feature = stack_i[top, 3]
        zero_fraction = stack_f[top, 0]
        one_fraction = stack_f[top, 1]
        cf = stack_f[top, 2]
        top -= 1
        if cf == 0:
            continue
        off = parent_off + ud + 1
        for i in range(ud + 1):
            pf[off + i] = pf[parent_off + i]
            pz[off + i] = pz[parent_off + i]
            po[off + i] = po[parent_off + i]
            pw[off + i] = pw[parent_off + i]
        if condition == 0 or condition_feature != parent_feature:
            _extend(pf, pz, po, pw, off, ud, zero_fraction, one_fraction, parent_feature)
        first = np.int64(left[node])
        if first == node:  # a leaf
            for i in range(1, ud + 1):
                w = _unwound_sum(pz, po, pw, off, ud, i)
                scale = w * (po[off + i] - pz[off + i])
                at = pf[off + i] * ls
                for j in range(ls):
                    phi[at + j] += scale * leaf[node, j] * cf
            continue
        split = np.int64(feature[node])
        hot = _hot_child(keys, row, node, walk)
        cold = first + first + 1 - hot
        w = cover[node]
        hot_zero = cover[hot] / w
        cold_zero = cover[cold] / w
        incoming_zero = _F32_ONE
        incoming_one = _F32_ONE
        index = 0
        while index <= ud:
            if pf[off + index] == split:
                break
            index += 1
        if index != ud + 1:
            incoming_zero = pz[off + index]
            incoming_one = po[off + index]
            _unwind(pf, pz, po, pw, off, ud, index)
            ud -= 1
        hot_cf = cf
        cold_cf = cf
        if condition > 0 and split == condition_feature:
            cold_cf = _F32_ZERO
            ud -= 1
        elif condition < 0 and split == condition_feature:
            hot_cf *= hot_zero
            cold_cf *= cold_zero
            ud -= 1
        # cold first onto the stack, so that the hot subtree is done first, as XGBoost does
        top += 1
        stack_i[top, 0] = cold
        stack_i[top, 1] = ud + 1
        stack_i[top, 2] = off
        stack_i[top, 3] = split
        stack_f[top, 0] = cold_zero * incoming_zero
        stack_f[top, 1] = _F32_ZERO
        stack_f[top, 2] = cold_cf
        top += 1
        stack_i[top, 0] = hot
        stack_i[top, 1] = ud + 1
        stack_i[top, 2] = off
        stack_i[top, 3] = split
        stack_f[top, 0] = hot_zero * incoming_zero
        stack_f[top, 1] = incoming_one
        stack_f[top, 2] = hot_cf


@njit(cache=True, nogil=True)
def _tree_saabas(keys, row, root, walk, feature, left, leaf, mean, phi):
    """Saabas' attribution of one tree: each step's change of the node mean goes to the split
    feature (XGBoost's approx_contribs)."""
    ls = leaf.shape[1]
    node = np.int64(root)
    if np.int64(left[node]) == node:
        return
    split = np.int64(0)
    while np.int64(left[node]) != node:
        split = np.int64(feature[node])
        child = _hot_child(keys, row, node, walk)
        for j in range(ls):
            phi[split * ls + j] += mean[child, j] - mean[node, j]
        node = child
    for j in range(ls):
        phi[split * ls + j] += leaf[node, j] - mean[node, j]


@njit(cache=True, nogil=True)
def _scratch(depth):
    """Path buffer and stack for trees up to ``depth`` deep (XGBoost sizes the path the same way)."""
    maxd = depth + 2
    size = maxd * (maxd + 1) // 2 + maxd + 1
    pf = np.full(size, -1, dtype=np.int64)
    pz = np.zeros(size, dtype=np.float32)
    po = np.zeros(size, dtype=np.float32)
    pw = np.zeros(size, dtype=np.float32)
    stack_i = np.zeros((2 * maxd + 2, 4), dtype=np.int64)
    stack_f = np.zeros((2 * maxd + 2, 3), dtype=np.float32)
    return pf, pz, po, pw, stack_i, stack_f


@njit(cache=True, nogil=True)
def _flush(phi, out_row, tree_feats, lo, hi, group, weight, ls):
    """``out_row[group + j, f] += phi[f, j] * weight`` over the tree's features; clears ``phi``."""
    for a in range(lo, hi):
        f = tree_feats[a]
        for j in range(ls):
            out_row[group + j, f] += phi[f * ls + j] * weight
            phi[f * ls + j] = _F32_ZERO


@njit(cache=True, nogil=True)
def _contrib_block(X, r0, r1, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                   feats, max_depth, t0, t1, base, approximate, out):
    keys = _block_keys(X, r0, r1, slots)
    pf, pz, po, pw, stack_i, stack_f = _scratch(max_depth)
    ls = leaf.shape[1]
    bias = out.shape[2] - 1
    phi = np.zeros(out.shape[2] * ls, dtype=np.float32)
    for r in range(r0, r1):
        row = r - r0
        out_row = out[r]
        for t in range(t0, t1):
            root = np.int64(roots[t])
            if approximate:
                _tree_saabas(keys, row, root, walk, feature, left, leaf, mean, phi)
            else:
                _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi, 0, -1, pf, pz, po, pw,
                           stack_i, stack_f)
            g = groups[t]
            w = weights[t]
            _flush(phi, out_row, feats, feat_ptr[t], feat_ptr[t + 1], g, w, ls)
            for j in range(ls):
                out_row[g + j, bias] += mean[root, j] * w
        for g in range(out.shape[1]):
            out_row[g, bias] += base[r, g]


@njit(cache=True, nogil=True)
def contribs_serial(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr, feats,
                    max_depth, t0, t1, base, approximate, out):
    n = _row_count(X)
    for r0 in range(0, n, CHUNK):
        _contrib_block(X, r0, min(n, r0 + CHUNK), slots, walk, feature, left, cover, leaf, mean, roots, groups,
                       weights, feat_ptr, feats, max_depth, t0, t1, base, approximate, out)


@njit(cache=True, nogil=True, parallel=True)
def contribs_parallel(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr, feats,
                      max_depth, t0, t1, base, approximate, out):
    n = _row_count(X)
    for b in prange((n + CHUNK - 1) // CHUNK):
        _contrib_block(X, b * CHUNK, min(n, (b + 1) * CHUNK), slots, walk, feature, left, cover, leaf, mean, roots,
                       groups, weights, feat_ptr, feats, max_depth, t0, t1, base, approximate, out)


@njit(cache=True, nogil=True)
def _interaction_block(X, r0, r1, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                       feats, max_depth, t0, t1, base, out):
    """XGBoost's interaction values: off-diagonal (i, k) is half the change of feature k's
    value between feature i fixed present and fixed absent; the diagonal is the plain value
    minus the row's off-diagonal entries. Only trees that split on i can change with it, so
    each tree is conditioned on its own split features only."""
    keys = _block_keys(X, r0, r1, slots)
    pf, pz, po, pw, stack_i, stack_f = _scratch(max_depth)
    ls = leaf.shape[1]
    width = out.shape[2]
    bias = width - 1
    phi = np.zeros(width * ls, dtype=np.float32)
    phi_on = np.zeros(width * ls, dtype=np.float32)
    phi_off = np.zeros(width * ls, dtype=np.float32)
    plain = np.zeros((out.shape[1], width), dtype=np.float32)
    for r in range(r0, r1):
        row = r - r0
        out_row = out[r]
        plain[:] = 0
        for t in range(t0, t1):
            root = np.int64(roots[t])
            g = groups[t]
            w = weights[t]
            lo, hi = feat_ptr[t], feat_ptr[t + 1]
            _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi, 0, -1, pf, pz, po, pw, stack_i,
                       stack_f)
            _flush(phi, plain, feats, lo, hi, g, w, ls)
            for j in range(ls):
                plain[g + j, bias] += mean[root, j] * w
            for a in range(lo, hi):
                i = np.int64(feats[a])
                _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi_on, 1, i, pf, pz, po, pw,
                           stack_i, stack_f)
                _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi_off, -1, i, pf, pz, po, pw,
                           stack_i, stack_f)
                for c in range(lo, hi):
                    k = feats[c]
                    for j in range(ls):
                        on = phi_on[k * ls + j]
                        off = phi_off[k * ls + j]
                        if k != i:
                            out_row[g + j, i, k] += on * w - off * w
                        phi_on[k * ls + j] = _F32_ZERO
                        phi_off[k * ls + j] = _F32_ZERO
        for g in range(out.shape[1]):
            plain[g, bias] += base[r, g]
            matrix = out_row[g]
            for i in range(width):
                value = _F32_ZERO
                for k in range(width):
                    if k == i:
                        value += plain[g, i]
                    else:
                        matrix[i, k] = matrix[i, k] * np.float32(0.5)
                        value -= matrix[i, k]
                matrix[i, i] = value


@njit(cache=True, nogil=True)
def interactions_serial(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr, feats,
                        max_depth, t0, t1, base, out):
    n = _row_count(X)
    for r0 in range(0, n, CHUNK):
        _interaction_block(X, r0, min(n, r0 + CHUNK), slots, walk, feature, left, cover, leaf, mean, roots, groups,
                           weights, feat_ptr, feats, max_depth, t0, t1, base, out)


@njit(cache=True, nogil=True, parallel=True)
def interactions_parallel(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                          feats, max_depth, t0, t1, base, out):
    n = _row_count(X)
    for b in prange((n + CHUNK - 1) // CHUNK):
        _interaction_block(X, b * CHUNK, min(n, (b + 1) * CHUNK), slots, walk, feature, left, cover, leaf, mean,
                           roots, groups, weights, feat_ptr, feats, max_depth, t0, t1, base, out)


@njit(cache=True, nogil=True)
def node_means(left, cover, leaf, roots, out):
    """Cover-weighted mean of the leaves below each node, children before parents (they follow
    their parent in the arrays), in float32 as XGBoost's FillNodeMeanValues."""
    for node in range(left.size - 1, -1, -1):
        first = np.int64(left[node])
        for j in range(leaf.shape[1]):
            if first == node:
                out[node, j] = leaf[node, j]
            else:
                value = out[first, j] * cover[first]
                value += out[first + 1, j] * cover[first + 1]
                out[node, j] = value / cover[node]
