"""Small models of each library, and their data, shared by the Dask and Spark tests: a binary and a
3-class XGBoost model on named columns, a LightGBM regressor, a CatBoost classifier with a string
categorical column. Trained in a second or two, so both test modules stay fast."""

from __future__ import annotations

import numpy as np
import pandas as pd

import gbinfer

ROWS = 600
NUMERIC = ["a", "b", "c", "d"]


def frame(seed: int = 0) -> pd.DataFrame:
    """Four float columns, with some NaN (the models' missing values), and a string column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(ROWS, len(NUMERIC)))
    X[rng.random(X.shape) < 0.05] = np.nan
    df = pd.DataFrame(X, columns=NUMERIC)
    df["colour"] = pd.Series(rng.choice(["red", "green", "blue", "amber"], ROWS), dtype=object)
    return df


def models() -> dict:
    """name -> (gbinfer Model, the library's own trained model)."""
    import catboost
    import lightgbm
    import xgboost

    df = frame()
    X = df[NUMERIC]
    signal = np.nan_to_num(X["a"].to_numpy()) + 0.5 * np.nan_to_num(X["b"].to_numpy())
    binary = (signal > 0).astype(int)
    three = np.digitize(signal, [-0.5, 0.5])
    xgb_binary = xgboost.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                               xgboost.DMatrix(X, binary), 8)
    xgb_multi = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1},
                              xgboost.DMatrix(X, three), 5)
    lgb = lightgbm.train({"objective": "regression", "num_leaves": 8, "verbose": -1, "num_threads": 1},
                         lightgbm.Dataset(X, signal), 10)
    with_colour = (binary ^ (df["colour"] == "red").to_numpy()).astype(int)
    cb = catboost.CatBoostClassifier(iterations=10, depth=3, verbose=0, thread_count=1, cat_features=["colour"],
                                     one_hot_max_size=2, allow_writing_files=False)
    cb.fit(df, with_colour)
    return {"xgb_binary": (gbinfer.load(xgb_binary), xgb_binary), "xgb_multi": (gbinfer.load(xgb_multi), xgb_multi),
            "lgb": (gbinfer.load(lgb), lgb), "cb": (gbinfer.load(cb), cb)}
