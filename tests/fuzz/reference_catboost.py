"""An independent reader and walker for CatBoost models (JSON and ``.cbm``, either gzipped), for
the fuzz oracle and the tests.

Nothing here imports gbinfer. JSON is read with the standard library; ``.cbm`` is ``CBM1``, a
little-endian uint32 size, then a FlatBuffer decoded here by hand from CatBoost's schema
(``catboost/libs/model/flatbuffers/model.fbs`` and ``features.fbs``: ``TModelCore`` {0
FormatVersion, 1 ModelTrees, 2 InfoMap, 3 ModelPartIds}; ``TModelTrees`` {0 ApproxDimension, 1
TreeSplits, 2 TreeSizes, 3 TreeStartOffsets, 4 CatFeatures, 5 FloatFeatures, 6 OneHotFeatures, 7
CtrFeatures, 8 LeafValues, 9 LeafWeights, 10 NonSymmetricStepNodes, 11 NonSymmetricNodeIdToLeafId,
12 TextFeatures, 13 EstimatedFeatures, 14 Scale, 15 Bias, 16 MultiBias, 17 RepackedBins, 18
EmbeddingFeatures}). Every offset is checked against the buffer; alignment is not (a misaligned
value still has one meaning).

The walk, row by row with Python numbers, as CatBoost's model evaluates:

- binary features in split-id order: each border of each float feature (in the order the file
  lists them), each value of each one-hot feature, each border of each CTR feature;
- a float split is ``float32(x) > border``; a NaN is true only for a feature with ``HasNans``
  and ``AsTrue`` (catboost 1.2.10 checked: ``AsTrue`` without ``HasNans`` reads NaN as false);
- a one-hot split is ``hash(category) == value``, the hash the low 32 bits of CityHash64 (v1.0,
  its 0-16 byte path, written here) of the category's UTF-8, as an int32;
- a CTR: the hash of its projection (``CalcHash(h, v) = M * (h + M * v)`` over the categories'
  sign-extended hashes, then its float splits' and one-hot splits' 0/1), looked up in its
  ``ctr_data`` table; ``(good + prior_num) / (total + prior_denom)``, ``(v + shift) * scale``
  in float32; ``good``/``total`` per CTR type as CatBoost's model computes them;
- split ``d`` of a tree is bit ``d`` of the leaf index; a non-symmetric tree (``Depthwise``,
  ``Lossguide``) is CatBoost's flat step nodes: from the tree's first node, the node's split picks
  its right step (true) or its left one, a step of 0 ends the walk there, and
  ``NonSymmetricNodeIdToLeafId`` of that node is where its leaf values start; its leaf index is
  that offset less the smallest one of the tree's nodes with a step of 0, over the dimension
  (catboost's ``calc_leaf_indexes``). JSON ``trees`` (read only without ``oblivious_trees``; a node
  with a ``value`` is a leaf whatever else it holds, as catboost's JSON reader decides) are laid
  out into step nodes as CatBoost's ``TNonSymmetricTreeModelBuilder::AddTreeNode`` lays out a
  trained tree (depth first, left first; a split node with one leaf child holds that leaf's value
  itself, numbered before the other child's subtree), so that the leaves are numbered as in the
  model's ``.cbm`` (catboost 1.2.10 checked: its JSON reader gives every leaf a node of its own and
  numbers leaves depth first, so its ``calc_leaf_indexes`` of a loaded JSON differ from the
  trained model's; gbinfer numbers as the ``.cbm`` does);
- raw value ``scale * sum + bias[k]``
  (the leaf values summed in float64, tree after tree), the bias added only when one of its values
  is not 0 (catboost 1.2.10 checked: scale 0 and bias [0] give -0.0 for a negative sum).

Validity follows catboost's loader where it was checked: the FlatBuffers verifier's bounds
(every field of the schema, strings ending in a zero byte; not alignment, not a table's inline
size), a bias per dimension or none (a ``.cbm``'s scalar ``Bias`` of a multi-dimensional model
only 0), CTR table hashes as catboost parses a ui64 (``+`` then ASCII digits).

A ``.cbm``'s CTR tables follow the core when ``ModelPartIds`` is ``["static_provider_v1"]``
(``TStaticCtrProvider::Save``): a ``SaveSize`` count (uint32, or 0xFFFFFFFF then a uint64), then
per table a ``SaveSize`` byte count and a ``TCtrValueTable`` FlatBuffer (``ctr_data.fbs``: {0
ModelCtrBase, 1 IndexHashRaw, 2 CTRBlob, 3 CounterDenominator, 4 TargetClassesCount}). Its
buckets are 12 bytes (uint64 hash, uint32 row), a power of two of them, looked up as catboost's
``TDenseIndexHashView`` does (from ``hash & mask``, one bucket on until the hash or an empty
one): a table without an empty bucket would make that loop forever, so it is refused. A CTR
(``TCtrFeature{Ctr: TModelCtr{Base, TargetBorderIdx, PriorNum, PriorDenom, Shift, Scale},
Borders}``) uses the table whose ``TModelCtrBase`` equals its own.

JSON splits name their binary feature by ``split_index`` (catboost's JSON reader reads only that;
checked: it ignores a split's ``border`` and ``float_feature_index``). ``read`` raises
``reference.Invalid`` for a file whose predictions are not defined (or that uses what this walk
does not evaluate: text and embedding features, CTRs in non-symmetric trees). A non-symmetric tree
is refused where catboost would read outside it: a step past the tree's last node, a leaf offset
not a multiple of the dimension (catboost's ``CB_ENSURE``) or past the leaf values.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

try:
    from .reference import Invalid, need
except ImportError:  # the worker imports the fuzz modules from their own directory
    from reference import Invalid, need

F32 = np.float32
MAX_GZIP = 64 << 20
CATEGORIES = ["red", "green", "blue", "yellow", "violet", "black", "circle", "square", "hexagon", "unseen", "", "Red",
              "x", "0", "42", "grün"]


@dataclass
class Split:
    kind: str  # "float" | "onehot" | "ctr"
    column: int = -1  # float: input column; onehot: input column
    border: float = 0.0  # float / ctr: float32 border
    nan_true: bool = False  # float
    value: int = 0  # onehot: int32 hash
    ctr: int = -1  # ctr: index into CbModel.ctrs


@dataclass
class CbCtr:
    kind: str
    cat_columns: list  # input columns hashed, in order
    float_splits: list  # (column, float32 border, NaN is true)
    one_hot_splits: list  # (column, int32 value)
    prior_num: F32
    prior_denom: F32
    shift: F32
    scale: F32
    target_border: int
    table: dict  # uint64 hash -> list of numbers
    denominator: int


@dataclass
class NsTree:
    """A non-symmetric tree as CatBoost's flat step nodes (indexes local to the tree)."""
    splits: list  # Split per node
    steps: list  # (left, right) per node: 0 ends the walk
    leaf_of: list  # node -> leaf index (where a walk may end), else None


