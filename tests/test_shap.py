"""TreeSHAP contributions, Saabas attributions and interaction values.

Two oracles: XGBoost's own ``pred_contribs`` / ``approx_contribs`` / ``pred_interactions`` on
models trained here, and, on tiny models, Shapley values computed by brute force over every
feature subset from the model's JSON (float64, written from the definition, sharing no code with
gbinfer). XGBoost adds in float32 in its own order, so values are compared within ``TOL`` of each
row's largest magnitude; the largest difference measured is printed (``pytest -s``).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError, UnsupportedModelError

xgb = pytest.importorskip("xgboost")

TOL = 1e-5  # of the row's largest |value|
DATA = Path(__file__).parent / "data" / "xgboost_binary"
GOLDEN = Path(__file__).parent.parent / "fixtures" / "schema" / "v1"


def _rows(rng, n, f, nan_rate):
    X = rng.normal(size=(n, f)).astype(np.float32)
    X[rng.random(X.shape) < nan_rate] = np.nan
    return X


def _close(got, ref, what):
    """Within TOL of the largest magnitude of the row (and output); returns the worst ratio."""
    assert got.shape == ref.shape, what
    n = got.shape[0]
    diff = np.abs(got.astype(np.float64) - ref).reshape(n, -1)
    scale = np.maximum(np.abs(ref).reshape(n, -1).max(axis=1, keepdims=True), 1e-30)
    worst = float((diff / scale).max()) if diff.size else 0.0
    print(f"{what}: max |diff| {float(diff.max()) if diff.size else 0.0:.3g}, relative to row max {worst:.3g}")
    assert worst <= TOL, what
    return worst


def _train(params, X, y, rounds, xgb_model=None, **kw):
    params = {"nthread": 1, "seed": 0, **params}
    return xgb.train(params, xgb.DMatrix(X, y, **kw), rounds, xgb_model=xgb_model)


def _load(bst, fmt="json"):
    return gbinfer.load(bytes(bst.save_raw(fmt)))


def _against_xgboost(bst, model, X, what, interactions=True, **dm_kw):
    dm = xgb.DMatrix(X, **dm_kw)
    margin = model.predict(X, output_margin=True, base_margin=dm_kw.get("base_margin"))
    phi = model.predict_contribs(X, base_margin=dm_kw.get("base_margin"))
    assert phi.dtype == np.float32
    _close(phi, bst.predict(dm, pred_contribs=True), f"{what} contribs")
    _close(model.predict_contribs(X, approximate=True, base_margin=dm_kw.get("base_margin")),
           bst.predict(dm, pred_contribs=True, approx_contribs=True), f"{what} approx_contribs")
    # local accuracy: a row's values add up to its margin
    total = phi.astype(np.float64).sum(axis=-1)
    assert np.allclose(total, margin, rtol=1e-5, atol=1e-5 * np.abs(phi).max())
    if interactions:
        rows = X[:40]
        dm_rows = xgb.DMatrix(rows, **{k: (v[:40] if k == "base_margin" else v) for k, v in dm_kw.items()})
        bm = dm_kw.get("base_margin")
        inter = model.predict_interactions(rows, base_margin=None if bm is None else bm[:40])
        _close(inter, bst.predict(dm_rows, pred_interactions=True), f"{what} interactions")
        _close(inter.astype(np.float64).sum(axis=-1), phi[:40].astype(np.float64), f"{what} interactions sum")
    return phi


@pytest.mark.parametrize("nan_rate", [0.0, 0.3])
def test_regression(nan_rate):
    rng = np.random.default_rng(1)
    X = _rows(rng, 400, 7, nan_rate)
    y = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) + rng.normal(size=400) * .1
    bst = _train({"max_depth": 5, "base_score": 0.3}, X, y, 12)
    _against_xgboost(bst, _load(bst), _rows(rng, 200, 7, nan_rate), f"regression nan={nan_rate}")


def test_binary_with_base_margin():
    rng = np.random.default_rng(2)
    X = _rows(rng, 400, 6, 0.1)
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 3]) > 0).astype(float)
    bst = _train({"objective": "binary:logistic", "max_depth": 4}, X, y, 10)
    Xt = _rows(rng, 150, 6, 0.1)
    model = _load(bst)
    _against_xgboost(bst, model, Xt, "binary")
    _against_xgboost(bst, model, Xt, "binary base_margin", base_margin=rng.normal(size=150).astype(np.float32))


def test_multiclass():
    rng = np.random.default_rng(3)
    X = _rows(rng, 450, 5, 0.1)
    y = rng.integers(0, 3, 450)
    bst = _train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4}, X, y, 6)
    phi = _against_xgboost(bst, _load(bst), _rows(rng, 120, 5, 0.1), "multiclass")
    assert phi.shape == (120, 3, 6)


def test_categorical():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    n = 500
    cats = [f"c{i}" for i in range(12)]
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": pd.Categorical(rng.choice(cats, n), categories=cats),
                          "c": pd.Categorical(rng.choice(cats[:4], n), categories=cats[:4]),
                          "d": rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame.loc[rng.random(n) < 0.1, "b"] = np.nan
    y = frame["b"].cat.codes.to_numpy() % 3 + frame["a"].fillna(0).to_numpy()
    for onehot in (1, 64):
        bst = xgb.train({"max_depth": 4, "nthread": 1, "max_cat_to_onehot": onehot, "tree_method": "hist"},
                        xgb.DMatrix(frame, y, enable_categorical=True), 8)
        model = _load(bst)
        test = frame.iloc[:120]
        dm = xgb.DMatrix(test, enable_categorical=True)
        phi = model.predict_contribs(test)
        _close(phi, bst.predict(dm, pred_contribs=True), f"categorical onehot={onehot} contribs")
        _close(model.predict_contribs(test, approximate=True),
               bst.predict(dm, pred_contribs=True, approx_contribs=True), f"categorical onehot={onehot} approx")
        _close(model.predict_interactions(test.iloc[:30]), bst.predict(dm.slice(range(30)), pred_interactions=True),
               f"categorical onehot={onehot} interactions")
        assert np.allclose(phi.sum(axis=1), model.predict(test, output_margin=True), rtol=1e-5, atol=1e-5)


def test_dart():
    rng = np.random.default_rng(5)
    X = _rows(rng, 400, 6, 0.1)
    y = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) ** 2
    bst = _train({"booster": "dart", "max_depth": 4, "rate_drop": 0.3, "skip_drop": 0.0}, X, y, 10)
    model = _load(bst)
    assert len(np.unique(model.booster.weights)) > 1  # the trees weigh differently
    _against_xgboost(bst, model, _rows(rng, 150, 6, 0.1), "dart")


@pytest.mark.parametrize("objective", ["reg:squarederror", "multi:softprob"])
def test_gblinear(objective):
    rng = np.random.default_rng(6)
    X = _rows(rng, 300, 5, 0.2)
    y = rng.integers(0, 3, 300) if objective.startswith("multi") else np.nan_to_num(X[:, 0])
    params = {"booster": "gblinear", "objective": objective, "base_score": 0.4}
    if objective.startswith("multi"):
        params["num_class"] = 3
    bst = _train(params, X, y, 5)
    model = _load(bst)
    _against_xgboost(bst, model, _rows(rng, 100, 5, 0.2), f"gblinear {objective}", interactions=False)
    Xt = _rows(rng, 20, 5, 0.2)
    inter = model.predict_interactions(Xt)
    phi = model.predict_contribs(Xt)
    # XGBoost 3.2 fails to shape these; a linear model's interaction values are its
    # contributions on the diagonal
    assert np.array_equal(inter.sum(axis=-1), phi)
    assert np.count_nonzero(inter) == np.count_nonzero(phi)


def test_iteration_range():
    rng = np.random.default_rng(7)
    X = _rows(rng, 400, 5, 0.1)
    y = rng.integers(0, 3, 400)
    bst = _train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, X, y, 8)
    model = _load(bst)
    Xt = _rows(rng, 80, 5, 0.1)
    dm = xgb.DMatrix(Xt)
    for rng_ in ((0, 3), (0, 8), (0, 0)):
        _close(model.predict_contribs(Xt, iteration_range=rng_), bst.predict(dm, pred_contribs=True,
                                                                              iteration_range=rng_),
               f"iteration_range={rng_}")
        _close(model.predict_interactions(Xt[:10], iteration_range=rng_),
               bst.predict(dm.slice(range(10)), pred_interactions=True, iteration_range=rng_),
               f"iteration_range={rng_} interactions")
    # XGBoost refuses ranges not starting at 0; gbinfer's values add up to that range's margin
    phi = model.predict_contribs(Xt, iteration_range=(2, 6))
    assert np.allclose(phi.sum(axis=-1), model.predict(Xt, output_margin=True, iteration_range=(2, 6)),
                       rtol=1e-5, atol=1e-5)


def test_formats_and_inputs():
    """UBJ and the legacy binary carry the same covers; sparse input, one thread and the
    predict keywords give the same values."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    for name in ("xgb1.7.6_multi_softprob", "xgb2.0.3_dart", "xgb0.90_poisson"):
        from_bin = gbinfer.load(DATA / f"{name}.bin")
        bst = xgb.Booster(model_file=str(DATA / f"{name}.json"))
        F = from_bin.num_features
        X = _rows(np.random.default_rng(8), 60, F, 0.2)
        ref = bst.predict(xgb.DMatrix(X), pred_contribs=True)
        _close(from_bin.predict_contribs(X), ref, f"{name} from the legacy binary")
    rng = np.random.default_rng(9)
    X = _rows(rng, 300, 6, 0.0)
    X[rng.random(X.shape) < 0.5] = 0
    bst = _train({"max_depth": 4}, X, X[:, 0] + X[:, 1], 6)
    model = _load(bst, "ubj")
    dense = model.predict_contribs(X)
    _close(dense, bst.predict(xgb.DMatrix(X), pred_contribs=True), "ubj")
    sparse = scipy_sparse.csr_matrix(X)
    assert np.array_equal(model.predict_contribs(gbinfer.DataMatrix(sparse, missing=np.nan)),
                          model.predict_contribs(np.where(X == 0, np.float32(np.nan), X)))
    assert np.array_equal(model.predict_contribs(X, nthread=1), dense)
    assert np.array_equal(model.predict(X, pred_contribs=True), dense)
    assert np.array_equal(model.predict(X, pred_contribs=True, approx_contribs=True),
                          model.predict_contribs(X, approximate=True))
    assert np.array_equal(model.predict(X[:5], pred_interactions=True), model.predict_interactions(X[:5]))
    assert np.array_equal(model.predict(X, pred_leaf=True), model.predict_leaf(X))
    assert np.array_equal(model.predict(X, approx_contribs=True), model.predict(X))
    one = model.predict_contribs(X[:1])
    assert one.shape == (1, 7) and np.array_equal(one, dense[:1])
    approx_inter = model.predict_interactions(X[:5], approximate=True)
    _close(approx_inter, bst.predict(xgb.DMatrix(X[:5]), pred_interactions=True, approx_contribs=True),
           "approximate interactions")


