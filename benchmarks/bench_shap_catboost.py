"""gbinfer vs catboost ShapValues on CatBoost models: a 300-tree depth-6 symmetric regression over 20
float features and a 300-tree Lossguide (31 leaves) one on the same data.

For 1, 100 and 1000 rows (``--rows``): median times of catboost's
``get_feature_importance(type="ShapValues")`` (``--threads`` threads; it builds its pool from the
array in the timed call, as a caller would) and of gbinfer's ``predict_contribs`` (the calling
thread), the ratio (catboost time / gbinfer time: above 1 means gbinfer is faster) and the number
of values that differ (0: bit for bit). Both are warmed up once before timing.
Run: python benchmarks/bench_shap_catboost.py [--threads 2] [--rows 1,100,1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def _timed(fn, min_seconds: float = 1.0, repeats: int = 3):
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_seconds and len(times) < 200):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main():
    import catboost as cb

    import gbinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", default="1,100,1000")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 20)).astype(np.float32)
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + 0.1 * rng.normal(size=len(X))
    print(f"load average {os.getloadavg()[0]:.1f}; catboost {cb.__version__}, {args.threads} threads")
    print(f"{'model':<12} {'rows':>6} {'catboost':>10} {'gbinfer':>10} {'ratio':>7} {'differ':>7}")
    for name, params in (("symmetric", {"depth": 6}), ("lossguide", {"grow_policy": "Lossguide", "max_leaves": 31})):
        model = cb.CatBoostRegressor(iterations=300, verbose=0, thread_count=args.threads, random_seed=0,
                                     **params).fit(X, y)
        g = gbinfer.load(model)
        for n in (int(v) for v in args.rows.split(",") if v):
            rows = X[:n]

            def ref():
                return model.get_feature_importance(data=cb.Pool(rows), type="ShapValues",
                                                    thread_count=args.threads)

            ref(), g.predict_contribs(rows)
            t_ref, want = _timed(ref)
            t_got, got = _timed(lambda: g.predict_contribs(rows))
            print(f"{name:<12} {n:>6} {t_ref * 1e3:>8.1f}ms {t_got * 1e3:>8.1f}ms {t_ref / t_got:>7.2f} "
                  f"{int(np.sum(got != want)):>7}")


if __name__ == "__main__":
    main()
