"""Kernels of CatBoost's ShapValues (``catboost/libs/fstr/shap_values.cpp``), in its float64 arithmetic.

CatBoost's recursion is Lundberg's TreeSHAP with its own details, each kept here because each
changes last bits: the path starts with a feature -1 element; a feature is a *combination class*
(the binary features of one float feature, of one one-hot feature, or of the CTRs over one list
of categorical features), so a path never holds a class twice; the recursion into a child is
skipped when the child's weight is zero in CatBoost's ``FuzzyEquals(1 + w, 1)`` sense; a leaf
adds ``coefficient * (value - average)`` per element, where ``average`` is, for a MultiClass
model, the mean over outputs of the tree's expected values (else 0); per tree the class values
are summed in the order the classes are first reached, then split equally among each class's
input features, per feature in that order, and only then added to the row's sums, tree after tree.

Symmetric trees: the recursion starts at the tree's *last* split; a node is (depth, index) with
the weight ``sub[depth][index]`` (the sum of its two children, leaves holding the model's leaf
weights); the branch a row takes is bit ``depth - 1 - level`` of its leaf index. The values only
depend on the leaf, so a tree with no more leaves than rows is explained once per leaf (as
CatBoost precomputes them) and each row adds its leaf's values.

Non-symmetric trees: a node's weight is its leaf's weight (if a walk stops there) plus its
children's, except the root, which gets only its children's (as CatBoost computes them); each
row decides every node of the tree; a node whose taken or not-taken side ends the walk adds its
leaf there (CatBoost's rule, which does not make the values add up to the prediction when a
node holds a leaf beside a subtree), then the recursion goes on into the children that exist.

Also CatBoost's Approximate values (each split on the row's path credits its class with the
change of the node's weighted mean value) and the pieces of its interaction values: the class
sums before they are split among features (``internal``), with one class conditioned on (the
other child gets no share) or off (each child its weight fraction), as CatBoost's FixedOn and
FixedOff modes.

Every array was derived and checked in ``shap_catboost``; the kernels trust every index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .nonsymmetric_kernels import LEAF, LEFT, LO, RIGHT, SLOT, SPAN
from .oblivious_kernels import BLOCK, _binarise

EPS = 1.0e-13  # CatBoost's FuzzyEquals tolerance


@njit(cache=True, nogil=True, inline="always")
def _zero(w):
    """CatBoost's ``FuzzyEquals(1 + w, 1 + 0.0)``."""
    a = 1.0 + w
    return abs(a - 1.0) <= EPS * min(abs(a), 1.0)


@njit(cache=True, nogil=True)
def _extend(of, oz, oo, ow, n, zero, one, feature, nf, nz, no, nw):
    """``ExtendFeaturePath``: the path (of, oz, oo, ow)[:n] with one element more, into (nf, ...)."""
    for i in range(n):
        nf[i] = of[i]
        nz[i] = oz[i]
        no[i] = oo[i]
        nw[i] = ow[i]
    nf[n] = feature
    nz[n] = zero
    no[n] = one
    nw[n] = 1.0 if n == 0 else 0.0
    for i in range(n - 1, -1, -1):
        nw[i + 1] += one * nw[i] * (i + 1) / (n + 1)
        nw[i] = zero * nw[i] * (n - i) / (n + 1)


@njit(cache=True, nogil=True)
def _unwound_weights(pw, po, pz, n, at, nw):
    """The weights of the path (n elements) without element ``at``, into ``nw`` (n - 1 of them):
    the weight part of CatBoost's ``UnwindFeaturePath``."""
    for i in range(n - 1):
        nw[i] = pw[i]
    one = po[at]
    zero = pz[at]
    diff = pw[n - 1]
    if not _zero(one):
        for i in range(n - 2, -1, -1):
            old = nw[i]
            nw[i] = diff * n / (one * (i + 1))
            diff = old - nw[i] * zero * (n - i - 1) / n
    else:
        for i in range(n - 2, -1, -1):
            nw[i] *= n / (zero * (n - i - 1))


