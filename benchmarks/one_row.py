"""One-row latency: gbinfer against XGBoost ``inplace_predict`` on the same row, as a numpy array
and as a pandas DataFrame with categorical columns (re-coded by value through the model's training
categories).

The model: 100 trees of depth 6 trained by XGBoost on a DataFrame with 8 numeric columns and two
categorical ones (12 string categories, 6 integer ones). Rows: one float32 numpy row of training
codes, the same as float64, and a one-row DataFrame whose categorical columns hold only that row's
category (so every call re-codes). Every engine's output is checked against XGBoost's first.
Each cell: one untimed call, then the best of ``--repeats`` rounds of ``--number`` calls (the
minimum, as timeit advises: the rest is other processes' noise). Run:
``python benchmarks/one_row.py [--number N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np


def _model():
    import pandas as pd
    import xgboost as xgb

    rng = np.random.default_rng(0)
    n = 5000
    colors = [f"c{i}" for i in range(12)]
    sizes = [1, 2, 3, 5, 8, 13]
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    frame["color"] = pd.Categorical(rng.choice(colors, n), categories=colors)
    frame["size"] = pd.Categorical(rng.choice(sizes, n), categories=sizes)
    y = frame["x0"].to_numpy() + frame["color"].cat.codes.to_numpy() % 3 + (frame["size"] == 5).to_numpy()
    bst = xgb.train({"nthread": 1, "max_depth": 6, "tree_method": "hist", "max_cat_to_onehot": 1, "seed": 0},
                    xgb.DMatrix(frame, y, enable_categorical=True), 100)
    row = frame.iloc[[7]].copy()
    for c in ("color", "size"):  # only this row's category, as a request frame has
        row[c] = pd.Categorical(row[c].astype(row[c].cat.categories.dtype))
    codes = frame.iloc[[7]].assign(color=frame["color"].cat.codes[7], size=frame["size"].cat.codes[7])
    return bst, row, codes.to_numpy(dtype=np.float32)


def _best(call, number: int, repeats: int) -> float:
    call()
    return min(timeit.repeat(call, number=number, repeat=repeats)) / number


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    import gbinfer

    bst, frame, row32 = _model()
    row64 = row32.astype(np.float64)
    bst.set_param({"nthread": 1})
    model = gbinfer.load(bytes(bst.save_raw("ubj")))
    expected = bst.inplace_predict(frame)
    for data in (frame, row32, row64):
        assert np.array_equal(model.predict(data), expected), "gbinfer and XGBoost differ"
        assert np.array_equal(bst.inplace_predict(data), expected), "XGBoost differs between inputs"

    print(f"{'input':<28}{'gbinfer':>12}{'xgboost':>12}{'ratio':>8}")
    for name, data in (("numpy float32 row", row32), ("numpy float64 row", row64),
                       ("pandas row, 2 categorical", frame)):
        ours = _best(lambda: model.predict(data), args.number, args.repeats)
        theirs = _best(lambda: bst.inplace_predict(data), args.number, args.repeats)
        print(f"{name:<28}{ours * 1e6:>10.1f}us{theirs * 1e6:>10.1f}us{theirs / ours:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
