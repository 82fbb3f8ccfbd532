"""gbinfer vs xgboost TreeSHAP on the 500-tree depth-8 binary:logistic model of bench_xgboost.py.

Contributions (``pred_contribs``) for 1, 1k and 10k rows and interaction values
(``pred_interactions``) for 1 and 1k rows, the same thread count for both; prints median times,
the ratio (xgboost time / gbinfer time: above 1 means gbinfer is faster), the largest
difference of the values relative to the row's largest one, and the load average before and
after. With ``--first-call``, also the time of ``warmup`` and of the first ``predict_contribs``
in fresh processes, with an empty and then a warm Numba cache.
Run: python benchmarks/bench_shap.py [--threads 2] [--rows 1,1000,10000] [--interaction-rows 1,1000]
         [--xgboost-interaction-rows 20] [--shap-rows 1000] [--first-call]
With the ``shap`` package installed (``pip install shap``), its TreeExplainer is timed too. Handed
an XGBoost booster, ``shap_values`` and ``shap_interaction_values`` call xgboost's
``pred_contribs`` / ``pred_interactions`` (the xgboost column already times that, plus a DMatrix);
so the table times shap's own C++ TreeSHAP, which it uses for models it reads itself (one thread:
it has no parallel path), on the same trees. Batches above ``--shap-rows`` rows (20 for
interaction values) are timed on that many rows and scaled, as for xgboost.
xgboost's interaction values take seconds a row on this model (one contribution pass per
feature, twice): 1000 rows would keep it busy for hours, so for batches larger than
``--xgboost-interaction-rows`` xgboost runs on that many rows and its time is scaled to the
batch (linear in rows; marked "scaled" in the output); gbinfer always runs the whole batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


_FIRST_CALL = """
import sys, time
t = time.perf_counter()
import numpy as np, gbinfer
model = gbinfer.load(sys.argv[1])
X = np.random.default_rng(1).normal(size=(2, model.num_features)).astype(np.float32)
t_load = time.perf_counter() - t
t = time.perf_counter()
if sys.argv[2] == "warmup":
    model.warmup()
t_warm = time.perf_counter() - t
t = time.perf_counter()
model.predict_contribs(X[:1])
t_first = time.perf_counter() - t
print(f"{t_load:.2f} {t_warm:.2f} {t_first:.3f}")
"""


def _first_calls(path) -> None:
    """warmup and first predict_contribs in fresh processes: with an empty Numba cache (each run
    its own), then with the cache the warmup run filled."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as filled:
        for cache_state, cache, mode in (("empty", cold, "none"), ("empty", filled, "warmup"),
                                         ("warm", filled, "warmup"), ("warm", filled, "none")):
            out = subprocess.run([sys.executable, "-c", _FIRST_CALL, str(path), mode],
                                 env={**env, "NUMBA_CACHE_DIR": cache}, check=True, capture_output=True, text=True,
                                 timeout=1800).stdout.split()
            load, warm, first = (float(v) for v in out)
            what = f"warmup {warm:.2f} s, then" if mode == "warmup" else "no warmup,"
            print(f"first call, {cache_state} Numba cache: load {load:.2f} s, {what} first 1-row "
                  f"predict_contribs {first:.3f} s", flush=True)


def _race(peer: str, cases, ours, args) -> None:
    """One table of ``peer``'s time against gbinfer's. A case is ``(name, n, cap, prepare, trim)``:
    ``prepare(rows)`` gives the peer's call on those rows (anything it converts first, such as a
    DMatrix, is made outside the clock); the peer runs at most ``cap`` rows, its time scaled to
    ``n``; ``ours(name, n)`` is gbinfer's (time, values) on all ``n`` of ``ours.rows``, and ``trim``
    drops from those values what the peer does not return."""
    print(f"{'what':<28}{peer:>12}{'gbinfer':>12}{'ratio':>8}{'max rel diff':>14}")
    for name, n, cap, prepare, trim in cases:
        n_p = min(n, cap)
        repeats = 1 if n_p >= 1000 or (n_p >= 10 and name == "interactions") else 3
        t_p, ref = _timed(prepare(ours.rows[:n_p]), args.min_seconds, repeats)
        t_p *= n / n_p
        t_g, got = ours(name, n)
        diff = _relative(trim(got[:n_p]), ref)
        scaled = f"  ({peer}: {n_p} rows, time scaled to {n})" if n_p < n else ""
        print(f"{name + f' {n} rows':<28}{t_p * 1e3:>10.1f}ms{t_g * 1e3:>10.1f}ms{t_p / t_g:>8.2f}{diff:>14.2e}"
              f"{scaled}", flush=True)


