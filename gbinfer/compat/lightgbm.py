"""LightGBM text models (``Booster.save_model`` / ``model_to_string``, format v2, v3 and v4).

Layout (``GBDT::SaveModelToString``): the line ``tree``, a header of ``key=value`` lines
(``version``, ``num_class``, ``num_tree_per_iteration``, ``label_index``, ``max_feature_idx``,
``objective``, a bare ``average_output``, ``feature_names``, ``feature_infos``, ``tree_sizes``,
...), a blank line, one ``Tree=i`` block per tree (``key=value`` lines, then a blank line),
``end of trees``, then ``feature_importances:``, ``parameters:`` ... ``end of parameters``,
maybe ``parser:`` ... ``end of parser``, and the Python package's last line
``pandas_categorical:<json>``.

``tree_sizes`` gives each block's length in bytes; when present every block is cut out by it
and must start with its own ``Tree=i`` line, and the blocks must end exactly at
``end of trees``, so a size that disagrees with the trees is an error rather than a misread.
Without it (older files) blocks are found line by line. Every list is checked against the
count its tree declares before anything is built from it; the forest builder then checks
every index (``forest_lightgbm.build``). Numbers written with ``%.17g`` parse exactly with
Python's ``float``, as with LightGBM's precise parser.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson

from ..errors import DataError, ModelFormatError
from ..forest_lightgbm import LightGBMTrees, build
from ..model import FeatureInfo, Model, ModelMeta, Tree
from ..objective import Objective

MAX_OUTPUTS_WITHOUT_TREES = 1024  # a class count is otherwise capped by the number of trees
_TREE_HEADER = re.compile(rb"Tree=(\d{1,18})\r?\n")
_VERSION = re.compile(r"v(\d{1,3})")
_INT_WORD = re.compile(r"[+-]?[0-9]{1,19}")
# what C's strtod reads whole, as LightGBM writes it (%.17g, nan, inf): not Python's extras
# such as '1_0' or unicode digits, which LightGBM would read differently
_FLOAT_WORD = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
                         re.IGNORECASE)


def load(path) -> Model:
    """Load a LightGBM text model file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    return loads(data, source=str(path))


def from_object(obj) -> Model:
    """A ``lightgbm.Booster`` or fitted ``LGBMModel``, through its own ``model_to_string`` (with
    LightGBM's default iteration choice, as ``save_model`` and ``predict`` make it)."""
    try:
        booster = obj.booster_ if hasattr(type(obj), "booster_") else obj
    except Exception as exc:  # sklearn's not-fitted error, whatever its class
        raise DataError(f"the {type(obj).__name__} has no trained booster ({exc})") from None
    to_string = getattr(booster, "model_to_string", None)
    if to_string is None:
        raise DataError(f"load() cannot read a {type(obj).__module__}.{type(obj).__name__}; pass a "
                        "lightgbm.Booster, a fitted LGBMModel, a path or bytes")
    return loads(to_string(), source=f"<{type(obj).__name__}>")


