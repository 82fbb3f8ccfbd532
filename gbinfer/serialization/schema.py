"""The stable interchange schema every saved model goes through.

The runtime types (``Model``, ``SoAForest``, ...) may change whenever the engine gets faster; the
types here change only with a ``SCHEMA_VERSION`` bump, and every older version keeps loading
through the migration chain (``_UPGRADES``). Two tables define the schema once, for the writer,
the reader, the containers (``binary``: ``.xgbrs``; ``json``: native JSON) and the shape guard
(``describe_schema``, compared in the tests against the committed ``fixtures/schema/``):

* ``DOCUMENT``: the small tree of named values (provenance, objective, features, booster kind,
  user metadata), which a container stores as JSON;
* ``ARRAYS``: every numeric array, by name, with its allowed dtypes and its shape in named
  dimensions. A container stores them in its own way (raw little-endian bytes, or JSON lists).

Tree layout (``booster.layout == "nodes"``): all trees' nodes in one set of flat arrays; tree ``t``
is the node range ``tree_offsets[t]:tree_offsets[t + 1]`` and its root is the first node of that
range. Child indices are *global* node indices (``-1`` at leaves); the two children of a split are
a sibling pair (``right_child == left_child + 1``) inside the tree and after their parent. That is
exactly what ``SoAForest.build`` validates, so a loaded file never hands the kernels an index it
has not checked, and a memory-mapped file needs no renumbering. Threshold values at leaves carry no
meaning (NaN when gbinfer writes them). ``node_id`` is the node's
number in the source library's tree (what ``predict_leaf`` reports).

Versioning: ``(major, minor)``. A minor version only adds (optional keys and arrays that a reader
may ignore without changing any prediction, or new enum values, which an older reader refuses by
name). Another major is refused with ``UnsupportedVersion``; a newer minor loads with a
``NewerSchemaWarning``; an older major is upgraded link by link through ``_UPGRADES``, an older
minor of the same major gets the keys added since (``_MINOR_UPGRADES``).

History: 1.0 the first; 1.1 adds ``features.category_types`` and fills ``features.categories``:
the categories each feature was trained on, in training-code order (XGBoost 3.1+), which
categorical input is re-coded through by value. Integer categories are written as their decimal
strings (exact for 64-bit values, which JSON numbers are not), so a 1.0 reader still reads them.
1.2 completes LightGBM forests: ``booster.average_output`` (random forests: the transformed
prediction is divided by the rounds used; 1.1 kept it in ``model.source_attributes``, where 1.2
writes it too, so that a 1.1 reader keeps it), the
transforms ``signed_square`` (regression with ``sqrt``) and ``log1p_exp``
(cross_entropy_lambda), and linear leaves: ``leaf_const`` and the ``leaf_coef_*`` arrays.
1.3 implements the ``catboost`` semantics and ``oblivious`` layout 1.2 reserved: CatBoost's
symmetric trees with what ``Oblivious.build`` takes (float borders and NaN treatments, one-hot
hashes, the binary-feature table, tree splits and depths, ``leaf_values`` as every tree's
``2**depth`` leaves x outputs, ``scale`` and ``bias``) and its CTRs (``ctr_*``: kind, priors,
shift, scale, target border, counter denominator, the hashed elements, hash tables); arrays
carry the layouts they belong to (``ArraySpec.layouts``). 1.3 also has the ``nonsymmetric``
layout, CatBoost's Depthwise and Lossguide trees over the same features, binary-feature table,
CTRs, ``scale`` and ``bias``: per tree its node count (``tree_nodes``) and leaf count
(``tree_leaves``); per node, root first, its split id (``tree_splits``), its children as node
numbers within its tree (``node_left`` when the split is false, ``node_right`` when true; -1: the
walk stops at this node, and a child always lies after its node) and the leaf where a walk stops
there (``node_leaf``, within its tree; -1 where none does); ``leaf_values`` every tree's leaves x
outputs, tree after tree. 1.3 also adds the first optional array (``ArraySpec.optional``): ``cover``,
each node's cover (XGBoost's ``sum_hessian``) for TreeSHAP, which a file may leave out (one
without it predicts the same and explains nothing). No document key is added.
1.4 adds TreeSHAP's covers for the other libraries, both optional like ``cover``: ``node_count``
(lightgbm semantics: each node's training row count, LightGBM's ``internal_count`` /
``leaf_count``, int32 >= 0) and ``leaf_weights`` (catboost semantics, both layouts: each leaf's
training weight, CatBoost's ``LeafWeights``, float64, finite and >= 0, one per leaf in the order
of ``leaf_values``). No document key is added; a 1.3 file reads as a 1.4 file without them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, fields
from enum import Enum, IntEnum

import numpy as np
import orjson

from ..errors import ModelFormatError, UnsupportedModelError, UnsupportedVersion

SCHEMA_VERSION = (1, 4)
VERSION_KEY = "gbinfer_schema"  # first key of every document: how the loader recognises native JSON


class NewerSchemaWarning(UserWarning):
    """The file was written with a newer minor schema version; unknown additions were ignored."""


# --- enumerations (stored by value; unknown values are refused by name) ------------------------

class Semantics(str, Enum):
    """How a node decides. Reserved values name the libraries that come next."""

    XGBOOST = "xgboost"  # x < t goes left; a category in the node's set goes right; missing -> default_left
    LIGHTGBM = "lightgbm"  # x <= t goes left; a category in the set goes left; missing_type per node (float64)
    CATBOOST = "catboost"  # x > border; one-hot hashes and CTRs from the model's own tables (1.3)


class Layout(str, Enum):
    NODES = "nodes"  # flat node arrays, see the module docstring
    OBLIVIOUS = "oblivious"  # CatBoost's symmetric trees: one binary feature per level, 2**depth leaves (1.3)
    NONSYMMETRIC = "nonsymmetric"  # CatBoost's Depthwise / Lossguide trees: nodes with children and leaves (1.3)


class BoosterKind(str, Enum):
    GBTREE = "gbtree"
    DART = "dart"  # gbtree + tree_weight: each tree's leaf values are scaled by its weight
    GBLINEAR = "gblinear"


class SplitKind(IntEnum):
    """Per-node codes of the ``split_kind`` array."""

    NUMERIC = 0
    CATEGORICAL = 1  # the node tests the category set cat_bits[cat_offsets[i]:cat_offsets[i + 1]]


class MissingType(IntEnum):
    """Reserved (LightGBM): per-node codes of the optional ``missing_type`` array."""

    NONE = 0
    ZERO = 1
    NAN = 2


# margin -> output; signed_square: sign(x) * x * x, log1p_exp: log1p(exp(x)) (1.2, LightGBM)
TRANSFORMS = ("identity", "sigmoid", "exp", "hinge", "softmax", "argmax", "signed_square", "log1p_exp")
LINKS = ("identity", "logit", "log")  # base score in output space -> margin

IMPLEMENTED_SEMANTICS = (Semantics.XGBOOST, Semantics.LIGHTGBM, Semantics.CATBOOST)
IMPLEMENTED_LAYOUTS = (Layout.NODES, Layout.OBLIVIOUS, Layout.NONSYMMETRIC)
CATBOOST_LAYOUTS = (Layout.OBLIVIOUS, Layout.NONSYMMETRIC)

# CatBoost CTR kinds, stored by code in ``ctr_kind`` (1.3)
CTR_KINDS = ("Borders", "Buckets", "BinarizedTargetMeanValue", "FloatTargetMeanValue", "Counter", "FeatureFreq")

_ENUMS = {
    "semantics": tuple(s.value for s in Semantics),
    "layout": tuple(s.value for s in Layout),
    "booster_kind": tuple(s.value for s in BoosterKind),
    "transform": TRANSFORMS,
    "link": LINKS,
    "ctr_kind": CTR_KINDS,
}

# --- the document: every non-array value, with its type ----------------------------------------
# Types: int, bool, str, dict (free-form JSON object), int_list, str_list, categories (list per feature of
# a list of category names, or null), category_types (list per feature of a CATEGORY_TYPES name, or
# null), enum:<name>; a trailing "?" allows null. Keys appear in this order; in a document of the
# same minor version every key is present, and an older minor is given the keys added since.

DOCUMENT = {
    VERSION_KEY: "version",
    "provenance": {"source_library": "str", "source_version": "int_list", "writer": "str"},
    "model": {"num_features": "int", "num_outputs": "int", "best_iteration": "int?", "source_attributes": "dict"},
    "objective": {"name": "str", "transform": "enum:transform", "link": "enum:link", "params": "dict"},
    "features": {"names": "str_list?", "types": "str_list?", "categories": "categories?",
                 "category_types": "category_types?"},
    "booster": {"kind": "enum:booster_kind", "semantics": "enum:semantics?", "layout": "enum:layout?",
                "num_trees": "int", "num_nodes": "int", "leaf_size": "int", "average_output": "bool"},
    "metadata": {"name": "str?", "description": "str?", "hyperparameters": "dict", "metrics": "dict",
                 "custom": "dict"},
}
METADATA_KEYS = tuple(DOCUMENT["metadata"])
# Per feature, what its categories are: "str", or the integer type they were trained with (written
# as decimal strings). A feature with a type but null categories has training categories its source
# stored unreadably (XGBoost <= 3.3, non-ASCII strings): codes work, re-coding by value is refused.
_DECIMAL = re.compile(r"-?[0-9]{1,20}")
CATEGORY_TYPES = ("str", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


# --- the arrays ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArraySpec:
    dtypes: tuple[str, ...]  # allowed dtypes (little-endian in every container)
    shape: tuple[str, ...]  # named dimensions: outputs, features, nodes, nodes+1, trees, trees+1, leaf_size, one, any
    boosters: tuple[str, ...]  # booster kinds that carry the array; () for a reserved one
    note: str = ""
    layouts: tuple[str, ...] = ("nodes",)  # tree layouts that carry it; () for any booster of its kinds (1.3)
    optional: bool = False  # a file may leave it out (1.3: ``cover``; 1.4: ``node_count``, ``leaf_weights``)


_TREES = ("gbtree", "dart")
_BOTH = ("nodes", "oblivious", "nonsymmetric")
_CB = ("oblivious", "nonsymmetric")


def _cb(dtype: str, note: str, shape=("any",), layouts=_CB) -> ArraySpec:
    """An array of CatBoost's layouts (1.3): both read the same features, CTRs and binary features."""
    return ArraySpec((dtype,), shape, ("gbtree",), note, layouts)


