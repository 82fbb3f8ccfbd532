"""XGBoost models: the JSON / UBJSON document (``save_model("m.json")`` / ``"m.ubj"``) and the
one builder that turns that document into a runtime ``Model``.

The legacy binary format (``xgboost_binary``) parses into the same document shape, so every
XGBoost format shares this builder. XGBoost's document types never leave this file.

Shapes handled, by release: ``base_score`` as a number, ``"0.500000"``, ``"5E-1"``,
``"[5E-1]"`` or a per-output vector (3.1+), stored in output space and linked to a margin by
the objective; DART weights beside the trees (``weight_drop`` next to ``gbtree``, up to 3.2) or
inside the tree model (3.4+); vector leaves in ``base_weights`` (up to 3.1) or in
``leaf_weights`` indexed through the leaf's right-child slot (3.2+); ``iteration_indptr``
(2.0+) or rounds derived from ``num_parallel_tree`` and the output count.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson

from ..errors import DataError, ModelFormatError, UnsupportedModelError
from ..forest import Semantics, assemble, check_integers
from ..model import Dart, FeatureInfo, Linear, Model, ModelMeta, Tree
from ..objective import Objective
from ..predict.transforms import base_score_to_margin


def load(path) -> Model:
    """Load an XGBoost JSON, UBJSON or legacy binary model file."""
    if not isinstance(path, str) and not hasattr(path, "__fspath__"):
        raise DataError(f"load() takes a path (str or os.PathLike), got {type(path).__name__}; "
                        "use loads() for bytes")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    return loads(data, source=str(path))


def loads(data: bytes, source: str | None = None) -> Model:
    """Load an XGBoost model from bytes, choosing JSON, UBJSON or legacy binary by content."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"loads() takes bytes, got {type(data).__name__}"
                        + ("; encode text first, e.g. text.encode()" if isinstance(data, str) else ""))
    if source is not None and not isinstance(source, str):
        raise DataError(f"loads(source=...) names the model in messages: a str, got {type(source).__name__}")
    data = bytes(data)
    kind = sniff(data)
    if kind == "json":
        doc = _parse_json(data, source)
    elif kind == "ubj":
        from .ubjson import decode

        doc = decode(data, source)
    else:
        from .xgboost_binary import parse

        doc = parse(data, source)
    return from_document(doc, source)


