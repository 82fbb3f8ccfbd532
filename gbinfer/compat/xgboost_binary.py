"""Reader for XGBoost's legacy binary model format.

This is the format ``Booster.save_model("model.bin")`` wrote before XGBoost 1.0 and,
deprecated, until 3.0 (in 3.0 only for a ``.deprecated`` file suffix). Old model
archives are full of such files.

``parse`` turns one into the same dictionary ``json.loads`` gives for XGBoost's JSON
model format, so a single builder handles both. The differences: per-node arrays are
numpy arrays rather than lists, and fields that exist only in JSON (feature names and
types, categorical splits) come back empty.

Layout (all little-endian; ``str`` is a uint64 byte count followed by the bytes,
``vec<T>`` a uint64 element count followed by the elements):

* optional ``b"binf"`` magic; or ``b"bs64"`` followed by the whole model base64-encoded
  (XGBoost < 0.6); or ``b"CONFIG-offset:"`` + int64 size + model + JSON config (the
  in-memory snapshot that XGBoost 1.0 - 1.2 pickled); then
* learner parameters, a fixed 136-byte record (``_LEARNER_PARAM``),
* objective name (``str``), booster name (``str``),
* the booster:
    gbtree   - 160-byte ``_GBTREE_PARAM``, ``num_trees`` trees, then ``num_trees`` int32
               tree_info entries (the output group of each tree);
    dart     - the gbtree part, then ``vec<float32>`` weight_drop when there are trees;
    gblinear - 136-byte ``_GBLINEAR_PARAM``, then ``vec<float32>`` weights;
  each tree being a 148-byte ``_TREE_PARAM``, ``num_nodes`` 20-byte ``_NODE`` records and
  ``num_nodes`` 16-byte ``_NODE_STAT`` records,
* ``vec<(str, str)>`` attributes when ``contain_extra_attrs`` is set. Since 1.0 these
  carry the objective's JSON configuration under ``"objective"``, and the metric names
  under ``"metrics"``;
* files from before 1.0 (``major_version == 0``) may then hold the ``count:poisson``
  max_delta_step (``str``) and, when ``contain_eval_metrics`` is set, ``vec<str>``
  metric names.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct

import numpy as np

from gbinfer.errors import ModelFormatError, UnsupportedModelError

__all__ = ["parse"]

# ---------------------------------------------------------------------------------------
# Fixed-size records. Sizes are asserted below: the format depends on them exactly.

_LEARNER_PARAM = np.dtype(
    [
        ("base_score", "<f4"),
        ("num_feature", "<u4"),
        ("num_class", "<i4"),
        ("contain_extra_attrs", "<i4"),
        ("contain_eval_metrics", "<i4"),
        ("major_version", "<u4"),
        ("minor_version", "<u4"),
        ("num_target", "<u4"),  # zero (reserved) before 1.6 / 2.0
        ("boost_from_average", "<i4"),  # zero (reserved) before 2.0
        ("reserved", "<i4", (25,)),
    ]
)

_GBTREE_PARAM = np.dtype(
    [
        ("num_trees", "<i4"),
        ("num_parallel_tree", "<i4"),  # "num_roots" before 1.0, always 1 there
        ("num_feature", "<i4"),
        ("pad", "<i4"),
        ("num_pbuffer", "<i8"),
        ("num_output_group", "<i4"),  # authoritative only before 1.0
        ("size_leaf_vector", "<i4"),
        ("reserved", "<i4", (32,)),
    ]
)

_TREE_PARAM = np.dtype(
    [
        ("num_roots", "<i4"),
        ("num_nodes", "<i4"),
        ("num_deleted", "<i4"),
        ("max_depth", "<i4"),
        ("num_feature", "<u4"),
        ("size_leaf_vector", "<i4"),
        ("reserved", "<i4", (31,)),
    ]
)

_NODE = np.dtype(
    [
        ("parent", "<i4"),  # high bit: "is left child"; -1 for the root
        ("cleft", "<i4"),  # -1 for a leaf
        ("cright", "<i4"),
        ("sindex", "<u4"),  # high bit: default_left; all ones: deleted node
        ("info", "<f4"),  # leaf value for a leaf, split threshold otherwise
    ]
)

_NODE_STAT = np.dtype(
    [
        ("loss_chg", "<f4"),
        ("sum_hess", "<f4"),
        ("base_weight", "<f4"),
        ("leaf_child_cnt", "<i4"),
    ]
)

_GBLINEAR_PARAM = np.dtype(
    [
        ("num_feature", "<u4"),
        ("num_output_group", "<i4"),
        ("reserved", "<i4", (32,)),
    ]
)

assert _LEARNER_PARAM.itemsize == 136
assert _GBTREE_PARAM.itemsize == 160
assert _TREE_PARAM.itemsize == 148
assert _NODE.itemsize == 20
assert _NODE_STAT.itemsize == 16
assert _GBLINEAR_PARAM.itemsize == 136

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_I32 = struct.Struct("<i")

_DELETED = 0xFFFFFFFF
_LOW31 = 0x7FFFFFFF
_SERIAL_MAGIC = b"CONFIG-offset:"
_KNOWN_BOOSTERS = ("gbtree", "dart", "gblinear")

# Smallest possible encodings, used to reject implausible counts before looping.
_MIN_TREE_BYTES = _TREE_PARAM.itemsize + _NODE.itemsize + _NODE_STAT.itemsize
_MIN_STR_BYTES = _U64.size


class _Reader:
    """Bounds-checked little-endian cursor over a byte buffer."""

    def __init__(self, buf: memoryview, source: str | None, base: int = 0, note: str = ""):
        self.buf = buf
        self.pos = 0
        self.source = source
        self.base = base  # offset of buf[0] within the caller's buffer, for messages
        self.note = note  # e.g. " of the base64-decoded payload"

    @property
    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def fail(self, field: str, problem: str, at: int | None = None) -> ModelFormatError:
        at = self.pos if at is None else at
        return ModelFormatError(self.source, field, f"at byte offset {self.base + at}{self.note}: {problem}")

    def need(self, nbytes: int, field: str, what: str) -> None:
        if nbytes < 0 or nbytes > self.remaining:
            raise self.fail(
                field,
                f"expected {what} ({nbytes} bytes) but only {self.remaining} bytes remain (file truncated?)",
            )

    def take(self, nbytes: int, field: str, what: str) -> memoryview:
        self.need(nbytes, field, what)
        out = self.buf[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out

    def u64(self, field: str, what: str = "uint64") -> int:
        return _U64.unpack(self.take(8, field, what))[0]

    def i64(self, field: str, what: str = "int64") -> int:
        return _I64.unpack(self.take(8, field, what))[0]

    def record(self, dtype: np.dtype, field: str, what: str) -> np.void:
        return np.frombuffer(self.take(dtype.itemsize, field, what), dtype=dtype, count=1)[0]

    def records(self, dtype: np.dtype, count: int, field: str, what: str) -> np.ndarray:
        raw = self.take(count * dtype.itemsize, field, f"{count} x {what}")
        return np.frombuffer(raw, dtype=dtype, count=count)

    def count(self, field: str, elem_size: int, what: str) -> int:
        """A uint64 element count, refused unless that many elements could still follow."""
        at = self.pos
        n = self.u64(field, f"element count of {what}")
        if n * elem_size > self.remaining:
            raise self.fail(
                field,
                f"count {n} of {what} needs at least {n * elem_size} bytes but only "
                f"{self.remaining} bytes remain",
                at,
            )
        return n

    def string(self, field: str, legacy_length: bool = False) -> str:
        at = self.pos
        n = self.u64(field, "string length")
        if legacy_length and n >= 0xFFFFFFFF:
            # Very old writers stored a 32-bit length in the upper half followed by a
            # 4-byte gap; XGBoost < 1.0 accepted that for the objective name.
            self.take(4, field, "4-byte gap after a legacy string length")
            n >>= 32
        if n > self.remaining:
            raise self.fail(field, f"string length {n} exceeds the {self.remaining} bytes that remain", at)
        raw = bytes(self.take(n, field, "string bytes"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(field, f"string is not valid UTF-8 ({exc.reason})", at + 8) from None

    def f32_vector(self, field: str) -> np.ndarray:
        n = self.count(field, 4, "float32 values")
        return self.records(np.dtype("<f4"), n, field, "float32").astype(np.float32)


# ---------------------------------------------------------------------------------------


def parse(buf: bytes | bytearray | memoryview, source: str | None = None) -> dict:
    """Parse a legacy binary XGBoost model into the dict shape of XGBoost's JSON model.

    ``source`` names the file in error messages. Raises ``ModelFormatError`` (or its
    subclass ``UnsupportedModelError`` for a booster this reader does not know) for
    any malformed, truncated or over-long input.
    """
    try:
        view = memoryview(buf).cast("B")
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(source, None, f"expected a contiguous bytes-like object ({exc})") from None

    head = bytes(view[:16])
    if head.startswith(_SERIAL_MAGIC):
        return _parse_snapshot(view, source)
    stripped = head.lstrip()
    if stripped[:1] == b"{":
        raise ModelFormatError(
            source,
            None,
            "at byte offset 0: this is an XGBoost JSON/UBJSON document, not the legacy binary format",
        )
    if head[:4] == b"bs64":
        return _parse_base64(view, source)

    reader = _Reader(view, source)
    if head[:4] == b"binf":
        reader.pos = 4
    model = _parse_model(reader)
    _expect_end(reader)
    return model


def _parse_snapshot(view: memoryview, source: str | None) -> dict:
    """``CONFIG-offset:`` + int64 model size + binary model + JSON configuration."""
    reader = _Reader(view, source)
    reader.pos = len(_SERIAL_MAGIC)
    at = reader.pos
    size = reader.i64("snapshot.model_size")
    if size <= 0 or size > reader.remaining:
        raise reader.fail(
            "snapshot.model_size",
            f"binary model size {size} must be positive and at most the {reader.remaining} bytes that remain",
            at,
        )
    start = reader.pos
    inner = _Reader(view[start : start + size], source, base=start)
    if bytes(inner.buf[:4]) == b"binf":
        inner.pos = 4
    model = _parse_model(inner)
    _expect_end(inner, "snapshot.model", "the binary model ends at the size given in the header")
    config_at = start + size
    try:
        config = json.loads(bytes(view[config_at:]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        raise ModelFormatError(
            source, "snapshot.config", f"at byte offset {config_at}: expected the JSON configuration ({exc})"
        ) from None
    if not isinstance(config, dict):
        raise ModelFormatError(
            source, "snapshot.config", f"at byte offset {config_at}: expected a JSON object"
        )
    return model


def _parse_base64(view: memoryview, source: str | None) -> dict:
    """``bs64`` + whitespace + base64 of the model (whitespace anywhere is ignored)."""
    text = bytes(view[4:])
    compact = b"".join(text.split())
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ModelFormatError(source, "bs64", f"at byte offset 4: invalid base64 payload ({exc})") from None
    reader = _Reader(memoryview(decoded), source, note=" of the base64-decoded payload")
    if decoded[:4] == b"binf":
        reader.pos = 4
    model = _parse_model(reader)
    _expect_end(reader)
    return model


def _expect_end(reader: _Reader, field: str = "end of model", what: str = "the end of the model") -> None:
    if reader.remaining:
        raise reader.fail(field, f"expected {what} but {reader.remaining} more bytes follow")


def _float_str(value: np.float32) -> str:
    """Shortest decimal that reads back as the same float32."""
    return str(np.float32(value))


def _parse_model(r: _Reader) -> dict:
    at = r.pos
    mp = r.record(_LEARNER_PARAM, "learner_model_param", "136-byte learner parameter record")
    major = int(mp["major_version"])
    minor = int(mp["minor_version"])
    legacy = major == 0  # written by XGBoost < 1.0
    num_class = int(mp["num_class"])
    num_feature = int(mp["num_feature"])
    if num_class < 0:
        raise r.fail("learner_model_param.num_class", f"num_class is {num_class}, expected >= 0", at + 8)
    if major > 1000 or minor > 1000:
        raise r.fail(
            "learner_model_param.major_version",
            f"version {major}.{minor} is implausible; expected a learner parameter record",
            at + 20,
        )
    num_target = int(mp["num_target"]) or 1
    n_groups = max(num_class, num_target, 1)

    objective = r.string("objective", legacy_length=legacy)
    booster = r.string("gradient_booster.name")
    if booster not in _KNOWN_BOOSTERS:
        raise UnsupportedModelError(
            r.source,
            "gradient_booster.name",
            f"at byte offset {r.base + r.pos - len(booster.encode())}{r.note}: unknown booster "
            f"{booster[:64]!r}, expected one of {', '.join(_KNOWN_BOOSTERS)}",
        )

    if booster == "gblinear":
        gbm = _parse_gblinear(r, num_feature, n_groups, legacy)
    else:
        gbtree = _parse_gbtree(r, n_groups, legacy)
        if booster == "dart":
            num_trees = int(gbtree["model"]["gbtree_model_param"]["num_trees"])
            weight_drop: list[float] = []
            if num_trees:
                at = r.pos
                wd = r.f32_vector("weight_drop")
                if len(wd) != num_trees:
                    raise r.fail("weight_drop", f"{len(wd)} drop weights for {num_trees} trees", at)
                weight_drop = [float(w) for w in wd]
            gbm = {"name": "dart", "gbtree": gbtree, "weight_drop": weight_drop}
        else:
            gbm = gbtree

    attributes: dict[str, str] = {}
    if int(mp["contain_extra_attrs"]) != 0:
        n = r.count("attributes", 2 * _MIN_STR_BYTES, "attribute pairs")
        for i in range(n):
            key = r.string(f"attributes[{i}].key")
            attributes[key] = r.string(f"attributes[{i}].value")

    objective_dict: dict = {"name": objective}
    max_delta_step = attributes.pop("count_poisson_max_delta_step", None)
    if legacy:
        if objective == "count:poisson":
            max_delta_step = r.string("count_poisson_max_delta_step")
        if int(mp["contain_eval_metrics"]) != 0:
            n = r.count("eval_metrics", _MIN_STR_BYTES, "metric names")
            for i in range(n):
                r.string(f"eval_metrics[{i}]")
    if "objective" in attributes:
        text = attributes.pop("objective")
        try:
            cfg = json.loads(text)
        except ValueError as exc:
            raise ModelFormatError(r.source, "attributes.objective", f"not valid JSON ({exc})") from None
        if not isinstance(cfg, dict) or cfg.get("name") != objective:
            raise ModelFormatError(
                r.source,
                "attributes.objective",
                f"expected a JSON object naming objective {objective!r}, got {text[:80]!r}",
            )
        objective_dict = cfg
    elif objective == "count:poisson" and max_delta_step is not None:
        objective_dict["poisson_regression_param"] = {"max_delta_step": max_delta_step}
    attributes.pop("metrics", None)

    base_score = np.float32(mp["base_score"])
    if legacy and not objective.startswith("multi:"):
        # XGBoost < 1.0 stored the margin; newer versions store the transformed value.
        base_score = _pred_transform(objective, base_score)

    return {
        "version": [major, minor, 0],
        "learner": {
            "attributes": attributes,
            "feature_names": [],
            "feature_types": [],
            "gradient_booster": gbm,
            "learner_model_param": {
                "base_score": _float_str(base_score),
                "boost_from_average": str(int(mp["boost_from_average"])),
                "num_class": str(num_class),
                "num_feature": str(num_feature),
                "num_target": str(num_target),
            },
            "objective": objective_dict,
        },
    }


def _pred_transform(objective: str, margin: np.float32) -> np.float32:
    """The objective's PredTransform applied to a scalar, as XGBoost does for < 1.0 files."""
    with np.errstate(over="ignore", under="ignore"):
        if objective in ("binary:logistic", "reg:logistic"):
            return np.float32(1.0) / (np.float32(1.0) + np.exp(-margin))
        if objective in ("count:poisson", "reg:gamma", "reg:tweedie", "survival:cox"):
            return np.exp(margin)
        if objective == "binary:hinge":
            return np.float32(1.0 if margin > 0 else 0.0)
    return margin