def _saved_kinds():
    """A binary model with NaNs, a categorical one (sets and one-hot splits) and DART, each with the
    rows it is explained on."""
    rng = np.random.default_rng(12)
    X = _rows(rng, 300, 5, 0.1)
    y = (np.nan_to_num(X[:, 0]) + rng.normal(0, 0.5, 300) > 0).astype(float)
    yield "binary", _train({"objective": "binary:logistic", "max_depth": 4}, X, y, 5), _rows(rng, 40, 5, 0.1)
    C = _rows(rng, 300, 4, 0.1)
    C[:, 1] = rng.integers(0, 10, 300)
    y = np.isin(C[:, 1], [1, 4, 7]) + np.nan_to_num(C[:, 0])
    bst = _train({"max_depth": 4, "tree_method": "hist", "max_cat_to_onehot": 3}, C, y, 5,
                 feature_types=["q", "c", "q", "q"], enable_categorical=True)
    T = _rows(rng, 40, 4, 0.1)
    T[:, 1] = rng.integers(0, 12, 40)
    yield "categorical", bst, T
    y = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) ** 2
    yield "dart", _train({"booster": "dart", "max_depth": 3, "rate_drop": 0.3, "skip_drop": 0.0}, X, y, 6), \
        _rows(rng, 40, 5, 0.1)


