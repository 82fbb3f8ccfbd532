"""An independent reader and evaluator of CatBoost models saved in gbinfer's schema (``catboost``
semantics: ``oblivious`` layout, symmetric trees, or ``nonsymmetric``, Depthwise and Lossguide
trees), for the fuzz oracle.

Nothing here imports gbinfer. Categories are hashed through a table of CatBoost's own hashes
(``HASHES``: taken from a model catboost 1.2.10 exported as Python with its pool, which lists
``cat_features_hashes``), so inputs use only those values. Per row and tree: each level's binary
feature (``x > border`` on a float32 value, NaN true only where the slot says so; a one-hot
category's hash equal to the split's value; a CTR's value against its borders), the leaf at the
bits' index (symmetric) or where the walk from the root stops (a -1 child: the node's leaf), its
values added in float64 in tree order, then ``scale`` and ``bias``. A CTR value
is CatBoost's model formula in float32: the combination's 64-bit hash (``M * (h + M * v)``,
wrapping) looked up in the table, ``(good + prior_num) / (total + prior_den)``, then
``(v + shift) * scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:
    from .reference import Invalid, need
except ImportError:
    from reference import Invalid, need  # noqa: F401

F32 = np.float32
MASK = (1 << 64) - 1
M = 0x4906BA494954CB65
KINDS = ("Borders", "Buckets", "BinarizedTargetMeanValue", "FloatTargetMeanValue", "Counter", "FeatureFreq")
HASHES = {"red": -1242798403, "green": 1390465085, "blue": -863087293, "yellow": 402978635, "violet": 13394190,
          "unseen": 56509222, "lo": -1385231821, "hi": 1894027813, "": 797982799, "0": -1438285038,
          "1": 1121341681, "2": -1284790409, "3": 593172586, "4": -78686594, "5": -1280163355, "6": 504640797,
          "7": -17943309, "8": -19993034, "9": -1829579975, "10": -1337848602, "11": -1558562249,
          "200": 117479722, "-1": 288298918}
STRINGS = ["red", "green", "blue", "yellow", "violet", "unseen", "lo", "hi", ""]
INTEGERS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 200, -1]


@dataclass
class Ctr:
    cats: list
    floats: list  # (column, float32 border, nan is true)
    one_hot: list  # (column, int32 value)
    kind: str
    prior_num: F32
    prior_den: F32
    shift: F32
    scale: F32
    target_border: int
    table: dict  # uint64 hash -> float64 counts (1-D array)
    denominator: int


@dataclass
class CbModel:
    num_features: int
    num_outputs: int
    slot_column: list  # float slots (CTR k reads column num_features + k)
    borders: list  # per float slot: float32 list
    nan_true: list
    onehot_column: list
    onehot_values: list  # per one-hot slot: int list
    binary: list  # (slot, index)
    trees: list  # per tree: binary ids in depth order (symmetric), or (split, left, right, leaf) per node
    leaves: list  # per tree: float64 array [leaves, outputs]
    scale: float
    bias: np.ndarray
    ctrs: list

    def uses(self) -> tuple[set, set]:
        """Input columns read as floats, and as categories."""
        floats = {c for c in self.slot_column if c < self.num_features}
        floats |= {c for ctr in self.ctrs for c, _, _ in ctr.floats}
        cats = set(self.onehot_column) | {c for ctr in self.ctrs for c in ctr.cats} | {
            c for ctr in self.ctrs for c, _ in ctr.one_hot}
        return floats, cats


def _ranges(offsets, total: int, count: int, name: str) -> list:
    offsets = [int(x) for x in offsets]
    need(len(offsets) == count + 1 and offsets[0] == 0 and offsets[-1] == total
         and all(x <= y for x, y in zip(offsets, offsets[1:])), f"catboost: {name}")
    return list(zip(offsets, offsets[1:]))


def from_schema(doc: dict, booster: dict, arr, nf: int, k: int, present=frozenset()) -> CbModel:
    layout = booster.get("layout")
    need(booster.get("kind") == "gbtree" and layout in ("oblivious", "nonsymmetric"), "catboost: booster")
    need(booster.get("leaf_size") == k and not np.any(arr("base_score", (k,)) != 0), "catboost: leaves/base")
    col = [int(x) for x in arr("float_column").reshape(-1)]
    borders_flat = arr("float_borders").reshape(-1).astype(np.float32)
    br = _ranges(arr("float_border_offsets").reshape(-1), len(borders_flat), len(col), "border offsets")
    borders = [borders_flat[a:b].tolist() for a, b in br]
    need(all(len(b) < 2 or all(x < y for x, y in zip(b, b[1:])) for b in borders), "catboost: borders order")
    nan_true = [bool(x) for x in arr("float_nan_as_true").reshape(-1)]
    need(len(nan_true) == len(col) and all(int(x) in (0, 1) for x in arr("float_nan_as_true").reshape(-1)),
         "catboost: nan flags")
    oh_col = [int(x) for x in arr("onehot_column").reshape(-1)]
    oh_flat = [int(x) for x in arr("onehot_values").reshape(-1)]
    oh = [oh_flat[a:b] for a, b in _ranges(arr("onehot_offsets").reshape(-1), len(oh_flat), len(oh_col), "onehot")]
    need(all(0 <= c < nf for c in oh_col), "catboost: one-hot column")
    slot, index = arr("binary_slot").reshape(-1).tolist(), arr("binary_index").reshape(-1).tolist()
    need(len(slot) == len(index), "catboost: binary features")
    sizes = [len(b) for b in borders] + [len(v) for v in oh]
    need(all(0 <= s < len(sizes) and 0 <= i < sizes[s] for s, i in zip(slot, index)), "catboost: binary index")
    splits = [int(x) for x in arr("tree_splits").reshape(-1)]
    leaf_values = arr("leaf_values").astype(np.float64).reshape(-1, k)
    trees, leaves = (_symmetric if layout == "oblivious" else _nonsymmetric)(arr, splits, len(slot), leaf_values)
    weights = arr("leaf_weights") if "leaf_weights" in present else None  # optional (1.4)
    need(weights is None or (weights.dtype == np.float64 and weights.shape == (len(leaf_values),)
                             and np.all(np.isfinite(weights) & (weights >= 0))), "catboost: leaf_weights")
    need("cover" not in present and "node_count" not in present, "catboost: another library's covers")
    scale = float(arr("scale").reshape(-1)[0])
    bias = arr("bias").astype(np.float64).reshape(-1)
    need(len(bias) == k and np.isfinite(scale) and np.all(np.isfinite(bias)), "catboost: scale and bias")
    ctrs = _ctrs(arr, nf)
    need(all(0 <= c < nf + len(ctrs) for c in col), "catboost: float column")
    return CbModel(nf, k, col, borders, nan_true, oh_col, oh, list(zip(slot, index)), trees, leaves, scale, bias,
                   ctrs)


def _symmetric(arr, splits: list, binaries: int, leaf_values) -> tuple[list, list]:
    depth = [int(x) for x in arr("tree_depth").reshape(-1)]
    need(all(0 <= d <= 16 for d in depth), "catboost: depth")
    need(len(splits) == sum(depth) and all(0 <= s < binaries for s in splits), "catboost: tree splits")
    need(len(leaf_values) == sum(1 << d for d in depth), "catboost: leaf count")
    trees, leaves, at, leaf_at = [], [], 0, 0
    for d in depth:
        trees.append(splits[at:at + d])
        leaves.append(leaf_values[leaf_at:leaf_at + (1 << d)])
        at, leaf_at = at + d, leaf_at + (1 << d)
    return trees, leaves


def _nonsymmetric(arr, splits: list, binaries: int, leaf_values) -> tuple[list, list]:
    """Per tree its nodes as (split, left, right, leaf), children within the tree and after their
    node, so every walk ends; a -1 child stops the walk at the node, which names its leaf."""
    counts = [int(x) for x in arr("tree_nodes").reshape(-1)]
    leaf_counts = [int(x) for x in arr("tree_leaves").reshape(-1)]
    left, right, leaf = ([int(x) for x in arr(name).reshape(-1)] for name in ("node_left", "node_right", "node_leaf"))
    need(len(leaf_counts) == len(counts) and all(c >= 1 for c in counts + leaf_counts), "catboost: tree sizes")
    need(len(splits) == len(left) == len(right) == len(leaf) == sum(counts), "catboost: node arrays")
    need(len(leaf_values) == sum(leaf_counts), "catboost: leaf count")
    trees, leaves, at, leaf_at = [], [], 0, 0
    for n, m in zip(counts, leaf_counts):
        nodes = []
        for i in range(at, at + n):
            for child in (left[i], right[i]):
                need(child == -1 or i - at < child < n, "catboost: child")
            if -1 in (left[i], right[i]):
                need(0 <= leaf[i] < m, "catboost: node leaf")
            if (left[i], right[i]) != (-1, -1):
                need(0 <= splits[i] < binaries, "catboost: tree splits")
            nodes.append((splits[i], left[i], right[i], leaf[i]))
        trees.append(nodes)
        leaves.append(leaf_values[leaf_at:leaf_at + m])
        at, leaf_at = at + n, leaf_at + m
    return trees, leaves


def _leaf(tree, bits) -> int:
    if tree and isinstance(tree[0], tuple):  # a non-symmetric tree: walk from the root
        node = 0
        while True:
            split, left, right, leaf = tree[node]
            if left == -1 and right == -1:
                return leaf
            child = right if bits[split] else left
            if child == -1:
                return leaf
            node = child
    return sum(int(bits[s]) << d for d, s in enumerate(tree))


def _ctrs(arr, nf: int) -> list:
    kinds = [int(x) for x in arr("ctr_kind").reshape(-1)]
    n = len(kinds)
    per = {name: arr(name).reshape(-1) for name in ("ctr_prior_numerator", "ctr_prior_denominator", "ctr_shift",
                                                    "ctr_scale", "ctr_target_border", "ctr_denominator",
                                                    "ctr_count_width")}
    need(all(len(v) == n for v in per.values()) and all(0 <= x < len(KINDS) for x in kinds), "catboost: ctr kinds")
    cat_col = [int(x) for x in arr("ctr_cat_column").reshape(-1)]
    cats = _ranges(arr("ctr_cat_offsets").reshape(-1), len(cat_col), n, "ctr cats")
    f_col = [int(x) for x in arr("ctr_float_column").reshape(-1)]
    f_border = arr("ctr_float_border").reshape(-1).astype(np.float32).tolist()
    f_nan = [bool(x) for x in arr("ctr_float_nan_as_true").reshape(-1)]
    need(len(f_border) == len(f_col) == len(f_nan), "catboost: ctr float elements")
    floats = _ranges(arr("ctr_float_offsets").reshape(-1), len(f_col), n, "ctr floats")
    o_col = [int(x) for x in arr("ctr_onehot_column").reshape(-1)]
    o_val = [int(x) for x in arr("ctr_onehot_value").reshape(-1)]
    need(len(o_col) == len(o_val), "catboost: ctr one-hot elements")
    one_hot = _ranges(arr("ctr_onehot_offsets").reshape(-1), len(o_col), n, "ctr one-hot")
    hashes = [int(x) & MASK for x in arr("ctr_hashes").reshape(-1)]
    tables = _ranges(arr("ctr_table_offsets").reshape(-1), len(hashes), n, "ctr tables")
    counts = arr("ctr_counts").reshape(-1).astype(np.float64)
    widths = [int(x) for x in per["ctr_count_width"]]
    need(all(w >= 1 for w in widths) and sum((b - a) * w for (a, b), w in zip(tables, widths)) == len(counts),
         "catboost: ctr counts")
    out, c_at = [], 0
    for j in range(n):
        (c0, c1), (f0, f1), (o0, o1), (t0, t1) = cats[j], floats[j], one_hot[j], tables[j]
        w, tb, kind = widths[j], int(per["ctr_target_border"][j]), KINDS[kinds[j]]
        table = {}
        for e in range(t1 - t0):
            table.setdefault(hashes[t0 + e], counts[c_at + e * w:c_at + (e + 1) * w])
        c_at += (t1 - t0) * w
        needed = {"Borders": 2, "Buckets": tb + 1, "Counter": 1, "FeatureFreq": 1}.get(kind, 2)
        need(w >= needed and tb >= 0 and (kind not in ("Borders", "Buckets") or tb < w), "catboost: ctr width")
        elements = cat_col[c0:c1] + f_col[f0:f1] + o_col[o0:o1]
        need(c1 > c0 and all(0 <= c < nf for c in elements), "catboost: ctr columns")
        out.append(Ctr(cat_col[c0:c1], list(zip(f_col[f0:f1], f_border[f0:f1], f_nan[f0:f1])),
                       list(zip(o_col[o0:o1], o_val[o0:o1])), kind, F32(per["ctr_prior_numerator"][j]),
                       F32(per["ctr_prior_denominator"][j]), F32(per["ctr_shift"][j]), F32(per["ctr_scale"][j]), tb,
                       table, int(per["ctr_denominator"][j])))
    return out


def inputs(model: CbModel, rng) -> tuple[list, object]:
    """Rows for the model: float columns get random, special and border values; columns read as
    categories get values of ``HASHES`` (integers only where a column is read both ways). Returns
    the reference's rows and gbinfer's input (float32 array, or an object array with categories)."""
    nf = model.num_features
    floats, cats = model.uses()
    n = 24
    specials = [np.nan, 0.0, -0.0, np.inf, -np.inf, 3e38]
    columns = []
    for j in range(nf):
        if j in cats:
            pool = INTEGERS if j in floats else STRINGS + INTEGERS
            columns.append([pool[i] for i in rng.integers(0, len(pool), n)])
        else:
            v = rng.normal(0, 2, n).astype(np.float32)
            v[:len(specials)] = specials
            slots = [s for s, c in enumerate(model.slot_column) if c == j and model.borders[s]]
            for r in range(len(specials), min(n, len(specials) + 8)) if slots else ():
                b = model.borders[slots[0]]
                v[r] = b[int(rng.integers(0, len(b)))]
            columns.append(v.astype(np.float64).tolist())
    rows = [[columns[j][r] for j in range(nf)] for r in range(n)]
    if cats:
        data = np.empty((n, nf), dtype=object)
        for r, row in enumerate(rows):
            for j, v in enumerate(row):
                data[r, j] = v
        return rows, data
    return rows, np.array(rows, dtype=np.float32).reshape(n, nf)


def _hash(v) -> int:
    return HASHES[str(v)]


def _ctr_value(ctr: Ctr, x, row) -> F32:
    h = 0
    for c in ctr.cats:
        h = (M * (h + M * (_hash(row[c]) & MASK))) & MASK
    for c, border, nan_true in ctr.floats:
        v = x(c)
        h = (M * (h + M * int(v > border or (nan_true and v != v)))) & MASK
    for c, value in ctr.one_hot:
        h = (M * (h + M * int(_hash(row[c]) == value))) & MASK
    counts = ctr.table.get(h)
    tb = ctr.target_border
    if counts is None:
        good, total = 0.0, float(ctr.denominator) if ctr.kind in ("Counter", "FeatureFreq") else 0.0
    elif ctr.kind == "Borders":
        if len(counts) == 2:
            good, total = counts[1], counts[0] + counts[1]
        else:
            good = counts[tb + 1:].sum()
            total = counts[:tb + 1].sum() + good
    elif ctr.kind == "Buckets":
        good, total = counts[tb], counts.sum()
    elif ctr.kind in ("Counter", "FeatureFreq"):
        good, total = counts[0], float(ctr.denominator)
    else:
        good, total = counts[0], counts[1]
    with np.errstate(all="ignore"):
        value = (F32(good) + ctr.prior_num) / (F32(total) + ctr.prior_den)
        return (value + ctr.shift) * ctr.scale


def _bits(model: CbModel, row, object_rows: bool) -> list:
    nf = model.num_features
    slots = {c for c in model.slot_column if c < nf}

    def x(c):  # the float32 value gbinfer reads for input column c
        if object_rows and c not in slots:
            return float("nan")  # an object input fills only the float slots' columns
        return float(F32(row[c]))

    values = [None] * len(model.slot_column)
    ctr_values = {}
    for s, c in enumerate(model.slot_column):
        if c < nf:
            values[s] = x(c)
        else:
            if c not in ctr_values:
                ctr_values[c] = float(_ctr_value(model.ctrs[c - nf], x, row))
            values[s] = ctr_values[c]
    hashes = [_hash(row[c]) for c in model.onehot_column]
    out = []
    for s, i in model.binary:
        if s < len(values):
            v = values[s]
            out.append(model.nan_true[s] if v != v else v > model.borders[s][i])
        else:
            c = s - len(values)
            out.append(hashes[c] == model.onehot_values[c][i])
    return out


def leaves(model: CbModel, rows: list, object_rows: bool) -> np.ndarray:
    out = np.zeros((len(rows), len(model.trees)), dtype=np.uint32)
    for r, row in enumerate(rows):
        bits = _bits(model, row, object_rows)
        for t, tree in enumerate(model.trees):
            out[r, t] = _leaf(tree, bits)
    return out


def margins(model: CbModel, rows: list, object_rows: bool) -> np.ndarray:
    """float64 raw values [rows, outputs]."""
    idx = leaves(model, rows, object_rows)
    out = np.zeros((len(rows), model.num_outputs), dtype=np.float64)
    for r in range(len(rows)):
        for t, values in enumerate(model.leaves):
            out[r] += values[idx[r, t]]
    if model.scale != 1.0:
        out *= model.scale
    if np.any(model.bias != 0.0):
        out += model.bias
    return out
