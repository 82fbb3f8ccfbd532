"""LightGBM models trained here, loaded by gbinfer and compared with lightgbm's own predictions
bit for bit: raw scores, transformed outputs, leaf indices, iteration ranges."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError, ModelFormatError, UnsupportedModelError

lgb = pytest.importorskip("lightgbm")

N = 400
SPECIAL = np.array([np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, 1.0000000180025095e-35, np.inf, -np.inf])


def _data(seed=0, n=N, d=6, nan_rate=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random(X.shape) < nan_rate] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    return X, rng


def _probe(X, seed=1):
    """Rows that exercise the rules: the training rows, then special values in every column."""
    rng = np.random.default_rng(seed)
    extra = np.tile(X[:len(SPECIAL)], (1, 1)).copy()
    for j in range(X.shape[1]):
        extra[:, j] = rng.permutation(SPECIAL)
    return np.vstack([X, extra])


def _train(params, X, y, rounds=12, **kwargs):
    params = {"verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5, "seed": 7, "deterministic": True,
              "num_threads": 1, **params}
    return lgb.train(params, lgb.Dataset(X, y, **kwargs), rounds)


def _check(booster, X, model=None):
    """Our raw scores, outputs and leaves equal lightgbm's exactly, for all rounds and a range."""
    model = model or gbinfer.load(booster.model_to_string().encode())
    np.testing.assert_array_equal(model.predict(X, output_margin=True), booster.predict(X, raw_score=True))
    np.testing.assert_array_equal(model.predict(X), booster.predict(X))
    np.testing.assert_array_equal(model.predict_leaf(X), booster.predict(X, pred_leaf=True))
    raw, pred = booster.predict(X, raw_score=True), booster.predict(X)
    for i in [*range(4), *range(max(len(X) - len(SPECIAL), 0), len(X))]:  # one row takes its own path
        if i < len(X) and isinstance(X, np.ndarray):
            row = np.ascontiguousarray(X[i:i + 1])
            np.testing.assert_array_equal(model.predict(row, output_margin=True), raw[i:i + 1], strict=True)
            np.testing.assert_array_equal(model.predict(row), pred[i:i + 1], strict=True)
    rounds = booster.current_iteration()
    if rounds >= 3:
        a, b = 1, rounds - 1
        np.testing.assert_array_equal(model.predict(X, iteration_range=(a, b)),
                                      booster.predict(X, start_iteration=a, num_iteration=b - a))
        np.testing.assert_array_equal(model.predict(X, iteration_range=(a, b), output_margin=True),
                                      booster.predict(X, start_iteration=a, num_iteration=b - a, raw_score=True))
        np.testing.assert_array_equal(model.predict_leaf(X, iteration_range=(a, b)),
                                      booster.predict(X, start_iteration=a, num_iteration=b - a, pred_leaf=True))
    return model


@pytest.mark.parametrize("params", [
    {"objective": "regression"},
    {"objective": "regression", "reg_sqrt": True},
    {"objective": "regression_l1"},
    {"objective": "huber"},
    {"objective": "fair"},
    {"objective": "quantile", "alpha": 0.3},
    {"objective": "mape"},
])
def test_regression_objectives(params):
    X, rng = _data()
    y = 3 * np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(size=len(X)) + 5
    _check(_train(params, X, y), _probe(X))


@pytest.mark.parametrize("objective", ["poisson", "gamma", "tweedie"])
def test_count_objectives(objective):
    X, rng = _data(1)
    y = rng.poisson(np.exp(0.5 * np.nan_to_num(X[:, 0]))) + (objective == "gamma")
    _check(_train({"objective": objective}, X, y), _probe(X))


@pytest.mark.parametrize("params", [
    {"objective": "binary"},
    {"objective": "binary", "sigmoid": 0.7},
    {"objective": "binary", "sigmoid": 1.234567},
    {"objective": "cross_entropy"},
    {"objective": "cross_entropy_lambda"},
])
def test_binary_objectives(params):
    X, rng = _data(2)
    y = (np.nan_to_num(X[:, 0]) + 0.5 * rng.normal(size=len(X)) > 0).astype(float)
    _check(_train(params, X, y), _probe(X))


@pytest.mark.parametrize("objective", ["multiclass", "multiclassova"])
def test_multiclass(objective):
    X, rng = _data(3)
    y = np.digitize(np.nan_to_num(X[:, 0]) + 0.3 * rng.normal(size=len(X)), [-0.5, 0.5])
    booster = _train({"objective": objective, "num_class": 3}, X, y, rounds=6)
    model = _check(booster, _probe(X))
    assert model.predict(X).shape == (len(X), 3)


@pytest.mark.parametrize("objective", ["lambdarank", "rank_xendcg"])
def test_ranking(objective):
    X, rng = _data(4)
    y = rng.integers(0, 4, size=len(X))
    _check(_train({"objective": objective}, X, y, group=[40] * 10), _probe(X))


