"""Exact path-dependent TreeSHAP in one pass down and one pass up a tree per row, by Gauss
quadrature (the per-path polynomial view of Linear TreeSHAP, Yu et al. 2022, evaluated at a few
points): no per-leaf tables, so a single row touches a few bytes per node rather than a table
per leaf.

A leaf of value ``v`` whose path features have merged zero fractions ``z_i`` and hot bits
``o_i`` (1 when the row follows the path at every split on ``i``) adds to feature ``j``

    v * (o_j - z_j) * sum over S of |S|! (d - 1 - |S|)! / d! * prod_{i in S} o_i * prod_{i not in S + j} z_i
    = v * (o_j - z_j) * integral over [0, 1] of prod_{i != j} F_i(x) dx,  F_i(x) = z_i (1 - x) + o_i x

(the Shapley weights are Beta integrals). The integrand is a polynomial of degree d - 1, so an
``M``-point Gauss-Legendre rule with 2M >= d is exact. Per node, the product ``Q`` of the merged
factors of the path down to it is carried down (a feature met again replaces its earlier
factor: the per-node table holds the quotients, so a row divides nothing); per leaf,
``v * Q`` is summed up the tree; and the edge into node ``c`` on feature ``j`` that is the last
split on ``j`` above a set of leaves adds ``(o - z) / F(x)`` times their sum: the leaves below
``c`` minus those below a deeper split on ``j`` (whose nearest split on ``j`` above is ``c``:
``prev``). So a row costs O(M) per node instead of O(d) per leaf: four points at a time as
vector code (``simd``), with one 64-byte record of float32 constants per node.

Accumulated in float64 and added to the float32 output once per tree (times its DART weight):
values agree with XGBoost's float32 recursion to its rounding. Trees with a zero cover
fraction on a path (where XGBoost's recursion divides by zero) or deeper than
``shap.QUADRATURE_DEPTH`` (at most ``MAX_FEATURES``) are left to the recursion of
``shap_kernels``.

Batches go by blocks of rows, trees outside and rows inside, so that a tree's nodes stay in
cache for the block's rows; a batch of a single block shares its trees among the threads
instead (a single row would otherwise be one thread's work, read mostly from memory). Scratch
is allocated once per block or share of trees, never per node or row; each writes only its own
rows or staged values, so the parallel form is thread-safe and a row's values do not depend on
its batch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import overload

from .kernels import _block_keys, _row_count
from .shap_kernels import CHUNK, _hot_child, _scratch, _tree_saabas, _tree_shap
from .simd import step_down, step_up

_U = np.uint64
MAX_FEATURES = 16  # deepest tree taken: at most 16 distinct features on a path, exact with 8 points
SHARED_PARTS = 16  # parts a single block's trees are cut into for the threads to share


def gauss_legendre(points: int) -> np.ndarray:
    """[nodes x on (0, 1); weights c; 1 - x] of the ``points``-point Gauss-Legendre rule, float64."""
    t, w = np.polynomial.legendre.leggauss(points)
    x = (1.0 - t) / 2.0
    return np.stack([x, w / 2.0, 1.0 - x])


def points_marker(points: int) -> np.ndarray:
    """An empty array whose rank tells the kernels the rule's size at compile time (4 or 8
    points: rank 1 or 2), so that their loops over the points have a constant trip count and
    unroll; a tuple would do the same, but parallel kernels cannot take one."""
    return np.zeros((1,) * {4: 1, 8: 2}[points], dtype=np.uint8)


@njit(cache=True, nogil=True, inline="always")
def _points(marker):
    return 4 << (marker.ndim - 1)


def _leaf_size(values):
    """Outputs per leaf of the quadrature's leaf values: a compile-time 1 when they come as a
    vector (scalar-leaf forests, the common case: the loops over outputs vanish)."""


@overload(_leaf_size, inline="always")
def _leaf_size_impl(values):
    if values.ndim == 1:
        return lambda values: 1
    return lambda values: values.shape[1]


def _leaf_value(values, node, j):
    """Output ``j`` of ``node``'s leaf value (see ``_leaf_size``)."""


