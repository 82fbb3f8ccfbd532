"""Sparse rows kept sparse: a matrix's CSR arrays, checked once so the kernels can trust them.

Every index a kernel follows is checked here, before anything reads through it (scipy's own
conversions trust their index arrays, so they run only on checked ones): the row pointer
starts at 0, never falls and ends within the stored entries; every column index lies in
[0, width); and each row stores a column at most once, in ascending order (rows stored out of
order are sorted, on a copy). A column stored twice is refused: scipy reads the entries as a
sum, XGBoost's trees keep the last one and its linear booster sums them, so no answer would be
the one every caller means. COO input follows scipy and XGBoost (which converts it with
``tocsr``): duplicates are summed.

What an absent entry means is the model's business; for XGBoost it is missing, like a stored
NaN or a stored value equal to ``missing``, which become NaN here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .errors import DataError

MAX_COLUMNS = 2**31 - 1  # column indices are kept as int32


@dataclass(frozen=True, eq=False)
class SparseRows:
    """CSR arrays: row ``r`` stores columns ``indices[indptr[r]:indptr[r + 1]]`` (ascending, each
    once) with float32 ``values`` (NaN where missing)."""

    indptr: np.ndarray  # int64 [rows + 1], from 0, non-decreasing, ending at len(indices)
    indices: np.ndarray  # int32 [stored entries], in [0, shape[1])
    values: np.ndarray  # float32 [stored entries]
    shape: tuple[int, int]

    def with_missing(self, missing) -> "SparseRows":
        """These rows with every stored value equal to ``missing`` turned into NaN."""
        try:
            if isinstance(missing, (str, bytes)):
                raise TypeError
            marker = np.float32(missing)
        except (TypeError, ValueError):
            raise DataError(f"missing must be a number, got {missing!r}") from None
        if marker != marker:
            return self
        hits = self.values == marker
        if not hits.any():
            return self
        return SparseRows(self.indptr, self.indices, np.where(hits, np.float32(np.nan), self.values), self.shape)


def sparse_rows(data, missing=np.nan) -> SparseRows:
    """``data`` (scipy CSR/CSC/COO or other sparse format, or Arrow CSR/CSC) as checked CSR arrays."""
    if type(data).__module__.startswith("pyarrow"):
        rows = _from_arrow(data)
    else:
        rows = _from_scipy(data)
    return rows.with_missing(missing)


def _from_scipy(matrix) -> SparseRows:
    import scipy.sparse

    if not scipy.sparse.issparse(matrix):
        raise DataError(f"data of type {type(matrix).__name__} is not a sparse matrix gbinfer reads")
    shape = _shape(matrix.shape)
    kind = matrix.format
    if kind == "csr":
        return _checked_csr(matrix.indptr, matrix.indices, matrix.data, shape)
    if kind == "csc":
        return _csc_to_csr(matrix.indptr, matrix.indices, matrix.data, shape)
    if kind == "coo":
        _checked_values(matrix.data)
        row, col = np.asarray(matrix.row), np.asarray(matrix.col)
        if not (len(row) == len(col) == len(matrix.data)):
            raise DataError(f"COO matrix has {len(row)} row indices, {len(col)} column indices and "
                            f"{len(matrix.data)} values; expected as many of each")
        _check_range(row, shape[0], "row", lambda j: f"entry {j}")
        _check_range(col, shape[1], "column", lambda j: f"entry {j}")
        csr = matrix.tocsr()  # sums duplicates, as XGBoost (which calls tocsr) does
        return _checked_csr(csr.indptr, csr.indices, csr.data, shape)
    _check_dtype(matrix.dtype)
    csr = matrix.tocsr()  # other formats (LIL, DOK, DIA, BSR) go through scipy's CSR, as in XGBoost
    return _checked_csr(csr.indptr, csr.indices, csr.data, shape)


def _from_arrow(matrix) -> SparseRows:
    import pyarrow as pa

    if isinstance(matrix, (pa.SparseCSRMatrix, pa.SparseCSCMatrix)):
        data, indptr, indices = matrix.to_numpy()
        data = np.asarray(data).reshape(-1)
        shape = _shape(matrix.shape)
        if isinstance(matrix, pa.SparseCSRMatrix):
            return _checked_csr(indptr, indices, data, shape)
        return _csc_to_csr(indptr, indices, data, shape)
    raise DataError(f"Arrow {type(matrix).__name__} is not supported; pass a SparseCSRMatrix or SparseCSCMatrix "
                    "(or a scipy.sparse matrix)")


def _shape(shape) -> tuple[int, int]:
    if len(shape) != 2:
        raise DataError(f"sparse data must be 2-D (rows x features), got shape {tuple(shape)}")
    n_rows, n_cols = (int(v) for v in shape)
    if n_rows < 0 or n_cols < 0:
        raise DataError(f"sparse data has shape {(n_rows, n_cols)}; dimensions must not be negative")
    if n_cols > MAX_COLUMNS:
        raise DataError(f"sparse data has {n_cols} columns; gbinfer reads at most {MAX_COLUMNS}")
    return n_rows, n_cols


def _check_dtype(dtype) -> None:
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise DataError(f"sparse data has complex dtype {dtype}; XGBoost reads real numbers only")
    if dtype.kind not in "fiub":
        raise DataError(f"sparse data has dtype {dtype}; expected numbers, e.g. X.astype(np.float32)")


def _checked_values(data) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim != 1:
        raise DataError(f"sparse values must be 1-D, got shape {data.shape}")
    _check_dtype(data.dtype)
    return data


def _checked_pointers(indptr, n_major: int, nnz: int, major: str) -> np.ndarray:
    """The index pointer as int64, after checking it can be followed: ``n_major + 1`` entries
    rising from 0 and ending within the ``nnz`` stored entries."""
    indptr = np.asarray(indptr)
    if indptr.ndim != 1 or indptr.dtype.kind not in "iu":
        raise DataError(f"sparse indptr must be a 1-D integer array, got dtype {indptr.dtype} and shape "
                        f"{indptr.shape}")
    if len(indptr) != n_major + 1:
        raise DataError(f"sparse indptr has {len(indptr)} entries; expected {major}s + 1 = {n_major + 1}")
    indptr = indptr.astype(np.int64)
    if indptr[0] != 0:
        raise DataError(f"sparse indptr must start at 0, starts at {int(indptr[0])}")
    falls = np.flatnonzero(indptr[1:] < indptr[:-1])
    if falls.size:
        at = int(falls[0])
        raise DataError(f"sparse indptr is not monotone: {major} {at} ends at {int(indptr[at + 1])}, before it "
                        f"starts at {int(indptr[at])}")
    if indptr[-1] > nnz:
        raise DataError(f"sparse indptr ends at {int(indptr[-1])} but only {nnz} entries are stored")
    return indptr


def _check_range(indices: np.ndarray, bound: int, what: str, where) -> None:
    """Every index in [0, bound); ``where(j)`` names entry ``j`` in the message."""
    if indices.dtype.kind not in "iu":
        raise DataError(f"sparse {what} indices must be integers, got dtype {indices.dtype}")
    if not indices.size:
        return
    low, high = indices.min(), indices.max()
    if low < 0 or high >= bound:
        j = int(np.flatnonzero((indices < 0) | (indices >= bound))[0])
        raise DataError(f"sparse {what} index {int(indices[j])} at {where(j)} is outside [0, {bound}) "
                        f"(the matrix has {bound} {what}s)")


def _checked_csr(indptr, indices, data, shape) -> SparseRows:
    n_rows, n_cols = shape
    data = _checked_values(data)
    indices = np.asarray(indices)
    if indices.ndim != 1 or len(indices) != len(data):
        raise DataError(f"sparse indices have shape {indices.shape} for {len(data)} stored values; expected one "
                        "column index per value")
    indptr = _checked_pointers(indptr, n_rows, len(indices), "row")
    nnz = int(indptr[-1])
    indices, data = indices[:nnz], data[:nnz]  # entries past the last row's end belong to no row
    _check_range(indices, n_cols, "column", lambda j: f"row {_row_of(indptr, j)}")
    # Our own copies of the index arrays (indptr already is one): the kernels follow them, so
    # the caller changing the matrix after this check must not reach them.
    indices = indices.astype(np.int32)
    values = data.astype(np.float32, copy=False)
    if _first_out_of_order(indptr, indices) >= 0:
        order = _row_sorting_order(indptr, indices)
        indices, values = indices[order], values[order]
        j = _first_out_of_order(indptr, indices)
        if j >= 0:
            raise DataError(f"sparse row {_row_of(indptr, j)} stores column {int(indices[j])} more than once; "
                            "scipy would sum the entries and XGBoost keep one, so gbinfer refuses to choose: "
                            "call X.sum_duplicates() first if a sum is meant")
    return SparseRows(indptr, indices, values, (n_rows, n_cols))


def _csc_to_csr(indptr, indices, data, shape) -> SparseRows:
    n_rows, n_cols = shape
    data = _checked_values(data)
    indices = np.asarray(indices)
    if indices.ndim != 1 or len(indices) != len(data):
        raise DataError(f"sparse indices have shape {indices.shape} for {len(data)} stored values; expected one "
                        "row index per value")
    colptr = _checked_pointers(indptr, n_cols, len(indices), "column")
    nnz = int(colptr[-1])
    row = indices[:nnz]
    _check_range(row, n_rows, "row", lambda j: f"column {_row_of(colptr, j)}")
    rowptr, columns, order = _transpose(colptr, row.astype(np.int64, copy=False), n_rows)
    return _checked_csr(rowptr, columns, data[:nnz][order], shape)


def _row_of(indptr: np.ndarray, entry: int) -> int:
    return int(np.searchsorted(indptr, entry, side="right") - 1)


@njit(cache=True, nogil=True)
def _first_out_of_order(indptr, indices):
    """The first entry whose column is not above its predecessor's in the same row, or -1."""
    for r in range(indptr.size - 1):
        for j in range(indptr[r] + 1, indptr[r + 1]):
            if indices[j] <= indices[j - 1]:
                return j
    return -1


@njit(cache=True, nogil=True)
def _row_sorting_order(indptr, indices):
    """The permutation that sorts each row's entries by column, keeping rows in place."""
    order = np.arange(indices.size)
    for r in range(indptr.size - 1):
        a, b = indptr[r], indptr[r + 1]
        order[a:b] = a + np.argsort(indices[a:b], kind="mergesort")
    return order


@njit(cache=True, nogil=True)
def _transpose(colptr, row, n_rows):
    """CSC (checked) to CSR by counting sort: (row pointer, column of each entry, source entry of
    each entry). Columns come out ascending within each row."""
    rowptr = np.zeros(n_rows + 1, dtype=np.int64)
    for j in range(row.size):
        rowptr[row[j] + 1] += 1
    for r in range(n_rows):
        rowptr[r + 1] += rowptr[r]
    fill = rowptr[:-1].copy()
    columns = np.empty(row.size, dtype=np.int32)
    order = np.empty(row.size, dtype=np.int64)
    for c in range(colptr.size - 1):
        for j in range(colptr[c], colptr[c + 1]):
            at = fill[row[j]]
            columns[at] = c
            order[at] = j
            fill[row[j]] += 1
    return rowptr, columns, order