ARRAYS = {
    "base_score": ArraySpec(("float32",), ("outputs",), ("gbtree", "dart", "gblinear"), "margin space", ()),
    "iteration_indptr": ArraySpec(("int64",), ("any",), _TREES, "first tree of each boosting round, + num_trees"),
    "tree_offsets": ArraySpec(("int64",), ("trees+1",), _TREES, "first node of each tree, + num_nodes"),
    "tree_group": ArraySpec(("int32",), ("trees",), _TREES, "output a scalar-leaf tree adds to"),
    "tree_weight": ArraySpec(("float32",), ("trees",), ("dart",), "DART weight of each tree"),
    "split_feature": ArraySpec(("int32",), ("nodes",), _TREES, "0 at leaves"),
    "threshold": ArraySpec(("float32", "float64"), ("nodes",), _TREES, "float32 for xgboost semantics"),
    "left_child": ArraySpec(("int32",), ("nodes",), _TREES, "global node index, -1 at leaves"),
    "right_child": ArraySpec(("int32",), ("nodes",), _TREES, "global node index, -1 at leaves"),
    "default_left": ArraySpec(("uint8",), ("nodes",), _TREES, "1: a missing value goes left"),
    "split_kind": ArraySpec(("uint8",), ("nodes",), _TREES, "SplitKind codes"),
    "cat_offsets": ArraySpec(("int64",), ("nodes+1",), _TREES, "node i's set: cat_bits[cat_offsets[i]:[i+1]]"),
    "cat_bits": ArraySpec(("uint32",), ("any",), _TREES, "bit c of word c // 32: category c is in the set"),
    "leaf_values": ArraySpec(("float32", "float64"), ("nodes", "leaf_size"), _TREES,
                             "meaningful at leaves; oblivious: every tree's 2**depth leaves, float64; "
                             "nonsymmetric: every tree's leaves, float64", _BOTH),
    "node_id": ArraySpec(("int32",), ("nodes",), _TREES, "node number in the source tree"),
    "cover": ArraySpec(("float32",), ("nodes",), _TREES, "xgboost: training weight reaching the node (sum_hessian), "
                                                         "finite; for TreeSHAP, never read by predictions (1.3)",
                       optional=True),
    # lightgbm semantics only: missing_type is required there; the four linear-leaf arrays come together or not
    # at all (a leaf predicts leaf_const + sum(coef * x), or its leaf value when one of its features is NaN);
    # with xgboost semantics any of them is refused
    "missing_type": ArraySpec(("uint8",), ("nodes",), (), "lightgbm: MissingType codes"),
    "leaf_coef_offsets": ArraySpec(("int64",), ("nodes+1",), (), "lightgbm: leaf i's terms are [i]:[i+1]"),
    "leaf_coef_feature": ArraySpec(("int32",), ("any",), (), "lightgbm: linear-leaf features"),
    "leaf_coef_value": ArraySpec(("float64",), ("any",), (), "lightgbm: linear-leaf coefficients"),
    "leaf_const": ArraySpec(("float64",), ("nodes",), (), "lightgbm: linear leaves' constants (1.2)"),
    "node_count": ArraySpec(("int32",), ("nodes",), (), "lightgbm: training rows that reached the node "
                                                        "(internal_count / leaf_count), >= 0; for TreeSHAP, never "
                                                        "read by predictions (1.4)", optional=True),
    "linear_weights": ArraySpec(("float32",), ("features", "outputs"), ("gblinear",), "", ()),
    "linear_bias": ArraySpec(("float32",), ("outputs",), ("gblinear",), "", ()),
    # catboost semantics, oblivious layout (1.3): what Oblivious.build takes. Float slots first (input
    # features, then one per CTR: column num_features + k), then one-hot slots; a binary feature is
    # (slot, index of its border or value); the trees list binary feature ids.
    "float_column": _cb("int32", "input column of each float slot (num_features + k: CTR k)"),
    "float_border_offsets": _cb("int64", "slot s's borders: float_borders[[s]:[s+1]]"),
    "float_borders": _cb("float32", "strictly ascending per slot; x > border is true"),
    "float_nan_as_true": _cb("uint8", "1: NaN is above every border (CatBoost's AsTrue)"),
    "onehot_column": _cb("int32", "input column of each one-hot slot"),
    "onehot_offsets": _cb("int64", "slot c's values: onehot_values[[c]:[c+1]]"),
    "onehot_values": _cb("int32", "CatBoost's category hashes split on, once each per slot"),
    "binary_slot": _cb("int32", "slot of each binary feature: float slots, then one-hot slots"),
    "binary_index": _cb("int32", "the binary feature's border or value within its slot"),
    "tree_depth": _cb("int32", "splits of each tree", ("trees",), ("oblivious",)),
    "tree_splits": _cb("int32", "binary feature ids of every tree, in depth order (split d: bit d of the leaf); "
                                "nonsymmetric: of every node"),
    "tree_nodes": _cb("int32", "nodes of each tree", ("trees",), ("nonsymmetric",)),
    "tree_leaves": _cb("int32", "leaves of each tree", ("trees",), ("nonsymmetric",)),
    "node_left": _cb("int32", "child when the split is false, within the tree (after the node), -1: stop",
                     layouts=("nonsymmetric",)),
    "node_right": _cb("int32", "child when the split is true, within the tree (after the node), -1: stop",
                      layouts=("nonsymmetric",)),
    "node_leaf": _cb("int32", "leaf within the tree where a walk stops at the node, -1 where none does",
                     layouts=("nonsymmetric",)),
    "scale": _cb("float64", "CatBoost's scale_and_bias scale", ("one",)),
    "bias": _cb("float64", "CatBoost's scale_and_bias bias per output", ("outputs",)),
    "ctr_kind": _cb("uint8", "per CTR: CTR_KINDS code"),
    "ctr_prior_numerator": _cb("float32", "per CTR"),
    "ctr_prior_denominator": _cb("float32", "per CTR"),
    "ctr_shift": _cb("float32", "per CTR"),
    "ctr_scale": _cb("float32", "per CTR"),
    "ctr_target_border": _cb("int32", "per CTR: target border (class) index"),
    "ctr_denominator": _cb("int64", "per CTR: counter denominator (Counter, FeatureFreq)"),
    "ctr_cat_offsets": _cb("int64", "CTR k's hashed categorical columns: ctr_cat_column[[k]:[k+1]]"),
    "ctr_cat_column": _cb("int32", "input columns, in hashing order"),
    "ctr_float_offsets": _cb("int64", "CTR k's float elements: ctr_float_*[[k]:[k+1]]"),
    "ctr_float_column": _cb("int32", "float element: input column"),
    "ctr_float_border": _cb("float32", "float element: hashed as x > border"),
    "ctr_float_nan_as_true": _cb("uint8", "float element: 1 when NaN hashes as true"),
    "ctr_onehot_offsets": _cb("int64", "CTR k's one-hot elements: ctr_onehot_*[[k]:[k+1]]"),
    "ctr_onehot_column": _cb("int32", "one-hot element: input column"),
    "ctr_onehot_value": _cb("int32", "one-hot element: hashed as category hash == value"),
    "ctr_table_offsets": _cb("int64", "CTR k's table entries: ctr_hashes[[k]:[k+1]]"),
    "ctr_hashes": _cb("int64", "the uint64 combination hashes' bits, ascending as uint64 per CTR"),
    "ctr_count_width": _cb("int32", "per CTR: counts per table entry"),
    "ctr_counts": _cb("float64", "every CTR's entries' counts, row-major, CTR after CTR"),
    "leaf_weights": ArraySpec(("float64",), ("any",), ("gbtree",), "catboost: training weight of each leaf "
                                                                   "(LeafWeights), in the order of leaf_values' "
                                                                   "leaves, finite and >= 0; for TreeSHAP, never "
                                                                   "read by predictions (1.4)", _CB, optional=True),
}