@njit(cache=True, nogil=True)
def _unwind(pf, pz, po, pw, n, at, nf, nz, no, nw):
    """``UnwindFeaturePath``: the path without element ``at`` (n - 1 elements) into (nf, ...)."""
    for i in range(n - 1):
        src = i + 1 if i >= at else i
        nf[i] = pf[src]
        nz[i] = pz[src]
        no[i] = po[src]
    _unwound_weights(pw, po, pz, n, at, nw)


@njit(cache=True, nogil=True)
def _unwound_sum(pw, po, pz, n, at, w):
    """The weight sum of the path unwound at ``at``, summed first element first, as CatBoost does."""
    _unwound_weights(pw, po, pz, n, at, w)
    total = 0.0
    for i in range(n - 1):
        total += w[i]
    return total


@njit(cache=True, nogil=True)
def _update(pf, pz, po, pw, n, leaf_values, at, k, average, acc, seen, order, count, w, condition):
    """``UpdateShapByFeaturePath``: each path element's share of the leaf (times the condition
    fraction of the conditioned class), into its class's sums; returns the number of classes
    reached so far (their order in ``order``)."""
    for e in range(1, n):
        coefficient = condition * _unwound_sum(pw, po, pz, n, e, w) * (po[e] - pz[e])
        c = pf[e]
        if seen[c] == 0:
            seen[c] = 1
            order[count] = c
            count += 1
        for d in range(k):
            acc[c * k + d] += coefficient * (leaf_values[at + d] - average)
    return count


@njit(cache=True, nogil=True)
def _find(pf, n, c):
    for i in range(n):
        if pf[i] == c:
            return i
    return -1


@njit(cache=True, nogil=True)
def _scratch(levels, class_ptr, class_feat, k, tree_feat_ptr, t0, t1):
    """The path at each level and its unwound copy (features; zero and one fractions and weights),
    their lengths, the stack, the class sums, the per-tree feature sums (as wide as the widest of
    trees ``t0..t1-1``) and the tree-local number of each input feature."""
    classes = class_ptr.shape[0] - 1
    num_features = 1
    for f in class_feat:
        num_features = max(num_features, f + 1)
    width = 1
    for t in range(t0, t1):
        width = max(width, tree_feat_ptr[t + 1] - tree_feat_ptr[t])
    pf = np.empty((levels, levels + 1), dtype=np.int32)
    uf = np.empty((levels, levels + 1), dtype=np.int32)
    pr = np.empty((3, levels, levels + 1), dtype=np.float64)
    ur = np.empty((3, levels, levels + 1), dtype=np.float64)
    lens = np.zeros((2, levels), dtype=np.int64)
    stack_i = np.empty((2 * levels + 2, 3), dtype=np.int64)  # level, node, class of the split above
    stack_f = np.empty((2 * levels + 2, 3), dtype=np.float64)  # zero and one fractions, condition fraction
    acc = np.zeros(classes * k, dtype=np.float64)
    seen = np.zeros(classes, dtype=np.uint8)
    order = np.empty(classes, dtype=np.int32)
    loc = np.zeros(max(width, 1) * k, dtype=np.float64)
    w = np.empty(levels + 1, dtype=np.float64)
    local_of = np.zeros(max(num_features, 1), dtype=np.int32)
    return pf, uf, pr, ur, lens, stack_i, stack_f, acc, seen, order, loc, w, local_of


@njit(cache=True, nogil=True)
def _enter(level, zero, one, feature, fixed, pf, uf, pr, ur, lens):
    """The path at ``level``: its parent level's unwound path extended by one element, or only
    copied below a split of the conditioned class ``fixed`` (``ExtendFeaturePathIfFeatureNotFixed``);
    returns its length."""
    n = 0 if level == 0 else lens[1, level - 1]
    src = 0 if level == 0 else level - 1
    if fixed >= 0 and feature == fixed:
        for i in range(n):
            pf[level, i] = uf[src, i]
            for j in range(3):
                pr[j, level, i] = ur[j, src, i]
        lens[0, level] = n
        return n
    _extend(uf[src], ur[0, src], ur[1, src], ur[2, src], n, zero, one, feature,
            pf[level], pr[0, level], pr[1, level], pr[2, level])
    lens[0, level] = n + 1
    return n + 1


