"""Sparse input walked as sparse: the same numbers as the dense path and as XGBoost, every bad
matrix refused with a DataError, and memory that grows with the rows only."""

import tracemalloc

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import DataError

xgb = pytest.importorskip("xgboost")
sp = pytest.importorskip("scipy.sparse")

N_FEATURES = 40
CATEGORICAL = 4  # the first columns of the categorical model


def _csr_of(D):
    """Every non-NaN entry of ``D`` stored (zeros too); NaN entries absent."""
    present = ~np.isnan(D)
    rows, cols = np.nonzero(present)
    return sp.csr_matrix((D[present], (rows, cols)), shape=D.shape, dtype=np.float32)


def _dense_of(csr):
    """The dense rows gbinfer reads for ``csr``: absent entries are missing (NaN)."""
    coo = csr.tocoo()
    D = np.full(csr.shape, np.nan, dtype=np.float32)
    D[coo.row, coo.col] = coo.data
    return D


def _rows(seed, n, density=0.25, categorical=False):
    """Dense rows with NaN where a sparse matrix stores nothing; stored zeros and empty rows included."""
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    D[rng.random(D.shape) < 0.1] = 0.0  # stored zeros are present values, not missing
    if categorical:
        D[:, :CATEGORICAL] = rng.integers(0, 7, size=(n, CATEGORICAL))
    D[rng.random(D.shape) > density] = np.nan
    D[3:6] = np.nan  # empty rows
    return D


def _train(params, rounds=12, labels="binary", categorical=False):
    rng = np.random.default_rng(7)
    D = _rows(1, 600, categorical=categorical)
    first = np.nan_to_num(D[:, CATEGORICAL])
    y = {"binary": (first > 0).astype(float), "multi": rng.integers(0, 3, len(D)).astype(float),
         "targets": np.column_stack([first, np.nan_to_num(D[:, 7]), rng.normal(size=len(D))]),
         "reg": first + rng.normal(size=len(D))}[labels]
    kw = _dmatrix_kw(categorical)
    bst = xgb.train({"nthread": 1, "seed": 3, **params}, xgb.DMatrix(_csr_of(D), y, **kw), rounds)
    return bst, gbinfer.load(bytes(bst.save_raw("json")))


def _dmatrix_kw(categorical):
    if not categorical:
        return {}
    return {"feature_types": ["c"] * CATEGORICAL + ["q"] * (N_FEATURES - CATEGORICAL), "enable_categorical": True}


