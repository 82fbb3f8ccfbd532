"""Feature contributions of LightGBM models trained here, compared with lightgbm's own
``predict(pred_contrib=True)`` bit for bit, checked for local accuracy against gbinfer's raw
scores, and the refusals where LightGBM has nothing to match."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import ModelFormatError, UnsupportedModelError

lgb = pytest.importorskip("lightgbm")

N = 300
SPECIAL = np.array([np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, 1.0000000180025095e-35, np.inf, -np.inf])


def _data(seed=0, n=N, d=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    extra = X[:len(SPECIAL)].copy()
    for j in range(d):
        extra[:, j] = rng.permutation(SPECIAL)
    return np.vstack([X, extra]), rng


def _target(X, rng):
    Z = np.nan_to_num(X, posinf=3, neginf=-3)
    return 2 * Z[:, 0] + Z[:, 1] ** 2 - Z[:, 2] * Z[:, 3] + np.isnan(X[:, 4]) + 0.1 * rng.normal(size=len(X))


def _train(params, X, y, rounds=10, **kwargs):
    params = {"verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5, "seed": 7, "deterministic": True,
              "num_threads": 1, **params}
    return lgb.train(params, lgb.Dataset(X, y, **kwargs), rounds)


def _check(booster, X, **range_):
    """gbinfer's contributions equal lightgbm's exactly and add up to gbinfer's raw score."""
    model = gbinfer.load(booster.model_to_string().encode())
    if range_:
        a, b = range_["iteration_range"]
        ref = booster.predict(X, pred_contrib=True, start_iteration=a, num_iteration=b - a)
    else:
        ref = booster.predict(X, pred_contrib=True)
    got = model.predict_contribs(X, **range_)
    n, k, F = len(ref), model.meta.num_outputs, model.meta.num_features
    assert got.shape == ((n, F + 1) if k == 1 else (n, k, F + 1))
    flat = got.reshape(n, -1)
    scale = np.abs(ref).max(axis=1)
    relative = (np.abs(flat - ref).max(axis=1) / np.where(scale > 0, scale, 1)).max()
    assert relative == 0.0
    np.testing.assert_array_equal(flat, ref)
    margin = model.predict(X, output_margin=True, **range_).reshape(n, k)
    total = got.reshape(n, k, F + 1).sum(axis=2)
    np.testing.assert_allclose(total, margin, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    return model, got


@pytest.mark.parametrize("params", [
    {"objective": "regression"},  # missing type NaN where NaN was seen, None elsewhere
    {"objective": "regression", "zero_as_missing": True},  # missing type Zero
    {"objective": "regression", "use_missing": False},  # missing type None everywhere
    {"objective": "regression", "max_depth": 3, "num_leaves": 8},
], ids=["nan", "zero", "none", "shallow"])
def test_regression_matches_lightgbm(params):
    X, rng = _data()
    booster = _train(params, X, _target(X, rng))
    _check(booster, X)
    _check(booster, X.astype(np.float32))  # lightgbm widens float32 rows to float64


def test_binary_and_iteration_range():
    X, rng = _data(1)
    y = (_target(X, rng) > 0.5).astype(float)
    booster = _train({"objective": "binary"}, X, y, rounds=8)
    _check(booster, X)
    _check(booster, X, iteration_range=(2, 6))


def test_multiclass_layout():
    X, rng = _data(2)
    y = np.digitize(_target(X, rng), [-1.0, 1.0])
    booster = _train({"objective": "multiclass", "num_class": 3}, X, y, rounds=6)
    model, got = _check(booster, X)
    assert got.shape == (len(X), 3, X.shape[1] + 1)
    _check(booster, X, iteration_range=(1, 4))


def test_categorical_splits():
    rng = np.random.default_rng(3)
    n = 400
    X = np.column_stack([rng.integers(0, 12, n).astype(float), rng.normal(size=n), rng.integers(0, 40, n)])
    X[rng.random(n) < 0.05, 0] = np.nan
    y = np.isin(X[:, 0], [1, 3, 5, 7]) * 2.0 + X[:, 1] + (X[:, 2] % 3 == 0) + 0.1 * rng.normal(size=n)
    booster = _train({"objective": "regression", "max_cat_to_onehot": 4, "min_data_per_group": 5,
                      "cat_smooth": 1.0}, X, y, categorical_feature=[0, 2])
    assert "num_cat=0" not in booster.model_to_string().split("Tree=1")[0]
    probe = np.vstack([X, [[-1.0, 0.0, 45.0], [2.0**31, 1.0, np.nan], [3.7, np.nan, -0.5], [100.0, 0.0, 1e-36]]])
    _check(booster, probe)


def test_sparse_rows():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, rng = _data(4)
    booster = _train({"objective": "regression"}, X, _target(X, rng))
    model = gbinfer.load(booster.model_to_string().encode())
    csr = scipy_sparse.csr_matrix(np.where(np.abs(X) < 0.3, 0.0, X))  # absent entries read as 0.0
    ref = booster.predict(csr, pred_contrib=True)  # lightgbm answers sparse input in sparse form
    np.testing.assert_array_equal(model.predict_contribs(csr), ref.toarray())


def test_random_forest():
    X, rng = _data(5)
    booster = _train({"objective": "regression", "boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1},
                     X, _target(X, rng), rounds=5)
    _check(booster, X)  # they add up to the raw score, a sum: only the transformed output is averaged


def test_base_margin_goes_to_bias():
    X, rng = _data(6)
    booster = _train({"objective": "regression"}, X, _target(X, rng), rounds=4)
    model = gbinfer.load(booster.model_to_string().encode())
    plain = model.predict_contribs(X)
    shifted = model.predict_contribs(X, base_margin=np.full(len(X), 0.5))
    np.testing.assert_array_equal(shifted[:, :-1], plain[:, :-1])
    np.testing.assert_array_equal(shifted[:, -1], plain[:, -1] + 0.5)


def _edited(booster, pattern, replacement, count=0) -> bytes:
    """The model's text with an edit to its trees (tree_sizes dropped: the blocks change size)."""
    text = re.sub(r"\ntree_sizes=[^\n]*", "", booster.model_to_string())
    return re.sub(pattern, replacement, text, count=count).encode()


def _small_model():
    X, rng = _data(7, n=120)
    return _train({"objective": "regression"}, X, _target(X, rng), rounds=3), X


def test_linear_trees_refused_as_lightgbm_refuses():
    X, rng = _data(8)
    X = np.nan_to_num(X[:N])  # linear leaves read the raw values: no infinities
    booster = _train({"objective": "regression", "linear_tree": True}, X, _target(X, rng), rounds=3)
    with pytest.raises(lgb.basic.LightGBMError, match="linear trees"):
        booster.predict(X, pred_contrib=True)
    model = gbinfer.load(booster.model_to_string().encode())
    with pytest.raises(UnsupportedModelError, match="linear trees"):
        model.predict_contribs(X)


def test_interactions_and_approximate_refused():
    booster, X = _small_model()
    model = gbinfer.load(booster.model_to_string().encode())
    with pytest.raises(UnsupportedModelError, match="LightGBM has no equivalent"):
        model.predict_interactions(X)
    with pytest.raises(UnsupportedModelError, match="LightGBM has no equivalent"):
        model.predict_contribs(X, approximate=True)
    with pytest.raises(UnsupportedModelError, match="LightGBM has no equivalent"):
        model.predict(X, pred_contribs=True, approx_contribs=True)


def test_model_without_counts_refused():
    booster, X = _small_model()
    model = gbinfer.load(_edited(booster, r"\n(leaf|internal)_count=[^\n]*", ""))
    np.testing.assert_array_equal(model.predict(X), booster.predict(X))  # predictions need no counts
    with pytest.raises(UnsupportedModelError, match="internal_count"):
        model.predict_contribs(X)


def test_malformed_counts_rejected_at_load():
    booster, _ = _small_model()
    with pytest.raises(ModelFormatError, match=r"Tree=0\.leaf_count\[0\]"):
        gbinfer.load(_edited(booster, r"\nleaf_count=(\d+)", r"\nleaf_count=-\1", 1))
    with pytest.raises(ModelFormatError, match="internal_count"):
        gbinfer.load(_edited(booster, r"\ninternal_count=(\d+) ", "\ninternal_count=", 1))
