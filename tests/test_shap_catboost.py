"""Feature contributions of CatBoost models: gbinfer's ``predict_contribs`` (and
``predict_interactions``) against catboost's ``get_feature_importance`` (``ShapValues``, also
Approximate, and ``ShapInteractionValues``), bit for bit, on models trained here (symmetric and
non-symmetric trees, NaNs, one-hot and CTR features with combinations, binary, regression,
MultiClass, MultiRMSE) and on the committed fixtures (``fixtures/generate_catboost_shap.py``:
catboost's values for every model under ``fixtures/catboost``, from its ``.cbm`` and its JSON);
through .xgbrs / native JSON (schema 1.4 keeps the leaf weights); and what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError, UnsupportedModelError

cb = pytest.importorskip("catboost")
pd = pytest.importorskip("pandas")

from test_catboost_fixtures import rows, ulp64  # noqa: E402

ROOT = Path(__file__).parent.parent / "fixtures"


def shap_values(model, frame, cats=None):
    """catboost's ShapValues for ``frame``: (rows, features + 1) or (rows, outputs, features + 1)."""
    return model.get_feature_importance(data=cb.Pool(frame, cat_features=cats), type="ShapValues", thread_count=1)


def raw(model, frame, cats=None):
    return model.predict(cb.Pool(frame, cat_features=cats), prediction_type="RawFormulaVal")


# --- models trained here --------------------------------------------------------------------------

COLOURS = ["red", "green", "blue", "yellow", "violet", "black"]


def _frame(seed, n=300):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "colour": rng.choice(COLOURS, n), "b": rng.normal(size=n),
                       "size": rng.choice([3, 10, 200, 7], n).astype(np.int64), "grade": rng.choice(["lo", "hi"], n)})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    signal = (np.nan_to_num(df["a"].to_numpy()) + 2.0 * (df["colour"].isin(["red", "blue"]).to_numpy()
                                                          ^ (df["size"] == 10).to_numpy())
              + (df["grade"] == "lo").to_numpy() * (df["b"].to_numpy() > 0) + 0.3 * rng.normal(size=n))
    return df, signal, rng


CATS = ["colour", "size", "grade"]


def _fit(kind, **params):
    df, signal, rng = _frame({"regression": 1, "binary": 2, "multiclass": 3, "multirmse": 4}[kind])
    base = dict(iterations=12, depth=4, verbose=0, thread_count=1, random_seed=0, allow_writing_files=False,
                cat_features=CATS, one_hot_max_size=3, max_ctr_complexity=2)
    if kind == "regression":
        model = cb.CatBoostRegressor(**base, **params).fit(df, signal)
    elif kind == "binary":
        model = cb.CatBoostClassifier(**base, **params).fit(df, (signal > np.median(signal)).astype(int))
    elif kind == "multiclass":
        model = cb.CatBoostClassifier(**base, loss_function="MultiClass", **params).fit(
            df, np.digitize(signal, np.quantile(signal, [0.33, 0.66])))
    else:
        Y = np.stack([signal, df["b"].to_numpy() + 0.1 * rng.normal(size=len(df))], axis=1)
        model = cb.CatBoostRegressor(**base, loss_function="MultiRMSE", **params).fit(df, Y)
    return model, _frame(10 + len(kind), 120)[0]


POLICIES = {"symmetric": {}, "depthwise": {"grow_policy": "Depthwise"},
            "lossguide": {"grow_policy": "Lossguide", "max_leaves": 9}}


@pytest.fixture(scope="module", params=[(k, p) for k in ("regression", "binary", "multiclass", "multirmse")
                                        for p in POLICIES], ids=lambda kp: f"{kp[0]}-{kp[1]}")
def trained(request):
    kind, policy = request.param
    model, test = _fit(kind, **POLICIES[policy])
    return kind, policy, model, test


def test_contributions_equal_catboost(trained):
    kind, policy, model, test = trained
    expected = shap_values(model, test, CATS)
    got = gbinfer.load(model).predict_contribs(test)
    assert got.shape == expected.shape
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)