def test_custom_objective_is_raw():
    X, rng = _data(5)
    y = np.nan_to_num(X[:, 0]) + rng.normal(size=len(X))

    def l2(preds, data):
        return preds - data.get_label(), np.ones_like(preds)

    booster = _train({"objective": l2}, X, y)
    text = booster.model_to_string()
    assert "\nobjective=" not in text  # no objective line: raw scores
    _check(booster, _probe(X))
    model = gbinfer.load(text.replace("max_feature_idx=5\n", "max_feature_idx=5\nobjective=custom\n").encode())
    np.testing.assert_array_equal(model.predict(X), booster.predict(X))


@pytest.mark.parametrize("params", [
    {"use_missing": False},  # missing type None: NaN reads as 0.0
    {"zero_as_missing": True},  # missing type Zero
    {},  # missing type NaN
])
def test_missing_types(params):
    X, rng = _data(6, nan_rate=0.3)
    X[rng.random(X.shape) < 0.2] = 1e-36
    y = np.where(np.isnan(X[:, 0]), 3.0, np.nan_to_num(X[:, 0])) + (X[:, 1] == 0) * 2 + rng.normal(size=len(X))
    _check(_train({"objective": "regression", **params}, X, y), _probe(X))


@pytest.mark.parametrize("max_cat", [30, 5000, 300_000])
def test_categorical(max_cat):
    X, rng = _data(7)
    X[:, 2] = rng.choice(np.linspace(0, max_cat - 1, 12).astype(int), size=len(X))  # large ids, each frequent
    X[:, 3] = rng.integers(0, 8, size=len(X))
    y = (X[:, 2] % 7) + 2 * (X[:, 3] == 3) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "max_cat_to_onehot": 4, "min_data_per_group": 5,
                      "cat_smooth": 1}, X, y, categorical_feature=[2, 3])
    model = gbinfer.load(booster.model_to_string().encode())
    assert len(model.booster.forest.cat_bits) >= max_cat // 32 // 2  # bitsets reach the large ids
    probe = _probe(X)
    odd = np.array([-1.0, -0.5, 0.99, 2.7, 3.0, 7.5, max_cat + 100.0, 2.0**31, 2.0**40, -2.0**40, np.nan, 1e-36,
                    max_cat - 1.0, max_cat - 1.5, max_cat - 2.0, 31.0, 32.0, 33.0])
    extra = np.repeat(X[:len(odd)], 1, axis=0).copy()
    extra[:, 2] = odd
    extra[:, 3] = odd[::-1]
    _check(booster, np.vstack([probe, extra]))


def test_random_forest_averages_only_transformed_output():
    X, rng = _data(8)
    y = (np.nan_to_num(X[:, 0]) > 0).astype(float)
    booster = _train({"objective": "binary", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7,
                      "feature_fraction": 0.8}, X, y, rounds=8)
    _check(booster, _probe(X))


def test_linear_trees():
    X, rng = _data(9, nan_rate=0.05)
    y = 2 * np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + rng.normal(size=len(X)) * 0.1
    booster = _train({"objective": "regression", "linear_tree": True, "linear_lambda": 0.1}, X, y)
    assert "is_linear=1" in booster.model_to_string()
    _check(booster, _probe(X))


def test_one_leaf_trees_and_early_stopped_files():
    X, _ = _data(10)
    y = np.ones(len(X))
    booster = _train({"objective": "regression"}, X, y, rounds=3)
    _check(booster, _probe(X))


def test_float32_int_and_sparse_input():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, rng = _data(11, nan_rate=0.0)
    X[rng.random(X.shape) < 0.6] = 0.0
    y = np.nan_to_num(X[:, 0]) + X[:, 1] + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "zero_as_missing": True}, X, y)
    model = gbinfer.load(booster.model_to_string().encode())
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(model.predict(X32), booster.predict(X32))
    for i in range(8):  # one float32 row takes its own path
        np.testing.assert_array_equal(model.predict(X32[i:i + 1]), booster.predict(X32[i:i + 1]), strict=True)
    Xi = np.round(X * 3).astype(np.int64)
    np.testing.assert_array_equal(model.predict(Xi), booster.predict(Xi))
    csr = scipy_sparse.csr_matrix(X)
    csr.data[::7] = 1e-36  # stored tiny values stay as they are in LightGBM's sparse path
    np.testing.assert_array_equal(model.predict(csr), booster.predict(csr))
    np.testing.assert_array_equal(model.predict_leaf(csr), booster.predict(csr, pred_leaf=True))
    np.testing.assert_array_equal(model.predict(csr.tocsc()), booster.predict(csr.tocsc()))


