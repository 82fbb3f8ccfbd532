"""An independent reader and walker for every model format gbinfer loads, for the fuzz oracle.

Nothing here imports gbinfer: each file is parsed with the standard library (``json``, ``struct``,
``zlib``), a UBJSON decoder of its own and plain numpy views, into one small structure (``RefModel``),
and margins are computed by walking each tree node by node in float32, as XGBoost does: start
from the base margin, a present value ``x < threshold`` goes left (a NaN threshold sends every
present value right), a missing value follows ``default_left``, a categorical split sends a
category in its set right, and each tree's (DART-weighted) leaf is added in tree order.

``read`` raises ``Invalid`` for a file whose predictions are not defined: broken syntax, a field
of the wrong type, an index a walk would follow out of its tree, a node reached twice, a base
score the objective's link cannot take. It is deliberately lenient about everything that does
not change a prediction (metadata, unreachable nodes, rounds a file leaves implicit): when it accepts a
file gbinfer may still refuse it; when gbinfer accepts a file it refuses, the fuzzer reports it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

F32 = np.float32
MAX_OUTPUTS = 1 << 16  # beyond this the reference refuses to allocate its margins
MAX_DEPTH = 256


class Invalid(Exception):
    """The reference cannot give this file a meaning."""


@dataclass
class RefTree:
    left: list  # child index (tree-local), -1 at a leaf
    right: list
    feature: list
    threshold: list  # float32 values as Python floats (exact)
    default_left: list  # bool
    categories: dict  # node -> set of category codes (categorical splits only)
    leaf: dict  # reachable leaf -> tuple of float32 (one value, or one per output)
    group: int = 0
    weight: np.float32 = F32(1.0)
    vector: bool = False
    node_id: list | None = None  # the number predict_leaf reports per node (None: its position)


@dataclass
class RefModel:
    num_features: int
    num_outputs: int
    base: np.ndarray  # float32 margins [num_outputs]
    trees: list = field(default_factory=list)
    linear: tuple | None = None  # (weights [features][outputs], bias [outputs]) as float32 arrays
    indptr: list | None = None  # first tree of each boosting round, when the file states it


# --- libm, as the compiled code calls it ---------------------------------------------------------

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_libm.logf.restype = ctypes.c_float
_libm.logf.argtypes = [ctypes.c_float]


def _logf(x) -> np.float32:
    return F32(_libm.logf(float(x)))


# --- small typed accessors -----------------------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?[0-9]{1,40}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def need(cond, why):
    if not cond:
        raise Invalid(why)


def as_int(v, what) -> int:
    if isinstance(v, bool):
        raise Invalid(f"{what}: bool")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v == v and abs(v) != float("inf") and v == int(v):
        return int(v)
    if isinstance(v, str) and _INT_TEXT.fullmatch(v.strip()):
        return int(v.strip())
    raise Invalid(f"{what}: not an integer: {v!r:.40}")


def as_float(v, what) -> float:
    if isinstance(v, bool):
        raise Invalid(f"{what}: bool")
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            raise Invalid(f"{what}: too large") from None
    raise Invalid(f"{what}: not a number: {v!r:.40}")


def as_dict(v, what) -> dict:
    need(isinstance(v, dict), f"{what}: not an object")
    return v


def as_list(v, what) -> list:
    need(isinstance(v, list), f"{what}: not a list")
    return v


def ints(v, what) -> list:
    """An array of integers. JSON true/false inside an array read as 1/0, as gbinfer reads them
    (telling them apart from numbers would cost the loader a Python-level pass over every node)."""
    return [int(x) if isinstance(x, bool) else as_int(x, what) for x in as_list(v, what)]


def floats32(v, what) -> list:
    with np.errstate(over="ignore"):
        return [F32(float(x) if isinstance(x, bool) else as_float(x, what)) for x in as_list(v, what)]


# --- base score -> margin (XGBoost's ProbToMargin, float32) -------------------------------------

_LINKS = {
    "identity": ["reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror",
                 "reg:absoluteerror", "reg:quantileerror", "reg:expectileerror", "binary:logitraw",
                 "binary:hinge", "multi:softmax", "multi:softprob", "rank:pairwise", "rank:ndcg", "rank:map"],
    "logit": ["reg:logistic", "binary:logistic"],
    "log": ["count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft"],
}
LINK_OF = {name: link for link, names in _LINKS.items() for name in names}


def to_margin(p: np.float32, link: str) -> np.float32:
    need(np.isfinite(p), "base score not finite")
    if link == "logit":
        need(0 <= p <= 1, "logistic base score outside [0, 1]")
        p = min(max(p, F32(1e-6)), F32(1) - F32(1e-6))
        with np.errstate(all="ignore"):
            m = -_logf(F32(F32(1) / p) - F32(1))
    elif link == "log":
        need(p > 0, "log-link base score <= 0")
        m = _logf(p)
    else:
        m = F32(p)
    need(np.isfinite(m), "base margin not finite")
    return F32(m)


def parse_base_score(v) -> list:
    """XGBoost's spellings: a number, "0.5", "5E-1", "[5E-1]" or "[a,b,c]" (3.1+), or a list."""
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        parts = text.split(",")
        need(all(_FLOAT_TEXT.fullmatch(p.strip()) for p in parts), f"base_score {v!r:.40}")
        values = [float(p) for p in parts]
    elif isinstance(v, list):
        values = [as_float(x, "base_score") for x in v]
    else:
        values = [as_float(v, "base_score")]
    need(values, "empty base_score")
    with np.errstate(over="ignore"):
        return [F32(x) for x in values]


