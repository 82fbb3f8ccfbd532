"""Arguments of ``Model.predict`` / ``predict_leaf`` are checked at the edge: a wrong type
or shape is a ``DataError`` naming the argument and what was expected, never a raw ``ValueError`` /
``TypeError`` and never a silent misreading. And a model prints as one readable line."""

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError

xgb = pytest.importorskip("xgboost")

XGB_VERSION = ".".join(xgb.__version__.split(".")[:3])


@pytest.fixture(scope="module")
def multi():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    bst = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1},
                    xgb.DMatrix(X, rng.integers(0, 3, len(X))), 4)
    return gbinfer.load(bytes(bst.save_raw("ubj"))), bst, X


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, X[:, 0] > 0), 5)
    return gbinfer.load(bytes(bst.save_raw("ubj"))), bst, X


# --- nthread ----------------------------------------------------------------------------------

@pytest.mark.parametrize("nthread", ["2", 2.5, True, [2]], ids=["str", "float", "bool", "list"])
@pytest.mark.parametrize("method", ["predict", "predict_leaf"])
def test_nthread_that_is_not_an_int_is_a_data_error(binary, method, nthread):
    model, _, X = binary
    with pytest.raises(DataError, match=r"nthread must be an int .* got " + r".*\(" + type(nthread).__name__):
        getattr(model, method)(X, nthread=nthread)


@pytest.mark.parametrize("nthread", [None, 1, 2, np.int64(2), 0, -1])
def test_nthread_ints_give_xgboosts_numbers(binary, nthread):
    model, bst, X = binary
    assert np.array_equal(model.predict(X, nthread=nthread), bst.predict(xgb.DMatrix(X)))


# --- iteration_range --------------------------------------------------------------------------

@pytest.mark.parametrize("rounds", [(0,), (0, 2, 3), "ab", 5, (0.5, 2), (0, "2"), (True, 2), {0: 1}],
                         ids=["one", "three", "str", "int", "float", "str-end", "bool", "dict"])
@pytest.mark.parametrize("method", ["predict", "predict_leaf"])
def test_iteration_range_that_is_not_a_pair_of_ints_is_a_data_error(binary, method, rounds):
    model, _, X = binary
    with pytest.raises(DataError, match=r"iteration_range must be a pair of ints \(begin, end\).* got "):
        getattr(model, method)(X, iteration_range=rounds)


@pytest.mark.parametrize("rounds", [(6, 7), (-1, 2), (3, 2), (0, -1)])
def test_iteration_range_outside_the_rounds_is_a_data_error(binary, rounds):
    model, _, X = binary
    with pytest.raises(DataError, match=r"must satisfy 0 <= begin < end <= 5"):
        model.predict(X, iteration_range=rounds)


@pytest.mark.parametrize("rounds", [[1, 3], np.array([1, 3]), (np.int32(1), np.int64(3))], ids=["list", "array", "np"])
def test_iteration_range_spellings_give_xgboosts_numbers(binary, rounds):
    model, bst, X = binary
    expected = bst.predict(xgb.DMatrix(X), output_margin=True, iteration_range=(1, 3))
    assert np.array_equal(model.predict(X, output_margin=True, iteration_range=rounds), expected)
    assert np.array_equal(model.predict_leaf(X, iteration_range=rounds)[:, 0],
                          bst.predict(xgb.DMatrix(X), pred_leaf=True)[:, 1])


def test_iteration_range_of_a_linear_model_is_checked_too():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    bst = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, X[:, 0]), 3)
    model = gbinfer.load(bytes(bst.save_raw("ubj")))
    with pytest.raises(DataError, match="iteration_range must be a pair of ints"):
        model.predict(X, iteration_range=(0,))
    with pytest.raises(DataError, match="a linear model has one round"):
        model.predict(X, iteration_range=(0, 2))
    assert np.array_equal(model.predict(X, iteration_range=[0, 0]), bst.predict(xgb.DMatrix(X)))


# --- base_margin ------------------------------------------------------------------------------

@pytest.mark.parametrize("bm", ["abc", ["a"] * 300, b"\x00" * 1200, np.array([None] * 300), {"x": 1},
                                np.ones(300, dtype=bool)],
                         ids=["str", "str-list", "bytes", "object", "dict", "bool"])
def test_base_margin_that_is_not_numbers_is_a_data_error(binary, bm):
    model, _, X = binary
    with pytest.raises(DataError, match="base_margin must be an array of numbers, got "):
        model.predict(X, base_margin=bm)


