"""Committed CatBoost fixtures (``fixtures/generate_catboost.py``, one directory per catboost
release, each model as ``.cbm`` and JSON): gbinfer's raw values, transformed outputs and leaf
indexes against the ones that release computed. Raw values are compared in float64 ULPs (0
expected; ``fixtures/exactness_report.py`` prints the measured distance per case)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from gbinfer.serialization import binary
from gbinfer.serialization import json as native

ROOT = Path(__file__).parent.parent / "fixtures" / "catboost"
RAW_ULPS = 4
# CatBoost's softmax uses its own fast vectorised exp (FastExpInplace), gbinfer libm's: measured
# at most 4 ULP over the fixtures (sigmoid and exp: 0 and 1)
TRANSFORMED_ULPS = 4


def ulp64(a, b) -> int:
    """Largest distance in float64 units-in-the-last-place (NaNs must match)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    assert a.shape == b.shape
    nan = np.isnan(a)
    assert np.array_equal(nan, np.isnan(b)), "NaN positions differ"
    ia, ib = a[~nan].view(np.int64), b[~nan].view(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFFFFFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFFFFFFFFFF), ib)
    return int(np.abs(ia - ib).max()) if ia.size else 0


def rows(expected: dict):
    """The test rows as gbinfer takes them: ``X``, or an object array with each categorical
    column's values (strings or integers, as catboost took them) in place."""
    X = expected["X"]
    cats = [k for k in expected if k.startswith("cat_")]
    if not cats:
        return X
    out = X.astype(object)
    for key in cats:
        out[:, int(key[4:])] = expected[key].tolist()
    return out


def transformed(pred: np.ndarray, prediction_type: str, num_outputs: int) -> np.ndarray:
    """catboost's prediction in gbinfer's shape: a binary classifier's probability of class 1."""
    if prediction_type == "Probability" and num_outputs == 1:
        return pred[:, 1]
    return pred


def _cases():
    params = []
    for manifest in sorted(ROOT.glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            for fmt in case["formats"]:
                params.append(pytest.param(manifest.parent, case, fmt,
                                           id=f"{manifest.parent.name}-{case['name']}-{fmt}"))
    return params


CASES = _cases()


def test_every_release_and_case_is_there():
    releases = {p.values[0].name for p in CASES}
    assert {"1.2", "1.2.10"} <= releases
    names = {p.values[1]["name"] for p in CASES}
    assert {f"rmse_depth{d}" for d in range(1, 11)} <= names
    assert {"logloss_nan_min", "logloss_nan_max", "rmse_nan_forbidden", "multiclass", "multiclass_one_vs_all",
            "multirmse", "poisson", "tweedie", "quantile", "borders_1024", "depthwise", "lossguide", "onehot",
            "ctr", "ctr_regression", "ctr_multiclass", "ctr_onehot_elements", "integer_categories",
            "depthwise_ctr"} <= names


@pytest.mark.parametrize("directory,case,fmt", CASES)
def test_fixture(directory, case, fmt):
    model = gbinfer.load(directory / f"{case['name']}.{fmt}")
    with np.load(directory / f"{case['name']}.npz", allow_pickle=False) as f:
        expected = dict(f)
    X = rows(expected)
    raw = model.predict(X, output_margin=True)
    assert raw.shape == expected["raw"].shape
    assert ulp64(raw, expected["raw"]) <= RAW_ULPS
    pred = transformed(expected["pred"], case["prediction_type"], model.num_outputs)
    out = model.predict(X)
    assert out.shape == pred.shape
    assert ulp64(out, pred) <= (TRANSFORMED_ULPS if case["prediction_type"] != "RawFormulaVal" else RAW_ULPS)
    np.testing.assert_array_equal(model.predict_leaf(X), expected["leaf"], strict=True)
    for i in range(4):  # one row at a time takes the serial path
        np.testing.assert_array_equal(model.predict(X[i:i + 1], output_margin=True), raw[i:i + 1])
    if fmt == "json":  # gbinfer's own formats keep every value: schema 1.3
        for again in (binary.loads(binary.dumps(model)), native.loads(native.dumps(model))):
            np.testing.assert_array_equal(again.predict(X, output_margin=True), raw)
            np.testing.assert_array_equal(again.predict_leaf(X), expected["leaf"])