@pytest.mark.parametrize("suffix", [".xgbrs", ".json", ".apr"])
def test_saved_models_keep_their_covers(suffix, tmp_path):
    """A model saved and loaded again explains bit for bit as the one read from XGBoost's file."""
    for name, bst, X in _saved_kinds():
        model = _load(bst)
        path = tmp_path / f"{name}{suffix}"
        gbinfer.save(model, path)
        again = gbinfer.load(path)
        assert again.booster.forest.has_cover, name
        assert np.array_equal(again.booster.forest.cover.view(np.uint32), model.booster.forest.cover.view(np.uint32))
        phi = again.predict_contribs(X)
        assert np.array_equal(phi, model.predict_contribs(X)), name
        assert np.array_equal(again.predict_contribs(X, approximate=True),
                              model.predict_contribs(X, approximate=True)), name
        assert np.array_equal(again.predict_interactions(X[:10]), model.predict_interactions(X[:10])), name
        types = ["q", "c", "q", "q"] if name == "categorical" else None
        _close(phi, bst.predict(xgb.DMatrix(X, feature_types=types, enable_categorical=types is not None),
                                pred_contribs=True), f"{name} saved as {suffix}")


# --- brute force: Shapley values from the definition ------------------------------------------

def _trees_of(bst):
    doc = json.loads(bytes(bst.save_raw("json")))
    gb = doc["learner"]["gradient_booster"]
    return gb["model"]["trees"]


