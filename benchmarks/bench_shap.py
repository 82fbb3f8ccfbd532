"""gbinfer vs xgboost TreeSHAP on the 500-tree depth-8 binary:logistic model of bench_xgboost.py.

Contributions (``pred_contribs``) for 1, 1k and 10k rows and interaction values
(``pred_interactions``) for 1 and 1k rows, the same thread count for both; prints median times,
the ratio (xgboost time / gbinfer time: above 1 means gbinfer is faster) and the largest
difference of the values relative to the row's largest one.
Run: python benchmarks/bench_shap.py [--threads 2] [--rows 1,1000,10000] [--interaction-rows 1,1000]
xgboost's interaction values take seconds a row on this model (one contribution pass per
feature, twice): 1000 rows keep it busy for hours; pass e.g. --interaction-rows 1,20.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from bench_xgboost import data, model_500x8


def _rows(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _timed(fn, min_seconds: float, repeats: int):
    """(median time, last result) of at least ``repeats`` calls (more while under ``min_seconds``); both libraries
    were warmed up once before (xgboost has no compile step, gbinfer's kernels and tables are
    ready after its first call)."""
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_seconds and len(times) < 1000):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _relative(a, b) -> float:
    n = a.shape[0]
    scale = np.maximum(np.abs(b).reshape(n, -1).max(axis=1), 1e-30)
    return float((np.abs(a - b).reshape(n, -1).max(axis=1) / scale).max())


def main():
    import xgboost as xgb

    import gbinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=_rows, default=[1, 1000, 10000])
    parser.add_argument("--interaction-rows", type=_rows, default=[1, 1000])
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args()

    path = model_500x8(xgb)
    bst = xgb.Booster(model_file=str(path))
    bst.set_param({"nthread": args.threads})
    model = gbinfer.load(path)
    X = data(max(args.rows + args.interaction_rows))
    t0 = time.perf_counter()
    model.predict_contribs(X[:1])
    model.predict_interactions(X[:1])
    bst.predict(xgb.DMatrix(X[:1]), pred_contribs=True)
    print(f"xgboost {xgb.__version__}, gbinfer {gbinfer.__version__}, threads {args.threads}, "
          f"first calls (incl. any compile) {time.perf_counter() - t0:.2f} s")
    print(f"{'what':<28}{'xgboost':>12}{'gbinfer':>12}{'ratio':>8}{'max rel diff':>14}")
    cases = [("contribs", n, {"pred_contribs": True}, model.predict_contribs) for n in args.rows]
    cases += [("interactions", n, {"pred_interactions": True}, model.predict_interactions)
              for n in args.interaction_rows]
    for name, n, kw, ours in cases:
        Xb = X[:n]
        dm = xgb.DMatrix(Xb)
        repeats = 1 if n >= 10000 or (n >= 100 and name == "interactions") else 3
        t_x, ref = _timed(lambda: bst.predict(dm, **kw), args.min_seconds, repeats)
        t_g, got = _timed(lambda: ours(Xb, nthread=args.threads), args.min_seconds, 3)
        diff = _relative(got, ref)
        print(f"{name + f' {n} rows':<28}{t_x * 1e3:>10.1f}ms{t_g * 1e3:>10.1f}ms{t_x / t_g:>8.2f}{diff:>14.2e}")


if __name__ == "__main__":
    main()