def test_pandas_categorical():
    pd = pytest.importorskip("pandas")
    X, rng = _data(12, d=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["colour"] = pd.Categorical(rng.choice(["red", "green", "blue", "grey"], size=len(X)))
    frame["size"] = pd.Categorical(rng.choice([10, 20, 30], size=len(X)))
    y = (frame["colour"] == "red") * 3 + (frame["size"] == 20) + np.nan_to_num(X[:, 0]) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1}, frame, y.to_numpy())
    model = _check(booster, frame)
    # another frame: categories in another order, an unseen one, a missing one
    test = frame.iloc[:50].copy()
    test["colour"] = pd.Categorical(rng.choice(["grey", "purple", "red", None], size=50))
    test["size"] = pd.Categorical(rng.choice([30, 20, 40], size=50))
    np.testing.assert_array_equal(model.predict(test), booster.predict(test))
    np.testing.assert_array_equal(model.predict_leaf(test), booster.predict(test, pred_leaf=True))
    # a DataMatrix of those rows (float32, as it holds numbers), its categories as pandas categories
    # or as plain values it numbers in order of appearance: coded by value, as lightgbm codes the frame
    exact = test.astype({name: np.float32 for name in "abc"})
    expected = booster.predict(exact)
    assert np.unique(expected).size > 10
    columns = {name: exact[name].to_numpy() for name in "abc"}
    columns |= {name: exact[name].astype(object).to_numpy() for name in ("colour", "size")}
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(columns)), expected)
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(exact)), expected)
    # a file written by save_model keeps pandas_categorical
    again = gbinfer.load(booster.model_to_string().encode())
    np.testing.assert_array_equal(again.predict(test), booster.predict(test))


def near_thresholds(booster, X):
    """Rows of ``X`` with one feature set a float64 step above one split threshold each: rounded to
    float32 most of them would fall to the other side, so they catch float64 input read as float32."""
    thresholds = []

    def walk(node):
        if "split_feature" in node and node["decision_type"] == "<=":
            thresholds.append((node["split_feature"], node["threshold"]))
        for child in ("left_child", "right_child"):
            if child in node:
                walk(node[child])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    Z = np.tile(X[:1], (len(thresholds), 1))
    for i, (j, t) in enumerate(thresholds):
        Z[i, j] = np.nextafter(t, np.inf)
    return Z


