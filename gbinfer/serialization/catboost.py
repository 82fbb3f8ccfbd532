"""CatBoost models in the schema (1.3): ``catboost`` semantics, ``oblivious`` layout (symmetric
trees) or ``nonsymmetric`` layout (Depthwise, Lossguide: nodes with children and leaves); 1.4 adds
the optional ``leaf_weights`` (TreeSHAP's covers).

What is stored is the model's description, the arguments of ``Oblivious.build`` (float borders
and NaN treatments, one-hot hashes, the binary-feature table, tree splits and depths, leaves,
``scale_and_bias``, CTRs with their tables), never the kernels' derived arrays; loading rebuilds
through ``Oblivious.build``, so a file is checked exactly as a ``.cbm`` is. The checks here only
cut the flat arrays into per-slot and per-CTR pieces: counts, offsets and codes first, so that
no slice or reshape can go wrong before ``build`` sees them.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedModelError
from . import schema

_SLOTS = ("float_column", "float_nan_as_true")
_PER_CTR = ("ctr_kind", "ctr_prior_numerator", "ctr_prior_denominator", "ctr_shift", "ctr_scale",
            "ctr_target_border", "ctr_denominator", "ctr_count_width")
_MAX_WIDTH = 1 << 16  # counts per CTR table entry (CatBoost's hash_stride is far smaller)


def _concat(parts, dtype) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=dtype).reshape(-1) for p in parts] + [np.zeros(0, dtype)])


def _offsets(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]).astype(np.int64)


def from_oblivious(model, user, arrays: dict) -> "schema.ModelSpec":
    """The schema form of a model with an ``Oblivious`` booster."""
    from .. import __version__

    meta, b, obj = model.meta, model.booster, model.objective
    k = b.num_outputs
    ctrs = b.ctrs
    sizes = np.diff(b.tree_offsets).astype(np.int32)
    if b.symmetric:
        arrays.update(tree_depth=sizes)
    else:  # children and leaves as numbers within their tree, as Oblivious.build takes them
        start = np.repeat(b.tree_offsets[:-1], sizes)
        arrays.update(tree_nodes=sizes,
                      tree_leaves=(np.diff(b.leaf_offsets) // k).astype(np.int32),
                      node_left=np.where(b.node_left < 0, -1, b.node_left - start).astype(np.int32),
                      node_right=np.where(b.node_right < 0, -1, b.node_right - start).astype(np.int32),
                      node_leaf=b.node_leaf)
    arrays.update(
        float_column=b.slot_column, float_border_offsets=b.border_offsets, float_borders=b.borders,
        float_nan_as_true=(b.nan_bin != 0).astype(np.uint8),  # a slot's NaN bin is 0 or its border count
        onehot_column=b.cat_column, onehot_offsets=b.cat_offsets, onehot_values=b.cat_values,
        binary_slot=b.split_slot, binary_index=(b.split_lo - 1).astype(np.int32),
        tree_splits=b.tree_splits, leaf_values=b.leaf_values.reshape(-1, k),
        scale=np.array([b.scale], dtype=np.float64), bias=np.asarray(b.bias, dtype=np.float64),
        ctr_kind=np.array([schema.CTR_KINDS.index(c.kind) for c in ctrs], dtype=np.uint8),
        ctr_prior_numerator=np.array([c.prior_numerator for c in ctrs], dtype=np.float32),
        ctr_prior_denominator=np.array([c.prior_denominator for c in ctrs], dtype=np.float32),
        ctr_shift=np.array([c.shift for c in ctrs], dtype=np.float32),
        ctr_scale=np.array([c.scale for c in ctrs], dtype=np.float32),
        ctr_target_border=np.array([c.target_border for c in ctrs], dtype=np.int32),
        ctr_denominator=np.array([c.denominator for c in ctrs], dtype=np.int64),
        ctr_cat_offsets=_offsets([len(c.cat_columns) for c in ctrs]),
        ctr_cat_column=_concat([c.cat_columns for c in ctrs], np.int32),
        ctr_float_offsets=_offsets([len(c.float_splits) for c in ctrs]),
        ctr_float_column=_concat([[f[0] for f in c.float_splits] for c in ctrs], np.int32),
        ctr_float_border=_concat([[f[1] for f in c.float_splits] for c in ctrs], np.float32),
        ctr_float_nan_as_true=_concat([[bool(f[2]) for f in c.float_splits] for c in ctrs], np.uint8),
        ctr_onehot_offsets=_offsets([len(c.one_hot_splits) for c in ctrs]),
        ctr_onehot_column=_concat([[o[0] for o in c.one_hot_splits] for c in ctrs], np.int32),
        ctr_onehot_value=_concat([[o[1] for o in c.one_hot_splits] for c in ctrs], np.int32),
        ctr_table_offsets=_offsets([len(c.hashes) for c in ctrs]),
        ctr_hashes=_concat([np.asarray(c.hashes, dtype=np.uint64).view(np.int64) for c in ctrs], np.int64),
        ctr_count_width=np.array([c.counts.shape[1] for c in ctrs], dtype=np.int32),
        ctr_counts=_concat([c.counts for c in ctrs], np.float64),
    )
    if b.has_leaf_weights:
        arrays["leaf_weights"] = b.leaf_weights
    return schema.ModelSpec(
        version=schema.SCHEMA_VERSION,
        provenance=schema.Provenance(meta.source_library, tuple(int(v) for v in meta.source_version),
                                     f"gbinfer {__version__}"),
        num_features=int(meta.num_features),
        num_outputs=int(meta.num_outputs),
        best_iteration=int(meta.best_iteration) if meta.best_iteration is not None else None,
        source_attributes=schema._plain(dict(meta.attributes or {}), "meta.attributes"),
        objective=schema.ObjectiveSpec(obj.name, obj.transform.name.lower(), obj.link.name.lower(),
                                       schema._plain(dict(obj.params or {}), "objective.params")),
        features=schema._features_spec(model.features),
        booster=schema.BoosterSpec(schema.BoosterKind.GBTREE, schema.Semantics.CATBOOST,
                                   schema.Layout.OBLIVIOUS if b.symmetric else schema.Layout.NONSYMMETRIC,
                                   b.num_trees, len(b.leaf_values) // k, k),
        metadata=user,
        arrays=arrays,
    )


def _ranges(a: dict, name: str, count: int, target: str, source) -> list:
    """``a[name]`` as ``count`` (start, end) ranges tiling ``a[target]`` from its first item to its last."""
    offsets = a[name]
    if len(offsets) != count + 1:
        raise ModelFormatError(source, f"arrays/{name}", f"holds {len(offsets)} offsets, expected {count + 1}")
    if (offsets[0] != 0 or offsets[-1] != len(a[target]) or offsets.min() < 0 or offsets.max() > len(a[target])
            or np.any(np.diff(offsets) < 0)):  # the range first: differences of wild offsets wrap
        raise ModelFormatError(source, f"arrays/{name}", f"must rise from 0 to the {len(a[target])} items of "
                                                         f"{target}")
    return list(zip(offsets[:-1].tolist(), offsets[1:].tolist()))


def _same_length(a: dict, names, count: int, what: str, source) -> None:
    for name in names:
        if len(a[name]) != count:
            raise ModelFormatError(source, f"arrays/{name}", f"holds {len(a[name])} items, expected one per "
                                                             f"{what} ({count})")


def _flags(a: dict, name: str, source) -> None:
    if a[name].size and int(a[name].max()) > 1:
        raise ModelFormatError(source, f"arrays/{name}", "holds a value other than 0 or 1")


def _ctrs(a: dict, num_columns: int, source) -> tuple:
    from ..oblivious import Ctr

    n = len(a["ctr_kind"])
    _same_length(a, _PER_CTR, n, "CTR", source)
    kinds = a["ctr_kind"]
    if n and int(kinds.max()) >= len(schema.CTR_KINDS):
        at = int(np.flatnonzero(kinds >= len(schema.CTR_KINDS))[0])
        raise UnsupportedModelError(source, f"arrays/ctr_kind[{at}]", f"unknown code {int(kinds[at])}; this "
                                                                      f"gbinfer knows 0 to {len(schema.CTR_KINDS) - 1}")
    widths = a["ctr_count_width"].astype(np.int64)
    if n and (widths.min() < 1 or widths.max() > _MAX_WIDTH):
        raise ModelFormatError(source, "arrays/ctr_count_width", f"a width lies outside 1 to {_MAX_WIDTH}")
    cats = _ranges(a, "ctr_cat_offsets", n, "ctr_cat_column", source)
    _same_length(a, ("ctr_float_border", "ctr_float_nan_as_true"), len(a["ctr_float_column"]),
                 "CTR float element", source)
    _flags(a, "ctr_float_nan_as_true", source)
    floats = _ranges(a, "ctr_float_offsets", n, "ctr_float_column", source)
    _same_length(a, ("ctr_onehot_value",), len(a["ctr_onehot_column"]), "CTR one-hot element", source)
    one_hot = _ranges(a, "ctr_onehot_offsets", n, "ctr_onehot_column", source)
    tables = _ranges(a, "ctr_table_offsets", n, "ctr_hashes", source)
    entries = np.array([e - s for s, e in tables], dtype=np.int64)
    if int((entries * widths).sum()) != len(a["ctr_counts"]):
        raise ModelFormatError(source, "arrays/ctr_counts", f"holds {len(a['ctr_counts'])} counts; the tables "
                                                            f"need {int((entries * widths).sum())} (entries x width)")
    count_at = _offsets(entries * widths)
    hashes = np.ascontiguousarray(a["ctr_hashes"]).view(np.uint64)
    out = []
    for k in range(n):
        (c0, c1), (f0, f1), (o0, o1), (t0, t1) = cats[k], floats[k], one_hot[k], tables[k]
        out.append(Ctr(
            cat_columns=tuple(int(c) for c in a["ctr_cat_column"][c0:c1]),
            float_splits=tuple((int(c), np.float32(b), bool(t)) for c, b, t in zip(
                a["ctr_float_column"][f0:f1], a["ctr_float_border"][f0:f1], a["ctr_float_nan_as_true"][f0:f1])),
            one_hot_splits=tuple((int(c), int(v)) for c, v in zip(a["ctr_onehot_column"][o0:o1],
                                                                  a["ctr_onehot_value"][o0:o1])),
            kind=schema.CTR_KINDS[int(kinds[k])],
            prior_numerator=np.float32(a["ctr_prior_numerator"][k]),
            prior_denominator=np.float32(a["ctr_prior_denominator"][k]),
            shift=np.float32(a["ctr_shift"][k]), scale=np.float32(a["ctr_scale"][k]),
            target_border=int(a["ctr_target_border"][k]),
            hashes=hashes[t0:t1].copy(),
            counts=np.array(a["ctr_counts"][count_at[k]:count_at[k + 1]], dtype=np.float64).reshape(
                t1 - t0, int(widths[k])),
            denominator=int(a["ctr_denominator"][k])))
    return tuple(out)


def into_oblivious(spec: "schema.ModelSpec", source):
    """The runtime model of a ``catboost`` spec (``oblivious`` or ``nonsymmetric`` layout), rebuilt
    through ``Oblivious.build``."""
    from ..model import FeatureInfo, Model, ModelMeta
    from ..objective import Objective
    from ..oblivious import Oblivious

    a, b = spec.arrays, spec.booster
    k = spec.num_outputs
    if b.leaf_size != k:
        raise ModelFormatError(source, "booster/leaf_size", f"is {b.leaf_size}, expected the output count {k}: "
                                                            "a CatBoost tree's leaves hold every output")
    if a["leaf_values"].dtype != np.float64:
        raise UnsupportedModelError(source, "arrays/leaf_values", f"is {a['leaf_values'].dtype.name}; catboost "
                                                                  "semantics use float64")
    if np.any(a["base_score"] != 0):
        raise ModelFormatError(source, "arrays/base_score", "must be 0 for catboost semantics, whose bias is in "
                                                            "arrays/bias")
    if spec.features.categories is not None:
        raise ModelFormatError(source, "features/categories", "must be null: CatBoost models hash categories and "
                                                              "store no training categories")
    # float and CTR slots, one-hot slots, binary features: lengths and offsets, then build checks the rest
    slots = len(a["float_column"])
    _same_length(a, _SLOTS, slots, "float slot", source)
    _flags(a, "float_nan_as_true", source)
    borders = _ranges(a, "float_border_offsets", slots, "float_borders", source)
    values = _ranges(a, "onehot_offsets", len(a["onehot_column"]), "onehot_values", source)
    _same_length(a, ("binary_index",), len(a["binary_slot"]), "binary feature", source)
    ctrs = _ctrs(a, spec.num_features, source)
    weights = a.get("leaf_weights")
    if weights is not None:
        leaves = len(a["leaf_values"])
        if len(weights) != leaves:
            raise ModelFormatError(source, "arrays/leaf_weights", f"holds {len(weights)} weights, expected one per "
                                                                  f"leaf ({leaves})")
        bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))
        if len(bad):
            at = int(bad[0])
            raise ModelFormatError(source, f"arrays/leaf_weights[{at}]", f"is {weights[at]}, expected a finite "
                                                                         "weight >= 0")
    if b.layout is schema.Layout.NONSYMMETRIC:
        _same_length(a, ("tree_leaves",), len(a["tree_nodes"]), "tree", source)
        _same_length(a, ("node_right", "node_leaf"), len(a["node_left"]), "node", source)
        trees = dict(tree_depths=a["tree_nodes"], node_left=a["node_left"], node_right=a["node_right"],
                     node_leaf=a["node_leaf"], tree_leaves=a["tree_leaves"])
    else:
        trees = dict(tree_depths=a["tree_depth"])
    booster = Oblivious.build(
        slot_column=a["float_column"], borders_per_slot=[a["float_borders"][s:e] for s, e in borders],
        nan_as_true=[bool(v) for v in a["float_nan_as_true"]], cat_column=a["onehot_column"],
        values_per_cat=[a["onehot_values"][s:e] for s, e in values], split_slot=a["binary_slot"],
        split_index=a["binary_index"], tree_splits=a["tree_splits"], **trees,
        leaf_values=a["leaf_values"].reshape(-1), num_outputs=k, num_columns=spec.num_features,
        scale=float(a["scale"][0]), bias=a["bias"], ctrs=ctrs, leaf_weights=weights, source=source)
    o = spec.objective
    objective = Objective.catboost(o.name, dict(o.params), source=source)
    if objective.transform.name.lower() != o.transform or o.link != "identity":
        raise ModelFormatError(source, "objective/transform", f"is {o.transform!r} with link {o.link!r}, but the "
                                                              f"CatBoost loss {o.name!r} means "
                                                              f"{objective.transform.name.lower()!r} with 'identity'")
    meta = ModelMeta(num_features=spec.num_features, num_outputs=k, base_score=np.zeros(k, dtype=np.float32),
                     source_library=spec.provenance.source_library, source_version=spec.provenance.source_version,
                     best_iteration=spec.best_iteration, attributes=dict(spec.source_attributes),
                     user_metadata=schema.user_metadata(spec.metadata))
    return Model(booster=booster, meta=meta, features=FeatureInfo(spec.features.names, spec.features.types),
                 objective=objective)
