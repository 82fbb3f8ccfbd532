"""The thin layer between ``Model`` and the kernels: check the input once, allocate the
output, make one kernel call, apply the objective's transform.

The walk layout the kernels traverse is derived once per booster and kept beside it, so
repeated calls on the same model do no per-call model work.

Threads: a batch of ``SERIAL_BELOW`` rows or more runs one parallel kernel over row blocks.
At most one parallel kernel runs at a time in a process; a call that finds one running (a
service predicting from several Python threads) runs the serial kernel on its own thread
instead, which releases the GIL. So threads never multiply past the machine's cores, and no
Numba threading layer is ever entered concurrently (not all of them allow it). A process
forked after the thread pool started (a ``fork`` process pool) runs serial kernels only:
GNU OpenMP's pool does not survive ``fork``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import weakref

import numba
import numpy as np

from ..data import DataMatrix
from ..encode import encode
from ..errors import DataError
from ..forest import FEATURE_MASK
from ..model import Dart, FeatureInfo, Linear, Model
from ..objective import Transform
from ..sparse import SparseRows
from . import kernels, lightgbm, nonsymmetric, oblivious
from .layout import WalkLayout, build_layout
from .transforms import apply_transform

SERIAL_BELOW = 256  # batches smaller than this run on the calling thread: no thread start-up

_layouts: "weakref.WeakKeyDictionary[object, WalkLayout]" = weakref.WeakKeyDictionary()
_parallel_gate = threading.Lock()
_pool_started_in: int | None = None  # pid of the process whose thread pool has been started


def _forget_pool_after_fork():
    global _parallel_gate
    _parallel_gate = threading.Lock()  # a lock held by another thread at fork time stays held


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def walk_layout(booster) -> WalkLayout:
    """The booster's walk layout, built on first use and kept as long as the booster lives."""
    layout = _layouts.get(booster)
    if layout is None:
        forest = booster.forest
        weights = booster.weights if isinstance(booster, Dart) else np.ones(forest.num_trees, dtype=np.float32)
        layout = build_layout(forest, weights)
        _layouts[booster] = layout
    return layout


def rows(model: Model, data):
    """``data`` as the kernels read it, checked against the model's features: a float32 2-D
    array, or ``SparseRows`` for sparse input (never made dense)."""
    dm = None
    if type(data) is np.ndarray and data.dtype == np.float32 and data.ndim == 2:
        X, names = data, None
    else:
        dm = data if isinstance(data, DataMatrix) else DataMatrix(data)
        X, names = (dm.values if dm.sparse is None else dm.sparse), dm.feature_names
    if X.shape[1] != model.meta.num_features and not (isinstance(X, SparseRows) and
                                                      X.shape[1] < model.meta.num_features):
        # A narrower sparse matrix is read as XGBoost's DMatrix reads it: the columns past its
        # width are absent, hence missing.
        raise DataError(f"data has {X.shape[1]} columns but the model expects {model.meta.num_features} features")
    expected = model.features.names
    if names is not None and expected is not None and tuple(names) != expected:
        absent = [n for n in expected if n not in names]
        raise DataError(f"feature names differ from the model's; model features absent from data: {absent[:10]}"
                        if absent else "feature names are the model's but in another order")
    if dm is not None and dm.categorical is not None:
        X = encode(model, dm)  # the model re-codes categorical columns through its training categories
    return X


def _kernel_rows(X, layout: WalkLayout | None):
    """What the kernels read: the dense array itself, or the sparse rows' CSR arrays with the
    forest's feature -> slot tables (none for a linear model)."""
    if type(X) is np.ndarray:
        return X
    maps = _NO_SLOTS if layout is None else (layout.numeric_slot, layout.set_slot)
    return (X.indptr, X.indices, X.values, *maps)


_NO_SLOTS = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32))