# --- the interchange types -------------------------------------------------------------------

@dataclass(frozen=True)
class Provenance:
    source_library: str
    source_version: tuple[int, ...]
    writer: str  # "gbinfer <version>" that wrote the file


@dataclass(frozen=True)
class ObjectiveSpec:
    name: str
    transform: str  # one of TRANSFORMS
    link: str  # one of LINKS
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FeaturesSpec:
    names: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None  # the source's spelling; XGBoost: "c" categorical, "q"/"int"/... numeric
    categories: tuple[tuple[str, ...] | None, ...] | None = None  # category names per feature, when known
    category_types: tuple[str | None, ...] | None = None  # per feature: a CATEGORY_TYPES name or None (1.1)


@dataclass(frozen=True)
class BoosterSpec:
    kind: BoosterKind
    semantics: Semantics | None  # None for gblinear
    layout: Layout | None
    num_trees: int = 0
    num_nodes: int = 0
    leaf_size: int = 1
    average_output: bool = False  # lightgbm random forests (1.2)


@dataclass(frozen=True)
class UserMetadata:
    name: str | None = None
    description: str | None = None
    hyperparameters: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A model in schema form: plain values plus named arrays (see ``ARRAYS``)."""

    version: tuple[int, int]
    provenance: Provenance
    num_features: int
    num_outputs: int
    best_iteration: int | None
    source_attributes: dict
    objective: ObjectiveSpec
    features: FeaturesSpec
    booster: BoosterSpec
    metadata: UserMetadata
    arrays: dict  # name -> np.ndarray


def describe_schema() -> dict:
    """A JSON-able description of the schema's shape; the tests compare it with the committed one.

    What this gbinfer implements (IMPLEMENTED_*) is not part of it: implementing a reserved value
    changes no file."""

    def type_name(t):
        return t if isinstance(t, str) else getattr(t, "__name__", repr(t))

    return {
        "version": list(SCHEMA_VERSION),
        "document": DOCUMENT,
        "enums": {**{k: list(v) for k, v in _ENUMS.items()},
                  "split_kind": {e.name.lower(): e.value for e in SplitKind},
                  "missing_type": {e.name.lower(): e.value for e in MissingType}},
        "arrays": {name: {"dtypes": list(s.dtypes), "shape": list(s.shape), "boosters": list(s.boosters),
                          "layouts": list(s.layouts), "optional": s.optional} for name, s in ARRAYS.items()},
        "types": {cls.__name__: {f.name: type_name(f.type) for f in fields(cls)}
                  for cls in (Provenance, ObjectiveSpec, FeaturesSpec, BoosterSpec, UserMetadata, ModelSpec)},
    }


# --- spec <-> document -----------------------------------------------------------------------

def to_document(spec: ModelSpec) -> tuple[dict, dict]:
    """The document (JSON-able, keys in ``DOCUMENT`` order) and the arrays (in ``ARRAYS`` order)."""
    b, f, o, p, m = spec.booster, spec.features, spec.objective, spec.provenance, spec.metadata
    doc = {
        VERSION_KEY: list(spec.version),
        "provenance": {"source_library": p.source_library, "source_version": list(p.source_version),
                       "writer": p.writer},
        "model": {"num_features": spec.num_features, "num_outputs": spec.num_outputs,
                  "best_iteration": spec.best_iteration, "source_attributes": spec.source_attributes},
        "objective": {"name": o.name, "transform": o.transform, "link": o.link, "params": o.params},
        "features": {"names": list(f.names) if f.names is not None else None,
                     "types": list(f.types) if f.types is not None else None,
                     "categories": [list(c) if c is not None else None for c in f.categories]
                     if f.categories is not None else None,
                     "category_types": list(f.category_types) if f.category_types is not None else None},
        "booster": {"kind": b.kind.value, "semantics": b.semantics.value if b.semantics else None,
                    "layout": b.layout.value if b.layout else None, "num_trees": b.num_trees,
                    "num_nodes": b.num_nodes, "leaf_size": b.leaf_size, "average_output": b.average_output},
        "metadata": {"name": m.name, "description": m.description, "hyperparameters": m.hyperparameters,
                     "metrics": m.metrics, "custom": m.custom},
    }
    arrays = {name: spec.arrays[name] for name in ARRAYS if name in spec.arrays}
    return doc, arrays


def read_version(doc, source) -> tuple[int, int]:
    if not isinstance(doc, dict):
        raise ModelFormatError(source, None, f"expected a JSON object at the top, got {type(doc).__name__}")
    v = doc.get(VERSION_KEY)
    if (not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool)
                                                          and x >= 0 for x in v)):
        raise ModelFormatError(source, VERSION_KEY, f"expected [major, minor] (two integers), got {v!r}")
    return v[0], v[1]


def from_document(doc: dict, arrays: dict, source: str | None = None) -> ModelSpec:
    """Check a document of any supported version, upgrade it to the current one, and build the spec."""
    major, minor = read_version(doc, source)
    if major > SCHEMA_VERSION[0] or major < 1:
        raise UnsupportedVersion(source, VERSION_KEY, f"{major}.{minor}",
                                 f"schema {SCHEMA_VERSION[0]}.x and older majors back to 1")
    # 1. upgrade: first to the last minor of its major (the keys each minor added), then one major
    # link at a time (each link: document + arrays of major N -> N + 1)
    while True:
        while (major, minor) in _MINOR_UPGRADES:  # the loop, not the link, moves the version on
            minor += 1
            doc = dict(_MINOR_UPGRADES[major, minor - 1](doc, source), **{VERSION_KEY: [major, minor]})
        if major >= SCHEMA_VERSION[0]:
            break
        doc, arrays = _UPGRADES[major](doc, arrays, source)
        major, minor = read_version(doc, source)
    newer = minor > SCHEMA_VERSION[1]
    if newer:
        warnings.warn(f"{source or '<bytes>'}: written with schema {major}.{minor}, newer than this gbinfer's "
                      f"{SCHEMA_VERSION[0]}.{SCHEMA_VERSION[1]}; additions it does not know were ignored",
                      NewerSchemaWarning, stacklevel=3)
    # 2. the document, key by key
    values = _check_tree(doc, DOCUMENT, "", source, newer)
    mv, bv, fv, ov, pv, uv = (values[k] for k in ("model", "booster", "features", "objective", "provenance",
                                                  "metadata"))
    kind = BoosterKind(bv["kind"])
    trees = kind is not BoosterKind.GBLINEAR
    semantics = Semantics(bv["semantics"]) if bv["semantics"] is not None else None
    layout = Layout(bv["layout"]) if bv["layout"] is not None else None
    if trees and (semantics is None or layout is None):
        raise ModelFormatError(source, "booster/semantics", f"a {kind.value} booster needs semantics and layout")
    for key in ("num_features", "num_outputs"):
        if not 0 <= mv[key] < 2**31 or (key == "num_outputs" and mv[key] < 1):
            raise ModelFormatError(source, f"model/{key}", f"is {mv[key]}, out of range")
    if mv["best_iteration"] is not None and mv["best_iteration"] < 0:
        raise ModelFormatError(source, "model/best_iteration", f"is {mv['best_iteration']}, expected >= 0")
    for key in ("num_trees", "num_nodes", "leaf_size"):
        if not 0 <= bv[key] < 2**31:
            raise ModelFormatError(source, f"booster/{key}", f"is {bv[key]}, out of range [0, 2**31)")
    if bv["average_output"] and semantics is not Semantics.LIGHTGBM:
        raise ModelFormatError(source, "booster/average_output", "is true, but only lightgbm semantics average")
    booster = BoosterSpec(kind, semantics, layout, bv["num_trees"], bv["num_nodes"], bv["leaf_size"],
                          bv["average_output"])
    if trees and (semantics is Semantics.CATBOOST) != (layout in CATBOOST_LAYOUTS):
        raise UnsupportedModelError(source, "booster/layout", f"{semantics.value} semantics with the {layout.value} "
                                                              "layout is not implemented: the oblivious and "
                                                              "nonsymmetric layouts hold catboost semantics' trees")
    if trees and semantics is Semantics.CATBOOST and kind is not BoosterKind.GBTREE:
        raise UnsupportedModelError(source, "booster/kind", f"is {kind.value}; catboost semantics need gbtree")
    for key in ("names", "types", "categories", "category_types"):
        if fv[key] is not None and len(fv[key]) != mv["num_features"]:
            raise ModelFormatError(source, f"features/{key}",
                                   f"has {len(fv[key])} entries, expected num_features = {mv['num_features']}")
    if (fv["categories"] is None) != (fv["category_types"] is None):
        raise ModelFormatError(source, "features/category_types",
                               "categories and category_types must both be null or both be lists")
    # 3. the arrays: names, dtypes and shapes against ARRAYS
    dims = {"outputs": mv["num_outputs"], "features": mv["num_features"], "nodes": bv["num_nodes"],
            "nodes+1": bv["num_nodes"] + 1, "trees": bv["num_trees"], "trees+1": bv["num_trees"] + 1,
            "leaf_size": bv["leaf_size"], "one": 1}
    checked = {}
    for name, arr in arrays.items():
        spec = ARRAYS.get(name)
        if spec is None:
            if newer:
                continue
            raise ModelFormatError(source, f"arrays/{name}", f"is not an array of schema {major}.{minor}; "
                                                             f"known: {', '.join(ARRAYS)}")
        if spec.boosters and kind.value not in spec.boosters:
            raise ModelFormatError(source, f"arrays/{name}", f"does not belong to a {kind.value} booster")
        if spec.layouts and (layout is None or layout.value not in spec.layouts):
            raise ModelFormatError(source, f"arrays/{name}", f"belongs to the {' or '.join(spec.layouts)} layout, "
                                                             f"not {layout.value if layout else 'a gblinear booster'}")
        if arr.dtype.name not in spec.dtypes:
            raise ModelFormatError(source, f"arrays/{name}",
                                   f"has dtype {arr.dtype.name}, expected {' or '.join(spec.dtypes)}")
        want = tuple(dims.get(d) for d in spec.shape)
        if arr.ndim != len(want) or any(w is not None and w != s for w, s in zip(want, arr.shape)):
            shown = "(" + ", ".join(f"{d}={w}" if w is not None else "any" for d, w in zip(spec.shape, want)) + ")"
            raise ModelFormatError(source, f"arrays/{name}", f"has shape {arr.shape}, expected {shown}")
        checked[name] = arr
    for name, spec in ARRAYS.items():
        if (kind.value in spec.boosters and (not spec.layouts or (layout is not None and layout.value in spec.layouts))
                and name not in checked and not spec.optional):
            where = f"a {kind.value} booster" + (f" of the {layout.value} layout" if spec.layouts else "")
            raise ModelFormatError(source, f"arrays/{name}", f"is missing ({where} needs it)")
    return ModelSpec(
        version=SCHEMA_VERSION,
        provenance=Provenance(pv["source_library"], tuple(pv["source_version"]), pv["writer"]),
        num_features=mv["num_features"],
        num_outputs=mv["num_outputs"],
        best_iteration=mv["best_iteration"],
        source_attributes=mv["source_attributes"],
        objective=ObjectiveSpec(ov["name"], ov["transform"], ov["link"], ov["params"]),
        features=FeaturesSpec(
            tuple(fv["names"]) if fv["names"] is not None else None,
            tuple(fv["types"]) if fv["types"] is not None else None,
            tuple(tuple(c) if c is not None else None for c in fv["categories"])
            if fv["categories"] is not None else None,
            tuple(fv["category_types"]) if fv["category_types"] is not None else None),
        booster=booster,
        metadata=UserMetadata(**uv),
        arrays=checked,
    )


# Migration chain: _UPGRADES[n](doc, arrays, source) turns a major-n document into a major-(n+1) one
# (and sets its VERSION_KEY). Schema 1 is the first, so the chain is empty today; schema 2 adds the
# link 1 -> 2 here, and the golden files under fixtures/schema/v1/ keep proving it.
_UPGRADES: dict = {}


def _add_category_types(doc: dict, source) -> dict:
    """1.0 -> 1.1: ``features.category_types``. 1.0 defined ``categories`` as category names, so a
    feature with a list there has string categories."""
    features = doc.get("features")
    if not isinstance(features, dict):
        return doc  # the key-by-key check names what is wrong
    cats = features.get("categories")
    types = ["str" if c is not None else None for c in cats] if isinstance(cats, list) else None
    return dict(doc, features=dict(features, category_types=types))


def _add_average_output(doc: dict, source) -> dict:
    """1.1 -> 1.2: ``booster.average_output``, which 1.1 kept in ``model.source_attributes``."""
    model, booster = doc.get("model"), doc.get("booster")
    if not isinstance(model, dict) or not isinstance(booster, dict) or not isinstance(
            model.get("source_attributes"), dict):
        return doc  # the key-by-key check names what is wrong
    attributes = dict(model["source_attributes"])
    average = attributes.pop("average_output", False) if booster.get("semantics") == "lightgbm" else False
    return dict(doc, model=dict(model, source_attributes=attributes), booster=dict(booster, average_output=average))


# Minor links within a major: _MINOR_UPGRADES[(major, minor)](doc, source) adds the keys of the next minor.
def _oblivious_is_new(doc: dict, source) -> dict:
    """1.2 -> 1.3: no key is added. 1.3 implements the ``catboost`` semantics and ``oblivious``
    layout that 1.2 reserved (and refused), with arrays of their own, so every 1.2 document means
    the same in 1.3."""
    return doc


def _covers_are_new(doc: dict, source) -> dict:
    """1.3 -> 1.4: no key is added. 1.4 only adds the optional arrays ``node_count`` and
    ``leaf_weights``; a 1.3 file has neither and loads, predicts and (without covers) refuses to
    explain as before."""
    return doc


_MINOR_UPGRADES: dict = {(1, 0): _add_category_types, (1, 1): _add_average_output, (1, 2): _oblivious_is_new,
                         (1, 3): _covers_are_new}


def _check_tree(doc, layout: dict, path: str, source, newer: bool) -> dict:
    if not isinstance(doc, dict):
        raise ModelFormatError(source, path or None, f"expected an object, got {type(doc).__name__}")
    out = {}
    for key, kind in layout.items():
        where = f"{path}/{key}" if path else key
        if key not in doc:
            raise ModelFormatError(source, where, "is missing")
        value = doc[key]
        out[key] = _check_tree(value, kind, where, source, newer) if isinstance(kind, dict) else \
            _check_value(value, kind, where, source)
    extra = [k for k in doc if k not in layout and not (not path and k == "arrays")]
    if extra and not newer:
        raise ModelFormatError(source, f"{path}/{extra[0]}" if path else extra[0],
                               "is not a key of this schema version")
    return out


def _check_value(value, kind: str, where: str, source):
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]

    def bad(expected):
        raise ModelFormatError(source, where, f"expected {expected}, got {value!r:.80}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if kind == "bool":
        return value if isinstance(value, bool) else bad("true or false")
    if kind in ("int", "version"):
        if kind == "version":
            return value
        return value if is_int(value) else bad("an integer")
    if kind == "str":
        return value if isinstance(value, str) else bad("a string")
    if kind == "dict":
        return value if isinstance(value, dict) else bad("an object")
    if kind == "int_list":
        return value if isinstance(value, list) and all(is_int(v) for v in value) else bad("a list of integers")
    if kind == "str_list":
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else bad(
            "a list of strings")
    if kind == "category_types":
        ok = isinstance(value, list) and all(t is None or t in CATEGORY_TYPES for t in value)
        return value if ok else bad(f"a list (per feature) of null or one of {', '.join(CATEGORY_TYPES)}")
    if kind == "categories":
        ok = isinstance(value, list) and all(c is None or (isinstance(c, list) and all(isinstance(s, str) for s in c))
                                             for c in value)
        return value if ok else bad("a list (per feature) of lists of category names or null")
    if kind.startswith("enum:"):
        known = _ENUMS[kind[5:]]
        if value not in known:
            raise UnsupportedModelError(source, where, f"unknown value {value!r:.80}; this gbinfer knows "
                                                       f"{', '.join(known)}")
        return value
    raise AssertionError(kind)  # pragma: no cover - a DOCUMENT typo


# --- runtime <-> spec ------------------------------------------------------------------------

def normalize_metadata(metadata, source=None) -> UserMetadata:
    """``{"name", "description", "hyperparameters", "metrics", "custom"}`` (all optional) as UserMetadata.

    Raises ``DataError`` (a ``ValueError``) for unknown keys, wrong types, or values JSON cannot hold.
    """
    from ..errors import DataError

    metadata = dict(metadata or {})
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    if unknown:
        raise DataError(f"unknown metadata keys {unknown}; expected {', '.join(METADATA_KEYS)} "
                        "(put anything else under 'custom')")
    for key in ("name", "description"):
        if metadata.get(key) is not None and not isinstance(metadata[key], str):
            raise DataError(f"metadata[{key!r}] must be a string, got {type(metadata[key]).__name__}")
    for key in ("hyperparameters", "metrics", "custom"):
        value = metadata.get(key)
        if value is None:
            metadata[key] = {}
        elif not isinstance(value, dict):
            raise DataError(f"metadata[{key!r}] must be a dict, got {type(value).__name__}")
        else:
            metadata[key] = _plain(value, f"metadata[{key!r}]")
    return UserMetadata(**metadata)


def _plain(value, what: str):
    """``value`` as plain JSON types (numpy scalars and arrays become numbers and lists)."""
    from ..errors import DataError

    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))
    except TypeError as exc:
        raise DataError(f"{what} must hold only JSON values (str keys, numbers, strings, lists, dicts): "
                        f"{exc}") from None


def from_runtime(model, metadata=None) -> ModelSpec:
    """The schema form of a runtime ``Model``; ``metadata`` entries replace the model's user metadata ones."""
    from .. import __version__
    from ..forest import Semantics as RuntimeSemantics
    from ..model import Dart, Linear
    from ..oblivious import Oblivious

    meta = model.meta
    merged = dict(getattr(meta, "user_metadata", None) or {})
    merged.update(metadata or {})
    user = normalize_metadata(merged)
    base = np.ascontiguousarray(meta.base_score, dtype=np.float32).reshape(-1)
    arrays = {"base_score": base}
    booster = model.booster
    if isinstance(booster, Oblivious):
        from .catboost import from_oblivious

        return from_oblivious(model, user, arrays)
    if isinstance(booster, Linear):
        spec = BoosterSpec(BoosterKind.GBLINEAR, None, None)
        arrays["linear_weights"] = np.ascontiguousarray(booster.weights, dtype=np.float32)
        arrays["linear_bias"] = np.ascontiguousarray(booster.bias, dtype=np.float32).reshape(-1)
    else:
        f = booster.forest
        if not hasattr(f, "semantics"):  # a LightGBM forest
            return _from_lightgbm(model, user, arrays)
        semantics = {RuntimeSemantics.XGBOOST: Semantics.XGBOOST}.get(f.semantics)
        if semantics is None:  # pragma: no cover - a runtime semantics the schema lacks: add it first
            raise UnsupportedModelError(None, "booster/semantics", f"runtime semantics {f.semantics!r} has no "
                                                                   "schema value yet")
        kind = BoosterKind.DART if isinstance(booster, Dart) else BoosterKind.GBTREE
        spec = BoosterSpec(kind, semantics, Layout.NODES, f.num_trees, f.num_nodes, f.leaf_size)
        arrays.update(
            iteration_indptr=np.asarray(booster.iteration_indptr, dtype=np.int64),
            tree_offsets=f.tree_offsets, tree_group=f.tree_group,
            split_feature=f.split_feature, threshold=f.threshold, left_child=f.left_child,
            right_child=f.right_child, default_left=f.default_left, split_kind=f.is_categorical,
            cat_offsets=f.cat_offsets, cat_bits=f.cat_bits, leaf_values=f.leaf_values, node_id=f.node_id,
        )
        if f.has_cover:
            arrays["cover"] = f.cover
        if kind is BoosterKind.DART:
            arrays["tree_weight"] = np.asarray(booster.weights, dtype=np.float32)
    obj = model.objective
    return ModelSpec(
        version=SCHEMA_VERSION,
        provenance=Provenance(meta.source_library, tuple(int(v) for v in meta.source_version),
                              f"gbinfer {__version__}"),
        num_features=int(meta.num_features),
        num_outputs=int(meta.num_outputs),
        best_iteration=int(meta.best_iteration) if meta.best_iteration is not None else None,
        source_attributes=_plain(dict(meta.attributes or {}), "meta.attributes"),
        objective=ObjectiveSpec(obj.name, obj.transform.name.lower(), obj.link.name.lower(),
                                _plain(dict(obj.params or {}), "objective.params")),
        features=_features_spec(model.features),
        booster=spec,
        metadata=user,
        arrays=arrays,
    )


