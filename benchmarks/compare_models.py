"""The benchmark's model registry: what ``compare.py`` times, trained once and cached.

A ``ModelSpec`` knows how to train its model (into ``benchmarks/.cache/``), how to make
benchmark data for it, and how its own library predicts (the reference every engine is checked
against). Add a model by calling ``register_model(ModelSpec(...))``; a LightGBM or CatBoost
model is a spec with ``library="lightgbm"`` / ``"catboost"``, its own ``train`` and
``reference`` functions, and engines that say whether they read it (``Engine.supports``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "compare"

TRAIN_ROWS = 20_000
TRAIN_SEED = 0
DATA_SEED = 1
NAN_FRACTION = 0.02


@dataclass
class ModelSpec:
    name: str
    library: str  # "xgboost" (later "lightgbm", "catboost")
    description: str
    filename: str  # under CACHE
    train: Callable[["ModelSpec", Path], None]  # writes the model file
    reference_fn: Callable[["ModelSpec", np.ndarray], np.ndarray]  # the library's own predict, transformed output
    num_features: int = 50
    task: str = "binary"  # "binary" | "multiclass" | "regression"
    num_classes: int = 1
    booster: str = "gbtree"  # "gbtree" | "dart"
    categorical: dict[int, int] = field(default_factory=dict)  # feature index -> number of categories
    quick: bool = False  # part of --quick
    # what every engine is given, made from ``data``'s float32 rows outside the timed calls (CatBoost's
    # categorical features: a frame whose categorical columns hold integers, as catboost requires)
    input_fn: Callable[["ModelSpec", np.ndarray], object] | None = None
    _stats: dict | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        """The model file, trained on first use."""
        path = CACHE / self.filename
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".tmp" + path.suffix)
            self.train(self, tmp)
            tmp.replace(path)
        return path

    @property
    def has_categorical(self) -> bool:
        return bool(self.categorical)

    def data(self, n: int, seed: int = DATA_SEED) -> np.ndarray:
        """float32 [n, num_features], NaN_FRACTION of cells NaN; categorical columns hold codes 0..k-1."""
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, self.num_features)).astype(np.float32)
        for j, k in self.categorical.items():
            X[:, j] = rng.integers(0, k, size=n).astype(np.float32)
        X[rng.random(X.shape, dtype=np.float32) < NAN_FRACTION] = np.nan
        return X

    def inputs(self, X: np.ndarray):
        """``data``'s rows as the engines take them: the array itself, or the spec's own form."""
        return X if self.input_fn is None else self.input_fn(self, X)

    def reference(self, X: np.ndarray) -> np.ndarray:
        """The source library's own prediction (transformed output) — what every engine must match."""
        return self.reference_fn(self, X)

    def stats(self) -> dict:
        """num_trees and num_nodes of the trained model (from the library's own JSON)."""
        if self._stats is None:
            self._stats = STATS[self.library](self)
        return self._stats


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} registered twice")
    MODELS[spec.name] = spec
    return spec


# ---------------------------------------------------------------- XGBoost

def _labels(spec: ModelSpec, X: np.ndarray, rng) -> np.ndarray:
    Z = np.nan_to_num(X)
    signal = Z[:, :5].sum(1) + 0.5 * np.sin(3 * Z[:, 5]) * Z[:, 6]
    for j, k in spec.categorical.items():  # a random effect per category
        effect = rng.normal(0, 1, k)
        codes = np.where(np.isnan(X[:, j]), 0, X[:, j]).astype(int)
        signal = signal + effect[codes]
    if spec.task == "multiclass":
        W = rng.normal(size=(10, spec.num_classes))
        scores = Z[:, :10] @ W + signal[:, None] * 0.3 + rng.gumbel(size=(len(X), spec.num_classes))
        return scores.argmax(1).astype(np.float32)
    return (signal + rng.normal(0, 1, len(X)) > 0).astype(np.float32)


def xgb_trainer(rounds: int, depth: int, **extra) -> Callable[[ModelSpec, Path], None]:
    def train(spec: ModelSpec, path: Path) -> None:
        import xgboost as xgb

        rng = np.random.default_rng(TRAIN_SEED)
        X = spec.data(TRAIN_ROWS, seed=TRAIN_SEED)
        y = _labels(spec, X, rng)
        params = {"max_depth": depth, "eta": 0.1, "nthread": 2, "seed": 0, "tree_method": "hist",
                  "booster": spec.booster, **extra}
        if spec.task == "multiclass":
            params.update(objective="multi:softprob", num_class=spec.num_classes)
        else:
            params["objective"] = "binary:logistic"
        kwargs = {}
        if spec.categorical:
            kwargs = {"enable_categorical": True,
                      "feature_types": ["c" if j in spec.categorical else "q" for j in range(spec.num_features)]}
            params["max_cat_to_onehot"] = 1
        bst = xgb.train(params, xgb.DMatrix(X, y, **kwargs), rounds)
        bst.save_model(str(path))

    return train


