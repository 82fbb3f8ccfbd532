"""gbinfer vs xgboost ``inplace_predict`` on a 500-tree depth-8 binary:logistic model.

50 features, 2% NaN, 200k rows and a single row, the same thread count for both; prints
median times and the ratio (xgboost time / gbinfer time: above 1 means gbinfer is faster).
Run: python benchmarks/bench_xgboost.py [--threads 2] [--rows 200000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).parent / ".cache"


def model_500x8(xgb) -> Path:
    path = CACHE / "xgb_500x8_binary.ubj"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        X = data(20_000, rng)
        y = (np.nan_to_num(X[:, :5]).sum(1) + rng.normal(0, 1, len(X)) > 0).astype(float)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 8, "eta": 0.05, "nthread": 2, "seed": 0},
                        xgb.DMatrix(X, y), 500)
        bst.save_model(str(path))
    return path


def data(n, rng=None):
    rng = rng or np.random.default_rng(1)
    X = rng.normal(size=(n, 50)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    return X


def median_time(fn, min_seconds=1.0, min_repeats=5, max_repeats=5000) -> float:
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < min_seconds and len(times) < max_repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    import xgboost as xgb

    import gbinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    path = model_500x8(xgb)
    bst = xgb.Booster(model_file=str(path))
    bst.set_param({"nthread": args.threads})
    t0 = time.perf_counter()
    model = gbinfer.load(path)
    load_s = time.perf_counter() - t0
    X = data(args.rows)
    one = X[:1].copy()

    ref = bst.inplace_predict(X)
    t0 = time.perf_counter()
    got = model.predict(X, nthread=args.threads)
    first_s = time.perf_counter() - t0
    assert np.array_equal(bst.inplace_predict(X, predict_type="margin"), model.predict(X, output_margin=True)), \
        "margins differ from xgboost"
    print(f"xgboost {xgb.__version__}, gbinfer {gbinfer.__version__}, threads {args.threads}")
    print(f"gbinfer load {load_s * 1e3:.1f} ms, first predict (incl. any compile) {first_s:.3f} s, "
          f"max |diff| of probabilities {np.abs(ref - got).max():.2e}")
    for label, Xb in ((f"{args.rows} rows", X), ("1 row", one)):
        t_x = median_time(lambda: bst.inplace_predict(Xb))
        t_g = median_time(lambda: model.predict(Xb, nthread=args.threads))
        unit, scale = ("ms", 1e3) if len(Xb) > 1 else ("us", 1e6)
        print(f"{label:>12}: xgboost inplace_predict {t_x * scale:9.1f} {unit} | gbinfer {t_g * scale:9.1f} {unit} "
              f"| ratio {t_x / t_g:5.2f}x")


if __name__ == "__main__":
    main()
