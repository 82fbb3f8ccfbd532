"""What a request's tensors mean to a model, and what the model gives back as output tensors.

A request holds either one 2-D tensor (rows x features, in the model's feature order) or one
1-D tensor per named feature column. Named columns are read as the model reads a DataFrame's
columns, so a categorical column sent as BYTES strings means its values, never their order of
appearance: a dict of columns for ``DataMatrix`` (an XGBoost model re-codes it by value through
its training categories, a LightGBM model through its ``pandas_categorical``, reading the numbers
in float64), and the values themselves for CatBoost, which hashes them. Requests with the same ``Rows.key`` can share
one kernel call (``batching``): their rows are stacked, predicted once, and split again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import DataMatrix
from .protocol import RequestError

OUTPUTS = ("predict", "margin", "leaf")  # what a request may ask for by name
MATRIX = "input"  # the name the metadata gives the 2-D input


@dataclass(frozen=True)
class Rows:
    """One request's rows: ``matrix`` (float32 or float64, rows x features) or ``columns`` (feature
    name -> 1-D array of numbers or of strings, in the model's feature order)."""

    key: tuple  # requests with equal keys can be stacked
    n: int
    matrix: np.ndarray | None = None
    columns: dict | None = None


def rows_of(model, tensors: list) -> Rows:
    """The rows ``tensors`` hold for ``model``: one 2-D tensor, or one 1-D tensor per named column."""
    if len(tensors) == 1 and len(tensors[0].shape) == 2:
        t = tensors[0]
        if t.datatype == "BYTES":
            raise RequestError(f"input {t.name!r}: a 2-D tensor holds numbers; send categorical values as one "
                               "1-D BYTES tensor per named column")
        if t.shape[1] != model.num_features:
            raise RequestError(f"input {t.name!r} has {t.shape[1]} columns; the model reads {model.num_features} "
                               "features")
        matrix = np.ascontiguousarray(t.data, dtype=_numeric(t.data))
        return Rows(("matrix", matrix.dtype.str), t.shape[0], matrix=matrix)
    names = model.features.names
    if not names:
        raise RequestError(f"the model has no feature names, so its input is one 2-D tensor (rows x "
                           f"{model.num_features}), not {len(tensors)} tensors")
    known = set(names)
    columns, n = {}, None
    for t in tensors:
        if t.name not in known:
            raise RequestError(f"input {t.name!r} is not one of the model's features ({_shown(names)}); send one "
                               "2-D tensor, or one 1-D tensor per feature")
        if t.name in columns:
            raise RequestError(f"input {t.name!r} is given twice")
        data = t.data.reshape(-1) if len(t.shape) == 2 and t.shape[1] == 1 else t.data
        if data.ndim != 1:
            raise RequestError(f"input {t.name!r} has shape {list(t.shape)}; a feature column is 1-D, [rows]")
        if n is not None and len(data) != n:
            raise RequestError(f"input {t.name!r} has {len(data)} rows, the inputs before it {n}")
        n = len(data)
        columns[t.name] = data if data.dtype == object else data.astype(_numeric(data), copy=False)
    missing = [name for name in names if name not in columns]
    if missing:
        raise RequestError(f"inputs lack the model's features {_shown(missing)}")
    ordered = {name: columns[name] for name in names}
    key = ("columns",) + tuple(v.dtype.str for v in ordered.values())
    return Rows(key, n, columns=ordered)


def _numeric(data: np.ndarray):
    """float64 stays float64 (LightGBM compares in float64; XGBoost rounds it to float32 as XGBoost
    does), everything else becomes float32 as the libraries' own Python packages convert it."""
    return np.float64 if data.dtype == np.float64 else np.float32


def _shown(names) -> str:
    names = list(names)
    return ", ".join(repr(n) for n in names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")


def stack(model, parts: list):
    """One model input for several requests' rows of the same key (the rows in order)."""
    first = parts[0]
    if first.matrix is not None:
        return first.matrix if len(parts) == 1 else np.concatenate([p.matrix for p in parts])
    columns = first.columns if len(parts) == 1 else \
        {name: np.concatenate([p.columns[name] for p in parts]) for name in first.columns}
    source = model.meta.source_library
    if source == "catboost" and any(v.dtype == object for v in columns.values()):
        # CatBoost hashes the category values themselves: a table of values in feature order
        # (what its own predict takes), not the codes a DataMatrix would number them by
        table = np.empty((sum(p.n for p in parts), len(columns)), dtype=object)
        for j, values in enumerate(columns.values()):
            table[:, j] = values
        return table
    return DataMatrix(columns)


def requested(request) -> tuple:
    """The output names a request asks for (``predict`` when it names none)."""
    names = tuple(name for name, _ in request.outputs) or ("predict",)
    for name in names:
        if name not in OUTPUTS:
            raise RequestError(f"output {name!r} is not one of {', '.join(OUTPUTS)}")
    if len(set(names)) != len(names):
        raise RequestError("an output is requested twice")
    return names


def compute(model, data, names: tuple, output_margin: bool, nthread: int | None) -> dict:
    """Every requested output for the stacked rows, one kernel call each."""
    out = {}
    for name in names:
        if name == "leaf":
            out[name] = model.predict_leaf(data, nthread=nthread)
        else:
            out[name] = model.predict(data, output_margin=output_margin or name == "margin", nthread=nthread)
    return out


def output_margin_of(parameters: dict) -> bool:
    value = parameters.get("output_margin", False)
    if not isinstance(value, bool):
        raise RequestError(f"parameters.output_margin must be true or false, got {value!r:.40}")
    return value
