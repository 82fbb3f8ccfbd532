"""Fresh models trained with the installed XGBoost: margins bit-identical, outputs within 2 ULP."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbinfer

xgb = pytest.importorskip("xgboost")
from conftest import ulp_distance  # noqa: E402

OBJECTIVES = ["binary:logistic", "reg:squarederror", "multi:softprob", "multi:softmax", "count:poisson",
              "reg:gamma", "reg:tweedie", "binary:logitraw", "binary:hinge", "reg:pseudohubererror",
              "reg:absoluteerror", "reg:squaredlogerror", "rank:pairwise"]


def _labels(objective, rng, n):
    if objective.startswith("multi"):
        return rng.integers(0, 3, n).astype(float)
    if objective in ("binary:logistic", "binary:logitraw", "binary:hinge"):
        return rng.integers(0, 2, n).astype(float)
    if objective in ("count:poisson", "reg:tweedie"):
        return rng.poisson(2.0, n).astype(float)
    if objective == "reg:gamma":
        return rng.gamma(2.0, 1.0, n) + 0.01
    if objective == "reg:squaredlogerror":
        return np.abs(rng.normal(size=n))
    return rng.normal(size=n)


def _check(bst, model, X, dm):
    ref_margin = bst.predict(dm, output_margin=True)
    got_margin = model.predict(X, output_margin=True)
    assert got_margin.shape == ref_margin.shape
    assert got_margin.dtype == np.float32
    assert np.array_equal(got_margin, ref_margin, equal_nan=True)
    ref = bst.predict(dm)
    got = model.predict(X)
    assert got.shape == ref.shape
    assert ulp_distance(got, ref) <= 2
    assert np.array_equal(model.predict_leaf(X), bst.predict(dm, pred_leaf=True))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    objective=st.sampled_from(OBJECTIVES),
    depth=st.integers(1, 8),
    rounds=st.integers(1, 40),
    nan_rate=st.sampled_from([0.0, 0.05, 0.5]),
    n_features=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    fmt=st.sampled_from(["json", "ubj"]),
)
def test_fresh_gbtree(objective, depth, rounds, nan_rate, n_features, seed, fmt, tmp_path_factory):
    rng = np.random.default_rng(seed)
    n = 300
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[rng.random(X.shape) < nan_rate] = np.nan
    params = {"objective": objective, "max_depth": depth, "nthread": 1, "seed": seed, "eta": 0.3}
    if objective.startswith("multi"):
        params["num_class"] = 3
    dtrain = xgb.DMatrix(X, _labels(objective, rng, n))
    if objective.startswith("rank"):
        dtrain.set_group([50] * 6)
    bst = xgb.train(params, dtrain, rounds)
    raw = bst.save_raw(fmt)
    model = gbinfer.load(bytes(raw))
    Xt = rng.normal(size=(97, n_features)).astype(np.float32)
    Xt[rng.random(Xt.shape) < nan_rate] = np.nan
    _check(bst, model, Xt, xgb.DMatrix(Xt, missing=np.nan))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_cats=st.integers(2, 70),
    onehot=st.sampled_from([1, 64]),
    depth=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_fresh_categorical(n_cats, onehot, depth, seed):
    rng = np.random.default_rng(seed)
    n = 400
    X = np.column_stack([rng.integers(0, n_cats, n), rng.normal(size=n), rng.integers(0, 5, n)]).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.where(np.isnan(X[:, 0]), 0, X[:, 0] % 3) + np.nan_to_num(X[:, 1])
    ft = ["c", "q", "c"]
    dtrain = xgb.DMatrix(X, y, feature_types=ft, enable_categorical=True)
    bst = xgb.train({"tree_method": "hist", "max_depth": depth, "max_cat_to_onehot": onehot, "nthread": 1,
                     "seed": seed}, dtrain, 15)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    assert model.booster.forest.has_categorical
    # codes past the trained range, fractional codes, and large codes exercise XGBoost's rules
    Xt = np.column_stack([rng.integers(0, n_cats + 40, 200), rng.normal(size=200),
                          rng.integers(0, 9, 200)]).astype(np.float32)
    Xt[:5, 0] = [0.5, 1.7, 1e6, 2.0**24 + 2, 3.999]
    Xt[rng.random(Xt.shape) < 0.05] = np.nan
    dm = xgb.DMatrix(Xt, feature_types=ft, enable_categorical=True)
    _check(bst, model, Xt, dm)


def test_dart_and_gblinear_and_parallel_forest():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) > 0).astype(float)
    cases = [
        {"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3, "skip_drop": 0.0},
        {"booster": "gbtree", "objective": "binary:logistic", "num_parallel_tree": 3, "subsample": 0.7,
         "colsample_bynode": 0.7},
        {"booster": "gblinear", "objective": "reg:squarederror"},
    ]
    dm = xgb.DMatrix(X, missing=np.nan)
    for params in cases:
        bst = xgb.train({**params, "nthread": 1, "seed": 3}, xgb.DMatrix(X, y), 12)
        model = gbinfer.load(bytes(bst.save_raw("json")))
        ref_margin = bst.predict(dm, output_margin=True)
        assert ulp_distance(model.predict(X, output_margin=True), ref_margin) <= 2, params
        assert ulp_distance(model.predict(X), bst.predict(dm)) <= 2, params


def test_iteration_range_and_base_margin():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    bst = xgb.train({"objective": "multi:softprob", "num_class": 3, "num_parallel_tree": 2, "nthread": 1,
                     "subsample": 0.8}, xgb.DMatrix(X, y), 6)
    model = gbinfer.load(bytes(bst.save_raw("ubj")))
    bm = rng.normal(size=(300, 3)).astype(np.float32)
    dm = xgb.DMatrix(X)
    for rng_ in [(0, 0), (1, 4), (5, 6)]:
        assert np.array_equal(model.predict(X, output_margin=True, iteration_range=rng_),
                              bst.predict(dm, output_margin=True, iteration_range=rng_))
    full_leaf = bst.predict(dm, pred_leaf=True)
    assert np.array_equal(model.predict_leaf(X), full_leaf)
    assert np.array_equal(model.predict_leaf(X, iteration_range=(0, 4)),
                          bst.predict(dm, pred_leaf=True, iteration_range=(0, 4)))
    # XGBoost refuses a range not starting at 0 for leaves; gbinfer gives the matching columns
    per_round = 3 * 2
    assert np.array_equal(model.predict_leaf(X, iteration_range=(1, 4)), full_leaf[:, per_round:4 * per_round])
    dmb = xgb.DMatrix(X, base_margin=bm)
    assert np.array_equal(model.predict(X, output_margin=True, base_margin=bm), bst.predict(dmb, output_margin=True))


def test_float64_fortran_and_missing_value():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 7))
    X[rng.random(X.shape) < 0.1] = -999.0
    y = rng.normal(size=400)
    dtrain = xgb.DMatrix(X, y, missing=-999.0)
    bst = xgb.train({"max_depth": 6, "nthread": 1}, dtrain, 20)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    ref = bst.predict(xgb.DMatrix(X, missing=-999.0))
    assert np.array_equal(model.predict(gbinfer.DataMatrix(X, missing=-999.0)), ref)
    assert np.array_equal(model.predict(gbinfer.DataMatrix(np.asfortranarray(X), missing=-999.0)), ref)
    X32 = np.asfortranarray(X.astype(np.float32))
    assert np.array_equal(model.predict(gbinfer.DataMatrix(X32, missing=-999.0)), ref)


def test_one_row_and_large_batch_agree():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 8)).astype(np.float32)
    bst = xgb.train({"max_depth": 5, "nthread": 1}, xgb.DMatrix(X, rng.normal(size=3000)), 30)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    batch = model.predict(X)
    rows = np.concatenate([model.predict(X[i:i + 1]) for i in range(0, 3000, 97)])
    assert np.array_equal(rows, batch[::97])
    assert np.array_equal(batch, bst.predict(xgb.DMatrix(X)))


def test_pandas_and_sparse_inputs():
    pd = pytest.importorskip("pandas")
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = 0.0
    df = pd.DataFrame(X, columns=list("abcd"))
    bst = xgb.train({"max_depth": 4, "nthread": 1}, xgb.DMatrix(df, rng.normal(size=300)), 10)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    assert np.array_equal(model.predict(df), bst.predict(xgb.DMatrix(df)))
    csr = sp.csr_matrix(X)
    assert np.array_equal(model.predict(csr), bst.predict(xgb.DMatrix(csr), validate_features=False))
    with pytest.raises(gbinfer.errors.DataError, match="feature names"):
        model.predict(df.rename(columns={"a": "z"}))