def _value(tree, x, subset, node=0):
    """E[f(x) | x_S] as TreeSHAP defines it: follow x at splits on a feature in ``subset``,
    else average the children weighted by their covers."""
    left, right = tree["left_children"][node], tree["right_children"][node]
    if left == -1:
        return tree["_leaf"][node]
    f = tree["split_indices"][node]
    if f in subset:
        v = x[f]
        go_left = bool(tree["default_left"][node]) if math.isnan(v) else v < tree["split_conditions"][node]
        return _value(tree, x, subset, left if go_left else right)
    cover = tree["sum_hessian"]
    return (cover[left] * _value(tree, x, subset, left) + cover[right] * _value(tree, x, subset, right)) / cover[node]


def _prepare_leaves(tree):
    size = int(tree["tree_param"].get("size_leaf_vector", "1"))
    size = max(size, 1)
    if size == 1:
        tree["_leaf"] = [np.array([v]) for v in tree["split_conditions"]]
    else:
        rows = np.array(tree["leaf_weights"]).reshape(-1, size)
        tree["_leaf"] = [rows[r] if l == -1 else None for l, r in zip(tree["left_children"], tree["right_children"])]
    return tree


def _brute_force(trees, x, M):
    """Shapley values (M, outputs), Shapley interaction indices (M, M, outputs) and v(empty set)
    of v(S) = sum of the trees' E[f | x_S]."""
    v = {}
    for size in range(M + 1):
        for S in itertools.combinations(range(M), size):
            v[S] = sum(_value(t, x, set(S)) for t in trees)
    zero = np.zeros_like(v[()])
    phi = [zero] * M
    inter = [[zero] * M for _ in range(M)]
    for i in range(M):
        others = [j for j in range(M) if j != i]
        for size in range(M):
            w = math.factorial(size) * math.factorial(M - size - 1) / math.factorial(M)
            for S in itertools.combinations(others, size):
                phi[i] = phi[i] + w * (v[tuple(sorted(S + (i,)))] - v[S])
        for j in others:
            rest = [k for k in others if k != j]
            for size in range(M - 1):
                w = math.factorial(size) * math.factorial(M - size - 2) / (2 * math.factorial(M - 1))
                for S in itertools.combinations(rest, size):
                    inter[i][j] = inter[i][j] + w * (v[tuple(sorted(S + (i, j)))] - v[tuple(sorted(S + (i,)))]
                                                     - v[tuple(sorted(S + (j,)))] + v[S])
    return np.array(phi), np.array(inter), v[()]