@njit(cache=True, nogil=True)
def _leave(level, n, c, pf, uf, pr, ur, lens):
    """The path at ``level`` without class ``c`` (if it holds it) into the unwound copy; returns
    the zero and one fractions the children start from (``c``'s, or 1 and 1)."""
    at = _find(pf[level], n, c)
    if at >= 0:
        zero, one = pr[0, level, at], pr[1, level, at]
        _unwind(pf[level], pr[0, level], pr[1, level], pr[2, level], n, at, uf[level], ur[0, level], ur[1, level],
                ur[2, level])
        lens[1, level] = n - 1
        return zero, one
    for i in range(n):
        uf[level, i] = pf[level, i]
        for j in range(3):
            ur[j, level, i] = pr[j, level, i]
    lens[1, level] = n
    return 1.0, 1.0


@njit(cache=True, nogil=True, inline="always")
def _push(stack_i, stack_f, top, level, node, c, zero, one, condition):
    """Push a visit of ``node`` at ``level`` below a split of class ``c``; returns the new top."""
    stack_i[top, 0], stack_i[top, 1], stack_i[top, 2] = level, node, c
    stack_f[top, 0], stack_f[top, 1], stack_f[top, 2] = zero, one, condition
    return top + 1


@njit(cache=True, nogil=True, inline="always")
def _conditions(c, fixed, on, condition, hot, cold):
    """``TConditionsFeatureFraction``: the condition fractions of the taken and the other child
    below a split of class ``c``: unchanged, unless ``c`` is the conditioned class: then the other
    child gets 0 (``on``: the class is known to be the row's) or each child its weight fraction."""
    if fixed >= 0 and c == fixed:
        if on:
            return condition, 0.0
        return condition * hot, condition * cold
    return condition, condition


@njit(cache=True, nogil=True)
def _explain_symmetric(t, leaf, tree_offsets, tree_splits, split_class, sub, sub_offsets, leaf_offsets, leaf_values,
                       k, average, S, fixed, on):
    """CatBoost's recursion over symmetric tree ``t`` for a row in ``leaf``; the class sums are in
    ``S``'s ``acc`` and the number of classes reached is returned."""
    pf, uf, pr, ur, lens, stack_i, stack_f, acc, seen, order, loc, w, local_of = S
    start = tree_offsets[t]
    depth = tree_offsets[t + 1] - start
    base = sub_offsets[t]
    count = 0
    top = _push(stack_i, stack_f, 0, 0, 0, -1, 1.0, 1.0, 1.0)
    while top > 0:
        top -= 1
        level, node, feature = stack_i[top, 0], stack_i[top, 1], stack_i[top, 2]
        condition = stack_f[top, 2]
        if _zero(condition):
            continue
        n = _enter(level, stack_f[top, 0], stack_f[top, 1], feature, fixed, pf, uf, pr, ur, lens)
        if level == depth:
            count = _update(pf[level], pr[0, level], pr[1, level], pr[2, level], n, leaf_values,
                            leaf_offsets[t] + node * k, k, average, acc, seen, order, count, w, condition)
            continue
        remaining = depth - level - 1
        c = split_class[tree_splits[start + remaining]]
        zero, one = _leave(level, n, c, pf, uf, pr, ur, lens)
        right = (leaf >> remaining) & 1
        go = node * 2 + right
        skip = node * 2 + 1 - right
        weight = sub[base + (1 << level) - 1 + node]
        children = base + (1 << (level + 1)) - 1
        hot = sub[children + go] / weight
        cold = sub[children + skip] / weight
        hot_condition, cold_condition = _conditions(c, fixed, on, condition, hot, cold)
        if not _zero(sub[children + skip]):
            top = _push(stack_i, stack_f, top, level + 1, skip, c, zero * cold, 0.0, cold_condition)
        if not _zero(sub[children + go]):  # pushed last: visited first, as CatBoost recurses
            top = _push(stack_i, stack_f, top, level + 1, go, c, zero * hot, one, hot_condition)
    return count