def test_approximate_contributions_equal_catboost(trained):
    """``approximate=True``: catboost's ``shap_calc_type="Approximate"`` (each split's class gets the
    change of the mean value along the row's path)."""
    kind, policy, model, test = trained
    expected = model.get_feature_importance(data=cb.Pool(test, cat_features=CATS), type="ShapValues",
                                            shap_calc_type="Approximate", thread_count=1)
    got = gbinfer.load(model).predict_contribs(test, approximate=True)
    assert np.array_equal(got, expected)


def test_interaction_values_equal_catboost(trained):
    """``predict_interactions``: catboost's ShapInteractionValues (per class pair, half the change of
    a class's values when the other is conditioned on and off; the model's bias in the last row and
    column)."""
    kind, policy, model, test = trained
    expected = model.get_feature_importance(data=cb.Pool(test[:25], cat_features=CATS),
                                            type="ShapInteractionValues", thread_count=1)
    got = gbinfer.load(model).predict_interactions(test[:25])
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_rows_add_up_to_the_raw_prediction(trained):
    """Local accuracy where CatBoost's recursion has it: symmetric trees. For non-symmetric trees
    catboost's own values do not add up (a node's leaf beside a subtree is credited both ways), and
    gbinfer's are catboost's."""
    kind, policy, model, test = trained
    got = gbinfer.load(model).predict_contribs(test)
    margin = raw(model, test, CATS).reshape(got.shape[:-1])
    if policy == "symmetric":
        assert np.max(np.abs(got.sum(axis=-1) - margin)) <= 1e-12 * max(1.0, np.abs(margin).max())
    else:
        assert np.array_equal(got.sum(axis=-1), shap_values(model, test, CATS).sum(axis=-1))


def test_combinations_and_one_hot_share_their_categorical_columns():
    """CTRs over combinations are credited to every categorical column they combine, in equal
    parts; a CTR's float and one-hot elements get nothing; a one-hot feature and a CTR of the same
    column are one feature on a path."""
    rng = np.random.default_rng(2)
    n = 1000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(list("wxyz"), n),
                       "c": rng.choice([str(i) for i in range(6)], n), "e": rng.choice(list("pqrst"), n)})
    y = (((df["b"].map(dict(zip("wxyz", range(4)))) + df["c"].astype(int)) % 3 == 0) * 2.0
         + (df["e"] == "p") * (df["a"] > 0) + 0.2 * rng.normal(size=n))
    model = cb.CatBoostRegressor(iterations=60, depth=4, verbose=0, thread_count=1, random_seed=0, one_hot_max_size=4,
                                 max_ctr_complexity=3, cat_features=["b", "c", "e"]).fit(df, y)
    g = gbinfer.load(model)
    kinds = {(len(c.cat_columns) > 1, bool(c.float_splits or c.one_hot_splits)) for c in g.booster.ctrs}
    assert {(True, False), (False, True)} <= kinds  # combinations of categories, and with other splits
    assert len(g.booster.cat_column)  # and one-hot features
    assert np.array_equal(g.predict_contribs(df[:150]), shap_values(model, df[:150], ["b", "c", "e"]))
    expected = model.get_feature_importance(data=cb.Pool(df[:30], cat_features=["b", "c", "e"]),
                                            type="ShapInteractionValues", thread_count=1)
    assert np.array_equal(g.predict_interactions(df[:30]), expected)


def test_float_model_with_nans_and_a_bias():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.15] = np.nan
    y = np.nan_to_num(X[:, 0]) * 2 + np.isnan(X[:, 1]) + 0.1 * rng.normal(size=300)
    for nan_mode in ("Min", "Max"):
        model = cb.CatBoostRegressor(iterations=15, depth=5, verbose=0, thread_count=1, nan_mode=nan_mode).fit(X, y)
        model.set_scale_and_bias(1.0, 0.25)
        test = np.vstack([X[:60], [[np.nan] * 4, [0.0, -0.0, np.inf, -np.inf]]])
        assert np.array_equal(gbinfer.load(model).predict_contribs(test), shap_values(model, test))


def test_iteration_range_explains_those_trees():
    """An ``iteration_range`` from the first tree explains what catboost explains of the model
    shrunk to those trees."""
    model, test = _fit("regression")
    shrunk = model.copy()
    shrunk.shrink(5)
    got = gbinfer.load(model).predict_contribs(test, iteration_range=(0, 5))
    assert np.array_equal(got, shap_values(shrunk, test, CATS))