def _parse_gbtree(r: _Reader, n_groups: int, legacy: bool) -> dict:
    at = r.pos
    gp = r.record(_GBTREE_PARAM, "gbtree_model_param", "160-byte gbtree parameter record")
    num_trees = int(gp["num_trees"])
    num_parallel_tree = int(gp["num_parallel_tree"])
    if legacy:
        # Before 1.0 this slot was the per-model "num_roots" (always 1); the forest size
        # was a training-only parameter, and the output group count lived here.
        num_parallel_tree = 1
        n_groups = max(int(gp["num_output_group"]), 1)
    if num_trees < 0:
        raise r.fail("gbtree_model_param.num_trees", f"num_trees is {num_trees}, expected >= 0", at)
    if num_parallel_tree < 1:
        raise r.fail(
            "gbtree_model_param.num_parallel_tree",
            f"num_parallel_tree is {num_parallel_tree}, expected >= 1",
            at + 4,
        )
    need = num_trees * (_MIN_TREE_BYTES + 4)
    if need > r.remaining:
        raise r.fail(
            "gbtree_model_param.num_trees",
            f"{num_trees} trees need at least {need} bytes but only {r.remaining} bytes remain",
            at,
        )

    trees = [_parse_tree(r, i, legacy) for i in range(num_trees)]

    at = r.pos
    info = r.records(np.dtype("<i4"), num_trees, "tree_info", "int32 output group")
    tree_info = [int(g) for g in info]
    bad = [i for i, g in enumerate(tree_info) if not 0 <= g < n_groups]
    if bad:
        i = bad[0]
        raise r.fail(
            f"tree_info[{i}]",
            f"output group {tree_info[i]} is outside [0, {n_groups})",
            at + 4 * i,
        )

    indptr = [0]
    if tree_info:
        per_layer = (max(tree_info) + 1) * num_parallel_tree
        if num_trees % per_layer:
            raise r.fail(
                "gbtree_model_param.num_trees",
                f"{num_trees} trees is not a whole number of boosting rounds of {per_layer} trees",
            )
        indptr = list(range(0, num_trees + 1, per_layer))

    return {
        "name": "gbtree",
        "model": {
            "gbtree_model_param": {
                "num_parallel_tree": str(num_parallel_tree),
                "num_trees": str(num_trees),
            },
            "iteration_indptr": indptr,
            "tree_info": tree_info,
            "trees": trees,
        },
    }