@overload(_leaf_value, inline="always")
def _leaf_value_impl(values, node, j):
    if values.ndim == 1:
        return lambda values, node, j: values[node]
    return lambda values, node, j: values[node, j]


@njit(cache=True, nogil=True, error_model="numpy")
def edge_tables(left, cover, feature, tree_offsets, tree_depth, max_depth, edge_z, edge_prev, pos, ok):
    """Per internal node, the position of its split feature in its path's list of distinct
    features (``pos``: the bit of the rows' hot masks); per node, of its incoming edge's feature,
    the merged zero fraction
    down to here (``edge_z``, float32 products in XGBoost's order) and the nearest node above
    whose incoming edge splits on the same feature (``edge_prev``, -1: none). ``ok[t]`` is
    cleared for trees the quadrature does not take: deeper than ``max_depth`` (at most
    ``MAX_FEATURES``) or with a cover fraction that is not positive. Parents precede their
    children."""
    count = np.zeros(left.size, dtype=np.int64)  # distinct features on the path down to a node
    parent = np.zeros(left.size, dtype=np.int64)
    for t in range(tree_offsets.size - 1):
        lo, hi = tree_offsets[t], tree_offsets[t + 1]
        if tree_depth[t] > max_depth:
            ok[t] = 0
            continue
        parent[lo] = -1
        edge_prev[lo] = -1
        count[lo] = 0
        for node in range(lo, hi):
            first = np.int64(left[node])
            if first == node:
                continue
            f = feature[node]
            prev = -1
            c = node
            while c != lo:
                if feature[parent[c]] == f:
                    prev = c
                    break
                c = parent[c]
            p = count[node]
            if prev >= 0:
                p = np.int64(pos[parent[prev]])
            pos[node] = p
            for child in (first, first + 1):
                parent[child] = node
                edge_prev[child] = prev
                count[child] = count[node] + (1 if prev < 0 else 0)
                z = cover[child] / cover[node]
                if prev >= 0:
                    z = z * edge_z[prev]
                edge_z[child] = z
                if not z > 0:
                    ok[t] = 0