def test_ragged_base_margin_is_a_data_error(multi):
    model, _, X = multi
    with pytest.raises(DataError, match="base_margin must be an array of numbers"):
        model.predict(X, base_margin=[[0.0, 1.0, 2.0]] * 299 + [[0.0]])


def test_transposed_base_margin_is_a_data_error(multi):
    """(outputs, rows) has the right count of values: it was read in the wrong order, silently."""
    model, _, X = multi
    bm = np.zeros((300, 3), np.float32)
    with pytest.raises(DataError, match=r"base_margin has 900 values in shape \(3, 300\); expected \(300, 3\) "
                                        r"\(rows x outputs\) or \(900,\).*looks transposed: pass base_margin.T"):
        model.predict(X, base_margin=bm.T)
    for shape in [(900, 1), (1, 900), (30, 30), (300, 3, 1)]:
        with pytest.raises(DataError, match=f"base_margin has 900 values in shape \\({shape[0]}, "):
            model.predict(X, base_margin=bm.reshape(shape))


def test_single_output_base_margin_as_a_row_is_a_data_error(binary):
    model, _, X = binary
    with pytest.raises(DataError, match=r"shape \(1, 300\); expected \(300, 1\) \(rows x outputs\) or \(300,\)"):
        model.predict(X, base_margin=np.zeros((1, 300)))


def test_base_margin_shapes_xgboost_reads_are_accepted(multi, binary):
    model, bst, X = multi
    bm = np.random.default_rng(8).normal(size=(300, 3)).astype(np.float32)
    expected = bst.predict(xgb.DMatrix(X, base_margin=bm), output_margin=True)
    assert np.array_equal(model.predict(X, output_margin=True, base_margin=bm), expected)
    assert np.array_equal(model.predict(X, output_margin=True, base_margin=bm.reshape(-1)), expected)
    assert np.array_equal(model.predict(X, output_margin=True, base_margin=bm.astype(np.float64).tolist()), expected)
    model, bst, X = binary
    bm = bm[:, 0]
    expected = bst.predict(xgb.DMatrix(X, base_margin=bm))
    assert np.array_equal(model.predict(X, base_margin=bm), expected)
    assert np.array_equal(model.predict(X, base_margin=bm.reshape(-1, 1)), expected)


# --- output_margin, missing, warmup ------------------------------------------------------------

@pytest.mark.parametrize("flag", ["yes", None, 1, [True]], ids=["str", "None", "int", "list"])
def test_output_margin_that_is_not_a_bool_is_a_data_error(binary, flag):
    model, _, X = binary
    with pytest.raises(DataError, match="output_margin must be True or False, got "):
        model.predict(X, output_margin=flag)


def test_string_missing_for_sparse_rows_is_a_data_error(binary):
    sp = pytest.importorskip("scipy.sparse")
    model, _, X = binary
    with pytest.raises(DataError, match="missing must be a number, got 'abc'"):
        model.predict(gbinfer.DataMatrix(sp.csr_matrix(X), missing="abc"))


def test_warmup_returns_the_model_and_predictions_are_unchanged(binary):
    model, bst, X = binary
    assert model.warmup() is model
    assert np.array_equal(model.predict(X), bst.predict(xgb.DMatrix(X)))


# --- repr -------------------------------------------------------------------------------------

def test_repr_is_one_line_naming_source_booster_sizes_and_objective(binary, multi):
    assert repr(binary[0]) == f"<gbinfer.Model xgboost {XGB_VERSION} gbtree: 5 trees, 4 features, 1 output, " \
                              "binary:logistic>"
    assert repr(multi[0]) == f"<gbinfer.Model xgboost {XGB_VERSION} gbtree: 12 trees, 5 features, 3 outputs, " \
                             "multi:softprob>"
    assert str(binary[0]) == repr(binary[0])


def test_repr_of_dart_and_linear_models():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(100, 2)).astype(np.float32)
    dart = xgb.train({"booster": "dart", "max_depth": 2, "nthread": 1, "objective": "reg:absoluteerror"},
                     xgb.DMatrix(X, X[:, 0]), 1)
    linear = xgb.train({"booster": "gblinear", "nthread": 1, "objective": "count:poisson"},
                       xgb.DMatrix(X, np.abs(X[:, 0])), 3)
    assert repr(gbinfer.load(bytes(dart.save_raw("ubj")))) == \
        f"<gbinfer.Model xgboost {XGB_VERSION} dart: 1 tree, 2 features, 1 output, reg:absoluteerror>"
    assert repr(gbinfer.load(bytes(linear.save_raw("ubj")))) == \
        f"<gbinfer.Model xgboost {XGB_VERSION} gblinear: 2 features, 1 output, count:poisson>"
