"""Runtime model types: what a loaded model is, independent of the file it came from.

These types may change as the engine changes; saved models go through
``serialization.schema`` instead, which is versioned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

from .forest import SoAForest
from .objective import Objective
from .oblivious import Oblivious


@dataclass(frozen=True)
class TrainingCategories:
    """One feature's categories as the model was trained on them: code ``k`` is ``values[k]``.

    Input columns are re-coded through them by value. ``values`` is None when the source stored
    categories it cannot be trusted to have written correctly (XGBoost <= 3.3 with non-ASCII
    strings): codes still work, re-coding by value is refused.
    """

    dtype: str  # "str", or the integer type they were trained with: "int8", "uint8", ... "uint64"
    values: tuple | None  # str or int, in training-code order, each once


@dataclass(frozen=True)
class FeatureInfo:
    """Feature names and types as the training library recorded them (``None`` when it did not)."""

    names: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None  # XGBoost spelling: "q"/"float"/"int"/"i" numeric, "c" categorical
    # per feature: its TrainingCategories, or None (numeric, or none stored); None when the model
    # stores no categories at all
    categories: tuple[TrainingCategories | None, ...] | None = None

    def categorical_mask(self, num_features: int) -> np.ndarray:
        if self.types is None:
            return np.zeros(num_features, dtype=bool)
        return np.array([t == "c" for t in self.types], dtype=bool)


@dataclass(frozen=True)
class ModelMeta:
    num_features: int
    num_outputs: int
    base_score: np.ndarray  # float32 [num_outputs], already in margin space
    source_library: str  # "xgboost"
    source_version: tuple[int, ...]
    best_iteration: int | None = None
    attributes: dict = field(default_factory=dict)
    # what the user attached when saving (name, description, hyperparameters, metrics, custom); kept by
    # gbinfer.save / gbinfer.load through .xgbrs and native JSON
    user_metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Tree:
    """Plain boosted trees. ``iteration_indptr[i]`` is the first tree of boosting round ``i``."""

    forest: SoAForest
    iteration_indptr: np.ndarray

    @property
    def num_iterations(self) -> int:
        return len(self.iteration_indptr) - 1


@dataclass(frozen=True, eq=False)
class Dart(Tree):
    """DART trees: each tree's leaf value is scaled by its weight (float32) when added."""

    weights: np.ndarray = None  # float32 [num_trees]


@dataclass(frozen=True, eq=False)
class Linear:
    """A linear booster: margin = base + bias + sum of x[f] * weights[f] over present features."""

    weights: np.ndarray  # float32 [num_features, num_outputs]
    bias: np.ndarray  # float32 [num_outputs]

    @property
    def num_iterations(self) -> int:
        return 1


Booster = Union[Tree, Dart, Linear, Oblivious]