def test_a_data_matrix_keeps_float64_numbers():
    """A DataMatrix holds float32 for XGBoost; a LightGBM model reads its rows again, in float64,
    from whatever it was built from, so each form predicts as lightgbm does on the same numbers."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, rng = _data(21, d=4, nan_rate=0.0)
    booster = _train({"objective": "regression"}, X, X[:, 0] - X[:, 2] + rng.normal(size=len(X)), rounds=20)
    model = gbinfer.load(booster.model_to_string().encode())
    Z = near_thresholds(booster, X)
    expected = booster.predict(Z)
    assert not np.array_equal(booster.predict(Z.astype(np.float32)), expected)  # the rows do tell
    names = [f"f{j}" for j in range(4)]
    forms = {"array": Z, "frame": pd.DataFrame(Z, columns=names),
             "dict": {n: Z[:, j] for j, n in enumerate(names)},
             "dict of Series": {n: pd.Series(Z[:, j]) for j, n in enumerate(names)},
             "arrow": pa.table({n: Z[:, j] for j, n in enumerate(names)})}
    for what, data in forms.items():
        np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(data)), expected, err_msg=what)
        np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(gbinfer.DataMatrix(data))), expected,
                                      err_msg=what)
    csr = scipy_sparse.csr_matrix(np.where(rng.random(Z.shape) < 0.3, 0.0, Z))
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(csr)), booster.predict(csr))
    # missing values, given once or by a DataMatrix of a DataMatrix, compared in float64
    marked = Z.copy()
    marked[::3, 1], marked[1::3, 2] = -999.0, 1e30
    cleared = np.where((marked == -999.0) | (marked == 1e30), np.nan, marked)
    once = gbinfer.DataMatrix(marked, missing=-999.0)
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(once, missing=1e30)), booster.predict(cleared))
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(scipy_sparse.csr_matrix(marked), missing=-999.0)),
                                  booster.predict(scipy_sparse.csr_matrix(np.where(marked == -999.0, np.nan, marked))))


def test_a_dict_may_mix_category_codes_and_values():
    """Where the model knows its categorical features, each category column takes its own feature's
    training categories, so one may come as strings and another as the codes it was trained on."""
    pd = pytest.importorskip("pandas")
    X, rng = _data(22, d=2, nan_rate=0.0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame["colour"] = pd.Categorical(rng.choice(["red", "green", "blue"], size=len(X)))
    frame["size"] = pd.Categorical(rng.choice(["S", "M", "L"], size=len(X)))
    y = (frame["colour"] == "red") * 2 + (frame["size"] == "L") + X[:, 0] + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1}, frame, y.to_numpy())
    model = gbinfer.load(booster.model_to_string().encode())
    test = frame.iloc[:60]
    columns = {"a": test["a"].to_numpy(), "b": test["b"].to_numpy(),
               "colour": test["colour"].cat.codes.to_numpy().astype(np.float64),  # codes of the training order
               "size": test["size"].astype(object).to_numpy()}
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(columns)), booster.predict(test))
    # missing applies to numbers, not to a category column's codes (code 0 is the first category)
    marked = {**columns, "a": np.where(np.arange(60) % 4 == 0, 0.0, columns["a"]),
              "colour": test["colour"].astype(object).to_numpy(),
              "size": test["size"].array}  # a pandas Categorical: its own codes, 0 among them
    cleared = test.assign(a=np.where(np.arange(60) % 4 == 0, np.nan, test["a"]))
    expected = booster.predict(cleared)
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(marked, missing=0.0)), expected)
    frame = pd.DataFrame(marked).astype({"colour": "category"})
    np.testing.assert_array_equal(model.predict(gbinfer.DataMatrix(frame, missing=0.0)), expected)
    with pytest.raises(DataError, match="'a' holds categories but the model's feature 0 is numeric"):
        model.predict(gbinfer.DataMatrix({**columns, "a": np.array(["x"] * 60, dtype=object)}))


def test_category_values_need_the_training_categories():
    """Values (not codes) of a category column mean nothing to a model trained on integer codes:
    refused, where numbering them in order of appearance would predict garbage."""
    X, rng = _data(16, d=3)
    X[:, 2] = rng.integers(0, 3, size=len(X))
    booster = _train({"objective": "regression", "min_data_per_group": 5}, X, X[:, 2] + rng.normal(size=len(X)),
                     rounds=3, categorical_feature=[2])
    model = gbinfer.load(booster.model_to_string().encode())
    columns = {"a": X[:5, 0], "b": X[:5, 1], "c": np.array(["x", "y", "x", "z", "y"], dtype=object)}
    with pytest.raises(DataError, match="training categories"):
        model.predict(gbinfer.DataMatrix(columns))


def test_load_booster_and_sklearn_objects(tmp_path):
    X, rng = _data(13)
    y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
    clf = lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1).fit(X, y)
    np.testing.assert_array_equal(gbinfer.load(clf).predict(X), clf.booster_.predict(X))
    np.testing.assert_array_equal(gbinfer.load(clf.booster_).predict(X), clf.booster_.predict(X))
    path = tmp_path / "model.txt"
    clf.booster_.save_model(str(path))
    np.testing.assert_array_equal(gbinfer.load(path).predict(X), clf.booster_.predict(X))
    with pytest.raises(DataError):
        gbinfer.load(lgb.LGBMRegressor())


def test_wrong_width_is_refused():
    X, rng = _data(14)
    booster = _train({"objective": "regression"}, X, rng.normal(size=len(X)), rounds=2)
    model = gbinfer.load(booster.model_to_string().encode())
    with pytest.raises(DataError, match="columns"):
        model.predict(X[:, :3])


# --- malformed files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text():
    X, rng = _data(15)
    X[:, 2] = rng.integers(0, 40, size=len(X))
    y = X[:, 2] % 5 + np.nan_to_num(X[:, 0]) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1,
                      "max_cat_to_onehot": 2}, X, y, rounds=3, categorical_feature=[2])
    return booster.model_to_string()


def _load(text_or_bytes):
    data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    return gbinfer.load(data)


def _replace_field(text, tree, field, transform):
    head, _, rest = text.partition(f"Tree={tree}\n")
    lines = rest.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(field + "="):
            lines[i] = field + "=" + transform(line[len(field) + 1:])
            break
    else:
        raise AssertionError(f"no {field} in tree {tree}")
    return head + f"Tree={tree}\n" + "\n".join(lines)


def _without_tree_sizes(text):
    return "\n".join(line for line in text.split("\n") if not line.startswith("tree_sizes="))


def test_reference_file_loads(text):
    _load(text)
    _load(_without_tree_sizes(text))


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated(text, cut):
    data = text.encode()[:int(len(text) * cut)]
    with pytest.raises(ModelFormatError):
        _load(data)
    with pytest.raises(ModelFormatError):
        _load(_without_tree_sizes(text).encode()[:int(len(text) * cut)])


def test_tree_sizes_disagree(text):
    sizes = next(line for line in text.split("\n") if line.startswith("tree_sizes="))
    values = sizes[len("tree_sizes="):].split()
    values[0] = str(int(values[0]) + 1)
    with pytest.raises(ModelFormatError, match="Tree=0|tree_sizes"):
        _load(text.replace(sizes, "tree_sizes=" + " ".join(values)))
    with pytest.raises(ModelFormatError, match="tree_sizes"):
        _load(text.replace(sizes, "tree_sizes=" + " ".join(values[:-1])))


def test_child_out_of_range(text):
    bad = _replace_field(text, 1, "left_child", lambda v: " ".join(["99"] + v.split()[1:]))
    with pytest.raises(ModelFormatError, match=r"Tree=1\.left_child\[0\]"):
        _load(_without_tree_sizes(bad))
    bad = _replace_field(text, 1, "right_child", lambda v: " ".join(["-99"] + v.split()[1:]))
    with pytest.raises(ModelFormatError, match=r"Tree=1\.right_child\[0\]"):
        _load(_without_tree_sizes(bad))


def test_cycle(text):
    def loop(v):
        values = v.split()
        values[1] = "0"  # node 1 points back to the root
        return " ".join(values)

    with pytest.raises(ModelFormatError, match="Tree=0.*reached twice|Tree=0.*not reachable"):
        _load(_without_tree_sizes(_replace_field(text, 0, "left_child", loop)))


def test_feature_out_of_range(text):
    bad = _replace_field(text, 0, "split_feature", lambda v: " ".join(["6"] + v.split()[1:]))
    with pytest.raises(ModelFormatError, match=r"Tree=0\.split_feature\[0\]"):
        _load(_without_tree_sizes(bad))


def test_bitset_index_out_of_range(text):
    tree = next(i for i in range(3) if f"num_cat=0" not in text.split(f"Tree={i}\n")[1].split("\n\n")[0])
    block = text.split(f"Tree={tree}\n")[1].split("\n\n")[0]
    types = next(line for line in block.split("\n") if line.startswith("decision_type=")).split("=")[1].split()
    node = next(i for i, t in enumerate(types) if int(t) & 1)

    def big(v):
        values = v.split()
        values[node] = "1000"
        return " ".join(values)

    with pytest.raises(ModelFormatError, match=rf"Tree={tree}\.threshold\[{node}\]"):
        _load(_without_tree_sizes(_replace_field(text, tree, "threshold", big)))
    with pytest.raises(ModelFormatError, match=rf"Tree={tree}\.cat_boundaries"):
        _load(_without_tree_sizes(_replace_field(text, tree, "cat_boundaries",
                                                 lambda v: " ".join(v.split()[:-1] + ["100000"]))))


def test_wrong_counts_and_values(text):
    with pytest.raises(ModelFormatError, match=r"Tree=0\.leaf_value"):
        _load(_without_tree_sizes(_replace_field(text, 0, "leaf_value", lambda v: v + " 1.5")))
    with pytest.raises(ModelFormatError, match=r"Tree=0\.threshold"):
        _load(_without_tree_sizes(_replace_field(text, 0, "threshold", lambda v: "abc " + " ".join(v.split()[1:]))))
    with pytest.raises(ModelFormatError, match=r"Tree=0\.num_leaves"):
        _load(_without_tree_sizes(_replace_field(text, 0, "num_leaves", lambda v: "99999999999999")))
    with pytest.raises(ModelFormatError, match="num_class"):
        _load(text.replace("num_class=1", "num_class=abc"))
    with pytest.raises(ModelFormatError, match="feature_names"):
        _load(text.replace("max_feature_idx=5", "max_feature_idx=6"))


def test_unknown_objective(text):
    with pytest.raises(UnsupportedModelError, match="objective"):
        _load(text.replace("objective=regression", "objective=surprise"))
    with pytest.raises(ModelFormatError, match="objective"):
        _load(text.replace("objective=regression", "objective=binary sigmoid:-1"))


@pytest.mark.parametrize("field, value", [
    ("decision_type", lambda v: "1_0 " + " ".join(v.split()[1:])),  # Python's int() reads 10, C's strtol 1
    ("threshold", lambda v: "0_5 " + " ".join(v.split()[1:])),
    ("leaf_value", lambda v: v.replace(" ", "\x0c", 1)),  # LightGBM separates values by spaces only
    ("left_child", lambda v: "\u0661" + v[1:] if v[0] != "-" else "\u0661" + v[2:]),  # a non-ASCII digit
])
def test_numbers_only_python_would_read_are_refused(text, field, value):
    bad = _replace_field(_without_tree_sizes(text), 0, field, value)
    with pytest.raises(ModelFormatError, match=rf"Tree=0\.{field}|Tree=0"):
        _load(bad)


@pytest.mark.parametrize("line", ["max_feature_idx=\u0665", "num_class=\u0661"])
def test_header_integers_with_non_ascii_digits_are_refused(text, line):
    key = line.split("=")[0]
    bad = "\n".join(line if old.startswith(key + "=") else old for old in text.split("\n"))
    with pytest.raises(ModelFormatError, match=key):
        _load(bad)


def test_tree_numbers_and_sizes_too_long_for_int_are_refused(text):
    with pytest.raises(ModelFormatError, match="Tree=0"):
        _load(_without_tree_sizes(text).replace("Tree=0\n", "Tree=" + "0" * 5000 + "\n", 1))
    sizes = next(line for line in text.split("\n") if line.startswith("tree_sizes="))
    with pytest.raises(ModelFormatError, match="tree_sizes"):
        _load(text.replace(sizes, "tree_sizes=\u00b2 " + " ".join(sizes.split("=")[1].split()[1:])))


def test_blank_line_before_a_trees_fields_is_refused(text):
    """LightGBM's tree reader stops at the first blank line: it would read an empty tree."""
    bad = _without_tree_sizes(text).replace("Tree=1\n", "Tree=1\n\n", 1)
    with pytest.raises(ModelFormatError, match="Tree=1"):
        _load(bad)