@njit(cache=True, nogil=True)
def _explain_nonsymmetric(t, bins, i, nodes, tree_offsets, tree_splits, split_class, sub, leaf_offsets, leaf_values,
                          k, average, S, fixed, on):
    """CatBoost's recursion over non-symmetric tree ``t`` for row ``i`` of the binarised block."""
    pf, uf, pr, ur, lens, stack_i, stack_f, acc, seen, order, loc, w, local_of = S
    count = 0
    top = _push(stack_i, stack_f, 0, 0, tree_offsets[t], -1, 1.0, 1.0, 1.0)
    while top > 0:
        top -= 1
        level, node, feature = stack_i[top, 0], stack_i[top, 1], stack_i[top, 2]
        condition = stack_f[top, 2]
        if _zero(condition):
            continue
        n = _enter(level, stack_f[top, 0], stack_f[top, 1], feature, fixed, pf, uf, pr, ur, lens)
        row = nodes[node]
        right = np.uint32(bins[row[SLOT], i] - np.uint32(row[LO])) < np.uint32(row[SPAN])
        go = row[RIGHT] if right else row[LEFT]
        skip = row[LEFT] if right else row[RIGHT]
        if go == node or skip == node:
            count = _update(pf[level], pr[0, level], pr[1, level], pr[2, level], n, leaf_values,
                            leaf_offsets[t] + row[LEAF] * k, k, average, acc, seen, order, count, w, condition)
            if go == node and skip == node:
                continue
        c = split_class[tree_splits[node]]
        zero, one = _leave(level, n, c, pf, uf, pr, ur, lens)
        hot = sub[go] / sub[node] if go != node else -1.0
        cold = sub[skip] / sub[node] if skip != node else -1.0
        hot_condition, cold_condition = _conditions(c, fixed, on, condition, hot, cold)
        if skip != node and not _zero(sub[skip]):
            top = _push(stack_i, stack_f, top, level + 1, skip, c, zero * cold, 0.0, cold_condition)
        if go != node and not _zero(sub[go]):
            top = _push(stack_i, stack_f, top, level + 1, go, c, zero * hot, one, hot_condition)
    return count


@njit(cache=True, nogil=True, inline="always")
def _reach(c, S, count):
    """Class ``c`` reached (listed in order on its first time); returns the number of classes reached."""
    seen, order = S[8], S[9]
    if seen[c] == 0:
        seen[c] = 1
        order[count] = c
        count += 1
    return count


@njit(cache=True, nogil=True)
def _saabas_symmetric(t, leaf, tree_offsets, tree_splits, split_class, values, sub_offsets, k, S):
    """CatBoost's Approximate values for symmetric tree ``t`` and a row in ``leaf``: along the row's
    path from the last split, each split's class gets the child's mean value less the node's."""
    acc = S[7]
    start = tree_offsets[t]
    depth = tree_offsets[t + 1] - start
    base = sub_offsets[t]
    count = 0
    node = 0
    for level in range(depth):
        remaining = depth - level - 1
        go = node * 2 + ((leaf >> remaining) & 1)
        c = split_class[tree_splits[start + remaining]]
        count = _reach(c, S, count)
        here = base + (1 << level) - 1 + node
        there = base + (1 << (level + 1)) - 1 + go
        for d in range(k):
            acc[c * k + d] += values[there, d] - values[here, d]
        node = go
    return count