def loads(data, source: str | None = None) -> Model:
    """Load a LightGBM text model from bytes or str."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    data = bytes(data)
    header, trees_at = _header(data, source)
    k = _int(header, "num_class", source, low=1)
    per_iteration = _int(header, "num_tree_per_iteration", source, low=1) if "num_tree_per_iteration" in header \
        else k
    _int(header, "label_index", source, low=0)
    num_features = _int(header, "max_feature_idx", source, low=0, high=2**30 - 1) + 1
    names = _words(header, "feature_names", source)
    infos = _words(header, "feature_infos", source)
    for field, words in (("feature_names", names), ("feature_infos", infos)):
        if len(words) != num_features:
            raise ModelFormatError(source, field, f"has {len(words)} entries, expected max_feature_idx + 1 = "
                                                  f"{num_features}")
    blocks, after = _tree_blocks(data, trees_at, header, source)
    n_trees = len(blocks)
    if per_iteration != k:
        raise ModelFormatError(source, "num_tree_per_iteration", f"is {per_iteration} but num_class is {k}; "
                                                                 "LightGBM writes them equal")
    if k > max(n_trees, MAX_OUTPUTS_WITHOUT_TREES):
        raise ModelFormatError(source, "num_class", f"is {k}, more than the {n_trees} trees")
    if n_trees % k:
        raise ModelFormatError(source, "tree_sizes", f"{n_trees} trees do not make whole rounds of {k} trees")
    trees = _concat([_tree(block, i, source) for i, block in enumerate(blocks)])
    pandas_categorical = _pandas_categorical(data[after:], source)
    objective = Objective.lightgbm(header.get("objective"), k, source=source)
    forest = build(trees, source=source, num_features=num_features, num_outputs=k,
                   average_output="average_output" in header)
    version = header.get("version", "")
    match = _VERSION.fullmatch(version)
    attributes = {"version": version}
    if "objective" in header:
        attributes["objective"] = header["objective"]
    if pandas_categorical is not None:
        attributes["pandas_categorical"] = pandas_categorical
    meta = ModelMeta(
        num_features=num_features,
        num_outputs=k,
        base_score=np.zeros(k, dtype=np.float32),
        source_library="lightgbm",
        source_version=(int(match.group(1)),) if match else (),
        attributes=attributes,
    )
    types = tuple("c" if _is_category_list(info) else "q" for info in infos)
    return Model(
        booster=Tree(forest=forest, iteration_indptr=np.arange(0, n_trees + 1, k, dtype=np.int64)),
        meta=meta,
        features=FeatureInfo(names=tuple(names), types=types),
        objective=objective,
    )


def _header(data: bytes, source) -> tuple[dict, int]:
    """The header's key/value pairs and the offset of the first ``Tree=`` line (or of
    ``end of trees`` in a model without trees)."""
    first_line = data[:data.find(b"\n")] if b"\n" in data else data
    if first_line.rstrip(b"\r") != b"tree":
        raise ModelFormatError(source, None, f"not a LightGBM text model: the first line is {first_line[:40]!r}, "
                                             "expected 'tree'")
    header: dict[str, str] = {}
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        line = data[at:end].rstrip(b"\r")
        if line.startswith(b"Tree=") or line == b"end of trees":
            return header, at
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFormatError(source, None, f"header line at byte {at} is not UTF-8 text") from None
        if text:
            key, _, value = text.partition("=")
            header[key] = value
        at = end + 1
    raise ModelFormatError(source, "end of trees", "the file ends inside its header (truncated?)")


def _tree_blocks(data: bytes, at: int, header: dict, source) -> tuple[list[bytes], int]:
    """Each tree's block (after its ``Tree=i`` line) and the offset just past ``end of trees``."""
    blocks = []
    if "tree_sizes" in header:
        words = header["tree_sizes"].split()
        if len(words) > len(data) - at:
            raise ModelFormatError(source, "tree_sizes", f"lists {len(words)} trees, more than the file could hold")
        sizes = []
        for i, w in enumerate(words):
            if not re.fullmatch(r"[0-9]{1,18}", w):
                raise ModelFormatError(source, "tree_sizes", f"entry {i} is {w[:20]!r}, expected a byte count")
            sizes.append(int(w))
        for i, size in enumerate(sizes):
            block = data[at:at + size]
            if len(block) < size:
                raise ModelFormatError(source, f"Tree={i}", f"tree_sizes says {size} bytes but the file ends after "
                                                            f"{len(block)} (truncated?)")
            match = _TREE_HEADER.match(block)
            if not match or int(match.group(1)) != i:
                raise ModelFormatError(source, f"Tree={i}", f"tree_sizes does not match the trees: the block at byte "
                                                            f"{at} starts with {block[:20]!r}, expected 'Tree={i}'")
            blocks.append(block[match.end():])
            at += size
        end = _end_of_trees(data, at)
        if end is None:
            line = data[at:].lstrip(b"\r\n").split(b"\n", 1)[0]
            raise ModelFormatError(source, "tree_sizes", f"the trees do not end where tree_sizes says: found "
                                                         f"{line[:40]!r} at byte {at}, expected 'end of trees'"
                                   if line else "the file ends before 'end of trees' (truncated?)")
        return blocks, end
    while True:
        while data[at:at + 1] in (b"\n", b"\r"):
            at += 1
        if at >= len(data):
            raise ModelFormatError(source, "end of trees", "the file ends before 'end of trees' (truncated?)")
        match = _TREE_HEADER.match(data, at)
        if match is None:
            end = _end_of_trees(data, at)
            if end is not None:
                return blocks, end
            line = data[at:].split(b"\n", 1)[0].rstrip(b"\r")
            raise ModelFormatError(source, f"Tree={len(blocks)}", f"expected a 'Tree=' line, found {line[:40]!r}")
        if int(match.group(1)) != len(blocks):
            raise ModelFormatError(source, f"Tree={len(blocks)}", f"found Tree={int(match.group(1))} instead")
        end = data.find(b"\n\n", match.end())
        end_crlf = data.find(b"\r\n\r\n", match.end())
        ends = [e for e in (end, end_crlf) if e >= 0]
        if not ends:
            raise ModelFormatError(source, f"Tree={len(blocks)}", "the file ends inside the tree (truncated?)")
        stop = min(ends)
        blocks.append(data[match.end():stop + 1])
        at = stop + 1


