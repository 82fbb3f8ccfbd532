"""Load time and file size of gbinfer's own formats against XGBoost's, on the 500-tree depth-8 model.

The model is ``bench_xgboost.py``'s (binary:logistic, 500 trees, depth 8, 50 features, trained on
20k rows, cached under ``benchmarks/.cache/``). It is written as XGBoost JSON and UBJ (by xgboost),
``.xgbrs`` and native JSON (by gbinfer); every file is loaded several times and the median is
printed, with ratios against ``.xgbrs``. Each gbinfer load is checked to predict identically.
Run: python benchmarks/bench_serialization.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "serialization"
sys.path.insert(0, str(HERE))


def median_load(fn, repeats: int) -> float:
    fn()  # warm-up: page cache, lazy imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    import xgboost as xgb
    from bench_xgboost import data, model_500x8

    import gbinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    # 1. the model in every format
    CACHE.mkdir(parents=True, exist_ok=True)
    bst = xgb.Booster(model_file=str(model_500x8(xgb)))
    files = {"xgboost json": CACHE / "m500x8.json", "xgboost ubj": CACHE / "m500x8.ubj"}
    bst.save_model(str(files["xgboost json"]))
    bst.save_model(str(files["xgboost ubj"]))
    model = gbinfer.load(files["xgboost json"])
    files["xgbrs"] = CACHE / "m500x8.xgbrs"
    files["native json"] = CACHE / "m500x8.gbinfer.json"
    gbinfer.save(model, files["xgbrs"])
    gbinfer.save(model, files["native json"])

    # 2. every gbinfer load predicts what the original does
    X = data(2_000)
    want = model.predict(X, output_margin=True)
    for label in ("xgbrs", "native json", "xgboost ubj"):
        assert np.array_equal(gbinfer.load(files[label]).predict(X, output_margin=True), want), label

    # 3. sizes and median load times
    forest = model.booster.forest
    print(f"xgboost {xgb.__version__}, gbinfer {gbinfer.__version__}: {forest.num_trees} trees, "
          f"{forest.num_nodes} nodes, median of {args.repeats} loads")
    print(f"{'file':<14}{'size':>12}")
    for label, path in files.items():
        print(f"{label:<14}{path.stat().st_size / 1e6:>10.2f} MB")
    timings = {
        "gbinfer.load(.xgbrs)": lambda: gbinfer.load(files["xgbrs"]),
        "gbinfer.load(native json)": lambda: gbinfer.load(files["native json"]),
        "gbinfer.load(xgboost json)": lambda: gbinfer.load(files["xgboost json"]),
        "gbinfer.load(xgboost ubj)": lambda: gbinfer.load(files["xgboost ubj"]),
        "xgboost.Booster(json)": lambda: xgb.Booster(model_file=str(files["xgboost json"])),
        "xgboost.Booster(ubj)": lambda: xgb.Booster(model_file=str(files["xgboost ubj"])),
    }
    results = {label: median_load(fn, args.repeats) for label, fn in timings.items()}
    base = results["gbinfer.load(.xgbrs)"]
    print(f"{'load':<28}{'median':>12}{'x .xgbrs':>10}")
    for label, seconds in results.items():
        print(f"{label:<28}{seconds * 1e3:>9.2f} ms{seconds / base:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
