"""CatBoost models through every kernel path, against catboost itself, bit for bit: the row-by-row
kernel (batches under ``ROWS_BELOW`` rows), the block kernel serial and parallel, the float32
fast path and the general input path; uint8 and uint16 bins, leaf numbers of depth up to 8 and
deeper; float, NaN, one-hot and CTR features; one and several outputs."""

import json

import numpy as np
import pytest

import gbinfer
from gbinfer.predict import oblivious as engine
from gbinfer.predict import oblivious_kernels as K

catboost = pytest.importorskip("catboost")
pd = pytest.importorskip("pandas")

SEED = 0
SIZES = (1, 2, 3, K.ROWS_BELOW - 1, K.ROWS_BELOW, K.ROWS_BELOW + 1, K.BLOCK - 1, K.BLOCK + 3)


def _train(cls, X, y, **params):
    m = cls(verbose=0, thread_count=1, random_seed=SEED, allow_writing_files=False, **params)
    m.fit(X, y)
    return m


def _floats(n, cols=8, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, cols)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X, rng


def _on_borders(g, X):
    """Rows whose values are the model's float borders themselves (and NaNs): every tie."""
    X = X.copy()
    b = g.booster
    for s, column in enumerate(b.slot_column):
        borders = b.borders[b.border_offsets[s]:b.border_offsets[s + 1]]
        take = borders[: len(X) // 2]
        X[: 2 * len(take): 2, column] = take
    return X


def _every_path(g, data, ref, pool_leaves=None):
    """``g`` agrees with ``ref`` (catboost's raw values) bit for bit on the whole batch with 1 and 2
    threads, row by row, and in batches of every size around the kernels' thresholds; its default
    output row by row equals its batch output."""
    take = (lambda a, b: data.iloc[a:b]) if hasattr(data, "iloc") else (lambda a, b: data[a:b])
    n = len(ref)
    for nthread in (1, 2):
        out = g.predict(data, output_margin=True, nthread=nthread)
        np.testing.assert_array_equal(out, ref)
    full = g.predict(data)
    for size in SIZES:
        parts = [g.predict(take(a, a + size), output_margin=True) for a in range(0, min(n, 40 * size), size)]
        got = np.concatenate(parts)
        np.testing.assert_array_equal(got, ref[:len(got)])
    np.testing.assert_array_equal(np.concatenate([g.predict(take(a, a + 1)) for a in range(40)]), full[:40])
    if pool_leaves is not None:
        for nthread in (1, 2):
            np.testing.assert_array_equal(g.predict_leaf(data, nthread=nthread), pool_leaves)
        np.testing.assert_array_equal(np.concatenate([g.predict_leaf(take(a, a + 1)) for a in range(40)]),
                                      pool_leaves[:40])


@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
def test_float_model_every_path(nan_mode):
    X, rng = _floats(1200)
    y = (X[:, 0] + np.nan_to_num(X[:, 1]) * X[:, 2] > 0).astype(int)
    m = _train(catboost.CatBoostClassifier, X, y, iterations=40, depth=6, nan_mode=nan_mode)
    g = gbinfer.load(m)
    L = engine.layout(g.booster, g.num_features)
    assert L.args[5].dtype == np.uint8 and L.args[7].dtype == np.uint8  # bins and leaf numbers in bytes
    test = _on_borders(g, X)
    ref = m.predict(test, prediction_type="RawFormulaVal")
    _every_path(g, test, ref, m.calc_leaf_indexes(catboost.Pool(test)))
    # the general input path (float64, Fortran order, a frame) gives the same bits as the fast path
    for other in (test.astype(np.float64), np.asfortranarray(test), pd.DataFrame(test)):
        np.testing.assert_array_equal(g.predict(other, output_margin=True), ref)
        np.testing.assert_array_equal(g.predict(other[:1] if not hasattr(other, "iloc") else other.iloc[:1],
                                                output_margin=True), ref[:1])


def test_wide_bins_and_deep_trees():
    """More than 255 borders per feature (uint16 bins) and trees deeper than 8 (uint16 leaf numbers)."""
    X, rng = _floats(4000, cols=2, seed=SEED + 1)
    y = np.sin(np.nan_to_num(X[:, 0]) * 20) + np.nan_to_num(X[:, 1]) * 0.1
    m = _train(catboost.CatBoostRegressor, X, y, iterations=60, depth=10, border_count=1024, learning_rate=0.5)
    g = gbinfer.load(m)
    L = engine.layout(g.booster, g.num_features)
    assert np.diff(g.booster.border_offsets).max() > 255
    assert L.args[5].dtype == np.uint16 and L.args[7].dtype == np.uint16
    test = _on_borders(g, X)
    _every_path(g, test, m.predict(test, prediction_type="RawFormulaVal"), m.calc_leaf_indexes(catboost.Pool(test)))


def test_multiclass_every_path():
    X, rng = _floats(900, seed=SEED + 2)
    y = (X[:, 0] > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 0.5)
    m = _train(catboost.CatBoostClassifier, X, y, iterations=30, depth=4, loss_function="MultiClass")
    g = gbinfer.load(m)
    ref = m.predict(X, prediction_type="RawFormulaVal")
    assert ref.shape[1] == 3
    _every_path(g, X, ref, m.calc_leaf_indexes(catboost.Pool(X)))


def test_categorical_one_hot_and_ctr_every_path(tmp_path):
    rng = np.random.default_rng(SEED + 3)
    n = 1000
    a = rng.normal(size=n).astype(np.float32)
    a[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"a": a, "c": rng.choice([f"c{i}" for i in range(30)], n), "d": rng.choice(list("xyzw"), n),
                       "b": rng.normal(size=n).astype(np.float32), "e": rng.integers(0, 20, n)})
    y = ((df.c.isin(["c1", "c2", "c3"])) ^ (df.b > 0) | (df.d == "x")).astype(int)
    m = _train(catboost.CatBoostClassifier, df, y, iterations=40, depth=5, cat_features=["c", "d", "e"],
               one_hot_max_size=4, max_ctr_complexity=2)
    path = tmp_path / "m.json"
    m.save_model(str(path), format="json")
    doc = json.loads(path.read_bytes())
    assert doc["features_info"]["ctrs"] and any(f.get("values") for f in doc["features_info"]["categorical_features"])
    g = gbinfer.load(path)
    test = df.copy()
    test.loc[::7, "c"] = "unseen"
    test.loc[::5, "e"] = 999
    ref = m.predict(test, prediction_type="RawFormulaVal")
    _every_path(g, test, ref, m.calc_leaf_indexes(catboost.Pool(test, cat_features=[1, 2, 4])))
    _every_path(g, test.to_numpy(), ref)  # an object array: the same values by position


def test_kernel_layout_reads_only_used_features():
    """Float features no tree splits on are not binarised: the layout keeps the used ones only."""
    X, rng = _floats(600, cols=6, seed=SEED + 4)
    X[:, 3] = 0.0  # constant: CatBoost never splits on it
    y = (X[:, 0] > 0).astype(int)
    m = _train(catboost.CatBoostClassifier, X, y, iterations=10, depth=3)
    g = gbinfer.load(m)
    L = engine.layout(g.booster, g.num_features)
    used = set(g.booster.split_slot[g.booster.tree_splits].tolist())
    assert len(L.args[0]) == len(used) < 6
    np.testing.assert_array_equal(g.predict(X, output_margin=True), m.predict(X, prediction_type="RawFormulaVal"))