def xgb_booster(spec: ModelSpec, nthread: int | None = None):
    import xgboost as xgb

    bst = xgb.Booster(model_file=str(spec.path))
    if nthread:
        bst.set_param({"nthread": nthread})
    return bst


def xgb_dmatrix(spec: ModelSpec, X: np.ndarray, nthread: int | None = None):
    import xgboost as xgb

    kwargs = {"nthread": nthread} if nthread else {}
    if spec.categorical:
        kwargs.update(enable_categorical=True,
                      feature_types=["c" if j in spec.categorical else "q" for j in range(spec.num_features)])
    return xgb.DMatrix(X, **kwargs)


def xgb_reference(spec: ModelSpec, X: np.ndarray) -> np.ndarray:
    """xgboost's DMatrix predict, the reference output."""
    return xgb_booster(spec, nthread=2).predict(xgb_dmatrix(spec, X))


def xgb_stats(spec: ModelSpec) -> dict:
    doc = json.loads(xgb_booster(spec).save_raw("json"))
    gb = doc["learner"]["gradient_booster"]
    model = (gb.get("gbtree") or gb)["model"]
    trees = model["trees"]
    return {"num_trees": len(trees), "num_nodes": sum(int(t["tree_param"]["num_nodes"]) for t in trees)}


# ---------------------------------------------------------------- LightGBM

def lgb_trainer(rounds: int, num_leaves: int) -> Callable[[ModelSpec, Path], None]:
    def train(spec: ModelSpec, path: Path) -> None:
        import lightgbm as lgb

        rng = np.random.default_rng(TRAIN_SEED)
        X = spec.data(TRAIN_ROWS, seed=TRAIN_SEED)
        y = _labels(spec, X, rng)
        params = {"num_leaves": num_leaves, "learning_rate": 0.1, "num_threads": 2, "seed": 0, "verbose": -1,
                  "min_data_in_leaf": 5, "min_data_per_group": 20}
        if spec.task == "multiclass":
            params.update(objective="multiclass", num_class=spec.num_classes)
        else:
            params["objective"] = "binary"
        dataset = lgb.Dataset(X, y, categorical_feature=sorted(spec.categorical) or "auto")
        lgb.train(params, dataset, rounds).save_model(str(path))

    return train


def lgb_booster(spec: ModelSpec):
    import lightgbm as lgb

    return lgb.Booster(model_file=str(spec.path))


def lgb_reference(spec: ModelSpec, X: np.ndarray) -> np.ndarray:
    """lightgbm's Booster.predict, the reference output."""
    return lgb_booster(spec).predict(X, num_threads=2)


def lgb_stats(spec: ModelSpec) -> dict:
    trees = lgb_booster(spec).dump_model()["tree_info"]
    return {"num_trees": len(trees), "num_nodes": sum(2 * int(t["num_leaves"]) - 1 for t in trees)}


# ---------------------------------------------------------------- CatBoost

def cb_frame(spec: ModelSpec, X: np.ndarray):
    """A frame with the categorical columns as int64 codes (a NaN code becomes -1: catboost refuses
    NaN categories), the float ones float32; columns named f0, f1, ... as the model was trained."""
    import pandas as pd

    columns = {}
    for j in range(spec.num_features):
        if j in spec.categorical:
            columns[f"f{j}"] = np.where(np.isnan(X[:, j]), -1, X[:, j]).astype(np.int64)
        else:
            columns[f"f{j}"] = X[:, j]
    return pd.DataFrame(columns)


def cb_trainer(rounds: int, depth: int, fmt: str = "cbm", **extra) -> Callable[[ModelSpec, Path], None]:
    def train(spec: ModelSpec, path: Path) -> None:
        import catboost

        rng = np.random.default_rng(TRAIN_SEED)
        X = spec.data(TRAIN_ROWS, seed=TRAIN_SEED)
        y = _labels(spec, X, rng)
        params = {"iterations": rounds, "depth": depth, "learning_rate": 0.1, "thread_count": 2, "random_seed": 0,
                  "verbose": 0, "allow_writing_files": False, **extra}
        if spec.task == "multiclass":
            params["loss_function"] = "MultiClass"
        model = catboost.CatBoostClassifier(**params)
        model.fit(spec.inputs(X), y.astype(int), cat_features=sorted(spec.categorical) or None)
        model.save_model(str(path), format=fmt)

    return train


