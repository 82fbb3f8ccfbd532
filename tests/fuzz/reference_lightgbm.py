"""An independent reader and walker for LightGBM text models, for the fuzz oracle and the tests.

Nothing here imports gbinfer. The text is read line by line with the standard library (blocks cut
by ``tree_sizes`` when the header has it, as LightGBM cuts them, else found line by line), numbers
are taken only in the spellings C's ``strtod``/``strtol`` agree on (``%.17g`` output, ``nan``,
``inf``), and each tree is walked node by node with Python floats, as ``Tree::Predict`` walks
in float64:

- a dense row's value with ``|x| <= 1e-35`` (kZeroThreshold, a float literal) is read as 0.0;
  a sparse row's stored values are taken as they are, an absent entry is 0.0;
- a numeric node: NaN becomes 0.0 unless the missing type (``decision_type >> 2 & 3``) is NaN;
  missing type Zero sends |x| <= 1e-35 (and so NaN), NaN sends NaN, the default way
  (``decision_type & 2``: left); otherwise ``x <= threshold`` goes left;
- a categorical node (``decision_type & 1`` in a tree with ``num_cat > 0``): NaN, negative
  and out-of-int values go right; category ``int(x)`` found in the node's bitset goes LEFT;
- a linear leaf: ``leaf_const + sum(coeff * x)``, or its ``leaf_value`` when one of its
  features is NaN;
- tree ``t`` adds to output ``t % num_class``; raw margins are not averaged (``average_output``
  divides only the transformed prediction, by the rounds used).

``read`` raises ``reference.Invalid`` for a file whose predictions are not defined; it is
lenient about what does not change a prediction (metadata, tree numbers, feature names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

try:
    from .reference import Invalid, need
except ImportError:  # the worker imports the fuzz modules from their own directory
    from reference import Invalid, need

ZERO = 1.0000000180025095e-35  # float(np.float32(1e-35))
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
                    re.IGNORECASE)
MAX_TREES = 1 << 20


@dataclass
class LgbTree:
    num_leaves: int
    num_cat: int = 0
    split_feature: list = field(default_factory=list)
    threshold: list = field(default_factory=list)
    decision_type: list = field(default_factory=list)
    left: list = field(default_factory=list)
    right: list = field(default_factory=list)
    leaf_value: list = field(default_factory=list)
    cat_boundaries: list = field(default_factory=list)
    cat_threshold: list = field(default_factory=list)
    linear: bool = False
    leaf_const: list = field(default_factory=list)
    leaf_terms: list = field(default_factory=list)  # per leaf: [(feature, coefficient), ...]


@dataclass
class LgbModel:
    num_features: int
    num_outputs: int
    trees: list
    average_output: bool

    @property
    def indptr(self) -> list:
        return list(range(0, len(self.trees) + 1, self.num_outputs))


def sniff(data: bytes) -> bool:
    return data[:5] == b"tree\n" or data[:6] == b"tree\r\n"


# --- numbers -------------------------------------------------------------------------------------

def _words(value: str) -> list:
    return [w for w in value.split(" ") if w]


def _int(word: str, what: str, low: int, high: int) -> int:
    need(_INT.fullmatch(word) is not None, f"{what}: {word[:20]!r} is not an integer")
    v = int(word)
    need(low <= v <= high, f"{what}: {v} outside [{low}, {high}]")
    return v


def _float(word: str, what: str) -> float:
    need(_FLOAT.fullmatch(word) is not None, f"{what}: {word[:20]!r} is not a number")
    return float(word)


# --- the text --------------------------------------------------------------------------------------

def _lines(data: bytes) -> list:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("not UTF-8") from None
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def read(data: bytes) -> LgbModel:
    data = bytes(data)
    lines = _lines(data)
    need(lines[0] == "tree", "first line")
    header, i = {}, 1
    while i < len(lines) and not lines[i].startswith("Tree=") and lines[i] != "end of trees":
        if lines[i]:
            key, _, value = lines[i].partition("=")
            header[key] = value
        i += 1
    need(i < len(lines), "no trees section")
    k = _int(header.get("num_class", "").strip(), "num_class", 1, 1 << 16)
    if "num_tree_per_iteration" in header:
        need(_int(header["num_tree_per_iteration"].strip(), "num_tree_per_iteration", 1, 1 << 16) == k,
             "num_tree_per_iteration differs from num_class")
    nf = _int(header.get("max_feature_idx", "").strip(), "max_feature_idx", 0, 2**31 - 2) + 1
    if "tree_sizes" in header:
        blocks = _blocks_by_size(data, lines, i, header["tree_sizes"])
    else:
        blocks = _blocks_by_line(lines, i)
    need(len(blocks) % k == 0, "trees do not make whole rounds")
    trees = [_tree(b, t, nf) for t, b in enumerate(blocks)]
    return LgbModel(nf, k, trees, "average_output" in header)


def _blocks_by_size(data: bytes, lines: list, first: int, sizes_text: str) -> list:
    sizes = [_int(w, "tree_sizes", 0, len(data)) for w in _words(sizes_text)]
    need(len(sizes) <= MAX_TREES, "too many trees")
    at = sum(len(line_) + 1 for line_ in data.split(b"\n")[:first])  # byte offset of the first tree line
    blocks = []
    for i, size in enumerate(sizes):
        raw = data[at:at + size]
        need(len(raw) == size, "tree_sizes beyond the file")
        block = _lines(raw)
        need(block[0] == f"Tree={i}", f"block {i} does not start with Tree={i}")
        blocks.append(_fields(block[1:]))
        at += size
    return blocks


def _blocks_by_line(lines: list, i: int) -> list:
    blocks = []
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        if not lines[i].startswith("Tree="):
            break  # end of trees, feature importances, ...
        j = i + 1
        while j < len(lines) and lines[j]:
            j += 1
        need(j < len(lines), "the file ends inside a tree")
        blocks.append(_fields(lines[i + 1:j]))
        need(len(blocks) <= MAX_TREES, "too many trees")
        i = j
    return blocks


def _fields(lines: list) -> dict:
    """A tree's key=value lines up to its first blank line; what follows inside a cut block must
    be blank."""
    out = {}
    need(not lines or lines[0], "a blank line before the tree's fields (LightGBM reads an empty tree)")
    for n, line in enumerate(lines):
        if not line:
            need(not any(x.strip() for x in lines[n:]), "text after the tree's blank line")
            break
        key, sep, value = line.partition("=")
        need(sep == "=", f"line {line[:30]!r} is not key=value")
        out[key] = value
    return out


def _ints(f: dict, key: str, count, low=-(2**31), high=2**31 - 1) -> list:
    need(key in f, f"{key} missing")
    words = _words(f[key])
    need(count is None or len(words) == count, f"{key}: {len(words)} values, expected {count}")
    return [_int(w, key, low, high) for w in words]


def _floats(f: dict, key: str, count) -> list:
    need(key in f, f"{key} missing")
    words = _words(f[key])
    need(len(words) == count, f"{key}: {len(words)} values, expected {count}")
    return [_float(w, key) for w in words]


def _tree(f: dict, t: int, nf: int) -> LgbTree:
    nl = _ints(f, "num_leaves", 1, 1, 1 << 24)[0]
    num_cat = _ints(f, "num_cat", 1, 0, 1 << 24)[0]
    linear = bool(_ints(f, "is_linear", 1, 0, 1)[0]) if "is_linear" in f else False
    tree = LgbTree(num_leaves=nl, leaf_value=_floats(f, "leaf_value", nl), linear=linear)
    ni = nl - 1
    if nl > 1:
        tree.num_cat = num_cat
        tree.split_feature = _ints(f, "split_feature", ni, 0, nf - 1)
        tree.threshold = _floats(f, "threshold", ni)
        tree.decision_type = _ints(f, "decision_type", ni, -128, 127) if "decision_type" in f else [0] * ni
        tree.left = _ints(f, "left_child", ni)
        tree.right = _ints(f, "right_child", ni)
        if num_cat > 0:
            tree.cat_boundaries = _ints(f, "cat_boundaries", num_cat + 1)
            tree.cat_threshold = _ints(f, "cat_threshold", None, 0, 2**32 - 1)
        _check_walks(tree)
    if linear:
        tree.leaf_const = _floats(f, "leaf_const", nl) if "leaf_const" in f else [0.0] * nl
        counts = _ints(f, "num_features", nl, 0, nf) if "num_features" in f else [0] * nl
        total = sum(counts)
        feats = _ints(f, "leaf_features", total, 0, nf - 1) if total else []
        coeffs = _floats(f, "leaf_coeff", total) if total else []
        at = 0
        for c in counts:
            tree.leaf_terms.append(list(zip(feats[at:at + c], coeffs[at:at + c])))
            at += c
    return tree


def _check_walks(tree: LgbTree):
    """Every child a walk can follow is in its tree, no node is reached twice, every category
    split's bitset lies inside ``cat_threshold``."""
    ni, nl = tree.num_leaves - 1, tree.num_leaves
    seen, stack = set(), [0]
    while stack:
        node = stack.pop()
        if node < 0:
            need(~node < nl and ("leaf", ~node) not in seen, "leaf index out of range or reached twice")
            seen.add(("leaf", ~node))
            continue
        need(node < ni and node not in seen, "child index out of range or reached twice")
        seen.add(node)
        if tree.decision_type[node] & 1 and tree.num_cat > 0:
            thr = tree.threshold[node]
            need(thr == thr and abs(thr) != float("inf"), "category index")
            idx = int(thr)
            need(0 <= idx < tree.num_cat, "category index out of range")
            lo, hi = tree.cat_boundaries[idx], tree.cat_boundaries[idx + 1]
            need(0 <= lo <= hi <= len(tree.cat_threshold), "cat_boundaries")
        stack += [tree.left[node], tree.right[node]]


