"""gbinfer vs ``lightgbm.Booster.predict`` on LightGBM models.

Models (trained once, cached in benchmarks/.cache/): 500 trees x 255 leaves binary on 50
features with 2% NaN; a 5-class multiclass model (100 rounds x 63 leaves); a model with two
categorical features (300 trees x 63 leaves). Batches of 200k rows and one row, the same
thread count for both; prints median times and the ratio (lightgbm time / gbinfer time: above
1 means gbinfer is faster), after checking the outputs are identical.
Run: python benchmarks/bench_lightgbm.py [--threads 2] [--rows 200000] [--models big,multiclass,categorical]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).parent / ".cache"


def data(n, rng=None, categorical=False):
    rng = rng or np.random.default_rng(1)
    X = rng.normal(size=(n, 50))
    X[rng.random(X.shape) < 0.02] = np.nan
    if categorical:
        X[:, 0] = rng.integers(0, 200, size=n)
        X[:, 1] = rng.integers(0, 20, size=n)
    return X


MODELS = {
    "big": dict(params={"objective": "binary", "num_leaves": 255, "learning_rate": 0.05}, rounds=500),
    "multiclass": dict(params={"objective": "multiclass", "num_class": 5, "num_leaves": 63}, rounds=100),
    "categorical": dict(params={"objective": "regression", "num_leaves": 63, "min_data_per_group": 20},
                        rounds=300, categorical=True),
}


def model_text(lgb, name: str) -> Path:
    path = CACHE / f"lgb_{name}.txt"
    if not path.exists():
        spec = MODELS[name]
        CACHE.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        categorical = spec.get("categorical", False)
        X = data(20_000, rng, categorical)
        signal = np.nan_to_num(X[:, :5]).sum(1) + rng.normal(0, 1, len(X))
        if categorical:
            signal += (X[:, 0] % 7) - 3 + (X[:, 1] == 3)
        if name == "multiclass":
            y = np.digitize(signal, np.quantile(signal, [0.2, 0.4, 0.6, 0.8]))
        elif spec["params"]["objective"] == "binary":
            y = (signal > 0).astype(float)
        else:
            y = signal
        dataset = lgb.Dataset(X, y, categorical_feature=[0, 1] if categorical else "auto")
        params = {"verbose": -1, "num_threads": 2, "seed": 0, "min_data_in_leaf": 5, **spec["params"]}
        lgb.train(params, dataset, spec["rounds"]).save_model(str(path))
    return path


def median_time(fn, min_seconds=1.0, min_repeats=3, max_repeats=5000) -> float:
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < min_seconds and len(times) < max_repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    import lightgbm as lgb

    import gbinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    print(f"| model | rows | lightgbm | gbinfer | ratio |\n|---|---|---|---|---|")
    for name in args.models.split(","):
        path = model_text(lgb, name)
        booster = lgb.Booster(model_file=str(path))
        model = gbinfer.load(path).warmup()
        X = data(args.rows, categorical=MODELS[name].get("categorical", False))
        if not np.array_equal(model.predict(X, nthread=args.threads), booster.predict(X, num_threads=args.threads)):
            raise SystemExit(f"{name}: gbinfer and lightgbm disagree")
        for rows in (args.rows, 1):
            batch = X[:rows]
            theirs = median_time(lambda: booster.predict(batch, num_threads=args.threads))
            ours = median_time(lambda: model.predict(batch, nthread=args.threads))
            print(f"| {name} | {rows} | {_fmt(theirs)} | {_fmt(ours)} | {theirs / ours:.1f}x |", flush=True)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms" if seconds < 1 else \
        f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
