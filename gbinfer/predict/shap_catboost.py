"""Feature contributions of CatBoost models, as catboost's ``get_feature_importance(type="ShapValues")``.

Values are CatBoost's (``shap_catboost_kernels``: its recursion, in float64, in its order of
operations); the layout is XGBoost's, as for every model gbinfer explains: (rows, features + 1),
or (rows, outputs, features + 1) for a model of several outputs (MultiClass, MultiRMSE, ...),
which is also catboost's layout. Features are the model's input columns: what a one-hot split or
a CTR learns is credited to its categorical columns, a CTR's value split equally among the
categorical columns it combines (CatBoost's rule; the float and one-hot parts of a CTR's
combination get nothing). The last column is each tree's expected value under its leaf weights,
added tree after tree, plus the model's bias; so a row adds up to its raw prediction for
symmetric trees. For non-symmetric trees (Depthwise, Lossguide) CatBoost's recursion credits the
leaf a node holds beside a subtree whichever way the row goes, and leaves the root's own leaf out
of the root's weight, so there the values are CatBoost's and need not add up to the prediction.

``approximate=True`` gives catboost's ``shap_calc_type="Approximate"`` values (along the row's
path, each split's class gets the change of the node's weighted mean value), also bit for bit.

``predict_interactions`` gives catboost's ``ShapInteractionValues``, bit for bit: the same recursion
conditioned on each class being known (FixedOn) and unknown (FixedOff).

Refused (``UnsupportedModelError``, naming the field) where catboost refuses: a ``scale`` other
than 1 (catboost: "Non-identity {Scale} for feature importance is not supported"), models whose
file holds no leaf weights (catboost would need the training pool) and approximate interaction
values (catboost: "Only 'Regular' calculation type is supported"). ``base_margin`` is refused as for
CatBoost predictions. An ``iteration_range`` explains those trees only; the bias is added when
the range starts at the first tree, as in CatBoost's raw predictions.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, UnsupportedModelError
from ..oblivious import Oblivious
from . import shap_catboost_kernels as K


def is_catboost(model) -> bool:
    return isinstance(model.booster, Oblivious)


@dataclass(frozen=True, eq=False)
class ShapTrees:
    """What the kernels read beside the booster, derived once per booster."""

    split_class: np.ndarray  # int32 [binary features]: the combination class each split belongs to
    class_ptr: np.ndarray  # int64 [classes + 1]: class c credits class_feat[class_ptr[c]:class_ptr[c + 1]]
    class_feat: np.ndarray  # int32: input columns
    tree_feat_ptr: np.ndarray  # int64 [trees + 1]: tree t credits tree_feats[tree_feat_ptr[t]:[t + 1]]
    tree_feats: np.ndarray  # int32: each tree's credited columns, ascending
    sub: np.ndarray  # float64: node weights (symmetric: level after level from sub_offsets)
    sub_offsets: np.ndarray  # int64 [trees + 1] (symmetric trees)
    mean: np.ndarray  # float64 [trees, outputs]: each tree's expected value
    average: np.ndarray  # float64 [trees]: MultiClass: the mean of the tree's expected values; else 0
    levels: int  # path levels the deepest tree needs
    values: np.ndarray  # float64 [nodes as sub, outputs]: each node's mean value (Approximate)


_prepared: "weakref.WeakKeyDictionary[Oblivious, ShapTrees]" = weakref.WeakKeyDictionary()


def check(model, what: str, approximate: bool) -> None:
    b = model.booster
    if approximate and what != "feature contributions":
        raise UnsupportedModelError(None, "approximate", f"approximate {what} are not computed for CatBoost models, "
                                                         "as catboost computes none (\"Only 'Regular' calculation "
                                                         "type is supported for ShapInteractionValues\")")
    if b.scale != 1.0:
        raise UnsupportedModelError(None, "scale", f"the model's scale is {b.scale!r}: catboost explains only "
                                                   "models of scale 1 (\"Non-identity {Scale} for feature importance "
                                                   "is not supported\")")
    if not b.has_leaf_weights:
        raise UnsupportedModelError(None, "leaf_weights", "feature contributions need each leaf's training weight "
                                                          "(CatBoost's LeafWeights), and this model holds none: "
                                                          "load the CatBoost model (.cbm or JSON) as catboost saved "
                                                          "it, or a .xgbrs / native JSON / .apr file of schema 1.4 "
                                                          "saved from it")


def _classes(b: Oblivious) -> tuple:
    """CatBoost's combination classes (``MapBinFeaturesToClasses``): per binary feature, the input
    columns it credits: a float feature's column, a one-hot feature's column, or the categorical
    columns a CTR combines, in its order; binary features crediting the same columns are one class."""
    floats = len(b.slot_column) - len(b.ctrs)
    keys = {}
    split_class = np.empty(len(b.split_slot), dtype=np.int32)
    for s, slot in enumerate(b.split_slot.tolist()):
        if slot < floats:
            key = (int(b.slot_column[slot]),)
        elif slot < floats + len(b.ctrs):
            key = tuple(int(c) for c in b.ctrs[slot - floats].cat_columns)
        else:
            key = (int(b.cat_column[slot - floats - len(b.ctrs)]),)
        split_class[s] = keys.setdefault(key, len(keys))
    columns = list(keys)
    class_ptr = np.concatenate([[0], np.cumsum([len(c) for c in columns])]).astype(np.int64)
    class_feat = np.array([f for c in columns for f in c], dtype=np.int32)
    return split_class, class_ptr, class_feat


def _tree_features(b: Oblivious, split_class, class_ptr, class_feat) -> tuple:
    """Per tree, the input columns its splits credit, ascending (nodes where every walk stops
    split on nothing)."""
    sizes = np.diff(b.tree_offsets)
    tree = np.repeat(np.arange(b.num_trees), sizes)
    splits = b.tree_splits
    if not b.symmetric:
        tested = (b.node_left >= 0) | (b.node_right >= 0)
        tree, splits = tree[tested], splits[tested]
    if not len(splits):
        return np.zeros(b.num_trees + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    classes = split_class[splits]
    per_class = np.diff(class_ptr)
    tree_of = np.repeat(tree, per_class[classes])
    feats = np.concatenate([class_feat[class_ptr[c]:class_ptr[c + 1]] for c in classes])
    width = int(class_feat.max(initial=0)) + 1
    pairs = np.unique(tree_of.astype(np.int64) * width + feats)
    feat_ptr = np.searchsorted(pairs // width, np.arange(b.num_trees + 1), side="left").astype(np.int64)
    return feat_ptr, (pairs % width).astype(np.int32)


def prepared(model) -> ShapTrees:
    b = model.booster
    found = _prepared.get(b)
    if found is None:
        k = b.num_outputs
        split_class, class_ptr, class_feat = _classes(b)
        feat_ptr, feats = _tree_features(b, split_class, class_ptr, class_feat)
        mean = np.zeros((b.num_trees, k), dtype=np.float64)
        sizes = np.diff(b.tree_offsets)
        if b.symmetric:
            sub_offsets = np.concatenate([[0], np.cumsum((2 << sizes) - 1)]).astype(np.int64)
            sub = np.zeros(int(sub_offsets[-1]), dtype=np.float64)
            K.symmetric_stats(b.tree_offsets, b.leaf_offsets, b.leaf_values, b.leaf_weights, k, sub_offsets, sub,
                              mean)
            levels = int(sizes.max(initial=0)) + 1
            values = np.zeros((len(sub), k), dtype=np.float64)
            K.symmetric_values(b.tree_offsets, b.leaf_offsets, b.leaf_values, k, sub_offsets, sub, values)
        else:
            from .nonsymmetric import _kernel_args

            sub_offsets = np.zeros(b.num_trees + 1, dtype=np.int64)
            sub = np.zeros(len(b.node_left), dtype=np.float64)
            K.nonsymmetric_stats(b.tree_offsets, b.node_left, b.node_right, b.node_leaf, b.leaf_offsets,
                                 b.leaf_values, b.leaf_weights, k, sub, mean)
            levels = int(_kernel_args(b)[-1].max(initial=0)) + 1
            values = np.zeros((len(sub), k), dtype=np.float64)
            K.nonsymmetric_values(b.tree_offsets, b.node_left, b.node_right, b.node_leaf, b.leaf_offsets,
                                  b.leaf_values, b.leaf_weights, k, sub, values)
        # CatBoost centres leaves on the mean of the tree's expected values for MultiClass only,
        # added output after output from 0.0 (its Accumulate)
        average = np.zeros(b.num_trees, dtype=np.float64)
        if model.objective.name == "MultiClass":
            for d in range(k):
                average = average + mean[:, d]
            average = average / k
        found = ShapTrees(split_class, class_ptr, class_feat, feat_ptr, feats, sub, sub_offsets, mean,
                          np.ascontiguousarray(average, dtype=np.float64), levels, values)
        for a in (split_class, class_ptr, class_feat, feat_ptr, feats, sub, sub_offsets, mean, found.average, values):
            a.flags.writeable = False
        _prepared[b] = found
    return found


class _Trees:
    """One call's rows as the kernels read them (leaf indexes, or the binarised input of
    non-symmetric trees), made once and explained as many times as needed."""

    def __init__(self, model, data, iteration_range, nthread):
        from . import tree_range

        b = self.booster = model.booster
        self.t0, self.t1 = tree_range(model, iteration_range)
        self.P = prepared(model)
        if b.symmetric:
            from .oblivious import predict_leaf

            self.leaves = predict_leaf(model, data, iteration_range=iteration_range, nthread=nthread)
            self.n = self.leaves.shape[0]
        else:
            from .nonsymmetric import _kernel_args
            from .oblivious import rows

            self.X, self.codes = rows(model, data, nthread)
            self.n = self.X.shape[0]
            self.walk = _kernel_args(b)[:5]

    def run(self, out, approximate, fixed=-1, on=False, internal=False) -> np.ndarray:
        b, P, k = self.booster, self.P, self.booster.num_outputs
        if b.symmetric:
            K.symmetric_contribs(self.leaves, b.tree_offsets, b.tree_splits, P.split_class, P.sub, P.sub_offsets,
                                 b.leaf_offsets, b.leaf_values, k, P.mean, P.average, P.class_ptr, P.class_feat,
                                 P.tree_feat_ptr, P.tree_feats, P.levels, self.t0, self.t1, out, P.values,
                                 approximate, fixed, on, internal)
        else:
            K.nonsymmetric_contribs(self.X, self.codes, *self.walk, b.tree_offsets, b.tree_splits, P.split_class,
                                    P.sub, b.leaf_offsets, b.leaf_values, k, P.mean, P.average, P.class_ptr,
                                    P.class_feat, P.tree_feat_ptr, P.tree_feats, P.levels, self.t0, self.t1, out,
                                    P.values, approximate, fixed, on, internal)
        return out


def _start(model, what, approximate, base_margin, nthread):
    from . import check_options

    check(model, what, approximate)
    if nthread is not None:
        check_options(nthread=nthread)
    if base_margin is not None:
        raise DataError("base_margin is not supported for CatBoost models (CatBoost's predict takes no baseline)")


def predict_contribs(model, data, *, approximate, iteration_range, base_margin, nthread) -> np.ndarray:
    _start(model, "feature contributions", approximate, base_margin, nthread)
    trees = _Trees(model, data, iteration_range, nthread)
    F, k = model.meta.num_features, model.booster.num_outputs
    out = trees.run(np.zeros((trees.n, k, F + 1), dtype=np.float64), approximate)
    if trees.t0 == 0:
        out[:, :, F] += model.booster.bias
    return out[:, 0] if k == 1 else out


def predict_interactions(model, data, *, approximate, iteration_range, base_margin, nthread) -> np.ndarray:
    """catboost's ``ShapInteractionValues``: per class pair, half the change of one class's values
    when the other is conditioned on and off (CatBoost's FixedOn / FixedOff recursion), the
    diagonal the class's value less its row's interactions; split among the classes' features
    (1 / size, 1 / (size x size)), class pair after class pair in CatBoost's class order (classes
    sorted by their columns); the last row and column hold the model's bias, their corner 0."""
    _start(model, "interaction values", approximate, base_margin, nthread)
    trees = _Trees(model, data, iteration_range, nthread)
    P, b = trees.P, model.booster
    F, k, n, C = model.meta.num_features, b.num_outputs, trees.n, len(P.class_ptr) - 1
    features = [P.class_feat[P.class_ptr[c]:P.class_ptr[c + 1]].tolist() for c in range(C)]
    order = sorted(range(C), key=lambda c: features[c])  # CatBoost numbers classes in this order
    phi = trees.run(np.zeros((n, k, C), dtype=np.float64), False, internal=True)
    V = np.zeros((C, C, n, k), dtype=np.float64)
    for c in range(C):
        V[c, c] += phi[:, :, c] * 1.0
    for c1 in order:
        on = trees.run(np.zeros((n, k, C), dtype=np.float64), False, c1, True, True)
        off = trees.run(np.zeros((n, k, C), dtype=np.float64), False, c1, False, True)
        for c2 in order:
            if c2 != c1:
                effect = (on[:, :, c2] - off[:, :, c2]) / 2.0
                V[c1, c2] = effect
                V[c1, c1] -= effect
    out = np.zeros((n, k, F + 1, F + 1), dtype=np.float64)
    for c1 in order:
        for c2 in order:
            if c1 == c2:
                coefficient = 1.0 / float(len(features[c1]))
                for f in features[c1]:
                    out[:, :, f, f] += V[c1, c1] * coefficient
                continue
            coefficient = 1.0 / float(len(features[c1]) * len(features[c2]))
            for f1 in features[c1]:
                for f2 in features[c2]:
                    if f1 != f2:
                        out[:, :, f1, f2] += V[c1, c2] * coefficient
    if trees.t0 == 0:
        out[:, :, F, :F] += b.bias[None, :, None]
        out[:, :, :F, F] += b.bias[None, :, None]
    return out[:, 0] if k == 1 else out
