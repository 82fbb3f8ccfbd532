"""The immutable structure-of-arrays ensemble every kernel reads.

All trees of a model live in one set of flat node arrays; a tree is the slice
``tree_offsets[t]:tree_offsets[t + 1]`` and child links are *global* node indices, so a
kernel walks any tree with one integer. The forest is checked once, in ``SoAForest.build``,
so that kernels can follow every index without bounds checks and never loop: after
validation every internal node's children are a sibling pair (``right = left + 1``) inside
its own tree and after it, and every non-root node has exactly one parent, which proves every
walk ends at a leaf.

Stored form — 16 bytes a node, the very arrays the kernels traverse:

- ``node_word`` (uint32): the split's *slot* in bits 0-29 (an index into ``slots``, which
  lists each feature the forest splits on, once per kind of split on it), bit 30 set for a
  category-set split, bit 31 set when a missing value goes right; 0 at leaves;
- ``split_key`` (uint32): the threshold as an order-preserving integer key (``order_keys``)
  minus the missing-goes-right bit, so that a step is one unsigned comparison
  ``key(x) - missing_right >= split_key``: missing values (key 0) wrap to the top and go right
  exactly when the bit is set; 0xFFFFFFFF (``TOP_KEY``, which no key reaches) at leaves and
  set splits, so the comparison never sends them right;
- ``left`` (uint32): the left child (the right one is ``left + 1``); a leaf points to itself;
- ``leaf_values`` (float32, one column per leaf output).

Comparing keys instead of floats saves the NaN test of every step (kernels convert each block
of rows to keys once, for the used features only; a slot of category-set splits holds
category codes instead). Leaves being fixed points, a walk is
exactly ``tree_depth[t]`` branch-free steps. The unpacked views (``split_feature``,
``threshold``, ``left_child`` with -1 at leaves, ``default_left``, ...) are derived on demand
for code that is not on the hot path. Category offsets are kept only for forests with
category sets, and source node numbers only when they are not simply each node's position in
its tree (XGBoost numbers nodes breadth-first already).

Node covers (``cover``, float32, one per node: the training weight that reached the node, XGBoost's
``sum_hessian``) are kept beside the walked arrays for TreeSHAP, which weighs the branches a
row does not take by them; prediction never reads them. A forest read from a format that
stores none has an empty ``cover`` and ``has_cover`` false.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from .errors import ModelFormatError


class Semantics(IntEnum):
    """How a node decides, chosen by the library that trained the forest."""

    XGBOOST = 0  # x < t goes left; a category in the node's set goes right; NaN follows default_left


LEAF = -1  # left_child value marking a leaf in the unpacked view
FEATURE_MASK = np.uint32(0x3FFFFFFF)  # node_word bits 0-29 (and the feature bits of a slot)
CATEGORICAL_BIT = np.uint32(1 << 30)
MISSING_RIGHT_BIT = np.uint32(1 << 31)
MAX_SLOTS = 1 << 26  # the kernels address a slot's keys as (slot << 6) in 32 bits
TOP_KEY = np.uint32(0xFFFFFFFF)  # split_key at leaves and set splits: above every data key
_NAN_SPLIT_KEY = np.uint32(1)  # a NaN threshold: every present value goes right (x < NaN is false)


def order_keys(values: np.ndarray) -> np.ndarray:
    """float32 -> uint32 keys with the same order: ``a < b`` exactly when ``key(a) < key(b)``.

    NaN maps to 0, below every other key, and finite values and infinities land in
    [0x007FFFFF, 0xFF800000]. -0.0 keeps its own key, just below +0.0's, so stored thresholds
    decode to the same bits; data is converted by the kernels with -0.0 folded onto +0.0,
    which makes -0.0 and +0.0 compare equal against either threshold, as floats do.
    """
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    keys = np.where(bits >> np.uint32(31) != 0, ~bits, bits | np.uint32(0x80000000)).astype(np.uint32)
    return np.where(np.isnan(values), np.uint32(0), keys).astype(np.uint32)


def values_of_keys(keys: np.ndarray) -> np.ndarray:
    """The inverse of ``order_keys`` for every key it produces (0 and the unused keys give NaN)."""
    keys = np.asarray(keys, dtype=np.uint32)
    bits = np.where(keys >= np.uint32(0x80000000), keys ^ np.uint32(0x80000000), ~keys).astype(np.uint32)
    values = bits.view(np.float32).copy()
    values[(keys < np.uint32(0x007FFFFF)) | (keys > np.uint32(0xFF800000))] = np.nan
    return values


@dataclass(frozen=True, eq=False)
class SoAForest:
    """Flat node arrays of all trees; see the module docstring for the layout and invariants."""

    semantics: Semantics
    node_word: np.ndarray  # uint32 [n_nodes]
    split_key: np.ndarray  # uint32 [n_nodes]; TOP_KEY at leaves and set splits
    left: np.ndarray  # uint32 [n_nodes]; a leaf's own index at leaves
    leaf_values: np.ndarray  # float32 [n_nodes, leaf_size]; meaningful at leaves only
    cat_bits: np.ndarray  # uint32 words, bit c of word c // 32 set when category c is in the set
    cat_offsets_stored: np.ndarray  # int64 [n_nodes + 1], or empty when no node tests a category set
    tree_offsets: np.ndarray  # int64 [n_trees + 1]
    tree_group: np.ndarray  # int32 [n_trees]: output the tree adds to (0 for vector-leaf trees)
    tree_depth: np.ndarray  # int32 [n_trees]: edges from the root to the deepest leaf
    node_id_stored: np.ndarray  # int32 [n_nodes], or empty when every node's number is its position
    slots: np.ndarray  # uint32 [n_slots]: feature (bits 0-29) | CATEGORICAL_BIT for set-split slots; ascending
    # float32 [n_nodes], or empty when the source stored none
    cover: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(0, dtype=np.float32)))

    @property
    def num_trees(self) -> int:
        return len(self.tree_offsets) - 1

    @property
    def num_nodes(self) -> int:
        return len(self.node_word)

    @property
    def leaf_size(self) -> int:
        return self.leaf_values.shape[1]

    @property
    def has_cover(self) -> bool:
        return len(self.cover) == self.num_nodes

    @property
    def has_categorical(self) -> bool:
        return len(self.cat_offsets_stored) > 0

    @property
    def nbytes(self) -> int:
        """Bytes of every array the forest keeps."""
        return sum(getattr(self, name).nbytes for name in self.__dataclass_fields__ if name != "semantics")

    # --- unpacked views ---------------------------------------------------------------------

    @property
    def is_leaf(self) -> np.ndarray:
        return self.left == np.arange(self.num_nodes, dtype=np.uint32)

    @property
    def split_feature(self) -> np.ndarray:
        if not len(self.slots):
            return np.zeros(self.num_nodes, dtype=np.int32)
        feature = self.slots[self.node_word & FEATURE_MASK] & FEATURE_MASK
        return np.where(self.is_leaf, 0, feature).astype(np.int32)

    @property
    def threshold(self) -> np.ndarray:
        """float32, NaN at leaves and set splits (which have no threshold)."""
        missing_right = (self.node_word >> np.uint32(31)).astype(np.uint32)
        out = np.where(self.split_key == TOP_KEY, np.float32(np.nan), values_of_keys(self.split_key + missing_right))
        out = out.astype(np.float32)
        out.flags.writeable = False
        return out

    @property
    def default_left(self) -> np.ndarray:
        return np.where(self.is_leaf, 1, (self.node_word & MISSING_RIGHT_BIT) == 0).astype(np.uint8)

    @property
    def is_categorical(self) -> np.ndarray:
        return ((self.node_word & CATEGORICAL_BIT) != 0).astype(np.uint8)

    @property
    def left_child(self) -> np.ndarray:
        return np.where(self.is_leaf, LEAF, self.left.astype(np.int64)).astype(np.int32)

    @property
    def right_child(self) -> np.ndarray:
        return np.where(self.is_leaf, LEAF, self.left.astype(np.int64) + 1).astype(np.int32)

    @property
    def cat_offsets(self) -> np.ndarray:
        if self.has_categorical:
            return self.cat_offsets_stored
        return np.zeros(self.num_nodes + 1, dtype=np.int64)

    @property
    def node_id(self) -> np.ndarray:
        """Each node's number in its source tree (what predict_leaf reports)."""
        if len(self.node_id_stored):
            return self.node_id_stored
        return (np.arange(self.num_nodes) - np.repeat(self.tree_offsets[:-1], np.diff(self.tree_offsets))).astype(
            np.int32)

    @classmethod
    def build(cls, *, source: str, num_features: int, num_outputs: int, semantics, split_feature, threshold,
              left_child, right_child, default_left, is_categorical, cat_offsets, cat_bits, leaf_values,
              tree_offsets, tree_group, node_id, cover=None) -> "SoAForest":
        """Validate unpacked node arrays (``ModelFormatError`` naming ``source``) and pack them.
        ``cover`` (one per node) is optional: without it the forest predicts but has no TreeSHAP."""
        unpacked = _Unpacked(
            split_feature=_array(split_feature, np.int64, "split_feature", source),
            threshold=_array(threshold, np.float32, "threshold", source),
            left_child=_array(left_child, np.int64, "left_child", source),
            right_child=_array(right_child, np.int64, "right_child", source),
            default_left=_array(default_left, np.uint8, "default_left", source),
            is_categorical=_array(is_categorical, np.uint8, "split_kind", source),
            cat_offsets=_array(cat_offsets, np.int64, "cat_offsets", source),
            cat_bits=_array(cat_bits, np.uint32, "cat_bits", source),
            leaf_values=_array(leaf_values, np.float32, "leaf_values", source, ndim=2),
            tree_offsets=_array(tree_offsets, np.int64, "tree_offsets", source),
            tree_group=_array(tree_group, np.int32, "tree_group", source),
            node_id=_array(node_id, np.int32, "node_id", source),
            cover=_array(np.zeros(0) if cover is None else cover, np.float32, "cover", source),
        )
        _validate(unpacked, source, num_features, num_outputs)
        return _pack(unpacked, Semantics(semantics), source)