# --- sniffing ----------------------------------------------------------------------------------

_NATIVE_HEAD = re.compile(rb'\A[ \t\r\n]*\{[ \t\r\n]*"gbinfer_schema"[ \t\r\n]*:')


def read(data: bytes) -> RefModel:
    if data[:5] == b"XGBRS":
        return read_xgbrs(data)
    if _NATIVE_HEAD.match(data[:256]):
        return read_native_json(data)
    head = data[:64].lstrip()
    if head[:1] == b"{":
        nxt = head[1:2]
        if nxt in (b'"', b"}", b"") or nxt.isspace():
            return read_xgboost_doc(parse_json(data))
        return read_xgboost_doc(ubj_decode(data))
    return read_legacy_binary(data)


def parse_json(data: bytes):
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise Invalid(f"json: {exc}") from None


# --- UBJSON (draft 12, as XGBoost writes it) ------------------------------------------------------

_UBJ_SCALARS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q", b"d": ">f", b"D": ">d"}


class _Ubj:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        need(0 <= n <= len(self.d) - self.p, "ubj: truncated")
        out = self.d[self.p:self.p + n]
        self.p += n
        return out

    def marker(self, skip_noop=True):
        while True:
            m = self.take(1)
            if m != b"N" or not skip_noop:
                return m

    def scalar(self, m):
        fmt = _UBJ_SCALARS[m]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self):
        m = self.marker(skip_noop=False)
        need(m in b"iUIlL" and len(m) == 1, "ubj: count marker")
        n = self.scalar(m)
        need(n >= 0, "ubj: negative count")
        return n

    def string(self):
        raw = self.take(self.count())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("ubj: utf-8") from None

    def value(self, m, depth):
        if m in _UBJ_SCALARS:
            return self.scalar(m)
        if m == b"Z":
            return None
        if m == b"T":
            return True
        if m == b"F":
            return False
        if m == b"C":
            c = self.take(1)[0]
            need(c < 0x80, "ubj: char")
            return chr(c)
        if m in (b"S", b"H"):
            return self.string()
        if m in (b"[", b"{"):
            need(depth < MAX_DEPTH, "ubj: too deep")
            return self.container(m == b"[", depth + 1)
        raise Invalid(f"ubj: marker {m!r}")

    def container(self, is_array, depth):
        typ, n = None, -1
        if self.d[self.p:self.p + 1] == b"$":
            self.p += 1
            typ = self.marker(skip_noop=False)
            need(typ in _UBJ_SCALARS or typ in (b"Z", b"T", b"F", b"C", b"S", b"H", b"[", b"{"), "ubj: $ type")
            need(self.take(1) == b"#", "ubj: $ without #")
            n = self.count()
        elif self.d[self.p:self.p + 1] == b"#":
            self.p += 1
            n = self.count()
        if n >= 0:
            size = struct.calcsize(_UBJ_SCALARS[typ]) if typ in _UBJ_SCALARS else (1 if typ is None else 0)
            limit = (len(self.d) - self.p) // size if size else len(self.d)
            need(n <= limit, "ubj: count beyond the data")
        if is_array and typ in _UBJ_SCALARS:
            fmt = _UBJ_SCALARS[typ]
            raw = self.take(n * struct.calcsize(fmt))
            return list(struct.unpack(">" + fmt[1] * n, raw))
        out = [] if is_array else {}
        i = 0
        while True:
            if n >= 0:
                if i == n:
                    return out
            else:
                while self.d[self.p:self.p + 1] == b"N":
                    self.p += 1
                if self.d[self.p:self.p + 1] == (b"]" if is_array else b"}"):
                    self.p += 1
                    return out
            if not is_array:
                key = self.string()
                need(key not in out, "ubj: duplicate key")
            m = typ if typ is not None else self.marker()
            v = self.value(m, depth)
            if is_array:
                out.append(v)
            else:
                out[key] = v
            i += 1


def ubj_decode(data: bytes):
    r = _Ubj(bytes(data))
    v = r.value(r.marker(), 0)
    need(r.p == len(r.d), "ubj: trailing bytes")
    return v


# --- XGBoost's document (JSON and UBJSON) --------------------------------------------------------