def _parse_tree(r: _Reader, t: int, legacy: bool) -> dict:
    name = f"trees[{t}]"
    at = r.pos
    tp = r.record(_TREE_PARAM, f"{name}.tree_param", "148-byte tree parameter record")
    num_nodes = int(tp["num_nodes"])
    num_deleted = int(tp["num_deleted"])
    size_leaf_vector = int(tp["size_leaf_vector"])
    if num_nodes <= 0:
        raise r.fail(f"{name}.num_nodes", f"num_nodes is {num_nodes}, expected >= 1", at + 4)
    need = num_nodes * (_NODE.itemsize + _NODE_STAT.itemsize)
    if need > r.remaining:
        raise r.fail(
            f"{name}.num_nodes",
            f"{num_nodes} nodes need {need} bytes but only {r.remaining} bytes remain",
            at + 4,
        )
    if not 0 <= num_deleted < num_nodes:
        raise r.fail(f"{name}.num_deleted", f"num_deleted is {num_deleted}, expected in [0, {num_nodes})", at + 8)
    if size_leaf_vector < 0:
        raise r.fail(f"{name}.size_leaf_vector", f"size_leaf_vector is {size_leaf_vector}, expected >= 0", at + 20)
    if int(tp["num_roots"]) != 1 and not (legacy and int(tp["num_roots"]) == 0):
        raise r.fail(f"{name}.num_roots", f"num_roots is {int(tp['num_roots'])}, expected 1", at)

    nodes_at = r.pos
    nodes = r.records(_NODE, num_nodes, f"{name}.nodes", "20-byte node")
    stats = r.records(_NODE_STAT, num_nodes, f"{name}.stats", "16-byte node statistics")
    if legacy and size_leaf_vector != 0:
        # XGBoost <= 0.80 appended the (unused) leaf vectors when this was non-zero.
        n = r.count(f"{name}.leaf_vector", 4, "float32 leaf vector values")
        r.take(4 * n, f"{name}.leaf_vector", "float32 leaf vector values")

    left = nodes["cleft"].astype(np.int32)
    right = nodes["cright"].astype(np.int32)
    sindex = nodes["sindex"]
    deleted = sindex == _DELETED
    deleted[0] = False  # XGBoost never counts the root as deleted
    n_del = int(deleted.sum())
    if n_del != num_deleted:
        raise r.fail(f"{name}.num_deleted", f"header says {num_deleted} deleted nodes, found {n_del}", at + 8)
    internal = (left != -1) & ~deleted
    bad = internal & ((left <= 0) | (left >= num_nodes) | (right <= 0) | (right >= num_nodes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise r.fail(
            f"{name}.nodes[{i}]",
            f"child ids ({int(left[i])}, {int(right[i])}) are outside [1, {num_nodes})",
            nodes_at + i * _NODE.itemsize,
        )

    return {
        "base_weights": stats["base_weight"].astype(np.float32),
        "categories": [],
        "categories_nodes": [],
        "categories_segments": [],
        "categories_sizes": [],
        "default_left": (sindex >> np.uint32(31)).astype(np.uint8),
        "id": t,
        "left_children": left,
        "loss_changes": stats["loss_chg"].astype(np.float32),
        "parents": (nodes["parent"].view(np.uint32) & np.uint32(_LOW31)).astype(np.int32),
        "right_children": right,
        "split_conditions": nodes["info"].astype(np.float32),
        "split_indices": (sindex & np.uint32(_LOW31)).astype(np.int32),
        "split_type": np.zeros(num_nodes, dtype=np.uint8),
        "sum_hessian": stats["sum_hess"].astype(np.float32),
        "tree_param": {
            "num_deleted": str(num_deleted),
            "num_feature": str(int(tp["num_feature"])),
            "num_nodes": str(num_nodes),
            "size_leaf_vector": str(size_leaf_vector),
        },
    }


def _parse_gblinear(r: _Reader, num_feature: int, n_groups: int, legacy: bool) -> dict:
    lp = r.record(_GBLINEAR_PARAM, "gblinear_model_param", "136-byte gblinear parameter record")
    if legacy:
        # Before 1.0 the linear model carried its own shape.
        num_feature = int(lp["num_feature"]) or num_feature
        n_groups = max(int(lp["num_output_group"]), 1)
    at = r.pos
    weights = r.f32_vector("weights")
    expected = (num_feature + 1) * n_groups
    if len(weights) != expected:
        raise r.fail(
            "weights",
            f"{len(weights)} weights, expected (num_feature {num_feature} + 1) x {n_groups} groups = {expected}",
            at,
        )
    return {"name": "gblinear", "model": {"weights": weights}}
