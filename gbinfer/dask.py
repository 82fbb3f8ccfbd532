"""Batch scoring of Dask collections: ``gbinfer.dask.predict(m, ddf)`` is a lazy Dask Series,
DataFrame or Array with the numbers ``m.predict`` gives on the whole data.

The model enters the task graph once, as its ``.xgbrs`` bytes under one key named by their
SHA-256 (``gbinfer.shipped``): Dask moves a dependency to a worker once and keeps it there while
tasks need it, and each worker process loads the model once and keeps it by digest. Partitions are
predicted by the usual Numba kernels with ``nthread`` = the worker's threads divided by the tasks
it is running at that moment, so a worker never runs more threads than it was given.
Needs ``pip install 'gbinfer[dask]'``.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, MissingDependency
from .scoring import Scoring, check_kinds, match_columns
from .shipped import receive, ship


def predict(model, data, *, output_margin=False, iteration_range=None, nthread=None):
    """``model.predict`` over a Dask DataFrame or 2-D Array, lazily.

    DataFrame in: a Series named ``prediction`` for one value a row, a DataFrame of columns
    ``prediction_0`` ... for several (multi-class probabilities, multi-target), with the input's
    index; Array in: an Array of ``(rows,)`` or ``(rows, k)``. ``nthread`` overrides the
    per-task thread count."""
    return _score(model, data, Scoring("predict", output_margin, _pair(iteration_range)), nthread)


def predict_contribs(model, data, *, approximate=False, iteration_range=None, nthread=None):
    """``model.predict_contribs`` lazily: ``(rows, features + 1)`` as a DataFrame of columns
    ``contrib_0`` ... ``contrib_F`` (the last is the bias) or an Array; ``(rows, outputs,
    features + 1)`` for several outputs, always an Array."""
    return _score(model, data, Scoring("contribs", iteration_range=_pair(iteration_range), approximate=approximate),
                  nthread)


def predict_leaf(model, data, *, iteration_range=None, nthread=None):
    """``model.predict_leaf`` lazily: columns ``leaf_0`` ... (one a tree), or an Array."""
    return _score(model, data, Scoring("leaf", iteration_range=_pair(iteration_range)), nthread)


def _pair(iteration_range):
    return None if iteration_range is None else tuple(iteration_range) if isinstance(iteration_range, (list, tuple)) \
        else iteration_range


def _modules():
    try:
        import dask
        import dask.array as da
        import dask.dataframe as dd
    except ImportError as exc:
        raise MissingDependency(exc.name or "dask", "dask", "gbinfer.dask") from None
    return dask, da, dd


def _score(model, data, scoring: Scoring, nthread):
    dask, da, dd = _modules()
    if nthread is not None and (not isinstance(nthread, int) or isinstance(nthread, bool) or nthread < 1):
        raise DataError(f"nthread must be a positive int (threads a task uses) or None, got {nthread!r:.60}")
    shipped = ship(model)
    tail, dtype = scoring.probe(receive(shipped.digest, shipped.blob))  # the model workers will have
    # one graph key for the model's bytes, named by their digest: the same model twice is one key
    blob = dask.delayed(shipped.blob, name=f"gbinfer-model-{shipped.digest}", traverse=False, pure=True)
    if isinstance(data, dd.DataFrame):
        return _frame(dask, da, model, data, scoring, shipped.digest, blob, tail, dtype, nthread)
    if isinstance(data, da.Array):
        return _array(model, data, scoring, shipped.digest, blob, tail, dtype, nthread)
    raise DataError(f"gbinfer.dask takes a dask DataFrame or a 2-D dask Array, got {type(data).__name__}; "
                    "for data in memory, call model.predict")


def _frame(dask, da, model, ddf, scoring, digest, blob, tail, dtype, nthread):
    import pandas as pd

    order = match_columns(model, list(ddf.columns), "the dask DataFrame")
    dtypes = list(ddf.dtypes)
    check_kinds(model, [_kind(pd, dtypes[i]) for i in order], "the dask DataFrame")
    if order != list(range(len(dtypes))):
        ddf = ddf[[ddf.columns[i] for i in order]]
    if len(tail) == 0:
        labels = "prediction"
        meta = pd.Series(np.empty(0, dtype=dtype), name=labels, index=ddf._meta.index)
    elif len(tail) == 1:
        labels = [f"{scoring.prefix()}_{j}" for j in range(tail[0])]
        meta = pd.DataFrame(np.empty((0, tail[0]), dtype=dtype), columns=labels, index=ddf._meta.index)
    else:  # (rows, outputs, features + 1) has no frame shape: an Array of unknown chunk lengths
        parts = [dask.delayed(_predict_part)(part, scoring, digest, blob, nthread, None)
                 for part in ddf.to_delayed()]
        return da.concatenate([da.from_delayed(p, shape=(np.nan, *tail), dtype=dtype) for p in parts])
    return ddf.map_partitions(_predict_part, scoring, digest, blob, nthread, labels, meta=meta,
                              align_dataframes=False, enforce_metadata=False)


def _array(model, X, scoring, digest, blob, tail, dtype, nthread):
    if X.ndim != 2:
        raise DataError(f"the dask Array must be 2-D (rows x features), got shape {X.shape}")
    if X.shape[1] != model.num_features:
        raise DataError(f"the dask Array has {X.shape[1]} columns but the model expects {model.num_features} "
                        "features")
    if X.dtype.kind not in "fiub":
        raise DataError(f"the dask Array has dtype {X.dtype}; expected numbers (use a dask DataFrame for "
                        "categorical strings)")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})  # a task predicts whole rows
    if len(tail) == 0:
        return X.map_blocks(_predict_part, scoring, digest, blob, nthread, None, drop_axis=1, dtype=dtype,
                            meta=np.empty((0,), dtype=dtype))
    chunks = (X.chunks[0], *((w,) for w in tail))
    new_axis = list(range(2, 1 + len(tail)))
    return X.map_blocks(_predict_part, scoring, digest, blob, nthread, None, chunks=chunks, new_axis=new_axis or None,
                        dtype=dtype, meta=np.empty((0,) * (1 + len(tail)), dtype=dtype))


def _kind(pd, dtype) -> str:
    """A column's kind as ``check_kinds`` reads it."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "b"
    if pd.api.types.is_numeric_dtype(dtype):
        return np.dtype(getattr(dtype, "numpy_dtype", dtype)).kind
    return "O"


def _predict_part(part, scoring: Scoring, digest: str, blob: bytes, nthread, labels):
    """One partition's predictions, on a worker: a numpy block (``labels`` None), else a pandas
    Series named ``labels`` or a DataFrame with columns ``labels``, on the partition's index."""
    model = receive(digest, blob)
    out = scoring.run(model, part, nthread or _task_threads())
    if labels is None:
        return out
    import pandas as pd

    if out.ndim == 1:
        return pd.Series(out, name=labels, index=part.index)
    return pd.DataFrame(out, columns=labels, index=part.index)


def _task_threads() -> int:
    """The worker's threads shared among the tasks it runs now; 1 outside a distributed worker
    (Dask's local schedulers already run a task per core)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return 1
    state = worker.state
    return max(1, state.nthreads // max(1, state.executing_count))
