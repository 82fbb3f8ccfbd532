"""Every committed fixture: models written by six XGBoost releases, in every format the release
writes, against the margins and outputs that release computed (fixtures/xgboost/README.md)."""

import json
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from conftest import ulp_distance

ROOT = Path(__file__).parent.parent / "fixtures" / "xgboost"


def _cases():
    for manifest in sorted(ROOT.glob("*/manifest.json")):
        release = manifest.parent.name
        for case in json.loads(manifest.read_text())["cases"]:
            for fmt in case["formats"]:
                yield pytest.param(manifest.parent, case, fmt, id=f"{release}-{case['name']}-{fmt}")


def _exact_margins(case) -> bool:
    # gbtree margins are bit-identical; DART and gblinear multiply then add, and are bounded in ULP
    return case["booster"] == "gbtree"


@pytest.mark.parametrize("folder,case,fmt", list(_cases()))
def test_fixture(folder, case, fmt):
    model = gbinfer.load(folder / f"{case['name']}.{fmt}")
    expected = np.load(folder / case["npz"])
    X = expected["X"]
    dm = gbinfer.DataMatrix(X, feature_types=case.get("feature_types"))

    margin = model.predict(dm, output_margin=True)
    assert margin.shape == expected["margin"].shape
    if _exact_margins(case):
        assert np.array_equal(margin, expected["margin"])
    else:
        assert ulp_distance(margin, expected["margin"]) <= 2
    output = model.predict(dm)
    assert output.shape == expected["output"].shape
    assert ulp_distance(output, expected["output"]) <= 2

    if "leaf" in expected.files:
        assert np.array_equal(model.predict_leaf(dm), expected["leaf"])
    if "iter_begin" in expected.files:
        rng = (int(expected["iter_begin"]), int(expected["iter_end"]))
        got = model.predict(dm, output_margin=True, iteration_range=rng)
        assert np.array_equal(got, expected["margin_range"]) if _exact_margins(case) else \
            ulp_distance(got, expected["margin_range"]) <= 2
        assert ulp_distance(model.predict(dm, iteration_range=rng), expected["output_range"]) <= 2
    if "base_margin" in expected.files:
        bm = expected["base_margin"]
        assert np.array_equal(model.predict(dm, output_margin=True, base_margin=bm), expected["margin_bm"])
        assert ulp_distance(model.predict(dm, base_margin=bm), expected["output_bm"]) <= 2


def test_every_release_is_present():
    releases = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert {"1.7.6", "2.0.3", "2.1.4", "3.0.5", "3.1.3", "3.2.0"} <= releases


@pytest.mark.parametrize("case", ["dart_binary_logistic", "dart_reg_squarederror"])
def test_dart_in_the_34_layout(case):
    """From 3.4 XGBoost saves DART as a gbtree whose model holds ``weight_drop``; the newest
    release installable here is 3.2, so its DART fixtures are rewritten into that shape (the
    arithmetic, leaf * weight added in float32, is unchanged) and checked against 3.2's outputs."""
    folder = ROOT / "3.2.0"
    doc = json.loads((folder / f"{case}.json").read_text())
    gb = doc["learner"]["gradient_booster"]
    model_doc = gb["gbtree"]["model"]
    model_doc["weight_drop"] = gb["weight_drop"]
    doc["learner"]["gradient_booster"] = {"name": "gbtree", "model": model_doc}
    model = gbinfer.load(json.dumps(doc).encode())
    expected = np.load(folder / f"{case}.npz")
    assert type(model.booster).__name__ == "Dart"
    assert np.array_equal(model.predict(expected["X"], output_margin=True), expected["margin"])
    assert np.array_equal(model.predict(expected["X"]), expected["output"])