@njit(cache=True, nogil=True)
def _saabas_nonsymmetric(t, bins, i, nodes, tree_offsets, tree_splits, split_class, values, k, S):
    """CatBoost's Approximate values for non-symmetric tree ``t`` and row ``i`` of the block."""
    acc = S[7]
    count = 0
    node = tree_offsets[t]
    while True:
        row = nodes[node]
        right = np.uint32(bins[row[SLOT], i] - np.uint32(row[LO])) < np.uint32(row[SPAN])
        go = row[RIGHT] if right else row[LEFT]
        if go == node:
            return count
        c = split_class[tree_splits[node]]
        count = _reach(c, S, count)
        for d in range(k):
            acc[c * k + d] += values[go, d] - values[node, d]
        node = go


@njit(cache=True, nogil=True)
def _unpack(count, S, class_ptr, class_feat, k):
    """``UnpackInternalShaps``: each reached class's sums split equally among its features, per
    feature in the order the classes were reached, into ``loc`` (tree-local features x k); the
    class sums are cleared for the next explanation."""
    pf, uf, pr, ur, lens, stack_i, stack_f, acc, seen, order, loc, w, local_of = S
    for j in range(count):
        c = order[j]
        size = class_ptr[c + 1] - class_ptr[c]
        for p in range(class_ptr[c], class_ptr[c + 1]):
            f = local_of[class_feat[p]]
            for d in range(k):
                loc[f * k + d] += acc[c * k + d] / size
        for d in range(k):
            acc[c * k + d] = 0.0
        seen[c] = 0


@njit(cache=True, nogil=True)
def _localise(t, tree_feat_ptr, tree_feats, S):
    """Number tree ``t``'s input features 0, 1, ... in the worker's ``local_of``."""
    local_of = S[12]
    for j in range(tree_feat_ptr[t], tree_feat_ptr[t + 1]):
        local_of[tree_feats[j]] = j - tree_feat_ptr[t]


@njit(cache=True, nogil=True)
def _add(r, t, tree_feat_ptr, tree_feats, k, S, out):
    """Row ``r``'s sums += the tree's feature sums in ``loc``, which are cleared."""
    loc = S[10]
    p0 = tree_feat_ptr[t]
    for j in range(tree_feat_ptr[t + 1] - p0):
        f = tree_feats[p0 + j]
        for d in range(k):
            out[r, d, f] += loc[j * k + d]
            loc[j * k + d] = 0.0


@njit(cache=True, nogil=True)
def _add_classes(r, count, S, k, out):
    """Row ``r``'s class sums (``out``: rows x k x classes) += the tree's, which are cleared: CatBoost's
    internal values, before they are split among features."""
    acc, seen, order = S[7], S[8], S[9]
    for j in range(count):
        c = order[j]
        for d in range(k):
            out[r, d, c] += acc[c * k + d]
            acc[c * k + d] = 0.0
        seen[c] = 0


@njit(cache=True, nogil=True)
def _symmetric_leaves(t, lo, hi, table, tree_offsets, tree_splits, split_class, sub, sub_offsets, leaf_offsets,
                      leaf_values, k, average, class_ptr, class_feat, tree_feat_ptr, tree_feats, S, values,
                      approximate):
    _localise(t, tree_feat_ptr, tree_feats, S)
    width = (tree_feat_ptr[t + 1] - tree_feat_ptr[t]) * k
    loc = S[10]
    for leaf in range(lo, hi):
        if approximate:
            count = _saabas_symmetric(t, leaf, tree_offsets, tree_splits, split_class, values, sub_offsets, k, S)
        else:
            count = _explain_symmetric(t, leaf, tree_offsets, tree_splits, split_class, sub, sub_offsets,
                                       leaf_offsets, leaf_values, k, average, S, -1, False)
        _unpack(count, S, class_ptr, class_feat, k)
        for j in range(width):
            table[leaf, j] = loc[j]
            loc[j] = 0.0