def _from_lightgbm(model, user: UserMetadata, arrays: dict) -> ModelSpec:
    """A LightGBM forest in the schema's node layout with ``lightgbm`` semantics: float64
    thresholds and leaves, the reserved ``missing_type`` array, ``node_id`` the leaf numbers
    (-1 at splits), linear leaves in ``leaf_const`` and the ``leaf_coef_*`` arrays. The objective
    is kept as LightGBM wrote it (``source_attributes``); its transform is named beside it."""
    from .. import __version__

    meta, booster, obj = model.meta, model.booster, model.objective
    f = booster.forest
    n = f.num_nodes
    arrays.update(
        iteration_indptr=np.asarray(booster.iteration_indptr, dtype=np.int64),
        tree_offsets=f.tree_offsets, tree_group=f.tree_group,
        split_feature=f.split_feature, threshold=f.threshold, left_child=f.left_child,
        right_child=f.right_child, default_left=f.default_left, split_kind=f.is_categorical,
        cat_offsets=f.cat_offsets if f.has_categorical else np.zeros(n + 1, dtype=np.int64),
        cat_bits=f.cat_bits, leaf_values=f.leaf_value.reshape(n, 1), node_id=f.leaf_index,
        missing_type=f.missing_type,
    )
    if f.has_counts:
        arrays["node_count"] = f.data_count
    if f.has_linear:
        arrays.update(leaf_coef_offsets=f.linear_offsets, leaf_coef_feature=f.linear_feature,
                      leaf_coef_value=f.linear_coeff, leaf_const=f.linear_const)
    attributes = _plain(dict(meta.attributes or {}), "meta.attributes")
    attributes["average_output"] = bool(f.average_output)  # where a 1.1 reader looks for it
    return ModelSpec(
        version=SCHEMA_VERSION,
        provenance=Provenance(meta.source_library, tuple(int(v) for v in meta.source_version),
                              f"gbinfer {__version__}"),
        num_features=int(meta.num_features),
        num_outputs=int(meta.num_outputs),
        best_iteration=None,
        source_attributes=attributes,
        objective=ObjectiveSpec(obj.name, obj.transform.name.lower(), obj.link.name.lower(),
                                _plain(dict(obj.params or {}), "objective.params")),
        features=FeaturesSpec(model.features.names, model.features.types, None),
        booster=BoosterSpec(BoosterKind.GBTREE, Semantics.LIGHTGBM, Layout.NODES, f.num_trees, n, 1,
                            bool(f.average_output)),
        metadata=user,
        arrays=arrays,
    )