@pytest.mark.parametrize("tables", [True, False], ids=["tables", "recursion"])
@pytest.mark.parametrize("kind", ["scalar", "vector_leaf"])
def test_brute_force_shapley(kind, tables, monkeypatch):
    """``tables``: contributions by quadrature, interactions by tables; else both by the recursion."""
    from gbinfer.predict import shap

    if not tables:
        monkeypatch.setattr(shap, "TABLE_BUDGET", 0)
        monkeypatch.setattr(shap, "QUADRATURE_DEPTH", 0)
    rng = np.random.default_rng(10)
    M = 6
    X = _rows(rng, 300, M, 0.15)
    base = np.nan_to_num(X)
    if kind == "scalar":
        bst = _train({"max_depth": 4, "base_score": 0.0}, X, base[:, 0] * base[:, 1] + base[:, 2], 3)
    else:
        Y = np.stack([base[:, 0] * base[:, 1], base[:, 2] - base[:, 3]], axis=1)
        bst = _train({"max_depth": 3, "tree_method": "hist", "multi_strategy": "multi_output_tree",
                      "base_score": 0.0}, X, Y, 3)
    model = _load(bst)
    trees = [_prepare_leaves(t) for t in _trees_of(bst)]
    Xt = _rows(rng, 8, M, 0.15)
    phi = model.predict_contribs(Xt)
    inter = model.predict_interactions(Xt)
    k = model.num_outputs
    phi = phi.reshape(len(Xt), k, M + 1)
    inter = inter.reshape(len(Xt), k, M + 1, M + 1)
    base_score = model.meta.base_score
    worst = 0.0
    for r, x in enumerate(Xt.astype(np.float64)):
        ref_phi, ref_inter, expected = _brute_force(trees, x, M)
        for g in range(k):
            ref = np.append(ref_phi[:, g], expected[g] + base_score[g])
            scale = np.abs(ref).max()
            worst = max(worst, float(np.abs(phi[r, g] - ref).max() / scale))
            off = ref_inter[:, :, g]
            got_off = inter[r, g, :M, :M] * (1 - np.eye(M))
            worst = max(worst, float(np.abs(got_off - off).max() / scale))
            assert np.allclose(inter[r, g].sum(axis=-1), phi[r, g], rtol=1e-5, atol=1e-5 * scale)
    print(f"brute force {kind}, {'tables' if tables else 'recursion'}: worst difference relative to row max "
          f"{worst:.3g}")
    assert worst <= TOL


# --- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["scalar", "vector_leaf", "mixed"])
def test_values_do_not_depend_on_the_batch(kind, monkeypatch):
    """A row's values are the same bit for bit whatever its batch: alone or in a small batch
    (the trees shared among the threads, forced here), in blocks of rows, on one thread or
    more; with quadrature and recursion trees in one model too (``mixed``), and for Saabas."""
    from gbinfer.predict import shap

    monkeypatch.setattr(shap, "SHARED_TREES_BELOW", 0)
    rng = np.random.default_rng(15)
    X = _rows(rng, 600, 7, 0.1)
    base = np.nan_to_num(X)
    if kind == "vector_leaf":
        Y = np.stack([base[:, 0] * base[:, 1], base[:, 2] - base[:, 3]], axis=1)
        bst = _train({"max_depth": 4, "tree_method": "hist", "multi_strategy": "multi_output_tree"}, X, Y, 12)
    else:
        y = base[:, 0] * base[:, 1] + base[:, 2]
        bst = _train({"max_depth": 3}, X, y, 6)
        bst = _train({"max_depth": 6, "min_child_weight": 0.5}, X, y, 6, xgb_model=bst)
    if kind == "mixed":
        monkeypatch.setattr(shap, "QUADRATURE_DEPTH", 4)  # the deeper half by the recursion
    model = _load(bst)
    ok = shap._quadrature(model.booster)[0]
    assert ok.all() if kind != "mixed" else 0 < ok.sum() < ok.size
    Xt = X[:200]
    for approximate in (False, True):
        whole = model.predict_contribs(Xt, approximate=approximate, nthread=1)
        if kind != "vector_leaf":  # xgboost explains no vector-leaf model: test_brute_force_shapley checks those
            _close(whole, bst.predict(xgb.DMatrix(Xt), pred_contribs=True, approx_contribs=approximate), kind)
        for nthread in (1, 2):
            for lo, hi in ((0, 1), (7, 8), (3, 8), (0, 32), (5, 38), (0, 200)):
                got = model.predict_contribs(Xt[lo:hi], approximate=approximate, nthread=nthread)
                assert np.array_equal(got, whole[lo:hi]), (kind, approximate, nthread, lo, hi)


