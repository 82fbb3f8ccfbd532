"""``Oblivious``: CatBoost's symmetric trees, where every node of a level asks the same question.

A tree is ``depth`` split ids into one table of binary features, and ``2**depth`` leaves; split
``d`` of a tree sets bit ``d`` of the leaf index (the first split is the lowest bit). Each feature
the trees read (a "slot") is turned into a small integer bin once per row: a float feature's bin
is the number of its sorted borders strictly below the value (CatBoost's ``x > border``); a
one-hot categorical feature's bin is 1 + the position of the value's hash among the hashes the
model splits on, or 0. A binary feature is then "slot's bin - lo < span" (unsigned): span 65536
for a float border (bin > border index), span 1 for a one-hot value (bin == its code), so a tree
costs ``depth`` small-integer comparisons whatever its split kinds.

Non-symmetric trees (CatBoost's Depthwise and Lossguide growth) use the same split table and
bins; a tree is then a list of nodes, root first, each with a split id, a left and a right child
(a later node of the same tree, by its index among all nodes, or -1: the walk stops here) and
the leaf it holds where a walk stops. Children only point forward, so no walk can loop.
``node_leaf`` is empty for symmetric trees.

Built once by ``Oblivious.build``, which checks every index the kernels follow; then read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ModelFormatError

MAX_BORDERS = 65535  # bins are uint16; CatBoost itself allows at most 65535 borders per feature
MAX_DEPTH = 16  # CatBoost's limit for symmetric trees


CTR_TYPES = ("Borders", "Buckets", "BinarizedTargetMeanValue", "FloatTargetMeanValue", "Counter", "FeatureFreq")


@dataclass(frozen=True, eq=False)
class Ctr:
    """One CatBoost CTR feature: a statistic of the rows' category combination, looked up by the
    combination's hash in a table the model carries, then compared with borders like a float
    feature (its slot reads input column ``num_features + its position``)."""

    cat_columns: tuple  # input columns of the categorical features hashed, in order
    float_splits: tuple  # (input column, float32 border, NaN is true): x > border, hashed as 0/1
    one_hot_splits: tuple  # (input column, int32 hash): hash == value, hashed as 0/1
    kind: str  # one of CTR_TYPES
    prior_numerator: np.float32
    prior_denominator: np.float32
    shift: np.float32
    scale: np.float32
    target_border: int
    hashes: np.ndarray  # uint64 [entries], ascending
    counts: np.ndarray  # float64 [entries, stride - 1]: class counts, or (target sum, count)
    denominator: int  # counter_denominator (Counter / FeatureFreq)


def _frozen(a: np.ndarray, dtype) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype).copy()
    a.flags.writeable = False
    return a


_EMPTY = _frozen(np.zeros(0), np.int32)
_NO_WEIGHTS = _frozen(np.zeros(0), np.float64)


@dataclass(frozen=True, eq=False)
class Oblivious:
    # float features read by the trees, one "slot" each
    slot_column: np.ndarray  # int32 [slots]: input column of each slot
    borders: np.ndarray  # float32 [sum of borders], each slot's strictly ascending
    border_offsets: np.ndarray  # int64 [slots + 1]
    nan_bin: np.ndarray  # uint16 [slots]: the bin of a NaN (0, or the border count for CatBoost's AsTrue)
    # one-hot categorical features, slots after the float ones
    cat_column: np.ndarray  # int32 [cat slots]: input column of each
    cat_values: np.ndarray  # int32 [sum of values]: the category hashes split on (as CatBoost stores them)
    cat_offsets: np.ndarray  # int64 [cat slots + 1]
    # binary features: split id -> (slot, lo, span); true iff 0 <= bin - lo < span
    split_slot: np.ndarray  # int32 [splits]
    split_lo: np.ndarray  # int32 [splits]
    split_span: np.ndarray  # int32 [splits]
    # trees
    tree_splits: np.ndarray  # int32 [sum of depths]: split ids, in depth order
    tree_offsets: np.ndarray  # int64 [trees + 1] into tree_splits
    leaf_offsets: np.ndarray  # int64 [trees + 1] into leaf_values (already times num_outputs)
    leaf_values: np.ndarray  # float64 [sum of 2**depth * num_outputs], leaf-major
    num_outputs: int
    scale: float
    bias: np.ndarray  # float64 [num_outputs]
    ctrs: tuple = ()  # Ctr per CTR slot; their slots come after the float features' ones
    # non-symmetric trees (empty for symmetric ones): tree_splits then holds each node's split id
    # (0 for a node both of whose children are -1), tree_offsets each tree's first node and
    # leaf_offsets each tree's first leaf value
    node_left: np.ndarray = field(default_factory=lambda: _EMPTY)  # int32 [nodes]: next node when false, or -1
    node_right: np.ndarray = field(default_factory=lambda: _EMPTY)  # int32 [nodes]: next node when true, or -1
    node_leaf: np.ndarray = field(default_factory=lambda: _EMPTY)  # int32 [nodes]: leaf within the tree, or -1
    # CatBoost's LeafWeights: the training weight that reached each leaf (float64 [leaves], tree
    # after tree, as the leaves of leaf_values), TreeSHAP's covers; empty when the file holds none.
    # Never read by a walk.
    leaf_weights: np.ndarray = field(default_factory=lambda: _NO_WEIGHTS)

    @property
    def has_leaf_weights(self) -> bool:
        return len(self.leaf_weights) == len(self.leaf_values) // self.num_outputs

    @property
    def symmetric(self) -> bool:
        return len(self.node_leaf) == 0

    @property
    def num_trees(self) -> int:
        return len(self.tree_offsets) - 1

    @property
    def num_iterations(self) -> int:
        return self.num_trees  # one tree per boosting round, its leaves holding every output

    @property
    def iteration_indptr(self) -> np.ndarray:
        return np.arange(self.num_trees + 1, dtype=np.int64)

    @classmethod
    def build(cls, *, slot_column, borders_per_slot, nan_as_true, cat_column, values_per_cat, split_slot,
              split_index, tree_splits, tree_depths, leaf_values, num_outputs: int, num_columns: int,
              scale: float, bias, ctrs: tuple = (), node_left=None, node_right=None, node_leaf=None,
              tree_leaves=None, leaf_weights=None, source: str | None = None) -> "Oblivious":
        """Check and freeze. ``borders_per_slot`` is a list of float32 arrays, ``values_per_cat`` of
        int32 hash arrays; a split is (slot, index of its border or value in that slot), slots
        numbered floats first; ``tree_depths`` the number of splits of each tree; ``leaf_values``
        flat, tree after tree.

        Non-symmetric trees: ``node_left``, ``node_right`` and ``node_leaf`` per node (children as
        node indexes within the tree, leaves as leaf indexes within the tree), ``tree_depths`` the
        number of nodes of each tree, ``tree_splits`` each node's split id, ``tree_leaves`` the
        number of leaves of each tree. ``leaf_weights`` (optional): one finite, non-negative
        training weight per leaf, in the order of the leaves."""
        def fail(field, problem):
            raise ModelFormatError(source, field, problem)

        if not 1 <= num_outputs <= 1 << 16:
            fail("approx_dimension", f"is {num_outputs}, expected 1 to 65536 outputs")
        slot_column = np.asarray(slot_column, dtype=np.int64)
        slots = len(slot_column)
        if len(borders_per_slot) != slots or len(nan_as_true) != slots:
            fail("float_features", "borders and NaN treatments do not match the features")
        if slots and (slot_column.min() < 0 or slot_column.max() >= num_columns + len(ctrs)):
            fail("float_features/flat_feature_index", f"a column lies outside the model's {num_columns} features")
        nan_bin = np.zeros(slots, dtype=np.uint16)
        for s, b in enumerate(borders_per_slot):
            if len(b) > MAX_BORDERS:
                fail(f"float_features[{s}]/borders", f"has {len(b)} borders, more than {MAX_BORDERS}")
            if np.isnan(b).any() or (len(b) > 1 and not np.all(b[1:] > b[:-1])):
                fail(f"float_features[{s}]/borders", "are not strictly ascending numbers")
            if nan_as_true[s]:
                nan_bin[s] = len(b)
        border_counts = np.array([len(b) for b in borders_per_slot], dtype=np.int64)
        border_offsets = np.concatenate([[0], np.cumsum(border_counts)]).astype(np.int64)
        borders = (np.concatenate(borders_per_slot) if slots else np.zeros(0)).astype(np.float32)

        cat_column = np.asarray(cat_column, dtype=np.int64)
        if len(values_per_cat) != len(cat_column):
            fail("one_hot_features", "value lists do not match the categorical features")
        if len(cat_column) and (cat_column.min() < 0 or cat_column.max() >= num_columns):
            fail("categorical_features/flat_feature_index",
                 f"a column lies outside the model's {num_columns} features")
        for c, v in enumerate(values_per_cat):
            if len(v) > MAX_BORDERS or len(np.unique(v)) != len(v):
                fail(f"one_hot_features[{c}]/values", f"hold {len(v)} values, repeated or more than {MAX_BORDERS}")
        value_counts = np.array([len(v) for v in values_per_cat], dtype=np.int64)
        cat_offsets = np.concatenate([[0], np.cumsum(value_counts)]).astype(np.int64)
        cat_values = (np.concatenate(values_per_cat) if len(values_per_cat) else np.zeros(0)).astype(np.int32)

        counts = np.concatenate([border_counts, value_counts])
        split_slot = np.asarray(split_slot, dtype=np.int64)
        split_index = np.asarray(split_index, dtype=np.int64)
        if len(split_slot) != len(split_index):
            fail("splits", "slot and index tables differ in length")
        if len(split_slot) and (split_slot.min() < 0 or split_slot.max() >= len(counts)):
            fail("splits", f"a split refers to a feature outside the model's {len(counts)} used features")
        if len(split_slot) and (split_index.min() < 0 or np.any(split_index >= counts[split_slot])):
            fail("splits", "a split refers to a border or value its feature does not have")
        split_span = np.where(split_slot < slots, 1 << 16, 1)

        depths = np.asarray(tree_depths, dtype=np.int64)
        if node_leaf is None and len(depths) and (depths.min() < 0 or depths.max() > MAX_DEPTH):
            fail("tree_sizes", f"a tree depth lies outside 0..{MAX_DEPTH}")
        tree_offsets = np.concatenate([[0], np.cumsum(depths)]).astype(np.int64)
        tree_splits = np.asarray(tree_splits, dtype=np.int64)
        if len(tree_splits) != tree_offsets[-1]:
            fail("tree_splits", f"holds {len(tree_splits)} splits; the tree sizes add up to {tree_offsets[-1]}")
        nodes = () if node_leaf is None else _check_nodes(fail, depths, tree_offsets, tree_splits, node_left,
                                                          node_right, node_leaf, tree_leaves)
        if nodes:
            tree_splits, leaves_per_tree = nodes[0], nodes[4]
        else:
            leaves_per_tree = 1 << depths
        tested = tree_splits[(nodes[1] != -1) | (nodes[2] != -1)] if nodes else tree_splits
        if len(tested) and (tested.min() < 0 or tested.max() >= len(split_slot)):
            fail("tree_splits", f"a split id lies outside the model's {len(split_slot)} binary features")
        leaf_offsets = np.concatenate([[0], np.cumsum(leaves_per_tree * num_outputs)]).astype(np.int64)
        leaf_values = np.asarray(leaf_values, dtype=np.float64)
        if len(leaf_values) != leaf_offsets[-1]:
            fail("leaf_values", f"holds {len(leaf_values)} values; the trees need {leaf_offsets[-1]} "
                                f"({'their' if nodes else '2**depth'} leaves x {num_outputs} outputs each)")
        bias = np.asarray(bias, dtype=np.float64).reshape(-1)
        if len(bias) == 1 and num_outputs > 1:
            bias = np.repeat(bias, num_outputs)
        if len(bias) != num_outputs:
            fail("scale_and_bias", f"has {len(bias)} biases for {num_outputs} outputs")
        if not np.isfinite(scale) or not np.all(np.isfinite(bias)):
            fail("scale_and_bias", "scale and bias must be finite numbers")
        for k, ctr in enumerate(ctrs):
            _check_ctr(ctr, f"ctrs[{k}]", num_columns, fail)
        weights = _NO_WEIGHTS if leaf_weights is None else np.asarray(leaf_weights, dtype=np.float64).reshape(-1)
        if leaf_weights is not None:
            leaves = int(leaf_offsets[-1]) // num_outputs
            if len(weights) != leaves:
                fail("leaf_weights", f"holds {len(weights)} weights; the trees have {leaves} leaves")
            if not np.all(np.isfinite(weights)) or np.any(weights < 0):
                at = int(np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))[0])
                fail(f"leaf_weights[{at}]", f"is {weights[at]}, expected a finite weight >= 0")
        return cls(_frozen(slot_column, np.int32), _frozen(borders, np.float32), _frozen(border_offsets, np.int64),
                   _frozen(nan_bin, np.uint16), _frozen(cat_column, np.int32), _frozen(cat_values, np.int32),
                   _frozen(cat_offsets, np.int64), _frozen(split_slot, np.int32), _frozen(split_index + 1, np.int32),
                   _frozen(split_span, np.int32),
                   _frozen(tree_splits, np.int32), _frozen(tree_offsets, np.int64),
                   _frozen(leaf_offsets, np.int64), _frozen(leaf_values, np.float64), int(num_outputs),
                   float(scale), _frozen(bias, np.float64), tuple(ctrs),
                   *(_frozen(a, np.int32) for a in nodes[1:4]), leaf_weights=_frozen(weights, np.float64))


def _check_nodes(fail, sizes, offsets, splits, left, right, leaf, tree_leaves) -> tuple:
    """Non-symmetric trees checked: every child a later node of the same tree (so every walk ends),
    a leaf wherever a walk can stop, that leaf one of the tree's. Returns (split ids, with 0 at
    nodes that end every walk; left; right; leaf, -1 where no walk stops; leaves per tree)."""
    if left is None or right is None or tree_leaves is None:
        fail("tree_nodes", "non-symmetric trees need children and leaf counts beside their leaves")
    left, right, leaf = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (left, right, leaf))
    tree_leaves = np.asarray(tree_leaves, dtype=np.int64).reshape(-1)
    n, trees = len(splits), len(sizes)
    if len(left) != n or len(right) != n or len(leaf) != n:
        fail("tree_nodes", f"children and leaves are given for {len(left)}, {len(right)} and {len(leaf)} nodes; "
                           f"the trees have {n}")
    if len(tree_leaves) != trees:
        fail("tree_leaves", f"gives leaf counts for {len(tree_leaves)} trees; the model has {trees}")
    if trees and (sizes.min() < 1 or tree_leaves.min() < 1 or tree_leaves.max() > 1 << 24):
        fail("tree_sizes", "a non-symmetric tree has no node, no leaf, or more than 2**24 leaves")
    tree = np.repeat(np.arange(trees), sizes)
    local = np.arange(n) - offsets[:-1][tree]  # node index within its tree
    for name, child in (("left", left), ("right", right)):
        walked = child != -1
        if np.any(walked & (child <= local)):
            at = int(np.flatnonzero(walked & (child <= local))[0])
            fail(f"tree_nodes[{at}]/{name}", f"is {int(child[at])}, not a later node of its tree: a walk could "
                                             "cycle")
        if np.any(walked & (child >= sizes[tree])):
            at = int(np.flatnonzero(walked & (child >= sizes[tree]))[0])
            fail(f"tree_nodes[{at}]/{name}", f"is {int(child[at])}, outside its tree's {int(sizes[tree[at]])} nodes")
    stops = (left == -1) | (right == -1)
    bad = stops & ((leaf < 0) | (leaf >= tree_leaves[tree]))
    if np.any(bad):
        at = int(np.flatnonzero(bad)[0])
        fail(f"tree_nodes[{at}]/leaf", f"is {int(leaf[at])}; a walk can stop at this node, so it must be one of "
                                       f"its tree's {int(tree_leaves[tree[at]])} leaves")
    final = (left == -1) & (right == -1)
    return (np.where(final, 0, splits), left + offsets[:-1][tree] * (left != -1),
            right + offsets[:-1][tree] * (right != -1), np.where(stops, leaf, -1), tree_leaves)



def _check_ctr(ctr: Ctr, where: str, num_columns: int, fail) -> None:
    """Every column a CTR hashes lies in the input, its table is sorted (it is binary-searched)
    and its count rows hold the columns its kind reads."""
    if ctr.kind not in CTR_TYPES:
        fail(f"{where}/kind", f"is {ctr.kind!r}; known: {', '.join(CTR_TYPES)}")
    if not ctr.cat_columns:
        fail(f"{where}/elements", "names no categorical feature")
    columns = list(ctr.cat_columns) + [c for c, *_ in ctr.float_splits] + [c for c, _ in ctr.one_hot_splits]
    if any(not 0 <= int(c) < num_columns for c in columns):
        fail(f"{where}/elements", f"a column lies outside the model's {num_columns} features")
    for name in ("prior_numerator", "prior_denominator", "shift", "scale"):
        if not np.isfinite(getattr(ctr, name)):
            fail(f"{where}/{name}", "is not a finite number")
    if any(not np.isfinite(b) for _, b, *_ in ctr.float_splits):
        fail(f"{where}/elements", "a float element's border is not a finite number")
    hashes, counts = ctr.hashes, ctr.counts
    if hashes.dtype != np.uint64 or hashes.ndim != 1 or (len(hashes) > 1 and not np.all(hashes[1:] > hashes[:-1])):
        fail(f"{where}/hashes", "are not strictly ascending 64-bit hashes")
    if counts.dtype.kind not in "fiu" or counts.ndim != 2 or len(counts) != len(hashes):
        fail(f"{where}/counts", f"expected one row of counts per hash ({len(hashes)})")
    width, tb = counts.shape[1], ctr.target_border
    needed = {"Borders": 2, "Buckets": tb + 1, "Counter": 1, "FeatureFreq": 1}.get(ctr.kind, 2)
    if width < needed or tb < 0 or (ctr.kind in ("Borders", "Buckets") and tb >= width):
        fail(f"{where}/counts", f"rows of {width} counts do not fit a {ctr.kind} CTR with target border {tb}")