def read_xgboost_doc(doc) -> RefModel:
    learner = as_dict(as_dict(doc, "doc").get("learner"), "learner")
    lmp = as_dict(learner.get("learner_model_param"), "learner_model_param")
    nf = as_int(lmp.get("num_feature"), "num_feature")
    num_class = as_int(lmp.get("num_class", 0), "num_class")
    num_target = as_int(lmp.get("num_target", 1), "num_target")
    need(nf >= 0 and num_class >= 0 and num_target >= 0, "negative count")
    k = max(num_class, num_target, 1)
    need(k <= MAX_OUTPUTS, "too many outputs")
    obj = as_dict(learner.get("objective"), "objective")
    name = obj.get("name")
    need(isinstance(name, str) and name in LINK_OF, f"objective {name!r:.40}")
    base = parse_base_score(lmp.get("base_score", 0.5))
    need(len(base) in (1, k), "base_score count")
    gb = as_dict(learner.get("gradient_booster"), "gradient_booster")
    kind = gb.get("name")
    if kind == "gblinear":
        w = floats32(as_dict(gb.get("model"), "model").get("weights"), "weights")
        fitted = bool(w)
        if not fitted and (nf + 1) * k <= 1 << 22:  # zero rounds: no weights saved, all of them zero
            w = [F32(0)] * ((nf + 1) * k)
        need(len(w) == (nf + 1) * k, "linear weight count")
        table = np.array(w, dtype=np.float32).reshape(nf + 1, k)
        margin = to_margin(base[0], LINK_OF[name])
        if not fitted and as_int(lmp.get("boost_from_average", 1), "boost_from_average"):
            margin = base[0]
        return RefModel(nf, k, np.full(k, margin, dtype=np.float32), linear=(table[:nf], table[nf]))
    need(kind in ("gbtree", "dart"), f"booster {kind!r:.40}")
    holder = as_dict(gb.get("gbtree"), "gbtree") if kind == "dart" else gb
    model = as_dict(holder.get("model"), "model")
    weights = gb.get("weight_drop") if kind == "dart" else model.get("weight_drop")
    trees_doc = as_list(model.get("trees"), "trees")
    info = model.get("tree_info")
    info = [0] * len(trees_doc) if info is None else ints(info, "tree_info")
    need(len(info) == len(trees_doc), "tree_info length")
    if weights is not None:
        weights = floats32(weights, "weight_drop")
        need(len(weights) <= len(trees_doc) and all(np.isfinite(weights)), "weight_drop")
        weights += [F32(1)] * (len(trees_doc) - len(weights))
    trees = []
    for t, tdoc in enumerate(trees_doc):
        tree = _xgboost_tree(as_dict(tdoc, "tree"), nf, k)
        tree.group = info[t]
        if tree.vector:
            need(weights is None, "DART with vector leaves")
        else:
            need(0 <= tree.group < k, "tree_info out of range")
        tree.weight = weights[t] if weights is not None else F32(1)
        trees.append(tree)
    need(len({t.vector for t in trees}) <= 1, "mixed leaf sizes")
    margins = [to_margin(b, LINK_OF[name]) for b in base]
    if not trees and as_int(lmp.get("boost_from_average", 1), "boost_from_average"):
        margins = base  # no trees and an intercept still to estimate: XGBoost uses the stored score as is
    indptr = model.get("iteration_indptr")
    if indptr is not None:
        indptr = _rounds(ints(indptr, "iteration_indptr"), len(trees))
    return RefModel(nf, k, np.array(margins * (k if len(margins) == 1 else 1), dtype=np.float32), trees,
                    indptr=indptr)


def _rounds(indptr: list, n_trees: int) -> list:
    need(indptr and indptr[0] == 0 and indptr[-1] == n_trees and all(a <= b for a, b in zip(indptr, indptr[1:])),
         "iteration_indptr must rise from 0 to the tree count")
    return indptr


