"""CatBoost models against catboost itself: models trained here, saved as .cbm and JSON, and
read back by gbinfer; raw values compared in float64 ULPs (bit-identical expected)."""

import gzip
import json
import re

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError, GbinferError, ModelFormatError, UnsupportedModelError

catboost = pytest.importorskip("catboost")

SEED = 0


def ulp64(a, b) -> int:
    """Largest distance in float64 units-in-the-last-place between two arrays (NaNs must match)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN positions differ"
    ia, ib = a[~np.isnan(a)].view(np.int64), b[~np.isnan(b)].view(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFFFFFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFFFFFFFFFF), ib)
    return int(np.abs(ia - ib).max()) if ia.size else 0


def _data(n=600, cols=5, nan_col=1, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, cols)).astype(np.float32)
    X[rng.random(n) < 0.15, nan_col] = np.nan
    X[::11, 3] = 0.0  # values on and around borders
    return X, rng


def _train(cls, X, y, **params):
    m = cls(verbose=0, thread_count=1, random_seed=SEED, allow_writing_files=False, **params)
    m.fit(X, y)
    return m


def _saved(model, tmp_path, name="m"):
    """gbinfer models from the .cbm, the JSON and the gzipped .cbm files of ``model``."""
    cbm, js = tmp_path / f"{name}.cbm", tmp_path / f"{name}.json"
    model.save_model(str(cbm))
    model.save_model(str(js), format="json")
    gz = tmp_path / f"{name}.cbm.gz"
    gz.write_bytes(gzip.compress(cbm.read_bytes()))
    return {"cbm": gbinfer.load(cbm), "json": gbinfer.load(js), "gz": gbinfer.load(gz)}


def _raw(model, X, **kw):
    return model.predict(X, prediction_type="RawFormulaVal", **kw)


@pytest.mark.parametrize("nan_mode", ["Min", "Max", "Forbidden"])
def test_logloss_every_nan_mode(tmp_path, nan_mode):
    X, rng = _data()
    y = (X[:, 0] + np.nan_to_num(X[:, 1], nan=1.0) > 0).astype(int)
    train = np.nan_to_num(X, nan=0.0) if nan_mode == "Forbidden" else X
    m = _train(catboost.CatBoostClassifier, train, y, iterations=30, depth=4, nan_mode=nan_mode)
    ref = _raw(m, X)  # NaNs at prediction time too, also for the Forbidden model
    for fmt, g in _saved(m, tmp_path).items():
        assert ulp64(g.predict(X, output_margin=True), ref) == 0, fmt
        assert g.predict(X).shape == (len(X),)
        np.testing.assert_array_equal(g.predict_leaf(X), m.calc_leaf_indexes(catboost.Pool(X)))


@pytest.mark.parametrize("depth", range(1, 9))
def test_rmse_depths(tmp_path, depth):
    X, rng = _data(n=400)
    y = X[:, 0] * 2 + np.nan_to_num(X[:, 1]) + rng.normal(size=len(X)) * 0.1
    m = _train(catboost.CatBoostRegressor, X, y, iterations=12, depth=depth, nan_mode="Max")
    ref = _raw(m, X)
    for fmt, g in _saved(m, tmp_path).items():
        out = g.predict(X)
        assert out.dtype == np.float64 and out.shape == (len(X),)
        assert ulp64(out, ref) == 0, fmt
        np.testing.assert_array_equal(g.predict_leaf(X), m.calc_leaf_indexes(catboost.Pool(X)))


@pytest.mark.parametrize("loss", ["MultiClass", "MultiClassOneVsAll"])
def test_multiclass(tmp_path, loss):
    X, rng = _data()
    y = rng.integers(0, 3, len(X)) + (X[:, 0] > 0.5)
    m = _train(catboost.CatBoostClassifier, X, y, iterations=20, depth=3, loss_function=loss)
    ref = _raw(m, X)
    for fmt, g in _saved(m, tmp_path).items():
        assert g.num_outputs == 4
        assert ulp64(g.predict(X, output_margin=True), ref) == 0, fmt
        prob = g.predict(X)
        assert prob.shape == (len(X), 4)
        # CatBoost's softmax and sigmoid use its own fast exp; the default output is within 16 ULP of it
        assert ulp64(prob, m.predict_proba(X)) <= 16, fmt


def test_default_outputs_within_catboost_fast_exp(tmp_path):
    """Probability and Exponent use CatBoost's fast exp, not libm's: within a few ULP of it."""
    X, rng = _data()
    m = _train(catboost.CatBoostClassifier, X, (X[:, 0] > 0).astype(int), iterations=20, depth=4)
    g = gbinfer.load(m)
    assert ulp64(g.predict(X), m.predict_proba(X)[:, 1]) <= 4
    y = rng.poisson(np.exp(np.clip(X[:, 0], -2, 2)))
    for loss in ("Poisson", "Tweedie:variance_power=1.5"):
        m = _train(catboost.CatBoostRegressor, X, y, iterations=20, depth=4, loss_function=loss)
        g = gbinfer.load(m)
        assert ulp64(g.predict(X, output_margin=True), _raw(m, X)) == 0, loss
        assert ulp64(g.predict(X), m.predict(X, prediction_type="Exponent")) <= 4, loss


def test_scale_and_bias_and_iteration_range(tmp_path):
    X, rng = _data()
    y = 10 + X[:, 0] + rng.normal(size=len(X)) * 0.1  # boost_from_average: a non-zero bias
    m = _train(catboost.CatBoostRegressor, X, y, iterations=25, depth=3)
    m.set_scale_and_bias(1.5, 0.25)
    for fmt, g in _saved(m, tmp_path).items():
        assert ulp64(g.predict(X), _raw(m, X)) == 0, fmt
        for begin, end in ((0, 10), (5, 25), (24, 25), (3, 0)):
            ref = _raw(m, X, ntree_start=begin, ntree_end=end or m.tree_count_)
            assert ulp64(g.predict(X, iteration_range=(begin, end)), ref) == 0, (fmt, begin, end)
            np.testing.assert_array_equal(g.predict_leaf(X, iteration_range=(begin, end)),
                                          m.calc_leaf_indexes(catboost.Pool(X), ntree_start=begin,
                                                              ntree_end=end or m.tree_count_))
        with pytest.raises(DataError):
            g.predict(X, iteration_range=(0, 26))


def test_ignored_features_keep_their_columns(tmp_path):
    X, rng = _data()
    m = _train(catboost.CatBoostRegressor, X, X[:, 0] + X[:, 4], iterations=10, depth=3, ignored_features=[1, 4])
    for fmt, g in _saved(m, tmp_path).items():
        assert g.num_features == X.shape[1]
        assert ulp64(g.predict(X), _raw(m, X)) == 0, fmt


def test_multirmse(tmp_path):
    X, rng = _data()
    Y = np.stack([X[:, 0], X[:, 2] * 2], axis=1)
    m = _train(catboost.CatBoostRegressor, X, Y, iterations=15, depth=3, loss_function="MultiRMSE")
    for fmt, g in _saved(m, tmp_path).items():
        assert ulp64(g.predict(X), _raw(m, X)) == 0, fmt


def test_inputs_and_threads(tmp_path):
    pd = pytest.importorskip("pandas")
    X, rng = _data(n=2000)
    m = _train(catboost.CatBoostRegressor, X, X[:, 0] * 3, iterations=10, depth=6)
    g = gbinfer.load(m)
    ref = _raw(m, X)
    assert ulp64(g.predict(X.astype(np.float64)), ref) == 0
    assert ulp64(g.predict(pd.DataFrame(X)), ref) == 0
    assert ulp64(g.predict(X.astype(object)), ref) == 0
    assert ulp64(g.predict(X, nthread=1), ref) == 0
    assert ulp64(g.predict(X[:1]), ref[:1]) == 0
    g.warmup()
    with pytest.raises(DataError):
        g.predict(X[:, :4])
    with pytest.raises(DataError):
        g.predict(X, base_margin=np.zeros(len(X)))
    gbinfer.save(g, tmp_path / "m.xgbrs")  # schema 1.3 holds CatBoost models
    assert ulp64(gbinfer.load(tmp_path / "m.xgbrs").predict(X), ref) == 0


# --- one-hot categorical features ------------------------------------------------------------

def _categories(rng, n):
    """Strings of every length class CityHash treats apart (0, 1-3, 4-8, 9-16, 17-32, 33-64, > 64
    bytes), non-ASCII text, and look-alikes of numbers."""
    pool = ["", "a", "ab", "abc", "abcd", "colour", "8 bytes!", "nine byte", "sixteen bytes!!!", "x" * 17,
            "twenty-four bytes long!!", "y" * 32, "z" * 33, "forty-eight " * 4, "w" * 64, "v" * 65,
            "a much longer category string " * 5, "ünïcödé", "日本語", "12", "-7", "0"]
    return rng.choice(np.array(pool, dtype=object), n), pool


def test_one_hot_categories_exact(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(SEED)
    n = 1500
    strings, pool = _categories(rng, n)
    ints = rng.integers(-3, 9, n)
    df = pd.DataFrame({"a": rng.normal(size=n).astype(np.float32), "s": strings, "i": ints,
                       "b": rng.normal(size=n).astype(np.float32)})
    effect = {v: rng.normal() for v in pool}
    y = df.a + np.array([effect[v] for v in strings]) + (ints % 3 == 0) * 0.7 + rng.normal(size=n) * 0.05
    m = _train(catboost.CatBoostRegressor, df, y, iterations=60, depth=4, cat_features=["s", "i"],
               one_hot_max_size=255)
    test = df.copy()
    test.loc[::13, "s"] = "never seen in training"
    test.loc[::17, "i"] = 12345
    ref = _raw(m, test)
    from gbinfer.compat.cityhash import category_hash

    for fmt, g in _saved(m, tmp_path).items():
        b = g.booster
        assert len(b.cat_column) == 2, fmt
        # the model splits on every string of the pool: its stored hashes are CatBoost's own
        assert set(b.cat_values[:b.cat_offsets[1]].tolist()) == {category_hash(v.encode()) for v in pool}, fmt
        assert ulp64(g.predict(test), ref) == 0, fmt
        np.testing.assert_array_equal(g.predict_leaf(test), m.calc_leaf_indexes(catboost.Pool(test,
                                                                                               cat_features=[1, 2])))
        assert ulp64(g.predict(test.to_numpy()), ref) == 0, fmt  # an object array in the same order
        # a DataMatrix numbers its category values itself: they are read back as values (integers as
        # an object column: a DataMatrix takes an integer array as numbers)
        columns = {name: test[name].to_numpy(dtype=object if name == "i" else None) for name in test.columns}
        assert ulp64(g.predict(gbinfer.DataMatrix(columns)), ref) == 0, fmt
        assert ulp64(g.predict(gbinfer.DataMatrix(test.astype({"s": "category", "i": "category"}))), ref) == 0, fmt
    with pytest.raises(DataError, match="missing category value"):
        g.predict(gbinfer.DataMatrix({**columns, "s": np.where(np.arange(n) == 3, None, columns["s"])}))
    with pytest.raises(DataError, match="column 1"):
        g.predict(test.assign(s=1.5))
    with pytest.raises(DataError, match="column 2"):
        g.predict(test.assign(i=None))


def test_frames_are_read_by_column_name(tmp_path):
    """CatBoost takes a frame's float columns by name when the model has feature names (with
    categorical columns it refuses another order; gbinfer reads them by name too)."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(SEED)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.choice(["u", "v"], 300)})
    numeric = _train(catboost.CatBoostRegressor, df[["a", "b"]], df.a * 2 - df.b, iterations=10, depth=3)
    mixed = _train(catboost.CatBoostRegressor, df, df.a * 2 - df.b + (df.c == "u"), iterations=10, depth=3,
                   cat_features=["c"])
    for name, m, columns in (("numeric", numeric, ["a", "b"]), ("mixed", mixed, ["a", "b", "c"])):
        shuffled = df[columns[::-1]]
        for fmt, g in _saved(m, tmp_path, name).items():
            assert ulp64(g.predict(shuffled), _raw(m, df[columns])) == 0, fmt
            with pytest.raises(DataError, match="missing"):
                g.predict(df[columns].rename(columns={"a": "x"}))
    assert ulp64(gbinfer.load(numeric).predict(df[["b", "a"]]), _raw(numeric, df[["b", "a"]])) == 0