@njit(cache=True, nogil=True)
def _symmetric_rows(t, t0, lo, hi, leaves, tree_offsets, tree_splits, split_class, sub, sub_offsets, leaf_offsets,
                    leaf_values, k, average, class_ptr, class_feat, tree_feat_ptr, tree_feats, S, out, values,
                    approximate, fixed, on, internal):
    _localise(t, tree_feat_ptr, tree_feats, S)
    for r in range(lo, hi):
        if approximate:
            count = _saabas_symmetric(t, leaves[r, t - t0], tree_offsets, tree_splits, split_class, values,
                                      sub_offsets, k, S)
        else:
            count = _explain_symmetric(t, leaves[r, t - t0], tree_offsets, tree_splits, split_class, sub,
                                       sub_offsets, leaf_offsets, leaf_values, k, average, S, fixed, on)
        if internal:
            _add_classes(r, count, S, k, out)
        else:
            _unpack(count, S, class_ptr, class_feat, k)
            _add(r, t, tree_feat_ptr, tree_feats, k, S, out)


@njit(cache=True, nogil=True)
def symmetric_contribs(leaves, tree_offsets, tree_splits, split_class, sub, sub_offsets, leaf_offsets, leaf_values, k,
                       mean, average, class_ptr, class_feat, tree_feat_ptr, tree_feats, levels, t0, t1, out, values,
                       approximate, fixed, on, internal):
    """ShapValues of symmetric trees ``t0..t1-1`` for rows whose leaf indexes are ``leaves``
    (rows x those trees), added into ``out`` (rows x k x features + 1): the trees' expected
    values into the last column. A tree with no more leaves than rows is explained once per leaf
    (CatBoost's precalculation), then each row adds its leaf's values. ``approximate``: CatBoost's
    Approximate values instead, from each node's mean value (``values``). ``internal``: the class
    sums instead (``out``: rows x k x classes, no expected values), with class ``fixed`` (if >= 0)
    conditioned on (``on``) or off, as CatBoost's interaction values need them."""
    n, F = out.shape[0], out.shape[2] - 1
    S = _scratch(levels, class_ptr, class_feat, k, tree_feat_ptr, t0, t1)
    for t in range(t0, t1):
        depth = tree_offsets[t + 1] - tree_offsets[t]
        nf = tree_feat_ptr[t + 1] - tree_feat_ptr[t]
        p0 = tree_feat_ptr[t]
        if (1 << depth) <= n and not internal:
            table = np.zeros((1 << depth, max(nf, 1) * k), dtype=np.float64)
            _symmetric_leaves(t, 0, 1 << depth, table, tree_offsets, tree_splits, split_class, sub, sub_offsets,
                              leaf_offsets, leaf_values, k, average[t], class_ptr, class_feat, tree_feat_ptr,
                              tree_feats, S, values, approximate)
            for r in range(n):
                at = table[leaves[r, t - t0]]
                for j in range(nf):
                    f = tree_feats[p0 + j]
                    for d in range(k):
                        out[r, d, f] += at[j * k + d]
        else:
            _symmetric_rows(t, t0, 0, n, leaves, tree_offsets, tree_splits, split_class, sub, sub_offsets,
                            leaf_offsets, leaf_values, k, average[t], class_ptr, class_feat, tree_feat_ptr, tree_feats,
                            S, out, values, approximate, fixed, on, internal)
        if not internal:
            for r in range(n):
                for d in range(k):
                    out[r, d, F] += mean[t, d]


@njit(cache=True, nogil=True)
def _nonsymmetric_block(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets,
                        tree_splits, split_class, sub, leaf_offsets, leaf_values, k, mean, average, class_ptr,
                        class_feat, tree_feat_ptr, tree_feats, levels, t0, t1, out, bins, S, values, approximate,
                        fixed, on, internal):
    _binarise(X, codes, r0, r1, slot_column, borders, border_offsets, nan_bin, bins)
    F = out.shape[2] - 1
    for t in range(t0, t1):
        _localise(t, tree_feat_ptr, tree_feats, S)
        for i in range(r1 - r0):
            if approximate:
                count = _saabas_nonsymmetric(t, bins, i, nodes, tree_offsets, tree_splits, split_class, values, k, S)
            else:
                count = _explain_nonsymmetric(t, bins, i, nodes, tree_offsets, tree_splits, split_class, sub,
                                              leaf_offsets, leaf_values, k, average[t], S, fixed, on)
            if internal:
                _add_classes(r0 + i, count, S, k, out)
                continue
            _unpack(count, S, class_ptr, class_feat, k)
            _add(r0 + i, t, tree_feat_ptr, tree_feats, k, S, out)
            for d in range(k):
                out[r0 + i, d, F] += mean[t, d]


