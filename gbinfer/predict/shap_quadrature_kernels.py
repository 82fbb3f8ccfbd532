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
factor: the per-node ``factors`` hold the quotients, so a row divides nothing); per leaf,
``v * Q`` is summed up the tree; and the edge into node ``c`` on feature ``j`` that is the last
split on ``j`` above a set of leaves adds ``(o - z) / F(x)`` times their sum: the leaves below
``c`` minus those below a deeper split on ``j`` (whose nearest split on ``j`` above is ``c``:
``prev``). So a row costs O(M) per node instead of O(d) per leaf.

Float64 throughout, added to the float32 output once per tree (times its DART weight): values
agree with XGBoost's float32 recursion to its rounding. Trees with a zero cover fraction on a
path (where XGBoost's recursion divides by zero) or deeper than ``shap.QUADRATURE_DEPTH`` (at
most ``MAX_FEATURES``) are left to the recursion of ``shap_kernels``.

Scratch is allocated once per block of rows, never per node or row; each block writes only its
own rows, so the parallel form is thread-safe.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _block_keys, _row_count
from .shap_kernels import CHUNK, _flush, _hot_child, _scratch, _tree_saabas, _tree_shap

_U = np.uint64
MAX_FEATURES = 16  # deepest tree taken: at most 16 distinct features on a path, exact with 8 points


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
def node_factors(edge_z, edge_prev, rule, factors, after_cold, cold_weight):
    """Per node and quadrature point, the constants its incoming edge multiplies by, so that a
    row's passes need no division: ``[0, m]`` / ``[1, m]`` the change of the path product when
    the row's merged hot bit for the edge's feature is 1 / 0 (for a feature met again, the new
    factor over the one it replaces, whose hot bit was 1; ``after_cold`` when it was 0), and
    ``[2, m]`` the weight (1 - z) c_m / F(x_m) of a hot edge's leaves (a cold edge's,
    -c_m / (1 - x_m), is the same for every node: ``cold_weight``)."""
    M = rule.shape[1]
    for m in range(M):
        cold_weight[m] = -rule[1, m] / rule[2, m]
    for node in range(edge_z.size):
        z = np.float64(edge_z[node])
        prev = edge_prev[node]
        zp = np.float64(edge_z[prev]) if prev >= 0 else 0.0
        after_cold[node] = z / zp if prev >= 0 else 0.0
        for m in range(M):
            x, c, y = rule[0, m], rule[1, m], rule[2, m]
            hot = z * y + x
            cold = z * y
            if prev >= 0:
                hot /= zp * y + x
                cold /= zp * y + x
            factors[node, 0, m] = hot
            factors[node, 1, m] = cold
            factors[node, 2, m] = c * (1.0 - z) / (z * y + x)


@njit(cache=True, nogil=True, error_model="numpy")
def _tree_quadrature(keys, row, lo, hi, i0, i1, internal, walk, left, feature, pos, leaf_or_zero, edge_prev, factors,
                     after_cold, cold_weight, points, mask, Q, S, phi):
    """Add one tree's SHAP values for block row ``row`` to ``phi`` (``phi[f * leaf_size + j]``).

    Both passes visit the tree's internal nodes (``internal[i0:i1]``, parents first) and handle
    their two children. Down: the row's decision gives the children's hot bits (``mask``: bit p
    set while the row has followed the path at every split on path feature p) and path products
    ``Q``. Up: each child's sum of leaf value times path product (a leaf reads the zero slot
    past the tree for its children's part), times its edge's weight, into ``phi``; a child with
    an earlier split on its feature also takes its leaves out of that split's sum, by
    subtracting that split's weight. Branch-free where the row decides (which factor, hot or cold weight):
    those branches would be unpredictable."""
    # unsigned indices throughout: numba wraps negative signed indices, which costs a compare
    # and a select on every access
    ls = _U(leaf_or_zero.shape[1])
    M = _points(points)
    Mu = _U(M)
    base = _U(lo)
    spare = _U(hi) - base
    none = _U(0)  # any row: its weight is dropped
    one = _U(1)
    mask[0] = np.uint32(0xFFFFFFFF)
    for m in range(M):
        Q[_U(m)] = 1.0
    for j in range(ls):
        for m in range(M):
            S[(spare * ls + _U(j)) * Mu + _U(m)] = 0.0
    for i in range(_U(i0), _U(i1)):
        node = _U(internal[i])
        c = node - base
        first = _U(left[node])
        bit = np.uint32(1) << np.uint32(pos[node])
        right = np.uint32(_U(_hot_child(keys, row, node, walk)) - first)
        m0 = mask[c]
        mask[first - base] = m0 & ~(bit * right)
        mask[first + one - base] = m0 & ~(bit * (np.uint32(1) - right))
        for child in (first, first + one):
            k = child - base
            prev = edge_prev[child]
            p = _U(prev) - base if prev >= 0 else _U(0)  # no earlier split: the root, whose bits are all set
            hot = (mask[k] & bit) != 0
            kind = _U(0) if hot else _U(1)
            ratio = after_cold[child]
            plain = hot or (mask[p] & bit) != 0
            for m in range(M):
                factor = factors[child, kind, _U(m)] if plain else ratio
                Q[k * Mu + _U(m)] = Q[c * Mu + _U(m)] * factor
    for i in range(_U(i1), _U(i0), -1):
        node = _U(internal[i - one])
        c = node - base
        first = _U(left[node])
        bit = np.uint32(1) << np.uint32(pos[node])
        f = _U(feature[node]) * ls
        for j in range(ls):
            ju = _U(j)
            up = (c * ls + ju) * Mu
            value = 0.0
            for child in (first, first + one):
                k = child - base
                below = k if _U(left[child]) != child else spare
                hot = (mask[k] & bit) != 0
                prev = edge_prev[child]
                earlier = _U(prev) if prev >= 0 else none
                p = _U(prev) - base if prev >= 0 else _U(0)
                earlier_hot = (mask[p] & bit) != 0
                v = np.float64(leaf_or_zero[child, ju])
                at = (below * ls + ju) * Mu
                for m in range(M):
                    mu = _U(m)
                    total = Q[k * Mu + mu] * v + S[at + mu]
                    weight = factors[child, 2, mu] if hot else cold_weight[mu]
                    earlier_weight = factors[earlier, 2, mu] if earlier_hot else cold_weight[mu]
                    earlier_weight = earlier_weight if prev >= 0 else 0.0
                    value += (weight - earlier_weight) * total
                    S[up + mu] = total if child == first else S[up + mu] + total
            phi[f + ju] += value