class _Ours:
    """gbinfer's (median time, values) per case, timed once and shared by the tables."""

    def __init__(self, model, rows, args):
        self.model, self.rows, self.args, self.done = model, rows, args, {}

    def __call__(self, name: str, n: int):
        if (name, n) not in self.done:
            call = self.model.predict_contribs if name == "contribs" else self.model.predict_interactions
            big = n >= 10000 or (n >= 1000 and name == "interactions")
            self.done[name, n] = _timed(lambda: call(self.rows[:n], nthread=self.args.threads),
                                        self.args.min_seconds, 1 if big else 3)
        return self.done[name, n]


def _shap_package(bst, ours, args) -> None:
    """shap's own TreeSHAP (its C++ extension) on the same trees, against gbinfer at ``args.threads``."""
    try:
        import shap
    except ImportError:
        print("shap package not installed: its TreeExplainer not timed")
        return
    explainer = shap.TreeExplainer(bst)
    explainer.model.model_type = "internal"  # skip the hand-off to xgboost: time shap's own C++ code
    print(f"shap {shap.__version__} TreeExplainer, its own C++ TreeSHAP (1 thread) against gbinfer "
          f"({args.threads} threads)")
    # shap leaves the bias column out: the features' values are compared
    cases = [("contribs", n, args.shap_rows, lambda rows: lambda: explainer.shap_values(rows, check_additivity=False),
              lambda v: v[:, :-1]) for n in args.rows]
    cases += [("interactions", n, args.xgboost_interaction_rows,
               lambda rows: lambda: explainer.shap_interaction_values(rows), lambda v: v[:, :-1, :-1])
              for n in args.interaction_rows]
    _race("shap", cases, ours, args)


def main():
    import xgboost as xgb

    import gbinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=_rows, default=[1, 1000, 10000])
    parser.add_argument("--interaction-rows", type=_rows, default=[1, 1000])
    parser.add_argument("--xgboost-interaction-rows", type=int, default=20)
    parser.add_argument("--shap-rows", type=int, default=1000)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--first-call", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    path = model_500x8(xgb)
    bst = xgb.Booster(model_file=str(path))
    bst.set_param({"nthread": args.threads})
    model = gbinfer.load(path)
    X = data(max(args.rows + args.interaction_rows))
    t0 = time.perf_counter()
    model.warmup()
    for n in (1, 256):  # serial and parallel kernels, and the interaction tables
        model.predict_contribs(X[:n])
        model.predict_interactions(X[:n])
    bst.predict(xgb.DMatrix(X[:1]), pred_contribs=True)
    print(f"xgboost {xgb.__version__}, gbinfer {gbinfer.__version__}, threads {args.threads}, "
          f"first calls (incl. any compile) {time.perf_counter() - t0:.2f} s")
    ours = _Ours(model, X, args)

    def on_xgboost(**kw):
        def prepare(rows):
            dm = xgb.DMatrix(rows)
            return lambda: bst.predict(dm, **kw)
        return prepare

    cases = [("contribs", n, n, on_xgboost(pred_contribs=True), lambda v: v) for n in args.rows]
    cases += [("interactions", n, args.xgboost_interaction_rows, on_xgboost(pred_interactions=True), lambda v: v)
              for n in args.interaction_rows]
    _race("xgboost", cases, ours, args)
    _shap_package(bst, ours, args)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.first_call:
        _first_calls(path)


if __name__ == "__main__":
    main()
