"""Hand-built forests: the decision rule at the edges, and validation of every index."""

import numpy as np
import pytest

from gbinfer.errors import ModelFormatError
from gbinfer.forest import Semantics, assemble
from gbinfer.model import FeatureInfo, Model, ModelMeta, Tree
from gbinfer.objective import Objective

INF = np.float32(np.inf)


def _forest(left, right, feature, threshold, default_left, leaf, sizes=None, is_cat=None, cat_offsets=None,
            cat_bits=(), num_features=2):
    n = len(left)
    sizes = sizes or [n]
    return assemble(source="test", semantics=Semantics.XGBOOST, num_features=num_features, num_outputs=1,
                    tree_sizes=np.array(sizes), tree_group=np.zeros(len(sizes), np.int32),
                    left_local=np.array(left), right_local=np.array(right), split_feature=np.array(feature),
                    threshold=np.array(threshold, np.float32), default_left=np.array(default_left, np.uint8),
                    is_categorical=np.array(is_cat if is_cat is not None else [0] * n, np.uint8),
                    cat_offsets=np.array(cat_offsets if cat_offsets is not None else [0] * (n + 1)),
                    cat_bits=np.array(cat_bits, np.uint32), leaf_values=np.array(leaf, np.float32).reshape(n, 1))


def _model(forest):
    meta = ModelMeta(num_features=2, num_outputs=1, base_score=np.zeros(1, np.float32), source_library="xgboost",
                     source_version=(0,))
    return Model(Tree(forest, np.array([0, forest.num_trees])), meta, FeatureInfo(),
                 Objective.xgboost("reg:squarederror"))


@pytest.mark.parametrize("threshold,x,expected", [
    (0.0, -1.0, 1.0), (0.0, 0.0, 2.0), (0.0, 1.0, 2.0),          # x < t goes left; equality goes right
    (INF, 1e30, 1.0), (INF, np.inf, 2.0), (-INF, -np.inf, 2.0),  # +-inf thresholds
    (0.0, np.nan, 2.0),                                          # missing follows default (right here)
])
def test_three_node_tree(threshold, x, expected):
    m = _model(_forest([1, -1, -1], [2, -1, -1], [0, 0, 0], [threshold, 1, 2], [0, 0, 0], [0, 1, 2]))
    assert m.predict(np.array([[x, 0]], np.float32))[0] == expected
    assert m.predict_leaf(np.array([[x, 0]], np.float32))[0] == expected


def test_source_numbering_survives_breadth_first_order():
    # root 0 -> (3, 1); node 3 -> (4, 2); leaves 1, 2, 4 — children listed out of order
    f = _forest([3, -1, -1, 4, -1], [1, -1, -1, 2, -1], [0, 0, 0, 1, 0], [0, 10, 20, 0, 40], [1] * 5,
                [0, 10, 20, 0, 40])
    m = _model(f)
    X = np.array([[-1, -1], [-1, 1], [1, 0]], np.float32)
    assert list(m.predict(X)) == [40, 20, 10]
    assert list(m.predict_leaf(X)) == [4, 2, 1]
    assert np.array_equal(f.right_child[f.left_child >= 0], f.left_child[f.left_child >= 0] + 1)


def test_pruned_nodes_are_dropped():
    f = _forest([1, -1, -1, -1], [2, -1, -1, -1], [0, 0, 0, 0], [0, 1, 2, 9], [0] * 4, [0, 1, 2, 9])
    assert f.num_nodes == 3


def test_categorical_rule():
    # category set {1, 33} on feature 0: in the set goes right (leaf 2), otherwise left (leaf 1)
    bits = [1 << 1, 1 << 1]
    f = _forest([1, -1, -1], [2, -1, -1], [0, 0, 0], [np.nan, 1, 2], [1, 0, 0], [0, 1, 2], is_cat=[1, 0, 0],
                cat_offsets=[0, 2, 2, 2], cat_bits=bits)
    m = _model(f)
    xs = [1, 33, 1.9, 0, 2, 64, -1, 2.0**24 + 2, np.nan]
    X = np.array([[x, 0] for x in xs], np.float32)
    assert list(m.predict(X)) == [2, 2, 2, 1, 1, 1, 1, 1, 1]