MODELS = {
    "binary": ({"objective": "binary:logistic", "max_depth": 5}, "binary", False),
    "softprob": ({"objective": "multi:softprob", "num_class": 3, "max_depth": 4}, "multi", False),
    "vector_leaf": ({"objective": "reg:squarederror", "multi_strategy": "multi_output_tree", "tree_method": "hist",
                     "max_depth": 4}, "targets", False),
    "dart": ({"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3, "skip_drop": 0.0,
              "max_depth": 4}, "binary", False),
    "categorical": ({"objective": "reg:squarederror", "tree_method": "hist", "max_depth": 5, "max_cat_to_onehot": 1},
                    "reg", True),
    "gblinear": ({"booster": "gblinear", "objective": "reg:squarederror"}, "reg", False),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def trained(request):
    params, labels, categorical = MODELS[request.param]
    bst, model = _train(params, labels=labels, categorical=categorical)
    return request.param, bst, model, categorical


@pytest.mark.parametrize("n", [97, 300])  # the serial kernels, then the parallel ones
def test_sparse_equals_dense_and_xgboost(trained, n):
    kind, bst, model, categorical = trained
    if categorical:
        assert model.booster.forest.has_categorical
    if kind == "vector_leaf":
        assert model.booster.forest.leaf_size == 3
    D = _rows(11, n, categorical=categorical)
    csr = _csr_of(D)
    dm = xgb.DMatrix(csr, **_dmatrix_kw(categorical))
    margin = model.predict(csr, output_margin=True)
    assert np.array_equal(margin, model.predict(D, output_margin=True))
    assert np.array_equal(margin, bst.predict(dm, output_margin=True))
    assert np.array_equal(model.predict(csr), model.predict(D))
    assert np.array_equal(model.predict(csr), bst.predict(dm))
    assert np.array_equal(model.predict(csr, nthread=1), model.predict(csr, nthread=2))
    if kind != "gblinear":
        assert np.array_equal(model.predict_leaf(csr), model.predict_leaf(D))
        assert np.array_equal(model.predict_leaf(csr), bst.predict(dm, pred_leaf=True))


def test_sparse_inplace_predict_matches():
    bst, model = _train(MODELS["binary"][0])
    csr = _csr_of(_rows(12, 300))
    assert np.array_equal(model.predict(csr, output_margin=True), bst.inplace_predict(csr, predict_type="margin"))
    assert np.array_equal(model.predict(csr), bst.inplace_predict(csr))


@pytest.fixture(scope="module")
def softprob():
    return _train(MODELS["softprob"][0], labels="multi")


def test_sparse_iteration_range_and_base_margin(softprob):
    bst, model = softprob
    csr = _csr_of(_rows(13, 300))
    dm = xgb.DMatrix(csr)
    for rounds in [(0, 0), (2, 6), (11, 12)]:
        assert np.array_equal(model.predict(csr, output_margin=True, iteration_range=rounds),
                              bst.predict(dm, output_margin=True, iteration_range=rounds))
    assert np.array_equal(model.predict_leaf(csr, iteration_range=(0, 5)),
                          bst.predict(dm, pred_leaf=True, iteration_range=(0, 5)))
    bm = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    assert np.array_equal(model.predict(csr, output_margin=True, base_margin=bm),
                          bst.predict(xgb.DMatrix(csr, base_margin=bm), output_margin=True))


@pytest.mark.parametrize("kind", ["binary", "gblinear"])
def test_sparse_missing_value(kind):
    bst, model = _train(MODELS[kind][0], labels=MODELS[kind][1])
    D = _rows(14, 300)
    D[np.random.default_rng(1).random(D.shape) < 0.1] = 1.5
    csr = _csr_of(D)
    got = model.predict(gbinfer.DataMatrix(csr, missing=1.5), output_margin=True)
    assert np.array_equal(got, bst.predict(xgb.DMatrix(csr, missing=1.5), output_margin=True))
    assert np.array_equal(got, model.predict(gbinfer.DataMatrix(D, missing=1.5), output_margin=True))


def test_sparse_stored_nan_is_missing():
    bst, model = _train(MODELS["binary"][0])
    D = _rows(15, 100)
    csr = _csr_of(np.nan_to_num(D, nan=0.0))  # every entry stored ...
    csr.data[np.isnan(D).ravel()] = np.nan  # ... the missing ones as NaN
    assert np.array_equal(model.predict(csr), model.predict(D))


def test_sparse_zero_rows_and_all_empty_rows(trained):
    kind, bst, model, categorical = trained
    k = model.num_outputs
    empty = sp.csr_matrix((0, N_FEATURES), dtype=np.float32)
    assert model.predict(empty).shape == model.predict(np.zeros((0, N_FEATURES), np.float32)).shape
    assert model.predict(empty).shape == ((0,) if k == 1 else (0, k))
    blank = sp.csr_matrix((300, N_FEATURES), dtype=np.float32)
    dm = xgb.DMatrix(blank, **_dmatrix_kw(categorical))
    assert np.array_equal(model.predict(blank, output_margin=True), bst.predict(dm, output_margin=True))


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil", "csr_array", "csc_array", "coo_array"])
def test_other_sparse_formats(softprob, fmt):
    bst, model = softprob
    D = _rows(16, 300)
    csr = _csr_of(D)
    data = getattr(sp, fmt)(csr) if fmt.endswith("_array") else csr.asformat(fmt)
    assert np.array_equal(model.predict(data, output_margin=True), model.predict(D, output_margin=True))
    assert np.array_equal(model.predict_leaf(data), bst.predict(xgb.DMatrix(csr), pred_leaf=True))


def test_coo_duplicates_are_summed_as_xgboost_does():
    bst, model = _train(MODELS["binary"][0])
    coo = sp.coo_matrix((np.array([0.25, 0.5, -1.0], np.float32), ([0, 0, 1], [4, 4, 4])), shape=(2, N_FEATURES))
    assert np.array_equal(model.predict(coo, output_margin=True),
                          bst.predict(xgb.DMatrix(coo), output_margin=True))


@pytest.mark.parametrize("kind", ["binary", "gblinear"])
def test_unsorted_rows_match_xgboost(kind):
    bst, model = _train(MODELS[kind][0], labels=MODELS[kind][1])
    csr = _csr_of(_rows(17, 300))
    rng = np.random.default_rng(2)
    indices, data = csr.indices.copy(), csr.data.copy()
    for r in range(csr.shape[0]):  # each row's entries in a random order
        a, b = csr.indptr[r], csr.indptr[r + 1]
        order = a + rng.permutation(b - a)
        indices[a:b], data[a:b] = indices[order], data[order]
    shuffled = sp.csr_matrix((data, indices, csr.indptr), shape=csr.shape)
    assert not shuffled.has_sorted_indices
    got = model.predict(shuffled, output_margin=True)
    assert np.array_equal(got, model.predict(csr, output_margin=True))
    assert np.array_equal(got, bst.predict(xgb.DMatrix(shuffled), output_margin=True))


def test_narrower_csr_reads_absent_columns_as_missing():
    # XGBoost's DMatrix accepts a matrix narrower than the model (inplace_predict refuses it)
    bst, model = _train(MODELS["binary"][0])
    D = _rows(18, 200)
    narrow = _csr_of(D[:, :25])
    D[:, 25:] = np.nan
    assert np.array_equal(model.predict(narrow, output_margin=True),
                          bst.predict(xgb.DMatrix(narrow), output_margin=True))
    assert np.array_equal(model.predict(narrow), model.predict(D))


def test_wider_csr_is_refused():
    bst, model = _train(MODELS["binary"][0])
    with pytest.raises(DataError, match="41 columns but the model expects 40"):
        model.predict(sp.csr_matrix((3, N_FEATURES + 1), dtype=np.float32))


def test_arrow_sparse_matrices():
    pa = pytest.importorskip("pyarrow")
    bst, model = _train(MODELS["binary"][0])
    D = _rows(19, 300)
    csr = _csr_of(D)
    for arrow in (pa.SparseCSRMatrix.from_scipy(csr), pa.SparseCSCMatrix.from_scipy(csr.tocsc())):
        assert np.array_equal(model.predict(arrow, output_margin=True), model.predict(D, output_margin=True))
    with pytest.raises(DataError, match="SparseCOOTensor is not supported"):
        model.predict(pa.SparseCOOTensor.from_scipy(csr.tocoo()))


# --- malformed matrices: each a DataError naming what is wrong --------------------------------

def _small_csr():
    return sp.csr_matrix(np.array([[1.0, 0, 2.0], [0, 3.0, 0]], dtype=np.float32))


def test_csr_column_index_past_width_is_refused():
    csr = _small_csr()
    csr.indices[1] = 3
    with pytest.raises(DataError, match=r"column index 3 at row 0 is outside \[0, 3\)"):
        gbinfer.DataMatrix(csr)


def test_csr_negative_column_index_is_refused():
    csr = _small_csr()
    csr.indices[2] = -1
    with pytest.raises(DataError, match=r"column index -1 at row 1 is outside \[0, 3\)"):
        gbinfer.DataMatrix(csr)


def test_csr_non_monotone_indptr_is_refused():
    csr = _small_csr()
    csr.indptr[:] = [0, 3, 2]
    with pytest.raises(DataError, match="indptr is not monotone: row 1 ends at 2, before it starts at 3"):
        gbinfer.DataMatrix(csr)


def test_csr_indptr_not_starting_at_zero_is_refused():
    csr = _small_csr()
    csr.indptr[0] = 1
    with pytest.raises(DataError, match="indptr must start at 0"):
        gbinfer.DataMatrix(csr)


def test_csr_indptr_past_stored_entries_is_refused():
    csr = _small_csr()
    csr.indptr[-1] = 9
    with pytest.raises(DataError, match="indptr ends at 9 but only 3 entries are stored"):
        gbinfer.DataMatrix(csr)


def test_csr_indptr_of_wrong_length_is_refused():
    csr = _small_csr()
    csr.indptr = csr.indptr[:-1]
    with pytest.raises(DataError, match=r"indptr has 2 entries; expected rows \+ 1 = 3"):
        gbinfer.DataMatrix(csr)


def test_complex_sparse_matrix_is_refused():
    with pytest.raises(DataError, match="complex"):
        gbinfer.DataMatrix(sp.csr_matrix(np.array([[1 + 2j, 0]])))


def test_csr_duplicate_column_is_refused():
    csr = sp.csr_matrix((np.array([5.0, -5.0], np.float32), np.array([0, 0]), np.array([0, 2])), shape=(1, 3))
    with pytest.raises(DataError, match="row 0 stores column 0 more than once"):
        gbinfer.DataMatrix(csr)


def test_csc_row_index_past_height_is_refused():
    csc = _small_csr().tocsc()
    csc.indices[0] = 2
    with pytest.raises(DataError, match=r"row index 2 at column 0 is outside \[0, 2\)"):
        gbinfer.DataMatrix(csc)


def test_coo_negative_index_is_refused():
    coo = _small_csr().tocoo()
    coo.col[0] = -2
    with pytest.raises(DataError, match=r"column index -2 at entry 0 is outside \[0, 3\)"):
        gbinfer.DataMatrix(coo)


def test_matrix_changed_after_the_check_does_not_reach_the_kernels():
    bst, model = _train(MODELS["gblinear"][0], labels="reg")
    csr = _csr_of(_rows(21, 50))
    dm = gbinfer.DataMatrix(csr)
    expected = model.predict(dm)
    csr.indices[:] = 10**9
    csr.indptr[1:] = csr.indptr[-1] * 4
    assert np.array_equal(model.predict(dm), expected)


def test_sparse_missing_must_be_a_number():
    for missing in ("x", "1.5"):
        with pytest.raises(DataError, match="missing must be a number"):
            gbinfer.DataMatrix(_small_csr(), missing=missing)


def test_huge_empty_csr_uses_memory_of_rows_only():
    """4M x 100k: dense it would be 1.6 TB; sparse it needs a few arrays of one entry per row."""
    width = 100_000
    csr = _csr_of(_rows(20, 600))
    wide = sp.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(600, width))
    bst = xgb.train({"nthread": 1, "max_depth": 4}, xgb.DMatrix(wide, np.nan_to_num(_rows(20, 600)[:, 0])), 3)
    model = gbinfer.load(bytes(bst.save_raw("json")))
    assert model.num_features == width
    n = 2**22
    huge = sp.csr_matrix((n, width), dtype=np.float32)
    expected = bst.predict(xgb.DMatrix(huge[:1]), output_margin=True)[0]
    tracemalloc.start()
    try:
        out = model.predict(huge, output_margin=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (n,) and np.all(out == expected)
    assert peak < 24 * n  # the float32 output, an int64 row pointer and a little more
