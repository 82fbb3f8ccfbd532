"""``gbinfer.load`` of a trained XGBoost object in memory: a ``Booster`` or a fitted scikit-learn
estimator, read through its own serialised bytes, predicts exactly as XGBoost does. gbinfer imports
xgboost only when handed one of its objects; anything else ``load`` cannot take is a ``DataError``."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError

xgb = pytest.importorskip("xgboost")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X, rng


@pytest.mark.parametrize("params,label", [
    ({"objective": "binary:logistic"}, "binary"),
    ({"objective": "multi:softprob", "num_class": 3}, "multi"),
    ({"objective": "reg:squarederror", "booster": "dart", "rate_drop": 0.2}, "regression"),
    ({"objective": "reg:squarederror", "booster": "gblinear"}, "regression"),
])
def test_load_a_booster_in_memory(data, params, label):
    X, rng = data
    y = {"binary": X[:, 0] > 0, "multi": rng.integers(0, 3, len(X)), "regression": np.nan_to_num(X[:, 1])}[label]
    bst = xgb.train({**params, "max_depth": 4, "nthread": 1}, xgb.DMatrix(X, y), 8)
    model = gbinfer.load(bst)
    dm = xgb.DMatrix(X)
    assert np.array_equal(model.predict(X, output_margin=True), bst.predict(dm, output_margin=True))
    assert np.array_equal(model.predict(X), bst.predict(dm))
    file_model = gbinfer.load(bytes(bst.save_raw("json")))
    assert repr(model) == repr(file_model)


def test_load_a_booster_with_feature_names(data):
    X, _ = data
    names = [f"f_{i}" for i in range(X.shape[1])]
    bst = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, np.nan_to_num(X[:, 2]), feature_names=names), 5)
    model = gbinfer.load(bst)
    assert model.features.names == tuple(names)
    assert np.array_equal(model.predict(X), bst.predict(xgb.DMatrix(X, feature_names=names)))


def test_load_a_fitted_xgb_classifier(data):
    X, rng = data
    binary = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, X[:, 0] > 0)
    assert np.array_equal(gbinfer.load(binary).predict(X), binary.predict_proba(X)[:, 1])
    multi = xgb.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1).fit(X, rng.integers(0, 4, len(X)))
    model = gbinfer.load(multi)
    assert model.num_outputs == 4
    assert np.array_equal(model.predict(X), multi.predict_proba(X))
    assert np.array_equal(model.predict(X).argmax(axis=1), multi.predict(X))


def test_load_a_fitted_xgb_regressor_and_rf(data):
    X, _ = data
    y = np.nan_to_num(X[:, 3]) * 2 + 1
    for est in (xgb.XGBRegressor(n_estimators=12, max_depth=4, n_jobs=1),
                xgb.XGBRFRegressor(n_estimators=5, max_depth=3, n_jobs=1)):
        est.fit(X, y)
        assert np.array_equal(gbinfer.load(est).predict(X), est.predict(X))


def test_load_a_fitted_estimator_trained_on_a_dataframe(data):
    pd = pytest.importorskip("pandas")
    X, _ = data
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    est = xgb.XGBRegressor(n_estimators=5, max_depth=3, n_jobs=1).fit(frame, np.nan_to_num(X[:, 0]))
    model = gbinfer.load(est)
    assert model.features.names == tuple(frame.columns)
    assert np.array_equal(model.predict(frame), est.predict(frame))


def test_an_estimator_stopped_early_keeps_its_best_iteration(data):
    """All rounds, as its Booster predicts (and as its saved file loads); up to the best round, as the
    estimator's own predict, through the best iteration the model carries."""
    X, rng = data
    y = np.nan_to_num(X[:, 0]) + rng.normal(size=len(X))
    est = xgb.XGBRegressor(n_estimators=200, early_stopping_rounds=3, learning_rate=0.5, max_depth=3, n_jobs=1)
    est.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
    model = gbinfer.load(est)
    assert model.meta.best_iteration == est.best_iteration
    assert est.best_iteration + 1 < est.get_booster().num_boosted_rounds()
    assert np.array_equal(model.predict(X), est.get_booster().predict(xgb.DMatrix(X)))
    assert np.array_equal(model.predict(X, iteration_range=(0, model.meta.best_iteration + 1)), est.predict(X))


@pytest.mark.parametrize("estimator", ["XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier"])
def test_an_unfitted_estimator_is_a_data_error(estimator):
    with pytest.raises(DataError, match=f"unfitted xgboost.sklearn.{estimator}: call fit"):
        gbinfer.load(getattr(xgb, estimator)())


def test_a_booster_never_trained_is_a_data_error():
    with pytest.raises(DataError, match="could not serialise the xgboost.core.Booster"):
        gbinfer.load(xgb.Booster())


def test_another_xgboost_object_is_a_data_error():
    with pytest.raises(DataError, match="got xgboost.core.DMatrix"):
        gbinfer.load(xgb.DMatrix(np.zeros((2, 2), np.float32)))


def test_an_in_memory_booster_with_another_format_is_a_data_error(data):
    X, _ = data
    bst = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, np.nan_to_num(X[:, 0])), 2)
    with pytest.raises(DataError, match="format='xgbrs'"):
        gbinfer.load(bst, format="xgbrs")
    assert np.array_equal(gbinfer.load(bst, format="xgboost").predict(X), bst.predict(xgb.DMatrix(X)))


@pytest.mark.parametrize("obj", [12, 3.5, None, [1, 2], {"learner": {}}, object(), np.zeros(3), True],
                         ids=["int", "float", "None", "list", "dict", "object", "ndarray", "bool"])
def test_load_of_an_unsupported_object_is_a_data_error(obj):
    with pytest.raises(DataError, match="load\\(\\) takes a path, bytes, or an xgboost Booster"):
        gbinfer.load(obj)


def test_importing_gbinfer_and_loading_a_file_does_not_import_xgboost(tmp_path, data):
    X, _ = data
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, X[:, 0] > 0), 3)
    bst.save_model(tmp_path / "m.json")
    bst.save_model(tmp_path / "m.ubj")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", bst.predict(xgb.DMatrix(X)))
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import gbinfer
        X, expected = np.load({str(tmp_path / 'X.npy')!r}), np.load({str(tmp_path / 'expected.npy')!r})
        for name in ("m.json", "m.ubj"):
            model = gbinfer.load({str(tmp_path)!r} + "/" + name)
            assert np.array_equal(model.predict(X), expected)
            gbinfer.save(model, {str(tmp_path)!r} + "/" + name + ".xgbrs")
            assert np.array_equal(gbinfer.load({str(tmp_path)!r} + "/" + name + ".xgbrs").predict(X), expected)
        repr(model)
        try:
            gbinfer.load(object())
        except gbinfer.errors.DataError:
            pass
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("xgboost", "sklearn")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