# --- committed fixtures -----------------------------------------------------------------------------

def _fixture_cases():
    out = []
    for manifest in sorted((ROOT / "catboost_shap").glob("*/manifest.json")):
        for case in json.loads(manifest.read_text())["cases"]:
            for fmt in ("cbm", "json"):
                out.append(pytest.param(manifest.parent.name, case["name"], fmt,
                                        id=f"{manifest.parent.name}-{case['name']}-{fmt}"))
    return out


@pytest.mark.parametrize("version,case,fmt", _fixture_cases())
def test_committed_fixture_contributions(version, case, fmt):
    source = ROOT / "catboost" / version
    expected = np.load(ROOT / "catboost_shap" / version / f"{case}.npz")
    model = gbinfer.load(source / f"{case}.{fmt}")
    X = rows(np.load(source / f"{case}.npz"))
    assert ulp64(model.predict_contribs(X), expected["contribs"]) == 0
    assert ulp64(model.predict_contribs(X, approximate=True), expected["approximate"]) == 0
    assert ulp64(model.predict_interactions(X), expected["interactions"]) == 0
    assert np.array_equal(np.sort(model.booster.leaf_weights), np.sort(expected["leaf_weights"]))
    if model.booster.symmetric:
        assert np.array_equal(model.booster.leaf_weights, expected["leaf_weights"])


def test_fixtures_cover_every_kind_of_model():
    manifest = json.loads(next((ROOT / "catboost_shap").glob("*/manifest.json")).read_text())
    names = {c["name"] for c in manifest["cases"]}
    assert {"depthwise", "lossguide", "depthwise_ctr", "multiclass", "multirmse", "ctr", "onehot",
            "ctr_onehot_elements", "rmse_depth10", "logloss_nan_max"} <= names


# --- saved and loaded --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".xgbrs", ".json", ".apr"])
@pytest.mark.parametrize("policy", ["symmetric", "lossguide"])
def test_saved_models_keep_their_leaf_weights(tmp_path, suffix, policy):
    model, test = _fit("multiclass", **POLICIES[policy])
    g = gbinfer.load(model)
    path = tmp_path / f"m{suffix}"
    gbinfer.save(g, path)
    loaded = gbinfer.load(path)
    assert np.array_equal(loaded.booster.leaf_weights, g.booster.leaf_weights)
    assert np.array_equal(loaded.predict_contribs(test), shap_values(model, test, CATS))


# --- refusals ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    return _fit("binary")


def test_approximate_interactions_and_a_base_margin_are_refused(small):
    model, test = small
    g = gbinfer.load(model)
    with pytest.raises(UnsupportedModelError) as err:
        g.predict_interactions(test, approximate=True)
    assert err.value.field == "approximate"
    with pytest.raises(DataError, match="base_margin"):
        g.predict_contribs(test, base_margin=np.zeros(len(test)))


def test_a_scale_other_than_one_is_refused_as_catboost_refuses_it(small):
    model, test = small
    scaled = model.copy()
    scaled.set_scale_and_bias(2.0, 0.0)
    with pytest.raises(cb.CatBoostError, match="Scale"):
        shap_values(scaled, test, CATS)
    with pytest.raises(UnsupportedModelError) as err:
        gbinfer.load(scaled).predict_contribs(test)
    assert err.value.field == "scale"


def test_a_model_without_leaf_weights_is_refused(small, tmp_path):
    model, test = small
    path = tmp_path / "m.json"
    model.save_model(str(path), format="json", pool=cb.Pool(test, cat_features=CATS))
    doc = json.loads(path.read_text())
    for tree in doc["oblivious_trees"]:
        del tree["leaf_weights"]
    g = gbinfer.load(json.dumps(doc).encode())
    assert np.array_equal(g.predict(test, output_margin=True), raw(model, test, CATS))  # it still predicts
    with pytest.raises(UnsupportedModelError) as err:
        g.predict_contribs(test)
    assert err.value.field == "leaf_weights"