def test_warmup_compiles_the_contribution_kernels():
    """After ``warmup``, explaining compiles nothing more (serial and parallel batches, XGBoost and
    LightGBM), and the values are xgboost's / lightgbm's."""
    from gbinfer.predict import SERIAL_BELOW, shap, shap_lightgbm_kernels, shap_quadrature_kernels

    rng = np.random.default_rng(14)
    X = _rows(rng, 400, 5, 0.1)
    y = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1])
    bst = _train({"max_depth": 4}, X, y, 3)
    model = _load(bst).warmup()
    assert model.booster in shap._quadratures
    kernels = [shap_quadrature_kernels.contribs_serial, shap_quadrature_kernels.contribs_parallel]
    compiled = [len(k.signatures) for k in kernels]
    for n in (1, SERIAL_BELOW):
        _close(model.predict_contribs(X[:n]), bst.predict(xgb.DMatrix(X[:n]), pred_contribs=True), f"{n} rows")
    assert [len(k.signatures) for k in kernels] == compiled
    lgb = pytest.importorskip("lightgbm")
    booster = lgb.train({"verbose": -1, "num_leaves": 8}, lgb.Dataset(X.astype(np.float64), y), 3)
    lgb_model = gbinfer.load(booster).warmup()
    kernels = [shap_lightgbm_kernels.contribs_serial, shap_lightgbm_kernels.contribs_parallel]
    compiled = [len(k.signatures) for k in kernels]
    for n in (1, SERIAL_BELOW):
        Xn = X[:n].astype(np.float64)
        got = lgb_model.predict_contribs(Xn)
        assert np.array_equal(got, booster.predict(Xn, pred_contrib=True))
    assert [len(k.signatures) for k in kernels] == compiled


def test_refusals(tmp_path):
    rng = np.random.default_rng(11)
    X = _rows(rng, 200, 4, 0.0)
    bst = _train({"max_depth": 3}, X, X[:, 0], 3)
    model = _load(bst)
    with pytest.raises(DataError, match="approximate"):
        model.predict_contribs(X, approximate="yes")
    with pytest.raises(DataError, match="one kind of prediction"):
        model.predict(X, pred_contribs=True, pred_leaf=True)
    with pytest.raises(DataError, match="one kind of prediction"):
        model.predict(X, pred_interactions=True, output_margin=True)
    with pytest.raises(DataError, match="pred_contribs"):
        model.predict(X, pred_contribs=1)
    with pytest.raises(DataError, match="columns"):
        model.predict_contribs(X[:, :3])
    with pytest.raises(DataError, match="iteration_range"):
        model.predict_contribs(X, iteration_range=(0, 9))
    with pytest.raises(DataError, match="nthread"):
        model.predict_interactions(X, nthread="two")
    with pytest.raises(DataError, match="base_margin"):
        model.predict_contribs(X, base_margin=np.zeros(3))
    old = gbinfer.load(GOLDEN / "gbtree_binary.xgbrs")  # saved before files kept covers
    with pytest.raises(UnsupportedModelError, match="holds none.*saved without them") as err:
        old.predict_interactions(np.load(GOLDEN / "gbtree_binary.npz")["X"])
    assert err.value.field == "cover"
    lgb = pytest.importorskip("lightgbm")
    lm = lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(X, X[:, 0]), 2)
    with pytest.raises(UnsupportedModelError, match="LightGBM has no equivalent"):
        gbinfer.load(lm).predict_interactions(X)  # contributions: tests/test_shap_lightgbm.py


