"""The immutable node arrays of a LightGBM ensemble, with LightGBM's decision rules.

LightGBM decides in float64: ``x <= threshold`` goes left, a category found in the node's
bitset goes left, and each numeric node has a missing type (None: NaN is read as 0.0; Zero:
|x| <= 1e-35 and NaN take the default child; NaN: NaN takes the default child). Those rules
are compiled into the stored arrays once, here, so that a walk step is the same unsigned
comparison whatever the node:

- every feature a split reads is given a *slot* per way it is read (``slots``: feature in
  bits 0-29, kind in bits 30-31: 0 missing type None, 1 Zero, 2 NaN, 3 category set). The
  kernels turn a block of rows into one 64-bit key per slot: the float64 order key
  (``order_key64``) of the value, 0 for what the slot's kind calls missing, a category number
  for a set slot;
- ``node_word`` (uint32) holds the node's slot (bits 0-29), bit 30 for a category-set split
  and bit 31 when a missing value goes right; 0 at leaves;
- ``split_key`` (uint64) is ``order_key64(threshold) + 1 - missing_right``, so that
  ``key - missing_right >= split_key`` is exactly ``not (x <= threshold)`` for a present value
  and sends a missing one (key 0, which wraps when the bit is set) the default way;
  ``TOP_KEY64`` at leaves and set splits, which no key reaches;
- ``left`` (uint32): left child, the right one is ``left + 1``; a leaf points to itself.

Trees are stored breadth-first with siblings adjacent, as in ``forest.SoAForest``; build
checks every child, feature, category table and linear-leaf index, and that every node of a
tree is reached exactly once from its root (so walks end at leaves). ``leaf_index`` keeps
LightGBM's leaf numbers for ``predict_leaf``. Linear trees keep, per leaf node, a constant and
a run of (feature, coefficient) pairs; plain trees in the same model get their leaf value as
the constant and no pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field as _field

import numpy as np

from .errors import ModelFormatError
from .forest import FEATURE_MASK

KIND_NONE, KIND_ZERO, KIND_NAN, KIND_SET = 0, 1, 2, 3
KIND_SHIFT = 30
MAX_SLOTS = 1 << 24  # a block's keys (slots x 256 rows) are addressed with 32-bit offsets
MAX_CAT_WORDS = 1 << 32  # the kernels address a set's words with 32 bits
CATEGORICAL_BIT = np.uint32(1 << 30)
MISSING_RIGHT_BIT = np.uint32(1 << 31)
TOP_KEY64 = np.uint64(0xFFFFFFFFFFFFFFFF)
ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold, a float literal widened to double
_SIGN64 = np.uint64(1 << 63)


def order_key64(values: np.ndarray) -> np.ndarray:
    """float64 -> uint64 keys with the same order (``a < b`` exactly when ``key(a) < key(b)``),
    -0.0 folded onto +0.0 (they compare equal). NaN is not given a key here."""
    v = np.where(np.asarray(values, dtype=np.float64) == 0.0, 0.0, values).astype(np.float64)
    bits = v.view(np.uint64)
    return np.where(bits >> np.uint64(63) != 0, ~bits, bits | _SIGN64).astype(np.uint64)


@dataclass(frozen=True, eq=False)
class LightGBMForest:
    """Flat node arrays of all trees; see the module docstring for the layout and invariants."""

    node_word: np.ndarray  # uint32 [n_nodes]
    split_key: np.ndarray  # uint64 [n_nodes]
    threshold: np.ndarray  # float64 [n_nodes]: a numeric split's threshold as written; NaN elsewhere
    left: np.ndarray  # uint32 [n_nodes]
    leaf_value: np.ndarray  # float64 [n_nodes]; meaningful at leaves
    cat_offsets: np.ndarray  # int64 [n_nodes + 1], or empty when no node tests a category set
    cat_bits: np.ndarray  # uint32 bitset words (category c: bit c % 32 of word c // 32)
    tree_offsets: np.ndarray  # int64 [n_trees + 1]
    tree_group: np.ndarray  # int32 [n_trees]: the class a tree adds to
    tree_depth: np.ndarray  # int32 [n_trees]
    leaf_index: np.ndarray  # int32 [n_nodes]: LightGBM's leaf number at leaves, -1 elsewhere
    slots: np.ndarray  # uint32 [n_slots]: feature | kind << 30, ascending
    linear_const: np.ndarray  # float64 [n_nodes] or empty: linear leaves' constants
    linear_offsets: np.ndarray  # int64 [n_nodes + 1] or empty
    linear_feature: np.ndarray  # int32: features of the linear leaves' terms
    linear_coeff: np.ndarray  # float64: their coefficients
    average_output: bool  # random forest: Predict (not PredictRaw) divides by the rounds used
    # LightGBM's internal_count / leaf_count per node (training rows that reached it), for
    # TreeSHAP; empty when the model file stores none. Never read by a walk.
    data_count: np.ndarray = _field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @property
    def has_counts(self) -> bool:
        return len(self.data_count) == self.num_nodes

    @property
    def num_trees(self) -> int:
        return len(self.tree_offsets) - 1

    @property
    def num_nodes(self) -> int:
        return len(self.node_word)

    @property
    def has_categorical(self) -> bool:
        return len(self.cat_offsets) > 0

    @property
    def has_linear(self) -> bool:
        return len(self.linear_offsets) > 0

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self.__dataclass_fields__ if name != "average_output")

    @property
    def is_leaf(self) -> np.ndarray:
        return self.left == np.arange(self.num_nodes, dtype=np.uint32)

    # unpacked views, as ``SoAForest`` offers them, for code off the hot path (inspection)
    leaf_size = 1

    @property
    def left_child(self) -> np.ndarray:
        return np.where(self.is_leaf, -1, self.left.astype(np.int64)).astype(np.int32)

    @property
    def is_categorical(self) -> np.ndarray:
        return ((self.node_word & CATEGORICAL_BIT) != 0).astype(np.uint8)

    @property
    def right_child(self) -> np.ndarray:
        return np.where(self.is_leaf, -1, self.left.astype(np.int64) + 1).astype(np.int32)

    @property
    def missing_type(self) -> np.ndarray:
        """Per node: 0 None, 1 Zero, 2 NaN (0 at leaves and set splits)."""
        if not len(self.slots):
            return np.zeros(self.num_nodes, dtype=np.uint8)
        kind = self.slots[self.node_word & np.uint32((1 << KIND_SHIFT) - 1)] >> np.uint32(KIND_SHIFT)
        return np.where(self.is_leaf | (kind == KIND_SET), 0, kind).astype(np.uint8)

    @property
    def default_left(self) -> np.ndarray:
        """1 where a missing value goes left (also where the missing type makes it moot)."""
        return ((self.node_word & MISSING_RIGHT_BIT) == 0).astype(np.uint8)

    @property
    def split_feature(self) -> np.ndarray:
        if not len(self.slots):
            return np.zeros(self.num_nodes, dtype=np.int32)
        feature = self.slots[self.node_word & np.uint32((1 << KIND_SHIFT) - 1)] & FEATURE_MASK
        return np.where(self.is_leaf, 0, feature).astype(np.int32)


@dataclass(frozen=True)
class LightGBMTrees:
    """All trees as LightGBM's text format lists them, concatenated in tree order.

    Internal-node arrays hold ``num_leaves[t] - 1`` entries per tree, leaf arrays
    ``num_leaves[t]``; children follow LightGBM (``c >= 0`` internal node ``c``, ``c < 0``
    leaf ``~c``). ``cat_boundaries`` holds ``num_cat[t] + 1`` entries per tree with a
    category, indexing that tree's run of ``cat_threshold``. Linear arrays are empty for a
    model without linear trees.
    """

    num_leaves: np.ndarray  # int64 [T]
    num_cat: np.ndarray  # int64 [T]
    split_feature: np.ndarray  # int64 [sum(num_leaves - 1)]
    threshold: np.ndarray  # float64
    decision_type: np.ndarray  # int64
    left_child: np.ndarray  # int64
    right_child: np.ndarray  # int64
    leaf_value: np.ndarray  # float64 [sum(num_leaves)]
    cat_boundaries: np.ndarray  # int64 [sum(num_cat + 1 where num_cat > 0)]
    cat_threshold: np.ndarray  # uint32
    cat_threshold_count: np.ndarray  # int64 [T]: words of cat_threshold per tree
    is_linear: np.ndarray  # bool [T]
    leaf_const: np.ndarray  # float64 [sum(num_leaves)] (leaf_value where a tree is not linear)
    leaf_num_features: np.ndarray  # int64 [sum(num_leaves)] (0 where a tree is not linear)
    leaf_features: np.ndarray  # int64
    leaf_coeff: np.ndarray  # float64
    # internal_count / leaf_count in the internal / leaf orders above; None when not stored
    internal_count: np.ndarray | None = None  # int64 [sum(num_leaves - 1)]
    leaf_count: np.ndarray | None = None  # int64 [sum(num_leaves)]


def build(trees: LightGBMTrees, *, source: str | None, num_features: int, num_outputs: int,
          average_output: bool) -> LightGBMForest:
    """Validate LightGBM's per-tree arrays (``ModelFormatError`` naming ``source``, tree and
    field) and lay them out for the kernels."""
    t = trees
    n_trees = len(t.num_leaves)
    nl = t.num_leaves.astype(np.int64)
    if n_trees and nl.min() < 1:
        tree = int(np.flatnonzero(nl < 1)[0])
        raise ModelFormatError(source, f"Tree={tree}.num_leaves", f"is {int(nl[tree])}, expected >= 1")
    ni = nl - 1
    size = 2 * nl - 1  # nodes per tree: internal nodes first, then leaves
    base = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    n = int(base[-1])
    int_start = np.concatenate([[0], np.cumsum(ni)]).astype(np.int64)
    leaf_start = np.concatenate([[0], np.cumsum(nl)]).astype(np.int64)
    if len(t.split_feature) != int_start[-1] or len(t.leaf_value) != leaf_start[-1]:
        raise ModelFormatError(source, "trees", "node arrays do not match num_leaves")
    tree_of_int = np.repeat(np.arange(n_trees, dtype=np.int64), ni)
    tree_of_leaf = np.repeat(np.arange(n_trees, dtype=np.int64), nl)
    local_int = np.arange(len(tree_of_int), dtype=np.int64) - int_start[:-1][tree_of_int]
    local_leaf = np.arange(len(tree_of_leaf), dtype=np.int64) - leaf_start[:-1][tree_of_leaf]
    pos_int = base[:-1][tree_of_int] + local_int  # unified position of every internal node
    pos_leaf = base[:-1][tree_of_leaf] + ni[tree_of_leaf] + local_leaf

    def fail(k: int, field: str, problem: str):
        tree = int(tree_of_int[k])
        raise ModelFormatError(source, f"Tree={tree}.{field}[{int(local_int[k])}]", problem)

    # 1. children: in range, then unified positions
    children = []
    for name, child in (("left_child", t.left_child), ("right_child", t.right_child)):
        child = np.asarray(child, dtype=np.int64)
        limit_int = ni[tree_of_int]
        leaf = ~child
        bad = np.where(child >= 0, child >= limit_int, leaf >= nl[tree_of_int])
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            fail(k, name, f"child {int(child[k])} is out of range: internal nodes [0, {int(limit_int[k])}), "
                          f"leaves ~[0, {int(nl[tree_of_int[k]])})")
        children.append(np.where(child >= 0, base[:-1][tree_of_int] + child,
                                 base[:-1][tree_of_int] + ni[tree_of_int] + leaf))
    left_u = np.full(n, -1, dtype=np.int64)
    right_u = np.full(n, -1, dtype=np.int64)
    left_u[pos_int], right_u[pos_int] = children
    internal_u = np.zeros(n, dtype=bool)
    internal_u[pos_int] = True

    # 2. walk every tree breadth-first at once: every node reached exactly once
    tree_of_u = np.repeat(np.arange(n_trees, dtype=np.int64), size)
    visits = np.zeros(n, dtype=np.int64)
    depth_u = np.zeros(n, dtype=np.int64)
    levels = []
    frontier = base[:-1].copy()
    level = 0
    while frontier.size:
        np.add.at(visits, frontier, 1)
        if visits[frontier].max() > 1:
            node = int(frontier[visits[frontier] > 1][0])
            tree = int(tree_of_u[node])
            raise ModelFormatError(source, f"Tree={tree}", f"node {_name(node, base, ni, tree)} is reached twice "
                                                           "(a cycle or a shared child)")
        depth_u[frontier] = level
        levels.append(frontier)
        parents = frontier[internal_u[frontier]]
        frontier = np.stack([left_u[parents], right_u[parents]], axis=1).ravel()
        level += 1
    if n and visits.min() < 1:
        node = int(np.flatnonzero(visits < 1)[0])
        tree = int(tree_of_u[node])
        raise ModelFormatError(source, f"Tree={tree}", f"node {_name(node, base, ni, tree)} is not reachable "
                                                       "from the root")
    order = np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64)
    order = order[np.argsort(tree_of_u[order], kind="stable")]
    new_index = np.empty(n, dtype=np.int64)
    new_index[order] = np.arange(n)

    # 3. split features and kinds
    feature = np.asarray(t.split_feature, dtype=np.int64)
    bad = (feature < 0) | (feature >= num_features)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        fail(k, "split_feature", f"feature {int(feature[k])} is out of range [0, {num_features})")
    dtype_ = np.asarray(t.decision_type, dtype=np.int64)
    if dtype_.size and (dtype_.min() < -128 or dtype_.max() > 127):
        k = int(np.flatnonzero((dtype_ < -128) | (dtype_ > 127))[0])
        fail(k, "decision_type", f"is {int(dtype_[k])}, expected an int8")
    dt = dtype_ & 0xFF
    # LightGBM tests category sets only in trees with num_cat > 0
    is_set = ((dt & 1) != 0) & (t.num_cat[tree_of_int] > 0)
    missing_type = (dt >> 2) & 3
    kind = np.where(is_set, KIND_SET, np.where(missing_type == 3, KIND_NONE, missing_type))
    default_left = (dt & 2) != 0
    missing_right = ((kind == KIND_ZERO) | (kind == KIND_NAN)) & ~default_left
    threshold = np.asarray(t.threshold, dtype=np.float64)

    # 4. category sets: the node's words cat_threshold[cb[i]:cb[i+1]] of its own tree
    words = np.zeros(len(feature), dtype=np.int64)
    word_start = np.zeros(len(feature), dtype=np.int64)
    if is_set.any():
        cb = np.asarray(t.cat_boundaries, dtype=np.int64)
        has_cat = t.num_cat > 0
        cb_count = np.where(has_cat, t.num_cat + 1, 0)
        cb_start = np.concatenate([[0], np.cumsum(cb_count)])
        thr_start = np.concatenate([[0], np.cumsum(t.cat_threshold_count)])
        for tree in np.flatnonzero(has_cat):
            mine = cb[cb_start[tree]:cb_start[tree + 1]]
            if mine[0] != 0 or np.any(mine[1:] < mine[:-1]) or mine[-1] != t.cat_threshold_count[tree]:
                raise ModelFormatError(source, f"Tree={int(tree)}.cat_boundaries",
                                       f"must rise from 0 to the length of cat_threshold "
                                       f"({int(t.cat_threshold_count[tree])})")
        k_set = np.flatnonzero(is_set)
        thr = threshold[k_set]
        num_cat = t.num_cat[tree_of_int[k_set]]
        bad = ~np.isfinite(thr) | (np.trunc(thr) < 0) | (np.trunc(np.nan_to_num(thr)) >= num_cat)
        if bad.any():
            k = int(k_set[np.flatnonzero(bad)[0]])
            fail(k, "threshold", f"category split index {threshold[k]} is out of range "
                                 f"[0, {int(t.num_cat[tree_of_int[k]])})")
        cat_idx = np.trunc(thr).astype(np.int64)
        trees_of = tree_of_int[k_set]
        lo = cb[cb_start[trees_of] + cat_idx]
        hi = cb[cb_start[trees_of] + cat_idx + 1]
        words[k_set] = hi - lo
        word_start[k_set] = thr_start[trees_of] + lo

    # 5. slots and packed node fields, in unified positions
    slot_key = feature.astype(np.uint64) | (kind.astype(np.uint64) << np.uint64(KIND_SHIFT))
    slots, slot_of = np.unique(slot_key, return_inverse=True)
    if len(slots) > MAX_SLOTS:
        raise ModelFormatError(source, "split_feature", f"the trees split on {len(slots)} (feature, kind) pairs; "
                                                        f"at most {MAX_SLOTS} are supported")
    if num_features - 1 > int(FEATURE_MASK):
        raise ModelFormatError(source, "max_feature_idx", f"is {num_features - 1}; at most "
                                                          f"{int(FEATURE_MASK)} is supported")
    word = np.zeros(n, dtype=np.uint32)
    word[pos_int] = (slot_of.astype(np.uint32).reshape(-1)
                     | np.where(is_set, CATEGORICAL_BIT, np.uint32(0))
                     | np.where(missing_right, MISSING_RIGHT_BIT, np.uint32(0)))
    safe_thr = np.where(np.isnan(threshold), 0.0, threshold)
    keys = order_key64(safe_thr) + np.uint64(1)
    keys = np.where(np.isnan(threshold), np.uint64(1), keys) - missing_right.astype(np.uint64)
    split_key = np.full(n, TOP_KEY64, dtype=np.uint64)
    split_key[pos_int] = np.where(is_set, TOP_KEY64, keys)
    threshold_u = np.full(n, np.nan)
    threshold_u[pos_int] = np.where(is_set, np.nan, threshold)
    leaf_value = np.zeros(n, dtype=np.float64)
    leaf_value[pos_leaf] = t.leaf_value
    leaf_index = np.full(n, -1, dtype=np.int32)
    leaf_index[pos_leaf] = local_leaf
    words_u = np.zeros(n, dtype=np.int64)
    words_u[pos_int] = words
    word_start_u = np.zeros(n, dtype=np.int64)
    word_start_u[pos_int] = word_start

    # 6. reorder into walk order
    left_new = np.where(internal_u[order], new_index[np.maximum(left_u[order], 0)], np.arange(n))
    tree_depth = (np.maximum.reduceat(depth_u, base[:-1]) if n_trees else np.zeros(0, np.int64)).astype(np.int32)
    if is_set.any():
        w = words_u[order]
        cat_offsets = np.concatenate([[0], np.cumsum(w)]).astype(np.int64)
        if cat_offsets[-1] >= MAX_CAT_WORDS:
            raise ModelFormatError(source, "cat_threshold", f"the category sets hold {int(cat_offsets[-1])} words; "
                                                            f"at most {MAX_CAT_WORDS - 1} are supported")
        src = np.repeat(word_start_u[order] - cat_offsets[:-1], w) + np.arange(int(cat_offsets[-1]))
        cat_bits = np.asarray(t.cat_threshold, dtype=np.uint32)[src]
    else:
        cat_offsets = np.zeros(0, dtype=np.int64)
        cat_bits = np.zeros(0, dtype=np.uint32)

    # 7. linear leaves
    if t.is_linear.any():
        counts = np.asarray(t.leaf_num_features, dtype=np.int64)
        feats = np.asarray(t.leaf_features, dtype=np.int64)
        bad = (feats < 0) | (feats >= num_features)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            leaf = int(np.searchsorted(np.cumsum(counts), j, side="right"))
            tree = int(tree_of_leaf[leaf])
            raise ModelFormatError(source, f"Tree={tree}.leaf_features",
                                   f"feature {int(feats[j])} is out of range [0, {num_features})")
        const_u = np.zeros(n, dtype=np.float64)
        const_u[pos_leaf] = t.leaf_const
        count_u = np.zeros(n, dtype=np.int64)
        count_u[pos_leaf] = counts
        start_u = np.zeros(n, dtype=np.int64)
        start_u[pos_leaf] = np.concatenate([[0], np.cumsum(counts)])[:-1]
        c = count_u[order]
        linear_offsets = np.concatenate([[0], np.cumsum(c)]).astype(np.int64)
        src = np.repeat(start_u[order] - linear_offsets[:-1], c) + np.arange(int(linear_offsets[-1]))
        linear_const = const_u[order]
        linear_feature = feats[src].astype(np.int32)
        linear_coeff = np.asarray(t.leaf_coeff, dtype=np.float64)[src]
    else:
        linear_const = np.zeros(0, dtype=np.float64)
        linear_offsets = np.zeros(0, dtype=np.int64)
        linear_feature = np.zeros(0, dtype=np.int32)
        linear_coeff = np.zeros(0, dtype=np.float64)

    # 8. row counts (TreeSHAP's covers): LightGBM reads them as int
    data_count = np.zeros(0, dtype=np.int32)
    if t.internal_count is not None and t.leaf_count is not None:
        for name, counts, limit in (("internal_count", t.internal_count, int_start[-1]),
                                    ("leaf_count", t.leaf_count, leaf_start[-1])):
            counts = np.asarray(counts, dtype=np.int64)
            if len(counts) != limit:
                raise ModelFormatError(source, name, f"has {len(counts)} values over all trees, expected {int(limit)}")
            bad = (counts < 0) | (counts > np.iinfo(np.int32).max)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                tree = int((tree_of_int if name == "internal_count" else tree_of_leaf)[k])
                local = int((local_int if name == "internal_count" else local_leaf)[k])
                raise ModelFormatError(source, f"Tree={tree}.{name}[{local}]",
                                       f"is {int(counts[k])}, expected a row count in [0, 2**31)")
        count_u = np.zeros(n, dtype=np.int64)
        count_u[pos_int] = t.internal_count
        count_u[pos_leaf] = t.leaf_count
        data_count = count_u[order].astype(np.int32)

    tree_group = (np.arange(n_trees) % max(num_outputs, 1)).astype(np.int32)
    return LightGBMForest(
        node_word=_frozen(word[order]),
        split_key=_frozen(split_key[order]),
        threshold=_frozen(threshold_u[order]),
        left=_frozen(left_new.astype(np.uint32)),
        leaf_value=_frozen(leaf_value[order]),
        cat_offsets=_frozen(cat_offsets),
        cat_bits=_frozen(cat_bits),
        tree_offsets=_frozen(base),
        tree_group=_frozen(tree_group),
        tree_depth=_frozen(tree_depth),
        leaf_index=_frozen(leaf_index[order]),
        slots=_frozen(slots.astype(np.uint32)),
        linear_const=_frozen(linear_const),
        linear_offsets=_frozen(linear_offsets),
        linear_feature=_frozen(linear_feature),
        linear_coeff=_frozen(linear_coeff),
        average_output=bool(average_output),
        data_count=_frozen(data_count),
    )


def _name(node: int, base: np.ndarray, ni: np.ndarray, tree: int) -> str:
    """LightGBM's name of a unified node position: internal node i or leaf ~j."""
    local = node - int(base[tree])
    return f"{local}" if local < int(ni[tree]) else f"leaf {local - int(ni[tree])}"


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def trees_from_nodes(*, source: str | None, tree_offsets, left_child, right_child, split_feature, threshold,
                     default_left, split_kind, missing_type, cat_offsets, cat_bits, leaf_values,
                     node_id, linear: dict | None = None) -> LightGBMTrees:
    """LightGBM's per-tree arrays back from the flat node arrays of the saved-model schema
    (global child indices, -1 at leaves; ``node_id`` the leaf's number at leaves), so that a
    saved forest goes through the same ``build`` checks as a text file. What ``build`` cannot
    see (a child outside its tree, leaf numbers that are not 0..n-1, codes out of range) is
    checked here first. ``linear``: the schema's ``leaf_const`` and ``leaf_coef_*`` arrays; every
    tree then becomes a linear tree (a leaf without terms predicts its constant, as a plain leaf
    with that value would)."""
    def fail(field, problem):
        raise ModelFormatError(source, f"arrays/{field}", problem)

    offsets = np.asarray(tree_offsets, dtype=np.int64)
    left = np.asarray(left_child, dtype=np.int64)
    right = np.asarray(right_child, dtype=np.int64)
    n = len(left)
    # compared, not differenced: int64 differences of wild offsets wrap round and could pass for rising
    if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != n or np.any(offsets[1:] <= offsets[:-1]):
        fail("tree_offsets", f"must rise strictly from 0 to the node count {n}")
    n_trees = len(offsets) - 1
    tree_of = np.repeat(np.arange(n_trees, dtype=np.int64), np.diff(offsets))
    internal = left != -1
    roots = offsets[:-1]
    bad_root = (np.diff(offsets) > 1) & ~internal[np.minimum(roots, max(n - 1, 0))] if n else np.zeros(0, bool)
    if bad_root.any():  # the schema's root is a tree's first node; LightGBM's is its first split
        tree = int(np.flatnonzero(bad_root)[0])
        fail(f"left_child[{int(roots[tree])}]", f"tree {tree}'s first node is a leaf but the tree has "
                                                f"{int(offsets[tree + 1] - offsets[tree])} nodes: its root must "
                                                "come first")
    lo, hi = offsets[:-1][tree_of], offsets[1:][tree_of]
    for name, child in (("left_child", left), ("right_child", right)):
        bad = np.where(internal, (child < lo) | (child >= hi), child != -1)
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            fail(f"{name}[{node}]", f"is {int(child[node])}: a child must lie inside its own tree "
                                    f"[{int(lo[node])}, {int(hi[node])}), -1 at leaves")
    for name, codes, top in (("split_kind", split_kind, 1), ("default_left", default_left, 1),
                             ("missing_type", missing_type, 2)):
        codes = np.asarray(codes, dtype=np.int64)
        if codes.size and (codes.min() < 0 or codes.max() > top):
            fail(name, f"holds {int(codes[(codes < 0) | (codes > top)][0])}, expected 0..{top}")
    kind = np.asarray(split_kind, dtype=np.int64)
    n_internal = np.bincount(tree_of[internal], minlength=n_trees)
    n_leaves = np.bincount(tree_of[~internal], minlength=n_trees)
    if np.any(n_leaves != n_internal + 1):
        tree = int(np.flatnonzero(n_leaves != n_internal + 1)[0])
        fail("left_child", f"tree {tree} has {int(n_internal[tree])} splits and {int(n_leaves[tree])} leaves; a "
                           "binary tree has one leaf more than splits")
    ids = np.asarray(node_id, dtype=np.int64)
    leaf_ids = ids[~internal]
    leaf_tree = tree_of[~internal]
    if leaf_ids.size and (leaf_ids.min() < 0 or np.any(leaf_ids >= n_leaves[leaf_tree])):
        fail("node_id", "leaf numbers must run from 0 to the tree's leaf count - 1")
    seen = np.zeros(int(n_leaves.sum()), dtype=np.int64)
    leaf_start = np.concatenate([[0], np.cumsum(n_leaves)])
    np.add.at(seen, leaf_start[leaf_tree] + leaf_ids, 1)
    if np.any(seen != 1):
        fail("node_id", "every leaf number of a tree must appear exactly once")
    # LightGBM numbering: splits by their order in the tree, leaves by node_id
    rank = np.cumsum(internal) - 1 - np.concatenate([[0], np.cumsum(n_internal)])[tree_of]
    code = np.where(internal, rank, ~ids)
    offsets_cat = np.asarray(cat_offsets, dtype=np.int64)
    bits = np.asarray(cat_bits)
    if len(offsets_cat) != n + 1 or offsets_cat[0] != 0 or np.any(offsets_cat[1:] < offsets_cat[:-1]) or \
            offsets_cat[-1] != len(bits):
        fail("cat_offsets", f"must rise from 0 to the bitset length {len(bits)} over {n + 1} entries")
    words = np.diff(offsets_cat)
    is_set = internal & (kind == 1)
    if np.any(~is_set & (words != 0)):
        fail("cat_offsets", "only categorical splits may carry a category set")
    set_rank = np.cumsum(is_set) - 1 - np.concatenate([[0], np.cumsum(np.bincount(tree_of[is_set],
                                                                                  minlength=n_trees))])[tree_of]
    num_cat = np.bincount(tree_of[is_set], minlength=n_trees)
    # every tree's boundaries: 0, then its set splits' words added up, in node order
    boundaries = []
    for tree in np.flatnonzero(num_cat):
        mine = words[offsets[tree]:offsets[tree + 1]][is_set[offsets[tree]:offsets[tree + 1]]]
        boundaries.append(np.concatenate([[0], np.cumsum(mine)]))
    leaf_order = np.lexsort((leaf_ids, leaf_tree))
    values = np.asarray(leaf_values, dtype=np.float64).reshape(n, -1)[:, 0]
    lin = _linear_leaves(linear, internal, leaf_order, n, fail) if linear is not None else None
    thr = np.where(is_set, set_rank, np.asarray(threshold, dtype=np.float64))
    decision = kind + 2 * np.asarray(default_left, dtype=np.int64) + 4 * np.asarray(missing_type, dtype=np.int64)
    return LightGBMTrees(
        num_leaves=n_leaves.astype(np.int64),
        num_cat=num_cat.astype(np.int64),
        split_feature=np.asarray(split_feature, dtype=np.int64)[internal],
        threshold=thr[internal].astype(np.float64),
        decision_type=np.where(is_set, 1, decision)[internal],
        left_child=code[np.where(internal, left, 0)][internal],
        right_child=code[np.where(internal, right, 0)][internal],
        leaf_value=values[~internal][leaf_order],
        cat_boundaries=np.concatenate(boundaries).astype(np.int64) if boundaries else np.zeros(0, np.int64),
        cat_threshold=bits.astype(np.uint32),
        cat_threshold_count=np.array([int(words[offsets[t]:offsets[t + 1]].sum()) for t in range(n_trees)],
                                     dtype=np.int64),
        is_linear=np.full(n_trees, lin is not None, dtype=bool),
        **(lin or dict(leaf_const=np.zeros(0), leaf_num_features=np.zeros(0, dtype=np.int64),
                       leaf_features=np.zeros(0, dtype=np.int64), leaf_coeff=np.zeros(0))),
    )


