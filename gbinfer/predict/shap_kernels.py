"""Compiled TreeSHAP kernels: exact path-dependent SHAP values (Lundberg et al., "Consistent
Individualized Feature Attribution for Tree Ensembles"), their conditioned form for interaction
values, and Saabas' path attribution. Two exact methods: per-leaf tables of Shapley weights
(below, the fast one, for trees within a memory budget) and the path recursion (the rest).

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

Division follows IEEE rules (``error_model="numpy"``): a zero cover gives infinities or NaN, as
in XGBoost, rather than an exception inside a kernel.

Rows are processed in chunks of ``CHUNK`` (a row costs a full traversal of every tree, so
small chunks balance the threads); every buffer is allocated once per chunk, never per node,
and each chunk writes only its own rows, so the parallel form is thread-safe.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _block_keys, _row_count, _step

CHUNK = 32  # rows per chunk; at most kernels.BLOCK, the rows one key block holds
_F32_ONE = np.float32(1.0)
_F32_ZERO = np.float32(0.0)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _hot_child(keys, row, node, walk):
    """The child block row ``row`` goes to at internal ``node``: the source's own decision rule."""
    word, split_key, left, cat_offsets, cat_bits = walk
    return np.int64(_step(keys, np.uint64(row), node, word, split_key, left, cat_offsets, cat_bits))


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def _flush(phi, out_row, tree_feats, lo, hi, group, weight, ls):
    """``out_row[group + j, f] += phi[f, j] * weight`` over the tree's features; clears ``phi``."""
    for a in range(lo, hi):
        f = tree_feats[a]
        for j in range(ls):
            out_row[group + j, f] += phi[f * ls + j] * weight
            phi[f * ls + j] = _F32_ZERO


@njit(cache=True, nogil=True, error_model="numpy")
def _interaction_block(X, r0, r1, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                       feats, max_depth, t0, t1, base, tables, pairs, out):
    """XGBoost's interaction values: off-diagonal (i, k) is half the change of feature k's
    value between feature i fixed present and fixed absent; the diagonal is the plain value
    minus the row's off-diagonal entries. Only trees that split on i can change with it, so
    each tree is conditioned on its own split features only: by table where the tree has
    pair tables, else by the conditioned recursion."""
    keys = _block_keys(X, r0, r1, slots)
    pf, pz, po, pw, stack_i, stack_f = _scratch(max_depth)
    tabulated, pos, leaf_d, leaf_off, leaf_feat, leaf_ratio, table, tree_end, leaf_z = tables
    paired, pair_off, pair_table = pairs
    mask = np.empty(max(table_nodes(tabulated, roots, tree_end), table_nodes(paired, roots, tree_end), 1),
                    dtype=np.uint32)
    ls = leaf.shape[1]
    width = out.shape[2]
    bias = width - 1
    phi = np.zeros(width * ls, dtype=np.float32)
    phi_on = np.zeros(width * ls, dtype=np.float32)
    phi_off = np.zeros(width * ls, dtype=np.float32)
    plain = np.zeros((r1 - r0, out.shape[1], width), dtype=np.float32)
    for t in range(t0, t1):
        root = np.int64(roots[t])
        end = np.int64(tree_end[t])
        g = groups[t]
        w = weights[t]
        lo, hi = feat_ptr[t], feat_ptr[t + 1]
        for r in range(r0, r1):
            row = r - r0
            out_row = out[r]
            if tabulated[t]:
                _tree_table(keys, row, root, end, walk, left, pos, leaf, leaf_d, leaf_off, leaf_feat, leaf_ratio,
                            table, mask, phi)
            else:
                _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi, 0, -1, pf, pz, po, pw, stack_i,
                           stack_f)
            _flush(phi, plain[row], feats, lo, hi, g, w, ls)
            for j in range(ls):
                plain[row, g + j, bias] += mean[root, j] * w
            if paired[t]:
                _tree_pair_table(keys, row, root, end, walk, left, pos, leaf, leaf_d, leaf_feat, leaf_z, leaf_ratio,
                                 pair_off, pair_table, mask, w, g, out_row)
                continue
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
    for r in range(r0, r1):
        out_row = out[r]
        for g in range(out.shape[1]):
            plain[r - r0, g, bias] += base[r, g]
            matrix = out_row[g]
            for i in range(width):
                value = _F32_ZERO
                for k in range(width):
                    if k == i:
                        value += plain[r - r0, g, i]
                    else:
                        matrix[i, k] = matrix[i, k] * np.float32(0.5)
                        value -= matrix[i, k]
                matrix[i, i] = value