def _xgboost_tree(t: dict, nf: int, k: int) -> RefTree:
    tp = as_dict(t.get("tree_param"), "tree_param")
    n = as_int(tp.get("num_nodes"), "num_nodes")
    size = max(as_int(tp.get("size_leaf_vector", 1), "size_leaf_vector"), 1)
    need(size in (1, k), "size_leaf_vector")

    def column(name, conv, default=None):
        v = t.get(name, default)
        need(v is not None, f"{name} missing")
        out = conv(v, name)
        need(len(out) == n, f"{name} length")
        return out

    left = column("left_children", ints)
    right = column("right_children", ints)
    tree = RefTree(left=left, right=right, feature=column("split_indices", ints),
                   threshold=[float(v) for v in column("split_conditions", floats32)],
                   default_left=[bool(v) for v in column("default_left", ints)],
                   categories={}, leaf={}, vector=size > 1)
    kinds = column("split_type", ints, [0] * n)
    nodes = ints(t.get("categories_nodes", []), "categories_nodes")
    segments = ints(t.get("categories_segments", []), "categories_segments")
    sizes = ints(t.get("categories_sizes", []), "categories_sizes")
    cats = ints(t.get("categories", []), "categories")
    need(len(nodes) == len(segments) == len(sizes), "category table lengths")
    for node, lo, m in zip(nodes, segments, sizes):
        need(0 <= lo and 0 <= m and lo + m <= len(cats), "category slice")
        tree.categories.setdefault(node, set()).update(cats[lo:lo + m])
    reachable = _walk_check(tree, n, nf)
    for i in reachable:
        if left[i] != -1:
            if kinds[i] == 0:
                tree.categories.pop(i, None)
            else:
                need(kinds[i] == 1, "split_type")
                tree.categories.setdefault(i, set())
    tree.categories = {i: s for i, s in tree.categories.items() if i in reachable and left[i] != -1}
    leaves = [i for i in reachable if left[i] == -1]
    if size == 1:
        tree.leaf = {i: (F32(tree.threshold[i]),) for i in leaves}
    elif "leaf_weights" in t:
        rows = floats32(t["leaf_weights"], "leaf_weights")
        need(len(rows) % size == 0, "leaf_weights length")
        for i in leaves:
            need(0 <= right[i] < len(rows) // size, "leaf weight row")
            tree.leaf[i] = tuple(rows[right[i] * size:(right[i] + 1) * size])
    else:
        bw = floats32(t.get("base_weights"), "base_weights")
        need(len(bw) == n * size, "base_weights length")
        tree.leaf = {i: tuple(bw[i * size:(i + 1) * size]) for i in leaves}
    return tree


def _walk_check(tree: RefTree, n: int, nf: int) -> set:
    """Nodes reachable from the root (node 0); refuses a child outside [0, n), a node reached
    twice or a split on a feature the model does not have."""
    need(n >= 1, "empty tree")
    seen, stack = set(), [0]
    while stack:
        i = stack.pop()
        need(0 <= i < n and i not in seen, "child out of range or reached twice")
        seen.add(i)
        if tree.left[i] != -1:
            need(0 <= tree.feature[i] < nf, "split feature out of range")
            stack += [tree.left[i], tree.right[i]]
    return seen


# --- the legacy binary format ----------------------------------------------------------------------

class _Bin:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        need(0 <= n <= len(self.d) - self.p, "binary: truncated")
        out = self.d[self.p:self.p + n]
        self.p += n
        return out

    def unpack(self, fmt):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self, legacy=False):
        (n,) = self.unpack("Q")
        if legacy and n >= 0xFFFFFFFF:
            self.take(4)
            n >>= 32
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("binary: utf-8") from None


def read_legacy_binary(data: bytes) -> RefModel:
    data = bytes(data)
    if data.startswith(b"CONFIG-offset:"):  # XGBoost 1.0-1.2 pickles: model size, model, JSON configuration
        need(len(data) >= 22, "snapshot: short")
        (size,) = struct.unpack_from("<q", data, 14)
        need(0 < size <= len(data) - 22, "snapshot: model size")
        need(isinstance(parse_json(data[22 + size:]), dict), "snapshot: configuration")
        return _legacy_model(data[22:22 + size])
    if data.startswith(b"bs64"):  # XGBoost < 0.6: the model in base64, whitespace anywhere
        import base64
        import binascii

        try:
            return _legacy_model(base64.b64decode(b"".join(data[4:].split()), validate=True))
        except (binascii.Error, ValueError):
            raise Invalid("bs64: base64") from None
    return _legacy_model(data)


def _legacy_model(data: bytes) -> RefModel:
    r = _Bin(bytes(data))
    if data[:4] == b"binf":
        r.p = 4
    base_score, nf, num_class, extra_attrs, eval_metrics, major, minor, num_target, boost_from_average = r.unpack(
        "fIiiiIIIi")
    r.take(100)
    need(num_class >= 0 and major <= 1000 and minor <= 1000, "learner param")
    legacy = major == 0
    k = max(num_class, num_target or 1, 1)
    need(k <= MAX_OUTPUTS, "too many outputs")
    objective = r.string(legacy)
    need(objective in LINK_OF, f"objective {objective!r:.40}")
    booster = r.string()
    need(booster in ("gbtree", "dart", "gblinear"), "booster")
    if booster == "gblinear":
        lnf, lgroups = r.unpack("Ii")
        r.take(128)
        wnf, groups = (lnf or nf, max(lgroups, 1)) if legacy else (nf, k)
        (cnt,) = r.unpack("Q")
        need(cnt == (wnf + 1) * groups and cnt * 4 <= len(data), "linear weights")
        w = np.frombuffer(r.take(4 * cnt), dtype="<f4").astype(np.float32).reshape(wnf + 1, groups)
        trees, linear = [], (w[:wnf], w[wnf])
        need(groups == k and wnf == nf, "linear shape differs from the learner's")
    else:
        num_trees, parallel, _, _, _, out_groups, _ = r.unpack("iiiiqii")
        r.take(128)
        need(num_trees >= 0 and (legacy or parallel >= 1), "gbtree param")
        need(num_trees * 184 <= len(data), "num_trees beyond the data")
        trees = [_binary_tree(r, legacy, nf) for _ in range(num_trees)]
        groups = r.unpack(f"{num_trees}i")
        n_groups = max(out_groups, 1) if legacy else k
        for t, g in zip(trees, groups):
            need(0 <= g < n_groups and g < k, "tree_info")
            t.group = g
        if booster == "dart" and num_trees:
            (cnt,) = r.unpack("Q")
            need(cnt == num_trees, "weight_drop count")
            for t, w in zip(trees, r.unpack(f"{cnt}f")):
                t.weight = F32(w)
        linear = None
    if extra_attrs:
        (cnt,) = r.unpack("Q")
        need(cnt * 16 <= len(data), "attribute count")
        for _ in range(cnt * 2):
            r.string()
    if legacy:
        if objective == "count:poisson":
            r.string()
        if eval_metrics:
            (cnt,) = r.unpack("Q")
            need(cnt * 8 <= len(data), "metric count")
            for _ in range(cnt):
                r.string()
    need(r.p == len(r.d), "binary: trailing bytes")
    base = F32(base_score)
    if legacy and not objective.startswith("multi:"):
        base = _pred_transform(objective, base)  # < 1.0 stored the margin; its meaning is kept
    margin = to_margin(base, LINK_OF[objective])
    if booster != "gblinear" and not trees and boost_from_average:
        margin = base  # as for the JSON document
    return RefModel(nf, k, np.full(k, margin, dtype=np.float32), trees, linear)