def tree_range(model: Model, iteration_range) -> tuple[int, int]:
    """First and one-past-last tree of the boosting rounds in ``iteration_range``."""
    booster = model.booster
    if iteration_range is None:
        return 0, int(booster.iteration_indptr[-1])
    pair = _rounds_pair(iteration_range)
    rounds = booster.num_iterations
    begin, end = pair
    if end == 0:
        end = rounds
    if not 0 <= begin < end <= rounds:
        raise DataError(f"iteration_range {pair} must satisfy 0 <= begin < end <= {rounds} "
                        f"(the model has {rounds} boosting rounds; (0, 0) means all)")
    return int(booster.iteration_indptr[begin]), int(booster.iteration_indptr[end])


def _rounds_pair(iteration_range) -> tuple[int, int] | None:
    """``iteration_range`` as two Python ints (None stays None); anything else is refused by name."""
    if iteration_range is None:
        return None
    try:
        pair = tuple(iteration_range)
    except TypeError:
        pair = ()
    if isinstance(iteration_range, (str, bytes)) or len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise DataError(f"iteration_range must be a pair of ints (begin, end), e.g. (0, 10), or None or (0, 0) "
                        f"for every round; got {_shown(iteration_range)}")
    return int(pair[0]), int(pair[1])


def check_options(*, output_margin=False, nthread=None) -> None:
    """The flag and thread count of a predict call, checked once at ``Model``'s edge for every
    engine; the usual values cost one comparison each."""
    if output_margin is not False and output_margin is not True and not isinstance(output_margin, np.bool_):
        raise DataError(f"output_margin must be True or False, got {_shown(output_margin)}")
    if nthread is not None and not _is_int(nthread):
        raise DataError(f"nthread must be an int (threads to use; None, 0 or -1: every core), got "
                        f"{_shown(nthread)}")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _shown(value) -> str:
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} ({type(value).__name__})"


def _initial_margin(model: Model, n: int, base_margin) -> np.ndarray:
    k = model.meta.num_outputs
    if base_margin is None:
        out = np.empty((n, k), dtype=np.float32)
        out[:] = model.meta.base_score
        return out
    return np.array(base_margin_rows(base_margin, n, k).reshape(n, k), dtype=np.float32, order="C")


def base_margin_rows(base_margin, n: int, k: int) -> np.ndarray:
    """``base_margin`` as numbers of shape (rows, outputs), or flattened row by row as XGBoost's
    DMatrix reads a 1-D one. Any other shape, even with the right count, is refused: an
    (outputs, rows) array would otherwise be read silently in the wrong order."""
    try:
        bm = np.asarray(base_margin)
    except (TypeError, ValueError):  # ragged nesting
        bm = np.asarray(None)
    if bm.dtype.kind not in "fiu":
        raise DataError(f"base_margin must be an array of numbers, got {_shown(base_margin)} with dtype {bm.dtype}")
    if bm.shape in ((n, k), (n * k,)):
        return bm
    flat = f"({n},)" if k == 1 else f"({n * k},) (flattened row by row)"
    hint = "; it looks transposed: pass base_margin.T" if bm.shape == (k, n) else ""
    raise DataError(f"base_margin has {bm.size} values in shape {bm.shape}; expected ({n}, {k}) (rows x outputs) "
                    f"or {flat}{hint}")


def _run(serial_kernel, parallel_kernel, n_rows: int, nthread, args) -> None:
    """Run the parallel kernel when the batch, the caller and the process allow it; else the serial one."""
    global _pool_started_in
    if n_rows < SERIAL_BELOW or nthread == 1 or _pool_started_in not in (None, os.getpid()):
        serial_kernel(*args)
        return
    if not _parallel_gate.acquire(blocking=False):
        serial_kernel(*args)  # another thread is running a parallel kernel: don't oversubscribe
        return
    try:
        _pool_started_in = os.getpid()
        if nthread is not None and nthread > 0:
            numba.set_num_threads(min(int(nthread), numba.config.NUMBA_NUM_THREADS))
        else:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parallel_kernel(*args)
    finally:
        _parallel_gate.release()