def _end_of_trees(data: bytes, at: int) -> int | None:
    """Where the sections after the trees start, if ``at`` (blank lines skipped) is the end of
    the trees: the ``end of trees`` line (consumed), or in files of releases before it
    existed, the feature importances; None otherwise."""
    while data[at:at + 1] in (b"\n", b"\r"):
        at += 1
    line_end = data.find(b"\n", at)
    line = data[at:len(data) if line_end < 0 else line_end].rstrip(b"\r")
    if line == b"end of trees":
        return len(data) if line_end < 0 else line_end + 1
    if line in (b"feature importances:", b"feature_importances:"):
        return at
    return None


# --- one tree ----------------------------------------------------------------------------

def _tree(block: bytes, index: int, source) -> dict:
    """A tree's fields, every list checked against the counts the tree declares."""
    name = f"Tree={index}"
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError:
        raise ModelFormatError(source, name, "the tree block is not ASCII text") from None
    fields: dict[str, str] = {}
    lines = text.split("\n")
    for at, line in enumerate(lines):
        line = line.rstrip("\r")
        if not line and not fields:  # LightGBM's tree reader stops at once: a tree without its fields
            raise ModelFormatError(source, name, "a blank line comes before the tree's fields")
        if not line:
            if fields:
                if any(rest.strip() for rest in lines[at:]):
                    raise ModelFormatError(source, name, "text follows the tree's blank line inside its block "
                                                         "(tree_sizes disagrees with the trees)")
                break
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ModelFormatError(source, name, f"line {line[:40]!r} is not key=value")
        fields[key] = value
    tree_field = _TreeFields(fields, name, source)
    num_leaves = tree_field.int("num_leaves", low=1, high=len(block))
    num_cat = tree_field.int("num_cat", low=0, high=len(block))
    is_linear = tree_field.int("is_linear", low=0, high=1) if "is_linear" in fields else 0
    out = {"num_leaves": num_leaves, "num_cat": num_cat, "is_linear": bool(is_linear),
           "leaf_value": tree_field.floats("leaf_value", num_leaves)}
    ni = num_leaves - 1
    if num_leaves > 1 or is_linear:
        out["split_feature"] = tree_field.ints("split_feature", ni)
        out["threshold"] = tree_field.floats("threshold", ni)
        out["left_child"] = tree_field.ints("left_child", ni)
        out["right_child"] = tree_field.ints("right_child", ni)
        out["decision_type"] = (tree_field.ints("decision_type", ni) if "decision_type" in fields
                                else np.zeros(ni, dtype=np.int64))
        if num_cat > 0:
            boundaries = tree_field.ints("cat_boundaries", num_cat + 1)
            out["cat_boundaries"] = boundaries
            out["cat_threshold"] = tree_field.ints("cat_threshold", None, low=0, high=0xFFFFFFFF)
    else:
        out["num_cat"] = 0  # LightGBM reads nothing else of a one-leaf tree
    # row counts, for TreeSHAP; a one-leaf tree's are never read (its expected value is its leaf)
    if "leaf_count" in fields and (ni == 0 or "internal_count" in fields):
        out["leaf_count"] = tree_field.ints("leaf_count", num_leaves)
        out["internal_count"] = tree_field.ints("internal_count", ni) if ni else np.zeros(0, np.int64)
    elif ni == 0:
        out["leaf_count"] = np.zeros(1, np.int64)
    if is_linear:
        out["leaf_const"] = (tree_field.floats("leaf_const", num_leaves) if "leaf_const" in fields
                             else np.zeros(num_leaves))
        counts = (tree_field.ints("num_features", num_leaves, low=0) if "num_features" in fields
                  else np.zeros(num_leaves, dtype=np.int64))
        total = int(counts.sum())
        out["leaf_num_features"] = counts
        out["leaf_features"] = tree_field.ints("leaf_features", total) if total else np.zeros(0, np.int64)
        out["leaf_coeff"] = tree_field.floats("leaf_coeff", total) if total else np.zeros(0)
    return out


class _TreeFields:
    def __init__(self, fields: dict, name: str, source):
        self.fields, self.name, self.source = fields, name, source

    def _get(self, key: str) -> str:
        if key not in self.fields:
            raise ModelFormatError(self.source, f"{self.name}.{key}", "is missing")
        return self.fields[key]

    def _fail(self, key: str, problem: str):
        raise ModelFormatError(self.source, f"{self.name}.{key}", problem)

    def int(self, key: str, low: int, high: int) -> int:
        value = self._get(key).strip(" ")  # spaces only, as the lists are split
        if not _INT_WORD.fullmatch(value) or not low <= int(value) <= high:
            self._fail(key, f"is {value[:20]!r}, expected an integer in [{low}, {high}]")
        return int(value)

    def _words(self, key: str, count: int | None) -> list[str]:
        words = [w for w in self._get(key).split(" ") if w]  # LightGBM separates values by spaces only
        if count is not None and len(words) != count:
            self._fail(key, f"has {len(words)} values, expected {count}")
        return words

    def ints(self, key: str, count: int | None, low: int = -(2**31), high: int = 2**31 - 1) -> np.ndarray:
        words = self._words(key, count)
        bad = next((w for w in words if not _INT_WORD.fullmatch(w)), None)
        if bad is not None:
            self._fail(key, f"value {bad[:20]!r} is not an integer")
        values = np.array([int(w) for w in words], dtype=object)
        if len(values) and (values.min() < low or values.max() > high):
            bad = next(v for v in values if not low <= v <= high)
            self._fail(key, f"value {bad} is outside [{low}, {high}]")
        return values.astype(np.int64)

    def floats(self, key: str, count: int) -> np.ndarray:
        words = self._words(key, count)
        bad = next((w for w in words if not _FLOAT_WORD.fullmatch(w)), None)
        if bad is not None:
            self._fail(key, f"value {bad[:20]!r} is not a number")
        return np.array([float(w) for w in words], dtype=np.float64)


