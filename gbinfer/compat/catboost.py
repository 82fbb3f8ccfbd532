"""CatBoost models: JSON (``save_model(format="json")``) and ``.cbm`` (its default binary format).

``.cbm``: the 4 bytes ``CBM1``, a little-endian uint32 size N, then N bytes of FlatBuffer whose
root is ``NCatBoostFbs.TModelCore`` (schema: ``catboost/libs/model/flatbuffers/model.fbs`` and
``features.fbs``). Both formats are read into the same plain description (``_Spec``), then
checked and built into an ``Oblivious`` booster.

Supported: symmetric (oblivious) and non-symmetric (Depthwise, Lossguide) trees over float
features (every NaN treatment), one-hot categorical features and CTR features over categorical
features and their combinations (in a ``.cbm`` the CTR tables follow the FlatBuffer: see
``catboost_ctr``); multi-output leaves, ``scale_and_bias``. Refused with
``UnsupportedModelError``: text, embedding and estimated features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from ..errors import DataError, ModelFormatError, UnsupportedModelError
from ..model import FeatureInfo, Model, ModelMeta
from ..objective import Objective
from ..oblivious import Ctr, Oblivious
from . import catboost_ctr
from .flatbuffers import Table

MAGIC = b"CBM1"
_FORMAT_VERSION = "FlabuffersModel_v1"  # CatBoost's own spelling
_NAN_TREATMENTS = ("AsIs", "AsFalse", "AsTrue")
_STEP_NODE = np.dtype([("left", "<u2"), ("right", "<u2")])
_MULTI_TARGET = ("MultiRMSE",)  # regressions on several targets, each with its own CTR tables
_HASH = re.compile(r"\+?[0-9]+")


@dataclass
class _FloatFeature:
    index: int
    flat_index: int
    borders: np.ndarray  # float32
    nan_treatment: str
    name: str
    has_nans: bool


@dataclass
class _Spec:
    """What both formats hold, before checks."""

    floats: list = field(default_factory=list)
    categorical: list = field(default_factory=list)  # (index, flat_index, name)
    one_hot: list = field(default_factory=list)  # (categorical feature index, int32 hashes), in split-id order
    ctrs: list = field(default_factory=list)  # Ctr fields before columns are resolved, with float32 borders
    # a .cbm's identifier, or a JSON CTR's (type, cats, floats, one-hots) -> (hashes, counts, denominator)
    ctr_tables: dict = field(default_factory=dict)
    ctr_field: str = "features_info/ctrs"  # where the CTR descriptions are, for messages
    unsupported: list = field(default_factory=list)  # (field, what) of parts gbinfer does not evaluate
    tree_splits: np.ndarray = None
    tree_sizes: np.ndarray = None
    leaf_values: np.ndarray = None
    # CatBoost's LeafWeights, one per leaf in the order of leaf_values' leaves; None when the file
    # holds none or holds some that are not finite weights >= 0 (the model then predicts, and
    # TreeSHAP refuses it): CatBoost reads them only to explain
    leaf_weights: np.ndarray = None
    # non-symmetric trees only: per node its children and leaf within its tree (see Oblivious)
    node_left: np.ndarray = None
    node_right: np.ndarray = None
    node_leaf: np.ndarray = None
    tree_leaves: np.ndarray = None
    dim: int = 1
    scale: float = 1.0
    bias: list = field(default_factory=lambda: [0.0])
    params: dict = field(default_factory=dict)
    version: str = ""


def load(path) -> Model:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    return loads(data, str(path))


def loads(data: bytes, source: str | None = None) -> Model:
    """A model from the bytes of a ``.cbm`` or CatBoost JSON file (either may be gzipped)."""
    data = gunzip(bytes(data), source)
    spec = _from_cbm(data, source) if data[:4] == MAGIC else _from_json(data, source)
    return _build(spec, source)


def from_object(obj) -> Model:
    """A model from an in-memory CatBoost model, through its own ``.cbm`` serialisation."""
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    fitted = getattr(obj, "is_fitted", None)
    if fitted is None or not hasattr(obj, "_serialize_model"):
        raise DataError(f"load() takes a CatBoost, CatBoostClassifier or CatBoostRegressor model, got {kind}")
    if not fitted():
        raise DataError(f"load() got an unfitted {kind}: call fit() (or load_model()) on it first")
    source = f"<in-memory {type(obj).__name__}>"
    return _build(_from_cbm(bytes(obj._serialize_model()), source), source)


def is_catboost_json(head: bytes) -> bool:
    return re.match(rb'\s*\{\s*"(features_info|model_info|oblivious_trees|scale_and_bias|ctr_data)"', head) is not None


def gunzip(data: bytes, source: str | None, limit: int = 1 << 32) -> bytes:
    """``data`` itself, or its gzip content (told by the magic bytes), at most ``limit`` bytes."""
    if data[:2] != b"\x1f\x8b":
        return data
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit)
    except zlib.error as exc:
        raise ModelFormatError(source, None, f"the gzip stream is damaged: {exc}") from None
    if d.unconsumed_tail:
        raise ModelFormatError(source, None, f"the gzip content is larger than {limit} bytes")
    if not d.eof:
        raise ModelFormatError(source, None, "the gzip stream is truncated")
    if not out:
        raise ModelFormatError(source, None, "the gzip content is empty")
    return out


# --- .cbm --------------------------------------------------------------------------------------

def _from_cbm(data: bytes, source) -> _Spec:
    if len(data) < 8:
        raise ModelFormatError(source, "header", f"the file is {len(data)} bytes; a .cbm header is 8")
    size = int.from_bytes(data[4:8], "little")
    if size == 0xFFFFFFFF or 8 + size > len(data):
        raise ModelFormatError(source, "header", f"declares a {size}-byte model but the file holds {len(data) - 8} "
                                                 "bytes after the header (truncated?)")
    core = Table.root(data[8:8 + size], source, "TModelCore")
    version = core.string(0, "FormatVersion")
    if version != _FORMAT_VERSION:
        raise ModelFormatError(source, "TModelCore/FormatVersion", f"is {version!r}, expected {_FORMAT_VERSION!r}")
    trees = core.table(1, "ModelTrees")
    if trees is None:
        raise ModelFormatError(source, "TModelCore/ModelTrees", "is missing")
    spec = _Spec()
    info = {}
    for kv in core.tables(2, "InfoMap"):
        key, value = kv.string(0, "Key"), kv.string(1, "Value")
        if key is None or value is None:
            raise ModelFormatError(source, kv.path, "a key or value is missing")
        info[key] = value
    spec.params = _params(info.get("params"), source, "TModelCore/InfoMap/params")
    spec.version = info.get("catboost_version_info", "")
    parts = core.strings(3, "ModelPartIds")
    if parts not in ([], [catboost_ctr.PART_ID]):
        raise UnsupportedModelError(source, "TModelCore/ModelPartIds", f"are {parts[:4]}; gbinfer reads "
                                                                       f"[{catboost_ctr.PART_ID!r}] or none")
    if parts:
        spec.ctr_tables = catboost_ctr.read_tables(data, 8 + size, source)

    spec.dim = trees.scalar(0, "i", 0, "ApproxDimension")  # the schema default: absent is 0, refused
    spec.tree_splits = trees.array(1, np.int32, "TreeSplits")
    spec.tree_sizes = trees.array(2, np.int32, "TreeSizes")
    for t in trees.tables(5, "FloatFeatures"):
        nan = t.scalar(5, "b", 0, "NanValueTreatment")
        spec.floats.append(_FloatFeature(
            t.scalar(1, "i", -1, "Index"), t.scalar(2, "i", -1, "FlatIndex"), t.array(3, np.float32, "Borders"),
            _NAN_TREATMENTS[nan] if 0 <= nan < 3 else f"<{nan}>", t.string(4, "FeatureId") or "",
            bool(t.scalar(0, "B", 0, "HasNans"))))
    for t in trees.tables(4, "CatFeatures"):
        spec.categorical.append((t.scalar(0, "i", -1, "Index"), t.scalar(1, "i", -1, "FlatIndex"),
                                 t.string(2, "FeatureId") or ""))
        t.scalar(3, "B", 1, "UsedInModel")
    for t in trees.tables(6, "OneHotFeatures"):
        spec.one_hot.append((t.scalar(0, "i", -1, "Index"), t.array(1, np.int32, "Values")))
        t.strings(2, "StringValues")
    # fields not evaluated (CatBoost recomputes TreeStartOffsets) are bounds-checked all the same:
    # CatBoost's verifier refuses a file whose offsets or lengths there are damaged
    for slot, dtype, name in ((3, np.int32, "TreeStartOffsets"), (17, np.uint32, "RepackedBins")):
        trees.array(slot, dtype, name)
    spec.leaf_values = trees.array(8, np.float64, "LeafValues")
    weights = trees.array(9, np.float64, "LeafWeights")
    if (isinstance(spec.dim, int) and spec.dim >= 1 and len(weights) * spec.dim == len(spec.leaf_values)
            and np.all(np.isfinite(weights) & (weights >= 0))):
        spec.leaf_weights = weights
    spec.ctrs = [catboost_ctr.ctr_feature(t, source) for t in trees.tables(7, "CtrFeatures")]
    spec.ctr_field = "ModelTrees/CtrFeatures"
    steps = trees.array(10, _STEP_NODE, "NonSymmetricStepNodes")
    if len(steps) or len(trees.array(11, np.uint32, "NonSymmetricNodeIdToLeafId")):
        _non_symmetric_from_cbm(trees, steps, spec, source)
    for slot, name, what in ((12, "TextFeatures", "text features"),
                             (13, "EstimatedFeatures", "estimated (text or embedding) features"),
                             (18, "EmbeddingFeatures", "embedding features")):
        if trees.tables(slot, name):
            spec.unsupported.append((f"ModelTrees/{name}", what))
    spec.scale = trees.scalar(14, "d", 1.0, "Scale")
    multi = trees.array(16, np.float64, "MultiBias")
    spec.bias = list(multi) if len(multi) else [trees.scalar(15, "d", 0.0, "Bias")]
    if spec.dim >= 1 and len(multi) not in (0, spec.dim):  # (a dimension below 1 is refused in _build)
        raise ModelFormatError(source, "ModelTrees/MultiBias", f"holds {len(multi)} biases for a {spec.dim}-"
                                                               "dimensional model; expected one per dimension")
    if not len(multi) and spec.dim > 1 and spec.bias[0] != 0:  # CatBoost's own rule for the scalar
        raise ModelFormatError(source, "ModelTrees/Bias", f"is {spec.bias[0]!r} for a {spec.dim}-dimensional "
                                                          "model without MultiBias; expected 0")
    return spec


def _non_symmetric_from_cbm(trees: Table, steps: np.ndarray, spec: _Spec, source) -> None:
    """CatBoost's step nodes as ``Oblivious`` nodes: a step of 0 ends the walk at the node, any
    other step is the child's distance ahead. As CatBoost's ``TModelTrees`` reads them, a node
    with a step of 0 holds in ``NonSymmetricNodeIdToLeafId`` the offset of its leaf's values (a
    multiple of the dimension), and a tree's leaf index is that offset less the smallest such
    offset of the tree, over the dimension (``TreeFirstLeafOffsets``, ``calc_leaf_indexes``); other
    nodes' ids are not read. Each tree's span of leaf values is copied out in tree order, so that
    the trees' leaves follow each other as ``Oblivious`` lays them out."""
    where = "ModelTrees/NonSymmetricNodeIdToLeafId"
    to_leaf = trees.array(11, np.uint32, "NonSymmetricNodeIdToLeafId").astype(np.int64)
    sizes, dim = np.asarray(spec.tree_sizes, dtype=np.int64), spec.dim
    n = len(spec.tree_splits)
    if len(steps) != n or len(to_leaf) != n or int(sizes.sum()) != n or (len(sizes) and sizes.min() < 1):
        raise ModelFormatError(source, "ModelTrees/NonSymmetricStepNodes",
                               f"{len(steps)} step nodes, {len(to_leaf)} leaf ids and {n} splits do not match "
                               f"the tree sizes (adding up to {int(sizes.sum())})")
    if not isinstance(dim, int) or dim < 1:
        raise ModelFormatError(source, "ApproxDimension", f"is {dim!r}, expected 1 to 65536")
    # every split id, also of nodes that end every walk: CatBoost repacks them all at load
    binary = sum(len(f.borders) for f in spec.floats) + sum(len(v) for _, v in spec.one_hot) + sum(
        len(c["borders"]) for c in spec.ctrs)
    splits = np.asarray(spec.tree_splits, dtype=np.int64)
    if n and (splits.min() < 0 or splits.max() >= binary):
        at = int(np.flatnonzero((splits < 0) | (splits >= binary))[0])
        raise ModelFormatError(source, f"ModelTrees/TreeSplits[{at}]", f"is {int(splits[at])}, not one of the "
                                                                       f"model's {binary} binary features")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    local = np.arange(n) - np.repeat(starts, sizes)
    left = np.where(steps["left"] == 0, -1, local + steps["left"])
    right = np.where(steps["right"] == 0, -1, local + steps["right"])
    stops = (left == -1) | (right == -1)
    values = spec.leaf_values
    bad = stops & ((to_leaf % dim != 0) | (to_leaf + dim > len(values)))
    if np.any(bad):
        at = int(np.flatnonzero(bad)[0])
        raise ModelFormatError(source, f"{where}[{at}]", f"is {int(to_leaf[at])}, not the start of a leaf's values "
                                                         f"({dim} per leaf, {len(values)} in the model)")
    tree = np.repeat(np.arange(len(sizes)), sizes)
    first = np.full(len(sizes), len(values), dtype=np.int64)
    last = np.full(len(sizes), -1, dtype=np.int64)
    np.minimum.at(first, tree[stops], to_leaf[stops])
    np.maximum.at(last, tree[stops], to_leaf[stops])
    if np.any(last < 0):
        at = int(np.flatnonzero(last < 0)[0])
        raise ModelFormatError(source, "ModelTrees/NonSymmetricStepNodes", f"tree {at} has no node where a walk "
                                                                            "stops")
    tree_leaves = (last - first) // dim + 1
    if int(tree_leaves.sum()) * dim > max(4 * len(values), 1 << 16):
        raise ModelFormatError(source, where, f"the trees' leaf ids span {int(tree_leaves.sum()) * dim} leaf values "
                                              f"of the {len(values)} in the model: they overlap too much")
    spec.leaf_values = np.concatenate([values[a:b + dim] for a, b in zip(first, last)]) if len(sizes) else values
    if spec.leaf_weights is not None:  # one weight per leaf, indexed by the leaf's value offset / dimension
        w = spec.leaf_weights
        spec.leaf_weights = np.concatenate([w[a // dim:b // dim + 1] for a, b in zip(first, last)] + [w[:0]])
    spec.node_left, spec.node_right = left, right
    spec.node_leaf = np.where(stops, (to_leaf - first[tree]) // dim, -1)
    spec.tree_leaves = tree_leaves


# --- JSON --------------------------------------------------------------------------------------

def _from_json(data: bytes, source) -> _Spec:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ModelFormatError(source, None, f"neither a .cbm (no 'CBM1' magic) nor valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "features_info" not in doc:
        raise ModelFormatError(source, "features_info", "is missing: not a CatBoost JSON model")
    spec = _Spec()
    info = _get(doc, "model_info", dict, source, {})
    spec.params = info.get("params", {})
    if not isinstance(spec.params, dict):
        raise ModelFormatError(source, "model_info/params", "is not an object")
    version = info.get("catboost_version_info", "")
    spec.version = version if isinstance(version, str) else ""
    features = _get(doc, "features_info", dict, source)
    for i, f in enumerate(_get(features, "float_features", list, source, [])):
        where = f"features_info/float_features[{i}]"
        _check_type(f, dict, source, where)
        b = _numbers(_get(f, "borders", list, source, [], where), source, f"{where}/borders")
        b32 = b.astype(np.float32)
        if not np.array_equal(b32.astype(np.float64), b, equal_nan=True):
            raise ModelFormatError(source, f"{where}/borders", "are not float32 values (CatBoost stores float32)")
        spec.floats.append(_FloatFeature(_int(f, "feature_index", source, where),
                                         _int(f, "flat_feature_index", source, where), b32,
                                         _get(f, "nan_value_treatment", str, source, "AsIs", where),
                                         _get(f, "feature_id", str, source, "", where),
                                         _get(f, "has_nans", bool, source, False, where)))
    for i, f in enumerate(_get(features, "categorical_features", list, source, [])):
        where = f"features_info/categorical_features[{i}]"
        _check_type(f, dict, source, where)
        index = _int(f, "feature_index", source, where)
        spec.categorical.append((index, _int(f, "flat_feature_index", source, where),
                                 _get(f, "feature_id", str, source, "", where)))
        values = _get(f, "values", list, source, [], where)
        if values:
            if not all(isinstance(v, int) and not isinstance(v, bool) and -(1 << 31) <= v < 1 << 31
                       for v in values):
                raise ModelFormatError(source, f"{where}/values", "are not all 32-bit integers (category hashes)")
            spec.one_hot.append((index, np.array(values, dtype=np.int32)))
    for i, ctr in enumerate(_get(features, "ctrs", list, source, [])):
        spec.ctrs.append(_ctr(ctr, source, f"features_info/ctrs[{i}]"))
    _refuse_multi_target_ctrs(spec.ctrs, spec.params, source)
    for key, table in _get(doc, "ctr_data", dict, source, {}).items():
        name = _ctr_key(key, source)
        if name in spec.ctr_tables:
            raise ModelFormatError(source, f"ctr_data/{key[:80]}", "names the same CTR as another table")
        spec.ctr_tables[name] = _ctr_table(table, source, f"ctr_data/{key[:80]}")
    for key, what in (("text_features", "text features"),
                      ("embedding_features", "embedding features"), ("estimated_features", "estimated features")):
        if features.get(key):
            spec.unsupported.append((f"features_info/{key}", what))
    resolve = _SplitResolver(spec, source)
    if "oblivious_trees" not in doc and "trees" in doc:  # CatBoost reads ``trees`` only without the other
        _non_symmetric_from_json(_get(doc, "trees", list, source), _scale_and_bias(doc, spec, source), resolve,
                                 source)
        return _bias_count(doc, spec, source)
    trees = _get(doc, "oblivious_trees", list, source)
    splits, sizes, leaves, weights = [], [], [], []
    for t, tree in enumerate(trees):
        where = f"oblivious_trees[{t}]"
        _check_type(tree, dict, source, where)
        if "splits" not in tree:
            raise ModelFormatError(source, f"{where}/splits", "is missing")
        tree_splits = tree["splits"] if tree["splits"] is not None else []  # null: a tree of no split
        _check_type(tree_splits, list, source, f"{where}/splits")
        for d, s in enumerate(tree_splits):
            split = resolve(s, f"{where}/splits[{d}]")
            if split is not None:
                splits.append(split)
        sizes.append(len(tree_splits))
        leaves.append(_numbers(_get(tree, "leaf_values", list, source, None, where), source, f"{where}/leaf_values"))
        weights.append(tree.get("leaf_weights"))
    spec.tree_splits = np.array(splits, dtype=np.int64)
    spec.tree_sizes = np.array(sizes, dtype=np.int64)
    spec.leaf_values = np.concatenate(leaves) if leaves else np.zeros(0)
    if all(isinstance(w, list) and len(w) == 1 << size for w, size in zip(weights, sizes)):
        spec.leaf_weights = _weights([v for w in weights for v in w])
    _scale_and_bias(doc, spec, source)
    spec.dim = _approx_dimension(spec, sizes, len(spec.leaf_values), source)
    _bias_count(doc, spec, source)
    for t, (size, values) in enumerate(zip(sizes, leaves)):
        if len(values) != (1 << size) * spec.dim:
            raise ModelFormatError(source, f"oblivious_trees[{t}]/leaf_values",
                                   f"holds {len(values)} values; a depth-{size} tree with {spec.dim} outputs has "
                                   f"{(1 << size) * spec.dim}")
    return spec


def _scale_and_bias(doc: dict, spec: _Spec, source) -> _Spec:
    sb = doc.get("scale_and_bias", [1.0, [0.0]])
    if (not isinstance(sb, list) or len(sb) != 2 or not _is_number(sb[0]) or not isinstance(sb[1], list)
            or not all(_is_number(v) for v in sb[1])):
        raise ModelFormatError(source, "scale_and_bias", f"is {str(sb)[:60]}, expected [scale, [bias, ...]]")
    spec.scale, spec.bias = float(sb[0]), [float(v) for v in sb[1]] or [0.0]
    return spec


def _bias_count(doc: dict, spec: _Spec, source) -> _Spec:
    """CatBoost takes one bias per dimension, or none (zeros), and refuses any other count."""
    given = len(doc.get("scale_and_bias", [1.0, [0.0]])[1])  # its shape checked by _scale_and_bias
    if given not in (0, spec.dim):
        raise ModelFormatError(source, "scale_and_bias", f"holds {given} biases for a {spec.dim}-dimensional "
                                                         "model; expected one per dimension (or none)")
    return spec


class _SplitResolver:
    """A JSON split's id in CatBoost's binary-feature list (every float border, then every one-hot
    value, then every CTR border), checked against what the split itself names. A split kind
    gbinfer does not evaluate is noted in ``spec.unsupported`` (its id is then None)."""

    def __init__(self, spec: _Spec, source):
        self.spec, self.source = spec, source
        self.flat_borders = [(fi, b) for fi, f in enumerate(spec.floats) for b in f.borders]
        self.one_hot_values = [(c, v) for c, values in spec.one_hot for v in values]
        self.ctr_borders = [(k, b) for k, ctr in enumerate(spec.ctrs) for b in ctr["borders"]]

    def __call__(self, s, sw: str):
        source, spec = self.source, self.spec
        _check_type(s, dict, source, sw)
        kind = s.get("split_type")
        idx = _int(s, "split_index", source, sw)
        floats, one_hot = len(self.flat_borders), len(self.one_hot_values)
        if kind == "OneHotFeature":
            at = idx - floats
            if not 0 <= at < one_hot:
                raise ModelFormatError(source, f"{sw}/split_index", f"is {idx}, not one of the model's one-hot values")
            if (s.get("cat_feature_index"), s.get("value")) != tuple(int(v) for v in self.one_hot_values[at]):
                raise ModelFormatError(source, sw, f"names categorical feature {s.get('cat_feature_index')!r} "
                                                   f"value {s.get('value')!r}, but split_index {idx} is feature "
                                                   f"{self.one_hot_values[at][0]} value {self.one_hot_values[at][1]}")
            return idx
        if kind == "OnlineCtr":
            at = idx - floats - one_hot
            if not 0 <= at < len(self.ctr_borders):
                raise ModelFormatError(source, f"{sw}/split_index", f"is {idx}, not one of the model's CTR borders")
            if s.get("border") != float(self.ctr_borders[at][1]):
                raise ModelFormatError(source, sw, f"border {s.get('border')!r} is not split_index {idx}'s CTR "
                                                   f"border {float(self.ctr_borders[at][1])!r}")
            return idx
        if kind != "FloatFeature":
            spec.unsupported.append((f"{sw}/split_type", f"{kind} splits"))
            return None
        if not 0 <= idx < floats:
            raise ModelFormatError(source, f"{sw}/split_index", f"is {idx}, outside the model's {floats} float "
                                                                "borders")
        fi, border = self.flat_borders[idx]
        if s.get("float_feature_index") != spec.floats[fi].index or s.get("border") != float(border):
            raise ModelFormatError(source, sw, f"names feature {s.get('float_feature_index')!r} border "
                                               f"{s.get('border')!r}, but split_index {idx} is feature "
                                               f"{spec.floats[fi].index} border {float(border)!r}")
        return idx


def _non_symmetric_from_json(trees: list, spec: _Spec, resolve, source) -> None:
    """``trees`` (nested ``{split, left, right}`` nodes, leaves ``{value, weight}``) laid out as
    CatBoost's model builder lays out a trained tree (``TNonSymmetricTreeModelBuilder::AddTreeNode``):
    nodes in depth-first order, left before right; a split node with one leaf child and one split
    child holds that leaf itself (the walk stops there), a leaf otherwise is a node of its own; a
    leaf is numbered when its node is reached. So the leaves come out numbered as in the trained
    model's ``.cbm`` and its ``calc_leaf_indexes``. As CatBoost's JSON reader decides, a node with a
    ``value`` is a leaf whatever else it holds, and ``trees`` is read only without
    ``oblivious_trees``. Walked with a stack, not recursion."""
    splits, sizes, left, right, leaf, tree_leaves, values, weights = [], [], [], [], [], [], [], []
    dims = set()

    def leaf_value(node, where):
        value = node.get("value")
        if not isinstance(value, list) and not _is_number(value):
            raise ModelFormatError(source, f"{where}/value", f"is {str(value)[:40]}, expected a number or a list of "
                                                             "numbers (a leaf)")
        value = _numbers(value if isinstance(value, list) else [value], source, f"{where}/value")
        dims.add(len(value))
        values.append(value)
        weights.append(node.get("weight"))

    for t, tree in enumerate(trees):
        first, n_leaves = len(splits), 0
        stack = [(tree, f"trees[{t}]", None)]  # (node, where, (parent node, side) to link)
        while stack:
            node, where, link = stack.pop()
            _check_type(node, dict, source, where)
            at = len(splits) - first
            if link is not None:
                (left if link[1] == "left" else right)[first + link[0]] = at
            left.append(-1)
            right.append(-1)
            if "value" in node:  # CatBoost's JSON reader: a node with a value is a leaf, whatever else it holds
                leaf_value(node, where)
                splits.append(0)
                leaf.append(n_leaves)
                n_leaves += 1
                continue
            split = resolve(node.get("split"), f"{where}/split")
            splits.append(0 if split is None else split)
            for side in ("left", "right"):
                if side not in node:
                    raise ModelFormatError(source, f"{where}/{side}", "is missing")
                _check_type(node[side], dict, source, f"{where}/{side}")
            inner = [side for side in ("left", "right") if "value" not in node[side]]
            if len(inner) == 1:  # the leaf child is held here
                side = "right" if inner == ["left"] else "left"
                leaf_value(node[side], f"{where}/{side}")
                leaf.append(n_leaves)
                n_leaves += 1
                stack.append((node[inner[0]], f"{where}/{inner[0]}", (at, inner[0])))
            else:
                leaf.append(-1)
                stack += [(node[side], f"{where}/{side}", (at, side)) for side in ("right", "left")]  # left first
        sizes.append(len(splits) - first)
        tree_leaves.append(n_leaves)
    if len(dims) > 1:
        raise ModelFormatError(source, "trees", f"leaves hold {sorted(dims)[:4]} values: not one count for all")
    spec.dim = dims.pop() if dims else max(len(spec.bias), 1)
    spec.tree_splits, spec.tree_sizes = np.array(splits, dtype=np.int64), np.array(sizes, dtype=np.int64)
    spec.node_left, spec.node_right = np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)
    spec.node_leaf, spec.tree_leaves = np.array(leaf, dtype=np.int64), np.array(tree_leaves, dtype=np.int64)
    spec.leaf_values = np.concatenate(values) if values else np.zeros(0)
    spec.leaf_weights = _weights(weights)


def _weights(values: list):
    """JSON leaf weights as float64, or None unless every one is a finite number >= 0."""
    if not all(_is_number(v) and abs(v) < 1e308 for v in values):
        return None
    w = np.array(values, dtype=np.float64)
    return w if np.all(np.isfinite(w) & (w >= 0)) else None


def _numbers(values: list, source, where: str) -> np.ndarray:
    """A JSON list of numbers as float64, each parsed exactly as written (orjson rounds correctly)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ModelFormatError(source, where, "are not all numbers")
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise ModelFormatError(source, where, "hold a number outside float64") from None


def _ctr(ctr, source, where) -> dict:
    """A CTR description from JSON, its numbers checked; columns are resolved in ``_build``."""
    from ..oblivious import CTR_TYPES

    _check_type(ctr, dict, source, where)
    kind = _get(ctr, "ctr_type", str, source, None, where)
    if kind not in CTR_TYPES:
        raise UnsupportedModelError(source, f"{where}/ctr_type", f"is {kind!r}; known: {', '.join(CTR_TYPES)}")
    out = {"kind": kind, "identifier": _get(ctr, "identifier", str, source, None, where), "cats": [],
           "floats": [], "one_hot": []}
    for key, name in (("prior_numerator", "prior_numerator"), ("prior_denomerator", "prior_denominator"),
                      ("shift", "shift"), ("scale", "scale")):
        value = ctr.get(key)
        if not _is_number(value) or not np.isfinite(value):
            raise ModelFormatError(source, f"{where}/{key}", f"is {value!r}, expected a finite number")
        out[name] = np.float32(value)
    out["target_border"] = _int(ctr, "target_border_idx", source, where)
    borders = _numbers(_get(ctr, "borders", list, source, [], where), source, f"{where}/borders")
    out["borders"] = borders.astype(np.float32)
    out["cats"], out["floats"], out["one_hot"] = _elements(_get(ctr, "elements", list, source, None, where),
                                                           source, f"{where}/elements")
    # CatBoost finds a CTR's table by what it computes (its elements and type), not by its identifier
    out["key"] = (kind, tuple(out["cats"]), tuple(out["floats"]), tuple(out["one_hot"]))
    return out


def _elements(elements: list, source, where) -> tuple:
    """(categorical features, (float feature, border) splits, (categorical feature, value) splits)
    of a CTR's combination, each in the order listed (CatBoost hashes them kind after kind)."""
    cats, floats, one_hot = [], [], []
    for e, element in enumerate(elements):
        ew = f"{where}[{e}]"
        _check_type(element, dict, source, ew)
        kind_e = element.get("combination_element")
        if kind_e == "cat_feature_value":
            cats.append(_int(element, "cat_feature_index", source, ew))
        elif kind_e == "float_feature":
            border = element.get("border")
            if not _is_number(border):
                raise ModelFormatError(source, f"{ew}/border", f"is {border!r}, expected a number")
            floats.append((_int(element, "float_feature_index", source, ew), np.float32(border)))
        elif kind_e == "cat_feature_exact_value":
            one_hot.append((_int(element, "cat_feature_index", source, ew), _int(element, "value", source, ew)))
        else:
            raise UnsupportedModelError(source, f"{ew}/combination_element", f"is {kind_e!r}; known: "
                                        "cat_feature_value, float_feature, cat_feature_exact_value")
    return cats, floats, one_hot


def _ctr_key(key: str, source) -> tuple:
    """The CTR a ``ctr_data`` key names: CatBoost parses each key (JSON of the CTR's elements and
    type) and refuses a model with a key it cannot parse."""
    where = f"ctr_data/{key[:80]}"
    try:
        doc = orjson.loads(key)
    except orjson.JSONDecodeError:
        raise ModelFormatError(source, where, "the key is not a CTR description (JSON)") from None
    _check_type(doc, dict, source, where)
    kind = _get(doc, "type", str, source, None, where)
    elements = _get(doc, "identifier", list, source, None, where)
    cats, floats, one_hot = _elements(elements, source, f"{where}/identifier")
    return kind, tuple(cats), tuple(floats), tuple(one_hot)


def _refuse_multi_target_ctrs(ctrs: list, params: dict, source) -> None:
    """CatBoost's JSON export leaves out a CTR's target classifier (``TargetBorderClassifierIdx``,
    one per target of a multi-target regression such as MultiRMSE): CTRs of different targets over
    the same features are written alike and share one table, so the file no longer says which
    table each reads (catboost itself predicts such a JSON wrongly). Only the ``.cbm`` keeps them
    apart."""
    loss = params.get("loss_function")
    if ctrs and isinstance(loss, dict) and loss.get("type") in _MULTI_TARGET:
        raise UnsupportedModelError(source, "features_info/ctrs", f"belong to a {loss['type']} model, whose CTRs "
                                    "have a table per target: the JSON export dropped the CTRs' target classifier, "
                                    "so their tables cannot be told apart; load the model's .cbm instead")


def _ctr_table(table, source, where) -> tuple:
    """(uint64 hashes ascending, int64 counts [entries, stride - 1], counter denominator)."""
    _check_type(table, dict, source, where)
    stride = _int(table, "hash_stride", source, where)
    denominator = _int(table, "counter_denominator", source, where)
    flat = _get(table, "hash_map", list, source, None, where)
    if not 2 <= stride <= 1 << 16 or len(flat) % stride:
        raise ModelFormatError(source, f"{where}/hash_map", f"holds {len(flat)} items, not rows of hash_stride "
                                                            f"{stride} (a hash and {stride - 1} counts)")
    rows = [flat[i:i + stride] for i in range(0, len(flat), stride)]
    # as CatBoost parses a ui64 from the string: ASCII digits after an optional '+' (int() would
    # also take JSON numbers, spaces, '_' and non-ASCII digits, which CatBoost refuses)
    if not all(isinstance(r[0], str) and _HASH.fullmatch(r[0]) for r in rows):
        raise ModelFormatError(source, f"{where}/hash_map", "a hash is not a string of decimal digits")
    hashes = [int(r[0]) for r in rows]
    if not all(0 <= h < 1 << 64 for h in hashes):
        raise ModelFormatError(source, f"{where}/hash_map", "a hash lies outside 64 bits")
    if not all(_is_number(c) and abs(c) < 1 << 53 for r in rows for c in r[1:]):
        raise ModelFormatError(source, f"{where}/hash_map", "a count is not a number below 2**53")
    keep = [i for i, h in enumerate(hashes) if h != (1 << 64) - 1]  # CatBoost's empty-bucket marker
    h = np.array([hashes[i] for i in keep], dtype=np.uint64)
    # float64 holds every count exactly (and the target sums of the mean-value CTRs)
    counts = np.array([rows[i][1:] for i in keep], dtype=np.float64).reshape(len(keep), stride - 1)
    order = np.argsort(h, kind="stable")
    h, counts = h[order], counts[order]
    if len(h) > 1 and not np.all(h[1:] > h[:-1]):
        raise ModelFormatError(source, f"{where}/hash_map", "a hash is listed twice")
    return h, counts, denominator


def _resolve_ctr(ctr: dict, k: int, spec: _Spec, floats, cat_column: dict, source) -> Ctr:
    """A CTR with its features resolved to input columns and its table checked against its type."""
    cbm = spec.ctr_field != "features_info/ctrs"
    where = f"{spec.ctr_field}[{k}]"
    # CatBoost finds a CTR's table by its type and combination: a JSON CTR's identifier field is not read
    table = spec.ctr_tables.get(ctr["identifier"] if cbm else ctr["key"])
    if table is None and cbm:
        raise ModelFormatError(source, f"{where}/identifier", f"has no CTR table ({ctr['identifier'][:120]})")
    if table is None:
        raise ModelFormatError(source, f"{where}/elements", "no table in ctr_data is for this CTR's elements and "
                                                            "type (CatBoost looks its table up by them, not by its "
                                                            "identifier)")
    hashes, counts, denominator = table
    width, tb, kind = counts.shape[1], ctr["target_border"], ctr["kind"]
    needed = {"Borders": 2, "Buckets": tb + 1, "Counter": 1, "FeatureFreq": 1}.get(kind, 2)
    if width < needed or tb < 0 or (kind in ("Borders", "Buckets") and tb >= width):
        raise ModelFormatError(source, f"{where}/TargetBorderIdx" if cbm else
                               f"ctr_data/{ctr['identifier'][:80]}/hash_stride",
                               f"rows of {width} counts do not fit a {kind} CTR with target_border_idx {tb}")
    for c in ctr["cats"] + [c for c, _ in ctr["one_hot"]]:
        if c not in cat_column:
            raise ModelFormatError(source, f"{where}/elements", f"refers to categorical feature {c}, which the "
                                                                "model does not have")
    if any(not 0 <= f < len(floats) for f, _ in ctr["floats"]):
        raise ModelFormatError(source, f"{where}/elements", "refers to a float feature the model does not have")
    if not ctr["cats"]:
        raise ModelFormatError(source, f"{where}/elements", "names no categorical feature")
    return Ctr(tuple(cat_column[c] for c in ctr["cats"]),
               tuple((floats[f].flat_index, b, floats[f].has_nans and floats[f].nan_treatment == "AsTrue")
                     for f, b in ctr["floats"]),
               tuple((cat_column[c], v) for c, v in ctr["one_hot"]), kind, ctr["prior_numerator"],
               ctr["prior_denominator"], ctr["shift"], ctr["scale"], tb, hashes, counts, denominator)


def _approx_dimension(spec: _Spec, sizes, n_values: int, source) -> int:
    """JSON stores no output count: it is the leaf values per leaf, the same for every tree."""
    if any(s > 16 for s in sizes):
        raise ModelFormatError(source, "oblivious_trees/splits", "a tree is deeper than 16, CatBoost's limit")
    leaves = sum(1 << s for s in sizes)
    if leaves == 0:
        return max(len(spec.bias), 1)
    if n_values % leaves or n_values == 0:
        raise ModelFormatError(source, "oblivious_trees/leaf_values", f"{n_values} values do not divide into the "
                                                                      f"trees' {leaves} leaves")
    return n_values // leaves


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_type(value, kind, source, where):
    if not isinstance(value, kind):
        raise ModelFormatError(source, where, f"is a {type(value).__name__}, expected a JSON "
                                              f"{'object' if kind is dict else 'array'}")


def _get(obj: dict, key: str, kind, source, default=..., where: str | None = None):
    name = f"{where}/{key}" if where else key
    if key not in obj:
        if default is ... or default is None:
            raise ModelFormatError(source, name, "is missing")
        return default
    value = obj[key]
    if not isinstance(value, kind):
        raise ModelFormatError(source, name, f"is a {type(value).__name__}, expected {kind.__name__}")
    return value


def _int(obj: dict, key: str, source, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not -(1 << 31) <= value < 1 << 31:
        raise ModelFormatError(source, f"{where}/{key}", f"is {value!r}, expected a 32-bit integer")
    return value


def _params(text, source, where) -> dict:
    if text is None:
        return {}
    try:
        params = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ModelFormatError(source, where, "is not valid JSON") from None
    if not isinstance(params, dict):
        raise ModelFormatError(source, where, "is not a JSON object")
    return params


# --- checks and build --------------------------------------------------------------------------

def _build(spec: _Spec, source) -> Model:
    if spec.unsupported:
        where, what = spec.unsupported[0]
        raise UnsupportedModelError(source, where, f"the model uses {what}, which gbinfer does not evaluate yet "
                                                   "(supported: symmetric and non-symmetric trees over float, "
                                                   "one-hot and CTR features)")
    # CatBoost numbers binary features in the order the float features are listed, whatever their
    # indexes say: a list out of index order would move every split onto another feature's borders
    floats = spec.floats
    if [f.index for f in floats] != list(range(len(floats))):
        raise ModelFormatError(source, "float_features/index", "feature indexes are not 0, 1, 2, ... once each, "
                                                               "in the order the features are listed")
    for f in floats:
        if f.nan_treatment not in _NAN_TREATMENTS:
            raise ModelFormatError(source, f"float_features[{f.index}]/nan_value_treatment",
                                   f"is {f.nan_treatment!r}, expected one of {', '.join(_NAN_TREATMENTS)}")
    flat = [f.flat_index for f in floats] + [c[1] for c in spec.categorical]
    if sorted(flat) != list(range(len(flat))):  # CatBoost lists every feature, used or not
        raise ModelFormatError(source, "flat_feature_index", "the float and categorical features' columns are not "
                                                             f"0 to {len(flat) - 1}, once each")
    num_columns = len(flat)
    cat_column = {c[0]: c[1] for c in spec.categorical}
    if len(cat_column) != len(spec.categorical):
        raise ModelFormatError(source, "categorical_features/index", "a categorical feature index is repeated")
    one_hot_index = [c for c, _ in spec.one_hot]
    if len(set(one_hot_index)) != len(one_hot_index) or any(c not in cat_column for c in one_hot_index):
        raise ModelFormatError(source, "one_hot_features/index", "a one-hot feature is repeated or refers to a "
                                                                 "categorical feature the model does not have")
    dim = spec.dim
    if not isinstance(dim, int) or not 1 <= dim <= 1 << 16:
        raise ModelFormatError(source, "ApproxDimension", f"is {dim!r}, expected 1 to 65536")
    ctrs = [_resolve_ctr(c, k, spec, floats, cat_column, source) for k, c in enumerate(spec.ctrs)]
    # binary features, in CatBoost's split-id order: every border of every float feature, then
    # every value of every one-hot feature, then every border of every CTR. Slots: floats, CTRs
    # (read as float columns after the input's), one-hot features.
    F, K = len(floats), len(ctrs)
    per_slot = [len(f.borders) for f in floats] + [len(v) for _, v in spec.one_hot] + [len(c["borders"]) for c in
                                                                                        spec.ctrs]
    slot_of = list(range(F)) + [F + K + c for c in range(len(spec.one_hot))] + [F + k for k in range(K)]
    split_slot = np.repeat(np.array(slot_of, dtype=np.int64), per_slot)
    split_index = np.concatenate([np.arange(n, dtype=np.int64) for n in per_slot] + [np.zeros(0, np.int64)])
    booster = Oblivious.build(
        slot_column=[f.flat_index for f in floats] + [num_columns + k for k in range(K)],
        borders_per_slot=[f.borders for f in floats] + [c["borders"] for c in spec.ctrs],
        nan_as_true=[f.has_nans and f.nan_treatment == "AsTrue" for f in floats] + [False] * K, ctrs=tuple(ctrs),
        cat_column=[cat_column[c] for c in one_hot_index], values_per_cat=[v for _, v in spec.one_hot],
        split_slot=split_slot, split_index=split_index, tree_splits=spec.tree_splits, tree_depths=spec.tree_sizes,
        leaf_values=spec.leaf_values, num_outputs=dim, num_columns=num_columns, scale=spec.scale, bias=spec.bias,
        node_left=spec.node_left, node_right=spec.node_right, node_leaf=spec.node_leaf, tree_leaves=spec.tree_leaves,
        leaf_weights=spec.leaf_weights, source=source)
    loss = spec.params.get("loss_function", {})
    name = loss.get("type") if isinstance(loss, dict) else None
    if not isinstance(name, str):
        raise ModelFormatError(source, "params/loss_function/type", "is missing: the model does not name its loss")
    objective = Objective.catboost(name, loss.get("params") if isinstance(loss.get("params"), dict) else {},
                                   source=source)
    names = [""] * num_columns
    types = ["c"] * num_columns
    for f in floats:
        names[f.flat_index], types[f.flat_index] = f.name, "float"
    for c in spec.categorical:
        names[c[1]] = c[2]
    version = re.search(r"tags/v(\d+)\.(\d+)(?:\.(\d+))?", spec.version)
    meta = ModelMeta(num_features=num_columns, num_outputs=dim, base_score=np.zeros(dim, dtype=np.float32),
                     source_library="catboost",
                     source_version=tuple(int(v) for v in version.groups() if v is not None) if version else ())
    features = FeatureInfo(names=tuple(names) if all(names) else None, types=tuple(types))
    return Model(booster=booster, meta=meta, features=features, objective=objective)