def cb_model(spec: ModelSpec):
    import catboost

    model = catboost.CatBoost()
    model.load_model(str(spec.path), format="json" if spec.path.suffix == ".json" else "cbm")
    return model


def cb_reference(spec: ModelSpec, X) -> np.ndarray:
    """catboost's own predict (probabilities), the reference output."""
    p = cb_model(spec).predict(X, prediction_type="Probability", thread_count=2)
    return p[:, 1] if spec.task == "binary" else p


def cb_stats(spec: ModelSpec) -> dict:
    leaves = cb_model(spec).get_tree_leaf_counts()
    return {"num_trees": len(leaves), "num_nodes": int(sum(2 * int(n) - 1 for n in leaves))}


STATS: dict[str, Callable[[ModelSpec], dict]] = {"xgboost": xgb_stats, "lightgbm": lgb_stats, "catboost": cb_stats}


def _xgb(name, description, rounds, depth, quick=False, extra=None, **kw) -> ModelSpec:
    return register_model(ModelSpec(name=name, library="xgboost", description=description, filename=f"{name}.ubj",
                                    train=xgb_trainer(rounds, depth, **(extra or {})), reference_fn=xgb_reference,
                                    quick=quick, **kw))


_xgb("xgb-500x8", "XGBoost binary:logistic, 500 trees depth 8, 50 features", 500, 8, quick=True)
_xgb("xgb-100x6", "XGBoost binary:logistic, 100 trees depth 6, 50 features", 100, 6, quick=True)
_xgb("xgb-multi10", "XGBoost multi:softprob 10 classes, 200 rounds (2000 trees) depth 6, 50 features", 200, 6,
     task="multiclass", num_classes=10)
_xgb("xgb-cat", "XGBoost binary:logistic, 200 trees depth 6, 46 numeric + 4 categorical features "
     "(20/30/40/50 categories, partition splits: max_cat_to_onehot=1)", 200, 6,
     categorical={46: 20, 47: 30, 48: 40, 49: 50})
_xgb("xgb-dart", "XGBoost DART binary:logistic, 200 trees depth 6, 50 features (rate_drop 0.1)", 200, 6,
     booster="dart", extra={"rate_drop": 0.1, "skip_drop": 0.5, "sample_type": "uniform", "normalize_type": "tree"})


def _lgb(name, description, rounds, num_leaves, **kw) -> ModelSpec:
    return register_model(ModelSpec(name=name, library="lightgbm", description=description, filename=f"{name}.txt",
                                    train=lgb_trainer(rounds, num_leaves), reference_fn=lgb_reference, **kw))


_lgb("lgb-500x255", "LightGBM binary, 500 trees x 255 leaves, 50 features", 500, 255)
_lgb("lgb-multi5", "LightGBM multiclass 5 classes, 100 rounds (500 trees) x 63 leaves, 50 features", 100, 63,
     task="multiclass", num_classes=5)
_lgb("lgb-cat", "LightGBM binary, 200 trees x 63 leaves, 46 numeric + 4 categorical features "
     "(20/30/40/50 categories)", 200, 63, categorical={46: 20, 47: 30, 48: 40, 49: 50})


def _cb(name, description, rounds, depth, fmt="cbm", extra=None, **kw) -> ModelSpec:
    return register_model(ModelSpec(name=name, library="catboost", description=description,
                                    filename=f"{name}.{fmt}", train=cb_trainer(rounds, depth, fmt, **(extra or {})),
                                    reference_fn=cb_reference, **kw))


_cb("cb-500x6", "CatBoost Logloss, 500 symmetric trees depth 6, 50 features", 500, 6)
_cb("cb-cat", "CatBoost Logloss, 200 symmetric trees depth 6, 46 numeric + 4 categorical features "
    "(20 categories one-hot; 30/40/50 as CTRs: one_hot_max_size=25), saved as JSON", 200, 6, fmt="json",
    extra={"one_hot_max_size": 25}, categorical={46: 20, 47: 30, 48: 40, 49: 50}, input_fn=cb_frame)
_cb("cb-depthwise", "CatBoost Logloss, 200 non-symmetric trees (grow_policy Depthwise) depth 6, 50 features",
    200, 6, extra={"grow_policy": "Depthwise"})