def _pred_transform(objective, m):
    with np.errstate(all="ignore"):
        if objective in ("binary:logistic", "reg:logistic"):
            return F32(1) / (F32(1) + np.exp(-m))
        if objective in ("count:poisson", "reg:gamma", "reg:tweedie", "survival:cox"):
            return np.exp(m)
        if objective == "binary:hinge":
            return F32(1 if m > 0 else 0)
    return m


def _binary_tree(r: _Bin, legacy: bool, nf: int) -> RefTree:
    roots, n, _, _, _, size = r.unpack("iiiiIi")
    r.take(124)
    need(roots == 1 or (legacy and roots == 0), "num_roots")
    need(1 <= n and n * 36 <= len(r.d), "num_nodes")
    nodes = [r.unpack("iiiIf") for _ in range(n)]
    r.take(16 * n)
    if legacy and size != 0:
        (cnt,) = r.unpack("Q")
        r.take(4 * cnt)
    tree = RefTree(left=[nd[1] for nd in nodes], right=[nd[2] for nd in nodes],
                   feature=[nd[3] & 0x7FFFFFFF for nd in nodes], threshold=[float(F32(nd[4])) for nd in nodes],
                   default_left=[bool(nd[3] >> 31) for nd in nodes], categories={}, leaf={})
    reachable = _walk_check(tree, n, nf)
    tree.leaf = {i: (F32(tree.threshold[i]),) for i in reachable if tree.left[i] == -1}
    return tree


# --- gbinfer's own formats: the schema document with its arrays ---------------------------------------

_DTYPES = {"uint8": "<u1", "int32": "<i4", "uint32": "<u4", "int64": "<i8", "float32": "<f4", "float64": "<f8"}