def _into_lightgbm(spec: ModelSpec, source):
    """The runtime LightGBM forest of a ``lightgbm``-semantics spec, through the same checks as
    a text file (``forest_lightgbm.trees_from_nodes`` then ``build``)."""
    from ..forest_lightgbm import build, trees_from_nodes
    from ..model import Tree
    from ..objective import Objective

    a, b = spec.arrays, spec.booster
    if b.kind is not BoosterKind.GBTREE or b.leaf_size != 1:
        raise UnsupportedModelError(source, "booster/kind", "lightgbm semantics need a gbtree booster with scalar "
                                                            "leaves")
    for name in ("threshold", "leaf_values"):
        if a[name].dtype != np.float64:
            raise UnsupportedModelError(source, f"arrays/{name}", f"is {a[name].dtype.name}; lightgbm semantics "
                                                                  "use float64")
    if "missing_type" not in a:
        raise ModelFormatError(source, "arrays/missing_type", "is missing (lightgbm semantics need it)")
    if "cover" in a:
        raise UnsupportedModelError(source, "arrays/cover", "belongs to xgboost semantics; this model has lightgbm "
                                                            "semantics")
    if np.any(a["base_score"] != 0):  # LightGBM starts every prediction from 0: its trees hold the average
        raise ModelFormatError(source, "arrays/base_score", "must be 0 for lightgbm semantics, which have no base "
                                                            "score")
    linear = [name for name in _LINEAR if name in a]
    if linear and len(linear) != len(_LINEAR):
        missing = next(name for name in _LINEAR if name not in a)
        raise ModelFormatError(source, f"arrays/{missing}", f"is missing: linear leaves need {', '.join(_LINEAR)}")
    trees = trees_from_nodes(source=source, tree_offsets=a["tree_offsets"], left_child=a["left_child"],
                             right_child=a["right_child"], split_feature=a["split_feature"],
                             threshold=a["threshold"], default_left=a["default_left"], split_kind=a["split_kind"],
                             missing_type=a["missing_type"], cat_offsets=a["cat_offsets"], cat_bits=a["cat_bits"],
                             leaf_values=a["leaf_values"], node_id=a["node_id"],
                             linear={name: a[name] for name in _LINEAR} if linear else None)
    if "node_count" in a:
        trees = _with_counts(trees, a, source)
    k = spec.num_outputs
    attributes = dict(spec.source_attributes)
    mirror = attributes.pop("average_output", b.average_output)  # 1.2 writes it here too, for 1.1 readers
    if mirror is not b.average_output:
        raise ModelFormatError(source, "model/source_attributes/average_output",
                               f"is {mirror!r}, but booster/average_output is {b.average_output}")
    line = attributes.get("objective")
    if line is not None and not isinstance(line, str):
        raise ModelFormatError(source, "model/source_attributes/objective", "expected LightGBM's objective line")
    objective = Objective.lightgbm(line, k, source=source)
    if objective.transform.name.lower() != spec.objective.transform:
        raise ModelFormatError(source, "objective/transform", f"is {spec.objective.transform!r}, but the LightGBM "
                                                              f"objective {line!r} means "
                                                              f"{objective.transform.name.lower()!r}")
    forest = build(trees, source=source, num_features=spec.num_features, num_outputs=k,
                   average_output=b.average_output)
    indptr = np.ascontiguousarray(a["iteration_indptr"], dtype=np.int64)
    if not np.array_equal(indptr, np.arange(0, b.num_trees + 1, k)):
        raise ModelFormatError(source, "arrays/iteration_indptr", f"must step by the class count {k} from 0 to "
                                                                  f"{b.num_trees}")
    if not np.array_equal(a["tree_group"], np.arange(b.num_trees) % k):
        raise ModelFormatError(source, "arrays/tree_group", "must cycle through the classes, as LightGBM's trees do")
    indptr.flags.writeable = False
    return Tree(forest=forest, iteration_indptr=indptr), objective, attributes