@dataclass(frozen=True)
class _Unpacked:
    split_feature: np.ndarray
    threshold: np.ndarray
    left_child: np.ndarray
    right_child: np.ndarray
    default_left: np.ndarray
    is_categorical: np.ndarray
    cat_offsets: np.ndarray
    cat_bits: np.ndarray
    leaf_values: np.ndarray
    tree_offsets: np.ndarray
    tree_group: np.ndarray
    node_id: np.ndarray
    cover: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.split_feature)

    @property
    def num_trees(self) -> int:
        return len(self.tree_offsets) - 1


def _array(values, dtype, field: str, source, ndim: int = 1) -> np.ndarray:
    """``values`` as ``dtype``, refusing what the cast would change: integers outside the
    type's range (numpy would wrap them: 2**32 -> 0) and non-integral values for integer types."""
    out = np.asarray(values)
    if out.ndim != ndim:
        raise ModelFormatError(source, field, f"has {out.ndim} dimensions, expected {ndim}")
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and out.size and not np.can_cast(out.dtype, dtype, "safe"):
        check_integers(out, dtype, field, source)
    elif dtype.kind == "f" and out.dtype.kind not in "fiub":
        raise ModelFormatError(source, field, f"has dtype {out.dtype}, expected numbers")
    return out.astype(dtype, copy=False)