@dataclass
class CbModel:
    num_features: int
    num_outputs: int
    cat_columns: list  # input columns of the categorical features
    trees: list  # (list of Split or an NsTree, leaf index -> leaf values [num_outputs])
    scale: float
    bias: list
    ctrs: list = field(default_factory=list)

    @property
    def float_borders(self) -> list:
        """(column, border) of every float split: rows are made to sit exactly on them."""
        return [(s.column, s.border) for splits, _ in self.trees
                for s in (splits.splits if isinstance(splits, NsTree) else splits) if s and s.kind == "float"]


def sniff(data: bytes) -> bool:
    """A CatBoost file (after gunzipping)."""
    if data[:4] == b"CBM1":
        return True
    head = data[:64].lstrip()
    return head[:1] == b"{" and any(head[1:].lstrip().startswith(b'"' + k + b'"') for k in (
        b"features_info", b"model_info", b"oblivious_trees", b"scale_and_bias", b"ctr_data"))


def gunzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_GZIP)
    except zlib.error as exc:
        raise Invalid(f"gzip: {exc}") from None
    need(d.eof and not d.unconsumed_tail and not d.unused_data, "gzip: truncated, too large or followed by bytes")
    need(len(out) > 0, "gzip: empty")
    return out


def read(data: bytes) -> CbModel:
    data = gunzip(bytes(data))
    if data[:4] == b"CBM1":
        return read_cbm(data)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise Invalid(f"json: {exc}") from None
    return read_json(doc)


# --- CityHash64 (v1.0), strings of up to 16 bytes -------------------------------------------------

_K2, _K3, _MASK = 0x9AE16A3B2F90404F, 0xC949D7C7509E6557, (1 << 64) - 1


def _hash_len16(u: int, v: int) -> int:
    mul = 0x9DDFEA08EB382D69
    a = ((u ^ v) * mul) & _MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK
    b ^= b >> 47
    return (b * mul) & _MASK


def _rot(v: int, s: int) -> int:
    return ((v >> s) | (v << (64 - s))) & _MASK if s else v


def cityhash64(s: bytes) -> int:
    n = len(s)
    need(n <= 16, "cityhash: the reference hashes categories of at most 16 bytes")
    if n > 8:
        a = int.from_bytes(s[:8], "little")
        b = int.from_bytes(s[n - 8:], "little")
        return _hash_len16(a, _rot((b + n) & _MASK, n)) ^ b
    if n >= 4:
        a = int.from_bytes(s[:4], "little")
        return _hash_len16((n + (a << 3)) & _MASK, int.from_bytes(s[n - 4:], "little"))
    if n > 0:
        a, b, c = s[0], s[n >> 1], s[n - 1]
        y = (a + (b << 8)) & _MASK
        z = (n + (c << 2)) & _MASK
        v = ((y * _K2) ^ (z * _K3)) & _MASK
        return ((v ^ (v >> 47)) * _K2) & _MASK
    return _K2


def category_hash(value: str) -> int:
    """CatBoost's int32 hash of a category (its string form's UTF-8)."""
    h = cityhash64(value.encode()) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


# --- FlatBuffers ------------------------------------------------------------------------------------

