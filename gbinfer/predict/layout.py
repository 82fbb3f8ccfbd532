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
    forest: SoAForest
    leaf: np.ndarray  # float32 [n_nodes] (a view) for scalar leaves, [n_nodes, k] for vector leaves
    tree_root: np.ndarray  # uint32 [n_trees]
    tree_weight: np.ndarray  # float32 [n_trees]: 1, or the DART weight
    cat_offsets: np.ndarray  # int64 [n_nodes + 1], or empty
    cat_bits: np.ndarray  # uint32 words plus a zero padding word, or an empty uint8 array for forests
    # without category sets

    @property
    def margin_args(self) -> tuple:
        """Model arguments of the scalar-leaf margin kernels, in their order."""
        f = self.forest
        return (f.node_word, f.threshold, f.left, self.leaf, self.tree_root, f.tree_depth, f.tree_group,
                self.tree_weight, self.cat_offsets, self.cat_bits)

    @property
    def walk_args(self) -> tuple:
        """Model arguments of the vector-leaf margin kernels and, without ``leaf``, of the leaf-index ones."""
        f = self.forest
        return (f.node_word, f.threshold, f.left, self.leaf, self.tree_root, f.tree_depth, self.cat_offsets,
                self.cat_bits)


def build_layout(forest: SoAForest, tree_weight: np.ndarray) -> WalkLayout:
    leaf = forest.leaf_values[:, 0] if forest.leaf_size == 1 else forest.leaf_values  # contiguous either way
    categorical = forest.has_categorical
    return WalkLayout(
        forest=forest,
        leaf=leaf,
        tree_root=forest.tree_offsets[:-1].astype(np.uint32),
        tree_weight=np.ascontiguousarray(tree_weight, dtype=np.float32),
        cat_offsets=forest.cat_offsets_stored if categorical else np.zeros(1, dtype=np.int64),
        # one zero word past the end: where a code outside its node's set reads, without a branch
        cat_bits=np.append(forest.cat_bits, np.uint32(0)) if categorical else np.zeros(0, dtype=np.uint8),
    )