def check_integers(values: np.ndarray, dtype, field: str, source) -> None:
    """Raise ``ModelFormatError`` unless every value of ``values`` is an integer ``dtype`` holds."""
    info = np.iinfo(dtype)
    kind = values.dtype.kind
    if kind == "f":
        if not np.all(np.isfinite(values)) or np.any(values != np.trunc(values)):
            raise ModelFormatError(source, field, f"expected integers of type {np.dtype(dtype).name}")
    elif kind not in "iub":
        raise ModelFormatError(source, field, f"has dtype {values.dtype}, expected integers")
    if not values.size:
        return
    as_python = float if kind == "f" else int  # Python compares ints and floats exactly
    lo, hi = as_python(values.min()), as_python(values.max())
    if lo < info.min or hi > info.max:
        raise ModelFormatError(source, field, f"value {lo if lo < info.min else hi} lies outside the "
                                              f"{np.dtype(dtype).name} range [{info.min}, {info.max}]")


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def _pack(u: _Unpacked, semantics: Semantics, source: str) -> SoAForest:
    n = u.num_nodes
    internal = u.left_child != LEAF
    set_split = internal & (u.is_categorical != 0)
    kind = np.where(set_split, CATEGORICAL_BIT, np.uint32(0))
    slots, slot = np.unique((u.split_feature.astype(np.uint32) | kind)[internal], return_inverse=True)
    if len(slots) > MAX_SLOTS:
        raise ModelFormatError(source, "split_indices", f"the trees split on {len(slots)} (feature, kind) pairs; "
                                                        f"at most {MAX_SLOTS} are supported")
    word = np.zeros(n, dtype=np.uint32)
    word[internal] = slot.astype(np.uint32)
    word |= kind
    missing_right = internal & (u.default_left == 0)
    word |= np.where(missing_right, MISSING_RIGHT_BIT, np.uint32(0))
    keys = np.where(np.isnan(u.threshold), _NAN_SPLIT_KEY, order_keys(u.threshold)) - missing_right
    split_key = np.where(internal & ~set_split, keys, TOP_KEY).astype(np.uint32)
    local = np.arange(n) - np.repeat(u.tree_offsets[:-1], np.diff(u.tree_offsets))
    has_sets = bool(set_split.any())
    return SoAForest(
        semantics=semantics,
        node_word=_frozen(word),
        split_key=_frozen(split_key),
        left=_frozen(np.where(internal, u.left_child, np.arange(n)).astype(np.uint32)),
        leaf_values=_frozen(u.leaf_values),
        cat_bits=_frozen(u.cat_bits if has_sets else u.cat_bits[:0]),
        cat_offsets_stored=_frozen(u.cat_offsets if has_sets else u.cat_offsets[:0]),
        tree_offsets=_frozen(u.tree_offsets),
        tree_group=_frozen(u.tree_group),
        tree_depth=_frozen(_tree_depths(u)),
        node_id_stored=_frozen(u.node_id[:0] if np.array_equal(u.node_id, local) else u.node_id),
        slots=_frozen(slots.astype(np.uint32)),
        cover=_frozen(u.cover),
    )