def test_one_feature_split_both_ways():
    # feature 0 is compared with 10 at the root (missing goes left) and tested against the set {3}
    # below it (missing goes right): one feature, two slots, each holding its own form of the value
    f = _forest([1, 3, -1, -1, -1], [2, 4, -1, -1, -1], [0, 0, 0, 0, 0], [10, np.nan, 0, 0, 0], [1, 0, 0, 0, 0],
                [0, 0, 2, 3, 4], is_cat=[0, 1, 0, 0, 0], cat_offsets=[0, 0, 1, 1, 1, 1], cat_bits=[1 << 3])
    assert len(f.slots) == 2 and list(f.split_feature[:2]) == [0, 0]
    xs = [3, 3.7, 2, -1, 9.99, 10, 12, np.nan]
    X = np.array([[x, 0] for x in xs], np.float32)
    assert list(_model(f).predict(X)) == [4, 4, 3, 3, 3, 2, 2, 4]


def test_forest_of_leaves_only():
    # no splits, so no slots: walks read a zeroed key and stay on their roots, in every kernel path
    f = _forest([-1, -1], [-1, -1], [0, 0], [0, 0], [1, 1], [1.5, 2.0], sizes=[1, 1])
    assert len(f.slots) == 0
    m = _model(f)
    for n in (1, 9, 300):
        X = np.full((n, 2), np.nan, np.float32)
        assert np.array_equal(m.predict(X), np.full(n, 3.5, np.float32))
        assert np.array_equal(m.predict_leaf(X), np.zeros((n, 2), np.float32))


@pytest.mark.parametrize("left,right,match", [
    ([1, -1, -1], [5, -1, -1], "out of range"),
    ([1, 0, -1], [2, 2, -1], "reached twice|out of range"),
    ([1, 2, -1], [2, 2, -1], "reached twice"),
])
def test_bad_structure(left, right, match):
    with pytest.raises(ModelFormatError, match=match):
        _forest(left, right, [0, 0, 0], [0, 1, 2], [0, 0, 0], [0, 1, 2])


def test_feature_out_of_range():
    with pytest.raises(ModelFormatError, match=r"feature 2 is out of range \[0, 2\)"):
        _forest([1, -1, -1], [2, -1, -1], [2, 0, 0], [0, 1, 2], [0, 0, 0], [0, 1, 2])


def _special_floats(rng, n):
    """Random float32 bit patterns (every exponent, denormals included) plus the edge values."""
    values = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38,
                      1.0, -1.0, np.nan], np.float32)
    return np.concatenate([values[~np.isnan(values)], edges])


def test_threshold_keys_decode_to_the_same_bits():
    from gbinfer.forest import order_keys, values_of_keys
    t = _special_floats(np.random.default_rng(0), 200_000)
    t = t[~np.isnan(t)]
    keys = order_keys(t)
    assert np.array_equal(values_of_keys(keys).view(np.uint32), t.view(np.uint32))
    assert np.all(np.diff(t[np.argsort(keys)]) >= 0)  # the floats' order (-0.0 just below +0.0)


def test_stumps_follow_the_float_rule_on_every_kind_of_value():
    # Many one-split trees over random thresholds; each row's leaf per tree must be what
    # XGBoost's rule gives in floats: x < t goes left, missing follows the default direction.
    rng = np.random.default_rng(1)
    thresholds = _special_floats(rng, 300)
    thresholds[:3] = [0.0, -0.0, np.nan]  # a NaN threshold sends every present value right
    n = len(thresholds)
    default_left = rng.integers(0, 2, n).astype(np.uint8)
    left = np.tile([1, -1, -1], n)
    right = np.tile([2, -1, -1], n)
    thr = np.column_stack([thresholds, np.zeros(n), np.zeros(n)]).ravel().astype(np.float32)
    forest = assemble(source="test", semantics=Semantics.XGBOOST, num_features=2, num_outputs=1,
                      tree_sizes=np.full(n, 3), tree_group=np.zeros(n, np.int32), left_local=left, right_local=right,
                      split_feature=np.tile([1, 0, 0], n), threshold=thr,
                      default_left=np.repeat(default_left, 3), is_categorical=np.zeros(3 * n, np.uint8),
                      cat_offsets=np.zeros(3 * n + 1, np.int64), cat_bits=np.zeros(0, np.uint32),
                      leaf_values=np.zeros((3 * n, 1), np.float32))
    x = _special_floats(rng, 2_000)
    X = np.column_stack([np.zeros_like(x), x]).astype(np.float32)
    got = _model(forest).predict_leaf(X)
    with np.errstate(invalid="ignore"):
        goes_left = np.where(np.isnan(x)[:, None], default_left[None, :] == 1, x[:, None] < thresholds[None, :])
    assert np.array_equal(got, np.where(goes_left, 1, 2))
    assert np.array_equal(forest.threshold[forest.left_child >= 0].view(np.uint32)[3:],
                          thresholds[3:].view(np.uint32))