@njit(cache=True, nogil=True, error_model="numpy")
def node_factors(edge_z, edge_prev, rule, table, after_cold):
    """Per node, for each of the three states its incoming edge can be in for a row, the
    constants the passes read, so that a row's passes need no division and no choice inside the
    loops over the points: ``table[node, state, 0, m]`` the factor the path product takes on
    (for a feature met again, the new factor over the one it replaces) and ``table[node, state,
    1, m]`` the weight of the edge's leaves, its own minus that of the earlier split on its
    feature, which the leaves below this edge leave. States: 0 the row follows the path at every
    split on the feature down to here (factor ``z y + x``, weight ``(1 - z) c / F(x)``); 1 it
    left the path here (``z y``, weight ``-c / (1 - x)``); 2 it left it at an earlier split
    (factor ``after_cold[node]`` = ``z / z_prev`` at every point, weight 0: the earlier edge
    already counts these leaves; kept out of the table, which a single row reads mostly from
    memory: its size is the row's time)."""
    M = rule.shape[1]
    for node in range(edge_z.size):
        z = np.float64(edge_z[node])
        prev = edge_prev[node]
        zp = np.float64(edge_z[prev]) if prev >= 0 else 0.0
        after_cold[node] = z / zp if prev >= 0 else 0.0
        for m in range(M):
            x, c, y = rule[0, m], rule[1, m], rule[2, m]
            before = zp * y + x if prev >= 0 else 1.0
            earlier = c * (1.0 - zp) / before if prev >= 0 else 0.0
            table[node, 0, 0, m] = (z * y + x) / before
            table[node, 0, 1, m] = c * (1.0 - z) / (z * y + x) - earlier
            table[node, 1, 0, m] = z * y / before
            table[node, 1, 1, m] = -c / y - earlier


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _tree_quadrature(keys, row, lo, i0, i1, internal, walk, left, local, pos, leaf_or_one, table, after_cold,
                     points, state, mask, P, lanes):
    """Add one tree's SHAP values for block row ``row`` to ``lanes`` (``lanes[(a * leaf_size +
    j) * M + m]`` for the tree's ``a``-th split feature, ``local[node]`` at its nodes: per
    quadrature point, summed by the caller).

    Both passes visit the tree's internal nodes (``internal[i0:i1]``, parents first) and handle
    their two children. Down: the row's decision gives the children's hot bits (``mask``: bit p
    set while the row has followed the path at every split on path feature p), their states
    (``state``, see ``node_factors``) and path products (``P``; at a leaf, times its value:
    ``leaf_or_one`` is 1 at internal nodes). Up: a child's ``P``, now the sum of its leaves'
    products, times its state's weight goes to its parent's split feature, and the two
    children's sums replace the parent's path product, which no one reads any more.
    Branch-free where the row decides (the state is arithmetic on the bits, the loops over the
    points have none): those branches would be unpredictable."""
    # unsigned indices throughout: numba wraps negative signed indices, which costs a compare
    # and a select on every access
    ls = _U(_leaf_size(leaf_or_one))
    Mu = _U(_points(points))
    base = _U(lo)
    one = _U(1)
    two = _U(2)
    mask[0] = np.uint32(0xFFFFFFFF)
    for m in range(Mu):
        P[m] = 1.0
    for i in range(_U(i0), _U(i1)):
        node = _U(internal[i])
        c = node - base
        first = _U(left[node])
        bit = np.uint32(1) << np.uint32(pos[node])
        goes_right = _U(_hot_child(keys, row, node, walk)) - first
        m0 = mask[c]
        on_path = _U((m0 & bit) != 0)
        for side in range(2):
            su = _U(side)
            child = first + su
            k = child - base
            goes = one - (goes_right ^ su)
            mask[k] = m0 & ~(bit * np.uint32(one - goes))
            s = two - on_path * (one + goes)
            state[k] = np.uint8(s)
            at = (child * two + min(s, one)) * two * Mu
            cold = s == two
            ratio = np.float64(after_cold[child])
            for j in range(ls):
                value = np.float64(_leaf_value(leaf_or_one, child, _U(j)))
                for h in range(_U(0), Mu, _U(4)):
                    step_down(P, c * ls * Mu + h, (k * ls + _U(j)) * Mu + h, table, at + h, _U(cold), ratio, value)
    for i in range(_U(i1), _U(i0), -1):
        node = _U(internal[i - one])
        c = node - base
        first = _U(left[node])
        f = _U(local[node]) * ls
        a = first - base
        b = a + one
        state_a, state_b = _U(state[a]), _U(state[b])
        wa = ((first * two + min(state_a, one)) * two + one) * Mu
        wb = ((first * two + two + min(state_b, one)) * two + one) * Mu
        keep_a = np.float64(state_a != two)
        keep_b = np.float64(state_b != two)
        for j in range(ls):
            ju = _U(j)
            pa = (a * ls + ju) * Mu
            pb = (b * ls + ju) * Mu
            acc = (f + ju) * Mu
            for h in range(_U(0), Mu, _U(4)):
                step_up(lanes, acc + h, table, wa + h, keep_a, wb + h, keep_b, P, pa + h, pb + h, (c * ls + ju) * Mu + h)


