"""What the kernels need besides the forest's own node arrays: per-tree roots and weights.

The forest already stores nodes in the form the kernels walk (see ``forest``), so a walk
layout holds views of those arrays plus two small per-tree arrays; building one copies no
node data. Forests without category sets pass an empty uint8 bitset, which selects the
kernels' branch-free numeric step at compile time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..forest import SoAForest


@dataclass(frozen=True, eq=False)
class WalkLayout:
    vector_leaf: bool  # leaves hold one value per output
    # Model arguments of the kernels, in their order, built once per booster:
    margin_args: tuple  # (slots, node_word, split_key, left, leaf, tree_root, tree_depth, tree_group,
    #                     tree_weight, cat_offsets, cat_bits)
    walk_args: tuple  # vector-leaf kernels: margin_args without tree_group and tree_weight
    leaf_args: tuple  # leaf-index kernels: walk_args without leaf, plus the source node numbers


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
    return WalkLayout(
        vector_leaf=f.leaf_size > 1,
        margin_args=(f.slots, f.node_word, f.split_key, f.left, leaf, tree_root, f.tree_depth, f.tree_group,
                     tree_weight, cat_offsets, cat_bits),
        walk_args=(f.slots, f.node_word, f.split_key, f.left, leaf, tree_root, f.tree_depth, cat_offsets,
                   cat_bits),
        leaf_args=(f.slots, f.node_word, f.split_key, f.left, tree_root, f.tree_depth, cat_offsets,
                   cat_bits, f.node_id),
    )
