"""Feature contributions of LightGBM models, as LightGBM's ``predict(pred_contrib=True)``.

Values are LightGBM's bit for bit (``shap_lightgbm_kernels``); the layout is XGBoost's, as for
every model gbinfer explains: (rows, features + 1), or (rows, classes, features + 1) for a
multiclass model where LightGBM gives (rows, classes * (features + 1)) — ``out.reshape(n, -1)``
turns one into the other. A ``base_margin`` is added to the bias column (LightGBM's
``pred_contrib`` has no init score).

Refused as LightGBM refuses or has nothing to match: linear trees (LightGBM: "not implemented
for linear trees"), interaction values and Saabas' approximation (LightGBM computes neither),
and models whose file stores no row counts (TreeSHAP's covers).
"""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import UnsupportedModelError
from . import shap_lightgbm_kernels as K
from .lightgbm import _kernel_rows, _layout, rows

_expected: "weakref.WeakKeyDictionary[object, np.ndarray]" = weakref.WeakKeyDictionary()


def check(model, what: str, approximate: bool) -> None:
    forest = model.booster.forest
    if what != "feature contributions":
        raise UnsupportedModelError(None, "booster", f"{what} are not computed for LightGBM models: LightGBM has "
                                                     "no equivalent to match (use predict_contribs)")
    if approximate:
        raise UnsupportedModelError(None, "approximate", "approximate (Saabas) contributions are not computed for "
                                                         "LightGBM models: LightGBM has no equivalent to match")
    if forest.has_linear:
        raise UnsupportedModelError(None, "is_linear", "feature contributions are not computed for linear trees, "
                                                       "as LightGBM does not compute them")
    if not forest.has_counts:
        raise UnsupportedModelError(None, "leaf_count", "feature contributions need each node's row count "
                                                        "(LightGBM's internal_count / leaf_count), and this model "
                                                        "holds none: load the LightGBM model text file instead")


def _expected_values(booster) -> np.ndarray:
    values = _expected.get(booster)
    if values is None:
        f = booster.forest
        values = np.zeros(f.num_trees, dtype=np.float64)
        K.expected_values(f.left, f.data_count, f.leaf_value, f.leaf_index, f.tree_offsets, values)
        _expected[booster] = values
    return values


def predict_contribs(model, data, *, approximate, iteration_range, base_margin, nthread) -> np.ndarray:
    from . import base_margin_rows, check_options, tree_range

    check(model, "feature contributions", approximate)
    if nthread is not None:
        check_options(nthread=nthread)
    X = rows(model, data)
    t0, t1 = tree_range(model, iteration_range)
    n = X.shape[0] if isinstance(X, np.ndarray) else len(X[0]) - 1
    F, k = model.meta.num_features, model.meta.num_outputs
    out = np.zeros((n, k, F + 1), dtype=np.float64)
    _contribs(model, X, t0, t1, n, nthread, out)
    if base_margin is not None:
        out[:, :, F] += base_margin_rows(base_margin, n, k).reshape(n, k)
    return out[:, 0] if k == 1 else out


def _contribs(model, X, t0, t1, size, nthread, out) -> None:
    """One kernel call over rows ``X`` and trees [t0, t1); ``size`` is the row count ``_run``
    weighs (serial or parallel)."""
    from . import _run

    booster = model.booster
    f = booster.forest
    margin_args, _, table, _, _, _ = _layout(booster)
    slots, nodes, cat_bits = margin_args[0], margin_args[1], margin_args[6]
    max_depth = int(f.tree_depth[t0:t1].max(initial=0))
    _run(K.contribs_serial, K.contribs_parallel, size, nthread,
         (_kernel_rows(X, table), slots, nodes, cat_bits, f.left, f.split_feature, f.data_count, f.leaf_value,
          f.tree_offsets[:-1], f.tree_group, _expected_values(booster), max_depth, t0, t1, out))


def warmup(model) -> None:
    """Compile (or load from Numba's cache) the contribution kernels for float64 and float32
    rows, serial and parallel, so that a service's first ``predict_contribs`` is not a compile.
    The calls take zero rows of the model's width: nothing is allocated per feature."""
    from . import SERIAL_BELOW

    try:
        check(model, "feature contributions", False)
    except UnsupportedModelError:
        return  # predict_contribs refuses this model
    F, k = model.meta.num_features, model.meta.num_outputs
    out = np.zeros((0, k, F + 1), dtype=np.float64)
    for dtype in (np.float64, np.float32):
        X = rows(model, np.zeros((0, F), dtype=dtype))
        for size in (1, SERIAL_BELOW):  # a size that runs serially, then one that runs in parallel
            _contribs(model, X, 0, model.booster.forest.num_trees, size, None, out)