def _parse_json(data: bytes, source):
    """XGBoost writes bare ``NaN`` / ``Infinity`` (e.g. as categorical split conditions), which
    strict JSON parsers refuse; the standard library accepts them, so it reads those files."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as strict_error:
        import json

        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise ModelFormatError(source, None, f"not valid JSON: {strict_error}") from None


def sniff(data: bytes) -> str:
    """``"json"``, ``"ubj"`` or ``"binary"`` for bytes holding an XGBoost model."""
    head = bytes(data[:64]).lstrip()
    if head.startswith(b"{"):
        nxt = head[1:2]
        return "json" if nxt in (b'"', b"}", b"") or nxt.isspace() else "ubj"
    return "binary"


# --- document -> Model ---------------------------------------------------------------------

# Outputs a model may declare beyond what its content shows (trees, leaf vectors, base scores):
# a model trained for zero rounds stores one base score for all its classes. A declared count
# is capped so that a few bytes cannot make the loader allocate gigabytes.
_FREE_OUTPUTS = 1024


def from_document(doc, source: str | None = None) -> Model:
    """Build a Model from a parsed XGBoost model document (JSON shape)."""
    # 1. learner-level parameters
    doc = _obj(doc, "", source)
    learner = _obj(_get(doc, "learner", "", source), "learner", source)
    version = tuple(_int(v, f"version/{i}", source)
                    for i, v in enumerate(_list(doc.get("version", [0, 0, 0]), "version", source)))
    if any(not 0 <= v < 2**31 for v in version):
        i = next(i for i, v in enumerate(version) if not 0 <= v < 2**31)
        raise ModelFormatError(source, f"version/{i}", f"is {version[i]}, expected a release number in [0, 2**31)")
    lmp_path = "learner/learner_model_param"
    lmp = _obj(_get(learner, "learner_model_param", "learner", source), lmp_path, source)
    num_features = _int(_get(lmp, "num_feature", lmp_path, source), f"{lmp_path}/num_feature", source)
    num_class = _int(lmp.get("num_class", 0), f"{lmp_path}/num_class", source)
    num_target = _int(lmp.get("num_target", 1), f"{lmp_path}/num_target", source)
    for field, value in (("num_feature", num_features), ("num_class", num_class), ("num_target", num_target)):
        if value < 0:
            raise ModelFormatError(source, f"{lmp_path}/{field}", f"is {value}, expected >= 0")
    num_outputs = max(num_class, num_target, 1)

    # 2. objective and base score (stored in output space; XGBoost links it to a margin)
    obj_doc = _obj(_get(learner, "objective", "learner", source), "learner/objective", source)
    obj_name = _str(_get(obj_doc, "name", "learner/objective", source), "learner/objective/name", source)
    params = _plain({k: v for k, v in obj_doc.items() if k != "name"}, "learner/objective", source)
    objective = Objective.xgboost(obj_name, params, source=source)
    base = _base_score(lmp.get("base_score", 0.5), source)

    # 3. booster
    gb = _obj(_get(learner, "gradient_booster", "learner", source), "learner/gradient_booster", source)
    gb_name = _get(gb, "name", "learner/gradient_booster", source)
    if gb_name == "gblinear":
        booster, fitted = _linear(gb, num_features, num_outputs, source)
        content = booster.bias.size
    elif gb_name in ("gbtree", "dart"):
        booster = _trees(gb, gb_name, num_features, num_outputs, source)
        content = max(booster.forest.num_trees, booster.forest.leaf_size)
        fitted = booster.forest.num_trees > 0
    else:
        raise UnsupportedModelError(source, "learner/gradient_booster/name",
                                    f"unknown booster {gb_name!r:.80}; expected gbtree, dart or gblinear")
    if num_outputs > max(content, len(base), _FREE_OUTPUTS):
        field = "num_class" if num_class >= num_target else "num_target"
        raise ModelFormatError(source, f"{lmp_path}/{field}",
                               f"declares {num_outputs} outputs, but the model holds trees, leaf vectors or base "
                               f"scores for at most {max(content, len(base))}")
    if len(base) not in (1, num_outputs):
        raise ModelFormatError(source, f"{lmp_path}/base_score",
                               f"has {len(base)} values, expected 1 or {num_outputs} (one per output)")
    base_margin = base_score_to_margin(np.resize(base, num_outputs), objective, source,
                                       f"{lmp_path}/base_score")
    if not fitted and _int(lmp.get("boost_from_average", 1), f"{lmp_path}/boost_from_average", source):
        # A model trained for zero rounds (no trees, no linear weights) whose intercept XGBoost was
        # to estimate predicts its stored base score itself as the margin, unlinked: XGBoost 3.2 does.
        base_margin = np.resize(base, num_outputs).astype(np.float32)
    if gb_name == "gblinear":
        # XGBoost's gblinear starts every output from the first base score, even when 3.1+
        # stores one per class
        base_margin = np.full(num_outputs, base_margin[0], dtype=np.float32)

    # 4. features and metadata
    names = _strings(learner.get("feature_names"), "learner/feature_names", num_features, source)
    types = _strings(learner.get("feature_types"), "learner/feature_types", num_features, source)
    attributes = _plain(dict(_obj(learner.get("attributes") or {}, "learner/attributes", source)),
                        "learner/attributes", source)
    best = attributes.get("best_iteration")
    if best is not None:
        best = _int(best, "learner/attributes/best_iteration", source)
        if not 0 <= best < 2**31:
            raise ModelFormatError(source, "learner/attributes/best_iteration",
                                   f"is {best}, expected a boosting round in [0, 2**31)")
    meta = ModelMeta(
        num_features=num_features,
        num_outputs=num_outputs,
        base_score=base_margin,
        source_library="xgboost",
        source_version=version,
        best_iteration=best,
        attributes=attributes,
    )
    categories = None
    if gb_name in ("gbtree", "dart"):
        from . import xgboost_categories

        cats, cats_path = xgboost_categories.find(gb, gb_name)
        categories = xgboost_categories.parse(cats, num_features, types, version, cats_path, source)
    features = FeatureInfo(names, types, categories)
    return Model(booster=booster, meta=meta, features=features, objective=objective)


# Decimal numbers as XGBoost writes them: Python's float() and int() also take "1_0", "inf" or
# non-ASCII digits, which no XGBoost writes or reads.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]{1,40}")  # longer digit strings make int() slow and overflow anyway


def _base_score(value, source) -> np.ndarray:
    """The stored base score(s), float32, not yet broadcast to the output count."""
    field = "learner/learner_model_param/base_score"
    try:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]"):  # 3.1+: "[5E-1]" or "[a,b,c]"
                text = text[1:-1]
            parts = [p.strip() for p in text.split(",")]
            parts = [float(p) for p in parts] if all(_NUMBER.fullmatch(p) for p in parts) else None
        elif isinstance(value, (list, np.ndarray)):
            ok = np.ndim(value) == 1 and all(isinstance(p, (int, float, np.integer, np.floating))
                                             and not isinstance(p, (bool, np.bool_)) for p in value)
            parts = [float(p) for p in value] if ok else None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts = [float(value)]
        else:
            parts = None
    except (TypeError, ValueError, OverflowError):
        parts = None
    if not parts:
        raise ModelFormatError(source, field, f"expected a number or a list of numbers, got {value!r:.80}")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused with the link
        return np.array(parts, dtype=np.float32)


# zero weights a linear model saved without any may stand for (16 MiB): beyond, a few bytes of file
# would allocate what num_feature declares
_UNFITTED_LINEAR = 1 << 22


def _linear(gb, num_features: int, num_outputs: int, source) -> tuple[Linear, bool]:
    """The linear booster, and whether it holds weights (XGBoost saves none before the first round)."""
    path = "learner/gradient_booster/model/weights"
    model = _obj(_get(gb, "model", "learner/gradient_booster", source), "learner/gradient_booster/model", source)
    weights = _array(_get(model, "weights", "learner/gradient_booster/model", source), np.float32, path, source)
    expected = (num_features + 1) * num_outputs
    fitted = weights.size > 0
    if not fitted and expected <= _UNFITTED_LINEAR:  # trained for zero rounds: XGBoost saves no weights
        weights = np.zeros(expected, dtype=np.float32)
    if weights.size != expected:
        raise ModelFormatError(source, path, f"has {weights.size} values, expected (num_feature + 1) x outputs = "
                                             f"{expected}")
    table = weights.reshape(num_features + 1, num_outputs)
    return Linear(weights=np.ascontiguousarray(table[:num_features]),
                  bias=np.ascontiguousarray(table[num_features])), fitted


def _trees(gb, gb_name: str, num_features: int, num_outputs: int, source):
    # DART up to 3.2: {"name": "dart", "gbtree": {...}, "weight_drop": [...]}; 3.4+: a gbtree
    # whose tree model holds weight_drop. A weight_drop beside a gbtree's model is read by no
    # release: it is ignored, as XGBoost ignores it.
    base = "learner/gradient_booster"
    holder = _obj(_get(gb, "gbtree", base, source), f"{base}/gbtree", source) if gb_name == "dart" else gb
    mpath = f"{base}/gbtree/model" if gb_name == "dart" else f"{base}/model"
    model = _obj(_get(holder, "model", mpath.rsplit("/", 1)[0], source), mpath, source)

    trees = _list(_get(model, "trees", mpath, source), f"{mpath}/trees", source)
    n_trees = len(trees)
    param = _obj(model.get("gbtree_model_param", {}), f"{mpath}/gbtree_model_param", source)
    declared = param.get("num_trees")
    if declared is not None and _int(declared, f"{mpath}/gbtree_model_param/num_trees", source) != n_trees:
        raise ModelFormatError(source, f"{mpath}/gbtree_model_param/num_trees",
                               f"says {str(declared):.40} but {n_trees} trees are stored")
    tree_info = model.get("tree_info")
    tree_info = (np.zeros(n_trees, dtype=np.int64) if tree_info is None
                 else _array(tree_info, np.int32, f"{mpath}/tree_info", source).astype(np.int64))
    if len(tree_info) != n_trees:
        raise ModelFormatError(source, f"{mpath}/tree_info", f"has {len(tree_info)} entries, expected {n_trees}")

    # A category set is a bitset as wide as its largest code: a few bytes of file (code 2**24 - 1,
    # slices shared between nodes) can ask for 2 MiB each. The bitsets of a model get a fixed
    # allowance plus a share per category the file lists.
    listed = sum(len(t["categories"]) for t in trees
                 if isinstance(t, dict) and isinstance(t.get("categories"), (list, np.ndarray)))
    budget = [_CATEGORY_WORDS + _WORDS_PER_CATEGORY * listed]
    parts = [_tree_arrays(t, i, f"{mpath}/trees/{i}", source, budget) for i, t in enumerate(trees)]
    leaf_sizes = {p["leaf_size"] for p in parts}
    if len(leaf_sizes) > 1:
        raise ModelFormatError(source, f"{mpath}/trees", f"mixes leaf sizes {sorted(leaf_sizes)}")
    leaf_size = leaf_sizes.pop() if parts else 1
    if leaf_size > 1 and leaf_size != num_outputs:
        raise ModelFormatError(source, f"{mpath}/trees/0/tree_param/size_leaf_vector",
                               f"is {leaf_size}, expected the model's output count {num_outputs}")
    if gb_name == "dart":
        wpath, weight_drop = f"{base}/weight_drop", _get(gb, "weight_drop", base, source)
    else:
        wpath, weight_drop = f"{mpath}/weight_drop", model.get("weight_drop")
    if leaf_size > 1 and weight_drop is not None:
        raise UnsupportedModelError(source, wpath, "DART with vector leaves (multi_strategy=multi_output_tree) "
                                                   "is refused, as XGBoost refuses it")
    if leaf_size == 1 and n_trees and (tree_info.min() < 0 or tree_info.max() >= num_outputs):
        i = int(np.flatnonzero((tree_info < 0) | (tree_info >= num_outputs))[0])
        raise ModelFormatError(source, f"{mpath}/tree_info/{i}",
                               f"output group {int(tree_info[i])} is out of range [0, {num_outputs})")

    indptr = model.get("iteration_indptr")
    if indptr is not None:
        indptr = _array(indptr, np.int64, f"{mpath}/iteration_indptr", source)
        if (len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != n_trees or indptr.min() < 0
                or indptr.max() > n_trees or np.any(np.diff(indptr) < 0)):  # the range first: diffs can wrap
            raise ModelFormatError(source, f"{mpath}/iteration_indptr",
                                   f"must rise from 0 to the tree count {n_trees}")
    else:
        parallel = _int(param.get("num_parallel_tree", 1), f"{mpath}/gbtree_model_param/num_parallel_tree", source)
        per_round = max(parallel, 1) * (1 if leaf_size > 1 else num_outputs)
        indptr = np.arange(0, n_trees + 1, per_round, dtype=np.int64)
        if indptr[-1] != n_trees:
            indptr = np.append(indptr, n_trees)

    cat = _concat_categories(parts)
    forest = assemble(
        source=source,
        semantics=Semantics.XGBOOST,
        num_features=num_features,
        num_outputs=num_outputs,
        tree_sizes=np.array([p["n"] for p in parts], dtype=np.int64),
        tree_group=tree_info if leaf_size == 1 else np.zeros(n_trees, dtype=np.int64),
        left_local=_cat(parts, "left", np.int64),
        right_local=_cat(parts, "right", np.int64),
        split_feature=_cat(parts, "feature", np.int64),
        threshold=_cat(parts, "threshold", np.float32),
        default_left=_cat(parts, "default_left", np.uint8),
        is_categorical=_cat(parts, "is_cat", np.uint8),
        cat_offsets=cat[0],
        cat_bits=cat[1],
        leaf_values=np.concatenate([p["leaf"] for p in parts]) if parts else np.zeros((0, 1), np.float32),
        cover=_cat(parts, "cover", np.float32) if all("cover" in p for p in parts) else None,
    )
    if weight_drop is None:
        return Tree(forest=forest, iteration_indptr=indptr)
    weights = _array(weight_drop, np.float32, wpath, source)
    if len(weights) > n_trees:
        raise ModelFormatError(source, wpath, f"has {len(weights)} weights for {n_trees} trees")
    if not np.all(np.isfinite(weights)):
        raise ModelFormatError(source, wpath, "holds a weight that is not a finite number")
    # 3.4 allows fewer weights than trees: trees added after the last dropout round weigh 1
    weights = np.concatenate([weights, np.ones(n_trees - len(weights), dtype=np.float32)])
    return Dart(forest=forest, iteration_indptr=indptr, weights=weights)


_CATEGORY_WORDS = 1 << 24  # 64 MiB of category bitsets for any model
_WORDS_PER_CATEGORY = 4096  # and 16 KiB more per listed category (a lone code up to 131071)


def _tree_arrays(tree, index: int, path: str, source, budget: list) -> dict:
    tree = _obj(tree, path, source)
    tparam = _obj(_get(tree, "tree_param", path, source), f"{path}/tree_param", source)
    n = _int(_get(tparam, "num_nodes", f"{path}/tree_param", source), f"{path}/tree_param/num_nodes", source)
    leaf_size = max(_int(tparam.get("size_leaf_vector", 1), f"{path}/tree_param/size_leaf_vector", source), 1)

    def arr(name, dtype, default=None):
        value = tree.get(name, default)
        if value is None:
            raise ModelFormatError(source, f"{path}/{name}", "is missing")
        a = _array(value, dtype, f"{path}/{name}", source)
        if len(a) != n:
            raise ModelFormatError(source, f"{path}/{name}", f"has {len(a)} entries, expected num_nodes = {n}")
        return a

    # int32, as XGBoost stores them (even a leaf's unused right child); the length of the first
    # bounds n before anything is allocated by it
    left = arr("left_children", np.int32).astype(np.int64)
    right = arr("right_children", np.int32).astype(np.int64)
    out = {
        "n": n,
        "leaf_size": leaf_size,
        "left": left,
        "right": right,
        "feature": arr("split_indices", np.int64),
        "threshold": arr("split_conditions", np.float32),
        "default_left": arr("default_left", np.uint8),
        "is_cat": arr("split_type", np.uint8, default=[0] * n),
    }
    if tree.get("sum_hessian") is not None:  # the node covers TreeSHAP weighs branches by
        out["cover"] = arr("sum_hessian", np.float32)
    is_leaf = left == -1
    if leaf_size == 1:
        out["leaf"] = out["threshold"].reshape(n, 1)
    elif "leaf_weights" in tree:
        # 3.2+: one weight vector per leaf; a leaf's right-child slot holds its row.
        lw = _array(tree["leaf_weights"], np.float32, f"{path}/leaf_weights", source)
        # XGBoost stores one row per leaf, and a tree has fewer splits than leaves: so the dense
        # node x output table built below is at most twice the stored weights
        if lw.size % leaf_size or n * leaf_size > 2 * lw.size:
            raise ModelFormatError(source, f"{path}/leaf_weights",
                                   f"has {lw.size} values, expected a row of size_leaf_vector = {leaf_size} "
                                   f"values per leaf ({int(is_leaf.sum())} leaves)")
        rows = lw.reshape(-1, leaf_size)
        slot = np.where(is_leaf, right, 0)
        if np.any(is_leaf & ((slot < 0) | (slot >= len(rows)))):
            bad = int(np.flatnonzero(is_leaf & ((slot < 0) | (slot >= len(rows))))[0])
            raise ModelFormatError(source, f"{path}/right_children[{bad}]",
                                   f"leaf weight row {int(slot[bad])} is out of range [0, {len(rows)})")
        out["leaf"] = np.where(is_leaf[:, None], rows[slot], np.float32(0))
    else:
        bw = _array(_get(tree, "base_weights", path, source), np.float32, f"{path}/base_weights", source)
        if bw.size != n * leaf_size:
            raise ModelFormatError(source, f"{path}/base_weights",
                                   f"has {bw.size} values, expected num_nodes x size_leaf_vector = {n * leaf_size}")
        out["leaf"] = bw.reshape(n, leaf_size)

    # category sets: node ids (ascending, as XGBoost reads them), and for each its slice of the
    # flat category list. Only a categorical split may carry one: XGBoost never writes another,
    # and the kernels read a node's set whatever its kind.
    nodes = _array(tree.get("categories_nodes", []), np.int64, f"{path}/categories_nodes", source)
    segments = _array(tree.get("categories_segments", []), np.int64, f"{path}/categories_segments", source)
    sizes = _array(tree.get("categories_sizes", []), np.int64, f"{path}/categories_sizes", source)
    cats = _array(tree.get("categories", []), np.int64, f"{path}/categories", source)
    if not (len(nodes) == len(segments) == len(sizes)):
        raise ModelFormatError(source, f"{path}/categories_nodes",
                               "categories_nodes, categories_segments and categories_sizes differ in length")
    if np.any(out["is_cat"][~is_leaf] > 1):
        raise ModelFormatError(source, f"{path}/split_type", "expected 0 (numerical) or 1 (categorical)")
    if len(nodes) and np.any(nodes[1:] <= nodes[:-1]):
        raise ModelFormatError(source, f"{path}/categories_nodes", "node ids must rise strictly")
    if cats.size and (cats.min() < 0 or cats.max() >= 1 << 24):
        raise ModelFormatError(source, f"{path}/categories", "category codes must lie in [0, 2**24)")
    words = [np.zeros(0, np.uint32)] * n
    for j, node in enumerate(nodes):
        if not 0 <= node < n or is_leaf[node] or out["is_cat"][node] != 1:
            raise ModelFormatError(source, f"{path}/categories_nodes[{j}]",
                                   f"node {node} is not a categorical split; only those carry categories")
        lo, size = int(segments[j]), int(sizes[j])  # Python ints: lo + size must not wrap around
        if lo < 0 or size < 1 or lo + size > len(cats):
            raise ModelFormatError(source, f"{path}/categories_segments[{j}]",
                                   f"slice [{lo}, {lo + size}) is empty or lies outside the {len(cats)} categories")
        values = cats[lo:lo + size]
        width = int(values.max()) // 32 + 1
        budget[0] -= width
        if budget[0] < 0:
            raise ModelFormatError(source, f"{path}/categories_segments[{j}]",
                                   "the category bitsets of the model would exceed their allowance (64 MiB plus "
                                   "16 KiB per listed category): codes too large for so many sets")
        bits = np.zeros(width, dtype=np.uint32)
        np.bitwise_or.at(bits, values // 32, (np.uint32(1) << (values % 32).astype(np.uint32)))
        words[node] = bits
    unset = np.flatnonzero(~is_leaf & (out["is_cat"] == 1))
    unset = unset[~np.isin(unset, nodes)]
    if unset.size:
        # XGBoost never writes one, and reads it as a numeric split in a tree without any set
        # but as an empty set in a tree with one: refused rather than guessed
        raise ModelFormatError(source, f"{path}/split_type[{int(unset[0])}]",
                               "a categorical split without categories (no categories_nodes entry)")
    out["cat_words"] = words
    return out


def _concat_categories(parts):
    words = [w for p in parts for w in p["cat_words"]]
    counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    bits = np.concatenate(words) if counts.sum() else np.zeros(0, np.uint32)
    return offsets, bits


def _cat(parts, key, dtype):
    return np.concatenate([p[key] for p in parts]).astype(dtype) if parts else np.zeros(0, dtype)


# --- typed access to the document, with errors that name the field ---------------------------

def _get(obj, key: str, path: str, source):
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        where = f"{path}/{key}" if path else key
        raise ModelFormatError(source, where, "is missing") from None


def _obj(value, path: str, source) -> dict:
    if not isinstance(value, dict):
        raise ModelFormatError(source, path, f"expected an object, got {type(value).__name__}")
    return value


def _list(value, path: str, source) -> list:
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise ModelFormatError(source, path, f"expected an array, got {type(value).__name__}")
    return value


def _int(value, path: str, source) -> int:
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError
        if isinstance(value, str):
            if not _INTEGER.fullmatch(value.strip()):
                raise ValueError
            return int(value.strip())
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ModelFormatError(source, path, f"expected an integer, got {value!r:.80}") from None


def _plain(value: dict, path: str, source) -> dict:
    """``value`` if JSON can store it again: the model keeps it, and gbinfer.save writes it."""
    try:
        orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise ModelFormatError(source, path, f"holds a value JSON cannot store ({exc})") from None
    return value


def _str(value, path: str, source) -> str:
    if not isinstance(value, str):
        raise ModelFormatError(source, path, f"expected a string, got {type(value).__name__}")
    return value


def _strings(value, path: str, count: int, source) -> tuple | None:
    """An optional list of ``count`` strings (feature names or types); empty means absent."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ModelFormatError(source, path, "expected a list of strings")
    if len(value) != count:
        raise ModelFormatError(source, path, f"has {len(value)} entries, expected num_feature = {count}")
    return tuple(value)


def _array(value, dtype, path: str, source) -> np.ndarray:
    """A flat array of ``dtype``; integers are range-checked before the cast (numpy would wrap them)."""
    if isinstance(value, np.ndarray):
        raw = value
    elif isinstance(value, (list, tuple)):
        try:
            raw = np.array(value)
        except (TypeError, ValueError, OverflowError):
            raise ModelFormatError(source, path, "expected a flat array of numbers") from None
    else:
        raise ModelFormatError(source, path, f"expected an array, got {type(value).__name__}")
    if raw.ndim != 1:  # before the size test: [[]] is no empty array
        raise ModelFormatError(source, path, f"expected a flat array, got shape {raw.shape}")
    if not raw.size:
        return np.zeros(0, dtype=dtype)
    if np.dtype(dtype).kind in "iu":
        check_integers(raw, dtype, path, source)
    elif raw.dtype.kind not in "fiub":
        raise ModelFormatError(source, path, f"expected an array of {np.dtype(dtype).name} numbers")
    with np.errstate(over="ignore"):
        return raw.astype(dtype)