def predict_margin(model: Model, X, iteration_range=None, base_margin=None, nthread=None,
                   transform: Transform = Transform.IDENTITY) -> np.ndarray:
    """Float32 margins, shape (rows, outputs), with ``transform`` (not ARGMAX) applied in place.

    Scalar-leaf forests do it all in one kernel call: fill each block's rows with the base
    score, add the trees, transform the block."""
    booster = model.booster
    n, k = X.shape[0], model.meta.num_outputs
    if isinstance(booster, Linear):
        if _rounds_pair(iteration_range) not in (None, (0, 0)):
            raise DataError(f"iteration_range {tuple(iteration_range)} is invalid: a linear model has one round")
        out = _initial_margin(model, n, base_margin)
        kernels.linear_margin(_kernel_rows(X, None), booster.weights, booster.bias, out)
        return apply_transform(out, transform)
    t0, t1 = tree_range(model, iteration_range)
    L = walk_layout(booster)
    X = _kernel_rows(X, L)
    if L.vector_leaf:
        out = _initial_margin(model, n, base_margin)
        _run(kernels.vector_serial, kernels.vector_parallel, n, nthread, (X, *L.walk_args, t0, t1, out))
        return apply_transform(out, transform)
    if base_margin is None:
        out, init = np.empty((n, k), dtype=np.float32), True
    else:
        out, init = _initial_margin(model, n, base_margin), False
    _run(kernels.margin_serial, kernels.margin_parallel, n, nthread,
         (X, *L.margin_args, t0, t1, model.meta.base_score, init, transform.value, out))
    return out


def predict(model: Model, data, *, output_margin=False, iteration_range=None, base_margin=None, nthread=None):
    if nonsymmetric.is_nonsymmetric(model):
        return nonsymmetric.predict(model, data, output_margin=output_margin, iteration_range=iteration_range,
                                    base_margin=base_margin, nthread=nthread)
    if oblivious.is_oblivious(model):
        return oblivious.predict(model, data, output_margin=output_margin, iteration_range=iteration_range,
                                 base_margin=base_margin, nthread=nthread)
    if lightgbm.is_lightgbm(model):
        return lightgbm.predict(model, data, output_margin=output_margin, iteration_range=iteration_range,
                                base_margin=base_margin, nthread=nthread)
    transform = Transform.IDENTITY if output_margin else model.objective.transform
    in_kernel = Transform.IDENTITY if transform == Transform.ARGMAX else transform
    out = predict_margin(model, rows(model, data), iteration_range, base_margin, nthread, in_kernel)
    return _squeeze(apply_transform(out, transform) if transform == Transform.ARGMAX else out)


def predict_other(model: Model, data, *, output_margin, iteration_range, base_margin, nthread, pred_leaf,
                  pred_contribs, approx_contribs, pred_interactions):
    """``predict`` with XGBoost's keywords for the other kinds of prediction; like XGBoost it
    refuses two kinds at once (``output_margin`` counts as one) and ignores ``approx_contribs``
    alone."""
    flags = {"output_margin": output_margin, "pred_leaf": pred_leaf, "pred_contribs": pred_contribs,
             "approx_contribs": approx_contribs, "pred_interactions": pred_interactions}
    for name, value in flags.items():
        if value is not False and value is not True and not isinstance(value, np.bool_):
            raise DataError(f"{name} must be True or False, got {_shown(value)}")
    chosen = [name for name in ("output_margin", "pred_leaf", "pred_contribs", "pred_interactions") if flags[name]]
    if len(chosen) > 1:
        raise DataError(f"one kind of prediction at a time, as XGBoost allows; got {' and '.join(chosen)}")
    if nthread is not None:
        check_options(nthread=nthread)
    if pred_contribs or pred_interactions:
        from . import shap

        call = shap.predict_contribs if pred_contribs else shap.predict_interactions
        return call(model, data, approximate=bool(approx_contribs), iteration_range=iteration_range,
                    base_margin=base_margin, nthread=nthread)
    if pred_leaf:
        return predict_leaf(model, data, iteration_range=iteration_range, nthread=nthread)
    return predict(model, data, output_margin=bool(output_margin), iteration_range=iteration_range,
                   base_margin=base_margin, nthread=nthread)