def _linear_leaves(a: dict, internal: np.ndarray, leaf_order: np.ndarray, n: int, fail) -> dict:
    """The linear-leaf arrays of the node layout in LightGBM's per-tree leaf order; terms only
    at leaves, offsets rising from 0 to the term count (features are checked by ``build``)."""
    offsets = np.asarray(a["leaf_coef_offsets"], dtype=np.int64)
    feature = np.asarray(a["leaf_coef_feature"], dtype=np.int64)
    coeff = np.asarray(a["leaf_coef_value"], dtype=np.float64)
    if len(feature) != len(coeff):
        fail("leaf_coef_value", f"has {len(coeff)} entries, leaf_coef_feature {len(feature)}")
    if len(offsets) != n + 1 or offsets[0] != 0 or np.any(offsets[1:] < offsets[:-1]) or offsets[-1] != len(feature):
        fail("leaf_coef_offsets", f"must rise from 0 to the term count {len(feature)} over {n + 1} entries")
    counts = np.diff(offsets)
    if np.any(internal & (counts != 0)):
        fail("leaf_coef_offsets", "only leaves may carry linear terms")
    leaves = np.flatnonzero(~internal)[leaf_order]
    c = counts[leaves]
    starts = np.repeat(offsets[leaves] - np.concatenate([[0], np.cumsum(c)])[:-1], c) + np.arange(int(c.sum()))
    return dict(leaf_const=np.asarray(a["leaf_const"], dtype=np.float64)[leaves], leaf_num_features=c.astype(np.int64),
                leaf_features=feature[starts], leaf_coeff=coeff[starts])