@njit(cache=True, nogil=True, error_model="numpy")
def interactions_serial(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr, feats,
                        max_depth, t0, t1, base, tables, pairs, out):
    n = _row_count(X)
    for r0 in range(0, n, CHUNK):
        _interaction_block(X, r0, min(n, r0 + CHUNK), slots, walk, feature, left, cover, leaf, mean, roots, groups,
                           weights, feat_ptr, feats, max_depth, t0, t1, base, tables, pairs, out)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def interactions_parallel(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                          feats, max_depth, t0, t1, base, tables, pairs, out):
    n = _row_count(X)
    for b in prange((n + CHUNK - 1) // CHUNK):
        _interaction_block(X, b * CHUNK, min(n, (b + 1) * CHUNK), slots, walk, feature, left, cover, leaf, mean,
                           roots, groups, weights, feat_ptr, feats, max_depth, t0, t1, base, tables, pairs, out)


@njit(cache=True, nogil=True, error_model="numpy")
def node_means(left, cover, leaf, out):
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


# --- per-leaf tables: exact SHAP values by lookup --------------------------------------------
#
# A leaf contributes to a row's SHAP values through the game v(S) = value x prod over its path
# features i of (o_i if i in S else z_i), where z_i is the product of the cover fractions of the
# path's splits on i and o_i is 1 when the row follows the path at every split on i, else 0.
# Its Shapley value for path feature j, with A the features whose o is 1, is
#     j not in A:  -value * U(A)
#     j in A:      value * (1 - z_j) / z_j * U(A without j)
# with U(B) = sum over S in B of |S|! (d - 1 - |S|)! / d! * prod over path features outside S
# of z. U depends on the tree alone, so it is tabulated once per leaf for every subset of its d
# path features (2**d values, the idea of Fast TreeSHAP v2, Yang 2021); a row then costs one walk
# of the tree's nodes to find each leaf's A and d lookups per leaf, instead of the path algebra
# (d**2 per leaf) of the recursion. A tree with a zero cover fraction on a path, or too deep,
# or past the table budget keeps the recursion.

TABLE_DEPTH = 12  # deepest tree tabulated (4096 values per leaf)


@njit(cache=True, nogil=True, error_model="numpy")
def leaf_paths(left, cover, feature, tree_offsets, tree_depth, width, pos, leaf_d, leaf_feat, leaf_z):
    """Per internal node, the position of its split feature in its path's list of distinct
    features (``pos``); per leaf, that list (``leaf_feat``), its length (``leaf_d``) and each
    feature's zero fraction (``leaf_z``, float32 products as XGBoost forms them). Trees deeper
    than ``width`` are skipped (``leaf_d`` stays -1). Parents precede their children."""
    n = left.size
    path_f = np.zeros((n, max(width, 1)), dtype=np.int64)
    path_z = np.ones((n, max(width, 1)), dtype=np.float32)
    count = np.zeros(n, dtype=np.int64)
    for t in range(tree_offsets.size - 1):
        if tree_depth[t] > width:
            continue
        for node in range(tree_offsets[t], tree_offsets[t + 1]):
            first = np.int64(left[node])
            c = count[node]
            if first == node:
                leaf_d[node] = c
                for p in range(c):
                    leaf_feat[node, p] = path_f[node, p]
                    leaf_z[node, p] = path_z[node, p]
                continue
            f = np.int64(feature[node])
            p = 0
            while p < c and path_f[node, p] != f:
                p += 1
            pos[node] = p
            for child in (first, first + 1):
                for q in range(c):
                    path_f[child, q] = path_f[node, q]
                    path_z[child, q] = path_z[node, q]
                count[child] = c + 1 if p == c else c
                path_f[child, p] = f
                fraction = cover[child] / cover[node]
                path_z[child, p] = fraction * path_z[node, p] if p < c else fraction


@njit(cache=True, nogil=True, error_model="numpy")
def _subset_table(z, d, coef, outside, weight, table, at):
    """``table[at + B] = U(B)`` for every subset B of a ``d``-feature game with zero fractions
    ``z``. The sums over S in B come from the coefficients of prod over B of (z_i + t), built one
    feature at a time; float64 arithmetic, stored as float32."""
    for k in range(d):
        weight[k] = _factorial(k) * _factorial(d - 1 - k) / _factorial(d)
    for k in range(d, weight.size):
        weight[k] = 0.0  # U of all the game's features is never read
    full = (1 << d) - 1
    coef[0, 0] = 1.0
    for B in range(1, full + 1):
        top = 0
        while (B >> (top + 1)) != 0:
            top += 1
        prev = B ^ (1 << top)
        size = _bits(B)
        coef[B, 0] = coef[prev, 0] * z[top]
        for k in range(1, size + 1):
            coef[B, k] = coef[prev, k] * z[top] + coef[prev, k - 1] if k < size else coef[prev, k - 1]
    outside[full] = 1.0
    for B in range(full - 1, -1, -1):
        low = 0
        while (B >> low) & 1:
            low += 1
        outside[B] = outside[B | (1 << low)] * z[low]
    for B in range(full + 1):
        total = 0.0
        for k in range(_bits(B) + 1):
            total += weight[k] * coef[B, k]
        table[at + B] = np.float32(outside[B] * total)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _bits(x):
    size = 0
    while x:
        size += x & 1
        x >>= 1
    return size


@njit(cache=True, nogil=True, error_model="numpy")
def _fill_range(leaf_d, leaf_z, leaf_off, table, lo, hi, pairs):
    """The tables of the tabulated leaves among nodes [lo, hi): with ``pairs`` false, each leaf's
    U table over its d path features (2**d values at ``leaf_off``); with ``pairs`` true, for
    interactions, per path feature i the U table of the game with i taken out (d - 1 features,
    weights of d - 1 players) at ``leaf_off + i * 2**(d - 1)``."""
    width = leaf_z.shape[1]
    coef = np.zeros((1 << width, width + 2), dtype=np.float64)
    outside = np.zeros(1 << width, dtype=np.float64)
    weight = np.zeros(width + 2, dtype=np.float64)
    z = np.zeros(width, dtype=np.float64)
    for node in range(lo, hi):
        d = leaf_d[node]
        if d < 1 or leaf_off[node] < 0:
            continue
        if not pairs:
            for p in range(d):
                z[p] = leaf_z[node, p]
            _subset_table(z, d, coef, outside, weight, table, leaf_off[node])
            continue
        half = 1 << (d - 1)
        for i in range(d):
            q = 0
            for p in range(d):
                if p != i:
                    z[q] = leaf_z[node, p]
                    q += 1
            _subset_table(z, d - 1, coef, outside, weight, table, leaf_off[node] + i * half)


_FILL_NODES = 4096  # nodes per parallel task of the table build


@njit(cache=True, nogil=True, error_model="numpy")
def fill_serial(leaf_d, leaf_z, leaf_off, table, pairs):
    _fill_range(leaf_d, leaf_z, leaf_off, table, 0, leaf_d.size, pairs)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def fill_parallel(leaf_d, leaf_z, leaf_off, table, pairs):
    n = leaf_d.size
    for b in prange((n + _FILL_NODES - 1) // _FILL_NODES):
        _fill_range(leaf_d, leaf_z, leaf_off, table, b * _FILL_NODES, min(n, (b + 1) * _FILL_NODES), pairs)


@njit(cache=True, nogil=True, error_model="numpy")
def _factorial(k):
    """k! in float64, exact for the k <= TABLE_DEPTH used here."""
    total = 1.0
    for i in range(2, k + 1):
        total *= i
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def table_nodes(tabulated, roots, tree_end):
    """Nodes of the largest tabulated tree: the size of the per-node mask scratch."""
    most = 0
    for t in range(tabulated.size):
        if tabulated[t]:
            most = max(most, np.int64(tree_end[t]) - np.int64(roots[t]))
    return most


@njit(cache=True, nogil=True, error_model="numpy")
def _mark(keys, row, lo, hi, walk, left, pos, mask):
    """``mask[node - lo]``: bit p set while the row has taken the path's branch at every split on
    path feature p above ``node`` (parents precede children, so one pass in node order)."""
    # unsigned indices: numba wraps negative signed ones, a compare and a select per access
    base = np.uint64(lo)
    mask[0] = np.uint32(0xFFFFFFFF)
    for node in range(base, np.uint64(hi)):
        first = np.uint64(left[node])
        if first != node:
            m = mask[node - base]
            hot = np.uint64(_hot_child(keys, row, node, walk))
            mask[hot - base] = m
            mask[first + first + np.uint64(1) - hot - base] = m & ~(np.uint32(1) << np.uint32(pos[node]))


@njit(cache=True, nogil=True, error_model="numpy")
def _tree_pair_table(keys, row, lo, hi, walk, left, pos, leaf, leaf_d, leaf_feat, leaf_z, leaf_ratio, pair_off,
                     pair_table, mask, weight, group, out_row):
    """One tabulated tree's share of the interaction values of block row ``row``, before the
    final halving: fixing path feature i present rather than absent changes a leaf's value by
    value * (o_i - z_i), and feature j's Shapley value in the game without i follows from the
    table of that game, as for contributions."""
    ls = leaf.shape[1]
    _mark(keys, row, lo, hi, walk, left, pos, mask)
    for node in range(lo, hi):
        d = leaf_d[node]
        if np.int64(left[node]) != node or d < 2:
            continue
        A = np.int64(mask[node - lo] & np.uint32((1 << d) - 1))
        half = 1 << (d - 1)
        for i in range(d):
            change = np.float32((A >> i) & 1) - leaf_z[node, i]
            rest = (A & ((1 << i) - 1)) | ((A >> (i + 1)) << i)
            at = pair_off[node] + i * half
            absent = -pair_table[at + rest]
            fi = leaf_feat[node, i]
            for q in range(d - 1):
                p = q if q < i else q + 1
                present = leaf_ratio[node, p] * pair_table[at + (rest ^ (1 << q))]
                value = present if (rest >> q) & 1 else absent  # branch-free, as in _tree_table
                fj = leaf_feat[node, p]
                for j in range(ls):
                    out_row[group + j, fi, fj] += change * value * leaf[node, j] * weight


@njit(cache=True, nogil=True, error_model="numpy")
def _tree_table(keys, row, lo, hi, walk, left, pos, leaf, leaf_d, leaf_off, leaf_feat, leaf_ratio, table, mask,
                phi):
    """One tabulated tree's SHAP values for block row ``row``: a pass over its nodes (parents
    first) marks, per node, the path features the row has followed so far; each leaf then reads
    its table."""
    ls = leaf.shape[1]
    _mark(keys, row, lo, hi, walk, left, pos, mask)
    for node in range(lo, hi):
        d = leaf_d[node]
        if np.int64(left[node]) != node or d < 1:
            continue
        A = np.int64(mask[node - lo] & np.uint32((1 << d) - 1))
        at = leaf_off[node]
        absent = -table[at + A]
        for p in range(d):
            # both sides computed, then selected: whether the row followed a path feature is
            # unpredictable, and a branch on it costs more than the extra load
            present = leaf_ratio[node, p] * table[at + (A ^ (1 << p))]
            value = present if (A >> p) & 1 else absent
            f = leaf_feat[node, p] * ls
            for j in range(ls):
                phi[f + j] += value * leaf[node, j]