@njit(cache=True, nogil=True, error_model="numpy")
def _contrib_block(X, r0, r1, slots, walk, feature, left, cover, leaf, mean, roots, groups, weights, feat_ptr,
                   feats, max_depth, t0, t1, base, approximate, quad, out):
    keys = _block_keys(X, r0, r1, slots)
    pf, pz, po, pw, stack_i, stack_f = _scratch(max_depth)
    ok, internal, int_ptr, edge_prev, pos, factors, after_cold, cold_weight, points, leaf_or_zero, tree_end = quad
    most = 1
    for t in range(t0, t1):
        most = max(most, np.int64(tree_end[t]) - np.int64(roots[t]))
    ls = leaf.shape[1]
    M = factors.shape[2]
    mask = np.empty(most, dtype=np.uint32)
    Q = np.empty(most * M, dtype=np.float64)
    S = np.empty((most + 2) * M * ls, dtype=np.float64)
    bias = out.shape[2] - 1
    phi = np.zeros(out.shape[2] * ls, dtype=np.float64)
    phi32 = np.zeros(out.shape[2] * ls, dtype=np.float32)  # Saabas and the recursion add in float32, as XGBoost
    # trees outside, rows inside: a tree's nodes stay in cache for the chunk's rows
    for t in range(t0, t1):
        root = np.int64(roots[t])
        g = groups[t]
        w = weights[t]
        for r in range(r0, r1):
            row = r - r0
            out_row = out[r]
            if ok[t] and not approximate:
                _tree_quadrature(keys, row, root, np.int64(tree_end[t]), int_ptr[t], int_ptr[t + 1], internal, walk,
                                 left, feature, pos, leaf_or_zero, edge_prev, factors, after_cold, cold_weight,
                                 points, mask, Q, S, phi)
                _flush(phi, out_row, feats, feat_ptr[t], feat_ptr[t + 1], g, w, ls)
            else:
                if approximate:
                    _tree_saabas(keys, row, root, walk, feature, left, leaf, mean, phi32)
                else:
                    _tree_shap(keys, row, root, walk, feature, left, cover, leaf, phi32, 0, -1, pf, pz, po, pw,
                               stack_i, stack_f)
                _flush(phi32, out_row, feats, feat_ptr[t], feat_ptr[t + 1], g, w, ls)
            for j in range(ls):
                out_row[g + j, bias] += mean[root, j] * w
    for r in range(r0, r1):
        for g in range(out.shape[1]):
            out[r, g, bias] += base[r, g]


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
    n = _row_count(X)
    for b in prange((n + CHUNK - 1) // CHUNK):
        _contrib_block(X, b * CHUNK, min(n, (b + 1) * CHUNK), slots, walk, feature, left, cover, leaf, mean, roots,
                       groups, weights, feat_ptr, feats, max_depth, t0, t1, base, approximate, quad, out)