def test_tree_counts_with_other_whitespace_are_refused(text):
    bad = _replace_field(_without_tree_sizes(text), 0, "num_cat", lambda v: "\x0c" + v)
    with pytest.raises(ModelFormatError, match=r"Tree=0\.num_cat"):
        _load(bad)


def test_json_dump_and_pickle_are_refused():
    X, rng = _data(16)
    booster = _train({"objective": "regression"}, X, rng.normal(size=len(X)), rounds=2)
    import json

    with pytest.raises(UnsupportedModelError, match="dump_model"):
        gbinfer.load(json.dumps(booster.dump_model()).encode())
    with pytest.raises(ModelFormatError):
        gbinfer.load(pickle.dumps(booster))


# --- mutated files: a typed error, or LightGBM's rules applied to what was read ----------------

FIXTURES = __import__("pathlib").Path(__file__).parent.parent / "fixtures" / "lightgbm"
NASTY = ["-1", "0", "1", "-2", "99999999999", "nan", "inf", "-inf", "1e308", "abc", "", "2147483648", "-0", "3.5",
         "1e-36", "10", "31"]


def _oracle(text: str, X: np.ndarray) -> np.ndarray:
    """Raw scores by the fuzz suite's independent reading of the text and literal walk of
    LightGBM's ``Tree::Predict``, row by row (no keys, no packing)."""
    from fuzz import reference_lightgbm

    model = reference_lightgbm.read(text.encode())
    out = reference_lightgbm.margins(model, reference_lightgbm.prepare(np.asarray(X, dtype=np.float64).tolist()))
    return out[:, 0] if model.num_outputs == 1 else out