@njit(cache=True, nogil=True)
def nonsymmetric_contribs(X, codes, slot_column, borders, border_offsets, nan_bin, nodes, tree_offsets, tree_splits,
                          split_class, sub, leaf_offsets, leaf_values, k, mean, average, class_ptr, class_feat,
                          tree_feat_ptr, tree_feats, levels, t0, t1, out, values, approximate, fixed, on, internal):
    """ShapValues of non-symmetric trees ``t0..t1-1`` for the rows of ``X`` (and their one-hot
    ``codes``), added into ``out`` as ``symmetric_contribs`` does (``internal``, ``fixed``, ``on``
    too); rows are binarised a block at a time, as for predictions."""
    n = X.shape[0]
    S = _scratch(levels, class_ptr, class_feat, k, tree_feat_ptr, t0, t1)
    bins = np.empty((max(slot_column.shape[0] + codes.shape[1], 1), BLOCK), dtype=np.uint32)
    for r0 in range(0, n, BLOCK):
        _nonsymmetric_block(X, codes, r0, min(r0 + BLOCK, n), slot_column, borders, border_offsets, nan_bin, nodes,
                            tree_offsets, tree_splits, split_class, sub, leaf_offsets, leaf_values, k, mean, average,
                            class_ptr, class_feat, tree_feat_ptr, tree_feats, levels, t0, t1, out, bins, S, values,
                            approximate, fixed, on, internal)


@njit(cache=True, nogil=True)
def symmetric_stats(tree_offsets, leaf_offsets, leaf_values, leaf_weights, k, sub_offsets, sub, mean):
    """Per symmetric tree: every node's weight, level after level (``sub[sub_offsets[t] + 2**level
    - 1 + node]``; a node is the sum of its two children, the leaves the model's weights) and its
    expected value per output (the leaves' values times weights, added leaf after leaf, over the
    root's weight), as CatBoost's ``CalcSubtreeWeightsForTree`` and ``CalcMeanValueForTree``."""
    for t in range(tree_offsets.shape[0] - 1):
        depth = tree_offsets[t + 1] - tree_offsets[t]
        base = sub_offsets[t]
        first = leaf_offsets[t] // k
        last = base + (1 << depth) - 1
        for leaf in range(1 << depth):
            sub[last + leaf] = leaf_weights[first + leaf]
        for level in range(depth - 1, -1, -1):
            at = base + (1 << level) - 1
            below = base + (1 << (level + 1)) - 1
            for node in range(1 << level):
                sub[at + node] = sub[below + 2 * node] + sub[below + 2 * node + 1]
        for d in range(k):
            mean[t, d] = 0.0
        for leaf in range(1 << depth):
            for d in range(k):
                mean[t, d] += leaf_values[leaf_offsets[t] + leaf * k + d] * sub[last + leaf]
        for d in range(k):
            mean[t, d] /= sub[base]


@njit(cache=True, nogil=True)
def _parents(node_left, node_right):
    """Each node's parent (-1 at roots)."""
    parent = np.full(node_left.shape[0], -1, dtype=np.int64)
    for node in range(node_left.shape[0]):
        if node_left[node] >= 0:
            parent[node_left[node]] = node
        if node_right[node] >= 0:
            parent[node_right[node]] = node
    return parent


