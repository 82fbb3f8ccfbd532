"""What the kernels need besides the forest's own node arrays: per-tree roots and weights,
and for sparse rows the slot of each feature.

The forest already stores nodes in the form the kernels walk (see ``forest``), so a walk
layout holds views of those arrays plus small per-tree and per-feature arrays; building one
copies no node data. Forests without category sets pass an empty uint8 bitset, which selects the
kernels' branch-free numeric step at compile time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..forest import CATEGORICAL_BIT, FEATURE_MASK, SoAForest


@dataclass(frozen=True, eq=False)
class WalkLayout:
    vector_leaf: bool  # leaves hold one value per output
    # Model arguments of the kernels, in their order, built once per booster:
    margin_args: tuple  # (slots, node_word, split_key, left, leaf, tree_root, tree_depth, tree_group,
    #                     tree_weight, cat_offsets, cat_bits)
    walk_args: tuple  # vector-leaf kernels: margin_args without tree_group and tree_weight
    leaf_args: tuple  # leaf-index kernels: walk_args without leaf, plus the source node numbers
    # Sparse rows scatter their stored entries into slots through these (int32, -1: no such slot),
    # indexed by feature up to the largest one the forest splits on:
    numeric_slot: np.ndarray  # slot of the feature's numeric splits
    set_slot: np.ndarray  # slot of the feature's category-set splits


def build_layout(forest: SoAForest, tree_weight: np.ndarray) -> WalkLayout:
    f = forest
    leaf = f.leaf_values[:, 0] if f.leaf_size == 1 else f.leaf_values  # contiguous either way
    tree_root = f.tree_offsets[:-1].astype(np.uint32)
    tree_weight = np.ascontiguousarray(tree_weight, dtype=np.float32)
    if f.has_categorical:
        cat_offsets = f.cat_offsets_stored
        cat_bits = np.append(f.cat_bits, np.uint32(0))  # a zero word where out-of-set codes read
    else:
        cat_offsets = np.zeros(1, dtype=np.int64)
        cat_bits = np.zeros(0, dtype=np.uint8)  # selects the branch-free numeric step
    numeric_slot, set_slot = feature_slots(f.slots)
    return WalkLayout(
        vector_leaf=f.leaf_size > 1,
        numeric_slot=numeric_slot,
        set_slot=set_slot,
        margin_args=(f.slots, f.node_word, f.split_key, f.left, leaf, tree_root, f.tree_depth, f.tree_group,
                     tree_weight, cat_offsets, cat_bits),
        walk_args=(f.slots, f.node_word, f.split_key, f.left, leaf, tree_root, f.tree_depth, cat_offsets,
                   cat_bits),
        leaf_args=(f.slots, f.node_word, f.split_key, f.left, tree_root, f.tree_depth, cat_offsets,
                   cat_bits, f.node_id),
    )


def feature_slots(slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature -> slot tables: (numeric slot, category-set slot) of every feature up to the
    largest one in ``slots``, -1 where the forest has no such slot."""
    features = (slots & FEATURE_MASK).astype(np.int64)
    width = int(features.max()) + 1 if len(slots) else 0
    is_set = (slots & CATEGORICAL_BIT) != 0
    numeric_slot = np.full(width, -1, dtype=np.int32)
    set_slot = np.full(width, -1, dtype=np.int32)
    numeric_slot[features[~is_set]] = np.flatnonzero(~is_set)
    set_slot[features[is_set]] = np.flatnonzero(is_set)
    return numeric_slot, set_slot
