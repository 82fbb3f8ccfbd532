"""The walk layout: the form of a forest the kernels traverse, derived once per booster.

Four arrays of 4 bytes per node (16 bytes a node in all):

- ``node_word`` (uint32): the split feature in bits 0-29, bit 30 set for a category-set
  split, bit 31 set when a missing value goes right;
- ``threshold`` (float32): NaN at leaves, so no comparison ever moves a walk off a leaf;
- ``left`` (uint32): the left child (the right one is ``left + 1``); a leaf points to itself;
- ``leaf`` (float32): the leaf value (scalar-leaf forests; vector leaves keep their matrix).

Because leaves are fixed points, a walk is exactly ``depth[tree]`` branch-free steps, which
lets the kernels advance several rows at once without mispredicted branches. Indices are
unsigned so compiled indexing needs no negative-index handling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelFormatError
from ..forest import LEAF, SoAForest

FEATURE_MASK = np.uint32(0x3FFFFFFF)
CATEGORICAL_BIT = np.uint32(1 << 30)
MISSING_RIGHT_BIT = np.uint32(1 << 31)


@dataclass(frozen=True, eq=False)
class WalkLayout:
    node_word: np.ndarray  # uint32 [n_nodes]
    threshold: np.ndarray  # float32 [n_nodes]
    left: np.ndarray  # uint32 [n_nodes]
    leaf: np.ndarray  # float32 [n_nodes] or [n_nodes, k] for vector leaves
    tree_root: np.ndarray  # uint32 [n_trees]
    tree_depth: np.ndarray  # int32 [n_trees]
    tree_group: np.ndarray  # int32 [n_trees]
    tree_weight: np.ndarray  # float32 [n_trees]: 1, or the DART weight
    cat_offsets: np.ndarray  # int64 [n_nodes + 1]
    cat_bits: np.ndarray  # uint32 words; an empty uint8 array for forests without category sets,
    # which selects the kernels' branch-free numeric step at compile time

    @property
    def margin_args(self) -> tuple:
        """Model arguments of the scalar-leaf margin kernels, in their order."""
        return (self.node_word, self.threshold, self.left, self.leaf, self.tree_root, self.tree_depth,
                self.tree_group, self.tree_weight, self.cat_offsets, self.cat_bits)

    @property
    def walk_args(self) -> tuple:
        """Model arguments of the vector-leaf margin kernels and, without ``leaf``, of the leaf-index ones."""
        return (self.node_word, self.threshold, self.left, self.leaf, self.tree_root, self.tree_depth,
                self.cat_offsets, self.cat_bits)

    @property
    def nbytes_per_node(self) -> float:
        per_node = self.node_word.nbytes + self.threshold.nbytes + self.left.nbytes + self.leaf.nbytes
        return per_node / len(self.node_word)


def build_layout(forest: SoAForest, tree_weight: np.ndarray) -> WalkLayout:
    n = forest.num_nodes
    is_leaf = forest.left_child == LEAF
    if n and int(forest.split_feature.max(initial=0)) > int(FEATURE_MASK):
        raise ModelFormatError(None, "split_feature", f"feature indices above {int(FEATURE_MASK)} are not supported")
    word = np.where(is_leaf, 0, forest.split_feature).astype(np.uint32)
    word |= np.where(~is_leaf & (forest.is_categorical != 0), CATEGORICAL_BIT, np.uint32(0))
    word |= np.where(~is_leaf & (forest.default_left == 0), MISSING_RIGHT_BIT, np.uint32(0))
    leaf = forest.leaf_values
    leaf = np.ascontiguousarray(leaf[:, 0]) if forest.leaf_size == 1 else leaf
    return WalkLayout(
        node_word=word,
        threshold=np.where(is_leaf, np.float32(np.nan), forest.threshold).astype(np.float32),
        left=np.where(is_leaf, np.arange(n), forest.left_child).astype(np.uint32),
        leaf=leaf,
        tree_root=forest.tree_offsets[:-1].astype(np.uint32),
        tree_depth=forest.tree_depths().astype(np.int32),
        tree_group=forest.tree_group,
        tree_weight=np.ascontiguousarray(tree_weight, dtype=np.float32),
        cat_offsets=forest.cat_offsets,
        cat_bits=forest.cat_bits if forest.has_categorical else np.zeros(0, dtype=np.uint8),
    )