@pytest.mark.parametrize("case", ["4.7.0/categorical", "4.7.0/linear_tree", "4.7.0/missing_zero",
                                  "2.1.2/multiclass"])
def test_oracle_is_lightgbm(case):
    with np.load(FIXTURES / f"{case}.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(_oracle((FIXTURES / f"{case}.txt").read_text(), f["X"]), f["raw"])


@pytest.mark.parametrize("seed", range(4))
def test_mutated_files(seed):
    import random
    import re

    rng = random.Random(seed)
    texts = [p.read_text() for p in sorted(FIXTURES.glob("4.7.0/*.txt")) + sorted(FIXTURES.glob("2.1.2/*.txt"))
             if p.stem in ("categorical", "multiclass", "linear_tree", "missing_zero", "binary")]
    X = _probe(_data(20, d=5)[0][:30])
    X[:10, 3] = [-1.0, 0.5, 3.0, 7.0, 4000.0, 2.0**31, np.nan, 1e-36, 31.0, 32.0]
    loaded = 0
    for trial in range(60):
        lines = rng.choice(texts).split("\n")
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(lines))
            if rng.random() < 0.7 and "=" in lines[i]:
                key, _, value = lines[i].partition("=")
                words = value.split(" ")
                words[rng.randrange(len(words))] = rng.choice(NASTY)
                lines[i] = key + "=" + " ".join(words)
            elif rng.random() < 0.5:
                del lines[i]
            else:
                lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
        text = "\n".join(lines)
        if rng.random() < 0.5:
            text = re.sub(r"tree_sizes=.*\n", "", text)
        try:
            model = gbinfer.load(text.encode())
        except gbinfer.errors.GbinferError:
            continue
        loaded += 1
        rows = X[:, :model.num_features] if model.num_features <= X.shape[1] else \
            np.pad(X, ((0, 0), (0, model.num_features - X.shape[1])))
        np.testing.assert_array_equal(model.predict(rows, output_margin=True), _oracle(text, rows))
    assert loaded > 0


def test_many_features_smaller_blocks():
    """A forest reading hundreds of features walks fewer rows per block (its keys would not
    fit the cache); the rows are split differently, the results are the same."""
    rng = np.random.default_rng(21)
    X = rng.normal(size=(700, 400))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, :50]).sum(1) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "num_leaves": 31, "feature_fraction": 0.5}, X, y, rounds=40)
    model = gbinfer.load(booster.model_to_string().encode())
    assert len(model.booster.forest.slots) > 128
    np.testing.assert_array_equal(model.predict(X), booster.predict(X))
    np.testing.assert_array_equal(model.predict(X, nthread=1), booster.predict(X))
    np.testing.assert_array_equal(model.predict_leaf(X), booster.predict(X, pred_leaf=True))


@pytest.mark.parametrize("case", ["categorical", "multiclass", "random_forest", "missing_zero", "binary",
                                  "lambdarank"])
def test_saved_forms_predict_the_same(tmp_path, case):
    model = gbinfer.load(FIXTURES / "4.7.0" / f"{case}.txt")
    with np.load(FIXTURES / "4.7.0" / f"{case}.npz") as f:
        X, expected = f["X"], {k: f[k] for k in ("raw", "pred", "leaf")}
    for name in ("m.xgbrs", "m.json", "m.apr"):
        gbinfer.save(model, tmp_path / name)
        again = gbinfer.load(tmp_path / name)
        np.testing.assert_array_equal(again.predict(X, output_margin=True), expected["raw"])
        np.testing.assert_array_equal(again.predict(X), expected["pred"])
        np.testing.assert_array_equal(again.predict_leaf(X), expected["leaf"])
    assert model.warmup() is model