def test_tables_and_recursion(monkeypatch):
    """Interaction values: trees past the table budget keep the recursion; tabulated trees agree
    within rounding. Contributions: trees the quadrature does not take (here: all, with
    ``QUADRATURE_DEPTH`` 0) keep the recursion, which reproduces XGBoost's float32 arithmetic
    bit for bit; the quadrature agrees within rounding."""
    from gbinfer.predict import shap

    rng = np.random.default_rng(12)
    X = _rows(rng, 500, 8, 0.1)
    y = np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 2])
    bst = _train({"max_depth": 6}, X, y, 8)
    Xt = _rows(rng, 100, 8, 0.1)
    ref = bst.predict(xgb.DMatrix(Xt), pred_contribs=True)
    ref_inter = bst.predict(xgb.DMatrix(Xt[:20]), pred_interactions=True)
    for budget in (0, 200, 1000, shap.TABLE_BUDGET):
        monkeypatch.setattr(shap, "TABLE_BUDGET", budget)
        model = _load(bst)
        inter = model.predict_interactions(Xt[:20])
        tabulated = int(shap._leaf_tables(model.booster)[0].sum())
        paired = int(shap._pair_tables(model.booster)[0].sum())
        assert (tabulated == 0) == (budget == 0) and (tabulated == 8) == (budget > 10_000)
        assert paired <= tabulated and (paired == 8) == (budget > 10_000)
        _close(inter, ref_inter, f"table budget {budget}: {tabulated} trees tabulated, {paired} paired, interactions")
    model = _load(bst)
    assert shap._quadrature(model.booster)[0].all()
    _close(model.predict_contribs(Xt), ref, "quadrature contribs")
    monkeypatch.setattr(shap, "QUADRATURE_DEPTH", 0)
    model = _load(bst)
    assert not shap._quadrature(model.booster)[0].any()
    assert np.array_equal(model.predict_contribs(Xt), ref)


def test_deep_trees(monkeypatch):
    """Trees deeper than the tables and ``QUADRATURE_DEPTH`` allow: interaction values and
    contributions by the recursion, bit for bit as XGBoost for contributions; contributions by
    the 8-point quadrature (``QUADRATURE_DEPTH`` raised to its limit) within rounding."""
    from gbinfer.predict import shap

    rng = np.random.default_rng(13)
    X = _rows(rng, 3000, 6, 0.05)
    y = np.sin(np.nan_to_num(X[:, 0]) * 3) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    bst = _train({"max_depth": 15, "min_child_weight": 0.5, "eta": 0.5}, X, y, 2)
    model = _load(bst)
    deep = model.booster.forest.tree_depth > 12
    assert deep.any()
    assert shap._leaf_tables(model.booster)[0][deep].sum() == 0
    assert not shap._quadrature(model.booster)[0][deep].any()
    Xt = _rows(rng, 50, 6, 0.05)
    dm = xgb.DMatrix(Xt)
    ref = bst.predict(dm, pred_contribs=True)
    assert np.array_equal(model.predict_contribs(Xt), ref)
    monkeypatch.setattr(shap, "QUADRATURE_DEPTH", 16)
    quadrature = _load(bst)
    assert shap._quadrature(quadrature.booster)[0].all()
    _close(quadrature.predict_contribs(Xt), ref, "deep trees, 8-point quadrature")
    _close(model.predict_interactions(Xt[:10]), bst.predict(dm.slice(range(10)), pred_interactions=True),
           "deep trees interactions")