@dataclass(frozen=True, eq=False)
class Model:
    """A loaded model: ``predict`` gives what the training library's own ``predict`` would."""

    booster: Booster
    meta: ModelMeta
    features: FeatureInfo
    objective: Objective

    @property
    def num_features(self) -> int:
        return self.meta.num_features

    @property
    def num_outputs(self) -> int:
        return self.meta.num_outputs

    def __repr__(self) -> str:
        """One line a person can read in a log or a REPL; the dataclass default would print every array."""
        meta, booster = self.meta, self.booster
        version = ".".join(str(v) for v in meta.source_version)
        kind = ("dart" if isinstance(booster, Dart) else "gbtree" if isinstance(booster, Tree) else
                ("oblivious" if booster.symmetric else "non-symmetric") if isinstance(booster, Oblivious) else
                "gblinear")
        if isinstance(booster, Linear):
            trees = ""
        else:
            count = booster.num_trees if isinstance(booster, Oblivious) else booster.forest.num_trees
            trees = _count(count, "tree") + ", "
        return (f"<gbinfer.Model {meta.source_library} {version} {kind}: {trees}"
                f"{_count(meta.num_features, 'feature')}, {_count(meta.num_outputs, 'output')}, "
                f"{self.objective.name}>")

    def predict(self, data, *, output_margin: bool = False, iteration_range=None, base_margin=None,
                nthread: int | None = None, pred_leaf: bool = False, pred_contribs: bool = False,
                approx_contribs: bool = False, pred_interactions: bool = False) -> np.ndarray:
        """Predictions with the shapes of the source library's Python ``predict``.

        ``iteration_range=(begin, end)`` keeps boosting rounds ``begin`` to ``end - 1``
        (``(0, 0)`` or ``None``: all); ``base_margin`` replaces the base score per row, shaped
        (rows, outputs) or flattened row by row. An argument of another type or shape is a ``DataError``.
        XGBoost's ``pred_leaf``, ``pred_contribs`` (with ``approx_contribs``) and
        ``pred_interactions`` select ``predict_leaf``, ``predict_contribs`` and ``predict_interactions``;
        one kind of prediction at a time, as XGBoost allows.
        """
        engine = _engine()
        if pred_leaf is not False or pred_contribs is not False or pred_interactions is not False or \
                approx_contribs is not False:
            return engine.predict_other(self, data, output_margin=output_margin, iteration_range=iteration_range,
                                        base_margin=base_margin, nthread=nthread, pred_leaf=pred_leaf,
                                        pred_contribs=pred_contribs, approx_contribs=approx_contribs,
                                        pred_interactions=pred_interactions)
        if nthread is not None or (output_margin is not False and output_margin is not True):  # the usual: no call
            engine.check_options(output_margin=output_margin, nthread=nthread)
        return engine.predict(self, data, output_margin=output_margin, iteration_range=iteration_range,
                              base_margin=base_margin, nthread=nthread)

    def predict_contribs(self, data, *, approximate: bool = False, iteration_range=None, base_margin=None,
                         nthread: int | None = None) -> np.ndarray:
        """Per-feature contributions and a last bias column, (rows, features + 1), or
        (rows, outputs, features + 1) for several outputs; each row adds up to its margin.
        Exact TreeSHAP, or with ``approximate=True`` Saabas' path attribution, as XGBoost's
        ``pred_contribs`` / ``approx_contribs``; for a LightGBM model, lightgbm's
        ``pred_contrib`` values in this layout (no ``approximate``); for a CatBoost model,
        catboost's ``ShapValues`` (``approximate``: its ``Approximate`` ones)."""
        from .predict import shap

        return shap.predict_contribs(self, data, approximate=approximate, iteration_range=iteration_range,
                                     base_margin=base_margin, nthread=nthread)

    def predict_interactions(self, data, *, approximate: bool = False, iteration_range=None, base_margin=None,
                             nthread: int | None = None) -> np.ndarray:
        """SHAP interaction values, (rows, features + 1, features + 1), or with an outputs axis
        after the rows; each row of a matrix adds up to that feature's contribution. As XGBoost's
        ``pred_interactions``."""
        from .predict import shap

        return shap.predict_interactions(self, data, approximate=approximate, iteration_range=iteration_range,
                                         base_margin=base_margin, nthread=nthread)

    def warmup(self) -> "Model":
        """Compile or load from cache every kernel this model uses; call it at deploy time."""
        _engine().warmup(self)
        return self

    def predict_leaf(self, data, *, iteration_range=None, nthread: int | None = None) -> np.ndarray:
        """Leaf index per tree, numbered as the source library numbers its nodes."""
        engine = _engine()
        if nthread is not None:
            engine.check_options(nthread=nthread)
        return engine.predict_leaf(self, data, iteration_range=iteration_range, nthread=nthread)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_predict_module = None


def _engine():
    """``gbinfer.predict``, imported on first use (it brings in Numba, which loading a model
    for inspection does not need). A cached reference: an import statement in every
    ``predict`` call costs more than a one-row walk of a small model."""
    global _predict_module
    if _predict_module is None:
        from . import predict

        _predict_module = predict
    return _predict_module