@pytest.mark.parametrize("case", ["linear_tree", "regression_sqrt", "cross_entropy_lambda", "random_forest"])
def test_schema_1_2_forms_round_trip(tmp_path, case):
    """Linear leaves, the transforms only LightGBM has and average_output (schema 1.2): every saved
    form predicts what lightgbm predicted, raw, transformed and leaves."""
    model = gbinfer.load(FIXTURES / "4.7.0" / f"{case}.txt")
    with np.load(FIXTURES / "4.7.0" / f"{case}.npz") as f:
        X, expected = f["X"], {k: f[k] for k in ("raw", "pred", "leaf")}
    for name in ("m.xgbrs", "m.json", "m.apr"):
        gbinfer.save(model, tmp_path / name)
        again = gbinfer.load(tmp_path / name)
        np.testing.assert_array_equal(again.predict(X, output_margin=True), expected["raw"])
        np.testing.assert_array_equal(again.predict(X), expected["pred"])
        np.testing.assert_array_equal(again.predict_leaf(X), expected["leaf"])
        assert again.booster.forest.average_output == (case == "random_forest")
        assert again.booster.forest.has_linear == (case == "linear_tree")


def test_fresh_linear_tree_round_trips(tmp_path):
    X, rng = _data(31, nan_rate=0.05)
    y = 2 * np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "linear_tree": True, "linear_lambda": 0.1}, X, y, rounds=6)
    P = _probe(X)
    for name in ("m.xgbrs", "m.json"):
        gbinfer.save(gbinfer.load(booster.model_to_string().encode()), tmp_path / name)
        _check(booster, P, gbinfer.load(tmp_path / name))


def test_schema_1_1_lightgbm_document_keeps_average_output():
    """1.1 kept average_output in source_attributes; the 1.1 -> 1.2 link moves it to the booster."""
    import json

    from gbinfer.serialization import json as native

    model = gbinfer.load(FIXTURES / "4.7.0" / "random_forest.txt")
    doc = json.loads(native.dumps(model))
    doc["gbinfer_schema"] = [1, 1]
    doc["model"]["source_attributes"]["average_output"] = doc["booster"].pop("average_output")
    again = gbinfer.load(json.dumps(doc).encode())
    assert again.booster.forest.average_output
    assert "average_output" not in again.meta.attributes
    with np.load(FIXTURES / "4.7.0" / "random_forest.npz") as f:
        np.testing.assert_array_equal(again.predict(f["X"]), f["pred"])


