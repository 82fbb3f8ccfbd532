"""The binned layout of a LightGBM forest: every numeric split turned into a small-integer
comparison, so that a walk step reads an 8-byte node and a one- or two-byte key.

For each slot of the forest (``forest_lightgbm``: a feature and the way it is read), the
thresholds its nodes test, sorted and without repeats, are ``T_0 < ... < T_{m-1}``. A present
value ``x`` becomes its bin ``1 + #{T_j < x}``, so that ``x <= T_k`` exactly when
``bin < k + 2``: a node testing ``T_k`` has the split key ``k + 2`` and goes right when
``bin >= split``. A value the slot's missing type calls missing gets 0 when the node sends it
left and the top key when it sends it right, so a slot read by nodes of both directions
becomes two *binned slots* (``(slot, direction)``), the second one's keys the first one's with
0 replaced. A NaN threshold (``x <= NaN`` is false) gets split key 1. Exact by construction:
the kernels compare integers that order as the float64 comparisons LightGBM makes.

Keys are kept binned-slot-major, ``2**shift`` (a block's rows) apart. A node is one uint64,
with ``bits`` the key's width (8 or 16): its binned slot's keys' offset (slot << shift) <<
(32 + bits) | left child << bits | (2**bits - split). Adding the key carries into the child field exactly
when ``key >= split``, so ``(node + key) >> bits``, cut to 32 bits, is the next node (the right
child is ``left + 1``). A leaf is itself << bits: nothing carries out of its zero low field,
so a leaf is a fixed point of the step. The layout covers forests without category sets or
linear leaves with at most ``MAX_BINNED_SLOTS`` binned slots, whose offsets fit their field,
and fewer than 2**bits - 1 thresholds per slot; other forests use the unbinned kernels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..forest_lightgbm import KIND_NAN, KIND_SHIFT, KIND_ZERO, LightGBMForest

MAX_BINNED_SLOTS = 1 << 16
KEY_BYTES = 1 << 15  # a block's keys at most, so that they stay in the first-level cache
MAX_SHIFT, MIN_SHIFT = 10, 6  # a block's rows: from 1024 down to 64
_SLOT_MASK = np.uint32((1 << KIND_SHIFT) - 1)


class BinnedForest(NamedTuple):
    """What the binned kernels read (see the module docstring), in few arrays: a one-row call
    is mostly per-call cost, and each array argument adds to it."""

    slots: np.ndarray  # int64 [n_binned, 5]: feature, kind (KIND_NONE / ZERO / NAN), copy (1 when the
    # keys are the previous binned slot's with 0 replaced), first threshold in ``values``, thresholds
    missing: np.ndarray  # key dtype (uint8 / uint16) [n_binned]: the key of a missing value
    values: np.ndarray  # float64 [n_nodes + n_thresholds]: leaf values, then each slot's sorted thresholds
    words: np.ndarray  # uint64 [n_nodes + n_trees]: nodes, then the trees by depth as root | tree << 32
    num_nodes: int
    shift: int  # log2 of the rows of a block, the distance between two binned slots' keys


def binned(forest: LightGBMForest) -> BinnedForest | None:
    """The binned layout of ``forest``, or None where it does not apply."""
    f = forest
    if f.has_categorical or f.has_linear:
        return None
    n_slots = len(f.slots)
    internal = ~f.is_leaf
    slot = (f.node_word & _SLOT_MASK).astype(np.int64)
    right = ((f.node_word >> np.uint32(31)) & np.uint32(1)).astype(np.int64)
    kind = (f.slots >> np.uint32(KIND_SHIFT)).astype(np.int64)

    # 1. per slot, its sorted distinct thresholds (NaN left out); each node's rank among them
    numeric = internal & ~np.isnan(f.threshold)
    nodes_n = np.flatnonzero(numeric)
    thr = f.threshold[nodes_n] + 0.0  # -0.0 and 0.0 are one threshold
    order = np.lexsort((thr, slot[nodes_n]))
    s_sorted, t_sorted = slot[nodes_n][order], thr[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (s_sorted[1:] != s_sorted[:-1]) | (t_sorted[1:] != t_sorted[:-1])
    unique_id = np.cumsum(new) - 1
    thresholds = t_sorted[new]
    counts = np.bincount(s_sorted[new], minlength=n_slots)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = unique_id - starts[s_sorted]
    most = int(counts.max()) if n_slots else 0
    if most + 1 <= 0xFF:
        key_dtype = np.uint8
    elif most + 1 <= 0xFFFF:
        key_dtype = np.uint16
    else:
        return None
    bits = 8 * np.dtype(key_dtype).itemsize
    missing_code = (1 << bits) - 1

    # 2. binned slots: (slot, direction), the directions each slot's nodes use
    s_int = slot[internal]
    directed = (kind[s_int] == KIND_ZERO) | (kind[s_int] == KIND_NAN)
    direction = np.where(directed, right[internal], 0)
    used = np.zeros((n_slots, 2), dtype=bool)
    used[s_int, direction] = True
    pairs = np.argwhere(used)  # rows (slot, direction), sorted by slot then direction
    if len(pairs) > MAX_BINNED_SLOTS:
        return None
    itemsize = np.dtype(key_dtype).itemsize
    shift = MAX_SHIFT
    while shift > MIN_SHIFT and (max(len(pairs), 1) * itemsize) << shift > KEY_BYTES:
        shift -= 1
    if len(pairs) << shift >= 1 << (32 - bits):
        return None
    index = np.full((n_slots, 2), -1, dtype=np.int64)
    index[pairs[:, 0], pairs[:, 1]] = np.arange(len(pairs))
    b_slot, b_dir = pairs[:, 0], pairs[:, 1]
    copy = np.zeros(len(pairs), dtype=np.uint8)
    copy[1:] = (b_slot[1:] == b_slot[:-1])  # the second direction of a slot: same bins

    # 3. nodes: binned slot << (32 + bits) | left << bits | (1 << bits) - split; a leaf is
    # itself << bits (nothing carries out of its low field)
    split = np.ones(f.num_nodes, dtype=np.uint64)  # a NaN threshold: every present value goes right
    split[nodes_n] = rank.astype(np.uint64) + np.uint64(2)
    low = np.where(internal, np.uint64(1 << bits) - split, np.uint64(0))
    b_of_node = np.zeros(f.num_nodes, dtype=np.uint64)
    b_of_node[internal] = index[s_int, direction].astype(np.uint64) << np.uint64(shift)
    nodes = (b_of_node << np.uint64(32 + bits)) | (f.left.astype(np.uint64) << np.uint64(bits)) | low
    first = f.num_nodes + np.concatenate([[0], np.cumsum(counts[b_slot])[:-1]]).astype(np.int64)
    runs = [thresholds[starts[s]:starts[s + 1]] for s in b_slot]
    roots = f.tree_offsets[:-1].astype(np.uint64)
    by_depth = np.argsort(f.tree_depth, kind="stable").astype(np.uint64)
    return BinnedForest(
        slots=np.stack([(f.slots[b_slot] & _SLOT_MASK).astype(np.int64), kind[b_slot], copy.astype(np.int64),
                        first[:len(pairs)], counts[b_slot].astype(np.int64)], axis=1).reshape(len(pairs), 5),
        missing=np.where(b_dir == 1, missing_code, 0).astype(key_dtype),
        values=np.concatenate([f.leaf_value, *runs]).astype(np.float64),
        words=np.concatenate([nodes, roots[by_depth] | (by_depth << np.uint64(32))]).astype(np.uint64),
        num_nodes=f.num_nodes,
        shift=shift,
    )
