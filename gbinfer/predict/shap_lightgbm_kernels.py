"""Compiled TreeSHAP for LightGBM forests, with LightGBM's own arithmetic so that
contributions equal ``Booster.predict(pred_contrib=True)`` bit for bit.

The shared kernels (``shap_kernels``) follow XGBoost: float32 values and covers, per-tree
scratch vectors. LightGBM's ``Tree::TreeSHAP`` differs in ways that change the last bits, so
it has this kernel of its own: float64 throughout; covers are the integer row counts
(``internal_count`` / ``leaf_count``), a child's zero fraction being its count over its
parent's; the products and quotients of the path algebra are formed in LightGBM's order (an
integer factor is converted to float64 where LightGBM converts it, a quotient of two integers
is taken as LightGBM takes it); every leaf adds straight into the row's output (no scratch),
the hot child's subtree before the cold one's; and each tree first adds its expected value
(leaves in LightGBM's leaf order, weighted by ``leaf_count / internal_count[root]``) to the
bias column. Trees are taken in model order, so each class's sums are formed in LightGBM's
order too.

The split a row takes is the one ``lightgbm_kernels`` walks with (``_step`` over a block's
keys): the same missing-type, near-zero and category-set rules as LightGBM's predictor.

The recursion is run with an explicit stack. A node's path lives in a slice of one triangular
buffer (LightGBM's layout: a child's path starts at its parent's start plus the child's path
length), which the node's hot subtree never writes over, so the cold child, taken from the
stack afterwards, finds its parent's path as LightGBM's recursion does.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .lightgbm_kernels import _block_keys, _block_rows, _parallel_block_rows, _row_count, _step


@njit(cache=True, nogil=True, error_model="numpy")
def expected_values(left, data_count, leaf_value, leaf_index, tree_offsets, out):
    """Per tree, LightGBM's ``Tree::ExpectedValue``: a one-leaf tree's value, else the sum over
    leaves in leaf-number order of (leaf_count / root count) * value."""
    for t in range(tree_offsets.size - 1):
        lo, hi = tree_offsets[t], tree_offsets[t + 1]
        if hi - lo == 1:
            out[t] = leaf_value[lo]
            continue
        n_leaves = (hi - lo + 1) // 2
        by_number = np.empty(n_leaves, dtype=np.int64)
        for node in range(lo, hi):
            if np.int64(left[node]) == node:
                by_number[leaf_index[node]] = node
        total = np.float64(data_count[lo])
        value = 0.0
        for i in range(n_leaves):
            node = by_number[i]
            value += (data_count[node] / total) * leaf_value[node]
        out[t] = value


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _extend(pf, pz, po, pw, at, depth, zero, one, feature):
    pf[at + depth] = feature
    pz[at + depth] = zero
    po[at + depth] = one
    pw[at + depth] = 1.0 if depth == 0 else 0.0
    d1 = np.float64(depth + 1)
    for i in range(depth - 1, -1, -1):
        pw[at + i + 1] += one * pw[at + i] * np.float64(i + 1) / d1
        pw[at + i] = zero * pw[at + i] * np.float64(depth - i) / d1


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _unwind(pf, pz, po, pw, at, depth, index):
    one = po[at + index]
    zero = pz[at + index]
    next_one = pw[at + depth]
    d1 = np.float64(depth + 1)
    for i in range(depth - 1, -1, -1):
        if one != 0:
            tmp = pw[at + i]
            pw[at + i] = next_one * d1 / (np.float64(i + 1) * one)
            next_one = tmp - pw[at + i] * zero * np.float64(depth - i) / d1
        else:
            pw[at + i] = (pw[at + i] * d1) / (zero * np.float64(depth - i))
    for i in range(index, depth):
        pf[at + i] = pf[at + i + 1]
        pz[at + i] = pz[at + i + 1]
        po[at + i] = po[at + i + 1]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _unwound_sum(pz, po, pw, at, depth, index):
    one = po[at + index]
    zero = pz[at + index]
    next_one = pw[at + depth]
    d1 = np.float64(depth + 1)
    total = 0.0
    for i in range(depth - 1, -1, -1):
        if one != 0:
            tmp = next_one * d1 / (np.float64(i + 1) * one)
            total += tmp
            next_one = pw[at + i] - tmp * zero * (np.float64(depth - i) / d1)
        else:
            total += (pw[at + i] / zero) / (np.float64(depth - i) / d1)
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _tree_shap(keys, shift, row, root, nodes, cat_bits, left, feature, data_count, leaf_value, phi,
               pf, pz, po, pw, st_node, st_at, st_depth, st_zero, st_one, st_feat):
    """One tree's SHAP values for block row ``row``, added into ``phi`` (the row's output of
    the tree's class). Frames: (node, parent path start, path length, zero and one fraction,
    feature) of a child still to visit."""
    top = 0
    node = np.int64(root)
    parent_at = np.int64(0)
    depth = np.int64(0)
    zero = 1.0
    one = 1.0
    feat = np.int64(-1)
    while True:
        at = parent_at + depth
        if depth > 0:
            for i in range(depth):
                pf[at + i] = pf[parent_at + i]
                pz[at + i] = pz[parent_at + i]
                po[at + i] = po[parent_at + i]
                pw[at + i] = pw[parent_at + i]
        _extend(pf, pz, po, pw, at, depth, zero, one, feat)
        first = np.int64(left[node])
        if first == node:
            value = leaf_value[node]
            for i in range(1, depth + 1):
                w = _unwound_sum(pz, po, pw, at, depth, i)
                phi[pf[at + i]] += w * (po[at + i] - pz[at + i]) * value
            if top == 0:
                return
            top -= 1
            node, parent_at, depth = st_node[top], st_at[top], st_depth[top]
            zero, one, feat = st_zero[top], st_one[top], st_feat[top]
            continue
        hot = np.int64(_step(keys, shift, row, node, nodes, cat_bits))
        cold = first + first + 1 - hot
        w = np.float64(data_count[node])
        hot_zero = data_count[hot] / w
        cold_zero = data_count[cold] / w
        incoming_zero = 1.0
        incoming_one = 1.0
        f = np.int64(feature[node])
        index = 0
        while index <= depth and pf[at + index] != f:
            index += 1
        if index != depth + 1:
            incoming_zero = pz[at + index]
            incoming_one = po[at + index]
            _unwind(pf, pz, po, pw, at, depth, index)
            depth -= 1
        st_node[top], st_at[top], st_depth[top] = cold, at, depth + 1
        st_zero[top], st_one[top], st_feat[top] = cold_zero * incoming_zero, 0.0, f
        top += 1
        node, parent_at, depth = hot, at, depth + 1
        zero, one, feat = hot_zero * incoming_zero, incoming_one, f


@njit(cache=True, nogil=True, error_model="numpy")
def _contrib_block(X, r0, r1, slots, nodes, cat_bits, left, feature, data_count, leaf_value, roots, groups,
                   expected, max_depth, t0, t1, out):
    keys, shift = _block_keys(X, r0, r1, slots)
    size = (max_depth + 1) * (max_depth + 2) // 2 + 1
    pf = np.full(size, -1, dtype=np.int64)
    pz = np.zeros(size, dtype=np.float64)
    po = np.zeros(size, dtype=np.float64)
    pw = np.zeros(size, dtype=np.float64)
    frames = max_depth + 2
    st_node = np.zeros(frames, dtype=np.int64)
    st_at = np.zeros(frames, dtype=np.int64)
    st_depth = np.zeros(frames, dtype=np.int64)
    st_zero = np.zeros(frames, dtype=np.float64)
    st_one = np.zeros(frames, dtype=np.float64)
    st_feat = np.zeros(frames, dtype=np.int64)
    bias = out.shape[2] - 1
    for r in range(r0, r1):
        row = np.uint64(r - r0)
        for t in range(t0, t1):
            phi = out[r, groups[t]]
            phi[bias] += expected[t]
            root = roots[t]
            if np.int64(left[root]) != np.int64(root):
                _tree_shap(keys, shift, row, root, nodes, cat_bits, left, feature, data_count, leaf_value, phi,
                           pf, pz, po, pw, st_node, st_at, st_depth, st_zero, st_one, st_feat)


@njit(cache=True, nogil=True, error_model="numpy")
def contribs_serial(X, slots, nodes, cat_bits, left, feature, data_count, leaf_value, roots, groups, expected,
                    max_depth, t0, t1, out):
    n = _row_count(X)
    block = _block_rows(slots.size)
    for r0 in range(0, n, block):
        _contrib_block(X, r0, min(n, r0 + block), slots, nodes, cat_bits, left, feature, data_count, leaf_value,
                       roots, groups, expected, max_depth, t0, t1, out)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def contribs_parallel(X, slots, nodes, cat_bits, left, feature, data_count, leaf_value, roots, groups, expected,
                      max_depth, t0, t1, out):
    n = _row_count(X)
    block = min(_parallel_block_rows(slots.size, n), 64)  # a row costs every tree's full recursion
    for b in prange((n + block - 1) // block):
        _contrib_block(X, b * block, min(n, (b + 1) * block), slots, nodes, cat_bits, left, feature, data_count,
                       leaf_value, roots, groups, expected, max_depth, t0, t1, out)