_LINEAR = ("leaf_const", "leaf_coef_offsets", "leaf_coef_feature", "leaf_coef_value")


def _with_counts(trees, a: dict, source):
    """LightGBM's ``internal_count`` and ``leaf_count`` from ``node_count`` (checked >= 0), in the
    orders ``trees_from_nodes`` numbers splits (node order within each tree) and leaves
    (``node_id`` within each tree)."""
    import dataclasses

    counts = a["node_count"]
    negative = np.flatnonzero(counts < 0)
    if len(negative):
        at = int(negative[0])
        raise ModelFormatError(source, f"arrays/node_count[{at}]", f"is {int(counts[at])}, expected a row count >= 0")
    offsets = np.asarray(a["tree_offsets"], dtype=np.int64)
    tree_of = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    internal = np.asarray(a["left_child"]) != -1
    leaf_order = np.lexsort((np.asarray(a["node_id"], dtype=np.int64)[~internal], tree_of[~internal]))
    return dataclasses.replace(trees, internal_count=counts[internal].astype(np.int64),
                               leaf_count=counts[~internal][leaf_order].astype(np.int64))


def into_runtime(spec: ModelSpec, source: str | None = None):
    """The runtime ``Model`` for a checked spec. Trees go through ``SoAForest.build``, which validates
    every index and packs the node arrays into the kernels' form."""
    from ..forest import Semantics as RuntimeSemantics
    from ..forest import SoAForest
    from ..model import Dart, FeatureInfo, Linear, Model, ModelMeta, Tree
    from ..objective import BaseScoreLink, Objective, Transform

    a, b = spec.arrays, spec.booster
    k = spec.num_outputs
    lightgbm = None
    if b.semantics is Semantics.CATBOOST or b.layout in CATBOOST_LAYOUTS:
        from .catboost import into_oblivious

        return into_oblivious(spec, source)
    if b.semantics is Semantics.LIGHTGBM:
        lightgbm = _into_lightgbm(spec, source)
        booster = lightgbm[0]
    elif b.kind is BoosterKind.GBLINEAR:
        booster = Linear(weights=np.ascontiguousarray(a["linear_weights"], dtype=np.float32),
                         bias=np.ascontiguousarray(a["linear_bias"], dtype=np.float32))
    else:
        # 1. what this gbinfer can predict with
        if b.semantics not in IMPLEMENTED_SEMANTICS:
            raise UnsupportedModelError(source, "booster/semantics",
                                        f"{b.semantics.value!r} decision semantics are reserved but not implemented "
                                        f"by this gbinfer (it predicts with: "
                                        f"{', '.join(s.value for s in IMPLEMENTED_SEMANTICS)})")
        if b.layout not in IMPLEMENTED_LAYOUTS:
            raise UnsupportedModelError(source, "booster/layout",
                                        f"tree layout {b.layout.value!r} is reserved but not implemented by this "
                                        "gbinfer")
        reserved = [n for n in a if not ARRAYS[n].boosters]
        if reserved:
            raise UnsupportedModelError(source, f"arrays/{reserved[0]}",
                                        f"belongs to {Semantics.LIGHTGBM.value} semantics; this model has "
                                        f"{b.semantics.value} semantics")
        for name in ("threshold", "leaf_values"):
            if a[name].dtype != np.float32:
                raise UnsupportedModelError(source, f"arrays/{name}",
                                            f"is {a[name].dtype.name}; {b.semantics.value} semantics use float32")
        # 2. per-node enum codes the kernels branch on
        _codes(a["split_kind"], tuple(SplitKind), "split_kind", source)
        _codes(a["default_left"], (0, 1), "default_left", source)
        if b.leaf_size not in (1, k):
            raise ModelFormatError(source, "booster/leaf_size",
                                   f"is {b.leaf_size}, expected 1 or the output count {k}")
        if b.kind is BoosterKind.DART:
            if b.leaf_size > 1:
                raise UnsupportedModelError(source, "booster/kind", "DART with vector leaves is refused, as "
                                                                    "XGBoost refuses it")
            _finite(a["tree_weight"], "tree_weight", source)
        indptr = np.ascontiguousarray(a["iteration_indptr"], dtype=np.int64)
        if (len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != b.num_trees or indptr.min() < 0
                or indptr.max() > b.num_trees or np.any(np.diff(indptr) < 0)):  # the range first: diffs can wrap
            raise ModelFormatError(source, "arrays/iteration_indptr",
                                   f"must rise from 0 to the tree count {b.num_trees}")
        indptr.flags.writeable = False
        if "cover" in a:  # TreeSHAP divides by covers; SoAForest.build checks them again
            _finite(a["cover"], "cover", source)
        # 3. the validated forest
        forest = SoAForest.build(
            source=source, num_features=spec.num_features, num_outputs=k,
            semantics={Semantics.XGBOOST: RuntimeSemantics.XGBOOST}[b.semantics],
            split_feature=a["split_feature"], threshold=a["threshold"], left_child=a["left_child"],
            right_child=a["right_child"], default_left=a["default_left"], is_categorical=a["split_kind"],
            cat_offsets=a["cat_offsets"], cat_bits=a["cat_bits"], leaf_values=a["leaf_values"],
            tree_offsets=a["tree_offsets"], tree_group=a["tree_group"], node_id=a["node_id"], cover=a.get("cover"),
        )
        if b.kind is BoosterKind.DART:
            booster = Dart(forest=forest, iteration_indptr=indptr,
                           weights=np.ascontiguousarray(a["tree_weight"], dtype=np.float32))
        else:
            booster = Tree(forest=forest, iteration_indptr=indptr)
    _finite(a["base_score"], "base_score", source)
    o = spec.objective
    if lightgbm is None:
        if o.transform.upper() not in Transform.__members__:
            raise UnsupportedModelError(source, "objective/transform", f"{o.transform!r} is a LightGBM transform; "
                                                                       "this model does not have lightgbm semantics")
        objective = Objective(o.name, Transform[o.transform.upper()], BaseScoreLink[o.link.upper()], dict(o.params))
    else:
        objective = lightgbm[1]
    user = user_metadata(spec.metadata)
    meta = ModelMeta(
        num_features=spec.num_features,
        num_outputs=k,
        base_score=np.ascontiguousarray(a["base_score"], dtype=np.float32),
        source_library=spec.provenance.source_library,
        source_version=spec.provenance.source_version,
        best_iteration=spec.best_iteration,
        attributes=dict(spec.source_attributes) if lightgbm is None else lightgbm[2],
        user_metadata=user,
    )
    features = FeatureInfo(spec.features.names, spec.features.types, _training_categories(spec.features, source))
    return Model(booster=booster, meta=meta, features=features, objective=objective)