def _tree_depths(u: _Unpacked) -> np.ndarray:
    """Deepest leaf of every tree, one vectorised pass per level (parents precede children)."""
    depth = np.zeros(u.num_nodes, dtype=np.int32)
    is_parent = u.left_child != LEAF
    roots = u.tree_offsets[:-1]
    frontier = roots[is_parent[roots]]
    level = 0
    while frontier.size:
        level += 1
        children = np.concatenate([u.left_child[frontier], u.right_child[frontier]])
        depth[children] = level
        frontier = children[is_parent[children]]
    if not u.num_trees:
        return np.zeros(0, dtype=np.int32)
    return np.maximum.reduceat(depth, u.tree_offsets[:-1]).astype(np.int32)


def _validate(f: _Unpacked, source: str, num_features: int, num_outputs: int) -> None:
    n = f.num_nodes

    def fail(field: str, problem: str):
        raise ModelFormatError(source, field, problem)

    for name in ("threshold", "left_child", "right_child", "default_left", "is_categorical", "node_id"):
        if len(getattr(f, name)) != n:
            fail(name, f"has {len(getattr(f, name))} entries, expected one per node ({n})")
    if f.leaf_values.shape[0] != n or f.leaf_values.shape[1] < 1:
        fail("leaf_values", f"has shape {f.leaf_values.shape}, expected ({n}, leaf_size >= 1)")
    if len(f.cat_offsets) != n + 1:
        fail("cat_offsets", f"has {len(f.cat_offsets)} entries, expected {n + 1}")
    if len(f.cover) not in (0, n):
        fail("cover", f"has {len(f.cover)} entries, expected one per node ({n}) or none")
    if not np.all(np.isfinite(f.cover)):
        node = int(np.flatnonzero(~np.isfinite(f.cover))[0])
        fail("cover", f"node {node} has cover {f.cover[node]}, expected a finite number")
    offsets = f.tree_offsets
    # the range first: int64 differences of values far apart wrap around and could pass for rising
    if (len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != n or offsets.min() < 0 or offsets.max() > n
            or np.any(np.diff(offsets) < 1)):
        fail("tree_offsets", f"must rise strictly from 0 to the node count {n} (every tree has a root)")
    if len(f.tree_group) != f.num_trees:
        fail("tree_group", f"has {len(f.tree_group)} entries, expected one per tree ({f.num_trees})")
    if f.num_trees and (f.tree_group.min() < 0 or f.tree_group.max() >= num_outputs):
        bad = int(f.tree_group[(f.tree_group < 0) | (f.tree_group >= num_outputs)][0])
        fail("tree_group", f"output group {bad} is out of range [0, {num_outputs})")

    tree_of_node = np.repeat(np.arange(f.num_trees), np.diff(offsets))
    node_ids = np.arange(n)
    internal = f.left_child != LEAF
    tree_end = offsets[1:][tree_of_node]
    left = f.left_child.astype(np.int64)
    bad = internal & ((left <= node_ids) | (left + 1 >= tree_end))
    bad |= internal & (f.right_child.astype(np.int64) != left + 1)
    bad |= ~internal & (f.right_child != LEAF)
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        tree = int(tree_of_node[node])
        fail(f"trees[{tree}].left_child[{node - int(offsets[tree])}]",
             "children must be a sibling pair (right = left + 1) inside the tree, after their parent, "
             "and leaves must have no children")
    children = left[internal]
    reached = np.bincount(children, minlength=n) + np.bincount(children + 1, minlength=n)
    reached[offsets[:-1]] += 1
    if np.any(reached != 1):
        node = int(np.flatnonzero(reached != 1)[0])
        tree = int(tree_of_node[node])
        fail(f"trees[{tree}]", f"node {node - int(offsets[tree])} has {int(reached[node])} parents, expected "
                               "exactly one (the root none)")
    if num_features - 1 > int(FEATURE_MASK):
        fail("num_features", f"is {num_features}; at most {int(FEATURE_MASK) + 1} features are supported")
    feats = f.split_feature[internal]
    if feats.size and (feats.min() < 0 or feats.max() >= num_features):
        node = int(np.flatnonzero(internal & ((f.split_feature < 0) | (f.split_feature >= num_features)))[0])
        tree = int(tree_of_node[node])
        fail(f"trees[{tree}].split_indices[{node - int(offsets[tree])}]",
             f"feature {int(f.split_feature[node])} is out of range [0, {num_features})")
    if (f.cat_offsets[0] != 0 or f.cat_offsets[-1] != len(f.cat_bits) or f.cat_offsets.min() < 0
            or f.cat_offsets.max() > len(f.cat_bits) or np.any(np.diff(f.cat_offsets) < 0)):  # range first, as above
        fail("cat_offsets", f"must rise from 0 to the bitset length {len(f.cat_bits)}")
    # Per-node codes the kernels branch on, and category words only where a set split reads
    # them: the categorical step looks up every node's words, so words at a leaf or a numeric
    # split could send a walk off a leaf.
    for name, codes in (("default_left", f.default_left), ("split_kind", f.is_categorical)):
        if n and codes.max() > 1:
            node = int(np.flatnonzero(codes > 1)[0])
            tree = int(tree_of_node[node])
            fail(f"trees[{tree}].{name}[{node - int(offsets[tree])}]", f"is {int(codes[node])}, expected 0 or 1")
    if np.any(~internal & (f.is_categorical != 0)):
        node = int(np.flatnonzero(~internal & (f.is_categorical != 0))[0])
        tree = int(tree_of_node[node])
        fail(f"trees[{tree}].split_kind[{node - int(offsets[tree])}]", "a leaf is marked as a categorical split")
    set_split = internal & (f.is_categorical != 0)
    bad = ~set_split & (np.diff(f.cat_offsets) != 0)
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        tree = int(tree_of_node[node])
        fail(f"trees[{tree}].cat_offsets[{node - int(offsets[tree])}]",
             f"node {node - int(offsets[tree])} is a {'numeric split' if internal[node] else 'leaf'} but carries "
             "a category set; only categorical splits may")


