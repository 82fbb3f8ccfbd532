"""Make the CatBoost fuzz seeds: tiny models (few trees, depth 2-3, few borders) so that a trial
is cheap, each covering a part of the format: every NaN treatment of a float feature, one-hot
categorical splits, a multiclass model, non-symmetric trees (Depthwise, Lossguide), and CTR
features (JSON, and ``.cbm`` with its CTR tables after the core). Written to
``fixtures/catboost_fuzz/``: ``<case>.cbm``, ``<case>.json`` and ``<case>.npz``
(test rows ``X`` with NaN in categorical columns, ``cat_<column>`` the categories as strings, and
catboost's own ``raw`` values and ``leaf`` indexes for them), so that the reference walk in
``reference_catboost.py`` is checked against catboost itself.

    python tests/fuzz/generate_catboost_seeds.py     # the same trees and catboost outputs for a given
                                                     # catboost release (model_guid, train_finish_time differ)
    python tests/fuzz/generate_catboost_seeds.py depthwise lossguide   # only these cases (the manifest keeps
                                                                       # the others' entries)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import catboost as cb
import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[2] / "fixtures" / "catboost_fuzz"
# the categories of the seeds and of the fuzz inputs (reference_catboost.CATEGORIES): short
# strings, so that the reference's own CityHash needs only its 0-16 byte path
COLOURS = ["red", "green", "blue", "yellow", "violet", "black"]
SHAPES = ["circle", "square", "hexagon"]


def frame(seed: int, n: int = 200, floats: int = 3, cats: bool = False, nans: bool = True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, floats)).astype(np.float32)
    if nans:
        X[rng.random(n) < 0.15, 1] = np.nan
    df = pd.DataFrame({f"f{i}": X[:, i] for i in range(floats)})
    if cats:
        df["colour"] = rng.choice(COLOURS, n)
        df["shape"] = rng.choice(SHAPES, n)
    s = 2 * df["f0"].to_numpy(np.float64) + np.where(df["f1"].isna(), 1.5, df["f1"].fillna(0).to_numpy(np.float64))
    if cats:
        s = 0.5 * s + 2.0 * df["colour"].isin(["red", "blue"]).to_numpy() + (df["shape"] == "square").to_numpy() - 1
    return df, s + 0.3 * rng.normal(size=n)


def cases():
    """name -> (estimator class, params, frame, target, categorical columns, formats)."""
    out = {}
    df, s = frame(1)
    for mode in ("Min", "Max"):
        out[f"nan_{mode.lower()}"] = (cb.CatBoostRegressor, {"nan_mode": mode}, df, s, [], ("cbm", "json"))
    dn, sn = frame(2, nans=False)
    out["nan_forbidden"] = (cb.CatBoostClassifier, {"nan_mode": "Forbidden"}, dn, (sn > 0).astype(int), [],
                            ("cbm", "json"))
    out["multiclass"] = (cb.CatBoostClassifier, {"loss_function": "MultiClass", "depth": 2}, df,
                         np.digitize(s, [-0.8, 0.8]), [], ("cbm", "json"))
    dc, sc = frame(3, cats=True)
    out["onehot"] = (cb.CatBoostClassifier, {"one_hot_max_size": 10}, dc, (sc > 0).astype(int), ["colour", "shape"],
                     ("cbm", "json"))
    out["ctr"] = (cb.CatBoostClassifier, {"one_hot_max_size": 3, "max_ctr_complexity": 2,
                                          "simple_ctr": ["Borders", "Counter", "Buckets"],
                                          "combinations_ctr": ["Borders", "Counter"]},
                  dc, (sc > np.median(sc)).astype(int), ["colour", "shape"], ("json",))
    out["ctr_regression"] = (cb.CatBoostRegressor, {"one_hot_max_size": 1, "max_ctr_complexity": 2,
                                                    "simple_ctr": ["Borders", "Counter"]},
                             dc, sc, ["colour", "shape"], ("json",))
    out["ctr_cbm"] = (cb.CatBoostClassifier, {"iterations": 10, "one_hot_max_size": 2, "max_ctr_complexity": 2,
                                              "simple_ctr": ["Borders", "Counter"],
                                              "combinations_ctr": ["Borders"]},
                      dc, (sc > np.median(sc)).astype(int), ["colour", "shape"], ("cbm",))
    out["depthwise"] = (cb.CatBoostRegressor, {"grow_policy": "Depthwise", "iterations": 10, "depth": 3}, df, s, [],
                        ("cbm", "json"))
    out["lossguide"] = (cb.CatBoostClassifier, {"grow_policy": "Lossguide", "iterations": 10, "max_leaves": 5,
                                                "depth": 4}, df, (s > 0).astype(int), [], ("cbm", "json"))
    return out


def sample_rows(df, cats):
    """Training rows, rows of NaN, ±0 and ±inf, and unseen categories."""
    out = df.iloc[:24].copy()
    floats = [c for c in df.columns if c not in cats]
    for i, v in enumerate([np.nan, 0.0, -0.0, np.inf, -np.inf]):
        out.loc[len(out)] = out.iloc[i].copy()
        out.loc[len(out) - 1, floats] = v
    if cats:
        for c in cats:
            out.loc[out.index[-4:], c] = ["unseen", "", "Red", "x"]
    return out.reset_index(drop=True)


def main(names=()):
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"catboost": cb.__version__, "numpy": np.__version__, "python": sys.version.split()[0], "cases": []}
    if names:
        kept = json.loads((OUT / "manifest.json").read_text())["cases"]
        manifest["cases"] = [c for c in kept if c["name"] not in names]
    for name, (cls, params, df, y, cats, formats) in cases().items():
        if names and name not in names:
            continue
        params = {"iterations": 4, "depth": 3, "border_count": 6, "random_seed": 0, "thread_count": 1, "verbose": 0,
                  "allow_writing_files": False, **params}
        model = cls(**params)
        model.fit(df, y, cat_features=cats or None)
        test = sample_rows(df, cats)
        pool = cb.Pool(test, cat_features=cats or None)
        X = np.full((len(test), test.shape[1]), np.nan, dtype=np.float32)
        arrays = {}
        for j, c in enumerate(test.columns):
            if c in cats:
                arrays[f"cat_{j}"] = test[c].to_numpy().astype(str)
            else:
                X[:, j] = test[c].to_numpy(np.float32)
        raw = np.asarray(model.predict(pool, prediction_type="RawFormulaVal"), dtype=np.float64)
        leaf = np.asarray(model.calc_leaf_indexes(pool), dtype=np.uint32)
        for fmt in formats:
            path = OUT / f"{name}.{fmt}"
            model.save_model(str(path), **({"format": "json"} if fmt == "json" else {}))
            if fmt == "json":  # indented by catboost; compact, so that mutations are cheap to write back
                path.write_bytes(json.dumps(json.loads(path.read_bytes())).encode())
        np.savez_compressed(OUT / f"{name}.npz", X=X, raw=raw.reshape(len(test), -1), leaf=leaf, **arrays)
        manifest["cases"].append({"name": name, "estimator": cls.__name__, "params": params, "formats": list(formats),
                                  "categorical": cats})
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