def user_metadata(m: UserMetadata) -> dict:
    """The runtime ``ModelMeta.user_metadata``: the entries that are set."""
    return {key: value for key, value in (("name", m.name), ("description", m.description),
                                          ("hyperparameters", m.hyperparameters), ("metrics", m.metrics),
                                          ("custom", m.custom)) if value}


def _codes(arr: np.ndarray, known, name: str, source) -> None:
    """Codes are 0..len(known)-1 and the array unsigned, so the maximum settles it."""
    top = len(known) - 1
    if arr.size and int(arr.max()) > top:
        node = int(np.flatnonzero(arr > top)[0])
        raise UnsupportedModelError(source, f"arrays/{name}[{node}]",
                                    f"unknown code {int(arr[node])}; this gbinfer knows "
                                    f"{', '.join(str(int(c)) for c in known)}")


def _finite(arr: np.ndarray, name: str, source) -> None:
    """A non-finite base score or tree weight would make every prediction NaN or infinite."""
    if not np.all(np.isfinite(arr)):
        node = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ModelFormatError(source, f"arrays/{name}[{node}]", f"is {arr[node]}, expected a finite number")


def _features_spec(features) -> FeaturesSpec:
    cats = getattr(features, "categories", None)
    if cats is None:
        return FeaturesSpec(features.names, features.types, None, None)
    values = tuple(None if c is None or c.values is None else tuple(str(v) for v in c.values) for c in cats)
    return FeaturesSpec(features.names, features.types, values, tuple(None if c is None else c.dtype for c in cats))


def _training_categories(features: FeaturesSpec, source):
    """The runtime ``TrainingCategories`` per feature, each value checked: integers are canonical
    decimal strings within their type, no category appears twice."""
    from ..model import TrainingCategories

    if features.categories is None:
        return None
    out = []
    for f, (values, kind) in enumerate(zip(features.categories, features.category_types)):
        where = f"features/categories/{f}"
        if kind is None:
            if values is not None:
                raise ModelFormatError(source, f"features/category_types/{f}", "is null but the feature has categories")
            out.append(None)
            continue
        if values is not None and kind != "str":
            info = np.iinfo(kind)
            parsed = []
            for v in values:
                n = int(v) if _DECIMAL.fullmatch(v) else None
                if n is None or str(n) != v or not info.min <= n <= info.max:
                    raise ModelFormatError(source, where, f"category {v!r:.40} is not a decimal {kind}")
                parsed.append(n)
            values = tuple(parsed)
        if values is not None and len(set(values)) != len(values):
            raise ModelFormatError(source, where, "holds a category more than once")
        out.append(TrainingCategories(kind, values))
    return tuple(out) if any(c is not None for c in out) else None
