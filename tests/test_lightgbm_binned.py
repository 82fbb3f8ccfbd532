"""The binned LightGBM kernels (``predict.lightgbm_bins``) against lightgbm, bit for bit, where
binning could go wrong: values equal to a threshold or one float step either side of it, keys
one byte wide and two bytes wide, every missing type, one row and many."""

from __future__ import annotations

import numpy as np
import pytest

import gbinfer
from gbinfer.predict.lightgbm_bins import binned

lgb = pytest.importorskip("lightgbm")


def _train(params, X, y, rounds):
    params = {"verbose": -1, "min_data_in_leaf": 3, "seed": 3, "deterministic": True, "num_threads": 1, **params}
    return lgb.train(params, lgb.Dataset(X, y), rounds)


def _at_thresholds(model, X, seed=0):
    """Rows whose values sit on the forest's thresholds and one step either side of them (and
    on -0.0, the zero threshold's edge and the infinities), each column shuffled on its own."""
    forest = model.booster.forest
    rng = np.random.default_rng(seed)
    thr = forest.threshold[np.isfinite(forest.threshold)]
    values = np.concatenate([thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf),
                             [0.0, -0.0, 1e-35, -1e-35, 1e-36, np.inf, -np.inf, np.nan]])
    rows = np.empty((len(values), X.shape[1]))
    for j in range(X.shape[1]):
        rows[:, j] = rng.permutation(values)
    return np.vstack([X, rows])


def _check(booster, X):
    model = gbinfer.load(booster.model_to_string().encode())
    X = _at_thresholds(model, X)
    raw = booster.predict(X, raw_score=True)
    np.testing.assert_array_equal(model.predict(X, output_margin=True), raw)
    np.testing.assert_array_equal(model.predict(X, output_margin=True, nthread=1), raw)
    np.testing.assert_array_equal(model.predict(X.astype(np.float32), output_margin=True),
                                  booster.predict(X.astype(np.float32), raw_score=True))
    for i in range(0, len(X), max(len(X) // 40, 1)):
        np.testing.assert_array_equal(model.predict(X[i:i + 1], output_margin=True), raw[i:i + 1])
    return model


@pytest.mark.parametrize("params", [{}, {"use_missing": False}, {"zero_as_missing": True}])
def test_one_byte_keys_at_every_threshold(params):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    y = np.nan_to_num(X).sum(1) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "num_leaves": 31, **params}, X, y, rounds=30)
    model = _check(booster, X)
    assert binned(model.booster.forest).missing.dtype == np.uint8


def test_two_byte_keys_when_a_feature_has_many_thresholds():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6000, 2))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.sin(3 * np.nan_to_num(X[:, 0])) + np.nan_to_num(X[:, 1]) + 0.1 * rng.normal(size=len(X))
    booster = _train({"objective": "regression", "num_leaves": 63, "max_bin": 4000, "min_data_in_bin": 1,
                      "learning_rate": 0.3}, X, y, rounds=40)
    model = _check(booster, X[:500])
    layout = binned(model.booster.forest)
    assert layout.missing.dtype == np.uint16
    assert layout.slots[:, 4].max() > 255