def _node_covers(cover, n: int, tree_sizes: np.ndarray, source) -> np.ndarray:
    cover = _array(cover, np.float32, "sum_hessian", source)
    if len(cover) != n:
        tree = int(np.searchsorted(np.cumsum(tree_sizes), len(cover), side="right")) if len(cover) < n else \
            len(tree_sizes) - 1
        raise ModelFormatError(source, f"trees[{tree}].sum_hessian",
                               f"the trees hold {len(cover)} entries in all, expected one per node ({n})")
    return cover


def assemble(
    *,
    source: str,
    semantics: Semantics,
    num_features: int,
    num_outputs: int,
    tree_sizes: np.ndarray,
    tree_group: np.ndarray,
    left_local: np.ndarray,
    right_local: np.ndarray,
    split_feature: np.ndarray,
    threshold: np.ndarray,
    default_left: np.ndarray,
    is_categorical: np.ndarray,
    cat_offsets: np.ndarray,
    cat_bits: np.ndarray,
    leaf_values: np.ndarray,
    cover: np.ndarray | None = None,
) -> SoAForest:
    """Build a forest from per-tree node arrays as a source library numbers them.

    Inputs are all trees' nodes concatenated in source order, children given as indices local
    to their tree (-1 at leaves, as in XGBoost; a leaf's right child is ignored; any other
    negative index is an error). Every tree is walked
    breadth-first from its root, all trees at once, one level per numpy step: a child index
    outside its tree, a node reached twice (a cycle or a shared child) or a walk longer than
    the tree are errors; nodes no walk reaches (pruned ones) are dropped. The result keeps
    siblings adjacent (``right_child == left_child + 1``) and remembers each node's source number.
    """
    tree_sizes = _array(tree_sizes, np.int64, "num_nodes", source)
    if np.any(tree_sizes < 1):
        tree = int(np.flatnonzero(tree_sizes < 1)[0])
        raise ModelFormatError(source, f"trees[{tree}].num_nodes", f"is {int(tree_sizes[tree])}, expected >= 1")
    starts = np.concatenate([[0], np.cumsum(tree_sizes)])
    n = int(starts[-1])
    for name, arr in (("left_children", left_local), ("right_children", right_local),
                      ("split_indices", split_feature), ("split_conditions", threshold),
                      ("default_left", default_left), ("split_type", is_categorical)):
        if len(arr) != n:
            tree = int(np.searchsorted(starts, len(arr), side="right") - 1) if len(arr) < n else len(tree_sizes) - 1
            raise ModelFormatError(source, f"trees[{tree}].{name}",
                                   f"the trees hold {len(arr)} entries in all, expected one per node ({n})")
    tree_of_node = np.repeat(np.arange(len(tree_sizes), dtype=np.int64), tree_sizes)
    left_local = _array(left_local, np.int64, "left_children", source)
    right_local = _array(right_local, np.int64, "right_children", source)
    is_categorical = _array(is_categorical, np.uint8, "split_type", source)
    internal = left_local != LEAF
    size_of_node = tree_sizes[tree_of_node]
    for name, child in (("left_children", left_local), ("right_children", right_local)):
        bad = internal & ((child < 0) | (child >= size_of_node))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            tree = int(tree_of_node[node])
            raise ModelFormatError(source, f"trees[{tree}].{name}[{node - int(starts[tree])}]",
                                   f"child index {int(child[node])} is out of range [0, {int(tree_sizes[tree])})")
    base = starts[:-1][tree_of_node]
    left_global = np.where(internal, left_local + base, -1)
    right_global = np.where(internal, right_local + base, -1)

    visits = np.zeros(n, dtype=np.int64)
    levels = []
    frontier = starts[:-1].copy()
    while frontier.size:
        visits[frontier] += 1
        if visits[frontier].max() > 1:
            node = int(frontier[visits[frontier] > 1][0])
            tree = int(tree_of_node[node])
            raise ModelFormatError(source, f"trees[{tree}]",
                                   f"node {node - int(starts[tree])} is reached twice (a cycle or a shared child)")
        levels.append(frontier)
        parents = frontier[internal[frontier]]
        frontier = np.stack([left_global[parents], right_global[parents]], axis=1).ravel()
    order = np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64)  # no trees: no levels
    order = order[np.argsort(tree_of_node[order], kind="stable")]

    new_index = np.full(n, -1, dtype=np.int64)
    new_index[order] = np.arange(len(order))
    kept_internal = internal[order]
    new_left = np.where(kept_internal, new_index[left_global[order]], LEAF)
    new_right = np.where(kept_internal, new_index[right_global[order]], LEAF)
    kept_per_tree = np.bincount(tree_of_node[order], minlength=len(tree_sizes))

    cat_offsets = _array(cat_offsets, np.int64, "categories_segments", source)
    words_per_node = np.diff(cat_offsets)[order]
    new_cat_offsets = np.concatenate([[0], np.cumsum(words_per_node)])
    word_src = np.repeat(cat_offsets[:-1][order] - new_cat_offsets[:-1], words_per_node) + np.arange(
        int(new_cat_offsets[-1]))
    is_cat = is_categorical[order]

    return SoAForest.build(
        source=source,
        num_features=num_features,
        num_outputs=num_outputs,
        semantics=semantics,
        split_feature=np.where(kept_internal, np.asarray(split_feature)[order], 0),
        threshold=np.asarray(threshold)[order],
        left_child=new_left,
        right_child=new_right,
        default_left=np.asarray(default_left)[order],
        is_categorical=np.where(kept_internal, is_cat, 0),
        cat_offsets=new_cat_offsets,
        cat_bits=np.asarray(cat_bits, dtype=np.uint32)[word_src],
        leaf_values=np.asarray(leaf_values)[order],
        tree_offsets=np.concatenate([[0], np.cumsum(kept_per_tree)]),
        tree_group=tree_group,
        node_id=order - starts[:-1][tree_of_node[order]],
        cover=None if cover is None else _node_covers(cover, n, tree_sizes, source)[order],
    )