def predict_leaf(model: Model, data, *, iteration_range=None, nthread=None) -> np.ndarray:
    if nonsymmetric.is_nonsymmetric(model):
        return nonsymmetric.predict_leaf(model, data, iteration_range=iteration_range, nthread=nthread)
    if oblivious.is_oblivious(model):
        return oblivious.predict_leaf(model, data, iteration_range=iteration_range, nthread=nthread)
    if lightgbm.is_lightgbm(model):
        return lightgbm.predict_leaf(model, data, iteration_range=iteration_range, nthread=nthread)
    booster = model.booster
    if isinstance(booster, Linear):
        raise DataError("predict_leaf needs a tree model; this model's booster is linear")
    X = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    L = walk_layout(booster)
    n = X.shape[0]
    out = np.empty((n, t1 - t0), dtype=np.float32)
    _run(kernels.leaf_serial, kernels.leaf_parallel, n, nthread, (_kernel_rows(X, L), *L.leaf_args, t0, t1, out))
    return _squeeze(out)


def warmup(model: Model) -> None:
    """Compile (or load from Numba's on-disk cache) every kernel ``model`` uses, serial and
    parallel, so that a service pays compile time at deploy rather than on its first request:
    those of ``predict``, ``predict_leaf`` and ``predict_contribs`` (``shap.warmup``).

    The calls go to a one-column stand-in of the model (``_one_column``): a model may declare
    2**30 features, and warming up must not allocate rows of that width. The stand-in's arrays
    have the model's types, so the specialisations compiled are the model's own."""
    if nonsymmetric.is_nonsymmetric(model):
        return nonsymmetric.warmup(model)
    if oblivious.is_oblivious(model):
        return oblivious.warmup(model)
    if lightgbm.is_lightgbm(model):
        return lightgbm.warmup(model)
    stand_in = _one_column(model)
    X = np.zeros((SERIAL_BELOW, stand_in.meta.num_features), dtype=np.float32)
    for batch in (X[:1], X):
        predict(stand_in, batch)
        predict(stand_in, batch, output_margin=True)
        if not isinstance(stand_in.booster, Linear):
            predict_leaf(stand_in, batch)
    from . import shap

    shap.warmup(model)  # the model itself: its kernels read split features, which the stand-in changes


def _one_column(model: Model) -> Model:
    """``model`` with every split reading feature 0 (its slot table's feature bits cleared, the
    kind bits kept), or for a linear booster its first weight row only."""
    booster = model.booster
    width = min(model.meta.num_features, 1)
    if isinstance(booster, Linear):
        booster = Linear(weights=booster.weights[:width], bias=booster.bias)
    else:
        forest = booster.forest
        slots = forest.slots & ~FEATURE_MASK
        slots.flags.writeable = forest.slots.flags.writeable  # read-only arrays are another Numba type
        booster = dataclasses.replace(booster, forest=dataclasses.replace(forest, slots=slots))
        width = 1
    return dataclasses.replace(model, booster=booster, meta=dataclasses.replace(model.meta, num_features=width),
                               features=FeatureInfo())


def _squeeze(out: np.ndarray) -> np.ndarray:
    """XGBoost's Python predict drops a second axis of length one."""
    return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out


__all__ = ["base_margin_rows", "check_options", "predict", "predict_leaf", "predict_margin", "predict_other", "rows",
           "walk_layout", "warmup"]