# --- prediction ------------------------------------------------------------------------------------

def _leaf(tree: LgbTree, row) -> int:
    if tree.num_leaves <= 1:
        return 0
    node = 0
    while node >= 0:
        x = row[tree.split_feature[node]]
        dt = tree.decision_type[node] & 0xFF
        if dt & 1 and tree.num_cat > 0:
            go_left = False
            if x == x and -1.0 < x < 2.0**31:
                c, idx = int(x), int(tree.threshold[node])
                lo, hi = tree.cat_boundaries[idx], tree.cat_boundaries[idx + 1]
                go_left = c // 32 < hi - lo and (tree.cat_threshold[lo + c // 32] >> (c % 32)) & 1 == 1
        else:
            missing = (dt >> 2) & 3
            if x != x and missing != 2:
                x = 0.0
            if (missing == 1 and abs(x) <= ZERO) or (missing == 2 and x != x):
                go_left = bool(dt & 2)
            else:
                go_left = x <= tree.threshold[node]
        node = tree.left[node] if go_left else tree.right[node]
    return ~node


def _value(tree: LgbTree, leaf: int, row) -> float:
    if not tree.linear:
        return tree.leaf_value[leaf]
    out = tree.leaf_const[leaf]
    for f, c in tree.leaf_terms[leaf]:
        x = row[f]
        if x != x:
            return tree.leaf_value[leaf]
        out += c * x
    return out


def prepare(rows, dense: bool = True) -> list:
    """Rows as LightGBM's predictor sees them: a dense row's |x| <= 1e-35 is 0.0."""
    if not dense:
        return rows
    return [[0.0 if abs(v) <= ZERO else float(v) for v in row] for row in rows]


def margins(model: LgbModel, rows: list, rounds: tuple | None = None):
    """Raw scores, float64 [rows, outputs], of prepared rows (``prepare``); ``rounds=(a, b)``
    adds only the trees of those boosting rounds."""
    import numpy as np

    k = model.num_outputs
    a, b = rounds or (0, len(model.trees) // k)
    out = np.zeros((len(rows), k), dtype=np.float64)
    for r, row in enumerate(rows):
        acc = [0.0] * k
        for t in range(a * k, b * k):
            tree = model.trees[t]
            acc[t % k] += _value(tree, _leaf(tree, row), row)
        out[r] = acc
    return out


def leaves(model: LgbModel, rows: list):
    import numpy as np

    return np.array([[_leaf(tree, row) for tree in model.trees] for row in rows], dtype=np.float64).reshape(
        len(rows), len(model.trees))