def _concat(trees: list[dict]) -> LightGBMTrees:
    def cat(key, dtype, default_len=None):
        parts = [t[key] if key in t else np.zeros(0 if default_len is None else default_len(t), dtype)
                 for t in trees]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    any_linear = any(t["is_linear"] for t in trees)
    counted = all("leaf_count" in t for t in trees)
    return LightGBMTrees(
        num_leaves=np.array([t["num_leaves"] for t in trees], dtype=np.int64),
        num_cat=np.array([t["num_cat"] for t in trees], dtype=np.int64),
        split_feature=cat("split_feature", np.int64),
        threshold=cat("threshold", np.float64),
        decision_type=cat("decision_type", np.int64),
        left_child=cat("left_child", np.int64),
        right_child=cat("right_child", np.int64),
        leaf_value=cat("leaf_value", np.float64),
        cat_boundaries=cat("cat_boundaries", np.int64),
        cat_threshold=cat("cat_threshold", np.int64).astype(np.uint32),
        cat_threshold_count=np.array([len(t.get("cat_threshold", ())) for t in trees], dtype=np.int64),
        is_linear=np.array([t["is_linear"] for t in trees], dtype=bool),
        leaf_const=(np.concatenate([t["leaf_const"] if t["is_linear"] else t["leaf_value"] for t in trees])
                    if any_linear else np.zeros(0)),
        leaf_num_features=(cat("leaf_num_features", np.int64, lambda t: t["num_leaves"]) if any_linear
                           else np.zeros(0, np.int64)),
        leaf_features=cat("leaf_features", np.int64),
        leaf_coeff=cat("leaf_coeff", np.float64),
        internal_count=cat("internal_count", np.int64) if counted else None,
        leaf_count=cat("leaf_count", np.int64) if counted else None,
    )


# --- header helpers and trailing sections ---------------------------------------------------

def _int(header: dict, key: str, source, low: int, high: int = 2**31 - 1) -> int:
    if key not in header:
        raise ModelFormatError(source, key, "is missing from the header")
    value = header[key].strip()
    if not _INT_WORD.fullmatch(value) or not low <= int(value) <= high:
        raise ModelFormatError(source, key, f"is {value[:20]!r}, expected an integer in [{low}, {high}]")
    return int(value)


def _words(header: dict, key: str, source) -> list[str]:
    if key not in header:
        raise ModelFormatError(source, key, "is missing from the header")
    return header[key].split(" ") if header[key] else []


def _is_category_list(info: str) -> bool:
    """``feature_infos`` entry of a categorical feature: its categories joined by ':'
    (numeric features have ``[min:max]`` or ``none``)."""
    return not info.startswith("[") and info != "none"


def _pandas_categorical(tail: bytes, source):
    """Check the closed sections after ``end of trees`` (a file cut short inside them has lost
    what follows, maybe its ``pandas_categorical``) and return that line's JSON text: None when
    absent or null, else one list of categories per pandas category column. Other lines
    (feature importances, sections of later releases) are skipped."""
    try:
        lines = tail.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise ModelFormatError(source, "parameters", "the text after 'end of trees' is not UTF-8") from None
    lines = [line.rstrip("\r") for line in lines]
    found = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
        elif line in ("parameters:", "parser:"):
            closing = "end of parameters" if line == "parameters:" else "end of parser"
            try:
                i = lines.index(closing, i + 1) + 1
            except ValueError:
                raise ModelFormatError(source, line[:-1], f"has no '{closing}' line (truncated?)") from None
        elif line.startswith("pandas_categorical:") and found is None:
            found = _categories_json(line[len("pandas_categorical:"):], source)
            i += 1
        else:  # feature importances (their heading changed over releases) and future sections
            i += 1
    return found


def _categories_json(text: str, source):
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ModelFormatError(source, "pandas_categorical", f"is not valid JSON ({exc})") from None
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        raise ModelFormatError(source, "pandas_categorical", "expected null or a list of category lists")
    return text