def test_one_hot_classifier_pandas_category(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(SEED + 1)
    n = 800
    c = rng.choice(["red", "green", "blue", "cyan"], n)
    df = pd.DataFrame({"c": pd.Categorical(c), "x": rng.normal(size=n)})
    y = ((c == "red") ^ (df.x > 0.3)).astype(int)
    m = _train(catboost.CatBoostClassifier, df, y, iterations=20, depth=3, cat_features=["c"],
               one_hot_max_size=4)
    ref = _raw(m, df)
    for fmt, g in _saved(m, tmp_path).items():
        assert ulp64(g.predict(df, output_margin=True), ref) == 0, fmt


_CTR_CASES = {
    "binary": (catboost.CatBoostClassifier, "binary", {}),
    "multiclass": (catboost.CatBoostClassifier, "multi", {"loss_function": "MultiClass",
                                                           "simple_ctr": ["Borders", "Buckets", "Counter",
                                                                          "BinarizedTargetMeanValue"]}),
    "regression, combinations": (catboost.CatBoostRegressor, "regr", {"max_ctr_complexity": 3, "one_hot_max_size": 6}),
    "combinations of CTR types": (catboost.CatBoostClassifier, "binary", {
        "max_ctr_complexity": 3, "simple_ctr": ["Borders", "Counter", "Buckets"],
        "combinations_ctr": ["Borders", "Counter"]}),
}


@pytest.mark.parametrize("case", list(_CTR_CASES))
def test_ctr_features_from_json_exact(tmp_path, case):
    """CTRs over single categorical features and combinations (with float and one-hot elements),
    every CTR type CatBoost's CPU training writes, unseen categories and integers."""
    pd = pytest.importorskip("pandas")
    cls, target, params = _CTR_CASES[case]
    rng = np.random.default_rng(SEED + 2)
    n = 800
    df = pd.DataFrame({"a": rng.normal(size=n).astype(np.float32), "c": rng.choice([f"c{i}" for i in range(30)], n),
                       "d": rng.choice(list("xyzwvu"), n), "e": rng.integers(0, 20, n)})
    binary = ((df.c.isin(["c1", "c2", "c3"])) ^ (df.a > 0) | (df.d == "x")).astype(int)
    y = {"binary": binary, "multi": binary + (df.e % 3 == 0),
         "regr": df.a + df.c.str[1:].astype(int) * 0.1 + (df.d == "x")}[target]
    m = _train(cls, df, y, iterations=60, depth=5, cat_features=["c", "d", "e"], **params)
    test = df.copy()
    test.loc[::7, "c"] = "unseen"
    test.loc[::5, "e"] = 999
    path = tmp_path / "m.json"
    m.save_model(str(path), format="json")
    doc = json.loads(path.read_bytes())
    assert doc["features_info"]["ctrs"], case
    ref = _raw(m, test)
    for g in (gbinfer.load(path), gbinfer.load(m)):  # the file, and the object through its JSON export
        assert len(g.booster.ctrs) == len(doc["features_info"]["ctrs"])
        assert ulp64(g.predict(test, output_margin=True), ref) == 0, case
        g.warmup()
        np.testing.assert_array_equal(g.predict_leaf(test), m.calc_leaf_indexes(catboost.Pool(test,
                                                                                               cat_features=[1, 2, 3])))


@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
def test_ctr_combinations_with_float_elements_and_nans(tmp_path, nan_mode):
    """A float element of a CTR combination is binarised as the model's float splits are: a NaN
    counts as above every border under nan_mode Max."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(SEED + 3)
    n = 1500
    a = rng.normal(size=n).astype(np.float32)
    a[rng.random(n) < 0.2] = np.nan
    df = pd.DataFrame({"a": a, "c": rng.choice([f"c{i}" for i in range(30)], n), "d": rng.choice(list("xyzwvu"), n)})
    y = np.nan_to_num(df.a, nan=2.0) * (df.c.str[1:].astype(int) % 3) + (df.d == "x")
    m = _train(catboost.CatBoostRegressor, df, y, iterations=150, depth=6, max_ctr_complexity=4, nan_mode=nan_mode,
               cat_features=["c", "d"])
    path = tmp_path / "m.json"
    m.save_model(str(path), format="json")
    ctrs = json.loads(path.read_bytes())["features_info"]["ctrs"]
    assert any(e["combination_element"] == "float_feature" for c in ctrs for e in c["elements"])
    assert ulp64(gbinfer.load(path).predict(df), _raw(m, df)) == 0


def test_malformed_ctr_tables(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(SEED)
    df = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(list("pqrstu"), 300)})
    m = _train(catboost.CatBoostClassifier, df, ((df.c == "p") | (df.a > 0)).astype(int), iterations=5, depth=2,
               cat_features=["c"])
    path = tmp_path / "m.json"
    m.save_model(str(path), format="json")
    js = path.read_bytes()
    key = next(iter(json.loads(js)["ctr_data"]))
    for edit, field in (
            (lambda d: d["ctr_data"][key].update(hash_stride=4), "hash_map|hash_stride"),
            (lambda d: d["ctr_data"][key]["hash_map"].pop(), "hash_map"),
            (lambda d: d["ctr_data"][key]["hash_map"].__setitem__(0, "not a hash"), "hash_map"),
            (lambda d: d["ctr_data"].pop(key), "identifier"),
            (lambda d: d["features_info"]["ctrs"][0]["elements"][0].update(cat_feature_index=9), "elements"),
            (lambda d: d["features_info"]["ctrs"][0].update(ctr_type="Mystery"), "ctr_type"),
            (lambda d: d["features_info"]["ctrs"][0].update(target_border_idx=5), "hash_stride"),
    ):
        with pytest.raises(ModelFormatError, match=field):
            gbinfer.load(_json_edit(js, edit))


# --- refused models ---------------------------------------------------------------------------

def test_text_features_are_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(SEED)
    words = np.array(["red apple", "green pear", "blue sky", "red sky", "green apple"])
    df = pd.DataFrame({"a": rng.normal(size=300), "t": rng.choice(words, 300)})
    y = (df.t.str.startswith("red")).astype(int)
    m = _train(catboost.CatBoostClassifier, df, y, iterations=5, depth=2, text_features=["t"])
    path = tmp_path / "text.cbm"
    m.save_model(str(path))
    with pytest.raises(UnsupportedModelError, match="text|estimated"):
        gbinfer.load(path)


# --- malformed files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    X, _ = _data(n=200)
    m = _train(catboost.CatBoostRegressor, X, X[:, 0] - X[:, 2], iterations=4, depth=3, nan_mode="Max")
    d = tmp_path_factory.mktemp("small")
    m.save_model(str(d / "m.cbm"))
    m.save_model(str(d / "m.json"), format="json")
    return (d / "m.cbm").read_bytes(), (d / "m.json").read_bytes(), X


def test_truncated_cbm(small_model):
    cbm, _, _ = small_model
    for cut in list(range(0, 64)) + list(range(64, len(cbm), 97)):
        with pytest.raises(ModelFormatError):
            gbinfer.load(cbm[:cut], format="catboost")


def test_wrong_magic_and_header(small_model):
    cbm, _, _ = small_model
    with pytest.raises(ModelFormatError):
        gbinfer.load(b"CBM2" + cbm[4:], format="catboost")
    with pytest.raises(ModelFormatError, match="header"):
        gbinfer.load(cbm[:4] + (len(cbm)).to_bytes(4, "little") + cbm[8:])
    bad_version = cbm.replace(b"FlabuffersModel_v1", b"FlabuffersModel_v9")
    with pytest.raises(ModelFormatError, match="FormatVersion"):
        gbinfer.load(bad_version)


def test_flipped_bytes_never_crash(small_model):
    """Every damaged .cbm either loads as some valid model (a changed leaf value is one) or is a
    ModelFormatError; never another exception, never a kernel reading out of bounds."""
    cbm, _, X = small_model
    rng = np.random.default_rng(SEED)
    for pos in rng.choice(np.arange(8, len(cbm)), size=min(400, len(cbm) - 8), replace=False):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(cbm)
            damaged[pos] ^= flip
            try:
                g = gbinfer.load(bytes(damaged))
            except GbinferError as exc:
                assert isinstance(exc, ModelFormatError), exc
                continue
            g.predict(X[:, :g.num_features] if g.num_features <= X.shape[1] else
                      np.zeros((3, g.num_features), dtype=np.float32))


def test_damaged_json_never_crashes(small_model):
    _, js, X = small_model
    rng = np.random.default_rng(SEED)
    for pos in rng.choice(len(js), size=300, replace=False):
        damaged = bytearray(js)
        damaged[pos] = rng.choice(list(b'0123456789-.e,[]{}":x '))
        try:
            g = gbinfer.load(bytes(damaged))
        except GbinferError as exc:
            assert isinstance(exc, ModelFormatError), exc
            continue
        if g.num_features == X.shape[1]:
            g.predict(X)


def _oracle(doc: dict, X: np.ndarray) -> np.ndarray:
    """CatBoost's raw value read straight off its JSON, one row, tree and split at a time: the
    split's own float_feature_index and border, the feature's NaN treatment, bit d for split d."""
    floats = {f["feature_index"]: f for f in doc["features_info"]["float_features"]}
    scale, bias = doc.get("scale_and_bias", [1.0, [0.0]])
    trees = doc["oblivious_trees"]
    dim = len(trees[0]["leaf_values"]) >> len(trees[0]["splits"]) if trees else len(bias)
    out = np.zeros((len(X), dim))
    for r, row in enumerate(X):
        acc = [0.0] * dim
        for tree in trees:
            leaf = 0
            for d, split in enumerate(tree["splits"]):
                f = floats[split["float_feature_index"]]
                x = np.float32(row[f["flat_feature_index"]])
                if np.isnan(x) and f["has_nans"] and f["nan_value_treatment"] != "AsIs":
                    x = np.float32(np.inf if f["nan_value_treatment"] == "AsTrue" else -np.inf)
                leaf |= int(x > np.float32(split["border"])) << d
            for k in range(dim):
                acc[k] += tree["leaf_values"][leaf * dim + k]
        for k in range(dim):
            value = acc[k] * scale if scale != 1 else acc[k]
            out[r, k] = value + bias[k % len(bias)] if bias[k % len(bias)] != 0 else value
    return out[:, 0] if dim == 1 else out


def test_the_oracle_reproduces_catboost(small_model):
    cbm, js, X = small_model
    m = catboost.CatBoost()
    m.load_model(blob=cbm)
    assert ulp64(_oracle(json.loads(js), X), _raw(m, X)) == 0


def test_mutated_numbers_give_a_typed_error_or_the_oracle(small_model):
    """Numbers of the JSON replaced at random: every file gbinfer loads predicts what the oracle
    reads off the same file, bit for bit."""
    _, js, X = small_model
    text = js.decode()
    numbers = list(re.finditer(r"-?\d+(\.\d+)?(e[-+]?\d+)?", text))
    rng = np.random.default_rng(SEED)
    loaded = 0
    for trial in range(250):
        hit = numbers[rng.integers(len(numbers))]
        new = str(rng.choice(["0", "1", "-1", "2", "3", "0.5", "-2.5", "1e30", "7", "65536"]))
        damaged = text[:hit.start()] + new + text[hit.end():]
        try:
            g = gbinfer.load(damaged.encode())
        except GbinferError as exc:
            assert isinstance(exc, ModelFormatError), exc
            continue
        if g.num_features != X.shape[1]:
            continue
        loaded += 1
        assert ulp64(g.predict(X, output_margin=True), _oracle(json.loads(damaged), X)) == 0, damaged[:200]
    assert loaded >= 50


def _json_edit(js: bytes, edit) -> bytes:
    doc = json.loads(js)
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["oblivious_trees"][0]["splits"][0].update(split_index=10**6), "split_index"),
    (lambda d: d["oblivious_trees"][0]["splits"][0].update(float_feature_index=7), "splits"),
    (lambda d: d["oblivious_trees"][0]["leaf_values"].pop(), "leaf_values"),
    (lambda d: d["features_info"]["float_features"][0].update(borders=[1.0, 0.5]), "borders"),
    (lambda d: d["features_info"]["float_features"][0].update(borders=[0.1]), "borders"),
    (lambda d: d["features_info"]["float_features"][0].update(flat_feature_index=-3), "flat_feature_index"),
    (lambda d: d["features_info"]["float_features"][0].update(nan_value_treatment="Sometimes"),
     "nan_value_treatment"),
    (lambda d: d.update(scale_and_bias=[1.0]), "scale_and_bias"),
    (lambda d: d["model_info"]["params"]["loss_function"].update(type="NoSuchLoss"), "loss_function"),
    (lambda d: d["oblivious_trees"][1].pop("splits"), "splits"),
    (lambda d: d["oblivious_trees"][1]["leaf_values"].append(d["oblivious_trees"][0]["leaf_values"].pop()),
     r"oblivious_trees\[0\]/leaf_values"),
    (lambda d: d["oblivious_trees"][0]["leaf_values"].__setitem__(0, "1.5"), "leaf_values"),
    (lambda d: d["oblivious_trees"][0]["splits"].extend(d["oblivious_trees"][0]["splits"] * 6), "splits"),
    (lambda d: d["features_info"]["float_features"][1].update(borders=True), "borders"),
    (lambda d: d["features_info"].update(text_features=[{"feature_index": 0}]), "text_features"),
])
def test_malformed_json(small_model, edit, field):
    _, js, _ = small_model
    with pytest.raises(ModelFormatError, match=field):
        gbinfer.load(_json_edit(js, edit))


def test_cbm_split_out_of_range(small_model):
    """A TreeSplits entry past the model's binary features is caught before any kernel runs."""
    from gbinfer.compat.flatbuffers import Table

    cbm, _, _ = small_model
    trees = Table.root(cbm[8:], None, "TModelCore").table(1, "ModelTrees")
    start, count = trees._vector(1, 4, "TreeSplits")
    damaged = bytearray(cbm)
    damaged[8 + start:8 + start + 4] = (10**6).to_bytes(4, "little")
    with pytest.raises(ModelFormatError, match="tree_splits"):
        gbinfer.load(bytes(damaged))


def _cbm_patch(cbm: bytes, locate, value: bytes) -> bytes:
    """``cbm`` with ``value`` written where ``locate(model trees table)`` points (a FlatBuffer offset)."""
    from gbinfer.compat.flatbuffers import Table

    trees = Table.root(cbm[8:], None, "TModelCore").table(1, "ModelTrees")
    at = 8 + locate(trees)
    return cbm[:at] + value + cbm[at + len(value):]


@pytest.mark.parametrize("locate, value, field", [
    (lambda t: t._vector(1, 4, "TreeSplits")[0] - 4, (1 << 30).to_bytes(4, "little"), "TreeSplits"),
    (lambda t: t._vector(8, 8, "LeafValues")[0] - 4, (3).to_bytes(4, "little"), "leaf_values"),
    (lambda t: t._vector(2, 4, "TreeSizes")[0], (40).to_bytes(4, "little"), "tree_sizes|tree_splits"),
    (lambda t: t.tables(5, "FloatFeatures")[0]._vector(3, 4, "Borders")[0] - 4, (1 << 31).to_bytes(4, "little"),
     "Borders"),
    (lambda t: t.tables(5, "FloatFeatures")[0]._field(2), (1 << 20).to_bytes(4, "little"), "flat_feature_index"),
    (lambda t: t.tables(5, "FloatFeatures")[0]._field(1), (5).to_bytes(4, "little"), "index"),
    (lambda t: t._field(0), (0).to_bytes(4, "little"), "ApproxDimension"),
])
def test_malformed_cbm_fields(small_model, locate, value, field):
    cbm, _, _ = small_model
    with pytest.raises(ModelFormatError, match=field):
        gbinfer.load(_cbm_patch(cbm, locate, value))


def test_gzip_damaged(small_model):
    cbm, _, _ = small_model
    gz = gzip.compress(cbm)
    with pytest.raises(ModelFormatError, match="gzip"):
        gbinfer.load(gz[:len(gz) // 2])


def test_unfitted_object_refused():
    with pytest.raises(DataError, match="unfitted"):
        gbinfer.load(catboost.CatBoostRegressor())