@njit(cache=True, nogil=True)
def nonsymmetric_stats(tree_offsets, node_left, node_right, node_leaf, leaf_offsets, leaf_values, leaf_weights, k,
                       sub, mean):
    """Per non-symmetric tree: every node's weight (its leaf's weight, if a walk stops there, plus
    its children's, from the last node back; the root only its children's, and a one-node tree its
    leaf's) and the expected value per output (leaves' values times weights in node order, over the
    root's weight), as CatBoost's ``CalcSubtreeWeightsForTree`` and ``CalcMeanValueForTree``."""
    parent = _parents(node_left, node_right)
    for t in range(tree_offsets.shape[0] - 1):
        start, end = tree_offsets[t], tree_offsets[t + 1]
        first = leaf_offsets[t] // k
        for node in range(start, end):
            sub[node] = 0.0
        if end - start == 1:
            sub[start] = leaf_weights[first + node_leaf[start]]
        else:
            for node in range(end - 1, start, -1):
                if node_leaf[node] >= 0:
                    sub[node] += leaf_weights[first + node_leaf[node]]
                sub[parent[node]] += sub[node]
        for d in range(k):
            mean[t, d] = 0.0
        for node in range(start, end):
            if node_leaf[node] >= 0:
                for d in range(k):
                    mean[t, d] += leaf_values[leaf_offsets[t] + node_leaf[node] * k + d] * \
                        leaf_weights[first + node_leaf[node]]
        for d in range(k):
            mean[t, d] /= sub[start]


@njit(cache=True, nogil=True)
def symmetric_values(tree_offsets, leaf_offsets, leaf_values, k, sub_offsets, sub, values):
    """Per symmetric tree, each node's mean value per output (laid out as ``sub``): the leaves'
    values, then per node its children's values weighted by their weights over its own (0 for a
    node of no weight), as CatBoost's ``CalcSubtreeValuesForTree`` for its Approximate values."""
    for t in range(tree_offsets.shape[0] - 1):
        depth = tree_offsets[t + 1] - tree_offsets[t]
        base = sub_offsets[t]
        last = base + (1 << depth) - 1
        for leaf in range(1 << depth):
            for d in range(k):
                values[last + leaf, d] = leaf_values[leaf_offsets[t] + leaf * k + d]
        for level in range(depth - 1, -1, -1):
            at = base + (1 << level) - 1
            below = base + (1 << (level + 1)) - 1
            for node in range(1 << level):
                for d in range(k):
                    values[at + node, d] = 0.0
                if not _zero(sub[at + node]):
                    for d in range(k):
                        v = values[below + 2 * node, d] * sub[below + 2 * node] + \
                            values[below + 2 * node + 1, d] * sub[below + 2 * node + 1]
                        values[at + node, d] = v / sub[at + node]


@njit(cache=True, nogil=True)
def nonsymmetric_values(tree_offsets, node_left, node_right, node_leaf, leaf_offsets, leaf_values, leaf_weights, k,
                        sub, values):
    """Per non-symmetric tree, each node's mean value per output, as CatBoost's
    ``CalcSubtreeValuesForTree``: from the last node back, a node's leaf value times its weight
    (if the weight is not zero) added to what its children gave it, then given to its parent (if
    the node's weight is not zero); then each node of non-zero weight divided by its weight. A
    one-node tree's value is its leaf's."""
    parent = _parents(node_left, node_right)
    for t in range(tree_offsets.shape[0] - 1):
        start, end = tree_offsets[t], tree_offsets[t + 1]
        first = leaf_offsets[t] // k
        for node in range(start, end):
            for d in range(k):
                values[node, d] = 0.0
        if end - start == 1:
            for d in range(k):
                values[start, d] = leaf_values[leaf_offsets[t] + node_leaf[start] * k + d]
            continue
        for node in range(end - 1, start, -1):
            leaf = node_leaf[node]
            if leaf >= 0 and not _zero(leaf_weights[first + leaf]):
                for d in range(k):
                    values[node, d] += leaf_values[leaf_offsets[t] + leaf * k + d] * leaf_weights[first + leaf]
            if not _zero(sub[node]):
                for d in range(k):
                    values[parent[node], d] += values[node, d]
        for node in range(end - 1, start - 1, -1):
            if not _zero(sub[node]):
                for d in range(k):
                    values[node, d] /= sub[node]