def _saved(mutate):
    import json

    from gbinfer.serialization import json as native

    doc = json.loads(native.dumps(gbinfer.load(FIXTURES / "4.7.0" / "categorical.txt")))
    mutate(doc["arrays"], doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("mutate, field", [
    (lambda a, d: a["node_id"]["data"].__setitem__(a["node_id"]["data"].index(1), 0), "node_id"),
    (lambda a, d: a["left_child"]["data"].__setitem__(0, 60), "left_child"),
    (lambda a, d: a["missing_type"]["data"].__setitem__(0, 3), "missing_type"),
    (lambda a, d: a["split_feature"]["data"].__setitem__(0, 9), "split_feature"),
    (lambda a, d: d["booster"].__setitem__("average_output", "yes"), "average_output"),
    (lambda a, d: d["model"]["source_attributes"].__setitem__("average_output", True), "average_output"),
    (lambda a, d: a["base_score"]["data"].__setitem__(0, 0.5), "base_score"),
    (lambda a, d: d["objective"].__setitem__("transform", "signed_square"), "objective/transform"),
    (lambda a, d: d["model"]["source_attributes"].__setitem__("objective", "surprise"), "objective"),
])
def test_malformed_saved_forest(mutate, field):
    with pytest.raises(ModelFormatError, match=field):
        gbinfer.load(_saved(mutate))


def test_saved_tree_whose_first_node_is_a_leaf_is_refused():
    """The schema's root is a tree's first node: a leaf there, with the split after it, is not the
    same tree as LightGBM's numbering (first split = root) would make of it."""
    import json

    from gbinfer.serialization import json as native

    X, rng = _data(41, nan_rate=0.0)
    booster = _train({"objective": "regression", "num_leaves": 2}, X, X[:, 0] + rng.normal(size=len(X)), rounds=2)
    doc = json.loads(native.dumps(gbinfer.load(booster.model_to_string().encode())))
    a = doc["arrays"]
    assert a["tree_offsets"]["data"][:2] == [0, 3] and a["left_child"]["data"][:3] == [1, -1, -1]
    for name in ("split_feature", "threshold", "default_left", "split_kind", "missing_type", "node_id"):
        d = a[name]["data"]
        d[0], d[1] = d[1], d[0]
    d = a["leaf_values"]["data"]
    d[0], d[1] = d[1], d[0]
    a["left_child"]["data"][:3] = [-1, 0, -1]
    a["right_child"]["data"][:3] = [-1, 2, -1]
    with pytest.raises(ModelFormatError, match="left_child"):
        gbinfer.load(json.dumps(doc).encode())


# --- fresh models over random settings ------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=12, deadline=None, derandomize=True)
@hypothesis.given(
    objective=st.sampled_from(["regression", "binary", "poisson", "multiclass", "huber", "cross_entropy"]),
    num_leaves=st.integers(2, 40),
    missing=st.sampled_from([{}, {"use_missing": False}, {"zero_as_missing": True}]),
    categorical=st.booleans(),
    linear=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fresh_models(objective, num_leaves, missing, categorical, linear, seed):
    X, rng = _data(seed, n=300, nan_rate=0.15)
    if categorical:
        X[:, 4] = rng.integers(-2, 300, size=len(X)).astype(float)
    s = np.nan_to_num(X[:, 0]) + np.where(np.isnan(X[:, 1]), 1.0, 0.0) + (np.nan_to_num(X[:, 4]) % 3 if categorical
                                                                          else 0)
    y = {"binary": (s > 0.5).astype(float), "cross_entropy": (s > 0.5).astype(float),
         "poisson": rng.poisson(np.exp(0.3 * np.tanh(s))), "multiclass": np.digitize(s, [0.0, 1.0])}.get(
        objective, s + rng.normal(size=len(X)))
    params = {"objective": objective, "num_leaves": num_leaves,
              "linear_tree": linear and not categorical and "zero_as_missing" not in missing,
              "min_data_per_group": 5, "cat_smooth": 1, **missing}
    if objective == "multiclass":
        params["num_class"] = 3
    booster = _train(params, X, y, rounds=5, categorical_feature=[4] if categorical else "auto")
    _check(booster, _probe(X))


def test_several_blocks_serial_and_parallel():
    X, rng = _data(22, n=2600, nan_rate=0.05)
    X[:, 3] = rng.integers(0, 50, size=len(X))
    y = np.nan_to_num(X[:, 0]) + (X[:, 3] % 4) + rng.normal(size=len(X))
    booster = _train({"objective": "regression", "min_data_per_group": 5}, X, y, rounds=20,
                     categorical_feature=[3])
    model = gbinfer.load(booster.model_to_string().encode())
    for nthread in (1, 2):
        np.testing.assert_array_equal(model.predict(X, nthread=nthread), booster.predict(X))
        np.testing.assert_array_equal(model.predict_leaf(X, nthread=nthread), booster.predict(X, pred_leaf=True))


def test_arrow_table():
    pa = pytest.importorskip("pyarrow")
    for case in ("missing_zero", "missing_none", "categorical"):
        path = FIXTURES / "4.7.0" / f"{case}.txt"
        booster, model = lgb.Booster(model_file=str(path)), gbinfer.load(path)
        with np.load(path.with_suffix(".npz")) as f:
            X = f["X"]
        columns = {f"c{i}": pa.array(X[:, i].astype(np.float32) if i % 2 else X[:, i]) for i in range(X.shape[1])}
        columns["c4"] = pa.array([None if np.isnan(v) else int(v * 10) if np.isfinite(v) else 0 for v in X[:, 4]],
                                 type=pa.int64())
        columns["c2"] = pa.array(X[:, 2] > 0)
        table = pa.table(columns)
        np.testing.assert_array_equal(model.predict(table), booster.predict(table))
        np.testing.assert_array_equal(model.predict_leaf(table), booster.predict(table, pred_leaf=True))
    with pytest.raises(DataError, match="Arrow type"):
        model.predict(pa.table({f"c{i}": ["x"] * 3 for i in range(X.shape[1])}))


def test_early_stopped_booster_predicts_its_best_iteration():
    X, rng = _data(23, n=600)
    y = np.nan_to_num(X[:, 0]) + rng.normal(size=len(X))
    train, valid = lgb.Dataset(X[:400], y[:400]), lgb.Dataset(X[400:], y[400:])
    booster = lgb.train({"objective": "regression", "verbose": -1, "learning_rate": 0.5, "num_leaves": 31,
                         "seed": 1}, train, 200, valid_sets=[valid],
                        callbacks=[lgb.early_stopping(3, verbose=False)], keep_training_booster=True)
    assert 0 < booster.best_iteration < booster.current_iteration()
    model = gbinfer.load(booster)
    assert model.booster.num_iterations == booster.best_iteration
    np.testing.assert_array_equal(model.predict(X), booster.predict(X))


def test_base_margin_shape_is_checked():
    model = gbinfer.load(FIXTURES / "4.7.0" / "multiclass.txt")
    with np.load(FIXTURES / "4.7.0" / "multiclass.npz") as f:
        X = f["X"]
    with pytest.raises(DataError, match="base_margin"):
        model.predict(X, base_margin=np.zeros(len(X)))
    zero = model.predict(X, output_margin=True, base_margin=np.zeros((len(X), 3)))
    np.testing.assert_array_equal(zero, model.predict(X, output_margin=True))  # 0.0 + x is x