class _Fb:
    """One table: every read bounds-checked, absent fields their schema default."""

    def __init__(self, buf: bytes, pos: int, what: str):
        self.buf, self.pos, self.what = buf, pos, what
        vt = pos - self._get("<i", pos)
        self.vt_len = self._get("<H", vt)
        need(self.vt_len >= 4 and self.vt_len % 2 == 0, f"{what}: vtable length")
        self._span(vt, self.vt_len)
        self.vt = vt

    def _span(self, pos: int, n: int):
        need(0 <= pos and n >= 0 and pos + n <= len(self.buf), f"{self.what}: reads outside the buffer")

    def _get(self, fmt: str, pos: int):
        self._span(pos, struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def _slot(self, i: int) -> int | None:
        if 4 + 2 * i + 2 > self.vt_len:
            return None
        off = struct.unpack_from("<H", self.buf, self.vt + 4 + 2 * i)[0]
        return self.pos + off if off else None

    def scalar(self, i: int, fmt: str, default):
        at = self._slot(i)
        return default if at is None else self._get(fmt, at)

    def _ref(self, i: int) -> int | None:
        at = self._slot(i)
        return None if at is None else at + self._get("<I", at)

    def _vec(self, i: int, size: int) -> tuple[int, int]:
        at = self._ref(i)
        if at is None:
            return 0, 0
        n = self._get("<I", at)
        self._span(at + 4, n * size)
        return at + 4, n

    def vector(self, i: int, fmt: str) -> list:
        """Scalars, or tuples for a struct format of several fields (``"HH"``)."""
        start, n = self._vec(i, struct.calcsize("<" + fmt))
        if len(fmt) == 1:
            return list(struct.unpack_from(f"<{n}{fmt}", self.buf, start)) if n else []
        return list(struct.iter_unpack("<" + fmt, self.buf[start:start + n * struct.calcsize("<" + fmt)]))

    def table(self, i: int, what: str) -> "_Fb | None":
        at = self._ref(i)
        return None if at is None else _Fb(self.buf, at, what)

    def tables(self, i: int, what: str) -> list:
        start, n = self._vec(i, 4)
        out = []
        for k in range(n):
            p = start + 4 * k
            out.append(_Fb(self.buf, p + self._get("<I", p), f"{what}[{k}]"))
        return out

    def _string_at(self, at: int) -> str:
        n = self._get("<I", at)
        self._span(at + 4, n + 1)
        need(self.buf[at + 4 + n] == 0, f"{self.what}: a string without its terminating zero")
        try:
            return self.buf[at + 4:at + 4 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"{self.what}: a string is not UTF-8") from None

    def string(self, i: int) -> str | None:
        at = self._ref(i)
        return None if at is None else self._string_at(at)

    def strings(self, i: int) -> list:
        start, n = self._vec(i, 4)
        return [self._string_at(start + 4 * k + self._get("<I", start + 4 * k)) for k in range(n)]


def read_cbm(data: bytes) -> CbModel:
    need(len(data) >= 8, "cbm: header")
    size = struct.unpack_from("<I", data, 4)[0]
    need(8 + size <= len(data), "cbm: the declared model size runs past the file")
    buf = data[8:8 + size]  # what follows is CatBoost's model parts (none without ModelPartIds): not read
    need(len(buf) >= 4, "cbm: root offset")
    core = _Fb(buf, struct.unpack_from("<I", buf, 0)[0], "TModelCore")
    need(core.string(0) == "FlabuffersModel_v1", "cbm: FormatVersion")
    for kv in core.tables(2, "InfoMap"):
        need(kv.string(0) is not None and kv.string(1) is not None, "cbm: InfoMap key or value missing")
    parts = core.strings(3)
    need(parts in ([], ["static_provider_v1"]), "cbm: ModelPartIds other than one static CTR provider")
    tables = _cbm_tables(data, 8 + size) if parts else {}
    trees = core.table(1, "ModelTrees")
    need(trees is not None, "cbm: ModelTrees")
    for slot in (12, 13, 18):
        need(not trees.tables(slot, f"slot {slot}"), f"cbm: ModelTrees slot {slot} (text/embedding features)")
    steps, to_leaf = trees.vector(10, "HH"), trees.vector(11, "I")
    for slot, fmt in ((3, "i"), (9, "d"), (17, "HBB")):  # not evaluated (TreeStartOffsets is
        trees.vector(slot, fmt)  # recomputed by catboost), but verified as every field is
    dim = trees.scalar(0, "<i", 0)
    floats, float_by_index = [], {}
    for t in trees.tables(5, "FloatFeatures"):
        nan = t.scalar(5, "<b", 0)
        need(nan in (0, 1, 2), "cbm: NanValueTreatment")
        floats.append((t.scalar(2, "<i", -1), [F32(b) for b in t.vector(3, "f")], nan == 2 and bool(
            t.scalar(0, "<B", 0))))
        t.string(4)  # FeatureId: only its bounds matter
        float_by_index[t.scalar(1, "<i", -1)] = floats[-1]
    cats = {}
    cat_flat = []
    for t in trees.tables(4, "CatFeatures"):
        index, flat = t.scalar(0, "<i", -1), t.scalar(1, "<i", -1)
        need(index not in cats, "cbm: categorical feature index repeated")
        cats[index] = flat
        cat_flat.append(flat)
        t.string(2)
        t.scalar(3, "<B", 1)
    num_features = _columns([f for f, _, _ in floats], cat_flat)
    binary = [Split("float", column=c, border=b, nan_true=nt) for c, borders, nt in floats for b in borders]
    for t in trees.tables(6, "OneHotFeatures"):
        index = t.scalar(0, "<i", -1)
        need(index in cats, "cbm: a one-hot feature names no categorical feature")
        binary += [Split("onehot", column=cats[index], value=v) for v in t.vector(1, "i")]
        t.strings(2)
    ctrs = []
    for t in trees.tables(7, "CtrFeatures"):
        ctr = _cbm_ctr(t.table(0, "Ctr"), float_by_index, cats, tables)
        binary += [Split("ctr", border=F32(b), ctr=len(ctrs)) for b in t.vector(1, "f")]
        ctrs.append(ctr)
    splits, sizes, leaves = trees.vector(1, "i"), trees.vector(2, "i"), trees.vector(8, "d")
    multi = trees.vector(16, "d")
    if multi:
        bias = multi
    else:  # catboost: a scalar Bias serves a one-dimensional model, or is 0
        need(dim == 1 or trees.scalar(15, "<d", 0.0) == 0, "cbm: a scalar Bias for a multi-dimensional model")
        bias = [trees.scalar(15, "<d", 0.0)] * max(dim, 1)
    if steps or to_leaf:
        need(not ctrs, "cbm: CTR features in non-symmetric trees (not walked by the reference)")
        return _ns_model(num_features, dim, cat_flat, binary, splits, sizes, steps, to_leaf, leaves,
                         trees.scalar(14, "<d", 1.0), bias)
    return _model(num_features, dim, cat_flat, binary, splits, sizes, leaves, trees.scalar(14, "<d", 1.0), bias, ctrs)


# --- .cbm CTR tables (ctr_data.fbs, features.fbs; TStaticCtrProvider::Save, TCtrValueTable) --------

class _Probe:
    """CatBoost's TDenseIndexHashView lookup: from ``hash & mask``, step by one bucket until the
    hash or an empty bucket (hash 2**64-1); the row it names."""

    def __init__(self, buckets: list, rows: list):
        self.buckets, self.rows = buckets, rows

    def get(self, h: int):
        mask = len(self.buckets) - 1
        i = h & mask
        while self.buckets[i][0] != _MASK:
            if self.buckets[i][0] == h:
                return self.rows[self.buckets[i][1]]
            i = (i + 1) & mask
        return None


def _base(b) -> tuple:
    """A TModelCtrBase as a comparable key: (type, cat indexes, float splits, one-hot splits,
    classifier); catboost finds a CTR's table by equality of these."""
    need(b is not None, "cbm: a TModelCtrBase is missing")
    kind = b.scalar(1, "<b", 0)
    need(0 <= kind < len(_CTR_TYPES), "cbm: CtrType")
    comb = b.table(0, "FeatureCombination")
    need(comb is not None, "cbm: FeatureCombination missing")
    return (_CTR_TYPES[kind], tuple(comb.vector(0, "i")), tuple((i, float(F32(x))) for i, x in comb.vector(1, "if")),
            tuple(comb.vector(2, "ii")), b.scalar(2, "<i", 0))


def _save_size(data: bytes, pos: int) -> tuple[int, int]:
    need(pos + 4 <= len(data), "cbm: a CTR size runs past the file")
    n = struct.unpack_from("<I", data, pos)[0]
    if n != 0xFFFFFFFF:
        return n, pos + 4
    need(pos + 12 <= len(data), "cbm: a CTR size runs past the file")
    return struct.unpack_from("<Q", data, pos + 4)[0], pos + 12


def _cbm_tables(data: bytes, pos: int) -> dict:
    count, pos = _save_size(data, pos)
    need(count <= len(data), "cbm: CTR table count beyond the file")
    out = {}
    for _ in range(count):
        n, pos = _save_size(data, pos)
        need(pos + n <= len(data), "cbm: a CTR table runs past the file")
        buf = data[pos:pos + n]
        pos += n
        need(len(buf) >= 4, "cbm: CTR table root offset")
        t = _Fb(buf, struct.unpack_from("<I", buf, 0)[0], "TCtrValueTable")
        key = _base(t.table(0, "ModelCtrBase"))
        need(key not in out, "cbm: two tables for one CTR")
        raw, blob = bytes(t.vector(1, "B")), bytes(t.vector(2, "B"))
        denominator, classes = t.scalar(3, "<i", 0), t.scalar(4, "<i", 0)
        need(len(raw) % 12 == 0, "cbm: IndexHashRaw not whole 12-byte buckets")
        nb = len(raw) // 12
        need(nb >= 1 and nb & (nb - 1) == 0, "cbm: bucket count not a power of two")
        buckets = [struct.unpack_from("<QI", raw, 12 * k) for k in range(nb)]
        need(any(h == _MASK for h, _ in buckets), "cbm: no empty bucket (catboost's lookup would never end)")
        kind = key[0]
        if kind in ("Borders", "Buckets"):
            need(1 <= classes <= 1 << 16 and (kind == "Buckets" or classes >= 2), "cbm: TargetClassesCount")
            fmt = f"<{classes}i"
        elif kind in ("Counter", "FeatureFreq"):
            fmt = "<i"
        else:
            fmt = "<fi"
        width = struct.calcsize(fmt)
        need(len(blob) % width == 0, "cbm: CTRBlob not whole rows")
        rows = [[float(v) for v in r] for r in struct.iter_unpack(fmt, blob)] if blob else []
        used = [h for h, _ in buckets if h != _MASK]
        need(len(set(used)) == len(used), "cbm: a hash twice")
        need(all(r < len(rows) for h, r in buckets if h != _MASK), "cbm: a bucket's row outside CTRBlob")
        out[key] = (_Probe(buckets, rows), len(fmt) - 1 if kind not in ("Borders", "Buckets") else classes,
                    denominator)
    need(pos == len(data), "cbm: bytes after the last CTR table")
    return out


def _cbm_ctr(c, floats: dict, cats: dict, tables: dict) -> CbCtr:
    need(c is not None, "cbm: TCtrFeature.Ctr missing")
    key = _base(c.table(0, "Base"))
    need(key in tables, "cbm: a CTR without a table")
    table, width, denominator = tables[key]
    kind, cat_index, float_index, one_hot_index, _ = key
    tb = c.scalar(1, "<i", 0)
    if kind in ("Borders", "Buckets"):
        need(0 <= tb < width, "cbm: TargetBorderIdx outside the table's classes")
    priors = [F32(c.scalar(i, "<f", d)) for i, d in ((2, 0.0), (3, 1.0), (4, 0.0), (5, 1.0))]
    need(all(np.isfinite(p) for p in priors), "cbm: a CTR prior, shift or scale not finite")
    need(all(i in cats for i in cat_index) and all(i in cats for i, _ in one_hot_index)
         and all(i in floats for i, _ in float_index), "cbm: a CTR element names a feature the model does not have")
    need(cat_index, "cbm: a CTR over no categorical feature")
    return CbCtr(kind, [cats[i] for i in cat_index], [(floats[i][0], F32(b), floats[i][2]) for i, b in float_index],
                 [(cats[i], v) for i, v in one_hot_index], *priors, tb, table, denominator)


def _check_bias(dim, bias):
    need(isinstance(dim, int) and dim >= 1, "ApproxDimension below 1")
    need(len(bias) == dim, "bias count differs from the dimension (catboost refuses it)")
    need(all(math.isfinite(b) for b in bias), "a bias is not finite (catboost refuses it)")


def _ns_model(num_features, dim, cat_flat, binary, splits, sizes, steps, to_leaf, leaves, scale, bias,
              ctrs=()) -> CbModel:
    """Flat step nodes (CatBoost's ``TModelTrees`` of a non-symmetric model) as ``NsTree``s."""
    _check_bias(dim, bias)
    need(len(steps) == len(to_leaf) == len(splits) == sum(sizes), "step nodes, leaf ids, splits and tree sizes "
                                                                  "disagree")
    need(all(s >= 1 for s in sizes), "a non-symmetric tree without nodes")
    # a .cbm's every split id (catboost repacks them all); a JSON leaf has none (None)
    need(all(s is None or 0 <= s < len(binary) for s in splits), "a split id outside the binary features")
    trees, at = [], 0
    for size in sizes:
        nodes = range(at, at + size)
        ends = [i for i in nodes if steps[i][0] == 0 or steps[i][1] == 0]
        for i in nodes:
            need(all(i + d < at + size for d in steps[i]), "a step past its tree's last node")
        for i in ends:
            need(to_leaf[i] % dim == 0, "a leaf id not a multiple of the dimension (catboost refuses it)")
            need(to_leaf[i] + dim <= len(leaves), "a leaf id past the leaf values")
        first = min(to_leaf[i] for i in ends)  # catboost's TreeFirstLeafOffsets
        leaf_of = [(to_leaf[i] - first) // dim if i in ends else None for i in nodes]
        values = {leaf_of[i - at]: leaves[to_leaf[i]:to_leaf[i] + dim] for i in ends}
        trees.append((NsTree([None if splits[i] is None else binary[splits[i]] for i in nodes],
                             [tuple(steps[i]) for i in nodes], leaf_of), values))
        at += size
    return CbModel(num_features, dim, cat_flat, trees, float(scale), [float(b) for b in bias], list(ctrs))


def _columns(float_flat: list, cat_flat: list) -> int:
    flat = list(float_flat) + list(cat_flat)
    need(sorted(flat) == list(range(len(flat))), "features: columns are not 0..n-1 once each")
    return len(flat)


def _model(num_features, dim, cat_flat, binary, splits, sizes, leaves, scale, bias, ctrs) -> CbModel:
    _check_bias(dim, bias)
    need(all(0 <= s <= 30 for s in sizes), "a tree size outside 0..30")
    need(sum(sizes) == len(splits), "tree sizes do not add up to the splits")
    need(all(0 <= s < len(binary) for s in splits), "a split id outside the binary features")
    need(sum(1 << s for s in sizes) * dim == len(leaves), "leaf value count")
    trees, at, lv = [], 0, 0
    for s in sizes:
        n = 1 << s
        trees.append(([binary[i] for i in splits[at:at + s]],
                      [leaves[lv + k * dim: lv + (k + 1) * dim] for k in range(n)]))
        at, lv = at + s, lv + n * dim
    return CbModel(num_features, dim, cat_flat, trees, float(scale), [float(b) for b in bias], ctrs)


# --- JSON -------------------------------------------------------------------------------------------

def _int(v, what) -> int:
    need(isinstance(v, int) and not isinstance(v, bool), f"{what}: not an integer")
    return v


def _num(v, what) -> float:
    need(isinstance(v, (int, float)) and not isinstance(v, bool), f"{what}: not a number")
    try:
        return float(v)
    except OverflowError:
        raise Invalid(f"{what}: too large") from None


def _f32(v, what) -> F32:
    x = _num(v, what)
    with np.errstate(over="ignore"):
        return F32(x)


def _list(v, what) -> list:
    need(isinstance(v, list), f"{what}: not a list")
    return v


def _dict(v, what) -> dict:
    need(isinstance(v, dict), f"{what}: not an object")
    return v


def read_json(doc) -> CbModel:
    doc = _dict(doc, "document")
    info = _dict(doc.get("features_info"), "features_info")
    for key in ("text_features", "embedding_features", "estimated_features"):
        need(not info.get(key), f"json: {key}")
    floats = {}  # feature_index -> (column, borders, nan_true)
    float_list = []
    for i, f in enumerate(_list(info.get("float_features", []), "float_features")):
        f = _dict(f, "float_feature")
        nan = f.get("nan_value_treatment", "AsIs")
        need(nan in ("AsIs", "AsFalse", "AsTrue"), "nan_value_treatment")
        has_nans = f.get("has_nans", False)
        need(isinstance(has_nans, bool), "has_nans")
        entry = (_int(f.get("flat_feature_index"), "flat_feature_index"),
                 [_f32(b, "border") for b in _list(f.get("borders", []), "borders")], has_nans and nan == "AsTrue")
        index = _int(f.get("feature_index"), "feature_index")
        need(index not in floats, "float feature_index repeated")
        floats[index] = entry
        float_list.append(entry)
    cats, cat_flat, one_hot = {}, [], []
    for f in _list(info.get("categorical_features", []), "categorical_features"):
        f = _dict(f, "categorical_feature")
        index, flat = _int(f.get("feature_index"), "feature_index"), _int(f.get("flat_feature_index"), "flat")
        need(index not in cats, "categorical feature_index repeated")
        cats[index] = flat
        cat_flat.append(flat)
        if "values" in f:
            one_hot += [(flat, _int(v, "one-hot value")) for v in _list(f["values"], "values")]
    need(all(-(1 << 31) <= v < 1 << 31 for _, v in one_hot), "one-hot value outside int32")
    num_features = _columns([c for c, _, _ in float_list], cat_flat)
    tables = {}
    for k, t in _dict(doc.get("ctr_data", {}), "ctr_data").items():
        name = _table_name(k)
        need(name not in tables, "two ctr_data tables for one CTR")
        tables[name] = _ctr_table(t)
    ctrs, ctr_binary = [], []
    for c in _list(info.get("ctrs", []), "ctrs"):
        ctr, borders = _ctr(_dict(c, "ctr"), floats, cats, tables)
        ctr_binary += [Split("ctr", border=b, ctr=len(ctrs)) for b in borders]
        ctrs.append(ctr)
    binary = [Split("float", column=c, border=b, nan_true=nt) for c, borders, nt in float_list for b in borders]
    binary += [Split("onehot", column=c, value=v) for c, v in one_hot] + ctr_binary
    splits, sizes, leaves, per_tree = [], [], [], []
    n_float = sum(len(b) for _, b, _ in float_list)
    ranges = {"FloatFeature": (0, n_float), "OneHotFeature": (n_float, n_float + len(one_hot)),
              "OnlineCtr": (n_float + len(one_hot), len(binary))}
    def split_id(s) -> int:
        s = _dict(s, "split")
        kind = s.get("split_type")
        need(kind in ranges, f"split_type {kind!r:.30}")
        idx = _int(s.get("split_index"), "split_index")
        lo, hi = ranges[kind]
        need(lo <= idx < hi, "split_index outside its kind's binary features")
        return idx

    sb = doc.get("scale_and_bias", [1.0, [0.0]])
    need(isinstance(sb, list) and len(sb) == 2, "scale_and_bias")
    scale = _num(sb[0], "scale")
    bias = [_num(b, "bias") for b in _list(sb[1], "bias")]
    if "oblivious_trees" not in doc:  # catboost reads ``trees`` only without ``oblivious_trees``
        dim, steps, to_leaf = _build_ns(_list(doc["trees"], "trees"), split_id, splits, sizes, leaves)
        dim = dim or max(len(bias), 1)
        return _ns_model(num_features, dim, cat_flat, binary, splits, sizes, steps, to_leaf, leaves, scale,
                         bias or [0.0] * dim, ctrs)
    for t in _list(doc.get("oblivious_trees"), "oblivious_trees"):
        t = _dict(t, "tree")
        need("splits" in t, "tree splits missing")
        ts = [] if t["splits"] is None else _list(t["splits"], "splits")
        splits += [split_id(s) for s in ts]
        sizes.append(len(ts))
        values = [_num(v, "leaf value") for v in _list(t.get("leaf_values"), "leaf_values")]
        per_tree.append(len(values))
        leaves += values
    if sizes:
        need(all(0 <= s <= 30 for s in sizes), "a tree size outside 0..30")
        dim = per_tree[0] // (1 << sizes[0])
        need(all(n == (1 << s) * dim for s, n in zip(sizes, per_tree)), "leaf value counts differ from 2**depth*dim")
    else:
        dim = max(len(bias), 1)
    if not bias:
        bias = [0.0] * max(dim, 1)
    return _model(num_features, dim, cat_flat, binary, splits, sizes, leaves, scale, bias, ctrs)


def _build_ns(trees: list, split_id, splits: list, sizes: list, leaves: list) -> tuple:
    """Nested JSON trees as flat step nodes, as CatBoost's ``AddTreeNode`` lays them out; returns
    (dimension or 0 when no leaf says, steps, leaf ids) and fills splits, sizes and leaf values."""
    steps, to_leaf, dims = [], [], set()

    def value(node) -> int:
        v = node.get("value")
        v = [_num(x, "leaf value") for x in _list(v, "leaf value")] if isinstance(v, list) else [_num(v, "leaf value")]
        dims.add(len(v))
        need(len(dims) == 1, "leaves of different dimensions")
        at = len(leaves)
        leaves.extend(v)
        return at

    def is_split(node) -> bool:  # catboost's JSON reader: a node with a value is a leaf, whatever else it has
        return "value" not in _dict(node, "node")

    for tree in trees:
        first = len(steps)
        # (node, parent node id and side to link, or None): depth first, left first, with a stack
        stack = [(_dict(tree, "tree"), None)]
        while stack:
            node, link = stack.pop()
            at = len(steps)
            if link is not None:
                parent, side = link
                pair = list(steps[parent])
                pair[side] = at - parent
                steps[parent] = tuple(pair)
            if not is_split(node):
                splits.append(None)  # catboost's reader puts bin feature 0 there; never evaluated
                steps.append((0, 0))
                to_leaf.append(value(node))
                continue
            need("left" in node and "right" in node, "a split node without both children")
            left, right = node["left"], node["right"]
            splits.append(split_id(node["split"]))
            steps.append((0, 0))
            if is_split(left) == is_split(right):
                to_leaf.append(0xFFFFFFFF)
                stack += [(right, (at, 1)), (left, (at, 0))]
            elif is_split(right):
                to_leaf.append(value(left))
                stack.append((right, (at, 1)))
            else:
                to_leaf.append(value(right))
                stack.append((left, (at, 0)))
        need(len(steps) - first < 1 << 16, "a tree of more nodes than a ui16 step reaches")
        sizes.append(len(steps) - first)
    for d in dims:
        need(len(leaves) % d == 0, "leaf values")
    return (dims.pop() if dims else 0), steps, to_leaf


_CTR_TYPES = ("Borders", "Buckets", "BinarizedTargetMeanValue", "FloatTargetMeanValue", "Counter", "FeatureFreq")


def _ctr_table(t) -> tuple:
    t = _dict(t, "ctr_data table")
    stride = _int(t.get("hash_stride"), "hash_stride")
    denominator = _int(t.get("counter_denominator"), "counter_denominator")
    flat = _list(t.get("hash_map"), "hash_map")
    need(stride >= 2 and len(flat) % stride == 0, "hash_map does not divide into rows")
    table = {}
    for r in range(0, len(flat), stride):
        key = flat[r]
        # catboost parses the string as ui64: ASCII digits after an optional '+', nothing else
        digits = key[1:] if isinstance(key, str) and key[:1] == "+" else key
        need(isinstance(digits, str) and digits.isascii() and digits.isdigit(), "hash_map: a hash is not a "
                                                                                  "decimal string")
        h = int(digits)
        need(h < 1 << 64, "hash_map: hash beyond 64 bits")
        values = [_num(v, "hash_map value") for v in flat[r + 1:r + stride]]
        if h == (1 << 64) - 1:  # an empty bucket of CatBoost's dense hash
            continue
        need(h not in table, "hash_map: a hash twice")
        table[h] = values
    return table, stride - 1, denominator


def _combination(elements: list) -> tuple:
    """(cat feature indexes, (float feature index, float32 border), (cat feature index, value)):
    a CTR's elements kind by kind, each kind in the order listed."""
    cats, floats, one_hot = [], [], []
    for e in _list(elements, "elements"):
        e = _dict(e, "element")
        what = e.get("combination_element")
        if what == "cat_feature_value":
            cats.append(_int(e.get("cat_feature_index"), "cat_feature_index"))
        elif what == "float_feature":
            floats.append((_int(e.get("float_feature_index"), "float_feature_index"), _f32(e.get("border"), "border")))
        elif what == "cat_feature_exact_value":
            one_hot.append((_int(e.get("cat_feature_index"), "cat_feature_index"), _int(e.get("value"), "value")))
        else:
            raise Invalid("combination_element")
    return tuple(cats), tuple(floats), tuple(one_hot)


def _table_name(key: str) -> tuple:
    """catboost parses every ctr_data key (checked: an unparsable one fails the load) and finds a
    CTR's table by its type and combination (its ``identifier`` field is not read: checked)."""
    try:
        doc = json.loads(key)
    except (ValueError, RecursionError):
        raise Invalid("ctr_data: a key is not JSON") from None
    doc = _dict(doc, "ctr_data key")
    kind = doc.get("type")
    need(isinstance(kind, str), "ctr_data key: type")
    return (kind,) + _combination(doc.get("identifier"))


def _ctr(c: dict, floats: dict, cats: dict, tables: dict):
    kind = c.get("ctr_type")
    need(kind in _CTR_TYPES, "ctr_type")
    combination = _combination(c.get("elements"))
    need((kind,) + combination in tables, "a CTR without a table for its type and combination")
    table, width, denominator = tables[(kind,) + combination]
    tb = _int(c.get("target_border_idx"), "target_border_idx")
    need({"Borders": 1, "Buckets": 1, "Counter": 1, "FeatureFreq": 1}.get(kind, 2) <= width, "ctr row too narrow")
    if kind in ("Borders", "Buckets"):
        need(0 <= tb < width, "target_border_idx outside the table's classes")
    priors = []
    for key in ("prior_numerator", "prior_denomerator", "shift", "scale"):
        priors.append(_f32(c.get(key), key))
    cat_index, float_index, one_hot_index = combination
    need(all(i in cats for i in cat_index) and all(i in cats for i, _ in one_hot_index)
         and all(i in floats for i, _ in float_index), "a CTR element names a feature the model does not have")
    need(all(-(1 << 31) <= v < 1 << 31 for _, v in one_hot_index), "exact value outside int32")
    cat_cols = [cats[i] for i in cat_index]
    float_splits = [(floats[i][0], border, floats[i][2]) for i, border in float_index]
    one_hot = [(cats[i], v) for i, v in one_hot_index]
    need(cat_cols, "a CTR over no categorical feature")
    borders = [_f32(b, "ctr border") for b in _list(c.get("borders", []), "ctr borders")]
    return CbCtr(kind, cat_cols, float_splits, one_hot, *priors, tb, table, denominator), borders


# --- the walk ---------------------------------------------------------------------------------------

_M = 0x4906BA494954CB65


def _calc_hash(a: int, b: int) -> int:
    return (_M * ((a + _M * b) & _MASK)) & _MASK


def _float_bit(x: float, border, nan_true: bool) -> bool:
    x = F32(x)
    return bool(nan_true) if x != x else bool(x > border)


def ctr_value(ctr: CbCtr, row: list, hashes: dict) -> F32:
    h = 0
    for c in ctr.cat_columns:
        h = _calc_hash(h, hashes[c] & _MASK)  # the int32 hash sign-extended to 64 bits
    for c, border, nan_true in ctr.float_splits:
        h = _calc_hash(h, int(_float_bit(row[c], border, nan_true)))
    for c, value in ctr.one_hot_splits:
        h = _calc_hash(h, int(hashes[c] == value))
    counts = ctr.table.get(h)
    tb = ctr.target_border
    if ctr.kind in ("Counter", "FeatureFreq"):
        good, total = (counts[0] if counts else 0.0), float(ctr.denominator)
    elif counts is None:
        good, total = 0.0, 0.0
    elif ctr.kind == "Borders":
        good = counts[1] if len(counts) == 2 else sum(counts[tb + 1:])
        total = sum(counts)
    elif ctr.kind == "Buckets":
        good, total = counts[tb], sum(counts)
    else:
        good, total = counts[0], counts[1]
    with np.errstate(all="ignore"):
        v = (F32(good) + ctr.prior_num) / (F32(total) + ctr.prior_denom)
        return (v + ctr.shift) * ctr.scale


def leaf_indexes(model: CbModel, row: list) -> list:
    hashes = {c: category_hash(row[c]) for c in model.cat_columns}
    ctr_values = {}
    out = []

    def bit(s) -> bool:
        if s.kind == "float":
            return _float_bit(row[s.column], s.border, s.nan_true)
        if s.kind == "onehot":
            return hashes[s.column] == s.value
        if s.ctr not in ctr_values:
            ctr_values[s.ctr] = ctr_value(model.ctrs[s.ctr], row, hashes)
        return bool(ctr_values[s.ctr] > s.border)

    for splits, _ in model.trees:
        if isinstance(splits, NsTree):
            node = 0
            while splits.steps[node] != (0, 0):
                step = splits.steps[node][1 if bit(splits.splits[node]) else 0]
                if step == 0:
                    break
                node += step
            out.append(splits.leaf_of[node])
            continue
        leaf = 0
        for d, s in enumerate(splits):
            leaf |= int(bit(s)) << d
        out.append(leaf)
    return out


def margins(model: CbModel, rows: list, trees: tuple | None = None) -> np.ndarray:
    """float64 [rows, outputs]: CatBoost's RawFormulaVal, of trees ``[begin, end)`` when given
    (``ntree_start``, ``ntree_end``: the bias belongs to the range that starts at tree 0)."""
    begin, end = trees or (0, len(model.trees))
    out = np.zeros((len(rows), model.num_outputs), dtype=np.float64)
    for r, row in enumerate(rows):
        total = [0.0] * model.num_outputs
        for (_, leaves), leaf in list(zip(model.trees, leaf_indexes(model, row)))[begin:end]:
            for k in range(model.num_outputs):
                total[k] += leaves[leaf][k]
        # catboost adds none of an all-zero bias (-0.0 stays)
        with_bias = begin == 0 and any(b != 0 for b in model.bias)
        for k in range(model.num_outputs):
            out[r, k] = model.scale * total[k] + model.bias[k] if with_bias else model.scale * total[k]
    return out


def leaves(model: CbModel, rows: list) -> np.ndarray:
    return np.array([leaf_indexes(model, row) for row in rows], dtype=np.int64).reshape(len(rows), len(model.trees))


def rows_from(X: np.ndarray, cats: dict) -> list:
    """Rows as the walk takes them: float32 values as Python floats, categories as strings."""
    rows = X.astype(np.float64).tolist()
    for c, values in cats.items():
        for row, v in zip(rows, values):
            row[c] = str(v)
    return rows


def inputs(model: CbModel) -> tuple[list, np.ndarray]:
    """Fixed rows for a model: random, integer-like and special floats, rows on the float splits'
    borders, categories from ``CATEGORIES`` (seen and unseen ones). Returns the rows the walk
    takes and the object array handed to gbinfer."""
    n = model.num_features
    rng = np.random.default_rng(12345)
    blocks = [rng.normal(0, 2, (10, n)), rng.integers(-2, 3, (4, n)).astype(np.float64), np.full((1, n), np.nan),
              np.zeros((1, n)), np.full((1, n), -0.0), np.full((1, n), np.inf), np.full((1, n), -np.inf),
              np.full((1, n), 3e38)]
    X = np.concatenate(blocks).astype(np.float32)
    X[:14][rng.random((14, n)) < 0.15] = np.nan
    borders = model.float_borders
    extra = []
    for i in (rng.choice(len(borders), min(8, len(borders)), replace=False) if borders else []):
        row = rng.normal(0, 2, n).astype(np.float32)
        row[borders[i][0]] = borders[i][1]
        extra.append(row)
    if extra:
        X = np.concatenate([X, np.array(extra, dtype=np.float32)])
    cats = {c: [CATEGORIES[int(k)] for k in rng.integers(0, len(CATEGORIES), len(X))] for c in model.cat_columns}
    data = X.astype(object)
    for c, values in cats.items():
        data[:, c] = values
    return rows_from(X, cats), data