@njit(cache=True, nogil=True, error_model="numpy")
def _block_scratch(roots, feat_ptr, t0, t1, max_depth, leaf, quad, width):
    """Scratch for one block's trees [t0, t1): the recursion's path buffers and values, and per
    node of the largest tree the quadrature's hot masks, states and products, and the values
    per split feature of the tree with the most and point."""
    ok, internal, int_ptr, pos, local, table, after_cold, points, leaf_or_one, tree_end = quad
    most = 1
    widest = 0
    for t in range(t0, t1):
        most = max(most, np.int64(tree_end[t]) - np.int64(roots[t]))
        widest = max(widest, feat_ptr[t + 1] - feat_ptr[t])
    ls = leaf.shape[1]
    M = _points(points)
    return (_scratch(max_depth), np.zeros(width * ls, dtype=np.float32), np.empty(most, dtype=np.uint32),
            np.empty(most, dtype=np.uint8), np.empty(most * M * ls, dtype=np.float64),
            np.zeros(widest * ls * M, dtype=np.float64))


@njit(cache=True, nogil=True, error_model="numpy")
def _tree_rows(keys, r0, r1, t, walk, feature, left, cover, leaf, mean, roots, weights, feat_ptr, feats,
               approximate, quad, scratch, staged, stride, at):
    """Tree ``t``'s values for block rows [r0, r1), times its weight, into ``staged[(r - r0) *
    stride + at + (a - feat_ptr[t]) * leaf_size + j]`` for its features ``feats[a]``: by
    quadrature in float64, or by Saabas or XGBoost's recursion in float32 (multiplied by the
    weight in float32, as XGBoost does), so that adding a staged value to the float32 output
    rounds as XGBoost's own addition."""
    ok, internal, int_ptr, pos, local, table, after_cold, points, leaf_or_one, tree_end = quad
    paths, phi32, mask, state, P, lanes = scratch
    pf, pz, po, pw, stack_i, stack_f = paths
    root = np.int64(roots[t])
    ls = leaf.shape[1]
    M = _points(points)
    lo, hi = feat_ptr[t], feat_ptr[t + 1]
    w = weights[t]
    for r in range(r0, r1):
        dest = (r - r0) * stride + at
        if ok[t] and not approximate:
            _tree_quadrature(keys, r - r0, root, int_ptr[t], int_ptr[t + 1], internal, walk, left, local, pos,
                             leaf_or_one, table, after_cold, points, state, mask, P, lanes)
            for a in range(lo, hi):
                for j in range(ls):
                    point = ((a - lo) * ls + j) * M
                    total = 0.0
                    for m in range(M):
                        total += lanes[point + m]
                        lanes[point + m] = 0.0
                    staged[dest + (a - lo) * ls + j] = total * w
        else:
            if approximate:
                _tree_saabas(keys, r - r0, root, walk, feature, left, leaf, mean, phi32)
            else:
                _tree_shap(keys, r - r0, root, walk, feature, left, cover, leaf, phi32, 0, -1, pf, pz, po, pw, stack_i,
                           stack_f)
            for a in range(lo, hi):
                for j in range(ls):
                    staged[dest + (a - lo) * ls + j] = phi32[feats[a] * ls + j] * w
                    phi32[feats[a] * ls + j] = 0


@njit(cache=True, nogil=True, error_model="numpy")
def _add_staged(staged, stride, at, r0, r1, t, groups, feat_ptr, feats, ls, out):
    """``out[r, group + j, feats[a]] += staged[...]``, the layout of ``_tree_rows``."""
    g = groups[t]
    lo, hi = feat_ptr[t], feat_ptr[t + 1]
    for r in range(r0, r1):
        dest = (r - r0) * stride + at
        for a in range(lo, hi):
            for j in range(ls):
                out[r, g + j, feats[a]] += staged[dest + (a - lo) * ls + j]


@njit(cache=True, nogil=True, error_model="numpy")
def _add_bias(r0, r1, mean, roots, groups, weights, t0, t1, base, ls, out):
    """The bias column: each tree's expected value (times its weight) in tree order, then the base."""
    bias = out.shape[2] - 1
    for r in range(r0, r1):
        for t in range(t0, t1):
            for j in range(ls):
                out[r, groups[t] + j, bias] += mean[roots[t], j] * weights[t]
        for g in range(out.shape[1]):
            out[r, g, bias] += base[r, g]