def read_xgbrs(data: bytes) -> RefModel:
    need(len(data) >= 36, "xgbrs: short")
    magic, major, minor, flags, hlen, hcrc, reserved, dlen = struct.unpack_from("<5sBBBQIIQ", data)
    need(major == 1 and flags == 0 and reserved == 0, "xgbrs: version/flags")
    need(32 + hlen + dlen + 4 == len(data) and (32 + hlen) % 64 == 0, "xgbrs: sizes")
    need(struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4]), "xgbrs: crc")
    header = data[32:32 + hlen]
    need(zlib.crc32(header) == hcrc, "xgbrs: header crc")
    doc = parse_json(header)
    as_dict(doc, "header")
    table = as_list(doc.pop("arrays", None), "arrays")
    section = data[32 + hlen:32 + hlen + dlen]
    arrays, end = {}, 0
    for e in table:
        e = as_dict(e, "array entry")
        need(set(e) == {"name", "dtype", "shape", "offset", "nbytes"}, "array entry keys")
        need(isinstance(e["name"], str) and e["name"] not in arrays and e["dtype"] in _DTYPES, "array name/dtype")
        shape = as_list(e["shape"], "shape")
        need(all(type(d) is int and 0 <= d <= dlen for d in shape) and len(shape) <= 8, "shape")
        dt = np.dtype(_DTYPES[e["dtype"]])
        count = int(np.prod(shape, dtype=object)) if shape else 1
        off, nb = e["offset"], e["nbytes"]
        need(type(off) is int and type(nb) is int and nb == count * dt.itemsize, "nbytes")
        need(off == -(-end // 64) * 64 and off + nb <= dlen, "offset")
        need(not any(section[end:off]), "padding")
        arrays[e["name"]] = np.frombuffer(section, dtype=dt, count=count, offset=off).reshape(shape)
        end = off + nb
    need(end == dlen, "array section coverage")
    return _schema_model(doc, arrays)


def read_native_json(data: bytes) -> RefModel:
    doc = as_dict(parse_json(data), "doc")
    table = as_dict(doc.pop("arrays", None), "arrays")
    arrays = {}
    for name, e in table.items():
        e = as_dict(e, name)
        need(set(e) == {"dtype", "shape", "data"} and e["dtype"] in _DTYPES, f"{name}: entry")
        shape, values = as_list(e["shape"], "shape"), as_list(e["data"], "data")
        need(all(type(d) is int and d >= 0 for d in shape) and len(shape) <= 8, "shape")
        need(len(values) == (int(np.prod(shape, dtype=object)) if shape else 1), f"{name}: count")
        dt = np.dtype(_DTYPES[e["dtype"]])
        if dt.kind == "f":
            special = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
            vals = [special[v] if isinstance(v, str) and v in special else float(v) if isinstance(v, bool)
                    else as_float(v, name) for v in values]
            with np.errstate(over="ignore"):
                arr = np.array(vals, dtype=np.float64).astype(dt)
        else:
            vals = [int(v) if isinstance(v, bool) else v if type(v) is int else as_int(None, name) for v in values]
            info = np.iinfo(dt)
            need(all(info.min <= v <= info.max for v in vals), f"{name}: range")
            arr = np.array(vals, dtype=dt)
        arrays[name] = arr.reshape(shape)
    return _schema_model(doc, arrays)


def _schema_model(doc: dict, a: dict) -> RefModel:
    v = doc.get("gbinfer_schema")
    need(isinstance(v, list) and len(v) == 2 and v[0] == 1, "schema version")
    model = as_dict(doc.get("model"), "model")
    booster = as_dict(doc.get("booster"), "booster")
    nf, k = model.get("num_features"), model.get("num_outputs")
    need(type(nf) is int and type(k) is int and 0 <= nf < 2**31 and 1 <= k <= MAX_OUTPUTS, "model counts")
    kind = booster.get("kind")

    def arr(name, shape=None):
        need(name in a, f"{name} missing")
        x = a[name]
        need(shape is None or x.shape == shape, f"{name} shape {x.shape}")
        return x

    base = arr("base_score", (k,)).astype(np.float32)
    need(np.all(np.isfinite(base)), "base score")
    if booster.get("semantics") == "lightgbm":
        return _schema_lightgbm(doc, model, booster, arr, a, nf, k)
    if booster.get("semantics") == "catboost":
        try:
            from . import reference_cbschema as cb
        except ImportError:
            import reference_cbschema as cb
        return cb.from_schema(doc, booster, arr, nf, k, present=set(a))
    need(not booster.get("average_output"), "average_output without lightgbm semantics")
    need(doc.get("objective", {}).get("transform") not in ("signed_square", "log1p_exp"), "a LightGBM transform")
    if kind == "gblinear":
        return RefModel(nf, k, base, linear=(arr("linear_weights", (nf, k)).astype(np.float32),
                                             arr("linear_bias", (k,)).astype(np.float32)))
    need(kind in ("gbtree", "dart") and booster.get("semantics") == "xgboost", "booster kind")
    nt, nn, size = booster.get("num_trees"), booster.get("num_nodes"), booster.get("leaf_size")
    need(all(type(x) is int and x >= 0 for x in (nt, nn, size)) and size in (1, k), "booster counts")
    offsets = arr("tree_offsets", (nt + 1,)).tolist()
    groups = arr("tree_group", (nt,)).tolist()
    weights = arr("tree_weight", (nt,)).astype(np.float32) if kind == "dart" else np.ones(nt, np.float32)
    need(np.all(np.isfinite(weights)) and (kind != "dart" or size == 1), "tree_weight")
    left, right = arr("left_child", (nn,)).tolist(), arr("right_child", (nn,)).tolist()
    feature = arr("split_feature", (nn,)).tolist()
    threshold = arr("threshold", (nn,)).astype(np.float32).astype(np.float64).tolist()
    default_left = arr("default_left", (nn,)).tolist()
    kinds = arr("split_kind", (nn,)).tolist()
    cat_offsets = arr("cat_offsets", (nn + 1,)).tolist()
    bits = arr("cat_bits").reshape(-1).tolist()
    leaf_values = arr("leaf_values", (nn, size)).astype(np.float32)
    need(offsets[0] == 0 and offsets[-1] == nn and all(x < y for x, y in zip(offsets, offsets[1:])), "tree_offsets")
    node_id = arr("node_id", (nn,)).tolist()
    if "cover" in a:  # optional (1.3): TreeSHAP's node weights, float32, finite, one per node
        need(a["cover"].dtype == np.float32 and np.all(np.isfinite(arr("cover", (nn,)))), "cover")
    need("node_count" not in a and "leaf_weights" not in a, "another library's covers (1.4)")
    indptr = _rounds(arr("iteration_indptr").reshape(-1).tolist(), nt)
    trees = []
    for t in range(nt):
        lo, n = offsets[t], offsets[t + 1] - offsets[t]

        def local(xs):  # tree-local children; one outside the tree becomes an index no tree has
            return [-1 if x == -1 else x - lo if lo <= x < lo + n else 1 << 40 for x in xs]

        tree = RefTree(left=local(left[lo:lo + n]), right=local(right[lo:lo + n]),
                       feature=feature[lo:lo + n], threshold=threshold[lo:lo + n],
                       default_left=[bool(x) for x in default_left[lo:lo + n]], categories={}, leaf={},
                       group=groups[t], weight=F32(weights[t]), vector=size > 1, node_id=node_id[lo:lo + n])
        reachable = _walk_check(tree, n, nf)
        for i in reachable:
            if tree.left[i] == -1:
                tree.leaf[i] = tuple(leaf_values[lo + i])
            elif kinds[lo + i] != 0:
                need(kinds[lo + i] == 1, "split_kind")
                c0, c1 = cat_offsets[lo + i], cat_offsets[lo + i + 1]
                need(0 <= c0 <= c1 <= len(bits), "cat_offsets")
                tree.categories[i] = {32 * w + b for w in range(c1 - c0) for b in range(32)
                                      if bits[c0 + w] >> b & 1}
        need(size > 1 or 0 <= tree.group < k, "tree_group")
        trees.append(tree)
    return RefModel(nf, k, base, trees, indptr=indptr)


def _schema_lightgbm(doc: dict, model: dict, booster: dict, arr, a: dict, nf: int, k: int):
    """A lightgbm-semantics forest of the schema's node layout as LightGBM's own trees (see
    ``reference_lightgbm``): splits numbered in node order, leaves by ``node_id``, category sets
    and linear terms per node; its margins are float64 and start from 0."""
    try:
        from . import reference_lightgbm as lgb
    except ImportError:
        import reference_lightgbm as lgb

    nt, nn = booster.get("num_trees"), booster.get("num_nodes")
    need(booster.get("kind") == "gbtree" and booster.get("leaf_size") == 1, "lightgbm: booster kind")
    need(all(type(x) is int and x >= 0 for x in (nt, nn)), "booster counts")
    need(not np.any(arr("base_score", (k,)) != 0), "lightgbm: base score")
    minor = doc.get("gbinfer_schema")[1]
    need(type(minor) is int, "schema version")
    attributes = as_dict(model.get("source_attributes"), "source_attributes")
    average = booster.get("average_output") if minor >= 2 else attributes.get("average_output", False)
    need(isinstance(average, bool), "average_output")
    need(attributes.get("average_output", average) is average, "average_output written twice, differently")
    offsets = arr("tree_offsets", (nt + 1,)).tolist()
    need(offsets[0] == 0 and offsets[-1] == nn and all(x < y for x, y in zip(offsets, offsets[1:])), "tree_offsets")
    need(arr("tree_group", (nt,)).tolist() == [t % k for t in range(nt)], "lightgbm: tree_group")
    need(arr("iteration_indptr").reshape(-1).tolist() == list(range(0, nt + 1, k)), "lightgbm: iteration_indptr")
    left, right = arr("left_child", (nn,)).tolist(), arr("right_child", (nn,)).tolist()
    feature = arr("split_feature", (nn,)).tolist()
    threshold = arr("threshold", (nn,)).astype(np.float64).tolist()
    default_left = arr("default_left", (nn,)).tolist()
    kinds = arr("split_kind", (nn,)).tolist()
    missing = arr("missing_type", (nn,)).tolist()
    cat_offsets = arr("cat_offsets", (nn + 1,)).tolist()
    bits = arr("cat_bits").reshape(-1).tolist()
    values = arr("leaf_values", (nn, 1)).astype(np.float64)[:, 0].tolist()
    node_id = arr("node_id", (nn,)).tolist()
    need("cover" not in a and "leaf_weights" not in a, "lightgbm: another library's covers")
    if "node_count" in a:  # optional (1.4): LightGBM's row counts, int32, >= 0, one per node
        need(a["node_count"].dtype == np.int32 and np.all(arr("node_count", (nn,)) >= 0), "node_count")
    names = ("leaf_const", "leaf_coef_offsets", "leaf_coef_feature", "leaf_coef_value")
    present = [n for n in names if n in a]
    need(len(present) in (0, len(names)), "linear arrays come together")
    if present:
        const = arr("leaf_const", (nn,)).astype(np.float64).tolist()
        coef_off = arr("leaf_coef_offsets", (nn + 1,)).tolist()
        coef_f, coef_v = arr("leaf_coef_feature").reshape(-1).tolist(), arr("leaf_coef_value").reshape(-1).tolist()
        need(len(coef_f) == len(coef_v) and coef_off[0] == 0 and coef_off[-1] == len(coef_f)
             and all(a <= b for a, b in zip(coef_off, coef_off[1:])), "leaf_coef_offsets")
    trees = []
    for t in range(nt):
        lo, hi = offsets[t], offsets[t + 1]
        internal = [i for i in range(lo, hi) if left[i] != -1]
        leaves = [i for i in range(lo, hi) if left[i] == -1]
        rank = {i: r for r, i in enumerate(internal)}
        need(len(leaves) == len(internal) + 1, "lightgbm: leaf count")
        need(left[lo] != -1 or hi - lo == 1, "lightgbm: the root (the tree's first node) is a leaf of a larger tree")
        ids = [node_id[i] for i in leaves]
        need(sorted(ids) == list(range(len(leaves))), "lightgbm: leaf numbers")

        def code(c):
            need(lo <= c < hi, "child outside its tree")
            return rank[c] if left[c] != -1 else ~node_id[c]

        tree = lgb.LgbTree(num_leaves=len(leaves))
        value = [0.0] * len(leaves)
        for i in leaves:
            value[node_id[i]] = values[i]
            need(right[i] == -1, "leaf with a right child")
        tree.leaf_value = value
        boundaries, words = [0], []
        for i in internal:
            tree.split_feature.append(feature[i])
            need(0 <= feature[i] < nf and kinds[i] in (0, 1) and default_left[i] in (0, 1), "split fields")
            need(missing[i] in (0, 1, 2), "missing_type")
            if kinds[i] == 1:
                c0, c1 = cat_offsets[i], cat_offsets[i + 1]
                need(0 <= c0 <= c1 <= len(bits), "cat_offsets")
                tree.threshold.append(float(len(boundaries) - 1))
                words += bits[c0:c1]
                boundaries.append(len(words))
                tree.decision_type.append(1)
            else:
                tree.threshold.append(threshold[i])
                tree.decision_type.append(2 * default_left[i] + 4 * missing[i])
            tree.left.append(code(left[i]))
            tree.right.append(code(right[i]))
        tree.num_cat = len(boundaries) - 1
        tree.cat_boundaries, tree.cat_threshold = boundaries, words
        if tree.num_leaves > 1:
            lgb._check_walks(tree)
        if present:
            tree.linear = True
            tree.leaf_const, tree.leaf_terms = [0.0] * len(leaves), [[] for _ in leaves]
            for i in leaves:
                terms = list(zip(coef_f[coef_off[i]:coef_off[i + 1]], coef_v[coef_off[i]:coef_off[i + 1]]))
                need(all(0 <= f < nf for f, _ in terms), "linear feature")
                tree.leaf_const[node_id[i]], tree.leaf_terms[node_id[i]] = const[i], terms
            need(all(coef_off[i] == coef_off[i + 1] for i in internal), "terms at a split")
        trees.append(tree)
    return lgb.LgbModel(nf, k, trees, average)


# --- prediction ----------------------------------------------------------------------------------

def _leaf_of(tree: RefTree, row) -> int:
    i = 0
    while tree.left[i] != -1:
        x = row[tree.feature[i]]
        if x != x:
            right = not tree.default_left[i]
        elif i in tree.categories:
            right = 0 <= x < 16777216.0 and int(x) in tree.categories[i]
        else:
            right = not (x < tree.threshold[i])
        i = tree.right[i] if right else tree.left[i]
    return i


def margins(model: RefModel, rows: list, trees: tuple | None = None) -> np.ndarray:
    """Float32 margins [rows, outputs]; ``rows[r][f]`` is a float32 value as a Python float (NaN:
    missing). ``trees=(begin, end)`` adds only those trees (an iteration range)."""
    n, k = len(rows), model.num_outputs
    out = np.tile(model.base.astype(np.float32), (n, 1))
    if model.linear is not None:
        w, b = model.linear
        for r, row in enumerate(rows):
            for g in range(k):
                acc = F32(out[r, g] + b[g])
                for f in range(model.num_features):
                    x = row[f]
                    if x == x:
                        acc = F32(acc + F32(F32(x) * w[f, g]))
                out[r, g] = acc
        return out
    begin, end = trees or (0, len(model.trees))
    for tree in model.trees[begin:end]:
        leaves = [_leaf_of(tree, row) for row in rows]
        values = np.array([tree.leaf[i] for i in leaves], dtype=np.float32)
        if tree.vector:
            out += values
        else:
            out[:, tree.group] += values[:, 0] * tree.weight
    return out


def leaves(model: RefModel, rows: list) -> np.ndarray:
    """The leaf each row reaches in each tree, numbered as the source numbers its nodes, in float32
    as XGBoost's ``predict(pred_leaf=True)`` reports it."""
    out = np.zeros((len(rows), len(model.trees)), dtype=np.float32)
    for t, tree in enumerate(model.trees):
        for r, row in enumerate(rows):
            i = _leaf_of(tree, row)
            out[r, t] = i if tree.node_id is None else tree.node_id[i]
    return out