@njit(cache=True, nogil=True, error_model="numpy")
def _contrib_block(X, r0, r1, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                   feats, max_depth, t0, t1, base, approximate, quad, out):
    keys = _block_keys(X, r0, r1, slots)
    ls = leaf.shape[1]
    scratch = _block_scratch(roots, feat_ptr, t0, t1, max_depth, leaf, quad, out.shape[2])
    widest = 0
    for t in range(t0, t1):
        widest = max(widest, feat_ptr[t + 1] - feat_ptr[t])
    stride = widest * ls
    staged = np.empty((r1 - r0) * stride, dtype=np.float64)
    # trees outside, rows inside: a tree's nodes stay in cache for the chunk's rows
    for t in range(t0, t1):
        _tree_rows(keys, r0, r1, t, walk, feature, left, cover, leaf, mean, roots, weights, feat_ptr, feats,
                   approximate, quad, scratch, staged, stride, 0)
        _add_staged(staged, stride, 0, r0, r1, t, groups, feat_ptr, feats, ls, out)
    _add_bias(r0, r1, mean, roots, groups, weights, t0, t1, base, ls, out)


@njit(cache=True, nogil=True, error_model="numpy")
def contribs_serial(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr, feats,
                    max_depth, t0, t1, base, approximate, quad, out):
    n = _row_count(X)
    for r0 in range(0, n, CHUNK):
        _contrib_block(X, r0, min(n, r0 + CHUNK), slots, walk, feature, left, cover, leaf, mean, roots, groups,
                       weights, feat_ptr, feats, max_depth, t0, t1, base, approximate, quad, out)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def contribs_parallel(X, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr, feats,
                      max_depth, t0, t1, base, approximate, quad, out):
    """Blocks of rows in parallel. A batch of one block (a single row is otherwise one thread's
    work) shares its trees among the threads instead: each part of the trees stages its values
    per row and tree feature, then they are added to ``out`` in tree order, so every value
    rounds as in ``_contrib_block``."""
    n = _row_count(X)
    if n == 0:
        return  # no scratch for nothing: a model may declare far more features than it uses
    if n > CHUNK:
        for b in prange((n + CHUNK - 1) // CHUNK):
            _contrib_block(X, b * CHUNK, min(n, (b + 1) * CHUNK), slots, walk, feature, left, cover, leaf, mean,
                           roots, groups, weights, feat_ptr, feats, max_depth, t0, t1, base, approximate, quad, out)
        return
    keys = _block_keys(X, 0, n, slots)
    ls = leaf.shape[1]
    int_ptr = quad[2]
    stride = (feat_ptr[t1] - feat_ptr[t0]) * ls
    staged = np.empty(n * stride, dtype=np.float64)
    parts = max(1, min(t1 - t0, SHARED_PARTS))
    # parts of equal internal node counts: trees differ in size
    bounds = np.searchsorted(int_ptr[t0:t1 + 1], int_ptr[t0] + (int_ptr[t1] - int_ptr[t0]) *
                             np.arange(parts + 1) // parts) + t0
    bounds[0], bounds[parts] = t0, t1
    for p in prange(parts):
        ta, tb = bounds[p], max(bounds[p], bounds[p + 1])
        scratch = _block_scratch(roots, feat_ptr, ta, tb, max_depth, leaf, quad, out.shape[2])
        for t in range(ta, tb):
            _tree_rows(keys, 0, n, t, walk, feature, left, cover, leaf, mean, roots, weights, feat_ptr, feats,
                       approximate, quad, scratch, staged, stride, (feat_ptr[t] - feat_ptr[t0]) * ls)
    for t in range(t0, t1):
        _add_staged(staged, stride, (feat_ptr[t] - feat_ptr[t0]) * ls, 0, n, t, groups, feat_ptr, feats, ls, out)
    _add_bias(0, n, mean, roots, groups, weights, t0, t1, base, ls, out)
